/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "fakeproc.h"
#include "macro.h"
#include "tests.h"

/* A table that maps offsets 0-1 to firstlineno and 2-17 to firstlineno + 1, per format. */
static size_t line_table(const PyOffsets *o, uint8_t *t) {
        switch (o->line_table) {
        case LNOTAB:
                t[0] = 2, t[1] = 1;
                return 2;
        case LINETABLE_310:
                t[0] = 2, t[1] = 0, t[2] = 16, t[3] = 1;
                return 4;
        case LOCATIONS_311:
                /* kind 13 (no columns): length 1 unit, line delta 0; length 8, delta +1 */
                t[0] = 0x80 | (13 << 3) | 0, t[1] = 0;
                t[2] = 0x80 | (13 << 3) | 7, t[3] = 2;   /* zigzag varint of +1 */
                return 4;
        default:
                abort();
        }
}

uint64_t fake_put_frame(Fake *f, uint64_t code, uint64_t back, const uint64_t *locals, size_t n_locals) {
        const PyOffsets *o = f->o;
        Image *img = &f->img;

        if (o->frame_model == FRAME_OBJECT) {
                uint64_t fr = img_alloc(img, o->frame.localsplus + 8 * (n_locals + 1), 8);
                img_put_u64(img, fr + o->frame.back, back);
                img_put_u64(img, fr + o->frame.code, code);
                img_put_u32(img, fr + o->frame.lasti,
                            o->lasti_model == LASTI_UNITS ? INSTR_OFFSET / 2 : INSTR_OFFSET);
                for (size_t i = 0; i < n_locals; i++)
                        img_put_u64(img, fr + o->frame.localsplus + 8 * i, locals[i]);
                return fr;
        }
        size_t fsize = o->iframe.localsplus + 8 * (n_locals + 1);
        uint64_t fr;
        if (f->chunk_next) {
                ASSERT_TRUE(f->chunk_next + fsize <= f->chunk_end);
                fr = f->chunk_next;
                f->chunk_next += fsize;
        } else
                fr = img_alloc(img, fsize, 8);
        img_put_u64(img, fr + o->iframe.previous, back);
        img_put_u64(img, fr + o->iframe.code, code);
        img_put_u64(img, fr + o->iframe.instr, code + o->code.code_adaptive + INSTR_OFFSET);
        img_put_u8(img, fr + o->iframe.owner, 0);
        for (size_t i = 0; i < n_locals; i++)
                img_put_u64(img, fr + o->iframe.localsplus + 8 * i, locals[i]);
        return fr;
}

static uint64_t put_tstate(Fake *f, uint64_t next, uint64_t ident, int native, uint64_t top) {
        const PyOffsets *o = f->o;
        Image *img = &f->img;
        uint64_t ts = img_alloc(img, o->tstate.size, 8);

        img_put_u64(img, ts + o->tstate.next, next);
        img_put_u64(img, ts + o->tstate.interp, f->interp);
        img_put_u64(img, ts + o->tstate.thread_id, ident);
        if (o->tstate.native_thread_id != OFF_NONE)
                img_put_u32(img, ts + o->tstate.native_thread_id, (uint32_t) native);
        if (o->frame_model == IFRAME_CFRAME) {
                uint64_t cf = img_alloc(img, o->cframe.current_frame + 8, 8);
                img_put_u64(img, cf + o->cframe.current_frame, top);
                img_put_u64(img, ts + o->tstate.frame, cf);
        } else
                img_put_u64(img, ts + o->tstate.frame, top);
        return ts;
}

