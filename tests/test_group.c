/* Task groups (asyncio.TaskGroup), coio_wait (asyncio.wait) and as_completed:
 * failure and cancellation propagation, nesting, closing, timeouts, handle ownership. */
#define _GNU_SOURCE
#include "sync_helpers.h"

/* A child sleeps (or, with a gate, waits until the gate is set), then returns `ret`;
 * with cleanup it also sleeps (shielded) when cancelled, so the group must wait for that
 * to end. Gates order children by events, not by a timer race a stalled loop can lose. */
struct child {
    double sleep;
    coio_event *gate;
    int ret;
    int cleanup;
    int cancel_ret; /* nonzero: returned when the sleep is interrupted */
    int *finished_counter;
    /* outputs */
    int started, sleep_rc, finished;
};

static int child_fn(void *arg)
{
    struct child *c = arg;
    c->started = 1;
    c->sleep_rc = c->gate ? coio_event_wait(c->gate) : coio_sleep(c->sleep);
    if (c->sleep_rc < 0 && c->cleanup) {
        coio_scope s;
        coio_shield_begin(&s, -1);
        coio_sleep(0.01);
        coio_scope_end(&s);
    }
    c->finished = 1;
    if (c->finished_counter)
        (*c->finished_counter)++;
    if (c->sleep_rc < 0 && c->cancel_ret)
        return c->cancel_ret;
    return c->sleep_rc < 0 ? c->sleep_rc : c->ret;
}

struct gstate {
    struct child c[8];
    int n;
    int wait_rc;
    int all_finished_at_return;
    double elapsed;
    int spawn_rc[4];
    int finished;
};

static int all_finished(const struct gstate *g)
{
    for (int i = 0; i < g->n; i++)
        if (!g->c[i].finished)
            return 0;
    return 1;
}

static int group_run(struct gstate *g)
{
    coio_group *grp = coio_group_create();
    for (int i = 0; i < g->n; i++) {
        g->c[i].finished_counter = &g->finished;
        check_rc(coio_group_spawn(grp, child_fn, &g->c[i]), 0);
    }
    double t0 = coio_now();
    g->wait_rc = coio_group_wait(grp);
    g->elapsed = coio_now() - t0;
    g->all_finished_at_return = all_finished(g);
    check_int(coio_group_size(grp), 0);
    g->spawn_rc[0] = coio_group_spawn(grp, child_fn, &g->c[0]); /* closed now */
    check_rc(coio_group_destroy(grp), 0);
    return 0;
}

static int group_main(void *arg)
{
    return group_run(arg);
}

static void group_wait_waits_for_every_child(void **state)
{
    (void)state;
    struct gstate g = {.n = 3};
    g.c[0] = (struct child){.sleep = 0.03, .ret = 1};
    g.c[1] = (struct child){.sleep = 0.01, .ret = 2};
    g.c[2] = (struct child){.sleep = 0.0, .ret = 3};
    run_ok(group_main, &g);
    coio_assert_rc(g.wait_rc, 0);
    assert_true(g.all_finished_at_return);
    assert_true(g.elapsed >= 0.029);
    coio_assert_rc(g.spawn_rc[0], -ESHUTDOWN);
}

static void group_first_failure_cancels_siblings_and_is_returned_after_all_end(void **state)
{
    (void)state;
    struct gstate g = {.n = 4};
    g.c[0] = (struct child){.sleep = 10, .cleanup = 1};
    g.c[1] = (struct child){.sleep = 0.01, .ret = -EIO};  /* fails first */
    g.c[2] = (struct child){.gate = coio_event_create(), .ret = -EPIPE}; /* never set */
    g.c[3] = (struct child){.sleep = 10, .cleanup = 1};
    run_ok(group_main, &g);
    coio_event_destroy(g.c[2].gate);
    coio_assert_rc(g.wait_rc, -EIO);
    assert_true(g.all_finished_at_return); /* including the shielded cleanups */
    coio_assert_rc(g.c[0].sleep_rc, -ECANCELED);
    coio_assert_rc(g.c[2].sleep_rc, -ECANCELED);
    coio_assert_rc(g.c[3].sleep_rc, -ECANCELED);
    assert_true(g.elapsed < 5.0); /* cancelled, not slept out (10 s) */
}

static void group_child_returning_ecanceled_is_not_a_failure(void **state)
{
    (void)state;
    struct gstate g = {.n = 2};
    g.c[0] = (struct child){.sleep = 0.0, .ret = -ECANCELED};
    g.c[1] = (struct child){.sleep = 0.02, .ret = 5};
    run_ok(group_main, &g);
    coio_assert_rc(g.wait_rc, 0);
    coio_assert_rc(g.c[1].sleep_rc, 0); /* not cancelled */
}

/* The owner G runs group_run; the case's main cancels G or bounds it with a scope. */
struct owner {
    struct gstate g;
    int how; /* 0: cancel G while it waits; 1: cancel G before it waits; 2: timeout scope */
    int owner_rc;
};

static int owner_fn(void *arg)
{
    struct owner *o = arg;
    struct gstate *g = &o->g;
    coio_group *grp = coio_group_create();
    for (int i = 0; i < g->n; i++)
        coio_group_spawn(grp, child_fn, &g->c[i]);
    if (o->how == 1)
        coio_sleep(10); /* cancelled here: returns -ECANCELED, then waits */
    coio_scope s;
    if (o->how == 2)
        coio_timeout_begin(&s, 0.02);
    g->wait_rc = coio_group_wait(grp);
    if (o->how == 2)
        coio_scope_end(&s);
    g->all_finished_at_return = all_finished(g);
    coio_group_destroy(grp);
    return 0;
}

