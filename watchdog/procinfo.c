/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "escape.h"
#include "macro.h"
#include "procinfo.h"

/* /proc/PID/stat is one line of a comm (at most 64 bytes on current kernels) and 52 numbers of at
 * most 20 digits: 2 KiB holds it with room to spare, and the fields we need (up to 22) come
 * early, so a longer file (a future kernel) still parses from its head. */
#define STAT_MAX 2048
/* Lines we look at in status, limits, fdinfo and /proc/net/ are short; a longer line (Groups:,
 * a hostile unix socket path) is skipped whole. The scan buffer must hold one such short line. */
#define LINE_BUF 8192
#define SHORT_LINE_MAX 512
/* status grows with the supplementary groups (NGROUPS_MAX = 65536 of them, ~700 KiB) and the CPU
 * masks; the counters we want are at its end, so allow the worst case. */
#define STATUS_BYTES_MAX (1024 * 1024)
/* fdinfo of an epoll or inotify fd lists one line per watched fd: pos and flags come first. */
#define FDINFO_BYTES_MAX (64 * 1024)
#define LIMITS_BYTES_MAX (16 * 1024)
/* A tcp6 line is ~180 bytes, a unix line at most ~170 plus its path. */
#define NET_BYTES_MAX ((size_t) PROCINFO_NET_LINES_MAX * 256)
/* wchan is one kernel symbol name; syscall is "nr" plus 8 hex numbers. */
#define WCHAN_MAX 128
#define SYSCALL_MAX 256
/* Each thread can contribute a gap (e.g. syscall unreadable without ptrace rights): keep the
 * list readable and count the rest. */
#define GAPS_MAX 64

/* The errno's symbolic name for "gaps" ("EACCES"), which unlike strerror() does not depend on
 * the locale. */
static const char *errno_name(int e) {
        const char *s = strerrorname_np(e);

        return s ?: "EUNKNOWN";
}

