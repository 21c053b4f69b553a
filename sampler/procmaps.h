/* SPDX-License-Identifier: MIT */
#pragma once

/* /proc/PID/maps, parsed. Nothing here logs. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct ProcMap {
        uint64_t start, end, offset;
        bool readable, writable, executable;
        char *path;        /* NULL for anonymous mappings; owned by the ProcMaps */
} ProcMap;

typedef struct ProcMaps {
        ProcMap *maps;
        size_t n;
} ProcMaps;

/* Reads /proc/PID/maps. -ESRCH no such process, -EACCES/-EPERM not allowed, -ENOMEM. At most
 * PROCMAPS_MAX entries are kept (hostile or huge processes). */
int procmaps_read(pid_t pid, ProcMaps *ret);
void procmaps_done(ProcMaps *m);

/* The mapping of path with the lowest start address, or NULL. */
const ProcMap *procmaps_find_file(const ProcMaps *m, const char *path);

#define PROCMAPS_MAX 65536
