# SPDX-License-Identifier: MIT
"""Self-test of quectel-sim: talk to it over its pty like dfotad would.

Run: /usr/bin/python3 -m pytest tests/sim/test_sim.py

No sleeps: every wait blocks in select() on the pty or on an inotify watch of the test's
directory (the link being re-published, the log file growing), bounded by a timeout.
"""

import ctypes
import ctypes.util
import errno
import importlib.machinery
import importlib.util
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import termios
import time
import tty
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SIM = HERE / "quectel-sim"
SCENARIOS = HERE / "scenarios"
OLD = "EC25EFAR06A01M4G"
NEW = "EC25EFAR06A02M4G"
URL = "http://fw.example.net/ec25/a01-a02.zip"
BOOT_NOISE = ["RDY", "+CFUN: 1", "+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE"]
TIMEOUT = 5.0


def _load_sim_module():
    loader = importlib.machinery.SourceFileLoader("quectel_sim", str(SIM))
    spec = importlib.util.spec_from_loader("quectel_sim", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


class Inotify:
    """Wakes up when anything in a directory changes (link re-published, log appended)."""

    IN_MODIFY, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x2, 0x80, 0x100, 0x200

    def __init__(self, directory):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0, os.strerror(ctypes.get_errno())
        mask = self.IN_MODIFY | self.IN_MOVED_TO | self.IN_CREATE | self.IN_DELETE
        assert libc.inotify_add_watch(self.fd, os.fsencode(directory), mask) >= 0

    def drain(self):
        try:
            while os.read(self.fd, 65536):
                pass
        except BlockingIOError:
            pass

    def close(self):
        os.close(self.fd)


class PortGone(Exception):
    pass


class Port:
    """The daemon's side of the AT port."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        # TCSANOW: the default TCSAFLUSH would discard what the module said while we were away.
        tty.setraw(self.fd, termios.TCSANOW)
        self.pts = os.path.realpath(path)
        self.buf = b""

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def send(self, cmd):
        os.write(self.fd, cmd.encode() + b"\r")

    def read_some(self, timeout, extra_fd=None):
        """Wait for data (or extra_fd); return False on timeout. Raises PortGone on EOF/EIO."""
        fds = [self.fd] + ([extra_fd] if extra_fd is not None else [])
        r, _, _ = select.select(fds, [], [], max(0.0, timeout))
        if not r:
            return False
        if self.fd in r:
            try:
                data = os.read(self.fd, 4096)
            except OSError as e:
                if e.errno != errno.EIO:
                    raise
                data = b""
            if not data:
                raise PortGone(self.pts)
            self.buf += data
        return True

    def command(self, cmd, timeout=TIMEOUT):
        """Send cmd, return the raw bytes up to its final result code."""
        self.send(cmd)
        end = time.monotonic() + timeout
        final = rb"\r\n(OK|ERROR|\+CME ERROR: \d+)\r\n"
        while not re.search(final, self.buf):
            if not self.read_some(end - time.monotonic()):
                raise TimeoutError(f"no answer to {cmd!r}, got {self.buf!r}")
        m = re.search(final, self.buf)
        out, self.buf = self.buf[:m.end()], self.buf[m.end():]
        return out

    def line(self, timeout=TIMEOUT):
        """Next non-empty line (CR/LF framing stripped)."""
        end = time.monotonic() + timeout
        while True:
            m = re.match(rb"[\r\n]*([^\r\n]+)[\r\n]\n?", self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m.group(1).decode()
            if not self.read_some(end - time.monotonic()):
                raise TimeoutError(f"no line within {timeout}s, got {self.buf!r}")

    def lines_until(self, last, timeout=TIMEOUT):
        got = []
        while not got or got[-1] != last:
            got.append(self.line(timeout))
        return got

    def read_to_eof(self, timeout=TIMEOUT):
        """All lines until the port goes away."""
        got = []
        try:
            while True:
                got.append(self.line(timeout))
        except PortGone:
            pass
        self.close()
        return got


class Sim:
    """One simulator; scenario is a file name in scenarios/ or an absolute path."""

    def __init__(self, tmp_path, scenario, time_scale=1.0):
        self.dir = tmp_path
        self.link = tmp_path / "ttyUSB2"
        self.log = tmp_path / "sim.log"
        self.pid_file = tmp_path / "sim.pid"
        self.watch = Inotify(tmp_path)
        self.proc = subprocess.Popen(
            [str(SIM), "--link", str(self.link), "--scenario", str(SCENARIOS / scenario),
             "--log", str(self.log), "--pid-file", str(self.pid_file),
             "--time-scale", str(time_scale)])
        self.pts_seen = []
        self.port = None

    def events(self):
        try:
            text = self.log.read_text()
        except FileNotFoundError:
            return []
        return [json.loads(x) for x in text.splitlines(keepends=True) if x.endswith("\n")]

    def wait_for(self, cond, timeout=TIMEOUT, what="condition"):
        end = time.monotonic() + timeout
        while True:
            self.watch.drain()
            v = cond()
            if v:
                return v
            assert self.proc.poll() is None, f"simulator exited with {self.proc.returncode}"
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{what} not within {timeout}s")
            select.select([self.watch.fd], [], [], left)

    def wait_event(self, pred, timeout=TIMEOUT, what="event"):
        return self.wait_for(lambda: next((e for e in self.events() if pred(e)), None), timeout, what)

    def open(self, timeout=TIMEOUT):
        """Open the link once the module has published a port we have not used yet."""
        def ready():
            ups = [e["pts"] for e in self.events() if e["event"] == "port_up"]
            try:
                target = os.readlink(self.link)
            except FileNotFoundError:
                return None
            return target if len(ups) > len(self.pts_seen) and target == ups[-1] else None
        target = self.wait_for(ready, timeout, "a new port")
        self.pts_seen.append(target)
        self.port = Port(self.link)
        return self.port

    def rx(self, prefix):
        return [e for e in self.events() if e["event"] == "rx" and e["line"].startswith(prefix)]

    def stop(self):
        if self.port:
            self.port.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(TIMEOUT)
        if self.watch:
            self.watch.close()
            self.watch = None
        return self.proc.returncode


@pytest.fixture
def sim_factory(tmp_path):
    sims = []

    def make(scenario, time_scale=1.0):
        s = Sim(tmp_path, scenario, time_scale)
        sims.append(s)
        return s
    yield make
    for s in sims:
        rc = s.stop()
        assert rc == 0
        assert not s.link.exists() and not os.path.lexists(s.link), "link left behind"


def qind(word, value=None):
    return f'+QIND: "FOTA","{word}"' + ("" if value is None else f",{value}")


def updating(to, step=5):
    vals = list(range(1, to + 1, step))
    if vals[-1] != to:
        vals.append(to)
    return [qind("UPDATING", v) for v in vals]


def run_dfota(sim, target=URL):
    """Drive a whole DFOTA like a daemon would; return the lines of each port incarnation.

    Reads until the port goes away (then reopens it), or until the simulator logs scenario_end;
    the last incarnation ends with the ATI answer (Quectel, model, Revision)."""
    port = sim.open()
    assert port.command("ATE0").endswith(b"\r\nOK\r\n")
    out = port.command(f'AT+QFOTADL="{target}"')
    assert out.endswith(b"\r\nOK\r\n"), out
    parts, got = [], []
    end = time.monotonic() + 4 * TIMEOUT
    while True:
        try:
            if not port.read_some(end - time.monotonic(), extra_fd=sim.watch.fd):
                raise TimeoutError(f"DFOTA did not end; so far {parts + [got]}")
            sim.watch.drain()
            while re.match(rb"[\r\n]*[^\r\n]+[\r\n]", port.buf):
                got.append(port.line())
        except PortGone:
            port.close()
            parts.append(got)
            got = []
            port = sim.open()
            continue
        if any(e["event"] == "scenario_end" for e in sim.events()):
            # What the module said before the end is in the pty by now; ATI comes after it.
            resp = port.command("ATI").decode()
            got += [x for x in re.split(r"[\r\n]+", resp) if x and x not in ("ATI", "OK")]
            parts.append(got)
            port.close()
            return parts


# ---------------------------------------------------------------------------------------------

FAMILY_MODELS = {"ec25": "EC25", "ep06": "EP06", "rg50x": "RM500Q-GL", "ucxx": "UC20", "bc26": "BC26"}


def test_all_scenarios_validate():
    mod = _load_sim_module()
    files = sorted(SCENARIOS.glob("*.json"))
    assert len(files) >= 44
    for f in files:
        sc = mod.load_scenario(str(f))
        assert sc["description"], f.name
        family = f.name.split("-")[0]
        if family in FAMILY_MODELS:
            assert sc["module"]["model"] == FAMILY_MODELS[family], f.name
        else:
            assert family == "var", f.name
        assert sc["target_revision"] != sc["module"]["revision"], f.name


def test_bad_scenario_is_rejected(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"dfota": [{"urc": "START", "reboot": "update"}]}))
    r = subprocess.run([str(SIM), "--check", "--scenario", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2 and "exactly one of" in r.stderr
    bad.write_text(json.dumps({"dfota": [{"urc": "START", "bogus": 1}]}))
    r = subprocess.run([str(SIM), "--check", "--scenario", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2 and "bogus" in r.stderr


def test_at_commands_echo_and_validation(sim_factory):
    sim = sim_factory("ec25-http-success.json")
    p = sim.open()
    # Echo is on after boot: the command comes back with its CR, then the framed answer.
    assert p.command("ATI") == b"ATI\r\r\nQuectel\r\nEC25\r\nRevision: " + OLD.encode() + b"\r\n\r\nOK\r\n"
    assert p.command("ATE0") == b"ATE0\r\r\nOK\r\n"
    assert p.command("AT") == b"\r\nOK\r\n"
    assert p.command("AT+QGMR") == b"\r\n" + OLD.encode() + b"_01.001.01.001\r\n\r\nOK\r\n"
    assert p.command("AT+CGSN") == b"\r\n861234567890123\r\n\r\nOK\r\n"
    assert p.command("AT+GSN") == b"\r\n861234567890123\r\n\r\nOK\r\n"
    for cmd, answer in [("AT+CSUB", "SubEdition: V01"), ("AT+CPIN?", "+CPIN: READY"),
                        ("AT+CREG?", "+CREG: 0,1"), ("AT+CEREG?", "+CEREG: 0,1"),
                        ("AT+CSQ", "+CSQ: 23,99")]:
        assert p.command(cmd) == f"\r\n{answer}\r\n\r\nOK\r\n".encode()
    assert p.command("AT+QFOTADL=?") == b"\r\nOK\r\n"
    assert p.command("AT+NOSUCH") == b"\r\nERROR\r\n"
    long_url = "http://h/" + "a" * (256 - len("http://h/"))
    assert len(long_url) == 256
    assert p.command(f'AT+QFOTADL="{long_url}"') == b"\r\nERROR\r\n"
    assert p.command(f"AT+QFOTADL={URL}") == b"\r\nERROR\r\n"                      # not quoted
    assert p.command('AT+QFOTADL="gopher://h/x.zip"') == b"\r\nERROR\r\n"         # no such scheme
    assert p.command('AT+QFOTADL="/cache/ufs/x.zip"') == b"\r\nERROR\r\n"         # wrong prefix
    assert p.command('AT+QFOTADL="/data/ufs/' + "x" * 119 + '"') == b"\r\nERROR\r\n"  # 129 > 128
    # Nothing started: no DFOTA, the rejected commands are all logged as received.
    assert len(sim.rx("AT+QFOTADL")) == 6
    assert long_url in sim.rx("AT+QFOTADL=")[1]["line"]
    assert not [e for e in sim.events() if e["event"] in ("dfota_start", "reboot")]
    assert p.command("ATE1") == b"\r\nOK\r\n"
    assert p.command("AT") == b"AT\r\r\nOK\r\n"


def test_ignore_ate0_quirk(sim_factory):
    sim = sim_factory("ec25-echo-on.json")
    p = sim.open()
    assert p.command("ATE0") == b"ATE0\r\r\nOK\r\n"
    assert p.command("AT") == b"AT\r\r\nOK\r\n"
    assert p.command("ATI").startswith(b"ATI\r\r\nQuectel\r\n")


def test_http_success_with_port_loss(sim_factory):
    sim = sim_factory("ec25-http-success.json")
    p = sim.open()
    assert p.command("ATE0") == b"ATE0\r\r\nOK\r\n"
    assert p.command(f'AT+QFOTADL="{URL}"') == b"\r\nOK\r\n"
    assert p.read_to_eof() == [qind("HTTPSTART"), qind("HTTPEND", 0)]

    # Recovery mode: same path, another pts, no RDY, URCs only, AT goes unanswered.
    p = sim.open()
    assert p.pts != sim.pts_seen[0] and os.path.realpath(sim.link) == p.pts
    p.send("AT")
    tail = p.read_to_eof()
    assert tail == [qind("START")] + updating(100) + [qind("END", 0)]
    assert sim.wait_event(lambda e: e["event"] == "rx" and e["line"] == "AT" and e.get("ignored"))

    # Normal mode again: boot noise, echo back on (ATE0 is not saved), the new revision.
    p = sim.open()
    assert p.pts != sim.pts_seen[1]
    assert p.lines_until("+QIND: SMS DONE") == BOOT_NOISE
    assert p.command("ATI") == b"ATI\r\r\nQuectel\r\nEC25\r\nRevision: " + NEW.encode() + b"\r\n\r\nOK\r\n"
    sim.wait_event(lambda e: e["event"] == "scenario_end")

    ev = sim.events()
    assert [e["line"] for e in ev if e["event"] == "rx" and "QFOTADL" in e["line"]] == [f'AT+QFOTADL="{URL}"']
    kinds = [e["event"] for e in ev if e["event"] in ("reboot", "port_down", "port_up", "daemon_opened")]
    assert kinds == ["port_up", "daemon_opened"] + ["reboot", "port_down", "port_up", "daemon_opened"] * 2
    assert [e["into"] for e in ev if e["event"] == "reboot"] == ["update", "normal"]
    assert [e["mode"] for e in ev if e["event"] == "port_up"] == ["normal", "update", "normal"]
    assert all(isinstance(e["t"], float) for e in ev)
    assert not [e for e in ev if e["event"] == "error"]
    ends = [e for e in ev if e["event"] == "scenario_end"]
    assert len(ends) == 1 and ends[0]["completed"] is True


def test_second_qfotadl_refused_while_running(sim_factory):
    sim = sim_factory("ec25-httpend-701.json")
    p = sim.open()
    p.command("ATE0")
    assert p.command(f'AT+QFOTADL="{URL}"') == b"\r\nOK\r\n"
    assert p.command(f'AT+QFOTADL="{URL}"') == b"\r\nERROR\r\n"
    assert p.lines_until(qind("HTTPEND", 701)) == [qind("HTTPSTART"), qind("HTTPEND", 701)]
    sim.wait_event(lambda e: e["event"] == "scenario_end")
    assert p.command("ATI").endswith(b"Revision: " + OLD.encode() + b"\r\n\r\nOK\r\n")
    assert len(sim.rx("AT+QFOTADL")) == 2
    assert not [e for e in sim.events() if e["event"] in ("reboot", "port_down")]


def test_watchdog_reset_by_signal(sim_factory):
    sim = sim_factory("ec25-watchdog-silence.json")
    p = sim.open()
    p.command("ATE0")
    p.command(f'AT+QFOTADL="{URL}"')
    assert p.read_to_eof() == [qind("HTTPSTART"), qind("HTTPEND", 0)]
    p = sim.open()
    assert p.lines_until(qind("UPDATING", 30)) == [qind("START")] + updating(30)
    # Silence now; the module waits for a power cycle (the GPIO reset script = SIGUSR1).
    assert not p.read_some(0.2)
    pid = int(sim.pid_file.read_text())
    assert pid == sim.proc.pid
    os.kill(pid, signal.SIGUSR1)
    assert p.read_to_eof() == []
    p = sim.open()
    assert p.read_to_eof() == [qind("START")] + updating(100) + [qind("END", 0)]
    p = sim.open()
    assert p.lines_until("+QIND: SMS DONE") == BOOT_NOISE
    assert p.command("AT+QGMR").startswith(b"AT+QGMR\r\r\n" + NEW.encode())
    ev = sim.events()
    assert [e for e in ev if e["event"] == "reset"][0]["via"] == "signal"
    assert [e["reason"] for e in ev if e["event"] == "reboot"] == ["scenario", "signal", "scenario"]
    assert not [e for e in ev if e["event"] == "error"]


def test_watchdog_reset_by_at_in_update_mode(sim_factory):
    sim = sim_factory("ec25-watchdog-silence.json", time_scale=0.5)
    parts = []
    p = sim.open()
    p.command("ATE0")
    p.command(f'AT+QFOTADL="{URL}"')
    p.read_to_eof()
    p = sim.open()
    p.lines_until(qind("UPDATING", 30))
    # update_mode_answers_at: recovery mode answers AT and AT+CFUN=1,1 (echo is on after boot).
    assert p.command("AT") == b"AT\r\r\nOK\r\n"
    assert p.command("ATI") == b"ATI\r\r\nERROR\r\n"
    assert p.command("AT+CFUN=1,1") == b"AT+CFUN=1,1\r\r\nOK\r\n"
    parts.append(p.read_to_eof())
    p = sim.open()
    parts.append(p.read_to_eof())
    assert parts == [[], [qind("START")] + updating(100) + [qind("END", 0)]]
    assert [e["via"] for e in sim.events() if e["event"] == "reset"] == ["at"]


def test_wait_reset_timeout_stops_scenario(sim_factory):
    # 20 s scaled by 0.02 = 0.4 s without a reset.
    sim = sim_factory("ec25-watchdog-silence.json", time_scale=0.02)
    p = sim.open()
    p.command("ATE0")
    p.command(f'AT+QFOTADL="{URL}"')
    p.read_to_eof()
    p = sim.open()
    end = sim.wait_event(lambda e: e["event"] == "scenario_end")
    assert end["completed"] is False and end["reason"] == "reset never arrived"
    assert [e["message"] for e in sim.events() if e["event"] == "error"] == ["reset never arrived"]


def test_local_file_port_drops_right_after_ok(sim_factory):
    sim = sim_factory("ec25-local-success.json")
    p = sim.open()
    p.command("ATE0")
    assert p.command('AT+QFOTADL="/data/ufs/a01-a02.zip"') == b"\r\nOK\r\n"
    assert p.read_to_eof() == []
    p = sim.open()
    assert p.read_to_eof() == [qind("START")] + updating(100) + [qind("END", 0)]
    p = sim.open()
    assert p.lines_until("+QIND: SMS DONE") == BOOT_NOISE
    assert NEW.encode() in p.command("ATI")


def test_daemon_close_and_reopen_loses_nothing(sim_factory):
    sim = sim_factory("ec25-comma-spaces.json", time_scale=3)
    p = sim.open()
    p.command("ATE0")
    p.command(f'AT+QFOTADL="{URL}"')
    p.read_to_eof()
    p = sim.open()
    first = [p.line(), p.line()]
    assert first == ['+QIND: "FOTA", "START"', '+QIND: "FOTA", "UPDATING", 1%']
    p.close()                                # the daemon crashes ...
    sim.wait_event(lambda e: e["event"] == "tx" and e["line"] == '+QIND: "FOTA", "UPDATING", 51%')
    p = Port(sim.link)                       # ... and comes back on the same port
    rest = p.read_to_eof()
    want = ['+QIND: "FOTA", "START"'] + [f'+QIND: "FOTA", "UPDATING", {v}%' for v in
                                         list(range(1, 100, 5)) + [100]] + ['+QIND: "FOTA", "END", 0']
    assert first + rest == want
    ev = [e["event"] for e in sim.events()]
    assert "daemon_closed" in ev and "daemon_reopened" in ev


@pytest.mark.parametrize("scenario,target,want", [
    ("ec25-ftp-success.json", "ftp://u:p@fw.example.net:21/a01-a02.zip",
     [[qind("FTPSTART"), qind("FTPEND", 0)], [qind("START")] + updating(100) + [qind("END", 0)],
      BOOT_NOISE + ["Quectel", "EC25", "Revision: " + NEW]]),
    ("ec25-ftpend-601.json", "FTP://fw.example.net/a.zip",
     [[qind("FTPSTART"), qind("FTPEND", 601), "Quectel", "EC25", "Revision: " + OLD]]),
    ("ec25-end-505-retry.json", URL,
     [[qind("HTTPSTART"), qind("HTTPEND", 0)], [qind("START")] + updating(40) + [qind("END", 505)],
      [qind("START")] + updating(100) + [qind("END", 0)],
      BOOT_NOISE + ["Quectel", "EC25", "Revision: " + NEW]]),
    ("ec25-five-failures.json", URL,
     [[qind("HTTPSTART"), qind("HTTPEND", 0)]]
     + [[qind("START")] + updating(30) + [qind("END", 504)]] * 4
     + [[qind("START")] + updating(30) + [qind("END", 505)],
        BOOT_NOISE + ["Quectel", "EC25", "Revision: " + OLD]]),
    ("ec25-port-gone.json", URL,
     [[qind("HTTPSTART"), qind("HTTPEND", 0)], [qind("START")] + updating(100) + [qind("END", 0)],
      BOOT_NOISE + ["Quectel", "EC25", "Revision: " + NEW]]),
])
def test_scenario_transcripts(sim_factory, scenario, target, want):
    sim = sim_factory(scenario, time_scale=0.5)
    assert run_dfota(sim, target) == want
    ev = sim.events()
    assert len(sim.rx("AT+QFOTADL")) == 1
    assert not [e for e in ev if e["event"] == "error"]
    assert [e for e in ev if e["event"] == "scenario_end"][0]["completed"] is True


def test_startup_steps_raw_bytes_and_extra_responses(sim_factory, tmp_path):
    scenario = tmp_path / "custom.json"
    scenario.write_text(json.dumps({
        "module": {"responses": {"AT+CPIN?": ["+CME ERROR: 10"],
                                 'at+qcfg="nwscanmode"': ['+QCFG: "nwscanmode",0', "OK"]}},
        "startup": {"mode": "update", "steps": [
            {"raw": "+QIND: \u201cFOTA\u201d,\u201cSTART\u201d"},
            {"raw": "\u00ff\u00fe", "latin1": True},
            {"urc": "END", "value": 0, "comma_space": True},
            {"reboot": "normal", "time": 0.05}]}}))
    sim = sim_factory(str(scenario))
    p = sim.open()
    p.send("AT")                             # a module already in recovery: not answered
    try:
        while True:
            p.read_some(TIMEOUT)
    except PortGone:
        p.close()
    assert p.buf == ("\r\n+QIND: \u201cFOTA\u201d,\u201cSTART\u201d\r\n".encode()
                     + b"\r\n\xff\xfe\r\n\r\n+QIND: \"FOTA\", \"END\", 0\r\n")
    p = sim.open()
    assert p.lines_until("+QIND: SMS DONE") == BOOT_NOISE
    p.send("AT+CPIN?")
    assert [p.line(), p.line()] == ["AT+CPIN?", "+CME ERROR: 10"]
    assert p.command('AT+QCFG="nwscanmode"') == (b'AT+QCFG="nwscanmode"\r'
                                                 b'\r\n+QCFG: "nwscanmode",0\r\n\r\nOK\r\n')
    # Overrides apply to one command of a ';' line too.
    assert p.command('AT;+CPIN?;+CSQ') == b"AT;+CPIN?;+CSQ\r\r\n+CME ERROR: 10\r\n"
    ev = sim.events()
    rx = [e for e in ev if e["event"] == "rx"]
    assert rx[0]["line"] == "AT" and rx[0]["ignored"] is True and "ignored" not in rx[1]
    assert [e["completed"] for e in ev if e["event"] == "scenario_end"] == [True]


def test_network_answers_pdp_context_and_command_lines(sim_factory):
    sim = sim_factory("ucxx-http-success.json")
    p = sim.open()
    p.command("ATE0")
    # BC26 guide §4.1: one command line, four answers, one OK.
    assert p.command("AT+CESQ;+CEREG?;+CPIN?;+COPS?") == (
        b'\r\n+CESQ: 47,6,255,255,0,54\r\n+CEREG: 0,1\r\n+CPIN: READY\r\n+COPS: 0,2,"46011",9\r\n'
        b"\r\nOK\r\n")
    assert p.command("AT+CSQ;+NOSUCH;+CPIN?") == b"\r\n+CSQ: 23,99\r\n\r\nERROR\r\n"
    assert p.command("AT+CGPADDR=1") == b"\r\n+CGPADDR: 1,10.1.2.3\r\n\r\nOK\r\n"
    # AT+QICSGP: shape checked; stored; queried back (UC20 TCP/IP manual).
    for bad in ['AT+QICSGP=0,1,"a","","",1', 'AT+QICSGP=17,1,"a","","",1', 'AT+QICSGP=1,1,a,"","",1',
                'AT+QICSGP=1,1,"a","u","p",4', 'AT+QICSGP=1,1,"a","u"', 'AT+QCFG="fota/cid",0',
                'AT+QCFG="fota/cid",x', 'AT+QCFG="nosuch",1']:
        assert p.command(bad) == b"\r\nERROR\r\n", bad
    assert p.command("AT+QICSGP=1") == b'\r\n+QICSGP: 1,"","","",0\r\n\r\nOK\r\n'
    assert p.command('AT+QICSGP=1,1,"internet.example","fleet","s3;cr3t",1') == b"\r\nOK\r\n"
    assert p.command("at+qicsgp=1") == b'\r\n+QICSGP: 1,"internet.example","fleet","s3;cr3t",1\r\n\r\nOK\r\n'
    assert p.command('AT+QCFG="fota/cid"') == b'\r\n+QCFG: "fota/cid",1\r\n\r\nOK\r\n'
    assert p.command('AT+QCFG="fota/cid",2') == b"\r\nOK\r\n"
    assert p.command('AT+QCFG="fota/cid"') == b'\r\n+QCFG: "fota/cid",2\r\n\r\nOK\r\n'
    # The line reached the module verbatim, password included.
    assert sim.rx('AT+QICSGP=1,1,"internet.example"')[0]["line"] == \
        'AT+QICSGP=1,1,"internet.example","fleet","s3;cr3t",1'
    # needs_pdp: context 2 (the fota/cid now) is not configured: the module complains.
    assert p.command('AT+QFOTADL="HTTP://fw.example.net/uc20/delta.bin"') == b"\r\nOK\r\n"
    err = sim.wait_event(lambda e: e["event"] == "error")
    assert "PDP context 2" in err["message"]


def test_pdp_configured_before_qfotadl_is_no_error(sim_factory):
    sim = sim_factory("ucxx-ftp-success.json", time_scale=0.5)
    p = sim.open()
    p.command("ATE0")
    assert p.command('AT+QICSGP=1,1,"UNINET","","",1') == b"\r\nOK\r\n"
    assert p.command('AT+QCFG="fota/cid",1') == b"\r\nOK\r\n"
    p.close()
    sim.port = None
    sim.pts_seen = []
    parts = run_dfota(sim, "FTP://test:test@demo.com:21/update/delta.bin")
    # UMTS/HSPA guide §3.1: RDY is the first thing on the port that comes back after END,0.
    assert parts[1][-1] == qind("END", 0) and parts[2][0] == "RDY"
    assert parts[2][-3:] == ["Quectel", "UC20", "Revision: UC20GQBR03A13E1G"]
    assert not [e for e in sim.events() if e["event"] == "error"]


def test_qfotadl_reply_refuses_without_dfota(sim_factory):
    sim = sim_factory("bc26-cme-busy.json")
    p = sim.open()
    p.command("ATE0")
    assert p.command('AT+QFOTADL="https://fw.example.net/a.bin"') == b"\r\nERROR\r\n"   # no HTTPS
    assert p.command('AT+QFOTADL="/data/ufs/a.bin"') == b"\r\nERROR\r\n"                # no local file
    assert p.command('AT+QFOTADL="http://fw.example.net/a.bin"') == b"\r\n+CME ERROR: 2\r\n"
    assert not [e for e in sim.events() if e["event"] in ("dfota_start", "reboot", "scenario_end")]
    assert p.command("ATI").endswith(b"Revision: BC26NBR01A09\r\n\r\nOK\r\n")


def test_uart_reboot_keeps_the_port_and_goes_silent(sim_factory, tmp_path):
    scenario = tmp_path / "uart.json"
    scenario.write_text(json.dumps({
        "module": {"port": "uart", "model": "BC26", "revision": "BC26NBR01A09"},
        "boot_noise": ["Leaving the BROM"],
        "startup": {"steps": [{"delay": 0.05, "urc": "START"}, {"reboot": "normal", "time": 1.0},
                              {"urc": "AFTER"}]}}))
    sim = sim_factory(str(scenario))
    p = sim.open()
    assert p.line() == qind("START")
    reboot = sim.wait_event(lambda e: e["event"] == "reboot")
    assert reboot["port"] == "kept" and reboot["into"] == "normal"
    p.send("AT")                               # the module is rebooting: nobody answers
    assert p.lines_until(qind("AFTER")) == ["Leaving the BROM", qind("AFTER")]
    assert p.command("AT") == b"AT\r\r\nOK\r\n"      # echo is on again after the boot
    ev = sim.events()
    rx = [e for e in ev if e["event"] == "rx"]
    assert rx[0] == {"t": rx[0]["t"], "event": "rx", "line": "AT", "ignored": True}
    assert "ignored" not in rx[1]
    assert [e["event"] for e in ev if e["event"] in ("port_up", "port_down", "boot")] == ["port_up", "boot"]
    assert os.path.realpath(sim.link) == p.pts


def test_bc26_power_loss_resumes_on_the_same_port(sim_factory):
    sim = sim_factory("bc26-power-loss.json")
    parts = run_dfota(sim, "http://www.quectel.com:100/update.zip")
    assert len(parts) == 1, "a UART never goes away"
    got = parts[0]
    pct = [f'+QIND: "FOTA","DOWNLOADING", {v}%' for v in list(range(1, 100, 11)) + [100]]
    assert got[:len(pct) + 2] == [qind("HTTPTART")] + pct + [qind("HTTPEND", 0)]
    brom = got.index("Leaving the BROM")
    assert got[len(pct) + 2:brom - 6] == [qind("START")] + [
        f'+QIND: "FOTA","UPDATING", {v}%' for v in (1, 12, 23, 34)]
    assert got[brom + 1] == qind("START")
    brom_lines = got[brom - 6:brom + 1]
    assert brom_lines[0] == "F1: 0000 0000"
    assert got[-11:] == [qind("END", 0)] + brom_lines + ["Quectel", "BC26", "Revision: BC26NBR01A10"]
    ev = sim.events()
    reboots = [(e["into"], e["port"]) for e in ev if e["event"] == "reboot"]
    assert reboots == [("update", "kept"), ("normal", "kept")]
    assert not [e for e in ev if e["event"] in ("port_down", "error")]


def test_formats_typographic_quotes_and_value_space(sim_factory, tmp_path):
    mod = _load_sim_module()
    sc = mod.load_scenario(str(SCENARIOS / "var-typographic-quotes.json"))
    assert sc["format"]["quotes"] == "typographic"
    scenario = tmp_path / "fmt.json"
    scenario.write_text(json.dumps({
        "format": {"quotes": "typographic"},
        "startup": {"steps": [{"urc": "HTTPEND", "value": 608},
                              {"urc": "DOWNLOADING", "value": 7, "percent": True, "value_space": True}]}}))
    sim = sim_factory(str(scenario))
    p = sim.open()
    assert p.line() == "+QIND: \u201cFOTA\u201d,\u201cHTTPEND\u201d,608"     # modem.md §5 T2
    assert p.line() == "+QIND: \u201cFOTA\u201d,\u201cDOWNLOADING\u201d, 7%"


@pytest.mark.parametrize("scenario,target,want", [
    # EP06&EG06&EM06 guide §3.2 example, spaces before commas included.
    ("ep06-http-success.json", "http://www.quectel.com:100/update.zip",
     [['+QIND: "FOTA" ,"HTTPSTART"', qind("HTTPEND", 0)],
      [qind("START"), '+QIND: "FOTA" ,"UPDATING",1', '+QIND: "FOTA" ,"UPDATING",2']
      + [qind("UPDATING", v) for v in range(10, 101, 10)] + [qind("END", 0)],
      BOOT_NOISE + ["Quectel", "EP06", "Revision: EP06ELAR03A06M4G"]]),
    # RG50xQ note §3.3.2: HTTPPEND.
    ("rg50x-http-success.json", "http://www.quectel.com:100/update.zip",
     [[qind("HTTPSTART"), qind("HTTPPEND", 0)],
      [qind("START"), qind("UPDATING", 1), qind("UPDATING", 2)]
      + [qind("UPDATING", v) for v in range(10, 101, 10)] + [qind("END", 0)],
      BOOT_NOISE + ["Quectel", "RM500Q-GL", "Revision: RM500QGLABR11A07M4G"]]),
    # RG50xQ note §3.3.1: no URC at all after the reboot, old revision.
    ("rg50x-no-first-urc.json", "http://www.quectel.com:100/update.zip",
     [[qind("HTTPSTART"), qind("HTTPPEND", 0)], ["Quectel", "RM500Q-GL", "Revision: RM500QGLABR11A06M4G"]]),
    ("rg50x-local-success.json", "/cache/ufs/update-v13-to-v12.zip",
     [[], [qind("START"), qind("UPDATING", 1), qind("UPDATING", 2)]
      + [qind("UPDATING", v) for v in range(10, 101, 10)] + [qind("END", 0)],
      BOOT_NOISE + ["Quectel", "RM500Q-GL", "Revision: RM500QGLABR11A07M4G"]]),
    ("ucxx-local-success.json", "UFS:delta.bin",
     [[], [qind("START")] + [qind("UPDATING", v) for v in (1, 2, 3)]
      + [qind("UPDATING", v) for v in range(10, 101, 10)] + [qind("END", 0)],
      ["RDY", "+CFUN: 1", "+CPIN: READY", "+QIND: SMS DONE", "+QIND: PB DONE",
       "Quectel", "UC20", "Revision: UC20GQBR03A13E1G"]]),
    # BG96 guide (modem.md §4.1): the resumed update is reported as RESTORE with a percent sign.
    ("var-restore-resume.json", URL,
     [[qind("HTTPSTART"), qind("HTTPEND", 0)],
      [qind("START")] + [qind("UPDATING", v) for v in range(1, 52, 10)],
      [qind("Last upgrade was not finished,continue upgrade")]
      + [qind("RESTORE", f"{v}%") for v in list(range(1, 100, 11)) + [100]] + [qind("END", 0)],
      BOOT_NOISE + ["Quectel", "EC25", "Revision: " + NEW]]),
    ("var-revision-no-urcs.json", URL,
     [[qind("HTTPSTART"), qind("HTTPEND", 0)], BOOT_NOISE + ["Quectel", "EC25", "Revision: " + NEW]]),
])
def test_family_transcripts(sim_factory, scenario, target, want):
    sim = sim_factory(scenario, time_scale=0.5)
    assert run_dfota(sim, target) == want
    assert len(sim.rx("AT+QFOTADL")) == 1
    assert not [e for e in sim.events() if e["event"] == "error"]


def test_garbage_reaches_the_port_byte_for_byte(sim_factory):
    sim = sim_factory("var-garbage-boot-noise.json", time_scale=0.5)
    p = sim.open()
    p.command("ATE0")
    p.command(f'AT+QFOTADL="{URL}"')
    assert p.read_to_eof() == [qind("HTTPSTART"), '+QIND: "csq",20,99', qind("HTTPEND", 0)]
    p = sim.open()
    try:
        while True:
            p.read_some(TIMEOUT)
    except PortGone:
        p.close()
    assert p.buf.startswith(b"\xff\xfe\x00\x80\xc3(\xa0\x1b[0m\xfd\r\n+QIND: PB DONE\r\n")
    assert b'\r\n+QIND: "csq",20,99\r\n\x00\xff\xff\r\n+QIND: "FOTA","UPDATING",51\r\n' in p.buf
    assert p.buf.endswith(b'\r\n+CPIN: READY\r\n\r\n+QIND: "FOTA","END",0\r\n')


def test_sigterm_removes_link_and_exits_0(sim_factory):
    sim = sim_factory("ec25-http-success.json")
    sim.open()
    assert sim.stop() == 0
    assert not os.path.lexists(sim.link) and not sim.pid_file.exists()
    assert sim.events()[-1] == {"t": sim.events()[-1]["t"], "event": "exit", "signal": "SIGTERM"}


class Controller:
    """The controller end of --control-fd, played with plain ptys: hands a fresh master for every
    port the module asks for and keeps no copy of it, so that the module closing its master hangs
    up our side like a USB unplug."""

    def __init__(self, tmp_path, scenario):
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.log = tmp_path / "sim.log"
        self.proc = subprocess.Popen(
            [str(SIM), "--control-fd", str(theirs.fileno()), "--scenario", str(SCENARIOS / scenario),
             "--log", str(self.log)], pass_fds=[theirs.fileno()])
        theirs.close()
        self.n = 0

    def recv(self):
        r, _, _ = select.select([self.sock], [], [], TIMEOUT)
        assert r, "no message from the simulator"
        data = self.sock.recv(4096)
        return json.loads(data) if data else None

    def hand_port(self):
        """A new port, handed over; returns our (the daemon's) end, opened."""
        m, s = os.openpty()
        name = os.ttyname(s)
        os.close(s)
        self.n += 1
        socket.send_fds(self.sock, [json.dumps({"op": "port", "name": f"/dev/ttyUSB{self.n}"}).encode()], [m])
        os.close(m)
        return Port(name)

    def events(self):
        return [json.loads(x) for x in self.log.read_text().splitlines(keepends=True) if x.endswith("\n")]

    def close(self):
        self.sock.close()
        return self.proc.wait(TIMEOUT)


def test_control_fd_reboots_through_the_controller(tmp_path):
    c = Controller(tmp_path, "ec25-http-success.json")
    try:
        assert c.recv() == {"op": "plug", "mode": "normal"}
        p = c.hand_port()
        assert p.command("ATE0").endswith(b"\r\nOK\r\n")
        assert p.command(f'AT+QFOTADL="{URL}"') == b"\r\nOK\r\n"
        assert p.read_to_eof() == [qind("HTTPSTART"), qind("HTTPEND", 0)]
        # The module closed its master (our fd hung up), then tells the controller to unplug,
        # and after the reboot time asks for a port again, in update mode.
        assert c.recv() == {"op": "unplug"}
        assert c.recv() == {"op": "plug", "mode": "update"}
        p = c.hand_port()
        assert p.read_to_eof() == [qind("START")] + updating(100) + [qind("END", 0)]
        assert c.recv() == {"op": "unplug"}
        assert c.recv() == {"op": "plug", "mode": "normal"}
        p = c.hand_port()
        assert p.lines_until("+QIND: SMS DONE") == BOOT_NOISE
        p.command("ATE0")
        assert NEW.encode() in p.command("ATI")
        # Pulled by the controller: the port goes at once, the module confirms; a port handed
        # afterwards is a power-on into normal mode.
        c.sock.send(json.dumps({"op": "pull"}).encode())
        assert p.read_to_eof() == []
        assert c.recv() == {"op": "unplug"}
        p = c.hand_port()
        assert p.lines_until("+QIND: SMS DONE") == BOOT_NOISE
        p.close()
        ups = [e for e in c.events() if e["event"] == "port_up"]
        assert [(e["port"], e["mode"]) for e in ups] == [
            ("/dev/ttyUSB1", "normal"), ("/dev/ttyUSB2", "update"), ("/dev/ttyUSB3", "normal"),
            ("/dev/ttyUSB4", "normal")]
        assert ups[-1].get("power_on") is True
        downs = [e for e in c.events() if e["event"] == "port_down"]
        assert [e.get("pulled", False) for e in downs] == [False, False, True]
        assert not [e for e in c.events() if e["event"] == "error"]
    finally:
        # The controller going away ends the simulator.
        assert c.close() == 0
    assert c.events()[-1]["event"] == "exit"


def test_control_fd_pull_during_download_ends_the_scenario(tmp_path):
    c = Controller(tmp_path, "var-silent-download.json")
    try:
        assert c.recv() == {"op": "plug", "mode": "normal"}
        p = c.hand_port()
        p.command("ATE0")
        p.command(f'AT+QFOTADL="{URL}"')
        assert p.line() == qind("HTTPSTART")
        c.sock.send(json.dumps({"op": "pull"}).encode())
        assert p.read_to_eof() == []
        assert c.recv() == {"op": "unplug"}
        # Without power: it asks for nothing, and says nothing more.
        r, _, _ = select.select([c.sock], [], [], 0.3)
        assert not r
        ends = [e for e in c.events() if e["event"] == "scenario_end"]
        assert ends == [{"t": ends[0]["t"], "event": "scenario_end", "completed": False, "reason": "unplugged"}]
    finally:
        assert c.close() == 0


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