static int open_at(int dfd, const char *path) {
        int fd = openat(dfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

        return fd < 0 ? -errno : fd;
}

/* The file from offset 0 into buf (NUL-terminated), at most size - 1 bytes; *ret_len its length.
 * A file that fills buf is truncated silently: callers size buf for what they parse. */
static int pread_all(int fd, char *buf, size_t size, size_t *ret_len) {
        size_t len = 0;

        while (len < size - 1) {
                ssize_t n = pread(fd, buf + len, size - 1 - len, (off_t) len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        buf[len] = 0;
        if (ret_len)
                *ret_len = len;
        return 0;
}

static int read_file_at(int dfd, const char *path, char *buf, size_t size, size_t *ret_len) {
        _cleanup_close_ int fd = open_at(dfd, path);

        if (fd < 0)
                return fd;
        return pread_all(fd, buf, size, ret_len);
}

/* Calls fn(line, len, userdata) for each line of fd from offset 0, newline excluded, reading at
 * most max_bytes. Lines that do not fit in LINE_BUF are skipped. fn returns <0 to fail, >0 to
 * stop early, 0 to go on. Returns 0, fn's error, -E2BIG past max_bytes, or -errno of a read.
 * Reading a seq_file sequentially from 0 returns one consistent snapshot: the kernel generates
 * it on the first read and serves the following ones from the same buffer. */
typedef int (*LineFn)(const char *line, size_t len, void *userdata);

static int fd_for_each_line(int fd, size_t max_bytes, LineFn fn, void *userdata) {
        char buf[LINE_BUF];
        size_t have = 0, total = 0;
        bool skipping = false;
        int r;

        for (;;) {
                if (total >= max_bytes)
                        return -E2BIG;

                ssize_t n = pread(fd, buf + have, MIN(sizeof(buf) - have, max_bytes - total),
                                  (off_t) total);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0) {
                        /* A last line without newline still counts. */
                        if (have > 0 && !skipping) {
                                r = fn(buf, have, userdata);
                                if (r < 0)
                                        return r;
                        }
                        return 0;
                }
                total += (size_t) n;
                have += (size_t) n;

                char *p = buf, *end = buf + have;
                for (;;) {
                        char *nl = memchr(p, '\n', (size_t) (end - p));
                        if (!nl)
                                break;
                        if (!skipping) {
                                r = fn(p, (size_t) (nl - p), userdata);
                                if (r != 0)
                                        return r < 0 ? r : 0;
                        }
                        skipping = false;
                        p = nl + 1;
                }
                have = (size_t) (end - p);
                if (have == sizeof(buf)) {
                        skipping = true;        /* no newline in a full buffer: drop this line */
                        have = 0;
                } else
                        memmove(buf, p, have);
        }
}

static int file_for_each_line(int dfd, const char *path, size_t max_bytes, LineFn fn,
                              void *userdata) {
        _cleanup_close_ int fd = open_at(dfd, path);

        if (fd < 0)
                return fd;
        return fd_for_each_line(fd, max_bytes, fn, userdata);
}

/* ---- stat and status ---- */

typedef struct StatFields {
        const char *comm;       /* points into the parsed buffer */
        size_t comm_len;
        char state;
        uint64_t utime, stime, start_time;
} StatFields;

/* "pid (comm) S ppid ...". comm may hold spaces and ')' itself, so the fields start after the
 * last ')'; they contain no ')' and cannot fake one. */
static int parse_stat(const char *buf, StatFields *ret) {
        const char *open = strchr(buf, '('), *close = strrchr(buf, ')');
        uint64_t v[20] = {};

        if (!open || !close || close < open)
                return -EBADMSG;

        const char *p = close + 1;
        if (*p != ' ' || !p[1] || p[2] != ' ')
                return -EBADMSG;
        char state = p[1];
        p += 2;

        /* Fields 4..22; v[i] is field i + 3. */
        for (size_t i = 1; i < ELEMENTSOF(v); i++) {
                char *e;

                if (*p != ' ')
                        return -EBADMSG;
                p++;
                errno = 0;
                /* strtoull would accept a sign and blanks; stat has plain decimals, and
                 * fields like tty_nr or exit_signal may be negative: read those as 0. */
                if (*p == '-') {
                        (void) strtoll(p, &e, 10);
                        v[i] = 0;
                } else
                        v[i] = strtoull(p, &e, 10);
                if (e == p || errno != 0)
                        return -EBADMSG;
                p = e;
        }

        *ret = (StatFields) {
                .comm = open + 1,
                .comm_len = (size_t) (close - open - 1),
                .state = state,
                .utime = v[14 - 3],
                .stime = v[15 - 3],
                .start_time = v[22 - 3],
        };
        return 0;
}

static int read_stat_fd(int fd, char *buf, size_t size, StatFields *ret) {
        int r = pread_all(fd, buf, size, NULL);
        if (r < 0)
                return r;
        return parse_stat(buf, ret);
}

int procinfo_start_time(pid_t pid, uint64_t *ret) {
        char fn[64], buf[STAT_MAX];
        StatFields st;
        int r;

        if (pid <= 0)
                return -ESRCH;

        snprintf(fn, sizeof(fn), "/proc/%d/stat", (int) pid);
        r = read_file_at(AT_FDCWD, fn, buf, sizeof(buf), NULL);
        if (r == -ENOENT)
                return -ESRCH;
        if (r < 0)
                return r;
        r = parse_stat(buf, &st);
        if (r < 0)
                return r;
        *ret = st.start_time;
        return 0;
}

typedef struct CtxtSwitches {
        uint64_t voluntary, nonvoluntary;
        unsigned found;
} CtxtSwitches;

static bool parse_u64(const char *s, uint64_t *ret) {
        char *e;

        s += strspn(s, " \t");
        if (*s < '0' || *s > '9')
                return false;
        errno = 0;
        uint64_t v = strtoull(s, &e, 10);
        if (errno != 0 || (*e && *e != '\n' && *e != ' '))
                return false;
        *ret = v;
        return true;
}

static bool line_key(const char *line, size_t len, const char *key, char *value, size_t size) {
        size_t k = strlen(key);

        if (len <= k || memcmp(line, key, k) != 0 || line[k] != ':' || len - k - 1 >= size)
                return false;
        memcpy(value, line + k + 1, len - k - 1);
        value[len - k - 1] = 0;
        return true;
}

static int ctxt_line(const char *line, size_t len, void *userdata) {
        CtxtSwitches *c = userdata;
        char v[64];

        if (line_key(line, len, "voluntary_ctxt_switches", v, sizeof(v))) {
                if (!parse_u64(v, &c->voluntary))
                        return -EBADMSG;
                c->found |= 1;
        } else if (line_key(line, len, "nonvoluntary_ctxt_switches", v, sizeof(v))) {
                if (!parse_u64(v, &c->nonvoluntary))
                        return -EBADMSG;
                c->found |= 2;
        }
        return c->found == 3;   /* stop once both are in */
}

static int read_ctxt_switches(int status_fd, CtxtSwitches *ret) {
        CtxtSwitches c = {};
        int r = fd_for_each_line(status_fd, STATUS_BYTES_MAX, ctxt_line, &c);

        if (r < 0)
                return r;
        if (c.found != 3)
                return -EBADMSG;
        *ret = c;
        return 0;
}

struct ProcThreadReader {
        int stat_fd, status_fd;
};

static int thread_read(int stat_fd, int status_fd, ThreadSample *ret) {
        char buf[STAT_MAX];
        StatFields st;
        CtxtSwitches c;
        int r;

        r = read_stat_fd(stat_fd, buf, sizeof(buf), &st);
        if (r < 0)
                return r;
        r = read_ctxt_switches(status_fd, &c);
        if (r < 0)
                return r;

        *ret = (ThreadSample) {
                .state = st.state,
                .utime = st.utime,
                .stime = st.stime,
                .voluntary_ctxt_switches = c.voluntary,
                .nonvoluntary_ctxt_switches = c.nonvoluntary,
        };
        return 0;
}

static int thread_open_file(pid_t pid, pid_t tid, const char *name) {
        char fn[96];

        if (pid <= 0 || tid <= 0)
                return -ESRCH;
        snprintf(fn, sizeof(fn), "/proc/%d/task/%d/%s", (int) pid, (int) tid, name);
        int fd = open_at(AT_FDCWD, fn);
        return fd == -ENOENT ? -ESRCH : fd;
}

int procinfo_thread_sample(pid_t pid, pid_t tid, ThreadSample *ret) {
        _cleanup_close_ int stat_fd = -EBADF, status_fd = -EBADF;

        stat_fd = thread_open_file(pid, tid, "stat");
        if (stat_fd < 0)
                return stat_fd;
        status_fd = thread_open_file(pid, tid, "status");
        if (status_fd < 0)
                return status_fd;
        return thread_read(stat_fd, status_fd, ret);
}

int procinfo_thread_open(pid_t pid, pid_t tid, ProcThreadReader **ret) {
        _cleanup_close_ int stat_fd = -EBADF, status_fd = -EBADF;

        stat_fd = thread_open_file(pid, tid, "stat");
        if (stat_fd < 0)
                return stat_fd;
        status_fd = thread_open_file(pid, tid, "status");
        if (status_fd < 0)
                return status_fd;

        ProcThreadReader *r = malloc(sizeof(*r));
        if (!r)
                return -ENOMEM;
        *r = (ProcThreadReader) { .stat_fd = TAKE_FD(stat_fd), .status_fd = TAKE_FD(status_fd) };
        *ret = r;
        return 0;
}

int procinfo_thread_read(ProcThreadReader *r, ThreadSample *ret) {
        if (!r)
                return -EINVAL;
        return thread_read(r->stat_fd, r->status_fd, ret);
}

ProcThreadReader *procinfo_thread_close(ProcThreadReader *r) {
        if (!r)
                return NULL;
        closep(&r->stat_fd);
        closep(&r->status_fd);
        free(r);
        return NULL;
}

/* ---- capture: the JSON writer ---- */

typedef struct Gap {
        char what[64];
        int error;
} Gap;

typedef struct Capture {
        FILE *f;
        int dfd;                /* /proc/PID: bound to the process, so a reuse cannot mix in */
        Gap gaps[GAPS_MAX];
        size_t n_gaps, n_gaps_dropped;
        bool first;             /* no member written yet in the current object/array */
} Capture;

_printf_(3, 4) static void gap(Capture *c, int error, const char *fmt, ...) {
        va_list ap;

        if (c->n_gaps >= GAPS_MAX) {
                c->n_gaps_dropped++;
                return;
        }
        Gap *g = c->gaps + c->n_gaps++;
        va_start(ap, fmt);
        (void) vsnprintf(g->what, sizeof(g->what), fmt, ap);
        va_end(ap);
        g->error = error < 0 ? -error : error;
}

static void comma(Capture *c) {
        if (!c->first)
                fputc(',', c->f);
        c->first = false;
}

/* ,"key": (key is ours, plain ASCII) */
static void key(Capture *c, const char *k) {
        comma(c);
        fprintf(c->f, "\"%s\":", k);
}

static void trim(const char **s, size_t *len) {
        while (*len > 0 && (**s == ' ' || **s == '\t'))
                (*s)++, (*len)--;
        while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t' ||
                            (*s)[*len - 1] == '\n'))
                (*len)--;
}

