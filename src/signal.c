/*
 * Signals: receivers that tasks wait on (coio_signals_*), Ctrl-C cancelling main's task
 * during coio_run, and the task dump on a signal under COIO_DEBUG.
 *
 * One handler serves every signal coio watches. It only counts: per signal, a process-
 * wide counter and a generation number, then it wakes every loop that watches signals
 * through the backend's wake-up (async-signal-safe). Each loop, woken, compares the counters with
 * what it has delivered (the woken hook of its subsystem) and hands the difference to
 * its receivers. So nothing is blocked and no thread is special: the kernel may run the
 * handler on any thread that does not block the signal (coio's own threads block them
 * all), and an arrival while no task waits stays in the counters until one does.
 *
 * A handler is installed while something needs its signal (a receiver in any loop, Ctrl-C
 * handling, the dump) and the disposition it replaced is restored afterwards.
 */
#include "internal.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NSIGS 65     /* signal numbers 1..64 */
#define MAX_LOOPS 128 /* loops watching signals at once */
#define BIT(sig) (UINT64_C(1) << ((sig) - 1))

/* ------------------------------------------------------------------ process-wide state */

static atomic_ulong sig_gen; /* bumped by the handler for every signal it counts */
static atomic_ulong counts[NSIGS];
static atomic_int receivers_on[NSIGS]; /* open receivers, every loop */
static _Atomic(coio__loop *) loops[MAX_LOOPS];
static atomic_int in_handler; /* handlers between reading loops[] and waking */
static atomic_bool sigint_armed; /* Ctrl-C cancels main's task of some loop */
static atomic_int sigint_hits;

/* Who needs each handler, and what it replaced. Guarded by mu (never in the handler). */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    int users;
    struct sigaction old;
} slots[NSIGS];

static void on_signal(int sig)
{
    int saved = errno;
    atomic_fetch_add(&in_handler, 1);
    if (sig == SIGINT && atomic_load(&sigint_armed) && atomic_load(&receivers_on[SIGINT]) == 0 &&
        atomic_fetch_add(&sigint_hits, 1) > 0) {
        /* A second Ctrl-C before coio_run finished: the default action, as if coio had
         * never been there. SIGINT is blocked while this handler runs, so the raised one
         * is delivered as the handler returns. */
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        sigemptyset(&dfl.sa_mask);
        sigaction(SIGINT, &dfl, NULL);
        raise(SIGINT);
    } else {
        atomic_fetch_add(&counts[sig], 1);
        atomic_fetch_add(&sig_gen, 1);
        for (int i = 0; i < MAX_LOOPS; i++) {
            coio__loop *L = atomic_load(&loops[i]);
            if (L)
                L->backend->wake(L);
        }
    }
    atomic_fetch_sub(&in_handler, 1);
    errno = saved;
}

/* Installs the handler for sig unless it is already there. Call with mu. */
static int handler_take(int sig)
{
    if (slots[sig].users++ > 0)
        return 0;
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
    if (sig == SIGCHLD)
        sa.sa_flags |= SA_NOCLDSTOP;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, &slots[sig].old) < 0) {
        slots[sig].users--;
        return -errno;
    }
    return 0;
}

/* Restores what the handler replaced once nobody needs it. Call with mu. */
static void handler_drop(int sig)
{
    if (--slots[sig].users == 0)
        sigaction(sig, &slots[sig].old, NULL);
}

static bool is_default(int sig)
{
    struct sigaction cur;
    return sigaction(sig, NULL, &cur) == 0 && !(cur.sa_flags & SA_SIGINFO) &&
           cur.sa_handler == SIG_DFL;
}

/* Signals a receiver may not take: uncatchable, or raised by a fault of the thread
 * itself (a handler that only counts would return into the fault forever). */
static bool is_watchable(int sig)
{
    switch (sig) {
    case SIGKILL:
    case SIGSTOP:
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
    case SIGTRAP:
    case SIGSYS:
        return false;
    default:
        return sig >= 1 && sig < NSIGS;
    }
}

/* ------------------------------------------------------------------ per loop */

struct coio_signals {
    coio__list link;  /* the loop's receivers */
    coio__loop *loop;
    uint64_t mask;    /* BIT(sig): watched */
    unsigned long pending[NSIGS];
    unsigned long npending;
    coio__list waiters; /* tasks in coio_signals_wait, through task->link */
};

typedef struct sigloop {
    unsigned long seen[NSIGS]; /* counts already delivered */
    coio__list receivers;
    int slot;                  /* in loops[] */
    bool sigint;               /* Ctrl-C cancels this loop's main task */
    int dump_sig;              /* COIO_DEBUG dump signal, 0: none */
    unsigned long gen;         /* sig_gen when this loop last delivered */
} sigloop;

