/* SPDX-License-Identifier: MIT */
/* Helpers shared by the C unit tests (linked into every test binary). */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <sys/types.h>

#include "tests.h"

pid_t impossible_pid(void) {
        FILE *f = fopen("/proc/sys/kernel/pid_max", "re");
        long v = 4194304;   /* PID_MAX_LIMIT on 64-bit */

        if (f) {
                if (fscanf(f, "%ld", &v) != 1)
                        v = 4194304;
                fclose(f);
        }
        return (pid_t) v;
}

pid_t spawn_python_line(const char *python, const char *script, char *line, size_t len) {
        int fds[2];

        ASSERT_TRUE(len > 0);
        ASSERT_TRUE(pipe2(fds, O_CLOEXEC) == 0);
        pid_t pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                /* Dies with us, even when an assertion ends us early. */
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                dup2(fds[1], STDOUT_FILENO);
                execl(python, python, "-c", script, (char *) NULL);
                _exit(127);
        }
        close(fds[1]);

        size_t n = 0;
        while (n + 1 < len) {
                struct pollfd p = { .fd = fds[0], .events = POLLIN };
                /* 20 s: a cold 2.7 with site-packages on a loaded CI machine starts well within. */
                ASSERT_TRUE(poll(&p, 1, 20000) == 1);
                ASSERT_TRUE(read(fds[0], line + n, 1) == 1);
                if (line[n] == '\n')
                        break;
                n++;
        }
        line[n] = 0;
        close(fds[0]);
        return pid;
}
