/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procmaps.h"
#include "tests.h"

static const ProcMap *containing(const ProcMaps *m, uint64_t addr) {
        for (size_t i = 0; i < m->n; i++)
                if (addr >= m->maps[i].start && addr < m->maps[i].end)
                        return &m->maps[i];
        return NULL;
}

int main(void) {
        ProcMaps m = {};
        char exe[4096];
        ssize_t l;

        /* Allocated before the maps are read: a new arena may be mapped for it. */
        char *heap = malloc(64);
        ASSERT_TRUE(heap);

        ASSERT_OK(procmaps_read(getpid(), &m));
        ASSERT_TRUE(m.n > 3);
        for (size_t i = 0; i < m.n; i++)
                ASSERT_TRUE(m.maps[i].start < m.maps[i].end);

        /* Our own code: executable, file-backed, named like /proc/self/exe. */
        l = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        ASSERT_TRUE(l > 0);
        exe[l] = 0;
        const ProcMap *code = containing(&m, (uint64_t) (uintptr_t) &main);
        ASSERT_TRUE(code);
        ASSERT_TRUE(code->executable);
        ASSERT_TRUE(code->readable);
        ASSERT_STREQ(code->path, exe);

        const ProcMap *first = procmaps_find_file(&m, exe);
        ASSERT_TRUE(first);
        ASSERT_TRUE(first->start <= code->start);
        ASSERT_EQ(first->offset, 0);
        ASSERT_TRUE(procmaps_find_file(&m, "/no/such/file") == NULL);

        /* The heap and the stack: writable, and the stack is named. */
        const ProcMap *h = containing(&m, (uint64_t) (uintptr_t) heap);
        ASSERT_TRUE(h && h->readable && h->writable && !h->executable);
        free(heap);
        int local = 0;
        const ProcMap *st = containing(&m, (uint64_t) (uintptr_t) &local);
        ASSERT_TRUE(st && st->writable);
        ASSERT_STREQ(st->path, "[stack]");

        procmaps_done(&m);
        ASSERT_EQ(m.n, 0);
        procmaps_done(&m); /* idempotent */

        ASSERT_EQ(procmaps_read(impossible_pid(), &m), -ESRCH);
        ASSERT_EQ(procmaps_read(0, &m), -ESRCH);

        printf("procmaps: ok\n");
        return 0;
}
