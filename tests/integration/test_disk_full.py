# SPDX-License-Identifier: MIT
"""A full disk under the state directory (issue 9 item 11): nothing is sent to the module unless
the record saying so is on disk, saves are retried on a timer, and STATUS= and a catalogued
journal entry say that the state directory cannot be written.

The state directory is a small tmpfs the test mounts (root only: CI runs as root). The daemon is
stopped (SIGSTOP, through its DFOTAD_TEST_STOP_AT points) at the instant the disk is to fill up."""

import json
import os
import signal
import subprocess
import threading

import pytest

from conftest import SOURCE_VERSION, TARGET_VERSION, TEST_TIMEOUTS, make_job, scaled, states, wait_until

UNWRITABLE_ID = "9b08a7c782864b5583c99225b6a2128d"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


@pytest.fixture
def small_disk(harness):
    harness.state_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,mode=0700", "dfotad-test", str(harness.state_dir)],
                   check=True)
    disk = SmallDisk(harness.state_dir)
    try:
        yield disk
    finally:
        for d in harness.daemons:
            if d.running():
                os.kill(d.pid, signal.SIGCONT)   # a daemon stopped at its test point takes no SIGTERM
        harness.stop_daemons()
        subprocess.run(["umount", "-l", str(harness.state_dir)], check=False)


class SmallDisk:
    def __init__(self, root):
        self.filler = root / "filler"

    def fill(self):
        """Writes until ENOSPC: the tmpfs is full."""
        for name, chunk in ((self.filler, 65536), (str(self.filler) + "2", 1)):
            # Unbuffered: every write goes to the file system, and closing writes nothing more.
            with open(name, "wb", buffering=0) as f:
                try:
                    while True:
                        f.write(b"\0" * chunk)
                except OSError as e:
                    assert e.errno == 28, e     # ENOSPC

    def free(self):
        for p in (self.filler, str(self.filler) + "2"):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass


def wait_stopped(d, timeout):
    """Waits until the daemon stopped itself (SIGSTOP at its test point); the child is not reaped."""
    done = threading.Event()

    def waiter():
        os.waitid(os.P_PID, d.pid, os.WSTOPPED | os.WNOWAIT)
        done.set()

    threading.Thread(target=waiter, daemon=True).start()
    assert done.wait(scaled(timeout)), "dfotad did not reach its stop point"


def config(harness):
    # The inbox stays off the small disk: a job document must be droppable while it is full.
    return harness.config(local={"inbox": str(harness.tmp / "inbox")},
                          timeouts={"state_write_retry": 0.2})


def submit(harness, job_id):
    inbox = harness.tmp / "inbox"
    inbox.mkdir(exist_ok=True)
    tmp = inbox / f".{job_id}.tmp"
    tmp.write_text(json.dumps(make_job(job_id)))
    os.rename(tmp, inbox / f"{job_id}.json")


def test_qfotadl_waits_for_its_record_on_a_full_disk(harness, small_disk):
    sim = harness.start_sim("ec25-http-success")
    d = harness.start_daemon(config(harness), env={"DFOTAD_TEST_STOP_AT": "saved:PREFLIGHT"})
    submit(harness, "full")
    wait_stopped(d, 10)
    small_disk.fill()
    mark = harness.notify.mark()
    d.signal(signal.SIGCONT)

    # Preflight runs; AT+QFOTADL is not sent while its record cannot be written.
    d.wait_log(r"Job full: cannot record AT\+QFOTADL as sent \(No space left on device\); it is not sent", scaled(10))
    d.wait_log(r"State directory .* cannot be written \(.*No space left on device\)", scaled(5))
    harness.wait_notify("STATUS=State directory not writable (No space left on device)", since=mark)
    retries = harness.daemon.mark()
    d.wait_log(r"Job full: cannot record AT\+QFOTADL as sent", scaled(5), since=retries)   # retried (debug)
    assert sim.qfotadl_count() == 0, sim.rx_lines()
    assert harness.read_record("full")["qfotadl_sent"] is False

    mark = harness.notify.mark()
    small_disk.free()
    d.wait_log(r"State directory .* can be written again; every change is on disk", scaled(10))
    harness.wait_notify("STATUS=ttyEC25: full ", since=mark)
    r = harness.wait_record_terminal("full", timeout=30)
    assert r["state"] == "SUCCEEDED", (r["reason"], states(r))
    assert sim.qfotadl_count() == 1


def fill_at_updating(harness, small_disk, job_id):
    """A job whose disk fills up the instant it enters UPDATING; returns (sim, config, daemon)."""
    sim = harness.start_sim("ec25-http-success", time_scale=4)
    cfg = config(harness)
    cfg["timeouts"].update({k: v * 4 for k, v in TEST_TIMEOUTS.items() if k != "at_command"})
    d = harness.start_daemon(cfg, env={"DFOTAD_TEST_STOP_AT": "saved:UPDATING"})
    submit(harness, job_id)
    wait_stopped(d, 20)
    small_disk.fill()
    d.signal(signal.SIGCONT)
    return sim, cfg, d


def test_statuses_saved_late_are_saved(harness, small_disk):
    """The disk fills in the middle of the update: the job goes on, its saves are kept and written
    once there is room again; the record on disk ends as the job did."""
    sim, _, d = fill_at_updating(harness, small_disk, "mid")

    d.wait_log(r"Job mid: \S+ -> SUCCEEDED", scaled(60))
    assert harness.read_record("mid")["state"] == "UPDATING"      # the disk said no
    small_disk.free()
    harness.wait_record("mid", lambda r: r["state"] == "SUCCEEDED", 10, "the record written at last")
    assert sim.qfotadl_count() == 1


def test_killed_while_the_disk_is_full(harness, small_disk):
    """A restart before the kept saves landed resumes from the older record on disk; the module's
    revision decides, and AT+QFOTADL is not sent again."""
    sim, cfg, d = fill_at_updating(harness, small_disk, "lost")
    d.wait_log(r"Job lost: \S+ -> VERIFYING", scaled(60))
    d.kill()
    assert harness.read_record("lost")["state"] == "UPDATING"

    small_disk.free()
    harness.start_daemon(cfg)
    r = harness.wait_record_terminal("lost", timeout=60)
    assert r["state"] == "SUCCEEDED" and r["revision_after"] == TARGET_VERSION, (r["reason"], states(r))
    assert sim.qfotadl_count() == 1
