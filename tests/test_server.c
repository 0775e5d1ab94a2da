/* coio-test: io timeout=120 */
/* coio_server: echo served to real clients (Python asyncio, nc, and the examples'
 * echo_server binary), clients that reset, half-close, trickle or stay silent, the
 * connection limit, graceful shutdown (grace period, then cancellation), EMFILE on
 * accept (back off, recover), coio_server_wait, and 1,000 concurrent connections.
 * Runs once per backend. */
#define _GNU_SOURCE
#include "coio_test.h"
#include "net_helpers.h"

#include <valgrind/valgrind.h>

#include <limits.h>
#include <math.h>

static int echo_handler(int fd, void *arg)
{
    (void)arg;
    char buf[16384];
    for (;;) {
        ssize_t n = coio_recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            return (int)n;
        ssize_t w = coio_send_all(fd, buf, (size_t)n, 0);
        if (w < 0)
            return (int)w;
    }
}

struct srv_state {
    coio_server *srv;
    int port;
    char portstr[16];
    int rc[12];
    double t[4];
    char out[512];
    coio_server_stats st;
    int status[8];
};

static int start_echo(struct srv_state *s, const coio_server_opts *opts)
{
    int fd = coio_tcp_listen("127.0.0.1", "0", 0);
    if (fd < 0)
        return fd;
    s->port = local_port(fd);
    snprintf(s->portstr, sizeof s->portstr, "%d", s->port);
    s->srv = coio_server_start(fd, echo_handler, s, opts);
    return s->srv ? 0 : -errno;
}

static int run_peer(char *const argv[], const char *input, char *out, size_t outcap,
                    double seconds)
{
    peer p = {.pid = -1, .out = -1};
    int in[2] = {-1, -1};
    if (input) {
        if (pipe2(in, O_CLOEXEC) < 0)
            return -errno;
        ssize_t w = write(in[1], input, strlen(input)); /* small: fits the pipe */
        (void)w;
        close(in[1]);
    }
    int r = peer_start(&p, argv, out != NULL, in[0]);
    if (in[0] >= 0)
        close(in[0]);
    if (r < 0)
        return r;
    if (out)
        peer_read_all(&p, out, outcap);
    return peer_wait(&p, seconds);
}

static char *netpeer(void)
{
    return (char *)peer_script("netpeer.py");
}

/* Conditions a case waits for, polled every 5 ms for up to 10 s so that a stalled loop
 * only makes the case slower. Return whether the condition came true. */
static int wait_int_at_least(const int *value, int want)
{
    for (double end = coio_now() + 10; *value < want && coio_now() < end;)
        coio_sleep(0.005);
    return *value >= want;
}

static int wait_stat_at_least(coio_server *srv, size_t field, uint64_t want)
{
    coio_server_stats st = {0};
    for (double end = coio_now() + 10;; coio_sleep(0.005)) {
        coio_server_stats_get(srv, &st);
        uint64_t v = *(const uint64_t *)((const char *)&st + field);
        if (v >= want)
            return 1;
        if (coio_now() >= end)
            return 0;
    }
}

#define WAIT_STAT(srv, field, want) \
    wait_stat_at_least((srv), offsetof(coio_server_stats, field), (want))

/* ---- real clients ------------------------------------------------------------------- */

static int python_main(void *arg)
{
    struct srv_state *s = arg;
    if (start_echo(s, NULL) < 0)
        return -1;
    char *argv[] = {(char *)python3_path(), netpeer(), "echo-client", s->portstr, "20", "50",
                    "1000", NULL};
    s->status[0] = run_peer(argv, NULL, NULL, 0, 60);
    coio_server_stats_get(s->srv, &s->st);
    s->rc[0] = coio_server_close(s->srv, 1.0);
    return 0;
}

static void echo_server_serves_python_asyncio_client(void **state)
{
    (void)state;
    require_backend();
    struct srv_state s = {0};
    coio_assert_rc(coio_run(python_main, &s), 0);
    assert_int_equal(s.status[0], 0);
    assert_int_equal(s.st.accepted, 20);
    coio_assert_rc(s.rc[0], 0);
}

static int nc_main(void *arg)
{
    struct srv_state *s = arg;
    if (start_echo(s, NULL) < 0)
        return -1;
    char *argv[] = {"nc", "-N", "127.0.0.1", s->portstr, NULL};
    s->status[0] = run_peer(argv, "hello from nc\nsecond line\n", s->out, sizeof s->out, 10);
    s->rc[0] = coio_server_close(s->srv, 1.0);
    return 0;
}

static void echo_server_serves_nc(void **state)
{
    (void)state;
    require_backend();
    coio_test_require_program("nc", "netcat-openbsd");
    struct srv_state s = {0};
    coio_assert_rc(coio_run(nc_main, &s), 0);
    assert_int_equal(s.status[0], 0);
    assert_string_equal(s.out, "hello from nc\nsecond line\n");
    coio_assert_rc(s.rc[0], 0);
}

