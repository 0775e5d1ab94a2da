/*
 * Timers: a binary min-heap of (deadline, seq) keys stored in the heap array itself.
 * seq grows with every arming, so equal deadlines fire in the order they were armed
 * (FIFO) — a guarantee asyncio does not make. Sifting compares array entries only and
 * never writes into timer memory, which keeps a heap of a million sleepers cache-friendly.
 * Disarming is O(1): the timer forgets its seq and its entry goes stale; stale entries are
 * dropped when they reach the top, or all at once when they outnumber live ones.
 */
#include "internal.h"

#include <stdlib.h>
#include <time.h>

int64_t coio__real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t coio__deadline_after(int64_t now, double seconds)
{
    if (!(seconds > 0)) /* also NaN, which callers reject first */
        return now;
    /* Past what int64 nanoseconds hold (about 292 years from the clock's start, so
     * INFINITY too): never. */
    if (seconds >= (double)(COIO__NEVER - now) / 1e9)
        return COIO__NEVER;
    return now + (int64_t)(seconds * 1e9);
}

int64_t coio__time_ns(double when)
{
    if (!(when > 0))
        return 0;
    return when >= (double)COIO__NEVER / 1e9 ? COIO__NEVER : (int64_t)(when * 1e9);
}

static inline bool entry_less(const coio__heap_entry *a, const coio__heap_entry *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static inline bool entry_live(const coio__heap_entry *e)
{
    return e->timer->seq == e->seq;
}

static void sift_up(coio__heap_entry *h, size_t i)
{
    coio__heap_entry e = h[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!entry_less(&e, &h[parent]))
            break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = e;
}

static void sift_down(coio__heap_entry *h, size_t len, size_t i)
{
    coio__heap_entry e = h[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= len)
            break;
        if (c + 1 < len && entry_less(&h[c + 1], &h[c]))
            c++;
        if (!entry_less(&h[c], &e))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = e;
}

static void pop_top(coio__timers *T)
{
    T->heap[0] = T->heap[--T->len];
    if (T->len)
        sift_down(T->heap, T->len, 0);
}

/* Drops every stale entry and re-heapifies: O(n), run when stale entries dominate. */
static void compact(coio__timers *T)
{
    size_t j = 0;
    for (size_t i = 0; i < T->len; i++)
        if (entry_live(&T->heap[i]))
            T->heap[j++] = T->heap[i];
    T->len = j;
    for (size_t i = j / 2; i-- > 0;)
        sift_down(T->heap, T->len, i);
}

int coio__timer_arm(coio__loop *L, coio__timer *t, int64_t when)
{
    coio__timers *T = &L->timers;
    if (t->seq)
        coio__timer_disarm(L, t);
    if (T->len == T->cap) {
        if (T->len > 64 && T->len - T->live > T->live)
            compact(T);
        if (T->len == T->cap) {
            size_t nc = T->cap ? T->cap * 2 : 256;
            coio__heap_entry *h = realloc(T->heap, nc * sizeof *h);
            if (!h)
                return -ENOMEM;
            T->heap = h;
            T->cap = nc;
        }
    }
    t->seq = ++T->next_seq;
    T->heap[T->len] = (coio__heap_entry){.when = when, .seq = t->seq, .timer = t};
    sift_up(T->heap, T->len++);
    T->live++;
    return 0;
}

void coio__timer_disarm(coio__loop *L, coio__timer *t)
{
    if (!t->seq)
        return;
    t->seq = 0;
    L->timers.live--;
    /* Its entry stays in the heap, stale, until it surfaces or a compaction drops it.
     * A timer's memory must therefore stay readable while the loop lives: tasks and the
     * other owners of timers are recycled, never freed, until the loop ends. */
}

int64_t coio__timers_next(coio__loop *L)
{
    coio__timers *T = &L->timers;
    while (T->len && !entry_live(&T->heap[0]))
        pop_top(T);
    return T->len ? T->heap[0].when : COIO__NEVER;
}

int coio__timers_run(coio__loop *L, int64_t now)
{
    coio__timers *T = &L->timers;
    int n = 0;
    while (T->len) {
        coio__heap_entry top = T->heap[0];
        if (!entry_live(&top)) {
            pop_top(T);
            continue;
        }
        if (top.when > now)
            break;
        pop_top(T);
        top.timer->seq = 0;
        T->live--;
        top.timer->fire(L, top.timer);
        n++;
    }
    return n;
}

void coio__timers_free(coio__timers *T)
{
    free(T->heap);
    T->heap = NULL;
    T->len = T->cap = T->live = 0;
}
