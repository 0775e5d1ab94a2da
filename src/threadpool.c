/*
 * Worker threads. coio__pool is the one implementation of a pool (a queue, threads
 * started on demand up to a bound, idle ones waiting or exiting); coio_to_thread's pool
 * and the resolver's (dns.c) are two instances.
 *
 * coio_to_thread's pool, which the file calls use too: one per process, bounded by
 * default to min(32, CPUs + 4) threads like asyncio's default executor
 * (COIO_THREADPOOL_SIZE or coio_threadpool_set_size change the bound). A job wakes a
 * worker only when none is awake; the loops watch the queue and wake more when jobs
 * back up (job_enqueue, pool_backlog). Workers hand finished jobs back to the job's loop
 * as a message on that loop's ext_done list, with a backend wake-up.
 */
#include "internal.h"

#include <linux/futex.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define POOL_SIZE_MAX 1024 /* libuv's bound for UV_THREADPOOL_SIZE */
/* How long a coio_to_thread job may wait for the workers already awake before the loop
 * wakes more (pool_kick): long enough for one worker to clear a turn's burst of short
 * jobs (64 cached opens, at the 5.6-7.2 us a bare open, read and close of a 4 KiB file
 * cost here, take a few hundred), short beside a disk's wait. */
#define POOL_BACKLOG_NS 500000

enum { JOB_QUEUED, JOB_RUNNING, JOB_DROPPED };

typedef struct coio__job {
    coio__list link;       /* pool queue */
    coio__remote done_msg; /* to the loop's ext_done list when finished */
    int (*fn)(void *);
    void *arg;
    int result;
    int state;  /* JOB_*, guarded by pool.mu */
    bool done;  /* seen by the loop (loop thread only) */
    coio__loop *loop;
    coio_task *task;
    int64_t queued_ns; /* CLOCK_MONOTONIC, for the backlog check */
} coio__job;

static void job_take(coio__list *item);
static void job_run(coio__list *item);

static coio__pool pool = COIO__POOL_INIT("coio-worker", 0, 0, job_take, job_run);

/* ------------------------------------------------------------------ the pool */

/* An idle worker's wait. It waits on a futex word of its own, not on a condition
 * variable: a condition variable's waiter takes the mutex back as it wakes, marked
 * contended, so every hand-off cost a futex call more to release it, and on one CPU the
 * waker often ran into the lock the woken thread held. The waker takes the wait off
 * P->idle under P->mu and wakes it after releasing the lock. */
typedef struct pool_wait {
    coio__list link; /* in P->idle while the worker is idle and not chosen */
    _Atomic uint32_t chosen;
} pool_wait;

/* Sleeps until w is chosen or ns pass (0: no limit). A futex word may be woken by a
 * waker that chose an earlier wait at the same address: the caller looks at `chosen`. */
static void pool_sleep(pool_wait *w, int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    while (!atomic_load_explicit(&w->chosen, memory_order_acquire)) {
        long r = syscall(SYS_futex, &w->chosen, FUTEX_WAIT_PRIVATE, 0, ns ? &ts : NULL,
                         NULL, 0);
        if (r < 0 && errno == ETIMEDOUT)
            return;
    }
}

/* A worker: takes queued items until an idle period of P->idle_ns passes (if set). */
static void *pool_worker(void *arg)
{
    coio__pool *P = arg;
    pthread_setname_np(pthread_self(), P->name); /* for top -H, gdb and tests */
    pthread_mutex_lock(&P->mu);
    for (;;) {
        while (coio__list_is_empty(&P->queue)) {
            if (P->nthreads > P->max) { /* the bound was lowered: leave when idle */
                P->nthreads--;
                pthread_mutex_unlock(&P->mu);
                return NULL;
            }
            pool_wait w = {.chosen = 0};
            coio__list_push_back(&P->idle, &w.link); /* taken from the back: warmest first */
            P->nidle++;
            pthread_mutex_unlock(&P->mu);
            pool_sleep(&w, P->idle_ns);
            pthread_mutex_lock(&P->mu);
            if (!atomic_load_explicit(&w.chosen, memory_order_relaxed)) { /* timed out */
                coio__list_unlink(&w.link);
                P->nidle--;
                if (coio__list_is_empty(&P->queue)) {
                    P->nthreads--;
                    pthread_mutex_unlock(&P->mu);
                    return NULL;
                }
            }
        }
        coio__list *item = coio__list_pop_front(&P->queue);
        P->take(item);
        pthread_mutex_unlock(&P->mu);
        P->run(item);
        pthread_mutex_lock(&P->mu);
    }
}

