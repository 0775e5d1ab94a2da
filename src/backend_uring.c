/*
 * io_uring backend: an operation is a submission and its completion.
 *
 * submit() only fills an SQE (user_data = the op); the loop polls whenever an op is
 * pending, and poll() hands every queued SQE to the kernel and waits for completions in
 * one io_uring_enter, so a turn of the loop costs one system call however many tasks
 * started I/O in it. The kernel retries an op that would block when its fd becomes
 * ready (internal poll), so a completion carries the op's final result.
 *
 * No eager system call before submitting (epoll's first try). Measured on Linux 6.18
 * (2 vCPUs), round trips/s, io_uring without / with an eager try of every op / of
 * writes only:  pipe ping-pong between two tasks  66k / 29k / 37k;  64-byte TCP echo on
 * loopback, 1 connection  30k / 16k / 20k, 64 connections  55k / 22k / 27k (epoll:
 * 23k, 16k, 15k). The eager try costs a system call and saves none: the task that
 * waits next still needs the io_uring_enter, which carries the other SQEs for free.
 * It only wins when every op is ready at once (a lone task writing to /dev/null:
 * 250k vs 200k ops/s, about 1 us of park-and-resume per op), not worth the loss above.
 *
 * user_data is an op pointer (8-aligned), the op pointer | UD_RETRY for the readiness
 * poll of the EAGAIN fallback (see handle_op), or a small tag below UD_TAG_MAX.
 *
 * While an op is in flight, op->backend_state holds this file's ST_* bits. op->link puts the op on its fd's list, so coio_close can
 * cancel what is in flight on the fd (forget_fd).
 */
#include "internal.h"

#ifdef COIO_HAVE_LIBURING

#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif

#define SQ_ENTRIES 256
/* Completions can pile up between two reaps (a turn that started many ops); a large CQ
 * keeps them out of the kernel's overflow list. 4096 CQEs are 64 KiB. */
#define CQ_ENTRIES 4096
#define REAP_BATCH 64
#define MAX_RW 0x7ffff000u /* what read(2) transfers at most (MAX_RW_COUNT) */

enum {
    UD_CANCEL = 2, /* an ASYNC_CANCEL we sent: its own result is not interesting */
    UD_WAKE = 4,   /* the multishot poll on the eventfd */
    UD_TAG_MAX = 4096,
    UD_RETRY = 1, /* low bit of an op pointer: the op's readiness poll */
};

enum {
    ST_RETRY = 1,  /* the op waits on a readiness poll (user_data op | UD_RETRY) */
    ST_CLOSED = 2, /* coio_close cancelled it: -ECANCELED is reported as -EBADF */
};

typedef struct uring_backend {
    struct io_uring ring;
    int evfd;
    bool wake_multishot; /* false on kernels without multishot poll (< 5.13) */
    bool poll_first;     /* the kernel takes IORING_RECVSEND_POLL_FIRST (>= 5.19) */
    int fatal;           /* the wake-up poll failed: poll() reports it */
    coio__fdtable fds;   /* per fd: fd_ops */
} uring_backend;

typedef struct fd_ops {
    coio__list ops; /* in flight on the fd */
    /* The last recv returned less than asked: the socket is most likely empty now, so
     * the next recv asks the kernel to wait for data before trying (POLL_FIRST) instead
     * of failing a first attempt and then arming its poll. A hint only: a recv that
     * polls first on a socket that has data completes at once. */
    bool drained;
} fd_ops;

static int reap(coio__loop *L, uring_backend *b);

/* ------------------------------------------------------------------ probe */

static int probe_result;
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

/* Every opcode of the operation table, and the cancel this file sends. */
static const int needed_ops[] = {
#define OP_URING(code, what, uring, waits, layout, syscall, xflags) IORING_OP_##uring,
    COIO__OPS(OP_URING)
#undef OP_URING
    IORING_OP_ASYNC_CANCEL,
};

/* The file operations (COIO__FILE_OPS) the kernel performs, a bit per COIO__OP_ code;
 * the others go to the worker pool. Set by the probe. */
