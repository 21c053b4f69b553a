/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dump.h"
#include "macro.h"
#include "snapshot.h"
#include "tests.h"

static const char *dup_str(Snapshot *s, const char *str) {
        const char *p = snapshot_strndup(s, str, strlen(str));

        ASSERT_TRUE(p);
        return p;
}

static size_t add_thread(Snapshot *s, uint64_t thread_id, pid_t native_id, const char *name,
                         bool gil, bool idle) {
        StackThread *t = snapshot_add_thread(s);

        ASSERT_TRUE(t);
        t->thread_id = thread_id;
        t->native_id = native_id;
        t->name = name ? dup_str(s, name) : NULL;
        t->gil = gil;
        t->idle = idle;
        t->first_frame = s->n_frames;
        return s->n_threads - 1;
}

/* Appends a frame to thread ti, which must be the last thread added. */
static size_t add_frame(Snapshot *s, size_t ti, const char *function, const char *qualname,
                        const char *filename, int line) {
        StackFrame *fr = snapshot_add_frame(s);

        ASSERT_TRUE(fr);
        fr->function = function ? dup_str(s, function) : NULL;
        fr->qualname = qualname ? dup_str(s, qualname) : NULL;
        fr->filename = filename ? dup_str(s, filename) : NULL;
        fr->line = line;
        fr->first_local = s->n_locals;
        s->threads[ti].n_frames++;
        return s->n_frames - 1;
}

/* Appends a local to frame fi, which must be the last frame added. */
static void add_local(Snapshot *s, size_t fi, const char *name, const char *repr) {
        StackLocal *l = snapshot_add_local(s);

        ASSERT_TRUE(l);
        l->name = name ? dup_str(s, name) : NULL;
        l->repr = repr ? dup_str(s, repr) : NULL;
        s->frames[fi].n_locals++;
}

/* Three threads: the SPEC's example, a GIL holder with hostile strings everywhere and a
 * truncated walk, and a frameless idle GIL holder with a hostile name. */
static void build(Snapshot *s) {
        size_t t, fr;

        t = add_thread(s, 139872, 4321, "MainThread", false, true);
        fr = add_frame(s, t, "wait", "Condition.wait", "/usr/lib/python3.11/threading.py", 320);
        add_local(s, fr, "timeout", "None");
        add_local(s, fr, "self", "<Condition at 0x7f..>");
        add_frame(s, t, "main", NULL, "app.py", 12);

        t = add_thread(s, UINT64_C(0x7f0011223344), 0, NULL, true, false);
        fr = add_frame(s, t, "\x1b]0;pwned\x07", "<script>alert(1)</script>",
                       "/tmp/</script>\"x\\y\".py", 0);
        add_local(s, fr, "x", "'a\\nb'\x1b[2J\xff");
        add_local(s, fr, "\xc2\x9b" "31m", NULL);
        add_local(s, fr, NULL, "\xed\xa0\x80&<>");
        s->threads[t].truncated = true;

        add_thread(s, 1, 4323, "Worker \"1\"\n\xc0\xaf", true, true);
}

static const DumpInfo info = {
        .pid = 4321,
        .cmdline = "/usr/bin/python3.11 app.py --title \x1b[31mred",
        .python_version = "3.11.2",
        .executable = "/usr/bin/python3.11",
};

typedef int (*DumpFn)(FILE *f, const DumpInfo *i, const Snapshot *s, bool locals);

static char *render(DumpFn fn, const DumpInfo *i, const Snapshot *s, bool locals) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        ASSERT_TRUE(f);
        ASSERT_EQ(fn(f, i, s, locals), 0);
        ASSERT_EQ(fclose(f), 0);
        ASSERT_EQ(strlen(buf), len);
        return buf;
}

