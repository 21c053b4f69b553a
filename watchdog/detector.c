/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "detector.h"

/* CPU share is judged over intervals at least this long: utime/stime move in clock ticks
 * (10 ms), so a 50 ms interval cannot tell 80% from 100%. */
#define SPIN_INTERVAL_USEC (500 * USEC_PER_MSEC)
/* A thread not seen for this long has exited; its state is dropped. */
#define FORGET_USEC (30 * USEC_PER_SEC)

typedef struct Tracked {
        uint64_t thread_id;
        pid_t native_id;
        uint64_t signature;
        usec_t since;           /* first sample with this signature, in a row */
        usec_t last_wake;       /* last sample that saw a voluntary switch (or no data) */
        usec_t last_idle;       /* end of the last interval spent mostly off CPU (or no data) */
        uint64_t prev_vol;
        uint64_t last_cpu;      /* cpu_ticks of the last sample with kernel data */
        uint64_t since_cpu;     /* cpu_ticks at `since` (valid if since_cpu_valid) */
        bool since_cpu_valid;
        bool prev_valid;
        usec_t cp_time;         /* CPU checkpoint */
        uint64_t cp_cpu;
        usec_t last_seen;
        bool rebase;            /* the next counters are a new baseline, not a wake-up */
        bool stuck;
        StuckReason reason;
        usec_t hold_until;      /* detector_rearm(): not reported stuck again before this */
} Tracked;

struct Detector {
        DetectorOptions opt;
        Tracked *threads;       /* grown on demand: most processes have a few threads */
        size_t n, n_allocated;
        size_t n_stuck;
};

static const char *const reason_table[_STUCK_REASON_MAX] = {
        [STUCK_BLOCKED] = "blocked",
        [STUCK_SPINNING] = "spinning",
};

const char *stuck_reason_to_string(StuckReason r) {
        return r >= 0 && r < _STUCK_REASON_MAX ? reason_table[r] : NULL;
}

int detector_new(const DetectorOptions *opt, Detector **ret) {
        Detector *d = calloc(1, sizeof(Detector));
        if (!d)
                return -ENOMEM;
        d->opt = *opt;
        if (d->opt.clock_ticks == 0)
                d->opt.clock_ticks = 100;
        *ret = d;
        return 0;
}

Detector *detector_free(Detector *d) {
        if (!d)
                return NULL;
        free(d->threads);
        free(d);
        return NULL;
}

void detector_rebase(Detector *d) {
        for (size_t i = 0; i < d->n; i++)
                d->threads[i].rebase = true;
}

void detector_rearm(Detector *d, uint64_t thread_id, usec_t not_before) {
        for (size_t i = 0; i < d->n; i++) {
                Tracked *t = &d->threads[i];
                if (t->thread_id != thread_id)
                        continue;
                if (t->stuck) {
                        t->stuck = false;
                        d->n_stuck--;
                }
                t->hold_until = not_before;
                return;
        }
}

size_t detector_n_stuck(const Detector *d) {
        return d->n_stuck;
}

static uint64_t hash_mix(uint64_t h, const void *data, size_t n) {
        const uint8_t *p = data;
        for (size_t i = 0; i < n; i++)
                h = (h ^ p[i]) * 0x100000001b3ULL;
        return h;
}

static uint64_t hash_str(uint64_t h, const char *s) {
        return s ? hash_mix(h, s, strlen(s) + 1) : hash_mix(h, "\xff", 1);
}

static uint64_t mix64(uint64_t h, uint64_t v) {
        /* splitmix64-style: one multiply per word, not one per byte. */
        h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
        h *= 0xbf58476d1ce4e5b9ULL;
        return h ^ (h >> 31);
}

