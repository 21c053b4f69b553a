/* SPDX-License-Identifier: MIT */
/* The layout table's internal consistency (the numbers themselves are checked against real
 * interpreters by tests/offsets/check-offsets.sh) and pyoffsets_from_debug_offsets() on
 * synthetic memory images. */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "debug-offsets-313.h"
#include "macro.h"
#include "pyoffsets.h"
#include "tests.h"

#define V(maj, min) ((maj) * 100 + (min))

/* One offset field: where it is in PyOffsets, which size covers it, how many bytes the
 * walker reads there, and whether 0 is a legitimate value for it. */
typedef struct Field {
        const char *name;
        size_t off;       /* offsetof(PyOffsets, ...) */
        ssize_t size_off; /* offsetof(PyOffsets, group.size), or -1 when the group has none */
        unsigned width;
        bool zero_ok;
} Field;

#define G(group, field, width, zero_ok) \
        { #group "." #field, offsetof(PyOffsets, group.field), offsetof(PyOffsets, group.size), width, zero_ok }
#define U(group, field, width, zero_ok) \
        { #group "." #field, offsetof(PyOffsets, group.field), -1, width, zero_ok }

static const Field fields[] = {
        G(runtime, interpreters_head, 8, false), G(runtime, tstate_current, 8, false),
        G(interp, next, 8, true), G(interp, tstate_head, 8, false), G(interp, modules, 8, false),
        G(interp, ceval_gil, 8, true),
        G(gil, last_holder, 8, false), G(gil, locked, 4, false),
        G(tstate, next, 8, true), G(tstate, interp, 8, false), G(tstate, frame, 8, false),
        G(tstate, thread_id, 8, false), G(tstate, native_thread_id, 8, false),
        G(tstate, datastack_chunk, 8, false), G(tstate, datastack_top, 8, false),
        U(cframe, current_frame, 8, true),
        G(frame, back, 8, false), G(frame, code, 8, false), G(frame, lasti, 4, false),
        G(frame, localsplus, 8, false),
        G(iframe, previous, 8, true), G(iframe, code, 8, true), G(iframe, instr, 8, false),
        G(iframe, owner, 1, false), G(iframe, localsplus, 8, false),
        G(code, name, 8, false), G(code, qualname, 8, false), G(code, filename, 8, false),
        G(code, firstlineno, 4, false), G(code, linetable, 8, false), G(code, varnames, 8, false),
        G(code, localspluskinds, 8, false), G(code, nlocals, 4, false),
        G(code, code_adaptive, 2, false), G(code, firsttraceable, 4, false),
        U(object, ob_type, 8, false), U(object, ob_size, 8, false),
        U(type, tp_name, 8, false), U(type, tp_basicsize, 8, false), U(type, tp_flags, 8, false),
        U(type, tp_dictoffset, 8, false), U(type, ht_cached_keys, 8, false),
        U(unicode, length, 8, false), U(unicode, state, 4, false), U(unicode, ascii_size, 0, false),
        U(unicode, compact_size, 0, false), U(unicode, legacy_data, 8, false),
        U(bytes, ob_size, 8, false), U(bytes, ob_sval, 1, false),
        U(pyint, ob_ival, 8, false),
        U(pylong, lv_tag, 8, false), U(pylong, digits, 4, false),
        U(pyfloat, ob_fval, 8, false),
        U(tuple, ob_size, 8, false), U(tuple, ob_item, 8, false),
        U(list, ob_size, 8, false), U(list, ob_item, 8, false),
        U(dict, ma_used, 8, false), U(dict, ma_keys, 8, false), U(dict, ma_values, 8, false),
        U(dict, dk_size, 1, false), U(dict, dk_log2_index_bytes, 1, false),
        U(dict, dk_kind, 1, false), U(dict, dk_nentries, 8, false), U(dict, dk_indices, 1, false),
        U(dict, values_values, 8, true),
        U(set, used, 8, false), U(set, mask, 8, false), U(set, table, 8, false),
        U(module, md_dict, 8, false),
        U(cell, ob_ref, 8, false),
};

static uint32_t get(const PyOffsets *o, size_t off) {
        uint32_t v;
        memcpy(&v, (const uint8_t *) o + off, sizeof(v));
        return v;
}

static bool has(const PyOffsets *o, const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                if (streq_ptr(fields[i].name, name))
                        return get(o, fields[i].off) != OFF_NONE;
        fprintf(stderr, "unknown field %s\n", name);
        exit(1);
}

static void test_sizes(const PyOffsets *o) {
        static const size_t sizes[] = {
                offsetof(PyOffsets, runtime.size), offsetof(PyOffsets, interp.size),
                offsetof(PyOffsets, gil.size), offsetof(PyOffsets, tstate.size),
                offsetof(PyOffsets, frame.size), offsetof(PyOffsets, iframe.size),
                offsetof(PyOffsets, code.size),
        };

        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                const Field *f = &fields[i];
                uint32_t v = get(o, f->off);

                if (v == OFF_NONE)
                        continue;
                /* Offsets are small: a huge one is a typo or an unset field. */
                ASSERT_TRUE(v < 64 * 1024);
                if (v == 0 && !f->zero_ok) {
                        fprintf(stderr, "%u.%u: %s is 0\n", o->major, o->minor, f->name);
                        exit(1);
                }
                if (f->size_off >= 0) {
                        uint32_t size = get(o, (size_t) f->size_off);
                        if (size == OFF_NONE || (uint64_t) v + f->width > size) {
                                fprintf(stderr, "%u.%u: %s at %u (+%u) not covered by size %u\n",
                                        o->major, o->minor, f->name, v, f->width, size);
                                exit(1);
                        }
                }
        }
        /* A size exists exactly when its group has a field, and stays small: the walker
         * copies it on every sample. */
        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                uint32_t size = get(o, sizes[i]);
                bool any = false;

                for (size_t j = 0; j < ELEMENTSOF(fields); j++)
                        if (fields[j].size_off == (ssize_t) sizes[i] && get(o, fields[j].off) != OFF_NONE)
                                any = true;
                ASSERT_EQ(any, size != OFF_NONE);
                if (size != OFF_NONE)
                        ASSERT_TRUE(size > 0 && size <= 8192);
        }
}

