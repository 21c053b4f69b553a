/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "memreader.h"
#include "pyfind.h"
#include "tests.h"


/* Prints its version then sleeps: valid Python 2.7 and 3.x alike. */
static const char script[] =
        "import sys, time\n"
        "v = sys.version_info\n"
        "sys.stdout.write('%d.%d.%d %s %d\\n' % (v[0], v[1], v[2], v[3], v[4]))\n"
        "sys.stdout.flush()\n"
        "time.sleep(60)\n";

static const char *pyenv_root(char *buf, size_t len) {
        const char *e = getenv("PYENV_ROOT"), *home = getenv("HOME");

        if (e && *e)
                return e;
        snprintf(buf, len, "%s/.pyenv", home && *home ? home : "/root");
        return buf;
}

static void sleep_msec(unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
}

static void kill_and_reap(pid_t pid) {
        kill(pid, SIGKILL);
        (void) waitpid(pid, NULL, 0);
}

/* Spawns python running the script; reads its version line into line. */
static pid_t spawn_python(const char *python, char *line, size_t len) {
        return spawn_python_line(python, script, line, len);
}

/* Locates python and checks what it says about itself. Returns false if it is not there. */
static bool check_python(const char *python) {
        char line[128], detail[256] = "", level[16];
        unsigned major, minor, micro, serial;
        PyTarget t;
        pid_t pid;
        int r;

        if (access(python, X_OK) < 0)
                return false;

        pid = spawn_python(python, line, sizeof(line));
        ASSERT_EQ(sscanf(line, "%u.%u.%u %15s %u", &major, &minor, &micro, level, &serial), 5);

        usec_t t0 = now_usec();
        r = pyfind_locate(pid, &t, detail, sizeof(detail));
        usec_t took = now_usec() - t0;
        if (r < 0) {
                fprintf(stderr, "%s (%s): %s: %s\n", python, line, strerror(-r), detail);
                kill_and_reap(pid);
                ASSERT_OK(r);
        }

        printf("%-45s -> Python %-8s in %s (bias %#" PRIx64 ", %llu us)\n", python, t.version,
               t.elf_path, t.load_bias, (unsigned long long) took);
        ASSERT_EQ(t.pid, pid);
        ASSERT_EQ(t.major, major);
        ASSERT_EQ(t.minor, minor);
        ASSERT_EQ(t.micro, micro);
        if (streq_ptr(level, "final")) {
                char want[32];
                snprintf(want, sizeof(want), "%u.%u.%u", major, minor, micro);
                /* Debian's "3.11.2+" style is allowed: it starts with the release. */
                ASSERT_EQ(strncmp(t.version, want, strlen(want)), 0);
        }
        ASSERT_TRUE(t.executable[0] == '/');
        ASSERT_TRUE(strstr(t.elf_path, "python"));

        if (major == 3 && minor >= 7)
                ASSERT_TRUE(t.sym[PYSYM_RUNTIME] != 0);
        else
                ASSERT_TRUE(t.sym[PYSYM_INTERP_HEAD] != 0);
        if (major == 3 && minor >= 11)
                ASSERT_TRUE(t.sym[PYSYM_VERSION] != 0);
        if (major == 2 || (major == 3 && minor == 6))
                ASSERT_TRUE(t.sym[PYSYM_TSTATE_CURRENT] != 0);
        if (major == 2)
                ASSERT_TRUE(t.sym[PYSYM_TYPE_INT] != 0);
        else
                ASSERT_TRUE(t.sym[PYSYM_TYPE_INT] == 0);

        static const PySym always[] = {
                PYSYM_NONE, PYSYM_TRUE, PYSYM_FALSE, PYSYM_TYPE_LONG, PYSYM_TYPE_BOOL,
                PYSYM_TYPE_FLOAT, PYSYM_TYPE_STR, PYSYM_TYPE_BYTES, PYSYM_TYPE_LIST,
                PYSYM_TYPE_TUPLE, PYSYM_TYPE_DICT, PYSYM_TYPE_SET, PYSYM_TYPE_FROZENSET,
                PYSYM_TYPE_CODE, PYSYM_TYPE_MODULE,
        };
        for (size_t i = 0; i < ELEMENTSOF(always); i++)
                ASSERT_TRUE(t.sym[always[i]] != 0);
        /* Distinct objects at distinct addresses. */
        ASSERT_TRUE(t.sym[PYSYM_TRUE] != t.sym[PYSYM_FALSE]);
        ASSERT_TRUE(t.sym[PYSYM_TYPE_LIST] != t.sym[PYSYM_TYPE_TUPLE]);

        /* The bias is right if the live objects say so: True's ob_type (after ob_refcnt) is
         * bool, and on 3.11+ the Py_Version in memory is this version. */
        _cleanup_(memreader_freep) MemReader *mr = NULL;
        uint64_t type;
        ASSERT_OK(memreader_new_pid(pid, &mr));
        ASSERT_OK(memreader_read_u64(mr, t.sym[PYSYM_TRUE] + 8, &type));
        ASSERT_EQ(type, t.sym[PYSYM_TYPE_BOOL]);
        if (t.sym[PYSYM_TYPE_NONE]) {
                ASSERT_OK(memreader_read_u64(mr, t.sym[PYSYM_NONE] + 8, &type));
                ASSERT_EQ(type, t.sym[PYSYM_TYPE_NONE]);
        }
        if (t.sym[PYSYM_VERSION]) {
                uint32_t hex;
                ASSERT_OK(memreader_read_u32(mr, t.sym[PYSYM_VERSION], &hex));
                ASSERT_EQ(hex >> 8, major << 16 | minor << 8 | micro);
        }

        kill_and_reap(pid);
        return true;
}

