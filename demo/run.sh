#!/bin/bash
# SPDX-License-Identifier: MIT
# make demo: start the bundled app, let it hang, and look inside it with pyspy-watch.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
out=build/demo
mkdir -p "$out"
"$PY" demo/app.py >"$out/app.log" 2>&1 &
app=$!
trap 'kill $app 2>/dev/null || true' EXIT
echo "demo: started demo/app.py as pid $app; it deadlocks about 3 seconds in"
sleep 5
echo "demo: ./pyspy-watch dump --locals --pid $app"
echo
./pyspy-watch dump --locals --pid "$app"
