/*
 * Task groups (asyncio.TaskGroup, Trio nurseries), coio_wait (asyncio.wait) and the
 * as-completed iterator.
 *
 * All three collect completions through a joinset (task.c) whose on_finish hook runs as
 * each member finishes. A group's children are detached tasks: the loop frees each one as
 * it ends, so a long-lived group holds nothing for its finished children. The group keeps
 * a record per live child (to cancel them all), recycled through a free list; the child
 * runs a trampoline whose argument is its record, which is how on_finish finds it.
 *
 * A child spawned with coio_group_spawn_task is not detached: its handle is the
 * caller's. While it runs the group holds the claim on it (the group is its one joiner,
 * so nobody else may await it); on_finish drops the claim, and from then on the handle
 * is an ordinary finished task's, released by coio_await or coio_detach.
 */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ task groups */

typedef struct child_rec {
    coio__list link; /* the group's live list */
    coio_task *task;
    int (*fn)(void *);
    void *arg;
    struct child_rec *next_free;
} child_rec;

struct coio_group {
    coio__joinset js; /* pending = live children */
    coio__list live;
    child_rec *free;
    coio_task *waiter;
    int first_err; /* first failure (negative, not -ECANCELED) */
    int result;    /* what wait returned, once finished */
    bool closing;  /* a child failed or the group was cancelled: no new children */
    bool finished; /* wait has returned */
};

static void group_abort(coio_group *g)
{
    g->closing = true;
    for (coio__list *n = g->live.next; n != &g->live; n = n->next)
        coio_cancel(coio__container_of(n, child_rec, link)->task);
}

static void group_child_finished(coio__loop *L, coio__joinset *js, coio_task *t)
{
    (void)L;
    coio_group *g = coio__container_of(js, coio_group, js);
    child_rec *rec = t->arg; /* the trampoline's argument, also when it never ran */
    t->flags &= (uint8_t)~COIO__F_CLAIMED; /* a handle child's handle is the caller's now */
    coio__list_unlink(&rec->link);
    rec->next_free = g->free;
    g->free = rec;
    if (t->result < 0 && t->result != -ECANCELED && !g->first_err) {
        g->first_err = t->result;
        group_abort(g);
    }
}

static int group_trampoline(void *arg)
{
    child_rec *rec = arg;
    return rec->fn(rec->arg);
}

coio_group *coio_group_create(void)
{
    coio_group *g = calloc(1, sizeof *g);
    if (!g) {
        errno = ENOMEM;
        return NULL;
    }
    coio__list_init(&g->live);
    g->js.on_finish = group_child_finished;
    return g;
}

/* Spawns a child of g; `handle`: the caller keeps its handle (else it is detached). */
static int group_spawn(coio_group *g, int (*fn)(void *), void *arg, const coio_spawn_opts *opts,
                       bool handle, coio_task **out)
{
    coio__loop *L = coio__loop_get();
    if (!g || !fn)
        return -EINVAL;
    if (!L)
        return -EPERM;
    if (g->closing || g->finished)
        return -ESHUTDOWN;
    child_rec *rec = g->free;
    if (rec)
        g->free = rec->next_free;
    else if (!(rec = malloc(sizeof *rec)))
        return -ENOMEM;
    rec->fn = fn;
    rec->arg = arg;
    coio_spawn_opts o = opts ? *opts : (coio_spawn_opts){0};
    if (handle)
        o.flags &= ~COIO_SPAWN_DETACHED;
    else
        o.flags |= COIO_SPAWN_DETACHED;
    coio_task *t = coio_spawn_ex(group_trampoline, rec, &o);
    if (!t) {
        int e = -errno;
        rec->next_free = g->free;
        g->free = rec;
        return e;
    }
    rec->task = t;
    coio__list_push_back(&g->live, &rec->link);
    t->joiner = &g->js;
    if (handle)
        t->flags |= COIO__F_CLAIMED; /* by the group, until the child finishes */
    g->js.pending++;
    if (out)
        *out = t;
    return 0;
}

int coio_group_spawn_ex(coio_group *g, int (*fn)(void *), void *arg, const coio_spawn_opts *opts)
{
    return group_spawn(g, fn, arg, opts, false, NULL);
}

int coio_group_spawn(coio_group *g, int (*fn)(void *), void *arg)
{
    return group_spawn(g, fn, arg, NULL, false, NULL);
}

coio_task *coio_group_spawn_task(coio_group *g, int (*fn)(void *), void *arg,
                                 const coio_spawn_opts *opts)
{
    coio_task *t = NULL;
    int r = opts && (opts->flags & COIO_SPAWN_DETACHED) ? -EINVAL
                                                        : group_spawn(g, fn, arg, opts, true, &t);
    if (r < 0) {
        errno = -r;
        return NULL;
    }
    return t;
}

