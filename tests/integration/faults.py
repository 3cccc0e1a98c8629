# SPDX-License-Identifier: MIT
"""The fault matrix (issue 9): one trial = one job on the simulator, the daemon SIGKILLed once or
twice on the way (at a random time, at one of its named kill points, or while the module's port is
gone), sometimes the module power-cycled while the daemon is down, then restarted until the job
ends; then every promise of README.md "What dfotad guarantees" is checked.

A trial is a function of its seed: random.Random(seed) picks the scenario and the kill plan, so
`tests/fault-matrix --seed S --trials 1` (or pytest -k "seed_S") runs the same plan again. The
timing of a plan is real time, so the record state a random-time kill lands in can differ between
runs of one seed; the plan does not.

What is expected is decided from the scenario and from what the module did (the simulator's event
log: whether its DFOTA was abandoned by a power cycle in the download phase, whether it ever got
AT+QFOTADL), never from what dfotad did. Used by tests/integration/test_faults.py (a short run)
and tests/fault-matrix (the full run)."""

import json
import os
import random
import re
import shutil
import signal
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import conftest
from conftest import TERMINAL_STATES, TEST_TIMEOUTS, Harness, make_job, scaled, wait_until
from mqtt_broker import Broker, Client
from mqtt_fixtures import CONNECTED_RE, DEVICE_ID, mqtt_config

P = f"dfotad/{DEVICE_ID}"
JOB_ID = "fault-job"

# The status model (README.md "States"): a job's state never goes back in this order.
# WAITING_FOR_MODEM may come between any two active states (the port is gone); it has no rank.
RANK = {"QUEUED": 0, "PREFLIGHT": 1, "DOWNLOADING": 2, "DOWNLOADED": 3, "UPDATING": 4,
        "VERIFYING": 5, "SUCCEEDED": 6, "FAILED": 6, "REJECTED": 6, "CANCELED": 6}


@dataclass
class Variant:
    """One scenario file and what a job on it ends with when nothing disturbs the module."""
    kind: str
    scenario: str
    family: str
    model: str
    source: str
    target: str
    time_scale: float
    duration: float                 # module time of the whole DFOTA at time scale 1 (s)
    state: str                      # expected final state
    attempt: int
    attempt_codes: list             # codes of the record's "attempts", in order
    module_error: int = None        # expected module_error.code (None: no error)
    reason_has: tuple = ()          # substrings of the final reason
    port_downs: int = 2             # port_down events of one undisturbed DFOTA
    # The module retries beyond five attempts (RG50xQ note Table 5, 520-530 "until the upgrade is
    # successful"): after the fifth END dfotad verifies the revision, and a sixth START takes it
    # from VERIFYING back to UPDATING. That is the one step back the status model allows.
    retries_beyond_five: bool = False

    def job(self):
        return make_job(JOB_ID, source_version=self.source, target_version=self.target)


EC25 = dict(family="ec2x", model="EC25", source=conftest.SOURCE_VERSION,
            target=conftest.TARGET_VERSION)
RG50X = dict(family="rg50x", model="RM500Q-GL", source="RM500QGLABR11A06M4G",
             target="RM500QGLABR11A07M4G")

VARIANTS = {
    "success": [
        Variant("success", "ec25-http-success", **EC25, time_scale=3, duration=0.9,
                state="SUCCEEDED", attempt=1, attempt_codes=[0]),
    ],
    "failures": [
        # Five failures, then the module restores its firmware: FAILED, the last END code.
        Variant("failures", "ec25-five-failures", **EC25, time_scale=2, duration=2.2,
                state="FAILED", attempt=5, attempt_codes=[504, 504, 504, 504, 505],
                module_error=505, reason_has=("after 5 attempts", "restored revision"),
                port_downs=6),
    ],
    "retries": [
        Variant("retries", "ec25-end-505-retry", **EC25, time_scale=2, duration=1.3,
                state="SUCCEEDED", attempt=2, attempt_codes=[505, 0], port_downs=3),
        Variant("retries", "rg50x-520-sixth-succeeds", **RG50X, time_scale=2, duration=1.9,
                state="SUCCEEDED", attempt=6, attempt_codes=[520] * 5 + [0], port_downs=7,
                retries_beyond_five=True),
    ],
}
KINDS = tuple(VARIANTS)


# ------------------------------------------------------------------------------------------------
# The plan.

