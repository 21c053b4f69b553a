#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Live test of `pyspy-watch record` (SPEC.md, "One binary", "folded") against real interpreters.

- proportions, on every installed interpreter (2.7, 3.6-3.13; missing ones are skipped, saying
  so): a program spending ~2/3 of its CPU in hot() and ~1/3 in warm() (record_target.py hotwarm)
  recorded in launch mode (`record -f folded -r 200 -o F -- python record_target.py hotwarm 3`):
  hot's share of the hot+warm samples is 2/3 +- 0.10, the note on stderr gives the program's exit
  status 0, record exits 0;
- on one interpreter (the newest 3.x found, or --feature-python): pid mode to speedscope (schema
  and sample count), a target exiting during the record, SIGINT with a flame graph (well-formed
  SVG, no temporary file left), folded/raw syntax, default output names, --threads, --idle,
  --gil, --subprocesses, --blocking;
- bad usage: exit 2 / exit 1 with one line on stderr.

    python3 tests/live/test_record.py [--python PATH]... [--feature-python PATH] [--jobs N]

The binary is $PYSPY_WATCH (relative to the repository root), default ./pyspy-watch. What each
record wrote and printed is kept under tests/out/record/ ($PYSPY_TEST_OUT). Prints one line per
check; exit 0 when all passed, 1 otherwise.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.dom.minidom
from concurrent.futures import ThreadPoolExecutor

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livecommon as lc  # noqa: E402

RTARGET = os.path.join(lc.HERE, "record_target.py")
OUT = os.path.join(lc.ROOT, os.environ.get("PYSPY_TEST_OUT") or os.path.join("tests", "out", "record"))
VALIDATOR = os.path.join(lc.ROOT, "tests", "js", "validate-speedscope.js")
SCHEMA = os.path.join(lc.ROOT, "tests", "js", "node_modules", "speedscope", "dist", "release",
                      "file-format-schema.json")
NO_PID = 4194304           # above the largest possible pid_max: never a process

HOTWARM_SECS = 3
HOT_SHARE, HOT_TOL = 2.0 / 3.0, 0.10
HOTWARM_MIN_SHARE = 0.5    # hot+warm samples among all samples: the program does little else
RATE_TOL = 0.25

LINE_RE = re.compile(r"^(.+) (\d+)$")
FRAME_RE = re.compile(r"^(.+) \((.+):(\d+)\)$")
FINAL_RE = re.compile(r"(\d+) samples in ([\d.]+)s \(([\d.]+)/s\), (\d+) errors")

results = []               # (name, ok)


def check(name, problems):
    """problems: a list of strings (empty: passed) or a single string/None."""
    if problems is None:
        problems = []
    elif isinstance(problems, str):
        problems = [problems]
    ok = not problems
    results.append((name, ok))
    if ok:
        print("ok    %s" % name)
    else:
        print("FAIL  %s" % name)
        for p in problems[:12]:
            print("     - %s" % p)
    sys.stdout.flush()
    return ok


def slug(s):
    return re.sub(r"[^\w.-]+", "_", s).strip("_")


def out_path(name):
    os.makedirs(OUT, exist_ok=True)
    return os.path.join(OUT, name)


def tool_problems(r, want_rc=0):
    """Exit status and sanitizer findings of a finished record."""
    p = []
    rep = r.sanitizer_report()
    if rep:
        p.append("sanitizer report %r: %s" % (rep, r.describe()))
    if r.rc != want_rc:
        p.append("expected exit %s: %s" % (want_rc, r.describe()))
    return p


def err_lines(r):
    # A terminal would get \r-redrawn progress; we are a pipe, so plain lines.
    return [l for l in r.err_text.replace("\r", "\n").split("\n") if l.strip()]


def final_stats(r):
    """(samples, seconds, rate, errors) from the final 'wrote' line, or None."""
    for line in reversed(err_lines(r)):
        if " wrote " in line:
            m = FINAL_RE.search(line)
            if m:
                return int(m.group(1)), float(m.group(2)), float(m.group(3)), int(m.group(4))
    return None


