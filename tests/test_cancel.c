/* coio-test: io */
/* Cancellation, wait_for, deadline scopes, shields and coio_run's final cleanup; the
 * to_thread cases use the worker pool, so the file runs on both backends. */
#define _GNU_SOURCE
#include "coio_test.h"

#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <time.h>

/* The scope cases run on the virtual clock: they test which deadline fires and when, so
 * their times are exact and no load on the machine can stretch them. */
static int run_virtual(int (*main)(void *), void *arg)
{
    int rc = coio_clock_virtual(INFINITY);
    return rc < 0 ? rc : coio_run(main, arg);
}

/* A virtual duration: exact up to the rounding of two clock readings. */
#define assert_virtual_elapsed(value, want) assert_elapsed(value, (want)-1e-9, (want) + 1e-9)
#include <unistd.h>

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A task that sleeps `sleep` seconds and records what happened. */
struct sleeper {
    double sleep;
    int ran;
    int cancelled_before;
    int sleep_rc;
    int cancelled_after;
    double slept;
    int done;
};

static int sleeper_fn(void *arg)
{
    struct sleeper *s = arg;
    s->ran = 1;
    s->cancelled_before = coio_is_cancelled();
    double t0 = coio_now();
    s->sleep_rc = coio_sleep(s->sleep);
    s->slept = coio_now() - t0;
    s->cancelled_after = coio_is_cancelled();
    s->done = 1;
    return s->sleep_rc;
}

static int return_arg(void *arg)
{
    return (int)(intptr_t)arg;
}

/* ---- coio_cancel at each suspension point ------------------------------------------ */

struct cancel_state {
    struct sleeper sl;
    int cancel_rc;
    int cancel2_rc;
    int await_rc;
    int outside_cancelled;
    int main_cancelled;
};

static int cancel_before_start_main(void *arg)
{
    struct cancel_state *s = arg;
    coio_task *t = coio_spawn(sleeper_fn, &s->sl);
    s->cancel_rc = coio_cancel(t);
    s->await_rc = coio_await(t);
    return 0;
}

static void cancel_before_start_task_never_runs(void **state)
{
    (void)state;
    struct cancel_state s = {.sl.sleep = 0};
    coio_assert_rc(coio_run(cancel_before_start_main, &s), 0);
    coio_assert_rc(s.cancel_rc, 0);
    coio_assert_rc(s.await_rc, -ECANCELED);
    assert_int_equal(s.sl.ran, 0);
}

static int cancel_sleeping_main(void *arg)
{
    struct cancel_state *s = arg;
    s->main_cancelled = coio_is_cancelled();
    coio_task *t = coio_spawn(sleeper_fn, &s->sl);
    coio_sleep(0.02);
    s->cancel_rc = coio_cancel(t);
    s->await_rc = coio_await(t);
    return 0;
}

static void cancel_while_sleeping_interrupts_sleep_promptly(void **state)
{
    (void)state;
    struct cancel_state s = {.sl.sleep = 10};
    coio_assert_rc(coio_run(cancel_sleeping_main, &s), 0);
    coio_assert_rc(s.cancel_rc, 0);
    assert_int_equal(s.sl.ran, 1);
    coio_assert_rc(s.sl.sleep_rc, -ECANCELED);
    coio_assert_rc(s.await_rc, -ECANCELED); /* the task returned its sleep's result */
    assert_elapsed(s.sl.slept, 0.0, 1.0);
}

static void is_cancelled_reports_cancellation(void **state)
{
    (void)state;
    struct cancel_state s = {.sl.sleep = 10};
    s.outside_cancelled = coio_is_cancelled();
    coio_assert_rc(coio_run(cancel_sleeping_main, &s), 0);
    assert_int_equal(s.outside_cancelled, 0);
    assert_int_equal(s.main_cancelled, 0);
    assert_int_equal(s.sl.cancelled_before, 0);
    assert_int_equal(s.sl.cancelled_after, 1);
}

static int cancel_twice_main(void *arg)
{
    struct cancel_state *s = arg;
    coio_task *t = coio_spawn(sleeper_fn, &s->sl);
    coio_sleep(0.01);
    s->cancel_rc = coio_cancel(t);
    s->cancel2_rc = coio_cancel(t);
    s->await_rc = coio_await(t);
    return 0;
}

static void cancel_twice_is_harmless(void **state)
{
    (void)state;
    struct cancel_state s = {.sl.sleep = 10};
    coio_assert_rc(coio_run(cancel_twice_main, &s), 0);
    coio_assert_rc(s.cancel_rc, 0);
    coio_assert_rc(s.cancel2_rc, 0);
    coio_assert_rc(s.sl.sleep_rc, -ECANCELED);
    coio_assert_rc(s.await_rc, -ECANCELED);
}

static int cancel_finished_main(void *arg)
{
    struct cancel_state *s = arg;
    coio_task *t = coio_spawn(return_arg, (void *)(intptr_t)9);
    coio_sleep(0.01); /* t has finished */
    s->cancel_rc = coio_cancel(t);
    s->await_rc = coio_await(t);
    return 0;
}

static void cancel_of_finished_task_returns_ealready(void **state)
{
    (void)state;
    struct cancel_state s = {0};
    coio_assert_rc(coio_run(cancel_finished_main, &s), 0);
    coio_assert_rc(s.cancel_rc, -EALREADY);
    coio_assert_rc(s.await_rc, 9); /* its result is untouched */
}

struct self_cancel {
    int cancel_rc;
    int sleep_rc;
    int is_cancelled;
};

static int self_cancel_fn(void *arg)
{
    struct self_cancel *s = arg;
    s->cancel_rc = coio_cancel(coio_current());
    s->is_cancelled = coio_is_cancelled();
    s->sleep_rc = coio_sleep(10);
    return 0;
}

static int self_cancel_main(void *arg)
{
    return coio_await(coio_spawn(self_cancel_fn, arg));
}

