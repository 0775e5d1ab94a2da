/*
 * fetch — the seed's "network requests" made real: downloads http:// URLs concurrently
 * on one thread, at most C at a time, each under its own deadline.
 *
 *   fetch [-c concurrency] [-t timeout_s] URL...           (defaults: -c 4 -t 10)
 *
 * One HTTP/1.1 GET per URL (Host header, Connection: close). Bodies delimited by
 * Content-Length, by chunked transfer coding, or by the end of the connection. Prints a
 * line per URL as it completes, then the total:
 *
 *   200     12345 bytes    0.004 s  fnv=89ab01cd23ef4567  http://127.0.0.1:8000/a.txt
 *   ETIMEDOUT   0 bytes    2.001 s  http://127.0.0.1:9/  (the deadline expired)
 *   total: 2 URLs, 1 ok, 1 failed, 12345 bytes, 2.001 s
 *
 * `fnv` is the 64-bit FNV-1a hash of the body, so tests can check the decoding.
 * Exits 0 if every URL got an HTTP response, 1 otherwise, 2 on bad usage.
 */
#define _GNU_SOURCE
#include <coio.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define LINE_MAX_BYTES 8192 /* longest status or header line we accept */
#define BODY_PIECE (64 * 1024)

struct url {
    char host[256];
    char port[8];
    char path[2048];
};

struct job {
    const char *url;
    int status;      /* HTTP status, or a negative errno */
    size_t bytes;    /* body bytes */
    uint64_t fnv;    /* FNV-1a of the body */
    double seconds;
};

static struct job *jobs;
static size_t njobs, next_job;
static double timeout_s = 10;
static int concurrency = 4;

/* ---------------------------------------------------------------- URL */

/* http://host[:port][/path]; IPv6 literals in brackets. 0 or -EINVAL. */
static int parse_url(const char *s, struct url *u)
{
    if (strncasecmp(s, "http://", 7) != 0)
        return -EINVAL;
    s += 7;
    size_t hl = strcspn(s, "/?#");
    const char *hp = s, *rest = s + hl;
    const char *colon = NULL;
    if (*hp == '[') { /* [v6]:port */
        const char *rb = memchr(hp, ']', hl);
        if (!rb)
            return -EINVAL;
        if ((size_t)(rb - hp - 1) >= sizeof u->host)
            return -EINVAL;
        memcpy(u->host, hp + 1, (size_t)(rb - hp - 1));
        u->host[rb - hp - 1] = 0;
        colon = rb + 1 < rest && rb[1] == ':' ? rb + 1 : NULL;
    } else {
        colon = memchr(hp, ':', hl);
        size_t n = colon ? (size_t)(colon - hp) : hl;
        if (n == 0 || n >= sizeof u->host)
            return -EINVAL;
        memcpy(u->host, hp, n);
        u->host[n] = 0;
    }
    if (colon) {
        size_t n = (size_t)(rest - colon - 1);
        if (n == 0 || n >= sizeof u->port || strspn(colon + 1, "0123456789") < n)
            return -EINVAL;
        memcpy(u->port, colon + 1, n);
        u->port[n] = 0;
    } else {
        strcpy(u->port, "80");
    }
    if (*rest == '#' || !*rest)
        rest = "/";
    size_t pl = strcspn(rest, "#");
    if (pl + 2 >= sizeof u->path)
        return -EINVAL;
    size_t off = 0;
    if (*rest == '?') /* "http://h?q" requests "/?q" */
        u->path[off++] = '/';
    memcpy(u->path + off, rest, pl);
    u->path[off + pl] = 0;
    return 0;
}

/* ---------------------------------------------------------------- HTTP */

static void fnv_update(struct job *j, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        j->fnv = (j->fnv ^ (unsigned char)p[i]) * 0x100000001b3ull;
    j->bytes += n;
}

/* Reads one CRLF- (or LF-) terminated line without its terminator, NUL-terminated.
 * Returns its length, or -EPIPE if the connection ended first. */
