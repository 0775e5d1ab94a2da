/* coio-test: io tsan */
/*
 * The virtual clock (coio_clock_virtual): long sleeps, timeouts, back-offs, scope
 * deadlines and call_later run in no real time and land on exact virtual times; real I/O
 * still completes, and the clock does not jump past it; a program's event order repeats
 * run after run. Times chosen here are binary fractions of a second, so that coio_now()
 * differences are exact in a double and can be compared with ==.
 */
#define _GNU_SOURCE
#include "sync_helpers.h"

#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double real_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs main on a virtual clock that never jumps while real work is pending; returns the
 * real seconds the run took. */
static double run_virtual(int (*main)(void *), void *arg)
{
    assert_int_equal(coio_clock_virtual(INFINITY), 0);
    double t0 = real_now();
    run_ok(main, arg);
    return real_now() - t0;
}

/* ------------------------------------------------------------------ sleeps, timeouts */

static int hour_main(void *arg)
{
    (void)arg;
    double t0 = coio_now();
    check_true(t0 == 1e6); /* the same start in every run */
    check_rc(coio_sleep(3600), 0);
    check_true(coio_now() - t0 == 3600);
    return 0;
}

static void an_hour_of_sleep_takes_no_real_time(void **state)
{
    (void)state;
    require_backend();
    assert_elapsed(run_virtual(hour_main, NULL), 0, 0.1);
}

static int sleep_forever(void *arg)
{
    (void)arg;
    return coio_sleep(1e9);
}

static int wait_for_main(void *arg)
{
    (void)arg;
    double t0 = coio_now();
    coio_task *t = coio_spawn(sleep_forever, NULL);
    check_rc(coio_wait_for(t, 30), -ETIMEDOUT);
    check_true(coio_now() - t0 == 30);
    return 0;
}

static void a_30_s_wait_for_times_out_at_exactly_30_s(void **state)
{
    (void)state;
    require_backend();
    assert_elapsed(run_virtual(wait_for_main, NULL), 0, 0.1);
}

/* Ten attempts that each time out (on an event nobody sets), with a delay that doubles
 * between them: every attempt starts at the exact sum of the delays before it. */
static int backoff_main(void *arg)
{
    (void)arg;
    coio_event *never = coio_event_create();
    double t0 = coio_now(), expect = 0, delay = 0.125;
    for (int i = 0; i < 10; i++) {
        check_true(coio_now() - t0 == expect);
        int rc = 0;
        COIO_WITH_TIMEOUT(0.5) rc = coio_event_wait(never);
        check_rc(rc, -ETIMEDOUT);
        check_rc(coio_sleep(delay), 0);
        expect += 0.5 + delay;
        delay *= 2;
    }
    check_true(coio_now() - t0 == expect);
    check_true(expect == 10 * 0.5 + 0.125 * 1023);
    check_rc(coio_event_destroy(never), 0);
    return 0;
}

static void a_10_step_backoff_lands_on_exact_times(void **state)
{
    (void)state;
    require_backend();
    assert_elapsed(run_virtual(backoff_main, NULL), 0, 0.1);
}

/* A scope's deadline, relative and absolute, and a queue wait bounded by a scope. */
static int scope_main(void *arg)
{
    (void)arg;
    double t0 = coio_now();
    int rc = 0;
    COIO_WITH_TIMEOUT(2.5) rc = coio_sleep(10);
    check_rc(rc, -ETIMEDOUT);
    check_true(coio_now() - t0 == 2.5);
    COIO_WITH_DEADLINE(t0 + 4) rc = coio_sleep(10);
    check_rc(rc, -ETIMEDOUT);
    check_true(coio_now() - t0 == 4);
    coio_queue *q = coio_queue_create(COIO_QUEUE_FIFO, 0, NULL);
    void *item;
    COIO_WITH_TIMEOUT(60) rc = coio_queue_get(q, &item);
    check_rc(rc, -ETIMEDOUT);
    check_true(coio_now() - t0 == 64);
    check_rc(coio_queue_destroy(q), 0);
    return 0;
}

