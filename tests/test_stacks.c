/* coio-test: timeout=180 serial novalgrind */
/* Stacks beyond vm.max_map_count's reach, with and without MADV_GUARD_INSTALL, the guard
 * pages below them, and the pool giving memory back after a peak. */
#define _GNU_SOURCE
#include "coio_test.h"

#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int count_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "re");
    int n = 0, c;
    if (!f)
        return -1;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static long max_map_count(void)
{
    long v = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = 65530;
        fclose(f);
    }
    return v;
}

#define PAGE 4096u
#define GUARD (4 * PAGE) /* the 16 KiB guard docs/design.md draws below every stack */

struct many {
    int n;
    int started, done;
    int maps_peak;
    int probe[3];       /* spawn indices whose guards are probed (-1: none) */
    char *where[3];     /* a local of each of those tasks: an address on its stack */
    int probe_status;   /* the probing child's exit status */
};

/* In a forked child: whether writing one byte at p faults. */
static sigjmp_buf probe_jb;

static void probe_segv(int sig)
{
    (void)sig;
    siglongjmp(probe_jb, 1);
}

static int writes_fault(char *p)
{
    if (sigsetjmp(probe_jb, 1))
        return 1;
    *(volatile char *)p = 0;
    return 0;
}

/* Child: for each probed task, walks down its stack from the page of its local until a
 * write faults. That must happen exactly 256 KiB (COIO_STACK_SIZE_DEFAULT) below the
 * stack's top, which lies a little above the local, and all 16 KiB below must fault
 * too. Without a guard the walk runs into the stack below it, which is writable. Exit
 * 0, or 10 * (probe + 1) + what failed. */
static int probe_guards(const struct many *m)
{
    struct sigaction sa = {.sa_handler = probe_segv, .sa_flags = SA_ONSTACK | SA_NODEFER};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    for (int k = 0; k < 3; k++) {
        if (m->probe[k] < 0)
            continue;
        char *local = m->where[k];
        char *p = (char *)((uintptr_t)local & ~(uintptr_t)(PAGE - 1));
        size_t n = 0;
        while (n <= COIO_STACK_SIZE_DEFAULT / PAGE + 1 && !writes_fault(p)) {
            p -= PAGE;
            n++;
        }
        char *lo = p + PAGE, *top = lo + COIO_STACK_SIZE_DEFAULT;
        if (n > COIO_STACK_SIZE_DEFAULT / PAGE)
            return 10 * (k + 1) + 1; /* no fault below the stack: no guard */
        if (!(top > local && top - local < 2 * PAGE))
            return 10 * (k + 1) + 2; /* the fault came before the stack's bottom */
        for (char *g = lo - GUARD; g < lo; g += PAGE)
            if (!writes_fault(g))
                return 10 * (k + 1) + 3; /* a guard thinner than 16 KiB */
    }
    return 0;
}

static int sleeper(void *arg)
{
    struct many *m = arg;
    volatile char touch[256]; /* use a little stack, like a real task */
    touch[0] = 1;
    (void)touch[0];
    int i = m->started++; /* tasks first run in spawn order */
    for (int k = 0; k < 3; k++)
        if (m->probe[k] == i)
            m->where[k] = (char *)&touch[0];
    if (coio_sleep(0.2) == 0)
        m->done++;
    return 0;
}

static int spawn_many(void *arg)
{
    struct many *m = arg;
    for (int i = 0; i < m->n; i++)
        if (coio_spawn_ex(sleeper, m, &(coio_spawn_opts){.flags = COIO_SPAWN_DETACHED}) == NULL)
            return -errno;
    while (m->started < m->n)
        coio_sleep(0.001);
    /* every sleeper is parked on its own stack now */
    m->maps_peak = count_maps();
    if (m->probe[0] >= 0) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(probe_guards(m));
        if (pid < 0 || waitpid(pid, &m->probe_status, 0) != pid)
            return -errno;
    }
    while (m->done < m->n)
        coio_sleep(0.01);
    return 0;
}

/* MADV_GUARD_INSTALL (Linux >= 6.13) guards every stack; older kernels fall back to
 * mprotect guards, which run out after a quarter of vm.max_map_count. */
