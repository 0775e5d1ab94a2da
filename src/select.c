/*
 * coio_select: wait for whichever of several things is ready first and take only that one
 * (Go's select; asyncio.wait(FIRST_COMPLETED) across kinds of objects).
 *
 * A select first looks at its cases in array order and takes the first one that is ready.
 * If none is, it enrolls a waiter record per case and parks once:
 *  - queues and events: a coio__waiter in the object's list, woken with the case's index
 *    + 1. An object serves a record only while its task still waits, and serving (a
 *    queue's hand-off of an item) and waking are one step, so the first object to serve
 *    wins and every other one skips the record: nothing else is taken;
 *  - futures: a coio__fwaiter, woken the same way (from another thread, via the loop);
 *  - tasks: the select's joinset is their joiner; its on_finish hook notes the first one
 *    to finish while the select still waits;
 *  - fds: a helper task per fd waits with coio_wait_fd and reports through the same
 *    joinset. (A task can wait on one I/O operation only: the backend wakes the task
 *    parked on that operation.) Readiness is not taken by anyone, so a helper that loses
 *    just ends.
 * However the wait ends, every record is withdrawn before the select parks again (to let
 * cancelled helpers end), so nothing can be handed to it after the winner.
 */
#include "internal.h"

#include <math.h>
#include <stdlib.h>

#define LOCAL_CASES 8 /* records on the stack; more are allocated */

typedef union sel_rec {
    coio__waiter w;   /* GET, PUT, EVENT */
    coio__fwaiter fw; /* FUTURE */
    struct {
        coio_task *helper; /* while it runs */
        int result;        /* what its coio_wait_fd returned */
    } fd;
} sel_rec;

typedef struct selector {
    coio__joinset js; /* TASK cases and FD helpers report here */
    coio_task *task;  /* the selecting task */
    coio_select_case *cases;
    sel_rec *recs;
    size_t n;
    size_t helpers; /* FD helpers still running */
    long fired;     /* the case a task or helper won, -1 until one does */
    bool closed;    /* the wait is over: nothing can win any more */
} selector;

static bool kind_valid(int kind)
{
    return kind >= COIO_SELECT_NONE && kind <= COIO_SELECT_FD;
}

static int check_case(const coio_select_case *c)
{
    if (!kind_valid(c->kind))
        return -EINVAL;
    switch (c->kind) {
    case COIO_SELECT_NONE:
        return 0;
    case COIO_SELECT_FD:
        if (c->fd < 0)
            return -EBADF;
        if (!c->events || (c->events & ~(COIO_READABLE | COIO_WRITABLE)))
            return -EINVAL;
        return 0;
    default:
        return c->obj ? 0 : -EINVAL;
    }
}

/* Gives back the claims on the TASK cases' handles in cases[0..n). */
static void unclaim(coio_select_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cases[i].kind == COIO_SELECT_TASK)
            cases[i].task->flags &= (uint8_t)~COIO__F_CLAIMED;
}

static int claim_tasks(coio_task *cur, coio_select_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (cases[i].kind != COIO_SELECT_TASK)
            continue;
        int r = coio__handle_claim_error(cur, cases[i].task);
        if (r < 0) {
            unclaim(cases, i);
            return r;
        }
        cases[i].task->flags |= COIO__F_CLAIMED;
    }
    return 0;
}

/* Takes case c if it is ready now: true, with its outcome in c->result. */
static bool take_ready(coio_select_case *c)
{
    int r;
    switch (c->kind) {
    case COIO_SELECT_GET:
        r = coio_queue_get_nowait(c->queue, c->out);
        break;
    case COIO_SELECT_PUT:
        r = coio_queue_put_nowait(c->queue, c->item);
        break;
    case COIO_SELECT_EVENT:
        if (!coio_event_is_set(c->event))
            return false;
        r = 0;
        break;
    case COIO_SELECT_FUTURE: /* done first: a future's error may be -EAGAIN itself */
        if (!coio_future_done(c->future))
            return false;
        r = coio_future_result(c->future, c->out);
        break;
    case COIO_SELECT_TASK:
        if (c->task->state != COIO__DONE)
            return false;
        r = c->task->result;
        break;
    case COIO_SELECT_FD: {
        coio__op op = {.code = COIO__OP_POLL, .fd = c->fd, .flags = c->events};
        r = (int)coio__op_syscall(&op);
        break;
    }
    default:
        return false;
    }
    if (r == -EAGAIN && (c->kind == COIO_SELECT_GET || c->kind == COIO_SELECT_PUT ||
                         c->kind == COIO_SELECT_FD))
        return false; /* empty, full, not ready */
    c->result = r;
    return true;
}

