/* coio-test: io timeout=120 */
/* examples/fetch against real HTTP servers on 127.0.0.1: Python's http.server, nginx
 * (Content-Length and chunked bodies; skipped if nginx is not installed), an origin
 * serving malformed responses and redirects (tests/peers/http_origin.py), and small
 * servers in this process: one that never answers (per-request timeout), one that
 * counts concurrent connections (the -c limit), one that trickles a chunked response
 * a byte at a time and one with a connection-close body. fetch also runs out of fds
 * (RLIMIT_NOFILE 32, 100 URLs at once). Runs once per backend: fetch inherits
 * COIO_BACKEND.
 *
 * The fetch program is $COIO_FETCH, else ../examples/fetch next to this test's binary
 * (the build tree layout: build/<dir>/tests/test_fetch, build/<dir>/examples/fetch). */
#define _GNU_SOURCE
#include "coio_test.h"
#include "net_helpers.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ----------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t fnv(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
    return h;
}

static void write_file(const char *dir, const char *name, const char *data, size_t n)
{
    char path[PATH_MAX];
    int k = snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_true(k > 0 && (size_t)k < sizeof path);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Deterministic text: lines of varying length, so chunk boundaries fall anywhere. */
static char *make_text(size_t n)
{
    char *p = malloc(n);
    assert_non_null(p);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (x >> 16) % 61 == 0 ? '\n' : (char)('a' + (x >> 16) % 26);
    }
    return p;
}

/* A loopback port nobody listens on right now (bound and released). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* A listening loopback socket on an ephemeral port; *port receives the port. */
static int listen_any(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 64), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static int connect_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
        return fd;
    close(fd);
    return -1;
}

/* Waits until something accepts connections on port (a server we started). */
static void wait_port(int port, pid_t pid)
{
    for (int i = 0; i < 1000; i++) {
        int fd = connect_port(port);
        if (fd >= 0) {
            close(fd);
            return;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            print_error("server pid %d exited (status %d) before listening on %d\n", pid, st,
                        port);
            fail();
        }
        usleep(10000);
    }
    print_error("nothing listens on port %d after 10 s\n", port);
    fail();
}

static pid_t spawn(char *const argv[])
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static void stop(pid_t *pid)
{
    if (*pid > 0) {
        kill(*pid, SIGTERM);
        waitpid(*pid, NULL, 0);
        *pid = 0;
    }
}

/* Runs fetch with args, with RLIMIT_NOFILE lowered to nofile if nofile > 0; returns
 * its exit status and its stdout in out. */
