/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "macro.h"
#include "profile.h"
#include "speedscope.h"
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

#define HEAD "{\"$schema\": \"https://www.speedscope.app/file-format-schema.json\",\n"
#define TAIL(name) "\n],\n\"name\": \"" name "\", \"activeProfileIndex\": 0, \"exporter\": \"pyspy-watch "

static char *render(const Profile *p) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        ASSERT_TRUE(f);
        ASSERT_EQ(speedscope_write(f, p), 0);
        ASSERT_EQ(fclose(f), 0);
        ASSERT_EQ(strlen(buf), len);
        return buf;
}

/* The output must be plain ASCII-safe JSON text as far as a terminal is concerned: no raw
 * control byte (json_write_string escapes them), and it must end with the closing brace. */
static void check_clean(const char *out) {
        size_t n = strlen(out);

        for (size_t i = 0; i < n; i++)
                ASSERT_TRUE((uint8_t) out[i] >= 0x20 || out[i] == '\n');
        ASSERT_TRUE(n >= 2 && strcmp(out + n - 2, "}\n") == 0);
}

/* out starts with expected (everything up to the exporter's version), and ends the object. */
static void check_prefix(const char *out, const char *expected) {
        if (strncmp(out, expected, strlen(expected)) != 0) {
                fprintf(stderr, "expected:\n%s\ngot:\n%s\n", expected, out);
                ASSERT_TRUE(!"output differs");
        }
        check_clean(out);
}

static size_t count_of(const char *haystack, const char *needle) {
        size_t n = 0;

        for (const char *s = haystack; (s = strstr(s, needle)); s += strlen(needle))
                n++;
        return n;
}

/* One profile in seconds: weights count / rate, truncated to the nanosecond, endValue their
 * exact sum; samples root first, sorted so shared prefixes are adjacent. */
static void test_single(void) {
        _cleanup_(profile_freep) Profile *p = NULL;
        _cleanup_free_ char *out = NULL;

        ASSERT_OK(profile_new(&p));
        profile_info(p)->rate = 3;
        profile_info(p)->pid = 42;
        profile_info(p)->cmdline = strdup("python3 app.py");
        ASSERT_TRUE(profile_info(p)->cmdline);
        ADD(p, 42, 0, 1, PY("recv", "/usr/lib/python3.11/socket.py", 700), PY("main", "/srv/app.py", 12));
        ADD(p, 42, 0, 5, PY("main", "/srv/app.py", 12));
        ADD(p, 42, 0, 2, PY("x", "/srv/app.py", 0), PY("main", "/srv/app.py", 12));
        ADD(p, 42, 0, 0, PY("never", "/srv/app.py", 1));
        out = render(p);
        check_prefix(out,
                            HEAD
                            "\"shared\": {\"frames\": [\n"
                            "  {\"name\": \"main\", \"file\": \"/srv/app.py\", \"line\": 12},\n"
                            "  {\"name\": \"recv\", \"file\": \"/usr/lib/python3.11/socket.py\", \"line\": 700},\n"
                            "  {\"name\": \"x\", \"file\": \"/srv/app.py\"},\n"
                            "  {\"name\": \"never\", \"file\": \"/srv/app.py\", \"line\": 1}]},\n"
                            "\"profiles\": [\n"
                            "  {\"type\": \"sampled\", \"name\": \"python3 app.py (pid 42)\", \"unit\": \"seconds\", "
                            "\"startValue\": 0, \"endValue\": 2.666666665,\n"
                            "   \"samples\": [\n"
                            "    [0],\n"
                            "    [0, 1],\n"
                            "    [0, 2]],\n"
                            "   \"weights\": [1.666666666, 0.333333333, 0.666666666]}"
                            TAIL("python3 app.py (pid 42)"));
}

/* Rate unknown: unit "none", weights are counts. Whole seconds print without a fraction. */
static void test_units(void) {
        _cleanup_(profile_freep) Profile *p = NULL;
        _cleanup_free_ char *none = NULL, *secs = NULL;

        ASSERT_OK(profile_new(&p));
        ADD(p, 1, 0, 7, PY("f", "/a.py", 1));
        ADD(p, 1, 0, 100, PY("g", "/a.py", 2));
        none = render(p);
        ASSERT_TRUE(strstr(none, "\"unit\": \"none\", \"startValue\": 0, \"endValue\": 107,\n"));
        ASSERT_TRUE(strstr(none, "\"weights\": [7, 100]}"));
        ASSERT_TRUE(strstr(none, "\"name\": \"pyspy-watch profile\""));

        profile_info(p)->rate = 100;
        profile_info(p)->pid = 9;
        secs = render(p);
        ASSERT_TRUE(strstr(secs, "\"name\": \"pid 9\""));
        ASSERT_TRUE(strstr(secs, "\"unit\": \"seconds\", \"startValue\": 0, \"endValue\": 1.07,\n"));
        ASSERT_TRUE(strstr(secs, "\"weights\": [0.07, 1]}"));
}

