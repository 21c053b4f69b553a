/* SPDX-License-Identifier: MIT */
/* The stack walker on synthetic memory images, for every layout row: a known process (two
 * threads, named through threading._active, one holding the GIL, frames with lines and locals)
 * must come back exactly; corrupted images (cycles, dangling pointers, wrong types, absurd
 * depths, random byte flips) must give errors or truncated threads, never a crash or a hang. */
#include <string.h>

#include "fakeproc.h"
#include "image.h"
#include "macro.h"
#include "tests.h"
#include "walker.h"

static int walk(Fake *f, unsigned flags, Snapshot *snap, uint64_t *errors) {
        _cleanup_(memreader_freep) MemReader *mr = NULL;
        _cleanup_(walker_freep) Walker *w = NULL;

        ASSERT_OK(img_reader(&f->img, &mr));
        ASSERT_OK(walker_new(mr, f->o, f->img.sym, &w));
        snapshot_reset(snap);
        int r = walker_sample(w, flags, snap);
        if (errors)
                *errors = walker_errors(w);
        /* Strings point into the walker's cache: copy what the caller checks before it goes. */
        for (size_t i = 0; r >= 0 && i < snap->n_frames; i++) {
                StackFrame *fr = &snap->frames[i];
                fr->function = snapshot_strndup(snap, fr->function, strlen(fr->function));
                fr->filename = snapshot_strndup(snap, fr->filename, strlen(fr->filename));
        }
        for (size_t i = 0; r >= 0 && i < snap->n_threads; i++)
                if (snap->threads[i].name)
                        snap->threads[i].name = snapshot_strndup(snap, snap->threads[i].name,
                                                                 strlen(snap->threads[i].name));
        for (size_t i = 0; r >= 0 && i < snap->n_locals; i++)
                snap->locals[i].name = snapshot_strndup(snap, snap->locals[i].name, strlen(snap->locals[i].name));
        return r;
}

static void test_good(const PyOffsets *o) {
        Fake f;
        Snapshot snap = SNAPSHOT_NULL;
        uint64_t errors;

        fake_build(&f, o);
        ASSERT_OK(walk(&f, WALK_LOCALS | WALK_NAMES, &snap, &errors));
        ASSERT_EQ(errors, 0);
        ASSERT_EQ(snap.n_threads, 2);

        const StackThread *t0 = &snap.threads[0], *t1 = &snap.threads[1];
        ASSERT_EQ(t0->thread_id, f.ident[0]);
        ASSERT_EQ(t1->thread_id, f.ident[1]);
        if (o->tstate.native_thread_id != OFF_NONE) {
                ASSERT_EQ(t0->native_id, 1001);
                ASSERT_EQ(t1->native_id, 1002);
        }
        ASSERT_STREQ(t0->name, "MainThread");
        ASSERT_STREQ(t1->name, "worker");
        ASSERT_TRUE(t0->gil);
        ASSERT_TRUE(!t1->gil);
        ASSERT_TRUE(!t0->truncated && !t1->truncated);
        ASSERT_EQ(t0->n_frames, 3);
        ASSERT_EQ(t1->n_frames, 1);

        const StackFrame *fr = snapshot_thread_frames(&snap, t0);
        const char *names[3] = { "inner", "middle", "outer" };
        for (int i = 0; i < 3; i++) {
                ASSERT_STREQ(fr[i].function, names[i]);
                ASSERT_STREQ(fr[i].filename, "/srv/app.py");
                ASSERT_EQ(fr[i].line, FIRSTLINE * (i + 1) + 1);
        }
        ASSERT_EQ(fr[0].n_locals, 0);
        ASSERT_EQ(fr[1].n_locals, 2);
        ASSERT_STREQ(snap.locals[fr[1].first_local].name, "x");
        ASSERT_STREQ(snap.locals[fr[1].first_local].repr, "42");
        ASSERT_STREQ(snap.locals[fr[1].first_local + 1].name, "y");
        ASSERT_STREQ(snap.locals[fr[1].first_local + 1].repr, o->major == 2 ? "u'hi'" : "'hi'");
        ASSERT_STREQ(snapshot_thread_frames(&snap, t1)[0].function, "outer");

        /* Without the flags: no locals, no names. */
        ASSERT_OK(walk(&f, 0, &snap, NULL));
        ASSERT_EQ(snap.n_locals, 0);
        ASSERT_TRUE(snap.threads[0].name == NULL);

        snapshot_done(&snap);
        img_done(&f.img);
}

