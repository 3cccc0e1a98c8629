# SPDX-License-Identifier: MIT
"""The update phase as real modules play it (issue 9 items 4, 5, 7 and 12): resets that count only
when they reach the module, boot noise that is not a DFOTA URC, a success after retries that
carries no error, and a babbling module that cannot blow the record up."""

import json
import os
import re
import stat
import subprocess

from conftest import SOURCE_VERSION, TARGET_VERSION, make_job, scaled, states
from mqtt_fixtures import mqtt_config, CONNECTED_RE, parse_json, DEVICE_ID
from mqtt_fixtures import mqtt_fixture  # noqa: F401  (the "mqtt" fixture)

FAST = {"at_command": 0.5, "urc_watchdog": 1, "first_urc_after_reboot": 2, "port_return": 10, "verify": 10}


def cfun_lines(sim):
    return [line for line in sim.rx_lines() if line.upper().startswith("AT+CFUN=1,1")]


def real_resets(sim):
    return [ev for ev in sim.reset_events() if not ev.get("ignored")]


def test_watchdog_counts_only_resets_that_reached_the_module(harness):
    """Item 4, reset "at": a module in recovery that answers no AT command. Every counted reset is
    an AT+CFUN=1,1 the module received; the ones that never left the channel are not counted, and
    the log says so."""
    sim = harness.start_sim("ec25-watchdog-deaf")
    cfg = harness.config(timeouts=FAST, reset="at")
    harness.start_daemon(cfg)
    harness.submit_job(make_job("deaf"))

    r = harness.wait_record_terminal("deaf", timeout=120)
    assert r["state"] == "FAILED", (r["reason"], states(r))
    assert r["watchdog_resets"] == len(cfun_lines(sim)), (r["watchdog_resets"], sim.rx_lines())
    assert 1 <= r["watchdog_resets"] <= 5
    assert real_resets(sim) == []       # the module never restarted
    assert sim.qfotadl_count() == 1
    # What was logged as a reset is what happened.
    logged = harness.daemon.grep(r"watchdog: .*the module was reset \(reset \d+ of 5\): AT\+CFUN=1,1 written")
    assert len(logged) == r["watchdog_resets"], logged


