/* SPDX-License-Identifier: MIT */
/* Placeholder while the verb is being written (issue 3); replaced in the same change. */
#include "log.h"
#include "verbs.h"

int cmd_record(int argc, char **argv) {
        (void) argc;
        (void) argv;
        log_error("record: not available in this build yet");
        return EXIT_FAILED;
}