/* --threads: one profile per thread, busiest first, named by the thread frame, which is not
 * repeated in the samples. A thread renamed mid-record (same id, two labels) stays one
 * profile, its equal stacks merged. */
static void test_threads(void) {
        _cleanup_(profile_freep) Profile *p = NULL;
        _cleanup_free_ char *out = NULL;

        ASSERT_OK(profile_new(&p));
        profile_info(p)->rate = 100;
        ADD(p, 42, 1, 1, PY("a", "/a.py", 1), THREAD("thread (0x1) \"Main\""));
        ADD(p, 42, 2, 5, PY("b", "/a.py", 2), THREAD("thread (0x2) \"W\""));
        ADD(p, 42, 2, 5, PY("b", "/a.py", 2), THREAD("thread (0x2) \"W2\""));
        ADD(p, 42, 2, 1, PY("c", "/a.py", 3), PY("b", "/a.py", 2), THREAD("thread (0x2) \"W\""));
        out = render(p);
        ASSERT_TRUE(strstr(out,
                           "\"profiles\": [\n"
                           "  {\"type\": \"sampled\", \"name\": \"thread (0x2) \\\"W\\\"\", \"unit\": \"seconds\", "
                           "\"startValue\": 0, \"endValue\": 0.11,\n"
                           "   \"samples\": [\n"
                           "    [3],\n"
                           "    [3, 5]],\n"
                           "   \"weights\": [0.1, 0.01]},\n"
                           "  {\"type\": \"sampled\", \"name\": \"thread (0x1) \\\"Main\\\"\", \"unit\": \"seconds\", "
                           "\"startValue\": 0, \"endValue\": 0.01,\n"
                           "   \"samples\": [\n"
                           "    [1]],\n"
                           "   \"weights\": [0.01]}\n"
                           "],\n") ||
                    (fputs(out, stderr), false));
        /* The thread frames are still listed (indexes stay the Profile's frame ids). */
        ASSERT_TRUE(strstr(out, "  {\"name\": \"thread (0x1) \\\"Main\\\"\"},\n"));
        check_clean(out);
}

/* Several processes without labels: one profile per process, named after it; with thread ids
 * too, one per (process, thread). Ties in weight go by process, then thread. */
static void test_processes(void) {
        _cleanup_(profile_freep) Profile *p = NULL, *q = NULL;
        _cleanup_free_ char *out = NULL, *out2 = NULL;

        ASSERT_OK(profile_new(&p));
        ADD(p, 20, 0, 2, PY("f", "/a.py", 1));
        ADD(p, 10, 0, 2, PY("f", "/a.py", 1));
        ADD(p, 30, 0, 1, PY("f", "/a.py", 1));
        out = render(p);
        ASSERT_EQ(count_of(out, "\"type\": \"sampled\""), 3);
        const char *a = strstr(out, "\"name\": \"process 10\""), *b = strstr(out, "\"name\": \"process 20\""),
                   *c = strstr(out, "\"name\": \"process 30\"");
        ASSERT_TRUE(a && b && c && a < b && b < c);

        ASSERT_OK(profile_new(&q));
        ADD(q, 10, 0x7f, 1, PY("f", "/a.py", 1));
        ADD(q, 11, 0x7f, 1, PY("f", "/a.py", 1));
        ADD(q, 11, 0x80, 1, PY("f", "/a.py", 1), THREAD("thread (0x80)"), PROCESS("process 11"));
        out2 = render(q);
        ASSERT_EQ(count_of(out2, "\"type\": \"sampled\""), 3);
        ASSERT_TRUE(strstr(out2, "\"name\": \"process 10 thread 0x7f\""));
        ASSERT_TRUE(strstr(out2, "\"name\": \"process 11 thread 0x7f\""));
        ASSERT_TRUE(strstr(out2, "\"name\": \"process 11 thread (0x80)\""));
        /* Stripped of both labels, the third profile's sample is just "f". */
        ASSERT_EQ(count_of(out2, "    [0]]"), 3);
}

