/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <inttypes.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "flamegraph.h"
#include "folded.h"
#include "launch.h"
#include "log.h"
#include "profile.h"
#include "sampler.h"
#include "speedscope.h"
#include "ticker.h"
#include "verbs.h"

/* 10 kHz is far past anything useful and what one core can sustain on deep stacks; above it
 * the deadline clock would only count late samples. */
#define RECORD_RATE_MAX 10000
/* --subprocesses: processes sampled at once (the main target included). */
#define RECORD_MAX_TARGETS 256
/* How often to look for new child processes, and how long a new child may take to become a
 * readable Python before it is left alone. */
#define CHILD_SCAN_USEC (200 * USEC_PER_MSEC)
#define CHILD_ATTACH_TRIES 10
/* How long `-- PROGRAM` may take to bring its interpreter up. */
#define LAUNCH_ATTACH_TIMEOUT (10 * USEC_PER_SEC)
/* How long an exiting program may take to become reapable after its memory is gone. */
#define CHILD_REAP_USEC (5 * USEC_PER_SEC)

typedef enum Format {
        FORMAT_FLAMEGRAPH,
        FORMAT_FOLDED,
        FORMAT_SPEEDSCOPE,
        _FORMAT_MAX,
        _FORMAT_INVALID = -EINVAL,
} Format;

static const char *const format_ext[_FORMAT_MAX] = {
        [FORMAT_FLAMEGRAPH] = "svg",
        [FORMAT_FOLDED] = "txt",
        [FORMAT_SPEEDSCOPE] = "json",
};

static Format format_from_string(const char *s) {
        if (streq_ptr(s, "flamegraph"))
                return FORMAT_FLAMEGRAPH;
        if (streq_ptr(s, "folded") || streq_ptr(s, "raw"))
                return FORMAT_FOLDED;
        if (streq_ptr(s, "speedscope"))
                return FORMAT_SPEEDSCOPE;
        return _FORMAT_INVALID;
}

typedef struct Target {
        pid_t pid;
        Sampler *sampler;   /* NULL: not (yet) readable */
        unsigned tries;     /* attach attempts (children) */
} Target;

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) {
        stop_signal = sig;
}

static void help(void) {
        printf("Usage: pyspy-watch record (--pid PID | -- PROGRAM [ARGS...]) [OPTIONS...]\n\n"
               "Sample a Python process and write a profile.\n\n"
               "Options:\n"
               "  -p --pid PID          The process to record\n"
               "  -o --output FILE      Where to write (default pyspy-PID-TIMESTAMP.svg|txt|json)\n"
               "  -f --format FORMAT    flamegraph (SVG, default), folded, speedscope, raw (= folded)\n"
               "  -r --rate RATE        Samples per second (default 100, at most %d)\n"
               "  -d --duration SECONDS Stop after this long (default: until Ctrl-C or the target exits)\n"
               "     --idle             Keep samples of idle threads\n"
               "     --gil              Keep only samples of the thread holding the GIL\n"
               "     --threads          Put each thread at the root of its stacks\n"
               "     --subprocesses     Also record Python child processes\n"
               "     --blocking         Pause the target for each sample (consistent, but slows it)\n"
               "     --nonblocking      Never pause the target (the default)\n"
               "     --nolineno         Aggregate by function, without line numbers\n"
               "     --inverted         Flame graph grows up from the bottom (default: hangs down)\n"
               "  -h --help             Show this help\n"
               "\nSee the pyspy-watch(1) man page for details.\n",
               RECORD_RATE_MAX);
}

typedef struct RecordArgs {
        pid_t pid;
        char **program;
        const char *output;
        Format format;
        unsigned rate;
        double duration;
        bool idle, gil, threads, subprocesses, blocking, nolineno, inverted;
} RecordArgs;

