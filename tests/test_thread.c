/* coio-test: tsan */
/* coio_to_thread and loops on several threads. */
#define _GNU_SOURCE
#include "coio_test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#define assert_elapsed(value, lo, hi)                                                    \
    do {                                                                                 \
        double v_ = (value);                                                             \
        if (!(v_ >= (lo) && v_ < (hi))) {                                                \
            print_error("%s = %.3f s, want [%.3f, %.3f)\n", #value, v_, (double)(lo),     \
                        (double)(hi));                                                   \
            fail();                                                                      \
        }                                                                                \
    } while (0)

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int return_arg_job(void *arg)
{
    return (int)(intptr_t)arg;
}

struct value_state {
    int pos, neg;
};

static int value_main(void *arg)
{
    struct value_state *s = arg;
    s->pos = coio_to_thread(return_arg_job, (void *)(intptr_t)123);
    s->neg = coio_to_thread(return_arg_job, (void *)(intptr_t)-EIO);
    return 0;
}

static void to_thread_returns_fn_value(void **state)
{
    (void)state;
    struct value_state s = {0};
    coio_assert_rc(coio_run(value_main, &s), 0);
    coio_assert_rc(s.pos, 123);
    coio_assert_rc(s.neg, -EIO);
}

struct which_thread {
    pthread_t loop, job;
};

static int record_thread_job(void *arg)
{
    struct which_thread *w = arg;
    w->job = pthread_self(); /* published to the loop thread by to_thread's return */
    return 0;
}

static int which_thread_main(void *arg)
{
    return coio_to_thread(record_thread_job, arg);
}

static void to_thread_runs_fn_on_another_thread(void **state)
{
    (void)state;
    struct which_thread w;
    w.loop = pthread_self();
    w.job = pthread_self();
    coio_assert_rc(coio_run(which_thread_main, &w), 0);
    assert_false(pthread_equal(w.loop, w.job));
}

#define N_CALLERS 20

struct many_callers {
    atomic_int in_flight, max_in_flight;
    int rc[N_CALLERS];
    int gather_rc;
};

struct caller_arg {
    struct many_callers *s;
    int i;
};

static int sleepy_job(void *arg)
{
    struct caller_arg *a = arg;
    int now = atomic_fetch_add(&a->s->in_flight, 1) + 1;
    int max = atomic_load(&a->s->max_in_flight);
    while (now > max && !atomic_compare_exchange_weak(&a->s->max_in_flight, &max, now))
        ;
    usleep(20 * 1000);
    atomic_fetch_sub(&a->s->in_flight, 1);
    return a->i * 2;
}

static int caller_task(void *arg)
{
    struct caller_arg *a = arg;
    a->s->rc[a->i] = coio_to_thread(sleepy_job, a);
    return 0;
}

static int many_callers_main(void *arg)
{
    struct many_callers *s = arg;
    struct caller_arg args[N_CALLERS];
    coio_task *t[N_CALLERS];
    for (int i = 0; i < N_CALLERS; i++) {
        args[i] = (struct caller_arg){s, i};
        t[i] = coio_spawn(caller_task, &args[i]);
    }
    s->gather_rc = coio_gather_n(t, N_CALLERS, NULL);
    return 0;
}

static void twenty_concurrent_to_thread_calls_complete(void **state)
{
    (void)state;
    static struct many_callers s;
    coio_assert_rc(coio_run(many_callers_main, &s), 0);
    coio_assert_rc(s.gather_rc, 0);
    for (int i = 0; i < N_CALLERS; i++)
        coio_assert_rc(s.rc[i], i * 2);
    assert_int_equal(atomic_load(&s.in_flight), 0);
    assert_true(atomic_load(&s.max_in_flight) >= 1);
}

struct ticker_state {
    atomic_int ticks; /* written by the loop's ticker, read by the job's thread */
    int stop;
    int ticks_during_job;
    int job_rc;
};

static int ticker(void *arg)
{
    struct ticker_state *s = arg;
    while (!s->stop) {
        if (coio_sleep(0.005) < 0)
            break;
        atomic_fetch_add(&s->ticks, 1);
    }
    return 0;
}

/* Blocks its thread 100 ms, then until the loop has ticked 3 more times (or 5 s pass):
 * returns 1 if the loop kept running meanwhile. */
static int blocking_job(void *arg)
{
    struct ticker_state *s = arg;
    int start = atomic_load(&s->ticks);
    usleep(100 * 1000);
    double give_up = mono_now() + 5.0;
    while (atomic_load(&s->ticks) < start + 3 && mono_now() < give_up)
        usleep(1000);
    return atomic_load(&s->ticks) >= start + 3;
}

static int ticker_main(void *arg)
{
    struct ticker_state *s = arg;
    coio_task *t = coio_spawn(ticker, s);
    int before = atomic_load(&s->ticks);
    s->job_rc = coio_to_thread(blocking_job, s);
    s->ticks_during_job = atomic_load(&s->ticks) - before;
    s->stop = 1;
    return coio_await(t);
}

static void loop_keeps_running_while_to_thread_job_blocks(void **state)
{
    (void)state;
    static struct ticker_state s;
    coio_assert_rc(coio_run(ticker_main, &s), 0);
    coio_assert_rc(s.job_rc, 1); /* the ticker advanced while the job's thread was busy */
    assert_true(s.ticks_during_job >= 3);
}

