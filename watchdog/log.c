/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

static void log_v(const char *level, const char *fmt, va_list ap) {
        /* One write per line, so lines from concurrent writers do not interleave. */
        char buf[4096];
        int n = snprintf(buf, sizeof(buf), "pyspy-watch: %s", level);
        if (n < 0 || (size_t) n >= sizeof(buf))
                return;
        int m = vsnprintf(buf + n, sizeof(buf) - (size_t) n, fmt, ap);
        if (m < 0)
                return;
        size_t len = MIN((size_t) n + (size_t) m, sizeof(buf) - 2);
        buf[len++] = '\n';
        fwrite(buf, 1, len, stderr);
        fflush(stderr);
}

void log_error(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        log_v("", fmt, ap);
        va_end(ap);
}

void log_warning(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        log_v("warning: ", fmt, ap);
        va_end(ap);
}

void log_info(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        log_v("", fmt, ap);
        va_end(ap);
}
