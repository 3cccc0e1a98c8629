# SPDX-License-Identifier: MIT
"""Jobs through the local inbox: validation and rejection, queueing, the persisted record."""

import json
import re

import pytest

from conftest import (HTTP_URL, SOURCE_VERSION, TARGET_VERSION, make_job, scaled, states, wait_until)

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

RECORD_KEYS = {"id", "job", "state", "progress", "attempt", "watchdog_resets", "module_error",
               "revision_before", "revision_after", "reason", "modem", "qfotadl_sent",
               "qfotadl_sent_at", "created_at", "updated_at", "history"}


def url_of_length(n, scheme="http://fw.example.net/"):
    url = scheme + "p" * (n - len(scheme) - len(".zip")) + ".zip"
    assert len(url) == n
    return url


# name -> (job document or raw text, inbox file stem, field the reason must start with)
REJECTIONS = {
    "source-version-mismatch": (make_job("rej-source", source_version="EC25EFAR06A07M4G"),
                                "rej-source", "source_version:"),
    "url-256-bytes": (make_job("rej-long", url=url_of_length(256)), "rej-long", "package.url:"),
    "https-url-256-bytes": (make_job("rej-https", url=url_of_length(256, "https://fw.example.net/")),
                            "rej-https", "package.url:"),
    "unknown-scheme": (make_job("rej-scheme", url="tftp://fw.example.net/ec25/a01-a02.zip"),
                       "rej-scheme", "package.url:"),
    "url-with-quote": (make_job("rej-quote", url='http://fw.example.net/a"+CFUN=0.zip'),
                       "rej-quote", "package.url:"),
    "url-with-crlf": (make_job("rej-crlf", url="http://fw.example.net/a.zip\r\nAT+CFUN=0"),
                      "rej-crlf", "package.url:"),
    "url-with-space": (make_job("rej-space", url="http://fw.example.net/a b.zip"),
                       "rej-space", "package.url:"),
    "local-outside-ufs": (make_job("rej-local", url="/etc/passwd"), "rej-local", "package.url:"),
    "imei-mismatch": (make_job("rej-imei", modem={"imei": "490154203237518"}),
                      "rej-imei", "modem.imei:"),
    "missing-target": (make_job("rej-target", target_version=None), "rej-target",
                       "target_version:"),
    "unknown-key": (make_job("rej-key", priority=3), "rej-key", "priority"),
    "invalid-id": (make_job("bad id!"), "rej-badid", "id:"),
    "missing-id": (make_job("x", id=None), "rej-noid", "id:"),
}


@pytest.mark.parametrize("case", sorted(REJECTIONS))
def test_rejected_before_reaching_the_module(harness, case):
    doc, stem, field = REJECTIONS[case]
    sim = harness.start_sim("ec25-http-success")
    harness.start_daemon()

    inbox_file = harness.submit_job(doc, name=stem)
    record = harness.wait_record_terminal(stem, timeout=15)

    assert record["id"] == stem
    assert record["state"] == "REJECTED"
    assert isinstance(record["reason"], str) and record["reason"].startswith(field), \
        f"reason {record['reason']!r} does not start with {field!r}"
    assert record["qfotadl_sent"] is False
    assert sim.qfotadl_count() == 0, sim.rx_lines()
    # The document leaves the inbox only after its record is saved (nothing is lost if dfotad
    # dies in between), so it may still be there for an instant after the record appeared.
    wait_until(lambda: not inbox_file.exists(), scaled(5), "the job document to leave the inbox",
               paths=[inbox_file], procs=[harness.daemon.proc])
    assert RECORD_KEYS <= set(record), f"missing keys {RECORD_KEYS - set(record)}"


def test_malformed_json_is_rejected_under_the_file_name(harness):
    sim = harness.start_sim("ec25-http-success")
    harness.start_daemon()

    harness.submit_job('{"id": "half", "package": {"url": ', name="broken-upload")
    record = harness.wait_record_terminal("broken-upload", timeout=15)

    assert record["id"] == "broken-upload"
    assert record["state"] == "REJECTED"
    assert "json" in record["reason"].lower(), record["reason"]
    assert sim.qfotadl_count() == 0


def test_url_of_255_bytes_is_accepted(harness):
    """The other side of the 256-byte rejection: EC2x takes up to 255 bytes (guide §3.1)."""
    sim = harness.start_sim("ec25-http-success")
    harness.start_daemon()
    url = url_of_length(255)

    harness.submit_job(make_job("url-255", url=url))
    sim.wait_event(lambda ev: ev["event"] == "rx" and ev["line"].startswith("AT+QFOTADL"), 15,
                   "AT+QFOTADL at the module")

    sent = [line for line in sim.rx_lines() if line.upper().startswith("AT+QFOTADL")]
    assert sent == [f'AT+QFOTADL="{url}"'], sent
    assert harness.read_record("url-255")["state"] not in ("REJECTED", "FAILED")


