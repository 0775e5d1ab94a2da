/*
 * TLS on OpenSSL.
 *
 * OpenSSL never touches the socket: each connection has a BIO of our own (net_bio_*)
 * that reads ciphertext from an input buffer and appends ciphertext to an output
 * buffer, and the task moves bytes between those buffers and the socket with
 * coio_recv / coio_send. So every SSL_* call returns without suspending, and a task
 * only ever suspends between OpenSSL calls, in an ordinary coio wait: cancellation or
 * a deadline there leaves OpenSSL's state whole (nothing half-written inside it to
 * retry with the same arguments), and the next call simply goes on. It also makes the
 * io_uring backend do the socket I/O itself rather than wait for readiness.
 *
 * The output buffer may be appended to by a reader (SSL_read answers a key update)
 * while a writer's send is in flight on it; a send under io_uring still uses the
 * memory, so a buffer replaced then is kept until that send returns (`graveyard`).
 */
#include "internal.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static __thread char last_error[256];

static void set_error(const char *fmt, const char *detail)
{
    snprintf(last_error, sizeof last_error, fmt, detail ? detail : "");
}

const char *coio_tls_last_error(void)
{
    return last_error;
}

#ifndef COIO_HAVE_OPENSSL

/* Built without OpenSSL headers: the API exists and says so. */
int coio_tls_available(void) { return 0; }
coio_tls_config *coio_tls_config_create(int role)
{
    (void)role;
    set_error("coio was built without TLS%s", NULL);
    errno = ENOSYS;
    return NULL;
}
int coio_tls_config_destroy(coio_tls_config *c) { return c ? -ENOSYS : -EINVAL; }
int coio_tls_config_set_cert_file(coio_tls_config *c, const char *a, const char *b)
{
    (void)c, (void)a, (void)b;
    return -ENOSYS;
}
int coio_tls_config_set_cert_mem(coio_tls_config *c, const void *a, size_t al, const void *b,
                                 size_t bl)
{
    (void)c, (void)a, (void)al, (void)b, (void)bl;
    return -ENOSYS;
}
int coio_tls_config_set_ca(coio_tls_config *c, const char *a, const char *b)
{
    (void)c, (void)a, (void)b;
    return -ENOSYS;
}
int coio_tls_config_set_ca_mem(coio_tls_config *c, const void *a, size_t n)
{
    (void)c, (void)a, (void)n;
    return -ENOSYS;
}
int coio_tls_config_set_verify(coio_tls_config *c, int m) { (void)c, (void)m; return -ENOSYS; }
int coio_tls_config_set_versions(coio_tls_config *c, int a, int b)
{
    (void)c, (void)a, (void)b;
    return -ENOSYS;
}
int coio_tls_config_set_alpn(coio_tls_config *c, const char *p) { (void)c, (void)p; return -ENOSYS; }
int coio_tls_config_set_session_cache(coio_tls_config *c, size_t n)
{
    (void)c, (void)n;
    return -ENOSYS;
}
int coio_tls_connect(coio_tls_config *c, const char *h, const char *s, coio_tls **out)
{
    (void)c, (void)h, (void)s;
    if (out)
        *out = NULL;
    return -ENOSYS;
}
int coio_tls_client(coio_tls_config *c, int fd, const char *n, unsigned f, coio_tls **out)
{
    (void)c, (void)fd, (void)n, (void)f;
    if (out)
        *out = NULL;
    return -ENOSYS;
}
int coio_tls_accept(coio_tls_config *c, int fd, unsigned f, coio_tls **out)
{
    (void)c, (void)fd, (void)f;
    if (out)
        *out = NULL;
    return -ENOSYS;
}
ssize_t coio_tls_read(coio_tls *t, void *b, size_t n) { (void)t, (void)b, (void)n; return -ENOSYS; }
ssize_t coio_tls_write(coio_tls *t, const void *b, size_t n)
{
    (void)t, (void)b, (void)n;
    return -ENOSYS;
}
int coio_tls_shutdown(coio_tls *t) { (void)t; return -ENOSYS; }
int coio_tls_close(coio_tls *t) { (void)t; return -ENOSYS; }
int coio_tls_abort(coio_tls *t) { (void)t; return -ENOSYS; }
int coio_tls_fd(const coio_tls *t) { (void)t; return -ENOSYS; }
const char *coio_tls_alpn(const coio_tls *t) { (void)t; return NULL; }
coio_stream *coio_tls_stream_open(coio_tls *t, const coio_stream_opts *o)
{
    (void)t, (void)o;
    errno = ENOSYS;
    return NULL;
}
const char *coio_tls_version(const coio_tls *t) { (void)t; return NULL; }
const char *coio_tls_server_name(const coio_tls *t) { (void)t; return NULL; }
int coio_tls_resumed(const coio_tls *t) { (void)t; return 0; }

#else /* COIO_HAVE_OPENSSL */

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define IN_CAP (32u * 1024u)   /* ciphertext read per recv: two full records */
#define OUT_INITIAL (20u * 1024u)
#define WRITE_PIECE (64u * 1024u) /* plaintext encrypted before it is sent */
#define OUT_KEEP (256u * 1024u)   /* an emptied output buffer larger than this is freed */

/* Client sessions for resumption, one per (server name, peer address). */
typedef struct session_entry {
    char *key;
    SSL_SESSION *sess;
    uint64_t used; /* for replacing the least recently stored */
} session_entry;

struct coio_tls_config {
    SSL_CTX *ctx;
    int role;
    int verify;
    bool frozen;  /* a connection used it: settings are fixed */
    bool ca_set;  /* trusted CAs given: the system store is not loaded */
    unsigned char *alpn; /* wire format: length-prefixed names */
    size_t alpn_len;
    size_t refs;  /* the creator's, plus one per connection */
    pthread_mutex_t lock; /* refs and the session cache: configs may be shared by loops */
    session_entry *sessions;
    size_t nsessions, cap_sessions;
    uint64_t session_clock;
};