struct deadline_job {
    atomic_int started, finished;
    int warm_rc;
    int rc;
    int started_at_return, finished_at_return;
    int started_later;
    double elapsed;
};

static int slow_job(void *arg)
{
    struct deadline_job *d = arg;
    atomic_store(&d->started, 1);
    usleep(150 * 1000);
    atomic_store(&d->finished, 1);
    return 0;
}

static int deadline_job_main(void *arg)
{
    struct deadline_job *d = arg;
    /* an idle worker is ready, so the job normally starts well before the deadline */
    d->warm_rc = coio_to_thread(return_arg_job, NULL);
    coio_scope sc;
    double t0 = coio_now();
    coio_timeout_begin(&sc, 0.05);
    d->rc = coio_to_thread(slow_job, d);
    d->elapsed = coio_now() - t0;
    d->started_at_return = atomic_load(&d->started);
    d->finished_at_return = atomic_load(&d->finished);
    coio_scope_end(&sc);
    coio_sleep(0.2);
    d->started_later = atomic_load(&d->started);
    return 0;
}

static void to_thread_timeout_waits_for_running_job_then_etimedout(void **state)
{
    (void)state;
    static struct deadline_job d;
    coio_assert_rc(coio_run(deadline_job_main, &d), 0);
    coio_assert_rc(d.warm_rc, 0);
    coio_assert_rc(d.rc, -ETIMEDOUT);
    if (d.started_at_return) {
        assert_int_equal(d.finished_at_return, 1); /* fn may use the caller's memory */
        assert_elapsed(d.elapsed, 0.14, 2.0);
    } else {
        /* a loaded machine: no worker took the job in 50 ms, so it must be dropped */
        print_message("job had not started at the deadline\n");
        assert_int_equal(d.started_later, 0);
    }
}

/* ---- one loop per thread ----------------------------------------------------------- */

struct loop_thread {
    pthread_barrier_t *barrier;
    int id;
    int run_rc;
    int gather_rc;
    int to_thread_rc;
    int counter;
    double start, end;
    char backend[32];
};

static int counting_task(void *arg)
{
    struct loop_thread *l = arg;
    for (int i = 0; i < 10; i++) {
        if (coio_sleep(0.01) < 0)
            return -1;
        l->counter++;
    }
    return 0;
}

static int loop_thread_main(void *arg)
{
    struct loop_thread *l = arg;
    const char *b = coio_backend_name();
    snprintf(l->backend, sizeof l->backend, "%s", b ? b : "");
    l->gather_rc = coio_gather(coio_spawn(counting_task, l), coio_spawn(counting_task, l));
    l->to_thread_rc = coio_to_thread(return_arg_job, (void *)(intptr_t)(l->id + 100));
    return l->id;
}

static void *loop_thread_fn(void *arg)
{
    struct loop_thread *l = arg;
    pthread_barrier_wait(l->barrier);
    l->start = mono_now();
    l->run_rc = coio_run(loop_thread_main, l);
    l->end = mono_now();
    return NULL;
}

static void two_threads_run_their_own_loops_concurrently(void **state)
{
    (void)state;
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, 2);
    struct loop_thread l[2] = {{.barrier = &barrier, .id = 1}, {.barrier = &barrier, .id = 2}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, loop_thread_fn, &l[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&barrier);
    for (int i = 0; i < 2; i++) {
        coio_assert_rc(l[i].run_rc, l[i].id);
        coio_assert_rc(l[i].gather_rc, 0);
        assert_int_equal(l[i].counter, 20);
        coio_assert_rc(l[i].to_thread_rc, l[i].id + 100);
        assert_true(l[i].backend[0] != '\0');
    }
    /* both loops were running at the same time (each takes >= 100 ms) */
    assert_true(l[0].start < l[1].end && l[1].start < l[0].end);
}

struct busy_state {
    int rc;
};

static void *run_loop_on_thread(void *arg)
{
    struct busy_state *b = arg;
    b->rc = coio_run(return_arg_job, (void *)(intptr_t)7);
    return NULL;
}

static int spawn_thread_loop_main(void *arg)
{
    struct busy_state *b = arg;
    pthread_t th;
    if (pthread_create(&th, NULL, run_loop_on_thread, b) != 0)
        return -1;
    /* joining blocks this loop briefly; the other thread's loop is independent */
    pthread_join(th, NULL);
    return 0;
}

static void loop_on_other_thread_is_not_ebusy(void **state)
{
    (void)state;
    struct busy_state b = {0};
    coio_assert_rc(coio_run(spawn_thread_loop_main, &b), 0);
    coio_assert_rc(b.rc, 7);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(to_thread_returns_fn_value),
    cmocka_unit_test(to_thread_runs_fn_on_another_thread),
    cmocka_unit_test(twenty_concurrent_to_thread_calls_complete),
    cmocka_unit_test(loop_keeps_running_while_to_thread_job_blocks),
    cmocka_unit_test(to_thread_timeout_waits_for_running_job_then_etimedout),
    cmocka_unit_test(two_threads_run_their_own_loops_concurrently),
    cmocka_unit_test(loop_on_other_thread_is_not_ebusy),
};

COIO_TEST_MAIN(tests)
