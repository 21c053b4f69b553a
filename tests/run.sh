#!/bin/bash
# SPDX-License-Identifier: MIT
# The test runner of `make check` (run after the build): every unit test binary of the normal
# and of the sanitizer build, the offsets check, and the live tests against real interpreters,
# with ./pyspy-watch and again with build-asan/pyspy-watch.
#
#   bash tests/run.sh
#
# A unit test passes with exit 0, is skipped with exit 77, fails otherwise (or on any sanitizer
# report in its output). Each test's output goes to tests/out/<name>.log. Prints a summary and
# exits 1 if anything failed.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
OUT=tests/out
mkdir -p "$OUT"

SAN_RE='ERROR: (Address|Leak|UndefinedBehavior|Thread)Sanitizer|runtime error: |SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer|Sanitizer has encountered'
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

passed=() failed=() skipped=()

# run NAME TIMEOUT COMMAND...: runs COMMAND with its output in $OUT/NAME.log, records the outcome.
run() {
        local name=$1 limit=$2
        shift 2
        local log="$OUT/${name//\//_}.log" rc start=$SECONDS
        printf '%-44s ' "$name"
        timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
        rc=$?
        if [ $rc -eq 0 ] && grep -Eq "$SAN_RE" "$log"; then
                rc=99
                echo "sanitizer report in $log" >>"$log"
        fi
        case $rc in
        0)
                passed+=("$name")
                echo "PASS  ($((SECONDS - start))s)"
                ;;
        77)
                skipped+=("$name")
                echo "SKIP  ($(tail -n 1 "$log" | cut -c1-80))"
                ;;
        *)
                failed+=("$name")
                if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
                        echo "FAIL  (timed out after ${limit}s; see $log)"
                else
                        echo "FAIL  (exit $rc; see $log)"
                fi
                grep -E '^(FAIL|     - )' "$log" | head -n 12 | sed 's/^/        /'
                ;;
        esac
}

unit_tests() {
        local dir=$1 prefix=$2 t found=0
        for t in "$dir"/tests/test-*; do
                [ -f "$t" ] && [ -x "$t" ] || continue
                found=1
                run "$prefix/$(basename "$t")" 120 "$t"
        done
        [ $found -eq 1 ] || echo "(no unit tests in $dir/tests)"
}

echo "== sanitizers catch what they should"
run sanitizers/canaries 120 bash tests/check-sanitizers.sh "$SAN_RE"

echo "== unit tests (build)"
unit_tests build unit
echo "== unit tests (build-asan)"
unit_tests build-asan unit-asan

echo "== fuzz corpus and past crashes, replayed (build-asan)"
for h in walker config linetable elfsym; do
        run "fuzz-replay/$h" 300 "build-asan/tests/fuzz-$h-replay" "tests/fuzz/corpus/$h" "tests/fuzz/regress/$h"
done
echo "== fuzzing (libFuzzer, ${PYSPY_FUZZ_TIME:=20} s each)"
for h in walker config linetable elfsym; do
        if [ -x "build-fuzz/fuzz/fuzz-$h" ]; then
                run "fuzz/$h" $((PYSPY_FUZZ_TIME + 120)) bash tests/fuzz/run.sh --time "$PYSPY_FUZZ_TIME" "$h"
        else
                printf '%-44s SKIP  (build-fuzz/fuzz/fuzz-%s missing: make fuzz-build needs clang)\n' "fuzz/$h" "$h"
                skipped+=("fuzz/$h")
        fi
done

if [ -f tests/offsets/check-offsets.sh ]; then
        echo "== offsets"
        run offsets/check-offsets 300 bash tests/offsets/check-offsets.sh
fi

echo "== documentation"
run docs/check-manpage 60 bash tests/check-manpage.sh
run docs/check-message-ids 60 python3 tests/check-message-ids.py

echo "== journal alerts"
PYSPY_TEST_ALERT=build/tests/test-alert PYSPY_TEST_OUT="$OUT/journal" \
        run live/test_journal 180 python3 tests/live/test_journal.py
PYSPY_TEST_ALERT=build-asan/tests/test-alert PYSPY_TEST_OUT="$OUT/journal-asan" \
        run live-asan/test_journal 300 python3 tests/live/test_journal.py

echo "== output formats"
run formats/check-folded 60 python3 tests/check-folded.py tests/out/folded-sample.txt
if command -v node >/dev/null && [ -d tests/js/node_modules/ajv ]; then
        run formats/validate-speedscope 60 node tests/js/validate-speedscope.js tests/out/speedscope-sample.json
else
        echo "formats/validate-speedscope                  SKIP  (node or tests/js/node_modules missing)"
        skipped+=(formats/validate-speedscope)
