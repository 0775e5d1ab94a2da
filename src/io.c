/*
 * Running I/O operations for tasks on top of the backend interface, and the low-level
 * fd calls (coio_read, coio_write, coio_wait_fd, coio_close).
 */
#include "internal.h"

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

/* CONNECT: the first try starts the connection; while it is in progress (started),
 * only SO_ERROR tells how it ended. */
static ssize_t sys_connect(coio__op *op)
{
    if (!op->started) {
        if (connect(op->fd, op->a.connect.addr, op->a.connect.len) == 0)
            return 0;
        if (errno == EINPROGRESS) {
            op->started = 1;
            return -EAGAIN;
        }
        /* EAGAIN (an AF_UNIX listener's full backlog) means nothing started: the next
         * attempt calls connect() again. */
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
    int err = 0;
    socklen_t l = sizeof err;
    if (getsockopt(op->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
        return -errno;
    return !err ? 0 : err == EINPROGRESS ? -EAGAIN : -err;
}

/* POLL: the revents, -EAGAIN if none yet, -EBADF for a closed fd. */
static ssize_t sys_poll(coio__op *op)
{
    struct pollfd p = {.fd = op->fd, .events = (short)op->flags};
    int r = poll(&p, 1, 0);
    if (r < 0)
        return -errno;
    if (r == 0)
        return -EAGAIN;
    return (p.revents & POLLNVAL) ? -EBADF : p.revents;
}

/* How the system call of each argument layout takes the op (the table's layout
 * column); `fn` is the row's syscall, `xf` its xflags. */
#define SYSCALL_RW(fn, op, xf) r = fn((op)->fd, (op)->a.buf.buf, (op)->a.buf.len)
#define SYSCALL_SOCKBUF(fn, op, xf) \
    r = fn((op)->fd, (op)->a.buf.buf, (op)->a.buf.len, (op)->flags | (xf))
#define SYSCALL_IOV(fn, op, xf) r = fn((op)->fd, (op)->a.iov.iov, (op)->a.iov.cnt)
#define SYSCALL_MSG(fn, op, xf) r = fn((op)->fd, (op)->a.msg, (op)->flags | (xf))
#define SYSCALL_ACCEPT(fn, op, xf) \
    r = fn((op)->fd, (op)->a.accept.addr, (op)->a.accept.addrlen, (op)->flags | (xf))
#define SYSCALL_CONNECT(fn, op, xf) return sys_connect(op)
#define SYSCALL_POLL(fn, op, xf) return sys_poll(op)
/* The file rows: run on a worker thread (fs.c), or on io_uring's retry path only for an
 * fd that is non-blocking. */
#define SYSCALL_FRW(fn, op, xf) \
    r = fn((op)->fd, (op)->a.frw.buf, (op)->a.frw.len, (off_t)(op)->a.frw.off)
#define SYSCALL_FIOV(fn, op, xf) \
    r = fn((op)->fd, (op)->a.fiov.iov, (op)->a.fiov.cnt, (off_t)(op)->a.fiov.off)
#define SYSCALL_FSYNC(fn, op, xf) r = fn((op)->fd)
#define SYSCALL_FALLOCATE(fn, op, xf) \
    r = fn((op)->fd, (op)->flags, (off_t)(op)->a.falloc.off, (off_t)(op)->a.falloc.len)
#define SYSCALL_CLOSE(fn, op, xf) r = fn((op)->fd)
#define SYSCALL_OPENAT(fn, op, xf) \
    r = fn((op)->a.path.dirfd, (op)->a.path.path, (op)->flags | (xf), (mode_t)(op)->a.path.mode)
#define SYSCALL_STATX(fn, op, xf) \
    r = fn((op)->a.path.dirfd, (op)->a.path.path, (op)->flags, (op)->a.path.mask, (op)->a.path.out)
#define SYSCALL_UNLINKAT(fn, op, xf) r = fn((op)->a.path.dirfd, (op)->a.path.path, (op)->flags)
#define SYSCALL_RENAMEAT(fn, op, xf)                                                   \
    r = fn((op)->a.path.dirfd, (op)->a.path.path, (op)->a.path.dirfd, (op)->a.path.path2, \
           (unsigned)(op)->flags)
#define SYSCALL_MKDIRAT(fn, op, xf) \
    r = fn((op)->a.path.dirfd, (op)->a.path.path, (mode_t)(op)->a.path.mode)

ssize_t coio__op_syscall(coio__op *op)
{
    ssize_t r;
    switch (op->code) {
#define OP_CASE(code, what, uring, waits, layout, syscall, xflags) \
    case COIO__OP_##code:                                          \
        SYSCALL_##layout(syscall, op, xflags);                     \
        break;
        COIO__ALL_OPS(OP_CASE)
#undef OP_CASE
    default:
        return -EINVAL;
    }
    if (r < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    return r;
}

void coio__op_complete(coio__loop *L, coio__op *op, ssize_t res)
{
    op->res = res;
    op->done = 1;
    L->io_pending--;
    coio__wake_if_waiting(L, op->task, op, 0);
}

/* Asks the backend to drop op (once). */
static void op_stop(coio__loop *L, coio__op *op)
{
    if (op->stopping)
        return;
    op->stopping = 1;
    if (L->backend->cancel(L, op)) {
        op->removed = 1;
        L->io_pending--;
    }
}

static void op_unwait(coio_task *t)
{
    op_stop(coio__loop_get(), t->wait_obj);
}

int coio__op_wait_fd(const coio_task *t)
{
    return t->unwait == op_unwait ? ((const coio__op *)t->wait_obj)->fd : -1;
}

static const char *op_what(const coio__op *op)
{
    static const char *const names[COIO__OP_COUNT] = {
#define OP_NAME(code, what, uring, waits, layout, syscall, xflags) [COIO__OP_##code] = what,
        COIO__ALL_OPS(OP_NAME)
#undef OP_NAME
    };
    return names[op->code];
}

int coio__budget_yield(coio__loop *L)
{
    /* Tokio's coop budget does the same (it cut tail latency about 3x there). Ending the
     * turn matters: a yield alone would only put the task behind the other ready ones,
     * and the loop polls I/O once per turn of at least 64 dispatches. */
    coio__turn_end(L);
    return coio_yield(); /* refills the budget */
}

static ssize_t op_submit_wait(coio__loop *L, coio_task *t, coio__op *op);

/* Runs on a worker thread; done is published to the loop by the pool's hand-back. */
static int op_work(void *arg)
{
    coio__op *op = arg;
    op->res = coio__op_syscall(op);
    op->done = 1;
    return 0;
}

/* An op whose system call would block the loop thread (a file under epoll), run on the
 * worker pool. coio_to_thread returns only when no worker can still touch the buffer;
 * a call that ran keeps its result, as below. */
static ssize_t op_on_pool(coio__loop *L, coio_task *t, coio__op *op)
{
    int r = coio_to_thread(op_work, op);
    if (op->done && op->res == -EAGAIN && !op->reclassify) {
        /* Files never say EAGAIN: the fd number now names something else (closed
         * without coio_close and reused). Classify it again and take the usual path. */
        op->reclassify = 1;
        return op_submit_wait(L, t, op);
    }
    if (op->done && (r == 0 || op->res >= 0))
        return op->res;
    return r < 0 ? r : -ECANCELED;
}

/* Submits op and parks t until it completes. */
static ssize_t op_submit_wait(coio__loop *L, coio_task *t, coio__op *op)
{
    op->task = t;
    op->done = op->removed = op->stopping = 0;
    op->backend_state = 0;
    int r = L->backend->submit(L, op);
    if (r == COIO__SUBMIT_POOL) {
        op->done = 0;
        return op_on_pool(L, t, op);
    }
    if (r != 0)
        return r < 0 ? r : op->res;
    L->io_pending++;
    if (COIO__TRACING(L))
        coio__trace_io_wait(L, op->fd, coio__op_is_reader(op));
    r = coio__park(L, t, op_what(op), op, op_unwait, COIO__NEVER, true);
    if (!op->done) {
        /* Interrupted. A backend that can't drop the op at once (io_uring) still owns
         * the buffer: wait for the op's completion before returning. */
        op_stop(L, op);
        while (!op->done && !op->removed)
            coio__park(L, t, op_what(op), op, NULL, COIO__NEVER, false);
    }
    /* An op that completed with data despite an interruption returns its data: nothing
     * read or written is lost; the next suspending call reports the interruption. */
    if (op->done && (r == 0 || (op->res >= 0 && op->code != COIO__OP_POLL)))
        return op->res;
    return r < 0 ? r : -ECANCELED;
}

ssize_t coio__op_run(coio__op *op)
{
    coio__loop *L = coio__loop_get();
    coio_task *t = L ? L->current : NULL;
    /* epoll completes an op on a ready fd at once, without suspending: that counts. */
    int r = coio__check_spend(L, t);
    if (r < 0)
        return r;
    ssize_t res = op_submit_wait(L, t, op);
    if (COIO__TRACING(L))
        coio__trace_io(L, t, op_what(op), op->fd, res);
    return res;
}

ssize_t coio__op_run_spent(coio__op *op)
{
    coio__loop *L = coio__loop_get();
    coio_task *t = L ? L->current : NULL;
    int r = coio__check(L, t);
    if (r < 0)
        return r;
    ssize_t res = op_submit_wait(L, t, op);
    if (COIO__TRACING(L))
        coio__trace_io(L, t, op_what(op), op->fd, res);
    return res;
}

void coio__eventfd_signal(int fd)
{
    uint64_t one = 1;
    ssize_t r = write(fd, &one, sizeof one);
    (void)r; /* EAGAIN: the counter is saturated (2^64 - 2 wake-ups never read back) */
}

/* ------------------------------------------------------------------ public fd calls */

ssize_t coio_read(int fd, void *buf, size_t n)
{
    if (fd < 0)
        return -EBADF;
    if (!buf && n)
        return -EINVAL;
    coio__op op = {.code = COIO__OP_READ, .fd = fd, .a.buf = {buf, n}};
    return coio__op_run(&op);
}

ssize_t coio_write(int fd, const void *buf, size_t n)
{
    if (fd < 0)
        return -EBADF;
    if (!buf && n)
        return -EINVAL;
    coio__op op = {.code = COIO__OP_WRITE, .fd = fd, .a.buf = {(void *)buf, n}};
    return coio__op_run(&op);
}

ssize_t coio_write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    size_t done = 0;
    if (!buf && n)
        return -EINVAL;
    do {
        ssize_t w = coio_write(fd, p + done, n - done);
        if (w < 0)
            return w;
        done += (size_t)w;
    } while (done < n);
    return (ssize_t)n;
}

int coio_wait_fd(int fd, int events)
{
    if (fd < 0)
        return -EBADF;
    if (!events || (events & ~(COIO_READABLE | COIO_WRITABLE)))
        return -EINVAL;
    coio__op op = {.code = COIO__OP_POLL, .fd = fd, .flags = events};
    ssize_t r = coio__op_run(&op);
    return (int)r;
}

void coio__fd_closing(coio__loop *L, int fd)
{
    if (L)
        L->backend->forget_fd(L, fd);
    for (size_t i = 0; i < COIO__SUB_COUNT; i++)
        if (coio__subsystems[i]->fd_closing)
            coio__subsystems[i]->fd_closing(L, fd);
}

int coio_close(int fd)
{
    if (fd < 0)
        return -EBADF;
    coio__fd_closing(coio__loop_get(), fd);
    return close(fd) == 0 ? 0 : -errno;
}
