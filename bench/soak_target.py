# SPDX-License-Identifier: MIT
"""A target of bench/soak: a Python process that works, and hangs when told to.

    python soak_target.py --marker MARKER --id N --seed S

Healthy, it does real work: the main thread runs small jobs (2-15 ms of parsing, hashing,
sorting, rendering, each a few frames deep in its own functions) with 20-80 ms pauses, a
heartbeat thread does a little work every 0.25 s, one idle thread waits on an Event (an ignored
place), and now and then a short-lived helper thread works for 0.2-1 s and exits (thread churn: glibc gives the next thread the finished one's pthread_t).

The soak driver writes commands on stdin, one per line; a control thread waits for them in
selectors' select() (an ignored place, so it is never a hang) and queues them for the main
thread, which takes them between jobs:

    hang NO KIND SECONDS OUTCOME   hang the main thread for SECONDS, then OUTCOME:
                                   recover (go back to work), exit (os._exit(0)),
                                   kill (SIGKILL to itself)
    quit                           sys.exit(0) from the main thread (interpreter finalization)

KIND is
    deadlock  the main thread holds lock A and waits (acquire with a timeout) for lock B, held by
              a new thread "transfer-NO" that waits for lock A: both threads are stuck until the
              main thread's acquire times out and lets A go; transfer-NO then works 0.5-1 s
              more (so its stack is seen moving) and exits
    socket    recv_reply() reads from a TCP peer that accepted and never sends (socket timeout)
    spin      spin_here(): a pure-Python loop in one function, on the CPU all along (it first
              waits for its helper threads to finish: they would take the GIL from it)
    sleep     nap(): one long time.sleep() (no wake-up: by the README's rule, a hang)

Ground truth goes to stdout as JSON lines, one write(2) each, stamped with time.time():
    {"ev": "ready", "pid": P, "t": T}
    {"ev": "start", "no": NO, "kind": K, "tid": TID, "thread": NAME, "t": T}   just before blocking
    {"ev": "end", "no": NO, "tid": TID, "t": T, "cpu": C, "min_share": M}       just after
    {"ev": "exit", "no": NO, "how": "exit"|"kill"|"quit", "t": T}
"cpu" is the thread's CPU time over the hang (s), "min_share" the least CPU share of a spin over any
0.5 s stretch, sliding (the daemon wants 80% in each of its 0.5 s intervals, whatever their phase). Python 3.6+.
"""

import json
import os
import queue
import random
import selectors
import signal
import socket
import sys
import threading
import time
import zlib

_out_lock = threading.Lock()


def gettid():
    if hasattr(threading, "get_native_id"):
        return threading.get_native_id()
    import ctypes
    return ctypes.CDLL(None, use_errno=True).syscall(186)   # SYS_gettid, x86-64


def emit(**kw):
    kw.setdefault("t", time.time())
    line = (json.dumps(kw, sort_keys=True) + "\n").encode()
    with _out_lock:
        os.write(1, line)


# ---- real work --------------------------------------------------------------------------------

def parse_records(rng, n):
    text = "\n".join("%d,%s,%f" % (i, "k%d" % (i * 7 % 13), i / 3.0) for i in range(n))
    rows = [line.split(",") for line in text.splitlines()]
    return sum(int(r[0]) for r in rows)


def checksum_block(rng, n):
    data = bytes(rng.getrandbits(8) for _ in range(n))
    return zlib.crc32(data) ^ zlib.adler32(data)


