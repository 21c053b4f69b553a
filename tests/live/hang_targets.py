# SPDX-License-Identifier: MIT
"""Targets for the watch daemon's live test (tests/live/test_watch.py): one small program per
mode, each a real shape of a hung or of a healthy Python process.

    python hang_targets.py MODE

Hang modes (the daemon must raise a `hang`):
  deadlock   the main thread and "transfer-2" take two locks in opposite orders
  socket     recv_reply() waits for a reply from a peer that accepted and never sends; holds a
             local api_token = "s3cr3t" in that frame (for the bundle's redaction).
             The peer is $HANG_PEER (host:port), else a listener of our own that never accepts.
  spin       spin_forever(): a pure-Python `while True: x += 1`
  regex      validate_input() runs re.match(r'(a+)+$', 'a' * 40 + 'b'): catastrophic
             backtracking inside the C regex engine, GIL held
  asyncio    an event loop blocked by blocking_handler(), a coroutine calling time.sleep(3600)
             (Python 3.6+)

Silent modes (the daemon must say nothing):
  accept     an idle server in socket.accept()
  queue      a worker taking quick jobs off a queue.Queue that a producer feeds every 10-50 ms
  compute    a long computation that keeps moving through many functions
  sleeper    `while True: time.sleep(1); small_work()`

Every mode prints "ready" (and flushes) once set up. A hang mode then waits $HANG_AFTER seconds
(default 0; the test gives the daemon time to attach and see the healthy process first), writes
time.time() to the file $HANG_MARK (when set) just before it blocks, and blocks. Runs on Python
2.7 and 3.x (asyncio: 3.6+); the modules used are the standard library only.
"""

import os
import re
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def ready(extra=""):
    sys.stdout.write("ready%s\n" % extra)
    sys.stdout.flush()


def pre_hang_wait():
    """Healthy until $HANG_AFTER seconds have passed: short sleeps, woken often."""
    deadline = time.time() + float(os.environ.get("HANG_AFTER") or 0)
    while time.time() < deadline:
        time.sleep(0.05)


def mark():
    """Writes the wall time at which we are about to block, for the detection latency."""
    path = os.environ.get("HANG_MARK")
    if not path:
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%.6f\n" % time.time())
    os.rename(tmp, path)


# ---- hang modes ------------------------------------------------------------------------------

def transfer_b_to_a(lock_a, lock_b, a_held, b_held):
    with lock_b:
        b_held.set()
        a_held.wait()
        lock_a.acquire()   # held by the main thread, which waits for lock_b: never


def transfer_a_to_b(lock_a, lock_b, a_held, b_held):
    with lock_a:
        a_held.set()
        b_held.wait()
        mark()
        lock_b.acquire()   # held by transfer-2, which waits for lock_a: never


def mode_deadlock():
    lock_a, lock_b = threading.Lock(), threading.Lock()
    a_held, b_held = threading.Event(), threading.Event()
    ready()
    pre_hang_wait()
    t = threading.Thread(target=transfer_b_to_a, name="transfer-2", args=(lock_a, lock_b, a_held, b_held))
    t.daemon = True
    t.start()
    transfer_a_to_b(lock_a, lock_b, a_held, b_held)


def recv_reply(sock):
    api_token = "s3cr3t"   # must show as <redacted> in the incident's dump, nowhere in clear
    mark()
    data = sock.recv(4096)  # the peer accepted and never answers
    return api_token, data


def mode_socket():
    peer = os.environ.get("HANG_PEER")
    listener = None
    if peer:
        host, port = peer.rsplit(":", 1)
        addr = (host, int(port))
    else:
        # A listener that never accepts: the kernel completes the handshake from its backlog.
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        addr = listener.getsockname()
    sock = socket.create_connection(addr)
    sock.sendall(b"GET /status HTTP/1.0\r\n\r\n")
    local = sock.getsockname()
    ready(" peer=%s:%d local=%s:%d" % (addr[0], addr[1], local[0], local[1]))
    pre_hang_wait()
    recv_reply(sock)


def spin_forever():
    x = 0
    mark()
    while True:
        x += 1


def mode_spin():
    ready()
    pre_hang_wait()
    spin_forever()


