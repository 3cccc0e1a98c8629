# SPDX-License-Identifier: MIT
"""Harness for the integration tests: the real dfotad against tests/sim/quectel-sim.

Nothing here sleeps. Every wait is bounded and woken by an event: a daemon stderr line (reader
thread + condition), a datagram on the test's NOTIFY_SOCKET (receiver thread), a file system change
(inotify on the directories involved) or a process exit (pidfd).
"""

import ctypes
import functools
import json
import os
import re
import select
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SOURCE_ROOT = Path(os.environ.get("DFOTAD_SOURCE_ROOT", HERE.parent.parent))
DFOTAD = Path(os.environ.get("DFOTAD_BINARY", SOURCE_ROOT / "build" / "dfotad"))
SIM = SOURCE_ROOT / "tests" / "sim" / "quectel-sim"
SCENARIOS = SOURCE_ROOT / "tests" / "sim" / "scenarios"

# Sanitizer builds run several times slower; every timeout in the tests goes through this.
SLOWDOWN = float(os.environ.get("DFOTAD_TEST_SLOWDOWN", "1"))

SOURCE_VERSION = "EC25EFAR06A01M4G"
TARGET_VERSION = "EC25EFAR06A02M4G"
HTTP_URL = "http://fw.example.net/ec25/a01-a02.zip"
FTP_URL = "ftp://user:pass@fw.example.net/ec25/a01-a02.zip"
HTTPS_URL = "https://fw.example.net/ec25/a01-a02.zip"
LOCAL_URL = "/data/ufs/a01-a02.zip"

TERMINAL_STATES = ("SUCCEEDED", "FAILED", "REJECTED", "CANCELED")

# Timeouts the issue fixes for the tests: short enough to fail fast, long enough for the
# simulator at time scale 1.
TEST_TIMEOUTS = {
    "at_command": 1,
    "download_start": 3,
    "download": 10,
    "port_return": 10,
    "first_urc_after_reboot": 3,
    "urc_watchdog": 5,
    "verify": 10,
}

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")


def scaled(seconds):
    return seconds * SLOWDOWN


@functools.lru_cache(maxsize=None)
def sanitized():
    """True when dfotad was built with ASan/UBSan (the run.sh stage c build)."""
    r = subprocess.run(["ldd", str(DFOTAD)], capture_output=True, text=True)
    return "libasan" in r.stdout or "libubsan" in r.stdout


def vm_hwm_kib(pid):
    """The peak resident set size of a live process, in KiB (/proc/PID/status VmHWM)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def assert_peak_rss_below(pid, limit_kib):
    """A memory bound holds for the plain build. Under ASan the figure says nothing about dfotad
    (its quarantine alone keeps up to 256 MB of freed blocks resident), so the sanitizer stage
    checks only that the process is alive and within 4 GiB."""
    peak = vm_hwm_kib(pid)
    if sanitized():
        assert peak < 4 * 1024 * 1024, f"peak RSS {peak} KiB under the sanitizers"
    else:
        assert peak < limit_kib, f"peak RSS {peak} KiB, limit {limit_kib} KiB"
    return peak


# ------------------------------------------------------------------------------------------------
# Waiting on the file system and on processes without polling.

_libc = ctypes.CDLL(None, use_errno=True)
_libc.inotify_init1.argtypes = [ctypes.c_int]
_libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]

IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
_IN_ANY_CHANGE = (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO
                  | IN_CREATE | IN_DELETE)



def terminate(proc, timeout=5):
    """SIGTERM, then SIGKILL if it does not exit in time."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

class WaitTimeout(AssertionError):
    pass


def _existing_dir(path):
    """The directory to watch for changes of path: its parent, or the nearest that exists, so a
    watch can be set before the file (or its directory) is created."""
    d = Path(path).parent
    while not d.is_dir():
        d = d.parent
    return d


