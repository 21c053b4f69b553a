/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "macro.h"
#include "speedscope.h"

/* Same fallback as watchdog/main.c: the build may pass the real one with -D. */
#ifndef PYSPY_WATCH_VERSION
#define PYSPY_WATCH_VERSION "0.1.0"
#endif

#define SCHEMA_URL "https://www.speedscope.app/file-format-schema.json"
#define UNKNOWN "<unknown>"
#define NSEC_PER_SEC UINT64_C(1000000000)

/* A weight in seconds as whole seconds plus nanoseconds, so weights are computed and summed
 * exactly (no floating point, no locale) and endValue is precisely the sum of the weights
 * written. */
typedef struct Fixed {
        uint64_t sec, nsec;
} Fixed;

static Fixed fixed_from_ratio(uint64_t count, unsigned rate) {
        /* rem < rate < 2^32, so rem * 10^9 < 2^62: no overflow. Truncated to the nanosecond. */
        uint64_t rem = count % rate;
        return (Fixed) { .sec = count / rate, .nsec = rem * NSEC_PER_SEC / rate };
}

static void fixed_add(Fixed *a, Fixed b) {
        a->sec += b.sec;
        a->nsec += b.nsec;
        if (a->nsec >= NSEC_PER_SEC) {
                a->sec++;
                a->nsec -= NSEC_PER_SEC;
        }
}

static void fixed_write(FILE *f, Fixed v) {
        char frac[16];
        int n;

        fprintf(f, "%" PRIu64, v.sec);
        if (v.nsec == 0)
                return;
        n = snprintf(frac, sizeof(frac), "%09" PRIu64, v.nsec);
        while (n > 0 && frac[n - 1] == '0')
                n--;
        fprintf(f, ".%.*s", n, frac);
}

/* One stack as it goes into a profile: skip leading frames are left out (the thread/process
 * frames that name the profile instead). */
typedef struct Entry {
        const ProfileStack *s;
        size_t skip;
} Entry;

/* A run of entries forming one speedscope profile. */
typedef struct Group {
        size_t first, n;
        uint64_t total;
} Group;

typedef struct Ctx {
        const Profile *p;
        bool split;
} Ctx;

static size_t leading_labels(const Profile *p, const ProfileStack *s) {
        size_t k = 0;

        while (k < s->n_frames && profile_frame(p, s->frames[k])->kind != PROFILE_FRAME_PYTHON)
                k++;
        return k;
}