static uint64_t file_ops_native;
_Static_assert(COIO__OP_COUNT <= 64, "file_ops_native has a bit per operation");

/* Which file operations the kernel has. COIO_URING_FILES=0 sends them all to the pool
 * (to compare the two paths). OPENAT, CLOSE, STATX, FALLOCATE came in 5.6, RENAMEAT and
 * UNLINKAT in 5.11, MKDIRAT in 5.15: an older kernel runs those on the pool. */
static void probe_file_ops(struct io_uring_probe *pr)
{
    const char *e = getenv("COIO_URING_FILES");
    if (e && strcmp(e, "0") == 0)
        return;
    static const struct {
        uint8_t code, uring;
    } rows[] = {
#define OP_FILE(code, what, uring, waits, layout, syscall, xflags) \
    {COIO__OP_##code, IORING_OP_##uring},
        COIO__FILE_OPS(OP_FILE)
#undef OP_FILE
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (io_uring_opcode_supported(pr, rows[i].uring))
            file_ops_native |= UINT64_C(1) << rows[i].code;
}

static void probe_run(void)
{
#ifdef RUNNING_ON_VALGRIND
    if (RUNNING_ON_VALGRIND) {
        /* Valgrind doesn't know the kernel writes buffers through the ring: every read
         * looks uninitialised, and a loop waiting on another thread in io_uring_enter
         * hangs under its thread serialisation. epoll serves Valgrind runs. */
        probe_result = -ENOSYS;
        return;
    }
#endif
    struct io_uring ring;
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    int r = io_uring_queue_init_params(2, &ring, &p);
    if (r < 0) {
        /* No ring at all. -ENOSYS: kernel without CONFIG_IO_URING or older than 5.1, or
         * a seccomp filter answering ENOSYS. -EPERM: /proc/sys/kernel/io_uring_disabled
         * is 2, or 1 and we are not in kernel.io_uring_group (6.6+); or a seccomp
         * filter: Docker >= 25 and containerd block io_uring_* by default
         * (moby/moby#46762); or an LSM policy. -ENOMEM: RLIMIT_MEMLOCK too low for the
         * rings (kernels < 5.12 charge them to it). */
        probe_result = r;
        return;
    }
    if (!(p.features & IORING_FEAT_NODROP)) {
        /* < 5.5: a full CQ drops completions, and a lost completion hangs its task. */
        r = -ENOSYS;
    } else if (!(p.features & IORING_FEAT_RW_CUR_POS)) {
        /* < 5.6: offset -1 can't mean "the file position", so READ/WRITE would not
         * behave like read(2)/write(2) on seekable files. */
        r = -ENOSYS;
    } else if (!(p.features & IORING_FEAT_FAST_POLL)) {
        /* < 5.7: an op that would block occupies a kernel worker thread until it can
         * proceed, instead of waiting on the fd's readiness: not a fast path. */
        r = -ENOSYS;
    } else if (!(p.features & IORING_FEAT_EXT_ARG)) {
        /* < 5.11: a timed wait needs a TIMEOUT request (and its stray completion) per
         * poll; a second, untested path for old kernels: epoll serves them. */
        r = -ENOSYS;
    } else {
        struct io_uring_probe *pr = io_uring_get_probe_ring(&ring);
        if (!pr) {
            /* No IORING_REGISTER_PROBE (< 5.6), or it is filtered: we can't know which
             * operations the kernel has. */
            r = -ENOSYS;
        } else {
            for (size_t i = 0; i < sizeof needed_ops / sizeof needed_ops[0]; i++) {
                if (!io_uring_opcode_supported(pr, needed_ops[i])) {
                    /* An operation coio submits is missing (or disabled by a
                     * restriction): it would fail where epoll succeeds. */
                    r = -ENOSYS;
                    break;
                }
            }
            if (r == 0)
                probe_file_ops(pr);
            io_uring_free_probe(pr);
        }
    }
    io_uring_queue_exit(&ring);
    probe_result = r;
}

static int uring_probe(void)
{
    pthread_once(&probe_once, probe_run);
    return probe_result;
}

static bool ur_native(int code)
{
    return uring_probe() == 0 && (file_ops_native >> code & 1);
}

/* ------------------------------------------------------------------ fd lists */

static void fd_ops_init(void *p)
{
    fd_ops *fo = p;
    coio__list_init(&fo->ops);
    fo->drained = false;
}

static fd_ops *get_fd(uring_backend *b, int fd)
{
    return coio__fdtable_get(&b->fds, fd);
}

static fd_ops *find_fd(uring_backend *b, int fd)
{
    return coio__fdtable_find(&b->fds, fd);
}

/* ------------------------------------------------------------------ submission queue */

/* A free SQE, or NULL with *err set. A full SQ is handed to the kernel first; if the
 * kernel refuses more work for now (-EBUSY: completions it can't post yet; -EAGAIN: no
 * memory for requests), reaping the CQ is what frees it. */
static struct io_uring_sqe *get_sqe(coio__loop *L, uring_backend *b, int *err)
{
    struct io_uring_sqe *sqe;
    int tries = 0;
    while (!(sqe = io_uring_get_sqe(&b->ring))) {
        int r = io_uring_submit(&b->ring);
        if (r > 0 || r == -EINTR)
            continue;
        if (++tries > 8 || (r < 0 && r != -EBUSY && r != -EAGAIN)) {
            *err = r < 0 ? r : -EBUSY;
            return NULL;
        }
        reap(L, b);
    }
    return sqe;
}

static void arm_wake(coio__loop *L, uring_backend *b)
{
    int err;
    struct io_uring_sqe *sqe = get_sqe(L, b, &err);
    if (!sqe) {
        b->fatal = err;
        return;
    }
    if (b->wake_multishot)
        io_uring_prep_poll_multishot(sqe, b->evfd, POLLIN);
    else
        io_uring_prep_poll_add(sqe, b->evfd, POLLIN);
    io_uring_sqe_set_data64(sqe, UD_WAKE);
}

/* ------------------------------------------------------------------ init / destroy */

static int ur_init(coio__loop *L)
{
    uring_backend *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    coio__fdtable_init(&b->fds, sizeof(fd_ops), fd_ops_init);
    /* Newest first; each one a kernel rejects with -EINVAL is dropped and the rest tried
     * again. DEFER_TASKRUN (6.1): completions are posted only when we ask for them, in
     * our own io_uring_enter, not by interrupting the thread. SINGLE_ISSUER (6.0): one
     * thread submits (the loop's), which DEFER_TASKRUN needs. COOP_TASKRUN and
     * TASKRUN_FLAG (5.19): no IPI to run completions; the ring's flags say when some
     * wait, so poll(0) enters the kernel only then. SUBMIT_ALL (5.18): a bad SQE doesn't
     * stop the ones behind it, so every op gets its completion. */
    static const unsigned drop_order[] = {
        IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_SINGLE_ISSUER,
        IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
        IORING_SETUP_SUBMIT_ALL,
    };
    unsigned flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
                     IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SINGLE_ISSUER |
                     IORING_SETUP_DEFER_TASKRUN;
    int r;
    for (size_t i = 0;; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = flags | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
        p.cq_entries = CQ_ENTRIES;
        r = io_uring_queue_init_params(SQ_ENTRIES, &b->ring, &p);
        if (r != -EINVAL || i == sizeof drop_order / sizeof drop_order[0])
            break;
        flags &= ~drop_order[i];
    }
    if (r < 0) {
        free(b);
        return r;
    }
    /* 5.18+: io_uring_enter names the ring by its registered index, skipping an fd
     * lookup per call. Optional. */
    io_uring_register_ring_fd(&b->ring);
    /* The kernel hands buffered writes, some opens and fsyncs to io_uring's own worker
     * threads (iou-wrk), by default as many as it likes: file load has been seen to make
     * hundreds or thousands of them (liburing issues 349, 420, 1466). Bound them like the
     * worker pool: COIO_URING_MAX_WORKERS, else the pool's size. 5.15+; older kernels
     * refuse the call and keep their default. */
    const char *mw = getenv("COIO_URING_MAX_WORKERS");
    long nw = mw && *mw ? strtol(mw, NULL, 10) : 0;
    unsigned workers[2]; /* bounded (regular files, block devices), unbounded (the rest) */
    workers[0] = workers[1] = (unsigned)(nw >= 1 && nw <= 4096 ? nw : coio_threadpool_size());
    io_uring_register_iowq_max_workers(&b->ring, workers);
    /* POLL_FIRST came in 5.19; SINGLE_ISSUER (6.0) is how we know the kernel is newer.
     * An older kernel fails a recv that carries it with -EINVAL. */
    b->poll_first = (flags & IORING_SETUP_SINGLE_ISSUER) != 0;

    b->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (b->evfd < 0) {
        r = -errno;
        io_uring_queue_exit(&b->ring);
        free(b);
        return r;
    }
    b->wake_multishot = true;
    arm_wake(L, b); /* on an empty SQ; submitted with the first poll */
    L->backend_data = b;
    L->wake_fd = b->evfd;
    return 0;
}

static void ur_destroy(coio__loop *L)
{
    uring_backend *b = L->backend_data;
    io_uring_queue_exit(&b->ring);
    close(b->evfd);
    coio__fdtable_free(&b->fds);
    free(b);
    L->backend_data = NULL;
    L->wake_fd = -1;
}

/* ------------------------------------------------------------------ submit */

static unsigned rw_len(size_t n)
{
    return n > MAX_RW ? MAX_RW : (unsigned)n;
}

/* How the request of each argument layout takes the op (the operation table's layout
 * column): `opc` is the row's IORING_OP_*, `xf` its xflags. Offset -1 for RW and IOV:
 * the file position, as read(2). POLL: COIO_READABLE/WRITABLE are POLLIN/POLLOUT, and
 * the result is the revents. */
#define PREP_RW(opc, sqe, op, xf) \
    io_uring_prep_rw(opc, sqe, (op)->fd, (op)->a.buf.buf, rw_len((op)->a.buf.len), (__u64)-1)
#define PREP_IOV(opc, sqe, op, xf) \
    io_uring_prep_rw(opc, sqe, (op)->fd, (op)->a.iov.iov, (unsigned)(op)->a.iov.cnt, (__u64)-1)
#define PREP_SOCKBUF(opc, sqe, op, xf)                                                    \
    do {                                                                                  \
        io_uring_prep_rw(opc, sqe, (op)->fd, (op)->a.buf.buf, rw_len((op)->a.buf.len), 0); \
        (sqe)->msg_flags = (unsigned)((op)->flags | (xf));                                \
    } while (0)
#define PREP_MSG(opc, sqe, op, xf)                                 \
    do {                                                           \
        io_uring_prep_rw(opc, sqe, (op)->fd, (op)->a.msg, 1, 0);   \
        (sqe)->msg_flags = (unsigned)((op)->flags | (xf));         \
    } while (0)
#define PREP_ACCEPT(opc, sqe, op, xf)                                                     \
    do {                                                                                  \
        io_uring_prep_rw(opc, sqe, (op)->fd, (op)->a.accept.addr, 0,                      \
                         (__u64)(uintptr_t)(op)->a.accept.addrlen);                       \
        (sqe)->accept_flags = (__u32)((op)->flags | (xf));                                \
    } while (0)
#define PREP_CONNECT(opc, sqe, op, xf) \
    io_uring_prep_rw(opc, sqe, (op)->fd, (op)->a.connect.addr, 0, (__u64)(op)->a.connect.len)
#define PREP_POLL(opc, sqe, op, xf) io_uring_prep_poll_add(sqe, (op)->fd, (unsigned)(op)->flags)
#define PREP_FRW(opc, sqe, op, xf)                                                \
    io_uring_prep_rw(opc, sqe, (op)->fd, (op)->a.frw.buf, rw_len((op)->a.frw.len), \
                     (__u64)(op)->a.frw.off)
#define PREP_FIOV(opc, sqe, op, xf)                                                     \
    io_uring_prep_rw(opc, sqe, (op)->fd, (op)->a.fiov.iov, (unsigned)(op)->a.fiov.cnt, \
                     (__u64)(op)->a.fiov.off)
#define PREP_FSYNC(opc, sqe, op, xf) io_uring_prep_fsync(sqe, (op)->fd, (unsigned)(xf))
#define PREP_FALLOCATE(opc, sqe, op, xf)                                         \
    io_uring_prep_fallocate(sqe, (op)->fd, (op)->flags, (__u64)(op)->a.falloc.off, \
                            (__u64)(op)->a.falloc.len)
#define PREP_CLOSE(opc, sqe, op, xf) io_uring_prep_close(sqe, (op)->fd)
#define PREP_OPENAT(opc, sqe, op, xf)                                                  \
    io_uring_prep_openat(sqe, (op)->a.path.dirfd, (op)->a.path.path, (op)->flags | (xf), \
                         (mode_t)(op)->a.path.mode)
#define PREP_STATX(opc, sqe, op, xf)                                                  \
    io_uring_prep_statx(sqe, (op)->a.path.dirfd, (op)->a.path.path, (op)->flags,      \
                        (op)->a.path.mask, (struct statx *)(op)->a.path.out)
#define PREP_UNLINKAT(opc, sqe, op, xf) \
    io_uring_prep_unlinkat(sqe, (op)->a.path.dirfd, (op)->a.path.path, (op)->flags)
#define PREP_RENAMEAT(opc, sqe, op, xf)                                                 \
    io_uring_prep_renameat(sqe, (op)->a.path.dirfd, (op)->a.path.path, (op)->a.path.dirfd, \
                           (op)->a.path.path2, (unsigned)(op)->flags)
#define PREP_MKDIRAT(opc, sqe, op, xf) \
    io_uring_prep_mkdirat(sqe, (op)->a.path.dirfd, (op)->a.path.path, (mode_t)(op)->a.path.mode)

static void prep(struct io_uring_sqe *sqe, coio__op *op)
{
    switch (op->code) {
#define OP_PREP(code, what, uring, waits, layout, syscall, xflags) \
    case COIO__OP_##code:                                          \
        PREP_##layout(IORING_OP_##uring, sqe, op, xflags);         \
        break;
        COIO__ALL_OPS(OP_PREP)
#undef OP_PREP
    }
}

static int ur_submit(coio__loop *L, coio__op *op)
{
    uring_backend *b = L->backend_data;
    fd_ops *fo = op->fd >= 0 ? get_fd(b, op->fd) : NULL; /* path ops have no fd */
    if (!fo && op->fd >= 0)
        return -ENOMEM;
    int err;
    struct io_uring_sqe *sqe = get_sqe(L, b, &err);
    if (!sqe)
        return err;
    prep(sqe, op);
    if (op->code == COIO__OP_RECV && fo && fo->drained && b->poll_first &&
        !(op->flags & MSG_DONTWAIT))
        sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
    io_uring_sqe_set_data(sqe, op);
    op->backend_state = 0;
    if (fo)
        coio__list_push_back(&fo->ops, &op->link);
    else
        coio__list_init(&op->link); /* finish() unlinks it: a no-op */
    return 0;
}

/* The kernel answered -EAGAIN instead of waiting (a MSG_DONTWAIT recv; on old kernels,
 * fds without internal poll support): wait for readiness with a poll, then run the
 * system call here, as epoll does. */
static int arm_retry(coio__loop *L, uring_backend *b, coio__op *op)
{
    int err;
    struct io_uring_sqe *sqe = get_sqe(L, b, &err);
    if (!sqe)
        return err;
    io_uring_prep_poll_add(sqe, op->fd, coio__op_is_reader(op) ? POLLIN : POLLOUT);
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)op | UD_RETRY);
    op->backend_state |= ST_RETRY;
    return 0;
}

