/*
 * fetch — the seed's "network requests" made real: downloads http:// and https:// URLs
 * concurrently on one thread, at most C at a time, each under its own deadline.
 *
 *   fetch [-c concurrency] [-t timeout_s] [-L] [--max-redirs N] [-f] [--ca-file FILE]
 *         [-k] URL...
 *     -c N            at most N requests at a time (default 4)
 *     -t S            each request (each redirect hop) must finish within S seconds
 *                     (default 10)
 *     -L, --location  follow redirects (301, 302, 303, 307, 308), like curl -L
 *     --max-redirs N  follow at most N redirects per URL (default 10), then fail
 *     -f, --fail      exit 22 when a URL's final answer is an HTTP error (>= 400)
 *     --ca-file FILE  https: trust the CA certificates in FILE (PEM) instead of the
 *                     system's
 *     -k, --insecure  https: do not verify the server's certificate at all (anyone in
 *                     the middle can read and change the traffic; for tests only)
 *
 * https:// verifies the server's certificate chain and name (or IP address) by default;
 * a failure shows its reason, e.g. "EKEYEXPIRED ... (certificate verify failed:
 * certificate has expired)". A body that runs to the end of the connection must end
 * with TLS's close_notify: a server that just closes is ECONNABORTED (truncated).
 *
 * One HTTP/1.1 GET per URL (Host header, Connection: close). Bodies delimited by
 * Content-Length, by chunked transfer coding, or by the end of the connection. Prints a
 * line per URL as it completes, then the total:
 *
 *   200     12345 bytes    0.004 s  fnv=89ab01cd23ef4567  http://127.0.0.1:8000/a.txt
 *   301         0 bytes    0.001 s  fnv=cbf29ce484222325  http://127.0.0.1:8000/old  -> /new
 *   ETIMEDOUT   0 bytes    2.001 s  http://127.0.0.1:9/  (the deadline expired)
 *   total: 3 URLs, 2 ok, 1 failed, 12345 bytes, 2.001 s
 *
 * `fnv` is the 64-bit FNV-1a hash of the body, so tests can check the decoding. A
 * redirect not followed shows its Location after "->"; one followed adds "(N redirects:
 * FINAL-URL)". Responses are parsed strictly: a malformed status line, Content-Length
 * ("3abc", "-1", two different values, with Transfer-Encoding) or chunk size is EPROTO
 * with the reason in parentheses, never a guess. Out of file descriptors (EMFILE,
 * ENFILE), a request waits for another one to finish and tries again; it fails only
 * when none is left in flight to free one.
 *
 * Exits 0 if every URL got an HTTP response, 1 otherwise, 22 with --fail if they all
 * did but one was an HTTP error, 2 on bad usage.
 *
 * Left out, as a real client would add them: proxies, keeping connections
 * alive across URLs, compressed bodies, cookies and authentication, and retries after
 * network errors.
 */
#define _GNU_SOURCE
#include <coio.h>

#include <errno.h>
#include <getopt.h>
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
#define URL_MAX 2400

struct url {
    bool tls; /* https */
    char host[256];
    char port[8];
    char path[2048];
};

struct job {
    const char *url;
    int status;      /* HTTP status, or a negative errno */
    const char *why; /* what was wrong with a response (status -EPROTO), or NULL */
    char tls_why[256]; /* a TLS failure's reason (why points here) */
    size_t bytes;    /* body bytes */
    uint64_t fnv;    /* FNV-1a of the body */
    double seconds;
    int redirects;          /* followed */
    char location[URL_MAX]; /* of a redirect not followed; the final URL if followed */
};

static struct job *jobs;
static size_t njobs, next_job;
static double timeout_s = 10;
static int concurrency = 4;
static bool follow, fail_on_http_error;
static int max_redirs = 10;
static const char *ca_file;
static bool insecure;
static coio_tls_config *tls_cfg; /* for https, made on first use */

