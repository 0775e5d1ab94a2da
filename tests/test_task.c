/* Tasks: spawn, await, detach, start order, yield fairness, timer order, names,
 * stack sizes, many tasks, coio_run's contract and the clock. */
#define _GNU_SOURCE
#include "coio_test.h"

#include <fcntl.h>
#include <math.h>
#include <time.h>
#include <unistd.h>

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- start order ------------------------------------------------------------------- */

struct start_state {
    int child_ran;
    int flag_after_spawn;
    int await_rc;
};

static int set_flag(void *arg)
{
    *(int *)arg = 1;
    return 0;
}

static int start_later_main(void *arg)
{
    struct start_state *s = arg;
    coio_task *t = coio_spawn(set_flag, &s->child_ran);
    if (!t)
        return -errno;
    s->flag_after_spawn = s->child_ran;
    s->await_rc = coio_await(t);
    return 0;
}

static void spawned_task_starts_later_not_inside_spawn(void **state)
{
    (void)state;
    struct start_state s = {0};
    coio_assert_rc(coio_run(start_later_main, &s), 0);
    assert_int_equal(s.flag_after_spawn, 0);
    coio_assert_rc(s.await_rc, 0);
    assert_int_equal(s.child_ran, 1);
}

#define N_ORDER 10

struct order_state {
    int order[N_ORDER * 8];
    int n;
    int late;
    int rc[N_ORDER];
};

struct order_arg {
    struct order_state *s;
    int id;
    double sleep;
    const double *base; /* sleep_then_record: sleep until *base + sleep, if set */
    coio_event *go;     /* sleep_then_record: wait for it before reading *base */
    int rounds;
    int use_sleep0; /* yield_loop: coio_sleep(0) instead of coio_yield() */
};

static int record_id(void *arg)
{
    struct order_arg *a = arg;
    a->s->order[a->s->n++] = a->id;
    return 0;
}

static int fifo_start_main(void *arg)
{
    struct order_state *s = arg;
    struct order_arg args[N_ORDER];
    coio_task *t[N_ORDER];
    for (int i = 0; i < N_ORDER; i++) {
        args[i] = (struct order_arg){.s = s, .id = i};
        t[i] = coio_spawn(record_id, &args[i]);
    }
    return coio_gather_n(t, N_ORDER, NULL);
}

static void spawned_tasks_start_in_fifo_order(void **state)
{
    (void)state;
    struct order_state s = {0};
    coio_assert_rc(coio_run(fifo_start_main, &s), 0);
    assert_int_equal(s.n, N_ORDER);
    for (int i = 0; i < N_ORDER; i++)
        assert_int_equal(s.order[i], i);
}

/* ---- yield fairness ---------------------------------------------------------------- */

static int yield_loop(void *arg)
{
    struct order_arg *a = arg;
    for (int i = 0; i < a->rounds; i++) {
        a->s->order[a->s->n++] = a->id;
        int rc = a->use_sleep0 ? coio_sleep(0) : coio_yield();
        if (rc != 0)
            return rc;
    }
    return 0;
}

struct alt_state {
    struct order_state o;
    int use_sleep0;
    int gather_rc;
};

static int alternate_main(void *arg)
{
    struct alt_state *s = arg;
    struct order_arg a = {.s = &s->o, .id = 0, .rounds = 5, .use_sleep0 = s->use_sleep0};
    struct order_arg b = {.s = &s->o, .id = 1, .rounds = 5, .use_sleep0 = s->use_sleep0};
    s->gather_rc = coio_gather(coio_spawn(yield_loop, &a), coio_spawn(yield_loop, &b));
    return 0;
}

static void check_alternation(const struct alt_state *s)
{
    coio_assert_rc(s->gather_rc, 0);
    assert_int_equal(s->o.n, 10);
    for (int i = 0; i < 10; i++) {
        if (s->o.order[i] != i % 2) {
            print_error("turn %d ran task %d, want %d (A B A B ...)\n", i, s->o.order[i], i % 2);
            fail();
        }
    }
}