static void task_can_cancel_itself(void **state)
{
    (void)state;
    struct self_cancel s = {0};
    double t0 = mono_now();
    coio_assert_rc(coio_run(self_cancel_main, &s), 0);
    coio_assert_rc(s.cancel_rc, 0);
    assert_int_equal(s.is_cancelled, 1);
    coio_assert_rc(s.sleep_rc, -ECANCELED);
    assert_elapsed(mono_now() - t0, 0.0, 1.0);
}

/* Level-triggered: after the first -ECANCELED, every suspending call fails at once. */
struct level_state {
    int first, sleep_rc, yield_rc, sleep0_rc, await_rc, wait_for_rc, gather_rc;
    int grandchild_ran;
    double elapsed;
};

static int set_flag(void *arg)
{
    *(int *)arg = 1;
    return 0;
}

static int level_fn(void *arg)
{
    struct level_state *s = arg;
    s->first = coio_sleep(10);
    double t0 = coio_now();
    s->sleep_rc = coio_sleep(1.0);
    s->yield_rc = coio_yield();
    s->sleep0_rc = coio_sleep(0);
    s->await_rc = coio_await(coio_spawn(set_flag, &s->grandchild_ran));
    s->wait_for_rc = coio_wait_for(coio_spawn(set_flag, &s->grandchild_ran), 1.0);
    s->gather_rc = coio_gather(coio_spawn(set_flag, &s->grandchild_ran));
    s->elapsed = coio_now() - t0;
    return 0;
}

static int level_main(void *arg)
{
    coio_task *t = coio_spawn(level_fn, arg);
    coio_sleep(0.01);
    coio_cancel(t);
    return coio_await(t);
}

static void cancelled_task_gets_ecanceled_from_every_later_call(void **state)
{
    (void)state;
    struct level_state s = {0};
    coio_assert_rc(coio_run(level_main, &s), 0);
    coio_assert_rc(s.first, -ECANCELED);
    coio_assert_rc(s.sleep_rc, -ECANCELED);
    coio_assert_rc(s.yield_rc, -ECANCELED);
    coio_assert_rc(s.sleep0_rc, -ECANCELED);
    coio_assert_rc(s.await_rc, -ECANCELED);
    coio_assert_rc(s.wait_for_rc, -ECANCELED);
    coio_assert_rc(s.gather_rc, -ECANCELED);
    assert_int_equal(s.grandchild_ran, 0); /* cancelled with their awaiter, before starting */
    assert_elapsed(s.elapsed, 0.0, 0.5);
}

struct await_cancel {
    struct sleeper inner;
    int await_rc;
    int inner_done_at_return;
    int outer_rc;
    double elapsed;
};

static int awaiter_fn(void *arg)
{
    struct await_cancel *s = arg;
    double t0 = coio_now();
    s->await_rc = coio_await(coio_spawn(sleeper_fn, &s->inner));
    s->elapsed = coio_now() - t0;
    s->inner_done_at_return = s->inner.done;
    return s->await_rc;
}

static int await_cancel_main(void *arg)
{
    struct await_cancel *s = arg;
    coio_task *a = coio_spawn(awaiter_fn, s);
    coio_sleep(0.02);
    coio_cancel(a);
    s->outer_rc = coio_await(a);
    return 0;
}

static void cancel_while_awaiting_cancels_awaited_task(void **state)
{
    (void)state;
    struct await_cancel s = {.inner.sleep = 10};
    coio_assert_rc(coio_run(await_cancel_main, &s), 0);
    coio_assert_rc(s.await_rc, -ECANCELED);
    coio_assert_rc(s.inner.sleep_rc, -ECANCELED);
    assert_true(s.inner_done_at_return); /* awaited to its end */
    assert_elapsed(s.elapsed, 0.0, 1.0);
    coio_assert_rc(s.outer_rc, -ECANCELED);
}

/* ---- cancellation inside coio_to_thread -------------------------------------------- */

#define N_BLOCKERS 256

struct pool_state {
    atomic_int started;  /* blockers that a worker has entered */
    atomic_int release;  /* set to let blockers return */
    atomic_int mark_ran; /* the job that should have been dropped */
    int skipped;
    int t_rc;
    double t_elapsed;
    int started_when_t_returned;
    int started_before_cancel;
};

static int blocker_job(void *arg)
{
    struct pool_state *p = arg;
    atomic_fetch_add(&p->started, 1);
    double give_up = mono_now() + 5.0; /* never hang the test on a library bug */
    while (!atomic_load(&p->release) && mono_now() < give_up)
        usleep(1000);
    return 0;
}

static int blocker_task(void *arg)
{
    return coio_to_thread(blocker_job, arg);
}

static int mark_job(void *arg)
{
    struct pool_state *p = arg;
    atomic_store(&p->mark_ran, 1);
    return 0;
}

static int mark_task(void *arg)
{
    return coio_to_thread(mark_job, arg);
}

static int queued_job_main(void *arg)
{
    struct pool_state *p = arg;
    static coio_task *blockers[N_BLOCKERS];
    for (int i = 0; i < N_BLOCKERS; i++)
        blockers[i] = coio_spawn(blocker_task, p);
    /* wait until the pool stops taking blockers: then every worker is busy */
    int last = -1, stable = 0;
    for (int i = 0; i < 300 && stable < 5; i++) {
        coio_sleep(0.01);
        int now = atomic_load(&p->started);
        stable = now == last ? stable + 1 : 0;
        last = now;
    }
    p->started_before_cancel = atomic_load(&p->started);
    if (p->started_before_cancel >= N_BLOCKERS) {
        p->skipped = 1; /* pool has room for every blocker: cannot queue a job */
    } else {
        coio_task *t = coio_spawn(mark_task, p);
        coio_sleep(0.01); /* t is in coio_to_thread, its job queued */
        double t0 = coio_now();
        coio_cancel(t);
        p->t_rc = coio_await(t);
        p->t_elapsed = coio_now() - t0;
        p->started_when_t_returned = atomic_load(&p->started);
    }
    atomic_store(&p->release, 1);
    int rc = coio_gather_n(blockers, N_BLOCKERS, NULL);
    coio_sleep(0.05); /* a wrongly kept job would run by now */
    return rc;
}

