# SPDX-License-Identifier: MIT
"""Live target of tests/live/test_hostile.py: runs on CPython 2.7 and 3.6-3.13.

    python hostile_target.py OUTDIR [ARG...]

A process whose every name is hostile to whatever shows it: terminal escape sequences (CSI,
OSC title and OSC 8 hyperlinks), BEL, CR, BS, DEL, NUL, C1 controls, bidi overrides, lone
surrogates (3.x) or invalid UTF-8 (2.7, where names are bytes), markup that tries to set
window.PWNED in a browser, ';', spaces and newlines for the folded format, and 100 KB strings.
They go into:

  - function names (co_name, and co_qualname on 3.11+) and file names (co_filename) of code
    objects rebuilt from a template (code.replace, or types.CodeType before 3.8);
  - the local variable names (co_varnames) of those code objects, and the locals' values;
  - thread names (threading.Thread(name=...)), the main thread's included;
  - the command line: the ARGs the test passes.

With HOSTILE_SHORT=1 in the environment, the thread whose name, function name and file name
are 100 KB long is left out (the 100 KB local name and values stay).

One thread per hostile name blocks in its hostile function (lock.acquire(), a C call, so the
innermost Python frame is the hostile one; threading's wait would be in the watch daemon's
default ignore list). Once every thread is asleep and the stacks are stable, a short-lived
reporter thread writes OUTDIR/truth.json (atomically) with what the interpreter itself says:
for every thread its ident, native id and name; its frames outermost first (co_name,
co_filename, f_lineno); for the hostile frames their locals' names and repr()s. Every name is
written as {"u": text} (a str, lone surrogates kept: json escapes them) or {"b": hex} (2.7
bytes). Then the reporter exits and the process stays blocked until killed.

Rules for editing: no f-strings, nothing that needs Python 3 syntax, ASCII source only.
"""
from __future__ import print_function

import sys

sys.dont_write_bytecode = True

import binascii
import os
import threading
import types

from target import out_dir, ready, settle, snapshot, write_json

PY2 = sys.version_info[0] == 2
REPR_MAX = 256          # PYOBJ_REPR_MAX in sampler/pyobj.h
TRUTH_REPR_KEEP = 4000  # a long repr is written cut to this many characters (the test needs a prefix)

if PY2:
    import thread as _thread
    get_ident = _thread.get_ident
else:
    get_ident = threading.get_ident

# ---------------------------------------------------------------------------------------------
# The hostile strings. Unicode here; on 2.7 names are made bytes (UTF-8, surrogates included,
# which 2.7's codec encodes as the invalid ED A0 80).

LONG = u"\x1b[2J<script>window.PWNED=6</script>&\"" * 2600            # ~104 KB

NAMES = [
    u"f_esc\x1b[2J\x1b[1;31mRED\x1b]0;pwned title\x07",
    u"f_osc8\x1b]8;;http://evil.example/\x07click me\x1b]8;;\x07",
    u"f_ctl\x07bel\rcr\bbs\ttab\nnl\x7fdel\x0bvt\x00after_nul",
    u"f_c1\x85nel\x9b31mcsi\x9d0;t\x9cst",
    u"f_bidi\u202euser\u2066txt.exe\u2069\u2028ls\u200f",
    u"<script>window.PWNED=1</script>",
    u"]]><script>window.PWNED=2</script><![CDATA[",
    u"x\" onmouseover=\"window.PWNED=3\" y='&amp;<>",
    u"</text></g></svg><svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"window.PWNED=4\">",
    u"</title><script>window.PWNED=5</script>",
    u"f;semi colon space\nnew line 7",
    u"f_surrogates\ud800x\udcff",
]
# HOSTILE_SHORT=1 leaves out the thread named (function, file, thread) with 100 KB.
if not os.environ.get("HOSTILE_SHORT"):
    NAMES.append(LONG)
if PY2:
    INVALID = b"f_invalid\xff\xfe\xc0\xaf\xe2\x82A\xed\xa0\x80\xf4\x90\x80\x80\x80end"

VALUES = [
    "\x1b[2J\x1b[31m\x1b]0;pwned\x07\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\",
    "bel\x07cr\rbs\bnul\x00del\x7fvt\x0b",
    u"c1\x85\x9b31m\x9d\u202euser\u2066\u2028",
    u"\ud800lone\udcff",
    b"\xff\xfe\xc0\xaf\xe2\x82A\xed\xa0\x80\x1b[2J",
    "<script>alert(1)</script>]]>\"'&<></svg><![CDATA[x]]>",
    "</title><script>window.PWNED=20</script>",
    "semi;colon space\nnewline 42",
    "\x1b[2J<script>" * 8000,                                               # ~104 KB
    u"\u202e" * 40000,                                                      # 120 KB of RLO
    ["\x1b[2J", {"<k>": "\x07\r"}, b"\xff"],
]

LOCAL_NAMES = [
    u"l_esc\x1b[2J\x1b]0;t\x07",
    u"l_ctl\x07\r\b\x00nul",
    u"l_c1\x85\x9b\u202eevil",
    u"l_surr\ud800",
    u"<script>window.PWNED=30</script>",
    u"l\" onload=\"window.PWNED=31",
    u"l;semi colon\nnl",
    u"l_amp&<>'\"]]>",
    u"\x1b]0;" * 25000,                                                     # 100 KB
    u"l_bidi\u2066\u2028",
    u"l_plain",
]
assert len(LOCAL_NAMES) == len(VALUES)

