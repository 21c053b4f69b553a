/* SPDX-License-Identifier: MIT */
#pragma once

/* The fuzz harnesses (tests/fuzz/fuzz-*.c), each one LLVMFuzzerTestOneInput(). Built two ways:
 * with clang's libFuzzer (`make fuzz`, and briefly in `make check`), and with replay.c's
 * main() under the ordinary sanitizer build, which runs the seed corpus and every past
 * crash (tests/fuzz/regress/) as a regression test.
 *
 * A harness aborts on a broken promise (below), so that the fuzzer records the input; every
 * other outcome, errors included, is a pass. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pyfind.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the walker's input: a synthetic memory image ----
 *
 *   FuzzWalkerHeader | image_len bytes mapped at FUZZ_BASE | patches
 *
 * A patch is { u32 offset into the image, u8 len, u8 before_sample, len bytes }: applied to
 * the image just before sample number before_sample (modulo the number of samples), which is
 * how the fuzzer moves memory under a warm walker, as a running target does. Integers are
 * little-endian. Changing this layout (or _PYSYM_MAX) invalidates the corpus: regenerate it
 * with `make fuzz-seeds`. */
#define FUZZ_BASE UINT64_C(0x7f1200000000)
#define FUZZ_MAX_SAMPLES 4
#define FUZZ_DEBUG_OFFSETS 0x80   /* flags: derive the row from the image's _Py_DebugOffsets */

typedef struct FuzzWalkerHeader {
        uint8_t row;        /* index into pyoffsets_all(), modulo the count */
        uint8_t flags;      /* WALK_* bits, FUZZ_DEBUG_OFFSETS */
        uint8_t samples;    /* 1 + samples % FUZZ_MAX_SAMPLES samples with one walker */
        uint8_t pad;
        uint32_t image_len;
        uint32_t sym[_PYSYM_MAX];   /* offsets from FUZZ_BASE; 0: the symbol is absent */
} FuzzWalkerHeader;

/* ---- promises about output (check.c) ----
 * Each returns NULL when buf[0..len) keeps the promise, else what is wrong. */

/* Valid UTF-8 (RFC 3629). */
const char *check_utf8(const uint8_t *buf, size_t len);
/* For a terminal: valid UTF-8 without C0 controls other than \n, without DEL, C1 controls,
 * or the bidirectional formatting characters escape.h lists. */
const char *check_terminal(const uint8_t *buf, size_t len);
/* One JSON text (RFC 8259) per line, each followed by \n, with no raw control character. */
const char *check_json_lines(const uint8_t *buf, size_t len);
/* One JSON document (newlines are white space), with no raw control character. */
const char *check_json(const uint8_t *buf, size_t len);
/* Well-formed as far as XML 1.0 characters go: valid UTF-8, no C0 controls but \t \n \r,
 * no DEL or C1, and no '<' that starts an element the writer did not write: every element
 * name is one of names[] (NULL-terminated). */
const char *check_xml(const uint8_t *buf, size_t len, const char *const *names);

/* Aborts with the input's harness name and the broken promise when why is not NULL. */
void fuzz_assert(const char *harness, const char *what, const char *why);