static int kernel_has_guard_install(void)
{
    struct utsname u;
    int major = 0, minor = 0;
    if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2)
        return 0;
    return major > 6 || (major == 6 && minor >= 13);
}

/* 40,000 concurrent tasks: past the ~32,700 where one mprotect'ed guard per stack would
 * exhaust a stock vm.max_map_count, and each of them (the first, one in the middle, the
 * last) still has its guard. */
static void forty_thousand_tasks_with_guards_fit_the_map_count(void **state)
{
    (void)state;
    unsetenv("COIO_GUARD");
    struct many m = {.n = 40000, .probe = {0, 20000, 39999}};
    if (!kernel_has_guard_install())
        m.probe[1] = m.probe[2] = -1; /* only the first ones have an mprotect guard */
    coio_assert_rc(coio_run(spawn_many, &m), 0);
    assert_int_equal(m.done, m.n);
    assert_true(m.maps_peak > 0 && m.maps_peak < max_map_count() / 2);
    assert_true(WIFEXITED(m.probe_status));
    assert_int_equal(WEXITSTATUS(m.probe_status), 0);
}

/* The old-kernel strategy: mprotect guards while a budget lasts, then unguarded stacks;
 * no spawn fails for want of guards. */
static void mprotect_guards_run_out_without_failing_spawns(void **state)
{
    (void)state;
    setenv("COIO_GUARD", "mprotect", 1);
    struct many m = {.n = 40000, .probe = {-1, -1, -1}};
    coio_assert_rc(coio_run(spawn_many, &m), 0);
    assert_int_equal(m.done, m.n);
    assert_true(m.maps_peak > 0 && m.maps_peak < max_map_count());
}

static int use_stack(void *arg)
{
    size_t n = *(size_t *)arg;
    volatile char *buf = __builtin_alloca(n);
    for (size_t i = 0; i < n; i += 4096)
        buf[i] = (char)i;
    return (int)(buf[n - 4096] + 1);
}

static int big_and_small(void *arg)
{
    (void)arg;
    size_t big = 900 * 1024, small = 100 * 1024;
    coio_task *a = coio_spawn_ex(use_stack, &big, &(coio_spawn_opts){.stack_size = 1024 * 1024});
    coio_task *b = coio_spawn_ex(use_stack, &small, NULL);
    int ra = coio_await(a), rb = coio_await(b);
    return ra > 0 && rb > 0 ? 0 : -1;
}

static void custom_and_default_stack_sizes_work_side_by_side(void **state)
{
    (void)state;
    coio_assert_rc(coio_run(big_and_small, NULL), 0);
}

static int nap(void *arg)
{
    (void)arg;
    return coio_sleep(0.001);
}

struct reuse {
    int rounds;
    int maps_after_10, maps_after_50;
};

static int reuse(void *arg)
{
    struct reuse *st = arg;
    for (int r = 0; r < 50; r++) {
        coio_task *t[100];
        for (int i = 0; i < 100; i++)
            t[i] = coio_spawn(nap, NULL);
        coio_assert_rc(coio_gather_n(t, 100, NULL), 0);
        st->rounds++;
        if (st->rounds == 10)
            st->maps_after_10 = count_maps();
    }
    st->maps_after_50 = count_maps();
    return 0;
}

/* Finished tasks give their stacks back: after the first rounds, 40 more rounds of 100
 * tasks map nothing new (a sanitizer's own allocator may add a few mappings). */
static void stacks_are_reused_across_rounds(void **state)
{
    (void)state;
    struct reuse st = {0};
    coio_assert_rc(coio_run(reuse, &st), 0);
    assert_int_equal(st.rounds, 50);
    assert_true(st.maps_after_50 <= st.maps_after_10 + 4);
}

/* ---- giving memory back --------------------------------------------------------------- */

static long rss_kib(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "re");
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

#define BURST 20000
/* RSS may keep 1/RSS_KEPT_DIV of the peak's growth (see the case below). */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_KEPT_DIV 3
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RSS_KEPT_DIV 3
#endif
#endif
#ifndef RSS_KEPT_DIV
#define RSS_KEPT_DIV 10
#endif

