/* SPDX-License-Identifier: MIT */
/* config.c: the values, every kind of error with its line, the permission rule, and that
 * config_print() reads back as the same configuration. */
#include <fcntl.h>
#include <regex.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "tests.h"

static char tmpl_path[64];

/* Writes text to a fresh 0600 file under /tmp; the path stays valid until the next call. */
static const char *write_file(const char *text) {
        if (tmpl_path[0])
                (void) unlink(tmpl_path);
        snprintf(tmpl_path, sizeof(tmpl_path), "/tmp/test-config-XXXXXX");
        int fd = mkstemp(tmpl_path);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(fchmod(fd, 0600), 0);
        size_t len = strlen(text);
        ASSERT_EQ(write(fd, text, len), (ssize_t) len);
        close(fd);
        return tmpl_path;
}

static int load(const char *text, Config **ret, ConfigErrors *e) {
        *e = (ConfigErrors) {};
        *ret = NULL;
        return config_load(write_file(text), ret, e);
}

static Config *load_ok(const char *text) {
        ConfigErrors e;
        Config *c;
        int r = load(text, &c, &e);
        for (size_t i = 0; i < e.n; i++)
                fprintf(stderr, "unexpected error: %u: %s\n", e.errors[i].line, e.errors[i].message);
        ASSERT_EQ(r, 0);
        ASSERT_EQ(e.n, 0);
        ASSERT_TRUE(c);
        return c;
}

/* Loads text expecting exactly one error, on line, whose message contains needle. */
static void expect_error(const char *text, unsigned line, const char *needle) {
        ConfigErrors e;
        Config *c;
        int r = load(text, &c, &e);
        if (r != -EINVAL || e.n != 1 || e.errors[0].line != line || !strstr(e.errors[0].message, needle)) {
                fprintf(stderr, "for:\n%s\nwanted one error on line %u with '%s', got r=%d:\n", text, line, needle, r);
                for (size_t i = 0; i < e.n; i++)
                        fprintf(stderr, "  %u: %s\n", e.errors[i].line, e.errors[i].message);
                exit(1);
        }
        ASSERT_TRUE(!c);
        config_errors_done(&e);
}

static bool regex_matches(const regex_t *re, const char *s) {
        return regexec(re, s, 0, NULL, 0) == 0;
}

