#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# MemoryMax= and TasksMax= of dfotad.service, enforced by this host's kernel: the container of
# verify-unit.sh gets no memory or pids controller, so this runs the built dfotad here, in cgroups
# with the limits systemd would write (memory.max/pids.max on cgroup v2, memory.limit_in_bytes/
# pids.max on v1), on a full watchdog job: MQTT over TLS on, the module reset by a reset program.
# PASS when the job succeeds, the program ran, nothing was OOM-killed, no fork was refused, and the
# cgroup's memory peak stays under a quarter of MemoryMax=. About 5 s. Called by verify-unit.sh:
#
#   tests/hardening/limits.sh BUILD_DIR CERT_DIR
#
# BUILD_DIR has dfotad and dfotad.service; CERT_DIR the test CA and broker certificate
# (hardening-ca.pem, hardening-server.pem, hardening-server.key) that verify-unit.sh made.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
build=$1
certs=$2
job_timeout=${HARDENING_JOB_TIMEOUT:-60}

mem=$(numfmt --from=iec "$(sed -n 's/^MemoryMax=//p' "$build/dfotad.service")")
tasks=$(sed -n 's/^TasksMax=//p' "$build/dfotad.service")
tmp=$(mktemp -d /tmp/dfotad-limits.XXXXXX)

if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
        cg_mem=/sys/fs/cgroup$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup)/dfotad-limits
        cg_pids=$cg_mem
        mkdir -p "$cg_mem"
        echo "$mem" >"$cg_mem/memory.max"
        echo "$tasks" >"$cg_pids/pids.max"
else
        cg_mem=/sys/fs/cgroup/memory$(awk -F: '$2 == "memory" { print $3 }' /proc/self/cgroup)/dfotad-limits
        cg_pids=/sys/fs/cgroup/pids$(awk -F: '$2 == "pids" { print $3 }' /proc/self/cgroup)/dfotad-limits
        mkdir -p "$cg_mem" "$cg_pids"
        echo "$mem" >"$cg_mem/memory.limit_in_bytes"
        echo "$tasks" >"$cg_pids/pids.max"
fi

pid="" sim_pid="" mq_pid=""
cleanup() {
        local p
        for p in $pid $sim_pid $mq_pid; do
                kill "$p" 2>/dev/null || true
        done
        wait 2>/dev/null || true
        rmdir "$cg_mem" 2>/dev/null || true
        [ "$cg_pids" = "$cg_mem" ] || rmdir "$cg_pids" 2>/dev/null || true
}
trap cleanup EXIT

# The broker: TLS on a free loopback port.
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$tmp/mosquitto.conf" <<EOF
persistence false
log_dest stderr
listener $port 127.0.0.1
cafile $certs/hardening-ca.pem
certfile $certs/hardening-server.pem
keyfile $certs/hardening-server.key
allow_anonymous true
EOF
[ "$(id -u)" -ne 0 ] || echo "user root" >>"$tmp/mosquitto.conf"
mosquitto -c "$tmp/mosquitto.conf" 2>"$tmp/mosquitto.log" &
mq_pid=$!

# The module, and a reset program that power-cycles it.
/usr/bin/python3 tests/sim/quectel-sim --link "$tmp/tty" --scenario tests/sim/scenarios/ec25-watchdog-silence.json \
        --log "$tmp/sim.jsonl" --pid-file "$tmp/sim.pid" 2>"$tmp/sim.err" &
sim_pid=$!
printf '#!/bin/sh\nread -r pid <%s\nkill -USR1 "$pid"\n' "$tmp/sim.pid" >"$tmp/reset-module"
chmod 0755 "$tmp/reset-module"
for _ in $(seq 200); do
        [ -L "$tmp/tty" ] && break
        sleep 0.05
done

