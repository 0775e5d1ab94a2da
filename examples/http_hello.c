/*
 * HTTP/1.1 server that answers every request with "Hello, World!" (text/plain; HEAD
 * gets the headers only). Requests are parsed line by line with coio_stream_readline.
 *
 *   http_hello [PORT]      (default 8080; 0 picks a free port)
 *
 * Listens on 127.0.0.1:PORT and prints "listening on 127.0.0.1:PORT". A connection stays
 * open (HTTP/1.1, or HTTP/1.0 with "Connection: keep-alive") until the client closes it
 * or sends "Connection: close". Pipelined requests are answered in order, all the
 * answers to what one read brought in going out in one write (COIO_STREAM_FLUSH_ON_READ).
 * Request bodies (Content-Length or chunked) are read and dropped, after a "100
 * Continue" if the client expects one. A malformed request gets 400, a line longer than
 * LINE_LIMIT 431 (414 for the request line), and the connection is closed. No idle
 * timeout: a server facing the internet would put a coio_timeout_begin around
 * read_request.
 *
 * It is the server of the W5 benchmark (bench/w5_http.sh). Runs until killed.
 */
#define _GNU_SOURCE
#include <coio.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#define LINE_LIMIT 8192 /* longest request, header or chunk-size line, with its CRLF */
#define MAX_HEADERS 100

static const char hello[] = "Hello, World!";

typedef struct request {
    bool head;         /* HEAD: no body in the answer */
    bool keep_alive;   /* the connection stays open after the answer */
    int minor;         /* HTTP/1.minor */
    int hosts;         /* Host header lines */
    long long length;  /* Content-Length, -1 if none */
    bool chunked;      /* Transfer-Encoding: chunked */
    bool expect_100;   /* Expect: 100-continue: the client waits for a go-ahead */
} request;

/* ---------------------------------------------------------------- answers */

/* Status line and headers up to Content-Length. The Date changes once a second, so it
 * is formatted once a second, not per request. One thread: no locking. */
static char head[192];
static size_t head_len;
static time_t head_time = -1;

static void refresh_head(void)
{
    time_t now = time(NULL);
    if (now == head_time)
        return;
    struct tm tm;
    char date[64];
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    head_len = (size_t)snprintf(head, sizeof head,
                                "HTTP/1.1 200 OK\r\nServer: coio\r\nDate: %s\r\n"
                                "Content-Type: text/plain\r\nContent-Length: %zu\r\n",
                                date, sizeof hello - 1);
    head_time = now;
}

/* Queues the answer; the stream sends it when it next needs to read (or on close). */
static int answer(coio_stream *s, const request *rq)
{
    static const char end[] = "\r\n", end_close[] = "Connection: close\r\n\r\n",
                      end_keep[] = "Connection: keep-alive\r\n\r\n";
    refresh_head();
    struct iovec iov[3] = {{head, head_len}, {(void *)end, 2}, {(void *)hello, sizeof hello - 1}};
    if (!rq->keep_alive)
        iov[1] = (struct iovec){(void *)end_close, sizeof end_close - 1};
    else if (rq->minor == 0) /* HTTP/1.0 closes unless told otherwise */
        iov[1] = (struct iovec){(void *)end_keep, sizeof end_keep - 1};
    ssize_t r = coio_stream_writev(s, iov, rq->head ? 2 : 3);
    return r < 0 ? (int)r : 0;
}

static const char *reason(int status)
{
    switch (status) {
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 505: return "HTTP Version Not Supported";
    default: return "Bad Request";
    }
}

/* Closes the connection after an answer (and first answers status, if not 0). The
 * client may still be sending (more pipelined requests, the rest of a bad one); closing
 * with unread data would reset the connection, and the reset can destroy the answer
 * before the client reads it. So send it and EOF, and drop what still comes until the
 * client closes too, for at most 2 s (nginx's lingering close). */
