#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Checks sampler/pyoffsets.c against every CPython installed under pyenv, two independent
# ways per version:
#   1. probe.c, compiled against that version's own headers (Py_BUILD_CORE), prints the
#      compiler's offsetof() for every field an installed header declares;
#   2. check-live.py, run by that interpreter, reads its own memory at our offsets and
#      compares with known values (covers structs no header declares: dict keys < 3.11,
#      PyModuleObject < 3.10), and on 3.13 compares the live _Py_DebugOffsets too.
# Also, for 3.13, dump-table --debug-offsets reads a live 3.13 from outside through
# pyoffsets_from_debug_offsets() and the result must equal the built-in row.
# A table field that has a value but was confirmed by neither way is an error too.
#
# Run from the repository root after `make`: bash tests/offsets/check-offsets.sh
# Exit 0 when everything matches (missing versions are skipped), 1 on any mismatch.

set -u

cd "$(dirname "$0")/../.." || exit 1

VERSIONS="2.7 3.6 3.7 3.8 3.9 3.10 3.11 3.12 3.13"
OUT=build/tests/offsets
LIB=${PYSPY_LIB:-build/libpyspy.a}   # overridable to test the checker itself
CC=${CC:-cc}
mkdir -p "$OUT"

if [ -n "${PYENV_ROOT:-}" ]; then
        root=$PYENV_ROOT
elif command -v pyenv >/dev/null 2>&1; then
        root=$(pyenv root)
else
        root=$HOME/.pyenv
fi

if [ ! -f "$LIB" ]; then
        echo "check-offsets: $LIB missing, building it"
        make -s "$LIB" || exit 1
fi
# shellcheck disable=SC2046
if ! $CC -std=gnu11 -D_GNU_SOURCE -Isampler -O1 -o "$OUT/dump-table" tests/offsets/dump-table.c \
        "$LIB" $(pkg-config --libs libelf libsystemd inih 2>/dev/null) -lm; then
        echo "check-offsets: cannot build dump-table"
        exit 1
fi

failed=0
checked=0

for mm in $VERSIONS; do
        # The newest installed micro release of this minor version.
        vdir=$(for d in "$root"/versions/"$mm".*; do
                        [[ ${d##*/} =~ ^${mm//./\\.}\.[0-9]+$ ]] && echo "$d"
                done | sort -V | tail -n1)
        py=$vdir/bin/python$mm
        if [ -z "$vdir" ] || [ ! -x "$py" ]; then
                echo "skip: $mm not installed"
                continue
        fi
        ver=${vdir##*/}
        row=$OUT/row-$mm.txt
        probe_out=$OUT/probe-$mm.txt
        live_out=$OUT/live-$mm.txt
        : >"$probe_out"

        "$OUT/dump-table" "$mm" >"$row" || { echo "FAIL $ver: no row in our table"; failed=1; continue; }

        inc=
        for d in "$vdir"/include/python"$mm" "$vdir"/include/python"$mm"m; do
                [ -f "$d/Python.h" ] && inc=$d
        done
        if [ -n "$inc" ]; then
                if $CC -std=gnu11 -w -I"$inc" -o "$OUT/probe-$mm" tests/offsets/probe.c 2>"$OUT/probe-$mm.err"; then
                        "$OUT/probe-$mm" >"$probe_out"
                else
                        echo "FAIL $ver: probe.c does not compile against $inc:"
                        head -n 20 "$OUT/probe-$mm.err"
                        failed=1
                fi
        else
                echo "note: $ver has no headers, live checks only"
        fi

        "$py" tests/offsets/check-live.py "$row" >"$live_out" 2>&1
        live_rc=$?
        grep -E '^(MISMATCH|info)' "$live_out" | sed "s/^/  $ver live: /"
        if [ $live_rc -ne 0 ]; then
                grep -q '^MISMATCH' "$live_out" || tail -n 20 "$live_out"
                failed=1
        fi

        # Merge: every field of our row must equal the header value where there is one,
        # and anything with a value must be confirmed by the headers or the live check.
        if ! awk -v ver="$ver" '
                FILENAME == ARGV[1] { probe[$1] = $2; next }
                FILENAME == ARGV[2] { if ($1 == "verified") live[$2] = 1; next }
                {
                        f = $1; v = $2
                        if (f ~ /^model\./ || f ~ /\.size$/) next
                        if (f in probe) {
                                if (probe[f] != v) {
                                        printf "  %s %-28s ours %-6s headers %s\n", ver, f, v, probe[f]
                                        bad = 1
                                } else if (v != "none") ok++
                        } else if (v != "none" && !(f in live)) {
                                printf "  %s %-28s ours %-6s UNVERIFIED (no header, no live check)\n", ver, f, v
                                bad = 1
                        } else if (v != "none") ok++
                }
                END { exit bad }' "$probe_out" "$live_out" "$row"; then
                failed=1
        fi
        while read -r f _; do
                case $f in unicode.sizeof_py_unicode) continue ;; esac
                grep -q "^$f " "$row" || { echo "  $ver: header field $f missing from dump-table"; failed=1; }
        done <"$probe_out"
        if grep -q '^unicode.sizeof_py_unicode' "$probe_out"; then
                echo "  $ver info: sizeof(Py_UNICODE) = $(awk '/^unicode.sizeof_py_unicode/ {print $2}' "$probe_out")"
        fi

        if [ "$mm" = 3.13 ]; then
                if "$OUT/dump-table" --debug-offsets "$py" >"$OUT/debug-$mm.txt"; then
                        if ! diff -u --label "row $mm" --label "from live _Py_DebugOffsets" \
                                "$row" "$OUT/debug-$mm.txt"; then
                                failed=1
                        fi
                else
                        echo "FAIL $ver: pyoffsets_from_debug_offsets on a live $ver failed"
                        failed=1
                fi
        fi

        checked=$((checked + 1))
        n_probe=$(grep -vc -E '^(major|minor|unicode.sizeof)' "$probe_out")
        n_live=$(grep -c '^verified' "$live_out")
        echo "checked $ver: $n_probe fields from headers, $n_live confirmed live"
done

if [ $failed -ne 0 ]; then
        echo "check-offsets: MISMATCH (see above)"
        exit 1
fi
echo "check-offsets: $checked versions match"
exit 0
