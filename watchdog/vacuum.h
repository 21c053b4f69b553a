/* SPDX-License-Identifier: MIT */
#pragma once

/* Retention of incident bundles, systemd's coredump-vacuum idea: after a bundle is written,
 * remove the oldest ones until both limits of the configuration hold. Nothing here logs. */

#include <stdint.h>

/* Removes bundles from state_dir/incidents/, oldest first (by the time in their ID, then by
 * mtime, then by name), until at most max_incidents remain and they take at most max_bytes of
 * disk (the allocated size of their files, as du counts it). 0 for either limit means no limit.
 * keep_id (may be NULL), the bundle just written, is never removed, even when it alone is over
 * the byte limit. Only directories whose name is an incident ID are counted or removed:
 * .tmp-* (being written), other names and non-directories are left alone, as are bundles
 * holding a subdirectory (we never write one). Returns the number removed (0 when incidents/
 * does not exist), or a negative errno when incidents/ cannot be read. */
int vacuum_incidents(const char *state_dir, unsigned max_incidents, uint64_t max_bytes, const char *keep_id);
