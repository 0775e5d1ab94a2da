/*
 * Buffered streams over an fd, like asyncio's StreamReader/StreamWriter.
 *
 * Reading: one linear buffer [rpos, rlen) that grows on demand (to the limit for
 * lines, to n for read_exactly) and is refilled by one read(2) of all its free space,
 * so readline costs one system call per buffer-full, not per byte. A call consumes data
 * only when it succeeds (or, for read_exactly, when it hands over a short read): an
 * interrupted call leaves everything buffered for the next one.
 *
 * Writing: a ring buffer. write() never suspends: with nothing queued it tries one
 * write(2) at once (asyncio's transport does the same), queues the rest, and starts a
 * flusher task that writes the ring out with writev (two iovecs at most) and wakes the
 * tasks waiting in drain/flush as the queue shrinks. The flusher exists only while
 * there is something queued, so an idle stream costs no task. Who may write when is
 * the writer's state machine (enum wstate). With FLUSH_ON_READ,
 * write() only queues; the queue goes out (kick) just before the reader reads the fd,
 * so a request/response peer pays one write per batch of requests it had buffered.
 *
 * Transport: the bytes move through a coio__stream_transport (internal.h): the plain
 * fd below, or a layer such as TLS that opens the stream with its own.
 *
 * Lifetime: every suspending call counts itself in s->users; close/abort mark the
 * stream closed, interrupt the tasks blocked on it (-EBADF) and the last user out frees
 * it. That keeps the buffers alive while an interrupted operation may still use them
 * (io_uring completes a cancelled read later).
 */
#include "internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef COIO__ASAN
#include <sanitizer/asan_interface.h>
#define BUF_POISON(b) ASAN_POISON_MEMORY_REGION((char *)(b) + sizeof(void *), BUF_CACHED - sizeof(void *))
#define BUF_UNPOISON(b) ASAN_UNPOISON_MEMORY_REGION((b), BUF_CACHED)
#else
#define BUF_POISON(b) ((void)0)
#define BUF_UNPOISON(b) ((void)0)
#endif

#define RBUF_INITIAL (16u * 1024u) /* first read buffer */
#define RBUF_MIN_READ 4096u        /* never read into less room than this */
#define RBUF_KEEP (256u * 1024u)   /* an emptied read buffer larger than this is freed */
#define WBUF_INITIAL (16u * 1024u)
#define WBUF_KEEP (256u * 1024u)
#define BUF_CACHED (16u * 1024u) /* the size both buffers start at: the one recycled */
#define BUF_CACHE_MAX 4096u      /* per loop: 64 MiB */
_Static_assert(RBUF_INITIAL == BUF_CACHED && WBUF_INITIAL == BUF_CACHED,
               "both buffers start at the recycled size");

/* The writer. Who sends the queued bytes, and whether writing can go on:
 *
 *   W_IDLE      no flusher. Bytes may be queued that nobody sends yet: FLUSH_ON_READ
 *               holds them until the reader needs the fd, or the flusher could not be
 *               spawned (drain/flush/close retry the kick).
 *   W_SPAWNED   a flusher task is spawned and has not started: it holds a use of s but
 *               has not run a line. Cancelling it now means it never runs.
 *   W_FLUSHING  the flusher runs: it alone writes, until the queue is empty. Its writev
 *               may be in flight, so nobody else writes, and a ring it uses is kept (wold).
 *   W_FAILED    a write failed: werr holds the error, every later write returns it.
 *   W_SHUT      write_eof is done: writes fail with -EPIPE.
 *
 *   IDLE --kick(queued)--> SPAWNED --flusher starts--> FLUSHING --queue empty--> IDLE
 *   SPAWNED --flusher ended unstarted (no stack)--> IDLE
 *   IDLE, FLUSHING --write error--> FAILED            IDLE --write_eof--> SHUT
 *
 * Closing the stream (s->closed, for both directions) cancels a SPAWNED flusher and
 * interrupts a FLUSHING one, which then ends. */
enum wstate { W_IDLE, W_SPAWNED, W_FLUSHING, W_FAILED, W_SHUT };

/* A task parked in drain/flush until at most `target` bytes are queued. */
typedef struct waiter {
    coio__list link;
    coio_task *task;
    size_t target;
} waiter;

struct coio_stream {
    int fd;        /* what coio_stream_fd reports; the transport's own business */
    const coio__stream_transport *tp; /* moves the bytes: plain fd (below), or TLS... */
    void *tp_ctx;
    bool own_fd;   /* plain transport: close the fd with the stream */
    bool is_sock;  /* plain transport: write with send/sendmsg(MSG_NOSIGNAL) */
    bool is_file;  /* plain transport: regular file or block device (never tried inline) */
    bool eof;      /* the transport's read returned 0 */
    bool closed;   /* close/abort called: freed when users reaches 0 */
    bool hold;     /* COIO_STREAM_FLUSH_ON_READ */
    unsigned users; /* calls in progress (suspending ones) plus the flusher */
    coio_task *reader; /* the task inside a read call, if any */