static void cancel_in_to_thread_before_job_started_drops_job(void **state)
{
    (void)state;
    static struct pool_state p;
    coio_assert_rc(coio_run(queued_job_main, &p), 0);
    if (p.skipped) /* only with a worker pool configured bigger than N_BLOCKERS */
        coio_test_skip("the worker pool took all %d blockers: no job can be queued", N_BLOCKERS);
    coio_assert_rc(p.t_rc, -ECANCELED);
    assert_elapsed(p.t_elapsed, 0.0, 1.0);
    /* it returned while the pool was still full, without waiting for a worker */
    assert_int_equal(p.started_when_t_returned, p.started_before_cancel);
    assert_int_equal(atomic_load(&p.mark_ran), 0);
}

struct running_job {
    atomic_int started;
    atomic_int finished;
    int rc;
    int finished_at_return;
    double elapsed;
};

static int slow_job(void *arg)
{
    struct running_job *r = arg;
    atomic_store(&r->started, 1);
    usleep(100 * 1000);
    atomic_store(&r->finished, 1);
    return 5;
}

static int slow_task(void *arg)
{
    struct running_job *r = arg;
    double t0 = coio_now();
    r->rc = coio_to_thread(slow_job, r);
    r->elapsed = coio_now() - t0;
    r->finished_at_return = atomic_load(&r->finished);
    return r->rc;
}

static int running_job_main(void *arg)
{
    struct running_job *r = arg;
    coio_task *t = coio_spawn(slow_task, r);
    for (int i = 0; i < 1000 && !atomic_load(&r->started); i++)
        coio_sleep(0.001);
    coio_cancel(t);
    return coio_await(t);
}

static void cancel_in_to_thread_while_job_runs_waits_for_it(void **state)
{
    (void)state;
    static struct running_job r;
    coio_assert_rc(coio_run(running_job_main, &r), -ECANCELED);
    assert_int_equal(atomic_load(&r.started), 1);
    coio_assert_rc(r.rc, -ECANCELED);
    assert_int_equal(r.finished_at_return, 1);
    assert_elapsed(r.elapsed, 0.09, 2.0);
}

/* ---- coio_wait_for ----------------------------------------------------------------- */

struct wait_for_state {
    struct sleeper sl;
    double timeout;
    int rc;
    double elapsed;
};

static int sleep_return_7(void *arg)
{
    struct sleeper *s = arg;
    s->sleep_rc = coio_sleep(s->sleep);
    return s->sleep_rc < 0 ? s->sleep_rc : 7;
}

static int wait_for_main(void *arg)
{
    struct wait_for_state *s = arg;
    coio_task *t = coio_spawn(s->sl.sleep < 1 ? sleep_return_7 : sleeper_fn, &s->sl);
    double t0 = coio_now();
    s->rc = coio_wait_for(t, s->timeout);
    s->elapsed = coio_now() - t0;
    return 0;
}

static void wait_for_returns_value_of_task_finishing_in_time(void **state)
{
    (void)state;
    struct wait_for_state s = {.sl.sleep = 0.01, .timeout = 5.0};
    coio_assert_rc(coio_run(wait_for_main, &s), 0);
    coio_assert_rc(s.rc, 7);
    coio_assert_rc(s.sl.sleep_rc, 0);
    assert_elapsed(s.elapsed, 0.0, 1.0); /* did not wait for the timeout */
}

static void wait_for_expiry_cancels_task_and_returns_etimedout(void **state)
{
    (void)state;
    struct wait_for_state s = {.sl.sleep = 10, .timeout = 0.05};
    coio_assert_rc(run_virtual(wait_for_main, &s), 0);
    coio_assert_rc(s.rc, -ETIMEDOUT);
    coio_assert_rc(s.sl.sleep_rc, -ECANCELED);
    assert_true(s.sl.done); /* awaited before wait_for returned */
    assert_virtual_elapsed(s.elapsed, 0.05);
}

/* ---- deadline scopes --------------------------------------------------------------- */

struct scope_state {
    int begin_rc, begin2_rc;
    int rc[8];
    int end_rc, end2_rc, end_bad_rc;
    int expired_before, expired_after;
    double elapsed, elapsed2;
};

static int timeout_sleep_main(void *arg)
{
    struct scope_state *s = arg;
    coio_scope sc;
    double t0 = coio_now();
    s->begin_rc = coio_timeout_begin(&sc, 0.05);
    s->expired_before = coio_scope_expired(&sc);
    s->rc[0] = coio_sleep(1.0);
    s->elapsed = coio_now() - t0;
    s->expired_after = coio_scope_expired(&sc);
    s->end_rc = coio_scope_end(&sc);
    return 0;
}

static void timeout_scope_interrupts_sleep_with_etimedout(void **state)
{
    (void)state;
    struct scope_state s = {0};
    coio_assert_rc(run_virtual(timeout_sleep_main, &s), 0);
    coio_assert_rc(s.begin_rc, 0);
    coio_assert_rc(s.rc[0], -ETIMEDOUT);
    assert_virtual_elapsed(s.elapsed, 0.05);
    assert_int_equal(s.expired_before, 0);
    assert_int_equal(s.expired_after, 1);
    coio_assert_rc(s.end_rc, -ETIMEDOUT);
}

static int timeout_not_reached_main(void *arg)
{
    struct scope_state *s = arg;
    coio_scope sc;
    s->begin_rc = coio_timeout_begin(&sc, 1.0);
    s->rc[0] = coio_sleep(0.01);
    s->expired_after = coio_scope_expired(&sc);
    s->end_rc = coio_scope_end(&sc);
    return 0;
}

