#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Verifies dfotad.service's hardening against full jobs under a real systemd as PID 1: boots a
# Debian tree with systemd-nspawn --boot, installs the built dfotad into it (meson install
# --destdir), runs the module simulator on a pty and a TLS mosquitto inside, and per run submits
# one job (inbox or MQTT); a check unit waits for the record to end, gathers what each setting
# did to the running daemon (/proc status, cgroup limits, its mount namespace, the journal,
# `systemctl show`, `systemd-analyze security`) and starts a probe unit with the same [Service]
# settings that tries what each one forbids. Then the container powers off and this script prints
# PASS/FAIL per setting.
#
#   run "inbox":    ec25-http-success, MQTT plane on (TLS), the unit exactly as installed
#                   (SystemCallErrorNumber=EPERM: a denied call would show as EPERM in the log).
#   run "watchdog": the job published on the plain dialect's job topic (TLS) instead, on
#                   ec25-watchdog-silence, "reset": {"command": ["/usr/local/bin/reset-module"]}
#                   (a script that power-cycles the simulator with SIGUSR1), urc_watchdog 1 s,
#                   SystemCallErrorNumber=kill in a drop-in (a denied call kills with SIGSYS), and
#                   README's IPAddressDeny=any + IPAddressAllow=localhost.
#   limits.sh:      the container gets no memory or pids controller, so the watchdog job runs once
#                   more on this host, dfotad in cgroups with the unit's MemoryMax= and TasksMax=.
#
# Not part of CI (too heavy): run it by hand, as root, after changing the unit:
#
#   tests/hardening/verify-unit.sh [--tree DIR] [--suite bookworm] [--mirror URL]
#   HARDENING_EXTRA='SystemCallFilter=~kill' tests/hardening/verify-unit.sh   # try a setting first
#
# HARDENING_EXTRA lines go into the test drop-in of both runs ([Service]; "\n" separates lines).
# --suite trixie (systemd 257 with its BPF framework, libbpf1 added) also enforces SocketBindDeny=;
# Debian 12's systemd 252 is built without it and accepts SocketBindDeny= and
# RestrictFileSystems= without enforcing them. RestrictFileSystems= (BPF LSM) and the cgroup limits
# TasksMax=/MemoryMax= are not enforced inside this container on either suite (no securityfs, no
# memory or pids controller delegated); the script says so per setting, and limits.sh runs a job
# under the real limits on the host.
#
# It takes about 3 min the first time (debootstrap of about 320 MB, 2.5 min) and 20-30 s after
# that: the tree is reused (default /var/tmp/dfotad-hardening/<suite>; never put it in the repo),
# packages it lacks are added, dfotad is reinstalled each time. Needs debootstrap,
# systemd-container, openssl, meson and mosquitto; the mirror only for the first run. The
# container gets its own network namespace (--private-network): the broker is on its loopback.
# Results and logs: build-hardening/hardening/<run>/ (result.json, the daemon's journal as JSON,
# the console).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
src=$PWD
suite=bookworm
mirror=http://deb.debian.org/debian
tree=""
while [ $# -gt 0 ]; do
        case "$1" in
                --tree) tree=$2; shift 2 ;;
                --suite) suite=$2; shift 2 ;;
                --mirror) mirror=$2; shift 2 ;;
                *) echo "usage: $0 [--tree DIR] [--suite SUITE] [--mirror URL]" >&2; exit 2 ;;
        esac
done
tree=${tree:-/var/tmp/dfotad-hardening/$suite}
build=$src/build-hardening
out=$build/hardening
# Each boot: a few seconds of boot, the job (about 1 s of module time, 3 s with the watchdog), the
# probe; the deadline only stops a container that hangs.
boot_timeout=${HARDENING_BOOT_TIMEOUT:-150}
job_timeout=${HARDENING_JOB_TIMEOUT:-60}
lib=/usr/local/lib/dfotad-hardening

