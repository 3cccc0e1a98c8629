# SPDX-License-Identifier: MIT
"""A job whose selector matches several modules (issue 4, "Several modems"): it runs on each, as
one execution record per module (<id>@<imei>.json) under a parent record (<id>.json) that
aggregates them."""

import json

from conftest import (SCENARIOS, SOURCE_VERSION, TARGET_VERSION, TEST_TIMEOUTS, is_subsequence,
                      make_job, states)

IMEI_1 = "861234567890123"     # the shipped scenarios' IMEI
IMEI_2 = "861234567890131"

RECORD_KEYS = {"id", "job", "state", "progress", "attempt", "watchdog_resets", "module_error",
               "revision_before", "revision_after", "reason", "modem", "qfotadl_sent",
               "qfotadl_sent_at", "created_at", "updated_at", "history", "execution", "executions"}


def scenario_with_imei(harness, scenario, imei):
    """A copy of a shipped scenario in the test's temp dir, the module answering AT+GSN with imei."""
    doc = json.loads((SCENARIOS / f"{scenario}.json").read_text())
    doc["module"]["imei"] = imei
    path = harness.tmp / f"{scenario}-{imei}.json"
    path.write_text(json.dumps(doc))
    return str(path)


def start_two(harness, second="ec25-http-success", time_scale=None):
    sim1 = harness.start_sim("ec25-http-success", time_scale=time_scale, name="ttyEC25a")
    sim2 = harness.start_sim(scenario_with_imei(harness, second, IMEI_2), time_scale=time_scale,
                             name="ttyEC25b")
    return sim1, sim2


def wait_identified(harness, count=2):
    """Both modules identified, so that the job is dispatched against both (not left pending)."""
    for imei in (IMEI_1, IMEI_2)[:count]:
        harness.wait_log(rf"IMEI {imei}", timeout=10)


def execution(harness, job_id, imei):
    return harness.read_record(f"{job_id}@{imei}")


def interval(record, first, last):
    times = {h["state"]: h["time"] for h in reversed(record["history"])}
    return times[first], [h["time"] for h in record["history"] if h["state"] == last][-1]


def test_model_selector_runs_on_each_module(harness):
    sim1, sim2 = start_two(harness)
    harness.start_daemon()
    wait_identified(harness)

    harness.submit_job(make_job("multi", modem={"model": "EC25"}))
    parent = harness.wait_record_terminal("multi", timeout=60)

    assert parent["state"] == "SUCCEEDED", f"{parent['reason']}; {parent['executions']}"
    assert RECORD_KEYS <= set(parent), f"missing keys {RECORD_KEYS - set(parent)}"
    assert parent["execution"] is None
    assert parent["reason"] is None
    assert [e["imei"] for e in parent["executions"]] == [IMEI_1, IMEI_2]
    assert [e["port"] for e in parent["executions"]] == [sim1.link, sim2.link]
    assert [e["state"] for e in parent["executions"]] == ["SUCCEEDED", "SUCCEEDED"]
    assert [e["record"] for e in parent["executions"]] == [f"multi@{IMEI_1}.json", f"multi@{IMEI_2}.json"]
    assert states(parent)[0] == "QUEUED" and states(parent)[-1] == "SUCCEEDED", states(parent)
    assert harness.daemon.grep(r"Job multi: \S+ -> SUCCEEDED \(all 2 modules\)")

    ends = []
    for imei, sim in ((IMEI_1, sim1), (IMEI_2, sim2)):
        r = execution(harness, "multi", imei)
        assert RECORD_KEYS <= set(r), f"missing keys {RECORD_KEYS - set(r)}"
        assert r["id"] == "multi"
        assert r["execution"] == imei
        assert r["executions"] is None
        assert r["state"] == "SUCCEEDED", f"{r['reason']}; {states(r)}"
        assert r["modem"]["imei"] == imei
        assert r["modem"]["port"] == sim.link
        assert r["revision_before"] == SOURCE_VERSION
        assert r["revision_after"] == TARGET_VERSION
        assert r["qfotadl_sent"] is True
        assert is_subsequence(["QUEUED", "PREFLIGHT", "DOWNLOADING", "UPDATING", "VERIFYING",
                               "SUCCEEDED"], states(r)), states(r)
        assert sim.qfotadl_count() == 1, sim.rx_lines()
        assert sim.errors() == [], sim.errors()
        assert harness.daemon.grep(rf"Job multi@{imei}: \S+ -> SUCCEEDED")
        ends.append(interval(r, "PREFLIGHT", "SUCCEEDED"))

    # Each module has its own queue: the two ran at the same time, not one after the other.
    assert max(start for start, _ in ends) < min(end for _, end in ends), ends
    assert harness.daemon.stop() == 0


