/* coio-test: io */
/* Low-level fd I/O on non-blocking pipes, eventfds and loopback sockets: coio_read,
 * coio_write, coio_write_all, coio_wait_fd, coio_close; the fairness budget; closing a
 * stream under a blocked task. Runs once per backend (COIO_BACKEND). */
#define _GNU_SOURCE
#include "coio_test.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- helpers ----------------------------------------------------------------------- */

static void open_pipe(int p[2])
{
    assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
}

/* ---- shared state ------------------------------------------------------------------ */

struct io_state {
    int p[2];
    ssize_t read_rc, write_rc, rc[4];
    char buf[64];
    double read_done, write_at, t_block, t_done, drain_at, elapsed;
    size_t filled, drained;
    int done;
};

static int reader_fn(void *arg)
{
    struct io_state *s = arg;
    s->read_rc = coio_read(s->p[0], s->buf, sizeof s->buf);
    s->read_done = coio_now();
    s->done = 1;
    return s->read_rc < 0 ? (int)s->read_rc : 0;
}

static int late_writer_fn(void *arg)
{
    struct io_state *s = arg;
    coio_sleep(0.01);
    s->write_at = coio_now();
    s->write_rc = coio_write(s->p[1], "hello", 5);
    return 0;
}

static void close_pipe(struct io_state *s)
{
    for (int i = 0; i < 2; i++)
        if (s->p[i] >= 0)
            coio_close(s->p[i]);
    s->p[0] = s->p[1] = -1;
}

/* ---- reading ----------------------------------------------------------------------- */

static int read_blocks_main(void *arg)
{
    struct io_state *s = arg;
    open_pipe(s->p);
    int rc = coio_gather(coio_spawn(reader_fn, s), coio_spawn(late_writer_fn, s));
    close_pipe(s);
    return rc;
}

static void read_blocks_until_another_task_writes(void **state)
{
    (void)state;
    require_backend();
    struct io_state s = {0};
    coio_assert_rc(coio_run(read_blocks_main, &s), 0);
    coio_assert_rc(s.write_rc, 5);
    coio_assert_rc(s.read_rc, 5);
    assert_memory_equal(s.buf, "hello", 5);
    assert_true(s.read_done >= s.write_at);
}

static int eof_main(void *arg)
{
    struct io_state *s = arg;
    open_pipe(s->p);
    coio_close(s->p[1]);
    s->p[1] = -1;
    s->read_rc = coio_read(s->p[0], s->buf, sizeof s->buf);
    close_pipe(s);
    return 0;
}

static void read_returns_zero_at_eof(void **state)
{
    (void)state;
    require_backend();
    struct io_state s = {.read_rc = -1};
    coio_assert_rc(coio_run(eof_main, &s), 0);
    coio_assert_rc(s.read_rc, 0);
}

static int late_closer_fn(void *arg)
{
    struct io_state *s = arg;
    coio_sleep(0.01);
    s->write_at = coio_now();
    s->write_rc = coio_close(s->p[1]);
    s->p[1] = -1;
    return 0;
}

static int eof_later_main(void *arg)
{
    struct io_state *s = arg;
    open_pipe(s->p);
    int rc = coio_gather(coio_spawn(reader_fn, s), coio_spawn(late_closer_fn, s));
    close_pipe(s);
    return rc;
}

static void blocked_read_returns_zero_when_write_end_closes(void **state)
{
    (void)state;
    require_backend();
    struct io_state s = {.read_rc = -1};
    coio_assert_rc(coio_run(eof_later_main, &s), 0);
    coio_assert_rc(s.write_rc, 0);
    coio_assert_rc(s.read_rc, 0);
    assert_true(s.read_done >= s.write_at);
}

static int read_timeout_main(void *arg)
{
    struct io_state *s = arg;
    open_pipe(s->p);
    coio_scope sc;
    double t0 = coio_now();
    s->rc[0] = coio_timeout_begin(&sc, 0.05);
    s->read_rc = coio_read(s->p[0], s->buf, sizeof s->buf);
    s->elapsed = coio_now() - t0;
    s->rc[1] = coio_scope_end(&sc);
    close_pipe(s);
    return 0;
}

static void read_in_timeout_scope_returns_etimedout(void **state)
{
    (void)state;
    require_backend();
    struct io_state s = {0};
    coio_assert_rc(coio_run(read_timeout_main, &s), 0);
    coio_assert_rc(s.rc[0], 0);
    coio_assert_rc(s.read_rc, -ETIMEDOUT);
    assert_elapsed(s.elapsed, 0.04, 0.5);
    coio_assert_rc(s.rc[1], -ETIMEDOUT);
}

static int cancel_read_main(void *arg)
{
    struct io_state *s = arg;
    open_pipe(s->p);
    coio_task *t = coio_spawn(reader_fn, s);
    coio_sleep(0.01);
    double t0 = coio_now();
    s->rc[0] = coio_cancel(t);
    s->rc[1] = coio_await(t);
    s->elapsed = coio_now() - t0;
    close_pipe(s);
    return 0;
}

static void cancel_blocked_read_returns_ecanceled_without_fd_leak(void **state)
{
    (void)state;
    require_backend();
    int fds_before = coio_test_count_fds();
    struct io_state s = {0};
    coio_assert_rc(coio_run(cancel_read_main, &s), 0);
    coio_assert_rc(s.rc[0], 0);
    coio_assert_rc(s.read_rc, -ECANCELED);
    coio_assert_rc(s.rc[1], -ECANCELED);
    assert_elapsed(s.elapsed, 0.0, 0.5);
    assert_int_equal(coio_test_count_fds(), fds_before);
}

static int reuse_after_cancel_main(void *arg)
{
    struct io_state *s = arg;
    open_pipe(s->p);
    coio_task *t = coio_spawn(reader_fn, s);
    coio_sleep(0.01);
    coio_cancel(t);
    s->rc[0] = coio_await(t);
    /* the fd works for the next reader: no stale wait swallows its wakeup */
    s->done = 0;
    int rc = coio_gather(coio_spawn(reader_fn, s), coio_spawn(late_writer_fn, s));
    close_pipe(s);
    return rc;
}