/* ------------------------------------------------------------------ cancel */

static void send_cancel(coio__loop *L, uring_backend *b, coio__op *op)
{
    int err;
    struct io_uring_sqe *sqe = get_sqe(L, b, &err);
    if (!sqe)
        return; /* the ring is unusable: the op completes when its fd is ready */
    uint64_t ud = (uint64_t)(uintptr_t)op | ((op->backend_state & ST_RETRY) ? UD_RETRY : 0);
    io_uring_prep_cancel64(sqe, ud, 0);
    io_uring_sqe_set_data64(sqe, UD_CANCEL);
}

/* The op still completes: with -ECANCELED, or with its real result if the kernel got
 * there first (io.c then returns that data). The cancel goes with the next batch. It
 * can't hit a later op that reuses the address (the next op on the same task stack):
 * that op's SQE is queued behind the cancel, and the kernel runs a cancel inline, in
 * SQ order. The op stays on its fd's list until it completes, for forget_fd. */
static int ur_cancel(coio__loop *L, coio__op *op)
{
    send_cancel(L, L->backend_data, op);
    return 0;
}

static void ur_forget_fd(coio__loop *L, int fd)
{
    uring_backend *b = L->backend_data;
    fd_ops *fo = find_fd(b, fd);
    if (!fo)
        return;
    fo->drained = false; /* the number may name another file next */
    if (coio__list_is_empty(&fo->ops))
        return;
    coio__list *n;
    while ((n = coio__list_pop_front(&fo->ops)) != NULL) {
        coio__op *op = coio__container_of(n, coio__op, link);
        op->backend_state |= ST_CLOSED;
        if (!op->stopping) /* else its cancel is queued or sent already */
            send_cancel(L, b, op);
    }
    /* Now, not with the next batch: a request holds a reference to the file until its
     * completion is posted, and close(2) must release the file as it does with epoll
     * (the peer sees EOF or EPIPE at once). GETEVENTS runs the completions the cancels
     * queued (DEFER_TASKRUN), which drops those references. */
    io_uring_submit_and_get_events(&b->ring);
}

