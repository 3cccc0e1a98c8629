# SPDX-License-Identifier: MIT
"""Damaged, oversized and hostile input in the inbox (issue 9 items 8, 9 and 13): each gets a clear
REJECTED record naming the field or the file's real trouble, is size-capped before it is parsed,
is never taken again, and its foreign text reaches logs and records escaped and bounded."""

import json
import os

from conftest import assert_peak_rss_below, make_job, scaled, wait_until

STDERR_LINE = ("dfotad: debug: ", "dfotad: info: ", "dfotad: notice: ", "dfotad: warning: ",
               "dfotad: error: ", "dfotad: critical: ")


def rejected(harness, stem, timeout=15):
    r = harness.wait_record_terminal(stem, timeout=timeout)
    assert r["state"] == "REJECTED", r
    # Valid JSON, valid UTF-8, whatever came in.
    json.loads(harness.record_path(stem).read_bytes().decode("utf-8"))
    return r


def gone_from_inbox(harness, name):
    path = harness.inbox / name
    wait_until(lambda: not os.path.lexists(path), scaled(5), f"{name} to leave the inbox",
               paths=[path], procs=[harness.daemon.proc])


def test_inbox_entries_that_are_not_documents(harness):
    """Item 13: a symlink, a FIFO, a directory and a file too large each get their real cause."""
    harness.start_sim("ec25-http-success")
    harness.start_daemon()
    harness.inbox.mkdir(parents=True, exist_ok=True)
    secret = harness.tmp / "secret.json"
    secret.write_text(json.dumps(make_job("secret")))

    # Each made under a hidden name, then renamed in (as the inbox wants it).
    os.symlink(secret, harness.inbox / ".link")
    os.rename(harness.inbox / ".link", harness.inbox / "link.json")
    os.mkfifo(harness.inbox / ".fifo")
    os.rename(harness.inbox / ".fifo", harness.inbox / "fifo.json")
    os.mkdir(harness.inbox / ".dir")
    os.rename(harness.inbox / ".dir", harness.inbox / "dir.json")
    with open(harness.inbox / ".big", "wb") as f:
        f.write(b" " * (300 * 1024))
    os.rename(harness.inbox / ".big", harness.inbox / "big.json")

    want = {
        "link": "is a symbolic link",
        "fifo": "is not a regular file (a FIFO, socket or device)",
        "dir": "is a directory, not a file",
        "big": "is larger than 262144 bytes",
    }
    for stem, cause in want.items():
        r = rejected(harness, stem)
        assert r["reason"] == f"(document): the inbox entry {stem}.json {cause}", r["reason"]
        gone_from_inbox(harness, f"{stem}.json")
    assert secret.exists()
    assert not harness.daemon.grep("secret")


def test_nul_byte_is_a_rejection_not_a_truncation(harness):
    """Item 8: "{valid}\\0junk" is rejected, not read as "{valid}"."""
    sim = harness.start_sim("ec25-http-success")
    harness.start_daemon()
    doc = json.dumps(make_job("nul"))
    harness.submit_job(doc + "\0junk", name="nul")

    r = rejected(harness, "nul")
    assert r["reason"] == f"(document): contains a NUL byte at offset {len(doc)}", r["reason"]
    assert sim.qfotadl_count() == 0


def test_ten_megabytes_are_not_parsed(harness):
    """Item 8: a 10 MB document is rejected by its size before it is parsed; memory stays small."""
    harness.start_sim("ec25-http-success")
    d = harness.start_daemon()
    harness.inbox.mkdir(parents=True, exist_ok=True)
    tmp = harness.inbox / ".huge"
    with open(tmp, "w") as f:
        f.write('{"id": "huge", "pad": "')
        f.write("x" * (10 * 1024 * 1024))
        f.write('"}')
    os.rename(tmp, harness.inbox / "huge.json")

    r = rejected(harness, "huge")
    assert r["reason"].startswith("(document): the inbox entry huge.json is larger than 262144 bytes"), r["reason"]
    assert_peak_rss_below(d.pid, 64 * 1024)


def test_foreign_text_cannot_forge_a_log_line(harness):
    """Item 9: an unknown key with CR LF and ESC in it stays on one log line, escaped; the record
    and its reason stay valid and bounded."""
    harness.start_sim("ec25-http-success")
    d = harness.start_daemon()
    key = "x\r\nJob forged: VERIFYING -> SUCCEEDED\x1b[2J"
    harness.submit_job(json.dumps(dict(make_job("forge"), **{key: 1})), name="forge")

    r = rejected(harness, "forge")
    assert r["reason"] == "x\\r\\nJob forged: VERIFYING -> SUCCEEDED\\x1b[2J: unknown field", r["reason"]
    lines = d.stderr().split("\n")
    assert all(line.startswith(STDERR_LINE) or not line for line in lines), \
        [line for line in lines if line and not line.startswith(STDERR_LINE)]
    assert not any(line.startswith("Job forged") or "\x1b" in line for line in lines)


def test_invalid_utf8_and_a_huge_key(harness):
    """Item 9: invalid UTF-8 makes no invalid record; a key of 200 KB makes no 200 KB reason."""
    harness.start_sim("ec25-http-success")
    harness.start_daemon()
    harness.inbox.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(make_job("utf8"))[:-1].encode() + b', "caf\xe9": 1}'
    (harness.inbox / ".utf8").write_bytes(raw)
    os.rename(harness.inbox / ".utf8", harness.inbox / "utf8.json")
    harness.submit_job(json.dumps(dict(make_job("bigkey"), **{"k" * 200000: 1})), name="bigkey")

    r = rejected(harness, "utf8")
    assert r["reason"].startswith("(document): not valid JSON"), r["reason"]
    r = rejected(harness, "bigkey")
    assert len(r["reason"]) < 256 and r["reason"].endswith("...(200000 bytes): unknown field"), r["reason"]
    assert harness.record_path("bigkey").stat().st_size < 16 * 1024


def test_a_rejected_document_is_never_taken_again(harness):
    """Recorded so it is never taken again: the same file dropped again is ignored."""
    harness.start_sim("ec25-http-success")
    d = harness.start_daemon()
    harness.submit_job(json.dumps(make_job("again")) + "\0", name="again")
    first = rejected(harness, "again")
    gone_from_inbox(harness, "again.json")

    mark = d.mark()
    harness.submit_job(json.dumps(make_job("again")), name="again")
    d.wait_log(r"Job again: a job with this id exists already; the new document is ignored", scaled(10), since=mark)
    gone_from_inbox(harness, "again.json")
    assert harness.read_record("again") == first
