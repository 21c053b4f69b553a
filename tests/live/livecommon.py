# SPDX-License-Identifier: MIT
"""Shared helpers of the live tests (Python 3): the binary under test, running it, the
interpreters, starting and always killing targets."""

import atexit
import glob
import os
import select
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from pyenvs import pyenv_root  # noqa: F401 (part of this module's API)
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TARGET = os.path.join(HERE, "target.py")

# The binary under test: $PYSPY_WATCH (relative to the repository root), default ./pyspy-watch.
BIN = os.path.join(ROOT, os.environ.get("PYSPY_WATCH") or "pyspy-watch")
# Where each test writes what it saw, for inspection after a failure.
OUT = os.environ.get("PYSPY_TEST_OUT") or os.path.join(ROOT, "tests", "out", "live")

WANTED = ["2.7", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]
SYSTEM_PYTHONS = ["/usr/bin/python3.11"]

SANITIZER_RE = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|ThreadSanitizer)"
    r"|runtime error: |SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer|Sanitizer has encountered")


def out_dir(*parts):
    path = os.path.join(OUT, *parts)
    os.makedirs(path, exist_ok=True)
    return path


def binary_problem():
    """None when the binary under test exists and is executable, else why not."""
    if not os.path.isfile(BIN):
        return "binary %s not found (build it with make, or set PYSPY_WATCH)" % BIN
    if not os.access(BIN, os.X_OK):
        return "binary %s is not executable" % BIN
    return None


class Result:
    def __init__(self, argv, rc, out, err, elapsed):
        self.argv, self.rc, self.out, self.err, self.elapsed = argv, rc, out, err, elapsed

    @property
    def err_text(self):
        return self.err.decode("utf-8", "replace")

    @property
    def out_text(self):
        return self.out.decode("utf-8", "replace")

    def sanitizer_report(self):
        m = SANITIZER_RE.search(self.err_text)
        return m.group(0) if m else None

    def describe(self):
        return "`%s` exited %s; stderr: %r" % (
            " ".join(self.argv), self.rc, self.err_text[-600:])

    def save(self, path):
        with open(path, "wb") as f:
            f.write(("$ %s\n# exit %s, %.3fs\n" % (" ".join(self.argv), self.rc, self.elapsed))
                    .encode())
            f.write(b"# stdout:\n" + self.out + b"\n# stderr:\n" + self.err)


def run_tool(args, timeout=30, prefix=(), env=None):
    """Runs the binary under test; never raises on a timeout (rc is then 'timeout')."""
    argv = list(prefix) + [BIN] + list(args)
    e = dict(os.environ)
    e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    if env:
        e.update(env)
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=e, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        out, err = p.communicate()
        rc = "timeout"
    return Result(argv, rc, out, err, time.monotonic() - t0)


# ---------------------------------------------------------------------------------------------
# Interpreters

