/* SPDX-License-Identifier: MIT */
#pragma once

/* Minimal assertion helpers for the C unit tests: a failed check prints file:line and the
 * expression, and exits 1. A test binary exits 0 when all its checks pass, 77 to skip. */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* A pid that cannot exist: pid_max itself (pids are below it). */
pid_t impossible_pid(void);

/* Starts python -c script (killed when the test dies) and waits (up to 20 s) for the first
 * line it prints, without the newline, into line (size len). Returns its pid. */
pid_t spawn_python_line(const char *python, const char *script, char *line, size_t len);

#define ASSERT_TRUE(expr)                                                                      \
        do {                                                                                   \
                if (!(expr)) {                                                                 \
                        fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__,  \
                                #expr);                                                        \
                        exit(1);                                                               \
                }                                                                              \
        } while (0)

#define ASSERT_EQ(a, b)                                                                        \
        do {                                                                                   \
                long long _a = (long long) (a), _b = (long long) (b);                          \
                if (_a != _b) {                                                                \
                        fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__,    \
                                __LINE__, #a, #b, _a, _b);                                     \
                        exit(1);                                                               \
                }                                                                              \
        } while (0)

#define ASSERT_OK(expr)                                                                        \
        do {                                                                                   \
                long long _r = (long long) (expr);                                             \
                if (_r < 0) {                                                                  \
                        fprintf(stderr, "%s:%d: %s failed: %lld (%s)\n", __FILE__, __LINE__,   \
                                #expr, _r, strerror((int) -_r));                               \
                        exit(1);                                                               \
                }                                                                              \
        } while (0)

#define ASSERT_STREQ(a, b)                                                                     \
        do {                                                                                   \
                const char *_a = (a), *_b = (b);                                               \
                if (!_a || !_b || strcmp(_a, _b) != 0) {                                       \
                        fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n",          \
                                __FILE__, __LINE__, #a, #b, _a ? _a : "(null)",                \
                                _b ? _b : "(null)");                                           \
                        exit(1);                                                               \
                }                                                                              \
        } while (0)

#define TEST_SKIP(...)                                                                         \
        do {                                                                                   \
                fprintf(stderr, "skip: " __VA_ARGS__);                                         \
                fputc('\n', stderr);                                                           \
                exit(77);                                                                      \
        } while (0)
