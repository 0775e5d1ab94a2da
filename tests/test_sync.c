/* Lock, Event, Condition, Semaphore, BoundedSemaphore, Barrier: asyncio's behaviours,
 * FIFO fairness, cancellation and timeouts while waiting (the wake-up passes on), misuse. */
#define _GNU_SOURCE
#include "sync_helpers.h"

/* ------------------------------------------------------------------ lock */

struct lock_ctx {
    coio_lock *lock;
    struct order order;
    int id;
    double hold;
    int rc[8];
};

struct lock_arg {
    struct lock_ctx *c;
    int id;
    double hold;
};

static int lock_user(void *arg)
{
    struct lock_arg *a = arg;
    int r = coio_lock_acquire(a->c->lock);
    a->c->rc[a->id] = r;
    if (r < 0)
        return r;
    note(&a->c->order, a->id);
    if (a->hold > 0)
        coio_sleep(a->hold);
    coio_lock_release(a->c->lock);
    return 0;
}

static int lock_fifo_main(void *arg)
{
    struct lock_ctx *c = arg;
    c->lock = coio_lock_create();
    check_rc(coio_lock_acquire(c->lock), 0);
    struct lock_arg a[5];
    coio_task *t[5];
    for (int i = 0; i < 5; i++) {
        a[i] = (struct lock_arg){c, i, 0.001};
        t[i] = coio_spawn(lock_user, &a[i]);
        coio_yield(); /* t[i] queues on the lock before t[i+1] */
    }
    check_int(coio_lock_locked(c->lock), 1);
    coio_lock_release(c->lock);
    check_rc(coio_gather_n(t, 5, NULL), 0);
    check_int(coio_lock_locked(c->lock), 0);
    check_rc(coio_lock_destroy(c->lock), 0);
    return 0;
}

static void lock_waiters_get_it_in_fifo_order(void **state)
{
    (void)state;
    struct lock_ctx c = {0};
    run_ok(lock_fifo_main, &c);
    int want[] = {0, 1, 2, 3, 4};
    assert_order(&c.order, want, 5);
}

static int lock_no_barging_main(void *arg)
{
    struct lock_ctx *c = arg;
    c->lock = coio_lock_create();
    check_rc(coio_lock_acquire(c->lock), 0);
    struct lock_arg a = {c, 1, 0};
    coio_task *t = coio_spawn(lock_user, &a);
    coio_yield(); /* t waits */
    coio_lock_release(c->lock);
    /* Handed to t: still locked, and neither try nor acquire can jump the queue. */
    check_int(coio_lock_locked(c->lock), 1);
    check_rc(coio_lock_try_acquire(c->lock), -EAGAIN);
    check_rc(coio_lock_acquire(c->lock), 0);
    note(&c->order, 0);
    coio_lock_release(c->lock);
    check_rc(coio_await(t), 0);
    coio_lock_destroy(c->lock);
    return 0;
}

static void lock_release_hands_over_without_barging(void **state)
{
    (void)state;
    struct lock_ctx c = {0};
    run_ok(lock_no_barging_main, &c);
    int want[] = {1, 0};
    assert_order(&c.order, want, 2);
}

static int lock_cancel_main(void *arg)
{
    struct lock_ctx *c = arg;
    c->lock = coio_lock_create();
    check_rc(coio_lock_acquire(c->lock), 0);
    struct lock_arg a[3] = {{c, 0, 0}, {c, 1, 0}, {c, 2, 0}};
    coio_task *t[3];
    for (int i = 0; i < 3; i++) {
        t[i] = coio_spawn(lock_user, &a[i]);
        coio_yield();
    }
    coio_cancel(t[0]); /* the first waiter gives up: the lock must go to t[1] */
    coio_yield();
    coio_lock_release(c->lock);
    int res[3];
    coio_gather_n(t, 3, res);
    check_rc(res[0], -ECANCELED);
    check_rc(c->rc[0], -ECANCELED);
    check_rc(res[1], 0);
    check_rc(res[2], 0);
    check_int(coio_lock_locked(c->lock), 0);
    coio_lock_destroy(c->lock);
    return 0;
}