static int owner_main(void *arg)
{
    struct owner *o = arg;
    coio_task *t = coio_spawn(owner_fn, o);
    if (o->how != 2) {
        coio_sleep(0.01);
        coio_cancel(t);
    }
    o->owner_rc = coio_await(t);
    return 0;
}

static void group_cancelling_owner_cancels_children(void **state)
{
    (void)state;
    for (int how = 0; how < 3; how++) {
        struct owner o = {.g = {.n = 3}, .how = how};
        for (int i = 0; i < 3; i++)
            o.g.c[i] = (struct child){.sleep = 10, .cleanup = i == 1};
        run_ok(owner_main, &o);
        coio_assert_rc(o.owner_rc, 0);
        coio_assert_rc(o.g.wait_rc, how == 2 ? -ETIMEDOUT : -ECANCELED);
        assert_true(o.g.all_finished_at_return);
        for (int i = 0; i < 3; i++)
            coio_assert_rc(o.g.c[i].sleep_rc, -ECANCELED);
    }
}

static void group_child_error_wins_over_owner_cancellation(void **state)
{
    (void)state;
    struct owner o = {.g = {.n = 2}, .how = 0};
    /* Cancelled at 10 ms; the first child then fails as it is cancelled. */
    o.g.c[0] = (struct child){.sleep = 10, .cancel_ret = -EIO};
    o.g.c[1] = (struct child){.sleep = 10, .cleanup = 1};
    run_ok(owner_main, &o);
    coio_assert_rc(o.g.wait_rc, -EIO);
    assert_true(o.g.all_finished_at_return);
}

/* Nesting: the outer group's child runs an inner group; a failure in the outer group
 * cancels the inner group's children through the inner owner's wait. */
struct nest {
    struct child inner[2];
    struct child fail;
    int inner_wait_rc;
    int outer_wait_rc;
};

static int inner_owner(void *arg)
{
    struct nest *n = arg;
    coio_group *g = coio_group_create();
    coio_group_spawn(g, child_fn, &n->inner[0]);
    coio_group_spawn(g, child_fn, &n->inner[1]);
    n->inner_wait_rc = coio_group_wait(g);
    coio_group_destroy(g);
    return n->inner_wait_rc;
}

static int nest_main(void *arg)
{
    struct nest *n = arg;
    coio_group *g = coio_group_create();
    coio_group_spawn(g, inner_owner, n);
    coio_group_spawn(g, child_fn, &n->fail);
    n->outer_wait_rc = coio_group_wait(g);
    coio_group_destroy(g);
    return 0;
}

static void group_nested_groups_cancel_through_levels(void **state)
{
    (void)state;
    struct nest n = {0};
    n.inner[0] = (struct child){.sleep = 10, .cleanup = 1};
    n.inner[1] = (struct child){.sleep = 10};
    n.fail = (struct child){.sleep = 0.01, .ret = -ENOSPC};
    run_ok(nest_main, &n);
    coio_assert_rc(n.outer_wait_rc, -ENOSPC);
    coio_assert_rc(n.inner_wait_rc, -ECANCELED); /* not a failure of the outer group */
    assert_true(n.inner[0].finished && n.inner[1].finished);
    coio_assert_rc(n.inner[0].sleep_rc, -ECANCELED);
}

/* Children spawn more children while the owner waits; closing refuses new ones. */
struct spawner {
    coio_group *g;
    int depth;
    int *count;
    int late_rc;
};

static int spawner_fn(void *arg)
{
    struct spawner *s = arg;
    (*s->count)++;
    if (s->depth > 0) {
        static struct spawner kids[64];
        static int next;
        for (int i = 0; i < 2; i++) {
            struct spawner *k = &kids[next++ % 64];
            *k = (struct spawner){s->g, s->depth - 1, s->count, 0};
            check_rc(coio_group_spawn(s->g, spawner_fn, k), 0);
        }
    }
    coio_yield();
    return 0;
}

static int late_fail(void *arg)
{
    (void)arg;
    coio_sleep(0.005);
    return -EIO;
}

static int sleeper(void *arg)
{
    (void)arg;
    return coio_sleep(10);
}

static int spawn_during_wait_main(void *arg)
{
    int *count = arg;
    coio_group *g = coio_group_create();
    struct spawner root = {g, 4, count, 0};
    check_rc(coio_group_spawn(g, spawner_fn, &root), 0);
    check_rc(coio_group_wait(g), 0);
    check_int(*count, 31); /* 1 + 2 + 4 + 8 + 16 */
    check_rc(coio_group_wait(g), 0); /* again: same value, at once */
    check_rc(coio_group_destroy(g), 0);

    /* After a failure the group is closing: spawn gives -ESHUTDOWN. */
    g = coio_group_create();
    coio_group_spawn(g, late_fail, NULL);
    coio_group_spawn(g, sleeper, NULL);
    /* Until the failure has cancelled and reaped the sleeper: polled, not a fixed sleep,
     * so a slow machine (ASan, load) cannot fail it by timing. */
    for (int i = 0; i < 2000 && coio_group_size(g) != 0; i++)
        coio_sleep(0.005);
    check_int(coio_group_size(g), 0); /* the sleeper was cancelled by the failure */
    check_rc(coio_group_spawn(g, sleeper, NULL), -ESHUTDOWN);
    check_rc(coio_group_wait(g), -EIO);
    check_rc(coio_group_wait(g), -EIO);
    coio_group_destroy(g);

    /* coio_group_cancel: children cancelled, wait returns 0, closed. */
    g = coio_group_create();
    coio_group_spawn(g, sleeper, NULL);
    coio_group_spawn(g, sleeper, NULL);
    check_int(coio_group_size(g), 2);
    coio_yield();
    check_rc(coio_group_destroy(g), -EBUSY);
    check_rc(coio_group_cancel(g), 0);
    check_rc(coio_group_spawn(g, sleeper, NULL), -ESHUTDOWN);
    check_rc(coio_group_wait(g), 0);
    check_rc(coio_group_destroy(g), 0);
    return 0;
}

