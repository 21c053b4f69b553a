/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <ini.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "escape.h"
#include "verbs.h"

/* Why the limits have their values:
 * - rate: 1000 samples per second already costs a target ~1% of a core at ~10 us per sample
 *   (bench/sample-cost); beyond it the watchdog becomes the problem it watches for.
 * - stuck_after, cooldown: up to a week, so usec arithmetic in the detector never overflows and
 *   a typo ("60000m") is caught; stuck_after must also span three samples, or one slow sample
 *   would look like a hang.
 * - history: up to a day and HISTORY_SAMPLES_MAX samples (rate x history): every sample is kept
 *   in memory until the incident is written.
 * - max_incident_bytes: at least 1M, since one bundle (dumps, flame graph, speedscope) is tens to
 *   hundreds of KiB; a smaller cap would delete each bundle as soon as it is written. */
#define DURATION_MAX (7 * 24 * 3600 * USEC_PER_SEC)
#define STUCK_AFTER_MIN USEC_PER_SEC
#define STUCK_AFTER_SAMPLES 3
#define HISTORY_MIN USEC_PER_SEC
#define HISTORY_MAX (24 * 3600 * USEC_PER_SEC)
#define HISTORY_SAMPLES_MAX 3600000ULL
#define MAX_INCIDENTS_MAX 100000u
#define MAX_INCIDENT_BYTES_MIN (1024ULL * 1024)

#define DEFAULT_STATE_DIR "/var/lib/pyspy-watch"
#define DEFAULT_MAX_INCIDENTS 50u
#define DEFAULT_MAX_INCIDENT_BYTES (512ULL * 1024 * 1024)
#define DEFAULT_RATE 5u
#define DEFAULT_STUCK_AFTER (60 * USEC_PER_SEC)
#define DEFAULT_HISTORY (10 * 60 * USEC_PER_SEC)
#define DEFAULT_COOLDOWN (30 * 60 * USEC_PER_SEC)

/* config_print() wraps values longer than this onto indented continuation lines: inih reads
 * lines of at most 198 characters (its INI_MAX_LINE of 200, built into the library). */
#define PRINT_WIDTH 76
#define PRINT_LINE_MAX 198

/* The default ignore pattern (WATCH_DEFAULT_IGNORE), and why it is what it is:
 * - The detector calls a thread hung only when its stack has not changed for stuck_after AND it
 *   never woke up (or spun on the CPU) all that time. A loop that sleeps a second between bits of
 *   work wakes every second, so it needs no entry: "sleep" is deliberately absent, and a thread
 *   inside time.sleep(3600) for longer than stuck_after is reported. Servers that poll with a
 *   timeout (socketserver's serve_forever, gunicorn's arbiter) need no entry either.
 * - C functions are not frames: time.sleep, select.select, socket.accept, lock.acquire leave the
 *   innermost frame at the Python function that called them. So the pattern names the
 *   standard-library wrappers, anchored to their file ("accept (.../socket.py)"), never bare
 *   words a user function could contain (select_rows, mysocket.py).
 * - Listed are waits without a timeout that healthy programs sit in indefinitely: accept
 *   (servers), selectors' select (asyncio and every selector loop), asyncore's poll, threading's
 *   wait/join (Condition, Event, queue.Queue, Thread.join), concurrent.futures' _worker (3.7+,
 *   SimpleQueue.get is C), multiprocessing.pool's worker and handler threads, multiprocessing
 *   queue get and connection _recv (pool processes waiting for work), gunicorn's sync worker.
 * - The price, documented in pyspy-watch.ini(5): a lost notify() or a future.result() that never
 *   comes also waits in threading's wait, and subprocess.communicate() in selectors. Usually the
 *   thread being waited for is stuck itself and reported; a lock deadlock ("with lock:") is
 *   reported since the lock is a C call. Without threading's wait, every daemon whose main
 *   thread waits on an Event, or whose workers wait on a queue, would alert after a minute. */

/* ---- string tables ---- */

static const char *const selector_table[_SELECT_MAX] = {
        [SELECT_PID] = "pid",
        [SELECT_PIDFILE] = "pidfile",
        [SELECT_UNIT] = "unit",
        [SELECT_MATCH] = "match",
};
static const char *const threads_table[_WATCH_THREADS_MAX] = {
        [WATCH_THREADS_ALL] = "all",
        [WATCH_THREADS_MAIN] = "main",
};
static const char *const action_table[_ACTION_MAX] = {
        [ACTION_NONE] = "none",
        [ACTION_KILL] = "kill",
        [ACTION_EXEC] = "exec",
};

const char *watch_selector_to_string(WatchSelector s) {
        return s >= 0 && s < _SELECT_MAX ? selector_table[s] : NULL;
}
const char *watch_threads_to_string(WatchThreads t) {
        return t >= 0 && t < _WATCH_THREADS_MAX ? threads_table[t] : NULL;
}
WatchThreads watch_threads_from_string(const char *s) {
        for (int i = 0; s && i < _WATCH_THREADS_MAX; i++)
                if (strcmp(s, threads_table[i]) == 0)
                        return (WatchThreads) i;
        return _WATCH_THREADS_INVALID;
}
const char *watch_action_to_string(WatchAction a) {
        return a >= 0 && a < _ACTION_MAX ? action_table[a] : NULL;
}
WatchAction watch_action_from_string(const char *s) {
        for (int i = 0; s && i < _ACTION_MAX; i++)
                if (strcmp(s, action_table[i]) == 0)
                        return (WatchAction) i;
        return _ACTION_INVALID;
}

/* ---- values ---- */

/* Decimal digits into *v; -ERANGE on overflow. Returns the end. */
static int parse_digits(const char **s, uint64_t *v) {
        uint64_t x = 0;
        const char *p = *s;

        if (!isdigit((unsigned char) *p))
                return -EINVAL;
        for (; isdigit((unsigned char) *p); p++)
                if (__builtin_mul_overflow(x, 10, &x) || __builtin_add_overflow(x, (uint64_t) (*p - '0'), &x))
                        return -ERANGE;
        *s = p;
        *v = x;
        return 0;
}

/* NUMBER[.FRACTION][ms|s|m|h], nothing else: no sign, no spaces, no compound "1h30m". A fraction
 * ("1.5s", "0.5h") is exact down to the microsecond, finer digits are dropped. */
int parse_duration(const char *s, usec_t *ret) {
        static const struct { const char *suffix; usec_t unit; } units[] = {
                { "", USEC_PER_SEC }, { "ms", USEC_PER_MSEC }, { "s", USEC_PER_SEC },
                { "m", 60 * USEC_PER_SEC }, { "h", 3600 * USEC_PER_SEC },
        };
        uint64_t whole, frac = 0, denom = 1;
        usec_t unit = 0, total;
        int r;

        if (!s)
                return -EINVAL;
        r = parse_digits(&s, &whole);
        if (r < 0)
                return r;
        if (*s == '.') {
                s++;
                if (!isdigit((unsigned char) *s))
                        return -EINVAL;
                for (; isdigit((unsigned char) *s); s++)
                        if (denom < 1000000000ULL) {   /* 9 digits: frac * unit stays below 2^64 */
                                frac = frac * 10 + (uint64_t) (*s - '0');
                                denom *= 10;
                        }
        }
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (strcmp(s, units[i].suffix) == 0)
                        unit = units[i].unit;
        if (unit == 0)
                return -EINVAL;
        if (__builtin_mul_overflow(whole, unit, &total) ||
            __builtin_add_overflow(total, frac * unit / denom, &total))
                return -ERANGE;
        *ret = total;
        return 0;
}

