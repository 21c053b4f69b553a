# -*- coding: utf-8 -*-
# SPDX-License-Identifier: MIT
"""Live target for tests/live/test_dump.py: runs on CPython 2.7 and 3.6-3.13.

    python target.py OUTDIR          # the static target: every thread blocked forever
    python target.py OUTDIR --spin   # one thread spinning in pure Python, main blocked

Writes OUTDIR/pid at once. The static target then waits until every thread is blocked and
its stacks are stable, and a short-lived reporter thread writes OUTDIR/truth.json (atomically:
tmp + rename) with what the interpreter itself says about every other thread: ident, native id,
name, frames outermost first (co_name, co_filename, f_lineno) and each frame's locals, then
the reporter exits. The spin target writes truth.json with the spinner's ident. Both then stay
blocked until killed.

Rules for editing: keep every call that leads to a blocked frame on one line (line numbers are
compared), no f-strings, nothing that needs Python 3 syntax (that goes in módulo_ñ_py3.py).
"""
from __future__ import print_function

import sys

sys.dont_write_bytecode = True  # loading the helpers by path must not leave .pyc files

import json
import os
import threading
import time

PY2 = sys.version_info[0] == 2
HERE = os.path.dirname(os.path.abspath(__file__))
REPR_MAX = 256     # PYOBJ_REPR_MAX in sampler/pyobj.h
REPR_DEPTH = 3     # PYOBJ_REPR_DEPTH
REPR_ITEMS = 16    # PYOBJ_REPR_ITEMS
CO_NEWLOCALS = 0x0002

if PY2:
    import thread as _thread
    get_ident = _thread.get_ident
    SIMPLE_TYPES = (type(None), bool, int, long, float, str, unicode)  # noqa: F821
else:
    get_ident = threading.get_ident
    SIMPLE_TYPES = (type(None), bool, int, float, str, bytes)
CONTAINER_TYPES = (list, tuple, dict, set, frozenset)


def gettid():
    try:
        import ctypes
        return int(ctypes.CDLL(None).syscall(186))  # SYS_gettid on x86-64
    except Exception:
        if hasattr(threading, "get_native_id"):
            return threading.get_native_id()
        return None


def text(s):
    """Anything the interpreter holds as a name (py2 bytes str or unicode) as unicode."""
    if isinstance(s, bytes):
        return s.decode("utf-8")
    return s


def load_by_path(name, path):
    if PY2:
        import imp
        return imp.load_source(name, path)
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---------------------------------------------------------------------------------------------
# Readiness: every thread that is about to block calls ready() just before blocking.

READY_LOCK = threading.Lock()
READY = [0]
NATIVE = {}
FOREVER = threading.Event()  # never set


def ready():
    tid = gettid()
    with READY_LOCK:
        READY[0] += 1
        NATIVE[get_ident()] = tid


# ---------------------------------------------------------------------------------------------
# The blocked threads.

def inner(ev):
    ready()
    ev.wait()


def middle(ev):
    inner(ev)


def outer(ev):
    middle(ev)


def locker():
    lock = threading.Lock()
    lock.acquire()
    ready()
    lock.acquire()


def sleep_forever():
    ready()
    while True:
        time.sleep(100000)


def sleeper():
    sleep_forever()


def anonymous():
    sleep_forever()


class Server(object):
    def __init__(self, ev):
        self.ev = ev

    def serve(self):
        self._block()

    def _block(self):
        ready()
        self.ev.wait()


def gen_block(ev):
    yield 1
    ready()
    ev.wait()
    yield 2


def consume_gen(ev):
    total = 0
    for value in gen_block(ev):
        total += value
    return total


def recurse(depth, ev):
    if depth == 0:
        ready()
        ev.wait()
        return 0
    return recurse(depth - 1, ev) + 1


class Opaque(object):
    pass