@dataclass
class Kill:
    how: str                        # "point", "time", "port-gone"
    point: str = None               # how == "point": DFOTAD_TEST_KILL_AT
    at: float = 0.0                 # how == "time": seconds after the run started (job submitted)
    nth_down: int = 1               # how == "port-gone": the n-th port_down of this run
    downtime: float = 0.0           # dfotad stays down this long (s) before the restart
    power_cycle: float = None       # SIGUSR1 to the module this long after the kill (< downtime)

    def describe(self):
        what = {"point": f"point {self.point}", "time": f"at {self.at:.2f}s",
                "port-gone": f"port_down #{self.nth_down}"}[self.how]
        pc = f", power cycle after {self.power_cycle:.2f}s" if self.power_cycle is not None else ""
        return f"{what}, down {self.downtime:.2f}s{pc}"


def points_for(v):
    """The named kill points a job on variant v may pass (those with @n: which pass). Some are not
    passed in every run and show up in the table as "(not reached)": a second kill's point may
    lie behind the job already; at-written:ATI is the identification's ATI at start, before the
    job arrives (a dfotad killed there has no job yet). The list stays as it is: a seed's plan depends on it."""
    pts = ["qfotadl-recorded", "at-written:AT+QFOTADL", "qfotadl-reply",
           "saved:QUEUED", "saved:PREFLIGHT", "saved:DOWNLOADING", "saved:DOWNLOADED",
           "saved:VERIFYING", f"saved:{v.state}", "at-written:ATI"]
    pts += [f"saved:WAITING_FOR_MODEM@{n}" if n > 1 else "saved:WAITING_FOR_MODEM"
            for n in range(1, v.port_downs + 1)]
    pts += [f"saved:UPDATING@{n}" if n > 1 else "saved:UPDATING" for n in range(1, 4)]
    return pts


def make_plan(rng, v):
    """One or two kills (a third of the trials kill twice)."""
    n = 2 if rng.random() < 0.35 else 1
    kills = []
    span = v.duration * v.time_scale
    for i in range(n):
        r = rng.random()
        if r < 0.45:
            k = Kill("point", point=rng.choice(points_for(v)))
        elif r < 0.8:
            # The second kill of a job comes within what is left of it.
            k = Kill("time", at=rng.uniform(0, span * (1.0 if i == 0 else 0.6)))
        else:
            k = Kill("port-gone", nth_down=rng.randint(1, max(1, v.port_downs - (2 if i else 0))))
        if k.how == "port-gone":
            # Back while the port is still gone (the module reboots for 0.2 s x the time scale).
            k.downtime = rng.uniform(0, 0.05 * v.time_scale)
        else:
            k.downtime = rng.choice([0.0, rng.uniform(0, 0.3), rng.uniform(0.3, 1.2)])
        if rng.random() < 0.25:
            k.power_cycle = rng.uniform(0, k.downtime)
            k.downtime = max(k.downtime, k.power_cycle + 0.05)
        kills.append(k)
    return kills


def plan_for(seed, kind=None):
    rng = random.Random(seed)
    drawn = rng.choice(KINDS)       # drawn even when given: the rest of the plan stays the same
    kind = kind or drawn
    v = rng.choice(VARIANTS[kind])
    return v, make_plan(rng, v)


# ------------------------------------------------------------------------------------------------
# Running one trial.

@dataclass
class TrialResult:
    seed: int
    kind: str
    scenario: str
    plan: list
    labels: list = field(default_factory=list)     # one per kill: the record state at the kill, or the point
    extras: list = field(default_factory=list)     # "power cycle", "double kill", ...
    failures: list = field(default_factory=list)
    duration: float = 0.0
    tmp: str = None
    record: dict = None

    @property
    def ok(self):
        return not self.failures

    def rerun(self):
        return f"tests/fault-matrix --seed {self.seed} --kind {self.kind} --trials 1 --jobs 1"

    def summary(self):
        lines = [f"seed {self.seed} ({self.kind}, {self.scenario}): "
                 + "; ".join(k.describe() for k in self.plan),
                 f"  kills at: {', '.join(self.labels)}"]
        for f in self.failures:
            lines.append("  FAILED: " + f.replace("\n", "\n    "))
        lines.append(f"  rerun: {self.rerun()}")
        if self.tmp:
            lines.append(f"  evidence: {self.tmp}")
        return "\n".join(lines)


def _read_record(h):
    try:
        return h.read_record(JOB_ID)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _label(rec):
    if rec is None:
        return "no record yet"
    return f"{rec['state']}/{rec.get('phase')}"