/* NUMBER[K|M|G], 1024-based; a bare number is bytes. */
int parse_size(const char *s, uint64_t *ret) {
        uint64_t v, mult = 1;
        int r;

        if (!s)
                return -EINVAL;
        r = parse_digits(&s, &v);
        if (r < 0)
                return r;
        switch (*s) {
        case 0:
                break;
        case 'K':
                mult = 1ULL << 10;
                s++;
                break;
        case 'M':
                mult = 1ULL << 20;
                s++;
                break;
        case 'G':
                mult = 1ULL << 30;
                s++;
                break;
        default:
                return -EINVAL;
        }
        if (*s)
                return -EINVAL;
        if (__builtin_mul_overflow(v, mult, &v))
                return -ERANGE;
        *ret = v;
        return 0;
}

char *config_format_duration(usec_t u, char buf[static CONFIG_FORMAT_MAX]) {
        static const struct { usec_t unit; const char *suffix; } units[] = {
                { 3600 * USEC_PER_SEC, "h" }, { 60 * USEC_PER_SEC, "m" },
                { USEC_PER_SEC, "s" }, { USEC_PER_MSEC, "ms" },
        };
        if (u == 0) {
                snprintf(buf, CONFIG_FORMAT_MAX, "0s");
                return buf;
        }
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (u % units[i].unit == 0) {
                        snprintf(buf, CONFIG_FORMAT_MAX, "%" PRIu64 "%s", u / units[i].unit, units[i].suffix);
                        return buf;
                }
        /* Not a whole number of milliseconds: a fraction with the trailing zeros cut. */
        char frac[4];
        snprintf(frac, sizeof(frac), "%03u", (unsigned) (u % USEC_PER_MSEC));
        for (int i = 2; i > 0 && frac[i] == '0'; i--)
                frac[i] = 0;
        snprintf(buf, CONFIG_FORMAT_MAX, "%" PRIu64 ".%sms", u / USEC_PER_MSEC, frac);
        return buf;
}

char *config_format_size(uint64_t bytes, char buf[static CONFIG_FORMAT_MAX]) {
        static const struct { unsigned shift; char suffix; } units[] = { { 30, 'G' }, { 20, 'M' }, { 10, 'K' } };
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (bytes != 0 && bytes % (1ULL << units[i].shift) == 0) {
                        snprintf(buf, CONFIG_FORMAT_MAX, "%" PRIu64 "%c", bytes >> units[i].shift, units[i].suffix);
                        return buf;
                }
        snprintf(buf, CONFIG_FORMAT_MAX, "%" PRIu64, bytes);
        return buf;
}

/* "H:MM" or "HH:MM" into minutes; hour 24 only as "24:00" and only where allow_24. */
static int parse_clock(const char **s, bool allow_24, unsigned *ret) {
        const char *p = *s;
        unsigned h = 0, m;

        if (!isdigit((unsigned char) p[0]))
                return -EINVAL;
        h = (unsigned) (*p++ - '0');
        if (isdigit((unsigned char) *p))
                h = h * 10 + (unsigned) (*p++ - '0');
        if (*p++ != ':' || !isdigit((unsigned char) p[0]) || !isdigit((unsigned char) p[1]))
                return -EINVAL;
        m = (unsigned) (p[0] - '0') * 10 + (unsigned) (p[1] - '0');
        if (m > 59 || h > 24 || (h == 24 && (!allow_24 || m != 0)))
                return -EINVAL;
        *s = p + 2;
        *ret = h * 60 + m;
        return 0;
}

bool watch_window_active(const Watch *w, unsigned minute_of_day) {
        if (!w->has_window)
                return true;
        if (w->window_start < w->window_end)
                return minute_of_day >= w->window_start && minute_of_day < w->window_end;
        /* Crosses midnight: 22:00-04:00 is 22:00..23:59 and 00:00..03:59. */
        return minute_of_day >= w->window_start || minute_of_day < w->window_end;
}

