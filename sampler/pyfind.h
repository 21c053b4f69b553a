/* SPDX-License-Identifier: MIT */
#pragma once

/* Finds the CPython interpreter inside a live process: which ELF file (the python binary or a
 * libpython) holds it, its load bias, its exact version, and the addresses of the globals and
 * type objects the walker needs. Nothing here logs; errors carry a detail string. */

#include <stdint.h>
#include <sys/types.h>

typedef enum PySym {
        PYSYM_RUNTIME,          /* _PyRuntime (3.7+) */
        PYSYM_INTERP_HEAD,      /* interp_head (2.7, 3.6; static: .symtab only) */
        PYSYM_TSTATE_CURRENT,   /* _PyThreadState_Current (2.7, 3.6) */
        PYSYM_VERSION,          /* Py_Version (3.11+): the PY_VERSION_HEX as a const int */
        PYSYM_NONE,             /* _Py_NoneStruct */
        PYSYM_TRUE,             /* _Py_TrueStruct */
        PYSYM_FALSE,            /* _Py_FalseStruct (2.7: _Py_ZeroStruct) */
        PYSYM_TYPE_INT,         /* PyInt_Type (2.7) */
        PYSYM_TYPE_LONG,        /* PyLong_Type */
        PYSYM_TYPE_BOOL,        /* PyBool_Type */
        PYSYM_TYPE_FLOAT,       /* PyFloat_Type */
        PYSYM_TYPE_STR,         /* PyUnicode_Type (3.x) / PyUnicode_Type (2.7 unicode) */
        PYSYM_TYPE_BYTES,       /* PyBytes_Type (3.x) / PyString_Type (2.7) */
        PYSYM_TYPE_LIST,        /* PyList_Type */
        PYSYM_TYPE_TUPLE,       /* PyTuple_Type */
        PYSYM_TYPE_DICT,        /* PyDict_Type */
        PYSYM_TYPE_SET,         /* PySet_Type */
        PYSYM_TYPE_FROZENSET,   /* PyFrozenSet_Type */
        PYSYM_TYPE_CODE,        /* PyCode_Type */
        PYSYM_TYPE_MODULE,      /* PyModule_Type */
        PYSYM_TYPE_NONE,        /* _PyNone_Type (3.x); 0 when absent */
        _PYSYM_MAX,
} PySym;

typedef struct PyTarget {
        pid_t pid;
        char executable[4096];   /* readlink /proc/PID/exe */
        char elf_path[4096];     /* the file holding the interpreter, as named in the maps */
        uint64_t load_bias;
        unsigned major, minor, micro;
        char version[32];        /* "3.11.7", "3.13.0", "2.7.18", "3.14.0a1" */
        uint64_t sym[_PYSYM_MAX];/* remote addresses (bias applied); 0 = not found */
} PyTarget;

/* Fills ret for process pid.
 *  -ESRCH           no such process (or a zombie: it has no memory to read)
 *  -EACCES, -EPERM  not allowed to read its maps/exe
 *  -ENOEXEC         no python binary or libpython among its mappings, or no usable symbols
 *  -EPROTONOSUPPORT a Python whose version has no layout row (version in ret->version)
 * On failure, reterr_detail (may be NULL, size detail_len) gets a short human-readable cause
 * such as "Python 3.14.0a1" or "no libpython or python binary mapped". */
int pyfind_locate(pid_t pid, PyTarget *ret, char *reterr_detail, size_t detail_len);
