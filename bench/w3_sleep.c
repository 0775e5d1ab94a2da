/*
 * W3 sleepers: n tasks, each sleeping a pseudo-random duration in [0, 1) s drawn from a
 * fixed-seed xorshift64 (bench_util.h; the Go and Python peers draw the same sequence),
 * all gathered by one coio_gather_n.
 * The baseline (ru_maxrss, ru_minflt) is taken inside the loop just before spawning.
 * Usage: w3_sleep [n=100000].
 * Output: n<label>_wall_s, n<label>_rss_kib_per_task, n<label>_minflt_per_task.
 */
#define _GNU_SOURCE
#include "bench_util.h"

#include <coio.h>
#include <errno.h>
#include <stdio.h>

static int sleeper(void *arg)
{
    double *d = arg;
    return coio_sleep(*d);
}

static int bench_main(void *arg)
{
    long n = *(long *)arg;
    double *dur = malloc(sizeof(*dur) * (size_t)n);
    coio_task **ts = malloc(sizeof(*ts) * (size_t)n);
    if (!dur || !ts)
        return 1;
    uint64_t s = BENCH_SEED;
    for (long i = 0; i < n; i++)
        dur[i] = bench_unit(&s);

    long rss0, flt0, rss1, flt1;
    bench_rusage(&rss0, &flt0);
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        ts[i] = coio_spawn(sleeper, &dur[i]);
        if (!ts[i]) {
            fprintf(stderr, "w3_sleep: coio_spawn failed at task %ld: errno %d\n", i, errno);
            coio_gather_n(ts, (size_t)i + 1, NULL);
            return 1;
        }
    }
    int rc = coio_gather_n(ts, (size_t)n, NULL);
    uint64_t ns = bench_now_ns() - t0;
    bench_rusage(&rss1, &flt1);
    if (rc < 0) {
        fprintf(stderr, "w3_sleep: coio_gather_n: %s\n", coio_err_name(rc));
        return 1;
    }
    char label[32], m[64];
    if (n % 1000000 == 0)
        snprintf(label, sizeof label, "n%ldm", n / 1000000);
    else if (n % 1000 == 0)
        snprintf(label, sizeof label, "n%ldk", n / 1000);
    else
        snprintf(label, sizeof label, "n%ld", n);
    snprintf(m, sizeof m, "%s_wall_s", label);
    bench_emit("W3", m, (double)ns / 1e9, "s", n);
    snprintf(m, sizeof m, "%s_rss_kib_per_task", label);
    bench_emit("W3", m, (double)(rss1 - rss0) / (double)n, "KiB", n);
    snprintf(m, sizeof m, "%s_minflt_per_task", label);
    bench_emit("W3", m, (double)(flt1 - flt0) / (double)n, "faults", n);
    free(ts);
    free(dur);
    return 0;
}

int main(int argc, char **argv)
{
    long n = bench_arg_long(argc, argv, 1, 100000);
    int rc = coio_run(bench_main, &n);
    if (rc != 0)
        fprintf(stderr, "w3_sleep: failed (%d %s)\n", rc, coio_err_name(rc));
    return rc != 0;
}