static void test_defaults(void) {
        Config *c = load_ok("[watch:a]\npid = 1\n");
        ASSERT_STREQ(c->state_dir, "/var/lib/pyspy-watch");
        ASSERT_EQ(c->max_incidents, 50);
        ASSERT_EQ(c->max_incident_bytes, 512ULL << 20);
        ASSERT_EQ(c->n_watches, 1);
        const Watch *w = &c->watches[0];
        ASSERT_STREQ(w->name, "a");
        ASSERT_EQ(w->line, 1);
        ASSERT_EQ(w->selector, SELECT_PID);
        ASSERT_EQ(w->pid, 1);
        ASSERT_STREQ(w->selector_value, "1");
        ASSERT_EQ(w->rate, 5);
        ASSERT_EQ(w->stuck_after, 60 * USEC_PER_SEC);
        ASSERT_TRUE(!w->has_window);
        ASSERT_EQ(w->threads, WATCH_THREADS_ALL);
        ASSERT_STREQ(w->ignore, WATCH_DEFAULT_IGNORE);
        ASSERT_EQ(w->history, 600 * USEC_PER_SEC);
        ASSERT_TRUE(w->locals);
        ASSERT_STREQ(w->redact, WATCH_DEFAULT_REDACT);
        ASSERT_EQ(w->cooldown, 1800 * USEC_PER_SEC);
        ASSERT_EQ(w->action, ACTION_NONE);
        ASSERT_TRUE(!w->exec && !w->exec_argv);

        /* Where healthy programs idle (innermost frame as the detector formats it). */
        static const char *const idle[] = {
                "accept (/usr/lib/python3.11/socket.py)",
                "accept (/usr/lib/python2.7/socket.py)",
                "select (/usr/lib/python3.11/selectors.py)",
                "poll (/usr/lib/python2.7/asyncore.py)",
                "wait (/usr/lib/python3.11/threading.py)",
                "_wait_for_tstate_lock (/usr/lib/python3.11/threading.py)",
                "join (/usr/lib/python3.13/threading.py)",
                "_worker (/usr/lib/python3.11/concurrent/futures/thread.py)",
                "worker (/usr/lib/python3.11/multiprocessing/pool.py)",
                "_handle_tasks (/usr/lib/python3.11/multiprocessing/pool.py)",
                "get (/usr/lib/python3.11/multiprocessing/queues.py)",
                "_recv (/usr/lib/python3.11/multiprocessing/connection.py)",
                "wait (/srv/venv/lib/python3.11/site-packages/gunicorn/workers/sync.py)",
        };
        for (size_t i = 0; i < sizeof(idle) / sizeof(idle[0]); i++)
                if (!regex_matches(&w->ignore_re, idle[i])) {
                        fprintf(stderr, "default ignore misses %s\n", idle[i]);
                        exit(1);
                }
        /* Where hangs happen: blocked reads, child processes, user code, look-alike names. */
        static const char *const busy[] = {
                "readinto (/usr/lib/python3.11/socket.py)",
                "read (/usr/lib/python3.11/ssl.py)",
                "_try_wait (/usr/lib/python3.11/subprocess.py)",
                "main (/srv/app/app.py)",
                "select_rows (/srv/app/db.py)",
                "accept (/srv/app/mysocket.py)",
                "wait (/srv/app/threading_utils.py)",
                "sleep (/usr/lib/python3.11/asyncio/tasks.py)",
                "get (/usr/lib/python3.11/queue.py)",
        };
        for (size_t i = 0; i < sizeof(busy) / sizeof(busy[0]); i++)
                if (regex_matches(&w->ignore_re, busy[i])) {
                        fprintf(stderr, "default ignore wrongly matches %s\n", busy[i]);
                        exit(1);
                }
        static const char *const secret[] = { "password", "DB_PASSWORD", "passwd", "api_key", "AuthToken",
                                              "session_id", "client_secret", "db_pw", "credentials", "cookie", "dsn" };
        for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
                ASSERT_TRUE(regex_matches(&w->redact_re, secret[i]));
        static const char *const plain[] = { "self", "count", "user", "request", "i", "timeout" };
        for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
                ASSERT_TRUE(!regex_matches(&w->redact_re, plain[i]));
        config_free(c);

        /* No watch at all is a valid (if idle) configuration, and so is an empty file. */
        c = load_ok("[daemon]\nmax_incidents = 3\n");
        ASSERT_EQ(c->n_watches, 0);
        ASSERT_EQ(c->max_incidents, 3);
        config_free(c);
        c = load_ok("");
        ASSERT_EQ(c->n_watches, 0);
        config_free(c);
}

