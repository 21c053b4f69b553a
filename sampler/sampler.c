/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "memreader.h"
#include "pause.h"
#include "pyoffsets.h"
#include "sampler.h"
#include "walker.h"

/* How long a pause may take to stop every thread. A healthy thread stops in microseconds; one
 * in uninterruptible sleep (D state, e.g. on NFS) may not stop at all, and we would rather
 * fail the dump than freeze the target waiting for it. */
#define PAUSE_TIMEOUT_USEC (1000 * USEC_PER_MSEC)

/* glibc's struct pthread keeps the kernel tid at this offset on x86-64 (after the 704-byte
 * tcbhead_t and a list_t). Used only before 3.8, which do not store native_thread_id, and only
 * after it checks out against /proc/PID/task. */
#define GLIBC_PTHREAD_TID_OFFSET 0x2d0

typedef struct TaskState {
        pid_t tid;
        char state;
        int fd;         /* /proc/PID/task/TID/stat, kept open */
} TaskState;

struct Sampler {
        PyTarget target;
        PyOffsets offsets;     /* the row, possibly refined by _Py_DebugOffsets (3.13+) */
        MemReader *mr;
        Walker *walker;
        uint64_t errors;
        TaskState *tasks;      /* kernel state of each thread, read before a pause */
        size_t n_tasks, a_tasks;
        usec_t tasks_listed;
        int pthread_tid_offset; /* -1 unknown, 0 unusable, else the offset (pre-3.8) */
};

static void tasks_close(Sampler *s);

const PyTarget *sampler_target(const Sampler *s) {
        return &s->target;
}

uint64_t sampler_errors(const Sampler *s) {
        return s->errors + walker_errors(s->walker);
}

uint64_t sampler_read_calls(const Sampler *s) {
        return memreader_calls(s->mr);
}

Sampler *sampler_free(Sampler *s) {
        if (!s)
                return NULL;
        walker_free(s->walker);
        memreader_free(s->mr);
        tasks_close(s);
        free(s->tasks);
        free(s);
        return NULL;
}

static void set_detail(char *detail, size_t len, const char *msg) {
        if (detail && len > 0)
                snprintf(detail, len, "%s", msg);
}

