/* SPDX-License-Identifier: MIT */
/* `pyspy-watch top`: a live view of the functions a Python process spends its time in, in the
 * manner of py-spy top. Samples at a fixed rate (never pausing the target unless --blocking),
 * counts per function its own time (innermost frame) and its total time (anywhere in the stack,
 * once per stack), and redraws a table once a second. On a terminal it takes the alternate
 * screen and reads keys; otherwise it prints a plain snapshot every second. */
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>

#include "escape.h"
#include "launch.h"
#include "log.h"
#include "profile.h"
#include "sampler.h"
#include "ticker.h"
#include "verbs.h"

#define TOP_RATE_DEFAULT 100U
/* Past this a sample of a big process costs more than the period: ticks would only be late. */
#define TOP_RATE_MAX 10000U
#define TOP_REFRESH_USEC USEC_PER_SEC
/* Bounds the table's memory against a target that generates code (exec, lambdas in a loop):
 * functions seen past this are counted together as one "other" row. */
#define TOP_FUNCS_MAX 65536U
/* Without a terminal there is no height: a snapshot shows at most this many rows. */
#define TOP_PLAIN_ROWS 50U
/* The interpreter of a small script is readable within milliseconds; a slow disk or a
 * loaded machine gets some slack before we call the program "not Python". */
#define TOP_ATTACH_TIMEOUT_USEC (10 * USEC_PER_SEC)
/* A launched program that ignores SIGTERM when we quit is killed after this. */
#define TOP_KILL_GRACE_USEC (2 * USEC_PER_SEC)
/* Lines above the table: process, counters, keys, blank, column titles. */
#define TOP_HEADER_LINES 5U

typedef enum SortKey {
        SORT_OWN_PCT,
        SORT_TOTAL_PCT,
        SORT_OWN_TIME,
        SORT_TOTAL_TIME,
        _SORT_MAX,
} SortKey;

static const char *const sort_names[_SORT_MAX] = { "%Own", "%Total", "OwnTime", "TotalTime" };

typedef struct Func {
        char *key;              /* "function\0short_file\0": the identity of a row */
        const char *file;       /* into key */
        char *label;            /* "function (file)", escaped for a terminal */
        size_t label_cols;
        uint64_t hash;
        uint64_t stamp;         /* the last stack that counted it in total (once per stack) */
        uint64_t own, total;    /* samples in the current window */
        uint64_t own_shown, total_shown;  /* in the last complete window: what is on screen */
        uint64_t own_cum, total_cum;      /* since the start */
} Func;

typedef struct FuncTable {
        Func *funcs;
        size_t n, a;
        uint32_t *index;        /* open addressing: id + 1, 0 = empty slot */
        size_t index_size;      /* a power of two, at least twice n */
        uint32_t *order;        /* ids in display order, rebuilt for each drawing */
        size_t a_order;
        int64_t other;          /* the id of the "other functions" row, -1 until needed */
        uint64_t stamp;
        FILE *scratch;          /* renders labels; its buffer is kept between uses */
        char *scratch_buf;
        size_t scratch_size;
} FuncTable;

typedef struct Term {
        bool screen;            /* interactive: alternate screen on stdout */
        bool raw;               /* stdin switched to raw mode: restore it */
        bool keys;              /* read keys from stdin */
        struct termios saved;
        unsigned width, height;
} Term;

typedef enum TopEnd {
        TOP_END_QUIT,           /* q, Ctrl-C, SIGINT, SIGTERM, SIGHUP */
        TOP_END_EXITED,         /* the target exited */
} TopEnd;

typedef struct Top {
        /* options */
        pid_t pid;
        bool launched;
        unsigned rate;
        bool idle, gil, blocking;

        Sampler *sampler;
        Snapshot snap;
        FuncTable table;
        Term term;
        Ticker ticker;
        SortKey sort;
        bool reverse;

        char *cmdline;          /* escaped for a terminal */
        char version[64];

        uint64_t samples, failed;
        uint64_t win_samples, win_gil, win_active;
        uint64_t shown_samples, shown_gil, shown_active;
        size_t n_threads;
        int exit_status;        /* TOP_END_EXITED of a launched program */
} Top;

/* ------------------------------------------------------------------------------------------ */
/* Display width of escaped text. term_write_string() leaves only printable, valid UTF-8; wide
 * East Asian characters take two cells, which matters when cutting a line to the screen. */

