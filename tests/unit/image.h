/* SPDX-License-Identifier: MIT */
#pragma once

/* A builder of synthetic target memory for unit tests: one contiguous segment at a chosen
 * remote base address, grown on demand, plus fake CPython objects laid out per a PyOffsets row.
 * Everything outside [base, base + size) is unmapped, so any other address is a dangling
 * pointer. Builders abort() on allocation failure: this is test code.
 *
 * Local pointers into the image (img_ptr) are invalidated by the next allocation; remote
 * addresses never change. Create the reader (img_reader) after the last allocation: it points
 * at the current buffer. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memreader.h"
#include "pyfind.h"
#include "pyobj.h"
#include "pyoffsets.h"

/* Where images start by default: a plausible user-space heap address. */
#define IMG_BASE_DEFAULT UINT64_C(0x7f1200000000)

typedef struct Image {
        uint64_t base;
        uint8_t *data;
        size_t size, cap;
        uint64_t sym[_PYSYM_MAX];       /* fake type objects and singletons, as PyTarget.sym */
} Image;

/* An empty image at base (0: IMG_BASE_DEFAULT). Its first 4 KiB stay unused, so small offsets
 * from base - or 0 - are never valid object addresses. */
void img_init(Image *img, uint64_t base);
void img_done(Image *img);

/* size zeroed bytes aligned to align (a power of two, 0 means 8); returns the remote address. */
uint64_t img_alloc(Image *img, size_t size, size_t align);
/* The local copy of remote [addr, addr + len): aborts when outside the image. */
void *img_ptr(Image *img, uint64_t addr, size_t len);

void img_put_u64(Image *img, uint64_t addr, uint64_t v);
void img_put_u32(Image *img, uint64_t addr, uint32_t v);
void img_put_u8(Image *img, uint64_t addr, uint8_t v);
void img_put_bytes(Image *img, uint64_t addr, const void *data, size_t len);
uint64_t img_get_u64(Image *img, uint64_t addr);

/* A fake PyTypeObject (PyHeapTypeObject-sized: ht_cached_keys is in range) named name;
 * tp_basicsize 16, no flags. */
uint64_t img_put_type(Image *img, const PyOffsets *o, const char *name);
/* The same with the fields getattr reads. */
uint64_t img_put_heap_type(Image *img, const PyOffsets *o, const char *name, uint64_t flags,
                           uint64_t basicsize, int64_t dictoffset, uint64_t cached_keys);
/* Fills img->sym: every builtin type the version has (PYSYM_TYPE_INT only on 2.7), None, True
 * and False. Call once, right after img_init(). */
void img_put_builtins(Image *img, const PyOffsets *o);

/* A zeroed object of size bytes (at least 16) with refcount 1 and ob_type type. */
uint64_t img_put_object(Image *img, const PyOffsets *o, uint64_t type, size_t size);

/* A string from UTF-8. sym is PYSYM_TYPE_STR (3.x str: compact ASCII/UCS1/UCS2/UCS4 chosen
 * from the widest character; 2.7: unicode, UCS4) or PYSYM_TYPE_BYTES (2.7 str, the bytes). */
uint64_t img_put_str(Image *img, const PyOffsets *o, PySym sym, const char *utf8);
/* The string type names are made of: 2.7 str, 3.x str. */
uint64_t img_put_name(Image *img, const PyOffsets *o, const char *utf8);
/* A 3.x non-compact ("legacy") str: data behind a pointer, of the given kind (1, 2, 4). */
uint64_t img_put_str_legacy(Image *img, const PyOffsets *o, const char *utf8, unsigned kind);
/* A bytes object (2.7: str) holding data. */
uint64_t img_put_pybytes(Image *img, const PyOffsets *o, const void *data, size_t len);

/* An int. sym: PYSYM_TYPE_LONG (3.x int, 2.7 long), PYSYM_TYPE_INT (2.7 int) or
 * PYSYM_TYPE_BOOL (a non-singleton bool; 2.7 int layout, 3.x long layout). */
uint64_t img_put_int(Image *img, const PyOffsets *o, PySym sym, int64_t v);
/* A PyLong from n base-2^30 digits, least significant first. */
uint64_t img_put_long_digits(Image *img, const PyOffsets *o, bool negative, const uint32_t *digits, size_t n);
uint64_t img_put_float(Image *img, const PyOffsets *o, double v);

uint64_t img_put_tuple(Image *img, const PyOffsets *o, size_t n, const uint64_t *items);
uint64_t img_put_list(Image *img, const PyOffsets *o, size_t n, const uint64_t *items);
/* A set or frozenset of the n items (distinct), in slots 0..n-1. */
uint64_t img_put_set(Image *img, const PyOffsets *o, bool frozen, size_t n, const uint64_t *items);

/* A combined dict of n (key, value) objects in insertion order, per o->dict_model. On 3.11+
 * the keys are "general" (dk_kind 0) unless unicode_keys, then {key, value} entries. The index
 * table is filled with i at slot i, not by hash: our reader walks the entries. */
uint64_t img_put_dict(Image *img, const PyOffsets *o, size_t n, const uint64_t *keys,
                      const uint64_t *values, bool unicode_keys);
/* A combined dict with str keys (made from the C strings; 2.7: str) and the given values. */
uint64_t img_put_dict_str(Image *img, const PyOffsets *o, size_t n, const char *const *keys,
                          const uint64_t *values);
/* 3.6+: a shared (split) keys object of the n names, values NULL (3.11+: dk_kind split). */
uint64_t img_put_shared_keys(Image *img, const PyOffsets *o, size_t n, const char *const *names);
/* 3.6+: a values array for shared keys (3.13: with its {capacity, size, embedded, valid}
 * header); returns the address to store in ma_values. */
uint64_t img_put_dict_values(Image *img, const PyOffsets *o, size_t n, const uint64_t *values);
/* 3.6+: a split dict over keys (from img_put_shared_keys) with n values. */
uint64_t img_put_split_dict(Image *img, const PyOffsets *o, uint64_t keys, size_t n, const uint64_t *values);

/* A module object whose md_dict is dict. */
uint64_t img_put_module(Image *img, const PyOffsets *o, uint64_t dict);

/* An instance of a fresh heap type named type_name with attributes names[i] = values[i], laid
 * out the way this version keeps a plain Python object's attributes: tp_dictoffset dict
 * (<= 3.10), 3.11 values with the type's cached keys, 3.12 tagged values, 3.13 inline values.
 * with_dict: the attributes live in a materialized dict instead (3.11+ managed dict pointer,
 * 3.13 inline values marked invalid). ret_type (may be NULL) receives the type. */
uint64_t img_put_instance(Image *img, const PyOffsets *o, const char *type_name, size_t n,
                          const char *const *names, const uint64_t *values, bool with_dict,
                          uint64_t *ret_type);

/* A code object: co_name and co_qualname (3.11+) name, co_filename filename, co_firstlineno,
 * the line table (co_lnotab / co_linetable per o->line_table) as a bytes object of linetable,
 * an empty varnames tuple and zero locals. 3.11+: room for 256 bytes of instructions at
 * o->code.code_adaptive. */
uint64_t img_put_code(Image *img, const PyOffsets *o, const char *name, const char *filename,
                      int firstlineno, const uint8_t *linetable, size_t linetable_len);

/* A reader over the image as it is now (memreader_new_image). */
int img_reader(Image *img, MemReader **ret);
/* A PyObjCtx for the image: reader mr, row o, the image's symbols. */
PyObjCtx img_ctx(Image *img, const PyOffsets *o, MemReader *mr);
