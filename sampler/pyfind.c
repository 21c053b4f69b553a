/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "elfsym.h"
#include "macro.h"
#include "memreader.h"
#include "procmaps.h"
#include "pyfind.h"
#include "pyoffsets.h"

/* At most this many distinct libpython files are considered: a process maps one; a few more
 * (a venv's copy, an embedded second one) is possible, hundreds is a hostile maps file. */
#define PYFIND_MAX_CANDIDATES 8

/* /proc/PID/stat is one line: pid, (comm of at most 16 bytes), then ~50 numbers. */
#define STAT_MAX 2048

/* The kernel appends this to a mapped file's path once the file was unlinked (upgraded). */
#define DELETED_SUFFIX " (deleted)"

/* Symbol names per PySym, for Python 3 and for Python 2.7 (NULL: does not exist there). */
static const struct {
        const char *py3, *py2;
} sym_names[_PYSYM_MAX] = {
        [PYSYM_RUNTIME] = { "_PyRuntime", NULL },
        [PYSYM_INTERP_HEAD] = { "interp_head", "interp_head" },
        [PYSYM_TSTATE_CURRENT] = { "_PyThreadState_Current", "_PyThreadState_Current" },
        [PYSYM_VERSION] = { "Py_Version", NULL },
        [PYSYM_NONE] = { "_Py_NoneStruct", "_Py_NoneStruct" },
        [PYSYM_TRUE] = { "_Py_TrueStruct", "_Py_TrueStruct" },
        [PYSYM_FALSE] = { "_Py_FalseStruct", "_Py_ZeroStruct" },
        [PYSYM_TYPE_INT] = { NULL, "PyInt_Type" },
        [PYSYM_TYPE_LONG] = { "PyLong_Type", "PyLong_Type" },
        [PYSYM_TYPE_BOOL] = { "PyBool_Type", "PyBool_Type" },
        [PYSYM_TYPE_FLOAT] = { "PyFloat_Type", "PyFloat_Type" },
        [PYSYM_TYPE_STR] = { "PyUnicode_Type", "PyUnicode_Type" },
        [PYSYM_TYPE_BYTES] = { "PyBytes_Type", "PyString_Type" },
        [PYSYM_TYPE_LIST] = { "PyList_Type", "PyList_Type" },
        [PYSYM_TYPE_TUPLE] = { "PyTuple_Type", "PyTuple_Type" },
        [PYSYM_TYPE_DICT] = { "PyDict_Type", "PyDict_Type" },
        [PYSYM_TYPE_SET] = { "PySet_Type", "PySet_Type" },
        [PYSYM_TYPE_FROZENSET] = { "PyFrozenSet_Type", "PyFrozenSet_Type" },
        [PYSYM_TYPE_CODE] = { "PyCode_Type", "PyCode_Type" },
        [PYSYM_TYPE_MODULE] = { "PyModule_Type", "PyModule_Type" },
        [PYSYM_TYPE_NONE] = { "_PyNone_Type", NULL },
};

/* An ELF that defines one of these holds an interpreter (rather than merely linking to one,
 * as pyenv's bin/python does: there they are undefined imports). */
static const char *const interpreter_markers[] = {
        "_PyRuntime",
        "interp_head",
        "PyInterpreterState_Head",
        "Py_GetVersion",
};

/* Writes the detail (when wanted) and returns r, so that every error is one statement. */
_printf_(4, 5) static int fail(int r, char *detail, size_t len, const char *fmt, ...) {
        if (detail && len > 0) {
                va_list ap;
                va_start(ap, fmt);
                (void) vsnprintf(detail, len, fmt, ap);
                va_end(ap);
        }
        return r;
}

