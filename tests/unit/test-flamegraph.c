/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "flamegraph.h"
#include "macro.h"
#include "profile.h"
#include "tests.h"

/* The sample profile, which tests/js/test-flamegraph.js knows too (keep them in step):
 *
 *   main (app.py:10) > handle (app.py:20) > parse (json/decoder.py:30)   30
 *   main (app.py:10) > handle (app.py:20) > render (templates.py:40)     20
 *   main (app.py:10) > idle (app.py:50)                                  40
 *   worker (app.py:60) > parse (json/decoder.py:30)                      10
 *
 * 100 samples: "parse" matches 40%, "handle|parse" 60% (parse under handle counted once). */
#define APP "/srv/app/app.py"
#define JSON "/usr/lib/python3.11/json/decoder.py"
#define TEMPLATES "/srv/app/templates.py"

static ProfileFrame py(const char *fn, const char *file, int line) {
        return (ProfileFrame) { .kind = PROFILE_FRAME_PYTHON, .function = fn, .filename = file, .line = line };
}

/* Adds a stack given root first (the way one reads it), as profile_add_stack() wants it
 * innermost first. */
static void add(Profile *p, uint64_t count, size_t n, const ProfileFrame *root_first) {
        ProfileFrame rev[16];

        ASSERT_TRUE(n <= ELEMENTSOF(rev));
        for (size_t i = 0; i < n; i++)
                rev[i] = root_first[n - 1 - i];
        ASSERT_OK(profile_add_stack(p, 4321, 0, rev, n, count));
}

#define ADD(p, count, ...)                                                                     \
        do {                                                                                   \
                const ProfileFrame _s[] = { __VA_ARGS__ };                                     \
                add(p, count, ELEMENTSOF(_s), _s);                                             \
        } while (0)

static void set_info(Profile *p, const char *cmdline) {
        ProfileInfo *info = profile_info(p);

        info->pid = 4321;
        info->cmdline = strdup(cmdline);
        info->python_version = strdup("3.11.2");
        ASSERT_TRUE(info->cmdline && info->python_version);
        info->start_usec = 5 * USEC_PER_SEC;
        info->end_usec = info->start_usec + 12500 * USEC_PER_MSEC;
        info->samples = 100;
        info->errors = 2;
        info->rate = 100;
}

static Profile *sample_profile(bool reversed) {
        Profile *p = NULL;

        ASSERT_OK(profile_new(&p));
        set_info(p, "python3 app.py --port 8080");
        if (!reversed) {
                ADD(p, 30, py("main", APP, 10), py("handle", APP, 20), py("parse", JSON, 30));
                ADD(p, 20, py("main", APP, 10), py("handle", APP, 20), py("render", TEMPLATES, 40));
                ADD(p, 40, py("main", APP, 10), py("idle", APP, 50));
                ADD(p, 10, py("worker", APP, 60), py("parse", JSON, 30));
        } else {
                /* The same samples, seen in another order and split differently. */
                ADD(p, 5, py("worker", APP, 60), py("parse", JSON, 30));
                ADD(p, 40, py("main", APP, 10), py("idle", APP, 50));
                ADD(p, 20, py("main", APP, 10), py("handle", APP, 20), py("render", TEMPLATES, 40));
                ADD(p, 5, py("worker", APP, 60), py("parse", JSON, 30));
                ADD(p, 30, py("main", APP, 10), py("handle", APP, 20), py("parse", JSON, 30));
        }
        return p;
}

static char *render(const Profile *p, const FlamegraphOptions *opt, size_t *ret_len) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        ASSERT_TRUE(f);
        ASSERT_EQ(flamegraph_write(f, p, opt), 0);
        ASSERT_EQ(fclose(f), 0);
        ASSERT_EQ(strlen(buf), len);
        if (ret_len)
                *ret_len = len;
        return buf;
}

static size_t count(const char *hay, const char *needle) {
        size_t n = 0;
        for (const char *s = hay; (s = strstr(s, needle)); s += strlen(needle))
                n++;
        return n;
}

/* The <g> of the first frame whose tooltip starts with full (e.g. "main (/srv/app/app.py:10)\n"). */
static const char *frame_g(const char *svg, const char *full) {
        _cleanup_free_ char *needle = NULL;
        const char *t, *g;

        ASSERT_TRUE(asprintf(&needle, "<title>%s\n", full) > 0);
        t = strstr(svg, needle);
        ASSERT_TRUE(t);
        for (g = t; g > svg && strncmp(g, "<g class=\"f\"", 12) != 0; g--)
                ;
        ASSERT_TRUE(g > svg);
        return g;
}

