/* coio-test: io tsan */
/* coio_getaddrinfo: numeric fast path, lookups on resolver threads, errors mapped to
 * errno, and a cancelled or timed-out caller that returns at once while the late result
 * is freed. Names other than numeric ones and "localhost" come from a fake resolver
 * (fake_resolver.h), so nothing leaves the machine. */
#define _GNU_SOURCE
#include "coio_test.h"
#include "net_helpers.h"
#include "fake_resolver.h"

#include <netdb.h>

struct dns_state {
    const char *host, *service;
    int family, socktype;
    int rc, rc2;
    struct addrinfo *res;
    int port;
    uint32_t addr;
    unsigned long thread;
    double elapsed, cancel_elapsed;
    int n_done;
    int all_freed;
    int calls_during;
};

static int lookup(void *arg)
{
    struct dns_state *s = arg;
    struct addrinfo hints = {.ai_family = s->family, .ai_socktype = s->socktype};
    double t0 = coio_now();
    s->rc = coio_getaddrinfo(s->host, s->service, &hints, &s->res);
    s->elapsed = coio_now() - t0;
    s->thread = atomic_load(&fake_last_thread);
    if (s->rc == 0 && s->res->ai_family == AF_INET) {
        struct sockaddr_in *sa = (struct sockaddr_in *)s->res->ai_addr;
        s->port = ntohs(sa->sin_port);
        s->addr = ntohl(sa->sin_addr.s_addr);
    }
    if (s->rc == 0)
        freeaddrinfo(s->res);
    s->res = NULL;
    return 0;
}

static void numeric_host_resolves_on_the_loop_thread(void **state)
{
    (void)state;
    require_backend();
    struct dns_state s = {.host = "127.0.0.1", .service = "8080", .socktype = SOCK_STREAM};
    coio_assert_rc(coio_run(lookup, &s), 0);
    coio_assert_rc(s.rc, 0);
    assert_int_equal(s.port, 8080);
    assert_int_equal(s.addr, INADDR_LOOPBACK);
    assert_true(s.thread == (unsigned long)pthread_self()); /* no thread hop */

    struct dns_state s6 = {.host = "::1", .service = "53", .socktype = SOCK_DGRAM};
    coio_assert_rc(coio_run(lookup, &s6), 0);
    coio_assert_rc(s6.rc, 0);
}

static void name_resolves_on_a_resolver_thread(void **state)
{
    (void)state;
    require_backend();
    struct dns_state s = {.host = "localhost", .service = "80", .family = AF_INET,
                          .socktype = SOCK_STREAM};
    coio_assert_rc(coio_run(lookup, &s), 0);
    coio_assert_rc(s.rc, 0);
    assert_int_equal(s.port, 80);
    assert_int_equal(s.addr, INADDR_LOOPBACK);
    assert_true(s.thread != (unsigned long)pthread_self());

    /* a service name, resolved through /etc/services on the thread */
    struct dns_state h = {.host = "127.0.0.1", .service = "http", .socktype = SOCK_STREAM};
    if (getservbyname("http", "tcp")) {
        coio_assert_rc(coio_run(lookup, &h), 0);
        coio_assert_rc(h.rc, 0);
        assert_int_equal(h.port, 80);
    }
}

static void lookup_errors_map_to_errno(void **state)
{
    (void)state;
    require_backend();
    static const struct {
        const char *host, *service;
        int want;
    } cases[] = {
        {"noname.coio.test", "80", -ENXIO},
        {"again.coio.test", "80", -EAGAIN},
        {"fail.coio.test", "80", -EIO},
        {"127.0.0.1", "no-such-service-coio", -ENXIO},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct dns_state s = {.host = cases[i].host, .service = cases[i].service,
                              .socktype = SOCK_STREAM};
        coio_assert_rc(coio_run(lookup, &s), 0);
        coio_assert_rc(s.rc, cases[i].want);
    }
}

static int bad_args_main(void *arg)
{
    struct dns_state *s = arg;
    struct addrinfo *res;
    s->rc = coio_getaddrinfo(NULL, NULL, NULL, &res);
    s->rc2 = coio_getaddrinfo("localhost", "80", NULL, NULL);
    return 0;
}

static void bad_arguments_are_einval_and_outside_a_task_eperm(void **state)
{
    (void)state;
    require_backend();
    struct dns_state s = {0};
    coio_assert_rc(coio_run(bad_args_main, &s), 0);
    coio_assert_rc(s.rc, -EINVAL);
    coio_assert_rc(s.rc2, -EINVAL);
    struct addrinfo *res;
    coio_assert_rc(coio_getaddrinfo("localhost", "80", NULL, &res), -EPERM);
}

/* ---- a caller that leaves ----------------------------------------------------------- */