uint64_t detector_signature(const Snapshot *snap, const StackThread *t) {
        const StackFrame *f = snapshot_thread_frames(snap, t);
        uint64_t h = 0xcbf29ce484222325ULL;

        /* A frame is its code object (the remote address the walker decoded, whose identity it
         * re-checks every sample) and, but for the innermost frame (which may move between
         * lines of its function: a loop), its line. Hashing words, not the names' bytes, keeps
         * this cheap enough for every thread of every sample. */
        for (size_t i = 0; i < t->n_frames; i++) {
                h = mix64(h, f[i].code_addr ? f[i].code_addr : hash_str(0, f[i].function) ^ hash_str(1, f[i].filename));
                if (i > 0)
                        h = mix64(h, (uint64_t) (uint32_t) f[i].line);
        }
        return h;
}

static Tracked *tracked_find(Detector *d, uint64_t thread_id) {
        for (size_t i = 0; i < d->n; i++)
                if (d->threads[i].thread_id == thread_id)
                        return &d->threads[i];
        return NULL;
}

static const ThreadKernel *kernel_find(const ThreadKernel *k, size_t n, pid_t tid) {
        if (tid <= 0)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (k[i].tid == tid)
                        return k[i].valid ? &k[i] : NULL;
        return NULL;
}

static bool ignored(const Detector *d, const Snapshot *snap, const StackThread *t) {
        char buf[1024];

        if (!d->opt.ignore || t->n_frames == 0)
                return false;
        const StackFrame *f = snapshot_thread_frames(snap, t);
        snprintf(buf, sizeof(buf), "%s (%s)", f[0].function ? f[0].function : "",
                 f[0].filename ? f[0].filename : "");
        return regexec(d->opt.ignore, buf, 0, NULL, 0) == 0;
}

/* Updates the wake and CPU bookkeeping of t with this sample's kernel counters. */
static void kernel_update(Detector *d, Tracked *t, usec_t now, const ThreadKernel *k) {
        if (!k) {
                /* No data: we cannot say it slept or spun. */
                t->last_wake = t->last_idle = now;
                t->prev_valid = false;
                t->cp_time = 0;
                return;
        }
        if (t->rebase && t->prev_valid) {
                /* Our own pause stopped and restarted the thread: that switch is ours. */
                t->rebase = false;
                t->cp_time = 0;
        } else if (!t->prev_valid || k->voluntary_switches != t->prev_vol)
                t->last_wake = now;
        t->prev_vol = k->voluntary_switches;
        t->prev_valid = true;
        t->last_cpu = k->cpu_ticks;

        /* The CPU checkpoints are on the counters' own clock: the time they were read. */
        usec_t at = k->at > 0 && k->at <= now ? k->at : now;
        if (t->cp_time == 0 || k->cpu_ticks < t->cp_cpu || at < t->cp_time) {
                t->cp_time = at;
                t->cp_cpu = k->cpu_ticks;
                t->last_idle = now;
                return;
        }
        usec_t dt = at - t->cp_time;
        if (dt < SPIN_INTERVAL_USEC)
                return;
        double cpu = (double) (k->cpu_ticks - t->cp_cpu) / (double) d->opt.clock_ticks;
        if (cpu < DETECTOR_SPIN_SHARE * ((double) dt / USEC_PER_SEC))
                t->last_idle = now;
        t->cp_time = at;
        t->cp_cpu = k->cpu_ticks;
}

