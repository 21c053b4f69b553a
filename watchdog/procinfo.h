/* SPDX-License-Identifier: MIT */
#pragma once

/* What /proc says about a target process: its start time (to detect PID reuse), cheap per-thread
 * scheduler counters for the hang detector, and the process.json capture of an incident bundle.
 *
 * Everything under /proc/PID is written or shaped by the target (its name, argv, socket paths,
 * thread names), so every read is bounded and every string goes out through json_write_string().
 * Nothing here logs. All functions return 0 or a negative errno; -ESRCH always means the process
 * (or thread) is gone. */

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Bounds on what one capture reads; each says why it has its value. */
#define PROCINFO_THREADS_MAX 4096         /* CPython programs with more threads are broken anyway */
#define PROCINFO_FDS_MAX 4096             /* the first fds are the interesting ones (listeners, logs) */
#define PROCINFO_NET_LINES_MAX 65536      /* per /proc/PID/net/ file: a busy server, not a flood */
#define PROCINFO_CMDLINE_MAX (128 * 1024) /* ARG_MAX-sized argv is possible; its head tells enough */

typedef struct ThreadSample {
        char state;                         /* stat field 3: 'R', 'S', 'D', 'Z', 'T', 't', 'I', ... */
        uint64_t utime, stime;              /* stat fields 14, 15, in clock ticks (_SC_CLK_TCK) */
        uint64_t voluntary_ctxt_switches;   /* the thread slept (blocked) this many times */
        uint64_t nonvoluntary_ctxt_switches; /* ... and was preempted this many times */
} ThreadSample;

/* Field 22 of /proc/PID/stat (start time in clock ticks after boot): with the pid it names one
 * process for good, as systemd's pidref_verify() uses it. Writes *ret only on success.
 * -ESRCH gone (or pid <= 0), -EACCES/-EPERM hidden (hidepid=), -EBADMSG unparseable. */
int procinfo_start_time(pid_t pid, uint64_t *ret);

/* One sample of thread tid of process pid: opens, reads and closes two files. For sampling the
 * same threads repeatedly use a ProcThreadReader, which keeps them open. Writes *ret only on
 * success. -ESRCH thread or process gone, -EBADMSG unparseable, other -errno from open/read. */
int procinfo_thread_sample(pid_t pid, pid_t tid, ThreadSample *ret);

/* A reader of one thread's counters holding /proc/PID/task/TID/{stat,status} open, so a sample
 * costs two pread()s. The open files stay bound to the task they were opened for: once it has
 * exited (even if its tid is reused) reads fail with -ESRCH, never describe another thread.
 * procinfo_thread_open: -ESRCH gone, -ENOMEM, other -errno from open; *ret is owned by the
 * caller. procinfo_thread_read: like procinfo_thread_sample. procinfo_thread_close takes NULL
 * and returns NULL. Cost (test-procinfo, 10-thread target, 6.18 kernel, 2 CPUs): 5-10 us per read, of
 * which ~6.5 us is the kernel formatting status; procinfo_thread_sample 7-16 us. 100 threads at
 * 10 Hz are thus ~1% of one CPU. */
typedef struct ProcThreadReader ProcThreadReader;
int procinfo_thread_open(pid_t pid, pid_t tid, ProcThreadReader **ret);
int procinfo_thread_read(ProcThreadReader *r, ThreadSample *ret);
ProcThreadReader *procinfo_thread_close(ProcThreadReader *r);

/* Writes one JSON object describing process pid to f (the "process.json" of a bundle): pid,
 * start_time, cmdline, exe, cwd, status, limits, threads (state, wchan, syscall, counters), fds
 * (target, pos/flags, resolved sockets with local and peer addresses) and "gaps": each part that
 * could not be read, with its errno name. Best effort like systemd's
 * gather_pid_metadata_from_procfs(): a missing part is a gap, never an error.
 * Returns -ESRCH when the process does not exist at the start (nothing written), or -EACCES etc.
 * when not even its start time is readable (nothing written). Once writing began the object is
 * always completed, and the start time is read again at the end: -ESRCH if the process vanished
 * meanwhile, -ESTALE if the pid now names another process (reused mid-capture); the caller should
 * then discard or label what was written. -EIO when f is in error. */
int procinfo_write_json(FILE *f, pid_t pid);
