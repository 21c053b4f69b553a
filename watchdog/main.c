/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "verbs.h"

#ifndef PYSPY_WATCH_VERSION
#define PYSPY_WATCH_VERSION "0.1.0"
#endif

typedef struct Verb {
        const char *name;
        int (*run)(int argc, char **argv);
        const char *summary;
} Verb;

static const Verb verbs[] = {
        { "dump", cmd_dump, "print every thread's Python stack (with --locals, their variables)" },
        { "record", cmd_record, "sample a process and write a flame graph, folded stacks or speedscope" },
        { "top", cmd_top, "a live, top-like view of the functions a process spends its time in" },
        { "watch", cmd_watch, "the daemon: watch processes for hung stacks, write incident bundles, alert" },
        { "check-config", cmd_check_config, "check the daemon's configuration file and print it, defaults filled in" },
        { "incidents", cmd_incidents, "list the incident bundles of hangs, show one, or print its directory" },
};

static void help(void) {
        printf("pyspy-watch - look inside running CPython processes, and watch them for hangs\n\n"
               "Usage: pyspy-watch VERB [OPTIONS...]\n\n"
               "Verbs:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                printf("  %-14s %s\n", verbs[i].name, verbs[i].summary);
        printf("\nOptions:\n"
               "  -h --help      Show this help\n"
               "     --version   Show the version\n"
               "\nRun 'pyspy-watch VERB --help' for a verb's options.\n"
               "See the pyspy-watch(1) man page for details.\n");
}

int main(int argc, char **argv) {
        if (argc < 2) {
                log_error("no verb given: run 'pyspy-watch --help' for the list");
                return EXIT_USAGE;
        }
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                help();
                return EXIT_OK;
        }
        if (strcmp(argv[1], "--version") == 0) {
                printf("pyspy-watch %s\n", PYSPY_WATCH_VERSION);
                return EXIT_OK;
        }
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (strcmp(argv[1], verbs[i].name) == 0)
                        return verbs[i].run(argc - 1, argv + 1);
        log_error("unknown verb '%s': run 'pyspy-watch --help' for the list", argv[1]);
        return EXIT_USAGE;
}
