/*
 * Lock, Event, Condition, Semaphore (plain and bounded) and Barrier, as in asyncio.
 *
 * Each keeps a FIFO of waiting tasks linked through their `link` field (an event, which a
 * select may wait on among other things, links a record per wait instead). Releasing hands
 * the lock or permit straight to the first waiter, which is woken with a positive value
 * (WOKEN); the object stays taken meanwhile, so nobody can barge in between the wake-up
 * and the waiter running. A waiter whose wait is ended by cancellation or a deadline is
 * unlinked at that moment (the unwait hook, called before anyone else runs), so a later
 * release can never pick it: the wake-up goes to the next waiter instead. A waiter that
 * was handed the object before its cancellation arrived is READY, not WAITING: the
 * cancellation leaves it alone, it returns success and sees -ECANCELED at its next
 * suspending call. Nothing here is thread-safe: objects belong to one loop.
 */
#include "internal.h"

#include <stdlib.h>

#define WOKEN 1 /* park's return value for "you were given it" */

static void unlink_waiter(coio_task *t)
{
    coio__list_unlink(&t->link);
}

static void unlink_record(coio_task *t)
{
    coio__waiter *w = t->wait_obj;
    coio__list_unlink(&w->link);
}

/* Parks the current task at the back of q. Returns park's result (WOKEN, -ECANCELED,
 * -ETIMEDOUT, a value given to coio__wake) with the task unlinked from q in every case. */
static int wait_in(coio__loop *L, coio_task *t, coio__list *q, const char *what, void *obj,
                   bool interruptible)
{
    coio__list_push_back(q, &t->link);
    int r = coio__park(L, t, what, obj, interruptible ? unlink_waiter : NULL, COIO__NEVER,
                       interruptible);
    coio__list_unlink(&t->link); /* park may return before parking (already cancelled) */
    return r;
}

/* First task of q still waiting, unlinked; NULL if none. */
static coio_task *pop_waiter(coio__list *q)
{
    coio__list *n;
    while ((n = coio__list_pop_front(q)) != NULL) {
        coio_task *t = coio__container_of(n, coio_task, link);
        if (t->state == COIO__WAITING)
            return t;
    }
    return NULL;
}

/* Fast check made by every suspending call: only a cancelled task or one inside a scope
 * needs the full coio__check. */
static inline int enter(coio__loop *L, coio_task *t)
{
    if (__builtin_expect(!t || (t->flags & COIO__F_CANCELLED) || t->scope, 0))
        return coio__check(L, t);
    return 0;
}

#define CURRENT(L, cur)                       \
    coio__loop *L = coio__loop_get();         \
    coio_task *cur = L ? L->current : NULL

/* ------------------------------------------------------------------ lock */

struct coio_lock {
    bool locked;
    coio_task *owner; /* task that holds it (NULL if taken by a callback) */
    coio__list waiters;
};

coio_lock *coio_lock_create(void)
{
    coio_lock *l = calloc(1, sizeof *l);
    if (!l) {
        errno = ENOMEM;
        return NULL;
    }
    coio__list_init(&l->waiters);
    return l;
}

int coio_lock_destroy(coio_lock *l)
{
    if (!l)
        return -EINVAL;
    if (!coio__list_is_empty(&l->waiters))
        return -EBUSY;
    free(l);
    return 0;
}

static int lock_acquire(coio_lock *l, bool interruptible)
{
    CURRENT(L, cur);
    if (!l)
        return -EINVAL;
    if (interruptible) {
        int r = enter(L, cur);
        if (r < 0)
            return r;
    } else if (!cur) {
        return -EPERM;
    }
    if (!l->locked) { /* then nobody waits: a release hands over to waiters */
        l->locked = true;
        l->owner = cur;
        return 0;
    }
    if (l->owner == cur)
        return -EDEADLK;
    int r = wait_in(L, cur, &l->waiters, "lock", l, interruptible);
    return r == WOKEN ? 0 : r; /* WOKEN: the releaser made us the owner */
}

int coio_lock_acquire(coio_lock *l)
{
    return lock_acquire(l, true);
}

int coio_lock_try_acquire(coio_lock *l)
{
    if (!l)
        return -EINVAL;
    if (l->locked)
        return -EAGAIN;
    l->locked = true;
    l->owner = coio_current();
    return 0;
}

int coio_lock_release(coio_lock *l)
{
    if (!l)
        return -EINVAL;
    if (!l->locked)
        return -EPERM;
    coio_task *next = pop_waiter(&l->waiters);
    if (next) {
        l->owner = next;
        coio__wake(coio__loop_get(), next, WOKEN);
    } else {
        l->locked = false;
        l->owner = NULL;
    }
    return 0;
}

int coio_lock_locked(const coio_lock *l)
{
    return l && l->locked;
}

/* ------------------------------------------------------------------ event */

