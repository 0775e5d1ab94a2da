/* coio-test: io tsan */
/* Callbacks: call_soon / call_later / call_at order and cancellation, what callbacks may
 * and may not do, call_soon_threadsafe from plain threads and between several loops that
 * run at once (run under TSan), loop handles outliving their loop. */
#define _GNU_SOURCE
#include "sync_helpers.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#define I(x) ((void *)(intptr_t)(x))
#define V(p) ((int)(intptr_t)(p))

static void nap(double seconds)
{
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
}

/* A task that yields until *stop is set. */
static int spin_until(void *arg)
{
    volatile int *stop = arg;
    while (!*stop)
        if (coio_yield() < 0)
            return -1;
    return 0;
}

/* ------------------------------------------------------------------ order */

struct rec {
    struct order order;
    double at[32];
    double t0;
};

static struct rec *the_rec;

static void record(void *arg)
{
    note(&the_rec->order, V(arg));
    if (the_rec->order.n <= 32)
        the_rec->at[the_rec->order.n - 1] = coio_now() - the_rec->t0;
}

static int soon_main(void *arg)
{
    struct rec *r = arg;
    the_rec = r;
    for (int i = 0; i < 5; i++)
        check_rc(coio_call_soon(record, I(i), NULL), 0);
    check_int(r->order.n, 0); /* never inside the call */
    coio_yield();
    check_int(r->order.n, 5);
    return 0;
}

static void call_soon_runs_fifo_on_a_later_turn(void **state)
{
    (void)state;
    require_backend();
    struct rec r = {0};
    run_ok(soon_main, &r);
    int want[] = {0, 1, 2, 3, 4};
    assert_order(&r.order, want, 5);
}

static int later_main(void *arg)
{
    struct rec *r = arg;
    the_rec = r;
    r->t0 = coio_now();
    /* On the virtual clock (see the case), so no delay between these calls can reorder
     * them, and each runs exactly at its time. */
    coio_call_later(-1, record, I(0), NULL); /* negative delay: as soon as possible */
    coio_call_later(0.01, record, I(1), NULL);
    coio_call_at(r->t0 + 0.09, record, I(3), NULL);
    coio_call_at(r->t0 + 0.05, record, I(2), NULL);
    for (int i = 4; i < 8; i++) /* equal times: FIFO */
        coio_call_at(r->t0 + 0.13, record, I(i), NULL);
    coio_sleep(0.16);
    return 0;
}

static void call_later_and_call_at_run_by_time_fifo_for_equal_times(void **state)
{
    (void)state;
    require_backend();
    struct rec r = {0};
    assert_int_equal(coio_clock_virtual(INFINITY), 0);
    run_ok(later_main, &r);
    int want[] = {0, 1, 2, 3, 4, 5, 6, 7};
    assert_order(&r.order, want, 8);
    static const double when[] = {0, 0.01, 0.05, 0.09, 0.13, 0.13, 0.13, 0.13};
    for (int i = 0; i < 8; i++)
        assert_true(fabs(r.at[i] - when[i]) < 1e-9);
}

/* call_later(d) is call_at(now + d): past deadlines run by deadline, like asyncio's. */
static int past_main(void *arg)
{
    struct rec *r = arg;
    the_rec = r;
    double now = coio_now();
    coio_call_later(-1, record, I(2), NULL);
    coio_call_later(-2, record, I(1), NULL);
    coio_call_at(now - 3, record, I(0), NULL);
    coio_call_later(-1, record, I(3), NULL); /* a later now: after #2 */
    coio_call_later(0, record, I(4), NULL);
    coio_yield();
    return 0;
}

static void negative_delays_run_by_deadline_like_call_at(void **state)
{
    (void)state;
    require_backend();
    struct rec r = {0};
    run_ok(past_main, &r);
    int want[] = {0, 1, 2, 3, 4};
    assert_order(&r.order, want, 5);
}