static void fd_works_again_after_cancelled_read(void **state)
{
    (void)state;
    require_backend();
    struct io_state s = {0};
    coio_assert_rc(coio_run(reuse_after_cancel_main, &s), 0);
    coio_assert_rc(s.rc[0], -ECANCELED);
    coio_assert_rc(s.write_rc, 5);
    coio_assert_rc(s.read_rc, 5);
    assert_memory_equal(s.buf, "hello", 5);
}

static int close_wakes_main(void *arg)
{
    struct io_state *s = arg;
    open_pipe(s->p);
    coio_task *t = coio_spawn(reader_fn, s);
    coio_sleep(0.01);
    s->rc[0] = coio_close(s->p[0]);
    s->p[0] = -1;
    s->rc[1] = coio_await(t);
    close_pipe(s);
    return 0;
}

static void close_wakes_blocked_reader_with_ebadf(void **state)
{
    (void)state;
    require_backend();
    struct io_state s = {0};
    coio_assert_rc(coio_run(close_wakes_main, &s), 0);
    coio_assert_rc(s.rc[0], 0);
    coio_assert_rc(s.read_rc, -EBADF);
    coio_assert_rc(s.rc[1], -EBADF);
}

struct two_readers {
    int p[2];
    ssize_t rc[2];
    char got[2];
    ssize_t w[2];
};

struct reader_arg {
    struct two_readers *s;
    int i;
};

static int one_byte_reader(void *arg)
{
    struct reader_arg *a = arg;
    a->s->rc[a->i] = coio_read(a->s->p[0], &a->s->got[a->i], 1);
    return 0;
}

static int two_byte_writer(void *arg)
{
    struct two_readers *s = arg;
    coio_sleep(0.01);
    s->w[0] = coio_write(s->p[1], "a", 1);
    coio_sleep(0.01);
    s->w[1] = coio_write(s->p[1], "b", 1);
    return 0;
}

static int two_readers_main(void *arg)
{
    struct two_readers *s = arg;
    open_pipe(s->p);
    struct reader_arg a0 = {s, 0}, a1 = {s, 1};
    int rc = coio_gather(coio_spawn(one_byte_reader, &a0), coio_spawn(one_byte_reader, &a1),
                         coio_spawn(two_byte_writer, s));
    coio_close(s->p[0]);
    coio_close(s->p[1]);
    return rc;
}

static void two_readers_on_one_pipe_both_complete(void **state)
{
    (void)state;
    require_backend();
    struct two_readers s = {0};
    coio_assert_rc(coio_run(two_readers_main, &s), 0);
    coio_assert_rc(s.w[0], 1);
    coio_assert_rc(s.w[1], 1);
    coio_assert_rc(s.rc[0], 1);
    coio_assert_rc(s.rc[1], 1);
    assert_true((s.got[0] == 'a' && s.got[1] == 'b') || (s.got[0] == 'b' && s.got[1] == 'a'));
}

/* ---- writing ----------------------------------------------------------------------- */

static size_t fill_pipe(int fd)
{
    static const char chunk[4096];
    size_t total = 0;
    for (;;) {
        ssize_t n = write(fd, chunk, sizeof chunk);
        if (n < 0)
            break; /* EAGAIN: full */
        total += (size_t)n;
    }
    return total;
}

static size_t drain_pipe(int fd)
{
    char buf[4096];
    size_t total = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        total += (size_t)n;
    return total;
}

static int blocked_writer_fn(void *arg)
{
    struct io_state *s = arg;
    static const char chunk[4096];
    s->filled = fill_pipe(s->p[1]);
    s->t_block = coio_now();
    s->write_rc = coio_write(s->p[1], chunk, sizeof chunk);
    s->t_done = coio_now();
    return s->write_rc < 0 ? (int)s->write_rc : 0;
}

static int late_drainer_fn(void *arg)
{
    struct io_state *s = arg;
    coio_sleep(0.02);
    s->drain_at = coio_now();
    s->drained = drain_pipe(s->p[0]);
    return 0;
}

static int write_full_main(void *arg)
{
    struct io_state *s = arg;
    open_pipe(s->p);
    int rc = coio_gather(coio_spawn(blocked_writer_fn, s), coio_spawn(late_drainer_fn, s));
    s->drained += drain_pipe(s->p[0]);
    close_pipe(s);
    return rc;
}

static void write_to_full_pipe_waits_until_reader_drains(void **state)
{
    (void)state;
    require_backend();
    struct io_state s = {0};
    coio_assert_rc(coio_run(write_full_main, &s), 0);
    assert_true(s.filled > 0);
    coio_assert_rc(s.write_rc, 4096);
    assert_true(s.t_done >= s.drain_at);
    assert_elapsed(s.t_done - s.t_block, 0.015, 1.0);
    assert_int_equal(s.drained, s.filled + 4096);
}

static int cancel_write_main(void *arg)
{
    struct io_state *s = arg;
    open_pipe(s->p);
    coio_task *t = coio_spawn(blocked_writer_fn, s);
    coio_sleep(0.01);
    coio_cancel(t);
    s->rc[0] = coio_await(t);
    s->drained = drain_pipe(s->p[0]);
    close_pipe(s);
    return 0;
}

static void cancel_blocked_write_returns_ecanceled(void **state)
{
    (void)state;
    require_backend();
    struct io_state s = {0};
    coio_assert_rc(coio_run(cancel_write_main, &s), 0);
    coio_assert_rc(s.write_rc, -ECANCELED);
    coio_assert_rc(s.rc[0], -ECANCELED);
    assert_int_equal(s.drained, s.filled); /* nothing of the cancelled write got in */
}

#define BIG (1024 * 1024)

struct big_state {
    int p[2];
    unsigned char *src, *dst;
    ssize_t write_rc;
    size_t got;
    ssize_t last_read;
};

static int big_writer(void *arg)
{
    struct big_state *s = arg;
    s->write_rc = coio_write_all(s->p[1], s->src, BIG);
    coio_close(s->p[1]); /* EOF for the reader */
    s->p[1] = -1;
    return 0;
}

