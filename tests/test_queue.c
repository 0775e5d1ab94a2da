/* coio_queue: FIFO/LIFO/priority order, maxsize and blocking, *_nowait, task_done/join,
 * Python 3.13 shutdown, cancellation and timeouts while waiting (no lost items), misuse. */
#define _GNU_SOURCE
#include "sync_helpers.h"

#include <stdint.h>

#define I(x) ((void *)(intptr_t)(x))
#define V(p) ((int)(intptr_t)(p))

static int int_cmp(const void *a, const void *b)
{
    return (V(a) > V(b)) - (V(a) < V(b));
}

/* Compares by tens only, so 11 and 15 are equal: ties must leave in FIFO order. */
static int tens_cmp(const void *a, const void *b)
{
    return (V(a) / 10 > V(b) / 10) - (V(a) / 10 < V(b) / 10);
}

/* ------------------------------------------------------------------ orders */

static int drain_in_order(coio_queue *q, const int *want, int n)
{
    for (int i = 0; i < n; i++) {
        void *it = NULL;
        check_rc(coio_queue_get_nowait(q, &it), 0);
        check_int(V(it), want[i]);
    }
    check_rc(coio_queue_get_nowait(q, NULL), -EAGAIN);
    return 0;
}

static int orders_main(void *arg)
{
    (void)arg;
    int in[] = {5, 1, 4, 2, 3};
    coio_queue *f = coio_queue_create(COIO_QUEUE_FIFO, 0, NULL);
    coio_queue *l = coio_queue_create(COIO_QUEUE_LIFO, 0, NULL);
    coio_queue *p = coio_queue_create(COIO_QUEUE_PRIORITY, 0, int_cmp);
    for (int i = 0; i < 5; i++) {
        check_rc(coio_queue_put(f, I(in[i])), 0);
        check_rc(coio_queue_put(l, I(in[i])), 0);
        check_rc(coio_queue_put(p, I(in[i])), 0);
    }
    check_int(coio_queue_size(f), 5);
    int wf[] = {5, 1, 4, 2, 3}, wl[] = {3, 2, 4, 1, 5}, wp[] = {1, 2, 3, 4, 5};
    drain_in_order(f, wf, 5);
    drain_in_order(l, wl, 5);
    drain_in_order(p, wp, 5);
    check_int(coio_queue_empty(p), 1);
    /* Equal priorities (same tens) leave FIFO. */
    coio_queue *t = coio_queue_create(COIO_QUEUE_PRIORITY, 0, tens_cmp);
    int ties[] = {15, 11, 3, 19, 12, 7, 25, 21};
    for (int i = 0; i < 8; i++)
        coio_queue_put(t, I(ties[i]));
    int wt[] = {3, 7, 15, 11, 19, 12, 25, 21};
    drain_in_order(t, wt, 8);
    coio_queue_destroy(t);
    coio_queue_destroy(f);
    coio_queue_destroy(l);
    coio_queue_destroy(p);
    return 0;
}

static void queue_fifo_lifo_priority_orders(void **state)
{
    (void)state;
    run_ok(orders_main, NULL);
}

static int growth_main(void *arg)
{
    (void)arg;
    /* Many items, wrapping the FIFO ring while it grows. */
    coio_queue *q = coio_queue_create(COIO_QUEUE_FIFO, 0, NULL);
    int next_in = 0, next_out = 0;
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 37; i++)
            check_rc(coio_queue_put_nowait(q, I(next_in++)), 0);
        for (int i = 0; i < 20; i++) {
            void *it;
            check_rc(coio_queue_get_nowait(q, &it), 0);
            check_int(V(it), next_out++);
        }
    }
    while (!coio_queue_empty(q)) {
        void *it;
        coio_queue_get_nowait(q, &it);
        check_int(V(it), next_out++);
    }
    check_int(next_out, next_in);
    coio_queue_destroy(q);
    /* A priority queue of many items comes out sorted. */
    coio_queue *p = coio_queue_create(COIO_QUEUE_PRIORITY, 0, int_cmp);
    uint32_t x = 12345;
    for (int i = 0; i < 1000; i++) {
        x = x * 1103515245u + 12345u;
        coio_queue_put_nowait(p, I((int)(x >> 8) & 0xffff));
    }
    int prev = -1;
    for (int i = 0; i < 1000; i++) {
        void *it;
        check_rc(coio_queue_get_nowait(p, &it), 0);
        check_true(V(it) >= prev);
        prev = V(it);
    }
    coio_queue_destroy(p);
    return 0;
}

