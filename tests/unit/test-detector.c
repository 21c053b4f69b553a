/* SPDX-License-Identifier: MIT */
/* The stuck-stack detector on made-up sample sequences: the hang shapes it must catch
 * (blocked, spinning, a thread that woke early and then hung) and the healthy ones it must
 * leave alone (moving stacks, a periodic sleeper, ignored idle places, other threads under
 * threads=main, missing kernel data, torn samples). */
#include <regex.h>
#include <string.h>

#include "detector.h"
#include "macro.h"
#include "tests.h"

#define RATE 5
#define STEP (USEC_PER_SEC / RATE)
#define STUCK (3 * USEC_PER_SEC)

typedef struct Frame {
        const char *function, *file;
        int line;
} Frame;

static void add_thread(Snapshot *s, uint64_t id, pid_t tid, const Frame *frames, size_t n, bool truncated) {
        StackThread *t = snapshot_add_thread(s);
        ASSERT_TRUE(t);
        t->thread_id = id;
        t->native_id = tid;
        t->truncated = truncated;
        t->first_frame = s->n_frames;
        t->n_frames = n;
        for (size_t i = 0; i < n; i++) {
                StackFrame *f = snapshot_add_frame(s);
                ASSERT_TRUE(f);
                f->function = frames[i].function;
                f->filename = frames[i].file;
                f->line = frames[i].line;
        }
}

typedef struct Sim {
        Detector *d;
        usec_t now;
        Snapshot snap;
        DetectorEvent ev[8];
        int n_hang, n_recovered;
        DetectorEvent last;
} Sim;

static void sim_init(Sim *sim, bool main_only, const regex_t *ignore) {
        DetectorOptions o = { .stuck_after = STUCK, .main_only = main_only, .pid = 100, .ignore = ignore,
                              .clock_ticks = 100 };
        memset(sim, 0, sizeof(*sim));
        ASSERT_OK(detector_new(&o, &sim->d));
        sim->now = 1000 * USEC_PER_SEC;
}

static void sim_done(Sim *sim) {
        detector_free(sim->d);
        snapshot_done(&sim->snap);
}

/* One sample: thread 1 (native id k->tid) with frames, kernel counters k. */
static void sim_feed(Sim *sim, const Frame *f, size_t n, const ThreadKernel *k, bool torn) {
        snapshot_reset(&sim->snap);
        add_thread(&sim->snap, 1, k->tid, f, n, torn);
        int r = detector_feed(sim->d, sim->now, &sim->snap, k, 1, sim->ev, ELEMENTSOF(sim->ev));
        ASSERT_OK(r);
        for (int i = 0; i < r; i++) {
                if (sim->ev[i].kind == DETECTOR_HANG)
                        sim->n_hang++;
                else
                        sim->n_recovered++;
                sim->last = sim->ev[i];
        }
        sim->now += STEP;
}

/* One sample: thread 1 (tid 100) with frames, kernel counters as given. */
static void sim_step(Sim *sim, const Frame *f, size_t n, uint64_t vol, uint64_t cpu, bool kvalid, bool torn) {
        ThreadKernel k = { .tid = 100, .voluntary_switches = vol, .cpu_ticks = cpu, .valid = kvalid };
        sim_feed(sim, f, n, &k, torn);
}

static const Frame blocked_stack[] = { { "recv", "/usr/lib/python3.11/socket.py", 700 },
                                       { "handle", "/srv/app.py", 40 }, { "main", "/srv/app.py", 12 } };

static void test_blocked(void) {
        Sim sim;
        sim_init(&sim, false, NULL);
        usec_t start = sim.now;
        /* Same stack, no voluntary switch, no CPU: hang right after 3 s, once. */
        for (int i = 0; i < 5 * RATE; i++)
                sim_step(&sim, blocked_stack, 3, 42, 7, true, false);
        ASSERT_EQ(sim.n_hang, 1);
        ASSERT_EQ(sim.last.reason, STUCK_BLOCKED);
        ASSERT_EQ(sim.last.since, start);
        ASSERT_EQ(detector_n_stuck(sim.d), 1);
        /* It moves: recovered. */
        Frame moved[] = { { "handle", "/srv/app.py", 41 }, { "main", "/srv/app.py", 12 } };
        sim_step(&sim, moved, 2, 43, 8, true, false);
        ASSERT_EQ(sim.n_recovered, 1);
        ASSERT_EQ(detector_n_stuck(sim.d), 0);
        sim_done(&sim);
}

