/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "folded.h"
#include "macro.h"
#include "profile.h"
#include "tests.h"

#define PY(fn, file, ln) ((ProfileFrame) { .kind = PROFILE_FRAME_PYTHON, .function = (fn), .filename = (file), .line = (ln) })
#define THREAD(label) ((ProfileFrame) { .kind = PROFILE_FRAME_THREAD, .function = (label) })
#define PROCESS(label) ((ProfileFrame) { .kind = PROFILE_FRAME_PROCESS, .function = (label) })

/* Adds a stack given innermost first, like profile_add_stack(). */
#define ADD(p, pid, tid, count, ...)                                                                \
        do {                                                                                        \
                const ProfileFrame _fr[] = { __VA_ARGS__ };                                         \
                ASSERT_OK(profile_add_stack((p), (pid), (tid), _fr, ELEMENTSOF(_fr), (count)));     \
        } while (0)

static char *render(const Profile *p) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        ASSERT_TRUE(f);
        ASSERT_EQ(folded_write(f, p), 0);
        ASSERT_EQ(fclose(f), 0);
        ASSERT_EQ(strlen(buf), len);
        return buf;
}

static char *render_name(const char *s) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        ASSERT_TRUE(f);
        ASSERT_EQ(folded_write_name(f, s), 0);
        ASSERT_EQ(fclose(f), 0);
        return buf;
}

#define CHECK_NAME(in, expected)                                   \
        do {                                                       \
                _cleanup_free_ char *_out = render_name(in);       \
                ASSERT_STREQ(_out, expected);                      \
        } while (0)

/* An independent check of what makes a folded file parseable, byte by byte: valid UTF-8 (by
 * decoding then rejecting overlong forms, surrogates and values past U+10FFFF), no control
 * character but the line ends, and each line "FRAMES COUNT" with non-empty frames. */
static void check_parseable(const char *out) {
        const uint8_t *p = (const uint8_t *) out;
        size_t n = strlen(out);

        for (size_t i = 0; i < n;) {
                uint32_t cp, min;
                size_t len;

                if (p[i] < 0x80) {
                        ASSERT_TRUE(p[i] == '\n' || (p[i] >= 0x20 && p[i] != 0x7F));
                        i++;
                        continue;
                }
                if ((p[i] & 0xE0) == 0xC0)
                        len = 2, cp = p[i] & 0x1F, min = 0x80;
                else if ((p[i] & 0xF0) == 0xE0)
                        len = 3, cp = p[i] & 0x0F, min = 0x800;
                else {
                        ASSERT_EQ(p[i] & 0xF8, 0xF0);
                        len = 4, cp = p[i] & 0x07, min = 0x10000;
                }
                ASSERT_TRUE(i + len <= n);
                for (size_t j = 1; j < len; j++) {
                        ASSERT_EQ(p[i + j] & 0xC0, 0x80);
                        cp = cp << 6 | (p[i + j] & 0x3F);
                }
                ASSERT_TRUE(cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF));
                ASSERT_TRUE(cp > 0x9F);                         /* no C1 control */
                ASSERT_TRUE(cp != 0x2028 && cp != 0x2029);
                ASSERT_TRUE(!(cp >= 0x202A && cp <= 0x202E));
                i += len;
        }

        ASSERT_TRUE(n == 0 || out[n - 1] == '\n');
        for (const char *line = out; *line;) {
                const char *eol = strchr(line, '\n'), *sp = eol;

                ASSERT_TRUE(eol);
                while (sp > line && sp[-1] != ' ')
                        sp--;
                ASSERT_TRUE(sp > line + 1);                      /* "X COUNT", X not empty */
                ASSERT_TRUE(sp < eol);                           /* a count */
                for (const char *c = sp; c < eol; c++)
                        ASSERT_TRUE(*c >= '0' && *c <= '9');
                /* No empty frame: no leading, trailing or doubled ';'. */
                ASSERT_TRUE(line[0] != ';' && sp[-2] != ';');
                ASSERT_TRUE(!memmem(line, (size_t) (sp - line), ";;", 2));
                line = eol + 1;
        }
}

static void test_spec_example(void) {
        _cleanup_(profile_freep) Profile *p = NULL;
        _cleanup_free_ char *out = NULL;

        ASSERT_OK(profile_new(&p));
        ADD(p, 42, 0, 1234,
            PY("recv", "/usr/lib/python3.11/socket.py", 700),
            PY("handle", "/srv/app/app.py", 40),
            PY("main", "/srv/app/app.py", 12));
        out = render(p);
        ASSERT_STREQ(out, "main (app.py:12);handle (app.py:40);recv (socket.py:700) 1234\n");
        check_parseable(out);
}

