/* SPDX-License-Identifier: MIT */
#pragma once

/* speedscope's JSON file format (https://www.speedscope.app/file-format-schema.json), the
 * `-f speedscope` output of record and the speedscope.json of incident bundles:
 *
 *     {"$schema": "https://www.speedscope.app/file-format-schema.json",
 *      "shared": {"frames": [{"name": "main", "file": "/srv/app.py", "line": 12}, ...]},
 *      "profiles": [{"type": "sampled", "name": "...", "unit": "seconds",
 *                    "startValue": 0, "endValue": 12.34,
 *                    "samples": [[0, 1, 2], ...], "weights": [0.01, ...]}, ...],
 *      "name": "...", "activeProfileIndex": 0, "exporter": "pyspy-watch 0.1.0"}
 *
 * Frames: shared.frames[i] is the Profile's frame i. A Python frame has its function as
 * "name", the file name as the interpreter holds it as "file" (speedscope shows it in full;
 * left out when unknown) and "line" when known (> 0); a thread or process frame has only its
 * label as "name". A missing or empty name is written "<unknown>".
 *
 * Profiles ("sampled"): one per thread when the stacks carry thread ids (recorded with
 * --threads), one per process when they come from several processes (--subprocesses), one
 * per (process, thread) when both: speedscope shows one thread at a time, as py-spy's
 * output does. A profile is named after the thread/process frames at the root of its stacks,
 * which are then left out of its samples (they would be the same root in every sample).
 * Otherwise there is one profile, named like the file, holding the stacks as they are.
 * Profiles come busiest first (then by process, thread), so activeProfileIndex 0 opens the
 * thread that ran the most. With no samples at all there is one empty profile.
 *
 * Samples are aggregated: each distinct stack once, root first (the schema's order: the
 * first index is the outermost frame), with its weight; stacks sharing a prefix are adjacent.
 * Units: "seconds" with weight = count / rate when the rate is known (ProfileInfo.rate > 0),
 * so speedscope shows time, as py-spy does; the rate asked, so this is an estimate when the
 * sampler ran late. Weights are exact decimals of count / rate truncated to 9 fractional
 * digits, written without the locale. With rate 0, unit "none" and weight = count. Each
 * profile has startValue 0 and endValue the sum of its weights (the profile's samples
 * laid end to end, which is how speedscope draws a sampled profile).
 *
 * Every string from the target goes through json_write_string(). */

#include <stdio.h>

#include "profile.h"

/* Writes p to f. Returns 0, -ENOMEM (before anything is written), or -EIO when f is in
 * error afterwards (flushed first). Never logs. */
int speedscope_write(FILE *f, const Profile *p);
