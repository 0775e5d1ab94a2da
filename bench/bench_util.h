/*
 * Helpers shared by the coio benchmark programs: a monotonic clock, getrusage
 * snapshots, the fixed pseudo-random sleep distribution, and the one-JSON-line-per-
 * measured-point output that bench/report.py reads.
 *
 * The same xorshift64 generator (seed, shifts and the mapping to [0, 1)) is written
 * out in the Go and Python peers, so every implementation sleeps the same durations.
 */
#ifndef COIO_BENCH_UTIL_H
#define COIO_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Peak resident set in KiB (Linux reports ru_maxrss in KiB) and minor faults so far. */
static inline void bench_rusage(long *maxrss_kib, long *minflt)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    if (maxrss_kib)
        *maxrss_kib = ru.ru_maxrss;
    if (minflt)
        *minflt = ru.ru_minflt;
}

/* CPU time of the whole process so far (every thread, user + system), in seconds. */
static inline double bench_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

#define BENCH_SEED UINT64_C(0x9E3779B97F4A7C15)

/* xorshift64 (Marsaglia 13/7/17); the state must not be 0. */
static inline uint64_t bench_xorshift64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Uniform in [0, 1) from the top 53 bits. */
static inline double bench_unit(uint64_t *s)
{
    return (double)(bench_xorshift64(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* One measured point as one JSON line on stdout; n is the number of operations. */
static inline void bench_emit(const char *workload, const char *metric, double value,
                              const char *unit, long n)
{
    printf("{\"workload\":\"%s\",\"impl\":\"coio\",\"metric\":\"%s\",\"value\":%.6g,"
           "\"unit\":\"%s\",\"n\":%ld}\n",
           workload, metric, value, unit, n);
    fflush(stdout);
}

/* The open-files limit raised to its hard maximum, for servers of 1000 connections. */
static inline void bench_raise_nofile(void)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
}

#ifdef COIO_H /* for the servers, which include coio.h first */
/* In a task: a coio_server of handler on 127.0.0.1:port ("0": a free one), announced on
 * stdout as "listening on 127.0.0.1:PORT" (the scripts wait for that line), until it
 * ends. Returns 0, or 1 when it could not start or ended on an error. */
static inline int bench_serve(const char *name, const char *port, int (*handler)(int fd, void *arg))
{
    int fd = coio_tcp_listen("127.0.0.1", port, 0);
    if (fd < 0) {
        fprintf(stderr, "%s: %s\n", name, coio_strerror(fd));
        return 1;
    }
    coio_server *srv = coio_server_start(fd, handler, NULL, NULL);
    if (!srv)
        return 1;
    printf("listening on 127.0.0.1:%d\n", coio_sock_port(fd));
    fflush(stdout);
    return coio_server_wait(srv) < 0;
}
#endif

static inline long bench_arg_long(int argc, char **argv, int i, long dflt)
{
    if (argc > i) {
        char *end;
        long v = strtol(argv[i], &end, 10);
        if (*end == '\0' && v > 0)
            return v;
        fprintf(stderr, "bad argument '%s'\n", argv[i]);
        exit(2);
    }
    return dflt;
}

#endif /* COIO_BENCH_UTIL_H */