static void lock_cancelled_waiter_passes_lock_to_next(void **state)
{
    (void)state;
    struct lock_ctx c = {0};
    run_ok(lock_cancel_main, &c);
    int want[] = {1, 2};
    assert_order(&c.order, want, 2);
}

static int lock_acquire_fn(void *arg)
{
    return coio_lock_acquire(arg);
}

static int lock_timeout_user(void *arg)
{
    struct lock_arg *a = arg;
    int r = with_timeout(0.02, lock_acquire_fn, a->c->lock);
    a->c->rc[a->id] = r;
    if (r == 0) {
        note(&a->c->order, a->id);
        coio_lock_release(a->c->lock);
    }
    return r;
}

static int lock_timeout_main(void *arg)
{
    struct lock_ctx *c = arg;
    c->lock = coio_lock_create();
    check_rc(coio_lock_acquire(c->lock), 0);
    struct lock_arg a0 = {c, 0, 0}, a1 = {c, 1, 0};
    coio_task *t0 = coio_spawn(lock_timeout_user, &a0); /* gives up after 20 ms */
    coio_yield();
    coio_task *t1 = coio_spawn(lock_user, &a1);         /* waits as long as it takes */
    check_rc(coio_await(t0), -ETIMEDOUT); /* gone from the queue, ahead of t1 */
    coio_lock_release(c->lock);
    check_rc(coio_await(t1), 0);
    coio_lock_destroy(c->lock);
    return 0;
}

static void lock_timed_out_waiter_passes_lock_to_next(void **state)
{
    (void)state;
    struct lock_ctx c = {0};
    run_ok(lock_timeout_main, &c);
    int want[] = {1};
    assert_order(&c.order, want, 1);
}

static int lock_granted_then_cancelled_main(void *arg)
{
    struct lock_ctx *c = arg;
    c->lock = coio_lock_create();
    coio_lock_acquire(c->lock);
    struct lock_arg a = {c, 0, 0.01};
    coio_task *t = coio_spawn(lock_user, &a);
    coio_yield();
    coio_lock_release(c->lock); /* handed to t ... */
    coio_cancel(t);             /* ... which is cancelled before it runs: it keeps it */
    check_rc(coio_await(t), 0);
    check_rc(c->rc[0], 0);
    check_int(coio_lock_locked(c->lock), 0);
    coio_lock_destroy(c->lock);
    return 0;
}

static void lock_handed_over_before_cancel_is_kept(void **state)
{
    (void)state;
    struct lock_ctx c = {0};
    run_ok(lock_granted_then_cancelled_main, &c);
    int want[] = {0};
    assert_order(&c.order, want, 1);
}

static int lock_misuse_main(void *arg)
{
    (void)arg;
    coio_lock *l = coio_lock_create();
    check_rc(coio_lock_release(l), -EPERM);
    check_rc(coio_lock_acquire(l), 0);
    check_rc(coio_lock_acquire(l), -EDEADLK); /* not reentrant */
    check_rc(coio_lock_try_acquire(l), -EAGAIN);
    struct lock_ctx c = {.lock = l};
    struct lock_arg a = {&c, 0, 0};
    coio_task *t = coio_spawn(lock_user, &a);
    coio_yield();
    check_rc(coio_lock_destroy(l), -EBUSY);
    coio_lock_release(l);
    coio_await(t);
    check_rc(coio_lock_acquire(NULL), -EINVAL);
    check_rc(coio_lock_release(NULL), -EINVAL);
    check_rc(coio_lock_destroy(NULL), -EINVAL);
    /* A cancelled task can't acquire, even a free lock (level-triggered). */
    coio_cancel(coio_current());
    check_rc(coio_lock_acquire(l), -ECANCELED);
    check_int(coio_lock_locked(l), 0);
    check_rc(coio_lock_destroy(l), 0);
    return 0;
}

static void lock_misuse_returns_error_codes(void **state)
{
    (void)state;
    run_ok(lock_misuse_main, NULL);
    coio_lock *l = coio_lock_create();
    coio_assert_rc(coio_lock_acquire(l), -EPERM); /* outside a task */
    coio_lock_destroy(l);
}

