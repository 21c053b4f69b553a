# SPDX-License-Identifier: MIT
"""Targets for the daemon's fault test (tests/live/test_faults.py).

    python fault_targets.py MODE [ARGS...] [--tag TAG]

  heavy            $HEAVY_THREADS (default 64) threads ("heavy-N") and the main thread, each
                   blocked for ever on a lock in heavy_wait(), each frame holding big locals (a
                   list of long strings, a dict, bytes, a big int): a capture of it (a paused
                   dump with locals, of every thread) takes a while, long enough to be raced.
  zombie DELAY     forks a Python child (same command line) that lives DELAY seconds, waking
                   every 50 ms, and exits; the parent never reaps it, so from then on it is a
                   zombie. Prints "ready CHILD_PID" at once,
                   then sleeps 1 s at a time, for ever (healthy).
  swarm N          forks N children (the command line is the parent's: one --tag matches all)
                   that each sleep 1 s at a time (healthy, never stuck); child number 0 instead
                   deadlocks in swarm_stuck() once $SWARM_HANG_AFTER seconds (default 0) have
                   passed. Prints "ready PID PID ..." (the children) once all are forked, then
                   waits for them; SIGTERM to the parent kills them all (they are in its process
                   group anyway).

TAG is ignored: it only makes the command line unique, for a match = regex. Python 3.
"""

import os
import signal
import sys
import threading
import time


def ready(extra=""):
    sys.stdout.write("ready%s\n" % extra)
    sys.stdout.flush()


# ---- heavy ------------------------------------------------------------------------------------

def heavy_wait(lock, n):
    names = ["item-%d-%s" % (i, "x" * 300) for i in range(16)]
    table = dict(("key-%d" % i, "value-%d-%s" % (i, "y" * 200)) for i in range(16))
    blob = bytes(bytearray(range(256))) * 8
    big = 7 ** (400 + n)
    nested = [[list(range(16)) for _ in range(4)] for _ in range(4)]
    lock.acquire()   # held by the main thread for ever
    return names, table, blob, big, nested


def mode_heavy():
    n = int(os.environ.get("HEAVY_THREADS") or 64)
    lock = threading.Lock()
    lock.acquire()
    for i in range(n):
        t = threading.Thread(target=heavy_wait, name="heavy-%d" % i, args=(lock, i))
        t.daemon = True
        t.start()
    ready()
    main_lock = threading.Lock()
    main_lock.acquire()
    heavy_wait(main_lock, n)


# ---- zombie -----------------------------------------------------------------------------------

def mode_zombie(delay):
    pid = os.fork()
    if pid == 0:
        try:
            deadline = time.time() + float(delay)
            while time.time() < deadline:
                time.sleep(0.05)   # woken often: healthy while it lives
        finally:
            os._exit(0)
    ready(" %d" % pid)
    while True:   # never waits for the child
        time.sleep(1)


# ---- swarm ------------------------------------------------------------------------------------

def swarm_sleep():
    while True:
        time.sleep(1)


def swarm_stuck():
    time.sleep(float(os.environ.get("SWARM_HANG_AFTER") or 0))
    lock = threading.Lock()
    lock.acquire()
    lock.acquire()   # ours already, not reentrant: never


def mode_swarm(n):
    children = []
    for i in range(int(n)):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            try:
                if i == 0:
                    swarm_stuck()
                swarm_sleep()
            finally:
                os._exit(0)
        children.append(pid)

    def on_term(sig, frame):
        for c in children:
            try:
                os.kill(c, signal.SIGKILL)
            except OSError:
                pass
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    ready(" " + " ".join(str(c) for c in children))
    while children:   # healthy itself: wakes every second
        time.sleep(1)
        while children:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                break
            if pid in children:
                children.remove(pid)


def main():
    args = sys.argv[1:]
    if len(args) >= 2 and args[-2] == "--tag":
        args = args[:-2]
    if args == ["heavy"]:
        mode_heavy()
    elif len(args) == 2 and args[0] == "zombie":
        mode_zombie(args[1])
    elif len(args) == 2 and args[0] == "swarm":
        mode_swarm(args[1])
    else:
        sys.stderr.write("usage: fault_targets.py heavy | zombie DELAY | swarm N  [--tag TAG]\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
