#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The bad-input contract of `pyspy-watch dump` (SPEC.md, "One binary"):

exit 1 for work that failed (no such process, not a Python process, a zombie, permission
denied, a target that exits mid-read), exit 2 for bad usage, and then exactly one line on
stderr naming the cause (and the fix where there is one), nothing on stdout; never a crash,
never a guessed stack. `--version` and `dump --help` exit 0.

    python3 tests/live/test_badinput.py

The binary is $PYSPY_WATCH (relative to the repository root), default ./pyspy-watch.
Outputs are kept under tests/out/live/badinput/ ($PYSPY_TEST_OUT).
"""

import json
import os
import pwd
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livecommon as lc  # noqa: E402

NO_PID = 4194304           # above the largest possible pid_max: never a process
EXIT_LOOPS = 30            # short-lived targets per interpreter
FUNC_RE = re.compile(r"^(<[\w .-]+>|[^\W\d]\w*)$", re.U)

results = []               # (name, ok, why)
OUTDIR = None


def record(name, problems, r=None):
    if r is not None:
        r.save(os.path.join(OUTDIR, re.sub(r"[^\w.-]+", "_", name) + ".txt"))
    ok = not problems
    results.append((name, ok, problems))
    if ok:
        print("ok   %s" % name)
    else:
        print("FAIL %s" % name)
        for p in problems[:8]:
            print("     - %s" % p)
    return ok


def one_line_failure(r, want_rc, patterns=(), must_contain=()):
    """Problems with r as a failure: exit want_rc, nothing on stdout, one line on stderr that
    matches every regex in patterns (case-insensitive) and contains every string of
    must_contain."""
    p = []
    rep = r.sanitizer_report()
    if rep:
        p.append("sanitizer report %r in stderr: %r" % (rep, r.err_text[-800:]))
    if r.rc != want_rc:
        p.append("exit %s, expected %d (stderr %r)" % (r.rc, want_rc, r.err_text[-300:]))
    if r.out:
        p.append("stdout not empty: %r" % r.out_text[:200])
    text = r.err_text
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) != 1 or not lines[0].strip():
        p.append("stderr is %d lines, expected exactly one: %r" % (len(lines), text[:400]))
        return p
    line = lines[0]
    for rx in patterns:
        if not re.search(rx, line, re.I):
            p.append("stderr line %r does not match /%s/" % (line, rx))
    for s in must_contain:
        if s not in line:
            p.append("stderr line %r does not name %r" % (line, s))
    return p


NO_PROCESS = r"no such process|not found|does not exist|doesn't exist|no process|not running|exited"


# ---------------------------------------------------------------------------------------------

def test_nonexistent():
    for extra in ([], ["--json"], ["--json", "--locals", "--nonblocking"]):
        r = lc.run_tool(["dump", "--pid", str(NO_PID)] + extra)
        record("nonexistent pid %d %s" % (NO_PID, " ".join(extra)),
               one_line_failure(r, 1, [NO_PROCESS], [str(NO_PID)]), r)
    p = subprocess.Popen(["true"])
    p.wait()
    if os.path.exists("/proc/%d" % p.pid):
        print("skip: just-reaped pid %d was reused at once" % p.pid)
        return
    r = lc.run_tool(["dump", "--pid", str(p.pid), "--json"])
    record("just-reaped pid", one_line_failure(r, 1, [NO_PROCESS], [str(p.pid)]), r)


def test_not_python():
    p = lc.spawn(["sleep", "100"])
    try:
        wait_exec(p.pid, "sleep")
        for extra in ([], ["--json", "--locals"]):
            r = lc.run_tool(["dump", "--pid", str(p.pid)] + extra)
            record("non-Python process (sleep) %s" % " ".join(extra),
                   one_line_failure(r, 1, [r"python", r"\bnot\b|\bno\b|n't|cannot|unable|couldn"],
                                    [str(p.pid)]), r)
        alive = p.poll() is None and lc.proc_state(p.pid) in ("S", "R")
        record("non-Python process left running", [] if alive else
               ["the sleep process is %s after the dump" % (lc.proc_state(p.pid) or "gone")])
    finally:
        lc.kill(p)


def wait_exec(pid, comm, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/comm" % pid) as f:
                if f.read().strip() == comm:
                    return
        except OSError:
            pass
        time.sleep(0.01)


def test_zombie():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:
        deadline = time.monotonic() + 5
        while lc.proc_state(pid) != "Z" and time.monotonic() < deadline:
            time.sleep(0.01)
        if lc.proc_state(pid) != "Z":
            record("zombie", ["could not make a zombie (state %r)" % lc.proc_state(pid)])
            return
        for extra in ([], ["--json", "--nonblocking"]):
            r = lc.run_tool(["dump", "--pid", str(pid)] + extra)
            record("zombie %s" % " ".join(extra),
                   one_line_failure(r, 1, [r"is a zombie", r"its parent %d" % os.getpid()], [str(pid)]), r)
    finally:
        os.waitpid(pid, 0)


def test_permission():
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    if os.geteuid() != 0:
        print("skip: permission test needs root")
        return
    if not shutil.which("setpriv"):
        print("skip: permission test needs setpriv")
        return
    # a copy of the binary that user nobody can run (the tree may sit under a 0700 home)
    tmp = tempfile.mkdtemp(prefix="pyspy-perm-")
    try:
        os.chmod(tmp, 0o755)
        exe = os.path.join(tmp, os.path.basename(lc.BIN))
        shutil.copy(lc.BIN, exe)
        os.chmod(exe, 0o755)
        p = lc.spawn([python, "-c", "import time; time.sleep(100)"])
        try:
            time.sleep(0.3)
            argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", exe,
                    "dump", "--pid", str(p.pid)]
            for extra in ([], ["--json", "--locals"], ["--nonblocking"]):
                r = run_argv(argv + extra, cwd=tmp)
                record("permission denied %s" % " ".join(extra),
                       one_line_failure(r, 1, [r"permission denied", r"runs as uid %d without CAP_SYS_PTRACE"
                                               % pwd.getpwnam("nobody").pw_uid], [str(p.pid)]), r)
            # root, but with CAP_SYS_PTRACE dropped: the message must not say "run as root".
            argv = ["setpriv", "--inh-caps=-sys_ptrace", "--bounding-set=-sys_ptrace", exe, "dump",
                    "--pid", str(p.pid)]
            r = run_argv(argv, cwd=tmp)
            if os.stat("/proc/%d" % p.pid).st_uid == 0 and r.rc != 0:
                record("permission denied as root without CAP_SYS_PTRACE",
                       one_line_failure(r, 1, [r"permission denied", r"runs as root but without CAP_SYS_PTRACE"],
                                        [str(p.pid)]), r)
            alive = p.poll() is None and lc.proc_state(p.pid) in ("S", "R")
            record("permission denied left the target running", [] if alive else
                   ["the target is %s" % (lc.proc_state(p.pid) or "gone")])
        finally:
            lc.kill(p)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_argv(argv, cwd=None, timeout=30):
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=cwd, env=env, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, 9)
        out, err = p.communicate()
        rc = "timeout"
    return lc.Result(argv, rc, out, err, time.monotonic() - t0)


SHORT_PROGRAMS = [
    "pass",
    "for i in range(20000): pass",
    "import threading; t = threading.Thread(target=lambda: sum(range(100000))); t.start(); t.join()",
    "import json, os; json.dumps(list(range(1000)))",
]


def test_exits_midread(pythons):
    """Targets that exit during the dump: exit 0 with a sane JSON or exit 1 with one line."""
    for version, python in pythons:
        problems = []
        outcomes = {0: 0, 1: 0}
        rng = random.Random(1234)
        for i in range(EXIT_LOOPS):
            prog = SHORT_PROGRAMS[i % len(SHORT_PROGRAMS)]
            p = lc.spawn([python, "-c", prog])
            time.sleep(rng.choice([0, 0, 0.001, 0.005, 0.01, 0.02, 0.04]))
            extra = [["--json"], ["--json", "--locals"], ["--json", "--nonblocking"]][i % 3]
            r = lc.run_tool(["dump", "--pid", str(p.pid)] + extra)
            lc.kill(p)
            if r.rc == 0:
                why = sane_dump(r, p.pid)
            elif r.rc == 1:
                why = one_line_failure(r, 1)
            else:
                why = ["exit %s (stderr %r)" % (r.rc, r.err_text[-300:])]
                if isinstance(r.rc, int) and (r.rc < 0 or r.rc >= 128):
                    why[0] = "crashed: " + why[0]
            if r.rc in outcomes:
                outcomes[r.rc] += 1
            if why:
                r.save(os.path.join(OUTDIR, "midread-%s-%02d.txt" % (version, i)))
                problems.append("run %d (%r, %s): %s" % (i, prog, " ".join(extra), "; ".join(why)))
        record("target exits mid-read, python %s (%d x exit 0, %d x exit 1)" % (
            version, outcomes[0], outcomes[1]), problems)


def sane_dump(r, pid):
    """Problems with an exit-0 dump of a short-lived target: valid JSON, right pid, and only
    frames that could be real (no garbage names, files that exist or are <...> pseudo-files)."""
    p = []
    rep = r.sanitizer_report()
    if rep:
        p.append("sanitizer report %r" % rep)
    try:
        j = json.loads(r.out.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        return p + ["exit 0 but stdout is not valid JSON: %s: %r" % (e, r.out_text[:200])]
    if not isinstance(j, dict) or j.get("pid") != pid or not isinstance(j.get("threads"), list):
        return p + ["exit 0 but JSON is not a dump of %d: %r" % (pid, r.out_text[:200])]
    for t in j["threads"]:
        for f in t.get("frames") or []:
            fn, fname, line = f.get("function"), f.get("filename"), f.get("line")
            if not isinstance(fn, str) or not FUNC_RE.match(fn):
                p.append("implausible function name %r" % (fn,))
            if not isinstance(fname, str) or not (
                    fname.startswith("<") or (fname.endswith(".py") and os.path.exists(fname))
                    or fname.endswith(".py") and not fname.startswith("/")):
                p.append("implausible filename %r" % (fname,))
            if not isinstance(line, int) or line < 0 or line > 100000:
                p.append("implausible line %r" % (line,))
            if p:
                return p
    return p


def test_usage():
    cases = [
        ("dump without --pid", ["dump"], [r"pid"]),
        ("dump --pid without a value", ["dump", "--pid"], [r"pid"]),
        ("dump --pid abc", ["dump", "--pid", "abc"], [r"pid|abc"]),
        ("dump --pid 12x", ["dump", "--pid", "12x"], [r"pid|12x"]),
        ("dump --pid ''", ["dump", "--pid", ""], [r"pid"]),
        ("dump --pid -5", ["dump", "--pid", "-5"], [r"pid|-5"]),
        ("dump unknown flag", ["dump", "--pid", str(NO_PID), "--no-such-flag"],
         [r"--no-such-flag"]),
        ("unknown verb", ["frobnicate"], [r"frobnicate"]),
    ]
    for name, args, patterns in cases:
        r = lc.run_tool(args)
        record("bad usage: %s" % name, one_line_failure(r, 2, patterns), r)


def test_version_help():
    r = lc.run_tool(["--version"])
    p = []
    if r.rc != 0:
        p.append("exit %s" % r.rc)
    if not re.search(r"\d+\.\d+", r.out_text):
        p.append("no version number on stdout: %r" % r.out_text[:200])
    if r.err.strip():
        p.append("stderr not empty: %r" % r.err_text[:200])
    if r.sanitizer_report():
        p.append("sanitizer report")
    record("--version", p, r)
    r = lc.run_tool(["dump", "--help"])
    p = []
    if r.rc != 0:
        p.append("exit %s" % r.rc)
    for flag in ("--pid", "--json", "--locals", "--nonblocking"):
        if flag not in r.out_text:
            p.append("stdout does not mention %s" % flag)
    if r.err.strip():
        p.append("stderr not empty: %r" % r.err_text[:200])
    if r.sanitizer_report():
        p.append("sanitizer report")
    record("dump --help", p, r)


def main():
    global OUTDIR
    problem = lc.binary_problem()
    if problem:
        print("FAIL " + problem)
        return 1
    print("binary: %s" % lc.BIN)
    OUTDIR = lc.out_dir("badinput")
    found, _ = lc.discover_interpreters()
    # mid-read: the oldest, the system one and the newest interpreter
    picks = []
    for vp in ([found[0]] if found else []) + \
            [vp for vp in found if vp[1] in lc.SYSTEM_PYTHONS] + ([found[-1]] if found else []):
        if vp not in picks:
            picks.append(vp)
    t0 = time.monotonic()
    try:
        test_version_help()
        test_usage()
        test_nonexistent()
        test_not_python()
        test_zombie()
        test_permission()
        test_exits_midread(picks)
    except Exception:
        import traceback
        record("test_badinput raised", [traceback.format_exc()])
    finally:
        lc.kill_all()
    failed = [n for n, ok, _ in results if not ok]
    print("%s: %d cases, %d failed (%.0fs)" % ("FAIL" if failed else "ok", len(results),
                                               len(failed), time.monotonic() - t0))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
