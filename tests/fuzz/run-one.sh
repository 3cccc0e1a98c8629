#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run-one.sh TARGET CORPUS SECONDS [DICT]: one short libFuzzer run, as the meson "fuzz" suite does
# it. The checked-in corpus is read, never written: new inputs go to a scratch directory that is
# removed afterwards. A finding (crash, leak, timeout, out of memory) is kept as
# <scratch>/artifacts/..., whose path is printed, and the exit status is nonzero.
set -euo pipefail

if [ $# -lt 3 ] || [ $# -gt 4 ]; then
        echo "usage: $0 TARGET CORPUS SECONDS [DICT]" >&2
        exit 2
fi
target=$1 corpus=$2 seconds=$3 dict=${4:-}

scratch=$(mktemp -d "${TMPDIR:-/tmp}/dfotad-fuzz-run.XXXXXX")
mkdir "$scratch/new" "$scratch/artifacts"

args=("$scratch/new" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048
      -max_len=8192 -print_final_stats=1 -artifact_prefix="$scratch/artifacts/")
if [ -n "$dict" ] && [ -f "$dict" ]; then
        args+=(-dict="$dict")
fi

rc=0
"$target" "${args[@]}" || rc=$?
if [ "$rc" -ne 0 ] || [ -n "$(ls -A "$scratch/artifacts")" ]; then
        echo "$(basename "$target"): finding(s) kept in $scratch/artifacts:" >&2
        ls -l "$scratch/artifacts" >&2
        echo "reproduce: $target $scratch/artifacts/<file>" >&2
        exit "$((rc == 0 ? 1 : rc))"
fi
rm -rf "$scratch"
