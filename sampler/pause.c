/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>

#include "macro.h"
#include "pause.h"

/* Threads created while we were seizing the others show up in the next listing; each pass
 * catches the threads born before their creator stopped. A process still spawning threads
 * after this many passes is not one we can freeze in an instant. */
#define PAUSE_MAX_PASSES 5

/* Polling for stops: the first sleep is short (a sleeping thread stops within microseconds
 * of the interrupt), then it grows so that a slow thread does not make us spin. */
#define POLL_FIRST_USEC 20
#define POLL_MAX_USEC 100

/* Threads we gave up on before they stopped (see pause.h). A fixed table: beyond it, the
 * kernel releases them when we exit. */
#define PAUSE_MAX_STRAGGLERS 256

/* In signals[]: this thread has not stopped yet. */
#define SIG_RUNNING (-1)

typedef struct Straggler {
        pid_t tid, tracer;
} Straggler;

static pthread_mutex_t stragglers_lock = PTHREAD_MUTEX_INITIALIZER;
static Straggler stragglers[PAUSE_MAX_STRAGGLERS];
static size_t n_stragglers;

/* The signal to hand back to a thread that reported status, or SIG_RUNNING if it is no
 * ptrace-stop. With PTRACE_SEIZE, an interrupt or group stop is PTRACE_EVENT_STOP (nothing to
 * give back; a group stop survives the detach by itself); a plain stop is a signal-delivery-
 * stop whose signal we re-inject. */
static int stop_signal(int status) {
        if (!WIFSTOPPED(status))
                return SIG_RUNNING;
        if ((status >> 16) == PTRACE_EVENT_STOP)
                return 0;
        if ((status >> 16) != 0)
                return 0;
        return WSTOPSIG(status);
}

/* Outcome of a non-blocking wait on one tracee. */
typedef enum WaitResult {
        WAIT_RUNNING,
        WAIT_STOPPED,
        WAIT_GONE,
} WaitResult;

static WaitResult poll_one(pid_t tid, int *ret_sig) {
        int status = 0;
        pid_t r;

        r = waitpid(tid, &status, __WALL | WNOHANG);
        if (r == 0 || (r < 0 && errno == EINTR))
                return WAIT_RUNNING;
        /* ECHILD: it is not our tracee any more (it exited and was reaped). */
        if (r < 0)
                return WAIT_GONE;
        if (WIFEXITED(status) || WIFSIGNALED(status))
                return WAIT_GONE;
        *ret_sig = stop_signal(status);
        return *ret_sig == SIG_RUNNING ? WAIT_RUNNING : WAIT_STOPPED;
}

static void remember_straggler(pid_t tid) {
        pthread_mutex_lock(&stragglers_lock);
        if (n_stragglers < PAUSE_MAX_STRAGGLERS)
                stragglers[n_stragglers++] = (Straggler) { .tid = tid, .tracer = gettid() };
        pthread_mutex_unlock(&stragglers_lock);
}

/* Detaches tid, stopped with sig. A thread that is not (or no longer) stopped cannot be
 * detached: reap it if it died, else keep it for later. */
static void release_one(pid_t tid, int sig) {
        if (sig >= 0 && ptrace(PTRACE_DETACH, tid, NULL, (void *) (long) sig) >= 0)
                return;

        switch (poll_one(tid, &sig)) {
        case WAIT_STOPPED:
                (void) ptrace(PTRACE_DETACH, tid, NULL, (void *) (long) sig);
                return;
        case WAIT_GONE:
                return;
        case WAIT_RUNNING:
                remember_straggler(tid);
                return;
        }
}

/* Releases those stragglers of ours that have stopped or died since. */
static void reap_stragglers(void) {
        pid_t self = gettid();

        pthread_mutex_lock(&stragglers_lock);
        for (size_t i = 0; i < n_stragglers;) {
                int sig = 0;

                if (stragglers[i].tracer != self) {
                        i++;
                        continue;
                }
                WaitResult w = poll_one(stragglers[i].tid, &sig);
                if (w == WAIT_RUNNING) {
                        i++;
                        continue;
                }
                if (w == WAIT_STOPPED)
                        (void) ptrace(PTRACE_DETACH, stragglers[i].tid, NULL, (void *) (long) sig);
                stragglers[i] = stragglers[--n_stragglers];
        }
        pthread_mutex_unlock(&stragglers_lock);
}

void pause_resume(Pause *p) {
        if (!p)
                return;
        for (size_t i = 0; i < p->n_tids; i++)
                release_one(p->tids[i], p->signals ? p->signals[i] : 0);
        free(p->tids);
        free(p->signals);
        *p = PAUSE_NULL;
        reap_stragglers();
}

static int task_file(pid_t pid, pid_t tid, const char *name, char *buf, size_t len) {
        _cleanup_close_ int fd = -EBADF;
        char fn[96];
        ssize_t n;

        snprintf(fn, sizeof(fn), "/proc/%d/task/%d/%s", (int) pid, (int) tid, name);
        fd = open(fn, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, len - 1);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        return 0;
}

/* Why did PTRACE_SEIZE of tid say EPERM? The thread may have exited (a zombie cannot be
 * seized), someone else may trace it, or we are simply not allowed. */
static int seize_eperm_cause(pid_t pid, pid_t tid) {
        char buf[4096];
        const char *s;

        if (task_file(pid, tid, "stat", buf, sizeof(buf)) < 0)
                return -ESRCH;
        s = strrchr(buf, ')');
        if (s && s[1] == ' ' && (s[2] == 'Z' || s[2] == 'X'))
                return -ESRCH;

        if (task_file(pid, tid, "status", buf, sizeof(buf)) >= 0) {
                s = strstr(buf, "\nTracerPid:");
                if (s && strtol(s + strlen("\nTracerPid:"), NULL, 10) > 0)
                        return -EBUSY;
        }
        return -EPERM;
}

