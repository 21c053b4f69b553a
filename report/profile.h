/* SPDX-License-Identifier: MIT */
#pragma once

/* The model behind every profile format (perf's util/hist.c to our writers' ui/): samples
 * aggregated into distinct stacks with counts. Frames and stacks are interned, so adding a
 * sample that was seen before allocates nothing: only a new frame or a new stack does.
 *
 * A Profile owns copies of every string it keeps (Snapshots' strings die with the next
 * sample). Stacks are stored root first. Nothing here logs. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"
#include "snapshot.h"

typedef struct Profile Profile;

typedef enum ProfileFrameKind {
        PROFILE_FRAME_PYTHON,   /* a Python function */
        PROFILE_FRAME_THREAD,   /* --threads: the thread at the root */
        PROFILE_FRAME_PROCESS,  /* --subprocesses: the process at the root */
} ProfileFrameKind;

typedef struct ProfileFrame {
        ProfileFrameKind kind;
        const char *function;   /* PYTHON: co_name; THREAD/PROCESS: the label shown */
        const char *filename;   /* PYTHON: co_filename as the interpreter holds it; else NULL */
        const char *short_filename; /* filename without its sys.path-like prefix: "app.py",
                                     * "json/decoder.py", "requests/api.py" */
        int line;               /* 0 when unknown, or when the profile ignores lines */
} ProfileFrame;

typedef struct ProfileStack {
        const uint32_t *frames; /* frame ids, root first */
        size_t n_frames;
        uint64_t count;         /* samples */
        pid_t pid;              /* the process the samples came from */
        uint64_t thread_id;     /* thread of the samples (when per-thread: see PROFILE_THREADS) */
} ProfileStack;

typedef enum ProfileAddFlags {
        PROFILE_IDLE = 1 << 0,     /* keep idle threads (dropped otherwise) */
        PROFILE_GIL = 1 << 1,      /* keep only the thread holding the GIL */
        PROFILE_THREADS = 1 << 2,  /* a thread frame at the root of each stack */
        PROFILE_PROCESS = 1 << 3,  /* a "process PID" frame at the root (--subprocesses) */
        PROFILE_NO_LINES = 1 << 4, /* aggregate by function, not by line */
} ProfileAddFlags;

typedef struct ProfileInfo {
        pid_t pid;                  /* the main target */
        char *cmdline;
        char *python_version;
        usec_t start_usec, end_usec;   /* CLOCK_MONOTONIC */
        uint64_t samples;           /* snapshots added */
        uint64_t errors;            /* samples lost to failed or torn reads */
        uint64_t late;              /* samples late or missed on the deadline clock */
        unsigned rate;              /* samples per second asked */
} ProfileInfo;

int profile_new(Profile **ret);
Profile *profile_free(Profile *p);

/* Adds every (kept) thread of snap as one sample of weight 1, per flags. pid labels the
 * process (for PROFILE_PROCESS). Threads with no frames and truncated threads are skipped
 * (a truncated stack is a torn read, never a guess). -ENOMEM. */
int profile_add_snapshot(Profile *p, pid_t pid, const Snapshot *snap, unsigned flags);

/* Adds one stack given as frames innermost first, weight count. For tests and merges. */
int profile_add_stack(Profile *p, pid_t pid, uint64_t thread_id, const ProfileFrame *innermost_first,
                      size_t n, uint64_t count);

/* The run's metadata, writable by the recorder. */
ProfileInfo *profile_info(Profile *p);

size_t profile_n_frames(const Profile *p);
const ProfileFrame *profile_frame(const Profile *p, uint32_t id);
size_t profile_n_stacks(const Profile *p);
/* Stacks in insertion order; stable as long as nothing is added. */
const ProfileStack *profile_stack(const Profile *p, size_t i);
/* The sum of every stack's count. */
uint64_t profile_total(const Profile *p);

/* Removes everything (keeps the info), for a sliding window. */
void profile_clear(Profile *p);

/* "app.py" for "/srv/app/app.py", "json/decoder.py" for ".../lib/python3.11/json/decoder.py",
 * "requests/api.py" for ".../site-packages/requests/api.py". Returns a pointer into path. */
const char *profile_short_filename(const char *path);

static inline void profile_freep(Profile **p) {
        if (*p)
                profile_free(*p);
}