static sigloop *sigloop_get(coio__loop *L)
{
    sigloop *have = coio__loop_sub(L, COIO__SUB_SIGNALS);
    if (have)
        return have;
    sigloop *sl = calloc(1, sizeof *sl);
    if (!sl)
        return NULL;
    coio__list_init(&sl->receivers);
    /* Generation first, counts second: an arrival in between is seen as due. */
    sl->gen = atomic_load(&sig_gen);
    for (int s = 1; s < NSIGS; s++)
        sl->seen[s] = atomic_load(&counts[s]);
    sl->slot = -1;
    for (int i = 0; i < MAX_LOOPS && sl->slot < 0; i++) {
        coio__loop *none = NULL;
        if (atomic_compare_exchange_strong(&loops[i], &none, L))
            sl->slot = i;
    }
    if (sl->slot < 0) {
        free(sl);
        return NULL;
    }
    coio__loop_sub_set(L, COIO__SUB_SIGNALS, sl);
    return sl;
}

static void deliver(sigloop *sl, int sig, unsigned long n)
{
    coio__list *pos, *tmp;
    coio__list_for_each_safe(pos, tmp, &sl->receivers)
    {
        coio_signals *r = coio__container_of(pos, coio_signals, link);
        if (!(r->mask & BIT(sig)))
            continue;
        r->pending[sig] += n;
        r->npending += n;
        /* One waiter per arrival; each takes its signal when it runs. */
        for (unsigned long k = 0; k < n && !coio__list_is_empty(&r->waiters); k++) {
            coio_task *t = coio__container_of(r->waiters.next, coio_task, link);
            coio__list_unlink(&t->link);
            r->loop->keepalive--;
            coio__wake(r->loop, t, 1);
        }
    }
}

/* The woken hook: the handler wakes the loop after counting, so a changed generation
 * means there is something to deliver. */
static void signals_run(coio__loop *L)
{
    sigloop *sl = coio__loop_sub(L, COIO__SUB_SIGNALS);
    if (!sl || atomic_load_explicit(&sig_gen, memory_order_relaxed) == sl->gen)
        return;
    sl->gen = atomic_load(&sig_gen);
    for (int s = 1; s < NSIGS; s++) {
        unsigned long c = atomic_load(&counts[s]);
        unsigned long n = c - sl->seen[s];
        if (!n)
            continue;
        sl->seen[s] = c;
        if (s == SIGINT && sl->sigint && atomic_load(&receivers_on[SIGINT]) == 0 && L->main &&
            L->main->state != COIO__DONE) {
            if (L->debug)
                coio__debug_warn(L, "SIGINT: cancelling the main task");
            coio_cancel(L->main);
        }
        if (s == sl->dump_sig)
            coio_dump_tasks(stderr);
        deliver(sl, s, n);
    }
}

/* The dump signal under COIO_DEBUG: COIO_DUMP_SIGNAL names it ("SIGQUIT", "QUIT" or a
 * number; "0": none); SIGQUIT by default. */
static int dump_signal(void)
{
    const char *v = getenv("COIO_DUMP_SIGNAL");
    if (!v || !*v)
        return SIGQUIT;
    if (strncmp(v, "SIG", 3) == 0)
        v += 3;
    static const struct {
        const char *name;
        int sig;
    } names[] = {{"QUIT", SIGQUIT}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2},
                 {"HUP", SIGHUP},   {"WINCH", SIGWINCH}, {"PWR", SIGPWR}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(v, names[i].name) == 0)
            return names[i].sig;
    char *end;
    long n = strtol(v, &end, 10);
    return *end == '\0' && n > 0 && is_watchable((int)n) ? (int)n : 0;
}

static bool on_main_thread(void)
{
    return getpid() == (pid_t)syscall(SYS_gettid);
}

static int signals_init(coio__loop *L)
{
    bool want_int = on_main_thread() && !atomic_load(&sigint_armed);
    int dump = L->debug ? dump_signal() : 0;
    if (!want_int && !dump)
        return 0;
    pthread_mutex_lock(&mu);
    want_int = want_int && is_default(SIGINT);
    dump = dump && is_default(dump) ? dump : 0;
    sigloop *sl = (want_int || dump) ? sigloop_get(L) : NULL;
    if (sl && want_int && handler_take(SIGINT) == 0) {
        sl->sigint = true;
        atomic_store(&sigint_hits, 0);
        atomic_store(&sigint_armed, true);
    }
    if (sl && dump && handler_take(dump) == 0)
        sl->dump_sig = dump;
    pthread_mutex_unlock(&mu);
    return 0;
}

static void receiver_release(coio_signals *r)
{
    coio__list_unlink(&r->link);
    for (int s = 1; s < NSIGS; s++) {
        if (r->mask & BIT(s)) {
            atomic_fetch_sub(&receivers_on[s], 1);
            handler_drop(s);
        }
    }
}