def read_folded(path):
    """[(frames, count)], problems."""
    stacks, problems = [], []
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return [], ["cannot read %s: %s" % (path, e)]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return [], ["%s is not UTF-8: %s" % (path, e)]
    if text and not text.endswith("\n"):
        problems.append("%s does not end with a newline" % path)
    for n, line in enumerate(text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"), 1):
        m = LINE_RE.match(line)
        if not m or int(m.group(2)) <= 0:
            problems.append("%s:%d: not 'STACK COUNT': %r" % (path, n, line[:200]))
            continue
        stacks.append((m.group(1).split(";"), int(m.group(2))))
    return stacks, problems


def func(frame):
    m = FRAME_RE.match(frame)
    return m.group(1) if m else frame


def frame_problems(stacks, path, skip_roots=0):
    """Every frame (after skip_roots synthetic ones) is 'function (file:line)'."""
    p = []
    for frames, _ in stacks:
        for fr in frames[skip_roots:]:
            m = FRAME_RE.match(fr)
            if not m or not m.group(1) or int(m.group(3)) < 0:
                p.append("%s: frame %r is not 'function (file:line)' in %r" % (path, fr, ";".join(frames)[:300]))
                break
    return p


def total(stacks, pred=lambda frames: True):
    return sum(c for frames, c in stacks if pred(frames))


def has_func(frames, name):
    return any(func(f) == name for f in frames)


def top_stacks(stacks, k=5):
    s = sorted(stacks, key=lambda fc: -fc[1])[:k]
    return ["%d  %s" % (c, ";".join(f)[-250:]) for f, c in s]


# ---------------------------------------------------------------------------------------------
# Targets and records

class RTarget(lc.TargetProcess):
    """record_target.py MODE ARGS under python, in its own process group; .pid once ready."""

    log_tail = 800

    def __init__(self, python, mode, *args):
        self.make_dir("pyspy-rec-")
        self.ready_path = os.path.join(self.dir, "ready")
        env = dict(os.environ, PYSPY_READY=self.ready_path)
        self.start([python, RTARGET, mode] + [str(a) for a in args], env)

    def wait_ready(self, timeout=30, path=None):
        path = path or self.ready_path
        return self.wait_path(path, time.monotonic() + timeout, "target not ready after %ds" % timeout,
                              step=0.02)

    def child_pid(self):
        with open(self.ready_path + ".child") as f:
            return int(f.read())


def record(name, args, timeout=60, cwd=None):
    """Runs `record ARGS`, keeps its output under OUT/name.txt."""
    if cwd:
        old = os.getcwd()
        os.chdir(cwd)
    try:
        r = lc.run_tool(["record"] + list(args), timeout=timeout)
    finally:
        if cwd:
            os.chdir(old)
    r.save(out_path(name + ".log"))
    return r


def threads_not_stopped(pid):
    """None when the process is alive and none of its threads is stopped, else what is wrong."""
    deadline = time.monotonic() + 2
    while True:
        try:
            tids = os.listdir("/proc/%d/task" % pid)
        except OSError:
            return "is gone"
        states = [lc.proc_state_tid(pid, t) for t in tids]
        bad = [s for s in states if s in ("t", "T", "Z", "X")]
        if not bad:
            return None
        if time.monotonic() > deadline:
            return "has threads in state %s" % ",".join(states)
        time.sleep(0.05)


def cpu_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------
# Checks

def check_proportions(version, python):
    name = "proportions python %s (%s)" % (version, python)
    f = out_path("hotwarm-%s-%s.txt" % (version, slug(python)))
    if os.path.exists(f):
        os.unlink(f)
    r = record("hotwarm-%s-%s" % (version, slug(python)),
               ["-f", "folded", "-r", "200", "-o", f, "--", python, RTARGET, "hotwarm", str(HOTWARM_SECS)],
               timeout=HOTWARM_SECS + 60)
    p = tool_problems(r)
    lines = err_lines(r)
    if not lines or not re.search(r"exited with status 0$", lines[-1]):
        p.append("the last stderr line does not report exit status 0: %r" % (lines[-1:] or ""))
    stacks, fp = read_folded(f)
    p += fp
    if r.rc == 0 and not fp:
        hot = total(stacks, lambda fr: has_func(fr, "hot"))
        warm = total(stacks, lambda fr: has_func(fr, "warm"))
        allc = total(stacks)
        body = total(stacks, lambda fr: has_func(fr, "body"))
        if hot + warm < HOTWARM_MIN_SHARE * max(allc, 1):
            p.append("only %d of %d samples in hot or warm (%d in body): misnamed frames? top stacks: %s"
                     % (hot + warm, allc, body, top_stacks(stacks)))
        else:
            share = float(hot) / (hot + warm)
            if abs(share - HOT_SHARE) > HOT_TOL:
                p.append("hot's share %.3f (hot %d, warm %d), expected %.3f +- %.2f"
                         % (share, hot, warm, HOT_SHARE, HOT_TOL))
            else:
                name += ": hot %.3f of %d" % (share, hot + warm)
        # body's caller must be hot or warm, whatever the share
        wrong = [(fr, c) for fr, c in stacks if has_func(fr, "body")
                 and func(fr[[func(x) for x in fr].index("body") - 1]) not in ("hot", "warm")]
        if wrong:
            p.append("%d samples with body() called from neither hot nor warm: %s"
                     % (total(wrong), top_stacks(wrong, 3)))
    return name, p


def check_speedscope(py):
    t = RTarget(py, "spin")
    try:
        p = []
        err = t.wait_ready()
        if err:
            return ["target: " + err]
        f = out_path("pid-speedscope.json")
        if os.path.exists(f):
            os.unlink(f)
        rate, dur = 100, 2
        r = record("pid-speedscope", ["--pid", str(t.pid), "-d", str(dur), "-f", "speedscope", "-o", f])
        p += tool_problems(r)
        if r.rc != 0:
            return p
        try:
            with open(f, "rb") as fh:
                doc = json.loads(fh.read().decode("utf-8"))
        except (OSError, ValueError) as e:
            return p + ["%s does not parse as JSON: %s" % (f, e)]
        p += validate_speedscope(f)
        want = rate * dur
        weights = sum(sum(pr.get("weights", [])) for pr in doc.get("profiles", []))
        units = set(pr.get("unit") for pr in doc.get("profiles", []))
        n = weights * rate if units == {"seconds"} else weights
        if abs(n - want) > RATE_TOL * want:
            p.append("the profiles hold %.1f samples (weights %s in %s), expected %d +- %d%%"
                     % (n, weights, sorted(map(str, units)), want, RATE_TOL * 100))
        st = final_stats(r)
        if not st:
            p.append("no final 'N samples in S s' line on stderr: %r" % r.err_text[-300:])
        elif abs(st[0] - want) > RATE_TOL * want:
            p.append("stderr says %d samples, expected %d +- %d%%" % (st[0], want, RATE_TOL * 100))
        return p
    finally:
        t.close()


def validate_speedscope(f):
    if os.path.exists(VALIDATOR):
        argv = ["node", VALIDATOR, f]
    else:
        js = ("const Ajv=require('ajv');const fs=require('fs');"
              "const v=new Ajv({allErrors:true}).compile(JSON.parse(fs.readFileSync(process.argv[1],'utf8')));"
              "const d=JSON.parse(fs.readFileSync(process.argv[2],'utf8'));"
              "if(!v(d)){console.log(JSON.stringify(v.errors).slice(0,2000));process.exit(1)}")
        argv = ["node", "-e", js, SCHEMA, f]
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60,
                           cwd=os.path.join(lc.ROOT, "tests", "js"))
    except OSError as e:
        return ["cannot run node: %s" % e]
    if r.returncode != 0:
        return ["speedscope validation failed: %s" % r.stdout.decode("utf-8", "replace")[-1000:]]
    return []


