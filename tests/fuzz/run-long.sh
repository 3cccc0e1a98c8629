#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run-long.sh SECONDS [JOBS]: runs every fuzz target for SECONDS each, JOBS at a time (default 2),
# over a scratch copy of its corpus (new inputs are not merged back), and prints one line per target:
# seconds, executions, findings (crashes, leaks, timeouts, out-of-memory: the artifacts libFuzzer
# wrote), final coverage. Builds build-fuzz first (or reuses it). Exits 1 if anything was found; the
# artifacts and logs stay in the scratch directory whose path is printed.
#   tests/fuzz/run-long.sh 600      # ten minutes each, two at a time
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$PWD

if [ $# -lt 1 ] || [ $# -gt 2 ] || ! [[ $1 =~ ^[0-9]+$ ]] || ! [[ ${2:-2} =~ ^[1-9][0-9]*$ ]]; then
        echo "usage: $0 SECONDS [JOBS]" >&2
        exit 2
fi
seconds=$1 jobs=${2:-2}
build=${DFOTAD_FUZZ_BUILD:-build-fuzz}

if [ ! -f "$build/build.ninja" ]; then
        CC=clang meson setup "$build" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
                -Dc_args=-fsanitize=fuzzer-no-link -Dintegration_tests=false
fi
meson compile -C "$build"

targets=()
for src in tests/fuzz/fuzz-*.c; do
        [ "$src" = tests/fuzz/fuzz-util.c ] && continue      # the targets' helpers, not a target
        targets+=("$(basename "$src" .c)")
done

scratch=$(mktemp -d "${TMPDIR:-/tmp}/dfotad-fuzz-long.XXXXXX")
echo "scratch directory (corpora, logs, artifacts): $scratch"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:verify_asan_link_order=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

run_target() {
        local t=$1 dir="$scratch/$1" args
        mkdir -p "$dir/corpus" "$dir/artifacts"
        cp -r "tests/fuzz/corpus/$t/." "$dir/corpus/" 2>/dev/null || true
        args=("$dir/corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192
              -print_final_stats=1 -artifact_prefix="$dir/artifacts/")
        [ -f "tests/fuzz/$t.dict" ] && args+=(-dict="tests/fuzz/$t.dict")
        # libFuzzer stops at its first finding; what it found is in artifacts/.
        "$build/tests/fuzz/$t" "${args[@]}" > "$dir/log" 2>&1 || echo $? > "$dir/rc"
}

running=0
for t in "${targets[@]}"; do
        run_target "$t" &
        running=$((running + 1))
        if [ "$running" -ge "$jobs" ]; then
                wait -n || true
                running=$((running - 1))
        fi
done
wait || true

findings_total=0
printf '\n%-20s %8s %12s %9s %8s %s\n' target seconds executions findings cov rc
for t in "${targets[@]}"; do
        dir="$scratch/$t"
        # Absent after a finding (libFuzzer stops): "?".
        execs=$(awk '/^stat::number_of_executed_units:/ { print $2 }' "$dir/log")
        cov=$(awk '{ for (i = 1; i < NF; i++) if ($i == "cov:") c = $(i + 1) } END { print c }' "$dir/log")
        secs=$(awk '/^Done [0-9]+ runs in [0-9]+ second/ { print $5 }' "$dir/log")
        findings=$(find "$dir/artifacts" -type f | wc -l)
        rc=$(cat "$dir/rc" 2>/dev/null || echo 0)
        # A nonzero exit without an artifact (a crash in libFuzzer's own setup) still counts.
        if [ "$findings" -eq 0 ] && [ "$rc" -ne 0 ]; then
                findings=1
        fi
        findings_total=$((findings_total + findings))
        printf '%-20s %8s %12s %9s %8s %s\n' "$t" "${secs:-?}" "${execs:-?}" "$findings" "${cov:-?}" "$rc"
done

echo
if [ "$findings_total" -gt 0 ]; then
        echo "$findings_total finding(s); artifacts and logs under $scratch:"
        find "$scratch" -path '*/artifacts/*' -type f
        echo "reproduce: $root/$build/tests/fuzz/<target> <artifact>"
        exit 1
fi
echo "no findings; logs under $scratch"