static void scope_deadlines_fire_at_exact_virtual_times(void **state)
{
    (void)state;
    require_backend();
    assert_elapsed(run_virtual(scope_main, NULL), 0, 0.1);
}

/* ------------------------------------------------------------------ call_later, advance */

struct calls {
    double t0;
    double at[4];
    int order[4];
    int n;
};

static struct calls calls;

static void record(void *arg)
{
    if (calls.n < 4) {
        calls.at[calls.n] = coio_now() - calls.t0;
        calls.order[calls.n++] = (int)(intptr_t)arg;
    }
}

static int call_later_main(void *arg)
{
    (void)arg;
    calls = (struct calls){.t0 = coio_now()};
    check_rc(coio_call_later(5, record, (void *)1, NULL), 0);
    check_rc(coio_call_later(1.5, record, (void *)2, NULL), 0);
    check_rc(coio_call_later(5, record, (void *)3, NULL), 0); /* same deadline: after 1 */
    check_rc(coio_sleep(100), 0);
    check_int(calls.n, 3);
    check_true(calls.at[0] == 1.5 && calls.order[0] == 2);
    check_true(calls.at[1] == 5 && calls.order[1] == 1);
    check_true(calls.at[2] == 5 && calls.order[2] == 3);
    check_true(coio_now() - calls.t0 == 100);
    return 0;
}

static void call_later_runs_at_exact_virtual_times(void **state)
{
    (void)state;
    require_backend();
    assert_elapsed(run_virtual(call_later_main, NULL), 0, 0.1);
}

static int advance_main(void *arg)
{
    (void)arg;
    calls = (struct calls){.t0 = coio_now()};
    check_rc(coio_call_later(5, record, (void *)1, NULL), 0);
    check_rc(coio_clock_advance(-1), -EINVAL);
    check_rc(coio_clock_advance(NAN), -EINVAL);
    check_rc(coio_clock_advance(INFINITY), -EINVAL);
    check_rc(coio_clock_virtual(0), -EBUSY);
    check_rc(coio_clock_advance(4), 0);
    check_true(coio_now() - calls.t0 == 4); /* moved at once, without suspending */
    check_rc(coio_yield(), 0);
    check_int(calls.n, 0);
    check_rc(coio_clock_advance(1), 0);
    check_rc(coio_yield(), 0); /* the timer fires at the first suspension */
    check_int(calls.n, 1);
    check_true(calls.at[0] == 5);
    return 0;
}

static int real_clock_main(void *arg)
{
    (void)arg;
    check_rc(coio_clock_advance(1), -ENOTSUP);
    double t0 = coio_now();
    check_rc(coio_sleep(0.01), 0);
    check_true(coio_now() - t0 >= 0.01);
    return 0;
}

static void advance_moves_the_clock_and_the_setting_lasts_one_run(void **state)
{
    (void)state;
    require_backend();
    assert_int_equal(coio_clock_advance(1), -EPERM);
    assert_int_equal(coio_clock_virtual(-1), -EINVAL);
    assert_int_equal(coio_clock_virtual(NAN), -EINVAL);
    run_virtual(advance_main, NULL);
    double t0 = real_now();
    run_ok(real_clock_main, NULL); /* the next run has the real clock again */
    assert_true(real_now() - t0 >= 0.01);
}

/* ------------------------------------------------------------------ real I/O under it */

/* A plain thread at the far end of a socketpair: echoes what it reads after `delay` real
 * seconds, so that the loop has a read pending and nothing else to do. */
struct echo {
    int fd;
    double delay;
    pthread_t thread;
};

static void *echo_thread(void *arg)
{
    struct echo *e = arg;
    char buf[64];
    ssize_t n;
    while ((n = read(e->fd, buf, sizeof buf)) > 0) {
        usleep((useconds_t)(e->delay * 1e6));
        if (write(e->fd, buf, (size_t)n) != n)
            break;
    }
    return NULL;
}

