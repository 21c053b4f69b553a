/* SPDX-License-Identifier: MIT */
/* Fuzzes the three line-table decoders (sampler/linetable.h) with arbitrary tables. Input:
 * u8 format (modulo 3), u8 signed_lnotab, i32 firstlineno, i32 addr, then the table. Every
 * offset up to twice the table's reach is looked up too. Promises: no read outside the
 * table (the sanitizers see to it), an answer for every offset, and the same answer twice
 * (the decoders are pure). Seeds: real tables from every CPython (tests/unit/fixtures). */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "linetable.h"

#define HARNESS "fuzz-linetable"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const LineTable formats[] = { LNOTAB, LINETABLE_310, LOCATIONS_311 };
        int32_t first, addr;

        if (size < 10)
                return 0;
        LineTable fmt = formats[data[0] % 3];
        int signed_lnotab = data[1] & 1;
        memcpy(&first, data + 2, 4);
        memcpy(&addr, data + 6, 4);
        const uint8_t *table = data + 10;
        size_t len = size - 10;

        /* An exact-size copy, so that a read past the end is a heap overflow. */
        uint8_t *copy = malloc(len ? len : 1);
        if (!copy)
                abort();
        memcpy(copy, table, len);
        int a = linetable_addr2line(fmt, copy, len, first, addr, signed_lnotab);
        int b = linetable_addr2line(fmt, copy, len, first, addr, signed_lnotab);
        fuzz_assert(HARNESS, "addr2line", a == b ? NULL : "two answers for one question");
        for (int64_t off = -2; off < (int64_t) len * 16 + 64; off += 2)
                (void) linetable_addr2line(fmt, copy, len, first, off, signed_lnotab);
        free(copy);
        return 0;
}
