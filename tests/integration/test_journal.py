# SPDX-License-Identifier: MIT
"""dfotad under a real systemd-journald: the structured fields of its entries, as journalctl shows
them, and the catalog entries for the MESSAGE_IDs it emits.

journald runs standalone in a private mount namespace (tmpfs on /run/systemd, /run/log and
/var/log/journal, so the host is untouched): `unshare -m` starts it, it says READY=1 on the
harness's NOTIFY_SOCKET once its sockets are bound. dfotad joins that namespace with nsenter, so
its sd_journal_sendv() reaches this journald, and gets JOURNAL_STREAM set to the device:inode of
its own stderr (the harness's pipe), which is how systemd tells a service that its stderr is the
journal. The simulator runs outside: its pty link in the temp dir is visible from both sides.

Nothing sleeps. To know that journald has stored every entry dfotad sent, the test sends a
sentinel entry over the same socket after dfotad has exited (datagrams on the socket are read in
order) and follows the journal (journalctl -f, read with select) until the sentinel shows up.
"""

import json
import os
import re
import select
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import SOURCE_ROOT, TERMINAL_STATES, WaitTimeout, make_job, scaled, states, terminate

JOURNALD = Path("/lib/systemd/systemd-journald")
CATALOG = SOURCE_ROOT / "systemd" / "dfotad.catalog"

# The IDs as include/log.h defines them, written out here so that a changed ID fails the test.
MSG_QFOTADL_SENT = "1c6fca05bbe4440884ee0df7a64d8962"
MSG_JOB_SUCCEEDED = "a3109c6c49054dabb6a222e10e84eebb"
MSG_JOB_FAILED = "817c940d19104fe19cbf9df8f1b8a1da"
MSG_MODULE_ERROR = "59011fb1a4e948c4a64bf0f40351ec07"

IMEI = "861234567890123"            # the scenarios' module
SENTINEL_IDENTIFIER = "dfotad-journal-test"

# Fields dfotad itself sets (as opposed to the ones journald adds, which start with "_").
DAEMON_FIELDS = ("MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "CODE_FILE", "CODE_LINE",
                 "CODE_FUNC", "ERRNO", "MESSAGE_ID", "DFOTAD_MODEM", "DFOTAD_MODEM_IMEI",
                 "DFOTAD_JOB_ID", "DFOTAD_STATE", "DFOTAD_ATTEMPT", "DFOTAD_PROGRESS",
                 "DFOTAD_MODULE_ERROR")

# Runs in the new mount namespace, then becomes journald (same pid: unshare and sh exec).
NAMESPACE_SCRIPT = """
set -e
for d in /run/systemd /run/log /var/log/journal; do
        mount -t tmpfs -o mode=0755 tmpfs "$d"
done
exec "$0"
"""

# Runs in journald's namespace (nsenter execs it), then becomes dfotad: JOURNAL_STREAM names fd 2
# in systemd's format, st_dev and st_ino in decimal.
JOURNAL_STREAM_SCRIPT = """
JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) || exit 1
export JOURNAL_STREAM
exec "$@"
"""


def _child_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM",
                        "LISTEN_FDS", "LISTEN_PID")}
    env.update(extra)
    return env