    char *rbuf;
    size_t rpos, rlen, rcap; /* buffered data is rbuf[rpos, rlen) */
    size_t limit;
    size_t overrun; /* after -EMSGSIZE: buffered bytes of the record that did not fit */

    char *wbuf;           /* ring of wcap (a power of two) bytes */
    size_t whead, wlen, wcap;
    char *wold;           /* previous ring, kept while the flusher's writev uses it */
    size_t high, low;
    uint8_t wstate;       /* enum wstate */
    int werr;             /* W_FAILED: the first write error */
    coio_task *flusher;   /* W_SPAWNED, W_FLUSHING */
    coio__list waiters;   /* of waiter: drain/flush */
};

/* ---------------------------------------------------------------- buffers */

/* First-size buffers are recycled through the loop, as stacks are. A server opens and
 * closes a stream per connection; with malloc/free the memory went back to the kernel
 * (heap trim) and came back as fresh pages, each first touch a page fault: new
 * connections cost the W5 server several times more CPU that way, half of it page faults
 * and malloc's bin sorting. */
typedef struct buf_cache {
    void *free; /* free buffers of BUF_CACHED bytes, linked through their first word */
    size_t n;
} buf_cache;

static buf_cache *cache_get(void)
{
    coio__loop *L = coio__loop_get();
    return L ? coio__loop_sub(L, COIO__SUB_STREAM) : NULL;
}

static char *buf_alloc(size_t n)
{
    buf_cache *C = cache_get();
    if (n == BUF_CACHED && C && C->free) {
        char *b = C->free;
        C->free = *(void **)b;
        C->n--;
        BUF_UNPOISON(b);
        return b;
    }
    return malloc(n);
}

/* Releases a buffer of n bytes (from buf_alloc or malloc). */
static void buf_free(char *b, size_t n)
{
    buf_cache *C = cache_get();
    if (b && n == BUF_CACHED && C && C->n < BUF_CACHE_MAX) {
        *(void **)b = C->free;
        C->free = b;
        C->n++;
        BUF_POISON(b); /* a use after close is caught as if it had been freed */
        return;
    }
    free(b);
}

static int cache_init(coio__loop *L)
{
    buf_cache *C = calloc(1, sizeof *C);
    if (!C)
        return -ENOMEM;
    coio__loop_sub_set(L, COIO__SUB_STREAM, C);
    return 0;
}

static void cache_teardown(coio__loop *L)
{
    buf_cache *C = coio__loop_sub(L, COIO__SUB_STREAM);
    while (C->free) {
        void *b = C->free;
        C->free = *(void **)b;
        BUF_UNPOISON(b);
        free(b);
    }
    free(C);
    coio__loop_sub_set(L, COIO__SUB_STREAM, NULL);
}

const coio__subsystem coio__subsystem_stream = {
    .name = "stream buffers",
    .init = cache_init,
    .teardown = cache_teardown,
};

/* ---------------------------------------------------------------- open and free */

/* Fills in the defaults of opts and checks them. 0 or -EINVAL. */
static int opts_resolve(coio_stream_opts *o)
{
    if (!o->limit)
        o->limit = COIO_STREAM_LIMIT_DEFAULT;
    if (!o->high_water)
        o->high_water = COIO_STREAM_HIGH_WATER_DEFAULT;
    if (!o->low_water)
        o->low_water = o->high_water < COIO_STREAM_LOW_WATER_DEFAULT
                           ? o->high_water
                           : COIO_STREAM_LOW_WATER_DEFAULT;
    return o->low_water > o->high_water ? -EINVAL : 0;
}

coio_stream *coio__stream_open_transport(int fd, const coio__stream_transport *tp, void *ctx,
                                         const coio_stream_opts *opts)
{
    coio_stream_opts o = opts ? *opts : (coio_stream_opts){0};
    if (!tp || !tp->read || !tp->writev || !tp->close || opts_resolve(&o) < 0) {
        errno = EINVAL;
        return NULL;
    }
    coio_stream *s = calloc(1, sizeof *s);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    s->fd = fd;
    s->tp = tp;
    s->tp_ctx = ctx ? ctx : s;
    s->hold = (o.flags & COIO_STREAM_FLUSH_ON_READ) != 0;
    s->limit = o.limit;
    s->high = o.high_water;
    s->low = o.low_water;
    coio__list_init(&s->waiters);
    return s;
}

static const coio__stream_transport plain_transport;

coio_stream *coio_stream_open_ex(int fd, const coio_stream_opts *opts)
{
    coio_stream_opts o = opts ? *opts : (coio_stream_opts){0};
    if (fd < 0) {
        errno = EBADF;
        return NULL;
    }
    if (opts_resolve(&o) < 0) {
        errno = EINVAL;
        return NULL;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return NULL; /* errno EBADF */
    if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return NULL;
    coio_stream *s = coio__stream_open_transport(fd, &plain_transport, NULL, &o);
    if (!s)
        return NULL;
    struct stat st;
    s->own_fd = (o.flags & COIO_STREAM_OWN_FD) != 0;
    bool st_ok = fstat(fd, &st) == 0;
    s->is_sock = st_ok && S_ISSOCK(st.st_mode);
    s->is_file = st_ok && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode));
    return s;
}

