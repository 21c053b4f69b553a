/* SPDX-License-Identifier: MIT */
#pragma once

/* A fake Python process in a synthetic image (image.h), for any layout row: the walker's unit
 * tests check it comes back exactly, and the fuzzers' seed corpus is made of it.
 *
 * fake_build(): two threads named through threading._active ("MainThread", "worker"),
 * thread 0 holding the GIL with outer -> middle -> inner (inner innermost), thread 1 in outer
 * only; the code objects live in /srv/app.py at lines FIRSTLINE * (i + 1), every frame is at
 * INSTR_OFFSET (one line past its first), and middle has locals x = 42, y = 'hi'.
 *
 * fake_build_rich(): the same, plus a middle frame whose locals are one of every kind of
 * object pyobj.h renders (containers, instances, big ints, every string width), a third thread
 * without a name, and on 3.11+ thread 0's frames spread over two data-stack chunks. */

#include <stdint.h>

#include "image.h"
#include "pyoffsets.h"

#define FIRSTLINE 10
#define INSTR_OFFSET 4   /* bytes into the code: the line tables put it on FIRSTLINE + 1 */

typedef struct Fake {
        Image img;
        const PyOffsets *o;
        uint64_t interp, tstate[2], frames[2][3], code[3];
        uint64_t ident[2];
        uint64_t chunk_next, chunk_end;   /* when set, frames are placed here (a data-stack chunk) */
} Fake;

void fake_build(Fake *f, const PyOffsets *o);
void fake_build_rich(Fake *f, const PyOffsets *o);

/* A frame of code whose caller is back, with n_locals locals in its first slots: a frame
 * object (<= 3.10) or an interpreter frame (3.11+; inside the current chunk when one is
 * open). Returns its address. */
uint64_t fake_put_frame(Fake *f, uint64_t code, uint64_t back, const uint64_t *locals, size_t n_locals);

/* 3.11+: a 4 KiB data-stack chunk after previous (0: the first); the frames made next are
 * placed in it until f->chunk_next is set back to 0. Returns its address. */
uint64_t fake_put_chunk(Fake *f, uint64_t previous);