static void write_cmdline(Capture *c) {
        _cleanup_free_ char *buf = malloc(PROCINFO_CMDLINE_MAX + 1);
        size_t len;
        int r;

        key(c, "cmdline");
        if (!buf) {
                fputs("null", c->f);
                return gap(c, ENOMEM, "cmdline");
        }
        r = read_file_at(c->dfd, "cmdline", buf, PROCINFO_CMDLINE_MAX + 1, &len);
        if (r < 0) {
                fputs("null", c->f);
                return gap(c, r, "cmdline");
        }

        /* Arguments end in NUL; a process that rewrote its argv may leave out the last one. */
        fputc('[', c->f);
        for (size_t i = 0; i < len;) {
                const char *a = buf + i;
                size_t n = strnlen(a, len - i);

                if (i > 0)
                        fputc(',', c->f);
                (void) json_write_stringn(c->f, a, n);
                i += n + 1;
        }
        fputc(']', c->f);
        if (len == PROCINFO_CMDLINE_MAX) {
                key(c, "cmdline_truncated");
                fputs("true", c->f);
        }
}

static void write_link(Capture *c, const char *name) {
        char buf[PATH_MAX];

        key(c, name);
        ssize_t n = readlinkat(c->dfd, name, buf, sizeof(buf));
        if (n < 0) {
                fputs("null", c->f);
                return gap(c, errno, "%s", name);
        }
        /* A target of sizeof(buf) bytes may have been cut: still worth showing. */
        (void) json_write_stringn(c->f, buf, (size_t) n);
}

/* The status lines worth having in a bundle: identity, credentials, memory, signal masks (a
 * blocked SIGTERM explains a process that ignores kill), and the scheduler counters. */
static const char *const status_keys[] = {
        "Name", "Umask", "State", "Tgid", "Pid", "PPid", "TracerPid", "Uid", "Gid", "FDSize",
        "Threads", "VmPeak", "VmSize", "VmLck", "VmHWM", "VmRSS", "VmData", "VmStk", "VmSwap",
        "SigQ", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt", "CapEff", "NoNewPrivs",
        "Seccomp", "Cpus_allowed_list", "voluntary_ctxt_switches", "nonvoluntary_ctxt_switches",
};

static int status_line(const char *line, size_t len, void *userdata) {
        Capture *c = userdata;
        const char *colon = memchr(line, ':', len);

        if (!colon)
                return 0;
        size_t klen = (size_t) (colon - line);
        for (size_t i = 0; i < ELEMENTSOF(status_keys); i++) {
                if (strlen(status_keys[i]) != klen || memcmp(line, status_keys[i], klen) != 0)
                        continue;

                const char *v = colon + 1;
                size_t vlen = len - klen - 1;
                trim(&v, &vlen);
                vlen = MIN(vlen, (size_t) SHORT_LINE_MAX);
                key(c, status_keys[i]);
                /* Uid:/Gid: are tab-separated lists; spaces read better. Name is escaped by the
                 * kernel already but still the target's choice: it goes through the escaper. */
                char tmp[SHORT_LINE_MAX];
                for (size_t j = 0; j < vlen; j++)
                        tmp[j] = v[j] == '\t' ? ' ' : v[j];
                (void) json_write_stringn(c->f, tmp, vlen);
                break;
        }
        return 0;
}

