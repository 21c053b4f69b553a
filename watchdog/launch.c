/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include "launch.h"

/* The open-file limit we were started with, when launch_raise_nofile() raised it: programs we
 * start get it back (one that uses select() breaks past 1024 descriptors). */
static struct rlimit saved_nofile;
static bool nofile_raised;

int launch_raise_nofile(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return -errno;
        if (rl.rlim_cur >= rl.rlim_max)
                return 0;
        struct rlimit raised = { rl.rlim_max, rl.rlim_max };
        if (setrlimit(RLIMIT_NOFILE, &raised) < 0)
                return -errno;
        saved_nofile = rl;
        nofile_raised = true;
        return 1;
}

int launch_program(char **argv, pid_t *ret_pid) {
        int pipefd[2];

        if (!argv || !argv[0])
                return -EINVAL;
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        pid_t pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(pipefd[0]);
                close(pipefd[1]);
                return r;
        }
        if (pid == 0) {
                sigset_t none;
                sigemptyset(&none);
                (void) sigprocmask(SIG_SETMASK, &none, NULL);   /* the daemon blocks SIGTERM/SIGHUP */
                if (nofile_raised)
                        (void) setrlimit(RLIMIT_NOFILE, &saved_nofile);
                close(pipefd[0]);
                execvp(argv[0], argv);
                int e = errno;
                (void) !write(pipefd[1], &e, sizeof(e));
                _exit(127);
        }
        close(pipefd[1]);
        int e = 0;
        ssize_t n;
        do
                n = read(pipefd[0], &e, sizeof(e));
        while (n < 0 && errno == EINTR);
        close(pipefd[0]);
        if (n == (ssize_t) sizeof(e)) {
                (void) waitpid(pid, NULL, 0);
                return -e;
        }
        *ret_pid = pid;
        return 0;
}

int launch_reap(pid_t pid, int *ret_status) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r < 0)
                return -errno;
        if (r == 0)
                return 0;
        if (WIFEXITED(status))
                *ret_status = WEXITSTATUS(status);
        else if (WIFSIGNALED(status))
                *ret_status = 128 + WTERMSIG(status);
        else
                return 0;
        return 1;
}

/* How often to look again while the program starts: the interpreter of a small script is up
 * in a few tens of milliseconds. */
#define LAUNCH_POLL_USEC (5 * USEC_PER_MSEC)

/* Gone, or our child and exited (a zombie we leave for launch_reap() to collect). */
static bool process_exited(pid_t pid) {
        siginfo_t si = {};

        if (waitid(P_PID, (id_t) pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid)
                return true;
        return kill(pid, 0) < 0 && errno == ESRCH;
}

int launch_attach(pid_t pid, usec_t timeout, Sampler **ret, char *detail, size_t len) {
        usec_t deadline = now_usec() + timeout;
        _cleanup_(snapshot_done) Snapshot snap = SNAPSHOT_NULL;
        int r;

        for (;;) {
                _cleanup_(sampler_freep) Sampler *s = NULL;

                r = sampler_attach(pid, &s, detail, len);
                if (r >= 0) {
                        r = sampler_sample(s, 0, &snap);
                        if (r >= 0) {
                                *ret = TAKE_PTR(s);
                                return 0;
                        }
                }
                if (process_exited(pid))
                        return -ESRCH;
                if (r == -EPERM || r == -EACCES || r == -EPROTONOSUPPORT)
                        return r;
                if (now_usec() >= deadline)
                        return r;
                struct timespec ts = { 0, (long) LAUNCH_POLL_USEC * 1000 };
                (void) nanosleep(&ts, NULL);
        }
}

size_t proctree_descendants(pid_t root, pid_t *out, size_t max) {
        size_t n = 0, head = 0;
        pid_t cur = root;

        for (;;) {
                char path[64];
                snprintf(path, sizeof(path), "/proc/%d/task", (int) cur);
                _cleanup_(closedirp) DIR *d = opendir(path);
                struct dirent *de;
                while (d && (de = readdir(d))) {
                        if (de->d_name[0] < '1' || de->d_name[0] > '9')
                                continue;
                        char cpath[320], buf[4096];
                        snprintf(cpath, sizeof(cpath), "/proc/%d/task/%s/children", (int) cur, de->d_name);
                        _cleanup_close_ int fd = open(cpath, O_RDONLY | O_CLOEXEC);
                        if (fd < 0)
                                continue;
                        ssize_t k = read(fd, buf, sizeof(buf) - 1);
                        if (k <= 0)
                                continue;
                        buf[k] = 0;
                        for (char *p = buf, *end; *p && n < max; p = end) {
                                long v = strtol(p, &end, 10);
                                if (end == p)
                                        break;
                                if (v > 0)
                                        out[n++] = (pid_t) v;
                        }
                }
                if (head >= n)
                        return n;
                cur = out[head++];
        }
}