/* A callback that is already due when it is scheduled ends the running turn, as
 * call_soon does: a lone task that yields once finds it has run (asyncio runs it by the
 * second sleep(0)), instead of after a whole turn of yields. */
static int due_ran;

static void mark_due(void *arg)
{
    due_ran += V(arg);
}

static int due_main(void *arg)
{
    int form = V(arg);
    due_ran = 0;
    switch (form) {
    case 0:
        check_rc(coio_call_later(0, mark_due, I(1), NULL), 0);
        break;
    case 1:
        check_rc(coio_call_later(-5, mark_due, I(1), NULL), 0);
        break;
    case 2:
        check_rc(coio_call_at(coio_now() - 1, mark_due, I(1), NULL), 0);
        break;
    case 3:
        check_rc(coio_call_at(0, mark_due, I(1), NULL), 0);
        break;
    }
    check_int(due_ran, 0); /* never inside the call */
    check_rc(coio_yield(), 0);
    check_int(due_ran, 1);
    return 0;
}

static void due_callbacks_run_at_the_next_yield_of_a_lone_task(void **state)
{
    (void)state;
    require_backend();
    for (int form = 0; form < 4; form++)
        run_ok(due_main, I(form));
}

static int due_with_peer_main(void *arg)
{
    (void)arg;
    due_ran = 0;
    /* A second task keeps the ready queue busy: the turn would last 64 switches. */
    int stop = 0;
    coio_task *peer = coio_spawn(spin_until, &stop);
    check_rc(coio_yield(), 0); /* let it start */
    check_rc(coio_call_later(0, mark_due, I(1), NULL), 0);
    check_rc(coio_yield(), 0); /* the peer runs one step, then the loop */
    check_int(due_ran, 1);
    stop = 1;
    check_rc(coio_await(peer), 0);
    return 0;
}

static void due_callback_runs_before_tasks_ready_after_it(void **state)
{
    (void)state;
    require_backend();
    run_ok(due_with_peer_main, NULL);
}

/* A callback scheduled by a callback runs in the loop's next iteration: after one step
 * of each ready task, not after a whole turn of them. */
static int chain_step;

static void chain_second(void *arg)
{
    (void)arg;
    chain_step = 2;
}

static void chain_first(void *arg)
{
    chain_step = 1;
    if (V(arg) == 0)
        coio_call_soon(chain_second, NULL, NULL);
    else
        coio_call_later(0, chain_second, NULL, NULL);
}

static int chain_main(void *arg)
{
    chain_step = 0;
    check_rc(coio_call_soon(chain_first, arg, NULL), 0);
    check_rc(coio_yield(), 0);
    check_int(chain_step, 1);
    check_rc(coio_yield(), 0);
    check_int(chain_step, 2);
    return 0;
}

static void callback_scheduled_by_a_callback_runs_next_iteration(void **state)
{
    (void)state;
    require_backend();
    run_ok(chain_main, I(0)); /* call_soon */
    run_ok(chain_main, I(1)); /* call_later(0) */
}

/* ------------------------------------------------------------------ cancellation */

struct cancel_ctx {
    coio_call_handle h[4];
    int self_cancel_rc;
    int other_cancel_rc;
};

static struct cancel_ctx *the_cc;

static void cancel_self_and_other(void *arg)
{
    (void)arg;
    record(I(10));
    the_cc->self_cancel_rc = coio_call_cancel(&the_cc->h[0]);
    the_cc->other_cancel_rc = coio_call_cancel(&the_cc->h[1]);
}

