/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <glob.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elfsym.h"
#include "macro.h"
#include "procmaps.h"
#include "tests.h"

static const char *pyenv_root(char *buf, size_t len) {
        const char *e = getenv("PYENV_ROOT"), *home = getenv("HOME");

        if (e && *e)
                return e;
        snprintf(buf, len, "%s/.pyenv", home && *home ? home : "/root");
        return buf;
}

/* The first libpython of pyenv version prefix "3.9" (any micro), or NULL. */
static char *find_libpython(const char *minor, const char *soname) {
        char root[4096], pat[8192];
        glob_t g;
        char *r = NULL;

        snprintf(pat, sizeof(pat), "%s/versions/%s.*/lib/%s", pyenv_root(root, sizeof(root)),
                 minor, soname);
        if (glob(pat, 0, NULL, &g) == 0 && g.gl_pathc > 0)
                r = strdup(g.gl_pathv[0]);
        globfree(&g);
        return r;
}

int main(void);

static void test_self(void) {
        _cleanup_(elfsym_closep) ElfFile *e = NULL;
        ProcMaps m = {};
        uint64_t value, vaddr, off;
        char exe[4096];
        ssize_t l;

        ASSERT_OK(elfsym_open("/proc/self/exe", &e));
        ASSERT_OK(elfsym_lookup(e, "main", &value));
        ASSERT_TRUE(value != 0);
        ASSERT_EQ(elfsym_lookup(e, "no_such_symbol_anywhere", &value), -ENOENT);
        /* An undefined import (libc's, in .dynsym) is not a definition. */
        ASSERT_EQ(elfsym_lookup(e, "fopen", &value), -ENOENT);

        /* bias + st_value of main is where main is. */
        ASSERT_OK(elfsym_lookup(e, "main", &value));
        ASSERT_OK(elfsym_first_load(e, &vaddr, &off));
        ASSERT_OK(procmaps_read(getpid(), &m));
        l = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        ASSERT_TRUE(l > 0);
        exe[l] = 0;
        const ProcMap *first = procmaps_find_file(&m, exe);
        ASSERT_TRUE(first);
        uint64_t bias = first->start - first->offset + off - vaddr;
        ASSERT_EQ(bias + value, (uint64_t) (uintptr_t) &main);
        procmaps_done(&m);

        char v[32];
        /* A test binary has no Python version string in it (well, we hope: 99.99.99 none). */
        ASSERT_EQ(elfsym_find_version_string(e, 99, 99, v, sizeof(v)), -ENOENT);
}

static void test_bad_files(void) {
        ElfFile *e = NULL;
        char fifo[] = "/tmp/test-elfsym-XXXXXX";

        ASSERT_EQ(elfsym_open("/no/such/file", &e), -ENOENT);
        ASSERT_EQ(elfsym_open("/proc/self/status", &e), -ENOEXEC);
        ASSERT_EQ(elfsym_open("/dev/null", &e), -ENOEXEC);
        ASSERT_EQ(elfsym_open("/", &e), -ENOEXEC);

        /* A FIFO must not block the open. */
        ASSERT_TRUE(mkdtemp(fifo));
        char path[64];
        snprintf(path, sizeof(path), "%s/fifo", fifo);
        ASSERT_OK(mkfifo(path, 0600));
        ASSERT_EQ(elfsym_open(path, &e), -ENOEXEC);
        unlink(path);
        rmdir(fifo);

        /* A truncated ELF: just the first 100 bytes of ourselves. */
        char small[] = "/tmp/test-elfsym-small-XXXXXX";
        int fd = mkstemp(small);
        ASSERT_TRUE(fd >= 0);
        FILE *self = fopen("/proc/self/exe", "re");
        ASSERT_TRUE(self);
        char buf[100];
        ASSERT_EQ(fread(buf, 1, sizeof(buf), self), sizeof(buf));
        fclose(self);
        ASSERT_EQ(write(fd, buf, sizeof(buf)), (ssize_t) sizeof(buf));
        close(fd);
        int r = elfsym_open(small, &e);
        if (r >= 0) {
                uint64_t v, o;
                ASSERT_TRUE(elfsym_lookup(e, "main", &v) < 0);
                ASSERT_TRUE(elfsym_first_load(e, &v, &o) < 0);
                e = elfsym_close(e);
        } else
                ASSERT_EQ(r, -ENOEXEC);
        unlink(small);
}

