/* coio-test: io timeout=120 */
/* TLS (coio_tls_*) against real peers on 127.0.0.1: coio itself on both ends, `openssl
 * s_server` and `s_client`, Python's ssl module and curl. Certificates are made by each
 * case with the openssl program in a temporary directory: a CA, a server certificate
 * for localhost/127.0.0.1/::1 it signed, a client certificate, a self-signed one (an
 * unknown CA) and one whose validity ended in 2020 (`openssl ca -startdate/-enddate`).
 * Each failure is checked for its own errno: unknown CA, wrong name, expiry, no shared
 * version or ALPN protocol, plain HTTP to a TLS port and TLS to a plain one, a reset or
 * an EOF mid-handshake, truncation. The fd count is checked after every case (harness)
 * and ASan checks memory after cancellations mid-handshake and mid-read. */
#define _GNU_SOURCE
#include "coio_test.h"
#include "net_helpers.h"

#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>

/* ---- certificates ------------------------------------------------------------------ */

static char certdir[64];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void certs_remove(void)
{
    if (certdir[0])
        nftw(certdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    certdir[0] = 0;
}

/* certdir/name; four rotating buffers so a call may take several. */
static const char *cert(const char *name)
{
    static char bufs[4][128];
    static int i;
    char *b = bufs[i++ & 3];
    snprintf(b, sizeof bufs[0], "%.60s/%.60s", certdir, name);
    return b;
}

static void make_certs(void)
{
    if (certdir[0])
        return;
    coio_test_require_program("openssl", "openssl");
    if (!coio_tls_available())
        coio_test_skip("coio was built without OpenSSL (libssl-dev)");
    snprintf(certdir, sizeof certdir, "/tmp/coio-tls-XXXXXX");
    assert_non_null(mkdtemp(certdir));
    atexit(certs_remove);
    char cmd[4096];
    snprintf(
        cmd, sizeof cmd,
        "cd %s && G='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes' && {\n"
        "openssl req -x509 $G -keyout ca.key -out ca.crt -days 30 -subj /CN=coio-test-ca &&\n"
        "openssl req $G -keyout srv.key -out srv.csr -subj /CN=localhost &&\n"
        "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\\n' > san.ext &&\n"
        "openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 "
        "  -extfile san.ext -out srv.crt &&\n"
        "openssl req $G -keyout cli.key -out cli.csr -subj /CN=coio-client &&\n"
        "openssl x509 -req -in cli.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 "
        "  -out cli.crt &&\n"
        "openssl req -x509 $G -keyout other.key -out other.crt -days 30 -subj /CN=localhost "
        "  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 &&\n"
        "openssl req $G -keyout exp.key -out exp.csr -subj /CN=localhost "
        "  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 &&\n"
        "printf '[ca]\\ndefault_ca=t\\n[t]\\ndatabase=index.txt\\nnew_certs_dir=.\\n"
        "serial=serial\\ndefault_md=sha256\\npolicy=p\\ncopy_extensions=copy\\n"
        "unique_subject=no\\n[p]\\ncommonName=supplied\\n' > ca.cnf && : > index.txt &&\n"
        "echo 1000 > serial &&\n"
        "openssl ca -batch -config ca.cnf -cert ca.crt -keyfile ca.key -in exp.csr "
        "  -out exp.crt -startdate 20200101000000Z -enddate 20200201000000Z -notext\n"
        "} > log 2>&1 || { cat log; exit 1; }",
        certdir);
    int st = system(cmd);
    if (st != 0) {
        print_error("making the test certificates failed (%d)\n", st);
        fail();
    }
}

static coio_tls_config *server_config(const char *crt, const char *key)
{
    coio_tls_config *c = coio_tls_config_create(COIO_TLS_SERVER);
    assert_non_null(c);
    coio_assert_rc(coio_tls_config_set_cert_file(c, cert(crt), cert(key)), 0);
    return c;
}

static coio_tls_config *client_config(void)
{
    coio_tls_config *c = coio_tls_config_create(COIO_TLS_CLIENT);
    assert_non_null(c);
    coio_assert_rc(coio_tls_config_set_ca(c, cert("ca.crt"), NULL), 0);
    return c;
}

/* ---- an in-process TLS server ------------------------------------------------------ */

typedef struct srv srv;
struct srv {
    coio_tls_config *cfg;
    coio_server *server;
    int port;
    char portstr[8];
    bool plain;          /* no handshake: the handler gets the raw fd (stream NULL) */
    double hs_timeout;   /* > 0: the handshake runs under this timeout */
    int (*handler)(srv *sv, int fd, coio_stream *s, coio_tls *t);
    int hs_result;       /* of the latest handshake */
    char hs_error[256];  /* its coio_tls_last_error() */
    int handshakes;      /* finished, either way */
    void *arg;
};

static int srv_conn(int fd, void *arg)
{
    srv *sv = arg;
    if (sv->plain) {
        sv->handler(sv, fd, NULL, NULL);
        return 0;
    }
    coio_tls *t;
    int r;
    if (sv->hs_timeout > 0) {
        COIO_WITH_TIMEOUT(sv->hs_timeout)
        {
            r = coio_tls_accept(sv->cfg, fd, 0, &t);
        }
    } else {
        r = coio_tls_accept(sv->cfg, fd, 0, &t);
    }
    snprintf(sv->hs_error, sizeof sv->hs_error, "%s", coio_tls_last_error());
    sv->hs_result = r;
    sv->handshakes++;
    if (r < 0)
        return 0;
    coio_stream *s = coio_tls_stream_open(t, NULL);
    assert_non_null(s);
    if (sv->handler)
        sv->handler(sv, fd, s, t);
    coio_stream_close(s);
    return 0;
}

static void srv_start(srv *sv)
{
    int l = coio_tcp_listen("127.0.0.1", "0", 0);
    assert_true(l >= 0);
    sv->port = coio_sock_port(l);
    snprintf(sv->portstr, sizeof sv->portstr, "%d", sv->port);
    sv->server = coio_server_start(l, srv_conn, sv, NULL);
    assert_non_null(sv->server);
}

static void srv_stop(srv *sv)
{
    coio_assert_rc(coio_server_close(sv->server, 5.0), 0);
    if (sv->cfg)
        coio_tls_config_destroy(sv->cfg);
}

/* Waits until the server has finished n handshakes. */
static void srv_wait_handshakes(srv *sv, int n)
{
    for (int i = 0; i < 1000 && sv->handshakes < n; i++)
        coio_sleep(0.005);
    assert_true(sv->handshakes >= n);
}

/* Echoes lines until the end of the stream. */
static int echo_lines(srv *sv, int fd, coio_stream *s, coio_tls *t)
{
    (void)sv, (void)fd, (void)t;
    char line[4096];
    ssize_t n;
    while ((n = coio_stream_readline(s, line, sizeof line)) > 0) {
        if (coio_stream_write(s, line, (size_t)n) < 0 || coio_stream_drain(s) < 0)
            break;
    }
    return 0;
}

/* Echoes one line, then closes (close_notify). */
static int echo_one(srv *sv, int fd, coio_stream *s, coio_tls *t)
{
    (void)sv, (void)fd, (void)t;
    char line[4096];
    ssize_t n = coio_stream_readline(s, line, sizeof line);
    if (n > 0)
        coio_stream_write(s, line, (size_t)n);
    return 0;
}

/* Connects a client to sv and returns its stream (asserting success). */
static coio_stream *client_stream(coio_tls_config *c, srv *sv, const char *host,
                                  coio_tls **tout)
{
    coio_tls *t;
    int r = coio_tls_connect(c, host, sv->portstr, &t);
    if (r != 0)
        print_error("connect: %s: %s\n", coio_err_name(r), coio_tls_last_error());
    coio_assert_rc(r, 0);
    if (tout)
        *tout = t;
    coio_stream *s = coio_tls_stream_open(t, NULL);
    assert_non_null(s);
    return s;
}

static void expect_line(coio_stream *s, const char *want)
{
    char line[4096];
    ssize_t n = coio_stream_readline(s, line, sizeof line - 1);
    assert_true(n >= 0);
    line[n] = 0;
    assert_string_equal(line, want);
}

/* Runs fn as the main task of a loop on the backend under test. */
static void run(int (*fn)(void *), void *arg)
{
    require_backend();
    make_certs();
    coio_assert_rc(coio_run(fn, arg), 0);
}

/* ---- a working connection ---------------------------------------------------------- */

static int stream_api_main(void *arg)
{
    (void)arg;
    srv sv = {.cfg = server_config("srv.crt", "srv.key"), .handler = echo_lines};
    coio_assert_rc(coio_tls_config_set_alpn(sv.cfg, "http/1.1,h2"), 0);
    srv_start(&sv);
    coio_tls_config *c = client_config();
    coio_assert_rc(coio_tls_config_set_alpn(c, "h2,http/1.1"), 0);
    coio_tls *t;
    coio_stream *s = client_stream(c, &sv, "localhost", &t);
    /* a config that has been used is frozen */
    coio_assert_rc(coio_tls_config_set_alpn(c, "h2"), -EBUSY);
    assert_string_equal(coio_tls_alpn(t), "http/1.1"); /* the server's preference */
    assert_string_equal(coio_tls_version(t), "TLSv1.3");
    assert_string_equal(coio_tls_server_name(t), "localhost");
    assert_int_equal(coio_tls_fd(t), coio_stream_fd(s));

    /* readline, read_until, read_exactly, writev, drain over TLS */
    coio_assert_rc(coio_stream_write(s, "hello\n", 6), 6);
    expect_line(s, "hello\n");
    coio_assert_rc(coio_stream_write(s, "a;b;c\n", 6), 6);
    char buf[64];
    coio_assert_rc(coio_stream_read_until(s, ";", 1, buf, sizeof buf), 2);
    coio_assert_rc(coio_stream_read_exactly(s, buf, 4, NULL), 4);
    assert_memory_equal(buf, "b;c\n", 4);
    struct iovec iov[2] = {{"wri", 3}, {"tev\n", 4}};
    coio_assert_rc(coio_stream_writev(s, iov, 2), 7);
    coio_assert_rc(coio_stream_drain(s), 0);
    expect_line(s, "writev\n");
    assert_string_equal(sv.hs_error, "");
    assert_string_equal(coio_tls_server_name(NULL) ? "x" : "", "");

    /* write_eof is close_notify: the server's readline sees the end, closes, and the
     * client reads a clean end */
    coio_assert_rc(coio_stream_write_eof(s), 0);
    coio_assert_rc(coio_stream_read(s, buf, sizeof buf), 0);
    assert_true(coio_stream_at_eof(s));
    coio_assert_rc(coio_stream_close(s), 0);
    coio_tls_config_destroy(c);
    srv_stop(&sv);
    return 0;
}

static void stream_api(void **state)
{
    (void)state;
    run(stream_api_main, NULL);
}

/* The server name: SNI as the server saw it, and verification of an IP address. */
static int sni_and_ip_main(void *arg)
{
    (void)arg;
    srv sv = {.cfg = server_config("srv.crt", "srv.key"), .handler = echo_one};
    srv_start(&sv);
    coio_tls_config *c = client_config();
    coio_stream *s = client_stream(c, &sv, "127.0.0.1", NULL); /* IP SAN verified */
    coio_assert_rc(coio_stream_write(s, "ip\n", 3), 3);
    expect_line(s, "ip\n");
    coio_stream_close(s);
    srv_wait_handshakes(&sv, 1);

    /* STARTTLS: plain TCP first, then the handshake over the same fd */
    int fd = coio_tcp_connect("127.0.0.1", sv.portstr);
    assert_true(fd >= 0);
    coio_tls *t;
    coio_assert_rc(coio_tls_client(c, fd, "localhost", COIO_TLS_OWN_FD, &t), 0);
    s = coio_tls_stream_open(t, NULL);
    assert_non_null(s);
    coio_assert_rc(coio_stream_write(s, "starttls\n", 9), 9);
    expect_line(s, "starttls\n");
    coio_stream_close(s); /* closes fd: the connection owned it */
    srv_wait_handshakes(&sv, 2);
    coio_tls_config_destroy(c);
    srv_stop(&sv);
    return 0;
}

static void sni_and_ip(void **state)
{
    (void)state;
    run(sni_and_ip_main, NULL);
}

/* A second connection to the same server resumes the session of the first. */
static int resumption_main(void *arg)
{
    (void)arg;
    srv sv = {.cfg = server_config("srv.crt", "srv.key"), .handler = echo_one};
    srv_start(&sv);
    coio_tls_config *c = client_config();
    for (int i = 0; i < 2; i++) {
        coio_tls *t;
        coio_stream *s = client_stream(c, &sv, "localhost", &t);
        assert_int_equal(coio_tls_resumed(t), i);
        coio_assert_rc(coio_stream_write(s, "x\n", 2), 2);
        expect_line(s, "x\n"); /* the tickets arrive with the answer */
        coio_stream_close(s);
    }
    coio_tls_config_destroy(c);
    srv_stop(&sv);
    return 0;
}

static void resumption(void **state)
{
    (void)state;
    run(resumption_main, NULL);
}

/* Client certificates: required by the server, refused without one. */
static int client_cert_main(void *arg)
{
    (void)arg;
    srv sv = {.cfg = server_config("srv.crt", "srv.key"), .handler = echo_one};
    coio_assert_rc(coio_tls_config_set_ca(sv.cfg, cert("ca.crt"), NULL), 0);
    coio_assert_rc(coio_tls_config_set_verify(sv.cfg, COIO_TLS_VERIFY_REQUIRE), 0);
    srv_start(&sv);

    coio_tls_config *c = client_config();
    coio_assert_rc(coio_tls_config_set_cert_file(c, cert("cli.crt"), cert("cli.key")), 0);
    coio_stream *s = client_stream(c, &sv, "localhost", NULL);
    coio_assert_rc(coio_stream_write(s, "cert\n", 5), 5);
    expect_line(s, "cert\n");
    coio_stream_close(s);
    srv_wait_handshakes(&sv, 1);
    coio_assert_rc(sv.hs_result, 0);
    coio_tls_config_destroy(c);

    /* Without a certificate. In TLS 1.3 the client's handshake ends before the server
     * has judged it: the refusal comes as an alert to the first read. */
    c = client_config();
    coio_tls *t;
    int r = coio_tls_connect(c, "localhost", sv.portstr, &t);
    if (r == 0) {
        char b[16];
        s = coio_tls_stream_open(t, NULL);
        coio_stream_write(s, "x\n", 2);
        r = (int)coio_stream_read(s, b, sizeof b);
        coio_stream_abort(s);
    }
    coio_assert_rc(r, -EACCES);
    srv_wait_handshakes(&sv, 2);
    coio_assert_rc(sv.hs_result, -EACCES);
    coio_tls_config_destroy(c);
    srv_stop(&sv);
    return 0;
}

static void client_cert(void **state)
{
    (void)state;
    run(client_cert_main, NULL);
}

/* ---- failures, each with its errno ------------------------------------------------- */

typedef struct fail_case {
    const char *crt, *key; /* the server's */
    const char *host;      /* the client connects to */
    int client_min, client_max, server_min, server_max;
    const char *client_alpn, *server_alpn;
    int want_client, want_server;
    const char *want_text; /* in coio_tls_last_error() of the client */
} fail_case;

static int failure_main(void *arg)
{
    const fail_case *fc = arg;
    srv sv = {.cfg = server_config(fc->crt, fc->key), .handler = echo_one};
    if (fc->server_min)
        coio_assert_rc(coio_tls_config_set_versions(sv.cfg, fc->server_min, fc->server_max), 0);
    if (fc->server_alpn)
        coio_assert_rc(coio_tls_config_set_alpn(sv.cfg, fc->server_alpn), 0);
    srv_start(&sv);
    coio_tls_config *c = client_config();
    if (fc->client_min)
        coio_assert_rc(coio_tls_config_set_versions(c, fc->client_min, fc->client_max), 0);
    if (fc->client_alpn)
        coio_assert_rc(coio_tls_config_set_alpn(c, fc->client_alpn), 0);
    coio_tls *t = NULL;
    int r;
    if (strcmp(fc->host, "localhost") == 0 || strcmp(fc->host, "127.0.0.1") == 0) {
        r = coio_tls_connect(c, fc->host, sv.portstr, &t);
    } else { /* a name that does not resolve here: connect by address, verify the name */
        int fd = coio_tcp_connect("127.0.0.1", sv.portstr);
        assert_true(fd >= 0);
        r = coio_tls_client(c, fd, fc->host, 0, &t);
        coio_close(fd);
    }
    char text[256];
    snprintf(text, sizeof text, "%s", coio_tls_last_error());
    print_message("client: %s (%s)\n", coio_err_name(r), text);
    coio_assert_rc(r, fc->want_client);
    assert_null(t);
    if (fc->want_text && !strstr(text, fc->want_text)) {
        print_error("error text \"%s\" lacks \"%s\"\n", text, fc->want_text);
        fail();
    }
    srv_wait_handshakes(&sv, 1);
    print_message("server: %s (%s)\n", coio_err_name(sv.hs_result), sv.hs_error);
    coio_assert_rc(sv.hs_result, fc->want_server);
    coio_tls_config_destroy(c);
    srv_stop(&sv);
    return 0;
}

static void unknown_ca(void **state)
{
    (void)state;
    fail_case fc = {"other.crt", "other.key", "localhost", .want_client = -EKEYREJECTED,
                    .want_server = -EACCES, .want_text = "self-signed"};
    run(failure_main, &fc);
}

static void wrong_host_name(void **state)
{
    (void)state;
    fail_case fc = {"srv.crt", "srv.key", "www.example.invalid", .want_client = -ENOKEY,
                    .want_server = -EACCES, .want_text = "hostname mismatch"};
    run(failure_main, &fc);
}

static void wrong_ip_address(void **state)
{
    (void)state;
    /* the certificate names 127.0.0.1 and ::1, not this address */
    fail_case fc = {"srv.crt", "srv.key", "127.0.0.2", .want_client = -ENOKEY,
                    .want_server = -EACCES, .want_text = "IP address mismatch"};
    run(failure_main, &fc);
}

static void expired_certificate(void **state)
{
    (void)state;
    fail_case fc = {"exp.crt", "exp.key", "localhost", .want_client = -EKEYEXPIRED,
                    .want_server = -EACCES, .want_text = "expired"};
    run(failure_main, &fc);
}

static void no_shared_version(void **state)
{
    (void)state;
    fail_case fc = {"srv.crt", "srv.key", "localhost",
                    .client_min = COIO_TLS_1_2, .client_max = COIO_TLS_1_2,
                    .server_min = COIO_TLS_1_3, .server_max = COIO_TLS_1_3,
                    .want_client = -EPROTONOSUPPORT, .want_server = -EPROTONOSUPPORT};
    run(failure_main, &fc);
}

static void no_shared_alpn(void **state)
{
    (void)state;
    fail_case fc = {"srv.crt", "srv.key", "localhost", .client_alpn = "h2",
                    .server_alpn = "http/1.1", .want_client = -EPROTONOSUPPORT,
                    .want_server = -EPROTONOSUPPORT};
    run(failure_main, &fc);
}

/* Plain HTTP spoken to the TLS port. */
static int http_to_tls_port_main(void *arg)
{
    (void)arg;
    srv sv = {.cfg = server_config("srv.crt", "srv.key")};
    srv_start(&sv);
    int fd = coio_tcp_connect("127.0.0.1", sv.portstr);
    assert_true(fd >= 0);
    static const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    coio_assert_rc(coio_send_all(fd, req, sizeof req - 1, 0), sizeof req - 1);
    srv_wait_handshakes(&sv, 1);
    print_message("server: %s (%s)\n", coio_err_name(sv.hs_result), sv.hs_error);
    coio_assert_rc(sv.hs_result, -EPROTO);
    assert_non_null(strstr(sv.hs_error, "http request"));
    coio_close(fd);
    srv_stop(&sv);
    return 0;
}

static void http_to_tls_port(void **state)
{
    (void)state;
    run(http_to_tls_port_main, NULL);
}

/* Plain servers that misbehave in the handshake. */
enum { PLAIN_HTTP_400, PLAIN_RESET, PLAIN_EOF, PLAIN_SILENT };

static int plain_handler(srv *sv, int fd, coio_stream *s, coio_tls *t)
{
    (void)s, (void)t;
    char buf[4096];
    int mode = *(int *)sv->arg;
    if (mode == PLAIN_SILENT) {
        coio_sleep(30); /* until the client gives up and the server is closed */
        return 0;
    }
    ssize_t n = coio_recv(fd, buf, sizeof buf, 0); /* the ClientHello */
    assert_true(n > 0);
    if (mode == PLAIN_HTTP_400) {
        static const char resp[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        coio_send_all(fd, resp, sizeof resp - 1, 0);
    } else if (mode == PLAIN_RESET) {
        struct linger lg = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg); /* close sends RST */
    }
    sv->handshakes++;
    return 0;
}

typedef struct plain_case {
    int mode;
    int want;
    double timeout;
} plain_case;

static int tls_to_plain_main(void *arg)
{
    plain_case *pc = arg;
    srv sv = {.plain = true, .handler = plain_handler, .arg = &pc->mode};
    srv_start(&sv);
    coio_tls_config *c = client_config();
    coio_tls *t = NULL;
    int r;
    double t0 = coio_now();
    if (pc->timeout > 0) {
        COIO_WITH_TIMEOUT(pc->timeout)
        {
            r = coio_tls_connect(c, "localhost", sv.portstr, &t);
        }
    } else {
        r = coio_tls_connect(c, "localhost", sv.portstr, &t);
    }
    print_message("client: %s (%s) after %.3f s\n", coio_err_name(r), coio_tls_last_error(),
                  coio_now() - t0);
    coio_assert_rc(r, pc->want);
    assert_null(t);
    coio_tls_config_destroy(c);
    coio_server_close(sv.server, 0);
    return 0;
}

static void tls_to_plain_port(void **state)
{
    (void)state;
    plain_case pc = {PLAIN_HTTP_400, -EPROTO, 0};
    run(tls_to_plain_main, &pc);
}

static void reset_mid_handshake(void **state)
{
    (void)state;
    plain_case pc = {PLAIN_RESET, -ECONNRESET, 0};
    run(tls_to_plain_main, &pc);
}

static void eof_mid_handshake(void **state)
{
    (void)state;
    plain_case pc = {PLAIN_EOF, -ECONNABORTED, 0};
    run(tls_to_plain_main, &pc);
}

/* A deadline ends a handshake the server never answers: nothing leaks (fd count, ASan). */
static void timeout_mid_handshake(void **state)
{
    (void)state;
    plain_case pc = {PLAIN_SILENT, -ETIMEDOUT, 0.2};
    run(tls_to_plain_main, &pc);
}

/* A client that resets its connection mid-handshake, as the server sees it. */
static int server_sees_reset_main(void *arg)
{
    (void)arg;
    srv sv = {.cfg = server_config("srv.crt", "srv.key")};
    srv_start(&sv);
    int fd = coio_tcp_connect("127.0.0.1", sv.portstr);
    assert_true(fd >= 0);
    /* the start of a TLS record header: the server waits for the rest */
    coio_assert_rc(coio_send_all(fd, "\x16\x03\x01\x01\x00\x01", 6, 0), 6);
    coio_sleep(0.05);
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    coio_close(fd);
    srv_wait_handshakes(&sv, 1);
    coio_assert_rc(sv.hs_result, -ECONNRESET);
    srv_stop(&sv);
    return 0;
}

static void server_sees_reset(void **state)
{
    (void)state;
    run(server_sees_reset_main, NULL);
}

/* Cancelling the handshake on both sides: a server handshake under a deadline and a
 * client task cancelled while it waits. */
static int cancel_handshake_main(void *arg)
{
    (void)arg;
    srv sv = {.cfg = server_config("srv.crt", "srv.key"), .hs_timeout = 0.1};
    srv_start(&sv);
    int fd = coio_tcp_connect("127.0.0.1", sv.portstr); /* and says nothing */
    assert_true(fd >= 0);
    srv_wait_handshakes(&sv, 1);
    coio_assert_rc(sv.hs_result, -ETIMEDOUT);
    coio_close(fd);
    srv_stop(&sv);
    return 0;
}

static void cancel_mid_handshake(void **state)
{
    (void)state;
    run(cancel_handshake_main, NULL);
}

typedef struct connect_job {
    coio_tls_config *c;
    const char *port;
    coio_tls *t;
} connect_job;

static int connect_task(void *arg)
{
    connect_job *j = arg;
    return coio_tls_connect(j->c, "localhost", j->port, &j->t);
}

static int cancel_client_handshake_main(void *arg)
{
    (void)arg;
    int mode = PLAIN_SILENT;
    srv sv = {.plain = true, .handler = plain_handler, .arg = &mode};
    srv_start(&sv);
    coio_tls_config *c = client_config();
    connect_job j = {c, sv.portstr, NULL};
    coio_task *task = coio_spawn(connect_task, &j);
    coio_sleep(0.1);
    coio_cancel(task);
    coio_assert_rc(coio_await(task), -ECANCELED);
    assert_null(j.t);
    coio_tls_config_destroy(c);
    coio_server_close(sv.server, 0);
    return 0;
}

static void cancel_client_handshake(void **state)
{
    (void)state;
    run(cancel_client_handshake_main, NULL);
}

/* ---- reading: interruption and truncation ------------------------------------------ */

/* The server answers a line after a pause; then ends the TCP connection without
 * close_notify (mode 1) or with it (mode 0). */
static int late_then_end(srv *sv, int fd, coio_stream *s, coio_tls *t)
{
    (void)t;
    char line[64];
    if (coio_stream_readline(s, line, sizeof line) <= 0)
        return 0;
    coio_sleep(0.3);
    coio_stream_write(s, "late\n", 5);
    coio_stream_flush(s);
    if (*(int *)sv->arg == 1)
        shutdown(fd, SHUT_WR); /* TCP FIN, no TLS close_notify: a truncation */
    else
        coio_stream_write_eof(s);
    coio_sleep(0.2);
    return 0;
}

static int read_end_main(void *arg)
{
    int mode = *(int *)arg;
    srv sv = {.cfg = server_config("srv.crt", "srv.key"), .handler = late_then_end,
              .arg = &mode};
    srv_start(&sv);
    coio_tls_config *c = client_config();
    coio_stream *s = client_stream(c, &sv, "localhost", NULL);
    coio_assert_rc(coio_stream_write(s, "go\n", 3), 3);
    char buf[64];
    /* a read cut short by its deadline loses nothing: the next one gets the line */
    COIO_WITH_TIMEOUT(0.05)
    {
        coio_assert_rc(coio_stream_read(s, buf, sizeof buf), -ETIMEDOUT);
    }
    expect_line(s, "late\n");
    ssize_t r = coio_stream_read(s, buf, sizeof buf);
    print_message("end: %s (%s)\n", r < 0 ? coio_err_name((int)r) : "0",
                  coio_tls_last_error());
    coio_assert_rc(r, mode == 1 ? -ECONNABORTED : 0);
    if (mode == 1)
        assert_non_null(strstr(coio_tls_last_error(), "truncated"));
    coio_stream_abort(s);
    coio_tls_config_destroy(c);
    srv_stop(&sv);
    return 0;
}

static void truncation(void **state)
{
    (void)state;
    int mode = 1;
    run(read_end_main, &mode);
}

static void close_notify_is_clean_eof(void **state)
{
    (void)state;
    int mode = 0;
    run(read_end_main, &mode);
}

/* A task blocked reading a TLS stream is cancelled; the stream is then closed. */
static int reader_task(void *arg)
{
    char buf[64];
    return (int)coio_stream_read(arg, buf, sizeof buf);
}

static int cancel_read_main(void *arg)
{
    (void)arg;
    srv sv = {.cfg = server_config("srv.crt", "srv.key"), .handler = echo_lines};
    srv_start(&sv);
    coio_tls_config *c = client_config();
    coio_stream *s = client_stream(c, &sv, "localhost", NULL);
    coio_task *rd = coio_spawn(reader_task, s);
    coio_sleep(0.05);
    coio_cancel(rd);
    coio_assert_rc(coio_await(rd), -ECANCELED);
    /* still usable */
    coio_assert_rc(coio_stream_write(s, "after\n", 6), 6);
    expect_line(s, "after\n");
    /* a reader blocked when the stream is closed by another task */
    rd = coio_spawn(reader_task, s);
    coio_sleep(0.05);
    coio_assert_rc(coio_stream_close(s), 0);
    coio_assert_rc(coio_await(rd), -EBADF);
    coio_tls_config_destroy(c);
    srv_stop(&sv);
    return 0;
}

static void cancel_mid_read(void **state)
{
    (void)state;
    run(cancel_read_main, NULL);
}

/* ---- volume ------------------------------------------------------------------------ */

#define MIB (1024 * 1024)

/* Echoes bytes (not lines) until the end. */
static int echo_bytes(srv *sv, int fd, coio_stream *s, coio_tls *t)
{
    (void)sv, (void)fd, (void)t;
    char *buf = malloc(64 * 1024);
    ssize_t n;
    while ((n = coio_stream_read(s, buf, 64 * 1024)) > 0)
        if (coio_stream_write(s, buf, (size_t)n) < 0 || coio_stream_drain(s) < 0)
            break;
    coio_stream_write_eof(s);
    free(buf);
    return 0;
}

typedef struct writer_job {
    coio_stream *s;
    const char *data;
    size_t n;
} writer_job;

static int writer_task(void *arg)
{
    writer_job *w = arg;
    for (size_t off = 0; off < w->n; off += 100000) {
        size_t k = w->n - off < 100000 ? w->n - off : 100000;
        ssize_t r = coio_stream_write(w->s, w->data + off, k);
        if (r < 0)
            return (int)r;
        int e = coio_stream_drain(w->s);
        if (e < 0)
            return e;
    }
    return coio_stream_write_eof(w->s);
}

static int mib_main(void *arg)
{
    (void)arg;
    srv sv = {.cfg = server_config("srv.crt", "srv.key"), .handler = echo_bytes};
    srv_start(&sv);
    coio_tls_config *c = client_config();
    coio_stream *s = client_stream(c, &sv, "localhost", NULL);
    char *out = malloc(MIB), *in = malloc(MIB + 1);
    for (size_t i = 0; i < MIB; i++)
        out[i] = (char)(i * 2654435761u >> 13);
    writer_job w = {s, out, MIB};
    coio_task *wt = coio_spawn(writer_task, &w);
    size_t got = 0;
    coio_assert_rc(coio_stream_read_exactly(s, in, MIB, &got), MIB);
    coio_assert_rc(coio_stream_read(s, in, 1), 0); /* the echo's close_notify */
    coio_assert_rc(coio_await(wt), 0);
    assert_memory_equal(in, out, MIB);
    free(in);
    free(out);
    coio_stream_close(s);
    coio_tls_config_destroy(c);
    srv_stop(&sv);
    return 0;
}

static void mib_both_ways(void **state)
{
    (void)state;
    run(mib_main, NULL);
}

/* A server that reads nothing for a while: the client's writes fill the socket, so
 * encrypted data waits in the connection while the stream still counts it as queued.
 * Every byte must arrive once, in order. */
static int slow_reader(srv *sv, int fd, coio_stream *s, coio_tls *t)
{
    (void)sv, (void)fd, (void)t;
    coio_sleep(0.3);
    char *buf = malloc(64 * 1024);
    size_t total = 0;
    uint32_t bad = 0;
    ssize_t n;
    while ((n = coio_stream_read(s, buf, 64 * 1024)) > 0) {
        for (ssize_t i = 0; i < n; i++, total++)
            bad += (unsigned char)buf[i] != (unsigned char)(total * 7 >> 3);
        if (total % (1024 * 1024) < (size_t)n)
            coio_sleep(0.01); /* keep the client's socket full now and then */
    }
    free(buf);
    char line[64];
    int len = snprintf(line, sizeof line, "%zu %u\n", total, bad);
    coio_stream_write(s, line, (size_t)len);
    return 0;
}

static int backpressure_main(void *arg)
{
    (void)arg;
    srv sv = {.cfg = server_config("srv.crt", "srv.key"), .handler = slow_reader};
    srv_start(&sv);
    coio_tls_config *c = client_config();
    coio_stream *s = client_stream(c, &sv, "localhost", NULL);
    size_t total = 16 * MIB;
    char *out = malloc(total);
    for (size_t i = 0; i < total; i++)
        out[i] = (char)(i * 7 >> 3);
    for (size_t off = 0; off < total;) {
        size_t k = 1 + (off * 2654435761u) % 200000; /* uneven sizes */
        if (k > total - off)
            k = total - off;
        coio_assert_rc(coio_stream_write(s, out + off, k), k);
        coio_assert_rc(coio_stream_drain(s), 0);
        off += k;
    }
    coio_assert_rc(coio_stream_write_eof(s), 0);
    char want[64];
    snprintf(want, sizeof want, "%zu 0\n", total);
    expect_line(s, want);
    free(out);
    coio_stream_close(s);
    coio_tls_config_destroy(c);
    srv_stop(&sv);
    return 0;
}

static void backpressure(void **state)
{
    (void)state;
    run(backpressure_main, NULL);
}

/* The calls without a stream: 1 MiB written with coio_tls_write, read with
 * coio_tls_read, close_notify by coio_tls_shutdown. */
static int direct_main(void *arg)
{
    (void)arg;
    srv sv = {.cfg = server_config("srv.crt", "srv.key"), .handler = echo_bytes};
    srv_start(&sv);
    coio_tls_config *c = client_config();
    coio_tls *t;
    coio_assert_rc(coio_tls_connect(c, "localhost", sv.portstr, &t), 0);
    char *out = malloc(MIB), *in = malloc(MIB);
    memset(out, 'z', MIB);
    /* the echo comes back while we write: 1 MiB would not fit the socket buffers, so
     * write half, read it back, then the other half */
    for (int half = 0; half < 2; half++) {
        coio_assert_rc(coio_tls_write(t, out, MIB / 2), MIB / 2);
        size_t got = 0;
        while (got < MIB / 2) {
            ssize_t n = coio_tls_read(t, in + got, MIB / 2 - got);
            assert_true(n > 0);
            got += (size_t)n;
        }
    }
    assert_memory_equal(in, out, MIB / 2);
    coio_assert_rc(coio_tls_shutdown(t), 0);
    coio_assert_rc(coio_tls_write(t, "x", 1), -EPIPE);
    char b[8];
    coio_assert_rc(coio_tls_read(t, b, sizeof b), 0);
    coio_assert_rc(coio_tls_close(t), 0);
    free(in);
    free(out);
    coio_tls_config_destroy(c);
    srv_stop(&sv);
    return 0;
}

static void direct_calls(void **state)
{
    (void)state;
    run(direct_main, NULL);
}

/* 1,000 TLS connections open at once. */
#define NCONN 1000

typedef struct many {
    coio_tls_config *c;
    srv *sv;
    int ok;
    int first_err;
} many;

static int many_client(void *arg)
{
    many *m = arg;
    coio_tls *t;
    int r = coio_tls_connect(m->c, "localhost", m->sv->portstr, &t);
    if (r < 0) {
        if (!m->first_err)
            m->first_err = r;
        return 0;
    }
    coio_stream *s = coio_tls_stream_open(t, NULL);
    char line[32];
    if (coio_stream_write(s, "hi\n", 3) == 3 && coio_stream_readline(s, line, sizeof line) == 3)
        m->ok++;
    coio_stream_close(s);
    return 0;
}

/* Holds the connection until the client has sent its line, which it does only once
 * every client is connected (a barrier on the client side). */
static int many_main(void *arg)
{
    (void)arg;
    srv sv = {.cfg = server_config("srv.crt", "srv.key"), .handler = echo_one};
    srv_start(&sv);
    many m = {.c = client_config(), .sv = &sv};
    coio_group *g = coio_group_create();
    for (int i = 0; i < NCONN; i++) {
        coio_spawn_opts o = {.stack_size = 64 * 1024};
        coio_assert_rc(coio_group_spawn_ex(g, many_client, &m, &o), 0);
    }
    coio_assert_rc(coio_group_wait(g), 0);
    coio_group_destroy(g);
    print_message("%d of %d connections ok (%s)\n", m.ok, NCONN,
                  m.first_err ? coio_err_name(m.first_err) : "no error");
    assert_int_equal(m.ok, NCONN);
    coio_tls_config_destroy(m.c);
    srv_stop(&sv);
    return 0;
}

static void thousand_connections(void **state)
{
    (void)state;
    long lim = raise_nofile();
    if (lim < 2 * NCONN + 100)
        coio_test_skip("RLIMIT_NOFILE hard limit %ld < %d", lim, 2 * NCONN + 100);
    run(many_main, NULL);
}

/* ---- other peers ------------------------------------------------------------------- */

/* Reads the peer's stdout until a line holding `word`, returns the number after its
 * last ':' (openssl s_server's "ACCEPT 127.0.0.1:PORT") or a plain number line. */
static int read_port_line(peer *p, const char *word)
{
    char line[256];
    for (;;) {
        size_t got = 0;
        while (got + 1 < sizeof line) {
            ssize_t n = coio_read(p->out, line + got, 1);
            if (n <= 0)
                return -1;
            if (line[got] == '\n')
                break;
            got++;
        }
        line[got] = 0;
        if (!word)
            return atoi(line);
        if (strstr(line, word)) {
            char *colon = strrchr(line, ':');
            return colon ? atoi(colon + 1) : -1;
        }
    }
}

/* Starts the peer argv, reads the port it announces (read_port_line: on the line that
 * holds word, or alone on one) and connects a TLS client of c to host:port. */
static coio_tls *peer_tls_connect(peer *p, char *const argv[], const char *word, const char *host,
                                  coio_tls_config *c)
{
    coio_assert_rc(peer_start(p, argv, 1, -1), 0);
    int port = read_port_line(p, word);
    assert_true(port > 0);
    char ps[8];
    snprintf(ps, sizeof ps, "%d", port);
    coio_tls *t;
    int r = coio_tls_connect(c, host, ps, &t);
    if (r < 0)
        print_error("connect: %s\n", coio_tls_last_error());
    coio_assert_rc(r, 0);
    return t;
}

static int s_server_main(void *arg)
{
    (void)arg;
    char *argv[] = {"openssl", "s_server", "-accept", "127.0.0.1:0", "-cert",
                    (char *)cert("srv.crt"), "-key", (char *)cert("srv.key"), "-rev",
                    "-naccept", "1", NULL};
    peer p = {0, -1};
    coio_tls_config *c = client_config();
    coio_tls *t = peer_tls_connect(&p, argv, "ACCEPT", "localhost", c);
    coio_stream *s = coio_tls_stream_open(t, NULL);
    coio_assert_rc(coio_stream_write(s, "hello\n", 6), 6);
    expect_line(s, "olleh\n"); /* -rev answers every line reversed */
    coio_stream_close(s);
    coio_tls_config_destroy(c);
    peer_wait(&p, 5);
    return 0;
}

static void openssl_s_server(void **state)
{
    (void)state;
    coio_test_require_program("openssl", "openssl");
    run(s_server_main, NULL);
}

/* Python's ssl module serves one HTTP request with a 1 MiB body, then unwraps. */
static const char py_server[] =
    "import socket, ssl, sys\n"
    "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
    "ctx.load_cert_chain(sys.argv[1], sys.argv[2])\n"
    "ls = socket.socket(); ls.bind(('127.0.0.1', 0)); ls.listen()\n"
    "print(ls.getsockname()[1], flush=True)\n"
    "c, _ = ls.accept(); s = ctx.wrap_socket(c, server_side=True)\n"
    "req = b''\n"
    "while b'\\r\\n\\r\\n' not in req:\n"
    "    req += s.recv(4096)\n"
    "body = bytes(range(256)) * 4096\n"
    "s.sendall(b'HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n' % len(body) + body)\n"
    "s.unwrap(); c.close()\n";

static int py_server_main(void *arg)
{
    (void)arg;
    char *argv[] = {(char *)python3_path(), "-c", (char *)py_server, (char *)cert("srv.crt"),
                    (char *)cert("srv.key"), NULL};
    peer p = {0, -1};
    coio_tls_config *c = client_config();
    coio_tls *t = peer_tls_connect(&p, argv, NULL, "127.0.0.1", c);
    coio_stream *s = coio_tls_stream_open(t, NULL);
    static const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    coio_assert_rc(coio_stream_write(s, req, sizeof req - 1), sizeof req - 1);
    expect_line(s, "HTTP/1.1 200 OK\r\n");
    expect_line(s, "Content-Length: 1048576\r\n");
    expect_line(s, "\r\n");
    char *body = malloc(MIB);
    coio_assert_rc(coio_stream_read_exactly(s, body, MIB, NULL), MIB);
    for (size_t i = 0; i < MIB; i++)
        assert_int_equal((unsigned char)body[i], i & 255);
    free(body);
    char b[4];
    coio_assert_rc(coio_stream_read(s, b, sizeof b), 0); /* unwrap: close_notify */
    coio_stream_close(s);
    coio_tls_config_destroy(c);
    assert_int_equal(peer_wait(&p, 5), 0);
    return 0;
}

static void python_ssl_server(void **state)
{
    (void)state;
    run(py_server_main, NULL);
}

/* The stream reader over TLS records of random sizes from a real OpenSSL peer (Python):
 * lines of random lengths, cut into records of 1 byte to 64 KiB, read with readline and
 * read_until in turn. */
static const char py_records[] =
    "import socket, ssl, sys, random\n"
    "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
    "ctx.load_cert_chain(sys.argv[1], sys.argv[2])\n"
    "ls = socket.socket(); ls.bind(('127.0.0.1', 0)); ls.listen()\n"
    "print(ls.getsockname()[1], flush=True)\n"
    "c, _ = ls.accept(); s = ctx.wrap_socket(c, server_side=True)\n"
    "rnd = random.Random(int(sys.argv[3]))\n"
    "data = b''.join(b'%d:%s\\n' % (i, b'x' * rnd.randrange(0, 3000)) for i in range(2000))\n"
    "i = 0\n"
    "while i < len(data):\n"
    "    k = rnd.choice([1, 2, 3, 7, 100, 1000, 16383, 16384, 16385, rnd.randrange(1, 65536)])\n"
    "    s.sendall(data[i:i + k]); i += k\n"
    "s.unwrap(); c.close()\n";

static int records_main(void *arg)
{
    (void)arg;
    char seed[16];
    snprintf(seed, sizeof seed, "%u", (unsigned)time(NULL));
    print_message("seed %s\n", seed);
    char *argv[] = {(char *)python3_path(), "-c", (char *)py_records, (char *)cert("srv.crt"),
                    (char *)cert("srv.key"), seed, NULL};
    peer p = {0, -1};
    coio_tls_config *c = client_config();
    coio_tls *t = peer_tls_connect(&p, argv, NULL, "127.0.0.1", c);
    coio_stream_opts o = {.limit = 4096};
    coio_stream *s = coio_tls_stream_open(t, &o);
    char line[4096];
    for (int i = 0; i < 2000; i++) {
        ssize_t n;
        char num[16];
        if (i & 1) {
            n = coio_stream_read_until(s, ":", 1, line, sizeof line);
            assert_true(n > 1);
            line[n - 1] = 0;
            assert_int_equal(atoi(line), i);
            n = coio_stream_readline(s, line, sizeof line);
            assert_true(n >= 1);
        } else {
            n = coio_stream_readline(s, line, sizeof line);
            assert_true(n >= 3);
            snprintf(num, sizeof num, "%d:", i);
            assert_memory_equal(line, num, strlen(num));
        }
        assert_int_equal(line[n - 1], '\n');
        for (ssize_t k = (i & 1) ? 0 : (ssize_t)strlen(num); k < n - 1; k++)
            assert_int_equal(line[k], 'x');
    }
    coio_assert_rc(coio_stream_readline(s, line, sizeof line), 0);
    coio_stream_close(s);
    coio_tls_config_destroy(c);
    assert_int_equal(peer_wait(&p, 10), 0);
    return 0;
}

static void random_records(void **state)
{
    (void)state;
    run(records_main, NULL);
}

/* How a stream's end reaches a real OpenSSL peer (Python's ssl over memory BIOs, so it
 * also reports what TCP said: byte counts, 0 for a FIN, rst): coio_stream_close sends
 * close_notify (a clean end), coio_stream_abort sends nothing, so the peer sees the
 * connection end without one (SSLEOFError) or a reset, never a clean end of the data. */
static const char py_end[] =
    "import socket, ssl, sys\n"
    "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
    "ctx.load_cert_chain(sys.argv[1], sys.argv[2])\n"
    "ctx.options &= ~getattr(ssl, 'OP_IGNORE_UNEXPECTED_EOF', 0)\n" /* Debian sets it */
    "ls = socket.socket(); ls.bind(('127.0.0.1', 0)); ls.listen()\n"
    "print(ls.getsockname()[1], flush=True)\n"
    "c, _ = ls.accept()\n"
    "inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()\n"
    "s = ctx.wrap_bio(inc, out, server_side=True)\n"
    "data, log, end = b'', [], None\n"
    "while end is None:\n"
    "    try: raw = c.recv(65536)\n"
    "    except ConnectionResetError: log.append('rst'); end = 'reset'; break\n"
    "    log.append(len(raw))\n"
    "    if raw: inc.write(raw)\n"
    "    else: inc.write_eof()\n"
    "    try:\n"
    "        while True:\n"
    "            d = s.read(4096)\n"
    "            if not d: end = 'clean'; break\n"
    "            data += d\n"
    "    except ssl.SSLWantReadError: pass\n"
    "    except ssl.SSLZeroReturnError: end = 'clean'\n"
    "    except ssl.SSLError as e:\n" /* SSLEOFError, or this reason on Debian's */
    "        eof = isinstance(e, ssl.SSLEOFError) or e.reason == 'UNEXPECTED_EOF_WHILE_READING'\n"
    "        end = 'truncated' if eof else 'error:%s' % e.reason\n"
    "    try: c.sendall(out.read())\n"
    "    except OSError: pass\n" /* the session tickets, to a client that is gone */
    "print(end, data.decode().strip(), log, flush=True)\n";

static int end_seen_main(void *arg)
{
    bool abort = *(bool *)arg;
    char *argv[] = {(char *)python3_path(), "-c", (char *)py_end, (char *)cert("srv.crt"),
                    (char *)cert("srv.key"), NULL};
    peer p = {0, -1};
    coio_tls_config *c = client_config();
    coio_tls *t = peer_tls_connect(&p, argv, NULL, "127.0.0.1", c);
    coio_stream *s = coio_tls_stream_open(t, NULL);
    coio_assert_rc(coio_stream_write(s, "last words\n", 11), 11);
    coio_assert_rc(coio_stream_flush(s), 0);
    coio_assert_rc(abort ? coio_stream_abort(s) : coio_stream_close(s), 0);
    char out[256];
    peer_read_all(&p, out, sizeof out);
    print_message("peer after %s: %s", abort ? "abort" : "close", out);
    assert_int_equal(peer_wait(&p, 10), 0);
    if (abort)
        assert_true(!strncmp(out, "truncated last words ", 21) ||
                    !strncmp(out, "reset last words ", 17));
    else
        assert_true(!strncmp(out, "clean last words ", 17));
    coio_tls_config_destroy(c);
    return 0;
}

static void abort_sends_no_close_notify(void **state)
{
    (void)state;
    bool abort = false;
    run(end_seen_main, &abort);
    abort = true;
    run(end_seen_main, &abort);
}

/* Clients against a coio TLS server: openssl s_client, Python's ssl, curl. */
typedef struct client_prog {
    const char *name;
    char *argv[24];
    const char *input; /* to its stdin, or NULL */
    const char *want;  /* in its stdout */
} client_prog;

static int http_answer(srv *sv, int fd, coio_stream *s, coio_tls *t)
{
    (void)sv, (void)fd, (void)t;
    char line[4096];
    ssize_t n;
    while ((n = coio_stream_readline(s, line, sizeof line)) > 2) {
    }
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n"
                               "Connection: close\r\n\r\nHello, TLS\n";
    coio_stream_write(s, resp, sizeof resp - 1);
    return 0;
}

static int client_prog_main(void *arg)
{
    client_prog *cp = arg;
    srv sv = {.cfg = server_config("srv.crt", "srv.key"),
              .handler = strcmp(cp->name, "curl") == 0 ? http_answer : echo_one};
    srv_start(&sv);
    /* fill in the port and paths: "PORT", "CA", "URL" placeholders */
    char url[64], resolve[64], connect[32];
    snprintf(url, sizeof url, "https://localhost:%d/", sv.port);
    snprintf(resolve, sizeof resolve, "localhost:%d:127.0.0.1", sv.port);
    snprintf(connect, sizeof connect, "127.0.0.1:%d", sv.port);
    for (int i = 0; cp->argv[i]; i++) {
        if (!strcmp(cp->argv[i], "CA"))
            cp->argv[i] = (char *)cert("ca.crt");
        else if (!strcmp(cp->argv[i], "URL"))
            cp->argv[i] = url;
        else if (!strcmp(cp->argv[i], "RESOLVE"))
            cp->argv[i] = resolve;
        else if (!strcmp(cp->argv[i], "CONNECT"))
            cp->argv[i] = connect;
        else if (!strcmp(cp->argv[i], "PORT"))
            cp->argv[i] = sv.portstr;
    }
    int in[2] = {-1, -1};
    if (cp->input) {
        assert_int_equal(pipe2(in, O_CLOEXEC), 0);
        assert_int_equal(write(in[1], cp->input, strlen(cp->input)), (ssize_t)strlen(cp->input));
    }
    peer p = {0, -1};
    coio_assert_rc(peer_start(&p, cp->argv, 1, in[0]), 0);
    if (cp->input)
        close(in[0]);
    char out[4096];
    peer_read_all(&p, out, sizeof out);
    if (in[1] >= 0)
        close(in[1]);
    int st = peer_wait(&p, 10);
    print_message("%s exited %d: %s\n", cp->name, st, out);
    srv_wait_handshakes(&sv, 1);
    coio_assert_rc(sv.hs_result, 0);
    assert_non_null(strstr(out, cp->want));
    assert_int_equal(st, 0);
    srv_stop(&sv);
    return 0;
}

static void openssl_s_client(void **state)
{
    (void)state;
    coio_test_require_program("openssl", "openssl");
    client_prog cp = {"s_client",
                      {"openssl", "s_client", "-connect", "CONNECT", "-servername", "localhost",
                       "-verify_hostname", "localhost", "-CAfile", "CA",
                       "-verify_return_error", "-quiet", NULL},
                      "ping over tls\n",
                      "ping over tls"};
    run(client_prog_main, &cp);
}

static const char py_client[] =
    "import socket, ssl, sys\n"
    "ctx = ssl.create_default_context(cafile=sys.argv[1])\n"
    "s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', int(sys.argv[2]))),\n"
    "                    server_hostname='localhost')\n"
    "s.sendall(b'ping from python\\n')\n"
    "data = b''\n"
    "while True:\n"
    "    d = s.recv(100)\n"
    "    if not d: break\n"
    "    data += d\n"
    "print(data.decode().strip(), s.version())\n";

static void python_ssl_client(void **state)
{
    (void)state;
    client_prog cp = {"python",
                      {(char *)python3_path(), "-c", (char *)py_client, "CA", "PORT", NULL},
                      NULL,
                      "ping from python TLSv1.3"};
    run(client_prog_main, &cp);
}

static void curl_client(void **state)
{
    (void)state;
    coio_test_require_program("curl", "curl");
    client_prog cp = {"curl",
                      {"curl", "-sS", "--cacert", "CA", "--resolve", "RESOLVE", "URL", NULL},
                      NULL,
                      "Hello, TLS"};
    run(client_prog_main, &cp);
}

/* ---- the examples: fetch https://, http_hello --tls-cert ---------------------------- */

/* Runs argv to its end with `input` on stdin (NULL: none), its stdout in out. Returns
 * its exit status. Inside a task: the loop runs on meanwhile. */
static int run_prog(char *const argv[], const char *input, char *out, size_t cap)
{
    int in[2] = {-1, -1};
    if (input) {
        assert_int_equal(pipe2(in, O_CLOEXEC), 0);
        assert_int_equal(write(in[1], input, strlen(input)), (ssize_t)strlen(input));
    }
    peer p = {0, -1};
    coio_assert_rc(peer_start(&p, argv, 1, in[0]), 0);
    if (input)
        close(in[0]);
    peer_read_all(&p, out, cap);
    if (input)
        close(in[1]);
    int st = peer_wait(&p, 20);
    print_message("%s exited %d:\n%s", argv[0], st, out);
    return st;
}

/* http_hello --tls-cert started on a free port; returns the port. */
static int start_http_hello(peer *p)
{
    char *argv[] = {(char *)example_path("http_hello", "COIO_HTTP_HELLO"), "--tls-cert",
                    (char *)cert("srv.crt"), "--tls-key", (char *)cert("srv.key"), "0", NULL};
    coio_assert_rc(peer_start(p, argv, 1, -1), 0);
    int port = read_port_line(p, "listening on https://");
    assert_true(port > 0);
    return port;
}

static int examples_main(void *arg)
{
    (void)arg;
    peer hh = {0, -1};
    int port = start_http_hello(&hh);
    char url[64], url_ip[64], resolve[64], connect[32], out[16384];
    snprintf(url, sizeof url, "https://localhost:%d/", port);
    snprintf(url_ip, sizeof url_ip, "https://127.0.0.1:%d/ip", port);
    snprintf(resolve, sizeof resolve, "localhost:%d:127.0.0.1", port);
    snprintf(connect, sizeof connect, "127.0.0.1:%d", port);
    char *fetch = (char *)example_path("fetch", "COIO_FETCH");

    /* fetch, verified against the test CA, by name and by address */
    char *a1[] = {fetch, "--ca-file", (char *)cert("ca.crt"), url, url_ip, NULL};
    assert_int_equal(run_prog(a1, NULL, out, sizeof out), 0);
    assert_non_null(strstr(out, "2 ok, 0 failed, 26 bytes"));
    /* the system store does not know the test CA */
    char *a2[] = {fetch, url, NULL};
    assert_int_equal(run_prog(a2, NULL, out, sizeof out), 1);
    assert_non_null(strstr(out, "EKEYREJECTED"));
    assert_non_null(strstr(out, "certificate verify failed"));
    /* --insecure skips verification */
    char *a3[] = {fetch, "-k", url, NULL};
    assert_int_equal(run_prog(a3, NULL, out, sizeof out), 0);
    assert_non_null(strstr(out, "1 ok"));

    /* http_hello's TLS mode against curl, openssl s_client and Python */
    char *c1[] = {"curl", "-sS", "--cacert", (char *)cert("ca.crt"), "--resolve", resolve,
                  url, url, NULL}; /* two requests on one kept-alive connection */
    assert_int_equal(run_prog(c1, NULL, out, sizeof out), 0);
    assert_string_equal(out, "Hello, World!Hello, World!");
    char *c2[] = {"openssl", "s_client", "-connect", connect, "-servername", "localhost",
                  "-verify_hostname", "localhost", "-CAfile", (char *)cert("ca.crt"),
                  "-verify_return_error", "-quiet", NULL};
    assert_int_equal(run_prog(c2, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                              out, sizeof out), 0);
    assert_non_null(strstr(out, "\r\n\r\nHello, World!"));
    static const char py[] =
        "import http.client, ssl, sys\n"
        "ctx = ssl.create_default_context(cafile=sys.argv[1])\n"
        "c = http.client.HTTPSConnection('localhost', int(sys.argv[2]), context=ctx)\n"
        "for i in range(3):\n"
        "    c.request('GET', '/'); r = c.getresponse(); print(r.status, r.read().decode())\n";
    char ps[8];
    snprintf(ps, sizeof ps, "%d", port);
    char *c3[] = {(char *)python3_path(), "-c", (char *)py, (char *)cert("ca.crt"), ps, NULL};
    assert_int_equal(run_prog(c3, NULL, out, sizeof out), 0);
    assert_string_equal(out, "200 Hello, World!\n200 Hello, World!\n200 Hello, World!\n");

    kill(hh.pid, SIGTERM);
    peer_wait(&hh, 5);
    return 0;
}

static void examples_https(void **state)
{
    (void)state;
    coio_test_require_program("curl", "curl");
    run(examples_main, NULL);
}

/* fetch https:// against openssl s_server -www, Python's ssl and nginx. */
static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static int fetch_peers_main(void *arg)
{
    (void)arg;
    char *fetch = (char *)example_path("fetch", "COIO_FETCH");
    char url[64], out[16384], want[128];

    /* openssl s_server -www: an HTML status page, to the end of the connection, which
     * it ends with close_notify */
    char *s[] = {"openssl", "s_server", "-accept", "127.0.0.1:0", "-cert",
                 (char *)cert("srv.crt"), "-key", (char *)cert("srv.key"), "-www",
                 "-naccept", "1", NULL};
    peer p = {0, -1};
    coio_assert_rc(peer_start(&p, s, 1, -1), 0);
    int port = read_port_line(&p, "ACCEPT");
    snprintf(url, sizeof url, "https://localhost:%d/", port);
    char *a1[] = {fetch, "--ca-file", (char *)cert("ca.crt"), url, NULL};
    assert_int_equal(run_prog(a1, NULL, out, sizeof out), 0);
    assert_non_null(strstr(out, "1 ok"));
    peer_wait(&p, 5);

    /* Python: 1 MiB with Content-Length */
    char *py[] = {(char *)python3_path(), "-c", (char *)py_server, (char *)cert("srv.crt"),
                  (char *)cert("srv.key"), NULL};
    coio_assert_rc(peer_start(&p, py, 1, -1), 0);
    port = read_port_line(&p, NULL);
    snprintf(url, sizeof url, "https://127.0.0.1:%d/", port);
    char *a2[] = {fetch, "--ca-file", (char *)cert("ca.crt"), url, NULL};
    assert_int_equal(run_prog(a2, NULL, out, sizeof out), 0);
    unsigned char *body = malloc(MIB);
    for (size_t i = 0; i < MIB; i++)
        body[i] = (unsigned char)i;
    snprintf(want, sizeof want, "1048576 bytes");
    assert_non_null(strstr(out, want));
    snprintf(want, sizeof want, "fnv=%016llx", (unsigned long long)fnv1a(body, MIB));
    assert_non_null(strstr(out, want));
    peer_wait(&p, 5);

    /* nginx with TLS 1.3 and the same certificate, when installed */
    const char *nginx = access("/usr/sbin/nginx", X_OK) == 0 ? "/usr/sbin/nginx" : NULL;
    if (nginx) {
        char conf[2048], path[256];
        port = closed_port();
        snprintf(path, sizeof path, "%s/www", certdir);
        assert_int_equal(mkdir(path, 0755), 0);
        snprintf(path, sizeof path, "%s/www/big.bin", certdir);
        FILE *f = fopen(path, "wb");
        assert_int_equal(fwrite(body, 1, MIB, f), MIB);
        fclose(f);
        int n = snprintf(conf, sizeof conf,
                         "daemon off;\nmaster_process off;\nworker_processes 1;\n"
                         "pid %1$s/nginx.pid;\nerror_log %1$s/error.log info;\n"
                         "events { worker_connections 64; }\n"
                         "http {\n  access_log off;\n"
                         "  client_body_temp_path %1$s; proxy_temp_path %1$s;\n"
                         "  fastcgi_temp_path %1$s; uwsgi_temp_path %1$s; scgi_temp_path %1$s;\n"
                         "  server {\n    listen 127.0.0.1:%2$d ssl;\n    root %1$s/www;\n"
                         "    ssl_certificate %1$s/srv.crt;\n"
                         "    ssl_certificate_key %1$s/srv.key;\n"
                         "    ssl_protocols TLSv1.3;\n  }\n}\n",
                         certdir, port);
        snprintf(path, sizeof path, "%s/nginx.conf", certdir);
        f = fopen(path, "w");
        fwrite(conf, 1, (size_t)n, f);
        fclose(f);
        char elog[256];
        snprintf(elog, sizeof elog, "%s/error.log", certdir);
        char *ng[] = {(char *)nginx, "-c", path, "-p", certdir, "-e", elog, NULL};
        coio_assert_rc(peer_start(&p, ng, 0, -1), 0);
        for (int i = 0; i < 200; i++) { /* until it listens */
            int fd = coio_tcp_connect("127.0.0.1", (snprintf(want, sizeof want, "%d", port), want));
            if (fd >= 0) {
                coio_close(fd);
                break;
            }
            coio_sleep(0.02);
        }
        snprintf(url, sizeof url, "https://localhost:%d/big.bin", port);
        char url2[64];
        snprintf(url2, sizeof url2, "https://localhost:%d/missing", port);
        char *a3[] = {fetch, "--ca-file", (char *)cert("ca.crt"), url, url2, NULL};
        int st = run_prog(a3, NULL, out, sizeof out);
        kill(p.pid, SIGTERM);
        peer_wait(&p, 5);
        assert_int_equal(st, 0);
        snprintf(want, sizeof want, "fnv=%016llx", (unsigned long long)fnv1a(body, MIB));
        assert_non_null(strstr(out, want));
        assert_non_null(strstr(out, "404"));
    } else {
        print_message("nginx is not installed: its part is left out\n");
    }
    free(body);
    return 0;
}

static void fetch_https_peers(void **state)
{
    (void)state;
    coio_test_require_program("openssl", "openssl");
    run(fetch_peers_main, NULL);
}

/* ---- configuration ----------------------------------------------------------------- */

static void config_errors(void **state)
{
    (void)state;
    make_certs();
    coio_tls_config *c = coio_tls_config_create(COIO_TLS_SERVER);
    assert_non_null(c);
    coio_assert_rc(coio_tls_config_set_cert_file(c, "/nonexistent/x.crt", NULL), -ENOENT);
    /* a key that is not the certificate's */
    coio_assert_rc(coio_tls_config_set_cert_file(c, cert("srv.crt"), cert("cli.key")), -EINVAL);
    assert_true(strlen(coio_tls_last_error()) > 0);
    coio_assert_rc(coio_tls_config_set_alpn(c, "h2,,x"), -EINVAL);
    coio_assert_rc(coio_tls_config_set_versions(c, 0x0301, 0), -EINVAL);
    coio_assert_rc(coio_tls_config_set_verify(c, 7), -EINVAL);
    coio_assert_rc(coio_tls_config_set_session_cache(c, 4), -EINVAL); /* server */
    /* PEM in memory */
    char pem[8192], key[8192];
    FILE *f = fopen(cert("srv.crt"), "r");
    size_t pn = fread(pem, 1, sizeof pem, f);
    fclose(f);
    f = fopen(cert("srv.key"), "r");
    size_t kn = fread(key, 1, sizeof key, f);
    fclose(f);
    coio_assert_rc(coio_tls_config_set_cert_mem(c, pem, pn, key, kn), 0);
    coio_assert_rc(coio_tls_config_set_cert_mem(c, "junk", 4, key, kn), -EINVAL);
    coio_assert_rc(coio_tls_config_destroy(c), 0);
    assert_null(coio_tls_config_create(7));
    assert_int_equal(errno, EINVAL);
    coio_tls *t = (coio_tls *)1;
    c = coio_tls_config_create(COIO_TLS_CLIENT);
    /* a suspending call outside a task */
    coio_assert_rc(coio_tls_connect(c, "localhost", "443", &t), -EPERM);
    assert_null(t);
    coio_assert_rc(coio_tls_client(c, 0, NULL, 0, &t), -EINVAL); /* verify needs a name */
    coio_assert_rc(coio_tls_config_destroy(c), 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stream_api),
        cmocka_unit_test(sni_and_ip),
        cmocka_unit_test(resumption),
        cmocka_unit_test(client_cert),
        cmocka_unit_test(unknown_ca),
        cmocka_unit_test(wrong_host_name),
        cmocka_unit_test(wrong_ip_address),
        cmocka_unit_test(expired_certificate),
        cmocka_unit_test(no_shared_version),
        cmocka_unit_test(no_shared_alpn),
        cmocka_unit_test(http_to_tls_port),
        cmocka_unit_test(tls_to_plain_port),
        cmocka_unit_test(reset_mid_handshake),
        cmocka_unit_test(eof_mid_handshake),
        cmocka_unit_test(timeout_mid_handshake),
        cmocka_unit_test(server_sees_reset),
        cmocka_unit_test(cancel_mid_handshake),
        cmocka_unit_test(cancel_client_handshake),
        cmocka_unit_test(truncation),
        cmocka_unit_test(close_notify_is_clean_eof),
        cmocka_unit_test(cancel_mid_read),
        cmocka_unit_test(mib_both_ways),
        cmocka_unit_test(backpressure),
        cmocka_unit_test(direct_calls),
        cmocka_unit_test(thousand_connections),
        cmocka_unit_test(openssl_s_server),
        cmocka_unit_test(python_ssl_server),
        cmocka_unit_test(random_records),
        cmocka_unit_test(abort_sends_no_close_notify),
        cmocka_unit_test(openssl_s_client),
        cmocka_unit_test(python_ssl_client),
        cmocka_unit_test(curl_client),
        cmocka_unit_test(examples_https),
        cmocka_unit_test(fetch_https_peers),
        cmocka_unit_test(config_errors),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    int rc = cmocka_run_group_tests(tests, coio_test_group_setup, coio_test_group_teardown);
    if (rc == 0 && coio_test_count_fds() != coio_test_fds_at_start)
        rc = 1;
    return rc;
}