static void timeout_scope_not_reached_ends_with_zero(void **state)
{
    (void)state;
    struct scope_state s = {0};
    coio_assert_rc(coio_run(timeout_not_reached_main, &s), 0);
    coio_assert_rc(s.begin_rc, 0);
    coio_assert_rc(s.rc[0], 0);
    assert_int_equal(s.expired_after, 0);
    coio_assert_rc(s.end_rc, 0);
}

static int expired_level_main(void *arg)
{
    struct scope_state *s = arg;
    coio_scope sc;
    s->begin_rc = coio_timeout_begin(&sc, 0.02);
    s->rc[0] = coio_sleep(1.0);
    double t0 = coio_now();
    s->rc[1] = coio_sleep(1.0);
    s->rc[2] = coio_yield();
    s->rc[3] = coio_sleep(0);
    s->rc[4] = coio_wait_for(coio_spawn(return_arg, (void *)(intptr_t)1), 1.0);
    s->elapsed = coio_now() - t0;
    s->end_rc = coio_scope_end(&sc);
    return 0;
}

static void expired_scope_fails_every_suspending_call_at_once(void **state)
{
    (void)state;
    struct scope_state s = {0};
    coio_assert_rc(coio_run(expired_level_main, &s), 0);
    for (int i = 0; i < 5; i++)
        coio_assert_rc(s.rc[i], -ETIMEDOUT);
    assert_elapsed(s.elapsed, 0.0, 0.5);
    coio_assert_rc(s.end_rc, -ETIMEDOUT);
}

struct expired_await {
    int ran;
    int await_rc;
    int end_rc;
};

static int expired_await_main(void *arg)
{
    struct expired_await *s = arg;
    coio_scope sc;
    coio_timeout_begin(&sc, 0.01);
    coio_sleep(1.0);
    coio_task *t = coio_spawn(set_flag, &s->ran);
    s->await_rc = coio_await(t); /* cancels t (not started: it never runs) */
    s->end_rc = coio_scope_end(&sc);
    return 0;
}

static void await_in_expired_scope_cancels_child_and_returns_etimedout(void **state)
{
    (void)state;
    struct expired_await s = {0};
    coio_assert_rc(coio_run(expired_await_main, &s), 0);
    coio_assert_rc(s.await_rc, -ETIMEDOUT);
    assert_int_equal(s.ran, 0);
    coio_assert_rc(s.end_rc, -ETIMEDOUT);
}

static int inner_shorter_main(void *arg)
{
    struct scope_state *s = arg;
    coio_scope outer, inner;
    s->begin_rc = coio_timeout_begin(&outer, 1.0);
    s->begin2_rc = coio_timeout_begin(&inner, 0.03);
    double t0 = coio_now();
    s->rc[0] = coio_sleep(1.0);
    s->elapsed = coio_now() - t0;
    s->end2_rc = coio_scope_end(&inner);
    s->rc[1] = coio_sleep(0.01); /* works again after the inner scope */
    s->rc[2] = coio_yield();
    s->end_rc = coio_scope_end(&outer);
    return 0;
}

static void nested_inner_shorter_scope_expires_alone(void **state)
{
    (void)state;
    struct scope_state s = {0};
    coio_assert_rc(run_virtual(inner_shorter_main, &s), 0);
    coio_assert_rc(s.begin_rc, 0);
    coio_assert_rc(s.begin2_rc, 0);
    coio_assert_rc(s.rc[0], -ETIMEDOUT);
    assert_virtual_elapsed(s.elapsed, 0.03);
    coio_assert_rc(s.end2_rc, -ETIMEDOUT);
    coio_assert_rc(s.rc[1], 0);
    coio_assert_rc(s.rc[2], 0);
    coio_assert_rc(s.end_rc, 0);
}

static int outer_shorter_main(void *arg)
{
    struct scope_state *s = arg;
    coio_scope outer, inner;
    s->begin_rc = coio_timeout_begin(&outer, 0.03);
    s->begin2_rc = coio_timeout_begin(&inner, 1.0);
    double t0 = coio_now();
    s->rc[0] = coio_sleep(1.0);
    s->elapsed = coio_now() - t0;
    s->expired_before = coio_scope_expired(&inner);
    s->end2_rc = coio_scope_end(&inner);
    s->rc[1] = coio_sleep(0); /* still inside the expired outer scope */
    s->expired_after = coio_scope_expired(&outer);
    s->end_rc = coio_scope_end(&outer);
    return 0;
}

static void nested_outer_shorter_scope_expires_inside_inner(void **state)
{
    (void)state;
    struct scope_state s = {0};
    coio_assert_rc(run_virtual(outer_shorter_main, &s), 0);
    coio_assert_rc(s.rc[0], -ETIMEDOUT);
    assert_virtual_elapsed(s.elapsed, 0.03);
    assert_int_equal(s.expired_before, 0); /* the inner scope's own deadline did not pass */
    coio_assert_rc(s.end2_rc, 0);
    coio_assert_rc(s.rc[1], -ETIMEDOUT);
    assert_int_equal(s.expired_after, 1);
    coio_assert_rc(s.end_rc, -ETIMEDOUT);
}

static int deadline_abs_main(void *arg)
{
    struct scope_state *s = arg;
    coio_scope sc;
    double t0 = coio_now();
    s->begin_rc = coio_deadline_begin(&sc, t0 + 0.05);
    s->rc[0] = coio_sleep(1.0);
    s->elapsed = coio_now() - t0;
    s->end_rc = coio_scope_end(&sc);
    return 0;
}