static int parse_argv(int argc, char **argv, RecordArgs *a) {
        enum {
                ARG_IDLE = 0x100,
                ARG_GIL,
                ARG_THREADS,
                ARG_SUBPROCESSES,
                ARG_BLOCKING,
                ARG_NONBLOCKING,
                ARG_NOLINENO,
                ARG_INVERTED,
        };
        static const struct option options[] = {
                { "pid", required_argument, NULL, 'p' },
                { "output", required_argument, NULL, 'o' },
                { "format", required_argument, NULL, 'f' },
                { "rate", required_argument, NULL, 'r' },
                { "duration", required_argument, NULL, 'd' },
                { "idle", no_argument, NULL, ARG_IDLE },
                { "gil", no_argument, NULL, ARG_GIL },
                { "threads", no_argument, NULL, ARG_THREADS },
                { "subprocesses", no_argument, NULL, ARG_SUBPROCESSES },
                { "blocking", no_argument, NULL, ARG_BLOCKING },
                { "nonblocking", no_argument, NULL, ARG_NONBLOCKING },
                { "nolineno", no_argument, NULL, ARG_NOLINENO },
                { "inverted", no_argument, NULL, ARG_INVERTED },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int c;

        *a = (RecordArgs) { .format = FORMAT_FLAMEGRAPH, .rate = 100 };
        opterr = 0;
        optind = 1;
        /* "+": stop at the first non-option, so `-- PROGRAM -x` keeps -x for the program. */
        while ((c = getopt_long(argc, argv, "+:p:o:f:r:d:h", options, NULL)) >= 0) {
                char *end;
                switch (c) {
                case 'p':
                        if (parse_pid(optarg, &a->pid) < 0) {
                                log_error("record: invalid pid '%s': pass a process id, a positive number", optarg);
                                return -EINVAL;
                        }
                        break;
                case 'o':
                        a->output = optarg;
                        break;
                case 'f':
                        a->format = format_from_string(optarg);
                        if (a->format < 0) {
                                log_error("record: unknown format '%s': use flamegraph, folded, speedscope or raw", optarg);
                                return -EINVAL;
                        }
                        break;
                case 'r': {
                        errno = 0;
                        unsigned long v = strtoul(optarg, &end, 10);
                        if (errno || *end || optarg[0] == '-' || v < 1 || v > RECORD_RATE_MAX) {
                                log_error("record: invalid rate '%s': samples per second, 1 to %d", optarg, RECORD_RATE_MAX);
                                return -EINVAL;
                        }
                        a->rate = (unsigned) v;
                        break;
                }
                case 'd':
                        errno = 0;
                        a->duration = strtod(optarg, &end);
                        if (errno || *end || !(a->duration > 0) || !isfinite(a->duration) || a->duration > 1e7) {
                                log_error("record: invalid duration '%s': seconds, a positive number", optarg);
                                return -EINVAL;
                        }
                        break;
                case ARG_IDLE:
                        a->idle = true;
                        break;
                case ARG_GIL:
                        a->gil = true;
                        break;
                case ARG_THREADS:
                        a->threads = true;
                        break;
                case ARG_SUBPROCESSES:
                        a->subprocesses = true;
                        break;
                case ARG_BLOCKING:
                        a->blocking = true;
                        break;
                case ARG_NONBLOCKING:
                        a->blocking = false;
                        break;
                case ARG_NOLINENO:
                        a->nolineno = true;
                        break;
                case ARG_INVERTED:
                        a->inverted = true;
                        break;
                case 'h':
                        help();
                        return 0;
                case ':':
                        log_error("record: option '%s' needs a value: see 'pyspy-watch record --help'", argv[optind - 1]);
                        return -EINVAL;
                default:
                        log_error("record: unknown option '%s': see 'pyspy-watch record --help'", argv[optind - 1]);
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                /* getopt consumed "--"; anything left is the program. */
                if (strcmp(argv[optind - 1], "--") != 0) {
                        log_error("record: unexpected argument '%s': put the program after '--'", argv[optind]);
                        return -EINVAL;
                }
                a->program = argv + optind;
        }
        if (!a->pid == !a->program) {
                log_error(a->pid ? "record: give either --pid or a program after '--', not both"
                                 : "record: nothing to record: pass --pid PID or '-- PROGRAM [ARGS...]'");
                return -EINVAL;
        }
        return 1;
}

/* Writes the profile to path through a temporary file renamed into place: the output appears
 * whole or not at all, also when we are interrupted while writing. */
static int write_output(const char *path, Format format, const Profile *p, bool inverted) {
        _cleanup_free_ char *tmp = NULL;
        int r;

        if (asprintf(&tmp, "%s.tmp.%d", path, (int) getpid()) < 0)
                return -ENOMEM;
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        FILE *f = fdopen(TAKE_FD(fd), "w");
        if (!f) {
                r = -errno;
                (void) unlink(tmp);
                return r;
        }
        switch (format) {
        case FORMAT_FLAMEGRAPH:
                r = flamegraph_write(f, p, &(FlamegraphOptions) { .inverted = inverted });
                break;
        case FORMAT_FOLDED:
                r = folded_write(f, p);
                break;
        case FORMAT_SPEEDSCOPE:
                r = speedscope_write(f, p);
                break;
        default:
                r = -EINVAL;
        }
        if (fflush(f) != 0 && r >= 0)
                r = -errno;
        if (r >= 0 && fsync(fileno(f)) < 0)
                r = -errno;
        if (fclose(f) != 0 && r >= 0)
                r = -errno;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

typedef struct Progress {
        bool tty;
        usec_t last;
} Progress;

static void progress_show(Progress *pr, const Profile *p, pid_t pid, usec_t now, bool final) {
        const ProfileInfo *info = profile_info((Profile *) p);
        double elapsed = (double) (now - info->start_usec) / USEC_PER_SEC;

        /* A terminal gets a line redrawn four times a second; a file or pipe one line every
         * ten seconds, so logs stay readable. */
        if (!final && now - pr->last < (pr->tty ? USEC_PER_SEC / 4 : 10 * USEC_PER_SEC))
                return;
        pr->last = now;
        if (pr->tty) {
                fprintf(stderr, "\rpyspy-watch: recording pid %d: %.1fs, %" PRIu64 " samples, %" PRIu64 " errors%s\033[K",
                        (int) pid, elapsed, info->samples, info->errors, final ? "" : " (Ctrl-C to stop)");
                if (final)
                        fputc('\n', stderr);
        } else if (!final)
                fprintf(stderr, "pyspy-watch: recording pid %d: %.1fs, %" PRIu64 " samples, %" PRIu64 " errors\n",
                        (int) pid, elapsed, info->samples, info->errors);
        fflush(stderr);
}

static int target_add(Target *targets, size_t *n, pid_t pid, Sampler *s) {
        if (*n >= RECORD_MAX_TARGETS)
                return -E2BIG;
        targets[(*n)++] = (Target) { .pid = pid, .sampler = s };
        return 0;
}

static void scan_children(Target *targets, size_t *n, pid_t root) {
        pid_t kids[RECORD_MAX_TARGETS];
        size_t k = proctree_descendants(root, kids, ELEMENTSOF(kids));

        for (size_t i = 0; i < k; i++) {
                bool known = false;
                for (size_t j = 0; j < *n; j++)
                        if (targets[j].pid == kids[i]) {
                                known = true;
                                break;
                        }
                if (!known)
                        (void) target_add(targets, n, kids[i], NULL);
        }
        /* New or not yet readable children: a few attempts each (a fork that is about to exec
         * Python is not Python yet), then left alone. */
        for (size_t j = 1; j < *n; j++) {
                Target *t = &targets[j];
                if (t->sampler || t->tries >= CHILD_ATTACH_TRIES)
                        continue;
                t->tries++;
                (void) sampler_attach(t->pid, &t->sampler, NULL, 0);
        }
}

int cmd_record(int argc, char **argv) {
        RecordArgs a;
        int r = parse_argv(argc, argv, &a);
        if (r <= 0)
                return r < 0 ? EXIT_USAGE : EXIT_OK;

        Target targets[RECORD_MAX_TARGETS];
        size_t n_targets = 0;
        _cleanup_(profile_freep) Profile *p = NULL;
        _cleanup_(snapshot_done) Snapshot snap = SNAPSHOT_NULL;
        char detail[256] = "", msg[512];
        pid_t child = 0;
        int child_status = -1;
        Sampler *main_sampler = NULL;

        struct sigaction sa = { .sa_handler = on_signal };   /* no SA_RESTART: wake the sleep */
        sigemptyset(&sa.sa_mask);
        (void) sigaction(SIGINT, &sa, NULL);
        (void) sigaction(SIGTERM, &sa, NULL);

        if (a.program) {
                r = launch_program(a.program, &child);
                if (r < 0) {
                        log_error("record: cannot run '%s': %s: check the program name and PATH", a.program[0], strerror(-r));
                        return EXIT_FAILED;
                }
                a.pid = child;
                r = launch_attach(child, LAUNCH_ATTACH_TIMEOUT, &main_sampler, detail, sizeof(detail));
                if (r < 0) {
                        if (launch_reap(child, &child_status) > 0 || r == -ESRCH) {
                                if (child_status < 0)
                                        (void) launch_reap(child, &child_status);
                                log_error("record: '%s' exited (status %d) before its Python interpreter could be read: nothing recorded",
                                          a.program[0], child_status);
                        } else
                                log_error("record: %s", sampler_strerror(r, child, detail, msg, sizeof(msg)));
                        return EXIT_FAILED;
                }
        } else {
                r = sampler_attach(a.pid, &main_sampler, detail, sizeof(detail));
                if (r < 0) {
                        log_error("%s", sampler_strerror(r, a.pid, detail, msg, sizeof(msg)));
                        return EXIT_FAILED;
                }
        }
        (void) target_add(targets, &n_targets, a.pid, main_sampler);

        if (profile_new(&p) < 0) {
                log_error("record: out of memory");
                return EXIT_FAILED;
        }
        ProfileInfo *info = profile_info(p);
        char cmdline[4096];
        proc_cmdline(a.pid, cmdline, sizeof(cmdline));
        info->pid = a.pid;
        info->cmdline = strdup(cmdline);
        info->python_version = strdup(sampler_target(main_sampler)->version);
        info->rate = a.rate;
        info->start_usec = now_usec();

        char default_output[128];
        if (!a.output) {
                char stamp[32];
                time_t now = time(NULL);
                strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", localtime(&now));
                snprintf(default_output, sizeof(default_output), "pyspy-%d-%s.%s", (int) a.pid, stamp,
                         format_ext[a.format]);
                a.output = default_output;
        }

        unsigned sflags = (a.blocking ? SAMPLE_PAUSE : 0) | (a.idle ? 0 : SAMPLE_IDLE) | (a.threads ? SAMPLE_NAMES : 0);
        unsigned pflags = (a.idle ? PROFILE_IDLE : 0) | (a.gil ? PROFILE_GIL : 0) | (a.threads ? PROFILE_THREADS : 0) |
                          (a.subprocesses ? PROFILE_PROCESS : 0) | (a.nolineno ? PROFILE_NO_LINES : 0);
        usec_t end = a.duration > 0 ? info->start_usec + (usec_t) (a.duration * USEC_PER_SEC) : 0;
        Progress pr = { .tty = isatty(STDERR_FILENO), .last = info->start_usec };
        usec_t last_scan = 0;
        uint64_t failed = 0;
        const char *why = "interrupted";
        Ticker tk;

        bool gone = false;
        ticker_init(&tk, a.rate);
        while (!gone) {
                if (stop_signal)
                        break;
                r = ticker_wait(&tk);
                if (r == -EINTR)
                        continue;
                usec_t now = now_usec();
                if (end && now >= end) {
                        why = "duration reached";
                        break;
                }
                if (a.subprocesses && now - last_scan >= CHILD_SCAN_USEC) {
                        scan_children(targets, &n_targets, a.pid);
                        last_scan = now;
                }
                for (size_t i = 0; i < n_targets; i++) {
                        Target *t = &targets[i];
                        if (!t->sampler)
                                continue;
                        r = sampler_sample(t->sampler, sflags, &snap);
                        if (r == -ESRCH) {
                                /* Gone: the main target ends the recording, a child just leaves. */
                                if (i == 0) {
                                        gone = true;
                                        break;
                                }
                                t->sampler = sampler_free(t->sampler);
                                t->tries = CHILD_ATTACH_TRIES;
                                continue;
                        }
                        if (r < 0) {
                                failed++;
                                continue;
                        }
                        if (profile_add_snapshot(p, t->pid, &snap, pflags) < 0) {
                                log_error("record: out of memory after %" PRIu64 " samples: writing what we have",
                                          info->samples);
                                stop_signal = SIGTERM;
                                break;
                        }
                }
                if (child && launch_reap(child, &child_status) > 0)
                        gone = true;
                info->errors = failed;
                for (size_t i = 0; i < n_targets; i++)
                        if (targets[i].sampler)
                                info->errors += sampler_errors(targets[i].sampler);
                info->late = tk.late;
                progress_show(&pr, p, a.pid, now, false);
        }
        if (gone)
                why = "target exited";
        info->end_usec = now_usec();
        info->late = tk.late;
        info->errors = failed;
        for (size_t i = 0; i < n_targets; i++)
                if (targets[i].sampler) {
                        info->errors += sampler_errors(targets[i].sampler);
                        targets[i].sampler = sampler_free(targets[i].sampler);
                }
        progress_show(&pr, p, a.pid, info->end_usec, true);

        if (child && child_status < 0) {
                /* The program's memory can vanish a moment before it can be reaped: when it
                 * is gone, wait a little for its status. Interrupted or out of time while it
                 * runs, it got the same Ctrl-C from the terminal, or keeps running: we do not
                 * wait for it. */
                usec_t until = now_usec() + (gone ? CHILD_REAP_USEC : 0);
                for (;;) {
                        if (launch_reap(child, &child_status) != 0 || now_usec() >= until)
                                break;
                        (void) usleep(10000);
                }
        }

        r = write_output(a.output, a.format, p, a.inverted);
        double secs = (double) (info->end_usec - info->start_usec) / USEC_PER_SEC;
        if (r < 0) {
                log_error("record: cannot write %s: %s: check the directory exists and is writable", a.output,
                          strerror(-r));
                return EXIT_FAILED;
        }
        log_info("%s: wrote %s: %" PRIu64 " samples in %.1fs (%.1f/s), %" PRIu64 " errors, %" PRIu64 " late",
                 why, a.output, info->samples, secs, secs > 0 ? (double) info->samples / secs : 0.0, info->errors,
                 info->late);
        if (child && child_status >= 0)
                log_info("program '%s' exited with status %d", a.program[0], child_status);
        return EXIT_OK;
}
