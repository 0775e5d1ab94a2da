/*
 * epoll backend: an operation is tried at once (non-blocking); if it would block, the
 * task waits for readiness and the loop retries the system call for it.
 *
 * Each fd is registered once, edge-triggered, for both directions (EPOLLIN | EPOLLOUT |
 * EPOLLRDHUP | EPOLLET), the first time an operation on it would block. No EPOLL_CTL_MOD
 * ever follows, so a connection costs one epoll_ctl in its life. Edge triggering is safe
 * here because every operation first tries its system call: readiness that arrived
 * while nobody waited is found by that first try, and an operation only waits after
 * seeing EAGAIN, after which the kernel reports the next edge.
 */
#include "internal.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#define WAKE_TAG UINT64_MAX
#define MAX_EVENTS 256

typedef struct fd_state {
    coio__list readers; /* ops waiting for EPOLLIN */
    coio__list writers; /* ops waiting for EPOLLOUT */
    bool registered;
    bool in_maybe;  /* EPOLLIN edge seen since the last read found the fd drained */
    bool is_stream; /* SOCK_STREAM socket: a short read drains it */
    bool in_final;  /* EOF, hang-up or error seen: reads never block again */
    bool kind_known; /* is_file below was measured (one fstat per fd, until forgotten) */
    bool is_file;    /* regular file or block device: reads and writes go to the pool */
} fd_state;

typedef struct epoll_backend {
    int epfd;
    int evfd;
    coio__fdtable fds;
    bool have_pwait2;
    struct epoll_event events[MAX_EVENTS];
} epoll_backend;

static void fd_state_init(void *p);

static int ep_init(coio__loop *L)
{
    epoll_backend *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    coio__fdtable_init(&b->fds, sizeof(fd_state), fd_state_init);
    b->have_pwait2 = true;
    b->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (b->epfd < 0) {
        int e = -errno;
        free(b);
        return e;
    }
    b->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    /* Edge-triggered: every write to the eventfd is an edge, so the loop never reads
     * it back (a system call per wake-up less); the counter cannot fill in practice
     * (2^64 - 2 wake-ups). */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = WAKE_TAG};
    if (b->evfd < 0 || epoll_ctl(b->epfd, EPOLL_CTL_ADD, b->evfd, &ev) < 0) {
        int e = -errno;
        if (b->evfd >= 0)
            close(b->evfd);
        close(b->epfd);
        free(b);
        return e;
    }
    L->backend_data = b;
    L->wake_fd = b->evfd;
    return 0;
}

static void ep_destroy(coio__loop *L)
{
    epoll_backend *b = L->backend_data;
    close(b->evfd);
    close(b->epfd);
    coio__fdtable_free(&b->fds);
    free(b);
    L->backend_data = NULL;
}

static void fd_state_init(void *p)
{
    fd_state *st = p;
    coio__list_init(&st->readers);
    coio__list_init(&st->writers);
    st->registered = false;
    st->in_maybe = true;
    st->is_stream = false;
    st->in_final = false;
    st->kind_known = false;
    st->is_file = false;
}

static fd_state *get_fd(epoll_backend *b, int fd)
{
    return coio__fdtable_get(&b->fds, fd);
}

static fd_state *find_fd(epoll_backend *b, int fd)
{
    return coio__fdtable_find(&b->fds, fd);
}


/* A read that returned less than asked drained a stream socket: no data until the next
 * EPOLLIN edge (Tokio clears readiness the same way). Not for datagrams or MSG_PEEK. */
static bool drains(const fd_state *fs, const coio__op *op, ssize_t r)
{
    if (!fs->is_stream || fs->in_final || r <= 0)
        return false;
    if (op->code == COIO__OP_RECV)
        return !(op->flags & MSG_PEEK) && (size_t)r < op->a.buf.len;
    return op->code == COIO__OP_READ && (size_t)r < op->a.buf.len;
}

/* A regular file or a block device is always "ready": its read or write may still wait
 * for the disk, so it must not run on the loop thread. The answer is cached in the fd's
 * state (a socket pays one fstat in its life); a caller whose pool attempt showed the
 * cache stale (the fd number reused after a plain close) asks again. */
static bool blocks_loop(fd_state *fs, coio__op *op)
{
    if (__builtin_expect(!fs->kind_known || op->reclassify, 0)) {
        struct stat st;
        if (fstat(op->fd, &st) < 0)
            return false; /* the system call reports the error */
        fs->is_file = S_ISREG(st.st_mode) || S_ISBLK(st.st_mode);
        fs->kind_known = true;
    }
    return fs->is_file;
}