static void strv_free(char **v) {
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

/* ---- errors ---- */

typedef struct Section {
        char *name;
        unsigned line;
        bool bad;                  /* already reported (e.g. junk after ']'): its keys are skipped */
} Section;

typedef struct Entry {
        size_t section;            /* index into sections; SIZE_MAX: before the first header */
        char *key;
        char *value;               /* continuation lines joined with '\n' until interpreted */
        unsigned line;
        unsigned cont_line;        /* first indented continuation line, 0 if none */
} Entry;

typedef enum LineKind {
        LINE_BLANK,                /* empty or comment */
        LINE_SECTION,
        LINE_KEY,
        LINE_CONT,                 /* indented: inih appends it to the previous key's value */
        LINE_BAD,                  /* reported here, handed to inih as an empty line */
} LineKind;

typedef struct Parser {
        FILE *f;
        char *buf;
        size_t bufsz;
        unsigned line;
        LineKind kind;             /* of the line last handed to inih */
        bool have_key;             /* mirrors inih's prev_name: an indented line continues it */
        Section *sections;
        size_t n_sections;
        Entry *entries;
        size_t n_entries;
        ConfigErrors *errors;
        bool oom;
} Parser;

_printf_(3, 4) static void perr(Parser *p, unsigned line, const char *fmt, ...) {
        ConfigError *n;
        char *msg;
        va_list ap;

        va_start(ap, fmt);
        int r = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (r < 0) {
                p->oom = true;
                return;
        }
        /* Messages quote the file's own bytes: escaped for the terminal they are printed on,
         * so that each stays one readable line whatever the file holds. */
        char *safe = NULL;
        size_t safe_len;
        FILE *m = open_memstream(&safe, &safe_len);
        if (!m || term_write_string(m, msg) < 0 || fclose(m) != 0) {
                if (m)
                        (void) fclose(m);
                free(safe);
                free(msg);
                p->oom = true;
                return;
        }
        free(msg);
        msg = safe;
        n = reallocarray(p->errors->errors, p->errors->n + 1, sizeof(ConfigError));
        if (!n) {
                free(msg);
                p->oom = true;
                return;
        }
        p->errors->errors = n;
        n[p->errors->n++] = (ConfigError) { .line = line, .message = msg };
}

void config_errors_done(ConfigErrors *e) {
        if (!e)
                return;
        for (size_t i = 0; i < e->n; i++)
                free(e->errors[i].message);
        free(e->errors);
        *e = (ConfigErrors) {};
}

/* By line, keeping the order of discovery within a line: an insertion sort, stable, and the
 * lists are short. */
static void errors_sort(ConfigError *e, size_t n) {
        for (size_t i = 1; i < n; i++) {
                ConfigError x = e[i];
                size_t j = i;
                for (; j > 0 && e[j - 1].line > x.line; j--)
                        e[j] = e[j - 1];
                e[j] = x;
        }
}

/* ---- the keys ---- */

typedef struct Item Item;
typedef void (*ItemParser)(Parser *p, const Item *it, const Entry *e, const char *sect, void *obj);
struct Item {
        const char *key;
        ItemParser parse;
        size_t offset;
        char join;                 /* continuation lines: JOIN_NONE refused, JOIN_CONCAT, JOIN_SPACE */
};
#define JOIN_NONE 0
#define JOIN_CONCAT 1
#define JOIN_SPACE ' '

static void parse_path(Parser *p, const Item *it, const Entry *e, const char *sect, void *obj) {
        char **v = (char **) ((uint8_t *) obj + it->offset);
        if (e->value[0] != '/') {
                perr(p, e->line, "%s '%s' in %s is not an absolute path: write it starting with '/'",
                     it->key, e->value, sect);
                return;
        }
        char *s = strdup(e->value);
        if (!s) {
                p->oom = true;
                return;
        }
        free(*v);
        *v = s;
}

static void parse_max_incidents(Parser *p, const Item *it, const Entry *e, const char *sect, void *obj) {
        Config *c = obj;
        uint64_t v;
        const char *s = e->value;
        if (parse_digits(&s, &v) < 0 || *s || v < 1 || v > MAX_INCIDENTS_MAX) {
                perr(p, e->line, "invalid %s '%s' in %s: use a whole number from 1 to %u",
                     it->key, e->value, sect, MAX_INCIDENTS_MAX);
                return;
        }
        c->max_incidents = (unsigned) v;
}

static void parse_max_incident_bytes(Parser *p, const Item *it, const Entry *e, const char *sect, void *obj) {
        Config *c = obj;
        uint64_t v;
        int r = parse_size(e->value, &v);
        if (r < 0 || v < MAX_INCIDENT_BYTES_MIN) {
                perr(p, e->line, "invalid %s '%s' in %s: use a size of at least 1M, like 512M or 2G (K, M, G are 1024-based)",
                     it->key, e->value, sect);
                return;
        }
        c->max_incident_bytes = v;
}

/* The selectors store the value only for the first one given: a second is reported after the
 * section, and must not leak or overwrite the first (match_re is compiled only for SELECT_MATCH). */
static bool selector_free_slot(Watch *w) {
        return w->selector == _SELECT_INVALID && !w->selector_value;
}

static void selector_set(Parser *p, Watch *w, WatchSelector s, const char *value) {
        w->selector_value = strdup(value);
        if (!w->selector_value) {
                p->oom = true;
                return;
        }
        w->selector = s;
}

static void parse_sel_pid(Parser *p, const Item *it, const Entry *e, const char *sect, void *obj) {
        Watch *w = obj;
        pid_t pid;
        if (parse_pid(e->value, &pid) < 0) {
                perr(p, e->line, "invalid %s '%s' in %s: use a process id (a positive number), or pidfile/unit/match for a target that restarts",
                     it->key, e->value, sect);
                return;
        }
        if (!selector_free_slot(w))
                return;
        selector_set(p, w, SELECT_PID, e->value);
        w->pid = pid;
}

static void parse_sel_pidfile(Parser *p, const Item *it, const Entry *e, const char *sect, void *obj) {
        Watch *w = obj;
        if (e->value[0] != '/') {
                perr(p, e->line, "%s '%s' in %s is not an absolute path: write it starting with '/'",
                     it->key, e->value, sect);
                return;
        }
        if (selector_free_slot(w))
                selector_set(p, w, SELECT_PIDFILE, e->value);
}

static void parse_sel_unit(Parser *p, const Item *it, const Entry *e, const char *sect, void *obj) {
        static const char *const types[] = {
                ".service", ".scope", ".slice", ".socket", ".mount", ".swap",
        };
        Watch *w = obj;
        const char *dot = strrchr(e->value, '.');
        bool ok = true;

        for (const char *c = e->value; ok && *c; c++)
                ok = isalnum((unsigned char) *c) || strchr(":-_.\\@", *c);
        if (!ok) {
                perr(p, e->line, "invalid %s '%s' in %s: use a systemd unit name like app.service (letters, digits, ':-_.\\@')",
                     it->key, e->value, sect);
                return;
        }
        bool typed = false;
        for (size_t i = 0; dot && dot != e->value && i < ELEMENTSOF(types); i++)
                typed = typed || strcmp(dot, types[i]) == 0;
        if (!typed) {
                perr(p, e->line, "%s '%s' in %s has no unit type with processes: write the full name, like %.*s.service",
                     it->key, e->value, sect, dot ? (int) (dot - e->value) : (int) strlen(e->value), e->value);
                return;
        }
        if (selector_free_slot(w))
                selector_set(p, w, SELECT_UNIT, e->value);
}

/* Most parse-tree nodes a pattern may cost regcomp(): its epsilon closures grow faster than
 * the nodes (a++++++++++++++++, 65536 nodes, took a minute); a{1,5000} takes 80 ms. */
#define REGEX_COST_MAX 10000.0

/* An estimate of the parse-tree nodes glibc's regcomp() builds for an extended regular
 * expression. It copies the subtree under a repetition once per bound ('+', '?' and '*' about
 * once, {m,n} n times), so stacked or nested repetitions multiply: "a+++++++++++++++++++++++"
 * takes gigabytes. Each atom costs 1, a group the sum of its contents, a repetition multiplies
 * the atom or group before it. */
static double regex_cost(const char *s) {
        double stack[64][2];            /* the enclosing groups' (sum, last) */
        size_t depth = 0;
        double sum = 0, last = 0;

        for (const char *c = s; *c; c++) {
                double factor = 0;
                switch (*c) {
                case '\\':
                        if (c[1])
                                c++;
                        last = 1, sum += 1;
                        break;
                case '[':
                        /* A bracket expression is one node: skip to its ']' (a ']' first, or
                         * after '^', is a member; so are the insides of [:class:]). */
                        c++;
                        if (*c == '^')
                                c++;
                        if (*c == ']')
                                c++;
                        while (*c && *c != ']') {
                                if (c[0] == '[' && (c[1] == ':' || c[1] == '.' || c[1] == '=')) {
                                        const char *end = strchr(c + 2, c[1]);
                                        c = end && end[1] == ']' ? end + 2 : c + 1;
                                } else
                                        c++;
                        }
                        if (!*c)
                                c--;
                        last = 1, sum += 1;
                        break;
                case '(':
                        if (depth < ELEMENTSOF(stack)) {
                                stack[depth][0] = sum, stack[depth][1] = last;
                                depth++;
                        }
                        sum = 0, last = 0;
                        break;
                case ')':
                        if (depth > 0) {
                                depth--;
                                last = sum + 1;
                                sum = stack[depth][0] + last;
                        }
                        break;
                case '|':
                        last = 0, sum += 1;
                        break;
                case '*':
                case '+':
                case '?':
                        factor = 2;
                        break;
                case '{': {
                        char *end;
                        unsigned long m = strtoul(c + 1, &end, 10), n = m;
                        if (*end == ',')
                                n = end[1] == '}' ? m + 1 : strtoul(end + 1, &end, 10);
                        if (end == c + 1 || (*end != '}' && *end != ','))
                                last = 1, sum += 1;   /* not a bound: a literal '{' */
                        else {
                                factor = (double) (MAX(m, n) + 1);
                                c = strchr(c, '}') ?: c + strlen(c) - 1;
                        }
                        break;
                }
                default:
                        last = 1, sum += 1;
                }
                if (factor > 0) {
                        sum += last * (factor - 1);
                        last *= factor;
                }
                if (sum > REGEX_COST_MAX)
                        return sum;
        }
        while (depth > 0) {
                depth--;
                sum += stack[depth][0];
        }
        return sum;
}

/* Compiles value into re; reports regerror()'s text. 0 on success. */
static int compile_regex(Parser *p, const Item *it, const Entry *e, const char *sect, regex_t *re, int flags) {
        if (regex_cost(e->value) > REGEX_COST_MAX) {
                perr(p, e->line, "regular expression in %s of %s is too costly to compile (stacked or nested repetitions such as a++ or (a{1,100}){1,100}): simplify the pattern",
                     it->key, sect);
                return -EINVAL;
        }
        int r = regcomp(re, e->value, REG_EXTENDED | flags);
        if (r != 0) {
                char msg[256];
                regerror(r, re, msg, sizeof(msg));
                perr(p, e->line, "invalid regular expression in %s of %s: %s: fix the pattern (POSIX extended syntax)",
                     it->key, sect, msg);
                return -EINVAL;
        }
        return 0;
}

static void parse_sel_match(Parser *p, const Item *it, const Entry *e, const char *sect, void *obj) {
        Watch *w = obj;
        regex_t re;

        if (compile_regex(p, it, e, sect, &re, REG_NOSUB) < 0)
                return;
        if (!selector_free_slot(w)) {
                regfree(&re);
                return;
        }
        selector_set(p, w, SELECT_MATCH, e->value);
        if (w->selector == SELECT_MATCH)
                w->match_re = re;
        else
                regfree(&re);
}

static void parse_rate(Parser *p, const Item *it, const Entry *e, const char *sect, void *obj) {
        Watch *w = obj;
        uint64_t v;
        const char *s = e->value;
        if (parse_digits(&s, &v) < 0 || *s || v < 1 || v > WATCH_RATE_MAX) {
                perr(p, e->line, "invalid %s '%s' in %s: use a whole number of samples per second from 1 to %u",
                     it->key, e->value, sect, WATCH_RATE_MAX);
                return;
        }
        w->rate = (unsigned) v;
}

static void parse_dur(Parser *p, const Item *it, const Entry *e, const char *sect, void *obj) {
        usec_t *v = (usec_t *) ((uint8_t *) obj + it->offset), u, min = 0, max = DURATION_MAX;
        const char *range = "0 to 168h";

        if (strcmp(it->key, "stuck_after") == 0)
                min = STUCK_AFTER_MIN, range = "1s to 168h";
        else if (strcmp(it->key, "history") == 0)
                min = HISTORY_MIN, max = HISTORY_MAX, range = "1s to 24h";
        if (parse_duration(e->value, &u) < 0) {
                perr(p, e->line, "invalid %s '%s' in %s: use a duration like 500ms, 30s, 5m or 2h (a bare number is seconds)",
                     it->key, e->value, sect);
                return;
        }
        if (u < min || u > max) {
                perr(p, e->line, "%s '%s' in %s is out of range: use %s", it->key, e->value, sect, range);
                return;
        }
        *v = u;
}

static void parse_window(Parser *p, const Item *it, const Entry *e, const char *sect, void *obj) {
        Watch *w = obj;
        const char *s = e->value;
        unsigned a, b;

        if (parse_clock(&s, false, &a) < 0 || *s++ != '-' || parse_clock(&s, true, &b) < 0 || *s) {
                perr(p, e->line, "invalid %s '%s' in %s: use HH:MM-HH:MM in local time, like 01:00-05:00 or 22:00-04:00",
                     it->key, e->value, sect);
                return;
        }
        if (a == b) {
                perr(p, e->line, "%s '%s' in %s is empty: remove the line to watch around the clock",
                     it->key, e->value, sect);
                return;
        }
        w->has_window = true;
        w->window_start = a;
        w->window_end = b;
}

static void parse_threads(Parser *p, const Item *it, const Entry *e, const char *sect, void *obj) {
        Watch *w = obj;
        WatchThreads t = watch_threads_from_string(e->value);
        if (t < 0) {
                perr(p, e->line, "invalid %s '%s' in %s: use all or main", it->key, e->value, sect);
                return;
        }
        w->threads = t;
}

static void parse_locals(Parser *p, const Item *it, const Entry *e, const char *sect, void *obj) {
        static const char *const yes[] = { "yes", "true", "1", "on" }, *const no[] = { "no", "false", "0", "off" };
        Watch *w = obj;
        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(e->value, yes[i]) == 0) {
                        w->locals = true;
                        return;
                }
                if (strcasecmp(e->value, no[i]) == 0) {
                        w->locals = false;
                        return;
                }
        }
        perr(p, e->line, "invalid %s '%s' in %s: use yes or no", it->key, e->value, sect);
}