static int big_reader(void *arg)
{
    struct big_state *s = arg;
    for (;;) {
        size_t room = BIG + 1 - s->got; /* one spare byte: would catch extra data */
        ssize_t n = coio_read(s->p[0], s->dst + s->got, room < 65536 ? room : 65536);
        s->last_read = n;
        if (n <= 0)
            return (int)n;
        s->got += (size_t)n;
    }
}

static int write_all_main(void *arg)
{
    struct big_state *s = arg;
    open_pipe(s->p);
    int rc = coio_gather(coio_spawn(big_writer, s), coio_spawn(big_reader, s));
    coio_close(s->p[0]);
    return rc;
}

static void write_all_sends_1mib_to_concurrent_reader(void **state)
{
    (void)state;
    require_backend();
    struct big_state s = {0};
    s.src = malloc(BIG);
    s.dst = malloc(BIG + 1);
    assert_non_null(s.src);
    assert_non_null(s.dst);
    for (size_t i = 0; i < BIG; i++)
        s.src[i] = (unsigned char)(i * 7 + (i >> 12));
    int rc = coio_run(write_all_main, &s);
    int same = s.got == BIG && memcmp(s.src, s.dst, BIG) == 0;
    free(s.src);
    free(s.dst);
    coio_assert_rc(rc, 0);
    coio_assert_rc(s.write_rc, BIG);
    coio_assert_rc(s.last_read, 0);
    assert_int_equal(s.got, BIG);
    assert_true(same);
}

/* ---- coio_wait_fd ------------------------------------------------------------------ */

static int wait_writable_main(void *arg)
{
    struct io_state *s = arg;
    open_pipe(s->p);
    double t0 = coio_now();
    s->rc[0] = coio_wait_fd(s->p[1], COIO_WRITABLE);
    s->elapsed = coio_now() - t0;
    close_pipe(s);
    return 0;
}

static void wait_fd_writable_on_empty_pipe_returns_at_once(void **state)
{
    (void)state;
    require_backend();
    struct io_state s = {0};
    coio_assert_rc(coio_run(wait_writable_main, &s), 0);
    assert_true(s.rc[0] > 0);
    assert_true(s.rc[0] & COIO_WRITABLE);
    assert_elapsed(s.elapsed, 0.0, 0.5);
}

static int readable_waiter(void *arg)
{
    struct io_state *s = arg;
    s->rc[0] = coio_wait_fd(s->p[0], COIO_READABLE);
    s->read_done = coio_now();
    return 0;
}

static int wait_readable_main(void *arg)
{
    struct io_state *s = arg;
    open_pipe(s->p);
    int rc = coio_gather(coio_spawn(readable_waiter, s), coio_spawn(late_writer_fn, s));
    s->read_rc = read(s->p[0], s->buf, sizeof s->buf);
    close_pipe(s);
    return rc;
}

static void wait_fd_readable_returns_when_data_arrives(void **state)
{
    (void)state;
    require_backend();
    struct io_state s = {0};
    coio_assert_rc(coio_run(wait_readable_main, &s), 0);
    assert_true(s.rc[0] > 0);
    assert_true(s.rc[0] & COIO_READABLE);
    assert_true(s.read_done >= s.write_at);
    coio_assert_rc(s.read_rc, 5); /* wait_fd consumed nothing */
}

static int hangup_main(void *arg)
{
    struct io_state *s = arg;
    open_pipe(s->p);
    coio_close(s->p[1]);
    s->p[1] = -1;
    s->rc[0] = coio_wait_fd(s->p[0], COIO_READABLE);
    close_pipe(s);
    return 0;
}

static void wait_fd_reports_hangup_when_write_end_closed(void **state)
{
    (void)state;
    require_backend();
    struct io_state s = {0};
    coio_assert_rc(coio_run(hangup_main, &s), 0);
    assert_true(s.rc[0] > 0);
    assert_true(s.rc[0] & COIO_HANGUP);
}

static int bad_fd_main(void *arg)
{
    struct io_state *s = arg;
    char c;
    open_pipe(s->p);
    s->rc[0] = coio_wait_fd(s->p[0], 0);
    close_pipe(s);
    s->rc[1] = coio_wait_fd(-1, COIO_READABLE);
    s->rc[2] = coio_read(-1, &c, 1);
    s->rc[3] = coio_write(-1, &c, 1);
    return 0;
}

static void wait_fd_bad_arguments_fail(void **state)
{
    (void)state;
    require_backend();
    struct io_state s = {0};
    coio_assert_rc(coio_run(bad_fd_main, &s), 0);
    coio_assert_rc(s.rc[0], -EINVAL);
    coio_assert_rc(s.rc[1], -EBADF);
    coio_assert_rc(s.rc[2], -EBADF);
    coio_assert_rc(s.rc[3], -EBADF);
}

/* ---- eventfd ----------------------------------------------------------------------- */

struct efd_state {
    int fd;
    uint64_t got;
    ssize_t read_rc, write_rc;
    int wait_rc;
    double read_done, write_at;
};

static int efd_reader(void *arg)
{
    struct efd_state *s = arg;
    s->wait_rc = coio_wait_fd(s->fd, COIO_READABLE);
    s->read_rc = coio_read(s->fd, &s->got, sizeof s->got);
    s->read_done = coio_now();
    return 0;
}

static int efd_writer(void *arg)
{
    struct efd_state *s = arg;
    uint64_t v = 3;
    coio_sleep(0.01);
    s->write_at = coio_now();
    s->write_rc = coio_write(s->fd, &v, sizeof v);
    return 0;
}

static int efd_main(void *arg)
{
    struct efd_state *s = arg;
    s->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->fd < 0)
        return -errno;
    int rc = coio_gather(coio_spawn(efd_reader, s), coio_spawn(efd_writer, s));
    coio_close(s->fd);
    return rc;
}