static int add_tid(Pause *p, pid_t tid) {
        if (p->n_tids >= p->n_alloc) {
                size_t k = p->n_alloc ? p->n_alloc * 2 : 64;
                pid_t *t = reallocarray(p->tids, k, sizeof(*t));
                if (!t)
                        return -ENOMEM;
                p->tids = t;
                int *s = reallocarray(p->signals, k, sizeof(*s));
                if (!s)
                        return -ENOMEM;
                p->signals = s;
                p->n_alloc = k;
        }
        p->tids[p->n_tids] = tid;
        p->signals[p->n_tids] = SIG_RUNNING;
        p->n_tids++;
        return 0;
}

/* Already seized? readdir returns tids in the same order each pass, so the next slot after
 * the previous hit is checked first: a pass is linear, not quadratic, in the thread count. */
static bool have_tid(const Pause *p, pid_t tid, size_t *hint) {
        if (*hint < p->n_tids && p->tids[*hint] == tid) {
                (*hint)++;
                return true;
        }
        for (size_t i = 0; i < p->n_tids; i++)
                if (p->tids[i] == tid) {
                        *hint = i + 1;
                        return true;
                }
        return false;
}

/* Seizes and interrupts every listed thread not seized yet. *ret_new counts them. */
static int seize_pass(Pause *p, size_t *ret_new) {
        _cleanup_(closedirp) DIR *d = NULL;
        char fn[64];
        size_t hint = 0, n_new = 0;
        struct dirent *de;
        int r;

        snprintf(fn, sizeof(fn), "/proc/%d/task", (int) p->pid);
        d = opendir(fn);
        if (!d)
                return errno == ENOENT ? -ESRCH : -errno;

        while ((errno = 0, de = readdir(d))) {
                char *end;
                long v = strtol(de->d_name, &end, 10);

                if (de->d_name[0] < '1' || de->d_name[0] > '9' || *end || v <= 0 || v > INT32_MAX)
                        continue;
                pid_t tid = (pid_t) v;
                if (have_tid(p, tid, &hint))
                        continue;
                if (p->n_tids >= PAUSE_MAX_THREADS)
                        return -E2BIG;

                if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) < 0) {
                        /* A thread that exited since the listing is simply not there. */
                        if (errno == ESRCH)
                                continue;
                        if (errno != EPERM)
                                return -errno;
                        r = seize_eperm_cause(p->pid, tid);
                        if (r == -ESRCH)
                                continue;
                        return r;
                }
                r = add_tid(p, tid);
                if (r < 0) {
                        /* Not stopped yet, so not detachable: leave it to release_one(). */
                        remember_straggler(tid);
                        return r;
                }
                /* ESRCH: it died after the seize; the wait will see it go. */
                if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0 && errno != ESRCH)
                        return -errno;
                n_new++;
        }
        if (errno != 0)
                return errno == ENOENT ? -ESRCH : -errno;

        *ret_new = n_new;
        return 0;
}

static void sleep_usec(usec_t u) {
        struct timespec ts = { .tv_sec = 0, .tv_nsec = (long) (u * 1000) };
        (void) nanosleep(&ts, NULL);
}

/* Waits until every seized thread stopped (or vanished), polling, until deadline. */
static int wait_stopped(Pause *p, usec_t deadline) {
        usec_t poll = POLL_FIRST_USEC;

        for (;;) {
                bool all = true;
                size_t j = 0;

                for (size_t i = 0; i < p->n_tids; i++) {
                        WaitResult w = WAIT_STOPPED;
                        int sig = p->signals[i];

                        if (sig == SIG_RUNNING)
                                w = poll_one(p->tids[i], &sig);
                        if (w == WAIT_GONE)
                                continue; /* exited and reaped: nothing left to detach */
                        if (w == WAIT_RUNNING)
                                all = false;
                        p->tids[j] = p->tids[i];
                        p->signals[j] = sig;
                        j++;
                }
                p->n_tids = j;

                if (all)
                        return 0;
                if (now_usec() >= deadline)
                        return -ETIMEDOUT;
                sleep_usec(poll);
                poll = MIN(poll * 2, (usec_t) POLL_MAX_USEC);
        }
}

int pause_target(pid_t pid, usec_t timeout_usec, Pause *ret) {
        _cleanup_(pause_resume) Pause p = PAUSE_NULL;
        usec_t deadline = now_usec() + timeout_usec;
        int r;

        if (!ret)
                return -EINVAL;
        if (pid <= 0)
                return -ESRCH;

        reap_stragglers();
        p.pid = pid;

        for (size_t pass = 0;; pass++) {
                size_t n_new = 0;

                r = seize_pass(&p, &n_new);
                if (r < 0) {
                        /* The threads seized in this pass were interrupted but may not have
                         * stopped yet, and only a stopped tracee can be detached: let them
                         * stop (within the deadline) so that the cleanup frees them now
                         * rather than leaving them frozen as stragglers. */
                        (void) wait_stopped(&p, deadline);
                        return r;
                }
                r = wait_stopped(&p, deadline);
                if (r < 0)
                        return r;
                /* Every known thread is stopped and this listing showed no new one: no thread
                 * is left that could create another. */
                if (n_new == 0 && pass > 0)
                        break;
                if (pass + 1 >= PAUSE_MAX_PASSES)
                        return -ETIMEDOUT;
        }

        /* All threads exited under us (or it was a zombie with nothing left to stop). */
        if (p.n_tids == 0)
                return -ESRCH;

        *ret = p;
        p = PAUSE_NULL;
        return 0;
}
