/* SPDX-License-Identifier: MIT */
/* Fuzzes the ELF reader (sampler/elfsym.h), which opens files from the target's mount
 * namespace: any user who can start a process can hand the root daemon an ELF file of their
 * making. The input is the file, opened through a memfd. Every lookup pyfind makes is made.
 * Seeds: small shared objects built from elf-seed.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "elfsym.h"
#include "fuzz.h"

#define HARNESS "fuzz-elfsym"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char *const names[] = {
                "_PyRuntime", "Py_Version", "interp_head", "_PyThreadState_Current",
                "PyUnicode_Type", "PyLong_Type", "Py_Initialize", "",
        };
        char path[64], version[32];
        ElfFile *e = NULL;
        uint64_t v, off;

        int fd = memfd_create("fuzz-elfsym", MFD_CLOEXEC);
        if (fd < 0)
                abort();
        if (size > 0 && write(fd, data, size) != (ssize_t) size)
                abort();
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        if (elfsym_open(path, &e) == 0) {
                for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                        if (elfsym_lookup(e, names[i], &v) == 0) {
                                uint8_t buf[64];
                                (void) elfsym_read_vaddr(e, v, buf, sizeof(buf));
                        }
                (void) elfsym_first_load(e, &v, &off);
                if (elfsym_find_version_string(e, 3, 11, version, sizeof(version)) == 0)
                        fuzz_assert(HARNESS, "a version string", strncmp(version, "3.11.", 5) == 0 ? NULL : "not 3.11");
                if (elfsym_find_version_string(e, 0, 0, version, sizeof(version)) == 0)
                        fuzz_assert(HARNESS, "a version string", memchr(version, 0, sizeof(version)) ? NULL : "unterminated");
                elfsym_close(e);
        }
        close(fd);
        return 0;
}