ARGS = ("ready", "lock", "vals")


def as_name(u):
    """A name as this version's code objects and threads hold it."""
    if PY2:
        return u.encode("utf-8")
    return u


def enc(s):
    """A name for truth.json: {"u": text} or {"b": hex of the bytes}."""
    if isinstance(s, bytes):
        return {"b": binascii.hexlify(s).decode("ascii")}
    return {"u": s}


def name_or_none(s):
    """A thread's name for truth.json: enc(s), or None for no name."""
    return None if s is None else enc(s)


# ---------------------------------------------------------------------------------------------
# Code objects with hostile names

TEMPLATE = "def hostile(ready, lock, vals):\n"
for _i in range(len(VALUES)):
    TEMPLATE += "    l%d = vals[%d]\n" % (_i, _i)
TEMPLATE += "    ready()\n    lock.acquire()\n"


def rebuild(code, name, filename, varnames):
    if hasattr(code, "replace"):    # 3.8+
        kw = {"co_name": name, "co_filename": filename, "co_varnames": varnames}
        if hasattr(code, "co_qualname"):
            kw["co_qualname"] = name
        return code.replace(**kw)
    if PY2:
        return types.CodeType(code.co_argcount, code.co_nlocals, code.co_stacksize, code.co_flags,
                              code.co_code, code.co_consts, code.co_names, varnames, filename, name,
                              code.co_firstlineno, code.co_lnotab, code.co_freevars, code.co_cellvars)
    return types.CodeType(code.co_argcount, code.co_kwonlyargcount, code.co_nlocals, code.co_stacksize,
                          code.co_flags, code.co_code, code.co_consts, code.co_names, varnames, filename,
                          name, code.co_firstlineno, code.co_lnotab, code.co_freevars, code.co_cellvars)


def hostile_function(name, filename):
    ns = {}
    exec(compile(TEMPLATE, "hostile-template.py", "exec"), ns)
    code = ns["hostile"].__code__
    varnames = tuple(as_name(n) for n in ARGS) + tuple(as_name(n) for n in LOCAL_NAMES)
    assert len(varnames) == len(code.co_varnames)
    return types.FunctionType(rebuild(code, name, filename, varnames), ns)


# ---------------------------------------------------------------------------------------------
# Readiness and ground truth: target.py's ready(), settle(), snapshot() and write_json(),
# with names and frames described our way

HOSTILE_CODES = set()


def describe_locals(frame):
    values = dict(frame.f_locals)
    out = []
    for name in frame.f_code.co_varnames[len(ARGS):]:
        if name not in values:
            continue
        r = repr(values[name])
        if isinstance(r, bytes):
            r = r.decode("ascii")
        n = len(r.encode("utf-8", "surrogatepass") if not PY2 else r.encode("utf-8"))
        out.append({"name": enc(name), "kind": "long" if n > REPR_MAX else "exact",
                    "repr": r[:TRUTH_REPR_KEEP]})
    return out


def describe_frames(frame):
    frames = []
    while frame is not None:
        code = frame.f_code
        f = {"function": enc(code.co_name), "filename": enc(code.co_filename), "line": frame.f_lineno,
             "hostile": id(code) in HOSTILE_CODES}
        if f["hostile"]:
            f["locals"] = describe_locals(frame)
        frames.append(f)
        frame = frame.f_back
    frames.reverse()
    return frames


def reporter(outdir, expected):
    me = get_ident()
    threads, error = settle(expected, lambda: snapshot(me, describe_frames, name_or_none))
    truth = {"pid": os.getpid(), "version": "%d.%d.%d" % tuple(sys.version_info[:3]),
             "executable": sys.executable, "argv": sys.argv, "reporter_ident": me,
             "threads": threads if not error else []}
    if error:
        truth["error"] = error
    truth["nthreads"] = len(truth["threads"])
    write_json(outdir, "truth.json", truth)


def main(argv):
    outdir = out_dir(argv, "hostile_target.py OUTDIR [ARG...]")

    names = [as_name(n) for n in NAMES]
    if PY2:
        names.append(INVALID)
    threads = []
    for name in names:
        fn = hostile_function(name, as_name(u"/srv/hostile/") + name + as_name(u".py"))
        HOSTILE_CODES.add(id(fn.__code__))
        lock = threading.Lock()
        lock.acquire()
        t = threading.Thread(target=fn, name=name, args=(ready, lock, VALUES))
        t.daemon = True
        threads.append(t)
    threading.current_thread().name = as_name(u"Main\x1b[2J<script>window.PWNED=10</script>\u202e")
    main_fn = hostile_function(as_name(u"main\x1b]0;title\x07\u202e<b>"), as_name(u"/srv/main\x00.py"))
    HOSTILE_CODES.add(id(main_fn.__code__))
    for t in threads:
        t.start()
    threading.Thread(target=reporter, name="reporter", args=(outdir, len(threads) + 1)).start()
    lock = threading.Lock()
    lock.acquire()
    main_fn(ready, lock, VALUES)


if __name__ == "__main__":
    main(sys.argv)
