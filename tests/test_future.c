/* coio-test: io tsan */
/* Futures: result/error/cancel, several waiters, timeouts and cancellation of the waiter,
 * completion from callbacks, from plain threads and from other loops (run under TSan). */
#define _GNU_SOURCE
#include "sync_helpers.h"

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

/* ------------------------------------------------------------------ basics */

struct fw {
    coio_future *f;
    double timeout;
    void *value;
    int rc;
};

static int awaiter(void *arg)
{
    struct fw *w = arg;
    w->rc = coio_future_await(w->f, w->timeout, &w->value);
    return 0;
}

static int basics_main(void *arg)
{
    (void)arg;
    coio_future *f = coio_future_create();
    check_int(coio_future_done(f), 0);
    void *v = NULL;
    check_rc(coio_future_result(f, &v), -EAGAIN);
    check_rc(coio_future_set_result(f, I(42)), 0);
    check_int(coio_future_done(f), 1);
    check_rc(coio_future_await(f, -1, &v), 0); /* done: at once */
    check_int(V(v), 42);
    check_rc(coio_future_result(f, &v), 0);
    check_rc(coio_future_set_result(f, I(1)), -EALREADY);
    check_rc(coio_future_set_error(f, -EIO), -EALREADY);
    check_rc(coio_future_cancel(f), -EALREADY);
    check_rc(coio_future_destroy(f), 0);

    f = coio_future_create();
    check_rc(coio_future_set_error(f, 5), -EINVAL);
    check_rc(coio_future_set_error(f, -EIO), 0);
    check_rc(coio_future_await(f, -1, NULL), -EIO);
    check_rc(coio_future_result(f, NULL), -EIO);
    coio_future_destroy(f);

    f = coio_future_create();
    check_rc(coio_future_cancel(f), 0);
    check_rc(coio_future_await(f, -1, NULL), -ECANCELED);
    coio_future_destroy(f);

    check_rc(coio_future_await(NULL, -1, NULL), -EINVAL);
    check_rc(coio_future_set_result(NULL, NULL), -EINVAL);
    check_rc(coio_future_destroy(NULL), -EINVAL);
    return 0;
}

static void future_result_error_cancel_are_one_shot(void **state)
{
    (void)state;
    run_ok(basics_main, NULL);
    coio_future *f = coio_future_create();
    assert_int_equal(coio_future_await(f, -1, NULL), -EPERM); /* outside a task */
    assert_int_equal(coio_future_set_result(f, NULL), 0);     /* completing works anywhere */
    coio_future_destroy(f);
}

static int waiters_main(void *arg)
{
    (void)arg;
    coio_future *f = coio_future_create();
    struct fw w[3];
    coio_task *t[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (struct fw){.f = f, .timeout = -1};
        t[i] = coio_spawn(awaiter, &w[i]);
    }
    coio_sleep(0.01);
    check_rc(coio_future_destroy(f), -EBUSY);
    coio_future_set_result(f, I(7));
    coio_gather_n(t, 3, NULL);
    for (int i = 0; i < 3; i++) {
        check_rc(w[i].rc, 0);
        check_int(V(w[i].value), 7);
    }
    check_rc(coio_future_destroy(f), 0);
    return 0;
}

static void future_wakes_every_waiter(void **state)
{
    (void)state;
    run_ok(waiters_main, NULL);
}

static int await_in_scope(void *arg)
{
    struct fw *w = arg;
    return coio_future_await(w->f, -1, NULL);
}

static int timeout_main(void *arg)
{
    (void)arg;
    coio_future *f = coio_future_create();
    double t0 = coio_now();
    check_rc(coio_future_await(f, 0.02, NULL), -ETIMEDOUT);
    check_true(coio_now() - t0 >= 0.019);
    check_int(coio_future_done(f), 0); /* not cancelled by the timeout */
    struct fw w = {.f = f};
    check_rc(with_timeout(0.01, await_in_scope, &w), -ETIMEDOUT);
    check_rc(coio_future_await(f, 0, NULL), -ETIMEDOUT); /* 0: just look */
    /* The waiting task is cancelled: -ECANCELED, the future stays pending. */
    w = (struct fw){.f = f, .timeout = -1};
    coio_task *t = coio_spawn(awaiter, &w);
    coio_sleep(0.005);
    coio_cancel(t);
    coio_await(t);
    check_rc(w.rc, -ECANCELED);
    check_int(coio_future_done(f), 0);
    check_rc(coio_future_set_result(f, I(3)), 0);
    check_rc(coio_future_await(f, 0, NULL), 0);
    check_rc(coio_future_destroy(f), 0);
    return 0;
}

