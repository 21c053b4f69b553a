/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "folded.h"
#include "macro.h"

#define UNKNOWN "<unknown>"
#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD in UTF-8 */

/* Length of the UTF-8 sequence at p (n > 0 bytes available), with *ret_valid telling whether
 * it decodes to a character (strictly: no overlong forms, surrogates or values past U+10FFFF)
 * and *ret_cp that character. An invalid stretch is a byte that cannot start a sequence, or
 * the longest prefix of one that could still have become valid (Unicode's "maximal subpart"),
 * so the replacement count matches escape.h's writers and Python's errors="replace". */
static size_t utf8_decode(const uint8_t *p, size_t n, uint32_t *ret_cp, bool *ret_valid) {
        static const struct {
                uint8_t first_lo, first_hi, len, second_lo, second_hi;
        } forms[] = {
                { 0xC2, 0xDF, 2, 0x80, 0xBF },
                { 0xE0, 0xE0, 3, 0xA0, 0xBF }, /* E0 80..9F would be overlong */
                { 0xE1, 0xEC, 3, 0x80, 0xBF },
                { 0xED, 0xED, 3, 0x80, 0x9F }, /* ED A0..BF would be a surrogate */
                { 0xEE, 0xEF, 3, 0x80, 0xBF },
                { 0xF0, 0xF0, 4, 0x90, 0xBF }, /* F0 80..8F would be overlong */
                { 0xF1, 0xF3, 4, 0x80, 0xBF },
                { 0xF4, 0xF4, 4, 0x80, 0x8F }, /* F4 90.. would be past U+10FFFF */
        };
        uint8_t c = p[0];

        *ret_valid = false;
        if (c < 0x80) {
                *ret_cp = c;
                *ret_valid = true;
                return 1;
        }
        for (size_t k = 0; k < ELEMENTSOF(forms); k++) {
                if (c < forms[k].first_lo || c > forms[k].first_hi)
                        continue;

                uint32_t cp = c & (0x7F >> forms[k].len);
                for (size_t i = 1; i < forms[k].len; i++) {
                        uint8_t lo = i == 1 ? forms[k].second_lo : 0x80;
                        uint8_t hi = i == 1 ? forms[k].second_hi : 0xBF;

                        if (i >= n || p[i] < lo || p[i] > hi)
                                return i;
                        cp = cp << 6 | (p[i] & 0x3F);
                }
                *ret_cp = cp;
                *ret_valid = true;
                return forms[k].len;
        }
        /* A continuation byte, C0/C1 (only ever overlong) or F5..FF: one byte alone. */
        return 1;
}

/* Characters that would break a line, or change how it is shown on a terminal that `cat`s the
 * file (the "Trojan Source" bidi controls, CVE-2021-42574). */
static bool is_unprintable(uint32_t cp) {
        return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp == 0x061C || cp == 0x200E ||
                cp == 0x200F || cp == 0x2028 || cp == 0x2029 || (cp >= 0x202A && cp <= 0x202E) ||
                (cp >= 0x2066 && cp <= 0x2069);
}

int folded_write_name(FILE *f, const char *s) {
        const uint8_t *p = (const uint8_t *) s;
        size_t n = strlen(s), run = 0;

        assert(f);

        /* Pass-through text is written in runs: names are mostly plain. */
        for (size_t i = 0; i < n;) {
                uint32_t cp = 0;
                bool valid;
                size_t l = utf8_decode(p + i, n - i, &cp, &valid);
                const char *subst = !valid ? REPLACEMENT : cp == ';' ? ":" : is_unprintable(cp) ? "?" : NULL;

                if (subst) {
                        if (i > run)
                                (void) fwrite(s + run, 1, i - run, f);
                        (void) fputs(subst, f);
                        run = i + l;
                }
                i += l;
        }
        if (n > run)
                (void) fwrite(s + run, 1, n - run, f);

        return ferror(f) ? -EIO : 0;
}

static const char *name_or_unknown(const char *s) {
        return s && *s ? s : UNKNOWN;
}

static int frame_text_write(FILE *f, const ProfileFrame *fr) {
        (void) folded_write_name(f, name_or_unknown(fr->function));
        if (fr->kind != PROFILE_FRAME_PYTHON)
                return ferror(f) ? -EIO : 0;

        fputs(" (", f);
        (void) folded_write_name(f, name_or_unknown(fr->short_filename));
        if (fr->line > 0)
                fprintf(f, ":%d", fr->line);
        fputc(')', f);
        return ferror(f) ? -EIO : 0;
}

/* Every frame's text, rendered once: stacks share frames, and the sort compares texts many
 * times over. */
typedef struct FrameTexts {
        char **text;
        size_t *len;
        size_t n;
} FrameTexts;

static void frame_texts_done(FrameTexts *t) {
        if (t->text)
                for (size_t i = 0; i < t->n; i++)
                        free(t->text[i]);
        free(t->text);
        free(t->len);
        *t = (FrameTexts) {};
}