coio_stream *coio_stream_open(int fd, unsigned flags)
{
    coio_stream_opts o = {.flags = flags};
    return coio_stream_open_ex(fd, &o);
}

static void stream_free(coio_stream *s)
{
    buf_free(s->rbuf, s->rcap);
    buf_free(s->wbuf, s->wcap);
    free(s->wold);
    free(s);
}

int coio_stream_fd(const coio_stream *s)
{
    return s ? s->fd : -EINVAL;
}

static void unuse(coio_stream *s)
{
    if (--s->users == 0 && s->closed)
        stream_free(s);
}

/* Enters a suspending call: the usual checks, the fairness budget (the call counts
 * even when the buffer serves it), then counts the caller as the reader, for reads.
 * Every successful enter is paired with leave(). */
static int enter(coio_stream *s, bool reading)
{
    coio__loop *L = coio__loop_get();
    coio_task *t = L ? L->current : NULL;
    if (!s)
        return -EINVAL;
    int r = coio__check(L, t);
    if (r < 0)
        return r;
    if (s->closed)
        return -EBADF;
    /* A budget yield may let another task close s: held as a user meanwhile, s stays
     * allocated, and closed is looked at again after it. */
    s->users++;
    r = coio__budget_spend(L, t);
    if (r == 0 && s->closed)
        r = -EBADF;
    else if (r == 0 && reading && s->reader)
        r = -EBUSY; /* asyncio: "already waiting for incoming data" */
    if (r < 0) {
        unuse(s);
        return r;
    }
    if (reading)
        s->reader = t;
    return 0;
}

static ssize_t leave(coio_stream *s, bool reading, ssize_t r)
{
    if (reading)
        s->reader = NULL;
    unuse(s);
    return r;
}

/* Ends the wait of a task blocked in a call on s with -EBADF (the stream closed under
 * it), the way coio_cancel ends a wait with -ECANCELED. A task not parked interruptibly
 * (io_uring finishing a cancelled op; ready to run) sees s->closed when it resumes. */
static inline void interrupt(coio__loop *L, coio_task *t)
{
    (void)coio__interrupt(L, t, -EBADF);
}

/* ---------------------------------------------------------------- plain transport */

/* The default transport: the stream's own fd, through coio's I/O operations. */

/* Runs op for a stream call, which spent the fairness budget on entry (the flusher,
 * before each op): no yield here, where a close by another task could not interrupt it. */
static ssize_t plain_read(void *ctx, void *buf, size_t n)
{
    coio_stream *s = ctx;
    /* recv skips read(2)'s file layer (fdget_pos, vfs_read): ~3 % of a small request */
    coio__op op = {.code = s->is_sock ? COIO__OP_RECV : COIO__OP_READ, .fd = s->fd,
                   .a.buf = {buf, n}};
    return coio__op_run_spent(&op);
}

/* Sets up op to write iov[0..n) to s's fd: send/sendmsg with MSG_NOSIGNAL on a socket
 * (a reset peer is -EPIPE, never SIGPIPE; send when one buffer will do, it copies no
 * msghdr in), writev otherwise. */
static void op_writev_init(const coio_stream *s, coio__op *op, struct msghdr *m,
                           const struct iovec *iov, int n)
{
    memset(op, 0, sizeof *op);
    op->fd = s->fd;
    if (s->is_sock && n == 1) {
        op->code = COIO__OP_SEND;
        op->a.buf.buf = iov[0].iov_base;
        op->a.buf.len = iov[0].iov_len;
    } else if (s->is_sock) {
        memset(m, 0, sizeof *m);
        m->msg_iov = (struct iovec *)iov;
        m->msg_iovlen = (size_t)n;
        op->code = COIO__OP_SENDMSG;
        op->a.msg = m;
    } else {
        op->code = COIO__OP_WRITEV;
        op->a.iov.iov = iov;
        op->a.iov.cnt = n;
    }
}

static ssize_t plain_try_writev(void *ctx, const struct iovec *iov, int n)
{
    struct msghdr m;
    coio__op op;
    /* A write to a file may wait for the disk, never with EAGAIN: on the loop thread it
     * would stall every task. The flusher's op does it where the backend says. */
    if (((const coio_stream *)ctx)->is_file)
        return -EAGAIN;
    op_writev_init(ctx, &op, &m, iov, n);
    return coio__op_syscall(&op);
}

static ssize_t plain_writev(void *ctx, const struct iovec *iov, int n)
{
    struct msghdr m;
    coio__op op;
    op_writev_init(ctx, &op, &m, iov, n);
    return coio__op_run_spent(&op);
}

/* close(2) on a worker, for a file's fd (fd_close_on_pool). */
static int close_job(void *arg)
{
    return close(*(int *)arg) == 0 ? 0 : -errno;
}

/* Closes a file's fd on the worker pool: close(2) of a file written over NFS, SMB or
 * FUSE sends its data and waits for the server, which must not stop the loop. Shielded:
 * the fd is released whatever happens to the caller meanwhile. */