/* 3.11+: frames that belong to the C stack, or have not reached their first traceable
 * instruction, are skipped. */
static void test_skipped_iframes(const PyOffsets *o) {
        Fake f;
        Snapshot snap = SNAPSHOT_NULL;

        if (o->frame_model == FRAME_OBJECT)
                return;
        fake_build(&f, o);
        if (o->frame_model == IFRAME)   /* 3.12+: owner 3 is a shim on the C stack */
                img_put_u8(&f.img, f.frames[0][1] + o->iframe.owner, 3);
        else                            /* 3.11: a frame before its first instruction */
                img_put_u64(&f.img, f.frames[0][1] + o->iframe.instr, f.code[1] + o->code.code_adaptive - 2);
        ASSERT_OK(walk(&f, 0, &snap, NULL));
        ASSERT_EQ(snap.threads[0].n_frames, 2);
        ASSERT_STREQ(snap.frames[0].function, "inner");
        ASSERT_STREQ(snap.frames[1].function, "outer");
        snapshot_done(&snap);
        img_done(&f.img);
}

static uint64_t frame_back_off(const PyOffsets *o) {
        return o->frame_model == FRAME_OBJECT ? o->frame.back : o->iframe.previous;
}

static uint64_t frame_code_off(const PyOffsets *o) {
        return o->frame_model == FRAME_OBJECT ? o->frame.code : o->iframe.code;
}

static void test_corrupt(const PyOffsets *o) {
        Fake f;
        Snapshot snap = SNAPSHOT_NULL;
        uint64_t errors;

        /* A frame cycle: outer's back points at inner. Truncated, not endless. */
        fake_build(&f, o);
        img_put_u64(&f.img, f.frames[0][2] + frame_back_off(o), f.frames[0][0]);
        ASSERT_OK(walk(&f, 0, &snap, &errors));
        ASSERT_TRUE(snap.threads[0].truncated);
        ASSERT_TRUE(snap.threads[0].n_frames <= 12);
        ASSERT_EQ(errors, 1);
        ASSERT_TRUE(!snap.threads[1].truncated);
        img_done(&f.img);

        /* A self-loop. */
        fake_build(&f, o);
        img_put_u64(&f.img, f.frames[0][0] + frame_back_off(o), f.frames[0][0]);
        ASSERT_OK(walk(&f, 0, &snap, NULL));
        ASSERT_TRUE(snap.threads[0].truncated);
        img_done(&f.img);

        /* A dangling frame pointer, and a code pointer to something that is not code. */
        fake_build(&f, o);
        img_put_u64(&f.img, f.frames[0][1] + frame_back_off(o), 0xdead0000);
        img_put_u64(&f.img, f.frames[1][0] + frame_code_off(o), f.interp);
        ASSERT_OK(walk(&f, 0, &snap, &errors));
        ASSERT_TRUE(snap.threads[0].truncated);
        ASSERT_EQ(snap.threads[0].n_frames, 2);
        ASSERT_TRUE(snap.threads[1].truncated);
        ASSERT_EQ(snap.threads[1].n_frames, 0);
        ASSERT_EQ(errors, 2);
        img_done(&f.img);

        /* A thread-state cycle is nonsense for the whole interpreter. */
        fake_build(&f, o);
        img_put_u64(&f.img, f.tstate[1] + o->tstate.next, f.tstate[0]);
        ASSERT_EQ(walk(&f, 0, &snap, NULL), -EBADMSG);
        img_done(&f.img);

        /* An interpreter list that loops, and one that is empty (not initialised). */
        fake_build(&f, o);
        img_put_u64(&f.img, f.interp + o->interp.next, f.interp);
        ASSERT_EQ(walk(&f, 0, &snap, NULL), -EBADMSG);
        img_done(&f.img);
        fake_build(&f, o);
        if (f.img.sym[PYSYM_RUNTIME])
                img_put_u64(&f.img, f.img.sym[PYSYM_RUNTIME] + o->runtime.interpreters_head, 0);
        else
                img_put_u64(&f.img, f.img.sym[PYSYM_INTERP_HEAD], 0);
        ASSERT_EQ(walk(&f, 0, &snap, NULL), -EBADMSG);
        img_done(&f.img);

        /* A dangling interpreter head: the reader's error. */
        fake_build(&f, o);
        if (f.img.sym[PYSYM_RUNTIME])
                img_put_u64(&f.img, f.img.sym[PYSYM_RUNTIME] + o->runtime.interpreters_head, 0x10);
        else
                img_put_u64(&f.img, f.img.sym[PYSYM_INTERP_HEAD], 0x10);
        ASSERT_EQ(walk(&f, 0, &snap, NULL), -EFAULT);
        img_done(&f.img);

        /* Broken thread names and locals leave names unset and reprs "<unreadable>"-like, but
         * the stacks intact. */
        fake_build(&f, o);
        img_put_u64(&f.img, f.interp + o->interp.modules, 0xbad0);
        img_put_u64(&f.img, f.frames[0][1] + (o->frame_model == FRAME_OBJECT ? o->frame.localsplus : o->iframe.localsplus),
                    0xbad0);
        ASSERT_OK(walk(&f, WALK_NAMES | WALK_LOCALS, &snap, &errors));
        ASSERT_EQ(errors, 0);
        ASSERT_TRUE(snap.threads[0].name == NULL);
        ASSERT_EQ(snap.threads[0].n_frames, 3);
        img_done(&f.img);

        snapshot_done(&snap);
}

