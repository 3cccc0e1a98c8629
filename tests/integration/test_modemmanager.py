# SPDX-License-Identifier: MIT
"""ModemManager kept off the module during a job (issue 4 "ModemManager"): a fake ModemManager on a
private dbus-daemon (fake_modemmanager.py) records dfotad's InhibitDevice calls; the simulator
records what reached the module. Their order is read without comparing clocks: the fake notes,
when a call arrives, how many lines the simulator's log has (its "observed")."""

import json
import re
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (TARGET_VERSION, TEST_TIMEOUTS, WaitTimeout, make_job, scaled, states,
                      terminate, wait_until)

HERE = Path(__file__).resolve().parent
FAKE = HERE / "fake_modemmanager.py"

# ModemManager's uid of the fake's modem: the sysfs path of a USB device.
DEVICE = "/sys/devices/platform/soc/3f980000.usb/usb1/1-1/1-1.3"

NOT_RUNNING = r"ModemManager is not running; not inhibiting"

# As in test_crash.py: stretched 12 times, the update phase lasts about 3 s.
TIME_SCALE = 12

# Anyone may own and call anything: the bus of one test.
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
  </policy>
</busconfig>
"""


def read_jsonl(path):
    try:
        text = Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.split("\n")[:-1] if line.strip()]


class FakeModemManager:
    def __init__(self, tmp, address, sim, args=()):
        self.address = address
        self.log_path = tmp / "modemmanager.jsonl"
        self._out = open(tmp / "modemmanager.out", "wb")
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", str(FAKE), "--address", address, "--log", str(self.log_path),
             "--device", DEVICE, "--port-link", sim.link, "--observe", str(sim.log_path)]
            + list(args),
            stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT)
        self.wait_event(lambda ev: ev["event"] == "ready", 10, "the fake ModemManager on the bus")

    def events(self):
        return read_jsonl(self.log_path)

    def wait_event(self, predicate, timeout, what):
        def check():
            return next((ev for ev in self.events() if predicate(ev)), None)
        return wait_until(check, scaled(timeout), what, paths=[self.log_path], procs=[self.proc])

    def inhibit_calls(self):
        return [ev for ev in self.events()
                if ev["event"] == "call" and ev["method"] == "InhibitDevice"]

    def wait_inhibit_call(self, inhibit, count=1, timeout=10):
        def check():
            calls = [c for c in self.inhibit_calls() if c["inhibit"] is inhibit]
            return calls[count - 1] if len(calls) >= count else None
        return wait_until(check, scaled(timeout), f"InhibitDevice(uid, {inhibit}) #{count}",
                          paths=[self.log_path], procs=[self.proc])

    def barrier(self):
        """Returns once the fake has handled everything sent to it before now: the bus delivers a
        call of ours after whatever a process that exited before we sent it had sent. ScanDevices
        is the test's own: dfotad never calls it."""
        n = len(self.events())
        subprocess.run(["busctl", f"--address={self.address}", "call", "org.freedesktop.ModemManager1",
                        "/org/freedesktop/ModemManager1", "org.freedesktop.ModemManager1", "ScanDevices"],
                       check=True, capture_output=True, timeout=scaled(10))
        self.wait_event(lambda ev: ev["event"] == "call" and ev["method"] == "ScanDevices", 10,
                        "the barrier call")
        assert n <= len(self.events())

    def stop(self):
        terminate(self.proc)
        self._out.close()


