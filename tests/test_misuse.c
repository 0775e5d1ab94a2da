/* Calls made in the wrong place or with bad arguments, error names, and the version. */
#define _GNU_SOURCE
#include "coio_test.h"

#include <fcntl.h>
#include <math.h>
#include <unistd.h>

/* A stand-in handle for calls that must fail with -EPERM before looking at the task
 * (no real handle can exist outside a loop). Zeroed, so a premature look finds nothing. */
static _Alignas(max_align_t) unsigned char fake_task_storage[4096];
#define FAKE_TASK ((coio_task *)(void *)fake_task_storage)

static int return_arg(void *arg)
{
    return (int)(intptr_t)arg;
}

static int set_flag(void *arg)
{
    *(int *)arg = 1;
    return 0;
}

/* ---- suspending calls outside a task ----------------------------------------------- */

static void sleep_outside_task_returns_eperm(void **state)
{
    (void)state;
    coio_assert_rc(coio_sleep(0.01), -EPERM);
    coio_assert_rc(coio_sleep(0), -EPERM);
}

static void yield_outside_task_returns_eperm(void **state)
{
    (void)state;
    coio_assert_rc(coio_yield(), -EPERM);
}

static void await_outside_task_returns_eperm(void **state)
{
    (void)state;
    coio_assert_rc(coio_await(FAKE_TASK), -EPERM);
}

static void wait_for_outside_task_returns_eperm(void **state)
{
    (void)state;
    coio_assert_rc(coio_wait_for(FAKE_TASK, 1.0), -EPERM);
}

static void gather_outside_task_returns_eperm(void **state)
{
    (void)state;
    coio_task *t[1] = {FAKE_TASK};
    coio_assert_rc(coio_gather_n(t, 1, NULL), -EPERM);
}

static void to_thread_outside_task_returns_eperm(void **state)
{
    (void)state;
    int ran = 0;
    coio_assert_rc(coio_to_thread(set_flag, &ran), -EPERM);
    assert_int_equal(ran, 0);
}

static void fd_io_outside_task_returns_eperm(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    char buf[8] = "abc";
    coio_assert_rc(coio_read(p[0], buf, sizeof buf), -EPERM);
    coio_assert_rc(coio_write(p[1], buf, 3), -EPERM);
    coio_assert_rc(coio_write_all(p[1], buf, 3), -EPERM);
    coio_assert_rc(coio_wait_fd(p[0], COIO_READABLE), -EPERM);
    coio_assert_rc(coio_wait_fd(p[1], COIO_WRITABLE), -EPERM);
    /* nothing was written behind the caller's back */
    coio_assert_rc(read(p[0], buf, sizeof buf), -1);
    close(p[0]);
    close(p[1]);
}

static void scope_begin_outside_task_returns_eperm(void **state)
{
    (void)state;
    coio_scope s;
    coio_assert_rc(coio_timeout_begin(&s, 1.0), -EPERM);
    coio_assert_rc(coio_deadline_begin(&s, 1.0), -EPERM);
    coio_assert_rc(coio_shield_begin(&s, -1), -EPERM);
}

static void spawn_outside_loop_returns_null_with_eperm(void **state)
{
    (void)state;
    errno = 0;
    assert_null(coio_spawn(return_arg, NULL));
    assert_int_equal(errno, EPERM);
    errno = 0;
    coio_spawn_opts o = {.name = "x"};
    assert_null(coio_spawn_ex(return_arg, NULL, &o));
    assert_int_equal(errno, EPERM);
}

static void queries_outside_loop_report_no_task(void **state)
{
    (void)state;
    assert_null(coio_current());
    assert_null(coio_backend_name());
    assert_int_equal(coio_is_cancelled(), 0);
    assert_non_null(coio_task_name(NULL));
    coio_assert_rc(coio_dump_tasks(stderr), -EPERM);
}

static void close_outside_loop_closes_fd(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    coio_assert_rc(coio_close(p[0]), 0);
    coio_assert_rc(coio_close(p[1]), 0);
    assert_int_equal(fcntl(p[0], F_GETFD), -1); /* really closed */
    coio_assert_rc(coio_close(-1), -EBADF);
}

/* ---- NULL and bad arguments -------------------------------------------------------- */

static void run_with_null_main_returns_einval(void **state)
{
    (void)state;
    coio_assert_rc(coio_run(NULL, NULL), -EINVAL);
}

struct null_args {
    int spawn_null, spawn_errno;
    int spawn_ex_null, spawn_ex_errno;
    int await_rc, cancel_rc, detach_rc, gather_rc, wait_for_rc, to_thread_rc;
};

static int null_args_main(void *arg)
{
    struct null_args *s = arg;
    errno = 0;
    s->spawn_null = coio_spawn(NULL, NULL) == NULL;
    s->spawn_errno = errno;
    errno = 0;
    s->spawn_ex_null = coio_spawn_ex(NULL, NULL, NULL) == NULL;
    s->spawn_ex_errno = errno;
    s->await_rc = coio_await(NULL);
    s->cancel_rc = coio_cancel(NULL);
    s->detach_rc = coio_detach(NULL);
    s->gather_rc = coio_gather_n(NULL, 1, NULL);
    s->wait_for_rc = coio_wait_for(NULL, 1.0);
    s->to_thread_rc = coio_to_thread(NULL, NULL);
    return 0;
}