static void group_children_spawn_while_waiting_and_closed_group_refuses(void **state)
{
    (void)state;
    int count = 0;
    run_ok(spawn_during_wait_main, &count);
}

static int short_child(void *arg)
{
    int *n = arg;
    (*n)++;
    return 0;
}

/* Tasks the loop still holds (any state but freed), as coio_dump_tasks counts them. */
static int live_tasks(void)
{
    FILE *devnull = fopen("/dev/null", "w");
    if (!devnull)
        return -errno;
    int n = coio_dump_tasks(devnull);
    fclose(devnull);
    return n;
}

static int many_main(void *arg)
{
    int *n = arg;
    int before = live_tasks(); /* this task */
    check_int(before, 1);
    coio_group *g = coio_group_create();
    /* A long-lived group: children are freed as they finish, not when the group ends. */
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 1000; i++)
            check_rc(coio_group_spawn(g, short_child, n), 0);
        check_int(live_tasks(), before + 1000);
        coio_sleep(0);
        coio_sleep(0);
        check_int(coio_group_size(g), 0);
        check_int(live_tasks(), before); /* every finished child's task is gone */
    }
    check_rc(coio_group_wait(g), 0);
    coio_group_destroy(g);
    return 0;
}

static void group_many_children_are_freed_as_they_finish(void **state)
{
    (void)state;
    int n = 0;
    run_ok(many_main, &n);
    assert_int_equal(n, 20000);
}

static int group_misuse_main(void *arg)
{
    (void)arg;
    check_rc(coio_group_spawn(NULL, child_fn, NULL), -EINVAL);
    coio_group *g = coio_group_create();
    check_rc(coio_group_spawn(g, NULL, NULL), -EINVAL);
    check_rc(coio_group_wait(NULL), -EINVAL);
    check_rc(coio_group_destroy(NULL), -EINVAL);
    check_rc(coio_group_wait(g), 0); /* empty */
    coio_group_destroy(g);
    /* A child cancelled before it ever ran is not a failure either. */
    g = coio_group_create();
    struct child c = {.sleep = 0};
    coio_group_spawn(g, child_fn, &c);
    coio_group_cancel(g);
    check_rc(coio_group_wait(g), 0);
    check_int(c.started, 0);
    coio_group_destroy(g);
    return 0;
}

static void group_misuse_returns_error_codes(void **state)
{
    (void)state;
    run_ok(group_misuse_main, NULL);
    coio_group *g = coio_group_create();
    assert_int_equal(coio_group_spawn(g, child_fn, NULL), -EPERM); /* no loop */
    assert_int_equal(coio_group_wait(g), -EPERM);
    coio_group_destroy(g);
}

/* coio_group_spawn_ex: the child gets the options' name and stack size; the group still
 * owns it (detached: no handle, freed as it ends). */
struct named_child {
    char dump[4096];
    int dump_rc;
    int plain_ran;
};

static int named_child_fn(void *arg)
{
    struct named_child *n = arg;
    FILE *f = fmemopen(n->dump, sizeof n->dump - 1, "w");
    n->dump_rc = f ? coio_dump_tasks(f) : -errno;
    if (f)
        fclose(f);
    return 0;
}

static int spawn_ex_main(void *arg)
{
    struct named_child *n = arg;
    coio_group *g = coio_group_create();
    coio_spawn_opts o = {.name = "grp-child", .stack_size = 1024 * 1024};
    check_rc(coio_group_spawn_ex(g, named_child_fn, n, &o), 0);
    check_rc(coio_group_spawn_ex(g, short_child, &n->plain_ran, NULL), 0); /* defaults */
    check_rc(coio_group_spawn_ex(g, NULL, NULL, &o), -EINVAL);
    check_rc(coio_group_spawn_ex(NULL, short_child, NULL, &o), -EINVAL);
    check_int(coio_group_size(g), 2);
    check_rc(coio_group_wait(g), 0);
    check_rc(coio_group_spawn_ex(g, short_child, NULL, &o), -ESHUTDOWN);
    check_rc(coio_group_destroy(g), 0);
    return 0;
}

static void group_spawn_ex_applies_name_and_stack_size(void **state)
{
    (void)state;
    struct named_child n = {0};
    run_ok(spawn_ex_main, &n);
    assert_true(n.dump_rc >= 2);
    assert_int_equal(n.plain_ran, 1);
    /* The child's own line: "id name state waiting-on used/size KiB". */
    const char *line = strstr(n.dump, " grp-child ");
    if (!line) {
        print_error("no task named grp-child in:\n%s", n.dump);
        fail();
    }
    const char *eol = strchr(line, '\n');
    char own[256];
    snprintf(own, sizeof own, "%.*s", eol ? (int)(eol - line) : 200, line);
    if (!strstr(own, "/1024 KiB") || !strstr(own, "running")) {
        print_error("child's line: %s\n", own);
        fail();
    }
}

