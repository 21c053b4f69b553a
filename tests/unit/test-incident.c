/* SPDX-License-Identifier: MIT */
/* Incident bundles: whole or not at all, modes, manifest, summary, stale cleanup, a full disk.
 *
 *   build/tests/test-incident                      run the tests
 *   build/tests/test-incident --make-fixtures DIR  write a state dir of bundles (and of things
 *                                                  `incidents` must skip) for tests/live/test_incidents.py */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "incident.h"
#include "tests.h"

/* 2024-04-05T12:00:00Z */
#define T0 ((usec_t) 1712318400 * USEC_PER_SEC)

static const char *const stack_main[] = {
        "recv (/usr/lib/python3.11/socket.py:123)",
        "handle (/srv/app/server.py:40)",
        "main (/srv/app/server.py:99)",
};
static const char *const stack_worker[] = {
        "acquire (/usr/lib/python3.11/threading.py:320)",
};

static Watch test_watch(const char *name) {
        static char *argv[] = { "/bin/true", NULL };
        return (Watch) {
                .name = (char *) name,
                .selector = SELECT_MATCH,
                .selector_value = "app\\.py",
                .rate = 5,
                .stuck_after = 60 * USEC_PER_SEC,
                .has_window = true,
                .window_start = 60,
                .window_end = 300,
                .threads = WATCH_THREADS_ALL,
                .ignore = "accept|select",
                .history = 600 * USEC_PER_SEC,
                .locals = true,
                .redact = "password|secret",
                .cooldown = 1800 * USEC_PER_SEC,
                .action = ACTION_EXEC,
                .exec = "/bin/true {name}",
                .exec_argv = argv,
        };
}

static IncidentSummary test_summary(const char *watch, pid_t pid, usec_t detected, const IncidentThread *threads,
                                    size_t n) {
        return (IncidentSummary) {
                .watch = watch,
                .pid = pid,
                .cmdline = "/usr/bin/python3 /srv/app/server.py --port 8080",
                .python_version = "3.11.7",
                .detected_at = detected,
                .stuck_since = detected - 73 * USEC_PER_SEC - 500000,
                .stuck_after = 60 * USEC_PER_SEC,
                .reason = "blocked",
                .threads = threads,
                .n_threads = n,
        };
}

static char *read_all(const char *path) {
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t len = 0;
        FILE *m;

        if (!f)
                return NULL;
        m = open_memstream(&buf, &len);
        ASSERT_TRUE(m);
        char chunk[4096];
        size_t k;
        while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0)
                fwrite(chunk, 1, k, m);
        fclose(f);
        fclose(m);
        return buf;
}

static int write_text(FILE *f, void *userdata) {
        fputs(userdata, f);
        return ferror(f) ? -EIO : 0;
}

static int write_fail_midway(FILE *f, void *userdata) {
        (void) userdata;
        fputs("{\"threads\": [", f);
        fflush(f);
        return -EIO;
}

static int write_esrch(FILE *f, void *userdata) {
        (void) userdata;
        fputs("{\"pid\": ", f);
        return -ESRCH;
}

/* Bytes enough to overflow the small tmpfs, written in pieces as a real writer would. */
static int write_big(FILE *f, void *userdata) {
        size_t n = *(size_t *) userdata;
        char line[80];
        memset(line, 'x', sizeof(line) - 1);
        line[sizeof(line) - 1] = '\n';
        for (size_t i = 0; i < n; i += sizeof(line))
                if (fwrite(line, 1, sizeof(line), f) != sizeof(line))
                        return -EIO;
        return 0;
}

static char *path_join(const char *a, const char *b) {
        char *p;
        ASSERT_TRUE(asprintf(&p, "%s/%s", a, b) >= 0);
        return p;
}

static size_t count_entries(const char *dir, const char *prefix) {
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;

        if (!d)
                return 0;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
                    strncmp(de->d_name, prefix, strlen(prefix)) == 0)
                        n++;
        closedir(d);
        return n;
}

