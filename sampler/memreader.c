/* SPDX-License-Identifier: MIT */
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "macro.h"
#include "memreader.h"

typedef struct MemReaderOps {
        int (*readv)(MemReader *mr, const MemRegion *regions, size_t n);
} MemReaderOps;

struct MemReader {
        const MemReaderOps *ops;
        uint64_t calls;
        pid_t pid;             /* pid backend */
        MemSegment *segs;      /* image backend */
        size_t n_segs;
};

usec_t now_usec(void) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

/* process_vm_readv() takes at most IOV_MAX iovecs per side; we batch in groups of this. */
#define PID_BATCH 64

static int pid_readv(MemReader *mr, const MemRegion *regions, size_t n) {
        struct iovec local[PID_BATCH], remote[PID_BATCH];

        while (n > 0) {
                size_t k = MIN(n, (size_t) PID_BATCH), want = 0;

                for (size_t i = 0; i < k; i++) {
                        local[i] = (struct iovec) { regions[i].buf, regions[i].len };
                        remote[i] = (struct iovec) { (void *) (uintptr_t) regions[i].addr, regions[i].len };
                        want += regions[i].len;
                }
                mr->calls++;
                ssize_t got = process_vm_readv(mr->pid, local, k, remote, k, 0);
                if (got < 0)
                        return errno == ENOMEM ? -EFAULT : -errno;
                /* process_vm_readv stops at the first unreadable remote iovec: a partial
                 * transfer is a failed read, never half a struct. */
                if ((size_t) got != want)
                        return -EFAULT;
                regions += k;
                n -= k;
        }
        return 0;
}

static int image_readv(MemReader *mr, const MemRegion *regions, size_t n) {
        for (size_t i = 0; i < n; i++) {
                const MemRegion *r = &regions[i];
                bool found = false;

                mr->calls++;
                for (size_t j = 0; j < mr->n_segs; j++) {
                        const MemSegment *s = &mr->segs[j];
                        if (r->addr >= s->addr && r->addr - s->addr <= s->len &&
                            r->len <= s->len - (r->addr - s->addr)) {
                                memcpy(r->buf, (const uint8_t *) s->data + (r->addr - s->addr), r->len);
                                found = true;
                                break;
                        }
                }
                if (!found)
                        return -EFAULT;
        }
        return 0;
}

static const MemReaderOps pid_ops = { .readv = pid_readv };
static const MemReaderOps image_ops = { .readv = image_readv };

int memreader_new_pid(pid_t pid, MemReader **ret) {
        MemReader *mr = calloc(1, sizeof(*mr));
        if (!mr)
                return -ENOMEM;
        mr->ops = &pid_ops;
        mr->pid = pid;
        *ret = mr;
        return 0;
}

int memreader_new_image(const MemSegment *seg, size_t n, MemReader **ret) {
        MemReader *mr = calloc(1, sizeof(*mr));
        if (!mr)
                return -ENOMEM;
        if (n > 0) {
                mr->segs = calloc(n, sizeof(*seg));
                if (!mr->segs) {
                        free(mr);
                        return -ENOMEM;
                }
                memcpy(mr->segs, seg, n * sizeof(*seg));
        }
        mr->n_segs = n;
        mr->ops = &image_ops;
        *ret = mr;
        return 0;
}

MemReader *memreader_free(MemReader *mr) {
        if (!mr)
                return NULL;
        free(mr->segs);
        free(mr);
        return NULL;
}

int memreader_readv(MemReader *mr, const MemRegion *regions, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (regions[i].len > MEMREADER_MAX_READ)
                        return -EINVAL;
        return mr->ops->readv(mr, regions, n);
}

int memreader_read(MemReader *mr, uint64_t addr, void *buf, size_t len) {
        if (len == 0)
                return 0;
        return memreader_readv(mr, &(MemRegion) { addr, buf, len }, 1);
}

int memreader_read_u64(MemReader *mr, uint64_t addr, uint64_t *ret) {
        return memreader_read(mr, addr, ret, sizeof(*ret));
}

int memreader_read_u32(MemReader *mr, uint64_t addr, uint32_t *ret) {
        return memreader_read(mr, addr, ret, sizeof(*ret));
}

int memreader_read_cstr(MemReader *mr, uint64_t addr, char *buf, size_t max) {
        /* Read in small chunks that do not cross a page boundary, so a string that ends just
         * before an unmapped page is still read. */
        size_t len = 0;

        while (len < max) {
                uint64_t a = addr + len;
                size_t chunk = MIN((size_t) (4096 - (a & 4095)), MIN(max - len, (size_t) 256));
                int r = memreader_read(mr, a, buf + len, chunk);
                if (r < 0)
                        return r;
                void *nul = memchr(buf + len, 0, chunk);
                if (nul)
                        return (int) ((char *) nul - buf);
                len += chunk;
        }
        buf[max] = 0;
        return (int) max;
}

uint64_t memreader_calls(const MemReader *mr) {
        return mr->calls;
}
