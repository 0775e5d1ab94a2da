/* coio-test: io timeout=120 */
/* examples/echo_server's idle timeout against raw sockets on 127.0.0.1: idle
 * connections under a low fd limit are closed and a real client gets through after
 * them; a client that never reads its echo is dropped; a slow but live one is not.
 * examples/echo_client's timeout: it gives up on a server that never answers.
 * Runs once per backend: the server inherits COIO_BACKEND. (Its echo itself is tested
 * with nc and an asyncio client in test_server.c.)
 *
 * The server is $COIO_ECHO_SERVER, else ../examples/echo_server next to this test's
 * binary. */
#define _GNU_SOURCE
#include "coio_test.h"
#include "net_helpers.h"

#include <poll.h>
#include <stdbool.h>
#include <sys/time.h>

static struct example_server server = {.name = "echo_server"};

static void start_server(const char *const *args, rlim_t nofile)
{
    example_server_start(&server, "COIO_ECHO_SERVER", args, nofile);
}

static int server_teardown(void **state)
{
    (void)state;
    return example_server_stop(&server);
}

static int connect_server(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = loopback_addr(server.port);
    struct timeval tv = {.tv_sec = 20}; /* a hang fails the case, not the whole run */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

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

/* Sends msg and expects it back. */
static void echo_once(int fd, const char *msg)
{
    size_t n = strlen(msg), got = 0;
    char buf[256];
    assert_int_equal(send(fd, msg, n, MSG_NOSIGNAL), (ssize_t)n);
    while (got < n) {
        ssize_t r = recv_(fd, buf + got, n - got);
        if (r <= 0)
            print_error("recv: %zd after %zu bytes: %s\n", r, got, strerror(errno));
        assert_true(r > 0);
        got += (size_t)r;
    }
    assert_memory_equal(buf, msg, n);
}

/* RLIMIT_NOFILE 64 and 100 silent connections: the server runs out of fds (the rest
 * wait in the backlog), closes the silent ones after the 1 s idle timeout, accepts the
 * waiting ones, and a client queued behind them all gets its echo. */
static void idle_connections_under_a_low_fd_limit_are_closed(void **state)
{
    (void)state;
    start_server((const char *[]){"-i", "1", NULL}, 64);
    enum { IDLE = 100 };
    static int idle[IDLE];
    double t0 = mono_now();
    for (int i = 0; i < IDLE; i++)
        idle[i] = connect_server();
    int fd = connect_server();
    echo_once(fd, "behind a hundred idle clients\n");
    close(fd);
    char buf[16];
    for (int i = 0; i < IDLE; i++) { /* each was accepted at last, and closed */
        assert_int_equal(recv_(idle[i], buf, sizeof buf), 0);
        close(idle[i]);
    }
    assert_true(mono_now() - t0 >= 0.9);
}

/* A client that keeps sending and never reads the echo: once the kernel buffers are
 * full the server's send waits, and after the idle timeout it gives up. */
static void client_that_never_reads_is_dropped(void **state)
{
    (void)state;
    start_server((const char *[]){"-i", "1", NULL}, 0);
    int fd = connect_server();
    static char junk[65536];
    size_t total = send_until_stalled(fd, junk, sizeof junk);
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    int r = poll_(&p, 20);
    print_message("sent %zu bytes; poll %d revents 0x%x\n", total, r, (unsigned)p.revents);
    assert_int_equal(r, 1);
    close(fd);
}

/* A client that talks every 0.3 s for 2 s is never idle for the 1 s timeout. */
static void slow_but_live_client_is_kept(void **state)
{
    (void)state;
    start_server((const char *[]){"-i", "1", NULL}, 0);
    int fd = connect_server();
    for (int i = 0; i < 7; i++) {
        echo_once(fd, "still here\n");
        struct pollfd p = {.fd = fd, .events = POLLRDHUP};
        assert_int_equal(poll_(&p, 0.3), 0); /* no hang-up meanwhile */
    }
    close(fd);
}

/* Runs echo_client with args; returns its exit status, its stdout+stderr in out. */
static int run_client(const char *const *args, char *out, size_t cap)
{
    const char *path = example_path("echo_client", "COIO_ECHO_CLIENT");
    const char *argv[16] = {path};
    int n = 1;
    for (; *args && n < 15; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 1);
        dup2(p[1], 2);
        execv(path, (char **)argv);
        _exit(127);
    }
    close(p[1]);
    size_t len = 0;
    ssize_t r;
    while (len < cap - 1 && ((r = read(p[0], out + len, cap - 1 - len)) > 0 ||
                             (r < 0 && errno == EINTR)))
        len += r > 0 ? (size_t)r : 0;
    out[len] = 0;
    close(p[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    print_message("%s", out);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

/* A listener nobody accepts from: connecting succeeds (the kernel completes the
 * handshake into the backlog) and no echo ever comes. The client gives up after its
 * timeout instead of waiting for ever; against the real server it succeeds. */
static void echo_client_gives_up_on_a_silent_server(void **state)
{
    (void)state;
    require_backend();
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = loopback_addr(0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(lfd, 16), 0);
    char port[16], out[4096];
    snprintf(port, sizeof port, "%d", local_port(lfd));
    double t0 = mono_now();
    int rc = run_client((const char *[]){"-t", "0.5", "127.0.0.1", port, "2", "3", NULL}, out,
                        sizeof out);
    close(lfd);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "connection 0: ETIMEDOUT"));
    assert_true(mono_now() - t0 >= 0.45);

    start_server(NULL, 0);
    snprintf(port, sizeof port, "%d", server.port);
    rc = run_client((const char *[]){"-t", "20", "127.0.0.1", port, "5", "20", NULL}, out,
                    sizeof out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "ok: 5 connections x 20 messages"));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_teardown(idle_connections_under_a_low_fd_limit_are_closed,
                              server_teardown),
    cmocka_unit_test_teardown(client_that_never_reads_is_dropped, server_teardown),
    cmocka_unit_test_teardown(slow_but_live_client_is_kept, server_teardown),
    cmocka_unit_test_teardown(echo_client_gives_up_on_a_silent_server, server_teardown),
};

COIO_TEST_MAIN(tests)
