/* SPDX-License-Identifier: MIT */
#pragma once

/* ELF symbol lookup with libelf, over .dynsym and .symtab. Nothing here logs. */

#include <stddef.h>
#include <stdint.h>

typedef struct ElfFile ElfFile;

/* Opens path (callers pass /proc/PID/root/<path> so containers work). -ENOENT, -EACCES,
 * -ENOEXEC (not a 64-bit ELF), -ENOMEM. */
int elfsym_open(const char *path, ElfFile **ret);
ElfFile *elfsym_close(ElfFile *e);

/* st_value of the defined symbol name (object, function or notype), searching .dynsym then
 * .symtab; -ENOENT when absent. */
int elfsym_lookup(ElfFile *e, const char *name, uint64_t *ret_value);

/* Lowest p_vaddr of the PT_LOAD segments rounded down to the page, and the p_offset of that
 * segment: load bias = (start of the mapping at file offset ret_offset) - ret_vaddr. */
int elfsym_first_load(ElfFile *e, uint64_t *ret_vaddr, uint64_t *ret_offset);

/* Looks in the file's read-only data (.rodata) for a NUL-terminated version string
 * "MAJOR.MINOR.MICRO" optionally followed by a release tag (a1, b2, rc1, +), whose major.minor
 * equal the given ones (0, 0 = any). Writes it into buf (size len). -ENOENT when none. */
int elfsym_find_version_string(ElfFile *e, unsigned major, unsigned minor, char *buf, size_t len);

static inline void elfsym_closep(ElfFile **e) {
        if (*e)
                elfsym_close(*e);
}

/* Copies len bytes of the file's contents at virtual address vaddr (inside one allocated,
 * file-backed section: not .bss) into buf; for reading constants such as Py_Version from the
 * file. -ENOENT when no section holds the whole range. */
int elfsym_read_vaddr(ElfFile *e, uint64_t vaddr, void *buf, size_t len);

/* Files larger than this are refused with -EFBIG: a libpython is ~25 MiB, a debug build with
 * its .symtab ~100 MiB; a bigger "ELF" in a target's mount namespace is someone's trap. */
#define ELFSYM_MAX_FILE (1024ULL * 1024ULL * 1024ULL)