static void close_after_answer(coio_stream *s, int status)
{
    char msg[128];
    int n = snprintf(msg, sizeof msg,
                     "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                     status, reason(status));
    coio_scope sc;
    coio_timeout_begin(&sc, 2.0);
    if ((!status || coio_stream_write(s, msg, (size_t)n) >= 0) && coio_stream_write_eof(s) == 0) {
        char junk[4096];
        while (coio_stream_read(s, junk, sizeof junk) > 0) {
        }
    }
    coio_scope_end(&sc);
    coio_stream_close(s);
}

/* ---------------------------------------------------------------- parsing */

/* Reads a line into line[LINE_LIMIT] and cuts its "\r\n" (or bare "\n") off, leaving a
 * NUL-terminated string. Returns its length (0: an empty line), -EMSGSIZE if it is too
 * long, -EPIPE at EOF (before or inside the line), or the stream's error. */
static ssize_t get_line(coio_stream *s, char *line)
{
    ssize_t n = coio_stream_readline(s, line, LINE_LIMIT);
    if (n <= 0)
        return n < 0 ? n : -EPIPE;
    if (line[n - 1] != '\n')
        return -EPIPE; /* the client went away in the middle of a line */
    n -= n > 1 && line[n - 2] == '\r' ? 2 : 1;
    line[n] = '\0';
    return n;
}

/* RFC 9110's tchar: what a method or header name is made of. */
static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* "METHOD SP target SP HTTP/1.x". Returns 0 or an error status. */
static int parse_request_line(const char *p, size_t n, request *rq)
{
    const char *sp1 = memchr(p, ' ', n);
    if (!sp1 || sp1 == p)
        return 400;
    for (const char *m = p; m < sp1; m++)
        if (!is_tchar((unsigned char)*m))
            return 400;
    const char *target = sp1 + 1;
    const char *sp2 = memchr(target, ' ', (size_t)(p + n - target));
    if (!sp2 || sp2 == target)
        return 400;
    const char *v = sp2 + 1;
    if (p + n - v != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' ||
        v[6] != '.' || v[7] < '0' || v[7] > '9')
        return 400; /* also a target with a space in it */
    if (v[5] != '1')
        return 505;
    rq->head = sp1 - p == 4 && memcmp(p, "HEAD", 4) == 0;
    rq->minor = v[7] - '0';
    rq->keep_alive = rq->minor != 0;
    return 0;
}

/* Does the comma-separated list hold token (any case)? */
static bool has_token(const char *list, const char *token)
{
    size_t n = strlen(token);
    for (const char *p = list; *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, ",");
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == n && strncasecmp(p, token, n) == 0)
            return true;
        p += strcspn(p, ",");
    }
    return false;
}

/* "Name: value", the headers this server acts on. Returns 0 or an error status. */
static int parse_header(char *p, size_t n, request *rq)
{
    char *colon = memchr(p, ':', n);
    if (!colon || colon == p)
        return 400;
    for (char *c = p; c < colon; c++)
        if (!is_tchar((unsigned char)*c))
            return 400; /* a space before the colon, or obsolete line folding */
    size_t name_len = (size_t)(colon - p);
    char *v = colon + 1 + strspn(colon + 1, " \t");
    char *e = p + n;
    while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *e = '\0';
#define IS(name) (name_len == sizeof name - 1 && strncasecmp(p, name, name_len) == 0)
    if (IS("Host")) {
        rq->hosts++;
    } else if (IS("Content-Length")) {
        long long len = 0;
        if (!*v)
            return 400;
        for (char *d = v; *d; d++) {
            if (*d < '0' || *d > '9' || len > (LLONG_MAX - 9) / 10)
                return 400;
            len = len * 10 + (*d - '0');
        }
        if (rq->length >= 0 && rq->length != len)
            return 400;
        rq->length = len;
    } else if (IS("Transfer-Encoding")) {
        if (rq->chunked || strcasecmp(v, "chunked") != 0)
            return 501; /* chunked is the only coding a server must know */
        rq->chunked = true;
    } else if (IS("Expect")) {
        if (strcasecmp(v, "100-continue") != 0)
            return 417;
        rq->expect_100 = true;
    } else if (IS("Connection")) {
        if (has_token(v, "close"))
            rq->keep_alive = false;
        else if (rq->minor == 0 && has_token(v, "keep-alive"))
            rq->keep_alive = true;
    }
#undef IS
    return 0;
}

/* Reads and drops n bytes of body. */
static int skip(coio_stream *s, long long n)
{
    char junk[4096];
    while (n > 0) {
        ssize_t r = coio_stream_read(s, junk, n < (long long)sizeof junk ? (size_t)n : sizeof junk);
        if (r <= 0)
            return r < 0 ? (int)r : -EPIPE;
        n -= r;
    }
    return 0;
}

/* Reads and drops a chunked body: "size[;ext]" lines, data, and trailers up to an empty
 * line. Returns 0, an error status (> 0) or a negative errno (connection gone). */