struct coio_tls {
    coio_tls_config *cfg;
    SSL *ssl;
    int fd;
    bool own_fd;
    bool eof;        /* recv returned 0 */
    bool shut;       /* close_notify queued */
    bool broken;     /* a failure left the TLS state unusable: no close_notify */
    bool flushing;   /* a task is sending out[opos, olen) */
    bool closed;     /* released: freed when the last call inside (users) returns */
    bool in_stream;  /* the transport of a coio_stream: the stream owns t */
    unsigned users;  /* calls in progress that may suspend */
    size_t pending_plain; /* stream: plaintext already encrypted into `out` that the
                           * stream still holds as queued (see tp_try_writev) */
    coio_task *reader, *writer;
    int bio_err;     /* an error our BIO hit (ENOMEM) */
    char *in;        /* ciphertext received, in[ipos, ilen) not yet given to OpenSSL */
    size_t ipos, ilen;
    char *out;       /* ciphertext to send, out[opos, olen) */
    size_t opos, olen, ocap;
    char *graveyard; /* replaced output buffers a send may still use, linked */
    char *sess_key;  /* client: session cache key */
    char *name;      /* client: verified name; server: SNI */
    char *alpn;      /* the protocol ALPN chose, or NULL */
};

int coio_tls_available(void)
{
    return 1;
}

/* ---------------------------------------------------------------- errors */

/* The negative errno for a verification result (X509_V_ERR_*). */
static int verify_errno(long v)
{
    switch (v) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
        return -EKEYEXPIRED;
    case X509_V_ERR_CERT_REVOKED:
        return -EKEYREVOKED;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
    case X509_V_ERR_EMAIL_MISMATCH:
        return -ENOKEY;
    default:
        return -EKEYREJECTED;
    }
}

/* The negative errno for an alert the peer sent (its number). */
static int alert_errno(int alert)
{
    switch (alert) {
    case SSL_AD_HANDSHAKE_FAILURE:
    case SSL_AD_PROTOCOL_VERSION:
    case SSL_AD_INSUFFICIENT_SECURITY:
    case SSL_AD_NO_APPLICATION_PROTOCOL:
        return -EPROTONOSUPPORT;
    case SSL_AD_BAD_CERTIFICATE:
    case SSL_AD_UNSUPPORTED_CERTIFICATE:
    case SSL_AD_CERTIFICATE_REVOKED:
    case SSL_AD_CERTIFICATE_EXPIRED:
    case SSL_AD_CERTIFICATE_UNKNOWN:
    case SSL_AD_UNKNOWN_CA:
    case SSL_AD_ACCESS_DENIED:
    case SSL_AD_CERTIFICATE_REQUIRED:
        return -EACCES;
    default:
        return -EPROTO;
    }
}

/* The negative errno for OpenSSL error code e (from its error queue). */
static int ssl_reason_errno(unsigned long e)
{
    int reason = ERR_GET_REASON(e);
    if (ERR_GET_LIB(e) == ERR_LIB_SYS)
        return reason > 0 ? -reason : -EIO;
    if (reason == ERR_R_MALLOC_FAILURE)
        return -ENOMEM;
    if (ERR_GET_LIB(e) != ERR_LIB_SSL)
        return -EPROTO;
    if (reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256)
        return alert_errno(reason - SSL_AD_REASON_OFFSET);
    switch (reason) {
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_NO_SUITABLE_KEY_SHARE:
    case SSL_R_NO_SHARED_GROUPS:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_VERSION_TOO_HIGH:
    case SSL_R_NO_APPLICATION_PROTOCOL:
    case SSL_R_NO_CIPHERS_AVAILABLE:
        return -EPROTONOSUPPORT;
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
        return -EACCES;
    case SSL_R_UNEXPECTED_EOF_WHILE_READING:
        return -ECONNABORTED;
    default:
        return -EPROTO;
    }
}

/* Turns the failure of an SSL_* call (ret, as returned) into a negative errno and the
 * thread's error text. Called right after the call: the error queue is the thread's. */
static int ssl_failure(coio_tls *t, int ret, bool handshake)
{
    int err = SSL_get_error(t->ssl, ret);
    unsigned long e = ERR_peek_last_error();
    char text[200] = "";
    int r;
    if (t->bio_err) {
        r = t->bio_err;
        snprintf(text, sizeof text, "%s", strerror(-r));
    } else if (e && ERR_GET_LIB(e) == ERR_LIB_SSL &&
               ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        long v = SSL_get_verify_result(t->ssl);
        r = verify_errno(v);
        snprintf(text, sizeof text, "certificate verify failed: %s",
                 X509_verify_cert_error_string(v));
    } else if (e) {
        r = ssl_reason_errno(e);
        ERR_error_string_n(e, text, sizeof text);
    } else if (t->eof || err == SSL_ERROR_SYSCALL) {
        r = -ECONNABORTED;
    } else {
        r = -EPROTO;
    }
    if (r == -ECONNABORTED)
        snprintf(text, sizeof text, "%s",
                 handshake ? "the peer closed the connection during the handshake"
                           : "the peer closed the connection without close_notify "
                             "(truncated)");
    ERR_clear_error();
    set_error("%s", text);
    t->broken = true;
    return r;
}

/* A failure outside OpenSSL (the socket, cancellation). */
static int io_failure(coio_tls *t, int r)
{
    if (r != -ECANCELED && r != -ETIMEDOUT && r != -EPERM && r != -EBUSY)
        t->broken = true;
    set_error("%s", coio_strerror(r));
    return r;
}

/* ---------------------------------------------------------------- the BIO */

static BIO_METHOD *net_bio_method;
static pthread_once_t net_bio_once = PTHREAD_ONCE_INIT;

static void out_release_graveyard(coio_tls *t)
{
    while (t->graveyard) {
        char *b = t->graveyard;
        t->graveyard = *(char **)b;
        free(b);
    }
}

