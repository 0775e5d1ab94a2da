/*
 * The timeout rule of docs/api.md, checked at each of its points: waits on one object get
 * their limit from a scope block; the calls with their own timeout return -ETIMEDOUT when
 * it expires (coio_wait alone reports it as a normal return); and the scope tells its own
 * expiry from the call's.
 */
#define _GNU_SOURCE
#include "sync_helpers.h"

#include <math.h>

/* Rule 1: a lock, semaphore, queue and event wait get a limit from COIO_WITH_TIMEOUT. */
static int holder(void *arg)
{
    coio_lock *l = arg;
    coio_lock_acquire(l);
    coio_sleep(10); /* cancelled by main */
    coio_lock_release(l);
    return 0;
}

static int one_object_main(void *arg)
{
    (void)arg;
    coio_lock *l = coio_lock_create();
    coio_sem *sem = coio_sem_create(0);
    coio_queue *q = coio_queue_create(COIO_QUEUE_FIFO, 1, NULL);
    coio_event *e = coio_event_create();
    coio_task *h = coio_spawn(holder, l);
    coio_yield(); /* h holds the lock */
    int rc = 1;
    double t0 = coio_now();
    COIO_WITH_TIMEOUT(0.02) rc = coio_lock_acquire(l);
    check_rc(rc, -ETIMEDOUT);
    COIO_WITH_TIMEOUT(0.02) rc = coio_sem_acquire(sem);
    check_rc(rc, -ETIMEDOUT);
    check_rc(coio_queue_put(q, q), 0);
    COIO_WITH_TIMEOUT(0.02) rc = coio_queue_put(q, q); /* full: waits */
    check_rc(rc, -ETIMEDOUT);
    COIO_WITH_TIMEOUT(0.02) rc = coio_event_wait(e);
    check_rc(rc, -ETIMEDOUT);
    check_true(fabs(coio_now() - t0 - 0.08) < 1e-9); /* virtual clock: exactly */
    /* The scopes ended: the same waits are unbounded again. */
    check_rc(coio_event_set(e), 0);
    check_rc(coio_event_wait(e), 0);
    check_rc(coio_cancel(h), 0);
    check_rc(coio_await(h), 0);
    check_rc(coio_lock_acquire(l), 0);
    check_rc(coio_lock_release(l), 0);
    check_rc(coio_lock_destroy(l), 0);
    check_rc(coio_sem_destroy(sem), 0);
    check_rc(coio_queue_destroy(q), 0);
    check_rc(coio_event_destroy(e), 0);
    return 0;
}

/* The cases run on the virtual clock: they test which deadline applies, not the clock,
 * and must not depend on how loaded the machine is. The waits on a future keep the loop
 * looking for another thread's completion: autojump 0 lets the clock move anyway. */
static void waits_on_one_object_take_their_limit_from_a_scope_block(void **state)
{
    (void)state;
    assert_int_equal(coio_clock_virtual(INFINITY), 0);
    run_ok(one_object_main, NULL);
}

static int sleeper(void *arg)
{
    coio_sleep(*(double *)arg);
    return 7;
}

/* Rules 2 and 3: own timeouts expire as -ETIMEDOUT, except coio_wait's. */
static int own_timeout_main(void *arg)
{
    (void)arg;
    double long_time = 10;
    coio_future *f = coio_future_create();
    void *v;
    check_rc(coio_future_await(f, 0.01, &v), -ETIMEDOUT);
    coio_task *t = coio_spawn(sleeper, &long_time);
    check_rc(coio_wait(&t, 1, COIO_ALL_COMPLETED, 0.01, NULL), 0); /* none done: no error */
    check_rc(coio_wait_for(t, 0.01), -ETIMEDOUT);                  /* and t is cancelled */
    check_rc(coio_future_destroy(f), 0);
    return 0;
}

static void own_timeouts_are_etimedout_but_wait_reports_a_count(void **state)
{
    (void)state;
    assert_int_equal(coio_clock_virtual(0), 0);
    run_ok(own_timeout_main, NULL);
}

/* Rule 4: the scope says whether the deadline that expired was its own. */
static int which_main(void *arg)
{
    (void)arg;
    coio_future *f = coio_future_create();
    void *v;
    coio_scope s;
    check_rc(coio_timeout_begin(&s, 5.0), 0);
    check_rc(coio_future_await(f, 0.01, &v), -ETIMEDOUT); /* the call's own timeout */
    check_rc(coio_scope_expired(&s), 0);
    check_rc(coio_scope_end(&s), 0);

    check_rc(coio_timeout_begin(&s, 0.01), 0);
    check_rc(coio_future_await(f, 5.0, &v), -ETIMEDOUT); /* the scope's deadline */
    check_rc(coio_scope_expired(&s), 1);
    check_rc(coio_scope_end(&s), -ETIMEDOUT);
    check_rc(coio_future_destroy(f), 0);
    return 0;
}

static void the_scope_tells_its_deadline_from_the_calls_own(void **state)
{
    (void)state;
    assert_int_equal(coio_clock_virtual(0), 0);
    run_ok(which_main, NULL);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(waits_on_one_object_take_their_limit_from_a_scope_block),
    cmocka_unit_test(own_timeouts_are_etimedout_but_wait_reports_a_count),
    cmocka_unit_test(the_scope_tells_its_deadline_from_the_calls_own),
};

COIO_TEST_MAIN(tests)
