# SPDX-License-Identifier: MIT
"""A fake AWS IoT Jobs data plane over MQTT for one thing (control-plane.md §3), on a real broker.

FakeJobsService(broker, thing_name) is a paho client that answers what a device publishes under
$aws/things/<thing>/jobs/:

  start-next      StartNextPendingJobExecution: the IN_PROGRESS execution if any, else the first
                  QUEUED one moved to IN_PROGRESS (versionNumber + 1); start-next/accepted with
                  "execution" (jobDocument embedded as an object), or without it when none.
  <jobId>/update  UpdateJobExecution: unknown job / executionNumber -> ResourceNotFound; terminal
                  execution -> TerminalStateReached; expectedVersion != versionNumber ->
                  VersionMismatch (+executionState); a status the device may not set ->
                  InvalidStateTransition (+executionState); bad statusDetails -> InvalidRequest;
                  else the status and statusDetails are stored, versionNumber + 1, and
                  update/accepted carries executionState when includeJobExecutionState.
  <jobId>/get     DescribeJobExecution ($next too).
  get             GetPendingJobExecutions.

Service side (the test): create_job(), cancel_job(), inject(code, count) (the next N updates are
rejected with that code), publish_notify_next() (a duplicate notification), stale_start_next()
(the next start-next answers with an old execution, as an eventually consistent service may).

Everything is recorded: .requests (every request: topic, payload, time, the reply), .transitions
(every status change of an execution, by whom), .problems (what a real service would refuse or
what a device must not do: another thing's topic, bad JSON, statusDetails that are not strings...).
clientToken is echoed in every reply. Replies and notifications are QoS 1.
"""

import copy
import json
import re
import threading
import time

from mqtt_broker import Client

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "REJECTED", "REMOVED", "CANCELED")
DEVICE_STATUSES = ("IN_PROGRESS", "SUCCEEDED", "FAILED", "REJECTED")
ALL_STATUSES = ("QUEUED",) + DEVICE_STATUSES + ("TIMED_OUT", "REMOVED", "CANCELED")
THING_RE = re.compile(r"^[A-Za-z0-9:_-]{1,128}$")
JOB_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DETAIL_KEY_RE = re.compile(r"^[A-Za-z0-9:_-]{1,128}$")


class Execution:
    def __init__(self, job_id, thing, document, number=1):
        now = int(time.time())
        self.job_id = job_id
        self.thing = thing
        self.document = document
        self.number = number
        self.status = "QUEUED"
        self.status_details = {}
        self.version = 1
        self.queued_at = now
        self.started_at = None
        self.last_updated_at = now
        self.step_timeout = None
        self.seq = 0                    # creation order

    def state(self):
        """JobExecutionState."""
        return {"status": self.status, "statusDetails": dict(self.status_details),
                "versionNumber": self.version}

    def full(self, include_document=True, document_as_string=False):
        """JobExecution."""
        e = {"jobId": self.job_id, "thingName": self.thing, "status": self.status,
             "statusDetails": dict(self.status_details), "queuedAt": self.queued_at,
             "lastUpdatedAt": self.last_updated_at, "versionNumber": self.version,
             "executionNumber": self.number}
        if self.started_at is not None:
            e["startedAt"] = self.started_at
        if self.step_timeout:
            e["approximateSecondsBeforeTimedOut"] = self.step_timeout * 60
        if include_document:
            e["jobDocument"] = (json.dumps(self.document) if document_as_string
                                else copy.deepcopy(self.document))
        return e

    def summary(self):
        s = {"jobId": self.job_id, "queuedAt": self.queued_at, "lastUpdatedAt": self.last_updated_at,
             "versionNumber": self.version, "executionNumber": self.number}
        if self.started_at is not None:
            s["startedAt"] = self.started_at
        return s