static int fd_close_on_pool(coio__loop *L, int fd)
{
    coio__fd_closing(L, fd); /* what waits on fd ends with -EBADF, as in coio_close */
    coio_scope sc;
    int sr = coio_shield_begin(&sc, -1);
    int r = coio_to_thread(close_job, &fd);
    if (sr == 0)
        coio_scope_end(&sc);
    if (r == -EAGAIN) /* no worker could start: the fd must still go */
        r = close(fd) == 0 ? 0 : -errno;
    return r;
}

/* Sockets are shut down for writing; a pipe or file the stream owns is closed (its
 * reader then sees EOF). */
static int plain_shutdown_write(void *ctx)
{
    coio_stream *s = ctx;
    if (s->is_sock)
        return shutdown(s->fd, SHUT_WR) < 0 ? -errno : 0;
    if (!s->own_fd)
        return -ENOTSOCK;
    coio__loop *L = coio__loop_get();
    int r = s->is_file && L && L->current ? fd_close_on_pool(L, s->fd) : coio_close(s->fd);
    s->fd = -1;
    s->own_fd = false;
    return r;
}

static int plain_close(void *ctx)
{
    coio_stream *s = ctx;
    int r = s->own_fd && s->fd >= 0 ? coio_close(s->fd) : 0;
    s->own_fd = false;
    return r;
}

static const coio__stream_transport plain_transport;

/* Checked before write_eof flushes: a pipe the stream does not own cannot be ended. */
static bool can_write_eof(const coio_stream *s)
{
    if (s->tp != &plain_transport)
        return s->tp->shutdown_write != NULL;
    return s->is_sock || s->own_fd;
}

static const coio__stream_transport plain_transport = {
    .name = "fd",
    .read = plain_read,
    .try_writev = plain_try_writev,
    .writev = plain_writev,
    .shutdown_write = plain_shutdown_write,
    .close = plain_close,
};

/* ---------------------------------------------------------------- transport calls */

static int wkick(coio_stream *s);

/* An op that a close by another task interrupted reports -EBADF. */
static ssize_t tp_read(coio_stream *s, void *buf, size_t n)
{
    if (s->hold && s->wlen) /* the answers to what was read so far go out first */
        (void)wkick(s);     /* an error is sticky: the next write reports it */
    if (s->closed)
        return -EBADF;
    ssize_t r = s->tp->read(s->tp_ctx, buf, n);
    return s->closed ? -EBADF : r;
}

static ssize_t tp_writev(coio_stream *s, const struct iovec *iov, int n)
{
    if (s->closed)
        return -EBADF;
    ssize_t r = s->tp->writev(s->tp_ctx, iov, n);
    return s->closed ? -EBADF : r;
}

/* One attempt that never suspends: the count, -EAGAIN, or an error. A transport without
 * try_writev leaves everything to the flusher. */
static ssize_t tp_try_writev(coio_stream *s, const struct iovec *iov, int n)
{
    return s->tp->try_writev ? s->tp->try_writev(s->tp_ctx, iov, n) : -EAGAIN;
}

/* ---------------------------------------------------------------- read buffer */

static size_t rbuffered(const coio_stream *s)
{
    return s->rlen - s->rpos;
}

static void rconsume(coio_stream *s, size_t n)
{
    s->rpos += n;
    if (s->rpos == s->rlen) {
        s->rpos = s->rlen = 0;
        if (s->rcap > RBUF_KEEP) { /* a huge read_exactly/read_all is over */
            buf_free(s->rbuf, s->rcap);
            s->rbuf = NULL;
            s->rcap = 0;
        }
    }
}

/* Makes room after the buffered data for at least max(need - buffered, RBUF_MIN_READ)
 * bytes: need is how much the caller wants to hold at once (0: anything). */
static int rreserve(coio_stream *s, size_t need)
{
    size_t have = rbuffered(s);
    size_t room = need > have ? need - have : 0;
    if (room < RBUF_MIN_READ)
        room = RBUF_MIN_READ;
    if (s->rcap - s->rlen >= room)
        return 0;
    if (s->rcap - have >= room) { /* enough once the consumed prefix is dropped */
        memmove(s->rbuf, s->rbuf + s->rpos, have);
        s->rpos = 0;
        s->rlen = have;
        return 0;
    }
    size_t cap = s->rcap ? s->rcap * 2 : RBUF_INITIAL;
    while (cap < have + room) {
        if (cap > SIZE_MAX / 2)
            return -ENOMEM;
        cap *= 2;
    }
    char *nb = buf_alloc(cap);
    if (!nb)
        return -ENOMEM;
    if (have)
        memcpy(nb, s->rbuf + s->rpos, have);
    buf_free(s->rbuf, s->rcap);
    s->rbuf = nb;
    s->rcap = cap;
    s->rpos = 0;
    s->rlen = have;
    return 0;
}

/* One read(2) into the buffer, sized to hold `need` bytes in all. Returns the count,
 * 0 at EOF (and sets eof) or a negative errno; buffered data is never lost. */
