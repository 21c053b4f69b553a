# SPDX-License-Identifier: MIT
# Checks one row of our layout table against the memory of the interpreter running this
# script (any CPython from 2.7 to 3.13): for each field, read at the row's offset with ctypes
# and compare with what the object is known to hold (id() of a frame, a code object's
# co_name, len() of a dict...). Covers the structs no installed header declares
# (PyDictKeysObject before 3.11, PyModuleObject before 3.10) and double-checks the rest.
#
# usage: python check-live.py ROW_FILE    (ROW_FILE: dump-table output for this version)
# Prints "verified FIELD" per field confirmed, "MISMATCH FIELD: ..." per failure; exit 1 on
# any mismatch. Must stay valid Python 2.7.

import ctypes
import struct
import sys
import threading

PY = sys.version_info[:2]
row = {}
for line in open(sys.argv[1]):
    k, v = line.split()
    row[k] = None if v == "none" else int(v)

failures = []
verified = set()


def check(field, ok, detail=""):
    if ok:
        verified.add(field)
    else:
        failures.append("%s: %s" % (field, detail))


def off(field):
    return row[field]


# Raw reads that run no Python code in between (ctypes.string_at is a Python function and
# would push a frame; from_address is C).
def u64(addr):
    return ctypes.c_uint64.from_address(addr).value


def i64(addr):
    return ctypes.c_int64.from_address(addr).value


def u32(addr):
    return ctypes.c_uint32.from_address(addr).value


def i32(addr):
    return ctypes.c_int32.from_address(addr).value


def u8(addr):
    return ctypes.c_uint8.from_address(addr).value


def raw(addr, n):
    return (ctypes.c_char * n).from_address(addr).raw


def expect_eq(field, got, want):
    check(field, got == want, "table offset %s reads %r, expected %r" % (off(field), got, want))


def ptr_at(obj_addr, field):
    return u64(obj_addr + off(field))


api = ctypes.pythonapi
api.PyThreadState_Get.restype = ctypes.c_void_p
api.PyInterpreterState_Head.restype = ctypes.c_void_p

# ---- PyObject, PyVarObject, PyTypeObject
t = (1, 2, 3)
expect_eq("object.ob_type", ptr_at(id(t), "object.ob_type"), id(tuple))
expect_eq("object.ob_size", i64(id(t) + off("object.ob_size")), 3)
name = ctypes.c_char_p(ptr_at(id(int), "type.tp_name")).value
expect_eq("type.tp_name", name, b"int")


class Thing(object):
    def __init__(self):
        self.alpha = object()
        self.beta = 2


thing = Thing()   # fills the class's shared keys
for ty in (int, dict, Thing, type):
    expect_eq("type.tp_basicsize", i64(id(ty) + off("type.tp_basicsize")), ty.__basicsize__)
    expect_eq("type.tp_flags", u64(id(ty) + off("type.tp_flags")), ty.__flags__)
    # (from 3.11 MANAGED_DICT types report -1: still the field's value)
    expect_eq("type.tp_dictoffset", i64(id(ty) + off("type.tp_dictoffset")), ty.__dictoffset__)
if off("type.ht_cached_keys") is not None:
    # A heap type's cached keys object is a PyDictKeysObject shared by its instances'
    # split dicts: its entry count covers the attributes set in __init__.
    keys = ptr_at(id(Thing), "type.ht_cached_keys")
    check("type.ht_cached_keys", keys != 0, "NULL cached keys")
    if keys and off("dict.dk_nentries") is not None:
        expect_eq("type.ht_cached_keys", i64(keys + off("dict.dk_nentries")), 2)

# ---- strings
if PY >= (3, 0):
    s = "hello world"
    expect_eq("unicode.length", i64(id(s) + off("unicode.length")), len(s))
    state = u32(id(s) + off("unicode.state"))
    # state bits: interned:2, kind:3, compact:1, ascii:1 (stable from 3.3 to 3.13)
    check("unicode.state", (state >> 2) & 7 == 1 and (state >> 5) & 1 and (state >> 6) & 1,
          "state word 0x%x is not a compact ASCII string" % state)
    expect_eq("unicode.ascii_size", raw(id(s) + off("unicode.ascii_size"), len(s)),
              s.encode("ascii"))
    u = "caf\u00e9 cr\u00e8me"  # compact, UCS1, not ASCII
    expect_eq("unicode.compact_size", raw(id(u) + off("unicode.compact_size"), len(u)),
              u.encode("latin-1"))
    b = b"bytes!"
    expect_eq("bytes.ob_size", i64(id(b) + off("bytes.ob_size")), len(b))
    expect_eq("bytes.ob_sval", raw(id(b) + off("bytes.ob_sval"), len(b)), b)
    # unicode.legacy_data: legacy (non-compact) strings can only be made through the
    # deprecated C API; probe.c checks it against the headers.
