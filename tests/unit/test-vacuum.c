/* SPDX-License-Identifier: MIT */
/* vacuum_incidents(): oldest first, both limits, keep_id, and nothing that is not a bundle. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "incident.h"
#include "tests.h"
#include "vacuum.h"

static char *state, *incidents;

static char *path_join(const char *a, const char *b) {
        char *p;
        ASSERT_TRUE(asprintf(&p, "%s/%s", a, b) >= 0);
        return p;
}

static void rm_rf(const char *path) {
        char *cmd;
        ASSERT_TRUE(asprintf(&cmd, "rm -rf -- '%s'", path) >= 0);
        ASSERT_EQ(system(cmd), 0);
        free(cmd);
}

static void setup(void) {
        char tmpl[] = "/tmp/test-vacuum-XXXXXX";
        ASSERT_TRUE(mkdtemp(tmpl));
        state = strdup(tmpl);
        incidents = path_join(state, "incidents");
        ASSERT_OK(mkdir(incidents, 0700));
}

static void teardown(void) {
        rm_rf(state);
        free(state);
        free(incidents);
}

static void write_file(const char *dir, const char *name, size_t bytes) {
        _cleanup_free_ char *p = path_join(dir, name);
        FILE *f = fopen(p, "we");
        ASSERT_TRUE(f);
        for (size_t i = 0; i < bytes; i++)
                fputc('x', f);
        ASSERT_EQ(fclose(f), 0);
}

/* A bundle directory (as far as vacuum cares) with files of the given size; mtime set. */
static void bundle(const char *id, size_t bytes, time_t mtime) {
        _cleanup_free_ char *p = path_join(incidents, id);
        ASSERT_OK(mkdir(p, 0700));
        write_file(p, "manifest.json", 100);
        write_file(p, "dump.txt", bytes);
        struct timespec ts[2] = { { mtime, 0 }, { mtime, 0 } };
        ASSERT_OK(utimensat(AT_FDCWD, p, ts, 0) < 0 ? -errno : 0);
}

static bool exists(const char *name) {
        _cleanup_free_ char *p = path_join(incidents, name);
        return access(p, F_OK) == 0;
}

/* Disk use as vacuum counts it: allocated blocks of the directory and its entries. */
static uint64_t du(const char *name) {
        _cleanup_free_ char *p = path_join(incidents, name);
        struct stat st;
        uint64_t sum = 0;
        DIR *d = opendir(p);
        struct dirent *de;

        ASSERT_TRUE(d);
        ASSERT_OK(stat(p, &st));
        sum += (uint64_t) st.st_blocks * 512;
        while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                ASSERT_OK(fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW));
                sum += (uint64_t) st.st_blocks * 512;
        }
        closedir(d);
        return sum;
}

#define A "20240101T000000Z-web-1"
#define B "20240102T000000Z-web-2"
#define C "20240103T000000Z-web-3"
#define D "20240104T000000Z-web-4"
#define E "20240105T000000Z-web-5"

static void five(size_t bytes) {
        /* mtimes reversed against the IDs: the ID's time decides first. */
        bundle(C, bytes, 500);
        bundle(A, bytes, 900);
        bundle(E, bytes, 100);
        bundle(B, bytes, 700);
        bundle(D, bytes, 300);
}

static void test_missing_dir(void) {
        char tmpl[] = "/tmp/test-vacuum-XXXXXX";
        ASSERT_TRUE(mkdtemp(tmpl));
        ASSERT_EQ(vacuum_incidents(tmpl, 1, 1, NULL), 0);
        ASSERT_OK(rmdir(tmpl));
}

static void test_count(void) {
        setup();
        five(10);
        ASSERT_EQ(vacuum_incidents(state, 0, 0, NULL), 0);   /* no limits */
        ASSERT_EQ(vacuum_incidents(state, 5, 0, NULL), 0);
        ASSERT_EQ(vacuum_incidents(state, 3, 0, NULL), 2);
        ASSERT_TRUE(!exists(A) && !exists(B));
        ASSERT_TRUE(exists(C) && exists(D) && exists(E));
        ASSERT_EQ(vacuum_incidents(state, 3, 0, NULL), 0);
        teardown();
}

