# SPDX-License-Identifier: MIT
"""The MQTT control plane, dialect "aws-iot-jobs" (issue 5): dfotad against a real mosquitto and
the fake AWS IoT Jobs service (fake_aws_jobs.py), with the simulator as the module."""

import json
import re

import pytest

from conftest import (SCENARIOS, SOURCE_VERSION, TARGET_VERSION, TEST_TIMEOUTS, is_subsequence,
                      make_job, scaled, states, wait_until)
from mqtt_fixtures import (CONNECTED_RE, THING, mqtt_config, progress_buckets_ok,
                           reported_matches_history)
from mqtt_fixtures import mqtt_fixture  # noqa: F401  (the "mqtt" fixture)

IMEI = "861234567890123"
IN_PROGRESS_STATES = ("QUEUED", "PREFLIGHT", "DOWNLOADING", "DOWNLOADED", "UPDATING", "VERIFYING",
                      "WAITING_FOR_MODEM")
SUCCESS_PATH = ["PREFLIGHT", "DOWNLOADING", "UPDATING", "VERIFYING", "SUCCEEDED"]
DETAIL_KEYS = {"state", "progress", "attempt", "module_error", "module_error_kind",
               "module_error_meaning", "revision_before", "revision_after", "imei", "model",
               "reason", "attempts"}
# As in test_crash.py: stretched so that a kill or a cancel lands inside a phase.
SLOW = 12


def slow_timeouts():
    return {k: v * SLOW for k, v in TEST_TIMEOUTS.items() if k != "at_command"}


def start_aws_daemon(harness, broker, mqtt_overrides=None, **config):
    cfg = harness.config(mqtt=mqtt_config(broker, dialect="aws-iot-jobs", **(mqtt_overrides or {})),
                         **config)
    d = harness.start_daemon(cfg)
    d.wait_log(CONNECTED_RE, 10, since=0)
    return d


def wait_start_next(svc, count=1, timeout=10):
    """Waits until `count` start-next requests were answered."""
    return svc.wait(lambda: len([r for r in svc.of("start-next") if r.reply is not None]) >= count,
                    timeout, f"{count} answered start-next request(s)")


def details(u):
    return (u.payload or {}).get("statusDetails") or {}


def check_updates(svc, job_id, terminal, one_terminal_request=True):
    """What every update of the job must look like (spec "Updates go to ..."); returns the
    accepted ones."""
    ups = svc.updates(job_id)
    assert ups, f"no update for {job_id}"
    for u in ups:
        p = u.payload
        assert p is not None, u
        assert u.topic == f"$aws/things/{THING}/jobs/{job_id}/update"
        assert p.get("executionNumber") == 1, p
        assert p.get("includeJobExecutionState") is True, p
        assert isinstance(p.get("expectedVersion"), int), p
        assert isinstance(p.get("clientToken"), str) and p["clientToken"], p
        d = details(u)
        assert set(d) <= DETAIL_KEYS, set(d) - DETAIL_KEYS
        assert all(isinstance(v, str) and v for v in d.values()), d
        if p["status"] == "IN_PROGRESS":
            assert d.get("state") in IN_PROGRESS_STATES, d
            assert p.get("stepTimeoutInMinutes") == 1, p
        else:
            assert p["status"] in ("SUCCEEDED", "FAILED", "REJECTED"), p
            assert d.get("state") == p["status"], (p["status"], d)
            assert "stepTimeoutInMinutes" not in p, p
    accepted = [u for u in ups if u.accepted]
    terminal_updates = [u for u in ups if u.payload["status"] != "IN_PROGRESS"]
    if one_terminal_request:
        assert [u.payload["status"] for u in terminal_updates] == [terminal], \
            f"not exactly one {terminal} update: {terminal_updates!r}"
    assert [u.payload["status"] for u in terminal_updates if u.accepted] == [terminal], \
        f"not exactly one accepted {terminal} update: {terminal_updates!r}"
    assert accepted and accepted[-1].payload["status"] == terminal, accepted[-1:]
    return accepted