static void test_order_lines_and_labels(void) {
        _cleanup_(profile_freep) Profile *p = NULL;
        _cleanup_free_ char *out = NULL;

        ASSERT_OK(profile_new(&p));
        /* Inserted out of order; line 0 has no ":0"; the short names keep package paths. */
        ADD(p, 42, 0, 3, PY("z", "/srv/app/app.py", 0), PY("main", "/srv/app/app.py", 12));
        ADD(p, 42, 0, 2,
            PY("get", "/venv/lib/python3.12/site-packages/requests/api.py", 73),
            PY("main", "/srv/app/app.py", 12));
        ADD(p, 42, 0, 1, PY("main", "/srv/app/app.py", 12));
        ADD(p, 42, 0, 5, PY("decode", "/usr/lib/python3.12/json/decoder.py", 337), PY("main", "/srv/app/app.py", 12));
        /* Thread and process labels are written as they are (sanitised). */
        ADD(p, 42, 0x7f00, 7, PY("run", "/srv/app/worker.py", 9), THREAD("thread (0x7f00) \"Worker-1\""),
            PROCESS("process 42"));
        out = render(p);
        ASSERT_STREQ(out,
                     "main (app.py:12) 1\n"
                     "main (app.py:12);decode (json/decoder.py:337) 5\n"
                     "main (app.py:12);get (requests/api.py:73) 2\n"
                     "main (app.py:12);z (app.py) 3\n"
                     "process 42;thread (0x7f00) \"Worker-1\";run (worker.py:9) 7\n");
        check_parseable(out);
}

static void test_merge(void) {
        _cleanup_(profile_freep) Profile *p = NULL;
        _cleanup_free_ char *out = NULL;

        ASSERT_OK(profile_new(&p));
        /* The same stack from two threads and two processes (no --threads): one line. */
        ADD(p, 1, 0, 2, PY("f", "/a/m.py", 1));
        ADD(p, 2, 0, 3, PY("f", "/a/m.py", 1));
        ADD(p, 1, 0x10, 4, PY("f", "/a/m.py", 1));
        /* Different files with the same short name, and names that sanitise alike. */
        ADD(p, 1, 0, 10, PY("f", "/b/m.py", 1));
        ADD(p, 1, 0, 1, PY("g;h", "/a/m.py", 2));
        ADD(p, 1, 0, 1, PY("g:h", "/a/m.py", 2));
        ADD(p, 1, 0, 1, PY("g\nh", "/a/m.py", 3));
        ADD(p, 1, 0, 1, PY("g\th", "/a/m.py", 3));
        /* Frames splitting differently but joining to the same text: "a;b" + "c" vs "a" +
         * "b;c" would collide on raw text; sanitised, they do not ("a:b;c" vs "a;b:c"). */
        ADD(p, 1, 0, 1, THREAD("c"), THREAD("a;b"));
        ADD(p, 1, 0, 1, THREAD("b;c"), THREAD("a"));
        /* Skipped: zero count, no frames. */
        ADD(p, 1, 0, 0, PY("never", "/a/m.py", 1));
        ASSERT_OK(profile_add_stack(p, 1, 0, NULL, 0, 9));
        out = render(p);
        ASSERT_STREQ(out,
                     "a:b;c 1\n"
                     "a;b:c 1\n"
                     "f (m.py:1) 19\n"
                     "g:h (m.py:2) 2\n"
                     "g?h (m.py:3) 2\n");
        check_parseable(out);
}

