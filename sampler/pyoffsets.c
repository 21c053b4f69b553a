/* SPDX-License-Identifier: MIT */
/* The per-version layout table. Numbers are byte offsets for x86-64 Linux (LP64), default
 * non-debug, GIL builds, taken from each version's own headers (offsetof() under
 * Py_BUILD_CORE) and, where no installed header declares the struct (PyDictKeysObject before
 * 3.11, PyModuleObject before 3.10), from reading a live interpreter's memory.
 * tests/offsets/check-offsets.sh recomputes every number both ways on the installed pyenv
 * versions (2.7.18, 3.6.15, 3.7.16, 3.8.18, 3.9.18, 3.10.13, 3.11.7, 3.12.1, 3.13.0); keep
 * it green when touching a row.
 *
 * Every field is written out in every row, OFF_NONE included: a forgotten field must not
 * silently read as offset 0. The "size" of a group is the last offset used + 8, so one read
 * covers every field the walker takes from that struct without copying whole (sometimes
 * very large) structs. */

#include <errno.h>
#include <string.h>

#include "macro.h"
#include "pyoffsets.h"

#define N OFF_NONE

static const PyOffsets rows[] = {
        /* ---- 2.7: Include/pystate.h, frameobject.h, code.h, stringobject.h, intobject.h,
         * dictobject.h (old open-addressing dict), unicodeobject.h. */
        {
                .major = 2, .minor = 7,
                .frame_model = FRAME_OBJECT, .line_table = LNOTAB, .lasti_model = LASTI_BYTES,
                .gil_model = GIL_TSTATE_CURRENT_SYMBOL, .str_model = STR_BYTES_27,
                .dict_model = DICT_27, .long_model = LONG_OB_SIZE, .attr_model = ATTR_DICTOFFSET,
                /* No _PyRuntime: the walker starts from the interp_head symbol. */
                .runtime = { .size = N, .interpreters_head = N, .tstate_current = N },
                /* PyInterpreterState: next, tstate_head, modules */
                .interp = { .size = 24, .next = 0, .tstate_head = 8, .modules = 16, .ceval_gil = N },
                .gil = { .size = N, .last_holder = N, .locked = N },
                /* PyThreadState: next is the first member (no prev yet) */
                .tstate = { .size = 152, .next = 0, .interp = 8, .frame = 16, .thread_id = 144,
                            .native_thread_id = N, .datastack_chunk = N, .datastack_top = N },
                .cframe = { .current_frame = N },
                /* PyFrameObject: f_back, f_code, f_lasti, f_localsplus */
                .frame = { .size = 384, .back = 24, .code = 32, .lasti = 120, .localsplus = 376 },
                .iframe = { .size = N, .previous = N, .code = N, .instr = N, .owner = N, .localsplus = N },
                /* PyCodeObject: co_name, co_filename, co_firstlineno, co_lnotab, co_varnames,
                 * co_nlocals */
                .code = { .size = 112, .name = 88, .qualname = N, .filename = 80, .firstlineno = 96,
                          .linetable = 104, .varnames = 56, .localspluskinds = N, .nlocals = 20,
                          .code_adaptive = N, .firsttraceable = N },
                .object = { .ob_type = 8, .ob_size = 16 },
                /* PyTypeObject; 2.7 has no ht_cached_keys */
                .type = { .tp_name = 24, .tp_basicsize = 32, .tp_flags = 168, .tp_dictoffset = 288,
                          .ht_cached_keys = N },
                /* 2.7 PyUnicodeObject {length, Py_UNICODE *str, hash, defenc}: not PEP 393.
                 * pyenv builds 2.7 with UCS4 (sys.maxunicode == 0x10ffff, Py_UNICODE is
                 * 4 bytes); a distro UCS2 build has the same offsets, only 2-byte units. */
                .unicode = { .length = 16, .state = N, .ascii_size = N, .compact_size = N,
                             .legacy_data = 24 },
                /* PyStringObject: ob_size, ob_shash, int ob_sstate, ob_sval */
                .bytes = { .ob_size = 16, .ob_sval = 36 },
                .pyint = { .ob_ival = 16 },                 /* PyIntObject.ob_ival */
                .pylong = { .lv_tag = 16, .digits = 24 },   /* ob_size, ob_digit */
                .pyfloat = { .ob_fval = 16 },
                .tuple = { .ob_size = 16, .ob_item = 24 },
                .list = { .ob_size = 16, .ob_item = 24 },
                /* PyDictObject {ma_fill, ma_used, ma_mask, ma_table, ...}: dk_size is ma_mask
                 * and ma_keys is ma_table, both in the dict object itself. */
                .dict = { .ma_used = 24, .ma_keys = 40, .ma_values = N, .dk_size = 32,
                          .dk_log2_index_bytes = N, .dk_kind = N, .dk_nentries = N,
                          .dk_indices = N, .values_values = N },
                .set = { .used = 24, .mask = 32, .table = 40 },  /* PySetObject */
                .module = { .md_dict = 16 },  /* PyModuleObject (Objects/moduleobject.c) */
                .cell = { .ob_ref = 16 },
        },
        /* ---- 3.6: PyInterpreterState/PyThreadState still public in pystate.h; compact
         * ordered dict (Objects/dict-common.h). */
        {
                .major = 3, .minor = 6,
                .frame_model = FRAME_OBJECT, .line_table = LNOTAB, .lasti_model = LASTI_BYTES,
                .gil_model = GIL_TSTATE_CURRENT_SYMBOL, .str_model = STR_UNICODE,
                .dict_model = DICT_36, .long_model = LONG_OB_SIZE, .attr_model = ATTR_DICTOFFSET,
                .runtime = { .size = N, .interpreters_head = N, .tstate_current = N },
                .interp = { .size = 24, .next = 0, .tstate_head = 8, .modules = 16, .ceval_gil = N },
                .gil = { .size = N, .last_holder = N, .locked = N },
                /* PyThreadState: prev, next, interp, frame, ..., thread_id */
                .tstate = { .size = 160, .next = 8, .interp = 16, .frame = 24, .thread_id = 152,
                            .native_thread_id = N, .datastack_chunk = N, .datastack_top = N },
                .cframe = { .current_frame = N },
                .frame = { .size = 384, .back = 24, .code = 32, .lasti = 120, .localsplus = 376 },
                .iframe = { .size = N, .previous = N, .code = N, .instr = N, .owner = N, .localsplus = N },
                .code = { .size = 120, .name = 104, .qualname = N, .filename = 96, .firstlineno = 36,
                          .linetable = 112, .varnames = 64, .localspluskinds = N, .nlocals = 24,
                          .code_adaptive = N, .firsttraceable = N },
                .object = { .ob_type = 8, .ob_size = 16 },
                .type = { .tp_name = 24, .tp_basicsize = 32, .tp_flags = 168, .tp_dictoffset = 288,
                          .ht_cached_keys = 856 },
                /* PyASCIIObject {length, hash, state, wstr}; PyCompactUnicodeObject adds
                 * utf8_length, utf8, wstr_length; PyUnicodeObject adds data.any. */
                .unicode = { .length = 16, .state = 32, .ascii_size = 48, .compact_size = 72,
                             .legacy_data = 72 },
                .bytes = { .ob_size = 16, .ob_sval = 32 },   /* PyBytesObject: ob_shash, ob_sval */
                .pyint = { .ob_ival = N },
                .pylong = { .lv_tag = 16, .digits = 24 },
                .pyfloat = { .ob_fval = 16 },
                .tuple = { .ob_size = 16, .ob_item = 24 },
                .list = { .ob_size = 16, .ob_item = 24 },
                /* PyDictObject {ma_used, ma_version_tag, ma_keys, ma_values};
                 * PyDictKeysObject {dk_refcnt, dk_size, dk_lookup, dk_usable, dk_nentries,
                 * dk_indices}; ma_values is a plain PyObject ** (values_values 0). */
                .dict = { .ma_used = 16, .ma_keys = 32, .ma_values = 40, .dk_size = 8,
                          .dk_log2_index_bytes = N, .dk_kind = N, .dk_nentries = 32,
                          .dk_indices = 40, .values_values = 0 },
                .set = { .used = 24, .mask = 32, .table = 40 },
                .module = { .md_dict = 16 },
                .cell = { .ob_ref = 16 },
        },
        /* ---- 3.7: _PyRuntimeState appears (Include/internal/pystate.h). */
        {
                .major = 3, .minor = 7,
                .frame_model = FRAME_OBJECT, .line_table = LNOTAB, .lasti_model = LASTI_BYTES,
                .gil_model = GIL_TSTATE_CURRENT_RUNTIME, .str_model = STR_UNICODE,
                .dict_model = DICT_36, .long_model = LONG_OB_SIZE, .attr_model = ATTR_DICTOFFSET,
                /* _PyRuntimeState: interpreters.head, gilstate.tstate_current */
                .runtime = { .size = 1488, .interpreters_head = 24, .tstate_current = 1480 },
                /* PyInterpreterState: next, tstate_head, ..., modules (after id, id_refcount,
                 * id_mutex, check_interval) */
                .interp = { .size = 48, .next = 0, .tstate_head = 8, .modules = 40, .ceval_gil = N },
                .gil = { .size = N, .last_holder = N, .locked = N },
                .tstate = { .size = 184, .next = 8, .interp = 16, .frame = 24, .thread_id = 176,
                            .native_thread_id = N, .datastack_chunk = N, .datastack_top = N },
                .cframe = { .current_frame = N },
                .frame = { .size = 368, .back = 24, .code = 32, .lasti = 104, .localsplus = 360 },
                .iframe = { .size = N, .previous = N, .code = N, .instr = N, .owner = N, .localsplus = N },
                .code = { .size = 120, .name = 104, .qualname = N, .filename = 96, .firstlineno = 36,
                          .linetable = 112, .varnames = 64, .localspluskinds = N, .nlocals = 24,
                          .code_adaptive = N, .firsttraceable = N },
                .object = { .ob_type = 8, .ob_size = 16 },
                .type = { .tp_name = 24, .tp_basicsize = 32, .tp_flags = 168, .tp_dictoffset = 288,
                          .ht_cached_keys = 856 },
                .unicode = { .length = 16, .state = 32, .ascii_size = 48, .compact_size = 72,
                             .legacy_data = 72 },
                .bytes = { .ob_size = 16, .ob_sval = 32 },
                .pyint = { .ob_ival = N },
                .pylong = { .lv_tag = 16, .digits = 24 },
                .pyfloat = { .ob_fval = 16 },
                .tuple = { .ob_size = 16, .ob_item = 24 },
                .list = { .ob_size = 16, .ob_item = 24 },
                .dict = { .ma_used = 16, .ma_keys = 32, .ma_values = 40, .dk_size = 8,
                          .dk_log2_index_bytes = N, .dk_kind = N, .dk_nentries = 32,
                          .dk_indices = 40, .values_values = 0 },
                .set = { .used = 24, .mask = 32, .table = 40 },
                .module = { .md_dict = 16 },
                .cell = { .ob_ref = 16 },
        },
        /* ---- 3.8: PyInterpreterState moves to internal/pycore_pystate.h; PyCodeObject
         * gains co_posonlyargcount. */
        {
                .major = 3, .minor = 8,
                .frame_model = FRAME_OBJECT, .line_table = LNOTAB, .lasti_model = LASTI_BYTES,
                .gil_model = GIL_TSTATE_CURRENT_RUNTIME, .str_model = STR_UNICODE,
                .dict_model = DICT_36, .long_model = LONG_OB_SIZE, .attr_model = ATTR_DICTOFFSET,
                .runtime = { .size = 1376, .interpreters_head = 32, .tstate_current = 1368 },
                .interp = { .size = 64, .next = 0, .tstate_head = 8, .modules = 56, .ceval_gil = N },
                .gil = { .size = N, .last_holder = N, .locked = N },
                /* PyThreadState.native_thread_id only arrives in 3.11 */
                .tstate = { .size = 184, .next = 8, .interp = 16, .frame = 24, .thread_id = 176,
                            .native_thread_id = N, .datastack_chunk = N, .datastack_top = N },
                .cframe = { .current_frame = N },
                .frame = { .size = 368, .back = 24, .code = 32, .lasti = 104, .localsplus = 360 },
                .iframe = { .size = N, .previous = N, .code = N, .instr = N, .owner = N, .localsplus = N },
                .code = { .size = 128, .name = 112, .qualname = N, .filename = 104, .firstlineno = 40,
                          .linetable = 120, .varnames = 72, .localspluskinds = N, .nlocals = 28,
                          .code_adaptive = N, .firsttraceable = N },
                .object = { .ob_type = 8, .ob_size = 16 },
                .type = { .tp_name = 24, .tp_basicsize = 32, .tp_flags = 168, .tp_dictoffset = 288,
                          .ht_cached_keys = 872 },
                .unicode = { .length = 16, .state = 32, .ascii_size = 48, .compact_size = 72,
                             .legacy_data = 72 },
                .bytes = { .ob_size = 16, .ob_sval = 32 },
                .pyint = { .ob_ival = N },
                .pylong = { .lv_tag = 16, .digits = 24 },
                .pyfloat = { .ob_fval = 16 },
                .tuple = { .ob_size = 16, .ob_item = 24 },
                .list = { .ob_size = 16, .ob_item = 24 },
                .dict = { .ma_used = 16, .ma_keys = 32, .ma_values = 40, .dk_size = 8,
                          .dk_log2_index_bytes = N, .dk_kind = N, .dk_nentries = 32,
                          .dk_indices = 40, .values_values = 0 },
                .set = { .used = 24, .mask = 32, .table = 40 },
                .module = { .md_dict = 16 },
                .cell = { .ob_ref = 16 },
        },
        /* ---- 3.9: internal/pycore_interp.h and pycore_runtime.h; the per-interpreter
         * ceval state pushes interp->modules far out. */
        {
                .major = 3, .minor = 9,
                .frame_model = FRAME_OBJECT, .line_table = LNOTAB, .lasti_model = LASTI_BYTES,
                .gil_model = GIL_TSTATE_CURRENT_RUNTIME, .str_model = STR_UNICODE,
                .dict_model = DICT_36, .long_model = LONG_OB_SIZE, .attr_model = ATTR_DICTOFFSET,
                .runtime = { .size = 576, .interpreters_head = 32, .tstate_current = 568 },
                .interp = { .size = 864, .next = 0, .tstate_head = 8, .modules = 856, .ceval_gil = N },
                .gil = { .size = N, .last_holder = N, .locked = N },
                .tstate = { .size = 184, .next = 8, .interp = 16, .frame = 24, .thread_id = 176,
                            .native_thread_id = N, .datastack_chunk = N, .datastack_top = N },
                .cframe = { .current_frame = N },
                .frame = { .size = 368, .back = 24, .code = 32, .lasti = 104, .localsplus = 360 },
                .iframe = { .size = N, .previous = N, .code = N, .instr = N, .owner = N, .localsplus = N },
                .code = { .size = 128, .name = 112, .qualname = N, .filename = 104, .firstlineno = 40,
                          .linetable = 120, .varnames = 72, .localspluskinds = N, .nlocals = 28,
                          .code_adaptive = N, .firsttraceable = N },
                .object = { .ob_type = 8, .ob_size = 16 },
                /* PyTypeObject drops tp_print: ht_cached_keys 8 bytes earlier (3.10 adds am_send) */
                .type = { .tp_name = 24, .tp_basicsize = 32, .tp_flags = 168, .tp_dictoffset = 288,
                          .ht_cached_keys = 864 },
                .unicode = { .length = 16, .state = 32, .ascii_size = 48, .compact_size = 72,
                             .legacy_data = 72 },
                .bytes = { .ob_size = 16, .ob_sval = 32 },
                .pyint = { .ob_ival = N },
                .pylong = { .lv_tag = 16, .digits = 24 },
                .pyfloat = { .ob_fval = 16 },
                .tuple = { .ob_size = 16, .ob_item = 24 },
                .list = { .ob_size = 16, .ob_item = 24 },
                .dict = { .ma_used = 16, .ma_keys = 32, .ma_values = 40, .dk_size = 8,
                          .dk_log2_index_bytes = N, .dk_kind = N, .dk_nentries = 32,
                          .dk_indices = 40, .values_values = 0 },
                .set = { .used = 24, .mask = 32, .table = 40 },
                .module = { .md_dict = 16 },
                .cell = { .ob_ref = 16 },
        },
        /* ---- 3.10: co_linetable replaces co_lnotab, f_lasti counts code units. */
        {
                .major = 3, .minor = 10,
                .frame_model = FRAME_OBJECT, .line_table = LINETABLE_310, .lasti_model = LASTI_UNITS,
                .gil_model = GIL_TSTATE_CURRENT_RUNTIME, .str_model = STR_UNICODE,
                .dict_model = DICT_36, .long_model = LONG_OB_SIZE, .attr_model = ATTR_DICTOFFSET,
                .runtime = { .size = 576, .interpreters_head = 32, .tstate_current = 568 },
                .interp = { .size = 864, .next = 0, .tstate_head = 8, .modules = 856, .ceval_gil = N },
                .gil = { .size = N, .last_holder = N, .locked = N },
                .tstate = { .size = 184, .next = 8, .interp = 16, .frame = 24, .thread_id = 176,
                            .native_thread_id = N, .datastack_chunk = N, .datastack_top = N },
                .cframe = { .current_frame = N },
                /* PyFrameObject: f_stackdepth etc. replace f_stacktop; f_lasti is 8 earlier */
                .frame = { .size = 360, .back = 24, .code = 32, .lasti = 96, .localsplus = 352 },
                .iframe = { .size = N, .previous = N, .code = N, .instr = N, .owner = N, .localsplus = N },
                .code = { .size = 128, .name = 112, .qualname = N, .filename = 104, .firstlineno = 40,
                          .linetable = 120, .varnames = 72, .localspluskinds = N, .nlocals = 28,
                          .code_adaptive = N, .firsttraceable = N },
                .object = { .ob_type = 8, .ob_size = 16 },
                .type = { .tp_name = 24, .tp_basicsize = 32, .tp_flags = 168, .tp_dictoffset = 288,
                          .ht_cached_keys = 872 },
                .unicode = { .length = 16, .state = 32, .ascii_size = 48, .compact_size = 72,
                             .legacy_data = 72 },
                .bytes = { .ob_size = 16, .ob_sval = 32 },
                .pyint = { .ob_ival = N },
                .pylong = { .lv_tag = 16, .digits = 24 },
                .pyfloat = { .ob_fval = 16 },
                .tuple = { .ob_size = 16, .ob_item = 24 },
                .list = { .ob_size = 16, .ob_item = 24 },
                .dict = { .ma_used = 16, .ma_keys = 32, .ma_values = 40, .dk_size = 8,
                          .dk_log2_index_bytes = N, .dk_kind = N, .dk_nentries = 32,
                          .dk_indices = 40, .values_values = 0 },
                .set = { .used = 24, .mask = 32, .table = 40 },
                .module = { .md_dict = 16 },  /* internal/pycore_moduleobject.h */
                .cell = { .ob_ref = 16 },
        },
        /* ---- 3.11: _PyInterpreterFrame (internal/pycore_frame.h) reached through
         * tstate->cframe; interp->threads.head; new PyCodeObject and dict keys layout. */
        {
                .major = 3, .minor = 11,
                .frame_model = IFRAME_CFRAME, .line_table = LOCATIONS_311,
                .lasti_model = LASTI_PREV_INSTR, .gil_model = GIL_TSTATE_CURRENT_RUNTIME,
                .str_model = STR_UNICODE, .dict_model = DICT_311, .long_model = LONG_OB_SIZE,
                .attr_model = ATTR_MANAGED_311,
                .runtime = { .size = 584, .interpreters_head = 40, .tstate_current = 576 },
                /* PyInterpreterState: next, threads.head, ..., modules */
                .interp = { .size = 896, .next = 0, .tstate_head = 16, .modules = 888, .ceval_gil = N },
                .gil = { .size = N, .last_holder = N, .locked = N },
                /* PyThreadState: cframe, thread_id, native_thread_id */
                .tstate = { .size = 320, .next = 8, .interp = 16, .frame = 56, .thread_id = 152,
                            .native_thread_id = 160, .datastack_chunk = 296, .datastack_top = 304 },
                .cframe = { .current_frame = 8 },  /* _PyCFrame {int use_tracing; current_frame} */
                .frame = { .size = N, .back = N, .code = N, .lasti = N, .localsplus = N },
                /* _PyInterpreterFrame {f_func, f_globals, f_builtins, f_locals, f_code,
                 * frame_obj, previous, prev_instr, stacktop, is_entry, owner, localsplus} */
                .iframe = { .size = 80, .previous = 48, .code = 32, .instr = 56, .owner = 69,
                            .localsplus = 72 },
                /* PyCodeObject: co_nlocals still exists beside co_nlocalsplus, and is the
                 * count of plain locals we want. */
                .code = { .size = 192, .name = 120, .qualname = 128, .filename = 112,
                          .firstlineno = 72, .linetable = 136, .varnames = 96,
                          .localspluskinds = 104, .nlocals = 80, .code_adaptive = 184,
                          .firsttraceable = 168 },
                .object = { .ob_type = 8, .ob_size = 16 },
                .type = { .tp_name = 24, .tp_basicsize = 32, .tp_flags = 168, .tp_dictoffset = 288,
                          .ht_cached_keys = 872 },
                .unicode = { .length = 16, .state = 32, .ascii_size = 48, .compact_size = 72,
                             .legacy_data = 72 },
                .bytes = { .ob_size = 16, .ob_sval = 32 },
                .pyint = { .ob_ival = N },
                .pylong = { .lv_tag = 16, .digits = 24 },
                .pyfloat = { .ob_fval = 16 },
                .tuple = { .ob_size = 16, .ob_item = 24 },
                .list = { .ob_size = 16, .ob_item = 24 },
                /* PyDictKeysObject {dk_refcnt, u8 dk_log2_size, u8 dk_log2_index_bytes,
                 * u8 dk_kind, u32 dk_version, dk_usable, dk_nentries, dk_indices};
                 * PyDictValues {values[]} */
                .dict = { .ma_used = 16, .ma_keys = 32, .ma_values = 40, .dk_size = 8,
                          .dk_log2_index_bytes = 9, .dk_kind = 10, .dk_nentries = 24,
                          .dk_indices = 32, .values_values = 0 },
                .set = { .used = 24, .mask = 32, .table = 40 },
                .module = { .md_dict = 16 },
                .cell = { .ob_ref = 16 },
        },
        /* ---- 3.12: the GIL is per interpreter (interp->ceval.gil), the current tstate is
         * thread-local; imports.modules; PyLongObject gets long_value.lv_tag; PyASCIIObject
         * loses wstr. */
        {
                .major = 3, .minor = 12,
                .frame_model = IFRAME_CFRAME, .line_table = LOCATIONS_311,
                .lasti_model = LASTI_PREV_INSTR, .gil_model = GIL_INTERP_CEVAL,
                .str_model = STR_UNICODE, .dict_model = DICT_311, .long_model = LONG_LV_TAG,
                .attr_model = ATTR_MANAGED_312,
                .runtime = { .size = 48, .interpreters_head = 40, .tstate_current = N },
                /* PyInterpreterState: next, threads.head, ceval.gil, imports.modules */
                .interp = { .size = 952, .next = 0, .tstate_head = 72, .modules = 944, .ceval_gil = 384 },
                /* struct _gil_runtime_state {interval, last_holder, locked, ...} */
                .gil = { .size = 24, .last_holder = 8, .locked = 16 },
                .tstate = { .size = 256, .next = 8, .interp = 16, .frame = 56, .thread_id = 136,
                            .native_thread_id = 144, .datastack_chunk = 232, .datastack_top = 240 },
                .cframe = { .current_frame = 0 },  /* _PyCFrame {current_frame, previous} */
                .frame = { .size = N, .back = N, .code = N, .lasti = N, .localsplus = N },
                /* _PyInterpreterFrame {f_code, previous, f_funcobj, f_globals, f_builtins,
                 * f_locals, frame_obj, prev_instr, stacktop, return_offset, owner, localsplus} */
                .iframe = { .size = 80, .previous = 8, .code = 0, .instr = 56, .owner = 70,
                            .localsplus = 72 },
                .code = { .size = 200, .name = 120, .qualname = 128, .filename = 112,
                          .firstlineno = 68, .linetable = 136, .varnames = 96,
                          .localspluskinds = 104, .nlocals = 80, .code_adaptive = 192,
                          .firsttraceable = 176 },
                .object = { .ob_type = 8, .ob_size = 16 },
                .type = { .tp_name = 24, .tp_basicsize = 32, .tp_flags = 168, .tp_dictoffset = 288,
                          .ht_cached_keys = 880 },
                .unicode = { .length = 16, .state = 32, .ascii_size = 40, .compact_size = 56,
                             .legacy_data = 56 },
                .bytes = { .ob_size = 16, .ob_sval = 32 },
                .pyint = { .ob_ival = N },
                .pylong = { .lv_tag = 16, .digits = 24 },  /* long_value.lv_tag, .ob_digit */
                .pyfloat = { .ob_fval = 16 },
                .tuple = { .ob_size = 16, .ob_item = 24 },
                .list = { .ob_size = 16, .ob_item = 24 },
                .dict = { .ma_used = 16, .ma_keys = 32, .ma_values = 40, .dk_size = 8,
                          .dk_log2_index_bytes = 9, .dk_kind = 10, .dk_nentries = 24,
                          .dk_indices = 32, .values_values = 0 },
                .set = { .used = 24, .mask = 32, .table = 40 },
                .module = { .md_dict = 16 },
                .cell = { .ob_ref = 16 },
        },
        /* ---- 3.13: no _PyCFrame (tstate->current_frame); _Py_DebugOffsets at the start
         * of _PyRuntime; PyInterpreterState begins with the ceval state, so next is far in;
         * PyDictValues grows a 4-byte header (capacity, size, embedded, valid). */
        {
                .major = 3, .minor = 13,
                .frame_model = IFRAME, .line_table = LOCATIONS_311,
                .lasti_model = LASTI_INSTR_PTR, .gil_model = GIL_INTERP_CEVAL,
                .str_model = STR_UNICODE, .dict_model = DICT_311, .long_model = LONG_LV_TAG,
                .attr_model = ATTR_INLINE_313,
                .runtime = { .size = 640, .interpreters_head = 632, .tstate_current = N },
                .interp = { .size = 7664, .next = 7264, .tstate_head = 7344, .modules = 7656,
                            .ceval_gil = 16 },
                /* struct _gil_runtime_state {interval, last_holder, locked, ...} */
                .gil = { .size = 24, .last_holder = 8, .locked = 16 },
                .tstate = { .size = 248, .next = 8, .interp = 16, .frame = 72, .thread_id = 152,
                            .native_thread_id = 160, .datastack_chunk = 232, .datastack_top = 240 },
                .cframe = { .current_frame = N },
                .frame = { .size = N, .back = N, .code = N, .lasti = N, .localsplus = N },
                /* _PyInterpreterFrame {f_executable, previous, ..., instr_ptr, stacktop,
                 * return_offset, owner, localsplus} */
                .iframe = { .size = 80, .previous = 8, .code = 0, .instr = 56, .owner = 70,
                            .localsplus = 72 },
                .code = { .size = 208, .name = 120, .qualname = 128, .filename = 112,
                          .firstlineno = 68, .linetable = 136, .varnames = 96,
                          .localspluskinds = 104, .nlocals = 80, .code_adaptive = 200,
                          .firsttraceable = 184 },
                .object = { .ob_type = 8, .ob_size = 16 },
                .type = { .tp_name = 24, .tp_basicsize = 32, .tp_flags = 168, .tp_dictoffset = 288,
                          .ht_cached_keys = 880 },
                .unicode = { .length = 16, .state = 32, .ascii_size = 40, .compact_size = 56,
                             .legacy_data = 56 },
                .bytes = { .ob_size = 16, .ob_sval = 32 },
                .pyint = { .ob_ival = N },
                .pylong = { .lv_tag = 16, .digits = 24 },
                .pyfloat = { .ob_fval = 16 },
                .tuple = { .ob_size = 16, .ob_item = 24 },
                .list = { .ob_size = 16, .ob_item = 24 },
                .dict = { .ma_used = 16, .ma_keys = 32, .ma_values = 40, .dk_size = 8,
                          .dk_log2_index_bytes = 9, .dk_kind = 10, .dk_nentries = 24,
                          .dk_indices = 32, .values_values = 8 },
                .set = { .used = 24, .mask = 32, .table = 40 },
                .module = { .md_dict = 16 },
                .cell = { .ob_ref = 16 },
        },
};