/* A numeric attribute of the first element named el at or after s. */
static double attr_num(const char *s, const char *el, const char *name) {
        _cleanup_free_ char *needle = NULL;
        const char *e = strstr(s, el), *a;

        ASSERT_TRUE(e);
        ASSERT_TRUE(asprintf(&needle, " %s=\"", name) > 0);
        a = strstr(e, needle);
        ASSERT_TRUE(a);
        return strtod(a + strlen(needle), NULL);
}

static void attr_str(const char *s, const char *el, const char *name, char *buf, size_t size) {
        _cleanup_free_ char *needle = NULL;
        const char *e = strstr(s, el), *a, *end;

        ASSERT_TRUE(e);
        ASSERT_TRUE(asprintf(&needle, " %s=\"", name) > 0);
        a = strstr(e, needle);
        ASSERT_TRUE(a);
        a += strlen(needle);
        end = strchr(a, '"');
        ASSERT_TRUE(end && (size_t) (end - a) < size);
        memcpy(buf, a, (size_t) (end - a));
        buf[end - a] = 0;
}

#define ASSERT_NEAR(a, b) ASSERT_TRUE((a) - (b) < 0.011 && (b) - (a) < 0.011)

/* Strict enough for this purpose: no byte a reader must not see, and valid UTF-8. */
static void assert_clean_utf8(const char *s, size_t n) {
        const uint8_t *p = (const uint8_t *) s;

        for (size_t i = 0; i < n;) {
                size_t len;

                if (p[i] < 0x80) {
                        ASSERT_TRUE(p[i] >= 0x20 || p[i] == '\n');
                        ASSERT_TRUE(p[i] != 0x7F);
                        i++;
                        continue;
                }
                len = p[i] >= 0xF0 ? 4 : p[i] >= 0xE0 ? 3 : 2;
                ASSERT_TRUE(p[i] >= 0xC2 && p[i] <= 0xF4);
                ASSERT_TRUE(i + len <= n);
                for (size_t k = 1; k < len; k++)
                        ASSERT_TRUE((p[i + k] & 0xC0) == 0x80);
                i += len;
        }
}

