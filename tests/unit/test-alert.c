/* SPDX-License-Identifier: MIT */
/* The event table, the one-line stderr form of an alert with hostile values, the journal socket
 * check and the stderr fallback of alert_send().
 *
 * `test-alert --send` instead sends one alert of each event with the fixed values below (plus
 * a hang with a 10 KB stack) and exits: tests/live/test_journal.py runs it next to a private
 * journald, and without one, and reads the entries back. Keep the values in step with it. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "alert.h"
#include "macro.h"
#include "tests.h"

/* ---- the table ---- */

static bool is_id128_hex(const char *s) {
        if (strlen(s) != 32)
                return false;
        for (; *s; s++)
                if (!isdigit((unsigned char) *s) && !(*s >= 'a' && *s <= 'f'))
                        return false;
        return true;
}

static void test_table(void) {
        static const struct {
                AlertEvent e;
                sd_id128_t id;
                const char *id_str;
                const char *name;
                int priority;
        } want[] = {
                { ALERT_HANG,        PSW_MESSAGE_HANG,        PSW_MESSAGE_HANG_STR,        "hang",        2 },
                { ALERT_RECOVERED,   PSW_MESSAGE_RECOVERED,   PSW_MESSAGE_RECOVERED_STR,   "recovered",   5 },
                { ALERT_TARGET_LOST, PSW_MESSAGE_TARGET_LOST, PSW_MESSAGE_TARGET_LOST_STR, "target-lost", 4 },
                { ALERT_ERROR,       PSW_MESSAGE_ERROR,       PSW_MESSAGE_ERROR_STR,       "error",       3 },
        };

        ASSERT_EQ(ELEMENTSOF(want), _ALERT_EVENT_MAX);
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                const AlertEventInfo *info = alert_event_info(want[i].e);
                sd_id128_t parsed;

                ASSERT_TRUE(info);
                ASSERT_STREQ(info->name, want[i].name);
                ASSERT_STREQ(info->message_id, want[i].id_str);
                ASSERT_EQ(info->priority, want[i].priority);
                ASSERT_TRUE(is_id128_hex(info->message_id));
                /* The twins are the same ID. */
                ASSERT_OK(sd_id128_from_string(info->message_id, &parsed));
                ASSERT_TRUE(sd_id128_equal(parsed, want[i].id));
                ASSERT_TRUE(!sd_id128_is_null(parsed));
                ASSERT_STREQ(alert_event_to_string(want[i].e), want[i].name);
                ASSERT_EQ(alert_event_from_string(want[i].name), want[i].e);
                for (size_t j = 0; j < i; j++)
                        ASSERT_TRUE(strcmp(alert_event_info(want[j].e)->message_id, info->message_id) != 0);
        }
        ASSERT_EQ(LOG_CRIT, 2);
        ASSERT_TRUE(!alert_event_info(_ALERT_EVENT_MAX));
        ASSERT_TRUE(!alert_event_info(_ALERT_EVENT_INVALID));
        ASSERT_TRUE(!alert_event_to_string(-1));
        ASSERT_EQ(alert_event_from_string("Hang"), -EINVAL);
        ASSERT_EQ(alert_event_from_string(""), -EINVAL);
        ASSERT_EQ(alert_event_from_string(NULL), -EINVAL);
}

/* ---- the stderr line ---- */

static char *format(const Alert *a) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        ASSERT_TRUE(f);
        ASSERT_EQ(alert_format_line(f, a), 0);
        ASSERT_EQ(fclose(f), 0);
        ASSERT_EQ(strlen(buf), len);
        return buf;
}

/* One line: a single \n, at the end, and no byte a terminal acts upon. */
static void assert_one_safe_line(const char *s) {
        size_t len = strlen(s);

        ASSERT_TRUE(len > 0 && s[len - 1] == '\n');
        for (size_t i = 0; i + 1 < len; i++) {
                unsigned char c = (unsigned char) s[i];
                ASSERT_TRUE(c >= 0x20 && c != 0x7f);
        }
}

