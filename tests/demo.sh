#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A whole DFOTA run on a simulated EC25, paced so a person can follow it (about 20 s): builds dfotad
# if needed, starts the module simulator, starts dfotad on it, drops a job into the inbox, shows
# dfotad's progress as it happens and the final job record. Exits 0 iff the job SUCCEEDED.
#
#   tests/demo.sh                  # DEMO_TIME_SCALE=5 tests/demo.sh for a faster run
#   tests/demo.sh --mqtt           # the same over MQTT (plain dialect): a mosquitto broker on a unix
#                                  # socket, the job published with mosquitto_pub, the status
#                                  # messages shown as mosquitto_sub receives them
set -euo pipefail

mqtt=0
case "${1:-}" in
        --mqtt) mqtt=1 ;;
        "") ;;
        *) echo "usage: $0 [--mqtt]" >&2; exit 2 ;;
esac

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# ec25-http-success plays about 0.9 s of module time (download 0.15 s, two reboots of 0.2 s,
# the update 0.3 s); 23 times that is about 20 s.
scale=${DEMO_TIME_SCALE:-23}
job_id=demo-ec25-a01-a02
scenario=tests/sim/scenarios/ec25-http-success.json

if [ ! -f build/build.ninja ]; then
        meson setup build >/dev/null
fi
echo "Building dfotad (meson compile -C build)..."
meson compile -C build >/dev/null

tmp=$(mktemp -d /tmp/dfotad-demo.XXXXXX)
sim_pid=""
daemon_pid=""
notify_pid=""
broker_pid=""
sub_pid=""
cleanup() {
        local pid
        for pid in "$daemon_pid" "$sim_pid" "$notify_pid" "$sub_pid" "$broker_pid"; do
                if [ -n "$pid" ]; then
                        kill "$pid" 2>/dev/null || true
                fi
        done
        wait 2>/dev/null || true
        rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$EPOCHREALTIME
elapsed() { awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%5.1f", b - a }'; }
say() { printf '[%s s] %s\n' "$(elapsed)" "$*"; }
show() {
        case "$1" in
                *": debug: "*) ;;
                *) say "${1#dfotad: }" ;;
        esac
}

# The module: a pty behind $tmp/ttyUSB2.
link=$tmp/ttyUSB2
/usr/bin/python3 tests/sim/quectel-sim --link "$link" --scenario "$scenario" \
        --log "$tmp/sim.jsonl" --pid-file "$tmp/sim.pid" --time-scale "$scale" \
        2>"$tmp/sim.err" &
sim_pid=$!
for _ in $(seq 200); do
        [ -L "$link" ] && break
        kill -0 "$sim_pid" 2>/dev/null || { cat "$tmp/sim.err" >&2; exit 1; }
        sleep 0.05
done
[ -L "$link" ] || { echo "the simulator did not publish $link" >&2; exit 1; }
say "simulated EC25 (revision EC25EFAR06A01M4G) on $link, time scale $scale"

mqtt_config=""
if [ "$mqtt" -eq 1 ]; then
        # A broker of our own on a unix socket; the operator's side is mosquitto_sub/_pub.
        sock=$tmp/mqtt.sock
        printf 'persistence false\nlog_dest stderr\nlistener 0 %s\nallow_anonymous true\n%s\n' "$sock" \
                "$([ "$(id -u)" -eq 0 ] && echo 'user root')" >"$tmp/mosquitto.conf"
        mosquitto -c "$tmp/mosquitto.conf" 2>"$tmp/mosquitto.log" &
        broker_pid=$!
        for _ in $(seq 200); do
                [ -S "$sock" ] && break
                sleep 0.05
        done
        [ -S "$sock" ] || { cat "$tmp/mosquitto.log" >&2; exit 1; }
        say "mosquitto listening on $sock"
        # $! must be mosquitto_sub itself: it reconnects forever, only a signal ends it.
        mosquitto_sub --unix "$sock" -v -t 'dfotad/demo-gw/#' 2>/dev/null \
                > >(while IFS= read -r msg; do say "mqtt: ${msg:0:150}"; done) &
        sub_pid=$!
        mqtt_config=',
  "mqtt": { "dialect": "plain", "host": "'"$sock"'", "device_id": "demo-gw" }'
fi

# The guides' default timeouts: the paced run stays far below all of them.
cat >"$tmp/dfotad.json" <<EOF
{
  "state_directory": "$tmp/state",
  "log_level": "info",
  "modems": [ { "port": "$link", "family": "ec2x" } ],
  "timeouts": {
    "at_command": 5, "download_start": 90, "download": 1800, "port_return": 300,
    "first_urc_after_reboot": 90, "urc_watchdog": 240, "verify": 300
  },
  "reset": "at"$mqtt_config
}
EOF

