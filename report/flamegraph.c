/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "flamegraph.h"
#include "macro.h"

/* Geometry, in SVG user units (= CSS pixels: the viewBox matches the size). The script at
 * the end reads the ones it needs from attributes of the root element, so the two never
 * disagree. */
#define DEFAULT_WIDTH 1200u
#define MIN_WIDTH 200u
#define XPAD 10.0
#define FRAME_HEIGHT 16.0
#define RECT_HEIGHT 15.0       /* a 1px gap between rows */
#define TOP 52.0               /* title, subtitle and buttons above the frames */
#define BOTTOM 28.0            /* the details line below them */
#define FONT_SIZE 12.0
#define CHAR_WIDTH (FONT_SIZE * 0.59) /* an average glyph of a sans-serif font at FONT_SIZE */
#define TEXT_PAD 3.0
#define MIN_FRAME_WIDTH 0.1    /* narrower frames are not drawn (but are counted) */
#define TITLE_MAX_CHARS 160    /* the command line can be kilobytes long */

#define NO_FRAME UINT32_MAX

typedef struct Node {
        uint32_t frame;         /* frame id; NO_FRAME for the root "all" */
        uint32_t parent;        /* NO_FRAME for the root */
        uint32_t depth;
        uint32_t first_child;   /* index into Tree.order, valid when n_children > 0 */
        uint32_t n_children;
        uint64_t count;         /* samples in this frame and below */
        uint64_t offset;        /* samples left of this frame, in the whole graph */
} Node;

typedef struct Tree {
        const Profile *profile;
        Node *nodes;            /* parents always come before their children */
        size_t n_nodes, a_nodes;
        uint32_t *index;        /* (parent, frame) -> node id + 1, open addressing */
        size_t index_size;
        uint32_t *order;        /* non-root nodes by parent, then name: the children lists */
} Tree;

static void tree_done(Tree *t) {
        free(t->nodes);
        free(t->index);
        free(t->order);
}

static uint64_t edge_hash(uint32_t parent, uint32_t frame) {
        uint64_t h = ((uint64_t) parent << 32 | frame) * 0x9E3779B97F4A7C15ULL;
        return h ^ (h >> 29);
}

static int tree_index_grow(Tree *t) {
        size_t ns;
        uint32_t *ni;

        if (t->index_size && t->n_nodes < t->index_size / 2)
                return 0;
        ns = t->index_size ? t->index_size * 2 : 1024;
        ni = calloc(ns, sizeof(uint32_t));
        if (!ni)
                return -ENOMEM;
        for (size_t id = 1; id < t->n_nodes; id++) {
                size_t j = edge_hash(t->nodes[id].parent, t->nodes[id].frame) & (ns - 1);
                while (ni[j])
                        j = (j + 1) & (ns - 1);
                ni[j] = (uint32_t) id + 1;
        }
        free(t->index);
        t->index = ni;
        t->index_size = ns;
        return 0;
}

static int64_t tree_add_node(Tree *t, uint32_t parent, uint32_t frame) {
        /* Ids are uint32_t and id + 1 must fit in the index. */
        if (t->n_nodes >= UINT32_MAX - 1)
                return -ENOMEM;
        if (t->n_nodes >= t->a_nodes) {
                size_t na = t->a_nodes ? t->a_nodes * 2 : 256;
                Node *nn = reallocarray(t->nodes, na, sizeof(Node));
                if (!nn)
                        return -ENOMEM;
                t->nodes = nn;
                t->a_nodes = na;
        }
        t->nodes[t->n_nodes] = (Node) {
                .frame = frame,
                .parent = parent,
                .depth = parent == NO_FRAME ? 0 : t->nodes[parent].depth + 1,
        };
        return (int64_t) t->n_nodes++;
}

/* The child of parent for frame, created when new. */
static int64_t tree_child(Tree *t, uint32_t parent, uint32_t frame) {
        size_t mask, j;
        int64_t id;
        int r;

        r = tree_index_grow(t);
        if (r < 0)
                return r;
        mask = t->index_size - 1;
        for (j = edge_hash(parent, frame) & mask; t->index[j]; j = (j + 1) & mask) {
                const Node *n = &t->nodes[t->index[j] - 1];
                if (n->parent == parent && n->frame == frame)
                        return t->index[j] - 1;
        }
        id = tree_add_node(t, parent, frame);
        if (id < 0)
                return id;
        t->index[j] = (uint32_t) id + 1;
        return id;
}