/* "name": OPEN ...one element per line of /proc/PID/<name>, by line_cb... CLOSE, or a gap. */
static void write_file_section(Capture *c, const char *name, char open, char close, size_t max,
                               LineFn line_cb) {
        key(c, name);
        fputc(open, c->f);
        c->first = true;
        int r = file_for_each_line(c->dfd, name, max, line_cb, c);
        fputc(close, c->f);
        c->first = false;
        if (r < 0)
                gap(c, r, "%s", name);
}

static void write_status(Capture *c) {
        write_file_section(c, "status", '{', '}', STATUS_BYTES_MAX, status_line);
}

static void write_limit_value(FILE *f, const char *s) {
        uint64_t v;

        if (parse_u64(s, &v))
                fprintf(f, "%" PRIu64, v);
        else
                (void) json_write_string(f, s);
}

/* "Max open files            1024                 524288               files     ": the name
 * has spaces and fills a 25-column field, then soft, hard and the optional unit. */
static int limits_line(const char *line, size_t len, void *userdata) {
        Capture *c = userdata;
        char buf[SHORT_LINE_MAX], *save = NULL;
        const size_t name_width = 25;

        if (len <= name_width || len >= sizeof(buf) || memcmp(line, "Limit ", 6) == 0)
                return 0;
        memcpy(buf, line, len);
        buf[len] = 0;

        const char *name = buf;
        size_t nlen = name_width;
        trim(&name, &nlen);
        char *soft = strtok_r(buf + name_width, " \t", &save);
        char *hard = soft ? strtok_r(NULL, " \t", &save) : NULL;
        char *units = hard ? strtok_r(NULL, " \t", &save) : NULL;
        if (!hard || nlen == 0)
                return 0;

        comma(c);
        fputs("{\"name\":", c->f);
        (void) json_write_stringn(c->f, name, nlen);
        fputs(",\"soft\":", c->f);
        write_limit_value(c->f, soft);
        fputs(",\"hard\":", c->f);
        write_limit_value(c->f, hard);
        fputs(",\"units\":", c->f);
        (void) json_write_string(c->f, units);
        fputc('}', c->f);
        return 0;
}

static void write_limits(Capture *c) {
        write_file_section(c, "limits", '[', ']', LIMITS_BYTES_MAX, limits_line);
}

/* ---- threads ---- */

/* Names for the syscalls a hung Python thread usually sits in (I/O, waits, locks, sleeps).
 * The numbers come from <sys/syscall.h> of the build's architecture; the names only on x86-64,
 * where we checked the list. A 32-bit process on a 64-bit kernel reports i386 numbers, which
 * this table would misname: that is rare enough for a hint that also carries the number. */
#if defined(__x86_64__)
static const struct {
        long nr;
        const char *name;
} syscall_names[] = {
        { __NR_read, "read" },            { __NR_write, "write" },
        { __NR_open, "open" },            { __NR_close, "close" },
        { __NR_poll, "poll" },            { __NR_lseek, "lseek" },
        { __NR_mmap, "mmap" },            { __NR_ioctl, "ioctl" },
        { __NR_pread64, "pread64" },      { __NR_pwrite64, "pwrite64" },
        { __NR_readv, "readv" },          { __NR_writev, "writev" },
        { __NR_select, "select" },        { __NR_sched_yield, "sched_yield" },
        { __NR_pause, "pause" },          { __NR_nanosleep, "nanosleep" },
        { __NR_sendfile, "sendfile" },    { __NR_connect, "connect" },
        { __NR_accept, "accept" },        { __NR_sendto, "sendto" },
        { __NR_recvfrom, "recvfrom" },    { __NR_sendmsg, "sendmsg" },
        { __NR_recvmsg, "recvmsg" },      { __NR_wait4, "wait4" },
        { __NR_semop, "semop" },          { __NR_msgrcv, "msgrcv" },
        { __NR_fcntl, "fcntl" },          { __NR_flock, "flock" },
        { __NR_fsync, "fsync" },          { __NR_fdatasync, "fdatasync" },
        { __NR_rt_sigtimedwait, "rt_sigtimedwait" },
        { __NR_rt_sigsuspend, "rt_sigsuspend" },
        { __NR_futex, "futex" },          { __NR_restart_syscall, "restart_syscall" },
        { __NR_clock_nanosleep, "clock_nanosleep" },
        { __NR_epoll_wait, "epoll_wait" }, { __NR_waitid, "waitid" },
        { __NR_openat, "openat" },        { __NR_pselect6, "pselect6" },
        { __NR_ppoll, "ppoll" },          { __NR_splice, "splice" },
        { __NR_epoll_pwait, "epoll_pwait" }, { __NR_accept4, "accept4" },
        { __NR_recvmmsg, "recvmmsg" },    { __NR_sendmmsg, "sendmmsg" },
        { __NR_io_uring_enter, "io_uring_enter" },
        { __NR_epoll_pwait2, "epoll_pwait2" },
};

static const char *syscall_name(long nr) {
        for (size_t i = 0; i < ELEMENTSOF(syscall_names); i++)
                if (syscall_names[i].nr == nr)
                        return syscall_names[i].name;
        return NULL;
}
#else
static const char *syscall_name(long nr) {
        (void) nr;
        return NULL;
}
#endif

/* /proc/PID/task/TID/syscall: "running", or "-1 SP PC" (blocked, not in a syscall), or
 * "NR ARG1..ARG6 SP PC" with the numbers in hex (the number in decimal). */