static void test_models(const PyOffsets *o) {
        unsigned v = V(o->major, o->minor);

        ASSERT_EQ(o->frame_model, v <= V(3, 10) ? FRAME_OBJECT : v <= V(3, 12) ? IFRAME_CFRAME : IFRAME);
        ASSERT_EQ(o->line_table, v <= V(3, 9) ? LNOTAB : v == V(3, 10) ? LINETABLE_310 : LOCATIONS_311);
        ASSERT_EQ(o->lasti_model, v <= V(3, 9) ? LASTI_BYTES : v == V(3, 10) ? LASTI_UNITS :
                                  v <= V(3, 12) ? LASTI_PREV_INSTR : LASTI_INSTR_PTR);
        ASSERT_EQ(o->gil_model, v <= V(3, 6) ? GIL_TSTATE_CURRENT_SYMBOL :
                                v <= V(3, 11) ? GIL_TSTATE_CURRENT_RUNTIME : GIL_INTERP_CEVAL);
        ASSERT_EQ(o->str_model, o->major == 2 ? STR_BYTES_27 : STR_UNICODE);
        ASSERT_EQ(o->dict_model, o->major == 2 ? DICT_27 : v <= V(3, 10) ? DICT_36 : DICT_311);
        ASSERT_EQ(o->long_model, v <= V(3, 11) ? LONG_OB_SIZE : LONG_LV_TAG);
        ASSERT_EQ(o->attr_model, v <= V(3, 10) ? ATTR_DICTOFFSET : v == V(3, 11) ? ATTR_MANAGED_311 :
                                 v == V(3, 12) ? ATTR_MANAGED_312 : ATTR_INLINE_313);

        /* Each model's fields are there, and the other models' are not. */
        ASSERT_EQ(has(o, "frame.back"), o->frame_model == FRAME_OBJECT);
        ASSERT_EQ(has(o, "frame.code"), o->frame_model == FRAME_OBJECT);
        ASSERT_EQ(has(o, "frame.lasti"), o->frame_model == FRAME_OBJECT);
        ASSERT_EQ(has(o, "frame.localsplus"), o->frame_model == FRAME_OBJECT);
        ASSERT_EQ(has(o, "iframe.previous"), o->frame_model != FRAME_OBJECT);
        ASSERT_EQ(has(o, "iframe.code"), o->frame_model != FRAME_OBJECT);
        ASSERT_EQ(has(o, "iframe.instr"), o->frame_model != FRAME_OBJECT);
        ASSERT_EQ(has(o, "iframe.owner"), o->frame_model != FRAME_OBJECT);
        ASSERT_EQ(has(o, "iframe.localsplus"), o->frame_model != FRAME_OBJECT);
        ASSERT_EQ(has(o, "cframe.current_frame"), o->frame_model == IFRAME_CFRAME);
        ASSERT_TRUE(has(o, "tstate.frame"));

        ASSERT_EQ(has(o, "runtime.interpreters_head"), o->gil_model != GIL_TSTATE_CURRENT_SYMBOL);
        ASSERT_EQ(has(o, "runtime.tstate_current"), o->gil_model == GIL_TSTATE_CURRENT_RUNTIME);
        ASSERT_EQ(has(o, "interp.ceval_gil"), o->gil_model == GIL_INTERP_CEVAL);
        ASSERT_EQ(has(o, "gil.last_holder"), o->gil_model == GIL_INTERP_CEVAL);
        ASSERT_EQ(has(o, "gil.locked"), o->gil_model == GIL_INTERP_CEVAL);

        /* PyThreadState.native_thread_id first appears in 3.11. */
        ASSERT_EQ(has(o, "tstate.native_thread_id"), v >= V(3, 11));
        ASSERT_EQ(has(o, "tstate.datastack_chunk"), v >= V(3, 11));
        ASSERT_EQ(has(o, "tstate.datastack_top"), v >= V(3, 11));

        bool v311 = v >= V(3, 11);
        ASSERT_EQ(has(o, "code.qualname"), v311);
        ASSERT_EQ(has(o, "code.localspluskinds"), v311);
        ASSERT_EQ(has(o, "code.code_adaptive"), v311);
        ASSERT_EQ(has(o, "code.firsttraceable"), v311);
        ASSERT_TRUE(has(o, "code.nlocals") && has(o, "code.varnames") && has(o, "code.linetable"));

        ASSERT_EQ(has(o, "unicode.state"), o->str_model == STR_UNICODE);
        ASSERT_EQ(has(o, "unicode.ascii_size"), o->str_model == STR_UNICODE);
        ASSERT_EQ(has(o, "unicode.compact_size"), o->str_model == STR_UNICODE);
        ASSERT_TRUE(has(o, "unicode.length") && has(o, "unicode.legacy_data"));
        if (o->str_model == STR_UNICODE)
                ASSERT_TRUE(o->unicode.ascii_size < o->unicode.compact_size);
        ASSERT_EQ(has(o, "pyint.ob_ival"), o->major == 2);
        ASSERT_EQ(has(o, "type.ht_cached_keys"), o->major == 3);

        ASSERT_EQ(has(o, "dict.ma_values"), o->dict_model != DICT_27);
        ASSERT_EQ(has(o, "dict.values_values"), o->dict_model != DICT_27);
        ASSERT_EQ(has(o, "dict.dk_nentries"), o->dict_model != DICT_27);
        ASSERT_EQ(has(o, "dict.dk_indices"), o->dict_model != DICT_27);
        ASSERT_EQ(has(o, "dict.dk_log2_index_bytes"), o->dict_model == DICT_311);
        ASSERT_EQ(has(o, "dict.dk_kind"), o->dict_model == DICT_311);
        ASSERT_TRUE(has(o, "dict.dk_size"));
        /* ma_values is a plain PyObject ** before 3.13's PyDictValues header. */
        if (o->dict_model == DICT_36 || (o->dict_model == DICT_311 && v <= V(3, 12)))
                ASSERT_EQ(o->dict.values_values, 0);

        /* Every other field exists in every version. */
        static const char *const always[] = {
                "interp.next", "interp.tstate_head", "interp.modules", "tstate.next",
                "tstate.interp", "tstate.thread_id", "code.name", "code.filename",
                "code.firstlineno", "object.ob_type", "object.ob_size", "type.tp_name",
                "type.tp_basicsize", "type.tp_flags", "type.tp_dictoffset", "bytes.ob_size",
                "bytes.ob_sval", "pylong.lv_tag", "pylong.digits", "pyfloat.ob_fval",
                "tuple.ob_size", "tuple.ob_item", "list.ob_size", "list.ob_item", "dict.ma_used",
                "dict.ma_keys", "set.used", "set.mask", "set.table", "module.md_dict",
                "cell.ob_ref",
        };
        for (size_t i = 0; i < ELEMENTSOF(always); i++)
                ASSERT_TRUE(has(o, always[i]));
}