static int ep_submit(coio__loop *L, coio__op *op)
{
    epoll_backend *b = L->backend_data;
    fd_state *fs = find_fd(b, op->fd);
    bool reader = coio__op_is_reader(op);
    ssize_t r;
    if (coio__op_is_plain_rw(op)) {
        if (!fs && !(fs = get_fd(b, op->fd)))
            return -ENOMEM;
        if (blocks_loop(fs, op))
            return COIO__SUBMIT_POOL;
    }
    if (fs && fs->registered && !fs->in_maybe && !fs->in_final &&
        (reader && (op->code != COIO__OP_POLL || op->flags == COIO_READABLE))) {
        r = -EAGAIN; /* known drained: wait for the edge without a system call */
    } else {
        r = coio__op_syscall(op);
        if (r != -EAGAIN) {
            if (fs && fs->registered && reader && drains(fs, op, r))
                fs->in_maybe = false;
            op->res = r;
            return 1;
        }
        if (!fs && !(fs = get_fd(b, op->fd)))
            return -ENOMEM;
        if (reader && op->code != COIO__OP_POLL)
            fs->in_maybe = false;
    }
    if (!fs->registered) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                 .data.u64 = (uint64_t)op->fd};
        if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, op->fd, &ev) < 0 && errno != EEXIST)
            return -errno;
        int type = 0;
        socklen_t tl = sizeof type;
        fs->is_stream = getsockopt(op->fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 &&
                        type == SOCK_STREAM;
        fs->registered = true;
    }
    coio__list_push_back(reader ? &fs->readers : &fs->writers, &op->link);
    return 0;
}

static int ep_cancel(coio__loop *L, coio__op *op)
{
    (void)L;
    coio__list_unlink(&op->link);
    return 1;
}

/* Retries every op in list; completes those that no longer block. */
static void retry(coio__loop *L, fd_state *fs, coio__list *list)
{
    coio__list *n, *tmp;
    coio__list_for_each_safe(n, tmp, list)
    {
        coio__op *op = coio__container_of(n, coio__op, link);
        ssize_t r = coio__op_syscall(op);
        if (r == -EAGAIN) {
            if (list == &fs->readers && op->code != COIO__OP_POLL)
                fs->in_maybe = false;
            continue;
        }
        if (list == &fs->readers && drains(fs, op, r))
            fs->in_maybe = false;
        coio__list_unlink(&op->link);
        coio__op_complete(L, op, r);
    }
}

static int ep_poll(coio__loop *L, int64_t timeout_ns)
{
    epoll_backend *b = L->backend_data;
    int n;
    if (timeout_ns == 0) {
        n = epoll_wait(b->epfd, b->events, MAX_EVENTS, 0);
    } else if (timeout_ns == COIO__NEVER) {
        n = epoll_wait(b->epfd, b->events, MAX_EVENTS, -1);
    } else {
        n = -1;
        errno = ENOSYS;
        /* The kernel lets epoll sleep up to 0.1% past the timeout (timer slack): ask for
         * that much less, so a 1 s sleep ends after 1.000 s, not 1.001 s. Waking a few
         * microseconds early costs one more short wait. */
        timeout_ns -= timeout_ns / 1000;
        if (b->have_pwait2) {
            struct timespec ts = {.tv_sec = timeout_ns / 1000000000,
                                  .tv_nsec = timeout_ns % 1000000000};
            n = epoll_pwait2(b->epfd, b->events, MAX_EVENTS, &ts, NULL);
            if (n < 0 && errno == ENOSYS)
                b->have_pwait2 = false; /* kernel < 5.11 */
        }
        if (n < 0 && errno == ENOSYS) {
            int64_t ms = (timeout_ns + 999999) / 1000000; /* round up: never wake early */
            n = epoll_wait(b->epfd, b->events, MAX_EVENTS, ms > INT32_MAX ? INT32_MAX : (int)ms);
        }
    }
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        struct epoll_event *e = &b->events[i];
        if (e->data.u64 == WAKE_TAG) {
            coio__loop_drain_ext(L);
            continue;
        }
        int fd = (int)e->data.u64;
        fd_state *fs = find_fd(b, fd);
        if (!fs)
            continue;
        if (e->events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) {
            fs->in_maybe = true;
            if (e->events & (EPOLLRDHUP | EPOLLERR | EPOLLHUP))
                fs->in_final = true;
            retry(L, fs, &fs->readers);
        }
        if (e->events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            retry(L, fs, &fs->writers);
    }
    return n;
}

static void ep_wake(coio__loop *L)
{
    coio__eventfd_signal(L->wake_fd);
}

static void ep_forget_fd(coio__loop *L, int fd)
{
    epoll_backend *b = L->backend_data;
    fd_state *fs = find_fd(b, fd);
    if (!fs)
        return;
    coio__list *lists[2] = {&fs->readers, &fs->writers};
    for (int k = 0; k < 2; k++) {
        coio__list *n;
        while ((n = coio__list_pop_front(lists[k])) != NULL)
            coio__op_complete(L, coio__container_of(n, coio__op, link), -EBADF);
    }
    /* close() removes the registration unless the file is still open through a dup;
     * then an event may still arrive for fd and finds no waiter, which is harmless. */
    fs->registered = false;
    fs->in_maybe = true;
    fs->is_stream = false;
    fs->in_final = false;
    fs->kind_known = false;
    fs->is_file = false;
}

const coio__backend coio__backend_epoll = {
    .name = "epoll",
    .init = ep_init,
    .destroy = ep_destroy,
    .submit = ep_submit,
    .cancel = ep_cancel,
    .poll = ep_poll,
    .wake = ep_wake,
    .forget_fd = ep_forget_fd,
};
