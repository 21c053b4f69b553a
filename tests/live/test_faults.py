#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The faults the watch daemon must survive, against real Python processes: a full or
unwritable state directory, no journal, a target killed in the middle of its capture, zombies,
ptrace refused, and a thousand matching processes appearing at once.

Each case runs `pyspy-watch watch -c CONFIG` (state_dir in the case's directory unless the case
is about it; rate = 10, stuck_after = 3s) with PYSPY_WATCH_JOURNAL_SOCKET=/nonexistent, so its
events are lines on stderr ("pyspy-watch: EVENT: watch=... pid=... message=..."). Targets are
tests/live/daemon_targets.py and tests/live/fault_targets.py. Every daemon ends with SIGTERM: it
must still be running, exit 0 within 2 s, with no sanitizer report. Every bundle left under
incidents/ must be whole (manifest.json, summary.txt, and every file the manifest lists, of the
size it lists), and no .tmp-* may be left.

  fullfs     state_dir on a 256 KiB tmpfs filled up but for 12 KiB (a bundle starts, then runs
             out of room): one `error` per failed capture (naming "No space left on device", the
             directory and the fix, "trying again"), none of them for the same capture twice
             (errors >= 2.5 s apart), no hang event, nothing under incidents/; after a retry
             fails too, the filler is removed: the hang is then reported with a whole bundle,
             and a process that hangs after that gets its bundle too.
  unwritable state_dir on a read-only tmpfs, under a regular file, and (chattr +i) immutable,
             one daemon each: the daemon starts anyway (warn, do not refuse: see below), says
             once at start which directory, why and the fix; a hang gives an `error` naming the
             cause, and the daemon goes on; the read-only tmpfs is then remounted read-write
             and the hang is reported with a whole bundle.
  nojournal  PYSPY_WATCH_JOURNAL_SOCKET at a missing path, at a dead socket file (bound, then
             closed) and at a stream socket: the hang comes as a stderr line, with its bundle.
  killed     a target with 64 threads holding big locals, SIGKILLed while the daemon has it
             paused (TracerPid set) and while the daemon writes its bundle (.tmp-* present):
             the daemon keeps running, says target-lost (or error) for it, leaves only whole
             bundles, keeps watching a healthy process (no target-lost for it) and reports the
             hang of a process started afterwards.
  zombie     pid = a zombie (a Python child its parent never reaps): one `error` naming the
             zombie and its parent, not repeated; match = a process that becomes a zombie while
             watched: one target-lost, no error; the parent and another (hung) target are still
             watched (its hang reported).
  ptrace     the daemon as root without CAP_SYS_PTRACE (setpriv), and as nobody: one `error`
             per unreadable target naming "permission denied", CAP_SYS_PTRACE and who the
             daemon runs as; the targets it can read (started with the same credentials) are
             watched, their hangs reported with bundles.
  swarm      1,000 Python processes matching one watch appear at once (one of them deadlocks),
             next to a separately watched process that hangs: STATUS= reaches all of them, both
             hangs are reported, WATCHDOG=1 never misses WATCHDOG_USEC, no error; once they all
             exit, one target-lost each and the daemon's open files come back to the count before.
             A second daemon watches the same swarm with an open-file limit of 256: it says once
             that the limit is reached (naming LimitNOFILE=), reports no process lost that is
             not, and still catches its own hung process. A third one, SIGTERMed while it takes
             the swarm in, exits 0 within 2 s. Figures (time until all are watched, peak RSS,
             peak open files) are printed.

The daemon's choice for an unwritable state_dir: it starts and keeps watching (as journald keeps
logging when /var/log/journal is not writable), with one `error` at start naming the cause and
fix; a hang then gives an `error` per capture attempt, retried after stuck_after, then twice
as long each time (up to 10 min), until a bundle can be written.

    python3 tests/live/test_faults.py [--python PATH] [--only CASE]... [-j N] [--quick]