static void test_table(void) {
        static const unsigned want[][2] = {
                { 2, 7 }, { 3, 6 }, { 3, 7 }, { 3, 8 }, { 3, 9 }, { 3, 10 }, { 3, 11 }, { 3, 12 }, { 3, 13 },
        };
        const PyOffsets *all;
        size_t n = 0;

        all = pyoffsets_all(&n);
        ASSERT_TRUE(all);
        ASSERT_EQ(n, ELEMENTSOF(want));
        ASSERT_TRUE(pyoffsets_all(NULL) == all);

        for (size_t i = 0; i < n; i++) {
                const PyOffsets *o = &all[i];

                ASSERT_EQ(o->major, want[i][0]);
                ASSERT_EQ(o->minor, want[i][1]);
                ASSERT_TRUE(pyoffsets_lookup(o->major, o->minor) == o);
                test_models(o);
                test_sizes(o);
        }

        /* Unknown versions: NULL, never "the closest row". */
        ASSERT_TRUE(pyoffsets_lookup(3, 14) == NULL);
        ASSERT_TRUE(pyoffsets_lookup(2, 6) == NULL);
        ASSERT_TRUE(pyoffsets_lookup(2, 8) == NULL);
        ASSERT_TRUE(pyoffsets_lookup(3, 5) == NULL);
        ASSERT_TRUE(pyoffsets_lookup(3, 0) == NULL);
        ASSERT_TRUE(pyoffsets_lookup(4, 13) == NULL);
        ASSERT_TRUE(pyoffsets_lookup(3, 13 + 256) == NULL);
        ASSERT_TRUE(pyoffsets_lookup(0, 0) == NULL);
}

