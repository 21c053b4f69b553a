/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "dump.h"
#include "log.h"
#include "sampler.h"
#include "verbs.h"

static void help(void) {
        printf("Usage: pyspy-watch dump --pid PID [OPTIONS...]\n\n"
               "Print the Python stack of every thread of a running process.\n\n"
               "Options:\n"
               "  -p --pid PID       The process to look at\n"
               "  -l --locals        Show each frame's local variables (repr-like, bounded)\n"
               "  -j --json          Print one JSON object instead of text\n"
               "     --native        Add native (C) frames (not supported by this build)\n"
               "     --nonblocking   Never pause the target (stacks may be inconsistent)\n"
               "  -h --help          Show this help\n"
               "\nSee the pyspy-watch(1) man page for details.\n");
}

int cmd_dump(int argc, char **argv) {
        enum { ARG_NATIVE = 0x100, ARG_NONBLOCKING };
        static const struct option options[] = {
                { "pid", required_argument, NULL, 'p' },
                { "locals", no_argument, NULL, 'l' },
                { "json", no_argument, NULL, 'j' },
                { "native", no_argument, NULL, ARG_NATIVE },
                { "nonblocking", no_argument, NULL, ARG_NONBLOCKING },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        bool arg_locals = false, arg_json = false, arg_nonblocking = false;
        pid_t arg_pid = 0;
        int c;

        opterr = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, ":p:ljh", options, NULL)) >= 0) {
                switch (c) {
                case 'p':
                        if (parse_pid(optarg, &arg_pid) < 0) {
                                log_error("dump: invalid pid '%s': pass a process id, a positive number", optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case 'l':
                        arg_locals = true;
                        break;
                case 'j':
                        arg_json = true;
                        break;
                case ARG_NATIVE:
                        log_error("dump: --native is not supported by this build: drop it to see the Python frames");
                        return EXIT_USAGE;
                case ARG_NONBLOCKING:
                        arg_nonblocking = true;
                        break;
                case 'h':
                        help();
                        return EXIT_OK;
                case ':':
                        log_error("dump: option '%s' needs a value: see 'pyspy-watch dump --help'", argv[optind - 1]);
                        return EXIT_USAGE;
                default:
                        log_error("dump: unknown option '%s': see 'pyspy-watch dump --help'", argv[optind - 1]);
                        return EXIT_USAGE;
                }
        }
        if (optind < argc) {
                log_error("dump: unexpected argument '%s': see 'pyspy-watch dump --help'", argv[optind]);
                return EXIT_USAGE;
        }
        if (arg_pid == 0) {
                log_error("dump: no process given: pass --pid PID");
                return EXIT_USAGE;
        }

        _cleanup_(sampler_freep) Sampler *s = NULL;
        _cleanup_(snapshot_done) Snapshot snap = SNAPSHOT_NULL;
        char detail[256] = "", msg[512];
        int r;

        r = sampler_attach(arg_pid, &s, detail, sizeof(detail));
        if (r < 0) {
                log_error("%s", sampler_strerror(r, arg_pid, detail, msg, sizeof(msg)));
                return EXIT_FAILED;
        }
        unsigned flags = SAMPLE_NAMES | SAMPLE_IDLE | (arg_locals ? SAMPLE_LOCALS : 0) |
                         (arg_nonblocking ? 0 : SAMPLE_PAUSE);
        r = sampler_sample(s, flags, &snap);
        if (r < 0) {
                log_error("%s", sampler_strerror(r, arg_pid, NULL, msg, sizeof(msg)));
                return EXIT_FAILED;
        }

        char cmdline[4096];
        proc_cmdline(arg_pid, cmdline, sizeof(cmdline));
        const PyTarget *t = sampler_target(s);
        DumpInfo info = {
                .pid = arg_pid,
                .cmdline = cmdline,
                .python_version = t->version,
                .executable = t->executable,
        };
        r = arg_json ? dump_write_json(stdout, &info, &snap, arg_locals)
                     : dump_write_text(stdout, &info, &snap, arg_locals);
        if (r >= 0 && fflush(stdout) != 0)
                r = -errno;
        if (r < 0) {
                log_error("dump: writing the output failed: %s", strerror(-r));
                return EXIT_FAILED;
        }
        return EXIT_OK;
}