def wait_until(predicate, timeout, what, paths=(), procs=()):
    """Returns predicate()'s first truthy value. Re-evaluates it whenever something changes in the
    directories holding `paths`, or when one of `procs` (Popen) exits; fails after timeout s."""
    fd = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "inotify_init1")
    pidfds = []
    watched = set()

    def watch():
        # Re-run after every event: a directory created meanwhile gets its own watch.
        for d in {_existing_dir(p) for p in paths} - watched:
            if _libc.inotify_add_watch(fd, str(d).encode(), _IN_ANY_CHANGE) < 0:
                raise OSError(ctypes.get_errno(), f"inotify_add_watch {d}")
            watched.add(d)
    try:
        watch()
        for p in procs:
            try:
                pidfds.append(os.pidfd_open(p.pid))
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(f"timed out after {timeout:.1f}s waiting for {what}")
            readable, _, _ = select.select([fd] + pidfds, [], [], remaining)
            if fd in readable:
                try:
                    os.read(fd, 65536)
                except BlockingIOError:
                    pass
                watch()
            for p in pidfds:
                if p in readable:
                    # One last look: the change that satisfies us may come with the exit.
                    value = predicate()
                    if value:
                        return value
                    raise WaitTimeout(f"a process exited while waiting for {what}")
    finally:
        os.close(fd)
        for p in pidfds:
            os.close(p)


# ------------------------------------------------------------------------------------------------
# The simulator.

class Sim:
    """One quectel-sim process playing one module on a pty behind `link`."""

    def __init__(self, tmp, scenario, time_scale=None, name="ttyEC25", trace=False):
        scenario_path = Path(scenario)
        if not scenario_path.is_absolute():
            scenario_path = SCENARIOS / (scenario if scenario.endswith(".json") else scenario + ".json")
        self.scenario = scenario_path
        self.link = str(tmp / name)
        self.log_path = tmp / f"{name}.sim.jsonl"
        self.pid_path = tmp / f"{name}.sim.pid"
        self.out_path = tmp / f"{name}.sim.out"
        # Run through Debian's interpreter even if the executable bit got lost.
        args = ["/usr/bin/python3", str(SIM), "--link", self.link, "--scenario", str(scenario_path),
                "--log", str(self.log_path), "--pid-file", str(self.pid_path)]
        if time_scale is not None:
            args += ["--time-scale", str(time_scale)]
        if trace:
            args.append("--trace")
        self._out = open(self.out_path, "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=subprocess.STDOUT)
        self.pid = None

    def wait_started(self):
        wait_until(self._started, scaled(10), f"the simulator to create {self.link}",
                   paths=[self.link, self.pid_path], procs=[self.proc])
        self.pid = int(self.pid_path.read_text().split()[0])

    def _started(self):
        if not (self.pid_path.exists() and os.path.lexists(self.link)):
            return False
        return bool(self.pid_path.read_text().strip())

    def events(self):
        """The simulator's JSON-lines log so far (a last, unterminated line is left for later)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return []
        lines = text.split("\n")[:-1]
        return [json.loads(line) for line in lines if line.strip()]

    def wait_event(self, predicate, timeout, what):
        def check():
            for ev in self.events():
                if predicate(ev):
                    return ev
            return None
        return wait_until(check, timeout, what, paths=[self.log_path], procs=[self.proc])

    def rx_lines(self):
        """Command lines the module received, in order (also those it ignored while rebooting or
        updating: a command sent then was still sent)."""
        return [ev.get("line", "") for ev in self.events() if ev.get("event") == "rx"]

    def qfotadl_count(self):
        return sum(1 for line in self.rx_lines() if line.upper().startswith("AT+QFOTADL"))

    def reset_events(self):
        return [ev for ev in self.events() if ev.get("event") == "reset"]

    def errors(self):
        """The simulator's complaints: a wrong kind of URL, a reset that never came, a port the
        daemon never opened."""
        return [ev for ev in self.events() if ev.get("event") == "error"]

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        terminate(self.proc)
        self._out.close()

    def log_text(self):
        parts = []
        for p in (self.log_path, self.out_path):
            try:
                parts.append(f"--- {p.name}\n{p.read_text(errors='replace')}")
            except FileNotFoundError:
                parts.append(f"--- {p.name}: missing")
        return "\n".join(parts)


# ------------------------------------------------------------------------------------------------
# sd_notify: the test plays the service manager.

class NotifyListener:
    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(self.path)
        self.messages = []          # (monotonic time, sender pid, text)
        self.cond = threading.Condition()
        self._stop_r, self._stop_w = os.pipe()
        self.thread = threading.Thread(target=self._run, name="notify", daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            readable, _, _ = select.select([self.sock, self._stop_r], [], [])
            if self._stop_r in readable:
                return
            data, ancdata, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
            pid = None
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", payload[:12])[0]
            with self.cond:
                self.messages.append((time.monotonic(), pid, data.decode(errors="replace")))
                self.cond.notify_all()

    def lines(self, pid=None, since=0):
        """Every assignment received (from message index since), one per list entry: a datagram
        may carry several."""
        with self.cond:
            return [line for _, p, text in self.messages[since:] if pid is None or p == pid
                    for line in text.split("\n") if line]

    def mark(self):
        with self.cond:
            return len(self.messages)

    def wait(self, prefix, timeout, since=0, pid=None, count=1):
        """Waits until `count` assignments starting with prefix arrived (from message index
        `since`, optionally only from pid); returns the last of them."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [line for _, p, text in self.messages[since:] if pid is None or p == pid
                         for line in text.split("\n") if line.startswith(prefix)]
                if len(found) >= count:
                    return found[count - 1]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WaitTimeout(f"timed out after {timeout:.1f}s waiting for {count}x "
                                      f"{prefix!r} on NOTIFY_SOCKET; got {self.lines()!r}")
                self.cond.wait(remaining)

    def close(self):
        os.write(self._stop_w, b"x")
        self.thread.join()
        self.sock.close()
        os.close(self._stop_r)
        os.close(self._stop_w)

    def text(self):
        with self.cond:
            return "\n".join(f"{t:.3f} pid={p} {m!r}" for t, p, m in self.messages)


