# SPDX-License-Identifier: MIT
"""Modem hotplug through udev (issue 4), under umockdev: discovery at start and on hot-add, the
AT port followed across the DFOTA reboots while the module re-enumerates under new tty names,
the fallback table when the udev rules are not installed, two modules upgraded at once, unplug
while idle and while downloading, a flapping port. The test bed is umockdev_bed.py; dfotad runs
in it with no static "modems" in its config.

Run under umockdev-wrapper (tests/meson.build does):
  umockdev-wrapper /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_hotplug.py
"""

import json
import os
import re
import time

import pytest

from conftest import HTTP_URL, SCENARIOS, SOURCE_VERSION, make_job, states

REQUIRED = bool(os.environ.get("DFOTAD_REQUIRE_UMOCKDEV"))   # set by meson: never skip there

try:
    from umockdev_bed import Bed
except (ImportError, ValueError) as e:   # no python3-gi, or no UMockdev typelib
    if REQUIRED:
        raise
    pytest.skip(f"umockdev's GObject bindings are not available: {e}", allow_module_level=True)

if "libumockdev-preload" not in os.environ.get("LD_PRELOAD", ""):
    if REQUIRED:
        raise RuntimeError("test_hotplug.py must run under umockdev-wrapper")
    pytest.skip("not running under umockdev-wrapper", allow_module_level=True)

EC25_IMEI = "861234567890123"
EP06_IMEI = "862345678901234"
EP06_SOURCE = "EP06ELAR03A05M4G"
EP06_TARGET = "EP06ELAR03A06M4G"


def identified(busport, model="EC25", revision=SOURCE_VERSION, imei=EC25_IMEI, family="ec2x"):
    return (rf"Modem {re.escape(busport)}: Module {model}, revision {revision}, IMEI {imei}, "
            rf"family {family}$")


@pytest.fixture
def bed(harness):
    b = Bed(harness.tmp, on_sim=harness.sims.append)
    harness.extra_diagnostics.append(("umockdev bed", b.log_text))
    try:
        yield b
    finally:
        # dfotad runs in the test bed: it stops (and LeakSanitizer checks it) before the bed goes.
        harness.stop_daemons()
        b.close()
    assert not b.errors, f"the test bed: {b.errors}"


def start(harness, bed, **overrides):
    """dfotad on the bed, with no static port: hotplug finds the modules."""
    cfg = harness.config(**overrides)
    del cfg["modems"]
    return harness.start_daemon(cfg, env=bed.env())


def untouched(bed, ttys):
    """Fails with what happened to any of ttys that dfotad opened or wrote to."""
    seen = {t.name: t.touched() for t in ttys}
    seen = {k: v for k, v in seen.items() if v}
    assert not seen, f"dfotad touched ttys that are no AT port: {seen}"


def non_at_ttys(bed):
    at = {id(t) for m in bed.modules for t in m.history}
    return [t for t in bed.ttys if id(t) not in at]


def assert_fds(bed, daemon, want, when):
    got = bed.fds_on(daemon.pid)
    assert got == want, f"{when}: dfotad's fds on the bed's ttys are {got}, want {want}"


def port_opened(harness, busport, devnode, since=0, timeout=10):
    return harness.wait_log(rf"Modem {re.escape(busport)}: AT port {re.escape(devnode)} opened$",
                            timeout=timeout, since=since)


# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rules", [True, False], ids=["rules", "fallback-table"])
def test_discovery_at_start_opens_only_the_at_port(harness, bed, rules):
    ec = bed.add_module("1-1", "EC25", rules=rules)
    ftdi = bed.add_ftdi("1-3")          # 0403:6011: its interface 02 is no Quectel AT port
    d = start(harness, bed)
    harness.wait_log(r"Hotplug: 1 Quectel AT port\(s\) among 8 ttys")
    harness.wait_log(identified("1-1"))
    assert ec.at.devnode == "/dev/ttyUSB2"
    port_opened(harness, "1-1", "/dev/ttyUSB2")

    table = d.grep(r"recognised from the built-in USB table")
    if rules:
        assert not table, "the rules' DFOTAD_PORT_TYPE was there, yet dfotad used its table"
    else:
        assert len(table) == 1 and table[0].endswith(
            "Modem 1-1: /dev/ttyUSB2 recognised from the built-in USB table (2c7c:0125, interface 02) "
            "because udev gave it no DFOTAD_PORT_TYPE; install 77-dfotad-quectel.rules in the udev rules "
            "directory and run \"udevadm control --reload\""), table

    # The module was asked who it is, on its AT port only.
    rx = ec.sim.rx_lines()
    assert "ATI" in rx and any(x.upper() in ("AT+GSN", "AT+CGSN") for x in rx), rx
    untouched(bed, [ec.ttys[n] for n in (0, 1, 3)] + ftdi)
    assert_fds(bed, d, {ec.at.pts: 1}, "after identification")