class PrivateBus:
    """A dbus-daemon of the test's own, in the role of the system bus."""

    def __init__(self, harness):
        self.harness = harness
        self.fake = None
        conf = harness.tmp / "system-bus.conf"
        conf.write_text(BUS_CONFIG.format(socket=harness.tmp / "system_bus_socket"))
        self._err = open(harness.tmp / "dbus-daemon.err", "wb")
        self.proc = subprocess.Popen(["dbus-daemon", f"--config-file={conf}", "--nofork", "--print-address"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._err)
        self.address = self._read_address()
        self.env = {"DBUS_SYSTEM_BUS_ADDRESS": self.address}

    def _read_address(self):
        """The first line on its stdout, printed once it listens."""
        data = b""
        deadline = time.monotonic() + scaled(10)
        fd = self.proc.stdout.fileno()
        while b"\n" not in data:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout("timed out waiting for dbus-daemon's address")
            readable, _, _ = select.select([fd], [], [], remaining)
            if readable:
                chunk = self.proc.stdout.read1(4096)
                if not chunk:
                    raise AssertionError(f"dbus-daemon exited (status {self.proc.wait()})")
                data += chunk
        return data.split(b"\n")[0].decode()

    def start_fake(self, sim, *args):
        self.fake = FakeModemManager(self.harness.tmp, self.address, sim, args)
        return self.fake

    def close(self):
        if self.fake:
            self.fake.stop()
        terminate(self.proc)
        self.proc.stdout.close()
        self._err.close()


@pytest.fixture
def bus(harness):
    b = PrivateBus(harness)
    try:
        yield b
    finally:
        b.close()


def line_index(daemon, regex):
    """Index of the first stderr line of daemon matching regex (AssertionError if none)."""
    pattern = re.compile(regex)
    lines = daemon.stderr().split("\n")
    for i, line in enumerate(lines):
        if pattern.search(line):
            return i
    raise AssertionError(f"no line /{regex}/ in dfotad's log")


def rx(events):
    return [ev["line"] for ev in events if ev["event"] == "rx"]


def test_inhibited_before_preflight_and_released_after_the_job(harness, bus):
    sim = harness.start_sim("ec25-http-success")
    fake = bus.start_fake(sim)
    d = harness.start_daemon(env=bus.env)

    harness.submit_job(make_job("mm"))
    r = harness.wait_record_terminal("mm")
    assert r["state"] == "SUCCEEDED", f"{r['state']}: {r['reason']}; {states(r)}"
    release = fake.wait_inhibit_call(False)
    d.wait_log(r"ModemManager has .* back", scaled(10))

    calls = fake.inhibit_calls()
    inhibit = calls[0]
    assert [(c["uid"], c["inhibit"]) for c in calls] == [(DEVICE, True), (DEVICE, False)], calls
    assert release["sender"] == inhibit["sender"], "released by another connection than inhibited"
    assert [ev["event"] for ev in fake.events() if ev["event"] in ("inhibited", "uninhibited")] == \
        ["inhibited", "uninhibited"], fake.events()

    # What reached the module before ModemManager was asked: the identification at start only.
    # The job's preflight (ATE0, ATI, AT+GSN, ...) came after.
    events = sim.events()
    before, after = rx(events[:inhibit["observed"]]), rx(events[inhibit["observed"]:])
    assert before == ["ATE0", "ATI", "AT+GSN"], f"before InhibitDevice: {before}"
    assert after[:3] == ["ATE0", "ATI", "AT+GSN"], f"after InhibitDevice: {after}"
    assert any(line.upper().startswith("AT+QFOTADL") for line in after)

    # The release follows the job's last command (the revision read back after the update)...
    qfotadl = next(i for i, ev in enumerate(events)
                   if ev["event"] == "rx" and ev["line"].upper().startswith("AT+QFOTADL"))
    reidentify = next(i for i, ev in enumerate(events)
                      if i > qfotadl and ev["event"] == "rx" and ev["line"] == "ATE0")
    last_job_command = max(i for i, ev in enumerate(events[:reidentify]) if ev["event"] == "rx")
    assert release["observed"] > last_job_command
    # ... and, in the daemon, its terminal state; the preflight followed ModemManager's answer.
    assert (line_index(d, r"ModemManager inhibited " + re.escape(DEVICE))
            < line_index(d, r"Job mm: QUEUED -> PREFLIGHT")
            < line_index(d, r"Job mm: \S+ -> SUCCEEDED")
            < line_index(d, r"ModemManager has " + re.escape(DEVICE) + " back"))
    assert not d.grep(NOT_RUNNING)
    assert not d.grep(r"warning: .*ModemManager")


def test_restart_mid_update_inhibits_again_before_touching_the_port(harness, bus):
    sim = harness.start_sim("ec25-http-success", time_scale=TIME_SCALE)
    fake = bus.start_fake(sim)
    cfg = harness.config(timeouts={k: v * TIME_SCALE for k, v in TEST_TIMEOUTS.items()
                                   if k != "at_command"})
    first = harness.start_daemon(cfg, env=bus.env)

    harness.submit_job(make_job("crash"))
    harness.wait_log(r"Job crash: \S+ -> UPDATING\b", timeout=60)
    first_inhibit = fake.wait_inhibit_call(True)
    first.kill()

    # ModemManager gets the module back when the inhibitor leaves the bus (reference modem.md §2.6).
    released = fake.wait_event(lambda ev: ev["event"] == "released by disconnect", 10,
                               "the release by disconnect")
    assert released["sender"] == first_inhibit["sender"]
    at_restart = len(sim.events())

    second = harness.start_daemon(cfg, env=bus.env)
    r = harness.wait_record_terminal("crash", timeout=90)
    assert r["state"] == "SUCCEEDED", f"{r['state']}: {r['reason']}; {states(r)}"
    assert r["revision_after"] == TARGET_VERSION
    release = fake.wait_inhibit_call(False)
    second.wait_log(r"ModemManager has .* back", scaled(10))

    calls = fake.inhibit_calls()
    assert [(c["uid"], c["inhibit"]) for c in calls] == [(DEVICE, True), (DEVICE, True), (DEVICE, False)], calls
    second_inhibit = calls[1]
    assert second_inhibit["sender"] != first_inhibit["sender"]
    assert release["sender"] == second_inhibit["sender"]

    # The restarted daemon sent nothing to the module before it asked ModemManager, and did after
    # (it read the revision back).
    events = sim.events()
    assert rx(events[at_restart:second_inhibit["observed"]]) == [], \
        "the restarted daemon wrote to the port before inhibiting ModemManager"
    assert rx(events[second_inhibit["observed"]:])
    assert (line_index(second, r"ModemManager inhibited " + re.escape(DEVICE))
            < line_index(second, r": --> "))
    assert line_index(second, r"Job crash: \S+ -> SUCCEEDED") < line_index(second, r"ModemManager has .* back")
    assert sim.qfotadl_count() == 1


@pytest.mark.parametrize("world", ["bus without ModemManager", "no system bus"])
def test_without_modemmanager_one_info_line_and_the_job_runs(harness, bus, world):
    if world == "no system bus":
        env = {"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={harness.tmp}/no-such-bus"}
    else:
        env = bus.env
    harness.start_sim("ec25-http-success")
    d = harness.start_daemon(env=env)

    harness.submit_job(make_job("alone"))
    r = harness.wait_record_terminal("alone")
    assert r["state"] == "SUCCEEDED", f"{r['state']}: {r['reason']}; {states(r)}"

    lines = d.grep(r"ModemManager")
    assert len(lines) == 1 and re.search(r"info: .*" + NOT_RUNNING, lines[0]), lines
    assert line_index(d, NOT_RUNNING) < line_index(d, r"Job alone: QUEUED -> PREFLIGHT")


def test_modem_exported_during_the_job_is_inhibited_then(harness, bus):
    """ModemManager still probing (or started late) when the job starts: the job goes on, and the
    modem is inhibited as soon as ModemManager exports it."""
    sim = harness.start_sim("ec25-http-success", time_scale=TIME_SCALE)
    fake = bus.start_fake(sim, "--hidden")
    cfg = harness.config(timeouts={k: v * TIME_SCALE for k, v in TEST_TIMEOUTS.items()
                                   if k != "at_command"})
    d = harness.start_daemon(cfg, env=bus.env)

    harness.submit_job(make_job("late"))
    harness.wait_log(r"ModemManager knows no modem on ")
    harness.wait_log(r"Job late: \S+ -> DOWNLOADING\b", timeout=30)
    fake.proc.send_signal(signal.SIGUSR1)
    fake.wait_event(lambda ev: ev["event"] == "inhibited", 10, "the late inhibition")

    r = harness.wait_record_terminal("late", timeout=90)
    assert r["state"] == "SUCCEEDED", f"{r['state']}: {r['reason']}; {states(r)}"
    fake.wait_inhibit_call(False)
    d.wait_log(r"ModemManager has .* back", scaled(10))
    assert [(c["uid"], c["inhibit"]) for c in fake.inhibit_calls()] == [(DEVICE, True), (DEVICE, False)]
    assert (line_index(d, r"ModemManager now manages the modem on ")
            < line_index(d, r"ModemManager inhibited ")
            < line_index(d, r"Job late: \S+ -> SUCCEEDED")
            < line_index(d, r"ModemManager has .* back"))


def test_refusal_is_a_warning_and_the_job_runs(harness, bus):
    sim = harness.start_sim("ec25-http-success")
    fake = bus.start_fake(sim, "--refuse", "Unauthorized")
    d = harness.start_daemon(env=bus.env)

    harness.submit_job(make_job("refused"))
    r = harness.wait_record_terminal("refused")
    assert r["state"] == "SUCCEEDED", f"{r['state']}: {r['reason']}; {states(r)}"

    warning = d.grep(r"warning: .*ModemManager did not inhibit")
    assert len(warning) == 1, d.grep("ModemManager")
    assert "org.freedesktop.ModemManager1.Error.Core.Unauthorized" in warning[0]
    assert "may use" in warning[0]

    # Nothing to release: no InhibitDevice(uid, false), also not at exit.
    assert d.stop() == 0
    fake.barrier()
    assert [c["inhibit"] for c in fake.inhibit_calls()] == [True], fake.inhibit_calls()
    assert not d.grep(r"ModemManager has .* back")
