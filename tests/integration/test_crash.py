# SPDX-License-Identifier: MIT
"""dfotad killed in the middle of a DFOTA: the restarted daemon resumes the job from its record and
never sends AT+QFOTADL a second time (the module may already be rewriting its firmware)."""

import pytest

from conftest import SOURCE_VERSION, TARGET_VERSION, TEST_TIMEOUTS, is_subsequence, make_job, states

# ec25-http-success at time scale 1 updates for about 0.25 s (START, UPDATING 1..100 every 10 ms,
# END); stretched 12 times the UPDATING phase lasts about 3 s and the download about 1.2 s, so the
# kill lands inside the phase and the restart comes back before it ends.
TIME_SCALE = 12


@pytest.mark.parametrize("phase", ["UPDATING", "DOWNLOADING"])
def test_sigkill_then_restart_resumes_the_job(harness, phase):
    sim = harness.start_sim("ec25-http-success", time_scale=TIME_SCALE)
    # Every gap between module events grows with the time scale; so do the daemon's timeouts.
    cfg = harness.config(timeouts={k: v * TIME_SCALE for k, v in TEST_TIMEOUTS.items()
                                   if k != "at_command"})
    first = harness.start_daemon(cfg)

    harness.submit_job(make_job("crash"))
    harness.wait_log(rf"Job crash: \S+ -> {phase}\b", timeout=60)
    # The module must have the command: a kill before it would rightly lead to a first send.
    sim.wait_event(lambda ev: ev["event"] == "rx" and ev["line"].upper().startswith("AT+QFOTADL"),
                   10, "AT+QFOTADL at the module")
    first.kill()

    at_kill = harness.read_record("crash")
    assert at_kill["qfotadl_sent"] is True, "the record must say AT+QFOTADL was sent before it is"
    assert at_kill["state"] not in ("SUCCEEDED", "FAILED", "REJECTED", "CANCELED"), at_kill
    assert sim.qfotadl_count() == 1

    second = harness.start_daemon(cfg)
    r = harness.wait_record_terminal("crash", timeout=90)

    assert first.proc.returncode == -9
    assert r["state"] == "SUCCEEDED", f"{r['state']}: {r['reason']}; {states(r)}"
    assert r["revision_before"] == SOURCE_VERSION
    assert r["revision_after"] == TARGET_VERSION
    assert r["attempt"] == 1
    assert is_subsequence([phase, "VERIFYING", "SUCCEEDED"], states(r)), states(r)
    # Resumed where it was: the history goes on from the record at the kill, and never back to
    # the start of the job (a new preflight would mean the daemon forgot what it had done).
    assert r["history"][:len(at_kill["history"])] == at_kill["history"]
    after_restart = [h["state"] for h in r["history"][len(at_kill["history"]):]]
    assert not {"QUEUED", "PREFLIGHT"} & set(after_restart), after_restart
    assert sim.qfotadl_count() == 1, sim.rx_lines()
    assert not second.grep(r"--> AT\+QFOTADL"), "the restarted daemon sent AT+QFOTADL"
    # The second daemon really took the job over: it was the one that logged its end.
    assert second.grep(r"Job crash: \S+ -> SUCCEEDED")
    assert not first.grep(r"Job crash: \S+ -> SUCCEEDED")
    assert sim.errors() == [], sim.errors()
    assert second.stop() == 0
