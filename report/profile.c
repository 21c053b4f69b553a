/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "profile.h"

/* Frames and stacks are interned in open-addressing tables of ids (0 = empty slot, id + 1
 * otherwise) that double when half full. */

#define PCACHE_SIZE 128

typedef struct Stack {
        ProfileStack pub;
        uint64_t hash;
        uint32_t first;    /* into Profile.stack_frames */
} Stack;

struct Profile {
        ProfileInfo info;

        ProfileFrame *frames;
        uint64_t *frame_hash;
        size_t n_frames, a_frames;
        uint32_t *frame_index;
        size_t frame_index_size;

        Stack *stacks;
        size_t n_stacks, a_stacks;
        uint32_t *stack_index;
        size_t stack_index_size;

        uint32_t *stack_frames;      /* every stack's frame ids, concatenated */
        size_t n_stack_frames, a_stack_frames;

        /* Frames by the identity of their strings: snapshots hand out the same pointers for the
         * same code object sample after sample, so most lookups skip hashing the names. Every
         * hit is checked against the strings themselves. */
        struct { const char *function, *filename; int line; ProfileFrameKind kind; uint32_t id; bool used; } pcache[PCACHE_SIZE];

        uint32_t *scratch;           /* the stack being looked up */
        size_t a_scratch;
        uint64_t total;
};

static uint64_t hash_bytes(uint64_t h, const void *data, size_t n) {
        const uint8_t *p = data;
        for (size_t i = 0; i < n; i++)
                h = (h ^ p[i]) * 0x100000001b3ULL;
        return h;
}

static uint64_t hash_str(uint64_t h, const char *s) {
        return s ? hash_bytes(h, s, strlen(s) + 1) : hash_bytes(h, "", 1) * 31;
}

static uint64_t frame_hash(const ProfileFrame *f) {
        uint64_t h = 0xcbf29ce484222325ULL;
        h = hash_bytes(h, &f->kind, sizeof(f->kind));
        h = hash_str(h, f->function);
        h = hash_str(h, f->filename);
        return hash_bytes(h, &f->line, sizeof(f->line));
}

static bool frame_eq(const ProfileFrame *a, const ProfileFrame *b) {
        return a->kind == b->kind && a->line == b->line && streq_ptr(a->function, b->function) &&
               streq_ptr(a->filename, b->filename);
}

