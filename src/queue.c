/*
 * Queues (asyncio.Queue, LifoQueue, PriorityQueue) with Python 3.13's shutdown.
 *
 * Items live in a ring (FIFO, LIFO) or a binary heap of (item, sequence) pairs (PRIORITY;
 * the sequence makes equal items leave in FIFO order). Blocked putters and getters wait
 * with a small record on their own stack. Hand-offs are direct and allocation-free:
 *   - put with a getter waiting (the queue is then empty): the item goes into the
 *     getter's record and the getter is woken;
 *   - get from a full queue with a putter waiting: the putter's item goes into the queue
 *     in the freed slot and the putter is woken.
 * So a woken task never finds its wish taken by someone else (no barging), and a waiter
 * whose wait is interrupted is unlinked at once (unwait), so it never receives an item:
 * the item goes to the next waiter. A hand-off goes only to a waiter whose task still
 * waits (coio__waiter_pop), which is how a select waiting on several queues takes from
 * one only. Not thread-safe: a queue belongs to one loop.
 */
#include "internal.h"

#include <stdlib.h>

#define WOKEN 1

typedef coio__waiter qwaiter;

typedef struct pitem {
    void *item;
    uint64_t seq;
} pitem;

struct coio_queue {
    int order;
    size_t maxsize; /* 0: unbounded */
    int (*cmp)(const void *, const void *);
    void (*free_item)(void *); /* for items dropped by destroy and shutdown(immediate) */
    union {
        void **ring; /* FIFO, LIFO */
        pitem *heap; /* PRIORITY */
    } u;
    size_t cap, head, len;
    uint64_t seq;
    size_t unfinished; /* put and not yet task_done */
    bool shutdown;
    coio__list getters, putters; /* qwaiter */
    coio__list joiners;          /* tasks, through their link */
};

coio_queue *coio_queue_create(int order, size_t maxsize, int (*cmp)(const void *, const void *))
{
    if ((order != COIO_QUEUE_FIFO && order != COIO_QUEUE_LIFO && order != COIO_QUEUE_PRIORITY) ||
        (order == COIO_QUEUE_PRIORITY) != (cmp != NULL)) {
        errno = EINVAL;
        return NULL;
    }
    coio_queue *q = calloc(1, sizeof *q);
    if (!q) {
        errno = ENOMEM;
        return NULL;
    }
    q->order = order;
    q->maxsize = maxsize;
    q->cmp = cmp;
    coio__list_init(&q->getters);
    coio__list_init(&q->putters);
    coio__list_init(&q->joiners);
    return q;
}

int coio_queue_set_item_free(coio_queue *q, void (*free_item)(void *item))
{
    if (!q)
        return -EINVAL;
    q->free_item = free_item;
    return 0;
}

/* Empties q, handing each item to free_item (in no particular order). */
static size_t drop_items(coio_queue *q)
{
    size_t n = q->len;
    for (size_t i = 0; q->free_item && i < n; i++) {
        if (q->order == COIO_QUEUE_PRIORITY)
            q->free_item(q->u.heap[i].item);
        else if (q->order == COIO_QUEUE_FIFO)
            q->free_item(q->u.ring[(q->head + i) % q->cap]);
        else
            q->free_item(q->u.ring[i]);
    }
    q->len = q->head = 0;
    return n;
}

int coio_queue_destroy(coio_queue *q)
{
    if (!q)
        return -EINVAL;
    if (!coio__list_is_empty(&q->getters) || !coio__list_is_empty(&q->putters) ||
        !coio__list_is_empty(&q->joiners))
        return -EBUSY;
    drop_items(q);
    free(q->u.ring);
    free(q);
    return 0;
}

/* ------------------------------------------------------------------ storage */

static inline bool is_full(const coio_queue *q)
{
    return q->maxsize && q->len >= q->maxsize;
}

static bool pitem_less(const coio_queue *q, const pitem *a, const pitem *b)
{
    int c = q->cmp(a->item, b->item);
    return c < 0 || (c == 0 && a->seq < b->seq);
}

