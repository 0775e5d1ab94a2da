/*
 * A fake resolver for tests that must not touch a real DNS server: the test program
 * defines getaddrinfo and freeaddrinfo, which the dynamic linker prefers to libc's for
 * libcoio.so too. Names ending in ".coio.test" are answered here; every other name goes
 * to the real functions (dlsym RTLD_NEXT).
 *
 *   slow.coio.test   sleeps fake_delay_us, then answers 127.0.0.1
 *   noname.coio.test EAI_NONAME;  again.coio.test EAI_AGAIN;  fail.coio.test EAI_FAIL
 *   list.coio.test   the addresses in fake_list ("127.0.0.1:port" or "[::1]:port" each,
 *                    in order)
 *
 * Counters: how many fake lists were made and freed (freed late ones included), how
 * many lookups ran and on which thread the last one did.
 */
#ifndef COIO_FAKE_RESOLVER_H
#define COIO_FAKE_RESOLVER_H

#include <dlfcn.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

static atomic_int fake_made, fake_freed, fake_calls, fake_started;
static atomic_long fake_delay_us = 300000;
static _Atomic unsigned long fake_last_thread; /* a pthread_t (glibc: unsigned long) */
static const char *fake_list[8];

/* Our lists are marked by a canonical name that points at this tag. */
static char fake_tag[] = "fake.coio.test";

static inline int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static inline struct addrinfo *fake_node(const char *ip, int port, int socktype)
{
    struct addrinfo *ai = calloc(1, sizeof *ai + sizeof(struct sockaddr_in6));
    if (ip[0] == '[') { /* "[v6]" */
        struct sockaddr_in6 *sa6 = (struct sockaddr_in6 *)(ai + 1);
        char v6[64];
        snprintf(v6, sizeof v6, "%.*s", (int)strcspn(ip + 1, "]"), ip + 1);
        sa6->sin6_family = AF_INET6;
        sa6->sin6_port = htons((uint16_t)port);
        inet_pton(AF_INET6, v6, &sa6->sin6_addr);
        ai->ai_family = AF_INET6;
        ai->ai_addrlen = sizeof *sa6;
    } else {
        struct sockaddr_in *sa = (struct sockaddr_in *)(ai + 1);
        sa->sin_family = AF_INET;
        sa->sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, ip, &sa->sin_addr);
        ai->ai_family = AF_INET;
        ai->ai_addrlen = sizeof *sa;
    }
    ai->ai_socktype = socktype ? socktype : SOCK_STREAM;
    ai->ai_protocol = ai->ai_socktype == SOCK_DGRAM ? IPPROTO_UDP : IPPROTO_TCP;
    ai->ai_addr = (struct sockaddr *)(ai + 1);
    ai->ai_canonname = fake_tag;
    return ai;
}

static int (*fake_real_getaddrinfo)(const char *, const char *, const struct addrinfo *,
                                   struct addrinfo **);

static void fake_find_real(void)
{
    fake_real_getaddrinfo = (int (*)(const char *, const char *, const struct addrinfo *,
                                     struct addrinfo **))dlsym(RTLD_NEXT, "getaddrinfo");
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    /* Resolver threads call this concurrently: look the real one up once. */
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, fake_find_real);
    int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **) =
        fake_real_getaddrinfo;
    atomic_fetch_add(&fake_calls, 1);
    atomic_store(&fake_last_thread, (unsigned long)pthread_self());
    if (!node || !ends_with(node, ".coio.test"))
        return real(node, service, hints, res);
    int socktype = hints ? hints->ai_socktype : 0;
    int port = service ? atoi(service) : 0;
    if (strcmp(node, "slow.coio.test") == 0) {
        atomic_fetch_add(&fake_started, 1);
        usleep((useconds_t)atomic_load(&fake_delay_us));
        *res = fake_node("127.0.0.1", port, socktype);
    } else if (strcmp(node, "noname.coio.test") == 0) {
        return EAI_NONAME;
    } else if (strcmp(node, "again.coio.test") == 0) {
        return EAI_AGAIN;
    } else if (strcmp(node, "fail.coio.test") == 0) {
        return EAI_FAIL;
    } else if (strcmp(node, "list.coio.test") == 0) {
        struct addrinfo *head = NULL, **tail = &head;
        for (int i = 0; i < 8 && fake_list[i]; i++) {
            char ip[64];
            snprintf(ip, sizeof ip, "%s", fake_list[i]);
            char *colon = strrchr(ip, ':');
            *colon = '\0';
            *tail = fake_node(ip, atoi(colon + 1), socktype);
            tail = &(*tail)->ai_next;
        }
        if (!head)
            return EAI_NONAME;
        *res = head;
    } else {
        return EAI_NONAME;
    }
    atomic_fetch_add(&fake_made, 1);
    return 0;
}

void freeaddrinfo(struct addrinfo *ai)
{
    static void (*real)(struct addrinfo *);
    if (!real)
        real = (void (*)(struct addrinfo *))dlsym(RTLD_NEXT, "freeaddrinfo");
    if (ai && ai->ai_canonname == fake_tag) {
        while (ai) {
            struct addrinfo *next = ai->ai_next;
            free(ai);
            ai = next;
        }
        atomic_fetch_add(&fake_freed, 1);
        return;
    }
    real(ai);
}

/* Waits (inside a task) up to `seconds` until at least `made` fake lists were made and
 * every one was freed. Returns 1 if so. */
static inline int fake_wait_all_freed(int made, double seconds)
{
    double end = coio_now() + seconds;
    while ((atomic_load(&fake_made) < made ||
            atomic_load(&fake_freed) != atomic_load(&fake_made)) && coio_now() < end)
        coio_sleep(0.01);
    return atomic_load(&fake_made) >= made && atomic_load(&fake_freed) == atomic_load(&fake_made);
}

#endif