static int strcmp_null(const char *a, const char *b) {
        return strcmp(a ?: "", b ?: "");
}

static int frame_cmp(const ProfileFrame *a, const ProfileFrame *b) {
        int r;

        r = strcmp_null(a->function, b->function);
        if (r != 0)
                return r;
        r = strcmp_null(a->short_filename, b->short_filename);
        if (r != 0)
                return r;
        if (a->line != b->line)
                return a->line < b->line ? -1 : 1;
        r = strcmp_null(a->filename, b->filename);
        if (r != 0)
                return r;
        return a->kind < b->kind ? -1 : a->kind > b->kind ? 1 : 0;
}

/* Siblings by name, as flamegraph.pl's sorted input gives them: the output depends only on
 * the profile's content, never on the order its stacks were seen. */
static int order_cmp(const void *x, const void *y, void *userdata) {
        const Tree *t = userdata;
        const Node *a = &t->nodes[*(const uint32_t *) x], *b = &t->nodes[*(const uint32_t *) y];
        int r;

        if (a->parent != b->parent)
                return a->parent < b->parent ? -1 : 1;
        r = frame_cmp(profile_frame(t->profile, a->frame), profile_frame(t->profile, b->frame));
        if (r != 0)
                return r;
        /* Equal names from distinct frames: by id, for determinism at least. */
        return a->frame < b->frame ? -1 : a->frame > b->frame ? 1 : 0;
}

static int tree_build(Tree *t, const Profile *p) {
        int64_t id;

        *t = (Tree) { .profile = p };
        id = tree_add_node(t, NO_FRAME, NO_FRAME);
        if (id < 0)
                return (int) id;

        for (size_t i = 0; i < profile_n_stacks(p); i++) {
                const ProfileStack *s = profile_stack(p, i);
                uint32_t cur = 0;

                t->nodes[0].count += s->count;
                for (size_t k = 0; k < s->n_frames; k++) {
                        id = tree_child(t, cur, s->frames[k]);
                        if (id < 0)
                                return (int) id;
                        cur = (uint32_t) id;
                        t->nodes[cur].count += s->count;
                }
        }

        if (t->n_nodes > 1) {
                t->order = reallocarray(NULL, t->n_nodes - 1, sizeof(uint32_t));
                if (!t->order)
                        return -ENOMEM;
                for (size_t i = 1; i < t->n_nodes; i++)
                        t->order[i - 1] = (uint32_t) i;
                qsort_r(t->order, t->n_nodes - 1, sizeof(uint32_t), order_cmp, t);
                for (size_t i = 0; i < t->n_nodes - 1; i++) {
                        Node *parent = &t->nodes[t->nodes[t->order[i]].parent];
                        if (parent->n_children++ == 0)
                                parent->first_child = (uint32_t) i;
                }
        }

        /* Parents come before children in id order, so one pass places every frame. */
        for (size_t i = 0; i < t->n_nodes; i++) {
                uint64_t off = t->nodes[i].offset;
                for (uint32_t c = 0; c < t->nodes[i].n_children; c++) {
                        Node *child = &t->nodes[t->order[t->nodes[i].first_child + c]];
                        child->offset = off;
                        off += child->count;
                }
        }
        return 0;
}

/* Colours. */

static uint32_t fnv1a(const char *s) {
        uint32_t h = 2166136261u;
        for (; s && *s; s++)
                h = (h ^ (uint8_t) *s) * 16777619u;
        return h;
}

static void hsl_to_rgb(double hue, double sat, double light, unsigned rgb[static 3]) {
        double c = (1 - fabs(2 * light - 1)) * sat, hp = hue / 60, x = c * (1 - fabs(fmod(hp, 2) - 1)),
               m = light - c / 2, r = 0, g = 0, b = 0;

        if (hp < 1)
                r = c, g = x;
        else if (hp < 2)
                r = x, g = c;
        else if (hp < 3)
                g = c, b = x;
        else if (hp < 4)
                g = x, b = c;
        else if (hp < 5)
                r = x, b = c;
        else
                r = c, b = x;
        rgb[0] = (unsigned) lround((r + m) * 255);
        rgb[1] = (unsigned) lround((g + m) * 255);
        rgb[2] = (unsigned) lround((b + m) * 255);
}