static void test_rebase(void) {
        /* Our own pause bumps the switch counter: after detector_rebase() that is no wake-up. */
        Sim sim;
        sim_init(&sim, false, NULL);
        for (int i = 0; i < 2 * RATE; i++)
                sim_step(&sim, blocked_stack, 3, 42, 7, true, false);
        detector_rebase(sim.d);
        sim_step(&sim, blocked_stack, 3, 44, 7, true, false);
        for (int i = 0; i < RATE; i++)
                sim_step(&sim, blocked_stack, 3, 44, 7, true, false);
        ASSERT_EQ(sim.n_hang, 1);
        /* Without the rebase the same bump is a wake-up. */
        sim_done(&sim);
        sim_init(&sim, false, NULL);
        for (int i = 0; i < 2 * RATE; i++)
                sim_step(&sim, blocked_stack, 3, 42, 7, true, false);
        sim_step(&sim, blocked_stack, 3, 44, 7, true, false);
        for (int i = 0; i < RATE; i++)
                sim_step(&sim, blocked_stack, 3, 44, 7, true, false);
        ASSERT_EQ(sim.n_hang, 0);
        sim_done(&sim);
}

static void test_hang_time(void) {
        /* Not before stuck_after. */
        Sim sim;
        sim_init(&sim, false, NULL);
        for (int i = 0; i < 3 * RATE; i++)
                sim_step(&sim, blocked_stack, 3, 42, 7, true, false);
        ASSERT_EQ(sim.n_hang, 0);
        sim_step(&sim, blocked_stack, 3, 42, 7, true, false);
        ASSERT_EQ(sim.n_hang, 1);
        sim_done(&sim);
}

static void test_spinning(void) {
        Sim sim;
        sim_init(&sim, false, NULL);
        /* The innermost line moves inside its function; CPU at 100%; a GIL hand-off now and
         * then (voluntary switches): spinning. */
        for (int i = 0; i < 6 * RATE; i++) {
                Frame f[] = { { "spin", "/srv/app.py", 20 + i % 3 }, { "main", "/srv/app.py", 12 } };
                sim_step(&sim, f, 2, (uint64_t) i / 4, 100 + (uint64_t) i * 100 / RATE, true, false);
        }
        ASSERT_EQ(sim.n_hang, 1);
        ASSERT_EQ(sim.last.reason, STUCK_SPINNING);
        sim_done(&sim);
}

static void test_spinning_alone(void) {
        Sim sim;
        sim_init(&sim, false, NULL);
        /* Alone in its process, a spinning thread never switches voluntarily: still
         * "spinning", by the CPU it used, not "blocked". */
        for (int i = 0; i < 4 * RATE; i++) {
                Frame f[] = { { "spin", "/srv/app.py", 20 + i % 3 }, { "main", "/srv/app.py", 12 } };
                sim_step(&sim, f, 2, 1, 100 + (uint64_t) i * 100 / RATE, true, false);
        }
        ASSERT_EQ(sim.n_hang, 1);
        ASSERT_EQ(sim.last.reason, STUCK_SPINNING);
        sim_done(&sim);
}

static void test_periodic_sleeper(void) {
        Sim sim;
        sim_init(&sim, false, NULL);
        /* time.sleep(1) in a loop: the same stack, but it wakes every second and uses little
         * CPU: healthy. */
        Frame f[] = { { "tick", "/srv/app.py", 30 }, { "main", "/srv/app.py", 12 } };
        for (int i = 0; i < 20 * RATE; i++)
                sim_step(&sim, f, 2, (uint64_t) i / RATE, 5 + (uint64_t) i / RATE, true, false);
        ASSERT_EQ(sim.n_hang, 0);
        sim_done(&sim);
}

static void test_woke_then_hung(void) {
        Sim sim;
        sim_init(&sim, false, NULL);
        /* Wakes during its first 2 s in this stack, then never again: stuck 3 s after the last
         * wake-up, not 3 s after the stack stopped. */
        for (int i = 0; i < 2 * RATE; i++)
                sim_step(&sim, blocked_stack, 3, (uint64_t) i, 1, true, false);
        for (int i = 0; i < 3 * RATE - 1; i++)
                sim_step(&sim, blocked_stack, 3, 2 * RATE - 1, 1, true, false);
        ASSERT_EQ(sim.n_hang, 0);
        for (int i = 0; i < 2; i++)
                sim_step(&sim, blocked_stack, 3, 2 * RATE - 1, 1, true, false);
        ASSERT_EQ(sim.n_hang, 1);
        sim_done(&sim);
}