/* ignore and redact: an empty value turns them off (the string becomes NULL, nothing is
 * compiled), since an empty POSIX regex would match every frame or every name. */
static void parse_regex_opt(Parser *p, const Item *it, const Entry *e, const char *sect, void *obj) {
        Watch *w = obj;
        bool redact = strcmp(it->key, "redact") == 0;
        char **str = redact ? &w->redact : &w->ignore;
        regex_t *re = redact ? &w->redact_re : &w->ignore_re;
        regex_t n;
        char *s = NULL;

        if (e->value[0]) {
                if (compile_regex(p, it, e, sect, &n, REG_NOSUB | (redact ? REG_ICASE : 0)) < 0)
                        return;
                s = strdup(e->value);
                if (!s) {
                        regfree(&n);
                        p->oom = true;
                        return;
                }
        }
        if (*str)
                regfree(re);
        free(*str);
        *str = s;
        if (s)
                *re = n;
}

static void parse_action(Parser *p, const Item *it, const Entry *e, const char *sect, void *obj) {
        Watch *w = obj;
        WatchAction a = watch_action_from_string(e->value);
        if (a < 0) {
                perr(p, e->line, "invalid %s '%s' in %s: use none, kill or exec", it->key, e->value, sect);
                return;
        }
        w->action = a;
}

/* exec: argv split on blanks, no shell, so no quoting either: a quote would reach the program
 * as a literal character, which is never what was meant. Each '{' opens one of the known
 * placeholders; the program is an absolute path (the daemon runs as root: no $PATH lookup). */
static void parse_exec(Parser *p, const Item *it, const Entry *e, const char *sect, void *obj) {
        static const char *const placeholders[] = { "name", "pid", "bundle", "tid", "incident" };
        Watch *w = obj;
        char **argv = NULL;
        size_t n = 0;
        bool bad = false;

        if (strpbrk(e->value, "\"'")) {
                perr(p, e->line, "%s in %s contains a quote: arguments are split on blanks and never passed through a shell, so write them without quotes (use a wrapper script for anything else)",
                     it->key, sect);
                return;
        }
        for (const char *s = e->value; *s;) {
                size_t len = strcspn(s, " \t");
                if (len == 0) {
                        s++;
                        continue;
                }
                char **nv = reallocarray(argv, n + 2, sizeof(char *));
                if (!nv) {
                        p->oom = true;
                        break;
                }
                argv = nv;
                argv[n] = strndup(s, len);
                argv[n + 1] = NULL;
                if (!argv[n]) {
                        p->oom = true;
                        break;
                }
                n++;
                s += len;
        }
        if (p->oom || !argv) {
                strv_free(argv);
                return;
        }
        for (size_t i = 0; argv && argv[i]; i++)
                for (const char *b = strchr(argv[i], '{'); b; b = strchr(b + 1, '{')) {
                        const char *end = strchr(b, '}');
                        bool known = false;
                        for (size_t k = 0; end && k < ELEMENTSOF(placeholders); k++)
                                known = known || ((size_t) (end - b - 1) == strlen(placeholders[k]) &&
                                                  strncmp(b + 1, placeholders[k], (size_t) (end - b - 1)) == 0);
                        if (!known) {
                                int l = end ? (int) (end - b + 1) : (int) strlen(b);
                                perr(p, e->line, "unknown placeholder '%.*s' in exec of %s: use {name}, {pid}, {tid}, {bundle} or {incident}",
                                     l, b, sect);
                                bad = true;
                                break;
                        }
                        if (i == 0) {
                                perr(p, e->line, "exec in %s has a placeholder in the program name: name the program itself, pass values as arguments",
                                     sect);
                                bad = true;
                                break;
                        }
                }
        if (!bad && argv[0][0] != '/') {
                perr(p, e->line, "exec program '%s' in %s is not an absolute path: write the full path (hooks run as root without a $PATH lookup)",
                     argv[0], sect);
                bad = true;
        }
        if (bad) {
                strv_free(argv);
                return;
        }
        char *s = strdup(e->value);
        if (!s) {
                strv_free(argv);
                p->oom = true;
                return;
        }
        free(w->exec);
        strv_free(w->exec_argv);
        w->exec = s;
        w->exec_argv = argv;
}

static const Item daemon_items[] = {
        { "state_dir", parse_path, offsetof(Config, state_dir), JOIN_NONE },
        { "max_incidents", parse_max_incidents, 0, JOIN_NONE },
        { "max_incident_bytes", parse_max_incident_bytes, 0, JOIN_NONE },
};

