/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <string.h>
#include <sys/stat.h>

#include "elfsym.h"
#include "macro.h"

/* The file comes from the target's mount namespace: it is untrusted. libelf bounds every
 * section read by the file size, elf_strptr() checks that a name lies (NUL-terminated) inside
 * its string table, and gelf_getsym()/gelf_getphdr() check indices; we cap the file size and
 * the counts we iterate over on top of that. */

/* More program headers than this is no real ELF (a libpython has ~11). */
#define ELFSYM_MAX_PHDRS 4096u

/* "MAJOR.MINOR.MICRO": each number has at most this many digits (3.100.999 would still fit). */
#define VERSION_DIGITS_MAX 3

struct ElfFile {
        int fd;
        Elf *elf;
        size_t shstrndx;
};

ElfFile *elfsym_close(ElfFile *e) {
        if (!e)
                return NULL;
        if (e->elf)
                (void) elf_end(e->elf);
        if (e->fd >= 0)
                (void) close(e->fd);
        free(e);
        return NULL;
}

int elfsym_open(const char *path, ElfFile **ret) {
        _cleanup_(elfsym_closep) ElfFile *e = NULL;
        struct stat st;

        if (!path || !ret)
                return -EINVAL;

        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->fd = -EBADF;

        /* O_NONBLOCK: a FIFO planted under the target's root must not hang us in open(). */
        e->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (e->fd < 0)
                return -errno;
        if (fstat(e->fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -ENOEXEC;
        if ((uint64_t) st.st_size > ELFSYM_MAX_FILE)
                return -EFBIG;

        if (elf_version(EV_CURRENT) == EV_NONE)
                return -ENOEXEC;
        /* ELF_C_READ, not ELF_C_READ_MMAP: a file truncated under us would make a mapping
         * raise SIGBUS; with reads, libelf just sees a short file. */
        e->elf = elf_begin(e->fd, ELF_C_READ, NULL);
        if (!e->elf)
                return -ENOEXEC;
        if (elf_kind(e->elf) != ELF_K_ELF || gelf_getclass(e->elf) != ELFCLASS64)
                return -ENOEXEC;

        const char *ident = elf_getident(e->elf, NULL);
        /* The offsets tables are for x86-64-like LP64 little-endian targets. */
        if (!ident || ident[EI_DATA] != ELFDATA2LSB)
                return -ENOEXEC;
        if (elf_getshdrstrndx(e->elf, &e->shstrndx) < 0)
                return -ENOEXEC;

        *ret = TAKE_PTR(e);
        return 0;
}

static bool sym_is_defined(const GElf_Sym *sym) {
        unsigned type = GELF_ST_TYPE(sym->st_info);

        if (sym->st_shndx == SHN_UNDEF)
                return false;
        return type == STT_OBJECT || type == STT_FUNC || type == STT_NOTYPE;
}

/* Looks name up in every section of type sh_type. A global (or weak) definition wins over a
 * local one: statics are only a fallback (interp_head in 2.7/3.6 is one). */
static int lookup_in(ElfFile *e, Elf64_Word sh_type, const char *name, uint64_t *ret_value) {
        size_t entsize = gelf_fsize(e->elf, ELF_T_SYM, 1, EV_CURRENT);
        bool have_local = false;
        uint64_t local_value = 0;
        Elf_Scn *scn = NULL;

        if (entsize == 0)
                return -ENOEXEC;

        while ((scn = elf_nextscn(e->elf, scn))) {
                GElf_Shdr shdr;
                Elf_Data *data;

                if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != sh_type)
                        continue;
                data = elf_getdata(scn, NULL);
                if (!data || !data->d_buf)
                        continue;

                size_t n = data->d_size / entsize;
                for (size_t i = 1; i < n; i++) {
                        GElf_Sym sym;
                        const char *s;

                        if (!gelf_getsym(data, (int) i, &sym))
                                break;
                        if (sym.st_name == 0 || !sym_is_defined(&sym))
                                continue;
                        s = elf_strptr(e->elf, shdr.sh_link, sym.st_name);
                        if (!s || strcmp(s, name) != 0)
                                continue;
                        if (GELF_ST_BIND(sym.st_info) != STB_LOCAL) {
                                *ret_value = sym.st_value;
                                return 0;
                        }
                        if (!have_local) {
                                have_local = true;
                                local_value = sym.st_value;
                        }
                }
        }

        if (!have_local)
                return -ENOENT;
        *ret_value = local_value;
        return 0;
}

int elfsym_lookup(ElfFile *e, const char *name, uint64_t *ret_value) {
        if (!e || !name || !ret_value)
                return -EINVAL;
        if (lookup_in(e, SHT_DYNSYM, name, ret_value) == 0)
                return 0;
        return lookup_in(e, SHT_SYMTAB, name, ret_value);
}

int elfsym_first_load(ElfFile *e, uint64_t *ret_vaddr, uint64_t *ret_offset) {
        uint64_t page = (uint64_t) sysconf(_SC_PAGESIZE);
        bool found = false;
        GElf_Phdr best = {};
        size_t n;

        if (!e || !ret_vaddr || !ret_offset)
                return -EINVAL;
        if (elf_getphdrnum(e->elf, &n) < 0)
                return -ENOEXEC;
        n = MIN(n, (size_t) ELFSYM_MAX_PHDRS);

        for (size_t i = 0; i < n; i++) {
                GElf_Phdr ph;

                if (!gelf_getphdr(e->elf, (int) i, &ph))
                        return -ENOEXEC;
                if (ph.p_type != PT_LOAD)
                        continue;
                if (!found || ph.p_vaddr < best.p_vaddr) {
                        best = ph;
                        found = true;
                }
        }
        if (!found)
                return -ENOEXEC;
        if (page == 0 || (page & (page - 1)) != 0)
                page = 4096;

        /* The kernel maps at page granularity: the mapping starts at the page holding the
         * segment's first byte, at the file offset of that page. */
        *ret_vaddr = best.p_vaddr & ~(page - 1);
        *ret_offset = best.p_offset & ~(page - 1);
        return 0;
}

int elfsym_read_vaddr(ElfFile *e, uint64_t vaddr, void *buf, size_t len) {
        Elf_Scn *scn = NULL;

        if (!e || !buf)
                return -EINVAL;

        while ((scn = elf_nextscn(e->elf, scn))) {
                GElf_Shdr shdr;
                Elf_Data *data;

                if (!gelf_getshdr(scn, &shdr))
                        continue;
                if (!(shdr.sh_flags & SHF_ALLOC) || shdr.sh_type == SHT_NOBITS)
                        continue;
                /* Written so that no sum can overflow on hostile headers. */
                if (vaddr < shdr.sh_addr || vaddr - shdr.sh_addr > shdr.sh_size ||
                    len > shdr.sh_size - (vaddr - shdr.sh_addr))
                        continue;

                data = elf_rawdata(scn, NULL);
                if (!data || !data->d_buf)
                        return -ENOEXEC;
                uint64_t off = vaddr - shdr.sh_addr;
                if (off > data->d_size || len > data->d_size - off)
                        return -ENOEXEC;
                memcpy(buf, (const uint8_t *) data->d_buf + off, len);
                return 0;
        }
        return -ENOENT;
}

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

/* Parses at most VERSION_DIGITS_MAX digits at *p. */
static bool parse_num(const char **p, const char *end, unsigned *ret) {
        unsigned v = 0, k = 0;

        while (*p < end && is_digit(**p) && k < VERSION_DIGITS_MAX) {
                v = v * 10 + (unsigned) (**p - '0');
                (*p)++;
                k++;
        }
        if (k == 0 || (*p < end && is_digit(**p)))
                return false;
        *ret = v;
        return true;
}

/* Does a version string "X.Y.Z[tag][+]" followed by a NUL start at p? Returns its length. */
static size_t match_version(const char *p, const char *end, unsigned *ret_major,
                            unsigned *ret_minor) {
        const char *q = p;
        unsigned major, minor, micro, serial;

        if (!parse_num(&q, end, &major) || q >= end || *q++ != '.')
                return 0;
        if (!parse_num(&q, end, &minor) || q >= end || *q++ != '.')
                return 0;
        if (!parse_num(&q, end, &micro) || q >= end)
                return 0;
        if (*q == 'a' || *q == 'b' || *q == 'r') {
                if (*q == 'r') {
                        if (end - q < 2 || q[1] != 'c')
                                return 0;
                        q++;
                }
                q++;
                if (!parse_num(&q, end, &serial) || q >= end)
                        return 0;
        }
        if (*q == '+')
                q++;
        if (q >= end || *q != 0)
                return 0;

        *ret_major = major;
        *ret_minor = minor;
        return (size_t) (q - p);
}

int elfsym_find_version_string(ElfFile *e, unsigned major, unsigned minor, char *buf, size_t len) {
        Elf_Scn *scn = NULL;

        if (!e || !buf || len == 0)
                return -EINVAL;

        while ((scn = elf_nextscn(e->elf, scn))) {
                GElf_Shdr shdr;
                Elf_Data *data;
                const char *name;

                if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_PROGBITS)
                        continue;
                name = elf_strptr(e->elf, e->shstrndx, shdr.sh_name);
                if (!name || strcmp(name, ".rodata") != 0)
                        continue;
                data = elf_rawdata(scn, NULL);
                if (!data || !data->d_buf)
                        continue;

                const char *d = data->d_buf, *end = d + data->d_size;
                for (const char *p = d; p < end; p++) {
                        unsigned ma, mi;
                        size_t n;

                        /* The linker merges string tails: PY_VERSION "3.9.18" may be the end of
                         * "/prefix/versions/3.9.18". So the version may follow any byte that
                         * cannot be part of it, not only a NUL. */
                        if (!is_digit(*p) || (p > d && (is_digit(p[-1]) || p[-1] == '.')))
                                continue;
                        n = match_version(p, end, &ma, &mi);
                        if (n == 0)
                                continue;
                        if ((major != 0 || minor != 0) && (ma != major || mi != minor))
                                continue;
                        if (n >= len)
                                return -ENOBUFS;
                        memcpy(buf, p, n);
                        buf[n] = 0;
                        return 0;
                }
        }
        return -ENOENT;
}