/* Joinset hook: a TASK case's task or an FD helper has finished. */
static void member_finished(coio__loop *L, coio__joinset *js, coio_task *t)
{
    (void)L;
    selector *s = coio__container_of(js, selector, js);
    size_t i;
    for (i = 0; i < s->n; i++) {
        coio_select_case *c = &s->cases[i];
        if (c->kind == COIO_SELECT_TASK && c->task == t)
            break;
        if (c->kind == COIO_SELECT_FD && s->recs[i].fd.helper == t) {
            s->recs[i].fd.helper = NULL;
            s->recs[i].fd.result = t->result;
            s->helpers--;
            if (t->result == -ECANCELED)
                return; /* stopped by the select itself */
            break;
        }
    }
    if (i < s->n && !s->closed && s->fired < 0 && s->task->state == COIO__WAITING)
        s->fired = (long)i; /* the joinset's wake-up follows */
}

static int fd_helper(void *arg)
{
    const coio_select_case *c = arg;
    return coio_wait_fd(c->fd, c->events);
}

/* Enrolls a waiter for every case, in order. Stops at a future found complete (*winner)
 * or an error. Returns 0 or the error; *enrolled counts the cases to withdraw. */
static int enroll_all(coio__loop *L, selector *s, size_t *enrolled, long *winner)
{
    for (size_t i = 0; i < s->n; i++) {
        coio_select_case *c = &s->cases[i];
        sel_rec *rec = &s->recs[i];
        int wake = (int)i + 1;
        switch (c->kind) {
        case COIO_SELECT_GET:
        case COIO_SELECT_PUT:
            rec->w = (coio__waiter){.task = s->task, .item = c->item, .wake = wake};
            coio__queue_enroll(c->queue, c->kind == COIO_SELECT_PUT, &rec->w);
            break;
        case COIO_SELECT_EVENT:
            rec->w = (coio__waiter){.task = s->task, .wake = wake};
            coio__event_enroll(c->event, &rec->w);
            break;
        case COIO_SELECT_FUTURE: {
            int r = coio__future_enroll(c->future, &rec->fw, L, s->task, wake);
            if (r != 0) {
                if (r > 0) /* completed since we looked (by another thread) */
                    *winner = (long)i;
                return r < 0 ? r : 0;
            }
            break;
        }
        case COIO_SELECT_TASK:
            c->task->joiner = &s->js;
            s->js.pending++;
            break;
        case COIO_SELECT_FD: {
            coio_task *h = coio_spawn_ex(fd_helper, c, &(coio_spawn_opts){.flags = COIO_SPAWN_DETACHED});
            rec->fd.helper = NULL;
            if (!h)
                return -errno;
            coio__task_set_static_name(h, "select fd");
            h->joiner = &s->js;
            s->js.pending++;
            rec->fd.helper = h;
            s->helpers++;
            break;
        }
        default:
            break;
        }
        *enrolled = i + 1;
    }
    return 0;
}

/* Withdraws every record enrolled, then waits for the FD helpers to end. */
static void withdraw_all(coio__loop *L, selector *s, size_t enrolled)
{
    s->closed = true;
    for (size_t i = 0; i < enrolled; i++) {
        coio_select_case *c = &s->cases[i];
        sel_rec *rec = &s->recs[i];
        switch (c->kind) {
        case COIO_SELECT_GET:
        case COIO_SELECT_PUT:
        case COIO_SELECT_EVENT:
            coio__list_unlink(&rec->w.link);
            break;
        case COIO_SELECT_FUTURE:
            coio__future_leave(&rec->fw);
            break;
        case COIO_SELECT_TASK:
            c->task->joiner = NULL;
            break;
        case COIO_SELECT_FD:
            if (rec->fd.helper)
                coio_cancel(rec->fd.helper);
            break;
        default:
            break;
        }
    }
    while (s->helpers)
        coio__park(L, s->task, "select (ending)", &s->js, NULL, COIO__NEVER, false);
}

