/*
 * TCP echo server: every connection gets a task that sends back what it receives.
 *
 *   echo_server [-i IDLE_SECONDS] [PORT] [MAX_CONNECTIONS]
 *     -i S   close a connection that neither sends nor takes data for S seconds
 *            (default 300; 0: never)
 *
 * Listens on 127.0.0.1:PORT (default 8888; 0 picks a free port) and prints
 * "listening on 127.0.0.1:PORT" once it accepts connections. With MAX_CONNECTIONS,
 * further clients wait in the listen backlog until one leaves. Out of fds, the server
 * stops accepting and accepts again once a connection ends (coio_server retries EMFILE).
 * Runs until killed.
 *
 * Left out, as a real deployment would add them: limits per client address, TLS, and
 * a graceful shutdown on SIGTERM.
 */
#define _GNU_SOURCE
#include <coio.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static double idle_timeout = 300;

/* One step of the echo (a receive or a send), given at most idle_timeout seconds. */
static ssize_t recv_idle(int fd, char *buf, size_t n)
{
    coio_scope sc;
    coio_timeout_begin(&sc, idle_timeout > 0 ? idle_timeout : -1);
    ssize_t r = coio_recv(fd, buf, n, 0);
    coio_scope_end(&sc);
    return r;
}

static ssize_t send_idle(int fd, const char *buf, size_t n)
{
    coio_scope sc;
    coio_timeout_begin(&sc, idle_timeout > 0 ? idle_timeout : -1);
    ssize_t r = coio_send_all(fd, buf, n, 0);
    coio_scope_end(&sc);
    return r;
}

static int echo(int fd, void *arg)
{
    (void)arg;
    char buf[16384];
    for (;;) {
        /* 0: the client is done; < 0: reset, idle too long (-ETIMEDOUT), shutdown... */
        ssize_t n = recv_idle(fd, buf, sizeof buf);
        if (n <= 0)
            return n < 0 ? (int)n : 0;
        ssize_t w = send_idle(fd, buf, (size_t)n);
        if (w < 0)
            return (int)w;
    }
}

static const char *port = "8888";
static size_t max_connections;

static int serve(void *arg)
{
    (void)arg;
    coio_server_opts opts = {.max_connections = max_connections};
    int fd = coio_tcp_listen("127.0.0.1", port, 0);
    if (fd < 0) {
        fprintf(stderr, "echo_server: listen on 127.0.0.1:%s: %s\n", port, coio_strerror(fd));
        return 1;
    }
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    coio_server *srv = coio_server_start(fd, echo, NULL, &opts);
    if (!srv) {
        perror("echo_server: coio_server_start");
        coio_close(fd);
        return 1;
    }
    printf("listening on 127.0.0.1:%u\n", ntohs(sa.sin_port));
    fflush(stdout);
    int r = coio_server_wait(srv); /* until accepting fails for good */
    if (r < 0)
        fprintf(stderr, "echo_server: %s\n", coio_strerror(r));
    coio_server_close(srv, 1.0);
    return r < 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: echo_server [-i IDLE_SECONDS] [PORT] [MAX_CONNECTIONS]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int opt;
    while ((opt = getopt(argc, argv, "i:h")) != -1) {
        char *end;
        switch (opt) {
        case 'i':
            idle_timeout = strtod(optarg, &end);
            if (end == optarg || *end || !(idle_timeout >= 0))
                usage();
            break;
        default: usage();
        }
    }
    if (argc - optind > 2)
        usage();
    if (optind < argc)
        port = argv[optind];
    if (optind + 1 < argc) {
        char *end;
        max_connections = strtoul(argv[optind + 1], &end, 10);
        if (*end)
            usage();
    }
    int r = coio_run(serve, NULL);
    if (r < 0)
        fprintf(stderr, "echo_server: %s\n", coio_strerror(r));
    return r != 0;
}