static void test_text(const Snapshot *s) {
        _cleanup_free_ char *with = render(dump_write_text, &info, s, true);
        ASSERT_STREQ(with,
                     "Process 4321: /usr/bin/python3.11 app.py --title \\x1b[31mred\n"
                     "Python v3.11.2 (/usr/bin/python3.11)\n"
                     "\n"
                     "Thread 4321 (idle): \"MainThread\"\n"
                     "    wait (threading.py:320)\n"
                     "        timeout: None\n"
                     "        self: <Condition at 0x7f..>\n"
                     "    main (app.py:12)\n"
                     "\n"
                     "Thread 0x7f0011223344 (active+gil)\n"
                     "    \\x1b]0;pwned\\x07 (script>\"x\\y\".py)\n"
                     "        x: 'a\\nb'\\x1b[2J\\xff\n"
                     "        \\u009b31m: <unknown>\n"
                     "        <unknown>: \\xed\\xa0\\x80&<>\n"
                     "    ... (stack truncated)\n"
                     "\n"
                     "Thread 4323 (idle+gil): \"Worker \"1\"\\n\\xc0\\xaf\"\n");

        _cleanup_free_ char *without = render(dump_write_text, &info, s, false);
        ASSERT_STREQ(without,
                     "Process 4321: /usr/bin/python3.11 app.py --title \\x1b[31mred\n"
                     "Python v3.11.2 (/usr/bin/python3.11)\n"
                     "\n"
                     "Thread 4321 (idle): \"MainThread\"\n"
                     "    wait (threading.py:320)\n"
                     "    main (app.py:12)\n"
                     "\n"
                     "Thread 0x7f0011223344 (active+gil)\n"
                     "    \\x1b]0;pwned\\x07 (script>\"x\\y\".py)\n"
                     "    ... (stack truncated)\n"
                     "\n"
                     "Thread 4323 (idle+gil): \"Worker \"1\"\\n\\xc0\\xaf\"\n");
}

static void test_json(const Snapshot *s) {
        _cleanup_free_ char *with = render(dump_write_json, &info, s, true);
        ASSERT_STREQ(with,
                     "{\"pid\": 4321, "
                     "\"cmdline\": \"/usr/bin/python3.11 app.py --title \\u001b[31mred\", "
                     "\"python_version\": \"3.11.2\", \"executable\": \"/usr/bin/python3.11\", "
                     "\"threads\": ["
                     "{\"thread_id\": 139872, \"native_id\": 4321, \"name\": \"MainThread\", "
                     "\"gil\": false, \"idle\": true, \"frames\": ["
                     "{\"function\": \"wait\", \"qualname\": \"Condition.wait\", "
                     "\"filename\": \"/usr/lib/python3.11/threading.py\", \"line\": 320, "
                     "\"locals\": {\"timeout\": \"None\", \"self\": \"<Condition at 0x7f..>\"}}, "
                     "{\"function\": \"main\", \"filename\": \"app.py\", \"line\": 12, "
                     "\"locals\": {}}]}, "
                     "{\"thread_id\": 139638264181572, \"native_id\": 0, \"name\": null, "
                     "\"gil\": true, \"idle\": false, \"frames\": ["
                     "{\"function\": \"\\u001b]0;pwned\\u0007\", "
                     "\"qualname\": \"<script>alert(1)</script>\", "
                     "\"filename\": \"/tmp/</script>\\\"x\\\\y\\\".py\", \"line\": 0, "
                     "\"locals\": {\"x\": \"'a\\\\nb'\\u001b[2J\\ufffd\", "
                     "\"\\u009b31m\": null, "
                     "\"\": \"\\ufffd\\ufffd\\ufffd&<>\"}}], \"truncated\": true}, "
                     "{\"thread_id\": 1, \"native_id\": 4323, "
                     "\"name\": \"Worker \\\"1\\\"\\u000a\\ufffd\\ufffd\", "
                     "\"gil\": true, \"idle\": true, \"frames\": []}"
                     "]}\n");

        _cleanup_free_ char *without = render(dump_write_json, &info, s, false);
        ASSERT_TRUE(!strstr(without, "\"locals\""));
        ASSERT_TRUE(strstr(without, "\"line\": 320}, {\"function\": \"main\""));
        ASSERT_TRUE(strstr(without, "\"line\": 12}]}, {\"thread_id\""));
}