static ssize_t rfill(coio_stream *s, size_t need)
{
    int e = rreserve(s, need);
    if (e < 0)
        return e;
    ssize_t r = tp_read(s, s->rbuf + s->rlen, s->rcap - s->rlen);
    if (r > 0)
        s->rlen += (size_t)r;
    else if (r == 0)
        s->eof = true;
    return r;
}

/* Copies n buffered bytes out and consumes them. */
static void rtake(coio_stream *s, void *buf, size_t n)
{
    if (n)
        memcpy(buf, s->rbuf + s->rpos, n);
    rconsume(s, n);
}

/* ---------------------------------------------------------------- reading */

ssize_t coio_stream_read(coio_stream *s, void *buf, size_t n)
{
    if (!buf && n)
        return -EINVAL;
    int e = enter(s, true);
    if (e < 0)
        return e;
    ssize_t r = 0;
    if (n == 0 || (rbuffered(s) == 0 && s->eof)) {
        r = 0;
    } else if (rbuffered(s) == 0 && n >= RBUF_INITIAL) {
        /* Big read, empty buffer: straight into the caller's memory, no copy. */
        r = tp_read(s, buf, n);
        if (r == 0)
            s->eof = true;
    } else {
        if (rbuffered(s) == 0)
            r = rfill(s, 0);
        if (r >= 0) {
            r = (ssize_t)(rbuffered(s) < n ? rbuffered(s) : n);
            rtake(s, buf, (size_t)r);
        }
    }
    return leave(s, true, r);
}

ssize_t coio_stream_read_exactly(coio_stream *s, void *buf, size_t n, size_t *got)
{
    if (got)
        *got = 0;
    if (!buf && n)
        return -EINVAL;
    int e = enter(s, true);
    if (e < 0)
        return e;
    ssize_t r = 0;
    while (rbuffered(s) < n) {
        if (s->eof) {
            size_t have = rbuffered(s);
            rtake(s, buf, have);
            if (got)
                *got = have;
            return leave(s, true, -EPIPE);
        }
        r = rfill(s, n);
        if (r < 0)
            return leave(s, true, r);
    }
    rtake(s, buf, n);
    if (got)
        *got = n;
    return leave(s, true, (ssize_t)n);
}

/* readline / read_until. at_eof_partial: at EOF, hand over the unterminated rest as a
 * line (readline) instead of failing with -EPIPE (read_until). As in asyncio, the limit
 * bounds the record without its separator; cap must hold the separator too. */
static ssize_t read_until(coio_stream *s, const void *sep, size_t seplen, void *buf,
                          size_t cap, bool at_eof_partial)
{
    if (!s || !sep || !seplen || (!buf && cap))
        return -EINVAL;
    int e = enter(s, true);
    if (e < 0)
        return e;
    size_t scanned = 0; /* bytes from rpos known to hold no separator start */
    ssize_t r;
    s->overrun = 0;
    for (;;) {
        size_t have = rbuffered(s);
        if (have >= seplen) {
            const char *base = s->rbuf + s->rpos; /* rbuf may be NULL when have is 0 */
            const char *p = memmem(base + scanned, have - scanned, sep, seplen);
            if (p) {
                size_t data = (size_t)(p - base), len = data + seplen;
                if (data > s->limit || len > cap) {
                    s->overrun = len;
                    return leave(s, true, -EMSGSIZE);
                }
                rtake(s, buf, len);
                return leave(s, true, (ssize_t)len);
            }
            scanned = have - (seplen - 1); /* a separator may begin in the last bytes */
        }
        /* No separator in `have` bytes: the record holds more than have - seplen + 1
         * bytes before its separator, and more than have bytes with it. */
        if (have >= cap || (have >= seplen && have - seplen + 1 > s->limit)) {
            s->overrun = have;
            return leave(s, true, -EMSGSIZE);
        }
        if (s->eof) {
            if (!at_eof_partial)
                return leave(s, true, -EPIPE);
            rtake(s, buf, have); /* the last line, possibly empty */
            return leave(s, true, (ssize_t)have);
        }
        r = rfill(s, 0); /* grow by doubling: most lines are short */
        if (r < 0)
            return leave(s, true, r);
    }
}

ssize_t coio_stream_readline(coio_stream *s, void *buf, size_t cap)
{
    return read_until(s, "\n", 1, buf, cap, true);
}

ssize_t coio_stream_read_until(coio_stream *s, const void *sep, size_t seplen, void *buf,
                               size_t cap)
{
    return read_until(s, sep, seplen, buf, cap, false);
}

size_t coio_stream_overrun(const coio_stream *s)
{
    return s ? s->overrun : 0;
}

ssize_t coio_stream_skip_until(coio_stream *s, const void *sep, size_t seplen)
{
    if (!s || !sep || !seplen)
        return -EINVAL;
    int e = enter(s, true);
    if (e < 0)
        return e;
    size_t dropped = 0;
    for (;;) {
        size_t have = rbuffered(s);
        const char *p = have >= seplen ? memmem(s->rbuf + s->rpos, have, sep, seplen) : NULL;
        if (p) {
            size_t len = (size_t)(p - (s->rbuf + s->rpos)) + seplen;
            rconsume(s, len);
            return leave(s, true, (ssize_t)(dropped + len));
        }
        if (s->eof) {
            rconsume(s, have);
            return leave(s, true, -EPIPE);
        }
        /* Keep what may be the start of a separator; the buffer never grows here. */
        size_t keep = have < seplen - 1 ? have : seplen - 1;
        rconsume(s, have - keep);
        dropped += have - keep;
        ssize_t r = rfill(s, 0);
        if (r < 0)
            return leave(s, true, r);
    }
}

