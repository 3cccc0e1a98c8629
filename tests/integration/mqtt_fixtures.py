# SPDX-License-Identifier: MIT
"""Fixtures and helpers shared by the MQTT control-plane tests (test_mqtt_plain.py,
test_mqtt_aws.py): a broker per test in the harness's temp dir, the fake AWS IoT Jobs service,
the daemon's "mqtt" config, a mosquitto_sub collector, and the sequence checks."""

import json
import re
import subprocess
import time

import pytest

from conftest import TERMINAL_STATES, scaled, terminate, wait_until
from fake_aws_jobs import FakeJobsService
from mqtt_broker import Broker, Client

DEVICE_ID = "dev1"
THING = "thing-1"
PREFIX = "dfotad"

CONNECTED_RE = r"MQTT: connected to"
RETRY_RE = r"MQTT: .*(refused|failed).*retrying in ([0-9.]+) s"


@pytest.fixture(name="mqtt")
def mqtt_fixture(harness):
    """Makes brokers, services and subscribers that are torn down after the daemons stopped (so
    that dfotad's clean stop still has its broker)."""
    world = MqttWorld(harness)
    try:
        yield world
    finally:
        world.close()


class MqttWorld:
    def __init__(self, harness):
        self.harness = harness
        self.brokers = []
        self.clients = []
        self.services = []
        self.subs = []

    def broker(self, listeners=("plain",), persistence=False, name=None):
        b = Broker(self.harness.tmp, listeners=listeners, persistence=persistence,
                   name=name or f"mosquitto{len(self.brokers) or ''}")
        self.brokers.append(b)
        self.harness.extra_diagnostics.append((f"broker {b.dir.name} log",
                                               lambda b=b: b.log_text()[-20000:]))
        return b.start()

    def service(self, broker, thing=THING, kind="plain", **kw):
        s = FakeJobsService(broker, thing, kind=kind, **kw)
        self.services.append(s)
        self.harness.extra_diagnostics.append((f"fake AWS IoT Jobs ({thing})", s.dump))
        return s.start()

    def client(self, broker, client_id, subscriptions=(), kind="plain", **kw):
        c = Client(broker, client_id, subscriptions, kind=kind, **kw)
        self.clients.append(c)
        self.harness.extra_diagnostics.append(
            (f"MQTT client {client_id}", lambda c=c: "\n".join(repr(m) for m in c.messages)))
        return c.start()

    def cli_sub(self, broker, topic_filter, client_id="cli-sub", kind="plain"):
        s = CliSubscriber(self.harness.tmp, broker, topic_filter, client_id, kind)
        self.subs.append(s)
        self.harness.extra_diagnostics.append((f"mosquitto_sub {client_id}", s.text))
        return s

    def close(self):
        self.harness.stop_daemons()
        for s in self.subs:
            s.stop()
        for c in self.clients + [s.client for s in self.services]:
            try:
                c.stop()
            except Exception:
                pass
        for b in self.brokers:
            b.close()


def mqtt_config(broker, dialect="plain", kind="plain", device_id=DEVICE_ID, password_file=None,
                ca_file=None, **overrides):
    """The daemon's "mqtt" object for one of the broker's listeners, with the issue's short
    timers."""
    cfg = {"dialect": dialect, "device_id": device_id, "reconnect_min": 0.1, "reconnect_max": 1,
           "keepalive": 5}
    if kind == "unix":
        cfg["host"] = str(broker.socket_path)
    else:
        cfg["host"] = broker.host
        cfg["port"] = broker.port(kind)
    if dialect == "aws-iot-jobs":
        cfg.update({"thing_name": THING, "request_timeout": 2, "step_timeout_minutes": 1,
                    "heartbeat": 0.5})
    if kind in ("tls", "tls_password"):
        cfg["tls"] = {"ca_file": str(ca_file or broker.ca_crt)}
    if kind in ("password", "tls_password"):
        cfg["username"] = broker.username
        cfg["password_file"] = str(password_file)
    cfg.update(overrides)
    return cfg


def write_password(harness, password, name="mqtt-password"):
    p = harness.tmp / name
    p.write_text(password + "\n")
    p.chmod(0o600)
    return p


