/* SPDX-License-Identifier: MIT */
/* watchdog/procinfo against real processes forked here: a child blocked in read() holding TCP
 * (IPv4, and IPv6 when ::1 works), unix, pipe and file descriptors; a busy child; a
 * 10-thread child for the cost of a thread sample; vanished pids. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "procinfo.h"
#include "tests.h"

#define N_COST_THREADS 10
#define COST_USEC (500 * USEC_PER_MSEC)
/* A child needs a moment to reach its read(); on a loaded CI machine, a long one. */
#define SETTLE_USEC (5 * USEC_PER_SEC)
/* prctl(PR_SET_NAME) keeps 15 bytes: a name with the characters that break naive parsers of
 * /proc/PID/stat (space, ')') and of JSON (quote, backslash, newline). */
#define HOSTILE_NAME "py) \"x\\\n"

static void sleep_msec(unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
}

static void reap(pid_t pid) {
        (void) kill(pid, SIGKILL);
        (void) waitpid(pid, NULL, 0);
}

/* Forks a child that tells us it is ready, then blocks reading from *ret_wfd's pipe forever.
 * setup runs in the child first. */
static pid_t spawn_blocked(void (*setup)(void *), void *userdata, int *ret_wfd, int *ret_rfd) {
        int ready[2], block[2];
        char c;

        ASSERT_OK(pipe(ready));
        ASSERT_OK(pipe(block));
        pid_t pid = fork();
        ASSERT_OK(pid);
        if (pid == 0) {
                close(ready[0]);
                close(block[1]);
                if (setup)
                        setup(userdata);
                (void) !write(ready[1], "r", 1);
                for (;;)
                        (void) !read(block[0], &c, 1);
        }
        close(ready[1]);
        ASSERT_EQ(read(ready[0], &c, 1), 1);
        close(ready[0]);
        *ret_wfd = block[1];
        if (ret_rfd)
                *ret_rfd = block[0];
        else
                close(block[0]);
        return pid;
}

static void wait_sleeping(pid_t pid) {
        ThreadSample s = {};

        for (usec_t t0 = now_usec(); now_usec() - t0 < SETTLE_USEC; sleep_msec(5)) {
                ASSERT_OK(procinfo_thread_sample(pid, pid, &s));
                if (s.state == 'S')
                        break;
        }
        ASSERT_EQ(s.state, 'S');
        sleep_msec(20);         /* and really inside read(), not on its way */
}

static void test_vanished(void) {
        pid_t gone = impossible_pid();
        ProcThreadReader *r = NULL;
        ThreadSample s;
        uint64_t st;

        ASSERT_EQ(procinfo_start_time(gone, &st), -ESRCH);
        ASSERT_EQ(procinfo_start_time(0, &st), -ESRCH);
        ASSERT_EQ(procinfo_start_time(-1, &st), -ESRCH);
        ASSERT_EQ(procinfo_thread_sample(gone, gone, &s), -ESRCH);
        ASSERT_EQ(procinfo_thread_open(gone, gone, &r), -ESRCH);
        ASSERT_TRUE(!r);
        /* A thread that is not in this process. */
        ASSERT_EQ(procinfo_thread_sample(getpid(), gone, &s), -ESRCH);

        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        ASSERT_TRUE(f);
        ASSERT_EQ(procinfo_write_json(f, gone), -ESRCH);
        fflush(f);
        ASSERT_EQ(len, 0);      /* nothing written */
        fclose(f);
        free(buf);

        /* A reaped child; and a reader opened before it went: its reads fail, they never
         * describe whatever runs under that pid later. */
        int wfd;
        pid_t pid = spawn_blocked(NULL, NULL, &wfd, NULL);
        ASSERT_OK(procinfo_thread_open(pid, pid, &r));
        ASSERT_OK(procinfo_thread_read(r, &s));
        reap(pid);
        close(wfd);
        ASSERT_EQ(procinfo_thread_read(r, &s), -ESRCH);
        r = procinfo_thread_close(r);
        ASSERT_TRUE(!r);
        ASSERT_TRUE(!procinfo_thread_close(NULL));
        ASSERT_EQ(procinfo_start_time(pid, &st), -ESRCH);
        ASSERT_EQ(procinfo_thread_sample(pid, pid, &s), -ESRCH);
}

