/* SPDX-License-Identifier: MIT */
/* A main() for the fuzz harnesses without libFuzzer: runs LLVMFuzzerTestOneInput() once on
 * every file named, or found in a directory named, on the command line. Built with the
 * ordinary compiler and sanitizers, it is how `make check` replays the seed corpus and every
 * past crash (tests/fuzz/regress/) even where clang is missing. Exit 0 when every input ran;
 * a broken promise aborts. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Largest input replayed: past libFuzzer's -max_len of `make fuzz`. */
#define REPLAY_MAX (1u << 20)

static int run_file(const char *path, unsigned *count) {
        FILE *f = fopen(path, "re");
        if (!f) {
                fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
                return -1;
        }
        uint8_t *buf = malloc(REPLAY_MAX);
        if (!buf)
                abort();
        size_t n = fread(buf, 1, REPLAY_MAX, f);
        fclose(f);
        /* An exact-size copy, so that overreads are caught as libFuzzer would catch them. */
        uint8_t *data = malloc(n ? n : 1);
        if (!data)
                abort();
        memcpy(data, buf, n);
        free(buf);
        (void) LLVMFuzzerTestOneInput(data, n);
        free(data);
        (*count)++;
        return 0;
}


static int run_path(const char *path, unsigned *count) {
        struct stat st;
        if (stat(path, &st) < 0) {
                fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
                return -1;
        }
        if (!S_ISDIR(st.st_mode))
                return run_file(path, count);

        struct dirent **list;
        int n = scandir(path, &list, NULL, alphasort);
        if (n < 0) {
                fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
                return -1;
        }
        int r = 0;
        for (int i = 0; i < n; i++) {
                if (list[i]->d_name[0] != '.') {
                        char sub[4096];
                        snprintf(sub, sizeof(sub), "%s/%s", path, list[i]->d_name);
                        if (run_path(sub, count) < 0)
                                r = -1;
                }
                free(list[i]);
        }
        free(list);
        return r;
}

int main(int argc, char **argv) {
        unsigned count = 0;
        int r = 0;

        if (argc < 2) {
                fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
                return 2;
        }
        for (int i = 1; i < argc; i++)
                if (run_path(argv[i], &count) < 0)
                        r = 1;
        printf("%s: %u inputs replayed\n", argv[0], count);
        return r;
}
