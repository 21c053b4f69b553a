#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Every MESSAGE_ID of watchdog/alert.h is well-formed, unique, the same in both twins
(PSW_MESSAGE_X and PSW_MESSAGE_X_STR), has an entry in etc/pyspy-watch.catalog, and is in the
README's MESSAGE_ID table. The catalog has no entry for an ID the code does not send.

Until README.md has a section about MESSAGE_ID, its part is skipped with a note (not a failure).

    python3 tests/check-message-ids.py
"""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER = os.path.join(ROOT, "watchdog", "alert.h")
CATALOG = os.path.join(ROOT, "etc", "pyspy-watch.catalog")
README = os.path.join(ROOT, "README.md")

TWIN_RE = re.compile(r"^#define\s+PSW_MESSAGE_([A-Z0-9_]+?)(_STR)?\s+SD_ID128_MAKE(_STR)?\(([^)]*)\)",
                     re.M)


def header_ids(text):
    """{EVENT: id} from the twins; failures for twins that disagree or are malformed."""
    plain, strs, problems = {}, {}, []
    for m in TWIN_RE.finditer(text):
        name, is_str_name, is_str_macro, args = m.group(1), bool(m.group(2)), bool(m.group(3)), m.group(4)
        if is_str_name != is_str_macro:
            problems.append("PSW_MESSAGE_%s%s uses the wrong SD_ID128_MAKE variant"
                            % (name, "_STR" if is_str_name else ""))
        parts = [p.strip().lower() for p in args.split(",")]
        if len(parts) != 16 or not all(re.fullmatch(r"[0-9a-f]{2}", p) for p in parts):
            problems.append("PSW_MESSAGE_%s: not 16 two-digit hex bytes: %s" % (name, args))
            continue
        (strs if is_str_name else plain)[name] = "".join(parts)
    for name in sorted(set(plain) | set(strs)):
        if plain.get(name) != strs.get(name):
            problems.append("PSW_MESSAGE_%s and PSW_MESSAGE_%s_STR differ or one is missing: %s vs %s"
                            % (name, name, plain.get(name), strs.get(name)))
    return strs, problems


def main():
    fail = []
    with open(HEADER, encoding="utf-8") as f:
        ids, problems = header_ids(f.read())
    fail += problems
    if len(ids) < 4:
        fail.append("expected at least 4 PSW_MESSAGE_*_STR in %s, found %d" % (HEADER, len(ids)))
    seen = {}
    for name, mid in ids.items():
        if mid in seen:
            fail.append("PSW_MESSAGE_%s and PSW_MESSAGE_%s share the ID %s" % (name, seen[mid], mid))
        seen[mid] = name
        # A random (version 4) ID, as journalctl --new-id128 makes: the version nibble.
        if mid[12] != "4":
            fail.append("PSW_MESSAGE_%s %s was not made by journalctl --new-id128 (not v4)" % (name, mid))

    with open(CATALOG, encoding="utf-8") as f:
        catalog = f.read()
    cat_ids = re.findall(r"^-- ([0-9a-f]{32})(?:\s+\S+)?\s*$", catalog, re.M)
    for name, mid in sorted(ids.items()):
        n = cat_ids.count(mid)
        if n != 1:
            fail.append("PSW_MESSAGE_%s (%s) has %d entries in %s, want 1" % (name, mid, n, CATALOG))
    for mid in cat_ids:
        if mid not in seen:
            fail.append("%s has an entry for %s, which watchdog/alert.h does not define" % (CATALOG, mid))
    for n, line in enumerate(catalog.splitlines(), 1):
        if len(line) > 76:
            fail.append("%s:%d: longer than 76 columns" % (CATALOG, n))

    with open(README, encoding="utf-8") as f:
        readme = f.read()
    readme_checked = bool(re.search(r"^#+ .*MESSAGE_ID", readme, re.M))
    if not readme_checked:
        print("note: README.md has no MESSAGE_ID section yet; its table is not checked")
    else:
        for name, mid in sorted(ids.items()):
            if mid not in readme:
                fail.append("PSW_MESSAGE_%s (%s) is missing from README.md's MESSAGE_ID table"
                            % (name, mid))

    for msg in fail:
        print("FAIL: " + msg)
    if fail:
        return 1
    print("ok: %d MESSAGE_IDs, each in the catalog%s" % (
        len(ids), " and in README.md" if readme_checked else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
