/*
 * coio_getaddrinfo: getaddrinfo(3) on worker threads, with a caller that can leave.
 *
 * coio_to_thread waits for a job that a worker already runs (the job may use the
 * caller's memory), but getaddrinfo can block for seconds and a cancelled caller must
 * return at once. So a lookup here is a heap job that owns copies of its arguments, run
 * by a pool of resolver threads of its own (a coio__pool: threadpool.c):
 *
 *   caller (loop thread)                      resolver thread
 *   job = copy of host/service/hints
 *   efd = eventfd, queue job ---------------> takes job (RUNNING)
 *   coio_read(efd) ... suspends               getaddrinfo()
 *                                             lock: if abandoned: free result and job
 *                                                   else DONE, write(efd)
 *   lock: DONE?      take the result, free job
 *         QUEUED?    unqueue, free job        (never sees it)
 *         RUNNING?   mark abandoned           (frees it when getaddrinfo returns)
 *   coio_close(efd)
 *
 * Everything about a job's state happens under `pool.mu`, and the eventfd is only
 * written under it while the caller still waits, so the caller can always close it.
 * The eventfd (one per lookup) wakes exactly the caller's loop with the ordinary I/O
 * path, which also brings cancellation and deadline scopes for free.
 */
#include "net.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define RESOLVER_THREADS_MAX 8
#define RESOLVER_IDLE_NS (10 * INT64_C(1000000000)) /* an idle resolver thread exits */

enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

typedef struct dns_job {
    coio__list link;
    char *host, *service; /* copies (in the same allocation) or NULL */
    struct addrinfo hints;
    struct addrinfo *res;
    int gai;       /* getaddrinfo's return value */
    int sys_errno; /* errno of the resolver thread, for EAI_SYSTEM */
    int state;     /* JOB_*, guarded by pool.mu */
    bool abandoned;
    int efd;
} dns_job;

static void job_take(coio__list *item);
static void job_run(coio__list *item);

static coio__pool pool = COIO__POOL_INIT("coio-dns", RESOLVER_THREADS_MAX, RESOLVER_IDLE_NS,
                                         job_take, job_run);

static void job_free(dns_job *j)
{
    if (j->res)
        freeaddrinfo(j->res);
    free(j);
}

static void job_take(coio__list *item)
{
    coio__container_of(item, dns_job, link)->state = JOB_RUNNING;
}

/* On a resolver thread. */
static void job_run(coio__list *item)
{
    dns_job *j = coio__container_of(item, dns_job, link);
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(j->host, j->service, &j->hints, &res);
    int err = errno;

    pthread_mutex_lock(&pool.mu);
    if (j->abandoned) { /* the caller left: its result is ours to free */
        pthread_mutex_unlock(&pool.mu);
        if (gai == 0)
            freeaddrinfo(res);
        free(j);
        return;
    }
    j->gai = gai;
    j->sys_errno = err;
    j->res = gai == 0 ? res : NULL;
    j->state = JOB_DONE;
    uint64_t one = 1;
    ssize_t w = write(j->efd, &one, sizeof one);
    (void)w; /* cannot fail: the counter is 0 and the caller keeps efd open */
    pthread_mutex_unlock(&pool.mu);
}

/* getaddrinfo's EAI_* codes as negative errnos (the header lists the mapping). */
static int gai_to_errno(int gai, int sys_errno)
{
    switch (gai) {
    case 0:
        return 0;
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
#endif
    case EAI_SERVICE:
        return -ENXIO;
    case EAI_AGAIN:
        return -EAGAIN;
    case EAI_FAIL:
        return -EIO;
    case EAI_MEMORY:
        return -ENOMEM;
    case EAI_FAMILY:
        return -EAFNOSUPPORT;
    case EAI_SOCKTYPE:
        return -ESOCKTNOSUPPORT;
    case EAI_BADFLAGS:
        return -EINVAL;
    case EAI_OVERFLOW:
        return -EOVERFLOW;
    case EAI_SYSTEM:
        return sys_errno > 0 ? -sys_errno : -EIO;
    default:
        return -EIO;
    }
}

/* getaddrinfo reads a numeric service with strtoul and keeps the low 16 bits, so "99999"
 * would be port 34463, "-1" 65535 and "" port 0; " 80" is 80. coio takes a service that
 * begins with a digit, a sign or a space (or is empty) as a port number, which must be
 * decimal digits only, 0 to 65535. Anything else is a service name for the lookup.
 * Returns 0 or -EINVAL. */