static void test_libpython(const char *minor, const char *soname, const char *runtime_sym) {
        _cleanup_(elfsym_closep) ElfFile *e = NULL;
        _cleanup_free_ char *path = find_libpython(minor, soname);
        unsigned ma, mi;
        uint64_t value, runtime;
        char v[32], want[16];

        if (!path) {
                printf("libpython %s not installed, skipped\n", minor);
                return;
        }
        ASSERT_OK(elfsym_open(path, &e));
        ASSERT_OK(elfsym_lookup(e, runtime_sym, &runtime));
        ASSERT_TRUE(runtime != 0);
        ASSERT_OK(elfsym_lookup(e, "PyLong_Type", &value));
        ASSERT_TRUE(value != 0);

        ASSERT_EQ(sscanf(minor, "%u.%u", &ma, &mi), 2);
        ASSERT_OK(elfsym_find_version_string(e, ma, mi, v, sizeof(v)));
        /* Its directory is named after its version: versions/3.9.18/lib/... */
        snprintf(want, sizeof(want), "%s", strstr(path, "/versions/") + strlen("/versions/"));
        *strchr(want, '/') = 0;
        ASSERT_STREQ(v, want);
        ASSERT_EQ(elfsym_find_version_string(e, 1, 99, v, sizeof(v)), -ENOENT);
        ASSERT_EQ(elfsym_find_version_string(e, ma, mi, v, 3), -ENOBUFS);
        printf("%s: %s at %#" PRIx64 ", version \"%s\"\n", path, runtime_sym, runtime, want);
}

static void test_debian_python(void) {
        _cleanup_(elfsym_closep) ElfFile *e = NULL;
        uint64_t value;
        uint32_t hex;
        char v[32];

        if (access("/usr/bin/python3.11", F_OK) < 0) {
                printf("/usr/bin/python3.11 not installed, skipped\n");
                return;
        }
        ASSERT_OK(elfsym_open("/usr/bin/python3.11", &e));
        ASSERT_OK(elfsym_lookup(e, "_PyRuntime", &value));
        ASSERT_OK(elfsym_lookup(e, "Py_Version", &value));
        ASSERT_OK(elfsym_read_vaddr(e, value, &hex, sizeof(hex)));
        ASSERT_EQ(hex >> 16, 0x030b);
        ASSERT_OK(elfsym_find_version_string(e, 3, 11, v, sizeof(v)));
        ASSERT_EQ(strncmp(v, "3.11.", 5), 0);
        ASSERT_EQ((hex >> 8) & 0xff, (unsigned) atoi(v + 5));
        /* .bss has no bytes in the file. */
        ASSERT_OK(elfsym_lookup(e, "_PyRuntime", &value));
        ASSERT_EQ(elfsym_read_vaddr(e, 0, &hex, sizeof(hex)), -ENOENT);
        printf("/usr/bin/python3.11: Py_Version %#x, version string \"%s\"\n", hex, v);
}

int main(void) {
        test_self();
        test_bad_files();
        test_libpython("3.9", "libpython3.9.so.1.0", "_PyRuntime");
        test_libpython("3.13", "libpython3.13.so.1.0", "_PyRuntime");
        test_libpython("2.7", "libpython2.7.so.1.0", "interp_head");
        test_libpython("3.6", "libpython3.6m.so.1.0", "interp_head");
        test_debian_python();
        printf("elfsym: ok\n");
        return 0;
}
