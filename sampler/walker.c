/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "linetable.h"
#include "macro.h"
#include "pyobj.h"
#include "walker.h"

/* _PyInterpreterFrame.owner values (Include/internal/pycore_frame.h, 3.11+). */
#define FRAME_OWNED_BY_GENERATOR 1
#define FRAME_OWNED_BY_CSTACK 3   /* 3.12+: the shim frame at the base of each C call */
/* co_localspluskinds bits (Include/internal/pycore_code.h, 3.11+). */
#define CO_FAST_LOCAL 0x20
#define CO_FAST_CELL 0x40
#define CO_FAST_FREE 0x80

/* Bytes copied per struct read: large enough for every layout row's "size" fields. */
#define STRUCT_BUF 1024

typedef struct CodeInfo {
        uint64_t addr;
        char *name, *qualname, *filename;
        int firstlineno;
        uint8_t *linetable;
        size_t linetable_len;
        uint64_t code_start;          /* remote address of co_code_adaptive (3.11+) */
        uint64_t firsttraceable;      /* in bytes from code_start (3.11+) */
        uint64_t varnames;            /* remote tuple of local names */
        uint64_t kinds;               /* remote bytes co_localspluskinds (3.11+) */
        int nlocals;
        /* Local names, decoded on first use by a --locals walk. */
        bool names_loaded;
        char **local_names;           /* n_local_names entries, NULL where not shown */
        uint32_t n_local_names;
        /* The last (offset, line) asked: a sampled frame often sits on the same instruction. */
        int64_t memo_addr;
        int memo_line;
        /* What identified this code object when it was decoded: checked again, in one batched
         * read per sample, against what lives at addr now (see cache_validate()). */
        uint64_t sig_name, sig_filename, sig_linetable;
        int32_t sig_firstlineno;
        uint64_t checked;             /* the sample generation it was last known good in */
} CodeInfo;

typedef struct StackChunk {
        uint64_t addr;
        size_t len, cap;
        uint8_t *buf;
} StackChunk;

typedef struct ThreadName {
        uint64_t ident;
        char *name;
} ThreadName;

struct Walker {
        MemReader *mr;
        const PyOffsets *o;
        uint64_t sym[_PYSYM_MAX];
        PyObjCtx ctx;
        uint64_t errors;

        CodeInfo **cache;            /* open addressing, cache_slots (a power of two) */
        size_t cache_slots;
        size_t cache_used;

        ThreadName *names;
        size_t n_names;

        uint64_t generation;          /* samples taken */
        CodeInfo **used;              /* cached entries used by this sample, to validate */
        size_t n_used;
        uint8_t *validate_buf;        /* WALKER_VALIDATE_BATCH code-object prefixes */
        MemRegion *validate_regions;

        /* 3.11+: copies of the current thread's data-stack chunks, where its frames live, so
         * a whole stack costs a read or two instead of one per frame. */
        StackChunk chunks[WALKER_MAX_CHUNKS];
        size_t n_chunks;
        bool chunk_chain_loaded;
        uint64_t chunk_chain_next;   /* previous chunk of the last one loaded */

        char strbuf[PYOBJ_STR_MAX + 1];
        char reprbuf[PYOBJ_REPR_MAX + 64];
};

static int frame_read(Walker *w, uint64_t addr, void *buf, size_t len);

/* Brent's cycle detection, incremental: O(1) memory, finds any cycle within a few laps. */
typedef struct CycleCheck {
        uint64_t tortoise;
        uint64_t power, steps;
} CycleCheck;

static void cycle_init(CycleCheck *c, uint64_t start) {
        *c = (CycleCheck) { .tortoise = start, .power = 1, .steps = 0 };
}

static bool cycle_seen(CycleCheck *c, uint64_t addr) {
        if (addr == c->tortoise)
                return true;
        if (++c->steps == c->power) {
                c->tortoise = addr;
                c->power *= 2;
                c->steps = 0;
        }
        return false;
}

#define get_ptr load_u64
#define get_i32(buf, off) ((int32_t) load_u32(buf, off))

static bool fits(uint32_t off, size_t width, uint32_t size) {
        return off != OFF_NONE && (uint64_t) off + width <= size && size <= STRUCT_BUF;
}

/* ---- code object cache ---------------------------------------------------------------- */

static CodeInfo *codeinfo_free(CodeInfo *ci) {
        if (!ci)
                return NULL;
        free(ci->name);
        free(ci->qualname);
        free(ci->filename);
        free(ci->linetable);
        for (uint32_t i = 0; i < ci->n_local_names; i++)
                free(ci->local_names[i]);
        free(ci->local_names);
        free(ci);
        return NULL;
}

