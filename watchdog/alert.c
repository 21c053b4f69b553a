/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <syslog.h>
/* Without this, sd_journal_sendv() is a macro adding CODE_FILE/CODE_LINE/CODE_FUNC: always
 * alert.c's own send, which tells a reader of the alert nothing. */
#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <systemd/sd-journal.h>

#include "alert.h"
#include "escape.h"

/* The one place priorities live (STYLE 2.11). The asserts pin SPEC's numbers: a reader of the
 * table sees LOG_CRIT, a reader of SPEC sees 2, and they cannot drift apart. */
static const AlertEventInfo alert_events[_ALERT_EVENT_MAX] = {
        [ALERT_HANG]        = { "hang",        PSW_MESSAGE_HANG_STR,        LOG_CRIT },
        [ALERT_RECOVERED]   = { "recovered",   PSW_MESSAGE_RECOVERED_STR,   LOG_NOTICE },
        [ALERT_TARGET_LOST] = { "target-lost", PSW_MESSAGE_TARGET_LOST_STR, LOG_WARNING },
        [ALERT_ERROR]       = { "error",       PSW_MESSAGE_ERROR_STR,       LOG_ERR },
};
_Static_assert(LOG_CRIT == 2, "hang is PRIORITY=2");
_Static_assert(LOG_NOTICE == 5, "recovered is PRIORITY=5");
_Static_assert(LOG_WARNING == 4, "target-lost is PRIORITY=4");
_Static_assert(LOG_ERR == 3, "error is PRIORITY=3");
_Static_assert(ELEMENTSOF(alert_events) == _ALERT_EVENT_MAX, "one row per event");

const AlertEventInfo *alert_event_info(AlertEvent e) {
        if (e < 0 || e >= _ALERT_EVENT_MAX)
                return NULL;
        return &alert_events[e];
}

const char *alert_event_to_string(AlertEvent e) {
        const AlertEventInfo *info = alert_event_info(e);
        return info ? info->name : NULL;
}

AlertEvent alert_event_from_string(const char *s) {
        if (!s)
                return _ALERT_EVENT_INVALID;
        for (AlertEvent e = 0; e < _ALERT_EVENT_MAX; e++)
                if (strcmp(alert_events[e].name, s) == 0)
                        return e;
        return _ALERT_EVENT_INVALID;
}

/* ---- the stderr line ---- */

static bool is_bare(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                      strchr("._:/@+-", *s)))
                        return false;
        return true;
}

/* The inside of a quoted value: `"` and `\` get a backslash so a reader can find the closing
 * quote; the rest goes through term_write_stringn(), which turns newlines, controls, escape
 * sequences and invalid UTF-8 into visible \n, \xNN, \uNNNN. */
static int write_quoted_inner(FILE *f, const char *s, size_t n) {
        size_t start = 0;

        for (size_t i = 0; i < n; i++) {
                if (s[i] != '"' && s[i] != '\\')
                        continue;
                if (term_write_stringn(f, s + start, i - start) < 0)
                        return -EIO;
                if (fputc('\\', f) == EOF || fputc(s[i], f) == EOF)
                        return -EIO;
                start = i + 1;
        }
        return term_write_stringn(f, s + start, n - start);
}

static int write_value(FILE *f, const char *key, const char *value) {
        if (!value)
                return 0;
        if (fprintf(f, " %s=", key) < 0)
                return -EIO;
        if (is_bare(value))
                return fputs(value, f) == EOF ? -EIO : 0;
        if (fputc('"', f) == EOF || write_quoted_inner(f, value, strlen(value)) < 0 || fputc('"', f) == EOF)
                return -EIO;
        return 0;
}