/* One task waits on a group; a second waiter is refused with -EALREADY and the first
 * still gets the result. */
static int first_waiter(void *arg)
{
    return coio_group_wait(arg);
}

static int second_waiter_main(void *arg)
{
    (void)arg;
    coio_group *g = coio_group_create();
    coio_event *gate = coio_event_create();
    struct child c = {.gate = gate, .ret = -EIO};
    check_rc(coio_group_spawn(g, child_fn, &c), 0);
    coio_task *w = coio_spawn(first_waiter, g);
    coio_yield(); /* w waits in coio_group_wait */
    check_rc(coio_group_wait(g), -EALREADY);
    check_int(c.finished, 0); /* the refused wait changed nothing */
    check_int(coio_group_size(g), 1);
    coio_event_set(gate);
    check_rc(coio_await(w), -EIO);
    check_rc(coio_group_wait(g), -EIO); /* after the first returned: its value, at once */
    check_rc(coio_group_destroy(g), 0);
    coio_event_destroy(gate);
    return 0;
}

static void group_second_waiter_gets_ealready(void **state)
{
    (void)state;
    run_ok(second_waiter_main, NULL);
}

/* ------------------------------------------------------------------ coio_wait */

struct wstate {
    struct child c[4];
    coio_task *t[4];
    int results[4];
    int rc;
};

static void spawn_children(struct wstate *w, int n)
{
    for (int i = 0; i < n; i++) {
        w->results[i] = 12345;
        w->t[i] = coio_spawn(child_fn, &w->c[i]);
    }
}

static int wait_first_completed_main(void *arg)
{
    struct wstate *w = arg;
    /* t[1] finishes first; t[0] and t[2] only when their gates are set. */
    coio_event *g0 = coio_event_create(), *g2 = coio_event_create();
    w->c[0] = (struct child){.gate = g0, .ret = 1};
    w->c[1] = (struct child){.sleep = 0.01, .ret = 2};
    w->c[2] = (struct child){.gate = g2, .ret = 3};
    spawn_children(w, 3);
    check_rc(coio_wait(w->t, 3, COIO_FIRST_COMPLETED, -1, w->results), 1);
    check_true(w->t[1] == NULL);
    check_int(w->results[1], 2);
    check_int(w->results[0], 12345);
    check_true(w->t[0] && w->t[2]);
    check_int(w->c[0].finished, 0); /* not cancelled, still running */
    /* Wait again on the rest (NULL entries skipped), then await the last by hand. */
    coio_event_set(g0);
    check_rc(coio_wait(w->t, 3, COIO_FIRST_COMPLETED, -1, w->results), 1);
    check_int(w->results[0], 1);
    check_true(w->t[0] == NULL && w->t[2] != NULL);
    check_int(w->c[2].finished, 0);
    coio_event_set(g2);
    check_rc(coio_await(w->t[2]), 3);
    coio_event_destroy(g0);
    coio_event_destroy(g2);
    return 0;
}

static void wait_first_completed_releases_only_finished_tasks(void **state)
{
    (void)state;
    struct wstate w = {0};
    run_ok(wait_first_completed_main, &w);
}

static int wait_first_error_main(void *arg)
{
    struct wstate *w = arg;
    w->c[0] = (struct child){.sleep = 0.01, .ret = 1};
    w->c[1] = (struct child){.sleep = 0.02, .ret = -ECANCELED}; /* not an error */
    w->c[2] = (struct child){.sleep = 0.03, .ret = -EIO};
    w->c[3] = (struct child){.sleep = 10};
    spawn_children(w, 4);
    check_rc(coio_wait(w->t, 4, COIO_FIRST_ERROR, -1, w->results), 3);
    check_int(w->results[0], 1);
    check_int(w->results[1], -ECANCELED);
    check_int(w->results[2], -EIO);
    check_true(w->t[3] != NULL);
    coio_cancel(w->t[3]);
    check_rc(coio_await(w->t[3]), -ECANCELED);
    /* FIRST_ERROR without an error is ALL_COMPLETED. */
    w->c[0] = (struct child){.sleep = 0.01, .ret = 1};
    w->c[1] = (struct child){.sleep = 0.02, .ret = 2};
    spawn_children(w, 2);
    check_rc(coio_wait(w->t, 2, COIO_FIRST_ERROR, -1, NULL), 2);
    return 0;
}

static void wait_first_error_returns_at_first_failure(void **state)
{
    (void)state;
    struct wstate w = {0};
    run_ok(wait_first_error_main, &w);
}

static int wait_all_and_timeout_main(void *arg)
{
    struct wstate *w = arg;
    w->c[0] = (struct child){.sleep = 0.01, .ret = 1};
    w->c[1] = (struct child){.sleep = 0.02, .ret = 2};
    spawn_children(w, 2);
    check_rc(coio_wait(w->t, 2, COIO_ALL_COMPLETED, -1, w->results), 2);
    check_int(w->results[0] + w->results[1], 3);
    /* Timeout: nothing finished, nothing released or cancelled (not an error). */
    coio_event *gate = coio_event_create(); /* t[0] ends only after the timeout */
    w->c[0] = (struct child){.gate = gate, .ret = 7};
    w->c[1] = (struct child){.sleep = 0.0, .ret = 8};
    spawn_children(w, 2);
    double t0 = coio_now();
    check_rc(coio_wait(w->t, 2, COIO_ALL_COMPLETED, 0.02, w->results), 1);
    check_true(coio_now() - t0 >= 0.019);
    check_true(w->t[0] != NULL && w->t[1] == NULL);
    check_int(w->results[1], 8);
    check_rc(coio_wait(w->t, 2, COIO_ALL_COMPLETED, 0, NULL), 0); /* just look */
    check_int(w->c[0].sleep_rc, 0); /* still waiting: not cancelled */
    check_int(w->c[0].finished, 0);
    coio_event_set(gate);
    check_rc(coio_await(w->t[0]), 7);
    coio_event_destroy(gate);
    return 0;
}