def check_versions(svc, job_id, accepted):
    """expectedVersion starts at the versionNumber start-next gave and follows each accepted
    reply's executionState.versionNumber."""
    started = [r for r in svc.of("start-next")
               if r.accepted and (r.reply.get("execution") or {}).get("jobId") == job_id]
    assert started, f"{job_id} never came through start-next/accepted"
    version = started[0].reply["execution"]["versionNumber"]
    for u in accepted:
        assert u.payload["expectedVersion"] == version == u.version_at_receipt, \
            (u, version, u.version_at_receipt)
        version = u.reply["executionState"]["versionNumber"]


def check_tokens(svc):
    """A fresh clientToken per request. A byte-identical copy of a request is one MQTT message
    delivered twice (QoS 1: a broker restarted from its saved state re-sends what was in flight),
    not a second attempt."""
    seen, reqs = set(), []
    for r in svc.requests:
        if r.api != "other" and (r.topic, r.raw) not in seen:
            seen.add((r.topic, r.raw))
            reqs.append(r)
    tokens = [r.token for r in reqs]
    assert all(isinstance(t, str) and t for t in tokens), tokens
    dup = {t for t in tokens if tokens.count(t) > 1}
    assert not dup, f"clientToken used twice: {dup}"


def reported_states(accepted):
    return [details(u).get("state") for u in accepted]


def check_progress(accepted):
    """Progress is reported in steps of 10 % at most as often (a re-sent identical update, the
    heartbeat, is not a step)."""
    entries, last = [], None
    for u in accepted:
        key = (u.payload["status"], tuple(sorted(details(u).items())))
        if key == last:
            continue
        last = key
        d = details(u)
        entries.append((d.get("state"), int(d["progress"]) if "progress" in d else None))
    ok, bad = progress_buckets_ok(entries)
    assert ok, f"more than one progress update per 10 % step: {bad}; {entries}"
    updating = {p for s, p in entries if s == "UPDATING" and p is not None}
    assert len(updating) >= 3, f"progress of the update phase hardly reported: {entries}"
    return entries


# ------------------------------------------------------------------------------------------------


def test_job_from_notify_next_to_succeeded(harness, mqtt):
    broker = mqtt.broker()
    svc = mqtt.service(broker)
    # Stretched a little, so that the update phase lasts long enough for several progress steps
    # to be reported (dfotad may fold the steps that come while an update is in flight).
    sim = harness.start_sim("ec25-http-success", time_scale=4)
    start_aws_daemon(harness, broker,
                     timeouts={k: v * 4 for k, v in TEST_TIMEOUTS.items() if k != "at_command"})
    wait_start_next(svc)
    first = svc.of("start-next")[0]
    assert first.accepted and "execution" not in first.reply
    assert first.payload.get("stepTimeoutInMinutes") == 1, first.payload

    # The document carries no id: the AWS jobId is the job's id.
    svc.create_job("job-aws-1", make_job("job-aws-1", id=None))
    rec = harness.wait_record_terminal("job-aws-1", timeout=60)
    svc.wait_status("job-aws-1", "SUCCEEDED", timeout=15)

    assert rec["state"] == "SUCCEEDED", (rec["reason"], states(rec))
    assert rec["revision_after"] == TARGET_VERSION
    assert sim.qfotadl_count() == 1, sim.rx_lines()
    svc.check()
    # The notify-next for the new job led to a start-next that took it.
    assert len(svc.of("start-next")) >= 2
    accepted = check_updates(svc, "job-aws-1", "SUCCEEDED")
    assert all(u.accepted for u in svc.updates("job-aws-1")), svc.updates("job-aws-1")
    check_versions(svc, "job-aws-1", accepted)
    check_tokens(svc)

    got = reported_states(accepted)
    ok, got_c, expected = reported_matches_history(got, rec)
    assert ok, f"reported {got_c}, the record went {expected}"
    assert is_subsequence(SUCCESS_PATH, got_c), got_c
    assert got_c[0] in ("QUEUED", "PREFLIGHT"), got_c
    check_progress(accepted)

    final = details(accepted[-1])
    assert final["revision_after"] == TARGET_VERSION, final
    assert final["revision_before"] == SOURCE_VERSION, final
    assert final.get("imei") == IMEI and final.get("model") == "EC25", final
    assert "reason" not in final and "module_error" not in final, final
    ex = svc.execution("job-aws-1")
    assert ex["statusDetails"] == final
    # The service's view: started by start-next, then only the device's updates.
    trans = [(t[3], t[4], t[6]) for t in svc.device_transitions("job-aws-1")]
    assert trans[:2] == [(None, "QUEUED", "service"), ("QUEUED", "IN_PROGRESS", "start-next")]
    assert trans[-1] == ("IN_PROGRESS", "SUCCEEDED", "update")