# ------------------------------------------------------------------------------------------------
# The daemon.

class Daemon:
    """One dfotad process; its stderr is read line by line by a thread. wrapper is a command
    prefix that must end by exec'ing dfotad (nsenter, sh -c '... exec "$@"'), so that the process
    started is dfotad itself: its pid is the one READY=1 comes from."""

    def __init__(self, args, env, stdout_path, wrapper=()):
        self._stdout = open(stdout_path, "wb")
        self.proc = subprocess.Popen(list(wrapper) + [str(DFOTAD)] + list(args), env=env,
                                     stdin=subprocess.DEVNULL, stdout=self._stdout,
                                     stderr=subprocess.PIPE)
        self.pid = self.proc.pid
        self.lines = []
        self.eof = False
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, name=f"dfotad-{self.pid}", daemon=True)
        self.thread.start()

    def _read(self):
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def mark(self):
        with self.cond:
            return len(self.lines)

    def wait_log(self, regex, timeout, since=0):
        """Waits for a stderr line (from line index `since`) matching regex; returns the match.
        Fails at once when the daemon exits without having printed it."""
        pattern = re.compile(regex)
        deadline = time.monotonic() + timeout
        with self.cond:
            pos = since
            while True:
                for line in self.lines[pos:]:
                    m = pattern.search(line)
                    if m:
                        return m
                pos = len(self.lines)
                if self.eof:
                    self.proc.wait()
                    raise WaitTimeout(f"dfotad exited (status {self.proc.returncode}) without "
                                      f"logging /{regex}/")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WaitTimeout(f"timed out after {timeout:.1f}s waiting for dfotad to log "
                                      f"/{regex}/")
                self.cond.wait(remaining)

    def grep(self, regex):
        pattern = re.compile(regex)
        with self.cond:
            return [line for line in self.lines if pattern.search(line)]

    def stderr(self):
        with self.cond:
            return "\n".join(self.lines)

    def running(self):
        return self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout):
        rc = self.proc.wait(timeout=timeout)
        self.thread.join(timeout=5)
        return rc

    def stop(self, timeout=10):
        """SIGTERM, then the exit status (SIGKILL and AssertionError if it does not exit)."""
        if self.proc.poll() is not None:
            self.thread.join(timeout=5)
            return self.proc.returncode
        self.proc.terminate()
        try:
            return self.wait_exit(scaled(timeout))
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"dfotad did not exit within {timeout}s of SIGTERM")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.thread.join(timeout=5)

    def close(self):
        self.kill()
        self._stdout.close()

    def sanitizer_reports(self):
        return [line for line in self.stderr().split("\n")
                if any(marker in line for marker in SANITIZER_MARKERS)]


def run_dfotad(args, timeout=10, env=None):
    """Runs dfotad to completion (CLI and config error paths)."""
    e = dict(os.environ)
    e.pop("NOTIFY_SOCKET", None)
    e.pop("WATCHDOG_USEC", None)
    if env:
        e.update(env)
    r = subprocess.run([str(DFOTAD)] + list(args), env=e, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=scaled(timeout))
    reports = [line for line in r.stderr.split("\n")
               if any(marker in line for marker in SANITIZER_MARKERS)]
    assert not reports, "sanitizer report from dfotad:\n" + r.stderr
    return r