static int frame_texts_build(FrameTexts *t, const Profile *p) {
        size_t n = profile_n_frames(p);

        *t = (FrameTexts) {};
        t->text = calloc(MAX(n, 1u), sizeof(char *));
        t->len = calloc(MAX(n, 1u), sizeof(size_t));
        if (!t->text || !t->len)
                return -ENOMEM;
        t->n = n;

        for (size_t i = 0; i < n; i++) {
                _cleanup_fclose_ FILE *m = open_memstream(&t->text[i], &t->len[i]);

                if (!m)
                        return -ENOMEM;
                /* A memstream fails only for lack of memory. */
                if (frame_text_write(m, profile_frame(p, (uint32_t) i)) < 0 || fflush(m) != 0)
                        return -ENOMEM;
        }
        return 0;
}

/* A stack's line text, read one byte at a time without building it: the frames' texts joined
 * by ';'. Comparing these is strcmp() of the joined texts, which is what the order and the
 * merging of equal lines are defined on. */
typedef struct TextCursor {
        const FrameTexts *t;
        const ProfileStack *s;
        size_t frame, off;
} TextCursor;

/* The next byte, or -1 at the end of the text. Frame texts are never empty. */
static int cursor_next(TextCursor *c) {
        if (c->frame >= c->s->n_frames)
                return -1;

        uint32_t id = c->s->frames[c->frame];
        if (c->off < c->t->len[id])
                return (uint8_t) c->t->text[id][c->off++];

        c->frame++;
        c->off = 0;
        return c->frame < c->s->n_frames ? ';' : -1;
}

typedef struct SortCtx {
        const Profile *p;
        const FrameTexts *t;
} SortCtx;

static int cmp_size(size_t a, size_t b) {
        return a < b ? -1 : a > b;
}

static int stack_text_cmp(const void *a, const void *b, void *userdata) {
        const SortCtx *ctx = userdata;
        TextCursor ca = { .t = ctx->t, .s = profile_stack(ctx->p, *(const size_t *) a) };
        TextCursor cb = { .t = ctx->t, .s = profile_stack(ctx->p, *(const size_t *) b) };
        size_t k = 0, common = MIN(ca.s->n_frames, cb.s->n_frames);

        /* Stacks mostly share a long root: the same frame ids are the same text, so skip them
         * whole rather than byte by byte. When one stack is a prefix of the other by ids, the
         * shorter text ends where the longer has ';': the shorter sorts first. */
        while (k < common && ca.s->frames[k] == cb.s->frames[k])
                k++;
        if (k == common)
                return cmp_size(ca.s->n_frames, cb.s->n_frames);
        ca.frame = cb.frame = k;

        for (;;) {
                int x = cursor_next(&ca), y = cursor_next(&cb);

                if (x != y)
                        return x < y ? -1 : 1;
                if (x < 0)
                        return 0;
        }
}

int folded_write(FILE *f, const Profile *p) {
        _cleanup_(frame_texts_done) FrameTexts t = {};
        _cleanup_free_ size_t *order = NULL;
        size_t n = 0;
        int r;

        assert(f);
        assert(p);

        r = frame_texts_build(&t, p);
        if (r < 0)
                return r;

        order = calloc(MAX(profile_n_stacks(p), 1u), sizeof(size_t));
        if (!order)
                return -ENOMEM;
        for (size_t i = 0; i < profile_n_stacks(p); i++) {
                const ProfileStack *s = profile_stack(p, i);

                /* Neither would be a parseable line ("^(.+) (\d+)$" with no empty frame, and a
                 * count of 0 is a stack that never ran). */
                if (s->n_frames > 0 && s->count > 0)
                        order[n++] = i;
        }

        SortCtx ctx = { .p = p, .t = &t };
        qsort_r(order, n, sizeof(size_t), stack_text_cmp, &ctx);

        for (size_t i = 0; i < n;) {
                const ProfileStack *s = profile_stack(p, order[i]);
                uint64_t count = 0;
                size_t j = i;

                /* Equal texts are adjacent after the sort: one line for all of them. */
                for (; j < n && stack_text_cmp(&order[i], &order[j], &ctx) == 0; j++) {
                        uint64_t c = profile_stack(p, order[j])->count;
                        count = c > UINT64_MAX - count ? UINT64_MAX : count + c;
                }

                for (size_t k = 0; k < s->n_frames; k++) {
                        uint32_t id = s->frames[k];

                        if (k > 0)
                                fputc(';', f);
                        (void) fwrite(t.text[id], 1, t.len[id], f);
                }
                fprintf(f, " %" PRIu64 "\n", count);
                if (ferror(f))
                        return -EIO;
                i = j;
        }

        if (fflush(f) != 0 || ferror(f))
                return -EIO;
        return 0;
}