static void test_every_key(void) {
        Config *c = load_ok(
                "; comment\n"
                "# another\n"
                "[daemon]\n"
                "state_dir = /srv/psw   ; inline comment\n"
                "max_incidents = 7\n"
                "max_incident_bytes = 2G\n"
                "\n"
                "[watch:web-1.x]\n"
                "match = gunicorn: worker\n"
                "rate = 1000\n"
                "stuck_after = 1.5s\n"
                "window = 22:00-04:00\n"
                "threads = main\n"
                "ignore = ^idle \\(\n"
                "history = 90s\n"
                "locals = off\n"
                "redact = ^x$\n"
                "cooldown = 0\n"
                "action = exec\n"
                "exec = /usr/bin/notify --who {name} {pid}:{tid} {bundle} {incident}\n"
                "[watch:p]\n"
                "pidfile = /run/app.pid\n"
                "locals = TRUE\n"
                "action = kill\n"
                "[watch:u]\n"
                "unit = app.service\n"
                "ignore =\n"
                "redact =\n");
        ASSERT_STREQ(c->state_dir, "/srv/psw");
        ASSERT_EQ(c->max_incidents, 7);
        ASSERT_EQ(c->max_incident_bytes, 2ULL << 30);
        ASSERT_EQ(c->n_watches, 3);
        const Watch *w = &c->watches[0];
        ASSERT_STREQ(w->name, "web-1.x");
        ASSERT_EQ(w->line, 8);
        ASSERT_EQ(w->selector, SELECT_MATCH);
        ASSERT_STREQ(w->selector_value, "gunicorn: worker");
        ASSERT_TRUE(regex_matches(&w->match_re, "gunicorn: worker [app:app]"));
        ASSERT_TRUE(!regex_matches(&w->match_re, "gunicorn: master"));
        ASSERT_EQ(w->rate, 1000);
        ASSERT_EQ(w->stuck_after, 1500 * USEC_PER_MSEC);
        ASSERT_TRUE(w->has_window);
        ASSERT_EQ(w->window_start, 22 * 60);
        ASSERT_EQ(w->window_end, 4 * 60);
        ASSERT_EQ(w->threads, WATCH_THREADS_MAIN);
        ASSERT_STREQ(w->ignore, "^idle \\(");
        ASSERT_TRUE(regex_matches(&w->ignore_re, "idle (x.py)"));
        ASSERT_EQ(w->history, 90 * USEC_PER_SEC);
        ASSERT_TRUE(!w->locals);
        ASSERT_TRUE(regex_matches(&w->redact_re, "X"));   /* REG_ICASE */
        ASSERT_EQ(w->cooldown, 0);
        ASSERT_EQ(w->action, ACTION_EXEC);
        ASSERT_STREQ(w->exec_argv[0], "/usr/bin/notify");
        ASSERT_STREQ(w->exec_argv[1], "--who");
        ASSERT_STREQ(w->exec_argv[2], "{name}");
        ASSERT_STREQ(w->exec_argv[3], "{pid}:{tid}");
        ASSERT_STREQ(w->exec_argv[5], "{incident}");
        ASSERT_TRUE(!w->exec_argv[6]);
        w = &c->watches[1];
        ASSERT_EQ(w->selector, SELECT_PIDFILE);
        ASSERT_STREQ(w->selector_value, "/run/app.pid");
        ASSERT_TRUE(w->locals);
        ASSERT_EQ(w->action, ACTION_KILL);
        w = &c->watches[2];
        ASSERT_EQ(w->selector, SELECT_UNIT);
        ASSERT_STREQ(w->selector_value, "app.service");
        ASSERT_TRUE(!w->ignore);   /* empty: nothing is ignored */
        ASSERT_TRUE(!w->redact);
        config_free(c);

        /* inih's comment rules: ';' starts a comment only after whitespace; '#' only a line. */
        c = load_ok("[watch:a]\nmatch = a;b  ; real comment\nredact = x #y\nrate = 7 ;c\n");
        ASSERT_STREQ(c->watches[0].selector_value, "a;b");
        ASSERT_STREQ(c->watches[0].redact, "x #y");
        ASSERT_EQ(c->watches[0].rate, 7);
        config_free(c);

        /* Continuation lines: regexes concatenate, exec joins with a space. */
        c = load_ok("[watch:a]\npid = 2\nignore = ^(a\n    |b)$\nexec = /bin/x\n\t{pid}\n  {name}\naction = exec\n");
        ASSERT_STREQ(c->watches[0].ignore, "^(a|b)$");
        ASSERT_STREQ(c->watches[0].exec, "/bin/x {pid} {name}");
        ASSERT_STREQ(c->watches[0].exec_argv[2], "{name}");
        config_free(c);

        /* An inline comment ends a continuation line too (inih strips it only on a key's). */
        c = load_ok("[watch:a]\npid = 2\nignore = ^(a ; first\n    |b;c)$  ; second\n    |d ;;;x\n");
        ASSERT_STREQ(c->watches[0].ignore, "^(a|b;c)$|d");
        config_free(c);

        /* An indented first key is just a key (inih: no previous key to continue). */
        c = load_ok("[watch:a]\n   pid = 3\n");
        ASSERT_EQ(c->watches[0].pid, 3);
        config_free(c);
}

