/*
 * Callbacks: call_soon, call_later, call_at with cancellable handles, and the loop handle
 * (coio_loop) through which other threads reach a loop: call_soon_threadsafe and futures
 * completed from other threads.
 *
 * Callback records come from a per-loop pool and are recycled, never freed, until the loop
 * ends: call_later arms a timer inside the record, and a disarmed timer's stale heap entry
 * still reads it (timer.c). A handle is (record, generation): the generation changes on
 * every reuse, so cancelling through an old handle is a harmless -EALREADY.
 *
 * Order: call_soon appends to L->soon. A call_later/call_at timer that fires appends its
 * record there too; the timer heap breaks ties by arming order, so equal times run FIFO.
 * The loop runs its callback phase (the records on L->soon, through cb_run) after timers
 * in every turn; it runs the callbacks queued at that moment, so a callback that schedules another one runs it in the next
 * iteration, after one step of each ready task (loop.c). Queueing a callback, or arming
 * one that is already due, ends the running turn (coio__turn_end), so it runs before any
 * task that is ready after it.
 *
 * Cross-thread: a coio_loop has a mutex, an inbox of coio__remote messages and a
 * reference count. Posting takes the mutex, appends, and writes the backend's eventfd if
 * the inbox was empty (a pending wake-up covers the rest). The loop's poll sees the
 * eventfd and calls coio__loop_drain_ext, which calls this file's woken hook. The
 * wake-up is written under the mutex, and the loop clears `L` under it before it frees
 * its backend, so a poster never touches a dead loop (same pattern as threadpool.c).
 *
 * Per-loop state (the record pool, the loop handle) is this file's subsystem state,
 * created and freed by the loop through the hooks at the end of the file.
 */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { CB_FREE, CB_SOON, CB_TIMER, CB_POSTED };

typedef struct cb {
    coio__remote node; /* link: L->soon, or a handle's inbox (threadsafe records) */
    coio__timer timer;
    void (*fn)(void *);
    void *arg;
    uint64_t gen;
    uint8_t state;
    uint8_t heap;      /* malloc'd by call_soon_threadsafe: freed after running */
    struct cb *next_free;
} cb;

#define CBS_PER_CHUNK 64

struct coio_loop {
    pthread_mutex_t mu;
    size_t refs;      /* the loop's own reference while it runs, plus the users' */
    coio__loop *L;    /* NULL once the loop has ended */
    coio__list inbox; /* coio__remote messages */
    bool counted;     /* loop thread only: this handle holds one L->keepalive */
};

typedef struct cb_state {
    cb *free;
    cb **chunks;
    size_t nchunks, capchunks;
    coio_loop *handle;
} cb_state;

static inline cb_state *state(coio__loop *L)
{
    return coio__loop_sub(L, COIO__SUB_CALLBACKS);
}

/* The public handle is this shape; checked so it never outgrows the storage. */
typedef struct handle_impl {
    cb *rec;
    uint64_t gen;
} handle_impl;
_Static_assert(sizeof(handle_impl) <= sizeof(coio_call_handle), "coio_call_handle too small");

/* ------------------------------------------------------------------ record pool */

static cb *cb_alloc(cb_state *S)
{
    cb *c = S->free;
    if (c) {
        S->free = c->next_free;
        return c;
    }
    if (S->nchunks == S->capchunks) {
        size_t nc = S->capchunks ? S->capchunks * 2 : 8;
        cb **p = realloc(S->chunks, nc * sizeof *p);
        if (!p)
            return NULL;
        S->chunks = p;
        S->capchunks = nc;
    }
    cb *chunk = calloc(CBS_PER_CHUNK, sizeof *chunk);
    if (!chunk)
        return NULL;
    S->chunks[S->nchunks++] = chunk;
    for (size_t i = CBS_PER_CHUNK - 1; i > 0; i--) {
        coio__list_init(&chunk[i].node.link);
        chunk[i].next_free = S->free;
        S->free = &chunk[i];
    }
    coio__list_init(&chunk[0].node.link);
    return &chunk[0];
}

