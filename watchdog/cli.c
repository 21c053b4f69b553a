/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "verbs.h"

int parse_pid(const char *s, pid_t *ret) {
        char *end;
        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        /* 2^22 is the kernel's PID_MAX_LIMIT on 64-bit. */
        if (errno || *end || v == 0 || v > 4194304)
                return -EINVAL;
        *ret = (pid_t) v;
        return 0;
}

void proc_cmdline(pid_t pid, char *buf, size_t len) {
        char path[64];
        ssize_t n = 0;

        if (len == 0)
                return;
        buf[0] = 0;
        snprintf(path, sizeof(path), "/proc/%d/cmdline", (int) pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return;
        n = read(fd, buf, len - 1);
        if (n <= 0)
                return;
        while (n > 0 && buf[n - 1] == 0)
                n--;
        for (ssize_t i = 0; i < n; i++)
                if (buf[i] == 0)
                        buf[i] = ' ';
        buf[n] = 0;
}

int parse_config_argv(const char *verb, int argc, char **argv, void (*help)(void), const char **config) {
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int c;

        opterr = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, ":c:h", options, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        *config = optarg;
                        break;
                case 'h':
                        help();
                        return 0;
                case ':':
                        log_error("%s: option '%s' needs a value: see 'pyspy-watch %s --help'", verb, argv[optind - 1], verb);
                        return -EINVAL;
                default:
                        log_error("%s: unknown option '%s': see 'pyspy-watch %s --help'", verb, argv[optind - 1], verb);
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                log_error("%s: unexpected argument '%s': pass the file with -c CONFIG", verb, argv[optind]);
                return -EINVAL;
        }
        return 1;
}
