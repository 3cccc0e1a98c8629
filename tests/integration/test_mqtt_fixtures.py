# SPDX-License-Identifier: MIT
"""Self-test of the MQTT test tools, without dfotad: the mosquitto broker (plain, TLS,
username/password, unix socket, restart on the same port, a session surviving a kill) and the
fake AWS IoT Jobs service, with a paho client playing the device."""

import json
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from conftest import scaled
from fake_aws_jobs import FakeJobsService
from mqtt_broker import Broker, Client, make_ca

THING = "thing-1"
J = f"$aws/things/{THING}/jobs"


@pytest.fixture
def tmp():
    d = Path(tempfile.mkdtemp(prefix="mqtt-ft-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def brokers(tmp):
    made = []

    def make(**kw):
        b = Broker(tmp, name=f"mosquitto{len(made)}", **kw)
        made.append(b)
        return b.start()
    yield make
    for b in made:
        b.close()


@pytest.fixture
def clients():
    made = []
    yield made
    for c in made:
        c.stop()


def cli(tool, broker, kind, *args, timeout=10):
    return subprocess.run([tool, *broker.cli_args(kind), *args], capture_output=True, text=True,
                          timeout=scaled(timeout), stdin=subprocess.DEVNULL)


def test_every_listener_kind(brokers, tmp):
    b = brokers(listeners=("plain", "password", "tls", "tls_password", "unix"))
    for kind in ("plain", "password", "tls", "tls_password", "unix"):
        r = cli("mosquitto_pub", b, kind, "-q", "1", "-r", "-t", f"t/{kind}", "-m", kind)
        assert r.returncode == 0, (kind, r.stderr)
        r = cli("mosquitto_sub", b, kind, "-C", "1", "-W", "5", "-t", f"t/{kind}")
        assert r.returncode == 0 and r.stdout.strip() == kind, (kind, r.stdout, r.stderr)

    wrong = cli("mosquitto_pub", b, "plain", "-t", "x", "-m", "y", "-u", "alice", "-P", "nope",
                "-p", str(b.port("password")))
    assert wrong.returncode != 0 and "not authori" in wrong.stderr.lower(), wrong.stderr
    anon = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(b.port("password")),
                           "-t", "x", "-m", "y"], capture_output=True, text=True,
                          timeout=scaled(10))
    assert anon.returncode != 0, anon
    other_ca, _ = make_ca(tmp / "other", cn="Some other CA")
    bad_ca = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(b.port("tls")),
                             "--cafile", str(other_ca), "-t", "x", "-m", "y"],
                            capture_output=True, text=True, timeout=scaled(10))
    assert bad_ca.returncode != 0 and "tls" in bad_ca.stderr.lower(), bad_ca.stderr
    # localhost is in the certificate as well as 127.0.0.1
    ok = subprocess.run(["mosquitto_pub", "-h", "localhost", "-p", str(b.port("tls")),
                         "--cafile", str(b.ca_crt), "-t", "x", "-m", "y"],
                        capture_output=True, text=True, timeout=scaled(10))
    assert ok.returncode == 0, ok.stderr


def test_restart_on_the_same_port_and_a_session_that_survives_a_kill(brokers, clients):
    b = brokers(persistence=True)
    port = b.port()
    sub = Client(b, "watcher", ["a/#"])
    clients.append(sub)
    sub.start()
    b.save()
    b.kill()
    assert not b.running()
    b.start()
    assert b.port() == port
    assert b.starts == 2
    # The watcher reconnects by itself; the broker restored its session from the save, so a
    # message published before the watcher is back is queued for it.
    r = cli("mosquitto_pub", b, "plain", "-q", "1", "-t", "a/b", "-m", "while-away")
    assert r.returncode == 0, r.stderr
    sub.wait(lambda: any(m.payload == b"while-away" for m in sub.messages), 10, "queued message")
    assert sub.connects >= 2
    b.stop()
    b.start()
    assert b.port() == port


def test_paho_client_over_tls_with_password(brokers, clients):
    b = brokers(listeners=("tls_password",))
    c = Client(b, "tls-client", ["x/#"], kind="tls_password")
    clients.append(c)
    c.start()
    c.publish("x/y", {"hello": 1})
    c.wait(lambda: c.on("x/y"), 10, "own message")
    assert c.on("x/y")[0].json() == {"hello": 1}
    assert b.connected_clients("tls-client")


