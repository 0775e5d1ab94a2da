/* coio-test: io timeout=120 */
/* Socket operations and endpoints: recv/send/readv/writev/recvmsg/sendmsg/recvfrom/
 * sendto/accept/connect, send_all and writev_all, TCP connect (every address, Happy
 * Eyeballs) and listen, Unix-domain and UDP sockets; cancellation in the middle of a
 * connect, a read and a write with no fd leaked; real peers (tests/peers/netpeer.py)
 * that reset, half-close, trickle bytes or never answer; the SIGPIPE policy; fairness
 * between a flooding connection and a quiet one. Runs once per backend. */
#define _GNU_SOURCE
#include "coio_test.h"
#include "net_helpers.h"
#include "fake_resolver.h"

#include <pthread.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>

static int is_nonblock_cloexec(int fd)
{
    return (fcntl(fd, F_GETFL) & O_NONBLOCK) && (fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

static int nodelay_of(int fd)
{
    int v = -1;
    socklen_t l = sizeof v;
    getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &l);
    return v;
}

static void nb_socketpair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

/* ---- socket operations on a socket pair -------------------------------------------- */

struct ops_state {
    int sv[2];
    ssize_t rc[12];
    char buf[64];
    int order[4], n;
};

static int late_sender(void *arg)
{
    struct ops_state *s = arg;
    coio_sleep(0.01);
    s->order[s->n++] = 2;
    s->rc[0] = coio_send(s->sv[1], "ping", 4, 0);
    return 0;
}

static int ops_main(void *arg)
{
    struct ops_state *s = arg;
    nb_socketpair(s->sv);
    /* recv suspends only this task: the sender runs meanwhile */
    coio_task *t = coio_spawn(late_sender, s);
    s->order[s->n++] = 1;
    s->rc[1] = coio_recv(s->sv[0], s->buf, sizeof s->buf, 0);
    s->order[s->n++] = 3;
    coio_await(t);

    /* writev / readv */
    struct iovec out[3] = {{"ab", 2}, {"", 0}, {"cdef", 4}};
    s->rc[2] = coio_writev(s->sv[0], out, 3);
    char x[3], y[3];
    struct iovec in[2] = {{x, 3}, {y, 3}};
    s->rc[3] = coio_readv(s->sv[1], in, 2);
    s->rc[4] = memcmp(x, "abc", 3) == 0 && memcmp(y, "def", 3) == 0;

    /* sendmsg / recvmsg */
    struct iovec mi = {"msg!", 4};
    struct msghdr mh = {.msg_iov = &mi, .msg_iovlen = 1};
    s->rc[5] = coio_sendmsg(s->sv[1], &mh, 0);
    char mb[8];
    struct iovec ri = {mb, sizeof mb};
    struct msghdr rh = {.msg_iov = &ri, .msg_iovlen = 1};
    s->rc[6] = coio_recvmsg(s->sv[0], &rh, 0);
    s->rc[7] = memcmp(mb, "msg!", 4) == 0;

    /* MSG_PEEK passes through */
    coio_send(s->sv[0], "zz", 2, 0);
    s->rc[8] = coio_recv(s->sv[1], mb, sizeof mb, MSG_PEEK);
    s->rc[9] = coio_recv(s->sv[1], mb, sizeof mb, 0);

    /* bad arguments */
    s->rc[10] = coio_recv(-1, mb, 1, 0);
    s->rc[11] = coio_send(s->sv[0], NULL, 1, 0);
    coio_close(s->sv[0]);
    coio_close(s->sv[1]);
    return 0;
}

static void socket_ops_move_data_and_suspend_only_the_task(void **state)
{
    (void)state;
    require_backend();
    struct ops_state s = {0};
    coio_assert_rc(coio_run(ops_main, &s), 0);
    coio_assert_rc(s.rc[0], 4);
    coio_assert_rc(s.rc[1], 4);
    assert_memory_equal(s.buf, "ping", 4);
    assert_int_equal(s.order[0], 1);
    assert_int_equal(s.order[1], 2);
    assert_int_equal(s.order[2], 3);
    coio_assert_rc(s.rc[2], 6);
    coio_assert_rc(s.rc[3], 6);
    assert_int_equal(s.rc[4], 1);
    coio_assert_rc(s.rc[5], 4);
    coio_assert_rc(s.rc[6], 4);
    assert_int_equal(s.rc[7], 1);
    coio_assert_rc(s.rc[8], 2);
    coio_assert_rc(s.rc[9], 2);
    coio_assert_rc(s.rc[10], -EBADF);
    coio_assert_rc(s.rc[11], -EINVAL);
}

/* ---- TCP: send_all, writev_all, listen/connect/accept ------------------------------- */

#define BIG (4u << 20)

struct tcp_state {
    int lfd, port;
    int cfd, afd;
    ssize_t rc[8];
    unsigned char *data;
    size_t got;
    int accepted_flags_ok, connected_flags_ok, nodelay, nagle_nodelay;
    int mismatch;
};

static int big_receiver(void *arg)
{
    struct tcp_state *s = arg;
    unsigned char buf[65536];
    size_t total = 2 * BIG;
    while (s->got < total) {
        ssize_t n = coio_recv(s->afd, buf, sizeof buf, 0);
        if (n <= 0)
            return (int)n;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != s->data[(s->got + (size_t)i) % BIG])
                s->mismatch++;
        s->got += (size_t)n;
    }
    return 0;
}

