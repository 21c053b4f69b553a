/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "incident.h"
#include "vacuum.h"

/* More bundles than this in one directory is not something the daemon made (max_incidents is
 * small); stop reading rather than grow without bound. */
#define VACUUM_ENTRIES_MAX 100000

typedef struct Bundle {
        char *name;
        int64_t id_time;
        struct timespec mtime;
        uint64_t bytes;
} Bundle;

/* Allocated bytes of the bundle's files (st_blocks: what the disk limit is about). */
static int bundle_bytes(int incidents_fd, const char *name, uint64_t *ret) {
        _cleanup_close_ int fd = openat(incidents_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct dirent *de;
        struct stat st;
        uint64_t sum = 0;

        if (fd < 0)
                return -errno;
        _cleanup_(closedirp) DIR *d = NULL;
        int r = dir_open_fd(fd, &d);
        if (r < 0)
                return r;
        if (fstat(fd, &st) == 0)
                sum += (uint64_t) st.st_blocks * 512;
        while ((de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;   /* gone meanwhile */
                sum += (uint64_t) st.st_blocks * 512;
        }
        *ret = sum;
        return 0;
}

static int bundle_compare(const void *a, const void *b) {
        const Bundle *x = a, *y = b;

        if (x->id_time != y->id_time)
                return x->id_time < y->id_time ? -1 : 1;
        if (x->mtime.tv_sec != y->mtime.tv_sec)
                return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
        if (x->mtime.tv_nsec != y->mtime.tv_nsec)
                return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
        return strcmp(x->name, y->name);
}

int vacuum_incidents(const char *state_dir, unsigned max_incidents, uint64_t max_bytes, const char *keep_id) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_(closedirp) DIR *d = NULL;
        Bundle *bundles = NULL;
        size_t n = 0, count;
        uint64_t total = 0;
        struct dirent *de;
        int removed = 0, r;

        r = incidents_dir_open(state_dir, &fd, &d);
        if (r < 0 || !d)
                return r;
        r = 0;

        while ((de = readdir(d)) && n < VACUUM_ENTRIES_MAX) {
                struct stat st;
                int64_t t;

                if (!incident_id_parse(de->d_name, &t, NULL))
                        continue;   /* ".", "..", .tmp-*, anything not ours */
                if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
                        continue;
                Bundle *nb = realloc(bundles, (n + 1) * sizeof(*nb));
                if (!nb) {
                        r = -ENOMEM;
                        goto finish;
                }
                bundles = nb;
                bundles[n] = (Bundle) { .id_time = t, .mtime = st.st_mtim };
                if (bundle_bytes(fd, de->d_name, &bundles[n].bytes) < 0)
                        continue;
                bundles[n].name = strdup(de->d_name);
                if (!bundles[n].name) {
                        r = -ENOMEM;
                        goto finish;
                }
                total += bundles[n].bytes;
                n++;
        }
        if (n > 0)
                qsort(bundles, n, sizeof(*bundles), bundle_compare);

        count = n;
        for (size_t i = 0; i < n; i++) {
                bool over_count = max_incidents > 0 && count > max_incidents;
                bool over_bytes = max_bytes > 0 && total > max_bytes;

                if (!over_count && !over_bytes)
                        break;
                if (keep_id && strcmp(bundles[i].name, keep_id) == 0)
                        continue;
                if (incident_dir_remove(fd, bundles[i].name) < 0)
                        continue;   /* not removable (holds a directory): counts, next one */
                count--;
                total -= bundles[i].bytes;
                removed++;
        }
        r = removed;
finish:
        for (size_t i = 0; i < n; i++)
                free(bundles[i].name);
        free(bundles);
        return r;
}
