# SPDX-License-Identifier: MIT
"""Resume after a restart reads typed record fields only (issue 9 items 1, 2, 3, 6).

Two kinds of test: records written as a killed daemon leaves them, then one start (deterministic,
each the exact record state the issue reports); and kill chains through the daemon's own kill
points (DFOTAD_TEST_KILL_AT, include/fault.h), as a power cut would end it."""

import json
import time

import pytest

from conftest import (HTTP_URL, SOURCE_VERSION, TARGET_VERSION, TEST_TIMEOUTS, scaled, states,
                      make_job, wait_until)

T = "2026-12-01T10:00:00.000Z"


def record(job_id, port, state, phase, qfotadl_sent=True, attempt=0, last_end=None, family="ec2x",
           module_error=None, history=None, url=HTTP_URL, source=SOURCE_VERSION, target=TARGET_VERSION,
           model="EC25", imei="861234567890123"):
    """A job record as dfotad writes it (include/record.h)."""
    doc = make_job(job_id, url=url, source_version=source, target_version=target)
    return {
        "id": job_id, "job": doc, "state": state, "progress": 0, "attempt": attempt,
        "watchdog_resets": 0, "module_error": module_error,
        "revision_before": source, "revision_after": None, "reason": None,
        "modem": {"port": port, "imei": imei, "model": model, "family": family},
        "control_plane": "local", "qfotadl_sent": qfotadl_sent,
        "qfotadl_sent_at": T if qfotadl_sent else None,
        "phase": phase, "last_end": last_end, "module_hold": False, "attempts": [],
        "attempts_omitted": 0, "created_at": T, "updated_at": T,
        "history": history or [{"time": T, "state": "QUEUED", "detail": "created"}],
        "history_omitted": 0, "execution": None, "executions": None,
    }


def write_record(harness, rec):
    harness.jobs_dir.mkdir(parents=True, exist_ok=True)
    harness.record_path(rec["id"]).write_text(json.dumps(rec, indent=2))


def scenario_file(harness, name, doc):
    path = harness.tmp / f"{name}.json"
    path.write_text(json.dumps(doc))
    return path


def test_waiting_record_whose_history_ends_in_preflight_does_not_send_again(harness):
    """Item 1: the third run of the issue's chain: WAITING_FOR_MODEM, AT+QFOTADL sent, the last
    active state of its history PREFLIGHT (the second run resumed in memory only). The module
    rebooted during its download and is back in normal mode, silent."""
    sim = harness.start_sim("ec25-http-success")
    history = [{"time": T, "state": "QUEUED", "detail": "created"},
               {"time": T, "state": "PREFLIGHT", "detail": None},
               {"time": T, "state": "PREFLIGHT", "detail": "AT+QFOTADL recorded as sent"},
               {"time": T, "state": "WAITING_FOR_MODEM", "detail": "AT port gone (hang-up)"}]
    write_record(harness, record("chain", sim.link, "WAITING_FOR_MODEM", "downloading", history=history))
    harness.start_daemon()

    r = harness.wait_record_terminal("chain", timeout=30)
    assert sim.qfotadl_count() == 0, sim.rx_lines()
    assert not harness.daemon.grep(r"--> AT\+QFOTADL")
    assert r["state"] == "FAILED", r
    assert r["revision_after"] == SOURCE_VERSION
    assert "rebooted during the download" in r["reason"], r["reason"]


def test_queued_record_that_says_sent_is_not_sent_again(harness):
    """Item 1: a record saying QUEUED with qfotadl_sent: true resumes on the safe side."""
    sim = harness.start_sim("ec25-http-success")
    rec = record("queued-sent", sim.link, "QUEUED", "preflight")
    del rec["phase"]    # as a writer that knew only the flag left it
    write_record(harness, rec)
    harness.start_daemon()

    r = harness.wait_record_terminal("queued-sent", timeout=30)
    assert sim.qfotadl_count() == 0, sim.rx_lines()
    assert harness.daemon.grep(r"Job queued-sent: resuming .*AT\+QFOTADL was sent before and is not sent again")
    assert r["state"] == "FAILED" and r["revision_after"] == SOURCE_VERSION, r
    assert r["qfotadl_sent"] is True