static int cancel_main(void *arg)
{
    struct cancel_ctx *c = arg;
    static struct rec r;
    memset(&r, 0, sizeof r);
    the_rec = &r;
    the_cc = c;
    coio_call_handle a, b;
    check_rc(coio_call_soon(record, I(1), &a), 0);
    check_rc(coio_call_later(0.01, record, I(2), &b), 0);
    check_rc(coio_call_cancel(&a), 0);
    check_rc(coio_call_cancel(&b), 0);
    check_rc(coio_call_cancel(&a), -EALREADY);
    check_rc(coio_call_later(0.001, record, I(3), &a), 0); /* may reuse the record */
    check_rc(coio_call_cancel(&b), -EALREADY);          /* the old handle stays stale */
    coio_sleep(0.02);
    check_rc(coio_call_cancel(&a), -EALREADY); /* ran */
    /* A callback cancelling itself (running: too late) and a pending one. */
    coio_call_soon(cancel_self_and_other, NULL, &c->h[0]);
    coio_call_soon(record, I(4), &c->h[1]);
    coio_yield();
    coio_sleep(0.005);
    check_rc(c->self_cancel_rc, -EALREADY);
    check_rc(c->other_cancel_rc, 0);
    int want[] = {3, 10};
    check_order(&r.order, want, 2);
    /* A long timer cancelled before main returns: coio_run ends at once. */
    coio_call_later(3600, record, I(5), &a);
    check_rc(coio_call_cancel(&a), 0);
    coio_call_handle zero = {{0}};
    check_rc(coio_call_cancel(&zero), -EINVAL);
    check_rc(coio_call_cancel(NULL), -EINVAL);
    return 0;
}

static void call_cancel_prevents_running_and_stale_handles_are_harmless(void **state)
{
    (void)state;
    require_backend();
    struct cancel_ctx c = {0};
    double t0 = coio_now();
    run_ok(cancel_main, &c);
    assert_true(coio_now() - t0 < 5.0);
}

/* ------------------------------------------------------------------ inside callbacks */

struct inside {
    coio_event *ev;
    coio_lock *lock;
    coio_queue *q;
    coio_sem *sem;
    coio_task *spawned;
    int spawned_ran;
    int rcs[8];
    int turns;
};

static int spawned_fn(void *arg)
{
    struct inside *s = arg;
    s->spawned_ran = 1;
    return 0;
}

static void inside_cb(void *arg)
{
    struct inside *s = arg;
    s->rcs[0] = coio_sleep(0.01);
    s->rcs[1] = coio_yield();
    s->rcs[2] = coio_lock_acquire(s->lock);
    s->rcs[3] = coio_queue_get(s->q, NULL);
    s->rcs[4] = coio_event_wait(s->ev);
    /* Non-suspending calls work. */
    s->rcs[5] = coio_event_set(s->ev);
    s->rcs[6] = coio_queue_put_nowait(s->q, I(5));
    s->rcs[7] = coio_lock_try_acquire(s->lock);
    coio_sem_release(s->sem);
    s->spawned = coio_spawn(spawned_fn, s);
}

static int inside_main(void *arg)
{
    struct inside *s = arg;
    s->ev = coio_event_create();
    s->lock = coio_lock_create();
    s->q = coio_queue_create(COIO_QUEUE_FIFO, 0, NULL);
    s->sem = coio_sem_create(0);
    coio_call_soon(inside_cb, s, NULL);
    check_rc(coio_event_wait(s->ev), 0); /* set by the callback */
    check_rc(coio_sem_acquire(s->sem), 0);
    check_rc(coio_lock_release(s->lock), 0); /* taken by the callback */
    check_rc(coio_await(s->spawned), 0);
    check_int(s->spawned_ran, 1);
    void *it;
    check_rc(coio_queue_get(s->q, &it), 0);
    check_int(V(it), 5);
    coio_event_destroy(s->ev);
    coio_lock_destroy(s->lock);
    coio_queue_destroy(s->q);
    coio_sem_destroy(s->sem);
    return 0;
}

static void callbacks_cannot_suspend_but_may_use_nonblocking_calls(void **state)
{
    (void)state;
    require_backend();
    struct inside s = {0};
    run_ok(inside_main, &s);
    for (int i = 0; i < 5; i++)
        coio_assert_rc(s.rcs[i], -EPERM);
    for (int i = 5; i < 8; i++)
        coio_assert_rc(s.rcs[i], 0);
}

