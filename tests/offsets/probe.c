/* SPDX-License-Identifier: MIT */
/* Ground truth for tests/offsets/check-offsets.sh: compiled once per installed CPython against
 * that version's own headers (with Py_BUILD_CORE so the internal structs are visible) and
 * prints "field value" lines, with the same field names as dump-table.c. The compiler's
 * offsetof() is the reference here, not anything written by hand.
 *
 * Fields whose struct no installed header declares (e.g. PyDictKeysObject before 3.11,
 * PyModuleObject before 3.10) are not printed; check-live.py covers them by reading a live
 * interpreter's memory. */

#define Py_BUILD_CORE 1
#include <Python.h>
#include <frameobject.h>
#include <stddef.h>
#include <stdio.h>

#define PYV (PY_MAJOR_VERSION * 100 + PY_MINOR_VERSION)

#if PYV >= 307 && PYV < 308
#  include "internal/pystate.h"
#elif PYV >= 308
#  include "internal/pycore_pystate.h"
#endif
#if PYV >= 309
#  include "internal/pycore_interp.h"
#  include "internal/pycore_runtime.h"
#endif
#if PYV >= 311
#  include "internal/pycore_frame.h"
#  include "internal/pycore_dict.h"
#  include "internal/pycore_code.h"
#endif
#if PYV >= 310
#  include "internal/pycore_moduleobject.h"
#endif
#if PYV >= 312
#  include "internal/pycore_gil.h"
#endif
#if PYV < 311
#  include <longintrepr.h> /* from 3.11 on Python.h brings cpython/longintrepr.h */
#endif

#define P(name, val) printf("%s %lu\n", name, (unsigned long) (val))
#define O(name, type, member) P(name, offsetof(type, member))