static void test_empty_and_errors(void) {
        _cleanup_(profile_freep) Profile *p = NULL;
        _cleanup_free_ char *out = NULL;

        ASSERT_OK(profile_new(&p));
        profile_info(p)->rate = 100;
        out = render(p);
        check_prefix(out,
                            HEAD
                            "\"shared\": {\"frames\": []},\n"
                            "\"profiles\": [\n"
                            "  {\"type\": \"sampled\", \"name\": \"pyspy-watch profile\", \"unit\": \"seconds\", "
                            "\"startValue\": 0, \"endValue\": 0,\n"
                            "   \"samples\": [],\n"
                            "   \"weights\": []}"
                            TAIL("pyspy-watch profile"));

        ADD(p, 1, 0, 1, PY("f", "/a.py", 1));
        FILE *f = fopen("/dev/full", "we");
        if (f) {
                ASSERT_EQ(speedscope_write(f, p), -EIO);
                (void) fclose(f);
        }
}

/* Everything a hostile target could choose, written to tests/out/speedscope-sample.json for
 * tests/js/validate-speedscope.js (the schema and the semantic checks). */
static void test_hostile_sample(void) {
        _cleanup_(profile_freep) Profile *p = NULL;
        _cleanup_free_ char *out = NULL, *huge = NULL;
        const size_t huge_len = 100 * 1024;

        huge = malloc(huge_len + 1);
        ASSERT_TRUE(huge);
        for (size_t i = 0; i < huge_len; i++)
                huge[i] = "q\"\\\n\xff;<"[i % 7];
        huge[huge_len] = 0;

        ASSERT_OK(profile_new(&p));
        profile_info(p)->rate = 97;
        profile_info(p)->pid = 4321;
        profile_info(p)->cmdline = strdup("python3 -c \"print('\x1b[2J')\"\n\xc0\xaf \xe2\x80\xae");
        ASSERT_TRUE(profile_info(p)->cmdline);

        ADD(p, 4321, 0x7f01, 1000, PY("recv", "/usr/lib/python3.11/socket.py", 700),
            PY("handle", "/srv/app/app.py", 40), PY("main", "/srv/app/app.py", 12),
            THREAD("thread (0x7f01) \"MainThread\""));
        ADD(p, 4321, 0x7f02, 31, PY("evil\"}],\n\t\\u0000", "/srv/\x01\x7f\xc2\x85.py", 3),
            PY("\xed\xa0\x80\xf4\x90\x80\x80", NULL, 0), PY(NULL, "", -1),
            THREAD("thread (0x7f02) \"\xe2\x80\xa8</script>\""));
        ADD(p, 4321, 0x7f02, 5, PY(huge, huge, 99999), THREAD("thread (0x7f02) \"\xe2\x80\xa8</script>\""));
        ADD(p, 4321, 0x7f03, 3, PY("caf\xc3\xa9 \xf0\x9f\x90\x8d", "/srv/\xe4\xb8\xad.py", 1), THREAD(""));
        ADD(p, 4321, 0x7f03, 0, PY("zero", "/srv/z.py", 1), THREAD(""));
        /* Written first, so a failing check below leaves the file to look at. */
        (void) mkdir("tests/out", 0755);
        FILE *f = fopen("tests/out/speedscope-sample.json", "we");
        ASSERT_TRUE(f);
        ASSERT_EQ(speedscope_write(f, p), 0);
        ASSERT_EQ(fclose(f), 0);

        out = render(p);
        check_clean(out);
        ASSERT_EQ(count_of(out, "\"type\": \"sampled\""), 3);
        /* Busiest first: MainThread; 1000 / 97 = 10.309278350. */
        ASSERT_TRUE(strstr(out, "\"name\": \"thread (0x7f01) \\\"MainThread\\\"\", \"unit\": \"seconds\", "
                                "\"startValue\": 0, \"endValue\": 10.30927835,"));
        ASSERT_TRUE(strstr(out, "\"name\": \"evil\\\"}],\\u000a\\u0009\\\\u0000\", \"file\": \"/srv/\\u0001\\u007f\\u0085.py\""));
        ASSERT_TRUE(strstr(out, "\\u2028</script>"));
        ASSERT_TRUE(strstr(out, "\"name\": \"<unknown>\", \"file\": \"\"}"));     /* line -1 left out */
        ASSERT_TRUE(strstr(out, "\"name\": \"<unknown>\", \"unit\""));            /* empty thread label */
        ASSERT_TRUE(strstr(out, "  {\"name\": \"<unknown>\"},\n"));                /* ... as a frame */
        ASSERT_TRUE(strstr(out, "  {\"name\": \"\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\"},\n"));
        ASSERT_TRUE(strstr(out, "\", \"line\": 99999}"));

}

int main(void) {
        test_single();
        test_units();
        test_threads();
        test_processes();
        test_empty_and_errors();
        test_hostile_sample();
        return 0;
}