static void deadline_scope_uses_absolute_time(void **state)
{
    (void)state;
    struct scope_state s = {0};
    coio_assert_rc(run_virtual(deadline_abs_main, &s), 0);
    coio_assert_rc(s.begin_rc, 0);
    coio_assert_rc(s.rc[0], -ETIMEDOUT);
    assert_virtual_elapsed(s.elapsed, 0.05);
    coio_assert_rc(s.end_rc, -ETIMEDOUT);
}

static int deadline_past_main(void *arg)
{
    struct scope_state *s = arg;
    coio_scope sc;
    double t0 = coio_now();
    s->begin_rc = coio_deadline_begin(&sc, t0 - 1.0);
    s->rc[0] = coio_sleep(1.0);
    s->elapsed = coio_now() - t0;
    s->end_rc = coio_scope_end(&sc);
    return 0;
}

static void deadline_in_the_past_fails_first_call_at_once(void **state)
{
    (void)state;
    struct scope_state s = {0};
    coio_assert_rc(coio_run(deadline_past_main, &s), 0);
    coio_assert_rc(s.begin_rc, 0);
    coio_assert_rc(s.rc[0], -ETIMEDOUT);
    assert_elapsed(s.elapsed, 0.0, 0.5);
    coio_assert_rc(s.end_rc, -ETIMEDOUT);
}

static int restore_outer_main(void *arg)
{
    struct scope_state *s = arg;
    coio_scope outer, inner;
    double t0 = coio_now();
    coio_timeout_begin(&outer, 0.1);
    coio_timeout_begin(&inner, 0.02);
    s->rc[0] = coio_sleep(1.0); /* inner expires */
    s->end2_rc = coio_scope_end(&inner);
    s->rc[1] = coio_sleep(1.0); /* only the outer deadline (t0 + 0.1) applies now */
    s->elapsed = coio_now() - t0;
    s->end_rc = coio_scope_end(&outer);
    return 0;
}

static void ending_scope_restores_outer_deadline(void **state)
{
    (void)state;
    struct scope_state s = {0};
    coio_assert_rc(run_virtual(restore_outer_main, &s), 0);
    coio_assert_rc(s.rc[0], -ETIMEDOUT);
    coio_assert_rc(s.end2_rc, -ETIMEDOUT);
    coio_assert_rc(s.rc[1], -ETIMEDOUT);
    assert_virtual_elapsed(s.elapsed, 0.1);
    coio_assert_rc(s.end_rc, -ETIMEDOUT);
}

static int out_of_order_main(void *arg)
{
    struct scope_state *s = arg;
    coio_scope outer, inner, never;
    memset(&never, 0, sizeof never);
    coio_timeout_begin(&outer, 10);
    coio_timeout_begin(&inner, 10);
    s->end_bad_rc = coio_scope_end(&outer); /* inner is still open */
    s->rc[0] = coio_scope_end(&never);
    s->end2_rc = coio_scope_end(&inner);
    s->end_rc = coio_scope_end(&outer);
    s->rc[1] = coio_sleep(0.001);
    return 0;
}

static void ending_scopes_out_of_order_returns_einval(void **state)
{
    (void)state;
    struct scope_state s = {0};
    coio_assert_rc(coio_run(out_of_order_main, &s), 0);
    coio_assert_rc(s.end_bad_rc, -EINVAL);
    coio_assert_rc(s.rc[0], -EINVAL);
    coio_assert_rc(s.end2_rc, 0);
    coio_assert_rc(s.end_rc, 0);
    coio_assert_rc(s.rc[1], 0);
}

static int no_deadline_main(void *arg)
{
    struct scope_state *s = arg;
    coio_scope a, b;
    s->begin_rc = coio_timeout_begin(&a, -1);
    s->begin2_rc = coio_timeout_begin(&b, INFINITY);
    s->rc[0] = coio_sleep(0.02);
    s->end2_rc = coio_scope_end(&b);
    s->end_rc = coio_scope_end(&a);
    return 0;
}

static int bad_scope_args_main(void *arg)
{
    struct scope_state *s = arg;
    coio_scope a;
    s->rc[1] = coio_timeout_begin(&a, NAN);
    s->rc[2] = coio_timeout_begin(NULL, 1.0);
    s->rc[3] = coio_deadline_begin(NULL, coio_now() + 1.0);
    s->rc[4] = coio_deadline_begin(&a, NAN);
    s->rc[5] = coio_shield_begin(NULL, -1);
    s->rc[6] = coio_sleep(0.001); /* no scope was left open */
    return 0;
}

static void timeout_negative_or_infinite_means_no_deadline(void **state)
{
    (void)state;
    struct scope_state s = {0};
    coio_assert_rc(coio_run(no_deadline_main, &s), 0);
    coio_assert_rc(s.begin_rc, 0);
    coio_assert_rc(s.begin2_rc, 0);
    coio_assert_rc(s.rc[0], 0);
    coio_assert_rc(s.end2_rc, 0);
    coio_assert_rc(s.end_rc, 0);
}

static void scope_begin_rejects_nan_and_null(void **state)
{
    (void)state;
    struct scope_state s = {0};
    coio_assert_rc(coio_run(bad_scope_args_main, &s), 0);
    coio_assert_rc(s.rc[1], -EINVAL);
    coio_assert_rc(s.rc[2], -EINVAL);
    coio_assert_rc(s.rc[3], -EINVAL);
    coio_assert_rc(s.rc[4], -EINVAL);
    coio_assert_rc(s.rc[5], -EINVAL);
    coio_assert_rc(s.rc[6], 0);
}

/* ---- shields ----------------------------------------------------------------------- */

struct shield_state {
    int first_rc;
    int begin_rc;
    int shielded_rc;
    double shielded_elapsed;
    int end_rc;
    int after_rc;
    int outer_end_rc;
};

static int shield_after_cancel_fn(void *arg)
{
    struct shield_state *s = arg;
    s->first_rc = coio_sleep(10);
    coio_scope sh;
    s->begin_rc = coio_shield_begin(&sh, -1);
    double t0 = coio_now();
    s->shielded_rc = coio_sleep(0.02);
    s->shielded_elapsed = coio_now() - t0;
    s->end_rc = coio_scope_end(&sh);
    s->after_rc = coio_sleep(0);
    return 0;
}

