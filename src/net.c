/*
 * Sockets: thin wrappers that turn socket calls into coio__op operations (so they
 * suspend only the task and honour cancellation and deadline scopes), and TCP, Unix and
 * UDP endpoints by name: connect (sequential or Happy Eyeballs), listen, bind.
 * DNS is in dns.c, the accept-loop server in server.c.
 */
#include "net.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* ------------------------------------------------------------------ SIGPIPE policy */

/* write(2) on a socket or pipe whose reader is gone raises SIGPIPE, whose default action
 * kills the process. coio's own send calls use MSG_NOSIGNAL; for plain writes the first
 * socket coio creates switches a still-default SIGPIPE to SIG_IGN, as CPython does at
 * startup (asyncio relies on it). A disposition the program chose is kept. */
static pthread_once_t sigpipe_once = PTHREAD_ONCE_INIT;

static void ignore_sigpipe(void)
{
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
        !(old.sa_flags & SA_SIGINFO)) {
        struct sigaction ign = {.sa_handler = SIG_IGN};
        sigemptyset(&ign.sa_mask);
        sigaction(SIGPIPE, &ign, NULL);
    }
}

void coio__net_init(void)
{
    pthread_once(&sigpipe_once, ignore_sigpipe);
}

/* ------------------------------------------------------------------ socket operations */

int coio_socket(int domain, int type, int protocol)
{
    coio__net_init();
    int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    return fd >= 0 ? fd : -errno;
}

ssize_t coio_recv(int fd, void *buf, size_t n, int flags)
{
    if (fd < 0)
        return -EBADF;
    if (!buf && n)
        return -EINVAL;
    coio__op op = {.code = COIO__OP_RECV, .fd = fd, .a.buf = {buf, n}, .flags = flags};
    return coio__op_run(&op);
}

ssize_t coio_send(int fd, const void *buf, size_t n, int flags)
{
    if (fd < 0)
        return -EBADF;
    if (!buf && n)
        return -EINVAL;
    coio__op op = {.code = COIO__OP_SEND, .fd = fd, .a.buf = {(void *)buf, n}, .flags = flags};
    return coio__op_run(&op);
}

ssize_t coio_send_all(int fd, const void *buf, size_t n, int flags)
{
    const char *p = buf;
    size_t done = 0;
    if (!buf && n)
        return -EINVAL;
    do {
        ssize_t w = coio_send(fd, p + done, n - done, flags);
        if (w < 0)
            return w;
        done += (size_t)w;
    } while (done < n);
    return (ssize_t)n;
}

ssize_t coio_recvmsg(int fd, struct msghdr *msg, int flags)
{
    if (fd < 0)
        return -EBADF;
    if (!msg)
        return -EINVAL;
    coio__op op = {.code = COIO__OP_RECVMSG, .fd = fd, .flags = flags, .a.msg = msg};
    return coio__op_run(&op);
}

ssize_t coio_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    if (fd < 0)
        return -EBADF;
    if (!msg)
        return -EINVAL;
    coio__op op = {.code = COIO__OP_SENDMSG, .fd = fd, .flags = flags,
                   .a.msg = (struct msghdr *)msg};
    return coio__op_run(&op);
}

/* recvfrom/sendto are recvmsg/sendmsg with one iovec: both backends already implement
 * those, and io_uring has no recvfrom opcode. */
ssize_t coio_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
                      socklen_t *addrlen)
{
    if (!buf && n)
        return -EINVAL;
    if (addr && !addrlen)
        return -EINVAL;
    struct iovec iov = {.iov_base = buf, .iov_len = n};
    struct msghdr msg = {.msg_name = addr, .msg_namelen = addr ? *addrlen : 0,
                         .msg_iov = &iov, .msg_iovlen = 1};
    ssize_t r = coio_recvmsg(fd, &msg, flags);
    if (r >= 0 && addr)
        *addrlen = msg.msg_namelen;
    return r;
}

ssize_t coio_sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr,
                    socklen_t addrlen)
{
    if (!buf && n)
        return -EINVAL;
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = n};
    struct msghdr msg = {.msg_name = (void *)addr, .msg_namelen = addr ? addrlen : 0,
                         .msg_iov = &iov, .msg_iovlen = 1};
    return coio_sendmsg(fd, &msg, flags);
}

