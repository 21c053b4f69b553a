#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks that folded (collapsed stack) files parse as flamegraph.pl, inferno and speedscope
read them (SPEC.md "folded"), and hold what report/folded.h promises beyond that:

  - every line is "FRAMES COUNT": matches ^(.+) (\\d+)$, the count split off at the last space;
  - FRAMES split on ';' has no empty frame;
  - the file is valid UTF-8 with no control character but the line ends (names from the
    target are sanitised: ';' -> ':', controls -> '?', invalid UTF-8 -> U+FFFD);
  - each stack text appears once, and the lines are in byte order (stable, diff-friendly).

    python3 tests/check-folded.py FILE...

Prints every problem as FILE:LINE: message and exits 1 if there was any."""

import re
import sys

LINE_RE = re.compile(rb"^(.+) (\d+)$")
# C0 controls, DEL, C1 controls, U+2028/U+2029 and the bidi formatting characters.
UNPRINTABLE_RE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def check(path):
    problems = []
    with open(path, "rb") as f:
        data = f.read()
    if data and not data.endswith(b"\n"):
        problems.append("%s: no newline at the end of the file" % path)
    previous = None
    seen = set()
    for number, raw in enumerate(data.split(b"\n")[:-1] if data else [], 1):
        where = "%s:%d" % (path, number)
        m = LINE_RE.match(raw)
        if not m:
            problems.append("%s: not 'FRAMES COUNT': %r" % (where, raw[:200]))
            continue
        stack = m.group(1)
        try:
            text = stack.decode("utf-8")
        except UnicodeDecodeError as e:
            problems.append("%s: invalid UTF-8: %s" % (where, e))
            text = stack.decode("utf-8", "replace")
        bad = UNPRINTABLE_RE.search(text)
        if bad:
            problems.append("%s: control character U+%04X" % (where, ord(bad.group(0))))
        if any(frame == "" for frame in text.split(";")):
            problems.append("%s: empty frame in %r" % (where, text[:200]))
        if stack in seen:
            problems.append("%s: stack repeated: %r" % (where, text[:200]))
        seen.add(stack)
        if previous is not None and stack < previous:
            problems.append("%s: lines not in byte order" % where)
        previous = stack
    return problems


def main(argv):
    if len(argv) < 2:
        print("usage: check-folded.py FILE...", file=sys.stderr)
        return 2
    problems = []
    for path in argv[1:]:
        try:
            problems += check(path)
        except OSError as e:
            problems.append("%s: %s" % (path, e))
    for p in problems:
        print(p)
    if not problems:
        print("ok: %d file(s)" % (len(argv) - 1))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