/* The stack on one line: its lines joined by " <- ", innermost still first. */
static int write_stack(FILE *f, const char *stack) {
        bool first = true;

        if (!stack)
                return 0;
        if (fputs(" stack=\"", f) == EOF)
                return -EIO;
        for (const char *p = stack; *p;) {
                size_t n = strcspn(p, "\n");

                if (!first && fputs(" <- ", f) == EOF)
                        return -EIO;
                if (write_quoted_inner(f, p, n) < 0)
                        return -EIO;
                first = false;
                p += n;
                if (*p == '\n')
                        p++;
        }
        return fputc('"', f) == EOF ? -EIO : 0;
}

int alert_format_line(FILE *f, const Alert *a) {
        const char *name = alert_event_to_string(a->event);

        if (!name)
                return -EINVAL;
        if (fprintf(f, "pyspy-watch: %s:", name) < 0)
                return -EIO;
        if (write_value(f, "watch", a->watch) < 0)
                return -EIO;
        if (a->pid > 0 && fprintf(f, " pid=%d", (int) a->pid) < 0)
                return -EIO;
        if (a->tid > 0 && fprintf(f, " tid=%d", (int) a->tid) < 0)
                return -EIO;
        /* Always quoted, even when bare would do, as in the examples users grep for. */
        if (a->thread) {
                if (fputs(" thread=\"", f) == EOF || write_quoted_inner(f, a->thread, strlen(a->thread)) < 0 ||
                    fputc('"', f) == EOF)
                        return -EIO;
        }
        if (a->stuck_usec > 0 && fprintf(f, " stuck=%llus", (unsigned long long) (a->stuck_usec / USEC_PER_SEC)) < 0)
                return -EIO;
        if (write_value(f, "incident", a->incident) < 0 || write_value(f, "bundle", a->bundle) < 0)
                return -EIO;
        if (write_stack(f, a->stack) < 0)
                return -EIO;
        if (write_value(f, "message", a->message) < 0)
                return -EIO;
        if (fputc('\n', f) == EOF || ferror(f))
                return -EIO;
        return 0;
}

static int alert_send_stderr(const Alert *a) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        int r;

        if (!f)
                return -ENOMEM;
        r = alert_format_line(f, a);
        if (fclose(f) != 0 && r >= 0)
                r = -ENOMEM;
        if (r < 0)
                return r;

        /* One write(2) for the whole line, so lines of concurrent writers (the exec hook shares
         * our stderr) never interleave; stdio might split it at its buffer size. */
        (void) fflush(stderr);
        for (size_t done = 0; done < len;) {
                ssize_t n = write(STDERR_FILENO, buf + done, len - done);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -EIO;
                }
                done += (size_t) n;
        }
        return 1;
}

/* ---- the journal ---- */

int alert_journal_socket_check(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t l = strlen(path);
        _cleanup_close_ int fd = -EBADF;

        if (l == 0 || l >= sizeof(sa.sun_path))
                return 0;
        memcpy(sa.sun_path, path, l);

        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        /* A datagram connect() reaches the listener's socket without sending anything: ENOENT
         * (no journald), ECONNREFUSED (a stale socket file nobody reads) and EACCES all mean a
         * send would be dropped. */
        if (connect(fd, (const struct sockaddr *) &sa, (socklen_t) (offsetof(struct sockaddr_un, sun_path) + l + 1)) < 0)
                return 0;
        return 1;
}

static const char *journal_socket_path(void) {
        const char *p = getenv("PYSPY_WATCH_JOURNAL_SOCKET");
        return p && *p ? p : ALERT_JOURNAL_SOCKET;
}

static bool journal_cached;
static bool journal_checked;
static usec_t journal_checked_at;

bool alert_journal_available(bool force) {
        usec_t now = now_usec();

        if (force || !journal_checked || now - journal_checked_at >= ALERT_JOURNAL_RECHECK_USEC) {
                journal_cached = alert_journal_socket_check(journal_socket_path()) > 0;
                journal_checked = true;
                journal_checked_at = now;
        }
        return journal_cached;
}

/* "KEY=value" in a new string; value is an argument, never part of the format. */
static char *field(const char *key, const char *value) {
        char *s = NULL;
        if (asprintf(&s, "%s=%s", key, value) < 0)
                return NULL;
        return s;
}