/* ------------------------------------------------------------------ event */

struct ev_ctx {
    coio_event *e;
    int rc[4];
    int woke;
};

struct ev_arg {
    struct ev_ctx *c;
    int id;
};

static int ev_waiter(void *arg)
{
    struct ev_arg *a = arg;
    a->c->rc[a->id] = coio_event_wait(a->c->e);
    if (a->c->rc[a->id] == 0)
        a->c->woke++;
    return a->c->rc[a->id];
}

static int event_main(void *arg)
{
    struct ev_ctx *c = arg;
    c->e = coio_event_create();
    check_int(coio_event_is_set(c->e), 0);
    struct ev_arg a[3] = {{c, 0}, {c, 1}, {c, 2}};
    coio_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = coio_spawn(ev_waiter, &a[i]);
    coio_sleep(0.01);
    check_int(c->woke, 0);
    coio_cancel(t[1]);
    coio_event_set(c->e);
    coio_event_clear(c->e); /* those woken by set return 0 even so */
    int res[3];
    coio_gather_n(t, 3, res);
    check_rc(res[0], 0);
    check_rc(res[1], -ECANCELED);
    check_rc(res[2], 0);
    coio_event_set(c->e);
    check_rc(coio_event_wait(c->e), 0); /* set: no wait */
    check_int(coio_event_is_set(c->e), 1);
    check_rc(coio_event_destroy(c->e), 0);
    return 0;
}

static void event_set_wakes_every_waiter(void **state)
{
    (void)state;
    struct ev_ctx c = {0};
    run_ok(event_main, &c);
    assert_int_equal(c.woke, 2);
}

static int ev_wait_fn(void *arg)
{
    return coio_event_wait(arg);
}

static int event_timeout_main(void *arg)
{
    (void)arg;
    coio_event *e = coio_event_create();
    double t0 = coio_now();
    check_rc(with_timeout(0.02, ev_wait_fn, e), -ETIMEDOUT);
    check_true(coio_now() - t0 >= 0.019);
    struct ev_ctx c = {.e = e};
    struct ev_arg a = {&c, 0};
    coio_task *t = coio_spawn(ev_waiter, &a);
    coio_yield();
    check_rc(coio_event_destroy(e), -EBUSY);
    coio_event_set(e);
    coio_await(t);
    check_rc(coio_event_destroy(e), 0);
    check_rc(coio_event_wait(NULL), -EINVAL);
    return 0;
}

static void event_wait_times_out_and_destroy_refuses_while_waited(void **state)
{
    (void)state;
    run_ok(event_timeout_main, NULL);
}

/* ------------------------------------------------------------------ condition */

struct cond_ctx {
    coio_cond *c;
    int items;
    struct order order;
    int rc[8];
};

struct cond_arg {
    struct cond_ctx *c;
    int id;
};

static int has_item(void *arg)
{
    return ((struct cond_ctx *)arg)->items > 0;
}

static int cond_consumer(void *arg)
{
    struct cond_arg *a = arg;
    coio_cond *cv = a->c->c;
    coio_cond_acquire(cv);
    int r = coio_cond_wait_for(cv, has_item, a->c);
    a->c->rc[a->id] = r;
    if (r == 0) {
        a->c->items--;
        note(&a->c->order, a->id);
    }
    /* The lock is held after every outcome. */
    check_int(coio_lock_locked(coio_cond_lock(cv)), 1);
    coio_cond_release(cv);
    return r;
}

static int cond_main(void *arg)
{
    struct cond_ctx *c = arg;
    c->c = coio_cond_create(NULL);
    struct cond_arg a[4] = {{c, 0}, {c, 1}, {c, 2}, {c, 3}};
    coio_task *t[4];
    for (int i = 0; i < 4; i++) {
        t[i] = coio_spawn(cond_consumer, &a[i]);
        coio_yield();
    }
    coio_cond_acquire(c->c);
    c->items = 1;
    check_rc(coio_cond_notify(c->c, 1), 1);
    coio_cond_release(c->c);
    coio_sleep(0.01);
    check_int(c->order.n, 1);
    coio_cond_acquire(c->c);
    c->items = 3;
    check_rc(coio_cond_notify_all(c->c), 3);
    coio_cond_release(c->c);
    check_rc(coio_gather_n(t, 4, NULL), 0);
    check_rc(coio_cond_destroy(c->c), 0);
    return 0;
}

