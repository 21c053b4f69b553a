#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The contract of `pyspy-watch check-config` (SPEC.md, "The daemon"; pyspy-watch.ini(5)):

- a good file: exit 0, the effective configuration on stdout, nothing on stderr; that output is
  itself a good file and prints back identically (it is reloadable);
- a bad file: exit 2, nothing on stdout, one `FILE:LINE: message` line on stderr per problem,
  every problem of the file (not only the first);
- a missing file, a directory, a file writable by others: exit 2, one `FILE: message` line;
- --help: exit 0 on stdout; a usage error: exit 2, one line.

    python3 tests/live/test_check_config.py

No Python target is needed. The binary is $PYSPY_WATCH (relative to the repository root),
default ./pyspy-watch. Outputs are kept under tests/out/live/check-config/ ($PYSPY_TEST_OUT).
"""

import os
import re
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livecommon as lc  # noqa: E402

results = []
OUTDIR = None
TMP = None

GOOD = """\
; a comment
[daemon]
state_dir = /var/lib/pyspy-watch-test   ; inline comment
max_incidents = 5
max_incident_bytes = 64M

[watch:web]
match = gunicorn: worker
rate = 10
stuck_after = 45s
window = 22:00-04:00
threads = main
ignore = ^(accept \\((.*/)?socket
    |select \\((.*/)?selectors)\\.py\\)$
history = 2m
locals = no
redact = password|token
cooldown = 1h
action = exec
exec = /usr/local/bin/page-oncall {name} {pid} {tid} {bundle} {incident}

[watch:worker]
pidfile = /run/worker.pid
"""

# Each bad line is marked with the line number it must be reported on.
BAD = """\
[daemon]
max_incidents = 0
[deamon]
[watch:web]
rte = 5
stuck_after = 5x
window = 25:00-01:00
exec = /bin/x {nme}
[watch:web]
[watch:ok]
pid = 1
unit = app.service
"""
BAD_LINES = [2, 3, 4, 5, 6, 7, 8, 8, 9, 12]

LINE_RE = re.compile(r"^(?P<file>.+?):(?P<line>\d+): (?P<msg>.+)$")


def record(name, problems, r=None):
    if r is not None:
        r.save(os.path.join(OUTDIR, re.sub(r"[^\w.-]+", "_", name) + ".txt"))
    ok = not problems
    results.append((name, ok, problems))
    print(("ok   %s" if ok else "FAIL %s") % name)
    for p in problems[:10]:
        print("     - %s" % p)
    return ok


def write(name, text, mode=0o600):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def common(r):
    p = []
    rep = r.sanitizer_report()
    if rep:
        p.append("sanitizer report %r" % rep)
    return p


def check(args):
    # The permission rule must be tested as written: never inherit the escape hatch (run_tool
    # adds to the environment, so override it with a value that does not open it).
    return lc.run_tool(["check-config"] + list(args), env={"PYSPY_WATCH_ALLOW_INSECURE_CONFIG": "0"})


def test_good():
    path = write("good.ini", GOOD)
    r = check(["-c", path])
    p = common(r)
    if r.rc != 0:
        p.append("exit %s, wanted 0: %s" % (r.rc, r.describe()))
    if r.err_text:
        p.append("stderr not empty: %r" % r.err_text[:400])
    out = r.out_text
    for want in ["[daemon]", "state_dir = /var/lib/pyspy-watch-test", "max_incidents = 5",
                 "max_incident_bytes = 64M", "[watch:web]", "match = gunicorn: worker",
                 "rate = 10", "stuck_after = 45s", "window = 22:00-04:00", "threads = main",
                 "history = 2m", "locals = no", "redact = password|token", "cooldown = 1h",
                 "action = exec", "exec = /usr/local/bin/page-oncall {name} {pid} {tid} {bundle} {incident}",
                 "[watch:worker]", "pidfile = /run/worker.pid"]:
        if want not in out.splitlines():
            p.append("output lacks the line %r" % want)
    # Defaults filled in for the second watch: every key is printed.
    worker = out.split("[watch:worker]", 1)[-1]
    for key in ["rate = 5", "stuck_after = 1m", "threads = all", "history = 10m", "locals = yes",
                "cooldown = 30m", "action = none", "ignore =", "redact ="]:
        if not any(line.startswith(key) for line in worker.splitlines()):
            p.append("[watch:worker] output lacks %r (defaults not filled in?)" % key)
    record("good file: exit 0 and every key printed", p, r)

    # The output is a configuration file that prints back the same.
    again = write("printed.ini", out)
    r2 = check(["-c", again])
    p = common(r2)
    if r2.rc != 0:
        p.append("printed config does not load: %s" % r2.describe())
    elif r2.out_text != out:
        p.append("printed config prints differently:\n%s\n---\n%s" % (out, r2.out_text))
    record("printed config re-parses to the same output", p, r2)

    # The shipped example is a good file too.
    example = os.path.join(lc.ROOT, "etc", "pyspy-watch.ini")
    if os.path.exists(example):
        r3 = check(["-c", write("example.ini", open(example).read())])
        p = common(r3)
        if r3.rc != 0:
            p.append("etc/pyspy-watch.ini does not load: %s" % r3.describe())
        record("etc/pyspy-watch.ini is valid", p, r3)

    # No watch at all is allowed (and said so in the output).
    r4 = check(["-c", write("empty.ini", "[daemon]\n")])
    p = common(r4)
    if r4.rc != 0 or "[daemon]" not in r4.out_text:
        p.append("a file without watches: %s" % r4.describe())
    record("a file without watches is accepted", p, r4)


def test_bad():
    path = write("bad.ini", BAD)
    r = check(["-c", path])
    p = common(r)
    if r.rc != 2:
        p.append("exit %s, wanted 2" % r.rc)
    if r.out:
        p.append("stdout not empty: %r" % r.out_text[:200])
    lines = r.err_text.splitlines()
    got = []
    for line in lines:
        m = LINE_RE.match(line)
        if not m or m.group("file") != path:
            p.append("not a FILE:LINE: message line: %r" % line)
            continue
        got.append(int(m.group("line")))
    if got != BAD_LINES:
        p.append("error lines %s, wanted %s" % (got, BAD_LINES))
    if "did you mean 'rate'" not in r.err_text:
        p.append("no suggestion for 'rte'")
    record("bad file: exit 2, one FILE:LINE: line per error, all of them", p, r)


def one_line(name, args, want_in, want_rc=2):
    r = check(args)
    p = common(r)
    if r.rc != want_rc:
        p.append("exit %s, wanted %s" % (r.rc, want_rc))
    if r.out:
        p.append("stdout not empty: %r" % r.out_text[:200])
    lines = r.err_text.splitlines()
    if len(lines) != 1:
        p.append("wanted one stderr line, got %d: %r" % (len(lines), r.err_text[:600]))
    for w in want_in:
        if w not in r.err_text:
            p.append("stderr lacks %r: %r" % (w, r.err_text[:400]))
    record(name, p, r)


def test_unreadable():
    missing = os.path.join(TMP, "missing.ini")
    one_line("missing file: exit 2, one line", ["-c", missing], [missing + ": cannot read"])
    one_line("directory: exit 2, one line", ["-c", TMP], [TMP + ": cannot read"])
    loose = write("loose.ini", GOOD, 0o666)
    one_line("file writable by others: refused, one line", ["-c", loose], ["chmod go-w " + loose])
    one_line("usage error: exit 2, one line", ["--frobnicate"], ["unknown option"])
    one_line("stray argument: exit 2, one line", ["x.ini"], ["-c"])


def test_help():
    r = check(["--help"])
    p = common(r)
    if r.rc != 0 or "check-config" not in r.out_text or "--config" not in r.out_text:
        p.append(r.describe())
    record("--help", p, r)


def main():
    global OUTDIR, TMP
    why = lc.binary_problem()
    if why:
        print("FAIL %s" % why)
        return 1
    OUTDIR = lc.out_dir("check-config")
    with tempfile.TemporaryDirectory(prefix="pyspy-check-config-") as TMP:
        test_good()
        test_bad()
        test_unreadable()
        test_help()
    failed = [n for n, ok, _ in results if not ok]
    print("%d checks, %d failed" % (len(results), len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
