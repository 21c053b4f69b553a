/* SPDX-License-Identifier: MIT */
#pragma once

/* Pausing a target for the instant of a read: PTRACE_SEIZE + PTRACE_INTERRUPT on every thread,
 * every wait bounded by a deadline, never a SIGSTOP (a SIGSTOP would be visible to the target's
 * parent and job control). If we die while the target is paused, the kernel detaches us and the
 * threads run on: seized threads resume on tracer exit. Nothing here logs. */

#include <stdbool.h>
#include <sys/types.h>

#include "macro.h"

typedef struct Pause {
        pid_t pid;
        pid_t *tids;     /* threads we seized (and must detach) */
        int *signals;    /* per thread: the signal it stopped with, re-injected at detach */
        size_t n_tids, n_alloc;
} Pause;

#define PAUSE_NULL ((Pause) { .pid = 0 })

/* Seizes and interrupts every thread of pid (re-listing /proc/PID/task until no new thread
 * appears, bounded), waiting for each to stop until timeout_usec has passed in all.
 * -ESRCH gone, -EPERM not allowed (no CAP_SYS_PTRACE / yama), -ETIMEDOUT a thread did not stop,
 * -EBUSY already traced by someone else, -E2BIG more than PAUSE_MAX_THREADS threads. On failure
 * every thread seized so far is released.
 *
 * A thread may be caught by a signal instead of our interrupt (a signal-delivery-stop): it is
 * stopped all the same, and the signal is handed back to it by PTRACE_DETACH, so the target
 * loses nothing. A thread that had not stopped when we gave up cannot be detached yet (the
 * kernel only detaches stopped tracees): it is remembered and released by the next
 * pause_target()/pause_resume() from the same thread, or by the kernel when we exit.
 *
 * ptrace ties a tracee to the tracer *thread*: call pause_target() and pause_resume() from the
 * same thread, and let nothing else in the process wait for all children with __WALL. */
int pause_target(pid_t pid, usec_t timeout_usec, Pause *ret);

/* Detaches every seized thread (resuming them) and frees the list. Idempotent; takes a
 * PAUSE_NULL. Usable with _cleanup_(pause_resume). */
void pause_resume(Pause *p);

/* A process with more threads than this is refused (-E2BIG): stopping it would take too long
 * to call the pause "an instant", and the tid list comes from the target. */
#define PAUSE_MAX_THREADS 8192