static int cancel_main(void *arg)
{
    struct dns_state *s = arg;
    s->host = "slow.coio.test";
    s->service = "80";
    coio_task *t = coio_spawn(lookup, s);
    while (atomic_load(&fake_started) == 0) /* the resolver thread is inside getaddrinfo */
        coio_sleep(0.002);
    double t0 = coio_now();
    coio_cancel(t);
    coio_await(t);
    s->cancel_elapsed = coio_now() - t0;
    s->calls_during = atomic_load(&fake_made);
    s->all_freed = fake_wait_all_freed(1, 3.0);
    return 0;
}

static void cancelled_lookup_returns_at_once_and_late_result_is_freed(void **state)
{
    (void)state;
    require_backend();
    int fds = coio_test_count_fds();
    struct dns_state s = {0};
    coio_assert_rc(coio_run(cancel_main, &s), 0);
    coio_assert_rc(s.rc, -ECANCELED);
    assert_elapsed(s.cancel_elapsed, 0.0, 0.25); /* the lookup itself takes 0.3 s */
    assert_int_equal(s.calls_during, 0);       /* returned before the answer came */
    assert_int_equal(s.all_freed, 1);
    assert_int_equal(atomic_load(&fake_made), 1);
    assert_int_equal(coio_test_count_fds(), fds); /* the eventfd is closed */
}

static int timeout_main(void *arg)
{
    struct dns_state *s = arg;
    coio_scope sc;
    coio_timeout_begin(&sc, 0.05);
    struct addrinfo *res = NULL;
    double t0 = coio_now();
    s->rc = coio_getaddrinfo("slow.coio.test", "80", NULL, &res);
    s->elapsed = coio_now() - t0;
    coio_scope_end(&sc);
    s->all_freed = fake_wait_all_freed(1, 3.0);
    return res != NULL;
}

static void lookup_in_deadline_scope_times_out(void **state)
{
    (void)state;
    require_backend();
    struct dns_state s = {0};
    coio_assert_rc(coio_run(timeout_main, &s), 0);
    coio_assert_rc(s.rc, -ETIMEDOUT);
    assert_elapsed(s.elapsed, 0.04, 0.29);
    assert_int_equal(s.all_freed, 1);
}

/* Many lookups at once, more than there are resolver threads; every second one is
 * cancelled, some while still queued. */
#define MANY 40
static struct dns_state many[MANY];

static int many_main(void *arg)
{
    (void)arg;
    atomic_store(&fake_delay_us, 20000);
    coio_task *t[MANY];
    for (int i = 0; i < MANY; i++) {
        many[i] = (struct dns_state){.host = "slow.coio.test", .service = "80"};
        t[i] = coio_spawn(lookup, &many[i]);
    }
    coio_sleep(0.03);
    for (int i = 0; i < MANY; i += 2)
        coio_cancel(t[i]);
    int rc = coio_gather_n(t, MANY, NULL);
    (void)rc;
    many[0].all_freed = fake_wait_all_freed(MANY / 2, 5.0);
    return 0;
}

static void many_concurrent_lookups_some_cancelled(void **state)
{
    (void)state;
    require_backend();
    coio_assert_rc(coio_run(many_main, NULL), 0);
    for (int i = 1; i < MANY; i += 2) {
        coio_assert_rc(many[i].rc, 0);
        assert_int_equal(many[i].port, 80);
    }
    for (int i = 0; i < MANY; i += 2)
        assert_true(many[i].rc == -ECANCELED || many[i].rc == 0);
    assert_int_equal(many[0].all_freed, 1);
}

/* The loop keeps running (timers fire) while a lookup blocks its thread. */
static int ticker(void *arg)
{
    int *ticks = arg;
    for (int i = 0; i < 10; i++) {
        coio_sleep(0.01);
        (*ticks)++;
    }
    return 0;
}

static int concurrent_main(void *arg)
{
    struct dns_state *s = arg;
    atomic_store(&fake_delay_us, 200000);
    int ticks = 0;
    s->host = "slow.coio.test";
    s->service = "80";
    coio_task *a = coio_spawn(lookup, s);
    coio_task *b = coio_spawn(ticker, &ticks);
    coio_gather(a, b);
    s->n_done = ticks;
    return 0;
}

static void loop_runs_while_lookup_blocks(void **state)
{
    (void)state;
    require_backend();
    struct dns_state s = {0};
    coio_assert_rc(coio_run(concurrent_main, &s), 0);
    coio_assert_rc(s.rc, 0);
    assert_int_equal(s.n_done, 10);
    assert_elapsed(s.elapsed, 0.19, 1.0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(numeric_host_resolves_on_the_loop_thread),
    cmocka_unit_test(name_resolves_on_a_resolver_thread),
    cmocka_unit_test(lookup_errors_map_to_errno),
    cmocka_unit_test(bad_arguments_are_einval_and_outside_a_task_eperm),
    cmocka_unit_test(cancelled_lookup_returns_at_once_and_late_result_is_freed),
    cmocka_unit_test(lookup_in_deadline_scope_times_out),
    cmocka_unit_test(many_concurrent_lookups_some_cancelled),
    cmocka_unit_test(loop_runs_while_lookup_blocks),
};

COIO_TEST_MAIN(tests)