static void eventfd_reader_waits_until_signalled(void **state)
{
    (void)state;
    require_backend();
    struct efd_state s = {0};
    coio_assert_rc(coio_run(efd_main, &s), 0);
    assert_true(s.wait_rc > 0 && (s.wait_rc & COIO_READABLE));
    coio_assert_rc(s.write_rc, 8);
    coio_assert_rc(s.read_rc, 8);
    assert_true(s.got == 3);
    assert_true(s.read_done >= s.write_at);
}

/* ---- backend ----------------------------------------------------------------------- */

static int backend_name_main(void *arg)
{
    char *name = arg;
    const char *b = coio_backend_name();
    snprintf(name, 32, "%s", b ? b : "(null)");
    return 0;
}

static void backend_name_matches_coio_backend_env(void **state)
{
    (void)state;
    require_backend();
    char name[32] = "";
    coio_assert_rc(coio_run(backend_name_main, name), 0);
    const char *want = getenv("COIO_BACKEND");
    if (want && *want)
        assert_string_equal(name, want);
    else
        assert_true(strcmp(name, "epoll") == 0 || strcmp(name, "io_uring") == 0);
    assert_null(coio_backend_name()); /* no loop any more */
}

/* ---- completion-based backends' ugly paths ------------------------------------------
 * io_uring can't drop an op at once: a cancel races the op's completion, the kernel
 * holds the file while an op is in flight, and some fds it won't wait on by itself.
 * These cases run under every backend; the behaviour they check is the public one. */

struct race_state {
    int p[2];
    ssize_t read_rc;
    char buf[8];
};

static int race_reader(void *arg)
{
    struct race_state *s = arg;
    s->read_rc = coio_read(s->p[0], s->buf, sizeof s->buf);
    return 0;
}

/* Data arrives and the reader is cancelled in the same turn, in both orders. Either the
 * read won (it returns the data) or the cancel did (-ECANCELED, data still in the pipe):
 * never both, never neither. */
static int cancel_race_main(void *arg)
{
    int *outcomes = arg; /* [0]: read won, [1]: cancel won */
    for (int i = 0; i < 200; i++) {
        struct race_state s = {.read_rc = 1000};
        open_pipe(s.p);
        coio_task *t = coio_spawn(race_reader, &s);
        coio_sleep(i % 4 == 0 ? 0.001 : 0); /* reader parked; sometimes its op submitted */
        if (i % 2) {
            assert_int_equal(write(s.p[1], "hello", 5), 5);
            coio_cancel(t);
        } else {
            coio_cancel(t);
            assert_int_equal(write(s.p[1], "hello", 5), 5);
        }
        coio_assert_rc(coio_await(t), 0);
        char rest[8];
        ssize_t left = read(s.p[0], rest, sizeof rest);
        if (s.read_rc == 5) {
            assert_memory_equal(s.buf, "hello", 5);
            assert_true(left < 0 && errno == EAGAIN);
            outcomes[0]++;
        } else {
            coio_assert_rc(s.read_rc, -ECANCELED);
            coio_assert_rc(left, 5);
            outcomes[1]++;
        }
        coio_close(s.p[0]);
        coio_close(s.p[1]);
    }
    return 0;
}

static void cancel_racing_completion_loses_no_data(void **state)
{
    (void)state;
    require_backend();
    int outcomes[2] = {0, 0};
    coio_assert_rc(coio_run(cancel_race_main, outcomes), 0);
    assert_int_equal(outcomes[0] + outcomes[1], 200);
}

/* coio_close with a read in flight: the reader gets -EBADF, and the file is really
 * closed when coio_close returns (an in-flight io_uring request holds a reference to
 * it), so the peer sees the close at once. */
static int close_releases_main(void *arg)
{
    struct io_state *s = arg;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, s->p), 0);
    coio_task *t = coio_spawn(reader_fn, s);
    coio_sleep(0.01);
    s->rc[0] = coio_close(s->p[0]);
    s->p[0] = -1;
    s->rc[1] = send(s->p[1], "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 ? -errno : 0;
    s->rc[2] = coio_await(t);
    close_pipe(s);
    return 0;
}

static void close_with_read_in_flight_releases_the_file_at_once(void **state)
{
    (void)state;
    require_backend();
    struct io_state s = {0};
    coio_assert_rc(coio_run(close_releases_main, &s), 0);
    coio_assert_rc(s.rc[0], 0);
    coio_assert_rc(s.rc[1], -EPIPE);
    coio_assert_rc(s.read_rc, -EBADF);
    coio_assert_rc(s.rc[2], -EBADF);
}

/* The same when the read was cancelled in the same turn, just before coio_close: its
 * cancellation may still be on its way to the kernel. */
static int cancel_then_close_main(void *arg)
{
    struct io_state *s = arg;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, s->p), 0);
    coio_task *t = coio_spawn(reader_fn, s);
    coio_sleep(0.01);
    s->rc[0] = coio_cancel(t);
    s->rc[1] = coio_close(s->p[0]);
    s->p[0] = -1;
    s->rc[2] = send(s->p[1], "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 ? -errno : 0;
    s->rc[3] = coio_await(t);
    close_pipe(s);
    return 0;
}

static void close_right_after_cancelling_a_read_releases_the_file_at_once(void **state)
{
    (void)state;
    require_backend();
    struct io_state s = {0};
    coio_assert_rc(coio_run(cancel_then_close_main, &s), 0);
    coio_assert_rc(s.rc[0], 0);
    coio_assert_rc(s.rc[1], 0);
    coio_assert_rc(s.rc[2], -EPIPE);
    coio_assert_rc(s.read_rc, -ECANCELED);
    coio_assert_rc(s.rc[3], -ECANCELED);
}

/* More ops (and then more cancellations) in one loop turn than io_uring's submission
 * queue holds (256). */
#define MANY 600

struct many_state {
    int p[2];
    ssize_t rc[MANY];
    char got[MANY];
    coio_task *t[MANY];
};

struct many_arg {
    struct many_state *s;
    int i;
};

static int many_reader(void *arg)
{
    struct many_arg *a = arg;
    a->s->rc[a->i] = coio_read(a->s->p[0], &a->s->got[a->i], 1);
    return 0;
}

