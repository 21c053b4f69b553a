/* SPDX-License-Identifier: MIT */
#pragma once

/* /etc/pyspy-watch.ini: the daemon's settings and its watch list (SPEC.md, "The daemon"),
 * parsed with inih into a Config whose every field holds its effective value (defaults filled
 * in). Nothing here logs: errors come back as a list of FILE:LINE messages. */

#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "macro.h"

#define CONFIG_DEFAULT_PATH "/etc/pyspy-watch.ini"

typedef enum WatchSelector {
        SELECT_PID,        /* pid = 1234 */
        SELECT_PIDFILE,    /* pidfile = /run/app.pid (re-read when the process is gone) */
        SELECT_UNIT,       /* unit = app.service (its cgroup's processes) */
        SELECT_MATCH,      /* match = REGEX on the command line (every matching process) */
        _SELECT_MAX,
        _SELECT_INVALID = -EINVAL,
} WatchSelector;

typedef enum WatchThreads {
        WATCH_THREADS_ALL,
        WATCH_THREADS_MAIN,
        _WATCH_THREADS_MAX,
        _WATCH_THREADS_INVALID = -EINVAL,
} WatchThreads;

typedef enum WatchAction {
        ACTION_NONE,
        ACTION_KILL,       /* SIGKILL after the capture */
        ACTION_EXEC,       /* run exec's argv (no shell), placeholders filled, with a timeout */
        _ACTION_MAX,
        _ACTION_INVALID = -EINVAL,
} WatchAction;

typedef struct Watch {
        char *name;                /* after "watch:" */
        unsigned line;             /* of its [watch:NAME] header */
        WatchSelector selector;
        char *selector_value;      /* the pid, path, unit or regex as written */
        pid_t pid;                 /* SELECT_PID */
        regex_t match_re;          /* SELECT_MATCH (REG_EXTENDED | REG_NOSUB) */
        unsigned rate;             /* samples per second; default 5 */
        usec_t stuck_after;        /* default 60 s */
        bool has_window;
        unsigned window_start, window_end;  /* minutes after local midnight; may wrap */
        WatchThreads threads;      /* default all */
        char *ignore;              /* regex on "function (file)" of the innermost frame */
        regex_t ignore_re;
        usec_t history;            /* default 10 min */
        bool locals;               /* default yes */
        char *redact;              /* regex on local names */
        regex_t redact_re;
        usec_t cooldown;           /* default 30 min */
        WatchAction action;        /* default none */
        char *exec;                /* as written */
        char **exec_argv;          /* split on whitespace (no shell), NULL-terminated */
} Watch;

typedef struct Config {
        char *path;
        char *state_dir;           /* default /var/lib/pyspy-watch */
        unsigned max_incidents;    /* default 50 */
        uint64_t max_incident_bytes;  /* default 512M */
        Watch *watches;
        size_t n_watches;
} Config;

typedef struct ConfigError {
        unsigned line;             /* 0: the file as a whole */
        char *message;
} ConfigError;

typedef struct ConfigErrors {
        ConfigError *errors;
        size_t n;
} ConfigErrors;

/* Parses path. 0 and *ret on success; -EINVAL with every problem in errors (each a line and a
 * message naming the fix, e.g. "unknown key 'rte' in [watch:web]: did you mean 'rate'?");
 * -ENOENT/-EACCES when the file cannot be read; -EPERM when it is writable by anyone but root
 * (the exec action runs as root), also listed in errors. */
int config_load(const char *path, Config **ret, ConfigErrors *errors);
/* The parsing half of config_load(), on a stream already open (no checks of the file's
 * permissions); path names it in messages. For fuzzers and tests. */
int config_parse(FILE *f, const char *path, Config **ret, ConfigErrors *errors);
Config *config_free(Config *c);
void config_errors_done(ConfigErrors *e);

/* Prints the effective configuration (every key, defaults filled in) in the file's syntax. */
void config_print(FILE *f, const Config *c);

/* Parsers shared with the command line: "250ms", "10s", "5m", "2h" (a bare number is seconds);
 * "512M", "4K", "1G", "1000" bytes. -EINVAL / -ERANGE. */
int parse_duration(const char *s, usec_t *ret);
int parse_size(const char *s, uint64_t *ret);

/* Whether minute-of-day now (local time) is inside the watch's window (always when it has
 * none). Windows may cross midnight ("22:00-04:00"). */
bool watch_window_active(const Watch *w, unsigned minute_of_day);

static inline void config_freep(Config **c) {
        if (*c)
                config_free(*c);
}

/* Added by the config module (the declarations above are the contract others already use). */

/* The defaults of ignore= and redact=; pyspy-watch.ini(5) and config.c explain each part.
 * ignore: the innermost Python frames where healthy servers, event loops and worker pools block
 * indefinitely for new work. C functions (time.sleep, select.select, lock.acquire) never appear as
 * frames, so the pattern names the standard-library Python function that called them. */
#define WATCH_DEFAULT_IGNORE                                                                    \
        "^(accept \\((.*/)?socket"                                                               \
        "|select \\((.*/)?selectors"                                                             \
        "|poll2? \\((.*/)?asyncore"                                                              \
        "|(wait|join|_wait_for_tstate_lock) \\((.*/)?threading"                                  \
        "|_worker \\((.*/)?concurrent/futures/thread"                                            \
        "|(worker|_handle_(tasks|workers|results)) \\((.*/)?multiprocessing/pool"                \
        "|get \\((.*/)?multiprocessing/queues"                                                   \
        "|_recv \\((.*/)?multiprocessing/connection"                                             \
        "|wait \\((.*/)?gunicorn/workers/sync"                                                   \
        ")\\.py\\)$"
/* redact (REG_ICASE, anywhere in a local's name): over-redacting costs a value in a bundle,
 * under-redacting leaks a secret into a root-readable file that gets attached to tickets. */
#define WATCH_DEFAULT_REDACT                                                                    \
        "pass(wd|word|phrase)|pw|secret|token|key|credential|auth|cookie|session|private|dsn|signature"

/* Bounds of the values (config.c says why each has its value). */
#define WATCH_RATE_MAX 1000u
#define WATCH_NAME_MAX 64u

/* String tables: "pid", "pidfile", "unit", "match"; "all", "main"; "none", "kill", "exec".
 * from_string() returns the enum value or -EINVAL. */
const char *watch_selector_to_string(WatchSelector s);
const char *watch_threads_to_string(WatchThreads t);
WatchThreads watch_threads_from_string(const char *s);
const char *watch_action_to_string(WatchAction a);
WatchAction watch_action_from_string(const char *s);

/* The config file's syntax for a duration ("90s" prints as "90s", 60 s as "1m", 1500 us as
 * "1.5ms") and a size ("512M", "1536K", "1000"), so parse_duration()/parse_size() read it back
 * exactly. Returns buf. */
#define CONFIG_FORMAT_MAX 32
char *config_format_duration(usec_t u, char buf[static CONFIG_FORMAT_MAX]);
char *config_format_size(uint64_t bytes, char buf[static CONFIG_FORMAT_MAX]);
