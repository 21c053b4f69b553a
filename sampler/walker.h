/* SPDX-License-Identifier: MIT */
#pragma once

/* The stack walker: interpreters -> thread states -> frames -> code objects, for any layout
 * row of pyoffsets.h, through any MemReader (a live process or a synthetic image). It keeps a
 * cache of decoded code objects keyed by remote address, so a warm sample reads each frame
 * once and nothing else. It knows nothing of /proc or ptrace: pausing and kernel thread state
 * are the sampler's job. Nothing here logs.
 *
 * Remote memory is hostile and, without a pause, moving: every count and depth is bounded
 * (WALKER_MAX_*), linked lists are checked for cycles, and a thread whose walk fails part way
 * is returned truncated rather than guessed. */

#include <stdbool.h>
#include <stdint.h>

#include "memreader.h"
#include "pyfind.h"
#include "pyoffsets.h"
#include "snapshot.h"

/* Sub-interpreters are rare; 64 is far past any real program. */
#define WALKER_MAX_INTERPS 64
/* Threads per process: beyond this the process is pathological or the list is garbage. */
#define WALKER_MAX_THREADS 4096
/* Frames per thread. CPython's default recursion limit is 1000; programs raise it, 10000 is
 * a common "big" setting; anything deeper is truncated and marked so. */
#define WALKER_MAX_DEPTH 10000
/* Extra walks of a thread whose stack changed under a non-blocking read. */
#define WALKER_RETRIES 5
/* Locals shown per frame (functions with more are rare, and the dump must stay readable). */
#define WALKER_MAX_LOCALS 256
/* Largest line table we fetch: a few hundred KiB covers functions of tens of thousands of
 * lines; a bigger length field is garbage. */
#define WALKER_MAX_LINETABLE (1u * 1024u * 1024u)
/* Data-stack chunks copied per thread (3.11+), and the most bytes one may hold: CPython's
 * chunks start at 16 KiB and grow only for huge frames; 8 MiB of frames is far past any
 * real stack, and bounds what a hostile size field can make us copy. */
#define WALKER_MAX_CHUNKS 64
#define WALKER_MAX_CHUNK_BYTES (8u * 1024u * 1024u)
/* Cached code objects re-checked per read system call (see cache_validate() in walker.c). */
#define WALKER_VALIDATE_BATCH 64
/* Decoded code objects kept: the table starts small and doubles up to the maximum, where it is
 * flushed when half full. */
#define WALKER_CODE_CACHE_MIN 256
#define WALKER_CODE_CACHE_SLOTS 16384

typedef struct Walker Walker;

typedef enum WalkFlags {
        WALK_LOCALS = 1 << 0,   /* decode locals of every frame */
        WALK_NAMES = 1 << 1,    /* thread names from threading._active */
        WALK_NO_GIL = 1 << 2,   /* skip finding the GIL holder (one read less per sample) */
} WalkFlags;

/* sym: the remote addresses of the roots and type objects (PyTarget.sym), copied. The reader
 * and the layout row must outlive the walker. -ENOMEM only. */
int walker_new(MemReader *mr, const PyOffsets *o, const uint64_t sym[_PYSYM_MAX], Walker **ret);
Walker *walker_free(Walker *w);

/* Appends every thread of every interpreter to snap (not reset here), frames innermost first,
 * with gil set, and native_id where the layout has it. 0 on success, even when single threads
 * were truncated (their StackThread.truncated is set and walker_errors() counts them); -EBADMSG
 * when the interpreter list itself is unreadable or nonsense, -ESRCH/-EPERM from the reader,
 * -ENOMEM. */
int walker_sample(Walker *w, unsigned flags, Snapshot *snap);

/* Threads truncated by a failed read or nonsense since walker_new(). */
uint64_t walker_errors(const Walker *w);

static inline void walker_freep(Walker **w) {
        if (*w)
                walker_free(*w);
}
