/*
 * libFuzzer target for the stream reader over TLS, fed by a real OpenSSL peer.
 *
 * The input drives both the plaintext and how it travels: in one coio_run, a peer task
 * runs an OpenSSL server (TLS 1.3, an EC P-256 certificate made in-process at start-up)
 * over memory BIOs and moves its ciphertext through a Unix socketpair; it writes the
 * payload as records whose sizes come from the input, sometimes several records in one
 * send, sometimes one record over several sends, with key updates, record padding and
 * session tickets as the input says, then close_notify. On the other end, a coio TLS client (verifying
 * the certificate) is opened as a stream and the main task runs the same reader
 * operations as stream_fuzz.c, checked by the same model (stream_oracle.h): whatever
 * the records, the reader must give the results a plain stream gives. A mismatch or a
 * leaked fd abort()s; ASan and UBSan catch the rest.
 *
 * Layout: [flags][limit lo][limit hi][nops][seed][nrec] then nrec record-size bytes,
 * nops * 3 op bytes, then the payload.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "stream_oracle.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

struct tfz {
    const uint8_t *recs; /* record sizes, cycled through */
    size_t nrec;
    const uint8_t *ops;
    size_t nops;
    const uint8_t *payload;
    size_t len;
    size_t limit;
    uint32_t seed;
    uint8_t flags;
    int fds[2]; /* [0]: coio's client, [1]: the peer */
};

static SSL_CTX *peer_ctx;          /* the OpenSSL server */
static coio_tls_config *client_cfg; /* coio's client, trusting the peer's certificate */

/* A self-signed EC P-256 certificate for "localhost", made once. */
static void setup(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *crt = X509_new();
    EXPECT(key && crt);
    ASN1_INTEGER_set(X509_get_serialNumber(crt), 1);
    X509_gmtime_adj(X509_getm_notBefore(crt), -3600);
    X509_gmtime_adj(X509_getm_notAfter(crt), 3600L * 24 * 365);
    X509_NAME *name = X509_get_subject_name(crt);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost",
                               -1, -1, 0);
    X509_set_issuer_name(crt, name);
    X509_set_pubkey(crt, key);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, crt, crt, NULL, NULL, 0);
    X509_EXTENSION *san = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:localhost");
    X509_EXTENSION *bc = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:TRUE");
    EXPECT(san && bc && X509_add_ext(crt, san, -1) && X509_add_ext(crt, bc, -1));
    X509_EXTENSION_free(san);
    X509_EXTENSION_free(bc);
    EXPECT(X509_sign(crt, key, EVP_sha256()) > 0);

    peer_ctx = SSL_CTX_new(TLS_server_method());
    EXPECT(peer_ctx);
    EXPECT(SSL_CTX_set_min_proto_version(peer_ctx, TLS1_3_VERSION));
    EXPECT(SSL_CTX_use_certificate(peer_ctx, crt) == 1);
    EXPECT(SSL_CTX_use_PrivateKey(peer_ctx, key) == 1);

    BIO *pem = BIO_new(BIO_s_mem());
    EXPECT(pem && PEM_write_bio_X509(pem, crt));
    char *p;
    long n = BIO_get_mem_data(pem, &p);
    client_cfg = coio_tls_config_create(COIO_TLS_CLIENT);
    EXPECT(client_cfg);
    EXPECT(coio_tls_config_set_ca_mem(client_cfg, p, (size_t)n) == 0);
    EXPECT(coio_tls_config_set_session_cache(client_cfg, 0) == 0);
    BIO_free(pem);
    X509_free(crt);
    EVP_PKEY_free(key);
}

/* Sends what OpenSSL wrote to wbio, cut into pieces of random sizes, yielding between
 * some so that the reader sees records arrive in parts. < 0 when the reader is gone. */
static int peer_flush(struct tfz *f, BIO *wbio, uint32_t *s)
{
    static char buf[1 << 16];
    int n;
    while ((n = BIO_read(wbio, buf, sizeof buf)) > 0) {
        int off = 0;
        while (off < n) {
            int k = 1 + (int)(rnd(s) % (rnd(s) % 4 == 0 ? 40 : 6000));
            if (k > n - off)
                k = n - off;
            for (int done = 0; done < k;) {
                ssize_t w = coio_send(f->fds[1], buf + off + done, (size_t)(k - done), 0);
                if (w < 0)
                    return (int)w;
                done += (int)w;
            }
            off += k;
            if (rnd(s) % 3 == 0)
                coio_yield();
        }
    }
    return 0;
}

/* Record sizes: 1-200 bytes, or sizes around the powers of two up to the 16 KiB
 * maximum of a record. */