/* Retires c: a pool record goes back (its handle goes stale), a threadsafe one is freed. */
static void cb_retire(cb_state *S, cb *c)
{
    if (c->heap) {
        free(c);
        return;
    }
    c->state = CB_FREE;
    c->gen++;
    c->fn = NULL;
    c->arg = NULL;
    c->next_free = S->free;
    S->free = c;
}

static void cb_run(coio__loop *L, coio__remote *r);

static void soon_push(coio__loop *L, cb *c)
{
    c->state = CB_SOON;
    c->node.run = cb_run;
    coio__list_push_back(&L->soon, &c->node.link);
    L->nsoon++;
    /* End the current turn: the loop runs callbacks between turns, and a turn may last
     * 64 or more task steps. As in asyncio, where callbacks share the ready queue with
     * task steps, a task that schedules a callback and then yields finds it has run. */
    coio__turn_end(L);
}

static void fill_handle(coio_call_handle *h, cb *c)
{
    if (h) {
        handle_impl hi = {.rec = c, .gen = c->gen};
        *h = (coio_call_handle){{0}};
        memcpy(h, &hi, sizeof hi);
    }
}

/* ------------------------------------------------------------------ call_soon / later / at */

/* A new callback record for this thread's loop; *err says why there is none. */
static cb *cb_new(coio__loop *L, void (*fn)(void *), void *arg, int *err)
{
    *err = !fn ? -EINVAL : !L ? -EPERM : 0;
    if (*err)
        return NULL;
    cb *c = cb_alloc(state(L));
    if (!c) {
        *err = -ENOMEM;
        return NULL;
    }
    c->fn = fn;
    c->arg = arg;
    return c;
}

int coio_call_soon(void (*fn)(void *), void *arg, coio_call_handle *handle)
{
    coio__loop *L = coio__loop_get();
    int err;
    cb *c = cb_new(L, fn, arg, &err);
    if (!c)
        return err;
    soon_push(L, c);
    fill_handle(handle, c);
    return 0;
}

static void cb_timer_fire(coio__loop *L, coio__timer *tm)
{
    cb *c = coio__container_of(tm, cb, timer);
    soon_push(L, c);
}

/* now: the clock when the caller read it, else 0. */
static int call_at_ns(int64_t when, int64_t now, void (*fn)(void *), void *arg,
                      coio_call_handle *handle)
{
    coio__loop *L = coio__loop_get();
    int err;
    cb *c = cb_new(L, fn, arg, &err);
    if (!c)
        return err;
    c->timer.fire = cb_timer_fire;
    if (coio__timer_arm(L, &c->timer, when) < 0) {
        cb_retire(state(L), c);
        return -ENOMEM;
    }
    c->state = CB_TIMER;
    fill_handle(handle, c);
    /* Already due: end the turn, as call_soon does, so that it runs before the tasks
     * that are ready after it. It stays a timer, so it runs in deadline order with the
     * other due timers. */
    if (when != COIO__NEVER && when <= (now ? now : coio__clock_ns()))
        coio__turn_end(L);
    return 0;
}

int coio_call_later(double delay, void (*fn)(void *), void *arg, coio_call_handle *handle)
{
    if (isnan(delay))
        return -EINVAL;
    int64_t now = coio__clock_ns();
    return call_at_ns(coio__deadline_after(now, delay), now, fn, arg, handle);
}

int coio_call_at(double when, void (*fn)(void *), void *arg, coio_call_handle *handle)
{
    if (isnan(when))
        return -EINVAL;
    return call_at_ns(coio__time_ns(when), 0, fn, arg, handle);
}