enum {
        W_PID, W_PIDFILE, W_UNIT, W_MATCH, W_RATE, W_STUCK_AFTER, W_WINDOW, W_THREADS, W_IGNORE,
        W_HISTORY, W_LOCALS, W_REDACT, W_COOLDOWN, W_ACTION, W_EXEC, _W_MAX,
};
static const Item watch_items[_W_MAX] = {
        [W_PID] = { "pid", parse_sel_pid, 0, JOIN_NONE },
        [W_PIDFILE] = { "pidfile", parse_sel_pidfile, 0, JOIN_NONE },
        [W_UNIT] = { "unit", parse_sel_unit, 0, JOIN_NONE },
        [W_MATCH] = { "match", parse_sel_match, 0, JOIN_CONCAT },
        [W_RATE] = { "rate", parse_rate, 0, JOIN_NONE },
        [W_STUCK_AFTER] = { "stuck_after", parse_dur, offsetof(Watch, stuck_after), JOIN_NONE },
        [W_WINDOW] = { "window", parse_window, 0, JOIN_NONE },
        [W_THREADS] = { "threads", parse_threads, 0, JOIN_NONE },
        [W_IGNORE] = { "ignore", parse_regex_opt, 0, JOIN_CONCAT },
        [W_HISTORY] = { "history", parse_dur, offsetof(Watch, history), JOIN_NONE },
        [W_LOCALS] = { "locals", parse_locals, 0, JOIN_NONE },
        [W_REDACT] = { "redact", parse_regex_opt, 0, JOIN_CONCAT },
        [W_COOLDOWN] = { "cooldown", parse_dur, offsetof(Watch, cooldown), JOIN_NONE },
        [W_ACTION] = { "action", parse_action, 0, JOIN_NONE },
        [W_EXEC] = { "exec", parse_exec, 0, JOIN_SPACE },
};

static const Item *item_find(const Item *items, size_t n, const char *key) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(items[i].key, key) == 0)
                        return &items[i];
        return NULL;
}

/* Levenshtein distance, case-insensitive, for "did you mean" (names here are short). */
static unsigned edit_distance(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b);
        unsigned row[65];

        if (la > 64 || lb > 64)
                return UINT32_MAX;
        for (size_t j = 0; j <= lb; j++)
                row[j] = (unsigned) j;
        for (size_t i = 1; i <= la; i++) {
                unsigned diag = row[0];
                row[0] = (unsigned) i;
                for (size_t j = 1; j <= lb; j++) {
                        unsigned up = row[j];
                        unsigned cost = tolower((unsigned char) a[i - 1]) != tolower((unsigned char) b[j - 1]);
                        row[j] = MIN(MIN(row[j] + 1, row[j - 1] + 1), diag + cost);
                        diag = up;
                }
        }
        return row[lb];
}

/* The closest key within two edits (and closer than the key's own length), or NULL. */
static const char *suggest(const Item *items, size_t n, const char *key) {
        const char *best = NULL;
        unsigned best_d = 3;
        for (size_t i = 0; i < n; i++) {
                unsigned d = edit_distance(key, items[i].key);
                if (d < best_d && d < strlen(key)) {
                        best = items[i].key;
                        best_d = d;
                }
        }
        return best;
}

static bool is_known_key(const char *key, size_t len) {
        for (size_t i = 0; i < _W_MAX; i++)
                if (strlen(watch_items[i].key) == len && strncmp(watch_items[i].key, key, len) == 0)
                        return true;
        for (size_t i = 0; i < ELEMENTSOF(daemon_items); i++)
                if (strlen(daemon_items[i].key) == len && strncmp(daemon_items[i].key, key, len) == 0)
                        return true;
        return false;
}

/* Whether a line (from its first non-blank) reads "KEY =" or "KEY:" for a known key: as a
 * continuation line it is refused (indented by mistake), so values must not wrap onto one. */
static bool looks_like_key(const char *s) {
        size_t klen = strcspn(s, " \t=:");
        const char *after = s + klen;
        while (*after == ' ' || *after == '\t')
                after++;
        return (*after == '=' || *after == ':') && is_known_key(s, klen);
}

/* ---- reading: our line counter and inih ---- */

/* inih's own scan for a delimiter, stopping at an inline comment: ';' after whitespace. */
static const char *find_delim(const char *s, const char *chars) {
        bool was_space = false;
        for (; *s; s++) {
                if (chars && strchr(chars, *s))
                        return s;
                if (was_space && *s == ';')
                        return s;
                was_space = isspace((unsigned char) *s);
        }
        return s;
}

static Section *section_add(Parser *p, const char *name, size_t len) {
        Section *ns = reallocarray(p->sections, p->n_sections + 1, sizeof(Section));
        if (!ns) {
                p->oom = true;
                return NULL;
        }
        p->sections = ns;
        ns[p->n_sections] = (Section) { .name = strndup(name, len), .line = p->line };
        if (!ns[p->n_sections].name) {
                p->oom = true;
                return NULL;
        }
        return &ns[p->n_sections++];
}

/* Classifies a line the way inih will read it (ini.c: ini_parse_stream), so that we know the
 * line number of every handler call, see section headers that have no keys (inih reports only
 * keys), and report malformed lines ourselves: inih only returns the first one. */
static LineKind classify(Parser *p, char *line, size_t n, size_t max) {
        char *start = line, *end;

        if (strlen(line) != n) {
                perr(p, p->line, "line contains a NUL byte: this is not a text file");
                return LINE_BAD;
        }
        if (n + 1 > max) {
                perr(p, p->line, "line is longer than %zu characters: continue a long ignore, redact, match or exec value on indented lines",
                     max - 2);
                return LINE_BAD;
        }
        if (p->line == 1 && (uint8_t) start[0] == 0xEF && (uint8_t) start[1] == 0xBB && (uint8_t) start[2] == 0xBF)
                start += 3;
        end = start + strlen(start);
        while (end > start && isspace((unsigned char) end[-1]))
                end--;
        while (start < end && isspace((unsigned char) *start))
                start++;
        if (start == end || *start == ';' || *start == '#')
                return LINE_BLANK;

        if (p->have_key && start > line) {
                /* An indented line continues the previous value, even "rate = 5": say so, since
                 * indenting keys is a common habit from other formats. */
                size_t klen = strcspn(start, " \t=:");
                if (looks_like_key(start)) {
                        perr(p, p->line, "indented key '%.*s' would continue the value above it: remove the indentation",
                             (int) klen, start);
                        return LINE_BAD;
                }
                return LINE_CONT;
        }

        if (*start == '[') {
                const char *close = find_delim(start + 1, "]");
                if (*close != ']') {
                        perr(p, p->line, "section header has no closing ']': write [daemon] or [watch:NAME]");
                        /* Its keys belong to no known section: skip them, one error is enough. */
                        Section *bad = section_add(p, "", 0);
                        if (bad)
                                bad->bad = true;
                        return LINE_BAD;
                }
                const char *a = start + 1, *b = close;
                while (a < b && isspace((unsigned char) *a))
                        a++;
                while (b > a && isspace((unsigned char) b[-1]))
                        b--;
                Section *s = section_add(p, a, (size_t) (b - a));
                if (!s)
                        return LINE_BAD;
                const char *rest = close + 1;
                while (rest < end && isspace((unsigned char) *rest))
                        rest++;
                if (rest < end && !(*rest == ';' && rest > close + 1)) {
                        perr(p, p->line, "unexpected text after ']': put comments after ' ;'");
                        s->bad = true;
                }
                p->have_key = false;
                return LINE_SECTION;
        }

        const char *eq = find_delim(start, "=:");
        if (*eq != '=' && *eq != ':') {
                perr(p, p->line, "expected 'key = value', [daemon] or [watch:NAME]");
                return LINE_BAD;
        }
        if (eq == start) {
                perr(p, p->line, "missing key name before '%c'", *eq);
                return LINE_BAD;
        }
        p->have_key = true;
        return LINE_KEY;
}