else:
    u = u"caf\xe9"
    expect_eq("unicode.length", i64(id(u) + off("unicode.length")), len(u))
    width = 4 if sys.maxunicode > 0xffff else 2
    data = raw(ptr_at(id(u), "unicode.legacy_data"), width * len(u))
    expect_eq("unicode.legacy_data", data.decode("utf-32-le" if width == 4 else "utf-16-le"), u)
    b = "bytes!"
    expect_eq("bytes.ob_size", i64(id(b) + off("bytes.ob_size")), len(b))
    expect_eq("bytes.ob_sval", raw(id(b) + off("bytes.ob_sval"), len(b)), b)
    n = int(123456789)
    expect_eq("pyint.ob_ival", i64(id(n) + off("pyint.ob_ival")), n)
    print("info: 2.7 sys.maxunicode=%d (UCS%d)" % (sys.maxunicode, width))

# ---- numbers, tuple, list
big = ((1 << 100) >> 60) + 5   # 2**40 + 5: two 30-bit digits, a PyLongObject on 2.7 too
if row["model.long"] == 0:   # LONG_OB_SIZE
    expect_eq("pylong.lv_tag", i64(id(big) + off("pylong.lv_tag")), 2)
else:                        # LONG_LV_TAG: ndigits << 3, sign bits 0 for positive
    expect_eq("pylong.lv_tag", u64(id(big) + off("pylong.lv_tag")), 2 << 3)
d0 = u32(id(big) + off("pylong.digits"))
d1 = u32(id(big) + off("pylong.digits") + 4)
expect_eq("pylong.digits", d0 | (d1 << 30), big)
fl = 1.5 * 3
expect_eq("pyfloat.ob_fval", struct.unpack("<d", raw(id(fl) + off("pyfloat.ob_fval"), 8))[0], fl)
expect_eq("tuple.ob_size", i64(id(t) + off("tuple.ob_size")), 3)
expect_eq("tuple.ob_item", u64(id(t) + off("tuple.ob_item") + 8), id(t[1]))
lst = [object(), object()]
expect_eq("list.ob_size", i64(id(lst) + off("list.ob_size")), 2)
expect_eq("list.ob_item", u64(ptr_at(id(lst), "list.ob_item") + 8), id(lst[1]))

# ---- dict
dkeys = ["k%d" % i for i in range(5)]
dd = {}
for k in dkeys:
    dd[k] = object()
expect_eq("dict.ma_used", i64(id(dd) + off("dict.ma_used")), 5)
model = row["model.dict"]
if model == 0:   # DICT_27: ma_mask and ma_table in the dict; entries {hash, key, value}
    mask = i64(id(dd) + off("dict.dk_size"))
    expect_eq("dict.dk_size", mask, 7)
    table = ptr_at(id(dd), "dict.ma_keys")
    found = set(u64(table + 24 * i + 8) for i in range(mask + 1))
    check("dict.ma_keys", all(id(k) in found for k in dkeys), "keys not found in ma_table")
else:
    keys = ptr_at(id(dd), "dict.ma_keys")
    if model == 1:   # DICT_36
        size = i64(keys + off("dict.dk_size"))
        expect_eq("dict.dk_size", size, 8)
        ixbytes = 1
    else:            # DICT_311
        log2 = u8(keys + off("dict.dk_size"))
        expect_eq("dict.dk_size", log2, 3)
        expect_eq("dict.dk_log2_index_bytes", u8(keys + off("dict.dk_log2_index_bytes")), 3)
        expect_eq("dict.dk_kind", u8(keys + off("dict.dk_kind")), 1)  # DICT_KEYS_UNICODE
        size = 1 << log2
        ixbytes = 1
    expect_eq("dict.dk_nentries", i64(keys + off("dict.dk_nentries")), 5)
    idx = struct.unpack("%db" % size, raw(keys + off("dict.dk_indices"), size * ixbytes))
    expect_eq("dict.dk_indices", sorted(i for i in idx if i >= 0), list(range(5)))
    check("dict.ma_keys", True)
    expect_eq("dict.ma_values", ptr_at(id(dd), "dict.ma_values"), 0)
    # A split dict (an instance's __dict__) has ma_values: the values array starts at
    # values_values inside it, in attribute order.
    inst = thing.__dict__
    values = ptr_at(id(inst), "dict.ma_values")
    check("dict.ma_values", values != 0, "instance dict is not split")
    if values:
        expect_eq("dict.values_values", u64(values + off("dict.values_values")), id(thing.alpha))