/* examples/echo_server, run as its own process, against nc and the asyncio client. */
static char echo_server_bin[PATH_MAX];

static int example_main(void *arg)
{
    struct srv_state *s = arg;
    char *argv[] = {echo_server_bin, "0", NULL};
    peer srv = {.pid = -1, .out = -1};
    if (peer_start(&srv, argv, 1, -1) < 0)
        return -1;
    char line[64];
    size_t got = 0;
    while (got + 1 < sizeof line && coio_read(srv.out, line + got, 1) == 1 && line[got] != '\n')
        got++;
    line[got] = '\0';
    if (sscanf(line, "listening on 127.0.0.1:%d", &s->port) != 1)
        return -2;
    snprintf(s->portstr, sizeof s->portstr, "%d", s->port);
    char *nc[] = {"nc", "-N", "127.0.0.1", s->portstr, NULL};
    s->status[0] = run_peer(nc, "over nc\n", s->out, sizeof s->out, 10);
    char *py[] = {(char *)python3_path(), netpeer(), "echo-client", s->portstr, "10", "20",
                  "4096", NULL};
    s->status[1] = run_peer(py, NULL, NULL, 0, 60);
    kill(srv.pid, SIGTERM);
    s->status[2] = peer_wait(&srv, 5);
    return 0;
}

static void example_echo_server_with_nc_and_python(void **state)
{
    (void)state;
    require_backend();
    coio_test_require_program("nc", "netcat-openbsd");
    snprintf(echo_server_bin, sizeof echo_server_bin, "%s",
             example_path("echo_server", "COIO_ECHO_SERVER"));
    struct srv_state s = {0};
    coio_assert_rc(coio_run(example_main, &s), 0);
    assert_int_equal(s.status[0], 0);
    assert_string_equal(s.out, "over nc\n");
    assert_int_equal(s.status[1], 0);
    assert_int_equal(s.status[2], 128 + SIGTERM);
}

/* ---- misbehaving clients ------------------------------------------------------------ */

static int misbehaving_main(void *arg)
{
    struct srv_state *s = arg;
    if (start_echo(s, NULL) < 0)
        return -1;
    char *py = (char *)python3_path();
    char *reset[] = {py, netpeer(), "reset", s->portstr, NULL};
    char *half[] = {py, netpeer(), "half-close", s->portstr, "half and half", NULL};
    char *trickle[] = {py, netpeer(), "trickle", s->portstr, "drip drop", "0.01", NULL};
    char *silent[] = {py, netpeer(), "silent", s->portstr, "30", NULL};
    peer quiet = {.pid = -1, .out = -1};
    peer_start(&quiet, silent, 0, -1); /* stays connected, says nothing */
    WAIT_STAT(s->srv, accepted, 1);     /* connected before the others come and go */
    s->status[0] = run_peer(reset, NULL, NULL, 0, 10);
    s->status[1] = run_peer(half, NULL, s->out, sizeof s->out, 10);
    s->status[2] = run_peer(trickle, NULL, NULL, 0, 10);
    /* still serving */
    char *ok[] = {py, netpeer(), "echo-client", s->portstr, "3", "10", "100", NULL};
    s->status[3] = run_peer(ok, NULL, NULL, 0, 30);
    coio_server_stats_get(s->srv, &s->st);
    /* the silent client's handler is the one left: cancelled after the grace period */
    double t0 = coio_now();
    s->rc[0] = coio_server_close(s->srv, 0.2);
    s->t[0] = coio_now() - t0;
    kill(quiet.pid, SIGTERM);
    peer_wait(&quiet, 5);
    return 0;
}

static void server_survives_reset_half_closing_trickling_and_silent_clients(void **state)
{
    (void)state;
    require_backend();
    int fds = coio_test_count_fds();
    struct srv_state s = {0};
    coio_assert_rc(coio_run(misbehaving_main, &s), 0);
    assert_int_equal(s.status[0], 0);
    assert_int_equal(s.status[1], 0);
    assert_string_equal(s.out, "half and half");
    assert_int_equal(s.status[2], 0);
    assert_int_equal(s.status[3], 0);
    assert_int_equal(s.st.accepted, 7);
    coio_assert_rc(s.rc[0], 1);
    assert_elapsed(s.t[0], 0.19, 5.0);
    assert_int_equal(coio_test_count_fds(), fds);
}

/* ---- connection limit, graceful shutdown, wait ------------------------------------- */

struct hold {
    int release;     /* handlers return when this is set */
    int started;     /* handlers that got their client's hello */
    int served, cancelled;
    double finish_after; /* > 0: the handler returns by itself after this long */
};

