#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Runs as dfotad-probe.service: dfotad.service's own [Service] settings (verify-unit.sh copies
them) around this program instead of dfotad. Each probe tries one thing a setting forbids and
prints one JSON line: what it tried, and the errno it got ("ok" when nothing stopped it). Every
call here succeeds for an unprivileged process without the settings, so "ok" means "not
enforced". The memory probe comes last: when MemoryMax= holds, the kernel kills its child."""

import errno
import json
import os
import resource
import socket
import sys


def emit(setting, what, outcome, **extra):
    print(json.dumps({"setting": setting, "what": what, "outcome": outcome, **extra}), flush=True)


def attempt(setting, what, fn):
    try:
        fn()
        emit(setting, what, "ok")
    except OSError as e:
        emit(setting, what, errno.errorcode.get(e.errno, str(e.errno)))


def bind(family, addr):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((addr, 0))


def open_path(path):
    os.close(os.open(path, os.O_RDONLY))


def privileged_api_mounts():
    """Mount points of the file systems RestrictFileSystems=~@privileged-api names, from our own
    mountinfo (a /proc/self file: ProcSubset=pid keeps it)."""
    kinds = {"bpf", "debugfs", "pstore", "tracefs"}  # systemd-analyze filesystems @privileged-api
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fstype = right.split()[0]
            if fstype in kinds:
                found.append((left.split()[4], fstype))
    return found


def tasks_probe():
    """Fork children that wait on a pipe until fork fails; report how many the unit allowed."""
    r, w = os.pipe()
    children, failure = [], "ok"
    for _ in range(64):
        try:
            pid = os.fork()
        except OSError as e:
            failure = errno.errorcode.get(e.errno, str(e.errno))
            break
        if pid == 0:
            os.close(w)
            os.read(r, 1)
            os._exit(0)
        children.append(pid)
    os.close(w)
    for pid in children:
        os.waitpid(pid, 0)
    os.close(r)
    emit("TasksMax", "fork until refused (64 at most)", failure, forked=len(children))


def memory_probe(mib):
    """A child touches mib MiB; under MemoryMax= below that it is killed by the OOM killer."""
    pid = os.fork()
    if pid == 0:
        try:
            b = bytearray(mib << 20)
            for i in range(0, len(b), 4096):
                b[i] = 1
        except MemoryError:
            os._exit(3)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        outcome = f"killed by signal {os.WTERMSIG(status)}"
    elif os.WEXITSTATUS(status) == 3:
        outcome = "MemoryError"
    else:
        outcome = "ok"
    emit("MemoryMax", f"touch {mib} MiB in a child", outcome)


def main():
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 256

    with open("/proc/self/status") as f:
        st = dict(l.rstrip("\n").split(":\t", 1) for l in f if ":\t" in l)
    emit("UMask", "umask of the process", st.get("Umask"))
    emit("SystemCallFilter", "seccomp mode", st.get("Seccomp"))

    # @privileged: setuid() to our own uid and chown() of our own file to ourselves are allowed
    # to any process; the filter answers EPERM.
    attempt("SystemCallFilter", "setuid(getuid()) [@privileged]", lambda: os.setuid(os.getuid()))
    path = "/tmp/probe-chown"
    with open(path, "w"):
        pass
    attempt("SystemCallFilter", "chown(own file, own uid) [@privileged]", lambda: os.chown(path, os.getuid(), os.getgid()))
    os.unlink(path)
    # @resources: lowering our own priority or pinning ourselves to the CPUs we have is allowed too.
    attempt("SystemCallFilter", "setpriority(+5) [@resources]", lambda: os.setpriority(os.PRIO_PROCESS, 0, 5))
    attempt("SystemCallFilter", "sched_setaffinity(own CPUs) [@resources]",
            lambda: os.sched_setaffinity(0, os.sched_getaffinity(0)))
    attempt("SystemCallFilter", "setrlimit(NOFILE, same) [glibc: prlimit64, not in @resources]",
            lambda: resource.setrlimit(resource.RLIMIT_NOFILE, resource.getrlimit(resource.RLIMIT_NOFILE)))
    # What dfotad needs stays: a TCP socket, a netlink socket, an inotify-capable exec.
    attempt("SystemCallFilter", "socket(AF_INET) + socket(AF_NETLINK) [needed]",
            lambda: [socket.socket(socket.AF_INET, socket.SOCK_STREAM).close(),
                     socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 15).close()])

    attempt("ProcSubset", "stat /proc/meminfo", lambda: os.stat("/proc/meminfo"))
    attempt("ProcSubset", "stat /proc/sys/kernel", lambda: os.stat("/proc/sys/kernel"))
    attempt("ProcSubset", "stat /proc/self/status [needed]", lambda: os.stat("/proc/self/status"))

    attempt("SocketBindDeny", "bind(127.0.0.1:0)", lambda: bind(socket.AF_INET, "127.0.0.1"))
    attempt("SocketBindDeny", "bind([::1]:0)", lambda: bind(socket.AF_INET6, "::1"))

    mounts = privileged_api_mounts()
    if not mounts:
        emit("RestrictFileSystems", "open a @privileged-api file system", "none mounted")
    for mnt, fstype in mounts[:3]:
        attempt("RestrictFileSystems", f"open {mnt} ({fstype})", lambda m=mnt: open_path(m))

    tasks_probe()
    memory_probe(mib)


if __name__ == "__main__":
    main()
