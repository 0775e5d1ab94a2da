/* coio_dump_tasks and the warnings of COIO_DEBUG=1. */
#define _GNU_SOURCE
#include "coio_test.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Captures what the library writes to stderr while fn runs. */
struct capture {
    int saved;
    FILE *tmp;
};

static void capture_begin(struct capture *c)
{
    fflush(stderr);
    c->tmp = tmpfile();
    assert_non_null(c->tmp);
    c->saved = dup(STDERR_FILENO);
    dup2(fileno(c->tmp), STDERR_FILENO);
}

static char *capture_end(struct capture *c)
{
    fflush(stderr);
    dup2(c->saved, STDERR_FILENO);
    close(c->saved);
    long n = ftell(c->tmp);
    char *buf = calloc(1, (size_t)n + 1);
    rewind(c->tmp);
    size_t got = fread(buf, 1, (size_t)n, c->tmp);
    buf[got] = 0;
    fclose(c->tmp);
    return buf;
}

static int sleep_long(void *arg)
{
    (void)arg;
    return coio_sleep(10);
}

static int dump_main(void *arg)
{
    char **out = arg;
    size_t len;
    FILE *f = open_memstream(out, &len);
    coio_task *t = coio_spawn_ex(sleep_long, NULL, &(coio_spawn_opts){.name = "napper"});
    coio_task *u = coio_spawn_ex(sleep_long, NULL, &(coio_spawn_opts){.name = "unstarted"});
    coio_sleep(0.01);
    coio_cancel(u); /* already started by now: it was woken with -ECANCELED */
    int n = coio_dump_tasks(f);
    fclose(f);
    coio_cancel(t);
    coio_await(t);
    coio_await(u);
    return n;
}

static void dump_tasks_lists_names_states_and_waits(void **state)
{
    (void)state;
    char *out = NULL;
    int n = coio_run(dump_main, &out);
    assert_int_equal(n, 3);
    assert_non_null(strstr(out, "main"));
    assert_non_null(strstr(out, "running"));
    assert_non_null(strstr(out, "napper"));
    assert_non_null(strstr(out, "waiting"));
    assert_non_null(strstr(out, "sleep"));
    assert_non_null(strstr(out, "KiB"));
    free(out);
}

static void dump_tasks_outside_loop_is_eperm(void **state)
{
    (void)state;
    coio_assert_rc(coio_dump_tasks(stderr), -EPERM);
}

static int quick(void *arg)
{
    (void)arg;
    return 0;
}

static int leave_unawaited(void *arg)
{
    (void)arg;
    coio_spawn_ex(quick, NULL, &(coio_spawn_opts){.name = "forgotten"});
    coio_sleep(0.01); /* it finishes, nobody awaits or detaches it */
    return 0;
}

static void debug_warns_about_unawaited_tasks(void **state)
{
    (void)state;
    setenv("COIO_DEBUG", "1", 1);
    struct capture c;
    capture_begin(&c);
    int r = coio_run(leave_unawaited, NULL);
    char *err = capture_end(&c);
    coio_assert_rc(r, 0);
    assert_non_null(strstr(err, "\"forgotten\" was neither awaited nor detached"));
    free(err);
}

static int hog(void *arg)
{
    (void)arg;
    struct timespec ts = {0, 150 * 1000 * 1000};
    nanosleep(&ts, NULL); /* blocks the whole loop: what COIO_DEBUG is for */
    return coio_yield();
}

static int run_hog(void *arg)
{
    (void)arg;
    return coio_await(coio_spawn_ex(hog, NULL, &(coio_spawn_opts){.name = "hog"}));
}

static void debug_warns_about_long_steps(void **state)
{
    (void)state;
    setenv("COIO_DEBUG", "1", 1);
    struct capture c;
    capture_begin(&c);
    int r = coio_run(run_hog, NULL);
    char *err = capture_end(&c);
    coio_assert_rc(r, 0);
    assert_non_null(strstr(err, "\"hog\" ran"));
    assert_non_null(strstr(err, "ms without suspending"));
    free(err);
}

static int leave_alive(void *arg)
{
    (void)arg;
    coio_spawn_ex(sleep_long, NULL, &(coio_spawn_opts){.name = "lingerer", .flags = COIO_SPAWN_DETACHED});
    coio_sleep(0.01);
    return 0;
}

static void debug_warns_about_tasks_alive_at_the_end(void **state)
{
    (void)state;
    setenv("COIO_DEBUG", "1", 1);
    struct capture c;
    capture_begin(&c);
    int r = coio_run(leave_alive, NULL);
    char *err = capture_end(&c);
    coio_assert_rc(r, 0);
    assert_non_null(strstr(err, "\"lingerer\" still alive when coio_run ended"));
    free(err);
}