static int tcp_main(void *arg)
{
    struct tcp_state *s = arg;
    s->lfd = coio_tcp_listen("127.0.0.1", "0", 16);
    if (s->lfd < 0)
        return s->lfd;
    s->port = local_port(s->lfd);
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    s->cfd = coio_tcp_connect("localhost", port);
    if (s->cfd < 0) /* else the accept below would wait for ever: fail, don't time out */
        return s->cfd;
    s->afd = coio_accept(s->lfd, NULL, NULL);
    if (s->afd < 0)
        return -1;
    s->accepted_flags_ok = is_nonblock_cloexec(s->afd);
    s->connected_flags_ok = is_nonblock_cloexec(s->cfd);
    s->nodelay = nodelay_of(s->cfd);

    /* 4 MiB with send_all, then 4 MiB more with writev_all in three pieces: both need
     * many partial sends through the loopback buffers */
    coio_task *r = coio_spawn(big_receiver, s);
    s->rc[0] = coio_send_all(s->cfd, s->data, BIG, 0);
    struct iovec iov[3] = {{s->data, 1000}, {s->data + 1000, BIG / 2 - 1000},
                           {s->data + BIG / 2, BIG / 2}};
    s->rc[1] = coio_writev_all(s->cfd, iov, 3);
    s->rc[2] = coio_await(r);

    /* accept with an address; connect with COIO_TCP_NAGLE keeps Nagle */
    coio_tcp_connect_opts o = {.flags = COIO_TCP_NAGLE};
    int c2 = coio_tcp_connect_ex("127.0.0.1", port, &o);
    struct sockaddr_in from;
    socklen_t plen = sizeof from;
    int a2 = coio_accept(s->lfd, (struct sockaddr *)&from, &plen);
    s->rc[3] = a2 >= 0 && plen == sizeof from && from.sin_addr.s_addr == htonl(INADDR_LOOPBACK);
    s->nagle_nodelay = nodelay_of(c2);
    coio_close(c2);
    coio_close(a2);

    /* a refused connection */
    snprintf(port, sizeof port, "%d", closed_port());
    s->rc[4] = coio_tcp_connect("127.0.0.1", port);
    s->rc[5] = coio_tcp_connect(NULL, port);
    s->rc[6] = coio_tcp_listen("127.0.0.1", NULL, 0);
    /* a taken port */
    snprintf(port, sizeof port, "%d", s->port);
    coio_tcp_listen_opts lo = {.flags = 0};
    int dup = coio_tcp_listen_ex("127.0.0.1", port, &lo);
    s->rc[7] = dup;
    if (dup >= 0)
        coio_close(dup);
    coio_close(s->cfd);
    coio_close(s->afd);
    coio_close(s->lfd);
    return 0;
}

static void tcp_listen_connect_accept_and_send_all(void **state)
{
    (void)state;
    require_backend();
    struct tcp_state s = {0};
    s.data = malloc(BIG);
    for (size_t i = 0; i < BIG; i++)
        s.data[i] = (unsigned char)(i * 7 + i / 251);
    coio_assert_rc(coio_run(tcp_main, &s), 0);
    assert_int_equal(s.accepted_flags_ok, 1);
    assert_int_equal(s.connected_flags_ok, 1);
    assert_int_equal(s.nodelay, 1);
    assert_int_equal(s.nagle_nodelay, 0);
    coio_assert_rc(s.rc[0], BIG);
    coio_assert_rc(s.rc[1], BIG);
    coio_assert_rc(s.rc[2], 0);
    assert_int_equal(s.got, 2 * BIG);
    assert_int_equal(s.mismatch, 0);
    assert_int_equal(s.rc[3], 1);
    coio_assert_rc(s.rc[4], -ECONNREFUSED);
    coio_assert_rc(s.rc[5], -EINVAL);
    coio_assert_rc(s.rc[6], -EINVAL);
    coio_assert_rc(s.rc[7], -EADDRINUSE);
    free(s.data);
}

static int reuseport_main(void *arg)
{
    int *rc = arg;
    coio_tcp_listen_opts o = {.flags = COIO_TCP_REUSEPORT};
    int a = coio_tcp_listen_ex("127.0.0.1", "0", &o);
    char port[16];
    snprintf(port, sizeof port, "%d", local_port(a));
    int b = coio_tcp_listen_ex("127.0.0.1", port, &o);
    rc[0] = a >= 0;
    rc[1] = b;
    coio_close(a);
    if (b >= 0)
        coio_close(b);
    return 0;
}

static void tcp_listen_reuseport_shares_a_port(void **state)
{
    (void)state;
    require_backend();
    int rc[2] = {0};
    coio_assert_rc(coio_run(reuseport_main, rc), 0);
    assert_int_equal(rc[0], 1);
    assert_true(rc[1] >= 0);
}

/* ---- every resolved address, Happy Eyeballs ---------------------------------------- */

static char addr_buf[4][32];

static void set_fake_list(int n, const int *ports)
{
    for (int i = 0; i < 8; i++)
        fake_list[i] = NULL;
    for (int i = 0; i < n; i++) {
        snprintf(addr_buf[i], sizeof addr_buf[i], "127.0.0.1:%d", ports[i]);
        fake_list[i] = addr_buf[i];
    }
}

struct he_state {
    int lfd, port, bh, bh_port, filler;
    int rc[6];
    double t[6];
};

static int connect_timed(const coio_tcp_connect_opts *o, double *elapsed)
{
    double t0 = coio_now();
    int fd = coio_tcp_connect_ex("list.coio.test", "0", o);
    *elapsed = coio_now() - t0;
    if (fd >= 0) {
        coio_close(fd);
        return 0;
    }
    return fd;
}