static int grow(coio_queue *q)
{
    size_t nc = q->cap ? q->cap * 2 : 8;
    if (q->maxsize && nc > q->maxsize)
        nc = q->maxsize;
    size_t esz = q->order == COIO_QUEUE_PRIORITY ? sizeof(pitem) : sizeof(void *);
    if (nc > SIZE_MAX / esz)
        return -ENOMEM;
    if (q->order == COIO_QUEUE_FIFO && q->head + q->len > q->cap) {
        /* The ring wraps: unwrap it into the new array. */
        void **r = malloc(nc * esz);
        if (!r)
            return -ENOMEM;
        for (size_t i = 0; i < q->len; i++)
            r[i] = q->u.ring[(q->head + i) % q->cap];
        free(q->u.ring);
        q->u.ring = r;
        q->head = 0;
    } else {
        void *r = realloc(q->u.ring, nc * esz);
        if (!r)
            return -ENOMEM;
        q->u.ring = r;
    }
    q->cap = nc;
    return 0;
}

static __attribute__((noinline)) void heap_push(coio_queue *q, void *item)
{
    pitem *h = q->u.heap;
    pitem e = {.item = item, .seq = q->seq++};
    size_t i = q->len;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!pitem_less(q, &e, &h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

static __attribute__((noinline)) void *heap_pop(coio_queue *q)
{
    pitem *h = q->u.heap;
    void *item = h[0].item;
    size_t n = q->len - 1;
    pitem e = h[n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && pitem_less(q, &h[c + 1], &h[c]))
            c++;
        if (!pitem_less(q, &h[c], &e))
            break;
        h[i] = h[c];
        i = c;
    }
    if (n)
        h[i] = e;
    return item;
}

/* Stores item; the caller has checked that q is not full. */
static inline __attribute__((always_inline)) int push_item(coio_queue *q, void *item)
{
    if (__builtin_expect(q->len == q->cap, 0)) {
        int r = grow(q);
        if (r < 0)
            return r;
    }
    if (q->order == COIO_QUEUE_FIFO) {
        size_t i = q->head + q->len;
        q->u.ring[i >= q->cap ? i - q->cap : i] = item;
    } else if (q->order == COIO_QUEUE_LIFO) {
        q->u.ring[q->len] = item;
    } else {
        heap_push(q, item);
    }
    q->len++;
    return 0;
}

/* Removes the next item; q is not empty. */
static inline __attribute__((always_inline)) void *pop_item(coio_queue *q)
{
    void *item;
    if (q->order == COIO_QUEUE_FIFO) {
        item = q->u.ring[q->head];
        q->head = q->head + 1 == q->cap ? 0 : q->head + 1;
    } else if (q->order == COIO_QUEUE_LIFO) {
        item = q->u.ring[q->len - 1];
    } else {
        item = heap_pop(q);
    }
    q->len--;
    return item;
}

/* ------------------------------------------------------------------ waiting */

static void qwaiter_unwait(coio_task *t)
{
    qwaiter *w = t->wait_obj;
    coio__list_unlink(&w->link);
}

static void wake_all(coio__loop *L, coio__list *l, int r)
{
    qwaiter *w;
    while ((w = coio__waiter_pop(l)) != NULL)
        coio__waiter_serve(L, w, r);
}

static void release_joiners(coio__loop *L, coio_queue *q)
{
    coio__list *n;
    while ((n = coio__list_pop_front(&q->joiners)) != NULL)
        coio__wake(L, coio__container_of(n, coio_task, link), WOKEN);
}

static int park_qwaiter(coio__loop *L, coio_task *t, coio__list *l, qwaiter *w, const char *what)
{
    coio__list_push_back(l, &w->link);
    int r = coio__park(L, t, what, w, qwaiter_unwait, COIO__NEVER, true);
    coio__list_unlink(&w->link); /* park may return before parking */
    return r;
}

static inline int enter(coio__loop *L, coio_task *t)
{
    if (__builtin_expect(!t || (t->flags & COIO__F_CANCELLED) || t->scope, 0))
        return coio__check(L, t);
    return 0;
}

/* ------------------------------------------------------------------ put / get */

/* The non-waiting part of put: 0, -EAGAIN (full), -ESHUTDOWN, -ENOMEM. */
static inline __attribute__((always_inline)) int try_put(coio__loop *L, coio_queue *q, void *item)
{
    if (q->shutdown)
        return -ESHUTDOWN;
    qwaiter *g = coio__waiter_pop(&q->getters); /* only while empty */
    if (g) {
        g->item = item;
        q->unfinished++;
        coio__waiter_serve(L, g, 0);
        return 0;
    }
    if (is_full(q))
        return -EAGAIN;
    int r = push_item(q, item);
    if (r < 0)
        return r;
    q->unfinished++;
    return 0;
}

/* The non-waiting part of get: 0, -EAGAIN (empty), -ESHUTDOWN. */
static inline __attribute__((always_inline)) int try_get(coio__loop *L, coio_queue *q, void **item)
{
    if (q->len == 0)
        return q->shutdown ? -ESHUTDOWN : -EAGAIN;
    void *it = pop_item(q);
    if (item)
        *item = it;
    qwaiter *p = coio__waiter_pop(&q->putters); /* only while full */
    if (p) {
        push_item(q, p->item); /* into the slot just freed: no allocation */
        q->unfinished++;
        coio__waiter_serve(L, p, 0);
    }
    return 0;
}

int coio_queue_put(coio_queue *q, void *item)
{
    coio__loop *L = coio__loop_get();
    coio_task *cur = L ? L->current : NULL;
    if (!q)
        return -EINVAL;
    int r = enter(L, cur);
    if (r < 0)
        return r;
    r = try_put(L, q, item);
    if (r != -EAGAIN)
        return r;
    qwaiter w = {.task = cur, .item = item, .wake = WOKEN};
    r = park_qwaiter(L, cur, &q->putters, &w, "queue put");
    return r == WOKEN ? w.result : r;
}

int coio_queue_get(coio_queue *q, void **item)
{
    coio__loop *L = coio__loop_get();
    coio_task *cur = L ? L->current : NULL;
    if (!q)
        return -EINVAL;
    int r = enter(L, cur);
    if (r < 0)
        return r;
    r = try_get(L, q, item);
    if (r != -EAGAIN)
        return r;
    qwaiter w = {.task = cur, .wake = WOKEN};
    r = park_qwaiter(L, cur, &q->getters, &w, "queue get");
    if (r != WOKEN)
        return r;
    if (w.result == 0 && item)
        *item = w.item;
    return w.result;
}

int coio_queue_put_nowait(coio_queue *q, void *item)
{
    if (!q)
        return -EINVAL;
    return try_put(coio__loop_get(), q, item);
}

int coio_queue_get_nowait(coio_queue *q, void **item)
{
    if (!q)
        return -EINVAL;
    return try_get(coio__loop_get(), q, item);
}

void coio__queue_enroll(coio_queue *q, bool put, coio__waiter *w)
{
    coio__list_push_back(put ? &q->putters : &q->getters, &w->link);
}

/* ------------------------------------------------------------------ join, shutdown */

int coio_queue_task_done(coio_queue *q)
{
    if (!q)
        return -EINVAL;
    if (q->unfinished == 0)
        return -EOVERFLOW;
    if (--q->unfinished == 0)
        release_joiners(coio__loop_get(), q);
    return 0;
}

static void unlink_task(coio_task *t)
{
    coio__list_unlink(&t->link);
}

int coio_queue_join(coio_queue *q)
{
    coio__loop *L = coio__loop_get();
    coio_task *cur = L ? L->current : NULL;
    if (!q)
        return -EINVAL;
    int r = enter(L, cur);
    if (r < 0)
        return r;
    if (q->unfinished == 0)
        return 0;
    coio__list_push_back(&q->joiners, &cur->link);
    r = coio__park(L, cur, "queue join", q, unlink_task, COIO__NEVER, true);
    coio__list_unlink(&cur->link);
    return r == WOKEN ? 0 : r;
}

int coio_queue_shutdown(coio_queue *q, int immediate)
{
    if (!q)
        return -EINVAL;
    coio__loop *L = coio__loop_get();
    size_t dropped = 0;
    q->shutdown = true;
    if (immediate && q->len) {
        dropped = drop_items(q);
        q->unfinished = q->unfinished > dropped ? q->unfinished - dropped : 0;
        if (q->unfinished == 0)
            release_joiners(L, q);
    }
    wake_all(L, &q->putters, -ESHUTDOWN);
    if (q->len == 0)
        wake_all(L, &q->getters, -ESHUTDOWN);
    return dropped > INT_MAX ? INT_MAX : (int)dropped;
}

size_t coio_queue_size(const coio_queue *q)
{
    return q ? q->len : 0;
}

size_t coio_queue_maxsize(const coio_queue *q)
{
    return q ? q->maxsize : 0;
}

int coio_queue_empty(const coio_queue *q)
{
    return !q || q->len == 0;
}

int coio_queue_full(const coio_queue *q)
{
    return q && is_full(q);
}
