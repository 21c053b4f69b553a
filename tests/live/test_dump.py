#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Live ground-truth test of `pyspy-watch dump` against every installed CPython (2.7, 3.6-3.13).

For each interpreter, target.py blocks a known set of threads and reports, from inside, what
the interpreter itself says about every thread (truth.json). The dump must agree exactly:
thread ids, names, native ids, every frame's function, file and line, the locals' repr()s
(with the documented truncation), idle/gil flags; text output, --json without --locals and
--nonblocking are checked too. A second target spins in pure Python: that thread must be
active and hold the GIL.

    python3 tests/live/test_dump.py [--python PATH]...

The binary is $PYSPY_WATCH (relative to the repository root), default ./pyspy-watch.
What each dump printed is kept under tests/out/live/ ($PYSPY_TEST_OUT).
Exit 0 when every interpreter passed (missing ones are skipped), 1 otherwise.
"""

import argparse
import json
import os
import re
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livecommon as lc  # noqa: E402

REPR_MAX = 256          # PYOBJ_REPR_MAX in sampler/pyobj.h: bytes kept before "..."
REPR_MIN_KEPT = 200     # a truncated repr must keep at least this much of the real one
SPIN_DUMPS = 20
SPIN_GIL_MIN = 15       # the spinner holds the GIL in at least this many of SPIN_DUMPS
SPIN_ACTIVE_MIN = 18    # and is not idle in at least this many
MAX_DIFFS = 15
DUMP_TIMEOUT = 30


class Diffs:
    def __init__(self):
        self.items = []

    def add(self, msg):
        self.items.append(msg)

    def __len__(self):
        return len(self.items)


def slug(path):
    return re.sub(r"[^A-Za-z0-9.]+", "_", path.strip("/"))


# ---------------------------------------------------------------------------------------------
# Running dumps

def dump(target, args, outdir, name, diffs):
    """Runs `dump --pid PID args`; checks exit 0, empty stderr, no sanitizer report, and that
    the target is alive and not left stopped. Returns the Result or None."""
    r = lc.run_tool(["dump", "--pid", str(target.pid)] + list(args), timeout=DUMP_TIMEOUT)
    r.save(os.path.join(outdir, name + ".txt"))
    ok = True
    rep = r.sanitizer_report()
    if rep:
        diffs.add("%s: sanitizer report %r: %s" % (name, rep, r.describe()))
        ok = False
    if r.rc != 0:
        diffs.add("%s: %s" % (name, r.describe()))
        ok = False
    elif r.err.strip():
        diffs.add("%s: exit 0 but stderr not empty: %r" % (name, r.err_text[:300]))
    left = target_left_bad(target)
    if left:
        diffs.add("%s: after the dump the target %s" % (name, left))
    return r if ok else None


def target_left_bad(target):
    """None when the target is alive and none of its threads is stopped or dead."""
    deadline = time.monotonic() + 2
    while True:
        if target.proc.poll() is not None:
            return "exited with %s" % target.proc.returncode
        try:
            tids = os.listdir("/proc/%d/task" % target.pid)
        except OSError:
            return "is gone"
        states = dict((t, lc.proc_state_tid(target.pid, t)) for t in tids)
        bad = dict((t, s) for t, s in states.items() if s not in ("S", "R", "D"))
        if not bad:
            return None
        if time.monotonic() > deadline:
            return "has threads left in state %s (stopped by a tracer?)" % bad
        time.sleep(0.05)


def parse_json(r, name, diffs):
    try:
        j = json.loads(r.out.decode("utf-8"))
    except UnicodeDecodeError as e:
        diffs.add("%s: stdout is not UTF-8: %s" % (name, e))
        return None
    except ValueError as e:
        diffs.add("%s: stdout is not one JSON document: %s: %r" % (name, e, r.out_text[:200]))
        return None
    return j if check_shape(j, name, diffs) else None


def check_shape(j, name, diffs):
    n0 = len(diffs)

    def want(cond, what):
        if not cond:
            diffs.add("%s: bad JSON shape: %s" % (name, what))
        return cond

    if not want(isinstance(j, dict), "top level is not an object"):
        return False
    want(isinstance(j.get("pid"), int), "pid is not an int")
    want(isinstance(j.get("python_version"), str), "python_version is not a string")
    want(isinstance(j.get("executable"), str), "executable is not a string")
    if not want(isinstance(j.get("threads"), list), "threads is not a list"):
        return False
    for t in j["threads"]:
        if not want(isinstance(t, dict), "a thread is not an object"):
            return False
        want(isinstance(t.get("thread_id"), int), "thread_id not an int: %r" % t.get("thread_id"))
        want(isinstance(t.get("native_id"), int), "native_id not an int: %r" % t.get("native_id"))
        want(t.get("name") is None or isinstance(t.get("name"), str), "name: %r" % t.get("name"))
        want(isinstance(t.get("gil"), bool), "gil not a bool: %r" % t.get("gil"))
        want(isinstance(t.get("idle"), bool), "idle not a bool: %r" % t.get("idle"))
        if not want(isinstance(t.get("frames"), list), "frames not a list"):
            return False
        for f in t["frames"]:
            if not want(isinstance(f, dict), "a frame is not an object"):
                return False
            want(isinstance(f.get("function"), str), "function: %r" % f.get("function"))
            want(isinstance(f.get("filename"), str), "filename: %r" % f.get("filename"))
            want(isinstance(f.get("line"), int), "line: %r" % f.get("line"))
            if "locals" in f:
                loc = f["locals"]
                if want(isinstance(loc, dict), "locals not an object"):
                    want(all(isinstance(v, str) for v in loc.values()),
                         "a local's value is not a string")
        if len(diffs) - n0 > 5:
            break
    return len(diffs) == n0


def check_header(j, truth, name, diffs):
    if j["pid"] != truth["pid"]:
        diffs.add("%s: pid %r, expected %d" % (name, j["pid"], truth["pid"]))
    if j["python_version"] != truth["version"]:
        diffs.add("%s: python_version %r, expected %r" % (name, j["python_version"],
                                                          truth["version"]))
    if os.path.realpath(j["executable"]) != os.path.realpath(truth["executable"]):
        diffs.add("%s: executable %r, expected %r (or the same file)" % (
            name, j["executable"], truth["executable"]))


# ---------------------------------------------------------------------------------------------
# Locals

OTHER_RE = re.compile(r"^<([^ <>]+) at 0x([0-9a-fA-F]+)>$")


def check_value(info, got):
    """None when got is an acceptable rendering of the local described by info, else why."""
    want = info["repr"]
    kind = info["kind"]
    if kind == "exact":
        return None if got == want else "got %r, expected %r" % (got, want)
    if kind == "long":
        if not got.endswith("..."):
            return "long repr not truncated with '...': got %r" % got[:80]
        kept = got[:-3]
        n = len(kept.encode("utf-8"))
        if n > REPR_MAX:
            return "truncated repr keeps %d bytes, more than %d" % (n, REPR_MAX)
        if n < REPR_MIN_KEPT:
            return "truncated repr keeps only %d bytes (expected about %d)" % (n, REPR_MAX)
        if not want.startswith(kept):
            i = next((k for k in range(min(len(kept), len(want))) if kept[k] != want[k]), None)
            return "truncated repr is not a prefix of the real one (differs at %s): %r vs %r" % (
                i, kept[:60], want[:60])
        return None
    if kind == "nested":
        if got == want:
            return None
        parts = got.split("...")
        if len(parts) < 2 or len(parts[0]) < 5:
            return "got %r, expected %r or a depth-truncated form of it" % (got, want)
        rx = "^" + ".+?".join(re.escape(p) for p in parts) + "$"
        if re.match(rx, want, re.S):
            return None
        return "got %r: not %r with '...' standing for the deep part" % (got, want)
    if kind == "other":
        if got == want:
            return None
        m = OTHER_RE.match(got)
        names = set([info["type"], "%s.%s" % (info.get("module"), info["type"])])
        if m and m.group(1) in names and int(m.group(2), 16) == info["id"]:
            return None
        return "got %r, expected %r or '<%s at 0x%x>'" % (got, want, info["type"], info["id"])
    if kind == "complex":
        if got and got[0] == want[0]:
            return None
        return "got %r for %r" % (got, want[:80])
    return "unknown kind %r" % kind


# ---------------------------------------------------------------------------------------------
# Stacks

def fmt_frame(f):
    return "%s (%s:%s)" % (f.get("function"), f.get("filename"), f.get("line"))


def compare_stacks(j, truth, name, diffs, with_locals, stats=None):
    by_id = {}
    for t in j["threads"]:
        if t["thread_id"] in by_id:
            diffs.add("%s: thread_id %d listed twice" % (name, t["thread_id"]))
        by_id[t["thread_id"]] = t
    truth_ids = set(t["ident"] for t in truth["threads"])
    for tid, t in by_id.items():
        if tid not in truth_ids:
            diffs.add("%s: extra thread %d %r with %d frames (innermost: %s)" % (
                name, tid, t.get("name"), len(t["frames"]),
                fmt_frame(t["frames"][0]) if t["frames"] else "-"))
    nframes = nlocals = 0
    for tr in truth["threads"]:
        label = "%s: thread %r" % (name, tr["name"])
        t = by_id.get(tr["ident"])
        if t is None:
            diffs.add("%s (ident %d) missing; dump has %s" % (
                label, tr["ident"], sorted((x["thread_id"], x.get("name")) for x in j["threads"])))
            continue
        if t.get("name") != tr["name"]:
            diffs.add("%s: name %r" % (label, t.get("name")))
        if tr.get("native_id") is not None and t["native_id"] != tr["native_id"]:
            diffs.add("%s: native_id %r, expected %d" % (label, t["native_id"], tr["native_id"]))
        got = list(reversed(t["frames"]))  # outermost first, as the truth
        want = tr["frames"]
        if len(got) != len(want):
            diffs.add("%s: %d frames, expected %d" % (label, len(got), len(want)))
            with_locals_here = False  # misaligned: the frame diff says it all
        else:
            with_locals_here = with_locals
        bad = 0
        for i, (g, w) in enumerate(zip(got, want)):
            depth = "frame %d from the outermost (%d from the innermost)" % (i, len(want) - 1 - i)
            if (g["function"], g["filename"], g["line"]) != (w["function"], w["filename"], w["line"]):
                diffs.add("%s: %s is %s, expected %s" % (label, depth, fmt_frame(g), fmt_frame(w)))
                bad += 1
                if bad >= 3:
                    break
                continue
            nframes += 1
            if with_locals:
                if with_locals_here:
                    nlocals += compare_locals(g, w, truth,
                                              "%s: %s %s" % (label, depth, w["function"]), diffs)
            elif "locals" in g:
                diffs.add("%s: %s has locals without --locals" % (label, depth))
    if stats is not None:
        stats["frames"] = nframes
        stats["locals"] = nlocals


def compare_locals(g, w, truth, label, diffs):
    want = w["locals"]
    got = g.get("locals")
    if got is None:
        if want:
            diffs.add("%s: no locals, expected %s" % (label, sorted(want)))
        return 0
    n = 0
    if w["function"] == truth.get("locals_function"):
        extra = sorted(set(got) - set(want))
        if extra:
            diffs.add("%s: unexpected locals %s" % (label, extra))
    for k, info in sorted(want.items()):
        if k not in got:
            diffs.add("%s: local %r missing (expected %r)" % (label, k, info["repr"][:80]))
            continue
        why = check_value(info, got[k])
        if why:
            diffs.add("%s: local %r: %s" % (label, k, why))
        else:
            n += 1
    return n


def check_idle_gil_static(j, name, diffs):
    for t in j["threads"]:
        if t["idle"] is not True:
            diffs.add("%s: thread %r idle=%r, but every thread is blocked" % (
                name, t.get("name"), t["idle"]))
        if t["gil"] is not False:
            diffs.add("%s: thread %r gil=%r, but every thread is blocked with the GIL released" % (
                name, t.get("name"), t["gil"]))


# ---------------------------------------------------------------------------------------------
# Text

THREAD_RE = re.compile(r'^Thread (\S+)(?: \(([^)]*)\))?(?:: "(.*)")?\s*$')
FRAME_RE = re.compile(r"^\s+(.+) \((.*):(\d+)\)\s*$")


def text_ids(tr):
    """The ways a Thread line may name the thread: its native id, or its ident."""
    ids = set([str(tr["ident"]), hex(tr["ident"]), "0x%X" % tr["ident"]])
    if tr.get("native_id") is not None:
        ids.add(str(tr["native_id"]))
    return ids


def check_text(r, truth, name, diffs):
    try:
        text = r.out.decode("utf-8")
    except UnicodeDecodeError as e:
        diffs.add("%s: stdout is not UTF-8: %s" % (name, e))
        return
    lines = text.splitlines()
    if not lines or not lines[0].startswith("Process %d:" % truth["pid"]):
        diffs.add("%s: first line %r, expected 'Process %d: ...'" % (
            name, lines[0] if lines else "", truth["pid"]))
    vre = re.compile(r"^Python v%s(\s|$)" % re.escape(truth["version"]))
    if not any(vre.match(ln) for ln in lines[:3]):
        diffs.add("%s: no 'Python v%s' line in %r" % (name, truth["version"], lines[:3]))
    blocks = []
    for ln in lines:
        m = THREAD_RE.match(ln)
        if m:
            blocks.append((m, []))
        elif ln.startswith("Thread"):
            diffs.add("%s: malformed thread line %r" % (name, ln))
        elif blocks:
            fm = FRAME_RE.match(ln)
            if fm:
                blocks[-1][1].append(fm)
    if len(blocks) != len(truth["threads"]):
        diffs.add("%s: %d Thread lines, expected %d" % (name, len(blocks), len(truth["threads"])))
    left = list(truth["threads"])
    for m, frames in blocks:
        line, tid, status, tname = m.group(0), m.group(1), m.group(2) or "", m.group(3)
        tr = next((x for x in left if tid in text_ids(x)), None)
        if tr is None:
            tr = next((x for x in left if tname is not None and x["name"] == tname), None)
            if tr is None:
                diffs.add("%s: Thread line for an unknown thread: %r" % (name, line))
                continue
            diffs.add("%s: %r: thread id %r is neither the native id %s nor the ident %d" % (
                name, line, tid, tr.get("native_id"), tr["ident"]))
        left.remove(tr)
        if tname != tr["name"]:
            diffs.add("%s: %r: name %r, expected %r" % (name, line, tname, tr["name"]))
        if "idle" not in status:
            diffs.add("%s: %r: blocked thread not marked idle" % (name, line))
        want = list(reversed(tr["frames"]))
        if len(frames) != len(want):
            diffs.add("%s: thread %r: %d frame lines, expected %d" % (
                name, tr["name"], len(frames), len(want)))
        for i, (fm, w) in enumerate(zip(frames, want)):
            fn, fname, lineno = fm.group(1), fm.group(2), int(fm.group(3))
            if fn != w["function"] or lineno != w["line"] or not fname or \
                    not (w["filename"] == fname or w["filename"].endswith("/" + fname)):
                diffs.add("%s: thread %r: frame line %d %r, expected %s" % (
                    name, tr["name"], i, fm.group(0).strip(), fmt_frame(w)))
                break
    for tr in left:
        diffs.add("%s: no Thread line for %r" % (name, tr["name"]))


def has_key(obj, key):
    if isinstance(obj, dict):
        return key in obj or any(has_key(v, key) for v in obj.values())
    if isinstance(obj, list):
        return any(has_key(v, key) for v in obj)
    return False


# ---------------------------------------------------------------------------------------------
# The two targets

def run_static(version, python, outdir, diffs, stats):
    t = lc.Target(python, keep_dir=outdir)
    try:
        err = t.wait_truth()
        if err:
            diffs.add("static target: " + err)
            return
        truth = t.truth
        stats["threads"] = len(truth["threads"])

        name = "dump --json --locals"
        r = dump(t, ["--json", "--locals"], outdir, "static-json-locals", diffs)
        j = r and parse_json(r, name, diffs)
        if j:
            check_header(j, truth, name, diffs)
            compare_stacks(j, truth, name, diffs, with_locals=True, stats=stats)
            check_idle_gil_static(j, name, diffs)

        name = "dump (text)"
        r = dump(t, [], outdir, "static-text", diffs)
        if r:
            check_text(r, truth, name, diffs)

        name = "dump --json"
        r = dump(t, ["--json"], outdir, "static-json", diffs)
        j = r and parse_json(r, name, diffs)
        if j:
            if has_key(j, "locals"):
                diffs.add("%s: has a 'locals' key without --locals" % name)
            check_header(j, truth, name, diffs)
            compare_stacks(j, truth, name, diffs, with_locals=False)
            check_idle_gil_static(j, name, diffs)

        name = "dump --json --nonblocking"
        r = dump(t, ["--json", "--nonblocking"], outdir, "static-json-nonblocking", diffs)
        j = r and parse_json(r, name, diffs)
        if j:
            check_header(j, truth, name, diffs)
            compare_stacks(j, truth, name, diffs, with_locals=False)
            check_idle_gil_static(j, name, diffs)
    finally:
        t.close()


def run_spin(version, python, outdir, diffs):
    t = lc.Target(python, ["--spin"], keep_dir=outdir)
    try:
        err = t.wait_truth()
        if err:
            diffs.add("spin target: " + err)
            return
        truth = t.truth
        time.sleep(0.2)
        gil = active = 0
        for i in range(SPIN_DUMPS):
            name = "spin dump %d" % i
            r = dump(t, ["--json"], outdir, "spin-%02d" % i, diffs)
            j = r and parse_json(r, name, diffs)
            if not j:
                break
            check_header(j, truth, name, diffs)
            ids = sorted(x["thread_id"] for x in j["threads"])
            if ids != sorted([truth["spinner_ident"], truth["main_ident"]]):
                diffs.add("%s: thread ids %s, expected spinner %d and main %d" % (
                    name, ids, truth["spinner_ident"], truth["main_ident"]))
                break
            by_id = dict((x["thread_id"], x) for x in j["threads"])
            sp, main = by_id[truth["spinner_ident"]], by_id[truth["main_ident"]]
            if sp.get("name") != "spinner" or main.get("name") != "MainThread":
                diffs.add("%s: names %r/%r, expected 'spinner'/'MainThread'" % (
                    name, sp.get("name"), main.get("name")))
            want = truth["spinner_frames"]
            got = list(reversed(sp["frames"]))
            if [(f["function"], f["filename"]) for f in got] != \
                    [(f["function"], f["filename"]) for f in want]:
                diffs.add("%s: spinner frames %s, expected %s" % (
                    name, [fmt_frame(f) for f in sp["frames"]],
                    list(reversed([fmt_frame(f) for f in want]))))
            else:
                if [f["line"] for f in got[:-1]] != [f["line"] for f in want[:-1]]:
                    diffs.add("%s: spinner outer frame lines %s, expected %s" % (
                        name, [f["line"] for f in got[:-1]], [f["line"] for f in want[:-1]]))
                if got[-1]["line"] not in truth["spin_lines"]:
                    diffs.add("%s: spin at line %d, expected one of %s" % (
                        name, got[-1]["line"], truth["spin_lines"]))
            if main["gil"]:
                diffs.add("%s: the blocked main thread has gil=true" % name)
            if not main["idle"]:
                diffs.add("%s: the blocked main thread has idle=false" % name)
            gil += sp["gil"] is True
            active += sp["idle"] is False
        else:
            if gil < SPIN_GIL_MIN:
                diffs.add("spin: the spinning thread held the GIL in %d of %d dumps, expected >= %d"
                          % (gil, SPIN_DUMPS, SPIN_GIL_MIN))
            if active < SPIN_ACTIVE_MIN:
                diffs.add("spin: the spinning thread was idle=false in %d of %d dumps, expected >= %d"
                          % (active, SPIN_DUMPS, SPIN_ACTIVE_MIN))
    finally:
        t.close()


def test_interpreter(version, python):
    outdir = lc.out_dir("%s-%s" % (version, slug(python)))
    diffs = Diffs()
    stats = {"threads": 0, "frames": 0, "locals": 0}
    try:
        run_static(version, python, outdir, diffs, stats)
        run_spin(version, python, outdir, diffs)
    except Exception as e:  # a bug in this test must not pass silently
        import traceback
        diffs.add("test raised: %s" % "".join(traceback.format_exception(type(e), e,
                                                                           e.__traceback__)))
    if diffs.items:
        print("FAIL %s (%s)  %d problems; outputs in %s" % (version, python, len(diffs), outdir))
        # the same problem seen by several dumps is shown once
        groups = []
        index = {}
        for d in diffs.items:
            key = d.split(": ", 1)[-1]
            if key in index:
                groups[index[key]][1] += 1
            else:
                index[key] = len(groups)
                groups.append([d, 0])
        for d, more in groups[:MAX_DIFFS]:
            print("     - " + d + ("  [and in %d more dumps]" % more if more else ""))
        if len(groups) > MAX_DIFFS:
            print("     ... %d more" % (len(groups) - MAX_DIFFS))
        return False
    print("ok   %s (%s)  threads=%d frames=%d locals=%d" % (
        version, python, stats["threads"], stats["frames"], stats["locals"]))
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--python", action="append", help="test only this interpreter (repeatable)")
    args = ap.parse_args()
    got = lc.interpreters_to_test(args.python)
    if got is None:
        return 1
    found, skips = got
    if not found:
        print("FAIL no interpreter to test")
        return 1
    t0 = time.monotonic()
    failed = 0
    try:
        for version, python in found:
            if not test_interpreter(version, python):
                failed += 1
    finally:
        lc.kill_all()
    print("%s: %d interpreters, %d failed, %d skipped (%.0fs)" % (
        "FAIL" if failed else "ok", len(found), failed, len(skips), time.monotonic() - t0))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
