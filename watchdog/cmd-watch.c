/* SPDX-License-Identifier: MIT */
/* `pyspy-watch watch`: the daemon. One sampling loop for every watched process, on deadlines
 * (no thread per target): each target is sampled at its watch's rate without pausing, its
 * threads' kernel counters read next to the stacks, and the detector says when a stack stopped
 * moving. Then, quickly and in this order (the stuck state may clear): a paused dump with
 * locals, the kernel's view of the process, the history window's profiles, the summary and the
 * manifest, all renamed into place at once; then the journal alert, then the action. */
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "alert.h"
#include "config.h"
#include "detector.h"
#include "dump.h"
#include "escape.h"
#include "flamegraph.h"
#include "folded.h"
#include "incident.h"
#include "launch.h"
#include "log.h"
#include "procinfo.h"
#include "profile.h"
#include "sampler.h"
#include "speedscope.h"
#include "vacuum.h"
#include "verbs.h"

#ifndef PYSPY_WATCH_VERSION
#define PYSPY_WATCH_VERSION "0.1.0"
#endif

/* Watch lists are resolved again (pidfiles re-read, match= scans /proc, units' cgroups) this
 * often: new processes are picked up, dead ones dropped, within a few seconds. */
#define RESOLVE_USEC (2 * USEC_PER_SEC)
/* Most processes watched at once, and most new ones attached per resolution: 1,000 matching
 * processes appearing together are taken in over a few rounds, not in one long stall. */
#define MAX_TARGETS 1024
#define MAX_ATTACH_PER_ROUND 32
/* While more are waiting, rounds come this often instead: each stays as short as before, and
 * a thousand new processes are all watched within seconds rather than a minute. */
#define RESOLVE_BACKLOG_USEC (250 * USEC_PER_MSEC)
/* Open files: a watched process holds about three per thread (the sampler's stat file, the
 * detector's stat and status files). A new one is attached only while this many would still
 * be free for captures, /proc scans, the journal and exec actions. */
#define FD_RESERVE 64
#define FDS_PER_NEW_TARGET 4
/* A hang whose bundle could not be written (a full or read-only state_dir) is tried again
 * after stuck_after (at least RETRY_MIN), then twice as long each time, up to RETRY_MAX. */
#define RETRY_MIN_USEC (1 * USEC_PER_SEC)
#define RETRY_MAX_USEC (10 * 60 * USEC_PER_SEC)
/* The history window is kept as this many profiles, each covering history/N: the oldest is
 * dropped whole, so memory stays bounded and no per-sample timestamps are kept. */
#define HISTORY_BUCKETS 10
/* Stacks remembered for cooldowns per target. */
#define COOLDOWN_SLOTS 32
/* How long an exec action may run before it is killed. */
#define EXEC_TIMEOUT_USEC (60 * USEC_PER_SEC)
#define MAX_EVENTS 64
/* Targets whose next sample is due within this share one wake-up (a wake-up costs more than
 * a sample on some machines). */
#define BATCH_USEC (10 * USEC_PER_MSEC)
/* A thread found stuck this soon after an incident of its process joins that incident. */
#define JOIN_USEC (2 * USEC_PER_SEC)
/* Resolution rounds a new process may take to become a readable Python. */
#define ATTACH_TRIES 3

typedef struct ThreadReader {
        pid_t tid;
        ProcThreadReader *r;
        bool seen;                  /* in the current sample */
        ThreadSample last;          /* the counters last read, and when */
        usec_t read_at;
} ThreadReader;

typedef struct Cooldown {
        uint64_t signature;
        usec_t at;
} Cooldown;

typedef struct Target {
        size_t watch;
        pid_t pid;
        uint64_t start_time;
        bool seen;
        bool failed;                /* could not be read: reported once, retried only after an exec */
        unsigned tries;             /* attach attempts so far */
        char exe[256];              /* /proc/PID/exe when the attach failed */
        Sampler *sampler;
        Detector *detector;
        Profile *history[HISTORY_BUCKETS];
        usec_t bucket_start;
        size_t bucket;
        usec_t next;
        ThreadReader *readers;
        size_t n_readers;
        Cooldown cooldown[COOLDOWN_SLOTS];
        char last_incident[256];    /* named by recovered events */
        usec_t last_incident_at;    /* CLOCK_MONOTONIC */
        usec_t retry_delay;         /* after a failed capture: the wait before the next try */
        usec_t created;
} Target;

/* What a reload keeps of a target: its cooldowns and last incident, so a SIGHUP does not
 * alert again for a stack already reported (the new targets start with fresh detectors). */
typedef struct Carried {
        char watch[WATCH_NAME_MAX + 1];
        pid_t pid;
        uint64_t start_time;
        Cooldown cooldown[COOLDOWN_SLOTS];
        char last_incident[256];
} Carried;

typedef struct Daemon {
        Config *config;
        Carried *carried;           /* from before the last reload */
        size_t n_carried;
        Target *targets[MAX_TARGETS];
        size_t n_targets;
        unsigned incidents;
        usec_t next_resolve;
        Snapshot snap, capture;
        pid_t capture_pid;          /* whose dump d->capture holds */
        bool unit_error_reported;
        long fd_room;               /* descriptors new targets may still take, this round */
        bool backlog;               /* this round left matching processes for the next */
        int crowded;                /* this round could not take every process: 0, EMFILE, E2BIG */
        size_t crowded_watch;
        bool crowded_reported;
        pid_t exec_child;
        usec_t exec_deadline;
} Daemon;

static volatile sig_atomic_t got_term, got_hup;

static void on_term(int sig) {
        (void) sig;
        got_term = 1;
}

static void on_hup(int sig) {
        (void) sig;
        got_hup = 1;
}

static usec_t realtime_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

static void send_error(const Watch *w, pid_t pid, const char *message) {
        Alert a = { .event = ALERT_ERROR, .watch = w ? w->name : NULL, .pid = pid, .message = message };
        (void) alert_send(&a);
}

/* ---- targets ---------------------------------------------------------------------------- */

static Target *target_free(Target *t) {
        if (!t)
                return NULL;
        sampler_free(t->sampler);
        detector_free(t->detector);
        for (size_t i = 0; i < HISTORY_BUCKETS; i++)
                profile_free(t->history[i]);
        for (size_t i = 0; i < t->n_readers; i++)
                procinfo_thread_close(t->readers[i].r);
        free(t->readers);
        free(t);
        return NULL;
}

