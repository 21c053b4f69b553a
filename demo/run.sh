#!/bin/bash
# SPDX-License-Identifier: MIT
# make demo: start the bundled app, let the watchdog catch it hanging, and show the incident.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(python3 -c "import sys; print(sys.executable)")}
out=$PWD/build/demo
rm -rf "$out"
mkdir -p "$out/state"
sed "s|@STATE_DIR@|$out/state|" etc/demo.ini >"$out/demo.ini"
chmod 600 "$out/demo.ini"

"$PY" demo/app.py >"$out/app.log" 2>&1 &
app=$!
watchdog=
cleanup() {
        [ -n "$watchdog" ] && kill "$watchdog" 2>/dev/null || true
        kill "$app" 2>/dev/null || true
}
trap cleanup EXIT
echo "demo: started demo/app.py as pid $app: it deadlocks about 2 seconds in"
echo "demo: ./pyspy-watch watch -c $out/demo.ini  (events below; no journal here, so on stderr)"
echo
# No systemd journal on a build machine: the events come to stderr, one line each.
PYSPY_WATCH_JOURNAL_SOCKET=${PYSPY_WATCH_JOURNAL_SOCKET:-/run/systemd/journal/socket} \
        ./pyspy-watch watch -c "$out/demo.ini" 2>&1 | tee "$out/watch.log" &
watchdog=$!
for _ in $(seq 60); do
        sleep 0.5
        # The stuck socket read shows first; the deadlocked pair a few seconds later.
        if [ "$(./pyspy-watch incidents --state-dir "$out/state" list --json 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" -ge 2 ]; then
                break
        fi
done
sleep 1
kill "$watchdog" 2>/dev/null || true
pkill -TERM -f "pyspy-watch watch -c $out/demo.ini" 2>/dev/null || true
wait "$watchdog" 2>/dev/null || true
watchdog=
echo
echo "demo: ./pyspy-watch incidents --state-dir $out/state list"
./pyspy-watch incidents --state-dir "$out/state" list
id=$(./pyspy-watch incidents --state-dir "$out/state" list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["id"])')
echo
echo "demo: ./pyspy-watch incidents --state-dir $out/state show $id"
./pyspy-watch incidents --state-dir "$out/state" show "$id"
echo
echo "demo: the bundle: $(./pyspy-watch incidents --state-dir "$out/state" path "$id")"
ls -l "$(./pyspy-watch incidents --state-dir "$out/state" path "$id")"
