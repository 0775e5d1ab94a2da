/* coio_gather_n / coio_gather: result order, error choice, NULL entries, cancellation. */
#define _GNU_SOURCE
#include "coio_test.h"

/* A child sleeps `sleep` seconds, records its sleep's result and completion rank, then
 * optionally does cleanup that suspends (inside a shield) before returning `ret`. */
struct child {
    double sleep;       /* from *base (if set), when gather_main spawned the children */
    const double *base;
    int ret;
    int shielded_cleanup;
    int *rank_counter;
    /* outputs */
    int ran;
    int sleep_rc;
    int rank;
    int done;
};

static int child_fn(void *arg)
{
    struct child *c = arg;
    c->ran = 1;
    double d = c->sleep;
    if (c->base && *c->base > 0) { /* anchored, so slow task starts (sanitizers) cannot reorder wakeups */
        d = *c->base + c->sleep - coio_now();
        d = d > 0 ? d : 0;
    }
    c->sleep_rc = coio_sleep(d);
    if (c->shielded_cleanup) {
        coio_scope s;
        coio_shield_begin(&s, -1);
        coio_sleep(0.01);
        coio_scope_end(&s);
    }
    c->rank = c->rank_counter ? (*c->rank_counter)++ : 0;
    c->done = 1;
    return c->sleep_rc < 0 ? c->sleep_rc : c->ret;
}

struct gstate {
    struct child c[4];
    int results[4];
    int n;
    int rank_counter;
    int rc;
    int all_done_at_return;
    double elapsed;
    double base;
};

static void init_children(struct gstate *g, int n)
{
    g->n = n;
    for (int i = 0; i < n; i++) {
        g->c[i].rank_counter = &g->rank_counter;
        g->c[i].base = &g->base;
        g->results[i] = 12345;
    }
}

static int all_done(const struct gstate *g)
{
    for (int i = 0; i < g->n; i++)
        if (!g->c[i].done)
            return 0;
    return 1;
}

static int gather_main(void *arg)
{
    struct gstate *g = arg;
    coio_task *t[4];
    g->base = coio_now();
    for (int i = 0; i < g->n; i++)
        t[i] = coio_spawn(child_fn, &g->c[i]);
    double t0 = coio_now();
    g->rc = coio_gather_n(t, (size_t)g->n, g->results);
    g->elapsed = coio_now() - t0;
    g->all_done_at_return = all_done(g);
    return 0;
}

static void gather_stores_results_in_argument_order(void **state)
{
    (void)state;
    struct gstate g = {0};
    init_children(&g, 3);
    g.c[0].sleep = 0.06;
    g.c[0].ret = 10;
    g.c[1].sleep = 0.02;
    g.c[1].ret = 20;
    g.c[2].sleep = 0.04;
    g.c[2].ret = 30;
    coio_assert_rc(coio_run(gather_main, &g), 0);
    coio_assert_rc(g.rc, 0);
    /* completion order differed from argument order ... */
    assert_int_equal(g.c[1].rank, 0);
    assert_int_equal(g.c[2].rank, 1);
    assert_int_equal(g.c[0].rank, 2);
    /* ... but results are in argument order */
    assert_int_equal(g.results[0], 10);
    assert_int_equal(g.results[1], 20);
    assert_int_equal(g.results[2], 30);
}

static void gather_returns_zero_when_all_results_nonnegative(void **state)
{
    (void)state;
    struct gstate g = {0};
    init_children(&g, 3);
    g.c[0].ret = 5;
    g.c[1].ret = 0;
    g.c[2].ret = 1000;
    coio_assert_rc(coio_run(gather_main, &g), 0);
    coio_assert_rc(g.rc, 0);
    assert_true(g.all_done_at_return);
}

static void gather_returns_first_error_in_completion_order(void **state)
{
    (void)state;
    struct gstate g = {0};
    init_children(&g, 3);
    g.c[0].sleep = 0.05; /* A: fails last, but is first in argument order */
    g.c[0].ret = -7;
    g.c[1].sleep = 0.01; /* B: fails first */
    g.c[1].ret = -5;
    g.c[2].ret = 3;
    coio_assert_rc(coio_run(gather_main, &g), 0);
    coio_assert_rc(g.rc, -5);
    coio_assert_rc(g.results[0], -7);
    coio_assert_rc(g.results[1], -5);
    coio_assert_rc(g.results[2], 3);
}

static void gather_waits_for_all_tasks_after_an_error(void **state)
{
    (void)state;
    struct gstate g = {0};
    init_children(&g, 2);
    g.c[0].ret = -EIO; /* fails at once */
    g.c[1].sleep = 0.03;
    g.c[1].ret = 1;
    coio_assert_rc(coio_run(gather_main, &g), 0);
    coio_assert_rc(g.rc, -EIO);
    assert_true(g.all_done_at_return);
    coio_assert_rc(g.c[1].sleep_rc, 0); /* the others are not cancelled */
    coio_assert_rc(g.results[1], 1);
}

static int gather_null_entry_main(void *arg)
{
    struct gstate *g = arg;
    coio_task *t[3];
    t[0] = coio_spawn(child_fn, &g->c[0]);
    t[1] = NULL; /* a spawn that failed */
    t[2] = coio_spawn(child_fn, &g->c[2]);
    /* let both children start and block in their sleep */
    coio_sleep(0.01);
    double t0 = coio_now();
    g->rc = coio_gather_n(t, 3, g->results);
    g->elapsed = coio_now() - t0;
    g->all_done_at_return = g->c[0].done && g->c[2].done;
    return 0;
}