/* ------------------------------------------------------------------ completions */

static int finish(coio__loop *L, coio__op *op, ssize_t res)
{
    if ((op->backend_state & ST_CLOSED) && res == -ECANCELED)
        res = -EBADF; /* cancelled by coio_close, like epoll's forget_fd */
    coio__list_unlink(&op->link);
    coio__op_complete(L, op, res);
    return 1;
}

static int handle_op(coio__loop *L, uring_backend *b, uint64_t ud, int res)
{
    coio__op *op = (coio__op *)(uintptr_t)(ud & ~(uint64_t)UD_RETRY);
    if (op->code == COIO__OP_RECV && !(ud & UD_RETRY) && !(op->backend_state & ST_CLOSED)) {
        fd_ops *fo = find_fd(b, op->fd);
        if (fo)
            fo->drained = res > 0 && (size_t)res < op->a.buf.len && !(op->flags & MSG_PEEK);
    }
    bool dropped = op->stopping || (op->backend_state & ST_CLOSED);
    if (ud & UD_RETRY) {
        op->backend_state &= ~ST_RETRY;
        if (res < 0)
            return finish(L, op, res);
        if (dropped) /* ready, but cancelled: as epoll, don't start the system call */
            return finish(L, op, -ECANCELED);
        ssize_t r = coio__op_syscall(op);
        if (r != -EAGAIN)
            return finish(L, op, r);
    } else if (res == -EAGAIN || (op->code == COIO__OP_CONNECT && res == -EINPROGRESS)) {
        if (dropped)
            return finish(L, op, -ECANCELED);
        if (op->code == COIO__OP_CONNECT) /* coio__op_syscall: started means in progress */
            op->started = res == -EINPROGRESS;
    } else {
        return finish(L, op, res);
    }
    int r = arm_retry(L, b, op);
    return r < 0 ? finish(L, op, r) : 0;
}