static void write_syscall(Capture *c, int tdfd, pid_t tid) {
        char buf[SYSCALL_MAX], *save = NULL;
        int r;

        key(c, "syscall");
        r = read_file_at(tdfd, "syscall", buf, sizeof(buf), NULL);
        if (r < 0) {
                fputs("null", c->f);
                return gap(c, r, "threads/%d/syscall", (int) tid);
        }
        buf[strcspn(buf, "\n")] = 0;
        if (streq_ptr(buf, "running")) {
                fputs("\"running\"", c->f);
                return;
        }

        char *tok = strtok_r(buf, " ", &save), *e;
        errno = 0;
        long nr = tok ? strtol(tok, &e, 10) : 0;
        if (!tok || *e || errno != 0) {
                fputs("null", c->f);
                return gap(c, EBADMSG, "threads/%d/syscall", (int) tid);
        }

        /* Then 6 args (for a syscall), sp and pc: hex words as the kernel wrote them. Shown
         * only when all are well-formed, so nothing else of the file reaches the output. */
        size_t n_words = nr >= 0 ? 8 : 2, n = 0;
        char *words[8] = {};
        while (n < n_words && (tok = strtok_r(NULL, " ", &save))) {
                if (strncmp(tok, "0x", 2) != 0 || !tok[2] || strlen(tok) > 18 ||
                    tok[2 + strspn(tok + 2, "0123456789abcdef")] != 0)
                        break;
                words[n++] = tok;
        }
        /* A kernel thread has no user context: the kernel reports "0" and zero sp and pc,
         * which is not a read(). */
        if (n == n_words && streq_ptr(words[n - 2], "0x0") && streq_ptr(words[n - 1], "0x0")) {
                fputs("null", c->f);
                return;
        }

        const char *name = nr >= 0 ? syscall_name(nr) : NULL;
        fprintf(c->f, "{\"nr\":%ld,\"name\":", nr);
        (void) json_write_string(c->f, name);
        if (n == n_words) {
                if (nr >= 0) {
                        fputs(",\"args\":[", c->f);
                        for (size_t i = 0; i < 6; i++)
                                fprintf(c->f, "%s\"%s\"", i ? "," : "", words[i]);
                        fputc(']', c->f);
                }
                fprintf(c->f, ",\"sp\":\"%s\",\"pc\":\"%s\"", words[n - 2], words[n - 1]);
        }
        fputc('}', c->f);
}

static void write_wchan(Capture *c, int tdfd, pid_t tid) {
        char buf[WCHAN_MAX];
        size_t len;
        int r;

        key(c, "wchan");
        r = read_file_at(tdfd, "wchan", buf, sizeof(buf), &len);
        if (r < 0) {
                fputs("null", c->f);
                return gap(c, r, "threads/%d/wchan", (int) tid);
        }
        /* "0": not blocked in the kernel (or hidden: without ptrace rights it reads "0" too). */
        const char *s = buf;
        trim(&s, &len);
        if (len == 0 || (len == 1 && *s == '0'))
                fputs("null", c->f);
        else
                (void) json_write_stringn(c->f, s, len);
}

static int cmp_pid(const void *a, const void *b) {
        pid_t x = *(const pid_t *) a, y = *(const pid_t *) b;

        return (x > y) - (x < y);
}

/* Numeric names of dir (tids, fds), at most max of them, sorted. *ret_more is set when some were
 * left out. */
static int list_numeric(int dfd, const char *dir, size_t max, pid_t **ret, size_t *ret_n,
                        bool *ret_more) {
        _cleanup_free_ pid_t *v = NULL;
        size_t n = 0, n_alloc = 0;
        bool more = false;
        int fd;

        fd = openat(dfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        _cleanup_(closedirp) DIR *d = fdopendir(fd);
        if (!d) {
                int r = -errno;
                (void) close(fd);
                return r;
        }

        for (;;) {
                errno = 0;
                struct dirent *de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                return -errno;
                        break;
                }
                char *e;
                errno = 0;
                long v1 = strtol(de->d_name, &e, 10);
                if (de->d_name[0] < '0' || de->d_name[0] > '9' || *e || errno != 0 ||
                    v1 < 0 || v1 > INT32_MAX)
                        continue;
                if (n >= max) {
                        more = true;
                        break;
                }
                if (n >= n_alloc) {
                        size_t k = n_alloc ? n_alloc * 2 : 64;
                        pid_t *nv = reallocarray(v, k, sizeof(*nv));
                        if (!nv)
                                return -ENOMEM;
                        v = nv;
                        n_alloc = k;
                }
                v[n++] = (pid_t) v1;
        }

        if (n > 0)
                qsort(v, n, sizeof(*v), cmp_pid);
        *ret = TAKE_PTR(v);
        *ret_n = n;
        *ret_more = more;
        return 0;
}

