/*
 * W4 echo server on libuv (Debian's libuv1-dev), written the way libuv's own examples
 * and benchmarks do it, with the try-write fast path: each read is written back with
 * uv_try_write, and only a remainder goes through uv_write (with a copy).
 *
 *   libuv_echo PORT      (0: a free port; prints "listening on 127.0.0.1:PORT")
 * Build: cc -O2 libuv_echo.c -o libuv_echo $(pkg-config --cflags --libs libuv)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef struct conn {
    uv_tcp_t tcp;
    char buf[65536];
} conn;

typedef struct wreq {
    uv_write_t req;
    uv_buf_t buf;
} wreq;

static uv_loop_t *loop;

static void on_close(uv_handle_t *h)
{
    free(h->data);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    conn *c = h->data;
    *buf = uv_buf_init(c->buf, sizeof c->buf);
}

static void write_cb(uv_write_t *req, int status)
{
    (void)status;
    wreq *w = (wreq *)req;
    free(w->buf.base);
    free(w);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    if (nread < 0) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    if (nread == 0)
        return;
    uv_buf_t b = uv_buf_init(buf->base, (unsigned)nread);
    int n = uv_try_write(s, &b, 1);
    if (n == nread)
        return;
    if (n < 0 && n != UV_EAGAIN) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    size_t off = n > 0 ? (size_t)n : 0;
    wreq *w = malloc(sizeof *w);
    w->buf = uv_buf_init(malloc((size_t)nread - off), (unsigned)((size_t)nread - off));
    memcpy(w->buf.base, buf->base + off, w->buf.len);
    uv_write(&w->req, s, &w->buf, 1, write_cb);
}

static void on_conn(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    conn *c = malloc(sizeof *c);
    uv_tcp_init(loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) == 0) {
        uv_tcp_nodelay(&c->tcp, 1);
        uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
    } else {
        uv_close((uv_handle_t *)&c->tcp, on_close);
    }
}

int main(int argc, char **argv)
{
    loop = uv_default_loop();
    uv_tcp_t server;
    uv_tcp_init(loop, &server);
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", argc > 1 ? atoi(argv[1]) : 0, &addr);
    int r = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
    if (!r)
        r = uv_listen((uv_stream_t *)&server, SOMAXCONN, on_conn);
    if (r) {
        fprintf(stderr, "libuv_echo: %s\n", uv_strerror(r));
        return 1;
    }
    int len = sizeof addr;
    uv_tcp_getsockname(&server, (struct sockaddr *)&addr, &len);
    printf("listening on 127.0.0.1:%u\n", ntohs(addr.sin_port));
    fflush(stdout);
    return uv_run(loop, UV_RUN_DEFAULT);
}