def test_restart_between_attempts_counts_every_attempt(harness):
    """Item 2: killed while the port is gone after END,504 of attempt 1; the module goes on with
    attempts 2..5 and restores its firmware. Five failures end as attempt 5, and the reason says
    the module restored its firmware."""
    steps = []
    for code in (504, 504, 504, 505):
        steps += [{"delay": 0.05, "urc": "START"},
                  {"delay": 0.02, "progress": "UPDATING", "from": 1, "to": 30, "step": 10, "interval": 0.01},
                  {"delay": 0.02, "urc": "END", "value": code}]
        steps.append({"delay": 0.02, "reboot": "update" if code == 504 else "normal"})
    path = scenario_file(harness, "ec25-attempts-2-to-5", {
        "description": "ec25-five-failures from attempt 2 on: the module is in recovery when the daemon starts.",
        "module": {"model": "EC25", "revision": SOURCE_VERSION, "imei": "861234567890123"},
        "target_revision": TARGET_VERSION,
        "startup": {"mode": "update", "steps": steps},
    })
    sim = harness.start_sim(str(path))
    write_record(harness, record("between", sim.link, "WAITING_FOR_MODEM", "update-ended", attempt=1, last_end=504,
                                 module_error={"code": 504, "kind": "update", "meaning": None}))
    harness.start_daemon()

    r = harness.wait_record_terminal("between", timeout=40)
    assert r["state"] == "FAILED", r
    assert r["attempt"] == 5, (r["attempt"], states(r))
    assert r["module_error"]["code"] == 505
    assert "after 5 attempts" in r["reason"] and "restored revision " + SOURCE_VERSION in r["reason"], r["reason"]
    assert [a["code"] for a in r["attempts"]] == [504, 504, 504, 505]
    assert sim.qfotadl_count() == 0


def test_restart_keeps_the_family_detected_from_ati(harness):
    """Item 3: a static port whose family was detected from ATI (none configured), a BC26, killed
    in the middle of its update. The resumed job runs with the BC26 profile: the error means what
    the BC26 table says, and an error ends DFOTA at once (no retries, no reboot to wait for)."""
    path = scenario_file(harness, "bc26-end-255-resumed", {
        "description": "bc26-end-255 from START on: the module is updating when the daemon starts.",
        "module": {"model": "BC26", "revision": "BC26NBR01A09", "imei": "866123456789012", "port": "uart",
                   "url_max": 255, "local_prefixes": [], "schemes": ["http"]},
        "target_revision": "BC26NBR01A10",
        # A BC26 updates without a reboot in between (BC26 DFOTA User Guide §3): the simulator's
        # module is still in its normal mode, and answers ATI after END.
        "startup": {"mode": "normal", "steps": [
            {"delay": 0.2, "progress": "UPDATING", "from": 10, "to": 40, "step": 10, "interval": 0.01, "percent": True},
            {"delay": 0.02, "urc": "END", "value": 255},
        ]},
    })
    sim = harness.start_sim(str(path))
    write_record(harness, record("bc26", sim.link, "UPDATING", "updating", attempt=1, family="bc26",
                                 url="http://fw.example.net/bc26.bin", source="BC26NBR01A09",
                                 target="BC26NBR01A10", model="BC26", imei="866123456789012"))
    cfg = harness.config(modems=[{"port": sim.link}], timeouts={"verify": 30})
    harness.start_daemon(cfg)

    started = time.monotonic()
    r = harness.wait_record_terminal("bc26", timeout=30)
    assert r["state"] == "FAILED", r
    assert r["modem"]["family"] == "bc26"
    assert r["module_error"]["code"] == 255
    assert r["module_error"]["meaning"], r["module_error"]
    assert "left DFOTA" in r["reason"], r["reason"]
    # The BC26 rule, not a wait for a reboot the module never does.
    assert time.monotonic() - started < scaled(15)


