/*
 * W6 queue: a producer task puts `items` integers into a coio_queue of maxsize 1 and a
 * consumer task gets them (asyncio.Queue(maxsize=1); Go: an unbuffered channel). Every
 * item crosses between the two tasks, so this measures the put/get hand-off: the queue
 * passes an item straight to a waiting getter, or a waiting putter's item into the slot a
 * get frees, without allocating. A short warm-up round runs first.
 * Usage: w6_queue [items] (default 2,000,000).  Output: items_per_s (and ns_per_item).
 */
#define _GNU_SOURCE
#include "bench_util.h"

#include <coio.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

struct round {
    coio_queue *q;
    long items;
    long sum; /* checked: every item arrived once */
};

static int producer(void *arg)
{
    struct round *r = arg;
    for (long i = 0; i < r->items; i++) {
        int rc = coio_queue_put(r->q, (void *)(intptr_t)(i + 1));
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int consumer(void *arg)
{
    struct round *r = arg;
    for (long i = 0; i < r->items; i++) {
        void *item;
        int rc = coio_queue_get(r->q, &item);
        if (rc < 0)
            return rc;
        r->sum += (long)(intptr_t)item;
    }
    return 0;
}

static int round_of(long items, uint64_t *ns)
{
    struct round r = {.q = coio_queue_create(COIO_QUEUE_FIFO, 1, NULL), .items = items};
    if (!r.q)
        return -ENOMEM;
    uint64_t t0 = bench_now_ns();
    coio_task *c = coio_spawn(consumer, &r);
    coio_task *p = coio_spawn(producer, &r);
    int rc = coio_gather(c, p);
    *ns = bench_now_ns() - t0;
    coio_queue_destroy(r.q);
    if (rc == 0 && r.sum != items * (items + 1) / 2)
        rc = -EIO;
    return rc;
}

static int bench_main(void *arg)
{
    long items = *(long *)arg;
    uint64_t ns;
    int rc = round_of(20000, &ns);
    if (rc == 0)
        rc = round_of(items, &ns);
    if (rc < 0)
        return rc;
    bench_emit("W6", "items_per_s", (double)items * 1e9 / (double)ns, "items/s", items);
    bench_emit("W6", "ns_per_item", (double)ns / (double)items, "ns", items);
    return 0;
}

int main(int argc, char **argv)
{
    long items = bench_arg_long(argc, argv, 1, 2000000);
    int rc = coio_run(bench_main, &items);
    if (rc != 0)
        fprintf(stderr, "w6_queue: failed (%d %s)\n", rc, coio_err_name(rc));
    return rc != 0;
}