typedef struct Image {
        uint8_t bytes[8 + 8 * _D_MAX + 64]; /* a little slack after, as in real memory */
} Image;

#define BASE UINT64_C(0x7f0000001000)

static void image_init(Image *img) {
        memset(img, 0, sizeof(*img));
        memcpy(img->bytes, "xdebugpy", 8);
        memcpy(img->bytes + 8, live313, sizeof(live313));
}

static void image_set(Image *img, unsigned idx, uint64_t v) {
        memcpy(img->bytes + 8 + 8 * idx, &v, sizeof(v));
}

static int run(const Image *img, size_t len, PyOffsets *ret) {
        _cleanup_(memreader_freep) MemReader *mr = NULL;
        MemSegment seg = { .addr = BASE, .data = img->bytes, .len = len };

        ASSERT_OK(memreader_new_image(&seg, 1, &mr));
        return pyoffsets_from_debug_offsets(mr, BASE, ret);
}

static void assert_same_row(const PyOffsets *a, const PyOffsets *b) {
        ASSERT_EQ(a->major, b->major);
        ASSERT_EQ(a->minor, b->minor);
        /* Everything from frame_model on is 4-byte members: no padding to compare. */
        for (size_t off = offsetof(PyOffsets, frame_model); off < sizeof(PyOffsets); off += 4) {
                uint32_t x = get(a, off), y = get(b, off);
                if (x != y) {
                        fprintf(stderr, "PyOffsets differ at byte %zu: %u != %u\n", off, x, y);
                        exit(1);
                }
        }
}