static bool codepoint_wide(uint32_t c) {
        return (c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0xA4CF && c != 0x303F) ||
               (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) ||
               (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFF60) ||
               (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x1F300 && c <= 0x1F64F) ||
               (c >= 0x1F900 && c <= 0x1F9FF) || (c >= 0x20000 && c <= 0x3FFFD);
}

/* Decodes one character of valid UTF-8 at s: its length in bytes and its cells. */
static size_t utf8_next(const char *s, unsigned *cols) {
        const unsigned char *u = (const unsigned char *) s;
        uint32_t c;
        size_t n;

        if (u[0] < 0x80)
                c = u[0], n = 1;
        else if ((u[0] & 0xE0) == 0xC0 && u[1])
                c = u[0] & 0x1F, n = 2;
        else if ((u[0] & 0xF0) == 0xE0 && u[1] && u[2])
                c = u[0] & 0x0F, n = 3;
        else if ((u[0] & 0xF8) == 0xF0 && u[1] && u[2] && u[3])
                c = u[0] & 0x07, n = 4;
        else {
                *cols = 1;
                return 1;
        }
        for (size_t i = 1; i < n; i++)
                c = (c << 6) | (u[i] & 0x3F);
        *cols = codepoint_wide(c) ? 2 : 1;
        return n;
}

static size_t text_cols(const char *s) {
        size_t cols = 0;
        unsigned w;

        while (*s) {
                s += utf8_next(s, &w);
                cols += w;
        }
        return cols;
}

/* Writes as much of s as fits in max cells (max 0: no limit); returns the cells written. */
static size_t put_cols(FILE *f, const char *s, size_t max) {
        size_t cols = 0;
        unsigned w;

        while (*s) {
                size_t n = utf8_next(s, &w);
                if (max > 0 && cols + w > max)
                        break;
                fwrite(s, 1, n, f);
                s += n;
                cols += w;
        }
        return cols;
}

static void put_spaces(FILE *f, size_t n) {
        while (n-- > 0)
                fputc(' ', f);
}

/* ------------------------------------------------------------------------------------------ */
/* The function table */

static void func_table_done(FuncTable *t) {
        for (size_t i = 0; i < t->n; i++) {
                free(t->funcs[i].key);
                free(t->funcs[i].label);
        }
        free(t->funcs);
        free(t->index);
        free(t->order);
        if (t->scratch)
                fclose(t->scratch);
        free(t->scratch_buf);
        *t = (FuncTable) { .other = -1 };
}

static int func_table_init(FuncTable *t) {
        *t = (FuncTable) { .other = -1 };
        t->scratch = open_memstream(&t->scratch_buf, &t->scratch_size);
        return t->scratch ? 0 : -ENOMEM;
}

static uint64_t key_hash(const char *function, const char *file) {
        uint64_t h = 0xcbf29ce484222325ULL;

        for (const unsigned char *p = (const unsigned char *) function; *p; p++)
                h = (h ^ *p) * 0x100000001b3ULL;
        h = (h ^ 0xff) * 0x100000001b3ULL;  /* no byte of a C string: separates the two */
        for (const unsigned char *p = (const unsigned char *) file; *p; p++)
                h = (h ^ *p) * 0x100000001b3ULL;
        return h;
}

/* Target-controlled names are escaped once, when the row is created, not at every drawing. */
static char *label_render(FuncTable *t, const char *function, const char *file) {
        rewind(t->scratch);
        term_write_string(t->scratch, function);
        fputs(" (", t->scratch);
        term_write_string(t->scratch, file);
        fputc(')', t->scratch);
        if (fflush(t->scratch) != 0 || ferror(t->scratch))
                return NULL;
        long n = ftell(t->scratch);
        if (n < 0)
                return NULL;
        return strndup(t->scratch_buf, (size_t) n);
}

