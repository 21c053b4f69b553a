/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "pyobj.h"

/* The PEP 393 state word, identical in 3.6-3.13 (unicodeobject.h): interned:2, kind:3,
 * compact:1, ascii:1, allocated from the least significant bit by GCC on x86-64. */
#define STATE_KIND(s) (((s) >> 2) & 7u)
#define STATE_COMPACT(s) (((s) >> 5) & 1u)
#define STATE_ASCII(s) (((s) >> 6) & 1u)

/* PyLong digits are 30 bits on every 64-bit build we support (sys.int_info, sys.long_info). */
#define PYLONG_SHIFT 30
#define PYLONG_MASK ((1u << PYLONG_SHIFT) - 1)
/* Most PyLong digits converted to decimal (about 9000 decimal digits): the conversion is
 * quadratic, and a repr is cut at PYOBJ_REPR_MAX bytes anyway. */
#define PYLONG_DIGITS_MAX 1000

/* Longest type name we report (tp_name is a C string in the target). */
#define TYPE_NAME_MAX 128
/* Largest struct prefix copied in one read; offsets come from our table or, on 3.13+, from
 * the target's own debug offsets, so the size they imply is checked against this. */
#define HDR_MAX 512
/* Table entries fetched per read when scanning dict and set tables. */
#define SCAN_CHUNK 128
/* Most table slots a repr examines per dict or set: a repr shows PYOBJ_REPR_ITEMS entries,
 * and nested containers multiply the work, so a sparse or hostile table is cut short here
 * (and shown with "...") rather than scanned to PYOBJ_DICT_MAX. */
#define REPR_SCAN_MAX 4096
/* Larger dict or set tables are nonsense on a 64-bit machine we can sample. */
#define TABLE_SIZE_MAX (UINT64_C(1) << 32)

/* tp_flags bits (object.h, 3.11+ and 3.13+). */
#define TPFLAGS_INLINE_VALUES (UINT64_C(1) << 2)
#define TPFLAGS_MANAGED_DICT (UINT64_C(1) << 4)
/* Managed-dict pre-header slots (pycore_object.h): the dict (or 3.12's tagged dict-or-values)
 * lives 3 pointers before the object, 3.11's values pointer 4 pointers before it. */
#define MANAGED_DICT_OFFSET 24
#define MANAGED_VALUES_311_OFFSET 32
/* 3.13's struct _dictvalues begins {capacity, size, embedded, valid}: the byte telling whether
 * inline values are still in use. */
#define DICTVALUES_313_VALID 3

/* 2.7 Py_UNICODE width: 4 on the builds we support (pyenv, Debian and Fedora use UCS4;
 * sys.maxunicode == 1114111). */
#define PY27_UNICODE_SIZE 4

/* Python's repr of a float never needs more than 17 significant digits; this holds the longest
 * one ("-2.2250738585072014e-308") with room to spare. */
#define FLOAT_REPR_MAX 32

#define NEED(off, width) ((off) == OFF_NONE ? (size_t) 0 : (size_t) (off) + (width))

#define ld64 load_u64
#define ld32 load_u32

/* Copies the first need bytes of a remote struct into buf (HDR_MAX bytes). */
static int read_hdr(const PyObjCtx *c, uint64_t addr, uint8_t *buf, size_t need) {
        if (need == 0 || need > HDR_MAX)
                return -EBADMSG;
        if (addr == 0)
                return -EFAULT;
        return memreader_read(c->mr, addr, buf, need);
}

static bool off_ok(uint32_t off) {
        return off != OFF_NONE && off < HDR_MAX;
}

static int read_type(const PyObjCtx *c, uint64_t addr, uint64_t *ret) {
        if (addr == 0)
                return -EFAULT;
        if (!off_ok(c->o->object.ob_type))
                return -EBADMSG;
        return memreader_read_u64(c->mr, addr + c->o->object.ob_type, ret);
}

static bool type_is(const PyObjCtx *c, uint64_t type, PySym s) {
        return c->sym[s] != 0 && type == c->sym[s];
}

/* 2.7 differs from 3.x in a few layouts the offsets table does not describe (set entries,
 * repr styles); its dict model is the one place that says "this is 2.7". */
static bool is_py27(const PyObjCtx *c) {
        return c->o->dict_model == DICT_27;
}

/* ---- text: str, bytes, 2.7 str and unicode ---- */

typedef enum TextKind {
        TEXT_STR,       /* 3.x str */
        TEXT_BYTES,     /* 3.x bytes */
        TEXT_STR27,     /* 2.7 str: bytes */
        TEXT_UNICODE27, /* 2.7 unicode */
} TextKind;

typedef struct Text {
        TextKind kind;
        size_t total;   /* length the object claims, in code points or bytes */
        size_t n;       /* how many were read into cp */
        uint32_t *cp;   /* code points, or bytes for TEXT_BYTES / TEXT_STR27 */
} Text;

static void text_done(Text *t) {
        free(t->cp);
        t->cp = NULL;
}

/* Reads the units [0, max) at data (each unit_size bytes) into t->cp. */
static int text_fetch(const PyObjCtx *c, Text *t, uint64_t data, size_t unit_size, size_t max) {
        t->n = MIN(t->total, max);
        t->cp = malloc(MAX(t->n, (size_t) 1) * sizeof(uint32_t));
        if (!t->cp)
                return -ENOMEM;
        if (t->n == 0)
                return 0;
        if (data == 0)
                return -EBADMSG;

        /* Read the raw units into the front of the array, then widen in place from the end so
         * nothing is overwritten before it is used. */
        int r = memreader_read(c->mr, data, t->cp, t->n * unit_size);
        if (r < 0)
                return r;
        const uint8_t *raw = (const uint8_t *) t->cp;
        for (size_t i = t->n; i-- > 0;) {
                uint32_t v;
                if (unit_size == 1)
                        v = raw[i];
                else if (unit_size == 2) {
                        uint16_t u;
                        memcpy(&u, raw + 2 * i, 2);
                        v = u;
                } else
                        memcpy(&v, raw + 4 * i, 4);
                t->cp[i] = v;
        }
        return 0;
}

/* The bytes of a str/bytes object's header read_text() needs, for any string type of this
 * version, including ob_type: one read serves them all. */
static size_t text_hdr_size(const PyOffsets *o) {
        size_t need = MAX(NEED(o->object.ob_type, 8), NEED(o->bytes.ob_size, 8));
        need = MAX(need, NEED(o->unicode.length, 8));
        if (o->str_model == STR_BYTES_27)
                need = MAX(need, NEED(o->unicode.legacy_data, 8));
        else
                need = MAX(need, NEED(o->unicode.state, 4));
        return need;
}

/* Reads at most max units of the str/bytes object at addr, whose type is type (0: read it
 * here, in the same read as the header). -EBADMSG when it is not a string type of this
 * version. With expect (a UTF-8 length in bytes and in code points), a string of another
 * length is -ENOENT before its characters are read. On failure t holds nothing to free. */