static void wait_all_completed_and_timeout_keep_handles(void **state)
{
    (void)state;
    struct wstate w = {0};
    run_ok(wait_all_and_timeout_main, &w);
}

static int wait_in_task(void *arg)
{
    struct wstate *w = arg;
    w->rc = coio_wait(w->t, 2, COIO_ALL_COMPLETED, -1, w->results);
    return 0;
}

static int wait_cancelled_main(void *arg)
{
    struct wstate *w = arg;
    coio_event *gate = coio_event_create(); /* t[1] outlasts the waiter */
    w->c[0] = (struct child){.sleep = 0.0, .ret = 1};
    w->c[1] = (struct child){.gate = gate, .ret = 2};
    spawn_children(w, 2);
    coio_task *waiter = coio_spawn(wait_in_task, w);
    coio_sleep(0.01);
    coio_cancel(waiter);
    check_rc(coio_await(waiter), 0);
    check_rc(w->rc, -ECANCELED);
    check_true(w->t[0] != NULL && w->t[1] != NULL); /* nothing released */
    check_rc(coio_await(w->t[0]), 1);
    coio_event_set(gate);
    check_rc(coio_await(w->t[1]), 2); /* and nothing cancelled */
    coio_event_destroy(gate);
    return 0;
}

static void wait_cancelled_releases_and_cancels_nothing(void **state)
{
    (void)state;
    struct wstate w = {0};
    run_ok(wait_cancelled_main, &w);
}

static int wait_misuse_main(void *arg)
{
    struct wstate *w = arg;
    w->c[0] = (struct child){.sleep = 0.01};
    w->c[1] = (struct child){.sleep = 0.01};
    spawn_children(w, 2);
    check_rc(coio_wait(w->t, 2, 9, -1, NULL), -EINVAL);
    check_rc(coio_wait(NULL, 2, COIO_ALL_COMPLETED, -1, NULL), -EINVAL);
    coio_task *self[2] = {w->t[0], coio_current()};
    check_rc(coio_wait(self, 2, COIO_ALL_COMPLETED, -1, NULL), -EDEADLK);
    coio_detach(w->t[1]);
    check_rc(coio_wait(w->t, 2, COIO_ALL_COMPLETED, -1, NULL), -EALREADY);
    check_rc(coio_await(w->t[0]), 0); /* the failed wait claimed nothing */
    check_rc(coio_wait(NULL, 0, COIO_ALL_COMPLETED, -1, NULL), 0);
    return 0;
}

static void wait_misuse_returns_error_codes(void **state)
{
    (void)state;
    struct wstate w = {0};
    run_ok(wait_misuse_main, &w);
}

/* ------------------------------------------------------------------ as_completed */

static int as_completed_main(void *arg)
{
    struct wstate *w = arg;
    w->c[0] = (struct child){.sleep = 0.03, .ret = 10};
    w->c[1] = (struct child){.sleep = 0.01, .ret = 11};
    w->c[2] = (struct child){.sleep = 0.02, .ret = -EIO};
    w->c[3] = (struct child){.sleep = 0.0, .ret = 13};
    spawn_children(w, 4);
    coio_sleep(0.001); /* t[3] has finished before the iterator exists */
    coio_as_completed *ac = coio_as_completed_create(w->t, 4, -1);
    check_true(ac != NULL);
    int want_idx[] = {3, 1, 2, 0}, want_res[] = {13, 11, -EIO, 10};
    for (int k = 0; k < 4; k++) {
        int res = 0;
        int i = coio_as_completed_next(ac, &res);
        check_int(i, want_idx[k]);
        check_int(res, want_res[k]);
        if (i >= 0)
            check_true(w->t[i] != NULL); /* released, but the caller's array is not written */
    }
    check_rc(coio_as_completed_next(ac, NULL), -ENOENT);
    check_rc(coio_as_completed_destroy(ac), 0);
    return 0;
}

static void as_completed_yields_in_completion_order(void **state)
{
    (void)state;
    struct wstate w = {0};
    run_ok(as_completed_main, &w);
}

static int as_completed_timeout_main(void *arg)
{
    struct wstate *w = arg;
    coio_event *gate = coio_event_create(); /* t[1] ends only after the timeout */
    w->c[0] = (struct child){.sleep = 0.01, .ret = 1};
    w->c[1] = (struct child){.gate = gate, .ret = 2};
    spawn_children(w, 2);
    coio_as_completed *ac = coio_as_completed_create(w->t, 2, 0.05);
    check_int(coio_as_completed_next(ac, NULL), 0);
    check_rc(coio_as_completed_next(ac, NULL), -ETIMEDOUT);
    check_rc(coio_as_completed_destroy(ac), 0);
    check_true(w->t[1] != NULL);
    check_int(w->c[1].finished, 0); /* not cancelled by the timeout */
    coio_event_set(gate);
    check_rc(coio_await(w->t[1]), 2); /* the caller's again, still running */
    coio_event_destroy(gate);
    /* Misuse */
    check_true(coio_as_completed_create(NULL, 1, -1) == NULL);
    check_int(errno, EINVAL);
    check_rc(coio_as_completed_next(NULL, NULL), -EINVAL);
    return 0;
}