@pytest.mark.parametrize("as_string", [False, True], ids=["document-object", "document-string"])
def test_invalid_document_is_rejected_naming_the_field(harness, mqtt, as_string):
    """jobDocument arrives as an embedded object (MQTT examples) or as a JSON string (the HTTP
    model): both are parsed, and the field at fault is named."""
    broker = mqtt.broker()
    svc = mqtt.service(broker, document_as_string=as_string)
    sim = harness.start_sim("ec25-http-success")
    start_aws_daemon(harness, broker)
    wait_start_next(svc)

    svc.create_job("job-bad", make_job("job-bad", target_version=None))
    rec = harness.wait_record_terminal("job-bad", timeout=15)
    svc.wait_status("job-bad", "REJECTED", timeout=15)

    assert rec["state"] == "REJECTED"
    assert rec["reason"].startswith("target_version"), rec["reason"]
    accepted = check_updates(svc, "job-bad", "REJECTED")
    reason = details(accepted[-1]).get("reason", "")
    assert reason.startswith("target_version"), details(accepted[-1])
    assert svc.execution("job-bad")["status"] == "REJECTED"
    assert sim.qfotadl_count() == 0, sim.rx_lines()
    assert not [line for line in sim.rx_lines() if "QFOTADL" in line.upper()]
    svc.check()
    check_tokens(svc)


def test_cancel_before_qfotadl_cancels_locally(harness, mqtt):
    """The job waits for a module that is not there yet; the service cancels it; the module that
    then appears is never sent AT+QFOTADL for it."""
    broker = mqtt.broker()
    svc = mqtt.service(broker)
    port = harness.tmp / "ttyEC25"
    start_aws_daemon(harness, broker, modems=[{"port": str(port), "family": "ec2x"}])
    wait_start_next(svc)

    svc.create_job("job-cancel", make_job("job-cancel"))
    svc.wait_status("job-cancel", "IN_PROGRESS", timeout=10)
    harness.wait_record("job-cancel", lambda r: True, 10, "the record of the job")
    harness.wait_log(r"Job job-cancel: waiting until the modems are identified", timeout=10)
    svc.cancel_job("job-cancel")
    cancel_at = [t[0] for t in svc.device_transitions("job-cancel") if t[4] == "CANCELED"][0]

    rec = harness.wait_record_terminal("job-cancel", timeout=15)
    assert rec["state"] == "CANCELED", states(rec)
    assert rec["qfotadl_sent"] is False

    # Now the module appears; the canceled job must not run on it.
    sim = harness.start_sim("ec25-http-success")
    harness.wait_log(r"Module EC25, revision", timeout=15)
    assert sim.qfotadl_count() == 0, sim.rx_lines()
    # A barrier that also shows the module was usable: a second job runs on it.
    svc.create_job("job-next", make_job("job-next"))
    nxt = harness.wait_record_terminal("job-next", timeout=40)
    svc.wait_status("job-next", "SUCCEEDED", timeout=15)

    assert nxt["state"] == "SUCCEEDED"
    assert sim.qfotadl_count() == 1, sim.rx_lines()
    assert harness.read_record("job-cancel")["history"] == rec["history"]
    assert svc.execution("job-cancel")["status"] == "CANCELED"
    late = [u for u in svc.updates("job-cancel") if u.time > cancel_at]
    assert not [u for u in late if u.accepted], late
    assert len(late) <= 1 and all(u.code == "TerminalStateReached" for u in late), late
    svc.check()
    check_tokens(svc)


