/*
 * W4 echo server on coio: the plain way to write it, a coio_server whose handler task
 * loops coio_recv / coio_send_all (no tricks a user would not write).
 *
 *   w4_echo_server PORT      (0: a free port; prints "listening on 127.0.0.1:PORT")
 * The backend is COIO_BACKEND's (default: epoll).
 */
#define _GNU_SOURCE
#include <coio.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>

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
    const char *port = arg;
    int fd = coio_tcp_listen("127.0.0.1", port, 0);
    if (fd < 0) {
        fprintf(stderr, "w4_echo_server: %s\n", coio_strerror(fd));
        return 1;
    }
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    coio_server *s = coio_server_start(fd, echo, NULL, NULL);
    if (!s)
        return 1;
    printf("listening on 127.0.0.1:%u\n", ntohs(sa.sin_port));
    fflush(stdout);
    return coio_server_wait(s) < 0;
}

int main(int argc, char **argv)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    return coio_run(serve, argc > 1 ? argv[1] : "0") != 0;
}