static ssize_t iov_op(uint8_t code, int fd, const struct iovec *iov, int iovcnt)
{
    if (fd < 0)
        return -EBADF;
    if ((!iov && iovcnt) || iovcnt < 0)
        return -EINVAL;
    coio__op op = {.code = code, .fd = fd, .a.iov = {iov, iovcnt}};
    return coio__op_run(&op);
}

ssize_t coio_readv(int fd, const struct iovec *iov, int iovcnt)
{
    return iov_op(COIO__OP_READV, fd, iov, iovcnt);
}

ssize_t coio_writev(int fd, const struct iovec *iov, int iovcnt)
{
    return iov_op(COIO__OP_WRITEV, fd, iov, iovcnt);
}

ssize_t coio_writev_all(int fd, struct iovec *iov, int iovcnt)
{
    if ((!iov && iovcnt) || iovcnt < 0)
        return -EINVAL;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    while (iovcnt > 0 && iov->iov_len == 0) {
        iov++;
        iovcnt--;
    }
    while (iovcnt > 0) {
        ssize_t w = coio_writev(fd, iov, iovcnt > IOV_MAX ? IOV_MAX : iovcnt);
        if (w < 0)
            return w;
        size_t left = (size_t)w;
        while (iovcnt > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (left) {
            iov->iov_base = (char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return (ssize_t)total;
}

int coio_accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    if (fd < 0)
        return -EBADF;
    if (addr && !addrlen)
        return -EINVAL;
    coio__net_init();
    coio__op op = {.code = COIO__OP_ACCEPT, .fd = fd, .flags = SOCK_NONBLOCK | SOCK_CLOEXEC,
                   .a.accept = {.addr = addr, .addrlen = addr ? addrlen : NULL}};
    return (int)coio__op_run(&op);
}

/* A Unix-domain connect to a listener whose backlog is full fails with EAGAIN (TCP says
 * EINPROGRESS and completes later), and no readiness event announces room in the
 * backlog: retry with back-off. The CONNECT op can't be used for it: after the first
 * attempt it only reads SO_ERROR, which is 0 on a socket that never connected. */
static int unix_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    double pause = 0.001;
    for (;;) {
        coio__loop *L = coio__loop_get();
        int r = coio__check(L, L ? L->current : NULL);
        if (r < 0)
            return r;
        if (connect(fd, addr, len) == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -errno;
        r = coio_sleep(pause);
        if (r < 0)
            return r;
        pause = pause < 0.05 ? pause * 2 : 0.1;
    }
}

int coio_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    if (fd < 0)
        return -EBADF;
    if (!addr || addrlen < sizeof(sa_family_t))
        return -EINVAL;
    if (addr->sa_family == AF_UNIX)
        return unix_connect(fd, addr, addrlen);
    coio__op op = {.code = COIO__OP_CONNECT, .fd = fd,
                   .a.connect = {.addr = addr, .len = addrlen}};
    return (int)coio__op_run(&op);
}

/* ------------------------------------------------------------------ TCP connect */

/* True if the current task's cancellation or deadline ended the last call: then no
 * further address is tried (a connect's own ETIMEDOUT from the kernel is not one). */
static bool interrupted(void)
{
    coio__loop *L = coio__loop_get();
    return coio__check(L, L->current) < 0;
}

static int set_nodelay(int fd, unsigned flags)
{
    int one = 1;
    if (flags & COIO_TCP_NAGLE)
        return 0;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        return -errno;
    return 0;
}

/* Creates a socket for ai and connects it. Returns the fd or a negative errno. */
static int connect_one(const struct addrinfo *ai, unsigned flags)
{
    int fd = coio_socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0)
        return fd;
    int r = coio_connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (r == 0 && ai->ai_socktype == SOCK_STREAM)
        r = set_nodelay(fd, flags);
    if (r < 0) {
        coio_close(fd);
        return r;
    }
    return fd;
}

/* RFC 8305 section 4: alternate address families, starting with the first address's.
 * Rebuilds the ai_next chain of the list in place. */
static struct addrinfo *interleave(struct addrinfo *list)
{
    struct addrinfo *a = NULL, **at = &a, *b = NULL, **bt = &b;
    int fam = list ? list->ai_family : 0;
    for (struct addrinfo *p = list, *next; p; p = next) {
        next = p->ai_next;
        p->ai_next = NULL;
        if (p->ai_family == fam) {
            *at = p;
            at = &p->ai_next;
        } else {
            *bt = p;
            bt = &p->ai_next;
        }
    }
    struct addrinfo *out = NULL, **ot = &out;
    while (a || b) {
        if (a) {
            *ot = a;
            ot = &a->ai_next;
            a = a->ai_next;
        }
        if (b) {
            *ot = b;
            ot = &b->ai_next;
            b = b->ai_next;
        }
    }
    *ot = NULL;
    return out;
}

typedef struct he_race he_race;

typedef struct he_attempt {
    he_race *race;
    const struct addrinfo *ai;
    coio_task *task;
    int fd;  /* the connected socket, or -1 */
    int err; /* the failure */
    bool done;
} he_attempt;

struct he_race {
    coio_task *waiter; /* parked on the race while attempts run */
    unsigned flags;
    size_t finished;
};

static int he_attempt_main(void *arg)
{
    he_attempt *a = arg;
    int r = connect_one(a->ai, a->race->flags);
    a->fd = r >= 0 ? r : -1;
    a->err = r < 0 ? r : 0;
    a->done = true;
    a->race->finished++;
    coio__loop *L = coio__loop_get();
    coio_task *w = a->race->waiter;
    if (w)
        coio__wake_if_waiting(L, w, a->race, 0);
    return 0;
}

/* Staggered race of connection attempts (asyncio.staggered.staggered_race): attempt i+1
 * starts `delay` after attempt i, or at once when every started attempt has failed. */
static int happy_eyeballs(struct addrinfo *list, double delay, unsigned flags)
{
    coio__loop *L = coio__loop_get();
    coio_task *self = L->current;
    size_t n = 0;
    for (struct addrinfo *p = list; p; p = p->ai_next)
        n++;
    he_attempt *at = calloc(n, sizeof *at);
    if (!at)
        return -ENOMEM;
    he_race race = {.waiter = self, .flags = flags};
    const struct addrinfo *next = list;
    size_t started = 0;
    int winner = -1, err = -ECONNREFUSED, stop = 0;
    int64_t step = (int64_t)(delay * 1e9);

    while (winner < 0 && !stop) {
        if (next) {
            he_attempt *a = &at[started];
            *a = (he_attempt){.race = &race, .ai = next, .fd = -1};
            a->task = coio_spawn(he_attempt_main, a);
            if (!a->task) {
                err = -ENOMEM;
                break;
            }
            started++;
            next = next->ai_next;
        }
        int64_t deadline = next ? coio__clock_ns() + step : COIO__NEVER;
        for (;;) {
            size_t failed = 0;
            for (size_t i = 0; i < started; i++) {
                if (!at[i].done)
                    continue;
                if (at[i].fd >= 0) {
                    winner = (int)i;
                    break;
                }
                failed++;
                err = at[i].err;
            }
            if (winner >= 0)
                break;
            if (failed == started)
                break; /* every started attempt failed: start the next now, or give up */
            int r = coio__park(L, self, "tcp connect (happy eyeballs)", &race, NULL, deadline,
                               true);
            if (r < 0) {
                err = r;
                stop = 1;
                break;
            }
            if (deadline != COIO__NEVER && coio__clock_ns() >= deadline)
                break;
        }
        if (winner < 0 && !next && race.finished == started)
            break;
    }
    race.waiter = NULL;
    /* Cancel the losers and collect every attempt; close sockets that also connected. */
    for (size_t i = 0; i < started; i++)
        if (!at[i].done)
            coio_cancel(at[i].task);
    for (size_t i = 0; i < started; i++) {
        coio_await(at[i].task);
        if (at[i].fd >= 0 && (int)i != winner)
            coio_close(at[i].fd);
    }
    int fd = winner >= 0 ? at[winner].fd : err;
    free(at);
    return fd;
}

int coio_tcp_connect_ex(const char *host, const char *service, const coio_tcp_connect_opts *opts)
{
    coio_tcp_connect_opts o = opts ? *opts : (coio_tcp_connect_opts){0};
    if (!host || !service || o.happy_eyeballs_delay < 0 || o.happy_eyeballs_delay != o.happy_eyeballs_delay)
        return -EINVAL;
    struct addrinfo hints = {.ai_family = o.family, .ai_socktype = SOCK_STREAM};
    struct addrinfo *list;
    int r = coio_getaddrinfo(host, service, &hints, &list);
    if (r < 0)
        return r;
    if (o.flags & COIO_TCP_HAPPY_EYEBALLS) {
        list = interleave(list);
        r = happy_eyeballs(list, o.happy_eyeballs_delay > 0 ? o.happy_eyeballs_delay : 0.25,
                           o.flags);
    } else {
        r = -ECONNREFUSED;
        for (struct addrinfo *p = list; p; p = p->ai_next) {
            r = connect_one(p, o.flags);
            if (r >= 0 || interrupted())
                break;
        }
    }
    freeaddrinfo(list);
    return r;
}

int coio_tcp_connect(const char *host, const char *service)
{
    return coio_tcp_connect_ex(host, service, NULL);
}

/* ------------------------------------------------------------------ listen and bind */

static int set_int(int fd, int level, int opt, int v)
{
    return setsockopt(fd, level, opt, &v, sizeof v) < 0 ? -errno : 0;
}

/* Binds a socket to the first address of host:service that works; listens if backlog
 * is not -1. Returns the fd or the last error. */
static int bind_first(const char *host, const char *service, int family, int socktype,
                      unsigned flags, int backlog)
{
    struct addrinfo hints = {.ai_family = family, .ai_socktype = socktype,
                             .ai_flags = AI_PASSIVE};
    struct addrinfo *list;
    int r = coio_getaddrinfo(host, service, &hints, &list);
    if (r < 0)
        return r;
    r = -EADDRNOTAVAIL;
    for (struct addrinfo *p = list; p; p = p->ai_next) {
        int fd = coio_socket(p->ai_family, p->ai_socktype, p->ai_protocol);
        if (fd < 0) {
            r = fd;
            continue;
        }
        r = 0;
        if (socktype == SOCK_STREAM)
            r = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
        if (r == 0 && (flags & COIO_TCP_REUSEPORT))
            r = set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1);
        if (r == 0 && p->ai_family == AF_INET6 && (flags & COIO_TCP_V6ONLY))
            r = set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
        if (r == 0 && bind(fd, p->ai_addr, p->ai_addrlen) < 0)
            r = -errno;
        if (r == 0 && backlog != -1 && listen(fd, backlog) < 0)
            r = -errno;
        if (r == 0) {
            r = fd;
            break;
        }
        coio_close(fd);
    }
    freeaddrinfo(list);
    return r;
}