void coio__pool_wake(coio__pool *P, int n)
{
    enum { BATCH = 16 };
    pthread_mutex_lock(&P->mu);
    if (n > 0) /* the choices coio__pool_enqueue counted are kept now */
        P->nsignalled = P->nsignalled > n ? P->nsignalled - n : 0;
    for (;;) {
        pool_wait *w[BATCH];
        int k = 0;
        while (k < BATCH && n != 0 && !coio__list_is_empty(&P->idle)) {
            coio__list *last = P->idle.prev; /* the most recently idle */
            coio__list_unlink(last);
            w[k] = coio__container_of(last, pool_wait, link);
            atomic_store_explicit(&w[k]->chosen, 1, memory_order_release);
            P->nidle--;
            k++;
            if (n > 0)
                n--;
        }
        bool more = n != 0 && !coio__list_is_empty(&P->idle);
        pthread_mutex_unlock(&P->mu);
        /* After the unlock: the woken worker takes P->mu first thing. It may have woken
         * already (a timeout racing the choice) and left the wait: the word then belongs
         * to no one, and a wake there is harmless. */
        for (int i = 0; i < k; i++)
            syscall(SYS_futex, &w[i]->chosen, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
        if (!more)
            return;
        pthread_mutex_lock(&P->mu);
    }
}

static void pool_setup(coio__pool *P)
{
    coio__list_init(&P->queue);
    coio__list_init(&P->idle);
    if (!P->max) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        P->max = (int)(n > 0 ? n : 1) + 4;
        if (P->max > 32)
            P->max = 32;
    }
    P->ready = true;
}