static void test_durations_sizes(void) {
        static const struct { const char *s; usec_t v; } ok[] = {
                { "0", 0 }, { "5", 5 * USEC_PER_SEC }, { "250ms", 250 * USEC_PER_MSEC }, { "10s", 10 * USEC_PER_SEC },
                { "5m", 300 * USEC_PER_SEC }, { "2h", 7200 * USEC_PER_SEC }, { "1.5s", 1500000 }, { "0.5h", 1800 * USEC_PER_SEC },
                { "1.0000001s", 1000000 }, { "0.25ms", 250 }, { "007s", 7 * USEC_PER_SEC },
        };
        static const char *const bad[] = { "", "5x", " 5s", "5s ", "5 s", "-5", "+5", "1.s", ".5s", "5S", "1h30m", "5min", "0x10" };
        usec_t u;
        uint64_t b;

        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                ASSERT_EQ(parse_duration(ok[i].s, &u), 0);
                ASSERT_EQ(u, ok[i].v);
                /* The printed form reads back as the same value. */
                char buf[CONFIG_FORMAT_MAX];
                ASSERT_EQ(parse_duration(config_format_duration(u, buf), &u), 0);
                ASSERT_EQ(u, ok[i].v);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                ASSERT_EQ(parse_duration(bad[i], &u), -EINVAL);
        ASSERT_EQ(parse_duration(NULL, &u), -EINVAL);
        ASSERT_EQ(parse_duration("18446744073709551616", &u), -ERANGE);
        ASSERT_EQ(parse_duration("99999999999999h", &u), -ERANGE);
        char buf[CONFIG_FORMAT_MAX];
        ASSERT_STREQ(config_format_duration(60 * USEC_PER_SEC, buf), "1m");
        ASSERT_STREQ(config_format_duration(90 * USEC_PER_SEC, buf), "90s");
        ASSERT_STREQ(config_format_duration(1500, buf), "1.5ms");
        ASSERT_STREQ(config_format_duration(0, buf), "0s");

        ASSERT_EQ(parse_size("0", &b), 0);
        ASSERT_EQ(b, 0);
        ASSERT_EQ(parse_size("1000", &b), 0);
        ASSERT_EQ(b, 1000);
        ASSERT_EQ(parse_size("4K", &b), 0);
        ASSERT_EQ(b, 4096);
        ASSERT_EQ(parse_size("512M", &b), 0);
        ASSERT_EQ(b, 512ULL << 20);
        ASSERT_EQ(parse_size("1G", &b), 0);
        ASSERT_EQ(b, 1ULL << 30);
        static const char *const bad_size[] = { "", "5x", "512m", "1.5M", " 1K", "1K ", "1KB", "-1", "M" };
        for (size_t i = 0; i < sizeof(bad_size) / sizeof(bad_size[0]); i++)
                ASSERT_EQ(parse_size(bad_size[i], &b), -EINVAL);
        ASSERT_EQ(parse_size("17179869184G", &b), -ERANGE);
        ASSERT_STREQ(config_format_size(1536 * 1024, buf), "1536K");
        ASSERT_STREQ(config_format_size(1000, buf), "1000");
}

