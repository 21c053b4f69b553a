#!/bin/bash
# SPDX-License-Identifier: MIT
# Runs the libFuzzer harnesses (build-fuzz/fuzz/fuzz-*, from `make fuzz-build`) for a set time
# each, from the seed corpus in tests/fuzz/corpus/NAME plus every past crash in
# tests/fuzz/regress/NAME. New interesting inputs go to build-fuzz/corpus/NAME (kept between
# runs; the seeds in tests/ are never written), crashes to build-fuzz/artifacts/NAME/.
#
#   bash tests/fuzz/run.sh [--time SECONDS] [NAME...]      (default: 600 s, every harness)
#
# Exit 0 when no harness found anything; 1 when one crashed, leaked, hung or broke a promise
# (the input is in build-fuzz/artifacts/NAME/: replay it with
# build-asan/tests/fuzz-NAME-replay FILE, fix, then add it to tests/fuzz/regress/NAME/).
# Appends a line per run to build-fuzz/fuzz-log.tsv (time, harness, seconds, executions,
# result), from which fuzzing hours are counted; each run's libFuzzer output is in
# build-fuzz/logs/.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
time=600
names=()
while [ $# -gt 0 ]; do
        case $1 in
        --time) time=$2; shift 2 ;;
        --time=*) time=${1#--time=}; shift ;;
        -h|--help) sed -n '3,15p' "$0"; exit 0 ;;
        -*) echo "run.sh: unknown option $1: see --help" >&2; exit 2 ;;
        *) names+=("$1"); shift ;;
        esac
done
[ ${#names[@]} -gt 0 ] || names=(walker config linetable elfsym)

# Bigger inputs than libFuzzer's default 4 KiB: a fake process image is ~30 KiB.
declare -A max_len=([walker]=131072 [config]=8192 [linetable]=4096 [elfsym]=65536)

status=0
for name in "${names[@]}"; do
        bin=build-fuzz/fuzz/fuzz-$name
        if [ ! -x "$bin" ]; then
                echo "run.sh: $bin is missing: run make fuzz-build" >&2
                exit 2
        fi
        work=build-fuzz/corpus/$name
        art=build-fuzz/artifacts/$name
        mkdir -p "$work" "$art" tests/fuzz/regress/$name
        # A log per run: runs of one harness may overlap (make check beside a long make fuzz).
        mkdir -p build-fuzz/logs
        log=build-fuzz/logs/$name-$(date -u +%Y%m%dT%H%M%S)-$$.log
        start=$(date +%s)
        # -timeout: an input that takes over 10 s is a hang; -rss_limit_mb bounds memory;
        # leaks are reported (LeakSanitizer) and count as failures.
        ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
                "$bin" -max_total_time="$time" -timeout=10 -rss_limit_mb=2048 \
                -max_len="${max_len[$name]:-4096}" -print_final_stats=1 \
                -artifact_prefix="$art/" "$work" "tests/fuzz/corpus/$name" "tests/fuzz/regress/$name" \
                >"$log" 2>&1
        rc=$?
        secs=$(($(date +%s) - start))
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1)
        corpus=$(find "$work" -type f | wc -l)
        if [ $rc -eq 0 ]; then
                result=ok
                printf 'fuzz-%-10s %4ds  %10s executions  %s  corpus %d  ok\n' "$name" "$secs" "${execs:-?}" "${cov:-cov: ?}" "$corpus"
        else
                result=FAIL
                status=1
                printf 'fuzz-%-10s %4ds  FAILED (exit %d): see %s and %s/\n' "$name" "$secs" "$rc" "$log" "$art"
                grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz-|.*runtime error)' "$log" | head -n 5 | sed 's/^/        /'
        fi
        printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$name" "$secs" "${execs:-0}" "$result" >>build-fuzz/fuzz-log.tsv
done
exit $status