static void yielding_tasks_alternate_strictly(void **state)
{
    (void)state;
    struct alt_state s = {0};
    coio_assert_rc(coio_run(alternate_main, &s), 0);
    check_alternation(&s);
}

static void sleep_zero_tasks_alternate_strictly(void **state)
{
    (void)state;
    struct alt_state s = {.use_sleep0 = 1};
    coio_assert_rc(coio_run(alternate_main, &s), 0);
    check_alternation(&s);
}

struct yield_all_state {
    int others_ran;
    int seen_after_yield;
    int rc;
};

static int bump(void *arg)
{
    (*(int *)arg)++;
    return 0;
}

static int yield_all_main(void *arg)
{
    struct yield_all_state *s = arg;
    coio_task *t[5];
    for (int i = 0; i < 5; i++)
        t[i] = coio_spawn(bump, &s->others_ran);
    s->rc = coio_yield();
    s->seen_after_yield = s->others_ran;
    return coio_gather_n(t, 5, NULL);
}

static void yield_lets_every_ready_task_run_once(void **state)
{
    (void)state;
    struct yield_all_state s = {0};
    coio_assert_rc(coio_run(yield_all_main, &s), 0);
    coio_assert_rc(s.rc, 0);
    assert_int_equal(s.seen_after_yield, 5);
}

/* Tasks that only yield must not starve the loop's own work: a timer that comes due and
 * a read that becomes possible are still seen between turns. */
struct spin_state {
    int done;   /* set by the task the spinners wait for */
    int p[2];
    long spins; /* yields made by the spinners in total */
    ssize_t read_rc;
};

#define SPIN_LIMIT 20000000L /* far more than a turn: reaching it means starvation */

static int spin_until_done(void *arg)
{
    struct spin_state *s = arg;
    while (!s->done && s->spins < SPIN_LIMIT) {
        s->spins++;
        if (coio_yield() < 0)
            return -1;
    }
    return s->done ? 0 : -ETIMEDOUT;
}

static int sleep_then_done(void *arg)
{
    struct spin_state *s = arg;
    int rc = coio_sleep(0.01);
    s->done = 1;
    return rc;
}

static int sleeper_vs_spinners_main(void *arg)
{
    struct spin_state *s = arg;
    return coio_gather(coio_spawn(spin_until_done, s), coio_spawn(spin_until_done, s),
                       coio_spawn(sleep_then_done, s));
}

static void sleeper_wakes_while_other_tasks_keep_yielding(void **state)
{
    (void)state;
    struct spin_state s = {0};
    coio_assert_rc(coio_run(sleeper_vs_spinners_main, &s), 0);
    assert_int_equal(s.done, 1);
}

static int read_then_done(void *arg)
{
    struct spin_state *s = arg;
    char c;
    s->read_rc = coio_read(s->p[0], &c, 1);
    s->done = 1;
    return 0;
}

static int write_after_spins(void *arg)
{
    struct spin_state *s = arg;
    while (s->spins < 1000)
        coio_yield();
    return coio_write(s->p[1], "x", 1) == 1 ? 0 : -EIO;
}

static int reader_vs_spinners_main(void *arg)
{
    struct spin_state *s = arg;
    return coio_gather(coio_spawn(read_then_done, s), coio_spawn(spin_until_done, s),
                       coio_spawn(spin_until_done, s), coio_spawn(write_after_spins, s));
}

static void blocked_read_completes_while_other_tasks_keep_yielding(void **state)
{
    (void)state;
    struct spin_state s = {0};
    assert_int_equal(pipe2(s.p, O_NONBLOCK | O_CLOEXEC), 0);
    coio_assert_rc(coio_run(reader_vs_spinners_main, &s), 0);
    assert_int_equal(s.read_rc, 1);
    close(s.p[0]);
    close(s.p[1]);
}

/* ---- timers ------------------------------------------------------------------------ */

