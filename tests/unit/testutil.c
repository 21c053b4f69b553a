/* SPDX-License-Identifier: MIT */
/* Helpers shared by the C unit tests (linked into every test binary). */
#include <stdio.h>
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