static int read_text(const PyObjCtx *c, uint64_t addr, uint64_t type, size_t max, const size_t *expect,
                     Text *ret) {
        const PyOffsets *o = c->o;
        uint8_t hdr[HDR_MAX];
        Text t = {};
        uint64_t data;
        size_t unit;
        int64_t len;
        int r;

        if (!off_ok(o->object.ob_type))
                return -EBADMSG;
        r = read_hdr(c, addr, hdr, text_hdr_size(o));
        if (r < 0)
                return r;
        if (type == 0)
                type = ld64(hdr, o->object.ob_type);

        if (type_is(c, type, PYSYM_TYPE_BYTES)) {
                t.kind = o->str_model == STR_BYTES_27 ? TEXT_STR27 : TEXT_BYTES;
                if (o->bytes.ob_size == OFF_NONE || o->bytes.ob_sval == OFF_NONE)
                        return -EBADMSG;
                len = (int64_t) ld64(hdr, o->bytes.ob_size);
                data = addr + o->bytes.ob_sval;
                unit = 1;
        } else if (type_is(c, type, PYSYM_TYPE_STR) && o->str_model == STR_BYTES_27) {
                t.kind = TEXT_UNICODE27;
                if (o->unicode.length == OFF_NONE || o->unicode.legacy_data == OFF_NONE)
                        return -EBADMSG;
                len = (int64_t) ld64(hdr, o->unicode.length);
                data = ld64(hdr, o->unicode.legacy_data);
                unit = PY27_UNICODE_SIZE;
        } else if (type_is(c, type, PYSYM_TYPE_STR)) {
                t.kind = TEXT_STR;
                if (o->unicode.length == OFF_NONE || o->unicode.state == OFF_NONE)
                        return -EBADMSG;
                len = (int64_t) ld64(hdr, o->unicode.length);
                uint32_t state = ld32(hdr, o->unicode.state);
                unit = STATE_KIND(state);
                if (unit != 1 && unit != 2 && unit != 4)
                        return -EBADMSG;
                if (STATE_COMPACT(state)) {
                        if (STATE_ASCII(state) && unit != 1)
                                return -EBADMSG;
                        data = addr + (STATE_ASCII(state) ? o->unicode.ascii_size : o->unicode.compact_size);
                } else {
                        /* A legacy string made by the old PyUnicode_FromUnicode() API keeps
                         * its characters behind a pointer. */
                        if (o->unicode.legacy_data == OFF_NONE)
                                return -EBADMSG;
                        data = 0;
                }
        } else
                return -EBADMSG;

        if (len < 0)
                return -EBADMSG;
        t.total = (size_t) len;
        if (expect && t.total != (t.kind == TEXT_STR27 || t.kind == TEXT_BYTES ? expect[0] : expect[1]))
                return -ENOENT;
        if (t.kind == TEXT_STR && data == 0) {
                r = memreader_read_u64(c->mr, addr + o->unicode.legacy_data, &data);
                if (r < 0)
                        return r;
        }

        r = text_fetch(c, &t, data, unit, max);
        if (r < 0) {
                text_done(&t);
                return r;
        }
        *ret = t;
        return 0;
}

/* Encodes cp as UTF-8 into out (4 bytes); what UTF-8 cannot carry (surrogates, values over
 * U+10FFFF) becomes U+FFFD. Returns the byte count. */