static int sleep_then_record(void *arg)
{
    struct order_arg *a = arg;
    double d = a->sleep;
    if (a->base) { /* anchored, so slow task starts (sanitizers) cannot reorder wakeups */
        if (a->go)
            coio_event_wait(a->go); /* every task has started: base is taken now */
        d = *a->base + a->sleep - coio_now();
        if (d <= 0)
            a->s->late = 1; /* started after its own deadline: the order says nothing */
        d = d > 0 ? d : 0;
    }
    int rc = coio_sleep(d);
    a->s->order[a->s->n++] = a->id;
    a->s->rc[a->id] = rc;
    return rc;
}

static int deadline_order_main(void *arg)
{
    struct order_state *s = arg;
    static const double d[5] = {0.25, 0.05, 0.20, 0.10, 0.15};
    struct order_arg args[5];
    coio_task *t[5];
    double base = 0;
    coio_event *go = coio_event_create();
    for (int i = 0; i < 5; i++) {
        args[i] = (struct order_arg){.s = s, .id = i, .sleep = d[i], .base = &base, .go = go};
        t[i] = coio_spawn(sleep_then_record, &args[i]);
    }
    coio_yield(); /* all five start and wait for go, however slow their first steps are */
    base = coio_now();
    coio_event_set(go);
    int rc = coio_gather_n(t, 5, NULL);
    coio_event_destroy(go);
    return rc;
}

/* On the virtual clock: the order is the timer heap's logic, which a loaded machine must
 * not be able to disturb, and the 0.25 s pass in no real time. */
