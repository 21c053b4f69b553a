#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Journal alerts end to end (SPEC.md, "Journal alerts"), with a real, private journald.

`test-alert --send` (tests/unit/test-alert.c) sends one alert of each event plus a hang with a
~10 KB stack. Next to a private journald (/work/shared/tools/with-journald, or $WITH_JOURNALD)
every entry must come back with its MESSAGE_ID, PRIORITY, SYSLOG_IDENTIFIER and every PYSPY_
field intact (the multi-line stacks byte for byte), and `journalctl -x` must show the catalog's
Subject with the fields filled in. With no journald (--no-journald) each alert must appear on
stderr as one line, none missing.

    python3 tests/live/test_journal.py        # $PYSPY_TEST_ALERT, default build/tests/test-alert

Exits 77 when no private journald can start here.
"""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

_spec = importlib.util.spec_from_file_location("check_message_ids",
                                               os.path.join(ROOT, "tests", "check-message-ids.py"))
check_message_ids = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_message_ids)

BIN = os.path.join(ROOT, os.environ.get("PYSPY_TEST_ALERT") or "build/tests/test-alert")
WITH_JOURNALD = os.environ.get("WITH_JOURNALD") or "/work/shared/tools/with-journald"
CATALOG = os.path.join(ROOT, "etc", "pyspy-watch.catalog")
OUT = os.environ.get("PYSPY_TEST_OUT") or os.path.join(ROOT, "tests", "out", "journal")

# What test-alert --send sends: keep in step with send_all() in tests/unit/test-alert.c.
STACK = ("recv (/usr/lib/python3.11/socket.py:700)\n"
         "read_request (/srv/app/server.py:41)\n"
         "handle (/srv/app/server.py:12)\n"
         "<module> (/srv/app/main.py:3)")
DEEP_STACK = "\n".join("deep_%03d (/srv/app/layer_%03d.py:%d)" % (i, i, i + 1) for i in range(300))
THREAD = 'worker "1"\nß'
EXPECTED = [
    ("HANG", 2, {
        "PYSPY_EVENT": "hang", "PYSPY_WATCH": "web", "PYSPY_PID": "4242", "PYSPY_TID": "4243",
        "PYSPY_THREAD": THREAD, "PYSPY_STUCK_SECONDS": "63", "PYSPY_STACK": STACK,
        "PYSPY_INCIDENT": "20240102T030405Z-web-4242",
        "PYSPY_BUNDLE": "/var/lib/pyspy-watch/incidents/20240102T030405Z-web-4242",
        "MESSAGE": "Python process 4242 (web) hung: thread worker 1 stuck for 63s in recv",
    }),
    ("RECOVERED", 5, {
        "PYSPY_EVENT": "recovered", "PYSPY_WATCH": "web", "PYSPY_PID": "4242", "PYSPY_TID": "4243",
        "PYSPY_THREAD": THREAD, "PYSPY_STUCK_SECONDS": "75",
        "PYSPY_INCIDENT": "20240102T030405Z-web-4242",
        "MESSAGE": "Python process 4242 (web) recovered after 75s",
    }),
    ("TARGET_LOST", 4, {
        "PYSPY_EVENT": "target-lost", "PYSPY_WATCH": "web", "PYSPY_PID": "4242",
        "MESSAGE": "Python process 4242 (web) is gone",
    }),
    ("ERROR", 3, {
        "PYSPY_EVENT": "error", "PYSPY_WATCH": "db", "PYSPY_PID": "77",
        "MESSAGE": "permission denied reading process 77: run as root or grant CAP_SYS_PTRACE",
    }),
    ("HANG", 2, {
        "PYSPY_EVENT": "hang", "PYSPY_WATCH": "deep", "PYSPY_PID": "5151", "PYSPY_TID": "5151",
        "PYSPY_THREAD": "MainThread", "PYSPY_STUCK_SECONDS": "61", "PYSPY_STACK": DEEP_STACK,
        "PYSPY_INCIDENT": "20240102T030405Z-deep-5151",
        "PYSPY_BUNDLE": "/var/lib/pyspy-watch/incidents/20240102T030405Z-deep-5151",
        "MESSAGE": "Python process 5151 (deep) hung",
    }),
]
ALL_PYSPY = ["PYSPY_EVENT", "PYSPY_WATCH", "PYSPY_PID", "PYSPY_TID", "PYSPY_THREAD",
             "PYSPY_STUCK_SECONDS", "PYSPY_STACK", "PYSPY_INCIDENT", "PYSPY_BUNDLE"]

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, flush=True)


def message_ids():
    with open(os.path.join(ROOT, "watchdog", "alert.h"), encoding="utf-8") as f:
        ids, problems = check_message_ids.header_ids(f.read())
    for p in problems:
        fail(p)
    return ids


def field_value(v):
    """journalctl -o json gives a field as a string, or as an array of byte values when it is
    not printable UTF-8, or as a list of those when the field repeats."""
    if isinstance(v, list) and v and all(isinstance(b, int) for b in v):
        return bytes(v).decode("utf-8", "surrogateescape")
    return v


def save(name, data):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


SANITIZER_RE = re.compile(
    rb"ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)"
    rb"|runtime error: |SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer")


def check_sanitizer(stderr, what):
    m = SANITIZER_RE.search(stderr)
    if m:
        fail("sanitizer report from test-alert --send (%s): %r" % (what, m.group(0)))


def run_send(extra_env=None):
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env.update(extra_env or {})
    return subprocess.run([BIN, "--send"], capture_output=True, timeout=60, env=env)


# ---- inside with-journald: send, read back, compare ----

def inside():
    ids = message_ids()
    jdir = os.environ.get("JOURNAL_DIR")
    if not jdir:
        fail("JOURNAL_DIR is not set: --inside must run under with-journald")
        return 1

    r = run_send()
    save("send-journal.out", r.stdout + b"\n# stderr:\n" + r.stderr)
    check_sanitizer(r.stderr, "journal")
    out = r.stdout.decode()
    if r.returncode != 0:
        fail("test-alert --send exited %d: %r" % (r.returncode, r.stderr[-500:]))
    if out.count(": journal") != len(EXPECTED):
        fail("not every alert went to the journal: %r" % out)
    if r.stderr.strip():
        fail("alerts reached stderr although journald runs: %r" % r.stderr[:300])

    subprocess.run(["journalctl", "--sync"], check=False, timeout=30)
    entries = []
    for _ in range(30):   # --sync is a barrier, but poll a little to be safe
        j = subprocess.run(["journalctl", "-D", jdir, "-a", "-o", "json",
                            "SYSLOG_IDENTIFIER=pyspy-watch"], capture_output=True, timeout=30)
        entries = [json.loads(line) for line in j.stdout.decode().splitlines() if line.strip()]
        if len(entries) >= len(EXPECTED):
            break
        time.sleep(0.1)
    save("entries.json", json.dumps(entries, indent=1, ensure_ascii=False))
    if len(entries) != len(EXPECTED):
        fail("want %d entries from pyspy-watch, the journal has %d" % (len(EXPECTED), len(entries)))

    for i, (event, prio, fields) in enumerate(EXPECTED):
        if i >= len(entries):
            break
        e = {k: field_value(v) for k, v in entries[i].items()}
        what = "entry %d (%s %s)" % (i, fields["PYSPY_EVENT"], fields["PYSPY_WATCH"])
        if e.get("MESSAGE_ID") != ids.get(event):
            fail("%s: MESSAGE_ID %r, want PSW_MESSAGE_%s %s" % (what, e.get("MESSAGE_ID"), event,
                                                              ids.get(event)))
        if e.get("PRIORITY") != str(prio):
            fail("%s: PRIORITY %r, want %d" % (what, e.get("PRIORITY"), prio))
        for k, want in fields.items():
            got = e.get(k)
            if got != want:
                fail("%s: %s is %r, want %r" % (what, k, (got or "")[:200], want[:200]))
        for k in ALL_PYSPY:
            if k not in fields and k in e:
                fail("%s: %s is set (%r) but does not apply" % (what, k, e[k]))
        stray = [k for k in e if k.startswith("PYSPY_") and k not in ALL_PYSPY]
        if stray:
            fail("%s: fields outside SPEC's table: %s" % (what, stray))
        for k in ("CODE_FILE", "CODE_LINE", "CODE_FUNC"):
            if k in e:
                fail("%s: %s is set; alerts carry no source location" % (what, k))

    # The 10 KB stack: every one of its 300 lines, in order.
    if len(entries) == len(EXPECTED):
        deep = field_value(entries[-1].get("PYSPY_STACK"))
        if not isinstance(deep, str) or deep.split("\n") != DEEP_STACK.split("\n"):
            fail("the 300-frame PYSPY_STACK did not come back intact (%d bytes)"
                 % len(deep or ""))

    # Filtering by MESSAGE_ID, as users will.
    j = subprocess.run(["journalctl", "-D", jdir, "-a", "-o", "json", "MESSAGE_ID=" + ids["HANG"]],
                       capture_output=True, timeout=30)
    n = len([line for line in j.stdout.decode().splitlines() if line.strip()])
    if n != 2:
        fail("journalctl MESSAGE_ID=%s finds %d entries, want the 2 hangs" % (ids["HANG"], n))

    # The catalog, through journalctl -x (with-journald --catalog built the database).
    x = subprocess.run(["journalctl", "-D", jdir, "-x", "-a", "--no-pager",
                        "SYSLOG_IDENTIFIER=pyspy-watch"], capture_output=True, timeout=30)
    text = x.stdout.decode("utf-8", "replace")
    save("journalctl-x.txt", text)
    for want in ("Subject: Python process 4242 (web) hung",
                 "pyspy-watch incidents show 20240102T030405Z-web-4242",
                 "/var/lib/pyspy-watch/incidents/20240102T030405Z-web-4242",
                 "Subject: Python process 5151 (deep) hung",
                 "Subject: Python process 4242 (web) recovered",
                 "Subject: Watched process 4242 (web) is gone",
                 "Subject: pyspy-watch could not watch, capture or reload",
                 "Documentation: man:pyspy-watch(1)"):
        if want not in text:
            fail("journalctl -x does not show %r (catalog not applied?)" % want)
    if "@PYSPY_" in text:
        fail("journalctl -x shows an unfilled @PYSPY_...@ variable")
    # journalctl fills a variable whose field the entry lacks with the field's name: the catalog
    # may only use fields every entry of its event carries.
    leaked = set(re.findall(r"\bPYSPY_[A-Z_]+\b(?! (field|and PYSPY_))", text))
    if leaked:
        fail("journalctl -x shows %s: a catalog entry uses a field its event lacks"
             % ", ".join(sorted(leaked)))

    if not failures:
        print("ok: %d alerts in the journal, every field intact, catalog shown by -x" % len(EXPECTED))
    return 1 if failures else 0


# ---- no journald: the stderr fallback ----

def unescape_ok(line):
    """A stderr line is one safe line: printable, no raw control bytes."""
    return all(c >= 0x20 and c != 0x7f for c in line)


def check_fallback():
    r = subprocess.run([WITH_JOURNALD, "--no-journald", "--", BIN, "--send"],
                       capture_output=True, timeout=120)
    save("send-stderr.out", r.stdout + b"\n# stderr:\n" + r.stderr)
    check_sanitizer(r.stderr, "no journald")
    if r.returncode != 0:
        fail("with no journald, test-alert --send exited %d: %r" % (r.returncode, r.stderr[-500:]))
        return
    out = r.stdout.decode()
    if out.count(": stderr") != len(EXPECTED):
        fail("with no journald, not every alert fell back to stderr: %r" % out)
    lines = [line for line in r.stderr.split(b"\n") if line.startswith(b"pyspy-watch: ")]
    if len(lines) != len(EXPECTED):
        fail("with no journald, want %d stderr lines, got %d: %r"
             % (len(EXPECTED), len(lines), r.stderr[:600]))
        return
    for line, (_, _, fields) in zip(lines, EXPECTED):
        text = line.decode("utf-8", "replace")
        if not unescape_ok(line):
            fail("stderr line has raw control bytes: %r" % line[:200])
        prefix = "pyspy-watch: %s: watch=%s pid=%s" % (fields["PYSPY_EVENT"], fields["PYSPY_WATCH"],
                                                       fields["PYSPY_PID"])
        if not text.startswith(prefix):
            fail("stderr line %r does not start with %r" % (text[:120], prefix))
        if "PYSPY_INCIDENT" in fields and " incident=%s" % fields["PYSPY_INCIDENT"] not in text:
            fail("stderr line lacks incident=%s: %r" % (fields["PYSPY_INCIDENT"], text[:200]))
        if "PYSPY_BUNDLE" in fields and " bundle=%s" % fields["PYSPY_BUNDLE"] not in text:
            fail("stderr line lacks bundle=%s: %r" % (fields["PYSPY_BUNDLE"], text[:200]))
        if "PYSPY_STUCK_SECONDS" in fields and " stuck=%ss" % fields["PYSPY_STUCK_SECONDS"] not in text:
            fail("stderr line lacks stuck=%ss: %r" % (fields["PYSPY_STUCK_SECONDS"], text[:200]))
        if "PYSPY_THREAD" in fields and fields["PYSPY_THREAD"] == THREAD \
                and ' thread="worker \\"1\\"\\nß"' not in text:
            fail("stderr line lacks the escaped thread name: %r" % text[:200])
        if "PYSPY_STACK" in fields:
            want = ' stack="%s"' % " <- ".join(fields["PYSPY_STACK"].split("\n"))
            if want not in text:
                fail("stderr line lacks the whole stack, joined with ' <- ' (%d bytes)" % len(text))
    if not failures:
        print("ok: with no journald, %d alerts on stderr, one line each" % len(EXPECTED))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--inside":
        return inside()

    if not os.path.isfile(BIN) or not os.access(BIN, os.X_OK):
        print("FAIL: %s not found: build it with `make unit-tests` (or set PYSPY_TEST_ALERT)" % BIN)
        return 1
    if not os.path.exists(WITH_JOURNALD) and not shutil.which(WITH_JOURNALD):
        print("skip: with-journald not found at %s (set WITH_JOURNALD)" % WITH_JOURNALD)
        return 77
    c = subprocess.run([WITH_JOURNALD, "--check"], capture_output=True, timeout=60)
    if c.returncode != 0:
        why = (c.stderr or c.stdout).decode("utf-8", "replace").strip().splitlines()
        print("skip: no private journald here: %s" % (why[-1] if why else "with-journald --check failed"))
        return 77

    r = subprocess.run([WITH_JOURNALD, "--catalog", CATALOG, "--", sys.executable,
                        os.path.abspath(__file__), "--inside"], timeout=300)
    if r.returncode != 0:
        fail("the journal half failed (exit %d)" % r.returncode)
    check_fallback()
    if failures:
        return 1
    print("ok: journal alerts (outputs in %s)" % OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