static int holding_handler(int fd, void *arg)
{
    struct hold *h = arg;
    char c;
    if (coio_recv(fd, &c, 1, 0) != 1) /* the client's hello */
        return -1;
    h->started++;
    double end = h->finish_after > 0 ? coio_now() + h->finish_after : 1e300;
    while (!h->release && coio_now() < end) {
        int r = coio_sleep(0.005);
        if (r < 0) {
            h->cancelled++;
            return r;
        }
    }
    coio_send(fd, "k", 1, 0);
    h->served++;
    return 0;
}

static int connect_and_hello(const char *port)
{
    int fd = coio_tcp_connect("127.0.0.1", port);
    if (fd >= 0)
        coio_send(fd, "h", 1, 0);
    return fd;
}

static int limit_main(void *arg)
{
    struct srv_state *s = arg;
    struct hold h = {0};
    int fd = coio_tcp_listen("127.0.0.1", "0", 0);
    snprintf(s->portstr, sizeof s->portstr, "%d", local_port(fd));
    coio_server_opts o = {.max_connections = 2};
    s->srv = coio_server_start(fd, holding_handler, &h, &o);
    int c[3];
    for (int i = 0; i < 2; i++)
        c[i] = connect_and_hello(s->portstr);
    c[2] = coio_tcp_connect("127.0.0.1", s->portstr); /* waits in the backlog */
    wait_int_at_least(&h.started, 2);
    coio_sleep(0.02); /* time for a server that ignored the limit to accept c[2] */
    coio_server_stats_get(s->srv, &s->st);
    s->rc[0] = (int)s->st.accepted;
    s->rc[1] = (int)s->st.active;
    h.release = 1;
    char k;
    for (int i = 0; i < 2; i++)
        s->rc[2 + i] = (int)coio_recv(c[i], &k, 1, 0);
    h.release = 0; /* the third one is accepted once a slot is free, then held */
    coio_send(c[2], "h", 1, 0);
    wait_int_at_least(&h.started, 3);
    for (double end = coio_now() + 10; s->st.active != 1 && coio_now() < end;) {
        coio_sleep(0.005); /* the first two handlers end after sending their "k" */
        coio_server_stats_get(s->srv, &s->st);
    }
    coio_server_stats_get(s->srv, &s->st);
    s->rc[4] = (int)s->st.accepted;
    s->rc[5] = (int)s->st.active;
    h.release = 1;
    s->rc[6] = (int)coio_recv(c[2], &k, 1, 0);
    s->rc[7] = coio_server_close(s->srv, 1.0);
    s->rc[8] = h.served;
    for (int i = 0; i < 3; i++)
        coio_close(c[i]);
    return 0;
}

static void connection_limit_keeps_extra_clients_in_the_backlog(void **state)
{
    (void)state;
    require_backend();
    struct srv_state s = {0};
    coio_assert_rc(coio_run(limit_main, &s), 0);
    assert_int_equal(s.rc[0], 2);
    assert_int_equal(s.rc[1], 2);
    coio_assert_rc(s.rc[2], 1);
    coio_assert_rc(s.rc[3], 1);
    assert_int_equal(s.rc[4], 3);
    assert_int_equal(s.rc[5], 1);
    coio_assert_rc(s.rc[6], 1);
    coio_assert_rc(s.rc[7], 0);
    assert_int_equal(s.rc[8], 3);
}

static int waiter_task(void *arg)
{
    struct srv_state *s = arg;
    double t0 = coio_now();
    s->rc[5] = coio_server_wait(s->srv);
    s->t[1] = coio_now() - t0;
    return 0;
}

static int shutdown_main(void *arg)
{
    struct srv_state *s = arg;
    struct hold h = {.finish_after = 0.05};
    int fd = coio_tcp_listen("127.0.0.1", "0", 0);
    snprintf(s->portstr, sizeof s->portstr, "%d", local_port(fd));
    s->srv = coio_server_start(fd, holding_handler, &h, NULL);
    coio_task *w = coio_spawn(waiter_task, s);
    int c[3];
    for (int i = 0; i < 3; i++)
        c[i] = connect_and_hello(s->portstr);
    wait_int_at_least(&h.started, 3);
    s->rc[6] = coio_server_wait(s->srv); /* a second waiter */
    /* handlers finish 50 ms after their hello: a 5 s grace period is plenty */
    double t0 = coio_now();
    s->rc[0] = coio_server_close(s->srv, 5.0);
    s->t[0] = coio_now() - t0;
    s->rc[1] = h.served;
    coio_await(w);
    /* a new connection is refused now */
    s->rc[2] = coio_tcp_connect("127.0.0.1", s->portstr);
    for (int i = 0; i < 3; i++)
        coio_close(c[i]);

    /* now handlers that never finish: cancelled when the grace period ends */
    struct hold forever = {0};
    fd = coio_tcp_listen("127.0.0.1", "0", 0);
    snprintf(s->portstr, sizeof s->portstr, "%d", local_port(fd));
    s->srv = coio_server_start(fd, holding_handler, &forever, NULL);
    for (int i = 0; i < 3; i++)
        c[i] = connect_and_hello(s->portstr);
    wait_int_at_least(&forever.started, 3);
    t0 = coio_now();
    s->rc[3] = coio_server_close(s->srv, 0.1);
    s->t[2] = coio_now() - t0;
    s->rc[4] = forever.cancelled;
    char k;
    s->rc[7] = (int)coio_recv(c[0], &k, 1, 0); /* the server closed it: EOF */
    for (int i = 0; i < 3; i++)
        coio_close(c[i]);
    return 0;
}