def interpreter_version(path):
    try:
        r = subprocess.run([path, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    v = r.stdout.decode().strip()
    return v if r.returncode == 0 and re.match(r"^\d+\.\d+\.\d+$", v) else None


def discover_interpreters(explicit=None):
    """[(version, path)] of the interpreters to test, and the skip lines for the wanted
    versions that are missing."""
    paths = list(explicit or [])
    if not paths:
        paths = sorted(glob.glob(os.path.join(pyenv_root(), "versions", "*", "bin", "python")))
        paths += [p for p in SYSTEM_PYTHONS if os.path.exists(p)]
    found = []
    for p in paths:
        v = interpreter_version(p)
        if v is None:
            print("skip: %s does not run" % p)
            continue
        mm = ".".join(v.split(".")[:2])
        if mm not in WANTED:
            print("skip: python %s (%s) is not a supported version" % (v, p))
            continue
        found.append((v, p))
    found.sort(key=lambda vp: (tuple(int(x) for x in vp[0].split(".")), vp[1]))
    skips = []
    if not explicit:
        have = set(".".join(v.split(".")[:2]) for v, _ in found)
        skips = ["skip: python %s not installed" % mm for mm in WANTED if mm not in have]
    return found, skips


def interpreters_to_test(explicit=None, fail="FAIL "):
    """For a test's start: None (said as fail + why) when the binary is missing; else names it,
    prints the skip lines and returns discover_interpreters(explicit)."""
    problem = binary_problem()
    if problem:
        print(fail + problem)
        return None
    print("binary: %s" % BIN)
    found, skips = discover_interpreters(explicit)
    for s in skips:
        print(s)
    return found, skips


# ---------------------------------------------------------------------------------------------
# Processes we start: every one in its own process group, all killed on exit.

_CHILDREN = []


_DIRS = []


def kill_all():
    while _DIRS:
        shutil.rmtree(_DIRS.pop(), ignore_errors=True)
    while _CHILDREN:
        p = _CHILDREN.pop()
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            p.wait(timeout=5)
        except Exception:
            pass


def _on_signal(signum, frame):
    kill_all()
    sys.exit(128 + signum)


atexit.register(kill_all)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)


def spawn(argv, **kw):
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("stdout", subprocess.DEVNULL)
    kw.setdefault("stderr", subprocess.DEVNULL)
    p = subprocess.Popen(argv, start_new_session=True, **kw)
    _CHILDREN.append(p)
    return p


def kill(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        p.wait(timeout=5)
    except Exception:
        pass
    if p in _CHILDREN:
        _CHILDREN.remove(p)


def run_main(main):
    """Exits with what main() returns, every process it started killed first."""
    try:
        rc = main()
    finally:
        kill_all()
    sys.exit(rc)


def task_count(pid):
    try:
        return len(os.listdir("/proc/%d/task" % pid))
    except OSError:
        return -1


def proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
        return data[data.rindex(")") + 2]
    except (OSError, ValueError, IndexError):
        return None


def proc_status_number(pid, key, default=None):
    """The number after "KEY:" in /proc/PID/status; default when unreadable or absent."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return default


class TargetProcess:
    """A target process with a scratch directory of its own (removed by close(), or at exit)
    holding its output, target.log. Subclasses make the directory, then start the process."""

    log_tail = 1500     # characters of target.log that log_text() gives

    def make_dir(self, prefix):
        self.dir = tempfile.mkdtemp(prefix=prefix)
        _DIRS.append(self.dir)

    def start(self, argv, env=None):
        self.log = open(os.path.join(self.dir, "target.log"), "wb")
        self.proc = spawn(argv, stdout=self.log, stderr=self.log, env=env)
        self.pid = self.proc.pid

    def wait_path(self, path, deadline, late, step=0.05):
        """None once path exists, else why not: the target exited, or `late` at the deadline
        (time.monotonic())."""
        while not os.path.exists(path):
            if self.proc.poll() is not None:
                return "target exited with %s: %s" % (self.proc.returncode, self.log_text())
            if time.monotonic() > deadline:
                return "%s: %s" % (late, self.log_text())
            time.sleep(step)
        return None

    def log_text(self):
        try:
            with open(os.path.join(self.dir, "target.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")[-self.log_tail:]
        except OSError:
            return ""

    def close(self):
        kill(self.proc)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.dir in _DIRS:
            _DIRS.remove(self.dir)


class Target(TargetProcess):
    """python target.py OUTDIR [--spin]; .truth once it reported and settled."""

    def __init__(self, python, mode_args=(), keep_dir=None):
        self.python = python
        self.make_dir("pyspy-live-")
        self.keep_dir = keep_dir
        self.start([python, TARGET, self.dir] + list(mode_args))
        self.truth = None

    def wait_truth(self, timeout=60):
        """Waits for truth.json and for the reporter thread to be gone. Returns None or the
        reason it failed."""
        import json
        path = os.path.join(self.dir, "truth.json")
        deadline = time.monotonic() + timeout
        late = self.wait_path(path, deadline, "no truth.json after %ds" % timeout)
        if late:
            return late
        with open(path) as f:
            self.truth = json.load(f)
        if self.keep_dir:
            shutil.copy(path, os.path.join(self.keep_dir, "truth-%s.json" % self.truth["mode"]))
        if self.truth.get("error"):
            return "target: " + self.truth["error"]
        want = self.truth["nthreads"]
        while task_count(self.pid) != want:
            if self.proc.poll() is not None:
                return "target exited with %s: %s" % (self.proc.returncode, self.log_text())
            if time.monotonic() > deadline:
                return "target has %d tasks, expected %d" % (task_count(self.pid), want)
            time.sleep(0.02)
        if self.truth["mode"] == "static":
            # every remaining thread asleep in the kernel
            while True:
                states = [proc_state_tid(self.pid, t) for t in os.listdir("/proc/%d/task" % self.pid)]
                if all(s == "S" for s in states):
                    break
                if time.monotonic() > deadline:
                    return "target threads not all asleep: %s" % states
                time.sleep(0.02)
        return None


def proc_state_tid(pid, tid):
    try:
        with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
            data = f.read()
        return data[data.rindex(")") + 2]
    except (OSError, ValueError, IndexError):
        return None


class StderrReader(threading.Thread):
    """Collects a pipe's lines with their arrival (wall) time, and logs them to path."""

    def __init__(self, pipe, path):
        threading.Thread.__init__(self, daemon=True)
        self.pipe, self.path = pipe, path
        self.lines = []
        self.lock = threading.Lock()
        self.start()

    def run(self):
        with open(self.path, "w") as log:
            for raw in iter(self.pipe.readline, b""):
                t = time.time()
                line = raw.decode("utf-8", "replace").rstrip("\n")
                log.write("%.3f %s\n" % (t, line))
                log.flush()
                with self.lock:
                    self.lines.append((t, line))

    def snapshot(self):
        with self.lock:
            return list(self.lines)


# ---- the daemon's stderr (tests of `watch`) --------------------------------------------------

FIELD_RE = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def unquote(v):
    if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        return re.sub(r"\\(.)", r"\1", v[1:-1])
    return v


def parse_alert(line):
    """{'event': 'hang', 'pid': '123', ...} for a "pyspy-watch: EVENT: k=v ..." line, else None."""
    m = re.match(r"^pyspy-watch: ([a-z-]+): (.*)$", line)
    if not m:
        return None
    fields = {"event": m.group(1)}
    for k, v in FIELD_RE.findall(m.group(2)):
        fields[k] = unquote(v)
    return fields


def read_line(fd, timeout):
    """One line from a pipe fd within timeout, or None."""
    buf = b""
    deadline = time.monotonic() + timeout
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            return None
        chunk = os.read(fd, 1)
        if not chunk:
            return buf.decode("utf-8", "replace") or None
        buf += chunk
    return buf.decode("utf-8", "replace").rstrip("\n")


def default_python():
    """The interpreter the daemon tests run by default: pyenv's 3.11, else Debian's."""
    cands = sorted(glob.glob(os.path.join(pyenv_root(), "versions", "3.11*", "bin", "python")))
    cands += ["/usr/bin/python3.11", sys.executable]
    for p in cands:
        if os.path.exists(p) and interpreter_version(p):
            return p
    return None


# ---- the watch daemon as a service, case by case (test_daemon.py, test_faults.py) -------------
# Each case runs `watch -c CONFIG` with configs of its own (rate = RATE, stuck_after =
# STUCK_AFTER) and PYSPY_WATCH_JOURNAL_SOCKET=/nonexistent, so that its events are lines on
# stderr; every daemon ends with SIGTERM and must exit 0 within TERM_LIMIT.

DAEMON_TARGETS = os.path.join(HERE, "daemon_targets.py")
STUCK_AFTER = 3.0
RATE = 10
RESOLVE = 2.0            # the daemon's resolution period (RESOLVE_USEC in cmd-watch.c)
TERM_LIMIT = 2.0


def wait_until(pred, timeout, step=0.05):
    """pred()'s first true value within timeout, else its last (false) value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


def short(s, n=300):
    s = str(s)
    return s if len(s) <= n else s[:n] + "..."


class CaseError(Exception):
    pass


class Daemon:
    """`watch -c config` of a case (after prefix, with an open-file limit of nofile), its
    stderr read line by line into case.dir/NAME.stderr."""

    def __init__(self, case, config, env=None, name="daemon", prefix=(), nofile=None):
        self.case = case
        denv = dict(os.environ)
        denv["PYSPY_WATCH_JOURNAL_SOCKET"] = "/nonexistent"
        for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
            denv.pop(k, None)
        denv.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        denv.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        denv.update(env or {})
        preexec = None
        if nofile:
            def preexec():
                resource.setrlimit(resource.RLIMIT_NOFILE, nofile)
        self.name = name
        self.started = time.time()
        self.proc = spawn(list(prefix) + [BIN, "watch", "-c", config], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env=denv, preexec_fn=preexec)
        case.procs.append(self.proc)
        self.reader = StderrReader(self.proc.stderr, os.path.join(case.dir, name + ".stderr"))
        self.stopped = False

    @property
    def pid(self):
        return self.proc.pid

    def alerts(self, event=None, since=0.0, **want):
        """[(time, fields, raw line)] of the alert lines, filtered by event and field values."""
        out = []
        for t, l in self.reader.snapshot():
            a = parse_alert(l)
            if not a or t < since or (event and a["event"] != event):
                continue
            if all(a.get(k) == str(v) for k, v in want.items()):
                out.append((t, a, l))
        return out

    def wait_alert(self, timeout, event, since=0.0, **want):
        """The first matching alert within timeout, or None (also when the daemon exited)."""
        def pred():
            got = self.alerts(event, since, **want)
            if got:
                return got[0]
            return None if self.proc.poll() is None else False
        return wait_until(pred, timeout) or None

    def running(self):
        return self.proc.poll() is None

    def hup(self):
        self.proc.send_signal(signal.SIGHUP)

    def term(self):
        """SIGTERM; (its exit status or "still running", seconds until it exited)."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        return self.wait_exit(t0)

    def wait_exit(self, t0):
        try:
            rc = self.proc.wait(timeout=TERM_LIMIT + self.case.term_wait)
        except subprocess.TimeoutExpired:
            rc = "still running"
        return rc, time.monotonic() - t0

    def ended(self):
        """Once it exited: marks it stopped and reads its stderr to the end."""
        self.stopped = True
        self.reader.join(timeout=3)

    def check_no_sanitizer(self, sfx=""):
        """Checks its stderr holds no sanitizer report."""
        m = SANITIZER_RE.search("\n".join(l for _, l in self.reader.snapshot()))
        self.case.check(not m, "no sanitizer report from the daemon%s%s" % (sfx, ": " + m.group(0) if m else ""))

    def stop(self):
        """SIGTERM; checks it exits 0 within TERM_LIMIT and said nothing of a sanitizer."""
        if self.stopped:
            return
        self.stopped = True
        early = self.proc.poll()
        if early is None:
            rc, took = self.term()
        else:
            rc, took = self.wait_exit(time.monotonic())
        self.ended()
        sfx = "" if self.name == "daemon" else " (%s)" % self.name
        self.case.check(early is None and rc == 0 and took < TERM_LIMIT,
                        "daemon%s ran to the end and exits 0 within %.0fs of SIGTERM (%s)" % (
                            sfx, TERM_LIMIT, "had already exited with %s" % early if early is not None
                            else "exit %s after %.2fs" % (rc, took)))
        self.check_no_sanitizer(sfx)
        kill(self.proc)


class Case:
    """One case: its directory root/NAME (emptied first), the processes, daemons, files and
    cleanups it leaves to execute(), and its checks."""

    ready_timeout = 30   # seconds a target may take to say "ready"
    term_wait = 3        # seconds past TERM_LIMIT a daemon's exit is waited for

    def __init__(self, name, fn, python, root):
        self.name, self.fn, self.python = name, fn, python
        self.dir = os.path.join(root, name)
        self.checks = []       # (ok, text) or (None, skip text)
        self.procs = []
        self.daemons = []
        self.files = []
        self.cleanups = []
        self.took = 0.0

    def check(self, ok, text):
        self.checks.append((bool(ok), text))
        return bool(ok)

    def skip(self, text):
        self.checks.append((None, text))

    @property
    def failed(self):
        return any(ok is False for ok, _ in self.checks)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def state_dir(self, sub="state"):
        p = self.path(sub)
        os.makedirs(p, mode=0o700, exist_ok=True)
        return p

    def spawn(self, argv, name, env=None, prefix=(), wait_ready=True):
        """Starts a target (argv after prefix) in the case's directory, its stderr in
        target-NAME.stderr; waits for its "ready" line, whose words after "ready" are kept in
        p.ready_args."""
        tenv = dict(os.environ)
        tenv.pop("PYTHONPATH", None)
        tenv.pop("PYTHONHOME", None)
        tenv["PYTHONDONTWRITEBYTECODE"] = "1"
        tenv.setdefault("HANG_AFTER", "0")
        tenv.update(env or {})
        log = open(self.path("target-%s.stderr" % name), "wb")
        self.files.append(log)
        p = spawn(list(prefix) + argv, stdout=subprocess.PIPE, stderr=log, env=tenv, cwd=self.dir)
        self.procs.append(p)
        p.started = time.time()
        p.ready_args = []
        if wait_ready:
            line = read_line(p.stdout.fileno(), self.ready_timeout)
            if line is None or not line.startswith("ready"):
                raise CaseError("target %s printed %r, not 'ready' (exit %s); see %s" % (
                    name, line, p.poll(), log.name))
            p.ready = time.time()
            p.ready_args = line.split()[1:]
        return p

    def target(self, mode, tag=None, env=None, name=None, prefix=(), python=None, wait_ready=True):
        """daemon_targets.py MODE [--tag TAG], under python (default the case's)."""
        return self.spawn([python or self.python, DAEMON_TARGETS, mode] + (["--tag", tag] if tag else []),
                          name or mode, env=env, prefix=prefix, wait_ready=wait_ready)

    def config(self, daemon, watches, name="watch.ini", owner=None):
        """Writes an ini: daemon is a dict of [daemon] keys (state_dir first), watches a list of
        (name, {key: value}) with rate, stuck_after, history, cooldown defaulted. chmod 600, and
        chown to owner, a (uid, gid)."""
        path = self.path(name)
        with open(path, "w") as f:
            f.write("[daemon]\n")
            for k, v in daemon.items():
                f.write("%s = %s\n" % (k, v))
            for wname, keys in watches:
                d = {"rate": RATE, "stuck_after": "%ds" % STUCK_AFTER, "history": "30s", "cooldown": "30m"}
                d.update(keys)
                f.write("\n[watch:%s]\n" % wname)
                for k, v in d.items():
                    f.write("%s = %s\n" % (k, v))
        os.chmod(path, 0o600)
        if owner is not None:
            os.chown(path, owner[0], owner[1])
        return path

    def daemon(self, config, env=None, name="daemon", prefix=(), nofile=None):
        d = Daemon(self, config, env, name, prefix, nofile)
        self.daemons.append(d)
        return d

    def execute(self):
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        t0 = time.monotonic()
        try:
            self.fn(self)
        except CaseError as e:
            self.check(False, str(e))
        except Exception as e:  # a bug of the test itself: report it, run the other cases
            self.check(False, "test raised %s: %s" % (type(e).__name__, traceback.format_exc()[-900:]))
        finally:
            for d in self.daemons:
                try:
                    d.stop()
                except Exception as e:
                    self.check(False, "stopping the daemon raised %s" % e)
            for p in self.procs:
                kill(p)
            for f in self.files:
                f.close()
            for fn in reversed(self.cleanups):
                try:
                    fn()
                except Exception as e:
                    self.check(False, "cleaning up raised %s" % e)
        self.took = time.monotonic() - t0


def no_errors(c, d, what=""):
    errs = [l for _, _, l in d.alerts("error")]
    c.check(not errs, "no error event%s%s" % (what, (": " + short(" | ".join(errs), 500)) if errs else ""))


def incident_entries(state_dir):
    try:
        return sorted(os.listdir(os.path.join(state_dir, "incidents")))
    except OSError:
        return []


def bundles(state_dir):
    return [n for n in incident_entries(state_dir) if not n.startswith(".")]


class NotifyListener(threading.Thread):
    """A unix datagram socket of ours (NOTIFY_SOCKET), its messages split into KEY=VALUE
    assignments with times, and logged."""

    def __init__(self, path, log):
        threading.Thread.__init__(self, daemon=True)
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.msgs = []          # (time, "KEY=VALUE")
        self.lock = threading.Lock()
        self.closed = False
        self.log = open(log, "w")
        self.start()

    def run(self):
        while not self.closed:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            t = time.time()
            with self.lock:
                for a in data.decode("utf-8", "replace").split("\n"):
                    if a:
                        self.msgs.append((t, a))
                        self.log.write("%.3f %s\n" % (t, a))
                        self.log.flush()

    def snapshot(self, since=0.0):
        with self.lock:
            return [(t, a) for t, a in self.msgs if t >= since]

    def first(self, prefix, since=0.0):
        for t, a in self.snapshot(since):
            if a.startswith(prefix):
                return t, a
        return None

    def close(self):
        """Stops listening; removes the socket file."""
        self.closed = True
        self.join(timeout=2)
        self.sock.close()
        self.log.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


_print_lock = threading.Lock()


def report_case(c):
    """Prints a case's checks, one line each (SKIP/PASS/FAIL CASE: what)."""
    with _print_lock:
        print("== %s (%.1fs)" % (c.name, c.took))
        for ok, text in c.checks:
            print("%s %s: %s" % ("SKIP" if ok is None else "PASS" if ok else "FAIL", c.name, text))
        if c.failed:
            print("     - see %s" % c.dir)
        sys.stdout.flush()


def run_cases(cases, parallel, alone=()):
    """Runs the cases named in alone one by one, then the others `parallel` at a time,
    reporting each when done."""
    for c in [c for c in cases if c.name in alone]:
        c.execute()
        report_case(c)
    pending = [c for c in cases if c.name not in alone]
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if not pending:
                    return
                c = pending.pop(0)
            c.execute()
            report_case(c)

    threads = [threading.Thread(target=worker) for _ in range(parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def watch_problem(python):
    """None when the binary, its watch verb and the interpreter are there, else why not."""
    problem = binary_problem()
    if problem:
        return problem
    r = run_tool(["watch", "--help"], timeout=10)
    if r.rc != 0:
        return "`%s watch --help` fails (exit %s): %s" % (BIN, r.rc, r.err_text.strip()[:200])
    if not python:
        return "no Python 3.11 interpreter found"
    return None


def case_summary(cases):
    """Prints a line per case; returns (checks, failed, skipped) counts."""
    nchecks = sum(1 for c in cases for ok, _ in c.checks if ok is not None)
    nfail = sum(1 for c in cases for ok, _ in c.checks if ok is False)
    nskip = sum(1 for c in cases for ok, _ in c.checks if ok is None)
    print()
    for c in cases:
        print("%-11s %-5s %5.1fs" % (c.name, "FAIL" if c.failed else "SKIP" if all(
            ok is None for ok, _ in c.checks) else "ok", c.took))
    return nchecks, nfail, nskip