static void spawn_null_fn_returns_null_with_einval(void **state)
{
    (void)state;
    struct null_args s = {0};
    coio_assert_rc(coio_run(null_args_main, &s), 0);
    assert_true(s.spawn_null);
    assert_int_equal(s.spawn_errno, EINVAL);
    assert_true(s.spawn_ex_null);
    assert_int_equal(s.spawn_ex_errno, EINVAL);
}

static void null_task_handles_return_einval(void **state)
{
    (void)state;
    struct null_args s = {0};
    coio_assert_rc(coio_run(null_args_main, &s), 0);
    coio_assert_rc(s.await_rc, -EINVAL);
    coio_assert_rc(s.cancel_rc, -EINVAL);
    coio_assert_rc(s.detach_rc, -EINVAL);
    coio_assert_rc(s.gather_rc, -EINVAL);
    coio_assert_rc(s.wait_for_rc, -EINVAL);
}

static void to_thread_null_fn_returns_einval(void **state)
{
    (void)state;
    struct null_args s = {0};
    coio_assert_rc(coio_run(null_args_main, &s), 0);
    coio_assert_rc(s.to_thread_rc, -EINVAL);
}

static int await_self_main(void *arg)
{
    int *rc = arg;
    *rc = coio_await(coio_current());
    return 0;
}

static void await_self_returns_edeadlk(void **state)
{
    (void)state;
    int rc = 0;
    coio_assert_rc(coio_run(await_self_main, &rc), 0);
    coio_assert_rc(rc, -EDEADLK);
}

struct detach_twice {
    int first, second, await_rc;
};

static int detach_twice_main(void *arg)
{
    struct detach_twice *s = arg;
    coio_task *t = coio_spawn(return_arg, NULL);
    /* no suspension in between: t has not run, so the handle is still valid */
    s->first = coio_detach(t);
    s->second = coio_detach(t);
    s->await_rc = coio_await(t);
    return 0;
}

static void detach_twice_returns_ealready(void **state)
{
    (void)state;
    struct detach_twice s = {0};
    coio_assert_rc(coio_run(detach_twice_main, &s), 0);
    coio_assert_rc(s.first, 0);
    coio_assert_rc(s.second, -EALREADY);
}

static void await_detached_task_returns_ealready(void **state)
{
    (void)state;
    struct detach_twice s = {0};
    coio_assert_rc(coio_run(detach_twice_main, &s), 0);
    coio_assert_rc(s.await_rc, -EALREADY);
}

struct bad_sleep {
    int neg, nan, neg_inf, after;
};

static int bad_sleep_main(void *arg)
{
    struct bad_sleep *s = arg;
    s->neg = coio_sleep(-1);
    s->nan = coio_sleep(NAN);
    s->neg_inf = coio_sleep(-INFINITY);
    s->after = coio_sleep(0.001);
    return 0;
}

static void sleep_negative_or_nan_returns_einval(void **state)
{
    (void)state;
    struct bad_sleep s = {0};
    coio_assert_rc(coio_run(bad_sleep_main, &s), 0);
    coio_assert_rc(s.neg, -EINVAL);
    coio_assert_rc(s.nan, -EINVAL);
    coio_assert_rc(s.neg_inf, -EINVAL);
    coio_assert_rc(s.after, 0);
}

struct set_name_args {
    int null_name, outside;
};

static int set_name_main(void *arg)
{
    struct set_name_args *s = arg;
    s->null_name = coio_task_set_name(NULL, NULL);
    return 0;
}

static void task_set_name_null_name_returns_einval(void **state)
{
    (void)state;
    struct set_name_args s = {0};
    coio_assert_rc(coio_run(set_name_main, &s), 0);
    coio_assert_rc(s.null_name, -EINVAL);
    coio_assert_rc(coio_task_set_name(NULL, "x"), -EINVAL); /* no current task */
}

/* ---- error names and version ------------------------------------------------------- */