static void rm_rf(const char *path) {
        char *cmd;
        ASSERT_TRUE(asprintf(&cmd, "rm -rf -- '%s'", path) >= 0);
        ASSERT_EQ(system(cmd), 0);
        free(cmd);
}

static char *make_state_dir(void) {
        char tmpl[] = "/tmp/test-incident-XXXXXX";
        ASSERT_TRUE(mkdtemp(tmpl));
        return strdup(tmpl);
}

static void test_id(void) {
        char id[INCIDENT_ID_MAX];
        int64_t t;
        pid_t pid;

        ASSERT_OK(incident_id_make(T0 + 999999, "web", 1234, id, sizeof(id)));
        ASSERT_STREQ(id, "20240405T120000Z-web-1234");
        ASSERT_TRUE(incident_id_parse(id, &t, &pid));
        ASSERT_EQ(t, 1712318400);
        ASSERT_EQ(pid, 1234);

        ASSERT_OK(incident_id_make(T0, "my watch/../\x1b[31m", 7, id, sizeof(id)));
        ASSERT_STREQ(id, "20240405T120000Z-my_watch_..___31m-7");
        ASSERT_TRUE(incident_id_parse(id, NULL, NULL));
        ASSERT_OK(incident_id_make(T0, ".tmp-x", 7, id, sizeof(id)));
        ASSERT_STREQ(id, "20240405T120000Z-_tmp-x-7");
        ASSERT_OK(incident_id_make(T0, "", 7, id, sizeof(id)));
        ASSERT_STREQ(id, "20240405T120000Z-_-7");
        ASSERT_OK(incident_id_make(T0, "web-1", 7, id, sizeof(id)));
        ASSERT_TRUE(incident_id_parse(id, NULL, &pid));
        ASSERT_EQ(pid, 7);

        char longname[300];
        memset(longname, 'a', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = 0;
        ASSERT_OK(incident_id_make(T0, longname, 4194303, id, sizeof(id)));
        ASSERT_EQ(strlen(id), 16 + 1 + INCIDENT_WATCH_NAME_MAX + 1 + 7);

        ASSERT_EQ(incident_id_make(T0, "web", 0, id, sizeof(id)), -EINVAL);
        ASSERT_EQ(incident_id_make(T0, "web", 1234, id, 10), -ENOBUFS);

        ASSERT_TRUE(!incident_id_parse(".tmp-20240405T120000Z-web-1234", NULL, NULL));
        ASSERT_TRUE(!incident_id_parse("20240405T120000Z-web-", NULL, NULL));
        ASSERT_TRUE(!incident_id_parse("20240405T120000Z-web-0", NULL, NULL));
        ASSERT_TRUE(!incident_id_parse("20240405T120000Z--12", NULL, NULL));
        ASSERT_TRUE(!incident_id_parse("20241305T120000Z-web-12", NULL, NULL));
        ASSERT_TRUE(!incident_id_parse("20240405T120000Z-w/b-12", NULL, NULL));
        ASSERT_TRUE(!incident_id_parse("notes", NULL, NULL));
        ASSERT_TRUE(!incident_id_parse(NULL, NULL, NULL));
}

static void check_mode(const char *path, mode_t want, bool dir) {
        struct stat st;
        ASSERT_OK(lstat(path, &st) < 0 ? -errno : 0);
        ASSERT_TRUE(dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
        if ((st.st_mode & 07777) != want)
                fprintf(stderr, "%s: mode %o, want %o\n", path, st.st_mode & 07777, want);
        ASSERT_EQ(st.st_mode & 07777, want);
}

static const char *const bundle_files[] = {
        "dump.txt", "dump.json", "flamegraph.svg", "samples.folded", "speedscope.json", "process.json",
        "summary.txt", "manifest.json",
};

/* A complete bundle: every file, modes, manifest contents, summary layout, read back. */
static void test_complete(void) {
        _cleanup_free_ char *state = make_state_dir();
        _cleanup_free_ char *incidents = path_join(state, "incidents");
        _cleanup_(incident_abortp) IncidentWriter *w = NULL;
        char id[INCIDENT_ID_MAX];
        mode_t old = umask(0);   /* the modes must not depend on the umask */

        IncidentThread threads[] = {
                { 1240, "MainThread", stack_main, ELEMENTSOF(stack_main) },
                { 1241, "worker-1", stack_worker, ELEMENTSOF(stack_worker) },
        };
        IncidentSummary s = test_summary("web", 1234, T0, threads, 2);
        Watch watch = test_watch("web");

        ASSERT_OK(incident_id_make(T0, "web", 1234, id, sizeof(id)));
        ASSERT_OK(incident_writer_new(state, id, &w));
        umask(old);
        _cleanup_free_ char *final = strdup(incident_writer_path(w));
        ASSERT_STREQ(incident_writer_id(w), id);

        ASSERT_OK(incident_add_file(w, "dump.txt", write_text, "Process 1234\n"));
        ASSERT_OK(incident_add_file(w, "dump.json", write_text, "{\"pid\": 1234}\n"));
        ASSERT_OK(incident_add_file(w, "flamegraph.svg", write_text, "<svg/>\n"));
        ASSERT_OK(incident_add_file(w, "samples.folded", write_text, "main;handle;recv 10\n"));
        ASSERT_OK(incident_add_file(w, "speedscope.json", write_text, "{}\n"));
        ASSERT_OK(incident_add_buffer(w, "process.json", "{\"pid\": 1234}", 13));
        ASSERT_EQ(incident_add_buffer(w, "process.json", "x", 1), -EEXIST);
        ASSERT_EQ(incident_add_buffer(w, "manifest.json", "x", 1), -EINVAL);
        ASSERT_EQ(incident_add_buffer(w, "../escape", "x", 1), -EINVAL);
        ASSERT_EQ(incident_add_buffer(w, ".hidden", "x", 1), -EINVAL);
        ASSERT_OK(incident_add_gap(w, "process.json: limits: %s", strerror(EACCES)));
        /* Nothing under the final name until commit. */
        ASSERT_TRUE(access(final, F_OK) < 0);
        ASSERT_EQ(count_entries(incidents, ".tmp-"), 1);

        ASSERT_OK(incident_commit(TAKE_PTR(w), &s, &watch, "0.1.0"));
        ASSERT_EQ(count_entries(incidents, ".tmp-"), 0);
        check_mode(incidents, 0700, true);
        check_mode(final, 0700, true);
        for (size_t i = 0; i < ELEMENTSOF(bundle_files); i++) {
                _cleanup_free_ char *p = path_join(final, bundle_files[i]);
                check_mode(p, 0600, false);
        }
        ASSERT_EQ(count_entries(final, ""), ELEMENTSOF(bundle_files));

        _cleanup_free_ char *mpath = path_join(final, "manifest.json");
        _cleanup_free_ char *m = read_all(mpath);
        ASSERT_TRUE(m);
        for (size_t i = 0; i + 1 < ELEMENTSOF(bundle_files); i++) {
                char needle[64];
                snprintf(needle, sizeof(needle), "{ \"name\": \"%s\", \"size\": ", bundle_files[i]);
                ASSERT_TRUE(strstr(m, needle));
        }
        ASSERT_TRUE(strstr(m, "{ \"name\": \"process.json\", \"size\": 13 }"));
        ASSERT_TRUE(strstr(m, "\"pyspy_watch\": \"0.1.0\""));
        ASSERT_TRUE(strstr(m, "\"python\": \"3.11.7\""));
        ASSERT_TRUE(strstr(m, "\"detected_at\": \"2024-04-05T12:00:00Z\""));
        ASSERT_TRUE(strstr(m, "\"stuck_since\": \"2024-04-05T11:58:46Z\""));
        ASSERT_TRUE(strstr(m, "\"match\": \"app\\\\.py\""));
        ASSERT_TRUE(strstr(m, "\"stuck_after\": \"1m\""));
        ASSERT_TRUE(strstr(m, "\"window\": \"01:00-05:00\""));
        ASSERT_TRUE(strstr(m, "\"history\": \"10m\""));
        ASSERT_TRUE(strstr(m, "\"cooldown\": \"30m\""));
        ASSERT_TRUE(strstr(m, "\"action\": \"exec\""));
        ASSERT_TRUE(strstr(m, "\"locals\": true"));
        ASSERT_TRUE(strstr(m, "\"process.json: limits: Permission denied\""));
        ASSERT_TRUE(!strstr(m, "\"name\": \"manifest.json\""));

        _cleanup_close_ int fd = open(final, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_(incident_entry_done) IncidentEntry e = {};
        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(incident_manifest_read(fd, &e));
        ASSERT_STREQ(e.id, id);
        ASSERT_STREQ(e.watch, "web");
        ASSERT_EQ(e.pid, 1234);
        ASSERT_EQ(e.tid, 1240);
        ASSERT_STREQ(e.thread, "MainThread");
        ASSERT_STREQ(e.frame, stack_main[0]);
        ASSERT_STREQ(e.reason, "blocked");
        ASSERT_EQ(e.detected_at, T0);
        ASSERT_TRUE(e.stuck_seconds > 73.4 && e.stuck_seconds < 73.6);

        _cleanup_free_ char *spath = path_join(final, "summary.txt");
        _cleanup_free_ char *sum = read_all(spath);
        ASSERT_TRUE(sum);
        ASSERT_TRUE(strstr(sum, "What hung:   process 1234 of watch \"web\" (Python 3.11.7)"));
        ASSERT_TRUE(strstr(sum, "(2024-04-05T11:58:46Z), 74 s before detection") ||
                    strstr(sum, "(2024-04-05T11:58:46Z), 73 s before detection"));
        ASSERT_TRUE(strstr(sum, "(2024-04-05T12:00:00Z)"));
        ASSERT_TRUE(strstr(sum, "blocked: asleep in the kernel"));
        ASSERT_TRUE(strstr(sum, "stuck_after = 1m"));
        ASSERT_TRUE(strstr(sum, "Thread 1240 \"MainThread\":\n    -> recv (/usr/lib/python3.11/socket.py:123)\n"
                                "       handle (/srv/app/server.py:40)\n"));
        ASSERT_TRUE(strstr(sum, "Thread 1241 \"worker-1\":"));
        ASSERT_TRUE(strstr(sum, final));
        ASSERT_TRUE(strstr(sum, "pyspy-watch incidents list"));

        /* The same ID again: refused, the bundle untouched. */
        ASSERT_EQ(incident_writer_new(state, id, &w), -EEXIST);
        ASSERT_EQ(count_entries(final, ""), ELEMENTSOF(bundle_files));
        ASSERT_EQ(count_entries(incidents, ".tmp-"), 0);
        rm_rf(state);
}

/* Hostile strings from the target: escaped in the summary, round-tripped through JSON. */
static void test_hostile_strings(void) {
        _cleanup_free_ char *state = make_state_dir();
        _cleanup_(incident_abortp) IncidentWriter *w = NULL;
        char id[INCIDENT_ID_MAX];
        const char *evil_stack[] = { "f\x1b[2J\"\\ (/tmp/\xff\xfe.py:1)" };
        IncidentThread t = { 9, "thr\nead\x01", evil_stack, 1 };
        IncidentSummary s = test_summary("w\"eb", 99, T0, &t, 1);
        s.cmdline = "python3 -c 'print(\"\x1b]0;pwned\x07\")'";

        ASSERT_OK(incident_id_make(T0, s.watch, 99, id, sizeof(id)));
        ASSERT_OK(incident_writer_new(state, id, &w));
        _cleanup_free_ char *final = strdup(incident_writer_path(w));
        ASSERT_OK(incident_commit(TAKE_PTR(w), &s, NULL, NULL));

        _cleanup_free_ char *spath = path_join(final, "summary.txt");
        _cleanup_free_ char *sum = read_all(spath);
        ASSERT_TRUE(sum);
        ASSERT_TRUE(!strchr(sum, '\x1b'));
        ASSERT_TRUE(!strchr(sum, '\x07'));
        ASSERT_TRUE(strstr(sum, "thr\\nead\\x01"));

        _cleanup_close_ int fd = open(final, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_(incident_entry_done) IncidentEntry e = {};
        ASSERT_OK(incident_manifest_read(fd, &e));
        ASSERT_STREQ(e.watch, "w\"eb");
        ASSERT_STREQ(e.thread, "thr\nead\x01");
        ASSERT_STREQ(e.frame, "f\x1b[2J\"\\ (/tmp/\xef\xbf\xbd\xef\xbf\xbd.py:1)");
        ASSERT_TRUE(e.reason && strcmp(e.reason, "blocked") == 0);
        rm_rf(state);
}

/* A best-effort file fails: a gap, the bundle still commits. */
static void test_gap(void) {
        _cleanup_free_ char *state = make_state_dir();
        _cleanup_(incident_abortp) IncidentWriter *w = NULL;
        char id[INCIDENT_ID_MAX];
        IncidentThread t = { 1240, "MainThread", stack_main, 3 };
        IncidentSummary s = test_summary("web", 1234, T0, &t, 1);

        ASSERT_OK(incident_id_make(T0, "web", 1234, id, sizeof(id)));
        ASSERT_OK(incident_writer_new(state, id, &w));
        _cleanup_free_ char *final = strdup(incident_writer_path(w));
        ASSERT_EQ(incident_add_file(w, "process.json", write_esrch, NULL), -ESRCH);
        ASSERT_OK(incident_add_file(w, "dump.txt", write_text, "x\n"));
        ASSERT_OK(incident_commit(TAKE_PTR(w), &s, NULL, "0.1.0"));

        _cleanup_free_ char *p = path_join(final, "process.json");
        ASSERT_TRUE(access(p, F_OK) < 0);
        _cleanup_free_ char *mpath = path_join(final, "manifest.json");
        _cleanup_free_ char *m = read_all(mpath);
        ASSERT_TRUE(strstr(m, "\"could not write process.json: No such process\""));
        ASSERT_TRUE(!strstr(m, "\"name\": \"process.json\""));
        ASSERT_TRUE(strstr(m, "\"config\": {}"));
        rm_rf(state);
}

/* A writer failing midway with a storage error: nothing under the final name, no tmp left. */
static void test_fail_midway(void) {
        _cleanup_free_ char *state = make_state_dir();
        _cleanup_free_ char *incidents = path_join(state, "incidents");
        _cleanup_(incident_abortp) IncidentWriter *w = NULL;
        char id[INCIDENT_ID_MAX];
        IncidentThread t = { 1240, "MainThread", stack_main, 3 };
        IncidentSummary s = test_summary("web", 1234, T0, &t, 1);

        ASSERT_OK(incident_id_make(T0, "web", 1234, id, sizeof(id)));
        ASSERT_OK(incident_writer_new(state, id, &w));
        _cleanup_free_ char *final = strdup(incident_writer_path(w));
        ASSERT_OK(incident_add_file(w, "dump.txt", write_text, "x\n"));
        ASSERT_EQ(incident_add_file(w, "dump.json", write_fail_midway, NULL), -EIO);
        /* Failed for good: later files are refused too. */
        ASSERT_EQ(incident_add_file(w, "flamegraph.svg", write_text, "<svg/>"), -EIO);
        ASSERT_EQ(incident_commit(TAKE_PTR(w), &s, NULL, NULL), -EIO);
        ASSERT_TRUE(access(final, F_OK) < 0);
        ASSERT_EQ(count_entries(incidents, ""), 0);

        /* No stuck stack: refused, nothing left. */
        IncidentThread empty = { 1240, "MainThread", NULL, 0 };
        s.threads = &empty;
        ASSERT_OK(incident_writer_new(state, id, &w));
        ASSERT_EQ(incident_commit(TAKE_PTR(w), &s, NULL, NULL), -EINVAL);
        ASSERT_EQ(count_entries(incidents, ""), 0);

        /* Explicit abort, and the cleanup attribute (abort on scope exit). */
        ASSERT_OK(incident_writer_new(state, id, &w));
        ASSERT_OK(incident_add_file(w, "dump.txt", write_text, "x\n"));
        ASSERT_EQ(count_entries(incidents, ".tmp-"), 1);
        w = incident_abort(w);
        ASSERT_TRUE(!w);
        ASSERT_EQ(count_entries(incidents, ""), 0);
        {
                _cleanup_(incident_abortp) IncidentWriter *w2 = NULL;
                ASSERT_OK(incident_writer_new(state, id, &w2));
        }
        ASSERT_EQ(count_entries(incidents, ""), 0);

        /* A foreign .tmp-<ID> in the way: refused, and not removed by our abort. */
        _cleanup_free_ char *foreign = NULL;
        ASSERT_TRUE(asprintf(&foreign, "%s/.tmp-%s", incidents, id) >= 0);
        ASSERT_OK(mkdir(foreign, 0700));
        ASSERT_EQ(incident_writer_new(state, id, &w), -EEXIST);
        ASSERT_TRUE(access(foreign, F_OK) == 0);
        rm_rf(state);
}

/* A full file system: ENOSPC, nothing under the final name, no tmp left. */
static void test_enospc(void) {
        _cleanup_free_ char *state = make_state_dir();
        _cleanup_free_ char *incidents = path_join(state, "incidents");
        _cleanup_(incident_abortp) IncidentWriter *w = NULL;
        char id[INCIDENT_ID_MAX];
        IncidentThread t = { 1240, "MainThread", stack_main, 3 };
        IncidentSummary s = test_summary("web", 1234, T0, &t, 1);

        if (mount("tmpfs", state, "tmpfs", 0, "size=64k,mode=0700") < 0) {
                fprintf(stderr, "skip: ENOSPC test: cannot mount a tmpfs on %s: %s (needs root)\n", state,
                        strerror(errno));
                rm_rf(state);
                return;
        }
        ASSERT_OK(incident_id_make(T0, "web", 1234, id, sizeof(id)));
        ASSERT_OK(incident_writer_new(state, id, &w));
        _cleanup_free_ char *final = strdup(incident_writer_path(w));
        ASSERT_OK(incident_add_file(w, "dump.txt", write_text, "fits\n"));
        size_t big = 256 * 1024;
        ASSERT_EQ(incident_add_file(w, "samples.folded", write_big, &big), -ENOSPC);
        ASSERT_EQ(incident_commit(TAKE_PTR(w), &s, NULL, NULL), -ENOSPC);
        ASSERT_TRUE(access(final, F_OK) < 0);
        ASSERT_EQ(count_entries(incidents, ""), 0);

        /* Space for the data files but not for the summary and the manifest: the same. */
        ASSERT_OK(incident_writer_new(state, id, &w));
        size_t fill = 0;
        for (size_t step = 32768; step >= 80; step /= 2) {
                char name[32];
                snprintf(name, sizeof(name), "fill-%zu", fill++);
                if (incident_add_file(w, name, write_big, &step) == -ENOSPC)
                        break;
        }
        ASSERT_TRUE(incident_commit(TAKE_PTR(w), &s, NULL, NULL) < 0);
        ASSERT_TRUE(access(final, F_OK) < 0);
        ASSERT_EQ(count_entries(incidents, ""), 0);

        ASSERT_OK(umount2(state, MNT_DETACH) < 0 ? -errno : 0);
        rm_rf(state);
}

static void touch(const char *dir, const char *name) {
        _cleanup_free_ char *p = path_join(dir, name);
        FILE *f = fopen(p, "we");
        ASSERT_TRUE(f);
        fputs("x\n", f);
        fclose(f);
}

static void test_cleanup_stale(void) {
        _cleanup_free_ char *state = make_state_dir();
        _cleanup_free_ char *incidents = path_join(state, "incidents");
        _cleanup_free_ char *stale = path_join(incidents, ".tmp-20240405T120000Z-web-1");
        _cleanup_free_ char *stale2 = path_join(incidents, ".tmp-20240405T120000Z-web-2");
        _cleanup_free_ char *nested = path_join(stale2, "sub");
        _cleanup_free_ char *notes = path_join(incidents, "notes");
        _cleanup_free_ char *done = path_join(incidents, "20240405T120000Z-web-3");

        ASSERT_EQ(incident_cleanup_stale(state), 0);   /* no incidents/ yet */
        ASSERT_OK(mkdir(incidents, 0700));
        ASSERT_OK(mkdir(stale, 0700));
        touch(stale, "dump.txt");
        touch(stale, "summary.txt");
        /* A symlink inside goes, its target stays: unlinkat() never follows. */
        touch(state, "target");
        _cleanup_free_ char *target = path_join(state, "target");
        _cleanup_free_ char *link = path_join(stale, "link");
        ASSERT_OK(symlink(target, link) < 0 ? -errno : 0);
        ASSERT_OK(mkdir(stale2, 0700));
        ASSERT_OK(mkdir(nested, 0700));   /* not something we write: left alone */
        ASSERT_OK(mkdir(notes, 0700));
        touch(notes, "keep.txt");
        ASSERT_OK(mkdir(done, 0700));
        touch(done, "manifest.json");

        ASSERT_EQ(incident_cleanup_stale(state), 1);
        ASSERT_TRUE(access(stale, F_OK) < 0);
        ASSERT_TRUE(access(target, F_OK) == 0);
        ASSERT_TRUE(access(nested, F_OK) == 0);
        ASSERT_TRUE(access(notes, F_OK) == 0);
        ASSERT_TRUE(access(done, F_OK) == 0);
        rm_rf(state);
}

static int write_manifest_text(const char *dir, const char *text) {
        _cleanup_free_ char *p = path_join(dir, "manifest.json");
        FILE *f = fopen(p, "we");
        ASSERT_TRUE(f);
        fputs(text, f);
        fclose(f);
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        IncidentEntry e = {};
        int r = incident_manifest_read(fd, &e);
        incident_entry_done(&e);
        return r;
}

static void test_manifest_reader(void) {
        _cleanup_free_ char *dir = make_state_dir();
        const char *ok = "{\"id\": \"20240405T120000Z-web-1\", \"watch\": \"web\", \"pid\": 1, "
                         "\"times\": {\"detected_at_usec\": 1712318400000000}}";

        ASSERT_OK(write_manifest_text(dir, ok));
        ASSERT_EQ(write_manifest_text(dir, ""), -EBADMSG);
        ASSERT_EQ(write_manifest_text(dir, "[]"), -EBADMSG);
        ASSERT_EQ(write_manifest_text(dir, "{\"id\": \"x\", \"watch\": \"w\", \"pid\": 1}"), -EBADMSG);
        ASSERT_EQ(write_manifest_text(dir, "{\"id\": \"x\", \"watch\": \"w\", \"pid\": -1, "
                                           "\"times\": {\"detected_at_usec\": 1}}"), -EBADMSG);
        ASSERT_EQ(write_manifest_text(dir, "{\"id\": \"x\", \"watch\": \"w\", \"pid\": 1, "
                                           "\"times\": {\"detected_at_usec\": 1}"), -EBADMSG);
        ASSERT_EQ(write_manifest_text(dir, "{\"id\": \"x\\"), -EBADMSG);
        ASSERT_EQ(write_manifest_text(dir, "{\"id\": \"x\\u12\"}"), -EBADMSG);
        ASSERT_EQ(write_manifest_text(dir, "{\"id\": \"a\nb\"}"), -EBADMSG);
        ASSERT_EQ(write_manifest_text(dir, "{\"id\": tru}"), -EBADMSG);
        /* Escapes, surrogates (paired and lone), NUL: decoded safely. */
        ASSERT_OK(write_manifest_text(dir, "{\"id\": \"\\ud83d\\ude00\\ud800\\u0000\\\"\", \"watch\": \"w\", \"pid\": 1, "
                                           "\"x\": [1, 2.5e3, null, true, false, {\"a\": []}], "
                                           "\"times\": {\"detected_at_usec\": 1}} \n"));
        ASSERT_EQ(write_manifest_text(dir, "{\"id\": \"x\", \"watch\": \"w\", \"pid\": 1, "
                                           "\"times\": {\"detected_at_usec\": 1}} x"), -EBADMSG);

        /* Deep nesting is refused without recursing without bound. */
        char deep[4096];
        size_t k = 0;
        k += (size_t) snprintf(deep, sizeof(deep), "{\"a\": ");
        for (int i = 0; i < 1000; i++)
                deep[k++] = '[';
        deep[k] = 0;
        ASSERT_EQ(write_manifest_text(dir, deep), -EBADMSG);

        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_free_ char *p = path_join(dir, "manifest.json");
        ASSERT_OK(unlink(p));
        IncidentEntry e = {};
        ASSERT_EQ(incident_manifest_read(fd, &e), -ENOENT);
        rm_rf(dir);
}

/* ------------------------------------------------------------------------------------------ */

static void fixture(const char *state, const char *watch, pid_t pid, usec_t when, const char *thread,
                    const char *const *stack, size_t n) {
        _cleanup_(incident_abortp) IncidentWriter *w = NULL;
        char id[INCIDENT_ID_MAX];
        IncidentThread t = { pid + 1, thread, stack, n };
        IncidentSummary s = test_summary(watch, pid, when, &t, 1);
        Watch wt = test_watch(watch);

        ASSERT_OK(incident_id_make(when, watch, pid, id, sizeof(id)));
        ASSERT_OK(incident_writer_new(state, id, &w));
        ASSERT_OK(incident_add_file(w, "dump.txt", write_text, "Process\n"));
        ASSERT_OK(incident_commit(TAKE_PTR(w), &s, &wt, "0.1.0"));
        printf("%s\n", id);
}

/* Writes into DIR (the state dir): three bundles, two of them sharing a long ID prefix, and
 * three things `incidents` must skip. Prints the bundles' IDs. */
static int make_fixtures(const char *state) {
        const char *evil[] = { "spin\x1b[31m (/srv/app/evil.py:7)", "main (/srv/app/evil.py:1)" };
        fixture(state, "web", 100, T0, "MainThread", stack_main, ELEMENTSOF(stack_main));
        fixture(state, "web", 101, T0 + 1 * USEC_PER_SEC, "worker-1", stack_worker, ELEMENTSOF(stack_worker));
        fixture(state, "batch", 7, T0 + 86400 * USEC_PER_SEC, "evil\x1b]0;x\x07", evil, ELEMENTSOF(evil));

        _cleanup_free_ char *incidents = path_join(state, "incidents");
        _cleanup_free_ char *broken = path_join(incidents, "20240404T000000Z-broken-5");
        _cleanup_free_ char *tmp = path_join(incidents, ".tmp-20240406T000000Z-web-9");
        _cleanup_free_ char *notes = path_join(incidents, "notes");
        ASSERT_OK(mkdir(broken, 0700));
        touch(broken, "summary.txt");
        ASSERT_OK(mkdir(tmp, 0700));
        touch(tmp, "dump.txt");
        ASSERT_OK(mkdir(notes, 0700));
        return 0;
}

int main(int argc, char **argv) {
        /* Fixed zone: the summary's local times are then predictable in the checks above. */
        setenv("TZ", "UTC", 1);
        tzset();
        if (argc == 3 && strcmp(argv[1], "--make-fixtures") == 0)
                return make_fixtures(argv[2]);

        test_id();
        test_complete();
        test_hostile_strings();
        test_gap();
        test_fail_midway();
        test_enospc();
        test_cleanup_stale();
        test_manifest_reader();
        printf("test-incident: ok\n");
        return 0;
}
