# SPDX-License-Identifier: MIT
"""The MQTT control plane, dialect "plain" (issue 5): dfotad against a real mosquitto, driven
with the mosquitto CLI or a paho client, the simulator as the module; connection failures and
their backoff; the broker killed in the middle of an upgrade."""

import json
import re
import subprocess

import pytest

from conftest import (SOURCE_VERSION, TARGET_VERSION, TEST_TIMEOUTS, is_subsequence, make_job,
                      scaled, states)
from mqtt_broker import make_ca
from mqtt_fixtures import (CONNECTED_RE, DEVICE_ID, RETRY_RE, dedupe,
                           mqtt_config, parse_json, progress_buckets_ok, reported_matches_history,
                           wait_log_lines, write_password)
from mqtt_fixtures import mqtt_fixture  # noqa: F401  (the "mqtt" fixture)

IMEI = "861234567890123"
P = f"dfotad/{DEVICE_ID}"
STATUS_KEYS = {"job_id", "state", "progress", "attempt", "module_error", "revision_before",
               "revision_after", "reason", "modem", "executions", "updated_at"}
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SUCCESS_PATH = ["PREFLIGHT", "DOWNLOADING", "UPDATING", "VERIFYING", "SUCCEEDED"]
SLOW = 12


def slow_timeouts():
    return {k: v * SLOW for k, v in TEST_TIMEOUTS.items() if k != "at_command"}


def cli(tool, broker, kind, *args, timeout=10):
    r = subprocess.run([tool, *broker.cli_args(kind), *args], capture_output=True, text=True,
                       timeout=scaled(timeout), stdin=subprocess.DEVNULL)
    return r


def publish_job(harness, broker, job_id, doc, kind="plain", topic_id=None):
    """As an operator does: mosquitto_pub -r -q 1 -t P/D/jobs/<id> -f job.json"""
    path = harness.tmp / f"{job_id}.job.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    r = cli("mosquitto_pub", broker, kind, "-r", "-q", "1", "-t",
            f"{P}/jobs/{topic_id or job_id}", "-f", str(path))
    assert r.returncode == 0, r.stderr


def check_status_sequence(payloads, record, terminal="SUCCEEDED"):
    """The status messages of one job (in arrival order, repeats allowed): complete, in order,
    well-formed. Returns the parsed, de-duplicated list."""
    msgs = [parse_json(p) for p in dedupe(payloads)]
    assert msgs, "no status message"
    for m in msgs:
        # The spec's keys; more are tolerated (dfotad adds e.g. target_version, qfotadl_sent).
        assert STATUS_KEYS <= set(m), STATUS_KEYS - set(m)
        assert set(m["modem"]) >= {"imei", "model", "port"}, m["modem"]
        assert m["job_id"] == record["id"], m
        assert ISO_MS.match(m["updated_at"] or ""), m
        assert isinstance(m["progress"], int) and 0 <= m["progress"] <= 100, m
    times = [m["updated_at"] for m in msgs]
    assert times == sorted(times), f"status messages out of order: {times}"
    got = [m["state"] for m in msgs]
    ok, got_c, expected = reported_matches_history(got, record)
    assert ok, f"subscriber saw {got_c}, the record went {expected}"
    assert got_c[-1] == terminal
    assert [m for m in msgs if m["state"] == terminal] == [msgs[-1]], "terminal status twice"
    ok, bad = progress_buckets_ok([(m["state"], m["progress"]) for m in msgs])
    assert ok, f"more than one progress message per 10 % step: {bad}"
    return msgs


def start_plain_daemon(harness, broker, kind="plain", **mqtt_kw):
    cfg = harness.config(mqtt=mqtt_config(broker, kind=kind, **mqtt_kw))
    d = harness.start_daemon(cfg)
    d.wait_log(CONNECTED_RE, scaled(10))
    return d


# ------------------------------------------------------------------------------------------------


