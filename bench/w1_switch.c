/*
 * W1 switch: two tasks hand control to each other with coio_yield.
 * A switch is one coio_yield; the two tasks make `switches` of them in total, and the
 * awaiting main task is not runnable meanwhile, so every yield resumes the other task.
 * A short warm-up round first brings the stacks into the cache and page tables.
 * Usage: w1_switch [switches] (default 5,000,000).  Output: ns_per_switch.
 */
#define _GNU_SOURCE
#include "bench_util.h"

#include <coio.h>
#include <stdio.h>

static long per_task;

static int pinger(void *arg)
{
    (void)arg;
    for (long i = 0; i < per_task; i++)
        if (coio_yield() < 0)
            return -1;
    return 0;
}

static int round_of(long switches, uint64_t *ns)
{
    per_task = switches / 2;
    uint64_t t0 = bench_now_ns();
    coio_task *a = coio_spawn(pinger, NULL);
    coio_task *b = coio_spawn(pinger, NULL);
    int rc = coio_gather(a, b);
    *ns = bench_now_ns() - t0;
    return rc;
}

static int bench_main(void *arg)
{
    long switches = *(long *)arg;
    uint64_t ns;
    if (round_of(20000, &ns) < 0)
        return 1;
    if (round_of(switches, &ns) < 0)
        return 1;
    bench_emit("W1", "ns_per_switch", (double)ns / (double)(per_task * 2), "ns", per_task * 2);
    return 0;
}

int main(int argc, char **argv)
{
    long switches = bench_arg_long(argc, argv, 1, 5000000);
    int rc = coio_run(bench_main, &switches);
    if (rc != 0)
        fprintf(stderr, "w1_switch: failed (%d %s)\n", rc, coio_err_name(rc));
    return rc != 0;
}