int coio_group_wait(coio_group *g)
{
    coio__loop *L = coio__loop_get();
    coio_task *cur = L ? L->current : NULL;
    if (!g)
        return -EINVAL;
    if (!cur)
        return -EPERM;
    if (g->finished)
        return g->result;
    if (g->waiter)
        return -EALREADY;
    g->waiter = cur;
    g->js.waiter = cur;
    /* Level-triggered like every suspending call: a cancelled owner cancels the group. */
    int r = coio__check(L, cur);
    if (r < 0)
        group_abort(g);
    while (g->js.pending) {
        int pr = coio__park(L, cur, r < 0 || g->closing ? "group (cancelling)" : "group",
                            &g->js, NULL, COIO__NEVER, r == 0);
        if (pr < 0 && r == 0) {
            r = pr;
            group_abort(g);
        }
    }
    g->js.waiter = NULL;
    g->waiter = NULL;
    g->finished = true;
    g->result = g->first_err ? g->first_err : r;
    return g->result;
}

int coio_group_cancel(coio_group *g)
{
    if (!g)
        return -EINVAL;
    group_abort(g);
    return 0;
}

size_t coio_group_size(const coio_group *g)
{
    return g ? g->js.pending : 0;
}

int coio_group_destroy(coio_group *g)
{
    if (!g)
        return -EINVAL;
    if (g->js.pending)
        return -EBUSY;
    while (g->free) {
        child_rec *rec = g->free;
        g->free = rec->next_free;
        free(rec);
    }
    free(g);
    return 0;
}

/* ------------------------------------------------------------------ claiming handles */

/* Marks tasks[0..n) (NULL skipped) as claimed, or claims nothing and returns the error. */
static int claim_all(coio_task *cur, coio_task **tasks, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        coio_task *t = tasks[i];
        if (!t)
            continue;
        int r = coio__handle_claim_error(cur, t);
        if (r < 0) {
            for (size_t j = 0; j < i; j++)
                if (tasks[j])
                    tasks[j]->flags &= (uint8_t)~COIO__F_CLAIMED;
            return r;
        }
        t->flags |= COIO__F_CLAIMED;
    }
    return 0;
}

/* A negative timeout is no timeout (docs/api.md). */
static int64_t deadline_in(double seconds)
{
    return seconds < 0 ? COIO__NEVER : coio__deadline_after(coio__clock_ns(), seconds);
}

static bool is_failure(int result)
{
    return result < 0 && result != -ECANCELED;
}

/* ------------------------------------------------------------------ coio_wait */

typedef struct wait_set {
    coio__joinset js;
    size_t done, failed;
} wait_set;

static void wait_member_finished(coio__loop *L, coio__joinset *js, coio_task *t)
{
    (void)L;
    wait_set *ws = coio__container_of(js, wait_set, js);
    ws->done++;
    if (is_failure(t->result))
        ws->failed++;
}

static bool wait_satisfied(const wait_set *ws, int return_when)
{
    if (ws->js.pending == 0)
        return true;
    if (return_when == COIO_FIRST_COMPLETED)
        return ws->done > 0;
    if (return_when == COIO_FIRST_ERROR)
        return ws->failed > 0;
    return false;
}

int coio_wait(coio_task **tasks, size_t n, int return_when, double timeout, int *results)
{
    coio__loop *L = coio__loop_get();
    coio_task *cur = L ? L->current : NULL;
    if ((!tasks && n) || isnan(timeout) ||
        (return_when != COIO_ALL_COMPLETED && return_when != COIO_FIRST_COMPLETED &&
         return_when != COIO_FIRST_ERROR))
        return -EINVAL;
    int r = coio__check(L, cur);
    if (r < 0)
        return r;
    r = claim_all(cur, tasks, n);
    if (r < 0)
        return r;
    wait_set ws = {.js = {.waiter = cur,
                          .wake_on_any = return_when != COIO_ALL_COMPLETED,
                          .on_finish = wait_member_finished}};
    for (size_t i = 0; i < n; i++) {
        coio_task *t = tasks[i];
        if (!t)
            continue;
        if (t->state == COIO__DONE) {
            ws.done++;
            ws.failed += is_failure(t->result);
        } else {
            t->joiner = &ws.js;
            ws.js.pending++;
        }
    }
    int64_t deadline = deadline_in(timeout);
    while (!wait_satisfied(&ws, return_when)) {
        if (deadline != COIO__NEVER && coio__clock_ns() >= deadline)
            break;
        r = coio__park(L, cur, "wait", &ws.js, NULL, deadline, true);
        if (r < 0)
            break;
    }
    int released = 0;
    for (size_t i = 0; i < n; i++) {
        coio_task *t = tasks[i];
        if (!t)
            continue;
        t->joiner = NULL;
        if (r < 0 || t->state != COIO__DONE) {
            t->flags &= (uint8_t)~COIO__F_CLAIMED; /* the caller's again */
            continue;
        }
        if (results)
            results[i] = t->result;
        coio__task_free(L, t);
        tasks[i] = NULL;
        released++;
    }
    return r < 0 ? r : released;
}

/* ------------------------------------------------------------------ as_completed */

typedef struct index_entry {
    coio_task *task;
    size_t index;
} index_entry;

