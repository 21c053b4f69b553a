/* SPDX-License-Identifier: MIT */
/* Writes the fuzzers' seed corpus (tests/fuzz/corpus/, `make fuzz-seeds`): for the walker,
 * fake processes of every layout row (tests/unit/fakeproc.h) in fuzz.h's input format; for
 * the line-table decoders, every real table of tests/unit/fixtures; for the config parser,
 * a few files that use every key. Deterministic: the same tree gives the same files.
 *
 *     gen-seeds DIR */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "debug-offsets-313.h"
#include "fakeproc.h"
#include "fuzz.h"
#include "linetable.h"
#include "macro.h"
#include "walker.h"

static const char *dir;

static void write_file(const char *sub, const char *name, const void *a, size_t alen, const void *b, size_t blen) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, sub);
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
                perror(path);
                exit(1);
        }
        snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
        FILE *f = fopen(path, "we");
        if (!f || fwrite(a, 1, alen, f) != alen || (blen && fwrite(b, 1, blen, f) != blen) || fclose(f) != 0) {
                perror(path);
                exit(1);
        }
}

/* A patch of fuzz.h: before sample `when`, write len bytes at image offset off. */
static size_t put_patch(uint8_t *buf, uint32_t off, const void *bytes, uint8_t len, uint8_t when) {
        memcpy(buf, &off, 4);
        buf[4] = len;
        buf[5] = when;
        memcpy(buf + 6, bytes, len);
        return 6u + len;
}

static void walker_seed(Fake *f, size_t row, const char *variant, uint8_t flags, uint8_t samples,
                        const uint8_t *patches, size_t patches_len) {
        FuzzWalkerHeader h = { .row = (uint8_t) row, .flags = flags, .samples = (uint8_t) (samples - 1) };
        const Image *img = &f->img;
        char name[64];

        if (img->base != FUZZ_BASE) {
                fprintf(stderr, "gen-seeds: image base is not FUZZ_BASE\n");
                exit(1);
        }
        h.image_len = (uint32_t) img->size;
        for (size_t i = 0; i < _PYSYM_MAX; i++)
                h.sym[i] = img->sym[i] ? (uint32_t) (img->sym[i] - img->base) : 0;

        size_t total = sizeof(h) + img->size;
        uint8_t *buf = malloc(total);
        if (!buf)
                abort();
        memcpy(buf, &h, sizeof(h));
        memcpy(buf + sizeof(h), img->data, img->size);
        snprintf(name, sizeof(name), "%u.%u-%s", f->o->major, f->o->minor, variant);
        write_file("walker", name, buf, total, patches, patches_len);
        free(buf);
}

static void walker_seeds(void) {
        size_t n;
        const PyOffsets *rows = pyoffsets_all(&n);

        for (size_t i = 0; i < n; i++) {
                const PyOffsets *o = &rows[i];
                Fake f;
                uint8_t patches[64];
                size_t pl = 0;

                /* The plain process, sampled twice: before the second, inner's code object
                 * gets middle's name (a code object that died and left its address). */
                fake_build(&f, o);
                uint64_t name = img_get_u64(&f.img, f.code[1] + o->code.name);
                pl = put_patch(patches, (uint32_t) (f.code[0] + o->code.name - f.img.base), &name, 8, 1);
                walker_seed(&f, i, "basic", WALK_LOCALS | WALK_NAMES, 2, patches, pl);
                walker_seed(&f, i, "nogil", WALK_NO_GIL, 1, NULL, 0);
                img_done(&f.img);

                /* The rich process, three samples; before the third, thread 1's frame chain
                 * loses its caller. */
                fake_build_rich(&f, o);
                uint64_t zero = 0;
                uint32_t back = o->frame_model == FRAME_OBJECT ? o->frame.back : o->iframe.previous;
                pl = put_patch(patches, (uint32_t) (f.frames[0][1] + back - f.img.base), &zero, 8, 2);
                walker_seed(&f, i, "rich", WALK_LOCALS | WALK_NAMES, 3, patches, pl);

                /* 3.13: the row taken from the interpreter's own _Py_DebugOffsets. */
                if (o->major == 3 && o->minor == 13) {
                        uint64_t rt = f.img.sym[PYSYM_RUNTIME];
                        img_put_bytes(&f.img, rt, "xdebugpy", 8);
                        img_put_bytes(&f.img, rt + 8, live313, sizeof(live313));
                        if (img_get_u64(&f.img, rt + o->runtime.interpreters_head) != f.interp) {
                                fprintf(stderr, "gen-seeds: the debug offsets overlap the interpreters head\n");
                                exit(1);
                        }
                        MemReader *mr = NULL;
                        PyOffsets derived;
                        if (img_reader(&f.img, &mr) < 0 || pyoffsets_from_debug_offsets(mr, rt, &derived) < 0) {
                                fprintf(stderr, "gen-seeds: the 3.13 debug offsets do not read back\n");
                                exit(1);
                        }
                        memreader_free(mr);
                        walker_seed(&f, i, "debugoffsets", WALK_LOCALS | WALK_NAMES | FUZZ_DEBUG_OFFSETS, 1, NULL, 0);
                }
                img_done(&f.img);
        }
}

