/* SPDX-License-Identifier: MIT */
#include <stdbool.h>

#include "linetable.h"
#include "macro.h"

/* co_lnotab (<= 3.9): (address increment, line increment) byte pairs. Python 2.7 treats the
 * line increment as unsigned; 3.6 made it signed so that lines can go backwards. The line of
 * addr is the line reached before the address passes it (Objects/codeobject.c, 3.9). */
static int lnotab_addr2line(const uint8_t *t, size_t len, int firstlineno, int64_t addr, int signed_lnotab) {
        int64_t a = 0;
        int64_t line = firstlineno;

        for (size_t i = 0; i + 1 < len; i += 2) {
                a += t[i];
                if (a > addr)
                        break;
                line += signed_lnotab ? (int8_t) t[i + 1] : t[i + 1];
        }
        return (int) line;
}

/* 3.10 co_linetable: (byte length of the range, signed line delta) pairs; a delta of -128
 * means "no line" for that range. Ranges of zero length only carry line deltas. */
static int linetable310_addr2line(const uint8_t *t, size_t len, int firstlineno, int64_t addr) {
        int64_t start = 0, end = 0, computed = firstlineno, line = -1;
        size_t i = 0;

        while (end <= addr) {
                if (i + 1 >= len)
                        return -1;
                do {
                        if (i + 1 >= len)
                                return -1;
                        start = end;
                        end += t[i];
                        int8_t ldelta = (int8_t) t[i + 1];
                        i += 2;
                        if (ldelta == -128)
                                line = -1;
                        else {
                                computed += ldelta;
                                line = computed;
                        }
                } while (start == end);
        }
        return (int) line;
}

/* 3.11+ location table (Objects/locations.md): each entry starts with a byte whose top bit is
 * set; bits 3-6 are the entry kind and bits 0-2 the length in code units minus one. Kinds 13
 * and 14 carry a signed varint line delta, 10-12 a fixed delta of 0-2, 15 means no location,
 * and 0-9 (short forms) keep the line. Varints are 6 bits per byte, bit 6 = more. */
static bool read_varint(const uint8_t *t, size_t len, size_t *i, uint64_t *ret) {
        uint64_t v = 0;
        unsigned shift = 0;

        for (;;) {
                if (*i >= len || shift > 42)   /* 7 bytes = 42 bits: far beyond any real line */
                        return false;
                uint8_t b = t[(*i)++];
                v |= (uint64_t) (b & 63) << shift;
                shift += 6;
                if (!(b & 64))
                        break;
        }
        *ret = v;
        return true;
}

static int64_t entry_line_delta(const uint8_t *t, size_t len, size_t i) {
        unsigned kind = (t[i] >> 3) & 15;
        uint64_t u;
        size_t j = i + 1;

        switch (kind) {
        case 13: /* no column info */
        case 14: /* long form */
                if (!read_varint(t, len, &j, &u))
                        return 0;
                return (u & 1) ? -(int64_t) (u >> 1) : (int64_t) (u >> 1);
        case 10:
        case 11:
        case 12:
                return kind - 10;
        default:
                return 0;
        }
}

static int locations_addr2line(const uint8_t *t, size_t len, int firstlineno, int64_t addr) {
        int64_t start = 0, end = 0, computed = firstlineno, line = -1;
        size_t i = 0;

        while (end <= addr) {
                do {
                        if (i >= len)
                                return -1;
                        computed += entry_line_delta(t, len, i);
                        line = (t[i] >> 3) == 0x1f ? -1 : computed;
                        start = end;
                        end += ((t[i] & 7) + 1) * 2;
                        do
                                i++;
                        while (i < len && !(t[i] & 128));
                } while (start == end);
        }
        return (int) line;
}

int linetable_addr2line(LineTable format, const uint8_t *table, size_t len, int firstlineno,
                        int64_t addr, int signed_lnotab) {
        if (addr < 0)
                return firstlineno;
        switch (format) {
        case LNOTAB:
                return lnotab_addr2line(table, len, firstlineno, addr, signed_lnotab);
        case LINETABLE_310:
                return linetable310_addr2line(table, len, firstlineno, addr);
        case LOCATIONS_311:
                return locations_addr2line(table, len, firstlineno, addr);
        default:
                return -1;
        }
}