int coio_call_cancel(coio_call_handle *handle)
{
    coio__loop *L = coio__loop_get();
    if (!handle)
        return -EINVAL;
    handle_impl hi;
    memcpy(&hi, handle, sizeof hi);
    if (!hi.rec)
        return -EINVAL;
    if (!L)
        return -EPERM;
    cb *c = hi.rec;
    if (c->gen != hi.gen || (c->state != CB_SOON && c->state != CB_TIMER))
        return -EALREADY;
    if (c->state == CB_SOON) {
        coio__list_unlink(&c->node.link);
        L->nsoon--;
    } else {
        coio__timer_disarm(L, &c->timer);
    }
    cb_retire(state(L), c);
    return 0;
}

/* A record's turn in the loop's callback phase. */
static void cb_run(coio__loop *L, coio__remote *r)
{
    cb *c = coio__container_of(r, cb, node);
    void (*fn)(void *) = c->fn;
    void *arg = c->arg;
    cb_retire(state(L), c); /* before the call: cancelling itself returns -EALREADY */
    fn(arg);
}

/* ------------------------------------------------------------------ loop handles */

coio_loop *coio__loop_handle(coio__loop *L)
{
    cb_state *S = state(L);
    if (S->handle)
        return S->handle;
    coio_loop *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    pthread_mutex_init(&h->mu, NULL);
    coio__list_init(&h->inbox);
    h->refs = 1;
    h->L = L;
    S->handle = h;
    return h;
}

coio_loop *coio_loop_current(void)
{
    coio__loop *L = coio__loop_get();
    if (!L) {
        errno = EPERM;
        return NULL;
    }
    coio_loop *h = coio__loop_handle(L);
    if (!h) {
        errno = ENOMEM;
        return NULL;
    }
    pthread_mutex_lock(&h->mu);
    h->refs++;
    pthread_mutex_unlock(&h->mu);
    if (!h->counted) {
        h->counted = true;
        L->keepalive++;
    }
    return h;
}

/* Loop thread: stop counting h as a keepalive once only the loop's reference is left. */
static void recount(coio__loop *L, coio_loop *h, size_t refs)
{
    if (h->counted && refs == 1) {
        h->counted = false;
        L->keepalive--;
    }
}

int coio_loop_release(coio_loop *h)
{
    if (!h)
        return -EINVAL;
    pthread_mutex_lock(&h->mu);
    size_t refs = --h->refs;
    coio__loop *L = h->L;
    bool mine = L && L == coio__loop_get();
    if (L && !mine && refs == 1)
        L->backend->wake(L); /* the drain recounts the keepalive */
    pthread_mutex_unlock(&h->mu);
    if (mine)
        recount(L, h, refs);
    if (refs == 0) {
        pthread_mutex_destroy(&h->mu);
        free(h);
    }
    return 0;
}

int coio__remote_post(coio_loop *h, coio__remote *r)
{
    coio__loop *here = coio__loop_get();
    pthread_mutex_lock(&h->mu);
    coio__loop *L = h->L;
    if (!L) {
        pthread_mutex_unlock(&h->mu);
        return -ESHUTDOWN;
    }
    if (L == here) {
        /* The loop's own thread: no wake-up needed, and running now keeps the order
         * with what this thread does next. */
        pthread_mutex_unlock(&h->mu);
        r->run(L, r);
        return 0;
    }
    bool was_empty = coio__list_is_empty(&h->inbox);
    coio__list_push_back(&h->inbox, &r->link);
    if (was_empty)
        L->backend->wake(L);
    pthread_mutex_unlock(&h->mu);
    return 0;
}

void coio__remote_withdraw(coio_loop *h, coio__remote *r)
{
    pthread_mutex_lock(&h->mu);
    coio__list_unlink(&r->link);
    pthread_mutex_unlock(&h->mu);
}

/* Runs the messages posted to L's handle: the loop was woken from another thread. */
static void drain_remote(coio__loop *L)
{
    coio_loop *h = state(L)->handle;
    if (!h)
        return;
    coio__list got;
    coio__list_init(&got);
    pthread_mutex_lock(&h->mu);
    if (!coio__list_is_empty(&h->inbox)) {
        got.next = h->inbox.next;
        got.prev = h->inbox.prev;
        got.next->prev = &got;
        got.prev->next = &got;
        coio__list_init(&h->inbox);
    }
    size_t refs = h->refs;
    pthread_mutex_unlock(&h->mu);
    recount(L, h, refs);
    coio__list *n;
    while ((n = coio__list_pop_front(&got)) != NULL) {
        coio__remote *r = coio__container_of(n, coio__remote, link);
        r->run(L, r);
    }
}