static int he_main(void *arg)
{
    struct he_state *s = arg;
    s->lfd = coio_tcp_listen("127.0.0.1", "0", 64);
    s->port = local_port(s->lfd);
    s->bh = blackhole_listener(&s->bh_port, &s->filler);
    int closed = closed_port();
    coio_tcp_connect_opts he = {.flags = COIO_TCP_HAPPY_EYEBALLS, .happy_eyeballs_delay = 0.1};

    /* sequential: the first address refuses, the second works */
    set_fake_list(2, (int[]){closed, s->port});
    s->rc[0] = connect_timed(NULL, &s->t[0]);

    /* Happy Eyeballs: the first address never answers; the second starts after 0.1 s */
    set_fake_list(2, (int[]){s->bh_port, s->port});
    s->rc[1] = connect_timed(&he, &s->t[1]);

    /* Happy Eyeballs: a failure starts the next attempt at once */
    coio_tcp_connect_opts slow = he;
    slow.happy_eyeballs_delay = 2.0;
    set_fake_list(3, (int[]){closed, closed, s->port});
    s->rc[2] = connect_timed(&slow, &s->t[2]);

    /* every address refuses */
    set_fake_list(2, (int[]){closed, closed});
    s->rc[3] = connect_timed(&he, &s->t[3]);

    /* sequential connect to the black hole: only a deadline scope ends it */
    set_fake_list(2, (int[]){s->bh_port, s->port});
    coio_scope sc;
    coio_timeout_begin(&sc, 0.2);
    s->rc[4] = connect_timed(NULL, &s->t[4]);
    coio_scope_end(&sc);

    /* Happy Eyeballs with only black holes, under a deadline */
    set_fake_list(2, (int[]){s->bh_port, s->bh_port});
    coio_timeout_begin(&sc, 0.3);
    s->rc[5] = connect_timed(&he, &s->t[5]);
    coio_scope_end(&sc);

    /* drain the listener's accepted connections */
    int fd;
    while ((fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
        close(fd);
    coio_close(s->lfd);
    close(s->bh);
    close(s->filler);
    return 0;
}

static void tcp_connect_tries_every_address_and_happy_eyeballs_staggers(void **state)
{
    (void)state;
    require_backend();
    int fds = coio_test_count_fds();
    struct he_state s = {0};
    coio_assert_rc(coio_run(he_main, &s), 0);
    coio_assert_rc(s.rc[0], 0);
    coio_assert_rc(s.rc[1], 0);
    assert_elapsed(s.t[1], 0.09, 1.5);
    coio_assert_rc(s.rc[2], 0);
    assert_elapsed(s.t[2], 0.0, 1.5); /* not 2 x 2 s */
    coio_assert_rc(s.rc[3], -ECONNREFUSED);
    coio_assert_rc(s.rc[4], -ETIMEDOUT);
    assert_elapsed(s.t[4], 0.19, 1.5);
    coio_assert_rc(s.rc[5], -ETIMEDOUT);
    assert_elapsed(s.t[5], 0.29, 1.5);
    assert_int_equal(coio_test_count_fds(), fds);
}

/* ---- IPv6 on ::1, V6ONLY, Happy Eyeballs' order by family ---------------------------- */

static int v6only_of(int fd)
{
    int v = -1;
    socklen_t l = sizeof v;
    getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, &l);
    return v;
}

struct v6_state {
    int rc[8];
    int family[2];
    int v6only[2];
    char echo[8];
};

static int v6_main(void *arg)
{
    struct v6_state *s = arg;
    int l = coio_tcp_listen("::1", "0", 8);
    if (l < 0)
        return l;
    char port[16];
    snprintf(port, sizeof port, "%d", local_port(l));
    int c = coio_tcp_connect("::1", port);
    s->rc[0] = c < 0 ? c : 0;
    int a = coio_accept(l, NULL, NULL);
    s->rc[1] = a < 0 ? a : 0;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    getsockname(c, (struct sockaddr *)&ss, &len);
    s->family[0] = ss.ss_family;
    len = sizeof ss;
    getpeername(a, (struct sockaddr *)&ss, &len);
    s->family[1] = ss.ss_family;
    s->rc[2] = (int)coio_send_all(c, "six", 3, 0);
    s->rc[3] = (int)coio_recv(a, s->echo, sizeof s->echo - 1, 0);
    coio_close(a);
    coio_close(c);
    coio_close(l);

    /* V6ONLY, seen on loopback alone (a socket bound to ::1 is IPv6-only anyway): an
     * IPv6 socket on the IPv4-mapped ::ffff:127.0.0.1 serves IPv4 clients, unless
     * COIO_TCP_V6ONLY forbids IPv4-mapped connections, which makes that bind fail. */
    l = coio_tcp_listen("::ffff:127.0.0.1", "0", 8);
    if (l < 0)
        return l;
    s->v6only[0] = v6only_of(l);
    snprintf(port, sizeof port, "%d", local_port(l));
    c = coio_tcp_connect("127.0.0.1", port);
    s->rc[4] = c < 0 ? c : 0;
    coio_close(c);
    coio_close(l);
    coio_tcp_listen_opts o = {.flags = COIO_TCP_V6ONLY};
    l = coio_tcp_listen_ex("::ffff:127.0.0.1", "0", &o);
    s->rc[6] = l < 0 ? l : 0;
    if (l >= 0)
        coio_close(l);
    l = coio_tcp_listen_ex("::1", "0", &o); /* a plain IPv6 address: fine */
    s->rc[7] = l < 0 ? l : 0;
    if (l >= 0) {
        s->v6only[1] = v6only_of(l);
        coio_close(l);
    }
    /* an IPv4 address with the flag: the flag is for IPv6 only, not an error */
    int l4 = coio_tcp_listen_ex("127.0.0.1", "0", &o);
    s->rc[5] = l4 < 0 ? l4 : 0;
    coio_close(l4);
    return 0;
}

static void tcp_over_ipv6_loopback_and_v6only(void **state)
{
    (void)state;
    require_backend();
    require_ipv6_loopback();
    int fds = coio_test_count_fds();
    struct v6_state s = {0};
    coio_assert_rc(coio_run(v6_main, &s), 0);
    for (int i = 0; i < 6; i++)
        if (i != 2 && i != 3)
            coio_assert_rc(s.rc[i], 0);
    coio_assert_rc(s.rc[2], 3);
    coio_assert_rc(s.rc[3], 3);
    assert_string_equal(s.echo, "six");
    assert_int_equal(s.family[0], AF_INET6);
    assert_int_equal(s.family[1], AF_INET6);
    assert_int_equal(s.v6only[0], 0);  /* without the flag, on an IPv4-mapped address */
    coio_assert_rc(s.rc[6], -EINVAL); /* the kernel: V6ONLY and an IPv4-mapped address */
    coio_assert_rc(s.rc[7], 0);
    assert_int_equal(s.v6only[1], 1);
    assert_int_equal(coio_test_count_fds(), fds);
}

/* The resolver (fake_resolver.h) answers list.coio.test with addresses of both families
 * in a given order. The first address is a black hole (never connects), every other one
 * a real listener that connects at once, so the winner is the second address tried:
 * with interleaving, the first address of the other family, not the next in the list. */
struct he_order_state {
    int l4, l6, bh, bh_port, filler;
    int rc[2];
    int family[2];
    int port[2];
};

static void set_fake_addrs(int n, const char *const *addrs)
{
    for (int i = 0; i < 8; i++)
        fake_list[i] = i < n ? addrs[i] : NULL;
}

static int peer_of(int fd, int *family)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
        return -errno;
    *family = ss.ss_family;
    return ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                                   : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static int he_order_main(void *arg)
{
    struct he_order_state *s = arg;
    coio_tcp_connect_opts he = {.flags = COIO_TCP_HAPPY_EYEBALLS, .happy_eyeballs_delay = 0.05};
    s->l4 = coio_tcp_listen("127.0.0.1", "0", 64);
    s->l6 = coio_tcp_listen("::1", "0", 64);
    char a[4][40];
    /* 1. IPv4 first: v4 black hole, v4, v6, v6 -> tried v4(bh), v6, v4, v6: v6 wins */
    s->bh = blackhole_listener(&s->bh_port, &s->filler);
    snprintf(a[0], sizeof a[0], "127.0.0.1:%d", s->bh_port);
    snprintf(a[1], sizeof a[1], "127.0.0.1:%d", local_port(s->l4));
    snprintf(a[2], sizeof a[2], "[::1]:%d", local_port(s->l6));
    snprintf(a[3], sizeof a[3], "[::1]:%d", local_port(s->l6));
    set_fake_addrs(4, (const char *const[]){a[0], a[1], a[2], a[3]});
    int fd = coio_tcp_connect_ex("list.coio.test", "0", &he);
    s->rc[0] = fd < 0 ? fd : 0;
    if (fd >= 0) {
        s->port[0] = peer_of(fd, &s->family[0]);
        coio_close(fd);
    }
    close(s->bh);
    close(s->filler);
    /* 2. IPv6 first: v6 black hole, v6, v4 -> tried v6(bh), v4, v6: v4 wins */
    s->bh = blackhole_listener6(&s->bh_port, &s->filler);
    snprintf(a[0], sizeof a[0], "[::1]:%d", s->bh_port);
    snprintf(a[1], sizeof a[1], "[::1]:%d", local_port(s->l6));
    snprintf(a[2], sizeof a[2], "127.0.0.1:%d", local_port(s->l4));
    set_fake_addrs(3, (const char *const[]){a[0], a[1], a[2]});
    fd = coio_tcp_connect_ex("list.coio.test", "0", &he);
    s->rc[1] = fd < 0 ? fd : 0;
    if (fd >= 0) {
        s->port[1] = peer_of(fd, &s->family[1]);
        coio_close(fd);
    }
    close(s->bh);
    close(s->filler);
    set_fake_addrs(0, NULL);
    int c;
    while ((c = accept4(s->l4, NULL, NULL, SOCK_CLOEXEC)) >= 0)
        close(c);
    while ((c = accept4(s->l6, NULL, NULL, SOCK_CLOEXEC)) >= 0)
        close(c);
    s->port[0] = s->port[0] == local_port(s->l6); /* 1: the expected listener */
    s->port[1] = s->port[1] == local_port(s->l4);
    coio_close(s->l4);
    coio_close(s->l6);
    return 0;
}

static void happy_eyeballs_interleaves_address_families(void **state)
{
    (void)state;
    require_backend();
    require_ipv6_loopback();
    int fds = coio_test_count_fds();
    struct he_order_state s = {0};
    coio_assert_rc(coio_run(he_order_main, &s), 0);
    coio_assert_rc(s.rc[0], 0);
    assert_int_equal(s.family[0], AF_INET6); /* second try: the other family */
    assert_int_equal(s.port[0], 1);
    coio_assert_rc(s.rc[1], 0);
    assert_int_equal(s.family[1], AF_INET);
    assert_int_equal(s.port[1], 1);
    assert_int_equal(coio_test_count_fds(), fds);
}

/* ---- cancellation in the middle of connect, read and write --------------------------- */

struct cancel_state {
    int bh, bh_port, filler;
    int he;
    int rc, fd;
    double elapsed, ret_at;
    peer p;
    int peer_port;
    int peer_status;
};

static int connector(void *arg)
{
    struct cancel_state *s = arg;
    char port[16];
    snprintf(port, sizeof port, "%d", s->bh_port);
    coio_tcp_connect_opts o = {.flags = s->he ? COIO_TCP_HAPPY_EYEBALLS : 0};
    s->rc = coio_tcp_connect_ex("127.0.0.1", port, &o);
    return 0;
}

static int cancel_connect_main(void *arg)
{
    struct cancel_state *s = arg;
    s->bh = blackhole_listener(&s->bh_port, &s->filler);
    coio_task *t = coio_spawn(connector, s);
    coio_sleep(0.05);
    double t0 = coio_now();
    coio_cancel(t);
    coio_await(t);
    s->elapsed = coio_now() - t0;
    close(s->bh);
    close(s->filler);
    return 0;
}

static void cancel_in_the_middle_of_connect_leaks_no_fd(void **state)
{
    (void)state;
    require_backend();
    for (int he = 0; he < 2; he++) {
        int fds = coio_test_count_fds();
        struct cancel_state s = {.he = he};
        coio_assert_rc(coio_run(cancel_connect_main, &s), 0);
        coio_assert_rc(s.rc, -ECANCELED);
        assert_elapsed(s.elapsed, 0.0, 0.5);
        assert_int_equal(coio_test_count_fds(), fds);
    }
}

static int start_server_peer(struct cancel_state *s, char *mode, char *arg1, char *arg2)
{
    char *argv[] = {(char *)python3_path(), (char *)peer_script("netpeer.py"), mode, arg1, arg2,
                    NULL};
    int r = peer_start(&s->p, argv, 1, -1);
    if (r < 0)
        return r;
    s->peer_port = peer_read_port(&s->p);
    return s->peer_port > 0 ? 0 : -EIO;
}

static int connect_to_peer(struct cancel_state *s)
{
    char port[16];
    snprintf(port, sizeof port, "%d", s->peer_port);
    return coio_tcp_connect("127.0.0.1", port);
}

static int blocked_reader(void *arg)
{
    struct cancel_state *s = arg;
    char buf[16];
    s->rc = (int)coio_recv(s->fd, buf, sizeof buf, 0);
    s->ret_at = coio_now();
    return 0;
}

static int blocked_writer(void *arg)
{
    struct cancel_state *s = arg;
    size_t n = 16u << 20; /* far more than socket buffers hold: the peer never reads */
    char *buf = calloc(1, n);
    s->rc = (int)coio_send_all(s->fd, buf, n, 0);
    s->ret_at = coio_now();
    free(buf);
    return 0;
}

static int cancel_io_main(void *arg)
{
    struct cancel_state *s = arg;
    int r = start_server_peer(s, s->he ? "serve-sink" : "serve-silent", "10", NULL);
    if (r < 0)
        return r;
    s->fd = connect_to_peer(s);
    if (s->fd < 0)
        return s->fd;
    coio_task *t = coio_spawn(s->he ? blocked_writer : blocked_reader, s);
    coio_sleep(0.2);
    double t0 = coio_now();
    coio_cancel(t);
    coio_await(t);
    s->elapsed = s->ret_at - t0;
    coio_close(s->fd);
    kill(s->p.pid, SIGTERM);
    s->peer_status = peer_wait(&s->p, 5);
    return 0;
}

static void cancel_in_the_middle_of_read_and_write_leaks_no_fd(void **state)
{
    (void)state;
    require_backend();
    for (int writing = 0; writing < 2; writing++) {
        int fds = coio_test_count_fds();
        struct cancel_state s = {.he = writing};
        coio_assert_rc(coio_run(cancel_io_main, &s), 0);
        coio_assert_rc(s.rc, -ECANCELED);
        assert_elapsed(s.elapsed, 0.0, 0.5);
        assert_int_equal(coio_test_count_fds(), fds);
    }
}

/* ---- misbehaving peers ------------------------------------------------------------- */

struct peer_state {
    struct cancel_state c;
    ssize_t rc[8];
    char buf[256];
    size_t got;
    int sigpipe_ignored;
    double elapsed;
};

static int reset_main(void *arg)
{
    struct peer_state *s = arg;
    int r = start_server_peer(&s->c, "serve-reset", NULL, NULL);
    if (r < 0)
        return r;
    int fd = connect_to_peer(&s->c);
    if (fd < 0)
        return fd;
    struct sigaction sa;
    sigaction(SIGPIPE, NULL, &sa);
    s->sigpipe_ignored = sa.sa_handler == SIG_IGN;
    coio_send(fd, "!", 1, 0);                  /* the peer resets after this byte */
    s->c.peer_status = peer_wait(&s->c.p, 5); /* it has reset the connection */
    s->rc[0] = coio_recv(fd, s->buf, sizeof s->buf, 0);
    /* the connection is gone: writes fail with an error, never a signal */
    s->rc[1] = coio_send(fd, "x", 1, 0);
    s->rc[2] = coio_write(fd, "x", 1);
    s->rc[3] = coio_send_all(fd, "xyz", 3, 0);
    coio_close(fd);
    return 0;
}

static void peer_reset_is_an_error_not_sigpipe(void **state)
{
    (void)state;
    require_backend();
    struct peer_state s = {0};
    coio_assert_rc(coio_run(reset_main, &s), 0);
    assert_int_equal(s.c.peer_status, 0);
    assert_int_equal(s.sigpipe_ignored, 1);
    coio_assert_rc(s.rc[0], -ECONNRESET);
    coio_assert_rc(s.rc[1], -EPIPE);
    coio_assert_rc(s.rc[2], -EPIPE); /* plain write(2): SIGPIPE is ignored */
    coio_assert_rc(s.rc[3], -EPIPE);
}

/* SIGPIPE that the program handles itself stays its own; coio_send never raises it. */
static volatile sig_atomic_t got_sigpipe;
static void on_sigpipe(int sig)
{
    (void)sig;
    got_sigpipe++;
}

static int own_handler_main(void *arg)
{
    ssize_t *rc = arg;
    int sv[2];
    nb_socketpair(sv);
    coio_close(sv[1]);
    int s = coio_socket(AF_INET, SOCK_STREAM, 0); /* applies the policy */
    coio_close(s);
    rc[0] = coio_send(sv[0], "x", 1, 0);
    rc[1] = got_sigpipe;
    rc[2] = coio_write(sv[0], "x", 1);
    rc[3] = got_sigpipe;
    coio_close(sv[0]);
    return 0;
}

static void sigpipe_handler_of_the_program_is_kept(void **state)
{
    (void)state;
    require_backend();
    signal(SIGPIPE, on_sigpipe);
    ssize_t rc[4] = {0};
    coio_assert_rc(coio_run(own_handler_main, rc), 0);
    coio_assert_rc(rc[0], -EPIPE);
    assert_int_equal(rc[1], 0);
    coio_assert_rc(rc[2], -EPIPE);
    assert_int_equal(rc[3], 1);
    signal(SIGPIPE, SIG_DFL);
}

static int half_close_main(void *arg)
{
    struct peer_state *s = arg;
    int r = start_server_peer(&s->c, "serve-half-close", NULL, NULL);
    if (r < 0)
        return r;
    int fd = connect_to_peer(&s->c);
    if (fd < 0)
        return fd;
    char data[1000];
    memset(data, 'a', sizeof data);
    s->rc[0] = coio_send_all(fd, data, sizeof data, 0);
    s->rc[1] = shutdown(fd, SHUT_WR) == 0 ? 0 : -errno;
    ssize_t n;
    while ((n = coio_recv(fd, s->buf + s->got, sizeof s->buf - 1 - s->got, 0)) > 0)
        s->got += (size_t)n;
    s->rc[2] = n; /* 0: EOF after the answer */
    coio_close(fd);
    s->c.peer_status = peer_wait(&s->c.p, 5);
    return 0;
}

static void half_closing_peer_answers_then_eof(void **state)
{
    (void)state;
    require_backend();
    struct peer_state s = {0};
    coio_assert_rc(coio_run(half_close_main, &s), 0);
    coio_assert_rc(s.rc[0], 1000);
    coio_assert_rc(s.rc[1], 0);
    coio_assert_rc(s.rc[2], 0);
    assert_string_equal(s.buf, "got 1000 bytes");
    assert_int_equal(s.c.peer_status, 0);
}

/* A trickling peer in lock step: a thread sends one byte, then waits for our one-byte
 * acknowledgement before the next, so every read can only see what has arrived, whatever
 * the timing; a read that waited for more (or for the buffer to fill) would hang. */
static const char trickle_data[] = "hello, trickle";

struct trickle_peer {
    int lfd;
    int rc;
};

static void *trickle_thread(void *arg)
{
    struct trickle_peer *t = arg;
    int fd = accept4(t->lfd, NULL, NULL, SOCK_CLOEXEC); /* blocking: its own thread */
    t->rc = fd < 0 ? -errno : 0;
    for (size_t i = 0; fd >= 0 && i < sizeof trickle_data - 1; i++) {
        char ack;
        if (send(fd, trickle_data + i, 1, MSG_NOSIGNAL) != 1 || recv(fd, &ack, 1, 0) != 1) {
            t->rc = -EIO;
            break;
        }
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static int trickle_main(void *arg)
{
    struct peer_state *s = arg;
    struct trickle_peer t = {.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    struct sockaddr_in sa = loopback_addr(0);
    if (t.lfd < 0 || bind(t.lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(t.lfd, 1) < 0)
        return -errno;
    char port[16];
    snprintf(port, sizeof port, "%d", local_port(t.lfd));
    pthread_t th;
    if (pthread_create(&th, NULL, trickle_thread, &t) != 0)
        return -EAGAIN;
    int fd = coio_tcp_connect("127.0.0.1", port);
    ssize_t n = fd;
    int reads = 0;
    while (fd >= 0 && (n = coio_recv(fd, s->buf + s->got, sizeof s->buf - 1 - s->got, 0)) > 0) {
        s->got += (size_t)n;
        reads++;
        if (coio_send(fd, "a", 1, 0) != 1)
            break;
    }
    s->rc[0] = n;
    s->rc[1] = reads;
    if (fd >= 0)
        coio_close(fd);
    pthread_join(th, NULL); /* it has closed its end: returns at once */
    s->rc[2] = t.rc;
    close(t.lfd);
    return 0;
}

static void trickling_peer_is_read_piece_by_piece(void **state)
{
    (void)state;
    require_backend();
    int fds = coio_test_count_fds();
    struct peer_state s = {0};
    coio_assert_rc(coio_run(trickle_main, &s), 0);
    coio_assert_rc(s.rc[0], 0);
    assert_string_equal(s.buf, trickle_data);
    assert_int_equal(s.rc[1], (int)sizeof trickle_data - 1); /* one read per byte */
    coio_assert_rc(s.rc[2], 0);
    assert_int_equal(coio_test_count_fds(), fds);
}

static int silent_main(void *arg)
{
    struct peer_state *s = arg;
    int r = start_server_peer(&s->c, "serve-silent", "10", NULL);
    if (r < 0)
        return r;
    int fd = connect_to_peer(&s->c);
    if (fd < 0)
        return fd;
    coio_scope sc;
    coio_timeout_begin(&sc, 0.1);
    double t0 = coio_now();
    s->rc[0] = coio_recv(fd, s->buf, sizeof s->buf, 0);
    s->elapsed = coio_now() - t0;
    s->rc[1] = coio_scope_end(&sc);
    coio_close(fd);
    kill(s->c.p.pid, SIGTERM);
    peer_wait(&s->c.p, 5);
    return 0;
}

static void silent_peer_read_ends_at_the_deadline(void **state)
{
    (void)state;
    require_backend();
    struct peer_state s = {0};
    coio_assert_rc(coio_run(silent_main, &s), 0);
    coio_assert_rc(s.rc[0], -ETIMEDOUT);
    coio_assert_rc(s.rc[1], -ETIMEDOUT);
    assert_elapsed(s.elapsed, 0.09, 0.5);
}

/* ---- Unix-domain sockets ------------------------------------------------------------ */

struct unix_state {
    char path[108];
    ssize_t rc[12];
    char buf[16];
    int lfd;
};

static int unix_acceptor(void *arg)
{
    struct unix_state *s = arg;
    int a = coio_accept(s->lfd, NULL, NULL);
    if (a < 0)
        return a;
    ssize_t n = coio_recv(a, s->buf, sizeof s->buf, 0);
    if (n > 0)
        coio_send_all(a, s->buf, (size_t)n, 0);
    coio_close(a);
    return 0;
}

static int unix_roundtrip(struct unix_state *s, const char *path, ssize_t *rc)
{
    s->lfd = coio_unix_listen(path, 8);
    rc[0] = s->lfd >= 0 ? 0 : s->lfd;
    if (s->lfd < 0)
        return -1;
    coio_task *t = coio_spawn(unix_acceptor, s);
    int c = coio_unix_connect(path);
    rc[1] = c >= 0 ? is_nonblock_cloexec(c) : c;
    char back[16] = {0};
    coio_send_all(c, "unix", 4, 0);
    rc[2] = coio_recv(c, back, sizeof back, 0);
    rc[3] = memcmp(back, "unix", 4) == 0;
    coio_await(t);
    coio_close(c);
    coio_close(s->lfd);
    return 0;
}

/* Backlog full: the connect is retried until the server accepts. */
static int late_accept(void *arg)
{
    struct unix_state *s = arg;
    coio_sleep(0.1);
    int a = coio_accept(s->lfd, NULL, NULL);
    int b = coio_accept(s->lfd, NULL, NULL);
    coio_close(a);
    coio_close(b);
    return 0;
}

static int unix_main(void *arg)
{
    struct unix_state *s = arg;
    /* Per process: the epoll and io_uring entries of this case may run at once. */
    char abstract[64];
    snprintf(abstract, sizeof abstract, "@coio-test-abstract-%d", (int)getpid());
    unix_roundtrip(s, abstract, &s->rc[0]);
    snprintf(s->path, sizeof s->path, "/tmp/coio-test-%d.sock", (int)getpid());
    unix_roundtrip(s, s->path, &s->rc[4]); /* leaves a stale socket file behind */
    struct stat st;
    s->rc[8] = stat(s->path, &st) == 0 && S_ISSOCK(st.st_mode);
    int again = coio_unix_listen(s->path, 0); /* replaces the stale file */
    s->rc[9] = again >= 0 ? 0 : again;
    if (again >= 0) {
        s->lfd = again;
        listen(again, 0); /* a backlog of one connection */
        int c1 = coio_unix_connect(s->path); /* fills the backlog */
        coio_task *t = coio_spawn(late_accept, s);
        double t0 = coio_now();
        int c2 = coio_unix_connect(s->path);
        s->rc[10] = c1 >= 0 && c2 >= 0 && coio_now() - t0 >= 0.09;
        coio_await(t);
        coio_close(c1);
        coio_close(c2);
        coio_close(again);
    }
    unlink(s->path);
    /* a regular file is never replaced; names too long are refused */
    int f = open(s->path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    close(f);
    int r = coio_unix_listen(s->path, 0);
    unlink(s->path);
    char longp[200];
    memset(longp, 'x', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    s->rc[11] = r == -EADDRINUSE && coio_unix_connect(longp) == -ENAMETOOLONG &&
                coio_unix_connect("") == -EINVAL && coio_unix_connect("/nonexistent/x") == -ENOENT;
    return 0;
}

static void unix_stream_sockets_abstract_and_paths(void **state)
{
    (void)state;
    require_backend();
    struct unix_state s = {0};
    coio_assert_rc(coio_run(unix_main, &s), 0);
    for (int i = 0; i < 8; i += 4) {
        coio_assert_rc(s.rc[i + 0], 0);
        assert_int_equal(s.rc[i + 1], 1);
        coio_assert_rc(s.rc[i + 2], 4);
        assert_int_equal(s.rc[i + 3], 1);
    }
    assert_int_equal(s.rc[8], 1);
    coio_assert_rc(s.rc[9], 0);
    assert_int_equal(s.rc[10], 1);
    assert_int_equal(s.rc[11], 1);
}

/* A backlog <= 0 means SOMAXCONN for coio_unix_listen as for coio_tcp_listen: a plain
 * listen(fd, 0) would queue a single connection, and a further non-blocking connect to a
 * Unix socket fails with EAGAIN. Eight connects wait in the queue without an accept. */
static int unix_backlog_main(void *arg)
{
    ssize_t *rc = arg;
    char path[108];
    int backlogs[2] = {0, -5};
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "/tmp/coio-test-backlog-%d.sock", (int)getpid());
        int lfd = coio_unix_listen(path, backlogs[k]);
        rc[k * 2] = lfd < 0 ? lfd : 0;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        memcpy(sa.sun_path, path, strlen(path) + 1);
        int c[8], ok = 0;
        for (int i = 0; i < 8; i++) {
            c[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (connect(c[i], (struct sockaddr *)&sa, sizeof sa) == 0)
                ok++;
            else
                print_message("backlog %d: connect %d: %s\n", backlogs[k], i, strerror(errno));
        }
        rc[k * 2 + 1] = ok;
        for (int i = 0; i < 8; i++)
            close(c[i]);
        if (lfd >= 0)
            coio_close(lfd);
        unlink(path);
    }
    return 0;
}

static void unix_listen_backlog_zero_or_negative_is_somaxconn(void **state)
{
    (void)state;
    require_backend();
    ssize_t rc[4] = {1, 1, 1, 1};
    coio_assert_rc(coio_run(unix_backlog_main, rc), 0);
    coio_assert_rc(rc[0], 0);
    assert_int_equal(rc[1], 8);
    coio_assert_rc(rc[2], 0);
    assert_int_equal(rc[3], 8);
}

/* Addresses as text: a port-0 listener's port, both ends of a TCP connection, IPv6,
 * Unix paths, abstract and unnamed sockets, and the errors. */
struct names_state {
    int rc[16];
    char txt[8][COIO_ADDRSTRLEN];
    int port, client_port;
};

static int names_main(void *arg)
{
    struct names_state *s = arg;
    int lfd = coio_tcp_listen("127.0.0.1", "0", 0);
    s->port = coio_sock_port(lfd);
    s->rc[0] = s->port == local_port(lfd) && s->port > 0;
    s->rc[1] = coio_sock_name(lfd, s->txt[0], sizeof s->txt[0]);
    int c = coio_tcp_connect("127.0.0.1", s->txt[0] + strlen("127.0.0.1:"));
    int a = coio_accept(lfd, NULL, NULL);
    s->client_port = coio_sock_port(c);
    s->rc[2] = coio_peer_name(a, s->txt[1], sizeof s->txt[1]);  /* the client */
    s->rc[3] = coio_peer_name(c, s->txt[2], sizeof s->txt[2]);  /* the listener's port */
    s->rc[4] = coio_peer_name(lfd, s->txt[3], sizeof s->txt[3]); /* not connected */
    char tiny[8];
    s->rc[5] = coio_peer_name(a, tiny, sizeof tiny);
    s->rc[6] = tiny[0] == '\0';
    coio_close(a);
    coio_close(c);
    coio_close(lfd);

    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons(8080),
                              .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    s->rc[7] = coio_sockaddr_format((struct sockaddr *)&v6, sizeof v6, s->txt[4], COIO_ADDRSTRLEN);
    char name[64]; /* per process: the two backends' entries may run at once */
    snprintf(name, sizeof name, "@coio-test-names-%d", (int)getpid());
    int u = coio_unix_listen(name, 0);
    s->rc[8] = coio_sock_name(u, s->txt[5], sizeof s->txt[5]);
    s->rc[9] = coio_sock_port(u);
    coio_close(u);
    struct sockaddr_un un = {.sun_family = AF_UNIX, .sun_path = "/run/x.sock"};
    s->rc[10] = coio_sockaddr_format((struct sockaddr *)&un, sizeof un, s->txt[6], COIO_ADDRSTRLEN);
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
    s->rc[11] = coio_peer_name(sv[0], s->txt[7], sizeof s->txt[7]); /* unnamed: "" */
    close(sv[0]);
    close(sv[1]);
    struct sockaddr other = {.sa_family = AF_APPLETALK};
    s->rc[12] = coio_sockaddr_format(&other, sizeof other, tiny, sizeof tiny);
    s->rc[13] = coio_sockaddr_format(NULL, 0, tiny, sizeof tiny);
    int p[2];
    s->rc[14] = pipe2(p, O_CLOEXEC) == 0 ? coio_sock_port(p[0]) : -errno;
    close(p[0]);
    close(p[1]);
    s->rc[15] = coio_sock_port(-1);
    return 0;
}

static void socket_addresses_as_text_and_the_bound_port(void **state)
{
    (void)state;
    require_backend();
    struct names_state s = {0};
    coio_assert_rc(coio_run(names_main, &s), 0);
    char want[COIO_ADDRSTRLEN];
    assert_int_equal(s.rc[0], 1);
    snprintf(want, sizeof want, "127.0.0.1:%d", s.port);
    assert_string_equal(s.txt[0], want);
    coio_assert_rc(s.rc[1], (int)strlen(want));
    assert_string_equal(s.txt[2], want);
    snprintf(want, sizeof want, "127.0.0.1:%d", s.client_port);
    assert_string_equal(s.txt[1], want);
    coio_assert_rc(s.rc[2], (int)strlen(want));
    coio_assert_rc(s.rc[4], -ENOTCONN);
    coio_assert_rc(s.rc[5], -ENOSPC);
    assert_int_equal(s.rc[6], 1);
    assert_string_equal(s.txt[4], "[::1]:8080");
    coio_assert_rc(s.rc[7], 10);
    char name[64];
    snprintf(name, sizeof name, "@coio-test-names-%d", (int)getpid());
    assert_string_equal(s.txt[5], name);
    coio_assert_rc(s.rc[9], -EAFNOSUPPORT);
    assert_string_equal(s.txt[6], "/run/x.sock");
    assert_string_equal(s.txt[7], "");
    coio_assert_rc(s.rc[11], 0);
    coio_assert_rc(s.rc[12], -EAFNOSUPPORT);
    coio_assert_rc(s.rc[13], -EINVAL);
    coio_assert_rc(s.rc[14], -ENOTSOCK);
    coio_assert_rc(s.rc[15], -EBADF);
}

/* ---- UDP --------------------------------------------------------------------------- */

struct udp_state {
    ssize_t rc[10];
    char buf[64];
};

static int udp_blocked(void *arg)
{
    int *fd = arg;
    char b[8];
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    return (int)coio_recvfrom(*fd, b, sizeof b, 0, (struct sockaddr *)&from, &fl);
}

static int udp_main(void *arg)
{
    struct udp_state *s = arg;
    int a = coio_udp_bind("127.0.0.1", "0");
    int b = coio_udp_bind("127.0.0.1", "0");
    if (a < 0 || b < 0)
        return -1;
    struct sockaddr_in to = loopback_addr(local_port(b));
    s->rc[0] = coio_sendto(a, "dgram1", 6, 0, (struct sockaddr *)&to, sizeof to);
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    s->rc[1] = coio_recvfrom(b, s->buf, sizeof s->buf, 0, (struct sockaddr *)&from, &fl);
    s->rc[2] = fl == sizeof from && ntohs(from.sin_port) == local_port(a);
    /* a connected UDP socket talks to b with send/recv */
    char port[16];
    snprintf(port, sizeof port, "%d", local_port(b));
    int c = coio_udp_connect("127.0.0.1", port);
    s->rc[3] = coio_send(c, "dgram2", 6, 0);
    s->rc[4] = coio_recvfrom(b, s->buf, sizeof s->buf, 0, NULL, NULL);
    s->rc[5] = memcmp(s->buf, "dgram2", 6) == 0;
    /* datagram boundaries are kept */
    coio_sendto(b, "x", 1, 0, (struct sockaddr *)&from, fl);
    coio_sendto(b, "yy", 2, 0, (struct sockaddr *)&from, fl);
    s->rc[6] = coio_recv(a, s->buf, sizeof s->buf, 0);
    s->rc[7] = coio_recv(a, s->buf, sizeof s->buf, 0);
    /* a blocked recvfrom can be cancelled */
    coio_task *t = coio_spawn(udp_blocked, &a);
    coio_sleep(0.02);
    coio_cancel(t);
    s->rc[8] = coio_await(t);
    s->rc[9] = coio_recvfrom(a, s->buf, 1, 0, (struct sockaddr *)&from, NULL);
    coio_close(a);
    coio_close(b);
    coio_close(c);
    return 0;
}

static void udp_datagrams_sendto_recvfrom_connect(void **state)
{
    (void)state;
    require_backend();
    struct udp_state s = {0};
    coio_assert_rc(coio_run(udp_main, &s), 0);
    coio_assert_rc(s.rc[0], 6);
    coio_assert_rc(s.rc[1], 6);
    assert_int_equal(s.rc[2], 1);
    coio_assert_rc(s.rc[3], 6);
    coio_assert_rc(s.rc[4], 6);
    assert_int_equal(s.rc[5], 1);
    coio_assert_rc(s.rc[6], 1);
    coio_assert_rc(s.rc[7], 2);
    coio_assert_rc(s.rc[8], -ECANCELED);
    coio_assert_rc(s.rc[9], -EINVAL);
}

/* ---- fairness ----------------------------------------------------------------------- */

/* Connection A is flooded by a thread that writes as fast as it can; its reader task
 * reads one byte at a time, so its socket is always ready and its calls never block.
 * Connection B does ping-pong between two tasks of the same loop. The I/O budget makes
 * A's reader yield every COIO__IO_BUDGET operations, so B's round trips go on. */
struct fair_state {
    int a[2], b[2];
    atomic_int stop;
    long flood_bytes, bytes_during_b;
    int rtts;
    double max_rtt, b_elapsed;
    double flood_deadline;
};

static void *flooder(void *arg)
{
    struct fair_state *s = arg;
    int fd = s->a[1];
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    static char buf[65536];
    while (!atomic_load(&s->stop))
        if (send(fd, buf, sizeof buf, MSG_NOSIGNAL) < 0)
            break;
    return NULL;
}

static int flood_reader(void *arg)
{
    struct fair_state *s = arg;
    char c;
    /* never gives up the CPU on its own: no sleep, no yield, only reads that succeed */
    while (!atomic_load(&s->stop) && mono_now() < s->flood_deadline) {
        ssize_t n = coio_recv(s->a[0], &c, 1, 0);
        if (n <= 0)
            return (int)n;
        s->flood_bytes++;
    }
    return 0;
}

static int echo_once_loop(void *arg)
{
    struct fair_state *s = arg;
    char c;
    for (int i = 0; i < 100; i++) {
        if (coio_recv(s->b[1], &c, 1, 0) != 1)
            return -1;
        if (coio_send(s->b[1], &c, 1, 0) != 1)
            return -1;
    }
    return 0;
}

static int pinger(void *arg)
{
    struct fair_state *s = arg;
    coio_sleep(0.02); /* the flood is under way */
    long before = s->flood_bytes;
    double t0 = mono_now();
    char c = 'p';
    for (int i = 0; i < 100; i++) {
        double t = mono_now();
        if (coio_send(s->b[0], &c, 1, 0) != 1 || coio_recv(s->b[0], &c, 1, 0) != 1)
            return -1;
        double rtt = mono_now() - t;
        if (rtt > s->max_rtt)
            s->max_rtt = rtt;
        s->rtts++;
    }
    s->b_elapsed = mono_now() - t0;
    s->bytes_during_b = s->flood_bytes - before;
    atomic_store(&s->stop, 1);
    return 0;
}

static int fair_main(void *arg)
{
    struct fair_state *s = arg;
    s->flood_deadline = mono_now() + 10;
    pthread_t th;
    pthread_create(&th, NULL, flooder, s);
    coio_task *r = coio_spawn(flood_reader, s);
    coio_task *e = coio_spawn(echo_once_loop, s);
    coio_task *p = coio_spawn(pinger, s);
    int rc = coio_gather(r, e, p);
    atomic_store(&s->stop, 1);
    shutdown(s->a[0], SHUT_RDWR); /* unblocks the flooder */
    pthread_join(th, NULL);
    for (int i = 0; i < 2; i++) {
        coio_close(s->a[i]);
        coio_close(s->b[i]);
    }
    return rc;
}

/* The I/O budget (io.c) makes a task whose socket is always ready yield and end the
 * turn, so the loop polls and the quiet connection's task gets its turn. */
static void flooding_connection_cannot_stall_another(void **state)
{
    (void)state;
    require_backend();
    struct fair_state s = {0};
    nb_socketpair(s.a);
    nb_socketpair(s.b);
    coio_assert_rc(coio_run(fair_main, &s), 0);
    print_message("fairness: 100 round trips in %.1f ms (max %.2f ms) while the flood "
                  "read %ld bytes\n", s.b_elapsed * 1e3, s.max_rtt * 1e3, s.bytes_during_b);
    assert_int_equal(s.rtts, 100);
    assert_true(s.bytes_during_b > 0); /* the flood went on meanwhile */
    assert_elapsed(s.b_elapsed, 0.0, 2.0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(socket_ops_move_data_and_suspend_only_the_task),
    cmocka_unit_test(tcp_listen_connect_accept_and_send_all),
    cmocka_unit_test(tcp_listen_reuseport_shares_a_port),
    cmocka_unit_test(tcp_connect_tries_every_address_and_happy_eyeballs_staggers),
    cmocka_unit_test(tcp_over_ipv6_loopback_and_v6only),
    cmocka_unit_test(happy_eyeballs_interleaves_address_families),
    cmocka_unit_test(cancel_in_the_middle_of_connect_leaks_no_fd),
    cmocka_unit_test(cancel_in_the_middle_of_read_and_write_leaks_no_fd),
    cmocka_unit_test(peer_reset_is_an_error_not_sigpipe),
    cmocka_unit_test(sigpipe_handler_of_the_program_is_kept),
    cmocka_unit_test(half_closing_peer_answers_then_eof),
    cmocka_unit_test(trickling_peer_is_read_piece_by_piece),
    cmocka_unit_test(silent_peer_read_ends_at_the_deadline),
    cmocka_unit_test(unix_stream_sockets_abstract_and_paths),
    cmocka_unit_test(unix_listen_backlog_zero_or_negative_is_somaxconn),
    cmocka_unit_test(socket_addresses_as_text_and_the_bound_port),
    cmocka_unit_test(udp_datagrams_sendto_recvfrom_connect),
    cmocka_unit_test(flooding_connection_cannot_stall_another),
};

COIO_TEST_MAIN(tests)