static void queue_grows_and_keeps_order(void **state)
{
    (void)state;
    run_ok(growth_main, NULL);
}

/* ------------------------------------------------------------------ blocking */

struct pc {
    coio_queue *q;
    int n;
    int got[64];
    int ngot;
    int rc;
    struct order order;
};

static int producer(void *arg)
{
    struct pc *c = arg;
    for (int i = 0; i < c->n; i++) {
        int r = coio_queue_put(c->q, I(i));
        if (r < 0)
            return r;
    }
    return 0;
}

static int consumer(void *arg)
{
    struct pc *c = arg;
    for (int i = 0; i < c->n; i++) {
        void *it;
        int r = coio_queue_get(c->q, &it);
        if (r < 0)
            return r;
        c->got[c->ngot++] = V(it);
        coio_queue_task_done(c->q);
    }
    return 0;
}

static int bounded_main(void *arg)
{
    struct pc *c = arg;
    c->q = coio_queue_create(COIO_QUEUE_FIFO, 1, NULL);
    c->n = 50;
    coio_task *p = coio_spawn(producer, c);
    coio_task *k = coio_spawn(consumer, c);
    check_rc(coio_gather(p, k), 0);
    check_int(coio_queue_full(c->q), 0);
    check_rc(coio_queue_put_nowait(c->q, I(1)), 0);
    check_int(coio_queue_full(c->q), 1);
    check_rc(coio_queue_put_nowait(c->q, I(2)), -EAGAIN);
    check_int(coio_queue_maxsize(c->q), 1);
    coio_queue_destroy(c->q);
    return 0;
}

static void queue_maxsize_one_passes_every_item_in_order(void **state)
{
    (void)state;
    struct pc c = {0};
    run_ok(bounded_main, &c);
    assert_int_equal(c.ngot, 50);
    for (int i = 0; i < 50; i++)
        assert_int_equal(c.got[i], i);
}

struct waiter_arg {
    struct pc *c;
    int id;
    void *item;
    int rc;
    double timeout; /* > 0: wait inside a timeout scope */
};

static int getter_fn(void *arg)
{
    struct waiter_arg *a = arg;
    return coio_queue_get(a->c->q, &a->item);
}

static int getter(void *arg)
{
    struct waiter_arg *a = arg;
    a->rc = a->timeout > 0 ? with_timeout(a->timeout, getter_fn, a) : getter_fn(a);
    if (a->rc == 0)
        note(&a->c->order, a->id);
    return a->rc;
}

static int putter_fn(void *arg)
{
    struct waiter_arg *a = arg;
    return coio_queue_put(a->c->q, a->item);
}

static int putter(void *arg)
{
    struct waiter_arg *a = arg;
    a->rc = a->timeout > 0 ? with_timeout(a->timeout, putter_fn, a) : putter_fn(a);
    if (a->rc == 0)
        note(&a->c->order, a->id);
    return a->rc;
}

static int getters_fifo_main(void *arg)
{
    struct pc *c = arg;
    c->q = coio_queue_create(COIO_QUEUE_FIFO, 0, NULL);
    struct waiter_arg a[4];
    coio_task *t[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (struct waiter_arg){.c = c, .id = i};
        t[i] = coio_spawn(getter, &a[i]);
        coio_yield();
    }
    coio_cancel(t[1]);      /* cancelled getter: the item goes to the next one */
    a[2].timeout = 0;       /* (t[2] waits without a limit) */
    for (int i = 0; i < 3; i++)
        check_rc(coio_queue_put(c->q, I(100 + i)), 0);
    int res[4];
    coio_gather_n(t, 4, res);
    check_rc(res[1], -ECANCELED);
    check_int(V(a[0].item), 100);
    check_int(V(a[2].item), 101);
    check_int(V(a[3].item), 102);
    check_int(coio_queue_size(c->q), 0);
    coio_queue_destroy(c->q);
    return 0;
}

static void queue_getters_served_fifo_and_cancelled_getter_loses_nothing(void **state)
{
    (void)state;
    struct pc c = {0};
    run_ok(getters_fifo_main, &c);
    int want[] = {0, 2, 3};
    assert_order(&c.order, want, 3);
}