static int target_new(Daemon *d, size_t watch, pid_t pid, uint64_t start_time, Target **ret) {
        const Watch *w = &d->config->watches[watch];
        Target *t = calloc(1, sizeof(Target));
        if (!t)
                return -ENOMEM;
        t->watch = watch;
        t->pid = pid;
        t->start_time = start_time;
        t->next = t->created = now_usec();
        DetectorOptions o = {
                .stuck_after = w->stuck_after,
                .main_only = w->threads == WATCH_THREADS_MAIN,
                .pid = pid,
                .ignore = w->ignore ? &w->ignore_re : NULL,
                .clock_ticks = (unsigned long) sysconf(_SC_CLK_TCK),
        };
        int r = detector_new(&o, &t->detector);
        for (size_t i = 0; r >= 0 && i < HISTORY_BUCKETS; i++)
                r = profile_new(&t->history[i]);
        if (r < 0) {
                target_free(t);
                return r;
        }
        *ret = t;
        return 0;
}

static int read_pidfile(const char *path, pid_t *ret) {
        char buf[32];
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return n < 0 ? -errno : -EBADMSG;
        buf[n] = 0;
        buf[strcspn(buf, " \t\r\n")] = 0;
        return parse_pid(buf, ret);
}

/* The processes of a systemd unit: its cgroup's cgroup.procs (cgroup v2 layout). */
static size_t unit_pids(const char *unit, pid_t *out, size_t max) {
        static const char *const slices[] = { "system.slice", "user.slice", "" };
        size_t n = 0;

        for (size_t s = 0; s < ELEMENTSOF(slices) && n == 0; s++) {
                char path[512];
                snprintf(path, sizeof(path), "/sys/fs/cgroup/%s%s%s/cgroup.procs", slices[s], *slices[s] ? "/" : "", unit);
                _cleanup_fclose_ FILE *f = fopen(path, "re");
                long v;
                while (f && n < max && fscanf(f, "%ld", &v) == 1)
                        if (v > 0)
                                out[n++] = (pid_t) v;
        }
        return n;
}

static bool cmdline_matches(pid_t pid, const regex_t *re) {
        char buf[4096];
        proc_cmdline(pid, buf, sizeof(buf));
        return buf[0] && regexec(re, buf, 0, NULL, 0) == 0;
}

static Target *target_find(Daemon *d, size_t watch, pid_t pid) {
        for (size_t i = 0; i < d->n_targets; i++)
                if (d->targets[i]->watch == watch && d->targets[i]->pid == pid)
                        return d->targets[i];
        return NULL;
}

static void target_lost(Daemon *d, Target *t, const char *why) {
        const Watch *w = &d->config->watches[t->watch];
        if (t->sampler) {
                char msg[256];
                snprintf(msg, sizeof(msg), "watched process %d (%s) %s", (int) t->pid, w->name, why);
                Alert a = { .event = ALERT_TARGET_LOST, .watch = w->name, .pid = t->pid, .message = msg };
                (void) alert_send(&a);
        }
}

/* Marks pid of watch as wanted: known (and the same process) or new. */
static void target_attach(Daemon *d, Target *t);

static void want(Daemon *d, size_t watch, pid_t pid, unsigned *attached) {
        uint64_t st;
        if (pid == getpid())
                return;
        Target *t = target_find(d, watch, pid);
        int r = procinfo_start_time(pid, &st);
        if (r < 0) {
                /* Gone: dropped after the round. Anything else (out of file descriptors...)
                 * says nothing about the process: keep what we have. */
                if (t && r != -ESRCH)
                        t->seen = true;
                return;
        }
        if (t && t->start_time != st) {
                /* The pid now names another process: the old one is gone. */
                target_lost(d, t, "exited (its pid was reused)");
                t->sampler = sampler_free(t->sampler);
                t->failed = true;
                t->seen = false;
                t = NULL;
        }
        if (t) {
                t->seen = true;
                target_attach(d, t);
                return;
        }
        if (d->n_targets >= MAX_TARGETS || d->fd_room < FDS_PER_NEW_TARGET) {
                if (!d->crowded) {
                        d->crowded = d->n_targets >= MAX_TARGETS ? E2BIG : EMFILE;
                        d->crowded_watch = watch;
                }
                return;
        }
        if (*attached >= MAX_ATTACH_PER_ROUND) {
                d->backlog = true;
                return;
        }
        if (target_new(d, watch, pid, st, &t) < 0)
                return;
        for (size_t i = 0; i < d->n_carried; i++) {
                const Carried *c = &d->carried[i];
                if (c->pid == pid && c->start_time == st && strcmp(c->watch, d->config->watches[watch].name) == 0) {
                        memcpy(t->cooldown, c->cooldown, sizeof(t->cooldown));
                        memcpy(t->last_incident, c->last_incident, sizeof(t->last_incident));
                        break;
                }
        }
        t->seen = true;
        d->targets[d->n_targets++] = t;
        (*attached)++;
        d->fd_room -= FDS_PER_NEW_TARGET;

        target_attach(d, t);
}

static void read_exe(pid_t pid, char *buf, size_t len) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/exe", (int) pid);
        ssize_t n = readlink(path, buf, len - 1);
        buf[n > 0 ? n : 0] = 0;
}

/* Why a process could not be read (the sampler's words: they tell root without
 * CAP_SYS_PTRACE from another user, and a zombie from a process that is gone). */
static const char *attach_error(int r, pid_t pid, const char *detail, char *buf, size_t len) {
        return sampler_strerror(r, pid, detail, buf, len);
}

/* Attaches, or retries an attach that failed. A process seen a moment after its fork may not
 * be Python yet (a shell wrapper, pyenv's shim, an exec to come): it gets a few resolution
 * rounds, and another chance whenever its executable changes. One error event per target, not
 * one per sample. */