static void sleepers_wake_in_deadline_order(void **state)
{
    (void)state;
    struct order_state s = {0};
    assert_int_equal(coio_clock_virtual(INFINITY), 0);
    coio_assert_rc(coio_run(deadline_order_main, &s), 0);
    if (s.late)
        print_error("a task woke 50 ms after the others were released: its deadline had passed\n");
    assert_int_equal(s.late, 0);
    static const int want[5] = {1, 3, 4, 2, 0};
    assert_int_equal(s.n, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(s.order[i], want[i]);
}

static int equal_deadline_main(void *arg)
{
    struct order_state *s = arg;
    struct order_arg args[N_ORDER];
    coio_task *t[N_ORDER];
    for (int i = 0; i < N_ORDER; i++) {
        args[i] = (struct order_arg){.s = s, .id = i, .sleep = 0.02};
        t[i] = coio_spawn(sleep_then_record, &args[i]);
    }
    return coio_gather_n(t, N_ORDER, NULL);
}

static void equal_sleeps_wake_in_spawn_order(void **state)
{
    (void)state;
    struct order_state s = {0};
    coio_assert_rc(coio_run(equal_deadline_main, &s), 0);
    assert_int_equal(s.n, N_ORDER);
    for (int i = 0; i < N_ORDER; i++) {
        coio_assert_rc(s.rc[i], 0);
        assert_int_equal(s.order[i], i);
    }
}

struct sleep_len_state {
    double elapsed;
    int rc;
};

static int sleep_len_main(void *arg)
{
    struct sleep_len_state *s = arg;
    double t0 = coio_now();
    s->rc = coio_sleep(0.05);
    s->elapsed = coio_now() - t0;
    return 0;
}

static void sleep_lasts_at_least_its_duration(void **state)
{
    (void)state;
    struct sleep_len_state s = {0};
    coio_assert_rc(coio_run(sleep_len_main, &s), 0);
    coio_assert_rc(s.rc, 0);
    if (!(s.elapsed >= 0.045 && s.elapsed < 1.0)) {
        print_error("coio_sleep(0.05) took %.3f s\n", s.elapsed);
        fail();
    }
}

/* ---- await and results ------------------------------------------------------------- */

static int return_arg(void *arg)
{
    return (int)(intptr_t)arg;
}

struct await_state {
    int rc_pos, rc_neg, rc_zero;
};

static int await_results_main(void *arg)
{
    struct await_state *s = arg;
    s->rc_pos = coio_await(coio_spawn(return_arg, (void *)(intptr_t)42));
    s->rc_neg = coio_await(coio_spawn(return_arg, (void *)(intptr_t)-EIO));
    s->rc_zero = coio_await(coio_spawn(return_arg, (void *)(intptr_t)0));
    return 0;
}

static void await_returns_task_result(void **state)
{
    (void)state;
    struct await_state s = {0};
    coio_assert_rc(coio_run(await_results_main, &s), 0);
    coio_assert_rc(s.rc_pos, 42);
    coio_assert_rc(s.rc_neg, -EIO);
    coio_assert_rc(s.rc_zero, 0);
}

static int await_finished_main(void *arg)
{
    int *rc = arg;
    coio_task *t = coio_spawn(return_arg, (void *)(intptr_t)7);
    int s = coio_sleep(0.01); /* t runs to completion meanwhile */
    if (s != 0)
        return s;
    *rc = coio_await(t);
    return 0;
}

static void await_of_finished_task_returns_its_result(void **state)
{
    (void)state;
    int rc = -1;
    coio_assert_rc(coio_run(await_finished_main, &rc), 0);
    coio_assert_rc(rc, 7);
}

struct nested_state {
    int inner_rc;
};

static int spawn_grandchild(void *arg)
{
    (void)arg;
    return coio_await(coio_spawn(return_arg, (void *)(intptr_t)5)) + 1;
}

static int nested_spawn_main(void *arg)
{
    struct nested_state *s = arg;
    s->inner_rc = coio_await(coio_spawn(spawn_grandchild, NULL));
    return 0;
}

static void task_can_spawn_and_await_its_own_children(void **state)
{
    (void)state;
    struct nested_state s = {0};
    coio_assert_rc(coio_run(nested_spawn_main, &s), 0);
    coio_assert_rc(s.inner_rc, 6);
}

/* ---- detach ------------------------------------------------------------------------ */

struct detach_state {
    int ran;
    int detach_rc;
    int spawned_nonnull;
    int polls;
};

static int detach_child(void *arg)
{
    struct detach_state *s = arg;
    coio_sleep(0.01);
    s->ran = 1;
    return 0;
}

static int wait_for_ran(struct detach_state *s)
{
    for (s->polls = 0; !s->ran && s->polls < 500; s->polls++)
        coio_sleep(0.002);
    return 0;
}

static int detach_main(void *arg)
{
    struct detach_state *s = arg;
    coio_task *t = coio_spawn(detach_child, s);
    s->spawned_nonnull = t != NULL;
    s->detach_rc = coio_detach(t);
    return wait_for_ran(s);
}

static void detached_task_runs_to_completion(void **state)
{
    (void)state;
    struct detach_state s = {0};
    coio_assert_rc(coio_run(detach_main, &s), 0);
    assert_true(s.spawned_nonnull);
    coio_assert_rc(s.detach_rc, 0);
    assert_int_equal(s.ran, 1);
}

static int spawn_detached_main(void *arg)
{
    struct detach_state *s = arg;
    coio_spawn_opts o = {.flags = COIO_SPAWN_DETACHED};
    s->spawned_nonnull = coio_spawn_ex(detach_child, s, &o) != NULL;
    return wait_for_ran(s);
}

static void spawn_detached_flag_runs_task(void **state)
{
    (void)state;
    struct detach_state s = {0};
    coio_assert_rc(coio_run(spawn_detached_main, &s), 0);
    assert_true(s.spawned_nonnull);
    assert_int_equal(s.ran, 1);
}

/* ---- current task and names -------------------------------------------------------- */

struct current_state {
    coio_task *handle;
    int child_sees_handle;
    coio_task *main_current;
    coio_task *outside;
    int main_differs;
};

static int record_current(void *arg)
{
    struct current_state *s = arg;
    s->child_sees_handle = coio_current() != NULL && coio_current() == s->handle;
    return 0;
}

static int current_main(void *arg)
{
    struct current_state *s = arg;
    s->main_current = coio_current();
    s->handle = coio_spawn(record_current, s);
    s->main_differs = s->handle != s->main_current;
    return coio_await(s->handle);
}

static void current_is_the_spawned_handle_inside_task(void **state)
{
    (void)state;
    struct current_state s = {0};
    s.outside = coio_current();
    coio_assert_rc(coio_run(current_main, &s), 0);
    assert_null(s.outside);
    assert_non_null(s.main_current);
    assert_non_null(s.handle);
    assert_true(s.child_sees_handle);
    assert_true(s.main_differs);
}

struct name_state {
    char main_default[64];
    char child_default[64];
    char child_named[64];
    char main_renamed[64];
    char other_renamed[64];
    char truncated[64];
    int set_rc[4];
    int nonnull;
};

static int copy_own_name(void *arg)
{
    snprintf((char *)arg, 64, "%s", coio_task_name(NULL));
    return 0;
}

static int default_name_main(void *arg)
{
    struct name_state *s = arg;
    snprintf(s->main_default, 64, "%s", coio_task_name(NULL));
    coio_task *t = coio_spawn(copy_own_name, s->child_default);
    snprintf(s->child_named, 64, "%s", coio_task_name(t)); /* by handle, before it runs */
    return coio_await(t);
}

static void task_name_defaults_to_empty_string(void **state)
{
    (void)state;
    struct name_state s = {0};
    memset(s.child_named, 'x', 63);
    coio_assert_rc(coio_run(default_name_main, &s), 0);
    /* coio_run may name its main task; only spawned tasks are unnamed by default */
    assert_true(strlen(s.main_default) < 32);
    assert_string_equal(s.child_default, "");
    assert_string_equal(s.child_named, "");
}

static int set_name_main(void *arg)
{
    struct name_state *s = arg;
    char buf[32];
    snprintf(buf, sizeof buf, "main-task");
    s->set_rc[0] = coio_task_set_name(NULL, buf);
    memset(buf, 0, sizeof buf); /* the name must have been copied */
    snprintf(s->main_renamed, 64, "%s", coio_task_name(NULL));

    coio_task *t = coio_spawn(copy_own_name, s->other_renamed);
    snprintf(buf, sizeof buf, "kid");
    s->set_rc[1] = coio_task_set_name(t, buf);
    memset(buf, 0, sizeof buf);
    return coio_await(t);
}

static void task_set_name_renames_current_and_other_task(void **state)
{
    (void)state;
    struct name_state s = {0};
    coio_assert_rc(coio_run(set_name_main, &s), 0);
    coio_assert_rc(s.set_rc[0], 0);
    coio_assert_rc(s.set_rc[1], 0);
    assert_string_equal(s.main_renamed, "main-task");
    assert_string_equal(s.other_renamed, "kid");
}

#define LONG_NAME "0123456789abcdefghijklmnopqrstuvwxyzABCDEF"

static int long_name_main(void *arg)
{
    struct name_state *s = arg;
    s->set_rc[0] = coio_task_set_name(NULL, LONG_NAME);
    snprintf(s->truncated, 64, "%s", coio_task_name(NULL));
    coio_task *t = coio_spawn_ex(return_arg, NULL, &(coio_spawn_opts){.name = LONG_NAME});
    snprintf(s->child_named, 64, "%s", coio_task_name(t));
    return coio_await(t);
}

static void task_name_longer_than_31_bytes_is_truncated(void **state)
{
    (void)state;
    struct name_state s = {0};
    coio_assert_rc(coio_run(long_name_main, &s), 0);
    coio_assert_rc(s.set_rc[0], 0);
    /* Exactly the first 31 bytes, by coio_task_set_name and by coio_spawn_ex alike. */
    assert_string_equal(s.truncated, "0123456789abcdefghijklmnopqrstu");
    assert_int_equal(strlen(s.truncated), 31);
    assert_string_equal(s.child_named, "0123456789abcdefghijklmnopqrstu");
}

static int spawn_ex_name_main(void *arg)
{
    struct name_state *s = arg;
    char buf[16];
    snprintf(buf, sizeof buf, "worker");
    coio_spawn_opts o = {.name = buf};
    coio_task *t = coio_spawn_ex(copy_own_name, s->child_named, &o);
    memset(buf, 0, sizeof buf); /* copied at spawn */
    s->nonnull = t != NULL;
    return coio_await(t);
}

static void spawn_ex_sets_task_name(void **state)
{
    (void)state;
    struct name_state s = {0};
    coio_assert_rc(coio_run(spawn_ex_name_main, &s), 0);
    assert_true(s.nonnull);
    assert_string_equal(s.child_named, "worker");
}

/* ---- stacks ------------------------------------------------------------------------ */

/* Twice the default stack: it fits only in the 1 MiB stack the test asks for. */
#define BIG_FRAME (2 * COIO_STACK_SIZE_DEFAULT)
_Static_assert(BIG_FRAME > COIO_STACK_SIZE_DEFAULT, "the frame must overflow a default stack");

__attribute__((noinline)) static int use_big_stack(int seed)
{
    volatile char buf[BIG_FRAME];
    for (size_t i = 0; i < sizeof buf; i += 64)
        buf[i] = (char)(seed + (int)i);
    int sum = 0;
    for (size_t i = 0; i < sizeof buf; i += 4096)
        sum += buf[i];
    return sum & 0xff;
}

static int big_stack_task(void *arg)
{
    (void)arg;
    int before = coio_yield(); /* switch away and back with the big frame's owner live */
    int v = use_big_stack(3);
    return before < 0 ? before : 1000 + v;
}

static int big_stack_main(void *arg)
{
    int *rc = arg;
    coio_spawn_opts o = {.name = "big", .stack_size = 1024 * 1024};
    *rc = coio_await(coio_spawn_ex(big_stack_task, NULL, &o));
    return 0;
}

static void spawn_ex_with_1mib_stack_runs_frame_bigger_than_default_stack(void **state)
{
    (void)state;
    int rc = -1;
    coio_assert_rc(coio_run(big_stack_main, &rc), 0);
    assert_in_range(rc, 1000, 1255);
}

static int small_stack_main(void *arg)
{
    int *rc = arg;
    coio_spawn_opts o = {.stack_size = COIO_STACK_SIZE_MIN};
    *rc = coio_await(coio_spawn_ex(return_arg, (void *)(intptr_t)3, &o));
    return 0;
}

static void spawn_ex_with_minimum_stack_size_works(void **state)
{
    (void)state;
    int rc = -1;
    coio_assert_rc(coio_run(small_stack_main, &rc), 0);
    coio_assert_rc(rc, 3);
}

/* ---- many tasks -------------------------------------------------------------------- */

#define MANY_TOTAL 100000
#define MANY_BATCH 1000

struct many_state {
    long long sum;
    int bad_rc;
    int spawn_failed;
};

static int many_child(void *arg)
{
    int i = (int)(intptr_t)arg;
    int rc = coio_yield(); /* the whole batch is alive at once */
    return rc < 0 ? rc : i % 1000;
}

static int many_main(void *arg)
{
    struct many_state *s = arg;
    static coio_task *t[MANY_BATCH];
    static int res[MANY_BATCH];
    for (int base = 0; base < MANY_TOTAL; base += MANY_BATCH) {
        for (int i = 0; i < MANY_BATCH; i++) {
            t[i] = coio_spawn(many_child, (void *)(intptr_t)(base + i));
            if (!t[i])
                s->spawn_failed++;
        }
        int rc = coio_gather_n(t, MANY_BATCH, res);
        if (rc != 0) {
            s->bad_rc = rc;
            return rc;
        }
        for (int i = 0; i < MANY_BATCH; i++)
            s->sum += res[i];
    }
    return 0;
}

static void hundred_thousand_tasks_gathered_in_batches(void **state)
{
    (void)state;
    struct many_state s = {0};
    coio_assert_rc(coio_run(many_main, &s), 0);
    assert_int_equal(s.spawn_failed, 0);
    coio_assert_rc(s.bad_rc, 0);
    /* each batch of 1000 returns 0..999 */
    assert_true(s.sum == (long long)(MANY_TOTAL / 1000) * (999LL * 1000 / 2));
}

/* ---- coio_run ---------------------------------------------------------------------- */

static void run_returns_main_value(void **state)
{
    (void)state;
    coio_assert_rc(coio_run(return_arg, (void *)(intptr_t)17), 17);
    coio_assert_rc(coio_run(return_arg, (void *)(intptr_t)0), 0);
    coio_assert_rc(coio_run(return_arg, (void *)(intptr_t)-EIO), -EIO);
}

struct nested_run_state {
    int rc;
    int inner_ran;
};

static int nested_run_main(void *arg)
{
    struct nested_run_state *s = arg;
    s->rc = coio_run(set_flag, &s->inner_ran);
    return 0;
}

static void nested_run_returns_ebusy(void **state)
{
    (void)state;
    struct nested_run_state s = {0};
    coio_assert_rc(coio_run(nested_run_main, &s), 0);
    coio_assert_rc(s.rc, -EBUSY);
    assert_int_equal(s.inner_ran, 0);
}

static int run_again_main(void *arg)
{
    int *rc = arg;
    coio_task *t = coio_spawn(return_arg, (void *)(intptr_t)11);
    int s = coio_sleep(0.001);
    *rc = coio_await(t);
    return s;
}

static void run_again_after_previous_run_finished(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++) {
        int rc = -1;
        coio_assert_rc(coio_run(run_again_main, &rc), 0);
        coio_assert_rc(rc, 11);
    }
}

