/*
 * W8 files: the files API under load (run by bench/w8_files.sh, which makes the data
 * and runs fio and dd beside it).
 *
 *   w8_files a DIR          sequential read of DIR/w8.dat in 128 KiB pieces -> GB/s
 *   w8_files b DIR [N]      N (10,000) files DIR/b/fNNNNN of 4 KiB, each opened, read
 *                           whole and closed, 64 in flight -> files/s; b1 is one
 *                           coio_file_read_all each, b3 open + read + close
 *   w8_files c DIR [OPS]    OPS (200,000) random 4 KiB preads of DIR/w8.dat, 64 in
 *                           flight -> IOPS
 *   w8_files d DIR [N]      N (1,000) files of 64 KiB written and fsynced, 64 in
 *                           flight -> files/s
 *
 * Prints one JSON line per point: {"workload","impl","metric","value","unit","n",
 * "cpu_us_per_op","peak_threads"}; impl is coio-<backend> (COIO_BACKEND picks it), and
 * coio-io_uring-pool on io_uring with COIO_URING_FILES=0.
 * peak_threads is the largest thread count of the process sampled every 5 ms.
 */
#define _GNU_SOURCE
#include "bench_util.h"

#include <coio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define INFLIGHT 64

static struct {
    char mode;
    const char *dir;
    long n;
    int variant;
    char path[512];
    int fd;
    int64_t size;
    long next, done;
    int64_t bytes;
    int peak_threads;
    bool stop;
    int err;
} g;

static int threads_now(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    if (f)
        fclose(f);
    return n;
}

/* Samples the thread count (the pool's and io_uring's workers) while the run lasts. */
static int sampler(void *arg)
{
    (void)arg;
    while (!g.stop) {
        int n = threads_now();
        if (n > g.peak_threads)
            g.peak_threads = n;
        if (coio_sleep(0.005) < 0)
            break;
    }
    return 0;
}

static void emit(const char *workload, const char *metric, double value, const char *unit,
                 long n, double cpu)
{
    /* io_uring told to leave files to the pool is a third way to compare */
    const char *be = coio_backend_name(), *files = getenv("COIO_URING_FILES");
    bool pool = strcmp(be, "io_uring") == 0 && files && strcmp(files, "0") == 0;
    printf("{\"workload\":\"%s\",\"impl\":\"coio-%s%s\",\"metric\":\"%s\",\"value\":%.6g,"
           "\"unit\":\"%s\",\"n\":%ld,\"cpu_us_per_op\":%.3f,\"peak_threads\":%d}\n",
           workload, be, pool ? "-pool" : "", metric, value, unit, n, cpu * 1e6 / (double)n,
           g.peak_threads);
    fflush(stdout);
}

static void fail(int r, const char *what)
{
    if (!g.err) {
        g.err = r;
        fprintf(stderr, "w8_files: %s: %s\n", what, coio_strerror(r));
    }
}

/* ---- a: sequential read ---- */

static int seq_read(void)
{
    char *buf = aligned_alloc(4096, 128 * 1024);
    int fd = coio_file_open(g.path, O_RDONLY, 0);
    if (fd < 0) {
        fail(fd, g.path);
        return fd;
    }
    double c0 = bench_cpu_s();
    uint64_t t0 = bench_now_ns();
    long ops = 0;
    int64_t total = 0;
    for (;;) {
        ssize_t r = coio_file_read(fd, buf, 128 * 1024);
        if (r <= 0) {
            if (r < 0)
                fail((int)r, "read");
            break;
        }
        total += r;
        ops++;
    }
    double s = (double)(bench_now_ns() - t0) * 1e-9;
    emit("W8a", "GB_per_s", (double)total / s / 1e9, "GB/s", ops, bench_cpu_s() - c0);
    coio_file_close(fd);
    free(buf);
    return 0;
}

/* ---- b: small files ---- */

