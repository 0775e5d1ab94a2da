/*
 * W8 files peer on libuv (Debian's libuv1-dev): uv_fs_* requests, which libuv runs on
 * its thread pool (UV_THREADPOOL_SIZE, 4 by default), 64 in flight, as bench/w8_files.c
 * does with coio:
 *
 *   libuv_files b DIR [N=10000]    DIR/b/fNNNNN: open, read (8 KiB buffer), close -> files/s
 *   libuv_files c DIR [OPS=200000] random 4 KiB preads of DIR/w8.dat -> IOPS
 *   libuv_files d DIR [N=1000]     DIR/d/fNNNNN: open, write 64 KiB, fsync, close -> files/s
 *
 * Prints one JSON line in w8_files.c's schema (impl "libuv", cpu_us_per_op).
 * Build: cc -O2 libuv_files.c -o libuv_files $(pkg-config --cflags --libs libuv)
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <uv.h>

#define INFLIGHT 64

struct slot {
    uv_fs_t req;
    uv_file fd;
    long i;
    uint64_t rng;
    char buf[64 * 1024];
};

static uv_loop_t *loop;
static char mode;
static const char *dir;
static long n, next, done, failed;
static uv_file big_fd;
static int64_t blocks;

static void step(uv_fs_t *req);

static void start(struct slot *s)
{
    char path[600];
    if (next >= n)
        return;
    s->i = next++;
    if (mode == 'c') {
        s->rng ^= s->rng << 13, s->rng ^= s->rng >> 7, s->rng ^= s->rng << 17;
        uv_buf_t b = uv_buf_init(s->buf, 4096);
        uv_fs_read(loop, &s->req, big_fd, &b, 1, (int64_t)(s->rng % (uint64_t)blocks) * 4096, step);
        return;
    }
    snprintf(path, sizeof path, "%s/%c/f%05ld", dir, mode, s->i);
    if (mode == 'b')
        uv_fs_open(loop, &s->req, path, O_RDONLY, 0, step);
    else
        uv_fs_open(loop, &s->req, path, O_WRONLY | O_CREAT | O_TRUNC, 0600, step);
}

/* One callback per request; what finished tells what comes next. */
static void step(uv_fs_t *req)
{
    struct slot *s = (struct slot *)req;
    uv_fs_type t = req->fs_type;
    ssize_t r = req->result;
    uv_fs_req_cleanup(req);
    if (r < 0) {
        if (!failed++)
            fprintf(stderr, "libuv_files: %s\n", uv_strerror((int)r));
        return;
    }
    uv_buf_t b = uv_buf_init(s->buf, mode == 'b' ? 8192 : 64 * 1024);
    switch (t) {
    case UV_FS_OPEN:
        s->fd = (uv_file)r;
        if (mode == 'b')
            uv_fs_read(loop, req, s->fd, &b, 1, -1, step);
        else
            uv_fs_write(loop, req, s->fd, &b, 1, -1, step);
        return;
    case UV_FS_READ:
        if (mode == 'c') {
            if (r != 4096 && !failed++)
                fprintf(stderr, "libuv_files: short pread\n");
            done++;
            start(s);
            return;
        }
        uv_fs_close(loop, req, s->fd, step);
        return;
    case UV_FS_WRITE:
        uv_fs_fsync(loop, req, s->fd, step);
        return;
    case UV_FS_FSYNC:
        uv_fs_close(loop, req, s->fd, step);
        return;
    case UV_FS_CLOSE:
        done++;
        start(s);
        return;
    default:
        return;
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

int main(int argc, char **argv)
{
    if (argc < 3 || !strchr("bcd", argv[1][0])) {
        fprintf(stderr, "usage: libuv_files b|c|d DIR [N]\n");
        return 2;
    }
    mode = argv[1][0];
    dir = argv[2];
    n = argc > 3 ? atol(argv[3]) : mode == 'b' ? 10000 : mode == 'c' ? 200000 : 1000;
    loop = uv_default_loop();
    char path[600];
    if (mode == 'c') {
        struct stat st;
        snprintf(path, sizeof path, "%s/w8.dat", dir);
        big_fd = open(path, O_RDONLY);
        if (big_fd < 0 || fstat(big_fd, &st) < 0) {
            perror(path);
            return 1;
        }
        blocks = st.st_size / 4096;
    } else if (mode == 'd') {
        snprintf(path, sizeof path, "%s/d", dir);
        mkdir(path, 0700);
    }
    static struct slot slots[INFLIGHT];
    double c0 = cpu_s(), t0 = now_s();
    for (int i = 0; i < INFLIGHT; i++) {
        slots[i].rng = 0x9e3779b97f4a7c15ULL + (uint64_t)i;
        start(&slots[i]);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    double s = now_s() - t0, cpu = cpu_s() - c0;
    if (failed || done != n)
        return 1;
    const char *w = mode == 'b' ? "W8b" : mode == 'c' ? "W8c" : "W8d";
    const char *m = mode == 'b' ? "files_per_s_open_read_close" : mode == 'c' ? "iops" : "files_per_s";
    printf("{\"workload\":\"%s\",\"impl\":\"libuv\",\"metric\":\"%s\",\"value\":%.6g,"
           "\"unit\":\"%s\",\"n\":%ld,\"cpu_us_per_op\":%.3f}\n",
           w, m, (double)done / s, mode == 'c' ? "ops/s" : "files/s", done, cpu * 1e6 / (double)done);
    return 0;
}