/* Waiters are records (coio__waiter), not tasks: a select waits on several events. */
struct coio_event {
    bool set;
    coio__list waiters;
};

coio_event *coio_event_create(void)
{
    coio_event *e = calloc(1, sizeof *e);
    if (!e) {
        errno = ENOMEM;
        return NULL;
    }
    coio__list_init(&e->waiters);
    return e;
}

int coio_event_destroy(coio_event *e)
{
    if (!e)
        return -EINVAL;
    if (!coio__list_is_empty(&e->waiters))
        return -EBUSY;
    free(e);
    return 0;
}

int coio_event_set(coio_event *e)
{
    if (!e)
        return -EINVAL;
    if (e->set)
        return 0;
    e->set = true;
    coio__loop *L = coio__loop_get();
    coio__waiter *w;
    while ((w = coio__waiter_pop(&e->waiters)) != NULL)
        coio__waiter_serve(L, w, 0);
    return 0;
}

int coio_event_clear(coio_event *e)
{
    if (!e)
        return -EINVAL;
    e->set = false;
    return 0;
}

int coio_event_is_set(const coio_event *e)
{
    return e && e->set;
}

int coio_event_wait(coio_event *e)
{
    CURRENT(L, cur);
    if (!e)
        return -EINVAL;
    int r = enter(L, cur);
    if (r < 0)
        return r;
    if (e->set)
        return 0;
    coio__waiter w = {.task = cur, .wake = WOKEN};
    coio__list_push_back(&e->waiters, &w.link);
    r = coio__park(L, cur, "event", &w, unlink_record, COIO__NEVER, true);
    coio__list_unlink(&w.link); /* park may return before parking */
    return r == WOKEN ? 0 : r;
}

void coio__event_enroll(coio_event *e, coio__waiter *w)
{
    coio__list_push_back(&e->waiters, &w->link);
}

/* ------------------------------------------------------------------ condition */

struct coio_cond {
    coio_lock *lock;
    bool own_lock;
    coio__list waiters;
};

coio_cond *coio_cond_create(coio_lock *lock)
{
    coio_cond *c = calloc(1, sizeof *c);
    if (!c) {
        errno = ENOMEM;
        return NULL;
    }
    if (!lock) {
        lock = coio_lock_create();
        if (!lock) {
            free(c);
            errno = ENOMEM;
            return NULL;
        }
        c->own_lock = true;
    }
    c->lock = lock;
    coio__list_init(&c->waiters);
    return c;
}

int coio_cond_destroy(coio_cond *c)
{
    if (!c)
        return -EINVAL;
    if (!coio__list_is_empty(&c->waiters) ||
        (c->own_lock && !coio__list_is_empty(&c->lock->waiters)))
        return -EBUSY;
    if (c->own_lock)
        coio_lock_destroy(c->lock);
    free(c);
    return 0;
}

coio_lock *coio_cond_lock(coio_cond *c)
{
    return c ? c->lock : NULL;
}

int coio_cond_acquire(coio_cond *c)
{
    return c ? coio_lock_acquire(c->lock) : -EINVAL;
}

int coio_cond_release(coio_cond *c)
{
    return c ? coio_lock_release(c->lock) : -EINVAL;
}

int coio_cond_wait(coio_cond *c)
{
    CURRENT(L, cur);
    if (!c)
        return -EINVAL;
    if (!cur || !c->lock->locked || c->lock->owner != cur)
        return -EPERM;
    int r = enter(L, cur);
    if (r < 0)
        return r; /* still holding the lock, as after any outcome */
    coio_lock_release(c->lock);
    r = wait_in(L, cur, &c->waiters, "condition", c, true);
    /* Take the lock back whatever happened (asyncio does the same); cancellation can't
     * interrupt this, so the caller always returns holding it. */
    lock_acquire(c->lock, false);
    return r == WOKEN ? 0 : r;
}

int coio_cond_wait_for(coio_cond *c, int (*pred)(void *), void *arg)
{
    if (!c || !pred)
        return -EINVAL;
    coio_task *cur = coio_current();
    if (!cur || !c->lock->locked || c->lock->owner != cur)
        return -EPERM;
    while (!pred(arg)) {
        int r = coio_cond_wait(c);
        if (r < 0)
            return r;
    }
    return 0;
}

int coio_cond_notify(coio_cond *c, int n)
{
    if (!c || n < 0)
        return -EINVAL;
    if (!c->lock->locked)
        return -EPERM;
    coio__loop *L = coio__loop_get();
    int woken = 0;
    coio_task *t;
    while (woken < n && (t = pop_waiter(&c->waiters)) != NULL) {
        coio__wake(L, t, WOKEN);
        woken++;
    }
    return woken;
}

int coio_cond_notify_all(coio_cond *c)
{
    return coio_cond_notify(c, INT_MAX);
}

/* ------------------------------------------------------------------ semaphores */