static void target_attach(Daemon *d, Target *t) {
        const Watch *w = &d->config->watches[t->watch];
        char detail[256] = "", msg[512], exe[256];

        if (t->sampler)
                return;
        if (t->failed) {
                read_exe(t->pid, exe, sizeof(exe));
                if (streq_ptr(exe, t->exe))
                        return;
                t->failed = false;
                t->tries = 0;
        }
        int r = sampler_attach(t->pid, &t->sampler, detail, sizeof(detail));
        /* Reading the interpreter's ELF symbols leaves freed heap behind (a static Python is a
         * big file): hand it back, or a daemon watching many processes keeps megabytes of it. */
        (void) malloc_trim(0);
        if (r >= 0) {
                t->next = now_usec();
                return;
        }
        t->tries++;
        /* Every process is a zombie for a moment as it exits, until its parent reaps it: only
         * one that stays one, over the tries and a resolution period, is worth an error. */
        bool zombie = r == -ESRCH && sampler_proc_state(t->pid, NULL) == 'Z' && now_usec() - t->created >= RESOLVE_USEC;
        bool final = r == -EPERM || r == -EACCES || r == -EPROTONOSUPPORT || t->tries >= ATTACH_TRIES;
        if (!final)
                return;
        t->failed = true;
        read_exe(t->pid, t->exe, sizeof(t->exe));
        /* Gone is not an error (the drop says so); a zombie is still there, and says nothing. */
        if (r != -ESRCH || zombie)
                send_error(w, t->pid, attach_error(r, t->pid, detail, msg, sizeof(msg)));
}

/* The selector of watch wi could not be evaluated this round (a /proc scan or a pidfile read
 * failed for want of memory or descriptors): its targets stay, unless they are gone. */
static void keep_watch(Daemon *d, size_t wi) {
        for (size_t i = 0; i < d->n_targets; i++) {
                Target *t = d->targets[i];
                uint64_t st;
                if (t->watch != wi)
                        continue;
                int r = procinfo_start_time(t->pid, &st);
                if (r != -ESRCH && (r < 0 || st == t->start_time))
                        t->seen = true;
        }
}

static long fds_free(void) {
        struct rlimit rl;
        long n = 0;
        _cleanup_(closedirp) DIR *dir = opendir("/proc/self/fd");
        if (!dir || getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return 0;
        for (struct dirent *de; (de = readdir(dir));)
                if (de->d_name[0] != '.')
                        n++;
        if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (rlim_t) LONG_MAX)
                return LONG_MAX;
        return (long) rl.rlim_cur - n - FD_RESERVE;
}

static void resolve(Daemon *d, usec_t now) {
        unsigned attached = 0;
        time_t tt = time(NULL);
        struct tm tm;
        localtime_r(&tt, &tm);
        unsigned minute = (unsigned) (tm.tm_hour * 60 + tm.tm_min);

        for (size_t i = 0; i < d->n_targets; i++)
                d->targets[i]->seen = false;
        d->fd_room = fds_free();
        d->backlog = false;
        d->crowded = 0;

        for (size_t wi = 0; wi < d->config->n_watches; wi++) {
                const Watch *w = &d->config->watches[wi];
                if (!watch_window_active(w, minute))
                        continue;
                switch (w->selector) {
                case SELECT_PID:
                        want(d, wi, w->pid, &attached);
                        break;
                case SELECT_PIDFILE: {
                        pid_t pid;
                        int r = read_pidfile(w->selector_value, &pid);
                        if (r >= 0)
                                want(d, wi, pid, &attached);
                        else if (r == -EMFILE || r == -ENFILE || r == -ENOMEM)
                                keep_watch(d, wi);
                        break;
                }
                case SELECT_UNIT: {
                        pid_t pids[256];
                        if (access("/run/systemd/system", F_OK) < 0) {
                                if (!d->unit_error_reported)
                                        send_error(w, 0, "unit= needs systemd as the init system, and it is not running: use pid=, pidfile= or match= instead");
                                d->unit_error_reported = true;
                                break;
                        }
                        size_t n = unit_pids(w->selector_value, pids, ELEMENTSOF(pids));
                        for (size_t k = 0; k < n; k++)
                                want(d, wi, pids[k], &attached);
                        break;
                }
                case SELECT_MATCH: {
                        _cleanup_(closedirp) DIR *dir = opendir("/proc");
                        struct dirent *de;
                        if (!dir)
                                keep_watch(d, wi);
                        while (dir && (de = readdir(dir))) {
                                pid_t pid;
                                if (parse_pid(de->d_name, &pid) < 0)
                                        continue;
                                if (target_find(d, wi, pid) || cmdline_matches(pid, &w->match_re))
                                        want(d, wi, pid, &attached);
                        }
                        break;
                }
                default:
                        break;
                }
        }

        /* Gone (or out of their window): dropped, with target-lost for those we watched. */
        for (size_t i = 0; i < d->n_targets;) {
                Target *t = d->targets[i];
                if (!t->seen) {
                        uint64_t st;
                        int r = procinfo_start_time(t->pid, &st);
                        if (r < 0 && r != -ESRCH) {
                                i++;   /* cannot tell now (out of descriptors?): next round */
                                continue;
                        }
                        bool alive = r >= 0 && st == t->start_time;
                        if (!alive)
                                target_lost(d, t, "exited");
                        target_free(t);
                        d->targets[i] = d->targets[--d->n_targets];
                } else
                        i++;
        }

        /* Once per episode, not once per round: the limit stays reached. */
        if (d->crowded && !d->crowded_reported) {
                const Watch *w = &d->config->watches[d->crowded_watch];
                char msg[512];
                struct rlimit rl = {};
                (void) getrlimit(RLIMIT_NOFILE, &rl);
                if (d->crowded == E2BIG)
                        snprintf(msg, sizeof(msg), "watch %s: more processes match than can be watched: at most %d are watched at once (%zu now); narrow the watches' selectors",
                                 w->name, MAX_TARGETS, d->n_targets);
                else
                        snprintf(msg, sizeof(msg), "watch %s: more processes match than can be watched within the open-file limit (%llu; %zu processes watched): raise LimitNOFILE= for the daemon (a watched thread takes up to 3 files)",
                                 w->name, (unsigned long long) rl.rlim_cur, d->n_targets);
                send_error(w, 0, msg);
        }
        d->crowded_reported = d->crowded != 0;
        d->next_resolve = now + (d->backlog ? RESOLVE_BACKLOG_USEC : RESOLVE_USEC);
}

/* ---- sampling --------------------------------------------------------------------------- */

static ThreadReader *reader_get(Target *t, pid_t tid) {
        for (size_t i = 0; i < t->n_readers; i++)
                if (t->readers[i].tid == tid) {
                        t->readers[i].seen = true;
                        return &t->readers[i];
                }
        ProcThreadReader *r = NULL;
        if (procinfo_thread_open(t->pid, tid, &r) < 0)
                return NULL;
        ThreadReader *n = reallocarray(t->readers, t->n_readers + 1, sizeof(ThreadReader));
        if (!n) {
                procinfo_thread_close(r);
                return NULL;
        }
        t->readers = n;
        t->readers[t->n_readers] = (ThreadReader) { .tid = tid, .r = r, .seen = true };
        return &t->readers[t->n_readers++];
}

