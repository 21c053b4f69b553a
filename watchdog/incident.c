/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "escape.h"
#include "incident.h"

/* A manifest is a few KiB (stacks are capped by the walker); anything past this is not ours. */
#define MANIFEST_SIZE_MAX (1024 * 1024)
/* Nesting we ever write is 3 deep; the reader refuses past this rather than recurse forever. */
#define JSON_DEPTH_MAX 16

struct IncidentWriter {
        int incidents_fd;
        int dir_fd;
        char id[INCIDENT_ID_MAX];
        char tmp_name[sizeof(INCIDENT_TMP_PREFIX) + INCIDENT_ID_MAX];
        char *path;
        struct { char *name; uint64_t size; } *files;
        size_t n_files;
        char **gaps;
        size_t n_gaps;
        bool tmp_created;          /* only then may abort remove tmp_name: it is ours */
        int error;                 /* first storage error: the bundle can no longer be whole */
        bool has_summary;
};

static bool watch_char_ok(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '+' || c == '@' || c == '-';
}

int incident_id_make(usec_t realtime, const char *watch, pid_t pid, char *buf, size_t len) {
        char name[INCIDENT_WATCH_NAME_MAX + 1];
        size_t n = 0;
        struct tm tm;
        time_t t = (time_t) (realtime / USEC_PER_SEC);

        if (pid <= 0)
                return -EINVAL;
        for (const char *p = watch ? watch : ""; *p && n < INCIDENT_WATCH_NAME_MAX; p++)
                name[n++] = watch_char_ok(*p) ? *p : '_';
        name[n] = 0;
        if (n == 0)
                strcpy(name, "_");
        if (name[0] == '.')   /* never a hidden name, never ".tmp-" */
                name[0] = '_';
        if (!gmtime_r(&t, &tm))
                return -ERANGE;
        int k = snprintf(buf, len, "%04d%02d%02dT%02d%02d%02dZ-%s-%d", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, name, (int) pid);
        if (k < 0 || (size_t) k >= len || (size_t) k >= INCIDENT_ID_MAX)
                return -ENOBUFS;
        return 0;
}

bool incident_id_parse(const char *name, int64_t *ret_time, pid_t *ret_pid) {
        size_t len = name ? strlen(name) : 0;
        struct tm tm = {};

        /* yyyymmddThhmmssZ-W-P: at least 16 + 1 + 1 + 1 + 1 bytes */
        if (len < 20 || len >= INCIDENT_ID_MAX)
                return false;
        for (size_t i = 0; i < 15; i++)
                if (i == 8 ? name[i] != 'T' : !(name[i] >= '0' && name[i] <= '9'))
                        return false;
        if (name[15] != 'Z' || name[16] != '-')
                return false;
        const char *dash = strrchr(name, '-');
        if (dash <= name + 17 || !dash[1] || strlen(dash + 1) > 10)
                return false;
        uint64_t pid = 0;
        for (const char *p = dash + 1; *p; p++) {
                if (*p < '0' || *p > '9')
                        return false;
                pid = pid * 10 + (uint64_t) (*p - '0');
        }
        if (pid == 0 || pid > INT32_MAX)
                return false;
        for (const char *p = name + 17; p < dash; p++)
                if (!watch_char_ok(*p))
                        return false;
        if (name[17] == '.')
                return false;

#define DIGITS(off, n) ({ int _v = 0; for (int _i = 0; _i < (n); _i++) _v = _v * 10 + (name[(off) + _i] - '0'); _v; })
        tm.tm_year = DIGITS(0, 4) - 1900;
        tm.tm_mon = DIGITS(4, 2) - 1;
        tm.tm_mday = DIGITS(6, 2);
        tm.tm_hour = DIGITS(9, 2);
        tm.tm_min = DIGITS(11, 2);
        tm.tm_sec = DIGITS(13, 2);
#undef DIGITS
        if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
            tm.tm_min > 59 || tm.tm_sec > 60)
                return false;
        if (ret_time)
                *ret_time = (int64_t) timegm(&tm);
        if (ret_pid)
                *ret_pid = (pid_t) pid;
        return true;
}