static void graceful_shutdown_waits_for_handlers_then_cancels_them(void **state)
{
    (void)state;
    require_backend();
    int fds = coio_test_count_fds();
    struct srv_state s = {0};
    coio_assert_rc(coio_run(shutdown_main, &s), 0);
    coio_assert_rc(s.rc[0], 0); /* nobody had to be cancelled */
    assert_int_equal(s.rc[1], 3);
    assert_elapsed(s.t[0], 0.0, 4.0); /* not the whole grace period */
    coio_assert_rc(s.rc[2], -ECONNREFUSED);
    coio_assert_rc(s.rc[3], 3);
    assert_int_equal(s.rc[4], 3);
    assert_elapsed(s.t[2], 0.09, 5.0);
    coio_assert_rc(s.rc[5], 0); /* coio_server_wait: closed */
    coio_assert_rc(s.rc[6], -EBUSY);
    coio_assert_rc(s.rc[7], 0);
    assert_int_equal(coio_test_count_fds(), fds);
}

static int closer_task(void *arg)
{
    struct srv_state *s = arg;
    s->rc[0] = coio_server_close(s->srv, 5.0);
    return 0;
}

static int cancelled_close_main(void *arg)
{
    struct srv_state *s = arg;
    struct hold h = {0};
    int fd = coio_tcp_listen("127.0.0.1", "0", 0);
    snprintf(s->portstr, sizeof s->portstr, "%d", local_port(fd));
    s->srv = coio_server_start(fd, holding_handler, &h, NULL);
    int c = connect_and_hello(s->portstr);
    wait_int_at_least(&h.started, 1);
    coio_task *t = coio_spawn(closer_task, s);
    coio_sleep(0.05); /* the closer waits in its grace period */
    double t0 = coio_now();
    coio_cancel(t);
    coio_await(t);
    s->t[0] = coio_now() - t0;
    s->rc[1] = h.cancelled;
    coio_close(c);
    /* a fatal accept error ends coio_server_wait with it */
    int l2 = coio_tcp_listen("127.0.0.1", "0", 0);
    coio_server *s2 = coio_server_start(l2, holding_handler, &h, NULL);
    coio_sleep(0.01);
    shutdown(l2, SHUT_RD); /* no longer listening: accept fails with EINVAL */
    s->rc[2] = coio_server_wait(s2);
    s->rc[3] = coio_server_close(s2, 0);
    return 0;
}

static void cancelled_shutdown_still_completes(void **state)
{
    (void)state;
    require_backend();
    int fds = coio_test_count_fds();
    struct srv_state s = {0};
    coio_assert_rc(coio_run(cancelled_close_main, &s), 0);
    coio_assert_rc(s.rc[0], -ECANCELED);
    assert_elapsed(s.t[0], 0.0, 4.0); /* not the 5 s grace period */
    assert_int_equal(s.rc[1], 1);
    assert_true(s.rc[2] < 0 && s.rc[2] != -ECANCELED);
    coio_assert_rc(s.rc[3], 0);
    assert_int_equal(coio_test_count_fds(), fds);
}

/* The handler owns its fd with COIO_SERVER_HANDLER_CLOSES. */
static int closing_handler(int fd, void *arg)
{
    int *n = arg;
    coio_send(fd, "bye", 3, 0);
    (*n)++;
    return coio_close(fd);
}

static int owns_main(void *arg)
{
    struct srv_state *s = arg;
    int n = 0;
    char name[64]; /* per process: the two backends' entries may run at once */
    snprintf(name, sizeof name, "@coio-test-server-owns-%d", (int)getpid());
    int fd = coio_unix_listen(name, 0);
    coio_server_opts o = {.flags = COIO_SERVER_HANDLER_CLOSES};
    s->srv = coio_server_start(fd, closing_handler, &n, &o);
    for (int i = 0; i < 5; i++) {
        int c = coio_unix_connect(name);
        char b[8];
        ssize_t got = 0, r;
        while ((r = coio_recv(c, b + got, sizeof b - (size_t)got, 0)) > 0)
            got += r;
        s->rc[i] = (int)got;
        coio_close(c);
    }
    s->rc[5] = coio_server_close(s->srv, 1);
    s->rc[6] = n;
    return 0;
}