static void reader_drop(Target *t, pid_t tid) {
        for (size_t i = 0; i < t->n_readers; i++)
                if (t->readers[i].tid == tid) {
                        procinfo_thread_close(t->readers[i].r);
                        t->readers[i] = t->readers[--t->n_readers];
                        return;
                }
}

/* Closes the /proc files of threads that were not in this (complete) sample: they exited. */
static void readers_sweep(Target *t) {
        for (size_t i = 0; i < t->n_readers;)
                if (!t->readers[i].seen) {
                        procinfo_thread_close(t->readers[i].r);
                        t->readers[i] = t->readers[--t->n_readers];
                } else
                        t->readers[i++].seen = false;
}

/* A thread's kernel counters, read at most every `every`: they only ever grow, and the
 * detector needs to know when a thread woke to within a fraction of stuck_after, not to the
 * sample. Reading /proc/PID/task/TID/status is the daemon's most expensive step otherwise. */
static int reader_counters(ThreadReader *tr, usec_t now, usec_t every, ThreadSample *ret) {
        if (tr->read_at == 0 || now - tr->read_at >= every) {
                int r = procinfo_thread_read(tr->r, &tr->last);
                if (r < 0)
                        return r;
                tr->read_at = now;
        }
        *ret = tr->last;
        return 0;
}

static void history_add(Daemon *d, Target *t, usec_t now) {
        const Watch *w = &d->config->watches[t->watch];
        usec_t span = MAX(w->history / HISTORY_BUCKETS, (usec_t) USEC_PER_SEC);

        if (t->bucket_start == 0)
                t->bucket_start = now;
        if (now - t->bucket_start >= span) {
                t->bucket = (t->bucket + 1) % HISTORY_BUCKETS;
                profile_clear(t->history[t->bucket]);
                t->bucket_start = now;
        }
        (void) profile_add_snapshot(t->history[t->bucket], t->pid, &d->snap, PROFILE_IDLE | PROFILE_THREADS);
}

/* The history window as one profile. */
static int history_merge(Target *t, Profile *out) {
        ProfileFrame frames[512];

        for (size_t b = 0; b < HISTORY_BUCKETS; b++) {
                const Profile *p = t->history[b];
                for (size_t i = 0; i < profile_n_stacks(p); i++) {
                        const ProfileStack *s = profile_stack(p, i);
                        size_t n = MIN(s->n_frames, ELEMENTSOF(frames));
                        for (size_t k = 0; k < n; k++)
                                frames[k] = *profile_frame(p, s->frames[s->n_frames - 1 - k]);
                        int r = profile_add_stack(out, s->pid, s->thread_id, frames, n, s->count);
                        if (r < 0)
                                return r;
                }
                profile_info(out)->samples += profile_info((Profile *) p)->samples;
        }
        return 0;
}

/* ---- capture ---------------------------------------------------------------------------- */

typedef struct CaptureCtx {
        const Snapshot *snap;
        const DumpInfo *info;
        bool locals;
        const Profile *profile;
} CaptureCtx;

static int write_dump_text(FILE *f, void *u) {
        CaptureCtx *c = u;
        return dump_write_text(f, c->info, c->snap, c->locals);
}

static int write_dump_json(FILE *f, void *u) {
        CaptureCtx *c = u;
        return dump_write_json(f, c->info, c->snap, c->locals);
}

static int write_flamegraph(FILE *f, void *u) {
        CaptureCtx *c = u;
        return flamegraph_write(f, c->profile, NULL);
}

static int write_folded(FILE *f, void *u) {
        CaptureCtx *c = u;
        return folded_write(f, c->profile);
}

static int write_speedscope(FILE *f, void *u) {
        CaptureCtx *c = u;
        return speedscope_write(f, c->profile);
}

static void redact(Snapshot *s, const Watch *w) {
        if (!w->redact)
                return;
        for (size_t i = 0; i < s->n_locals; i++)
                if (s->locals[i].name && regexec(&w->redact_re, s->locals[i].name, 0, NULL, 0) == 0)
                        s->locals[i].repr = "<redacted>";
}

/* "function (file:line)" lines, innermost first, into buf; pointers to each line in lines. */
/* A name in a stack line: escaped for the terminal, so that no newline or escape sequence of
 * the target's can split the line or fake a frame (the lines are joined with newlines for
 * PYSPY_STACK, and with " <- " on stderr), and cut on a character boundary past
 * STACK_NAME_MAX bytes, so that every frame fits its line. */
#define STACK_NAME_MAX 512

static void put_stack_name(FILE *m, const char *s) {
        _cleanup_free_ char *esc = NULL;
        size_t n = 0;
        FILE *e = open_memstream(&esc, &n);

        if (!e || term_write_string(e, s ? s : "?") < 0 || fclose(e) != 0) {
                if (e)
                        (void) fclose(e);
                fputc('?', m);
                return;
        }
        if (n <= STACK_NAME_MAX) {
                fwrite(esc, 1, n, m);
                return;
        }
        size_t cut = STACK_NAME_MAX;
        while (cut > 0 && ((unsigned char) esc[cut] & 0xc0) == 0x80)
                cut--;
        fwrite(esc, 1, cut, m);
        fputs("...", m);
}

/* The stuck thread's frames as "function (file:line)" lines, innermost first, in buf. */
static size_t stack_lines(const Snapshot *s, const StackThread *t, char *buf, size_t len, const char **lines,
                          size_t max) {
        const StackFrame *f = snapshot_thread_frames(s, t);
        size_t n = 0, off = 0;

        for (size_t i = 0; i < t->n_frames && n < max && off < len; i++) {
                _cleanup_free_ char *line = NULL;
                size_t k = 0;
                FILE *m = open_memstream(&line, &k);
                if (!m)
                        break;
                put_stack_name(m, f[i].function);
                fputs(" (", m);
                put_stack_name(m, f[i].filename);
                fprintf(m, ":%d)", f[i].line);
                if (fclose(m) != 0 || k >= len - off)
                        break;
                memcpy(buf + off, line, k + 1);
                lines[n++] = buf + off;
                off += k + 1;
        }
        return n;
}