static int getter_timeout_main(void *arg)
{
    struct pc *c = arg;
    c->q = coio_queue_create(COIO_QUEUE_FIFO, 0, NULL);
    struct waiter_arg a0 = {.c = c, .id = 0, .timeout = 0.02};
    struct waiter_arg a1 = {.c = c, .id = 1};
    coio_task *t0 = coio_spawn(getter, &a0);
    coio_yield();
    coio_task *t1 = coio_spawn(getter, &a1);
    coio_sleep(0.05);
    check_rc(a0.rc, -ETIMEDOUT);
    coio_queue_put(c->q, I(7));
    check_rc(coio_await(t0), -ETIMEDOUT);
    check_rc(coio_await(t1), 0);
    check_int(V(a1.item), 7);
    coio_queue_destroy(c->q);
    return 0;
}

static void queue_timed_out_getter_loses_nothing(void **state)
{
    (void)state;
    struct pc c = {0};
    run_ok(getter_timeout_main, &c);
}

static int putters_main(void *arg)
{
    struct pc *c = arg;
    c->q = coio_queue_create(COIO_QUEUE_FIFO, 1, NULL);
    coio_queue_put(c->q, I(0));
    struct waiter_arg a[4];
    coio_task *t[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (struct waiter_arg){.c = c, .id = i + 1, .item = I(i + 1)};
        if (i == 1)
            a[i].timeout = 0.02;
        t[i] = coio_spawn(putter, &a[i]);
        coio_yield();
    }
    coio_cancel(t[2]);
    coio_sleep(0.05); /* t[1] timed out */
    int got[3];
    for (int i = 0; i < 3; i++) {
        void *it;
        check_rc(coio_queue_get(c->q, &it), 0);
        got[i] = V(it);
    }
    int res[4];
    coio_gather_n(t, 4, res);
    check_rc(res[0], 0);
    check_rc(res[1], -ETIMEDOUT);
    check_rc(res[2], -ECANCELED);
    check_rc(res[3], 0);
    check_int(got[0], 0);
    check_int(got[1], 1);
    check_int(got[2], 4); /* the interrupted putters' items never entered the queue */
    check_int(coio_queue_size(c->q), 0);
    coio_queue_destroy(c->q);
    return 0;
}

static void queue_putters_fifo_and_interrupted_putter_adds_nothing(void **state)
{
    (void)state;
    struct pc c = {0};
    run_ok(putters_main, &c);
}

static int granted_then_cancelled_main(void *arg)
{
    struct pc *c = arg;
    c->q = coio_queue_create(COIO_QUEUE_FIFO, 0, NULL);
    struct waiter_arg a = {.c = c, .id = 0};
    coio_task *t = coio_spawn(getter, &a);
    coio_yield();
    coio_queue_put(c->q, I(42)); /* handed to t ... */
    coio_cancel(t);              /* ... cancelled before it runs: it still returns it */
    check_rc(coio_await(t), 0);
    check_int(V(a.item), 42);
    coio_queue_destroy(c->q);
    return 0;
}

static void queue_item_handed_over_before_cancel_is_returned(void **state)
{
    (void)state;
    struct pc c = {0};
    run_ok(granted_then_cancelled_main, &c);
}

/* ------------------------------------------------------------------ join */

static int joiner(void *arg)
{
    return coio_queue_join(arg);
}

struct join_watch {
    coio_queue *q;
    int returned; /* set when coio_queue_join has returned */
};

static int watched_joiner(void *arg)
{
    struct join_watch *w = arg;
    int r = coio_queue_join(w->q);
    w->returned = 1;
    return r;
}

#define JOIN_ITEMS 5