/* Counts are sample counts: they never come near 2^64, but a sum must not wrap if they did. */
static uint64_t add_sat(uint64_t a, uint64_t b) {
        return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

static int cmp_u64(uint64_t a, uint64_t b) {
        return a < b ? -1 : a > b;
}

static int entry_key_cmp(const Entry *a, const Entry *b) {
        int r = cmp_u64((uint64_t) (int64_t) a->s->pid, (uint64_t) (int64_t) b->s->pid);
        return r ? r : cmp_u64(a->s->thread_id, b->s->thread_id);
}

/* Frame ids compared as sequences: a prefix first, so stacks sharing a prefix are adjacent
 * and speedscope's time-order view draws them as one block. */
static int entry_frames_cmp(const Entry *a, const Entry *b) {
        size_t na = a->s->n_frames - a->skip, nb = b->s->n_frames - b->skip;
        const uint32_t *fa = a->s->frames + a->skip, *fb = b->s->frames + b->skip;

        for (size_t i = 0; i < MIN(na, nb); i++)
                if (fa[i] != fb[i])
                        return fa[i] < fb[i] ? -1 : 1;
        return cmp_u64(na, nb);
}

static int entry_cmp(const void *x, const void *y, void *userdata) {
        const Ctx *ctx = userdata;
        const Entry *a = x, *b = y;
        int r;

        if (ctx->split) {
                r = entry_key_cmp(a, b);
                if (r)
                        return r;
        }
        return entry_frames_cmp(a, b);
}

static int group_cmp(const void *x, const void *y, void *userdata) {
        const Entry *entries = userdata;
        const Group *a = x, *b = y;

        if (a->total != b->total)
                return a->total > b->total ? -1 : 1;
        return entry_key_cmp(&entries[a->first], &entries[b->first]);
}

static char *file_name_new(const ProfileInfo *info) {
        char *s = NULL;
        int r;

        if (info->cmdline && info->cmdline[0])
                r = asprintf(&s, "%s (pid %d)", info->cmdline, (int) info->pid);
        else if (info->pid > 0)
                r = asprintf(&s, "pid %d", (int) info->pid);
        else
                r = asprintf(&s, "pyspy-watch profile");
        return r < 0 ? NULL : s;
}

/* The name of a split profile: its root labels (`process 12 thread (0x7f..) "MainThread"`), or
 * when its stacks have none, the process and thread ids. */
static char *group_name_new(const Profile *p, const Entry *e, bool many_pids) {
        char *s = NULL;
        size_t len = 0;
        FILE *m;

        m = open_memstream(&s, &len);
        if (!m)
                return NULL;
        for (size_t k = 0; k < e->skip; k++) {
                const char *label = profile_frame(p, e->s->frames[k])->function;
                fprintf(m, "%s%s", k > 0 ? " " : "", label && *label ? label : UNKNOWN);
        }
        if (e->skip == 0) {
                if (many_pids || e->s->thread_id == 0)
                        fprintf(m, "process %d", (int) e->s->pid);
                if (e->s->thread_id != 0)
                        fprintf(m, "%sthread 0x%" PRIx64, many_pids ? " " : "", e->s->thread_id);
        }
        /* A memstream fails only for lack of memory; fclose() reports it. */
        if (fclose(m) != 0) {
                free(s);
                return NULL;
        }
        return s;
}

static void frames_write(FILE *f, const Profile *p) {
        fputs("\"shared\": {\"frames\": [", f);
        for (size_t i = 0; i < profile_n_frames(p); i++) {
                const ProfileFrame *fr = profile_frame(p, (uint32_t) i);

                fputs(i > 0 ? ",\n  {\"name\": " : "\n  {\"name\": ", f);
                /* An empty name would be an invisible frame: shown like a missing one. */
                (void) json_write_string(f, fr->function && *fr->function ? fr->function : UNKNOWN);
                if (fr->kind == PROFILE_FRAME_PYTHON && fr->filename) {
                        fputs(", \"file\": ", f);
                        (void) json_write_string(f, fr->filename);
                }
                if (fr->kind == PROFILE_FRAME_PYTHON && fr->line > 0)
                        fprintf(f, ", \"line\": %d", fr->line);
                fputc('}', f);
        }
        fputs("]},\n", f);
}

static void profile_write(FILE *f, const Entry *entries, const Group *g, const char *name, unsigned rate) {
        Fixed end = {};
        bool first;

        if (rate > 0)
                for (size_t i = g->first; i < g->first + g->n; i++)
                        fixed_add(&end, fixed_from_ratio(entries[i].s->count, rate));

        fputs("  {\"type\": \"sampled\", \"name\": ", f);
        (void) json_write_string(f, name);
        fprintf(f, ", \"unit\": \"%s\", \"startValue\": 0, \"endValue\": ", rate > 0 ? "seconds" : "none");
        if (rate > 0)
                fixed_write(f, end);
        else
                fprintf(f, "%" PRIu64, g->total);

        /* Entries equal after stripping (one thread's stacks under two thread names) are
         * adjacent: written once with the sum of their counts. */
        fputs(",\n   \"samples\": [", f);
        first = true;
        for (size_t i = g->first; i < g->first + g->n;) {
                const Entry *e = &entries[i];
                size_t j = i + 1;

                while (j < g->first + g->n && entry_frames_cmp(e, &entries[j]) == 0)
                        j++;
                fputs(first ? "\n    [" : ",\n    [", f);
                for (size_t k = e->skip; k < e->s->n_frames; k++)
                        fprintf(f, "%s%" PRIu32, k > e->skip ? ", " : "", e->s->frames[k]);
                fputc(']', f);
                first = false;
                i = j;
        }
        fputs("],\n   \"weights\": [", f);
        first = true;
        for (size_t i = g->first; i < g->first + g->n;) {
                const Entry *e = &entries[i];
                uint64_t count = 0;
                Fixed w = {};
                size_t j = i;

                /* Summed as weights (not as counts then divided), so endValue stays exactly
                 * the sum of what is written. */
                for (; j < g->first + g->n && entry_frames_cmp(e, &entries[j]) == 0; j++) {
                        count = add_sat(count, entries[j].s->count);
                        if (rate > 0)
                                fixed_add(&w, fixed_from_ratio(entries[j].s->count, rate));
                }
                fputs(first ? "" : ", ", f);
                if (rate > 0)
                        fixed_write(f, w);
                else
                        fprintf(f, "%" PRIu64, count);
                first = false;
                i = j;
        }
        fputs("]}", f);
}

int speedscope_write(FILE *f, const Profile *p) {
        /* profile_info() hands out the writable info; this writer only reads it. */
        const ProfileInfo *info = profile_info((Profile *) p);
        _cleanup_free_ Entry *entries = NULL;
        _cleanup_free_ Group *groups = NULL;
        _cleanup_free_ char *file_name = NULL;
        char **names = NULL;
        size_t n = 0, n_groups = 0;
        bool many_pids = false, split = false;
        int r = 0;

        assert(f);
        assert(p);

        entries = calloc(MAX(profile_n_stacks(p), 1u), sizeof(Entry));
        file_name = file_name_new(info);
        if (!entries || !file_name)
                return -ENOMEM;

        for (size_t i = 0; i < profile_n_stacks(p); i++) {
                const ProfileStack *s = profile_stack(p, i);

                /* A stack that never ran (count 0) has no place in a sampled profile. */
                if (s->count == 0)
                        continue;
                if (n > 0 && s->pid != entries[0].s->pid)
                        many_pids = true;
                if (s->thread_id != 0 || leading_labels(p, s) > 0)
                        split = true;
                entries[n++] = (Entry) { .s = s };
        }
        split = split || many_pids;
        if (split)
                for (size_t i = 0; i < n; i++)
                        entries[i].skip = leading_labels(p, entries[i].s);

        Ctx ctx = { .p = p, .split = split };
        qsort_r(entries, n, sizeof(Entry), entry_cmp, &ctx);

        groups = calloc(MAX(n, 1u), sizeof(Group));
        if (!groups)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                if (n_groups == 0 || (split && entry_key_cmp(&entries[i], &entries[groups[n_groups - 1].first]) != 0))
                        groups[n_groups++] = (Group) { .first = i };
                Group *g = &groups[n_groups - 1];
                g->n++;
                g->total = add_sat(g->total, entries[i].s->count);
        }
        qsort_r(groups, n_groups, sizeof(Group), group_cmp, entries);

        /* Every name before the first byte is written, so -ENOMEM leaves f untouched. */
        names = calloc(MAX(n_groups, 1u), sizeof(char *));
        if (!names)
                return -ENOMEM;
        for (size_t i = 0; i < n_groups; i++) {
                names[i] = split ? group_name_new(p, &entries[groups[i].first], many_pids) : strdup(file_name);
                if (!names[i]) {
                        r = -ENOMEM;
                        goto finish;
                }
        }

        fputs("{\"$schema\": \"" SCHEMA_URL "\",\n", f);
        frames_write(f, p);
        fputs("\"profiles\": [\n", f);
        if (n_groups == 0) {
                /* speedscope needs a profile to open; an empty one says "no samples". */
                Group empty = {};
                profile_write(f, entries, &empty, file_name, info->rate);
        }
        for (size_t i = 0; i < n_groups; i++) {
                if (i > 0)
                        fputs(",\n", f);
                profile_write(f, entries, &groups[i], names[i], info->rate);
        }
        fputs("\n],\n\"name\": ", f);
        (void) json_write_string(f, file_name);
        fputs(", \"activeProfileIndex\": 0, \"exporter\": \"pyspy-watch " PYSPY_WATCH_VERSION "\"}\n", f);

        if (fflush(f) != 0 || ferror(f))
                r = -EIO;
finish:
        for (size_t i = 0; i < n_groups; i++)
                free(names[i]);
        free(names);
        return r;
}