# ------------------------------------------------------------------------------------------------
# Jobs.

def make_job(job_id, url=HTTP_URL, **fields):
    """A job document as the issue's scenarios use it; fields override or (None) remove keys."""
    doc = {
        "id": job_id,
        "source_version": SOURCE_VERSION,
        "target_version": TARGET_VERSION,
        "package": {"url": url},
    }
    for key, value in fields.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


def states(record):
    return [h["state"] for h in record["history"]]


def is_subsequence(wanted, seq):
    it = iter(seq)
    return all(any(x == w for x in it) for w in wanted)


class Harness:
    """Per-test world: a short temp dir (AF_UNIX paths are limited to 108 bytes), the notify
    socket, any simulators and daemons; everything is killed in teardown."""

    def __init__(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="dfotad-it-"))
        self.state_dir = self.tmp / "state"
        self.jobs_dir = self.state_dir / "jobs"
        self.inbox = self.state_dir / "inbox"
        self.config_path = self.tmp / "dfotad.json"
        self.notify = NotifyListener(self.tmp / "notify.sock")
        self.sims = []
        self.daemons = []
        self.problems = []
        self.extra_diagnostics = []     # (title, callable returning text), e.g. the umockdev bed's log
        self.keep = bool(os.environ.get("DFOTAD_TEST_KEEP"))

    @property
    def sim(self):
        return self.sims[-1]

    @property
    def daemon(self):
        return self.daemons[-1]

    def start_sim(self, scenario, time_scale=None, name="ttyEC25", trace=False):
        sim = Sim(self.tmp, scenario, time_scale=time_scale, name=name, trace=trace)
        self.sims.append(sim)   # before waiting, so that a failure shows its output
        sim.wait_started()
        return sim

    def config(self, **overrides):
        """The test configuration for the current simulator; keyword arguments replace top-level
        keys, and timeouts={...} is merged into the test timeouts."""
        cfg = {
            "state_directory": str(self.state_dir),
            "log_level": "debug",
            "modems": [{"port": sim.link, "family": "ec2x"} for sim in self.sims],
            "timeouts": dict(TEST_TIMEOUTS),
            "reset": "at",
        }
        timeouts = overrides.pop("timeouts", None)
        if timeouts:
            cfg["timeouts"].update(timeouts)
        cfg.update(overrides)
        return cfg

    def write_config(self, cfg=None, text=None, path=None):
        path = Path(path or self.config_path)
        path.write_text(text if text is not None else json.dumps(cfg or self.config(), indent=2))
        return path

    def start_daemon(self, cfg=None, args=(), env=None, ready=True, config_path=None, wrapper=()):
        """Starts dfotad on cfg (default: self.config()) and, with ready, waits for READY=1.
        wrapper: a command prefix that execs dfotad (see Daemon)."""
        if config_path is None:
            config_path = self.write_config(cfg)
        e = {k: v for k, v in os.environ.items()
             if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM",
                          "STATE_DIRECTORY", "LISTEN_FDS", "LISTEN_PID")}
        e["NOTIFY_SOCKET"] = self.notify.path
        if env:
            e.update(env)
        since = self.notify.mark()
        d = Daemon(["--config", str(config_path)] + list(args), e,
                   self.tmp / f"dfotad-{len(self.daemons)}.stdout", wrapper=wrapper)
        self.daemons.append(d)
        if ready:
            self.wait_ready(d, since)
        return d

    def wait_ready(self, d, since=0, timeout=10):
        deadline = time.monotonic() + scaled(timeout)
        # READY=1 from this very process; its exit ends the wait early with its stderr.
        while True:
            try:
                return self.notify.wait("READY=1", 0.2, since=since, pid=d.pid)
            except WaitTimeout:
                if not d.running():
                    d.wait_exit(5)
                    raise AssertionError(f"dfotad exited with status {d.proc.returncode} before "
                                         f"READY=1:\n{d.stderr()}")
                if time.monotonic() > deadline:
                    raise

    def wait_log(self, regex, timeout=10, since=0):
        return self.daemon.wait_log(regex, scaled(timeout), since=since)

    def wait_notify(self, prefix, timeout=10, since=0, pid=None, count=1):
        return self.notify.wait(prefix, scaled(timeout), since=since, pid=pid, count=count)

    def submit_job(self, doc_or_text, name=None):
        """Drops a job into the inbox the way a control plane must: written under a dotfile name,
        then renamed to *.json, so the daemon never reads a half-written document."""
        if isinstance(doc_or_text, (dict, list)):
            text = json.dumps(doc_or_text)
            if name is None:
                name = doc_or_text["id"]
        else:
            text = doc_or_text
        assert name, "a job given as text needs a file name"
        name = name[:-5] if name.endswith(".json") else name
        self.inbox.mkdir(parents=True, exist_ok=True)
        tmp = self.inbox / f".{name}.tmp"
        tmp.write_text(text)
        final = self.inbox / f"{name}.json"
        os.rename(tmp, final)
        return final

    def record_path(self, job_id):
        return self.jobs_dir / f"{job_id}.json"

    def read_record(self, job_id):
        return json.loads(self.record_path(job_id).read_text())

    def wait_record(self, job_id, predicate, timeout, what):
        def check():
            try:
                r = self.read_record(job_id)
            except FileNotFoundError:
                return None
            except json.JSONDecodeError as e:
                # Records are replaced by rename: a reader can never see half a record.
                raise AssertionError(f"record {job_id} is not valid JSON (torn write?): {e}")
            return r if predicate(r) else None
        return wait_until(check, scaled(timeout), f"record {job_id}: {what}",
                          paths=[self.record_path(job_id)], procs=[self.daemon.proc])

    def wait_record_terminal(self, job_id, timeout=30, since=0):
        """Waits for the daemon to log the job's terminal transition, then returns its record
        (allowing the record write a moment to land if the log line came first)."""
        m = self.wait_log(rf"Job {re.escape(job_id)}: (?:\S+ )?-> ({'|'.join(TERMINAL_STATES)})\b",
                          timeout=timeout, since=since)
        logged = m.group(1)
        return self.wait_record(job_id, lambda r: r.get("state") == logged, 5,
                                f"state {logged} as logged")

    def stop_daemons(self):
        """SIGTERM to every daemon still up (rather than SIGKILL, so that LeakSanitizer checks it on
        the way out); what went wrong is kept for close(). For fixtures that must stop dfotad before
        they tear down what it runs on (the umockdev test bed)."""
        for d in self.daemons:
            if d.running():
                try:
                    rc = d.stop()
                except AssertionError as e:
                    rc = None
                    self.problems.append(f"[{d.pid}] {e}")
                if rc not in (0, None):
                    self.problems.append(f"[{d.pid}] dfotad exited with status {rc} on SIGTERM")

    def close(self):
        """Stops whatever is still running (see stop_daemons); returns what went wrong."""
        self.stop_daemons()
        for d in self.daemons:
            d.close()
        for s in self.sims:
            s.stop()
        self.notify.close()
        return self.problems + [f"[{d.pid}] {line}" for d in self.daemons for line in d.sanitizer_reports()]

    def diagnostics(self):
        out = []
        for i, d in enumerate(self.daemons):
            out.append((f"dfotad #{i} stderr (pid {d.pid}, status {d.proc.returncode})",
                        d.stderr()))
        for s in self.sims:
            out.append((f"simulator {s.scenario.name} (pid {s.proc.pid})", s.log_text()))
        out.append(("NOTIFY_SOCKET", self.notify.text()))
        for title, text in self.extra_diagnostics:
            out.append((title, text()))
        out.append(("temp dir", str(self.tmp)))
        return out


@pytest.fixture
def harness():
    if not os.access(DFOTAD, os.X_OK):
        pytest.fail(f"no dfotad binary at {DFOTAD}: build first (meson compile -C build) or set "
                    f"DFOTAD_BINARY")
    h = Harness()
    try:
        yield h
    finally:
        problems = h.close()
    if problems:
        h.keep = True
        pytest.fail("dfotad at the end of the test:\n" + "\n".join(problems))
    if not h.keep:
        shutil.rmtree(h.tmp, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    h = getattr(item, "funcargs", {}).get("harness")
    if isinstance(h, Harness):
        for title, text in h.diagnostics():
            rep.sections.append((title, text))
        h.keep = True  # the evidence of a failed test stays in its temp dir