int main(void) {
        P("major", PY_MAJOR_VERSION);
        P("minor", PY_MINOR_VERSION);

        /* _PyRuntimeState */
#if PYV >= 307
        O("runtime.interpreters_head", _PyRuntimeState, interpreters.head);
#endif
#if PYV >= 307 && PYV < 312
        O("runtime.tstate_current", _PyRuntimeState, gilstate.tstate_current);
#endif

        /* PyInterpreterState */
        O("interp.next", PyInterpreterState, next);
#if PYV >= 311
        O("interp.tstate_head", PyInterpreterState, threads.head);
#else
        O("interp.tstate_head", PyInterpreterState, tstate_head);
#endif
#if PYV >= 312
        O("interp.modules", PyInterpreterState, imports.modules);
        O("interp.ceval_gil", PyInterpreterState, ceval.gil);
        O("gil.last_holder", struct _gil_runtime_state, last_holder);
        O("gil.locked", struct _gil_runtime_state, locked);
#else
        O("interp.modules", PyInterpreterState, modules);
#endif

        /* PyThreadState */
        O("tstate.next", PyThreadState, next);
        O("tstate.interp", PyThreadState, interp);
#if PYV >= 313
        O("tstate.frame", PyThreadState, current_frame);
#elif PYV >= 311
        O("tstate.frame", PyThreadState, cframe);
        O("cframe.current_frame", _PyCFrame, current_frame);
#else
        O("tstate.frame", PyThreadState, frame);
#endif
        O("tstate.thread_id", PyThreadState, thread_id);
#if PYV >= 311
        /* Added to PyThreadState in 3.11 (3.8 only added threading.get_native_id()). */
        O("tstate.native_thread_id", PyThreadState, native_thread_id);
        O("tstate.datastack_chunk", PyThreadState, datastack_chunk);
        O("tstate.datastack_top", PyThreadState, datastack_top);
#endif

#if PYV <= 310
        O("frame.back", PyFrameObject, f_back);
        O("frame.code", PyFrameObject, f_code);
        O("frame.lasti", PyFrameObject, f_lasti);
        O("frame.localsplus", PyFrameObject, f_localsplus);
#else
        O("iframe.previous", _PyInterpreterFrame, previous);
#  if PYV >= 313
        O("iframe.code", _PyInterpreterFrame, f_executable);
        O("iframe.instr", _PyInterpreterFrame, instr_ptr);
#  else
        O("iframe.code", _PyInterpreterFrame, f_code);
        O("iframe.instr", _PyInterpreterFrame, prev_instr);
#  endif
        O("iframe.owner", _PyInterpreterFrame, owner);
        O("iframe.localsplus", _PyInterpreterFrame, localsplus);
#endif

        /* PyCodeObject */
        O("code.name", PyCodeObject, co_name);
        O("code.filename", PyCodeObject, co_filename);
        O("code.firstlineno", PyCodeObject, co_firstlineno);
        O("code.nlocals", PyCodeObject, co_nlocals);
#if PYV >= 311
        O("code.qualname", PyCodeObject, co_qualname);
        O("code.linetable", PyCodeObject, co_linetable);
        O("code.varnames", PyCodeObject, co_localsplusnames);
        O("code.localspluskinds", PyCodeObject, co_localspluskinds);
        O("code.code_adaptive", PyCodeObject, co_code_adaptive);
        O("code.firsttraceable", PyCodeObject, _co_firsttraceable);
#else
#  if PYV >= 310
        O("code.linetable", PyCodeObject, co_linetable);
#  else
        O("code.linetable", PyCodeObject, co_lnotab);
#  endif
        O("code.varnames", PyCodeObject, co_varnames);
#endif

        O("object.ob_type", PyObject, ob_type);
        O("object.ob_size", PyVarObject, ob_size);
        O("type.tp_name", PyTypeObject, tp_name);
        O("type.tp_basicsize", PyTypeObject, tp_basicsize);
        O("type.tp_flags", PyTypeObject, tp_flags);
        O("type.tp_dictoffset", PyTypeObject, tp_dictoffset);
#if PYV >= 300
        O("type.ht_cached_keys", PyHeapTypeObject, ht_cached_keys);

        O("unicode.length", PyASCIIObject, length);
        O("unicode.state", PyASCIIObject, state);
        P("unicode.ascii_size", sizeof(PyASCIIObject));
        P("unicode.compact_size", sizeof(PyCompactUnicodeObject));
        O("unicode.legacy_data", PyUnicodeObject, data.any);

        O("bytes.ob_size", PyBytesObject, ob_base.ob_size);
        O("bytes.ob_sval", PyBytesObject, ob_sval);
#else
        O("unicode.length", PyUnicodeObject, length);
        O("unicode.legacy_data", PyUnicodeObject, str);
        P("unicode.sizeof_py_unicode", sizeof(Py_UNICODE));

        O("bytes.ob_size", PyStringObject, ob_size);
        O("bytes.ob_sval", PyStringObject, ob_sval);
        O("pyint.ob_ival", PyIntObject, ob_ival);
#endif

#if PYV >= 312
        O("pylong.lv_tag", PyLongObject, long_value.lv_tag);
        O("pylong.digits", PyLongObject, long_value.ob_digit);
#elif PYV >= 300
        O("pylong.lv_tag", PyLongObject, ob_base.ob_size);
        O("pylong.digits", PyLongObject, ob_digit);
#else
        /* 2.7's PyObject_VAR_HEAD is a list of members, not an ob_base struct. */
        O("pylong.lv_tag", PyLongObject, ob_size);
        O("pylong.digits", PyLongObject, ob_digit);
#endif
        O("pyfloat.ob_fval", PyFloatObject, ob_fval);
#if PYV >= 300
        O("tuple.ob_size", PyTupleObject, ob_base.ob_size);
        O("list.ob_size", PyListObject, ob_base.ob_size);
#else
        O("tuple.ob_size", PyTupleObject, ob_size);
        O("list.ob_size", PyListObject, ob_size);
#endif
        O("tuple.ob_item", PyTupleObject, ob_item);
        O("list.ob_item", PyListObject, ob_item);

        O("dict.ma_used", PyDictObject, ma_used);
#if PYV >= 300
        O("dict.ma_keys", PyDictObject, ma_keys);
        O("dict.ma_values", PyDictObject, ma_values);
#else
        O("dict.ma_keys", PyDictObject, ma_table);
        O("dict.dk_size", PyDictObject, ma_mask);
#endif
#if PYV >= 311
        O("dict.dk_size", PyDictKeysObject, dk_log2_size);
        O("dict.dk_log2_index_bytes", PyDictKeysObject, dk_log2_index_bytes);
        O("dict.dk_kind", PyDictKeysObject, dk_kind);
        O("dict.dk_nentries", PyDictKeysObject, dk_nentries);
        O("dict.dk_indices", PyDictKeysObject, dk_indices);
        O("dict.values_values", PyDictValues, values);
#endif

        O("set.used", PySetObject, used);
        O("set.mask", PySetObject, mask);
        O("set.table", PySetObject, table);
#if PYV >= 310
        O("module.md_dict", PyModuleObject, md_dict);
#endif
        O("cell.ob_ref", PyCellObject, ob_ref);
        return 0;
}
