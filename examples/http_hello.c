/*
 * HTTP/1.1 server that answers every request with "Hello, World!" (text/plain; HEAD
 * gets the headers only), with the timeouts and limits a server facing real clients
 * needs.
 *
 *   http_hello [OPTIONS] [PORT]      (default 8080; 0 picks a free port)
 *     --header-timeout S     the request line and headers must arrive within S seconds
 *                            of the connection (or, later, of the request's first byte)
 *                            (default 60, nginx's client_header_timeout)
 *     --body-timeout S       longest wait for the next piece of a request body
 *                            (default 60, nginx's client_body_timeout)
 *     --keepalive-timeout S  how long an idle kept-alive connection stays open
 *                            (default 75, nginx's keepalive_timeout)
 *     --send-timeout S       longest wait for a client to take answers it let pile up
 *                            (default 60, nginx's send_timeout)
 *     --max-body BYTES       largest request body; 0: no limit (default 1048576,
 *                            nginx's client_max_body_size)
 *     --tls-cert FILE        serve HTTPS: the certificate chain (PEM, leaf first)
 *     --tls-key FILE         and its private key (PEM; default: in the --tls-cert file)
 *
 * Listens on 127.0.0.1:PORT and prints "listening on 127.0.0.1:PORT" ("listening on
 * https://127.0.0.1:PORT" with TLS). With TLS, the handshake must end within the header
 * timeout; a failed one closes the connection without a word. A connection stays
 * open (HTTP/1.1, or HTTP/1.0 with "Connection: keep-alive") until the client closes it,
 * sends "Connection: close" or stays idle past the keep-alive timeout. Pipelined requests
 * are answered in order, all the answers to what one read brought in going out in one
 * write (COIO_STREAM_FLUSH_ON_READ). Request bodies (Content-Length or chunked) are read
 * and dropped, after a "100 Continue" if the client expects one.
 *
 * Parsing is strict, as nginx's: a malformed request gets 400 (a lowercase method, a
 * control byte in the target or a header value, a CR not followed by LF, a missing
 * Host...), a line longer than LINE_LIMIT 431 (414 for the request line), a body over
 * --max-body 413, a header or body timeout 408, and the connection is closed. A NUL or
 * a bare CR is refused as soon as it arrives, not when its line ends: the request head
 * is scanned as it comes in, from the connection's own buffer (a stream cannot be
 * looked into without consuming it). A connection idle past its timeout, having sent
 * nothing of a request, is closed without a word. Out of fds, the server stops
 * accepting (clients wait in the listen backlog) and accepts again as soon as timed-out
 * connections give fds back (coio_server retries EMFILE, here at least every 0.5 s).
 *
 * Left out, as a real deployment would add them: HTTP/2, limits per client
 * address (connections, request rate), a minimum transfer rate (a client sending one
 * body byte per body timeout is served, bounded by --max-body), a limit on the whole
 * header block (up to MAX_HEADERS lines of LINE_LIMIT), logging, and a graceful
 * shutdown on SIGTERM.
 *
 * It is the server of the W5 benchmark (bench/w5_http.sh) and, with TLS, of W10
 * (bench/w10_https.sh). Runs until killed.
 */
#define _GNU_SOURCE
#include <coio.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
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
/* The input buffer: at least the stream's own buffer size, so that a read into an empty
 * one goes straight from the kernel into it (the stream copies nothing), and twice the
 * longest line, so that moving a partial line to the front always makes room. */
#define IN_SIZE (16 * 1024)
_Static_assert(IN_SIZE >= 2 * LINE_LIMIT, "a partial line must leave room to read");

static double header_timeout = 60, body_timeout = 60, keepalive_timeout = 75,
              send_timeout = 60;
static long long max_body = 1024 * 1024;
static coio_tls_config *tls_cfg; /* --tls-cert: serve HTTPS */

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

/* A connection: its stream (which buffers the answers) and the request bytes read from
 * it and not yet parsed, in[pos, len). */
typedef struct conn {
    coio_stream *s;
    size_t pos, len;
    bool started; /* bytes of the current request have arrived */
    char in[IN_SIZE];
} conn;

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
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
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
 * before the client reads it. So send it and EOF (within the send timeout), and drop
 * what still comes until the client closes too, for at most 2 s (nginx's lingering
 * close). */