def check_target_exits(py):
    t = RTarget(py, "spin", 1.5)
    try:
        err = t.wait_ready()
        if err:
            return ["target: " + err]
        f = out_path("target-exits.txt")
        if os.path.exists(f):
            os.unlink(f)
        r = record("target-exits", ["--pid", str(t.pid), "-f", "folded", "-o", f], timeout=20)
        p = tool_problems(r)
        if r.rc == "timeout":
            return p + ["record did not end when the target exited"]
        lines = err_lines(r)
        if not lines or "target exited" not in lines[-1]:
            p.append("the last stderr line does not say 'target exited': %r" % (lines[-1:] or ""))
        if r.elapsed > 10:
            p.append("record took %.1fs for a target that lives 1.5s" % r.elapsed)
        stacks, fp = read_folded(f)
        p += fp + frame_problems(stacks, f)
        if not fp and not total(stacks, lambda fr: has_func(fr, "spin")):
            p.append("no sample in spin(): %s" % top_stacks(stacks))
        return p
    finally:
        t.close()


def check_sigint(py):
    t = RTarget(py, "spin")
    d = tempfile.mkdtemp(prefix="pyspy-rec-sigint-")
    lc._DIRS.append(d)
    try:
        err = t.wait_ready()
        if err:
            return ["target: " + err]
        f = os.path.join(d, "F.svg")
        argv = [lc.BIN, "record", "--pid", str(t.pid), "-f", "flamegraph", "-o", f]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        time.sleep(1.5)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            out, errb = proc.communicate(timeout=20)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, errb = proc.communicate()
            rc = "timeout"
        r = lc.Result(argv, rc, out, errb, time.monotonic() - t0)
        r.save(out_path("sigint.log"))
        p = tool_problems(r)
        if rc == "timeout":
            return p + ["record did not stop within 20s of SIGINT"]
        try:
            xml.dom.minidom.parse(f)
            shutil.copy(f, out_path("sigint.svg"))
        except Exception as e:
            p.append("%s is not well-formed XML: %s" % (f, e))
        left = [n for n in os.listdir(d) if n != "F.svg"]
        if left:
            p.append("left in the directory: %s" % left)
        st = final_stats(r)
        if not st or st[0] <= 0:
            p.append("no samples reported: %r" % r.err_text[-300:])
        if threads_not_stopped(t.pid):
            p.append("after the record the target %s" % threads_not_stopped(t.pid))
        return p
    finally:
        t.close()