static void handler_may_own_the_fd_on_a_unix_socket(void **state)
{
    (void)state;
    require_backend();
    int fds = coio_test_count_fds();
    struct srv_state s = {0};
    coio_assert_rc(coio_run(owns_main, &s), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(s.rc[i], 3);
    coio_assert_rc(s.rc[5], 0);
    assert_int_equal(s.rc[6], 5);
    assert_int_equal(coio_test_count_fds(), fds);
}

/* ---- EMFILE ------------------------------------------------------------------------- */

#define EMFILE_CLIENTS 3

struct emfile_state {
    struct srv_state s;
    int c[EMFILE_CLIENTS];
    int echoed[EMFILE_CLIENTS];
    int errors_while_limited;
    int last_error;
    int late_ok;
    struct rlimit saved;
};

/* Starts an echo server (options o), then lowers RLIMIT_NOFILE so that accepting fails
 * with EMFILE while EMFILE_CLIENTS clients connect and send. */
static int emfile_begin(struct emfile_state *e, const coio_server_opts *o)
{
    struct srv_state *s = &e->s;
    if (start_echo(s, o) < 0)
        return -1;
    /* client sockets first: connecting needs no new fd, accepting does */
    for (int i = 0; i < EMFILE_CLIENTS; i++)
        e->c[i] = coio_socket(AF_INET, SOCK_STREAM, 0);
    int probe = dup(0); /* the lowest free fd number */
    close(probe);
    getrlimit(RLIMIT_NOFILE, &e->saved);
    struct rlimit low = {.rlim_cur = (rlim_t)probe, .rlim_max = e->saved.rlim_max};
    setrlimit(RLIMIT_NOFILE, &low);
    struct sockaddr_in sa = loopback_addr(s->port);
    for (int i = 0; i < EMFILE_CLIENTS; i++) {
        coio_connect(e->c[i], (struct sockaddr *)&sa, sizeof sa); /* the kernel completes it */
        coio_send(e->c[i], "emfile", 6, 0);
    }
    return 0;
}

/* Gives the fds back and checks that the server serves the waiting and new clients. */
static void emfile_end(struct emfile_state *e)
{
    struct srv_state *s = &e->s;
    setrlimit(RLIMIT_NOFILE, &e->saved); /* fds are available again */
    for (int i = 0; i < EMFILE_CLIENTS; i++) {
        char b[8];
        e->echoed[i] = (int)coio_recv(e->c[i], b, sizeof b, 0);
        coio_close(e->c[i]);
    }
    /* and it serves new clients as before */
    int c = coio_tcp_connect("127.0.0.1", s->portstr);
    char b[4];
    e->late_ok = c >= 0 && coio_send(c, "ok", 2, 0) == 2 && coio_recv(c, b, 4, 0) == 2;
    coio_close(c);
    coio_server_stats_get(s->srv, &s->st);
    s->rc[0] = coio_server_close(s->srv, 1);
}

static int emfile_main(void *arg)
{
    struct emfile_state *e = arg;
    struct srv_state *s = &e->s;
    if (emfile_begin(e, NULL) < 0)
        return -1;
    /* The server fails to accept: EMFILE, backing off (10, 20, 40 ms ...): a busy loop
     * would fail thousands of times in the 0.2 s after the second failure. */
    WAIT_STAT(s->srv, accept_errors, 2);
    coio_sleep(0.2);
    coio_server_stats_get(s->srv, &s->st);
    e->errors_while_limited = (int)s->st.accept_errors;
    e->last_error = s->st.last_error;
    emfile_end(e);
    return 0;
}

static void emfile_checks(const struct emfile_state *e, int fds)
{
    for (int i = 0; i < EMFILE_CLIENTS; i++)
        coio_assert_rc(e->echoed[i], 6);
    assert_int_equal(e->late_ok, 1);
    assert_int_equal(e->s.st.accepted, EMFILE_CLIENTS + 1);
    coio_assert_rc(e->s.rc[0], 0);
    assert_int_equal(coio_test_count_fds(), fds);
}

static void emfile_on_accept_backs_off_and_recovers(void **state)
{
    (void)state;
    require_backend();
    if (RUNNING_ON_VALGRIND)
        coio_test_skip("Valgrind keeps fds of its own below the limit this test lowers");
    int fds = coio_test_count_fds();
    struct emfile_state e = {0};
    coio_assert_rc(coio_run(emfile_main, &e), 0);
    assert_true(e.errors_while_limited >= 2); /* retried, with back-off */
    assert_true(e.errors_while_limited < 20); /* ... not in a busy loop */
    coio_assert_rc(e.last_error, -EMFILE);
    emfile_checks(&e, fds);
}

/* accept_retry_max caps the back-off. From the first EMFILE to the twelfth the server
 * sleeps 11 times: 10 ms, then 20 ms each with a 20 ms cap (0.21 s in all), while the
 * default 1 s cap makes it 10, 20, 40 ... 640 ms, then 1 s four times (5.27 s). */
static int emfile_retry_max_main(void *arg)
{
    struct emfile_state *e = arg;
    struct srv_state *s = &e->s;
    coio_server_opts o = {.accept_retry_max = 0.02};
    if (emfile_begin(e, &o) < 0)
        return -1;
    WAIT_STAT(s->srv, accept_errors, 1);
    double t0 = coio_now();
    WAIT_STAT(s->srv, accept_errors, 12);
    s->t[0] = coio_now() - t0;
    coio_server_stats_get(s->srv, &s->st);
    e->errors_while_limited = (int)s->st.accept_errors;
    e->last_error = s->st.last_error;
    emfile_end(e);
    return 0;
}

static void accept_retry_max_caps_the_back_off(void **state)
{
    (void)state;
    require_backend();
    if (RUNNING_ON_VALGRIND)
        coio_test_skip("Valgrind keeps fds of its own below the limit this test lowers");
    int fds = coio_test_count_fds();
    struct emfile_state e = {0};
    coio_assert_rc(coio_run(emfile_retry_max_main, &e), 0);
    assert_true(e.errors_while_limited >= 12);
    coio_assert_rc(e.last_error, -EMFILE);
    /* still backing off (>= 0.21 s), but never longer than 20 ms at a time */
    assert_elapsed(e.s.t[0], 0.2, 3.0);
    emfile_checks(&e, fds);
}

/* ---- a client that resets before it is accepted ------------------------------------- */

/* The server is at its connection limit, so a second client waits in the backlog; it
 * resets (SO_LINGER 0, close) before the server accepts it. Linux still hands the
 * connection to accept (the handler reads ECONNRESET); kernels that fail accept with
 * ECONNABORTED instead make the server retry at once. Either way it serves on. */
static int reset_in_backlog_main(void *arg)
{
    struct srv_state *s = arg;
    struct hold h = {0};
    int fd = coio_tcp_listen("127.0.0.1", "0", 8);
    snprintf(s->portstr, sizeof s->portstr, "%d", local_port(fd));
    coio_server_opts o = {.max_connections = 1};
    s->srv = coio_server_start(fd, holding_handler, &h, &o);
    int c0 = connect_and_hello(s->portstr);
    wait_int_at_least(&h.started, 1); /* at the limit: no more accepts for now */
    int r = coio_tcp_connect("127.0.0.1", s->portstr);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(r, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    coio_close(r); /* RST while it waits in the backlog */
    h.release = 1;
    char k;
    s->rc[0] = (int)coio_recv(c0, &k, 1, 0);
    int c2 = connect_and_hello(s->portstr);
    s->rc[1] = (int)coio_recv(c2, &k, 1, 0);
    coio_server_stats_get(s->srv, &s->st);
    s->rc[2] = coio_server_close(s->srv, 1.0);
    s->rc[3] = h.served;
    coio_close(c0);
    coio_close(c2);
    return 0;
}

static void client_reset_before_accept_does_not_stop_the_server(void **state)
{
    (void)state;
    require_backend();
    int fds = coio_test_count_fds();
    struct srv_state s = {0};
    coio_assert_rc(coio_run(reset_in_backlog_main, &s), 0);
    coio_assert_rc(s.rc[0], 1);
    coio_assert_rc(s.rc[1], 1);
    coio_assert_rc(s.rc[2], 0);
    assert_int_equal(s.rc[3], 2);
    /* the reset one: accepted (Linux) or an ECONNABORTED survived */
    assert_int_equal(s.st.accepted + s.st.accept_errors, 3);
    if (s.st.accept_errors)
        coio_assert_rc(s.st.last_error, -ECONNABORTED);
    assert_int_equal(coio_test_count_fds(), fds);
}

/* ---- closing and aborting the clients, naming them --------------------------------- */

struct named_hold {
    struct hold h;
    char peer[3][COIO_ADDRSTRLEN];
    int named;
};

static int peer_naming_handler(int fd, void *arg)
{
    struct named_hold *nh = arg;
    int i = nh->named++;
    if (i < 3)
        coio_peer_name(fd, nh->peer[i], sizeof nh->peer[i]);
    return holding_handler(fd, &nh->h);
}

static int wait_active(coio_server *srv, uint64_t want)
{
    coio_server_stats st = {0};
    for (double end = coio_now() + 10;; coio_sleep(0.005)) {
        coio_server_stats_get(srv, &st);
        if (st.active == want)
            return 1;
        if (coio_now() >= end)
            return 0;
    }
}

static int clients_main(void *arg)
{
    struct srv_state *s = arg;
    struct named_hold nh = {0};
    int fd = coio_tcp_listen("127.0.0.1", "0", 0);
    s->srv = coio_server_start(fd, peer_naming_handler, &nh, NULL);
    s->port = coio_sock_port(coio_server_fd(s->srv)); /* the port the kernel chose */
    snprintf(s->portstr, sizeof s->portstr, "%d", s->port);
    int c[3];
    c[0] = connect_and_hello(s->portstr);
    c[1] = connect_and_hello(s->portstr);
    wait_int_at_least(&nh.h.started, 2);
    /* close_clients: the handlers are cancelled, the clients see an orderly EOF */
    s->rc[0] = coio_server_close_clients(s->srv);
    wait_int_at_least(&nh.h.cancelled, 2);
    char k;
    s->rc[1] = (int)coio_recv(c[0], &k, 1, 0);
    s->rc[2] = (int)coio_recv(c[1], &k, 1, 0);
    s->rc[3] = wait_active(s->srv, 0);
    /* the server still accepts; abort_clients resets the connection */
    c[2] = connect_and_hello(s->portstr);
    s->rc[4] = wait_int_at_least(&nh.h.started, 3);
    s->rc[5] = coio_server_abort_clients(s->srv);
    s->rc[6] = (int)coio_recv(c[2], &k, 1, 0);
    wait_int_at_least(&nh.h.cancelled, 3);
    s->rc[7] = wait_active(s->srv, 0);
    s->rc[8] = coio_server_close_clients(NULL) * 100 + coio_server_abort_clients(NULL);
    s->rc[9] = coio_server_close(s->srv, 0);
    /* each handler named its client: the client's own address */
    int named = 0;
    for (int i = 0; i < 3; i++) {
        char own[COIO_ADDRSTRLEN];
        coio_sock_name(c[i], own, sizeof own);
        for (int j = 0; j < 3; j++)
            named += strcmp(own, nh.peer[j]) == 0;
        coio_close(c[i]);
    }
    s->rc[10] = named;
    s->rc[11] = nh.h.served;
    return 0;
}

static void close_and_abort_clients_end_the_handlers_and_server_names_peers(void **state)
{
    (void)state;
    require_backend();
    int fds = coio_test_count_fds();
    struct srv_state s = {0};
    coio_assert_rc(coio_run(clients_main, &s), 0);
    assert_true(s.port > 0);
    coio_assert_rc(s.rc[0], 2);
    coio_assert_rc(s.rc[1], 0); /* EOF: closed, not reset */
    coio_assert_rc(s.rc[2], 0);
    assert_int_equal(s.rc[3], 1);
    assert_int_equal(s.rc[4], 1);
    coio_assert_rc(s.rc[5], 1);
    coio_assert_rc(s.rc[6], -ECONNRESET);
    assert_int_equal(s.rc[7], 1);
    coio_assert_rc(s.rc[8], -EINVAL * 101);
    coio_assert_rc(s.rc[9], 0); /* nobody left to cancel */
    assert_int_equal(s.rc[10], 3);
    assert_int_equal(s.rc[11], 0);
    assert_int_equal(coio_test_count_fds(), fds);
}

/* ---- misuse ------------------------------------------------------------------------- */

static int nop_handler(int fd, void *arg)
{
    (void)fd;
    (void)arg;
    return 0;
}

struct misuse {
    coio_server *srv;
    int rc[8];
    int err[4];
};

/* On a worker thread: no loop there, so these calls are outside any task. */
static int misuse_off_loop(void *arg)
{
    struct misuse *m = arg;
    m->rc[4] = coio_server_close(m->srv, 0);
    m->rc[5] = coio_server_wait(m->srv);
    return 0;
}

static int misuse_main(void *arg)
{
    struct misuse *m = arg;
    int fd = coio_tcp_listen("127.0.0.1", "0", 0);
    errno = 0;
    m->err[0] = coio_server_start(fd, NULL, NULL, NULL) == NULL ? errno : 0;
    m->err[1] = coio_server_start(-1, nop_handler, NULL, NULL) == NULL ? errno : 0;
    m->srv = coio_server_start(fd, nop_handler, NULL, NULL);
    if (!m->srv)
        return -errno;
    m->rc[0] = coio_server_close(NULL, 0);
    m->rc[1] = coio_server_close(m->srv, NAN);
    m->rc[2] = coio_server_wait(NULL);
    coio_server_stats st;
    m->rc[3] = coio_server_stats_get(NULL, &st) + 100 * coio_server_stats_get(m->srv, NULL);
    m->rc[6] = coio_server_fd(NULL);
    int r = coio_to_thread(misuse_off_loop, m);
    if (r < 0)
        return r;
    m->rc[7] = coio_server_fd(m->srv) == fd; /* left untouched by the refused calls */
    return coio_server_close(m->srv, 0);
}

static void server_calls_reject_bad_arguments_and_calls_outside_a_task(void **state)
{
    (void)state;
    require_backend();
    int fds = coio_test_count_fds();
    /* no loop on this thread: EPERM */
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    errno = 0;
    assert_null(coio_server_start(l, nop_handler, NULL, NULL));
    assert_int_equal(errno, EPERM);
    close(l);
    struct misuse m = {0};
    coio_assert_rc(coio_run(misuse_main, &m), 0);
    assert_int_equal(m.err[0], EINVAL); /* handler NULL */
    assert_int_equal(m.err[1], EINVAL); /* listen_fd < 0 */
    coio_assert_rc(m.rc[0], -EINVAL);
    coio_assert_rc(m.rc[1], -EINVAL); /* NaN grace */
    coio_assert_rc(m.rc[2], -EINVAL);
    coio_assert_rc(m.rc[3], -EINVAL * 101);
    coio_assert_rc(m.rc[4], -EPERM);
    coio_assert_rc(m.rc[5], -EPERM);
    coio_assert_rc(m.rc[6], -EINVAL);
    assert_int_equal(m.rc[7], 1);
    assert_int_equal(coio_test_count_fds(), fds);
}

/* ---- 1,000 concurrent connections --------------------------------------------------- */

#define THOUSAND 1000

struct thousand {
    struct srv_state s;
    int connected, ok, go;
    uint64_t peak_active;
};

static int thousand_client(void *arg)
{
    struct thousand *t = arg;
    int fd = coio_tcp_connect("127.0.0.1", t->s.portstr);
    if (fd < 0)
        return fd;
    t->connected++;
    while (!t->go) /* every connection is open at the same time */
        coio_sleep(0.005);
    char msg[32], back[32];
    int n = snprintf(msg, sizeof msg, "client %p", (void *)&fd);
    int r = (int)coio_send_all(fd, msg, (size_t)n, 0);
    size_t got = 0;
    while (r >= 0 && got < (size_t)n) {
        ssize_t k = coio_recv(fd, back + got, (size_t)n - got, 0);
        if (k <= 0)
            r = k < 0 ? (int)k : -ECONNRESET;
        else
            got += (size_t)k;
    }
    if (r >= 0 && memcmp(msg, back, (size_t)n) == 0)
        t->ok++;
    coio_close(fd);
    return r < 0 ? r : 0;
}

static int thousand_main(void *arg)
{
    struct thousand *t = arg;
    if (start_echo(&t->s, NULL) < 0)
        return -1;
    static coio_task *tasks[THOUSAND];
    for (int i = 0; i < THOUSAND; i++)
        tasks[i] = coio_spawn(thousand_client, t);
    /* wait until the server holds every connection (or 10 s pass) */
    double end = coio_now() + 10;
    coio_server_stats st = {0};
    while (coio_now() < end && st.active < THOUSAND) {
        coio_sleep(0.005);
        coio_server_stats_get(t->s.srv, &st);
    }
    t->peak_active = st.active;
    t->go = 1;
    t->s.rc[1] = coio_gather_n(tasks, THOUSAND, NULL);
    coio_server_stats_get(t->s.srv, &t->s.st);
    t->s.rc[0] = coio_server_close(t->s.srv, 1);
    return 0;
}

static void thousand_concurrent_connections(void **state)
{
    (void)state;
    require_backend();
    long nofile = raise_nofile();
    if (nofile < 2 * THOUSAND + 64)
        coio_test_skip("RLIMIT_NOFILE is %ld, the test needs %d", nofile, 2 * THOUSAND + 64);
    int fds = coio_test_count_fds();
    struct thousand t = {0};
    double t0 = mono_now();
    coio_assert_rc(coio_run(thousand_main, &t), 0);
    coio_assert_rc(t.s.rc[1], 0);
    assert_int_equal(t.connected, THOUSAND);
    assert_int_equal(t.ok, THOUSAND);
    assert_int_equal(t.s.st.accepted, THOUSAND);
    assert_int_equal(t.peak_active, THOUSAND);
    coio_assert_rc(t.s.rc[0], 0);
    assert_int_equal(coio_test_count_fds(), fds);
    print_message("1000 connections echoed in %.2f s\n", mono_now() - t0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(echo_server_serves_python_asyncio_client),
    cmocka_unit_test(echo_server_serves_nc),
    cmocka_unit_test(example_echo_server_with_nc_and_python),
    cmocka_unit_test(server_survives_reset_half_closing_trickling_and_silent_clients),
    cmocka_unit_test(connection_limit_keeps_extra_clients_in_the_backlog),
    cmocka_unit_test(graceful_shutdown_waits_for_handlers_then_cancels_them),
    cmocka_unit_test(cancelled_shutdown_still_completes),
    cmocka_unit_test(handler_may_own_the_fd_on_a_unix_socket),
    cmocka_unit_test(emfile_on_accept_backs_off_and_recovers),
    cmocka_unit_test(accept_retry_max_caps_the_back_off),
    cmocka_unit_test(client_reset_before_accept_does_not_stop_the_server),
    cmocka_unit_test(server_calls_reject_bad_arguments_and_calls_outside_a_task),
    cmocka_unit_test(close_and_abort_clients_end_the_handlers_and_server_names_peers),
    cmocka_unit_test(thousand_concurrent_connections),
};

COIO_TEST_MAIN(tests)