# ---- set, module, cell
st = set(dkeys[:3])
expect_eq("set.used", i64(id(st) + off("set.used")), 3)
expect_eq("set.mask", i64(id(st) + off("set.mask")), 7)
table = ptr_at(id(st), "set.table")
keyoff = 8 if PY < (3, 0) else 0   # setentry {hash, key} in 2.7, {key, hash} in 3.x
found = set(u64(table + 16 * i + keyoff) for i in range(8))
check("set.table", all(id(k) in found for k in dkeys[:3]), "keys not in table")
expect_eq("module.md_dict", ptr_at(id(sys), "module.md_dict"), id(sys.__dict__))


def make_cell():
    v = object()

    def inner():
        return v
    return inner, v


fn, cellval = make_cell()
cell = (fn.__closure__ if PY >= (3, 0) else fn.func_closure)[0]
expect_eq("cell.ob_ref", ptr_at(id(cell), "cell.ob_ref"), id(cellval))


# ---- code objects
def sample(a, b):
    c = a + b
    return c


co = sample.__code__
expect_eq("code.name", ptr_at(id(co), "code.name"), id(co.co_name))
expect_eq("code.filename", ptr_at(id(co), "code.filename"), id(co.co_filename))
expect_eq("code.firstlineno", i32(id(co) + off("code.firstlineno")), co.co_firstlineno)
expect_eq("code.nlocals", i32(id(co) + off("code.nlocals")), co.co_nlocals)
if PY <= (3, 9):
    expect_eq("code.linetable", ptr_at(id(co), "code.linetable"), id(co.co_lnotab))
else:
    expect_eq("code.linetable", ptr_at(id(co), "code.linetable"), id(co.co_linetable))
if PY <= (3, 10):
    expect_eq("code.varnames", ptr_at(id(co), "code.varnames"), id(co.co_varnames))
else:
    expect_eq("code.qualname", ptr_at(id(co), "code.qualname"), id(co.co_qualname))
    names = ptr_at(id(co), "code.varnames")
    n = i64(names + off("tuple.ob_size"))
    got = [u64(names + off("tuple.ob_item") + 8 * i) for i in range(n)]
    expect_eq("code.varnames", got[:co.co_nlocals], [id(x) for x in co.co_varnames])
    kinds = ptr_at(id(co), "code.localspluskinds")
    expect_eq("code.localspluskinds", (u64(kinds + off("object.ob_type")),
                                       i64(kinds + off("bytes.ob_size"))), (id(bytes), n))

    def never_run():
        return None
    nc = never_run.__code__
    expect_eq("code.code_adaptive", raw(id(nc) + off("code.code_adaptive"), 2),
              nc.co_code[:2])
    import dis

    def with_cell():
        x = 1

        def g():
            return x
        return g
    for c in (nc, with_cell.__code__):
        ops = bytearray(c.co_code)[0::2]
        expect_eq("code.firsttraceable", i32(id(c) + off("code.firsttraceable")),
                  ops.index(dis.opmap["RESUME"]))

# ---- interpreter and thread states
ts = api.PyThreadState_Get()
interp = api.PyInterpreterState_Head()
expect_eq("tstate.interp", ptr_at(ts, "tstate.interp"), interp)
expect_eq("interp.modules", ptr_at(interp, "interp.modules"), id(sys.modules))
expect_eq("interp.next", ptr_at(interp, "interp.next"), 0)   # the only interpreter
get_ident = threading.current_thread().ident
expect_eq("tstate.thread_id", u64(ts + off("tstate.thread_id")), get_ident)
if off("tstate.native_thread_id") is not None:
    expect_eq("tstate.native_thread_id", u64(ts + off("tstate.native_thread_id")),
              threading.get_native_id())

# A second thread: walking interp's list with next must find both thread states.
other = {}
ready = threading.Event()
done = threading.Event()


def worker():
    other["ts"] = api.PyThreadState_Get()
    ready.set()
    done.wait()


