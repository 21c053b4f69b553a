/* SPDX-License-Identifier: MIT */
#include <time.h>

#include "ticker.h"

void ticker_init(Ticker *t, unsigned rate) {
        if (rate == 0)
                rate = 1;
        t->period = MAX(USEC_PER_SEC / rate, (usec_t) 1);
        t->next = now_usec() + t->period;
        t->late = 0;
}

int ticker_wait(Ticker *t) {
        usec_t now = now_usec();

        if (now >= t->next + t->period) {
                /* Behind by at least one whole period: drop the missed ticks, keep the phase. */
                uint64_t missed = (now - t->next) / t->period;
                t->late += missed;
                t->next += missed * t->period;
        }
        if (now < t->next) {
                struct timespec ts = { .tv_sec = (time_t) (t->next / USEC_PER_SEC),
                                       .tv_nsec = (long) (t->next % USEC_PER_SEC) * 1000 };
                int r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
                if (r == EINTR)
                        return -EINTR;
        }
        t->next += t->period;
        return 0;
}