static int small_reader(void *arg)
{
    (void)arg;
    char path[600], buf[8192];
    while (g.next < g.n) {
        long i = g.next++;
        snprintf(path, sizeof path, "%s/b/f%05ld", g.dir, i);
        if (g.variant == 1) {
            void *d;
            ssize_t r = coio_file_read_all(path, 1 << 20, &d);
            if (r < 0)
                return fail((int)r, path), (int)r;
            g.bytes += r;
            free(d);
        } else {
            int fd = coio_file_open(path, O_RDONLY, 0);
            if (fd < 0)
                return fail(fd, path), fd;
            ssize_t r = coio_file_read(fd, buf, sizeof buf);
            coio_file_close(fd);
            if (r < 0)
                return fail((int)r, path), (int)r;
            g.bytes += r;
        }
        g.done++;
    }
    return 0;
}

/* ---- c: random preads ---- */

static int random_reader(void *arg)
{
    uint64_t s = BENCH_SEED + (uintptr_t)arg;
    char buf[4096];
    int64_t blocks = g.size / 4096;
    while (g.next < g.n) {
        g.next++;
        int64_t off = (int64_t)(bench_xorshift64(&s) % (uint64_t)blocks) * 4096;
        ssize_t r = coio_file_pread(g.fd, buf, 4096, off);
        if (r != 4096)
            return fail(r < 0 ? (int)r : -EIO, "pread"), -1;
        g.done++;
    }
    return 0;
}

/* ---- d: write + fsync ---- */

static int writer(void *arg)
{
    (void)arg;
    char path[600];
    static char data[64 * 1024];
    while (g.next < g.n) {
        long i = g.next++;
        snprintf(path, sizeof path, "%s/d/f%05ld", g.dir, i);
        memset(data, (int)(i & 0xff), 64);
        int r = coio_file_write_all(path, data, sizeof data, COIO_FILE_SYNC);
        if (r < 0)
            return fail(r, path), r;
        g.done++;
    }
    return 0;
}

static int run_many(int (*fn)(void *), const char *workload, const char *metric,
                    const char *unit)
{
    coio_task *t[INFLIGHT];
    g.next = g.done = 0;
    double c0 = bench_cpu_s();
    uint64_t t0 = bench_now_ns();
    for (int i = 0; i < INFLIGHT; i++)
        t[i] = coio_spawn(fn, (void *)(uintptr_t)i);
    coio_gather_n(t, INFLIGHT, NULL);
    double s = (double)(bench_now_ns() - t0) * 1e-9;
    if (!g.err)
        emit(workload, metric, (double)g.done / s, unit, g.done, bench_cpu_s() - c0);
    return g.err;
}

static int main_task(void *arg)
{
    (void)arg;
    coio_task *smp = coio_spawn(sampler, NULL);
    int r = 0;
    switch (g.mode) {
    case 'a':
        r = seq_read();
        break;
    case 'b':
        g.variant = 1;
        r = run_many(small_reader, "W8b", "files_per_s_read_all", "files/s");
        g.variant = 3;
        if (!r)
            r = run_many(small_reader, "W8b", "files_per_s_open_read_close", "files/s");
        break;
    case 'c': {
        struct stat st;
        g.fd = coio_file_open(g.path, O_RDONLY, 0);
        if (g.fd < 0 || coio_file_fstat(g.fd, &st) < 0) {
            fail(g.fd < 0 ? g.fd : -EIO, g.path);
            r = -1;
            break;
        }
        g.size = st.st_size;
        r = run_many(random_reader, "W8c", "iops", "ops/s");
        coio_file_close(g.fd);
        break;
    }
    case 'd': {
        char d[600];
        snprintf(d, sizeof d, "%s/d", g.dir);
        coio_file_mkdir(d, 0700);
        r = run_many(writer, "W8d", "files_per_s", "files/s");
        break;
    }
    }
    g.stop = true;
    coio_await(smp);
    return r ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 3 || !strchr("abcd", argv[1][0])) {
        fprintf(stderr, "usage: w8_files a|b|c|d DIR [N]\n");
        return 2;
    }
    g.mode = argv[1][0];
    g.dir = argv[2];
    long dflt = g.mode == 'b' ? 10000 : g.mode == 'c' ? 200000 : 1000;
    g.n = bench_arg_long(argc, argv, 3, dflt);
    snprintf(g.path, sizeof g.path, "%s/w8.dat", g.dir);
    int r = coio_run(main_task, NULL);
    return r < 0 ? 1 : r;
}