static size_t record_size(uint8_t b)
{
    static const size_t big[] = {255,  256,  257,  1000, 1024, 2047,  2048,  4095,
                                 4096, 4097, 8191, 8192, 8193, 16383, 16384};
    return b < 200 ? 1u + b : big[(b - 200) % (sizeof big / sizeof big[0])];
}

static int peer(void *arg)
{
    struct tfz *f = arg;
    uint32_t s = f->seed * 2654435761u + f->flags;
    SSL *ssl = SSL_new(peer_ctx);
    BIO *rbio = BIO_new(BIO_s_mem()), *wbio = BIO_new(BIO_s_mem());
    EXPECT(ssl && rbio && wbio);
    SSL_set_bio(ssl, rbio, wbio);
    SSL_set_accept_state(ssl);
    if (f->flags & 8) /* no session tickets after the handshake: the payload comes first */
        EXPECT(SSL_set_num_tickets(ssl, 0) == 1);
    if (f->flags & 1) /* pad every record to a multiple of 16 << k */
        EXPECT(SSL_set_block_padding(ssl, (size_t)16 << (f->seed % 6)) == 1);
    int r = 0;
    for (;;) {
        int ret = SSL_do_handshake(ssl);
        if ((r = peer_flush(f, wbio, &s)) < 0 || ret == 1)
            break;
        EXPECT(SSL_get_error(ssl, ret) == SSL_ERROR_WANT_READ);
        char in[4096];
        ssize_t n = coio_recv(f->fds[1], in, sizeof in, 0);
        EXPECT(n > 0);
        EXPECT(BIO_write(rbio, in, (int)n) == (int)n);
    }
    size_t off = 0;
    for (size_t i = 0; r == 0 && off < f->len; i++) {
        size_t k = f->nrec ? record_size(f->recs[i % f->nrec]) : 16384;
        if (k > f->len - off)
            k = f->len - off;
        EXPECT(SSL_write(ssl, f->payload + off, (int)k) == (int)k); /* one record */
        off += k;
        uint32_t x = rnd(&s);
        if ((f->flags & 2) && x % 5 == 0) { /* the client answers a requested one */
            EXPECT(SSL_key_update(ssl, x % 2 ? SSL_KEY_UPDATE_REQUESTED
                                             : SSL_KEY_UPDATE_NOT_REQUESTED) == 1);
            EXPECT(SSL_do_handshake(ssl) == 1); /* the KeyUpdate record, now */
        }
        if (x % 3 == 0 || off == f->len) /* else the next record goes in the same send */
            r = peer_flush(f, wbio, &s);
    }
    if (r == 0) {
        EXPECT(SSL_shutdown(ssl) >= 0); /* close_notify */
        r = peer_flush(f, wbio, &s);
    }
    SSL_free(ssl);
    ERR_clear_error();
    return r < 0 && r != -EPIPE && r != -ECONNRESET ? r : 0;
}

static int client(void *arg)
{
    struct tfz *f = arg;
    coio_task *pt = coio_spawn(peer, f);
    EXPECT(pt != NULL);
    coio_tls *t;
    int r = coio_tls_client(client_cfg, f->fds[0], "localhost", COIO_TLS_OWN_FD, &t);
    if (r < 0)
        fprintf(stderr, "tls_stream_fuzz: handshake: %s\n", coio_tls_last_error());
    EXPECT(r == 0);
    f->fds[0] = -1; /* t owns it */
    coio_stream_opts o = {.limit = f->limit};
    coio_stream *rs = coio_tls_stream_open(t, &o);
    EXPECT(rs != NULL);
    oracle_run(rs, f->ops, f->nops, f->payload, f->len, &f->limit);
    /* Stop the peer if it still waits on a reader that has finished. */
    coio_stream_abort(rs);
    EXPECT(coio_await(pt) == 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 6)
        return 0;
    static bool once;
    if (!once) {
        signal(SIGPIPE, SIG_IGN);
        setup();
        once = true;
    }
    int fds0 = coio_test_count_fds();
    struct tfz f = {0};
    f.flags = data[0];
    f.limit = oracle_limit(data + 1, f.flags & 4);
    f.nops = data[3] % 32;
    f.seed = data[4];
    f.nrec = data[5] % 16;
    data += 6;
    size -= 6;
    if (f.nrec > size)
        f.nrec = size;
    f.recs = data;
    data += f.nrec;
    size -= f.nrec;
    oracle_split(data, size, &f.nops, &f.ops, &f.payload, &f.len);

    /* The peer's end is made non-blocking for coio_send/recv; coio's end is left
     * blocking: the TLS handshake must make it non-blocking itself. */
    EXPECT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f.fds) == 0);
    EXPECT(fcntl(f.fds[1], F_SETFL, O_NONBLOCK) == 0);
    int r = coio_run(client, &f);
    EXPECT(r == 0);
    close(f.fds[1]);
    EXPECT(coio_test_count_fds() == fds0);
    return 0;
}