int profile_new(Profile **ret) {
        Profile *p = calloc(1, sizeof(Profile));
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

static void frames_free(Profile *p) {
        for (size_t i = 0; i < p->n_frames; i++) {
                free((char *) p->frames[i].function);
                free((char *) p->frames[i].filename);
        }
        p->n_frames = 0;
}

void profile_clear(Profile *p) {
        frames_free(p);
        memset(p->pcache, 0, sizeof(p->pcache));
        p->n_stacks = p->n_stack_frames = 0;
        p->total = 0;
        if (p->frame_index)
                memset(p->frame_index, 0, p->frame_index_size * sizeof(uint32_t));
        if (p->stack_index)
                memset(p->stack_index, 0, p->stack_index_size * sizeof(uint32_t));
}

Profile *profile_free(Profile *p) {
        if (!p)
                return NULL;
        frames_free(p);
        free(p->frames);
        free(p->frame_hash);
        free(p->frame_index);
        free(p->stacks);
        free(p->stack_index);
        free(p->stack_frames);
        free(p->scratch);
        free(p->info.cmdline);
        free(p->info.python_version);
        free(p);
        return NULL;
}

ProfileInfo *profile_info(Profile *p) {
        return &p->info;
}

static int index_grow(uint32_t **index, size_t *size, size_t n, const uint64_t *(*hash_of)(const Profile *, uint32_t),
                      const Profile *p) {
        if (*size && n < *size / 2)
                return 0;
        size_t ns = *size ? *size * 2 : 1024;
        uint32_t *ni = calloc(ns, sizeof(uint32_t));
        if (!ni)
                return -ENOMEM;
        for (size_t i = 0; i < *size; i++) {
                uint32_t id = (*index)[i];
                if (!id)
                        continue;
                size_t j = *hash_of(p, id - 1) & (ns - 1);
                while (ni[j])
                        j = (j + 1) & (ns - 1);
                ni[j] = id;
        }
        free(*index);
        *index = ni;
        *size = ns;
        return 0;
}

static const uint64_t *frame_hash_of(const Profile *p, uint32_t id) {
        return &p->frame_hash[id];
}

static const uint64_t *stack_hash_of(const Profile *p, uint32_t id) {
        return &p->stacks[id].hash;
}

static char *dup_or_null(const char *s) {
        return s ? strdup(s) : NULL;
}

static int64_t frame_intern_slow(Profile *p, const ProfileFrame *f);

/* The id of frame f, interning a copy of it when new; -ENOMEM. */
static int64_t frame_intern(Profile *p, const ProfileFrame *f) {
        size_t slot = (size_t) ((((uintptr_t) f->function >> 3) ^ ((uintptr_t) f->filename >> 5) ^ (uintptr_t) f->line * 31) &
                                (PCACHE_SIZE - 1));
        __typeof__(p->pcache[0]) *e = &p->pcache[slot];
        if (e->used && e->function == f->function && e->filename == f->filename && e->line == f->line &&
            e->kind == f->kind && e->id < p->n_frames && frame_eq(&p->frames[e->id], f))
                return e->id;
        int64_t id = frame_intern_slow(p, f);
        if (id >= 0)
                *e = (__typeof__(*e)) { f->function, f->filename, f->line, f->kind, (uint32_t) id, true };
        return id;
}

static int64_t frame_intern_slow(Profile *p, const ProfileFrame *f) {
        uint64_t h = frame_hash(f);
        int r = index_grow(&p->frame_index, &p->frame_index_size, p->n_frames, frame_hash_of, p);
        if (r < 0)
                return r;
        size_t mask = p->frame_index_size - 1, j = h & mask;
        for (; p->frame_index[j]; j = (j + 1) & mask) {
                uint32_t id = p->frame_index[j] - 1;
                if (p->frame_hash[id] == h && frame_eq(&p->frames[id], f))
                        return id;
        }
        if (p->n_frames >= p->a_frames) {
                size_t na = p->a_frames ? p->a_frames * 2 : 256;
                ProfileFrame *nf = reallocarray(p->frames, na, sizeof(ProfileFrame));
                if (!nf)
                        return -ENOMEM;
                p->frames = nf;
                uint64_t *nh = reallocarray(p->frame_hash, na, sizeof(uint64_t));
                if (!nh)
                        return -ENOMEM;
                p->frame_hash = nh;
                p->a_frames = na;
        }
        ProfileFrame c = *f;
        c.function = dup_or_null(f->function);
        c.filename = dup_or_null(f->filename);
        if ((f->function && !c.function) || (f->filename && !c.filename)) {
                free((char *) c.function);
                free((char *) c.filename);
                return -ENOMEM;
        }
        c.short_filename = c.filename ? profile_short_filename(c.filename) : NULL;
        uint32_t id = (uint32_t) p->n_frames++;
        p->frames[id] = c;
        p->frame_hash[id] = h;
        p->frame_index[j] = id + 1;
        return id;
}

static int stack_intern(Profile *p, pid_t pid, uint64_t thread_id, const uint32_t *ids, size_t n, uint64_t count) {
        uint64_t h = 0xcbf29ce484222325ULL;
        h = hash_bytes(h, &pid, sizeof(pid));
        h = hash_bytes(h, &thread_id, sizeof(thread_id));
        h = hash_bytes(h, ids, n * sizeof(uint32_t));

        int r = index_grow(&p->stack_index, &p->stack_index_size, p->n_stacks, stack_hash_of, p);
        if (r < 0)
                return r;
        size_t mask = p->stack_index_size - 1, j = h & mask;
        for (; p->stack_index[j]; j = (j + 1) & mask) {
                Stack *s = &p->stacks[p->stack_index[j] - 1];
                if (s->hash == h && s->pub.n_frames == n && s->pub.pid == pid && s->pub.thread_id == thread_id &&
                    memcmp(p->stack_frames + s->first, ids, n * sizeof(uint32_t)) == 0) {
                        s->pub.count += count;
                        p->total += count;
                        return 0;
                }
        }
        if (p->n_stacks >= p->a_stacks) {
                size_t na = p->a_stacks ? p->a_stacks * 2 : 256;
                Stack *ns = reallocarray(p->stacks, na, sizeof(Stack));
                if (!ns)
                        return -ENOMEM;
                p->stacks = ns;
                p->a_stacks = na;
        }
        if (p->n_stack_frames + n > p->a_stack_frames) {
                size_t na = MAX(p->a_stack_frames * 2, p->n_stack_frames + n + 1024);
                uint32_t *nf = reallocarray(p->stack_frames, na, sizeof(uint32_t));
                if (!nf)
                        return -ENOMEM;
                p->stack_frames = nf;
                p->a_stack_frames = na;
                /* Stacks hand out pointers into stack_frames: refresh them. */
                for (size_t i = 0; i < p->n_stacks; i++)
                        p->stacks[i].pub.frames = p->stack_frames + p->stacks[i].first;
        }
        memcpy(p->stack_frames + p->n_stack_frames, ids, n * sizeof(uint32_t));
        Stack *s = &p->stacks[p->n_stacks];
        *s = (Stack) {
                .pub = { .frames = p->stack_frames + p->n_stack_frames, .n_frames = n, .count = count,
                         .pid = pid, .thread_id = thread_id },
                .hash = h,
                .first = (uint32_t) p->n_stack_frames,
        };
        p->n_stack_frames += n;
        p->stack_index[j] = (uint32_t) ++p->n_stacks;
        p->total += count;
        return 0;
}

static int scratch_reserve(Profile *p, size_t n) {
        if (n <= p->a_scratch)
                return 0;
        size_t na = MAX(n, p->a_scratch * 2);
        uint32_t *s = reallocarray(p->scratch, na, sizeof(uint32_t));
        if (!s)
                return -ENOMEM;
        p->scratch = s;
        p->a_scratch = na;
        return 0;
}

int profile_add_stack(Profile *p, pid_t pid, uint64_t thread_id, const ProfileFrame *innermost_first, size_t n,
                      uint64_t count) {
        int r = scratch_reserve(p, n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                int64_t id = frame_intern(p, &innermost_first[n - 1 - i]);
                if (id < 0)
                        return (int) id;
                p->scratch[i] = (uint32_t) id;
        }
        return stack_intern(p, pid, thread_id, p->scratch, n, count);
}

int profile_add_snapshot(Profile *p, pid_t pid, const Snapshot *snap, unsigned flags) {
        char label[320];
        int r;

        for (size_t t = 0; t < snap->n_threads; t++) {
                const StackThread *th = &snap->threads[t];
                size_t k = 0;

                if (th->n_frames == 0 || th->truncated)
                        continue;
                if (th->idle && !(flags & PROFILE_IDLE))
                        continue;
                if ((flags & PROFILE_GIL) && !th->gil)
                        continue;
                r = scratch_reserve(p, th->n_frames + 2);
                if (r < 0)
                        return r;
                if (flags & PROFILE_PROCESS) {
                        snprintf(label, sizeof(label), "process %d", (int) pid);
                        ProfileFrame pf = { .kind = PROFILE_FRAME_PROCESS, .function = label };
                        int64_t id = frame_intern(p, &pf);
                        if (id < 0)
                                return (int) id;
                        p->scratch[k++] = (uint32_t) id;
                }
                if (flags & PROFILE_THREADS) {
                        if (th->name) {
                                /* At most 256 bytes of the name, cut on a character boundary. */
                                int n = (int) strnlen(th->name, 256);
                                if (th->name[n] != 0)
                                        while (n > 0 && ((unsigned char) th->name[n] & 0xc0) == 0x80)
                                                n--;
                                snprintf(label, sizeof(label), "thread (0x%" PRIx64 ") \"%.*s\"", th->thread_id,
                                         n, th->name);
                        } else
                                snprintf(label, sizeof(label), "thread (0x%" PRIx64 ")", th->thread_id);
                        ProfileFrame tf = { .kind = PROFILE_FRAME_THREAD, .function = label };
                        int64_t id = frame_intern(p, &tf);
                        if (id < 0)
                                return (int) id;
                        p->scratch[k++] = (uint32_t) id;
                }
                const StackFrame *fr = snapshot_thread_frames(snap, th);
                for (size_t i = th->n_frames; i-- > 0;) {
                        ProfileFrame f = {
                                .kind = PROFILE_FRAME_PYTHON,
                                .function = fr[i].function,
                                .filename = fr[i].filename,
                                .line = (flags & PROFILE_NO_LINES) ? 0 : fr[i].line,
                        };
                        int64_t id = frame_intern(p, &f);
                        if (id < 0)
                                return (int) id;
                        p->scratch[k++] = (uint32_t) id;
                }
                r = stack_intern(p, pid, (flags & PROFILE_THREADS) ? th->thread_id : 0, p->scratch, k, 1);
                if (r < 0)
                        return r;
        }
        p->info.samples++;
        return 0;
}

size_t profile_n_frames(const Profile *p) {
        return p->n_frames;
}

const ProfileFrame *profile_frame(const Profile *p, uint32_t id) {
        return id < p->n_frames ? &p->frames[id] : NULL;
}

size_t profile_n_stacks(const Profile *p) {
        return p->n_stacks;
}

const ProfileStack *profile_stack(const Profile *p, size_t i) {
        return i < p->n_stacks ? &p->stacks[i].pub : NULL;
}

uint64_t profile_total(const Profile *p) {
        return p->total;
}

const char *profile_short_filename(const char *path) {
        static const char *const markers[] = { "/site-packages/", "/dist-packages/" };
        const char *best = NULL;

        if (!path)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(markers); i++) {
                const char *m = strstr(path, markers[i]);
                if (m && (!best || m > best))
                        best = m + strlen(markers[i]);
        }
        if (best)
                return best;
        /* The standard library: ".../lib/pythonX.Y/json/decoder.py" -> "json/decoder.py". */
        const char *lib = strstr(path, "/lib/python");
        if (lib) {
                const char *slash = strchr(lib + strlen("/lib/python"), '/');
                if (slash && slash[1])
                        return slash + 1;
        }
        const char *base = strrchr(path, '/');
        return base && base[1] ? base + 1 : path;
}
