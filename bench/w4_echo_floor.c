/*
 * W4 "floor": the least an echo server can do on epoll, in plain C. Level-triggered
 * epoll; per readable event one read and one write (a write that does not complete
 * keeps the rest and waits for EPOLLOUT). No allocation per request.
 *
 *   w4_echo_floor PORT      (0: a free port; prints "listening on 127.0.0.1:PORT")
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct conn {
    int fd;
    size_t off, len; /* bytes not yet written back */
    char buf[65536];
} conn;

static void drop(int ep, conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

int main(int argc, char **argv)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    int port = argc > 1 ? atoi(argv[1]) : 0;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, SOMAXCONN) < 0 ||
        getsockname(l, (struct sockaddr *)&sa, &sl) < 0) {
        perror("w4_echo_floor");
        return 1;
    }
    printf("listening on 127.0.0.1:%u\n", ntohs(sa.sin_port));
    fflush(stdout);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
    struct epoll_event evs[512];
    for (;;) {
        int n = epoll_wait(ep, evs, 512, -1);
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conn *nc = malloc(sizeof *nc);
                    nc->fd = fd;
                    nc->off = nc->len = 0;
                    struct epoll_event e = {.events = EPOLLIN, .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
                }
                continue;
            }
            if (c->len == 0) { /* readable */
                ssize_t r = read(c->fd, c->buf, sizeof c->buf);
                if (r <= 0) {
                    if (r < 0 && errno == EAGAIN)
                        continue;
                    drop(ep, c);
                    continue;
                }
                c->off = 0;
                c->len = (size_t)r;
            }
            ssize_t w = write(c->fd, c->buf + c->off, c->len);
            if (w < 0 && errno != EAGAIN) {
                drop(ep, c);
                continue;
            }
            if (w > 0) {
                c->off += (size_t)w;
                c->len -= (size_t)w;
            }
            struct epoll_event e = {.events = c->len ? EPOLLOUT : EPOLLIN, .data.ptr = c};
            if (c->len || w < 0 || (evs[i].events & EPOLLOUT))
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
        }
    }
}