def validate_input(text):
    mark()
    return re.match(r"(a+)+$", text)   # exponential backtracking, all in C, GIL held


def mode_regex():
    ready()
    pre_hang_wait()
    validate_input("a" * 40 + "b")


# `async def` does not even parse before 3.5: the asyncio mode is compiled from this text only
# when it runs, padded so that its line numbers are this file's.
ASYNC_SRC = '''
import asyncio


async def ticker(ticks):
    while True:
        ticks.append(time.time())
        await asyncio.sleep(0.05)


async def blocking_handler():
    mark()
    time.sleep(3600)   # synchronous: blocks the whole event loop


async def serve():
    ticks = []
    task = asyncio.ensure_future(ticker(ticks))
    ready()
    deadline = time.time() + float(os.environ.get("HANG_AFTER") or 0)
    while time.time() < deadline:
        await asyncio.sleep(0.05)
    await blocking_handler()
    task.cancel()


def run_loop():
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(serve())
'''


def mode_asyncio():
    if sys.version_info < (3, 6):
        sys.stderr.write("asyncio mode needs Python 3.6+\n")
        sys.exit(77)
    with open(os.path.abspath(__file__)) as f:
        text = f.read()
    first = text[:text.index("ASYNC_SRC = '''")].count("\n")
    ns = dict(globals())
    exec(compile("\n" * first + ASYNC_SRC, os.path.abspath(__file__), "exec"), ns)
    ns["run_loop"]()


# ---- silent modes ----------------------------------------------------------------------------

def mode_accept():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    ready(" port=%d" % srv.getsockname()[1])
    while True:
        conn, _ = srv.accept()   # nobody ever connects
        conn.close()


def handle_job(job):
    # a little work: a few hundred microseconds
    return sum(i * i for i in range(job % 500 + 200))


def producer(q):
    import random
    rnd = random.Random(7)
    n = 0
    while True:
        time.sleep(rnd.uniform(0.01, 0.05))
        q.put(n)
        n += 1


def mode_queue():
    try:
        import queue
    except ImportError:
        import Queue as queue   # Python 2
    q = queue.Queue()
    t = threading.Thread(target=producer, name="producer", args=(q,))
    t.daemon = True
    t.start()
    ready()
    while True:
        handle_job(q.get())


def stage_primes(n):
    return [p for p in range(2, n) if all(p % d for d in range(2, int(p ** 0.5) + 1))]


def stage_sort(n):
    data = [(i * 7919) % 10007 for i in range(n * 20)]
    data.sort()
    return data[n]


def stage_hash(n):
    import hashlib
    h = hashlib.sha256()
    for i in range(n * 5):
        h.update(str(i).encode())
    return h.hexdigest()


def stage_fib(n):
    if n < 2:
        return n
    return stage_fib(n - 1) + stage_fib(n - 2)


def stage_matrix(n):
    m = [[(i + j) % 7 for j in range(n)] for i in range(n)]
    return [[sum(a * b for a, b in zip(row, col)) for col in zip(*m)] for row in m]


def run_pipeline(step):
    stage = step % 5
    if stage == 0:
        return stage_primes(6000)
    if stage == 1:
        return stage_sort(3000)
    if stage == 2:
        return stage_hash(4000)
    if stage == 3:
        return stage_fib(20)
    return stage_matrix(40)


def mode_compute():
    ready()
    step = 0
    while True:   # CPU-bound for ever, never in one place for long
        run_pipeline(step)
        step += 1


def small_work():
    return sorted(str(i) for i in range(200))


def mode_sleeper():
    ready()
    while True:
        time.sleep(1)
        small_work()


MODES = {
    "deadlock": mode_deadlock, "socket": mode_socket, "spin": mode_spin, "regex": mode_regex,
    "asyncio": mode_asyncio,
    "accept": mode_accept, "queue": mode_queue, "compute": mode_compute, "sleeper": mode_sleeper,
}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in MODES:
        sys.stderr.write("usage: hang_targets.py MODE   (MODE: %s)\n" % " | ".join(sorted(MODES)))
        sys.exit(2)
    MODES[sys.argv[1]]()


if __name__ == "__main__":
    main()