/* ---- clock ------------------------------------------------------------------------- */

struct clock_state {
    int decreasing;
    double first, last, mono_first;
};

static int clock_main(void *arg)
{
    struct clock_state *s = arg;
    s->mono_first = mono_now();
    s->first = s->last = coio_now();
    for (int i = 0; i < 2000; i++) {
        double t = coio_now();
        if (t < s->last)
            s->decreasing++;
        s->last = t;
        if (i % 100 == 0)
            coio_sleep(i % 200 == 0 ? 0 : 0.001);
    }
    return 0;
}

static void now_is_monotonic_clock(void **state)
{
    (void)state;
    struct clock_state s = {0};
    coio_assert_rc(coio_run(clock_main, &s), 0);
    assert_int_equal(s.decreasing, 0);
    assert_true(s.last > s.first); /* ten 1 ms sleeps passed */
    /* the same clock as CLOCK_MONOTONIC, give or take a loop turn */
    assert_true(fabs(s.first - s.mono_first) < 0.5);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(spawned_task_starts_later_not_inside_spawn),
    cmocka_unit_test(spawned_tasks_start_in_fifo_order),
    cmocka_unit_test(yielding_tasks_alternate_strictly),
    cmocka_unit_test(sleep_zero_tasks_alternate_strictly),
    cmocka_unit_test(yield_lets_every_ready_task_run_once),
    cmocka_unit_test(sleeper_wakes_while_other_tasks_keep_yielding),
    cmocka_unit_test(blocked_read_completes_while_other_tasks_keep_yielding),
    cmocka_unit_test(sleepers_wake_in_deadline_order),
    cmocka_unit_test(equal_sleeps_wake_in_spawn_order),
    cmocka_unit_test(sleep_lasts_at_least_its_duration),
    cmocka_unit_test(await_returns_task_result),
    cmocka_unit_test(await_of_finished_task_returns_its_result),
    cmocka_unit_test(task_can_spawn_and_await_its_own_children),
    cmocka_unit_test(detached_task_runs_to_completion),
    cmocka_unit_test(spawn_detached_flag_runs_task),
    cmocka_unit_test(current_is_the_spawned_handle_inside_task),
    cmocka_unit_test(task_name_defaults_to_empty_string),
    cmocka_unit_test(task_set_name_renames_current_and_other_task),
    cmocka_unit_test(task_name_longer_than_31_bytes_is_truncated),
    cmocka_unit_test(spawn_ex_sets_task_name),
    cmocka_unit_test(spawn_ex_with_1mib_stack_runs_frame_bigger_than_default_stack),
    cmocka_unit_test(spawn_ex_with_minimum_stack_size_works),
    cmocka_unit_test(hundred_thousand_tasks_gathered_in_batches),
    cmocka_unit_test(run_returns_main_value),
    cmocka_unit_test(nested_run_returns_ebusy),
    cmocka_unit_test(run_again_after_previous_run_finished),
    cmocka_unit_test(now_is_monotonic_clock),
};

COIO_TEST_MAIN(tests)