static const StackThread *find_thread(const Snapshot *s, uint64_t thread_id) {
        for (size_t i = 0; i < s->n_threads; i++)
                if (s->threads[i].thread_id == thread_id)
                        return &s->threads[i];
        return NULL;
}

static bool cooldown_active(Target *t, uint64_t sig, usec_t now, usec_t cooldown) {
        for (size_t i = 0; i < COOLDOWN_SLOTS; i++)
                if (t->cooldown[i].at && t->cooldown[i].signature == sig && now - t->cooldown[i].at < cooldown)
                        return true;
        return false;
}

static void cooldown_set(Target *t, uint64_t sig, usec_t now) {
        size_t oldest = 0;
        for (size_t i = 0; i < COOLDOWN_SLOTS; i++) {
                if (t->cooldown[i].signature == sig || !t->cooldown[i].at) {
                        oldest = i;
                        break;
                }
                if (t->cooldown[i].at < t->cooldown[oldest].at)
                        oldest = i;
        }
        t->cooldown[oldest] = (Cooldown) { sig, now };
}

static char *fill_placeholders(const char *arg, const Watch *w, pid_t pid, pid_t tid, const char *id,
                               const char *bundle) {
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        if (!f)
                return NULL;
        for (const char *p = arg; *p; p++) {
                if (*p == '{') {
                        const char *e = strchr(p, '}');
                        if (e) {
                                size_t n = (size_t) (e - p - 1);
                                if (n == 4 && !strncmp(p + 1, "name", 4))
                                        fputs(w->name, f);
                                else if (n == 3 && !strncmp(p + 1, "pid", 3))
                                        fprintf(f, "%d", (int) pid);
                                else if (n == 3 && !strncmp(p + 1, "tid", 3))
                                        fprintf(f, "%d", (int) tid);
                                else if (n == 6 && !strncmp(p + 1, "bundle", 6))
                                        fputs(bundle, f);
                                else if (n == 8 && !strncmp(p + 1, "incident", 8))
                                        fputs(id, f);
                                else
                                        fwrite(p, 1, n + 2, f);
                                p = e;
                                continue;
                        }
                }
                fputc(*p, f);
        }
        fclose(f);
        return out;
}

static void run_action(Daemon *d, const Watch *w, Target *t, pid_t tid, const char *id, const char *bundle) {
        if (w->action == ACTION_KILL) {
                if (kill(t->pid, SIGKILL) < 0)
                        log_warning("watch %s: could not kill process %d: %m", w->name, (int) t->pid);
                return;
        }
        if (w->action != ACTION_EXEC || !w->exec_argv || d->exec_child > 0)
                return;
        size_t n = 0;
        while (w->exec_argv[n])
                n++;
        char **argv = calloc(n + 1, sizeof(char *));
        if (!argv)
                return;
        for (size_t i = 0; i < n; i++)
                argv[i] = fill_placeholders(w->exec_argv[i], w, t->pid, tid, id, bundle);
        pid_t pid;
        int r = launch_program(argv, &pid);
        for (size_t i = 0; i < n; i++)
                free(argv[i]);
        free(argv);
        if (r < 0) {
                char msg[512];
                snprintf(msg, sizeof(msg), "watch %s: exec action %s failed: %s", w->name, w->exec_argv[0], strerror(-r));
                send_error(w, t->pid, msg);
                return;
        }
        d->exec_child = pid;
        d->exec_deadline = now_usec() + EXEC_TIMEOUT_USEC;
}

/* The alert: one per stuck thread, all naming the same incident. */
static void send_hangs(Target *t, const Watch *w, const IncidentThread *threads, const DetectorEvent *const *stuck_ev,
                       size_t n_stuck, const char *id, const char *bundle, usec_t now) {
        char msg[1024];

        for (size_t i = 0; i < n_stuck; i++) {
                char stack[4096] = "";
                size_t off = 0;
                for (size_t k = 0; k < threads[i].n_stack && off < sizeof(stack); k++) {
                        int m = snprintf(stack + off, sizeof(stack) - off, "%s%s", k ? "\n" : "", threads[i].stack[k]);
                        if (m < 0)
                                break;
                        off += (size_t) m;
                }
                snprintf(msg, sizeof(msg), "Python process %d (%s) hung: thread %d stuck for %" PRIu64 "s (%s)",
                         (int) t->pid, w->name, (int) threads[i].tid, (now - stuck_ev[i]->since) / USEC_PER_SEC,
                         stuck_reason_to_string(stuck_ev[i]->reason));
                Alert a = {
                        .event = ALERT_HANG, .watch = w->name, .pid = t->pid, .tid = threads[i].tid,
                        .thread = threads[i].name, .stuck_usec = now - stuck_ev[i]->since, .stack = stack,
                        .incident = id, .bundle = bundle, .message = msg,
                };
                (void) alert_send(&a);
                cooldown_set(t, stuck_ev[i]->signature, now);
        }
}

/* What to do about a state_dir that cannot take a bundle, by cause. */
static const char *state_dir_fix(int r) {
        switch (r) {
        case -ENOSPC:
        case -EDQUOT:
        case -EFBIG:
                return "free space on its file system, or lower max_incidents or max_incident_bytes";
        case -EROFS:
                return "it is on a read-only file system: mount it read-write, or set state_dir to a writable directory (under systemd: StateDirectory= or ReadWritePaths=)";
        case -EACCES:
        case -EPERM:
                return "the daemon may not write there: make it a directory owned by the daemon's user, mode 0700, not immutable (lsattr/chattr -i)";
        case -ENOTDIR:
        case -ENOENT:
        case -ELOOP:
                return "a part of its path is not a directory: set state_dir to a directory";
        default:
                return "check that state_dir is a writable directory with free space";
        }
}

/* A hang whose bundle could not be written: one error event for this capture, and the hung
 * threads are reported again (a new capture) later if they are still stuck, in case the disk
 * has been fixed meanwhile. No hang event without its bundle: the error carries the news. */
