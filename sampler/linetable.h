/* SPDX-License-Identifier: MIT */
#pragma once

/* Line numbers from a code object's line table, one decoder per CPython format. Pure functions
 * of their input bytes (which come from the target, so they are bounded and never read past
 * len), used by the walker and fuzzed directly. Nothing here logs. */

#include <stddef.h>
#include <stdint.h>

#include "pyoffsets.h"

/* The source line of the instruction at byte offset addr of a code object whose first line is
 * firstlineno and whose line table (per format) is table[0..len). Mirrors PyCode_Addr2Line()
 * of the matching CPython version: a negative addr gives firstlineno. signed_lnotab selects
 * 3.6+ signed line deltas for LNOTAB (2.7's are unsigned). Returns the line, or -1 when the
 * instruction has no line (or the table ends before addr). */
int linetable_addr2line(LineTable format, const uint8_t *table, size_t len, int firstlineno,
                        int64_t addr, int signed_lnotab);
