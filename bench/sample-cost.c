/* SPDX-License-Identifier: MIT */
/* Samples a live process back to back, as fast as possible, and prints what one sample costs:
 * CPU (user+sys from rusage), wall time, read system calls, frames, errors. The achievable
 * rate is 1 / wall time per sample.
 *
 *   build/bench/sample-cost PID [SECONDS] [--idle-check] [--blocking]
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "macro.h"
#include "sampler.h"

static double cpu_seconds(void) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return (double) ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double) ru.ru_stime.tv_sec +
               ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv) {
        Sampler *s = NULL;
        Snapshot snap = SNAPSHOT_NULL;
        char detail[256] = "", msg[512];
        unsigned flags = 0;

        if (argc < 2) {
                fprintf(stderr, "usage: %s PID [SECONDS] [--idle-check] [--blocking]\n", argv[0]);
                return 2;
        }
        pid_t pid = atoi(argv[1]);
        double secs = argc > 2 && argv[2][0] != '-' ? atof(argv[2]) : 2.0;
        for (int i = 2; i < argc; i++) {
                if (strcmp(argv[i], "--idle-check") == 0)
                        flags |= SAMPLE_IDLE;
                if (strcmp(argv[i], "--blocking") == 0)
                        flags |= SAMPLE_PAUSE;
        }
        int r = sampler_attach(pid, &s, detail, sizeof(detail));
        if (r < 0) {
                fprintf(stderr, "%s\n", sampler_strerror(r, pid, detail, msg, sizeof(msg)));
                return 1;
        }
        /* Warm the caches. */
        for (int i = 0; i < 100; i++)
                (void) sampler_sample(s, flags, &snap);

        uint64_t n = 0, failed = 0, frames = 0, calls0 = sampler_read_calls(s), err0 = sampler_errors(s);
        double c0 = cpu_seconds();
        usec_t t0 = now_usec(), end = t0 + (usec_t) (secs * 1e6);
        while (now_usec() < end) {
                for (int k = 0; k < 100; k++) {
                        r = sampler_sample(s, flags, &snap);
                        n++;
                        if (r < 0)
                                failed++;
                        else
                                frames += snap.n_frames;
                }
        }
        double cpu = cpu_seconds() - c0, wall = (double) (now_usec() - t0) / 1e6;
        printf("python %s: %" PRIu64 " samples, %.1f frames/sample, %.2f reads/sample\n", sampler_target(s)->version, n,
               (double) frames / (double) (n - failed ? n - failed : 1),
               (double) (sampler_read_calls(s) - calls0) / (double) n);
        printf("cpu per sample %.2f us, wall per sample %.2f us, achievable rate %.0f/s, failed %" PRIu64
               ", truncated threads %" PRIu64 "\n",
               cpu / (double) n * 1e6, wall / (double) n * 1e6, (double) n / wall, failed, sampler_errors(s) - err0);
        snapshot_done(&snap);
        sampler_free(s);
        return 0;
}
