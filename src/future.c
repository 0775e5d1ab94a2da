/*
 * Futures: a one-shot value that any thread may complete and tasks of any loop may await.
 *
 * A mutex guards the state and the list of waiters. Each waiter is a struct on the
 * awaiting task's stack. Completion (under the mutex) takes every waiter off the list and
 * wakes it: directly when the completing thread runs that waiter's loop, otherwise by
 * posting the waiter's coio__remote message to the loop's handle, which wakes the loop.
 *
 * A waiter leaves early (cancellation, deadline, its own timeout) by taking the mutex,
 * unlinking itself and withdrawing its message if it was posted. Once it holds the mutex,
 * no completer can still be touching it; once the message is withdrawn (or has run), the
 * loop can't either, so the struct may go with the stack frame.
 *
 * Lock order: future mutex, then a handle's mutex.
 */
#include "internal.h"

#include <math.h>
#include <stdlib.h>

enum { F_PENDING, F_RESULT, F_ERROR, F_CANCELLED };

struct coio_future {
    pthread_mutex_t mu;
    int state;
    int err;
    void *value;
    coio__list waiters; /* fwaiter.link */
};

typedef struct fwaiter {
    coio__list link;    /* in f->waiters while pending */
    coio__remote msg;   /* posted to the waiter's loop by a completer on another thread */
    bool posted;        /* guarded by f->mu */
    coio_task *task;
    coio__loop *L;
    coio_loop *h;
    coio_future *f;
} fwaiter;

coio_future *coio_future_create(void)
{
    coio_future *f = calloc(1, sizeof *f);
    if (!f) {
        errno = ENOMEM;
        return NULL;
    }
    pthread_mutex_init(&f->mu, NULL);
    coio__list_init(&f->waiters);
    return f;
}

int coio_future_destroy(coio_future *f)
{
    if (!f)
        return -EINVAL;
    pthread_mutex_lock(&f->mu);
    bool busy = !coio__list_is_empty(&f->waiters);
    pthread_mutex_unlock(&f->mu);
    if (busy)
        return -EBUSY;
    pthread_mutex_destroy(&f->mu);
    free(f);
    return 0;
}

/* What await returns for a completed future; called with f->mu held. */
static int outcome(coio_future *f, void **value)
{
    switch (f->state) {
    case F_RESULT:
        if (value)
            *value = f->value;
        return 0;
    case F_ERROR:
        return f->err;
    default:
        return -ECANCELED;
    }
}

static void waiter_arrived(coio__loop *L, coio__remote *r)
{
    fwaiter *w = coio__container_of(r, fwaiter, msg);
    coio__wake(L, w->task, 1);
}

static int complete(coio_future *f, int state, void *value, int err)
{
    if (!f)
        return -EINVAL;
    coio__loop *here = coio__loop_get();
    pthread_mutex_lock(&f->mu);
    if (f->state != F_PENDING) {
        pthread_mutex_unlock(&f->mu);
        return -EALREADY;
    }
    f->state = state;
    f->value = value;
    f->err = err;
    coio__list *n;
    while ((n = coio__list_pop_front(&f->waiters)) != NULL) {
        fwaiter *w = coio__container_of(n, fwaiter, link);
        if (w->L == here) {
            coio__wake(here, w->task, 1);
        } else {
            w->posted = true;
            coio__remote_post(w->h, &w->msg); /* can't fail: the loop has a waiting task */
        }
    }
    pthread_mutex_unlock(&f->mu);
    return 0;
}

int coio_future_set_result(coio_future *f, void *value)
{
    return complete(f, F_RESULT, value, 0);
}

int coio_future_set_error(coio_future *f, int err)
{
    if (err >= 0)
        return -EINVAL;
    return complete(f, F_ERROR, NULL, err);
}

int coio_future_cancel(coio_future *f)
{
    return complete(f, F_CANCELLED, NULL, 0);
}

int coio_future_result(coio_future *f, void **value)
{
    if (!f)
        return -EINVAL;
    pthread_mutex_lock(&f->mu);
    int r = f->state == F_PENDING ? -EAGAIN : outcome(f, value);
    pthread_mutex_unlock(&f->mu);
    return r;
}

int coio_future_done(coio_future *f)
{
    if (!f)
        return 0;
    pthread_mutex_lock(&f->mu);
    int d = f->state != F_PENDING;
    pthread_mutex_unlock(&f->mu);
    return d;
}

/* Takes w off the future and its message off the loop's inbox (idempotent). */
static void withdraw(fwaiter *w)
{
    pthread_mutex_lock(&w->f->mu);
    coio__list_unlink(&w->link);
    if (w->posted) {
        coio__remote_withdraw(w->h, &w->msg);
        w->posted = false;
    }
    pthread_mutex_unlock(&w->f->mu);
}

static void future_unwait(coio_task *t)
{
    withdraw(t->wait_obj);
}

int coio_future_await(coio_future *f, double timeout, void **value)
{
    coio__loop *L = coio__loop_get();
    coio_task *t = L ? L->current : NULL;
    if (!f || isnan(timeout))
        return -EINVAL;
    int r = coio__check(L, t);
    if (r < 0)
        return r;
    coio_loop *h = coio__loop_handle(L);
    if (!h)
        return -ENOMEM;
    fwaiter w = {.task = t, .L = L, .h = h, .f = f};
    coio__list_init(&w.msg.link);
    w.msg.run = waiter_arrived;
    pthread_mutex_lock(&f->mu);
    if (f->state != F_PENDING) {
        r = outcome(f, value);
        pthread_mutex_unlock(&f->mu);
        return r;
    }
    coio__list_push_back(&f->waiters, &w.link);
    pthread_mutex_unlock(&f->mu);

    /* a negative timeout: none */
    int64_t deadline = timeout < 0 ? COIO__NEVER : coio__deadline_after(coio__clock_ns(), timeout);
    L->keepalive++; /* another thread may complete f: waiting here is no deadlock */
    r = coio__park(L, t, "future", &w, future_unwait, deadline, true);
    L->keepalive--;
    if (r != 1)
        withdraw(&w); /* own timeout, or returned before parking */
    pthread_mutex_lock(&f->mu);
    if (r >= 0 && f->state != F_PENDING)
        r = outcome(f, value); /* completed, perhaps just as the timeout came */
    else if (r >= 0)
        r = -ETIMEDOUT;
    pthread_mutex_unlock(&f->mu);
    return r;
}