static void capture_failed(Daemon *d, Target *t, const Watch *w, const DetectorEvent *ev, size_t n_ev,
                           const DetectorEvent *first, int r, usec_t now) {
        char msg[1024];

        t->retry_delay = MIN(t->retry_delay == 0 ? MAX(w->stuck_after, RETRY_MIN_USEC) : t->retry_delay * 2, RETRY_MAX_USEC);
        for (size_t i = 0; i < n_ev; i++)
                detector_rearm(t->detector, ev[i].thread_id, now + t->retry_delay);
        snprintf(msg, sizeof(msg), "watch %s: Python process %d hung (thread %d stuck for %" PRIu64 "s), but its incident bundle could not be written under %s/incidents: %s: %s; trying again in %" PRIu64 "s",
                 w->name, (int) t->pid, (int) first->native_id, (now - first->since) / USEC_PER_SEC, d->config->state_dir,
                 strerror(-r), state_dir_fix(r), t->retry_delay / USEC_PER_SEC);
        send_error(w, t->pid, msg);
}

static void capture(Daemon *d, Target *t, const DetectorEvent *ev, size_t n_ev, usec_t now) {
        const Watch *w = &d->config->watches[t->watch];
        const PyTarget *pt = sampler_target(t->sampler);
        char cmdline[4096], id[256];
        _cleanup_free_ char *procjson = NULL;
        size_t procjson_len = 0;
        _cleanup_(profile_freep) Profile *hist = NULL;
        _cleanup_(incident_abortp) IncidentWriter *iw = NULL;
        usec_t detected = realtime_usec();
        const StackThread *stuck[MAX_EVENTS];
        const DetectorEvent *stuck_ev[MAX_EVENTS];
        size_t n_stuck = 0;
        int r;

        /* Another thread of the same process stuck right after an incident (a deadlock's second
         * party, seen a sample or two later): its stack is already in that incident's paused
         * dump, and a new ID (to the second) could even be the same. Alert with that incident. */
        if (t->last_incident[0] && now - t->last_incident_at < JOIN_USEC) {
                snprintf(id, sizeof(id), "%s", t->last_incident);
                char stackbuf[MAX_EVENTS][2048], bundle[4096];
                const char *lines[MAX_EVENTS][32];
                IncidentThread threads[MAX_EVENTS];
                for (size_t i = 0; i < n_ev && n_stuck < MAX_EVENTS; i++) {
                        const StackThread *st = find_thread(&d->snap, ev[i].thread_id);
                        if (!st)
                                continue;
                        /* The name from the incident's dump (a plain sample carries none). */
                        const StackThread *named = d->capture_pid == t->pid ? find_thread(&d->capture, ev[i].thread_id) : NULL;
                        size_t nl = stack_lines(&d->snap, st, stackbuf[n_stuck], sizeof(stackbuf[n_stuck]), lines[n_stuck], 32);
                        threads[n_stuck] = (IncidentThread) { .tid = st->native_id, .name = named ? named->name : NULL,
                                                              .stack = lines[n_stuck], .n_stack = nl };
                        stuck_ev[n_stuck++] = &ev[i];
                }
                snprintf(bundle, sizeof(bundle), "%s/incidents/%s", d->config->state_dir, id);
                send_hangs(t, w, threads, stuck_ev, n_stuck, id, bundle, now);
                return;
        }

        /* 1. A paused dump with locals, at once: the stuck state may clear. */
        unsigned flags = SAMPLE_PAUSE | SAMPLE_NAMES | SAMPLE_IDLE | (w->locals ? SAMPLE_LOCALS : 0);
        const Snapshot *snap = &d->capture;
        bool paused = true;
        r = sampler_sample(t->sampler, flags, &d->capture);
        d->capture_pid = r >= 0 ? t->pid : 0;
        detector_rebase(t->detector);
        for (size_t i = 0; i < t->n_readers; i++)
                t->readers[i].read_at = 0;   /* fresh counters after our own pause */
        if (r < 0) {
                paused = false;
                snap = &d->snap;   /* the sample that showed the hang */
        } else
                redact(&d->capture, w);
        /* 2. The kernel's view. */
        FILE *pf = open_memstream(&procjson, &procjson_len);
        int pr = pf ? procinfo_write_json(pf, t->pid) : -ENOMEM;
        if (pf)
                fclose(pf);
        /* 3. The history. */
        if (profile_new(&hist) < 0)
                return;
        (void) history_merge(t, hist);
        proc_cmdline(t->pid, cmdline, sizeof(cmdline));
        ProfileInfo *hi = profile_info(hist);
        hi->pid = t->pid;
        hi->cmdline = strdup(cmdline);
        hi->python_version = strdup(pt->version);
        hi->rate = w->rate;
        hi->end_usec = now;
        hi->start_usec = now > w->history ? now - w->history : 0;

        for (size_t i = 0; i < n_ev && n_stuck < MAX_EVENTS; i++) {
                const StackThread *st = find_thread(snap, ev[i].thread_id);
                if (!st || st->n_frames == 0)
                        st = find_thread(&d->snap, ev[i].thread_id);
                if (st) {
                        stuck_ev[n_stuck] = &ev[i];
                        stuck[n_stuck++] = st;
                }
        }
        if (n_stuck == 0)
                return;

        r = incident_id_make(detected, w->name, t->pid, id, sizeof(id));
        if (r >= 0)
                r = incident_writer_new(d->config->state_dir, id, &iw);
        if (r < 0) {
                capture_failed(d, t, w, ev, n_ev, stuck_ev[0], r, now);
                return;
        }
        DumpInfo info = { .pid = t->pid, .cmdline = cmdline, .python_version = pt->version, .executable = pt->executable };
        CaptureCtx cc = { .snap = snap, .info = &info, .locals = w->locals && paused, .profile = hist };
        if (!paused)
                (void) incident_add_gap(iw, "dump: the paused dump failed, the non-blocking sample is shown without locals");
        r = incident_add_file(iw, "dump.txt", write_dump_text, &cc);
        if (r >= 0)
                r = incident_add_file(iw, "dump.json", write_dump_json, &cc);
        if (r >= 0) {
                if (pr >= 0 || pr == -ESTALE || pr == -ESRCH)
                        (void) incident_add_buffer(iw, "process.json", procjson, procjson_len);
                if (pr < 0)
                        (void) incident_add_gap(iw, "process.json: %s", strerror(-pr));
                (void) incident_add_file(iw, "flamegraph.svg", write_flamegraph, &cc);
                (void) incident_add_file(iw, "samples.folded", write_folded, &cc);
                (void) incident_add_file(iw, "speedscope.json", write_speedscope, &cc);
        }

        /* Summary: the stuck threads with their stacks. */
        char stackbuf[MAX_EVENTS][4096];
        const char *lines[MAX_EVENTS][64];
        IncidentThread threads[MAX_EVENTS];
        for (size_t i = 0; i < n_stuck; i++) {
                size_t nl = stack_lines(snap, stuck[i], stackbuf[i], sizeof(stackbuf[i]), lines[i], 64);
                threads[i] = (IncidentThread) { .tid = stuck[i]->native_id, .name = stuck[i]->name,
                                                .stack = lines[i], .n_stack = nl };
        }
        IncidentSummary sum = {
                .watch = w->name,
                .pid = t->pid,
                .cmdline = cmdline,
                .python_version = pt->version,
                .detected_at = detected,
                .stuck_since = detected - (now - stuck_ev[0]->since),
                .stuck_after = w->stuck_after,
                .reason = stuck_reason_to_string(stuck_ev[0]->reason),
                .threads = threads,
                .n_threads = n_stuck,
        };
        char bundle[4096];
        snprintf(bundle, sizeof(bundle), "%s", incident_writer_path(iw));
        if (r >= 0)
                r = incident_commit(TAKE_PTR(iw), &sum, w, PYSPY_WATCH_VERSION);
        if (r < 0) {
                capture_failed(d, t, w, ev, n_ev, stuck_ev[0], r, now);
                return;
        }
        t->retry_delay = 0;
        d->incidents++;
        snprintf(t->last_incident, sizeof(t->last_incident), "%s", id);
        t->last_incident_at = now;
        (void) vacuum_incidents(d->config->state_dir, d->config->max_incidents, d->config->max_incident_bytes, id);

        send_hangs(t, w, threads, stuck_ev, n_stuck, id, bundle, now);
        run_action(d, w, t, threads[0].tid, id, bundle);
}