static void cond_notify_wakes_n_in_fifo_order_and_wait_for_checks_predicate(void **state)
{
    (void)state;
    struct cond_ctx c = {0};
    run_ok(cond_main, &c);
    int want[] = {0, 1, 2, 3};
    assert_order(&c.order, want, 4);
}

static int cond_cancel_main(void *arg)
{
    struct cond_ctx *c = arg;
    c->c = coio_cond_create(NULL);
    struct cond_arg a[3] = {{c, 0}, {c, 1}, {c, 2}};
    coio_task *t[3];
    for (int i = 0; i < 3; i++) {
        t[i] = coio_spawn(cond_consumer, &a[i]);
        coio_yield();
    }
    coio_cond_acquire(c->c);
    coio_cancel(t[0]); /* cancelled while waiting: must not take the notification */
    c->items = 1;
    check_rc(coio_cond_notify(c->c, 1), 1);
    coio_cond_release(c->c);
    coio_sleep(0.01);
    int want[] = {1};
    check_order(&c->order, want, 1);
    check_rc(c->rc[0], -ECANCELED);
    coio_cond_acquire(c->c);
    c->items = 1;
    coio_cond_notify(c->c, 1);
    coio_cond_release(c->c);
    int res[3];
    coio_gather_n(t, 3, res);
    check_rc(res[0], -ECANCELED);
    check_rc(res[1], 0);
    check_rc(res[2], 0);
    coio_cond_destroy(c->c);
    return 0;
}

static void cond_cancelled_waiter_does_not_swallow_notify(void **state)
{
    (void)state;
    struct cond_ctx c = {0};
    run_ok(cond_cancel_main, &c);
}

static int cond_wait_fn(void *arg)
{
    return coio_cond_wait(arg);
}

static int cond_timeout_waiter(void *arg)
{
    struct cond_arg *a = arg;
    coio_cond_acquire(a->c->c);
    int r = with_timeout(0.02, cond_wait_fn, a->c->c);
    a->c->rc[a->id] = r;
    check_int(coio_lock_locked(coio_cond_lock(a->c->c)), 1);
    coio_cond_release(a->c->c);
    return r;
}

static int cond_timeout_main(void *arg)
{
    struct cond_ctx *c = arg;
    c->c = coio_cond_create(NULL);
    struct cond_arg a0 = {c, 0}, a1 = {c, 1};
    coio_task *t0 = coio_spawn(cond_timeout_waiter, &a0);
    coio_yield();
    coio_task *t1 = coio_spawn(cond_consumer, &a1);
    coio_yield();
    check_rc(coio_await(t0), -ETIMEDOUT); /* t0 timed out, ahead of t1 */
    coio_cond_acquire(c->c);
    c->items = 1;
    check_rc(coio_cond_notify(c->c, 1), 1); /* goes to t1 */
    coio_cond_release(c->c);
    check_rc(coio_await(t1), 0);
    coio_cond_destroy(c->c);
    return 0;
}

static void cond_timed_out_waiter_does_not_swallow_notify(void **state)
{
    (void)state;
    struct cond_ctx c = {0};
    run_ok(cond_timeout_main, &c);
}