int detector_feed(Detector *d, usec_t now, const Snapshot *snap, const ThreadKernel *kernel, size_t n_kernel,
                  DetectorEvent *events, size_t max) {
        size_t n_ev = 0;

        for (size_t i = 0; i < snap->n_threads; i++) {
                const StackThread *st = &snap->threads[i];
                if (d->opt.main_only && st->native_id != d->opt.pid)
                        continue;
                Tracked *t = tracked_find(d, st->thread_id);
                bool reused = false;
                if (t && t->native_id > 0 && st->native_id > 0 && t->native_id != st->native_id) {
                        /* Another thread under the same thread id: glibc hands a finished
                         * thread's stack, and so its pthread_t, to the next thread it starts.
                         * Nothing of the old thread's clocks, counters or stuck state applies
                         * (a worker that exited must not make its successor look asleep for
                         * the old one's whole span); the old thread exited, it did not move. */
                        if (t->stuck)
                                d->n_stuck--;
                        *t = (Tracked) { .thread_id = st->thread_id, .since = now, .last_wake = now, .last_idle = now };
                        t->signature = st->n_frames && !st->truncated ? detector_signature(snap, st) : 0;
                        reused = true;
                }
                bool fresh = !t || reused;
                if (!t) {
                        if (d->n >= DETECTOR_MAX_THREADS)
                                continue;
                        if (d->n >= d->n_allocated) {
                                /* Not calloc(DETECTOR_MAX_THREADS) up front: that is half a
                                 * megabyte per target, and once glibc has raised its mmap
                                 * threshold it comes from the heap, zeroed, resident. */
                                size_t na = MIN(MAX(d->n_allocated * 2, (size_t) 8), (size_t) DETECTOR_MAX_THREADS);
                                Tracked *nt = reallocarray(d->threads, na, sizeof(Tracked));
                                if (!nt)
                                        return -ENOMEM;
                                d->threads = nt;
                                d->n_allocated = na;
                        }
                        t = &d->threads[d->n++];
                        *t = (Tracked) { .thread_id = st->thread_id, .since = now, .last_wake = now, .last_idle = now };
                        t->signature = st->n_frames && !st->truncated ? detector_signature(snap, st) : 0;
                }
                t->last_seen = now;
                t->native_id = st->native_id;
                const ThreadKernel *k = kernel_find(kernel, n_kernel, st->native_id);
                kernel_update(d, t, now, k);
                if (fresh) {
                        t->since_cpu = t->last_cpu;
                        t->since_cpu_valid = k != NULL;
                }

                /* A torn or empty sample is no evidence either way. */
                if (st->truncated || st->n_frames == 0)
                        continue;
                uint64_t sig = detector_signature(snap, st);
                if (sig != t->signature) {
                        if (t->stuck) {
                                if (n_ev < max)
                                        events[n_ev++] = (DetectorEvent) {
                                                .kind = DETECTOR_RECOVERED, .thread_id = t->thread_id,
                                                .native_id = t->native_id, .reason = t->reason, .since = t->since,
                                                .signature = t->signature, .snap_thread = i,
                                        };
                                t->stuck = false;
                                d->n_stuck--;
                        }
                        t->signature = sig;
                        t->since = now;
                        t->hold_until = 0;
                        t->since_cpu = t->last_cpu;
                        t->since_cpu_valid = k != NULL;
                        continue;
                }
                if (t->stuck || now - t->since < d->opt.stuck_after || now < t->hold_until)
                        continue;

                usec_t quiet = now - MAX(t->last_wake, t->since);
                usec_t busy = now - MAX(t->last_idle, t->since);
                StuckReason reason;
                if (k && quiet >= d->opt.stuck_after)
                        /* No voluntary switch over the span: asleep, or on CPU and never
                         * yielding (a pure-Python loop in a one-thread process, a regex in C with
                         * the GIL). The CPU it used over the span says which. */
                        reason = t->since_cpu_valid &&
                                (double) (k->cpu_ticks - t->since_cpu) / (double) d->opt.clock_ticks >=
                                        DETECTOR_SPIN_SHARE / 2 * ((double) (now - t->since) / USEC_PER_SEC)
                                ? STUCK_SPINNING : STUCK_BLOCKED;
                else if (k && busy >= d->opt.stuck_after)
                        reason = STUCK_SPINNING;
                else
                        continue;
                if (ignored(d, snap, st))
                        continue;
                t->stuck = true;
                t->reason = reason;
                d->n_stuck++;
                if (n_ev < max)
                        events[n_ev++] = (DetectorEvent) {
                                .kind = DETECTOR_HANG, .thread_id = t->thread_id, .native_id = t->native_id,
                                .reason = reason, .since = t->since, .signature = sig, .snap_thread = i,
                        };
        }

        /* Forget threads gone for a while (exited); keep the array dense. */
        for (size_t i = 0; i < d->n;) {
                if (now - d->threads[i].last_seen > FORGET_USEC) {
                        if (d->threads[i].stuck)
                                d->n_stuck--;
                        d->threads[i] = d->threads[--d->n];
                } else
                        i++;
        }
        return (int) n_ev;
}