--quick (for the sanitizer build) uses 300 processes in the swarm and one kill of each kind.
The binary is $PYSPY_WATCH (relative to the repository root), default ./pyspy-watch. Outputs go
to tests/out/faults/CASE/ ($PYSPY_TEST_OUT). Mount points and processes are removed even on
failure. Needs root (mounts, chattr, setpriv); exit 77 without it or without the binary.
"""

import argparse
import json
import os
import pwd
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livecommon as lc  # noqa: E402
from livecommon import (STUCK_AFTER, RESOLVE, TERM_LIMIT, wait_until, short,  # noqa: E402
                        no_errors, incident_entries, bundles, NotifyListener)

FAULT_TARGETS = os.path.join(lc.HERE, "fault_targets.py")
OUT = os.path.join(lc.ROOT, os.environ.get("PYSPY_TEST_OUT") or os.path.join("tests", "out", "faults"))

SLACK = 3.0              # scheduling, sampling and capture time on a loaded 2-CPU machine
HANG_WAIT = STUCK_AFTER + SLACK + 1.0
QUICK = False


def run(argv, timeout=30):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)


# ---- mounts and immutable files: undone whatever happens ---------------------------------------

_MOUNTS = []
_IMMUTABLE = []


def mount_tmpfs(path, options):
    os.makedirs(path, exist_ok=True)
    r = run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", path])
    if r.returncode != 0:
        return "mount -t tmpfs -o %s failed: %s" % (options, r.stdout.decode("utf-8", "replace").strip())
    _MOUNTS.append(path)
    return None


def umount(path):
    for args in (["umount", path], ["umount", "-l", path]):
        if run(args).returncode == 0:
            break
    if path in _MOUNTS:
        _MOUNTS.remove(path)


def make_immutable(path):
    r = run(["chattr", "+i", path])
    if r.returncode != 0:
        return "chattr +i failed: %s" % r.stdout.decode("utf-8", "replace").strip()
    _IMMUTABLE.append(path)
    return None


def undo_all():
    while _IMMUTABLE:
        run(["chattr", "-i", _IMMUTABLE.pop()])
    while _MOUNTS:
        umount(_MOUNTS[-1])


# ---- the cases: lc.Case, with fault_targets.py too -------------------------------------------------

class Case(lc.Case):
    ready_timeout = 60
    term_wait = 5

    def fault_target(self, args, tag, name, env=None):
        return self.spawn([self.python, FAULT_TARGETS] + list(args) + ["--tag", tag], name, env=env)


# ---- what is on disk ------------------------------------------------------------------------------

def leftovers(state_dir):
    return [n for n in incident_entries(state_dir) if n.startswith(".")]


def bundle_problem(path):
    """None when path is a whole bundle, else what is wrong with it."""
    try:
        with open(os.path.join(path, "manifest.json")) as f:
            m = json.load(f)
    except (OSError, ValueError) as e:
        return "manifest.json: %s" % e
    files = m.get("files") or []
    names = [f.get("name") for f in files]
    if "summary.txt" not in names:
        return "the manifest does not list summary.txt (%s)" % names
    for f in files:
        p = os.path.join(path, f.get("name", ""))
        try:
            size = os.stat(p).st_size
        except OSError as e:
            return "%s: %s" % (f.get("name"), e)
        if size != f.get("size"):
            return "%s is %d bytes, the manifest says %s" % (f.get("name"), size, f.get("size"))
    if m.get("id") != os.path.basename(path):
        return "the manifest's id %r is not the directory's name" % m.get("id")
    return None


def check_disk(c, state_dir, what=""):
    """Every entry under incidents/ is a whole bundle, and no .tmp-* is left."""
    left = leftovers(state_dir)
    c.check(not left, "no .tmp-* left under incidents/%s%s" % (what, ": %s" % left if left else ""))
    bad = [(b, bundle_problem(os.path.join(state_dir, "incidents", b))) for b in bundles(state_dir)]
    bad = [(b, p) for b, p in bad if p]
    c.check(not bad, "every bundle under incidents/ is whole%s (%d)%s" % (
        what, len(bundles(state_dir)), ": %s: %s" % bad[0] if bad else ""))


def check_hang_bundle(c, hang, what):
    """The hang line names an existing, whole bundle."""
    if not hang:
        return False
    bundle = hang[1].get("bundle") or ""
    p = bundle_problem(bundle) if bundle else "no bundle= in the hang line"
    return c.check(not p, "%s: its bundle %s is whole%s" % (what, os.path.basename(bundle), ": " + p if p else ""))


def fill(path, leave):
    """Fills the file system of path's directory with path, then leaves `leave` bytes free."""
    chunk = b"\0" * 65536
    with open(path, "wb") as f:
        try:
            while True:
                f.write(chunk)
                f.flush()
        except OSError:
            pass
    size = os.path.getsize(path)
    os.truncate(path, max(0, size - leave))


# ---- 1. a full state_dir ----------------------------------------------------------------------------

