/* SPDX-License-Identifier: MIT */
#pragma once

/* Per-CPython-version layouts, as data. One const row per supported minor version lives in
 * pyoffsets.c; the walker reads fields by these offsets from local copies of remote structs and
 * branches only on the model enums below, each in one place, never on version numbers.
 *
 * All offsets are in bytes from the start of the named CPython struct (x86-64 Linux, LP64).
 * OFF_NONE marks a field this version does not have. Sizes ("size") are how many bytes the
 * walker copies in one read: at least up to the last field it uses. */

#include <stdint.h>

#include "memreader.h"

#define OFF_NONE UINT32_MAX

typedef enum FrameModel {
        FRAME_OBJECT,   /* <= 3.10: tstate->frame is a PyFrameObject, linked by f_back */
        IFRAME_CFRAME,  /* 3.11, 3.12: tstate->cframe->current_frame, a _PyInterpreterFrame */
        IFRAME,         /* 3.13+: tstate->current_frame */
        _FRAME_MODEL_MAX,
} FrameModel;

typedef enum LineTable {
        LNOTAB,         /* <= 3.9: co_lnotab, byte offsets; signed line deltas from 3.6 */
        LINETABLE_310,  /* 3.10: co_linetable, (offset delta, line delta) pairs */
        LOCATIONS_311,  /* 3.11+: the varint location table */
        _LINE_TABLE_MAX,
} LineTable;

typedef enum LastiModel {
        LASTI_BYTES,      /* f_lasti is a byte offset (<= 3.9) */
        LASTI_UNITS,      /* f_lasti counts 2-byte code units (3.10) */
        LASTI_PREV_INSTR, /* iframe pointer to the code unit before the next one (3.11, 3.12) */
        LASTI_INSTR_PTR,  /* iframe pointer to the current instruction (3.13+) */
        _LASTI_MODEL_MAX,
} LastiModel;

typedef enum GilModel {
        GIL_TSTATE_CURRENT_SYMBOL, /* 2.7, 3.6: the global _PyThreadState_Current holds it */
        GIL_TSTATE_CURRENT_RUNTIME,/* 3.7-3.11: _PyRuntime.gilstate.tstate_current */
        GIL_INTERP_CEVAL,          /* 3.12+: interp->ceval.gil -> {last_holder, locked} */
        _GIL_MODEL_MAX,
} GilModel;

typedef enum StrModel {
        STR_BYTES_27,   /* 2.7: names are PyStringObject */
        STR_UNICODE,    /* 3.x: PEP 393 PyUnicode (compact ASCII / UCS1/2/4) */
        _STR_MODEL_MAX,
} StrModel;

typedef enum DictModel {
        DICT_27,        /* 2.7: ma_mask, ma_table of {hash, key, value} */
        DICT_36,        /* 3.6-3.10: ma_keys -> {dk_size, dk_nentries, indices[], entries[]} */
        DICT_311,       /* 3.11+: dk_log2_size, dk_log2_index_bytes, dk_kind (unicode entries) */
        _DICT_MODEL_MAX,
} DictModel;

typedef enum LongModel {
        LONG_OB_SIZE,   /* <= 3.11: sign and digit count in ob_size */
        LONG_LV_TAG,    /* 3.12+: lv_tag = ndigits << 3 | sign bits */
        _LONG_MODEL_MAX,
} LongModel;

typedef enum AttrModel {
        ATTR_DICTOFFSET,     /* <= 3.10: instance dict at tp_dictoffset */
        ATTR_MANAGED_311,    /* 3.11: values at obj[-4], dict at obj[-3] (MANAGED_DICT types) */
        ATTR_MANAGED_312,    /* 3.12: tagged dict-or-values at obj[-3] */
        ATTR_INLINE_313,     /* 3.13: inline values at obj + tp_basicsize, dict at obj[-3] */
        _ATTR_MODEL_MAX,
} AttrModel;