def check_formats(py):
    """folded syntax, raw == folded (same stacks of a still target), default output names."""
    t = RTarget(py, "sleep")
    d = tempfile.mkdtemp(prefix="pyspy-rec-names-")
    lc._DIRS.append(d)
    checks = []
    try:
        err = t.wait_ready()
        if err:
            return [("formats", ["target: " + err])]
        time.sleep(0.3)
        got = {}
        for fmt in ("folded", "raw"):
            f = out_path("format-%s.txt" % fmt)
            r = record("format-" + fmt, ["--pid", str(t.pid), "--idle", "-d", "1", "-f", fmt, "-o", f])
            p = tool_problems(r)
            stacks, fp = read_folded(f)
            p += fp + frame_problems(stacks, f)
            if not fp and not total(stacks, lambda fr: has_func(fr, "sleeper")):
                p.append("no stack in sleeper(): %s" % top_stacks(stacks))
            got[fmt] = set(";".join(fr) for fr, _ in stacks)
            checks.append(("format %s: lines 'STACK COUNT', frames 'function (file:line)'" % fmt, p))
        p = []
        if got.get("folded") != got.get("raw"):
            p.append("stacks differ: folded only %s, raw only %s"
                     % (sorted(got["folded"] - got["raw"])[:3], sorted(got["raw"] - got["folded"])[:3]))
        checks.append(("format raw == folded (same stacks of a sleeping target)", p))

        for fmt, ext in (("", "svg"), ("folded", "txt"), ("speedscope", "json")):
            args = ["--pid", str(t.pid), "--idle", "-d", "0.5"] + (["-f", fmt] if fmt else [])
            before = set(os.listdir(d))
            r = record("default-name-" + ext, args, cwd=d)
            p = tool_problems(r)
            new = sorted(set(os.listdir(d)) - before)
            pat = re.compile(r"^pyspy-%d-[0-9][0-9T:_.-]*\.%s$" % (t.pid, ext))
            if len(new) != 1 or not pat.match(new[0]):
                p.append("new files in the current directory: %s, expected one pyspy-%d-<timestamp>.%s"
                         % (new, t.pid, ext))
            checks.append(("default output name (%s): %s" % (fmt or "no -f", new[0] if len(new) == 1 else new), p))
        return checks
    finally:
        t.close()