def test_cancel_during_preflight_stops_the_running_execution(harness, mqtt):
    """The engine itself is canceled: the module sits on AT+CSQ (no final result code) while the
    service cancels the job. The command in flight is abandoned, nothing more is sent for the job,
    and the module is identified again afterwards."""
    scenario = json.loads((SCENARIOS / "ec25-http-success.json").read_text())
    scenario.setdefault("module", {})["responses"] = {"AT+CSQ": ["+CSQ: 20,99"]}
    path = harness.tmp / "ec25-csq-hangs.json"
    path.write_text(json.dumps(scenario))

    broker = mqtt.broker()
    svc = mqtt.service(broker)
    sim = harness.start_sim(str(path))
    start_aws_daemon(harness, broker, timeouts={"at_command": 4})
    wait_start_next(svc)

    svc.create_job("job-pf", make_job("job-pf"))
    sim.wait_event(lambda ev: ev["event"] == "rx" and ev["line"].upper() == "AT+CSQ", 15,
                   "AT+CSQ at the module")
    assert harness.read_record("job-pf")["state"] == "PREFLIGHT"
    svc.cancel_job("job-pf")
    cancel_at = [t[0] for t in svc.device_transitions("job-pf") if t[4] == "CANCELED"][0]

    mark = harness.daemon.mark()
    rec = harness.wait_record_terminal("job-pf", timeout=15)
    assert rec["state"] == "CANCELED", states(rec)
    assert rec["qfotadl_sent"] is False
    assert rec["reason"].startswith("canceled by the control plane"), rec["reason"]
    harness.wait_log(r"Job job-pf: the control plane ended the job \(.*\) before AT\+QFOTADL was "
                     r"sent; canceled here", timeout=5)
    # Back to an idle module: once the abandoned AT+CSQ timed out, the module is identified again.
    wait_until(lambda: len([e for e in sim.events()
                            if e["event"] == "rx" and e["line"].upper() == "AT+GSN"]) >= 2,
               scaled(15), "the module identified again after the cancel", paths=[sim.log_path])
    harness.wait_log(r"Port probing -> ready", timeout=5, since=mark)
    assert sim.qfotadl_count() == 0, sim.rx_lines()
    assert not [line for line in sim.rx_lines() if "QFOTADL" in line.upper()]
    assert harness.daemon.running()

    assert svc.execution("job-pf")["status"] == "CANCELED"
    late = [u for u in svc.updates("job-pf") if u.time > cancel_at]
    assert not [u for u in late if u.accepted], late
    svc.check()


def test_cancel_after_qfotadl_module_finishes_result_not_reported(harness, mqtt):
    broker = mqtt.broker()
    svc = mqtt.service(broker)
    sim = harness.start_sim("ec25-http-success", time_scale=SLOW)
    start_aws_daemon(harness, broker, timeouts=slow_timeouts())
    wait_start_next(svc)

    svc.create_job("job-late", make_job("job-late"))
    sim.wait_event(lambda ev: ev["event"] == "rx" and ev["line"].upper().startswith("AT+QFOTADL"),
                   20, "AT+QFOTADL at the module")
    svc.cancel_job("job-late")
    cancel_at = [t[0] for t in svc.device_transitions("job-late") if t[4] == "CANCELED"][0]

    m = harness.wait_log(r"Job job-late: .*cannot be reported", timeout=30)
    assert "control plane ended the job" in m.string, m.string
    rec = harness.wait_record_terminal("job-late", timeout=90)
    assert rec["state"] == "SUCCEEDED", (rec["reason"], states(rec))
    assert rec["revision_after"] == TARGET_VERSION
    assert sim.qfotadl_count() == 1

    # Barrier: a later job's whole conversation, so that a late update of job-late would be in.
    svc.create_job("job-barrier", make_job("job-barrier", target_version=None))
    svc.wait_status("job-barrier", "REJECTED", timeout=20)

    assert svc.execution("job-late")["status"] == "CANCELED"
    late = [u for u in svc.updates("job-late") if u.time > cancel_at]
    assert not [u for u in late if u.accepted], late
    assert len(late) <= 1 and all(u.code == "TerminalStateReached" for u in late), late
    assert not [u for u in svc.updates("job-late") if u.payload["status"] == "SUCCEEDED"]
    assert sim.qfotadl_count() == 1
    svc.check()


