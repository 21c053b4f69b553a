/* SPDX-License-Identifier: MIT */
#pragma once

/* `record -- PROGRAM ARGS` and `top -- PROGRAM ARGS`: start the program, attach to it once its
 * interpreter is up, and learn how it ended. Also the process tree for --subprocesses. */

#include <stddef.h>
#include <sys/types.h>

#include "macro.h"
#include "sampler.h"

/* Raises the soft open-file limit to the hard one, as systemd advises a program that needs many
 * descriptors (and uses no select()) to do: its default soft limit is 1024. Programs started
 * by launch_program() afterwards get the original limit back. 1 raised, 0 already at the hard
 * limit, -errno. */
int launch_raise_nofile(void);

/* Forks and execs argv[0] (searched in PATH) with argv. The child keeps our stdin/stdout/
 * stderr. -errno if the fork failed, -ENOENT/-EACCES if the exec did (reported through a
 * close-on-exec pipe, so no child is left behind). */
int launch_program(char **argv, pid_t *ret_pid);

/* Attaches to pid, retrying while the process is still becoming Python (an exec not done yet,
 * libpython not mapped, the interpreter not initialised) until timeout. -ESRCH when the
 * process exited first; otherwise the last error of sampler_attach() / sampler_sample(). */
int launch_attach(pid_t pid, usec_t timeout, Sampler **ret, char *detail, size_t len);

/* Non-blocking: 1 and *ret_status (the exit code, or 128 + signal) when pid, our child, has
 * exited; 0 while it runs; -ECHILD if it is not our child. */
int launch_reap(pid_t pid, int *ret_status);

/* The descendants of root (children, grandchildren...), breadth first, from
 * /proc/PID/task/TID/children; at most max. Returns the count. */
size_t proctree_descendants(pid_t root, pid_t *out, size_t max);