struct io_run {
    int fd;
    double t0;
    double slept_at;  /* virtual time when the 10 s sleeper woke */
    double echoed_at; /* virtual time when the echo came back */
};

static int io_sleeper(void *arg)
{
    struct io_run *r = arg;
    int rc = coio_sleep(10);
    r->slept_at = coio_now() - r->t0;
    return rc;
}

static int io_pinger(void *arg)
{
    struct io_run *r = arg;
    char buf[8] = {0};
    check_rc(coio_write_all(r->fd, "ping", 4), 4);
    ssize_t got = 0;
    while (got < 4) {
        ssize_t n = coio_read(r->fd, buf + got, sizeof buf - (size_t)got);
        if (n <= 0) {
            check_rc(n, 4);
            return -EIO;
        }
        got += n;
    }
    check_true(memcmp(buf, "ping", 4) == 0);
    r->echoed_at = coio_now() - r->t0;
    return 0;
}

static int io_main(void *arg)
{
    struct io_run *r = arg;
    r->t0 = coio_now();
    coio_task *s = coio_spawn(io_sleeper, r);
    coio_task *p = coio_spawn(io_pinger, r);
    check_rc(coio_await(p), 0);
    check_rc(coio_await(s), 0);
    return 0;
}

static void run_echo(double autojump, double delay, struct io_run *r)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
    struct echo e = {.fd = sv[1], .delay = delay};
    assert_int_equal(pthread_create(&e.thread, NULL, echo_thread, &e), 0);
    *r = (struct io_run){.fd = sv[0], .slept_at = -1, .echoed_at = -1};
    assert_int_equal(coio_clock_virtual(autojump), 0);
    run_ok(io_main, r);
    close(sv[0]); /* the thread reads EOF and ends */
    pthread_join(e.thread, NULL);
    close(sv[1]);
}

/* With no threshold the clock waits for the echo: it comes back at virtual time 0, and
 * only then does the sleeper's 10 s pass, at once. */
static void real_io_completes_and_the_clock_waits_for_it(void **state)
{
    (void)state;
    require_backend();
    struct io_run r;
    run_echo(INFINITY, 0.05, &r);
    assert_true(r.echoed_at == 0);
    assert_true(r.slept_at == 10);
}

/* With a threshold shorter than the echo's real delay, the clock jumps to the sleeper's
 * deadline while the read is pending, and the read still completes afterwards. */
static void the_clock_jumps_past_pending_io_after_the_threshold(void **state)
{
    (void)state;
    require_backend();
    struct io_run r;
    double t0 = real_now();
    run_echo(0.01, 0.5, &r); /* a margin of 0.49 s for a loaded machine to wake the loop */
    assert_true(r.slept_at == 10);
    assert_true(r.echoed_at == 10);
    assert_elapsed(real_now() - t0, 0.5, 10);
}

/* A job on the worker pool is real work too: the clock waits for it. */
static int slow_job(void *arg)
{
    (void)arg;
    usleep(50000);
    return 5;
}

static int pool_pinger(void *arg)
{
    struct io_run *r = arg;
    check_rc(coio_to_thread(slow_job, NULL), 5);
    r->echoed_at = coio_now() - r->t0;
    return 0;
}

static int pool_main(void *arg)
{
    struct io_run *r = arg;
    r->t0 = coio_now();
    coio_task *s = coio_spawn(io_sleeper, r);
    coio_task *p = coio_spawn(pool_pinger, r);
    check_rc(coio_await(p), 0);
    check_rc(coio_await(s), 0);
    return 0;
}

static void a_worker_pool_job_holds_the_clock(void **state)
{
    (void)state;
    require_backend();
    struct io_run r = {.slept_at = -1, .echoed_at = -1};
    run_virtual(pool_main, &r);
    assert_true(r.echoed_at == 0);
    assert_true(r.slept_at == 10);
}

/* ------------------------------------------------------------------ determinism */

#define NWORKERS 6
#define LOGMAX 512