static void sample_target(Daemon *d, Target *t, usec_t now) {
        const Watch *w = &d->config->watches[t->watch];
        ThreadKernel kernel[1024];
        DetectorEvent ev[MAX_EVENTS], hang[MAX_EVENTS];
        size_t n_kernel = 0, n_hang = 0;

        t->next += USEC_PER_SEC / MAX(w->rate, 1u);
        if (t->next < now)
                t->next = now + USEC_PER_SEC / MAX(w->rate, 1u);   /* late: no burst */

        /* The detector needs stacks and thread ids only. */
        int r = sampler_sample(t->sampler, SAMPLE_NO_GIL, &d->snap);
        if (r == -ESRCH) {
                target_lost(d, t, "exited");
                t->sampler = sampler_free(t->sampler);
                t->failed = true;
                return;
        }
        if (r < 0)
                return;   /* torn: the next sample will do */
        usec_t every = MIN((usec_t) USEC_PER_SEC, w->stuck_after / 10);
        for (size_t i = 0; i < d->snap.n_threads && n_kernel < ELEMENTSOF(kernel); i++) {
                pid_t tid = d->snap.threads[i].native_id;
                ThreadSample ts;
                ThreadReader *rd = tid > 0 ? reader_get(t, tid) : NULL;
                if (!rd)
                        continue;
                if (reader_counters(rd, now, every, &ts) < 0) {
                        reader_drop(t, tid);
                        continue;
                }
                kernel[n_kernel++] = (ThreadKernel) { .tid = tid, .voluntary_switches = ts.voluntary_ctxt_switches,
                                                      .cpu_ticks = ts.utime + ts.stime, .valid = true,
                                                      .at = rd->read_at };
        }
        if (n_kernel < ELEMENTSOF(kernel))
                readers_sweep(t);
        history_add(d, t, now);
        int n = detector_feed(t->detector, now, &d->snap, kernel, n_kernel, ev, ELEMENTSOF(ev));
        for (int i = 0; i < n; i++) {
                if (ev[i].kind == DETECTOR_RECOVERED) {
                        const StackThread *st = find_thread(&d->snap, ev[i].thread_id);
                        char msg[256];
                        snprintf(msg, sizeof(msg), "Python process %d (%s): thread %d moved again after %" PRIu64 "s",
                                 (int) t->pid, w->name, (int) ev[i].native_id, (now - ev[i].since) / USEC_PER_SEC);
                        Alert a = { .event = ALERT_RECOVERED, .watch = w->name, .pid = t->pid, .tid = ev[i].native_id,
                                    .thread = st ? st->name : NULL, .stuck_usec = now - ev[i].since,
                                    .incident = t->last_incident[0] ? t->last_incident : NULL, .message = msg };
                        (void) alert_send(&a);
                } else if (!cooldown_active(t, ev[i].signature, now, w->cooldown))
                        hang[n_hang++] = ev[i];
        }
        if (n_hang > 0)
                capture(d, t, hang, n_hang, now);
}

/* ---- the loop --------------------------------------------------------------------------- */

/* STATUS= every 5 s, and within a second of a change in what is watched (many processes
 * coming or going at once). */
static void notify_status(Daemon *d, usec_t now, usec_t *next) {
        static size_t last_live = SIZE_MAX;
        static unsigned last_incidents;
        size_t live = 0;
        for (size_t i = 0; i < d->n_targets; i++)
                if (d->targets[i]->sampler)
                        live++;
        bool changed = live != last_live || d->incidents != last_incidents;
        if (now < *next && !(changed && now + 4 * USEC_PER_SEC >= *next))
                return;
        (void) sd_notifyf(0, "STATUS=Watching %zu processes (%zu watches), %u incidents", live,
                          d->config->n_watches, d->incidents);
        last_live = live;
        last_incidents = d->incidents;
        *next = now + 5 * USEC_PER_SEC;
}

/* A state_dir that cannot take bundles is not a reason to stop watching: hangs are still
 * detected and reported (as errors naming the cause, then as hangs with their bundle once one
 * can be written), as journald keeps logging when /var/log/journal is not writable. Said once
 * at start (and after a reload that moves it), not found out at the first hang. */
static void check_state_dir(const Config *c) {
        char msg[1024];
        int r = incident_dir_probe(c->state_dir);
        if (r >= 0)
                return;
        snprintf(msg, sizeof(msg), "state directory %s cannot hold incident bundles: %s: %s; watching anyway, hangs are reported as errors until a bundle can be written",
                 c->state_dir, strerror(-r), state_dir_fix(r));
        send_error(NULL, 0, msg);
}