static void signals_teardown(coio__loop *L)
{
    sigloop *sl = coio__loop_sub(L, COIO__SUB_SIGNALS);
    if (!sl)
        return;
    pthread_mutex_lock(&mu);
    if (sl->sigint) {
        atomic_store(&sigint_armed, false);
        handler_drop(SIGINT);
    }
    if (sl->dump_sig)
        handler_drop(sl->dump_sig);
    coio__list *n;
    while ((n = sl->receivers.next) != &sl->receivers) {
        coio_signals *r = coio__container_of(n, coio_signals, link);
        if (L->debug)
            coio__debug_warn(L, "a signal receiver was still open when coio_run ended: closed");
        receiver_release(r);
        free(r);
    }
    pthread_mutex_unlock(&mu);
    /* A handler that read this loop from loops[] may still be waking it: the loop (and
     * its wake-up fd) must outlive that. Handlers are a few instructions long. */
    atomic_store(&loops[sl->slot], NULL);
    while (atomic_load(&in_handler) != 0)
        sched_yield();
    coio__loop_sub_set(L, COIO__SUB_SIGNALS, NULL);
    free(sl);
}

const coio__subsystem coio__subsystem_signals = {
    .name = "signals",
    .init = signals_init,
    .woken = signals_run,
    .teardown = signals_teardown,
};

/* ------------------------------------------------------------------ receivers */

coio_signals *coio_signals_open(const int *sigs, size_t n)
{
    coio__loop *L = coio__loop_get();
    if (!L) {
        errno = EPERM;
        return NULL;
    }
    uint64_t mask = 0;
    if (!sigs || n == 0) {
        errno = EINVAL;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_watchable(sigs[i])) {
            errno = EINVAL;
            return NULL;
        }
        mask |= BIT(sigs[i]);
    }
    coio_signals *r = calloc(1, sizeof *r);
    if (!r) {
        errno = ENOMEM;
        return NULL;
    }
    r->loop = L;
    r->mask = mask;
    coio__list_init(&r->waiters);
    pthread_mutex_lock(&mu);
    sigloop *sl = sigloop_get(L);
    int err = sl ? 0 : -ENOMEM;
    int s = 1;
    for (; !err && s < NSIGS; s++)
        if (mask & BIT(s))
            err = handler_take(s);
    if (err) {
        for (int k = 1; k < s - 1; k++)
            if (mask & BIT(k))
                handler_drop(k);
        pthread_mutex_unlock(&mu);
        free(r);
        errno = -err;
        return NULL;
    }
    /* Arrivals counted before this point belong to the receivers open then. */
    signals_run(L);
    for (s = 1; s < NSIGS; s++)
        if (mask & BIT(s))
            atomic_fetch_add(&receivers_on[s], 1);
    coio__list_push_back(&sl->receivers, &r->link);
    pthread_mutex_unlock(&mu);
    return r;
}

/* Takes the lowest-numbered pending signal, or returns 0. */
static int take(coio_signals *r)
{
    if (!r->npending)
        return 0;
    for (int s = 1; s < NSIGS; s++) {
        if (r->pending[s]) {
            r->pending[s]--;
            r->npending--;
            return s;
        }
    }
    return 0;
}

static void leave(coio_signals *r, coio_task *t)
{
    if (t->link.next != &t->link) {
        coio__list_unlink(&t->link);
        r->loop->keepalive--;
    }
}

static void signals_unwait(coio_task *t)
{
    leave(t->wait_obj, t);
}

int coio_signals_wait(coio_signals *r, double timeout)
{
    if (!r || timeout != timeout)
        return -EINVAL;
    coio__loop *L = coio__loop_get();
    coio_task *t = L ? L->current : NULL;
    int err = coio__check(L, t);
    if (err < 0)
        return err;
    if (r->loop != L)
        return -EINVAL;
    int64_t deadline = COIO__NEVER;
    if (timeout >= 0 && timeout < 9e9)
        deadline = coio__clock_ns() + (int64_t)(timeout * 1e9);
    for (;;) {
        int sig = take(r);
        if (sig)
            return sig;
        if (deadline != COIO__NEVER && coio__clock_ns() >= deadline)
            return -ETIMEDOUT;
        coio__list_init(&t->link);
        coio__list_push_back(&r->waiters, &t->link);
        /* A waiter keeps the loop polling: only a signal may end its wait. */
        L->keepalive++;
        err = coio__park(L, t, "signal", r, signals_unwait, deadline, true);
        leave(r, t);
        if (err < 0) {
            /* A delivery meant for this task goes to the next waiter. */
            if (r->npending && !coio__list_is_empty(&r->waiters)) {
                coio_task *next = coio__container_of(r->waiters.next, coio_task, link);
                coio__list_unlink(&next->link);
                L->keepalive--;
                coio__wake(L, next, 1);
            }
            return err;
        }
        if (err == 0 && !r->npending)
            return -ETIMEDOUT; /* its own deadline */
    }
}

int coio_signals_close(coio_signals *r)
{
    if (!r)
        return -EINVAL;
    if (!coio__list_is_empty(&r->waiters))
        return -EBUSY;
    pthread_mutex_lock(&mu);
    receiver_release(r);
    pthread_mutex_unlock(&mu);
    free(r);
    return 0;
}
