/* SPDX-License-Identifier: MIT */
/* The promises the writers make about their output (report/escape.h), checked on whatever the
 * fuzzers make them write. Small, strict validators: they accept what our writers produce
 * and real JSON/XML, nothing looser. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* The code point at buf[*i], advancing *i; -1 for an invalid sequence (RFC 3629). */
static long next_cp(const uint8_t *buf, size_t len, size_t *i) {
        uint8_t c = buf[*i];
        size_t n;
        long cp, min;

        if (c < 0x80) {
                (*i)++;
                return c;
        }
        if (c >= 0xc2 && c <= 0xdf)
                n = 1, cp = c & 0x1f, min = 0x80;
        else if (c >= 0xe0 && c <= 0xef)
                n = 2, cp = c & 0x0f, min = 0x800;
        else if (c >= 0xf0 && c <= 0xf4)
                n = 3, cp = c & 0x07, min = 0x10000;
        else
                return -1;
        if (len - *i < n + 1)
                return -1;
        for (size_t k = 1; k <= n; k++) {
                uint8_t cc = buf[*i + k];
                if ((cc & 0xc0) != 0x80)
                        return -1;
                cp = cp << 6 | (cc & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return -1;
        *i += n + 1;
        return cp;
}

const char *check_utf8(const uint8_t *buf, size_t len) {
        for (size_t i = 0; i < len;)
                if (next_cp(buf, len, &i) < 0)
                        return "invalid UTF-8";
        return NULL;
}

static bool is_bidi_or_break(long cp) {
        return cp == 0x061c || cp == 0x200e || cp == 0x200f || cp == 0x2028 || cp == 0x2029 ||
               (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

const char *check_terminal(const uint8_t *buf, size_t len) {
        for (size_t i = 0; i < len;) {
                long cp = next_cp(buf, len, &i);
                if (cp < 0)
                        return "invalid UTF-8 on a terminal";
                if ((cp < 0x20 && cp != '\n') || cp == 0x7f)
                        return "a raw C0 control or DEL on a terminal";
                if (cp >= 0x80 && cp <= 0x9f)
                        return "a raw C1 control on a terminal";
                if (is_bidi_or_break(cp))
                        return "a raw bidirectional or line-breaking control on a terminal";
        }
        return NULL;
}

/* ---- JSON ---- */

typedef struct Cursor {
        const uint8_t *buf;
        size_t len, i;
        const char *err;
        bool newlines;   /* JSON: a newline is white space (one document, not one per line) */
} Cursor;

#define JSON_MAX_DEPTH 64

static void ws(Cursor *c) {
        while (c->i < c->len && (c->buf[c->i] == ' ' || c->buf[c->i] == '\t' || c->buf[c->i] == '\r' ||
                                 (c->newlines && c->buf[c->i] == '\n')))
                c->i++;
}

static bool fail(Cursor *c, const char *err) {
        if (!c->err)
                c->err = err;
        return false;
}

static bool eat(Cursor *c, char ch) {
        ws(c);
        if (c->i < c->len && c->buf[c->i] == (uint8_t) ch) {
                c->i++;
                return true;
        }
        return false;
}

static bool hex4(Cursor *c) {
        for (int k = 0; k < 4; k++, c->i++)
                if (c->i >= c->len || !strchr("0123456789abcdefABCDEF", c->buf[c->i]) || c->buf[c->i] == 0)
                        return false;
        return true;
}

static bool json_string(Cursor *c) {
        if (!eat(c, '"'))
                return fail(c, "JSON: a string was expected");
        while (c->i < c->len) {
                uint8_t ch = c->buf[c->i];
                if (ch == '"') {
                        c->i++;
                        return true;
                }
                if (ch < 0x20)
                        return fail(c, "JSON: a raw control character in a string");
                if (ch == '\\') {
                        c->i++;
                        if (c->i >= c->len)
                                break;
                        ch = c->buf[c->i++];
                        if (ch == 'u') {
                                if (!hex4(c))
                                        return fail(c, "JSON: a bad \\u escape");
                        } else if (!strchr("\"\\/bfnrt", ch) || ch == 0)
                                return fail(c, "JSON: an unknown escape");
                        continue;
                }
                if (next_cp(c->buf, c->len, &c->i) < 0)
                        return fail(c, "JSON: invalid UTF-8 in a string");
        }
        return fail(c, "JSON: an unterminated string");
}

static bool json_number(Cursor *c) {
        size_t start = c->i;
        if (c->i < c->len && c->buf[c->i] == '-')
                c->i++;
        if (c->i < c->len && c->buf[c->i] == '0')
                c->i++;
        else if (c->i < c->len && c->buf[c->i] >= '1' && c->buf[c->i] <= '9')
                while (c->i < c->len && c->buf[c->i] >= '0' && c->buf[c->i] <= '9')
                        c->i++;
        else
                return fail(c, "JSON: a value was expected");
        if (c->i < c->len && c->buf[c->i] == '.') {
                c->i++;
                if (c->i >= c->len || c->buf[c->i] < '0' || c->buf[c->i] > '9')
                        return fail(c, "JSON: a bad fraction");
                while (c->i < c->len && c->buf[c->i] >= '0' && c->buf[c->i] <= '9')
                        c->i++;
        }
        if (c->i < c->len && (c->buf[c->i] == 'e' || c->buf[c->i] == 'E')) {
                c->i++;
                if (c->i < c->len && (c->buf[c->i] == '+' || c->buf[c->i] == '-'))
                        c->i++;
                if (c->i >= c->len || c->buf[c->i] < '0' || c->buf[c->i] > '9')
                        return fail(c, "JSON: a bad exponent");
                while (c->i < c->len && c->buf[c->i] >= '0' && c->buf[c->i] <= '9')
                        c->i++;
        }
        return c->i > start;
}

static bool json_value(Cursor *c, unsigned depth) {
        if (depth > JSON_MAX_DEPTH)
                return fail(c, "JSON: nested too deep");
        ws(c);
        if (c->i >= c->len)
                return fail(c, "JSON: a value was expected");
        switch (c->buf[c->i]) {
        case '"':
                return json_string(c);
        case '{':
                c->i++;
                if (eat(c, '}'))
                        return true;
                do {
                        if (!json_string(c))
                                return false;
                        if (!eat(c, ':'))
                                return fail(c, "JSON: ':' was expected");
                        if (!json_value(c, depth + 1))
                                return false;
                } while (eat(c, ','));
                return eat(c, '}') || fail(c, "JSON: '}' was expected");
        case '[':
                c->i++;
                if (eat(c, ']'))
                        return true;
                do {
                        if (!json_value(c, depth + 1))
                                return false;
                } while (eat(c, ','));
                return eat(c, ']') || fail(c, "JSON: ']' was expected");
        }
        static const char *const words[] = { "true", "false", "null" };
        for (size_t k = 0; k < 3; k++) {
                size_t n = strlen(words[k]);
                if (c->len - c->i >= n && memcmp(c->buf + c->i, words[k], n) == 0) {
                        c->i += n;
                        return true;
                }
        }
        return json_number(c);
}

const char *check_json_lines(const uint8_t *buf, size_t len) {
        Cursor c = { .buf = buf, .len = len };

        if (len == 0)
                return "JSON: empty output";
        while (c.i < c.len) {
                if (!json_value(&c, 0))
                        return c.err;
                ws(&c);
                if (c.i >= c.len || c.buf[c.i] != '\n')
                        return "JSON: a text does not end its line";
                c.i++;
        }
        return NULL;
}

const char *check_json(const uint8_t *buf, size_t len) {
        Cursor c = { .buf = buf, .len = len, .newlines = true };

        if (!json_value(&c, 0))
                return c.err;
        ws(&c);
        return c.i == c.len ? NULL : "JSON: text after the document";
}

/* ---- XML ---- */

#define XML_MAX_DEPTH 256

static bool name_char(uint8_t ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
               ch == '-' || ch == '_' || ch == ':' || ch == '.';
}

static bool skip_past(Cursor *c, const char *end) {
        size_t n = strlen(end);
        while (c->len - c->i >= n) {
                if (memcmp(c->buf + c->i, end, n) == 0) {
                        c->i += n;
                        return true;
                }
                c->i++;
        }
        return false;
}

/* Character data up to the next '<' (or an attribute value up to quote): entities must be
 * the five predefined or numeric; characters must be XML 1.0 Chars we may write. */
static bool xml_chars(Cursor *c, uint8_t quote) {
        while (c->i < c->len && c->buf[c->i] != '<' && c->buf[c->i] != quote) {
                if (c->buf[c->i] == '&') {
                        static const char *const ents[] = { "&amp;", "&lt;", "&gt;", "&quot;", "&apos;" };
                        bool ok = false;
                        for (size_t k = 0; k < 5 && !ok; k++) {
                                size_t n = strlen(ents[k]);
                                ok = c->len - c->i >= n && memcmp(c->buf + c->i, ents[k], n) == 0;
                                if (ok)
                                        c->i += n;
                        }
                        if (!ok && c->len - c->i >= 4 && c->buf[c->i + 1] == '#') {
                                size_t k = c->i + 2;
                                bool hex = k < c->len && c->buf[k] == 'x';
                                k += hex;
                                size_t digits = 0;
                                while (k < c->len && strchr(hex ? "0123456789abcdefABCDEF" : "0123456789", c->buf[k]) && c->buf[k])
                                        k++, digits++;
                                ok = digits > 0 && k < c->len && c->buf[k] == ';';
                                if (ok)
                                        c->i = k + 1;
                        }
                        if (!ok)
                                return fail(c, "XML: a bare '&'");
                        continue;
                }
                if (quote && c->buf[c->i] == '<')
                        return fail(c, "XML: '<' in an attribute");
                long cp = next_cp(c->buf, c->len, &c->i);
                if (cp < 0)
                        return fail(c, "XML: invalid UTF-8");
                if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || cp == 0x7f ||
                    (cp >= 0x80 && cp <= 0x9f) || cp == 0xfffe || cp == 0xffff)
                        return fail(c, "XML: a character XML or HTML forbids");
        }
        return true;
}

static bool xml_name(Cursor *c, const char *const *names, char *out, size_t outlen) {
        size_t start = c->i;
        while (c->i < c->len && name_char(c->buf[c->i]))
                c->i++;
        size_t n = c->i - start;
        if (n == 0 || n >= outlen)
                return fail(c, "XML: a bad name");
        memcpy(out, c->buf + start, n);
        out[n] = 0;
        if (names) {
                for (size_t k = 0; names[k]; k++)
                        if (strcmp(names[k], out) == 0)
                                return true;
                return fail(c, "XML: an element the writer does not write");
        }
        return true;
}

const char *check_xml(const uint8_t *buf, size_t len, const char *const *names) {
        Cursor c = { .buf = buf, .len = len };
        static char stack[XML_MAX_DEPTH][32];
        size_t depth = 0, scripts = 0, roots = 0;

        if (check_utf8(buf, len))
                return "XML: invalid UTF-8";
        while (c.i < c.len) {
                if (c.buf[c.i] != '<') {
                        if (!xml_chars(&c, 0))
                                return c.err;
                        continue;
                }
                const char *rest = (const char *) c.buf + c.i;
                size_t left = c.len - c.i;
#define STARTS(s) (left >= strlen(s) && memcmp(rest, s, strlen(s)) == 0)
                if (STARTS("<![CDATA[")) {
                        if (depth == 0 || !skip_past(&c, "]]>"))
                                return "XML: a CDATA section out of place or unterminated";
                        continue;
                }
                if (STARTS("<!--")) {
                        if (!skip_past(&c, "-->"))
                                return "XML: an unterminated comment";
                        continue;
                }
                if (STARTS("<?") || STARTS("<!")) {
                        if (depth > 0 || !skip_past(&c, ">"))
                                return "XML: a declaration out of place";
                        continue;
                }
#undef STARTS
                c.i++;
                char name[32];
                if (c.i < c.len && c.buf[c.i] == '/') {
                        c.i++;
                        if (!xml_name(&c, NULL, name, sizeof(name)))
                                return c.err;
                        if (depth == 0 || strcmp(stack[depth - 1], name) != 0)
                                return "XML: a closing tag that does not match";
                        depth--;
                        if (!eat(&c, '>'))
                                return "XML: '>' expected";
                        continue;
                }
                if (!xml_name(&c, names, name, sizeof(name)))
                        return c.err;
                if (strcmp(name, "script") == 0 && ++scripts > 1)
                        return "XML: more than one script element";
                if (depth == 0 && ++roots > 1)
                        return "XML: more than one root element";
                for (;;) {
                        size_t before = c.i;
                        ws(&c);
                        while (c.i < c.len && c.buf[c.i] == '\n')
                                c.i++, ws(&c);
                        if (eat(&c, '>')) {
                                if (depth >= XML_MAX_DEPTH)
                                        return "XML: nested too deep";
                                strcpy(stack[depth++], name);
                                break;
                        }
                        if (c.len - c.i >= 2 && c.buf[c.i] == '/' && c.buf[c.i + 1] == '>') {
                                c.i += 2;
                                break;
                        }
                        if (c.i == before)
                                return "XML: no space before an attribute";
                        char attr[32];
                        if (!xml_name(&c, NULL, attr, sizeof(attr)))
                                return c.err;
                        if (!eat(&c, '='))
                                return "XML: '=' expected after an attribute name";
                        ws(&c);
                        if (c.i >= c.len || (c.buf[c.i] != '"' && c.buf[c.i] != '\''))
                                return "XML: a quoted attribute value expected";
                        uint8_t q = c.buf[c.i++];
                        if (!xml_chars(&c, q))
                                return c.err;
                        if (c.i >= c.len || c.buf[c.i] != q)
                                return "XML: an unterminated attribute value";
                        c.i++;
                }
        }
        if (depth != 0)
                return "XML: unclosed elements at the end";
        if (roots != 1)
                return "XML: no root element";
        return NULL;
}

void fuzz_assert(const char *harness, const char *what, const char *why) {
        if (!why)
                return;
        fprintf(stderr, "%s: %s: %s\n", harness, what, why);
        abort();
}
