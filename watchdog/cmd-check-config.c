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
        const char *arg_config = CONFIG_DEFAULT_PATH;
        int pr = parse_config_argv("check-config", argc, argv, help, &arg_config);
        if (pr <= 0)
                return pr < 0 ? EXIT_USAGE : EXIT_OK;

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