fi
echo "== flame graph in a browser"
for svg in sample sample-inverted hostile; do
        run "js/flamegraph-$svg" 180 node tests/js/test-flamegraph.js "tests/out/flamegraph-$svg.svg" "$OUT/flamegraph-shots"
done

echo "== live tests (./pyspy-watch)"
PYSPY_WATCH=pyspy-watch PYSPY_TEST_OUT="$OUT/live" \
        run live/test_dump 300 python3 tests/live/test_dump.py
PYSPY_WATCH=pyspy-watch PYSPY_TEST_OUT="$OUT/live" \
        run live/test_badinput 300 python3 tests/live/test_badinput.py
PYSPY_WATCH=pyspy-watch PYSPY_TEST_OUT="$OUT/live" \
        run live/test_top 300 python3 tests/live/test_top.py
PYSPY_WATCH=pyspy-watch PYSPY_TEST_OUT="$OUT/live/record" \
        run live/test_record 300 python3 tests/live/test_record.py
PYSPY_WATCH=pyspy-watch PYSPY_TEST_OUT="$OUT/live" \
        run live/test_incidents 120 python3 tests/live/test_incidents.py
PYSPY_WATCH=pyspy-watch PYSPY_TEST_OUT="$OUT/live" \
        run live/test_check_config 120 python3 tests/live/test_check_config.py
PYSPY_WATCH=pyspy-watch PYSPY_TEST_OUT="$OUT/live/watch" \
        run live/test_watch 300 python3 tests/live/test_watch.py
PYSPY_WATCH=pyspy-watch PYSPY_TEST_OUT="$OUT/live/daemon" \
        run live/test_daemon 180 python3 tests/live/test_daemon.py
PYSPY_WATCH=pyspy-watch PYSPY_TEST_OUT="$OUT/live/faults" \
        run live/test_faults 300 python3 tests/live/test_faults.py
PYSPY_WATCH=pyspy-watch PYSPY_TEST_OUT="$OUT/live/hostile" \
        run live/test_hostile 300 python3 tests/live/test_hostile.py

echo "== live tests (build-asan/pyspy-watch)"
PYSPY_WATCH=build-asan/pyspy-watch PYSPY_TEST_OUT="$OUT/live-asan" \
        run live-asan/test_dump 600 python3 tests/live/test_dump.py
PYSPY_WATCH=build-asan/pyspy-watch PYSPY_TEST_OUT="$OUT/live-asan" \
        run live-asan/test_badinput 600 python3 tests/live/test_badinput.py
PYSPY_WATCH=build-asan/pyspy-watch PYSPY_TEST_OUT="$OUT/live-asan" \
        run live-asan/test_top 600 python3 tests/live/test_top.py
PYSPY_WATCH=build-asan/pyspy-watch PYSPY_TEST_OUT="$OUT/live-asan/record" \
        run live-asan/test_record 600 python3 tests/live/test_record.py
PYSPY_WATCH=build-asan/pyspy-watch PYSPY_TEST_INCIDENT=build-asan/tests/test-incident PYSPY_TEST_OUT="$OUT/live-asan" \
        run live-asan/test_incidents 300 python3 tests/live/test_incidents.py
PYSPY_WATCH=build-asan/pyspy-watch PYSPY_TEST_OUT="$OUT/live-asan" \
        run live-asan/test_check_config 300 python3 tests/live/test_check_config.py
PYSPY_WATCH=build-asan/pyspy-watch PYSPY_TEST_OUT="$OUT/live-asan/watch" \
        run live-asan/test_watch 600 python3 tests/live/test_watch.py --quick
PYSPY_WATCH=build-asan/pyspy-watch PYSPY_TEST_OUT="$OUT/live-asan/daemon" \
        run live-asan/test_daemon 300 python3 tests/live/test_daemon.py
PYSPY_WATCH=build-asan/pyspy-watch PYSPY_TEST_OUT="$OUT/live-asan/faults" \
        run live-asan/test_faults 600 python3 tests/live/test_faults.py --quick
PYSPY_WATCH=build-asan/pyspy-watch PYSPY_TEST_OUT="$OUT/live-asan/hostile" \
        run live-asan/test_hostile 600 python3 tests/live/test_hostile.py

echo
echo "passed: ${#passed[@]}  failed: ${#failed[@]}  skipped: ${#skipped[@]}   (logs in $OUT/)"
for n in "${failed[@]}"; do
        echo "  FAILED  $n"
done
for n in "${skipped[@]}"; do
        echo "  skipped $n"
done
[ ${#failed[@]} -eq 0 ]
