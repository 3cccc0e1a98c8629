# SPDX-License-Identifier: MIT
"""Every module family of the guides, and the real-world variants, end to end: one DFOTA job per
simulator scenario (tests/sim/scenarios/{ep06,rg50x,ucxx,bc26,var}-*.json) against the real dfotad.

What is asserted comes from the guides in ../shared/seeds/ (error meanings verbatim) and from the
scenario files themselves (the module's revision before and after)."""

import json
import re
from dataclasses import dataclass, field

import pytest

from conftest import HTTP_URL, SCENARIOS, is_subsequence, make_job, states

# Module error meanings, verbatim from the guides.
# EP06&EG06&EM06 DFOTA User Guide ch. 5 Table 1.
EP06_701 = "HTTP(S) unknown error"
EP06_520 = "Firmware upgrade failed"
# RG50xQ&RM5xxQ FOTA Application Note V1.2 ch. 5 Table 5.
RG50X_520 = ("Firmware upgrading failed. The module will reboot and retry to upgrade the firmware until "
             "the upgrade is successful.")
RG50X_550 = "The firmware package is too large."
# UMTS/HSPA DFOTA User Guide ch. 4 Table 1 and ch. 5.
UCXX_625 = "Fail to login FTP"
UCXX_714 = "HTTP DNS error"
# BC26 DFOTA User Guide ch. 5 Tables 1 and 2.
BC26_13 = "Network deactivated"
BC26_255 = "Delta firmware package invalid"
BC26_2 = "FOTA is busy"

# The UC20 PDP context (UMTS/HSPA DFOTA User Guide §3.1), with the password in a file.
APN_PASSWORD = "s3cr3t-apn"
PDP = {"cid": 1, "apn": "internet.example", "username": "fleet", "auth": "pap"}
QICSGP = f'AT+QICSGP=1,1,"internet.example","fleet","{APN_PASSWORD}",1'
QCFG_CID = 'AT+QCFG="fota/cid",1'

SUCCESS_PATH = ["DOWNLOADING", "DOWNLOADED", "WAITING_FOR_MODEM", "UPDATING", "VERIFYING", "SUCCEEDED"]
LOCAL_PATH = SUCCESS_PATH[1:]
UART_PATH = ["DOWNLOADING", "DOWNLOADED", "UPDATING", "VERIFYING", "SUCCEEDED"]   # BC26: no reboot


def scenario_module(name):
    """The module's revision before and after, and its IMEI, as the scenario plays them."""
    sc = json.loads((SCENARIOS / f"{name}.json").read_text(encoding="utf-8"))
    return sc["module"]["revision"], sc["target_revision"], sc["module"]["imei"]


@dataclass
class Row:
    scenario: str
    url: str
    state: str = "SUCCEEDED"
    attempt: int = 1
    module_error: dict = None
    family: str = None              # None: left out of the config, detected from ATI
    timeouts: dict = field(default_factory=dict)
    path: list = None               # states that must appear in the history, in this order
    revision_after: str = "target"  # "target" or "old" (nothing was installed, or it was restored)
    checks: tuple = ()              # extra checks: f(harness, sim, record, row)
    by_imei: bool = False           # the job selects the modem by IMEI (default: by model)

    @property
    def id(self):
        return self.scenario

    @property
    def pdp(self):
        return self.family == "ucxx"


def err(code, kind, meaning):
    return {"code": code, "kind": kind, "meaning": meaning}


# ---- extra checks ------------------------------------------------------------------------------

def check_pdp_before_qfotadl(h, sim, r, row):
    """UMTS/HSPA guide §3.1/3.2: AT+QICSGP, then AT+QCFG="fota/cid", then AT+QFOTADL; once each."""
    rx = sim.rx_lines()
    assert rx.count(QICSGP) == 1, f"AT+QICSGP sent {rx.count(QICSGP)} times: {rx}"
    assert rx.count(QCFG_CID) == 1, f"AT+QCFG=\"fota/cid\" sent {rx.count(QCFG_CID)} times: {rx}"
    qfotadl = next(i for i, line in enumerate(rx) if line.upper().startswith("AT+QFOTADL"))
    assert rx.index(QICSGP) < rx.index(QCFG_CID) < qfotadl, rx


