/*
 * W7 lock: `tasks` tasks (default 100) share one coio_lock and make `acquisitions`
 * acquisitions in total (default 1,000,000). Each holds the lock across one coio_yield,
 * as in `async with lock: await asyncio.sleep(0)`, so every other task is queued on the
 * lock and each release hands it to the next waiter (FIFO). A short warm-up round first.
 * Usage: w7_lock [acquisitions] [tasks].  Output: acquisitions_per_s (and ns_per_acquisition).
 */
#define _GNU_SOURCE
#include "bench_util.h"

#include <coio.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

struct round {
    coio_lock *lock;
    long per_task;
    long inside; /* tasks inside the critical section: must stay <= 1 */
    long total;
};

static int worker(void *arg)
{
    struct round *r = arg;
    for (long i = 0; i < r->per_task; i++) {
        int rc = coio_lock_acquire(r->lock);
        if (rc < 0)
            return rc;
        if (++r->inside != 1)
            return -EIO;
        r->total++;
        rc = coio_yield();
        r->inside--;
        coio_lock_release(r->lock);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int round_of(long acquisitions, long ntasks, uint64_t *ns, long *done)
{
    struct round r = {.lock = coio_lock_create(), .per_task = acquisitions / ntasks};
    coio_task **t = calloc((size_t)ntasks, sizeof *t);
    if (!r.lock || !t)
        return -ENOMEM;
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < ntasks; i++)
        t[i] = coio_spawn(worker, &r);
    int rc = coio_gather_n(t, (size_t)ntasks, NULL);
    *ns = bench_now_ns() - t0;
    *done = r.total;
    coio_lock_destroy(r.lock);
    free(t);
    return rc;
}

struct args {
    long acquisitions, tasks;
};

static int bench_main(void *arg)
{
    struct args *a = arg;
    uint64_t ns;
    long done;
    int rc = round_of(20000, a->tasks, &ns, &done);
    if (rc == 0)
        rc = round_of(a->acquisitions, a->tasks, &ns, &done);
    if (rc < 0)
        return rc;
    bench_emit("W7", "acquisitions_per_s", (double)done * 1e9 / (double)ns, "acq/s", done);
    bench_emit("W7", "ns_per_acquisition", (double)ns / (double)done, "ns", done);
    return 0;
}

int main(int argc, char **argv)
{
    struct args a = {bench_arg_long(argc, argv, 1, 1000000), bench_arg_long(argc, argv, 2, 100)};
    int rc = coio_run(bench_main, &a);
    if (rc != 0)
        fprintf(stderr, "w7_lock: failed (%d %s)\n", rc, coio_err_name(rc));
    return rc != 0;
}