/* ------------------------------------------------------------------ call_soon_threadsafe */

static void ts_arrived(coio__loop *L, coio__remote *r)
{
    soon_push(L, coio__container_of(r, cb, node));
}

int coio_call_soon_threadsafe(coio_loop *loop, void (*fn)(void *), void *arg)
{
    if (!loop || !fn)
        return -EINVAL;
    cb *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    coio__list_init(&c->node.link);
    c->node.run = ts_arrived;
    c->fn = fn;
    c->arg = arg;
    c->heap = 1;
    c->state = CB_POSTED;
    int r = coio__remote_post(loop, &c->node);
    if (r < 0)
        free(c);
    return r;
}

/* ------------------------------------------------------------------ loop end */

size_t coio__callbacks_stop(coio__loop *L)
{
    cb_state *S = state(L);
    size_t dropped = L->nsoon;
    coio__list *n;
    while ((n = coio__list_pop_front(&L->soon)) != NULL)
        cb_retire(state(L), coio__container_of(n, cb, node.link));
    L->nsoon = 0;
    for (size_t i = 0; i < S->nchunks; i++)
        for (size_t j = 0; j < CBS_PER_CHUNK; j++) {
            cb *c = &S->chunks[i][j];
            if (c->state == CB_TIMER) {
                coio__timer_disarm(L, &c->timer);
                cb_retire(state(L), c);
                dropped++;
            }
        }
    return dropped;
}

static int callbacks_init(coio__loop *L)
{
    cb_state *S = calloc(1, sizeof *S);
    if (!S)
        return -ENOMEM;
    coio__loop_sub_set(L, COIO__SUB_CALLBACKS, S);
    return 0;
}

static void callbacks_teardown(coio__loop *L)
{
    cb_state *S = state(L);
    coio__list *n;
    /* Callbacks never run: threadsafe records are freed, pool records go with the pool. */
    while ((n = coio__list_pop_front(&L->soon)) != NULL) {
        cb *c = coio__container_of(n, cb, node.link);
        if (c->heap)
            free(c);
    }
    L->nsoon = 0;
    coio_loop *h = S->handle;
    if (h) {
        coio__list late;
        coio__list_init(&late);
        pthread_mutex_lock(&h->mu);
        h->L = NULL; /* from now on posts fail with -ESHUTDOWN */
        while ((n = coio__list_pop_front(&h->inbox)) != NULL)
            coio__list_push_back(&late, n);
        size_t refs = --h->refs;
        pthread_mutex_unlock(&h->mu);
        /* Threadsafe callbacks that never ran. (A future's message belongs to a waiting
         * task: after a normal end there is none; after a backend failure it lives on the
         * dead task's stack and is only unlinked.) */
        while ((n = coio__list_pop_front(&late)) != NULL) {
            coio__remote *r = coio__container_of(n, coio__remote, link);
            if (r->run == ts_arrived)
                free(coio__container_of(r, cb, node));
        }
        if (refs == 0) {
            pthread_mutex_destroy(&h->mu);
            free(h);
        }
        S->handle = NULL;
    }
    for (size_t i = 0; i < S->nchunks; i++)
        free(S->chunks[i]);
    free(S->chunks);
    S->chunks = NULL;
    S->nchunks = S->capchunks = 0;
    free(S);
    coio__loop_sub_set(L, COIO__SUB_CALLBACKS, NULL);
}

const coio__subsystem coio__subsystem_callbacks = {
    .name = "callbacks",
    .init = callbacks_init,
    .teardown = callbacks_teardown,
    .all_done = coio__callbacks_stop,
    .woken = drain_remote,
};