static char *field_u64(const char *key, unsigned long long v) {
        char *s = NULL;
        if (asprintf(&s, "%s=%llu", key, v) < 0)
                return NULL;
        return s;
}

/* A MESSAGE for when the caller gave none; the journal shows MESSAGE first and the catalog
 * carries the rest, so it only needs to say which event hit which watch. */
static char *default_message(const Alert *a) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                return NULL;
        fprintf(f, "%s", alert_event_to_string(a->event));
        if (a->watch)
                fprintf(f, " in watch %s", a->watch);
        if (a->pid > 0)
                fprintf(f, ", process %d", (int) a->pid);
        if (a->stuck_usec > 0)
                fprintf(f, ", stuck %llus", (unsigned long long) (a->stuck_usec / USEC_PER_SEC));
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

/* Room for MESSAGE, MESSAGE_ID, PRIORITY, SYSLOG_IDENTIFIER and the nine PYSPY_ fields. */
#define ALERT_FIELDS_MAX 13

int alert_send(const Alert *a) {
        const AlertEventInfo *info = alert_event_info(a->event);
        char *fields[ALERT_FIELDS_MAX] = {};
        struct iovec iov[ALERT_FIELDS_MAX];
        size_t n = 0;
        int r = -ENOMEM;

        if (!info)
                return -EINVAL;

        /* Checked on every send, not from the cache: sd_journal_sendv() returns 0 when the socket
         * is missing, so a journald that went away would swallow alerts silently until the next
         * re-check. Alerts are rare (cooldown) and the check is a socket() and a connect(). */
        if (!alert_journal_available(true))
                return alert_send_stderr(a);

        if (a->message)
                fields[n++] = field("MESSAGE", a->message);
        else {
                _cleanup_free_ char *m = default_message(a);
                fields[n++] = m ? field("MESSAGE", m) : NULL;
        }
        fields[n++] = field("MESSAGE_ID", info->message_id);
        fields[n++] = field_u64("PRIORITY", (unsigned long long) info->priority);
        fields[n++] = field("SYSLOG_IDENTIFIER", "pyspy-watch");
        fields[n++] = field("PYSPY_EVENT", info->name);
        if (a->watch)
                fields[n++] = field("PYSPY_WATCH", a->watch);
        if (a->pid > 0)
                fields[n++] = field_u64("PYSPY_PID", (unsigned long long) a->pid);
        if (a->tid > 0)
                fields[n++] = field_u64("PYSPY_TID", (unsigned long long) a->tid);
        if (a->thread)
                fields[n++] = field("PYSPY_THREAD", a->thread);
        if (a->stuck_usec > 0)
                fields[n++] = field_u64("PYSPY_STUCK_SECONDS", (unsigned long long) (a->stuck_usec / USEC_PER_SEC));
        if (a->stack)
                fields[n++] = field("PYSPY_STACK", a->stack);
        if (a->incident)
                fields[n++] = field("PYSPY_INCIDENT", a->incident);
        if (a->bundle)
                fields[n++] = field("PYSPY_BUNDLE", a->bundle);

        for (size_t i = 0; i < n; i++) {
                if (!fields[i])
                        goto finish;
                iov[i] = (struct iovec) { .iov_base = fields[i], .iov_len = strlen(fields[i]) };
        }

        /* sendv, not send: no format string at all, and values may span lines (PYSPY_STACK), which
         * the native protocol carries with an explicit length. Big fields go through a memfd
         * inside libsystemd, so a deep stack is not truncated. */
        r = sd_journal_sendv(iov, (int) n);
        if (r < 0) {
                /* Not lost: the same event on stderr, and the next send checks the socket anew. */
                r = alert_send_stderr(a);
                goto finish;
        }
        r = 0;
finish:
        for (size_t i = 0; i < n; i++)
                free(fields[i]);
        return r;
}