static int run_fetch_limited(char *out, size_t cap, double *elapsed, const char *const *args,
                             rlim_t nofile)
{
    static char *argv[256];
    int n = 0;
    argv[n++] = (char *)example_path("fetch", "COIO_FETCH");
    for (; *args && n < 255; args++)
        argv[n++] = (char *)*args;
    argv[n] = NULL;
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    double t0 = now_s();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit rl = {nofile, nofile};
        if (nofile && setrlimit(RLIMIT_NOFILE, &rl) != 0)
            _exit(126);
        dup2(p[1], 1);
        execv(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    size_t len = 0;
    ssize_t r;
    while ((r = read(p[0], out + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    out[len] = 0;
    close(p[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (elapsed)
        *elapsed = now_s() - t0;
    print_message("%s", out);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static int run_fetch(char *out, size_t cap, double *elapsed, const char *const *args)
{
    return run_fetch_limited(out, cap, elapsed, args, 0);
}

struct result {
    char status[32]; /* "200" or an errno name */
    size_t bytes;
    double seconds;
    uint64_t fnv;
};

/* Finds fetch's line for url: "<status> <bytes> bytes <secs> s [fnv=<hex>] <url> ...". */
static bool find_result(const char *out, const char *url, struct result *res)
{
    char line[1024];
    for (const char *p = out; *p;) {
        size_t n = strcspn(p, "\n");
        if (n >= sizeof line)
            n = sizeof line - 1;
        memcpy(line, p, n);
        line[n] = 0;
        p += n + (p[n] == '\n');
        char u[512] = "", f[64] = "";
        memset(res, 0, sizeof *res);
        if (sscanf(line, "%31s %zu bytes %lf s %63s %511s", res->status, &res->bytes,
                   &res->seconds, f, u) < 4)
            continue;
        if (strncmp(f, "fnv=", 4) == 0)
            res->fnv = strtoull(f + 4, NULL, 16);
        else
            strcpy(u, f);
        if (strcmp(u, url) == 0)
            return true;
    }
    return false;
}

#define assert_result(out, url, want_status, want_bytes, want_fnv)                        \
    do {                                                                                  \
        struct result r_;                                                                 \
        if (!find_result((out), (url), &r_)) {                                            \
            print_error("no result line for %s\n", (url));                                \
            fail();                                                                       \
        }                                                                                 \
        assert_string_equal(r_.status, (want_status));                                    \
        assert_int_equal(r_.bytes, (want_bytes));                                         \
        if ((want_fnv) != 0)                                                              \
            assert_true(r_.fnv == (uint64_t)(want_fnv));                                  \
    } while (0)

/* ---- per-case fixture: a temp dir and the servers started --------------------------- */

struct fix {
    char dir[64];
    pid_t server;
    int port;
    int listen_fd;
    char out[65536];
    char url[8][256];
};

static struct fix F;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int fix_setup(void **state)
{
    (void)state;
    memset(&F, 0, sizeof F);
    F.listen_fd = -1;
    strcpy(F.dir, "/tmp/coio-fetch-XXXXXX");
    return mkdtemp(F.dir) ? 0 : -1;
}

static int fix_teardown(void **state)
{
    (void)state;
    stop(&F.server);
    if (F.listen_fd >= 0)
        close(F.listen_fd);
    nftw(F.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static const size_t big_len = 1024 * 1024 + 17;

/* a.txt, big.txt (1 MiB + 17), empty.txt. */
static void make_site(const char *dir, char **big)
{
    write_file(dir, "a.txt", "hello\n", 6);
    *big = make_text(big_len);
    write_file(dir, "big.txt", *big, big_len);
    write_file(dir, "empty.txt", "", 0);
}

/* ---- Python http.server -------------------------------------------------------------- */

static void python_http_server(void **state)
{
    (void)state;
    require_backend();
    char *big;
    make_site(F.dir, &big);
    F.port = free_port();
    char port[16];
    snprintf(port, sizeof port, "%d", F.port);
    char *argv[] = {"python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory",
                    F.dir, port, NULL};
    F.server = spawn(argv);
    wait_port(F.port, F.server);
    const char *names[] = {"a.txt", "big.txt", "empty.txt", "missing"};
    for (int i = 0; i < 4; i++)
        snprintf(F.url[i], sizeof F.url[i], "http://127.0.0.1:%d/%s", F.port, names[i]);
    const char *args[] = {"-c", "3", "-t", "20", F.url[0], F.url[1], F.url[2], F.url[3], NULL};
    assert_int_equal(run_fetch(F.out, sizeof F.out, NULL, args), 0);
    assert_result(F.out, F.url[0], "200", 6, fnv("hello\n", 6));
    assert_result(F.out, F.url[1], "200", big_len, fnv(big, big_len));
    assert_result(F.out, F.url[2], "200", 0, fnv("", 0));
    struct result r404;
    assert_true(find_result(F.out, F.url[3], &r404));
    assert_string_equal(r404.status, "404");
    assert_non_null(strstr(F.out, "total: 4 URLs, 4 ok, 0 failed"));
    free(big);
}

/* ---- nginx ----------------------------------------------------------------------------- */

static const char *nginx_bin(void)
{
    static const char *const cands[] = {"/usr/sbin/nginx", "/usr/local/sbin/nginx",
                                        "/usr/local/nginx/sbin/nginx"};
    for (size_t i = 0; i < sizeof cands / sizeof *cands; i++)
        if (access(cands[i], X_OK) == 0)
            return cands[i];
    return NULL;
}

/* nginx in the foreground (daemon off, master_process off), everything in F.dir. The
 * .shtml pages go through SSI, whose output has no Content-Length: nginx sends it
 * chunked to an HTTP/1.1 client. */
static void start_nginx(void)
{
    const char *bin = nginx_bin();
    if (!bin) {
        print_message("[  SKIPPED ] nginx is not installed (Debian package nginx)\n");
        exit(77);
    }
    F.port = free_port();
    char conf[4096], path[PATH_MAX];
    int n = snprintf(conf, sizeof conf,
                     "daemon off;\nmaster_process off;\nworker_processes 1;\n"
                     "pid %1$s/nginx.pid;\nerror_log %1$s/error.log info;\n"
                     "events { worker_connections 128; }\n"
                     "http {\n  access_log %1$s/access.log;\n"
                     "  client_body_temp_path %1$s/tmp; proxy_temp_path %1$s/tmp;\n"
                     "  fastcgi_temp_path %1$s/tmp; uwsgi_temp_path %1$s/tmp;\n"
                     "  scgi_temp_path %1$s/tmp;\n"
                     "  server {\n    listen 127.0.0.1:%2$d;\n    root %1$s/www;\n"
                     "    location ~ \\.shtml$ { ssi on; ssi_types *; }\n  }\n}\n",
                     F.dir, F.port);
    assert_true(n > 0 && (size_t)n < sizeof conf);
    write_file(F.dir, "nginx.conf", conf, (size_t)n);
    snprintf(path, sizeof path, "%s/tmp", F.dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/www", F.dir);
    assert_int_equal(mkdir(path, 0755), 0);
    char cpath[PATH_MAX], elog[PATH_MAX];
    snprintf(cpath, sizeof cpath, "%s/nginx.conf", F.dir);
    snprintf(elog, sizeof elog, "%s/error.log", F.dir);
    char *argv[] = {(char *)bin, "-c", cpath, "-p", F.dir, "-e", elog, NULL};
    F.server = spawn(argv);
    wait_port(F.port, F.server);
}

/* Raw request from the test itself: returns whether the response header says chunked. */
static bool response_is_chunked(int port, const char *path)
{
    int fd = connect_port(port);
    assert_true(fd >= 0);
    char req[512], buf[4096];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                     path);
    assert_int_equal(write(fd, req, (size_t)n), n);
    size_t len = 0;
    ssize_t r;
    while (len < sizeof buf - 1 && (r = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = 0;
    close(fd);
    char *end = strstr(buf, "\r\n\r\n");
    if (end)
        *end = 0;
    return strcasestr(buf, "Transfer-Encoding: chunked") != NULL;
}

static void nginx_content_length_and_chunked(void **state)
{
    (void)state;
    require_backend();
    start_nginx();
    char www[PATH_MAX], *big;
    snprintf(www, sizeof www, "%s/www", F.dir);
    make_site(www, &big);
    /* SSI: the page's text around the included 1 MiB file, all sent chunked. */
    static const char page[] = "head\n<!--# include file=\"big.txt\" -->tail\n";
    write_file(www, "page.shtml", page, sizeof page - 1);
    size_t plen = 5 + big_len + 5;
    char *expect = malloc(plen);
    memcpy(expect, "head\n", 5);
    memcpy(expect + 5, big, big_len);
    memcpy(expect + 5 + big_len, "tail\n", 5);
    assert_true(response_is_chunked(F.port, "/page.shtml"));
    assert_false(response_is_chunked(F.port, "/big.txt"));

    const char *names[] = {"a.txt", "big.txt", "empty.txt", "missing", "page.shtml"};
    for (int i = 0; i < 5; i++)
        snprintf(F.url[i], sizeof F.url[i], "http://127.0.0.1:%d/%s", F.port, names[i]);
    const char *args[] = {"-c", "2", "-t", "20", F.url[0], F.url[1], F.url[2],
                          F.url[3], F.url[4], NULL};
    assert_int_equal(run_fetch(F.out, sizeof F.out, NULL, args), 0);
    assert_result(F.out, F.url[0], "200", 6, fnv("hello\n", 6));
    assert_result(F.out, F.url[1], "200", big_len, fnv(big, big_len));
    assert_result(F.out, F.url[2], "200", 0, fnv("", 0));
    struct result r404;
    assert_true(find_result(F.out, F.url[3], &r404));
    assert_string_equal(r404.status, "404");
    assert_true(r404.bytes > 0);
    assert_result(F.out, F.url[4], "200", plen, fnv(expect, plen));
    assert_non_null(strstr(F.out, "total: 5 URLs, 5 ok, 0 failed"));
    free(expect);
    free(big);
}

/* ---- a server that never answers ------------------------------------------------------- */

/* The listening socket is never accepted from or read: connect succeeds (the kernel
 * completes the handshake into the backlog), the request sits unread, no reply comes.
 * A good URL in the same run completes while the other still waits (its line comes
 * first): the timeout is per request. Only lower bounds on time are checked: a loaded
 * machine makes everything later, never earlier. */
static void timeout_against_server_that_never_answers(void **state)
{
    (void)state;
    require_backend();
    int port;
    F.listen_fd = listen_any(&port);
    char *big;
    make_site(F.dir, &big);
    free(big);
    F.port = free_port();
    char pstr[16];
    snprintf(pstr, sizeof pstr, "%d", F.port);
    char *argv[] = {"python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory",
                    F.dir, pstr, NULL};
    F.server = spawn(argv);
    wait_port(F.port, F.server);
    snprintf(F.url[0], sizeof F.url[0], "http://127.0.0.1:%d/never", port);
    snprintf(F.url[1], sizeof F.url[1], "http://127.0.0.1:%d/a.txt", F.port);
    double elapsed;
    const char *args[] = {"-c", "2", "-t", "2", F.url[0], F.url[1], NULL};
    assert_int_equal(run_fetch(F.out, sizeof F.out, &elapsed, args), 1);
    struct result r;
    assert_true(find_result(F.out, F.url[0], &r));
    assert_string_equal(r.status, "ETIMEDOUT");
    assert_true(r.seconds >= 1.9);
    assert_result(F.out, F.url[1], "200", 6, fnv("hello\n", 6));
    const char *good = strstr(F.out, F.url[1]), *never = strstr(F.out, F.url[0]);
    assert_true(good && never && good < never);
    assert_non_null(strstr(F.out, "total: 2 URLs, 1 ok, 1 failed"));
}

/* ---- servers in this process ------------------------------------------------------------ */

static int cur_conns, max_conns, live_threads;
static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t threads_done = PTHREAD_COND_INITIALIZER;

/* Waits until every connection thread has closed its fd (the case's fd-leak check
 * follows). */
static void wait_conn_threads(void)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 20;
    pthread_mutex_lock(&conns_lock);
    int r = 0;
    while (live_threads > 0 && r == 0)
        r = pthread_cond_timedwait(&threads_done, &conns_lock, &until);
    int left = live_threads;
    pthread_mutex_unlock(&conns_lock);
    assert_int_equal(left, 0);
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* One connection: reads the request head, then answers by path:
 *   /slow/<n>   after 100 ms, a close-delimited body (HTTP/1.0, no Content-Length)
 *   /trickle    a chunked response with extensions and a trailer, one byte per send */
static void *conn_thread(void *arg)
{
    int fd = (int)(intptr_t)arg;
    pthread_mutex_lock(&conns_lock);
    if (++cur_conns > max_conns)
        max_conns = cur_conns;
    pthread_mutex_unlock(&conns_lock);
    char req[4096];
    size_t len = 0;
    while (len < sizeof req - 1 && !memmem(req, len, "\r\n\r\n", 4)) {
        ssize_t r = read(fd, req + len, sizeof req - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    req[len] = 0;
    if (strncmp(req, "GET /slow/", 10) == 0) {
        usleep(100000);
        char resp[256];
        int n = snprintf(resp, sizeof resp, "HTTP/1.0 200 OK\r\nServer: t\r\n\r\nslow %d\n",
                         atoi(req + 10));
        send_all(fd, resp, (size_t)n);
    } else if (strncmp(req, "GET /trickle ", 13) == 0) {
        static const char resp[] =
            "HTTP/1.1 100 Continue\r\n\r\n"
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            "5;name=value\r\nhello\r\n"
            "1\r\n \r\n"
            "A\r\nworld\n1234\r\n"
            "0\r\nX-Trailer: yes\r\n\r\n";
        for (size_t i = 0; i < sizeof resp - 1; i++) {
            send_all(fd, resp + i, 1);
            usleep(200);
        }
    } else {
        send_all(fd, "HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n", 40);
    }
    pthread_mutex_lock(&conns_lock);
    cur_conns--;
    pthread_mutex_unlock(&conns_lock);
    close(fd);
    pthread_mutex_lock(&conns_lock);
    if (--live_threads == 0)
        pthread_cond_broadcast(&threads_done);
    pthread_mutex_unlock(&conns_lock);
    return NULL;
}

static volatile int accept_stop;

static void *accept_thread(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    while (!accept_stop) {
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        pthread_t t;
        pthread_mutex_lock(&conns_lock);
        live_threads++;
        pthread_mutex_unlock(&conns_lock);
        pthread_create(&t, NULL, conn_thread, (void *)(intptr_t)fd);
        pthread_detach(t);
    }
    return NULL;
}

static void concurrency_limit_and_close_delimited_bodies(void **state)
{
    (void)state;
    require_backend();
    int port;
    F.listen_fd = listen_any(&port);
    accept_stop = 0;
    cur_conns = max_conns = 0;
    pthread_t at;
    pthread_create(&at, NULL, accept_thread, (void *)(intptr_t)F.listen_fd);
    enum { N = 9 };
    static char urls[N][128];
    const char *args[4 + N + 1] = {"-c", "3", "-t", "20"};
    for (int i = 0; i < N; i++) {
        snprintf(urls[i], sizeof urls[i], "http://127.0.0.1:%d/slow/%d", port, i);
        args[4 + i] = urls[i];
    }
    args[4 + N] = NULL;
    double elapsed;
    int rc = run_fetch(F.out, sizeof F.out, &elapsed, args);
    accept_stop = 1;
    pthread_join(at, NULL);
    wait_conn_threads();
    assert_int_equal(rc, 0);
    for (int i = 0; i < N; i++) {
        char body[32];
        int n = snprintf(body, sizeof body, "slow %d\n", i);
        assert_result(F.out, urls[i], "200", (size_t)n, fnv(body, (size_t)n));
    }
    assert_int_equal(max_conns, 3);
    assert_true(elapsed >= 0.29); /* 9 requests of 100 ms, 3 at a time */
}

static void chunked_response_trickled_one_byte_at_a_time(void **state)
{
    (void)state;
    require_backend();
    int port;
    F.listen_fd = listen_any(&port);
    accept_stop = 0;
    pthread_t at;
    pthread_create(&at, NULL, accept_thread, (void *)(intptr_t)F.listen_fd);
    snprintf(F.url[0], sizeof F.url[0], "http://127.0.0.1:%d/trickle", port);
    const char *args[] = {"-t", "20", F.url[0], NULL};
    int rc = run_fetch(F.out, sizeof F.out, NULL, args);
    accept_stop = 1;
    pthread_join(at, NULL);
    wait_conn_threads();
    assert_int_equal(rc, 0);
    static const char body[] = "hello world\n1234";
    assert_result(F.out, F.url[0], "200", sizeof body - 1, fnv(body, sizeof body - 1));
}

/* ---- an origin with malformed responses and redirects (tests/peers/http_origin.py) ---- */

/* Starts the origin (F.server, F.port). */
static void start_origin(void)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    const char *script = peer_script("http_origin.py");
    F.server = fork();
    assert_true(F.server >= 0);
    if (F.server == 0) {
        dup2(p[1], 1);
        execlp(python3_path(), python3_path(), script, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    char line[32];
    size_t len = 0;
    while (len < sizeof line - 1 && read(p[0], line + len, 1) == 1 && line[len] != '\n')
        len++;
    line[len] = 0;
    close(p[0]);
    F.port = atoi(line);
    if (F.port <= 0) {
        print_error("http_origin.py said \"%s\", not its port\n", line);
        fail();
    }
}

static const char *origin_url(int i, const char *path)
{
    snprintf(F.url[i], sizeof F.url[i], "http://127.0.0.1:%d%s", F.port, path);
    return F.url[i];
}

/* Asserts that fetch's line for url is EPROTO and names the reason. */
static void assert_protocol_error(const char *url, const char *reason)
{
    struct result r;
    assert_true(find_result(F.out, url, &r));
    if (strcmp(r.status, "EPROTO") != 0)
        print_error("%s: %s, want EPROTO (%s)\n", url, r.status, reason);
    assert_string_equal(r.status, "EPROTO");
    const char *line = strstr(F.out, url);
    const char *eol = strchr(line, '\n');
    const char *why = strstr(line, reason);
    assert_true(why && why < eol);
}

static void malformed_responses_are_protocol_errors(void **state)
{
    (void)state;
    require_backend();
    start_origin();
    static const char *const bad[][2] = {
        {"/cl-junk", "bad Content-Length"},
        {"/cl-negative", "bad Content-Length"},
        {"/cl-two", "two different Content-Lengths"},
        {"/cl-and-te", "both Content-Length and Transfer-Encoding"},
        {"/status-2000", "bad status line"},
        {"/chunk-negative", "bad chunk size"},
        {"/chunk-hex-prefix", "bad chunk size"},
    };
    enum { NBAD = sizeof bad / sizeof *bad };
    const char *args[4 + NBAD + 2] = {"-c", "4", "-t", "20"};
    for (int i = 0; i < NBAD; i++)
        args[4 + i] = origin_url(i, bad[i][0]);
    args[4 + NBAD] = origin_url(NBAD, "/cl-same"); /* a repeated equal value is valid */
    assert_int_equal(run_fetch(F.out, sizeof F.out, NULL, args), 1);
    for (int i = 0; i < NBAD; i++)
        assert_protocol_error(F.url[i], bad[i][1]);
    assert_result(F.out, F.url[NBAD], "200", 3, fnv("abc", 3));
}

static void redirects_are_shown_or_followed_up_to_the_hop_limit(void **state)
{
    (void)state;
    require_backend();
    start_origin();
    char want[512];
    /* not followed: the status and where it points */
    const char *plain[] = {origin_url(0, "/moved"), origin_url(1, "/noloc"), NULL};
    assert_int_equal(run_fetch(F.out, sizeof F.out, NULL, plain), 0);
    assert_result(F.out, F.url[0], "301", 0, 0);
    snprintf(want, sizeof want, "%s  -> http://127.0.0.1:%d/a\n", F.url[0], F.port);
    assert_non_null(strstr(F.out, want));
    snprintf(want, sizeof want, "%s  -> (no Location)\n", F.url[1]);
    assert_non_null(strstr(F.out, want));

    /* followed: absolute, root-relative (3 hops) and relative Locations */
    const char *follow[] = {"-L", origin_url(0, "/moved"), origin_url(1, "/redir/3"),
                            origin_url(2, "/rel/x"), origin_url(3, "/noloc"), NULL};
    assert_int_equal(run_fetch(F.out, sizeof F.out, NULL, follow), 0);
    assert_result(F.out, F.url[0], "200", 6, fnv("hello\n", 6));
    assert_result(F.out, F.url[1], "200", 7, fnv("landed\n", 7));
    snprintf(want, sizeof want, "%s  (3 redirects: http://127.0.0.1:%d/redir/0)", F.url[1],
             F.port);
    assert_non_null(strstr(F.out, want));
    assert_result(F.out, F.url[2], "200", 2, fnv("y\n", 2));
    assert_result(F.out, F.url[3], "301", 0, 0); /* nowhere to go */

    /* the hop limit, and a scheme fetch does not speak (https it does: test_tls) */
    const char *limited[] = {"-L", "--max-redirs", "2", origin_url(0, "/redir/3"),
                             origin_url(1, "/redir/2"), origin_url(2, "/ftp"), NULL};
    assert_int_equal(run_fetch(F.out, sizeof F.out, NULL, limited), 1);
    struct result r;
    assert_true(find_result(F.out, F.url[0], &r));
    assert_string_equal(r.status, "ELOOP");
    assert_non_null(strstr(F.out, "(too many redirects)"));
    assert_result(F.out, F.url[1], "200", 7, fnv("landed\n", 7));
    assert_true(find_result(F.out, F.url[2], &r));
    assert_string_equal(r.status, "EPROTONOSUPPORT");
}

static void fail_option_exits_22_on_http_errors(void **state)
{
    (void)state;
    require_backend();
    start_origin();
    const char *plain[] = {origin_url(0, "/a"), origin_url(1, "/missing"), NULL};
    assert_int_equal(run_fetch(F.out, sizeof F.out, NULL, plain), 0);
    assert_result(F.out, F.url[1], "404", 0, 0);
    const char *failing[] = {"--fail", origin_url(0, "/a"), origin_url(1, "/missing"), NULL};
    assert_int_equal(run_fetch(F.out, sizeof F.out, NULL, failing), 22);
    const char *fine[] = {"-f", origin_url(0, "/a"), NULL};
    assert_int_equal(run_fetch(F.out, sizeof F.out, NULL, fine), 0);
    /* a transport failure still exits 1 */
    const char *both[] = {"-f", origin_url(0, "/missing"), origin_url(1, "/cl-junk"), NULL};
    assert_int_equal(run_fetch(F.out, sizeof F.out, NULL, both), 1);
}

/* 100 URLs at once with RLIMIT_NOFILE 32: most requests find no free fd at first, wait
 * for another to finish and retry; all succeed. */
static void out_of_fds_requests_wait_and_retry(void **state)
{
    (void)state;
    require_backend();
    start_origin();
    enum { N = 100 };
    static char urls[N][128];
    const char *args[4 + N + 1] = {"-c", "100", "-t", "30"};
    for (int i = 0; i < N; i++) {
        snprintf(urls[i], sizeof urls[i], "http://127.0.0.1:%d/slow/%d", F.port, i);
        args[4 + i] = urls[i];
    }
    args[4 + N] = NULL;
    int rc = run_fetch_limited(F.out, sizeof F.out, NULL, args, 32);
    for (int i = 0; i < N; i++) {
        char body[32];
        int n = snprintf(body, sizeof body, "slow %d\n", i);
        assert_result(F.out, urls[i], "200", (size_t)n, fnv(body, (size_t)n));
    }
    assert_non_null(strstr(F.out, "total: 100 URLs, 100 ok, 0 failed"));
    assert_int_equal(rc, 0);
}

static void bad_usage_and_bad_urls(void **state)
{
    (void)state;
    require_backend();
    const char *none[] = {NULL};
    assert_int_equal(run_fetch(F.out, sizeof F.out, NULL, none), 2);
    const char *args[] = {"ftp://x/", "http://", "http://h:port/", NULL};
    assert_int_equal(run_fetch(F.out, sizeof F.out, NULL, args), 1);
    struct result r;
    for (int i = 0; i < 3; i++) {
        assert_true(find_result(F.out, args[i], &r));
        assert_string_equal(r.status, "EINVAL");
    }
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(python_http_server, fix_setup, fix_teardown),
        cmocka_unit_test_setup_teardown(nginx_content_length_and_chunked, fix_setup,
                                        fix_teardown),
        cmocka_unit_test_setup_teardown(timeout_against_server_that_never_answers, fix_setup,
                                        fix_teardown),
        cmocka_unit_test_setup_teardown(concurrency_limit_and_close_delimited_bodies,
                                        fix_setup, fix_teardown),
        cmocka_unit_test_setup_teardown(chunked_response_trickled_one_byte_at_a_time,
                                        fix_setup, fix_teardown),
        cmocka_unit_test_setup_teardown(bad_usage_and_bad_urls, fix_setup, fix_teardown),
        cmocka_unit_test_setup_teardown(malformed_responses_are_protocol_errors, fix_setup,
                                        fix_teardown),
        cmocka_unit_test_setup_teardown(redirects_are_shown_or_followed_up_to_the_hop_limit,
                                        fix_setup, fix_teardown),
        cmocka_unit_test_setup_teardown(fail_option_exits_22_on_http_errors, fix_setup,
                                        fix_teardown),
        cmocka_unit_test_setup_teardown(out_of_fds_requests_wait_and_retry, fix_setup,
                                        fix_teardown),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    int rc = cmocka_run_group_tests(tests, coio_test_group_setup, coio_test_group_teardown);
    /* cmocka reports a failed group teardown (the fd-leak check) without failing. */
    return rc ? rc : coio_test_count_fds() != coio_test_fds_at_start;
}
