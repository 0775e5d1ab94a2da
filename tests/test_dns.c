/* coio-test: io tsan */
/* coio_getaddrinfo: numeric fast path, lookups on resolver threads, errors mapped to
 * errno, and a cancelled or timed-out caller that returns at once while the late result
 * is freed. Names other than numeric ones and "localhost" come from a fake resolver
 * (fake_resolver.h), so nothing leaves the machine. */
#define _GNU_SOURCE
#include "coio_test.h"
#include "net_helpers.h"
#include "fake_resolver.h"

#include <fcntl.h>
#include <netdb.h>
#include <sys/resource.h>

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

/* Long enough that no stall of the loop outlasts it: a caller that returns before the
 * answer exists (fake_made still 0) did not wait for the lookup. */
#define SLOW_LOOKUP_US 2000000

static int cancel_main(void *arg)
{
    struct dns_state *s = arg;
    atomic_store(&fake_delay_us, SLOW_LOOKUP_US);
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
    s->all_freed = fake_wait_all_freed(1, 10.0);
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
    assert_int_equal(s.calls_during, 0); /* returned before the answer came */
    assert_int_equal(s.all_freed, 1);
    assert_int_equal(atomic_load(&fake_made), 1);
    assert_int_equal(coio_test_count_fds(), fds); /* the eventfd is closed */
}

static int timeout_main(void *arg)
{
    struct dns_state *s = arg;
    atomic_store(&fake_delay_us, SLOW_LOOKUP_US);
    coio_scope sc;
    coio_timeout_begin(&sc, 0.05);
    struct addrinfo *res = NULL;
    double t0 = coio_now();
    s->rc = coio_getaddrinfo("slow.coio.test", "80", NULL, &res);
    s->elapsed = coio_now() - t0;
    s->calls_during = atomic_load(&fake_made);
    coio_scope_end(&sc);
    s->all_freed = fake_wait_all_freed(1, 10.0);
    return res != NULL;
}

/* The deadline ends the wait, not the lookup's answer: the caller returns while the
 * resolver thread is still inside getaddrinfo, and not before the deadline. */