static void cache_flush(Walker *w) {
        for (size_t i = 0; i < w->cache_slots; i++)
                w->cache[i] = codeinfo_free(w->cache[i]);
        w->cache_used = 0;
}

static size_t cache_slot(uint64_t addr, size_t slots) {
        /* Code objects are 8-aligned; mix the bits so neighbours spread. */
        uint64_t h = addr * 0x9E3779B97F4A7C15ULL;
        return (size_t) (h >> 40) & (slots - 1);
}

static CodeInfo *cache_get(Walker *w, uint64_t addr) {
        size_t mask = w->cache_slots - 1;
        for (size_t i = cache_slot(addr, w->cache_slots), n = 0; n < w->cache_slots; n++, i = (i + 1) & mask) {
                CodeInfo *ci = w->cache[i];
                if (!ci)
                        return NULL;
                if (ci->addr == addr)
                        return ci;
        }
        return NULL;
}

/* Frames of the snapshot being filled point into cached entries, so the cache is flushed
 * only between samples (walker_sample), never here; a sample that fills it fails. */
/* Doubles the table (a program's code objects number in the hundreds or thousands: most
 * targets never need the maximum). Entries move; they are not freed. */
static int cache_grow(Walker *w) {
        size_t slots = w->cache_slots * 2;
        CodeInfo **n = calloc(slots, sizeof(CodeInfo *));
        CodeInfo **used = reallocarray(w->used, slots, sizeof(CodeInfo *));
        if (!n || !used) {
                free(n);
                if (used)
                        w->used = used;
                return -ENOMEM;
        }
        w->used = used;
        for (size_t i = 0; i < w->cache_slots; i++) {
                CodeInfo *ci = w->cache[i];
                if (!ci)
                        continue;
                size_t j = cache_slot(ci->addr, slots);
                while (n[j])
                        j = (j + 1) & (slots - 1);
                n[j] = ci;
        }
        free(w->cache);
        w->cache = n;
        w->cache_slots = slots;
        return 0;
}

static int cache_put(Walker *w, CodeInfo *ci) {
        if (w->cache_used + 1 > w->cache_slots / 2 && w->cache_slots < WALKER_CODE_CACHE_SLOTS) {
                int r = cache_grow(w);
                if (r < 0)
                        return r;
        }
        if (w->cache_used >= w->cache_slots - 1)
                return -ENOBUFS;
        size_t i = cache_slot(ci->addr, w->cache_slots);
        while (w->cache[i])
                i = (i + 1) & (w->cache_slots - 1);
        w->cache[i] = ci;
        w->cache_used++;
        return 0;
}

