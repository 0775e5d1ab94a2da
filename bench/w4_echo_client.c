/*
 * W4 echo load client, in plain C on epoll (no coio, so it measures every server alike).
 *
 *   w4_echo_client PORT CONNS MSG_BYTES SERVER_PID IMPL [WARMUP_S] [MEASURE_S]
 *
 * Opens CONNS connections to 127.0.0.1:PORT. Each connection sends MSG_BYTES, waits for
 * all of them to come back, and sends again (one request in flight per connection).
 * After WARMUP_S (default 1) it measures for MEASURE_S (default 5): requests completed,
 * each request's latency, the server's CPU time (utime + stime of /proc/PID/stat) and
 * its own (getrusage). Prints JSON lines like the other bench programs, impl = IMPL:
 *   req_per_s, p50_us, p99_us, cpu_us_per_req (server CPU per request) and
 *   client_cpu_pct (this client's CPU time over the measured wall time: near 100 % the
 *   client, not the server, limits req_per_s), each with " c=CONNS m=MSG_BYTES" in the
 *   metric name.
 * Pin it to another CPU than the server (bench/w4_echo.sh does: server CPU 0, client 1).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct conn {
    int fd;
    size_t sent, got;
    uint64_t t0;
    int want_out;
} conn;

static size_t msg;
static char *out_buf, *in_buf;
static uint64_t *lat;
static size_t nlat, caplat;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* utime + stime of pid in microseconds (clock ticks from /proc/PID/stat). */
static double cpu_us(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* comm may contain spaces */
    if (!p)
        return -1;
    unsigned long ut = 0, st = 0;
    /* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
     * utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

/* This process's user + system CPU time in microseconds. */
static double self_cpu_us(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) < 0)
        return -1;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void emit(const char *impl, const char *metric, int c, size_t m, double v,
                 const char *unit, long n)
{
    printf("{\"workload\":\"W4\",\"impl\":\"%s\",\"metric\":\"%s c=%d m=%zu\",\"value\":%.6g,"
           "\"unit\":\"%s\",\"n\":%ld}\n",
           impl, metric, c, m, v, unit, n);
}

static void set_interest(int ep, conn *c, int want_out)
{
    if (c->want_out == want_out)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = want_out;
}

/* Sends what is left of the current request. Returns -1 on error. */
static int push(int ep, conn *c)
{
    while (c->sent < msg) {
        ssize_t w = send(c->fd, out_buf + c->sent, msg - c->sent, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN) {
                set_interest(ep, c, 1);
                return 0;
            }
            return -1;
        }
        c->sent += (size_t)w;
    }
    set_interest(ep, c, 0);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: w4_echo_client PORT CONNS MSG_BYTES SERVER_PID IMPL "
                        "[WARMUP_S] [MEASURE_S]\n");
        return 2;
    }
    int port = atoi(argv[1]), nconn = atoi(argv[2]), spid = atoi(argv[4]);
    msg = (size_t)atol(argv[3]);
    const char *impl = argv[5];
    double warm = argc > 6 ? atof(argv[6]) : 1.0, meas = argc > 7 ? atof(argv[7]) : 5.0;
    if (port <= 0 || nconn <= 0 || msg == 0)
        return 2;

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);

    out_buf = malloc(msg);
    in_buf = malloc(65536);
    for (size_t i = 0; i < msg; i++)
        out_buf[i] = (char)('a' + i % 26);
    caplat = 1u << 20;
    lat = malloc(caplat * sizeof *lat);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    conn *cs = calloc((size_t)nconn, sizeof *cs);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < nconn; i++) {
        conn *c = &cs[i];
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0) { /* blocking: simple */
            perror("w4_echo_client: connect");
            return 1;
        }
        fcntl(c->fd, F_SETFL, O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
    uint64_t start = now_ns();
    uint64_t m0 = start + (uint64_t)(warm * 1e9), m1 = m0 + (uint64_t)(meas * 1e9);
    for (int i = 0; i < nconn; i++) {
        cs[i].t0 = now_ns();
        if (push(ep, &cs[i]) < 0) {
            perror("w4_echo_client: send");
            return 1;
        }
    }

    struct epoll_event evs[512];
    double cpu0 = -1, cpu1 = -1, own0 = -1, own1 = -1;
    long done = 0;
    int measuring = 0;
    for (;;) {
        int n = epoll_wait(ep, evs, 512, 100);
        uint64_t t = now_ns();
        if (!measuring && t >= m0) {
            measuring = 1;
            cpu0 = cpu_us(spid);
            own0 = self_cpu_us();
            m0 = t;
        }
        if (measuring && t >= m1) {
            cpu1 = cpu_us(spid);
            own1 = self_cpu_us();
            m1 = t;
            break;
        }
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (evs[i].events & EPOLLOUT)
                if (push(ep, c) < 0)
                    goto broken;
            if (!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                continue;
            ssize_t r = recv(c->fd, in_buf, 65536, 0);
            if (r == 0 || (r < 0 && errno != EAGAIN))
                goto broken;
            if (r < 0)
                continue;
            c->got += (size_t)r;
            if (c->got < msg)
                continue;
            uint64_t te = now_ns();
            if (measuring) {
                done++;
                if (nlat == caplat) {
                    caplat *= 2;
                    lat = realloc(lat, caplat * sizeof *lat);
                }
                lat[nlat++] = te - c->t0;
            }
            c->got -= msg; /* never more than one request in flight */
            c->sent = 0;
            c->t0 = te;
            if (push(ep, c) < 0)
                goto broken;
        }
    }
    double secs = (double)(m1 - m0) / 1e9;
    qsort(lat, nlat, sizeof *lat, cmp_u64);
    emit(impl, "req_per_s", nconn, msg, (double)done / secs, "req/s", done);
    emit(impl, "p50_us", nconn, msg, nlat ? (double)lat[nlat / 2] / 1e3 : 0, "us", done);
    emit(impl, "p99_us", nconn, msg, nlat ? (double)lat[nlat * 99 / 100] / 1e3 : 0, "us", done);
    if (cpu0 >= 0 && cpu1 >= 0 && done)
        emit(impl, "cpu_us_per_req", nconn, msg, (cpu1 - cpu0) / (double)done, "us", done);
    if (own0 >= 0 && own1 >= 0)
        emit(impl, "client_cpu_pct", nconn, msg, (own1 - own0) / (secs * 1e4), "%", done);
    fflush(stdout);
    return 0;
broken:
    fprintf(stderr, "w4_echo_client: a connection failed: %s\n", strerror(errno));
    return 1;
}
