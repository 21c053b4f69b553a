/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "macro.h"
#include "snapshot.h"

/* The arena is a list of blocks; a block is never moved, so strings handed out stay valid until
 * snapshot_reset(), which rewinds every block without freeing it. */
#define ARENA_BLOCK_MIN (64u * 1024u)

struct ArenaBlock {
        ArenaBlock *next;
        size_t size, used;
        char data[];
};

void snapshot_reset(Snapshot *s) {
        s->n_threads = s->n_frames = s->n_locals = 0;
        for (ArenaBlock *b = s->arena; b; b = b->next)
                b->used = 0;
        s->timestamp_usec = 0;
}

void snapshot_done(Snapshot *s) {
        free(s->threads);
        free(s->frames);
        free(s->locals);
        while (s->arena) {
                ArenaBlock *n = s->arena->next;
                free(s->arena);
                s->arena = n;
        }
        *s = SNAPSHOT_NULL;
}

static void *grow(void **array, size_t *n, size_t *a, size_t elem) {
        if (*n >= *a) {
                size_t na = *a ? *a * 2 : 16;
                void *p = reallocarray(*array, na, elem);
                if (!p)
                        return NULL;
                *array = p;
                *a = na;
        }
        void *e = (char *) *array + (*n)++ * elem;
        memset(e, 0, elem);
        return e;
}

StackThread *snapshot_add_thread(Snapshot *s) {
        return grow((void **) &s->threads, &s->n_threads, &s->a_threads, sizeof(StackThread));
}

StackFrame *snapshot_add_frame(Snapshot *s) {
        return grow((void **) &s->frames, &s->n_frames, &s->a_frames, sizeof(StackFrame));
}

StackLocal *snapshot_add_local(Snapshot *s) {
        return grow((void **) &s->locals, &s->n_locals, &s->a_locals, sizeof(StackLocal));
}

const char *snapshot_strndup(Snapshot *s, const char *str, size_t n) {
        ArenaBlock *b;

        for (b = s->arena; b; b = b->next)
                if (b->size - b->used >= n + 1)
                        break;
        if (!b) {
                size_t size = MAX((size_t) ARENA_BLOCK_MIN, n + 1);
                b = malloc(sizeof(ArenaBlock) + size);
                if (!b)
                        return NULL;
                b->size = size;
                b->used = 0;
                b->next = s->arena;
                s->arena = b;
        }
        char *p = b->data + b->used;
        memcpy(p, str, n);
        p[n] = 0;
        b->used += n + 1;
        return p;
}