static void as_completed_timeout_leaves_tasks_with_caller(void **state)
{
    (void)state;
    struct wstate w = {0};
    run_ok(as_completed_timeout_main, &w);
}

/* as_completed copies the array: the caller may overwrite (here: clear) it at once, the
 * iterator still returns every task, and destroy hands the unreturned ones back. */
static int as_completed_copy_main(void *arg)
{
    struct wstate *w = arg;
    coio_event *gate = coio_event_create();
    w->c[0] = (struct child){.sleep = 0.01, .ret = 20};
    w->c[1] = (struct child){.sleep = 0.0, .ret = 21};
    w->c[2] = (struct child){.gate = gate, .ret = 22};
    coio_task *keep[3];
    {
        coio_task *arr[3]; /* a stack array the caller reuses at once */
        for (int i = 0; i < 3; i++)
            keep[i] = arr[i] = coio_spawn(child_fn, &w->c[i]);
        coio_as_completed *ac = coio_as_completed_create(arr, 3, -1);
        check_true(ac != NULL);
        memset(arr, 0, sizeof arr);
        int res = 0;
        check_int(coio_as_completed_next(ac, &res), 1);
        check_int(res, 21);
        check_int(coio_as_completed_next(ac, &res), 0);
        check_int(res, 20);
        for (int i = 0; i < 3; i++)
            check_true(arr[i] == NULL); /* never written */
        check_rc(coio_as_completed_destroy(ac), 0);
    }
    check_int(w->c[2].finished, 0);
    coio_event_set(gate);
    check_rc(coio_await(keep[2]), 22); /* unreturned: the caller's handle again */
    coio_event_destroy(gate);
    return 0;
}

static void as_completed_copies_the_callers_array(void **state)
{
    (void)state;
    struct wstate w = {0};
    run_ok(as_completed_copy_main, &w);
}

/* ------------------------------------------------------------------ released handles */

/* Every call that claims a handle refuses one that has been released (here by
 * coio_await; no task is spawned afterwards, so its slot is still free) with -EALREADY,
 * at once and without touching it. */
static coio_task *released_handle(void)
{
    int n = 0;
    coio_task *t = coio_spawn(short_child, &n);
    check_rc(coio_await(t), 0);
    return t;
}

static int released_await_main(void *arg)
{
    (void)arg;
    coio_task *t = released_handle();
    check_rc(coio_await(t), -EALREADY);
    check_rc(coio_wait_for(t, 1.0), -EALREADY);
    check_rc(coio_detach(t), -EALREADY);
    return 0;
}

static void released_handle_refused_by_await(void **state)
{
    (void)state;
    run_ok(released_await_main, NULL);
}

static int released_gather_main(void *arg)
{
    (void)arg;
    coio_task *t = released_handle();
    check_rc(coio_gather_n(&t, 1, NULL), -EALREADY);
    return 0;
}

static void released_handle_refused_by_gather(void **state)
{
    (void)state;
    run_ok(released_gather_main, NULL);
}

static int released_wait_main(void *arg)
{
    (void)arg;
    coio_task *t = released_handle();
    coio_task *arr[1] = {t};
    int results[1] = {12345};
    double t0 = coio_now();
    check_rc(coio_wait(arr, 1, COIO_ALL_COMPLETED, 2.0, results), -EALREADY);
    check_true(coio_now() - t0 < 1.0); /* refused, not waited out */
    check_true(arr[0] == t);
    check_int(results[0], 12345);
    return 0;
}

static void released_handle_refused_by_wait(void **state)
{
    (void)state;
    run_ok(released_wait_main, NULL);
}

static int released_as_completed_main(void *arg)
{
    (void)arg;
    coio_task *t = released_handle();
    errno = 0;
    coio_as_completed *ac = coio_as_completed_create(&t, 1, 2.0);
    check_true(ac == NULL);
    check_int(errno, EALREADY);
    if (ac)
        coio_as_completed_destroy(ac);
    return 0;
}

static void released_handle_refused_by_as_completed(void **state)
{
    (void)state;
    run_ok(released_as_completed_main, NULL);
}

/* ------------------------------------------------------------------ child handles */

/* coio_group_spawn_task: one child cancelled through its handle does not fail the group
 * nor touch its siblings; while children run the group is their one waiter; afterwards
 * each handle gives its result to coio_await, or is released by coio_detach. */
