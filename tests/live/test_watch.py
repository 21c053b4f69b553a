#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The watch daemon end to end, against real Python processes (tests/live/hang_targets.py).

Nine scenarios. `pyspy-watch watch` must raise one `hang` for: two threads deadlocked on locks;
a socket read from a peer that accepted and never answers; a pure-Python infinite loop; a regex
backtracking for ever inside C with the GIL held; an asyncio loop blocked by a synchronous call
in a coroutine. It must stay silent for: an idle server in accept(); a worker taking a steady
stream of quick jobs off a queue; a long computation moving through many functions; a thread
sleeping a second at a time between bits of work.

For each, with a config of its own (state_dir in the run's directory, pid = PID, rate = 10,
stuck_after = 3s, history = 1m, cooldown = 30m, the default ignore), the daemon runs with
PYSPY_WATCH_JOURNAL_SOCKET=/nonexistent so that its events come as lines on stderr, until the
hang line (hang scenarios, at most ~8 s after the hang began) or for 10 s (silent ones); then
SIGTERM, and it must exit 0 within 2 s. A hang line must name the pid, the expected thread and
function; its bundle must be complete (summary.txt, dump.txt, dump.json, process.json,
flamegraph.svg, samples.folded, speedscope.json, manifest.json; directory 0700, files 0600; no
.tmp-* left; the JSON files parse), and `incidents list` must show it. In the socket scenario
process.json must show the connection to the silent peer, and the stuck frame's local
api_token = "s3cr3t" must be <redacted> in dump.txt and absent from every file of the bundle.
Detection latency (the hang line's arrival minus the time the target wrote just before it
blocked) is printed per scenario.

The scenarios run on pyenv's 3.11, and the hang ones also on /usr/bin/python3.11 and pyenv's
3.8 (missing interpreters are skipped, saying so), two at a time, never two CPU-bound targets
together (this machine may have two CPUs: a spinning target must get its CPU to be "spinning").

    python3 tests/live/test_watch.py [--quick] [--python PATH] [--extra PATH]... [--only MODE]...

  --quick        only the main interpreter
  --python PATH  the main interpreter (default pyenv's 3.11, else /usr/bin/python3.11)
  --extra PATH   an interpreter for the hang scenarios (repeatable; replaces the defaults)
  --only MODE    only this scenario (repeatable)

The binary is $PYSPY_WATCH (relative to the repository root), default ./pyspy-watch. Each run's
config, state directory (with its bundles), daemon stderr and target output are kept under
tests/out/watch/ ($PYSPY_TEST_OUT). Exit 0 when every check passed, 77 when the binary or its
watch verb is missing, 1 otherwise.
"""

import argparse
import glob
import json
import os
import re
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livecommon as lc  # noqa: E402

HANG_TARGETS = os.path.join(lc.HERE, "hang_targets.py")
OUT = os.path.join(lc.ROOT, os.environ.get("PYSPY_TEST_OUT") or os.path.join("tests", "out", "watch"))

HANG_AFTER = 1.5        # the target is healthy this long after "ready": the daemon attaches first
HANG_WAIT = 8.0         # seconds after the hang began by which the hang line must have come
LINGER = 1.0            # after the first hang line: a duplicate would show up here
SILENT_RUN = 10.0       # how long the daemon watches a healthy target
TERM_LIMIT = 2.0        # seconds the daemon may take to exit after SIGTERM
STUCK_AFTER = 3.0
SECRET = b"s3cr3t"
BUNDLE_FILES = ["summary.txt", "dump.txt", "dump.json", "process.json", "flamegraph.svg",
                "samples.folded", "speedscope.json", "manifest.json"]
ID_RE = r"^\d{8}T\d{6}Z-%s-%d$"


class Scenario:
    def __init__(self, mode, hang, funcs=(), threads=(), cpu=False, multi=False, min_version=None,
                 what=""):
        self.mode, self.hang, self.funcs, self.threads = mode, hang, list(funcs), list(threads)
        self.cpu, self.multi, self.min_version, self.what = cpu, multi, min_version, what


SCENARIOS = [
    Scenario("deadlock", True, funcs=["transfer_a_to_b", "transfer_b_to_a"],
             threads=["MainThread", "transfer-2"], multi=True, what="two threads deadlocked on locks"),
    Scenario("socket", True, funcs=["recv_reply"], threads=["MainThread"],
             what="recv() from a peer that never answers"),
    Scenario("spin", True, funcs=["spin_forever"], threads=["MainThread"], cpu=True,
             what="pure-Python infinite loop"),
    Scenario("regex", True, funcs=["validate_input"], threads=["MainThread"], cpu=True,
             what="catastrophic regex backtracking in C"),
    Scenario("asyncio", True, funcs=["blocking_handler"], threads=["MainThread"], min_version=(3, 6),
             what="event loop blocked by time.sleep in a coroutine"),
    Scenario("accept", False, what="idle server in accept()"),
    Scenario("queue", False, what="worker on a steady stream of quick jobs"),
    Scenario("compute", False, cpu=True, what="long computation moving through many functions"),
    Scenario("sleeper", False, what="sleeps 1 s between bits of work"),
]

_print_lock = threading.Lock()


# ---- the alert line ----------------------------------------------------------------------------

FIELD_RE = lc.FIELD_RE


unquote = lc.unquote


parse_alert = lc.parse_alert


# ---- helpers -----------------------------------------------------------------------------------

class SilentPeer:
    """A TCP server on 127.0.0.1 that accepts connections, holds them, and never sends a byte."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.conns = []
        self.closed = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self):
        self.closed = True
        for c in self.conns:
            c.close()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