static void resched(void *arg)
{
    int *n = arg;
    if (++*n < 1000)
        coio_call_soon(resched, n, NULL);
}

static int starve_main(void *arg)
{
    int *n = arg;
    coio_call_soon(resched, n, NULL);
    /* A callback that reschedules itself runs once per turn: tasks keep running. */
    int turns = 0;
    while (*n < 1000 && turns < 100000) {
        coio_yield();
        turns++;
    }
    check_true(turns >= 10);
    check_int(*n, 1000);
    return 0;
}

static void rescheduling_callback_does_not_starve_tasks(void **state)
{
    (void)state;
    require_backend();
    int n = 0;
    run_ok(starve_main, &n);
}

static void call_misuse_returns_error_codes(void **state)
{
    (void)state;
    require_backend();
    assert_int_equal(coio_call_soon(record, NULL, NULL), -EPERM); /* no loop */
    assert_int_equal(coio_call_later(1, record, NULL, NULL), -EPERM);
    assert_int_equal(coio_call_soon(NULL, NULL, NULL), -EINVAL);
    assert_int_equal(coio_call_later(0.0 / 0.0, record, NULL, NULL), -EINVAL);
    assert_int_equal(coio_call_at(0.0 / 0.0, record, NULL, NULL), -EINVAL);
    assert_null(coio_loop_current());
    assert_int_equal(errno, EPERM);
    assert_int_equal(coio_call_soon_threadsafe(NULL, record, NULL), -EINVAL);
    assert_int_equal(coio_loop_release(NULL), -EINVAL);
}

/* ------------------------------------------------------------------ threadsafe */

struct ts {
    coio_loop *loop;
    coio_event *ev;
    int calls;
    int order_ok;
    int posted_rc;
};

static void ts_count(void *arg)
{
    struct ts *s = arg;
    s->calls++; /* runs on the loop's thread: no lock needed */
}

static void ts_finish(void *arg)
{
    struct ts *s = arg;
    s->order_ok = s->calls == 100;
    coio_event_set(s->ev);
}

static void *ts_poster(void *arg)
{
    struct ts *s = arg;
    nap(0.01);
    int rc = 0;
    for (int i = 0; i < 100 && rc == 0; i++)
        rc = coio_call_soon_threadsafe(s->loop, ts_count, s);
    if (rc == 0)
        rc = coio_call_soon_threadsafe(s->loop, ts_finish, s);
    s->posted_rc = rc;
    coio_loop_release(s->loop); /* the loop's keepalive ends from this thread */
    return NULL;
}

static int ts_main(void *arg)
{
    struct ts *s = arg;
    s->ev = coio_event_create();
    s->loop = coio_loop_current();
    check_true(s->loop != NULL);
    pthread_t th;
    pthread_create(&th, NULL, ts_poster, s);
    /* Only the other thread can set the event: the handle keeps -EDEADLK away. */
    check_rc(coio_event_wait(s->ev), 0);
    pthread_join(th, NULL);
    /* Posting from the loop's own thread works too. */
    coio_loop *self = coio_loop_current();
    check_rc(coio_call_soon_threadsafe(self, ts_count, s), 0);
    coio_loop_release(self);
    coio_yield();
    check_int(s->calls, 101);
    coio_event_destroy(s->ev);
    return 0;
}

static void call_soon_threadsafe_from_another_thread_wakes_the_loop_in_order(void **state)
{
    (void)state;
    require_backend();
    struct ts s = {0};
    run_ok(ts_main, &s);
    coio_assert_rc(s.posted_rc, 0);
    assert_int_equal(s.order_ok, 1);
}

/* A loop whose only task never stops yielding still looks at other threads' messages:
 * once a message is posted, it runs within a turn of task steps (64), bounded here at
 * two, on both backends. */