static int func_append(FuncTable *t, const char *function, const char *file, uint64_t h) {
        if (t->n >= t->a) {
                size_t na = t->a ? t->a * 2 : 256;
                Func *nf = reallocarray(t->funcs, na, sizeof(Func));
                if (!nf)
                        return -ENOMEM;
                t->funcs = nf;
                t->a = na;
        }
        size_t lf = strlen(function), ll = strlen(file);
        _cleanup_free_ char *key = malloc(lf + ll + 2);
        if (!key)
                return -ENOMEM;
        memcpy(key, function, lf + 1);
        memcpy(key + lf + 1, file, ll + 1);
        _cleanup_free_ char *label = label_render(t, function, file);
        if (!label)
                return -ENOMEM;
        /* Initializers are evaluated in no fixed order: measure before handing over. */
        size_t cols = text_cols(label);
        t->funcs[t->n] = (Func) {
                .key = TAKE_PTR(key),
                .label_cols = cols,
                .label = TAKE_PTR(label),
                .hash = h,
        };
        t->funcs[t->n].file = t->funcs[t->n].key + lf + 1;
        return (int) t->n++;
}

static int index_grow(FuncTable *t) {
        if ((t->n + 1) * 2 <= t->index_size)
                return 0;
        size_t ns = t->index_size ? t->index_size * 2 : 1024;
        uint32_t *ni = calloc(ns, sizeof(uint32_t));
        if (!ni)
                return -ENOMEM;
        for (size_t i = 0; i < t->n; i++) {
                if ((int64_t) i == t->other)
                        continue;
                size_t j = t->funcs[i].hash & (ns - 1);
                while (ni[j])
                        j = (j + 1) & (ns - 1);
                ni[j] = (uint32_t) i + 1;
        }
        free(t->index);
        t->index = ni;
        t->index_size = ns;
        return 0;
}

/* The row of (function, file), created on first sight; past TOP_FUNCS_MAX the "other" row. */
static Func *func_get(FuncTable *t, const char *function, const char *file) {
        uint64_t h = key_hash(function, file);
        size_t j = 0;
        int r;

        if (t->index_size > 0)
                for (j = h & (t->index_size - 1); t->index[j]; j = (j + 1) & (t->index_size - 1)) {
                        Func *f = &t->funcs[t->index[j] - 1];
                        if (f->hash == h && streq_ptr(f->key, function) && streq_ptr(f->file, file))
                                return f;
                }
        if (t->n - (t->other >= 0) >= TOP_FUNCS_MAX) {
                if (t->other < 0) {
                        r = func_append(t, "(other functions)", "", 0);
                        if (r < 0)
                                return NULL;
                        /* No file to name: "(other functions)" alone, not "... ()". */
                        Func *o = &t->funcs[r];
                        o->label[strlen(o->key)] = 0;
                        o->label_cols = text_cols(o->label);
                        t->other = r;
                }
                return &t->funcs[t->other];
        }
        if (index_grow(t) < 0)
                return NULL;
        r = func_append(t, function, file, h);
        if (r < 0)
                return NULL;
        for (j = h & (t->index_size - 1); t->index[j]; j = (j + 1) & (t->index_size - 1))
                ;
        t->index[j] = (uint32_t) r + 1;
        return &t->funcs[r];
}

/* ------------------------------------------------------------------------------------------ */
/* Sampling */

/* Folds one snapshot into the table and the window's counters. */
static void top_count(Top *top) {
        const Snapshot *snap = &top->snap;
        bool any_gil = false, any_active = false;

        for (size_t i = 0; i < snap->n_threads; i++) {
                const StackThread *th = &snap->threads[i];

                any_gil = any_gil || th->gil;
                any_active = any_active || !th->idle;
                if (th->idle && !top->idle)
                        continue;
                if (top->gil && !th->gil)
                        continue;
                /* A truncated stack is a torn read (counted as an error by the sampler): an
                 * invented stack would be worse than a missing one. */
                if (th->truncated || th->n_frames == 0)
                        continue;

                const StackFrame *frames = snapshot_thread_frames(snap, th);
                uint64_t stamp = ++top->table.stamp;
                for (size_t k = 0; k < th->n_frames; k++) {
                        const char *function = frames[k].function ?: "?";
                        const char *file = profile_short_filename(frames[k].filename) ?: "?";
                        Func *f = func_get(&top->table, function, file);
                        if (!f)
                                continue;  /* out of memory: lose this row's count, keep going */
                        if (k == 0) {
                                f->own++;
                                f->own_cum++;
                        }
                        /* Recursion puts a function in a stack more than once; it is still one
                         * sample of its total time. */
                        if (f->stamp != stamp) {
                                f->stamp = stamp;
                                f->total++;
                                f->total_cum++;
                        }
                }
        }
        top->n_threads = snap->n_threads;
        top->samples++;
        top->win_samples++;
        top->win_gil += any_gil;
        top->win_active += any_active;
}