int coio__pool_enqueue(coio__pool *P, coio__list *item)
{
    if (!P->ready)
        pool_setup(P);
    coio__list_push_back(&P->queue, item);
    /* An idle worker that was signalled but has not woken yet is spoken for: counting it
     * as idle would leave a burst of jobs to the threads that already exist. */
    if (P->nidle > P->nsignalled) {
        P->nsignalled++;
        return 1;
    }
    if (P->nthreads < P->max) {
        if (coio__thread_start(pool_worker, P) == 0) {
            P->nthreads++;
        } else if (P->nthreads == 0) {
            coio__list_unlink(item);
            return -EAGAIN;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ coio_to_thread */

/* The bound from COIO_THREADPOOL_SIZE (1..POOL_SIZE_MAX; other values are ignored), else
 * min(32, CPUs + 4). */
static int pool_size_default(void)
{
    const char *e = getenv("COIO_THREADPOOL_SIZE");
    if (e && *e) {
        char *end;
        long v = strtol(e, &end, 10);
        if (*end == '\0' && v >= 1 && v <= POOL_SIZE_MAX)
            return (int)v;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    n = (n > 0 ? n : 1) + 4;
    return n > 32 ? 32 : (int)n;
}

/* Call with pool.mu. */
static void pool_bound(void)
{
    if (pool.max == 0)
        pool.max = pool_size_default();
}

int coio_threadpool_set_size(int n)
{
    if (n < 1 || n > POOL_SIZE_MAX)
        return -EINVAL;
    pthread_mutex_lock(&pool.mu);
    pool.max = n;
    bool wake = pool.ready && pool.nthreads > n;
    pthread_mutex_unlock(&pool.mu);
    if (wake)
        coio__pool_wake(&pool, -1); /* idle workers above the bound leave */
    return 0;
}

int coio_threadpool_size(void)
{
    pthread_mutex_lock(&pool.mu);
    pool_bound();
    int n = pool.max;
    pthread_mutex_unlock(&pool.mu);
    return n;
}

static void job_take(coio__list *item)
{
    coio__container_of(item, coio__job, link)->state = JOB_RUNNING;
}

static void job_run(coio__list *item)
{
    coio__job *j = coio__container_of(item, coio__job, link);
    int r = j->fn(j->arg);
    /* No state change under pool.mu here: the loop only asks whether a job is still
     * queued, and waits for a running one's message. */
    /* The wake-up happens under ext_lock: the loop can't see the job, let its task
     * return and the loop end, before this thread is done touching the loop. Only the
     * message that makes the list non-empty wakes the loop: the loop takes the whole
     * list at once (coio__loop_drain_ext), so the later ones ride on that wake-up, and a
     * burst of completions costs one eventfd write, not one each. */
    coio__loop *L = j->loop;
    pthread_mutex_lock(&L->ext_lock);
    j->result = r;
    bool first = coio__list_is_empty(&L->ext_done);
    coio__list_push_back(&L->ext_done, &j->done_msg.link);
    if (first)
        L->backend->wake(L);
    pthread_mutex_unlock(&L->ext_lock);
}

/* coio's threads run library code only, so a signal the process expects (SIGTERM read
 * through a signalfd, SIGINT, SIGCHLD...) must never be delivered to one of them: the
 * kernel picks any thread that does not block a process-directed signal, and a default
 * action there kills the process behind the program's back. The new thread inherits its
 * mask from the creator, so the mask is set around pthread_create: there is no window in
 * which the new thread runs unmasked. The signals of faults the thread itself causes stay
 * unblocked: the kernel would force a blocked one to its default action, bypassing the
 * program's handler (a crash report, a sanitizer's). */
int coio__thread_start(void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    static const int synchronous[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS};
    for (size_t i = 0; i < sizeof synchronous / sizeof synchronous[0]; i++)
        sigdelset(&all, synchronous[i]);
    pthread_t th;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&a, 256 * 1024); /* getaddrinfo wants more than 64 KiB */
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = pthread_create(&th, &a, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&a);
    return e;
}

/* Runs on the loop's thread when the worker's message arrives (coio__loop_drain_ext). */
static void job_arrived(coio__loop *L, coio__remote *r)
{
    coio__job *j = coio__container_of(r, coio__job, done_msg);
    j->done = true;
    L->ext_pending--;
    L->pool_jobs--;
    if (COIO__TRACING(L))
        coio__trace_pool(L, j->task, true, j->result);
    coio__wake_if_waiting(L, j->task, j, 0);
}

/* Cancellation: a job no worker has taken is dropped; a running one is waited for. */
static void job_unwait(coio_task *t)
{
    coio__job *j = t->wait_obj;
    pthread_mutex_lock(&pool.mu);
    if (j->state == JOB_QUEUED) {
        coio__list_unlink(&j->link);
        j->state = JOB_DROPPED;
        j->loop->ext_pending--;
        j->loop->pool_jobs--;
    }
    pthread_mutex_unlock(&pool.mu);
}

/* Call with pool.mu. Queues j. A worker that is awake (running a job, or signalled and
 * not yet up) takes it when it is free: waking another at once, per job, as libuv does,
 * makes each woken worker find the queue already emptied by the first (on one CPU, two
 * context switches and two futex calls each for nothing), so more are woken only when
 * the queue backs up (pool_kick). Returns 1 when an idle worker was chosen to be
 * signalled before the loop polls, 0, or -EAGAIN (no worker runs or can start). */
static int job_enqueue(coio__job *j)
{
    j->queued_ns = coio__real_ns();
    if (pool.ready && pool.nthreads - pool.nidle + pool.nsignalled > 0) {
        coio__list_push_back(&pool.queue, &j->link);
        return 0;
    }
    return coio__pool_enqueue(&pool, &j->link);
}

/* Call with pool.mu. When the oldest queued job has waited POOL_BACKLOG_NS, the awake
 * workers are stuck (a disk, a slow call of the user's): one more worker per queued job
 * is woken or started, within the bound. Returns how many idle workers to signal, and
 * shortens *timeout so that the loop looks again while jobs wait. */
static unsigned pool_backlog(int64_t *timeout)
{
    if (coio__list_is_empty(&pool.queue))
        return 0;
    coio__job *head = coio__container_of(pool.queue.next, coio__job, link);
    int64_t age = coio__real_ns() - head->queued_ns;
    if (age < POOL_BACKLOG_NS) {
        if (*timeout == COIO__NEVER || *timeout > POOL_BACKLOG_NS - age)
            *timeout = POOL_BACKLOG_NS - age;
        return 0;
    }
    unsigned wake = 0;
    bool added = false;
    for (coio__list *it = pool.queue.next; it != &pool.queue; it = it->next) {
        if (pool.nidle > pool.nsignalled) {
            pool.nsignalled++;
            wake++;
        } else if (pool.nthreads < pool.max && coio__thread_start(pool_worker, &pool) == 0) {
            pool.nthreads++;
        } else {
            break;
        }
        added = true;
    }
    if (added) { /* look again a backlog later: the new workers may be stuck too */
        head->queued_ns = coio__real_ns();
        if (*timeout == COIO__NEVER || *timeout > POOL_BACKLOG_NS)
            *timeout = POOL_BACKLOG_NS;
    }
    return wake;
}

/* Before the loop polls: wakes the idle worker its tasks' jobs chose this turn. Waking
 * it as its job is queued would let it run (on a busy machine, in place of the loop) on
 * a queue of one job, sleep again, and be woken for the next: deferred, the worker finds
 * the whole turn's jobs queued and takes them one after another. While the loop has jobs
 * in the pool it also watches the queue for a backlog. */
static void pool_kick(coio__loop *L, int64_t *timeout)
{
    unsigned kicks = L->pool_kicks;
    L->pool_kicks = 0;
    if (L->pool_jobs) {
        pthread_mutex_lock(&pool.mu);
        kicks += pool_backlog(timeout);
        pthread_mutex_unlock(&pool.mu);
    } else {
        L->before_poll = NULL;
    }
    if (kicks)
        coio__pool_wake(&pool, (int)kicks);
}

int coio_to_thread(int (*fn)(void *), void *arg)
{
    coio__loop *L = coio__loop_get();
    coio_task *t = L ? L->current : NULL;
    if (!fn)
        return -EINVAL;
    int r = coio__check(L, t);
    if (r < 0)
        return r;
    coio__job j = {.fn = fn, .arg = arg, .state = JOB_QUEUED, .loop = L, .task = t,
                   .done_msg = {.run = job_arrived}};
    pthread_mutex_lock(&pool.mu);
    pool_bound();
    r = job_enqueue(&j);
    pthread_mutex_unlock(&pool.mu);
    if (r < 0)
        return r;
    if (r > 0) /* signalled before the loop polls, with the turn's other jobs queued */
        L->pool_kicks++;
    L->before_poll = pool_kick;
    L->pool_jobs++;
    L->ext_pending++;
    if (COIO__TRACING(L))
        coio__trace_pool(L, t, false, 0);
    r = coio__park(L, t, "to_thread", &j, job_unwait, COIO__NEVER, true);
    if (j.done)
        return r < 0 ? r : j.result;
    pthread_mutex_lock(&pool.mu);
    bool dropped = j.state == JOB_DROPPED;
    if (j.state == JOB_QUEUED) { /* interrupted before parking */
        coio__list_unlink(&j.link);
        j.state = JOB_DROPPED;
        L->ext_pending--;
        L->pool_jobs--;
        dropped = true;
    }
    pthread_mutex_unlock(&pool.mu);
    if (!dropped) {
        while (!j.done) /* fn may use memory the caller owns: wait for it */
            coio__park(L, t, "to_thread (cancelling)", &j, NULL, COIO__NEVER, false);
    }
    return r < 0 ? r : -ECANCELED;
}