def test_sigkill_mid_upgrade_resumes_and_reports_everything_once(harness, mqtt):
    broker = mqtt.broker()
    svc = mqtt.service(broker)
    sim = harness.start_sim("ec25-http-success", time_scale=SLOW)
    first = start_aws_daemon(harness, broker, timeouts=slow_timeouts())
    wait_start_next(svc)

    svc.create_job("job-crash", make_job("job-crash"))
    harness.wait_log(r"Job job-crash: \S+ -> UPDATING\b", timeout=60)
    sim.wait_event(lambda ev: ev["event"] == "rx" and ev["line"].upper().startswith("AT+QFOTADL"),
                   10, "AT+QFOTADL at the module")
    first.kill()
    at_kill = harness.read_record("job-crash")
    assert at_kill["state"] not in ("SUCCEEDED", "FAILED", "REJECTED", "CANCELED")
    n_start_next = len(svc.of("start-next"))

    second = start_aws_daemon(harness, broker, timeouts=slow_timeouts())
    rec = harness.wait_record_terminal("job-crash", timeout=90)
    svc.wait_status("job-crash", "SUCCEEDED", timeout=20)

    assert first.proc.returncode == -9
    assert rec["state"] == "SUCCEEDED", (rec["reason"], states(rec))
    assert sim.qfotadl_count() == 1, sim.rx_lines()
    assert second.grep(r"Job job-crash: \S+ -> SUCCEEDED")
    # The restarted daemon asked start-next again and got the IN_PROGRESS job back: a duplicate
    # that starts nothing new.
    again = svc.of("start-next")[n_start_next:]
    assert again and again[0].reply["execution"]["jobId"] == "job-crash", again
    accepted = check_updates(svc, "job-crash", "SUCCEEDED")
    terminal = [u for u in svc.updates("job-crash") if u.payload["status"] != "IN_PROGRESS"]
    assert len(terminal) == 1 and terminal[0].accepted, terminal
    got = reported_states(accepted)
    ok, got_c, expected = reported_matches_history(got, rec)
    assert ok, f"reported {got_c}, the record went {expected}"
    assert is_subsequence(SUCCESS_PATH, got_c), got_c
    assert details(accepted[-1])["revision_after"] == TARGET_VERSION
    svc.check()
    check_tokens(svc)


@pytest.mark.parametrize("code", ["RequestThrottled", "InternalError"])
def test_throttled_update_is_retried(harness, mqtt, code):
    broker = mqtt.broker()
    svc = mqtt.service(broker)
    sim = harness.start_sim("ec25-http-success")
    start_aws_daemon(harness, broker)
    wait_start_next(svc)

    svc.inject(code, 2)
    svc.create_job("job-thr", make_job("job-thr"))
    rec = harness.wait_record_terminal("job-thr", timeout=40)
    svc.wait_status("job-thr", "SUCCEEDED", timeout=20)

    ups = svc.updates("job-thr")
    rejected = [u for u in ups if not u.accepted]
    assert [u.code for u in rejected] == [code, code], ups
    # The same update again, each time with a fresh clientToken.
    first3 = ups[:3]
    assert [u.accepted for u in first3] == [False, False, True], first3
    assert len({(u.payload["status"], tuple(sorted(details(u).items()))) for u in first3}) == 1, \
        first3
    assert len({u.token for u in first3}) == 3
    assert rec["state"] == "SUCCEEDED"
    accepted = check_updates(svc, "job-thr", "SUCCEEDED")
    check_versions(svc, "job-thr", accepted)
    ok, got_c, expected = reported_matches_history(reported_states(accepted), rec)
    assert ok, f"reported {got_c}, the record went {expected}"
    assert sim.qfotadl_count() == 1
    svc.check()
    check_tokens(svc)


