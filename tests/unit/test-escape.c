/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "macro.h"
#include "tests.h"

typedef int (*WriteN)(FILE *f, const char *s, size_t n);
typedef int (*Write)(FILE *f, const char *s);

/* Renders through a memstream; returns a malloc'd string, its length in *ret_len. */
static char *render_n(WriteN fn, const char *s, size_t n, size_t *ret_len) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        ASSERT_TRUE(f);
        ASSERT_EQ(fn(f, s, n), 0);
        ASSERT_EQ(fclose(f), 0);
        if (ret_len)
                *ret_len = len;
        return buf;
}

static char *render(Write fn, const char *s) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        ASSERT_TRUE(f);
        ASSERT_EQ(fn(f, s), 0);
        ASSERT_EQ(fclose(f), 0);
        ASSERT_EQ(strlen(buf), len);
        return buf;
}

#define CHECK(fn, in, expected)                                    \
        do {                                                       \
                _cleanup_free_ char *_out = render(fn, in);        \
                ASSERT_STREQ(_out, expected);                      \
        } while (0)

/* An independent strict UTF-8 check for the outputs: decode, then reject overlong forms,
 * surrogates and values past U+10FFFF (the writer's decoder works the other way round, by
 * bounding the second byte, so the two cross-check each other). */
static bool utf8_valid(const char *s, size_t n) {
        const uint8_t *p = (const uint8_t *) s;

        for (size_t i = 0; i < n;) {
                uint32_t cp, min;
                size_t len;

                if (p[i] < 0x80) {
                        i++;
                        continue;
                } else if ((p[i] & 0xE0) == 0xC0) {
                        len = 2, cp = p[i] & 0x1F, min = 0x80;
                } else if ((p[i] & 0xF0) == 0xE0) {
                        len = 3, cp = p[i] & 0x0F, min = 0x800;
                } else if ((p[i] & 0xF8) == 0xF0) {
                        len = 4, cp = p[i] & 0x07, min = 0x10000;
                } else
                        return false;
                if (n - i < len)
                        return false;
                for (size_t j = 1; j < len; j++) {
                        if ((p[i + j] & 0xC0) != 0x80)
                                return false;
                        cp = cp << 6 | (p[i + j] & 0x3F);
                }
                if (cp < min || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
                        return false;
                i += len;
        }
        return true;
}

/* True when the bytes hold no C0 control, DEL, or UTF-8-encoded C1 control. */
static bool no_raw_controls(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++) {
                uint8_t c = (uint8_t) s[i];

                if (c < 0x20 || c == 0x7F)
                        return false;
                if (c == 0xC2 && i + 1 < n && (uint8_t) s[i + 1] >= 0x80 && (uint8_t) s[i + 1] <= 0x9F)
                        return false;
        }
        return true;
}

/* True when the bytes hold none of the bidi/line-breaking formatting characters raw: U+061C,
 * U+200E/U+200F, U+2028-U+202E, U+2066-U+2069 (their UTF-8 forms). */
static bool no_raw_layout(const char *s, size_t n) {
        const uint8_t *p = (const uint8_t *) s;

        for (size_t i = 0; i + 1 < n; i++) {
                if (p[i] == 0xD8 && p[i + 1] == 0x9C)
                        return false;
                if (i + 2 >= n || p[i] != 0xE2)
                        continue;
                if (p[i + 1] == 0x80 &&
                    (p[i + 2] == 0x8E || p[i + 2] == 0x8F || (p[i + 2] >= 0xA8 && p[i + 2] <= 0xAE)))
                        return false;
                if (p[i + 1] == 0x81 && p[i + 2] >= 0xA6 && p[i + 2] <= 0xA9)
                        return false;
        }
        return true;
}

/* True when the bytes could sit in an XML attribute or text node: no markup characters, and
 * every '&' starts one of the references the writer emits. */