/* The outcome of case i, which won while the select waited. */
static int collect(selector *s, size_t i)
{
    coio_select_case *c = &s->cases[i];
    sel_rec *rec = &s->recs[i];
    switch (c->kind) {
    case COIO_SELECT_GET:
        if (rec->w.result == 0 && c->out)
            *c->out = rec->w.item;
        return rec->w.result;
    case COIO_SELECT_PUT:
        return rec->w.result;
    case COIO_SELECT_FUTURE:
        return coio_future_result(c->future, c->out);
    case COIO_SELECT_TASK:
        return c->task->result;
    case COIO_SELECT_FD:
        return rec->fd.result;
    default:
        return 0;
    }
}

static int64_t deadline_in(double seconds)
{
    if (seconds < 0 || seconds > 9e9)
        return COIO__NEVER;
    return coio__clock_ns() + (int64_t)(seconds * 1e9);
}

/* Waits for the first case to fire. Returns its index, or an error; claims are held. */
static long wait_first(coio__loop *L, coio_task *cur, coio_select_case *cases, size_t n,
                       int64_t deadline)
{
    bool futures = false;
    for (size_t i = 0; i < n; i++)
        futures |= cases[i].kind == COIO_SELECT_FUTURE;
    sel_rec local[LOCAL_CASES];
    sel_rec *recs = n <= LOCAL_CASES ? local : malloc(n * sizeof *recs);
    if (!recs)
        return -ENOMEM;
    selector s = {.js = {.waiter = cur, .wake_on_any = true, .on_finish = member_finished},
                  .task = cur, .cases = cases, .recs = recs, .n = n, .fired = -1};
    size_t enrolled = 0;
    long winner = -1;
    int r = enroll_all(L, &s, &enrolled, &winner);
    if (r == 0 && winner < 0) {
        if (futures)
            L->keepalive++; /* another thread may complete one: no deadlock */
        r = coio__park(L, cur, "select", &s.js, NULL, deadline, true);
        if (futures)
            L->keepalive--;
        if (r > 0)
            winner = r - 1;
        else if (r == 0)
            winner = s.fired; /* a task or fd, or else our own timeout */
        r = r > 0 ? 0 : r;
    }
    withdraw_all(L, &s, enrolled);
    if (winner >= 0)
        cases[winner].result = collect(&s, (size_t)winner);
    else if (r == 0)
        r = -ETIMEDOUT;
    if (recs != local)
        free(recs);
    return winner >= 0 ? winner : r;
}

int coio_select(coio_select_case *cases, size_t n, double timeout)
{
    coio__loop *L = coio__loop_get();
    coio_task *cur = L ? L->current : NULL;
    if ((!cases && n) || n >= INT_MAX || isnan(timeout))
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        int r = check_case(&cases[i]);
        if (r < 0)
            return r;
    }
    int r = coio__check(L, cur);
    if (r < 0)
        return r;
    r = coio__budget_spend(L, cur); /* a select that always finds a case ready yields */
    if (r < 0)
        return r;
    int64_t deadline = deadline_in(timeout);
    r = claim_tasks(cur, cases, n);
    if (r < 0)
        return r;
    long winner = -1;
    for (size_t i = 0; i < n && winner < 0; i++)
        if (take_ready(&cases[i]))
            winner = (long)i;
    if (winner < 0 && deadline != COIO__NEVER && coio__clock_ns() >= deadline)
        winner = -ETIMEDOUT; /* timeout 0: just look, as Go's default case */
    if (winner == -1)
        winner = wait_first(L, cur, cases, n, deadline);
    unclaim(cases, n);
    if (winner >= 0 && cases[winner].kind == COIO_SELECT_TASK) {
        /* The winner's handle is released, and its case switched off. */
        coio__task_free(L, cases[winner].task);
        cases[winner].task = NULL;
        cases[winner].kind = COIO_SELECT_NONE;
    }
    return (int)winner;
}