read_line = lc.read_line


StderrReader = lc.StderrReader


def write_config(path, state_dir, watch, pid):
    with open(path, "w") as f:
        f.write("[daemon]\n"
                "state_dir = %s\n"
                "\n"
                "[watch:%s]\n"
                "pid = %d\n"
                "rate = 10\n"
                "stuck_after = 3s\n"
                "history = 1m\n"
                "cooldown = 30m\n"
                "locals = yes\n"
                "action = none\n" % (state_dir, watch, pid))
    os.chmod(path, 0o600)


def walk_json(v):
    yield v
    if isinstance(v, dict):
        for x in v.values():
            for y in walk_json(x):
                yield y
    elif isinstance(v, list):
        for x in v:
            for y in walk_json(x):
                yield y


# ---- one run -----------------------------------------------------------------------------------

class Run:
    def __init__(self, sc, version, python, tag):
        self.sc, self.version, self.python = sc, version, python
        self.label = "%s@%s" % (sc.mode, tag)
        self.dir = os.path.join(OUT, self.label)
        self.checks = []          # (ok, text)
        self.latency = None
        self.reason = None
        self.n_hang = 0
        self.notes = []

    def check(self, ok, text):
        self.checks.append((bool(ok), text))
        return ok

    @property
    def failed(self):
        return any(not ok for ok, _ in self.checks)

    def execute(self):
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        peer = target = daemon = None
        try:
            self._execute()
        except Exception as e:  # a bug of the test itself: report, do not hide the rest
            import traceback
            self.check(False, "test raised %s: %s" % (type(e).__name__, traceback.format_exc()[-800:]))
        finally:
            for p in getattr(self, "_procs", []):
                lc.kill(p)
            if getattr(self, "_peer", None):
                self._peer.close()
            for f in getattr(self, "_files", []):
                f.close()

    def _execute(self):
        sc = self.sc
        self._procs, self._files = [], []
        state_dir = os.path.join(self.dir, "state")
        os.makedirs(state_dir, mode=0o700)
        mark_path = os.path.join(self.dir, "hang-mark")
        env = dict(os.environ)
        env["HANG_AFTER"] = str(HANG_AFTER)
        env["HANG_MARK"] = mark_path
        env.pop("PYTHONPATH", None)
        env.pop("PYTHONHOME", None)
        if sc.mode == "socket":
            self._peer = SilentPeer()
            env["HANG_PEER"] = self._peer.addr
        tlog = open(os.path.join(self.dir, "target.stderr"), "wb")
        self._files.append(tlog)
        target = lc.spawn([self.python, HANG_TARGETS, sc.mode], stdout=subprocess.PIPE,
                          stderr=tlog, env=env, cwd=self.dir)
        self._procs.append(target)
        line = read_line(target.stdout.fileno(), 30)
        if line is None or not line.startswith("ready"):
            self.check(False, "target %s printed %r, not 'ready' (exit %s); see %s" % (
                sc.mode, line, target.poll(), tlog.name))
            return
        watch = "t-%s" % sc.mode
        config = os.path.join(self.dir, "watch.ini")
        write_config(config, state_dir, watch, target.pid)

        denv = dict(os.environ)
        denv["PYSPY_WATCH_JOURNAL_SOCKET"] = "/nonexistent"
        denv.pop("NOTIFY_SOCKET", None)
        denv.pop("WATCHDOG_USEC", None)
        denv.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        denv.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        t_start = time.time()
        daemon = lc.spawn([lc.BIN, "watch", "-c", config], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env=denv)
        self._procs.append(daemon)
        reader = StderrReader(daemon.stderr, os.path.join(self.dir, "daemon.stderr"))

        def hang_lines():
            out = []
            for t, l in reader.snapshot():
                a = parse_alert(l)
                if a and a["event"] == "hang":
                    out.append((t, a))
            return out

        # Watch until the hang line came (and a little longer), or the time is up.
        if sc.hang:
            deadline = t_start + HANG_AFTER + HANG_WAIT
        else:
            deadline = t_start + SILENT_RUN
        first = None
        while time.time() < deadline and daemon.poll() is None:
            hl = hang_lines()
            if sc.hang and hl and first is None:
                first = hl[0][0]
                deadline = min(deadline, time.time() + LINGER)
            time.sleep(0.05)
        early_exit = daemon.poll()
        self.check(early_exit is None, "daemon still running when stopped (exit %s)" % early_exit)
        target_alive = target.poll() is None

        t_term = time.monotonic()
        try:
            daemon.send_signal(signal.SIGTERM)
        except OSError:
            pass
        try:
            rc = daemon.wait(timeout=TERM_LIMIT + 3)
        except subprocess.TimeoutExpired:
            rc = "still running"
        took = time.monotonic() - t_term
        reader.join(timeout=3)
        self.check(rc == 0 and took < TERM_LIMIT,
                   "daemon exits 0 within %.0fs of SIGTERM (exit %s after %.2fs)" % (TERM_LIMIT, rc, took))

        lines = reader.snapshot()
        text = "\n".join(l for _, l in lines)
        m = lc.SANITIZER_RE.search(text)
        self.check(not m, "no sanitizer report on the daemon's stderr%s" % (": " + m.group(0) if m else ""))
        alerts = [(t, parse_alert(l), l) for t, l in lines]
        others = [l for t, a, l in alerts if a is None and l.strip()]
        errors = [l for t, a, l in alerts if a and a["event"] == "error"]
        self.check(not errors, "no error event%s" % (": " + " | ".join(errors)[:600] if errors else ""))
        if others:
            self.notes.append("daemon stderr, not alert lines: %s" % " | ".join(others)[:400])
        hangs = [(t, a, l) for t, a, l in alerts if a and a["event"] == "hang"]
        self.n_hang = len(hangs)
        mine = [(t, a, l) for t, a, l in hangs if a.get("pid") == str(target.pid)]
        foreign = [l for t, a, l in hangs if a.get("pid") != str(target.pid)]
        self.check(not foreign, "no hang line for another pid%s" % (": " + foreign[0] if foreign else ""))

        if not sc.hang:
            self.check(not hangs, "silent: no hang line in %.0fs%s" % (
                SILENT_RUN, (": " + hangs[0][2][:700]) if hangs else ""))
            inc = os.path.join(state_dir, "incidents")
            left = os.listdir(inc) if os.path.isdir(inc) else []
            self.check(not left, "silent: no incident bundle%s" % (": " + ", ".join(left) if left else ""))
            self.check(target_alive, "target still running")
            return

        self.check(target_alive, "target still running (action = none)")
        if sc.multi:
            ok = 1 <= len(mine) <= 2 and len(set(a.get("tid") for _, a, _ in mine)) == len(mine)
            self.check(ok, "hang lines for pid %d: %d (1 or 2, one per deadlocked thread)" % (
                target.pid, len(mine)))
        else:
            self.check(len(mine) == 1, "exactly one hang line for pid %d (got %d)" % (target.pid, len(mine)))
        if not mine:
            self._bundle_checks_none(state_dir)
            return
        t_line, a, raw = mine[0]
        self.reason = (re.search(r"\((blocked|spinning)\)", a.get("message", "")) or [None, "?"])[1]
        want = "spinning" if sc.cpu else "blocked"
        self.check(self.reason == want, "stuck reason %r (a %s thread; got %r in %r)" % (
            want, "CPU-bound" if sc.cpu else "sleeping", self.reason, a.get("message")))
        self.check(a.get("watch") == watch, "watch=%s (got %r)" % (watch, a.get("watch")))
        stack = a.get("stack", "")
        for t2, a2, raw2 in mine:
            stk = a2.get("stack", "")
            self.check(any("%s (" % fn in stk for fn in sc.funcs),
                       "stack names %s: %r" % (" or ".join(sc.funcs), stk[:300]))
            self.check(a2.get("thread") in sc.threads,
                       "thread=%r is one of %s" % (a2.get("thread"), sc.threads))
        tids = set(str(x) for x in os.listdir("/proc/%d/task" % target.pid)) if target_alive else set()
        self.check(not tids or a.get("tid") in tids, "tid=%s is a thread of pid %d" % (a.get("tid"), target.pid))
        stuck = re.match(r"^(\d+)s$", a.get("stuck", ""))
        self.check(stuck and int(stuck.group(1)) >= int(STUCK_AFTER),
                   "stuck=%s is at least stuck_after (%ds)" % (a.get("stuck"), STUCK_AFTER))
        try:
            with open(mark_path) as f:
                mark = float(f.read())
            self.latency = t_line - mark
            self.check(STUCK_AFTER - 0.2 <= self.latency <= HANG_WAIT,
                       "detection latency %.2fs (stuck_after = %.0fs)" % (self.latency, STUCK_AFTER))
        except (OSError, ValueError) as e:
            self.check(False, "hang mark %s unreadable: %s" % (mark_path, e))

        self._bundle_checks(state_dir, watch, target.pid, a, sc)

    def _bundle_checks_none(self, state_dir):
        inc = os.path.join(state_dir, "incidents")
        left = os.listdir(inc) if os.path.isdir(inc) else []
        self.notes.append("incidents/ holds: %s" % (", ".join(left) or "nothing"))

    def _bundle_checks(self, state_dir, watch, pid, a, sc):
        incidents = os.path.join(state_dir, "incidents")
        iid, bundle = a.get("incident", ""), a.get("bundle", "")
        self.check(re.match(ID_RE % (re.escape(watch), pid), iid), "incident ID %r is <UTC time>-%s-%d" % (
            iid, watch, pid))
        self.check(os.path.realpath(bundle) == os.path.realpath(os.path.join(incidents, iid)),
                   "bundle=%s is state_dir/incidents/ID" % bundle)
        if not self.check(os.path.isdir(bundle), "bundle directory exists"):
            self._bundle_checks_none(state_dir)
            return
        mode = stat.S_IMODE(os.lstat(bundle).st_mode)
        self.check(mode == 0o700, "bundle directory mode 0700 (%04o)" % mode)
        names = sorted(os.listdir(bundle))
        missing = [n for n in BUNDLE_FILES if n not in names]
        self.check(not missing, "bundle has %s%s" % (", ".join(BUNDLE_FILES),
                                                     (" (missing: %s)" % ", ".join(missing)) if missing else ""))
        bad = []
        for root, dirs, files in os.walk(bundle):
            for n in files:
                m = stat.S_IMODE(os.lstat(os.path.join(root, n)).st_mode)
                if m != 0o600:
                    bad.append("%s %04o" % (n, m))
            for n in dirs:
                m = stat.S_IMODE(os.lstat(os.path.join(root, n)).st_mode)
                if m != 0o700:
                    bad.append("%s/ %04o" % (n, m))
        self.check(not bad, "bundle files 0600%s" % (" (not: %s)" % ", ".join(bad) if bad else ""))
        tmp = [n for n in os.listdir(incidents) if n.startswith(".tmp-")]
        self.check(not tmp, "no .tmp-* left in incidents/%s" % (": " + ", ".join(tmp) if tmp else ""))

        parsed = {}
        for n in ["dump.json", "process.json", "manifest.json", "speedscope.json"]:
            p = os.path.join(bundle, n)
            if not os.path.exists(p):
                continue
            try:
                with open(p, "rb") as f:
                    parsed[n] = json.loads(f.read().decode("utf-8"))
                self.check(True, "%s parses" % n)
            except (ValueError, UnicodeDecodeError) as e:
                self.check(False, "%s parses: %s" % (n, e))

        def read(n):
            try:
                with open(os.path.join(bundle, n), "rb") as f:
                    return f.read().decode("utf-8", "replace")
            except OSError:
                return ""

        summary = read("summary.txt")
        self.check(any(fn in summary for fn in sc.funcs), "summary.txt names %s" % " or ".join(sc.funcs))
        dump = parsed.get("dump.json")
        if dump is not None:
            fnames = [fr.get("function") for th in dump.get("threads", []) for fr in th.get("frames", [])]
            self.check(any(fn in fnames for fn in sc.funcs),
                       "dump.json has a %s frame" % " or ".join(sc.funcs))
            has_locals = any("locals" in fr for th in dump.get("threads", []) for fr in th.get("frames", []))
            self.check(has_locals, "dump.json has locals (locals = yes)")
        folded = read("samples.folded")
        self.check(any(fn + " (" in folded for fn in sc.funcs),
                   "samples.folded has the stuck function's stacks")
        svg = read("flamegraph.svg")
        self.check("<svg" in svg and svg.rstrip().endswith("</svg>"), "flamegraph.svg is a whole SVG")

        if sc.mode == "socket":
            dump_txt = read("dump.txt")
            self.check(re.search(r"^\s+api_token: <redacted>$", dump_txt, re.M),
                       "dump.txt shows 'api_token: <redacted>'")
            leaks = []
            for root, dirs, files in os.walk(bundle):
                for n in files:
                    with open(os.path.join(root, n), "rb") as f:
                        if SECRET in f.read():
                            leaks.append(n)
            self.check(not leaks, "the secret appears in no bundle file%s" % (
                " (found in: %s)" % ", ".join(leaks) if leaks else ""))
            proc = parsed.get("process.json")
            if proc is not None:
                peers = [v.get("peer") for v in walk_json(proc) if isinstance(v, dict) and "peer" in v]
                self.check(self._peer.addr in peers,
                           "process.json has a socket whose peer is %s (peers: %s)" % (
                               self._peer.addr, ", ".join(str(p) for p in peers[:6])))

        if lc.run_tool(["incidents", "--help"], timeout=10).rc != 0:
            self.notes.append("incidents verb missing: `incidents list` not checked")
            return
        r = lc.run_tool(["incidents", "--state-dir", state_dir, "list"], timeout=20)
        r.save(os.path.join(self.dir, "incidents-list.txt"))
        rows = [l for l in r.out_text.splitlines()
                if re.search(r"(^|\s)%s\s+%d\s" % (re.escape(watch), pid), l)]
        self.check(r.rc == 0 and len(rows) == 1,
                   "`incidents --state-dir DIR list` shows the incident (watch %s, pid %d) (exit %s, %d rows)"
                   % (watch, pid, r.rc, len(rows)))
        r = lc.run_tool(["incidents", "--state-dir", state_dir, "path", iid], timeout=20)
        r.save(os.path.join(self.dir, "incidents-path.txt"))
        self.check(r.rc == 0 and os.path.realpath(r.out_text.strip()) == os.path.realpath(bundle),
                   "`incidents --state-dir DIR path ID` prints the bundle (exit %s: %r)" % (
                       r.rc, r.out_text.strip()[:200] or r.err_text.strip()[:200]))