static int child_handles_main(void *arg)
{
    struct gstate *gs = arg;
    coio_event *gate = coio_event_create();
    gs->c[0] = (struct child){.gate = gate, .ret = 1, .cleanup = 1}; /* cancelled alone */
    gs->c[1] = (struct child){.sleep = 0.0, .ret = 2};
    gs->c[2] = (struct child){.gate = gate, .ret = 3};
    coio_group *g = coio_group_create();
    coio_task *t[3];
    for (int i = 0; i < 3; i++) {
        t[i] = coio_group_spawn_task(g, child_fn, &gs->c[i], NULL);
        check_true(t[i] != NULL);
    }
    coio_yield(); /* all three started... */
    coio_yield(); /* ...and t[1], after its sleep(0), has finished */
    check_int(gs->c[1].finished, 1);
    check_rc(coio_await(t[0]), -EALREADY); /* running: the group is its waiter */
    check_rc(coio_detach(t[0]), -EALREADY);
    check_rc(coio_wait(&t[0], 1, COIO_ALL_COMPLETED, 0, NULL), -EALREADY);
    check_rc(coio_cancel(t[0]), 0);
    coio_yield(); /* t[0] runs its shielded cleanup */
    check_int(gs->c[2].sleep_rc, 0); /* its sibling is not cancelled */
    check_int(gs->c[2].finished, 0);
    check_int(coio_group_size(g), 2);
    check_true(coio_group_spawn_task(g, short_child, &gs->n, NULL) != NULL); /* still open */
    coio_event_set(gate);
    check_rc(coio_group_wait(g), 0); /* -ECANCELED of a child is no failure */
    check_int(gs->c[0].sleep_rc, -ECANCELED);
    check_int(gs->c[0].finished, 1);
    check_int(gs->c[2].sleep_rc, 0);
    errno = 0;
    check_true(coio_group_spawn_task(g, short_child, NULL, NULL) == NULL);
    check_int(errno, ESHUTDOWN);
    check_rc(coio_group_destroy(g), 0); /* the handles outlive the group */
    check_rc(coio_await(t[0]), -ECANCELED);
    check_rc(coio_await(t[1]), 2);
    check_rc(coio_detach(t[2]), 0);
    check_int(live_tasks(), 1 + 1); /* this task and the unawaited short_child */
    coio_event_destroy(gate);
    return 0;
}

static void group_child_handle_cancels_one_child_and_returns_its_result(void **state)
{
    (void)state;
    struct gstate g = {0};
    run_ok(child_handles_main, &g);
    assert_int_equal(g.n, 1);
}

/* A handle child that fails still fails the group (and cancels its siblings); a handle
 * child of a cancelled group ends with -ECANCELED, also if it never ran; bad arguments. */
static int child_handles_fail_main(void *arg)
{
    struct gstate *gs = arg;
    gs->c[0] = (struct child){.sleep = 10};
    gs->c[1] = (struct child){.sleep = 0.0, .ret = -EIO};
    coio_group *g = coio_group_create();
    coio_task *a = coio_group_spawn_task(g, child_fn, &gs->c[0], NULL);
    coio_task *b = coio_group_spawn_task(g, child_fn, &gs->c[1], &(coio_spawn_opts){.name = "b"});
    check_rc(coio_group_wait(g), -EIO);
    check_rc(coio_await(a), -ECANCELED);
    check_rc(coio_await(b), -EIO);
    coio_group_destroy(g);

    g = coio_group_create();
    int n = 0;
    coio_task *c = coio_group_spawn_task(g, short_child, &n, NULL);
    coio_group_cancel(g); /* before it ever ran */
    check_rc(coio_group_wait(g), 0);
    check_int(n, 0);
    check_rc(coio_await(c), -ECANCELED);
    errno = 0;
    check_true(coio_group_spawn_task(NULL, short_child, NULL, NULL) == NULL);
    check_int(errno, EINVAL);
    errno = 0;
    check_true(coio_group_spawn_task(g, NULL, NULL, NULL) == NULL);
    check_int(errno, EINVAL);
    coio_group_destroy(g);
    g = coio_group_create();
    errno = 0;
    check_true(coio_group_spawn_task(g, short_child, &n,
                                     &(coio_spawn_opts){.flags = COIO_SPAWN_DETACHED}) == NULL);
    check_int(errno, EINVAL);
    check_int(coio_group_size(g), 0);
    coio_group_destroy(g);
    check_int(live_tasks(), 1);
    return 0;
}

static void group_child_handle_failure_and_group_cancel(void **state)
{
    (void)state;
    struct gstate g = {0};
    run_ok(child_handles_fail_main, &g);
}

/* coio_group_errors: every failed child with its name and arg, in completion order (not
 * spawn order), cancelled children left out, bounded by cap with the total returned. */
struct errs_state {
    struct child c[6];
    coio_event *gate_a, *gate_b;
    coio_task *handle;
    int wait_rc;
    size_t total, total_null, total_one, total_early;
    coio_child_error out[8], one[1];
};

static int errors_main(void *arg)
{
    struct errs_state *st = arg;
    coio_group *g = coio_group_create();
    char name[32];
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof name, "child-%d", i);
        coio_spawn_opts o = {.name = name};
        if (i == 3) {
            st->handle = coio_group_spawn_task(g, child_fn, &st->c[i], &o);
            check_true(st->handle != NULL);
        } else {
            check_rc(coio_group_spawn_ex(g, child_fn, &st->c[i], &o), 0);
        }
    }
    /* Let every child reach its wait, and c[5] finish (successfully). */
    while (!st->c[5].finished)
        check_rc(coio_yield(), 0);
    st->total_early = coio_group_errors(g, NULL, 0);
    /* c[1..3] wake together: c[1] fails first and cancels the group, c[2] and c[3] end
     * with their own errors all the same, then c[0] turns its cancellation into -EPIPE
     * and c[4] ends cancelled (not a failure). */
    coio_event_set(st->gate_a);
    st->wait_rc = coio_group_wait(g);
    st->total = coio_group_errors(g, st->out, 8);
    st->total_null = coio_group_errors(g, NULL, 0);
    st->total_one = coio_group_errors(g, st->one, 1);
    check_rc(coio_await(st->handle), -ENOENT);
    check_rc(coio_group_destroy(g), 0);
    return 0;
}

