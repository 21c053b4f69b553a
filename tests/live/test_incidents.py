#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`pyspy-watch incidents [list | show ID | path ID] [--json]` over a state dir of bundles
written by incident.c itself (`build/tests/test-incident --make-fixtures DIR`): the table, the
JSON array, unique prefixes, ambiguous and unknown ones, the "..., ignoring." line for each
directory that is not a complete bundle, an empty or missing incidents/ and bad usage.

    python3 tests/live/test_incidents.py

The binary is $PYSPY_WATCH (relative to the repository root), default ./pyspy-watch; the
fixture maker is $PYSPY_TEST_INCIDENT, default build/tests/test-incident.
"""

import json
import os
import re
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livecommon as lc  # noqa: E402

MAKER = os.path.join(lc.ROOT, os.environ.get("PYSPY_TEST_INCIDENT") or "build/tests/test-incident")
IDS = ["20240405T120000Z-web-100", "20240405T120001Z-web-101", "20240406T120000Z-batch-7"]
SKIPPED = ["20240404T000000Z-broken-5", ".tmp-20240406T000000Z-web-9", "notes"]

failures = []


def check(name, problems, r=None):
    if r is not None:
        r.save(os.path.join(OUTDIR, re.sub(r"[^\w.-]+", "_", name) + ".txt"))
    if r is not None and r.sanitizer_report():
        problems = list(problems) + ["sanitizer report: %s" % r.err_text[-800:]]
    if problems:
        failures.append(name)
        print("FAIL %s" % name)
        for p in problems[:8]:
            print("     - %s" % p)
    else:
        print("ok   %s" % name)


def incidents(state, *args):
    # LC_ALL/TZ fixed: the TIME column is local time.
    return lc.run_tool(["incidents", "--state-dir", state] + list(args), env={"TZ": "UTC"})


def skip_lines(r):
    return [l for l in r.err_text.splitlines() if l.endswith(", ignoring.")]


def expect_ok(r):
    p = []
    if r.rc != 0:
        p.append(r.describe())
    return p


def expect_skips(r):
    """Every non-bundle named once, nothing else on stderr."""
    p = []
    lines = r.err_text.splitlines()
    for name in SKIPPED:
        n = sum(1 for l in lines if ("/" + name + ":") in l and l.endswith(", ignoring."))
        if n != 1:
            p.append("%s reported %d times on stderr, want once: %r" % (name, n, r.err_text))
    other = [l for l in lines if not l.endswith(", ignoring.")]
    return p, other


def main():
    global OUTDIR
    OUTDIR = lc.out_dir("incidents")
    why = lc.binary_problem()
    if why:
        print("skip: " + why)
        return 77
    if not os.access(MAKER, os.X_OK):
        print("skip: %s not built (make unit-tests)" % MAKER)
        return 77

    state = tempfile.mkdtemp(prefix="pyspy-incidents-")
    lc._DIRS.append(state)
    mk = subprocess.run([MAKER, "--make-fixtures", state], stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, timeout=60)
    made = mk.stdout.decode().split()
    if mk.returncode != 0 or made != IDS:
        print("FAIL fixtures: %s exited %d, made %r: %s" % (MAKER, mk.returncode, made,
                                                          mk.stderr.decode()[-400:]))
        return 1
    inc = os.path.join(state, "incidents")

    # list (the default) and list: a header and one row per bundle, oldest first.
    for args in ([], ["list"]):
        r = incidents(state, *args)
        p = expect_ok(r)
        rows = r.out_text.splitlines()
        if not rows or rows[0].split() != ["TIME", "WATCH", "PID", "THREAD", "STUCK", "FRAME"]:
            p.append("header: %r" % rows[:1])
        if len(rows) != 1 + len(IDS):
            p.append("want %d rows, got %r" % (len(IDS), rows))
        else:
            want = [("Fri 2024-04-05 12:00:00 UTC", "web", "100", "MainThread", "74s",
                     "recv (/usr/lib/python3.11/socket.py:123)"),
                    ("Fri 2024-04-05 12:00:01 UTC", "web", "101", "worker-1", "74s",
                     "acquire (/usr/lib/python3.11/threading.py:320)"),
                    ("Sat 2024-04-06 12:00:00 UTC", "batch", "7", None, "74s", None)]
            for row, w in zip(rows[1:], want):
                for field in w:
                    if field is not None and field not in row:
                        p.append("row %r lacks %r" % (row, field))
            if "\x1b" in r.out_text or "\x07" in r.out_text:
                p.append("raw control characters from the target reached the terminal")
            if "evil\\x1b]0;x\\x07" not in rows[3]:
                p.append("hostile thread name not escaped as expected: %r" % rows[3])
        sp, other = expect_skips(r)
        check("list %s" % " ".join(args), p + sp + (["stray stderr: %r" % other] if other else []), r)

    # --json: an array with every field, the same order.
    r = incidents(state, "--json")
    p = expect_ok(r)
    try:
        arr = json.loads(r.out_text)
        if [e.get("id") for e in arr] != IDS:
            p.append("ids %r" % [e.get("id") for e in arr])
        e = arr[0]
        want = {"watch": "web", "pid": 100, "tid": 101, "thread": "MainThread",
                "frame": "recv (/usr/lib/python3.11/socket.py:123)", "reason": "blocked",
                "time": "2024-04-05T12:00:00Z", "time_usec": 1712318400000000,
                "path": os.path.join(inc, IDS[0])}
        for k, v in want.items():
            if e.get(k) != v:
                p.append("%s: %r, want %r" % (k, e.get(k), v))
        if abs(e.get("stuck_seconds", 0) - 73.5) > 0.01:
            p.append("stuck_seconds %r" % e.get("stuck_seconds"))
        if arr[2].get("thread") != "evil\x1b]0;x\x07":
            p.append("hostile thread name did not round-trip: %r" % arr[2].get("thread"))
    except (ValueError, IndexError, AttributeError) as ex:
        p.append("not the JSON expected: %s: %r" % (ex, r.out_text[:400]))
    check("list --json", p + expect_skips(r)[0], r)

    # path and show with a unique prefix, a full ID, and options after the command.
    r = incidents(state, "path", "20240406")
    p = expect_ok(r)
    if r.out_text != os.path.join(inc, IDS[2]) + "\n":
        p.append("path printed %r" % r.out_text)
    check("path unique prefix", p, r)

    r = lc.run_tool(["incidents", "show", IDS[0], "--state-dir", state])
    p = expect_ok(r)
    with open(os.path.join(inc, IDS[0], "summary.txt"), "rb") as f:
        if r.out != f.read():
            p.append("show did not print summary.txt")
    for s in ("What hung:", "Stuck since:", "-> recv (/usr/lib/python3.11/socket.py:123)",
              os.path.join(inc, IDS[0])):
        if s not in r.out_text:
            p.append("summary lacks %r" % s)
    check("show full ID", p, r)

    # An exact ID that is also a prefix of nothing else still resolves; a prefix shared by two
    # is ambiguous and names both.
    r = incidents(state, "show", "20240405T1200")
    p = []
    if r.rc != 1 or r.out:
        p.append("want exit 1 and no stdout: " + r.describe())
    msg = [l for l in r.err_text.splitlines() if "ambiguous" in l]
    if len(msg) != 1 or IDS[0] not in msg[0] or IDS[1] not in msg[0] or IDS[2] in msg[0]:
        p.append("ambiguous message %r" % r.err_text)
    check("ambiguous prefix", p, r)

    for arg in ("zzz", "20240404T000000Z-broken-5", ".tmp-20240406"):
        r = incidents(state, "path", arg)
        p = []
        if r.rc != 1 or r.out:
            p.append("want exit 1 and no stdout: " + r.describe())
        if not any("no incident matches" in l for l in r.err_text.splitlines()):
            p.append("stderr %r" % r.err_text)
        check("unknown %s" % arg, p, r)

    # A damaged manifest is skipped like a missing one.
    bad = os.path.join(inc, "20240407T000000Z-bad-3")
    os.mkdir(bad, 0o700)
    with open(os.path.join(bad, "manifest.json"), "w") as f:
        f.write('{"id": "20240407T000000Z-bad-3", "watch": ')
    r = incidents(state, "list")
    p = expect_ok(r)
    if not any("20240407T000000Z-bad-3: manifest.json" in l and l.endswith(", ignoring.")
               for l in r.err_text.splitlines()):
        p.append("damaged manifest not reported: %r" % r.err_text)
    if "bad" in r.out_text:
        p.append("damaged bundle listed")
    check("damaged manifest skipped", p, r)

    # Empty and missing incidents/: "No incidents.", exit 0; JSON [].
    empty = tempfile.mkdtemp(prefix="pyspy-incidents-empty-")
    lc._DIRS.append(empty)
    r = incidents(empty)
    check("missing incidents/", expect_ok(r) + ([] if r.out_text == "No incidents.\n" else
                                                ["stdout %r" % r.out_text]), r)
    os.mkdir(os.path.join(empty, "incidents"))
    r = incidents(empty, "--json")
    check("empty --json", expect_ok(r) + ([] if json.loads(r.out_text or "null") == [] else
                                         ["stdout %r" % r.out_text]), r)

    # Bad usage: exit 2, one line.
    for args in (["show"], ["frob"], ["list", "extra"], ["--bogus"], ["path", "a", "b"]):
        r = incidents(state, *args)
        p = []
        if r.rc != 2 or r.out or len(r.err_text.strip().splitlines()) != 1:
            p.append("want exit 2, one line on stderr: " + r.describe())
        check("usage %s" % " ".join(args), p, r)
    r = lc.run_tool(["incidents", "--help"])
    check("--help", [] if r.rc == 0 and "show ID" in r.out_text else [r.describe()], r)

    print("%d failed" % len(failures) if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
