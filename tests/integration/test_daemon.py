# SPDX-License-Identifier: MIT
"""The daemon as a process: command line, configuration errors, sd_notify protocol, signals."""

import json
import re
import signal

import pytest

from conftest import SOURCE_ROOT, TEST_TIMEOUTS, make_job, run_dfotad


def project_version():
    m = re.search(r"version\s*:\s*'([^']+)'", (SOURCE_ROOT / "meson.build").read_text())
    assert m, "no version in meson.build"
    return m.group(1)


def test_help_prints_usage_on_stdout():
    r = run_dfotad(["--help"])
    assert r.returncode == 0, r.stderr
    assert "--config" in r.stdout and "--log-level" in r.stdout, r.stdout
    assert "--version" in r.stdout, r.stdout


def test_version_matches_project():
    r = run_dfotad(["--version"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"dfotad {project_version()}"


def test_unknown_option_fails():
    r = run_dfotad(["--frobnicate"])
    assert r.returncode == 1
    assert "frobnicate" in r.stderr
    assert r.stdout == ""


def base_config(tmp_path):
    return {
        "state_directory": str(tmp_path / "state"),
        "modems": [{"port": "/dev/ttyUSB2", "family": "ec2x"}],
        "timeouts": dict(TEST_TIMEOUTS),
        "reset": "at",
    }


def with_change(cfg, path, value):
    """cfg with the value at a dotted path set (or, for value is DELETE, removed)."""
    cfg = json.loads(json.dumps(cfg))
    *parents, last = path.split(".")
    node = cfg
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return cfg


# (change applied to a valid config, words the single error line must contain)
CONFIG_ERRORS = {
    "unknown-top-level-key": ("foo", 1, ["foo: unknown field"]),
    "unknown-nested-key": ("timeouts.verfy", 3, ["timeouts", "verfy"]),
    "zero-timeout": ("timeouts.urc_watchdog", 0, ["timeouts.urc_watchdog"]),
    "negative-timeout": ("timeouts.download", -5, ["timeouts.download"]),
    "string-timeout": ("timeouts.at_command", "1s", ["timeouts.at_command"]),
    "unknown-family": ("modems.0.family", "ec99", ["modems[0].family", "ec99"]),
    "bad-log-level": ("log_level", "loud", ["log_level"]),
    "bad-reset": ("reset", "reboot", ["reset"]),
    "empty-reset-command": ("reset", {"command": []}, ["reset"]),
}


@pytest.mark.parametrize("case", sorted(CONFIG_ERRORS))
def test_config_error_names_file_and_key(tmp_path, case):
    path, value, words = CONFIG_ERRORS[case]
    cfg = with_change(base_config(tmp_path), path, value)
    conf = tmp_path / "dfotad.json"
    conf.write_text(json.dumps(cfg))

    r = run_dfotad(["--config", str(conf)])

    assert r.returncode == 1, f"exit {r.returncode}, stderr: {r.stderr}"
    lines = [line for line in r.stderr.splitlines() if str(conf) in line]
    assert lines, f"no stderr line names {conf}: {r.stderr!r}"
    assert any(all(w in line for w in words) for line in lines), \
        f"no line names {words}: {r.stderr!r}"


def test_valid_config_is_accepted_by_the_error_cases_baseline(harness):
    """The error cases above start from this config: it must be valid, or they prove nothing."""
    sim = harness.start_sim("ec25-http-success")
    cfg = base_config(harness.tmp)
    cfg["modems"][0]["port"] = sim.link
    harness.start_daemon(cfg)
    assert harness.daemon.stop() == 0


def test_malformed_json_config(tmp_path):
    conf = tmp_path / "dfotad.json"
    conf.write_text('{"modems": [ {"port": "/dev/ttyUSB2", }')
    r = run_dfotad(["--config", str(conf)])
    assert r.returncode == 1
    assert any(str(conf) in line for line in r.stderr.splitlines()), r.stderr
    assert "json" in r.stderr.lower(), r.stderr


def test_missing_explicit_config(tmp_path):
    conf = tmp_path / "nope.json"
    r = run_dfotad(["--config", str(conf)])
    assert r.returncode == 1
    assert str(conf) in r.stderr, r.stderr


def test_config_error_sends_no_ready(harness):
    conf = harness.write_config(text='{"timeouts": {"urc_watchdog": 0}}')
    d = harness.start_daemon(config_path=conf, ready=False)
    assert d.wait_exit(10) == 1
    assert "timeouts.urc_watchdog" in d.stderr()
    assert "READY=1" not in harness.notify.lines()


def test_ready_status_then_stopping_on_sigterm(harness):
    harness.start_sim("ec25-http-success")
    d = harness.start_daemon()
    # READY=1 promises the inbox is watched.
    assert harness.inbox.is_dir()
    status = harness.wait_notify("STATUS=", pid=d.pid)
    assert len(status) > len("STATUS="), "empty STATUS="

    d.signal(signal.SIGTERM)
    harness.wait_notify("STOPPING=1", pid=d.pid)
    assert d.wait_exit(10) == 0
    # Without WATCHDOG_USEC the daemon must not ping.
    assert "WATCHDOG=1" not in harness.notify.lines(pid=d.pid)


def test_sigint_exits_cleanly(harness):
    harness.start_sim("ec25-http-success")
    d = harness.start_daemon()
    d.signal(signal.SIGINT)
    assert d.wait_exit(10) == 0


def test_watchdog_pings(harness):
    harness.start_sim("ec25-http-success")
    d = harness.start_daemon(env={"WATCHDOG_USEC": "200000"})
    # sd-event pings at a quarter to a half of the period: a handful within a second.
    harness.wait_notify("WATCHDOG=1", timeout=2, pid=d.pid, count=4)
    assert d.stop() == 0


def test_watchdog_pings_keep_coming_during_a_job(harness):
    """The loop must not block on the modem: pings continue while a job runs."""
    harness.start_sim("ec25-http-success")
    d = harness.start_daemon(env={"WATCHDOG_USEC": "200000"})
    harness.submit_job(make_job("wd-during-job"))
    harness.wait_log(r"Job wd-during-job: \S+ -> DOWNLOADING", timeout=10)
    mark = harness.notify.mark()
    harness.wait_notify("WATCHDOG=1", timeout=2, pid=d.pid, since=mark, count=3)
    assert d.stop() == 0


def test_shipped_example_config_is_valid(harness):
    """config/dfotad.json is what integrators start from: it must load, with only the paths that
    differ on a test machine replaced."""
    cfg = json.loads((SOURCE_ROOT / "config" / "dfotad.json").read_text())
    sim = harness.start_sim("ec25-http-success")
    assert [m["port"] for m in cfg["modems"]] == ["/dev/ttyUSB2"]
    cfg["modems"][0]["port"] = sim.link
    cfg["state_directory"] = str(harness.state_dir)
    d = harness.start_daemon(cfg)
    assert d.stop() == 0