class Device:
    """A paho client playing the device on the jobs topics."""

    def __init__(self, broker, clients, thing=THING):
        self.j = f"$aws/things/{thing}/jobs"
        self.c = Client(broker, f"device-{thing}", [f"{self.j}/#"])
        clients.append(self.c)
        self.c.start()

    def request(self, topic, payload=None, timeout=5):
        token = uuid.uuid4().hex
        payload = dict(payload or {}, clientToken=token)
        full = f"{self.j}/{topic}"
        self.c.publish(full, payload)

        def reply():
            for m in self.c.messages:
                if m.topic in (full + "/accepted", full + "/rejected"):
                    p = m.json()
                    if p.get("clientToken") == token:
                        return m.topic.rsplit("/", 1)[1], p
            return None
        return self.c.wait(reply, timeout, f"reply to {full}")

    def notifications(self, name="notify-next"):
        return [m.json() for m in self.c.on(f"{self.j}/{name}")]


def test_fake_service_lifecycle(brokers, clients):
    b = brokers()
    svc = FakeJobsService(b, THING)
    clients.append(svc.client)
    svc.start()
    dev = Device(b, clients)

    verdict, p = dev.request("start-next", {"stepTimeoutInMinutes": 1})
    assert verdict == "accepted" and "execution" not in p, p

    doc = {"target_version": "B", "package": {"url": "http://x/y.zip"}}
    svc.create_job("job-1", doc)
    dev.c.wait(lambda: dev.notifications(), 5, "notify-next")
    note = dev.notifications()[-1]
    assert note["execution"]["jobId"] == "job-1"
    assert note["execution"]["status"] == "QUEUED"
    assert note["execution"]["jobDocument"] == doc
    assert note["execution"]["versionNumber"] == 1 and note["execution"]["executionNumber"] == 1

    verdict, p = dev.request("start-next", {"stepTimeoutInMinutes": 1})
    assert verdict == "accepted"
    ex = p["execution"]
    assert (ex["jobId"], ex["status"], ex["versionNumber"], ex["executionNumber"]) == \
        ("job-1", "IN_PROGRESS", 2, 1)
    assert ex["jobDocument"] == doc and isinstance(ex["jobDocument"], dict)
    assert ex["thingName"] == THING

    # start-next again returns the same IN_PROGRESS execution, unchanged
    verdict, p = dev.request("start-next")
    assert p["execution"]["versionNumber"] == 2 and p["execution"]["status"] == "IN_PROGRESS"

    upd = {"status": "IN_PROGRESS", "statusDetails": {"state": "DOWNLOADING", "progress": "0"},
           "expectedVersion": 2, "executionNumber": 1, "includeJobExecutionState": True,
           "stepTimeoutInMinutes": 1}
    verdict, p = dev.request("job-1/update", upd)
    assert verdict == "accepted", p
    assert p["executionState"] == {"status": "IN_PROGRESS", "versionNumber": 3,
                                   "statusDetails": {"state": "DOWNLOADING", "progress": "0"}}

    # stale version
    verdict, p = dev.request("job-1/update", upd)
    assert verdict == "rejected" and p["code"] == "VersionMismatch", p
    assert p["executionState"]["versionNumber"] == 3

    # a number is not a string in statusDetails: refused and noted
    bad = dict(upd, expectedVersion=3, statusDetails={"progress": 10})
    verdict, p = dev.request("job-1/update", bad)
    assert verdict == "rejected" and p["code"] == "InvalidRequest"
    assert svc.problems and "not a string" in svc.problems[-1]
    svc.problems.clear()

    # a status the device may not set
    verdict, p = dev.request("job-1/update", dict(upd, expectedVersion=3, status="CANCELED"))
    assert verdict == "rejected" and p["code"] == "InvalidStateTransition"
    assert p["executionState"]["status"] == "IN_PROGRESS"

    svc.inject("RequestThrottled", 2)
    for _ in range(2):
        verdict, p = dev.request("job-1/update", dict(upd, expectedVersion=3))
        assert verdict == "rejected" and p["code"] == "RequestThrottled"
        assert "executionState" not in p
    verdict, p = dev.request("job-1/update", dict(upd, expectedVersion=3,
                                                  includeJobExecutionState=False))
    assert verdict == "accepted" and "executionState" not in p

    verdict, p = dev.request("job-1/get", {"executionNumber": 1, "includeJobDocument": False})
    assert verdict == "accepted" and p["execution"]["versionNumber"] == 4
    assert "jobDocument" not in p["execution"]
    verdict, p = dev.request("job-1/get", {"executionNumber": 2})
    assert verdict == "rejected" and p["code"] == "ResourceNotFound"

    n_notes = len(dev.notifications())
    verdict, p = dev.request("job-1/update", {"status": "SUCCEEDED", "expectedVersion": 4,
                                              "statusDetails": {"state": "SUCCEEDED"},
                                              "includeJobExecutionState": True})
    assert verdict == "accepted" and p["executionState"]["status"] == "SUCCEEDED"
    dev.c.wait(lambda: len(dev.notifications()) > n_notes, 5, "notify-next: queue empty")
    assert "execution" not in dev.notifications()[-1]

    verdict, p = dev.request("job-1/update", dict(upd, expectedVersion=5))
    assert verdict == "rejected" and p["code"] == "TerminalStateReached"
    verdict, p = dev.request("nope/update", upd)
    assert verdict == "rejected" and p["code"] == "ResourceNotFound"

    assert [t[3:5] for t in svc.device_transitions("job-1")] == [
        (None, "QUEUED"), ("QUEUED", "IN_PROGRESS"), ("IN_PROGRESS", "IN_PROGRESS"),
        ("IN_PROGRESS", "IN_PROGRESS"), ("IN_PROGRESS", "SUCCEEDED")]
    ups = svc.updates("job-1")
    assert [u.accepted for u in ups] == [True, False, False, False, False, False, True, True,
                                          False]
    assert [u.code for u in ups if not u.accepted] == [
        "VersionMismatch", "InvalidRequest", "InvalidStateTransition", "RequestThrottled",
        "RequestThrottled", "TerminalStateReached"]
    tokens = [r.token for r in svc.requests]
    assert len(set(tokens)) == len(tokens)
    svc.check()


