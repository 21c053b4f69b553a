/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "macro.h"

/* Bytes reserved for a fake type object: past ht_cached_keys on every row (880 on 3.12+). */
#define IMG_TYPE_SIZE 1024
/* The unused gap at the start of every image. */
#define IMG_GUARD 4096
/* Room for instructions after a 3.11+ code object's header. */
#define IMG_CODE_SLACK 256
/* Longest string a test builds, in code points. */
#define IMG_STR_MAX 65536

/* State word bits (unicodeobject.h): kind at bit 2, compact bit 5, ascii bit 6. */
#define IMG_STATE(kind, compact, ascii) ((uint32_t) (kind) << 2 | (uint32_t) (compact) << 5 | (uint32_t) (ascii) << 6)

#define TPFLAGS_INLINE_VALUES (UINT64_C(1) << 2)
#define TPFLAGS_MANAGED_DICT (UINT64_C(1) << 4)
#define TPFLAGS_HEAPTYPE (UINT64_C(1) << 9)

static void *xrealloc(void *p, size_t n) {
        p = realloc(p, n);
        if (!p) {
                fprintf(stderr, "image: out of memory\n");
                abort();
        }
        return p;
}

void img_init(Image *img, uint64_t base) {
        *img = (Image) { .base = base ? base : IMG_BASE_DEFAULT };
        (void) img_alloc(img, IMG_GUARD, 8);
}

void img_done(Image *img) {
        free(img->data);
        *img = (Image) {};
}

uint64_t img_alloc(Image *img, size_t size, size_t align) {
        if (align == 0)
                align = 8;
        size_t start = (img->size + align - 1) & ~(align - 1);
        size_t end = start + size;
        if (end > img->cap) {
                size_t cap = MAX(img->cap * 2, (size_t) 65536);
                while (cap < end)
                        cap *= 2;
                img->data = xrealloc(img->data, cap);
                memset(img->data + img->cap, 0, cap - img->cap);
                img->cap = cap;
        }
        img->size = end;
        return img->base + start;
}

void *img_ptr(Image *img, uint64_t addr, size_t len) {
        if (addr < img->base || addr - img->base > img->size || len > img->size - (addr - img->base)) {
                fprintf(stderr, "image: 0x%llx+%zu outside the image\n", (unsigned long long) addr, len);
                abort();
        }
        return img->data + (addr - img->base);
}

void img_put_u64(Image *img, uint64_t addr, uint64_t v) {
        memcpy(img_ptr(img, addr, 8), &v, 8);
}

void img_put_u32(Image *img, uint64_t addr, uint32_t v) {
        memcpy(img_ptr(img, addr, 4), &v, 4);
}

void img_put_u8(Image *img, uint64_t addr, uint8_t v) {
        *(uint8_t *) img_ptr(img, addr, 1) = v;
}

void img_put_bytes(Image *img, uint64_t addr, const void *data, size_t len) {
        if (len > 0)
                memcpy(img_ptr(img, addr, len), data, len);
}

uint64_t img_get_u64(Image *img, uint64_t addr) {
        uint64_t v;
        memcpy(&v, img_ptr(img, addr, 8), 8);
        return v;
}

static uint64_t put_cstr(Image *img, const char *s) {
        size_t l = strlen(s);
        uint64_t a = img_alloc(img, l + 1, 1);
        img_put_bytes(img, a, s, l + 1);
        return a;
}

uint64_t img_put_heap_type(Image *img, const PyOffsets *o, const char *name, uint64_t flags,
                           uint64_t basicsize, int64_t dictoffset, uint64_t cached_keys) {
        uint64_t n = put_cstr(img, name);
        uint64_t t = img_alloc(img, IMG_TYPE_SIZE, 16);

        img_put_u64(img, t, 1);
        img_put_u64(img, t + o->type.tp_name, n);
        img_put_u64(img, t + o->type.tp_basicsize, basicsize);
        img_put_u64(img, t + o->type.tp_flags, flags);
        img_put_u64(img, t + o->type.tp_dictoffset, (uint64_t) dictoffset);
        if (o->type.ht_cached_keys != OFF_NONE)
                img_put_u64(img, t + o->type.ht_cached_keys, cached_keys);
        return t;
}

uint64_t img_put_type(Image *img, const PyOffsets *o, const char *name) {
        return img_put_heap_type(img, o, name, 0, 16, 0, 0);
}