static void gather_with_null_entry_cancels_others_and_returns_enomem(void **state)
{
    (void)state;
    struct gstate g = {0};
    init_children(&g, 3);
    g.c[0].sleep = 10;
    g.c[2].sleep = 10;
    coio_assert_rc(coio_run(gather_null_entry_main, &g), 0);
    coio_assert_rc(g.rc, -ENOMEM);
    assert_true(g.c[0].ran && g.c[2].ran);
    coio_assert_rc(g.c[0].sleep_rc, -ECANCELED);
    coio_assert_rc(g.c[2].sleep_rc, -ECANCELED);
    assert_true(g.all_done_at_return); /* awaited, not just cancelled */
    assert_true(g.elapsed < 1.0);
}

/* The gathering task G runs gather_main; the test's main cancels G. */
struct cancel_gather {
    struct gstate g;
    int await_rc;
    double elapsed;
};

static int cancel_gatherer_main(void *arg)
{
    struct cancel_gather *s = arg;
    coio_task *gt = coio_spawn(gather_main, &s->g);
    coio_sleep(0.02); /* G is inside coio_gather_n, children asleep */
    double t0 = coio_now();
    int crc = coio_cancel(gt);
    s->await_rc = coio_await(gt);
    s->elapsed = coio_now() - t0;
    return crc;
}

static void cancelling_gatherer_cancels_and_awaits_children(void **state)
{
    (void)state;
    struct cancel_gather s = {0};
    init_children(&s.g, 3);
    for (int i = 0; i < 3; i++) {
        s.g.c[i].sleep = 10;
        s.g.c[i].shielded_cleanup = 1; /* the gather must wait for this to finish */
    }
    coio_assert_rc(coio_run(cancel_gatherer_main, &s), 0);
    coio_assert_rc(s.await_rc, 0); /* gather_main itself returned 0 */
    coio_assert_rc(s.g.rc, -ECANCELED);
    for (int i = 0; i < 3; i++)
        coio_assert_rc(s.g.c[i].sleep_rc, -ECANCELED);
    assert_true(s.g.all_done_at_return);
    assert_true(s.elapsed < 1.0);
}

static int gather_zero_main(void *arg)
{
    int *rc = arg;
    coio_task *none[1] = {NULL};
    int results[1] = {12345};
    *rc = coio_gather_n(none, 0, results);
    return results[0] == 12345 ? 0 : -1;
}

static void gather_of_zero_tasks_returns_zero(void **state)
{
    (void)state;
    int rc = -1;
    coio_assert_rc(coio_run(gather_zero_main, &rc), 0);
    coio_assert_rc(rc, 0);
}

static int gather_finished_main(void *arg)
{
    struct gstate *g = arg;
    coio_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = coio_spawn(child_fn, &g->c[i]);
    coio_sleep(0.02); /* every child has finished */
    g->all_done_at_return = all_done(g); /* reused: all done before gathering */
    g->rc = coio_gather_n(t, 3, g->results);
    return 0;
}

static void gather_of_finished_tasks_returns_their_results(void **state)
{
    (void)state;
    struct gstate g = {0};
    init_children(&g, 3);
    g.c[0].ret = 1;
    g.c[1].ret = 2;
    g.c[2].ret = -EIO;
    coio_assert_rc(coio_run(gather_finished_main, &g), 0);
    assert_true(g.all_done_at_return);
    coio_assert_rc(g.rc, -EIO);
    coio_assert_rc(g.results[0], 1);
    coio_assert_rc(g.results[1], 2);
    coio_assert_rc(g.results[2], -EIO);
}

static int gather_macro_main(void *arg)
{
    struct gstate *g = arg;
    g->rc = coio_gather(coio_spawn(child_fn, &g->c[0]), coio_spawn(child_fn, &g->c[1]));
    g->all_done_at_return = all_done(g);
    return 0;
}

static void gather_macro_waits_for_all_arguments(void **state)
{
    (void)state;
    struct gstate g = {0};
    init_children(&g, 2);
    g.c[0].sleep = 0.02;
    g.c[1].sleep = 0.01;
    g.c[1].ret = 4;
    coio_assert_rc(coio_run(gather_macro_main, &g), 0);
    coio_assert_rc(g.rc, 0);
    assert_true(g.all_done_at_return);
}

static int gather_cancelled_child_main(void *arg)
{
    struct gstate *g = arg;
    coio_task *t[2];
    t[0] = coio_spawn(child_fn, &g->c[0]);
    t[1] = coio_spawn(child_fn, &g->c[1]);
    coio_cancel(t[1]); /* before it starts: it never runs */
    g->rc = coio_gather_n(t, 2, g->results);
    return 0;
}

static void gather_reports_child_cancelled_before_start(void **state)
{
    (void)state;
    struct gstate g = {0};
    init_children(&g, 2);
    g.c[0].ret = 8;
    coio_assert_rc(coio_run(gather_cancelled_child_main, &g), 0);
    coio_assert_rc(g.rc, -ECANCELED);
    coio_assert_rc(g.results[0], 8);
    coio_assert_rc(g.results[1], -ECANCELED);
    assert_int_equal(g.c[1].ran, 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(gather_stores_results_in_argument_order),
    cmocka_unit_test(gather_returns_zero_when_all_results_nonnegative),
    cmocka_unit_test(gather_returns_first_error_in_completion_order),
    cmocka_unit_test(gather_waits_for_all_tasks_after_an_error),
    cmocka_unit_test(gather_with_null_entry_cancels_others_and_returns_enomem),
    cmocka_unit_test(cancelling_gatherer_cancels_and_awaits_children),
    cmocka_unit_test(gather_of_zero_tasks_returns_zero),
    cmocka_unit_test(gather_of_finished_tasks_returns_their_results),
    cmocka_unit_test(gather_macro_waits_for_all_arguments),
    cmocka_unit_test(gather_reports_child_cancelled_before_start),
};

COIO_TEST_MAIN(tests)