def test_end_to_end_with_the_mosquitto_cli(harness, mqtt):
    broker = mqtt.broker()
    sub = mqtt.cli_sub(broker, f"{P}/#")
    sim = harness.start_sim("ec25-http-success")
    d = start_plain_daemon(harness, broker)
    sub.wait(lambda ms: (f"{P}/availability", "online") in ms, 10, "availability online")
    sub.wait(lambda ms: any(IMEI in p for t, p in ms if t == f"{P}/inventory"), 15,
             "an inventory with the identified module")

    publish_job(harness, broker, "job-cli", make_job("job-cli"))
    rec = harness.wait_record_terminal("job-cli", timeout=40)
    sub.wait(lambda ms: any('"SUCCEEDED"' in p for t, p in ms if t == f"{P}/status/job-cli"), 10,
             "status SUCCEEDED")

    assert rec["state"] == "SUCCEEDED", (rec["reason"], states(rec))
    assert sim.qfotadl_count() == 1, sim.rx_lines()
    msgs = check_status_sequence(sub.on(f"{P}/status/job-cli"), rec)
    got = [m["state"] for m in msgs]
    assert is_subsequence(SUCCESS_PATH, got), got
    final = msgs[-1]
    assert final["revision_before"] == SOURCE_VERSION
    assert final["revision_after"] == TARGET_VERSION
    assert final["reason"] is None and final["module_error"] is None
    assert final["executions"] is None
    assert final["attempt"] == 1
    assert final["modem"]["imei"] == IMEI and final["modem"]["model"] == "EC25", final["modem"]
    assert final["modem"]["port"] == sim.link
    updating = {m["progress"] for m in msgs if m["state"] == "UPDATING"}
    assert len(updating) >= 3, f"progress hardly reported: {updating}"

    # The module's end of the job and its status travel separately: wait for the idle inventory.
    def idle_at_target(ms):
        invs = [parse_json(p) for t, p in ms if t == f"{P}/inventory"]
        last = [m for m in invs[-1]["modems"] if m.get("imei") == IMEI] if invs else []
        return last and last[0]["state"] == "idle" and last[0]["revision"] == TARGET_VERSION
    sub.wait(idle_at_target, 10, "an inventory with the module idle at the target revision")
    inventories = [parse_json(p) for p in sub.on(f"{P}/inventory")]
    for inv in inventories:
        assert inv["device_id"] == DEVICE_ID and isinstance(inv["modems"], list), inv
        assert ISO_MS.match(inv.get("updated_at") or ""), inv
    mods = [m for inv in inventories for m in inv["modems"] if m.get("imei") == IMEI]
    assert mods and all(m["port"] == sim.link and m["model"] == "EC25" for m in mods), mods
    assert any(m["state"] == "busy" and m.get("job") == "job-cli" for m in mods), mods
    last = [m for m in inventories[-1]["modems"] if m.get("imei") == IMEI]
    assert last and last[0]["state"] == "idle" and last[0]["revision"] == TARGET_VERSION, last

    # Clean stop: "offline". Restart: "online", and the retained job document, delivered again,
    # is ignored silently.
    assert d.stop() == 0
    sub.wait(lambda ms: sub.on(f"{P}/availability")[-1:] == ["offline"], 10, "offline on SIGTERM")
    n_status = len(sub.on(f"{P}/status/job-cli"))
    d2 = start_plain_daemon(harness, broker)
    sub.wait(lambda ms: sub.on(f"{P}/availability") == ["online", "offline", "online"], 10,
             "online again")
    publish_job(harness, broker, "job-barrier", make_job("job-barrier", target_version=None))
    sub.wait(lambda ms: any('"REJECTED"' in p for t, p in ms if t == f"{P}/status/job-barrier"),
             15, "the barrier job's REJECTED")
    assert sim.qfotadl_count() == 1
    assert harness.read_record("job-cli")["history"] == rec["history"]
    assert len(sub.on(f"{P}/status/job-cli")) == n_status

    # SIGKILL: the broker publishes the will.
    d2.kill()
    sub.wait(lambda ms: sub.on(f"{P}/availability") == ["online", "offline", "online", "offline"],
             10, "the will 'offline' after SIGKILL")
    # Both are retained, as a late subscriber sees.
    r = cli("mosquitto_sub", broker, "plain", "-C", "1", "-W", "5", "-t", f"{P}/availability")
    assert r.stdout.strip() == "offline", r
    r = cli("mosquitto_sub", broker, "plain", "-C", "1", "-W", "5", "-t", f"{P}/status/job-cli")
    assert parse_json(r.stdout)["state"] == "SUCCEEDED", r