def test_hotplug_false_in_config_leaves_modules_alone(harness, bed):
    ec = bed.add_module("1-1", "EC25")
    d = start(harness, bed, hotplug=False)       # READY=1 comes after discovery would have run
    harness.wait_log(r"Hotplug: disabled in the configuration; serving the configured ports only")
    assert not d.grep(r"Modem 1-1"), d.grep(r"Modem 1-1")
    assert not [e for e in ec.sim.events() if e["event"] == "daemon_opened"]
    assert_fds(bed, d, {}, "with hotplug disabled")


def test_hot_add_after_start(harness, bed):
    d = start(harness, bed)
    harness.wait_log(r"Hotplug: no Quectel module among 0 ttys; watching udev for modules being plugged in")
    ftdi = bed.add_ftdi("1-3")
    ec = bed.add_module("1-1", "EC25", plugged=False)
    mark = d.mark()
    ec.plug()
    harness.wait_log(identified("1-1"), since=mark)
    port_opened(harness, "1-1", "/dev/ttyUSB2", since=mark)
    untouched(bed, [ec.ttys[n] for n in (0, 1, 3)] + ftdi)
    assert_fds(bed, d, {ec.at.pts: 1}, "after identification")


@pytest.mark.parametrize("rules", [True, False], ids=["rules", "fallback-table"])
def test_dfota_follows_the_port_across_reenumerations(harness, bed, rules):
    """Both reboots re-enumerate the module: remove uevents for all of it, then it comes back with
    new tty names; the job goes on on ttyUSB6, then ttyUSB10."""
    ec = bed.add_module("1-1", "EC25", rules=rules)
    bed.add_ftdi("1-3")
    d = start(harness, bed)
    harness.wait_log(identified("1-1"))
    harness.submit_job(make_job("hp-dfota", modem={"imei": EC25_IMEI}))
    rec = harness.wait_record_terminal("hp-dfota", timeout=30)

    assert rec["state"] == "SUCCEEDED", rec
    assert ec.sim.qfotadl_count() == 1
    assert states(rec).count("WAITING_FOR_MODEM") == 2, states(rec)
    assert [t.devnode for t in ec.history] == ["/dev/ttyUSB2", "/dev/ttyUSB6", "/dev/ttyUSB10"]
    assert rec["modem"]["port"] == "/dev/ttyUSB10", rec["modem"]   # where the module is now
    # It went by the uevents: each port's removal was seen, each new port opened.
    for old in ("/dev/ttyUSB2", "/dev/ttyUSB6"):
        assert d.grep(rf"Modem 1-1: AT port {re.escape(old)} removed$"), f"no removal of {old} logged"
    for new in ("/dev/ttyUSB6", "/dev/ttyUSB10"):
        port_opened(harness, "1-1", new)
    # The module saw the daemon on each incarnation of its port.
    opened = [e for e in ec.sim.events() if e["event"] == "daemon_opened"]
    assert len(opened) == 3, opened
    if not rules:
        # Once per device, not once per re-enumeration.
        assert len(d.grep(r"recognised from the built-in USB table")) == 1
    untouched(bed, non_at_ttys(bed))
    assert_fds(bed, d, {ec.at.pts: 1}, "after the job")


