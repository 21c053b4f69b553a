/* SPDX-License-Identifier: MIT */
#pragma once

/* One sample of a process: every thread with its frames (innermost first) and, on request,
 * each frame's locals. A Snapshot is reused from sample to sample: its arrays and its string
 * arena keep their memory, so the sampling hot path does not allocate once warmed up.
 *
 * Strings (function, filename, names, reprs) are owned by the Sampler's caches or by the
 * snapshot's arena: either way they are valid until the next sample or snapshot_reset(), so a
 * consumer that keeps them longer (a profile) copies them. Nothing here logs. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct StackLocal {
        const char *name;
        const char *repr;     /* repr()-like, bounded: see VALUE_REPR_MAX in pyvalue.h */
} StackLocal;

typedef struct StackFrame {
        const char *function; /* co_name */
        const char *qualname; /* co_qualname (3.11+), else NULL */
        const char *filename; /* co_filename as the interpreter holds it */
        int line;             /* 0 when it could not be determined */
        uint64_t code_addr;   /* remote address of the code object (a cache key) */
        size_t first_local, n_locals;  /* into Snapshot.locals */
} StackFrame;

typedef struct StackThread {
        uint64_t thread_id;   /* PyThreadState.thread_id: the pthread_t, as threading.get_ident() */
        pid_t native_id;      /* kernel tid; 0 when unknown */
        const char *name;     /* threading.Thread name, or NULL when not registered */
        bool gil;             /* holds the GIL at the instant of the sample */
        bool idle;            /* not running: asleep in the kernel */
        bool truncated;       /* the walk stopped early (depth limit, cycle, torn read) */
        size_t first_frame, n_frames;  /* into Snapshot.frames, innermost first */
} StackThread;

typedef struct ArenaBlock ArenaBlock;

typedef struct Snapshot {
        StackThread *threads;
        size_t n_threads, a_threads;
        StackFrame *frames;
        size_t n_frames, a_frames;
        StackLocal *locals;
        size_t n_locals, a_locals;
        ArenaBlock *arena;    /* chunked: pointers into it stay valid until reset */
        uint64_t timestamp_usec;  /* CLOCK_MONOTONIC when the sample was taken */
} Snapshot;

#define SNAPSHOT_NULL ((Snapshot) { .threads = NULL })

/* Empties the snapshot, keeping its memory. */
void snapshot_reset(Snapshot *s);
/* Frees everything; the snapshot is SNAPSHOT_NULL afterwards. */
void snapshot_done(Snapshot *s);

/* Appenders: return a pointer to the new zeroed element, or NULL on -ENOMEM. Pointers are
 * invalidated by the next append of the same kind (arrays grow); use indexes to keep them. */
StackThread *snapshot_add_thread(Snapshot *s);
StackFrame *snapshot_add_frame(Snapshot *s);
StackLocal *snapshot_add_local(Snapshot *s);

/* Copies n bytes of str (plus a NUL) into the arena; NULL on -ENOMEM. */
const char *snapshot_strndup(Snapshot *s, const char *str, size_t n);

static inline const StackFrame *snapshot_thread_frames(const Snapshot *s, const StackThread *t) {
        /* No frames at all: no array (and NULL + 0 is undefined in C). */
        return s->frames ? s->frames + t->first_frame : s->frames;
}
