/*
 * The two machine costs the coio targets are stated against:
 *  - one trivial syscall (getppid, issued with syscall(2) so no libc cache applies);
 *  - one first touch of an anonymous 4 KiB page (a 64 MiB mapping with transparent
 *    huge pages disabled for it, one write per page), i.e. one minor page fault;
 *  - one first touch of a page laid out as the tops of coio's default stacks are (one
 *    page per 256 KiB + 16 KiB of guard): these faults also allocate a page table for
 *    every ~7.5 pages, which the sequential touch does for every 512, and cost more on
 *    this VM. W3's sleepers each take one such fault, so their bound uses this cost;
 *  - for comparison, the cost per page of populating another such 64 MiB mapping with
 *    one madvise(MADV_POPULATE_WRITE) call (Linux >= 5.14): same zeroing and mapping,
 *    without one fault per page.
 * Usage: sys_costs [syscalls] (default 200,000).
 */
#define _GNU_SOURCE
#include "bench_util.h"

#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static void emit(const char *metric, double v, const char *unit, long n)
{
    printf("{\"workload\":\"SYS\",\"impl\":\"machine\",\"metric\":\"%s\",\"value\":%.6g,"
           "\"unit\":\"%s\",\"n\":%ld}\n",
           metric, v, unit, n);
}

int main(int argc, char **argv)
{
    long n = bench_arg_long(argc, argv, 1, 200000);

    /* Warm up, then time n getppid syscalls. */
    for (int i = 0; i < 1000; i++)
        syscall(SYS_getppid);
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++)
        syscall(SYS_getppid);
    uint64_t t1 = bench_now_ns();
    emit("ns_per_syscall", (double)(t1 - t0) / (double)n, "ns", n);

    const size_t len = (size_t)64 << 20, page = 4096;
    unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                            -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    madvise(p, len, MADV_NOHUGEPAGE); /* measure 4 KiB faults, as task stacks take them */
    long f0, f1;
    bench_rusage(NULL, &f0);
    t0 = bench_now_ns();
    for (size_t off = 0; off < len; off += page)
        p[off] = 1;
    t1 = bench_now_ns();
    bench_rusage(NULL, &f1);
    long pages = (long)(len / page);
    emit("us_per_first_touch", (double)(t1 - t0) / 1e3 / (double)pages, "us", pages);
    emit("faults_per_touched_page", (double)(f1 - f0) / (double)pages, "faults", pages);
    munmap(p, len);

    /* 8192 tops: ~2.2 GiB of address space, reserved only (MAP_NORESERVE). */
    const size_t stride = (256 + 16) << 10, ntops = 8192;
    p = mmap(NULL, stride * ntops, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    madvise(p, stride * ntops, MADV_NOHUGEPAGE);
    t0 = bench_now_ns();
    for (size_t i = 1; i <= ntops; i++)
        p[i * stride - page] = 1;
    t1 = bench_now_ns();
    emit("us_per_first_touch_stack_tops", (double)(t1 - t0) / 1e3 / (double)ntops, "us",
         (long)ntops);
    munmap(p, stride * ntops);

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
    p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    madvise(p, len, MADV_NOHUGEPAGE);
    t0 = bench_now_ns();
    int rc = madvise(p, len, MADV_POPULATE_WRITE);
    t1 = bench_now_ns();
    if (rc == 0)
        emit("us_per_page_populated", (double)(t1 - t0) / 1e3 / (double)pages, "us", pages);
    else
        perror("madvise(MADV_POPULATE_WRITE)"); /* older kernel: the point is left out */
    munmap(p, len);
    return 0;
}