/* The state letter from /proc/PID/stat: after the last ')' (comm may contain anything). */
static int read_state(pid_t pid, char *ret) {
        _cleanup_close_ int fd = -EBADF;
        char fn[64], buf[STAT_MAX + 1];
        ssize_t n;

        snprintf(fn, sizeof(fn), "/proc/%d/stat", (int) pid);
        fd = open(fn, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? -ESRCH : -errno;
        n = read(fd, buf, STAT_MAX);
        if (n < 0)
                return errno == ENOENT ? -ESRCH : -errno;
        buf[n] = 0;

        const char *p = strrchr(buf, ')');
        if (!p || p[1] != ' ' || p[2] == 0)
                return -EBADMSG;
        *ret = p[2];
        return 0;
}

static bool is_libpython(const char *path) {
        const char *base;

        if (!path || path[0] != '/')
                return false;
        base = strrchr(path, '/') + 1;
        return strncmp(base, "libpython", 9) == 0 && strstr(base, ".so");
}

/* Opens the file behind map as the target sees it. A file unlinked since it was mapped (an
 * upgrade) is only reachable through map_files (needs CAP_SYS_ADMIN); otherwise through the
 * target's root so that containers work, then our own view of the path. */
static int open_target_elf(pid_t pid, const ProcMap *map, ElfFile **ret) {
        char fn[4096 + 64];
        size_t l = strlen(map->path);
        int r;

        if (l >= strlen(DELETED_SUFFIX) &&
            streq_ptr(map->path + l - strlen(DELETED_SUFFIX), DELETED_SUFFIX)) {
                snprintf(fn, sizeof(fn), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int) pid,
                         map->start, map->end);
                r = elfsym_open(fn, ret);
                if (r >= 0 || r == -ENOEXEC || r == -EFBIG)
                        return r;
        }

        if ((size_t) snprintf(fn, sizeof(fn), "/proc/%d/root%s", (int) pid, map->path) <
            sizeof(fn)) {
                r = elfsym_open(fn, ret);
                if (r >= 0 || r == -ENOEXEC || r == -EFBIG)
                        return r;
        }
        return elfsym_open(map->path, ret);
}

static bool defines_interpreter(ElfFile *e) {
        for (size_t i = 0; i < ELEMENTSOF(interpreter_markers); i++) {
                uint64_t v;
                if (elfsym_lookup(e, interpreter_markers[i], &v) >= 0)
                        return true;
        }
        return false;
}

/* major.minor from a file name: "libpython3.9.so.1.0", "python3.6m", "libpython3.13t.so".
 * *ret_flag is the ABI flag letter after the minor ('m', 'd', 't') or 0. */
static bool version_from_name(const char *path, unsigned *ret_major, unsigned *ret_minor,
                              char *ret_flag) {
        const char *base = strrchr(path, '/'), *p;
        unsigned v[2] = {};

        base = base ? base + 1 : path;
        p = strstr(base, "python");
        if (!p)
                return false;
        p += strlen("python");

        for (size_t i = 0; i < 2; i++) {
                size_t k = 0;
                /* two digits at most: "3.100" is no Python yet */
                while (*p >= '0' && *p <= '9' && k < 2) {
                        v[i] = v[i] * 10 + (unsigned) (*p - '0');
                        p++, k++;
                }
                if (k == 0 || (*p >= '0' && *p <= '9'))
                        return false;
                if (i == 0 && *p++ != '.')
                        return false;
        }
        *ret_major = v[0];
        *ret_minor = v[1];
        *ret_flag = (*p >= 'a' && *p <= 'z') ? *p : 0;
        return true;
}

/* micro and release tag from "3.9.18", "3.14.0a1", "2.7.18+". */
static void parse_micro(PyTarget *t, const char *s) {
        const char *p = s;

        for (size_t dots = 0; *p && dots < 2; p++)
                if (*p == '.')
                        dots++;
        t->micro = 0;
        for (size_t k = 0; *p >= '0' && *p <= '9' && k < 3; p++, k++)
                t->micro = t->micro * 10 + (unsigned) (*p - '0');
}

/* PY_VERSION_HEX: major << 24 | minor << 16 | micro << 8 | level << 4 | serial. */
static int version_from_hex(PyTarget *t, uint64_t hex) {
        static const char *const levels[16] = {
                [0xA] = "a", [0xB] = "b", [0xC] = "rc", [0xF] = "",
        };
        unsigned level = (hex >> 4) & 0xf, serial = hex & 0xf;

        if (hex >> 32 || !levels[level])
                return -EBADMSG;
        t->major = (hex >> 24) & 0xff;
        t->minor = (hex >> 16) & 0xff;
        t->micro = (hex >> 8) & 0xff;
        /* Py_Version exists from 3.11 on; anything else is not what we think it is. */
        if (t->major != 3 || t->minor < 11)
                return -EBADMSG;
        if (level == 0xF)
                snprintf(t->version, sizeof(t->version), "%u.%u.%u", t->major, t->minor, t->micro);
        else
                snprintf(t->version, sizeof(t->version), "%u.%u.%u%s%u", t->major, t->minor,
                         t->micro, levels[level], serial);
        return 0;
}