static void test_start_time(void) {
        uint64_t a, b, self1, self2;
        int w1, w2;

        ASSERT_OK(procinfo_start_time(getpid(), &self1));
        ASSERT_OK(procinfo_start_time(getpid(), &self2));
        ASSERT_EQ(self1, self2);
        ASSERT_TRUE(self1 > 0);

        /* Two processes alive at once, started a few clock ticks apart: the start time tells
         * them apart, which is what makes (pid, start time) survive pid reuse. */
        pid_t p1 = spawn_blocked(NULL, NULL, &w1, NULL);
        sleep_msec(50);
        pid_t p2 = spawn_blocked(NULL, NULL, &w2, NULL);
        ASSERT_OK(procinfo_start_time(p1, &a));
        ASSERT_OK(procinfo_start_time(p2, &b));
        ASSERT_TRUE(a >= self1);
        ASSERT_TRUE(b > a);
        /* Stable for the same process. */
        ASSERT_OK(procinfo_start_time(p1, &b));
        ASSERT_EQ(a, b);
        reap(p1);
        reap(p2);
        close(w1);
        close(w2);
}

static void test_blocked_vs_busy(void) {
        ThreadSample a, b;
        int wfd;

        pid_t blocked = spawn_blocked(NULL, NULL, &wfd, NULL);
        wait_sleeping(blocked);
        ASSERT_OK(procinfo_thread_sample(blocked, blocked, &a));
        sleep_msec(300);
        ASSERT_OK(procinfo_thread_sample(blocked, blocked, &b));
        ASSERT_EQ(a.state, 'S');
        ASSERT_EQ(b.state, 'S');
        ASSERT_EQ(b.voluntary_ctxt_switches, a.voluntary_ctxt_switches);
        ASSERT_EQ(b.utime + b.stime, a.utime + a.stime);
        ASSERT_TRUE(a.voluntary_ctxt_switches > 0);     /* it did block to get here */
        fprintf(stderr, "blocked: state %c, voluntary %" PRIu64 " -> %" PRIu64 " over 300 ms\n",
                b.state, a.voluntary_ctxt_switches, b.voluntary_ctxt_switches);
        reap(blocked);
        close(wfd);

        pid_t busy = fork();
        ASSERT_OK(busy);
        if (busy == 0) {
                volatile uint64_t x = 0;
                for (;;)
                        x++;
        }
        sleep_msec(50);
        ASSERT_OK(procinfo_thread_sample(busy, busy, &a));
        sleep_msec(300);
        ASSERT_OK(procinfo_thread_sample(busy, busy, &b));
        fprintf(stderr, "busy: state %c, utime %" PRIu64 " -> %" PRIu64 ", voluntary %" PRIu64
                " -> %" PRIu64 ", nonvoluntary %" PRIu64 " -> %" PRIu64 "\n", b.state, a.utime,
                b.utime, a.voluntary_ctxt_switches, b.voluntary_ctxt_switches,
                a.nonvoluntary_ctxt_switches, b.nonvoluntary_ctxt_switches);
        ASSERT_TRUE(b.utime > a.utime);
        /* A spinning thread never sleeps: at most a stray switch (e.g. a page fault on I/O). */
        ASSERT_TRUE(b.voluntary_ctxt_switches - a.voluntary_ctxt_switches <= 1);
        reap(busy);
}

/* ---- the capture ---- */

typedef struct Sockets {
        struct sockaddr_in a4;
        struct sockaddr_in6 a6;
        bool have6;
        char file[64];
} Sockets;

static void capture_setup(void *userdata) {
        const Sockets *s = userdata;
        int sp[2], p[2];

        int c4 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c4 < 0 || connect(c4, (const struct sockaddr *) &s->a4, sizeof(s->a4)) < 0)
                _exit(10);
        if (s->have6) {
                int c6 = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (c6 < 0 || connect(c6, (const struct sockaddr *) &s->a6, sizeof(s->a6)) < 0)
                        _exit(11);
        }
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0 || pipe(p) < 0)
                _exit(12);
        int fd = open(s->file, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (fd < 0 || write(fd, "hello", 5) != 5)
                _exit(13);
        (void) prctl(PR_SET_NAME, HOSTILE_NAME);
}