/* Requests between connecting and closing (they hold or are getting a socket), and a
 * condition on which requests that found no free fd wait for one of them to end. */
static int in_flight;
static coio_cond *fd_freed;

/* ---------------------------------------------------------------- URL */

/* http[s]://host[:port][/path]; IPv6 literals in brackets. 0 or -EINVAL. */
static int parse_url(const char *s, struct url *u)
{
    u->tls = strncasecmp(s, "https://", 8) == 0;
    if (!u->tls && strncasecmp(s, "http://", 7) != 0)
        return -EINVAL;
    s += u->tls ? 8 : 7;
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
        strcpy(u->port, u->tls ? "443" : "80");
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

/* "host[:port]" of u as it goes in a URL or a Host header. */
static void authority(const struct url *u, char *out, size_t cap)
{
    bool v6 = strchr(u->host, ':') != NULL,
         port = strcmp(u->port, u->tls ? "443" : "80") != 0;
    snprintf(out, cap, "%s%s%s%s%s", v6 ? "[" : "", u->host, v6 ? "]" : "", port ? ":" : "",
             port ? u->port : "");
}

/* The absolute URL a Location value names, relative to base (RFC 3986 5.2, without
 * dot-segment removal). 0, -EPROTONOSUPPORT (not http:// or https://) or -EINVAL (too
 * long). */
static int resolve(const struct url *base, const char *loc, char *out, size_t cap)
{
    const char *scheme_name = base->tls ? "https" : "http";
    char auth[300];
    authority(base, auth, sizeof auth);
    static const char scheme_chars[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.";
    size_t scheme = strspn(loc, scheme_chars);
    int n;
    if (scheme > 0 && loc[scheme] == ':') {
        if (strncasecmp(loc, "http://", 7) != 0 && strncasecmp(loc, "https://", 8) != 0)
            return -EPROTONOSUPPORT;
        n = snprintf(out, cap, "%s", loc);
    } else if (loc[0] == '/' && loc[1] == '/') {
        n = snprintf(out, cap, "%s:%s", scheme_name, loc);
    } else if (loc[0] == '/') {
        n = snprintf(out, cap, "%s://%s%s", scheme_name, auth, loc);
    } else { /* relative to base's directory */
        size_t dir = strcspn(base->path, "?");
        while (dir > 0 && base->path[dir - 1] != '/')
            dir--;
        n = snprintf(out, cap, "%s://%s%.*s%s", scheme_name, auth, (int)dir, base->path, loc);
    }
    return n < 0 || (size_t)n >= cap ? -EINVAL : 0;
}

/* ---------------------------------------------------------------- HTTP */

static void fnv_update(struct job *j, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        j->fnv = (j->fnv ^ (unsigned char)p[i]) * 0x100000001b3ull;
    j->bytes += n;
}

/* A protocol error, with its reason for the report. */
static int bad(struct job *j, const char *why)
{
    j->why = why;
    return -EPROTO;
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

/* "HTTP/1.x SP 3DIGIT [SP reason]": the status, or -1. */
static int parse_status(const char *l, size_t n)
{
    if (n < 12 || memcmp(l, "HTTP/1.", 7) != 0 || (l[7] != '0' && l[7] != '1') || l[8] != ' ')
        return -1;
    int st = 0;
    for (int i = 9; i < 12; i++) {
        if (l[i] < '0' || l[i] > '9')
            return -1;
        st = st * 10 + (l[i] - '0');
    }
    return st >= 100 && (n == 12 || l[12] == ' ') ? st : -1;
}

/* A Content-Length value: decimal digits only, and at most SIZE_MAX - 1. 0 or -1. */
static int parse_length(const char *v, size_t *out)
{
    size_t n = 0;
    if (!*v)
        return -1;
    for (; *v; v++) {
        if (*v < '0' || *v > '9' || n > (SIZE_MAX - 2) / 10)
            return -1;
        n = n * 10 + (size_t)(*v - '0');
    }
    *out = n;
    return 0;
}

/* A chunk-size line: hex digits, then optional whitespace and ";extensions". 0 or -1. */
static int parse_chunk_size(const char *l, size_t *out)
{
    size_t n = 0;
    const char *p = l;
    for (;; p++) {
        int d = *p >= '0' && *p <= '9' ? *p - '0'
                : (*p | 0x20) >= 'a' && (*p | 0x20) <= 'f' ? (*p | 0x20) - 'a' + 10
                                                           : -1;
        if (d < 0)
            break;
        if (n > (SIZE_MAX - 16) / 16)
            return -1;
        n = n * 16 + (size_t)d;
    }
    if (p == l)
        return -1; /* no digits: "-1", "+5", "" */
    p += strspn(p, " \t");
    if (*p && *p != ';')
        return -1;
    *out = n;
    return 0;
}

/* Is token the last element of the comma-separated list (any case)? */
static bool last_token_is(const char *list, const char *token)
{
    const char *p = strrchr(list, ',');
    p = p ? p + 1 : list;
    p += strspn(p, " \t");
    size_t n = strlen(token);
    return strncasecmp(p, token, n) == 0 && p[n + strspn(p + n, " \t")] == '\0';
}

static int read_chunked(coio_stream *s, struct job *j, char *buf)
{
    char line[LINE_MAX_BYTES];
    for (;;) {
        ssize_t n = get_line(s, line, sizeof line);
        if (n < 0)
            return (int)n;
        size_t size;
        if (parse_chunk_size(line, &size) < 0)
            return bad(j, "bad chunk size");
        if (size == 0)
            break;
        int r = read_body(s, j, size, buf);
        if (r < 0)
            return r;
        n = get_line(s, line, sizeof line); /* the CRLF after the data */
        if (n != 0)
            return n < 0 ? (int)n : bad(j, "chunk longer than its size");
    }
    for (;;) { /* trailer fields, up to the empty line */
        ssize_t n = get_line(s, line, sizeof line);
        if (n <= 0)
            return (int)n;
    }
}

/* Is status a redirect that names its target in Location? */
static bool is_redirect(int status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* GET u over s. Returns the status (>= 100) or a negative errno; a redirect's Location
 * goes to j->location. */
static int http_get(coio_stream *s, const struct url *u, struct job *j, char *buf)
{
    char req[4096], auth[300];
    authority(u, auth, sizeof auth);
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: coio-fetch/%s\r\n"
                     "Accept: */*\r\nConnection: close\r\n\r\n",
                     u->path, auth, coio_version_string());
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
        if ((status = parse_status(line, (size_t)l)) < 0)
            return bad(j, "bad status line");
        bool chunked = false, has_te = false;
        size_t length = SIZE_MAX;
        j->location[0] = 0;
        while ((l = get_line(s, line, sizeof line)) > 0) {
            char *colon = strchr(line, ':');
            if (!colon || colon == line || line[0] == ' ' || line[0] == '\t')
                return bad(j, "bad header line");
            *colon = 0;
            char *v = colon + 1 + strspn(colon + 1, " \t");
            char *e = line + l;
            while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            *e = 0;
            if (!strcasecmp(line, "Content-Length")) {
                size_t cl;
                if (parse_length(v, &cl) < 0)
                    return bad(j, "bad Content-Length");
                if (length != SIZE_MAX && length != cl)
                    return bad(j, "two different Content-Lengths");
                length = cl;
            } else if (!strcasecmp(line, "Transfer-Encoding")) {
                has_te = true;
                chunked = last_token_is(v, "chunked");
            } else if (!strcasecmp(line, "Location")) {
                if ((size_t)snprintf(j->location, sizeof j->location, "%s", v) >=
                    sizeof j->location)
                    return bad(j, "Location too long");
            }
        }
        if (l < 0)
            return (int)l;
        if (has_te && length != SIZE_MAX)
            return bad(j, "both Content-Length and Transfer-Encoding"); /* RFC 9112 6.3 */
        if (status < 200)
            continue;
        if (status == 204 || status == 304)
            r = 0; /* no body */
        else if (chunked)
            r = read_chunked(s, j, buf);
        else
            r = read_body(s, j, has_te ? SIZE_MAX : length, buf); /* SIZE_MAX: to EOF */
    } while (status < 200);
    return r < 0 ? r : status;
}

/* ---------------------------------------------------------------- tasks */

/* After EMFILE/ENFILE: waits until a request in flight ends and frees its fd.
 * Returns 0 (try again), or -1 when none is in flight, so none would; then the other
 * waiters try once more too, rather than wait for ever. */
static int wait_for_fd(void)
{
    coio_cond_acquire(fd_freed);
    if (in_flight == 0) {
        coio_cond_notify_all(fd_freed);
        coio_cond_release(fd_freed);
        return -1;
    }
    int r = coio_cond_wait(fd_freed);
    coio_cond_release(fd_freed);
    return r < 0 ? -1 : 0;
}

/* The https configuration: verification on unless --insecure, the system's CAs unless
 * --ca-file. Made on first use; NULL with j->why set if it cannot be. */
static coio_tls_config *tls_config(struct job *j)
{
    if (tls_cfg)
        return tls_cfg;
    coio_tls_config *c = coio_tls_config_create(COIO_TLS_CLIENT);
    int r = c ? 0 : -errno;
    if (r == 0 && ca_file)
        r = coio_tls_config_set_ca(c, ca_file, NULL);
    if (r == 0 && insecure)
        r = coio_tls_config_set_verify(c, COIO_TLS_VERIFY_NONE);
    if (r < 0) {
        snprintf(j->tls_why, sizeof j->tls_why, "%s", coio_tls_last_error());
        j->why = j->tls_why[0] ? j->tls_why : NULL;
        coio_tls_config_destroy(c);
        return NULL;
    }
    return tls_cfg = c;
}

/* Connects to u and opens a stream on it: TLS (handshake and verification) for
 * https. Returns the stream, or NULL with *err set. */
static coio_stream *open_stream(struct job *j, const struct url *u, int *err)
{
    if (u->tls) {
        coio_tls_config *c = tls_config(j);
        coio_tls *t;
        int r = c ? coio_tls_connect(c, u->host, u->port, &t) : -errno;
        if (r < 0) {
            if (r != -EMFILE && r != -ENFILE && coio_tls_last_error()[0]) {
                snprintf(j->tls_why, sizeof j->tls_why, "%s", coio_tls_last_error());
                j->why = j->tls_why;
            }
            *err = r;
            return NULL;
        }
        coio_stream *s = coio_tls_stream_open(t, NULL); /* t owns its fd */
        if (!s) {
            *err = -errno;
            coio_tls_abort(t);
        }
        return s;
    }
    int fd = coio_tcp_connect(u->host, u->port); /* TCP_NODELAY on */
    if (fd < 0) {
        *err = fd;
        return NULL;
    }
    coio_stream *s = coio_stream_open(fd, COIO_STREAM_OWN_FD);
    if (!s) {
        *err = -errno;
        coio_close(fd);
    }
    return s;
}

/* One GET of u under its own deadline. Returns the status or a negative errno. */
static int fetch_hop(struct job *j, const struct url *u, char *buf)
{
    for (;;) {
        j->fnv = 0xcbf29ce484222325ull;
        j->bytes = 0;
        j->why = NULL;
        coio_scope sc;
        coio_timeout_begin(&sc, timeout_s);
        in_flight++;
        int r;
        coio_stream *s = open_stream(j, u, &r);
        if (s) {
            r = http_get(s, u, j, buf);
            coio_stream_abort(s); /* nothing left to send: no need to flush */
        }
        in_flight--;
        bool no_fd = r == -EMFILE || r == -ENFILE;
        if (!no_fd) { /* its fd is closed: one waiter may use it */
            coio_cond_acquire(fd_freed);
            coio_cond_notify(fd_freed, 1);
            coio_cond_release(fd_freed);
        }
        if (coio_scope_end(&sc) == -ETIMEDOUT && r < 100)
            return -ETIMEDOUT;
        if (no_fd && wait_for_fd() == 0)
            continue;
        return r;
    }
}

static void fetch_one(struct job *j, char *buf)
{
    double t0 = coio_now();
    char url[URL_MAX];
    snprintf(url, sizeof url, "%s", j->url);
    int r;
    for (;;) {
        struct url u;
        r = parse_url(url, &u);
        if (r < 0)
            break;
        r = fetch_hop(j, &u, buf);
        if (!follow || !is_redirect(r) || !j->location[0])
            break;
        if (j->redirects == max_redirs) {
            r = -ELOOP;
            j->why = "too many redirects";
            break;
        }
        char next[URL_MAX];
        if ((r = resolve(&u, j->location, next, sizeof next)) < 0)
            break;
        memcpy(url, next, sizeof url);
        memcpy(j->location, next, sizeof next);
        j->redirects++;
    }
    j->status = r;
    j->seconds = coio_now() - t0;
    if (r >= 100) {
        printf("%-3d %13zu bytes %8.3f s  fnv=%016llx  %s", r, j->bytes, j->seconds,
               (unsigned long long)j->fnv, j->url);
        if (j->redirects)
            printf("  (%d redirect%s: %s)", j->redirects, j->redirects > 1 ? "s" : "", url);
        else if (is_redirect(r))
            printf("  -> %s", j->location[0] ? j->location : "(no Location)");
        printf("\n");
    } else {
        printf("%-9s %7zu bytes %8.3f s  %s  (%s)\n", coio_err_name(r), j->bytes, j->seconds,
               j->url, j->why ? j->why : coio_strerror(r));
    }
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
    fd_freed = coio_cond_create(NULL);
    if (!w || !fd_freed) {
        free(w);
        return -ENOMEM;
    }
    for (size_t i = 0; i < nw; i++)
        w[i] = coio_spawn(worker, NULL);
    int r = coio_gather_n(w, nw, NULL);
    free(w);
    coio_cond_destroy(fd_freed);
    if (tls_cfg)
        coio_tls_config_destroy(tls_cfg);
    return r;
}

static void usage(void)
{
    fprintf(stderr, "usage: fetch [-c concurrency] [-t timeout_s] [-L] [--max-redirs N] "
                    "[-f] [--ca-file FILE] [-k] URL...\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"location", no_argument, NULL, 'L'},
        {"max-redirs", required_argument, NULL, 'R'},
        {"fail", no_argument, NULL, 'f'},
        {"ca-file", required_argument, NULL, 'C'},
        {"insecure", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "c:t:Lfkh", opts, NULL)) != -1) {
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
        case 'L': follow = true; break;
        case 'R':
            max_redirs = (int)strtol(optarg, &end, 10);
            if (end == optarg || *end || max_redirs < 0)
                usage();
            break;
        case 'f': fail_on_http_error = true; break;
        case 'C': ca_file = optarg; break;
        case 'k': insecure = true; break;
        default: usage();
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
    size_t ok = 0, http_errors = 0, bytes = 0;
    for (size_t i = 0; i < njobs; i++) {
        ok += jobs[i].status >= 100;
        http_errors += jobs[i].status >= 400;
        bytes += jobs[i].bytes;
    }
    printf("total: %zu URLs, %zu ok, %zu failed, %zu bytes, %.3f s\n", njobs, ok, njobs - ok,
           bytes, elapsed);
    free(jobs);
    if (ok != njobs)
        return 1;
    return fail_on_http_error && http_errors ? 22 : 0;
}