uint64_t img_put_object(Image *img, const PyOffsets *o, uint64_t type, size_t size) {
        uint64_t a = img_alloc(img, MAX(size, (size_t) 16), 16);
        img_put_u64(img, a, 1);
        img_put_u64(img, a + o->object.ob_type, type);
        return a;
}

void img_put_builtins(Image *img, const PyOffsets *o) {
        bool py2 = o->major == 2;
        static const struct {
                PySym sym;
                const char *name3, *name2;
        } types[] = {
                { PYSYM_TYPE_INT, NULL, "int" },
                { PYSYM_TYPE_LONG, "int", "long" },
                { PYSYM_TYPE_BOOL, "bool", "bool" },
                { PYSYM_TYPE_FLOAT, "float", "float" },
                { PYSYM_TYPE_STR, "str", "unicode" },
                { PYSYM_TYPE_BYTES, "bytes", "str" },
                { PYSYM_TYPE_LIST, "list", "list" },
                { PYSYM_TYPE_TUPLE, "tuple", "tuple" },
                { PYSYM_TYPE_DICT, "dict", "dict" },
                { PYSYM_TYPE_SET, "set", "set" },
                { PYSYM_TYPE_FROZENSET, "frozenset", "frozenset" },
                { PYSYM_TYPE_CODE, "code", "code" },
                { PYSYM_TYPE_MODULE, "module", "module" },
                { PYSYM_TYPE_NONE, "NoneType", NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(types); i++) {
                const char *name = py2 ? types[i].name2 : types[i].name3;
                if (name)
                        img->sym[types[i].sym] = img_put_type(img, o, name);
        }
        img->sym[PYSYM_NONE] = img_put_object(img, o, img->sym[PYSYM_TYPE_NONE], 16);
        img->sym[PYSYM_TRUE] = img_put_int(img, o, PYSYM_TYPE_BOOL, 1);
        img->sym[PYSYM_FALSE] = img_put_int(img, o, PYSYM_TYPE_BOOL, 0);
}

/* UTF-8 to code points, for well-formed test input. */
static size_t utf8_to_cps(const char *s, uint32_t *cp, size_t max) {
        const uint8_t *p = (const uint8_t *) s;
        size_t n = 0;

        while (*p && n < max) {
                uint32_t c = *p++;
                int more = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
                if (more)
                        c &= 0x3f >> more;
                for (; more > 0 && (*p & 0xc0) == 0x80; more--)
                        c = c << 6 | (*p++ & 0x3f);
                cp[n++] = c;
        }
        return n;
}

static void put_units(Image *img, uint64_t data, const uint32_t *cp, size_t n, unsigned kind) {
        for (size_t i = 0; i < n; i++) {
                if (kind == 1)
                        img_put_u8(img, data + i, (uint8_t) cp[i]);
                else if (kind == 2) {
                        uint16_t u = (uint16_t) cp[i];
                        img_put_bytes(img, data + 2 * i, &u, 2);
                } else
                        img_put_u32(img, data + 4 * i, cp[i]);
        }
}

uint64_t img_put_pybytes(Image *img, const PyOffsets *o, const void *data, size_t len) {
        uint64_t a = img_put_object(img, o, img->sym[PYSYM_TYPE_BYTES], o->bytes.ob_sval + len + 1);
        img_put_u64(img, a + o->bytes.ob_size, len);
        img_put_bytes(img, a + o->bytes.ob_sval, data, len);
        return a;
}

uint64_t img_put_str(Image *img, const PyOffsets *o, PySym sym, const char *utf8) {
        if (sym == PYSYM_TYPE_BYTES)
                return img_put_pybytes(img, o, utf8, strlen(utf8));

        _cleanup_free_ uint32_t *cp = xrealloc(NULL, IMG_STR_MAX * sizeof(uint32_t));
        size_t n = utf8_to_cps(utf8, cp, IMG_STR_MAX);
        uint32_t maxc = 0;
        for (size_t i = 0; i < n; i++)
                maxc = MAX(maxc, cp[i]);

        if (o->str_model == STR_BYTES_27) {
                /* 2.7 unicode: length, Py_UNICODE *str (UCS4). */
                uint64_t data = img_alloc(img, 4 * (n + 1), 8);
                put_units(img, data, cp, n, 4);
                uint64_t a = img_put_object(img, o, img->sym[PYSYM_TYPE_STR], 48);
                img_put_u64(img, a + o->unicode.length, n);
                img_put_u64(img, a + o->unicode.legacy_data, data);
                return a;
        }

        bool ascii = maxc < 0x80;
        unsigned kind = maxc < 0x100 ? 1 : maxc < 0x10000 ? 2 : 4;
        uint32_t hdr = ascii ? o->unicode.ascii_size : o->unicode.compact_size;
        uint64_t a = img_put_object(img, o, img->sym[PYSYM_TYPE_STR], hdr + kind * (n + 1));
        img_put_u64(img, a + o->unicode.length, n);
        img_put_u64(img, a + 24, UINT64_MAX); /* hash: not computed */
        img_put_u32(img, a + o->unicode.state, IMG_STATE(kind, 1, ascii));
        put_units(img, a + hdr, cp, n, kind);
        return a;
}

uint64_t img_put_name(Image *img, const PyOffsets *o, const char *utf8) {
        return img_put_str(img, o, o->str_model == STR_BYTES_27 ? PYSYM_TYPE_BYTES : PYSYM_TYPE_STR, utf8);
}

uint64_t img_put_str_legacy(Image *img, const PyOffsets *o, const char *utf8, unsigned kind) {
        _cleanup_free_ uint32_t *cp = xrealloc(NULL, IMG_STR_MAX * sizeof(uint32_t));
        size_t n = utf8_to_cps(utf8, cp, IMG_STR_MAX);
        uint64_t data = img_alloc(img, kind * (n + 1), 8);
        put_units(img, data, cp, n, kind);

        uint64_t a = img_put_object(img, o, img->sym[PYSYM_TYPE_STR], o->unicode.legacy_data + 8);
        img_put_u64(img, a + o->unicode.length, n);
        img_put_u32(img, a + o->unicode.state, IMG_STATE(kind, 0, 0));
        img_put_u64(img, a + o->unicode.legacy_data, data);
        return a;
}

uint64_t img_put_long_digits(Image *img, const PyOffsets *o, bool negative, const uint32_t *digits, size_t n) {
        uint64_t a = img_put_object(img, o, img->sym[PYSYM_TYPE_LONG], o->pylong.digits + 4 * MAX(n, (size_t) 1));
        if (o->long_model == LONG_LV_TAG)
                img_put_u64(img, a + o->pylong.lv_tag, (uint64_t) n << 3 | (n == 0 ? 1 : negative ? 2 : 0));
        else
                img_put_u64(img, a + o->pylong.lv_tag, negative ? -(uint64_t) n : (uint64_t) n);
        for (size_t i = 0; i < n; i++)
                img_put_u32(img, a + o->pylong.digits + 4 * i, digits[i]);
        return a;
}

uint64_t img_put_int(Image *img, const PyOffsets *o, PySym sym, int64_t v) {
        if (sym == PYSYM_TYPE_INT || (sym == PYSYM_TYPE_BOOL && o->major == 2)) {
                uint64_t a = img_put_object(img, o, img->sym[sym], o->pyint.ob_ival + 8);
                img_put_u64(img, a + o->pyint.ob_ival, (uint64_t) v);
                return a;
        }

        uint32_t digits[3];
        size_t n = 0;
        uint64_t m = v < 0 ? -(uint64_t) v : (uint64_t) v;
        for (; m > 0; m >>= 30)
                digits[n++] = (uint32_t) (m & ((1u << 30) - 1));
        uint64_t a = img_put_long_digits(img, o, v < 0, digits, n);
        img_put_u64(img, a + o->object.ob_type, img->sym[sym]);
        return a;
}

uint64_t img_put_float(Image *img, const PyOffsets *o, double v) {
        uint64_t a = img_put_object(img, o, img->sym[PYSYM_TYPE_FLOAT], o->pyfloat.ob_fval + 8);
        img_put_bytes(img, a + o->pyfloat.ob_fval, &v, 8);
        return a;
}

uint64_t img_put_tuple(Image *img, const PyOffsets *o, size_t n, const uint64_t *items) {
        uint64_t a = img_put_object(img, o, img->sym[PYSYM_TYPE_TUPLE], o->tuple.ob_item + 8 * MAX(n, (size_t) 1));
        img_put_u64(img, a + o->tuple.ob_size, n);
        for (size_t i = 0; i < n; i++)
                img_put_u64(img, a + o->tuple.ob_item + 8 * i, items[i]);
        return a;
}

uint64_t img_put_list(Image *img, const PyOffsets *o, size_t n, const uint64_t *items) {
        uint64_t data = n > 0 ? img_alloc(img, 8 * n, 8) : 0;
        for (size_t i = 0; i < n; i++)
                img_put_u64(img, data + 8 * i, items[i]);
        uint64_t a = img_put_object(img, o, img->sym[PYSYM_TYPE_LIST], 40);
        img_put_u64(img, a + o->list.ob_size, n);
        img_put_u64(img, a + o->list.ob_item, data);
        return a;
}

/* The smallest power-of-two table (at least 8) whose usable 2/3 holds n. */
static uint64_t table_size(size_t n) {
        uint64_t s = 8;
        while (s * 2 / 3 < n)
                s *= 2;
        return s;
}

uint64_t img_put_set(Image *img, const PyOffsets *o, bool frozen, size_t n, const uint64_t *items) {
        uint64_t size = table_size(n);
        uint64_t table = img_alloc(img, 16 * size, 8);
        bool py2 = o->dict_model == DICT_27;

        for (size_t i = 0; i < n; i++) {
                /* setentry: 3.x {key, hash}, 2.7 {hash, key}; the hash is arbitrary here. */
                img_put_u64(img, table + 16 * i + (py2 ? 8 : 0), items[i]);
                img_put_u64(img, table + 16 * i + (py2 ? 0 : 8), i + 1);
        }
        uint64_t a = img_put_object(img, o, img->sym[frozen ? PYSYM_TYPE_FROZENSET : PYSYM_TYPE_SET], 200);
        img_put_u64(img, a + 16, n); /* fill */
        img_put_u64(img, a + o->set.used, n);
        img_put_u64(img, a + o->set.mask, size - 1);
        img_put_u64(img, a + o->set.table, table);
        return a;
}

/* A 3.6+ keys object of n entries; kind per img_put_dict (3.11+: 0 general, 1 unicode,
 * 2 split); values NULL writes no values. */
static uint64_t put_keys(Image *img, const PyOffsets *o, size_t n, const uint64_t *keys,
                         const uint64_t *values, unsigned kind) {
        uint64_t size = table_size(n), index_bytes, entry_size;

        if (o->dict_model == DICT_311) {
                unsigned log2 = 0;
                while ((UINT64_C(1) << log2) < size)
                        log2++;
                /* 1-byte indices up to 128 slots, as CPython; 2 beyond (tests stay small). */
                unsigned log2_ix = size <= 128 ? log2 : log2 + 1;
                index_bytes = UINT64_C(1) << log2_ix;
                entry_size = kind == 0 ? 24 : 16;
                uint64_t k = img_alloc(img, o->dict.dk_indices + index_bytes + entry_size * size, 8);
                img_put_u64(img, k, 1);
                img_put_u8(img, k + o->dict.dk_size, (uint8_t) log2);
                img_put_u8(img, k + o->dict.dk_log2_index_bytes, (uint8_t) log2_ix);
                img_put_u8(img, k + o->dict.dk_kind, (uint8_t) kind);
                img_put_u64(img, k + 16, size * 2 / 3 - n); /* dk_usable */
                img_put_u64(img, k + o->dict.dk_nentries, n);
                for (uint64_t i = 0; i < index_bytes; i++)
                        img_put_u8(img, k + o->dict.dk_indices + i, 0xff);
                for (size_t i = 0; i < n; i++) {
                        uint64_t e = k + o->dict.dk_indices + index_bytes + entry_size * i;
                        img_put_u8(img, k + o->dict.dk_indices + i * (size <= 128 ? 1 : 2), (uint8_t) i);
                        if (size > 128)
                                img_put_u8(img, k + o->dict.dk_indices + 2 * i + 1, 0);
                        if (kind == 0) {
                                img_put_u64(img, e, i + 1);
                                img_put_u64(img, e + 8, keys[i]);
                                img_put_u64(img, e + 16, values ? values[i] : 0);
                        } else {
                                img_put_u64(img, e, keys[i]);
                                img_put_u64(img, e + 8, values ? values[i] : 0);
                        }
                }
                return k;
        }

        /* DICT_36: {dk_refcnt, dk_size, dk_lookup, dk_usable, dk_nentries, indices, entries}. */
        unsigned ix = size <= 0xff ? 1 : size <= 0xffff ? 2 : 4;
        index_bytes = size * ix;
        uint64_t k = img_alloc(img, o->dict.dk_indices + index_bytes + 24 * size, 8);
        img_put_u64(img, k, 1);
        img_put_u64(img, k + o->dict.dk_size, size);
        img_put_u64(img, k + 24, size * 2 / 3 - n);
        img_put_u64(img, k + o->dict.dk_nentries, n);
        for (uint64_t i = 0; i < index_bytes; i++)
                img_put_u8(img, k + o->dict.dk_indices + i, 0xff);
        for (size_t i = 0; i < n; i++) {
                uint64_t e = k + o->dict.dk_indices + index_bytes + 24 * i;
                for (unsigned b = 0; b < ix; b++)
                        img_put_u8(img, k + o->dict.dk_indices + ix * i + b, b == 0 ? (uint8_t) i : 0);
                img_put_u64(img, e, i + 1);
                img_put_u64(img, e + 8, keys[i]);
                img_put_u64(img, e + 16, values ? values[i] : 0);
        }
        return k;
}

uint64_t img_put_dict(Image *img, const PyOffsets *o, size_t n, const uint64_t *keys,
                      const uint64_t *values, bool unicode_keys) {
        if (o->dict_model == DICT_27) {
                uint64_t size = table_size(n);
                uint64_t table = img_alloc(img, 24 * size, 8);
                for (size_t i = 0; i < n; i++) {
                        img_put_u64(img, table + 24 * i, i + 1);
                        img_put_u64(img, table + 24 * i + 8, keys[i]);
                        img_put_u64(img, table + 24 * i + 16, values[i]);
                }
                uint64_t a = img_put_object(img, o, img->sym[PYSYM_TYPE_DICT], 56 + 8 * 24);
                img_put_u64(img, a + 16, n); /* ma_fill */
                img_put_u64(img, a + o->dict.ma_used, n);
                img_put_u64(img, a + o->dict.dk_size, size - 1);
                img_put_u64(img, a + o->dict.ma_keys, table);
                return a;
        }

        uint64_t k = put_keys(img, o, n, keys, values, unicode_keys ? 1 : 0);
        uint64_t a = img_put_object(img, o, img->sym[PYSYM_TYPE_DICT], 64);
        img_put_u64(img, a + o->dict.ma_used, n);
        img_put_u64(img, a + o->dict.ma_keys, k);
        return a;
}

uint64_t img_put_dict_str(Image *img, const PyOffsets *o, size_t n, const char *const *keys,
                          const uint64_t *values) {
        _cleanup_free_ uint64_t *k = xrealloc(NULL, MAX(n, (size_t) 1) * sizeof(uint64_t));
        for (size_t i = 0; i < n; i++)
                k[i] = img_put_name(img, o, keys[i]);
        return img_put_dict(img, o, n, k, values, true);
}

uint64_t img_put_shared_keys(Image *img, const PyOffsets *o, size_t n, const char *const *names) {
        _cleanup_free_ uint64_t *k = xrealloc(NULL, MAX(n, (size_t) 1) * sizeof(uint64_t));
        for (size_t i = 0; i < n; i++)
                k[i] = img_put_name(img, o, names[i]);
        return put_keys(img, o, n, k, NULL, 2);
}

uint64_t img_put_dict_values(Image *img, const PyOffsets *o, size_t n, const uint64_t *values) {
        uint64_t cap = table_size(n) * 2 / 3;
        uint64_t v = img_alloc(img, o->dict.values_values + 8 * cap, 8);
        if (o->dict.values_values >= 4) {
                /* 3.13 {capacity, size, embedded, valid} */
                img_put_u8(img, v, (uint8_t) cap);
                img_put_u8(img, v + 1, (uint8_t) n);
                img_put_u8(img, v + 3, 1);
        }
        for (size_t i = 0; i < n; i++)
                img_put_u64(img, v + o->dict.values_values + 8 * i, values[i]);
        return v;
}

uint64_t img_put_split_dict(Image *img, const PyOffsets *o, uint64_t keys, size_t n, const uint64_t *values) {
        uint64_t v = img_put_dict_values(img, o, n, values);
        uint64_t a = img_put_object(img, o, img->sym[PYSYM_TYPE_DICT], 64);
        img_put_u64(img, a + o->dict.ma_used, n);
        img_put_u64(img, a + o->dict.ma_keys, keys);
        img_put_u64(img, a + o->dict.ma_values, v);
        return a;
}

uint64_t img_put_module(Image *img, const PyOffsets *o, uint64_t dict) {
        uint64_t a = img_put_object(img, o, img->sym[PYSYM_TYPE_MODULE], 64);
        img_put_u64(img, a + o->module.md_dict, dict);
        return a;
}

uint64_t img_put_instance(Image *img, const PyOffsets *o, const char *type_name, size_t n,
                          const char *const *names, const uint64_t *values, bool with_dict,
                          uint64_t *ret_type) {
        uint64_t type, obj, keys = 0;

        if (o->attr_model == ATTR_DICTOFFSET) {
                uint64_t d = img_put_dict_str(img, o, n, names, values);
                /* {ob_refcnt, ob_type, __dict__, __weakref__} */
                type = img_put_heap_type(img, o, type_name, TPFLAGS_HEAPTYPE, 32, 16, 0);
                obj = img_put_object(img, o, type, 32);
                img_put_u64(img, obj + 16, d);
        } else {
                bool inline_values = o->attr_model == ATTR_INLINE_313;
                keys = img_put_shared_keys(img, o, n, names);
                uint64_t flags = TPFLAGS_HEAPTYPE | TPFLAGS_MANAGED_DICT | (inline_values ? TPFLAGS_INLINE_VALUES : 0);
                type = img_put_heap_type(img, o, type_name, flags, 16, -1, keys);

                /* The pre-header: 3.11 {values, dict, gc next, gc prev}, 3.12+ {dict-or-values,
                 * weakref, gc next, gc prev}; 3.13 inline values follow the object. */
                uint64_t cap = table_size(n) * 2 / 3;
                uint64_t pre = img_alloc(img, 32 + 16 + o->dict.values_values + 8 * cap, 16);
                obj = pre + 32;
                img_put_u64(img, obj, 1);
                img_put_u64(img, obj + o->object.ob_type, type);

                if (with_dict) {
                        uint64_t d = img_put_dict_str(img, o, n, names, values);
                        img_put_u64(img, obj - 24, d);
                        if (inline_values)
                                img_put_u8(img, obj + 16 + 3, 0); /* valid = 0 */
                } else if (o->attr_model == ATTR_MANAGED_311) {
                        img_put_u64(img, obj - 32, img_put_dict_values(img, o, n, values));
                } else if (o->attr_model == ATTR_MANAGED_312) {
                        img_put_u64(img, obj - 24, img_put_dict_values(img, o, n, values) - 1);
                } else {
                        uint64_t v = obj + 16;
                        img_put_u8(img, v, (uint8_t) cap);
                        img_put_u8(img, v + 1, (uint8_t) n);
                        img_put_u8(img, v + 2, 1);
                        img_put_u8(img, v + 3, 1);
                        for (size_t i = 0; i < n; i++)
                                img_put_u64(img, v + o->dict.values_values + 8 * i, values[i]);
                }
        }
        if (ret_type)
                *ret_type = type;
        return obj;
}

uint64_t img_put_code(Image *img, const PyOffsets *o, const char *name, const char *filename,
                      int firstlineno, const uint8_t *linetable, size_t linetable_len) {
        uint64_t nm = img_put_name(img, o, name);
        uint64_t fn = img_put_name(img, o, filename);
        uint64_t lt = img_put_pybytes(img, o, linetable, linetable_len);
        uint64_t vn = img_put_tuple(img, o, 0, NULL);
        size_t size = o->code.size + (o->code.code_adaptive != OFF_NONE ? IMG_CODE_SLACK : 0);
        uint64_t c = img_put_object(img, o, img->sym[PYSYM_TYPE_CODE], size);

        img_put_u64(img, c + o->code.name, nm);
        if (o->code.qualname != OFF_NONE)
                img_put_u64(img, c + o->code.qualname, nm);
        img_put_u64(img, c + o->code.filename, fn);
        img_put_u32(img, c + o->code.firstlineno, (uint32_t) firstlineno);
        img_put_u64(img, c + o->code.linetable, lt);
        img_put_u64(img, c + o->code.varnames, vn);
        return c;
}

int img_reader(Image *img, MemReader **ret) {
        MemSegment seg = { .addr = img->base, .data = img->data, .len = img->size };
        return memreader_new_image(&seg, 1, ret);
}

PyObjCtx img_ctx(Image *img, const PyOffsets *o, MemReader *mr) {
        return (PyObjCtx) { .mr = mr, .o = o, .sym = img->sym };
}