static int many_main(void *arg)
{
    struct many_state *s = arg;
    static struct many_arg args[MANY];
    open_pipe(s->p);
    for (int i = 0; i < MANY; i++) {
        args[i] = (struct many_arg){s, i};
        s->t[i] = coio_spawn(many_reader, &args[i]);
        assert_non_null(s->t[i]);
    }
    coio_sleep(0.01);
    char data[MANY / 2];
    memset(data, 'z', sizeof data);
    assert_int_equal(write(s->p[1], data, sizeof data), (ssize_t)sizeof data);
    /* 600 wake-ups and retries take 5 to 30 ms on a loaded machine: wait for them */
    double t0 = coio_now();
    int ones;
    do {
        coio_sleep(0.005);
        ones = 0;
        for (int i = 0; i < MANY; i++)
            ones += s->rc[i] == 1;
    } while (ones < MANY / 2 && coio_now() - t0 < 10);
    for (int i = 0; i < MANY; i++)
        coio_cancel(s->t[i]);
    for (int i = 0; i < MANY; i++)
        coio_assert_rc(coio_await(s->t[i]), 0);
    char c;
    assert_true(read(s->p[0], &c, 1) < 0 && errno == EAGAIN); /* nothing left, nothing lost */
    coio_close(s->p[0]);
    coio_close(s->p[1]);
    return 0;
}

static void more_ops_than_the_submission_queue_holds_all_complete(void **state)
{
    (void)state;
    require_backend();
    struct many_state *s = calloc(1, sizeof *s);
    assert_non_null(s);
    coio_assert_rc(coio_run(many_main, s), 0);
    int ones = 0, cancelled = 0;
    for (int i = 0; i < MANY; i++) {
        if (s->rc[i] == 1 && s->got[i] == 'z')
            ones++;
        else if (s->rc[i] == -ECANCELED)
            cancelled++;
        else
            coio_assert_rc(s->rc[i], -ECANCELED);
    }
    free(s);
    assert_int_equal(ones, MANY / 2);
    assert_int_equal(cancelled, MANY / 2);
}

/* A worker thread's completion must wake a loop blocked in the backend with nothing
 * else to do (io_uring: the eventfd's multishot poll, many times over). */
static int short_job(void *arg)
{
    (void)arg;
    usleep(500);
    return 7;
}

static int to_thread_main(void *arg)
{
    struct io_state *s = arg;
    double t0 = coio_now();
    for (int i = 0; i < 100; i++) {
        int r = coio_to_thread(short_job, NULL);
        if (r != 7)
            return r < 0 ? r : -EINVAL;
    }
    s->elapsed = coio_now() - t0;
    return 0;
}

static void to_thread_completion_wakes_loop_blocked_in_backend(void **state)
{
    (void)state;
    require_backend();
    struct io_state s = {0};
    coio_assert_rc(coio_run(to_thread_main, &s), 0);
    assert_elapsed(s.elapsed, 0.0, 5.0);
}

/* signalfd, whose readiness belongs to the reading thread (io_uring once could not
 * poll it, liburing issue #5): a read waits for the signal, and can be cancelled and
 * closed while it waits. */
struct sig_state {
    int fd;
    ssize_t read_rc, cancel_rc, close_rc;
    struct signalfd_siginfo si;
    sigset_t old;
};

static int sig_reader(void *arg)
{
    struct sig_state *s = arg;
    s->read_rc = coio_read(s->fd, &s->si, sizeof s->si);
    return 0;
}

static int sig_raiser(void *arg)
{
    (void)arg;
    coio_sleep(0.01);
    raise(SIGUSR1); /* blocked: stays pending for the signalfd */
    return 0;
}

static int sig_cancel_reader(void *arg)
{
    struct sig_state *s = arg;
    struct signalfd_siginfo si;
    s->cancel_rc = coio_read(s->fd, &si, sizeof si);
    return 0;
}

static int sig_close_reader(void *arg)
{
    struct sig_state *s = arg;
    struct signalfd_siginfo si;
    s->close_rc = coio_read(s->fd, &si, sizeof si);
    return 0;
}

static int signalfd_main(void *arg)
{
    struct sig_state *s = arg;
    coio_assert_rc(coio_gather(coio_spawn(sig_reader, s), coio_spawn(sig_raiser, s)), 0);

    coio_task *t = coio_spawn(sig_cancel_reader, s);
    coio_sleep(0.01);
    coio_cancel(t);
    coio_assert_rc(coio_await(t), 0);

    t = coio_spawn(sig_close_reader, s);
    coio_sleep(0.01);
    coio_assert_rc(coio_close(s->fd), 0);
    s->fd = -1;
    coio_assert_rc(coio_await(t), 0);
    return 0;
}

static void signalfd_read_waits_for_signal_and_can_be_cancelled(void **state)
{
    (void)state;
    require_backend();
    struct sig_state s = {0};
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR1);
    assert_int_equal(sigprocmask(SIG_BLOCK, &m, &s.old), 0);
    s.fd = signalfd(-1, &m, SFD_NONBLOCK | SFD_CLOEXEC);
    assert_true(s.fd >= 0);
    int rc = coio_run(signalfd_main, &s);
    sigprocmask(SIG_SETMASK, &s.old, NULL);
    coio_assert_rc(rc, 0);
    coio_assert_rc(s.read_rc, sizeof s.si);
    assert_int_equal(s.si.ssi_signo, SIGUSR1);
    coio_assert_rc(s.cancel_rc, -ECANCELED);
    coio_assert_rc(s.close_rc, -EBADF);
}

/* coio_read/coio_write on a regular file use and advance the file position, like
 * read(2)/write(2) (io_uring: offset -1). */
static int regular_file_main(void *arg)
{
    struct io_state *s = arg;
    char path[] = "/tmp/coio_test_io_XXXXXX";
    int fd = mkostemp(path, O_CLOEXEC);
    assert_true(fd >= 0);
    unlink(path);
    coio_assert_rc(coio_write(fd, "abc", 3), 3);
    coio_assert_rc(coio_write(fd, "def", 3), 3);
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 6);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    coio_assert_rc(coio_read(fd, s->buf, 4), 4);
    coio_assert_rc(coio_read(fd, s->buf + 4, 4), 2);
    coio_assert_rc(coio_read(fd, s->buf + 6, 4), 0);
    coio_close(fd);
    return 0;
}

