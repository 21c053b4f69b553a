# SPDX-License-Identifier: MIT
"""Shared helpers of the live tests (Python 3): the binary under test, running it, the
interpreters, starting and always killing targets."""

import atexit
import glob
import os
import select
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

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

def pyenv_root():
    try:
        r = subprocess.run(["pyenv", "root"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           timeout=10)
        root = r.stdout.decode().strip()
        if r.returncode == 0 and root:
            return root
    except (OSError, subprocess.SubprocessError):
        pass
    return os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")


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


class Target:
    """python target.py OUTDIR [--spin]; .truth once it reported and settled."""

    def __init__(self, python, mode_args=(), keep_dir=None):
        self.python = python
        self.dir = tempfile.mkdtemp(prefix="pyspy-live-")
        _DIRS.append(self.dir)
        self.keep_dir = keep_dir
        self.log = open(os.path.join(self.dir, "target.log"), "wb")
        self.proc = spawn([python, TARGET, self.dir] + list(mode_args),
                          stdout=self.log, stderr=self.log)
        self.pid = self.proc.pid
        self.truth = None

    def wait_truth(self, timeout=60):
        """Waits for truth.json and for the reporter thread to be gone. Returns None or the
        reason it failed."""
        import json
        path = os.path.join(self.dir, "truth.json")
        deadline = time.monotonic() + timeout
        while not os.path.exists(path):
            if self.proc.poll() is not None:
                return "target exited with %s: %s" % (self.proc.returncode, self.log_text())
            if time.monotonic() > deadline:
                return "no truth.json after %ds: %s" % (timeout, self.log_text())
            time.sleep(0.05)
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

    def log_text(self):
        try:
            with open(os.path.join(self.dir, "target.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")[-1500:]
        except OSError:
            return ""

    def close(self):
        kill(self.proc)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.dir in _DIRS:
            _DIRS.remove(self.dir)


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