def locals_holder():
    v_none = None
    v_true = True
    v_false = False
    v_zero = 0
    v_minus_one = -1
    v_2_40 = 2 ** 40
    v_big_neg = -2 ** 100
    v_big_pos = 3 ** 70
    v_float = 1.5
    v_tenth = 0.1
    v_1e16 = 1e16
    v_neg_zero = -0.0
    v_inf = float("inf")
    v_nan = float("nan")
    v_text = "text"
    v_quoted = "quote'd"
    v_unicode = u"ünïcödé"
    v_escapes = "\n\t"
    v_bytes = b"bytes\x00\xff"
    v_list = [1, "a", None]
    v_tuple1 = (1,)
    v_empty_tuple = ()
    v_empty_list = []
    v_dict = {"k": 1}
    v_empty_dict = {}
    v_set = {7}
    v_frozenset = frozenset([3])
    v_depth3 = (1, {"a": [2]})
    v_nested = [[1, [2, [3, [4]]]]]
    v_instance = Opaque()
    v_long = "abcdefghij" * 100
    v_long_unicode = u"é" * 300
    ready()
    FOREVER.wait()


# ---------------------------------------------------------------------------------------------
# Ground truth.

def classify(value, level=1):
    """kind of a local for the test: exact (repr must be equal), nested (deeper than
    REPR_DEPTH: '...' may stand for the deep part), complex (a container holding objects we do
    not render exactly: presence only), other (rendered '<TypeName at 0xID>' or repr)."""
    t = type(value)
    if t in SIMPLE_TYPES:
        return "exact"
    if t in CONTAINER_TYPES:
        items = list(value.items()) if t is dict else list(value)
        if len(items) > REPR_ITEMS:
            return "complex"
        kinds = set()
        for item in items:
            for v in (item if t is dict else (item,)):
                kinds.add(classify(v, level + 1))
        if "complex" in kinds or "other" in kinds:
            return "complex"
        if "nested" in kinds or level > REPR_DEPTH:
            return "nested"
        return "exact"
    return "other"


def describe_locals(frame):
    code = frame.f_code
    if not (code.co_flags & CO_NEWLOCALS):
        return {}  # module or class body: f_locals is a namespace, not fast locals
    try:
        values = dict(frame.f_locals)
    except Exception:
        return {}
    skip = set(code.co_cellvars) | set(code.co_freevars)
    out = {}
    for name, value in values.items():
        if name in skip or name not in code.co_varnames:
            continue
        r = text(repr(value))
        kind = classify(value)
        if kind in ("exact", "nested") and len(r.encode("utf-8")) > REPR_MAX:
            kind = "long"
        out[text(name)] = {"repr": r, "kind": kind, "type": text(type(value).__name__),
                           "module": text(getattr(type(value), "__module__", "") or ""),
                           "id": id(value)}
    return out


def describe_frames(frame):
    frames = []
    while frame is not None:
        frames.append({
            "function": text(frame.f_code.co_name),
            "filename": text(frame.f_code.co_filename),
            "line": frame.f_lineno,
            "locals": describe_locals(frame),
        })
        frame = frame.f_back
    frames.reverse()
    return frames


def snapshot(me, describe=describe_frames, name_of=text):
    """Every thread but me (ident, name_of(its name), native id, describe(its innermost frame)),
    in the order of their native ids."""
    names = dict((t.ident, t.name) for t in threading.enumerate())
    frames = sys._current_frames()
    threads = []
    for ident, frame in frames.items():
        if ident == me:
            continue
        threads.append({"ident": ident, "name": name_of(names.get(ident)),
                        "native_id": NATIVE.get(ident),
                        "frames": describe(frame)})
    del frames
    threads.sort(key=lambda t: (t["native_id"] or 0, t["ident"]))
    return threads


def task_states(skip_tid):
    """{tid: state letter} of this process's threads except skip_tid."""
    states = {}
    base = "/proc/self/task"
    for name in os.listdir(base):
        tid = int(name)
        if tid == skip_tid:
            continue
        try:
            with open(os.path.join(base, name, "stat")) as f:
                data = f.read()
        except (IOError, OSError):
            continue
        states[tid] = data[data.rindex(")") + 2]
    return states


def write_json(outdir, name, obj):
    path = os.path.join(outdir, name)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


def base_truth(mode):
    return {"mode": mode, "pid": os.getpid(),
            "version": "%d.%d.%d" % tuple(sys.version_info[:3]),
            "executable": text(sys.executable),
            "main_ident": MAIN_IDENT}