static void test_sample(void) {
        _cleanup_(profile_freep) Profile *p = sample_profile(false), *q = sample_profile(true);
        _cleanup_free_ char *svg = NULL, *svg2 = NULL, *inv = NULL;
        const char *all, *main_g, *handle_g, *idle_g, *worker_g, *parse_g;
        char fill1[32], fill2[32];
        double height;

        svg = render(p, NULL, NULL);

        /* all, main, handle, parse, render, idle, worker, parse. */
        ASSERT_EQ(count(svg, "<g class=\"f\""), 8);
        ASSERT_TRUE(strstr(svg, "<?xml version=\"1.0\" encoding=\"UTF-8\""));
        ASSERT_TRUE(strstr(svg, ">pyspy-watch record: pid 4321 (python3 app.py --port 8080), 12.5s, 100 samples<"));
        ASSERT_TRUE(strstr(svg, ">Python 3.11.2, 100 samples/s, 2 errors<"));
        ASSERT_TRUE(strstr(svg, " width=\"1200\""));
        ASSERT_TRUE(strstr(svg, " data-total=\"100\""));
        ASSERT_TRUE(strstr(svg, ">Reset zoom<"));
        ASSERT_TRUE(strstr(svg, ">Search<"));
        /* One script, ours, and the only CDATA ends are the style's and the script's. */
        ASSERT_EQ(count(svg, "<script"), 1);
        ASSERT_EQ(count(svg, "]]>"), 2);
        /* Self-contained: no reference to anything outside (the namespace is a name). */
        ASSERT_EQ(count(svg, "http"), 2);
        ASSERT_EQ(count(svg, "http://www.w3.org/2000/svg"), 2);

        /* The tooltips: full file name, samples, percent; the labels: short file name. */
        ASSERT_TRUE(strstr(svg, "<title>all\n100 samples (100.00%)</title>"));
        ASSERT_TRUE(strstr(svg, "<title>parse (" JSON ":30)\n30 samples (30.00%)</title>"));
        ASSERT_TRUE(strstr(svg, "<title>parse (" JSON ":30)\n10 samples (10.00%)</title>"));
        ASSERT_TRUE(strstr(svg, "<title>handle (" APP ":20)\n50 samples (50.00%)</title>"));
        ASSERT_TRUE(strstr(svg, ">parse (json/decoder.py:30)</text>"));
        ASSERT_TRUE(strstr(svg, ">main (app.py:10)</text>"));
        ASSERT_TRUE(strstr(svg, " data-file=\"json/decoder.py\" data-path=\"" JSON "\" data-line=\"30\""));

        /* Geometry: 1180 px for 100 samples. */
        all = frame_g(svg, "all");
        main_g = frame_g(svg, "main (" APP ":10)");
        handle_g = frame_g(svg, "handle (" APP ":20)");
        idle_g = frame_g(svg, "idle (" APP ":50)");
        worker_g = frame_g(svg, "worker (" APP ":60)");
        parse_g = frame_g(svg, "parse (" JSON ":30)");
        ASSERT_NEAR(attr_num(all, "<rect", "x"), 10);
        ASSERT_NEAR(attr_num(all, "<rect", "width"), 1180);
        ASSERT_NEAR(attr_num(main_g, "<rect", "width"), 1062);
        ASSERT_NEAR(attr_num(worker_g, "<rect", "x"), 1072);
        ASSERT_NEAR(attr_num(worker_g, "<rect", "width"), 118);
        ASSERT_NEAR(attr_num(idle_g, "<rect", "x"), 10 + 50 * 11.8);
        ASSERT_EQ(attr_num(worker_g, "<g", "data-o"), 90);
        ASSERT_EQ(attr_num(worker_g, "<g", "data-n"), 10);
        ASSERT_EQ(attr_num(worker_g, "<g", "data-d"), 1);

        /* Children by name, depth first: all, main, handle, parse, render, idle, worker. */
        ASSERT_TRUE(all < main_g && main_g < handle_g && handle_g < parse_g && parse_g < idle_g &&
                    idle_g < worker_g);

        /* Icicle by default: the root on top, deeper frames below. */
        ASSERT_NEAR(attr_num(all, "<rect", "y"), 52);
        ASSERT_NEAR(attr_num(main_g, "<rect", "y"), 68);
        ASSERT_NEAR(attr_num(handle_g, "<rect", "y"), 84);
        ASSERT_NEAR(attr_num(parse_g, "<rect", "y"), 100);

        /* One hue family per file: the same frame has one colour wherever it is drawn; other
         * files get other colours. */
        attr_str(parse_g, "<rect", "fill", fill1, sizeof(fill1));
        attr_str(strstr(worker_g, "parse ("), "<rect", "fill", fill2, sizeof(fill2));
        ASSERT_STREQ(fill1, fill2);
        attr_str(main_g, "<rect", "fill", fill2, sizeof(fill2));
        ASSERT_TRUE(strcmp(fill1, fill2) != 0);
        ASSERT_TRUE(strncmp(fill1, "rgb(", 4) == 0);

        /* The output depends on the samples only, not on the order they came in. */
        svg2 = render(q, NULL, NULL);
        ASSERT_STREQ(svg, svg2);

        /* Inverted: the root at the bottom, deeper frames above. */
        inv = render(p, &(FlamegraphOptions) { .inverted = true }, NULL);
        height = attr_num(inv, "<svg", "height");
        ASSERT_NEAR(height, 52 + 4 * 16 + 28);
        ASSERT_NEAR(attr_num(frame_g(inv, "all"), "<rect", "y"), height - 28 - 16);
        ASSERT_NEAR(attr_num(frame_g(inv, "main (" APP ":10)"), "<rect", "y"), height - 28 - 32);
        ASSERT_NEAR(attr_num(frame_g(inv, "parse (" JSON ":30)"), "<rect", "y"), height - 28 - 64);
        ASSERT_TRUE(strstr(inv, " data-inverted=\"1\""));
        ASSERT_EQ(count(inv, "<g class=\"f\""), 8);
}

static void test_options(void) {
        _cleanup_(profile_freep) Profile *p = sample_profile(false);
        _cleanup_free_ char *svg = NULL;

        svg = render(p, &(FlamegraphOptions) { .title = "CPU <of> \"web\"", .width = 600 }, NULL);
        ASSERT_TRUE(strstr(svg, " width=\"600\""));
        ASSERT_TRUE(strstr(svg, ">CPU &lt;of&gt; &quot;web&quot;</text>"));
        ASSERT_NEAR(attr_num(frame_g(svg, "all"), "<rect", "width"), 580);
        /* Labels are cut with ".." to fit: at 580 px * 10%, "worker (app.py:60)" (18
         * characters) does not fit in 58 px: 7 do. */
        ASSERT_TRUE(strstr(svg, ">worke..</text>"));
}