class Request:
    """One request the device published, and what the service answered."""

    def __init__(self, topic, api, job_id, payload, raw, t):
        self.topic = topic
        self.api = api              # "start-next", "update", "describe", "get-pending", "other"
        self.job_id = job_id
        self.payload = payload      # dict, or None when it was not a JSON object
        self.raw = raw
        self.time = t
        self.reply_topic = None
        self.reply = None
        self.version_at_receipt = None   # the execution's versionNumber when it came in
        self.status_at_receipt = None

    @property
    def accepted(self):
        return bool(self.reply_topic) and self.reply_topic.endswith("/accepted")

    @property
    def code(self):
        return None if self.accepted or not self.reply else self.reply.get("code")

    @property
    def token(self):
        return (self.payload or {}).get("clientToken")

    def __repr__(self):
        verdict = "accepted" if self.accepted else f"rejected {self.code}" if self.reply else "no reply"
        return f"<{self.api} {self.job_id or ''} {self.raw[:300]} -> {verdict}>"


class FakeJobsService:
    def __init__(self, broker, thing_name, kind="plain", client_id="fake-aws-iot-jobs",
                 document_as_string=False):
        assert THING_RE.match(thing_name)
        self.thing = thing_name
        self.prefix = f"$aws/things/{thing_name}/jobs"
        self.document_as_string = document_as_string
        self.executions = {}            # job_id -> Execution (one execution per job here)
        self.requests = []
        self.transitions = []           # (time, job_id, executionNumber, from, to, version, by)
        self.notifications = []         # (time, topic, payload) published by the service
        self.problems = []
        self._injected = []             # error codes for the next updates, in order
        self._stale = []                # executions to answer the next start-nexts with
        self._seq = 0
        self._last_next = None
        self._last_pending = []
        self.lock = threading.RLock()
        self.client = Client(broker, client_id, subscriptions=["$aws/things/+/jobs/#"], kind=kind,
                             on_message=self._on_message)
        self.cond = self.client.cond     # one condition for the messages and the service state

    # --------------------------------------------------------------------------------------------
    # Life cycle.

    def start(self, timeout=10):
        self.client.start(timeout)
        return self

    def stop(self):
        self.client.stop()

    # --------------------------------------------------------------------------------------------
    # Service-side API (the test plays the operator).

    def create_job(self, job_id, document, notify=True):
        """CreateJob for our thing: a QUEUED execution, executionNumber 1, versionNumber 1."""
        assert JOB_ID_RE.match(job_id), job_id
        with self.cond:
            assert job_id not in self.executions, f"job {job_id} exists"
            e = Execution(job_id, self.thing, document)
            self._seq += 1
            e.seq = self._seq
            self.executions[job_id] = e
            self._transition(e, None, "QUEUED", "service")
            self.cond.notify_all()
        if notify:
            self._notify_changes()
        return e

    def cancel_job(self, job_id, force=True):
        """CancelJob (with force, an IN_PROGRESS execution is canceled too): CANCELED,
        versionNumber + 1, and notify-next when the next execution changed."""
        with self.cond:
            e = self.executions[job_id]
            assert e.status not in TERMINAL, f"job {job_id} is already {e.status}"
            assert force or e.status == "QUEUED"
            old = e.status
            e.status = "CANCELED"
            e.version += 1
            e.last_updated_at = int(time.time())
            self._transition(e, old, "CANCELED", "service")
            self.cond.notify_all()
        self._notify_changes()

    def inject(self, code, count=1):
        """The next `count` update requests are rejected with `code` (RequestThrottled,
        InternalError, ...) and change nothing."""
        with self.cond:
            self._injected += [code] * count

    def stale_start_next(self, job_id, status="IN_PROGRESS", version=2):
        """The next start-next is answered with a copy of this execution as it was when started
        (a duplicate delivery), whatever its state now."""
        with self.cond:
            e = copy.copy(self.executions[job_id])
            e.status_details = {}
            e.status, e.version = status, version
            self._stale.append(e)

    def publish_notify_next(self, job_id=None, status=None, version=None):
        """A notify-next carrying this execution (or the current next one) again: a duplicate."""
        with self.cond:
            e = self.executions[job_id] if job_id else self._next()
            payload = {"timestamp": int(time.time())}
            if e:
                ex = e.full(include_document=True, document_as_string=self.document_as_string)
                ex.pop("thingName", None)
                ex.pop("statusDetails", None)
                if status:
                    ex["status"] = status
                if version:
                    ex["versionNumber"] = version
                payload["execution"] = ex
        self._publish(f"{self.prefix}/notify-next", payload)

    def execution(self, job_id):
        with self.cond:
            e = self.executions[job_id]
            return e.full()

    # --------------------------------------------------------------------------------------------
    # What the tests look at.

    def updates(self, job_id=None, accepted=None):
        """Update requests (optionally of one job; accepted True/False filters by the verdict)."""
        with self.cond:
            return [r for r in self.requests if r.api == "update"
                    and (job_id is None or r.job_id == job_id)
                    and (accepted is None or r.accepted == accepted)]

    def of(self, api):
        with self.cond:
            return [r for r in self.requests if r.api == api]

    def device_transitions(self, job_id):
        with self.cond:
            return [t for t in self.transitions if t[1] == job_id]

    def wait(self, predicate, timeout, what):
        return self.client.wait(predicate, timeout, what)

    def wait_status(self, job_id, status, timeout=30):
        """Waits until the service holds the execution in `status`."""
        return self.wait(lambda: job_id in self.executions
                         and self.executions[job_id].status == status,
                         timeout, f"execution {job_id} to be {status}; requests: "
                         f"{self.requests[-10:]!r}")

    def wait_update(self, predicate, timeout, what):
        """Waits for an update request for which predicate(request) is true; returns it."""
        def check():
            for r in self.requests:
                if r.api == "update" and r.reply is not None and predicate(r):
                    return r
            return None
        return self.wait(check, timeout, what)

    def check(self):
        """Fails on anything a real service would have refused or a device must not do."""
        with self.cond:
            assert not self.problems, "fake AWS IoT Jobs service saw problems:\n" + \
                "\n".join(self.problems)

    def dump(self):
        with self.cond:
            lines = [f"{r.time:.3f} {r.topic} {r.raw[:600]} -> {r.reply_topic} "
                     f"{json.dumps(r.reply)[:400] if r.reply else ''}" for r in self.requests]
            lines += [f"transition {t!r}" for t in self.transitions]
            lines += [f"notify {t:.3f} {topic} {json.dumps(p)[:300]}" for t, topic, p in
                      self.notifications]
            lines += [f"PROBLEM {p}" for p in self.problems]
            return "\n".join(lines)

    # --------------------------------------------------------------------------------------------
    # Internals.

    def _transition(self, e, old, new, by):
        self.transitions.append((time.monotonic(), e.job_id, e.number, old, new, e.version, by))

    def _next(self):
        """NextJobExecution: the oldest IN_PROGRESS, else the oldest QUEUED."""
        pending = [e for e in self.executions.values() if e.status in ("IN_PROGRESS", "QUEUED")]
        pending.sort(key=lambda e: (e.status != "IN_PROGRESS", e.seq))
        return pending[0] if pending else None

    def _notify_changes(self):
        """notify-next when the next execution changed (another job, or none), and notify with
        the pending lists."""
        with self.cond:
            nxt = self._next()
            key = (nxt.job_id, nxt.number) if nxt else None
            changed = key != self._last_next
            self._last_next = key
            pending = sorted((e for e in self.executions.values()
                              if e.status in ("IN_PROGRESS", "QUEUED")), key=lambda e: e.seq)
            jobs = {}
            for status in ("IN_PROGRESS", "QUEUED"):
                lst = [e.summary() for e in pending if e.status == status]
                if lst:
                    jobs[status] = lst
            pending_key = [(e.job_id, e.number, e.status) for e in pending]
            list_changed = pending_key != self._last_pending
            self._last_pending = pending_key
        if list_changed:
            self._publish(f"{self.prefix}/notify", {"timestamp": int(time.time()), "jobs": jobs})
        if changed:
            payload = {"timestamp": int(time.time())}
            if nxt:
                ex = nxt.full(include_document=True, document_as_string=self.document_as_string)
                ex.pop("thingName", None)
                ex.pop("statusDetails", None)
                payload["execution"] = ex
            self._publish(f"{self.prefix}/notify-next", payload)

    def _publish(self, topic, payload):
        with self.cond:
            self.notifications.append((time.monotonic(), topic, payload))
        self.client.publish(topic, json.dumps(payload), qos=1, wait=False)

    def _problem(self, text):
        with self.cond:
            self.problems.append(text)
            self.cond.notify_all()

    def _reply(self, req, topic, payload):
        token = (req.payload or {}).get("clientToken")
        if token is not None:
            payload["clientToken"] = token
        payload.setdefault("timestamp", int(time.time()))
        with self.cond:
            req.reply_topic, req.reply = topic, payload
            self.cond.notify_all()
        self.client.publish(topic, json.dumps(payload), qos=1, wait=False)

    def _reject(self, req, base, code, message, execution=None):
        p = {"code": code, "message": message}
        if execution is not None:
            p["executionState"] = execution.state()
        self._reply(req, f"{base}/rejected", p)

    def _on_message(self, msg):
        parts = msg.topic.split("/")
        # Our own publications come back through the "#" subscription.
        if parts[-1] in ("accepted", "rejected", "notify", "notify-next"):
            return
        if len(parts) < 4 or parts[:2] != ["$aws", "things"] or parts[3] != "jobs":
            self._problem(f"unexpected topic {msg.topic}")
            return
        thing, rest = parts[2], parts[4:]
        raw = msg.payload.decode(errors="replace")
        try:
            payload = json.loads(msg.payload) if msg.payload else {}
        except ValueError:
            payload = None
        if rest == ["start-next"]:
            api, job_id = "start-next", None
        elif rest == ["get"]:
            api, job_id = "get-pending", None
        elif len(rest) == 2 and rest[1] == "update":
            api, job_id = "update", rest[0]
        elif len(rest) == 2 and rest[1] == "get":
            api, job_id = "describe", rest[0]
        else:
            api, job_id = "other", None
        req = Request(msg.topic, api, job_id, payload if isinstance(payload, dict) else None, raw,
                      time.monotonic())
        with self.cond:
            self.requests.append(req)
            self.cond.notify_all()
        if thing != self.thing:
            # A real service would not even accept the publish (the policy names the thing).
            self._problem(f"request on another thing's topic {msg.topic}: {raw[:200]}")
            return
        if api == "other":
            self._problem(f"unknown jobs API topic {msg.topic}")
            return
        base = msg.topic
        if not isinstance(payload, dict):
            self._problem(f"{msg.topic}: payload is not a JSON object: {raw[:200]}")
            self._reply(req, f"{base}/rejected", {"code": "InvalidJson",
                                                   "message": "payload is not a JSON object"})
            return
        token = payload.get("clientToken")
        if token is not None and (not isinstance(token, str) or not 1 <= len(token) <= 64):
            self._problem(f"{msg.topic}: bad clientToken {token!r}")
        try:
            getattr(self, "_" + api.replace("-", "_"))(req, base, payload)
        except Exception as e:          # a bug here must show, not hang the test
            self._problem(f"{msg.topic}: fake service error {e!r}")
            raise
        finally:
            if api in ("start-next", "update"):
                self._notify_changes()

    def _start_next(self, req, base, payload):
        step = payload.get("stepTimeoutInMinutes")
        if step is not None and (not isinstance(step, int) or not 1 <= step <= 10080):
            self._reject(req, base, "InvalidRequest", f"stepTimeoutInMinutes {step!r}")
            return
        details = payload.get("statusDetails")
        with self.cond:
            if self._stale:
                e = self._stale.pop(0)
                self._reply(req, f"{base}/accepted", {"execution": e.full(
                    document_as_string=self.document_as_string)})
                return
            e = self._next()
            if e is None:
                self._reply(req, f"{base}/accepted", {})
                return
            req.version_at_receipt, req.status_at_receipt = e.version, e.status
            if e.status == "QUEUED":
                e.status = "IN_PROGRESS"
                e.version += 1
                e.started_at = e.last_updated_at = int(time.time())
                if isinstance(details, dict):
                    e.status_details = dict(details)
                e.step_timeout = step
                self._transition(e, "QUEUED", "IN_PROGRESS", "start-next")
            reply = {"execution": e.full(document_as_string=self.document_as_string)}
            self._reply(req, f"{base}/accepted", reply)

    def _check_details(self, details):
        if not isinstance(details, dict):
            return "statusDetails is not an object"
        for k, v in details.items():
            if not DETAIL_KEY_RE.match(k):
                return f"statusDetails key {k!r}"
            if not isinstance(v, str):
                return f"statusDetails.{k} is not a string: {v!r}"
            if not 1 <= len(v) <= 1024 or any(ord(c) < 0x20 or 0x7f <= ord(c) < 0xa0 for c in v):
                return f"statusDetails.{k}: {len(v)} characters or control characters"
        return None

    def _update(self, req, base, payload):
        job_id = req.job_id
        with self.cond:
            e = self.executions.get(job_id)
            if e:
                req.version_at_receipt, req.status_at_receipt = e.version, e.status
            if self._injected:
                code = self._injected.pop(0)
                self._reject(req, base, code, f"injected {code}")
                return
            if e is None:
                self._reject(req, base, "ResourceNotFound", f"no job {job_id} for {self.thing}")
                return
            num = payload.get("executionNumber")
            if num is not None and num != e.number:
                self._reject(req, base, "ResourceNotFound", f"no execution number {num}")
                return
            status = payload.get("status")
            if status not in ALL_STATUSES:
                self._problem(f"{req.topic}: status {status!r}")
                self._reject(req, base, "InvalidRequest", f"status {status!r}")
                return
            details = payload.get("statusDetails")
            if details is not None:
                bad = self._check_details(details)
                if bad:
                    self._problem(f"{req.topic}: {bad}")
                    self._reject(req, base, "InvalidRequest", bad)
                    return
            step = payload.get("stepTimeoutInMinutes")
            if step is not None and (not isinstance(step, int) or not 1 <= step <= 10080):
                self._problem(f"{req.topic}: stepTimeoutInMinutes {step!r}")
                self._reject(req, base, "InvalidRequest", f"stepTimeoutInMinutes {step!r}")
                return
            if e.status in TERMINAL:
                self._reject(req, base, "TerminalStateReached",
                             f"the job execution is {e.status}")
                return
            expected = payload.get("expectedVersion")
            if expected is not None:
                if isinstance(expected, str) and expected.isdigit():
                    expected = int(expected)      # the embedded SDK sends it as a string
                if expected != e.version:
                    self._reject(req, base, "VersionMismatch",
                                 f"expected version {expected}, current {e.version}", e)
                    return
            if status not in DEVICE_STATUSES:
                self._reject(req, base, "InvalidStateTransition",
                             f"a device cannot set {status}", e)
                return
            old = e.status
            e.status = status
            if details is not None:
                e.status_details = dict(details)
            if status == "IN_PROGRESS":
                if step is not None:
                    e.step_timeout = step
                if e.started_at is None:
                    e.started_at = int(time.time())
            e.version += 1
            e.last_updated_at = int(time.time())
            self._transition(e, old, status, "update")
            reply = {}
            if payload.get("includeJobExecutionState"):
                reply["executionState"] = e.state()
            if payload.get("includeJobDocument"):
                reply["jobDocument"] = copy.deepcopy(e.document)
            self._reply(req, f"{base}/accepted", reply)

    def _describe(self, req, base, payload):
        with self.cond:
            e = self._next() if req.job_id == "$next" else self.executions.get(req.job_id)
            num = payload.get("executionNumber")
            if e is None or (num is not None and num != e.number):
                self._reject(req, base, "ResourceNotFound", f"no execution {req.job_id} {num}")
                return
            req.version_at_receipt, req.status_at_receipt = e.version, e.status
            include = payload.get("includeJobDocument", True)
            self._reply(req, f"{base}/accepted", {"execution": e.full(
                include_document=bool(include), document_as_string=self.document_as_string)})

    def _get_pending(self, req, base, payload):
        with self.cond:
            pending = sorted(self.executions.values(), key=lambda e: e.seq)
            self._reply(req, f"{base}/accepted", {
                "inProgressJobs": [e.summary() for e in pending if e.status == "IN_PROGRESS"],
                "queuedJobs": [e.summary() for e in pending if e.status == "QUEUED"]})