ssize_t coio_stream_read_all(coio_stream *s, void *buf, size_t cap)
{
    if (!buf && cap)
        return -EINVAL;
    int e = enter(s, true);
    if (e < 0)
        return e;
    while (!s->eof) {
        if (rbuffered(s) > cap)
            return leave(s, true, -EMSGSIZE);
        ssize_t r = rfill(s, 0);
        if (r < 0)
            return leave(s, true, r);
    }
    size_t have = rbuffered(s);
    if (have > cap)
        return leave(s, true, -EMSGSIZE);
    rtake(s, buf, have);
    return leave(s, true, (ssize_t)have);
}

int coio_stream_at_eof(const coio_stream *s)
{
    return s && s->eof && rbuffered(s) == 0;
}

size_t coio_stream_buffered(const coio_stream *s)
{
    return s ? rbuffered(s) : 0;
}

int coio_stream_set_limit(coio_stream *s, size_t limit)
{
    if (!s)
        return -EINVAL;
    s->limit = limit ? limit : COIO_STREAM_LIMIT_DEFAULT;
    return 0;
}

/* ---------------------------------------------------------------- write ring */

/* Up to two iovecs covering the queued bytes in order. */
static int wiov(const coio_stream *s, struct iovec iov[2])
{
    if (!s->wlen)
        return 0;
    size_t first = s->wcap - s->whead < s->wlen ? s->wcap - s->whead : s->wlen;
    iov[0] = (struct iovec){s->wbuf + s->whead, first};
    if (first == s->wlen)
        return 1;
    iov[1] = (struct iovec){s->wbuf, s->wlen - first};
    return 2;
}

static void wconsume(coio_stream *s, size_t n)
{
    s->whead = (s->whead + n) & (s->wcap - 1);
    s->wlen -= n;
    if (!s->wlen) {
        s->whead = 0;
        if (s->wcap > WBUF_KEEP && s->wstate != W_FLUSHING) {
            buf_free(s->wbuf, s->wcap);
            s->wbuf = NULL;
            s->wcap = 0;
        }
    }
}

/* Room for n more queued bytes. A writev of the flusher may be using the old ring: it
 * stays allocated (in wold) until that op is over; the bytes keep their logical order,
 * so what the op wrote is consumed from the new ring. */