void fake_build(Fake *f, const PyOffsets *o) {
        Image *img = &f->img;
        uint8_t lt[8];
        size_t ltn;

        memset(f, 0, sizeof(*f));
        f->o = o;
        img_init(img, 0);
        img_put_builtins(img, o);
        ltn = line_table(o, lt);

        const char *names[3] = { "inner", "middle", "outer" };
        for (int i = 0; i < 3; i++)
                f->code[i] = img_put_code(img, o, names[i], "/srv/app.py", FIRSTLINE * (i + 1), lt, ltn);

        /* "middle" has two locals, x = 42 and y = 'hi'. */
        uint64_t vn[2] = { img_put_name(img, o, "x"), img_put_name(img, o, "y") };
        img_put_u64(img, f->code[1] + o->code.varnames, img_put_tuple(img, o, 2, vn));
        img_put_u32(img, f->code[1] + o->code.nlocals, 2);
        if (o->code.localspluskinds != OFF_NONE) {
                uint8_t kinds[2] = { 0x20, 0x20 };
                img_put_u64(img, f->code[1] + o->code.localspluskinds, img_put_pybytes(img, o, kinds, 2));
        }
        PySym int_sym = o->major == 2 ? PYSYM_TYPE_INT : PYSYM_TYPE_LONG;
        uint64_t lv[2] = { img_put_int(img, o, int_sym, 42), img_put_str(img, o, PYSYM_TYPE_STR, "hi") };

        f->interp = img_alloc(img, MAX(o->interp.size, 64u), 8);
        f->ident[0] = 0x7f0000001000;
        f->ident[1] = 0x7f0000002000;

        /* Thread 0: outer -> middle -> inner (innermost); thread 1: outer only. */
        f->frames[0][2] = fake_put_frame(f, f->code[2], 0, NULL, 0);
        f->frames[0][1] = fake_put_frame(f, f->code[1], f->frames[0][2], lv, 2);
        f->frames[0][0] = fake_put_frame(f, f->code[0], f->frames[0][1], NULL, 0);
        f->frames[1][0] = fake_put_frame(f, f->code[2], 0, NULL, 0);
        f->tstate[1] = put_tstate(f, 0, f->ident[1], 1002, f->frames[1][0]);
        f->tstate[0] = put_tstate(f, f->tstate[1], f->ident[0], 1001, f->frames[0][0]);
        img_put_u64(img, f->interp + o->interp.tstate_head, f->tstate[0]);
        img_put_u64(img, f->interp + o->interp.next, 0);

        /* threading._active = {ident0: <Thread "MainThread">, ident1: <Thread "worker">} */
        const char *attr = o->major == 2 ? "_Thread__name" : "_name";
        uint64_t n0 = img_put_str(img, o, o->major == 2 ? PYSYM_TYPE_BYTES : PYSYM_TYPE_STR, "MainThread");
        uint64_t n1 = img_put_str(img, o, o->major == 2 ? PYSYM_TYPE_BYTES : PYSYM_TYPE_STR, "worker");
        uint64_t th[2] = { img_put_instance(img, o, "Thread", 1, &attr, &n0, false, NULL),
                           img_put_instance(img, o, "Thread", 1, &attr, &n1, false, NULL) };
        uint64_t keys[2] = { img_put_int(img, o, int_sym, (int64_t) f->ident[0]),
                             img_put_int(img, o, int_sym, (int64_t) f->ident[1]) };
        uint64_t active = img_put_dict(img, o, 2, keys, th, false);
        const char *k_active = "_active", *k_threading = "threading";
        uint64_t md = img_put_dict_str(img, o, 1, &k_active, &active);
        uint64_t mod = img_put_module(img, o, md);
        uint64_t modules = img_put_dict_str(img, o, 1, &k_threading, &mod);
        img_put_u64(img, f->interp + o->interp.modules, modules);

        /* The roots, and thread 0 holding the GIL. */
        if (o->runtime.interpreters_head != OFF_NONE) {
                uint64_t rt = img_alloc(img, o->runtime.size + 8, 8);
                img_put_u64(img, rt + o->runtime.interpreters_head, f->interp);
                img->sym[PYSYM_RUNTIME] = rt;
        } else {
                uint64_t head = img_alloc(img, 8, 8);
                img_put_u64(img, head, f->interp);
                img->sym[PYSYM_INTERP_HEAD] = head;
        }
        switch (o->gil_model) {
        case GIL_TSTATE_CURRENT_SYMBOL: {
                uint64_t cur = img_alloc(img, 8, 8);
                img_put_u64(img, cur, f->tstate[0]);
                img->sym[PYSYM_TSTATE_CURRENT] = cur;
                break;
        }
        case GIL_TSTATE_CURRENT_RUNTIME:
                img_put_u64(img, img->sym[PYSYM_RUNTIME] + o->runtime.tstate_current, f->tstate[0]);
                break;
        case GIL_INTERP_CEVAL: {
                uint64_t gil = img_alloc(img, o->gil.size, 8);
                img_put_u64(img, gil + o->gil.last_holder, f->tstate[0]);
                img_put_u32(img, gil + o->gil.locked, 1);
                img_put_u64(img, f->interp + o->interp.ceval_gil, gil);
                break;
        }
        default:
                abort();
        }
}