static int cond_misuse_main(void *arg)
{
    (void)arg;
    coio_lock *l = coio_lock_create();
    coio_cond *c = coio_cond_create(l);
    check_true((coio_cond_lock(c)) == (l));
    check_rc(coio_cond_wait(c), -EPERM);   /* lock not held */
    check_rc(coio_cond_notify(c, 1), -EPERM);
    check_rc(coio_cond_notify_all(c), -EPERM);
    coio_lock_acquire(l);
    check_rc(coio_cond_notify(c, 1), 0);   /* nobody waits */
    check_rc(coio_cond_notify(c, -1), -EINVAL);
    check_rc(coio_cond_wait_for(c, NULL, NULL), -EINVAL);
    coio_cancel(coio_current());
    check_rc(coio_cond_wait(c), -ECANCELED);
    check_int(coio_lock_locked(l), 1); /* still held */
    coio_lock_release(l);
    check_rc(coio_cond_destroy(c), 0);
    check_rc(coio_lock_destroy(l), 0); /* the caller's lock survives the cond */
    return 0;
}

static void cond_misuse_returns_error_codes(void **state)
{
    (void)state;
    run_ok(cond_misuse_main, NULL);
}

/* ------------------------------------------------------------------ semaphores */

struct sem_ctx {
    coio_sem *s;
    struct order order;
    int inside, max_inside;
};

struct sem_arg {
    struct sem_ctx *c;
    int id;
};

static int sem_user(void *arg)
{
    struct sem_arg *a = arg;
    int r = coio_sem_acquire(a->c->s);
    if (r < 0)
        return r;
    note(&a->c->order, a->id);
    if (++a->c->inside > a->c->max_inside)
        a->c->max_inside = a->c->inside;
    coio_sleep(0.002);
    a->c->inside--;
    coio_sem_release(a->c->s);
    return 0;
}

static int sem_main(void *arg)
{
    struct sem_ctx *c = arg;
    c->s = coio_sem_create(2);
    struct sem_arg a[6];
    coio_task *t[6];
    for (int i = 0; i < 6; i++) {
        a[i] = (struct sem_arg){c, i};
        t[i] = coio_spawn(sem_user, &a[i]);
    }
    check_rc(coio_gather_n(t, 6, NULL), 0);
    check_int(coio_sem_value(c->s), 2);
    check_rc(coio_sem_destroy(c->s), 0);
    return 0;
}

static void sem_limits_concurrency_and_serves_fifo(void **state)
{
    (void)state;
    struct sem_ctx c = {0};
    run_ok(sem_main, &c);
    assert_int_equal(c.max_inside, 2);
    int want[] = {0, 1, 2, 3, 4, 5};
    assert_order(&c.order, want, 6);
}

static int sem_acquire_fn(void *arg)
{
    return coio_sem_acquire(arg);
}

static int sem_timeout_user(void *arg)
{
    struct sem_arg *a = arg;
    int r = with_timeout(0.02, sem_acquire_fn, a->c->s);
    if (r == 0) {
        note(&a->c->order, a->id);
        coio_sem_release(a->c->s);
    }
    return r;
}

static int sem_interrupt_main(void *arg)
{
    struct sem_ctx *c = arg;
    c->s = coio_sem_create(0);
    check_int(coio_sem_locked(c->s), 1);
    struct sem_arg a[3] = {{c, 0}, {c, 1}, {c, 2}};
    coio_task *t0 = coio_spawn(sem_timeout_user, &a[0]); /* times out */
    coio_yield();
    coio_task *t1 = coio_spawn(sem_user, &a[1]);         /* cancelled */
    coio_yield();
    coio_task *t2 = coio_spawn(sem_user, &a[2]);         /* gets the permit */
    coio_yield();
    coio_cancel(t1);
    check_rc(coio_await(t0), -ETIMEDOUT); /* both left the queue ahead of t2 */
    check_rc(coio_await(t1), -ECANCELED);
    check_rc(coio_sem_try_acquire(c->s), -EAGAIN);
    coio_sem_release(c->s);
    check_rc(coio_await(t2), 0);
    check_int(coio_sem_value(c->s), 1);
    check_rc(coio_sem_try_acquire(c->s), 0);
    coio_sem_destroy(c->s);
    return 0;
}

static void sem_cancelled_or_timed_out_waiter_passes_permit_on(void **state)
{
    (void)state;
    struct sem_ctx c = {0};
    run_ok(sem_interrupt_main, &c);
    int want[] = {2};
    assert_order(&c.order, want, 1);
}