static int read_str_dup(Walker *w, uint64_t addr, char **ret) {
        int r = pyobj_read_str(&w->ctx, addr, w->strbuf, sizeof(w->strbuf));
        if (r < 0 && r != -ENOBUFS)
                return r;
        char *s = strdup(w->strbuf);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int code_load(Walker *w, uint64_t addr, CodeInfo **ret) {
        const PyOffsets *o = w->o;
        uint8_t buf[STRUCT_BUF];
        int r;

        if (o->code.size > sizeof(buf) || !fits(o->code.name, 8, o->code.size) ||
            !fits(o->code.filename, 8, o->code.size) || !fits(o->code.firstlineno, 4, o->code.size) ||
            !fits(o->code.linetable, 8, o->code.size))
                return -EBADMSG;
        r = memreader_read(w->mr, addr, buf, o->code.size);
        if (r < 0)
                return r;
        /* Only a real code object is decoded: a stale or torn pointer is caught here. */
        if (w->sym[PYSYM_TYPE_CODE] && get_ptr(buf, o->object.ob_type) != w->sym[PYSYM_TYPE_CODE])
                return -EBADMSG;
        /* A freed object's first word is the allocator's free-list link (a pointer, or NULL),
         * not a reference count: under --nonblocking a frame may still point at a code object
         * that died a moment ago, whose names now point at other strings. Live counts are
         * small; 3.12+ immortal objects sit just below 2^32. */
        uint64_t refcnt = get_ptr(buf, 0);
        if (refcnt == 0 || refcnt > UINT32_MAX)
                return -EBADMSG;

        _cleanup_(freep) CodeInfo *ci = calloc(1, sizeof(CodeInfo));
        if (!ci)
                return -ENOMEM;
        ci->addr = addr;
        ci->memo_addr = INT64_MIN;
        ci->firstlineno = get_i32(buf, o->code.firstlineno);
        ci->sig_name = get_ptr(buf, o->code.name);
        ci->sig_filename = get_ptr(buf, o->code.filename);
        ci->sig_linetable = get_ptr(buf, o->code.linetable);
        ci->sig_firstlineno = ci->firstlineno;
        ci->checked = w->generation;
        r = read_str_dup(w, get_ptr(buf, o->code.name), &ci->name);
        if (r >= 0)
                r = read_str_dup(w, get_ptr(buf, o->code.filename), &ci->filename);
        if (r >= 0 && fits(o->code.qualname, 8, o->code.size))
                r = read_str_dup(w, get_ptr(buf, o->code.qualname), &ci->qualname);
        if (r >= 0)
                r = pyobj_read_bytes(&w->ctx, get_ptr(buf, o->code.linetable), WALKER_MAX_LINETABLE,
                                     &ci->linetable, &ci->linetable_len);
        if (r < 0) {
                free(ci->name);
                free(ci->filename);
                free(ci->qualname);
                free(ci->linetable);
                return r;
        }
        if (o->code.code_adaptive != OFF_NONE)
                ci->code_start = addr + o->code.code_adaptive;
        if (fits(o->code.firsttraceable, 4, o->code.size)) {
                int32_t ft = get_i32(buf, o->code.firsttraceable);
                ci->firsttraceable = ft > 0 ? (uint64_t) ft * 2 : 0;
        }
        if (fits(o->code.varnames, 8, o->code.size))
                ci->varnames = get_ptr(buf, o->code.varnames);
        if (fits(o->code.localspluskinds, 8, o->code.size))
                ci->kinds = get_ptr(buf, o->code.localspluskinds);
        ci->nlocals = fits(o->code.nlocals, 4, o->code.size) ? get_i32(buf, o->code.nlocals) : -1;

        r = cache_put(w, ci);
        if (r < 0) {
                codeinfo_free(TAKE_PTR(ci));
                return r;
        }
        *ret = TAKE_PTR(ci);
        return 0;
}

static int code_get(Walker *w, uint64_t addr, CodeInfo **ret) {
        CodeInfo *ci = cache_get(w, addr);
        if (ci) {
                /* Decoded in an earlier sample: the object may have died and another code
                 * object taken its address since. Checked at the end of this sample. */
                if (ci->checked != w->generation) {
                        ci->checked = w->generation;
                        if (w->n_used < w->cache_slots)
                                w->used[w->n_used++] = ci;
                }
                *ret = ci;
                return 0;
        }
        return code_load(w, addr, ret);
}

static int code_line(const Walker *w, CodeInfo *ci, int64_t addr) {
        if (addr == ci->memo_addr)
                return ci->memo_line;
        int line = linetable_addr2line(w->o->line_table, ci->linetable, ci->linetable_len, ci->firstlineno,
                                       addr, w->o->major >= 3);
        ci->memo_addr = addr;
        ci->memo_line = line;
        return line;
}

/* Decodes which local slots are shown, and their names: <= 3.10 the first co_nlocals names
 * of co_varnames; 3.11+ every co_localsplusnames entry whose kind is a plain local (cells and
 * free variables hold cell objects, not values, and are left out). */
static int code_load_local_names(Walker *w, CodeInfo *ci) {
        const PyOffsets *o = w->o;
        uint64_t hdr[4];
        int r;

        if (ci->names_loaded)
                return 0;
        ci->names_loaded = true;
        if (!ci->varnames || o->tuple.ob_item == OFF_NONE)
                return 0;

        r = memreader_read(w->mr, ci->varnames + o->tuple.ob_size, hdr, 8);
        if (r < 0)
                return r;
        int64_t n = (int64_t) hdr[0];
        if (n < 0 || n > 65535)
                return -EBADMSG;
        if (o->frame_model == FRAME_OBJECT && ci->nlocals >= 0)
                n = MIN(n, (int64_t) ci->nlocals);
        n = MIN(n, (int64_t) WALKER_MAX_LOCALS);
        if (n == 0)
                return 0;

        uint64_t items[WALKER_MAX_LOCALS];
        uint8_t kinds[WALKER_MAX_LOCALS];
        r = memreader_read(w->mr, ci->varnames + o->tuple.ob_item, items, (size_t) n * 8);
        if (r < 0)
                return r;
        memset(kinds, CO_FAST_LOCAL, sizeof(kinds));
        if (ci->kinds) {
                _cleanup_free_ uint8_t *k = NULL;
                size_t klen = 0;
                r = pyobj_read_bytes(&w->ctx, ci->kinds, 65536, &k, &klen);
                if (r < 0)
                        return r;
                memcpy(kinds, k, MIN(klen, (size_t) n));
        }

        ci->local_names = calloc((size_t) n, sizeof(char *));
        if (!ci->local_names)
                return -ENOMEM;
        ci->n_local_names = (uint32_t) n;
        for (int64_t i = 0; i < n; i++) {
                if (!(kinds[i] & CO_FAST_LOCAL) || (kinds[i] & (CO_FAST_CELL | CO_FAST_FREE)))
                        continue;
                r = read_str_dup(w, items[i], &ci->local_names[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int frame_add_locals(Walker *w, Snapshot *snap, size_t frame_idx, CodeInfo *ci, uint64_t slots) {
        uint64_t values[WALKER_MAX_LOCALS];
        int r;

        r = code_load_local_names(w, ci);
        if (r < 0 || ci->n_local_names == 0)
                return r;
        r = frame_read(w, slots, values, ci->n_local_names * 8);
        if (r < 0)
                return r;

        size_t first = snap->n_locals;
        for (uint32_t i = 0; i < ci->n_local_names; i++) {
                if (!ci->local_names[i] || values[i] == 0)  /* not a local, or unbound */
                        continue;
                int n = pyobj_repr(&w->ctx, values[i], w->reprbuf, sizeof(w->reprbuf));
                if (n < 0)
                        n = (int) strlen(w->reprbuf);
                const char *repr = snapshot_strndup(snap, w->reprbuf, (size_t) n);
                StackLocal *l = snapshot_add_local(snap);
                if (!repr || !l)
                        return -ENOMEM;
                l->name = ci->local_names[i];
                l->repr = repr;
        }
        snap->frames[frame_idx].first_local = first;
        snap->frames[frame_idx].n_locals = snap->n_locals - first;
        return 0;
}

static int add_frame(Walker *w, Snapshot *snap, CodeInfo *ci, int line, unsigned flags, uint64_t slots) {
        StackFrame *f = snapshot_add_frame(snap);
        if (!f)
                return -ENOMEM;
        f->function = ci->name;
        f->qualname = ci->qualname;
        f->filename = ci->filename;
        f->line = line > 0 ? line : 0;
        f->code_addr = ci->addr;
        f->first_local = snap->n_locals;
        if ((flags & WALK_LOCALS) && slots)
                return frame_add_locals(w, snap, snap->n_frames - 1, ci, slots);
        return 0;
}

/* ---- data-stack chunks (3.11+) ----------------------------------------------------------- */

/* _PyStackChunk {previous, size, top, data[]} (Include/internal/pycore_frame.h... pystate.h):
 * the same in 3.11-3.13. "top" of a chunk that is not the current one is the number of slots
 * in use; the current chunk's top is tstate->datastack_top. */
#define CHUNK_PREVIOUS 0
#define CHUNK_TOP 16
#define CHUNK_DATA 24

static int chunk_load(Walker *w, uint64_t addr, size_t len) {
        StackChunk *c = &w->chunks[w->n_chunks];

        if (w->n_chunks >= WALKER_MAX_CHUNKS || len > WALKER_MAX_CHUNK_BYTES)
                return -EBADMSG;
        if (c->cap < len) {
                size_t cap = MAX(len, (size_t) 16384);
                uint8_t *b = realloc(c->buf, cap);
                if (!b)
                        return -ENOMEM;
                c->buf = b;
                c->cap = cap;
        }
        int r = memreader_read(w->mr, addr, c->buf, len);
        if (r < 0)
                return r;
        c->addr = addr;
        c->len = len;
        w->n_chunks++;
        return 0;
}

/* Starts a thread's walk: its current chunk, [chunk, datastack_top), in one read. */
static void chunks_begin(Walker *w, const uint8_t *tstate_buf) {
        const PyOffsets *o = w->o;

        w->n_chunks = 0;
        w->chunk_chain_loaded = true;
        if (!fits(o->tstate.datastack_chunk, 8, o->tstate.size) || !fits(o->tstate.datastack_top, 8, o->tstate.size))
                return;
        uint64_t chunk = get_ptr(tstate_buf, o->tstate.datastack_chunk);
        uint64_t top = get_ptr(tstate_buf, o->tstate.datastack_top);
        if (!chunk || top <= chunk + CHUNK_DATA || top - chunk > WALKER_MAX_CHUNK_BYTES)
                return;
        if (chunk_load(w, chunk, (size_t) (top - chunk)) < 0)
                return;
        w->chunk_chain_loaded = false;
        w->chunk_chain_next = load_u64(w->chunks[0].buf, CHUNK_PREVIOUS);
}

/* On the first miss: the older chunks of a deep stack, each up to its saved top. */
static void chunks_load_chain(Walker *w) {
        w->chunk_chain_loaded = true;
        for (uint64_t prev = w->chunk_chain_next; prev && w->n_chunks < WALKER_MAX_CHUNKS;) {
                uint64_t hdr[3];
                if (memreader_read(w->mr, prev, hdr, sizeof(hdr)) < 0)
                        return;
                uint64_t used = hdr[CHUNK_TOP / 8];
                if (used > WALKER_MAX_CHUNK_BYTES / 8)
                        return;
                if (chunk_load(w, prev, CHUNK_DATA + (size_t) used * 8) < 0)
                        return;
                prev = hdr[CHUNK_PREVIOUS / 8];
        }
}

static bool chunks_copy(Walker *w, uint64_t addr, void *buf, size_t len) {
        for (size_t i = 0; i < w->n_chunks; i++) {
                const StackChunk *c = &w->chunks[i];
                if (addr >= c->addr && addr - c->addr <= c->len && len <= c->len - (addr - c->addr)) {
                        memcpy(buf, c->buf + (addr - c->addr), len);
                        return true;
                }
        }
        return false;
}

/* Reads frame memory: from the chunk copies when it lies there, else from the target
 * (generator frames live in their generator object, not on the data stack). */
static int frame_read(Walker *w, uint64_t addr, void *buf, size_t len) {
        if (chunks_copy(w, addr, buf, len))
                return 0;
        if (!w->chunk_chain_loaded) {
                chunks_load_chain(w);
                if (chunks_copy(w, addr, buf, len))
                        return 0;
        }
        return memreader_read(w->mr, addr, buf, len);
}

/* ---- frames ---------------------------------------------------------------------------- */

/* <= 3.10: PyFrameObject chain via f_back. */
static int walk_frame_objects(Walker *w, uint64_t frame, unsigned flags, Snapshot *snap, bool *truncated) {
        const PyOffsets *o = w->o;
        uint8_t buf[STRUCT_BUF];
        CycleCheck cc;
        size_t depth = 0;
        int r;

        if (!fits(o->frame.back, 8, o->frame.size) || !fits(o->frame.code, 8, o->frame.size) ||
            !fits(o->frame.lasti, 4, o->frame.size))
                return -EBADMSG;
        cycle_init(&cc, frame);
        while (frame) {
                if (depth++ >= WALKER_MAX_DEPTH) {
                        *truncated = true;
                        return 0;
                }
                r = memreader_read(w->mr, frame, buf, o->frame.size);
                if (r < 0)
                        return r;
                CodeInfo *ci;
                r = code_get(w, get_ptr(buf, o->frame.code), &ci);
                if (r < 0)
                        return r;
                int64_t lasti = get_i32(buf, o->frame.lasti);
                if (o->lasti_model == LASTI_UNITS && lasti >= 0)
                        lasti *= 2;
                r = add_frame(w, snap, ci, code_line(w, ci, lasti), flags,
                              o->frame.localsplus != OFF_NONE ? frame + o->frame.localsplus : 0);
                if (r < 0)
                        return r;
                frame = get_ptr(buf, o->frame.back);
                if (frame && cycle_seen(&cc, frame))
                        return -EBADMSG;
        }
        return 0;
}

/* 3.11+: _PyInterpreterFrame chain via previous; shim frames owned by the C stack and frames
 * that have not reached their first traceable instruction are not Python frames the program
 * could see in a traceback, so they are skipped. */
static int walk_iframes(Walker *w, uint64_t frame, unsigned flags, Snapshot *snap, bool *truncated) {
        const PyOffsets *o = w->o;
        uint8_t buf[STRUCT_BUF];
        CycleCheck cc;
        size_t depth = 0;
        int r;

        if (!fits(o->iframe.previous, 8, o->iframe.size) || !fits(o->iframe.code, 8, o->iframe.size) ||
            !fits(o->iframe.instr, 8, o->iframe.size) || !fits(o->iframe.owner, 1, o->iframe.size))
                return -EBADMSG;
        cycle_init(&cc, frame);
        while (frame) {
                if (depth++ >= WALKER_MAX_DEPTH) {
                        *truncated = true;
                        return 0;
                }
                r = frame_read(w, frame, buf, o->iframe.size);
                if (r < 0)
                        return r;
                uint8_t owner = buf[o->iframe.owner];
                uint64_t code = get_ptr(buf, o->iframe.code);
                uint64_t instr = get_ptr(buf, o->iframe.instr);
                uint64_t prev = get_ptr(buf, o->iframe.previous);

                /* 3.13's f_executable may be None (shim frames): skipped like C-stack frames. */
                if (owner != FRAME_OWNED_BY_CSTACK && code && code != w->sym[PYSYM_NONE]) {
                        CodeInfo *ci;
                        r = code_get(w, code, &ci);
                        if (r < 0)
                                return r;
                        if (owner != FRAME_OWNED_BY_GENERATOR && instr < ci->code_start + ci->firsttraceable)
                                goto next;   /* incomplete: not started yet */
                        int64_t addr = (int64_t) (instr - ci->code_start);
                        if (instr < ci->code_start || addr > (int64_t) 1 << 31)
                                return -EBADMSG;
                        if (o->lasti_model == LASTI_INSTR_PTR)
                                addr &= ~(int64_t) 1;
                        r = add_frame(w, snap, ci, code_line(w, ci, addr), flags,
                                      o->iframe.localsplus != OFF_NONE ? frame + o->iframe.localsplus : 0);
                        if (r < 0)
                                return r;
                }
        next:
                frame = prev;
                if (frame && cycle_seen(&cc, frame))
                        return -EBADMSG;
        }
        return 0;
}

/* ---- threads --------------------------------------------------------------------------- */

static uint64_t gil_holder(Walker *w, uint64_t interp) {
        const PyOffsets *o = w->o;
        uint64_t holder = 0;

        switch (o->gil_model) {
        case GIL_TSTATE_CURRENT_SYMBOL:
                if (w->sym[PYSYM_TSTATE_CURRENT])
                        (void) memreader_read_u64(w->mr, w->sym[PYSYM_TSTATE_CURRENT], &holder);
                break;
        case GIL_TSTATE_CURRENT_RUNTIME:
                if (w->sym[PYSYM_RUNTIME] && o->runtime.tstate_current != OFF_NONE)
                        (void) memreader_read_u64(w->mr, w->sym[PYSYM_RUNTIME] + o->runtime.tstate_current, &holder);
                break;
        case GIL_INTERP_CEVAL: {
                uint64_t gil = 0;
                uint8_t buf[STRUCT_BUF];
                if (o->interp.ceval_gil == OFF_NONE || !fits(o->gil.last_holder, 8, o->gil.size) ||
                    !fits(o->gil.locked, 4, o->gil.size))
                        break;
                if (memreader_read_u64(w->mr, interp + o->interp.ceval_gil, &gil) < 0 || !gil)
                        break;
                if (memreader_read(w->mr, gil, buf, o->gil.size) < 0)
                        break;
                if (get_i32(buf, o->gil.locked) == 1)
                        holder = get_ptr(buf, o->gil.last_holder);
                break;
        }
        default:
                break;
        }
        return holder;
}

static void names_clear(Walker *w) {
        for (size_t i = 0; i < w->n_names; i++)
                free(w->names[i].name);
        free(w->names);
        w->names = NULL;
        w->n_names = 0;
}

typedef struct NamesCtx {
        Walker *w;
        const char *attr;
} NamesCtx;

static int names_cb(void *userdata, uint64_t key, uint64_t value) {
        NamesCtx *nc = userdata;
        Walker *w = nc->w;
        int64_t ident;
        uint64_t name;

        if (w->n_names >= WALKER_MAX_THREADS)
                return 1;
        if (pyobj_read_int(&w->ctx, key, &ident) < 0)
                return 0;
        if (pyobj_getattr(&w->ctx, value, nc->attr, &name) < 0)
                return 0;
        int r = pyobj_read_str(&w->ctx, name, w->strbuf, sizeof(w->strbuf));
        if (r < 0 && r != -ENOBUFS)
                return 0;
        char *s = strdup(w->strbuf);
        if (!s)
                return -ENOMEM;
        w->names[w->n_names++] = (ThreadName) { (uint64_t) ident, s };
        return 0;
}

/* threading._active maps get_ident() to Thread objects; their name attribute is "_name" (3.x)
 * or the name-mangled "_Thread__name" (2.7). Failure leaves threads unnamed, nothing worse. */
static void names_load(Walker *w, uint64_t interp) {
        const PyOffsets *o = w->o;
        uint64_t modules = 0, threading, md, active;

        names_clear(w);
        if (o->interp.modules == OFF_NONE ||
            memreader_read_u64(w->mr, interp + o->interp.modules, &modules) < 0 || !modules)
                return;
        if (pyobj_dict_get_str(&w->ctx, modules, "threading", &threading) < 0 ||
            pyobj_module_dict(&w->ctx, threading, &md) < 0 ||
            pyobj_dict_get_str(&w->ctx, md, "_active", &active) < 0)
                return;
        w->names = calloc(WALKER_MAX_THREADS, sizeof(ThreadName));
        if (!w->names)
                return;
        NamesCtx nc = { w, o->major == 2 ? "_Thread__name" : "_name" };
        (void) pyobj_dict_foreach(&w->ctx, active, names_cb, &nc);
}

static const char *name_of(Walker *w, uint64_t ident) {
        for (size_t i = 0; i < w->n_names; i++)
                if (w->names[i].ident == ident)
                        return w->names[i].name;
        return NULL;
}

/* Walks one thread into snap. 0 done (possibly truncated); 1 when the walk tore (the stack
 * changed under a non-blocking read) and was rolled back so that the caller can try again
 * with a fresh thread state, unless last_try; <0 fatal. */
static int walk_thread(Walker *w, uint64_t tstate, const uint8_t *buf, uint64_t holder, unsigned flags,
                       Snapshot *snap, bool last_try) {
        const PyOffsets *o = w->o;
        size_t idx = snap->n_threads, first_local = snap->n_locals;
        StackThread *t = snapshot_add_thread(snap);
        bool truncated = false;
        uint64_t frame = get_ptr(buf, o->tstate.frame);
        int r = 0;

        if (!t)
                return -ENOMEM;
        t->thread_id = get_ptr(buf, o->tstate.thread_id);
        if (fits(o->tstate.native_thread_id, 4, o->tstate.size))
                t->native_id = get_i32(buf, o->tstate.native_thread_id);
        t->gil = holder && holder == tstate;
        t->first_frame = snap->n_frames;
        if (flags & WALK_NAMES)
                t->name = name_of(w, t->thread_id);
        w->n_chunks = 0;
        w->chunk_chain_loaded = true;
        if (o->frame_model != FRAME_OBJECT)
                chunks_begin(w, buf);

        switch (o->frame_model) {
        case FRAME_OBJECT:
                r = walk_frame_objects(w, frame, flags, snap, &truncated);
                break;
        case IFRAME_CFRAME:
                /* tstate->cframe->current_frame */
                if (frame) {
                        uint64_t cur = 0;
                        r = memreader_read_u64(w->mr, frame + o->cframe.current_frame, &cur);
                        if (r >= 0)
                                r = walk_iframes(w, cur, flags, snap, &truncated);
                }
                break;
        case IFRAME:
                r = walk_iframes(w, frame, flags, snap, &truncated);
                break;
        default:
                r = -EBADMSG;
        }
        if (r == -ENOMEM || r == -ESRCH || r == -EPERM)
                return r;
        t = &snap->threads[idx];
        if (r < 0 && !last_try) {
                snap->n_frames = t->first_frame;
                snap->n_locals = first_local;
                snap->n_threads = idx;
                return 1;
        }
        t->n_frames = snap->n_frames - t->first_frame;
        if (r < 0)
                truncated = true;
        if (truncated)
                w->errors++;
        t->truncated = truncated;
        return 0;
}

static int walk_interp(Walker *w, uint64_t interp, unsigned flags, Snapshot *snap, size_t *n_threads) {
        const PyOffsets *o = w->o;
        uint8_t buf[STRUCT_BUF];
        uint64_t tstate;
        CycleCheck cc;
        int r;

        r = memreader_read_u64(w->mr, interp + o->interp.tstate_head, &tstate);
        if (r < 0)
                return r;
        uint64_t holder = (flags & WALK_NO_GIL) ? 0 : gil_holder(w, interp);
        if (flags & WALK_NAMES)
                names_load(w, interp);

        cycle_init(&cc, tstate);
        while (tstate) {
                if ((*n_threads)++ >= WALKER_MAX_THREADS)
                        return -EBADMSG;
                /* A thread whose frames moved under the read is walked again from its current
                 * state: a thread of a <= 3.10 interpreter (one read per frame) that calls and
                 * returns all the time tears often: a freed frame is reused at once, and its new
                 * f_back makes the chain we were following loop. Each retry costs one walk. */
                for (unsigned attempt = 0;; attempt++) {
                        r = memreader_read(w->mr, tstate, buf, o->tstate.size);
                        if (r < 0)
                                return r;
                        r = walk_thread(w, tstate, buf, holder, flags, snap, attempt >= WALKER_RETRIES);
                        if (r <= 0)
                                break;
                }
                if (r < 0)
                        return r;
                tstate = get_ptr(buf, o->tstate.next);
                if (tstate && cycle_seen(&cc, tstate))
                        return -EBADMSG;
        }
        return 0;
}

static int walk_all(Walker *w, unsigned flags, Snapshot *snap) {
        const PyOffsets *o = w->o;
        uint64_t interp = 0;
        size_t n_interps = 0, n_threads = 0;
        CycleCheck cc;
        int r;

        if (!fits(o->tstate.next, 8, o->tstate.size) || !fits(o->tstate.frame, 8, o->tstate.size) ||
            !fits(o->tstate.thread_id, 8, o->tstate.size) || o->interp.tstate_head == OFF_NONE)
                return -EBADMSG;

        if (o->runtime.interpreters_head != OFF_NONE && w->sym[PYSYM_RUNTIME])
                r = memreader_read_u64(w->mr, w->sym[PYSYM_RUNTIME] + o->runtime.interpreters_head, &interp);
        else if (w->sym[PYSYM_INTERP_HEAD])
                r = memreader_read_u64(w->mr, w->sym[PYSYM_INTERP_HEAD], &interp);
        else
                return -ENOEXEC;
        if (r < 0)
                return r;
        if (!interp)
                return -EBADMSG;   /* not initialised yet, or finalised */

        snap->timestamp_usec = now_usec();
        cycle_init(&cc, interp);
        while (interp) {
                if (n_interps++ >= WALKER_MAX_INTERPS)
                        return -EBADMSG;
                r = walk_interp(w, interp, flags, snap, &n_threads);
                if (r < 0)
                        return r;
                r = memreader_read_u64(w->mr, interp + o->interp.next, &interp);
                if (r < 0)
                        return r;
                if (interp && cycle_seen(&cc, interp))
                        return -EBADMSG;
        }
        return 0;
}

/* Are the cached code objects this sample used still the ones we decoded? Their identifying
 * fields are read again, many objects per system call; a code object that died and left its
 * address to another (common right after start-up, when the import machinery's code is
 * freed) would otherwise lend its name to every frame of the newcomer. Returns true when all
 * are good; otherwise the stale entries are gone from the cache (the whole cache, for
 * simplicity: this is rare). */
static bool cache_validate(Walker *w) {
        const PyOffsets *o = w->o;
        const uint32_t lo = MIN(MIN(o->code.name, o->code.filename), MIN(o->code.linetable, o->code.firstlineno));
        const uint32_t hi = MAX(MAX(o->code.name, o->code.filename), MAX(o->code.linetable, o->code.firstlineno)) + 8;
        const size_t len = hi - lo;
        bool good = true;

        for (size_t i = 0; i < w->n_used && good; i += WALKER_VALIDATE_BATCH) {
                size_t n = MIN((size_t) WALKER_VALIDATE_BATCH, w->n_used - i);
                for (size_t k = 0; k < n; k++)
                        w->validate_regions[k] = (MemRegion) { w->used[i + k]->addr + lo, w->validate_buf + k * len, len };
                if (memreader_readv(w->mr, w->validate_regions, n) < 0) {
                        good = false;
                        break;
                }
                for (size_t k = 0; k < n; k++) {
                        const CodeInfo *ci = w->used[i + k];
                        const uint8_t *b = w->validate_buf + k * len;
                        if (load_u64(b, o->code.name - lo) != ci->sig_name ||
                            load_u64(b, o->code.filename - lo) != ci->sig_filename ||
                            load_u64(b, o->code.linetable - lo) != ci->sig_linetable ||
                            (int32_t) load_u32(b, o->code.firstlineno - lo) != ci->sig_firstlineno) {
                                good = false;
                                break;
                        }
                }
        }
        w->n_used = 0;
        if (!good)
                cache_flush(w);
        return good;
}

int walker_sample(Walker *w, unsigned flags, Snapshot *snap) {
        size_t n_threads = snap->n_threads, n_frames = snap->n_frames, n_locals = snap->n_locals;
        int r;

        if (w->cache_used >= WALKER_CODE_CACHE_SLOTS / 2)
                cache_flush(w);
        for (int attempt = 0;; attempt++) {
                w->generation++;
                w->n_used = 0;
                r = walk_all(w, flags, snap);
                /* The second walk decoded everything afresh: nothing left to check. */
                if (r < 0 || w->n_used == 0 || attempt > 0 || cache_validate(w))
                        return r;
                /* Stale names were handed out: walk again with a fresh cache. */
                snap->n_threads = n_threads;
                snap->n_frames = n_frames;
                snap->n_locals = n_locals;
        }
}

int walker_new(MemReader *mr, const PyOffsets *o, const uint64_t sym[_PYSYM_MAX], Walker **ret) {
        Walker *w = calloc(1, sizeof(Walker));
        if (!w)
                return -ENOMEM;
        w->cache_slots = WALKER_CODE_CACHE_MIN;
        w->cache = calloc(w->cache_slots, sizeof(CodeInfo *));
        w->used = calloc(w->cache_slots, sizeof(CodeInfo *));
        w->validate_buf = malloc(WALKER_VALIDATE_BATCH * STRUCT_BUF);
        w->validate_regions = calloc(WALKER_VALIDATE_BATCH, sizeof(MemRegion));
        if (!w->cache || !w->used || !w->validate_buf || !w->validate_regions) {
                walker_free(w);
                return -ENOMEM;
        }
        w->mr = mr;
        w->o = o;
        memcpy(w->sym, sym, sizeof(w->sym));
        w->ctx = (PyObjCtx) { .mr = mr, .o = o, .sym = w->sym };
        *ret = w;
        return 0;
}

Walker *walker_free(Walker *w) {
        if (!w)
                return NULL;
        if (w->cache)
                cache_flush(w);
        free(w->cache);
        free(w->used);
        free(w->validate_buf);
        free(w->validate_regions);
        names_clear(w);
        for (size_t i = 0; i < WALKER_MAX_CHUNKS; i++)
                free(w->chunks[i].buf);
        free(w);
        return NULL;
}

uint64_t walker_errors(const Walker *w) {
        return w->errors;
}