static void regular_file_read_write_follow_the_file_position(void **state)
{
    (void)state;
    require_backend();
    struct io_state s = {0};
    coio_assert_rc(coio_run(regular_file_main, &s), 0);
    assert_memory_equal(s.buf, "abcdef", 6);
}

/* ---- fairness budget ---------------------------------------------------------------- */

/* A connected pair of TCP sockets on 127.0.0.1: fds[0] non-blocking (the loop's end),
 * fds[1] blocking (a thread's). */
static void tcp_pair(int fds[2])
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_true(l >= 0);
    assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &len), 0);
    fds[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(fds[1], (struct sockaddr *)&sa, sizeof sa), 0);
    fds[0] = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    assert_true(fds[0] >= 0);
    close(l);
}

#define FWD_LINES 20000
#define FWD_QUEUE 256 /* twice the documented budget of 128 calls */

struct forward {
    int fds[2];
    coio_stream *s;
    coio_queue *q;
    atomic_int stop;
    long full;     /* puts that found the queue full */
    long consumed;
    int rc[2];
};

/* The peer: lines as fast as the socket takes them, so the forwarder's socket always
 * has data and its reads never need to wait. */
static void *line_writer(void *arg)
{
    struct forward *f = arg;
    char buf[64 * 32];
    for (size_t i = 0; i < sizeof buf; i += 32) {
        memset(buf + i, 'x', 31);
        buf[i + 31] = '\n';
    }
    while (!atomic_load(&f->stop))
        if (send(f->fds[1], buf, sizeof buf, MSG_NOSIGNAL) < 0)
            break;
    return NULL;
}

static int forwarder(void *arg)
{
    struct forward *f = arg;
    char line[64];
    for (long i = 0; i < FWD_LINES; i++) {
        ssize_t n = coio_stream_readline(f->s, line, sizeof line);
        if (n != 32)
            return n < 0 ? (int)n : -EPROTO;
        if (coio_queue_full(f->q))
            f->full++;
        int r = coio_queue_put(f->q, (void *)(intptr_t)(i + 1));
        if (r < 0)
            return r;
    }
    return coio_queue_put(f->q, NULL);
}

static int consumer(void *arg)
{
    struct forward *f = arg;
    for (;;) {
        void *item;
        int r = coio_queue_get(f->q, &item);
        if (r < 0)
            return r;
        if (!item)
            return 0;
        if ((intptr_t)item != ++f->consumed)
            return -EPROTO;
    }
}

static int forward_main(void *arg)
{
    struct forward *f = arg;
    tcp_pair(f->fds);
    f->s = coio_stream_open(f->fds[0], COIO_STREAM_OWN_FD);
    f->q = coio_queue_create(COIO_QUEUE_FIFO, FWD_QUEUE, NULL);
    assert_non_null(f->s);
    assert_non_null(f->q);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, line_writer, f), 0);
    coio_task *c = coio_spawn(consumer, f);
    coio_task *w = coio_spawn(forwarder, f);
    f->rc[0] = coio_await(w);
    f->rc[1] = coio_await(c);
    atomic_store(&f->stop, 1);
    coio_stream_close(f->s); /* the writer's send fails: it ends */
    pthread_join(th, NULL);
    close(f->fds[1]);
    coio_queue_destroy(f->q);
    return 0;
}

/* A task that forwards lines from a socket that always has data into a bounded queue
 * returns from readline without suspending (the stream's buffer serves most lines;
 * epoll reads a ready socket at once) and from put while the queue has room. Each
 * readline spends the task's budget, so after at most 128 of them it yields, and the
 * consumer, queued before it, empties the queue. 128 puts never fill a queue of 256:
 * the forwarder should never find it full, on either backend. The bound leaves a few
 * for the start, when the consumer has not run yet. Without the budget on buffered
 * reads, epoll finds it full at every refill (~80 times here). */
static void forwarder_from_busy_socket_does_not_starve_queue_consumer(void **state)
{
    (void)state;
    require_backend();
    struct forward f = {0};
    coio_assert_rc(coio_run(forward_main, &f), 0);
    coio_assert_rc(f.rc[0], 0);
    coio_assert_rc(f.rc[1], 0);
    assert_int_equal(f.consumed, FWD_LINES);
    print_message("%s: the forwarder found the queue full %ld times in %d puts\n",
                  getenv("COIO_BACKEND") ? getenv("COIO_BACKEND") : "default", f.full,
                  FWD_LINES);
    assert_true(f.full <= 2);
}

/* ---- the COIO_ERROR bit of coio_wait_fd ------------------------------------------------ */

struct err_state {
    int fds[2];
    int p[2];
    int waiting;
    int rc_reset, rc_pipe;
};

static int reset_waiter(void *arg)
{
    struct err_state *s = arg;
    s->waiting = 1;
    s->rc_reset = coio_wait_fd(s->fds[0], COIO_READABLE);
    return 0;
}