static void test_keep(void) {
        setup();
        five(10);
        /* The one just written is the oldest by ID (a clock step back): still kept. */
        ASSERT_EQ(vacuum_incidents(state, 1, 0, A), 4);
        ASSERT_TRUE(exists(A));
        ASSERT_TRUE(!exists(B) && !exists(C) && !exists(D) && !exists(E));
        /* Over the byte limit alone: kept anyway. */
        ASSERT_EQ(vacuum_incidents(state, 0, 1, A), 0);
        ASSERT_TRUE(exists(A));
        /* Without keep_id the limit wins. */
        ASSERT_EQ(vacuum_incidents(state, 0, 1, NULL), 1);
        ASSERT_TRUE(!exists(A));
        teardown();
}

static void test_bytes(void) {
        setup();
        five(20000);
        uint64_t newest_two = du(D) + du(E);
        ASSERT_EQ(vacuum_incidents(state, 100, newest_two + du(C) - 1, NULL), 3);
        ASSERT_TRUE(!exists(A) && !exists(B) && !exists(C));
        ASSERT_TRUE(exists(D) && exists(E));
        ASSERT_EQ(vacuum_incidents(state, 100, newest_two, NULL), 0);
        /* Both limits: the stricter decides. */
        ASSERT_EQ(vacuum_incidents(state, 1, newest_two, E), 1);
        ASSERT_TRUE(!exists(D) && exists(E));
        teardown();
}

/* Same ID time: mtime, then the name. */
static void test_tiebreak(void) {
        setup();
        bundle("20240101T000000Z-web-10", 10, 2000);
        bundle("20240101T000000Z-web-11", 10, 1000);
        bundle("20240101T000000Z-api-12", 10, 3000);
        ASSERT_EQ(vacuum_incidents(state, 2, 0, NULL), 1);
        ASSERT_TRUE(!exists("20240101T000000Z-web-11"));
        ASSERT_EQ(vacuum_incidents(state, 1, 0, NULL), 1);
        ASSERT_TRUE(!exists("20240101T000000Z-web-10"));
        ASSERT_TRUE(exists("20240101T000000Z-api-12"));
        teardown();
}

/* Things that are not bundles are neither counted nor removed. */
static void test_foreign(void) {
        setup();
        five(10);
        _cleanup_free_ char *tmp = path_join(incidents, ".tmp-20230101T000000Z-web-9");
        _cleanup_free_ char *notes = path_join(incidents, "notes");
        _cleanup_free_ char *elsewhere = path_join(state, "elsewhere");
        _cleanup_free_ char *link = path_join(incidents, "20230101T000000Z-link-8");
        _cleanup_free_ char *nested = path_join(incidents, "20230102T000000Z-nested-7");
        _cleanup_free_ char *nested_sub = path_join(nested, "sub");

        ASSERT_OK(mkdir(tmp, 0700));
        write_file(tmp, "dump.txt", 10);
        ASSERT_OK(mkdir(notes, 0700));
        write_file(notes, "keep.txt", 10);
        write_file(incidents, "20230101T000000Z-file-6", 10);   /* a file, not a directory */
        write_file(incidents, "README", 10);
        ASSERT_OK(mkdir(elsewhere, 0700));
        write_file(elsewhere, "precious", 10);
        ASSERT_OK(symlink(elsewhere, link) < 0 ? -errno : 0);   /* a symlink to a directory */
        ASSERT_OK(mkdir(nested, 0700));                         /* holds a directory: not ours */
        write_file(nested, "dump.txt", 10);
        ASSERT_OK(mkdir(nested_sub, 0700));

        ASSERT_EQ(vacuum_incidents(state, 1, 0, E), 4);
        ASSERT_TRUE(exists(E));
        ASSERT_TRUE(exists(".tmp-20230101T000000Z-web-9"));
        ASSERT_TRUE(exists("notes/keep.txt"));
        ASSERT_TRUE(exists("20230101T000000Z-file-6"));
        ASSERT_TRUE(exists("README"));
        ASSERT_TRUE(exists("20230101T000000Z-link-8"));
        _cleanup_free_ char *precious = path_join(elsewhere, "precious");
        ASSERT_TRUE(access(precious, F_OK) == 0);
        /* The nested one is oldest and over the count, but is left whole. */
        ASSERT_TRUE(exists("20230102T000000Z-nested-7/dump.txt"));
        ASSERT_TRUE(exists("20230102T000000Z-nested-7/sub"));
        teardown();
}

int main(void) {
        test_missing_dir();
        test_count();
        test_keep();
        test_bytes();
        test_tiebreak();
        test_foreign();
        printf("test-vacuum: ok\n");
        return 0;
}