const PyOffsets *pyoffsets_lookup(unsigned major, unsigned minor) {
        for (size_t i = 0; i < ELEMENTSOF(rows); i++)
                if (rows[i].major == major && rows[i].minor == minor)
                        return &rows[i];
        return NULL;
}

const PyOffsets *pyoffsets_all(size_t *n) {
        if (n)
                *n = ELEMENTSOF(rows);
        return rows;
}

/* Mirror of the prefix of CPython 3.13's _Py_DebugOffsets
 * (Include/internal/pycore_runtime.h), every member a uint64_t. Only the 3.13 layout is
 * known: 3.14 inserts members, so the version is checked against our rows before anything
 * past the header is trusted. */
typedef struct DebugOffsets313 {
        char cookie[8];
        uint64_t version;       /* PY_VERSION_HEX */
        uint64_t free_threaded;
        struct {
                uint64_t size, finalizing, interpreters_head;
        } runtime_state;
        struct {
                uint64_t size, id, next, threads_head, gc, imports_modules, sysdict, builtins,
                        ceval_gil, gil_runtime_state, gil_runtime_state_enabled,
                        gil_runtime_state_locked, gil_runtime_state_holder;
        } interpreter_state;
        struct {
                uint64_t size, prev, next, interp, current_frame, thread_id, native_thread_id,
                        datastack_chunk, status;
        } thread_state;
        struct {
                uint64_t size, previous, executable, instr_ptr, localsplus, owner;
        } interpreter_frame;
        struct {
                uint64_t size, filename, name, qualname, linetable, firstlineno, argcount,
                        localsplusnames, localspluskinds, co_code_adaptive;
        } code_object;
        struct {
                uint64_t size, ob_type;
        } pyobject;
        struct {
                uint64_t size, tp_name, tp_repr, tp_flags;
        } type_object;
        struct {
                uint64_t size, ob_item, ob_size;
        } tuple_object;
        struct {
                uint64_t size, ob_item, ob_size;
        } list_object;
        struct {
                uint64_t size, ma_keys, ma_values;
        } dict_object;
        struct {
                uint64_t size, ob_fval;
        } float_object;
        struct {
                uint64_t size, lv_tag, ob_digit;
        } long_object;
        struct {
                uint64_t size, ob_size, ob_sval;
        } bytes_object;
        struct {
                uint64_t size, state, length, asciiobject_size;
        } unicode_object;
        struct {
                uint64_t size, collecting;
        } gc;
} DebugOffsets313;