static void test_unknowns(void) {
        _cleanup_(snapshot_done) Snapshot s = SNAPSHOT_NULL;
        const DumpInfo bare = { .pid = 7 };
        size_t t;

        t = add_thread(&s, 0xabc, 0, "", false, false);
        add_frame(&s, t, NULL, NULL, NULL, 0);
        add_frame(&s, t, "f", NULL, "/", 5);
        add_frame(&s, t, "g", NULL, "<frozen importlib._bootstrap>", 241);

        _cleanup_free_ char *text = render(dump_write_text, &bare, &s, true);
        ASSERT_STREQ(text,
                     "Process 7\n"
                     "Python\n"
                     "\n"
                     "Thread 0xabc (active): \"\"\n"
                     "    <unknown> (<unknown>)\n"
                     "    f (/:5)\n"
                     "    g (<frozen importlib._bootstrap>:241)\n");

        _cleanup_free_ char *json = render(dump_write_json, &bare, &s, false);
        ASSERT_STREQ(json,
                     "{\"pid\": 7, \"cmdline\": null, \"python_version\": null, "
                     "\"executable\": null, \"threads\": ["
                     "{\"thread_id\": 2748, \"native_id\": 0, \"name\": \"\", "
                     "\"gil\": false, \"idle\": false, \"frames\": ["
                     "{\"function\": null, \"filename\": null, \"line\": 0}, "
                     "{\"function\": \"f\", \"filename\": \"/\", \"line\": 5}, "
                     "{\"function\": \"g\", \"filename\": \"<frozen importlib._bootstrap>\", "
                     "\"line\": 241}]}]}\n");

        /* No threads at all: the header, and an empty array. */
        snapshot_reset(&s);
        _cleanup_free_ char *t0 = render(dump_write_text, &info, &s, false);
        ASSERT_STREQ(t0,
                     "Process 4321: /usr/bin/python3.11 app.py --title \\x1b[31mred\n"
                     "Python v3.11.2 (/usr/bin/python3.11)\n");
        _cleanup_free_ char *j0 = render(dump_write_json, &bare, &s, true);
        ASSERT_STREQ(j0, "{\"pid\": 7, \"cmdline\": null, \"python_version\": null, "
                         "\"executable\": null, \"threads\": []}\n");
}

static void test_errors(void) {
        _cleanup_(snapshot_done) Snapshot s = SNAPSHOT_NULL;
        char *buf = NULL;
        size_t len = 0, t, fr;
        FILE *f;

        t = add_thread(&s, 1, 1, "T", false, false);
        fr = add_frame(&s, t, "f", NULL, "f.py", 1);
        add_local(&s, fr, "a", "1");

        /* Indexes past the arrays are refused before anything is written. */
        f = open_memstream(&buf, &len);
        ASSERT_TRUE(f);
        s.threads[0].n_frames = 2;
        ASSERT_EQ(dump_write_text(f, &info, &s, false), -EBADMSG);
        ASSERT_EQ(dump_write_json(f, &info, &s, false), -EBADMSG);
        s.threads[0].n_frames = 1;
        s.threads[0].first_frame = SIZE_MAX;
        ASSERT_EQ(dump_write_json(f, &info, &s, false), -EBADMSG);
        s.threads[0].first_frame = 0;
        s.frames[0].first_local = 1;
        ASSERT_EQ(dump_write_text(f, &info, &s, true), -EBADMSG);
        s.frames[0].first_local = 0;
        ASSERT_EQ(fclose(f), 0);
        ASSERT_EQ(len, 0);
        free(buf);

        /* A stream that cannot take the output. */
        char small[16];
        f = fmemopen(small, sizeof(small), "w");
        ASSERT_TRUE(f);
        ASSERT_EQ(setvbuf(f, NULL, _IONBF, 0), 0);
        ASSERT_EQ(dump_write_text(f, &info, &s, true), -EIO);
        ASSERT_EQ(dump_write_json(f, &info, &s, true), -EIO);
        (void) fclose(f);
}

int main(void) {
        _cleanup_(snapshot_done) Snapshot s = SNAPSHOT_NULL;

        build(&s);
        test_text(&s);
        test_json(&s);
        test_unknowns();
        test_errors();
        return 0;
}