/* Room for n more output bytes. */
static int out_reserve(coio_tls *t, size_t n)
{
    if (t->ocap - t->olen >= n)
        return 0;
    size_t have = t->olen - t->opos;
    if (!t->flushing && t->ocap - have >= n && t->opos) {
        memmove(t->out, t->out + t->opos, have);
        t->olen = have;
        t->opos = 0;
        return 0;
    }
    size_t cap = t->ocap ? t->ocap : OUT_INITIAL;
    while (cap - have < n) {
        if (cap > SIZE_MAX / 4)
            return -ENOMEM;
        cap *= 2;
    }
    char *nb = malloc(cap);
    if (!nb)
        return -ENOMEM;
    if (have)
        memcpy(nb, t->out + t->opos, have);
    if (t->out && t->flushing) { /* a send in flight may still read it */
        *(char **)t->out = t->graveyard;
        t->graveyard = t->out;
    } else {
        free(t->out);
    }
    t->out = nb;
    t->ocap = cap;
    t->opos = 0;
    t->olen = have;
    return 0;
}

static int net_bio_write(BIO *b, const char *data, int n)
{
    coio_tls *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (n <= 0)
        return 0;
    int e = out_reserve(t, (size_t)n);
    if (e < 0) {
        t->bio_err = e;
        return -1;
    }
    memcpy(t->out + t->olen, data, (size_t)n);
    t->olen += (size_t)n;
    return n;
}

static int net_bio_read(BIO *b, char *data, int n)
{
    coio_tls *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    size_t have = t->ilen - t->ipos;
    if (!have) {
        if (t->eof)
            return 0;
        BIO_set_retry_read(b); /* the task fills `in` and calls again */
        return -1;
    }
    size_t k = (size_t)n < have ? (size_t)n : have;
    memcpy(data, t->in + t->ipos, k);
    t->ipos += k;
    if (t->ipos == t->ilen)
        t->ipos = t->ilen = 0;
    return (int)k;
}

static long net_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num, (void)ptr;
    coio_tls *t = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1; /* the task sends `out` after each SSL call */
    case BIO_CTRL_EOF:
        return t && t->eof && t->ipos == t->ilen;
    case BIO_CTRL_WPENDING:
        return t ? (long)(t->olen - t->opos) : 0;
    case BIO_CTRL_PENDING:
        return t ? (long)(t->ilen - t->ipos) : 0;
    default:
        return 0;
    }
}

static int net_bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void net_bio_init_method(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "coio");
    if (m && BIO_meth_set_write(m, net_bio_write) && BIO_meth_set_read(m, net_bio_read) &&
        BIO_meth_set_ctrl(m, net_bio_ctrl) && BIO_meth_set_create(m, net_bio_create)) {
        net_bio_method = m;
        return;
    }
    BIO_meth_free(m);
}

/* ---------------------------------------------------------------- socket side */

/* One recv or send for the connection, in the calling task: the public entry points
 * (and the stream, for its transport calls) spent the fairness budget once per call. */
static ssize_t net_op(coio_tls *t, int code, void *buf, size_t n)
{
    coio__op op = {.code = (uint8_t)code, .fd = t->fd, .a.buf = {buf, n}};
    ssize_t r = coio__op_run_spent(&op);
    return t->closed ? -EBADF : r;
}

/* Sends everything queued in `out`, suspending as needed. Only the task that writes
 * calls it (readers use out_try), so at most one send is in flight. */
static int out_flush(coio_tls *t)
{
    if (t->flushing)
        return -EBUSY;
    t->flushing = true;
    int r = 0;
    while (t->opos < t->olen) {
        ssize_t n = net_op(t, COIO__OP_SEND, t->out + t->opos, t->olen - t->opos);
        out_release_graveyard(t);
        if (n < 0) {
            r = (int)n;
            break;
        }
        t->opos += (size_t)n;
    }
    t->flushing = false;
    if (t->opos == t->olen) {
        t->opos = t->olen = 0;
        if (t->ocap > OUT_KEEP) {
            free(t->out);
            t->out = NULL;
            t->ocap = 0;
        }
    }
    return r;
}

/* Sends what is queued without suspending, unless a send is in flight. Returns true
 * when nothing is left queued. */
static bool out_try(coio_tls *t)
{
    if (t->flushing)
        return false;
    if (t->opos < t->olen && t->fd >= 0) {
        ssize_t n = send(t->fd, t->out + t->opos, t->olen - t->opos,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0)
            t->opos += (size_t)n;
    }
    if (t->opos < t->olen)
        return false;
    t->opos = t->olen = 0;
    return true;
}

/* Receives more ciphertext into `in` (which OpenSSL has drained). 0, or a negative
 * errno; EOF sets t->eof and returns 0 (OpenSSL then sees the end). */
static int in_fill(coio_tls *t)
{
    if (!t->in && !(t->in = malloc(IN_CAP)))
        return -ENOMEM;
    if (t->ipos == t->ilen)
        t->ipos = t->ilen = 0;
    ssize_t n = net_op(t, COIO__OP_RECV, t->in + t->ilen, IN_CAP - t->ilen);
    if (n < 0)
        return (int)n;
    if (n == 0)
        t->eof = true;
    t->ilen += (size_t)n;
    return 0;
}

/* ---------------------------------------------------------------- config */

static int config_frozen_check(coio_tls_config *c)
{
    if (!c)
        return -EINVAL;
    return c->frozen ? -EBUSY : 0;
}