/* 73 members of 8 bytes, as sizeof(_Py_DebugOffsets) in the 3.13.0 headers. */
_Static_assert(sizeof(DebugOffsets313) == 584, "DebugOffsets313 does not match 3.13");

#define DEBUG_COOKIE "xdebugpy"

/* Bound on any offset we accept from the target: the structs we index (interpreter state
 * being the largest, ~7 KiB of prefix in 3.13) are far below it, while garbage memory
 * almost never is. */
#define DEBUG_OFFSET_MAX (64u * 1024u)
/* Bound on a struct size: PyInterpreterState embeds big tables, so sizes get more room. */
#define DEBUG_SIZE_MAX (16u * 1024u * 1024u)

/* Stores a struct-relative offset taken from the target into *dst, after checking it lies
 * inside the struct (when the struct's size is given) and under the global bound. */
static int take(uint32_t *dst, uint64_t off, uint64_t struct_size, uint64_t width) {
        if (off >= DEBUG_OFFSET_MAX)
                return -EBADMSG;
        if (struct_size != 0 && off + width > struct_size)
                return -EBADMSG;
        *dst = (uint32_t) off;
        return 0;
}

/* Grows a group's read size so one copy covers the field at off. */
static void cover(uint32_t *size, uint32_t off) {
        if (off != OFF_NONE && (*size == OFF_NONE || *size < off + 8))
                *size = off + 8;
}