/* The backlog rule of every listen call: <= 0 means SOMAXCONN (listen(2) would take 0
 * as a queue of one, and -1 as "don't listen" in bind_first). */
static int listen_backlog(int backlog)
{
    return backlog > 0 ? backlog : SOMAXCONN;
}

int coio_tcp_listen_ex(const char *host, const char *service, const coio_tcp_listen_opts *opts)
{
    coio_tcp_listen_opts o = opts ? *opts : (coio_tcp_listen_opts){0};
    if (!service)
        return -EINVAL;
    return bind_first(host, service, o.family, SOCK_STREAM, o.flags, listen_backlog(o.backlog));
}

int coio_tcp_listen(const char *host, const char *service, int backlog)
{
    return coio_tcp_listen_ex(host, service, &(coio_tcp_listen_opts){.backlog = backlog});
}

int coio_udp_bind(const char *host, const char *service)
{
    if (!service)
        return -EINVAL;
    return bind_first(host, service, AF_UNSPEC, SOCK_DGRAM, 0, -1);
}

int coio_udp_connect(const char *host, const char *service)
{
    if (!host || !service)
        return -EINVAL;
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM};
    struct addrinfo *list;
    int r = coio_getaddrinfo(host, service, &hints, &list);
    if (r < 0)
        return r;
    r = -EADDRNOTAVAIL;
    for (struct addrinfo *p = list; p; p = p->ai_next) {
        r = connect_one(p, 0); /* a UDP connect completes at once: it only sets the peer */
        if (r >= 0 || interrupted())
            break;
    }
    freeaddrinfo(list);
    return r;
}

