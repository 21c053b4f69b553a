#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Wall time of `pyspy-watch dump` on a target with 50 threads, paused and --nonblocking.

Starts a target whose 50 threads sleep 20 frames deep, then runs the dump RUNS times per mode
after one warm-up and prints min / median / max in milliseconds, plus the sampler's own CPU
(user+sys of the child, from rusage). Usage: bench/dump-latency.py [--python PATH] [--runs N]
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

TARGET = r'''
import sys, threading, time
def nest(n, ev):
    if n == 0:
        ev.wait()
    else:
        nest(n - 1, ev)
ev = threading.Event()
for i in range(49):
    threading.Thread(target=nest, args=(20, ev), name="worker-%d" % i).start()
sys.stdout.write("ready\n"); sys.stdout.flush()
nest(20, ev)
'''


def run(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit("dump failed: %s" % p.stderr.decode(errors="replace").strip())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall * 1000, cpu * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", default=os.path.expanduser("~/.pyenv/versions/3.11.7/bin/python"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--binary", default=os.environ.get("PYSPY_WATCH", "./pyspy-watch"))
    a = ap.parse_args()
    t = subprocess.Popen([a.python, "-c", TARGET], stdout=subprocess.PIPE)
    try:
        t.stdout.readline()
        time.sleep(0.5)
        n_tasks = len(os.listdir("/proc/%d/task" % t.pid))
        print("target: %s, pid %d, %d threads" % (a.python, t.pid, n_tasks))
        for mode, extra in (("paused", []), ("paused --locals", ["--locals"]), ("--nonblocking", ["--nonblocking"])):
            cmd = [a.binary, "dump", "--pid", str(t.pid), "--json"] + extra
            run(cmd)  # warm-up
            walls, cpus = zip(*[run(cmd) for _ in range(a.runs)])
            print("dump %-16s wall ms: min %.2f median %.2f max %.2f   cpu ms median %.2f" % (
                mode, min(walls), statistics.median(walls), max(walls), statistics.median(cpus)))
    finally:
        t.kill()
        t.wait()


if __name__ == "__main__":
    main()