static int skip_chunked(coio_stream *s, char *line)
{
    for (;;) {
        ssize_t n = get_line(s, line);
        if (n < 0)
            return n == -EMSGSIZE ? 400 : (int)n;
        long long size = 0;
        int digits = 0;
        for (char *p = line; *p && *p != ';' && *p != ' ' && *p != '\t'; p++, digits++) {
            int d = *p >= '0' && *p <= '9' ? *p - '0'
                    : (*p | 0x20) >= 'a' && (*p | 0x20) <= 'f' ? (*p | 0x20) - 'a' + 10
                                                               : -1;
            if (d < 0 || digits == 15)
                return 400;
            size = size * 16 + d;
        }
        if (!digits)
            return 400;
        if (size == 0)
            break;
        int r = skip(s, size);
        if (r < 0)
            return r;
        if ((n = get_line(s, line)) != 0) /* the CRLF after the data */
            return n < 0 && n != -EMSGSIZE ? (int)n : 400;
    }
    for (int i = 0;; i++) { /* trailers */
        ssize_t n = get_line(s, line);
        if (n <= 0)
            return n == 0 ? 0 : n == -EMSGSIZE ? 431 : (int)n;
        if (i == MAX_HEADERS)
            return 431;
    }
}

/* Reads one request up to the end of its body. Returns 0 (answer it), an error status
 * to answer before closing, or a negative errno: EOF or the connection failed, close
 * without a word. */
static int read_request(coio_stream *s, char *line, request *rq)
{
    ssize_t n;
    int empty = 0;
    *rq = (request){.length = -1};
    while ((n = get_line(s, line)) == 0) /* RFC 9112 2.2: ignore CRLFs between requests */
        if (++empty > 4)
            return 400;
    if (n < 0)
        return n == -EMSGSIZE ? 414 : (int)n;
    int st = parse_request_line(line, (size_t)n, rq);
    for (int i = 0; st == 0; i++) {
        if ((n = get_line(s, line)) <= 0)
            break;
        st = i < MAX_HEADERS ? parse_header(line, (size_t)n, rq) : 431;
    }
    if (st != 0 || n < 0)
        return st ? st : n == -EMSGSIZE ? 431 : (int)n;
    if (rq->minor >= 1 && rq->hosts != 1)
        return 400; /* RFC 9112 3.2 */
    if (rq->chunked && (rq->length >= 0 || rq->minor == 0))
        return 400; /* ambiguous framing: the way requests are smuggled */
    if ((rq->chunked || rq->length > 0) && rq->expect_100 && rq->minor >= 1) {
        static const char go_on[] = "HTTP/1.1 100 Continue\r\n\r\n";
        int r = (int)coio_stream_write(s, go_on, sizeof go_on - 1); /* sent as we read on */
        if (r < 0)
            return r;
    }
    if (rq->chunked)
        return skip_chunked(s, line);
    return rq->length > 0 ? skip(s, rq->length) : 0;
}

/* ---------------------------------------------------------------- connections */

static int connection(int fd, void *arg)
{
    (void)arg;
    coio_stream_opts o = {.flags = COIO_STREAM_FLUSH_ON_READ, .limit = LINE_LIMIT};
    coio_stream *s = coio_stream_open_ex(fd, &o); /* the server closes fd after us */
    if (!s)
        return 0;
    char line[LINE_LIMIT];
    request rq;
    int st;
    while ((st = read_request(s, line, &rq)) == 0) {
        if (answer(s, &rq) < 0)
            break;
        if (!rq.keep_alive) {
            close_after_answer(s, 0);
            return 0;
        }
        if (coio_stream_drain(s) < 0) /* bounds what a client that never reads costs */
            break;
    }
    if (st > 0)
        close_after_answer(s, st);
    else
        coio_stream_close(s); /* EOF or an error: sends what is held, if it can */
    return 0;
}

static int serve(void *arg)
{
    const char *port = arg;
    int fd = coio_tcp_listen("127.0.0.1", port, 0);
    if (fd < 0) {
        fprintf(stderr, "http_hello: listen on 127.0.0.1:%s: %s\n", port, coio_strerror(fd));
        return 1;
    }
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    coio_server *srv = coio_server_start(fd, connection, NULL, NULL);
    if (!srv) {
        perror("http_hello: coio_server_start");
        coio_close(fd);
        return 1;
    }
    printf("listening on 127.0.0.1:%u\n", ntohs(sa.sin_port));
    fflush(stdout);
    int r = coio_server_wait(srv); /* until accepting fails for good */
    if (r < 0)
        fprintf(stderr, "http_hello: %s\n", coio_strerror(r));
    coio_server_close(srv, 1.0);
    return r < 0;
}

int main(int argc, char **argv)
{
    /* one fd per connection: allow as many as the hard limit does */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int r = coio_run(serve, argc > 1 ? argv[1] : "8080");
    if (r < 0)
        fprintf(stderr, "http_hello: %s\n", coio_strerror(r));
    return r != 0;
}