struct child_spec {
    int (*fn)(void *);
    void *arg;
};

/* Spawns spec->fn, cancels it 10 ms later and awaits it. */
static int cancel_child_main(void *arg)
{
    struct child_spec *c = arg;
    coio_task *t = coio_spawn(c->fn, c->arg);
    coio_sleep(0.01);
    coio_cancel(t);
    return coio_await(t);
}

static void shield_lets_cancelled_task_sleep(void **state)
{
    (void)state;
    struct shield_state s = {0};
    struct child_spec c = {shield_after_cancel_fn, &s};
    coio_assert_rc(coio_run(cancel_child_main, &c), 0);
    coio_assert_rc(s.first_rc, -ECANCELED);
    coio_assert_rc(s.begin_rc, 0);
    coio_assert_rc(s.shielded_rc, 0);
    assert_elapsed(s.shielded_elapsed, 0.015, 1.0);
    coio_assert_rc(s.end_rc, 0);
    coio_assert_rc(s.after_rc, -ECANCELED);
}

static int shield_during_cancel_fn(void *arg)
{
    struct shield_state *s = arg;
    coio_scope sh;
    s->begin_rc = coio_shield_begin(&sh, -1);
    double t0 = coio_now();
    s->shielded_rc = coio_sleep(0.05); /* cancelled 10 ms in */
    s->shielded_elapsed = coio_now() - t0;
    s->end_rc = coio_scope_end(&sh);
    s->after_rc = coio_sleep(0);
    return 0;
}

static void shield_keeps_sleep_running_through_cancel(void **state)
{
    (void)state;
    struct shield_state s = {0};
    struct child_spec c = {shield_during_cancel_fn, &s};
    coio_assert_rc(coio_run(cancel_child_main, &c), 0);
    coio_assert_rc(s.shielded_rc, 0);
    assert_elapsed(s.shielded_elapsed, 0.045, 1.0);
    coio_assert_rc(s.end_rc, 0);
    coio_assert_rc(s.after_rc, -ECANCELED);
}

static int shield_deadline_fn(void *arg)
{
    struct shield_state *s = arg;
    s->first_rc = coio_sleep(10);
    coio_scope sh;
    s->begin_rc = coio_shield_begin(&sh, 0.03);
    double t0 = coio_now();
    s->shielded_rc = coio_sleep(1.0);
    s->shielded_elapsed = coio_now() - t0;
    s->end_rc = coio_scope_end(&sh);
    return 0;
}

static void shield_own_deadline_still_applies(void **state)
{
    (void)state;
    struct shield_state s = {0};
    struct child_spec c = {shield_deadline_fn, &s};
    coio_assert_rc(coio_run(cancel_child_main, &c), 0);
    coio_assert_rc(s.first_rc, -ECANCELED);
    coio_assert_rc(s.begin_rc, 0);
    coio_assert_rc(s.shielded_rc, -ETIMEDOUT);
    assert_elapsed(s.shielded_elapsed, 0.02, 0.5);
    coio_assert_rc(s.end_rc, -ETIMEDOUT);
}

static int shield_expired_outer_main(void *arg)
{
    struct shield_state *s = arg;
    coio_scope outer, sh;
    coio_timeout_begin(&outer, 0.02);
    s->first_rc = coio_sleep(1.0);
    s->begin_rc = coio_shield_begin(&sh, -1);
    double t0 = coio_now();
    s->shielded_rc = coio_sleep(0.02);
    s->shielded_elapsed = coio_now() - t0;
    s->end_rc = coio_scope_end(&sh);
    s->after_rc = coio_sleep(0);
    s->outer_end_rc = coio_scope_end(&outer);
    return 0;
}

static void shield_ignores_enclosing_expired_timeout(void **state)
{
    (void)state;
    struct shield_state s = {0};
    coio_assert_rc(coio_run(shield_expired_outer_main, &s), 0);
    coio_assert_rc(s.first_rc, -ETIMEDOUT);
    coio_assert_rc(s.begin_rc, 0);
    coio_assert_rc(s.shielded_rc, 0);
    assert_elapsed(s.shielded_elapsed, 0.015, 1.0);
    coio_assert_rc(s.end_rc, 0);
    coio_assert_rc(s.after_rc, -ETIMEDOUT);
    coio_assert_rc(s.outer_end_rc, -ETIMEDOUT);
}

/* ---- coio_run's cleanup of tasks left behind --------------------------------------- */

struct leftover {
    int ran;
    int sleep_rc;
    int cleaned_up;
    int shielded;
};

static int leftover_fn(void *arg)
{
    struct leftover *l = arg;
    l->ran = 1;
    l->sleep_rc = coio_sleep(10);
    if (l->shielded) {
        coio_scope sh;
        coio_shield_begin(&sh, -1);
        coio_sleep(0.02);
        coio_scope_end(&sh);
    }
    l->cleaned_up = 1;
    return 0;
}

struct leftovers {
    struct leftover l[3];
    int spawned;
};

static int leave_detached_main(void *arg)
{
    struct leftovers *s = arg;
    coio_spawn_opts o = {.flags = COIO_SPAWN_DETACHED};
    s->spawned += coio_spawn_ex(leftover_fn, &s->l[0], &o) != NULL;
    coio_task *t = coio_spawn(leftover_fn, &s->l[1]);
    s->spawned += coio_detach(t) == 0;
    coio_sleep(0.01); /* both are asleep now */
    return 3;
}