typedef struct PyOffsets {
        uint8_t major, minor;
        FrameModel frame_model;
        LineTable line_table;
        LastiModel lasti_model;
        GilModel gil_model;
        StrModel str_model;
        DictModel dict_model;
        LongModel long_model;
        AttrModel attr_model;

        /* _PyRuntimeState (3.7+); for 2.7/3.6 the walker uses the interp_head symbol. */
        struct { uint32_t size, interpreters_head, tstate_current; } runtime;
        /* PyInterpreterState */
        struct { uint32_t size, next, tstate_head, modules, ceval_gil; } interp;
        /* struct _gil_runtime_state (3.12+) */
        struct { uint32_t size, last_holder, locked; } gil;
        /* PyThreadState; frame is tstate->frame (FRAME_OBJECT), tstate->cframe (IFRAME_CFRAME)
         * or tstate->current_frame (IFRAME). native_thread_id is OFF_NONE before 3.11 (the sampler then
         * reads the tid from glibc's struct pthread). */
        struct {
                uint32_t size, next, interp, frame, thread_id, native_thread_id;
                /* 3.11+: the thread's current _PyStackChunk and its top (PyObject **), so
                 * that one read fetches every frame the thread keeps in that chunk. */
                uint32_t datastack_chunk, datastack_top;
        } tstate;
        /* _PyCFrame (IFRAME_CFRAME only) */
        struct { uint32_t current_frame; } cframe;
        /* PyFrameObject (FRAME_OBJECT only); localsplus is f_localsplus. */
        struct { uint32_t size, back, code, lasti, localsplus; } frame;
        /* _PyInterpreterFrame (3.11+). code is f_code / f_executable; instr is prev_instr or
         * instr_ptr per lasti_model. */
        struct { uint32_t size, previous, code, instr, owner, localsplus; } iframe;
        /* PyCodeObject. varnames is co_varnames (<= 3.10, first nlocals entries are the
         * locals) or co_localsplusnames (3.11+, with localspluskinds). linetable is co_lnotab,
         * co_linetable per line_table. code_adaptive/firsttraceable are 3.11+. */
        struct {
                uint32_t size, name, qualname, filename, firstlineno, linetable, varnames,
                        localspluskinds, nlocals, code_adaptive, firsttraceable;
        } code;
        /* PyObject / PyVarObject */
        struct { uint32_t ob_type, ob_size; } object;
        /* PyTypeObject and PyHeapTypeObject */
        struct { uint32_t tp_name, tp_basicsize, tp_flags, tp_dictoffset, ht_cached_keys; } type;
        /* PyUnicode (STR_UNICODE): state word offset, ASCII header size, compact header size,
         * and where a legacy (non-compact) string keeps its data pointer. */
        struct { uint32_t length, state, ascii_size, compact_size, legacy_data; } unicode;
        /* PyBytesObject (3.x) or PyStringObject (2.7) */
        struct { uint32_t ob_size, ob_sval; } bytes;
        /* PyIntObject (2.7 only) */
        struct { uint32_t ob_ival; } pyint;
        struct { uint32_t lv_tag, digits; } pylong;  /* lv_tag is ob_size under LONG_OB_SIZE */
        struct { uint32_t ob_fval; } pyfloat;
        struct { uint32_t ob_size, ob_item; } tuple;   /* items inline */
        struct { uint32_t ob_size, ob_item; } list;    /* ob_item is a pointer */
        /* PyDictObject and its keys object. For DICT_27 ma_keys is ma_table, dk_size is
         * ma_mask; for DICT_36 dk_size is the table size; for DICT_311 it is dk_log2_size. */
        struct {
                uint32_t ma_used, ma_keys, ma_values, dk_size, dk_log2_index_bytes, dk_kind,
                        dk_nentries, dk_indices, values_values;
        } dict;
        /* PySetObject */
        struct { uint32_t used, mask, table; } set;
        /* PyModuleObject */
        struct { uint32_t md_dict; } module;
        /* PyCellObject */
        struct { uint32_t ob_ref; } cell;
} PyOffsets;

/* The row for major.minor, or NULL: an unsupported version is never mapped to "the latest". */
const PyOffsets *pyoffsets_lookup(unsigned major, unsigned minor);

/* Every row, for tests and fuzzers; *n receives the count. */
const PyOffsets *pyoffsets_all(size_t *n);

/* 3.13+: fill ret from the interpreter's own _Py_DebugOffsets at addr (the start of
 * _PyRuntime), starting from the built-in row for that version. Checks the "xdebugpy" cookie
 * and the version; -EBADMSG on a bad cookie or nonsense offsets, -EPROTONOSUPPORT when the
 * version has no row, or a read error. Does not log. */
int pyoffsets_from_debug_offsets(MemReader *mr, uint64_t addr, PyOffsets *ret);