/* The window just ended becomes what the screen shows; a new one starts. */
static void top_window_close(Top *top) {
        for (size_t i = 0; i < top->table.n; i++) {
                Func *f = &top->table.funcs[i];
                f->own_shown = f->own;
                f->total_shown = f->total;
                f->own = f->total = 0;
        }
        top->shown_samples = top->win_samples;
        top->shown_gil = top->win_gil;
        top->shown_active = top->win_active;
        top->win_samples = top->win_gil = top->win_active = 0;
}

/* One tick: > 0 when the target has exited (and, launched, been reaped). */
static int top_tick(Top *top) {
        unsigned flags = SAMPLE_IDLE | (top->blocking ? SAMPLE_PAUSE : 0);
        int r;

        if (top->launched) {
                /* Our child: it is gone only once reaped (a zombie still answers kill(pid, 0)). */
                r = launch_reap(top->pid, &top->exit_status);
                if (r != 0)
                        return 1;
        }
        r = sampler_sample(top->sampler, flags, &top->snap);
        if (r == -ESRCH)
                return top->launched ? 0 : 1;
        if (r < 0) {
                /* Torn reads (non-blocking), a pause that timed out, a target between two
                 * states: counted and shown, never fatal, as py-spy does. */
                top->failed++;
                return 0;
        }
        top_count(top);
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Drawing */

static double pct(uint64_t part, uint64_t whole) {
        return whole ? 100.0 * (double) part / (double) whole : 0.0;
}

static double sort_value(const Func *f, SortKey k) {
        switch (k) {
        case SORT_OWN_PCT:
                return (double) f->own_shown;
        case SORT_TOTAL_PCT:
                return (double) f->total_shown;
        case SORT_OWN_TIME:
                return (double) f->own_cum;
        case SORT_TOTAL_TIME:
        default:
                return (double) f->total_cum;
        }
}

static int func_cmp(const void *a, const void *b, void *userdata) {
        const Top *top = userdata;
        const Func *x = &top->table.funcs[*(const uint32_t *) a];
        const Func *y = &top->table.funcs[*(const uint32_t *) b];
        int sign = top->reverse ? -1 : 1;

        /* The chosen column first, then the others, so that rows do not jump around between
         * refreshes when they tie; the name last, for a total order. */
        double vx = sort_value(x, top->sort), vy = sort_value(y, top->sort);
        if (vx != vy)
                return sign * (vx > vy ? -1 : 1);
        for (SortKey k = 0; k < _SORT_MAX; k++) {
                vx = sort_value(x, k);
                vy = sort_value(y, k);
                if (vx != vy)
                        return sign * (vx > vy ? -1 : 1);
        }
        return strcmp(x->label, y->label);
}

static int top_sort(Top *top) {
        FuncTable *t = &top->table;

        if (t->n > t->a_order) {
                uint32_t *no = reallocarray(t->order, t->a, sizeof(uint32_t));
                if (!no)
                        return -ENOMEM;
                t->order = no;
                t->a_order = t->a;
        }
        for (size_t i = 0; i < t->n; i++)
                t->order[i] = (uint32_t) i;
        if (t->n > 1)  /* the array is NULL before the first function is seen */
                qsort_r(t->order, t->n, sizeof(uint32_t), func_cmp, top);
        return 0;
}

/* Ends a line of the screen: clears what an earlier, longer line left there. */
static void line_end(const Top *top, FILE *f, bool last) {
        if (top->term.screen)
                fputs(last ? "\033[K" : "\033[K\r\n", f);
        else
                fputc('\n', f);
}

/* Writes a line of plain ASCII cut to the width; returns the cells written. */
static size_t put_line(const Top *top, FILE *f, const char *s) {
        return put_cols(f, s, top->term.screen ? top->term.width : 0);
}

static void draw_title(const Top *top, FILE *f) {
        char left[64], right[96];
        size_t width = top->term.screen ? top->term.width : 0;

        snprintf(left, sizeof(left), "Process %d: ", (int) top->pid);
        snprintf(right, sizeof(right), "Python v%s", top->version);
        size_t lc = strlen(left), rc = strlen(right);

        if (width == 0) {
                fprintf(f, "%s", left);
                fputs(top->cmdline, f);
                fprintf(f, "  %s", right);
                return;
        }
        /* The version is pinned to the right edge; the command line gets what is left. */
        if (width < lc + rc + 2) {
                size_t n = put_cols(f, left, width);
                put_cols(f, right, width - n);
                return;
        }
        fputs(left, f);
        size_t n = lc + put_cols(f, top->cmdline, width - lc - rc - 2);
        put_spaces(f, width - rc - n);
        fputs(right, f);
}

static void draw_column_titles(const Top *top, FILE *f) {
        static const char *const fmt[_SORT_MAX] = { "%7s", "%9s", "%10s", "%11s" };
        size_t width = top->term.screen ? top->term.width : 0, n = 0;
        char buf[32];

        for (SortKey k = 0; k < _SORT_MAX; k++) {
                snprintf(buf, sizeof(buf), fmt[k], sort_names[k]);
                if (width > 0 && n >= width)
                        return;
                /* The sort column in reverse video on a screen. */
                if (top->term.screen && k == top->sort)
                        fputs("\033[7m", f);
                n += put_cols(f, buf, width ? width - n : 0);
                if (top->term.screen && k == top->sort)
                        fputs("\033[27m", f);
        }
        if (width == 0 || n < width)
                n += put_cols(f, "  Function (filename)", width ? width - n : 0);
}

static void draw_row(const Top *top, FILE *f, const Func *fn) {
        char buf[128];
        double secs_own = (double) fn->own_cum / top->rate, secs_total = (double) fn->total_cum / top->rate;

        snprintf(buf, sizeof(buf), "%6.2f%% %7.2f%% %8.2fs %9.2fs  ",
                 pct(fn->own_shown, top->shown_samples), pct(fn->total_shown, top->shown_samples),
                 secs_own, secs_total);
        size_t n = put_line(top, f, buf);
        if (top->term.screen) {
                if (n < top->term.width)
                        put_cols(f, fn->label, top->term.width - n);
        } else
                fputs(fn->label, f);
}

static int top_draw(Top *top) {
        FILE *f = stdout;
        char buf[256];
        int r;

        r = top_sort(top);
        if (r < 0)
                return r;
        if (top->term.screen)
                fputs("\033[H", f);

        draw_title(top, f);
        line_end(top, f, false);

        snprintf(buf, sizeof(buf),
                 "Samples: %" PRIu64 "  GIL: %.2f%%  Active: %.2f%%  Threads: %zu  Errors: %" PRIu64 "  Late: %" PRIu64,
                 top->samples, pct(top->shown_gil, top->shown_samples), pct(top->shown_active, top->shown_samples),
                 top->n_threads, top->failed + sampler_errors(top->sampler), top->ticker.late);
        put_line(top, f, buf);
        line_end(top, f, false);

        snprintf(buf, sizeof(buf), "Sorted by %s%s%s", sort_names[top->sort], top->reverse ? " (ascending)" : "",
                 top->term.keys ? "  [1] %Own [2] %Total [3] OwnTime [4] TotalTime  [q] quit" : "");
        put_line(top, f, buf);
        line_end(top, f, false);
        line_end(top, f, false);

        draw_column_titles(top, f);

        size_t rows = top->term.screen ? (top->term.height > TOP_HEADER_LINES ? top->term.height - TOP_HEADER_LINES : 0)
                                       : TOP_PLAIN_ROWS;
        size_t shown = MIN(rows, top->table.n);
        for (size_t i = 0; i < shown; i++) {
                line_end(top, f, false);
                draw_row(top, f, &top->table.funcs[top->table.order[i]]);
        }
        if (top->term.screen) {
                line_end(top, f, true);
                /* Whatever an earlier, taller table left below. */
                fputs("\033[J", f);
        } else {
                line_end(top, f, false);
                if (top->table.n > shown)
                        fprintf(f, "(%zu more functions)\n", top->table.n - shown);
                fputc('\n', f);
        }
        if (fflush(f) != 0 || ferror(f))
                return -EIO;
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The terminal */

static void term_size(Term *t) {
        struct winsize ws = {};

        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
                t->width = ws.ws_col;
                t->height = ws.ws_row;
        } else {
                t->width = 80;
                t->height = 24;
        }
}

/* Idempotent: called before any message to stderr, and again by the cleanup of every path. */
static void term_restore(Term *t) {
        if (t->screen) {
                fputs("\033[0m\033[?25h\033[?1049l", stdout);
                fflush(stdout);
                t->screen = false;
        }
        if (t->raw) {
                (void) tcsetattr(STDIN_FILENO, TCSADRAIN, &t->saved);
                t->raw = false;
        }
}

static int term_enter(Term *t) {
        if (!isatty(STDOUT_FILENO))
                return 0;
        if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &t->saved) == 0) {
                struct termios raw = t->saved;
                /* Keys one by one, unechoed; Ctrl-C arrives as a key (0x03) so that quitting
                 * always goes through the restore. Output processing stays on. */
                raw.c_lflag &= ~(tcflag_t) (ICANON | ECHO | ISIG | IEXTEN);
                raw.c_iflag &= ~(tcflag_t) (IXON | ICRNL);
                /* Reads happen only after poll() said a key is there; VMIN 0 would make the
                 * terminal always look readable to poll(). */
                raw.c_cc[VMIN] = 1;
                raw.c_cc[VTIME] = 0;
                if (tcsetattr(STDIN_FILENO, TCSADRAIN, &raw) == 0) {
                        t->raw = true;
                        t->keys = true;
                }
        }
        term_size(t);
        fputs("\033[?1049h\033[?25l\033[H\033[2J", stdout);
        t->screen = true;
        return fflush(stdout) == 0 ? 0 : -EIO;
}

