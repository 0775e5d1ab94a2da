/*
 * W8e static file server on coio: answers every GET (or HEAD) with one file, its body
 * sent by coio_stream_sendfile, over HTTP/1.1 keep-alive. By default it does per request
 * what nginx does for a static file with its default settings (no open_file_cache):
 * open the file, stat it for the Content-Length (statx on the fd), send the headers and
 * then the file with sendfile(2), close it. With --open-once it opens the file once
 * and sends from that fd every time, as nginx does with open_file_cache.
 *
 *   w8e_server [--open-once] FILE [PORT]   (PORT 0 or none: a free port; prints
 *                                           "listening on 127.0.0.1:PORT")
 *
 * The backend is COIO_BACKEND's (default: epoll). A small server, not a hardened one:
 * it reads the request line and headers with coio_stream_readline, keeps the
 * connection unless the client sends "Connection: close" (or speaks HTTP/1.0), ignores
 * request bodies (GET has none) and closes the connection on what it cannot parse.
 */
#define _GNU_SOURCE
#include <coio.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

static const char *path;
static int cached_fd = -1; /* --open-once: the file's one fd, shared by every request */
static long long cached_size;

/* One request's head: the request line, then headers up to the empty line. Returns 1
 * for a request to answer, 0 when the client closed between requests, < 0 on error. */
static int read_head(coio_stream *s, bool *head_only, bool *keep)
{
    char line[8192];
    ssize_t n = coio_stream_readline(s, line, sizeof line);
    if (n <= 0)
        return (int)n;
    *head_only = n > 5 && memcmp(line, "HEAD ", 5) == 0;
    if (!*head_only && !(n > 4 && memcmp(line, "GET ", 4) == 0))
        return -EPROTO;
    *keep = !(n >= 10 && memcmp(line + n - 10, "HTTP/1.0", 8) == 0);
    for (;;) {
        n = coio_stream_readline(s, line, sizeof line);
        if (n <= 0)
            return n == 0 ? -EPROTO : (int)n;
        if (n <= 2 && line[0] != ' ')
            return 1; /* "\r\n": the end of the head */
        if (n > 11 && strncasecmp(line, "connection:", 11) == 0) {
            line[n - 1] = 0;
            if (strcasestr(line + 11, "close"))
                *keep = false;
            else if (strcasestr(line + 11, "keep-alive"))
                *keep = true;
        }
    }
}

/* The status line and headers; the Date string is formatted once a second. */
static int format_head(char *buf, size_t cap, long long length, bool keep)
{
    static char date[64];
    static time_t date_time = -1;
    time_t now = time(NULL);
    if (now != date_time) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        date_time = now;
    }
    return snprintf(buf, cap,
                    "HTTP/1.1 200 OK\r\nServer: coio\r\nDate: %s\r\n"
                    "Content-Type: application/octet-stream\r\nContent-Length: %lld\r\n%s\r\n",
                    date, length, keep ? "" : "Connection: close\r\n");
}

static int serve_conn(int fd, void *arg)
{
    (void)arg;
    coio_stream *s = coio_stream_open(fd, 0);
    if (!s)
        return -errno;
    int r = 0;
    for (;;) {
        bool head_only = false, keep = true;
        r = read_head(s, &head_only, &keep);
        if (r <= 0)
            break;
        int f = cached_fd;
        long long size = cached_size;
        if (f < 0) {
            /* statx with an empty path: on io_uring a native request, where fstat would
             * go to the worker pool */
            struct statx stx;
            f = coio_file_open(path, O_RDONLY | O_CLOEXEC, 0);
            r = f < 0 ? f : coio_file_statx(f, "", AT_EMPTY_PATH, STATX_SIZE, &stx);
            if (r < 0) {
                static const char err[] = "HTTP/1.1 500 Internal Server Error\r\n"
                                          "Content-Length: 0\r\nConnection: close\r\n\r\n";
                coio_stream_write(s, err, sizeof err - 1);
                if (f >= 0)
                    coio_file_close(f);
                break;
            }
            size = (long long)stx.stx_size;
        }
        char hdr[256];
        int hn = format_head(hdr, sizeof hdr, size, keep);
        ssize_t w = coio_stream_write(s, hdr, (size_t)hn);
        if (w >= 0 && !head_only && size > 0) {
            w = coio_stream_sendfile(s, f, 0, (size_t)size);
            if (w >= 0 && w != (ssize_t)size)
                w = -EIO; /* the file shrank: the Content-Length was a lie */
        }
        if (f != cached_fd)
            coio_file_close(f);
        if (w < 0) {
            r = (int)w;
            break;
        }
        if (!keep)
            break;
    }
    coio_stream_close(s);
    (void)r; /* a client that sent garbage or went away: nothing to report */
    return 0;
}

static int serve(void *arg)
{
    return bench_serve("w8e_server", arg, serve_conn);
}

/* --open-once: opens the file before serving, on the loop's task (it is in a task, as
 * coio's file calls must be), and keeps it for every request. */
static int serve_open_once(void *arg)
{
    int f = coio_file_open(path, O_RDONLY | O_CLOEXEC, 0);
    struct stat st;
    int r = f < 0 ? f : coio_file_fstat(f, &st);
    if (r < 0) {
        fprintf(stderr, "w8e_server: %s: %s\n", path, coio_strerror(r));
        return 1;
    }
    cached_fd = f;
    cached_size = (long long)st.st_size;
    return serve(arg);
}

int main(int argc, char **argv)
{
    bool once = argc > 1 && strcmp(argv[1], "--open-once") == 0;
    argc -= once, argv += once;
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: w8e_server [--open-once] FILE [PORT]\n");
        return 2;
    }
    path = argv[1];
    bench_raise_nofile();
    return coio_run(once ? serve_open_once : serve, argc > 2 ? argv[2] : "0") != 0;
}