static void lookup_in_deadline_scope_times_out(void **state)
{
    (void)state;
    require_backend();
    struct dns_state s = {0};
    coio_assert_rc(coio_run(timeout_main, &s), 0);
    coio_assert_rc(s.rc, -ETIMEDOUT);
    assert_true(s.elapsed >= 0.049);
    assert_int_equal(s.calls_during, 0); /* no answer existed yet */
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

/* ---- EAI codes provoked for real ----------------------------------------------------- */

struct eai_case {
    const char *host, *service;
    int family, socktype, flags;
    int want;
};

static int eai_main(void *arg)
{
    struct eai_case *c = arg;
    struct addrinfo hints = {.ai_family = c->family, .ai_socktype = c->socktype,
                             .ai_flags = c->flags};
    struct addrinfo *res = NULL;
    int rc = coio_getaddrinfo(c->host, c->service, &hints, &res);
    if (res)
        freeaddrinfo(res);
    if (rc != c->want)
        print_error("getaddrinfo(%s, %s, family %d, socktype %d, flags %#x): got %s, want %s\n",
                    c->host ? c->host : "NULL", c->service ? c->service : "NULL", c->family,
                    c->socktype, (unsigned)c->flags, coio_err_name(rc), coio_err_name(c->want));
    return rc == c->want ? 0 : -1;
}

/* EAI_FAMILY, EAI_SOCKTYPE and EAI_BADFLAGS from the real getaddrinfo, on the loop
 * thread (numeric host) and on a resolver thread (a name). */
static void bad_hints_map_to_documented_errnos(void **state)
{
    (void)state;
    require_backend();
    struct eai_case cases[] = {
        {"127.0.0.1", "80", 12345, SOCK_STREAM, 0, -EAFNOSUPPORT},
        {"localhost", "80", 12345, SOCK_STREAM, 0, -EAFNOSUPPORT},
        {"127.0.0.1", "80", AF_INET, 12345, 0, -ESOCKTNOSUPPORT},
        {"localhost", "80", AF_INET, 12345, 0, -ESOCKTNOSUPPORT},
        {"127.0.0.1", "80", AF_INET, SOCK_STREAM, 0x10000000, -EINVAL},
        {"localhost", "80", AF_INET, SOCK_STREAM, 0x10000000, -EINVAL},
        {NULL, "80", AF_INET, SOCK_STREAM, AI_CANONNAME, -EINVAL}, /* no host to name */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        coio_assert_rc(coio_run(eai_main, &cases[i]), 0);
}

struct emfile_state {
    int rc;
    int filled;
};

/* EAI_SYSTEM: with one fd left, the lookup's eventfd takes it and the resolver thread
 * cannot open /etc/hosts; getaddrinfo says EAI_SYSTEM with errno EMFILE. */
static int emfile_main(void *arg)
{
    struct emfile_state *s = arg;
    struct rlimit old, low;
    if (getrlimit(RLIMIT_NOFILE, &old) != 0)
        return -errno;
    low = old;
    low.rlim_cur = 256;
    if (low.rlim_cur > old.rlim_cur || setrlimit(RLIMIT_NOFILE, &low) != 0)
        return -EPERM;
    static int fds[256];
    int n = 0, fd;
    while (n < 256 && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
        fds[n++] = fd;
    s->filled = n;
    if (n > 0)
        close(fds[--n]); /* exactly one slot free */
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    s->rc = coio_getaddrinfo("localhost", "80", &hints, &res);
    if (res)
        freeaddrinfo(res);
    while (n > 0)
        close(fds[--n]);
    setrlimit(RLIMIT_NOFILE, &old);
    return 0;
}

static void resolver_system_error_is_its_errno(void **state)
{
    (void)state;
    require_backend();
    struct emfile_state s = {0};
    coio_assert_rc(coio_run(emfile_main, &s), 0);
    assert_true(s.filled > 0);
    coio_assert_rc(s.rc, -EMFILE);
}

/* ---- service strings: a port is 0..65535 in decimal digits, or a name ------------------ */

static const char *const bad_ports[] = {"99999", "65536", "4294967376", "-1", "+80", "",
                                        " 80", "80 ", "80abc", "0x50", "8.0", "-0"};

struct port_state {
    int gai_numeric[sizeof bad_ports / sizeof bad_ports[0]];
    int gai_name[sizeof bad_ports / sizeof bad_ports[0]];
    int listen[sizeof bad_ports / sizeof bad_ports[0]];
    int connect[sizeof bad_ports / sizeof bad_ports[0]];
    int udp_bind[sizeof bad_ports / sizeof bad_ports[0]];
    int udp_connect[sizeof bad_ports / sizeof bad_ports[0]];
    int good[4];
    int good_port[4];
    int named_rc, named_port;
};

static int port_of(const struct addrinfo *ai)
{
    return ntohs(((const struct sockaddr_in *)ai->ai_addr)->sin_port);
}

static int ports_main(void *arg)
{
    struct port_state *s = arg;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res;
    for (size_t i = 0; i < sizeof bad_ports / sizeof bad_ports[0]; i++) {
        const char *p = bad_ports[i];
        res = NULL;
        s->gai_numeric[i] = coio_getaddrinfo("127.0.0.1", p, &hints, &res);
        if (res)
            freeaddrinfo(res);
        res = NULL;
        s->gai_name[i] = coio_getaddrinfo("localhost", p, &hints, &res);
        if (res)
            freeaddrinfo(res);
        int fd = coio_tcp_listen("127.0.0.1", p, 0);
        s->listen[i] = fd;
        if (fd >= 0)
            coio_close(fd);
        fd = coio_tcp_connect("127.0.0.1", p);
        s->connect[i] = fd == -ECONNREFUSED ? 0 : fd; /* connected to a wrapped port */
        if (fd >= 0)
            coio_close(fd);
        fd = coio_udp_bind("127.0.0.1", p);
        s->udp_bind[i] = fd;
        if (fd >= 0)
            coio_close(fd);
        fd = coio_udp_connect("127.0.0.1", p);
        s->udp_connect[i] = fd;
        if (fd >= 0)
            coio_close(fd);
    }
    static const char *const good[] = {"0", "65535", "00080", "1"};
    static const int good_port[] = {0, 65535, 80, 1};
    for (int i = 0; i < 4; i++) {
        res = NULL;
        s->good[i] = coio_getaddrinfo("localhost", good[i], &hints, &res);
        s->good_port[i] = res ? port_of(res) : -1;
        if (res)
            freeaddrinfo(res);
        (void)good_port;
    }
    res = NULL;
    s->named_rc = coio_getaddrinfo("127.0.0.1", "http", &hints, &res);
    s->named_port = res ? port_of(res) : -1;
    if (res)
        freeaddrinfo(res);
    return 0;
}

static void out_of_range_or_junk_ports_are_einval(void **state)
{
    (void)state;
    require_backend();
    static struct port_state s;
    coio_assert_rc(coio_run(ports_main, &s), 0);
    for (size_t i = 0; i < sizeof bad_ports / sizeof bad_ports[0]; i++) {
        print_message("service \"%s\"\n", bad_ports[i]);
        coio_assert_rc(s.gai_numeric[i], -EINVAL);
        coio_assert_rc(s.gai_name[i], -EINVAL);
        coio_assert_rc(s.listen[i], -EINVAL);
        coio_assert_rc(s.connect[i], -EINVAL);
        coio_assert_rc(s.udp_bind[i], -EINVAL);
        coio_assert_rc(s.udp_connect[i], -EINVAL);
    }
    static const int good_port[] = {0, 65535, 80, 1};
    for (int i = 0; i < 4; i++) {
        coio_assert_rc(s.good[i], 0);
        assert_int_equal(s.good_port[i], good_port[i]);
    }
    if (!getservbyname("http", "tcp")) {
        print_message("[  SKIPPED ] no /etc/services entry for http (netbase)\n");
        exit(77);
    }
    coio_assert_rc(s.named_rc, 0); /* names still work */
    assert_int_equal(s.named_port, 80);
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
    cmocka_unit_test(bad_hints_map_to_documented_errnos),
    cmocka_unit_test(resolver_system_error_is_its_errno),
    cmocka_unit_test(out_of_range_or_junk_ports_are_einval),
};

COIO_TEST_MAIN(tests)
