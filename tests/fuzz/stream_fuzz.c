/*
 * libFuzzer target for the stream reader (and the writer feeding it).
 *
 * The input is split into a header, a list of reader operations and a payload. Inside
 * coio_run, a writer task sends the payload through a pipe or a Unix socketpair with a
 * coio_stream (chunk sizes, drains and marks drawn from the input), then half-closes;
 * the main task runs the operations on a reading stream and checks every result against
 * the model of stream_oracle.h: a mismatch abort()s, and so do leaked fds. ASan and
 * UBSan catch the rest.
 *
 * Layout: [flags][limit lo][limit hi][nops][seed] then nops * 3 op bytes, then payload.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "stream_oracle.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

struct fz {
    const uint8_t *ops;
    size_t nops;
    const uint8_t *payload;
    size_t len;
    size_t limit;
    uint32_t seed;
    bool sock;
    int fds[2];
    coio_stream *r, *w;
};

static int writer(void *arg)
{
    struct fz *f = arg;
    uint32_t s = f->seed;
    size_t off = 0;
    while (off < f->len) {
        size_t n = 1 + rnd(&s) % (rnd(&s) % 4 == 0 ? 4096 : 64);
        if (n > f->len - off)
            n = f->len - off;
        ssize_t w;
        if (n > 1 && rnd(&s) % 2) {
            struct iovec iov[2] = {{(void *)(f->payload + off), n / 2},
                                   {(void *)(f->payload + off + n / 2), n - n / 2}};
            w = coio_stream_writev(f->w, iov, 2);
        } else {
            w = coio_stream_write(f->w, f->payload + off, n);
        }
        if (w < 0)
            return (int)w; /* the reader went away early (its ops ended) */
        EXPECT((size_t)w == n);
        off += n;
        int k = (int)(rnd(&s) % 4);
        if (k == 0 && coio_stream_drain(f->w) < 0)
            return 0;
        if (k == 1)
            coio_yield();
    }
    coio_stream_write_eof(f->w);
    return 0;
}

static int reader(void *arg)
{
    struct fz *f = arg;
    coio_task *wt = coio_spawn(writer, f);
    EXPECT(wt != NULL);
    oracle_run(f->r, f->ops, f->nops, f->payload, f->len, &f->limit);
    /* Stop the writer if it still waits on a reader that has finished. */
    coio_stream_abort(f->r);
    f->r = NULL;
    coio_await(wt);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5)
        return 0;
    static bool once;
    if (!once) {
        signal(SIGPIPE, SIG_IGN); /* pipes have no MSG_NOSIGNAL */
        once = true;
    }
    int fds0 = coio_test_count_fds();
    struct fz f = {0};
    uint8_t flags = data[0];
    f.sock = flags & 1;
    f.limit = oracle_limit(data + 1, flags & 2);
    f.nops = data[3] % 32;
    f.seed = data[4];
    data += 5;
    size -= 5;
    oracle_split(data, size, &f.nops, &f.ops, &f.payload, &f.len);

    int r = f.sock ? socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f.fds)
                   : pipe2(f.fds, O_CLOEXEC);
    EXPECT(r == 0);
    coio_stream_opts ro = {.flags = COIO_STREAM_OWN_FD, .limit = f.limit};
    coio_stream_opts wo = {.flags = COIO_STREAM_OWN_FD,
                           .high_water = 1 + (size_t)(flags >> 2) * 1000,
                           .low_water = (size_t)(flags >> 2) * 100 + 1};
    if (f.seed & 0x80) /* the writer holds its data until the high mark or write_eof */
        wo.flags |= COIO_STREAM_FLUSH_ON_READ;
    f.r = coio_stream_open_ex(f.fds[0], &ro);
    f.w = coio_stream_open_ex(f.fds[1], &wo);
    EXPECT(f.r && f.w);
    r = coio_run(reader, &f);
    EXPECT(r == 0);
    if (f.r)
        coio_stream_abort(f.r);
    coio_stream_abort(f.w);
    EXPECT(coio_test_count_fds() == fds0);
    return 0;
}