def test_invalid_document_and_the_topic_naming_the_job(harness, mqtt):
    broker = mqtt.broker()
    sub = mqtt.cli_sub(broker, f"{P}/status/#")
    sim = harness.start_sim("ec25-http-success")
    start_plain_daemon(harness, broker)

    publish_job(harness, broker, "job-inv", make_job("job-inv", package={"url": "tftp://x/y.zip"}))
    rec = harness.wait_record_terminal("job-inv", timeout=15)
    sub.wait(lambda ms: any('"REJECTED"' in p for t, p in ms if t == f"{P}/status/job-inv"), 10,
             "status REJECTED")
    assert rec["state"] == "REJECTED" and rec["reason"].startswith("package.url"), rec["reason"]
    msgs = check_status_sequence(sub.on(f"{P}/status/job-inv"), rec, terminal="REJECTED")
    assert msgs[-1]["reason"].startswith("package.url"), msgs[-1]

    # An empty retained payload (the operator clearing the document) is ignored.
    r = cli("mosquitto_pub", broker, "plain", "-r", "-q", "1", "-t", f"{P}/jobs/job-inv", "-n")
    assert r.returncode == 0
    # The topic names the job; the document's own id does not.
    publish_job(harness, broker, "job-topic", make_job("some-other-name", target_version=None))
    harness.wait_record_terminal("job-topic", timeout=15)
    assert not harness.record_path("some-other-name").exists()
    assert harness.daemon.grep(r"some-other-name"), "no notice about the differing id"
    assert harness.read_record("job-inv")["history"] == rec["history"]
    assert sim.qfotadl_count() == 0


def test_tls_and_password(harness, mqtt):
    broker = mqtt.broker(listeners=("tls_password",))
    pw = write_password(harness, broker.password)
    watcher = mqtt.client(broker, "tls-watcher", [f"{P}/#"], kind="tls_password")
    sim = harness.start_sim("ec25-http-success")
    d = start_plain_daemon(harness, broker, kind="tls_password", password_file=pw)
    assert d.grep(rf"MQTT: connected to 127\.0\.0\.1:{broker.port('tls_password')}\b")
    assert broker.connected_clients(DEVICE_ID)

    publish_job(harness, broker, "job-tls", make_job("job-tls"), kind="tls_password")
    rec = harness.wait_record_terminal("job-tls", timeout=40)
    watcher.wait(lambda: any(b'"SUCCEEDED"' in m.payload for m in watcher.on(f"{P}/status/job-tls")),
                 10, "status SUCCEEDED over TLS")
    assert rec["state"] == "SUCCEEDED"
    check_status_sequence([m.text() for m in watcher.on(f"{P}/status/job-tls")], rec)
    assert [m.payload for m in watcher.on(f"{P}/availability")][:1] == [b"online"]
    assert sim.qfotadl_count() == 1
    assert "s3cret" not in d.stderr(), "the password went to the log"


def test_unix_socket_broker(harness, mqtt):
    broker = mqtt.broker(listeners=("unix", "plain"))
    d = start_plain_daemon(harness, broker, kind="unix")
    r = cli("mosquitto_sub", broker, "unix", "-C", "1", "-W", "5", "-t", f"{P}/availability")
    assert r.stdout.strip() == "online", r
    assert d.stop() == 0


def test_mqtt5_job_end_to_end(harness, mqtt):
    """"protocol": "5": the same job, status and availability over MQTT 5; the broker says which
    protocol the client spoke."""
    broker = mqtt.broker()
    watcher = mqtt.client(broker, "v5-watcher", [f"{P}/#"])
    sim = harness.start_sim("ec25-http-success")
    since = broker.log_mark()
    start_plain_daemon(harness, broker, protocol="5")
    broker.wait_log(rf"New client connected from .* as {DEVICE_ID} \(p5,", 10, since)

    publish_job(harness, broker, "job-v5", make_job("job-v5"))
    rec = harness.wait_record_terminal("job-v5", timeout=40)
    watcher.wait(lambda: any(b'"SUCCEEDED"' in m.payload for m in watcher.on(f"{P}/status/job-v5")),
                 10, "status SUCCEEDED over MQTT 5")
    assert rec["state"] == "SUCCEEDED"
    check_status_sequence([m.text() for m in watcher.on(f"{P}/status/job-v5")], rec)
    assert [m.payload for m in watcher.on(f"{P}/availability")][:1] == [b"online"]
    assert sim.qfotadl_count() == 1


