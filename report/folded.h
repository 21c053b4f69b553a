/* SPDX-License-Identifier: MIT */
#pragma once

/* The folded (collapsed stacks) format of SPEC.md "folded", as flamegraph.pl, inferno and
 * speedscope read it: one line per distinct stack, root first, frames separated by ';', then
 * a space and the sample count:
 *
 *     main (app.py:12);handle (app.py:40);recv (socket.py:700) 1234
 *
 * A Python frame is `function (short_filename:line)`, without `:line` when the line is unknown
 * (0); a thread or process frame is its label as is. A missing or empty function name, and a
 * missing file name, are written `<unknown>`.
 *
 * ';' and the line break are the format's syntax, and every name comes from the target, so
 * each name is sanitised to keep every line parseable as `^(.+) (\d+)$` with no empty frame:
 *   - ';' becomes ':';
 *   - C0 controls (tab, LF, CR included), DEL, C1 controls, U+2028/U+2029 and the invisible
 *     bidirectional formatting characters (U+061C, U+200E/F, U+202A-E, U+2066-9) become '?';
 *   - each invalid UTF-8 stretch (strict decoding, one per maximal subpart, as escape.h)
 *     becomes U+FFFD.
 * Spaces stay: readers split the count off at the last space. The file is therefore valid
 * UTF-8 with no control characters, and sanitising is lossy: two stacks whose texts become
 * equal are merged into one line with the sum of their counts (as are stacks that differ only
 * by process or thread, which the text does not show unless --threads/--subprocesses put a
 * frame for it at the root).
 *
 * Lines are sorted by their bytes (strcmp order, independent of the locale) so two outputs
 * diff well. Stacks with no frames or a zero count are left out. */

#include <stdio.h>

#include "profile.h"

/* Writes p to f. Returns 0, -ENOMEM, or -EIO when f is in error afterwards (flushed first, so
 * a full disk shows here). Nothing is written on -ENOMEM. Never logs. */
int folded_write(FILE *f, const Profile *p);

/* One name sanitised as above (no frame syntax added). For tests and other writers that
 * embed names in folded-like text. Returns 0 or -EIO. */
int folded_write_name(FILE *f, const char *s);
