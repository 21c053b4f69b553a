#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Live test of `pyspy-watch top` against real interpreters (3.11 and 2.7; missing ones are
skipped, saying so).

A target spends about 2/3 of its CPU in `hot` and 1/3 in `warm`, both called from `main` in a
loop. In a detached tmux session of a known size, `top --pid PID` must show the pid and the
Python version, `hot` first with a plausible %Own, `warm` listed; key `2` must sort by %Total
(`main` or `<module>` first); a window resize must redraw to the new width; `q` must quit and
give the terminal back (no alternate screen, the shell and what was on screen before return).
Without a terminal, top prints a plain table every second and stops cleanly on SIGINT or when
the target exits; `top -- PROGRAM` ends with the program and reports its exit status; bad
input gets one line on stderr and exit 1 or 2.

    python3 tests/live/test_top.py [--python PATH]...

The binary is $PYSPY_WATCH (relative to the repository root), default ./pyspy-watch.
Screens and outputs are kept under tests/out/live/top/ ($PYSPY_TEST_OUT).
Exit 0 when every check passed, 77 when tmux or every interpreter is missing, 1 otherwise.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livecommon as lc  # noqa: E402

WANT = ["3.11", "2.7"]
WIDTH, HEIGHT = 160, 40
WIDTH2, HEIGHT2 = 120, 30
NO_PID = 4194304

# Python 2.7 and 3 alike. The spin loops call only C functions, so the innermost Python frame
# is hot or warm for nearly every sample.
TARGET = """
import time
def hot():
    end = time.time() + 0.02
    while time.time() < end:
        pass
def warm():
    end = time.time() + 0.01
    while time.time() < end:
        pass
def main():
    while True:
        hot()
        warm()
main()
"""

# The launched program: the same work for 1.5 s, then a known exit status.
LAUNCHED = """
import sys, time
def hot():
    end = time.time() + 0.02
    while time.time() < end:
        pass
stop = time.time() + 1.5
while time.time() < stop:
    hot()
sys.exit(3)
"""

ROW_RE = re.compile(r"^\s*([\d.]+)%\s+([\d.]+)%\s+([\d.]+)s\s+([\d.]+)s\s+(\S+) \((.*)\)\s*$")

failures = 0
OUTDIR = None


def check(name, problems):
    global failures
    if problems:
        failures += 1
        print("FAIL %s" % name)
        for p in problems[:8]:
            for i, line in enumerate(str(p).splitlines() or [""]):
                print(("     - " if i == 0 else "       ") + line)
    else:
        print("ok   %s" % name)
    return not problems


def save(name, text):
    with open(os.path.join(OUTDIR, re.sub(r"[^\w.-]+", "_", name)), "w") as f:
        f.write(text)


def table_rows(lines):
    """The rows of the first table in lines: [(own%, total%, own s, total s, function, file)]."""
    rows, inside = [], False
    for line in lines:
        if "%Own" in line and "Function" in line:
            if inside:
                break
            inside = True
            continue
        if inside:
            m = ROW_RE.match(line)
            if not m:
                break
            rows.append((float(m.group(1)), float(m.group(2)), float(m.group(3)),
                         float(m.group(4)), m.group(5), m.group(6)))
    return rows


# ---------------------------------------------------------------------------------------------
# tmux, on a private server so that nothing of the user's is touched

