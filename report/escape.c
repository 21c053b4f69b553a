/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "escape.h"

#define UTF8_INVALID UINT32_MAX

/* Decodes the UTF-8 sequence at p, of which n > 0 bytes are available. Returns its length and
 * sets *ret_cp to the code point, or to UTF8_INVALID when the first bytes returned form an
 * invalid stretch: a byte that cannot start a sequence (one byte), or the longest prefix of a
 * sequence that could still have become valid (the "maximal subpart" of Unicode chapter 3,
 * so a truncated 3-byte character costs one replacement, not two). The second-byte bounds
 * are what makes the decoder strict: they exclude overlong forms (E0 80..9F, F0 80..8F),
 * surrogates (ED A0..BF) and code points above U+10FFFF (F4 90..BF). */
static size_t utf8_next(const uint8_t *p, size_t n, uint32_t *ret_cp) {
        uint8_t c = p[0], lo = 0x80, hi = 0xBF;
        uint32_t cp;
        size_t len;

        if (c < 0x80) {
                *ret_cp = c;
                return 1;
        }
        if (c >= 0xC2 && c <= 0xDF) {
                len = 2;
                cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
                len = 3;
                cp = c & 0x0F;
                if (c == 0xE0)
                        lo = 0xA0;
                else if (c == 0xED)
                        hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
                len = 4;
                cp = c & 0x07;
                if (c == 0xF0)
                        lo = 0x90;
                else if (c == 0xF4)
                        hi = 0x8F;
        } else {
                /* A stray continuation byte, C0/C1 (only ever overlong) or F5..FF. */
                *ret_cp = UTF8_INVALID;
                return 1;
        }

        for (size_t i = 1; i < len; i++) {
                if (i >= n || p[i] < lo || p[i] > hi) {
                        *ret_cp = UTF8_INVALID;
                        return i;
                }
                cp = cp << 6 | (p[i] & 0x3F);
                lo = 0x80;
                hi = 0xBF;
        }
        *ret_cp = cp;
        return len;
}

static bool is_c0_or_del(uint32_t cp) {
        return cp < 0x20 || cp == 0x7F;
}

static bool is_c1(uint32_t cp) {
        return cp >= 0x80 && cp <= 0x9F;
}

/* Invisible characters that change how a line is shown: the bidi marks, embeddings, overrides
 * and isolates ("Trojan Source", CVE-2021-42574) and the Unicode line/paragraph separators. */
static bool is_layout_control(uint32_t cp) {
        return cp == 0x061C || cp == 0x200E || cp == 0x200F || cp == 0x2028 || cp == 0x2029 ||
                (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

/* Writes the pending pass-through bytes [*run, end) and moves *run to next. Runs keep the
 * common case (plain text) at one fwrite() per string instead of one putc() per byte. */
static void flush_run(FILE *f, const char **run, const char *end, const char *next) {
        if (end > *run)
                (void) fwrite(*run, 1, (size_t) (end - *run), f);
        *run = next;
}

static int stream_status(FILE *f) {
        return ferror(f) ? -EIO : 0;
}

int json_write_stringn(FILE *f, const char *s, size_t n) {
        const char *run;

        assert(f);

        if (!s) {
                (void) fputs("null", f);
                return stream_status(f);
        }

        (void) fputc('"', f);
        run = s;
        for (size_t i = 0; i < n;) {
                uint32_t cp;
                size_t l = utf8_next((const uint8_t *) s + i, n - i, &cp);

                if (cp == '"' || cp == '\\') {
                        flush_run(f, &run, s + i, s + i + l);
                        (void) fputc('\\', f);
                        (void) fputc((int) cp, f);
                } else if (cp == UTF8_INVALID) {
                        flush_run(f, &run, s + i, s + i + l);
                        (void) fputs("\\ufffd", f);
                } else if (is_c0_or_del(cp) || is_c1(cp) || is_layout_control(cp)) {
                        flush_run(f, &run, s + i, s + i + l);
                        (void) fprintf(f, "\\u%04x", (unsigned) cp);
                }
                i += l;
        }
        flush_run(f, &run, s + n, s + n);
        (void) fputc('"', f);

        return stream_status(f);
}

int json_write_string(FILE *f, const char *s) {
        return json_write_stringn(f, s, s ? strlen(s) : 0);
}

int term_write_stringn(FILE *f, const char *s, size_t n) {
        const char *run;

        assert(f);

        if (!s)
                return stream_status(f);

        run = s;
        for (size_t i = 0; i < n;) {
                uint32_t cp;
                size_t l = utf8_next((const uint8_t *) s + i, n - i, &cp);

                if (cp == UTF8_INVALID) {
                        flush_run(f, &run, s + i, s + i + l);
                        /* Byte by byte, so the reader sees exactly what the target held. */
                        for (size_t j = 0; j < l; j++)
                                (void) fprintf(f, "\\x%02x", (unsigned) (uint8_t) s[i + j]);
                } else if (cp == '\t' || cp == '\n' || cp == '\r') {
                        flush_run(f, &run, s + i, s + i + l);
                        (void) fputc('\\', f);
                        (void) fputc(cp == '\t' ? 't' : cp == '\n' ? 'n' : 'r', f);
                } else if (is_c0_or_del(cp)) {
                        flush_run(f, &run, s + i, s + i + l);
                        (void) fprintf(f, "\\x%02x", (unsigned) cp);
                } else if (is_c1(cp) || is_layout_control(cp)) {
                        flush_run(f, &run, s + i, s + i + l);
                        (void) fprintf(f, "\\u%04x", (unsigned) cp);
                }
                i += l;
        }
        flush_run(f, &run, s + n, s + n);

        return stream_status(f);
}

int term_write_string(FILE *f, const char *s) {
        return term_write_stringn(f, s, s ? strlen(s) : 0);
}

static const char *xml_entity(uint32_t cp) {
        switch (cp) {
        case '&':
                return "&amp;";
        case '<':
                return "&lt;";
        case '>':
                return "&gt;";
        case '"':
                return "&quot;";
        case '\'':
                return "&apos;";
        case '\t':
                return "&#9;";
        case '\n':
                return "&#10;";
        case '\r':
                return "&#13;";
        case UTF8_INVALID:
                return "&#xFFFD;";
        }
        /* XML 1.0 "Char" excludes the other C0 controls, surrogates (never decoded here) and
         * U+FFFE/U+FFFF; HTML additionally treats DEL and C1 controls as parse errors. */
        if (is_c0_or_del(cp) || is_c1(cp) || cp == 0xFFFE || cp == 0xFFFF)
                return "&#xFFFD;";
        return NULL;
}

int xml_write_stringn(FILE *f, const char *s, size_t n) {
        const char *run;

        assert(f);

        if (!s)
                return stream_status(f);

        run = s;
        for (size_t i = 0; i < n;) {
                uint32_t cp;
                size_t l = utf8_next((const uint8_t *) s + i, n - i, &cp);
                const char *e = xml_entity(cp);

                if (e) {
                        flush_run(f, &run, s + i, s + i + l);
                        (void) fputs(e, f);
                }
                i += l;
        }
        flush_run(f, &run, s + n, s + n);

        return stream_status(f);
}

int xml_write_string(FILE *f, const char *s) {
        return xml_write_stringn(f, s, s ? strlen(s) : 0);
}