# ---- scheduling ------------------------------------------------------------------------------

def run_all(runs, parallel=2):
    """Runs `runs` `parallel` at a time, never two CPU-bound targets together. Prints each run's
    checks as it finishes."""
    pending = list(runs)
    cond = threading.Condition()
    state = {"cpu": 0}

    def take():
        with cond:
            while pending:
                for i, r in enumerate(pending):
                    if not r.sc.cpu or state["cpu"] == 0:
                        if r.sc.cpu:
                            state["cpu"] += 1
                        return pending.pop(i)
                cond.wait()
            return None

    def worker():
        while True:
            r = take()
            if r is None:
                return
            t0 = time.monotonic()
            try:
                r.execute()
            finally:
                with cond:
                    if r.sc.cpu:
                        state["cpu"] -= 1
                    cond.notify_all()
            report(r, time.monotonic() - t0)

    threads = [threading.Thread(target=worker) for _ in range(parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def report(r, took):
    with _print_lock:
        print("== %s (python %s: %s; %s) %.1fs" % (r.label, r.version, r.python, r.sc.what, took))
        for ok, text in r.checks:
            print("%s %s: %s" % ("PASS" if ok else "FAIL", r.label, text))
        for n in r.notes:
            print("note %s: %s" % (r.label, n))
        if r.failed:
            print("     - see %s" % r.dir)
        sys.stdout.flush()


# ---- main --------------------------------------------------------------------------------------

default_python = lc.default_python


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--python")
    ap.add_argument("--extra", action="append")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", action="append")
    args = ap.parse_args()

    problem = lc.binary_problem()
    if problem:
        print("skip: " + problem)
        return 77
    r = lc.run_tool(["watch", "--help"], timeout=10)
    if r.rc != 0:
        print("skip: `%s watch --help` fails (exit %s): %s" % (lc.BIN, r.rc, r.err_text.strip()[:200]))
        return 77
    os.makedirs(OUT, exist_ok=True)

    main_py = args.python or default_python()
    if not main_py:
        print("skip: no Python 3.11 interpreter found")
        return 77
    interpreters = [(lc.interpreter_version(main_py), main_py, None)]
    if not args.quick:
        extras = args.extra if args.extra is not None else [
            "/usr/bin/python3.11",
            os.path.join(lc.pyenv_root(), "versions", "3.8*", "bin", "python")]
        for pat in extras:
            found = sorted(glob.glob(pat))
            if not found:
                print("skip: interpreter %s not installed: its hang scenarios are not run" % pat)
                continue
            v = lc.interpreter_version(found[-1])
            if not v:
                print("skip: %s does not run" % found[-1])
                continue
            interpreters.append((v, found[-1], "hang"))

    scenarios = [s for s in SCENARIOS if not args.only or s.mode in args.only]
    runs = []
    for v, py, which in interpreters:
        tag = v + ("-system" if py.startswith("/usr/") else "")
        vt = tuple(int(x) for x in v.split(".")[:2])
        for sc in scenarios:
            if which == "hang" and not sc.hang:
                continue
            if sc.min_version and vt < sc.min_version:
                print("skip: %s on python %s: needs Python %d.%d+" % (sc.mode, v, sc.min_version[0],
                                                                       sc.min_version[1]))
                continue
            runs.append(Run(sc, v, py, tag))
    # Interleave CPU-bound and quiet runs so that the pairs fill both slots.
    runs.sort(key=lambda r: (0 if r.sc.hang else 1) if r.version == interpreters[0][0] else 2)

    t0 = time.monotonic()
    try:
        run_all(runs)
    finally:
        lc.kill_all()

    print()
    print("%-26s %-9s %-8s %-9s %-6s %s" % ("scenario", "expected", "result", "latency", "hangs", "reason"))
    for r in runs:
        print("%-26s %-9s %-8s %-9s %-6s %s" % (
            r.label, "hang" if r.sc.hang else "silent", "FAIL" if r.failed else "ok",
            "%.2fs" % r.latency if r.latency is not None else "-", r.n_hang, r.reason or "-"))
    nfail = sum(1 for r in runs if r.failed)
    nchecks = sum(len(r.checks) for r in runs)
    print("%d runs, %d checks, %d runs failed, %.0fs (outputs under %s)" % (
        len(runs), nchecks, nfail, time.monotonic() - t0, OUT))
    return 1 if nfail else 0


if __name__ == "__main__":
    sys.exit(main())
