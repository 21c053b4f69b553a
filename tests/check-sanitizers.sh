#!/bin/bash
# SPDX-License-Identifier: MIT
# Proves the sanitizer runs of `make check` can fail: the sanitizer build is really
# instrumented (ASan, UBSan and LeakSanitizer linked into build-asan/pyspy-watch), and a
# deliberate leak, overflow and undefined behaviour, built with the same flags, are each
# reported in a form tests/run.sh's pattern catches.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
SAN_RE=$1
FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail=0

libs=$(ldd build-asan/pyspy-watch 2>&1)
for lib in libasan libubsan; do
        if grep -q "$lib" <<<"$libs"; then
                echo "ok    build-asan/pyspy-watch links $lib"
        else
                echo "FAIL  build-asan/pyspy-watch does not link $lib"
                fail=1
        fi
done

declare -A canary=(
        [leak]='#include <stdlib.h>
int main(void) { volatile char *p = malloc(99); p[0] = 1; p = 0; return 0; }'
        [overflow]='#include <stdlib.h>
int main(int argc, char **argv) { char *p = malloc(8); p[8 + argc - 1] = 1; (void) argv; free(p); return 0; }'
        [ub]='#include <limits.h>
int main(int argc, char **argv) { int x = INT_MAX; x += argc; (void) argv; return x == 0; }'
)
for name in leak overflow ub; do
        printf '%s\n' "${canary[$name]}" >"$dir/$name.c"
        if ! ${CC:-cc} $FLAGS -o "$dir/$name" "$dir/$name.c" 2>"$dir/$name.cc"; then
                echo "FAIL  cannot build the $name canary: $(head -n 1 "$dir/$name.cc")"
                fail=1
                continue
        fi
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1 "$dir/$name" >"$dir/$name.out" 2>&1
        rc=$?
        if [ $rc -ne 0 ] && grep -Eq "$SAN_RE" "$dir/$name.out"; then
                # (not quoted here: run.sh would take this log for a sanitizer report)
                echo "ok    the $name canary is reported (exit $rc), in words tests/run.sh catches"
        else
                echo "FAIL  the $name canary went unreported (exit $rc)"
                fail=1
        fi
done
exit $fail
