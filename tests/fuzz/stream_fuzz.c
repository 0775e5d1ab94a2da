/*
 * libFuzzer target for the stream reader (and the writer feeding it).
 *
 * The input is split into a header, a list of reader operations and a payload. Inside
 * coio_run, a writer task sends the payload through a pipe or a Unix socketpair with a
 * coio_stream (chunk sizes, drains and marks drawn from the input), then half-closes;
 * the main task runs the operations on a reading stream: readline, read_until (with a
 * separator of 1-4 bytes), read_exactly, read and read_all, with random limits and
 * capacities. Every result is checked against a model computed from the payload (what
 * must be returned, which error, what stays buffered): a mismatch abort()s, and so do
 * leaked fds. ASan and UBSan catch the rest.
 *
 * Layout: [flags][limit lo][limit hi][nops][seed] then nops * 3 op bytes, then payload.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <coio.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

#define EXPECT(cond)                                                                     \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "stream_fuzz: %s:%d: %s\n", __FILE__, __LINE__, #cond);      \
            abort();                                                                     \
        }                                                                                \
    } while (0)

static uint32_t rnd(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

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

/* Index of the first occurrence of sep in p[0..n), or n. */
static size_t find(const uint8_t *p, size_t n, const uint8_t *sep, size_t seplen)
{
    const uint8_t *q = memmem(p, n, sep, seplen);
    return q ? (size_t)(q - p) : n;
}

static int reader(void *arg)
{
    struct fz *f = arg;
    size_t pos = 0;
    static uint8_t buf[70000];
    coio_task *wt = coio_spawn(writer, f);
    EXPECT(wt != NULL);
    for (size_t i = 0; i < f->nops; i++) {
        const uint8_t *op = f->ops + 3 * i;
        const uint8_t *rest = f->payload + pos;
        size_t left = f->len - pos;
        size_t a = op[1], b = op[2];
        switch (op[0] % 6) {
        case 0:   /* readline */
        case 1: { /* read_until, separator taken from the payload or the op */
            size_t cap = b ? b * 64 + a : sizeof buf;
            uint8_t sepb[5] = {(uint8_t)'\n', (uint8_t)a, (uint8_t)b, (uint8_t)(a ^ b),
                               (uint8_t)(a + b)};
            const uint8_t *sep = sepb;
            size_t seplen = 1;
            bool line = op[0] % 6 == 0;
            if (!line) {
                seplen = 1 + a % 4;
                if (left >= seplen && b % 2)
                    sep = rest + (b * 7) % (left - seplen + 1); /* one that occurs */
                else
                    sep = sepb + 1;
            }
            uint8_t sepcopy[4];
            memcpy(sepcopy, sep, seplen);
            ssize_t r = line ? coio_stream_readline(f->r, buf, cap)
                             : coio_stream_read_until(f->r, sepcopy, seplen, buf, cap);
            /* The limit bounds the record without its separator; cap holds both. */
            size_t at = find(rest, left, sepcopy, seplen);
            if (at < left) { /* a separator exists */
                size_t end = at + seplen;
                if (at <= f->limit && end <= cap) {
                    EXPECT(r == (ssize_t)end);
                    EXPECT(memcmp(buf, rest, end) == 0);
                    pos += end;
                } else {
                    EXPECT(r == -EMSGSIZE);
                    /* the whole record if its separator had arrived, else a prefix */
                    EXPECT(coio_stream_overrun(f->r) > 0 && coio_stream_overrun(f->r) <= end);
                }
            } else if (left >= cap || (left >= seplen && left - seplen + 1 > f->limit)) {
                EXPECT(r == -EMSGSIZE);
                EXPECT(coio_stream_overrun(f->r) > 0 && coio_stream_overrun(f->r) <= left);
            } else if (line) {
                EXPECT(r == (ssize_t)left);
                EXPECT(memcmp(buf, rest, left) == 0);
                pos += left;
            } else {
                EXPECT(r == -EPIPE);
                EXPECT(coio_stream_buffered(f->r) == left); /* partial record kept */
            }
            break;
        }
        case 2: { /* read_exactly */
            size_t n = (a << 8 | b) % sizeof buf;
            size_t got = 12345;
            ssize_t r = coio_stream_read_exactly(f->r, buf, n, &got);
            if (left >= n) {
                EXPECT(r == (ssize_t)n && got == n);
                EXPECT(memcmp(buf, rest, n) == 0);
                pos += n;
            } else {
                EXPECT(r == -EPIPE && got == left);
                EXPECT(memcmp(buf, rest, left) == 0);
                pos += left;
                EXPECT(coio_stream_at_eof(f->r));
            }
            break;
        }
        case 3: { /* read up to n */
            size_t n = (a << 8 | b) % sizeof buf;
            ssize_t r = coio_stream_read(f->r, buf, n);
            if (n == 0 || left == 0) {
                EXPECT(r == 0);
            } else {
                EXPECT(r > 0 && (size_t)r <= n && (size_t)r <= left);
                EXPECT(memcmp(buf, rest, (size_t)r) == 0);
                pos += (size_t)r;
            }
            break;
        }
        case 4: { /* read_all */
            size_t cap = (a << 8 | b) % sizeof buf;
            ssize_t r = coio_stream_read_all(f->r, buf, cap);
            if (left > cap) {
                EXPECT(r == -EMSGSIZE);
                EXPECT(coio_stream_buffered(f->r) > cap);
            } else {
                EXPECT(r == (ssize_t)left);
                EXPECT(memcmp(buf, rest, left) == 0);
                pos += left;
                EXPECT(coio_stream_at_eof(f->r));
            }
            break;
        }
        case 5: /* change the limit */
            f->limit = 1 + (a << 8 | b) % 600;
            EXPECT(coio_stream_set_limit(f->r, f->limit) == 0);
            break;
        }
        EXPECT(!coio_stream_at_eof(f->r) || pos == f->len);
    }
    /* Stop the writer if it still waits on a reader that has finished. */
    coio_stream_abort(f->r);
    f->r = NULL;
    coio_await(wt);
    return 0;
}

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
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
    int fds0 = count_fds();
    struct fz f = {0};
    uint8_t flags = data[0];
    f.sock = flags & 1;
    f.limit = 1 + (size_t)(data[1] | data[2] << 8) % 600;
    if (flags & 2)
        f.limit = COIO_STREAM_LIMIT_DEFAULT;
    f.nops = data[3] % 32;
    f.seed = data[4];
    data += 5;
    size -= 5;
    if (f.nops * 3 > size)
        f.nops = size / 3;
    f.ops = data;
    f.payload = data + f.nops * 3;
    f.len = size - f.nops * 3;

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
    EXPECT(count_fds() == fds0);
    return 0;
}