static int join_main(void *arg)
{
    struct pc *c = arg;
    c->q = coio_queue_create(COIO_QUEUE_FIFO, 0, NULL);
    check_rc(coio_queue_join(c->q), 0); /* nothing put: at once */
    for (int i = 0; i < JOIN_ITEMS; i++)
        coio_queue_put(c->q, I(i));
    struct join_watch w = {.q = c->q};
    coio_task *j = coio_spawn(watched_joiner, &w);
    coio_yield(); /* j waits in join */
    void *it;
    for (int i = 0; i < JOIN_ITEMS; i++)
        coio_queue_get(c->q, &it);
    check_int(w.returned, 0); /* getting is not finishing */
    /* Every task_done but the last leaves j waiting: given turns enough to run if it had
     * been woken, it has not returned. */
    for (int i = 0; i < JOIN_ITEMS - 1; i++) {
        check_rc(coio_queue_task_done(c->q), 0);
        for (int k = 0; k < 4; k++)
            coio_yield();
        check_int(w.returned, 0);
    }
    check_rc(coio_queue_task_done(c->q), 0);
    check_rc(coio_await(j), 0);
    check_int(w.returned, 1);
    check_rc(coio_queue_task_done(c->q), -EOVERFLOW);
    /* join can be cancelled */
    coio_queue_put(c->q, I(9));
    j = coio_spawn(joiner, c->q);
    coio_yield();
    coio_cancel(j);
    check_rc(coio_await(j), -ECANCELED);
    coio_queue_destroy(c->q);
    return 0;
}

static void queue_join_waits_for_task_done(void **state)
{
    (void)state;
    struct pc c = {0};
    run_ok(join_main, &c);
}

/* ------------------------------------------------------------------ shutdown */

static int shutdown_main(void *arg)
{
    struct pc *c = arg;
    /* Blocked getters are released with -ESHUTDOWN. */
    c->q = coio_queue_create(COIO_QUEUE_FIFO, 2, NULL);
    struct waiter_arg g[2] = {{.c = c, .id = 0}, {.c = c, .id = 1}};
    coio_task *tg[2] = {coio_spawn(getter, &g[0]), coio_spawn(getter, &g[1])};
    coio_yield();
    check_rc(coio_queue_shutdown(c->q, 0), 0);
    int res[2];
    coio_gather_n(tg, 2, res);
    check_rc(res[0], -ESHUTDOWN);
    check_rc(res[1], -ESHUTDOWN);
    check_rc(coio_queue_put(c->q, I(1)), -ESHUTDOWN);
    check_rc(coio_queue_put_nowait(c->q, I(1)), -ESHUTDOWN);
    check_rc(coio_queue_get(c->q, NULL), -ESHUTDOWN);
    check_rc(coio_queue_get_nowait(c->q, NULL), -ESHUTDOWN);
    coio_queue_destroy(c->q);

    /* Not immediate: blocked putters fail, the items in the queue can still be got. */
    c->q = coio_queue_create(COIO_QUEUE_FIFO, 2, NULL);
    coio_queue_put(c->q, I(1));
    coio_queue_put(c->q, I(2));
    struct waiter_arg p = {.c = c, .id = 3, .item = I(3)};
    coio_task *tp = coio_spawn(putter, &p);
    coio_task *tj = coio_spawn(joiner, c->q);
    coio_yield();
    check_rc(coio_queue_shutdown(c->q, 0), 0);
    check_rc(coio_await(tp), -ESHUTDOWN);
    void *it;
    check_rc(coio_queue_get(c->q, &it), 0);
    check_int(V(it), 1);
    check_rc(coio_queue_get_nowait(c->q, &it), 0);
    check_int(V(it), 2);
    check_rc(coio_queue_get(c->q, &it), -ESHUTDOWN);
    coio_queue_task_done(c->q);
    coio_queue_task_done(c->q);
    check_rc(coio_await(tj), 0);
    check_rc(coio_queue_shutdown(c->q, 0), 0); /* again: harmless */
    coio_queue_destroy(c->q);

    /* Immediate: items are dropped (counting as done: join returns), gets fail. */
    c->q = coio_queue_create(COIO_QUEUE_LIFO, 3, NULL);
    for (int i = 0; i < 3; i++)
        coio_queue_put(c->q, I(i));
    void *first;
    coio_queue_get(c->q, &first); /* taken but not task_done'd */
    struct waiter_arg p2 = {.c = c, .id = 4, .item = I(4)};
    coio_queue_put(c->q, I(5));
    coio_task *tp2 = coio_spawn(putter, &p2); /* blocked: full */
    tj = coio_spawn(joiner, c->q);
    coio_yield();
    check_rc(coio_queue_shutdown(c->q, 1), 3);
    check_rc(coio_await(tp2), -ESHUTDOWN);
    check_int(coio_queue_size(c->q), 0);
    check_rc(coio_queue_get_nowait(c->q, &it), -ESHUTDOWN);
    coio_sleep(0.005);
    check_int(coio_queue_size(c->q), 0);
    coio_queue_task_done(c->q); /* the one item got before the shutdown */
    check_rc(coio_await(tj), 0);
    coio_queue_destroy(c->q);
    return 0;
}

