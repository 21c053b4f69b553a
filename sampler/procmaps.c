/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "procmaps.h"

/* A maps line is "start-end perms offset dev inode   path". The kernel escapes newlines in
 * file names (as \012) and a path is at most PATH_MAX, so a line longer than this is not
 * something the kernel wrote: we refuse the whole file rather than guess. */
#define PROCMAPS_LINE_MAX (4096 + 256)

static int parse_line(char *line, ProcMap *ret) {
        uint64_t start, end, offset;
        char perms[5];
        int n = 0;

        /* %n after the inode: whatever follows, less its leading blanks, is the path. */
        if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %*x:%*x %*u%n",
                   &start, &end, perms, &offset, &n) != 4 || n <= 0)
                return -EBADMSG;
        if (end < start || strlen(perms) != 4)
                return -EBADMSG;

        const char *p = line + n;
        p += strspn(p, " \t");

        *ret = (ProcMap) {
                .start = start,
                .end = end,
                .offset = offset,
                .readable = perms[0] == 'r',
                .writable = perms[1] == 'w',
                .executable = perms[2] == 'x',
        };
        if (*p) {
                ret->path = strdup(p);
                if (!ret->path)
                        return -ENOMEM;
        }
        return 0;
}

int procmaps_read(pid_t pid, ProcMaps *ret) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        ProcMaps m = {};
        size_t n_alloc = 0, cap = 0;
        char fn[64];
        int r;

        if (pid <= 0)
                return -ESRCH;

        snprintf(fn, sizeof(fn), "/proc/%d/maps", (int) pid);
        f = fopen(fn, "re");
        if (!f)
                return errno == ENOENT ? -ESRCH : -errno;

        for (;;) {
                errno = 0;
                ssize_t len = getline(&line, &cap, f);
                if (len < 0) {
                        if (errno == 0 || feof(f))
                                break;
                        r = errno == ENOENT ? -ESRCH : -errno;
                        goto fail;
                }
                if ((size_t) len > PROCMAPS_LINE_MAX) {
                        r = -EBADMSG;
                        goto fail;
                }
                if (len > 0 && line[len - 1] == '\n')
                        line[--len] = 0;
                if (len == 0)
                        continue;

                /* Beyond the cap we stop: the interpreter's mappings come early (they are
                 * mapped at exec and startup), the tail is heap churn. */
                if (m.n >= PROCMAPS_MAX)
                        break;

                if (m.n >= n_alloc) {
                        size_t k = n_alloc ? n_alloc * 2 : 256;
                        ProcMap *nm = reallocarray(m.maps, k, sizeof(*nm));
                        if (!nm) {
                                r = -ENOMEM;
                                goto fail;
                        }
                        m.maps = nm;
                        n_alloc = k;
                }
                r = parse_line(line, &m.maps[m.n]);
                if (r < 0)
                        goto fail;
                m.n++;
        }

        *ret = m;
        return 0;

fail:
        procmaps_done(&m);
        return r;
}

void procmaps_done(ProcMaps *m) {
        if (!m)
                return;
        for (size_t i = 0; i < m->n; i++)
                free(m->maps[i].path);
        free(m->maps);
        *m = (ProcMaps) {};
}

const ProcMap *procmaps_find_file(const ProcMaps *m, const char *path) {
        const ProcMap *best = NULL;

        if (!m || !path)
                return NULL;
        for (size_t i = 0; i < m->n; i++)
                if (streq_ptr(m->maps[i].path, path) && (!best || m->maps[i].start < best->start))
                        best = &m->maps[i];
        return best;
}