static void test_windows(void) {
        Config *c = load_ok("[watch:a]\npid = 1\nwindow = 01:00-05:00\n"
                            "[watch:b]\npid = 1\nwindow = 22:00-04:00\n"
                            "[watch:c]\npid = 1\nwindow = 00:00-24:00\n"
                            "[watch:d]\npid = 1\nwindow = 9:30-17:00\n"
                            "[watch:e]\npid = 1\n");
        const Watch *w = c->watches;
        ASSERT_TRUE(!watch_window_active(&w[0], 59));
        ASSERT_TRUE(watch_window_active(&w[0], 60));
        ASSERT_TRUE(watch_window_active(&w[0], 299));
        ASSERT_TRUE(!watch_window_active(&w[0], 300));
        ASSERT_TRUE(watch_window_active(&w[1], 22 * 60));
        ASSERT_TRUE(watch_window_active(&w[1], 1439));
        ASSERT_TRUE(watch_window_active(&w[1], 0));
        ASSERT_TRUE(watch_window_active(&w[1], 239));
        ASSERT_TRUE(!watch_window_active(&w[1], 240));
        ASSERT_TRUE(!watch_window_active(&w[1], 22 * 60 - 1));
        ASSERT_TRUE(!watch_window_active(&w[1], 12 * 60));
        for (unsigned m = 0; m < 1440; m++) {
                ASSERT_TRUE(watch_window_active(&w[2], m));
                ASSERT_TRUE(watch_window_active(&w[4], m));
        }
        ASSERT_EQ(w[3].window_start, 9 * 60 + 30);
        config_free(c);

        static const char *const bad[] = { "25:00-01:00", "01:00-01:00", "24:00-01:00", "01:60-02:00", "0100-0200",
                                           "01:00-05:00x", "01:00", "1:0-2:00", "01:00 - 02:00", "00:00-00:00" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char text[128];
                snprintf(text, sizeof(text), "[watch:a]\npid = 1\nwindow = %s\n", bad[i]);
                expect_error(text, 3, "window");
        }
}