static void close_after_answer(coio_stream *s, int status)
{
    char msg[128];
    int n = snprintf(msg, sizeof msg,
                     "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                     status, reason(status));
    coio_scope sc;
    coio_timeout_begin(&sc, send_timeout);
    int r = status && coio_stream_write(s, msg, (size_t)n) < 0 ? -1 : coio_stream_write_eof(s);
    coio_scope_end(&sc);
    if (r == 0) {
        char junk[4096];
        coio_timeout_begin(&sc, 2.0);
        while (coio_stream_read(s, junk, sizeof junk) > 0) {
        }
        coio_scope_end(&sc);
    }
    coio_stream_abort(s); /* all was sent, or the client would not take it */
}

/* Closes after EOF or an error: sends what is held if the client takes it within the
 * send timeout, else drops it. */
static void close_quietly(coio_stream *s)
{
    coio_scope sc;
    coio_timeout_begin(&sc, send_timeout);
    int r = coio_stream_flush(s);
    coio_scope_end(&sc);
    if (r == 0)
        coio_stream_close(s);
    else
        coio_stream_abort(s);
}

/* ---------------------------------------------------------------- input */

/* Reads more of the request into c->in, waiting at most `timeout` seconds (< 0: only
 * the enclosing deadline scope, if any). Returns 0, -EPIPE at EOF, -ETIMEDOUT or the
 * stream's error. */
static int fill(conn *c, double timeout)
{
    if (c->pos == c->len) {
        c->pos = c->len = 0;
    } else if (c->len == sizeof c->in) { /* a partial line at the end: move it up */
        memmove(c->in, c->in + c->pos, c->len - c->pos);
        c->len -= c->pos;
        c->pos = 0;
    }
    ssize_t r;
    if (timeout < 0) {
        r = coio_stream_read(c->s, c->in + c->len, sizeof c->in - c->len);
    } else {
        coio_scope sc;
        coio_timeout_begin(&sc, timeout);
        r = coio_stream_read(c->s, c->in + c->len, sizeof c->in - c->len);
        coio_scope_end(&sc);
    }
    if (r <= 0)
        return r < 0 ? (int)r : -EPIPE;
    c->len += (size_t)r;
    c->started = true;
    return 0;
}

/* The next line, its "\r\n" (or bare "\n") replaced by a NUL: *line points into c->in
 * until the next call. Returns its length (0: an empty line), -EMSGSIZE if it is longer
 * than LINE_LIMIT, -EPROTO on a NUL or a CR not followed by LF (said at once: no line
 * end can make them valid), -EPIPE at EOF, or fill's error. */
static ssize_t get_line(conn *c, char **line, double timeout)
{
    size_t off = 0; /* of c->in + c->pos: scanned up to here */
    for (;;) {
        char *p = c->in + c->pos;
        size_t avail = c->len - c->pos;
        char *lf = memchr(p + off, '\n', avail - off);
        if (lf) {
            size_t n = (size_t)(lf - p);
            if (n + 1 > LINE_LIMIT)
                return -EMSGSIZE;
            c->pos += n + 1;
            if (n > 0 && p[n - 1] == '\r')
                n--;
            p[n] = '\0';
            *line = p;
            return (ssize_t)n;
        }
        for (size_t i = off; i < avail; i++)
            if (p[i] == '\0' || (p[i] == '\r' && i + 1 < avail))
                return -EPROTO;
        if (avail >= LINE_LIMIT)
            return -EMSGSIZE;
        off = avail ? avail - 1 : 0; /* a CR at the end: see what follows it */
        int r = fill(c, timeout);
        if (r < 0)
            return r;
    }
}

/* Reads and drops n bytes of body, waiting at most the body timeout for each piece. */
static int skip(conn *c, long long n)
{
    for (;;) {
        size_t have = c->len - c->pos;
        size_t take = (long long)have < n ? have : (size_t)n;
        c->pos += take;
        n -= (long long)take;
        if (n == 0)
            return 0;
        int r = fill(c, body_timeout); /* the buffer is empty: reads straight into it */
        if (r < 0)
            return r;
    }
}

/* ---------------------------------------------------------------- parsing */

/* RFC 9110's tchar: what a header name is made of. */
static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* "METHOD SP target SP HTTP/1.x". Methods are case-sensitive and every registered one
 * is upper case: like nginx, take A-Z, '-' and '_' only. The target is visible ASCII
 * (bytes >= 0x80 pass, as nginx lets raw UTF-8 through). Returns 0 or an error status. */
static int parse_request_line(const char *p, size_t n, request *rq)
{
    const char *sp1 = memchr(p, ' ', n);
    if (!sp1 || sp1 == p)
        return 400;
    for (const char *m = p; m < sp1; m++)
        if (!((*m >= 'A' && *m <= 'Z') || *m == '-' || *m == '_'))
            return 400;
    const char *target = sp1 + 1;
    const char *sp2 = memchr(target, ' ', (size_t)(p + n - target));
    if (!sp2 || sp2 == target)
        return 400;
    for (const char *t = target; t < sp2; t++)
        if ((unsigned char)*t <= ' ' || *t == 0x7f)
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

/* "Name: value", the headers this server acts on. A value is visible characters,
 * spaces, tabs and bytes >= 0x80 (RFC 9110 5.5): any other control byte, CR included,
 * is refused. Returns 0 or an error status. */
static int parse_header(char *p, size_t n, request *rq)
{
    char *colon = memchr(p, ':', n);
    if (!colon || colon == p)
        return 400;
    for (char *c = p; c < colon; c++)
        if (!is_tchar((unsigned char)*c))
            return 400; /* a space before the colon, or obsolete line folding */
    size_t name_len = (size_t)(colon - p);
    char *e = p + n;
    for (char *c = colon + 1; c < e; c++)
        if (((unsigned char)*c < ' ' && *c != '\t') || *c == 0x7f)
            return 400;
    char *v = colon + 1 + strspn(colon + 1, " \t");
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

/* An error from reading the head or the body, as what to do: a status to answer, or a
 * negative errno (close without a word: EOF, a reset, a client gone idle). */
static int input_error(ssize_t err, int too_long, bool started)
{
    switch (err) {
    case -EMSGSIZE: return too_long;
    case -EPROTO: return 400;
    case -ETIMEDOUT: return started ? 408 : -ETIMEDOUT;
    default: return (int)err;
    }
}

/* Reads and drops a chunked body: "size[;ext]" lines, data, and trailers up to an empty
 * line. Returns 0, an error status (> 0) or a negative errno (connection gone). */
static int skip_chunked(conn *c)
{
    char *line;
    long long total = 0;
    for (;;) {
        ssize_t n = get_line(c, &line, body_timeout);
        if (n < 0)
            return input_error(n, 400, true);
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
        total += size;
        if (max_body && total > max_body)
            return 413;
        int r = skip(c, size);
        if (r < 0)
            return input_error(r, 400, true);
        if ((n = get_line(c, &line, body_timeout)) != 0) /* the CRLF after the data */
            return n < 0 ? input_error(n, 400, true) : 400;
    }
    for (int i = 0;; i++) { /* trailers */
        ssize_t n = get_line(c, &line, body_timeout);
        if (n <= 0)
            return n == 0 ? 0 : input_error(n, 431, true);
        if (i == MAX_HEADERS)
            return 431;
    }
}

/* Reads the request line and headers. Returns 0, an error status or a negative errno. */
static int read_head(conn *c, request *rq)
{
    char *line;
    ssize_t n;
    int empty = 0;
    while ((n = get_line(c, &line, -1)) == 0) /* RFC 9112 2.2: ignore CRLFs between requests */
        if (++empty > 4)
            return 400;
    if (n < 0)
        return input_error(n, 414, c->started);
    int st = parse_request_line(line, (size_t)n, rq);
    for (int i = 0; st == 0; i++) {
        if ((n = get_line(c, &line, -1)) <= 0)
            break;
        st = i < MAX_HEADERS ? parse_header(line, (size_t)n, rq) : 431;
    }
    if (st != 0 || n < 0)
        return st ? st : input_error(n, 431, true);
    if (rq->minor >= 1 && rq->hosts != 1)
        return 400; /* RFC 9112 3.2 */
    if (rq->chunked && (rq->length >= 0 || rq->minor == 0))
        return 400; /* ambiguous framing: the way requests are smuggled */
    if (max_body && rq->length > max_body)
        return 413; /* before a 100 Continue invites the body */
    return 0;
}

/* Reads one request up to the end of its body. `first`: the connection's first, which
 * the header timeout covers from the start; a later one may keep the client waiting up
 * to the keep-alive timeout before it starts. Returns 0 (answer it), an error status
 * to answer before closing, or a negative errno: close without a word. */
static int read_request(conn *c, request *rq, bool first)
{
    *rq = (request){.length = -1};
    c->started = c->pos < c->len;
    if (!first && !c->started) {
        int r = fill(c, keepalive_timeout);
        if (r < 0)
            return r;
    }
    coio_scope sc;
    coio_timeout_begin(&sc, header_timeout);
    int st = read_head(c, rq); /* a timeout: 408, or -ETIMEDOUT if nothing came */
    coio_scope_end(&sc);
    if (st != 0)
        return st;
    if ((rq->chunked || rq->length > 0) && rq->expect_100 && rq->minor >= 1) {
        static const char go_on[] = "HTTP/1.1 100 Continue\r\n\r\n";
        int r = (int)coio_stream_write(c->s, go_on, sizeof go_on - 1); /* sent as we read on */
        if (r < 0)
            return r;
    }
    if (rq->chunked)
        return skip_chunked(c);
    int r = rq->length > 0 ? skip(c, rq->length) : 0;
    return r < 0 ? input_error(r, 400, true) : 0;
}

/* ---------------------------------------------------------------- connections */

static int connection(int fd, void *arg)
{
    (void)arg;
    conn c; /* not zeroed as a whole: 16 KiB of buffer need no clearing */
    c.pos = c.len = 0;
    c.started = false;
    coio_stream_opts o = {.flags = COIO_STREAM_FLUSH_ON_READ};
    if (tls_cfg) {
        coio_tls *t;
        int r;
        coio_scope sc;
        coio_timeout_begin(&sc, header_timeout);
        r = coio_tls_accept(tls_cfg, fd, 0, &t);
        coio_scope_end(&sc);
        if (r < 0)
            return 0; /* not TLS, refused, or too slow: nothing to answer */
        c.s = coio_tls_stream_open(t, &o);
        if (!c.s) {
            coio_tls_abort(t);
            return 0;
        }
    } else {
        c.s = coio_stream_open_ex(fd, &o); /* the server closes fd after us */
        if (!c.s)
            return 0;
    }
    request rq;
    int st;
    for (bool first = true; (st = read_request(&c, &rq, first)) == 0; first = false) {
        if (answer(c.s, &rq) < 0)
            break;
        if (!rq.keep_alive) {
            close_after_answer(c.s, 0);
            return 0;
        }
        /* A client that sends requests and never reads the answers: past the high
         * mark, wait for it to take them, but not for ever. */
        if (coio_stream_write_buffered(c.s) > COIO_STREAM_HIGH_WATER_DEFAULT) {
            coio_scope sc;
            coio_timeout_begin(&sc, send_timeout);
            int r = coio_stream_drain(c.s);
            coio_scope_end(&sc);
            if (r < 0) {
                coio_stream_abort(c.s);
                return 0;
            }
        }
    }
    if (st > 0)
        close_after_answer(c.s, st);
    else
        close_quietly(c.s); /* EOF, an error, or idle too long */
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
    /* Out of fds, retry accepting at least every 0.5 s (nginx waits as long). */
    coio_server_opts so = {.accept_retry_max = 0.5};
    coio_server *srv = coio_server_start(fd, connection, NULL, &so);
    if (!srv) {
        perror("http_hello: coio_server_start");
        coio_close(fd);
        return 1;
    }
    printf("listening on %s127.0.0.1:%u\n", tls_cfg ? "https://" : "", ntohs(sa.sin_port));
    fflush(stdout);
    int r = coio_server_wait(srv); /* until accepting fails for good */
    if (r < 0)
        fprintf(stderr, "http_hello: %s\n", coio_strerror(r));
    coio_server_close(srv, 1.0);
    return r < 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: http_hello [--header-timeout S] [--body-timeout S] "
                    "[--keepalive-timeout S] [--send-timeout S] [--max-body BYTES]\n"
                    "                  [--tls-cert FILE [--tls-key FILE]] [PORT]\n");
    exit(2);
}

/* A number of seconds >= 0 (0: expire at once), or usage. */
static double seconds_arg(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= 0) || v > 1e9)
        usage();
    return v;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"header-timeout", required_argument, NULL, 'H'},
        {"body-timeout", required_argument, NULL, 'B'},
        {"keepalive-timeout", required_argument, NULL, 'K'},
        {"send-timeout", required_argument, NULL, 'S'},
        {"max-body", required_argument, NULL, 'M'},
        {"tls-cert", required_argument, NULL, 'T'},
        {"tls-key", required_argument, NULL, 'Y'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    const char *tls_cert = NULL, *tls_key = NULL;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;
        switch (opt) {
        case 'H': header_timeout = seconds_arg(optarg); break;
        case 'B': body_timeout = seconds_arg(optarg); break;
        case 'K': keepalive_timeout = seconds_arg(optarg); break;
        case 'S': send_timeout = seconds_arg(optarg); break;
        case 'M':
            errno = 0;
            max_body = strtoll(optarg, &end, 10);
            if (end == optarg || *end || errno || max_body < 0)
                usage();
            break;
        case 'T': tls_cert = optarg; break;
        case 'Y': tls_key = optarg; break;
        default: usage();
        }
    }
    if (argc - optind > 1 || (tls_key && !tls_cert))
        usage();
    if (tls_cert) {
        tls_cfg = coio_tls_config_create(COIO_TLS_SERVER);
        int r = tls_cfg ? coio_tls_config_set_cert_file(tls_cfg, tls_cert, tls_key) : -errno;
        if (r < 0) {
            fprintf(stderr, "http_hello: %s: %s\n", tls_cert,
                    coio_tls_last_error()[0] ? coio_tls_last_error() : coio_strerror(r));
            return 1;
        }
    }
    /* one fd per connection: allow as many as the hard limit does */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int r = coio_run(serve, optind < argc ? argv[optind] : "8080");
    if (r < 0)
        fprintf(stderr, "http_hello: %s\n", coio_strerror(r));
    if (tls_cfg)
        coio_tls_config_destroy(tls_cfg);
    return r != 0;
}