static void test_format_plain(void) {
        Alert a = {
                .event = ALERT_HANG,
                .watch = "web",
                .pid = 123,
                .tid = 125,
                .thread = "worker-1",
                .stuck_usec = 63 * USEC_PER_SEC + 900 * USEC_PER_MSEC,
                .stack = "recv (socket.py:700)\nhandle (app.py:40)\n<module> (app.py:99)\n",
                .incident = "20240102T030405Z-web-123",
                .bundle = "/var/lib/pyspy-watch/incidents/20240102T030405Z-web-123",
                .message = "Python process 123 (web) hung",
        };
        _cleanup_free_ char *s = format(&a);

        ASSERT_STREQ(s, "pyspy-watch: hang: watch=web pid=123 tid=125 thread=\"worker-1\" stuck=63s"
                        " incident=20240102T030405Z-web-123"
                        " bundle=/var/lib/pyspy-watch/incidents/20240102T030405Z-web-123"
                        " stack=\"recv (socket.py:700) <- handle (app.py:40) <- <module> (app.py:99)\""
                        " message=\"Python process 123 (web) hung\"\n");
}

static void test_format_sparse(void) {
        /* Fields that do not apply are left out, not written as 0 or "(null)". */
        Alert a = { .event = ALERT_ERROR, .watch = "db", .message = "permission denied" };
        _cleanup_free_ char *s = format(&a);
        ASSERT_STREQ(s, "pyspy-watch: error: watch=db message=\"permission denied\"\n");

        Alert b = { .event = ALERT_TARGET_LOST, .pid = 9 };
        _cleanup_free_ char *t = format(&b);
        ASSERT_STREQ(t, "pyspy-watch: target-lost: pid=9\n");

        Alert c = { .event = ALERT_RECOVERED, .watch = "", .stack = "" };
        _cleanup_free_ char *u = format(&c);
        ASSERT_STREQ(u, "pyspy-watch: recovered: watch=\"\" stack=\"\"\n");
}

static void test_format_hostile(void) {
        Alert a = {
                .event = ALERT_HANG,
                .watch = "w\"eb\nx",
                .pid = 1,
                .thread = "evil\"\n\r\x1b[2J\x07\\n\xff\xc0\xaf end",
                .stack = "f\x1b[2J (a\"b.py:1)\n\n\xe2\x80\xae" "bidi (x\\y.py:2)\nlast\x7f (\xed\xa0\x80.py:3)",
                .incident = "id with space",
                .bundle = "/tmp/a\tb",
                .message = "line1\nline2 \"quoted\" \xf0\x9f\x90\x8d ok",
        };
        _cleanup_free_ char *s = format(&a);

        assert_one_safe_line(s);
        /* Quotes and backslashes of the values are escaped, so every `"` that is not preceded by
         * a backslash delimits a value: an even number of them. */
        size_t quotes = 0;
        for (const char *p = s; *p; p++) {
                if (*p == '\\' && p[1]) {
                        p++;
                        continue;
                }
                if (*p == '"')
                        quotes++;
        }
        ASSERT_EQ(quotes % 2, 0);
        ASSERT_EQ(quotes, 2 * 6);   /* watch thread incident bundle stack message */
        ASSERT_TRUE(strstr(s, " watch=\"w\\\"eb\\nx\" "));
        ASSERT_TRUE(strstr(s, " thread=\"evil\\\"\\n\\r\\x1b[2J\\x07\\\\n\\xff\\xc0\\xaf end\" "));
        /* Empty stack lines stay visible as empty frames; the RLO character is shown, not obeyed. */
        ASSERT_TRUE(strstr(s, " stack=\"f\\x1b[2J (a\\\"b.py:1) <-  <- \\u202Ebidi (x\\\\y.py:2) <- last\\x7f (\\xed\\xa0\\x80.py:3)\" ") ||
                    strstr(s, " stack=\"f\\x1b[2J (a\\\"b.py:1) <-  <- \\u202ebidi (x\\\\y.py:2) <- last\\x7f (\\xed\\xa0\\x80.py:3)\" "));
        ASSERT_TRUE(strstr(s, " incident=\"id with space\" bundle=\"/tmp/a\\tb\" "));
        /* Valid UTF-8 passes through. */
        ASSERT_TRUE(strstr(s, " message=\"line1\\nline2 \\\"quoted\\\" \xf0\x9f\x90\x8d ok\"\n"));

        Alert bad = { .event = _ALERT_EVENT_MAX };
        FILE *f = fopen("/dev/null", "we");
        ASSERT_TRUE(f);
        ASSERT_EQ(alert_format_line(f, &bad), -EINVAL);
        bad.event = _ALERT_EVENT_INVALID;
        ASSERT_EQ(alert_format_line(f, &bad), -EINVAL);
        ASSERT_EQ(alert_send(&bad), -EINVAL);
        fclose(f);
}