static void test_errors(void) {
        /* Sections. */
        expect_error("[deamon]\n", 1, "did you mean [daemon]?");
        expect_error("[watch web]\npid = 1\n", 1, "did you mean [watch:web]?");
        expect_error("[watch]\n", 1, "needs a name");
        expect_error("[other]\nx = 1\n", 1, "unknown section [other]");
        expect_error("[watch:a b]\npid = 1\n", 1, "invalid watch name");
        expect_error("[watch:]\n", 1, "invalid watch name");
        expect_error("[watch:a]\npid = 1\n[watch:a]\npid = 2\n", 3, "duplicate watch name 'a' (first at line 1)");
        expect_error("[daemon]\n[daemon]\n", 2, "duplicate [daemon] section (first at line 1)");
        expect_error("[watch:a\npid = 1\n", 1, "no closing ']'");
        expect_error("[watch:a] x\npid = 1\n", 1, "unexpected text after ']'");
        expect_error("rate = 5\n[watch:a]\npid = 1\n", 1, "outside any section");

        /* Lines. */
        expect_error("[watch:a]\npid = 1\njunk\n", 3, "expected 'key = value'");
        expect_error("[watch:a]\npid = 1\n= 5\n", 3, "missing key name");
        expect_error("[watch:a]\npid = 1\n  rate = 5\n", 3, "indented key 'rate'");
        expect_error("[watch:a]\npid = 1\nrate = 5\n    6\n", 4, "only match, ignore, redact and exec may span lines");
        char long_line[400];
        snprintf(long_line, sizeof(long_line), "[watch:a]\npid = 1\nignore = %0300d\n", 0);
        expect_error(long_line, 3, "longer than");
        expect_error("[watch:a]\npid = 1\nrate = \n", 3, "has no value");

        /* Keys. */
        expect_error("[watch:a]\npid = 1\nrte = 5\n", 3, "unknown key 'rte' in [watch:a]: did you mean 'rate'?");
        expect_error("[watch:a]\npid = 1\nStuck_After = 5s\n", 3, "did you mean 'stuck_after'?");
        expect_error("[watch:a]\npid = 1\nfrobnicate = 5\n", 3, "unknown key 'frobnicate'");
        expect_error("[daemon]\nrate = 5\n", 2, "belongs in a [watch:NAME] section");
        expect_error("[watch:a]\npid = 1\nstate_dir = /x\n", 3, "belongs in [daemon]");
        expect_error("[watch:a]\npid = 1\nrate = 5\nrate = 6\n", 4, "duplicate key 'rate' in [watch:a] (first at line 3)");

        /* Values. */
        expect_error("[daemon]\nstate_dir = var/lib\n", 2, "not an absolute path");
        expect_error("[daemon]\nmax_incidents = 0\n", 2, "max_incidents");
        expect_error("[daemon]\nmax_incidents = many\n", 2, "max_incidents");
        expect_error("[daemon]\nmax_incident_bytes = 512m\n", 2, "max_incident_bytes");
        expect_error("[daemon]\nmax_incident_bytes = 4K\n", 2, "at least 1M");
        expect_error("[watch:a]\npid = 0\n", 2, "invalid pid");
        expect_error("[watch:a]\npid = 12x\n", 2, "invalid pid");
        expect_error("[watch:a]\npidfile = run/a.pid\n", 2, "not an absolute path");
        expect_error("[watch:a]\nunit = app\n", 2, "write the full name, like app.service");
        expect_error("[watch:a]\nunit = a b.service\n", 2, "invalid unit");
        expect_error("[watch:a]\nmatch = foo(\n", 2, "invalid regular expression in match of [watch:a]");
        expect_error("[watch:a]\npid = 1\nrate = 0\n", 3, "1 to 1000");
        expect_error("[watch:a]\npid = 1\nrate = 1001\n", 3, "1 to 1000");
        expect_error("[watch:a]\npid = 1\nrate = 5.5\n", 3, "invalid rate");
        expect_error("[watch:a]\npid = 1\nstuck_after = 5x\n", 3, "invalid stuck_after");
        expect_error("[watch:a]\npid = 1\nstuck_after = 0\n", 3, "out of range");
        expect_error("[watch:a]\npid = 1\nstuck_after = 169h\n", 3, "out of range");
        expect_error("[watch:a]\npid = 1\nrate = 1\nstuck_after = 2s\n", 4, "fewer than 3 samples");
        expect_error("[watch:a]\npid = 1\nhistory = 25h\n", 3, "out of range");
        expect_error("[watch:a]\npid = 1\nrate = 1000\nhistory = 2h\n", 4, "samples in memory");
        expect_error("[watch:a]\npid = 1\nthreads = some\n", 3, "use all or main");
        expect_error("[watch:a]\npid = 1\nignore = (\n", 3, "invalid regular expression in ignore");
        expect_error("[watch:a]\npid = 1\nredact = *x\n", 3, "invalid regular expression in redact");
        /* Patterns whose compilation would take gigabytes (glibc copies the subtree under a
         * repetition per bound) are refused before regcomp() sees them. */
        expect_error("[watch:a]\nmatch = gunic+++++++++++++++++++++++(\n", 2, "too costly to compile");
        expect_error("[watch:a]\npid = 1\nignore = ((a{1,100}){1,100}){1,100}\n", 3, "too costly to compile");
        expect_error("[watch:a]\npid = 1\nredact = ([[:alpha:]]x*){1,32767}\n", 3, "too costly to compile");
        /* ... while real patterns, even with bounded repetitions, pass. */
        {
                /* The defaults, one alternative a continuation line (lines are bounded). */
                char text[8192];
                size_t n = (size_t) snprintf(text, sizeof(text), "[watch:a]\npid = 1\nignore = ");
                for (const char *c = WATCH_DEFAULT_IGNORE; *c && n + 8 < sizeof(text); c++) {
                        if (*c == '|')
                                n += (size_t) snprintf(text + n, sizeof(text) - n, "\n    ");
                        text[n++] = *c;
                }
                snprintf(text + n, sizeof(text) - n, "\nredact = %s\n", WATCH_DEFAULT_REDACT);
                config_free(load_ok(text));
                config_free(load_ok("[watch:a]\nmatch = ^(gunicorn|uwsgi)[^ ]{0,64}: (worker|master)+ \\[[a-z_]{1,32}\\]\n"
                                    "ignore = (a{1,100}){1,50}|[{}]x{2}\n"));
        }
        expect_error("[watch:a]\npid = 1\nlocals = maybe\n", 3, "use yes or no");
        expect_error("[watch:a]\npid = 1\ncooldown = 1d\n", 3, "invalid cooldown");
        expect_error("[watch:a]\npid = 1\naction = restart\n", 3, "use none, kill or exec");

        /* Selectors. */
        expect_error("[watch:a]\nrate = 5\n", 1, "[watch:a] has no target");
        expect_error("[watch:a]\npid = 1\nunit = a.service\n", 3, "has both pid (line 2) and unit");
        ConfigErrors e;
        Config *c;
        ASSERT_EQ(load("[watch:a]\nmatch = x\npid = 1\npidfile = /p\n", &c, &e), -EINVAL);
        ASSERT_EQ(e.n, 2);
        ASSERT_EQ(e.errors[0].line, 3);
        ASSERT_EQ(e.errors[1].line, 4);
        ASSERT_TRUE(strstr(e.errors[1].message, "has both match (line 2) and pidfile"));
        config_errors_done(&e);

        /* exec and action. */
        expect_error("[watch:a]\npid = 1\naction = exec\n", 3, "needs an exec command line");
        expect_error("[watch:a]\npid = 1\nexec = /bin/true\n", 3, "action is none");
        expect_error("[watch:a]\npid = 1\naction = kill\nexec = /bin/true\n", 4, "but action is kill");
        expect_error("[watch:a]\npid = 1\naction = exec\nexec = /bin/x {nme}\n", 4, "unknown placeholder '{nme}'");
        expect_error("[watch:a]\npid = 1\naction = exec\nexec = /bin/x {pid\n", 4, "unknown placeholder '{pid'");
        expect_error("[watch:a]\npid = 1\naction = exec\nexec = page {pid}\n", 4, "not an absolute path");
        expect_error("[watch:a]\npid = 1\naction = exec\nexec = /bin/{name} x\n", 4, "placeholder in the program name");
        expect_error("[watch:a]\npid = 1\naction = exec\nexec = /bin/x \"a b\"\n", 4, "contains a quote");
}

