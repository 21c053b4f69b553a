/* SPDX-License-Identifier: MIT */
#pragma once

/* Decoding CPython objects from a target's memory: strings, ints, floats, containers, dicts,
 * instance attributes, and bounded repr()s for --locals. Every length, count and depth read from
 * the target is bounded here; nothing is trusted. Nothing here logs.
 *
 * Errors: -EFAULT / -ESRCH / -EPERM from the reader, -EBADMSG for nonsense (a negative length,
 * an unknown unicode kind, a count over its bound), -ENOENT for a missing key/attribute,
 * -ENOBUFS when a result did not fit (the output is still NUL-terminated and truncated). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memreader.h"
#include "pyfind.h"
#include "pyoffsets.h"

typedef struct PyObjCtx {
        MemReader *mr;
        const PyOffsets *o;
        const uint64_t *sym;     /* PyTarget.sym: remote addresses of the type objects */
} PyObjCtx;

/* Longest string we decode: longer ones are truncated. Names and file names are far shorter;
 * this bounds what a hostile length field can make us read. */
#define PYOBJ_STR_MAX 4096
/* Longest repr() produced for one local, in bytes, before "..." is appended. */
#define PYOBJ_REPR_MAX 256
/* Deepest nesting a repr() descends into (a list in a dict in a tuple ...). */
#define PYOBJ_REPR_DEPTH 3
/* Most elements shown of one container before "..." */
#define PYOBJ_REPR_ITEMS 16
/* Most entries examined when iterating or searching one dict. */
#define PYOBJ_DICT_MAX 100000

/* Reads the str (3.x unicode, 2.7 str or unicode) at addr as UTF-8 into buf (size len, NUL
 * terminated). Returns the byte length. Checks the object's type is a string type. Code-object
 * names and file names go through here. */
int pyobj_read_str(const PyObjCtx *c, uint64_t addr, char *buf, size_t len);

/* Reads the raw contents of a bytes object (2.7 str) into a malloc'ed buffer of at most max
 * bytes (over max: -EBADMSG). Used for line tables. */
int pyobj_read_bytes(const PyObjCtx *c, uint64_t addr, size_t max, uint8_t **ret, size_t *ret_len);

/* The type name (tp_name) of the object at addr into buf. */
int pyobj_type_name(const PyObjCtx *c, uint64_t addr, char *buf, size_t len);

/* The value of an int (2.7 int or long, 3.x int) that fits in int64. -ERANGE when it does not;
 * -EBADMSG when not an int. */
int pyobj_read_int(const PyObjCtx *c, uint64_t addr, int64_t *ret);

/* A repr()-like rendering of the object at addr into buf (size len), matching Python's repr()
 * for None, bool, int (any size), float, str, bytes, and bounded reprs of list, tuple, dict,
 * set and frozenset; anything else is "<TypeName at 0x...>". Output longer than PYOBJ_REPR_MAX
 * bytes is cut and ends in "...". Returns the length; never fails except on -ENOMEM-free
 * errors of reading the top object itself (then buf holds "<unreadable>"). */
int pyobj_repr(const PyObjCtx *c, uint64_t addr, char *buf, size_t len);

/* Calls cb for each (key, value) of the dict at addr, in insertion order where the version
 * keeps one; stops early and returns cb's value when it returns nonzero. At most
 * PYOBJ_DICT_MAX entries. Handles combined and split tables. */
typedef int (*pyobj_dict_cb)(void *userdata, uint64_t key, uint64_t value);
int pyobj_dict_foreach(const PyObjCtx *c, uint64_t dict, pyobj_dict_cb cb, void *userdata);

/* The value for the str key in the dict at addr; -ENOENT when absent. */
int pyobj_dict_get_str(const PyObjCtx *c, uint64_t dict, const char *key, uint64_t *ret);

/* The instance attribute name of the object at addr (its __dict__, a split/managed dict or the
 * 3.11+ inline values, per o->attr_model); -ENOENT when absent. */
int pyobj_getattr(const PyObjCtx *c, uint64_t obj, const char *name, uint64_t *ret);

/* The attribute dict of a module object (md_dict). */
int pyobj_module_dict(const PyObjCtx *c, uint64_t module, uint64_t *ret);

/* Formats a double as Python's repr() does (shortest round-trip, "1e+16", "0.1", "inf"). */
void pyobj_format_float(double v, char *buf, size_t len);
