#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Judges what tests/hardening/check.py gathered in the two runs of verify-unit.sh: first the
jobs themselves, then each hardening setting of dfotad.service: PASS when the setting is in force
on the running daemon and both full jobs succeeded under it, FAIL otherwise. A setting this
systemd or kernel accepts but cannot enforce (cgroup controllers not delegated to the container,
systemd built without BPF_FRAMEWORK) still PASSes on the jobs, and says "not enforced here" with
the probe's evidence. WARN marks what dfotad needs and could not do for a reason outside these
settings (today: the system bus refuses DynamicUser=yes). Exit status 1 if anything FAILed.

usage: judge.py RESULT_INBOX.json RESULT_WATCHDOG.json
"""

import json
import re
import sys

failed = False


def verdict(name, ok, lines, note=None):
    global failed
    failed |= not ok
    print(f"{'PASS' if ok else 'FAIL'}  {name}" + (f"  [{note}]" if note else ""))
    for l in lines:
        print(f"        {l}")


def probes(r, setting):
    return [p for p in r.get("probe", []) if p["setting"] == setting]


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        print(f"FAIL  {path}: {e} (did the container boot? see console.log beside it)")
        sys.exit(1)


def main():
    runs = [load(p) for p in sys.argv[1:3]]
    inbox, wd = runs
    print(f"systemd in the container: {inbox.get('systemd_version', '?')}")
    bpf = "+BPF_FRAMEWORK" in inbox.get("systemd_version", "")

    # ---- the jobs ----
    job_ok = {}
    for r in runs:
        rec = r.get("record") or {}
        show = r.get("show", {})
        starts = sum(1 for e in r.get("sim_events", []) if e["event"] == "dfota_start")
        lines = [
            f"job {r['job_id']} via {r['plane']}: {rec.get('state')} in {r.get('job_seconds')} s, "
            f"attempt {rec.get('attempt')}, watchdog_resets {rec.get('watchdog_resets')}, AT+QFOTADL accepted {starts}x",
            f"dfotad: Result={show.get('Result')} NRestarts={show.get('NRestarts')} "
            f"MainPID {r.get('main_pid_at_start')} -> {r.get('main_pid_at_end')}",
            f"MQTT over TLS after the end: {'seen' if r.get('mqtt_after_end') else 'NOT seen'} "
            f"({len(r.get('mqtt_published', []))} messages from dfotad)",
        ]
        ok = (rec.get("state") == "SUCCEEDED" and starts == 1 and show.get("NRestarts") == "0"
              and show.get("Result") == "success" and r.get("main_pid_at_start") == r.get("main_pid_at_end")
              and r.get("mqtt_after_end") is True and not r.get("errors"))
        if r is wd:
            resets = [e for e in r.get("sim_events", []) if e["event"] == "reset"]
            child = [l for l in r.get("journal_dfotad", "").splitlines() if "Reset command" in l]
            lines.append(f"module resets seen by the simulator: {[e.get('via') for e in resets]}; "
                         f"dfotad: {[l.split(': ', 1)[-1] for l in child]}")
            ok &= ((rec.get("watchdog_resets") or 0) >= 1 and any(e.get("via") == "signal" for e in resets)
                   and any("Reset command finished" in l for l in child)
                   and not any("failed" in l for l in child))
        lines += [f"error: {e}" for e in r.get("errors", [])]
        job_ok[r["run"]] = ok
        verdict(f"full job, run {r['run']}", ok, lines)
    jobs = all(job_ok.values())

    def on_daemon(key):
        return [r.get("show", {}).get(key) for r in runs]

    # ---- SystemCallFilter ----
    allow = inbox.get("show", {}).get("SystemCallFilter", "").split()
    denied_present = [c for c in ("setuid", "chown", "chroot", "setpriority", "sched_setaffinity", "setrlimit")
                      if c in allow]
    log = inbox.get("journal_dfotad", "") + wd.get("journal_dfotad", "")
    eperm = [l for l in log.splitlines() if "Operation not permitted" in l or "EPERM" in l]
    # SIGSYS on dfotad itself (the service manager's words) or on the reset program (dfotad's).
    sigsys = [l for r in runs for l in r.get("journal_pid1", []) + r.get("journal_kernel", [])
              + r.get("journal_dfotad", "").splitlines()
              if re.search(r"31/SYS|SIGSYS|signal=SYS|Bad system call|seccomp|\(signal 31\)", l)]
    p = probes(inbox, "SystemCallFilter")
    must_fail = [x for x in p if "[@" in x["what"]]
    must_work = [x for x in p if "[needed]" in x["what"]]
    ok = (jobs and not denied_present and not eperm and not sigsys
          and all(r.get("proc_status", {}).get("Seccomp") == "2" for r in runs)
          and must_fail and all(x["outcome"] == "EPERM" for x in must_fail)
          and all(x["outcome"] == "ok" for x in must_work))
    verdict("SystemCallFilter=~@privileged @resources", ok, [
        f"Seccomp mode on dfotad: {[r.get('proc_status', {}).get('Seccomp') for r in runs]}, "
        f"filters {[r.get('proc_status', {}).get('Seccomp_filters') for r in runs]}",
        f"denied calls still in the effective allow list: {denied_present or 'none'}",
        f"EPERM in dfotad's log (run inbox: EPERM action): {eperm or 'none'}",
        f"SIGSYS/seccomp in the journal (run watchdog: kill action, the reset program ran under it): {sigsys or 'none'}",
    ] + [f"probe {x['what']}: {x['outcome']}" for x in p])

    # ---- PrivateMounts ----
    ns = [r.get("mnt_ns", {}) for r in runs]
    ok = jobs and on_daemon("PrivateMounts") == ["yes", "yes"] and all(n.get("dfotad") != n.get("pid1") for n in ns)
    verdict("PrivateMounts=yes", ok, [f"mount namespace dfotad {n.get('dfotad')} vs PID 1 {n.get('pid1')}" for n in ns])

    # ---- ProcSubset ----
    pu = [r.get("proc_in_unit", {}) for r in runs]
    p = probes(inbox, "ProcSubset")
    ok = (jobs and on_daemon("ProcSubset") == ["pid", "pid"]
          and all(not x.get("meminfo") and not x.get("sys") and x.get("self_status") for x in pu)
          and all(("[needed]" in x["what"]) == (x["outcome"] == "ok") for x in p))
    verdict("ProcSubset=pid", ok, [f"dfotad's /proc: meminfo {x.get('meminfo')}, sys {x.get('sys')}, self {x.get('self_status')}; "
                                   f"options {x.get('mount_options')}" for x in pu]
            + [f"probe {x['what']}: {x['outcome']}" for x in p])

    # ---- UMask ----
    files = {k: v for r in runs for k, v in r.get("state_files", {}).items()}
    loose = {k: v for k, v in files.items() if int(v, 8) & 0o077}
    ok = (jobs and on_daemon("UMask") == ["0077", "0077"] and files and not loose
          and all(r.get("proc_status", {}).get("Umask") == "0077" for r in runs))
    verdict("UMask=0077", ok, [f"dfotad's umask: {[r.get('proc_status', {}).get('Umask') for r in runs]}",
                               f"state files: {len(files)}, any group/other bits: {loose or 'none'}"])

    # ---- SocketBindDeny ----
    p = probes(inbox, "SocketBindDeny")
    enforced = p and all(x["outcome"] in ("EPERM", "EACCES") for x in p)
    note = None if enforced else ("not enforced here: this systemd is built -BPF_FRAMEWORK" if not bpf
                                  else "NOT ENFORCED although systemd has BPF_FRAMEWORK")
    ok = jobs and on_daemon("SocketBindDeny") == ["any", "any"] and (enforced or not bpf)
    verdict("SocketBindDeny=any", ok, [f"probe {x['what']}: {x['outcome']}" for x in p], note)

    # ---- RestrictFileSystems ----
    p = probes(inbox, "RestrictFileSystems")
    tried = [x for x in p if x["outcome"] != "none mounted"]
    enforced = tried and all(x["outcome"] in ("EPERM", "EACCES") for x in tried)
    # systemd enforces it only when /sys/kernel/security/lsm lists "bpf" (no securityfs in nspawn).
    lsm = inbox.get("lsm", "")
    no_lsm = "bpf" not in lsm.split(",")
    note = None if enforced else ("not enforced here: this systemd is built -BPF_FRAMEWORK" if not bpf else
                                  f"not enforced here: /sys/kernel/security/lsm is {lsm}" if no_lsm else
                                  "not tried: no bpf, debugfs, tracefs or pstore mounted here" if not tried else
                                  "NOT ENFORCED although systemd has BPF_FRAMEWORK and the BPF LSM")
    ok = jobs and (enforced or not bpf or no_lsm or not tried)
    verdict("RestrictFileSystems=~@privileged-api", ok, [f"probe {x['what']}: {x['outcome']}" for x in p], note)

    # ---- TasksMax ----
    p = probes(inbox, "TasksMax")
    threads = [r.get("proc_status", {}).get("Threads") for r in runs]
    cg = {k: v for r in runs for k, v in r.get("cgroup", {}).items() if "pids" in k}
    enforced = p and p[0]["outcome"] == "EAGAIN"
    ok = jobs and on_daemon("TasksMax") == ["16", "16"] and threads == ["1", "1"]
    verdict("TasksMax=16", ok, [f"dfotad's threads: {threads}; TasksCurrent sampled during the jobs (max): "
                                f"{[r.get('sampled_max_tasks') for r in runs]}",
                                f"cgroup: {cg or 'no pids controller in the container'}"]
            + [f"probe {x['what']}: {x['outcome']} after {x.get('forked')}" for x in p],
            None if enforced else "not enforced in the container (no pids controller): limits.sh below")

    # ---- MemoryMax ----
    p = probes(inbox, "MemoryMax")
    hwm = [r.get("vmhwm_kib") for r in runs]
    limit = on_daemon("MemoryMax")
    cg = {k: v for r in runs for k, v in r.get("cgroup", {}).items() if "memory" in k}
    enforced = p and p[0]["outcome"].startswith("killed")
    ok = (jobs and limit[0] == limit[1] and limit[0].isdigit() and all(h and h * 1024 * 4 <= int(limit[0]) for h in hwm))
    verdict(f"MemoryMax={int(limit[0]) >> 20 if limit[0].isdigit() else limit[0]}M", ok, [
        f"dfotad's peak RSS (VmHWM) per run: {[f'{h} KiB' for h in hwm]}, limit {limit[0]} bytes "
        f"(peak must stay under a quarter of it)",
        f"sampled VmRSS max: {[r.get('sampled_max_vmrss_kib') for r in runs]} KiB; MemoryCurrent: {on_daemon('MemoryCurrent')}",
        f"cgroup: {cg or 'no memory controller in the container'}",
    ] + [f"probe {x['what']}: {x['outcome']}" for x in p],
        None if enforced else "not enforced in the container (no memory controller): limits.sh below")

    # ---- README's IPAddressDeny=any + IPAddressAllow= drop-in (run watchdog has it) ----
    ipp = wd.get("ip_probe", {})
    dropin = "0.0.0.0/0" in wd.get("show", {}).get("IPAddressDeny", "")
    unsupported = wd.get("ip_firewall_unsupported")
    ok = (job_ok.get("watchdog") and dropin and ipp.get("deny+allow localhost") == "ok"
          and ipp.get("deny", "ok") != "ok" and not unsupported)
    verdict("README drop-in IPAddressDeny=any + IPAddressAllow=localhost (run watchdog: its job came over MQTT)", ok, [
        f"dfotad: IPAddressDeny={wd.get('show', {}).get('IPAddressDeny')} IPAddressAllow={wd.get('show', {}).get('IPAddressAllow')}",
        f"probe connect to the broker with IPAddressDeny=any alone: {ipp.get('deny')}; with IPAddressAllow=localhost: "
        f"{ipp.get('deny+allow localhost')}",
        f"service manager: {unsupported or 'BPF/cgroup firewalling supported'}",
    ])

    # ---- the system bus (ModemManager), which dfotad needs and no setting here may block ----
    mm = [l.split(": ", 1)[-1] for r in runs for l in r.get("journal_dfotad", "").splitlines() if "ModemManager" in l]
    if mm and not any(l.startswith("Cannot") for l in mm):
        print("PASS  the system bus: dfotad asked it about ModemManager")
    else:
        # Not a setting of this check: with DynamicUser=yes, dbus-daemon (which systemd runs with
        # SYSTEMD_NSS_DYNAMIC_BYPASS=1) cannot resolve the UID and drops the connection at Hello.
        print("WARN  the system bus: dfotad could not ask it about ModemManager (DynamicUser=yes and "
              "dbus-daemon; a static User= reaches it)")
    for l in mm:
        print(f"        {l}")

    # ---- the score ----
    for r in runs:
        m = re.search(r"Overall exposure level for dfotad.service: ([0-9.]+)", r.get("security", ""))
        print(f"info  systemd-analyze security dfotad (online, run {r['run']}): {m.group(1) if m else '?'}")

    print("RESULT: " + ("FAIL" if failed else "PASS"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