static void queue_shutdown_follows_python_3_13(void **state)
{
    (void)state;
    struct pc c = {0};
    run_ok(shutdown_main, &c);
}

static int shutdown_immediate_releases_join_main(void *arg)
{
    struct pc *c = arg;
    c->q = coio_queue_create(COIO_QUEUE_FIFO, 0, NULL);
    coio_queue_put(c->q, I(1));
    coio_queue_put(c->q, I(2));
    coio_task *tj = coio_spawn(joiner, c->q);
    coio_yield();
    check_rc(coio_queue_shutdown(c->q, 1), 2);
    check_rc(coio_await(tj), 0);
    check_rc(coio_queue_task_done(c->q), -EOVERFLOW);
    coio_queue_destroy(c->q);
    return 0;
}

static void queue_immediate_shutdown_releases_join(void **state)
{
    (void)state;
    struct pc c = {0};
    run_ok(shutdown_immediate_releases_join_main, &c);
}

/* ------------------------------------------------------------------ misuse */

static int misuse_main(void *arg)
{
    struct pc *c = arg;
    check_true(coio_queue_create(COIO_QUEUE_PRIORITY, 0, NULL) == NULL);
    check_int(errno, EINVAL);
    check_true(coio_queue_create(COIO_QUEUE_FIFO, 0, int_cmp) == NULL);
    check_true(coio_queue_create(7, 0, NULL) == NULL);
    check_rc(coio_queue_put(NULL, NULL), -EINVAL);
    check_rc(coio_queue_get(NULL, NULL), -EINVAL);
    check_rc(coio_queue_task_done(NULL), -EINVAL);
    check_rc(coio_queue_destroy(NULL), -EINVAL);
    c->q = coio_queue_create(COIO_QUEUE_FIFO, 0, NULL);
    struct waiter_arg g = {.c = c};
    coio_task *t = coio_spawn(getter, &g);
    coio_yield();
    check_rc(coio_queue_destroy(c->q), -EBUSY);
    coio_queue_put(c->q, I(1));
    coio_await(t);
    coio_queue_put(c->q, I(2)); /* items left are dropped by destroy */
    check_rc(coio_queue_destroy(c->q), 0);
    /* A cancelled task: put/get fail at once even when they would not wait. */
    c->q = coio_queue_create(COIO_QUEUE_FIFO, 0, NULL);
    coio_cancel(coio_current());
    check_rc(coio_queue_put(c->q, I(1)), -ECANCELED);
    check_rc(coio_queue_put_nowait(c->q, I(1)), 0); /* non-blocking calls still work */
    check_rc(coio_queue_get(c->q, NULL), -ECANCELED);
    coio_queue_destroy(c->q);
    return 0;
}

static void queue_misuse_returns_error_codes(void **state)
{
    (void)state;
    struct pc c = {0};
    run_ok(misuse_main, &c);
    coio_queue *q = coio_queue_create(COIO_QUEUE_FIFO, 0, NULL);
    assert_int_equal(coio_queue_put(q, NULL), -EPERM); /* outside a task */
    assert_int_equal(coio_queue_put_nowait(q, NULL), 0);
    void *it = I(1);
    assert_int_equal(coio_queue_get_nowait(q, &it), 0);
    assert_null(it);
    coio_queue_destroy(q);
}

enum { NPROD = 4, NCONS = 3, PER_PROD = 500 };

struct prod {
    coio_queue *q;
    int base;
};

struct cons {
    coio_queue *q;
    int *seen;
};

static int prod_fn(void *arg)
{
    struct prod *a = arg;
    for (int i = 0; i < PER_PROD; i++) {
        int r = coio_queue_put(a->q, I(a->base + i));
        if (r < 0)
            return r;
        if (i % 7 == 0)
            coio_yield();
    }
    return 0;
}

static int cons_fn(void *arg)
{
    struct cons *a = arg;
    for (;;) {
        void *it;
        int r = coio_queue_get(a->q, &it);
        if (r < 0)
            return r;
        a->seen[V(it)]++;
        coio_queue_task_done(a->q);
    }
}