class CliSubscriber:
    """mosquitto_sub -v -q 1 on a filter, its output in a file; waits through inotify."""

    def __init__(self, tmp, broker, topic_filter, client_id, kind):
        self.path = tmp / f"{client_id}.out"
        self.err_path = tmp / f"{client_id}.err"
        self.topic_filter = topic_filter
        self.client_id = client_id
        self._out = open(self.path, "wb")
        self._err = open(self.err_path, "wb")
        since = broker.log_mark()
        self.proc = subprocess.Popen(["mosquitto_sub", *broker.cli_args(kind), "-i", client_id,
                                      "-q", "1", "-v", "-t", topic_filter],
                                     stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._err)
        broker.wait_subscribed(client_id, topic_filter, since=since)

    def text(self):
        try:
            return self.path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def messages(self):
        """[(topic, payload text)], in arrival order. A payload spanning several lines is put
        back together (a line that does not start with a topic of the filter continues it)."""
        root = self.topic_filter.split("#")[0].split("+")[0]
        out = []
        text = self.text()
        if not text.endswith("\n"):
            text = text[:text.rfind("\n") + 1]      # the last line is not complete yet
        for line in text.split("\n")[:-1]:
            if line.startswith(root) and " " in line:
                topic, payload = line.split(" ", 1)
                out.append([topic, payload])
            elif line.startswith(root):
                out.append([line, ""])
            elif out:
                out[-1][1] += "\n" + line
        return [tuple(m) for m in out]

    def on(self, topic):
        return [p for t, p in self.messages() if t == topic]

    def wait(self, predicate, timeout, what):
        """predicate(messages) re-evaluated whenever the output grows."""
        try:
            return wait_until(lambda: predicate(self.messages()), scaled(timeout), what,
                              paths=[self.path], procs=[self.proc])
        except AssertionError as e:
            raise AssertionError(f"{e}\nmosquitto_sub got:\n{self.text()[-6000:]}\n"
                                 f"{self.err_path.read_text(errors='replace')}") from None

    def stop(self):
        terminate(self.proc)
        self._out.close()
        self._err.close()


# ------------------------------------------------------------------------------------------------
# Sequence checks.

def compress(seq):
    """Consecutive repeats folded: a re-sent status is not a new transition."""
    out = []
    for x in seq:
        if not out or out[-1] != x:
            out.append(x)
    return out


def history_states(record):
    """The record's states with consecutive repeats folded (a resumed job may log its state
    again)."""
    return compress([h["state"] for h in record["history"]])


def reported_matches_history(reported, record):
    """The states a control plane received (in order, repeats folded) are exactly the record's
    history; a QUEUED the backend did not report (the job arrived through it) may be missing."""
    expected = history_states(record)
    got = compress(reported)
    if got[:1] != ["QUEUED"] and expected[:1] == ["QUEUED"]:
        expected = expected[1:]
    return got == expected, got, expected


def dedupe(payloads):
    """Drops exact repeats of a message already seen (a QoS 1 re-send after a lost PUBACK, a
    retained copy): what remains must be in order."""
    seen = set()
    out = []
    for p in payloads:
        if p in seen:
            continue
        seen.add(p)
        out.append(p)
    return out


def progress_buckets_ok(entries):
    """entries: [(state, progress int)] of consecutive reports with repeats dropped. Within one
    state, every further progress report lands in a new 10 % step (no more than one per 10 %),
    and progress never goes back. Returns (ok, the offending pair)."""
    prev = None
    for state, progress in entries:
        if prev and prev[0] == state and progress is not None and prev[1] is not None:
            if progress < prev[1] or progress // 10 <= prev[1] // 10 and progress != 100:
                return False, (prev, (state, progress))
        prev = (state, progress)
    return True, None


def wait_log_lines(daemon, regex, count, timeout, since=0):
    """Waits for `count` stderr lines matching regex; returns [(monotonic time seen, match)].
    The time is when this thread saw the line, which is close to when dfotad wrote it: the
    condition is notified per line."""
    pattern = re.compile(regex)
    deadline = time.monotonic() + scaled(timeout)
    found = []
    with daemon.cond:
        pos = since
        while len(found) < count:
            for line in daemon.lines[pos:]:
                m = pattern.search(line)
                if m:
                    found.append((time.monotonic(), m))
            pos = len(daemon.lines)
            if len(found) >= count:
                break
            if daemon.eof:
                raise AssertionError(f"dfotad exited after {len(found)} of {count} lines "
                                     f"/{regex}/")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out after {scaled(timeout):.1f}s: {len(found)} of "
                                     f"{count} lines /{regex}/")
            daemon.cond.wait(remaining)
    return found[:count]


def parse_json(text):
    try:
        return json.loads(text)
    except ValueError as e:
        raise AssertionError(f"not JSON ({e}): {text[:300]!r}") from None


def is_terminal(state):
    return state in TERMINAL_STATES
