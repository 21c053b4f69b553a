#!/bin/bash
# SPDX-License-Identifier: MIT
# Every long option that a verb's --help lists is documented in man/pyspy-watch.1, and the man
# page renders without warnings.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
bin=${PYSPY_WATCH:-./pyspy-watch}
page=man/pyspy-watch.1
fail=0
for verb in dump record top watch check-config incidents; do
        for opt in $("$bin" "$verb" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
                esc=${opt//-/\\\\-}
                if ! grep -q -- "$esc" "$page"; then
                        echo "FAIL: $verb $opt is not in $page"
                        fail=1
                fi
        done
done
if command -v groff >/dev/null; then
        for p in "$page" man/pyspy-watch.ini.5; do
                warn=$(groff -man -Tutf8 -ww -z "$p" 2>&1)
                [ -z "$warn" ] || { echo "FAIL: groff warnings in $p: $warn"; fail=1; }
        done
fi
[ $fail -eq 0 ] && echo "ok: every --help option is in $page"
exit $fail
