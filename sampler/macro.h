/* SPDX-License-Identifier: MIT */
#pragma once

/* Small helpers shared by every module: scope-bound cleanup (systemd's idea), ownership
 * hand-off, and array sizing. Build with -std=gnu11. */

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define TAKE_PTR(p)                          \
        ({                                   \
                __typeof__(p) _p_ = (p);     \
                (p) = NULL;                  \
                _p_;                         \
        })
#define TAKE_FD(fd)                          \
        ({                                   \
                int _fd_ = (fd);             \
                (fd) = -EBADF;               \
                _fd_;                        \
        })

static inline void freep(void *p) {
        free(*(void **) p);
}
static inline void closep(int *fd) {
        if (*fd >= 0)
                (void) close(*fd);
}
static inline void fclosep(FILE **f) {
        if (*f)
                (void) fclose(*f);
}
static inline void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Define foo_freep() for a destructor foo_free() that takes NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func) \
        static inline void func##p(type *p) {   \
                if (*p)                         \
                        func(*p);               \
        }

static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        while (*a && *a == *b)
                a++, b++;
        return *a == *b;
}

/* Fields of a local copy of a remote struct, at byte offset off: memcpy, since the copy's
 * alignment is the buffer's, not the struct's. */
static inline uint64_t load_u64(const void *buf, size_t off) {
        uint64_t v;
        __builtin_memcpy(&v, (const uint8_t *) buf + off, sizeof(v));
        return v;
}
static inline uint32_t load_u32(const void *buf, size_t off) {
        uint32_t v;
        __builtin_memcpy(&v, (const uint8_t *) buf + off, sizeof(v));
        return v;
}

/* Monotonic time in microseconds. */
typedef uint64_t usec_t;
#define USEC_PER_SEC ((usec_t) 1000000ULL)
#define USEC_PER_MSEC ((usec_t) 1000ULL)
usec_t now_usec(void);
