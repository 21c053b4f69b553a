/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "verbs.h"

static void help(void) {
        printf("Usage: pyspy-watch check-config [-c CONFIG]\n\n"
               "Check the daemon's configuration and print it with every default filled in.\n"
               "Problems are listed as CONFIG:LINE: message, all of them, and the exit status is 2.\n\n"
               "Options:\n"
               "  -c --config CONFIG  The file to check (default " CONFIG_DEFAULT_PATH ")\n"
               "  -h --help           Show this help\n"
               "\nSee the pyspy-watch(1) and pyspy-watch.ini(5) man pages for details.\n");
}

int cmd_check_config(int argc, char **argv) {
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *arg_config = CONFIG_DEFAULT_PATH;
        int c;

        opterr = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, ":c:h", options, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        arg_config = optarg;
                        break;
                case 'h':
                        help();
                        return EXIT_OK;
                case ':':
                        log_error("check-config: option '%s' needs a value: see 'pyspy-watch check-config --help'", argv[optind - 1]);
                        return EXIT_USAGE;
                default:
                        log_error("check-config: unknown option '%s': see 'pyspy-watch check-config --help'", argv[optind - 1]);
                        return EXIT_USAGE;
                }
        }
        if (optind < argc) {
                log_error("check-config: unexpected argument '%s': pass the file with -c CONFIG", argv[optind]);
                return EXIT_USAGE;
        }

        _cleanup_(config_freep) Config *config = NULL;
        ConfigErrors errors = {};
        int r = config_load(arg_config, &config, &errors);
        if (r < 0) {
                /* Bare lines, no "pyspy-watch:" prefix: FILE:LINE: is what editors jump to. */
                for (size_t i = 0; i < errors.n; i++) {
                        if (errors.errors[i].line > 0)
                                fprintf(stderr, "%s:%u: %s\n", arg_config, errors.errors[i].line, errors.errors[i].message);
                        else
                                fprintf(stderr, "%s: %s\n", arg_config, errors.errors[i].message);
                }
                if (errors.n == 0)
                        fprintf(stderr, "%s: cannot load: %s\n", arg_config, strerror(-r));
                config_errors_done(&errors);
                return EXIT_USAGE;
        }
        config_errors_done(&errors);

        config_print(stdout, config);
        if (fflush(stdout) != 0) {
                log_error("check-config: writing the output failed: %m");
                return EXIT_FAILED;
        }
        return EXIT_OK;
}