static void handle_wake(coio__loop *L, uring_backend *b, int res, unsigned flags)
{
    /* One read takes the whole count (not EFD_SEMAPHORE); a write after it is a new
     * wake-up, with a completion of its own. */
    uint64_t v;
    ssize_t rr = read(b->evfd, &v, sizeof v);
    (void)rr;
    coio__loop_drain_ext(L);
    if (flags & IORING_CQE_F_MORE)
        return;
    /* The poll ended: multishot stops on CQ overflow, and kernels < 5.13 reject it
     * (-EINVAL). Arm it again, one-shot from then on in the second case. */
    if (res == -EINVAL && b->wake_multishot)
        b->wake_multishot = false;
    else if (res < 0) {
        b->fatal = res; /* cross-thread wake-ups would be lost */
        return;
    }
    arm_wake(L, b);
}

/* Completes every op whose CQE is posted. CQEs are copied out and the CQ head advanced
 * before handling, so handlers may submit (and even reap) again. */
static int reap(coio__loop *L, uring_backend *b)
{
    struct {
        uint64_t ud;
        int res;
        unsigned flags;
    } got[REAP_BATCH];
    int completed = 0;
    for (;;) {
        unsigned head, n = 0;
        struct io_uring_cqe *cqe;
        io_uring_for_each_cqe(&b->ring, head, cqe)
        {
            got[n].ud = cqe->user_data;
            got[n].res = cqe->res;
            got[n].flags = cqe->flags;
            if (++n == REAP_BATCH)
                break;
        }
        if (!n)
            return completed;
        io_uring_cq_advance(&b->ring, n);
        for (unsigned i = 0; i < n; i++) {
            uint64_t ud = got[i].ud;
            if (ud == UD_WAKE)
                handle_wake(L, b, got[i].res, got[i].flags);
            else if (ud >= UD_TAG_MAX && ud != LIBURING_UDATA_TIMEOUT)
                completed += handle_op(L, b, ud, got[i].res);
        }
    }
}