th = threading.Thread(target=worker)
th.start()
ready.wait()
seen = []
p = ptr_at(interp, "interp.tstate_head")
while p and len(seen) < 64:
    seen.append(p)
    p = ptr_at(p, "tstate.next")
check("interp.tstate_head", ts in seen or other["ts"] in seen, "list %r" % seen)
check("tstate.next", ts in seen and other["ts"] in seen,
      "walk %r lacks %x or %x" % (seen, ts, other["ts"]))

if row["model.gil"] == 0:      # the _PyThreadState_Current / interp_head symbols
    # (interp_head is a static: the walker finds it in .symtab, ctypes cannot)
    cur = ctypes.c_void_p.in_dll(api, "_PyThreadState_Current").value
    check("symbol._PyThreadState_Current", cur == ts, "%r != %r" % (cur, ts))
else:
    rt = ctypes.addressof(ctypes.c_char.in_dll(api, "_PyRuntime"))
    expect_eq("runtime.interpreters_head", ptr_at(rt, "runtime.interpreters_head"), interp)
    if off("runtime.tstate_current") is not None:
        expect_eq("runtime.tstate_current", ptr_at(rt, "runtime.tstate_current"), ts)
    if off("interp.ceval_gil") is not None:
        gil = ptr_at(interp, "interp.ceval_gil")
        expect_eq("interp.ceval_gil", gil != 0, True)
        expect_eq("gil.locked", i32(gil + off("gil.locked")), 1)   # we hold it
        expect_eq("gil.last_holder", ptr_at(gil, "gil.last_holder"), ts)
done.set()
th.join()


# ---- frames: read while this function runs, so every pointer is stable
# The first reads go straight through ctypes' C-level from_address: a helper written in
# Python would itself become the current frame.
def frames(a_local):
    f = sys._getframe()
    caller = f.f_back
    first = ctypes.c_uint64.from_address(ts + off("tstate.frame")).value
    if row["model.frame"] == 1:
        second = ctypes.c_uint64.from_address(first + off("cframe.current_frame")).value
    if row["model.frame"] == 0:   # PyFrameObject
        fa = id(f)
        expect_eq("tstate.frame", first, fa)
        expect_eq("frame.back", ptr_at(fa, "frame.back"), id(caller))
        expect_eq("frame.code", ptr_at(fa, "frame.code"), id(f.f_code))
        lasti = i32(id(caller) + off("frame.lasti"))
        if row["model.lasti"] == 1:
            lasti *= 2   # LASTI_UNITS: f_lasti counts code units, the attribute bytes
        expect_eq("frame.lasti", lasti, caller.f_lasti)
        expect_eq("frame.localsplus", ptr_at(fa, "frame.localsplus"), id(a_local))
        return
    if row["model.frame"] == 1:   # IFRAME_CFRAME
        fr = second
        check("tstate.frame", first != 0, "NULL cframe")
    else:
        fr = first
    # The frame we found must be this very function's: that checks tstate.frame (and
    # cframe.current_frame) and iframe.code together.
    expect_eq("iframe.code", ptr_at(fr, "iframe.code"), id(f.f_code))
    if row["model.frame"] == 1:
        expect_eq("cframe.current_frame", ptr_at(fr, "iframe.code"), id(f.f_code))
    expect_eq("tstate.frame", ptr_at(fr, "iframe.code"), id(f.f_code))
    prev = ptr_at(fr, "iframe.previous")
    expect_eq("iframe.previous", ptr_at(prev, "iframe.code"), id(caller.f_code))
    start = id(f.f_code) + off("code.code_adaptive")
    instr = ptr_at(fr, "iframe.instr")
    check("iframe.instr", start <= instr < start + len(f.f_code.co_code),
          "%x outside [%x, +%d)" % (instr, start, len(f.f_code.co_code)))
    expect_eq("iframe.owner", u8(fr + off("iframe.owner")), 0)   # FRAME_OWNED_BY_THREAD
    expect_eq("iframe.localsplus", ptr_at(fr, "iframe.localsplus"), id(a_local))


frames(object())