class Tmux:
    def __init__(self):
        self.sock = "pyspy-top-test-%d" % os.getpid()
        self.started = False

    def run(self, *args, check=True):
        r = subprocess.run(["tmux", "-L", self.sock, "-f", "/dev/null"] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
        if check and r.returncode != 0:
            raise RuntimeError("tmux %s: %s" % (" ".join(args), r.stderr.decode(errors="replace")))
        return r.stdout.decode("utf-8", "replace")

    def start(self):
        env = dict(os.environ)
        env.pop("TMUX", None)
        subprocess.run(["tmux", "-L", self.sock, "-f", "/dev/null", "new-session", "-d", "-s", "top",
                        "-x", str(WIDTH), "-y", str(HEIGHT),
                        "env", "PS1=PROMPT$ ", "TERM=screen", "bash", "--norc", "--noprofile"],
                       env=env, check=True, timeout=20)
        self.started = True
        # A window of a fixed size that resize-window may change, whatever clients attach.
        self.run("set-option", "-g", "window-size", "manual", check=False)

    def type(self, text):
        self.run("send-keys", "-t", "top", "-l", text)

    def key(self, key):
        self.run("send-keys", "-t", "top", key)

    def screen(self):
        return self.run("capture-pane", "-p", "-t", "top")

    def var(self, name):
        return self.run("display-message", "-p", "-t", "top", "#{%s}" % name).strip()

    def stop(self):
        if self.started:
            self.run("kill-server", check=False)
            self.started = False


def wait_screen(tmux, pred, timeout):
    """Captures the pane until pred(text) returns no problems; returns (text, problems)."""
    deadline = time.monotonic() + timeout
    while True:
        text = tmux.screen()
        problems = pred(text)
        if not problems or time.monotonic() > deadline:
            return text, problems
        time.sleep(0.2)


def read_file(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def start_target(python, tmpdir):
    path = os.path.join(tmpdir, "hotwarm.py")
    with open(path, "w") as f:
        f.write(TARGET)
    p = lc.spawn([python, path])
    # Until the interpreter runs main(): its import and startup take a few tens of ms.
    time.sleep(0.7)
    return p


# ---------------------------------------------------------------------------------------------

def test_screen(version, python, tmpdir):
    tag = "top-%s" % version
    target = start_target(python, tmpdir)
    tmux = Tmux()
    errfile = os.path.join(tmpdir, "top.err")
    ver_text = "Python v%s" % version
    try:
        if target.poll() is not None:
            return check(tag + ": target", ["target exited at once with %s" % target.returncode])
        tmux.start()
        tmux.type("clear; echo BEFORE-TOP-MARKER; %s top --pid %d 2>%s; echo TOP-EXIT=$?"
                  % (lc.BIN, target.pid, errfile))
        tmux.key("Enter")
        time.sleep(3)

        def first_screen(text):
            lines = text.splitlines()
            p = []
            if not lines or not lines[0].startswith("Process %d:" % target.pid):
                p.append("the first line does not name process %d" % target.pid)
            if ver_text not in text:
                p.append("%r not on screen" % ver_text)
            rows = table_rows(lines)
            if not rows:
                p.append("no table on screen")
            else:
                if rows[0][4] != "hot":
                    p.append("first row is %r, not hot" % rows[0][4])
                elif not 50 <= rows[0][0] <= 80:
                    p.append("hot's %%Own is %.2f, not within 50..80" % rows[0][0])
                if "warm" not in [r[4] for r in rows]:
                    p.append("warm is not listed")
            if not re.search(r"GIL: [\d.]+%\s+Active: [\d.]+%\s+Threads: \d+\s+Errors: \d+", text):
                p.append("no GIL/Active/Threads/Errors counters in the header")
            return p + (["screen:\n" + text] if p else [])

        text, p = wait_screen(tmux, first_screen, 10)
        save(tag + "-1-start.txt", text)
        if tmux.var("alternate_on") != "1":
            p.append("top is not on the alternate screen")
        check("%s: header (pid, version, counters), hot first with %%Own 50-80, warm listed" % tag, p)
        lines = text.splitlines()
        check("%s: the version is right-aligned to the width (%d)" % (tag, WIDTH),
              [] if lines and len(lines[0].rstrip()) == WIDTH and lines[0].rstrip().endswith(ver_text)
              else ["first line is %d columns: %r" % (len(lines[0].rstrip()) if lines else 0,
                                                       lines[0] if lines else "")])

        tmux.key("2")

        def sorted_total(text):
            rows = table_rows(text.splitlines())
            p = []
            if "Sorted by %Total" not in text:
                p.append("no 'Sorted by %Total' on screen")
            if not rows:
                p.append("no table on screen")
            elif rows[0][4] not in ("main", "<module>") or rows[0][1] < 90:
                p.append("first row %r with %%Total %.2f, expected main or <module> near 100"
                         % (rows[0][4], rows[0][1]))
            return p + (["screen:\n" + text] if p else [])

        text, p = wait_screen(tmux, sorted_total, 3)
        save(tag + "-2-sorted.txt", text)
        check("%s: key 2 sorts by %%Total (main or <module> first)" % tag, p)

        tmux.run("resize-window", "-t", "top", "-x", str(WIDTH2), "-y", str(HEIGHT2))

        def resized(text):
            lines = text.splitlines()
            first = lines[0].rstrip() if lines else ""
            p = []
            if len(first) != WIDTH2 or not first.endswith(ver_text):
                p.append("first line is %d columns, not %d ending in %r: %r"
                         % (len(first), WIDTH2, ver_text, first))
            if any(len(l) > WIDTH2 for l in lines):
                p.append("a line is wider than %d" % WIDTH2)
            if len(lines) > HEIGHT2:
                p.append("%d lines on a %d-line screen" % (len(lines), HEIGHT2))
            if not table_rows(lines):
                p.append("no table after the resize")
            return p + (["screen:\n" + text] if p else [])

        # At once: well before the next one-second refresh could hide a missed SIGWINCH.
        text, p = wait_screen(tmux, resized, 0.4)
        save(tag + "-3-resized.txt", text)
        check("%s: a resize to %dx%d redraws at once to the new width" % (tag, WIDTH2, HEIGHT2), p)

        tmux.key("q")

        def restored(text):
            p = []
            if "TOP-EXIT=0" not in text:
                p.append("no 'TOP-EXIT=0' on screen: top did not exit 0")
            if "BEFORE-TOP-MARKER" not in text:
                p.append("what was on screen before top did not come back")
            if not re.search(r"^PROMPT\$ *$", text, re.M):
                p.append("no shell prompt")
            return p + (["screen:\n" + text] if p else [])

        text, p = wait_screen(tmux, restored, 5)
        save(tag + "-4-quit.txt", text)
        alt = tmux.var("alternate_on")
        if alt != "0":
            p.append("the pane is still on the alternate screen (alternate_on=%s)" % alt)
        if tmux.var("cursor_flag") not in ("1", ""):
            p.append("the cursor was left hidden")
        err = read_file(errfile)
        rep = lc.SANITIZER_RE.search(err)
        if rep:
            p.append("sanitizer report: %r" % err[-800:])
        elif err.strip():
            p.append("stderr not empty: %r" % err[-300:])
        check("%s: q quits with exit 0 and restores the terminal" % tag, p)
        if target.poll() is not None:
            check("%s: target alive after top" % tag, ["target exited with %s" % target.returncode])
    finally:
        tmux.stop()
        lc.kill(target)


def run_plain(argv, outfile, errfile):
    e = dict(os.environ)
    e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    with open(outfile, "wb") as out, open(errfile, "wb") as err:
        return lc.spawn([lc.BIN] + argv, stdout=out, stderr=err, env=e)


def snapshots(text, pid):
    """The snapshots of a plain output: each from its "Process PID:" line on."""
    parts = re.split(r"^(?=Process %d: )" % pid, text, flags=re.M)
    return [s for s in parts if s.startswith("Process %d: " % pid)]


def test_plain(version, python, tmpdir):
    tag = "top-%s plain" % version
    target = start_target(python, tmpdir)
    out, err = os.path.join(tmpdir, "plain.out"), os.path.join(tmpdir, "plain.err")
    try:
        top = run_plain(["top", "--pid", str(target.pid)], out, err)
        time.sleep(2.5)
        top.send_signal(signal.SIGINT)
        try:
            rc = top.wait(timeout=10)
        except subprocess.TimeoutExpired:
            rc = "timeout"
        lc.kill(top)
        text, etext = read_file(out), read_file(err)
        save(tag + ".txt", text + "\n# stderr:\n" + etext)
        p = []
        if rc != 0:
            p.append("exit %s after SIGINT; stderr %r" % (rc, etext[-300:]))
        if lc.SANITIZER_RE.search(etext):
            p.append("sanitizer report: %r" % etext[-800:])
        if "\x1b" in text:
            p.append("escape codes in the plain output")
        snaps = snapshots(text, target.pid)
        if len(snaps) < 2:
            p.append("%d snapshots in 2.5 s, expected at least 2" % len(snaps))
        # One second of samples (the %Own window) is noisy on a loaded machine; the cumulative
        # OwnTime of the last snapshot (every sample so far) must put hot ahead of warm.
        if snaps:
            rows = table_rows(snaps[-1].splitlines())
            own = dict((r[4], float(r[2])) for r in rows)
            if not own.get("hot", 0) > own.get("warm", 0):
                p.append("last snapshot: hot's OwnTime %r is not above warm's %r:\n%s"
                         % (own.get("hot"), own.get("warm"), snaps[-1]))
        check("%s: a table every second, hot first, exit 0 on SIGINT" % tag, p)

        # The target going away ends top by itself, with a note.
        top = run_plain(["top", "--pid", str(target.pid)], out, err)
        time.sleep(1.2)
        lc.kill(target)
        try:
            rc = top.wait(timeout=10)
        except subprocess.TimeoutExpired:
            rc = "timeout"
        lc.kill(top)
        etext = read_file(err)
        save(tag + "-exit.txt", read_file(out) + "\n# stderr:\n" + etext)
        p = []
        if rc != 0:
            p.append("exit %s after the target exited; stderr %r" % (rc, etext[-300:]))
        if "process %d exited" % target.pid not in etext:
            p.append("no note that the process exited: %r" % etext[-300:])
        if lc.SANITIZER_RE.search(etext):
            p.append("sanitizer report: %r" % etext[-800:])
        check("%s: the target exiting ends top with exit 0 and a note" % tag, p)
    finally:
        lc.kill(target)


def test_launch(version, python):
    tag = "top-%s launch" % version
    r = lc.run_tool(["top", "--", python, "-c", LAUNCHED], timeout=30)
    r.save(os.path.join(OUTDIR, re.sub(r"[^\w.-]+", "_", tag) + ".txt"))
    p = []
    if r.rc != 0:
        p.append(r.describe())
    if r.sanitizer_report():
        p.append("sanitizer report: %r" % r.err_text[-800:])
    if "program exited with status 3" not in r.err_text:
        p.append("no note 'program exited with status 3': %r" % r.err_text[-300:])
    if r.rc == 0 and r.elapsed > 10:
        p.append("took %.1fs for a 1.5 s program" % r.elapsed)
    rows = table_rows(r.out_text.splitlines())
    if not rows or rows[0][4] != "hot":
        p.append("no snapshot with hot first: %r" % r.out_text[-500:])
    check("%s: `top -- python -c ...` ends with the program, notes its status, exit 0" % tag, p)


def test_badinput():
    cases = [
        ("no target", [], 2, r"no process given"),
        ("bad pid", ["--pid", "abc"], 2, r"invalid pid"),
        ("bad rate", ["--pid", "1", "-r", "0"], 2, r"invalid rate"),
        ("pid and program", ["--pid", "1", "--", "true"], 2, r"both --pid and a program"),
        ("unknown option", ["--frobnicate"], 2, r"unknown option"),
        ("no such process", ["--pid", str(NO_PID - 1)], 1, r"(no such process|cannot be read)"),
        ("no such program", ["--", "/nonexistent/pyspy-no-program"], 1, r"cannot run"),
    ]
    for name, args, want, pattern in cases:
        r = lc.run_tool(["top"] + args, timeout=30)
        p = []
        if r.rc != want:
            p.append("exit %s, expected %d: %s" % (r.rc, want, r.describe()))
        lines = r.err_text.strip().splitlines()
        if len(lines) != 1:
            p.append("%d lines on stderr, expected 1: %r" % (len(lines), r.err_text[-400:]))
        elif not re.search(pattern, lines[0], re.I):
            p.append("stderr %r does not match %r" % (lines[0], pattern))
        if r.out.strip():
            p.append("stdout not empty: %r" % r.out_text[:200])
        if r.sanitizer_report():
            p.append("sanitizer report")
        check("top bad input: %s -> exit %d" % (name, want), p)


def main():
    global OUTDIR
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", action="append", help="test this interpreter (repeatable)")
    args = ap.parse_args()

    bp = lc.binary_problem()
    if bp:
        print("FAIL %s" % bp)
        return 1
    OUTDIR = lc.out_dir("top")

    test_badinput()

    found, _ = lc.discover_interpreters(args.python)
    chosen = []
    if args.python:
        chosen = found
    else:
        for mm in WANT:
            match = [(v, p) for v, p in found if v.startswith(mm + ".")]
            if match:
                chosen.append(match[0])
            else:
                print("skip: python %s not installed" % mm)
    have_tmux = shutil.which("tmux") is not None
    if not have_tmux:
        print("skip: tmux not installed: the terminal checks are skipped")

    for version, python in chosen:
        tmpdir = tempfile.mkdtemp(prefix="pyspy-top-")
        lc._DIRS.append(tmpdir)
        if have_tmux:
            test_screen(version, python, tmpdir)
        test_plain(version, python, tmpdir)
        test_launch(version, python)

    if not chosen:
        print("skip: no interpreter to test top against")
        return 1 if failures else 77
    print("%s: %d check(s) failed" % ("FAIL" if failures else "ok", failures) if failures
          else "ok   all top checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        lc.kill_all()