static void test_many_errors(void) {
        ConfigErrors e;
        Config *c;
        int r = load("[daemon]\n"              /* 1 */
                     "max_incidents = -1\n"    /* 2 */
                     "[watch:a]\n"             /* 3: no target */
                     "rte = 5\n"               /* 4 */
                     "junk\n"                  /* 5 */
                     "stuck_after = 5x\n"      /* 6 */
                     "[bogus]\n"               /* 7 */
                     "x = 1\n"                 /* 8: skipped with its section */
                     "[watch:b]\n"             /* 9 */
                     "pid = 1\n"               /* 10 */
                     "exec = /x {oops}\n",     /* 11: placeholder, and no action = exec */
                     &c, &e);
        ASSERT_EQ(r, -EINVAL);
        ASSERT_TRUE(!c);
        static const unsigned lines[] = { 2, 3, 4, 5, 6, 7, 11, 11 };
        if (e.n != sizeof(lines) / sizeof(lines[0]))
                for (size_t i = 0; i < e.n; i++)
                        fprintf(stderr, "  %u: %s\n", e.errors[i].line, e.errors[i].message);
        ASSERT_EQ(e.n, sizeof(lines) / sizeof(lines[0]));
        for (size_t i = 0; i < e.n; i++)
                ASSERT_EQ(e.errors[i].line, lines[i]);
        config_errors_done(&e);
}

