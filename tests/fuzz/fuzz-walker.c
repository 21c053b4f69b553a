/* SPDX-License-Identifier: MIT */
/* Fuzzes the stack walker, and every writer after it, with arbitrary target memory: the input
 * is a synthetic memory image for one layout row (fuzz.h), sampled 1-4 times with one walker
 * while patches move memory between samples. Whatever the walker makes of it is then written
 * the way dump, record and an incident bundle would write it, and the output must keep
 * escape.h's promises. The seeds are fake processes of every row (gen-seeds.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dump.h"
#include "flamegraph.h"
#include "folded.h"
#include "fuzz.h"
#include "macro.h"
#include "memreader.h"
#include "profile.h"
#include "pyoffsets.h"
#include "speedscope.h"
#include "walker.h"

#define HARNESS "fuzz-walker"

static const char *const svg_elements[] = {
        "svg", "defs", "linearGradient", "stop", "style", "script", "rect", "text", "g", "title", NULL,
};

typedef struct Out {
        char *buf;
        size_t len;
        FILE *f;
} Out;

static FILE *out_open(Out *o) {
        *o = (Out) {};
        o->f = open_memstream(&o->buf, &o->len);
        if (!o->f)
                abort();
        return o->f;
}

static void out_close(Out *o) {
        if (fclose(o->f) != 0)
                abort();
}

/* Every rendering of one sample, each checked. */
static void render(const Snapshot *snap, bool locals) {
        DumpInfo info = { .pid = 4242, .cmdline = "python3 app.py", .python_version = "3.11.7",
                          .executable = "/usr/bin/python3" };
        Out o;
        int r;

        r = dump_write_text(out_open(&o), &info, snap, locals);
        out_close(&o);
        if (r == 0)
                fuzz_assert(HARNESS, "dump text", check_terminal((uint8_t *) o.buf, o.len));
        free(o.buf);

        r = dump_write_json(out_open(&o), &info, snap, locals);
        out_close(&o);
        if (r == 0)
                fuzz_assert(HARNESS, "dump json", check_json_lines((uint8_t *) o.buf, o.len));
        free(o.buf);
}

static void render_profile(Profile *p) {
        Out o;
        FlamegraphOptions fo = { .title = "fuzz" };

        if (folded_write(out_open(&o), p) >= 0) {
                out_close(&o);
                /* One stack a line: names, ';' between frames, a space, a count. */
                fuzz_assert(HARNESS, "folded", check_terminal((uint8_t *) o.buf, o.len));
                for (char *line = o.buf, *nl; line < o.buf + o.len; line = nl + 1) {
                        nl = memchr(line, '\n', (size_t) (o.buf + o.len - line));
                        fuzz_assert(HARNESS, "folded", nl ? NULL : "a line without a newline");
                        char *sp = nl;
                        while (sp > line && sp[-1] >= '0' && sp[-1] <= '9')
                                sp--;
                        fuzz_assert(HARNESS, "folded", sp < nl && sp > line && sp[-1] == ' ' ? NULL
                                                                                             : "a line without ' COUNT'");
                }
        } else
                out_close(&o);
        free(o.buf);

        if (flamegraph_write(out_open(&o), p, &fo) >= 0) {
                out_close(&o);
                fuzz_assert(HARNESS, "flame graph", check_xml((uint8_t *) o.buf, o.len, svg_elements));
        } else
                out_close(&o);
        free(o.buf);

        if (speedscope_write(out_open(&o), p) >= 0) {
                out_close(&o);
                fuzz_assert(HARNESS, "speedscope", check_json((uint8_t *) o.buf, o.len));
        } else
                out_close(&o);
        free(o.buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        FuzzWalkerHeader h;
        size_t n_rows;
        const PyOffsets *rows = pyoffsets_all(&n_rows), *o;
        PyOffsets derived;
        uint64_t sym[_PYSYM_MAX];

        if (size < sizeof(h))
                return 0;
        memcpy(&h, data, sizeof(h));
        data += sizeof(h), size -= sizeof(h);
        o = &rows[h.row % n_rows];

        size_t image_len = MIN((size_t) h.image_len, size);
        uint8_t *image = malloc(MAX(image_len, (size_t) 1));
        if (!image)
                return 0;
        memcpy(image, data, image_len);
        const uint8_t *patches = data + image_len;
        size_t patches_len = size - image_len;

        for (size_t i = 0; i < _PYSYM_MAX; i++)
                sym[i] = h.sym[i] ? FUZZ_BASE + h.sym[i] : 0;

        MemSegment seg = { .addr = FUZZ_BASE, .data = image, .len = image_len };
        MemReader *mr = NULL;
        Walker *w = NULL;
        Profile *prof = NULL;
        Snapshot snap = SNAPSHOT_NULL;
        if (memreader_new_image(&seg, 1, &mr) < 0)
                goto out;
        if ((h.flags & FUZZ_DEBUG_OFFSETS) && sym[PYSYM_RUNTIME]) {
                if (pyoffsets_from_debug_offsets(mr, sym[PYSYM_RUNTIME], &derived) == 0)
                        o = &derived;
        }
        if (walker_new(mr, o, sym, &w) < 0 || profile_new(&prof) < 0)
                goto out;

        unsigned flags = h.flags & (WALK_LOCALS | WALK_NAMES | WALK_NO_GIL);
        unsigned samples = 1 + h.samples % FUZZ_MAX_SAMPLES;
        for (unsigned s = 0; s < samples; s++) {
                /* This sample's patches. */
                for (size_t p = 0; p + 6 <= patches_len;) {
                        uint32_t off;
                        memcpy(&off, patches + p, 4);
                        size_t len = MIN((size_t) patches[p + 4], patches_len - p - 6);
                        unsigned when = patches[p + 5] % samples;
                        if (when == s && s > 0 && off < image_len)
                                memcpy(image + off, patches + p + 6, MIN(len, image_len - off));
                        p += 6 + len;
                }
                snapshot_reset(&snap);
                if (walker_sample(w, flags, &snap) < 0)
                        continue;
                render(&snap, flags & WALK_LOCALS);
                if (profile_add_snapshot(prof, 4242, &snap, PROFILE_IDLE | PROFILE_THREADS) < 0)
                        goto out;
        }
        render_profile(prof);
out:
        snapshot_done(&snap);
        profile_free(prof);
        walker_free(w);
        memreader_free(mr);
        free(image);
        return 0;
}