static void write_thread(Capture *c, pid_t tid) {
        char path[32], buf[STAT_MAX];
        StatFields st;
        CtxtSwitches cs;
        int r;

        snprintf(path, sizeof(path), "task/%d", (int) tid);
        _cleanup_close_ int tdfd = openat(c->dfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (tdfd < 0) {
                if (errno != ENOENT && errno != ESRCH)
                        gap(c, errno, "threads/%d", (int) tid);
                return;         /* exited since we listed it: not a gap */
        }
        _cleanup_close_ int stat_fd = open_at(tdfd, "stat");
        r = stat_fd < 0 ? stat_fd : read_stat_fd(stat_fd, buf, sizeof(buf), &st);
        if (r < 0) {
                if (r != -ENOENT && r != -ESRCH)
                        gap(c, r, "threads/%d/stat", (int) tid);
                return;
        }

        comma(c);
        fprintf(c->f, "{\"tid\":%d,\"name\":", (int) tid);
        (void) json_write_stringn(c->f, st.comm, MIN(st.comm_len, (size_t) 64));
        fputs(",\"state\":", c->f);
        (void) json_write_stringn(c->f, &st.state, 1);
        fprintf(c->f, ",\"utime\":%" PRIu64 ",\"stime\":%" PRIu64, st.utime, st.stime);

        _cleanup_close_ int status_fd = open_at(tdfd, "status");
        r = status_fd < 0 ? status_fd : read_ctxt_switches(status_fd, &cs);
        if (r < 0)
                gap(c, r, "threads/%d/status", (int) tid);
        else
                fprintf(c->f,
                        ",\"voluntary_ctxt_switches\":%" PRIu64
                        ",\"nonvoluntary_ctxt_switches\":%" PRIu64,
                        cs.voluntary, cs.nonvoluntary);

        write_wchan(c, tdfd, tid);       /* first is false here: these add a comma */
        write_syscall(c, tdfd, tid);
        fputc('}', c->f);
}

/* Writes "name": and lists the numeric entries of dir for it: on failure writes null, notes
 * the gap and returns < 0; entries past max are left out, and the gap says so. */
static int key_numeric_list(Capture *c, const char *name, const char *dir, size_t max, pid_t **ret,
                            size_t *ret_n) {
        bool more = false;
        int r;

        key(c, name);
        r = list_numeric(c->dfd, dir, max, ret, ret_n, &more);
        if (r < 0) {
                fputs("null", c->f);
                gap(c, r, "%s", name);
                return r;
        }
        if (more)
                gap(c, E2BIG, "%s beyond %zu", name, max);
        return 0;
}

static void write_threads(Capture *c) {
        _cleanup_free_ pid_t *tids = NULL;
        size_t n = 0;

        if (key_numeric_list(c, "threads", "task", PROCINFO_THREADS_MAX, &tids, &n) < 0)
                return;

        fputc('[', c->f);
        c->first = true;
        for (size_t i = 0; i < n; i++)
                write_thread(c, tids[i]);
        fputc(']', c->f);
        c->first = false;
}

/* ---- fds and sockets ---- */

/* Where the peer is: what an incident reader wants first. Unix sockets show their path; their
 * peer is not in /proc/net/unix (only sock_diag netlink has it, and only in our own network
 * namespace), so it stays null. */
typedef struct Socket {
        uint64_t inode;
        const char *proto;      /* static string, NULL until found */
        const char *state;      /* static string or NULL */
        const char *type;       /* unix only */
        char local[128];
        char peer[64];
        bool has_local, has_peer;
} Socket;

typedef struct SocketTable {
        Socket *v;              /* sorted by inode, unique */
        size_t n;
        const char *proto;      /* the file being scanned */
        bool v6;
        size_t lines;
} SocketTable;

static int cmp_socket(const void *a, const void *b) {
        uint64_t x = ((const Socket *) a)->inode, y = ((const Socket *) b)->inode;

        return (x > y) - (x < y);
}

static Socket *socket_find(SocketTable *t, uint64_t inode) {
        Socket key = { .inode = inode };

        return bsearch(&key, t->v, t->n, sizeof(*t->v), cmp_socket);
}

static const char *tcp_state_name(unsigned st) {
        /* include/net/tcp_states.h; UDP reuses ESTABLISHED (connected) and CLOSE. */
        static const char *const names[] = {
                [1] = "ESTABLISHED", [2] = "SYN_SENT",   [3] = "SYN_RECV",   [4] = "FIN_WAIT1",
                [5] = "FIN_WAIT2",   [6] = "TIME_WAIT",  [7] = "CLOSE",      [8] = "CLOSE_WAIT",
                [9] = "LAST_ACK",    [10] = "LISTEN",    [11] = "CLOSING",   [12] = "NEW_SYN_RECV",
        };
        return st < ELEMENTSOF(names) ? names[st] : NULL;
}

static int hexval(char ch) {
        if (ch >= '0' && ch <= '9')
                return ch - '0';
        if (ch >= 'A' && ch <= 'F')
                return ch - 'A' + 10;
        if (ch >= 'a' && ch <= 'f')
                return ch - 'a' + 10;
        return -1;
}

/* "0100007F:1F90" or 32 hex digits then ":PORT". The kernel prints the address as 32-bit words
 * in host byte order ("%08X" of each __be32 read as a number), so reading each word back as a
 * number and storing it natively restores the network-order bytes on any endianness. */
static int format_inet(const char *s, bool v6, char *out, size_t size) {
        size_t words = v6 ? 4 : 1;
        uint32_t addr[4] = {};
        unsigned port = 0;

        for (size_t w = 0; w < words; w++) {
                uint32_t v = 0;
                for (size_t i = 0; i < 8; i++) {
                        int h = hexval(*s++);
                        if (h < 0)
                                return -EBADMSG;
                        v = v << 4 | (uint32_t) h;
                }
                addr[w] = v;
        }
        if (*s++ != ':')
                return -EBADMSG;
        for (size_t i = 0; i < 4; i++) {
                int h = hexval(*s++);
                if (h < 0)
                        return -EBADMSG;
                port = port << 4 | (unsigned) h;
        }
        if (*s)
                return -EBADMSG;

        char a[INET6_ADDRSTRLEN];
        if (!inet_ntop(v6 ? AF_INET6 : AF_INET, addr, a, sizeof(a)))
                return -EBADMSG;
        if (v6)
                snprintf(out, size, "[%s]:%u", a, port);
        else
                snprintf(out, size, "%s:%u", a, port);
        return 0;
}

/* "sl local rem st tx:rx tr:when retrnsmt uid timeout inode ..." */
static int inet_line(const char *line, size_t len, void *userdata) {
        SocketTable *t = userdata;
        char buf[SHORT_LINE_MAX], local[64], rem[64];
        unsigned st;
        uint64_t inode;

        if (++t->lines > PROCINFO_NET_LINES_MAX)
                return -E2BIG;
        if (len >= sizeof(buf))
                return 0;
        memcpy(buf, line, len);
        buf[len] = 0;
        if (sscanf(buf, " %*[0-9]: %63s %63s %x %*s %*s %*s %*u %*u %" SCNu64, local, rem, &st,
                   &inode) != 4)
                return 0;       /* the header, or something we do not understand */

        Socket *s = socket_find(t, inode);
        if (!s || s->proto)
                return 0;       /* not ours, or seen already (first match wins) */
        s->proto = t->proto;
        s->state = tcp_state_name(st);
        s->has_local = format_inet(local, t->v6, s->local, sizeof(s->local)) >= 0;
        s->has_peer = format_inet(rem, t->v6, s->peer, sizeof(s->peer)) >= 0;
        return 0;
}

/* "Num: RefCount Protocol Flags Type St Inode [Path]". The path is raw: a name with a newline
 * can forge a line, but only for an inode of its choosing, and the first match wins. */
static int unix_line(const char *line, size_t len, void *userdata) {
        SocketTable *t = userdata;
        char buf[SHORT_LINE_MAX];
        unsigned flags, type, st;
        uint64_t inode;
        int n = 0;

        if (++t->lines > PROCINFO_NET_LINES_MAX)
                return -E2BIG;
        if (len >= sizeof(buf))
                return 0;
        memcpy(buf, line, len);
        buf[len] = 0;
        if (sscanf(buf, "%*x: %*x %*x %x %x %x %" SCNu64 "%n", &flags, &type, &st, &inode, &n) != 4)
                return 0;

        Socket *s = socket_find(t, inode);
        if (!s || s->proto)
                return 0;
        s->proto = "unix";
        s->type = type == 1 ? "stream" : type == 2 ? "dgram" : type == 5 ? "seqpacket" : NULL;
        /* include/linux/net.h: SS_UNCONNECTED 1 ... SS_DISCONNECTING 4; __SO_ACCEPTCON marks a
         * listener. */
        static const char *const states[] = { NULL, "UNCONNECTED", "CONNECTING", "CONNECTED",
                                              "DISCONNECTING" };
        s->state = flags & (1u << 16) ? "LISTEN" : st < ELEMENTSOF(states) ? states[st] : NULL;

        const char *p = buf + n;
        if (*p == ' ' && p[1]) {
                snprintf(s->local, sizeof(s->local), "%s", p + 1);
                s->has_local = true;
        }
        return 0;
}

static void resolve_sockets(Capture *c, SocketTable *t) {
        static const struct {
                const char *file, *proto;
                bool v6;
        } files[] = {
                { "net/tcp", "tcp", false },   { "net/tcp6", "tcp6", true },
                { "net/udp", "udp", false },   { "net/udp6", "udp6", true },
                { "net/unix", "unix", false },
        };

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                t->proto = files[i].proto;
                t->v6 = files[i].v6;
                t->lines = 0;
                int r = file_for_each_line(c->dfd, files[i].file, NET_BYTES_MAX,
                                           streq_ptr(files[i].proto, "unix") ? unix_line : inet_line,
                                           t);
                /* No IPv6 in the kernel: no tcp6, nothing to miss. */
                if (r < 0 && !(r == -ENOENT && files[i].v6))
                        gap(c, r, "%s", files[i].file);
        }
}