static void future_await_timeout_and_cancel_leave_future_pending(void **state)
{
    (void)state;
    run_ok(timeout_main, NULL);
}

static void set_from_callback(void *arg)
{
    check_rc(coio_future_set_result(arg, I(99)), 0);
    check_rc(coio_future_await(arg, -1, NULL), -EPERM); /* no task in a callback */
}

static int callback_main(void *arg)
{
    (void)arg;
    coio_future *f = coio_future_create();
    coio_call_later(0.01, set_from_callback, f, NULL);
    void *v = NULL;
    check_rc(coio_future_await(f, -1, &v), 0);
    check_int(V(v), 99);
    coio_future_destroy(f);
    return 0;
}

static void future_completed_from_a_callback(void **state)
{
    (void)state;
    run_ok(callback_main, NULL);
}

/* ------------------------------------------------------------------ other threads */

struct thread_set {
    coio_future *f;
    double delay;
    int how; /* 0 result, 1 error, 2 cancel */
    int rc;
};

static void *completer(void *arg)
{
    struct thread_set *s = arg;
    nap(s->delay);
    if (s->how == 0)
        s->rc = coio_future_set_result(s->f, I(1234));
    else if (s->how == 1)
        s->rc = coio_future_set_error(s->f, -ENOSPC);
    else
        s->rc = coio_future_cancel(s->f);
    return NULL;
}

static int thread_main(void *arg)
{
    (void)arg;
    for (int how = 0; how < 3; how++) {
        struct thread_set s = {.f = coio_future_create(), .delay = 0.02, .how = how};
        pthread_t th;
        check_int(pthread_create(&th, NULL, completer, &s), 0);
        void *v = NULL;
        /* Nothing else can wake this loop: the waiting future keeps it from -EDEADLK. */
        int r = coio_future_await(s.f, -1, &v);
        pthread_join(th, NULL);
        check_rc(s.rc, 0);
        check_rc(r, how == 0 ? 0 : how == 1 ? -ENOSPC : -ECANCELED);
        if (how == 0)
            check_int(V(v), 1234);
        coio_future_destroy(s.f);
    }
    return 0;
}

static void future_completed_from_another_thread_wakes_the_loop(void **state)
{
    (void)state;
    run_ok(thread_main, NULL);
}

/* A waiter that times out or is cancelled just as another thread completes the future:
 * either outcome is fine, nothing may crash, leak or race (TSan). */
static int race_main(void *arg)
{
    (void)arg;
    int got_value = 0, timed_out = 0;
    for (int i = 0; i < 300; i++) {
        struct thread_set s = {.f = coio_future_create(), .delay = (i % 5) * 20e-6};
        pthread_t th;
        pthread_create(&th, NULL, completer, &s);
        void *v = NULL;
        int r = coio_future_await(s.f, (i % 3) * 40e-6, &v);
        if (r == 0) {
            check_int(V(v), 1234);
            got_value++;
        } else {
            check_rc(r, -ETIMEDOUT);
            timed_out++;
        }
        pthread_join(th, NULL);
        check_rc(coio_future_destroy(s.f), 0);
    }
    check_int(got_value + timed_out, 300);
    return 0;
}

static void future_timeout_racing_with_thread_completion_is_safe(void **state)
{
    (void)state;
    run_ok(race_main, NULL);
}

/* One future awaited by tasks on three loops (threads), completed by a fourth thread. */
struct multi {
    coio_future *f;
    int started;
    pthread_mutex_t mu;
    int rc[3];
    void *value[3];
};

struct loop_arg {
    struct multi *m;
    int id;
};