char *incident_format_utc(usec_t t, char *buf, size_t len) {
        time_t s = (time_t) (t / USEC_PER_SEC);
        struct tm tm;

        if (!gmtime_r(&s, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                snprintf(buf, len, "?");
        return buf;
}

static char *format_local(usec_t t, char *buf, size_t len) {
        time_t s = (time_t) (t / USEC_PER_SEC);
        struct tm tm;

        if (!localtime_r(&s, &tm) || strftime(buf, len, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
                snprintf(buf, len, "?");
        return buf;
}

/* The config file's own syntax, so the manifest reads like the watch section it came from. */
static char *format_duration(usec_t u, char *buf, size_t len) {
        static const struct { usec_t unit; const char *suffix; } units[] = {
                { 3600 * USEC_PER_SEC, "h" }, { 60 * USEC_PER_SEC, "m" },
                { USEC_PER_SEC, "s" }, { USEC_PER_MSEC, "ms" },
        };
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (u != 0 && u % units[i].unit == 0) {
                        snprintf(buf, len, "%" PRIu64 "%s", u / units[i].unit, units[i].suffix);
                        return buf;
                }
        snprintf(buf, len, "%" PRIu64 "ms", u / USEC_PER_MSEC);
        return buf;
}

static double stuck_seconds(const IncidentSummary *s) {
        return s->detected_at > s->stuck_since ? (double) (s->detected_at - s->stuck_since) / 1e6 : 0.0;
}

int incident_summary_write(FILE *f, const IncidentSummary *s) {
        char a[64], b[64], d[32];

        fprintf(f, "pyspy-watch incident: a Python process stopped making progress\n\n");
        fprintf(f, "What hung:   process %d of watch \"", (int) s->pid);
        term_write_string(f, s->watch);
        fprintf(f, "\"");
        if (s->python_version) {
                fprintf(f, " (Python ");
                term_write_string(f, s->python_version);
                fprintf(f, ")");
        }
        fprintf(f, "\nCommand:     ");
        term_write_string(f, s->cmdline && *s->cmdline ? s->cmdline : "(unknown)");
        fprintf(f, "\nStuck since: %s (%s), %.0f s before detection\n",
                format_local(s->stuck_since, a, sizeof(a)), incident_format_utc(s->stuck_since, b, sizeof(b)),
                stuck_seconds(s));
        fprintf(f, "Detected:    %s (%s)\n", format_local(s->detected_at, a, sizeof(a)),
                incident_format_utc(s->detected_at, b, sizeof(b)));
        fprintf(f, "How:         ");
        if (streq_ptr(s->reason, "blocked"))
                fprintf(f, "blocked: asleep in the kernel with the same Python stack");
        else if (streq_ptr(s->reason, "spinning"))
                fprintf(f, "spinning: running on a CPU with the same Python stack");
        else
                term_write_string(f, s->reason ? s->reason : "same Python stack");
        fprintf(f, " for longer than stuck_after = %s\n", format_duration(s->stuck_after, d, sizeof(d)));

        fprintf(f, "\nStuck thread%s (stack innermost first):\n", s->n_threads == 1 ? "" : "s");
        for (size_t i = 0; i < s->n_threads; i++) {
                const IncidentThread *t = &s->threads[i];
                fprintf(f, "\n  Thread %d", (int) t->tid);
                if (t->name) {
                        fprintf(f, " \"");
                        term_write_string(f, t->name);
                        fprintf(f, "\"");
                }
                fprintf(f, ":\n");
                for (size_t j = 0; j < t->n_stack; j++) {
                        fprintf(f, "    %s ", j == 0 ? "->" : "  ");
                        term_write_string(f, t->stack[j]);
                        fputc('\n', f);
                }
                if (t->n_stack == 0)
                        fprintf(f, "    (no Python frames)\n");
        }

        const char *dir = s->bundle ? s->bundle : ".";
        fprintf(f, "\nBundle:      ");
        term_write_string(f, dir);
        fprintf(f, "\n\nNext:\n");
        fprintf(f, "  every thread with its locals:     less %s/dump.txt\n", dir);
        fprintf(f, "  where the time went before:       xdg-open %s/flamegraph.svg\n", dir);
        fprintf(f, "                                    (or load speedscope.json into https://www.speedscope.app)\n");
        fprintf(f, "  open files, sockets, wait channel: less %s/process.json\n", dir);
        fprintf(f, "  the process now:                  pyspy-watch dump --pid %d --locals\n", (int) s->pid);
        fprintf(f, "  every incident:                   pyspy-watch incidents list\n");
        fflush(f);
        return ferror(f) ? -EIO : 0;
}

/* -------------------------------------------------------------------------------------------
 * Writing */

static bool storage_error(int r) {
        return r == -ENOSPC || r == -EDQUOT || r == -EIO || r == -EROFS || r == -EFBIG;
}

static bool file_name_ok(const char *name) {
        return name && *name && name[0] != '.' && !strchr(name, '/') && strlen(name) <= 64;
}

static int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = p + 1;; s++) {
                if (*s != '/' && *s != 0)
                        continue;
                char c = *s;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = c;
                if (!c)
                        break;
        }
        return 0;
}

/* state_dir/incidents, made (0700, with its parents) when missing; its path in *ret. */
static int incidents_mkdir(const char *state_dir, char **ret) {
        _cleanup_free_ char *incidents = NULL;
        int r;

        if (asprintf(&incidents, "%s/incidents", state_dir) < 0)
                return -ENOMEM;
        r = mkdir_p(incidents, 0700);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(incidents);
        return 0;
}

int incident_writer_new(const char *state_dir, const char *id, IncidentWriter **ret) {
        _cleanup_(incident_abortp) IncidentWriter *w = NULL;
        _cleanup_free_ char *incidents = NULL;
        int r;

        if (!state_dir || !*state_dir || !incident_id_parse(id, NULL, NULL))
                return -EINVAL;
        r = incidents_mkdir(state_dir, &incidents);
        if (r < 0)
                return r;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->incidents_fd = w->dir_fd = -EBADF;
        snprintf(w->id, sizeof(w->id), "%s", id);
        snprintf(w->tmp_name, sizeof(w->tmp_name), INCIDENT_TMP_PREFIX "%s", id);
        if (asprintf(&w->path, "%s/%s", incidents, id) < 0) {
                w->path = NULL;
                return -ENOMEM;
        }
        w->incidents_fd = open(incidents, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (w->incidents_fd < 0)
                return -errno;
        if (faccessat(w->incidents_fd, id, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                return -EEXIST;
        if (mkdirat(w->incidents_fd, w->tmp_name, 0700) < 0)
                return -errno;
        w->tmp_created = true;
        w->dir_fd = openat(w->incidents_fd, w->tmp_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (w->dir_fd < 0)
                return -errno;
        /* mkdir's mode went through the umask; the mode we promise must not depend on it. */
        if (fchmod(w->dir_fd, 0700) < 0)
                return -errno;
        *ret = TAKE_PTR(w);
        return 0;
}

const char *incident_writer_path(const IncidentWriter *w) {
        return w->path;
}

const char *incident_writer_id(const IncidentWriter *w) {
        return w->id;
}

int incident_add_gap(IncidentWriter *w, const char *fmt, ...) {
        char *s, **g;
        va_list ap;

        va_start(ap, fmt);
        int k = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        g = realloc(w->gaps, (w->n_gaps + 1) * sizeof(*g));
        if (!g) {
                free(s);
                return -ENOMEM;
        }
        w->gaps = g;
        w->gaps[w->n_gaps++] = s;
        return 0;
}

/* Creates name in the tmp dir, fills it, fsyncs it. On failure removes it. */
static int write_one(IncidentWriter *w, const char *name, IncidentWriteFunc write, void *userdata,
                     uint64_t *ret_size) {
        _cleanup_fclose_ FILE *f = NULL;
        struct stat st;
        int fd, r;

        fd = openat(w->dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, 0600) < 0 || !(f = fdopen(fd, "w"))) {
                r = -errno;
                (void) close(fd);
                goto fail;
        }
        errno = 0;
        r = write(f, userdata);
        /* The stream writers report a failed stream as -EIO; the cause (ENOSPC...) is in errno
         * from the failed flush, and the gap should name it. */
        if (r == -EIO && ferror(f) && errno > 0)
                r = -errno;
        if (r < 0)
                goto fail;
        if (fflush(f) != 0 || ferror(f)) {
                r = errno > 0 ? -errno : -EIO;
                goto fail;
        }
        if (fsync(fileno(f)) < 0 || fstat(fileno(f), &st) < 0) {
                r = -errno;
                goto fail;
        }
        r = fclose(TAKE_PTR(f));
        if (r != 0) {
                r = -errno;
                goto fail;
        }
        *ret_size = (uint64_t) st.st_size;
        return 0;
fail:
        if (f)
                (void) fclose(TAKE_PTR(f));
        (void) unlinkat(w->dir_fd, name, 0);
        return r;
}

int incident_add_file(IncidentWriter *w, const char *name, IncidentWriteFunc write, void *userdata) {
        uint64_t size = 0;
        char *n;
        int r;

        if (!w || !write || !file_name_ok(name) || streq_ptr(name, "manifest.json"))
                return -EINVAL;
        for (size_t i = 0; i < w->n_files; i++)
                if (strcmp(w->files[i].name, name) == 0)
                        return -EEXIST;
        if (w->error < 0)
                return w->error;   /* the disk already failed us: do not fill it further */

        r = write_one(w, name, write, userdata, &size);
        if (r < 0) {
                (void) incident_add_gap(w, "could not write %s: %s", name, strerror(-r));
                if (storage_error(r))
                        w->error = r;
                return r;
        }
        __typeof__(w->files) files = realloc(w->files, (w->n_files + 1) * sizeof(*files));
        n = strdup(name);
        if (!files || !n) {
                free(n);
                if (files)
                        w->files = files;
                (void) unlinkat(w->dir_fd, name, 0);
                return -ENOMEM;
        }
        w->files = files;
        w->files[w->n_files].name = n;
        w->files[w->n_files].size = size;
        w->n_files++;
        if (strcmp(name, "summary.txt") == 0)
                w->has_summary = true;
        return 0;
}

typedef struct Buffer {
        const void *data;
        size_t len;
} Buffer;

static int write_buffer(FILE *f, void *userdata) {
        Buffer *b = userdata;
        if (b->len > 0 && fwrite(b->data, 1, b->len, f) != b->len)
                return errno > 0 ? -errno : -EIO;
        return 0;
}

int incident_add_buffer(IncidentWriter *w, const char *name, const void *data, size_t len) {
        Buffer b = { data, len };
        return incident_add_file(w, name, write_buffer, &b);
}

static void json_key(FILE *f, const char *indent, const char *key) {
        fprintf(f, "%s", indent);
        json_write_string(f, key);
        fprintf(f, ": ");
}

static void json_str_or_null(FILE *f, const char *s) {
        if (s)
                json_write_string(f, s);
        else
                fputs("null", f);
}

static const char *selector_key(WatchSelector s) {
        static const char *const table[_SELECT_MAX] = {
                [SELECT_PID] = "pid", [SELECT_PIDFILE] = "pidfile",
                [SELECT_UNIT] = "unit", [SELECT_MATCH] = "match",
        };
        return s >= 0 && s < _SELECT_MAX ? table[s] : "selector";
}

static void write_config(FILE *f, const Watch *wt) {
        static const char *const threads[_WATCH_THREADS_MAX] = {
                [WATCH_THREADS_ALL] = "all", [WATCH_THREADS_MAIN] = "main",
        };
        static const char *const actions[_ACTION_MAX] = {
                [ACTION_NONE] = "none", [ACTION_KILL] = "kill", [ACTION_EXEC] = "exec",
        };
        char d[32];

        if (!wt) {
                fputs("{}", f);
                return;
        }
        fputs("{\n", f);
        json_key(f, "    ", "name");
        json_str_or_null(f, wt->name);
        fputs(",\n", f);
        json_key(f, "    ", selector_key(wt->selector));
        json_str_or_null(f, wt->selector_value);
        fprintf(f, ",\n");
        json_key(f, "    ", "rate");
        fprintf(f, "%u,\n", wt->rate);
        json_key(f, "    ", "stuck_after");
        json_write_string(f, format_duration(wt->stuck_after, d, sizeof(d)));
        fputs(",\n", f);
        json_key(f, "    ", "window");
        if (wt->has_window)
                fprintf(f, "\"%02u:%02u-%02u:%02u\",\n", wt->window_start / 60 % 24, wt->window_start % 60,
                        wt->window_end / 60 % 24, wt->window_end % 60);
        else
                fputs("null,\n", f);
        json_key(f, "    ", "threads");
        json_str_or_null(f, wt->threads >= 0 && wt->threads < _WATCH_THREADS_MAX ? threads[wt->threads] : NULL);
        fputs(",\n", f);
        json_key(f, "    ", "ignore");
        json_str_or_null(f, wt->ignore);
        fputs(",\n", f);
        json_key(f, "    ", "history");
        json_write_string(f, format_duration(wt->history, d, sizeof(d)));
        fputs(",\n", f);
        json_key(f, "    ", "locals");
        fputs(wt->locals ? "true,\n" : "false,\n", f);
        json_key(f, "    ", "redact");
        json_str_or_null(f, wt->redact);
        fputs(",\n", f);
        json_key(f, "    ", "cooldown");
        json_write_string(f, format_duration(wt->cooldown, d, sizeof(d)));
        fputs(",\n", f);
        json_key(f, "    ", "action");
        json_str_or_null(f, wt->action >= 0 && wt->action < _ACTION_MAX ? actions[wt->action] : NULL);
        fputs(",\n", f);
        json_key(f, "    ", "exec");
        json_str_or_null(f, wt->exec);
        fputs("\n  }", f);
}

typedef struct ManifestContext {
        IncidentWriter *w;
        const IncidentSummary *s;
        const Watch *watch;
        const char *version;
} ManifestContext;

static int write_manifest(FILE *f, void *userdata) {
        ManifestContext *c = userdata;
        const IncidentSummary *s = c->s;
        const IncidentThread *t0 = &s->threads[0];
        char buf[64];

        /* The list fields sit at the top, flat, so `incidents list` reads them without a full
         * JSON model; the rest is for people and tools. */
        fprintf(f, "{\n");
        fprintf(f, "  \"format\": %d,\n", INCIDENT_MANIFEST_FORMAT);
        json_key(f, "  ", "id");
        json_write_string(f, c->w->id);
        fputs(",\n", f);
        json_key(f, "  ", "watch");
        json_write_string(f, s->watch ? s->watch : "");
        fprintf(f, ",\n  \"pid\": %d,\n  \"tid\": %d,\n", (int) s->pid, (int) t0->tid);
        json_key(f, "  ", "thread");
        json_str_or_null(f, t0->name);
        fputs(",\n", f);
        json_key(f, "  ", "frame");
        json_str_or_null(f, t0->n_stack > 0 ? t0->stack[0] : NULL);
        fputs(",\n", f);
        json_key(f, "  ", "reason");
        json_str_or_null(f, s->reason);
        fprintf(f, ",\n  \"stuck_seconds\": %.3f,\n", stuck_seconds(s));

        fprintf(f, "  \"versions\": {\n");
        json_key(f, "    ", "pyspy_watch");
        json_str_or_null(f, c->version);
        fputs(",\n", f);
        json_key(f, "    ", "python");
        json_str_or_null(f, s->python_version);
        fputs("\n  },\n", f);

        fprintf(f, "  \"times\": {\n");
        fprintf(f, "    \"detected_at\": \"%s\",\n", incident_format_utc(s->detected_at, buf, sizeof(buf)));
        fprintf(f, "    \"detected_at_usec\": %" PRIu64 ",\n", (uint64_t) s->detected_at);
        fprintf(f, "    \"stuck_since\": \"%s\",\n", incident_format_utc(s->stuck_since, buf, sizeof(buf)));
        fprintf(f, "    \"stuck_since_usec\": %" PRIu64 ",\n", (uint64_t) s->stuck_since);
        fprintf(f, "    \"stuck_after_usec\": %" PRIu64 "\n  },\n", (uint64_t) s->stuck_after);

        fprintf(f, "  \"process\": {\n    \"pid\": %d,\n", (int) s->pid);
        json_key(f, "    ", "cmdline");
        json_str_or_null(f, s->cmdline);
        fputs("\n  },\n", f);

        fprintf(f, "  \"threads\": [");
        for (size_t i = 0; i < s->n_threads; i++) {
                const IncidentThread *t = &s->threads[i];
                fprintf(f, "%s\n    { \"tid\": %d, \"name\": ", i ? "," : "", (int) t->tid);
                json_str_or_null(f, t->name);
                fputs(", \"stack\": [", f);
                for (size_t j = 0; j < t->n_stack; j++) {
                        fputs(j ? ",\n        " : "\n        ", f);
                        json_str_or_null(f, t->stack[j]);
                }
                fputs(" ] }", f);
        }
        fputs("\n  ],\n", f);

        fputs("  \"config\": ", f);
        write_config(f, c->watch);
        fputs(",\n", f);

        fputs("  \"files\": [", f);
        for (size_t i = 0; i < c->w->n_files; i++) {
                fprintf(f, "%s\n    { \"name\": ", i ? "," : "");
                json_write_string(f, c->w->files[i].name);
                fprintf(f, ", \"size\": %" PRIu64 " }", c->w->files[i].size);
        }
        fputs("\n  ],\n", f);

        fputs("  \"gaps\": [", f);
        for (size_t i = 0; i < c->w->n_gaps; i++) {
                fputs(i ? ",\n    " : "\n    ", f);
                json_write_string(f, c->w->gaps[i]);
        }
        fputs(c->w->n_gaps ? "\n  ]\n}\n" : "]\n}\n", f);
        return ferror(f) ? -EIO : 0;
}

static int write_summary(FILE *f, void *userdata) {
        return incident_summary_write(f, userdata);
}

int incident_commit(IncidentWriter *w, const IncidentSummary *s, const Watch *watch,
                    const char *pyspy_version) {
        uint64_t size;
        int r;

        if (!w)
                return -EINVAL;
        if (w->error < 0) {
                r = w->error;
                goto fail;
        }
        /* The stuck stack is the one thing a bundle cannot do without (STYLE 2.12). */
        if (!s || s->n_threads == 0 || !s->threads || s->threads[0].n_stack == 0) {
                r = -EINVAL;
                goto fail;
        }
        if (!w->has_summary) {
                IncidentSummary copy = *s;
                copy.bundle = w->path;
                r = incident_add_file(w, "summary.txt", write_summary, &copy);
                if (r < 0)
                        goto fail;
        }
        ManifestContext ctx = { w, s, watch, pyspy_version };
        r = write_one(w, "manifest.json", write_manifest, &ctx, &size);
        if (r < 0)
                goto fail;
        /* The entries must be durable before the name that announces them. */
        if (fsync(w->dir_fd) < 0) {
                r = -errno;
                goto fail;
        }
        /* RENAME_NOREPLACE: an empty directory of that name would otherwise be replaced. */
        if (renameat2(w->incidents_fd, w->tmp_name, w->incidents_fd, w->id, RENAME_NOREPLACE) < 0) {
                r = -errno;
                if (r != -EINVAL && r != -ENOSYS)
                        goto fail;
                /* A file system without RENAME_NOREPLACE: check, then rename (the daemon is the
                 * only writer, so nobody races us in between). */
                if (faccessat(w->incidents_fd, w->id, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
                        r = -EEXIST;
                        goto fail;
                }
                if (renameat(w->incidents_fd, w->tmp_name, w->incidents_fd, w->id) < 0) {
                        r = -errno;
                        goto fail;
                }
        }
        if (fsync(w->incidents_fd) < 0) {
                r = -errno;
                /* Not durable: take the name back so that "committed" keeps its meaning. */
                if (renameat(w->incidents_fd, w->id, w->incidents_fd, w->tmp_name) < 0)
                        (void) incident_dir_remove(w->incidents_fd, w->id);
                goto fail;
        }
        w->tmp_created = false;   /* committed: nothing for abort to remove */
        incident_abort(w);
        return 0;
fail:
        incident_abort(w);
        return r;
}

IncidentWriter *incident_abort(IncidentWriter *w) {
        if (!w)
                return NULL;
        if (w->tmp_created && w->incidents_fd >= 0)
                (void) incident_dir_remove(w->incidents_fd, w->tmp_name);
        if (w->dir_fd >= 0)
                (void) close(w->dir_fd);
        if (w->incidents_fd >= 0)
                (void) close(w->incidents_fd);
        for (size_t i = 0; i < w->n_files; i++)
                free(w->files[i].name);
        free(w->files);
        for (size_t i = 0; i < w->n_gaps; i++)
                free(w->gaps[i]);
        free(w->gaps);
        free(w->path);
        free(w);
        return NULL;
}

/* -------------------------------------------------------------------------------------------
 * Removing */

int incident_dir_remove(int incidents_fd, const char *name) {
        _cleanup_close_ int fd = -EBADF;
        DIR *d;
        struct dirent *de;
        struct stat st;
        int r = 0;

        fd = openat(incidents_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = dir_open_fd(fd, &d);
        if (r < 0)
                return r;
        _cleanup_(closedirp) DIR *dir = d;

        /* First look: we only ever write flat directories of files. Anything holding a
         * directory was not (only) written by us, and we do not descend into it. */
        while ((de = readdir(dir))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT)
                                continue;
                        return -errno;
                }
                if (S_ISDIR(st.st_mode))
                        return -ENOTEMPTY;
        }
        rewinddir(dir);
        while ((de = readdir(dir))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                /* unlinkat() never follows a symlink: only the entry itself goes. */
                if (unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT && r == 0)
                        r = -errno;
        }
        if (unlinkat(incidents_fd, name, AT_REMOVEDIR) < 0 && r == 0)
                r = -errno;
        return r;
}

int incidents_dir_open(const char *state_dir, int *ret_fd, DIR **ret_dir) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        *ret_dir = NULL;
        if (asprintf(&path, "%s/incidents", state_dir) < 0)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        r = dir_open_fd(fd, ret_dir);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int dir_open_fd(int fd, DIR **ret) {
        int dfd = dup(fd);
        if (dfd < 0)
                return -errno;
        DIR *d = fdopendir(dfd);
        if (!d) {
                int r = -errno;
                (void) close(dfd);
                return r;
        }
        *ret = d;
        return 0;
}

int incident_cleanup_stale(const char *state_dir) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int n = 0, r;

        r = incidents_dir_open(state_dir, &fd, &d);
        if (r < 0 || !d)
                return r;
        r = 0;
        while ((de = readdir(d))) {
                if (strncmp(de->d_name, INCIDENT_TMP_PREFIX, strlen(INCIDENT_TMP_PREFIX)) != 0)
                        continue;
                /* Removal during readdir is fine: an entry is returned once or not at all. */
                int k = incident_dir_remove(fd, de->d_name);
                if (k >= 0)
                        n++;
                else if (k != -ENOENT && k != -ENOTDIR && k != -ELOOP && r == 0)
                        r = k;
        }
        return n > 0 ? n : r;
}

int incident_dir_probe(const char *state_dir) {
        _cleanup_free_ char *incidents = NULL;
        _cleanup_close_ int fd = -EBADF;
        char name[sizeof(INCIDENT_TMP_PREFIX) + 32];
        int r;

        if (!state_dir || !*state_dir)
                return -EINVAL;
        r = incidents_mkdir(state_dir, &incidents);
        if (r < 0)
                return r;
        fd = open(incidents, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        /* A .tmp- name: if we die right here, the next start's cleanup removes it. */
        snprintf(name, sizeof(name), INCIDENT_TMP_PREFIX "probe-%d", (int) getpid());
        if (mkdirat(fd, name, 0700) < 0 && errno != EEXIST)
                return -errno;
        if (unlinkat(fd, name, AT_REMOVEDIR) < 0)
                return -errno;
        return 0;
}

/* -------------------------------------------------------------------------------------------
 * Reading manifest.json back: a small recursive-descent scanner that walks the whole
 * document (so a damaged one is rejected) and keeps only the scalars the list shows. */

typedef struct JsonScan {
        const char *p, *end;
        IncidentEntry *e;
        unsigned found;
} JsonScan;

enum {
        FOUND_ID = 1 << 0,
        FOUND_WATCH = 1 << 1,
        FOUND_PID = 1 << 2,
        FOUND_DETECTED = 1 << 3,
};

static void js_ws(JsonScan *s) {
        while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\t' || *s->p == '\r'))
                s->p++;
}

static int hex4(const char *p, unsigned *ret) {
        unsigned v = 0;
        for (int i = 0; i < 4; i++) {
                char c = p[i];
                v <<= 4;
                if (c >= '0' && c <= '9')
                        v |= (unsigned) (c - '0');
                else if (c >= 'a' && c <= 'f')
                        v |= (unsigned) (c - 'a' + 10);
                else if (c >= 'A' && c <= 'F')
                        v |= (unsigned) (c - 'A' + 10);
                else
                        return -EBADMSG;
        }
        *ret = v;
        return 0;
}

static size_t put_utf8(char *o, unsigned cp) {
        if (cp < 0x80) {
                o[0] = (char) cp;
                return 1;
        }
        if (cp < 0x800) {
                o[0] = (char) (0xc0 | (cp >> 6));
                o[1] = (char) (0x80 | (cp & 0x3f));
                return 2;
        }
        if (cp < 0x10000) {
                o[0] = (char) (0xe0 | (cp >> 12));
                o[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
                o[2] = (char) (0x80 | (cp & 0x3f));
                return 3;
        }
        o[0] = (char) (0xf0 | (cp >> 18));
        o[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
        o[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
        o[3] = (char) (0x80 | (cp & 0x3f));
        return 4;
}

/* At the opening quote. Decodes into a new string (escapes resolved: the output is at most as
 * long as the input, since every escape is at least as long as its UTF-8). */
static int js_string(JsonScan *s, char **ret) {
        const char *p = s->p + 1;
        size_t n = 0;
        _cleanup_free_ char *o = NULL;

        for (const char *q = p; q < s->end && *q != '"'; q++, n++)
                if (*q == '\\')
                        q++, n++;
        o = malloc(n + 1);
        if (!o)
                return -ENOMEM;
        n = 0;
        for (;;) {
                if (p >= s->end)
                        return -EBADMSG;
                unsigned char c = (unsigned char) *p;
                if (c == '"')
                        break;
                if (c < 0x20)
                        return -EBADMSG;
                if (c != '\\') {
                        o[n++] = (char) c;
                        p++;
                        continue;
                }
                if (p + 1 >= s->end)
                        return -EBADMSG;
                char e = p[1];
                p += 2;
                switch (e) {
                case '"': case '\\': case '/':
                        o[n++] = e;
                        break;
                case 'b': o[n++] = '\b'; break;
                case 'f': o[n++] = '\f'; break;
                case 'n': o[n++] = '\n'; break;
                case 'r': o[n++] = '\r'; break;
                case 't': o[n++] = '\t'; break;
                case 'u': {
                        unsigned cp, lo;
                        if (s->end - p < 4 || hex4(p, &cp) < 0)
                                return -EBADMSG;
                        p += 4;
                        if (cp >= 0xd800 && cp < 0xdc00 && s->end - p >= 6 && p[0] == '\\' &&
                            p[1] == 'u' && hex4(p + 2, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
                                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                                p += 6;
                        } else if (cp >= 0xd800 && cp < 0xe000)
                                cp = 0xfffd;
                        /* \u0000 cannot live in a C string: the replacement character shows
                         * something was there. 6 escape bytes >= 3 output bytes. */
                        if (cp == 0)
                                cp = 0xfffd;
                        n += put_utf8(o + n, cp);
                        break;
                }
                default:
                        return -EBADMSG;
                }
        }
        o[n] = 0;
        s->p = p + 1;
        if (ret)
                *ret = TAKE_PTR(o);
        return 0;
}

/* A JSON number token; the text is copied out for strtod/strtoll. */
static int js_number(JsonScan *s, char *buf, size_t len) {
        const char *p = s->p;
        size_t n = 0;

        while (p < s->end && strchr("+-0123456789.eE", *p) && *p) {
                if (n + 1 >= len)
                        return -EBADMSG;
                buf[n++] = *p++;
        }
        if (n == 0)
                return -EBADMSG;
        buf[n] = 0;
        s->p = p;
        return 0;
}

static void set_str(char **field, char **v) {
        free(*field);
        *field = TAKE_PTR(*v);
}

static int js_value(JsonScan *s, const char *path, unsigned depth);

static int js_scalar_string(JsonScan *s, const char *path) {
        _cleanup_free_ char *v = NULL;
        int r = js_string(s, &v);
        if (r < 0)
                return r;
        if (strcmp(path, "id") == 0) {
                set_str(&s->e->id, &v);
                s->found |= FOUND_ID;
        } else if (strcmp(path, "watch") == 0) {
                set_str(&s->e->watch, &v);
                s->found |= FOUND_WATCH;
        } else if (strcmp(path, "thread") == 0)
                set_str(&s->e->thread, &v);
        else if (strcmp(path, "frame") == 0)
                set_str(&s->e->frame, &v);
        else if (strcmp(path, "reason") == 0)
                set_str(&s->e->reason, &v);
        return 0;
}

static int js_scalar_number(JsonScan *s, const char *path) {
        char buf[64], *end;
        int r = js_number(s, buf, sizeof(buf));
        if (r < 0)
                return r;
        errno = 0;
        if (strcmp(path, "pid") == 0 || strcmp(path, "tid") == 0) {
                long long v = strtoll(buf, &end, 10);
                if (*end || errno || v <= 0 || v > INT32_MAX)
                        return -EBADMSG;
                if (path[0] == 'p') {
                        s->e->pid = (pid_t) v;
                        s->found |= FOUND_PID;
                } else
                        s->e->tid = (pid_t) v;
        } else if (strcmp(path, "times.detected_at_usec") == 0) {
                if (buf[0] == '-')
                        return -EBADMSG;
                unsigned long long v = strtoull(buf, &end, 10);
                if (*end || errno)
                        return -EBADMSG;
                s->e->detected_at = (usec_t) v;
                s->found |= FOUND_DETECTED;
        } else if (strcmp(path, "stuck_seconds") == 0) {
                double v = strtod(buf, &end);
                if (*end || errno || !(v >= 0 && v < 1e12))
                        return -EBADMSG;
                s->e->stuck_seconds = v;
        } else {
                (void) strtod(buf, &end);
                if (*end)
                        return -EBADMSG;
        }
        return 0;
}

static int js_literal(JsonScan *s, const char *lit) {
        size_t n = strlen(lit);
        if ((size_t) (s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
                return -EBADMSG;
        s->p += n;
        return 0;
}

static int js_container(JsonScan *s, const char *path, unsigned depth, bool object) {
        char close = object ? '}' : ']';
        int r;

        s->p++;
        js_ws(s);
        if (s->p < s->end && *s->p == close) {
                s->p++;
                return 0;
        }
        for (;;) {
                char sub[96];
                js_ws(s);
                if (object) {
                        _cleanup_free_ char *key = NULL;
                        if (s->p >= s->end || *s->p != '"')
                                return -EBADMSG;
                        r = js_string(s, &key);
                        if (r < 0)
                                return r;
                        js_ws(s);
                        if (s->p >= s->end || *s->p != ':')
                                return -EBADMSG;
                        s->p++;
                        /* Paths only matter at depth 0 and 1; deeper ones never match. */
                        if (depth == 0)
                                snprintf(sub, sizeof(sub), "%.80s", key);
                        else
                                snprintf(sub, sizeof(sub), "%.40s.%.40s", path, key);
                } else
                        snprintf(sub, sizeof(sub), "%.80s[]", path);
                r = js_value(s, sub, depth + 1);
                if (r < 0)
                        return r;
                js_ws(s);
                if (s->p >= s->end)
                        return -EBADMSG;
                if (*s->p == close) {
                        s->p++;
                        return 0;
                }
                if (*s->p != ',')
                        return -EBADMSG;
                s->p++;
        }
}

static int js_value(JsonScan *s, const char *path, unsigned depth) {
        if (depth > JSON_DEPTH_MAX)
                return -EBADMSG;
        js_ws(s);
        if (s->p >= s->end)
                return -EBADMSG;
        switch (*s->p) {
        case '{':
                return js_container(s, path, depth, true);
        case '[':
                return js_container(s, path, depth, false);
        case '"':
                return js_scalar_string(s, path);
        case 't':
                return js_literal(s, "true");
        case 'f':
                return js_literal(s, "false");
        case 'n':
                return js_literal(s, "null");
        default:
                return js_scalar_number(s, path);
        }
}

void incident_entry_done(IncidentEntry *e) {
        free(e->id);
        free(e->watch);
        free(e->thread);
        free(e->frame);
        free(e->reason);
        *e = (IncidentEntry) {};
}

int incident_manifest_read(int dir_fd, IncidentEntry *ret) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        _cleanup_(incident_entry_done) IncidentEntry e = {};
        size_t n = 0;
        int r;

        fd = openat(dir_fd, "manifest.json", O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        buf = malloc(MANIFEST_SIZE_MAX + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k = read(fd, buf + n, MANIFEST_SIZE_MAX + 1 - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > MANIFEST_SIZE_MAX)
                        return -EFBIG;
        }

        JsonScan s = { .p = buf, .end = buf + n, .e = &e };
        js_ws(&s);
        if (s.p >= s.end || *s.p != '{')
                return -EBADMSG;
        r = js_value(&s, "", 0);
        if (r < 0)
                return r;
        js_ws(&s);
        if (s.p != s.end)
                return -EBADMSG;
        if ((s.found & (FOUND_ID | FOUND_WATCH | FOUND_PID | FOUND_DETECTED)) !=
            (FOUND_ID | FOUND_WATCH | FOUND_PID | FOUND_DETECTED))
                return -EBADMSG;
        *ret = e;
        e = (IncidentEntry) {};
        return 0;
}
