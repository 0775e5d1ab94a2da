/*
 * The cost of one trip through coio_to_thread's worker pool: a task hands a job that
 * does nothing to a worker and waits for it. Two points: one task (every trip wakes a
 * worker and then the loop: two thread switches on one CPU) and 64 tasks (the trips of
 * a loop turn share a wake-up each way). CPU time of the whole process per trip, so run
 * it pinned to one CPU to see the switches' price:
 *
 *   COIO_BACKEND=epoll taskset -c 0 build/release/bench/pool_trip [trips]
 *
 * Not part of bench/run.sh (no peer does exactly this); bench/analysis.md quotes it.
 */
#define _GNU_SOURCE
#include "bench_util.h"

#include <coio.h>

static long g_left;

static int nothing(void *arg)
{
    (void)arg;
    return 0;
}

static int tripper(void *arg)
{
    (void)arg;
    while (g_left > 0) {
        g_left--;
        if (coio_to_thread(nothing, NULL) != 0)
            return 1;
    }
    return 0;
}

static int point(long trips, int tasks)
{
    coio_task *t[64];
    g_left = trips;
    double c0 = bench_cpu_s();
    uint64_t t0 = bench_now_ns();
    for (int i = 0; i < tasks; i++)
        t[i] = coio_spawn(tripper, NULL);
    int rc[64];
    coio_gather_n(t, (size_t)tasks, rc);
    double s = (double)(bench_now_ns() - t0) * 1e-9;
    for (int i = 0; i < tasks; i++)
        if (rc[i] != 0)
            return 1;
    printf("{\"workload\":\"POOL\",\"impl\":\"coio-%s\",\"metric\":\"trip_tasks=%d\","
           "\"value\":%.3f,\"unit\":\"us_cpu\",\"n\":%ld,\"trips_per_s\":%.0f}\n",
           coio_backend_name(), tasks, (bench_cpu_s() - c0) / (double)trips * 1e6, trips,
           (double)trips / s);
    return 0;
}

static int main_task(void *arg)
{
    long trips = *(long *)arg;
    coio_to_thread(nothing, NULL); /* start a worker */
    return point(trips / 10, 1) || point(trips, 64);
}

int main(int argc, char **argv)
{
    long trips = bench_arg_long(argc, argv, 1, 1000000);
    return coio_run(main_task, &trips) == 0 ? 0 : 1;
}