static int loop_awaiter(void *arg)
{
    struct loop_arg *a = arg;
    pthread_mutex_lock(&a->m->mu);
    a->m->started++;
    pthread_mutex_unlock(&a->m->mu);
    a->m->rc[a->id] = coio_future_await(a->m->f, 5.0, &a->m->value[a->id]);
    return 0;
}

static int loop_main(void *arg)
{
    struct loop_arg *a = arg;
    /* Two awaiting tasks per loop: both woken by one completion. */
    coio_task *t1 = coio_spawn(loop_awaiter, a);
    struct fw w = {.f = a->m->f, .timeout = 5.0};
    coio_task *t2 = coio_spawn(awaiter, &w);
    coio_gather(t1, t2);
    check_rc(w.rc, 0);
    check_int(V(w.value), 77);
    return 0;
}

static void *loop_thread(void *arg)
{
    struct loop_arg *a = arg;
    check_rc(coio_run(loop_main, a), 0);
    return NULL;
}

static void future_awaited_on_several_loops_completed_by_another_thread(void **state)
{
    (void)state;
    atomic_store(&check_failures, 0);
    struct multi m = {.f = coio_future_create()};
    pthread_mutex_init(&m.mu, NULL);
    pthread_t th[3];
    struct loop_arg a[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (struct loop_arg){&m, i};
        assert_int_equal(pthread_create(&th[i], NULL, loop_thread, &a[i]), 0);
    }
    for (;;) {
        pthread_mutex_lock(&m.mu);
        int n = m.started;
        pthread_mutex_unlock(&m.mu);
        if (n == 3)
            break;
        nap(0.001);
    }
    nap(0.01);
    assert_int_equal(coio_future_set_result(m.f, I(77)), 0);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 3; i++) {
        coio_assert_rc(m.rc[i], 0);
        assert_int_equal(V(m.value[i]), 77);
    }
    assert_int_equal(coio_future_destroy(m.f), 0);
    pthread_mutex_destroy(&m.mu);
    assert_int_equal(atomic_load(&check_failures), 0);
}

/* Many threads complete many futures of one loop at once. */
#define NFUT 64

struct many {
    coio_future *f[NFUT];
};

static void *complete_range(void *arg)
{
    void **a = arg;
    struct many *m = a[0];
    int from = (int)(intptr_t)a[1];
    for (int i = from; i < NFUT; i += 4)
        coio_future_set_result(m->f[i], I(i));
    return NULL;
}

static int many_awaiter(void *arg)
{
    coio_future *f = arg;
    void *v;
    int r = coio_future_await(f, 5.0, &v);
    return r < 0 ? r : V(v);
}

static int many_main(void *arg)
{
    struct many *m = arg;
    coio_task *t[NFUT];
    for (int i = 0; i < NFUT; i++) {
        m->f[i] = coio_future_create();
        t[i] = coio_spawn(many_awaiter, m->f[i]);
    }
    coio_yield();
    pthread_t th[4];
    void *args[4][2];
    for (int k = 0; k < 4; k++) {
        args[k][0] = m;
        args[k][1] = I(k);
        pthread_create(&th[k], NULL, complete_range, args[k]);
    }
    int res[NFUT];
    check_rc(coio_gather_n(t, NFUT, res), 0);
    for (int k = 0; k < 4; k++)
        pthread_join(th[k], NULL);
    for (int i = 0; i < NFUT; i++) {
        check_int(res[i], i);
        coio_future_destroy(m->f[i]);
    }
    return 0;
}

static void future_many_threads_complete_many_futures(void **state)
{
    (void)state;
    struct many m;
    run_ok(many_main, &m);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(future_result_error_cancel_are_one_shot),
    cmocka_unit_test(future_wakes_every_waiter),
    cmocka_unit_test(future_await_timeout_and_cancel_leave_future_pending),
    cmocka_unit_test(future_completed_from_a_callback),
    cmocka_unit_test(future_completed_from_another_thread_wakes_the_loop),
    cmocka_unit_test(future_timeout_racing_with_thread_completion_is_safe),
    cmocka_unit_test(future_awaited_on_several_loops_completed_by_another_thread),
    cmocka_unit_test(future_many_threads_complete_many_futures),
};

COIO_TEST_MAIN(tests)
