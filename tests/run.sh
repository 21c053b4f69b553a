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

# live_suite BUILD NAME SLOW QUICK: every live test against BUILD/pyspy-watch (its fixture maker
# BUILD/tests/test-incident), logged as NAME/test_*; time limits times SLOW, and with QUICK the
# short variants of the two longest daemon tests.
live_suite() {
        local build=$1 name=$2 slow=$3 quick=$4 entry test sub limit q
        local -a args
        # test:output subdirectory (. for none):time limit:q when it has a --quick variant
        for entry in dump:.:300 badinput:.:300 top:.:300 record:record:300 incidents:.:120 \
                     check_config:.:120 watch:watch:300:q daemon:daemon:180 faults:faults:300:q \
                     hostile:hostile:300; do
                IFS=: read -r test sub limit q <<<"$entry"
                args=()
                [ -n "$quick" ] && [ "$q" = q ] && args=(--quick)
                [ "$sub" = . ] && sub= || sub=/$sub
                PYSPY_WATCH=$build/pyspy-watch PYSPY_TEST_INCIDENT=$build/tests/test-incident \
                PYSPY_TEST_OUT="$OUT/$name$sub" \
                        run "$name/test_$test" $((limit * slow)) python3 "tests/live/test_$test.py" "${args[@]}"
        done
}

echo "== live tests (./pyspy-watch)"
live_suite build live 1 ""
echo "== live tests (build-asan/pyspy-watch)"
live_suite build-asan live-asan 2 quick

echo
echo "passed: ${#passed[@]}  failed: ${#failed[@]}  skipped: ${#skipped[@]}   (logs in $OUT/)"
for n in "${failed[@]}"; do
        echo "  FAILED  $n"
done
for n in "${skipped[@]}"; do
        echo "  skipped $n"
done
[ ${#failed[@]} -eq 0 ]
