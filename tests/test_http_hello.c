/* coio-test: io timeout=120 */
/* examples/http_hello against real peers on 127.0.0.1: curl (keep-alive across two URLs,
 * HEAD, a POST body) and raw sockets from this process (pipelined requests in one write,
 * HTTP/1.0, Connection: close, Content-Length and chunked bodies, malformed requests,
 * control bytes, oversized lines, 1000 concurrent keep-alive connections), and the
 * timeouts and limits: idle connections under a low fd limit, a header trickler, a
 * stalled body, a client that never reads. Runs once per backend: the server inherits
 * COIO_BACKEND. Only the curl case needs curl, and is skipped (77) without it.
 *
 * The server is $COIO_HTTP_HELLO, else ../examples/http_hello next to this test's binary
 * (the build tree layout: build/<dir>/tests/test_http_hello, build/<dir>/examples/). */
#define _GNU_SOURCE
#include "coio_test.h"
#include "net_helpers.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define HELLO "Hello, World!"

/* ---- the server -------------------------------------------------------------------- */

static struct example_server server = {.name = "http_hello"};

static void start_server(const char *const *args, rlim_t nofile)
{
    example_server_start(&server, "COIO_HTTP_HELLO", args, nofile);
}

/* Starts http_hello with its defaults on a free port. */
static int server_setup(void **state)
{
    (void)state;
    start_server(NULL, 0);
    return 0;
}

static int server_teardown(void **state)
{
    (void)state;
    return example_server_stop(&server);
}

/* ---- raw clients ------------------------------------------------------------------- */

static int connect_server(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)server.port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 20}; /* a hang fails the case, not the whole run */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        print_error("connect to port %d: %s\n", server.port, strerror(errno));
        close(fd);
        fail();
    }
    return fd;
}

static void send_str(int fd, const char *s, size_t n)
{
    for (size_t off = 0; off < n;) {
        ssize_t w = send(fd, s + off, n - off, MSG_NOSIGNAL);
        assert_true(w > 0);
        off += (size_t)w;
    }
}

/* poll for at most `limit` s, again after EINTR (see recv_). */
#define SEND(fd, lit) send_str((fd), (lit), sizeof(lit) - 1)

/* recv, again after EINTR: with SO_RCVTIMEO set, Linux turns an interrupted wait into
 * EINTR, and io_uring task work left by the backend probe in this process counts as
 * one. */
static ssize_t recv_(int fd, void *buf, size_t n)
{
    ssize_t r;
    while ((r = recv(fd, buf, n, 0)) < 0 && errno == EINTR) {
    }
    return r;
}