/* The hue, saturation and base lightness come from the short file name, so every frame of a
 * module is of one family; the function only nudges the lightness, so neighbours of one file
 * still stand apart. Hues stay within red..blue: magenta is the search highlight's. Thread
 * and process frames are greyish blue, the root grey. */
static void frame_fill(const ProfileFrame *fr, char *buf, size_t size) {
        unsigned rgb[3];
        uint32_t h, fh;

        if (!fr) {
                snprintf(buf, size, "rgb(200,200,200)");
                return;
        }
        fh = fnv1a(fr->function);
        if (fr->kind != PROFILE_FRAME_PYTHON)
                hsl_to_rgb(210, 0.18, 0.70 + (fh % 5) / 100.0, rgb);
        else {
                h = fnv1a(fr->short_filename ?: fr->function);
                hsl_to_rgb(h % 240, 0.55 + ((h >> 8) % 20) / 100.0,
                           0.60 + ((h >> 16) % 6) / 100.0 + (fh % 8) * 0.012, rgb);
        }
        snprintf(buf, size, "rgb(%u,%u,%u)", rgb[0], rgb[1], rgb[2]);
}

/* Text. */

/* Every byte that does not continue a UTF-8 sequence starts a character: a count close
 * enough to what the browser shows for fitting labels (invalid bytes become U+FFFD there). */
static size_t utf8_chars(const char *s, size_t n) {
        size_t c = 0;
        for (size_t i = 0; i < n; i++)
                c += ((uint8_t) s[i] & 0xC0) != 0x80;
        return c;
}

/* The length in bytes of the first max characters of s[0..n). */
static size_t utf8_prefix(const char *s, size_t n, size_t max) {
        size_t c = 0;
        for (size_t i = 0; i < n; i++)
                if (((uint8_t) s[i] & 0xC0) != 0x80 && c++ == max)
                        return i;
        return n;
}

/* Writes s escaped, cut to max characters with ".." when longer. */
static void write_fitted(FILE *f, const char *s, size_t max) {
        size_t n = strlen(s);

        if (utf8_chars(s, n) <= max)
                (void) xml_write_stringn(f, s, n);
        else if (max >= 3) {
                (void) xml_write_stringn(f, s, utf8_prefix(s, n, max - 2));
                (void) fputs("..", f);
        }
}

/* "function (file:line)", "function (file)" or the bare label; malloc'd. file is the short
 * or the full name. The script builds the same strings from the data-* attributes. */
static char *frame_label(const ProfileFrame *fr, const char *file) {
        const char *fn = fr->function ?: "?";
        char *s = NULL;
        int r;

        if (!file)
                r = asprintf(&s, "%s", fn);
        else if (fr->line > 0)
                r = asprintf(&s, "%s (%s:%d)", fn, file, fr->line);
        else
                r = asprintf(&s, "%s (%s)", fn, file);
        return r < 0 ? NULL : s;
}

static void write_attr(FILE *f, const char *name, const char *value) {
        fprintf(f, " %s=\"", name);
        (void) xml_write_string(f, value);
        fputc('"', f);
}

static double percent(uint64_t n, uint64_t total) {
        return total ? 100.0 * (double) n / (double) total : 0;
}

typedef struct Layout {
        double width, area, height;
        uint64_t total;
        bool inverted;
} Layout;

static bool node_visible(const Layout *l, const Node *n) {
        /* The root always: even an empty profile shows "all". */
        if (n->parent == NO_FRAME)
                return true;
        return n->count > 0 && (double) n->count * l->area >= MIN_FRAME_WIDTH * (double) l->total;
}

static double node_y(const Layout *l, const Node *n) {
        if (l->inverted)
                return l->height - BOTTOM - (n->depth + 1) * FRAME_HEIGHT;
        return TOP + n->depth * FRAME_HEIGHT;
}