static void test_empty(void) {
        _cleanup_(profile_freep) Profile *p = NULL;
        _cleanup_free_ char *svg = NULL;

        ASSERT_OK(profile_new(&p));
        svg = render(p, NULL, NULL);
        ASSERT_EQ(count(svg, "<g class=\"f\""), 1);
        ASSERT_TRUE(strstr(svg, "<title>all\n0 samples (0.00%)</title>"));
        ASSERT_TRUE(strstr(svg, ">pyspy-watch record: pid 0, 0.0s, 0 samples<"));
}

static void test_narrow(void) {
        _cleanup_(profile_freep) Profile *p = NULL;
        _cleanup_free_ char *svg = NULL;

        /* 1 sample in 100000 is 0.0118 px: left out, yet counted in its parent and the root. */
        ASSERT_OK(profile_new(&p));
        ADD(p, 99990, py("main", APP, 1), py("busy", APP, 2));
        ADD(p, 9, py("main", APP, 1), py("visible", APP, 3));
        ADD(p, 1, py("main", APP, 1), py("tiny", APP, 4), py("tinier", APP, 5));
        svg = render(p, NULL, NULL);
        ASSERT_EQ(count(svg, "<g class=\"f\""), 4);
        ASSERT_TRUE(!strstr(svg, "tiny"));
        ASSERT_TRUE(!strstr(svg, "tinier"));
        ASSERT_TRUE(strstr(svg, "<title>main (" APP ":1)\n100000 samples (100.00%)</title>"));
        ASSERT_TRUE(strstr(svg, "<title>visible (" APP ":3)\n9 samples (0.01%)</title>"));
        /* The height follows the frames drawn: 3 rows, not 4. */
        ASSERT_NEAR(attr_num(svg, "<svg", "height"), 52 + 3 * 16 + 28);
}

#define EVIL_SCRIPT "<script>window.PWNED=1</script>"
#define EVIL_CDATA "]]><script>window.PWNED=2</script><![CDATA["
#define EVIL_ATTR "x\" onmouseover=\"window.PWNED=5"
#define EVIL_FILE "/srv/</title><script>window.PWNED=6</script>/evil&.py"
#define EVIL_THREAD "thread (0x1) \"<img src=x onerror=window.PWNED=3>\""
#define EVIL_CMD "python3 -c '<script>window.PWNED=4</script>]]>' \"&amp;\""

static Profile *hostile_profile(char **ret_long) {
        Profile *p = NULL;
        char *longname;
        ProfileFrame thread = { .kind = PROFILE_FRAME_THREAD, .function = EVIL_THREAD };
        ProfileFrame proc = { .kind = PROFILE_FRAME_PROCESS, .function = "process 4321" };

        /* 100 KB of name, ending in markup past any label's cut. */
        longname = malloc(100 * 1024 + 16);
        ASSERT_TRUE(longname);
        memset(longname, 'A', 100 * 1024);
        strcpy(longname + 100 * 1024, "<b>end</b>");

        ASSERT_OK(profile_new(&p));
        set_info(p, EVIL_CMD);
        ADD(p, 20, proc, thread, py(EVIL_SCRIPT, APP, 1), py(EVIL_CDATA, APP, 2));
        ADD(p, 20, proc, thread, py(EVIL_SCRIPT, APP, 1), py(EVIL_ATTR, EVIL_FILE, 3));
        ADD(p, 20, proc, thread, py("bad\xff\xfe\xc0\xaf utf8 \xe2\x82", "/srv/\xed\xa0\x80.py", 4));
        ADD(p, 20, proc, py("ctl\x01\x1b[31mred\x7f\t\n\r\xc2\x85", APP, 5), py(longname, APP, 6));
        ADD(p, 20, proc, py("quotes \"'&amp;<>", "C:\\odd\\path.py", 0), py("main", APP, 7));
        *ret_long = longname;
        return p;
}

