# SPDX-License-Identifier: MIT
"""What the daemon finds in its state directory (issue 9 items 10 and 12): a damaged record of a
running job, a huge file among the records, tens of thousands of ended records."""

import datetime
import json
import os
import subprocess

from conftest import assert_peak_rss_below, SOURCE_VERSION, TARGET_VERSION, TEST_TIMEOUTS, make_job, scaled, states, wait_until
from mqtt_fixtures import CONNECTED_RE, DEVICE_ID, mqtt_config, parse_json
from mqtt_fixtures import mqtt_fixture  # noqa: F401  (the "mqtt" fixture)

P = f"dfotad/{DEVICE_ID}"
SLOW = 8


def publish(broker, job_id, doc):
    r = subprocess.run(["mosquitto_pub", *broker.cli_args("plain"), "-r", "-q", "1", "-t", f"{P}/jobs/{job_id}",
                        "-m", json.dumps(doc)], capture_output=True, text=True, timeout=scaled(10),
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr


def test_damaged_record_of_a_running_job(harness, mqtt):
    """Item 10: the record of a job in the middle of its update is damaged while dfotad is down. It
    is moved aside, the job ends FAILED ("record damaged") on its control plane, and the module,
    still updating, takes no new job until it answers normally outside an update."""
    broker = mqtt.broker()
    sub = mqtt.cli_sub(broker, f"{P}/status/#")
    sim = harness.start_sim("ec25-http-success", time_scale=SLOW)
    cfg = harness.config(mqtt=mqtt_config(broker),
                         timeouts={k: v * SLOW for k, v in TEST_TIMEOUTS.items() if k != "at_command"})
    first = harness.start_daemon(cfg)
    first.wait_log(CONNECTED_RE, scaled(10))
    publish(broker, "hurt", make_job("hurt"))
    harness.wait_log(r"Job hurt: \S+ -> UPDATING", timeout=60)
    first.kill()

    path = harness.record_path("hurt")
    text = path.read_text()
    path.write_text(text[: len(text) // 2])

    second = harness.start_daemon(cfg)
    second.wait_log(CONNECTED_RE, scaled(10))
    r = harness.wait_record(
        "hurt", lambda r: r["state"] == "FAILED", 10, "the stand-in record FAILED")
    assert r["reason"].startswith("record damaged ("), r["reason"]
    assert "moved aside to " + str(path) + ".damaged" in r["reason"], r["reason"]
    assert r["module_hold"] is True
    assert r["control_plane"] == "mqtt"
    assert (harness.jobs_dir / "hurt.json.damaged").read_text() == text[: len(text) // 2]
    sub.wait(lambda ms: any('"FAILED"' in p for t, p in ms if t == f"{P}/status/hurt"), 15, "status FAILED")
    status = parse_json(sub.on(f"{P}/status/hurt")[-1])
    assert status["state"] == "FAILED" and status["reason"] == r["reason"], status

    # A new job for the module waits: the module is still rewriting itself.
    publish(broker, "next", make_job("next", source_version=None))
    harness.wait_record("next", lambda r: r["state"] == "QUEUED", 10, "job next QUEUED")
    sim.wait_event(lambda ev: ev["event"] == "scenario_end", scaled(60), "the module's update to end")
    second.wait_log(r"The module answers normally and sent no DFOTA URC for \S+ s: it takes jobs again", scaled(60))
    n = harness.wait_record_terminal("next", timeout=60)
    # It ran only after the update: it found the module on the new revision, and sent nothing.
    assert n["state"] == "SUCCEEDED" and n["revision_before"] == TARGET_VERSION, (n["reason"], states(n))
    assert sim.qfotadl_count() == 1
    released = harness.read_record("hurt")
    assert released["module_hold"] is False
    assert "takes jobs again" in released["history"][-1]["detail"]


def test_huge_file_among_the_records(harness):
    """Item 12: a 200 MB file in jobs/ is never read; it is moved aside as a damaged record."""
    sim = harness.start_sim("ec25-http-success")
    harness.jobs_dir.mkdir(parents=True)
    huge = harness.jobs_dir / "huge.json"
    with open(huge, "wb") as f:
        f.truncate(200 * 1024 * 1024)
    d = harness.start_daemon()

    r = harness.wait_record("huge", lambda r: r["state"] == "FAILED", 10, "the stand-in record")
    assert "larger than 1048576 bytes" in r["reason"], r["reason"]
    assert (harness.jobs_dir / "huge.json.damaged").stat().st_size == 200 * 1024 * 1024
    assert_peak_rss_below(d.pid, 64 * 1024)


def test_thirty_thousand_ended_records(harness):
    """Item 12: 30,000 ended records are not all held in memory, and they are pruned to
    records.max_count (the newest kept); a pruned id stays taken."""
    harness.jobs_dir.mkdir(parents=True)
    template = {
        "job": None, "state": "SUCCEEDED", "progress": 100, "attempt": 1, "watchdog_resets": 0,
        "module_error": None, "revision_before": SOURCE_VERSION, "revision_after": TARGET_VERSION,
        "reason": None, "modem": {"port": "/dev/ttyUSB2", "imei": "861234567890123", "model": "EC25",
                                  "family": "ec2x"},
        "control_plane": "local", "qfotadl_sent": True, "qfotadl_sent_at": "2026-11-01T10:00:00.000Z",
        "phase": "verifying", "last_end": 0, "module_hold": False, "attempts": [], "attempts_omitted": 0,
        "created_at": "2026-11-01T10:00:00.000Z",
        "history": [{"time": "2026-11-01T10:00:00.000Z", "state": "QUEUED", "detail": "created"}] * 8,
        "history_omitted": 0, "execution": None, "executions": None,
    }
    n = 30000
    now = datetime.datetime.now(datetime.timezone.utc)
    for i in range(n):
        job_id = f"old-{i:05d}"
        # One second apart, the newest a minute ago: well within records.max_age_days.
        t = now - datetime.timedelta(seconds=60 + n - i)
        rec = dict(template, id=job_id, job=make_job(job_id),
                   updated_at=t.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
        (harness.jobs_dir / f"{job_id}.json").write_text(json.dumps(rec))
    # The module comes after the start: the simulator gives up on a port nobody opens within 30 s,
    # and reading 30,000 records takes longer than that under the sanitizers.
    d = harness.start_daemon(harness.config(modems=[{"port": str(harness.tmp / "ttyEC25"), "family": "ec2x"}]),
                             ready=False)
    harness.wait_ready(d, timeout=60)
    harness.start_sim("ec25-http-success")
    harness.wait_log(r"Port probing -> ready", timeout=scaled(20))

    files = [p.name for p in harness.jobs_dir.iterdir()]
    records = sorted(f for f in files if f.endswith(".json"))
    assert len(records) == 1000, len(records)
    assert records[0] == f"old-{n - 1000:05d}.json" and records[-1] == f"old-{n - 1:05d}.json"
    assert sum(1 for f in files if f.endswith(".pruned")) == n - 1000
    assert_peak_rss_below(d.pid, 48 * 1024)
    assert d.grep(r"Pruned 29000 ended job record\(s\)")

    # A pruned id is still taken: the same order again is not run again.
    harness.submit_job(make_job("old-00000"))
    d.wait_log(r"Job old-00000: a job with this id exists already; the new document is ignored", scaled(10))
    assert not harness.record_path("old-00000").exists()