@pytest.mark.parametrize("failure", ["wrong-ca", "wrong-password"])
def test_connection_failure_is_logged_and_retried_with_backoff(harness, mqtt, failure):
    if failure == "wrong-ca":
        broker = mqtt.broker(listeners=("tls",))
        other_ca, _ = make_ca(harness.tmp / "other-ca", cn="Not the broker's CA")
        cfg = mqtt_config(broker, kind="tls", ca_file=other_ca)
    else:
        broker = mqtt.broker(listeners=("password",))
        cfg = mqtt_config(broker, kind="password",
                          password_file=write_password(harness, "not-the-password"))
    d = harness.start_daemon(harness.config(mqtt=cfg), ready=False)
    lines = wait_log_lines(d, RETRY_RE, 5, timeout=20)

    texts = [m.string for _, m in lines]
    delays = [float(m.group(2)) for _, m in lines]
    if failure == "wrong-ca":
        assert re.search(r"TLS|certificate", texts[0], re.I), texts[0]
        assert "failed" in texts[0], texts[0]
    else:
        assert "refused" in texts[0] and re.search(r"not authori[sz]ed", texts[0]), texts[0]
    port = cfg["port"]
    assert f"127.0.0.1:{port}" in texts[0], texts[0]
    # reconnect_min 0.1 doubling to reconnect_max 1, +-25 % jitter (and one decimal printed)
    assert 0.05 <= delays[0] <= 0.2, delays
    assert delays[2] > delays[0] and delays[3] > delays[1], f"no exponential growth: {delays}"
    assert max(delays) <= 1.3, delays
    # ... and really waited: each next attempt came about that long after the previous one.
    times = [t for t, _ in lines]
    for i in range(4):
        assert times[i + 1] - times[i] >= 0.75 * delays[i] - 0.06, (delays, times)
    assert not d.grep(CONNECTED_RE)
    assert not broker.connected_clients(DEVICE_ID), "the broker let dfotad in"
    assert d.running()


@pytest.mark.parametrize("restart", ["meanwhile", "after-the-job"])
def test_broker_killed_mid_upgrade_every_status_arrives_in_order(harness, mqtt, restart):
    broker = mqtt.broker(persistence=True)
    watcher = mqtt.client(broker, "status-watcher", [f"{P}/status/job-bk"])
    sim = harness.start_sim("ec25-http-success", time_scale=SLOW)
    cfg = harness.config(mqtt=mqtt_config(broker), timeouts=slow_timeouts())
    d = harness.start_daemon(cfg)
    d.wait_log(CONNECTED_RE, scaled(10))

    publish_job(harness, broker, "job-bk", make_job("job-bk"))
    harness.wait_log(r"Job job-bk: \S+ -> UPDATING\b", timeout=60)
    # A broker with frequent saves: sessions (the watcher's subscription) survive the kill.
    broker.save()
    broker.kill()
    killed_at = harness.read_record("job-bk")
    assert killed_at["state"] not in ("SUCCEEDED", "FAILED"), "the job ended before the kill"
    n_before = len(watcher.messages)
    if restart == "meanwhile":
        broker.start()
        rec = harness.wait_record_terminal("job-bk", timeout=90)
    else:
        rec = harness.wait_record_terminal("job-bk", timeout=90)
        broker.start()
    watcher.wait(lambda: any(b'"SUCCEEDED"' in m.payload for m in watcher.messages), 20,
                 "status SUCCEEDED after the broker's restart")

    assert rec["state"] == "SUCCEEDED", (rec["reason"], states(rec))
    assert sim.qfotadl_count() == 1
    assert len(d.grep(CONNECTED_RE)) >= 2, "dfotad did not reconnect"
    assert len(watcher.messages) > n_before
    msgs = check_status_sequence([m.text() for m in watcher.messages], rec)
    assert is_subsequence(SUCCESS_PATH, [m["state"] for m in msgs])
    assert msgs[-1]["revision_after"] == TARGET_VERSION