struct busy {
    coio_loop *loop;
    atomic_int go, posted;
    int ran;
    int post_rc;
};

static void busy_arrived(void *arg)
{
    ((struct busy *)arg)->ran = 1;
}

static void *busy_poster(void *arg)
{
    struct busy *b = arg;
    while (!atomic_load(&b->go))
        ;
    b->post_rc = coio_call_soon_threadsafe(b->loop, busy_arrived, b);
    atomic_store(&b->posted, 1); /* the loop's wake-up has been written */
    return NULL;
}

static int busy_main(void *arg)
{
    struct busy *b = arg;
    b->loop = coio_loop_current();
    pthread_t th;
    check_rc(pthread_create(&th, NULL, busy_poster, b), 0);
    atomic_store(&b->go, 1);
    while (!b->ran && !atomic_load(&b->posted))
        coio_yield();
    long yields = 0;
    while (!b->ran && yields < 1000000) {
        coio_yield();
        yields++;
    }
    check_true(b->ran);
    if (yields > 128)
        print_error("threadsafe callback ran %ld yields after it was posted\n", yields);
    check_true(yields <= 128);
    pthread_join(th, NULL);
    check_rc(b->post_rc, 0);
    coio_loop_release(b->loop);
    return 0;
}

static void threadsafe_callback_reaches_a_busy_loop_within_a_turn(void **state)
{
    (void)state;
    require_backend();
    for (int i = 0; i < 20; i++) {
        struct busy b = {.ran = 0};
        run_ok(busy_main, &b);
    }
}

static int deadlock_main(void *arg)
{
    int *wait_rc = arg;
    coio_event *ev = coio_event_create();
    coio_loop *l = coio_loop_current();
    coio_loop_release(l); /* no outside reference left: waiting forever is a deadlock */
    *wait_rc = coio_event_wait(ev); /* the deadlock cancels it */
    coio_event_destroy(ev);
    return *wait_rc;
}

static void released_loop_handle_lets_deadlock_be_reported(void **state)
{
    (void)state;
    require_backend();
    int wait_rc = 0;
    assert_int_equal(coio_run(deadlock_main, &wait_rc), -EDEADLK);
    coio_assert_rc(wait_rc, -ECANCELED);
}

static coio_loop *kept_loop;

static int keep_handle_main(void *arg)
{
    (void)arg;
    kept_loop = coio_loop_current();
    return 0;
}

static void loop_handle_outlives_its_loop(void **state)
{
    (void)state;
    require_backend();
    assert_int_equal(coio_run(keep_handle_main, NULL), 0);
    assert_non_null(kept_loop);
    coio_assert_rc(coio_call_soon_threadsafe(kept_loop, record, NULL), -ESHUTDOWN);
    coio_assert_rc(coio_loop_release(kept_loop), 0);
}

/* Several loops, each in its own thread, pass a token around a ring with
 * call_soon_threadsafe while a thread pool of completers races with them. */
#define NLOOPS 4
#define LAPS 200
#define STOP_HOP (1 << 20)
#define TOKEN(hop, to) I((hop) * 256 + (to))

struct ring {
    coio_loop *loops[NLOOPS];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int nready;
    int go;
};

struct node {
    struct ring *ring;
    int id;
    coio_event *done;
    coio_queue *inbox; /* tokens arrive through a queue fed by the callback */
    int seen;
    int rc;
};

static struct node nodes[NLOOPS];

static void token_arrives(void *arg)
{
    /* Runs on the receiving loop's thread. */
    intptr_t v = (intptr_t)arg;
    coio_queue_put_nowait(nodes[v % 256].inbox, I(v / 256));
}