/* ---- line tables ---- */

typedef struct LtInput {
        uint8_t format, signed_lnotab;
        int32_t first, addr;
} __attribute__((packed)) LtInput;

static void lt_seed(const char *ver, const char *name, LineTable fmt, int signed_lnotab, const uint8_t *table,
                    size_t len, int first, const int (*expect)[2], size_t n) {
        LtInput in = { .format = fmt == LNOTAB ? 0 : fmt == LINETABLE_310 ? 1 : 2,
                       .signed_lnotab = (uint8_t) signed_lnotab, .first = first,
                       .addr = n ? expect[n / 2][0] : 0 };
        char file[64];
        _Static_assert(sizeof(LtInput) == 10, "fuzz-linetable reads 10 header bytes");
        snprintf(file, sizeof(file), "%s-%s", ver, name);
        write_file("linetable", file, &in, sizeof(in), table, len);
}

#define LT_CASE(ver, name, len, first)                                                               \
        lt_seed(#ver, #name, LT_FORMAT, LT_SIGNED, lt_##ver##_##name##_table, len, first,             \
                lt_##ver##_##name##_expect, ELEMENTSOF(lt_##ver##_##name##_expect));

static void linetable_seeds(void) {
#include "fixtures/linetable-all.inc"
}

/* ---- configuration files ---- */

static const char *const configs[][2] = {
        { "minimal", "[watch:app]\npid = 1234\n" },
        { "every-key",
          "; every key once\n"
          "[daemon]\n"
          "state_dir = /var/lib/pyspy-watch\n"
          "max_incidents = 20\n"
          "max_incident_bytes = 64M\n"
          "\n"
          "[watch:web]\n"
          "match = gunicorn: worker\n"
          "rate = 20\n"
          "stuck_after = 90s\n"
          "window = 22:00-04:00\n"
          "threads = main\n"
          "ignore = ^select \\(\n"
          "        |^accept \\(\n"
          "history = 5m\n"
          "locals = no\n"
          "redact = secret|token\n"
          "cooldown = 1h\n"
          "action = exec\n"
          "exec = /usr/local/bin/page {name} {pid} {bundle}\n"
          "\n"
          "[watch:by-file]\n"
          "pidfile = /run/app.pid\n"
          "action = kill\n"
          "\n"
          "[watch:by-unit]\n"
          "unit = app.service\n" },
        { "errors",
          "[daemon]\nstate_dir = relative\nmax_incidents = -1\n"
          "[watch:x]\nrte = 5\nrate = 0\nstuck_after = forever\nwindow = 25:00-01:00\n"
          "ignore = (\n[watch:x]\npid = 1\npid = 2\n[other]\nkey\n" },
};

static void config_seeds(void) {
        for (size_t i = 0; i < ELEMENTSOF(configs); i++)
                write_file("config", configs[i][0], configs[i][1], strlen(configs[i][1]), NULL, 0);
}

int main(int argc, char **argv) {
        if (argc != 2) {
                fprintf(stderr, "usage: gen-seeds DIR\n");
                return 2;
        }
        dir = argv[1];
        walker_seeds();
        linetable_seeds();
        config_seeds();
        return 0;
}