uint64_t fake_put_chunk(Fake *f, uint64_t previous) {
        uint64_t c = img_alloc(&f->img, 24 + 4096, 8);
        img_put_u64(&f->img, c, previous);
        img_put_u64(&f->img, c + 8, 24 + 4096);
        f->chunk_next = c + 24;
        f->chunk_end = c + 24 + 4096;
        return c;
}

/* Points a thread state at a new innermost frame. */
static void set_top(Fake *f, uint64_t ts, uint64_t top) {
        const PyOffsets *o = f->o;

        if (o->frame_model == IFRAME_CFRAME)
                img_put_u64(&f->img, img_get_u64(&f->img, ts + o->tstate.frame) + o->cframe.current_frame, top);
        else
                img_put_u64(&f->img, ts + o->tstate.frame, top);
}

#define RICH_LOCALS 24

void fake_build_rich(Fake *f, const PyOffsets *o) {
        Image *img;
        bool py2 = o->major == 2;
        PySym int_sym = py2 ? PYSYM_TYPE_INT : PYSYM_TYPE_LONG;

        fake_build(f, o);
        img = &f->img;

        /* One local of every kind pyobj renders. */
        const char *names[RICH_LOCALS] = {
                "none", "yes", "no", "small", "negative", "big", "pi", "ascii", "latin1", "bmp",
                "astral", "raw", "tup", "lst", "dct", "st", "fst", "obj", "split", "legacy",
                "empty_list", "nested", "flag", "escape",
        };
        uint64_t v[RICH_LOCALS];
        uint32_t digits[4] = { 0x3fffffff, 0x12345678 & 0x3fffffff, 7, 1 };
        v[0] = img->sym[PYSYM_NONE];
        v[1] = img->sym[PYSYM_TRUE];
        v[2] = img->sym[PYSYM_FALSE];
        v[3] = img_put_int(img, o, int_sym, 7);
        v[4] = img_put_int(img, o, int_sym, -123456789);
        v[5] = img_put_long_digits(img, o, true, digits, 4);
        v[6] = img_put_float(img, o, 3.14159);
        v[7] = img_put_str(img, o, PYSYM_TYPE_STR, "plain ascii");
        v[8] = img_put_str(img, o, PYSYM_TYPE_STR, "caf\xc3\xa9");
        v[9] = img_put_str(img, o, PYSYM_TYPE_STR, "\xe2\x82\xac uro");
        v[10] = img_put_str(img, o, PYSYM_TYPE_STR, "\xf0\x9f\x90\x8d snake");
        v[11] = img_put_pybytes(img, o, "\x00\xff<&>\"", 6);
        uint64_t small3[3] = { v[3], v[7], v[0] };
        v[12] = img_put_tuple(img, o, 3, small3);
        v[13] = img_put_list(img, o, 3, small3);
        const char *dk[2] = { "key", "other" };
        uint64_t dv[2] = { v[4], v[12] };
        v[14] = img_put_dict_str(img, o, 2, dk, dv);
        uint64_t set_items[2] = { v[3], v[7] };
        v[15] = img_put_set(img, o, false, 2, set_items);
        v[16] = img_put_set(img, o, true, 2, set_items);
        const char *attrs[2] = { "host", "port" };
        uint64_t attr_values[2] = { v[8], v[3] };
        v[17] = img_put_instance(img, o, "Conn", 2, attrs, attr_values, false, NULL);
        v[18] = img_put_instance(img, o, "Conn", 2, attrs, attr_values, true, NULL);
        v[19] = py2 ? img_put_str(img, o, PYSYM_TYPE_BYTES, "old str")
                    : img_put_str_legacy(img, o, "legacy \xc3\xa9", 2);
        v[20] = img_put_list(img, o, 0, NULL);
        uint64_t inner[2] = { v[13], v[14] };
        v[21] = img_put_list(img, o, 2, inner);
        v[22] = img_put_int(img, o, PYSYM_TYPE_BOOL, 1);
        v[23] = img_put_str(img, o, PYSYM_TYPE_STR, "\x1b[2J<script>\"'&</script>\x07");

        uint8_t lt[8];
        size_t ltn = line_table(o, lt);
        uint64_t code = img_put_code(img, o, "rich", "/srv/r\xc3\xa9" "ch.py", 300, lt, ltn);
        uint64_t vn[RICH_LOCALS];
        for (size_t i = 0; i < RICH_LOCALS; i++)
                vn[i] = img_put_name(img, o, names[i]);
        img_put_u64(img, code + o->code.varnames, img_put_tuple(img, o, RICH_LOCALS, vn));
        img_put_u32(img, code + o->code.nlocals, RICH_LOCALS);
        if (o->code.localspluskinds != OFF_NONE) {
                uint8_t kinds[RICH_LOCALS];
                memset(kinds, 0x20, sizeof(kinds));
                img_put_u64(img, code + o->code.localspluskinds, img_put_pybytes(img, o, kinds, RICH_LOCALS));
        }

        /* Thread 1: outer -> rich. */
        set_top(f, f->tstate[1], fake_put_frame(f, code, f->frames[1][0], v, RICH_LOCALS));

        /* A third thread, not in threading._active, with a recursion of 20 frames. */
        uint64_t top = 0;
        for (int i = 0; i < 20; i++)
                top = fake_put_frame(f, f->code[i % 3], top, NULL, 0);
        uint64_t ts = put_tstate(f, 0, 0x7f0000003000, 1003, top);
        img_put_u64(img, f->tstate[1] + o->tstate.next, ts);

        /* 3.11+: thread 0's frames again, over two chunks, 10 more "middle" frames. */
        if (o->tstate.datastack_chunk != OFF_NONE) {
                uint64_t old = fake_put_chunk(f, 0);
                uint64_t outer = fake_put_frame(f, f->code[2], 0, NULL, 0);
                uint64_t middle = fake_put_frame(f, f->code[1], outer, v, 4);
                img_put_u64(img, old + 16, (f->chunk_next - (old + 24)) / 8);
                uint64_t cur = fake_put_chunk(f, old);
                uint64_t below = middle;
                for (int i = 0; i < 10; i++)
                        below = fake_put_frame(f, f->code[1], below, NULL, 0);
                uint64_t in = fake_put_frame(f, f->code[0], below, NULL, 0);
                uint64_t chunk_top = f->chunk_next;
                f->chunk_next = 0;
                img_put_u64(img, f->tstate[0] + o->tstate.datastack_chunk, cur);
                img_put_u64(img, f->tstate[0] + o->tstate.datastack_top, chunk_top);
                set_top(f, f->tstate[0], in);
        }
}