static void run_cancels_detached_tasks_when_main_returns(void **state)
{
    (void)state;
    struct leftovers s = {0};
    double t0 = mono_now();
    coio_assert_rc(coio_run(leave_detached_main, &s), 3);
    assert_elapsed(mono_now() - t0, 0.0, 1.0);
    assert_int_equal(s.spawned, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(s.l[i].ran, 1);
        coio_assert_rc(s.l[i].sleep_rc, -ECANCELED);
        assert_int_equal(s.l[i].cleaned_up, 1);
    }
}

static int leave_handle_main(void *arg)
{
    struct leftovers *s = arg;
    s->spawned = coio_spawn(leftover_fn, &s->l[0]) != NULL; /* handle never awaited */
    coio_sleep(0.01);
    return 4;
}

static void run_cancels_unawaited_tasks_when_main_returns(void **state)
{
    (void)state;
    struct leftovers s = {0};
    double t0 = mono_now();
    coio_assert_rc(coio_run(leave_handle_main, &s), 4);
    assert_elapsed(mono_now() - t0, 0.0, 1.0);
    assert_int_equal(s.spawned, 1);
    assert_int_equal(s.l[0].ran, 1);
    coio_assert_rc(s.l[0].sleep_rc, -ECANCELED);
    assert_int_equal(s.l[0].cleaned_up, 1);
}

static int leave_unstarted_main(void *arg)
{
    struct leftovers *s = arg;
    coio_spawn_opts o = {.flags = COIO_SPAWN_DETACHED};
    s->spawned = coio_spawn_ex(leftover_fn, &s->l[0], &o) != NULL;
    return 0; /* before the task's first turn */
}

static void run_drops_tasks_that_never_started(void **state)
{
    (void)state;
    struct leftovers s = {0};
    coio_assert_rc(coio_run(leave_unstarted_main, &s), 0);
    assert_int_equal(s.spawned, 1);
    assert_int_equal(s.l[0].ran, 0);
}

static int leave_shielded_main(void *arg)
{
    struct leftovers *s = arg;
    s->l[0].shielded = 1;
    coio_spawn_opts o = {.flags = COIO_SPAWN_DETACHED};
    s->spawned = coio_spawn_ex(leftover_fn, &s->l[0], &o) != NULL;
    coio_sleep(0.01);
    return 0;
}

static void run_waits_for_shielded_cleanup_of_leftover_tasks(void **state)
{
    (void)state;
    struct leftovers s = {0};
    double t0 = mono_now();
    coio_assert_rc(coio_run(leave_shielded_main, &s), 0);
    double took = mono_now() - t0;
    assert_int_equal(s.spawned, 1);
    coio_assert_rc(s.l[0].sleep_rc, -ECANCELED);
    assert_int_equal(s.l[0].cleaned_up, 1);
    assert_elapsed(took, 0.025, 1.0); /* 10 ms before main returned + 20 ms cleanup */
}

/* ------------------------------------------------------------------ deadlock */

struct stuck {
    coio_event *never;   /* nobody sets it */
    int fd[2];
    int child_wait_rc, main_await_rc;
    int cleaned_up;
};

static int stuck_child(void *arg)
{
    struct stuck *s = arg;
    s->child_wait_rc = coio_event_wait(s->never);
    /* Cleanup after the wait: what a deadlock used to skip. */
    close(s->fd[0]);
    close(s->fd[1]);
    s->cleaned_up = 1;
    return s->child_wait_rc;
}

static int stuck_main(void *arg)
{
    struct stuck *s = arg;
    s->never = coio_event_create();
    if (!s->never || pipe(s->fd) < 0)
        return -ENOMEM;
    coio_task *t = coio_spawn_ex(stuck_child, s, &(coio_spawn_opts){.name = "stuck"});
    s->main_await_rc = coio_await(t); /* main waits forever too */
    coio_event_destroy(s->never);
    return 0;
}

static void deadlock_cancels_every_task_so_cleanup_runs(void **state)
{
    (void)state;
    struct stuck s = {.fd = {-1, -1}};
    coio_assert_rc(coio_run(stuck_main, &s), -EDEADLK);
    coio_assert_rc(s.child_wait_rc, -ECANCELED);
    coio_assert_rc(s.main_await_rc, -ECANCELED);
    assert_int_equal(s.cleaned_up, 1);
    /* The pipe was closed by the child's cleanup: the harness checks no fd leaked. */
    assert_int_equal(fcntl(s.fd[0], F_GETFD), -1);
}

/* A task that ignores cancellation (a shielded wait) cannot be helped: coio_run still
 * returns -EDEADLK rather than hang, and the dropped waiters leave the objects they
 * waited on, which the caller can then destroy. */
static coio_event *shielded_never;
static coio_lock *shielded_lock;

static int shielded_stuck_child(void *arg)
{
    (void)arg;
    coio_scope sh;
    coio_shield_begin(&sh, -1);
    int r = coio_event_wait(shielded_never);
    coio_scope_end(&sh);
    return r;
}

static int shielded_lock_child(void *arg)
{
    (void)arg;
    coio_scope sh;
    coio_shield_begin(&sh, -1);
    int r = coio_lock_acquire(shielded_lock);
    coio_scope_end(&sh);
    return r;
}

static int shielded_stuck_main(void *arg)
{
    int *main_rc = arg;
    shielded_never = coio_event_create();
    shielded_lock = coio_lock_create();
    coio_assert_rc(coio_lock_acquire(shielded_lock), 0); /* held by main, never released */
    coio_task *l = coio_spawn(shielded_lock_child, NULL);
    *main_rc = coio_await(coio_spawn(shielded_stuck_child, NULL));
    (void)l;
    return *main_rc;
}

static void deadlock_of_tasks_ignoring_cancellation_still_returns_edeadlk(void **state)
{
    (void)state;
    int main_rc = 1;
    coio_assert_rc(coio_run(shielded_stuck_main, &main_rc), -EDEADLK);
    assert_int_equal(main_rc, 1); /* main never got back from its await */
    coio_assert_rc(coio_event_destroy(shielded_never), 0);
    coio_assert_rc(coio_lock_destroy(shielded_lock), 0);
}

