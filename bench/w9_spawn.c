/*
 * W9 spawn: run /bin/true `total` times with `inflight` children at once, and report
 * processes per second.
 *   coio:  `inflight` tasks, each coio_process_spawn + coio_process_wait in a loop, on
 *          the backend COIO_BACKEND chooses (impl "coio" on epoll, "coio_uring" on
 *          io_uring);
 *   plain: the floor of this machine (impl "floor"), a C loop of posix_spawn +
 *          waitpid(-1) keeping `inflight` children alive (no event loop at all).
 * Children inherit stdin, stdout and stderr, as in every peer.
 * `parent_mib` > 0 first allocates and touches that many MiB, so the spawning parent has
 * that much resident memory (a fork would copy its page tables; a vfork-style spawn not).
 * Usage: w9_spawn coio|plain [total=2000] [inflight=16] [parent_mib=0]
 * Output: one JSON line, metric spawn_per_s (spawn_per_s_<N>mib with a big parent).
 */
#define _GNU_SOURCE
#include "bench_util.h"

#include <coio.h>
#include <errno.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static struct {
    long total, inflight, started, done;
    int err;
} run;

static const char *const true_argv[] = {"/bin/true", NULL};
static const char *impl = "floor";

static int worker(void *arg)
{
    (void)arg;
    while (run.started < run.total) {
        run.started++;
        coio_process *p;
        int r = coio_process_spawn(&p, true_argv, NULL);
        if (r == 0) {
            r = coio_process_wait(p);
            coio_process_close(p);
        }
        if (r != 0 && !run.err)
            run.err = r;
        run.done++;
    }
    return 0;
}

static int coio_main(void *arg)
{
    (void)arg;
    coio_task *t[256];
    impl = strcmp(coio_backend_name(), "io_uring") == 0 ? "coio_uring" : "coio";
    long n = run.inflight < 256 ? run.inflight : 256;
    for (long i = 0; i < n; i++)
        t[i] = coio_spawn(worker, NULL);
    return coio_gather_n(t, (size_t)n, NULL);
}

static int plain_loop(void)
{
    long running = 0;
    while (run.done < run.total) {
        while (running < run.inflight && run.started < run.total) {
            pid_t pid;
            int e = posix_spawn(&pid, true_argv[0], NULL, NULL, (char *const *)true_argv,
                                environ);
            if (e)
                return -e;
            run.started++;
            running++;
        }
        int st;
        if (waitpid(-1, &st, 0) < 0)
            return -errno;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            run.err = -EIO;
        running--;
        run.done++;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int use_coio = argc > 1 && strcmp(argv[1], "coio") == 0;
    if (argc < 2 || (!use_coio && strcmp(argv[1], "plain") != 0)) {
        fprintf(stderr, "usage: w9_spawn coio|plain [total] [inflight] [parent_mib]\n");
        return 2;
    }
    run.total = bench_arg_long(argc, argv, 2, 2000);
    run.inflight = bench_arg_long(argc, argv, 3, 16);
    long mib = argc > 4 ? atol(argv[4]) : 0;
    char *ballast = NULL;
    if (mib > 0) {
        size_t n = (size_t)mib << 20;
        ballast = malloc(n);
        if (!ballast) {
            fprintf(stderr, "w9_spawn: cannot allocate %ld MiB\n", mib);
            return 1;
        }
        /* volatile: the stores must happen although nothing reads them back */
        volatile char *touch = ballast;
        for (size_t i = 0; i < n; i += 4096)
            touch[i] = (char)i;
    }
    uint64_t t0 = bench_now_ns();
    int r = use_coio ? coio_run(coio_main, NULL) : plain_loop();
    double secs = (double)(bench_now_ns() - t0) / 1e9;
    if (r < 0 || run.err) {
        fprintf(stderr, "w9_spawn: %s\n", strerror(-(r < 0 ? r : run.err)));
        return 1;
    }
    char metric[64];
    if (mib > 0)
        snprintf(metric, sizeof metric, "spawn_per_s_%ldmib", mib);
    else
        snprintf(metric, sizeof metric, "spawn_per_s");
    printf("{\"workload\":\"W9\",\"impl\":\"%s\",\"metric\":\"%s\",\"value\":%.6g,"
           "\"unit\":\"proc/s\",\"n\":%ld}\n",
           impl, metric, (double)run.total / secs, run.total);
    free(ballast);
    return 0;
}