static int ur_poll(coio__loop *L, int64_t timeout_ns)
{
    uring_backend *b = L->backend_data;
    struct io_uring *ring = &b->ring;
    struct io_uring_cqe *cqe;
    int r = 0;
    if (timeout_ns == 0) {
        /* No system call unless there is something to submit, or the kernel has
         * completions it waits to post (TASKRUN / CQ_OVERFLOW flags). */
        unsigned kf = IO_URING_READ_ONCE(*ring->sq.kflags);
        if (io_uring_sq_ready(ring) || (kf & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)))
            r = io_uring_submit_and_get_events(ring);
    } else if (timeout_ns == COIO__NEVER) {
        r = io_uring_submit_and_wait(ring, 1);
    } else {
        struct __kernel_timespec ts = {.tv_sec = timeout_ns / 1000000000,
                                       .tv_nsec = timeout_ns % 1000000000};
        r = io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, NULL);
    }
    /* -ETIME: timed out; -EINTR: a signal; -EBUSY/-EAGAIN: the kernel wants the CQ
     * drained (or memory) before taking more: reaping below is the cure. */
    if (r < 0 && r != -ETIME && r != -EINTR && r != -EBUSY && r != -EAGAIN)
        return r;
    int n = reap(L, b);
    if (b->fatal)
        return b->fatal;
    return n;
}

static void ur_wake(coio__loop *L)
{
    coio__eventfd_signal(L->wake_fd);
}

const coio__backend coio__backend_uring = {
    .batches = true,
    .name = "io_uring",
    .probe = uring_probe,
    .init = ur_init,
    .destroy = ur_destroy,
    .submit = ur_submit,
    .cancel = ur_cancel,
    .poll = ur_poll,
    .wake = ur_wake,
    .forget_fd = ur_forget_fd,
    .native = ur_native,
};

#endif /* COIO_HAVE_LIBURING */