int sampler_attach(pid_t pid, Sampler **ret, char *detail, size_t len) {
        _cleanup_(sampler_freep) Sampler *s = NULL;
        int r;

        s = calloc(1, sizeof(Sampler));
        if (!s)
                return -ENOMEM;
        s->pthread_tid_offset = -1;
        r = pyfind_locate(pid, &s->target, detail, len);
        if (r < 0)
                return r;
        const PyOffsets *row = pyoffsets_lookup(s->target.major, s->target.minor);
        if (!row) {
                if (detail && len)
                        snprintf(detail, len, "Python %s", s->target.version);
                return -EPROTONOSUPPORT;
        }
        s->offsets = *row;
        r = memreader_new_pid(pid, &s->mr);
        if (r < 0)
                return r;
        if (s->offsets.frame_model == IFRAME && s->target.sym[PYSYM_RUNTIME]) {
                /* 3.13+: the interpreter describes its own layout; prefer it over our row. */
                r = pyoffsets_from_debug_offsets(s->mr, s->target.sym[PYSYM_RUNTIME], &s->offsets);
                if (r < 0) {
                        set_detail(detail, len, r == -EBADMSG ? "bad _Py_DebugOffsets cookie or offsets"
                                                              : "cannot read _Py_DebugOffsets");
                        return r;
                }
        }
        if (!s->target.sym[PYSYM_RUNTIME] && !s->target.sym[PYSYM_INTERP_HEAD]) {
                set_detail(detail, len, "neither _PyRuntime nor interp_head found among its symbols");
                return -ENOEXEC;
        }
        r = walker_new(s->mr, &s->offsets, s->target.sym, &s->walker);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

/* The thread list is read again at most this often (or at once when a thread state names a
 * thread we do not know): listing /proc/PID/task costs more than a whole 3.11 sample. */
#define TASKS_RELIST_USEC (200 * USEC_PER_MSEC)

static void tasks_close(Sampler *s) {
        for (size_t i = 0; i < s->n_tasks; i++)
                if (s->tasks[i].fd >= 0)
                        (void) close(s->tasks[i].fd);
        s->n_tasks = 0;
}

static char stat_state(int fd) {
        char buf[512];
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
                return '?';
        buf[n] = 0;
        /* comm may hold spaces and parentheses: the state follows the last ')'. */
        char *p = strrchr(buf, ')');
        return p && p[1] == ' ' && p[2] ? p[2] : '?';
}

/* Lists /proc/PID/task, keeping an open stat file per thread (reused across samples). */
static int tasks_list(Sampler *s) {
        char path[64];
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        size_t n_old = s->n_tasks;
        TaskState *old = NULL;

        snprintf(path, sizeof(path), "/proc/%d/task", (int) s->target.pid);
        d = opendir(path);
        if (!d)
                return errno == ENOENT ? -ESRCH : -errno;
        if (n_old > 0) {
                old = malloc(n_old * sizeof(TaskState));
                if (!old)
                        return -ENOMEM;
                memcpy(old, s->tasks, n_old * sizeof(TaskState));
        }
        s->n_tasks = 0;
        while ((de = readdir(d))) {
                int tid = atoi(de->d_name);
                if (tid <= 0)
                        continue;
                if (s->n_tasks >= s->a_tasks) {
                        size_t na = s->a_tasks ? s->a_tasks * 2 : 64;
                        if (na > WALKER_MAX_THREADS * 2)
                                break;
                        TaskState *t = reallocarray(s->tasks, na, sizeof(TaskState));
                        if (!t)
                                break;
                        s->tasks = t;
                        s->a_tasks = na;
                }
                int fd = -EBADF;
                for (size_t i = 0; i < n_old; i++)
                        if (old[i].tid == tid) {
                                fd = old[i].fd;
                                old[i].fd = -EBADF;
                                break;
                        }
                if (fd < 0) {
                        snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int) s->target.pid, tid);
                        fd = open(path, O_RDONLY | O_CLOEXEC);
                }
                s->tasks[s->n_tasks++] = (TaskState) { .tid = tid, .state = '?', .fd = fd };
        }
        for (size_t i = 0; i < n_old; i++)
                if (old[i].fd >= 0)
                        (void) close(old[i].fd);
        free(old);
        s->tasks_listed = now_usec();
        return 0;
}

/* Each thread's state letter (field 3 of stat). */
static int tasks_read(Sampler *s) {
        if (s->n_tasks == 0 || now_usec() - s->tasks_listed >= TASKS_RELIST_USEC) {
                int r = tasks_list(s);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < s->n_tasks; i++)
                s->tasks[i].state = s->tasks[i].fd >= 0 ? stat_state(s->tasks[i].fd) : '?';
        return 0;
}

/* While paused: a thread stopped inside a system call was asleep in the kernel (or about to
 * be), even if the state letter read just before the pause said 'R' because it was still
 * waking from an earlier interruption. /proc/PID/task/TID/syscall shows the number of the
 * call a stopped thread is in, or -1 in user mode. */
static void tasks_mark_in_syscall(Sampler *s) {
        for (size_t i = 0; i < s->n_tasks; i++) {
                char path[64], buf[64];
                if (s->tasks[i].state != 'R')
                        continue;
                snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int) s->target.pid, (int) s->tasks[i].tid);
                _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                ssize_t n = read(fd, buf, sizeof(buf) - 1);
                if (n <= 0)
                        continue;
                buf[n] = 0;
                if (buf[0] >= '0' && buf[0] <= '9')
                        s->tasks[i].state = 'S';
        }
}

