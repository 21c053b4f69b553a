#!/bin/bash
# SPDX-License-Identifier: MIT
# Installs, with apt-get, the Debian packages that building and testing need and that are
# missing. Quiet when everything is there.
set -euo pipefail
need=()
for p in gcc make pkg-config libelf-dev libsystemd-dev libinih-dev python3 procps chromium tmux clang libclang-rt-14-dev; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
        echo "install-deps: installing ${need[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# The browser and schema tests' npm packages (versions pinned by package-lock.json).
if [ ! -d tests/js/node_modules/playwright-core ] || [ tests/js/package-lock.json -nt tests/js/node_modules ]; then
        echo "install-deps: npm ci in tests/js"
        (cd tests/js && npm ci --no-audit --no-fund --silent) && touch tests/js/node_modules
fi