static ssize_t get_line(coio_stream *s, char *buf, size_t cap)
{
    ssize_t n = coio_stream_readline(s, buf, cap - 1);
    if (n < 0)
        return n;
    if (n == 0 || buf[n - 1] != '\n')
        return -EPIPE; /* EOF inside the header */
    n--;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = 0;
    return n;
}

/* Reads exactly n body bytes (n = SIZE_MAX: until EOF) into the hash. */
static int read_body(coio_stream *s, struct job *j, size_t n, char *buf)
{
    while (n > 0) {
        size_t want = n < BODY_PIECE ? n : BODY_PIECE;
        ssize_t r = coio_stream_read(s, buf, want);
        if (r < 0)
            return (int)r;
        if (r == 0)
            return n == SIZE_MAX ? 0 : -EPIPE; /* Content-Length promised more */
        fnv_update(j, buf, (size_t)r);
        if (n != SIZE_MAX)
            n -= (size_t)r;
    }
    return 0;
}

static int read_chunked(coio_stream *s, struct job *j, char *buf)
{
    char line[LINE_MAX_BYTES];
    for (;;) {
        ssize_t n = get_line(s, line, sizeof line);
        if (n < 0)
            return (int)n;
        char *end;
        errno = 0;
        unsigned long long size = strtoull(line, &end, 16);
        if (end == line || errno || (*end && *end != ';' && *end != ' ' && *end != '\t'))
            return -EPROTO;
        if (size == 0)
            break;
        if (size >= SIZE_MAX)
            return -EPROTO;
        int r = read_body(s, j, (size_t)size, buf);
        if (r < 0)
            return r;
        n = get_line(s, line, sizeof line); /* the CRLF after the data */
        if (n != 0)
            return n < 0 ? (int)n : -EPROTO;
    }
    for (;;) { /* trailer fields, up to the empty line */
        ssize_t n = get_line(s, line, sizeof line);
        if (n <= 0)
            return (int)n;
    }
}

/* GET u over s. Returns the status (>= 100) or a negative errno. */
static int http_get(coio_stream *s, const struct url *u, struct job *j, char *buf)
{
    char req[4096];
    bool v6 = strchr(u->host, ':') != NULL;
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s%s%s%s%s\r\nUser-Agent: coio-fetch/%s\r\n"
                     "Accept: */*\r\nConnection: close\r\n\r\n",
                     u->path, v6 ? "[" : "", u->host, v6 ? "]" : "",
                     strcmp(u->port, "80") ? ":" : "", strcmp(u->port, "80") ? u->port : "",
                     coio_version_string());
    if (n < 0 || (size_t)n >= sizeof req)
        return -EINVAL;
    ssize_t w = coio_stream_write(s, req, (size_t)n);
    int r = w < 0 ? (int)w : coio_stream_flush(s);
    if (r < 0)
        return r;

    char line[LINE_MAX_BYTES];
    int status;
    do { /* skip 1xx interim responses */
        ssize_t l = get_line(s, line, sizeof line);
        if (l < 0)
            return (int)l;
        if (sscanf(line, "HTTP/1.%*1[01] %3d", &status) != 1 || status < 100 || status > 999)
            return -EPROTO;
        bool chunked = false;
        size_t length = SIZE_MAX;
        while ((l = get_line(s, line, sizeof line)) > 0) {
            char *colon = strchr(line, ':');
            if (!colon)
                return -EPROTO;
            *colon = 0;
            char *v = colon + 1 + strspn(colon + 1, " \t");
            if (!strcasecmp(line, "Content-Length")) {
                char *end;
                errno = 0;
                unsigned long long cl = strtoull(v, &end, 10);
                if (end == v || errno || cl >= SIZE_MAX)
                    return -EPROTO;
                length = (size_t)cl;
            } else if (!strcasecmp(line, "Transfer-Encoding")) {
                chunked = strcasestr(v, "chunked") != NULL;
            }
        }
        if (l < 0)
            return (int)l;
        if (status < 200)
            continue;
        if (status == 204 || status == 304)
            r = 0; /* no body */
        else if (chunked)
            r = read_chunked(s, j, buf);
        else
            r = read_body(s, j, length, buf); /* SIZE_MAX: until the connection closes */
    } while (status < 200);
    return r < 0 ? r : status;
}