static const TaskState *task_find(const Sampler *s, pid_t tid) {
        for (size_t i = 0; i < s->n_tasks; i++)
                if (s->tasks[i].tid == tid)
                        return &s->tasks[i];
        return NULL;
}

/* Before 3.8 a thread state has no native id: read it from glibc's struct pthread, whose
 * address is the thread_id (pthread_self()). The offset is trusted only once every thread's
 * value is found among the process's tasks. */
static bool native_ids_try(Sampler *s, Snapshot *snap) {
        for (size_t i = 0; i < snap->n_threads; i++) {
                int32_t tid = 0;
                if (memreader_read(s->mr, snap->threads[i].thread_id + GLIBC_PTHREAD_TID_OFFSET, &tid, sizeof(tid)) < 0 ||
                    !task_find(s, tid))
                        return false;
                snap->threads[i].native_id = tid;
        }
        return snap->n_threads > 0;
}

static void native_ids_from_pthread(Sampler *s, Snapshot *snap) {
        if (s->pthread_tid_offset == 0)
                return;
        /* A miss may be a thread born since the list was read: read it again, once. */
        if (native_ids_try(s, snap) || (tasks_list(s) >= 0 && native_ids_try(s, snap))) {
                s->pthread_tid_offset = GLIBC_PTHREAD_TID_OFFSET;
                return;
        }
        for (size_t i = 0; i < snap->n_threads; i++)
                snap->threads[i].native_id = 0;
        if (s->pthread_tid_offset < 0 && snap->n_threads > 0)
                s->pthread_tid_offset = 0;   /* not glibc as we know it: give up for good */
}

int sampler_sample(Sampler *s, unsigned flags, Snapshot *snap) {
        _cleanup_(pause_resume) Pause p = PAUSE_NULL;
        unsigned wflags = 0;
        int r;

        snapshot_reset(snap);
        if (flags & SAMPLE_LOCALS)
                wflags |= WALK_LOCALS;
        if (flags & SAMPLE_NAMES)
                wflags |= WALK_NAMES;
        if (flags & SAMPLE_NO_GIL)
                wflags |= WALK_NO_GIL;

        bool need_tasks = (flags & SAMPLE_IDLE) || s->offsets.tstate.native_thread_id == OFF_NONE;
        if (need_tasks) {
                /* Before the pause: a paused thread shows 't', not what it was doing. */
                r = tasks_read(s);
                if (r < 0)
                        return r;
        }
        if (flags & SAMPLE_PAUSE) {
                r = pause_target(s->target.pid, PAUSE_TIMEOUT_USEC, &p);
                if (r < 0)
                        return r;
        }
        if ((flags & SAMPLE_IDLE) && (flags & SAMPLE_PAUSE))
                tasks_mark_in_syscall(s);
        r = walker_sample(s->walker, wflags, snap);
        pause_resume(&p);
        if (r < 0) {
                /* A read that fails because the process is gone says so. */
                if (r != -ESRCH && kill(s->target.pid, 0) < 0 && errno == ESRCH)
                        return -ESRCH;
                return r;
        }
        if (s->offsets.tstate.native_thread_id == OFF_NONE)
                native_ids_from_pthread(s, snap);
        if (flags & SAMPLE_IDLE)
                for (size_t i = 0; i < snap->n_threads; i++) {
                        StackThread *t = &snap->threads[i];
                        const TaskState *ts = t->native_id ? task_find(s, t->native_id) : NULL;
                        /* Idle = asleep in the kernel (S, D, ...): only 'R' runs code. */
                        t->idle = ts && ts->state != 'R';
                        if (t->native_id && !ts)
                                s->tasks_listed = 0;   /* a new thread: list again next time */
                }
        return 0;
}

static bool have_cap_sys_ptrace(void) {
        char line[256];
        unsigned long long eff = 0;
        _cleanup_fclose_ FILE *f = fopen("/proc/self/status", "re");
        while (f && fgets(line, sizeof(line), f))
                if (sscanf(line, "CapEff: %llx", &eff) == 1)
                        break;
        return eff & (1ULL << CAP_SYS_PTRACE);
}