static int write_frame(FILE *f, const Tree *t, const Layout *l, const Node *n) {
        const ProfileFrame *fr = n->frame == NO_FRAME ? NULL : profile_frame(t->profile, n->frame);
        _cleanup_free_ char *label = NULL, *full = NULL;
        double x, w, y;
        char fill[32], num[32];

        if (fr) {
                label = frame_label(fr, fr->short_filename);
                full = frame_label(fr, fr->filename);
        } else {
                label = strdup("all");
                full = strdup("all");
        }
        if (!label || !full)
                return -ENOMEM;

        x = XPAD + (l->total ? (double) n->offset * l->area / (double) l->total : 0);
        w = l->total ? (double) n->count * l->area / (double) l->total : l->area;
        y = node_y(l, n);
        frame_fill(fr, fill, sizeof(fill));

        /* The numbers the script needs, in samples: zooming recomputes geometry from them
         * rather than from rounded pixels. */
        fprintf(f, "<g class=\"f\" data-o=\"%" PRIu64 "\" data-n=\"%" PRIu64 "\" data-d=\"%" PRIu32 "\"",
                n->offset, n->count, n->depth);
        write_attr(f, "data-fn", fr ? fr->function ?: "?" : "all");
        if (fr && fr->filename) {
                write_attr(f, "data-file", fr->short_filename);
                write_attr(f, "data-path", fr->filename);
                snprintf(num, sizeof(num), "%d", MAX(fr->line, 0));
                write_attr(f, "data-line", num);
        }
        fputs("><title>", f);
        (void) xml_write_string(f, full);
        fprintf(f, "\n%" PRIu64 " sample%s (%.2f%%)</title>", n->count, n->count == 1 ? "" : "s",
                percent(n->count, l->total));
        fprintf(f, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" rx=\"2\" fill=\"%s\"/>", x, y, w,
                RECT_HEIGHT, fill);
        fprintf(f, "<text x=\"%.2f\" y=\"%.1f\">", x + TEXT_PAD, y + 11.5);
        if (w > 2 * TEXT_PAD)
                write_fitted(f, label, (size_t) ((w - 2 * TEXT_PAD) / CHAR_WIDTH));
        fputs("</text></g>\n", f);

        return ferror(f) ? -EIO : 0;
}

static int write_title(FILE *f, const Profile *p, const FlamegraphOptions *opt, double width) {
        /* profile_info() hands out a writable pointer, for the recorder; we only read. */
        const ProfileInfo *info = profile_info((Profile *) p);
        uint64_t samples = info->samples ?: profile_total(p);
        double secs = info->end_usec > info->start_usec ?
                (double) (info->end_usec - info->start_usec) / USEC_PER_SEC : 0;

        fprintf(f, "<text id=\"title\" x=\"%.1f\" y=\"24\" text-anchor=\"middle\">", width / 2);
        if (opt->title)
                write_fitted(f, opt->title, TITLE_MAX_CHARS);
        else {
                fprintf(f, "pyspy-watch record: pid %d", (int) info->pid);
                if (info->cmdline && info->cmdline[0]) {
                        fputs(" (", f);
                        write_fitted(f, info->cmdline, TITLE_MAX_CHARS);
                        fputc(')', f);
                }
                fprintf(f, ", %.1fs, %" PRIu64 " sample%s", secs, samples, samples == 1 ? "" : "s");
        }
        fputs("</text>\n", f);

        /* What a reader needs to trust the picture: the interpreter, the rate, and how many
         * samples were lost. */
        fprintf(f, "<text id=\"subtitle\" x=\"%.1f\" y=\"42\" text-anchor=\"middle\">", width / 2);
        if (info->python_version) {
                fputs("Python ", f);
                write_fitted(f, info->python_version, 40);
                fputs(", ", f);
        }
        if (info->rate)
                fprintf(f, "%u samples/s, ", info->rate);
        fprintf(f, "%" PRIu64 " error%s", info->errors, info->errors == 1 ? "" : "s");
        if (info->late)
                fprintf(f, ", %" PRIu64 " late", info->late);
        fputs("</text>\n", f);
        return 0;
}

/* Our own constant code: no byte of it comes from the profile (the data lives in the
 * attributes above), so nothing can end the CDATA section or the script early. */