static int wreserve(coio_stream *s, size_t n)
{
    if (n > SIZE_MAX / 4 - s->wlen)
        return -ENOMEM;
    size_t need = s->wlen + n;
    if (need <= s->wcap)
        return 0;
    size_t cap = s->wcap ? s->wcap * 2 : WBUF_INITIAL;
    while (cap < need)
        cap *= 2;
    char *nb = buf_alloc(cap);
    if (!nb)
        return -ENOMEM;
    struct iovec iov[2];
    int k = wiov(s, iov);
    size_t off = 0;
    for (int i = 0; i < k; i++) {
        memcpy(nb + off, iov[i].iov_base, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    if (s->wstate == W_FLUSHING && !s->wold)
        s->wold = s->wbuf; /* freed with free(): a ring it replaced may be any size */
    else
        buf_free(s->wbuf, s->wcap);
    s->wbuf = nb;
    s->wcap = cap;
    s->whead = 0;
    return 0;
}

static void wappend(coio_stream *s, const char *p, size_t n)
{
    size_t tail = (s->whead + s->wlen) & (s->wcap - 1);
    size_t first = s->wcap - tail < n ? s->wcap - tail : n;
    memcpy(s->wbuf + tail, p, first);
    memcpy(s->wbuf, p + first, n - first);
    s->wlen += n;
}

/* Wakes drain/flush waiters whose target is reached, or all of them when the flusher
 * can make no more progress (error, or it is gone). */
static void wake_waiters(coio_stream *s, bool all, int r)
{
    coio__loop *L = coio__loop_get();
    coio__list *n, *tmp;
    coio__list_for_each_safe(n, tmp, &s->waiters)
    {
        waiter *w = coio__container_of(n, waiter, link);
        if (all || s->wlen <= w->target) {
            coio__list_unlink(&w->link);
            coio__wake(L, w->task, r);
        }
    }
}

static void waiter_unwait(coio_task *t)
{
    coio__list_unlink(&((waiter *)t->wait_obj)->link);
}

/* Transition to W_FAILED: the first error sticks, and waiters wake to see it. */
static int wfail(coio_stream *s, int err)
{
    s->wstate = W_FAILED;
    s->werr = err;
    wake_waiters(s, true, 0);
    return err;
}

/* The error a new write gets in the writer's present state, or 0. */
static int wstate_error(const coio_stream *s)
{
    if (s->closed)
        return -EBADF;
    return s->wstate == W_FAILED ? s->werr : s->wstate == W_SHUT ? -EPIPE : 0;
}

/* The flusher: writes the ring out while there is something queued, then ends. It runs
 * in its own task, so the deadlines of the task that wrote do not cut it short (drain's
 * caller waits under its own deadline instead). */
static int flusher_main(void *arg)
{
    coio_stream *s = arg;
    coio__loop *L = coio__loop_get();
    s->wstate = W_FLUSHING;
    while (s->wstate == W_FLUSHING && s->wlen && !s->closed) {
        struct iovec iov[2];
        int e = coio__budget_spend(L, L->current);
        if (e < 0) {
            wfail(s, e); /* as if the op had been interrupted */
            break;
        }
        if (s->closed)
            break;
        ssize_t r = tp_writev(s, iov, wiov(s, iov));
        free(s->wold);
        s->wold = NULL;
        if (s->closed)
            break;
        if (r < 0) {
            wfail(s, (int)r);
            break;
        }
        wconsume(s, (size_t)r);
        wake_waiters(s, false, 0);
    }
    if (s->wstate == W_FLUSHING)
        s->wstate = W_IDLE;
    s->flusher = NULL;
    if (!s->wlen && s->wcap > WBUF_KEEP) {
        buf_free(s->wbuf, s->wcap);
        s->wbuf = NULL;
        s->whead = s->wcap = 0;
    }
    coio_detach(coio_current()); /* freed as it returns */
    wake_waiters(s, true, 0);    /* they look at s again and decide */
    leave(s, false, 0);
    return 0;
}

/* W_SPAWNED -> W_IDLE: the flusher will never run (cancelled, or it ended unstarted);
 * drops the use of s it held. */
static void flusher_drop(coio_stream *s)
{
    coio_detach(s->flusher);
    s->flusher = NULL;
    s->wstate = W_IDLE;
    s->users--;
}

/* W_IDLE -> W_SPAWNED when data is queued. A flusher that ended before it started (its
 * stack could not be allocated) is dropped first, and spawning is tried again. */
static int ensure_flusher(coio_stream *s)
{
    if (s->wstate == W_SPAWNED && coio__task_is_done(s->flusher))
        flusher_drop(s);
    if (s->wstate != W_IDLE || !s->wlen || s->closed || !coio__loop_get())
        return 0;
    coio_task *t = coio_spawn(flusher_main, s); /* per write on io_uring: no malloc */
    if (!t)
        return -errno;
    coio__task_set_static_name(t, "stream flush");
    s->flusher = t;
    s->wstate = W_SPAWNED;
    s->users++;
    return 0;
}

/* Sends what is queued without waiting, in W_IDLE: one try now, the flusher for what the
 * transport did not take. On a batching backend the flusher does it all: its op goes to
 * the kernel with the reader's next one, in the same system call. */
static int wkick(coio_stream *s)
{
    coio__loop *L = coio__loop_get();
    if (s->wstate == W_IDLE && s->wlen && !s->closed && !(L && L->backend->batches)) {
        struct iovec iov[2];
        ssize_t r = tp_try_writev(s, iov, wiov(s, iov));
        if (r < 0 && r != -EAGAIN)
            return wfail(s, (int)r);
        if (r > 0)
            wconsume(s, (size_t)r);
    }
    return ensure_flusher(s);
}

/* ---------------------------------------------------------------- writing */

ssize_t coio_stream_writev(coio_stream *s, const struct iovec *iov, int iovcnt)
{
    if (!s || iovcnt < 0 || iovcnt > IOV_MAX || (!iov && iovcnt))
        return -EINVAL;
    int err = wstate_error(s);
    if (err < 0)
        return err;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > SSIZE_MAX - total)
            return -EINVAL;
        total += iov[i].iov_len;
    }
    if (!total)
        return 0;
    size_t done = 0;
    /* FLUSH_ON_READ holds the data until the reader needs the fd, up to the high mark;
     * not when another task is already waiting to read: nothing would send it. */
    coio__loop *L = coio__loop_get();
    bool reader_waits = s->reader && (!L || s->reader != L->current);
    bool hold = s->hold && !reader_waits &&
                total <= s->high - (s->wlen < s->high ? s->wlen : s->high);
    bool tried = false;
    if (!s->wlen && !hold) {
        tried = true;
        /* Nothing queued: try the kernel first, queue only what it refuses. */
        ssize_t r = tp_try_writev(s, iov, iovcnt);
        if (r < 0 && r != -EAGAIN)
            return wfail(s, (int)r);
        if (r > 0)
            done = (size_t)r;
        if (done == total)
            return (ssize_t)total;
    }
    int e = wreserve(s, total - done);
    if (e < 0) {
        if (done) /* part of it is out already: the stream cannot go on consistently */
            wfail(s, e);
        return e;
    }
    for (int i = 0; i < iovcnt; i++) {
        size_t len = iov[i].iov_len, skip = done < len ? done : len;
        done -= skip;
        wappend(s, (const char *)iov[i].iov_base + skip, len - skip);
    }
    /* A failed spawn (ENOMEM) is retried, and reported, by drain/flush/close. */
    if (!hold)
        (void)(tried ? ensure_flusher(s) : wkick(s));
    return (ssize_t)total;
}