/* ------------------------------------------------------------------------------------------ */
/* The loop */

typedef struct SignalFd {
        int fd;
        sigset_t old;
        bool blocked;
} SignalFd;

static void signal_fd_done(SignalFd *s) {
        if (s->fd >= 0)
                close(s->fd);
        if (s->blocked)
                (void) sigprocmask(SIG_SETMASK, &s->old, NULL);
        s->fd = -EBADF;
        s->blocked = false;
}

/* The signals that end or redraw top, as a descriptor to poll: no handler can race the
 * sleep. Set up after launching the program, which must not inherit the blocked mask. */
static int signal_fd_init(SignalFd *s) {
        sigset_t mask;

        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGWINCH);
        if (sigprocmask(SIG_BLOCK, &mask, &s->old) < 0)
                return -errno;
        s->blocked = true;
        s->fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        return s->fd < 0 ? -errno : 0;
}

/* Returns true to quit. */
static bool top_key(Top *top, unsigned char c) {
        switch (c) {
        case 'q':
        case 'Q':
        case 0x03: /* Ctrl-C */
                return true;
        case '1' ... '4': {
                SortKey k = (SortKey) (c - '1');
                /* The same key again flips the order, as in py-spy. */
                top->reverse = top->sort == k ? !top->reverse : false;
                top->sort = k;
                return false;
        }
        default:
                return false;
        }
}

