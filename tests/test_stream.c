/* coio-test: io */
/* Buffered streams (coio_stream_*) over non-blocking pipes and Unix socketpairs, with
 * real peers in other tasks: every reader call, the limit, short reads at EOF,
 * backpressure, half-close, cancellation and close in the middle of a call. Runs once
 * per backend (COIO_BACKEND). */
#define _GNU_SOURCE
#include "coio_test.h"

#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* ---- harness ----------------------------------------------------------------------- */

/* Checks made inside tasks record the first failure here (cmocka's fail() must not
 * longjmp off a task stack); run() reports it after coio_run returns. */
static char check_failed[1024];

static void check_note(const char *file, int line, const char *what, long got, long want)
{
    if (!check_failed[0])
        snprintf(check_failed, sizeof check_failed, "%s:%d: %s: got %ld (%s), want %ld (%s)",
                 file, line, what, got, got < 0 ? coio_err_name((int)got) : "ok", want,
                 want < 0 ? coio_err_name((int)want) : "ok");
}

#define CHECK_RC(expr, want)                                                             \
    do {                                                                                 \
        long g_ = (long)(expr), w_ = (long)(want);                                       \
        if (g_ != w_)                                                                    \
            check_note(__FILE__, __LINE__, #expr, g_, w_);                               \
    } while (0)
#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond))                                                                     \
            check_note(__FILE__, __LINE__, "false: " #cond, 0, 1);                       \
    } while (0)
#define CHECK_MEM(p, lit)                                                                \
    do {                                                                                 \
        if (memcmp((p), (lit), sizeof(lit) - 1) != 0)                                    \
            check_note(__FILE__, __LINE__, "memcmp(" #p ", " #lit ")", 1, 0);            \
    } while (0)

static void run(int (*fn)(void *), void *arg)
{
    require_backend();
    check_failed[0] = 0;
    coio_assert_rc(coio_run(fn, arg), 0);
    if (check_failed[0]) {
        print_error("%s\n", check_failed);
        fail();
    }
}

static void open_pipe(int p[2])
{
    int r = pipe2(p, O_NONBLOCK | O_CLOEXEC);
    CHECK_RC(r, 0);
}

/* A Unix socketpair with small kernel buffers, so backpressure shows after a few KiB. */
static void open_pair(int sv[2], int bufsize)
{
    int r = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv);
    CHECK_RC(r, 0);
    for (int i = 0; bufsize && i < 2; i++) {
        setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof bufsize);
        setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize);
    }
}

static coio_stream *open_owned(int fd)
{
    coio_stream *s = coio_stream_open(fd, COIO_STREAM_OWN_FD);
    CHECK(s != NULL);
    return s;
}

/* Byte i of the test pattern; lets a reader verify order across ring wrap-arounds. */
static char pat(size_t i)
{
    return (char)('a' + (i * 7 + i / 251) % 26);
}

/* ---- peers ------------------------------------------------------------------------- */

struct peer {
    int fd;
    const char *data;
    size_t len;
    double delay;    /* before starting */
    double gap;      /* between pieces */
    size_t piece;    /* bytes per write (trickle) */
    bool close_after;
    /* reading peers */
    size_t got;
    bool pattern_ok;
    double first_read_at;
    int rc;
};

/* Writes data in `piece`-byte writes `gap` seconds apart, then maybe closes fd. */
static int trickle_writer(void *arg)
{
    struct peer *p = arg;
    if (p->delay > 0)
        coio_sleep(p->delay);
    for (size_t off = 0; off < p->len;) {
        size_t n = p->piece && p->piece < p->len - off ? p->piece : p->len - off;
        ssize_t w = coio_write_all(p->fd, p->data + off, n);
        if (w < 0) {
            p->rc = (int)w;
            return 0;
        }
        off += n;
        if (p->gap > 0 && off < p->len)
            coio_sleep(p->gap);
    }
    if (p->close_after) {
        coio_close(p->fd);
        p->fd = -1;
    }
    return 0;
}

/* Reads fd to EOF in small reads after `delay`, checking the pattern. */
static int pattern_reader(void *arg)
{
    struct peer *p = arg;
    char buf[4096];
    p->pattern_ok = true;
    if (p->delay > 0)
        coio_sleep(p->delay);
    for (;;) {
        ssize_t r = coio_read(p->fd, buf, p->piece ? p->piece : sizeof buf);
        if (r <= 0) {
            p->rc = (int)r;
            return 0;
        }
        if (!p->got)
            p->first_read_at = coio_now();
        for (ssize_t i = 0; i < r; i++)
            if (buf[i] != pat(p->got + (size_t)i))
                p->pattern_ok = false;
        p->got += (size_t)r;
        if (p->gap > 0)
            coio_sleep(p->gap);
    }
}

/* ---- read, read_exactly, read_all ---------------------------------------------------- */

static int read_main(void *arg)
{
    (void)arg;
    int p[2];
    open_pipe(p);
    coio_stream *s = open_owned(p[0]);
    char buf[64];
    CHECK_RC(write(p[1], "hello world", 11), 11);
    CHECK_RC(coio_stream_read(s, buf, 5), 5);
    CHECK_MEM(buf, "hello");
    CHECK_RC(coio_stream_buffered(s), 6);
    CHECK_RC(coio_stream_read(s, buf, 0), 0);
    CHECK_RC(coio_stream_read(s, buf, sizeof buf), 6);
    CHECK_MEM(buf, " world");
    CHECK_RC(coio_stream_at_eof(s), 0);
    close(p[1]);
    CHECK_RC(coio_stream_read(s, buf, sizeof buf), 0);
    CHECK_RC(coio_stream_at_eof(s), 1);
    CHECK_RC(coio_stream_read(s, buf, sizeof buf), 0);
    CHECK_RC(coio_stream_close(s), 0);
    return 0;
}