static int load(const char *path, Config **ret) {
        ConfigErrors errors = {};
        int r = config_load(path, ret, &errors);
        if (r < 0) {
                for (size_t i = 0; i < errors.n; i++)
                        if (errors.errors[i].line > 0)
                                log_error("%s:%u: %s", path, errors.errors[i].line, errors.errors[i].message);
                        else
                                log_error("%s: %s", path, errors.errors[i].message);
                if (errors.n == 0)
                        log_error("%s: cannot load: %s", path, strerror(-r));
        }
        config_errors_done(&errors);
        return r;
}

static void help(void) {
        printf("Usage: pyspy-watch watch [-c CONFIG]\n\n"
               "Watch the Python processes of CONFIG's watch lists for stacks that stop moving, and write an\n"
               "incident bundle and a journal alert when one does. Runs in the foreground (systemd Type=notify).\n\n"
               "Options:\n"
               "  -c --config CONFIG  The configuration (default %s)\n"
               "  -h --help           Show this help\n"
               "\nSee the pyspy-watch(1) and pyspy-watch.ini(5) man pages for details.\n",
               CONFIG_DEFAULT_PATH);
}

int cmd_watch(int argc, char **argv) {
        const char *arg_config = CONFIG_DEFAULT_PATH;
        int pr = parse_config_argv("watch", argc, argv, help, &arg_config);
        if (pr <= 0)
                return pr < 0 ? EXIT_USAGE : EXIT_OK;

        Daemon d = {};
        if (load(arg_config, &d.config) < 0)
                return EXIT_USAGE;

        struct sigaction sa = { .sa_handler = on_term };
        sigemptyset(&sa.sa_mask);
        (void) sigaction(SIGTERM, &sa, NULL);
        (void) sigaction(SIGINT, &sa, NULL);
        sa.sa_handler = on_hup;
        (void) sigaction(SIGHUP, &sa, NULL);
        /* Delivered only inside ppoll() below, which unblocks them atomically: a signal that
         * arrives while the loop works (a /proc scan, a capture) cuts the next sleep short
         * instead of waiting out a whole second. */
        sigset_t block, unblocked;
        sigemptyset(&block);
        sigaddset(&block, SIGTERM);
        sigaddset(&block, SIGINT);
        sigaddset(&block, SIGHUP);
        (void) sigprocmask(SIG_BLOCK, &block, &unblocked);
        sigdelset(&unblocked, SIGTERM);
        sigdelset(&unblocked, SIGINT);
        sigdelset(&unblocked, SIGHUP);

        /* Many watched processes take many descriptors (see FD_RESERVE); systemd's default soft
         * limit is 1024. A unit that forbids setrlimit() keeps it: the budget then applies. */
        (void) launch_raise_nofile();
        (void) incident_cleanup_stale(d.config->state_dir);
        check_state_dir(d.config);
        uint64_t watchdog_usec = 0;
        bool watchdog = sd_watchdog_enabled(0, &watchdog_usec) > 0;
        usec_t next_watchdog = 0, next_status = 0;
        (void) sd_notify(0, "READY=1");

        while (!got_term) {
                usec_t now = now_usec();
                if (got_hup) {
                        got_hup = 0;
                        Config *nc = NULL;
                        (void) sd_notify(0, "RELOADING=1");
                        if (load(arg_config, &nc) < 0) {
                                char msg[512];
                                snprintf(msg, sizeof(msg), "reloading %s failed: keeping the previous configuration; run 'pyspy-watch check-config -c %s'",
                                         arg_config, arg_config);
                                send_error(NULL, 0, msg);
                        } else {
                                free(d.carried);
                                d.n_carried = 0;
                                d.carried = calloc(MAX(d.n_targets, 1u), sizeof(Carried));
                                for (size_t i = 0; d.carried && i < d.n_targets; i++) {
                                        const Target *t = d.targets[i];
                                        Carried *c = &d.carried[d.n_carried++];
                                        snprintf(c->watch, sizeof(c->watch), "%s", d.config->watches[t->watch].name);
                                        c->pid = t->pid;
                                        c->start_time = t->start_time;
                                        memcpy(c->cooldown, t->cooldown, sizeof(c->cooldown));
                                        memcpy(c->last_incident, t->last_incident, sizeof(c->last_incident));
                                }
                                for (size_t i = 0; i < d.n_targets; i++)
                                        target_free(d.targets[i]);
                                d.n_targets = 0;
                                bool moved = !streq_ptr(nc->state_dir, d.config->state_dir);
                                config_free(d.config);
                                d.config = nc;
                                d.next_resolve = 0;
                                if (moved)
                                        check_state_dir(d.config);
                        }
                        (void) sd_notify(0, "READY=1");
                }
                if (now >= d.next_resolve)
                        resolve(&d, now);
                for (size_t i = 0; i < d.n_targets; i++) {
                        Target *t = d.targets[i];
                        /* Targets due within BATCH_USEC share this wake-up; each keeps its
                         * own period, so its rate is unchanged. */
                        if (t->sampler && !t->failed && now + BATCH_USEC >= t->next)
                                sample_target(&d, t, now);
                }
                if (d.exec_child > 0) {
                        int status;
                        if (launch_reap(d.exec_child, &status) != 0)
                                d.exec_child = 0;
                        else if (now >= d.exec_deadline) {
                                (void) kill(d.exec_child, SIGKILL);
                                (void) waitpid(d.exec_child, NULL, 0);
                                d.exec_child = 0;
                        }
                }
                if (watchdog && now >= next_watchdog) {
                        (void) sd_notify(0, "WATCHDOG=1");
                        next_watchdog = now + watchdog_usec / 2;
                }
                notify_status(&d, now, &next_status);

                /* Sleep until the earliest deadline; a signal cuts it short. */
                usec_t next = d.next_resolve;
                for (size_t i = 0; i < d.n_targets; i++)
                        if (d.targets[i]->sampler && !d.targets[i]->failed)
                                next = MIN(next, d.targets[i]->next);
                if (watchdog)
                        next = MIN(next, next_watchdog);
                now = now_usec();
                if (next > now) {
                        usec_t u = MIN(next - now, (usec_t) USEC_PER_SEC);
                        struct timespec ts = { (time_t) (u / USEC_PER_SEC), (long) (u % USEC_PER_SEC) * 1000 };
                        (void) ppoll(NULL, 0, &ts, &unblocked);
                }
        }

        (void) sd_notify(0, "STOPPING=1");
        for (size_t i = 0; i < d.n_targets; i++)
                target_free(d.targets[i]);
        snapshot_done(&d.snap);
        snapshot_done(&d.capture);
        config_free(d.config);
        free(d.carried);
        return EXIT_OK;
}