def settle(expected, take):
    """Run by the reporter thread: waits until `expected` threads have called ready(), every
    other thread of the process is asleep and take() (a snapshot) gives the same twice running.
    (that snapshot, None), or (None, why not) after 60 s."""
    my_tid = gettid()
    deadline = time.time() + 60
    prev = None
    while True:
        time.sleep(0.15)
        if time.time() > deadline:
            return None, "threads did not settle: ready=%d expected=%d" % (READY[0], expected)
        if READY[0] < expected:
            continue
        if my_tid is not None:
            states = task_states(my_tid)
            if len(states) != expected or any(s != "S" for s in states.values()):
                prev = None
                continue
        cur = take()
        if cur == prev:
            return cur, None
        prev = cur


def reporter(outdir, expected):
    me = get_ident()
    threads, error = settle(expected, lambda: snapshot(me))
    truth = base_truth("static")
    truth["reporter_ident"] = me
    truth["locals_function"] = "locals_holder"
    if error:
        truth["error"] = error
        truth["threads"] = []
    else:
        truth["threads"] = threads
    truth["nthreads"] = len(truth["threads"])
    write_json(outdir, "truth.json", truth)


def block_main():
    lock = threading.Lock()
    lock.acquire()
    ready()
    lock.acquire()


def start(target, name=None, args=()):
    if name is None:
        t = threading.Thread(target=target, args=args)
    else:
        t = threading.Thread(target=target, name=name, args=args)
    t.daemon = True
    t.start()
    return t


def main_static(outdir):
    helper = load_by_path("modulo_n", os.path.join(HERE, "módulo_ñ.py"))
    ev = threading.Event()
    workers = [
        (outer, "nested-event", (ev,)),
        (locker, "lock-acquire", ()),
        (sleeper, "sleeper", ()),
        (Server(ev).serve, "method", ()),
        (consume_gen, "generator", (ev,)),
        (recurse, "recursion", (300, ev)),
        (locals_holder, "locals", ()),
        (anonymous, None, ()),
        (helper.in_nonascii_file, "nonascii-file", (ev, ready)),
    ]
    if PY2:
        workers.append((helper.in_nonascii_file, "hilo-ñ", (ev, ready)))
    else:
        helper3 = load_by_path("modulo_n_py3", os.path.join(HERE, "módulo_ñ_py3.py"))
        workers.append((getattr(helper3, "función_ü"), "hilo-ñ", (ev, ready)))
        workers.append((helper3.consume_delegator, "yield-from", (ev, ready)))
    for target, name, args in workers:
        start(target, name, args)
    start(reporter, "reporter", (outdir, len(workers) + 1))
    block_main()


def spin():
    x = 0
    while True:
        x += 1


def spinner_main(outdir):
    # Wait until the main thread is blocked for good (it calls ready() just before its final
    # acquire; the sleeps give it the GIL to get there), then report, then spin.
    while READY[0] < 1:
        time.sleep(0.01)
    time.sleep(0.1)
    time.sleep(0.1)
    truth = base_truth("spin")
    truth["spinner_ident"] = get_ident()
    truth["nthreads"] = 2
    frames = describe_frames(sys._getframe())
    for f in frames:
        f["locals"] = {}
    first = spin.__code__.co_firstlineno
    frames.append({"function": "spin", "filename": text(spin.__code__.co_filename),
                   "line": first + 3, "locals": {}})
    # any line of the loop is right for the innermost frame
    truth["spin_lines"] = [first + 1, first + 2, first + 3]
    truth["spinner_frames"] = frames
    frames[-2]["line"] = sys._getframe().f_lineno + 2  # the line of spin() below: keep it there
    write_json(outdir, "truth.json", truth)
    spin()


def main_spin(outdir):
    start(spinner_main, "spinner", (outdir,))
    block_main()


def out_dir(argv, usage):
    """OUTDIR, argv[1], where this process's pid is written at once; without it, exits 2 with
    the usage line."""
    if len(argv) < 2:
        print("usage: " + usage, file=sys.stderr)
        sys.exit(2)
    outdir = argv[1]
    with open(os.path.join(outdir, "pid"), "w") as f:
        f.write("%d\n" % os.getpid())
    return outdir


def main(argv):
    outdir = out_dir(argv, "target.py OUTDIR [--spin]")
    if "--spin" in argv[2:]:
        main_spin(outdir)
    else:
        main_static(outdir)


MAIN_IDENT = get_ident()

if __name__ == "__main__":
    main(sys.argv)
