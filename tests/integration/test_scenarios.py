# SPDX-License-Identifier: MIT
"""One DFOTA job per simulator scenario, end to end: what the record, the log and the module saw."""

import json
from dataclasses import dataclass, field

import pytest

from conftest import (FTP_URL, HTTP_URL, HTTPS_URL, LOCAL_URL, SCENARIOS, SOURCE_VERSION, TARGET_VERSION,
                      is_subsequence, make_job, states)

# EC25&EC21 DFOTA User Guide V1.0, ch. 4 Table 1 and ch. 5 Table 2.
GUIDE_504 = ("Firmware upgrade failed, module will reboot and retry to upgrade for consecutively "
             "five times.")
GUIDE_505 = ("Upgrade package file check failed, module will reboot and retry to upgrade for "
             "consecutively five times.")
GUIDE_MEANINGS = {504: GUIDE_504, 505: GUIDE_505}

SUCCESS_PATH = ["DOWNLOADING", "DOWNLOADED", "WAITING_FOR_MODEM", "UPDATING", "VERIFYING",
                "SUCCEEDED"]


def last_end_value(scenario):
    """The <err> of the last END the scenario plays (what the module's last attempt said)."""
    steps = json.loads((SCENARIOS / f"{scenario}.json").read_text())["dfota"]

    def flatten(steps):
        for s in steps:
            if "repeat" in s:
                for _ in range(s["repeat"]):
                    yield from flatten(s["steps"])
            else:
                yield s
    ends = [s["value"] for s in flatten(steps) if s.get("urc") == "END"]
    assert ends, f"{scenario} plays no END"
    return ends[-1]


@dataclass
class Row:
    scenario: str
    url: str
    state: str
    attempt: int = 1
    module_error: dict = None
    watchdog_resets: int = 0
    reset: str = "at"               # the configured reset method: "at" or "command"
    timeouts: dict = field(default_factory=dict)
    path: list = None               # states that must appear, in this order

    @property
    def id(self):
        return self.scenario.removeprefix("ec25-") + ("" if self.reset == "at" else "-command")


def success(scenario, url=HTTP_URL, **kw):
    path = SUCCESS_PATH if url != LOCAL_URL else SUCCESS_PATH[1:]
    return Row(scenario, url, "SUCCEEDED", path=path, **kw)


ROWS = [
    success("ec25-http-success"),
    success("ec25-ftp-success", FTP_URL),
    success("ec25-https-success", HTTPS_URL),
    success("ec25-local-success", LOCAL_URL),
    success("ec25-port-gone"),
    success("ec25-echo-on"),
    success("ec25-comma-spaces"),
    # HTTPSTART before the OK, then a download longer than download_start: the OK must not
    # restart the start timer.
    success("ec25-urc-before-ok", timeouts={"download_start": 0.5}),
    Row("ec25-httpend-701", HTTP_URL, "FAILED", attempt=None,
        module_error={"code": 701, "kind": "http", "meaning": "HTTP unknown error"}),
    Row("ec25-ftpend-601", FTP_URL, "FAILED", attempt=None,
        module_error={"code": 601, "kind": "ftp", "meaning": "Unknown error"}),
    success("ec25-end-505-retry", attempt=2),
    Row("ec25-five-failures", HTTP_URL, "FAILED", attempt=5,
        module_error={"code": last_end_value("ec25-five-failures"), "kind": "update",
                      "meaning": GUIDE_MEANINGS[last_end_value("ec25-five-failures")]}),
    # The module resumes the update after the reset: a reset is not one of its five attempts
    # (RG50xQ FOTA note: a power failure does not count), so the attempt stays 1.
    success("ec25-watchdog-silence", attempt=1, watchdog_resets=1,
            timeouts={"urc_watchdog": 0.5}),
    success("ec25-watchdog-silence", attempt=1, watchdog_resets=1,
            timeouts={"urc_watchdog": 0.5}, reset="command"),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_scenario(harness, row):
    sim = harness.start_sim(row.scenario)
    reset = "at" if row.reset == "at" else {"command": ["/bin/kill", "-USR1", str(sim.pid)]}
    harness.start_daemon(harness.config(timeouts=row.timeouts, reset=reset))
    job_id = "job-" + row.id

    harness.submit_job(make_job(job_id, url=row.url))
    r = harness.wait_record_terminal(job_id, timeout=60)

    # The module got the command once, with the URL verbatim, and had nothing to complain about.
    sent = [line for line in sim.rx_lines() if line.upper().startswith("AT+QFOTADL")]
    assert sent == [f'AT+QFOTADL="{row.url}"'], sent
    assert harness.daemon.grep(r"AT\+QFOTADL"), "sending AT+QFOTADL was not logged"
    assert sim.errors() == [], sim.errors()

    assert r["state"] == row.state, f"{r['state']} (reason: {r['reason']}), history {states(r)}"
    assert r["revision_before"] == SOURCE_VERSION
    assert r["qfotadl_sent"] is True
    assert r["watchdog_resets"] == row.watchdog_resets
    if row.attempt is not None:
        assert r["attempt"] == row.attempt
        for n in range(1, row.attempt + 1):
            assert harness.daemon.grep(rf"\battempt {n}\b"), f"attempt {n} was not logged"
        assert not harness.daemon.grep(rf"\battempt {row.attempt + 1}\b")
    if row.path:
        assert is_subsequence(row.path, states(r)), states(r)

    if row.state == "SUCCEEDED":
        assert r["revision_after"] == TARGET_VERSION
        assert r["reason"] is None
    else:
        assert r["module_error"] == row.module_error
        assert isinstance(r["reason"], str) and r["reason"], "a failed job must say why"
        assert "SUCCEEDED" not in states(r)
        # A failed download leaves the firmware untouched, and after the fifth failed update the
        # module restores it: either way the record says the module runs what it ran before.
        assert r["revision_after"] == r["revision_before"]

    resets = sim.reset_events()
    cfun = [line for line in sim.rx_lines() if line.strip().upper() == "AT+CFUN=1,1"]
    if row.watchdog_resets:
        assert harness.daemon.grep(r": warning: .*watchdog"), "the watchdog reset was not warned"
        if row.reset == "at":
            assert len(cfun) == 1, cfun
            assert [e["via"] for e in resets] == ["at"], resets
        else:
            assert cfun == []
            assert [e["via"] for e in resets] == ["signal"], resets
    else:
        assert cfun == [] and resets == [], "the module was reset without need"

    # The daemon survives the job and stops cleanly.
    assert harness.daemon.stop() == 0


def test_status_follows_the_job(harness):
    """sd_notify STATUS= says what the modem is doing, so "systemctl status" follows the job."""
    harness.start_sim("ec25-http-success")
    d = harness.start_daemon()
    mark = harness.notify.mark()
    before = [line for line in harness.notify.lines(pid=d.pid) if line.startswith("STATUS=")]
    assert before, "no STATUS= before the job"

    harness.submit_job(make_job("status-job"))
    harness.wait_record_terminal("status-job", timeout=30)

    later = [line for line in harness.notify.lines(pid=d.pid, since=mark)
             if line.startswith("STATUS=")]
    words = ("status-job", "DOWNLOADING", "UPDATING")
    assert any(w.lower() in line.lower() for line in later for w in words), \
        f"no STATUS= during the job named it or its phase: {later}"
    assert not any("status-job" in line for line in before)