def test_one_module_fails(harness):
    sim1, sim2 = start_two(harness, second="ec25-httpend-701")
    harness.start_daemon()
    wait_identified(harness)

    harness.submit_job(make_job("half", modem={"model": "EC25"}))
    parent = harness.wait_record_terminal("half", timeout=60)

    assert parent["state"] == "FAILED", parent
    assert IMEI_2 in parent["reason"] and "701" in parent["reason"], parent["reason"]
    assert IMEI_1 not in parent["reason"], parent["reason"]
    assert {e["imei"]: e["state"] for e in parent["executions"]} == {IMEI_1: "SUCCEEDED", IMEI_2: "FAILED"}

    ok = execution(harness, "half", IMEI_1)
    failed = execution(harness, "half", IMEI_2)
    assert ok["state"] == "SUCCEEDED" and ok["revision_after"] == TARGET_VERSION
    assert failed["state"] == "FAILED"
    assert failed["module_error"]["code"] == 701
    assert failed["modem"]["imei"] == IMEI_2
    assert sim1.qfotadl_count() == 1 and sim2.qfotadl_count() == 1
    assert harness.daemon.stop() == 0


def test_imei_selector_picks_one_module(harness):
    sim1, sim2 = start_two(harness)
    harness.start_daemon()
    wait_identified(harness)

    harness.submit_job(make_job("one", modem={"imei": IMEI_2}))
    r = harness.wait_record_terminal("one", timeout=60)

    assert r["state"] == "SUCCEEDED", f"{r['reason']}; {states(r)}"
    assert r["execution"] is None and r["executions"] is None
    assert r["modem"]["imei"] == IMEI_2 and r["modem"]["port"] == sim2.link
    assert sorted(p.name for p in harness.jobs_dir.iterdir()) == ["one.json"]
    assert sim2.qfotadl_count() == 1
    assert sim1.qfotadl_count() == 0, sim1.rx_lines()
    assert harness.daemon.stop() == 0


def test_sigkill_while_both_update_then_restart(harness):
    # Stretched as in test_crash: the UPDATING phase lasts seconds, so the kill lands inside it.
    scale = 12
    sim1, sim2 = start_two(harness, time_scale=scale)
    cfg = harness.config(timeouts={k: v * scale for k, v in TEST_TIMEOUTS.items() if k != "at_command"})
    first = harness.start_daemon(cfg)
    wait_identified(harness)

    harness.submit_job(make_job("crashmulti", modem={"model": "EC25"}))
    for imei in (IMEI_1, IMEI_2):
        harness.wait_log(rf"Job crashmulti@{imei}: \S+ -> UPDATING\b", timeout=60)
    first.kill()

    for imei in (IMEI_1, IMEI_2):
        at_kill = execution(harness, "crashmulti", imei)
        assert at_kill["qfotadl_sent"] is True
        assert at_kill["state"] == "UPDATING", at_kill
    assert harness.read_record("crashmulti")["state"] not in ("SUCCEEDED", "FAILED")

    second = harness.start_daemon(cfg)
    parent = harness.wait_record_terminal("crashmulti", timeout=90)

    assert first.proc.returncode == -9
    assert parent["state"] == "SUCCEEDED", f"{parent['reason']}; {parent['executions']}"
    assert [e["state"] for e in parent["executions"]] == ["SUCCEEDED", "SUCCEEDED"]
    for imei, sim in ((IMEI_1, sim1), (IMEI_2, sim2)):
        r = execution(harness, "crashmulti", imei)
        assert r["state"] == "SUCCEEDED", f"{r['reason']}; {states(r)}"
        assert r["revision_after"] == TARGET_VERSION
        assert sim.qfotadl_count() == 1, sim.rx_lines()
        assert second.grep(rf"Job crashmulti@{imei}: \S+ -> SUCCEEDED")
    assert not second.grep(r"--> AT\+QFOTADL"), "the restarted daemon sent AT+QFOTADL"
    assert second.stop() == 0