[ "$(id -u)" -eq 0 ] || { echo "run as root (debootstrap, systemd-nspawn)" >&2; exit 2; }
for c in debootstrap systemd-nspawn openssl meson mosquitto; do
        command -v "$c" >/dev/null ||
                { echo "$c missing (apt-get install debootstrap systemd-container openssl meson mosquitto)" >&2; exit 2; }
done

say() { printf '== %s\n' "$*"; }

# ---- the daemon, built for /usr like a package ---------------------------------------------------
if [ ! -f "$build/build.ninja" ]; then
        meson setup "$build" --prefix=/usr --sysconfdir=/etc -Dintegration_tests=false >/dev/null
fi
meson compile -C "$build" dfotad >/dev/null
say "built $build/dfotad"

# ---- the tree --------------------------------------------------------------------------------
packages=systemd,systemd-sysv,udev,dbus,libnss-systemd,python3,libmosquitto1,libjson-c5,mosquitto,mosquitto-clients
case "$suite" in
        bookworm) packages=$packages,libcurl4 ;;
        # systemd 257 dlopen()s libbpf for SocketBindDeny= and RestrictFileSystems=.
        *) packages=$packages,libcurl4t64,libbpf1 ;;
esac
if [ ! -x "$tree/usr/lib/systemd/systemd" ]; then
        say "debootstrap $suite into $tree (about 2.5 min)"
        mkdir -p "$tree"
        debootstrap --variant=minbase --include="$packages" "$suite" "$tree" "$mirror" >"$tree.debootstrap.log" 2>&1 ||
                { tail -20 "$tree.debootstrap.log" >&2; exit 1; }