static size_t utf8_encode(uint32_t cp, char out[static 4]) {
        if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
                cp = 0xfffd;
        if (cp < 0x80) {
                out[0] = (char) cp;
                return 1;
        }
        if (cp < 0x800) {
                out[0] = (char) (0xc0 | (cp >> 6));
                out[1] = (char) (0x80 | (cp & 0x3f));
                return 2;
        }
        if (cp < 0x10000) {
                out[0] = (char) (0xe0 | (cp >> 12));
                out[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
                out[2] = (char) (0x80 | (cp & 0x3f));
                return 3;
        }
        out[0] = (char) (0xf0 | (cp >> 18));
        out[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
        out[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
        out[3] = (char) (0x80 | (cp & 0x3f));
        return 4;
}

/* Decodes one UTF-8 sequence from the bytes b[0..n) (stored one per uint32_t); an invalid or
 * cut sequence yields U+FFFD and consumes one byte. */
static uint32_t utf8_decode(const uint32_t *b, size_t n, size_t *adv) {
        uint32_t c0 = b[0], cp, min;
        size_t len;

        *adv = 1;
        if (c0 < 0x80)
                return c0;
        if (c0 >= 0xc2 && c0 <= 0xdf)
                len = 2, cp = c0 & 0x1f, min = 0x80;
        else if (c0 >= 0xe0 && c0 <= 0xef)
                len = 3, cp = c0 & 0x0f, min = 0x800;
        else if (c0 >= 0xf0 && c0 <= 0xf4)
                len = 4, cp = c0 & 0x07, min = 0x10000;
        else
                return 0xfffd;
        if (len > n)
                return 0xfffd;
        for (size_t i = 1; i < len; i++) {
                if ((b[i] & 0xc0) != 0x80)
                        return 0xfffd;
                cp = cp << 6 | (b[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0xfffd;
        *adv = len;
        return cp;
}

/* Writes text as NUL-terminated UTF-8 into buf; -ENOBUFS when it did not fit (cut on a
 * character boundary). 2.7 str bytes are taken as UTF-8, invalid sequences replaced. A NUL
 * inside the text becomes U+FFFD: callers take buf as a C string, which would end there. */
static int text_to_utf8(const Text *t, char *buf, size_t len) {
        size_t n = 0;

        if (len == 0)
                return -ENOBUFS;
        for (size_t i = 0; i < t->n;) {
                char u[4];
                size_t adv = 1, l;
                uint32_t cp;

                if (t->kind == TEXT_STR27 || t->kind == TEXT_BYTES)
                        cp = utf8_decode(t->cp + i, t->n - i, &adv);
                else
                        cp = t->cp[i];
                l = utf8_encode(cp ?: 0xfffd, u);
                if (n + l > len - 1) {
                        buf[n] = 0;
                        return -ENOBUFS;
                }
                memcpy(buf + n, u, l);
                n += l;
                i += adv;
        }
        buf[n] = 0;
        return (int) n;
}

int pyobj_read_str(const PyObjCtx *c, uint64_t addr, char *buf, size_t len) {
        _cleanup_(text_done) Text t = {};
        int r;

        if (len > 0)
                buf[0] = 0;
        r = read_text(c, addr, 0, PYOBJ_STR_MAX, NULL, &t);
        if (r < 0)
                return r;
        if (t.kind == TEXT_BYTES)
                return -EBADMSG;
        return text_to_utf8(&t, buf, len);
}

int pyobj_read_bytes(const PyObjCtx *c, uint64_t addr, size_t max, uint8_t **ret, size_t *ret_len) {
        const PyOffsets *o = c->o;
        uint8_t hdr[HDR_MAX];
        uint64_t type;
        int r;

        r = read_type(c, addr, &type);
        if (r < 0)
                return r;
        if (!type_is(c, type, PYSYM_TYPE_BYTES) || o->bytes.ob_sval == OFF_NONE)
                return -EBADMSG;
        r = read_hdr(c, addr, hdr, NEED(o->bytes.ob_size, 8));
        if (r < 0)
                return r;
        int64_t n = (int64_t) ld64(hdr, o->bytes.ob_size);
        if (n < 0 || (uint64_t) n > max || (uint64_t) n > MEMREADER_MAX_READ)
                return -EBADMSG;

        _cleanup_free_ uint8_t *data = malloc(MAX((size_t) n, (size_t) 1));
        if (!data)
                return -ENOMEM;
        r = memreader_read(c->mr, addr + o->bytes.ob_sval, data, (size_t) n);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(data);
        *ret_len = (size_t) n;
        return 0;
}

static int type_name_of_type(const PyObjCtx *c, uint64_t type, char *buf, size_t len) {
        uint64_t name;
        int r;

        if (len == 0)
                return -ENOBUFS;
        buf[0] = 0;
        if (!off_ok(c->o->type.tp_name) || type == 0)
                return -EBADMSG;
        r = memreader_read_u64(c->mr, type + c->o->type.tp_name, &name);
        if (r < 0)
                return r;
        if (name == 0)
                return -EBADMSG;
        char raw[TYPE_NAME_MAX + 1];
        r = memreader_read_cstr(c->mr, name, raw, TYPE_NAME_MAX);
        if (r < 0)
                return r;

        /* tp_name is target memory like everything else: re-encode it as UTF-8, with U+FFFD
         * for invalid sequences and '?' for control characters that could upset a log. */
        uint32_t bytes[TYPE_NAME_MAX];
        size_t nb = (size_t) r, n = 0;
        for (size_t i = 0; i < nb; i++)
                bytes[i] = (uint8_t) raw[i];
        for (size_t i = 0; i < nb;) {
                char u[4];
                size_t adv, l;
                uint32_t cp = utf8_decode(bytes + i, nb - i, &adv);
                if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
                        cp = '?';
                l = utf8_encode(cp, u);
                if (n + l > len - 1) {
                        buf[n] = 0;
                        return -ENOBUFS;
                }
                memcpy(buf + n, u, l);
                n += l;
                i += adv;
        }
        buf[n] = 0;
        return (int) n;
}

int pyobj_type_name(const PyObjCtx *c, uint64_t addr, char *buf, size_t len) {
        uint64_t type;
        int r;

        if (len > 0)
                buf[0] = 0;
        r = read_type(c, addr, &type);
        if (r < 0)
                return r;
        return type_name_of_type(c, type, buf, len);
}

/* ---- ints ---- */

typedef struct LongHdr {
        bool negative;
        uint64_t ndigits;
} LongHdr;

static int read_long_hdr(const PyObjCtx *c, uint64_t addr, LongHdr *ret) {
        const PyOffsets *o = c->o;
        uint8_t hdr[HDR_MAX];
        int r;

        if (o->pylong.digits == OFF_NONE)
                return -EBADMSG;
        r = read_hdr(c, addr, hdr, NEED(o->pylong.lv_tag, 8));
        if (r < 0)
                return r;
        uint64_t tag = ld64(hdr, o->pylong.lv_tag);
        if (o->long_model == LONG_LV_TAG) {
                /* 3.12+ (longintrepr.h): sign bits 0 positive, 1 zero, 2 negative. */
                unsigned sign = tag & 3;
                if (sign == 3)
                        return -EBADMSG;
                /* As below: a real int has far fewer than 2^31 digits; more is garbage (a
                 * torn read, or not an int), and would overflow the size estimates. */
                if (tag >> 3 > INT32_MAX)
                        return -EBADMSG;
                *ret = (LongHdr) { .negative = sign == 2, .ndigits = sign == 1 ? 0 : tag >> 3 };
        } else {
                int64_t s = (int64_t) tag;
                /* |ob_size| of a real int is tiny; rejecting huge values also keeps the
                 * negation below defined. */
                if (s < -(int64_t) INT32_MAX || s > (int64_t) INT32_MAX)
                        return -EBADMSG;
                *ret = (LongHdr) { .negative = s < 0, .ndigits = (uint64_t) (s < 0 ? -s : s) };
        }
        return 0;
}

static int read_long_digits(const PyObjCtx *c, uint64_t addr, size_t n, uint32_t *digits) {
        int r = memreader_read(c->mr, addr + c->o->pylong.digits, digits, n * sizeof(uint32_t));
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                if (digits[i] > PYLONG_MASK)
                        return -EBADMSG;
        return 0;
}

static int read_long_i64(const PyObjCtx *c, uint64_t addr, int64_t *ret) {
        uint32_t digits[3];
        LongHdr h;
        int r;

        r = read_long_hdr(c, addr, &h);
        if (r < 0)
                return r;
        if (h.ndigits > 3)
                return -ERANGE;
        r = read_long_digits(c, addr, h.ndigits, digits);
        if (r < 0)
                return r;

        unsigned __int128 v = 0;
        for (size_t i = h.ndigits; i-- > 0;)
                v = v << PYLONG_SHIFT | digits[i];
        if (h.negative) {
                if (v > (unsigned __int128) INT64_MAX + 1)
                        return -ERANGE;
                *ret = v == (unsigned __int128) INT64_MAX + 1 ? INT64_MIN : -(int64_t) v;
        } else {
                if (v > INT64_MAX)
                        return -ERANGE;
                *ret = (int64_t) v;
        }
        return 0;
}

int pyobj_read_int(const PyObjCtx *c, uint64_t addr, int64_t *ret) {
        uint64_t type;
        int r;

        r = read_type(c, addr, &type);
        if (r < 0)
                return r;
        if (type_is(c, type, PYSYM_TYPE_INT)) {
                /* 2.7 PyIntObject: a C long. */
                if (c->o->pyint.ob_ival == OFF_NONE)
                        return -EBADMSG;
                return memreader_read(c->mr, addr + c->o->pyint.ob_ival, ret, sizeof(*ret));
        }
        if (type_is(c, type, PYSYM_TYPE_LONG) || type_is(c, type, PYSYM_TYPE_BOOL)) {
                /* 2.7's bool is a PyIntObject, 3.x's a PyLongObject. */
                if (is_py27(c) && type_is(c, type, PYSYM_TYPE_BOOL))
                        return memreader_read(c->mr, addr + c->o->pyint.ob_ival, ret, sizeof(*ret));
                return read_long_i64(c, addr, ret);
        }
        return -EBADMSG;
}

/* ---- bounded output for repr ---- */

typedef struct Out {
        char buf[PYOBJ_REPR_MAX + 1];
        size_t n;
        bool full;      /* something was dropped: the result gets "..." */
} Out;

static void out_put(Out *o, const char *s, size_t l) {
        if (o->full)
                return;
        size_t room = PYOBJ_REPR_MAX - o->n;
        if (l > room) {
                memcpy(o->buf + o->n, s, room);
                o->n += room;
                o->full = true;
                return;
        }
        memcpy(o->buf + o->n, s, l);
        o->n += l;
}

static void out_puts(Out *o, const char *s) {
        out_put(o, s, strlen(s));
}

_printf_(2, 3) static void out_printf(Out *o, const char *fmt, ...) {
        char tmp[TYPE_NAME_MAX + 64];
        va_list ap;

        va_start(ap, fmt);
        int k = vsnprintf(tmp, sizeof(tmp), fmt, ap);
        va_end(ap);
        if (k > 0)
                out_put(o, tmp, MIN((size_t) k, sizeof(tmp) - 1));
}

/* Finishes the output: a cut one loses any partial UTF-8 character at its end and gains
 * "...". Copies into buf (size len); returns the length or -ENOBUFS. */
static int out_finish(Out *o, char *buf, size_t len) {
        if (o->full) {
                size_t j = o->n;
                while (j > 0 && ((uint8_t) o->buf[j - 1] & 0xc0) == 0x80)
                        j--;
                if (j > 0 && (uint8_t) o->buf[j - 1] >= 0x80) {
                        uint8_t lead = (uint8_t) o->buf[j - 1];
                        size_t want = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
                        if (j - 1 + want > o->n)
                                o->n = j - 1;
                }
        }

        if (len == 0)
                return -ENOBUFS;
        const char *tail = o->full ? "..." : "";
        size_t total = o->n + strlen(tail);
        if (total < len) {
                memcpy(buf, o->buf, o->n);
                memcpy(buf + o->n, tail, strlen(tail) + 1);
                return (int) total;
        }

        /* The caller's buffer is smaller than the repr: cut again, on a character boundary. */
        size_t k = len - 1;
        while (k > 0 && ((uint8_t) o->buf[k] & 0xc0) == 0x80)
                k--;
        memcpy(buf, o->buf, k);
        buf[k] = 0;
        return -ENOBUFS;
}

/* ---- repr of text ---- */

/* Ranges of non-ASCII code points Python's str.isprintable() rejects that matter in practice:
 * separators (Zs, Zl, Zp), format characters (Cf), surrogates, private use and the last two
 * planes. The full rule needs the Unicode database (unassigned code points are not printable
 * either); we do not carry it, so unassigned code points are shown as they are. */
static const struct {
        uint32_t lo, hi;
} nonprintable[] = {
        { 0x007f, 0x00a0 }, { 0x00ad, 0x00ad }, { 0x0600, 0x0605 }, { 0x061c, 0x061c },
        { 0x06dd, 0x06dd }, { 0x070f, 0x070f }, { 0x08e2, 0x08e2 }, { 0x1680, 0x1680 },
        { 0x180e, 0x180e }, { 0x2000, 0x200f }, { 0x2028, 0x202f }, { 0x205f, 0x2064 },
        { 0x2066, 0x206f }, { 0x3000, 0x3000 }, { 0xd800, 0xf8ff }, { 0xfeff, 0xfeff },
        { 0xfff9, 0xfffb }, { 0x110bd, 0x110bd }, { 0x110cd, 0x110cd }, { 0x13430, 0x1343f },
        { 0x1bca0, 0x1bca3 }, { 0x1d173, 0x1d17a }, { 0xe0001, 0xe0001 }, { 0xe0020, 0xe007f },
        { 0xf0000, 0x10ffff },
};

static bool cp_printable(uint32_t cp) {
        if (cp < 0x20 || cp > 0x10ffff)
                return false;
        if ((cp & 0xfffe) == 0xfffe) /* noncharacters U+xxFFFE, U+xxFFFF */
                return false;
        for (size_t i = 0; i < ELEMENTSOF(nonprintable); i++)
                if (cp >= nonprintable[i].lo && cp <= nonprintable[i].hi)
                        return false;
        return true;
}

static void repr_text(Out *o, const Text *t) {
        bool has_squote = false, has_dquote = false;
        char quote;

        for (size_t i = 0; i < t->n; i++) {
                has_squote |= t->cp[i] == '\'';
                has_dquote |= t->cp[i] == '"';
        }
        quote = has_squote && !has_dquote ? '"' : '\'';

        if (t->kind == TEXT_BYTES)
                out_puts(o, "b");
        else if (t->kind == TEXT_UNICODE27)
                out_puts(o, "u");
        out_put(o, &quote, 1);

        for (size_t i = 0; i < t->n && !o->full; i++) {
                uint32_t cp = t->cp[i];
                char u[4];

                if (cp == (uint32_t) quote || cp == '\\') {
                        out_puts(o, "\\");
                        out_put(o, (const char[]) { (char) cp }, 1);
                } else if (cp == '\t')
                        out_puts(o, "\\t");
                else if (cp == '\n')
                        out_puts(o, "\\n");
                else if (cp == '\r')
                        out_puts(o, "\\r");
                else if (cp >= 0x20 && cp < 0x7f)
                        out_put(o, (const char[]) { (char) cp }, 1);
                else if (t->kind == TEXT_STR && cp >= 0x80 && cp_printable(cp))
                        out_put(o, u, utf8_encode(cp, u));
                else if (cp <= 0xff)
                        out_printf(o, "\\x%02x", (unsigned) cp);
                else if (cp <= 0xffff)
                        out_printf(o, "\\u%04x", (unsigned) cp);
                else
                        out_printf(o, "\\U%08x", (unsigned) cp);
        }
        if (t->n < t->total)
                o->full = true;
        out_put(o, &quote, 1);
}

/* ---- repr of ints ---- */

static int repr_long(Out *o, const PyObjCtx *c, uint64_t addr, bool suffix_l) {
        LongHdr h;
        int r;

        r = read_long_hdr(c, addr, &h);
        if (r < 0)
                return r;
        if (h.ndigits == 0) {
                out_puts(o, suffix_l ? "0L" : "0");
                return 0;
        }
        if (h.ndigits > PYLONG_DIGITS_MAX) {
                /* Too big to convert exactly within our budget: say how big it is. */
                out_printf(o, "<%sint of about %" PRIu64 " digits>", h.negative ? "negative " : "",
                           (uint64_t) ((double) h.ndigits * PYLONG_SHIFT * 0.30102999566398) + 1);
                o->full = true;
                return 0;
        }

        size_t n = (size_t) h.ndigits;
        _cleanup_free_ uint32_t *digits = malloc(n * sizeof(uint32_t));
        /* 2^30 is a little over 10^9, so each base-2^30 digit needs at most a little over one
         * base-10^9 limb. */
        size_t cap = n + n / 64 + 2, m = 0;
        _cleanup_free_ uint32_t *limbs = malloc(cap * sizeof(uint32_t));
        if (!digits || !limbs)
                return -ENOMEM;
        r = read_long_digits(c, addr, n, digits);
        if (r < 0)
                return r;

        for (size_t i = n; i-- > 0;) {
                uint64_t carry = digits[i];
                for (size_t j = 0; j < m; j++) {
                        uint64_t x = ((uint64_t) limbs[j] << PYLONG_SHIFT) + carry;
                        limbs[j] = (uint32_t) (x % 1000000000u);
                        carry = x / 1000000000u;
                }
                while (carry > 0 && m < cap) {
                        limbs[m++] = (uint32_t) (carry % 1000000000u);
                        carry /= 1000000000u;
                }
        }
        /* Unnormalized digits (leading zeros, all zero) are not what CPython makes, but are
         * harmless: print the value they hold. */
        if (m == 0)
                limbs[m++] = 0;
        while (m > 1 && limbs[m - 1] == 0)
                m--;

        if (h.negative)
                out_puts(o, "-");
        out_printf(o, "%" PRIu32, limbs[m - 1]);
        for (size_t j = m - 1; j-- > 0 && !o->full;)
                out_printf(o, "%09" PRIu32, limbs[j]);
        if (suffix_l)
                out_puts(o, "L");
        return 0;
}

/* ---- floats ---- */

void pyobj_format_float(double v, char *buf, size_t len) {
        char tmp[FLOAT_REPR_MAX], digits[24], out[FLOAT_REPR_MAX + 24];
        size_t nd = 0, k = 0;
        int exp10;

        if (len == 0)
                return;
        if (isnan(v)) {
                snprintf(buf, len, "nan");
                return;
        }
        if (isinf(v)) {
                snprintf(buf, len, v < 0 ? "-inf" : "inf");
                return;
        }

        /* The shortest correctly rounded digit string that reads back as v: what Python's repr
         * (dtoa mode 0) produces. */
        for (int p = 1; p <= 17; p++) {
                snprintf(tmp, sizeof(tmp), "%.*e", p - 1, v);
                if (strtod(tmp, NULL) == v)
                        break;
        }

        /* tmp is "[-]d[.ddd]e[+-]xx": split it into digits and a decimal exponent. */
        const char *s = tmp;
        if (*s == '-') {
                out[k++] = '-';
                s++;
        }
        for (; *s && *s != 'e'; s++)
                if (*s >= '0' && *s <= '9' && nd < sizeof(digits))
                        digits[nd++] = *s;
        exp10 = *s == 'e' ? atoi(s + 1) : 0;
        while (nd > 1 && digits[nd - 1] == '0')
                nd--;

        /* Python's float_repr_style 'short': fixed notation for 1e-4 <= |v| < 1e16, else
         * scientific with at least two exponent digits. */
        if (exp10 >= -4 && exp10 < 16) {
                if (exp10 >= 0) {
                        for (int i = 0; i <= exp10; i++)
                                out[k++] = (size_t) i < nd ? digits[i] : '0';
                        out[k++] = '.';
                        if (nd > (size_t) exp10 + 1)
                                for (size_t i = (size_t) exp10 + 1; i < nd; i++)
                                        out[k++] = digits[i];
                        else
                                out[k++] = '0';
                } else {
                        out[k++] = '0';
                        out[k++] = '.';
                        for (int i = 0; i < -exp10 - 1; i++)
                                out[k++] = '0';
                        for (size_t i = 0; i < nd; i++)
                                out[k++] = digits[i];
                }
                out[k] = 0;
        } else {
                out[k++] = digits[0];
                if (nd > 1) {
                        out[k++] = '.';
                        for (size_t i = 1; i < nd; i++)
                                out[k++] = digits[i];
                }
                snprintf(out + k, sizeof(out) - k, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
        }
        snprintf(buf, len, "%s", out);
}

/* ---- dicts ---- */

/* Visits the entries [0, nentries) of a 3.6+ keys object: combined (values in the entries) or
 * split (values[i] of the values array at values, 0 for combined). */
static int keys_foreach(const PyObjCtx *c, uint64_t keys, uint64_t values, uint64_t max_slots, bool *capped,
                        pyobj_dict_cb cb, void *userdata) {
        const PyOffsets *o = c->o;
        uint8_t hdr[HDR_MAX];
        uint64_t size, nentries, entries, entry_size = 24, key_off = 8, value_off = 16;
        int r;

        if (!off_ok(o->dict.dk_indices))
                return -EBADMSG;
        r = read_hdr(c, keys, hdr, o->dict.dk_indices);
        if (r < 0)
                return r;
        if (NEED(o->dict.dk_nentries, 8) > o->dict.dk_indices || NEED(o->dict.dk_size, 8) > o->dict.dk_indices)
                return -EBADMSG;
        nentries = ld64(hdr, o->dict.dk_nentries);

        if (o->dict_model == DICT_311) {
                if (NEED(o->dict.dk_log2_index_bytes, 1) > o->dict.dk_indices ||
                    NEED(o->dict.dk_kind, 1) > o->dict.dk_indices)
                        return -EBADMSG;
                unsigned log2_size = hdr[o->dict.dk_size];
                unsigned log2_index_bytes = hdr[o->dict.dk_log2_index_bytes];
                unsigned kind = hdr[o->dict.dk_kind];
                /* Index entries are 1 to 8 bytes wide, so the index table is 2^log2_size to
                 * 2^(log2_size + 3) bytes. */
                /* The shared empty keys (Py_EMPTY_KEYS) have one slot: log2_size 0. */
                if (log2_size > 32 || log2_index_bytes < log2_size ||
                    log2_index_bytes > log2_size + 3 || kind > 2)
                        return -EBADMSG;
                size = UINT64_C(1) << log2_size;
                entries = keys + o->dict.dk_indices + (UINT64_C(1) << log2_index_bytes);
                if (kind != 0) {
                        /* DICT_KEYS_UNICODE / DICT_KEYS_SPLIT: entries are {key, value}. */
                        entry_size = 16;
                        key_off = 0;
                        value_off = 8;
                }
        } else {
                size = ld64(hdr, o->dict.dk_size);
                /* size 1: the shared Py_EMPTY_KEYS of an empty dict (3.6-3.10). */
                if (size < 1 || size > TABLE_SIZE_MAX || (size & (size - 1)) != 0)
                        return -EBADMSG;
                unsigned ix = size <= 0xff ? 1 : size <= 0xffff ? 2 : size <= 0xffffffff ? 4 : 8;
                entries = keys + o->dict.dk_indices + size * ix;
        }
        if (nentries > size)
                return -EBADMSG;
        if (nentries > max_slots) {
                nentries = max_slots;
                *capped = true;
        }
        if (values != 0 && o->dict.values_values == OFF_NONE)
                return -EBADMSG;

        for (uint64_t i = 0; i < nentries; i += SCAN_CHUNK) {
                uint8_t ebuf[SCAN_CHUNK * 24];
                uint64_t vbuf[SCAN_CHUNK];
                size_t k = (size_t) MIN((uint64_t) SCAN_CHUNK, nentries - i);

                r = memreader_read(c->mr, entries + i * entry_size, ebuf, k * entry_size);
                if (r < 0)
                        return r;
                if (values != 0) {
                        r = memreader_read(c->mr, values + o->dict.values_values + i * 8, vbuf, k * 8);
                        if (r < 0)
                                return r;
                }
                for (size_t j = 0; j < k; j++) {
                        uint64_t key = ld64(ebuf, (uint32_t) (j * entry_size + key_off));
                        uint64_t value = values != 0 ? vbuf[j] : ld64(ebuf, (uint32_t) (j * entry_size + value_off));
                        /* Deleted entries have NULL key or value. */
                        if (key == 0 || value == 0)
                                continue;
                        r = cb(userdata, key, value);
                        if (r != 0)
                                return r;
                }
        }
        return 0;
}

static int dict27_foreach(const PyObjCtx *c, const uint8_t *hdr, uint64_t max_slots, bool *capped,
                          pyobj_dict_cb cb, void *userdata) {
        const PyOffsets *o = c->o;
        uint64_t mask = ld64(hdr, o->dict.dk_size), table = ld64(hdr, o->dict.ma_keys);
        int r;

        if (mask < 7 || mask >= TABLE_SIZE_MAX || (mask & (mask + 1)) != 0 || table == 0)
                return -EBADMSG;
        uint64_t slots = MIN(mask + 1, max_slots);
        if (slots < mask + 1)
                *capped = true;

        for (uint64_t i = 0; i < slots; i += SCAN_CHUNK) {
                uint64_t ebuf[SCAN_CHUNK * 3];
                size_t k = (size_t) MIN((uint64_t) SCAN_CHUNK, slots - i);

                r = memreader_read(c->mr, table + i * 24, ebuf, k * 24);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < k; j++) {
                        /* {me_hash, me_key, me_value}: empty slots have no key, deleted ones
                         * the dummy key and no value. */
                        uint64_t key = ebuf[3 * j + 1], value = ebuf[3 * j + 2];
                        if (key == 0 || value == 0)
                                continue;
                        r = cb(userdata, key, value);
                        if (r != 0)
                                return r;
                }
        }
        return 0;
}

/* Visits the live entries among the first max_slots of the dict's table; *capped is set when
 * the table has more. */
static int dict_foreach(const PyObjCtx *c, uint64_t dict, uint64_t max_slots, bool *capped,
                        pyobj_dict_cb cb, void *userdata) {
        const PyOffsets *o = c->o;
        uint8_t hdr[HDR_MAX];
        int r;

        if (!off_ok(o->dict.ma_keys) || !off_ok(o->dict.dk_size))
                return -EBADMSG;
        if (o->dict_model == DICT_27) {
                r = read_hdr(c, dict, hdr, MAX(NEED(o->dict.ma_keys, 8), NEED(o->dict.dk_size, 8)));
                if (r < 0)
                        return r;
                return dict27_foreach(c, hdr, max_slots, capped, cb, userdata);
        }

        if (!off_ok(o->dict.ma_values))
                return -EBADMSG;
        r = read_hdr(c, dict, hdr, MAX(NEED(o->dict.ma_keys, 8), NEED(o->dict.ma_values, 8)));
        if (r < 0)
                return r;
        uint64_t keys = ld64(hdr, o->dict.ma_keys);
        if (keys == 0)
                return -EBADMSG;
        return keys_foreach(c, keys, ld64(hdr, o->dict.ma_values), max_slots, capped, cb, userdata);
}

int pyobj_dict_foreach(const PyObjCtx *c, uint64_t dict, pyobj_dict_cb cb, void *userdata) {
        bool capped = false;
        return dict_foreach(c, dict, PYOBJ_DICT_MAX, &capped, cb, userdata);
}

typedef struct StrLookup {
        const PyObjCtx *c;
        const char *key;
        size_t expect[2];       /* the key's length in bytes and code points */
        uint64_t found;
        size_t index;   /* entries visited before the match */
} StrLookup;

/* Whether the object at addr is a str (either 2.7 string type) equal to key, whose length in
 * bytes and code points is expect. Strings of another length cost one read. */
static bool str_equals(const PyObjCtx *c, uint64_t addr, const char *key, const size_t expect[2]) {
        _cleanup_(text_done) Text t = {};
        char buf[PYOBJ_STR_MAX * 4 + 1];

        if (read_text(c, addr, 0, PYOBJ_STR_MAX, expect, &t) < 0 || t.kind == TEXT_BYTES)
                return false;
        int n = text_to_utf8(&t, buf, sizeof(buf));
        return n >= 0 && (size_t) n == expect[0] && memcmp(buf, key, expect[0]) == 0;
}

/* A UTF-8 string's length in bytes and in code points. */
static void utf8_lengths(const char *s, size_t ret[2]) {
        ret[0] = strlen(s);
        ret[1] = 0;
        for (size_t i = 0; i < ret[0]; i++)
                ret[1] += ((uint8_t) s[i] & 0xc0) != 0x80;
}

static int lookup_cb(void *userdata, uint64_t key, uint64_t value) {
        StrLookup *l = userdata;

        if (str_equals(l->c, key, l->key, l->expect)) {
                l->found = value;
                return 1;
        }
        l->index++;
        return 0;
}

int pyobj_dict_get_str(const PyObjCtx *c, uint64_t dict, const char *key, uint64_t *ret) {
        StrLookup l = { .c = c, .key = key };
        int r;

        utf8_lengths(key, l.expect);
        if (l.expect[0] > PYOBJ_STR_MAX)
                return -ENOENT;
        r = pyobj_dict_foreach(c, dict, lookup_cb, &l);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        *ret = l.found;
        return 0;
}

/* ---- attributes ---- */

typedef struct TypeInfo {
        uint64_t basicsize, flags, cached_keys;
        int64_t dictoffset;
} TypeInfo;

static int read_type_info(const PyObjCtx *c, uint64_t type, TypeInfo *ret) {
        const PyOffsets *o = c->o;
        uint8_t hdr[HDR_MAX];
        size_t need;
        int r;

        if (!off_ok(o->type.tp_basicsize) || !off_ok(o->type.tp_flags) || !off_ok(o->type.tp_dictoffset))
                return -EBADMSG;
        need = MAX(MAX(NEED(o->type.tp_basicsize, 8), NEED(o->type.tp_flags, 8)), NEED(o->type.tp_dictoffset, 8));
        /* ht_cached_keys lies past the end of a static type: it is only read for types with a
         * managed dict, which are heap types. */
        r = read_hdr(c, type, hdr, need);
        if (r < 0)
                return r;
        *ret = (TypeInfo) {
                .basicsize = ld64(hdr, o->type.tp_basicsize),
                .flags = ld64(hdr, o->type.tp_flags),
                .dictoffset = (int64_t) ld64(hdr, o->type.tp_dictoffset),
        };
        if (o->attr_model != ATTR_DICTOFFSET && (ret->flags & TPFLAGS_MANAGED_DICT)) {
                /* Read on its own: it lies beyond HDR_MAX, past the PyTypeObject. */
                if (o->type.ht_cached_keys == OFF_NONE)
                        return -EBADMSG;
                r = memreader_read_u64(c->mr, type + o->type.ht_cached_keys, &ret->cached_keys);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Looks name up among the shared keys, with the values at values (a PyDictValues). */
static int split_get(const PyObjCtx *c, uint64_t keys, uint64_t values, const char *name, uint64_t *ret) {
        StrLookup l = { .c = c, .key = name };
        int r;

        utf8_lengths(name, l.expect);
        if (l.expect[0] > PYOBJ_STR_MAX)
                return -ENOENT;

        if (keys == 0 || values == 0)
                return -ENOENT;
        bool capped = false;
        r = keys_foreach(c, keys, values, PYOBJ_DICT_MAX, &capped, lookup_cb, &l);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        *ret = l.found;
        return 0;
}

static int dict_get_nonnull(const PyObjCtx *c, uint64_t dict, const char *name, uint64_t *ret) {
        if (dict == 0)
                return -ENOENT;
        return pyobj_dict_get_str(c, dict, name, ret);
}

int pyobj_getattr(const PyObjCtx *c, uint64_t obj, const char *name, uint64_t *ret) {
        const PyOffsets *o = c->o;
        uint64_t type, p;
        TypeInfo ti;
        int r;

        r = read_type(c, obj, &type);
        if (r < 0)
                return r;
        r = read_type_info(c, type, &ti);
        if (r < 0)
                return r;

        if (o->attr_model != ATTR_DICTOFFSET && (ti.flags & TPFLAGS_MANAGED_DICT)) {
                if (obj < MANAGED_VALUES_311_OFFSET)
                        return -EFAULT;
                switch (o->attr_model) {

                case ATTR_MANAGED_311:
                        /* Values (keys shared with the type) when the instance has no dict. */
                        r = memreader_read_u64(c->mr, obj - MANAGED_VALUES_311_OFFSET, &p);
                        if (r < 0)
                                return r;
                        if (p != 0)
                                return split_get(c, ti.cached_keys, p, name, ret);
                        r = memreader_read_u64(c->mr, obj - MANAGED_DICT_OFFSET, &p);
                        if (r < 0)
                                return r;
                        return dict_get_nonnull(c, p, name, ret);

                case ATTR_MANAGED_312:
                        /* PyDictOrValues (pycore_object.h): values are stored as pointer - 1,
                         * so an odd word is values, an even one a dict. */
                        r = memreader_read_u64(c->mr, obj - MANAGED_DICT_OFFSET, &p);
                        if (r < 0)
                                return r;
                        if (p & 1)
                                return split_get(c, ti.cached_keys, p + 1, name, ret);
                        return dict_get_nonnull(c, p, name, ret);

                case ATTR_INLINE_313:
                        /* A materialized dict is authoritative (it shares the inline values
                         * while they stay valid); otherwise the inline values are. */
                        r = memreader_read_u64(c->mr, obj - MANAGED_DICT_OFFSET, &p);
                        if (r < 0)
                                return r;
                        if (p != 0)
                                return pyobj_dict_get_str(c, p, name, ret);
                        if (!(ti.flags & TPFLAGS_INLINE_VALUES))
                                return -ENOENT;
                        if (ti.basicsize == 0 || ti.basicsize > HDR_MAX * 64)
                                return -EBADMSG;
                        uint8_t valid;
                        r = memreader_read(c->mr, obj + ti.basicsize + DICTVALUES_313_VALID, &valid, 1);
                        if (r < 0)
                                return r;
                        if (!valid)
                                return -ENOENT;
                        return split_get(c, ti.cached_keys, obj + ti.basicsize, name, ret);

                default:
                        return -EBADMSG;
                }
        }

        /* The instance dict pointer at tp_dictoffset. A negative offset counts from the end of
         * a variable-sized object (int subclasses and the like): not worth the trouble. */
        if (ti.dictoffset <= 0 || ti.dictoffset > HDR_MAX * 64)
                return -ENOENT;
        r = memreader_read_u64(c->mr, obj + (uint64_t) ti.dictoffset, &p);
        if (r < 0)
                return r;
        return dict_get_nonnull(c, p, name, ret);
}

int pyobj_module_dict(const PyObjCtx *c, uint64_t module, uint64_t *ret) {
        uint64_t type, d;
        int r;

        r = read_type(c, module, &type);
        if (r < 0)
                return r;
        if (c->sym[PYSYM_TYPE_MODULE] != 0 && type != c->sym[PYSYM_TYPE_MODULE])
                return -EBADMSG;
        if (!off_ok(c->o->module.md_dict))
                return -EBADMSG;
        r = memreader_read_u64(c->mr, module + c->o->module.md_dict, &d);
        if (r < 0)
                return r;
        if (d == 0)
                return -ENOENT;
        *ret = d;
        return 0;
}

/* ---- repr ---- */

static int repr_obj(Out *o, const PyObjCtx *c, uint64_t addr, unsigned depth);

/* Renders one element; an element that cannot be read shows as "<unreadable>". */
static void repr_elem(Out *o, const PyObjCtx *c, uint64_t addr, unsigned depth) {
        size_t mark = o->n;

        if (repr_obj(o, c, addr, depth) < 0 && !o->full) {
                o->n = mark;
                out_puts(o, "<unreadable>");
        }
}

static int repr_items(Out *o, const PyObjCtx *c, uint64_t items, uint64_t n, unsigned depth) {
        uint64_t ptrs[PYOBJ_REPR_ITEMS];
        size_t k = (size_t) MIN(n, (uint64_t) PYOBJ_REPR_ITEMS);
        int r;

        if (k > 0 && items == 0)
                return -EBADMSG;
        r = memreader_read(c->mr, items, ptrs, k * sizeof(uint64_t));
        if (r < 0)
                return r;
        for (size_t i = 0; i < k && !o->full; i++) {
                if (i > 0)
                        out_puts(o, ", ");
                repr_elem(o, c, ptrs[i], depth + 1);
        }
        if (n > k)
                out_puts(o, ", ...");
        return 0;
}

static int repr_seq(Out *o, const PyObjCtx *c, uint64_t addr, bool tuple, unsigned depth) {
        const PyOffsets *o_ = c->o;
        uint32_t size_off = tuple ? o_->tuple.ob_size : o_->list.ob_size;
        uint32_t item_off = tuple ? o_->tuple.ob_item : o_->list.ob_item;
        uint8_t hdr[HDR_MAX];
        uint64_t items;
        int r;

        if (!off_ok(size_off) || !off_ok(item_off))
                return -EBADMSG;
        r = read_hdr(c, addr, hdr, MAX(NEED(size_off, 8), tuple ? 0 : NEED(item_off, 8)));
        if (r < 0)
                return r;
        int64_t n = (int64_t) ld64(hdr, size_off);
        if (n < 0)
                return -EBADMSG;
        items = tuple ? addr + item_off : ld64(hdr, item_off);

        out_puts(o, tuple ? "(" : "[");
        r = repr_items(o, c, items, (uint64_t) n, depth);
        if (r < 0)
                return r;
        if (tuple && n == 1)
                out_puts(o, ",");
        out_puts(o, tuple ? ")" : "]");
        return 0;
}

typedef struct ReprIter {
        Out *out;
        const PyObjCtx *c;
        unsigned depth;
        size_t count;
        bool more;
} ReprIter;

static int repr_dict_cb(void *userdata, uint64_t key, uint64_t value) {
        ReprIter *it = userdata;

        if (it->count >= PYOBJ_REPR_ITEMS || it->out->full) {
                it->more = true;
                return 1;
        }
        if (it->count++ > 0)
                out_puts(it->out, ", ");
        repr_elem(it->out, it->c, key, it->depth + 1);
        out_puts(it->out, ": ");
        repr_elem(it->out, it->c, value, it->depth + 1);
        return 0;
}

static int repr_dict(Out *o, const PyObjCtx *c, uint64_t addr, unsigned depth) {
        ReprIter it = { .out = o, .c = c, .depth = depth };
        int r;

        out_puts(o, "{");
        bool capped = false;
        r = dict_foreach(c, addr, REPR_SCAN_MAX, &capped, repr_dict_cb, &it);
        if (r < 0)
                return r;
        if (it.more || capped)
                out_puts(o, ", ...");
        out_puts(o, "}");
        return 0;
}

/* Whether key is 2.7's set dummy: a str "<dummy key>" left in deleted slots (setobject.c),
 * which, unlike 3.x's, keeps the deleted entry's hash. */
static bool is_set_dummy27(const PyObjCtx *c, uint64_t key) {
        static const char dummy[] = "<dummy key>";
        static const size_t expect[2] = { sizeof(dummy) - 1, sizeof(dummy) - 1 };
        return str_equals(c, key, dummy, expect);
}

static int repr_set(Out *o, const PyObjCtx *c, uint64_t addr, bool frozen, unsigned depth) {
        const PyOffsets *o_ = c->o;
        uint8_t hdr[HDR_MAX];
        size_t count = 0;
        int r;

        if (!off_ok(o_->set.used) || !off_ok(o_->set.mask) || !off_ok(o_->set.table))
                return -EBADMSG;
        r = read_hdr(c, addr, hdr, MAX(MAX(NEED(o_->set.used, 8), NEED(o_->set.mask, 8)), NEED(o_->set.table, 8)));
        if (r < 0)
                return r;
        int64_t used = (int64_t) ld64(hdr, o_->set.used);
        uint64_t mask = ld64(hdr, o_->set.mask), table = ld64(hdr, o_->set.table);
        if (used < 0 || mask >= TABLE_SIZE_MAX || (mask & (mask + 1)) != 0 || (uint64_t) used > mask + 1 || table == 0)
                return -EBADMSG;

        const char *name = frozen ? "frozenset" : "set";
        if (used == 0) {
                out_printf(o, is_py27(c) ? "%s([])" : "%s()", name);
                return 0;
        }
        if (is_py27(c))
                out_printf(o, "%s([", name);
        else if (frozen)
                out_puts(o, "frozenset({");
        else
                out_puts(o, "{");

        /* setentry is {key, hash} in 3.x, {hash, key} in 2.7. */
        size_t key_slot = is_py27(c) ? 1 : 0;
        uint64_t slots = MIN(mask + 1, (uint64_t) REPR_SCAN_MAX);
        bool more = false, capped = slots < mask + 1;
        for (uint64_t i = 0; i < slots && !more && !o->full; i += SCAN_CHUNK) {
                uint64_t ebuf[SCAN_CHUNK * 2];
                size_t k = (size_t) MIN((uint64_t) SCAN_CHUNK, slots - i);

                r = memreader_read(c->mr, table + i * 16, ebuf, k * 16);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < k; j++) {
                        uint64_t key = ebuf[2 * j + key_slot], hash = ebuf[2 * j + 1 - key_slot];
                        /* 3.x marks deleted slots with the dummy key and hash -1. */
                        if (key == 0 || (!is_py27(c) && hash == UINT64_MAX) || (is_py27(c) && is_set_dummy27(c, key)))
                                continue;
                        if (count >= PYOBJ_REPR_ITEMS || o->full) {
                                more = true;
                                break;
                        }
                        if (count++ > 0)
                                out_puts(o, ", ");
                        repr_elem(o, c, key, depth + 1);
                }
        }
        if (more || capped)
                out_puts(o, ", ...");
        out_puts(o, is_py27(c) ? "])" : frozen ? "})" : "}");
        return 0;
}

static int repr_obj(Out *o, const PyObjCtx *c, uint64_t addr, unsigned depth) {
        uint64_t type;
        int r;

        if (addr == 0)
                return -EFAULT;
        if (addr == c->sym[PYSYM_NONE]) {
                out_puts(o, "None");
                return 0;
        }
        if (addr == c->sym[PYSYM_TRUE]) {
                out_puts(o, "True");
                return 0;
        }
        if (addr == c->sym[PYSYM_FALSE]) {
                out_puts(o, "False");
                return 0;
        }

        r = read_type(c, addr, &type);
        if (r < 0)
                return r;

        if (type_is(c, type, PYSYM_TYPE_STR) || type_is(c, type, PYSYM_TYPE_BYTES)) {
                _cleanup_(text_done) Text t = {};
                r = read_text(c, addr, type, PYOBJ_STR_MAX, NULL, &t);
                if (r < 0)
                        return r;
                repr_text(o, &t);
                return 0;
        }
        if (type_is(c, type, PYSYM_TYPE_INT) || (is_py27(c) && type_is(c, type, PYSYM_TYPE_BOOL))) {
                int64_t v;
                if (c->o->pyint.ob_ival == OFF_NONE)
                        return -EBADMSG;
                r = memreader_read(c->mr, addr + c->o->pyint.ob_ival, &v, sizeof(v));
                if (r < 0)
                        return r;
                if (type_is(c, type, PYSYM_TYPE_BOOL))
                        out_puts(o, v ? "True" : "False");
                else
                        out_printf(o, "%" PRIi64, v);
                return 0;
        }
        if (type_is(c, type, PYSYM_TYPE_BOOL)) {
                int64_t v;
                r = read_long_i64(c, addr, &v);
                if (r < 0)
                        return r;
                out_puts(o, v ? "True" : "False");
                return 0;
        }
        if (type_is(c, type, PYSYM_TYPE_LONG))
                return repr_long(o, c, addr, is_py27(c));
        if (type_is(c, type, PYSYM_TYPE_FLOAT)) {
                char fb[FLOAT_REPR_MAX];
                double v;
                if (c->o->pyfloat.ob_fval == OFF_NONE)
                        return -EBADMSG;
                r = memreader_read(c->mr, addr + c->o->pyfloat.ob_fval, &v, sizeof(v));
                if (r < 0)
                        return r;
                pyobj_format_float(v, fb, sizeof(fb));
                out_puts(o, fb);
                return 0;
        }

        bool is_list = type_is(c, type, PYSYM_TYPE_LIST), is_tuple = type_is(c, type, PYSYM_TYPE_TUPLE),
             is_dict = type_is(c, type, PYSYM_TYPE_DICT), is_set = type_is(c, type, PYSYM_TYPE_SET),
             is_frozen = type_is(c, type, PYSYM_TYPE_FROZENSET);
        if (is_list || is_tuple || is_dict || is_set || is_frozen) {
                /* Past the depth limit a container is only hinted at; this also ends the
                 * descent into containers that contain themselves. */
                if (depth >= PYOBJ_REPR_DEPTH) {
                        out_puts(o, "...");
                        return 0;
                }
                if (is_list || is_tuple)
                        return repr_seq(o, c, addr, is_tuple, depth);
                if (is_dict)
                        return repr_dict(o, c, addr, depth);
                return repr_set(o, c, addr, is_frozen, depth);
        }

        char name[TYPE_NAME_MAX + 1];
        r = type_name_of_type(c, type, name, sizeof(name));
        if (r < 0)
                return r;
        out_printf(o, "<%s at 0x%" PRIx64 ">", name, addr);
        return 0;
}

int pyobj_repr(const PyObjCtx *c, uint64_t addr, char *buf, size_t len) {
        _cleanup_free_ Out *o = calloc(1, sizeof(Out));
        int r;

        if (!o)
                return -ENOMEM;
        r = repr_obj(o, c, addr, 0);
        if (r < 0) {
                if (len > 0)
                        snprintf(buf, len, "<unreadable>");
                return r;
        }
        return out_finish(o, buf, len);
}