def test_duplicate_notifications_start_nothing_new(harness, mqtt):
    broker = mqtt.broker()
    svc = mqtt.service(broker)
    sim = harness.start_sim("ec25-http-success", time_scale=SLOW)
    start_aws_daemon(harness, broker, timeouts=slow_timeouts())
    wait_start_next(svc)

    svc.create_job("job-dup", make_job("job-dup"))
    sim.wait_event(lambda ev: ev["event"] == "rx" and ev["line"].upper().startswith("AT+QFOTADL"),
                   20, "AT+QFOTADL at the module")
    # While it runs: the same jobId + executionNumber announced again.
    svc.publish_notify_next("job-dup")
    rec = harness.wait_record_terminal("job-dup", timeout=90)
    svc.wait_status("job-dup", "SUCCEEDED", timeout=20)
    assert rec["state"] == "SUCCEEDED"
    assert sim.qfotadl_count() == 1

    # After the end: a stale notify-next, then a restart whose start-next gets the old execution.
    svc.publish_notify_next("job-dup", status="IN_PROGRESS", version=2)
    assert harness.daemon.stop() == 0
    svc.stale_start_next("job-dup")
    n = len(svc.of("start-next"))
    start_aws_daemon(harness, broker, timeouts=slow_timeouts())
    wait_start_next(svc, count=n + 1, timeout=15)
    assert svc.of("start-next")[n].reply["execution"]["jobId"] == "job-dup"
    n_updates = len(svc.updates("job-dup"))
    # Barrier: another job's whole conversation comes after the duplicates.
    svc.create_job("job-barrier", make_job("job-barrier", target_version=None))
    svc.wait_status("job-barrier", "REJECTED", timeout=20)

    assert sim.qfotadl_count() == 1, sim.rx_lines()
    assert harness.read_record("job-dup")["history"] == rec["history"]
    assert len(svc.updates("job-dup")) == n_updates
    assert svc.execution("job-dup")["status"] == "SUCCEEDED"
    assert not harness.daemon.grep(r"Job job-dup: \S+ -> (QUEUED|PREFLIGHT)")
    svc.check()
    check_tokens(svc)


def test_broker_killed_mid_upgrade_the_service_gets_every_status(harness, mqtt):
    broker = mqtt.broker(persistence=True)
    svc = mqtt.service(broker)
    sim = harness.start_sim("ec25-http-success", time_scale=SLOW)
    d = start_aws_daemon(harness, broker, timeouts=slow_timeouts())
    wait_start_next(svc)

    svc.create_job("job-bk", make_job("job-bk"))
    harness.wait_log(r"Job job-bk: \S+ -> UPDATING\b", timeout=60)
    broker.save()           # the service's session (its subscription) survives the kill
    broker.kill()
    assert harness.read_record("job-bk")["state"] not in ("SUCCEEDED", "FAILED")
    broker.start()
    rec = harness.wait_record_terminal("job-bk", timeout=90)
    svc.wait_status("job-bk", "SUCCEEDED", timeout=30)

    assert rec["state"] == "SUCCEEDED", (rec["reason"], states(rec))
    assert sim.qfotadl_count() == 1
    assert len(d.grep(CONNECTED_RE)) >= 2, "dfotad did not reconnect"
    # A request lost with the broker is re-sent (fresh clientToken); one that arrived twice is
    # refused by version: in the end the accepted updates are the record's history, in order.
    accepted = check_updates(svc, "job-bk", "SUCCEEDED", one_terminal_request=False)
    ok, got_c, expected = reported_matches_history(reported_states(accepted), rec)
    assert ok, f"reported {got_c}, the record went {expected}"
    assert details(accepted[-1])["revision_after"] == TARGET_VERSION
    svc.check()
    check_tokens(svc)