def test_fake_service_cancel_pending_get_and_wrong_thing(brokers, clients):
    b = brokers()
    svc = FakeJobsService(b, THING, document_as_string=True)
    clients.append(svc.client)
    svc.start()
    dev = Device(b, clients)
    svc.create_job("a", {"n": 1})
    svc.create_job("b", {"n": 2})
    verdict, p = dev.request("get")
    assert [j["jobId"] for j in p["queuedJobs"]] == ["a", "b"] and p["inProgressJobs"] == []
    verdict, p = dev.request("$next/get")
    assert p["execution"]["jobId"] == "a"
    assert json.loads(p["execution"]["jobDocument"]) == {"n": 1}   # as a JSON string

    dev.c.wait(lambda: dev.notifications(), 5, "notify-next for a")
    svc.cancel_job("a")
    dev.c.wait(lambda: dev.notifications()[-1].get("execution", {}).get("jobId") == "b", 5,
               "notify-next for b after the cancel")
    assert svc.execution("a")["status"] == "CANCELED"
    assert svc.execution("a")["versionNumber"] == 2
    verdict, p = dev.request("a/update", {"status": "IN_PROGRESS", "expectedVersion": 1})
    assert p["code"] == "TerminalStateReached"
    verdict, p = dev.request("start-next")
    assert p["execution"]["jobId"] == "b"

    svc.stale_start_next("a")
    verdict, p = dev.request("start-next")
    assert p["execution"]["jobId"] == "a" and p["execution"]["status"] == "IN_PROGRESS"
    assert svc.execution("a")["status"] == "CANCELED"   # the service itself is unchanged

    other = Device(b, clients, thing="thing-2")
    other.c.publish(f"{other.j}/start-next", {"clientToken": "x"})
    svc.wait(lambda: svc.problems, 5, "the wrong thing noted")
    assert "another thing" in svc.problems[0]
    with pytest.raises(AssertionError):
        svc.check()