fi
missing=()
for p in ${packages//,/ }; do
        chroot "$tree" dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
        say "adding ${missing[*]} to the tree"
        chroot "$tree" apt-get install -y -q "${missing[@]}" >/dev/null
fi
say "tree $tree: $(. "$tree/etc/os-release"; echo "$PRETTY_NAME"), $(chroot "$tree" systemctl --version | head -1)"

# ---- dfotad, the simulator and the test units into it -----------------------------------------
DESTDIR=$tree meson install -C "$build" --no-rebuild --quiet >/dev/null
install -d "$tree$lib/scenarios" "$tree/etc/dfotad-hardening" "$tree/etc/systemd/system/multi-user.target.wants" \
        "$tree/etc/systemd/system/dfotad.service.d"
install -m 0755 tests/sim/quectel-sim "$tree$lib/quectel-sim"
install -m 0644 tests/sim/scenarios/*.json "$tree$lib/scenarios/"
install -m 0755 tests/hardening/check.py tests/hardening/probe.py "$tree$lib/"
unitdir=$(cd "$tree" && dirname "$(find lib/systemd/system usr/lib/systemd/system -name dfotad.service 2>/dev/null | head -1)")
[ -f "$tree/$unitdir/dfotad.service" ] || { echo "meson install put no dfotad.service into the tree" >&2; exit 1; }

# The container boots without questions and resolves "localhost" (the broker's certificate name).
[ -s "$tree/etc/machine-id" ] || systemd-machine-id-setup --root="$tree" >/dev/null
ln -sf /dev/null "$tree/etc/systemd/system/systemd-firstboot.service"
grep -qs '^127.0.0.1[[:space:]].*localhost' "$tree/etc/hosts" || printf '127.0.0.1 localhost\n::1 localhost\n' >>"$tree/etc/hosts"

# A TLS broker on the container's loopback: a test CA made here, once.
certs=$tree/etc/mosquitto/certs
if [ ! -s "$certs/hardening-server.pem" ]; then
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
                -subj "/CN=dfotad hardening test CA" -keyout "$certs/hardening-ca.key" -out "$certs/hardening-ca.pem" 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
                -keyout "$certs/hardening-server.key" -out "$certs/hardening-server.csr" 2>/dev/null
        openssl x509 -req -in "$certs/hardening-server.csr" -CA "$certs/hardening-ca.pem" -CAkey "$certs/hardening-ca.key" \
                -CAcreateserial -days 3650 -out "$certs/hardening-server.pem" \
                -extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n') 2>/dev/null
        chroot "$tree" chown mosquitto /etc/mosquitto/certs/hardening-server.key
fi
install -m 0644 "$certs/hardening-ca.pem" "$tree/etc/dfotad/hardening-ca.pem"
# Every address of the container's own loopback: "localhost" resolves to ::1 first there, and
# dfotad's asynchronous MQTT connect tries only a name's first address.
cat >"$tree/etc/mosquitto/conf.d/hardening.conf" <<EOF
listener 8883
cafile /etc/mosquitto/certs/hardening-ca.pem
certfile /etc/mosquitto/certs/hardening-server.pem
keyfile /etc/mosquitto/certs/hardening-server.key
allow_anonymous true
EOF

# The simulated module. It runs as dfotad's dynamic user (same User= name: systemd gives both
# units one UID), so that the reset program can signal it as a GPIO script would power-cycle it.
cat >"$tree/etc/systemd/system/quectel-sim.service" <<EOF
[Unit]
Description=Simulated Quectel EC25 on a pty (dfotad hardening check)

[Service]
DynamicUser=yes
User=dfotad
RuntimeDirectory=quectel-sim
EnvironmentFile=/etc/dfotad-hardening/run.env
ExecStart=/usr/bin/python3 $lib/quectel-sim --link /run/quectel-sim/ttyUSB2 --scenario $lib/scenarios/\${SCENARIO} --log /run/quectel-sim/sim.jsonl --pid-file /run/quectel-sim/sim.pid
# Started = the pty is published.
ExecStartPost=/bin/sh -c 'while [ ! -L /run/quectel-sim/ttyUSB2 ]; do sleep 0.05; done'
TimeoutStartSec=30
EOF
cat >"$tree/usr/local/bin/reset-module" <<'EOF'
#!/bin/sh
# SPDX-License-Identifier: MIT
# dfotad's "reset" program in the hardening check: power-cycles the simulated module (SIGUSR1 is
# its external power cycle), as a GPIO script would the real one. Builtins only.
read -r pid </run/quectel-sim/sim.pid
kill -USR1 "$pid"
EOF
chmod 0755 "$tree/usr/local/bin/reset-module"

# The check: after dfotad is up, submit, wait, gather, power off.
cat >"$tree/etc/systemd/system/dfotad-check.service" <<EOF
[Unit]
Description=dfotad hardening check
Wants=dfotad.service mosquitto.service quectel-sim.service
After=dfotad.service mosquitto.service quectel-sim.service

[Service]
Type=oneshot
EnvironmentFile=/etc/dfotad-hardening/run.env
ExecStart=/usr/bin/python3 $lib/check.py \${RUN} \${JOB} \${JOB_TIMEOUT} \${PLANE}
ExecStopPost=/bin/systemctl poweroff --no-block
EOF

# The probe: dfotad.service's [Service] settings as installed, around probe.py instead of dfotad
# (no watchdog, restart, state or configuration directory: it is a oneshot of its own).
{
        echo "[Unit]"
        echo "Description=dfotad.service's sandbox around a probe"
        echo "[Service]"
        echo "Type=oneshot"
        echo "ExecStart=/usr/bin/python3 $lib/probe.py 256"
        echo "StandardOutput=truncate:/run/dfotad-probe.json"
        sed -n '/^\[Service\]/,/^\[/p' "$tree/$unitdir/dfotad.service" |
                grep -Ev '^(\[|#|$|Type=|ExecStart=|WatchdogSec=|Restart=|RestartSec=|StateDirectory=|ConfigurationDirectory=)'
} >"$tree/etc/systemd/system/dfotad-probe.service"

wants=$tree/etc/systemd/system/multi-user.target.wants
ln -sf "/$unitdir/dfotad.service" "$wants/dfotad.service"
ln -sf "/$unitdir/mosquitto.service" "$wants/mosquitto.service"
ln -sf /etc/systemd/system/quectel-sim.service "$wants/quectel-sim.service"
ln -sf /etc/systemd/system/dfotad-check.service "$wants/dfotad-check.service"

# ---- the runs --------------------------------------------------------------------------------
run() {
        local name=$1 plane=$2 scenario=$3 reset=$4 strict=$5
        local dir=$out/$name
        # No state from an earlier run: records, the broker's retained jobs, the journal.
        rm -rf "$dir" "$tree/var/lib/private/dfotad" "$tree/var/lib/dfotad" "$tree/var/lib/dfotad-hardening" \
                "$tree/var/lib/mosquitto/mosquitto.db"
        find "$tree/var/log/journal" -mindepth 1 -delete 2>/dev/null || true
        mkdir -p "$dir"

        printf 'RUN=%s\nJOB=hardening-%s\nJOB_TIMEOUT=%s\nSCENARIO=%s\nPLANE=%s\n' "$name" "$name" "$job_timeout" "$scenario" "$plane" \
                >"$tree/etc/dfotad-hardening/run.env"
        # The guides' timeouts except where the run needs them short; hotplug on (the udev monitor's
        # netlink socket is opened under the filter too), the module on a static port.
        cat >"$tree/etc/dfotad/dfotad.json" <<EOF
{
  "log_level": "info",
  "modems": [ { "port": "/run/quectel-sim/ttyUSB2", "family": "ec2x" } ],
  "timeouts": { "urc_watchdog": 1, "first_urc_after_reboot": 10, "port_return": 10 },
  "reset": $reset,
  "mqtt": { "dialect": "plain", "host": "localhost", "port": 8883, "device_id": "gw-hardening",
            "reconnect_min": 0.2, "reconnect_max": 1,
            "tls": { "ca_file": "/etc/dfotad/hardening-ca.pem" } }
}
EOF
        # DevicePolicy=closed allows no pty; the simulator's port is one (test-infra §5e). The
        # watchdog run also has README's drop-in for a deployment that knows its broker.
        {
                echo "[Unit]"
                echo "Wants=quectel-sim.service mosquitto.service"
                echo "After=quectel-sim.service mosquitto.service"
                echo "[Service]"
                echo "DeviceAllow=char-pts rw"
                if [ "$strict" = kill ]; then
                        echo "SystemCallErrorNumber=kill"
                        echo "IPAddressDeny=any"
                        echo "IPAddressAllow=localhost"
                fi
                [ -z "${HARDENING_EXTRA:-}" ] || printf '%b\n' "$HARDENING_EXTRA"
        } >"$tree/etc/systemd/system/dfotad.service.d/50-hardening-test.conf"

        say "run $name: booting (job via $plane, scenario $scenario, reset $reset, seccomp action $strict)"
        local t0=$SECONDS rc=0
        # The unified cgroup hierarchy and bpf() (CAP_BPF, nspawn's filter) let the container's
        # systemd attach the cgroup BPF programs of IPAddressDeny= and SocketBindDeny=.
        SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 timeout "$boot_timeout" systemd-nspawn -q -D "$tree" -b \
                --register=no --keep-unit --console=pipe --private-network -M dfotad-hardening \
                --capability=CAP_BPF,CAP_PERFMON,CAP_SYS_RESOURCE --system-call-filter=bpf \
                </dev/null >"$dir/console.log" 2>&1 || rc=$?
        say "run $name: container exited $rc after $((SECONDS - t0)) s"
        cp -r "$tree/var/lib/dfotad-hardening/." "$dir/" 2>/dev/null || true
}

run inbox inbox ec25-http-success.json '"at"' eperm
run watchdog mqtt ec25-watchdog-silence.json '{ "command": [ "/usr/local/bin/reset-module" ] }' kill

# ---- the verdict -----------------------------------------------------------------------------
verdict=0
/usr/bin/python3 tests/hardening/judge.py "$out/inbox/result.json" "$out/watchdog/result.json" || verdict=1
# MemoryMax= and TasksMax= enforced: the same kind of job in this host's cgroups.
tests/hardening/limits.sh "$build" "$certs" || verdict=1
echo "VERDICT: $([ "$verdict" -eq 0 ] && echo PASS || echo FAIL)"
exit "$verdict"
