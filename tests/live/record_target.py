# SPDX-License-Identifier: MIT
"""Targets of tests/live/test_record.py and bench/record-bench.py: run on CPython 2.7 and 3.6-3.13.

    python record_target.py hotwarm SECONDS   # ~2/3 of the CPU in hot(), ~1/3 in warm(), then exit 0
    python record_target.py spin [SECONDS]    # one thread busy in spin(), forever or SECONDS
    python record_target.py threads           # MainThread and "worker" both busy in spin()
    python record_target.py idle              # "sleeper" thread in time.sleep(), "busy" thread in busy()
    python record_target.py sleep             # the main thread asleep in sleeper(), forever
    python record_target.py parent SECONDS    # starts `record_target.py child SECONDS` and waits for it
    python record_target.py child SECONDS     # busy in child_work() for SECONDS

With $PYSPY_READY set, the target writes its pid to that file (atomically) once it is running its
workload (the parent: once the child is started; the pid of the child goes to $PYSPY_READY.child).

Rules for editing: no f-strings, nothing that needs Python 3 syntax; hot() and warm() run the same
loop body, only the iteration counts differ (2:1).
"""
from __future__ import print_function

import os
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True


def ready(path=None, value=None):
    path = path or os.environ.get("PYSPY_READY")
    if not path:
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % (value if value is not None else os.getpid()))
    os.rename(tmp, path)


def body(n):
    x = 0
    for i in range(n):
        x += i * i
    return x


def hot():
    return body(20000)


def warm():
    return body(10000)


def hotwarm(secs):
    end = time.time() + secs
    while time.time() < end:
        hot()
        warm()


def spin(secs=None):
    end = time.time() + secs if secs else None
    x = 0
    while True:
        for i in range(10000):
            x += i
        if end and time.time() >= end:
            return x


def sleeper():
    # Longer than any record of the tests: a thread that wakes up is briefly runnable ('R'),
    # hence not idle, and a record that caught it would be right to keep that sample.
    while True:
        time.sleep(30)


def busy():
    spin()


def child_work(secs):
    spin(secs)


def main(argv):
    mode = argv[1]
    if mode == "hotwarm":
        hotwarm(float(argv[2]))
    elif mode == "spin":
        ready()
        spin(float(argv[2]) if len(argv) > 2 else None)
    elif mode == "threads":
        t = threading.Thread(target=spin, name="worker")
        t.daemon = True
        t.start()
        ready()
        spin()
    elif mode == "idle":
        threads = [threading.Thread(target=sleeper, name="sleeper"),
                   threading.Thread(target=busy, name="busy")]
        for t in threads:
            t.daemon = True
            t.start()
        ready()
        while True:
            time.sleep(1)
    elif mode == "sleep":
        ready()
        sleeper()
    elif mode == "parent":
        p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "child", argv[2]])
        if os.environ.get("PYSPY_READY"):
            ready(os.environ["PYSPY_READY"] + ".child", p.pid)
        ready()
        p.wait()
    elif mode == "child":
        child_work(float(argv[2]))
    else:
        print("unknown mode %r" % mode, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
