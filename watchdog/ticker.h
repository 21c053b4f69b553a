/* SPDX-License-Identifier: MIT */
#pragma once

/* A deadline clock for sampling loops: ticks at fixed points in CLOCK_MONOTONIC time, so the
 * rate does not drift with the cost of each sample. A tick that comes late is not made up in a
 * burst: the missed deadlines are skipped and counted. */

#include <stdint.h>

#include "macro.h"

typedef struct Ticker {
        usec_t period;
        usec_t next;        /* the next deadline */
        uint64_t late;      /* deadlines missed (skipped) so far */
} Ticker;

/* rate: ticks per second (1 .. 1000000). The first deadline is one period from now. */
void ticker_init(Ticker *t, unsigned rate);

/* Sleeps until the next deadline and advances it. If the deadline already passed by a whole
 * period or more, the deadlines in between are skipped (and counted in late) and the call
 * returns at once. -EINTR when a signal interrupted the sleep (the deadline is kept: call
 * again after handling it). */
int ticker_wait(Ticker *t);
