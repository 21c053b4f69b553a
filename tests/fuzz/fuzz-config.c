/* SPDX-License-Identifier: MIT */
/* Fuzzes the configuration parser (watchdog/config.h) with arbitrary files. Promises: every
 * error is one line (a message with no newline or other control character, so it prints as
 * `FILE:LINE: message`); and what config_print() writes for an accepted file reads back as
 * the same configuration, printing byte for byte the same. Seeds: tests/fuzz/corpus/config. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"

#define HARNESS "fuzz-config"

static Config *parse(const char *buf, size_t len, ConfigErrors *errors) {
        Config *c = NULL;
        FILE *f;

        if (len == 0)
                f = fopen("/dev/null", "re");
        else
                f = fmemopen((void *) buf, len, "r");
        if (!f)
                abort();
        (void) config_parse(f, "fuzz.ini", &c, errors);
        fclose(f);
        return c;
}

static char *print(const Config *c, size_t *len) {
        char *buf = NULL;
        FILE *f = open_memstream(&buf, len);
        if (!f)
                abort();
        config_print(f, c);
        if (fclose(f) != 0)
                abort();
        return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ConfigErrors errors = {};
        Config *c = parse((const char *) data, size, &errors);

        for (size_t i = 0; i < errors.n; i++) {
                const char *m = errors.errors[i].message;
                const char *why = check_terminal((const uint8_t *) m, strlen(m));
                if (!why && strchr(m, '\n'))
                        why = "more than one line";
                if (why)
                        fprintf(stderr, "message: %s\n", m);
                fuzz_assert(HARNESS, "an error message", why);
                fuzz_assert(HARNESS, "an error message", *m ? NULL : "empty");
        }
        if (c) {
                fuzz_assert(HARNESS, "a file with errors", errors.n ? "was accepted" : NULL);
                size_t len1, len2;
                char *p1 = print(c, &len1);
                ConfigErrors errors2 = {};
                Config *c2 = parse(p1, len1, &errors2);
                if (!c2) {
                        fprintf(stderr, "printed:\n%s\nerror: %s\n", p1,
                                errors2.n ? errors2.errors[0].message : "(none)");
                        fuzz_assert(HARNESS, "config_print()", "its output does not parse");
                }
                char *p2 = print(c2, &len2);
                if (len1 != len2 || memcmp(p1, p2, len1) != 0) {
                        fprintf(stderr, "first:\n%s\nsecond:\n%s\n", p1, p2);
                        fuzz_assert(HARNESS, "config_print()", "does not read back the same");
                }
                free(p1);
                free(p2);
                config_free(c2);
                config_errors_done(&errors2);
                config_free(c);
        }
        config_errors_done(&errors);
        return 0;
}
