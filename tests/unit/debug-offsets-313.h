/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

/* _Py_DebugOffsets of a live CPython 3.13.0 (x86-64, GIL build), as 72 uint64 after the
 * 8-byte cookie: dumped with ctypes from _PyRuntime. Its member order is written out here
 * independently of the mirror in pyoffsets.c so that a slip there shows. */
enum {
        D_VERSION = 0, D_FREE_THREADED,
        D_RT_SIZE, D_RT_FINALIZING, D_RT_INTERPRETERS_HEAD,
        D_IS_SIZE, D_IS_ID, D_IS_NEXT, D_IS_THREADS_HEAD, D_IS_GC, D_IS_IMPORTS_MODULES,
        D_IS_SYSDICT, D_IS_BUILTINS, D_IS_CEVAL_GIL, D_IS_GIL, D_IS_GIL_ENABLED, D_IS_GIL_LOCKED,
        D_IS_GIL_HOLDER,
        D_TS_SIZE, D_TS_PREV, D_TS_NEXT, D_TS_INTERP, D_TS_CURRENT_FRAME, D_TS_THREAD_ID,
        D_TS_NATIVE_THREAD_ID, D_TS_DATASTACK_CHUNK, D_TS_STATUS,
        D_IF_SIZE, D_IF_PREVIOUS, D_IF_EXECUTABLE, D_IF_INSTR_PTR, D_IF_LOCALSPLUS, D_IF_OWNER,
        D_CO_SIZE, D_CO_FILENAME, D_CO_NAME, D_CO_QUALNAME, D_CO_LINETABLE, D_CO_FIRSTLINENO,
        D_CO_ARGCOUNT, D_CO_LOCALSPLUSNAMES, D_CO_LOCALSPLUSKINDS, D_CO_CODE_ADAPTIVE,
        D_OB_SIZE, D_OB_TYPE,
        D_TP_SIZE, D_TP_NAME, D_TP_REPR, D_TP_FLAGS,
        D_TU_SIZE, D_TU_ITEM, D_TU_OB_SIZE,
        D_LI_SIZE, D_LI_ITEM, D_LI_OB_SIZE,
        D_DI_SIZE, D_DI_KEYS, D_DI_VALUES,
        D_FL_SIZE, D_FL_FVAL,
        D_LO_SIZE, D_LO_LV_TAG, D_LO_DIGIT,
        D_BY_SIZE, D_BY_OB_SIZE, D_BY_SVAL,
        D_UN_SIZE, D_UN_STATE, D_UN_LENGTH, D_UN_ASCII_SIZE,
        D_GC_SIZE, D_GC_COLLECTING,
        _D_MAX,
};

static const uint64_t live313[_D_MAX] = {
        0x30d00f0, 0, 283320, 608, 632, 194968, 7272, 7264, 7344, 7400, 7656, 7640, 7648, 16,
        7752, 0, 7768, 7760, 304, 0, 8, 16, 72, 152, 160, 232, 32, 80, 8, 0, 56, 72, 70, 208,
        112, 120, 128, 136, 68, 52, 96, 104, 200, 16, 8, 416, 24, 88, 168, 32, 24, 16, 40, 24,
        16, 48, 32, 40, 24, 16, 32, 16, 24, 40, 16, 32, 64, 32, 16, 40, 240, 200,
};