char sampler_proc_state(pid_t pid, pid_t *ret_ppid) {
        char path[64], buf[1024];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return 0;
        buf[n] = 0;
        /* comm may hold spaces and parentheses: the fields follow the last ')'. */
        const char *p = strrchr(buf, ')');
        char state;
        int ppid;
        if (!p || sscanf(p + 1, " %c %d", &state, &ppid) != 2)
                return 0;
        if (ret_ppid)
                *ret_ppid = (pid_t) ppid;
        return state;
}

const char *sampler_strerror(int r, pid_t pid, const char *detail, char *buf, size_t len) {
        bool d = detail && *detail;

        switch (r) {
        case -ESRCH: {
                pid_t ppid = 0;
                if (sampler_proc_state(pid, &ppid) == 'Z') {
                        snprintf(buf, len, "process %d is a zombie (it exited; its parent %d has not reaped it): there is nothing to read; fix the parent to wait() for its children, or pick another process",
                                 (int) pid, (int) ppid);
                        break;
                }
                if (d)
                        snprintf(buf, len, "process %d cannot be read (%s): check the pid", (int) pid, detail);
                else
                        snprintf(buf, len, "no such process %d: check the pid (it may have exited)", (int) pid);
                break;
        }
        case -EPERM:
        case -EACCES: {
                /* Which of the three it is: the fix differs. */
                char path[64], owner[32] = "";
                struct stat st;
                snprintf(path, sizeof(path), "/proc/%d", (int) pid);
                if (stat(path, &st) >= 0)
                        snprintf(owner, sizeof(owner), " (uid %u)", (unsigned) st.st_uid);
                if (have_cap_sys_ptrace())
                        snprintf(buf, len, "permission denied reading process %d%s although pyspy-watch has CAP_SYS_PTRACE: a security module (Yama's kernel.yama.ptrace_scope = 3, SELinux, AppArmor) refuses it; allow ptrace there",
                                 (int) pid, owner);
                else if (geteuid() == 0)
                        snprintf(buf, len, "permission denied reading process %d%s: pyspy-watch runs as root but without CAP_SYS_PTRACE; keep CAP_SYS_PTRACE in its capabilities (a unit's CapabilityBoundingSet=, setpriv, capsh)",
                                 (int) pid, owner);
                else
                        snprintf(buf, len, "permission denied reading process %d%s: pyspy-watch runs as uid %u without CAP_SYS_PTRACE; run it as root, or read only processes of its own user",
                                 (int) pid, owner, (unsigned) geteuid());
                break;
        }
        case -ENOEXEC:
                snprintf(buf, len, "process %d is not a Python process (%s): pass the pid of a CPython 2.7 or 3.6-3.13 interpreter",
                         (int) pid, d ? detail : "no interpreter found");
                break;
        case -EPROTONOSUPPORT:
                snprintf(buf, len, "unsupported %s in process %d: pyspy-watch reads CPython 2.7 and 3.6-3.13",
                         d ? detail : "Python version", (int) pid);
                break;
        case -EBADMSG:
                snprintf(buf, len, "could not make sense of process %d's interpreter state%s%s%s: it may be starting, exiting or corrupted; try again",
                         (int) pid, d ? " (" : "", d ? detail : "", d ? ")" : "");
                break;
        case -ETIMEDOUT:
                snprintf(buf, len, "process %d did not stop for the pause in time: try again, or use --nonblocking", (int) pid);
                break;
        case -EBUSY:
                snprintf(buf, len, "process %d is already being traced (a debugger?): detach it, or use --nonblocking", (int) pid);
                break;
        case -EFAULT:
                snprintf(buf, len, "process %d's memory changed or vanished while reading it: try again", (int) pid);
                break;
        default:
                snprintf(buf, len, "reading process %d failed: %s", (int) pid, strerror(-r));
        }
        return buf;
}