/* The deadlock dump: printed before the deadlocked tasks are cancelled, so it shows
 * them waiting, by name. */
static coio_event *never_set;

static int wait_never(void *arg)
{
    (void)arg;
    return coio_event_wait(never_set);
}

static int deadlock_main(void *arg)
{
    (void)arg;
    never_set = coio_event_create();
    coio_task *t = coio_spawn_ex(wait_never, NULL, &(coio_spawn_opts){.name = "forever-waiter"});
    int r = coio_await(t);
    coio_event_destroy(never_set);
    return r;
}

static void debug_dumps_deadlocked_tasks(void **state)
{
    (void)state;
    setenv("COIO_DEBUG", "1", 1);
    struct capture c;
    capture_begin(&c);
    int r = coio_run(deadlock_main, NULL);
    char *err = capture_end(&c);
    coio_assert_rc(r, -EDEADLK);
    assert_non_null(strstr(err, "deadlock: every task is waiting"));
    char *line = strstr(err, "forever-waiter");
    assert_non_null(line);
    assert_non_null(strstr(line, "waiting"));
    assert_non_null(strstr(line, "event"));
    assert_non_null(strstr(err, "main"));
    free(err);
}

/* Scopes left open. */
static int end_with_scope_open(void *arg)
{
    (void)arg;
    static coio_scope s; /* outlives the task: only the missing end is wrong */
    coio_timeout_begin(&s, 10);
    return 0;
}

static int run_scope_leaker(void *arg)
{
    (void)arg;
    return coio_await(coio_spawn_ex(end_with_scope_open, NULL,
                                    &(coio_spawn_opts){.name = "scope-leaker"}));
}

static void debug_reports_task_ending_with_scope_open(void **state)
{
    (void)state;
    setenv("COIO_DEBUG", "1", 1);
    struct capture c;
    capture_begin(&c);
    int r = coio_run(run_scope_leaker, NULL);
    char *err = capture_end(&c);
    coio_assert_rc(r, 0);
    assert_non_null(strstr(err, "\"scope-leaker\" ended with a scope open"));
    free(err);
}

/* Begins a 1 ms timeout in a frame that returns without ending it. The padding above it
 * puts the scope deeper than the frames of a later coio_sleep made by the caller. */
static __attribute__((noinline)) void forget_scope(void)
{
    coio_scope s;
    coio_timeout_begin(&s, 0.001);
}

static __attribute__((noinline)) void forget_scope_deep(void)
{
    volatile char pad[8192];
    pad[0] = 0;
    __asm__ volatile("" : : "r"(pad) : "memory"); /* clang -O3 would keep one byte */
    forget_scope();
    (void)pad[0];
}

static int forget_then_sleep(void *arg)
{
    int *sleep_rc = arg;
    forget_scope_deep();
    *sleep_rc = coio_sleep(0.02); /* the dead scope's deadline must not apply */
    return 0;
}

static int run_forgetter(void *arg)
{
    return coio_await(coio_spawn_ex(forget_then_sleep, arg,
                                    &(coio_spawn_opts){.name = "forgetter"}));
}

static void debug_reports_scope_whose_function_returned(void **state)
{
    (void)state;
    setenv("COIO_DEBUG", "1", 1);
    int sleep_rc = 1;
    struct capture c;
    capture_begin(&c);
    int r = coio_run(run_forgetter, &sleep_rc);
    char *err = capture_end(&c);
    coio_assert_rc(r, 0);
    assert_non_null(strstr(err, "\"forgetter\" returned from a function without ending its scope"));
    coio_assert_rc(sleep_rc, 0); /* the dead scope was dropped */
    assert_null(strstr(err, "ended with a scope open"));
    free(err);
}

/* call_later callbacks pending when every task has finished are dropped at once. */
static int later_ran;

static void later_cb(void *arg)
{
    (void)arg;
    later_ran = 1;
}

static int leave_pending_callback(void *arg)
{
    (void)arg;
    coio_call_later(30, later_cb, NULL, NULL);
    coio_call_at(coio_now() + 30, later_cb, NULL, NULL);
    return 0;
}

static void debug_warns_about_dropped_callbacks(void **state)
{
    (void)state;
    setenv("COIO_DEBUG", "1", 1);
    later_ran = 0;
    struct capture c;
    capture_begin(&c);
    time_t t0 = time(NULL);
    int r = coio_run(leave_pending_callback, NULL);
    char *err = capture_end(&c);
    coio_assert_rc(r, 0);
    assert_true(time(NULL) - t0 < 10); /* not kept alive until the callbacks are due */
    assert_int_equal(later_ran, 0);
    assert_non_null(strstr(err, "2 callbacks still pending when every task had finished: dropped"));
    free(err);
}