def test_two_modules_upgraded_at_once(harness, bed):
    ec = bed.add_module("1-1", "EC25", scenario="ec25-http-success")
    ep = bed.add_module("1-2", "EP06", scenario="ep06-http-success")
    d = start(harness, bed)
    harness.wait_log(r"Hotplug: 2 Quectel AT port\(s\) among 8 ttys")
    harness.wait_log(identified("1-1"))
    harness.wait_log(identified("1-2", "EP06", EP06_SOURCE, EP06_IMEI, "ep06"))

    harness.submit_job(make_job("hp-ec25", modem={"imei": EC25_IMEI}))
    harness.submit_job(make_job("hp-ep06", modem={"imei": EP06_IMEI}, source_version=EP06_SOURCE,
                                target_version=EP06_TARGET,
                                package={"url": "http://fw.example.net/ep06/a05-a06.zip"}))
    recs = {j: harness.wait_record_terminal(j, timeout=30) for j in ("hp-ec25", "hp-ep06")}
    for j, rec in recs.items():
        assert rec["state"] == "SUCCEEDED", rec
        assert states(rec).count("WAITING_FOR_MODEM") == 2, states(rec)
    assert recs["hp-ec25"]["modem"]["imei"] == EC25_IMEI
    assert recs["hp-ep06"]["modem"]["imei"] == EP06_IMEI
    assert recs["hp-ec25"]["modem"]["port"] == ec.at.devnode
    assert recs["hp-ep06"]["modem"]["port"] == ep.at.devnode
    assert ec.sim.qfotadl_count() == 1 and ep.sim.qfotadl_count() == 1
    assert ec.sim.rx_lines().count(f'AT+QFOTADL="{HTTP_URL}"') == 1
    assert ep.sim.rx_lines().count('AT+QFOTADL="http://fw.example.net/ep06/a05-a06.zip"') == 1

    # Concurrent, not one after the other: each started downloading before the other ended.
    lines = d.stderr().split("\n")

    def first(regex):
        idx = [i for i, line in enumerate(lines) if re.search(regex, line)]
        assert idx, f"dfotad never logged /{regex}/"
        return idx[0]
    for a, b in (("hp-ec25", "hp-ep06"), ("hp-ep06", "hp-ec25")):
        assert first(rf"Job {a}: \S+ -> DOWNLOADING") < first(rf"Job {b}: \S+ -> SUCCEEDED"), \
            f"{a} only started downloading after {b} had ended"
    untouched(bed, non_at_ttys(bed))
    assert_fds(bed, d, {ec.at.pts: 1, ep.at.pts: 1}, "after both jobs")


def test_unplug_while_idle_forgets_plug_back_finds(harness, bed):
    ec = bed.add_module("1-1", "EC25")
    d = start(harness, bed)
    harness.wait_log(identified("1-1"))
    mark = d.mark()
    ec.unplug()
    harness.wait_log(r"Modem 1-1: forgotten \(AT port /dev/ttyUSB2 gone, no job\)$", since=mark)
    assert_fds(bed, d, {}, "after the module was forgotten")

    mark = d.mark()
    ec.plug()
    assert ec.at.devnode == "/dev/ttyUSB6"
    harness.wait_log(identified("1-1"), since=mark)
    port_opened(harness, "1-1", "/dev/ttyUSB6", since=mark)
    assert [e.get("power_on") for e in ec.sim.events() if e["event"] == "port_up"] == [None, True]
    untouched(bed, non_at_ttys(bed))
    assert_fds(bed, d, {ec.at.pts: 1}, "after the module came back")


def test_unplug_while_downloading_never_back_fails_after_port_return(harness, bed):
    # var-silent-download: HTTPSTART, then 2 s of silence: the download phase lasts.
    ec = bed.add_module("1-1", "EC25", scenario="var-silent-download")
    port_return = 1.5
    d = start(harness, bed, timeouts={"port_return": port_return})
    harness.wait_log(identified("1-1"))
    harness.submit_job(make_job("hp-gone", modem={"imei": EC25_IMEI}))
    harness.wait_log(r"Job hp-gone: \S+ -> DOWNLOADING\b")
    mark = d.mark()
    t0 = time.monotonic()
    ec.unplug()
    harness.wait_log(r"Modem 1-1: AT port /dev/ttyUSB2 removed$", since=mark)
    rec = harness.wait_record_terminal("hp-gone", timeout=15)
    elapsed = time.monotonic() - t0

    assert rec["state"] == "FAILED", rec
    assert "WAITING_FOR_MODEM" in states(rec), states(rec)
    assert re.search(r"did not come back|never came back|not come back", rec["reason"] or ""), rec["reason"]
    assert "/dev/ttyUSB2" in rec["reason"], rec["reason"]
    assert elapsed >= port_return * 0.9, f"FAILED after {elapsed:.2f}s, before port_return ({port_return}s)"
    assert ec.sim.qfotadl_count() == 1
    assert d.running()
    assert_fds(bed, d, {}, "after the job failed")