static const char script[] =
        "\"use strict\";\n"
        "(function () {\n"
        "var svg = document.documentElement;\n"
        "var XPAD = +svg.getAttribute(\"data-xpad\"), AREA = +svg.getAttribute(\"data-area\");\n"
        "var TOTAL = +svg.getAttribute(\"data-total\");\n"
        "var CHARW = +svg.getAttribute(\"data-charw\"), TPAD = +svg.getAttribute(\"data-tpad\");\n"
        "var HIT = \"rgb(230,0,230)\";\n"
        "var details = document.getElementById(\"details\");\n"
        "var matched = document.getElementById(\"matched\");\n"
        "var unzoomBtn = document.getElementById(\"unzoom\");\n"
        "var searchBtn = document.getElementById(\"search\");\n"
        "var framesG = document.getElementById(\"frames\");\n"
        "var frames = [], zoomed = null, searching = false, lastTerm = \"\", dotsW = 2 * CHARW;\n"
        "\n"
        "function labelOf(fn, file, line) {\n"
        "        if (file === null) return fn;\n"
        "        return fn + \" (\" + file + (line > 0 ? \":\" + line : \"\") + \")\";\n"
        "}\n"
        "\n"
        "var gs = framesG.querySelectorAll(\"g.f\");\n"
        "for (var i = 0; i < gs.length; i++) {\n"
        "        var g = gs[i], rect = g.querySelector(\"rect\");\n"
        "        var fn = g.getAttribute(\"data-fn\"), line = +(g.getAttribute(\"data-line\") || 0);\n"
        "        var f = {\n"
        "                g: g, rect: rect, text: g.querySelector(\"text\"),\n"
        "                o: +g.getAttribute(\"data-o\"), n: +g.getAttribute(\"data-n\"), d: +g.getAttribute(\"data-d\"),\n"
        "                label: labelOf(fn, g.getAttribute(\"data-file\"), line),\n"
        "                full: labelOf(fn, g.getAttribute(\"data-path\"), line),\n"
        "                fill: rect.getAttribute(\"fill\"),\n"
        "                x0: +rect.getAttribute(\"x\"), w0: +rect.getAttribute(\"width\"),\n"
        "                hidden: false, parent: false\n"
        "        };\n"
        "        f.x = f.x0; f.w = f.w0;\n"
        "        g.pwFrame = f;\n"
        "        frames.push(f);\n"
        "}\n"
        "\n"
        "function frameOf(el) {\n"
        "        var g = el && el.closest ? el.closest(\"g.f\") : null;\n"
        "        return g ? g.pwFrame : null;\n"
        "}\n"
        "\n"
        "/* The first max characters (code points, as the writer counts them) of s, with \"..\"\n"
        " * when cut; \"\" when not even three fit. */\n"
        "function cut(s, max) {\n"
        "        if (max < 3) return \"\";\n"
        "        if (s.length <= max) return s;\n"
        "        var cps = Array.from(s);\n"
        "        if (cps.length <= max) return s;\n"
        "        return cps.slice(0, max - 2).join(\"\") + \"..\";\n"
        "}\n"
        "\n"
        "/* Labels by the estimate first (writes only), then the real glyph widths (reads only),\n"
        " * then the corrections: the browser lays the text out once, not once per frame. On\n"
        " * load the estimates are already there (the writer made them). */\n"
        "function fitTexts(list, loaded) {\n"
        "        var todo = [], fixes = [];\n"
        "        if (loaded) todo = list.filter(function (f) { return f.text.firstChild !== null; });\n"
        "        else list.forEach(function (f) {\n"
        "                var t = f.w > 2 * TPAD ? cut(f.label, Math.floor((f.w - 2 * TPAD) / CHARW)) : \"\";\n"
        "                f.text.textContent = t;\n"
        "                f.text.setAttribute(\"x\", (f.x + TPAD).toFixed(2));\n"
        "                if (t) todo.push(f);\n"
        "        });\n"
        "        todo.forEach(function (f) {\n"
        "                var el = f.text, avail = f.w - 2 * TPAD, s = el.textContent;\n"
        "                try {\n"
        "                        if (el.getComputedTextLength() <= avail) return;\n"
        "                        var lim = s.slice(-2) === \"..\" ? s.length - 2 : s.length, lo = 0, hi = lim;\n"
        "                        while (lo < hi) {\n"
        "                                var mid = (lo + hi + 1) >> 1;\n"
        "                                if (el.getSubStringLength(0, mid) + dotsW <= avail) lo = mid; else hi = mid - 1;\n"
        "                        }\n"
        "                        var c = s.charCodeAt(lo - 1);\n"
        "                        if (lo > 0 && c >= 0xd800 && c < 0xdc00) lo--;\n"
        "                        fixes.push([el, lo > 0 ? s.slice(0, lo) + \"..\" : \"\"]);\n"
        "                } catch (e) {\n"
        "                        /* Not laid out (hidden): the estimate stays. */\n"
        "                }\n"
        "        });\n"
        "        fixes.forEach(function (x) { x[0].textContent = x[1]; });\n"
        "}\n"
        "\n"
        "/* Big profiles have tens of thousands of frames: the DOM is touched only where\n"
        " * something changes. place() tells whether the frame moved. */\n"
        "function place(f, x, w) {\n"
        "        if (f.x === x && f.w === w) return false;\n"
        "        f.x = x; f.w = w;\n"
        "        f.rect.setAttribute(\"x\", x.toFixed(2));\n"
        "        f.rect.setAttribute(\"width\", w.toFixed(2));\n"
        "        return true;\n"
        "}\n"
        "\n"
        "function setState(f, hidden, parent) {\n"
        "        if (f.hidden !== hidden) { f.g.classList.toggle(\"hide\", hidden); f.hidden = hidden; }\n"
        "        if (f.parent !== parent) { f.g.classList.toggle(\"parent\", parent); f.parent = parent; }\n"
        "}\n"
        "\n"
        "function pct(n) {\n"
        "        return (TOTAL ? 100 * n / TOTAL : 0).toFixed(2) + \"%\";\n"
        "}\n"
        "\n"
        "function showDetails(f) {\n"
        "        var tail = \" - \" + f.n + (f.n === 1 ? \" sample (\" : \" samples (\") + pct(f.n) + \")\";\n"
        "        var max = Math.floor(AREA * 0.75 / CHARW) - tail.length;\n"
        "        details.textContent = \"Function: \" + cut(f.full, Math.max(max, 3)) + tail;\n"
        "}\n"
        "\n"
        "function unzoom() {\n"
        "        var moved = [];\n"
        "        zoomed = null;\n"
        "        frames.forEach(function (f) {\n"
        "                var wasHidden = f.hidden;\n"
        "                setState(f, false, false);\n"
        "                if (place(f, f.x0, f.w0) || wasHidden) moved.push(f);\n"
        "        });\n"
        "        unzoomBtn.classList.add(\"hide\");\n"
        "        /* Back where they were on load: so are their labels, already fitted. */\n"
        "        moved.forEach(function (f) {\n"
        "                f.text.textContent = f.text0;\n"
        "                f.text.setAttribute(\"x\", (f.x0 + TPAD).toFixed(2));\n"
        "        });\n"
        "}\n"
        "\n"
        "/* z to the full width: its ancestors stay (full width, faded), its descendants scale\n"
        " * with it, everything else hides. Ranges of samples at one depth never overlap, so\n"
        " * containment in z's range is descent from z. */\n"
        "function zoom(z) {\n"
        "        if (z.d === 0) return unzoom();\n"
        "        zoomed = z;\n"
        "        var moved = [];\n"
        "        frames.forEach(function (f) {\n"
        "                var inside = f.o >= z.o && f.o + f.n <= z.o + z.n;\n"
        "                var above = f.o <= z.o && f.o + f.n >= z.o + z.n;\n"
        "                var wasHidden = f.hidden, m;\n"
        "                if (f.d < z.d && above) {\n"
        "                        setState(f, false, true);\n"
        "                        m = place(f, XPAD, AREA);\n"
        "                } else if (f.d >= z.d && inside && z.n > 0) {\n"
        "                        setState(f, false, false);\n"
        "                        m = place(f, XPAD + (f.o - z.o) * AREA / z.n, f.n * AREA / z.n);\n"
        "                } else {\n"
        "                        setState(f, true, false);\n"
        "                        return;\n"
        "                }\n"
        "                if (m || wasHidden) moved.push(f);\n"
        "        });\n"
        "        unzoomBtn.classList.remove(\"hide\");\n"
        "        fitTexts(moved);\n"
        "}\n"
        "\n"
        "function resetSearch() {\n"
        "        searching = false;\n"
        "        frames.forEach(function (f) { f.rect.setAttribute(\"fill\", f.fill); });\n"
        "        matched.textContent = \" \";\n"
        "        searchBtn.textContent = \"Search\";\n"
        "}\n"
        "\n"
        "/* Paints the frames whose label (short or full file name) matches, and shows the share\n"
        " * of samples under them: nested matches are counted once, as a frame's samples include\n"
        " * its children's. */\n"
        "function search(term) {\n"
        "        var re;\n"
        "        if (!term) return resetSearch();\n"
        "        try {\n"
        "                re = new RegExp(term);\n"
        "        } catch (e) {\n"
        "                matched.textContent = \"Invalid regex\";\n"
        "                return;\n"
        "        }\n"
        "        lastTerm = term;\n"
        "        var hits = [];\n"
        "        frames.forEach(function (f) {\n"
        "                var hit = re.test(f.label) || re.test(f.full);\n"
        "                f.rect.setAttribute(\"fill\", hit ? HIT : f.fill);\n"
        "                if (hit) hits.push(f);\n"
        "        });\n"
        "        hits.sort(function (a, b) { return a.o - b.o || b.n - a.n; });\n"
        "        var sum = 0, end = -1;\n"
        "        hits.forEach(function (f) {\n"
        "                if (f.o >= end) { sum += f.n; end = f.o + f.n; }\n"
        "        });\n"
        "        searching = true;\n"
        "        searchBtn.textContent = \"Reset search\";\n"
        "        matched.textContent = \"Matched: \" + (TOTAL ? 100 * sum / TOTAL : 0).toFixed(1) + \"%\";\n"
        "}\n"
        "\n"
        "function openSearch() {\n"
        "        var term = window.prompt(\"Search frames (regular expression):\", lastTerm);\n"
        "        if (term !== null) search(term);\n"
        "}\n"
        "\n"
        "framesG.addEventListener(\"mouseover\", function (e) {\n"
        "        var f = frameOf(e.target);\n"
        "        if (f) showDetails(f);\n"
        "});\n"
        "framesG.addEventListener(\"mouseout\", function (e) {\n"
        "        if (frameOf(e.target)) details.textContent = \" \";\n"
        "});\n"
        "framesG.addEventListener(\"click\", function (e) {\n"
        "        var f = frameOf(e.target);\n"
        "        if (f) zoom(f);\n"
        "});\n"
        "unzoomBtn.addEventListener(\"click\", unzoom);\n"
        "searchBtn.addEventListener(\"click\", function () {\n"
        "        if (searching) resetSearch(); else openSearch();\n"
        "});\n"
        "window.addEventListener(\"keydown\", function (e) {\n"
        "        if ((e.ctrlKey || e.metaKey) && (e.key === \"f\" || e.key === \"F\")) {\n"
        "                e.preventDefault();\n"
        "                openSearch();\n"
        "        } else if (e.key === \"Escape\") {\n"
        "                resetSearch();\n"
        "        }\n"
        "});\n"
        "\n"
        "var probe = document.createElementNS(\"http://www.w3.org/2000/svg\", \"text\");\n"
        "probe.textContent = \"..\";\n"
        "svg.appendChild(probe);\n"
        "try { dotsW = probe.getComputedTextLength() || dotsW; } catch (e) { }\n"
        "svg.removeChild(probe);\n"
        "fitTexts(frames, true);\n"
        "frames.forEach(function (f) { f.text0 = f.text.textContent; });\n"
        "})();\n";