/* ------------------------------------------------------------------ scope blocks */

/* Each helper runs a COIO_WITH_* block inside an outer scope and leaves the block some
 * way; ending the outer scope afterwards succeeds only if the block's scope has ended
 * (else it is not the innermost: -EINVAL). */
static int leave_by_return(void)
{
    COIO_WITH_TIMEOUT(0.001) {
        return coio_sleep(5); /* -ETIMEDOUT, then the scope ends on the way out */
    }
    return 1;
}

static int with_scope_main(void *arg)
{
    int *rc = arg;
    coio_scope outer;
    /* Falling off the end. */
    coio_timeout_begin(&outer, -1);
    COIO_WITH_TIMEOUT(0.001) {
        rc[0] = coio_sleep(5);
    }
    rc[1] = coio_scope_end(&outer);
    if (rc[1] != 0)
        return -1; /* scopes left open would make the rest undefined */
    rc[2] = coio_sleep(0.005); /* no deadline left */
    /* return */
    coio_timeout_begin(&outer, -1);
    rc[3] = leave_by_return();
    rc[4] = coio_scope_end(&outer);
    /* break leaves the block, not the enclosing loop. */
    coio_timeout_begin(&outer, -1);
    int rounds = 0;
    for (int i = 0; i < 3; i++) {
        COIO_WITH_TIMEOUT(10) {
            rounds++;
            if (coio_yield() == 0)
                break;
            rounds += 100; /* not reached */
        }
    }
    rc[5] = rounds;
    rc[6] = coio_scope_end(&outer);
    /* goto out of the block, and nesting. */
    coio_timeout_begin(&outer, -1);
    COIO_WITH_TIMEOUT(10) {
        COIO_WITH_DEADLINE(coio_now() - 1) {
            if (coio_yield() == -ETIMEDOUT)
                goto out;
        }
        rc[7] = 99; /* not reached */
    }
out:
    rc[8] = coio_scope_end(&outer);
    /* A shield block lets a cancelled task sleep. */
    coio_cancel(coio_current());
    COIO_WITH_SHIELD(-1) {
        rc[9] = coio_sleep(0.001);
    }
    rc[10] = coio_sleep(0.001);
    return 0;
}

static void with_scope_blocks_end_their_scope_on_every_exit(void **state)
{
    (void)state;
    int rc[11] = {0};
    coio_assert_rc(coio_run(with_scope_main, rc), 0);
    coio_assert_rc(rc[0], -ETIMEDOUT);
    coio_assert_rc(rc[1], 0);
    coio_assert_rc(rc[2], 0);
    coio_assert_rc(rc[3], -ETIMEDOUT);
    coio_assert_rc(rc[4], 0);
    assert_int_equal(rc[5], 3); /* each round's break left only the block */
    coio_assert_rc(rc[6], 0);
    assert_int_equal(rc[7], 0);
    coio_assert_rc(rc[8], 0);
    coio_assert_rc(rc[9], 0);
    coio_assert_rc(rc[10], -ECANCELED);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(cancel_before_start_task_never_runs),
    cmocka_unit_test(cancel_while_sleeping_interrupts_sleep_promptly),
    cmocka_unit_test(is_cancelled_reports_cancellation),
    cmocka_unit_test(cancel_twice_is_harmless),
    cmocka_unit_test(cancel_of_finished_task_returns_ealready),
    cmocka_unit_test(task_can_cancel_itself),
    cmocka_unit_test(cancelled_task_gets_ecanceled_from_every_later_call),
    cmocka_unit_test(cancel_while_awaiting_cancels_awaited_task),
    cmocka_unit_test(cancel_in_to_thread_before_job_started_drops_job),
    cmocka_unit_test(cancel_in_to_thread_while_job_runs_waits_for_it),
    cmocka_unit_test(wait_for_returns_value_of_task_finishing_in_time),
    cmocka_unit_test(wait_for_expiry_cancels_task_and_returns_etimedout),
    cmocka_unit_test(timeout_scope_interrupts_sleep_with_etimedout),
    cmocka_unit_test(timeout_scope_not_reached_ends_with_zero),
    cmocka_unit_test(expired_scope_fails_every_suspending_call_at_once),
    cmocka_unit_test(await_in_expired_scope_cancels_child_and_returns_etimedout),
    cmocka_unit_test(nested_inner_shorter_scope_expires_alone),
    cmocka_unit_test(nested_outer_shorter_scope_expires_inside_inner),
    cmocka_unit_test(deadline_scope_uses_absolute_time),
    cmocka_unit_test(deadline_in_the_past_fails_first_call_at_once),
    cmocka_unit_test(ending_scope_restores_outer_deadline),
    cmocka_unit_test(ending_scopes_out_of_order_returns_einval),
    cmocka_unit_test(timeout_negative_or_infinite_means_no_deadline),
    cmocka_unit_test(scope_begin_rejects_nan_and_null),
    cmocka_unit_test(shield_lets_cancelled_task_sleep),
    cmocka_unit_test(shield_keeps_sleep_running_through_cancel),
    cmocka_unit_test(shield_own_deadline_still_applies),
    cmocka_unit_test(shield_ignores_enclosing_expired_timeout),
    cmocka_unit_test(run_cancels_detached_tasks_when_main_returns),
    cmocka_unit_test(run_cancels_unawaited_tasks_when_main_returns),
    cmocka_unit_test(run_drops_tasks_that_never_started),
    cmocka_unit_test(run_waits_for_shielded_cleanup_of_leftover_tasks),
    cmocka_unit_test(deadlock_cancels_every_task_so_cleanup_runs),
    cmocka_unit_test(deadlock_of_tasks_ignoring_cancellation_still_returns_edeadlk),
    cmocka_unit_test(with_scope_blocks_end_their_scope_on_every_exit),
};

COIO_TEST_MAIN(tests)