static void err_name_and_strerror_match_errno_map(void **state)
{
    (void)state;
    /* The map's texts are the standard (C-locale) descriptions; this program never calls
     * setlocale, so strerror gives exactly those. */
#define CHECK_ENTRY(e, desc)                                                             \
    assert_string_equal(coio_err_name(-(e)), #e);                                        \
    assert_string_equal(desc, strerror(e));                                              \
    assert_string_equal(coio_strerror(-(e)), desc);
    COIO_ERRNO_MAP(CHECK_ENTRY)
#undef CHECK_ENTRY
    assert_string_equal(coio_err_name(-ECANCELED), "ECANCELED");
    assert_string_equal(coio_err_name(-ETIMEDOUT), "ETIMEDOUT");
}

static void strerror_accepts_positive_errno(void **state)
{
    (void)state;
    assert_string_equal(coio_strerror(ECANCELED), coio_strerror(-ECANCELED));
    assert_string_equal(coio_strerror(ETIMEDOUT), coio_strerror(-ETIMEDOUT));
    assert_non_null(coio_err_name(ECANCELED));
    assert_non_null(coio_err_name(ETIMEDOUT));
}

/* The same errno comes from the kernel (a TCP timeout, an unprivileged operation) and
 * from coio (a deadline, a call outside a task): the text must be true for both, so it
 * is strerror's, for every errno and beyond. */
static void strerror_is_the_standard_text_for_every_errno(void **state)
{
    (void)state;
    char want[256];
    for (int e = 0; e <= 200; e++) {
        snprintf(want, sizeof want, "%s", strerror(e));
        assert_string_equal(coio_strerror(-e), want);
        assert_string_equal(coio_strerror(e), want);
        if (e > 0 && strerrorname_np(e))
            assert_string_equal(coio_err_name(-e), strerrorname_np(e));
    }
    assert_string_equal(coio_strerror(-ETIMEDOUT), "Connection timed out");
    assert_string_equal(coio_strerror(-EPERM), "Operation not permitted");
}

static void strerror_of_kernel_errno_is_libc_text(void **state)
{
    (void)state;
    char want[256];
    snprintf(want, sizeof want, "%s", strerror(ECONNREFUSED));
    assert_string_equal(coio_strerror(-ECONNREFUSED), want);
    assert_non_null(coio_err_name(-ECONNREFUSED));
}

static void unknown_error_values_are_named_not_null(void **state)
{
    (void)state;
    static const int odd[] = {-123456, 123456, 0, -1 - 0x7fffffff, 0x7fffffff};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        assert_non_null(coio_strerror(odd[i]));
        assert_non_null(coio_err_name(odd[i]));
    }
    assert_string_equal(coio_err_name(-123456), "E?");
    assert_string_equal(coio_strerror(-123456), "Unknown error 123456");
    assert_string_equal(coio_strerror(-1 - 0x7fffffff), "Unknown error 2147483647");
    assert_string_equal(coio_strerror(0), "Success");
}

static void version_matches_header(void **state)
{
    (void)state;
    assert_int_equal(coio_version(), COIO_VERSION_HEX);
    assert_int_equal(COIO_VERSION_HEX, 0x000100);
    assert_string_equal(coio_version_string(), "0.1.0");
}

static int returns_seven(void *arg)
{
    (void)arg;
    return 7;
}

static int await_released_main(void *arg)
{
    int *rc = arg;
    coio_task *t = coio_spawn(returns_seven, NULL);
    rc[0] = coio_await(t);
    rc[1] = coio_await(t);  /* released: its slot is free until another spawn */
    rc[2] = coio_detach(t);
    rc[3] = coio_cancel(t);
    return 0;
}

/* A handle used again after await released it is caught while its slot is still free. */
static void awaiting_a_released_handle_returns_ealready(void **state)
{
    (void)state;
    int rc[4] = {0, 0, 0, 0};
    coio_assert_rc(coio_run(await_released_main, rc), 0);
    coio_assert_rc(rc[0], 7);
    coio_assert_rc(rc[1], -EALREADY);
    coio_assert_rc(rc[2], -EALREADY);
    coio_assert_rc(rc[3], -EALREADY);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(sleep_outside_task_returns_eperm),
    cmocka_unit_test(yield_outside_task_returns_eperm),
    cmocka_unit_test(await_outside_task_returns_eperm),
    cmocka_unit_test(wait_for_outside_task_returns_eperm),
    cmocka_unit_test(gather_outside_task_returns_eperm),
    cmocka_unit_test(to_thread_outside_task_returns_eperm),
    cmocka_unit_test(fd_io_outside_task_returns_eperm),
    cmocka_unit_test(scope_begin_outside_task_returns_eperm),
    cmocka_unit_test(spawn_outside_loop_returns_null_with_eperm),
    cmocka_unit_test(queries_outside_loop_report_no_task),
    cmocka_unit_test(close_outside_loop_closes_fd),
    cmocka_unit_test(run_with_null_main_returns_einval),
    cmocka_unit_test(spawn_null_fn_returns_null_with_einval),
    cmocka_unit_test(null_task_handles_return_einval),
    cmocka_unit_test(to_thread_null_fn_returns_einval),
    cmocka_unit_test(await_self_returns_edeadlk),
    cmocka_unit_test(detach_twice_returns_ealready),
    cmocka_unit_test(awaiting_a_released_handle_returns_ealready),
    cmocka_unit_test(await_detached_task_returns_ealready),
    cmocka_unit_test(sleep_negative_or_nan_returns_einval),
    cmocka_unit_test(task_set_name_null_name_returns_einval),
    cmocka_unit_test(err_name_and_strerror_match_errno_map),
    cmocka_unit_test(strerror_accepts_positive_errno),
    cmocka_unit_test(strerror_is_the_standard_text_for_every_errno),
    cmocka_unit_test(strerror_of_kernel_errno_is_libc_text),
    cmocka_unit_test(unknown_error_values_are_named_not_null),
    cmocka_unit_test(version_matches_header),
};

COIO_TEST_MAIN(tests)