/* A chain deeper than WALKER_MAX_DEPTH is cut there and marked. */
static void test_deep(const PyOffsets *o) {
        Fake f;
        Snapshot snap = SNAPSHOT_NULL;
        const size_t n = WALKER_MAX_DEPTH + 5;

        fake_build(&f, o);
        uint64_t top = f.frames[0][2];
        for (size_t i = 0; i < n; i++)
                top = fake_put_frame(&f, f.code[1], top, NULL, 0);
        img_put_u64(&f.img, f.tstate[1] + (o->frame_model == IFRAME_CFRAME ? 0 : o->tstate.frame), 0);
        if (o->frame_model == IFRAME_CFRAME) {
                uint64_t cf = img_get_u64(&f.img, f.tstate[0] + o->tstate.frame);
                img_put_u64(&f.img, cf + o->cframe.current_frame, top);
        } else
                img_put_u64(&f.img, f.tstate[0] + o->tstate.frame, top);
        ASSERT_OK(walk(&f, 0, &snap, NULL));
        ASSERT_TRUE(snap.threads[0].truncated);
        ASSERT_EQ(snap.threads[0].n_frames, WALKER_MAX_DEPTH);
        snapshot_done(&snap);
        img_done(&f.img);
}

/* Random corruption: flip bytes all over a good image and walk it. Any result is fine except
 * a crash, a hang or a sanitizer report. */
static void test_random_flips(const PyOffsets *o) {
        Fake f;
        Snapshot snap = SNAPSHOT_NULL;
        uint64_t seed = 0x9e3779b97f4a7c15ULL ^ ((uint64_t) o->major << 8 | o->minor);

        fake_build(&f, o);
        size_t size = f.img.size;
        uint8_t *orig = malloc(size);
        ASSERT_TRUE(orig);
        memcpy(orig, f.img.data, size);
        for (int round = 0; round < 400; round++) {
                memcpy(f.img.data, orig, size);
                for (int k = 0; k < 8; k++) {
                        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
                        size_t at = 4096 + (size_t) (seed % (size - 4096));
                        f.img.data[at] ^= (uint8_t) (seed >> 32) | 1;
                }
                (void) walk(&f, WALK_LOCALS | WALK_NAMES, &snap, NULL);
        }
        free(orig);
        snapshot_done(&snap);
        img_done(&f.img);
}

/* 3.11+: frames on the thread's data stack are read from copies of its chunks. Thread 0's
 * outer and middle frames sit in an older chunk, inner in the current one. */
