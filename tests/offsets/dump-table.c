/* SPDX-License-Identifier: MIT */
/* Prints our layout table as "field value" lines (the format of probe.c and check-live.py)
 * for tests/offsets/check-offsets.sh. Built against build/libpyspy.a.
 *
 *   dump-table X.Y                     the built-in row for X.Y
 *   dump-table --debug-offsets PYTHON  starts PYTHON (3.13+), reads its _Py_DebugOffsets from
 *                                      outside through pyoffsets_from_debug_offsets() and
 *                                      prints the row that yields
 *
 * The interpreter is our child so that reading it works under Yama ptrace_scope=1. */

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "pyoffsets.h"

#define F(f) { #f, offsetof(PyOffsets, f) }

static const struct {
        const char *name;
        size_t off;
} fields[] = {
        F(runtime.size), F(runtime.interpreters_head), F(runtime.tstate_current),
        F(interp.size), F(interp.next), F(interp.tstate_head), F(interp.modules),
        F(interp.ceval_gil),
        F(gil.size), F(gil.last_holder), F(gil.locked),
        F(tstate.size), F(tstate.next), F(tstate.interp), F(tstate.frame), F(tstate.thread_id),
        F(tstate.native_thread_id),
        F(tstate.datastack_chunk),
        F(tstate.datastack_top),
        F(cframe.current_frame),
        F(frame.size), F(frame.back), F(frame.code), F(frame.lasti), F(frame.localsplus),
        F(iframe.size), F(iframe.previous), F(iframe.code), F(iframe.instr), F(iframe.owner),
        F(iframe.localsplus),
        F(code.size), F(code.name), F(code.qualname), F(code.filename), F(code.firstlineno),
        F(code.linetable), F(code.varnames), F(code.localspluskinds), F(code.nlocals),
        F(code.code_adaptive), F(code.firsttraceable),
        F(object.ob_type), F(object.ob_size),
        F(type.tp_name), F(type.tp_basicsize), F(type.tp_flags), F(type.tp_dictoffset),
        F(type.ht_cached_keys),
        F(unicode.length), F(unicode.state), F(unicode.ascii_size), F(unicode.compact_size),
        F(unicode.legacy_data),
        F(bytes.ob_size), F(bytes.ob_sval),
        F(pyint.ob_ival),
        F(pylong.lv_tag), F(pylong.digits),
        F(pyfloat.ob_fval),
        F(tuple.ob_size), F(tuple.ob_item),
        F(list.ob_size), F(list.ob_item),
        F(dict.ma_used), F(dict.ma_keys), F(dict.ma_values), F(dict.dk_size),
        F(dict.dk_log2_index_bytes), F(dict.dk_kind), F(dict.dk_nentries), F(dict.dk_indices),
        F(dict.values_values),
        F(set.used), F(set.mask), F(set.table),
        F(module.md_dict),
        F(cell.ob_ref),
};

static void dump(const PyOffsets *o) {
        printf("major %u\nminor %u\n", o->major, o->minor);
        printf("model.frame %d\nmodel.line_table %d\nmodel.lasti %d\nmodel.gil %d\n"
               "model.str %d\nmodel.dict %d\nmodel.long %d\nmodel.attr %d\n",
               (int) o->frame_model, (int) o->line_table, (int) o->lasti_model,
               (int) o->gil_model, (int) o->str_model, (int) o->dict_model,
               (int) o->long_model, (int) o->attr_model);
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                uint32_t v;

                memcpy(&v, (const uint8_t *) o + fields[i].off, sizeof(v));
                if (v == OFF_NONE)
                        printf("%s none\n", fields[i].name);
                else
                        printf("%s %" PRIu32 "\n", fields[i].name, v);
        }
}

static const char probe_script[] =
        "import ctypes, sys\n"
        "a = ctypes.addressof(ctypes.c_char.in_dll(ctypes.pythonapi, '_PyRuntime'))\n"
        "sys.stdout.write('%d\\n' % a)\n"
        "sys.stdout.flush()\n"
        "sys.stdin.read()\n";

static int dump_live(const char *python) {
        _cleanup_(memreader_freep) MemReader *mr = NULL;
        int to_child[2], from_child[2], r, status;
        unsigned long long addr;
        PyOffsets o;
        pid_t pid;

        if (pipe(to_child) < 0 || pipe(from_child) < 0)
                return -errno;
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                (void) dup2(to_child[0], STDIN_FILENO);
                (void) dup2(from_child[1], STDOUT_FILENO);
                (void) close(to_child[1]);
                (void) close(from_child[0]);
                execlp(python, python, "-c", probe_script, (char *) NULL);
                _exit(127);
        }
        (void) close(to_child[0]);
        (void) close(from_child[1]);

        _cleanup_fclose_ FILE *f = fdopen(from_child[0], "r");
        if (!f || fscanf(f, "%llu", &addr) != 1) {
                fprintf(stderr, "dump-table: %s did not report _PyRuntime\n", python);
                r = -EIO;
                goto finish;
        }
        r = memreader_new_pid(pid, &mr);
        if (r < 0)
                goto finish;
        r = pyoffsets_from_debug_offsets(mr, addr, &o);
        if (r < 0) {
                fprintf(stderr, "dump-table: pyoffsets_from_debug_offsets: %s\n", strerror(-r));
                goto finish;
        }
        dump(&o);
finish:
        /* Closing its stdin lets the interpreter exit. */
        (void) close(to_child[1]);
        (void) waitpid(pid, &status, 0);
        return r;
}

int main(int argc, char *argv[]) {
        unsigned major, minor;
        const PyOffsets *o;

        if (argc == 3 && streq_ptr(argv[1], "--debug-offsets"))
                return dump_live(argv[2]) < 0 ? 1 : 0;
        if (argc != 2 || sscanf(argv[1], "%u.%u", &major, &minor) != 2) {
                fprintf(stderr, "usage: dump-table X.Y | --debug-offsets PYTHON\n");
                return 2;
        }
        o = pyoffsets_lookup(major, minor);
        if (!o) {
                fprintf(stderr, "dump-table: no row for %u.%u\n", major, minor);
                return 1;
        }
        dump(o);
        return 0;
}
