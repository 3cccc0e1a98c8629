#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Runs inside the booted container as dfotad-check.service (root, After=dfotad.service): submits
one job through the inbox, waits for its record to end, gathers what the unit's settings did to the
running daemon, runs the probe unit, writes everything to RESULT_DIR/result.json and powers the
container off. tests/hardening/verify-unit.sh judges the result on the host.

usage: check.py RUN_NAME JOB_ID JOB_TIMEOUT_SECONDS inbox|mqtt

"inbox" renames the job document into the inbox (README "Submit a job"); "mqtt" publishes it,
retained, on the plain dialect's job topic over TLS. Either way the MQTT plane is on and every
message dfotad publishes is collected.
"""

import glob
import json
import os
import select
import subprocess
import sys
import time

RESULT_DIR = "/var/lib/dfotad-hardening"
STATE = "/var/lib/dfotad"
MQTT = ["-h", "localhost", "-p", "8883", "--cafile", "/etc/dfotad/hardening-ca.pem"]
DEVICE_ID = "gw-hardening"
ENDS = ("SUCCEEDED", "FAILED", "REJECTED", "CANCELED")


def sh(*argv, check=False, timeout=60):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=check)
    return p.stdout


def show(unit):
    out = {}
    for line in sh("systemctl", "show", unit).splitlines():
        k, _, v = line.partition("=")
        out[k] = v
    return out


def proc_status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = v.strip()
    except OSError:
        pass
    return out


def kib(v):
    # "12345 kB" -> 12345
    try:
        return int(v.split()[0])
    except (AttributeError, IndexError, ValueError):
        return None


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as e:
        return f"<{e.strerror}>"


def unit_cgroup_files(unit):
    """The unit's own cgroup files that say what limit is in force, whichever hierarchy the
    container got (unified: memory.max/pids.max; hybrid/legacy: the v1 controllers)."""
    found = {}
    names = ("memory.max", "memory.peak", "memory.current", "memory.events", "pids.max",
             "pids.current", "pids.events", "memory.limit_in_bytes", "memory.max_usage_in_bytes",
             "memory.usage_in_bytes", "memory.failcnt")
    for d in glob.glob(f"/sys/fs/cgroup/**/{unit}", recursive=True):
        for n in names:
            p = os.path.join(d, n)
            if os.path.exists(p):
                found[p] = read(p)
    return found


class Lines:
    """The lines a subprocess prints, read as they come, each wait bounded by a deadline."""

    def __init__(self, proc):
        self.fd = proc.stdout.fileno()
        self.buf = b""
        self.lines = []

    def wait_for(self, predicate, deadline):
        while not any(predicate(l) for l in self.lines):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                return False
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return False
            self.buf += chunk
            *done, self.buf = self.buf.split(b"\n")
            self.lines.extend(d.decode(errors="replace") for d in done)
        return True


def main():
    run, job_id, job_timeout, plane = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    os.makedirs(RESULT_DIR, exist_ok=True)
    res = {"run": run, "job_id": job_id, "plane": plane, "errors": []}

    res["systemd_version"] = " ".join(sh("systemctl", "--version").split("\n")[:2])
    res["lsm"] = read("/sys/kernel/security/lsm")
    pid = show("dfotad")["MainPID"]
    res["main_pid_at_start"] = pid

    # The MQTT plane's view: every status dfotad publishes for this job, over TLS.
    status_log = os.path.join(RESULT_DIR, "mqtt-status.txt")
    sub = subprocess.Popen(["mosquitto_sub", "-d", *MQTT, "-v", "-t", f"dfotad/{DEVICE_ID}/#"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    sub_lines = Lines(sub)
    # mosquitto_sub -d prints "received SUBACK" once the subscription is in place.
    res["mqtt_subscribed"] = sub_lines.wait_for(lambda l: "SUBACK" in l, time.monotonic() + 10)

    # README "Submit a job": write beside the inbox, then rename into it.
    job = {
        "id": job_id,
        "modem": {"imei": "861234567890123"},
        "source_version": "EC25EFAR06A01M4G",
        "target_version": "EC25EFAR06A02M4G",
        "package": {"url": "http://fw.example.net/ec25/a01-a02.zip"},
    }
    if plane == "inbox":
        tmp = os.path.join(STATE, ".job.tmp")
        with open(tmp, "w") as f:
            json.dump(job, f)
        os.rename(tmp, os.path.join(STATE, "inbox", f"{job_id}.json"))
    else:
        subprocess.run(["mosquitto_pub", *MQTT, "-q", "1", "-r", "-t", f"dfotad/{DEVICE_ID}/jobs/{job_id}",
                        "-m", json.dumps(job)], check=True, timeout=30)
    t0 = time.monotonic()

    # Poll the record (and sample the daemon's memory and task count while the job runs).
    record_path = os.path.join(STATE, "jobs", f"{job_id}.json")
    record, state = None, None
    max_rss, max_tasks = 0, 0
    deadline = t0 + job_timeout
    while time.monotonic() < deadline:
        st = proc_status(pid)
        max_rss = max(max_rss, kib(st.get("VmRSS")) or 0)
        tasks = show("dfotad").get("TasksCurrent", "")
        if tasks.isdigit():
            max_tasks = max(max_tasks, int(tasks))
        try:
            with open(record_path) as f:
                record = json.load(f)
            state = record.get("state")
        except (OSError, ValueError):
            pass
        if state in ENDS:
            break
        time.sleep(0.05)
    res["job_seconds"] = round(time.monotonic() - t0, 2)
    res["record"] = record
    res["record_mode"] = oct(os.stat(record_path).st_mode & 0o777) if os.path.exists(record_path) else None
    res["state_files"] = {p: oct(os.stat(p).st_mode & 0o777)
                          for p in glob.glob(f"{STATE}/**", recursive=True) if os.path.isfile(p)}
    res["sampled_max_vmrss_kib"] = max_rss
    res["sampled_max_tasks"] = max_tasks

    # What dfotad published after the end, over TLS: the job's final status (a job of the MQTT
    # plane) or the inventory with the module's new revision (a job of the inbox).
    if plane == "mqtt":
        want = lambda l: f"/status/{job_id} " in l and f'"state":"{state}"' in l.replace(" ", "")
    else:
        want = lambda l: "/inventory " in l and '"revision":"EC25EFAR06A02M4G"' in l.replace(" ", "")
    res["mqtt_after_end"] = sub_lines.wait_for(want, time.monotonic() + 10)
    sub.terminate()
    sub.wait()
    with open(status_log, "w") as f:
        f.write("\n".join(sub_lines.lines) + "\n")
    res["mqtt_published"] = [l[:300] for l in sub_lines.lines if l.startswith(f"dfotad/{DEVICE_ID}/")]

    # What the unit's settings did to the running daemon.
    pid_now = show("dfotad")["MainPID"]
    res["main_pid_at_end"] = pid_now
    st = proc_status(pid_now)
    res["proc_status"] = {k: st.get(k) for k in ("Umask", "Seccomp", "Seccomp_filters", "NoNewPrivs",
                                                  "CapEff", "CapBnd", "VmHWM", "VmRSS", "Threads", "Uid")}
    res["vmhwm_kib"] = kib(st.get("VmHWM"))
    res["mnt_ns"] = {"dfotad": os.readlink(f"/proc/{pid_now}/ns/mnt"), "pid1": os.readlink("/proc/1/ns/mnt")}
    # The daemon's own /proc: nsenter into its mount namespace.
    res["proc_in_unit"] = {
        "meminfo": subprocess.run(["nsenter", "-t", pid_now, "-m", "test", "-e", "/proc/meminfo"]).returncode == 0,
        "sys": subprocess.run(["nsenter", "-t", pid_now, "-m", "test", "-e", "/proc/sys/kernel"]).returncode == 0,
        "self_status": subprocess.run(["nsenter", "-t", pid_now, "-m", "test", "-e", "/proc/self/status"]).returncode == 0,
        "mount_options": sh("nsenter", "-t", pid_now, "-m", "findmnt", "-no", "OPTIONS", "/proc").strip(),
    }
    res["show"] = show("dfotad")
    res["cgroup"] = unit_cgroup_files("dfotad.service")
    res["cgroup_mounts"] = sh("findmnt", "-rno", "TARGET,FSTYPE", "-t", "cgroup,cgroup2")

    res["security"] = sh("systemd-analyze", "security", "--no-pager", "dfotad.service")

    with open(os.path.join(RESULT_DIR, "journal-dfotad.json"), "w") as f:
        f.write(sh("journalctl", "-b", "-u", "dfotad", "-o", "json", "--no-pager"))
    res["journal_dfotad"] = sh("journalctl", "-b", "-u", "dfotad", "-o", "short-monotonic", "--no-pager")
    # The service manager's own words about the unit (settings it cannot apply, how processes ended).
    res["journal_pid1"] = [l for l in sh("journalctl", "-b", "_PID=1", "-o", "cat", "--no-pager").splitlines()
                           if "dfotad" in l]
    res["journal_kernel"] = [l for l in sh("journalctl", "-b", "-k", "-o", "cat", "--no-pager").splitlines()
                             if "audit" in l or "seccomp" in l or "dfotad" in l]

    # The simulator's log: the reset that reached the module, AT+QFOTADL count.
    res["sim_events"] = []
    try:
        with open("/run/quectel-sim/sim.jsonl") as f:
            for line in f:
                e = json.loads(line)
                if e["event"] in ("reset", "dfota_start", "scenario_end", "error", "reboot"):
                    res["sim_events"].append(e)
    except OSError as e:
        res["errors"].append(f"simulator log: {e}")

    # The probe: the same [Service] settings around a program that tries what they forbid.
    subprocess.run(["systemctl", "start", "dfotad-probe.service"], capture_output=True)
    try:
        with open("/run/dfotad-probe.json") as f:
            res["probe"] = [json.loads(l) for l in f if l.strip()]
    except (OSError, ValueError) as e:
        res["probe"] = []
        res["errors"].append(f"probe: {e}")
    p = show("dfotad-probe")
    res["probe_unit"] = {k: p.get(k) for k in ("Result", "ExecMainStatus", "ExecMainCode", "TasksMax", "MemoryMax")}
    res["probe_journal_pid1"] = [l for l in sh("journalctl", "-b", "_PID=1", "-o", "cat", "--no-pager").splitlines()
                                 if "dfotad-probe" in l]

    # IPAddressDeny=any with and without README's IPAddressAllow=: a transient unit as dfotad's
    # kind of user connects to the broker.
    connect = ("import socket\ntry:\n socket.create_connection(('127.0.0.1', 8883), timeout=2).close(); print('ok')\n"
               "except OSError as e:\n print(type(e).__name__, e.errno)")
    res["ip_probe"] = {}
    for name, props in (("deny", ["IPAddressDeny=any"]),
                        ("deny+allow localhost", ["IPAddressDeny=any", "IPAddressAllow=localhost"])):
        argv = ["systemd-run", "--wait", "--pipe", "-q", "-p", "DynamicUser=yes"]
        for p in props:
            argv += ["-p", p]
        res["ip_probe"][name] = sh(*argv, "/usr/bin/python3", "-c", connect).strip()
    res["ip_firewall_unsupported"] = [l for l in sh("journalctl", "-b", "_PID=1", "-o", "cat", "--no-pager").splitlines()
                                      if "does not support BPF/cgroup firewalling" in l]

    with open(os.path.join(RESULT_DIR, "result.json"), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    try:
        main()
    finally:
        subprocess.run(["systemctl", "poweroff", "--no-block"])