typedef struct FdEntry {
        int fd;
        char *target;
        uint64_t socket_inode;  /* 0: not a socket */
} FdEntry;

typedef struct FdInfo {
        char pos[24], flags[24];
} FdInfo;

static int fdinfo_line(const char *line, size_t len, void *userdata) {
        FdInfo *fi = userdata;
        char v[32];

        if (line_key(line, len, "pos", v, sizeof(v)))
                snprintf(fi->pos, sizeof(fi->pos), "%s", v + strspn(v, " \t"));
        else if (line_key(line, len, "flags", v, sizeof(v)))
                snprintf(fi->flags, sizeof(fi->flags), "%s", v + strspn(v, " \t"));
        return fi->pos[0] && fi->flags[0];
}

static void write_socket(Capture *c, const Socket *s, uint64_t inode) {
        fprintf(c->f, ",\"socket\":{\"inode\":%" PRIu64 ",\"proto\":", inode);
        if (!s || !s->proto) {
                /* netlink, packet, or from another network namespace */
                fputs("null}", c->f);
                return;
        }
        (void) json_write_string(c->f, s->proto);
        if (s->type) {
                fputs(",\"type\":", c->f);
                (void) json_write_string(c->f, s->type);
        }
        fputs(",\"local\":", c->f);
        (void) json_write_string(c->f, s->has_local ? s->local : NULL);
        fputs(",\"peer\":", c->f);
        (void) json_write_string(c->f, s->has_peer ? s->peer : NULL);
        fputs(",\"state\":", c->f);
        (void) json_write_string(c->f, s->state);
        fputc('}', c->f);
}