static int read_py_version(pid_t pid, ElfFile *e, uint64_t vaddr, uint64_t bias, uint64_t *ret) {
        _cleanup_(memreader_freep) MemReader *mr = NULL;
        uint32_t v;
        int r;

        /* It is a const in .rodata: the file has it; the memory is the fallback. Only the low
         * 32 bits matter (an unsigned long on LP64, little-endian). */
        r = elfsym_read_vaddr(e, vaddr, &v, sizeof(v));
        if (r >= 0) {
                *ret = v;
                return 0;
        }
        r = memreader_new_pid(pid, &mr);
        if (r < 0)
                return r;
        r = memreader_read_u32(mr, vaddr + bias, &v);
        if (r < 0)
                return r;
        *ret = v;
        return 0;
}

/* For an ELF whose name carries no version (an embedding program): the first supported
 * major.minor whose version string is in .rodata. */
static int version_from_rodata_any(ElfFile *e, PyTarget *t) {
        size_t n = 0;
        const PyOffsets *rows = pyoffsets_all(&n);

        for (size_t i = 0; rows && i < n; i++)
                if (elfsym_find_version_string(e, rows[i].major, rows[i].minor, t->version,
                                               sizeof(t->version)) >= 0) {
                        t->major = rows[i].major;
                        t->minor = rows[i].minor;
                        parse_micro(t, t->version);
                        return 0;
                }
        return -ENOENT;
}

