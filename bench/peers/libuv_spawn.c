/*
 * W9 spawn peer on libuv (Debian's libuv1-dev): /bin/true run `total` times with
 * `inflight` children at once through uv_spawn; each exit callback closes its handle and
 * starts the next child. stdin, stdout and stderr are inherited, as in the other
 * implementations. `parent_mib` > 0 first allocates and touches that many MiB, so the
 * parent spawns with that much resident memory.
 *
 *   libuv_spawn [total=2000] [inflight=16] [parent_mib=0]
 * Build: cc -O2 libuv_spawn.c -o libuv_spawn $(pkg-config --cflags --libs libuv)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <uv.h>

static uv_loop_t *loop;
static long total, started, done, failed;
static uv_stdio_container_t stdio[3] = {
    {.flags = UV_INHERIT_FD, .data.fd = 0},
    {.flags = UV_INHERIT_FD, .data.fd = 1},
    {.flags = UV_INHERIT_FD, .data.fd = 2},
};

static void start_one(void);

static void on_close(uv_handle_t *h)
{
    free(h);
    start_one();
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    if (status != 0 || sig != 0)
        failed++;
    done++;
    uv_close((uv_handle_t *)p, on_close);
}

static void start_one(void)
{
    if (started >= total)
        return;
    started++;
    char *args[] = {"/bin/true", NULL};
    uv_process_options_t o = {
        .exit_cb = on_exit_cb, .file = args[0], .args = args, .stdio_count = 3, .stdio = stdio};
    uv_process_t *p = malloc(sizeof *p);
    int r = p ? uv_spawn(loop, p, &o) : UV_ENOMEM;
    if (r != 0) {
        fprintf(stderr, "libuv_spawn: uv_spawn: %s\n", uv_strerror(r));
        exit(1);
    }
}

int main(int argc, char **argv)
{
    total = argc > 1 ? atol(argv[1]) : 2000;
    long inflight = argc > 2 ? atol(argv[2]) : 16;
    long mib = argc > 3 ? atol(argv[3]) : 0;
    char *ballast = NULL;
    if (mib > 0) {
        size_t n = (size_t)mib << 20;
        ballast = malloc(n);
        if (!ballast) {
            fprintf(stderr, "libuv_spawn: cannot allocate %ld MiB\n", mib);
            return 1;
        }
        volatile char *touch = ballast; /* the stores must happen: nothing reads them */
        for (size_t i = 0; i < n; i += 4096)
            touch[i] = (char)i;
    }
    loop = uv_default_loop();
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < inflight; i++)
        start_one();
    uv_run(loop, UV_RUN_DEFAULT);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    if (failed || done != total) {
        fprintf(stderr, "libuv_spawn: %ld of %ld children failed\n", failed + total - done, total);
        return 1;
    }
    char metric[64];
    if (mib > 0)
        snprintf(metric, sizeof metric, "spawn_per_s_%ldmib", mib);
    else
        snprintf(metric, sizeof metric, "spawn_per_s");
    printf("{\"workload\":\"W9\",\"impl\":\"libuv\",\"metric\":\"%s\",\"value\":%.6g,"
           "\"unit\":\"proc/s\",\"n\":%ld}\n",
           metric, (double)total / secs, total);
    free(ballast);
    return 0;
}
