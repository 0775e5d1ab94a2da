/*
 * W2 spawn: `total` empty tasks (fn returns 0), spawned and gathered
 *   batched: coio_spawn x batch into an array, then coio_gather_n, repeated;
 *   all:     every task spawned first, then one coio_gather_n.
 *   vars:    batched, with 0..4 task-local values (coio_var) set in the spawning task
 *            (rounds interleaved, best round each, thread CPU time so that load on other
 *            cores moves it little), once with empty children and once with children
 *            that each set a value of their own; then coio_var_get and coio_var_set
 *            in ns per call.
 * One mode per process, so that ru_maxrss is the peak of that mode alone.
 * Usage: w2_spawn batched|all|vars [total=1000000] [batch=10000] [k], where k (vars
 * only) runs one round with k values and empty children, for callgrind.
 * Output: <mode>_tasks_per_s, <mode>_peak_rss_mib; vars (CPU ns, so that they stay out
 * of the tasks/s chart): vars<k>_ns_per_task, vars<k>_child_set_ns_per_task (k = 0..4),
 * var_get_ns, var_set_ns (no destructor), var_set_dtor_ns (with one).
 */
#define _GNU_SOURCE
#include "bench_util.h"

#include <coio.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

struct cfg {
    int all, vars, only_k;
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

/* ---- vars mode ---- */

#define NVARS 4
static coio_var *vars[NVARS];
static int var_values[NVARS];

static void no_op_destructor(void *value)
{
    (void)value;
}

static int set_own(void *arg)
{
    (void)arg;
    return coio_var_set(vars[0], &var_values[1]); /* copies the context: a request id */
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU ns per task of spawning and gathering `total` tasks running fn, with k values set. */
static double spawn_round(coio_task **ts, const struct cfg *c, int k, int (*fn)(void *))
{
    for (int i = 0; i < NVARS; i++)
        coio_var_set(vars[i], i < k ? &var_values[i] : NULL);
    uint64_t t0 = thread_cpu_ns();
    for (long done = 0; done < c->total; done += c->batch) {
        for (long i = 0; i < c->batch; i++)
            if (!(ts[i] = coio_spawn(fn, NULL)))
                return -1;
        if (coio_gather_n(ts, (size_t)c->batch, NULL) < 0)
            return -1;
    }
    return (double)(thread_cpu_ns() - t0) / (double)c->total;
}

static int vars_main(const struct cfg *c)
{
    for (int i = 0; i < NVARS; i++)
        if (!(vars[i] = coio_var_new(i == NVARS - 1 ? no_op_destructor : NULL)))
            return 1;
    coio_task **ts = malloc(sizeof(*ts) * (size_t)c->batch);
    if (!ts)
        return 1;
    if (c->only_k >= 0) {
        double ns = spawn_round(ts, c, c->only_k, empty);
        free(ts);
        if (ns < 0)
            return 1;
        char m[64];
        snprintf(m, sizeof m, "vars%d_ns_per_task", c->only_k);
        bench_emit("W2", m, ns, "ns", c->total);
        for (int i = 0; i < NVARS; i++) {
            coio_var_set(vars[i], NULL);
            coio_var_delete(vars[i]);
        }
        return 0;
    }
    double best[2][NVARS + 1];
    for (int r = 0; r < 5; r++)
        for (int f = 0; f < 2; f++)
            for (int k = 0; k <= NVARS; k++) {
                struct cfg one = *c;
                one.total = c->total / 5 / c->batch * c->batch;
                if (one.total < c->batch)
                    one.total = c->batch;
                double ns = spawn_round(ts, &one, k, f ? set_own : empty);
                if (ns < 0)
                    return 1;
                if (r == 0 || ns < best[f][k])
                    best[f][k] = ns;
            }
    free(ts);
    char m[64];
    for (int f = 0; f < 2; f++)
        for (int k = 0; k <= NVARS; k++) {
            snprintf(m, sizeof m, "vars%d%s_ns_per_task", k, f ? "_child_set" : "");
            bench_emit("W2", m, best[f][k], "ns", c->total);
        }

    /* get and set with all four set, in the spawning task (its context unshared). */
    long n = 10 * c->total;
    for (int i = 0; i < NVARS; i++)
        coio_var_set(vars[i], &var_values[i]);
    volatile uintptr_t sink = 0;
    uint64_t t0 = thread_cpu_ns();
    for (long i = 0; i < n; i++)
        sink += (uintptr_t)coio_var_get(vars[NVARS - 2]);
    double get_ns = (double)(thread_cpu_ns() - t0) / (double)n;
    t0 = thread_cpu_ns();
    for (long i = 0; i < n; i++)
        coio_var_set(vars[NVARS - 2], &var_values[i & 1]);
    double set_ns = (double)(thread_cpu_ns() - t0) / (double)n;
    t0 = thread_cpu_ns();
    for (long i = 0; i < n; i++)
        coio_var_set(vars[NVARS - 1], &var_values[i & 1]);
    double set_dtor_ns = (double)(thread_cpu_ns() - t0) / (double)n;
    (void)sink;
    bench_emit("W2", "var_get_ns", get_ns, "ns", n);
    bench_emit("W2", "var_set_ns", set_ns, "ns", n);
    bench_emit("W2", "var_set_dtor_ns", set_dtor_ns, "ns", n);
    for (int i = 0; i < NVARS; i++) {
        coio_var_set(vars[i], NULL);
        coio_var_delete(vars[i]);
    }
    return 0;
}

static int bench_main(void *arg)
{
    struct cfg *c = arg;
    if (c->vars)
        return vars_main(c);
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
    if (argc < 2 ||
        (strcmp(argv[1], "batched") && strcmp(argv[1], "all") && strcmp(argv[1], "vars"))) {
        fprintf(stderr, "usage: w2_spawn batched|all|vars [total] [batch]\n");
        return 2;
    }
    c.all = !strcmp(argv[1], "all");
    c.vars = !strcmp(argv[1], "vars");
    c.total = bench_arg_long(argc, argv, 2, 1000000);
    c.batch = bench_arg_long(argc, argv, 3, 10000);
    c.only_k = -1;
    if (c.vars && argc > 4) {
        c.only_k = atoi(argv[4]);
        if (c.only_k < 0 || c.only_k > NVARS) {
            fprintf(stderr, "w2_spawn: k is 0..%d\n", NVARS);
            return 2;
        }
    }
    if (!c.all && c.total % c.batch) {
        fprintf(stderr, "w2_spawn: total must be a multiple of batch\n");
        return 2;
    }
    int rc = coio_run(bench_main, &c);
    if (rc != 0)
        fprintf(stderr, "w2_spawn: failed (%d %s)\n", rc, coio_err_name(rc));
    return rc != 0;
}