def test_dotfiles_in_the_inbox_are_ignored(harness):
    harness.start_sim("ec25-http-success")
    harness.start_daemon()
    harness.inbox.mkdir(parents=True, exist_ok=True)
    hidden = harness.inbox / ".pending.json"
    hidden.write_text(json.dumps(make_job("hidden")))

    # Inotify events come in order: once the later job is taken, the dotfile was seen and skipped.
    harness.submit_job(make_job("visible", source_version="EC25EFAR06A07M4G"))
    harness.wait_record_terminal("visible", timeout=15)

    assert hidden.exists()
    assert not harness.record_path("hidden").exists()
    assert not harness.record_path(".pending").exists()


def test_second_job_waits_for_the_busy_modem(harness):
    sim = harness.start_sim("ec25-http-success")
    harness.start_daemon()

    harness.submit_job(make_job("first"))
    harness.wait_log(r"Job first: \S+ -> DOWNLOADING", timeout=15)
    # The same upgrade again: once "first" is done the module runs the target revision, and what
    # "second" finds in its preflight tells when it ran.
    harness.submit_job(make_job("second"))
    queued = harness.wait_record("second", lambda r: True, 10, "record created")
    assert queued["state"] == "QUEUED"
    assert harness.read_record("first")["state"] not in ("SUCCEEDED", "FAILED"), \
        "the first job ended before the second was queued: the test proves nothing"

    first = harness.wait_record_terminal("first", timeout=40)
    second = harness.wait_record_terminal("second", timeout=20)

    assert first["state"] == "SUCCEEDED"
    first_end = first["history"][-1]["time"]
    assert second["history"][0]["state"] == "QUEUED"
    assert second["history"][0]["time"] < first_end
    after = second["history"][1:]
    assert after, "the second job never left QUEUED"
    assert after[0]["state"] == "PREFLIGHT", states(second)
    assert all(h["time"] >= first_end for h in after), (first["history"], second["history"])
    assert second["revision_before"] == TARGET_VERSION, "the second job's preflight ran early"
    # Already at the target: the desired end state holds, so the job succeeds without asking the
    # module again (checked before source_version, which only guards a real upgrade).
    assert second["state"] == "SUCCEEDED", second
    assert second["revision_after"] == TARGET_VERSION
    assert "already runs" in second["history"][-1]["detail"], second["history"][-1]
    assert second["qfotadl_sent"] is False
    assert sim.qfotadl_count() == 1


def test_record_of_a_successful_job(harness):
    sim = harness.start_sim("ec25-http-success")
    harness.start_daemon()
    doc = make_job("shape")

    harness.submit_job(doc)
    r = harness.wait_record_terminal("shape", timeout=40)

    assert RECORD_KEYS <= set(r), f"missing keys {RECORD_KEYS - set(r)}"
    assert r["id"] == "shape"
    assert r["job"]["id"] == "shape"
    assert r["job"]["package"]["url"] == HTTP_URL
    assert r["job"]["target_version"] == TARGET_VERSION
    assert r["state"] == "SUCCEEDED"
    assert r["reason"] is None
    assert r["module_error"] is None
    assert r["attempt"] == 1
    assert r["watchdog_resets"] == 0
    assert isinstance(r["progress"], int) and 0 <= r["progress"] <= 100
    assert r["revision_before"] == SOURCE_VERSION
    assert r["revision_after"] == TARGET_VERSION
    assert r["qfotadl_sent"] is True
    assert set(r["modem"]) >= {"port", "imei", "model", "family"}
    assert r["modem"]["port"] == sim.link
    assert re.fullmatch(r"\d{15}", r["modem"]["imei"] or ""), r["modem"]
    assert r["modem"]["model"] == "EC25"
    assert r["modem"]["family"] == "ec2x"

    for key in ("created_at", "updated_at", "qfotadl_sent_at"):
        assert ISO_MS.match(r[key] or ""), f"{key}: {r[key]!r}"
    assert r["created_at"] <= r["qfotadl_sent_at"] <= r["updated_at"]

    history = r["history"]
    for h in history:
        assert set(h) == {"time", "state", "detail"}, h
        assert ISO_MS.match(h["time"]), h
    times = [h["time"] for h in history]
    assert times == sorted(times), "history is not in time order"
    assert history[0]["state"] == "QUEUED"
    assert history[-1]["state"] == "SUCCEEDED"
    assert sim.qfotadl_count() == 1
    assert not (harness.inbox / "shape.json").exists()

    # The stderr format field engineers grep: "dfotad: <level>: [<port> <job>] <message>".
    line = harness.daemon.grep(r"Job shape: PREFLIGHT -> DOWNLOADING")
    assert line, "the PREFLIGHT -> DOWNLOADING transition was not logged"
    assert re.match(rf"dfotad: (info|notice): \[{re.escape(sim.link)} shape\] Job shape: ",
                    line[0]), line[0]