static void test_hostile(void) {
        _cleanup_free_ char *longname = NULL, *svg = NULL;
        _cleanup_(profile_freep) Profile *p = hostile_profile(&longname);
        size_t len;

        svg = render(p, NULL, &len);
        assert_clean_utf8(svg, len);

        /* Exactly our script and our CDATA sections. */
        ASSERT_EQ(count(svg, "<script"), 1);
        ASSERT_EQ(count(svg, "]]>"), 2);
        ASSERT_EQ(count(svg, "<![CDATA["), 2);
        ASSERT_TRUE(strstr(svg, "<title>all\n100 samples (100.00%)</title>"));
        ASSERT_TRUE(!strstr(svg, EVIL_SCRIPT));
        ASSERT_TRUE(!strstr(svg, "<img"));
        ASSERT_TRUE(!strstr(svg, "<b>"));
        ASSERT_TRUE(!strstr(svg, "</title><script"));
        ASSERT_TRUE(!strstr(svg, "\" onmouseover=\""));
        ASSERT_TRUE(!strstr(svg, "\x1b"));

        /* ... which are there, escaped. */
        ASSERT_TRUE(strstr(svg, "&lt;script&gt;window.PWNED=1&lt;/script&gt;"));
        ASSERT_TRUE(strstr(svg, "]]&gt;&lt;script&gt;window.PWNED=2"));
        ASSERT_TRUE(strstr(svg, "x&quot; onmouseover=&quot;window.PWNED=5"));
        ASSERT_TRUE(strstr(svg, "&lt;/title&gt;&lt;script&gt;window.PWNED=6&lt;/script&gt;/evil&amp;.py"));
        ASSERT_TRUE(strstr(svg, "thread (0x1) &quot;&lt;img src=x onerror=window.PWNED=3&gt;&quot;"));
        ASSERT_TRUE(strstr(svg, "python3 -c &apos;&lt;script&gt;window.PWNED=4&lt;/script&gt;]]&gt;&apos; "
                                "&quot;&amp;amp;&quot;"));
        ASSERT_TRUE(strstr(svg, "bad&#xFFFD;&#xFFFD;&#xFFFD;&#xFFFD; utf8 &#xFFFD;"));
        ASSERT_TRUE(strstr(svg, "ctl&#xFFFD;&#xFFFD;[31mred&#xFFFD;&#9;&#10;&#13;&#xFFFD;"));
        ASSERT_TRUE(strstr(svg, "quotes &quot;&apos;&amp;amp;&lt;&gt; (C:\\odd\\path.py)"));
        ASSERT_TRUE(strstr(svg, "&lt;b&gt;end&lt;/b&gt;"));
        /* Thread and process frames are ordinary frames with their label. */
        ASSERT_TRUE(strstr(svg, "<title>process 4321\n100 samples (100.00%)</title>"));
        ASSERT_TRUE(strstr(svg, ">process 4321</text>"));

        /* The long name is whole in the tooltip and the data, cut in the label. */
        ASSERT_TRUE(len > 2 * 100 * 1024);
        ASSERT_TRUE(strstr(svg, "AAAA..</text>"));

        /* Inverted too. */
        free(svg);
        svg = render(p, &(FlamegraphOptions) { .inverted = true }, &len);
        assert_clean_utf8(svg, len);
        ASSERT_EQ(count(svg, "<script"), 1);
        ASSERT_EQ(count(svg, "]]>"), 2);
}

static void test_stream_error(void) {
        _cleanup_(profile_freep) Profile *p = sample_profile(false);
        _cleanup_fclose_ FILE *f = NULL;

        /* Every write to /dev/full fails with ENOSPC: the writer must notice by the end. */
        f = fopen("/dev/full", "we");
        if (!f) {
                fprintf(stderr, "no /dev/full, stream error test skipped\n");
                return;
        }
        ASSERT_EQ(flamegraph_write(f, p, NULL), -EIO);
}

static void write_file(const char *path, const Profile *p, const FlamegraphOptions *opt) {
        _cleanup_fclose_ FILE *f = fopen(path, "we");

        ASSERT_TRUE(f);
        ASSERT_EQ(flamegraph_write(f, p, opt), 0);
        ASSERT_EQ(fclose(TAKE_PTR(f)), 0);
}

/* The SVGs tests/js/test-flamegraph.js opens in a browser. */
static void write_outputs(void) {
        _cleanup_(profile_freep) Profile *p = sample_profile(false);
        _cleanup_free_ char *longname = NULL;
        _cleanup_(profile_freep) Profile *h = hostile_profile(&longname);

        if (mkdir("tests/out", 0755) < 0 && errno != EEXIST) {
                fprintf(stderr, "cannot create tests/out (run from the repository's root): %m\n");
                exit(1);
        }
        write_file("tests/out/flamegraph-sample.svg", p, NULL);
        write_file("tests/out/flamegraph-sample-inverted.svg", p, &(FlamegraphOptions) { .inverted = true });
        write_file("tests/out/flamegraph-hostile.svg", h, NULL);
}

int main(void) {
        test_sample();
        test_options();
        test_empty();
        test_narrow();
        test_hostile();
        test_stream_error();
        write_outputs();
        return 0;
}
