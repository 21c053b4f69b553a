/* SPDX-License-Identifier: MIT */
#pragma once

/* Incident bundles (SPEC.md, "Incident bundles"): state_dir/incidents/<ID>/, written whole or
 * not at all. Files go into incidents/.tmp-<ID>/ (dir 0700, files 0600: locals can hold
 * secrets), each is fsync'ed as it is closed, and incident_commit() renames the directory into
 * place and fsyncs incidents/, the directory equivalent of systemd's
 * link_tmpfile(..., LINK_TMPFILE_SYNC). Readers (`incidents`, vacuum) therefore never see half
 * a bundle under a final name, and a crash leaves at most a .tmp-* that
 * incident_cleanup_stale() removes at the next daemon start.
 *
 * The module also reads back the few manifest.json fields `incidents list` shows, so the
 * format has one owner. Nothing here logs. */

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "config.h"
#include "macro.h"

/* "<yyyymmddThhmmssZ>-<watch>-<pid>": 16 + 1 + INCIDENT_WATCH_NAME_MAX + 1 + 10 digits, with
 * room to spare; the ".tmp-" name still fits NAME_MAX. */
#define INCIDENT_ID_MAX 128
/* Longer watch names are cut: the ID must stay a short, typable file name. */
#define INCIDENT_WATCH_NAME_MAX 64
#define INCIDENT_TMP_PREFIX ".tmp-"
#define INCIDENT_MANIFEST_FORMAT 1

/* Builds the ID for an incident detected at realtime (CLOCK_REALTIME, µs): the UTC time, the
 * watch name with every byte outside [A-Za-z0-9._+@] turned into '_' (no '/', no leading '.',
 * nothing a shell or terminal acts upon; cut to INCIDENT_WATCH_NAME_MAX; "_" when empty), and
 * the pid. -ENOBUFS when len is too small, -EINVAL for a pid <= 0. */
int incident_id_make(usec_t realtime, const char *watch, pid_t pid, char *buf, size_t len);

/* Whether name has the shape of an ID. With ret_time, the ID's UTC time (seconds since the
 * epoch), with ret_pid its pid. Temporary (.tmp-*) and other names are false. */
bool incident_id_parse(const char *name, int64_t *ret_time, pid_t *ret_pid);

/* One stuck thread, for summary.txt and manifest.json. stack: n_stack lines
 * "function (file:line)", innermost first (as PYSPY_STACK in the journal). */
typedef struct IncidentThread {
        pid_t tid;
        const char *name;          /* NULL when unknown */
        const char *const *stack;
        size_t n_stack;
} IncidentThread;

/* What the detector saw. Strings from the target (cmdline, thread names, stacks) may hold any
 * bytes: the writers escape them. Times are CLOCK_REALTIME in µs. */
typedef struct IncidentSummary {
        const char *watch;
        pid_t pid;
        const char *cmdline;       /* NULL or "" when unknown */
        const char *python_version;  /* "3.11.7"; NULL when unknown */
        usec_t detected_at;
        usec_t stuck_since;
        usec_t stuck_after;        /* the watch's threshold */
        const char *reason;        /* "blocked" (asleep in the kernel) or "spinning" (on a CPU) */
        const IncidentThread *threads;  /* at least one: the stuck stack is mandatory */
        size_t n_threads;
        const char *bundle;        /* the final directory; incident_commit() fills it in */
} IncidentSummary;

/* Writes summary.txt: what hung, since when (local and UTC), which thread(s) and their stacks,
 * how it was detected, the bundle's path and what to run next. 0 or -EIO. */
int incident_summary_write(FILE *f, const IncidentSummary *s);

typedef struct IncidentWriter IncidentWriter;

/* Writes one file's content to f. Returns >= 0, or a negative errno that becomes a gap. */
typedef int (*IncidentWriteFunc)(FILE *f, void *userdata);

/* Creates state_dir/incidents/ (and state_dir) 0700 if missing, then
 * incidents/.tmp-<id>/ 0700. -EEXIST when a bundle or a temporary directory of that ID exists
 * (never overwritten); -EINVAL when id is not an ID; other -errno from mkdir/open. *ret is
 * owned by the caller: commit it or abort it. */
int incident_writer_new(const char *state_dir, const char *id, IncidentWriter **ret);

/* The directory the bundle will have once committed ("STATE_DIR/incidents/ID"), and the ID. */
const char *incident_writer_path(const IncidentWriter *w);
const char *incident_writer_id(const IncidentWriter *w);

