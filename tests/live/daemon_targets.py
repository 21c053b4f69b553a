# SPDX-License-Identifier: MIT
"""Targets for the daemon's behaviour test (tests/live/test_daemon.py): the modes of
hang_targets.py, plus two shapes that test needs, and a tag on the command line for match=.

    python daemon_targets.py MODE [--tag TAG]

MODE is any mode of hang_targets.py (socket, deadlock, sleeper, ...: see there), or:
  worker-deadlock  a worker thread ("stuck-worker") deadlocks on a lock it already holds, in
                   worker_stuck(); the main thread keeps sleeping 1 s at a time between bits of
                   work (healthy): hung with threads = all, silent with threads = main
  relapse          the main thread blocks in stuck_here() on a lock (a C call, not ignored), a
                   timer thread (sleeping 50 ms at a time: healthy) releases it after
                   $RELAPSE_AFTER seconds (default 6), the main thread moves for half a second,
                   then blocks again at the very same stack, for ever. Appends "block1 T",
                   "release T" and "block2 T" (wall times) to $HANG_MARK when set.
TAG is ignored: it only makes the command line unique, for a match = regex. Prints "ready"
like hang_targets.py. Python 2.7 and 3.x.
"""

import os
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hang_targets as ht  # noqa: E402


def note(what):
    path = os.environ.get("HANG_MARK")
    if not path:
        return
    with open(path, "a") as f:
        f.write("%s %.6f\n" % (what, time.time()))


# ---- worker-deadlock --------------------------------------------------------------------------

def worker_stuck(lock):
    lock.acquire()
    note("block1")
    lock.acquire()   # already ours, and threading.Lock is not reentrant: never


def mode_worker_deadlock():
    lock = threading.Lock()
    t = threading.Thread(target=worker_stuck, name="stuck-worker", args=(lock,))
    t.daemon = True
    t.start()
    ht.ready()
    while True:
        time.sleep(1)
        ht.small_work()


# ---- relapse ----------------------------------------------------------------------------------

def release_later(lock, after):
    deadline = time.time() + after
    while time.time() < deadline:
        time.sleep(0.05)   # wakes 20 times a second: never stuck itself
    note("release")
    lock.release()


def stuck_here(lock):
    lock.acquire()   # the first time until the timer releases it; the second time for ever


def move_a_little():
    for _ in range(10):
        time.sleep(0.05)
        ht.small_work()


def mode_relapse():
    after = float(os.environ.get("RELAPSE_AFTER") or 6)
    lock = threading.Lock()
    lock.acquire()
    ht.ready()
    t = threading.Thread(target=release_later, name="releaser", args=(lock, after))
    t.daemon = True
    t.start()
    for i in range(2):
        note("block%d" % (i + 1))
        stuck_here(lock)   # one call site: the same stack both times
        move_a_little()


MODES = {"worker-deadlock": mode_worker_deadlock, "relapse": mode_relapse}


def main():
    args = sys.argv[1:]
    if len(args) == 3 and args[1] == "--tag":
        args = args[:1]
    modes = dict(ht.MODES)
    modes.update(MODES)
    if len(args) != 1 or args[0] not in modes:
        sys.stderr.write("usage: daemon_targets.py MODE [--tag TAG]   (MODE: %s)\n" % " | ".join(sorted(modes)))
        sys.exit(2)
    modes[args[0]]()


if __name__ == "__main__":
    main()