# ---- 3.13+: the interpreter's own _Py_DebugOffsets must agree with the row
if PY >= (3, 13):
    rt = ctypes.addressof(ctypes.c_char.in_dll(api, "_PyRuntime"))
    w = struct.unpack("<8s72Q", raw(rt, 584))
    check("debug.cookie", w[0] == b"xdebugpy", repr(w[0]))
    # Member names of _Py_DebugOffsets after the cookie, in order (3.13.0).
    names = (
        "version free_threaded "
        "runtime.size runtime.finalizing runtime.interpreters_head "
        "interp.size interp.id interp.next interp.threads_head interp.gc "
        "interp.imports_modules interp.sysdict interp.builtins interp.ceval_gil "
        "interp.gil_runtime_state interp.gil_enabled interp.gil_locked interp.gil_holder "
        "tstate.size tstate.prev tstate.next tstate.interp tstate.current_frame "
        "tstate.thread_id tstate.native_thread_id tstate.datastack_chunk tstate.status "
        "iframe.size iframe.previous iframe.executable iframe.instr_ptr iframe.localsplus "
        "iframe.owner "
        "code.size code.filename code.name code.qualname code.linetable code.firstlineno "
        "code.argcount code.localsplusnames code.localspluskinds code.co_code_adaptive "
        "object.size object.ob_type type.size type.tp_name type.tp_repr type.tp_flags "
        "tuple.size tuple.ob_item tuple.ob_size list.size list.ob_item list.ob_size "
        "dict.size dict.ma_keys dict.ma_values pyfloat.size pyfloat.ob_fval "
        "pylong.size pylong.lv_tag pylong.ob_digit bytes.size bytes.ob_size bytes.ob_sval "
        "unicode.size unicode.state unicode.length unicode.asciiobject_size "
        "gc.size gc.collecting").split()
    dbg = dict(zip(names, w[1:]))
    pairs = {   # _Py_DebugOffsets member -> our field
        "runtime.interpreters_head": "runtime.interpreters_head",
        "interp.next": "interp.next", "interp.threads_head": "interp.tstate_head",
        "interp.imports_modules": "interp.modules", "interp.ceval_gil": "interp.ceval_gil",
        "tstate.next": "tstate.next", "tstate.interp": "tstate.interp",
        "tstate.current_frame": "tstate.frame", "tstate.thread_id": "tstate.thread_id",
        "tstate.native_thread_id": "tstate.native_thread_id",
        "iframe.previous": "iframe.previous", "iframe.executable": "iframe.code",
        "iframe.instr_ptr": "iframe.instr", "iframe.localsplus": "iframe.localsplus",
        "iframe.owner": "iframe.owner",
        "code.filename": "code.filename", "code.name": "code.name",
        "code.qualname": "code.qualname", "code.linetable": "code.linetable",
        "code.firstlineno": "code.firstlineno", "code.localsplusnames": "code.varnames",
        "code.localspluskinds": "code.localspluskinds",
        "code.co_code_adaptive": "code.code_adaptive",
        "object.ob_type": "object.ob_type", "type.tp_name": "type.tp_name",
        "type.tp_flags": "type.tp_flags", "tuple.ob_item": "tuple.ob_item",
        "tuple.ob_size": "tuple.ob_size", "list.ob_item": "list.ob_item",
        "list.ob_size": "list.ob_size", "dict.ma_keys": "dict.ma_keys",
        "dict.ma_values": "dict.ma_values", "pyfloat.ob_fval": "pyfloat.ob_fval",
        "pylong.lv_tag": "pylong.lv_tag", "pylong.ob_digit": "pylong.digits",
        "bytes.ob_size": "bytes.ob_size", "bytes.ob_sval": "bytes.ob_sval",
        "unicode.state": "unicode.state", "unicode.length": "unicode.length",
        "unicode.asciiobject_size": "unicode.ascii_size",
    }
    for member, field in sorted(pairs.items()):
        if off(field) != dbg[member]:
            failures.append("debug-offsets %s: row %s, _Py_DebugOffsets.%s %d" % (
                field, off(field), member, dbg[member]))
    base = dbg["interp.gil_runtime_state"]
    got = (dbg["interp.gil_holder"] - base, dbg["interp.gil_locked"] - base)
    if (off("gil.last_holder"), off("gil.locked")) != got:
        failures.append("debug-offsets gil: row %s/%s, _Py_DebugOffsets %d/%d" % (
            off("gil.last_holder"), off("gil.locked"), got[0], got[1]))
    check("debug.version", dbg["version"] >> 16 == 0x030D, hex(dbg["version"]))
    print("info: _Py_DebugOffsets: %d fields compared" % (len(pairs) + 2))

for f in sorted(verified):
    print("verified %s" % f)
for f in failures:
    print("MISMATCH %s" % f)
sys.exit(1 if failures else 0)