/* Adds file name (a plain name: no '/', no leading '.', not manifest.json) written by write(),
 * fsync'ed and 0600. On failure the partial file is removed and a gap "could not write NAME:
 * <strerror>" is recorded, and the error returned: the caller decides whether the bundle is
 * still worth committing (a missing process.json is; a missing stuck stack is not). A storage
 * error (ENOSPC, EDQUOT, EIO, EROFS, EFBIG) also marks the writer failed, so incident_commit()
 * refuses it: a bundle cut short by a full disk is not complete. -EEXIST for a name added
 * twice, -EINVAL for a bad name. */
int incident_add_file(IncidentWriter *w, const char *name, IncidentWriteFunc write, void *userdata);
/* The same, with content already rendered (e.g. process.json from procinfo_write_json()). */
int incident_add_buffer(IncidentWriter *w, const char *name, const void *data, size_t len);
/* Records a gap found elsewhere ("process.json: limits: Permission denied"). 0 or -ENOMEM. */
int incident_add_gap(IncidentWriter *w, const char *fmt, ...) _printf_(2, 3);

/* Completes the bundle: writes summary.txt from s unless one was added (s->bundle is set to
 * the final path for it), writes manifest.json (versions, times, the list fields, the stuck
 * threads, watch's configuration, the files with their sizes, the gaps), fsyncs the directory,
 * renames .tmp-<ID> to <ID> without replacing anything, and fsyncs incidents/. On any failure
 * the temporary directory is removed and nothing exists under the final name. Frees w either
 * way. pyspy_version may be NULL. watch may be NULL (the config object is then empty). */
int incident_commit(IncidentWriter *w, const IncidentSummary *s, const Watch *watch,
                    const char *pyspy_version);

/* Removes the temporary directory and frees w. Takes NULL; returns NULL. */
IncidentWriter *incident_abort(IncidentWriter *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(IncidentWriter *, incident_abort);

/* A directory stream over a duplicate of the directory fd, which stays the caller's (for
 * openat() beside readdir()). 0, or -errno. */
int dir_open_fd(int fd, DIR **ret);

/* Opens state_dir/incidents/ for listing: *ret_fd (O_DIRECTORY) and *ret_dir (a DIR over a
 * duplicate of it), both owned by the caller. 0 with *ret_dir NULL when the directory does not
 * exist (no incident yet); -errno otherwise. */
int incidents_dir_open(const char *state_dir, int *ret_fd, DIR **ret_dir);

/* Removes state_dir/incidents/.tmp-* left by a crash (call it at daemon start, before any
 * writer exists). Returns how many were removed, 0 when incidents/ does not exist. */
int incident_cleanup_stale(const char *state_dir);

/* Whether a bundle can be made under state_dir/incidents now: creates incidents/ if needed,
 * then a .tmp- directory in it, and removes that again. 0, or the -errno a writer would get
 * (-EROFS, -EACCES, -EPERM for an immutable directory, -ENOTDIR, -ENOSPC...). Space for the
 * files is not checked: a full file system still lets a directory be made on some (tmpfs). */
int incident_dir_probe(const char *state_dir);

/* Removes the bundle directory name below incidents_fd: its regular files, then itself. It
 * descends nowhere: a directory holding anything but regular files (not something we wrote)
 * is left alone with -ENOTEMPTY, before anything is deleted. */
int incident_dir_remove(int incidents_fd, const char *name);

/* The fields `incidents list` shows, read back from a bundle's manifest.json. */
typedef struct IncidentEntry {
        char *id;
        char *watch;
        pid_t pid;
        pid_t tid;
        char *thread;              /* the first stuck thread's name; may be NULL */
        char *frame;               /* its innermost frame; may be NULL */
        char *reason;
        double stuck_seconds;
        usec_t detected_at;        /* realtime µs */
} IncidentEntry;

/* Reads dir_fd/manifest.json (at most 1 MiB; a hostile or damaged file gives -EBADMSG, never a
 * crash). -ENOENT when there is none; -EBADMSG when a mandatory field (id, watch, pid,
 * detected_at) is missing. *ret is filled only on success; free it with incident_entry_done(). */
int incident_manifest_read(int dir_fd, IncidentEntry *ret);
void incident_entry_done(IncidentEntry *e);

/* "2024-04-05T12:00:00Z" for a realtime µs value; buf of at least 21 bytes. */
char *incident_format_utc(usec_t t, char *buf, size_t len);