static void test_format_long_stack(void) {
        /* 300 frames: one line still, every frame there. */
        char *stack = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&stack, &len);
        ASSERT_TRUE(f);
        for (int i = 0; i < 300; i++)
                fprintf(f, "frame_%03d (/srv/app/module_%03d.py:%d)\n", i, i, i + 1);
        ASSERT_EQ(fclose(f), 0);

        Alert a = { .event = ALERT_HANG, .stack = stack };
        _cleanup_free_ char *s = format(&a);
        assert_one_safe_line(s);
        ASSERT_TRUE(strstr(s, "stack=\"frame_000 (/srv/app/module_000.py:1) <- frame_001"));
        ASSERT_TRUE(strstr(s, " <- frame_299 (/srv/app/module_299.py:300)\"\n"));
        free(stack);
}

/* ---- the journal socket check ---- */

static int bind_dgram(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        ASSERT_TRUE(fd >= 0);
        ASSERT_TRUE(strlen(path) < sizeof(sa.sun_path));
        strcpy(sa.sun_path, path);
        ASSERT_EQ(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        return fd;
}

static void test_socket_check(const char *dir) {
        char path[256], longpath[200];

        snprintf(path, sizeof(path), "%s/socket", dir);
        ASSERT_EQ(alert_journal_socket_check(path), 0);          /* missing */
        int fd = bind_dgram(path);
        ASSERT_EQ(alert_journal_socket_check(path), 1);          /* listening */

        /* The cache answers without looking for ALERT_JOURNAL_RECHECK_USEC; force looks. */
        ASSERT_EQ(setenv("PYSPY_WATCH_JOURNAL_SOCKET", path, 1), 0);
        ASSERT_TRUE(alert_journal_available(true));
        close(fd);
        ASSERT_EQ(alert_journal_socket_check(path), 0);          /* stale file: ECONNREFUSED */
        ASSERT_TRUE(alert_journal_available(false));
        ASSERT_TRUE(!alert_journal_available(true));
        ASSERT_TRUE(!alert_journal_available(false));
        ASSERT_EQ(unlink(path), 0);

        /* A journald started after us is noticed. */
        fd = bind_dgram(path);
        ASSERT_TRUE(alert_journal_available(true));
        close(fd);
        ASSERT_EQ(unlink(path), 0);

        memset(longpath, 'x', sizeof(longpath) - 1);
        longpath[0] = '/';
        longpath[sizeof(longpath) - 1] = 0;
        ASSERT_EQ(alert_journal_socket_check(longpath), 0);      /* longer than sun_path */
        ASSERT_EQ(alert_journal_socket_check(""), 0);
        ASSERT_EQ(alert_journal_socket_check("/"), 0);           /* not a socket */
}

/* With no journal socket, alert_send() writes exactly alert_format_line()'s line to stderr. */
static void test_send_fallback(const char *dir) {
        char path[256], nosock[256];
        Alert a = {
                .event = ALERT_HANG,
                .watch = "web",
                .pid = 123,
                .tid = 125,
                .thread = "evil\n\x1b[2J",
                .stuck_usec = 5 * USEC_PER_SEC,
                .stack = "a (b.py:1)\nc (d.py:2)\n",
                .message = "hung",
        };
        _cleanup_free_ char *want = format(&a);

        snprintf(nosock, sizeof(nosock), "%s/no-such-socket", dir);
        ASSERT_EQ(setenv("PYSPY_WATCH_JOURNAL_SOCKET", nosock, 1), 0);

        snprintf(path, sizeof(path), "%s/stderr", dir);
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ASSERT_TRUE(fd >= 0);
        fflush(stderr);
        int saved = dup(STDERR_FILENO);
        ASSERT_TRUE(saved >= 0);
        ASSERT_EQ(dup2(fd, STDERR_FILENO), STDERR_FILENO);
        int r1 = alert_send(&a);
        a.event = ALERT_RECOVERED;
        int r2 = alert_send(&a);
        ASSERT_EQ(dup2(saved, STDERR_FILENO), STDERR_FILENO);
        close(saved);
        ASSERT_EQ(r1, 1);
        ASSERT_EQ(r2, 1);

        char buf[4096];
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
        ASSERT_TRUE(n > 0);
        buf[n] = 0;
        close(fd);
        ASSERT_EQ(strncmp(buf, want, strlen(want)), 0);
        ASSERT_TRUE(strncmp(buf + strlen(want), "pyspy-watch: recovered: watch=web ", 34) == 0);
        ASSERT_EQ(strchr(buf + strlen(want), '\n') - buf + 1, n);   /* two lines, nothing else */
        ASSERT_EQ(unlink(path), 0);
        ASSERT_EQ(unsetenv("PYSPY_WATCH_JOURNAL_SOCKET"), 0);
}

/* ---- --send, for tests/live/test_journal.py ---- */

static int send_all(void) {
        static const char stack[] =
                "recv (/usr/lib/python3.11/socket.py:700)\n"
                "read_request (/srv/app/server.py:41)\n"
                "handle (/srv/app/server.py:12)\n"
                "<module> (/srv/app/main.py:3)";
        const Alert alerts[] = {
                {
                        .event = ALERT_HANG,
                        .watch = "web",
                        .pid = 4242,
                        .tid = 4243,
                        .thread = "worker \"1\"\nß",
                        .stuck_usec = 63 * USEC_PER_SEC,
                        .stack = stack,
                        .incident = "20240102T030405Z-web-4242",
                        .bundle = "/var/lib/pyspy-watch/incidents/20240102T030405Z-web-4242",
                        .message = "Python process 4242 (web) hung: thread worker 1 stuck for 63s in recv",
                },
                {
                        .event = ALERT_RECOVERED,
                        .watch = "web",
                        .pid = 4242,
                        .tid = 4243,
                        .thread = "worker \"1\"\nß",
                        .stuck_usec = 75 * USEC_PER_SEC,
                        .incident = "20240102T030405Z-web-4242",
                        .message = "Python process 4242 (web) recovered after 75s",
                },
                {
                        .event = ALERT_TARGET_LOST,
                        .watch = "web",
                        .pid = 4242,
                        .message = "Python process 4242 (web) is gone",
                },
                {
                        .event = ALERT_ERROR,
                        .watch = "db",
                        .pid = 77,
                        .message = "permission denied reading process 77: run as root or grant CAP_SYS_PTRACE",
                },
        };
        int ret = 0;

        for (size_t i = 0; i < ELEMENTSOF(alerts); i++) {
                int r = alert_send(&alerts[i]);
                printf("sent %s: %s\n", alert_event_to_string(alerts[i].event),
                       r == 0 ? "journal" : r == 1 ? "stderr" : strerror(-r));
                if (r < 0)
                        ret = 1;
        }

        /* A 300-frame stack, about 10 KB: past journalctl's 4 KiB display limit and one datagram's
         * comfortable size. Frame i is "deep_NNN (/srv/app/layer_NNN.py:i+1)". */
        _cleanup_free_ char *big = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&big, &len);
        if (!f)
                return 1;
        for (int i = 0; i < 300; i++)
                fprintf(f, "%sdeep_%03d (/srv/app/layer_%03d.py:%d)", i ? "\n" : "", i, i, i + 1);
        if (fclose(f) != 0)
                return 1;
        Alert deep = {
                .event = ALERT_HANG,
                .watch = "deep",
                .pid = 5151,
                .tid = 5151,
                .thread = "MainThread",
                .stuck_usec = 61 * USEC_PER_SEC,
                .stack = big,
                .incident = "20240102T030405Z-deep-5151",
                .bundle = "/var/lib/pyspy-watch/incidents/20240102T030405Z-deep-5151",
                .message = "Python process 5151 (deep) hung",
        };
        int r = alert_send(&deep);
        printf("sent hang (deep, %zu bytes): %s\n", len, r == 0 ? "journal" : r == 1 ? "stderr" : strerror(-r));
        if (r < 0)
                ret = 1;
        return ret;
}

int main(int argc, char **argv) {
        char dir[] = "/tmp/test-alert-XXXXXX";

        if (argc > 1 && strcmp(argv[1], "--send") == 0)
                return send_all();
        if (argc > 1) {
                fprintf(stderr, "usage: %s [--send]\n", argv[0]);
                return 2;
        }

        test_table();
        test_format_plain();
        test_format_sparse();
        test_format_hostile();
        test_format_long_stack();

        ASSERT_TRUE(mkdtemp(dir));
        test_socket_check(dir);
        test_send_fallback(dir);
        ASSERT_EQ(rmdir(dir), 0);

        printf("ok\n");
        return 0;
}