/* Client: stores a new session for the connection's key (OpenSSL's callback). */
static int session_new_cb(SSL *ssl, SSL_SESSION *sess)
{
    coio_tls *t = SSL_get_app_data(ssl);
    coio_tls_config *c = t ? t->cfg : NULL;
    if (!c || !t->sess_key || !c->cap_sessions)
        return 0;
    pthread_mutex_lock(&c->lock);
    session_entry *slot = NULL;
    for (size_t i = 0; i < c->nsessions; i++)
        if (!strcmp(c->sessions[i].key, t->sess_key))
            slot = &c->sessions[i];
    if (!slot && c->nsessions < c->cap_sessions) {
        char *k = strdup(t->sess_key);
        if (k) {
            slot = &c->sessions[c->nsessions++];
            *slot = (session_entry){.key = k};
        }
    }
    if (!slot) { /* full: replace the oldest */
        for (size_t i = 0; i < c->nsessions; i++)
            if (!slot || c->sessions[i].used < slot->used)
                slot = &c->sessions[i];
        if (slot) {
            char *k = strdup(t->sess_key);
            if (!k) {
                pthread_mutex_unlock(&c->lock);
                return 0;
            }
            free(slot->key);
            slot->key = k;
        }
    }
    if (slot) {
        if (slot->sess)
            SSL_SESSION_free(slot->sess);
        slot->sess = sess;
        slot->used = ++c->session_clock;
    }
    pthread_mutex_unlock(&c->lock);
    return slot ? 1 : 0; /* 1: we keep the reference */
}

/* The cached session for key, with a new reference, or NULL. */
static SSL_SESSION *session_find(coio_tls_config *c, const char *key)
{
    SSL_SESSION *s = NULL;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->nsessions; i++)
        if (!strcmp(c->sessions[i].key, key) && c->sessions[i].sess) {
            s = c->sessions[i].sess;
            if (!SSL_SESSION_is_resumable(s))
                s = NULL;
            else
                SSL_SESSION_up_ref(s);
            break;
        }
    pthread_mutex_unlock(&c->lock);
    return s;
}