static void test_moving(void) {
        Sim sim;
        sim_init(&sim, false, NULL);
        /* A long computation moving through functions: never stuck, even without switches. */
        const char *fn[] = { "parse", "transform", "emit", "validate" };
        for (int i = 0; i < 20 * RATE; i++) {
                Frame f[] = { { fn[i % 4], "/srv/job.py", 10 * (i % 4) }, { "main", "/srv/job.py", 5 } };
                sim_step(&sim, f, 2, 3, (uint64_t) i * 20, true, false);
        }
        ASSERT_EQ(sim.n_hang, 0);
        sim_done(&sim);
}

static void test_ignore(void) {
        regex_t re;
        ASSERT_EQ(regcomp(&re, "^(accept|select|poll) ", REG_EXTENDED | REG_NOSUB), 0);
        Sim sim;
        sim_init(&sim, false, &re);
        Frame f[] = { { "accept", "/usr/lib/python3.11/socket.py", 293 }, { "serve", "/srv/app.py", 9 } };
        for (int i = 0; i < 10 * RATE; i++)
                sim_step(&sim, f, 2, 1, 1, true, false);
        ASSERT_EQ(sim.n_hang, 0);
        /* The same regex does not hide a hang elsewhere. */
        for (int i = 0; i < 10 * RATE; i++)
                sim_step(&sim, blocked_stack, 3, 1, 1, true, false);
        ASSERT_EQ(sim.n_hang, 1);
        sim_done(&sim);
        regfree(&re);
}

static void test_no_kernel_data_and_torn(void) {
        Sim sim;
        sim_init(&sim, false, NULL);
        /* Without kernel data a thread is never called stuck. */
        for (int i = 0; i < 10 * RATE; i++)
                sim_step(&sim, blocked_stack, 3, 0, 0, false, false);
        ASSERT_EQ(sim.n_hang, 0);
        sim_done(&sim);

        /* Torn samples in the span are no evidence of movement. */
        sim_init(&sim, false, NULL);
        Frame junk[] = { { "x", "y", 1 } };
        for (int i = 0; i < 5 * RATE; i++) {
                if (i % 3 == 1)
                        sim_step(&sim, junk, 1, 42, 7, true, true);
                else
                        sim_step(&sim, blocked_stack, 3, 42, 7, true, false);
        }
        ASSERT_EQ(sim.n_hang, 1);
        sim_done(&sim);
}

static void test_main_only(void) {
        Sim sim;
        sim_init(&sim, true, NULL);
        ThreadKernel k[2] = { { .tid = 100, .voluntary_switches = 1, .cpu_ticks = 1, .valid = true },
                              { .tid = 101, .voluntary_switches = 1, .cpu_ticks = 1, .valid = true } };
        Frame f0[] = { { "tick", "/srv/app.py", 30 } };
        for (int i = 0; i < 10 * RATE; i++) {
                snapshot_reset(&sim.snap);
                k[0].voluntary_switches = (uint64_t) i;   /* main keeps waking */
                add_thread(&sim.snap, 1, 100, f0, 1, false);
                add_thread(&sim.snap, 2, 101, blocked_stack, 3, false);   /* a stuck worker */
                ASSERT_EQ(detector_feed(sim.d, sim.now, &sim.snap, k, 2, sim.ev, 8), 0);
                sim.now += STEP;
        }
        sim_done(&sim);
}

static void test_signature(void) {
        Snapshot s = SNAPSHOT_NULL;
        Frame a[] = { { "f", "x.py", 1 }, { "g", "x.py", 2 } };
        Frame b[] = { { "f", "x.py", 9 }, { "g", "x.py", 2 } };   /* innermost line differs */
        Frame c[] = { { "f", "x.py", 1 }, { "g", "x.py", 3 } };   /* outer line differs */
        add_thread(&s, 1, 1, a, 2, false);
        add_thread(&s, 2, 2, b, 2, false);
        add_thread(&s, 3, 3, c, 2, false);
        ASSERT_EQ(detector_signature(&s, &s.threads[0]), detector_signature(&s, &s.threads[1]));
        ASSERT_TRUE(detector_signature(&s, &s.threads[0]) != detector_signature(&s, &s.threads[2]));
        ASSERT_STREQ(stuck_reason_to_string(STUCK_BLOCKED), "blocked");
        ASSERT_STREQ(stuck_reason_to_string(STUCK_SPINNING), "spinning");
        snapshot_done(&s);
}