class Journald:
    """A standalone systemd-journald in its own mount namespace."""

    def __init__(self, harness):
        self.harness = harness
        self.out_path = harness.tmp / "journald.out"
        self._out = open(self.out_path, "wb")
        since = harness.notify.mark()
        self.proc = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "/bin/sh", "-c", NAMESPACE_SCRIPT,
             str(JOURNALD)],
            env=_child_env(NOTIFY_SOCKET=harness.notify.path), stdin=subprocess.DEVNULL,
            stdout=self._out, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        self.mount_ns = f"/proc/{self.pid}/ns/mnt"
        self._wait_ready(since)

    def _wait_ready(self, since, timeout=10):
        # READY=1 comes after journald has bound its sockets; a failed mount ends the wait at once.
        deadline = time.monotonic() + scaled(timeout)
        while True:
            try:
                return self.harness.notify.wait("READY=1", 0.2, since=since, pid=self.pid)
            except WaitTimeout:
                if self.proc.poll() is not None:
                    raise AssertionError(f"journald exited with status {self.proc.returncode} "
                                         f"before READY=1:\n{self.output()}")
                if time.monotonic() > deadline:
                    raise

    def nsenter(self, *command):
        return ["nsenter", f"--mount={self.mount_ns}", "--"] + list(command)

    def daemon_wrapper(self):
        """The command prefix that runs dfotad in journald's namespace with JOURNAL_STREAM naming
        its stderr."""
        return self.nsenter("/bin/sh", "-c", JOURNAL_STREAM_SCRIPT, "dfotad-journal-stream")

    def send_sentinel(self):
        token = uuid.uuid4().hex
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            # Through /proc/<pid>/root: journald's socket as its namespace sees it.
            s.sendto(f"MESSAGE=sentinel {token}\nSYSLOG_IDENTIFIER={SENTINEL_IDENTIFIER}\n"
                     f"DFOTAD_TEST_SENTINEL={token}\n".encode(),
                     f"/proc/{self.pid}/root/run/systemd/journal/socket")
        finally:
            s.close()
        return token

    def dfotad_entries(self, timeout=10):
        """Every entry with SYSLOG_IDENTIFIER=dfotad, once journald has stored everything sent to
        it so far. Call after dfotad has exited."""
        token = self.send_sentinel()
        follower = subprocess.Popen(
            self.nsenter("journalctl", "--directory=/run/log/journal", "-o", "json", "--no-pager",
                         "--follow", "--lines=all", "SYSLOG_IDENTIFIER=dfotad",
                         f"SYSLOG_IDENTIFIER={SENTINEL_IDENTIFIER}"),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        entries, buf = [], b""
        deadline = time.monotonic() + scaled(timeout)
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WaitTimeout(f"timed out after {timeout}s waiting for the sentinel entry "
                                      f"in the journal; got {len(entries)} dfotad entries")
                readable, _, _ = select.select([follower.stdout], [], [], remaining)
                if not readable:
                    continue
                chunk = os.read(follower.stdout.fileno(), 65536)
                if not chunk:
                    follower.wait()
                    raise AssertionError(f"journalctl exited with status {follower.returncode}: "
                                         f"{follower.stderr.read().decode(errors='replace')}")
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    if not line.strip():
                        continue
                    entry = json.loads(line)
                    if entry.get("SYSLOG_IDENTIFIER") == SENTINEL_IDENTIFIER:
                        if entry.get("DFOTAD_TEST_SENTINEL") == token:
                            return entries
                    else:
                        entries.append(entry)
        finally:
            follower.terminate()
            follower.wait()
            follower.stdout.close()
            follower.stderr.close()

    def output(self):
        try:
            return self.out_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def close(self):
        terminate(self.proc)
        self._out.close()


@pytest.fixture
def journald(harness):
    missing = [name for name in ("unshare", "nsenter") if not shutil.which(name)]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (util-linux)")
    if not JOURNALD.exists():
        pytest.skip(f"no {JOURNALD} (package systemd)")
    j = Journald(harness)
    try:
        yield j
    finally:
        j.close()


# ------------------------------------------------------------------------------------------------
# Reading journalctl -o json.

def values(entry, field):
    """The values of field in a journalctl -o json entry, as a list of strings: a field sent more
    than once is shown as a list of values, a binary value as a list of byte values."""
    v = entry.get(field)
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    if all(isinstance(x, int) for x in v):
        return [bytes(v).decode(errors="replace")]
    return [x if isinstance(x, str) else bytes(x).decode(errors="replace") for x in v]


def single(entry, field):
    """The one value of field; fails when it is missing or was sent more than once."""
    vs = values(entry, field)
    assert len(vs) == 1, f"{field} has {len(vs)} values {vs!r} in {describe(entry)}"
    return vs[0]


def describe(entry):
    return json.dumps({k: v for k, v in entry.items() if not k.startswith("_")
                       and k not in ("__CURSOR", "__REALTIME_TIMESTAMP", "__MONOTONIC_TIMESTAMP")},
                      sort_keys=True)


def with_id(entries, message_id, job_id):
    return [e for e in entries
            if values(e, "MESSAGE_ID") == [message_id] and values(e, "DFOTAD_JOB_ID") == [job_id]]


def catalog_entries():
    """{message id: entry text} from systemd/dfotad.catalog."""
    text = CATALOG.read_text()
    parts = re.split(r"^-- ([0-9a-f]{32})(?:[ \t]+\S+)?[ \t]*$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


# ------------------------------------------------------------------------------------------------

def run_job(harness, journald, scenario, job_id):
    """Runs one job to its end with dfotad logging to journald; returns (record, daemon, sim,
    dfotad's journal entries)."""
    sim = harness.start_sim(scenario)
    d = harness.start_daemon(wrapper=journald.daemon_wrapper())

    # The setup itself: dfotad runs in journald's namespace with a JOURNAL_STREAM naming its fd 2.
    environ = dict(item.split("=", 1) for item in
                   Path(f"/proc/{d.pid}/environ").read_bytes().decode().split("\0") if "=" in item)
    st = os.stat(f"/proc/{d.pid}/fd/2")
    assert environ.get("JOURNAL_STREAM") == f"{st.st_dev}:{st.st_ino}", environ
    assert os.readlink(f"/proc/{d.pid}/ns/mnt") == os.readlink(journald.mount_ns)

    harness.submit_job(make_job(job_id))
    r = harness.wait_record(job_id, lambda r: r.get("state") in TERMINAL_STATES, 30,
                            "a terminal state")
    assert d.stop() == 0
    entries = journald.dfotad_entries()

    # Journal mode: everything went to the journal; stderr stayed empty (a sanitizer report, a
    # failed sd_journal_sendv() falling back to stderr, a stray fprintf would all land there).
    assert d.stderr() == "", f"dfotad wrote to stderr in journal mode:\n{d.stderr()}"
    return r, d, sim, entries


def check_common(entries, d):
    """What holds for every entry dfotad sends."""
    assert entries, "no entry with SYSLOG_IDENTIFIER=dfotad in the journal"
    catalog = catalog_entries()
    for e in entries:
        # Sent by dfotad itself, over the native protocol (not a stdout stream or syslog).
        assert values(e, "_PID") == [str(d.pid)], describe(e)
        assert values(e, "_TRANSPORT") == ["journal"], describe(e)
        # No field of its own twice: journalctl shows a duplicated field as a list. In particular
        # one CODE_FILE (the caller's), not a second set naming log.c.
        for field in DAEMON_FIELDS:
            assert len(values(e, field)) <= 1, f"{field} sent more than once: {describe(e)}"
        code_file = single(e, "CODE_FILE")
        assert code_file.endswith(".c") and not code_file.endswith("core/log.c"), describe(e)
        assert re.fullmatch(r"[1-9][0-9]*", single(e, "CODE_LINE")), describe(e)
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", single(e, "CODE_FUNC")), describe(e)
        assert re.fullmatch(r"[0-7]", single(e, "PRIORITY")), describe(e)
        assert single(e, "MESSAGE"), describe(e)
        # Every MESSAGE_ID it emits is explained in the catalog.
        for message_id in values(e, "MESSAGE_ID"):
            assert message_id in catalog, f"MESSAGE_ID {message_id} has no entry in {CATALOG}: " \
                                          f"{describe(e)}"
            assert re.search(r"^Subject: \S", catalog[message_id], re.MULTILINE), \
                f"catalog entry {message_id} has no Subject:"


def test_success_is_structured(harness, journald):
    job_id = "journal-success"
    r, d, sim, entries = run_job(harness, journald, "ec25-http-success", job_id)
    assert r["state"] == "SUCCEEDED", f"{r['state']} (reason: {r['reason']}), history {states(r)}"
    check_common(entries, d)

    # AT+QFOTADL: one entry, naming the job and the modem's port.
    sent = with_id(entries, MSG_QFOTADL_SENT, job_id)
    assert len(sent) == 1, [describe(e) for e in entries if "QFOTADL" in e.get("MESSAGE", "")]
    assert single(sent[0], "DFOTAD_MODEM") == sim.link, describe(sent[0])

    # The success: state, module, attempt, and PRIORITY=5 (notice).
    done = with_id(entries, MSG_JOB_SUCCEEDED, job_id)
    assert len(done) == 1, [describe(e) for e in entries
                            if values(e, "DFOTAD_JOB_ID") == [job_id]]
    e = done[0]
    assert single(e, "DFOTAD_STATE") == "SUCCEEDED", describe(e)
    assert single(e, "DFOTAD_MODEM_IMEI") == IMEI, describe(e)
    assert single(e, "DFOTAD_ATTEMPT") == "1", describe(e)
    assert single(e, "PRIORITY") == "5", describe(e)
    assert single(e, "DFOTAD_MODEM") == sim.link, describe(e)
    assert values(e, "DFOTAD_MODULE_ERROR") == [], describe(e)
    assert with_id(entries, MSG_JOB_FAILED, job_id) == []

    # Progress steps carry the figure as a field, and every entry about the job names it (the
    # ones about the module's own port excepted).
    progress = [single(x, "DFOTAD_PROGRESS") for x in entries
                if values(x, "DFOTAD_JOB_ID") == [job_id] and re.search(r"UPDATING \d+%$", single(x, "MESSAGE"))]
    assert progress and progress[-1] == "100", progress
    about_job = [x for x in entries if job_id in single(x, "MESSAGE")]
    assert all(values(x, "DFOTAD_JOB_ID") == [job_id] for x in about_job), \
        [describe(x) for x in about_job if values(x, "DFOTAD_JOB_ID") != [job_id]]


def test_module_error_is_structured(harness, journald):
    job_id = "journal-701"
    r, d, sim, entries = run_job(harness, journald, "ec25-httpend-701", job_id)
    assert r["state"] == "FAILED", f"{r['state']} (reason: {r['reason']}), history {states(r)}"
    check_common(entries, d)

    failed = with_id(entries, MSG_JOB_FAILED, job_id)
    assert len(failed) == 1, [describe(e) for e in entries
                              if values(e, "DFOTAD_JOB_ID") == [job_id]]
    e = failed[0]
    assert single(e, "DFOTAD_STATE") == "FAILED", describe(e)
    assert single(e, "DFOTAD_MODULE_ERROR") == "701", describe(e)
    assert single(e, "PRIORITY") == "4", describe(e)
    assert single(e, "DFOTAD_MODEM") == sim.link, describe(e)
    assert single(e, "DFOTAD_MODEM_IMEI") == IMEI, describe(e)
    assert with_id(entries, MSG_JOB_SUCCEEDED, job_id) == []

    # The module's error has its own entry, with the guide's meaning in the text.
    module = with_id(entries, MSG_MODULE_ERROR, job_id)
    assert len(module) == 1, [describe(x) for x in entries if values(x, "DFOTAD_JOB_ID") == [job_id]]
    assert single(module[0], "DFOTAD_MODULE_ERROR") == "701", describe(module[0])
    assert "HTTP unknown error" in single(module[0], "MESSAGE"), describe(module[0])