def _terminal(h):
    r = _read_record(h)
    return r if r and r["state"] in TERMINAL_STATES else None


def _poll(predicate, timeout, what, step=0.005):
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > deadline:
            raise conftest.WaitTimeout(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(step)


class Trial:
    def __init__(self, seed, kind=None, binary=None):
        self.seed = seed
        self.v, self.plan = plan_for(seed, kind)
        self.binary = binary
        self.res = TrialResult(seed, self.v.kind, self.v.scenario, self.plan)
        self.qfotadl_recorded_kill = False
        self.published = False

    # -- set-up --------------------------------------------------------------------------------
    def config(self):
        s = self.v.time_scale
        timeouts = {k: v * s * conftest.SLOWDOWN for k, v in TEST_TIMEOUTS.items()}
        timeouts["at_command"] = 1 * conftest.SLOWDOWN
        timeouts["download_start"] = 1.5 * s * conftest.SLOWDOWN
        timeouts["urc_watchdog"] = 5 * s * conftest.SLOWDOWN
        timeouts["first_urc_after_reboot"] = 1.5 * s * conftest.SLOWDOWN
        return self.h.config(modems=[{"port": self.sim.link, "family": self.v.family}],
                             timeouts=timeouts, mqtt=mqtt_config(self.broker))

    def start(self, kill=None):
        env = {"DFOTAD_TEST_KILL_AT": kill.point} if kill and kill.how == "point" else None
        self.notify_mark = self.h.notify.mark()
        return self.h.start_daemon(self.cfg, env=env, ready=False)

    # -- the run -------------------------------------------------------------------------------
    def run(self):
        started = time.monotonic()
        if self.binary:
            conftest.DFOTAD = Path(self.binary)
        self.h = h = Harness()
        self.res.tmp = str(h.tmp)
        self.broker = None
        self.watcher = None
        try:
            self.broker = Broker(h.tmp).start()
            self.watcher = Client(self.broker, "fault-watcher", [f"{P}/status/#"]).start()
            # Traced: a trial whose module went silent shows whether the simulator's player
            # stalled (one trial in 970 did so, seed 40226, without a trace to tell why).
            self.sim = h.start_sim(self.v.scenario, time_scale=self.v.time_scale, trace=True)
            self.cfg = self.config()
            self._run_plan()
            self._check()
        except Exception as e:     # a wait that timed out is a failure of the trial, with its why
            self.res.failures.append(f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=4)}")
        finally:
            problems = self._close()
            self.res.failures += problems
            self.res.duration = time.monotonic() - started
            if self.res.ok and not h.keep:
                shutil.rmtree(h.tmp, ignore_errors=True)
                self.res.tmp = None
            elif not self.res.ok:
                self._dump()
        return self.res

    def _close(self):
        problems = []
        try:
            problems += self.h.close()
        except Exception as e:
            problems.append(f"teardown: {e}")
        if self.watcher:
            try:
                self.watcher.stop()
            except Exception:
                pass
        if self.broker:
            self.broker.close()
        return problems

    def _dump(self):
        """The evidence next to the temp dir's files: the daemons' stderr, the plan."""
        try:
            out = Path(self.h.tmp) / "trial.txt"
            parts = [self.res.summary()]
            for title, text in self.h.diagnostics():
                if title.startswith("dfotad"):
                    parts.append(f"===== {title}\n{text}")
            if self.watcher:
                parts.append("===== MQTT status\n" + "\n".join(
                    repr(m) for m in self.watcher.on(f"{P}/status/#")))
            out.write_text("\n".join(parts) + "\n")
        except Exception:
            pass

    def _run_plan(self):
        h, sim = self.h, self.sim
        d = None
        for i, kill in enumerate(self.plan):
            d = self.start(kill)
            self._publish_once(d)
            run_start = time.monotonic()
            downs_before = len([e for e in sim.events() if e["event"] == "port_down"])
            label = self._kill(d, kill, run_start, downs_before)
            self.res.labels.append(label)
            if label.endswith("(not reached)"):
                break       # the job ended in this run: nothing left to kill
            if kill.power_cycle is not None:
                time.sleep(kill.power_cycle)
                sim.proc.send_signal(signal.SIGUSR1)
                self.res.extras.append("power cycle while down")
                time.sleep(max(0.0, kill.downtime - kill.power_cycle))
            else:
                time.sleep(kill.downtime)
            if kill.how == "port-gone":
                gone = not os.path.lexists(sim.link)
                self.res.extras.append("restart while port gone" if gone
                                       else "restart after port back")
        if len(self.plan) > 1 and len(self.res.labels) > 1:
            self.res.extras.append("double kill")
        if d is None or not d.running():
            d = self.start()
        self._publish_once(d)
        self.final = d
        wait_until(lambda: _terminal(h), scaled(60), f"record {JOB_ID} terminal",
                   paths=[h.record_path(JOB_ID)], procs=[d.proc])
        # The job may have ended before this start: the daemon is still to come up (and to say
        # nothing new) before it is stopped.
        h.wait_ready(d, self.notify_mark)
        d.wait_log(CONNECTED_RE, scaled(10))

    def _publish_once(self, d):
        """The job goes out (retained, as an operator publishes it) once the first daemon is
        connected; a daemon killed before it connected (a point passed while it identifies the
        module) leaves it to the next."""
        if self.published:
            return
        _poll(lambda: d.grep(CONNECTED_RE) or not d.running(), scaled(10), "dfotad to connect")
        if d.grep(CONNECTED_RE):
            self.watcher.publish(f"{P}/jobs/{JOB_ID}", self.v.job(), retain=True)
            self.published = True

    def _kill(self, d, kill, run_start, downs_before):
        """Carries out one kill on daemon d; returns its label for the table."""
        h, sim = self.h, self.sim
        limit = scaled(60)
        if kill.how == "point":
            _poll(lambda: not d.running() or _terminal(h), limit,
                  f"dfotad to reach {kill.point} or the job to end")
            if d.running():
                # saved:SUCCEEDED: the record is terminal a moment before the kill; a dfotad past
                # the point has logged the transition (the log comes after the point).
                try:
                    _poll(lambda: not d.running() or d.grep(rf"Job {JOB_ID}: \S+ -> ("
                                                            + "|".join(TERMINAL_STATES) + ")"),
                          scaled(5), "the terminal transition's log line")
                except conftest.WaitTimeout:
                    pass
            if d.running():
                return f"{kill.point} (not reached)"
            d.wait_exit(scaled(5))
            if d.proc.returncode != -signal.SIGKILL:
                raise AssertionError(f"dfotad exited with {d.proc.returncode}, not by its kill point "
                                     f"{kill.point}:\n{d.stderr()[-3000:]}")
            if not d.grep(rf"test point {re.escape(kill.point.split('@')[0])} reached"):
                raise AssertionError(f"dfotad died without logging {kill.point}")
            if kill.point == "qfotadl-recorded":
                self.qfotadl_recorded_kill = True
            return kill.point
        if kill.how == "time":
            end = run_start + kill.at
            _poll(lambda: time.monotonic() >= end or not d.running(), kill.at + 1,
                  "the kill time")
            if not d.running():
                raise AssertionError(f"dfotad exited ({d.proc.returncode}) by itself:\n"
                                     f"{d.stderr()[-3000:]}")
            d.kill()
            return _label(_read_record(h))
        # port-gone: the n-th port_down of this run, then the kill
        def gone():
            downs = [e for e in sim.events() if e["event"] == "port_down"]
            return len(downs) >= downs_before + kill.nth_down
        _poll(lambda: gone() or _terminal(h) or not d.running(), limit, "the port to go")
        if not gone():
            if not d.running():
                raise AssertionError(f"dfotad exited ({d.proc.returncode}) by itself")
            d.kill()
            return f"port gone #{kill.nth_down} (not reached)"
        d.kill()
        return f"port gone: {_label(_read_record(h))}"

    # -- the checks ----------------------------------------------------------------------------
    def _check(self):
        h, sim, v = self.h, self.sim, self.v
        fail = self.res.failures.append
        rec = _terminal(h)
        self.res.record = rec
        events = sim.events()
        abandoned = [e for e in events if e["event"] == "scenario_end" and not e.get("completed")]
        got_qfotadl = any(e["event"] == "dfota_start" for e in events)

        # What the module did decides the expected end.
        # Killed between "recorded as sent" and the write: at the named point, or a random-time
        # kill that landed in that window (the record said qfotadl-sent when it was read).
        in_window = self.qfotadl_recorded_kill or any(l.endswith("/qfotadl-sent") for l in self.res.labels)
        if in_window and not got_qfotadl:
            exp = dict(state="FAILED", count=0, attempt=0, codes=[], error=None,
                       reason=("may never have reached the module",), revision=v.source)
        elif abandoned:
            # A power cycle in the download phase: the module drops the DFOTA and boots the old
            # firmware (tests/sim/README.md "Resets").
            exp = dict(state="FAILED", count=1, attempt=0, codes=[], error=None, reason=(),
                       revision=v.source)
        else:
            exp = dict(state=v.state, count=1, attempt=v.attempt, codes=v.attempt_codes,
                       error=v.module_error, reason=v.reason_has,
                       revision=v.target if v.state == "SUCCEEDED" else v.source)

        if rec["state"] != exp["state"]:
            fail(f"final state {rec['state']} ({rec['reason']}), expected {exp['state']}")
        if sim.qfotadl_count() != exp["count"]:
            fail(f"AT+QFOTADL reached the module {sim.qfotadl_count()} times, expected "
                 f"{exp['count']}: {[l for l in sim.rx_lines() if 'QFOTADL' in l.upper()]}")
        sent = [l for d in h.daemons for l in d.grep(r"--> AT\+QFOTADL")]
        if len(sent) > 1:
            fail(f"dfotad wrote AT+QFOTADL {len(sent)} times: {sent}")
        # Attempts: every END the module said is in the record, in order, except one dfotad could
        # not hear (said while no dfotad had the port open and lost with the port, or read by a
        # dfotad that was killed a moment later): the module counts it, dfotad cannot. Such an
        # attempt then looks like a power failure to dfotad (START again without END), which is no
        # attempt (README "What dfotad guarantees").
        module_ends, excused = self._module_ends(events)
        excused |= self._unread_ends(module_ends)
        codes = [a["code"] for a in rec["attempts"]]
        ways = _missing(codes, module_ends, excused)
        if [c for c, _ in module_ends] != exp["codes"]:
            fail(f"the module's END codes {[c for c, _ in module_ends]} differ from the scenario's "
                 f"{exp['codes']} (a harness or simulator problem)")
        if not ways:
            fail(f"attempts {codes}; the module said END {[c for c, _ in module_ends]} "
                 f"(could not be heard: {sorted(excused)})")
        missing = set().union(*ways) if ways else set()
        if missing:
            self.res.extras.append("END not heard (dfotad down)")
        # dfotad saw the START of an attempt whose END it missed, or missed the attempt whole.
        ok_attempts = {len(codes)}
        if any(len(module_ends) - 1 in w for w in ways):
            ok_attempts.add(len(codes) + 1)
        if not module_ends:
            ok_attempts = {exp["attempt"]}
        if rec["attempt"] not in ok_attempts:
            fail(f"attempt {rec['attempt']}, expected {sorted(ok_attempts)} (attempts {codes}, "
                 f"the module said END {[c for c, _ in module_ends]}, not heard: {sorted(missing)})")
        err = (rec["module_error"] or {}).get("code")
        want_err = codes[-1] if exp["error"] is not None and codes else exp["error"]
        if err != want_err:
            fail(f"module_error {rec['module_error']}, expected code {want_err}")
        if missing:
            exp["reason"] = ()      # "after 5 attempts": dfotad heard fewer
        for s in exp["reason"]:
            if s not in (rec["reason"] or ""):
                fail(f"reason {rec['reason']!r} lacks {s!r}")
        if rec["revision_after"] != exp["revision"]:
            fail(f"revision_after {rec['revision_after']}, expected {exp['revision']}")
        if exp["count"] and rec["qfotadl_sent"] is not True:
            fail("the record does not say AT+QFOTADL was sent")

        # History: never backwards in the status model, times in order.
        hist = rec["history"]
        back = self._goes_back([a["state"] for a in hist])
        if back:
            fail(f"history goes back to {back}: {[x['state'] for x in hist]}")
        times = [a["time"] for a in hist]
        if times != sorted(times):
            fail(f"history times out of order: {times}")
        others = sorted(p.name for p in h.jobs_dir.iterdir() if p.name != f"{JOB_ID}.json"
                        and not p.name.startswith("."))
        if others:
            fail(f"other files in jobs/: {others}")
        if sim.errors():
            fail(f"simulator errors: {sim.errors()}")

        # MQTT: exactly one final status (repeats of the same message are one: QoS 1), equal to
        # the record; the statuses never go back either.
        topic = f"{P}/status/{JOB_ID}"
        self.watcher.wait(lambda: any(_is_terminal(m) for m in self.watcher.on(topic)), 15,
                          "the final status over MQTT")
        rc = self.final.stop()
        if rc != 0:
            fail(f"dfotad exited with {rc} on SIGTERM")
        # Everything dfotad published has reached the broker: a marker published now comes after.
        self.watcher.publish(f"{P}/status/zz-marker", "end")
        self.watcher.wait(lambda: self.watcher.on(f"{P}/status/zz-marker"), 10, "the marker")
        payloads = []
        for m in self.watcher.on(topic):
            if m.payload not in payloads:
                payloads.append(m.payload)
        msgs = [json.loads(p) for p in payloads]
        finals = [m for m in msgs if m.get("state") in TERMINAL_STATES]
        if len(finals) != 1:
            fail(f"{len(finals)} final statuses over MQTT: {finals}")
        elif finals:
            f = finals[0]
            for key in ("state", "attempt", "module_error", "reason", "revision_after",
                        "qfotadl_sent"):
                if f.get(key) != rec.get(key):
                    fail(f"final status {key}={f.get(key)!r}, record {rec.get(key)!r}")
            if msgs[-1] is not f:
                fail(f"a status after the final one: {msgs[msgs.index(f) + 1:]}")
        back = self._goes_back([m.get("state") for m in msgs])
        if back:
            fail(f"statuses go back to {back}: {[m.get('state') for m in msgs]}")

    def _module_ends(self, events):
        """The module's END URCs [(code, t)] and the indexes of those dfotad may not have heard:
        said while no dfotad had the port open and gone with the port (a reboot), or said just
        before a dfotad was killed (read, and lost with the process)."""
        ends, excused = [], set()
        pending = []            # indexes said on the current port while nobody had it open
        is_open = False
        closes = [e["t"] for e in events if e["event"] == "daemon_closed"]
        for e in events:
            ev = e["event"]
            if ev == "port_up":
                is_open, pending = False, []
            elif ev in ("daemon_opened", "daemon_reopened"):
                is_open, pending = True, []
            elif ev == "daemon_closed":
                is_open = False
            elif ev == "port_down":
                excused.update(pending)
                is_open, pending = False, []
            elif ev == "tx" and not e.get("echo"):
                m = re.match(r'\+QIND: "FOTA","END",(\d+)', e.get("line", ""))
                if not m:
                    continue
                ends.append((int(m.group(1)), e["t"]))
                idx = len(ends) - 1
                if not is_open:
                    pending.append(idx)
                elif any(e["t"] <= c <= e["t"] + 0.1 for c in closes):
                    excused.add(idx)
        excused.update(pending)
        return ends, excused

    def _unread_ends(self, module_ends):
        """The indexes of ENDs no dfotad read (its debug log has every line it read): for each
        code, when fewer were read than said, any of that code may be the unread one. This covers
        what the port's timeline cannot tell: an END said while no dfotad had the port open and a
        dfotad opening it a moment before the reboot took the port away."""
        read = {}
        for d in self.h.daemons:
            for line in d.grep(r'<-- \+QIND: "FOTA","END",\d+'):
                code = int(re.search(r'"END",(\d+)', line).group(1))
                read[code] = read.get(code, 0) + 1
        said = {}
        for code, _ in module_ends:
            said[code] = said.get(code, 0) + 1
        return {i for i, (code, _) in enumerate(module_ends) if read.get(code, 0) < said[code]}

    def _goes_back(self, states):
        """The first state that goes back in the status model (WAITING_FOR_MODEM aside), or None.
        Repeats are fine: a state logged again after a restart, UPDATING once per attempt."""
        top = -1
        for s in states:
            r = RANK.get(s)
            if r is None:
                continue
            if r < top and not (self.v.retries_beyond_five and s == "UPDATING"
                                and top == RANK["VERIFYING"]):
                return s
            top = r
        return None


def _missing(codes, module_ends, excused):
    """The ways codes (the record's attempts) is module_ends [(code, t)] with some excused
    indexes left out: a list of the sets of indexes left out (empty: no way)."""
    out = []

    def walk(i, j, left):
        if j == len(module_ends):
            if i == len(codes):
                out.append(frozenset(left))
            return
        if i < len(codes) and codes[i] == module_ends[j][0]:
            walk(i + 1, j + 1, left)
        if j in excused:
            walk(i, j + 1, left + [j])
    walk(0, 0, [])
    return out


def _is_terminal(m):
    try:
        return json.loads(m.payload).get("state") in TERMINAL_STATES
    except ValueError:
        return False


def run_trial(seed, scenario_kind=None, binary=None):
    """Runs trial `seed` (its scenario kind drawn from the seed unless given); returns a
    TrialResult (failures empty when every promise held)."""
    return Trial(seed, scenario_kind, binary).run()