def test_watchdog_falls_back_to_the_reset_program(harness):
    """Item 4, "reset": {"command": [...], "try_at_first": true}: AT+CFUN=1,1 reaches the module but
    is not answered, so the program (a power cycle) runs; one reset, counted once, and the update
    goes on to success."""
    sim = harness.start_sim("ec25-watchdog-deaf")
    script = harness.tmp / "reset-module"
    script.write_text(f"#!/bin/sh\nexec kill -USR1 $(cut -d' ' -f1 '{sim.pid_path}')\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    cfg = harness.config(timeouts=FAST, reset={"command": [str(script)], "try_at_first": True})
    harness.start_daemon(cfg)
    harness.submit_job(make_job("fallback"))

    r = harness.wait_record_terminal("fallback", timeout=120)
    assert r["state"] == "SUCCEEDED", (r["reason"], states(r))
    assert r["watchdog_resets"] == 1 == len(real_resets(sim)), (r["watchdog_resets"], sim.reset_events())
    assert real_resets(sim)[0]["via"] == "signal"
    assert len(cfun_lines(sim)) == 1
    assert harness.daemon.grep(r"the module was reset \(reset 1 of 5\): AT\+CFUN=1,1 did not reach the module "
                               r"\(written, but not answered\); .*reset-module ran")


def test_a_failing_reset_program_resets_nothing(harness):
    """Item 4: a reset program that exits with an error did not reset the module: not counted; the
    job fails saying why, not "5 watchdog resets did not help"."""
    sim = harness.start_sim("ec25-watchdog-deaf")
    cfg = harness.config(timeouts=FAST, reset={"command": ["/bin/false"]})
    harness.start_daemon(cfg)
    harness.submit_job(make_job("false"))

    r = harness.wait_record_terminal("false", timeout=120)
    assert r["state"] == "FAILED", (r["reason"], states(r))
    assert r["watchdog_resets"] == 0
    assert "could not be reset: /bin/false failed (exit status 1)" in r["reason"], r["reason"]
    assert real_resets(sim) == []


def test_rdy_before_start_is_boot_noise(harness):
    """Item 5: RDY as the module boots into recovery after the download is not its first DFOTA URC:
    the job waits for START within first_urc_after_reboot and succeeds."""
    sim = harness.start_sim("ec25-rdy-before-start")
    harness.start_daemon()
    harness.submit_job(make_job("rdy"))

    r = harness.wait_record_terminal("rdy", timeout=30)
    assert r["state"] == "SUCCEEDED", (r["reason"], states(r))
    assert r["revision_after"] == TARGET_VERSION
    assert harness.daemon.grep(r"Job rdy: the module booted \(RDY\); its first DFOTA URC must follow within 3 s")


def test_no_first_urc_reason_says_what_it_waited_for(harness):
    """Item 5: every timeout's reason states what it waited for and for how long."""
    sim = harness.start_sim("rg50x-no-first-urc")
    cfg = harness.config(modems=[{"port": sim.link, "family": "rg50x"}])
    harness.start_daemon(cfg)
    harness.submit_job(make_job("silent", source_version="RM500QGLABR11A06M4G", target_version="RM500QGLABR11A07M4G"))

    r = harness.wait_record_terminal("silent", timeout=30)
    assert r["state"] == "FAILED"
    assert re.search(r"no DFOTA URC within 3 s after the module came back from the download reboot \(unknown error\); "
                     r"the module runs revision RM500QGLABR11A06M4G", r["reason"]), r["reason"]


def test_success_after_retries_has_no_current_error(harness, mqtt):
    """Item 7: a job that succeeds after a failed attempt has no module_error; each attempt's code,
    meaning and time are in "attempts", in the record and in the control plane's status."""
    broker = mqtt.broker()
    sub = mqtt.cli_sub(broker, f"dfotad/{DEVICE_ID}/status/#")
    sim = harness.start_sim("ec25-end-505-retry")
    cfg = harness.config(mqtt=mqtt_config(broker))
    d = harness.start_daemon(cfg)
    d.wait_log(CONNECTED_RE, scaled(10))
    r = subprocess.run(["mosquitto_pub", *broker.cli_args("plain"), "-r", "-q", "1", "-t",
                        f"dfotad/{DEVICE_ID}/jobs/retried", "-m", json.dumps(make_job("retried"))],
                       capture_output=True, text=True, timeout=scaled(10), stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr

    r = harness.wait_record_terminal("retried", timeout=30)
    assert r["state"] == "SUCCEEDED", (r["reason"], states(r))
    assert r["attempt"] == 2
    assert r["module_error"] is None
    assert [(a["attempt"], a["code"]) for a in r["attempts"]] == [(1, 505), (2, 0)]
    assert r["attempts"][0]["meaning"], r["attempts"][0]
    assert all(a["time"] for a in r["attempts"])

    topic = f"dfotad/{DEVICE_ID}/status/retried"
    sub.wait(lambda ms: any('"SUCCEEDED"' in p for t, p in ms if t == topic), 10, "status SUCCEEDED")
    final = parse_json(sub.on(topic)[-1])
    assert final["module_error"] is None
    assert final["attempts"] == r["attempts"]


def test_babbling_module_keeps_the_record_small(harness):
    """Item 12: 2,000 STARTs make one counted history entry, not 1,000, and no rewrite per line."""
    sim = harness.start_sim("ec25-babbling")
    d = harness.start_daemon()

    def written():
        with open(f"/proc/{d.pid}/io") as f:
            return int(next(line.split()[1] for line in f if line.startswith("wchar:")))

    before = written()
    harness.submit_job(make_job("babble"))
    r = harness.wait_record_terminal("babble", timeout=60)
    after = written()

    assert r["state"] == "SUCCEEDED", (r["reason"], states(r))
    assert r["attempt"] == 1
    assert len(r["history"]) <= 64
    starts = [h for h in r["history"] if (h["detail"] or "").startswith("START")]
    assert len(starts) == 1 and starts[0].get("repeated") == 2000, starts
    assert harness.record_path("babble").stat().st_size < 32 * 1024
    # Bytes written by the daemon for the whole job (records, stderr log at debug level included):
    # far below the 56 MB of one synced rewrite per line.
    assert after - before < 8 * 1024 * 1024, after - before