static int bounded_main(void *arg)
{
    (void)arg;
    coio_sem *b = coio_sem_create_bounded(2);
    check_rc(coio_sem_release(b), -EOVERFLOW); /* already at its initial value */
    check_rc(coio_sem_acquire(b), 0);
    check_rc(coio_sem_release(b), 0);
    check_rc(coio_sem_release(b), -EOVERFLOW);
    check_int(coio_sem_value(b), 2);
    coio_sem_destroy(b);
    coio_sem *s = coio_sem_create(0);
    check_rc(coio_sem_release(s), 0); /* unbounded: fine */
    check_int(coio_sem_value(s), 1);
    struct sem_ctx c = {.s = coio_sem_create(0)};
    struct sem_arg a = {&c, 0};
    coio_task *t = coio_spawn(sem_user, &a);
    coio_yield();
    check_rc(coio_sem_destroy(c.s), -EBUSY);
    coio_sem_release(c.s);
    coio_await(t);
    coio_sem_destroy(c.s);
    coio_sem_destroy(s);
    check_rc(coio_sem_acquire(NULL), -EINVAL);
    return 0;
}

static void bounded_sem_refuses_over_release(void **state)
{
    (void)state;
    run_ok(bounded_main, NULL);
}

/* ------------------------------------------------------------------ barrier */

struct bar_ctx {
    coio_barrier *b;
    int idx[8];
    int after[8]; /* tasks through the barrier when this one got through */
    int through;
};

struct bar_arg {
    struct bar_ctx *c;
    int id;
};

static int bar_user(void *arg)
{
    struct bar_arg *a = arg;
    int r = coio_barrier_wait(a->c->b);
    a->c->idx[a->id] = r;
    if (r >= 0)
        a->c->through++;
    return r < 0 ? r : 0;
}

static int barrier_main(void *arg)
{
    struct bar_ctx *c = arg;
    c->b = coio_barrier_create(3);
    check_int(coio_barrier_parties(c->b), 3);
    struct bar_arg a[6];
    coio_task *t[6];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 3; i++) {
            int k = round * 3 + i;
            a[k] = (struct bar_arg){c, k};
            t[k] = coio_spawn(bar_user, &a[k]);
            coio_sleep(0.005);
            if (i < 2) {
                check_int(coio_barrier_n_waiting(c->b), (unsigned)i + 1);
                check_int(c->through, round * 3);
            }
        }
        coio_sleep(0.005);
        check_int(c->through, round * 3 + 3);
        check_int(coio_barrier_n_waiting(c->b), 0);
    }
    check_rc(coio_gather_n(t, 6, NULL), 0);
    coio_barrier_destroy(c->b);
    return 0;
}

static void barrier_releases_parties_together_and_cycles(void **state)
{
    (void)state;
    struct bar_ctx c = {0};
    run_ok(barrier_main, &c);
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 3; i++)
            assert_int_equal(c.idx[round * 3 + i], i); /* arrival order; last gets 2 */
}

static int barrier_abort_main(void *arg)
{
    struct bar_ctx *c = arg;
    c->b = coio_barrier_create(3);
    struct bar_arg a[3] = {{c, 0}, {c, 1}, {c, 2}};
    coio_task *t0 = coio_spawn(bar_user, &a[0]);
    coio_task *t1 = coio_spawn(bar_user, &a[1]);
    coio_sleep(0.005);
    coio_barrier_abort(c->b);
    check_int(coio_barrier_broken(c->b), 1);
    check_rc(coio_await(t0), -EPIPE);
    check_rc(coio_await(t1), -EPIPE);
    check_rc(coio_barrier_wait(c->b), -EPIPE); /* until reset */
    coio_barrier_reset(c->b);
    check_int(coio_barrier_broken(c->b), 0);
    /* reset while waiting: the waiter gets -EPIPE, the barrier stays usable */
    coio_task *t2 = coio_spawn(bar_user, &a[2]);
    coio_sleep(0.005);
    coio_barrier_reset(c->b);
    check_rc(coio_await(t2), -EPIPE);
    check_int(coio_barrier_broken(c->b), 0);
    check_int(coio_barrier_n_waiting(c->b), 0);
    coio_barrier_destroy(c->b);
    return 0;
}