static void check_pyenv(void) {
        /* The minor versions we support; each is checked if pyenv has one installed. */
        static const char *const minors[] = {
                "2.7", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13",
        };
        char buf[4096];
        const char *root = pyenv_root(buf, sizeof(buf));
        size_t found = 0;

        for (size_t i = 0; i < ELEMENTSOF(minors); i++) {
                char pat[8192];
                glob_t g;

                snprintf(pat, sizeof(pat), "%s/versions/%s.*/bin/python", root, minors[i]);
                if (glob(pat, 0, NULL, &g) != 0 || g.gl_pathc == 0) {
                        printf("Python %s not installed under %s, skipped\n", minors[i], root);
                        globfree(&g);
                        continue;
                }
                for (size_t j = 0; j < g.gl_pathc; j++)
                        if (check_python(g.gl_pathv[j]))
                                found++;
                globfree(&g);
        }
        printf("%zu pyenv interpreters checked\n", found);
}

static char proc_state(pid_t pid) {
        char fn[64], buf[1024];
        FILE *f;
        size_t n;

        snprintf(fn, sizeof(fn), "/proc/%d/stat", (int) pid);
        f = fopen(fn, "re");
        if (!f)
                return 0;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        char *p = strrchr(buf, ')');
        return p && p[1] ? p[2] : 0;
}

static void check_errors(void) {
        char detail[256];
        PyTarget t;
        pid_t pid;

        ASSERT_EQ(pyfind_locate(impossible_pid(), &t, detail, sizeof(detail)), -ESRCH);
        ASSERT_EQ(pyfind_locate(-1, &t, NULL, 0), -ESRCH);

        /* Ourselves: no interpreter here. */
        ASSERT_EQ(pyfind_locate(getpid(), &t, detail, sizeof(detail)), -ENOEXEC);
        ASSERT_TRUE(strstr(detail, "no libpython"));

        /* /bin/sleep, once the exec is done (before that it is a copy of us). */
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                /* Dies with us, even when an assertion ends us early. */
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                execl("/bin/sleep", "sleep", "60", (char *) NULL);
                _exit(127);
        }
        for (unsigned i = 0; i < 2000; i++) {
                char exe[4096], fn[64];
                snprintf(fn, sizeof(fn), "/proc/%d/exe", (int) pid);
                ssize_t l = readlink(fn, exe, sizeof(exe) - 1);
                if (l > 0 && (exe[l] = 0, strstr(exe, "sleep")))
                        break;
                sleep_msec(1);
        }
        detail[0] = 0;
        ASSERT_EQ(pyfind_locate(pid, &t, detail, sizeof(detail)), -ENOEXEC);
        printf("/bin/sleep: %s\n", detail);
        kill_and_reap(pid);

        /* A zombie: exited, not reaped. */
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0)
                _exit(0);
        for (unsigned i = 0; i < 5000 && proc_state(pid) != 'Z'; i++)
                sleep_msec(1);
        ASSERT_EQ(proc_state(pid), 'Z');
        detail[0] = 0;
        ASSERT_EQ(pyfind_locate(pid, &t, detail, sizeof(detail)), -ESRCH);
        ASSERT_STREQ(detail, "process is a zombie");
        ASSERT_EQ(waitpid(pid, NULL, 0), pid);

        /* Kernel threads: kthreadd is pid 2 in the initial pid namespace; elsewhere pid 2 is
         * whatever it is, so only check when it is a kernel thread (no exe link). */
        char exe[16];
        if (readlink("/proc/2/exe", exe, sizeof(exe)) < 0 && errno == ENOENT &&
            proc_state(2) != 'Z' && proc_state(2) != 0) {
                detail[0] = 0;
                ASSERT_EQ(pyfind_locate(2, &t, detail, sizeof(detail)), -ENOEXEC);
        }
}

int main(void) {
        check_errors();
        check_pyenv();
        if (!check_python("/usr/bin/python3.11"))
                printf("/usr/bin/python3.11 not installed, skipped\n");
        printf("pyfind: ok\n");
        return 0;
}