ssize_t coio_stream_write(coio_stream *s, const void *buf, size_t n)
{
    if (!buf && n)
        return -EINVAL;
    struct iovec iov = {(void *)buf, n};
    return coio_stream_writev(s, &iov, 1);
}

size_t coio_stream_write_buffered(const coio_stream *s)
{
    return s ? s->wlen : 0;
}

/* Suspends until at most `target` bytes are queued, or an error. Called inside enter. */
static int wait_written(coio_stream *s, size_t target)
{
    coio__loop *L = coio__loop_get();
    coio_task *t = L->current;
    while (s->wlen > target) {
        if (s->werr)
            return s->werr;
        int r = wkick(s); /* nothing may be on its way yet (FLUSH_ON_READ) */
        if (r < 0)
            return r;
        if (s->wlen <= target)
            break;
        waiter w = {.task = t, .target = target};
        coio__list_push_back(&s->waiters, &w.link);
        r = coio__park(L, t, "stream drain", &w, waiter_unwait, COIO__NEVER, true);
        coio__list_unlink(&w.link);
        if (r < 0)
            return r;
        if (s->closed)
            return -EBADF;
    }
    return s->werr;
}

int coio_stream_drain(coio_stream *s)
{
    int r = enter(s, false);
    if (r < 0)
        return r;
    r = s->werr;
    if (!r && s->wlen > s->high)
        r = wait_written(s, s->low);
    return (int)leave(s, false, r);
}

int coio_stream_flush(coio_stream *s)
{
    int r = enter(s, false);
    if (r < 0)
        return r;
    r = wait_written(s, 0);
    return (int)leave(s, false, r);
}

int coio_stream_write_eof(coio_stream *s)
{
    int r = enter(s, false);
    if (r < 0)
        return r;
    if (s->wstate == W_SHUT)
        return (int)leave(s, false, 0);
    if (!can_write_eof(s))
        return (int)leave(s, false, -ENOTSOCK);
    r = wait_written(s, 0);
    if (r == 0) {
        s->wstate = W_SHUT;
        r = s->tp->shutdown_write(s->tp_ctx);
    }
    return (int)leave(s, false, r);
}

/* ---------------------------------------------------------------- closing */

/* Marks s closed, ends every wait on it, closes the fd if owned (graceful: the
 * transport's close, else its abort). s is freed now if no call is in progress, else by
 * the last one to leave. */
static void stream_abort(coio_stream *s, bool graceful)
{
    coio__loop *L = coio__loop_get();
    coio_task *self = L ? L->current : NULL;
    s->closed = true;
    if (L) {
        if (s->reader && s->reader != self)
            interrupt(L, s->reader);
        wake_waiters(s, true, -EBADF);
        if (s->wstate == W_SPAWNED) {
            /* Not started: cancelled now, it never runs, so it can't drop its use of s. */
            coio_cancel(s->flusher);
            flusher_drop(s);
        } else if (s->wstate == W_FLUSHING) {
            interrupt(L, s->flusher);
        }
    } else {
        /* Outside any loop no task can be inside a call on s: a flusher left over from
         * a loop that ended is gone with it. */
        s->flusher = NULL;
        if (s->wstate == W_SPAWNED || s->wstate == W_FLUSHING)
            s->wstate = W_IDLE;
        s->users = 0;
    }
    if (!graceful && s->tp->abort)
        (void)s->tp->abort(s->tp_ctx);
    else
        (void)s->tp->close(s->tp_ctx);
    s->fd = -1;
    if (s->users == 0)
        stream_free(s);
}

int coio_stream_abort(coio_stream *s)
{
    if (!s)
        return -EINVAL;
    stream_abort(s, false);
    return 0;
}

int coio_stream_close(coio_stream *s)
{
    if (!s)
        return -EINVAL;
    int r = s->werr;
    coio__loop *L = coio__loop_get();
    if (L && L->current && !s->closed) {
        s->users++;
        if (s->wlen && !r) {
            /* Flush: coio__park inside returns -ECANCELED/-ETIMEDOUT at once if those
             * hold, and then the data is discarded. */
            r = coio__check(L, L->current);
            if (r == 0)
                r = wait_written(s, 0);
        }
        /* A file's fd is closed on the pool, after the stream has let go of it. */
        int file_fd = -1;
        if (s->tp == &plain_transport && s->is_file && s->own_fd && s->fd >= 0) {
            file_fd = s->fd;
            s->own_fd = false;
        }
        stream_abort(s, true); /* s->users still counts us: not freed yet */
        leave(s, false, 0);
        if (file_fd >= 0) {
            int cr = fd_close_on_pool(L, file_fd);
            if (r == 0)
                r = cr; /* a write-back error (EIO) that close(2) reports */
        }
    } else {
        if (s->wlen && !r)
            r = -EPERM;
        stream_abort(s, true);
    }
    return r;
}