struct burst {
    int started;
    long rss0, rss_peak, rss_after;
    double settle_s;
};

static int stack_user(void *arg)
{
    struct burst *b = arg;
    volatile char frame[12 * 1024]; /* three pages, like a connection handler */
    for (size_t i = 0; i < sizeof frame; i += 512)
        frame[i] = 1;
    /* The frame's address escapes: clang -O3 otherwise keeps only the bytes written. */
    __asm__ volatile("" : : "r"(frame) : "memory");
    b->started++;
    return coio_sleep(0.05) + frame[0] - 1;
}

static int burst_main(void *arg)
{
    struct burst *b = arg;
    static coio_task *t[BURST];
    b->rss0 = rss_kib();
    for (int i = 0; i < BURST; i++)
        if (!(t[i] = coio_spawn(stack_user, b)))
            return -errno;
    while (b->started < BURST)
        coio_yield();
    b->rss_peak = rss_kib();
    int rc = coio_gather_n(t, BURST, NULL);
    if (rc < 0)
        return rc;
    /* Idle stacks go back after one to two trim periods (1 s each): look until then. */
    double t0 = coio_now();
    long want = b->rss0 + (b->rss_peak - b->rss0) / RSS_KEPT_DIV;
    do {
        coio_sleep(0.1);
        b->rss_after = rss_kib();
    } while (b->rss_after > want && coio_now() - t0 < 10);
    b->settle_s = coio_now() - t0;
    return 0;
}

/* After a burst of 20,000 tasks that each used 12 KiB of stack, the pool gives the
 * pages back: RSS falls to within a tenth of the peak's growth of where it was (what
 * stays: 256 warm stacks, the task structs the loop keeps, the timer heap). Under
 * AddressSanitizer a third: its shadow of the stacks (an eighth of them) and its own
 * allocator keep ~22 % of the peak, which is not the pool's to give back; without the
 * trim RSS stays at the peak in both builds. */
static void rss_falls_back_after_a_burst_of_tasks(void **state)
{
    (void)state;
    struct burst b = {0};
    coio_assert_rc(coio_run(burst_main, &b), 0);
    print_message("RSS %ld KiB before, %ld KiB at the peak, %ld KiB %.1f s after\n", b.rss0,
                  b.rss_peak, b.rss_after, b.settle_s);
    assert_true(b.rss_peak - b.rss0 > BURST * 12L);
    assert_true(b.rss_after - b.rss0 < (b.rss_peak - b.rss0) / RSS_KEPT_DIV);
}

static int short_sleeper(void *arg)
{
    (void)arg;
    return coio_sleep(0.01);
}

static int burst_then_return(void *arg)
{
    double *ended = arg;
    static coio_task *t[1000];
    for (int i = 0; i < 1000; i++)
        if (!(t[i] = coio_spawn(short_sleeper, NULL)))
            return -errno;
    int rc = coio_gather_n(t, 1000, NULL); /* 1000 free stacks: a trim is pending */
    *ended = coio_now();
    return rc;
}

/* The trim timer runs only while tasks do: coio_run returns as soon as main is done,
 * not when the pending trim (1 s away) would have fired. */
static void pending_trim_does_not_delay_the_end_of_coio_run(void **state)
{
    (void)state;
    double ended = 0;
    coio_assert_rc(coio_run(burst_then_return, &ended), 0);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double late = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - ended;
    print_message("coio_run returned %.3f s after main\n", late);
    assert_true(late < 0.5);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(forty_thousand_tasks_with_guards_fit_the_map_count),
    cmocka_unit_test(mprotect_guards_run_out_without_failing_spawns),
    cmocka_unit_test(custom_and_default_stack_sizes_work_side_by_side),
    cmocka_unit_test(stacks_are_reused_across_rounds),
    cmocka_unit_test(rss_falls_back_after_a_burst_of_tasks),
    cmocka_unit_test(pending_trim_does_not_delay_the_end_of_coio_run),
};

COIO_TEST_MAIN(tests)