struct coio_as_completed {
    coio__joinset js;
    coio_task **tasks;   /* a copy of the caller's array; NULL once returned by next */
    size_t n;
    index_entry *by_ptr; /* sorted by task pointer: finds a finished task's index */
    size_t nlive;        /* entries of `tasks` still owned by the iterator */
    size_t *ring;        /* indexes of finished tasks not yet returned, FIFO */
    size_t head, len;
    int64_t deadline;
};

static int cmp_entry(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const index_entry *)a)->task;
    uintptr_t y = (uintptr_t)((const index_entry *)b)->task;
    return x < y ? -1 : x > y;
}

static void ac_push(coio_as_completed *ac, size_t index)
{
    ac->ring[(ac->head + ac->len++) % ac->nlive] = index;
}

static void ac_member_finished(coio__loop *L, coio__joinset *js, coio_task *t)
{
    (void)L;
    coio_as_completed *ac = coio__container_of(js, coio_as_completed, js);
    index_entry key = {.task = t};
    index_entry *e = bsearch(&key, ac->by_ptr, ac->nlive, sizeof key, cmp_entry);
    if (e)
        ac_push(ac, e->index);
}

coio_as_completed *coio_as_completed_create(coio_task **tasks, size_t n, double timeout)
{
    coio__loop *L = coio__loop_get();
    coio_task *cur = L ? L->current : NULL;
    int err = 0;
    if ((!tasks && n) || isnan(timeout))
        err = EINVAL;
    else if (!cur)
        err = EPERM;
    coio_as_completed *ac = NULL;
    if (!err) {
        ac = calloc(1, sizeof *ac);
        size_t live = 0;
        for (size_t i = 0; i < n; i++)
            live += tasks[i] != NULL;
        if (ac) {
            /* A copy: the caller may reuse its array (a stack array, say) at once. */
            ac->tasks = malloc((n ? n : 1) * sizeof *ac->tasks);
            ac->by_ptr = malloc((live ? live : 1) * sizeof *ac->by_ptr);
            ac->ring = malloc((live ? live : 1) * sizeof *ac->ring);
        }
        if (!ac || !ac->tasks || !ac->by_ptr || !ac->ring)
            err = ENOMEM;
        else if ((err = -claim_all(cur, tasks, n)) == 0) {
            if (n)
                memcpy(ac->tasks, tasks, n * sizeof *tasks);
            ac->n = n;
            ac->nlive = live;
            ac->deadline = deadline_in(timeout);
            ac->js.waiter = cur;
            ac->js.wake_on_any = true;
            ac->js.on_finish = ac_member_finished;
            size_t k = 0;
            for (size_t i = 0; i < n; i++)
                if (tasks[i])
                    ac->by_ptr[k++] = (index_entry){.task = tasks[i], .index = i};
            qsort(ac->by_ptr, live, sizeof *ac->by_ptr, cmp_entry);
            for (size_t i = 0; i < n; i++) {
                coio_task *t = tasks[i];
                if (!t)
                    continue;
                if (t->state == COIO__DONE) {
                    ac_push(ac, i);
                } else {
                    t->joiner = &ac->js;
                    ac->js.pending++;
                }
            }
        }
    }
    if (err) {
        if (ac) {
            free(ac->tasks);
            free(ac->by_ptr);
            free(ac->ring);
            free(ac);
        }
        errno = err;
        return NULL;
    }
    return ac;
}

int coio_as_completed_next(coio_as_completed *ac, int *result)
{
    coio__loop *L = coio__loop_get();
    coio_task *cur = L ? L->current : NULL;
    if (!ac)
        return -EINVAL;
    int r = coio__check(L, cur);
    if (r < 0)
        return r;
    if (!ac->len && !ac->js.pending)
        return -ENOENT;
    while (!ac->len) {
        if (ac->deadline != COIO__NEVER && coio__clock_ns() >= ac->deadline)
            return -ETIMEDOUT;
        ac->js.waiter = cur;
        r = coio__park(L, cur, "as_completed", &ac->js, NULL, ac->deadline, true);
        if (r < 0)
            return r;
    }
    size_t i = ac->ring[ac->head];
    ac->head = (ac->head + 1) % ac->nlive;
    ac->len--;
    coio_task *t = ac->tasks[i];
    t->joiner = NULL;
    if (result)
        *result = t->result;
    coio__task_free(L, t);
    ac->tasks[i] = NULL;
    return (int)i;
}

int coio_as_completed_destroy(coio_as_completed *ac)
{
    if (!ac)
        return -EINVAL;
    for (size_t k = 0; k < ac->nlive; k++) {
        size_t i = ac->by_ptr[k].index;
        coio_task *t = ac->tasks[i];
        if (!t)
            continue; /* released by next */
        t->joiner = NULL;
        t->flags &= (uint8_t)~COIO__F_CLAIMED;
    }
    free(ac->tasks);
    free(ac->by_ptr);
    free(ac->ring);
    free(ac);
    return 0;
}
