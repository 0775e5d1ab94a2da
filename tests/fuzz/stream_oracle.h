/*
 * The stream reader's oracle, shared by the fuzz targets (stream_fuzz.c over a pipe or
 * a socketpair, tls_stream_fuzz.c over TLS): runs a list of reader operations on a
 * stream that will deliver `payload` and then end, and checks every result against a
 * model computed from the payload (what must be returned, which error, what stays
 * buffered). A mismatch abort()s. Whatever the transport cuts the bytes into, the model
 * is the same, so a TLS stream must give the results a plain stream gives.
 *
 * Operations are 3 bytes each: [kind][a][b]. Kinds: readline, read_until (separator of
 * 1-4 bytes, often one that occurs), read_exactly, read, read_all, set_limit.
 */
#ifndef COIO_STREAM_ORACLE_H
#define COIO_STREAM_ORACLE_H

#include <coio.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fd_count.h"

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

/* Index of the first occurrence of sep in p[0..n), or n. */
static size_t find(const uint8_t *p, size_t n, const uint8_t *sep, size_t seplen)
{
    const uint8_t *q = memmem(p, n, sep, seplen);
    return q ? (size_t)(q - p) : n;
}

/* Runs ops[0..nops) on r, whose limit is *limit, and checks each result. */
static void oracle_run(coio_stream *r, const uint8_t *ops, size_t nops, const uint8_t *payload,
                       size_t len, size_t *limit)
{
    size_t pos = 0;
    static uint8_t buf[70000];
    for (size_t i = 0; i < nops; i++) {
        const uint8_t *op = ops + 3 * i;
        const uint8_t *rest = payload + pos;
        size_t left = len - pos;
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
            ssize_t n = line ? coio_stream_readline(r, buf, cap)
                             : coio_stream_read_until(r, sepcopy, seplen, buf, cap);
            /* The limit bounds the record without its separator; cap holds both. */
            size_t at = find(rest, left, sepcopy, seplen);
            if (at < left) { /* a separator exists */
                size_t end = at + seplen;
                if (at <= *limit && end <= cap) {
                    EXPECT(n == (ssize_t)end);
                    EXPECT(memcmp(buf, rest, end) == 0);
                    pos += end;
                } else {
                    EXPECT(n == -EMSGSIZE);
                    /* the whole record if its separator had arrived, else a prefix */
                    EXPECT(coio_stream_overrun(r) > 0 && coio_stream_overrun(r) <= end);
                }
            } else if (left >= cap || (left >= seplen && left - seplen + 1 > *limit)) {
                EXPECT(n == -EMSGSIZE);
                EXPECT(coio_stream_overrun(r) > 0 && coio_stream_overrun(r) <= left);
            } else if (line) {
                EXPECT(n == (ssize_t)left);
                EXPECT(memcmp(buf, rest, left) == 0);
                pos += left;
            } else {
                EXPECT(n == -EPIPE);
                EXPECT(coio_stream_buffered(r) == left); /* partial record kept */
            }
            break;
        }
        case 2: { /* read_exactly */
            size_t n = (a << 8 | b) % sizeof buf;
            size_t got = 12345;
            ssize_t k = coio_stream_read_exactly(r, buf, n, &got);
            if (left >= n) {
                EXPECT(k == (ssize_t)n && got == n);
                EXPECT(memcmp(buf, rest, n) == 0);
                pos += n;
            } else {
                EXPECT(k == -EPIPE && got == left);
                EXPECT(memcmp(buf, rest, left) == 0);
                pos += left;
                EXPECT(coio_stream_at_eof(r));
            }
            break;
        }
        case 3: { /* read up to n */
            size_t n = (a << 8 | b) % sizeof buf;
            ssize_t k = coio_stream_read(r, buf, n);
            if (n == 0 || left == 0) {
                EXPECT(k == 0);
            } else {
                EXPECT(k > 0 && (size_t)k <= n && (size_t)k <= left);
                EXPECT(memcmp(buf, rest, (size_t)k) == 0);
                pos += (size_t)k;
            }
            break;
        }
        case 4: { /* read_all */
            size_t cap = (a << 8 | b) % sizeof buf;
            ssize_t k = coio_stream_read_all(r, buf, cap);
            if (left > cap) {
                EXPECT(k == -EMSGSIZE);
                EXPECT(coio_stream_buffered(r) > cap);
            } else {
                EXPECT(k == (ssize_t)left);
                EXPECT(memcmp(buf, rest, left) == 0);
                pos += left;
                EXPECT(coio_stream_at_eof(r));
            }
            break;
        }
        case 5: /* change the limit */
            *limit = 1 + (a << 8 | b) % 600;
            EXPECT(coio_stream_set_limit(r, *limit) == 0);
            break;
        }
        EXPECT(!coio_stream_at_eof(r) || pos == len);
    }
}

/* The reader's first limit: 1 to 600 from two input bytes, or the default one. */
static size_t oracle_limit(const uint8_t *two, bool use_default)
{
    return use_default ? COIO_STREAM_LIMIT_DEFAULT : 1 + (size_t)(two[0] | two[1] << 8) % 600;
}

/* Splits the rest of an input into at most *nops operations (3 bytes each: as many as
 * fit) and the payload after them. */
static void oracle_split(const uint8_t *data, size_t size, size_t *nops, const uint8_t **ops,
                         const uint8_t **payload, size_t *len)
{
    if (*nops * 3 > size)
        *nops = size / 3;
    *ops = data;
    *payload = data + *nops * 3;
    *len = size - *nops * 3;
}

#endif
