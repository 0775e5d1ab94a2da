/*
 * W4 echo server on coio: the plain way to write it, a coio_server whose handler task
 * loops coio_recv / coio_send_all (no tricks a user would not write).
 *
 *   w4_echo_server PORT      (0: a free port; prints "listening on 127.0.0.1:PORT")
 * The backend is COIO_BACKEND's (default: epoll).
 */
#define _GNU_SOURCE
#include <coio.h>

#include "bench_util.h"

static int echo(int fd, void *arg)
{
    (void)arg;
    char buf[65536];
    for (;;) {
        ssize_t n = coio_recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            return (int)n;
        if ((n = coio_send_all(fd, buf, (size_t)n, 0)) < 0)
            return (int)n;
    }
}

static int serve(void *arg)
{
    return bench_serve("w4_echo_server", arg, echo);
}

int main(int argc, char **argv)
{
    bench_raise_nofile();
    return coio_run(serve, argc > 1 ? argv[1] : "0") != 0;
}