static bool xml_safe(const char *s, size_t n) {
        static const char *const refs[] = { "&amp;", "&lt;", "&gt;", "&quot;", "&apos;",
                                            "&#9;", "&#10;", "&#13;", "&#xFFFD;" };

        for (size_t i = 0; i < n; i++) {
                if (strchr("<>\"'", s[i]) && s[i])
                        return false;
                if (s[i] != '&')
                        continue;
                bool ok = false;
                for (size_t k = 0; k < ELEMENTSOF(refs); k++)
                        if (n - i >= strlen(refs[k]) && memcmp(s + i, refs[k], strlen(refs[k])) == 0)
                                ok = true;
                if (!ok)
                        return false;
        }
        return true;
}

/* Checks the properties every writer promises, for one input. */
static void check_properties(const char *in, size_t n) {
        _cleanup_free_ char *j = NULL, *t = NULL, *x = NULL;
        size_t jl, tl, xl;

        j = render_n(json_write_stringn, in, n, &jl);
        ASSERT_TRUE(jl >= 2 && j[0] == '"' && j[jl - 1] == '"');
        ASSERT_TRUE(utf8_valid(j, jl));
        ASSERT_TRUE(no_raw_controls(j, jl));
        ASSERT_TRUE(no_raw_layout(j, jl));
        /* Inside the quotes, every '"' must be escaped. */
        for (size_t i = 1; i + 1 < jl; i++)
                if (j[i] == '\\')
                        i++;
                else
                        ASSERT_TRUE(j[i] != '"');

        t = render_n(term_write_stringn, in, n, &tl);
        ASSERT_TRUE(utf8_valid(t, tl));
        ASSERT_TRUE(no_raw_controls(t, tl));
        ASSERT_TRUE(no_raw_layout(t, tl));

        x = render_n(xml_write_stringn, in, n, &xl);
        ASSERT_TRUE(utf8_valid(x, xl));
        ASSERT_TRUE(no_raw_controls(x, xl));
        ASSERT_TRUE(xml_safe(x, xl));
}