static int listen_on(int family, void *addr, socklen_t len) {
        int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -errno;
        if (bind(fd, addr, len) < 0 || listen(fd, 4) < 0 || getsockname(fd, addr, &len) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static bool have_python(void) {
        return system("command -v python3 >/dev/null 2>&1") == 0;
}

static const char check_py[] =
        "import json, os, platform, sys\n"
        "path, pid, tpid, p4, p6, fpath, bfd = sys.argv[1:]\n"
        "pid, tpid, p4, p6, bfd = int(pid), int(tpid), int(p4), int(p6), int(bfd)\n"
        "d = json.load(open(path))\n"
        "assert d['pid'] == pid, d['pid']\n"
        "assert d['start_time'] == d['start_time_after'] > 0\n"
        "assert d['cmdline'][0].endswith('test-procinfo'), d['cmdline']\n"
        "assert d['exe'].endswith('test-procinfo'), d['exe']\n"
        "assert d['cwd'] == os.getcwd(), d['cwd']\n"
        "st = d['status']\n"
        "assert st['State'].startswith('S'), st\n"
        "assert st['PPid'] == str(tpid) and st['Threads'] == '1', st\n"
        "assert len(st['SigBlk']) == 16 and 'voluntary_ctxt_switches' in st, st\n"
        "name = [l.split(':', 1)[1].strip() for l in open('/proc/%d/status' % pid) if l.startswith('Name:')]\n"
        "assert st['Name'] == name[0], (st['Name'], name)\n"
        "lim = {l['name']: l for l in d['limits']}\n"
        "nofile = lim['Max open files']\n"
        "assert isinstance(nofile['soft'], int) and nofile['units'] == 'files', nofile\n"
        "assert lim['Max cpu time']['soft'] in ('unlimited',) or isinstance(lim['Max cpu time']['soft'], int)\n"
        "assert lim['Max realtime timeout']['units'] == 'us'\n"
        "assert len(d['threads']) == 1, d['threads']\n"
        "t = d['threads'][0]\n"
        "assert t['tid'] == pid and t['state'] == 'S', t\n"
        "assert t['name'] == 'py) \"x\\\\\\n', t['name']\n"
        "assert 'pipe' in t['wchan'], t\n"
        "assert t['voluntary_ctxt_switches'] > 0 and t['utime'] >= 0, t\n"
        "if platform.machine() == 'x86_64':\n"
        "    sc = t['syscall']\n"
        "    assert sc['nr'] == 0 and sc['name'] == 'read', sc\n"
        "    assert int(sc['args'][0], 16) == bfd and len(sc['args']) == 6, sc\n"
        "    assert sc['sp'].startswith('0x') and sc['pc'].startswith('0x'), sc\n"
        "socks = [f for f in d['fds'] if 'socket' in f]\n"
        "tcp = [f['socket'] for f in socks if f['socket']['proto'] == 'tcp']\n"
        "assert any(s['peer'] == '127.0.0.1:%d' % p4 and s['state'] == 'ESTABLISHED'\n"
        "           and s['local'].startswith('127.0.0.1:') for s in tcp), tcp\n"
        "if p6:\n"
        "    tcp6 = [f['socket'] for f in socks if f['socket']['proto'] == 'tcp6']\n"
        "    assert any(s['peer'] == '[::1]:%d' % p6 and s['local'].startswith('[::1]:')\n"
        "               and s['state'] == 'ESTABLISHED' for s in tcp6), tcp6\n"
        "unix = [f['socket'] for f in socks if f['socket']['proto'] == 'unix']\n"
        "assert sum(s['type'] == 'stream' and s['state'] == 'CONNECTED' for s in unix) >= 2, unix\n"
        "assert sum(f['target'].startswith('pipe:[') for f in d['fds']) >= 3, d['fds']\n"
        "fl = [f for f in d['fds'] if f['target'] == fpath]\n"
        "assert len(fl) == 1 and fl[0]['pos'] == 5 and int(fl[0]['flags'], 8) & os.O_APPEND, fl\n"
        "assert all(f['fd'] >= 0 and 'flags' in f for f in d['fds']), d['fds']\n"
        "assert d['gaps'] == [] or os.geteuid() != 0, d['gaps']\n"
        "print('json ok:', len(d['fds']), 'fds,', len(socks), 'sockets')\n";

static void test_capture(void) {
        char json[] = "/tmp/test-procinfo-json-XXXXXX", py[] = "/tmp/test-procinfo-py-XXXXXX";
        Sockets s = {};
        int wfd, rfd, l6 = -1;

        s.a4 = (struct sockaddr_in) { .sin_family = AF_INET,
                                      .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int l4 = listen_on(AF_INET, &s.a4, sizeof(s.a4));
        ASSERT_OK(l4);
        s.a6 = (struct sockaddr_in6) { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
        l6 = listen_on(AF_INET6, &s.a6, sizeof(s.a6));
        s.have6 = l6 >= 0;
        if (!s.have6)
                fprintf(stderr, "no IPv6 on ::1 (%s): skipping the tcp6 part\n", strerror(-l6));

        snprintf(s.file, sizeof(s.file), "/tmp/test-procinfo-file-XXXXXX");
        int ffd = mkstemp(s.file);
        ASSERT_OK(ffd);
        close(ffd);

        pid_t pid = spawn_blocked(capture_setup, &s, &wfd, &rfd);
        /* Accepting makes the listener's side exist too; the child's side is ESTABLISHED as
         * soon as connect() returned. */
        int a4 = accept4(l4, NULL, NULL, SOCK_CLOEXEC);
        ASSERT_OK(a4);
        int a6 = s.have6 ? accept4(l6, NULL, NULL, SOCK_CLOEXEC) : -1;
        if (s.have6)
                ASSERT_OK(a6);
        wait_sleeping(pid);

        int jfd = mkstemp(json);
        ASSERT_OK(jfd);
        FILE *f = fdopen(jfd, "w");
        ASSERT_TRUE(f);
        ASSERT_OK(procinfo_write_json(f, pid));
        ASSERT_EQ(fclose(f), 0);

        /* The plain substrings first (no python3 needed). */
        char buf[65536];
        FILE *in = fopen(json, "re");
        ASSERT_TRUE(in);
        size_t n = fread(buf, 1, sizeof(buf) - 1, in);
        fclose(in);
        buf[n] = 0;
        char want[64];
        snprintf(want, sizeof(want), "\"peer\":\"127.0.0.1:%u\"", ntohs(s.a4.sin_port));
        ASSERT_TRUE(strstr(buf, want));
        if (s.have6) {
                snprintf(want, sizeof(want), "\"peer\":\"[::1]:%u\"", ntohs(s.a6.sin6_port));
                ASSERT_TRUE(strstr(buf, want));
        }
        ASSERT_TRUE(strstr(buf, "\"state\":\"S\""));
        /* pipe_read, pipe_wait, anon_pipe_read (6.16+): the kernel's names change. */
        const char *w = strstr(buf, "\"wchan\":\"");
        ASSERT_TRUE(w);
        w += strlen("\"wchan\":\"");
        ASSERT_TRUE(memmem(w, strcspn(w, "\""), "pipe", 4));
#if defined(__x86_64__)
        ASSERT_TRUE(strstr(buf, "\"syscall\":{\"nr\":0,\"name\":\"read\""));
#endif
        ASSERT_TRUE(n > 0 && buf[n - 1] == '\n' && buf[n - 2] == '}');

        if (have_python()) {
                int pfd = mkstemp(py);
                ASSERT_OK(pfd);
                ASSERT_EQ(write(pfd, check_py, strlen(check_py)), (ssize_t) strlen(check_py));
                close(pfd);
                char cmd[512];
                snprintf(cmd, sizeof(cmd), "python3 %s %s %d %d %u %u %s %d", py, json, (int) pid,
                         (int) getpid(), ntohs(s.a4.sin_port),
                         s.have6 ? ntohs(s.a6.sin6_port) : 0, s.file, rfd);
                int rc = system(cmd);
                (void) unlink(py);
                if (rc != 0) {
                        fprintf(stderr, "JSON check failed; the capture:\n%s\n", buf);
                        ASSERT_EQ(rc, 0);
                }
        } else
                fprintf(stderr, "no python3: JSON checked by substrings only\n");

        reap(pid);
        close(wfd);
        close(rfd);
        close(a4);
        close(l4);
        if (s.have6) {
                close(a6);
                close(l6);
        }
        (void) unlink(json);
        (void) unlink(s.file);
}

/* ---- cost of a thread sample, on a 10-thread process ---- */

static void *parked(void *arg) {
        (void) arg;
        for (;;)
                pause();
        return NULL;
}

static void threads_setup(void *userdata) {
        (void) userdata;
        for (int i = 1; i < N_COST_THREADS; i++) {
                pthread_t t;
                if (pthread_create(&t, NULL, parked, NULL) != 0)
                        _exit(20);
        }
}

static size_t list_tids(pid_t pid, pid_t *tids, size_t max) {
        char fn[64];
        size_t n = 0;

        snprintf(fn, sizeof(fn), "/proc/%d/task", (int) pid);
        DIR *d = opendir(fn);
        ASSERT_TRUE(d);
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_name[0] != '.' && n < max)
                        tids[n++] = atoi(de->d_name);
        closedir(d);
        return n;
}

static void test_cost(void) {
        ProcThreadReader *readers[N_COST_THREADS] = {};
        pid_t tids[N_COST_THREADS + 1];
        ThreadSample s;
        int wfd;

        pid_t pid = spawn_blocked(threads_setup, NULL, &wfd, NULL);
        ASSERT_EQ(list_tids(pid, tids, ELEMENTSOF(tids)), N_COST_THREADS);
        for (size_t i = 0; i < N_COST_THREADS; i++)
                ASSERT_OK(procinfo_thread_open(pid, tids[i], &readers[i]));

        uint64_t calls = 0;
        usec_t t0 = now_usec(), dt;
        while ((dt = now_usec() - t0) < COST_USEC)
                for (size_t i = 0; i < N_COST_THREADS; i++, calls++)
                        ASSERT_OK(procinfo_thread_read(readers[i], &s));
        fprintf(stderr, "ProcThreadReader: %" PRIu64 " samples in %.3f s: %.0f/s, %.2f us each\n",
                calls, dt / 1e6, calls * 1e6 / dt, (double) dt / calls);

        calls = 0;
        t0 = now_usec();
        while ((dt = now_usec() - t0) < COST_USEC)
                for (size_t i = 0; i < N_COST_THREADS; i++, calls++)
                        ASSERT_OK(procinfo_thread_sample(pid, tids[i], &s));
        fprintf(stderr, "procinfo_thread_sample: %" PRIu64 " samples in %.3f s: %.0f/s, %.2f us each\n",
                calls, dt / 1e6, calls * 1e6 / dt, (double) dt / calls);

        /* The capture lists all ten. */
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        ASSERT_TRUE(f);
        t0 = now_usec();
        ASSERT_OK(procinfo_write_json(f, pid));
        dt = now_usec() - t0;
        fclose(f);
        size_t n = 0;
        for (const char *p = buf; (p = strstr(p, "{\"tid\":")); p++)
                n++;
        ASSERT_EQ(n, N_COST_THREADS);
        fprintf(stderr, "procinfo_write_json: %zu bytes for %d threads in %.2f ms\n", len,
                N_COST_THREADS, dt / 1e3);
        free(buf);

        for (size_t i = 0; i < N_COST_THREADS; i++)
                readers[i] = procinfo_thread_close(readers[i]);
        reap(pid);
        close(wfd);
}

int main(void) {
        test_vanished();
        test_start_time();
        test_blocked_vs_busy();
        test_capture();
        test_cost();
        return 0;
}
