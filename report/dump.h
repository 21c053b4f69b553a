/* SPDX-License-Identifier: MIT */
#pragma once

/* The two renderings of `pyspy-watch dump` (SPEC.md "dump"): py-spy-style text and one JSON
 * object. Incident bundles reuse them. Every string taken from the target goes through
 * report/escape.h. Nothing here logs. */

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "snapshot.h"

typedef struct DumpInfo {
        pid_t pid;
        const char *cmdline;        /* argv joined by spaces; NULL when unknown */
        const char *python_version; /* "3.11.7"; NULL when unknown */
        const char *executable;     /* interpreter path; NULL when unknown */
} DumpInfo;

/* Text, py-spy style:
 *
 *     Process 4321: /usr/bin/python3.11 app.py
 *     Python v3.11.2 (/usr/bin/python3.11)
 *
 *     Thread 4321 (idle): "MainThread"
 *         wait (threading.py:320)
 *             timeout: None
 *         main (app.py:12)
 *         ... (stack truncated)
 *
 * The thread is named by its native id, or by its thread_id in hex (0x7f...) when the native
 * id is unknown (0); its state is (idle), (active), (active+gil), or (idle+gil) for a thread
 * that sleeps in the kernel while holding the GIL (the one that starves all the others, so
 * it is worth telling apart). `: "NAME"` is left out for unnamed threads. Frames show the
 * base name of the file, and no `:LINE` when the line is unknown (0). Locals (only with
 * locals=true) are indented by 8. Unknown strings print as `<unknown>`; a missing cmdline,
 * version or executable leaves out its part of the header.
 *
 * Returns 0; -EIO when the stream is in error; -EBADMSG when the snapshot's indexes point
 * outside its arrays (nothing sensible can be printed for that thread). */
int dump_write_text(FILE *f, const DumpInfo *info, const Snapshot *snap, bool locals);

/* One JSON object on one line, then a newline. Keys, in this order:
 *   pid, cmdline, python_version, executable, threads[]
 *   thread: thread_id, native_id (0: unknown), name, gil, idle, frames[], truncated (only
 *           when true)
 *   frame:  function, qualname (only when known), filename (full, as the interpreter holds
 *           it), line (0: unknown), locals {name: repr} (only with locals=true, then on
 *           every frame, possibly {})
 * Unknown strings are null. Same returns as dump_write_text(). */
int dump_write_json(FILE *f, const DumpInfo *info, const Snapshot *snap, bool locals);