static void barrier_abort_and_reset_release_waiters_with_epipe(void **state)
{
    (void)state;
    struct bar_ctx c = {0};
    run_ok(barrier_abort_main, &c);
}

static int bar_wait_fn(void *arg)
{
    return coio_barrier_wait(arg);
}

static int bar_timeout_user(void *arg)
{
    struct bar_arg *a = arg;
    return with_timeout(0.01, bar_wait_fn, a->c->b);
}

static int barrier_interrupt_main(void *arg)
{
    struct bar_ctx *c = arg;
    c->b = coio_barrier_create(2);
    struct bar_arg a[4] = {{c, 0}, {c, 1}, {c, 2}, {c, 3}};
    coio_task *t0 = coio_spawn(bar_user, &a[0]);
    coio_sleep(0.002);
    coio_cancel(t0); /* leaves: does not count towards the trip */
    check_rc(coio_await(t0), -ECANCELED);
    check_int(coio_barrier_n_waiting(c->b), 0);
    coio_task *t1 = coio_spawn(bar_timeout_user, &a[1]);
    check_rc(coio_await(t1), -ETIMEDOUT);
    check_int(coio_barrier_n_waiting(c->b), 0);
    check_int(coio_barrier_broken(c->b), 0);
    coio_task *t2 = coio_spawn(bar_user, &a[2]);
    coio_task *t3 = coio_spawn(bar_user, &a[3]);
    check_rc(coio_gather(t2, t3), 0);
    check_int(c->idx[2], 0);
    check_int(c->idx[3], 1);
    check_rc(coio_barrier_destroy(c->b), 0);
    check_true((coio_barrier_create(0)) == NULL);
    check_int(errno, EINVAL);
    return 0;
}

static void barrier_cancelled_or_timed_out_waiter_leaves_without_breaking(void **state)
{
    (void)state;
    struct bar_ctx c = {0};
    run_ok(barrier_interrupt_main, &c);
}

static int one_party_main(void *arg)
{
    (void)arg;
    coio_barrier *b = coio_barrier_create(1);
    check_rc(coio_barrier_wait(b), 0);
    check_rc(coio_barrier_wait(b), 0);
    coio_barrier_destroy(b);
    return 0;
}

static void barrier_of_one_never_waits(void **state)
{
    (void)state;
    run_ok(one_party_main, NULL);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(lock_waiters_get_it_in_fifo_order),
    cmocka_unit_test(lock_release_hands_over_without_barging),
    cmocka_unit_test(lock_cancelled_waiter_passes_lock_to_next),
    cmocka_unit_test(lock_timed_out_waiter_passes_lock_to_next),
    cmocka_unit_test(lock_handed_over_before_cancel_is_kept),
    cmocka_unit_test(lock_misuse_returns_error_codes),
    cmocka_unit_test(event_set_wakes_every_waiter),
    cmocka_unit_test(event_wait_times_out_and_destroy_refuses_while_waited),
    cmocka_unit_test(cond_notify_wakes_n_in_fifo_order_and_wait_for_checks_predicate),
    cmocka_unit_test(cond_cancelled_waiter_does_not_swallow_notify),
    cmocka_unit_test(cond_timed_out_waiter_does_not_swallow_notify),
    cmocka_unit_test(cond_misuse_returns_error_codes),
    cmocka_unit_test(sem_limits_concurrency_and_serves_fifo),
    cmocka_unit_test(sem_cancelled_or_timed_out_waiter_passes_permit_on),
    cmocka_unit_test(bounded_sem_refuses_over_release),
    cmocka_unit_test(barrier_releases_parties_together_and_cycles),
    cmocka_unit_test(barrier_abort_and_reset_release_waiters_with_epipe),
    cmocka_unit_test(barrier_cancelled_or_timed_out_waiter_leaves_without_breaking),
    cmocka_unit_test(barrier_of_one_never_waits),
};

COIO_TEST_MAIN(tests)
