# SPDX-License-Identifier: MIT
"""A healthy Python process for bench/daemon-bench.py: something the daemon watches, never hangs.

    python daemon_bench_target.py KIND DEPTH THREADS READYFILE --marker MARKER

KIND is
  server  the main thread blocked in socket.accept() (an idle server: the default ignore pattern
          names accept (socket.py)), one housekeeping thread that does a little work every 0.5 s,
          and the rest blocked in Event.wait() / Queue.get() (threading.py's wait: ignored too);
  worker  the main thread and all but one other thread doing a small bit of work (~0.2-1 ms)
          then sleeping 20-200 ms, and one idle pool thread in Queue.get().
Every thread's stack is DEPTH (10-30) Python frames deep where it blocks or works. THREADS
counts the main thread. The process writes READYFILE once every thread is in place. MARKER is
only there for the daemon's match= to find. Runs on 2.7 and 3.6-3.13.
"""

import os
import random
import socket
import sys
import threading
import time

try:
    import queue
except ImportError:  # 2.7
    import Queue as queue


def descend(depth, fn, *args):
    """fn(*args) called DEPTH frames down, through a few different functions (so stacks look
    like an application's, not one function repeated)."""
    if depth <= 1:
        return fn(*args)
    k = depth % 3
    if k == 0:
        return _layer_a(depth - 1, fn, args)
    if k == 1:
        return _layer_b(depth - 1, fn, args)
    return _layer_c(depth - 1, fn, args)


def _layer_a(depth, fn, args):
    return descend(depth, fn, *args)


def _layer_b(depth, fn, args):
    x = depth * 2
    return descend(depth, fn, *args) if x else None


def _layer_c(depth, fn, args):
    return descend(depth, fn, *args)


def small_work(rng):
    """A few hundred microseconds of interpreter work, on varying lines."""
    n = rng.randint(200, 1500)
    total = 0
    for i in range(n):
        total += i * i % 7
    s = ",".join(str(i) for i in range(n // 10))
    d = dict((str(i), i) for i in range(n // 20))
    return total + len(s) + len(d)


def work_loop(rng, lo, hi):
    while True:
        small_work(rng)
        time.sleep(rng.uniform(lo, hi))


def serve(sock):
    while True:
        conn, _ = sock.accept()
        conn.close()


def main():
    args = sys.argv[1:]
    if "--marker" in args:
        i = args.index("--marker")
        del args[i:i + 2]
    kind, frames, nthreads, ready = args[0], int(args[1]), int(args[2]), args[3]
    depth = max(1, (frames - 5) // 2)   # descend() takes 2 frames a level; threading's own ~4
    rng = random.Random(os.getpid())
    started = []

    def spawn(fn, *fargs):
        ev = threading.Event()

        def run():
            ev.set()
            descend(depth, fn, *fargs)
        t = threading.Thread(target=run)
        t.daemon = True
        t.start()
        started.append(ev)

    idle_event = threading.Event()
    idle_queue = queue.Queue()
    if kind == "server":
        spawn(work_loop, random.Random(rng.random()), 0.4, 0.6)
        for i in range(nthreads - 2):
            if i % 2 == 0:
                spawn(idle_event.wait)
            else:
                spawn(idle_queue.get)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(5)
        main_fn, main_args = serve, (sock,)
    else:
        for _ in range(nthreads - 2):
            spawn(work_loop, random.Random(rng.random()), 0.02, 0.2)
        spawn(idle_queue.get)
        main_fn, main_args = work_loop, (rng, 0.02, 0.2)
    for ev in started:
        ev.wait()
    time.sleep(0.1)
    with open(ready + ".tmp", "w") as f:
        f.write("%d\n" % os.getpid())
    os.rename(ready + ".tmp", ready)
    descend(depth, main_fn, *main_args)


if __name__ == "__main__":
    main()