static char *reader(char *str, int num, void *stream) {
        Parser *p = stream;
        ssize_t n = getline(&p->buf, &p->bufsz, p->f);

        if (n < 0 || num < 2)
                return NULL;
        p->line++;
        p->kind = classify(p, p->buf, (size_t) n, (size_t) num);
        if (p->kind == LINE_BAD) {
                /* inih sees an empty line: it neither reports the line again nor changes state. */
                strcpy(str, "\n");
                return str;
        }
        if (p->kind == LINE_CONT) {
                /* An inline comment ends a continuation line as it ends a key's line (inih
                 * strips it only from the latter): "  |b ; why" continues with "|b". */
                char *c = (char *) find_delim(p->buf, NULL);
                if (*c) {
                        c[0] = '\n', c[1] = 0;
                        n = c + 1 - p->buf;
                }
        }
        memcpy(str, p->buf, (size_t) n + 1);
        return str;
}

static int handler(void *user, const char *section, const char *name, const char *value) {
        Parser *p = user;
        (void) section;            /* ours, from the reader, knows about sections without keys */

        if (p->kind == LINE_CONT) {
                Entry *e = &p->entries[p->n_entries - 1];
                char *v;
                if (asprintf(&v, "%s\n%s", e->value, value) < 0) {
                        p->oom = true;
                        return 0;
                }
                free(e->value);
                e->value = v;
                if (e->cont_line == 0)
                        e->cont_line = p->line;
                return 1;
        }
        if (p->kind != LINE_KEY)
                return 1;          /* cannot happen: only key and continuation lines call us */
        Entry *ne = reallocarray(p->entries, p->n_entries + 1, sizeof(Entry));
        if (!ne) {
                p->oom = true;
                return 0;
        }
        p->entries = ne;
        Entry *e = &ne[p->n_entries];
        *e = (Entry) {
                .section = p->n_sections > 0 ? p->n_sections - 1 : SIZE_MAX,
                .key = strdup(name),
                .value = strdup(value),
                .line = p->line,
        };
        if (!e->key || !e->value) {
                free(e->key);
                free(e->value);
                p->oom = true;
                return 0;
        }
        p->n_entries++;
        return 1;
}

static void parser_done(Parser *p) {
        free(p->buf);
        for (size_t i = 0; i < p->n_sections; i++)
                free(p->sections[i].name);
        free(p->sections);
        for (size_t i = 0; i < p->n_entries; i++) {
                free(p->entries[i].key);
                free(p->entries[i].value);
        }
        free(p->entries);
}

/* ---- interpreting ---- */

static void watch_done(Watch *w) {
        free(w->name);
        if (w->selector == SELECT_MATCH)
                regfree(&w->match_re);
        free(w->selector_value);
        if (w->ignore)
                regfree(&w->ignore_re);
        free(w->ignore);
        if (w->redact)
                regfree(&w->redact_re);
        free(w->redact);
        free(w->exec);
        strv_free(w->exec_argv);
}

Config *config_free(Config *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_watches; i++)
                watch_done(&c->watches[i]);
        free(c->watches);
        free(c->state_dir);
        free(c->path);
        free(c);
        return NULL;
}

static int watch_init(Watch *w, const char *name, unsigned line) {
        *w = (Watch) {
                .line = line,
                .selector = _SELECT_INVALID,
                .rate = DEFAULT_RATE,
                .stuck_after = DEFAULT_STUCK_AFTER,
                .threads = WATCH_THREADS_ALL,
                .history = DEFAULT_HISTORY,
                .locals = true,
                .cooldown = DEFAULT_COOLDOWN,
                .action = ACTION_NONE,
        };
        w->name = strdup(name);
        if (!w->name)
                return -ENOMEM;
        /* The defaults are constants that compile (test-config checks): failure is memory. */
        if (regcomp(&w->ignore_re, WATCH_DEFAULT_IGNORE, REG_EXTENDED | REG_NOSUB) != 0)
                return -ENOMEM;
        w->ignore = strdup(WATCH_DEFAULT_IGNORE);
        if (!w->ignore) {
                regfree(&w->ignore_re);
                return -ENOMEM;
        }
        if (regcomp(&w->redact_re, WATCH_DEFAULT_REDACT, REG_EXTENDED | REG_NOSUB | REG_ICASE) != 0)
                return -ENOMEM;
        w->redact = strdup(WATCH_DEFAULT_REDACT);
        if (!w->redact) {
                regfree(&w->redact_re);
                return -ENOMEM;
        }
        return 0;
}

/* Watch names end up in incident directory names, journal fields and {name}. */
static bool watch_name_valid(const char *n) {
        size_t len = strlen(n);
        if (len == 0 || len > WATCH_NAME_MAX || !isalnum((unsigned char) n[0]))
                return false;
        for (; *n; n++)
                if (!isalnum((unsigned char) *n) && !strchr("_.-", *n))
                        return false;
        return true;
}

static void unknown_section(Parser *p, const Section *s) {
        const char *n = s->name;
        if (strncasecmp(n, "watch", 5) == 0 && (n[5] == 0 || (strchr(" -_./:", n[5]) && n[6] == 0))) {
                perr(p, s->line, "[%s] needs a name: write [watch:NAME]", n);
                return;
        }
        if (strncasecmp(n, "watch", 5) == 0 && n[5] && strchr(" -_./:", n[5])) {
                perr(p, s->line, "unknown section [%s]: did you mean [watch:%s]?", n, n + 6);
                return;
        }
        if (edit_distance(n, "daemon") <= 2) {
                perr(p, s->line, "unknown section [%s]: did you mean [daemon]?", n);
                return;
        }
        perr(p, s->line, "unknown section [%s]: use [daemon] or [watch:NAME]", n);
}

/* Joins continuation pieces for keys that may span lines; reports the others. NULL: reported. */
static char *entry_value(Parser *p, const Item *it, const Entry *e, const char *sect) {
        if (e->cont_line != 0 && it->join == JOIN_NONE) {
                perr(p, e->cont_line, "indented line continues the value of %s in %s (line %u): only match, ignore, redact and exec may span lines; remove the indentation",
                     it->key, sect, e->line);
                return NULL;
        }
        char *v = strdup(e->value);
        if (!v) {
                p->oom = true;
                return NULL;
        }
        char *w = v;
        for (char *r = v; *r; r++) {
                if (*r == '\n') {
                        if (it->join == JOIN_SPACE)
                                *w++ = ' ';
                } else
                        *w++ = *r;
        }
        *w = 0;
        return v;
}

/* Interprets the entries of one section (index si) into obj with items; lines[] gets the line
 * of each item's first occurrence. */
static void interpret_entries(Parser *p, size_t si, const char *sect, const Item *items, size_t n_items,
                              const Item *other, size_t n_other, const char *other_sect, void *obj,
                              unsigned *lines) {
        for (size_t i = 0; i < p->n_entries; i++) {
                Entry *e = &p->entries[i];
                if (e->section != si)
                        continue;
                const Item *it = item_find(items, n_items, e->key);
                if (!it) {
                        const char *s = suggest(items, n_items, e->key);
                        if (item_find(other, n_other, e->key))
                                perr(p, e->line, "key '%s' belongs in %s, not in %s: move it", e->key, other_sect, sect);
                        else if (s)
                                perr(p, e->line, "unknown key '%s' in %s: did you mean '%s'?", e->key, sect, s);
                        else
                                perr(p, e->line, "unknown key '%s' in %s: see pyspy-watch.ini(5) for the keys", e->key, sect);
                        continue;
                }
                size_t idx = (size_t) (it - items);
                if (lines[idx]) {
                        perr(p, e->line, "duplicate key '%s' in %s (first at line %u): remove one", e->key, sect, lines[idx]);
                        continue;
                }
                lines[idx] = e->line;
                _cleanup_free_ char *v = entry_value(p, it, e, sect);
                if (!v)
                        continue;
                bool may_be_empty = items == watch_items && (idx == W_IGNORE || idx == W_REDACT);
                if (!v[0] && !may_be_empty) {
                        perr(p, e->line, "%s in %s has no value: give one or remove the line", e->key, sect);
                        continue;
                }
                Entry tmp = *e;
                tmp.value = v;
                it->parse(p, it, &tmp, sect, obj);
        }
}