def check_threads(py):
    t = RTarget(py, "threads")
    try:
        err = t.wait_ready()
        if err:
            return ["target: " + err]
        time.sleep(0.2)
        f = out_path("threads.txt")
        r = record("threads", ["--pid", str(t.pid), "--threads", "-d", "1.5", "-f", "folded", "-o", f])
        p = tool_problems(r)
        stacks, fp = read_folded(f)
        p += fp + frame_problems(stacks, f, skip_roots=1)
        root_re = re.compile(r'^thread \(0x[0-9a-f]+\) "([^"]*)"$')
        names = {}
        for fr, c in stacks:
            m = root_re.match(fr[0])
            if not m:
                p.append("line not rooted at a named thread: %r" % ";".join(fr)[:200])
                break
            names[m.group(1)] = names.get(m.group(1), 0) + c
        if not fp and not set(["MainThread", "worker"]) <= set(names):
            p.append("threads seen: %s, expected MainThread and worker" % names)
        return p
    finally:
        t.close()


def check_idle_gil(py):
    t = RTarget(py, "idle")
    checks = []
    try:
        err = t.wait_ready()
        if err:
            return [("--idle/--gil", ["target: " + err])]
        time.sleep(0.2)
        for name, extra, want_sleeper in (("default", [], False), ("idle", ["--idle"], True),
                                          ("gil", ["--gil", "--idle"], False)):
            f = out_path("idle-%s.txt" % name)
            r = record("idle-" + name, ["--pid", str(t.pid), "-d", "1.5", "-f", "folded", "-o", f] + extra)
            p = tool_problems(r)
            stacks, fp = read_folded(f)
            p += fp + frame_problems(stacks, f)
            sleeping = total(stacks, lambda fr: has_func(fr, "sleeper"))
            busy = total(stacks, lambda fr: has_func(fr, "busy"))
            if not fp:
                if want_sleeper and not sleeping:
                    p.append("no stack contains sleeper: %s" % top_stacks(stacks))
                if not want_sleeper and sleeping:
                    p.append("%d samples contain sleeper: %s" % (sleeping, top_stacks(stacks)))
                if not busy:
                    p.append("no stack contains busy: %s" % top_stacks(stacks))
                if name == "gil":
                    other = total(stacks, lambda fr: not has_func(fr, "busy"))
                    if other:
                        p.append("%d samples of threads other than busy: %s" % (other, top_stacks(stacks)))
            label = {"default": "without --idle: no sleeper", "idle": "--idle: sleeper present",
                     "gil": "--gil --idle: only the busy thread"}[name]
            checks.append(("%s (sleeper %d, busy %d)" % (label, sleeping, busy), p))
        return checks
    finally:
        t.close()


def check_subprocesses(py):
    t = RTarget(py, "parent", 6)
    try:
        err = t.wait_ready()
        if err:
            return ["target: " + err]
        child = t.child_pid()
        f = out_path("subprocesses.txt")
        r = record("subprocesses", ["--pid", str(t.pid), "--subprocesses", "--idle", "-d", "3",
                                    "-f", "folded", "-o", f])
        p = tool_problems(r)
        stacks, fp = read_folded(f)
        p += fp + frame_problems(stacks, f, skip_roots=1)
        roots = {}
        for fr, c in stacks:
            roots[fr[0]] = roots.get(fr[0], 0) + c
        bad = [x for x in roots if not re.match(r"^process \d+$", x)]
        if bad:
            p.append("lines not rooted at 'process PID': %s" % bad[:3])
        in_child = total(stacks, lambda fr: fr[0] == "process %d" % child and has_func(fr, "child_work"))
        if not in_child:
            p.append("no line rooted at 'process %d' (the child) with child_work: roots %s" % (child, roots))
        if not roots.get("process %d" % t.pid):
            p.append("no line rooted at 'process %d' (the parent): roots %s" % (t.pid, roots))
        return p
    finally:
        t.close()


