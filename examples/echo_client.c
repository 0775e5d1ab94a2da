/*
 * TCP echo client: CONNECTIONS tasks each send MESSAGES lines to an echo server and
 * check every reply, all at the same time on one thread.
 *
 *   echo_client [-t SECONDS] [HOST] [PORT] [CONNECTIONS] [MESSAGES]
 *                                                  (10 127.0.0.1 8888 10 100)
 *     -t S   connecting, and each message's round trip, must take at most S seconds
 *
 * Prints "ok: C connections x M messages in T s" and exits 0 when every reply matched,
 * else says which connection failed and why (ETIMEDOUT: the server stayed silent) and
 * exits 1. Left out: retries, and reconnecting after an error.
 */
#define _GNU_SOURCE
#include <coio.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *host = "127.0.0.1", *port = "8888";
static int nconn = 10, nmsg = 100;
static double timeout_s = 10;

/* Sends line and reads its echo into back, within timeout_s. 0 or a negative errno. */
static int round_trip(int fd, const char *line, char *back, size_t n)
{
    coio_scope sc;
    coio_timeout_begin(&sc, timeout_s);
    ssize_t w = coio_send_all(fd, line, n, 0);
    size_t got = 0;
    while (w >= 0 && got < n) { /* the echo may come back in pieces */
        w = coio_recv(fd, back + got, n - got, 0);
        if (w == 0)
            w = -ECONNRESET; /* closed before echoing everything */
        if (w > 0)
            got += (size_t)w;
    }
    coio_scope_end(&sc);
    return w < 0 ? (int)w : 0;
}

static int client(void *arg)
{
    int id = (int)(intptr_t)arg;
    coio_scope sc;
    coio_timeout_begin(&sc, timeout_s);
    int fd = coio_tcp_connect(host, port);
    coio_scope_end(&sc);
    if (fd < 0) {
        fprintf(stderr, "connection %d: connect %s:%s: %s\n", id, host, port, coio_strerror(fd));
        return fd;
    }
    int r = 0;
    for (int i = 0; i < nmsg && r == 0; i++) {
        char line[64], back[64];
        int n = snprintf(line, sizeof line, "connection %d message %d\n", id, i);
        r = round_trip(fd, line, back, (size_t)n);
        if (r == 0 && memcmp(line, back, (size_t)n) != 0)
            r = -EIO;
    }
    if (r < 0)
        fprintf(stderr, "connection %d: %s (%s)\n", id, coio_err_name(r), coio_strerror(r));
    coio_close(fd);
    return r;
}

static int run(void *arg)
{
    (void)arg;
    coio_task **t = calloc((size_t)nconn, sizeof *t);
    if (!t)
        return -ENOMEM;
    double t0 = coio_now();
    for (int i = 0; i < nconn; i++)
        t[i] = coio_spawn(client, (void *)(intptr_t)i);
    int r = coio_gather_n(t, (size_t)nconn, NULL);
    free(t);
    if (r == 0)
        printf("ok: %d connections x %d messages in %.3f s\n", nconn, nmsg, coio_now() - t0);
    return r;
}

static void usage(void)
{
    fprintf(stderr, "usage: echo_client [-t SECONDS] [HOST] [PORT] [CONNECTIONS] [MESSAGES]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int opt;
    while ((opt = getopt(argc, argv, "t:h")) != -1) {
        char *end;
        switch (opt) {
        case 't':
            timeout_s = strtod(optarg, &end);
            if (end == optarg || *end || !(timeout_s > 0))
                usage();
            break;
        default: usage();
        }
    }
    argv += optind - 1;
    argc -= optind - 1;
    if (argc > 1)
        host = argv[1];
    if (argc > 2)
        port = argv[2];
    if (argc > 3)
        nconn = atoi(argv[3]);
    if (argc > 4)
        nmsg = atoi(argv[4]);
    if (nconn <= 0 || nmsg < 0 || argc > 5)
        usage();
    int r = coio_run(run, NULL);
    if (r < 0)
        fprintf(stderr, "echo_client: %s\n", coio_strerror(r));
    return r != 0;
}