static void read_returns_buffered_data_then_zero_at_eof(void **state)
{
    (void)state;
    run(read_main, NULL);
}

/* A big read with nothing buffered goes straight into the caller's buffer. */
static int big_read_main(void *arg)
{
    (void)arg;
    int sv[2];
    open_pair(sv, 0);
    coio_stream *s = open_owned(sv[0]);
    static char big[200000], data[100000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = pat(i);
    struct peer w = {.fd = sv[1], .data = data, .len = sizeof data, .close_after = true};
    coio_task *t = coio_spawn(trickle_writer, &w);
    size_t got = 0;
    for (;;) {
        ssize_t r = coio_stream_read(s, big + got, sizeof big - got);
        CHECK(r >= 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    CHECK_RC(got, sizeof data);
    CHECK(memcmp(big, data, sizeof data) == 0);
    CHECK_RC(coio_await(t), 0);
    CHECK_RC(coio_stream_close(s), 0);
    return 0;
}

static void big_reads_deliver_everything_in_order(void **state)
{
    (void)state;
    run(big_read_main, NULL);
}

static int exactly_main(void *arg)
{
    (void)arg;
    int p[2];
    open_pipe(p);
    coio_stream *s = open_owned(p[0]);
    char buf[16] = {0};
    size_t got = 99;
    CHECK_RC(write(p[1], "abcdefgh", 8), 8);
    CHECK_RC(coio_stream_read_exactly(s, buf, 3, &got), 3);
    CHECK_RC(got, 3);
    CHECK_MEM(buf, "abc");
    CHECK_RC(coio_stream_read_exactly(s, buf, 0, NULL), 0);
    close(p[1]);
    memset(buf, 0, sizeof buf);
    CHECK_RC(coio_stream_read_exactly(s, buf, 10, &got), -EPIPE);
    CHECK_RC(got, 5); /* the partial data is handed over */
    CHECK_MEM(buf, "defgh");
    CHECK_RC(coio_stream_at_eof(s), 1);
    CHECK_RC(coio_stream_read_exactly(s, buf, 1, &got), -EPIPE);
    CHECK_RC(got, 0);
    CHECK_RC(coio_stream_close(s), 0);
    return 0;
}

static void read_exactly_short_at_eof_is_epipe_with_partial_data(void **state)
{
    (void)state;
    run(exactly_main, NULL);
}

/* n larger than the limit and than any one write: assembled from a trickling peer. */
static int exactly_big_main(void *arg)
{
    (void)arg;
    int sv[2];
    open_pair(sv, 4096);
    coio_stream *s = open_owned(sv[0]);
    static char data[200000], buf[200000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = pat(i);
    struct peer w = {.fd = sv[1], .data = data, .len = sizeof data, .piece = 7000,
                     .close_after = true};
    coio_task *t = coio_spawn(trickle_writer, &w);
    size_t got = 0;
    CHECK_RC(coio_stream_read_exactly(s, buf, sizeof buf, &got), sizeof buf);
    CHECK_RC(got, sizeof buf);
    CHECK(memcmp(buf, data, sizeof data) == 0);
    CHECK_RC(coio_await(t), 0);
    CHECK_RC(coio_stream_read(s, buf, 1), 0);
    CHECK_RC(coio_stream_close(s), 0);
    return 0;
}

static void read_exactly_beyond_the_limit_from_a_trickling_peer(void **state)
{
    (void)state;
    run(exactly_big_main, NULL);
}

static int read_all_main(void *arg)
{
    (void)arg;
    int p[2];
    open_pipe(p);
    coio_stream *s = open_owned(p[0]);
    char data[100], buf[100];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = pat(i);
    struct peer w = {.fd = p[1], .data = data, .len = sizeof data, .piece = 10,
                     .gap = 0.001, .close_after = true};
    coio_task *t = coio_spawn(trickle_writer, &w);
    CHECK_RC(coio_stream_read_all(s, buf, 50), -EMSGSIZE);
    CHECK(coio_stream_buffered(s) > 50); /* nothing consumed */
    CHECK_RC(coio_await(t), 0);
    CHECK_RC(coio_stream_read_all(s, buf, sizeof buf), 100);
    CHECK(memcmp(buf, data, sizeof data) == 0);
    CHECK_RC(coio_stream_read_all(s, buf, sizeof buf), 0);
    CHECK_RC(coio_stream_close(s), 0);
    return 0;
}

static void read_all_reads_to_eof_and_keeps_data_over_the_cap(void **state)
{
    (void)state;
    run(read_all_main, NULL);
}

/* ---- readline, read_until ------------------------------------------------------------ */

static int readline_main(void *arg)
{
    (void)arg;
    int p[2];
    open_pipe(p);
    coio_stream *s = open_owned(p[0]);
    char buf[64];
    CHECK_RC(write(p[1], "one\ntwo\n\nlast", 13), 13);
    close(p[1]);
    CHECK_RC(coio_stream_readline(s, buf, sizeof buf), 4);
    CHECK_MEM(buf, "one\n");
    CHECK_RC(coio_stream_readline(s, buf, sizeof buf), 4);
    CHECK_MEM(buf, "two\n");
    CHECK_RC(coio_stream_readline(s, buf, sizeof buf), 1);
    CHECK_MEM(buf, "\n");
    CHECK_RC(coio_stream_readline(s, buf, sizeof buf), 4); /* unterminated last line */
    CHECK_MEM(buf, "last");
    CHECK_RC(coio_stream_readline(s, buf, sizeof buf), 0);
    CHECK_RC(coio_stream_at_eof(s), 1);
    CHECK_RC(coio_stream_close(s), 0);
    return 0;
}

static void readline_returns_lines_then_the_unterminated_rest_then_zero(void **state)
{
    (void)state;
    run(readline_main, NULL);
}

/* 100 lines written at once: the first readline takes them all from the kernel in one
 * read (the pipe is empty afterwards), not a byte or a line at a time. */
static int readline_batch_main(void *arg)
{
    (void)arg;
    int p[2];
    open_pipe(p);
    coio_stream *s = open_owned(p[0]);
    char all[1000], buf[32];
    for (int i = 0; i < 100; i++)
        memcpy(all + i * 10, "line 0000\n", 10), all[i * 10 + 8] = (char)('0' + i % 10);
    CHECK_RC(write(p[1], all, sizeof all), sizeof all);
    CHECK_RC(coio_stream_readline(s, buf, sizeof buf), 10);
    int pending = -1;
    CHECK_RC(ioctl(p[0], FIONREAD, &pending), 0);
    CHECK_RC(pending, 0);
    CHECK_RC(coio_stream_buffered(s), 990);
    for (int i = 1; i < 100; i++) {
        CHECK_RC(coio_stream_readline(s, buf, sizeof buf), 10);
        CHECK_RC(buf[8], '0' + i % 10);
    }
    close(p[1]);
    CHECK_RC(coio_stream_readline(s, buf, sizeof buf), 0);
    CHECK_RC(coio_stream_close(s), 0);
    return 0;
}

static void readline_reads_the_kernel_buffer_in_one_call(void **state)
{
    (void)state;
    run(readline_batch_main, NULL);
}

/* A peer that sends one byte per write, 1 ms apart. */
static int trickle_main(void *arg)
{
    (void)arg;
    int sv[2];
    open_pair(sv, 0);
    coio_stream *s = open_owned(sv[0]);
    static const char msg[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\nbody\nend";
    struct peer w = {.fd = sv[1], .data = msg, .len = sizeof msg - 1, .piece = 1,
                     .gap = 0.001, .close_after = true};
    coio_task *t = coio_spawn(trickle_writer, &w);
    char buf[64];
    CHECK_RC(coio_stream_read_until(s, "\r\n\r\n", 4, buf, sizeof buf), 27);
    CHECK_MEM(buf, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK_RC(coio_stream_readline(s, buf, sizeof buf), 5);
    CHECK_MEM(buf, "body\n");
    CHECK_RC(coio_stream_read_exactly(s, buf, 3, NULL), 3);
    CHECK_MEM(buf, "end");
    CHECK_RC(coio_stream_readline(s, buf, sizeof buf), 0);
    CHECK_RC(coio_await(t), 0);
    CHECK_RC(coio_stream_close(s), 0);
    return 0;
}

static void peer_trickling_one_byte_at_a_time(void **state)
{
    (void)state;
    run(trickle_main, NULL);
}

static int until_eof_main(void *arg)
{
    (void)arg;
    int p[2];
    open_pipe(p);
    coio_stream *s = open_owned(p[0]);
    char buf[64];
    CHECK_RC(write(p[1], "a--b--c", 7), 7);
    close(p[1]);
    CHECK_RC(coio_stream_read_until(s, "--", 2, buf, sizeof buf), 3);
    CHECK_MEM(buf, "a--");
    CHECK_RC(coio_stream_read_until(s, "--", 2, buf, sizeof buf), 3);
    CHECK_MEM(buf, "b--");
    CHECK_RC(coio_stream_read_until(s, "--", 2, buf, sizeof buf), -EPIPE);
    CHECK_RC(coio_stream_buffered(s), 1); /* the partial record stays */
    CHECK_RC(coio_stream_read(s, buf, sizeof buf), 1);
    CHECK_MEM(buf, "c");
    CHECK_RC(coio_stream_read_until(s, "--", 2, buf, sizeof buf), -EPIPE);
    CHECK_RC(coio_stream_read_until(s, "", 0, buf, sizeof buf), -EINVAL);
    CHECK_RC(coio_stream_close(s), 0);
    return 0;
}

static void read_until_at_eof_is_epipe_and_keeps_the_partial_record(void **state)
{
    (void)state;
    run(until_eof_main, NULL);
}

/* ---- the limit ------------------------------------------------------------------------ */

static int limit_main(void *arg)
{
    (void)arg;
    int p[2];
    open_pipe(p);
    coio_stream_opts o = {.flags = COIO_STREAM_OWN_FD, .limit = 8};
    coio_stream *s = coio_stream_open_ex(p[0], &o);
    char buf[64];
    CHECK_RC(write(p[1], "0123456789abcdef\nok\n", 20), 20);
    CHECK_RC(coio_stream_readline(s, buf, sizeof buf), -EMSGSIZE);
    CHECK_RC(coio_stream_buffered(s), 20); /* nothing consumed */
    CHECK_RC(coio_stream_overrun(s), 17);  /* the whole record, its "\n" included */
    CHECK_RC(coio_stream_read_until(s, "\n", 1, buf, sizeof buf), -EMSGSIZE);
    CHECK_RC(coio_stream_buffered(s), 20);
    /* The caller can still take the data... */
    CHECK_RC(coio_stream_read(s, buf, 4), 4);
    CHECK_MEM(buf, "0123");
    /* ...or raise the limit. */
    CHECK_RC(coio_stream_set_limit(s, 64), 0);
    CHECK_RC(coio_stream_readline(s, buf, sizeof buf), 13);
    CHECK_MEM(buf, "456789abcdef\n");
    /* The caller's capacity bounds a line with its separator. */
    CHECK_RC(coio_stream_readline(s, buf, 2), -EMSGSIZE);
    CHECK_RC(coio_stream_overrun(s), 3);
    CHECK_RC(coio_stream_readline(s, buf, 3), 3);
    CHECK_MEM(buf, "ok\n");
    CHECK_RC(coio_stream_overrun(s), 0);

    /* As in asyncio, the limit does not count the separator: exactly `limit` bytes and
     * "\n" is a line, one more byte is not; a two-byte separator likewise. */
    CHECK_RC(coio_stream_set_limit(s, 8), 0);
    CHECK_RC(write(p[1], "01234567\n012345678\nABCDEFGH\r\nABCDEFGHI\r\n", 40), 40);
    CHECK_RC(coio_stream_readline(s, buf, sizeof buf), 9);
    CHECK_MEM(buf, "01234567\n");
    CHECK_RC(coio_stream_readline(s, buf, sizeof buf), -EMSGSIZE);
    CHECK_RC(coio_stream_overrun(s), 10);
    CHECK_RC(coio_stream_skip_until(s, "\n", 1), 10);
    CHECK_RC(coio_stream_read_until(s, "\r\n", 2, buf, sizeof buf), 10);
    CHECK_MEM(buf, "ABCDEFGH\r\n");
    CHECK_RC(coio_stream_read_until(s, "\r\n", 2, buf, sizeof buf), -EMSGSIZE);
    CHECK_RC(coio_stream_overrun(s), 11);
    CHECK_RC(coio_stream_skip_until(s, "\r\n", 2), 11);
    CHECK_RC(coio_stream_buffered(s), 0);
    close(p[1]);
    CHECK_RC(coio_stream_close(s), 0);
    return 0;
}

static void limit_overrun_is_emsgsize_and_keeps_the_data(void **state)
{
    (void)state;
    run(limit_main, NULL);
}

/* A 100 KiB line (over the 64 KiB default limit) from a peer writing 8 KiB pieces. The
 * reader skips it with coio_stream_skip_until and reads the next line normally. */
static int long_line_main(void *arg)
{
    (void)arg;
    int sv[2];
    open_pair(sv, 8192);
    coio_stream *s = open_owned(sv[0]);
    enum { LONG = 100 * 1024 };
    static char data[LONG + 1 + 5];
    memset(data, 'x', LONG);
    memcpy(data + LONG, "\nnext\n", 6);
    struct peer w = {.fd = sv[1], .data = data, .len = sizeof data, .piece = 8192,
                     .close_after = true};
    coio_task *t = coio_spawn(trickle_writer, &w);
    static char buf[LONG + 64];
    CHECK_RC(coio_stream_readline(s, buf, sizeof buf), -EMSGSIZE);
    CHECK(coio_stream_buffered(s) >= COIO_STREAM_LIMIT_DEFAULT);
    CHECK(coio_stream_overrun(s) == coio_stream_buffered(s)); /* no "\n" seen yet */
    CHECK_RC(coio_stream_skip_until(s, "\n", 1), LONG + 1);
    CHECK_RC(coio_stream_readline(s, buf, sizeof buf), 5);
    CHECK_MEM(buf, "next\n");
    CHECK_RC(coio_stream_readline(s, buf, sizeof buf), 0);
    CHECK_RC(coio_await(t), 0);
    CHECK_RC(coio_stream_close(s), 0);
    return 0;
}

static void line_longer_than_the_default_limit(void **state)
{
    (void)state;
    run(long_line_main, NULL);
}

/* ---- writing and backpressure -------------------------------------------------------- */

struct bp {
    int sv[2];
    coio_stream *s;
    struct peer peer;
    double drain_start, drain_end;
    size_t buffered_after_drain;
    int drain_rc;
    int flag;
};

static int set_flag(void *arg)
{
    ((struct bp *)arg)->flag = 1;
    return 0;
}

static int backpressure_main(void *arg)
{
    struct bp *b = arg;
    open_pair(b->sv, 4096);
    b->s = open_owned(b->sv[0]);
    enum { N = 256 * 1024 };
    static char data[N];
    for (size_t i = 0; i < N; i++)
        data[i] = pat(i);
    /* write never suspends: everything the kernel does not take is queued. */
    coio_task *f = coio_spawn(set_flag, b);
    CHECK_RC(coio_stream_write(b->s, data, N), N);
    CHECK_RC(b->flag, 0);
    CHECK(coio_stream_write_buffered(b->s) > COIO_STREAM_HIGH_WATER_DEFAULT);
    /* The peer starts reading after 50 ms, 4 KiB at a time. */
    b->peer = (struct peer){.fd = b->sv[1], .delay = 0.05, .piece = 4096};
    coio_task *r = coio_spawn(pattern_reader, &b->peer);
    b->drain_start = coio_now();
    b->drain_rc = coio_stream_drain(b->s);
    b->drain_end = coio_now();
    b->buffered_after_drain = coio_stream_write_buffered(b->s);
    CHECK_RC(coio_await(f), 0);
    /* Below the high mark, drain returns at once. */
    CHECK_RC(coio_stream_drain(b->s), 0);
    CHECK_RC(coio_stream_flush(b->s), 0);
    CHECK_RC(coio_stream_write_buffered(b->s), 0);
    CHECK_RC(coio_stream_close(b->s), 0); /* the peer sees EOF */
    CHECK_RC(coio_await(r), 0);
    coio_close(b->sv[1]);
    return 0;
}

static void drain_suspends_until_the_peer_reads_down_to_the_low_mark(void **state)
{
    (void)state;
    struct bp b = {0};
    run(backpressure_main, &b);
    coio_assert_rc(b.drain_rc, 0);
    assert_true(b.drain_end - b.drain_start >= 0.04);
    assert_true(b.peer.first_read_at > 0 && b.peer.first_read_at <= b.drain_end);
    assert_true(b.buffered_after_drain <= COIO_STREAM_LOW_WATER_DEFAULT);
    assert_int_equal(b.peer.got, 256 * 1024);
    assert_true(b.peer.pattern_ok);
    coio_assert_rc(b.peer.rc, 0);
}

static int no_wait_main(void *arg)
{
    struct bp *b = arg;
    open_pair(b->sv, 4096);
    b->s = open_owned(b->sv[0]);
    static char data[32 * 1024];
    coio_task *f = coio_spawn(set_flag, b);
    CHECK_RC(coio_stream_write(b->s, data, sizeof data), sizeof data);
    CHECK(coio_stream_write_buffered(b->s) > 0);
    CHECK_RC(coio_stream_drain(b->s), 0); /* 32 KiB <= 64 KiB: no suspension */
    CHECK_RC(b->flag, 0);
    CHECK_RC(coio_await(f), 0);
    coio_stream_abort(b->s);
    coio_close(b->sv[1]);
    return 0;
}

static void drain_below_the_high_mark_does_not_suspend(void **state)
{
    (void)state;
    struct bp b = {0};
    run(no_wait_main, &b);
}

/* Bytes waiting on fd now (0 when none), without blocking. */
static long pending(int fd)
{
    char buf[256];
    ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT | MSG_PEEK);
    return r < 0 && errno == EAGAIN ? 0 : (long)r;
}

/* FLUSH_ON_READ: answers to requests already buffered are held; they go out in one
 * write when the reader needs the fd, or on flush / close. */
static int hold_main(void *arg)
{
    (void)arg;
    int sv[2];
    open_pair(sv, 0);
    coio_stream_opts o = {.flags = COIO_STREAM_OWN_FD | COIO_STREAM_FLUSH_ON_READ};
    coio_stream *s = coio_stream_open_ex(sv[0], &o);
    char buf[64];
    CHECK_RC(write(sv[1], "a\nb\n", 4), 4);
    CHECK_RC(coio_stream_readline(s, buf, sizeof buf), 2); /* reads both lines */
    CHECK_RC(coio_stream_write(s, "A", 1), 1);
    CHECK_RC(pending(sv[1]), 0);                           /* held */
    CHECK_RC(coio_stream_drain(s), 0);
    CHECK_RC(pending(sv[1]), 0);                           /* drain does not send */
    CHECK_RC(coio_stream_readline(s, buf, sizeof buf), 2); /* "b\n" was buffered */
    CHECK_RC(coio_stream_write(s, "B", 1), 1);
    CHECK_RC(coio_stream_write_buffered(s), 2);
    CHECK_RC(pending(sv[1]), 0);
    CHECK_RC(write(sv[1], "c\n", 2), 2);
    CHECK_RC(coio_stream_readline(s, buf, sizeof buf), 2); /* reads the fd: sends first */
    CHECK_RC(coio_read(sv[1], buf, sizeof buf), 2);  /* (io_uring: by the flusher task) */
    CHECK_MEM(buf, "AB");
    CHECK_RC(coio_stream_write(s, "C", 1), 1);
    CHECK_RC(coio_stream_flush(s), 0);
    CHECK_RC(read(sv[1], buf, sizeof buf), 1);
    CHECK_RC(coio_stream_write(s, "D", 1), 1);
    CHECK_RC(coio_stream_close(s), 0);                     /* flushes */
    CHECK_RC(read(sv[1], buf, sizeof buf), 1);
    CHECK_MEM(buf, "D");
    CHECK_RC(read(sv[1], buf, sizeof buf), 0);
    close(sv[1]);
    return 0;
}

static void flush_on_read_holds_writes_until_the_reader_needs_the_fd(void **state)
{
    (void)state;
    run(hold_main, NULL);
}

static int line_reader(void *arg)
{
    char buf[64];
    return (int)coio_stream_readline(arg, buf, sizeof buf);
}

/* A write from another task while the reader already waits is sent at once: no read
 * is coming that would send it. */
static int hold_reader_waits_main(void *arg)
{
    (void)arg;
    int sv[2];
    open_pair(sv, 0);
    coio_stream_opts o = {.flags = COIO_STREAM_OWN_FD | COIO_STREAM_FLUSH_ON_READ};
    coio_stream *s = coio_stream_open_ex(sv[0], &o);
    coio_task *r = coio_spawn(line_reader, s);
    coio_sleep(0.01); /* r waits in readline */
    CHECK_RC(coio_stream_write(s, "push", 4), 4);
    char buf[16];
    coio_scope sc;
    coio_timeout_begin(&sc, 5.0);
    CHECK_RC(coio_read(sv[1], buf, sizeof buf), 4);
    coio_scope_end(&sc);
    CHECK_RC(write(sv[1], "ok\n", 3), 3);
    CHECK_RC(coio_await(r), 3);
    CHECK_RC(coio_stream_close(s), 0);
    close(sv[1]);
    return 0;
}

static void flush_on_read_does_not_hold_while_a_reader_waits(void **state)
{
    (void)state;
    run(hold_reader_waits_main, NULL);
}

/* FLUSH_ON_READ past the high mark: writes go out without a read, in order, and drain
 * applies backpressure as usual. */
static int hold_high_main(void *arg)
{
    struct bp *b = arg;
    open_pair(b->sv, 4096);
    coio_stream_opts o = {.flags = COIO_STREAM_OWN_FD | COIO_STREAM_FLUSH_ON_READ,
                          .high_water = 3000, .low_water = 1000};
    b->s = coio_stream_open_ex(b->sv[0], &o);
    CHECK_RC(coio_stream_write(b->s, "x", 0), 0);
    b->peer = (struct peer){.fd = b->sv[1], .piece = 1500};
    coio_task *r = coio_spawn(pattern_reader, &b->peer);
    size_t off = 0;
    char chunk[1000];
    for (int i = 0; i < 500; i++) {
        size_t n = (size_t)(i * 37 % 999) + 1;
        for (size_t k = 0; k < n; k++)
            chunk[k] = pat(off + k);
        CHECK_RC(coio_stream_write(b->s, chunk, n), n);
        off += n;
        CHECK(coio_stream_write_buffered(b->s) <= 3000 + 1000);
        CHECK_RC(coio_stream_drain(b->s), 0);
    }
    b->peer.len = off;
    CHECK_RC(coio_stream_close(b->s), 0);
    CHECK_RC(coio_await(r), 0);
    CHECK_RC(b->peer.got, off);
    CHECK(b->peer.pattern_ok);
    coio_close(b->sv[1]);
    return 0;
}

static void flush_on_read_sends_past_the_high_mark_in_order(void **state)
{
    (void)state;
    struct bp b = {0};
    run(hold_high_main, &b);
}

/* Custom marks; many writes of odd sizes wrap the ring around many times. */
static int ring_main(void *arg)
{
    struct bp *b = arg;
    open_pair(b->sv, 4096);
    coio_stream_opts o = {.flags = COIO_STREAM_OWN_FD, .high_water = 3000, .low_water = 1000};
    b->s = coio_stream_open_ex(b->sv[0], &o);
    b->peer = (struct peer){.fd = b->sv[1], .piece = 1500};
    coio_task *r = coio_spawn(pattern_reader, &b->peer);
    size_t off = 0;
    char chunk[5000];
    for (int i = 0; i < 2000; i++) {
        size_t n = (size_t)(i * 37 % 4999) + 1;
        for (size_t k = 0; k < n; k++)
            chunk[k] = pat(off + k);
        if (i % 3 == 0) { /* also exercise writev */
            struct iovec iov[3] = {{chunk, n / 3}, {chunk + n / 3, 0}, {chunk + n / 3, n - n / 3}};
            CHECK_RC(coio_stream_writev(b->s, iov, 3), n);
        } else {
            CHECK_RC(coio_stream_write(b->s, chunk, n), n);
        }
        off += n;
        CHECK_RC(coio_stream_drain(b->s), 0);
        CHECK(coio_stream_write_buffered(b->s) <= 3000 + 5000);
    }
    b->peer.len = off;
    CHECK_RC(coio_stream_close(b->s), 0);
    CHECK_RC(coio_await(r), 0);
    coio_close(b->sv[1]);
    return 0;
}

static void many_writes_with_drain_arrive_in_order(void **state)
{
    (void)state;
    struct bp b = {0};
    run(ring_main, &b);
    assert_true(b.peer.pattern_ok);
    assert_int_equal(b.peer.got, b.peer.len);
}

static int open_bad_main(void *arg)
{
    (void)arg;
    errno = 0;
    CHECK(coio_stream_open(-1, 0) == NULL);
    CHECK_RC(errno, EBADF);
    int p[2];
    open_pipe(p);
    coio_stream_opts o = {.high_water = 10, .low_water = 20};
    errno = 0;
    CHECK(coio_stream_open_ex(p[0], &o) == NULL);
    CHECK_RC(errno, EINVAL);
    close(p[0]);
    close(p[1]);
    CHECK_RC(coio_stream_read(NULL, NULL, 0), -EINVAL);
    CHECK_RC(coio_stream_close(NULL), -EINVAL);
    CHECK_RC(coio_stream_abort(NULL), -EINVAL);
    return 0;
}

static void open_rejects_bad_arguments(void **state)
{
    (void)state;
    run(open_bad_main, NULL);
}

static int write_error_main(void *arg)
{
    (void)arg;
    int sv[2];
    open_pair(sv, 0);
    coio_stream *s = open_owned(sv[0]);
    close(sv[1]);
    CHECK_RC(coio_stream_write(s, "x", 1), -EPIPE); /* MSG_NOSIGNAL: no SIGPIPE */
    CHECK_RC(coio_stream_write(s, "x", 1), -EPIPE); /* sticky */
    CHECK_RC(coio_stream_drain(s), -EPIPE);
    CHECK_RC(coio_stream_close(s), -EPIPE);
    return 0;
}

static void write_to_a_closed_peer_is_a_sticky_epipe(void **state)
{
    (void)state;
    run(write_error_main, NULL);
}

/* ---- half-close ------------------------------------------------------------------------ */

static int server_task(void *arg)
{
    coio_stream *s = arg;
    char buf[64];
    ssize_t n = coio_stream_read_all(s, buf, sizeof buf); /* until the client's EOF */
    CHECK_RC(n, 4);
    CHECK_MEM(buf, "ping");
    CHECK_RC(coio_stream_write(s, "pong", 4), 4);
    CHECK_RC(coio_stream_close(s), 0);
    return 0;
}

static int half_close_main(void *arg)
{
    (void)arg;
    int sv[2];
    open_pair(sv, 0);
    coio_stream *c = open_owned(sv[0]);
    coio_task *t = coio_spawn(server_task, open_owned(sv[1]));
    char buf[64];
    CHECK_RC(coio_stream_write(c, "ping", 4), 4);
    CHECK_RC(coio_stream_write_eof(c), 0);
    CHECK_RC(coio_stream_write(c, "more", 4), -EPIPE);
    CHECK_RC(coio_stream_read_all(c, buf, sizeof buf), 4); /* reading goes on */
    CHECK_MEM(buf, "pong");
    CHECK_RC(coio_await(t), 0);
    CHECK_RC(coio_stream_close(c), 0);
    return 0;
}

static void write_eof_half_closes_a_socket_and_reading_goes_on(void **state)
{
    (void)state;
    run(half_close_main, NULL);
}

static int pipe_eof_main(void *arg)
{
    (void)arg;
    int p[2];
    open_pipe(p);
    coio_stream *r = open_owned(p[0]);
    coio_stream *w = open_owned(p[1]);
    coio_stream *borrowed = coio_stream_open(p[1], 0);
    CHECK_RC(coio_stream_write_eof(borrowed), -ENOTSOCK);
    coio_stream_abort(borrowed); /* does not close p[1] */
    char buf[16];
    CHECK_RC(coio_stream_write(w, "bye", 3), 3);
    CHECK_RC(coio_stream_write_eof(w), 0);
    CHECK_RC(coio_stream_fd(w), -1);
    CHECK_RC(coio_stream_read_all(r, buf, sizeof buf), 3);
    CHECK_MEM(buf, "bye");
    CHECK_RC(coio_stream_close(w), 0);
    CHECK_RC(coio_stream_close(r), 0);
    return 0;
}

static void write_eof_on_an_owned_pipe_closes_it(void **state)
{
    (void)state;
    run(pipe_eof_main, NULL);
}

/* ---- cancellation, deadlines, close in the middle ------------------------------------- */

struct mid {
    coio_stream *s;
    char buf[64];
    ssize_t rc;
    size_t got;
};

static int readline_task(void *arg)
{
    struct mid *m = arg;
    m->rc = coio_stream_readline(m->s, m->buf, sizeof m->buf);
    return m->rc < 0 ? (int)m->rc : 0;
}

static int cancel_read_main(void *arg)
{
    (void)arg;
    int fds0 = coio_test_count_fds();
    int p[2];
    open_pipe(p);
    struct mid m = {.s = open_owned(p[0])};
    coio_task *t = coio_spawn(readline_task, &m);
    CHECK_RC(write(p[1], "par", 3), 3);
    coio_sleep(0.01);
    CHECK_RC(coio_cancel(t), 0);
    CHECK_RC(coio_await(t), -ECANCELED);
    CHECK_RC(m.rc, -ECANCELED);
    CHECK_RC(coio_stream_buffered(m.s), 3); /* not lost */
    CHECK_RC(write(p[1], "tial\n", 5), 5);
    char buf[64];
    CHECK_RC(coio_stream_readline(m.s, buf, sizeof buf), 8);
    CHECK_MEM(buf, "partial\n");
    /* A deadline in the middle of read_exactly: nothing consumed either. */
    CHECK_RC(write(p[1], "abc", 3), 3);
    coio_scope sc;
    size_t got = 9;
    CHECK_RC(coio_timeout_begin(&sc, 0.02), 0);
    CHECK_RC(coio_stream_read_exactly(m.s, buf, 6, &got), -ETIMEDOUT);
    CHECK_RC(coio_scope_end(&sc), -ETIMEDOUT);
    CHECK_RC(got, 0);
    CHECK_RC(write(p[1], "def", 3), 3);
    CHECK_RC(coio_stream_read_exactly(m.s, buf, 6, &got), 6);
    CHECK_MEM(buf, "abcdef");
    CHECK_RC(coio_stream_close(m.s), 0);
    close(p[1]);
    CHECK_RC(coio_test_count_fds(), fds0);
    return 0;
}

static void cancelled_or_timed_out_read_loses_no_buffered_data(void **state)
{
    (void)state;
    run(cancel_read_main, NULL);
}

static int drain_task(void *arg)
{
    struct mid *m = arg;
    m->rc = coio_stream_drain(m->s);
    return 0;
}

static int cancel_drain_main(void *arg)
{
    (void)arg;
    int fds0 = coio_test_count_fds();
    int sv[2];
    open_pair(sv, 4096);
    struct mid m = {.s = open_owned(sv[0])};
    static char data[200 * 1024];
    CHECK_RC(coio_stream_write(m.s, data, sizeof data), sizeof data);
    coio_task *t = coio_spawn(drain_task, &m);
    coio_sleep(0.02);
    size_t queued = coio_stream_write_buffered(m.s);
    CHECK(queued > COIO_STREAM_HIGH_WATER_DEFAULT);
    CHECK_RC(coio_cancel(t), 0);
    CHECK_RC(coio_await(t), 0);
    CHECK_RC(m.rc, -ECANCELED);
    CHECK_RC(coio_stream_write_buffered(m.s), queued); /* still queued */
    /* close under a deadline while the peer never reads: the data is discarded. */
    coio_scope sc;
    CHECK_RC(coio_timeout_begin(&sc, 0.02), 0);
    CHECK_RC(coio_stream_close(m.s), -ETIMEDOUT);
    coio_scope_end(&sc);
    close(sv[1]);
    CHECK_RC(coio_test_count_fds(), fds0);
    return 0;
}

static void cancelled_drain_keeps_data_and_close_under_deadline_discards_it(void **state)
{
    (void)state;
    run(cancel_drain_main, NULL);
}

static int close_mid_main(void *arg)
{
    (void)arg;
    int fds0 = coio_test_count_fds();
    int sv[2];
    open_pair(sv, 4096);
    struct mid r = {.s = open_owned(sv[0])}, d = {.s = r.s};
    static char data[200 * 1024];
    CHECK_RC(coio_stream_write(r.s, data, sizeof data), sizeof data);
    coio_task *tr = coio_spawn(readline_task, &r);
    coio_task *td = coio_spawn(drain_task, &d);
    coio_sleep(0.01);
    /* A second reader is refused while the first waits. */
    char buf[8];
    CHECK_RC(coio_stream_read(r.s, buf, sizeof buf), -EBUSY);
    CHECK_RC(coio_stream_abort(r.s), 0);
    CHECK_RC(coio_await(tr), -EBADF);
    CHECK_RC(r.rc, -EBADF);
    CHECK_RC(coio_await(td), 0);
    CHECK_RC(d.rc, -EBADF);
    close(sv[1]);
    CHECK_RC(coio_test_count_fds(), fds0);
    return 0;
}

static void abort_wakes_blocked_reader_and_drainer_with_ebadf(void **state)
{
    (void)state;
    run(close_mid_main, NULL);
}

static int flush_on_close_main(void *arg)
{
    struct bp *b = arg;
    open_pair(b->sv, 4096);
    b->s = open_owned(b->sv[0]);
    enum { N = 300 * 1024 };
    static char data[N];
    for (size_t i = 0; i < N; i++)
        data[i] = pat(i);
    b->peer = (struct peer){.fd = b->sv[1], .piece = 3000};
    coio_task *r = coio_spawn(pattern_reader, &b->peer);
    CHECK_RC(coio_stream_write(b->s, data, N), N);
    CHECK_RC(coio_stream_close(b->s), 0);
    CHECK_RC(coio_await(r), 0);
    coio_close(b->sv[1]);
    return 0;
}

static void close_flushes_queued_data_before_closing(void **state)
{
    (void)state;
    struct bp b = {0};
    run(flush_on_close_main, &b);
    assert_int_equal(b.peer.got, 300 * 1024);
    assert_true(b.peer.pattern_ok);
}

/* The loop ends (main returns) while the flusher still waits on a peer that never
 * reads: the flusher is cancelled like any task, and the stream can be aborted after. */
static int loop_end_main(void *arg)
{
    struct bp *b = arg;
    open_pair(b->sv, 4096);
    b->s = open_owned(b->sv[0]);
    static char data[100 * 1024];
    CHECK_RC(coio_stream_write(b->s, data, sizeof data), sizeof data);
    coio_sleep(0.01);
    return 0;
}

static void stream_left_open_at_loop_end_can_be_aborted_after(void **state)
{
    (void)state;
    struct bp b = {0};
    int fds0 = coio_test_count_fds();
    run(loop_end_main, &b);
    coio_assert_rc(coio_stream_abort(b.s), 0);
    close(b.sv[1]);
    assert_int_equal(coio_test_count_fds(), fds0);
}

/* Outside a task: suspending calls are -EPERM, write still works. */
static void outside_a_task(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    coio_stream *s = coio_stream_open(p[1], COIO_STREAM_OWN_FD);
    assert_non_null(s);
    coio_assert_rc(coio_stream_write(s, "abc", 3), 3);
    coio_assert_rc(coio_stream_drain(s), -EPERM);
    coio_assert_rc(coio_stream_close(s), 0); /* nothing queued */
    coio_stream *r = coio_stream_open(p[0], COIO_STREAM_OWN_FD);
    char buf[4];
    coio_assert_rc(coio_stream_read(r, buf, sizeof buf), -EPERM);
    coio_assert_rc(coio_stream_abort(r), 0);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN); /* pipes have no MSG_NOSIGNAL */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(read_returns_buffered_data_then_zero_at_eof),
        cmocka_unit_test(big_reads_deliver_everything_in_order),
        cmocka_unit_test(read_exactly_short_at_eof_is_epipe_with_partial_data),
        cmocka_unit_test(read_exactly_beyond_the_limit_from_a_trickling_peer),
        cmocka_unit_test(read_all_reads_to_eof_and_keeps_data_over_the_cap),
        cmocka_unit_test(readline_returns_lines_then_the_unterminated_rest_then_zero),
        cmocka_unit_test(readline_reads_the_kernel_buffer_in_one_call),
        cmocka_unit_test(peer_trickling_one_byte_at_a_time),
        cmocka_unit_test(read_until_at_eof_is_epipe_and_keeps_the_partial_record),
        cmocka_unit_test(limit_overrun_is_emsgsize_and_keeps_the_data),
        cmocka_unit_test(line_longer_than_the_default_limit),
        cmocka_unit_test(drain_suspends_until_the_peer_reads_down_to_the_low_mark),
        cmocka_unit_test(drain_below_the_high_mark_does_not_suspend),
        cmocka_unit_test(many_writes_with_drain_arrive_in_order),
        cmocka_unit_test(flush_on_read_holds_writes_until_the_reader_needs_the_fd),
        cmocka_unit_test(flush_on_read_sends_past_the_high_mark_in_order),
        cmocka_unit_test(flush_on_read_does_not_hold_while_a_reader_waits),
        cmocka_unit_test(open_rejects_bad_arguments),
        cmocka_unit_test(write_to_a_closed_peer_is_a_sticky_epipe),
        cmocka_unit_test(write_eof_half_closes_a_socket_and_reading_goes_on),
        cmocka_unit_test(write_eof_on_an_owned_pipe_closes_it),
        cmocka_unit_test(cancelled_or_timed_out_read_loses_no_buffered_data),
        cmocka_unit_test(cancelled_drain_keeps_data_and_close_under_deadline_discards_it),
        cmocka_unit_test(abort_wakes_blocked_reader_and_drainer_with_ebadf),
        cmocka_unit_test(close_flushes_queued_data_before_closing),
        cmocka_unit_test(stream_left_open_at_loop_end_can_be_aborted_after),
        cmocka_unit_test(outside_a_task),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    int rc = cmocka_run_group_tests(tests, coio_test_group_setup, coio_test_group_teardown);
    /* cmocka reports a failed group teardown (the fd-leak check) without failing. */
    return rc ? rc : coio_test_count_fds() != coio_test_fds_at_start;
}