static void test_chunks(const PyOffsets *o) {
        Fake f;
        Snapshot snap = SNAPSHOT_NULL;
        _cleanup_(memreader_freep) MemReader *mr = NULL;
        _cleanup_(walker_freep) Walker *w = NULL;

        if (o->tstate.datastack_chunk == OFF_NONE)
                return;
        fake_build(&f, o);
        Image *img = &f.img;
        uint64_t lv[2] = { img_put_int(img, o, PYSYM_TYPE_LONG, 7), img_put_str(img, o, PYSYM_TYPE_STR, "chunked") };
        uint64_t old = fake_put_chunk(&f, 0);
        uint64_t outer = fake_put_frame(&f, f.code[2], 0, NULL, 0);
        uint64_t middle = fake_put_frame(&f, f.code[1], outer, lv, 2);
        img_put_u64(img, old + 16, (f.chunk_next - (old + 24)) / 8);   /* saved top, in slots */
        uint64_t cur = fake_put_chunk(&f, old);
        /* 30 more frames of "middle" between middle and inner, all in the current chunk. */
        uint64_t below = middle;
        for (int i = 0; i < 30; i++)
                below = fake_put_frame(&f, f.code[1], below, NULL, 0);
        uint64_t inner = fake_put_frame(&f, f.code[0], below, NULL, 0);
        uint64_t top = f.chunk_next;
        f.chunk_next = 0;
        img_put_u64(img, f.tstate[0] + o->tstate.datastack_chunk, cur);
        img_put_u64(img, f.tstate[0] + o->tstate.datastack_top, top);
        if (o->frame_model == IFRAME_CFRAME)
                img_put_u64(img, img_get_u64(img, f.tstate[0] + o->tstate.frame) + o->cframe.current_frame, inner);
        else
                img_put_u64(img, f.tstate[0] + o->tstate.frame, inner);

        ASSERT_OK(img_reader(img, &mr));
        ASSERT_OK(walker_new(mr, o, img->sym, &w));
        ASSERT_OK(walker_sample(w, WALK_LOCALS, &snap));   /* warms the code cache */
        snapshot_reset(&snap);
        ASSERT_OK(walker_sample(w, WALK_LOCALS, &snap));
        const StackThread *t0 = &snap.threads[0];
        ASSERT_EQ(t0->n_frames, 33);
        ASSERT_TRUE(!t0->truncated);
        const StackFrame *fr = snapshot_thread_frames(&snap, t0);
        ASSERT_STREQ(fr[0].function, "inner");
        ASSERT_STREQ(fr[1].function, "middle");
        ASSERT_STREQ(fr[31].function, "middle");
        ASSERT_STREQ(fr[32].function, "outer");
        ASSERT_EQ(fr[31].line, FIRSTLINE * 2 + 1);
        ASSERT_EQ(fr[31].n_locals, 2);
        ASSERT_STREQ(snap.locals[fr[31].first_local + 1].repr, "'chunked'");
        /* Thread 0's 33 frames came from two chunk reads and one chunk header, not from a
         * read per frame: the whole warm sample (roots, two threads, the GIL, one batched
         * check of the cached code objects) stays small. */
        snapshot_reset(&snap);
        uint64_t calls = memreader_calls(mr);
        ASSERT_OK(walker_sample(w, 0, &snap));
        uint64_t used = memreader_calls(mr) - calls;
        if (used > 16) {
                fprintf(stderr, "%u.%u: %" PRIu64 " reads for a warm sample\n", o->major, o->minor, used);
                exit(1);
        }

        /* Nonsense chunk headers: a saved top far past any chunk, a chain that loops. The
         * frames are still found by reading them one by one. */
        img_put_u64(img, old + 16, UINT64_C(1) << 40);
        img_put_u64(img, cur, cur);
        snapshot_reset(&snap);
        ASSERT_OK(walker_sample(w, 0, &snap));
        ASSERT_EQ(snap.threads[0].n_frames, 33);
        ASSERT_TRUE(!snap.threads[0].truncated);
        /* A top below the chunk, or absurdly far above it: ignored. */
        img_put_u64(img, f.tstate[0] + o->tstate.datastack_top, cur - 8);
        snapshot_reset(&snap);
        ASSERT_OK(walker_sample(w, 0, &snap));
        ASSERT_EQ(snap.threads[0].n_frames, 33);
        img_put_u64(img, f.tstate[0] + o->tstate.datastack_top, cur + (UINT64_C(1) << 30));
        snapshot_reset(&snap);
        ASSERT_OK(walker_sample(w, 0, &snap));
        ASSERT_EQ(snap.threads[0].n_frames, 33);

        snapshot_done(&snap);
        img_done(&f.img);
}

/* A code object that dies and leaves its address to another must not lend the newcomer its
 * cached name. */