def test_heartbeat_resends_the_last_update_while_the_module_is_silent(harness, mqtt):
    """var-silent-download: 2 s without a word between HTTPSTART and HTTPEND; with heartbeat 0.5
    the last IN_PROGRESS update goes out again (renewing the step timer) about every 0.5 s."""
    broker = mqtt.broker()
    svc = mqtt.service(broker)
    sim = harness.start_sim("var-silent-download")
    start_aws_daemon(harness, broker)
    wait_start_next(svc)

    svc.create_job("job-hb", make_job("job-hb"))
    rec = harness.wait_record_terminal("job-hb", timeout=40)
    svc.wait_status("job-hb", "SUCCEEDED", timeout=15)
    assert rec["state"] == "SUCCEEDED"
    assert sim.qfotadl_count() == 1

    accepted = check_updates(svc, "job-hb", "SUCCEEDED")
    check_versions(svc, "job-hb", accepted)
    downloading = [u for u in accepted if details(u).get("state") == "DOWNLOADING"]
    assert len(downloading) >= 3, f"no heartbeat during the silent download: {downloading}"
    # The same update again: same status and details, a fresh token, the step timer renewed.
    assert len({tuple(sorted(details(u).items())) for u in downloading}) <= 2, downloading
    assert all(u.payload.get("stepTimeoutInMinutes") == 1 for u in downloading)
    gaps = [b.time - a.time for a, b in zip(downloading, downloading[1:])]
    assert all(g >= 0.4 for g in gaps[1:]), f"heartbeats closer than 0.5 s: {gaps}"
    assert all(g <= 1.5 for g in gaps[1:]), f"heartbeats far apart: {gaps}"
    ok, got_c, expected = reported_matches_history(reported_states(accepted), rec)
    assert ok, f"reported {got_c}, the record went {expected}"
    svc.check()
    check_tokens(svc)


def test_availability_in_aws_dialect(harness, mqtt):
    broker = mqtt.broker()
    svc = mqtt.service(broker)
    watcher = mqtt.client(broker, "availability-watcher", ["dfotad/dev1/availability"])
    d = start_aws_daemon(harness, broker)
    wait_start_next(svc)
    watcher.wait(lambda: [m for m in watcher.messages if m.payload == b"online"], 10, "online")
    assert d.stop() == 0
    watcher.wait(lambda: watcher.messages[-1].payload == b"offline", 10, "offline")
    assert re.search(r"MQTT: connected to 127\.0\.0\.1:\d+", "\n".join(d.grep(CONNECTED_RE)))


def test_success_after_a_failed_attempt_reports_each_attempt(harness, mqtt):
    """Issue 9 item 7: a job that succeeds after a failed attempt reports no module error, and its
    statusDetails say how each attempt ended."""
    broker = mqtt.broker()
    svc = mqtt.service(broker)
    harness.start_sim("ec25-end-505-retry")
    start_aws_daemon(harness, broker)
    wait_start_next(svc)

    svc.create_job("job-retry", make_job("job-retry", id=None))
    rec = harness.wait_record_terminal("job-retry", timeout=60)
    svc.wait_status("job-retry", "SUCCEEDED", timeout=15)

    assert rec["state"] == "SUCCEEDED" and rec["module_error"] is None, (rec["reason"], states(rec))
    final = details(check_updates(svc, "job-retry", "SUCCEEDED")[-1])
    assert "module_error" not in final, final
    assert final["attempt"] == "2", final
    assert re.fullmatch(r"1: END,505 \(Upgrade package file check failed[^)]*\); 2: END,0", final["attempts"]), final