mkdir -p "$tmp/state/inbox"
cat >"$tmp/dfotad.json" <<EOF
{ "state_directory": "$tmp/state", "hotplug": false, "modems": [ { "port": "$tmp/tty", "family": "ec2x" } ],
  "timeouts": { "urc_watchdog": 1 }, "reset": { "command": [ "$tmp/reset-module" ] },
  "mqtt": { "dialect": "plain", "host": "127.0.0.1", "port": $port, "device_id": "gw-limits",
            "tls": { "ca_file": "$certs/hardening-ca.pem" } } }
EOF
# dfotad joins both cgroups before it execs: every byte and task of it (and of the reset
# program) is counted.
sh -c 'echo $$ >"$1/cgroup.procs" && echo $$ >"$2/cgroup.procs" && shift 2 && exec "$@"' sh "$cg_mem" "$cg_pids" \
        "$build/dfotad" --config "$tmp/dfotad.json" 2>"$tmp/dfotad.log" &
pid=$!
for _ in $(seq 200); do
        grep -q "serving" "$tmp/dfotad.log" && break
        sleep 0.05
done
printf '{"id": "limits", "modem": {"imei": "%s"}, "target_version": "%s", "package": {"url": "%s"}}' \
        861234567890123 EC25EFAR06A02M4G http://fw.example.net/a.zip >"$tmp/state/.job"
mv "$tmp/state/.job" "$tmp/state/inbox/limits.json"

state=""
for _ in $(seq $((job_timeout * 20))); do
        state=$(/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["state"])' \
                "$tmp/state/jobs/limits.json" 2>/dev/null || true)
        case "$state" in SUCCEEDED|FAILED|REJECTED|CANCELED) break ;; esac
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
done

alive=no
kill -0 "$pid" 2>/dev/null && alive=yes
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo "?")
if [ -f "$cg_mem/memory.peak" ]; then
        peak=$(cat "$cg_mem/memory.peak")
        oom=$(awk '$1 == "oom_kill" { print $2 }' "$cg_mem/memory.events")
elif [ -f "$cg_mem/memory.max_usage_in_bytes" ]; then
        peak=$(cat "$cg_mem/memory.max_usage_in_bytes")
        oom=$(awk '$1 == "oom_kill" { print $2 }' "$cg_mem/memory.oom_control")
else
        # cgroup v2 before Linux 5.19 has no memory.peak: the current use at the end.
        peak=$(cat "$cg_mem/memory.current")
        oom=$(awk '$1 == "oom_kill" { print $2 }' "$cg_mem/memory.events")
fi
refused=$(awk '$1 == "max" { print $2 }' "$cg_pids/pids.events")
resets=$(grep -c '"event": "reset", "via": "signal"' "$tmp/sim.jsonl" || true)
finished=$(grep -c "Reset command finished" "$tmp/dfotad.log" || true)

ok=1
[ "$state" = SUCCEEDED ] && [ "$alive" = yes ] && [ "$resets" -ge 1 ] && [ "$finished" -ge 1 ] || ok=0
[ "${oom:-0}" -eq 0 ] && [ "${refused:-0}" -eq 0 ] && [ $((peak * 4)) -le "$mem" ] || ok=0

printf '%s  MemoryMax=%s and TasksMax=%s in this host'"'"'s cgroups, the watchdog job with its reset program\n' \
        "$([ "$ok" -eq 1 ] && echo PASS || echo FAIL)" "$(numfmt --to=iec "$mem")" "$tasks"
printf '        job %s, dfotad alive after it: %s, resets by the program: %s, "Reset command finished": %s\n' \
        "$state" "$alive" "$resets" "$finished"
printf '        cgroup memory peak %s KiB of %s KiB (must stay under a quarter), OOM kills %s, dfotad VmHWM %s KiB\n' \
        $((peak >> 10)) $((mem >> 10)) "${oom:-0}" "$hwm"
printf '        forks refused at pids.max=%s: %s\n' "$tasks" "${refused:-0}"
if [ "$ok" -eq 1 ]; then
        rm -rf "$tmp"
        exit 0
fi
echo "        logs kept in $tmp"
exit 1