/* ------------------------------------------------------------------ Unix domain */

static int unix_addr(const char *path, struct sockaddr_un *sa, socklen_t *len)
{
    if (!path || !*path)
        return -EINVAL;
    size_t n = strlen(path);
    if (n >= sizeof sa->sun_path)
        return -ENAMETOOLONG;
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, path, n);
    if (path[0] == '@') { /* abstract: the name is every byte after the NUL, no terminator */
        sa->sun_path[0] = '\0';
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    return 0;
}

int coio_unix_connect(const char *path)
{
    struct sockaddr_un sa;
    socklen_t len;
    int r = unix_addr(path, &sa, &len);
    if (r < 0)
        return r;
    int fd = coio_socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return fd;
    r = coio_connect(fd, (struct sockaddr *)&sa, len);
    if (r < 0) {
        coio_close(fd);
        return r;
    }
    return fd;
}

int coio_unix_listen(const char *path, int backlog)
{
    struct sockaddr_un sa;
    socklen_t len;
    int r = unix_addr(path, &sa, &len);
    if (r < 0)
        return r;
    int fd = coio_socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return fd;
    if (path[0] != '@') {
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(path); /* stale socket file of an earlier server (asyncio does this) */
    }
    if (bind(fd, (struct sockaddr *)&sa, len) < 0 ||
        listen(fd, listen_backlog(backlog)) < 0) {
        r = -errno;
        coio_close(fd);
        return r;
    }
    return fd;
}