static int top_loop(Top *top, int sigfd, TopEnd *ret_end) {
        usec_t next_refresh = now_usec() + TOP_REFRESH_USEC;
        int r;

        ticker_init(&top->ticker, top->rate);
        if (top->term.screen) {
                r = top_draw(top);
                if (r < 0)
                        return r;
        }
        for (;;) {
                bool redraw = false;

                if (now_usec() >= top->ticker.next) {
                        (void) ticker_wait(&top->ticker);  /* due: does not sleep, counts late ticks */
                        if (top_tick(top) > 0) {
                                *ret_end = TOP_END_EXITED;
                                goto finish;
                        }
                }
                usec_t now = now_usec();
                if (now >= next_refresh) {
                        top_window_close(top);
                        redraw = true;
                        next_refresh += TOP_REFRESH_USEC;
                        if (next_refresh <= now)
                                next_refresh = now + TOP_REFRESH_USEC;
                }
                if (redraw) {
                        r = top_draw(top);
                        if (r < 0)
                                return r;
                        redraw = false;
                }

                now = now_usec();
                usec_t wake = MIN(top->ticker.next, next_refresh);
                usec_t wait = wake > now ? wake - now : 0;
                struct timespec ts = { .tv_sec = (time_t) (wait / USEC_PER_SEC),
                                       .tv_nsec = (long) (wait % USEC_PER_SEC) * 1000 };
                struct pollfd pfd[2] = {
                        { .fd = sigfd, .events = POLLIN },
                        { .fd = STDIN_FILENO, .events = POLLIN },
                };
                r = ppoll(pfd, top->term.keys ? 2 : 1, &ts, NULL);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (pfd[0].revents & POLLIN) {
                        struct signalfd_siginfo si;
                        while (read(sigfd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
                                if (si.ssi_signo == SIGWINCH) {
                                        term_size(&top->term);
                                        redraw = top->term.screen;
                                } else {
                                        *ret_end = TOP_END_QUIT;
                                        goto finish;
                                }
                        }
                }
                if (top->term.keys && pfd[1].revents) {
                        unsigned char keys[64];
                        ssize_t n = read(STDIN_FILENO, keys, sizeof(keys));
                        if (n < 0 && errno != EAGAIN && errno != EINTR)
                                top->term.keys = false;  /* the terminal went away: no keys */
                        else if (n == 0 && (pfd[1].revents & (POLLHUP | POLLERR)))
                                top->term.keys = false;
                        for (ssize_t i = 0; i < n; i++) {
                                if (top_key(top, keys[i])) {
                                        *ret_end = TOP_END_QUIT;
                                        goto finish;
                                }
                                redraw = true;
                        }
                }
                if (redraw) {
                        r = top_draw(top);
                        if (r < 0)
                                return r;
                }
        }
finish:
        /* Without a screen, what was sampled since the last snapshot is not lost. */
        if (!top->term.screen && top->win_samples > 0) {
                top_window_close(top);
                r = top_draw(top);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Quitting top ends a program it started, as py-spy does: nothing is left running unseen. */
static void program_stop(pid_t pid, int *ret_status) {
        if (launch_reap(pid, ret_status) != 0)
                return;
        (void) kill(pid, SIGTERM);
        usec_t deadline = now_usec() + TOP_KILL_GRACE_USEC;
        for (;;) {
                if (launch_reap(pid, ret_status) != 0)
                        return;
                if (now_usec() >= deadline)
                        break;
                struct timespec ts = { 0, 10 * 1000 * 1000 };
                (void) nanosleep(&ts, NULL);
        }
        (void) kill(pid, SIGKILL);
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        *ret_status = 128 + SIGKILL;
}

static void top_done(Top *top) {
        term_restore(&top->term);
        if (top->sampler)
                sampler_free(top->sampler);
        snapshot_done(&top->snap);
        func_table_done(&top->table);
        free(top->cmdline);
}

/* ------------------------------------------------------------------------------------------ */
/* Options */

static void help(void) {
        printf("Usage: pyspy-watch top (--pid PID | [--] PROGRAM [ARGS...]) [OPTIONS...]\n\n"
               "A live, top-like view of the functions a Python process spends its time in.\n\n"
               "Options:\n"
               "  -p --pid PID       The process to look at\n"
               "  -r --rate RATE     Samples per second (default %u, at most %u)\n"
               "     --idle          Count idle threads too (dropped by default)\n"
               "     --gil           Count only the thread holding the GIL\n"
               "     --nonblocking   Never pause the target (the default)\n"
               "     --blocking      Pause the target for each sample (consistent, but slows it)\n"
               "  -h --help          Show this help\n"
               "\nKeys: 1 %%Own, 2 %%Total, 3 OwnTime, 4 TotalTime (again: reverse), q quit.\n"
               "Without a terminal on stdout, a plain table is printed every second.\n"
               "\nSee the pyspy-watch(1) man page for details.\n",
               TOP_RATE_DEFAULT, TOP_RATE_MAX);
}

static int parse_rate(const char *s, unsigned *ret) {
        char *end;

        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || *end || v == 0 || v > TOP_RATE_MAX)
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

static char *escape_for_terminal(const char *s) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        if (!f)
                return NULL;
        term_write_string(f, s);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

int cmd_top(int argc, char **argv) {
        enum { ARG_IDLE = 0x100, ARG_GIL, ARG_NONBLOCKING, ARG_BLOCKING };
        static const struct option options[] = {
                { "pid", required_argument, NULL, 'p' },
                { "rate", required_argument, NULL, 'r' },
                { "idle", no_argument, NULL, ARG_IDLE },
                { "gil", no_argument, NULL, ARG_GIL },
                { "nonblocking", no_argument, NULL, ARG_NONBLOCKING },
                { "blocking", no_argument, NULL, ARG_BLOCKING },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(top_done) Top top = { .rate = TOP_RATE_DEFAULT, .snap = SNAPSHOT_NULL, .table = { .other = -1 } };
        char detail[256] = "", msg[512];
        int c, r;

        opterr = 0;
        optind = 1;
        /* '+': the first word that is not an option starts the program and its own options. */
        while ((c = getopt_long(argc, argv, "+:p:r:h", options, NULL)) >= 0) {
                switch (c) {
                case 'p':
                        if (parse_pid(optarg, &top.pid) < 0) {
                                log_error("top: invalid pid '%s': pass a process id, a positive number", optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case 'r':
                        if (parse_rate(optarg, &top.rate) < 0) {
                                log_error("top: invalid rate '%s': pass samples per second, 1 to %u", optarg, TOP_RATE_MAX);
                                return EXIT_USAGE;
                        }
                        break;
                case ARG_IDLE:
                        top.idle = true;
                        break;
                case ARG_GIL:
                        top.gil = true;
                        break;
                case ARG_NONBLOCKING:
                        top.blocking = false;
                        break;
                case ARG_BLOCKING:
                        top.blocking = true;
                        break;
                case 'h':
                        help();
                        return EXIT_OK;
                case ':':
                        log_error("top: option '%s' needs a value: see 'pyspy-watch top --help'", argv[optind - 1]);
                        return EXIT_USAGE;
                default:
                        log_error("top: unknown option '%s': see 'pyspy-watch top --help'", argv[optind - 1]);
                        return EXIT_USAGE;
                }
        }
        char **program = optind < argc ? argv + optind : NULL;
        if (top.pid > 0 && program) {
                log_error("top: both --pid and a program given: pass one of them");
                return EXIT_USAGE;
        }
        if (top.pid == 0 && !program) {
                log_error("top: no process given: pass --pid PID, or -- PROGRAM [ARGS...] to start one");
                return EXIT_USAGE;
        }

        if (program) {
                r = launch_program(program, &top.pid);
                if (r < 0)
                        return log_error_errno(EXIT_FAILED, "top: cannot run '%s': %s: check the program's name and PATH",
                                               program[0], strerror(-r));
                top.launched = true;
                r = launch_attach(top.pid, TOP_ATTACH_TIMEOUT_USEC, &top.sampler, detail, sizeof(detail));
                if (r < 0) {
                        int status = 0;
                        program_stop(top.pid, &status);
                        if (r == -ESRCH)
                                return log_error_errno(EXIT_FAILED,
                                                       "top: program '%s' exited with status %d before it could be sampled: give it work that lasts",
                                                       program[0], status);
                        log_error("top: %s", sampler_strerror(r, top.pid, detail, msg, sizeof(msg)));
                        return EXIT_FAILED;
                }
        } else {
                r = sampler_attach(top.pid, &top.sampler, detail, sizeof(detail));
                if (r < 0) {
                        log_error("top: %s", sampler_strerror(r, top.pid, detail, msg, sizeof(msg)));
                        return EXIT_FAILED;
                }
        }

        char cmdline[4096];
        proc_cmdline(top.pid, cmdline, sizeof(cmdline));
        top.cmdline = escape_for_terminal(cmdline);
        if (!top.cmdline || func_table_init(&top.table) < 0) {
                if (top.launched)
                        program_stop(top.pid, &top.exit_status);
                return log_error_errno(EXIT_FAILED, "top: out of memory");
        }
        _cleanup_free_ char *version = escape_for_terminal(sampler_target(top.sampler)->version);
        snprintf(top.version, sizeof(top.version), "%s", version ?: "?");

        _cleanup_(signal_fd_done) SignalFd sig = { .fd = -EBADF };
        TopEnd end = TOP_END_QUIT;
        r = signal_fd_init(&sig);
        if (r >= 0)
                r = term_enter(&top.term);
        if (r >= 0)
                r = top_loop(&top, sig.fd, &end);
        term_restore(&top.term);

        if (r < 0) {
                if (top.launched)
                        program_stop(top.pid, &top.exit_status);
                log_error("top: %s: %s", r == -EIO ? "writing the output failed" : "sampling loop failed",
                          strerror(-r));
                return EXIT_FAILED;
        }
        if (top.launched) {
                if (end == TOP_END_EXITED)
                        log_info("program exited with status %d", top.exit_status);
                else {
                        program_stop(top.pid, &top.exit_status);
                        log_info("program %d stopped on quit (status %d)", (int) top.pid, top.exit_status);
                }
        } else if (end == TOP_END_EXITED)
                log_info("process %d exited", (int) top.pid);
        return EXIT_OK;
}