struct coio_sem {
    unsigned value;
    unsigned bound; /* UINT_MAX: unbounded */
    coio__list waiters;
};

static coio_sem *sem_new(unsigned value, unsigned bound)
{
    coio_sem *s = calloc(1, sizeof *s);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    s->value = value;
    s->bound = bound;
    coio__list_init(&s->waiters);
    return s;
}

coio_sem *coio_sem_create(unsigned value)
{
    return sem_new(value, UINT_MAX);
}

coio_sem *coio_sem_create_bounded(unsigned value)
{
    return sem_new(value, value);
}

int coio_sem_destroy(coio_sem *s)
{
    if (!s)
        return -EINVAL;
    if (!coio__list_is_empty(&s->waiters))
        return -EBUSY;
    free(s);
    return 0;
}

int coio_sem_acquire(coio_sem *s)
{
    CURRENT(L, cur);
    if (!s)
        return -EINVAL;
    int r = enter(L, cur);
    if (r < 0)
        return r;
    if (s->value > 0) { /* then nobody waits: a release hands over to waiters */
        s->value--;
        return 0;
    }
    r = wait_in(L, cur, &s->waiters, "semaphore", s, true);
    return r == WOKEN ? 0 : r;
}

int coio_sem_try_acquire(coio_sem *s)
{
    if (!s)
        return -EINVAL;
    if (s->value == 0)
        return -EAGAIN;
    s->value--;
    return 0;
}

int coio_sem_release(coio_sem *s)
{
    if (!s)
        return -EINVAL;
    coio_task *next = pop_waiter(&s->waiters);
    if (next) {
        coio__wake(coio__loop_get(), next, WOKEN); /* the permit goes straight to it */
        return 0;
    }
    if (s->value >= s->bound)
        return -EOVERFLOW;
    s->value++;
    return 0;
}

unsigned coio_sem_value(const coio_sem *s)
{
    return s ? s->value : 0;
}

int coio_sem_locked(const coio_sem *s)
{
    return s && s->value == 0;
}

/* ------------------------------------------------------------------ barrier */

struct coio_barrier {
    unsigned parties;
    unsigned count; /* tasks waiting now */
    bool broken;
    coio__list waiters;
};

coio_barrier *coio_barrier_create(unsigned parties)
{
    if (parties == 0 || parties > INT_MAX) {
        errno = EINVAL;
        return NULL;
    }
    coio_barrier *b = calloc(1, sizeof *b);
    if (!b) {
        errno = ENOMEM;
        return NULL;
    }
    b->parties = parties;
    coio__list_init(&b->waiters);
    return b;
}

int coio_barrier_destroy(coio_barrier *b)
{
    if (!b)
        return -EINVAL;
    if (!coio__list_is_empty(&b->waiters))
        return -EBUSY;
    free(b);
    return 0;
}

static void barrier_unwait(coio_task *t)
{
    coio_barrier *b = t->wait_obj;
    coio__list_unlink(&t->link);
    b->count--; /* it leaves; the barrier stays whole (asyncio) */
}

/* Releases every waiter with `r(index)`: index order for a trip, -EPIPE otherwise. */
static void barrier_release(coio_barrier *b, bool trip)
{
    coio__loop *L = coio__loop_get();
    int index = 0;
    coio__list *n;
    while ((n = coio__list_pop_front(&b->waiters)) != NULL) {
        coio_task *t = coio__container_of(n, coio_task, link);
        coio__wake(L, t, trip ? WOKEN + index++ : -EPIPE);
    }
    b->count = 0;
}

int coio_barrier_wait(coio_barrier *b)
{
    CURRENT(L, cur);
    if (!b)
        return -EINVAL;
    int r = enter(L, cur);
    if (r < 0)
        return r;
    if (b->broken)
        return -EPIPE;
    if (++b->count == b->parties) {
        barrier_release(b, true);
        return (int)b->parties - 1;
    }
    coio__list_push_back(&b->waiters, &cur->link);
    r = coio__park(L, cur, "barrier", b, barrier_unwait, COIO__NEVER, true);
    if (cur->link.next != &cur->link) { /* returned before parking */
        coio__list_unlink(&cur->link);
        b->count--;
    }
    return r >= WOKEN ? r - WOKEN : r;
}

int coio_barrier_abort(coio_barrier *b)
{
    if (!b)
        return -EINVAL;
    b->broken = true;
    barrier_release(b, false);
    return 0;
}

int coio_barrier_reset(coio_barrier *b)
{
    if (!b)
        return -EINVAL;
    barrier_release(b, false);
    b->broken = false;
    return 0;
}

unsigned coio_barrier_parties(const coio_barrier *b)
{
    return b ? b->parties : 0;
}

unsigned coio_barrier_n_waiting(const coio_barrier *b)
{
    return b ? b->count : 0;
}

int coio_barrier_broken(const coio_barrier *b)
{
    return b && b->broken;
}
