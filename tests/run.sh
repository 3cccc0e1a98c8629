#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The test command (README "Testing"; .ci/run execs it). Stages:
#   a) gcc build with --werror, every meson test suite
#   b) clang build, unit suite (a second compiler's warnings and semantics)
#   c) ASan+UBSan build, every suite (tests/meson.build makes UBSan fatal)
#   d) the simulator's self-test
#   e) systemd-analyze verify + security gate on the built unit, journal catalog compile
#   f) libFuzzer build (clang, ASan+UBSan) and each fuzz target 15 s over its corpus
#      (tests/fuzz/README.md); skipped when clang has no libFuzzer
# --quick runs only (a). Every stage runs even when an earlier one failed, so one CI run shows
# everything; the exit status is 1 if any failed. The last line is "N passed, N failed": the sums of
# meson's Ok / Fail+Timeout+Unexpected Pass, plus one failure per stage that failed on its own
# (a build, the simulator self-test, a unit check).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

quick=0
case "${1:-}" in
        --quick) quick=1 ;;
        "") ;;
        -h|--help) sed -n '3,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
failed_stages=()

# Runs "meson test" and adds its summary to the totals; meson's exit status is returned.
meson_test() {
        local log="$work/meson-test.log" rc=0 ok fail
        meson test "$@" 2>&1 | tee "$log" || rc=$?
        read -r ok fail < <(awk '
                /^Ok:/              { ok += $2 }
                /^Fail:/            { bad += $2 }
                /^Timeout:/         { bad += $2 }
                /^Unexpected Pass:/ { bad += $3 }
                END { print ok + 0, bad + 0 }' "$log")
        passed=$((passed + ok))
        failed=$((failed + fail))
        # A failing run that counted no failure (it did not get to run tests) still counts once.
        if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
                failed=$((failed + 1))
        fi
        return "$rc"
}

# setup DIR ARGS...: configures DIR, or reconfigures it with the same options if it exists.
setup() {
        local dir=$1
        shift
        if [ -f "$dir/build.ninja" ]; then
                meson setup --reconfigure "$dir" "$@"
        else
                meson setup "$dir" "$@"
        fi
}

stage_a() {
        setup build --werror &&
        meson compile -C build &&
        meson_test -C build --print-errorlogs --num-processes 2
}

stage_b() {
        CC=clang setup build-clang --werror &&
        meson compile -C build-clang &&
        meson_test -C build-clang --print-errorlogs --suite unit
}

stage_c() {
        setup build-asan -Db_sanitize=address,undefined -Db_lundef=false &&
        meson compile -C build-asan &&
        DFOTAD_TEST_SLOWDOWN=3 meson_test -C build-asan --print-errorlogs
}

stage_d() {
        /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/sim/test_sim.py
}

stage_e() {
        local unit="$work/unit/dfotad.service" out rc=0
        if [ ! -f build/dfotad.service ] || [ ! -x build/dfotad ]; then
                echo "build/dfotad.service or build/dfotad missing: stage (a) did not build" >&2
                return 1
        fi
        mkdir -p "$work/unit" || return 1
        # verify fails on an ExecStart= that does not exist, so point it at the built binary.
        sed "s|^ExecStart=[^ ]*|ExecStart=$root/build/dfotad|" build/dfotad.service > "$unit" || return 1
        out=$(systemd-analyze verify --recursive-errors=no "$unit" 2>&1) || rc=$?
        if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
                printf 'systemd-analyze verify (exit %s):\n%s\n' "$rc" "$out" >&2
                return 1
        fi
        echo "systemd-analyze verify: clean"
        out=$(systemd-analyze security --offline=yes --threshold=15 "$unit" 2>&1) || rc=$?
        if [ "$rc" -ne 0 ]; then
                printf '%s\nsystemd-analyze security: exposure above 1.5\n' "$out" >&2
                return 1
        fi
        grep 'Overall exposure level' <<<"$out"

        # The catalog must compile and hold one entry per MESSAGE_ID of include/log.h.
        local catroot="$work/catalog" ids listed
        mkdir -p "$catroot/usr/lib/systemd/catalog" "$catroot/var/lib/systemd/catalog" &&
        cp systemd/dfotad.catalog "$catroot/usr/lib/systemd/catalog/" &&
        journalctl --root="$catroot" --update-catalog || return 1
        ids=$(grep -o 'DFOTAD_MESSAGE_[A-Z_]* *"[0-9a-f]\{32\}"' include/log.h |
              grep -o '[0-9a-f]\{32\}' | sort)
        listed=$(journalctl --root="$catroot" --list-catalog | awk '{ print $1 }' | sort)
        if [ -z "$ids" ] || [ "$ids" != "$listed" ]; then
                printf 'catalog entries differ from include/log.h:\n%s\n' \
                        "$(diff <(echo "$ids") <(echo "$listed") || true)" >&2
                return 1
        fi
        echo "journal catalog: $(wc -l <<<"$listed") entries, one per MESSAGE_ID"
}

# libFuzzer ships with clang, but not with every packaging of it (Debian: libclang-rt-dev).
have_libfuzzer() {
        local dir
        dir=$(mktemp -d "$work/fuzzcheck.XXXXXX") || return 1
        printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
                'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
                'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void) d; (void) n; return 0; }' > "$dir/t.c"
        clang -fsanitize=fuzzer,address,undefined "$dir/t.c" -o "$dir/t" >/dev/null 2>&1
}

stage_f() {
        if ! command -v clang >/dev/null || ! have_libfuzzer; then
                # CI installs libclang-rt-14-dev (.ci/run): there, a missing libFuzzer is a failure,
                # not a reason to skip.
                if [ "${CI:-}" = true ]; then
                        echo "clang with libFuzzer (-fsanitize=fuzzer) not found, and CI=true" >&2
                        return 1
                fi
                echo "clang with libFuzzer (-fsanitize=fuzzer) not found (Debian: libclang-rt-14-dev): fuzz stage skipped"
                return 0
        fi
        CC=clang setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
                -Dc_args=-fsanitize=fuzzer-no-link -Dintegration_tests=false &&
        meson compile -C build-fuzz &&
        meson_test -C build-fuzz --print-errorlogs --suite fuzz
}

run_stage() {
        local name=$1 fn=$2 start end rc=0 before=$failed
        printf '\n==== %s\n' "$name"
        start=$EPOCHREALTIME
        "$fn" || rc=$?
        end=$EPOCHREALTIME
        if [ "$rc" -ne 0 ]; then
                failed_stages+=("$name")
                # A stage outside meson (or a build) that failed without counting a test failure.
                if [ "$failed" -eq "$before" ]; then
                        failed=$((failed + 1))
                fi
        fi
        printf '==== %s: %s (%.1f s)\n' "$name" "$([ "$rc" -eq 0 ] && echo ok || echo FAILED)" \
                "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')"
}

run_stage "(a) gcc build + all tests" stage_a
if [ "$quick" -eq 0 ]; then
        run_stage "(b) clang build + unit tests" stage_b
        run_stage "(c) ASan+UBSan build + all tests" stage_c
        run_stage "(d) simulator self-test" stage_d
        run_stage "(e) unit file and catalog checks" stage_e
        run_stage "(f) fuzz build + short runs" stage_f
fi

echo
if [ "${#failed_stages[@]}" -gt 0 ]; then
        printf 'failed stage: %s\n' "${failed_stages[@]}"
fi
echo "$passed passed, $failed failed"
[ "${#failed_stages[@]}" -eq 0 ]