def check_password_not_logged(h, sim, r, row):
    leaks = h.daemon.grep(re.escape(APN_PASSWORD))
    assert not leaks, f"the APN password is in the daemon's log: {leaks}"


def check_no_port_down(h, sim, r, row):
    """A UART stays open through the module's reboots."""
    downs = [e for e in sim.events() if e.get("event") == "port_down"]
    assert not downs, downs


def check_no_reboot(h, sim, r, row):
    reboots = [e for e in sim.events() if e.get("event") == "reboot"]
    assert not reboots, reboots


def check_bc26_preflight(h, sim, r, row):
    """BC26 guide §2.3: AT+CESQ, AT+CEREG? and AT+CGPADDR=1 before AT+QFOTADL (alone or in one line)."""
    sent = []
    for line in sim.rx_lines():
        if line.upper().startswith("AT+QFOTADL"):
            break
        first, *more = line.split(";")
        sent += [first.strip().upper()] + ["AT" + m.strip().upper() for m in more]
    for cmd in ("AT+CESQ", "AT+CEREG?", "AT+CGPADDR=1"):
        assert cmd in sent, f"{cmd} not sent before AT+QFOTADL: {sent}"


def check_reason_cme(h, sim, r, row):
    assert "+CME ERROR" in r["reason"], r["reason"]


def check_reason_first_urc(h, sim, r, row):
    reason = r["reason"].lower()
    assert "urc" in reason and "unknown error" in reason, r["reason"]


def check_generic_profile_logged(h, sim, r, row):
    lines = h.daemon.grep(r'EG800Q.*(no known family|matches no).*conservative.*"generic"')
    assert lines, "the daemon did not log that EG800Q matches no family and the generic profile is used"


def check_unknown_status_logged(h, sim, r, row):
    """Logged at a level the default configuration shows (not only in the debug AT trace)."""
    for word in ("DOWNLOAD SUCCESS", "UPGRADE PREPARE"):
        raw = f'+QIND: "FOTA","{word}"'
        lines = [line for line in h.daemon.grep(r"(?i): (info|notice|warning): .*unknown")
                 if word in line.replace(raw, "") and raw in line]
        assert lines, f"no daemon log line names the unknown status {word!r} with the raw line {raw!r}"


def check_silent_download_no_watchdog(h, sim, r, row):
    tx = {e["line"]: e["t"] for e in sim.events() if e.get("event") == "tx"}
    silence = tx['+QIND: "FOTA","HTTPEND",0'] - tx['+QIND: "FOTA","HTTPSTART"']
    assert silence >= 3 * row.timeouts["urc_watchdog"], f"the download was silent for {silence:.2f} s only"
    assert not h.daemon.grep(r"(?i)watchdog"), h.daemon.grep(r"(?i)watchdog")


def check_verifying_without_end(h, sim, r, row):
    hist = r["history"]
    at = next(i for i, e in enumerate(hist) if e["state"] == "VERIFYING")
    tail = [e["state"] for e in hist[at:]]
    assert tail[-1] == "SUCCEEDED" and set(tail[:-1]) == {"VERIFYING"}, states(r)
    assert any("no END,0 was seen" in (e["detail"] or "") for e in hist[at:-1]), hist[at:]
    assert "UPDATING" not in states(r)


UCXX_CHECKS = (check_pdp_before_qfotadl, check_password_not_logged)
BC26_CHECKS = (check_bc26_preflight, check_no_port_down)

# ---- the rows ----------------------------------------------------------------------------------

EP06_HTTP = "http://fw.example.net/ep06/a05-a06.zip"
RG50X_HTTP = "http://fw.example.net/rm500q/a06-a07.zip"
BC26_HTTP = "http://fw.example.net:100/bc26/update.zip"