def check_blocking(py):
    t = RTarget(py, "spin")
    try:
        err = t.wait_ready()
        if err:
            return ["target: " + err]
        f = out_path("blocking.txt")
        r = record("blocking", ["--pid", str(t.pid), "--blocking", "-d", "1", "-f", "folded", "-o", f])
        p = tool_problems(r)
        stacks, fp = read_folded(f)
        p += fp + frame_problems(stacks, f)
        if not fp and not total(stacks, lambda fr: has_func(fr, "spin")):
            p.append("no sample in spin(): %s" % top_stacks(stacks))
        bad = threads_not_stopped(t.pid)
        if bad:
            p.append("after the record the target %s" % bad)
        else:
            c0 = cpu_ticks(t.pid)
            time.sleep(0.5)
            c1 = cpu_ticks(t.pid)
            if c0 is None or c1 is None or c1 - c0 < 10:
                p.append("the target does not run after the record (cpu ticks %s -> %s)" % (c0, c1))
        return p
    finally:
        t.close()


def check_bad_usage():
    d = tempfile.mkdtemp(prefix="pyspy-rec-bad-")
    lc._DIRS.append(d)
    out = os.path.join(d, "out.txt")
    cases = [
        ("no target", [], 2),
        ("-f nope", ["--pid", str(os.getpid()), "-f", "nope", "-o", out], 2),
        ("-r 0", ["--pid", str(os.getpid()), "-r", "0", "-o", out], 2),
        ("--pid of no process", ["--pid", str(NO_PID), "-o", out], 1),
        ("-- /nonexistent/prog", ["-o", out, "--", "/nonexistent/prog"], 1),
    ]
    checks = []
    for name, args, want in cases:
        r = record("bad-" + slug(name), args, timeout=20, cwd=d)
        p = tool_problems(r, want)
        lines = err_lines(r)
        if len(lines) != 1:
            p.append("expected one line on stderr, got %d: %r" % (len(lines), r.err_text[:400]))
        if r.out.strip():
            p.append("stdout not empty: %r" % r.out_text[:200])
        left = os.listdir(d)
        if left:
            p.append("files written: %s" % left)
            for n in left:
                os.unlink(os.path.join(d, n))
        checks.append(("bad usage: %s -> exit %d: %s" % (name, want, (lines or [""])[0][:90]), p))
    return checks


# ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", action="append", help="interpreter for the proportions check (repeatable)")
    ap.add_argument("--feature-python", help="interpreter for the pid-mode and option checks")
    ap.add_argument("--jobs", type=int, default=2, help="proportion records run at once (default 2)")
    args = ap.parse_args()

    problem = lc.binary_problem()
    if problem:
        print("FAIL  " + problem)
        return 1
    os.makedirs(OUT, exist_ok=True)

    found, skips = lc.discover_interpreters(args.python)
    for s in skips:
        print(s)
    if not found:
        print("FAIL  no Python interpreter found")
        return 1

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
        for name, p in ex.map(lambda vp: check_proportions(*vp), found):
            check(name, p)

    py = args.feature_python
    if not py:
        py3 = [p for v, p in found if v.startswith("3.")]
        py = (py3 or [found[-1][1]])[-1]
    print("# pid-mode and option checks with %s (%s)" % (py, lc.interpreter_version(py)))
    check("pid mode, speedscope: exit 0, schema, samples ~ rate*duration", check_speedscope(py))
    check("target exits during the record: ends by itself, 'target exited'", check_target_exits(py))
    check("SIGINT: exit 0, well-formed SVG, no temporary file", check_sigint(py))
    for name, p in check_formats(py):
        check(name, p)
    check("--threads: every line rooted at a named thread", check_threads(py))
    for name, p in check_idle_gil(py):
        check(name, p)
    check("--subprocesses: parent and child process roots", check_subprocesses(py))
    check("--blocking: samples taken, target not left stopped", check_blocking(py))
    for name, p in check_bad_usage():
        check(name, p)

    failed = [n for n, ok in results if not ok]
    print("\n%d checks, %d failed" % (len(results), len(failed)))
    for n in failed:
        print("FAIL  %s" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    lc.run_main(main)
