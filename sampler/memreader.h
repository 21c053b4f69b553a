/* SPDX-License-Identifier: MIT */
#pragma once

/* The one door to a target's memory. Production reads go through process_vm_readv() on a live
 * pid; unit tests and fuzzers hand the walker a synthetic image of segments instead. The walker
 * never knows which one it has, so everything above this interface is testable without a
 * process.
 *
 * Reads are all-or-nothing: a short read is a failed read (-EFAULT), never half a struct.
 * Nothing here logs. */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct MemReader MemReader;

typedef struct MemSegment {
        uint64_t addr;     /* remote address of the first byte */
        const void *data;  /* local copy; not owned, must outlive the reader */
        size_t len;
} MemSegment;

/* One remote region of a batched read. */
typedef struct MemRegion {
        uint64_t addr;
        void *buf;
        size_t len;
} MemRegion;

/* A reader for a live process. -ENOMEM only; the pid is not checked here. */
int memreader_new_pid(pid_t pid, MemReader **ret);

/* A reader over n local segments (copied array, data not copied). -ENOMEM only. */
int memreader_new_image(const MemSegment *seg, size_t n, MemReader **ret);

/* Frees the reader; takes NULL; returns NULL. */
MemReader *memreader_free(MemReader *mr);

/* Reads len bytes at addr into buf. 0, or -ESRCH (process gone), -EPERM (no right to read it),
 * -EFAULT (unmapped or short), -EINVAL (len over MEMREADER_MAX_READ). */
int memreader_read(MemReader *mr, uint64_t addr, void *buf, size_t len);

/* Reads n regions in as few system calls as the backend allows. 0 when every region was read
 * whole; otherwise the first error, and which regions were read is unspecified. */
int memreader_readv(MemReader *mr, const MemRegion *regions, size_t n);

/* Reads a NUL-terminated string of at most max bytes (without the NUL) into buf, which has
 * room for max + 1 bytes. Returns the length, or -EFAULT / -ESRCH / -EPERM. A string without
 * a NUL within max bytes is truncated at max (the return value is then max). */
int memreader_read_cstr(MemReader *mr, uint64_t addr, char *buf, size_t max);

/* Number of read system calls (or image lookups) made so far: for benchmarks and tests. */
uint64_t memreader_calls(const MemReader *mr);

/* Convenience: read a little-endian u64 / u32 / pointer. */
int memreader_read_u64(MemReader *mr, uint64_t addr, uint64_t *ret);
int memreader_read_u32(MemReader *mr, uint64_t addr, uint32_t *ret);

/* No single read may exceed this: protects against lengths taken from hostile memory. 16 MiB
 * covers the largest thing we fetch on purpose (a line table, a data-stack chunk). */
#define MEMREADER_MAX_READ (16u * 1024u * 1024u)

static inline void memreader_freep(MemReader **p) {
        if (*p)
                memreader_free(*p);
}