int pyoffsets_from_debug_offsets(MemReader *mr, uint64_t addr, PyOffsets *ret) {
        DebugOffsets313 d;
        const PyOffsets *row;
        PyOffsets o;
        int r;

        if (!mr || !ret)
                return -EINVAL;

        /* The header first: only once the version is known is the rest of the layout. */
        r = memreader_read(mr, addr, &d, offsetof(DebugOffsets313, runtime_state));
        if (r < 0)
                return r;
        if (memcmp(d.cookie, DEBUG_COOKIE, sizeof(d.cookie)) != 0)
                return -EBADMSG;

        unsigned major = (d.version >> 24) & 0xff, minor = (d.version >> 16) & 0xff;
        if (d.version >> 32 != 0)
                return -EBADMSG;
        row = pyoffsets_lookup(major, minor);
        /* Only 3.13's table layout is mirrored here; older rows have no debug offsets. */
        if (!row || row->frame_model != IFRAME || major != 3 || minor != 13)
                return -EPROTONOSUPPORT;
        /* Free-threaded builds have a larger PyObject header and other layouts: no row. */
        if (d.free_threaded != 0)
                return -EPROTONOSUPPORT;

        r = memreader_read(mr, addr, &d, sizeof(d));
        if (r < 0)
                return r;

        uint64_t sizes[] = {
                d.runtime_state.size, d.interpreter_state.size, d.thread_state.size,
                d.interpreter_frame.size, d.code_object.size, d.pyobject.size,
                d.type_object.size, d.tuple_object.size, d.list_object.size,
                d.dict_object.size, d.float_object.size, d.long_object.size,
                d.bytes_object.size, d.unicode_object.size,
        };
        for (size_t i = 0; i < ELEMENTSOF(sizes); i++)
                if (sizes[i] == 0 || sizes[i] > DEBUG_SIZE_MAX)
                        return -EBADMSG;

        o = *row;

#define TAKE(dst, group, field, width)                                                        \
        do {                                                                                   \
                r = take(&(dst), d.group.field, d.group.size, (width));                        \
                if (r < 0)                                                                     \
                        return r;                                                              \
        } while (0)

        TAKE(o.runtime.interpreters_head, runtime_state, interpreters_head, 8);

        TAKE(o.interp.next, interpreter_state, next, 8);
        TAKE(o.interp.tstate_head, interpreter_state, threads_head, 8);
        TAKE(o.interp.modules, interpreter_state, imports_modules, 8);
        TAKE(o.interp.ceval_gil, interpreter_state, ceval_gil, 8);

        /* The debug offsets locate the interpreter's own embedded GIL (interp->_gil) and its
         * members relative to PyInterpreterState; what we want is their place inside struct
         * _gil_runtime_state, since ceval.gil may point at another interpreter's GIL. */
        {
                uint64_t base = d.interpreter_state.gil_runtime_state,
                         holder = d.interpreter_state.gil_runtime_state_holder,
                         locked = d.interpreter_state.gil_runtime_state_locked;
                if (base >= DEBUG_OFFSET_MAX || holder < base || locked < base)
                        return -EBADMSG;
                TAKE(o.gil.last_holder, interpreter_state, gil_runtime_state_holder, 8);
                TAKE(o.gil.locked, interpreter_state, gil_runtime_state_locked, 4);
                o.gil.last_holder -= (uint32_t) base;
                o.gil.locked -= (uint32_t) base;
        }

        TAKE(o.tstate.next, thread_state, next, 8);
        TAKE(o.tstate.interp, thread_state, interp, 8);
        TAKE(o.tstate.frame, thread_state, current_frame, 8);
        TAKE(o.tstate.thread_id, thread_state, thread_id, 8);
        TAKE(o.tstate.native_thread_id, thread_state, native_thread_id, 8);
        TAKE(o.tstate.datastack_chunk, thread_state, datastack_chunk, 8);
        /* Not in the debug offsets: datastack_top follows datastack_chunk in every version
         * that has them (Include/cpython/pystate.h). */
        o.tstate.datastack_top = o.tstate.datastack_chunk + 8;

        TAKE(o.iframe.previous, interpreter_frame, previous, 8);
        TAKE(o.iframe.code, interpreter_frame, executable, 8);
        TAKE(o.iframe.instr, interpreter_frame, instr_ptr, 8);
        TAKE(o.iframe.owner, interpreter_frame, owner, 1);
        /* localsplus is a trailing array: sizeof(_PyInterpreterFrame) includes one slot. */
        TAKE(o.iframe.localsplus, interpreter_frame, localsplus, 8);

        TAKE(o.code.filename, code_object, filename, 8);
        TAKE(o.code.name, code_object, name, 8);
        TAKE(o.code.qualname, code_object, qualname, 8);
        TAKE(o.code.linetable, code_object, linetable, 8);
        TAKE(o.code.firstlineno, code_object, firstlineno, 4);
        TAKE(o.code.varnames, code_object, localsplusnames, 8);
        TAKE(o.code.localspluskinds, code_object, localspluskinds, 8);
        /* co_code_adaptive is a trailing array too, so it may sit right at the end. */
        TAKE(o.code.code_adaptive, code_object, co_code_adaptive, 0);

        TAKE(o.object.ob_type, pyobject, ob_type, 8);
        TAKE(o.type.tp_name, type_object, tp_name, 8);
        TAKE(o.type.tp_flags, type_object, tp_flags, 8);
        TAKE(o.tuple.ob_item, tuple_object, ob_item, 8);
        TAKE(o.tuple.ob_size, tuple_object, ob_size, 8);
        TAKE(o.list.ob_item, list_object, ob_item, 8);
        TAKE(o.list.ob_size, list_object, ob_size, 8);
        TAKE(o.dict.ma_keys, dict_object, ma_keys, 8);
        TAKE(o.dict.ma_values, dict_object, ma_values, 8);
        TAKE(o.pyfloat.ob_fval, float_object, ob_fval, 8);
        TAKE(o.pylong.lv_tag, long_object, lv_tag, 8);
        TAKE(o.pylong.digits, long_object, ob_digit, 0);
        TAKE(o.bytes.ob_size, bytes_object, ob_size, 8);
        TAKE(o.bytes.ob_sval, bytes_object, ob_sval, 1);
        TAKE(o.unicode.state, unicode_object, state, 4);
        TAKE(o.unicode.length, unicode_object, length, 8);
        /* asciiobject_size is a size, not an offset: bound it, and it must hold length and
         * state. */
        if (d.unicode_object.asciiobject_size >= DEBUG_OFFSET_MAX ||
            d.unicode_object.asciiobject_size < (uint64_t) o.unicode.state + 4 ||
            d.unicode_object.asciiobject_size < (uint64_t) o.unicode.length + 8)
                return -EBADMSG;
        o.unicode.ascii_size = (uint32_t) d.unicode_object.asciiobject_size;
#undef TAKE

        /* Our own read sizes, never the target's sizeof(): those are whole structs (the
         * interpreter state is hundreds of KiB) and we only copy the prefix we use. */
        o.runtime.size = o.interp.size = o.gil.size = o.tstate.size = o.iframe.size =
                o.code.size = 0;
        cover(&o.runtime.size, o.runtime.interpreters_head);
        cover(&o.runtime.size, o.runtime.tstate_current);
        cover(&o.interp.size, o.interp.next);
        cover(&o.interp.size, o.interp.tstate_head);
        cover(&o.interp.size, o.interp.modules);
        cover(&o.interp.size, o.interp.ceval_gil);
        cover(&o.gil.size, o.gil.last_holder);
        cover(&o.gil.size, o.gil.locked);
        cover(&o.tstate.size, o.tstate.next);
        cover(&o.tstate.size, o.tstate.interp);
        cover(&o.tstate.size, o.tstate.frame);
        cover(&o.tstate.size, o.tstate.thread_id);
        cover(&o.tstate.size, o.tstate.native_thread_id);
        cover(&o.tstate.size, o.tstate.datastack_chunk);
        cover(&o.tstate.size, o.tstate.datastack_top);
        cover(&o.iframe.size, o.iframe.previous);
        cover(&o.iframe.size, o.iframe.code);
        cover(&o.iframe.size, o.iframe.instr);
        cover(&o.iframe.size, o.iframe.owner);
        cover(&o.iframe.size, o.iframe.localsplus);
        cover(&o.code.size, o.code.name);
        cover(&o.code.size, o.code.qualname);
        cover(&o.code.size, o.code.filename);
        cover(&o.code.size, o.code.firstlineno);
        cover(&o.code.size, o.code.linetable);
        cover(&o.code.size, o.code.varnames);
        cover(&o.code.size, o.code.localspluskinds);
        cover(&o.code.size, o.code.nlocals);
        cover(&o.code.size, o.code.code_adaptive);
        cover(&o.code.size, o.code.firsttraceable);

        *ret = o;
        return 0;
}