static void test_stale_code(const PyOffsets *o) {
        Fake f;
        Snapshot snap = SNAPSHOT_NULL;
        _cleanup_(memreader_freep) MemReader *mr = NULL;
        _cleanup_(walker_freep) Walker *w = NULL;

        fake_build(&f, o);
        uint64_t newname = img_put_name(&f.img, o, "newcomer");
        ASSERT_OK(img_reader(&f.img, &mr));
        ASSERT_OK(walker_new(mr, o, f.img.sym, &w));
        ASSERT_OK(walker_sample(w, 0, &snap));
        ASSERT_STREQ(snap.frames[0].function, "inner");
        /* "inner" dies; a new code object at the same address has another name and line. */
        img_put_u64(&f.img, f.code[0] + o->code.name, newname);
        img_put_u32(&f.img, f.code[0] + o->code.firstlineno, 500);
        snapshot_reset(&snap);
        ASSERT_OK(walker_sample(w, 0, &snap));
        ASSERT_STREQ(snap.frames[0].function, "newcomer");
        ASSERT_EQ(snap.frames[0].line, 501);
        ASSERT_STREQ(snap.frames[1].function, "middle");
        snapshot_done(&snap);
        img_done(&f.img);
}

/* Thousands of distinct code objects in one stack: the code cache grows from its minimum,
 * and past half its maximum is flushed before the next sample; names stay right. */
static void test_many_codes(const PyOffsets *o, size_t n) {
        Fake f;
        Snapshot snap = SNAPSHOT_NULL;
        _cleanup_(memreader_freep) MemReader *mr = NULL;
        _cleanup_(walker_freep) Walker *w = NULL;
        uint8_t lt[4] = { 0 };
        char name[32];

        fake_build(&f, o);
        uint64_t top = 0;
        for (size_t i = 0; i < n; i++) {
                snprintf(name, sizeof(name), "f%zu", i);
                uint64_t code = img_put_code(&f.img, o, name, "/srv/many.py", (int) i + 1, lt, 0);
                top = fake_put_frame(&f, code, top, NULL, 0);
        }
        if (o->frame_model == IFRAME_CFRAME) {
                uint64_t cf = img_get_u64(&f.img, f.tstate[1] + o->tstate.frame);
                img_put_u64(&f.img, cf + o->cframe.current_frame, top);
        } else
                img_put_u64(&f.img, f.tstate[1] + o->tstate.frame, top);

        ASSERT_OK(img_reader(&f.img, &mr));
        ASSERT_OK(walker_new(mr, o, f.img.sym, &w));
        for (int round = 0; round < 3; round++) {
                snapshot_reset(&snap);
                ASSERT_OK(walker_sample(w, 0, &snap));
                ASSERT_EQ(walker_errors(w), 0);
                const StackThread *t1 = &snap.threads[1];
                ASSERT_EQ(t1->n_frames, n);
                ASSERT_TRUE(!t1->truncated);
                const StackFrame *fr = snapshot_thread_frames(&snap, t1);
                for (size_t i = 0; i < n; i++) {
                        snprintf(name, sizeof(name), "f%zu", n - 1 - i);
                        ASSERT_STREQ(fr[i].function, name);
                }
                ASSERT_EQ(snap.threads[0].n_frames, 3);
        }
        snapshot_done(&snap);
        img_done(&f.img);
}

int main(void) {
        size_t n;
        const PyOffsets *rows = pyoffsets_all(&n);

        ASSERT_TRUE(n >= 9);
        for (size_t i = 0; i < n; i++) {
                const PyOffsets *o = &rows[i];
                test_good(o);
                test_skipped_iframes(o);
                test_chunks(o);
                test_stale_code(o);
                test_corrupt(o);
                test_deep(o);
                test_random_flips(o);
                test_many_codes(o, 600);
                printf("test-walker: Python %u.%u layout ok\n", o->major, o->minor);
        }
        /* Past half the cache's maximum (flushed between samples), on one row of each frame
         * model. */
        test_many_codes(pyoffsets_lookup(2, 7), WALKER_CODE_CACHE_SLOTS / 2 + 500);
        test_many_codes(pyoffsets_lookup(3, 11), WALKER_CODE_CACHE_SLOTS / 2 + 500);
        test_many_codes(pyoffsets_lookup(3, 13), WALKER_CODE_CACHE_SLOTS / 2 + 500);
        return 0;
}
