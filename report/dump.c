/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "dump.h"
#include "escape.h"

#define UNKNOWN "<unknown>"

static bool range_ok(size_t first, size_t n, size_t total) {
        return first <= total && n <= total - first;
}

/* The snapshot comes from our own sampler, but its indexes decide what we read: check them
 * all before writing anything, so a bad snapshot fails cleanly instead of half-printed. */
static int snapshot_check(const Snapshot *snap) {
        for (size_t i = 0; i < snap->n_threads; i++) {
                const StackThread *t = snap->threads + i;

                if (!range_ok(t->first_frame, t->n_frames, snap->n_frames))
                        return -EBADMSG;
                for (size_t j = 0; j < t->n_frames; j++) {
                        const StackFrame *fr = snapshot_thread_frames(snap, t) + j;

                        if (!range_ok(fr->first_local, fr->n_locals, snap->n_locals))
                                return -EBADMSG;
                }
        }
        return 0;
}

static int stream_status(FILE *f) {
        return ferror(f) ? -EIO : 0;
}

/* The part after the last '/', as py-spy shows it; the whole name when that part is empty
 * (a name ending in '/' is odd, but still better shown than dropped). */
static const char *path_basename(const char *path) {
        const char *slash = strrchr(path, '/');

        return slash && slash[1] ? slash + 1 : path;
}

static const char *thread_state(const StackThread *t) {
        if (t->gil)
                return t->idle ? "idle+gil" : "active+gil";
        return t->idle ? "idle" : "active";
}

static void text_thread(FILE *f, const Snapshot *snap, const StackThread *t, bool locals) {
        const StackFrame *frames = snapshot_thread_frames(snap, t);

        if (t->native_id != 0)
                fprintf(f, "Thread %ld", (long) t->native_id);
        else
                fprintf(f, "Thread 0x%" PRIx64, t->thread_id);
        fprintf(f, " (%s)", thread_state(t));
        if (t->name) {
                fputs(": \"", f);
                (void) term_write_string(f, t->name);
                fputc('"', f);
        }
        fputc('\n', f);

        for (size_t i = 0; i < t->n_frames; i++) {
                const StackFrame *fr = frames + i;

                fputs("    ", f);
                (void) term_write_string(f, fr->function ?: UNKNOWN);
                fputs(" (", f);
                (void) term_write_string(f, fr->filename ? path_basename(fr->filename) : UNKNOWN);
                if (fr->line > 0)
                        fprintf(f, ":%d", fr->line);
                fputs(")\n", f);

                if (!locals)
                        continue;
                for (size_t j = 0; j < fr->n_locals; j++) {
                        const StackLocal *l = snap->locals + fr->first_local + j;

                        fputs("        ", f);
                        (void) term_write_string(f, l->name ?: UNKNOWN);
                        fputs(": ", f);
                        (void) term_write_string(f, l->repr ?: UNKNOWN);
                        fputc('\n', f);
                }
        }

        if (t->truncated)
                fputs("    ... (stack truncated)\n", f);
}

int dump_write_text(FILE *f, const DumpInfo *info, const Snapshot *snap, bool locals) {
        int r;

        assert(f);
        assert(info);
        assert(snap);

        r = snapshot_check(snap);
        if (r < 0)
                return r;

        fprintf(f, "Process %ld", (long) info->pid);
        if (info->cmdline) {
                fputs(": ", f);
                (void) term_write_string(f, info->cmdline);
        }
        fputc('\n', f);

        fputs("Python", f);
        if (info->python_version) {
                fputs(" v", f);
                (void) term_write_string(f, info->python_version);
        }
        if (info->executable) {
                fputs(" (", f);
                (void) term_write_string(f, info->executable);
                fputc(')', f);
        }
        fputc('\n', f);

        for (size_t i = 0; i < snap->n_threads; i++) {
                /* A blank line after the header and between threads. */
                fputc('\n', f);
                text_thread(f, snap, snap->threads + i, locals);
        }

        return stream_status(f);
}

static void json_frame(FILE *f, const Snapshot *snap, const StackFrame *fr, bool locals) {
        fputs("{\"function\": ", f);
        (void) json_write_string(f, fr->function);
        if (fr->qualname) {
                fputs(", \"qualname\": ", f);
                (void) json_write_string(f, fr->qualname);
        }
        fputs(", \"filename\": ", f);
        (void) json_write_string(f, fr->filename);
        fprintf(f, ", \"line\": %d", fr->line);

        if (locals) {
                fputs(", \"locals\": {", f);
                for (size_t j = 0; j < fr->n_locals; j++) {
                        const StackLocal *l = snap->locals + fr->first_local + j;

                        if (j > 0)
                                fputs(", ", f);
                        /* An object key cannot be null: an unnamed local gets "" rather than
                         * invalid JSON. */
                        (void) json_write_string(f, l->name ?: "");
                        fputs(": ", f);
                        (void) json_write_string(f, l->repr);
                }
                fputc('}', f);
        }
        fputc('}', f);
}

static void json_thread(FILE *f, const Snapshot *snap, const StackThread *t, bool locals) {
        const StackFrame *frames = snapshot_thread_frames(snap, t);

        fprintf(f, "{\"thread_id\": %" PRIu64 ", \"native_id\": %ld, \"name\": ",
                t->thread_id, (long) t->native_id);
        (void) json_write_string(f, t->name);
        fprintf(f, ", \"gil\": %s, \"idle\": %s, \"frames\": [",
                t->gil ? "true" : "false", t->idle ? "true" : "false");
        for (size_t i = 0; i < t->n_frames; i++) {
                if (i > 0)
                        fputs(", ", f);
                json_frame(f, snap, frames + i, locals);
        }
        fputc(']', f);
        if (t->truncated)
                fputs(", \"truncated\": true", f);
        fputc('}', f);
}

int dump_write_json(FILE *f, const DumpInfo *info, const Snapshot *snap, bool locals) {
        int r;

        assert(f);
        assert(info);
        assert(snap);

        r = snapshot_check(snap);
        if (r < 0)
                return r;

        fprintf(f, "{\"pid\": %ld, \"cmdline\": ", (long) info->pid);
        (void) json_write_string(f, info->cmdline);
        fputs(", \"python_version\": ", f);
        (void) json_write_string(f, info->python_version);
        fputs(", \"executable\": ", f);
        (void) json_write_string(f, info->executable);
        fputs(", \"threads\": [", f);
        for (size_t i = 0; i < snap->n_threads; i++) {
                if (i > 0)
                        fputs(", ", f);
                json_thread(f, snap, snap->threads + i, locals);
        }
        fputs("]}\n", f);

        return stream_status(f);
}