static void write_fd(Capture *c, const FdEntry *e, SocketTable *t) {
        char path[32];

        comma(c);
        fprintf(c->f, "{\"fd\":%d,\"target\":", e->fd);
        (void) json_write_string(c->f, e->target);

        FdInfo fi = {};
        snprintf(path, sizeof(path), "fdinfo/%d", e->fd);
        int r = file_for_each_line(c->dfd, path, FDINFO_BYTES_MAX, fdinfo_line, &fi);
        if (r < 0 && r != -ENOENT)      /* ENOENT: closed since we listed it */
                gap(c, r, "%s", path);
        uint64_t v;
        if (parse_u64(fi.pos, &v))
                fprintf(c->f, ",\"pos\":%" PRIu64, v);
        if (fi.flags[0] && strspn(fi.flags, "01234567") == strlen(fi.flags))
                fprintf(c->f, ",\"flags\":\"0%s\"", fi.flags + strspn(fi.flags, "0"));

        if (e->socket_inode != 0)
                write_socket(c, socket_find(t, e->socket_inode), e->socket_inode);
        fputc('}', c->f);
}

static void fd_entries_free(FdEntry *v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i].target);
        free(v);
}

static void write_fds(Capture *c) {
        _cleanup_free_ pid_t *fds = NULL;
        _cleanup_free_ Socket *sockets = NULL;
        FdEntry *entries = NULL;
        size_t n = 0, n_entries = 0, n_sockets = 0;

        if (key_numeric_list(c, "fds", "fd", PROCINFO_FDS_MAX, &fds, &n) < 0)
                return;

        entries = n > 0 ? calloc(n, sizeof(*entries)) : NULL;
        sockets = n > 0 ? calloc(n, sizeof(*sockets)) : NULL;
        if (n > 0 && (!entries || !sockets)) {
                free(entries);
                fputs("null", c->f);
                return gap(c, ENOMEM, "fds");
        }

        /* First the link targets, so that the socket tables are scanned once for all. */
        for (size_t i = 0; i < n; i++) {
                char path[32], target[PATH_MAX];
                unsigned long long inode;
                int k = 0;

                snprintf(path, sizeof(path), "fd/%d", (int) fds[i]);
                ssize_t len = readlinkat(c->dfd, path, target, sizeof(target) - 1);
                if (len < 0) {
                        if (errno != ENOENT)
                                gap(c, errno, "%s", path);
                        continue;
                }
                target[len] = 0;
                FdEntry *e = entries + n_entries;
                e->fd = (int) fds[i];
                e->target = strdup(target);
                if (!e->target) {
                        gap(c, ENOMEM, "%s", path);
                        continue;
                }
                if (sscanf(target, "socket:[%llu]%n", &inode, &k) == 1 && k == (int) len &&
                    inode != 0) {
                        e->socket_inode = inode;
                        sockets[n_sockets++].inode = inode;
                }
                n_entries++;
        }

        SocketTable t = { .v = sockets };
        if (n_sockets > 0) {
                qsort(sockets, n_sockets, sizeof(*sockets), cmp_socket);
                for (size_t i = 0; i < n_sockets; i++)  /* dup()ed fds share an inode */
                        if (t.n == 0 || sockets[t.n - 1].inode != sockets[i].inode)
                                sockets[t.n++] = sockets[i];
                resolve_sockets(c, &t);
        }

        fputc('[', c->f);
        c->first = true;
        for (size_t i = 0; i < n_entries; i++)
                write_fd(c, entries + i, &t);
        fputc(']', c->f);
        c->first = false;
        fd_entries_free(entries, n_entries);
}

static void write_gaps(Capture *c) {
        key(c, "gaps");
        fputc('[', c->f);
        for (size_t i = 0; i < c->n_gaps; i++) {
                fputs(i ? ",{\"what\":" : "{\"what\":", c->f);
                (void) json_write_string(c->f, c->gaps[i].what);
                fputs(",\"error\":", c->f);
                (void) json_write_string(c->f, errno_name(c->gaps[i].error));
                fputc('}', c->f);
        }
        fputc(']', c->f);
        if (c->n_gaps_dropped > 0) {
                key(c, "gaps_dropped");
                fprintf(c->f, "%zu", c->n_gaps_dropped);
        }
}

int procinfo_write_json(FILE *f, pid_t pid) {
        _cleanup_close_ int dfd = -EBADF;
        uint64_t before, after;
        char fn[32];
        int r;

        /* Required, like COMM for systemd-coredump: without the start time nothing written
         * could be tied to this process. */
        r = procinfo_start_time(pid, &before);
        if (r < 0)
                return r;

        /* Everything else is read relative to this directory, which stays bound to the process
         * it was opened for: once that exits, reads fail with ESRCH instead of describing a new
         * process under the same pid. It is opened after the first start-time read and checked
         * by the second, which closes the window in between (pidref_verify()). */
        snprintf(fn, sizeof(fn), "/proc/%d", (int) pid);
        dfd = open(fn, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return errno == ENOENT ? -ESRCH : -errno;

        Capture c = { .f = f, .dfd = dfd, .first = true };
        fputc('{', f);
        key(&c, "pid");
        fprintf(f, "%d", (int) pid);
        key(&c, "start_time");
        fprintf(f, "%" PRIu64, before);

        write_cmdline(&c);
        write_link(&c, "exe");
        write_link(&c, "cwd");
        write_status(&c);
        write_limits(&c);
        write_threads(&c);
        write_fds(&c);

        r = procinfo_start_time(pid, &after);
        key(&c, "start_time_after");
        if (r < 0) {
                fputs("null", f);
                gap(&c, r, "start_time_after");
        } else
                fprintf(f, "%" PRIu64, after);
        write_gaps(&c);
        fputs("}\n", f);

        if (fflush(f) != 0 || ferror(f))
                return -EIO;
        if (r < 0)
                return r;
        if (after != before)
                return -ESTALE;
        return 0;
}