static void test_json(void) {
        CHECK(json_write_string, NULL, "null");
        CHECK(json_write_string, "", "\"\"");
        CHECK(json_write_string, "MainThread", "\"MainThread\"");
        CHECK(json_write_string, "<script>alert(1)</script>", "\"<script>alert(1)</script>\"");
        CHECK(json_write_string, "say \"hi\" & \\ 'bye'", "\"say \\\"hi\\\" & \\\\ 'bye'\"");
        CHECK(json_write_string, "\xff\xfe", "\"\\ufffd\\ufffd\"");
        CHECK(json_write_string, "\xc0\xaf", "\"\\ufffd\\ufffd\"");
        CHECK(json_write_string, "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
        CHECK(json_write_string, "\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
        CHECK(json_write_string, "\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"");
        CHECK(json_write_string, "\xe2\x82" "A", "\"\\ufffdA\"");
        CHECK(json_write_string, "x\xf0\x9f\x98", "\"x\\ufffd\"");
        CHECK(json_write_string, "\x80x\xbf", "\"\\ufffdx\\ufffd\"");
        CHECK(json_write_string, "\x1b[2J\x1b]0;pwned\x07", "\"\\u001b[2J\\u001b]0;pwned\\u0007\"");
        CHECK(json_write_string, "\xc2\x9b", "\"\\u009b\"");
        CHECK(json_write_string, "a\tb\nc\r\x7f\x01", "\"a\\u0009b\\u000ac\\u000d\\u007f\\u0001\"");
        CHECK(json_write_string, "\xe2\x80\xa8|\xe2\x80\xa9", "\"\\u2028|\\u2029\"");
        /* "Trojan Source" characters too: `dump --json` is read on a terminal. */
        CHECK(json_write_string, "user\xe2\x80\xae" "txt.exe", "\"user\\u202etxt.exe\"");
        CHECK(json_write_string, "\xe2\x81\xa6x\xe2\x81\xa9\xd8\x9c\xe2\x80\x8e\xe2\x80\x8f\xe2\x80\xaa",
              "\"\\u2066x\\u2069\\u061c\\u200e\\u200f\\u202a\"");
        /* Valid UTF-8 passes through untouched: é, ☃, U+FFFD itself, 😀, U+10FFFF. */
        CHECK(json_write_string, "h\xc3\xa9 \xe2\x98\x83 \xef\xbf\xbd \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf",
              "\"h\xc3\xa9 \xe2\x98\x83 \xef\xbf\xbd \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"");

        /* The _n variant escapes NULs and does not read past n. */
        _cleanup_free_ char *o = render_n(json_write_stringn, "a\0b\"zzz", 4, NULL);
        ASSERT_STREQ(o, "\"a\\u0000b\\\"\"");
        _cleanup_free_ char *o2 = render_n(json_write_stringn, "\xe2\x98\x83", 2, NULL);
        ASSERT_STREQ(o2, "\"\\ufffd\"");
}

static void test_term(void) {
        CHECK(term_write_string, NULL, "");
        CHECK(term_write_string, "wait", "wait");
        CHECK(term_write_string, "<script>alert(1)</script>", "<script>alert(1)</script>");
        /* Quotes and backslashes stay as they are: reprs already carry Python's escapes. */
        CHECK(term_write_string, "say \"hi\" & \\ 'bye'", "say \"hi\" & \\ 'bye'");
        CHECK(term_write_string, "'a\\nb'", "'a\\nb'");
        CHECK(term_write_string, "\xff\xfe", "\\xff\\xfe");
        CHECK(term_write_string, "\xc0\xaf", "\\xc0\\xaf");
        CHECK(term_write_string, "\xed\xa0\x80", "\\xed\\xa0\\x80");
        CHECK(term_write_string, "\xe2\x82" "A", "\\xe2\\x82A");
        CHECK(term_write_string, "\x1b[2J\x1b]0;pwned\x07", "\\x1b[2J\\x1b]0;pwned\\x07");
        CHECK(term_write_string, "\xc2\x9b" "31m", "\\u009b31m");
        CHECK(term_write_string, "\xc2\x85", "\\u0085");
        CHECK(term_write_string, "a\tb\nc\rd\x7f\x01", "a\\tb\\nc\\rd\\x7f\\x01");
        /* "Trojan Source": RLO, isolates and line separators are shown, not obeyed. */
        CHECK(term_write_string, "user\xe2\x80\xae" "txt.exe", "user\\u202etxt.exe");
        CHECK(term_write_string, "\xe2\x81\xa6x\xe2\x81\xa9\xe2\x80\xa8", "\\u2066x\\u2069\\u2028");
        CHECK(term_write_string, "h\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80 \xc2\xa0",
              "h\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80 \xc2\xa0");

        _cleanup_free_ char *o = render_n(term_write_stringn, "a\0b", 3, NULL);
        ASSERT_STREQ(o, "a\\x00b");
}

static void test_xml(void) {
        CHECK(xml_write_string, NULL, "");
        CHECK(xml_write_string, "main", "main");
        CHECK(xml_write_string, "<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;");
        CHECK(xml_write_string, "\"'&", "&quot;&apos;&amp;");
        CHECK(xml_write_string, "&amp;", "&amp;amp;");
        CHECK(xml_write_string, "\xff\xfe", "&#xFFFD;&#xFFFD;");
        CHECK(xml_write_string, "\xc0\xaf", "&#xFFFD;&#xFFFD;");
        CHECK(xml_write_string, "\xed\xa0\x80", "&#xFFFD;&#xFFFD;&#xFFFD;");
        CHECK(xml_write_string, "\x1b[2J\x1b]0;pwned\x07", "&#xFFFD;[2J&#xFFFD;]0;pwned&#xFFFD;");
        CHECK(xml_write_string, "\xc2\x9b", "&#xFFFD;");
        CHECK(xml_write_string, "a\tb\nc\rd\x7f", "a&#9;b&#10;c&#13;d&#xFFFD;");
        CHECK(xml_write_string, "\xef\xbf\xbe\xef\xbf\xbf", "&#xFFFD;&#xFFFD;");
        CHECK(xml_write_string, "h\xc3\xa9 \xef\xbf\xbd \xf0\x9f\x98\x80",
              "h\xc3\xa9 \xef\xbf\xbd \xf0\x9f\x98\x80");
}

static void test_long(void) {
        const size_t n = 100 * 1024;
        _cleanup_free_ char *plain = malloc(n + 1), *hostile = malloc(n + 1);
        _cleanup_free_ char *j = NULL, *t = NULL, *x = NULL, *jh = NULL, *th = NULL, *xh = NULL;

        ASSERT_TRUE(plain && hostile);
        for (size_t i = 0; i < n; i++)
                plain[i] = (char) ('a' + i % 26);
        plain[n] = 0;

        /* Plain text comes back byte for byte. */
        j = render(json_write_string, plain);
        ASSERT_EQ(strlen(j), n + 2);
        ASSERT_TRUE(j[0] == '"' && memcmp(j + 1, plain, n) == 0 && j[n + 1] == '"');
        t = render(term_write_string, plain);
        ASSERT_STREQ(t, plain);
        x = render(xml_write_string, plain);
        ASSERT_STREQ(x, plain);

        /* 4-byte units "<\x1b\xff\"", repeated: every byte escaped, with an exact total. */
        for (size_t i = 0; i < n; i += 4)
                memcpy(hostile + i, "<\x1b\xff\"", 4);
        hostile[n] = 0;
        jh = render(json_write_string, hostile);
        ASSERT_EQ(strlen(jh), 2 + (n / 4) * (1 + 6 + 6 + 2));
        ASSERT_TRUE(strncmp(jh, "\"<\\u001b\\ufffd\\\"<", 17) == 0);
        th = render(term_write_string, hostile);
        ASSERT_EQ(strlen(th), (n / 4) * (1 + 4 + 4 + 1));
        ASSERT_TRUE(strncmp(th, "<\\x1b\\xff\"<", 11) == 0);
        xh = render(xml_write_string, hostile);
        ASSERT_EQ(strlen(xh), (n / 4) * (4 + 8 + 8 + 6));
        ASSERT_TRUE(strncmp(xh, "&lt;&#xFFFD;&#xFFFD;&quot;&lt;", 30) == 0);
        check_properties(hostile, n);
}

static void test_exhaustive(void) {
        char in[3];

        /* Every one- and two-byte input, NUL included. */
        for (unsigned a = 0; a < 256; a++) {
                in[0] = (char) a;
                check_properties(in, 1);
                for (unsigned b = 0; b < 256; b++) {
                        in[1] = (char) b;
                        check_properties(in, 2);
                }
        }

        /* Random strings over the bytes that matter to a UTF-8 decoder, fixed seed so a failure
         * reproduces. */
        static const uint8_t alphabet[] = { 0x00, 0x1b, '"', '\\', '<', '&', '\'', 'a', 0x7f, 0x80,
                                            0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf,
                                            0xe0, 0xe2, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff,
                                            0x81, 0x9c, 0xa6, 0xae, 0xd8 };
        uint32_t seed = 12345;
        for (unsigned k = 0; k < 20000; k++) {
                char buf[16];
                size_t len;

                seed = seed * 1103515245u + 12345u;
                len = (seed >> 16) % sizeof(buf);
                for (size_t i = 0; i < len; i++) {
                        seed = seed * 1103515245u + 12345u;
                        buf[i] = (char) alphabet[(seed >> 16) % sizeof(alphabet)];
                }
                check_properties(buf, len);
        }
}

static void test_stream_error(void) {
        char buf[4];
        FILE *f = fmemopen(buf, sizeof(buf), "w");

        ASSERT_TRUE(f);
        /* Unbuffered, so the write that does not fit fails now and not at fclose(). */
        ASSERT_EQ(setvbuf(f, NULL, _IONBF, 0), 0);
        ASSERT_EQ(json_write_string(f, "far too long for four bytes"), -EIO);
        ASSERT_EQ(term_write_string(f, "x"), -EIO);
        ASSERT_EQ(xml_write_string(f, "x"), -EIO);
        (void) fclose(f);
}

int main(void) {
        test_json();
        test_term();
        test_xml();
        test_long();
        test_exhaustive();
        test_stream_error();
        return 0;
}
