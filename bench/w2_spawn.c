/*
 * W2 spawn: `total` empty tasks (fn returns 0), spawned and gathered
 *   batched: coio_spawn x batch into an array, then coio_gather_n, repeated;
 *   all:     every task spawned first, then one coio_gather_n.
 * One mode per process, so that ru_maxrss is the peak of that mode alone.
 * Usage: w2_spawn batched|all [total=1000000] [batch=10000].
 * Output: <mode>_tasks_per_s, <mode>_peak_rss_mib.
 */
#define _GNU_SOURCE
#include "bench_util.h"

#include <coio.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

struct cfg {
    int all;
    long total, batch;
};

static int empty(void *arg)
{
    (void)arg;
    return 0;
}

static int spawn_gather(coio_task **ts, long n)
{
    for (long i = 0; i < n; i++) {
        ts[i] = coio_spawn(empty, NULL);
        if (!ts[i]) {
            fprintf(stderr, "w2_spawn: coio_spawn failed at task %ld: errno %d\n", i, errno);
            /* gather_n cancels and awaits the others on a NULL entry */
            coio_gather_n(ts, (size_t)i + 1, NULL);
            return -1;
        }
    }
    int rc = coio_gather_n(ts, (size_t)n, NULL);
    if (rc < 0)
        fprintf(stderr, "w2_spawn: coio_gather_n: %s\n", coio_err_name(rc));
    return rc;
}

static int bench_main(void *arg)
{
    struct cfg *c = arg;
    long chunk = c->all ? c->total : c->batch;
    coio_task **ts = malloc(sizeof(*ts) * (size_t)chunk);
    if (!ts)
        return 1;
    /* warm-up batch: first stacks, allocator and loop structures */
    if (spawn_gather(ts, chunk < 1000 ? chunk : 1000) < 0)
        return 1;
    uint64_t t0 = bench_now_ns();
    for (long done = 0; done < c->total; done += chunk)
        if (spawn_gather(ts, chunk) < 0)
            return 1;
    uint64_t ns = bench_now_ns() - t0;
    free(ts);
    long rss;
    bench_rusage(&rss, NULL);
    const char *mode = c->all ? "all" : "batched";
    char m[64];
    snprintf(m, sizeof m, "%s_tasks_per_s", mode);
    bench_emit("W2", m, (double)c->total / ((double)ns / 1e9), "tasks/s", c->total);
    snprintf(m, sizeof m, "%s_peak_rss_mib", mode);
    bench_emit("W2", m, (double)rss / 1024.0, "MiB", c->total);
    return 0;
}

int main(int argc, char **argv)
{
    struct cfg c = {0};
    if (argc < 2 || (strcmp(argv[1], "batched") && strcmp(argv[1], "all"))) {
        fprintf(stderr, "usage: w2_spawn batched|all [total] [batch]\n");
        return 2;
    }
    c.all = !strcmp(argv[1], "all");
    c.total = bench_arg_long(argc, argv, 2, 1000000);
    c.batch = bench_arg_long(argc, argv, 3, 10000);
    if (!c.all && c.total % c.batch) {
        fprintf(stderr, "w2_spawn: total must be a multiple of batch\n");
        return 2;
    }
    int rc = coio_run(bench_main, &c);
    if (rc != 0)
        fprintf(stderr, "w2_spawn: failed (%d %s)\n", rc, coio_err_name(rc));
    return rc != 0;
}
