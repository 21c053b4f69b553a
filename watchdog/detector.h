/* SPDX-License-Identifier: MIT */
#pragma once

/* Stuck-stack detection for one target process: fed one sample at a time (the Python stacks
 * plus each thread's kernel counters), it says when a thread's stack has not moved for
 * stuck_after while the thread was either blocked (no voluntary context switch over the whole
 * span: it never woke up) or spinning (on CPU nearly the whole span), and when a stuck thread
 * moves again. Pure logic: no /proc, no clock, no logging, so it is tested with made-up
 * samples.
 *
 * "Not moved" means the same frames (function and file of every frame, and the line of every
 * frame but the innermost, which may move inside its function: a loop) in every sample of the
 * span. A sample in which the thread is missing or torn does not count as a move. */

#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"
#include "snapshot.h"

typedef struct Detector Detector;

/* What the kernel says of one thread at the instant of the sample (procinfo). */
typedef struct ThreadKernel {
        pid_t tid;
        uint64_t voluntary_switches;
        uint64_t cpu_ticks;        /* utime + stime, in clock ticks */
        bool valid;                /* false: could not be read (the thread is then never stuck) */
        usec_t at;                 /* when these counters were read (the sample's clock); 0: at
                                    * the sample. Counters read less often than the samples are
                                    * judged over the time they really cover, or a thread on the
                                    * CPU all along looks idle whenever a stale read ends a CPU
                                    * interval. */
} ThreadKernel;

typedef enum StuckReason {
        STUCK_BLOCKED,             /* asleep the whole span, never woken */
        STUCK_SPINNING,            /* on CPU nearly the whole span */
        _STUCK_REASON_MAX,
} StuckReason;

const char *stuck_reason_to_string(StuckReason r);

typedef enum DetectorEventKind {
        DETECTOR_HANG,             /* the thread has just become stuck */
        DETECTOR_RECOVERED,        /* a thread that was stuck moved again */
} DetectorEventKind;

typedef struct DetectorEvent {
        DetectorEventKind kind;
        uint64_t thread_id;        /* StackThread.thread_id */
        pid_t native_id;
        StuckReason reason;
        usec_t since;              /* when the stack stopped moving (the sample's clock) */
        uint64_t signature;        /* hash of the stuck stack, for cooldowns */
        size_t snap_thread;        /* index of the thread in the snapshot fed */
} DetectorEvent;

typedef struct DetectorOptions {
        usec_t stuck_after;
        bool main_only;            /* threads = main: only the thread whose native id is the pid */
        pid_t pid;
        const regex_t *ignore;     /* on "function (file)" of the innermost frame; may be NULL */
        unsigned long clock_ticks; /* sysconf(_SC_CLK_TCK) */
} DetectorOptions;

/* Most threads tracked per target: a process with more is not one we can judge thread by
 * thread; the extra threads are not watched. */
#define DETECTOR_MAX_THREADS 4096
/* "Nearly the whole span" for spinning: CPU time at least this share of the wall time. */
#define DETECTOR_SPIN_SHARE 0.8

int detector_new(const DetectorOptions *opt, Detector **ret);
Detector *detector_free(Detector *d);

/* Feeds the sample taken at now. kernel[] has n_kernel entries, matched to the snapshot's
 * threads by native id. Fills events (up to max) and returns how many, or -ENOMEM. */
int detector_feed(Detector *d, usec_t now, const Snapshot *snap, const ThreadKernel *kernel, size_t n_kernel,
                  DetectorEvent *events, size_t max);

/* After pausing the target (a capture): ptrace stops count as voluntary context switches of
 * every thread, so the next sample's counters are taken as a new baseline instead of as
 * wake-ups, which would restart every thread's clock. */
void detector_rebase(Detector *d);

/* The hang of thread_id could not be dealt with (its incident bundle could not be written):
 * forget that it was reported, and report it again, if it is still stuck at the same stack,
 * on the first sample at or after not_before. A move of its stack cancels this. */
void detector_rearm(Detector *d, uint64_t thread_id, usec_t not_before);

/* Threads currently considered stuck. */
size_t detector_n_stuck(const Detector *d);

/* The hash of a thread's stack as the detector sees it (innermost line excluded). */
uint64_t detector_signature(const Snapshot *snap, const StackThread *t);

static inline void detector_freep(Detector **d) {
        if (*d)
                detector_free(*d);
}