struct log {
    int task[LOGMAX];
    double at[LOGMAX];
    int n;
    double t0;
    coio_queue *q;
    coio_lock *lock;
};

static struct log *cur_log;

static void log_event(int task)
{
    struct log *l = cur_log;
    if (l->n < LOGMAX) {
        l->task[l->n] = task;
        l->at[l->n++] = coio_now() - l->t0;
    }
}

/* Each worker sleeps pseudo-random multiples of 1/16 s (many equal deadlines), passes
 * items through a small queue with short timeouts and takes a lock around another
 * sleep. */
static int worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    unsigned seed = 12345u + (unsigned)id;
    for (int i = 0; i < 12; i++) {
        seed = seed * 1103515245u + 12345u;
        check_rc(coio_sleep((double)((seed >> 16) % 8) / 16), 0);
        log_event(id);
        if ((seed >> 20) & 1) {
            int rc = 0;
            COIO_WITH_TIMEOUT(0.25) rc = coio_queue_put(cur_log->q, arg);
            log_event(rc == 0 ? 200 + id : -100 - id);
        } else {
            void *item;
            int rc = 0;
            COIO_WITH_TIMEOUT(0.25) rc = coio_queue_get(cur_log->q, &item);
            log_event(rc == 0 ? 100 + (int)(intptr_t)item : -id);
        }
        check_rc(coio_lock_acquire(cur_log->lock), 0);
        check_rc(coio_sleep(1.0 / 32), 0);
        log_event(1000 + id);
        check_rc(coio_lock_release(cur_log->lock), 0);
    }
    return 0;
}

static int program_main(void *arg)
{
    struct log *l = arg;
    cur_log = l;
    l->t0 = coio_now();
    l->q = coio_queue_create(COIO_QUEUE_FIFO, 2, NULL);
    l->lock = coio_lock_create();
    coio_task *t[NWORKERS];
    for (int i = 0; i < NWORKERS; i++)
        t[i] = coio_spawn(worker, (void *)(intptr_t)(i + 1));
    check_rc(coio_gather_n(t, NWORKERS, NULL), 0);
    void *item;
    while (coio_queue_get_nowait(l->q, &item) == 0) {
    }
    check_rc(coio_queue_destroy(l->q), 0);
    check_rc(coio_lock_destroy(l->lock), 0);
    return 0;
}

static void two_runs_give_the_same_event_order(void **state)
{
    (void)state;
    require_backend();
    static struct log a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    assert_elapsed(run_virtual(program_main, &a), 0, 0.5);
    assert_elapsed(run_virtual(program_main, &b), 0, 0.5);
    assert_true(a.n > NWORKERS * 12 * 2);
    assert_int_equal(a.n, b.n);
    for (int i = 0; i < a.n; i++) {
        if (a.task[i] != b.task[i] || a.at[i] != b.at[i])
            print_error("event %d: task %d at %.9f, then task %d at %.9f\n", i, a.task[i], a.at[i],
                        b.task[i], b.at[i]);
        assert_int_equal(a.task[i], b.task[i]);
        assert_true(a.at[i] == b.at[i]);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(an_hour_of_sleep_takes_no_real_time),
    cmocka_unit_test(a_30_s_wait_for_times_out_at_exactly_30_s),
    cmocka_unit_test(a_10_step_backoff_lands_on_exact_times),
    cmocka_unit_test(scope_deadlines_fire_at_exact_virtual_times),
    cmocka_unit_test(call_later_runs_at_exact_virtual_times),
    cmocka_unit_test(advance_moves_the_clock_and_the_setting_lasts_one_run),
    cmocka_unit_test(real_io_completes_and_the_clock_waits_for_it),
    cmocka_unit_test(the_clock_jumps_past_pending_io_after_the_threshold),
    cmocka_unit_test(a_worker_pool_job_holds_the_clock),
    cmocka_unit_test(two_runs_give_the_same_event_order),
};

COIO_TEST_MAIN(tests)
