/* coio-test: timeout=180 serial novalgrind */
/* Stacks beyond vm.max_map_count's reach, with and without MADV_GUARD_INSTALL, and the
 * guard page that catches an overflow. */
#define _GNU_SOURCE
#include "coio_test.h"

#include <stdio.h>
#include <stdlib.h>

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

struct many {
    int n;
    int done;
    int maps_peak;
};

static int sleeper(void *arg)
{
    struct many *m = arg;
    volatile char touch[256]; /* use a little stack, like a real task */
    touch[0] = 1;
    (void)touch[0];
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
    coio_sleep(0.1); /* every sleeper is parked on its own stack now */
    m->maps_peak = count_maps();
    coio_sleep(0.3);
    return 0;
}

/* 40,000 concurrent tasks: past the ~32,700 where one mprotect'ed guard per stack would
 * exhaust a stock vm.max_map_count. */
static void forty_thousand_tasks_with_guards_fit_the_map_count(void **state)
{
    (void)state;
    struct many m = {.n = 40000};
    coio_assert_rc(coio_run(spawn_many, &m), 0);
    assert_int_equal(m.done, m.n);
    assert_true(m.maps_peak > 0 && m.maps_peak < max_map_count() / 2);
}

/* The old-kernel strategy: mprotect guards while a budget lasts, then unguarded stacks;
 * no spawn fails for want of guards. */
static void mprotect_guards_run_out_without_failing_spawns(void **state)
{
    (void)state;
    setenv("COIO_GUARD", "mprotect", 1);
    struct many m = {.n = 40000};
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

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(forty_thousand_tasks_with_guards_fit_the_map_count),
    cmocka_unit_test(mprotect_guards_run_out_without_failing_spawns),
    cmocka_unit_test(custom_and_default_stack_sizes_work_side_by_side),
    cmocka_unit_test(stacks_are_reused_across_rounds),
};

COIO_TEST_MAIN(tests)