/* ---------------------------------------------------------------- tasks */

static void fetch_one(struct job *j, char *buf)
{
    struct url u;
    double t0 = coio_now();
    j->fnv = 0xcbf29ce484222325ull;
    int r = parse_url(j->url, &u);
    if (r == 0) {
        coio_scope sc;
        coio_timeout_begin(&sc, timeout_s);
        int fd = coio_tcp_connect(u.host, u.port); /* TCP_NODELAY on */
        if (fd < 0) {
            r = fd;
        } else {
            coio_stream *s = coio_stream_open(fd, COIO_STREAM_OWN_FD);
            if (!s) {
                r = -errno;
                coio_close(fd);
            } else {
                r = http_get(s, &u, j, buf);
                coio_stream_abort(s); /* nothing left to send: no need to flush */
            }
        }
        if (coio_scope_end(&sc) == -ETIMEDOUT && r < 100)
            r = -ETIMEDOUT;
    }
    j->status = r;
    j->seconds = coio_now() - t0;
    if (r >= 100)
        printf("%-3d %13zu bytes %8.3f s  fnv=%016llx  %s\n", r, j->bytes, j->seconds,
               (unsigned long long)j->fnv, j->url);
    else
        printf("%-9s %7zu bytes %8.3f s  %s  (%s)\n", coio_err_name(r), j->bytes, j->seconds,
               j->url, coio_strerror(r));
    fflush(stdout);
}

/* A worker takes the next URL until none is left: `concurrency` workers are the
 * concurrency limit, with no semaphore needed. */
static int worker(void *arg)
{
    (void)arg;
    char *buf = malloc(BODY_PIECE);
    if (!buf)
        return -ENOMEM;
    while (next_job < njobs && !coio_is_cancelled())
        fetch_one(&jobs[next_job++], buf);
    free(buf);
    return 0;
}

static int main_task(void *arg)
{
    (void)arg;
    size_t nw = (size_t)concurrency < njobs ? (size_t)concurrency : njobs;
    coio_task **w = calloc(nw, sizeof *w);
    if (!w)
        return -ENOMEM;
    for (size_t i = 0; i < nw; i++)
        w[i] = coio_spawn(worker, NULL);
    int r = coio_gather_n(w, nw, NULL);
    free(w);
    return r;
}

static void usage(void)
{
    fprintf(stderr, "usage: fetch [-c concurrency] [-t timeout_s] URL...\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int opt;
    while ((opt = getopt(argc, argv, "c:t:h")) != -1) {
        char *end;
        switch (opt) {
        case 'c':
            concurrency = (int)strtol(optarg, &end, 10);
            if (*end || concurrency < 1)
                usage();
            break;
        case 't':
            timeout_s = strtod(optarg, &end);
            if (*end || !(timeout_s > 0))
                usage();
            break;
        default:
            usage();
        }
    }
    if (optind >= argc)
        usage();
    njobs = (size_t)(argc - optind);
    jobs = calloc(njobs, sizeof *jobs);
    if (!jobs)
        return 1;
    for (size_t i = 0; i < njobs; i++)
        jobs[i].url = argv[optind + (int)i];

    double t0 = coio_now();
    int r = coio_run(main_task, NULL);
    double elapsed = coio_now() - t0;
    if (r < 0) {
        fprintf(stderr, "fetch: %s\n", coio_strerror(r));
        return 1;
    }
    size_t ok = 0, bytes = 0;
    for (size_t i = 0; i < njobs; i++) {
        ok += jobs[i].status >= 100;
        bytes += jobs[i].bytes;
    }
    printf("total: %zu URLs, %zu ok, %zu failed, %zu bytes, %.3f s\n", njobs, ok, njobs - ok,
           bytes, elapsed);
    free(jobs);
    return ok == njobs ? 0 : 1;
}