static void test_debug_offsets(void) {
        const PyOffsets *row = pyoffsets_lookup(3, 13);
        PyOffsets o;
        Image img;

        ASSERT_TRUE(row);

        /* The real thing yields our 3.13 row, exactly. */
        image_init(&img);
        ASSERT_OK(run(&img, sizeof(img), &o));
        assert_same_row(&o, row);
        /* Also at exactly the table's length: nothing is read past it. */
        ASSERT_OK(run(&img, 8 + 8 * _D_MAX, &o));
        assert_same_row(&o, row);

        /* Values are taken from the image, not from the row, and sizes follow them. */
        image_init(&img);
        image_set(&img, D_TS_CURRENT_FRAME, 240);
        image_set(&img, D_IS_GIL_HOLDER, 7752 + 16);
        image_set(&img, D_IS_GIL_LOCKED, 7752 + 24);
        image_set(&img, D_CO_NAME, 176);
        ASSERT_OK(run(&img, sizeof(img), &o));
        ASSERT_EQ(o.tstate.frame, 240);
        ASSERT_TRUE(o.tstate.size >= 248);
        ASSERT_EQ(o.gil.last_holder, 16);
        ASSERT_EQ(o.gil.locked, 24);
        ASSERT_TRUE(o.gil.size >= 28);
        ASSERT_EQ(o.code.name, 176);
        ASSERT_TRUE(o.code.size >= 184);
        ASSERT_EQ(o.code.nlocals, row->code.nlocals); /* not in the debug offsets: from the row */

        /* Bad cookie. */
        image_init(&img);
        memcpy(img.bytes, "xdebugpz", 8);
        ASSERT_EQ(run(&img, sizeof(img), &o), -EBADMSG);
        image_init(&img);
        memset(img.bytes, 0, 8);
        ASSERT_EQ(run(&img, sizeof(img), &o), -EBADMSG);

        /* Absurd offsets. */
        static const struct {
                unsigned idx;
                uint64_t v;
        } absurd[] = {
                { D_TS_THREAD_ID, UINT64_C(1) << 40 },
                { D_TS_NEXT, 64 * 1024 },
                { D_TS_INTERP, 304 },          /* == sizeof(PyThreadState): past the struct */
                { D_IS_NEXT, UINT64_MAX },
                { D_RT_INTERPRETERS_HEAD, 283320 },
                { D_IF_OWNER, 80 },
                { D_CO_NAME, 0x100000000 },
                { D_UN_ASCII_SIZE, 8 },        /* smaller than the fields it holds */
                { D_UN_ASCII_SIZE, 1 << 20 },
                { D_IS_GIL_HOLDER, 16 },       /* before the GIL it is part of */
                { D_IS_GIL, UINT64_C(1) << 33 },
                { D_TS_SIZE, 0 },
                { D_IS_SIZE, UINT64_C(1) << 32 },
        };
        for (size_t i = 0; i < ELEMENTSOF(absurd); i++) {
                image_init(&img);
                image_set(&img, absurd[i].idx, absurd[i].v);
                int r = run(&img, sizeof(img), &o);
                if (r != -EBADMSG) {
                        fprintf(stderr, "absurd[%zu] (member %u = %" PRIu64 "): got %d\n", i,
                                absurd[i].idx, absurd[i].v, r);
                        exit(1);
                }
        }

        /* Versions without a row, or with a layout we do not mirror. */
        static const uint64_t versions[] = { 0x030e00f0, 0x030c01f0, 0x020700f0, 0x040d00f0 };
        for (size_t i = 0; i < ELEMENTSOF(versions); i++) {
                image_init(&img);
                image_set(&img, D_VERSION, versions[i]);
                ASSERT_EQ(run(&img, sizeof(img), &o), -EPROTONOSUPPORT);
        }
        /* A later 3.13 micro release keeps the layout. */
        image_init(&img);
        image_set(&img, D_VERSION, 0x030d05f0);
        ASSERT_OK(run(&img, sizeof(img), &o));
        assert_same_row(&o, row);
        /* Free-threaded builds have other layouts (and no row). */
        image_init(&img);
        image_set(&img, D_FREE_THREADED, 1);
        ASSERT_EQ(run(&img, sizeof(img), &o), -EPROTONOSUPPORT);

        /* Short memory: the read error, not a guess. */
        image_init(&img);
        ASSERT_EQ(run(&img, 16, &o), -EFAULT);
        ASSERT_EQ(run(&img, 8 + 8 * _D_MAX - 1, &o), -EFAULT);

        ASSERT_EQ(pyoffsets_from_debug_offsets(NULL, BASE, &o), -EINVAL);
}

int main(void) {
        test_table();
        test_debug_offsets();
        printf("test-pyoffsets: ok\n");
        return 0;
}