def test_recorded_but_never_written_waits_only_for_the_download_to_start(harness):
    """Item 6: killed between "recorded as sent" and the write: the module never got it. The resumed
    job waits download_start for the first download URC (not the whole download), and the reason
    says what it waited for, for how long, and that the command may never have reached the module."""
    sim = harness.start_sim("ec25-http-success")
    write_record(harness, record("unsent", sim.link, "PREFLIGHT", "qfotadl-sent"))
    cfg = harness.config(timeouts={"download_start": 2, "download": 60})
    harness.start_daemon(cfg)

    started = time.monotonic()
    r = harness.wait_record_terminal("unsent", timeout=30)
    assert time.monotonic() - started < scaled(20)
    assert r["state"] == "FAILED", r
    assert "no FTPSTART/HTTPSTART within 2 s of AT+QFOTADL" in r["reason"], r["reason"]
    assert "may never have reached the module" in r["reason"], r["reason"]
    assert r["revision_after"] == SOURCE_VERSION
    assert sim.qfotadl_count() == 0


def test_kill_chain_with_a_power_cycle_sends_qfotadl_once(harness):
    """Item 1, the issue's own chain, through the daemon's kill points: killed right after
    AT+QFOTADL went out; restarted, it follows the download; the module is power-cycled and the
    daemon killed again as soon as it saved WAITING_FOR_MODEM; a third run starts while the port is
    gone. AT+QFOTADL reached the module exactly once, and the record says what the module did."""
    sim = harness.start_sim("var-silent-download", time_scale=10)
    cfg = harness.config(timeouts={"download_start": 20, "download": 60, "port_return": 30})

    first = harness.start_daemon(cfg, env={"DFOTAD_TEST_KILL_AT": "at-written:AT+QFOTADL"})
    harness.submit_job(make_job("chain3"))
    first.wait_exit(scaled(20))
    assert first.proc.returncode == -9
    assert harness.read_record("chain3")["qfotadl_sent"] is True

    second = harness.start_daemon(cfg, env={"DFOTAD_TEST_KILL_AT": "saved:WAITING_FOR_MODEM"})
    sim.wait_event(lambda ev: ev["event"] == "tx" and "HTTPSTART" in ev.get("line", ""), scaled(20), "HTTPSTART")
    second.wait_log(r"Job chain3: \S+ -> DOWNLOADING", scaled(10))
    sim.proc.send_signal(10)    # SIGUSR1: a power cycle; the download is abandoned
    second.wait_exit(scaled(20))
    assert second.proc.returncode == -9
    assert harness.read_record("chain3")["state"] == "WAITING_FOR_MODEM"

    harness.start_daemon(cfg, ready=False)
    r = harness.wait_record_terminal("chain3", timeout=60)
    assert sim.qfotadl_count() == 1, sim.rx_lines()
    assert r["state"] == "FAILED" and r["revision_after"] == SOURCE_VERSION, r
    assert r["qfotadl_sent"] is True


@pytest.mark.parametrize("point", ["qfotadl-recorded", "at-written:AT+QFOTADL", "qfotadl-reply"])
def test_kill_around_qfotadl_then_the_job_ends_as_the_module_says(harness, point):
    """Item 6 and the windows around AT+QFOTADL: whatever the kill point, the module gets the
    command at most once, and the job ends as the module's revision says."""
    sim = harness.start_sim("ec25-http-success", time_scale=4)
    cfg = harness.config(timeouts={k: v * 4 for k, v in TEST_TIMEOUTS.items() if k != "at_command"})
    first = harness.start_daemon(cfg, env={"DFOTAD_TEST_KILL_AT": point})
    harness.submit_job(make_job("window"))
    first.wait_exit(scaled(30))
    assert first.proc.returncode == -9

    harness.start_daemon(cfg)
    r = harness.wait_record_terminal("window", timeout=60)
    got = sim.qfotadl_count()
    assert got == (0 if point == "qfotadl-recorded" else 1), sim.rx_lines()
    if got == 1:
        assert r["state"] == "SUCCEEDED", (r["reason"], states(r))
        assert r["revision_after"] == TARGET_VERSION
    else:
        assert r["state"] == "FAILED" and "may never have reached the module" in r["reason"], r