ROWS = [
    # EP06&EG06&EM06 DFOTA User Guide (002)
    Row("ep06-http-success", EP06_HTTP, family="ep06", path=SUCCESS_PATH),
    Row("ep06-ftp-success", "ftp://test:test@fw.example.net:21/ep06/a05-a06.zip", family="ep06",
        path=SUCCESS_PATH),
    Row("ep06-local-success", "/data/ufs/update-v13-to-v12.zip", family="ep06", path=LOCAL_PATH),
    Row("ep06-httpend-701", EP06_HTTP, "FAILED", attempt=0, family="ep06",
        module_error=err(701, "http", EP06_701), revision_after="old"),
    Row("ep06-package-errors", EP06_HTTP, "FAILED", attempt=5, family="ep06",
        module_error=err(520, "update", EP06_520), revision_after="old"),
    Row("ep06-update-retry", EP06_HTTP, attempt=2, family="ep06", path=SUCCESS_PATH),

    # RG50xQ&RM5xxQ FOTA Application Note V1.2 (003). ATI prints the model "RM500Q-GL", the revision
    # is "RM500QGL...": a job without a modem selector must still find the module by its model.
    # The other rows select it by IMEI.
    Row("rg50x-http-success", RG50X_HTTP, family="rg50x", path=SUCCESS_PATH),
    Row("rg50x-ftp-success", "ftp://test:test@fw.example.net:21/rm500q/a06-a07.zip", family="rg50x",
        by_imei=True, path=SUCCESS_PATH),
    Row("rg50x-local-success", "/cache/ufs/update-v13-to-v12.zip", family="rg50x", by_imei=True,
        path=LOCAL_PATH),
    Row("rg50x-no-first-urc", RG50X_HTTP, "FAILED", attempt=0, family="rg50x", by_imei=True,
        revision_after="old", timeouts={"first_urc_after_reboot": 1.5}, checks=(check_reason_first_urc,)),
    Row("rg50x-520-restore", RG50X_HTTP, "FAILED", attempt=5, family="rg50x", by_imei=True,
        module_error=err(520, "update", RG50X_520), revision_after="old"),
    Row("rg50x-520-sixth-succeeds", RG50X_HTTP, attempt=6, family="rg50x", by_imei=True,
        path=SUCCESS_PATH),
    Row("rg50x-power-failure", RG50X_HTTP, attempt=1, family="rg50x", by_imei=True, path=SUCCESS_PATH),
    Row("rg50x-end-550", RG50X_HTTP, "FAILED", attempt=5, family="rg50x", by_imei=True,
        module_error=err(550, "update", RG50X_550), revision_after="old"),

    # UMTS/HSPA DFOTA User Guide V1.0 (004)
    Row("ucxx-ftp-success", "FTP://test:test@fw.example.net:21/update/delta.bin", family="ucxx",
        path=SUCCESS_PATH, checks=UCXX_CHECKS),
    Row("ucxx-http-success", "HTTP://fw.example.net:80/delta.bin", family="ucxx", path=SUCCESS_PATH,
        checks=UCXX_CHECKS),
    Row("ucxx-local-success", "UFS:delta.bin", family="ucxx", path=LOCAL_PATH,
        checks=(check_password_not_logged,)),
    Row("ucxx-ftpend-625", "FTP://test:wrong@fw.example.net:21/update/delta.bin", "FAILED", attempt=0,
        family="ucxx", module_error=err(625, "ftp", UCXX_625), revision_after="old",
        checks=UCXX_CHECKS),
    Row("ucxx-httpend-714", "HTTP://fw.nosuch.example:80/delta.bin", "FAILED", attempt=0, family="ucxx",
        module_error=err(714, "http", UCXX_714), revision_after="old", checks=UCXX_CHECKS),

    # BC26 DFOTA User Guide V1.0 (001)
    Row("bc26-http-success", BC26_HTTP, family="bc26", path=UART_PATH, checks=BC26_CHECKS),
    Row("bc26-httpend-13", BC26_HTTP, "FAILED", attempt=0, family="bc26",
        module_error=err(13, "http", BC26_13), revision_after="old",
        checks=BC26_CHECKS + (check_no_reboot,)),
    Row("bc26-end-255", BC26_HTTP, "FAILED", attempt=1, family="bc26",
        module_error=err(255, "update", BC26_255), revision_after="old",
        checks=BC26_CHECKS + (check_no_reboot,)),
    Row("bc26-cme-busy", BC26_HTTP, "FAILED", attempt=0, family="bc26",
        module_error=err(2, "update", BC26_2), revision_after="old",
        checks=BC26_CHECKS + (check_no_reboot, check_reason_cme)),
    Row("bc26-power-loss", BC26_HTTP, attempt=1, family="bc26", path=UART_PATH, checks=BC26_CHECKS),

    # Real-world variants (EC25 unless said)
    Row("var-restore-resume", HTTP_URL, family="ec2x", path=SUCCESS_PATH),
    Row("var-typographic-quotes", HTTP_URL, family="ec2x", path=SUCCESS_PATH),
    Row("var-garbage-boot-noise", HTTP_URL, family="ec2x", path=SUCCESS_PATH),
    Row("var-unknown-status", HTTP_URL, family="ec2x", path=SUCCESS_PATH,
        checks=(check_unknown_status_logged,)),
    Row("var-silent-download", HTTP_URL, family="ec2x", path=SUCCESS_PATH,
        timeouts={"urc_watchdog": 0.5}, checks=(check_silent_download_no_watchdog,)),
    Row("var-revision-no-urcs", HTTP_URL, attempt=0, family="ec2x",
        path=["DOWNLOADING", "DOWNLOADED", "VERIFYING", "SUCCEEDED"],
        timeouts={"first_urc_after_reboot": 1.0}, checks=(check_verifying_without_end,)),
    Row("var-unknown-model", HTTP_URL, family=None, path=SUCCESS_PATH,
        checks=(check_generic_profile_logged,)),
]