int pyfind_locate(pid_t pid, PyTarget *ret, char *reterr_detail, size_t detail_len) {
        _cleanup_(procmaps_done) ProcMaps maps = {};
        _cleanup_(elfsym_closep) ElfFile *elf = NULL;
        const ProcMap *cand[PYFIND_MAX_CANDIDATES + 1], *chosen = NULL;
        size_t n_cand = 0;
        PyTarget t = { .pid = pid };
        char state, flag = 0;
        uint64_t vaddr, off, v;
        unsigned name_major = 0, name_minor = 0;
        bool have_name_version;
        ssize_t l;
        int r, exe_errno;

        if (!ret)
                return -EINVAL;
        if (detail_len > 0 && reterr_detail)
                reterr_detail[0] = 0;
        if (pid <= 0)
                return fail(-ESRCH, reterr_detail, detail_len, "no such process");

        r = read_state(pid, &state);
        if (r == -ESRCH)
                return fail(-ESRCH, reterr_detail, detail_len, "no such process");
        if (r < 0)
                return fail(r, reterr_detail, detail_len, "cannot read /proc/%d/stat", (int) pid);
        if (state == 'Z' || state == 'X')
                return fail(-ESRCH, reterr_detail, detail_len, "process is a zombie");

        r = procmaps_read(pid, &maps);
        if (r == -ESRCH)
                return fail(-ESRCH, reterr_detail, detail_len, "no such process");
        if (r < 0)
                return fail(r, reterr_detail, detail_len, "cannot read /proc/%d/maps", (int) pid);

        char fn[64];
        snprintf(fn, sizeof(fn), "/proc/%d/exe", (int) pid);
        l = readlink(fn, t.executable, sizeof(t.executable) - 1);
        exe_errno = l < 0 ? errno : 0;
        if (exe_errno == EACCES || exe_errno == EPERM)
                return fail(-exe_errno, reterr_detail, detail_len, "cannot read /proc/%d/exe",
                            (int) pid);
        if (l >= 0)
                t.executable[l] = 0;

        if (maps.n == 0) {
                /* A kernel thread has no memory either, but also no exe link and is no
                 * zombie: that is "not Python", not "gone". */
                if (exe_errno == ENOENT && read_state(pid, &state) >= 0 && state != 'Z' &&
                    state != 'X')
                        return fail(-ENOEXEC, reterr_detail, detail_len,
                                    "no memory mappings (kernel thread)");
                return fail(-ESRCH, reterr_detail, detail_len, "process is a zombie");
        }
        if (l < 0)
                return fail(exe_errno == ENOENT ? -ESRCH : -exe_errno, reterr_detail, detail_len,
                            "cannot read /proc/%d/exe", (int) pid);

        /* Candidates: every distinct libpython, then the main executable. */
        for (size_t i = 0; i < maps.n && n_cand < PYFIND_MAX_CANDIDATES; i++) {
                bool seen = false;

                if (!is_libpython(maps.maps[i].path))
                        continue;
                /* Compare with the few candidates first: the full scan for the lowest mapping
                 * is done once per distinct file, not once per mapping (a hostile process can
                 * map one file thousands of times). */
                for (size_t j = 0; j < n_cand; j++)
                        seen = seen || streq_ptr(cand[j]->path, maps.maps[i].path);
                if (!seen)
                        cand[n_cand++] = procmaps_find_file(&maps, maps.maps[i].path);
        }
        const ProcMap *exe_map = procmaps_find_file(&maps, t.executable);
        if (exe_map)
                cand[n_cand++] = exe_map;

        for (size_t i = 0; i < n_cand && !chosen; i++) {
                if (strlen(cand[i]->path) >= sizeof(t.elf_path))
                        continue;
                if (open_target_elf(pid, cand[i], &elf) < 0)
                        continue;
                if (defines_interpreter(elf))
                        chosen = cand[i];
                else
                        elf = elfsym_close(elf);
        }
        if (!chosen)
                return fail(-ENOEXEC, reterr_detail, detail_len,
                            "no libpython or python binary mapped");
        strcpy(t.elf_path, chosen->path);

        r = elfsym_first_load(elf, &vaddr, &off);
        if (r < 0)
                return fail(-ENOEXEC, reterr_detail, detail_len, "%s: no loadable segment",
                            t.elf_path);
        /* The lowest mapping of the file is at file offset chosen->offset; the first segment
         * (file offset off) is at vaddr. Unsigned arithmetic: wrap-around is intended. */
        t.load_bias = chosen->start - chosen->offset + off - vaddr;

        /* Version. 3.11+ says it exactly in Py_Version; before, the file name gives
         * major.minor and a PY_VERSION string in .rodata the micro. */
        have_name_version = version_from_name(t.elf_path, &name_major, &name_minor, &flag);
        if (elfsym_lookup(elf, "Py_Version", &v) >= 0 &&
            read_py_version(pid, elf, v, t.load_bias, &v) >= 0 && version_from_hex(&t, v) >= 0)
                ;
        else if (have_name_version) {
                t.major = name_major;
                t.minor = name_minor;
                if (elfsym_find_version_string(elf, t.major, t.minor, t.version,
                                               sizeof(t.version)) >= 0)
                        parse_micro(&t, t.version);
                else
                        /* The layout depends on major.minor only: go on without the micro. */
                        snprintf(t.version, sizeof(t.version), "%u.%u", t.major, t.minor);
        } else if (version_from_rodata_any(elf, &t) < 0)
                return fail(-ENOEXEC, reterr_detail, detail_len,
                            "%s: cannot tell the Python version", t.elf_path);

        /* A free-threaded build (python3.13t) lays its objects out differently. */
        if (have_name_version && flag == 't')
                return fail(-EPROTONOSUPPORT, reterr_detail, detail_len,
                            "Python %s (free-threaded build)", t.version);
        if (!pyoffsets_lookup(t.major, t.minor))
                return fail(-EPROTONOSUPPORT, reterr_detail, detail_len, "Python %s", t.version);

        for (size_t i = 0; i < _PYSYM_MAX; i++) {
                const char *name = t.major == 2 ? sym_names[i].py2 : sym_names[i].py3;

                if (name && elfsym_lookup(elf, name, &v) >= 0 && v != 0)
                        t.sym[i] = v + t.load_bias;
        }

        /* Without a way to the interpreter list there is nothing to walk. 2.7/3.6 builds that
         * lost .symtab have no interp_head; _PyThreadState_Current still leads there. */
        bool has_runtime = t.major > 3 || (t.major == 3 && t.minor >= 7);
        if (has_runtime ? t.sym[PYSYM_RUNTIME] == 0 :
                          t.sym[PYSYM_INTERP_HEAD] == 0 && t.sym[PYSYM_TSTATE_CURRENT] == 0)
                return fail(-ENOEXEC, reterr_detail, detail_len, "%s: no interpreter symbols",
                            t.elf_path);

        *ret = t;
        return 0;
}