/* The rules that span keys of one watch. */
static void watch_check(Parser *p, const Watch *w, const char *sect, const unsigned *lines) {
        static const int sel[] = { W_PID, W_PIDFILE, W_UNIT, W_MATCH };
        int first = -1;

        for (size_t i = 0; i < ELEMENTSOF(sel); i++) {
                if (!lines[sel[i]])
                        continue;
                if (first < 0 || lines[sel[i]] < lines[first])
                        first = sel[i];
        }
        if (first < 0)
                perr(p, w->line, "%s has no target: add one of pid, pidfile, unit or match", sect);
        for (size_t i = 0; first >= 0 && i < ELEMENTSOF(sel); i++)
                if (sel[i] != first && lines[sel[i]])
                        perr(p, lines[sel[i]], "%s has both %s (line %u) and %s: keep exactly one of pid, pidfile, unit, match",
                             sect, watch_items[first].key, lines[first], watch_items[sel[i]].key);

        if (w->action == ACTION_EXEC && !lines[W_EXEC])
                perr(p, lines[W_ACTION], "action = exec in %s needs an exec command line: add exec = /path/to/program {name} {pid} {bundle}",
                     sect);
        if (lines[W_EXEC] && lines[W_ACTION] && w->action != ACTION_EXEC)
                perr(p, lines[W_EXEC], "exec is set in %s but action is %s: set action = exec, or remove exec",
                     sect, watch_action_to_string(w->action));
        else if (lines[W_EXEC] && !lines[W_ACTION])
                perr(p, lines[W_EXEC], "exec is set in %s but action is none (the default): add action = exec, or remove exec",
                     sect);

        char a[CONFIG_FORMAT_MAX], b[CONFIG_FORMAT_MAX];
        usec_t min_stuck = STUCK_AFTER_SAMPLES * USEC_PER_SEC / w->rate;
        if (w->stuck_after < min_stuck)
                perr(p, lines[W_STUCK_AFTER] ?: lines[W_RATE] ?: w->line,
                     "stuck_after %s in %s spans fewer than %d samples at rate %u: use stuck_after = %s or more, or raise the rate",
                     config_format_duration(w->stuck_after, a), sect, STUCK_AFTER_SAMPLES, w->rate,
                     config_format_duration(min_stuck, b));
        uint64_t samples = w->history / USEC_PER_SEC * w->rate;
        if (samples > HISTORY_SAMPLES_MAX)
                perr(p, lines[W_HISTORY] ?: lines[W_RATE] ?: w->line,
                     "history %s at rate %u in %s keeps %" PRIu64 " samples in memory, more than %llu: shorten history or lower the rate",
                     config_format_duration(w->history, a), w->rate, sect, samples, HISTORY_SAMPLES_MAX);
}

static void interpret(Parser *p, Config *c) {
        unsigned daemon_line = 0;

        c->watches = calloc(MAX(p->n_sections, 1u), sizeof(Watch));
        if (!c->watches) {
                p->oom = true;
                return;
        }
        for (size_t i = 0; i < p->n_entries; i++)
                if (p->entries[i].section == SIZE_MAX)
                        perr(p, p->entries[i].line, "key '%s' is outside any section: put it under [daemon] or a [watch:NAME]",
                             p->entries[i].key);

        for (size_t si = 0; si < p->n_sections && !p->oom; si++) {
                const Section *s = &p->sections[si];
                if (s->bad)
                        continue;
                if (strcmp(s->name, "daemon") == 0) {
                        unsigned lines[ELEMENTSOF(daemon_items)] = {};
                        if (daemon_line) {
                                perr(p, s->line, "duplicate [daemon] section (first at line %u): merge them", daemon_line);
                                continue;
                        }
                        daemon_line = s->line;
                        interpret_entries(p, si, "[daemon]", daemon_items, ELEMENTSOF(daemon_items), watch_items,
                                          _W_MAX, "a [watch:NAME] section", c, lines);
                        continue;
                }
                if (strncmp(s->name, "watch:", 6) != 0) {
                        unknown_section(p, s);
                        continue;
                }
                const char *name = s->name + 6;
                if (!watch_name_valid(name)) {
                        perr(p, s->line, "invalid watch name '%s': use 1 to %u letters, digits, '_', '.' or '-', starting with a letter or digit (it names incident directories)",
                             name, WATCH_NAME_MAX);
                        continue;
                }
                bool dup = false;
                for (size_t j = 0; j < c->n_watches && !dup; j++)
                        if (strcmp(c->watches[j].name, name) == 0) {
                                perr(p, s->line, "duplicate watch name '%s' (first at line %u): rename one", name,
                                     c->watches[j].line);
                                dup = true;
                        }
                if (dup)
                        continue;
                Watch *w = &c->watches[c->n_watches++];
                if (watch_init(w, name, s->line) < 0) {
                        p->oom = true;
                        return;
                }
                unsigned lines[_W_MAX] = {};
                _cleanup_free_ char *sect = NULL;
                if (asprintf(&sect, "[%s]", s->name) < 0) {
                        p->oom = true;
                        return;
                }
                interpret_entries(p, si, sect, watch_items, _W_MAX, daemon_items, ELEMENTSOF(daemon_items),
                                  "[daemon]", w, lines);
                watch_check(p, w, sect, lines);
        }
}

/* The file decides what runs as root (action = exec): refuse one that others could have
 * written. The owner may be the user running us, so tests and check-config work unprivileged. */
static int check_permissions(Parser *p, const char *path, const struct stat *st) {
        const char *allow = getenv("PYSPY_WATCH_ALLOW_INSECURE_CONFIG");
        int r = 0;

        if (allow && strcmp(allow, "1") == 0)
                return 0;
        if (st->st_mode & (S_IWGRP | S_IWOTH)) {
                perr(p, 0, "refusing a configuration file writable by %s (it can make the daemon run programs as root): run chmod go-w %s",
                     (st->st_mode & S_IWOTH) ? "anyone" : "its group", path);
                r = -EPERM;
        }
        if (st->st_uid != 0 && st->st_uid != geteuid()) {
                perr(p, 0, "refusing a configuration file owned by uid %u (it can make the daemon run programs as root): run chown root %s",
                     (unsigned) st->st_uid, path);
                r = -EPERM;
        }
        return r;
}