static int error_main(void *arg)
{
    struct err_state *s = arg;
    tcp_pair(s->fds);
    coio_task *w = coio_spawn(reset_waiter, s);
    while (!s->waiting)
        coio_yield();
    coio_yield(); /* the waiter is parked in coio_wait_fd */
    /* SO_LINGER 0: close sends a reset instead of a FIN. */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    assert_int_equal(setsockopt(s->fds[1], SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(s->fds[1]);
    coio_assert_rc(coio_await(w), 0);
    coio_close(s->fds[0]);
    /* A pipe whose read end is closed: its write end has an error condition (EPIPE). */
    open_pipe(s->p);
    coio_close(s->p[0]);
    s->rc_pipe = coio_wait_fd(s->p[1], COIO_WRITABLE);
    coio_close(s->p[1]);
    return 0;
}

/* A socket whose peer reset the connection (while a task waits on it) and a pipe's write
 * end with no reader both report COIO_ERROR, besides what was asked for. */
static void wait_fd_reports_error_on_reset_socket_and_widowed_pipe(void **state)
{
    (void)state;
    require_backend();
    struct err_state s = {0};
    coio_assert_rc(coio_run(error_main, &s), 0);
    assert_true(s.rc_reset > 0);
    assert_true(s.rc_reset & COIO_ERROR);
    assert_true(s.rc_reset & COIO_READABLE);
    assert_true(s.rc_pipe > 0);
    assert_true(s.rc_pipe & COIO_ERROR);
}

/* ---- closing a stream under a blocked task --------------------------------------------- */

struct sclose {
    int fds[2];
    coio_stream *s;
    int entered;
    long lines, lines_at_close;
    ssize_t rc;
};

static int line_reader(void *arg)
{
    struct sclose *c = arg;
    char line[64];
    c->entered = 1;
    for (;;) {
        c->rc = coio_stream_readline(c->s, line, sizeof line);
        if (c->rc <= 0)
            return 0;
        c->lines++;
    }
}

/* Blocked: the reader waits for data that never comes; close returns 0 at once. */
static int close_blocked_main(void *arg)
{
    struct sclose *c = arg;
    tcp_pair(c->fds);
    c->s = coio_stream_open(c->fds[0], COIO_STREAM_OWN_FD);
    assert_non_null(c->s);
    coio_task *r = coio_spawn(line_reader, c);
    while (!c->entered)
        coio_yield();
    coio_yield(); /* parked in readline */
    /* Queued data makes close flush first (it suspends) while the reader still waits. */
    coio_assert_rc(coio_stream_write(c->s, "bye\n", 4), 4);
    coio_assert_rc(coio_stream_close(c->s), 0);
    coio_assert_rc(coio_await(r), 0);
    char buf[8];
    assert_int_equal(read(c->fds[1], buf, sizeof buf), 4); /* flushed before the close */
    close(c->fds[1]);
    return 0;
}

/* Busy: the peer sent more lines than one budget of reads, all served without waiting;
 * the reader yields for fairness and the closer runs then. */
static int closer(void *arg)
{
    struct sclose *c = arg;
    while (c->lines < 10)
        coio_yield();
    c->lines_at_close = c->lines;
    return coio_stream_close(c->s);
}

static int close_busy_main(void *arg)
{
    struct sclose *c = arg;
    tcp_pair(c->fds);
    char lines[1000 * 32];
    for (size_t i = 0; i < sizeof lines; i += 32) {
        memset(lines + i, 'y', 31);
        lines[i + 31] = '\n';
    }
    assert_int_equal(write(c->fds[1], lines, sizeof lines), (ssize_t)sizeof lines);
    c->s = coio_stream_open(c->fds[0], COIO_STREAM_OWN_FD);
    assert_non_null(c->s);
    coio_task *r = coio_spawn(line_reader, c);
    coio_task *k = coio_spawn(closer, c);
    coio_assert_rc(coio_await(r), 0);
    coio_assert_rc(coio_await(k), 0);
    close(c->fds[1]);
    return 0;
}

/* coio_stream_close while another task is inside a call on the same stream: that call
 * returns -EBADF, and the stream is freed only after it has left (AddressSanitizer
 * would see a use after free otherwise). */
static void stream_close_under_a_blocked_reader_returns_ebadf_to_it(void **state)
{
    (void)state;
    require_backend();
    struct sclose c = {0};
    coio_assert_rc(coio_run(close_blocked_main, &c), 0);
    coio_assert_rc(c.rc, -EBADF);
    assert_int_equal(c.lines, 0);
}

static void stream_close_while_the_reader_yields_returns_ebadf_to_it(void **state)
{
    (void)state;
    require_backend();
    struct sclose c = {0};
    coio_assert_rc(coio_run(close_busy_main, &c), 0);
    coio_assert_rc(c.rc, -EBADF);
    assert_true(c.lines >= 10 && c.lines < 1000);
    assert_int_equal(c.lines, c.lines_at_close); /* no line after the close */
}

/* ---- regular files ----------------------------------------------------------------- */

/* A read of a regular file may wait for the disk: it must not stop the other tasks.
 * A sparse file read in one call keeps the kernel busy zero-filling the buffer for tens
 * of milliseconds; a ticker task counts how often it ran while that call was in
 * progress. On the loop thread it could not run at all (one tick at most, from the
 * fairness yield on entry). */
#define SPARSE_SIZE (256u << 20)

struct file_tick {
    volatile int stop, in_read;
    long ticks_during;
};

static int ticker_fn(void *arg)
{
    struct file_tick *ft = arg;
    while (!ft->stop) {
        if (ft->in_read)
            ft->ticks_during++;
        coio_yield();
    }
    return 0;
}

static int file_read_main(void *arg)
{
    (void)arg;
    char path[] = "coio_sparse_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(ftruncate(fd, SPARSE_SIZE), 0);
    char *buf = malloc(SPARSE_SIZE);
    assert_non_null(buf);
    struct file_tick ft = {0};
    coio_task *t = coio_spawn(ticker_fn, &ft);
    coio_yield();
    for (int attempt = 0; attempt < 5 && ft.ticks_during < 3; attempt++) {
        ft.ticks_during = 0;
        /* nothing cached: io_uring must go to the disk path too, not copy inline */
        assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        ft.in_read = 1;
        ssize_t r = coio_read(fd, buf, SPARSE_SIZE);
        ft.in_read = 0;
        assert_int_equal(r, (ssize_t)SPARSE_SIZE);
    }
    ft.stop = 1;
    coio_await(t);
    free(buf);
    coio_close(fd);
    return ft.ticks_during >= 3 ? 0 : (int)-ft.ticks_during - 1000;
}

static void file_read_lets_other_tasks_run(void **state)
{
    (void)state;
    require_backend();
    coio_assert_rc(coio_run(file_read_main, NULL), 0);
}

static int late_x_fn(void *arg)
{
    coio_sleep(0.01);
    return coio_write(*(int *)arg, "x", 1) == 1 ? 0 : -EIO;
}

/* The fd number of a file that was closed without coio_close now names a socket with
 * nothing to read yet: the read waits for data instead of failing with EAGAIN. */
static int reused_fd_main(void *arg)
{
    (void)arg;
    char path[] = "coio_reused_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, "ab", 2), 2);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    char c[4];
    coio_assert_rc(coio_read(fd, c, 1), 1);
    close(fd); /* plain close: coio is not told */
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    if (sv[0] != fd) {
        assert_int_equal(dup3(sv[0], fd, O_CLOEXEC), fd);
        close(sv[0]);
    }
    coio_task *w = coio_spawn(late_x_fn, &sv[1]);
    ssize_t r = coio_read(fd, c, sizeof c);
    int wr = coio_await(w);
    coio_close(fd);
    coio_close(sv[1]);
    if (wr < 0)
        return wr;
    return r == 1 && c[0] == 'x' ? 0 : (int)(r < 0 ? r : -EIO);
}

static void read_on_a_reused_file_fd_waits_for_the_socket(void **state)
{
    (void)state;
    require_backend();
    coio_assert_rc(coio_run(reused_fd_main, NULL), 0);
}

/* A stream over a file writes through its flusher's op (the pool on epoll, the ring on
 * io_uring), never inline in coio_stream_write on the loop thread. */
#define STREAM_FILE_SIZE (64u << 20)
#define STREAM_CHUNK (256u << 10)

static int file_stream_main(void *arg)
{
    (void)arg;
    char path[] = "coio_fstream_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    char *buf = malloc(STREAM_FILE_SIZE);
    assert_non_null(buf);
    memset(buf, 'a', STREAM_FILE_SIZE);
    for (size_t i = 4095; i < STREAM_FILE_SIZE; i += 4096)
        buf[i] = '\n';
    coio_stream *st = coio_stream_open(fd, 0);
    assert_non_null(st);
    struct file_tick ft = {0};
    coio_task *t = coio_spawn(ticker_fn, &ft);
    coio_yield();
    for (int attempt = 0; attempt < 5 && ft.ticks_during < 3; attempt++) {
        ft.ticks_during = 0;
        ft.in_read = 1;
        for (size_t off = 0; off < STREAM_FILE_SIZE; off += STREAM_CHUNK)
            assert_int_equal(coio_stream_write(st, buf + off, STREAM_CHUNK), STREAM_CHUNK);
        int f = coio_stream_flush(st);
        ft.in_read = 0;
        assert_int_equal(f, 0);
    }
    ft.stop = 1;
    coio_await(t);
    coio_assert_rc(coio_stream_close(st), 0);
    /* and it reads back line by line */
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    st = coio_stream_open(fd, COIO_STREAM_OWN_FD);
    assert_non_null(st);
    for (int i = 0; i < 3; i++) {
        memset(buf, 0, 4096);
        assert_int_equal(coio_stream_readline(st, buf, STREAM_FILE_SIZE), 4096);
        assert_int_equal(buf[0], 'a');
        assert_int_equal(buf[4095], '\n');
    }
    coio_assert_rc(coio_stream_close(st), 0);
    free(buf);
    return ft.ticks_during >= 3 ? 0 : (int)-ft.ticks_during - 1000;
}

static void file_stream_write_lets_other_tasks_run(void **state)
{
    (void)state;
    require_backend();
    coio_assert_rc(coio_run(file_stream_main, NULL), 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(read_blocks_until_another_task_writes),
    cmocka_unit_test(read_returns_zero_at_eof),
    cmocka_unit_test(blocked_read_returns_zero_when_write_end_closes),
    cmocka_unit_test(read_in_timeout_scope_returns_etimedout),
    cmocka_unit_test(cancel_blocked_read_returns_ecanceled_without_fd_leak),
    cmocka_unit_test(fd_works_again_after_cancelled_read),
    cmocka_unit_test(close_wakes_blocked_reader_with_ebadf),
    cmocka_unit_test(two_readers_on_one_pipe_both_complete),
    cmocka_unit_test(write_to_full_pipe_waits_until_reader_drains),
    cmocka_unit_test(cancel_blocked_write_returns_ecanceled),
    cmocka_unit_test(write_all_sends_1mib_to_concurrent_reader),
    cmocka_unit_test(wait_fd_writable_on_empty_pipe_returns_at_once),
    cmocka_unit_test(wait_fd_readable_returns_when_data_arrives),
    cmocka_unit_test(wait_fd_reports_hangup_when_write_end_closed),
    cmocka_unit_test(wait_fd_bad_arguments_fail),
    cmocka_unit_test(eventfd_reader_waits_until_signalled),
    cmocka_unit_test(backend_name_matches_coio_backend_env),
    cmocka_unit_test(cancel_racing_completion_loses_no_data),
    cmocka_unit_test(close_with_read_in_flight_releases_the_file_at_once),
    cmocka_unit_test(close_right_after_cancelling_a_read_releases_the_file_at_once),
    cmocka_unit_test(more_ops_than_the_submission_queue_holds_all_complete),
    cmocka_unit_test(to_thread_completion_wakes_loop_blocked_in_backend),
    cmocka_unit_test(signalfd_read_waits_for_signal_and_can_be_cancelled),
    cmocka_unit_test(regular_file_read_write_follow_the_file_position),
    cmocka_unit_test(forwarder_from_busy_socket_does_not_starve_queue_consumer),
    cmocka_unit_test(wait_fd_reports_error_on_reset_socket_and_widowed_pipe),
    cmocka_unit_test(stream_close_under_a_blocked_reader_returns_ebadf_to_it),
    cmocka_unit_test(stream_close_while_the_reader_yields_returns_ebadf_to_it),
    cmocka_unit_test(file_read_lets_other_tasks_run),
    cmocka_unit_test(read_on_a_reused_file_fd_waits_for_the_socket),
    cmocka_unit_test(file_stream_write_lets_other_tasks_run),
};

COIO_TEST_MAIN(tests)