/* ------------------------------------------------------------------ addresses */

int coio_sockaddr_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t cap)
{
    if (!sa || !buf || !cap || len < sizeof(sa_family_t))
        return -EINVAL;
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    int n;
    switch (sa->sa_family) {
    case AF_INET:
    case AF_INET6:
        /* Numeric only: never a DNS lookup. A link-local IPv6 gets its "%scope". */
        if (getnameinfo(sa, len, host, sizeof host, serv, sizeof serv,
                        NI_NUMERICHOST | NI_NUMERICSERV) != 0)
            return -EINVAL;
        n = snprintf(buf, cap, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, serv);
        break;
    case AF_UNIX: {
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        size_t plen = len > offsetof(struct sockaddr_un, sun_path)
                          ? len - offsetof(struct sockaddr_un, sun_path) : 0;
        if (plen > sizeof un->sun_path)
            plen = sizeof un->sun_path;
        if (plen == 0) /* unnamed (a socketpair, an unbound client) */
            n = snprintf(buf, cap, "%s", "");
        else if (un->sun_path[0] == '\0') /* abstract: shown with '@' as in coio_unix_* */
            n = snprintf(buf, cap, "@%.*s", (int)(plen - 1), un->sun_path + 1);
        else
            n = snprintf(buf, cap, "%.*s", (int)strnlen(un->sun_path, plen), un->sun_path);
        break;
    }
    default:
        return -EAFNOSUPPORT;
    }
    if (n < 0 || (size_t)n >= cap) {
        buf[0] = '\0';
        return -ENOSPC;
    }
    return n;
}

static int name_of(int fd, bool peer, char *buf, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (!buf || !cap)
        return -EINVAL;
    if ((peer ? getpeername : getsockname)(fd, (struct sockaddr *)&ss, &len) < 0)
        return -errno;
    return coio_sockaddr_format((struct sockaddr *)&ss, len, buf, cap);
}

int coio_peer_name(int fd, char *buf, size_t cap)
{
    return name_of(fd, true, buf, cap);
}

int coio_sock_name(int fd, char *buf, size_t cap)
{
    return name_of(fd, false, buf, cap);
}

int coio_sock_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -errno;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -EAFNOSUPPORT;
}
