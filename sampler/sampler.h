/* SPDX-License-Identifier: MIT */
#pragma once

/* The sampler's API for the rest of the program: attach to a live CPython process, take
 * snapshots of all its threads. Everything below (maps, ELF symbols, layouts, the walker, the
 * pause) is internal to sampler/.
 *
 * Error vocabulary (negative errno), shared by every function here:
 *   -ESRCH            no such process, or it exited (also mid-read)
 *   -EPERM            not allowed to read it (run as root or grant CAP_SYS_PTRACE)
 *   -ENOEXEC          not a Python process (no interpreter found)
 *   -EPROTONOSUPPORT  a Python version we have no layout for (the version is in the detail)
 *   -EBADMSG          the target's memory makes no sense (garbage, or torn under --nonblocking)
 *   -ETIMEDOUT        a thread did not stop for the pause in time
 *   -EBUSY            another tracer (a debugger, another sampler) holds the process
 * Nothing in sampler/ logs. */

#include <stdbool.h>
#include <sys/types.h>

#include "pyfind.h"
#include "snapshot.h"

typedef struct Sampler Sampler;

typedef enum SampleFlags {
        SAMPLE_LOCALS = 1 << 0,      /* decode each frame's locals */
        SAMPLE_PAUSE = 1 << 1,       /* ptrace-pause the target for the instant of the read */
        SAMPLE_NAMES = 1 << 2,       /* thread names from threading's registry */
        SAMPLE_IDLE = 1 << 3,        /* read each thread's kernel state to set StackThread.idle */
        SAMPLE_NO_GIL = 1 << 4,      /* do not look for the GIL holder (StackThread.gil stays false) */
} SampleFlags;

/* Attaches to pid: finds the interpreter and its layout; does not pause. detail (len bytes,
 * may be NULL) receives the specific cause on failure (e.g. "Python 3.14.0a1"). */
int sampler_attach(pid_t pid, Sampler **ret, char *detail, size_t len);

/* Fills snap (reset first) with every thread of the target. Errors as above. A torn read
 * while walking one thread marks that thread truncated and counts an error but is not fatal;
 * a failure to read the interpreter itself is. */
int sampler_sample(Sampler *s, unsigned flags, Snapshot *snap);

const PyTarget *sampler_target(const Sampler *s);

/* Count of torn/failed reads of individual threads since attach. */
uint64_t sampler_errors(const Sampler *s);

/* Read system calls made since attach (for benchmarks). */
uint64_t sampler_read_calls(const Sampler *s);

Sampler *sampler_free(Sampler *s);

static inline void sampler_freep(Sampler **s) {
        if (*s)
                sampler_free(*s);
}

/* pid's state letter from /proc/PID/stat ('R', 'S', 'Z' ...), and its parent in *ret_ppid
 * (may be NULL); 0 when it cannot be read. */
char sampler_proc_state(pid_t pid, pid_t *ret_ppid);

/* One line naming cause and fix for an error of the vocabulary above, e.g.
 * "permission denied reading process 123: run as root or grant CAP_SYS_PTRACE". */
const char *sampler_strerror(int r, pid_t pid, const char *detail, char *buf, size_t len);