static int ring_main(void *arg)
{
    struct node *n = arg;
    struct ring *r = n->ring;
    n->inbox = coio_queue_create(COIO_QUEUE_FIFO, 0, NULL);
    pthread_mutex_lock(&r->mu);
    r->loops[n->id] = coio_loop_current();
    r->nready++;
    pthread_cond_broadcast(&r->cv);
    while (!r->go)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
    int next = (n->id + 1) % NLOOPS;
    if (n->id == 0)
        coio_call_soon_threadsafe(r->loops[next], token_arrives, TOKEN(1, next));
    for (;;) {
        void *it;
        int rc = coio_queue_get(n->inbox, &it);
        if (rc < 0) {
            n->rc = rc;
            break;
        }
        int hop = V(it);
        n->seen++;
        if (hop == STOP_HOP)
            break;
        if (hop >= LAPS * NLOOPS) {
            /* Last hop: tell every loop to stop (including this one). */
            for (int k = 0; k < NLOOPS; k++)
                coio_call_soon_threadsafe(r->loops[k], token_arrives, TOKEN(STOP_HOP, k));
            continue;
        }
        coio_call_soon_threadsafe(r->loops[next], token_arrives, TOKEN(hop + 1, next));
    }
    coio_queue_destroy(n->inbox);
    return 0;
}

static void *ring_thread(void *arg)
{
    struct node *n = arg;
    n->rc = coio_run(ring_main, n);
    return NULL;
}

static void several_loops_in_threads_pass_work_with_call_soon_threadsafe(void **state)
{
    (void)state;
    require_backend();
    atomic_store(&check_failures, 0);
    struct ring r = {.nready = 0};
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    pthread_t th[NLOOPS];
    for (int i = 0; i < NLOOPS; i++) {
        nodes[i] = (struct node){.ring = &r, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, ring_thread, &nodes[i]), 0);
    }
    pthread_mutex_lock(&r.mu);
    while (r.nready < NLOOPS)
        pthread_cond_wait(&r.cv, &r.mu);
    r.go = 1;
    pthread_cond_broadcast(&r.cv);
    pthread_mutex_unlock(&r.mu);
    for (int i = 0; i < NLOOPS; i++)
        pthread_join(th[i], NULL);
    int total = 0;
    for (int i = 0; i < NLOOPS; i++) {
        coio_assert_rc(nodes[i].rc, 0);
        total += nodes[i].seen;
        coio_loop_release(r.loops[i]);
    }
    /* Hops 1 .. LAPS*NLOOPS, plus the stop message each loop receives. */
    assert_int_equal(total, LAPS * NLOOPS + NLOOPS);
    pthread_mutex_destroy(&r.mu);
    pthread_cond_destroy(&r.cv);
    assert_int_equal(atomic_load(&check_failures), 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(call_soon_runs_fifo_on_a_later_turn),
    cmocka_unit_test(call_later_and_call_at_run_by_time_fifo_for_equal_times),
    cmocka_unit_test(negative_delays_run_by_deadline_like_call_at),
    cmocka_unit_test(due_callbacks_run_at_the_next_yield_of_a_lone_task),
    cmocka_unit_test(due_callback_runs_before_tasks_ready_after_it),
    cmocka_unit_test(callback_scheduled_by_a_callback_runs_next_iteration),
    cmocka_unit_test(call_cancel_prevents_running_and_stale_handles_are_harmless),
    cmocka_unit_test(callbacks_cannot_suspend_but_may_use_nonblocking_calls),
    cmocka_unit_test(rescheduling_callback_does_not_starve_tasks),
    cmocka_unit_test(call_misuse_returns_error_codes),
    cmocka_unit_test(call_soon_threadsafe_from_another_thread_wakes_the_loop_in_order),
    cmocka_unit_test(threadsafe_callback_reaches_a_busy_loop_within_a_turn),
    cmocka_unit_test(released_loop_handle_lets_deadlock_be_reported),
    cmocka_unit_test(loop_handle_outlives_its_loop),
    cmocka_unit_test(several_loops_in_threads_pass_work_with_call_soon_threadsafe),
};

COIO_TEST_MAIN(tests)