int config_parse(FILE *f, const char *path, Config **ret, ConfigErrors *errors) {
        _cleanup_(config_freep) Config *c = NULL;
        Parser p = { .errors = errors };
        int r;

        c = calloc(1, sizeof(Config));
        if (!c)
                return -ENOMEM;
        c->path = strdup(path);
        c->state_dir = strdup(DEFAULT_STATE_DIR);
        if (!c->path || !c->state_dir)
                return -ENOMEM;
        c->max_incidents = DEFAULT_MAX_INCIDENTS;
        c->max_incident_bytes = DEFAULT_MAX_INCIDENT_BYTES;

        p.f = f;
        size_t errors_before = errors->n;
        r = ini_parse_stream(reader, &p, handler, &p);
        if (!p.oom && ferror(f)) {
                perr(&p, p.line, "cannot read: %s: check the file", strerror(EIO));
                r = 0;
        }
        if (r == -2)
                p.oom = true;
        else if (r > 0 && !p.oom) {
                /* inih found a problem our classification missed: still one line, not silence. */
                bool known = false;
                for (size_t i = errors_before; i < errors->n; i++)
                        known = known || errors->errors[i].line == (unsigned) r;
                if (!known)
                        perr(&p, (unsigned) r, "cannot parse this line: write 'key = value', [daemon] or [watch:NAME]");
        }
        if (!p.oom)
                interpret(&p, c);
        parser_done(&p);
        if (p.oom)
                return -ENOMEM;
        if (errors->n > errors_before) {
                errors_sort(errors->errors + errors_before, errors->n - errors_before);
                return -EINVAL;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

int config_load(const char *path, Config **ret, ConfigErrors *errors) {
        _cleanup_fclose_ FILE *f = NULL;
        Parser p = { .errors = errors };
        struct stat st;
        int r;

        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                r = -errno;
                perr(&p, 0, "cannot read: %s: %s", strerror(-r),
                     r == -ENOENT ? "create it (see pyspy-watch.ini(5)) or pass -c FILE"
                     : r == -EACCES ? "run as root, or make it readable by this user"
                                    : "check the path");
                return p.oom ? -ENOMEM : r;
        }
        f = fdopen(fd, "re");
        if (!f) {
                r = -errno;
                (void) close(fd);
                return r;
        }
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode)) {
                perr(&p, 0, "cannot read: not a regular file: pass the configuration file with -c FILE");
                return p.oom ? -ENOMEM : -EINVAL;
        }
        r = check_permissions(&p, path, &st);
        if (r < 0)
                return p.oom ? -ENOMEM : r;
        return config_parse(f, path, ret, errors);
}

/* ---- printing ---- */

/* "key = value", long values wrapped onto indented continuation lines that read back as the
 * same value: regexes break before a '|' (joined without a separator), exec between arguments
 * (joined with a space). A piece never starts or ends with a blank (inih strips those) nor
 * starts with ';' or '#' (a comment line). */
typedef enum Wrap { WRAP_NONE, WRAP_REGEX, WRAP_WORDS } Wrap;

static bool starts_comment(const char *s) {
        while (isspace((unsigned char) *s))
                s++;
        return *s == ';' || *s == '#';
}

/* A continuation line starting at s (after the blanks it will lose) would be refused as an
 * indented key. */
static bool continues_as_key(const char *s) {
        while (isspace((unsigned char) *s))
                s++;
        return looks_like_key(s);
}

/* Whether a value may wrap before v[i]: between two non-blanks for a regex (the continuation
 * must not start as a comment or look like a key), at a blank after a word for exec. */
static bool can_cut(const char *v, size_t i, bool words) {
        if (isspace((unsigned char) v[i - 1]))
                return false;
        if (words)
                return isspace((unsigned char) v[i]) && !starts_comment(v + i) && !continues_as_key(v + i);
        return !isspace((unsigned char) v[i]) && v[i] != ';' && v[i] != '#' && !continues_as_key(v + i);
}

static void print_value(FILE *f, const char *key, const char *v, Wrap wrap) {
        size_t len = strlen(v), pos = 0, width = PRINT_WIDTH - strlen(key) - 3;
        size_t room = PRINT_LINE_MAX - strlen(key) - 3;
        bool words = wrap == WRAP_WORDS;

        /* A value starting with ';' reads back only without a blank before it. */
        fprintf(f, "%s =%s", key, v[0] == ';' || v[0] == 0 ? "" : " ");
        while (wrap != WRAP_NONE && len - pos > width) {
                size_t cut = 0;
                int depth = 0, cut_depth = INT32_MAX;
                /* Regexes: the last '|' in reach at the shallowest nesting, so lines start with
                 * whole alternatives where possible. */
                for (size_t i = pos + 1; i < pos + width && i < len; i++) {
                        if (!words && v[i - 1] != '\\')
                                depth += v[i] == '(' ? 1 : v[i] == ')' ? -1 : 0;
                        bool ok = words ? can_cut(v, i, true) : (v[i] == '|' && !isspace((unsigned char) v[i - 1]));
                        if (ok && (words || depth <= cut_depth)) {
                                cut = i;
                                cut_depth = depth;
                        }
                }
                if (cut == 0 && !words)  /* no '|' in reach: any point between two non-blanks */
                        for (size_t i = pos + width; i > pos + 1 && cut == 0; i--)
                                if (i < len && can_cut(v, i, false))
                                        cut = i;
                /* Nothing in reach (a long word, a run of ';' and '#'): the first cut past it, as
                 * long as the line stays within what inih reads. */
                for (size_t i = pos + width; cut == 0 && i < len && i < pos + room; i++)
                        if (can_cut(v, i, words))
                                cut = i;
                if (cut == 0)
                        break;
                fprintf(f, "%.*s\n        ", (int) (cut - pos), v + pos);
                pos = cut;
                while (words && isspace((unsigned char) v[pos]))
                        pos++;
                width = PRINT_WIDTH - 8;
                room = PRINT_LINE_MAX - 8;
        }
        fprintf(f, "%s\n", v + pos);
}

/* exec as the words it runs, one space apart: the file's own blanks (tabs, runs of spaces,
 * line breaks) would change where the value wraps, and so how it prints the next time. */
static void print_exec(FILE *f, const Watch *w) {
        _cleanup_free_ char *words = NULL;
        size_t n = 0;
        FILE *m = open_memstream(&words, &n);

        for (size_t i = 0; m && w->exec_argv && w->exec_argv[i]; i++)
                fprintf(m, "%s%s", i > 0 ? " " : "", w->exec_argv[i]);
        if (!m || fclose(m) != 0) {
                print_value(f, "exec", w->exec, WRAP_WORDS);
                return;
        }
        print_value(f, "exec", words, WRAP_WORDS);
}

void config_print(FILE *f, const Config *c) {
        char b[CONFIG_FORMAT_MAX];

        fputs("; pyspy-watch: the effective configuration, every default filled in\n\n[daemon]\n", f);
        print_value(f, "state_dir", c->state_dir, WRAP_NONE);
        fprintf(f, "max_incidents = %u\n", c->max_incidents);
        fprintf(f, "max_incident_bytes = %s\n", config_format_size(c->max_incident_bytes, b));
        if (c->n_watches == 0)
                fputs("\n; no [watch:NAME] section: the daemon watches nothing\n", f);
        for (size_t i = 0; i < c->n_watches; i++) {
                const Watch *w = &c->watches[i];
                fprintf(f, "\n[watch:%s]\n", w->name);
                if (w->selector_value)
                        print_value(f, watch_selector_to_string(w->selector), w->selector_value,
                                    w->selector == SELECT_MATCH ? WRAP_REGEX : WRAP_NONE);
                fprintf(f, "rate = %u\n", w->rate);
                fprintf(f, "stuck_after = %s\n", config_format_duration(w->stuck_after, b));
                if (w->has_window)
                        fprintf(f, "window = %02u:%02u-%02u:%02u\n", w->window_start / 60, w->window_start % 60,
                                w->window_end / 60, w->window_end % 60);
                else
                        fputs("; window: not set, active around the clock\n", f);
                fprintf(f, "threads = %s\n", watch_threads_to_string(w->threads));
                print_value(f, "ignore", w->ignore ?: "", WRAP_REGEX);
                fprintf(f, "history = %s\n", config_format_duration(w->history, b));
                fprintf(f, "locals = %s\n", w->locals ? "yes" : "no");
                print_value(f, "redact", w->redact ?: "", WRAP_REGEX);
                fprintf(f, "cooldown = %s\n", config_format_duration(w->cooldown, b));
                fprintf(f, "action = %s\n", watch_action_to_string(w->action));
                if (w->exec)
                        print_exec(f, w);
        }
}
