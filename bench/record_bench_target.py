# SPDX-License-Identifier: MIT
"""Reference targets of bench/record-bench.py; run on CPython 2.7 and 3.6-3.13.

    python record_bench_target.py deep50 COUNTFILE    # one thread 50 frames deep, busy
    python record_bench_target.py threads8 COUNTFILE  # 8 threads 30 deep: 4 busy, 4 asleep
    python record_bench_target.py deep500 COUNTFILE   # one thread 500 frames deep, busy

Every busy thread counts its loop iterations; a reporter thread writes "TIME CPU TOTAL" (time.time(),
the process's user+sys seconds and the sum over the busy threads) to COUNTFILE every 0.1 s, atomically (tmp + rename), so a
benchmark can measure iterations per second with and without a sampler attached.
"""
from __future__ import print_function

import os
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.setrecursionlimit(5000)

REPORT_EVERY = 0.1


def nest(n, fn, *args):
    if n <= 0:
        return fn(*args)
    return nest(n - 1, fn, *args)


def work(counts, k):
    x = 0
    while True:
        for i in range(100):
            x += i
        counts[k] += 1


def nap():
    while True:
        time.sleep(1)


def reporter(path, counts):
    tmp = path + ".tmp"
    while True:
        with open(tmp, "w") as f:
            cpu = os.times()
            f.write("%.6f %.3f %d\n" % (time.time(), cpu[0] + cpu[1], sum(counts)))
        os.rename(tmp, path)
        time.sleep(REPORT_EVERY)


def start(fn, *args):
    t = threading.Thread(target=fn, args=args)
    t.daemon = True
    t.start()
    return t


def main(argv):
    mode, path = argv[1], argv[2]
    # nest(n) is n + 1 frames; the main thread adds <module>, main() and work(), a thread
    # threading's _bootstrap, _bootstrap_inner and run (2.7: __bootstrap, __bootstrap_inner, run).
    if mode == "deep50":
        counts = [0]
        start(reporter, path, counts)
        nest(50 - 4, work, counts, 0)
    elif mode == "deep500":
        counts = [0]
        start(reporter, path, counts)
        nest(500 - 4, work, counts, 0)
    elif mode == "threads8":
        counts = [0] * 4
        for k in range(4):
            start(nest, 30 - 5, work, counts, k)
            start(nest, 30 - 5, nap)
        start(reporter, path, counts)
        nap()
    else:
        print("unknown mode %r" % mode, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