static int producers_consumers_main(void *arg)
{
    (void)arg;
    /* 4 producers, 3 consumers, maxsize 2: every item arrives exactly once. */
    static int seen[NPROD * PER_PROD];
    memset(seen, 0, sizeof seen);
    coio_queue *q = coio_queue_create(COIO_QUEUE_FIFO, 2, NULL);
    struct prod pa[NPROD];
    coio_task *pt[NPROD], *ct[NCONS];
    for (int i = 0; i < NPROD; i++) {
        pa[i] = (struct prod){q, i * PER_PROD};
        pt[i] = coio_spawn(prod_fn, &pa[i]);
    }
    struct cons ca = {q, seen};
    for (int i = 0; i < NCONS; i++)
        ct[i] = coio_spawn(cons_fn, &ca);
    check_rc(coio_gather_n(pt, NPROD, NULL), 0);
    check_rc(coio_queue_join(q), 0);
    coio_queue_shutdown(q, 0);
    int res[NCONS];
    coio_gather_n(ct, NCONS, res);
    for (int i = 0; i < NCONS; i++)
        check_rc(res[i], -ESHUTDOWN);
    for (int i = 0; i < NPROD * PER_PROD; i++)
        check_int(seen[i], 1);
    coio_queue_destroy(q);
    return 0;
}

static void queue_many_producers_and_consumers_lose_nothing(void **state)
{
    (void)state;
    run_ok(producers_consumers_main, NULL);
}

/* The queue's destructor gets exactly the items it drops, never one handed out. */
static int freed_items;
static void count_free(void *item)
{
    freed_items++;
    free(item);
}

static int item_free_main(void *arg)
{
    (void)arg;
    coio_queue *q = coio_queue_create(COIO_QUEUE_FIFO, 0, NULL);
    assert_non_null(q);
    coio_assert_rc(coio_queue_set_item_free(q, count_free), 0);
    for (int i = 0; i < 5; i++)
        coio_assert_rc(coio_queue_put(q, malloc(16)), 0);
    void *got;
    coio_assert_rc(coio_queue_get(q, &got), 0);
    free(got); /* handed out: ours */
    coio_assert_rc(coio_queue_shutdown(q, 1), 4);
    assert_int_equal(freed_items, 4);
    coio_assert_rc(coio_queue_destroy(q), 0);
    assert_int_equal(freed_items, 4);

    /* destroy drops what is left, whatever the order (the ring wraps here) */
    coio_queue *p = coio_queue_create(COIO_QUEUE_FIFO, 4, NULL);
    coio_assert_rc(coio_queue_set_item_free(p, count_free), 0);
    for (int i = 0; i < 4; i++)
        coio_assert_rc(coio_queue_put_nowait(p, malloc(8)), 0);
    for (int i = 0; i < 3; i++) {
        coio_assert_rc(coio_queue_get_nowait(p, &got), 0);
        free(got);
        coio_assert_rc(coio_queue_put_nowait(p, malloc(8)), 0);
    }
    coio_assert_rc(coio_queue_destroy(p), 0);
    assert_int_equal(freed_items, 8);
    coio_assert_rc(coio_queue_set_item_free(NULL, count_free), -EINVAL);
    return 0;
}

static void queue_item_free_gets_every_dropped_item(void **state)
{
    (void)state;
    freed_items = 0;
    run_ok(item_free_main, NULL); /* ASan's leak check also fails a lost item */
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(queue_fifo_lifo_priority_orders),
    cmocka_unit_test(queue_grows_and_keeps_order),
    cmocka_unit_test(queue_maxsize_one_passes_every_item_in_order),
    cmocka_unit_test(queue_getters_served_fifo_and_cancelled_getter_loses_nothing),
    cmocka_unit_test(queue_timed_out_getter_loses_nothing),
    cmocka_unit_test(queue_putters_fifo_and_interrupted_putter_adds_nothing),
    cmocka_unit_test(queue_item_handed_over_before_cancel_is_returned),
    cmocka_unit_test(queue_join_waits_for_task_done),
    cmocka_unit_test(queue_shutdown_follows_python_3_13),
    cmocka_unit_test(queue_immediate_shutdown_releases_join),
    cmocka_unit_test(queue_misuse_returns_error_codes),
    cmocka_unit_test(queue_many_producers_and_consumers_lose_nothing),
    cmocka_unit_test(queue_item_free_gets_every_dropped_item),
};

COIO_TEST_MAIN(tests)