static void no_warnings_without_debug(void **state)
{
    (void)state;
    unsetenv("COIO_DEBUG");
    struct capture c;
    capture_begin(&c);
    int r = coio_run(leave_unawaited, NULL);
    char *err = capture_end(&c);
    coio_assert_rc(r, 0);
    assert_string_equal(err, "");
    free(err);
}

/* The dump says what each task waits on: the fd of a read, the time left of a sleep,
 * the object of a lock, and (under COIO_DEBUG) how long each has waited. */
struct details {
    int p[2];
    coio_lock *mu;
    char *out;
};

static int pipe_reader(void *arg)
{
    struct details *d = arg;
    char c;
    return (int)coio_read(d->p[0], &c, 1);
}

static int lock_waiter(void *arg)
{
    struct details *d = arg;
    int r = coio_lock_acquire(d->mu);
    if (r == 0)
        coio_lock_release(d->mu);
    return r;
}

static int details_main(void *arg)
{
    struct details *d = arg;
    assert_int_equal(pipe2(d->p, O_NONBLOCK | O_CLOEXEC), 0);
    d->mu = coio_lock_create();
    assert_non_null(d->mu);
    coio_lock_acquire(d->mu);
    coio_task *r = coio_spawn_ex(pipe_reader, d, &(coio_spawn_opts){.name = "reader"});
    coio_task *s = coio_spawn_ex(sleep_long, NULL, &(coio_spawn_opts){.name = "sleeper"});
    coio_task *l = coio_spawn_ex(lock_waiter, d, &(coio_spawn_opts){.name = "locker"});
    coio_sleep(0.05);
    size_t len;
    FILE *f = open_memstream(&d->out, &len);
    int n = coio_dump_tasks(f);
    fclose(f);
    coio_write(d->p[1], "x", 1);
    coio_lock_release(d->mu);
    coio_cancel(s);
    coio_await(r);
    coio_await(s);
    coio_await(l);
    coio_close(d->p[0]);
    coio_close(d->p[1]);
    coio_lock_destroy(d->mu);
    return n;
}

/* The line of the dump that names task `name`. */
static char *dump_line(const char *out, const char *name)
{
    const char *p = strstr(out, name);
    assert_non_null(p);
    while (p > out && p[-1] != '\n')
        p--;
    const char *e = strchr(p, '\n');
    return strndup(p, e ? (size_t)(e - p) : strlen(p));
}

static void dump_shows_fd_timeout_object_and_time_waited(void **state)
{
    (void)state;
    setenv("COIO_DEBUG", "1", 1);
    struct details d = {0};
    int n = coio_run(details_main, &d);
    unsetenv("COIO_DEBUG");
    assert_int_equal(n, 4);
    char want[32];
    char *line = dump_line(d.out, "reader");
    snprintf(want, sizeof want, "fd %d", d.p[0]);
    assert_non_null(strstr(line, want));
    assert_non_null(strstr(line, "waited 0.0"));
    free(line);
    line = dump_line(d.out, "sleeper");
    assert_non_null(strstr(line, "timeout 9.9"));
    assert_non_null(strstr(line, "s left"));
    assert_non_null(strstr(line, "waited 0.0"));
    free(line);
    line = dump_line(d.out, "locker");
    snprintf(want, sizeof want, "obj %p", (void *)d.mu);
    assert_non_null(strstr(line, want));
    assert_non_null(strstr(line, "waited 0.0"));
    free(line);
    free(d.out);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(dump_tasks_lists_names_states_and_waits),
    cmocka_unit_test(dump_tasks_outside_loop_is_eperm),
    cmocka_unit_test(debug_warns_about_unawaited_tasks),
    cmocka_unit_test(debug_warns_about_long_steps),
    cmocka_unit_test(debug_warns_about_tasks_alive_at_the_end),
    cmocka_unit_test(debug_dumps_deadlocked_tasks),
    cmocka_unit_test(debug_reports_task_ending_with_scope_open),
    cmocka_unit_test(debug_reports_scope_whose_function_returned),
    cmocka_unit_test(debug_warns_about_dropped_callbacks),
    cmocka_unit_test(no_warnings_without_debug),
    cmocka_unit_test(dump_shows_fd_timeout_object_and_time_waited),
};

COIO_TEST_MAIN(tests)