static void group_errors_lists_every_failed_child_in_completion_order(void **state)
{
    (void)state;
    struct errs_state st = {0};
    st.gate_a = coio_event_create();
    st.gate_b = coio_event_create(); /* never set */
    st.c[0] = (struct child){.gate = st.gate_b, .cancel_ret = -EPIPE};
    st.c[1] = (struct child){.gate = st.gate_a, .ret = -EIO};
    st.c[2] = (struct child){.gate = st.gate_a, .ret = -EBADF};
    st.c[3] = (struct child){.gate = st.gate_a, .ret = -ENOENT};
    st.c[4] = (struct child){.sleep = 10};
    st.c[5] = (struct child){.sleep = 0, .ret = 0};
    run_ok(errors_main, &st);
    coio_event_destroy(st.gate_a);
    coio_event_destroy(st.gate_b);
    coio_assert_rc(st.wait_rc, -EIO); /* the first error, as before */
    coio_assert_rc(st.c[4].sleep_rc, -ECANCELED);
    assert_int_equal(st.total_early, 0);
    assert_int_equal(st.total, 4);
    assert_int_equal(st.total_null, 4);
    assert_int_equal(st.total_one, 4);
    static const int want_err[] = {-EIO, -EBADF, -ENOENT, -EPIPE};
    static const int want_child[] = {1, 2, 3, 0};
    for (int i = 0; i < 4; i++) {
        char want_name[32];
        snprintf(want_name, sizeof want_name, "child-%d", want_child[i]);
        coio_assert_rc(st.out[i].err, want_err[i]);
        assert_string_equal(st.out[i].name, want_name);
        assert_ptr_equal(st.out[i].arg, &st.c[want_child[i]]);
    }
    coio_assert_rc(st.one[0].err, -EIO); /* cap 1: the first one only */
    assert_string_equal(st.one[0].name, "child-1");
}

static int errors_edge_main(void *arg)
{
    (void)arg;
    coio_group *g = coio_group_create();
    coio_child_error e[2];
    check_int(coio_group_errors(NULL, e, 2), 0);
    check_int(coio_group_errors(g, e, 2), 0);
    /* An unnamed failing child, a long name, and a cancelled group. */
    struct child c[3] = {{.sleep = 0, .ret = -EIO}, {.sleep = 0, .ret = -EINVAL},
                         {.sleep = 10, .ret = 0}};
    check_rc(coio_group_spawn(g, child_fn, &c[0]), 0);
    check_rc(coio_group_spawn_ex(g, child_fn, &c[1],
                                 &(coio_spawn_opts){.name = "a-name-longer-than-thirty-one-"
                                                            "bytes-is-cut"}),
             0);
    check_rc(coio_group_spawn(g, child_fn, &c[2]), 0);
    check_rc(coio_group_wait(g), -EIO);
    check_int(coio_group_errors(g, e, 2), 2);
    check_true(strcmp(e[0].name, "") == 0);
    check_true(strcmp(e[1].name, "a-name-longer-than-thirty-one-b") == 0);
    check_rc(coio_group_destroy(g), 0);
    /* Cancelling the group: its cancelled children are no errors. */
    g = coio_group_create();
    struct child d[2] = {{.sleep = 10}, {.sleep = 10}};
    check_rc(coio_group_spawn(g, child_fn, &d[0]), 0);
    check_rc(coio_group_spawn(g, child_fn, &d[1]), 0);
    check_rc(coio_yield(), 0);
    check_rc(coio_group_cancel(g), 0);
    check_rc(coio_group_wait(g), 0);
    check_int(coio_group_errors(g, e, 2), 0);
    check_rc(coio_group_destroy(g), 0);
    return 0;
}

static void group_errors_names_and_cancelled_groups(void **state)
{
    (void)state;
    run_ok(errors_edge_main, NULL);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(group_wait_waits_for_every_child),
    cmocka_unit_test(group_first_failure_cancels_siblings_and_is_returned_after_all_end),
    cmocka_unit_test(group_child_returning_ecanceled_is_not_a_failure),
    cmocka_unit_test(group_cancelling_owner_cancels_children),
    cmocka_unit_test(group_child_error_wins_over_owner_cancellation),
    cmocka_unit_test(group_nested_groups_cancel_through_levels),
    cmocka_unit_test(group_children_spawn_while_waiting_and_closed_group_refuses),
    cmocka_unit_test(group_many_children_are_freed_as_they_finish),
    cmocka_unit_test(group_misuse_returns_error_codes),
    cmocka_unit_test(group_spawn_ex_applies_name_and_stack_size),
    cmocka_unit_test(group_second_waiter_gets_ealready),
    cmocka_unit_test(wait_first_completed_releases_only_finished_tasks),
    cmocka_unit_test(wait_first_error_returns_at_first_failure),
    cmocka_unit_test(wait_all_completed_and_timeout_keep_handles),
    cmocka_unit_test(wait_cancelled_releases_and_cancels_nothing),
    cmocka_unit_test(wait_misuse_returns_error_codes),
    cmocka_unit_test(as_completed_yields_in_completion_order),
    cmocka_unit_test(as_completed_timeout_leaves_tasks_with_caller),
    cmocka_unit_test(as_completed_copies_the_callers_array),
    cmocka_unit_test(released_handle_refused_by_await),
    cmocka_unit_test(released_handle_refused_by_gather),
    cmocka_unit_test(released_handle_refused_by_wait),
    cmocka_unit_test(released_handle_refused_by_as_completed),
    cmocka_unit_test(group_child_handle_cancels_one_child_and_returns_its_result),
    cmocka_unit_test(group_child_handle_failure_and_group_cancel),
    cmocka_unit_test(group_errors_lists_every_failed_child_in_completion_order),
    cmocka_unit_test(group_errors_names_and_cancelled_groups),
};

COIO_TEST_MAIN(tests)