static void test_file_problems(void) {
        ConfigErrors e = {};
        Config *c = NULL;

        ASSERT_EQ(config_load("/nonexistent/pyspy-watch.ini", &c, &e), -ENOENT);
        ASSERT_EQ(e.n, 1);
        ASSERT_EQ(e.errors[0].line, 0);
        ASSERT_TRUE(strstr(e.errors[0].message, "cannot read"));
        config_errors_done(&e);
        ASSERT_EQ(config_load("/tmp", &c, &e), -EINVAL);
        ASSERT_TRUE(strstr(e.errors[0].message, "not a regular file"));
        config_errors_done(&e);

        /* Writable by others: refused, unless explicitly allowed. */
        const char *path = write_file("[watch:a]\npid = 1\n");
        ASSERT_EQ(chmod(path, 0666), 0);
        ASSERT_EQ(config_load(path, &c, &e), -EPERM);
        ASSERT_TRUE(!c);
        ASSERT_EQ(e.n, 1);
        ASSERT_EQ(e.errors[0].line, 0);
        ASSERT_TRUE(strstr(e.errors[0].message, "chmod go-w"));
        ASSERT_TRUE(strstr(e.errors[0].message, path));
        config_errors_done(&e);
        ASSERT_EQ(chmod(path, 0620), 0);
        ASSERT_EQ(config_load(path, &c, &e), -EPERM);
        config_errors_done(&e);
        setenv("PYSPY_WATCH_ALLOW_INSECURE_CONFIG", "1", 1);
        ASSERT_EQ(config_load(path, &c, &e), 0);
        c = config_free(c);
        unsetenv("PYSPY_WATCH_ALLOW_INSECURE_CONFIG");
        ASSERT_EQ(chmod(path, 0644), 0);
        ASSERT_EQ(config_load(path, &c, &e), 0);
        c = config_free(c);

        /* Owned by someone else (neither root nor us): only root can set this up. */
        if (geteuid() == 0) {
                ASSERT_EQ(chown(path, 65534, 65534), 0);
                ASSERT_EQ(config_load(path, &c, &e), -EPERM);
                ASSERT_TRUE(strstr(e.errors[0].message, "chown root"));
                config_errors_done(&e);
        } else
                fprintf(stderr, "not root: ownership refusal not tested\n");
}

static char *print_config(const Config *c) {
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        ASSERT_TRUE(f);
        config_print(f, c);
        fclose(f);
        return out;
}

static void test_print_roundtrip(void) {
        static const char *const texts[] = {
                "",
                "[watch:a]\npid = 1\n",
                "[daemon]\nstate_dir = /srv/x y\nmax_incident_bytes = 1536K\n"
                "[watch:web]\nmatch = gunicorn: worker\nrate = 3\nstuck_after = 1.5s\nwindow = 22:00-24:00\n"
                "threads = main\nhistory = 0.25h\nlocals = no\ncooldown = 0\naction = exec\n"
                "exec = /usr/local/bin/a-rather-long-program-name --with-a-long-option {name} {pid} {tid} {bundle} {incident} --and-more-arguments-after-that x#y\n"
                "[watch:b]\nunit = b.service\nignore =\nredact = ;x\n"
                "[watch:c]\npidfile = /run/c.pid\n"
                "ignore = ^(aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
                "  bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb|c)$\n",
                /* Words longer than a line's width; a regex whose only cut points are far
                 * apart (';' and '#' cannot start a continuation) or would read as a key. */
                "[watch:d]\npid = 4\naction = exec\nexec = "
                "/opt/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
                "  --bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n"
                "  --ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\n"
                "ignore = x#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;#;y\n"
                "redact = secret_value_is_long_and_boring_so_it_wraps_somewhere_around_here.rate = 5 #x\n",
        };
        for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
                Config *c = load_ok(texts[i]);
                char *once = print_config(c);
                Config *again = load_ok(once);
                char *twice = print_config(again);
                if (strcmp(once, twice) != 0) {
                        fprintf(stderr, "printed config does not read back the same:\n%s\n---\n%s\n", once, twice);
                        exit(1);
                }
                /* And the values, not only the text. */
                ASSERT_EQ(c->n_watches, again->n_watches);
                for (size_t j = 0; j < c->n_watches; j++) {
                        ASSERT_TRUE(streq_ptr(c->watches[j].ignore, again->watches[j].ignore));
                        ASSERT_TRUE(streq_ptr(c->watches[j].redact, again->watches[j].redact));
                        ASSERT_TRUE(streq_ptr(c->watches[j].exec, again->watches[j].exec));
                        ASSERT_EQ(c->watches[j].stuck_after, again->watches[j].stuck_after);
                }
                free(once);
                free(twice);
                config_free(c);
                config_free(again);
        }
}

int main(void) {
        unsetenv("PYSPY_WATCH_ALLOW_INSECURE_CONFIG");
        test_defaults();
        test_every_key();
        test_durations_sizes();
        test_windows();
        test_errors();
        test_many_errors();
        test_file_problems();
        test_print_roundtrip();
        if (tmpl_path[0])
                (void) unlink(tmpl_path);
        printf("ok\n");
        return 0;
}