/* Reads until EOF (the server closed), at most cap - 1 bytes; NUL-terminates. */
static size_t read_to_eof(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    ssize_t r;
    while (len < cap - 1 && (r = recv_(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    assert_true(len < cap - 1); /* else the buffer was too small, or no EOF came */
    assert_int_equal(recv_(fd, buf, 1), 0);
    buf[len] = 0;
    return len;
}

/* One response starting at *p (which moves past it): its status; headers are checked
 * for the Content-Length of HELLO, the body (unless head_only) is HELLO. *close tells
 * whether it said "Connection: close". */
static int take_response(const char **p, bool head_only, bool *close)
{
    const char *s = *p;
    int status = 0;
    assert_int_equal(sscanf(s, "HTTP/1.1 %d ", &status), 1);
    const char *end = strstr(s, "\r\n\r\n");
    assert_non_null(end);
    char head[1024];
    size_t hl = (size_t)(end - s) + 2; /* with the last header's CRLF */
    assert_true(hl < sizeof head);
    memcpy(head, s, hl);
    head[hl] = 0;
    if (close)
        *close = strcasestr(head, "\r\nConnection: close\r\n") != NULL;
    s = end + 4;
    if (status == 200) {
        assert_non_null(strstr(head, "\r\nContent-Length: 13"));
        assert_non_null(strstr(head, "\r\nContent-Type: text/plain"));
        if (!head_only) {
            assert_memory_equal(s, HELLO, sizeof HELLO - 1);
            s += sizeof HELLO - 1;
        }
    } else {
        assert_non_null(strstr(head, "\r\nContent-Length: 0"));
    }
    *p = s;
    return status;
}

/* Reads exactly one 200 response to a GET (headers and the 13-byte body) from fd. */
static void read_one_hello(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    const char *end = NULL;
    while (!end || len < (size_t)(end + 4 - buf) + sizeof HELLO - 1) {
        ssize_t r = recv_(fd, buf + len, cap - 1 - len);
        if (r <= 0)
            print_error("recv: %zd after %zu bytes: %s\n", r, len, strerror(errno));
        assert_true(r > 0);
        len += (size_t)r;
        buf[len] = 0;
        end = strstr(buf, "\r\n\r\n");
    }
    const char *p = buf;
    assert_int_equal(take_response(&p, false, NULL), 200);
    assert_int_equal((size_t)(p - buf), len); /* nothing more came */
}

/* Runs a shell command; returns its exit status and its stdout+stderr in out. */
static int run_cmd(const char *cmd, char *out, size_t cap)
{
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t len = fread(out, 1, cap - 1, f);
    out[len] = 0;
    int st = pclose(f);
    print_message("$ %s\n%s\n", cmd, out);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- cases ------------------------------------------------------------------------- */

static char out[1 << 20];

static void curl_reuses_the_connection_for_two_urls(void **state)
{
    (void)state;
    coio_test_require_program("curl", "curl");
    /* the 2 MB POST below is over the default body limit of 1 MiB */
    start_server((const char *[]){"--max-body", "4000000", NULL}, 0);
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "curl -sS -w ' connects=%%{num_connects} code=%%{http_code}\\n' "
             "http://127.0.0.1:%d/ http://127.0.0.1:%d/second 2>&1",
             server.port, server.port);
    assert_int_equal(run_cmd(cmd, out, sizeof out), 0);
    /* num_connects: new connections made for that transfer, so 0 on reuse */
    assert_string_equal(out, HELLO " connects=1 code=200\n" HELLO " connects=0 code=200\n");

    snprintf(cmd, sizeof cmd, "curl -sS -I http://127.0.0.1:%d/ 2>&1", server.port);
    assert_int_equal(run_cmd(cmd, out, sizeof out), 0);
    assert_true(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
    assert_non_null(strstr(out, "\r\nContent-Length: 13\r\n"));
    assert_null(strstr(out, HELLO));

    /* curl sends "Expect: 100-continue" with a big body and waits (up to a second)
     * for the server's go-ahead before sending it */
    snprintf(cmd, sizeof cmd,
             "head -c 2000000 /dev/zero | curl -sS -v --data-binary @- -w ' code=%%{http_code}' "
             "http://127.0.0.1:%d/post 2>&1",
             server.port);
    assert_int_equal(run_cmd(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "> Expect: 100-continue"));
    assert_non_null(strstr(out, "< HTTP/1.1 100 Continue"));
    assert_non_null(strstr(out, HELLO " code=200"));
}

static void pipelined_requests_in_one_write_are_answered_in_order(void **state)
{
    (void)state;
    int fd = connect_server();
    SEND(fd, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
             "HEAD /b HTTP/1.1\r\nHost: x\r\n\r\n"
             "GET /c HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n"
             "GET /d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
             "GET /never HTTP/1.1\r\nHost: x\r\n\r\n");
    read_to_eof(fd, out, sizeof out);
    close(fd);
    const char *p = out;
    bool close_ = true;
    assert_int_equal(take_response(&p, false, &close_), 200);
    assert_false(close_);
    assert_int_equal(take_response(&p, true, &close_), 200); /* HEAD: no body */
    assert_false(close_);
    assert_int_equal(take_response(&p, false, &close_), 200);
    assert_false(close_);
    assert_int_equal(take_response(&p, false, &close_), 200);
    assert_true(close_);
    assert_string_equal(p, ""); /* nothing after the close */
}

static void http10_closes_unless_asked_to_keep_alive(void **state)
{
    (void)state;
    int fd = connect_server();
    SEND(fd, "GET / HTTP/1.0\r\n\r\n");
    read_to_eof(fd, out, sizeof out);
    close(fd);
    const char *p = out;
    bool close_;
    assert_int_equal(take_response(&p, false, &close_), 200);
    assert_string_equal(p, "");

    fd = connect_server();
    SEND(fd, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    read_one_hello(fd, out, sizeof out);
    assert_non_null(strstr(out, "\r\nConnection: keep-alive\r\n"));
    SEND(fd, "GET / HTTP/1.0\r\n\r\n"); /* same connection, now without keep-alive */
    read_to_eof(fd, out, sizeof out);
    close(fd);
    p = out;
    assert_int_equal(take_response(&p, false, &close_), 200);
    assert_string_equal(p, "");
}

static void connection_close_is_honoured(void **state)
{
    (void)state;
    int fd = connect_server();
    SEND(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    read_one_hello(fd, out, sizeof out); /* kept alive by default */
    SEND(fd, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Keep-Alive, Close\r\n\r\n");
    read_to_eof(fd, out, sizeof out);
    close(fd);
    const char *p = out;
    bool close_;
    assert_int_equal(take_response(&p, false, &close_), 200);
    assert_true(close_);
    assert_string_equal(p, "");

    /* A client that goes away quietly, mid-request or between requests, is no error. */
    fd = connect_server();
    SEND(fd, "GET / HTTP/1.1\r\nHo");
    close(fd);
    fd = connect_server();
    close(fd);
    fd = connect_server();
    SEND(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    read_one_hello(fd, out, sizeof out);
    close(fd);
}

static void request_bodies_are_skipped(void **state)
{
    (void)state;
    int fd = connect_server();
    SEND(fd, "POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello=world");
    read_one_hello(fd, out, sizeof out);
    SEND(fd, "PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5\r\nhello\r\n1A;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer: t\r\n\r\n");
    read_one_hello(fd, out, sizeof out);
    /* a body bigger than the stream's buffer, sent in pieces */
    static char big[200000];
    memset(big, 'b', sizeof big);
    SEND(fd, "POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n");
    send_str(fd, big, sizeof big);
    read_one_hello(fd, out, sizeof out);
    /* the body never shows up as a request */
    SEND(fd, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\nGET /x HTTP/1.1\r\n\r\n"
             "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    read_to_eof(fd, out, sizeof out);
    close(fd);
    const char *p = out;
    assert_int_equal(take_response(&p, false, NULL), 200);
    assert_int_equal(take_response(&p, false, NULL), 200);
    assert_string_equal(p, "");
}

/* Sends req on a new connection; expects exactly one answer with status want, then EOF. */
static void expect_error(const char *req, size_t len, int want)
{
    int fd = connect_server();
    send_str(fd, req, len);
    read_to_eof(fd, out, sizeof out);
    close(fd);
    const char *p = out;
    bool close_;
    int st = take_response(&p, false, &close_);
    if (st != want)
        print_error("request \"%.60s\": got %d, want %d\n", req, st, want);
    assert_int_equal(st, want);
    assert_true(close_);
    assert_string_equal(p, "");
}

#define EXPECT_ERROR(lit, want) expect_error((lit), sizeof(lit) - 1, (want))

static void malformed_requests_get_400_and_close(void **state)
{
    (void)state;
    EXPECT_ERROR("GARBAGE\r\n\r\n", 400);
    EXPECT_ERROR("GET /\r\nHost: x\r\n\r\n", 400);
    EXPECT_ERROR("GET / HTTP/1.1\r\nHost x\r\n\r\n", 400);         /* no colon */
    EXPECT_ERROR("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400);       /* space before it */
    EXPECT_ERROR("GET / HTTP/1.1\r\n\r\n", 400);                   /* no Host */
    EXPECT_ERROR("GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400);     /* space in target */
    EXPECT_ERROR("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n", 400);
    EXPECT_ERROR("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n", 400);      /* smuggling */
    EXPECT_ERROR("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400);
    EXPECT_ERROR("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501);
    EXPECT_ERROR("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505);
    /* the error answer also ends a pipeline: what follows is not answered */
    EXPECT_ERROR("BAD\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
}

static void oversized_lines_get_431_or_414_and_close(void **state)
{
    (void)state;
    static char req[40000];
    int n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + n, 'a', 10000);
    n += 10000;
    n += snprintf(req + n, sizeof req - (size_t)n, "\r\n\r\n");
    expect_error(req, (size_t)n, 431);

    n = snprintf(req, sizeof req, "GET /");
    memset(req + n, 'u', 30000);
    n += 30000;
    n += snprintf(req + n, sizeof req - (size_t)n, " HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_error(req, (size_t)n, 414);

    /* too many header lines */
    n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 200; i++)
        n += snprintf(req + n, sizeof req - (size_t)n, "X-%d: y\r\n", i);
    n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
    expect_error(req, (size_t)n, 431);

    /* a line just under the limit is fine */
    n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + n, 'a', 8000);
    n += 8000;
    n += snprintf(req + n, sizeof req - (size_t)n, "\r\n\r\n");
    int fd = connect_server();
    send_str(fd, req, (size_t)n);
    read_one_hello(fd, out, sizeof out);
    close(fd);
}

static void thousand_concurrent_keep_alive_connections(void **state)
{
    (void)state;
    enum { N = 1000 };
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < N + 64 && rl.rlim_max >= N + 64) {
        rl.rlim_cur = rl.rlim_max < 65536 ? rl.rlim_max : 65536;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < N + 64)
        print_error("RLIMIT_NOFILE's hard limit %lu is below the %d fds this case needs\n",
                    (unsigned long)rl.rlim_max, N + 64);
    assert_true(rl.rlim_cur >= N + 64);
    static int fds[N];
    char buf[512];
    for (int i = 0; i < N; i++)
        fds[i] = connect_server();
    /* every connection open at once, two requests each on the same connection */
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++)
            SEND(fds[i], "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        for (int i = 0; i < N; i++)
            read_one_hello(fds[i], buf, sizeof buf);
    }
    for (int i = 0; i < N; i++)
        close(fds[i]);
}

/* NUL, control and DEL bytes in the target or a header value, a lowercase method: 400
 * and close, as nginx does. Answered at once: the server's header timeout is 60 s here,
 * and the client waits at most 20 s. */
static void control_bytes_and_lowercase_methods_get_400(void **state)
{
    (void)state;
    EXPECT_ERROR("GET /a\0b HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT_ERROR("GET /a\001b HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT_ERROR("GET /a\177b HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT_ERROR("GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT_ERROR("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", 400);
    EXPECT_ERROR("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\001b\r\n\r\n", 400);
    EXPECT_ERROR("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\177b\r\n\r\n", 400);
    EXPECT_ERROR("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400);
    EXPECT_ERROR("get / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT_ERROR("Get / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    /* no line end ever comes: refused as soon as the bad byte is seen */
    static char nuls[1000];
    expect_error(nuls, sizeof nuls, 400);
    EXPECT_ERROR("GET / HTTP/1.1\rHost: x\r\r", 400); /* lines ended by CR alone */
    EXPECT_ERROR("\r\r\r\r\r\r\r\r", 400);
    /* what stays accepted: tabs, bytes >= 0x80 in values and targets, LF-only lines */
    int fd = connect_server();
    SEND(fd, "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\nX-A: a\tb \xe9\r\n\r\n");
    read_one_hello(fd, out, sizeof out);
    SEND(fd, "GET / HTTP/1.1\nHost: x\n\n");
    read_one_hello(fd, out, sizeof out);
    close(fd);
}

/* Waits up to `limit` s for fd to become readable (or hung up); returns the seconds
 * waited, or -1 if it never did. */
static double wait_readable(int fd, double limit)
{
    double t0 = mono_now();
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    return poll_(&p, limit) == 1 ? mono_now() - t0 : -1;
}

/* With RLIMIT_NOFILE at 64, 100 connections that send nothing exhaust the server's fds
 * (the rest wait in the listen backlog). They are closed after the 1 s header timeout,
 * without an answer, the server accepts the waiting ones, and a legitimate client that
 * queued behind them all is answered. Kept-alive connections are closed after the 1 s
 * keep-alive timeout, without an answer. */
static void idle_connections_under_a_low_fd_limit_time_out(void **state)
{
    (void)state;
    start_server((const char *[]){"--header-timeout", "1", "--keepalive-timeout", "1", NULL},
                 64);
    enum { KEPT = 4, IDLE = 100 };
    static int kept[KEPT], idle[IDLE];
    char buf[512];
    for (int i = 0; i < KEPT; i++) {
        kept[i] = connect_server();
        SEND(kept[i], "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        read_one_hello(kept[i], buf, sizeof buf);
    }
    double t_kept = mono_now();
    for (int i = 0; i < IDLE; i++)
        idle[i] = connect_server();
    int fd = connect_server(); /* behind all of them in the backlog */
    SEND(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    read_one_hello(fd, buf, sizeof buf); /* recv gives up after 20 s */
    close(fd);
    for (int i = 0; i < KEPT; i++) { /* closed quietly, a timeout after their answer */
        assert_int_equal(recv_(kept[i], buf, sizeof buf), 0);
        close(kept[i]);
    }
    assert_true(mono_now() - t_kept >= 0.9);
    for (int i = 0; i < IDLE; i++) { /* every one was accepted at last, and closed */
        assert_int_equal(recv_(idle[i], buf, sizeof buf), 0);
        close(idle[i]);
    }
}

/* A client sending its headers a byte every 50 ms gets 408 after the 1 s header
 * timeout, however long it would go on. */
static void header_trickler_is_cut_off_after_the_header_timeout(void **state)
{
    (void)state;
    start_server((const char *[]){"--header-timeout", "1", NULL}, 0);
    int fd = connect_server();
    double t0 = mono_now();
    SEND(fd, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    int sent = 0;
    while (wait_readable(fd, 0.05) < 0 && sent < 400) { /* 20 s at most */
        SEND(fd, "a");
        sent++;
    }
    double elapsed = mono_now() - t0;
    read_to_eof(fd, out, sizeof out);
    close(fd);
    print_message("answered after %.3f s, %d bytes trickled\n", elapsed, sent);
    assert_true(elapsed >= 0.9);
    const char *p = out;
    assert_int_equal(take_response(&p, false, NULL), 408);
}

/* A body announced as 1 TB: 413 at once under the default 1 MiB limit. Without a limit,
 * a client that stops sending it is cut off after the 1 s body timeout with 408. */
static void huge_or_stalled_bodies_are_refused_or_cut_off(void **state)
{
    (void)state;
    start_server(NULL, 0);
    EXPECT_ERROR("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\n", 413);
    EXPECT_ERROR("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "100001\r\n", 413);
    assert_int_equal(server_teardown(NULL), 0);

    start_server((const char *[]){"--max-body", "0", "--body-timeout", "1", NULL}, 0);
    int fd = connect_server();
    SEND(fd, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\n");
    static char piece[100000];
    send_str(fd, piece, sizeof piece);
    double waited = wait_readable(fd, 20);
    print_message("answered %.3f s after the body stopped\n", waited);
    assert_true(waited >= 0.9);
    read_to_eof(fd, out, sizeof out);
    close(fd);
    const char *p = out;
    assert_int_equal(take_response(&p, false, NULL), 408);
}

/* A client that pipelines requests and never reads the answers is dropped after the
 * 1 s send timeout once the answers pile up. */
static void client_that_never_reads_is_dropped_after_the_send_timeout(void **state)
{
    (void)state;
    start_server((const char *[]){"--send-timeout", "1", NULL}, 0);
    int fd = connect_server();
    int rcv = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    static char reqs[100 * (sizeof req - 1)];
    for (size_t i = 0; i < 100; i++)
        memcpy(reqs + i * (sizeof req - 1), req, sizeof req - 1);
    /* send until the server stops reading and the kernel buffers are full */
    size_t total = send_until_stalled(fd, reqs, sizeof reqs);
    /* the server gives up: its close shows as a hang-up, though we read nothing */
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    int r = poll_(&p, 20);
    print_message("sent %zu bytes; poll %d revents 0x%x\n", total, r, (unsigned)p.revents);
    assert_int_equal(r, 1);
    close(fd);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(curl_reuses_the_connection_for_two_urls, NULL,
                                    server_teardown),
    cmocka_unit_test_setup_teardown(pipelined_requests_in_one_write_are_answered_in_order,
                                    server_setup, server_teardown),
    cmocka_unit_test_setup_teardown(http10_closes_unless_asked_to_keep_alive, server_setup,
                                    server_teardown),
    cmocka_unit_test_setup_teardown(connection_close_is_honoured, server_setup,
                                    server_teardown),
    cmocka_unit_test_setup_teardown(request_bodies_are_skipped, server_setup, server_teardown),
    cmocka_unit_test_setup_teardown(malformed_requests_get_400_and_close, server_setup,
                                    server_teardown),
    cmocka_unit_test_setup_teardown(oversized_lines_get_431_or_414_and_close, server_setup,
                                    server_teardown),
    cmocka_unit_test_setup_teardown(thousand_concurrent_keep_alive_connections, server_setup,
                                    server_teardown),
    cmocka_unit_test_setup_teardown(control_bytes_and_lowercase_methods_get_400, server_setup,
                                    server_teardown),
    cmocka_unit_test_setup_teardown(idle_connections_under_a_low_fd_limit_time_out, NULL,
                                    server_teardown),
    cmocka_unit_test_setup_teardown(header_trickler_is_cut_off_after_the_header_timeout, NULL,
                                    server_teardown),
    cmocka_unit_test_setup_teardown(huge_or_stalled_bodies_are_refused_or_cut_off, NULL,
                                    server_teardown),
    cmocka_unit_test_setup_teardown(client_that_never_reads_is_dropped_after_the_send_timeout,
                                    NULL, server_teardown),
};

COIO_TEST_MAIN(tests)