def sort_batch(rng, n):
    items = [rng.random() for _ in range(n)]
    items.sort()
    return items[n // 2]


def render_page(rng, n):
    parts = []
    for i in range(n // 10):
        parts.append("<li class='%s'>%d</li>" % ("odd" if i % 2 else "even", i))
    return len("<ul>%s</ul>" % "".join(parts))


def fold_tree(rng, depth):
    if depth <= 0:
        return 1
    return fold_tree(rng, depth - 1) + fold_tree(rng, depth - 2)


JOBS = [
    lambda rng: parse_records(rng, rng.randint(200, 800)),
    lambda rng: checksum_block(rng, rng.randint(2000, 8000)),
    lambda rng: sort_batch(rng, rng.randint(2000, 10000)),
    lambda rng: render_page(rng, rng.randint(500, 3000)),
    lambda rng: fold_tree(rng, rng.randint(10, 15)),
]


def handle_job(rng):
    return dispatch(rng, rng.randrange(len(JOBS)))


def dispatch(rng, k):
    return JOBS[k](rng)


def heartbeat(rng):
    while True:
        time.sleep(0.25)
        checksum_block(rng, 300)


def helper_work(rng, seconds):
    end = time.time() + seconds
    while time.time() < end:
        handle_job(rng)
        time.sleep(rng.uniform(0.01, 0.05))


def control(q):
    """Commands from stdin, waiting in selectors' select() (ignored by the daemon)."""
    sel = selectors.DefaultSelector()
    sel.register(0, selectors.EVENT_READ)
    buf = b""
    while True:
        sel.select()
        chunk = os.read(0, 4096)
        if not chunk:
            q.put("eof")
            return
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            q.put(line.decode())


# ---- hangs ------------------------------------------------------------------------------------

class Meter:
    """A thread's CPU time over a hang (time.thread_time, Python 3.7+)."""

    def __init__(self):
        self.t0 = self.cpu()

    @staticmethod
    def cpu():
        return time.thread_time() if hasattr(time, "thread_time") else 0.0

    def used(self):
        return self.cpu() - self.t0


def start_mark(no, kind):
    emit(ev="start", no=no, kind=kind, tid=gettid(), thread=threading.current_thread().name)


def end_mark(no, meter, **extra):
    emit(ev="end", no=no, tid=gettid(), cpu=round(meter.used(), 3), **extra)


def want_lock_b(no, lock_b, seconds):
    m = Meter()
    start_mark(no, "deadlock")
    lock_b.acquire(timeout=seconds)   # held by transfer-NO, which waits for our lock A
    end_mark(no, m)


def want_lock_a(no, lock_a, seconds):
    m = Meter()
    start_mark(no, "deadlock")
    got = lock_a.acquire(timeout=seconds)   # held by the main thread, which waits for lock B
    end_mark(no, m)
    return got


def transfer(no, lock_a, lock_b, b_held, seconds, rng):
    with lock_b:
        b_held.set()
        got = want_lock_a(no, lock_a, seconds)
    if got:
        lock_a.release()
    helper_work(rng, rng.uniform(0.5, 1.0))


def hang_deadlock(no, seconds, rng):
    lock_a, lock_b = threading.Lock(), threading.Lock()
    b_held = threading.Event()
    lock_a.acquire()
    start_worker("transfer-%d" % no, transfer,
                 (no, lock_a, lock_b, b_held, seconds + 30, random.Random(rng.random())))
    b_held.wait()
    want_lock_b(no, lock_b, seconds)
    lock_a.release()   # transfer-NO gets it now


def recv_reply(no, sock):
    m = Meter()
    start_mark(no, "socket")
    try:
        sock.recv(4096)   # the peer accepted and never answers
    except socket.timeout:
        pass
    end_mark(no, m)


def hang_socket(no, seconds, rng, listener):
    c = socket.create_connection(listener.getsockname())
    peer, _ = listener.accept()   # already in the backlog: the peer side, silent
    try:
        c.sendall(b"GET /status HTTP/1.0\r\n\r\n")
        c.settimeout(seconds)
        recv_reply(no, c)
    finally:
        c.close()
        peer.close()


def spin_here(no, seconds):
    m = Meter()
    start_mark(no, "spin")
    # Only C functions inside the loop: a Python call (even Meter.cpu) would be a frame above
    # spin_here, and a sample catching it would rightly see the stack move.
    clock, cpu = time.monotonic, (time.thread_time if hasattr(time, "thread_time") else time.monotonic)
    x = 0
    now = clock()
    end = now + seconds
    points = [(now, cpu())]   # (wall, thread CPU) every 50 ms
    while True:
        x += 1
        if x % 20000 == 0:
            now = clock()
            if now >= end:
                break
            if now - points[-1][0] >= 0.05:
                points.append((now, cpu()))
    points.append((clock(), cpu()))
    end_mark(no, m, min_share=round(min_window_share(points, 0.5), 3))


def min_window_share(points, window):
    """The least CPU share over any stretch of at least `window` seconds (sliding): the daemon
    judges spinning over intervals of at least 0.5 s, at whatever phase its reads fall."""
    best, j = 1.0, 0
    for i in range(len(points)):
        while j < len(points) and points[j][0] - points[i][0] < window:
            j += 1
        if j == len(points):
            break
        best = min(best, (points[j][1] - points[i][1]) / (points[j][0] - points[i][0]))
    return best


def nap(no, seconds):
    m = Meter()
    start_mark(no, "sleep")
    time.sleep(seconds)
    end_mark(no, m)


_workers = []   # helper and transfer threads: a spin waits for them (they would take the GIL)


def start_worker(name, fn, args):
    t = threading.Thread(target=fn, name=name, args=args)
    t.daemon = True
    t.start()
    _workers[:] = [w for w in _workers if w.is_alive()] + [t]


def hang(no, kind, seconds, outcome, rng, listener):
    if kind == "spin":
        for w in list(_workers):
            w.join()   # _wait_for_tstate_lock (threading.py): an ignored place
    if kind == "deadlock":
        hang_deadlock(no, seconds, rng)
    elif kind == "socket":
        hang_socket(no, seconds, rng, listener)
    elif kind == "spin":
        spin_here(no, seconds)
    else:
        nap(no, seconds)
    if outcome == "exit":
        emit(ev="exit", no=no, how="exit")
        os._exit(0)
    if outcome == "kill":
        emit(ev="exit", no=no, how="kill")
        os.kill(os.getpid(), signal.SIGKILL)


# ---- main -------------------------------------------------------------------------------------

def main():
    args = sys.argv[1:]
    opts = dict(zip(args[0::2], args[1::2]))
    rng = random.Random(int(opts.get("--seed", "0")) * 1000003 + os.getpid())
    q = queue.Queue()

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)

    for name, fn, fargs in (("control", control, (q,)),
                            ("heartbeat", heartbeat, (random.Random(rng.random()),)),
                            ("idle-pool", threading.Event().wait, ())):
        t = threading.Thread(target=fn, name=name, args=fargs)
        t.daemon = True
        t.start()
    emit(ev="ready", pid=os.getpid())

    next_helper = time.time() + rng.uniform(2, 8)
    while True:
        try:
            cmd = q.get_nowait()
        except queue.Empty:
            cmd = None
        if cmd == "eof":
            return 0
        if cmd == "quit":
            emit(ev="exit", no=0, how="quit")
            sys.exit(0)
        if cmd and cmd.startswith("hang "):
            _, no, kind, seconds, outcome = cmd.split()
            hang(int(no), kind, float(seconds), outcome, rng, listener)
        if time.time() >= next_helper:
            start_worker("helper", helper_work, (random.Random(rng.random()), rng.uniform(0.2, 1.0)))
            next_helper = time.time() + rng.uniform(3, 10)
        handle_job(rng)
        time.sleep(rng.uniform(0.02, 0.08))


if __name__ == "__main__":
    sys.exit(main())