def modem_config(harness, sim, row):
    modem = {"port": sim.link}
    if row.family:
        modem["family"] = row.family
    if row.pdp:
        pw = harness.tmp / "apn-pass"
        pw.write_text(APN_PASSWORD + "\n")
        modem["pdp"] = dict(PDP, password_file=str(pw))
    return modem


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_family(harness, row):
    old, new, imei = scenario_module(row.scenario)
    sim = harness.start_sim(row.scenario)
    cfg = harness.config(timeouts=row.timeouts, modems=[modem_config(harness, sim, row)])
    harness.start_daemon(cfg, args=["--log-level", "debug"] if row.pdp else ())
    job_id = "job-" + row.id

    harness.submit_job(make_job(job_id, url=row.url, source_version=old, target_version=new,
                                modem={"imei": imei} if row.by_imei else None))
    r = harness.wait_record_terminal(job_id, timeout=30)

    # The module got the command once, with the URL verbatim, and had nothing to complain about.
    sent = [line for line in sim.rx_lines() if line.upper().startswith("AT+QFOTADL")]
    assert sent == ([f'AT+QFOTADL="{row.url}"'] if row.state != "REJECTED" else []), sent
    assert sim.errors() == [], sim.errors()

    assert r["state"] == row.state, f"{r['state']} (reason: {r['reason']}), history {states(r)}"
    assert r["attempt"] == row.attempt, f"attempt {r['attempt']}, history {states(r)}"
    assert r["revision_before"] == old
    assert row.revision_after in ("target", "old"), row.revision_after
    assert r["revision_after"] == (new if row.revision_after == "target" else old), r["revision_after"]
    if row.path:
        assert is_subsequence(row.path, states(r)), states(r)

    if row.state == "SUCCEEDED":
        assert r["reason"] is None
    else:
        assert r["module_error"] == row.module_error
        assert isinstance(r["reason"], str) and r["reason"], "a failed job must say why"
        assert "SUCCEEDED" not in states(r)

    # No row needs the host to reset the module.
    assert sim.reset_events() == [], sim.reset_events()
    assert not [line for line in sim.rx_lines() if line.strip().upper() == "AT+CFUN=1,1"]

    for check in row.checks:
        check(harness, sim, r, row)

    assert harness.daemon.stop() == 0
