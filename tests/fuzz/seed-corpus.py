#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Regenerates tests/fuzz/corpus/<target>/ from what the project already holds: the Quectel
guides (../shared/seeds/, or $DFOTAD_SEEDS), the simulator scenarios (tests/sim/scenarios/*.json),
README.md's examples and config/dfotad.json. Standard library only; the output is deterministic
(file names are the SHA-1 of the content, as libFuzzer names its inputs). Existing seed-* files of a
target are replaced; other files there (regression inputs, crash-*) are kept.

    tests/fuzz/seed-corpus.py            # writes into tests/fuzz/corpus/
"""

import glob
import hashlib
import json
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SEEDS = os.environ.get("DFOTAD_SEEDS") or os.path.join(ROOT, "..", "shared", "seeds")
CORPUS = os.path.join(HERE, "corpus")
T = "2026-12-01T10:00:00.000Z"

corpus = {}


def add(target, data):
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    corpus.setdefault(target, set()).add(data)


def guide_lines():
    for path in sorted(glob.glob(os.path.join(SEEDS, "*.txt"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                yield line.rstrip("\r\n")


def scenarios():
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "sim", "scenarios", "*.json"))):
        with open(path, encoding="utf-8") as f:
            yield os.path.basename(path), json.load(f)


def urc(word, value=None, percent=False):
    s = f'+QIND: "FOTA","{word}"'
    if value is not None:
        s += f",{value}{'%' if percent else ''}"
    return s


def scenario_lines(sc):
    """What the simulator sends for a scenario (tests/sim/quectel-sim, simplified): boot noise,
    ATI, the URCs, raw lines."""
    mod = sc.get("module", {})
    lines = list(sc.get("boot_noise") or ["RDY", "+CFUN: 1", "+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE"])
    lines += ["Quectel", mod.get("model", "EC25"), "Revision: " + mod.get("revision", "X"), "", "OK"]
    lines += [mod.get("imei", "861234567890123"), "", "OK"]
    for step in sc.get("dfota", []):
        if "urc" in step:
            lines.append(urc(step["urc"], step.get("value"), step.get("percent", False)))
        elif "raw" in step:
            lines.append(step["raw"])
        elif "progress" in step:
            for v in range(step["from"], step["to"] + 1, max(step["step"], 1) * 10):
                lines.append(urc(step["progress"], v, step.get("percent", False)))
    return lines


def tokenizer_input(text, cuts=(3, 17, 40)):
    """fuzz-at-tokenizer: the first byte says how many split points follow (2 bytes each)."""
    head = bytes([len(cuts)]) + b"".join(struct.pack(">H", c) for c in cuts)
    return head + text


def seed_at_and_urcs():
    quectel = []
    for line in guide_lines():
        s = line.strip()
        if re.match(r"^(\+Q|\+C|AT|OK$|ERROR$|RDY$|CONNECT|> )", s):
            quectel.append(s)
            if "QIND" in s:
                add("fuzz-fota-urc", s)
    for name, sc in scenarios():
        lines = scenario_lines(sc)
        stream = "\r\n".join(lines).encode("utf-8") + b"\r\n"
        add("fuzz-at-tokenizer", tokenizer_input(stream))
        add("fuzz-fota-urc", stream)
        for line in lines:
            if "QIND" in line:
                add("fuzz-fota-urc", line)
        mod = sc.get("module", {})
        ati = f"ATI\r\r\nQuectel\r\n{mod.get('model', 'EC25')}\r\nRevision: {mod.get('revision', 'X')}\r\n\r\nOK\r\n"
        noise = "".join(f"{n}\r\n" for n in (sc.get("boot_noise") or []))
        add("fuzz-modem-id", noise + ati)
        add("fuzz-modem-id", f"AT+GSN\r\r\n{mod.get('imei', '861234567890123')}\r\n\r\nOK\r\n")
    # Guide lines in chunks, with CR, LF, CRLF and echo framing.
    for i in range(0, len(quectel), 24):
        chunk = quectel[i:i + 24]
        add("fuzz-at-tokenizer", tokenizer_input(("\r\n".join(chunk) + "\r\n").encode()))
        add("fuzz-at-tokenizer", tokenizer_input(("\r\r\n".join(chunk) + "\n").encode(), (1, 2, 3, 500, 501)))
    for extra in ["> ", "\r\n> ", "+CME ERROR: 3\r\n+CMS ERROR: SIM busy\r\n", "\x00\xff+QIND: SMS DONE\r\n",
                  "A" * 1100 + "\r\nOK\r\n", "CONNECT 115200\r\nat+qfotadl\r\n"]:
        add("fuzz-at-tokenizer", tokenizer_input(extra.encode("latin-1")))
    for extra in ['+QIND: "FOTA","Last upgrade was not finished,continue upgrade"',
                  '+QIND: \u201cFOTA\u201d,\u201cUPDATING\u201d,40', '+QIND: "FOTA","RESTORE",1%',
                  '+QIND: "FOTA","HTTPPEND",0', '+QIND: "FOTA","FILEEND",0', '+QIND: "FOTA","HTTPSEND",701']:
        add("fuzz-fota-urc", extra)
    add("fuzz-modem-id", "Quectel_Ltd\r\nQuectel_BC26\r\nRevision: BC26NBR01A09\r\n\r\nOK\r\n")
    add("fuzz-modem-id", "+GSN: \"861234567890123\"\r\nOK\r\n")


def urls():
    found = set()
    for line in guide_lines():
        for m in re.finditer(r'(?:https?|ftp)://[^\s"<>\u201c\u201d]+|UFS:[^\s"<>,]+|/(?:data|cache)/ufs/[^\s"<>,]+|/media/card/[^\s"<>,]+', line):
            found.add(m.group(0).rstrip(".,;)"))
    found |= {"http://fw.example.net/ec25/a01-a02.zip", "https://fw.example.net/ec25/a01-a02.zip",
              "ftp://user:pass@ftp.example.net:21/ec25/delta.zip", "http://[2001:db8::7]:8080/d.zip",
              "http://198.51.100.7/d%20x.zip", "UFS:delta.bin", "/data/ufs/update.zip", "/cache/ufs/update.zip"}
    return sorted(found)


def job(job_id, url, **extra):
    doc = {"id": job_id, "source_version": "EC25EFAR06A01M4G", "target_version": "EC25EFAR06A02M4G",
           "package": {"url": url}}
    doc.update(extra)
    return doc


def seed_jobs():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    for m in re.finditer(r"<<'EOF'\n(.*?)\nEOF", readme, re.S):
        add("fuzz-job", m.group(1))
    for i, url in enumerate(urls()):
        add("fuzz-url", url)
        add("fuzz-job", json.dumps(job(f"job-{i}", url)))
    add("fuzz-job", json.dumps(job("sel-imei", "http://fw.example.net/a.zip", modem={"imei": "861234567890123"})))
    add("fuzz-job", json.dumps(job("sel-model", "http://fw.example.net/a.zip", modem={"model": "EC25"})))
    add("fuzz-job", json.dumps(job("host", "https://fw.example.net/a.zip", delivery="host",
                                   package={"url": "https://fw.example.net/a.zip", "sha256": "ab" * 32,
                                            "size": 1234567})))
    add("fuzz-job", '{"id":"bad\\u0000id","target_version":"T","package":{"url":"http://h/x"}}')
    add("fuzz-job", '{"id":"q","target_version":"T","package":{"url":"http://h/\\"x"}}')


def record(job_id, state, phase, **extra):
    """A job record as dfotad writes it (include/record.h; tests/integration/test_resume.py)."""
    rec = {
        "id": job_id, "job": job(job_id, "http://fw.example.net/ec25/a01-a02.zip"), "state": state,
        "progress": 0, "attempt": 0, "watchdog_resets": 0, "module_error": None,
        "revision_before": "EC25EFAR06A01M4G", "revision_after": None, "reason": None,
        "modem": {"port": "/dev/ttyUSB2", "imei": "861234567890123", "model": "EC25", "family": "ec2x"},
        "control_plane": "local", "qfotadl_sent": phase != "preflight",
        "qfotadl_sent_at": T if phase != "preflight" else None,
        "phase": phase, "last_end": None, "module_hold": False, "attempts": [],
        "attempts_omitted": 0, "created_at": T, "updated_at": T,
        "history": [{"time": T, "state": "QUEUED", "detail": "created"}],
        "history_omitted": 0, "execution": None, "executions": None,
    }
    rec.update(extra)
    return rec


def seed_records():
    add("fuzz-record", json.dumps(record("job-1", "QUEUED", "preflight"), indent=2))
    add("fuzz-record", json.dumps(record("job-2", "UPDATING", "updating", progress=40, attempt=2, last_end=None,
                                         attempts=[{"attempt": 1, "code": 505, "meaning": "x", "time": T}],
                                         history=[{"time": T, "state": "QUEUED", "detail": "created"},
                                                  {"time": T, "state": "UPDATING", "detail": None,
                                                   "repeated": 3, "last": T}])))
    add("fuzz-record", json.dumps(record("job-3", "FAILED", "update-ended", last_end=505,
                                         module_error={"code": 701, "kind": "http", "meaning": "HTTP unknown error"},
                                         reason="module error")))
    add("fuzz-record", json.dumps(record("job-4", "WAITING_FOR_MODEM", "downloading")))
    rec = record("job-5", "UPDATING", "updating", execution="861234567890123")
    add("fuzz-record", json.dumps(rec))
    parent = record("job-6", "UPDATING", "preflight",
                    modem={"port": None, "imei": None, "model": None, "family": None},
                    executions=[{"imei": "861234567890123", "port": "/dev/ttyUSB2",
                                 "record": "job-6@861234567890123.json", "state": "UPDATING",
                                 "progress": 10, "reason": None}])
    add("fuzz-record", json.dumps(parent))
    old = record("job-7", "QUEUED", "preflight")
    del old["phase"]
    add("fuzz-record", json.dumps(old))


def seed_config():
    add("fuzz-config", open(os.path.join(ROOT, "config", "dfotad.json"), encoding="utf-8").read())
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    for m in re.finditer(r"```json\n(.*?)```", readme, re.S):
        add("fuzz-config", m.group(1))
    add("fuzz-config", '{"log_level":"info","modems":[{"port":"/dev/ttyUSB2","family":"ec2x"}],'
                       '"timeouts":{"urc_watchdog":240},"reset":"at"}')
    add("fuzz-config", json.dumps({"hotplug": False, "modems": [{"port": "/dev/ttyUSB0", "family": "ucxx",
                                   "pdp": {"cid": 1, "apn": "internet", "username": "u", "auth": "pap"}}]}))
    add("fuzz-config", json.dumps({"state_directory": "/var/lib/dfotad", "records": {"max_age_days": 0, "max_count": 10},
                                   "reset": {"command": ["/bin/true"], "try_at_first": True}}))
    add("fuzz-config", json.dumps({"mqtt": {"dialect": "plain", "host": "broker.example.net", "port": 1883,
                                            "device_id": "gw-0042", "prefix": "dfotad", "keepalive": 60,
                                            "protocol": "5", "reconnect_min": 1, "reconnect_max": 300}}))
    add("fuzz-config", json.dumps({"mqtt": {"dialect": "aws-iot-jobs", "host": "a1-ats.iot.eu-west-1.amazonaws.com",
                                            "thing_name": "gw-0042", "step_timeout_minutes": 60, "heartbeat": 600,
                                            "tls": {"ca_file": "/etc/ssl/certs/ca-certificates.crt",
                                                    "alpn": "x-amzn-mqtt-ca"}}}))


def mqtt_input(aws, messages):
    """fuzz-mqtt: byte 0 the dialect, then [selector][topic len][topic][payload len BE16][payload]."""
    out = bytes([1 if aws else 0])
    for sel, topic, payload in messages:
        t = topic.encode()
        p = payload.encode() if isinstance(payload, str) else payload
        out += bytes([sel, len(t)]) + t + struct.pack(">H", len(p)) + p
    return out


def seed_mqtt():
    doc = json.dumps({"source_version": "EC25EFAR06A01M4G", "target_version": "EC25EFAR06A02M4G",
                      "package": {"url": "http://fw.example.net/ec25/a01-a02.zip"}})
    add("fuzz-mqtt", mqtt_input(False, [(0, "job-7", doc)]))
    add("fuzz-mqtt", mqtt_input(False, [(0, "job 7\u00e9", doc), (0, "job-8", "not json"), (0, "job-9", "")]))
    add("fuzz-mqtt", mqtt_input(False, [(0, "job-7", doc), (0, "job-7", doc), (2, "status/job-7", doc)]))
    add("fuzz-mqtt", mqtt_input(False, [(0, "job-n", b'{"id":"x","target_version":"T"\x00}')]))
    execution = {"jobId": "ec25-a02", "status": "QUEUED", "queuedAt": 1, "lastUpdatedAt": 1,
                 "versionNumber": 1, "executionNumber": 1, "jobDocument": json.loads(doc)}
    add("fuzz-mqtt", mqtt_input(True, [(1, "", json.dumps({"clientToken": "fuzz-token", "timestamp": 1,
                                                             "execution": execution}))]))
    as_string = dict(execution, jobDocument=doc)
    add("fuzz-mqtt", mqtt_input(True, [(1, "", json.dumps({"clientToken": "fuzz-token", "execution": as_string}))]))
    add("fuzz-mqtt", mqtt_input(True, [(0, "", json.dumps({"timestamp": 1, "execution": {"jobId": "other-2",
                                                                                         "executionNumber": 1}}))]))
    add("fuzz-mqtt", mqtt_input(True, [(0, "", b'{"execution":{"jobId":"nul-1","executionNumber":2}}\x00')]))
    add("fuzz-mqtt", mqtt_input(True, [(2, "", json.dumps({"clientToken": "fuzz-token", "code": "InternalError",
                                                             "message": "x"}))]))
    for sel, body in [(3, {"clientToken": "t", "executionState": {"status": "IN_PROGRESS", "versionNumber": 2}}),
                      (4, {"clientToken": "t", "code": "VersionMismatch", "message": "m"}),
                      (4, {"clientToken": "t", "code": "TerminalStateReached"}),
                      (5, {"clientToken": "t", "execution": {"jobId": "known-1", "status": "CANCELED",
                                                             "executionNumber": 1, "versionNumber": 3}}),
                      (6, {"clientToken": "t", "code": "ResourceNotFound"})]:
        add("fuzz-mqtt", mqtt_input(True, [(sel, "", json.dumps(body))]))


def write():
    total = 0
    for target, inputs in sorted(corpus.items()):
        d = os.path.join(CORPUS, target)
        os.makedirs(d, exist_ok=True)
        for old in glob.glob(os.path.join(d, "seed-*")):
            os.unlink(old)
        for data in sorted(inputs):
            with open(os.path.join(d, "seed-" + hashlib.sha1(data).hexdigest()), "wb") as f:
                f.write(data)
            total += len(data)
        print(f"{target}: {len(inputs)} inputs")
    print(f"{total} bytes in all")


def main():
    if not os.path.isdir(SEEDS):
        sys.exit(f"no guides at {SEEDS} (set DFOTAD_SEEDS)")
    seed_at_and_urcs()
    seed_jobs()
    seed_records()
    seed_config()
    seed_mqtt()
    write()


if __name__ == "__main__":
    main()
