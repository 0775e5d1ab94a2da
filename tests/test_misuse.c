/* Calls made in the wrong place or with bad arguments, error names, and the version. */
#define _GNU_SOURCE
#include "coio_test.h"

#include <fcntl.h>
#include <linux/io_uring.h>
#include <math.h>
#include <sys/syscall.h>
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

/* Every call that takes a time in seconds refuses NaN with -EINVAL (NULL/EINVAL for the
 * pointer-returning ones), having done nothing. */
struct nan_state {
    int sleep, wait_for, wait_for_await, timeout_begin, deadline_begin, shield_begin;
    int wait, as_completed_null, as_completed_errno, future_await, call_later, call_at;
    int connect_ex, server_start_null, server_start_errno, server_close, server_close_ok;
    int ran_callback;
};

static int unused_handler(int fd, void *arg)
{
    (void)fd;
    (void)arg;
    return 0;
}

static void nan_callback(void *arg)
{
    ((struct nan_state *)arg)->ran_callback = 1;
}

static int nan_main(void *arg)
{
    struct nan_state *s = arg;
    s->sleep = coio_sleep(NAN);

    coio_task *t = coio_spawn(return_arg, (void *)(intptr_t)5);
    s->wait_for = coio_wait_for(t, NAN);
    s->wait_for_await = coio_await(t); /* the handle was left to the caller */

    coio_scope sc;
    s->timeout_begin = coio_timeout_begin(&sc, NAN);
    s->deadline_begin = coio_deadline_begin(&sc, NAN);
    s->shield_begin = coio_shield_begin(&sc, NAN);

    coio_task *w[1] = {coio_spawn(return_arg, NULL)};
    s->wait = coio_wait(w, 1, COIO_ALL_COMPLETED, NAN, NULL);
    errno = 0;
    coio_as_completed *ac = coio_as_completed_create(w, 1, NAN);
    s->as_completed_null = ac == NULL;
    s->as_completed_errno = errno;
    if (ac)
        coio_as_completed_destroy(ac);
    coio_await(w[0]);

    coio_future *f = coio_future_create();
    s->future_await = coio_future_await(f, NAN, NULL);
    coio_future_destroy(f);

    s->call_later = coio_call_later(NAN, nan_callback, s, NULL);
    s->call_at = coio_call_at(NAN, nan_callback, s, NULL);

    coio_tcp_connect_opts co = {.happy_eyeballs_delay = NAN};
    s->connect_ex = coio_tcp_connect_ex("127.0.0.1", "9", &co);

    int lfd = coio_tcp_listen("127.0.0.1", "0", 0);
    if (lfd < 0)
        return lfd;
    errno = 0;
    coio_server_opts so = {.accept_retry_max = NAN};
    coio_server *srv = coio_server_start(lfd, unused_handler, NULL, &so);
    s->server_start_null = srv == NULL;
    s->server_start_errno = errno;
    if (srv)
        coio_server_close(srv, 0);
    srv = coio_server_start(lfd, unused_handler, NULL, NULL);
    if (!srv)
        return -errno;
    s->server_close = coio_server_close(srv, NAN); /* refused: the server is still ours */
    s->server_close_ok = coio_server_close(srv, 0);
    coio_sleep(0.001);
    return 0;
}

static void nan_times_are_einval_everywhere(void **state)
{
    (void)state;
    struct nan_state s = {0};
    coio_assert_rc(coio_run(nan_main, &s), 0);
    coio_assert_rc(s.sleep, -EINVAL);
    coio_assert_rc(s.wait_for, -EINVAL);
    coio_assert_rc(s.wait_for_await, 5);
    coio_assert_rc(s.timeout_begin, -EINVAL);
    coio_assert_rc(s.deadline_begin, -EINVAL);
    coio_assert_rc(s.shield_begin, -EINVAL);
    coio_assert_rc(s.wait, -EINVAL);
    assert_true(s.as_completed_null);
    assert_int_equal(s.as_completed_errno, EINVAL);
    coio_assert_rc(s.future_await, -EINVAL);
    coio_assert_rc(s.call_later, -EINVAL);
    coio_assert_rc(s.call_at, -EINVAL);
    assert_int_equal(s.ran_callback, 0);
    coio_assert_rc(s.connect_ex, -EINVAL);
    assert_true(s.server_start_null);
    assert_int_equal(s.server_start_errno, EINVAL);
    coio_assert_rc(s.server_close, -EINVAL);
    coio_assert_rc(s.server_close_ok, 0);
}

/* ---- COIO_BACKEND ------------------------------------------------------------------- */

struct backend_seen {
    int ran;
    char name[16];
};

static int record_backend(void *arg)
{
    struct backend_seen *b = arg;
    const char *n = coio_backend_name();
    b->ran = 1;
    snprintf(b->name, sizeof b->name, "%s", n ? n : "(null)");
    return 0;
}

static void with_backend_env(const char *value, struct backend_seen *b, int *rc)
{
    const char *saved = getenv("COIO_BACKEND");
    char keep[32] = "";
    if (saved)
        snprintf(keep, sizeof keep, "%s", saved);
    if (value)
        setenv("COIO_BACKEND", value, 1);
    else
        unsetenv("COIO_BACKEND");
    memset(b, 0, sizeof *b);
    *rc = coio_run(record_backend, b);
    if (saved)
        setenv("COIO_BACKEND", keep, 1);
    else
        unsetenv("COIO_BACKEND");
}

static void backend_env_with_a_bogus_name_is_einval(void **state)
{
    (void)state;
    static const char *const bogus[] = {"kqueue", "EPOLL", "io_uring ", "epoll,io_uring"};
    struct backend_seen b;
    int rc;
    for (size_t i = 0; i < sizeof bogus / sizeof bogus[0]; i++) {
        with_backend_env(bogus[i], &b, &rc);
        coio_assert_rc(rc, -EINVAL);
        assert_int_equal(b.ran, 0); /* main never started */
    }
    with_backend_env("epoll", &b, &rc);
    coio_assert_rc(rc, 0);
    assert_string_equal(b.name, "epoll");
}

/* Whether the kernel gives this process a ring with the features coio needs
 * (docs/backends.md), asked with the raw system call rather than through coio. */
static void backend_env_unset_picks_io_uring_where_the_kernel_allows_it(void **state)
{
    (void)state;
    struct backend_seen b;
    int rc;
    char why[128];
    with_backend_env(NULL, &b, &rc);
    coio_assert_rc(rc, 0);
    const char *want =
        COIO_TEST_HAVE_LIBURING && coio_test_kernel_io_uring(why, sizeof why) == 0 ? "io_uring"
                                                                                 : "epoll";
    assert_string_equal(b.name, want);
    with_backend_env("", &b, &rc); /* empty counts as unset */
    coio_assert_rc(rc, 0);
    assert_string_equal(b.name, want);
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
    cmocka_unit_test(nan_times_are_einval_everywhere),
    cmocka_unit_test(backend_env_with_a_bogus_name_is_einval),
    cmocka_unit_test(backend_env_unset_picks_io_uring_where_the_kernel_allows_it),
    cmocka_unit_test(task_set_name_null_name_returns_einval),
    cmocka_unit_test(err_name_and_strerror_match_errno_map),
    cmocka_unit_test(strerror_accepts_positive_errno),
    cmocka_unit_test(strerror_is_the_standard_text_for_every_errno),
    cmocka_unit_test(strerror_of_kernel_errno_is_libc_text),
    cmocka_unit_test(unknown_error_values_are_named_not_null),
    cmocka_unit_test(version_matches_header),
};

COIO_TEST_MAIN(tests)