/* Server: picks its most preferred ALPN protocol among the client's, or refuses. */
static int alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                          const unsigned char *in, unsigned inlen, void *arg)
{
    (void)ssl;
    coio_tls_config *c = arg;
    unsigned char *o;
    if (SSL_select_next_proto(&o, outlen, c->alpn, (unsigned)c->alpn_len, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL; /* RFC 7301: no_application_protocol */
    *out = o;
    return SSL_TLSEXT_ERR_OK;
}

coio_tls_config *coio_tls_config_create(int role)
{
    if (role != COIO_TLS_CLIENT && role != COIO_TLS_SERVER) {
        errno = EINVAL;
        return NULL;
    }
    pthread_once(&net_bio_once, net_bio_init_method);
    coio_tls_config *c = calloc(1, sizeof *c);
    if (!c || !net_bio_method) {
        free(c);
        errno = ENOMEM;
        return NULL;
    }
    ERR_clear_error();
    c->ctx = SSL_CTX_new(role == COIO_TLS_CLIENT ? TLS_client_method() : TLS_server_method());
    if (!c->ctx) {
        set_error("%s", ERR_reason_error_string(ERR_peek_last_error()));
        ERR_clear_error();
        free(c);
        errno = ENOMEM;
        return NULL;
    }
    c->role = role;
    c->verify = role == COIO_TLS_CLIENT ? COIO_TLS_VERIFY_PEER : COIO_TLS_VERIFY_NONE;
    c->refs = 1;
    c->cap_sessions = role == COIO_TLS_CLIENT ? 64 : 0;
    pthread_mutex_init(&c->lock, NULL);
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    /* Renegotiation would need reads inside writes; TLS 1.3 has none at all. */
    SSL_CTX_set_options(c->ctx, SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(c->ctx, SSL_MODE_RELEASE_BUFFERS); /* idle connections hold less */
    SSL_CTX_set_app_data(c->ctx, c);
    if (role == COIO_TLS_CLIENT) {
        SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_CLIENT |
                                                   SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(c->ctx, session_new_cb);
    } else {
        static const unsigned char sid[] = "coio";
        SSL_CTX_set_session_id_context(c->ctx, sid, sizeof sid - 1);
    }
    return c;
}

static void config_unref(coio_tls_config *c)
{
    pthread_mutex_lock(&c->lock);
    bool last = --c->refs == 0;
    pthread_mutex_unlock(&c->lock);
    if (!last)
        return;
    for (size_t i = 0; i < c->nsessions; i++) {
        free(c->sessions[i].key);
        if (c->sessions[i].sess)
            SSL_SESSION_free(c->sessions[i].sess);
    }
    free(c->sessions);
    free(c->alpn);
    SSL_CTX_free(c->ctx);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

int coio_tls_config_destroy(coio_tls_config *c)
{
    if (!c)
        return -EINVAL;
    config_unref(c);
    return 0;
}

/* The errno and text for a failed load of credentials. */
static int load_failure(const char *what)
{
    unsigned long e = ERR_peek_last_error();
    char text[200] = "";
    int r = -EINVAL;
    if (e) {
        ERR_error_string_n(e, text, sizeof text);
        if (ERR_GET_LIB(e) == ERR_LIB_SYS)
            r = -ERR_GET_REASON(e);
        else if (ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE)
            r = -ENOMEM;
        else if (ERR_GET_REASON(e) == ERR_R_SYS_LIB || strstr(text, "No such file"))
            r = -ENOENT;
    }
    char msg[256];
    snprintf(msg, sizeof msg, "%s: %s", what, text[0] ? text : "failed");
    set_error("%s", msg);
    ERR_clear_error();
    return r;
}

int coio_tls_config_set_cert_file(coio_tls_config *c, const char *chain_file,
                                  const char *key_file)
{
    int r = config_frozen_check(c);
    if (r < 0)
        return r;
    if (!chain_file)
        return -EINVAL;
    if (!key_file)
        key_file = chain_file;
    ERR_clear_error();
    if (access(chain_file, R_OK) < 0 || access(key_file, R_OK) < 0) {
        r = -errno;
        set_error("%s", coio_strerror(r));
        return r;
    }
    if (SSL_CTX_use_certificate_chain_file(c->ctx, chain_file) != 1)
        return load_failure("certificate chain");
    if (SSL_CTX_use_PrivateKey_file(c->ctx, key_file, SSL_FILETYPE_PEM) != 1)
        return load_failure("private key");
    if (SSL_CTX_check_private_key(c->ctx) != 1)
        return load_failure("private key");
    return 0;
}

int coio_tls_config_set_cert_mem(coio_tls_config *c, const void *chain_pem, size_t chain_len,
                                 const void *key_pem, size_t key_len)
{
    int r = config_frozen_check(c);
    if (r < 0)
        return r;
    if (!chain_pem || !key_pem || chain_len > INT_MAX || key_len > INT_MAX)
        return -EINVAL;
    ERR_clear_error();
    BIO *b = BIO_new_mem_buf(chain_pem, (int)chain_len);
    X509 *leaf = b ? PEM_read_bio_X509_AUX(b, NULL, NULL, NULL) : NULL;
    r = leaf && SSL_CTX_use_certificate(c->ctx, leaf) == 1 ? 0 : -EINVAL;
    X509_free(leaf);
    if (r == 0) {
        SSL_CTX_clear_chain_certs(c->ctx);
        X509 *ca;
        while ((ca = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
            if (SSL_CTX_add0_chain_cert(c->ctx, ca) != 1) {
                X509_free(ca);
                r = -ENOMEM;
                break;
            }
        ERR_clear_error(); /* the end of the PEM text reads as an error */
    }
    BIO_free(b);
    if (r < 0)
        return load_failure("certificate chain");
    b = BIO_new_mem_buf(key_pem, (int)key_len);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    r = k && SSL_CTX_use_PrivateKey(c->ctx, k) == 1 && SSL_CTX_check_private_key(c->ctx) == 1
            ? 0
            : -EINVAL;
    EVP_PKEY_free(k);
    return r < 0 ? load_failure("private key") : 0;
}

int coio_tls_config_set_ca(coio_tls_config *c, const char *file, const char *dir)
{
    int r = config_frozen_check(c);
    if (r < 0)
        return r;
    if (!file && !dir)
        return -EINVAL;
    ERR_clear_error();
    if ((file && access(file, R_OK) < 0) || (dir && access(dir, R_OK) < 0)) {
        r = -errno;
        set_error("%s", coio_strerror(r));
        return r;
    }
    if (SSL_CTX_load_verify_locations(c->ctx, file, dir) != 1)
        return load_failure("trusted CAs");
    c->ca_set = true;
    return 0;
}

int coio_tls_config_set_ca_mem(coio_tls_config *c, const void *pem, size_t len)
{
    int r = config_frozen_check(c);
    if (r < 0)
        return r;
    if (!pem || len > INT_MAX)
        return -EINVAL;
    ERR_clear_error();
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    X509_STORE *store = SSL_CTX_get_cert_store(c->ctx);
    X509 *x;
    int n = 0;
    while (b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        X509_STORE_add_cert(store, x);
        X509_free(x);
        n++;
    }
    BIO_free(b);
    ERR_clear_error();
    if (!n) {
        set_error("%s", "trusted CAs: no PEM certificate found");
        return -EINVAL;
    }
    c->ca_set = true;
    return 0;
}

int coio_tls_config_set_verify(coio_tls_config *c, int mode)
{
    int r = config_frozen_check(c);
    if (r < 0)
        return r;
    if (mode != COIO_TLS_VERIFY_NONE && mode != COIO_TLS_VERIFY_PEER &&
        mode != COIO_TLS_VERIFY_REQUIRE)
        return -EINVAL;
    c->verify = mode;
    return 0;
}

static int proto_version(int v)
{
    switch (v) {
    case COIO_TLS_1_2: return TLS1_2_VERSION;
    case COIO_TLS_1_3: return TLS1_3_VERSION;
    default: return -1;
    }
}

int coio_tls_config_set_versions(coio_tls_config *c, int min, int max)
{
    int r = config_frozen_check(c);
    if (r < 0)
        return r;
    int lo = proto_version(min), hi = max ? proto_version(max) : 0;
    if (lo < 0 || hi < 0 || (hi && hi < lo))
        return -EINVAL;
    if (SSL_CTX_set_min_proto_version(c->ctx, lo) != 1 ||
        SSL_CTX_set_max_proto_version(c->ctx, hi) != 1)
        return -EINVAL;
    return 0;
}

int coio_tls_config_set_alpn(coio_tls_config *c, const char *protocols)
{
    int r = config_frozen_check(c);
    if (r < 0)
        return r;
    unsigned char *wire = NULL;
    size_t len = 0;
    if (protocols && *protocols) {
        size_t n = strlen(protocols);
        wire = malloc(n + 1);
        if (!wire)
            return -ENOMEM;
        for (const char *p = protocols;;) {
            size_t k = strcspn(p, ",");
            if (k == 0 || k > 255) {
                free(wire);
                return -EINVAL;
            }
            wire[len++] = (unsigned char)k;
            memcpy(wire + len, p, k);
            len += k;
            if (!p[k])
                break;
            p += k + 1;
        }
    }
    if (c->role == COIO_TLS_CLIENT) {
        /* SSL_CTX_set_alpn_protos returns 0 on success */
        if (SSL_CTX_set_alpn_protos(c->ctx, wire, (unsigned)len) != 0 && len) {
            free(wire);
            return -ENOMEM;
        }
    } else {
        SSL_CTX_set_alpn_select_cb(c->ctx, len ? alpn_select_cb : NULL, c);
    }
    free(c->alpn);
    c->alpn = wire;
    c->alpn_len = len;
    return 0;
}

int coio_tls_config_set_session_cache(coio_tls_config *c, size_t entries)
{
    int r = config_frozen_check(c);
    if (r < 0)
        return r;
    if (c->role != COIO_TLS_CLIENT)
        return -EINVAL;
    c->cap_sessions = entries;
    return 0;
}

/* Fixes the settings at the first connection: what depends on all of them is done
 * here once. */
static int config_freeze(coio_tls_config *c)
{
    pthread_mutex_lock(&c->lock);
    int r = 0;
    if (!c->frozen) {
        int mode = SSL_VERIFY_NONE;
        if (c->verify != COIO_TLS_VERIFY_NONE) {
            mode = SSL_VERIFY_PEER;
            if (c->role == COIO_TLS_SERVER && c->verify == COIO_TLS_VERIFY_REQUIRE)
                mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
            if (!c->ca_set && SSL_CTX_set_default_verify_paths(c->ctx) != 1)
                r = load_failure("system trusted CAs");
        }
        SSL_CTX_set_verify(c->ctx, mode, NULL);
        if (c->cap_sessions) {
            c->sessions = calloc(c->cap_sessions, sizeof *c->sessions);
            if (!c->sessions)
                c->cap_sessions = 0; /* no resumption rather than no connection */
        }
        if (r == 0)
            c->frozen = true;
    }
    if (r == 0)
        c->refs++;
    pthread_mutex_unlock(&c->lock);
    return r;
}

/* ---------------------------------------------------------------- connections */

static void tls_free(coio_tls *t)
{
    if (t->ssl)
        SSL_free(t->ssl); /* frees the BIO too */
    if (t->own_fd && t->fd >= 0)
        coio_close(t->fd);
    out_release_graveyard(t);
    free(t->in);
    free(t->out);
    free(t->sess_key);
    free(t->name);
    free(t->alpn);
    config_unref(t->cfg);
    free(t);
}

static bool is_ip_literal(const char *s)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* A connection object over fd for config c (not yet handshaken). */
static int tls_new(coio_tls_config *c, int fd, unsigned flags, coio_tls **out)
{
    ERR_clear_error();
    /* The socket I/O expects EAGAIN: on a blocking fd, epoll's first try would block the
     * loop's thread. */
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)) {
        set_error("%s", coio_strerror(-errno));
        return -errno;
    }
    int r = config_freeze(c);
    if (r < 0)
        return r;
    coio_tls *t = calloc(1, sizeof *t);
    if (!t) {
        config_unref(c);
        return -ENOMEM;
    }
    t->cfg = c;
    t->fd = fd;
    t->ssl = SSL_new(c->ctx);
    BIO *b = t->ssl ? BIO_new(net_bio_method) : NULL;
    if (!b) {
        ERR_clear_error();
        tls_free(t);
        return -ENOMEM;
    }
    BIO_set_data(b, t);
    SSL_set_bio(t->ssl, b, b);
    SSL_set_app_data(t->ssl, t);
    t->own_fd = (flags & COIO_TLS_OWN_FD) != 0;
    *out = t;
    return 0;
}

/* Runs the handshake to its end. */
static int handshake(coio_tls *t)
{
    for (;;) {
        ERR_clear_error();
        int ret = SSL_do_handshake(t->ssl);
        if (ret == 1)
            break;
        int err = SSL_get_error(t->ssl, ret);
        if (err != SSL_ERROR_WANT_READ) {
            /* A failing side queues its alert: let the peer know why, if it can. */
            int r = ssl_failure(t, ret, true);
            out_try(t);
            return r;
        }
        int r = out_flush(t); /* the peer waits for our flight */
        if (r == 0)
            r = in_fill(t);
        if (r < 0)
            return io_failure(t, r);
    }
    int r = out_flush(t); /* our last flight (a server's session tickets) */
    if (r < 0)
        return io_failure(t, r);
    const unsigned char *p;
    unsigned len;
    SSL_get0_alpn_selected(t->ssl, &p, &len);
    if (p && len && !(t->alpn = strndup((const char *)p, len)))
        return io_failure(t, -ENOMEM);
    return 0;
}

/* The rest of a client connection: names, session, handshake. t is freed on failure. */
static int client_start(coio_tls *t, const char *name, coio_tls **out)
{
    coio_tls_config *c = t->cfg;
    int r = 0;
    if (name) {
        t->name = strdup(name);
        if (!t->name)
            r = -ENOMEM;
    }
    if (r == 0 && name && c->verify != COIO_TLS_VERIFY_NONE) {
        X509_VERIFY_PARAM *vp = SSL_get0_param(t->ssl);
        if (is_ip_literal(name)) {
            if (X509_VERIFY_PARAM_set1_ip_asc(vp, name) != 1)
                r = -EINVAL;
        } else {
            X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            if (SSL_set1_host(t->ssl, name) != 1)
                r = -ENOMEM;
        }
    }
    if (r == 0 && name && !is_ip_literal(name) && SSL_set_tlsext_host_name(t->ssl, name) != 1)
        r = -EINVAL;
    if (r == 0 && name && c->cap_sessions) {
        char peer[COIO_ADDRSTRLEN] = "";
        (void)coio_peer_name(t->fd, peer, sizeof peer);
        size_t n = strlen(name) + strlen(peer) + 2;
        t->sess_key = malloc(n);
        if (!t->sess_key) {
            r = -ENOMEM;
        } else {
            snprintf(t->sess_key, n, "%s|%s", name, peer);
            SSL_SESSION *s = session_find(c, t->sess_key);
            if (s) {
                SSL_set_session(t->ssl, s);
                SSL_SESSION_free(s);
            }
        }
    }
    if (r < 0) {
        ERR_clear_error();
        set_error("%s", coio_strerror(r));
    }
    SSL_set_connect_state(t->ssl);
    if (r == 0)
        r = handshake(t);
    if (r < 0) {
        tls_free(t);
        return r;
    }
    *out = t;
    return 0;
}

/* The checks of a suspending call, and its unit of the fairness budget. */
static int check_call(void)
{
    coio__loop *L = coio__loop_get();
    coio_task *cur = L ? L->current : NULL;
    int r = coio__check(L, cur);
    if (r == 0)
        r = coio__budget_spend(L, cur);
    if (r < 0)
        set_error("%s", coio_strerror(r));
    return r;
}

int coio_tls_client(coio_tls_config *c, int fd, const char *server_name, unsigned flags,
                    coio_tls **out)
{
    if (out)
        *out = NULL;
    if (!c || !out || fd < 0 || c->role != COIO_TLS_CLIENT || (flags & ~COIO_TLS_OWN_FD) ||
        (!server_name && c->verify != COIO_TLS_VERIFY_NONE))
        return -EINVAL;
    int r = check_call();
    if (r < 0)
        return r;
    coio_tls *t;
    if ((r = tls_new(c, fd, 0, &t)) < 0)
        return r;
    r = client_start(t, server_name, out); /* fd stays the caller's on failure */
    if (r == 0)
        t->own_fd = (flags & COIO_TLS_OWN_FD) != 0;
    return r;
}

int coio_tls_connect(coio_tls_config *c, const char *host, const char *service,
                     coio_tls **out)
{
    if (out)
        *out = NULL;
    if (!c || !host || !service || !out || c->role != COIO_TLS_CLIENT)
        return -EINVAL;
    int r = check_call();
    if (r < 0)
        return r;
    int fd = coio_tcp_connect(host, service);
    if (fd < 0) {
        set_error("%s", coio_strerror(fd));
        return fd;
    }
    coio_tls *t;
    if ((r = tls_new(c, fd, COIO_TLS_OWN_FD, &t)) < 0) {
        coio_close(fd);
        return r;
    }
    return client_start(t, host, out); /* closes fd on failure */
}

int coio_tls_accept(coio_tls_config *c, int fd, unsigned flags, coio_tls **out)
{
    if (out)
        *out = NULL;
    if (!c || !out || fd < 0 || c->role != COIO_TLS_SERVER || (flags & ~COIO_TLS_OWN_FD))
        return -EINVAL;
    int r = check_call();
    if (r < 0)
        return r;
    coio_tls *t;
    if ((r = tls_new(c, fd, 0, &t)) < 0)
        return r;
    SSL_set_accept_state(t->ssl);
    r = handshake(t);
    if (r == 0) {
        const char *sni = SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name);
        if (sni && !(t->name = strdup(sni)))
            r = -ENOMEM;
    }
    if (r < 0) {
        tls_free(t);
        return r;
    }
    t->own_fd = (flags & COIO_TLS_OWN_FD) != 0;
    *out = t;
    return 0;
}

/* ---------------------------------------------------------------- data */

/* A call that may suspend holds t, so that a close meanwhile (from the stream) frees it
 * only when the call is over. */
static void hold(coio_tls *t)
{
    t->users++;
}

static ssize_t release(coio_tls *t, ssize_t r)
{
    if (--t->users == 0 && t->closed) {
        tls_free(t);
        return -EBADF;
    }
    return t->closed ? -EBADF : r;
}

/* Reads up to n bytes: SSL_read, receiving more ciphertext while it wants some. */
static ssize_t tls_read(coio_tls *t, void *buf, size_t n)
{
    if (n > INT_MAX)
        n = INT_MAX;
    for (;;) {
        ERR_clear_error();
        int ret = SSL_read(t->ssl, buf, (int)n);
        if (ret > 0) {
            out_try(t); /* what SSL_read may have answered (a key update) */
            return ret;
        }
        int err = SSL_get_error(t->ssl, ret);
        if (err == SSL_ERROR_ZERO_RETURN) /* close_notify */
            return 0;
        if (err != SSL_ERROR_WANT_READ)
            return ssl_failure(t, ret, false);
        out_try(t);
        int e = in_fill(t);
        if (e < 0)
            return io_failure(t, e);
    }
}

/* Encrypts up to WRITE_PIECE bytes of iov[0..n) into `out`; returns the count taken. */
static ssize_t tls_encrypt(coio_tls *t, const struct iovec *iov, int n)
{
    size_t done = 0;
    for (int i = 0; i < n && done < WRITE_PIECE; i++) {
        const char *p = iov[i].iov_base;
        size_t len = iov[i].iov_len;
        if (len > WRITE_PIECE - done)
            len = WRITE_PIECE - done;
        if (!len)
            continue;
        ERR_clear_error();
        int ret = SSL_write(t->ssl, p, (int)len); /* our BIO takes it all */
        if (ret <= 0)
            return done ? (ssize_t)done : ssl_failure(t, ret, false);
        done += (size_t)ret;
    }
    return (ssize_t)done;
}

/* Encrypts and sends all n bytes of buf, suspending while the socket is full. */
static ssize_t tls_write_all(coio_tls *t, const char *buf, size_t n)
{
    int r = out_flush(t); /* what an interrupted call left queued goes first */
    if (r < 0)
        return io_failure(t, r);
    size_t done = 0;
    while (done < n) {
        struct iovec one = {(char *)buf + done, n - done};
        ssize_t k = tls_encrypt(t, &one, 1);
        if (k < 0)
            return k;
        done += (size_t)k;
        if ((r = out_flush(t)) < 0)
            return io_failure(t, r);
    }
    return (ssize_t)n;
}

/* Queues close_notify (once). */
static int tls_close_notify(coio_tls *t)
{
    if (t->shut)
        return 0;
    if (t->broken)
        return -EPIPE;
    ERR_clear_error();
    int ret = SSL_shutdown(t->ssl); /* writes close_notify into `out`; never waits */
    if (ret < 0 && SSL_get_error(t->ssl, ret) != SSL_ERROR_WANT_READ)
        return ssl_failure(t, ret, false);
    ERR_clear_error();
    t->shut = true;
    return 0;
}

ssize_t coio_tls_read(coio_tls *t, void *buf, size_t n)
{
    if (!t || (!buf && n) || t->in_stream)
        return -EINVAL;
    int r = check_call();
    if (r < 0)
        return r;
    if (t->reader)
        return -EBUSY;
    if (n == 0)
        return 0;
    t->reader = coio_current();
    ssize_t res = tls_read(t, buf, n);
    t->reader = NULL;
    return res;
}

ssize_t coio_tls_write(coio_tls *t, const void *buf, size_t n)
{
    if (!t || (!buf && n) || t->in_stream || n > SSIZE_MAX)
        return -EINVAL;
    int r = check_call();
    if (r < 0)
        return r;
    if (t->writer)
        return -EBUSY;
    if (t->shut || t->broken)
        return -EPIPE;
    t->writer = coio_current();
    ssize_t res = tls_write_all(t, buf, n);
    t->writer = NULL;
    return res;
}

int coio_tls_shutdown(coio_tls *t)
{
    if (!t || t->in_stream)
        return -EINVAL;
    int r = check_call();
    if (r < 0)
        return r;
    if (t->writer)
        return -EBUSY;
    t->writer = coio_current();
    r = tls_close_notify(t);
    if (r == 0 && (r = out_flush(t)) < 0)
        r = io_failure(t, r);
    t->writer = NULL;
    return r;
}

static bool busy_elsewhere(const coio_tls *t)
{
    coio_task *self = coio_current();
    return (t->reader && t->reader != self) || (t->writer && t->writer != self);
}

int coio_tls_close(coio_tls *t)
{
    if (!t || t->in_stream)
        return -EINVAL;
    if (busy_elsewhere(t))
        return -EBUSY;
    int r = 0;
    if (!t->broken && SSL_is_init_finished(t->ssl) && (!t->shut || t->opos < t->olen))
        r = coio_current() ? coio_tls_shutdown(t) : -EPERM;
    tls_free(t);
    return r;
}

int coio_tls_abort(coio_tls *t)
{
    if (!t || t->in_stream)
        return -EINVAL;
    if (busy_elsewhere(t))
        return -EBUSY;
    tls_free(t);
    return 0;
}

/* ---------------------------------------------------------------- stream transport */

/* A coio_stream over a TLS connection: the stream buffers and schedules, t encrypts.
 * The stream calls read and writev from one reader and one writer at a time, with the
 * budget spent; try_writev never suspends. */

static ssize_t tp_read(void *ctx, void *buf, size_t n)
{
    coio_tls *t = ctx;
    hold(t);
    return release(t, tls_read(t, buf, n));
}

/* Without suspending: encrypts and sends at once when the socket takes it all. When it
 * does not, the ciphertext stays in `out`, but the stream must go on holding the
 * plaintext as queued, so that drain and flush wait for it and the flusher runs: the
 * call answers -EAGAIN and remembers (pending_plain) that the first bytes the stream
 * hands over next are already encrypted, so they are not encrypted twice. */
static ssize_t tp_try_writev(void *ctx, const struct iovec *iov, int n)
{
    coio_tls *t = ctx;
    if (t->closed || t->broken)
        return -EPIPE;
    if (t->pending_plain) {
        if (!out_try(t))
            return -EAGAIN;
        ssize_t k = (ssize_t)t->pending_plain;
        t->pending_plain = 0;
        return k;
    }
    if (!out_try(t)) /* older ciphertext (a key update's answer) goes first */
        return -EAGAIN;
    ssize_t k = tls_encrypt(t, iov, n);
    if (k <= 0)
        return k;
    if (out_try(t))
        return k;
    t->pending_plain = (size_t)k;
    return -EAGAIN;
}

static ssize_t tp_writev(void *ctx, const struct iovec *iov, int n)
{
    coio_tls *t = ctx;
    if (t->broken)
        return -EPIPE;
    hold(t);
    ssize_t r = out_flush(t);
    if (r == 0 && t->pending_plain) {
        r = (ssize_t)t->pending_plain;
        t->pending_plain = 0;
    } else if (r == 0 && (r = tls_encrypt(t, iov, n)) > 0) {
        int e = out_flush(t);
        if (e < 0)
            r = e; /* the stream's write side is over: its error is sticky */
    }
    if (r < 0 && r != -EBADF)
        r = io_failure(t, (int)r);
    return release(t, r);
}

/* write_eof: close_notify after everything the stream queued. */
static int tp_shutdown_write(void *ctx)
{
    coio_tls *t = ctx;
    hold(t);
    int r = tls_close_notify(t);
    if (r == 0 && (r = out_flush(t)) < 0 && r != -EBADF)
        r = io_failure(t, r);
    return (int)release(t, r);
}

/* The stream is aborted: no close_notify, so the peer sees the connection end without
 * one (a truncation), never a clean end of the data. */
static int tp_abort(void *ctx)
{
    coio_tls *t = ctx;
    if (t->own_fd && t->fd >= 0)
        coio_close(t->fd);
    t->own_fd = false;
    t->fd = -1;
    t->closed = true;
    if (t->users == 0)
        tls_free(t);
    return 0;
}

/* The stream is closing: a close_notify goes out if the socket takes it at once, so a
 * peer reading to the end sees a clean end rather than a truncation. */
static int tp_close(void *ctx)
{
    coio_tls *t = ctx;
    if (!t->broken && !t->shut && !t->flushing && SSL_is_init_finished(t->ssl) &&
        t->opos == t->olen && tls_close_notify(t) == 0)
        (void)out_try(t);
    return tp_abort(t);
}

static const coio__stream_transport tls_transport = {
    .name = "tls",
    .read = tp_read,
    .try_writev = tp_try_writev,
    .writev = tp_writev,
    .shutdown_write = tp_shutdown_write,
    .close = tp_close,
    .abort = tp_abort,
};

coio_stream *coio_tls_stream_open(coio_tls *t, const coio_stream_opts *opts)
{
    if (!t || t->in_stream || t->reader || t->writer) {
        errno = EINVAL;
        return NULL;
    }
    coio_stream *s = coio__stream_open_transport(t->fd, &tls_transport, t, opts);
    if (!s)
        return NULL;
    t->in_stream = true;
    if (opts && (opts->flags & COIO_STREAM_OWN_FD))
        t->own_fd = true;
    return s;
}

int coio_tls_fd(const coio_tls *t)
{
    return t ? t->fd : -EINVAL;
}

const char *coio_tls_alpn(const coio_tls *t)
{
    return t ? t->alpn : NULL;
}

const char *coio_tls_version(const coio_tls *t)
{
    return t ? SSL_get_version(t->ssl) : NULL;
}

const char *coio_tls_server_name(const coio_tls *t)
{
    return t ? t->name : NULL;
}

int coio_tls_resumed(const coio_tls *t)
{
    return t && SSL_session_reused(t->ssl) ? 1 : 0;
}

#endif /* COIO_HAVE_OPENSSL */