UC20_IMEI = "864567890123456"          # tests/sim/scenarios/ucxx-http-success.json
UC20_SOURCE = "UC20GQBR03A12E1G"


@pytest.mark.parametrize("select", ["imei", "usb_path"])
def test_hotplugged_uc20_gets_its_pdp_settings(harness, bed, select):
    """Issue 10 item 10: a "modems" entry names a USB module by IMEI or USB path and carries its
    "pdp": the UC20 found through udev sets up that PDP context before AT+QFOTADL (UMTS/HSPA DFOTA
    guide §3.1/3.2), once each; its password is never logged."""
    password = "s3cr3t-hotplug-apn"
    pw = harness.tmp / "apn-password"
    pw.write_text(password + "\n")
    entry = {"imei": UC20_IMEI} if select == "imei" else {"usb_path": "1-4"}
    entry["pdp"] = {"cid": 3, "apn": "hotplug.example", "username": "fleet", "auth": "chap",
                    "password_file": str(pw)}
    uc = bed.add_module("1-4", "UC20", scenario="ucxx-http-success")
    cfg = harness.config()
    cfg["modems"] = [entry]
    d = harness.start_daemon(cfg, env=bed.env(), args=["--log-level", "debug"])
    harness.wait_log(identified("1-4", model="UC20", revision=UC20_SOURCE, imei=UC20_IMEI, family="ucxx"))
    sc = json.loads((SCENARIOS / "ucxx-http-success.json").read_text(encoding="utf-8"))
    harness.submit_job(make_job("hp-uc20", source_version=UC20_SOURCE, target_version=sc["target_revision"],
                                modem={"imei": UC20_IMEI}))
    rec = harness.wait_record_terminal("hp-uc20", timeout=30)

    assert rec["state"] == "SUCCEEDED", rec
    rx = uc.sim.rx_lines()
    qicsgp = f'AT+QICSGP=3,1,"hotplug.example","fleet","{password}",2'
    qcfg = 'AT+QCFG="fota/cid",3'
    assert rx.count(qicsgp) == 1, f"AT+QICSGP sent {rx.count(qicsgp)} times: {rx}"
    assert rx.count(qcfg) == 1, rx
    qfotadl = next(i for i, line in enumerate(rx) if line.upper().startswith("AT+QFOTADL"))
    assert rx.index(qicsgp) < rx.index(qcfg) < qfotadl, rx
    assert uc.sim.qfotadl_count() == 1
    assert not d.grep(re.escape(password)), "the APN password is in the daemon's log"


def test_flapping_storm(harness, bed):
    """50 remove/add uevent pairs of the AT tty in a burst (the device stays: a flaky hub), then
    quiet: dfotad survives, runs one channel on the port, and a job afterwards just works."""
    ec = bed.add_module("1-1", "EC25")
    d = start(harness, bed)
    harness.wait_log(identified("1-1"))
    ec.flap(50)
    # A marker after the storm: once a module plugged in after it is identified, dfotad has
    # handled every event of the storm (udev events arrive in order).
    mark = d.mark()
    ep = bed.add_module("1-2", "EP06", scenario="ep06-http-success", plugged=False)
    ep.plug()
    harness.wait_log(identified("1-2", "EP06", EP06_SOURCE, EP06_IMEI, "ep06"), since=mark)
    assert d.running()
    assert bed.fds_on(d.pid).get(ec.at.pts, 0) <= 1, f"two channels on {ec.at.devnode}: {bed.fds_on(d.pid)}"

    harness.submit_job(make_job("hp-storm", modem={"imei": EC25_IMEI}))
    rec = harness.wait_record_terminal("hp-storm", timeout=30)
    assert rec["state"] == "SUCCEEDED", rec
    assert ec.sim.qfotadl_count() == 1
    assert_fds(bed, d, {ec.at.pts: 1, ep.at.pts: 1}, "after the job")
    untouched(bed, non_at_ttys(bed))
    assert not d.sanitizer_reports(), d.sanitizer_reports()