def case_fullfs(c):
    fs = c.path("fs")
    problem = mount_tmpfs(fs, "size=256k,mode=0700")
    if problem:
        c.skip(problem)
        return
    c.cleanups.append(lambda: umount(fs))
    state = os.path.join(fs, "state")
    os.makedirs(state, mode=0o700)
    filler = os.path.join(fs, "filler")
    fill(filler, 12 * 1024)
    st = os.statvfs(fs)
    c.check(st.f_bavail * st.f_frsize <= 16 * 1024, "the tmpfs is full but for %d KiB" % (st.f_bavail * st.f_frsize // 1024))

    tag = "pyspy-fullfs-%d" % os.getpid()
    a = c.target("socket", name="a")
    cfg = c.config({"state_dir": state}, [("full", {"pid": a.pid}), ("later", {"match": re.escape(tag)})])
    d = c.daemon(cfg)
    e1 = d.wait_alert(HANG_WAIT + 1, "error", pid=a.pid)
    msg = e1[1].get("message", "") if e1 else ""
    c.check(e1, "a full state_dir: an error event for the hung process %d (%s)" % (a.pid, short(msg, 400)))
    c.check("No space left on device" in msg and state in msg and "free space" in msg and "trying again" in msg,
            "the error names the cause (No space left on device), the directory, the fix (free space) and the retry")
    c.check(e1 and e1[1].get("watch") == "full", "the error names the watch (%r)" % (e1[1].get("watch") if e1 else None))
    c.check(not d.alerts("hang"), "no hang event without its bundle")
    time.sleep(0.3)
    c.check(not incident_entries(state), "after the failed capture incidents/ is empty (%s)" % incident_entries(state))

    # The retry (after stuck_after): a second failed capture, its own error.
    e2 = d.wait_alert(STUCK_AFTER + SLACK + 2, "error", since=e1[0] + 0.01 if e1 else 0, pid=a.pid)
    c.check(e2, "the capture is tried again later: a second error event%s" % (
        " %.1fs after the first" % (e2[0] - e1[0]) if e1 and e2 else ""))
    c.check(d.running(), "the daemon keeps running on a full state_dir")
    c.check(not incident_entries(state), "after the retry incidents/ is still empty (%s)" % incident_entries(state))

    # Room again: the next try writes a whole bundle, then the hang event.
    os.unlink(filler)
    t_free = time.time()
    b = c.target("socket", tag=tag, name="b")     # hangs after the disk was fixed
    h = d.wait_alert(20, "hang", pid=a.pid)
    c.check(h, "once space is freed the hang of %d is reported%s" % (
        a.pid, " (%.1fs after)" % (h[0] - t_free) if h else " within 20s"))
    check_hang_bundle(c, h, "the retried capture")
    hb = d.wait_alert(RESOLVE + HANG_WAIT + 2, "hang", pid=b.pid)
    c.check(hb, "a process hanging after that (%d) is reported" % b.pid)
    check_hang_bundle(c, hb, "the next capture")

    errs = d.alerts("error", pid=a.pid)
    gaps = [errs[i + 1][0] - errs[i][0] for i in range(len(errs) - 1)]
    c.check(all(g >= STUCK_AFTER - 0.5 for g in gaps),
            "one error per failed capture: %d errors, never two for one capture (%s s apart)" % (
                len(errs), ", ".join("%.1f" % g for g in gaps)))
    c.check(all(t < (h[0] if h else 1e18) for t, _, _ in errs), "no error after the successful capture")
    others = [l for _, a_, l in d.alerts("error") if a_.get("pid") != str(a.pid)]
    c.check(not others, "no other error event%s" % (": " + short(others[0]) if others else ""))
    check_disk(c, state)


# ---- 2. an unwritable state_dir ------------------------------------------------------------------------

def case_unwritable(c):
    runs = []
    ro = c.path("ro")
    problem = mount_tmpfs(ro, "ro,size=64k,mode=0700")
    if problem:
        c.skip(problem)
    else:
        c.cleanups.append(lambda: umount(ro))
        runs.append(("read-only", ro, "Read-only file system", "read-write"))
    afile = c.path("afile")
    with open(afile, "w") as f:
        f.write("not a directory\n")
    runs.append(("under-a-file", os.path.join(afile, "state"), "Not a directory", "not a directory"))
    imm = c.path("immutable")
    os.makedirs(imm, mode=0o700)
    problem = make_immutable(imm)
    if problem:
        c.skip(problem)
    else:
        c.cleanups.append(lambda: run(["chattr", "-i", imm]))
        runs.append(("immutable", imm, "Operation not permitted", "chattr -i"))

    started = []
    for name, state, cause, fix in runs:
        t = c.target("socket", name=name)
        cfg = c.config({"state_dir": state}, [(name, {"pid": t.pid})], name="watch-%s.ini" % name)
        started.append((name, state, cause, fix, t, c.daemon(cfg, name="daemon-" + name)))
    for name, state, cause, fix, t, d in started:
        e0 = d.wait_alert(3, "error")
        msg = e0[1].get("message", "") if e0 else ""
        c.check(e0 and "pid" not in e0[1] and state in msg and cause in msg and fix in msg,
                "%s: at start, one error naming the directory, the cause (%s) and the fix (%s): %r" % (
                    name, cause, fix, short(msg, 400)))
    time.sleep(1.0)
    for name, state, cause, fix, t, d in started:
        c.check(d.running(), "%s: the daemon starts and keeps running" % name)
    for name, state, cause, fix, t, d in started:
        e = d.wait_alert(HANG_WAIT + 1, "error", pid=t.pid)
        msg = e[1].get("message", "") if e else ""
        c.check(e and cause in msg and "hung" in msg, "%s: the hang of %d gives an error naming the cause (%r)" % (
            name, t.pid, short(msg, 300)))
        c.check(not d.alerts("hang"), "%s: no hang event without a bundle" % name)
        starts = [x for x in d.alerts("error") if "pid" not in x[1]]
        c.check(len(starts) == 1, "%s: the start-up error is said once (%d)" % (name, len(starts)))
    for name, state, cause, fix, t, d in started:
        c.check(d.running(), "%s: the daemon keeps running after the failed capture" % name)
        if name != "read-only":
            continue
        r = run(["mount", "-o", "remount,rw", state])
        if not c.check(r.returncode == 0, "read-only: remounted read-write (%s)" % r.stdout.decode().strip()):
            continue
        t_rw = time.time()
        h = d.wait_alert(2 * STUCK_AFTER + SLACK + 4, "hang", pid=t.pid)
        c.check(h, "read-only: once writable, the hang is reported%s" % (
            " (%.1fs after the remount)" % (h[0] - t_rw) if h else ""))
        check_hang_bundle(c, h, "read-only")
        check_disk(c, state, " (read-only, then read-write)")


# ---- 3. no journal -----------------------------------------------------------------------------------

def case_nojournal(c):
    dead = c.path("dead.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(dead)
    s.close()           # the file stays; nobody reads it: ECONNREFUSED
    stream = c.path("stream.sock")
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(stream)
    ls.listen(1)        # alive, but not a datagram socket
    c.cleanups.append(ls.close)
    runs = []
    for name, path in (("missing", "/nonexistent/journal.socket"), ("dead", dead), ("stream", stream)):
        t = c.target("socket", name=name)
        state = c.state_dir("state-" + name)
        cfg = c.config({"state_dir": state}, [(name, {"pid": t.pid})], name="watch-%s.ini" % name)
        runs.append((name, path, t, state, c.daemon(cfg, env={"PYSPY_WATCH_JOURNAL_SOCKET": path}, name="daemon-" + name)))
    for name, path, t, state, d in runs:
        h = d.wait_alert(HANG_WAIT + 2, "hang", pid=t.pid)
        c.check(h and h[1].get("watch") == name and "recv_reply (" in h[1].get("stack", ""),
                "journal socket %s (%s): the hang is a stderr line, with its stack" % (name, path))
        check_hang_bundle(c, h, "journal socket " + name)
        no_errors(c, d, " (%s)" % name)
        check_disk(c, state, " (%s)" % name)


# ---- 4. a target killed during its capture -------------------------------------------------------------

def kill_during(pid, kind, incidents, stop):
    """Polls for the moment the daemon pauses pid (kind "pause": TracerPid set) or writes its
    bundle (kind "write": a .tmp-* naming it), and SIGKILLs it then. Returns what it saw."""
    suffix = "-%d" % pid
    while not stop.is_set():
        if kind == "pause":
            hit = (lc.proc_status_number(pid, "TracerPid") or 0) > 0
        else:
            try:
                hit = any(n.startswith(".tmp-") and n.endswith(suffix) for n in os.listdir(incidents))
            except OSError:
                hit = False
        if hit:
            try:
                os.kill(pid, signal.SIGKILL)
                return "killed"
            except OSError:
                return "gone"
    return "not seen"


def case_killed(c):
    state = c.state_dir()
    incidents = os.path.join(state, "incidents")
    os.makedirs(incidents, mode=0o700, exist_ok=True)
    htag = "pyspy-heavy-%d" % os.getpid()
    otag = "pyspy-other-%d" % os.getpid()
    healthy = c.target("sleeper", name="healthy")
    cfg = c.config({"state_dir": state}, [("heavy", {"match": re.escape(htag), "stuck_after": "2s", "locals": "yes"}),
                                          ("healthy", {"pid": healthy.pid}),
                                          ("other", {"match": re.escape(otag)})])
    d = c.daemon(cfg)
    kinds = ["pause", "write"] if QUICK else ["pause", "write", "pause", "write"]
    for i, kind in enumerate(kinds):
        p = c.fault_target(["heavy"], "%s-%d" % (htag, i), "heavy-%d" % i, env={"HEAVY_THREADS": "64"})
        stop = threading.Event()
        res = {}
        killer = threading.Thread(target=lambda: res.setdefault("r", kill_during(p.pid, kind, incidents, stop)))
        killer.start()
        killer.join(timeout=RESOLVE + HANG_WAIT + 4)
        stop.set()
        killer.join()
        outcome = res.get("r")
        lost = d.wait_alert(RESOLVE + 3, "target-lost", pid=p.pid) or d.wait_alert(0.1, "error", pid=p.pid)
        when = "while the daemon had it paused" if kind == "pause" else "while its bundle was being written"
        c.check(outcome == "killed", "attempt %d (%s): the target %d was SIGKILLed %s%s" % (
            i + 1, kind, p.pid, when, "" if outcome == "killed" else ": the capture was not seen (%s)" % outcome))
        lc.kill(p)
        c.check(d.running(), "attempt %d: the daemon is still running" % (i + 1))
        c.check(lost, "attempt %d: target-lost (or error) for %d%s" % (
            i + 1, p.pid, ": " + short(lost[2], 200) if lost else ""))
        time.sleep(0.3)
        check_disk(c, state, " after attempt %d" % (i + 1))
    c.check(not d.alerts("target-lost", pid=healthy.pid) and not d.alerts("hang", pid=healthy.pid),
            "the healthy process %d is still watched quietly (no target-lost, no hang)" % healthy.pid)
    o = c.target("socket", tag=otag, name="other")
    h = d.wait_alert(RESOLVE + HANG_WAIT + 2, "hang", pid=o.pid)
    c.check(h, "a process started after the kills (%d) is watched: its hang is reported" % o.pid)
    check_hang_bundle(c, h, "the process started after the kills")
    errs = [l for _, a, l in d.alerts("error")]
    c.check(not errs, "no error event but for the killed targets%s" % (": " + short(errs[0]) if errs else ""))
    check_disk(c, state, " at the end")


# ---- 5. zombies ------------------------------------------------------------------------------------------

def case_zombie(c):
    state = c.state_dir()
    tag = "pyspy-zombie-%d" % os.getpid()
    z1p = c.fault_target(["zombie", "0"], tag + "-a", "zombie-a")
    z1 = int(z1p.ready_args[0])
    zombie = wait_until(lambda: lc.proc_state(z1) == "Z", 5)
    c.check(zombie, "process %d is a zombie (state %s), its parent %d alive" % (z1, lc.proc_state(z1), z1p.pid))
    z2p = c.fault_target(["zombie", "4"], tag + "-b", "zombie-b")   # its child dies in 4 s
    z2 = int(z2p.ready_args[0])
    other = c.target("socket", name="other")
    cfg = c.config({"state_dir": state}, [("zpid", {"pid": z1}), ("zmatch", {"match": re.escape(tag + "-b")}),
                                          ("other", {"pid": other.pid})])
    d = c.daemon(cfg)
    e = d.wait_alert(3 * RESOLVE + 3, "error", pid=z1)
    msg = e[1].get("message", "") if e else ""
    c.check(e and "zombie" in msg and str(z1p.pid) in msg and e[1].get("watch") == "zpid",
            "pid = a zombie: an error naming it a zombie and its parent %d (%r)" % (z1p.pid, short(msg, 300)))
    h = d.wait_alert(HANG_WAIT + 2, "hang", pid=other.pid)
    c.check(h, "another target's hang is still reported (%d)" % other.pid)
    check_hang_bundle(c, h, "the other target")
    gone = wait_until(lambda: lc.proc_state(z2) == "Z", 10)
    c.check(gone, "the matched child %d became a zombie" % z2)
    lost = d.wait_alert(RESOLVE + 3, "target-lost", pid=z2)
    c.check(lost and lost[1].get("watch") == "zmatch",
            "match =: the child that became a zombie gets target-lost%s" % (": " + short(lost[2], 200) if lost else ""))
    time.sleep(2 * RESOLVE + 0.5)   # a repeated message would show now
    n1 = len(d.alerts("error", pid=z1))
    c.check(n1 == 1, "the zombie's error is said once (%d)" % n1)
    n2 = len(d.alerts("target-lost", pid=z2))
    c.check(n2 == 1 and not d.alerts("error", pid=z2), "the zombie child: one target-lost (%d), no error" % n2)
    c.check(not d.alerts("target-lost", pid=z2p.pid) and not d.alerts("error", pid=z2p.pid),
            "its parent %d (matched too) is still watched quietly" % z2p.pid)
    c.check(d.running(), "the daemon keeps running")
    check_disk(c, state)


# ---- 6. ptrace refused ---------------------------------------------------------------------------------------

def case_ptrace(c):
    if not shutil.which("setpriv"):
        c.skip("setpriv not found (util-linux)")
        return
    drop = ["setpriv", "--inh-caps=-sys_ptrace", "--bounding-set=-sys_ptrace"]
    r = run(drop + ["grep", "^CapEff", "/proc/self/status"])
    eff = r.stdout.decode().split()[-1] if r.returncode == 0 else ""
    if r.returncode != 0 or (int(eff, 16) >> 19) & 1:
        c.skip("cannot drop CAP_SYS_PTRACE with setpriv: %s" % r.stdout.decode().strip())
        return

    # a. Root without CAP_SYS_PTRACE: a root process with all capabilities cannot be read, one
    # started with the same reduced set can.
    tag = "pyspy-ptrace-%d" % os.getpid()
    full = c.target("socket", tag=tag + "-full", name="full")
    same = c.target("socket", tag=tag + "-same", name="same", prefix=drop)
    state = c.state_dir()
    cfg = c.config({"state_dir": state}, [("cap", {"match": re.escape(tag)})])
    d = c.daemon(cfg, name="daemon-nocap", prefix=drop)
    e = d.wait_alert(RESOLVE + 3, "error", pid=full.pid)
    msg = e[1].get("message", "") if e else ""
    c.check(e and "permission denied" in msg and "CAP_SYS_PTRACE" in msg and "root" in msg,
            "root without CAP_SYS_PTRACE: an error for %d naming permission denied, root and CAP_SYS_PTRACE (%r)" % (
                full.pid, short(msg, 300)))
    h = d.wait_alert(HANG_WAIT + 2, "hang", pid=same.pid)
    c.check(h, "root without CAP_SYS_PTRACE: the readable process %d is watched, its hang reported" % same.pid)
    check_hang_bundle(c, h, "root without CAP_SYS_PTRACE")

    # b. As nobody: root's process refused, nobody's own watched.
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        c.skip("no user nobody")
        nobody = None
    python3 = shutil.which("python3") if os.access("/usr/bin/python3", os.X_OK) else None
    if nobody and python3:
        uid, gid = nobody.pw_uid, nobody.pw_gid
        as_nobody = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid, "--clear-groups"]
        ntag = "pyspy-nobody-%d" % os.getpid()
        root_t = c.target("socket", tag=ntag + "-root", name="root")
        own = c.target("socket", tag=ntag + "-own", name="own", prefix=as_nobody, python="/usr/bin/python3")
        nstate = c.state_dir("state-nobody")
        os.chown(nstate, uid, gid)
        ncfg = c.config({"state_dir": nstate}, [("nobody", {"match": re.escape(ntag)})], name="watch-nobody.ini",
                        owner=(uid, gid))
        dn = c.daemon(ncfg, name="daemon-nobody", prefix=as_nobody)
        e = dn.wait_alert(RESOLVE + 3, "error", pid=root_t.pid)
        msg = e[1].get("message", "") if e else ""
        c.check(e and "permission denied" in msg and "CAP_SYS_PTRACE" in msg and "uid %d" % uid in msg,
                "as nobody: an error for root's %d naming permission denied, the daemon's uid and CAP_SYS_PTRACE (%r)" % (
                    root_t.pid, short(msg, 300)))
        h = dn.wait_alert(HANG_WAIT + 2, "hang", pid=own.pid)
        c.check(h, "as nobody: nobody's own process %d is watched, its hang reported" % own.pid)
        check_hang_bundle(c, h, "as nobody")
        time.sleep(RESOLVE + 0.5)
        n = len(dn.alerts("error", pid=root_t.pid))
        c.check(n == 1, "as nobody: one error for the unreadable process, not one per round (%d)" % n)
        others = [l for _, a, l in dn.alerts("error") if a.get("pid") != str(root_t.pid)]
        c.check(not others, "as nobody: no other error%s" % (": " + short(others[0]) if others else ""))
    elif nobody:
        c.skip("no /usr/bin/python3 for a target running as nobody")
    n = len(d.alerts("error", pid=full.pid))
    c.check(n == 1, "root without CAP_SYS_PTRACE: one error for the unreadable process (%d)" % n)
    others = [l for _, a, l in d.alerts("error") if a.get("pid") != str(full.pid)]
    c.check(not others, "root without CAP_SYS_PTRACE: no other error%s" % (": " + short(others[0]) if others else ""))


# ---- 7. a thousand processes at once --------------------------------------------------------------------------

def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def settled_fds(pid, timeout=5):
    """The daemon's open files once the count has not changed for a second."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.append(fd_count(pid))
        if len(seen) >= 5 and len(set(seen[-5:])) == 1:
            break
        time.sleep(0.25)
    return seen[-1]


def watching(listener, since=0.0):
    """The last STATUS= count of processes watched, or -1."""
    n = -1
    for _, a in listener.snapshot(since):
        m = re.match(r"STATUS=Watching (\d+) process", a)
        if m:
            n = int(m.group(1))
    return n


def case_swarm(c):
    n = 300 if QUICK else 1000
    watchdog_usec = 2000000
    sock_path = os.path.join("/tmp", "pyspy-faults-notify-%d.sock" % os.getpid())
    listener = NotifyListener(sock_path, c.path("notify.log"))
    c.cleanups.append(listener.close)
    tag = "pyspy-swarm-%d" % os.getpid()
    swarm_watch = {"match": re.escape(tag), "rate": 1, "stuck_after": "5s", "locals": "no"}

    # Two daemons: one as systemd would start it (soft open-file limit 1024, which it raises),
    # one with an open-file limit of 256 (room for a few dozen processes). Each watches a process
    # that hangs at once (captured before the baseline is taken: a capture leaves the sampler
    # a file per thread), one started before the swarm that hangs in its middle, and the swarm.
    daemons = []
    for name, nofile in (("daemon", (1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1])), ("tight", (256, 256))):
        first = c.target("socket", name=name + "-first")
        late_tag = "pyspy-late-%s-%d" % (name, os.getpid())
        state = c.state_dir("state-" + name)
        cfg = c.config({"state_dir": state}, [("first", {"pid": first.pid}), ("late", {"match": re.escape(late_tag)}),
                                              ("swarm", swarm_watch)], name="watch-%s.ini" % name)
        env = {"NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": str(watchdog_usec)} if name == "daemon" else {}
        daemons.append((name, first, late_tag, c.daemon(cfg, env=env, name=name, nofile=nofile)))
    (_, first, late_tag, d), (_, tfirst, tlate_tag, dt) = daemons
    for name, p, _, dd in daemons:
        h = dd.wait_alert(HANG_WAIT + 2, "hang", pid=p.pid)
        if not c.check(h, "%s: before the swarm, the hang of %d is reported" % (name, p.pid)):
            return
    base, tbase = settled_fds(d.pid), settled_fds(dt.pid)
    c.check(watching(listener) == 1 and base > 0, "before: 1 process watched, %d open files (%d for the other daemon)" % (
        base, tbase))
    # A third daemon on the same swarm, stopped with SIGTERM in the middle of taking it in.
    dterm = c.daemon(c.config({"state_dir": c.state_dir("state-term")}, [("swarm", swarm_watch)], name="watch-term.ini"),
                     name="term")
    late = c.target("socket", tag=late_tag, name="late", env={"HANG_AFTER": "%d" % (RESOLVE + 4)})
    tlate = c.target("socket", tag=tlate_tag, name="tight-late", env={"HANG_AFTER": "%d" % (RESOLVE + 4)})
    c.check(wait_until(lambda: watching(listener) == 2, RESOLVE + 3), "the process to hang later is watched")
    time.sleep(0.5)

    t0 = time.time()
    sw = c.fault_target(["swarm", str(n)], tag, "swarm")
    kids = [int(x) for x in sw.ready_args]
    spawned = time.time() - t0
    want = n + 3          # the children, their parent (same command line), first and late
    peak_fds, peak_rss, all_at = 0, 0, None
    deadline = time.time() + (60 if not QUICK else 45)
    while time.time() < deadline:
        if not dterm.stopped and time.time() - t0 >= 3:
            c.check(fd_count(dterm.pid) > 100, "a third daemon is in the middle of taking in the swarm (%d open files) "
                    "when it gets SIGTERM" % fd_count(dterm.pid))
            dterm.stop()
        peak_fds = max(peak_fds, fd_count(d.pid))
        peak_rss = max(peak_rss, lc.proc_status_number(d.pid, "VmRSS", -1))
        if all_at is None and watching(listener, t0) >= want:
            all_at = time.time()
        if all_at and d.alerts("hang", pid=kids[0]) and d.alerts("hang", pid=late.pid) and time.time() - all_at > 2:
            break
        time.sleep(0.25)
    c.check(all_at, "STATUS= reaches all %d processes (%d children, their parent, two others)%s" % (
        want, n, ": after %.1fs (spawned in %.1fs); daemon peak RSS %.0f MiB, peak %d open files" % (
            all_at - t0, spawned, peak_rss / 1024.0, peak_fds) if all_at else ": last %d" % watching(listener)))
    hl = d.alerts("hang", pid=late.pid)
    c.check(hl, "a process that hangs in the middle of the swarm (%d) is reported" % late.pid)
    check_hang_bundle(c, hl[0] if hl else None, "the one hanging meanwhile")
    hk = d.alerts("hang", pid=kids[0])
    c.check(hk and "swarm_stuck (" in hk[0][1].get("stack", ""), "the deadlocked one of the %d (%d) is reported" % (n, kids[0]))
    check_hang_bundle(c, hk[0] if hk else None, "the deadlocked one")
    pings = [t for t, a in listener.snapshot(t0) if a == "WATCHDOG=1"]
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    worst = max(gaps) if gaps else None
    c.check(len(pings) >= 2 and worst < watchdog_usec / 1e6,
            "WATCHDOG=1 kept coming: %d pings, at most %.2fs apart (WATCHDOG_USEC %.0fs)" % (
                len(pings), worst or 0, watchdog_usec / 1e6))
    expected = (first.pid, late.pid, kids[0])
    others = [l for _, a, l in d.alerts("hang") if a.get("pid") not in [str(p) for p in expected]]
    c.check(not others, "no other hang (the sleepers wake every second)%s" % (": " + short(others[0]) if others else ""))
    no_errors(c, d)

    # The tight daemon: the limit said once, nothing lost that lives, a new hang still caught.
    te = dt.alerts("error")
    c.check(len(te) == 1 and "LimitNOFILE" in te[0][1].get("message", "") and "open-file limit" in te[0][1].get("message", ""),
            "open-file limit 256: one error naming the limit and LimitNOFILE= (%s)" % short(" | ".join(l for _, _, l in te), 400))
    tl = dt.alerts("target-lost")
    c.check(not tl, "open-file limit 256: no target-lost while they all live (%d)%s" % (
        len(tl), ": " + short(tl[0][2], 200) if tl else ""))
    th = dt.wait_alert(HANG_WAIT, "hang", pid=tlate.pid)
    c.check(th, "open-file limit 256: a process hanging in the middle of the swarm (%d) is reported" % tlate.pid)
    c.check(d.running() and dt.running(), "both daemons still running")

    # They all exit: one target-lost each, and the open files come back.
    k0 = time.time()
    for p in (sw, late, tlate):
        lc.kill(p)
    back = wait_until(lambda: fd_count(d.pid) == base and fd_count(dt.pid) == tbase, 20, step=0.25)
    c.check(back, "after they exit the open files come back: %d (before %d), other daemon %d (before %d)%s" % (
        fd_count(d.pid), base, fd_count(dt.pid), tbase, " in %.1fs" % (time.time() - k0) if back else ""))
    lost = d.alerts("target-lost", since=k0 - 1)
    pids = [a.get("pid") for _, a, _ in lost]
    gone = set(str(p) for p in kids + [sw.pid, late.pid])
    c.check(len(pids) == len(set(pids)) and set(pids) == gone,
            "one target-lost per process gone (%d lines, %d processes)" % (len(pids), len(gone)))
    c.check(not d.alerts("target-lost", pid=first.pid), "the first process is not lost")
    rc, took = d.term()
    c.check(rc == 0 and took < TERM_LIMIT, "SIGTERM after the swarm: exit %s in %.2fs" % (rc, took))
    d.ended()
    d.check_no_sanitizer()


# ---- scheduling ----------------------------------------------------------------------------------------------

CASES = [
    ("swarm", case_swarm),
    ("fullfs", case_fullfs),
    ("killed", case_killed),
    ("unwritable", case_unwritable),
    ("zombie", case_zombie),
    ("ptrace", case_ptrace),
    ("nojournal", case_nojournal),
]
ALONE = ("swarm",)       # CPU-heavy: runs before the others, by itself


def main():
    global QUICK
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--python")
    ap.add_argument("--only", action="append", choices=[n for n, _ in CASES])
    ap.add_argument("-j", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    QUICK = args.quick

    python = args.python or lc.default_python()
    problem = lc.binary_problem()
    if not problem and os.geteuid() != 0:
        problem = "needs root (tmpfs mounts, chattr, setpriv, other users' processes)"
    problem = problem or lc.watch_problem(python)
    if problem:
        print("skip: " + problem)
        return 77
    os.makedirs(OUT, exist_ok=True)
    cases = [Case(n, fn, python, OUT) for n, fn in CASES if not args.only or n in args.only]

    t0 = time.monotonic()
    try:
        lc.run_cases(cases, max(1, args.j), ALONE)
    finally:
        lc.kill_all()
        undo_all()
    nchecks, nfail, nskip = lc.case_summary(cases)
    print("%d cases, %d checks, %d failed, %d skipped, %.0fs (python %s%s; outputs under %s)" % (
        len(cases), nchecks, nfail, nskip, time.monotonic() - t0, python, ", --quick" if QUICK else "", OUT))
    if nchecks == 0:
        return 77
    return 1 if nfail else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        undo_all()