static void test_sanitise(void) {
        CHECK_NAME("plain name", "plain name");
        CHECK_NAME("a;b;;c", "a:b::c");
        CHECK_NAME("new\nline\r\ttab", "new?line??tab");
        CHECK_NAME("\x1b[31mred\x7f", "?[31mred?");
        CHECK_NAME("c1 \xc2\x85 \xc2\x9b", "c1 ? ?");
        CHECK_NAME("ls \xe2\x80\xa8 ps \xe2\x80\xa9", "ls ? ps ?");
        CHECK_NAME("bidi \xe2\x80\xae\xe2\x81\xa6\xd8\x9c\xe2\x80\x8f", "bidi ????");
        CHECK_NAME("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x8d \xe4\xb8\xad", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x8d \xe4\xb8\xad");
        CHECK_NAME("\xff", "\xef\xbf\xbd");
        /* Maximal subparts: a truncated 3-byte sequence is one replacement, an overlong
         * 2-byte form two, an encoded surrogate three, a value past U+10FFFF four. */
        CHECK_NAME("\xe2\x82" "A", "\xef\xbf\xbd" "A");
        CHECK_NAME("\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd");
        CHECK_NAME("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
        CHECK_NAME("\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
        CHECK_NAME("end\xf0\x9f\x90", "end\xef\xbf\xbd");
        CHECK_NAME("", "");
}

static void test_hostile(void) {
        _cleanup_(profile_freep) Profile *p = NULL;
        _cleanup_free_ char *out = NULL, *huge = NULL;
        const size_t huge_len = 100 * 1024;

        huge = malloc(huge_len + 1);
        ASSERT_TRUE(huge);
        for (size_t i = 0; i < huge_len; i++)
                huge[i] = "ab;\n \xff"[i % 6];
        huge[huge_len] = 0;

        ASSERT_OK(profile_new(&p));
        ADD(p, 7, 0, 3,
            PY("evil\" 99\n;x", "/srv/evil\n;dir/fi le;\x1b.py", 5),
            PY("", NULL, 0),
            PY(NULL, "/srv/x.py", 1));
        ADD(p, 7, 0, 1, PY("trailing space ", "/srv/ 12", 2));
        ADD(p, 7, 0, 2, PY("99", "/srv/x.py", 3));
        ADD(p, 7, 0, 4, THREAD(""), THREAD(NULL));
        ADD(p, 7, 0, 5, PY(huge, huge, 0), PY("main", "/srv/x.py", 1));
        out = render(p);

        check_parseable(out);
        /* The file name's directory is dropped (short name); the rest is sanitised. */
        ASSERT_TRUE(strstr(out, "<unknown> (x.py:1);<unknown> (<unknown>);evil\" 99?:x (fi le:?.py:5) 3\n"));
        ASSERT_TRUE(strstr(out, "<unknown>;<unknown> 4\n"));
        ASSERT_TRUE(strstr(out, "trailing space  ( 12:2) 1\n"));
        ASSERT_TRUE(strstr(out, "99 (x.py:3) 2\n"));

        /* The huge name is kept whole: 100 KB of input, each "\xff" now 3 bytes. */
        const char *big = strstr(out, "main (x.py:1);ab:? ");
        ASSERT_TRUE(big);
        const char *eol = strchr(big, '\n');
        ASSERT_TRUE(eol);
        _cleanup_free_ char *huge_text = render_name(huge);
        size_t l = strlen(huge_text);
        ASSERT_EQ(l, huge_len / 6 * 8 + 4);  /* "ab;\n \xff" is "ab:? \ufffd"; 4 bytes left over */
        ASSERT_EQ((size_t) (eol - big), strlen("main (x.py:1);") + l + strlen(" (") + l + strlen(") 5"));

        /* For tests/check-folded.py (tests run from the repository root). */
        (void) mkdir("tests/out", 0755);
        FILE *f = fopen("tests/out/folded-sample.txt", "we");
        ASSERT_TRUE(f);
        ASSERT_EQ(folded_write(f, p), 0);
        ASSERT_EQ(fclose(f), 0);
}

/* Random stacks over names that are prefixes of one another, or sanitise alike, checked
 * against the definition: lines strictly increasing in strcmp() order of their stack text
 * (so also distinct), and no sample lost. */
static void test_random_order(void) {
        static const char *const names[] = { "a", "ab", "a b", "a;b", "a:b", "b", "", "a\n" };
        _cleanup_(profile_freep) Profile *p = NULL;
        _cleanup_free_ char *out = NULL;
        uint64_t total = 0, seen = 0;
        unsigned seed = 12345;

        ASSERT_OK(profile_new(&p));
        for (int i = 0; i < 3000; i++) {
                ProfileFrame fr[6];
                size_t n = 1 + rand_r(&seed) % ELEMENTSOF(fr);

                for (size_t k = 0; k < n; k++) {
                        unsigned r = (unsigned) rand_r(&seed);
                        fr[k] = (r & 1) ? THREAD(names[r / 2 % ELEMENTSOF(names)])
                                        : PY(names[r / 2 % ELEMENTSOF(names)], "/x.py", (int) (r / 64 % 2));
                }
                ASSERT_OK(profile_add_stack(p, 1, (uint64_t) (rand_r(&seed) % 3), fr, n, 1 + i % 3));
                total += 1 + i % 3;
        }
        out = render(p);
        check_parseable(out);

        char *prev = NULL;
        for (char *line = out, *eol; (eol = strchr(line, '\n')); line = eol + 1) {
                char *sp = eol;
                while (sp[-1] != ' ')
                        sp--;
                seen += strtoull(sp, NULL, 10);
                sp[-1] = 0;  /* the stack text alone */
                if (prev)
                        ASSERT_TRUE(strcmp(prev, line) < 0);
                prev = line;
        }
        ASSERT_EQ(seen, total);
}

static void test_empty_and_errors(void) {
        _cleanup_(profile_freep) Profile *p = NULL;
        _cleanup_free_ char *out = NULL;

        ASSERT_OK(profile_new(&p));
        out = render(p);
        ASSERT_STREQ(out, "");

        /* A full disk shows as -EIO (the writer flushes). */
        ADD(p, 1, 0, 1, PY("f", "/a.py", 1));
        FILE *f = fopen("/dev/full", "we");
        if (f) {
                ASSERT_EQ(folded_write(f, p), -EIO);
                (void) fclose(f);
        }
}

int main(void) {
        test_spec_example();
        test_order_lines_and_labels();
        test_merge();
        test_sanitise();
        test_hostile();
        test_random_order();
        test_empty_and_errors();
        return 0;
}