static const char style[] =
        "text { font-family: Verdana, \"DejaVu Sans\", sans-serif; font-size: 12px; fill: #000; }\n"
        "#title { font-size: 17px; }\n"
        "#subtitle { fill: #555; }\n"
        ".button { cursor: pointer; fill: #1a4d8f; }\n"
        ".button:hover { text-decoration: underline; }\n"
        "g.f { cursor: pointer; }\n"
        /* The rect takes the pointer, so a label never hides its frame from a click. */
        "g.f text { pointer-events: none; }\n"
        "g.f:hover rect { stroke: #000; stroke-width: 0.5; }\n"
        "g.f.parent { opacity: 0.55; }\n"
        ".hide { display: none; }\n";

int flamegraph_write(FILE *f, const Profile *p, const FlamegraphOptions *opt) {
        static const FlamegraphOptions defaults = {};
        _cleanup_(tree_done) Tree t = {};
        _cleanup_free_ uint32_t *todo = NULL;
        uint32_t max_depth = 0;
        size_t n_todo = 0;
        Layout l;
        int r;

        if (!opt)
                opt = &defaults;

        r = tree_build(&t, p);
        if (r < 0)
                return r;

        l = (Layout) {
                .width = MAX(opt->width ?: DEFAULT_WIDTH, MIN_WIDTH),
                .total = t.nodes[0].count,
                .inverted = opt->inverted,
        };
        l.area = l.width - 2 * XPAD;
        for (size_t i = 0; i < t.n_nodes; i++)
                if (node_visible(&l, &t.nodes[i]))
                        max_depth = MAX(max_depth, t.nodes[i].depth);
        l.height = TOP + (max_depth + 1) * FRAME_HEIGHT + BOTTOM;

        fputs("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n", f);
        fprintf(f,
                "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                "viewBox=\"0 0 %.0f %.0f\" data-total=\"%" PRIu64 "\" data-xpad=\"%.1f\" data-area=\"%.1f\" "
                "data-charw=\"%.3f\" data-tpad=\"%.1f\" data-inverted=\"%d\">\n",
                l.width, l.height, l.width, l.height, l.total, XPAD, l.area, CHAR_WIDTH, TEXT_PAD,
                l.inverted);
        fprintf(f, "<style type=\"text/css\"><![CDATA[\n%s]]></style>\n", style);
        fputs("<defs><linearGradient id=\"background\" x1=\"0\" y1=\"0\" x2=\"0\" y2=\"1\">"
              "<stop offset=\"5%\" stop-color=\"#eeeeee\"/><stop offset=\"95%\" stop-color=\"#eeeeb0\"/>"
              "</linearGradient></defs>\n", f);
        fputs("<rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"url(#background)\"/>\n", f);
        r = write_title(f, p, opt, l.width);
        if (r < 0)
                return r;
        fprintf(f, "<text id=\"unzoom\" class=\"button hide\" x=\"%.1f\" y=\"24\">Reset zoom</text>\n", XPAD);
        fprintf(f, "<text id=\"search\" class=\"button\" x=\"%.1f\" y=\"24\" text-anchor=\"end\">Search</text>\n",
                l.width - XPAD);
        fprintf(f, "<text id=\"details\" x=\"%.1f\" y=\"%.1f\"> </text>\n", XPAD, l.height - 10);
        fprintf(f, "<text id=\"matched\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\"> </text>\n", l.width - XPAD,
                l.height - 10);

        /* Depth first, children in name order: document order is the picture's order, left to
         * right and root first, which the script's search relies on no more than on sorting. */
        todo = reallocarray(NULL, t.n_nodes, sizeof(uint32_t));
        if (!todo)
                return -ENOMEM;
        todo[n_todo++] = 0;
        fputs("<g id=\"frames\">\n", f);
        while (n_todo > 0) {
                const Node *n = &t.nodes[todo[--n_todo]];

                r = write_frame(f, &t, &l, n);
                if (r < 0)
                        return r;
                for (uint32_t c = n->n_children; c-- > 0;) {
                        uint32_t id = t.order[n->first_child + c];
                        if (node_visible(&l, &t.nodes[id]))
                                todo[n_todo++] = id;
                }
        }
        fputs("</g>\n", f);
        fprintf(f, "<script type=\"text/ecmascript\"><![CDATA[\n%s]]></script>\n", script);
        fputs("</svg>\n", f);

        if (fflush(f) != 0 || ferror(f))
                return -EIO;
        return 0;
}