/* A hang whose bundle could not be written is re-armed: reported again, still stuck, once the
 * retry time has come, and not before; a move in between cancels the retry. */
static void test_rearm(void) {
        Sim sim;
        sim_init(&sim, false, NULL);
        for (int i = 0; i < 4 * RATE; i++)
                sim_step(&sim, blocked_stack, 3, 42, 7, true, false);
        ASSERT_EQ(sim.n_hang, 1);
        detector_rearm(sim.d, 1, sim.now + 2 * USEC_PER_SEC);
        ASSERT_EQ(detector_n_stuck(sim.d), 0);
        /* Samples at +0 s, +0.2 s ... +1.8 s: before the retry time. */
        for (int i = 0; i < 2 * RATE; i++)
                sim_step(&sim, blocked_stack, 3, 42, 7, true, false);
        ASSERT_EQ(sim.n_hang, 1);
        sim_step(&sim, blocked_stack, 3, 42, 7, true, false);   /* +2 s */
        ASSERT_EQ(sim.n_hang, 2);
        ASSERT_EQ(sim.n_recovered, 0);

        /* Re-armed, then it moves: no second report until a full stuck_after at the new
         * place. */
        detector_rearm(sim.d, 1, sim.now + USEC_PER_SEC);
        Frame moved[] = { { "handle", "/srv/app.py", 41 }, { "main", "/srv/app.py", 12 } };
        sim_step(&sim, moved, 2, 43, 8, true, false);
        ASSERT_EQ(sim.n_recovered, 0);
        for (int i = 0; i < 3 * RATE - 2; i++)
                sim_step(&sim, moved, 2, 43, 8, true, false);
        ASSERT_EQ(sim.n_hang, 2);
        for (int i = 0; i < 3; i++)
                sim_step(&sim, moved, 2, 43, 8, true, false);
        ASSERT_EQ(sim.n_hang, 3);
        sim_done(&sim);
}

/* glibc gives a finished thread's pthread_t to the next thread: a new native id under a known
 * thread id is a new thread, whose clock starts when it appears. */
static void test_thread_id_reuse(void) {
        Sim sim;
        sim_init(&sim, false, NULL);
        for (int i = 0; i < 2 * RATE; i++)
                sim_step(&sim, blocked_stack, 3, 42, 7, true, false);
        for (int i = 0; i < 2 * RATE; i++) {
                ThreadKernel k = { .tid = 101, .voluntary_switches = 5, .cpu_ticks = 1, .valid = true };
                sim_feed(&sim, blocked_stack, 3, &k, false);
        }
        ASSERT_EQ(sim.n_hang + sim.n_recovered, 0);
        ASSERT_EQ(detector_n_stuck(sim.d), 0);
        sim_done(&sim);
}

/* Counters read less often than samples (the daemon reads them every min(1 s, stuck_after/10)):
 * a thread on the CPU all along, yielding now and then (voluntary switches: a GIL hand-off),
 * must be judged over the time the counters cover, not the sample's. Fed as stale copies with
 * the sample's time, it looked idle whenever a window ended on a stale read. */
static void test_stale_counters(void) {
        Sim sim;
        sim_init(&sim, false, NULL);
        usec_t start = sim.now, read_at = 0;
        uint64_t cpu = 0, vol = 0;
        for (int i = 0; i < 5 * RATE && sim.n_hang == 0; i++) {
                /* A read every 0.4 s (2 samples at this rate): 100% of a CPU, a yield each. */
                if (i % 2 == 0) {
                        read_at = sim.now;
                        cpu = (sim.now - start) * 100 / USEC_PER_SEC;
                        vol++;
                }
                ThreadKernel k = { .tid = 100, .voluntary_switches = vol, .cpu_ticks = cpu, .valid = true,
                                   .at = read_at };
                sim_feed(&sim, blocked_stack, 3, &k, false);
        }
        ASSERT_EQ(sim.n_hang, 1);
        ASSERT_EQ(sim.last.reason, STUCK_SPINNING);
        ASSERT_TRUE(sim.now - start <= STUCK + 2 * USEC_PER_SEC);
        sim_done(&sim);
}

int main(void) {
        test_signature();
        test_blocked();
        test_hang_time();
        test_rebase();
        test_spinning();
        test_spinning_alone();
        test_periodic_sleeper();
        test_woke_then_hung();
        test_moving();
        test_ignore();
        test_no_kernel_data_and_torn();
        test_main_only();
        test_rearm();
        test_thread_id_reuse();
        test_stale_counters();
        printf("test-detector: ok\n");
        return 0;
}