# Play the service manager: READY=1 on a notify socket says the inbox is watched.
mkfifo "$tmp/notify.fifo" "$tmp/log.fifo"
/usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("LISTENING", flush=True)
while True:
    print(s.recv(4096).decode(errors="replace"), flush=True)
' "$tmp/notify.sock" >"$tmp/notify.fifo" &
notify_pid=$!
exec 3<"$tmp/notify.fifo"
# dfotad's notifications are lost if the socket is not bound yet.
if ! IFS= read -r -t 10 -u 3 line || [ "$line" != LISTENING ]; then
        echo "the notify listener did not start" >&2
        exit 1
fi

NOTIFY_SOCKET=$tmp/notify.sock build/dfotad --config "$tmp/dfotad.json" --log-level info \
        2>"$tmp/log.fifo" &
daemon_pid=$!
exec 4<"$tmp/log.fifo"
say "dfotad started (pid $daemon_pid)"

ready=0
while IFS= read -r -t 15 -u 3 line; do
        if [ "$line" = READY=1 ]; then
                ready=1
                break
        fi
done
if [ "$ready" -ne 1 ]; then
        echo "dfotad did not become ready; its log:" >&2
        timeout 1 cat <&4 >&2 || true
        exit 1
fi
# What dfotad said while starting, before the job's lines follow.
while read -r -t 0 -u 4 && IFS= read -r -t 1 -u 4 line; do
        show "$line"
done
say "dfotad is ready"

job='{
  "id": "'"$job_id"'",
  "source_version": "EC25EFAR06A01M4G",
  "target_version": "EC25EFAR06A02M4G",
  "package": { "url": "http://fw.example.net/ec25/a01-a02.zip" }
}'
if [ "$mqtt" -eq 1 ]; then
        mosquitto_pub --unix "$sock" -r -q 1 -t "dfotad/demo-gw/jobs/$job_id" -m "$job"
        say "job $job_id published to dfotad/demo-gw/jobs/$job_id: EC25EFAR06A01M4G -> EC25EFAR06A02M4G over HTTP"
else
        inbox=$tmp/state/inbox
        mkdir -p "$inbox"
        printf '%s\n' "$job" >"$inbox/.$job_id.tmp"
        mv "$inbox/.$job_id.tmp" "$inbox/$job_id.json"
        say "job $job_id submitted: EC25EFAR06A01M4G -> EC25EFAR06A02M4G over HTTP"
fi

terminal=""
deadline=$((SECONDS + 60 + scale * 4))
while [ "$SECONDS" -lt "$deadline" ] && IFS= read -r -t $((deadline - SECONDS)) -u 4 line; do
        show "$line"
        if [[ $line =~ Job\ $job_id:\ [A-Z_]+\ -\>\ (SUCCEEDED|FAILED|REJECTED|CANCELED) ]]; then
                terminal=${BASH_REMATCH[1]}
                break
        fi
done

# Peak memory of the daemon over the whole run, read before it is stopped.
hwm=$(awk '/^VmHWM:/ { print $2, $3 }' "/proc/$daemon_pid/status" 2>/dev/null || echo "unknown")
kill -TERM "$daemon_pid"
timeout 10 cat <&4 >/dev/null || true
wait "$daemon_pid" && rc=0 || rc=$?
daemon_pid=""

echo
if [ -z "$terminal" ]; then
        echo "The job did not end in time." >&2
else
        echo "Job record ($tmp/state/jobs/$job_id.json):"
        /usr/bin/python3 -m json.tool "$tmp/state/jobs/$job_id.json"
fi
if [ "$mqtt" -eq 1 ]; then
        echo
        echo "Retained on the broker (mosquitto_sub --unix $sock -v -t 'dfotad/demo-gw/#'):"
        timeout 5 mosquitto_sub --unix "$sock" -v -t 'dfotad/demo-gw/status/#' -t 'dfotad/demo-gw/availability' \
                -W 1 2>/dev/null | cut -c1-200 || true
fi
echo
echo "Result: ${terminal:-none}; dfotad peak RSS (VmHWM): $hwm; dfotad exit status on SIGTERM: $rc"
echo "Module saw $(grep -c '"event": "rx", "line": "AT+QFOTADL' "$tmp/sim.jsonl" || true) AT+QFOTADL command(s)."
[ "$terminal" = SUCCEEDED ] && [ "$rc" -eq 0 ]