static int check_service(const char *service)
{
    if (!service)
        return 0;
    unsigned char c = (unsigned char)service[0];
    bool number = c == '\0' || c == '+' || c == '-' || isspace(c) || isdigit(c);
    if (!number)
        return 0; /* a name */
    unsigned long port = 0;
    const char *p = service;
    for (; isdigit((unsigned char)*p); p++) {
        port = port * 10 + (unsigned long)(*p - '0');
        if (port > 65535)
            return -EINVAL;
    }
    return p == service || *p != '\0' ? -EINVAL : 0;
}

/* A host that is an IP literal and a service that is a port number (or absent) need no
 * lookup: resolve them on the spot, like asyncio's _ipaddr_info shortcut. Scoped IPv6
 * literals ("fe80::1%eth0") consult the interface table and take the slow path. */
static bool is_numeric(const char *host, const char *service)
{
    if (host) {
        unsigned char buf[sizeof(struct in6_addr)];
        if (inet_pton(AF_INET, host, buf) != 1 && inet_pton(AF_INET6, host, buf) != 1)
            return false;
    }
    if (service) {
        if (!*service)
            return false;
        for (const char *p = service; *p; p++)
            if (*p < '0' || *p > '9')
                return false;
    }
    return true;
}

int coio_getaddrinfo(const char *host, const char *service, const struct addrinfo *hints,
                     struct addrinfo **res)
{
    coio__loop *L = coio__loop_get();
    if (!res || (!host && !service))
        return -EINVAL;
    *res = NULL;
    int r = check_service(service);
    if (r < 0)
        return r;
    r = coio__check(L, L ? L->current : NULL);
    if (r < 0)
        return r;
    struct addrinfo h = {0};
    if (hints) {
        h.ai_flags = hints->ai_flags;
        h.ai_family = hints->ai_family;
        h.ai_socktype = hints->ai_socktype;
        h.ai_protocol = hints->ai_protocol;
    } else {
        h.ai_flags = AI_V4MAPPED | AI_ADDRCONFIG; /* what glibc assumes for NULL hints */
    }
    if (is_numeric(host, service)) {
        h.ai_flags |= AI_NUMERICHOST | AI_NUMERICSERV;
        int gai = getaddrinfo(host, service, &h, res);
        return gai_to_errno(gai, errno);
    }

    size_t hl = host ? strlen(host) + 1 : 0, sl = service ? strlen(service) + 1 : 0;
    dns_job *j = malloc(sizeof *j + hl + sl);
    if (!j)
        return -ENOMEM;
    *j = (dns_job){.hints = h, .state = JOB_QUEUED};
    coio__list_init(&j->link);
    char *p = (char *)(j + 1);
    if (host) {
        j->host = memcpy(p, host, hl);
        p += hl;
    }
    if (service)
        j->service = memcpy(p, service, sl);
    j->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (j->efd < 0) {
        r = -errno;
        free(j);
        return r;
    }
    pthread_mutex_lock(&pool.mu);
    r = coio__pool_enqueue(&pool, &j->link);
    pthread_mutex_unlock(&pool.mu);
    if (r > 0)
        coio__pool_wake(&pool, 1);
    if (r < 0) {
        coio_close(j->efd);
        free(j);
        return r;
    }

    uint64_t v;
    ssize_t rd = coio_read(j->efd, &v, sizeof v);
    int efd = j->efd;
    pthread_mutex_lock(&pool.mu);
    if (j->state == JOB_DONE) {
        pthread_mutex_unlock(&pool.mu);
        if (rd >= 0) {
            r = gai_to_errno(j->gai, j->sys_errno);
            *res = j->res;
            j->res = NULL;
        } else {
            r = (int)rd; /* cancelled as the answer came: cancellation wins, as in asyncio */
        }
        job_free(j);
    } else {
        if (j->state == JOB_QUEUED) {
            coio__list_unlink(&j->link);
            pthread_mutex_unlock(&pool.mu);
            job_free(j);
        } else {
            j->abandoned = true; /* the resolver thread frees it */
            pthread_mutex_unlock(&pool.mu);
        }
        r = rd < 0 ? (int)rd : -EIO;
    }
    coio_close(efd);
    return r;
}
