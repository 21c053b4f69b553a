#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The watch daemon's behaviour as a service, against real Python processes: systemd
notifications, reloads, targets that come and go, errors, actions, retention, threads = main,
cooldown and the journal.

Each case runs `pyspy-watch watch -c CONFIG` with a config of its own (chmod 600; state_dir in
the case's directory; rate = 10, stuck_after = 3s) and, except the journal case, with
PYSPY_WATCH_JOURNAL_SOCKET=/nonexistent so that its events come as lines on stderr
("pyspy-watch: EVENT: watch=... pid=..."). Targets are tests/live/daemon_targets.py (the modes of
hang_targets.py, plus worker-deadlock and relapse). Every case ends with SIGTERM: the daemon
must exit 0 within 2 s, with no sanitizer report.

  notify     NOTIFY_SOCKET (a datagram socket of ours) and WATCHDOG_USEC=1000000: READY=1 after
             start; STATUS= names the number of processes watched; WATCHDOG=1 at least twice in
             2 s; SIGHUP gives RELOADING=1 then READY=1; SIGTERM gives STOPPING=1, exit 0 in 2 s.
  reload     SIGHUP with a good file adding a watch: its (already hung) target is then reported,
             and the hang reported before the reload is not reported again (cooldown); SIGHUP
             with a syntax error: the daemon keeps running, an `error` event names the failed
             reload, and a watch of the old file still catches a new hang.
  lost       pid = PID, the process killed: exactly one `target-lost` for it within 3 s.
             match = REGEX: a process started after the daemon is picked up (its hang reported
             within resolve + stuck_after + slack) and, killed, reported lost.
  error-once match = REGEX on a non-Python process: exactly one `error` for it in 8 s, naming
             "not a Python process".
  actions    action = kill: the target is dead (SIGKILL) right after its hang line, and the
             bundle exists. action = exec: a hook script ran with {name} {pid} {tid} {bundle}
             {incident} filled in (the bundle directory exists, the ID is the hang line's).
  retention  max_incidents = 1, two targets hanging 3 s apart: only the newest bundle remains.
  threads    a worker thread deadlocked while the main thread sleeps 1 s at a time, watched twice:
             threads = all reports it, threads = main stays silent.
  cooldown   a thread stuck, released (`recovered`), stuck again at the same stack: with
             cooldown = 30m one hang line; with cooldown = 0 (the control) two.
  journal    under /work/shared/tools/with-journald (skipped when --check fails): the hang entry
             in the journal (MESSAGE_ID 28916163...), with PRIORITY=2, SYSLOG_IDENTIFIER, every
             PYSPY_ field, the stack multi-line with the stuck function first.

    python3 tests/live/test_daemon.py [--python PATH] [--only CASE]... [-j N]

The binary is $PYSPY_WATCH (relative to the repository root), default ./pyspy-watch. Outputs
(configs, state directories, daemon stderr, notify messages) go to tests/out/daemon/CASE/
($PYSPY_TEST_OUT). Cases run two at a time. One line per check (PASS/FAIL CASE: what). Exit 0
when every check passed, 77 when the binary or its watch verb is missing, 1 otherwise.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livecommon as lc  # noqa: E402
from livecommon import (STUCK_AFTER, RESOLVE, TERM_LIMIT, wait_until, short,  # noqa: E402
                        no_errors, bundles, NotifyListener)

# Absolute (state_dir must be), even when run.sh passes a path relative to the repository root.
OUT = os.path.join(lc.ROOT, os.environ.get("PYSPY_TEST_OUT") or os.path.join("tests", "out", "daemon"))
WITH_JOURNALD = os.environ.get("WITH_JOURNALD") or "/work/shared/tools/with-journald"

SLACK = 2.0              # scheduling, sampling and capture time on a loaded 2-CPU machine
HANG_WAIT = STUCK_AFTER + SLACK + 1.0   # from the moment a target blocks to its hang line
HANG_MSGID = "2891616329cd4bb7bda6f9b17ee1330d"

# The cases run in lc.Case: its targets are daemon_targets.py, its daemons lc.Daemon.

# ---- 1. sd_notify ------------------------------------------------------------------------------

def case_notify(c):
    state = c.state_dir()
    tgt = c.target("sleeper")
    cfg = c.config({"state_dir": state}, [("nap", {"pid": tgt.pid})])
    sock_path = os.path.join("/tmp", "pyspy-notify-%d-%d.sock" % (os.getpid(), int(time.time() * 1000) % 100000))
    listener = NotifyListener(sock_path, c.path("notify.log"))
    try:
        t0 = time.time()
        d = c.daemon(cfg, env={"NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": "1000000"})
        ready = wait_until(lambda: listener.first("READY=1"), 3)
        c.check(ready, "READY=1 within 3s of start%s" % (
            " (%.2fs)" % (ready[0] - t0) if ready else ": got %s" % short(listener.snapshot())))
        status = wait_until(lambda: listener.first("STATUS="), 3)
        c.check(status and re.search(r"\b1 process", status[1]),
                "STATUS= names 1 process watched (%r)" % (status[1] if status else None))
        # WATCHDOG=1: WATCHDOG_USEC = 1 s, so a ping at least every 0.5 s.
        w0 = time.time()
        time.sleep(2.0)
        pings = [t for t, a in listener.snapshot(w0) if a == "WATCHDOG=1"]
        c.check(len(pings) >= 2, "WATCHDOG=1 at least twice in 2s (%d)" % len(pings))

        h0 = time.time()
        d.hup()
        got = wait_until(lambda: (lambda r: r if r and listener.first("READY=1", r[0]) else None)(
            listener.first("RELOADING=1", h0)), 3)
        after = [a for _, a in listener.snapshot(h0) if a in ("RELOADING=1", "READY=1")]
        c.check(got and after[:2] == ["RELOADING=1", "READY=1"],
                "SIGHUP: RELOADING=1 then READY=1 (got %s)" % after)
        time.sleep(1.2)
        pings = [t for t, a in listener.snapshot(h0 + 0.2) if a == "WATCHDOG=1"]
        c.check(len(pings) >= 1, "WATCHDOG=1 still sent after the reload (%d in 1s)" % len(pings))
        c.check(d.running(), "daemon still running after SIGHUP")

        s0 = time.time()
        rc, took = d.term()
        stopping = wait_until(lambda: listener.first("STOPPING=1", s0), 1)
        c.check(stopping, "SIGTERM: STOPPING=1 (got %s)" % [a for _, a in listener.snapshot(s0)])
        c.check(rc == 0 and took < TERM_LIMIT, "SIGTERM: exit 0 within %.0fs (exit %s after %.2fs)" % (
            TERM_LIMIT, rc, took))
        d.ended()
        d.check_no_sanitizer()
        no_errors(c, d)
    finally:
        listener.close()


# ---- 2. SIGHUP reload --------------------------------------------------------------------------

def case_reload(c):
    state = c.state_dir()
    tag = "pyspy-reload-%d" % os.getpid()
    a = c.target("socket", name="a")                    # hangs at once; watched from the start
    b = c.target("socket", name="b")                    # hangs at once; watched after the reload
    cfg_path = c.path("watch.ini")
    old = c.config({"state_dir": state}, [("a", {"pid": a.pid})], name="watch-1.ini")
    shutil.copy(old, cfg_path)
    os.chmod(cfg_path, 0o600)
    d = c.daemon(cfg_path)
    first = d.wait_alert(HANG_WAIT + 1, "hang", watch="a", pid=a.pid)
    c.check(first, "before any reload: hang of watch a (pid %d)" % a.pid)

    # A good file: a second watch on a target that is already hung, and a match= watch.
    good = c.config({"state_dir": state}, [("a", {"pid": a.pid}), ("b", {"pid": b.pid}),
                                           ("c", {"match": re.escape(tag)})], name="watch-2.ini")
    shutil.copy(good, cfg_path)
    os.chmod(cfg_path, 0o600)
    h1 = time.time()
    d.hup()
    hb = d.wait_alert(HANG_WAIT + 1, "hang", since=h1, watch="b", pid=b.pid)
    c.check(hb, "good reload adding watch b: its target's hang is reported%s" % (
        " (%.1fs after SIGHUP)" % (hb[0] - h1) if hb else " within %.0fs" % (HANG_WAIT + 1)))
    time.sleep(1.0)
    again = d.alerts("hang", since=h1, watch="a")
    c.check(not again, "good reload: watch a's hang, already reported, is not reported again (cooldown = 30m)%s" % (
        ": " + short(again[0][2], 200) if again else ""))
    no_errors(c, d, " after the good reload")

    # A bad file: a syntax error. The old (good) configuration keeps running.
    with open(cfg_path, "w") as f:
        f.write("[daemon]\nstate_dir = %s\n\n[watch:a\npid = %d\n" % (state, a.pid))
    os.chmod(cfg_path, 0o600)
    h2 = time.time()
    d.hup()
    err = d.wait_alert(3, "error", since=h2)
    msg = err[1].get("message", "") if err else ""
    c.check(err and re.search(r"reload", msg, re.I) and re.search(r"fail", msg, re.I),
            "bad reload: an error event names the failed reload (%r)" % short(msg, 250))
    c.check(err and cfg_path in msg, "bad reload: the error names the file (%s)" % cfg_path)
    time.sleep(0.5)
    c.check(d.running(), "bad reload: the daemon keeps running")
    n_err = len(d.alerts("error", since=h2))
    c.check(n_err == 1, "bad reload: one error event (%d)" % n_err)
    # A watch of the file in force (c: match=) still catches a hang that begins now.
    t3 = c.target("socket", tag=tag, name="c")
    hc = d.wait_alert(RESOLVE + HANG_WAIT + 1, "hang", since=h2, watch="c", pid=t3.pid)
    c.check(hc, "after the bad reload: a new hang under the previous configuration (watch c, pid %d) is reported%s" % (
        t3.pid, " (%.1fs after start)" % (hc[0] - t3.started) if hc else ""))
    late_a = d.alerts("hang", since=h2, watch="a")
    c.check(not late_a, "after the bad reload: watch a's hang is not reported again%s" % (
        ": " + short(late_a[0][2], 200) if late_a else ""))


# ---- 3. target-lost and match= -------------------------------------------------------------------

def case_lost(c):
    state = c.state_dir()
    tag = "pyspy-lost-%d" % os.getpid()
    p1 = c.target("sleeper", name="pid")
    cfg = c.config({"state_dir": state}, [("bypid", {"pid": p1.pid}), ("bymatch", {"match": re.escape(tag)})])
    d = c.daemon(cfg)
    time.sleep(1.0)
    m = c.target("socket", tag=tag, name="match")         # after the daemon; hangs at once
    k0 = time.time()
    lc.kill(p1)
    lost = d.wait_alert(3.5, "target-lost", since=k0, pid=p1.pid)
    c.check(lost, "pid =: target-lost for pid %d within 3s of its death%s" % (
        p1.pid, " (%.2fs)" % (lost[0] - k0) if lost else ""))
    if lost:
        c.check(lost[1].get("watch") == "bypid", "target-lost names watch bypid (%r)" % lost[1].get("watch"))

    limit = RESOLVE + STUCK_AFTER + SLACK + 1.0
    hang = d.wait_alert(limit + 1, "hang", watch="bymatch", pid=m.pid)
    c.check(hang and hang[0] - m.ready <= limit,
            "match =: a process started after the daemon is picked up: its hang reported within %.0fs (%s)" % (
                limit, "%.2fs" % (hang[0] - m.ready) if hang else "none"))
    time.sleep(max(0.0, k0 + 4.0 - time.time()))
    n = len(d.alerts("target-lost", pid=p1.pid))
    c.check(n == 1, "pid =: exactly one target-lost for pid %d (%d)" % (p1.pid, n))

    k1 = time.time()
    lc.kill(m)
    lost_m = d.wait_alert(3.5, "target-lost", since=k1, pid=m.pid)
    c.check(lost_m and lost_m[1].get("watch") == "bymatch",
            "match =: the dead process is dropped with target-lost (watch bymatch, pid %d)%s" % (
                m.pid, " (%.2fs)" % (lost_m[0] - k1) if lost_m else ""))
    time.sleep(max(0.0, k1 + 4.0 - time.time()))
    n = len(d.alerts("target-lost", pid=m.pid))
    c.check(n == 1, "match =: exactly one target-lost for pid %d (%d)" % (m.pid, n))
    others = [l for _, a, l in d.alerts("target-lost") if a.get("pid") not in (str(p1.pid), str(m.pid))]
    c.check(not others, "no target-lost for another process%s" % (": " + short(others[0]) if others else ""))
    no_errors(c, d)


# ---- 4. one error per target, not one per sample -------------------------------------------------

def case_error_once(c):
    state = c.state_dir()
    arg = "1000.%06d" % (os.getpid() % 1000000)
    p = lc.spawn(["sleep", arg])
    c.procs.append(p)
    cfg = c.config({"state_dir": state}, [("notpy", {"match": "^sleep %s$" % re.escape(arg)})])
    d = c.daemon(cfg)
    time.sleep(8.0)
    errs = d.alerts("error")
    mine = [(t, a, l) for t, a, l in errs if a.get("pid") == str(p.pid)]
    c.check(len(mine) == 1, "exactly one error event for the non-Python process %d in 8s (%d)" % (p.pid, len(mine)))
    if mine:
        msg = mine[0][1].get("message", "")
        c.check("not a Python process" in msg, "the error says 'not a Python process' (%r)" % short(msg, 200))
        c.check(mine[0][1].get("watch") == "notpy", "the error names watch notpy (%r)" % mine[0][1].get("watch"))
    c.check(len(errs) == len(mine), "no other error event (%d in all)" % len(errs))
    c.check(not d.alerts("hang") and not d.alerts("target-lost"), "no hang or target-lost for it")


# ---- 5. actions ----------------------------------------------------------------------------------

def case_actions(c):
    state = c.state_dir()
    hook_dir = c.path("hook")
    os.makedirs(hook_dir)
    hook_out = os.path.join(hook_dir, "hook.out")
    hook = os.path.join(hook_dir, "hook.sh")
    with open(hook, "w") as f:
        f.write("#!/bin/sh\n"
                # Read with the shell's own builtins: an external reader would catch the
                # shell itself in the middle of a fork, with every signal blocked for an instant.
                "while read k v; do [ \"$k\" = SigBlk: ] && echo \"$v\" > %s.sigblk; done < /proc/$$/status\n"
                "printf '%%s\\n' \"$@\" > %s.tmp && mv %s.tmp %s\n" % (hook_out, hook_out, hook_out, hook_out))
    os.chmod(hook, 0o755)
    k = c.target("socket", name="kill")
    e = c.target("socket", name="exec")
    cfg = c.config({"state_dir": state}, [
        ("killer", {"pid": k.pid, "action": "kill"}),
        ("hooked", {"pid": e.pid, "action": "exec", "exec": "%s {name} {pid} {tid} {bundle} {incident}" % hook}),
    ])
    d = c.daemon(cfg)

    hk = d.wait_alert(HANG_WAIT + 1, "hang", watch="killer", pid=k.pid)
    if c.check(hk, "action = kill: hang line for pid %d" % k.pid):
        try:
            rc = k.wait(timeout=2)
        except subprocess.TimeoutExpired:
            rc = None
        c.check(rc == -signal.SIGKILL, "action = kill: the target died of SIGKILL within 2s of the hang line (%s)" % (
            "still running" if rc is None else "exit %s" % rc))
        bundle = hk[1].get("bundle", "")
        c.check(bundle and os.path.isfile(os.path.join(bundle, "summary.txt")),
                "action = kill: the bundle %s exists, with summary.txt" % bundle)

    he = d.wait_alert(HANG_WAIT + 1, "hang", watch="hooked", pid=e.pid)
    if c.check(he, "action = exec: hang line for pid %d" % e.pid):
        got = wait_until(lambda: os.path.exists(hook_out), 5)
        if c.check(got, "action = exec: the hook ran (%s written within 5s)" % hook_out):
            with open(hook_out) as f:
                args = f.read().split("\n")[:-1]
            a = he[1]
            want = ["hooked", str(e.pid), a.get("tid"), a.get("bundle"), a.get("incident")]
            c.check(args == want, "action = exec: placeholders {name} {pid} {tid} {bundle} {incident} filled: %s (want %s)" % (
                args, want))
            try:
                with open(hook_out + ".sigblk") as f:
                    sigblk = f.read().strip()
            except OSError:
                sigblk = None
            c.check(bool(sigblk and re.match(r"^0+$", sigblk)),
                    "action = exec: the hook starts with no signal blocked (SigBlk %s)" % sigblk)
            c.check(len(args) == 5 and os.path.isdir(args[3]) and
                    os.path.realpath(args[3]) == os.path.realpath(os.path.join(state, "incidents", args[4])),
                    "action = exec: {bundle} is an existing directory, state_dir/incidents/{incident}")
        c.check(e.poll() is None, "action = exec: the target is left running")
    no_errors(c, d)


# ---- 6. retention ----------------------------------------------------------------------------------

def case_retention(c):
    state = c.state_dir()
    x = c.target("socket", name="first")
    y = c.target("socket", name="second", env={"HANG_AFTER": "3"})   # hangs 3 s after the first
    cfg = c.config({"state_dir": state, "max_incidents": 1}, [("first", {"pid": x.pid}), ("second", {"pid": y.pid})])
    d = c.daemon(cfg)
    h1 = d.wait_alert(HANG_WAIT + 1, "hang", watch="first")
    c.check(h1, "hang of the first target")
    h2 = d.wait_alert(HANG_WAIT + 4, "hang", watch="second")
    c.check(h2, "hang of the second target")
    if h1 and h2:
        time.sleep(0.3)
        left = bundles(state)
        c.check(h1[1].get("incident") != h2[1].get("incident"), "two incidents (%s, %s)" % (
            h1[1].get("incident"), h2[1].get("incident")))
        c.check(left == [h2[1].get("incident")],
                "max_incidents = 1: only the newest bundle (%s) remains (incidents/: %s)" % (
                    h2[1].get("incident"), left))
    no_errors(c, d)


# ---- 7. threads = main ----------------------------------------------------------------------------

def case_threads(c):
    state = c.state_dir()
    mark = c.path("mark")
    p = c.target("worker-deadlock", env={"HANG_MARK": mark})
    cfg = c.config({"state_dir": state}, [("mainonly", {"pid": p.pid, "threads": "main"}),
                                          ("allthreads", {"pid": p.pid, "threads": "all"})])
    d = c.daemon(cfg)
    h = d.wait_alert(HANG_WAIT + 2, "hang", watch="allthreads")
    c.check(h and h[1].get("thread") == "stuck-worker" and "worker_stuck (" in h[1].get("stack", ""),
            "threads = all: the deadlocked worker is reported (%s)" % (
                "thread=%r stack=%r" % (h[1].get("thread"), short(h[1].get("stack"), 120)) if h else "no hang line"))
    time.sleep(max(0.0, d.started + HANG_WAIT + 3 - time.time()))
    m = d.alerts("hang", watch="mainonly")
    c.check(not m, "threads = main: no hang while the main thread sleeps 1s at a time (%d s watched)%s" % (
        time.time() - d.started, (": " + short(m[0][2], 200)) if m else ""))
    no_errors(c, d)


# ---- 8. cooldown ----------------------------------------------------------------------------------

def read_marks(path):
    marks = {}
    try:
        with open(path) as f:
            for line in f:
                k, v = line.split()
                marks[k] = float(v)
    except (OSError, ValueError):
        pass
    return marks


def case_cooldown(c):
    runs = []
    for name, cooldown in (("cool", "30m"), ("nocool", "0")):
        mark = c.path("mark-" + name)
        p = c.target("relapse", name=name, env={"HANG_MARK": mark, "RELAPSE_AFTER": "6"})
        cfg = c.config({"state_dir": c.state_dir("state-" + name)},
                       [(name, {"pid": p.pid, "cooldown": cooldown})], name="watch-%s.ini" % name)
        runs.append((name, p, mark, c.daemon(cfg, name="daemon-" + name)))
    # block1 at ~0; hang at ~3-4 s; release at 6 s; block2 at ~6.5 s; a second hang would be
    # at ~9.5-10.5 s: watch until block2 + stuck_after + slack.
    deadline = time.time() + 40
    for name, p, mark, d in runs:
        b2 = wait_until(lambda: read_marks(mark).get("block2"), max(0.1, deadline - time.time()))
        if not c.check(b2, "%s: the target blocked a second time (marks: %s)" % (name, read_marks(mark))):
            return
    end = max(read_marks(m).get("block2", 0) for _, _, m, _ in runs) + HANG_WAIT + 1
    time.sleep(max(0.0, end - time.time()))
    for name, p, mark, d in runs:
        marks = read_marks(mark)
        hangs = d.alerts("hang", pid=p.pid)
        rec = d.alerts("recovered", pid=p.pid)
        first = [h for h in hangs if h[0] < marks.get("release", 1e18)]
        c.check(first and "stuck_here (" in first[0][1].get("stack", ""),
                "%s: the first block is reported (stuck_here) before the release" % name)
        after_release = [r for r in rec if r[0] >= marks.get("release", 0)]
        c.check(len(rec) == 1 and after_release and after_release[0][0] <= marks["release"] + 2,
                "%s: one `recovered` line within 2s of the release (%s)" % (
                    name, ", ".join("%.2fs" % (t - marks["release"]) for t, _, _ in rec) or "none"))
        if first and after_release:
            c.check(after_release[0][1].get("incident") == first[0][1].get("incident"),
                    "%s: `recovered` names the incident of the hang (%r)" % (name, after_release[0][1].get("incident")))
        if name == "cool":
            c.check(len(hangs) == 1, "cooldown = 30m: one hang line for the same stack stuck twice (%d)" % len(hangs))
            c.check(len(bundles(d_state(c, name))) == 1, "cooldown = 30m: one incident bundle (%s)" % bundles(d_state(c, name)))
        else:
            c.check(len(hangs) == 2 and hangs[1][0] > marks["block2"] and
                    hangs[0][1].get("stack") == hangs[1][1].get("stack"),
                    "control, cooldown = 0: two hang lines for the same stack (%d)" % len(hangs))
        no_errors(c, d, " (%s)" % name)


def d_state(c, name):
    return c.path("state-" + name)


# ---- 9. the journal ---------------------------------------------------------------------------------

def journal_inside(outdir, python):
    """Runs under with-journald: a socket hang watched by a daemon that sends to the real
    journal socket; writes the hang entries (journalctl -o json) to outdir/journal.json."""
    c = lc.Case("journal-inside", None, python, OUT)
    c.dir = outdir
    res = {"entries": [], "daemon_stderr": "", "problem": None}
    try:
        state = c.state_dir()
        p = c.target("socket")
        cfg = c.config({"state_dir": state}, [("jwatch", {"pid": p.pid})])
        env = dict(os.environ)
        env.pop("PYSPY_WATCH_JOURNAL_SOCKET", None)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        d = lc.spawn([lc.BIN, "watch", "-c", cfg], stdout=subprocess.DEVNULL,
                     stderr=open(os.path.join(outdir, "daemon.stderr"), "wb"), env=env)
        c.procs.append(d)
        res["pid"] = p.pid
        deadline = time.time() + HANG_WAIT + 6
        while time.time() < deadline:
            time.sleep(0.5)
            subprocess.run(["journalctl", "--sync"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
            r = subprocess.run(["journalctl", "-D", os.environ["JOURNAL_DIR"], "-a", "-o", "json",
                                "MESSAGE_ID=" + HANG_MSGID], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=10)
            entries = [json.loads(l) for l in r.stdout.decode("utf-8", "replace").splitlines() if l.strip()]
            if entries:
                time.sleep(1.0)   # a duplicate would show up now
                subprocess.run(["journalctl", "--sync"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               timeout=10)
                r = subprocess.run(["journalctl", "-D", os.environ["JOURNAL_DIR"], "-a", "-o", "json",
                                    "MESSAGE_ID=" + HANG_MSGID], stdout=subprocess.PIPE, timeout=10)
                entries = [json.loads(l) for l in r.stdout.decode("utf-8", "replace").splitlines() if l.strip()]
                res["entries"] = entries
                break
        d.send_signal(signal.SIGTERM)
        try:
            res["daemon_rc"] = d.wait(timeout=TERM_LIMIT + 3)
        except subprocess.TimeoutExpired:
            res["daemon_rc"] = "still running"
    except Exception:
        res["problem"] = traceback.format_exc()[-900:]
    finally:
        for p in c.procs:
            lc.kill(p)
        for f in c.files:
            f.close()
    with open(os.path.join(outdir, "journal.json"), "w") as f:
        json.dump(res, f, indent=1)
    return 0


def field_text(v):
    """A journalctl JSON field: a string, an array of bytes (non-printable), or a list of those."""
    if isinstance(v, list) and v and all(isinstance(x, int) for x in v):
        return bytes(v).decode("utf-8", "replace")
    if isinstance(v, list):
        return [field_text(x) for x in v]
    return v


def case_journal(c):
    if not os.access(WITH_JOURNALD, os.X_OK):
        c.skip("with-journald not found at %s (set WITH_JOURNALD)" % WITH_JOURNALD)
        return
    r = subprocess.run([WITH_JOURNALD, "--check"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    if r.returncode != 0:
        c.skip("no private journald here: %s" % short(r.stdout.decode("utf-8", "replace").strip(), 200))
        return
    env = dict(os.environ)
    env["PYSPY_TEST_OUT"] = OUT
    argv = [WITH_JOURNALD, "--keep", c.path("journal"), "--",
            sys.executable, os.path.abspath(__file__), "--journal-inside", c.dir, "--python", c.python]
    log = open(c.path("with-journald.log"), "wb")
    c.files.append(log)
    p = lc.spawn(argv, stdout=log, stderr=log, env=env)
    c.procs.append(p)
    try:
        rc = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        rc = "timeout"
    if rc == 2 and not os.path.exists(c.path("journal.json")):
        c.skip("with-journald could not run (exit 2): see %s" % log.name)
        return
    try:
        with open(c.path("journal.json")) as f:
            res = json.load(f)
    except (OSError, ValueError) as e:
        c.check(False, "the run under with-journald left its result (exit %s): %s; see %s" % (rc, e, log.name))
        return
    c.check(rc == 0 and not res.get("problem"), "the run under with-journald completed (exit %s)%s" % (
        rc, ": " + short(res["problem"], 600) if res.get("problem") else ""))
    entries = res.get("entries") or []
    c.check(len(entries) == 1, "exactly one journal entry with MESSAGE_ID=%s (%d)" % (HANG_MSGID, len(entries)))
    c.check(res.get("daemon_rc") == 0, "daemon exits 0 on SIGTERM under with-journald (%s)" % res.get("daemon_rc"))
    try:
        with open(c.path("daemon.stderr"), "rb") as f:
            derr = f.read().decode("utf-8", "replace")
    except OSError:
        derr = ""
    c.check(not re.search(r"^pyspy-watch: hang:", derr, re.M),
            "with a journal, the hang is not also written to stderr")
    if not entries:
        return
    e = {k: field_text(v) for k, v in entries[0].items()}
    pid = str(res.get("pid"))

    def chk(key, ok, what=None):
        c.check(ok, "journal: %s (%s=%r)" % (what or key, key, short(e.get(key), 200)))

    chk("PRIORITY", e.get("PRIORITY") == "2", "PRIORITY=2")
    chk("SYSLOG_IDENTIFIER", e.get("SYSLOG_IDENTIFIER") == "pyspy-watch", "SYSLOG_IDENTIFIER=pyspy-watch")
    chk("PYSPY_EVENT", e.get("PYSPY_EVENT") == "hang", "PYSPY_EVENT=hang")
    chk("PYSPY_WATCH", e.get("PYSPY_WATCH") == "jwatch", "PYSPY_WATCH=jwatch")
    chk("PYSPY_PID", e.get("PYSPY_PID") == pid, "PYSPY_PID is the target's pid %s" % pid)
    chk("PYSPY_TID", e.get("PYSPY_TID") == pid, "PYSPY_TID is the main thread's (= pid %s)" % pid)
    chk("PYSPY_THREAD", e.get("PYSPY_THREAD") == "MainThread", "PYSPY_THREAD=MainThread")
    st = e.get("PYSPY_STUCK_SECONDS")
    chk("PYSPY_STUCK_SECONDS", isinstance(st, str) and st.isdigit() and int(st) >= STUCK_AFTER,
        "PYSPY_STUCK_SECONDS >= %d" % STUCK_AFTER)
    stack = e.get("PYSPY_STACK") if isinstance(e.get("PYSPY_STACK"), str) else ""
    lines = stack.split("\n")
    chk("PYSPY_STACK", len(lines) >= 3 and lines[0].startswith("recv_reply (") and
        all(re.match(r"^\S.* \(.+:\d+\)$", l) for l in lines),
        "PYSPY_STACK: one 'function (file:line)' per line, recv_reply first")
    chk("PYSPY_STACK", any(l.startswith("mode_socket (") for l in lines), "PYSPY_STACK holds the callers (mode_socket)")
    inc, bundle = e.get("PYSPY_INCIDENT") or "", e.get("PYSPY_BUNDLE") or ""
    chk("PYSPY_INCIDENT", re.match(r"^\d{8}T\d{6}Z-jwatch-%s$" % pid, inc), "PYSPY_INCIDENT is <time>-jwatch-<pid>")
    chk("PYSPY_BUNDLE", bundle and os.path.isdir(bundle) and
        os.path.realpath(bundle) == os.path.realpath(os.path.join(c.path("state"), "incidents", inc)),
        "PYSPY_BUNDLE is the existing directory state_dir/incidents/<PYSPY_INCIDENT>")
    chk("MESSAGE", isinstance(e.get("MESSAGE"), str) and pid in e.get("MESSAGE", ""), "MESSAGE names the pid")


# ---- scheduling ------------------------------------------------------------------------------------

CASES = [
    ("reload", case_reload),
    ("cooldown", case_cooldown),
    ("lost", case_lost),
    ("journal", case_journal),
    ("notify", case_notify),
    ("actions", case_actions),
    ("threads", case_threads),
    ("retention", case_retention),
    ("error-once", case_error_once),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--python")
    ap.add_argument("--only", action="append", choices=[n for n, _ in CASES])
    ap.add_argument("-j", type=int, default=2)
    ap.add_argument("--journal-inside", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.journal_inside:
        return journal_inside(args.journal_inside, args.python or lc.default_python())

    python = args.python or lc.default_python()
    problem = lc.watch_problem(python)
    if problem:
        print("skip: " + problem)
        return 77
    os.makedirs(OUT, exist_ok=True)
    cases = [lc.Case(n, fn, python, OUT) for n, fn in CASES if not args.only or n in args.only]

    t0 = time.monotonic()
    try:
        lc.run_cases(cases, max(1, args.j))
    finally:
        lc.kill_all()
    nchecks, nfail, nskip = lc.case_summary(cases)
    print("%d cases, %d checks, %d failed, %d skipped, %.0fs (python %s; outputs under %s)" % (
        len(cases), nchecks, nfail, nskip, time.monotonic() - t0, python, OUT))
    return 1 if nfail else 0


if __name__ == "__main__":
    sys.exit(main())
