/*
 * The event loop and scheduler.
 *
 * coio_run() turns the calling thread's stack into the loop's context and repeats, until
 * main's task and then every other task have finished:
 *
 *   1. dispatch: ready tasks run in FIFO order. A task that suspends hands the CPU
 *      straight to the next ready task (one switch, not two through the loop) until the
 *      turn's budget is spent or nothing is ready;
 *   2. I/O: the backend is polled — without blocking when tasks are ready, and not at all
 *      when no operation is pending, so pure task switching makes no system call;
 *   3. timers: every due timer fires, in (deadline, arming) order;
 *   4. callbacks: the work queued on L->soon so far runs (call_soon and due call_later
 *      records). What it queues runs after one step of each ready task.
 *
 * On a virtual clock, phase 2 does not wait for the next timer: the clock jumps to it,
 * unless something real (I/O, other threads) is pending (vclock_idle).
 *
 * Messages from other threads (finished thread-pool jobs, call_soon_threadsafe) run
 * inside phase 2, when the backend sees the loop's wake-up (coio__loop_drain_ext).
 * The loop names none of the rooms above it: they register in src/registry.c, and it
 * runs their hooks at its start, when every task has finished, and at its end.
 *
 * When every task waits and nothing can wake one, the waiting tasks are cancelled, so
 * that their cleanup runs, and coio_run returns -EDEADLK once they are done.
 *
 * The budget is the number of tasks ready when the turn starts, but at least
 * COIO__MIN_TURN, so that two tasks yielding to each other don't poll after every switch
 * (reading the clock and epoll_wait cost 10 to 300 times a switch). A yielding task still
 * goes to the back of the queue: every ready task runs once before it runs again.
 * When a turn ends and the loop would have nothing to do but start the next one (no I/O
 * pending, no timers, callbacks or other threads), coio_yield starts it itself.
 */
#include "internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#ifdef COIO__ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef COIO__TSAN
#include <sanitizer/tsan_interface.h>
#endif

#define COIO__MIN_TURN 64

__thread coio__loop *coio__tls_loop __attribute__((tls_model("initial-exec")));

/* ------------------------------------------------------------------ switching */

/* Switches from the running context `from` (task ft, or the loop when NULL) to `to`
 * (task tt, or the loop). L->current must already name tt. dying: `from` is never
 * resumed, so AddressSanitizer may drop its fake stack. */
static inline void switch_ctx(coio__loop *L, coio__ctx *from, coio_task *ft, coio__ctx *to,
                              coio_task *tt, bool dying)
{
#ifdef COIO__ASAN
    void **save = dying ? NULL : ft ? &ft->asan_fake : &L->main_fake_stack;
    if (tt)
        __sanitizer_start_switch_fiber(save, tt->stack_lo, tt->stack_size);
    else
        __sanitizer_start_switch_fiber(save, L->main_stack_bottom, L->main_stack_size);
#endif
#ifdef COIO__TSAN
    __tsan_switch_to_fiber(tt ? tt->tsan_fiber : L->main_tsan_fiber, 0);
#endif
    (void)L;
    (void)ft;
    (void)tt;
    (void)dying;
    coio__ctx_switch(from, to);
#ifdef COIO__ASAN
    /* Resumed: the switcher set `current` to us. */
    coio__loop *L2 = coio__tls_loop;
    coio_task *me = L2->current;
    __sanitizer_finish_switch_fiber(me ? me->asan_fake : L2->main_fake_stack, NULL, NULL);
#endif
}

/* ------------------------------------------------------------------ the ready queue */

int coio__readyq_reserve(coio__readyq *q, size_t live)
{
    size_t cap = q->ring ? q->mask + 1 : 0;
    if (live <= cap)
        return 0;
    size_t nc = cap ? cap * 2 : 256;
    size_t head = q->head & q->mask;
    if (head + q->n <= cap) {
        /* Not wrapped: realloc keeps every slot where it is (and, for large rings, moves
         * pages with mremap instead of copying and faulting in new ones). */
        coio_task **r = realloc(q->ring, nc * sizeof *r);
        if (!r)
            return -ENOMEM;
        q->ring = r;
        q->head = head;
        q->mask = nc - 1;
        return 0;
    }
    coio_task **r = malloc(nc * sizeof *r);
    if (!r)
        return -ENOMEM;
    for (size_t i = 0; i < q->n; i++)
        r[i] = q->ring[(q->head + i) & q->mask];
    free(q->ring);
    q->ring = r;
    q->mask = nc - 1;
    q->head = 0;
    return 0;
}

void coio__readyq_free(coio__readyq *q)
{
    free(q->ring);
    *q = (coio__readyq){0};
}

/* Budget of a turn that starts with n tasks ready: one step of each, but at least
 * COIO__MIN_TURN. */
static inline unsigned turn_budget(size_t n)
{
    return n > COIO__MIN_TURN ? (unsigned)n : COIO__MIN_TURN;
}

/* Spends one dispatch of the turn on t, just taken from the queue. A task that never
 * ran gets its stack here, or finishes at once if cancelled or out of memory: false. */
static inline __attribute__((always_inline)) bool dispatch(coio__loop *L, coio_task *t)
{
    L->budget--;
    if (__builtin_expect(t->state == COIO__NEW, 0) && coio__task_prepare(L, t) < 0)
        return false;
    t->state = COIO__RUNNING;
    return true;
}

/* Next task to run, or NULL when the budget is spent or nothing is ready. */
static inline __attribute__((always_inline)) coio_task *pick_next(coio__loop *L)
{
    while (__builtin_expect(L->budget && L->ready.n, 1)) {
        coio_task *t = coio__readyq_pop(&L->ready);
        if (dispatch(L, t))
            return t;
    }
    return NULL;
}

/* pick_next for a running task that goes to the back of the queue first (a yield). While
 * the turn lasts and another task is ready, the ring turns by one slot instead: the
 * same order as a push and a pop, without touching the count. */
static inline __attribute__((always_inline)) coio_task *requeue_pick_next(coio__loop *L,
                                                                         coio_task *self)
{
    self->state = COIO__READY;
    if (__builtin_expect(L->budget && L->ready.n, 1)) {
        coio_task *t = coio__readyq_rotate(&L->ready, self);
        if (__builtin_expect(dispatch(L, t), 1))
            return t;
    } else {
        coio__readyq_push(&L->ready, self);
    }
    return pick_next(L);
}

static void debug_step_end(coio__loop *L, coio_task *t)
{
    int64_t now = coio__real_ns();
    if (L->step_start && now - L->step_start > 100000000)
        coio__debug_warn(L, "task %u \"%s\" ran %.0f ms without suspending", t->id,
                         t->name ? t->name : "", (double)(now - L->step_start) / 1e6);
}

/* True when the loop has work of its own between two turns: I/O or other threads to
 * look at, timers, callbacks, or the cleanup after main. Otherwise a new turn only
 * resets the budget. */
static bool turn_needs_loop(const coio__loop *L)
{
    return L->io_pending || L->ext_pending || L->keepalive || L->timers.live || L->nsoon ||
           (L->main->state == COIO__DONE && !L->stopping);
}

/* The heart of every suspension: hand the CPU to the next ready task, or to the loop.
 * requeue: self yields (goes to the back of the queue) rather than parks. Inlined into
 * coio_yield, so the hot path saves the callee-saved registers once. */
static inline __attribute__((always_inline)) void schedule(coio__loop *L, coio_task *self,
                                                           bool requeue)
{
    self->io_streak = 0;
    if (__builtin_expect(L->debug, 0))
        debug_step_end(L, self);
    coio_task *next = requeue ? requeue_pick_next(L, self) : pick_next(L);
    if (COIO__TRACING(L))
        coio__trace_switch(L, self, next);
    if (__builtin_expect(next != self, 1)) {
        L->current = next; /* NULL: the loop */
        switch_ctx(L, &self->ctx, self, next ? &next->ctx : &L->ctx, next, false);
    } else {
        L->current = self; /* it yielded and nothing else was ready */
    }
    if (__builtin_expect(L->debug, 0))
        L->step_start = coio__real_ns();
}

void coio__schedule(coio__loop *L, coio_task *self)
{
    schedule(L, self, false);
}

_Noreturn void coio__schedule_exit(coio__loop *L, coio_task *self)
{
    if (L->debug)
        debug_step_end(L, self);
    if (COIO__TRACING(L))
        coio__trace_switch(L, self, NULL);
    /* Always through the loop: it releases what can't be released from this stack. */
    L->current = NULL;
#if defined(COIO_CONTEXT_UCONTEXT)
    L->dead_ctx.uc = &L->uc_dead;
#endif
    switch_ctx(L, &L->dead_ctx, self, &L->ctx, NULL, true);
    abort(); /* not reached */
}

/* ------------------------------------------------------------------ parking */

bool coio__cancel_visible(const coio_task *t)
{
    return (t->flags & COIO__F_CANCELLED) && !(t->scope && (t->scope->flags & COIO__S_SHIELDED));
}

int64_t coio__scope_deadline(coio_task *t)
{
    return t->scope ? t->scope->eff_deadline : COIO__NEVER;
}

int coio__check(coio__loop *L, coio_task *t)
{
    if (!L || !t)
        return -EPERM;
    if (__builtin_expect(L->debug, 0) && t->scope)
        coio__scope_debug_check(L, t, __builtin_frame_address(0));
    if (coio__cancel_visible(t))
        return -ECANCELED;
    if (t->scope && t->scope->eff_deadline != COIO__NEVER) {
        int64_t now = coio__loop_clock_ns(L);
        if (now >= t->scope->eff_deadline)
            return coio__scope_fire(t, now);
    }
    return 0;
}

static void task_timer_fire(coio__loop *L, coio__timer *tm)
{
    coio_task *t = coio__container_of(tm, coio_task, timer);
    if (t->state != COIO__WAITING)
        return;
    if (COIO__TRACING(L))
        coio__trace_timer(L, t, t->timer_is_scope);
    if (t->timer_is_scope) /* a scope's deadline interrupts whatever t waits on */
        (void)coio__interrupt(L, t, coio__scope_fire(t, coio__loop_clock_ns(L)));
    else /* the wait's own deadline (sleep) */
        coio__wake(L, t, 0);
}

int coio__park(coio__loop *L, coio_task *t, const char *what, void *obj,
               void (*unwait)(coio_task *), int64_t deadline, bool interruptible)
{
    int64_t when = deadline;
    bool is_scope = false;
    if (interruptible) {
        int r = coio__check(L, t);
        if (r < 0)
            return r;
        int64_t sd = coio__scope_deadline(t);
        if (sd < when) {
            when = sd;
            is_scope = true;
        }
    }
    if (when != COIO__NEVER) {
        t->timer.fire = task_timer_fire;
        if (coio__timer_arm(L, &t->timer, when) < 0)
            return -ENOMEM;
        t->timer_is_scope = is_scope;
    }
    t->wait_what = what;
    t->wait_obj = obj;
    t->unwait = unwait;
    t->wait_interruptible = interruptible;
    /* The dump's "waited" only under COIO_DEBUG: otherwise every lock or queue handoff
     * would pay a clock read. */
    t->wait_since = __builtin_expect(L->debug, 0) ? coio__loop_clock_ns(L) : 0;
    t->wake_result = 0;
    t->state = COIO__WAITING;
    coio__schedule(L, t);
    coio__timer_disarm(L, &t->timer);
    t->wait_what = NULL;
    t->wait_obj = NULL;
    t->unwait = NULL;
    return t->wake_result;
}

void coio__wake(coio__loop *L, coio_task *t, int r)
{
    if (t->state != COIO__WAITING)
        return;
    if (COIO__TRACING(L))
        coio__trace_wake(L, t, r);
    t->wake_result = r;
    t->state = COIO__READY;
    coio__readyq_push(&L->ready, t);
}

bool coio__interrupt(coio__loop *L, coio_task *t, int r)
{
    if (t->state != COIO__WAITING || !t->wait_interruptible)
        return false;
    if (t->unwait)
        t->unwait(t);
    coio__wake(L, t, r);
    return true;
}

/* ------------------------------------------------------------------ subsystems */

/* Runs the init hooks in order; on a failure, tears down those already initialised. */
static int subsystems_init(coio__loop *L)
{
    for (size_t i = 0; i < COIO__SUB_COUNT; i++) {
        const coio__subsystem *sub = coio__subsystems[i];
        int r = sub->init ? sub->init(L) : 0;
        if (r < 0) {
            while (i-- > 0)
                if (coio__subsystems[i]->teardown)
                    coio__subsystems[i]->teardown(L);
            return r;
        }
    }
    return 0;
}

static size_t subsystems_all_done(coio__loop *L)
{
    size_t dropped = 0;
    for (size_t i = 0; i < COIO__SUB_COUNT; i++)
        if (coio__subsystems[i]->all_done)
            dropped += coio__subsystems[i]->all_done(L);
    return dropped;
}

static void subsystems_teardown(coio__loop *L)
{
    for (size_t i = COIO__SUB_COUNT; i-- > 0;)
        if (coio__subsystems[i]->teardown)
            coio__subsystems[i]->teardown(L);
}

/* ------------------------------------------------------------------ messages */

/* The callback phase: runs the work queued on L->soon when the phase began; what that
 * queues runs in the next turn, after one step of each ready task. Work runs on the
 * loop's stack and must not suspend. */
static void run_soon(coio__loop *L)
{
    size_t n = L->nsoon;
    while (n--) {
        coio__list *node = coio__list_pop_front(&L->soon);
        if (!node) /* the work that ran cancelled the rest */
            break;
        L->nsoon--;
        coio__remote *r = coio__container_of(node, coio__remote, link);
        r->run(L, r);
    }
}

void coio__loop_drain_ext(coio__loop *L)
{
    coio__list done;
    coio__list_init(&done);
    pthread_mutex_lock(&L->ext_lock);
    if (!coio__list_is_empty(&L->ext_done)) {
        done.next = L->ext_done.next;
        done.prev = L->ext_done.prev;
        done.next->prev = &done;
        done.prev->next = &done;
        coio__list_init(&L->ext_done);
    }
    pthread_mutex_unlock(&L->ext_lock);
    coio__list *n;
    while ((n = coio__list_pop_front(&done)) != NULL) {
        coio__remote *r = coio__container_of(n, coio__remote, link);
        r->run(L, r);
    }
    for (size_t i = 0; i < COIO__SUB_COUNT; i++)
        if (coio__subsystems[i]->woken)
            coio__subsystems[i]->woken(L);
}

/* ------------------------------------------------------------------ the loop */

/* COIO_BACKEND names the backend; unset, the first of coio__backends that probes usable
 * (io_uring where the kernel allows it: one system call per batch of operations; else
 * epoll; docs/backends.md has the measurements). */
static const coio__backend *choose_backend(int *err)
{
    const char *want = getenv("COIO_BACKEND");
    bool named = want && *want;
    *err = 0;
    for (const coio__backend *const *b = coio__backends; *b; b++) {
        if (named && strcmp(want, (*b)->name) != 0)
            continue;
        int r = (*b)->probe ? (*b)->probe() : 0;
        if (r == 0)
            return *b;
        if (named) {
            *err = r;
            return NULL;
        }
    }
    /* A known backend this build lacks (built without liburing), or an unknown name. */
    *err = named && strcmp(want, "io_uring") == 0 ? -ENOSYS : -EINVAL;
    return NULL;
}

/* Releases what a task that just finished could not release from its own stack. */
static void reap(coio__loop *L, coio_task *t)
{
    if (!t)
        return;
#ifdef COIO__TSAN
    __tsan_destroy_fiber(t->tsan_fiber);
    t->tsan_fiber = NULL;
#endif
    coio__stack_put(&L->stacks, &(coio__stack){t->stack_lo, t->stack_size});
    t->stack_lo = NULL;
    if (t->flags & COIO__F_DETACHED)
        coio__task_free(L, t);
}

static void cancel_leftover(coio__loop *L, coio_task *t)
{
    if (t->state == COIO__DONE)
        return;
    if (L->debug)
        coio__debug_warn(L, "task %u \"%s\" still alive when coio_run ended: cancelled", t->id,
                         t->name ? t->name : "");
    coio_cancel(t);
}

static void begin_stopping(coio__loop *L)
{
    L->stopping = true;
    coio__tasks_each(L, cancel_leftover);
}

static void cancel_waiting(coio__loop *L, coio_task *t)
{
    (void)L;
    if (t->state == COIO__WAITING)
        coio_cancel(t);
}

/* Every task waits and nothing can wake one: cancel them all, so that their waits return
 * -ECANCELED and their cleanup runs, as for the tasks left when main returns. Returns
 * false when that woke none (every wait left ignores cancellation). */
static bool break_deadlock(coio__loop *L)
{
    if (L->debug) {
        coio__debug_warn(L, "deadlock: every task is waiting and nothing can wake one; "
                            "cancelling them");
        for (size_t i = 0; i < COIO__SUB_COUNT; i++)
            if (coio__subsystems[i]->deadlock)
                coio__subsystems[i]->deadlock(L);
    }
    coio__tasks_each(L, cancel_waiting);
    if (!L->ready.n && L->debug)
        coio__debug_warn(L, "deadlock: %zu tasks ignore cancellation; their cleanup never runs",
                         L->nalive);
    return L->ready.n != 0;
}

/* Budget of the turn that starts now: one step of every ready task, but at least
 * COIO__MIN_TURN. When the callbacks that just ran queued more (callbacks, or timers
 * already due), those wait for one step of each ready task only, as in asyncio's next
 * iteration, not for a whole turn. */
static unsigned next_budget(coio__loop *L, bool ran_callbacks)
{
    size_t n = L->ready.n;
    bool more = L->nsoon ||
                (ran_callbacks && L->timers.live && coio__timers_next(L) <= coio__loop_clock_ns(L));
    return more ? (unsigned)n : turn_budget(n);
}

/* A virtual clock when every task waits and the next timer is due in the future: with
 * nothing real pending (I/O, pool jobs, other threads, signals) the clock jumps to the
 * timer at once. Otherwise the loop waits for real, for at most what is left of the
 * autojump threshold since the loop became idle; vclock_after_wait jumps once it has
 * passed with still nothing to run. Returns the real time to wait (0: jumped). */
static int64_t vclock_idle(coio__loop *L, int64_t due, int64_t *now)
{
    if (!L->io_pending && !L->ext_pending && !L->keepalive) {
        L->vnow = *now = due;
        L->vidle_since = 0;
        return 0;
    }
    int64_t real = coio__real_ns();
    if (!L->vidle_since)
        L->vidle_since = real;
    if (L->vjump_ns == COIO__NEVER)
        return COIO__NEVER;
    int64_t left = L->vidle_since + L->vjump_ns - real;
    return left > 0 ? left : 0;
}

static void vclock_after_wait(coio__loop *L)
{
    if (L->ready.n || L->nsoon) { /* something real happened: no longer idle */
        L->vidle_since = 0;
        return;
    }
    if (L->vjump_ns == COIO__NEVER || coio__real_ns() - L->vidle_since < L->vjump_ns)
        return;
    int64_t due = coio__timers_next(L);
    if (due != COIO__NEVER && due > L->vnow)
        L->vnow = due;
    L->vidle_since = 0;
}

/* Runs the loop until every task is done. Returns 0, the backend's error, or -EDEADLK;
 * *main_deadlocked tells whether main was among the deadlocked tasks. */
static int run_loop(coio__loop *L, bool *main_deadlocked)
{
    for (;;) {
        coio_task *next = pick_next(L);
        if (next) {
            if (COIO__TRACING(L))
                coio__trace_switch(L, NULL, next);
            L->current = next;
            switch_ctx(L, &L->ctx, NULL, &next->ctx, next, false);
            if (L->dead) {
                /* main's end starts the cleanup before anything else runs: a task
                 * spawned but not started by then never runs (like asyncio.run). */
                if (L->dead == L->main && !L->stopping)
                    begin_stopping(L);
                reap(L, L->dead);
                L->dead = NULL;
            }
            continue;
        }
        if (L->main->state == COIO__DONE) {
            if (!L->stopping)
                begin_stopping(L);
            if (L->nalive == 0 && !L->ready.n && !L->io_pending && !L->ext_pending) {
                /* Every task is done: callbacks still pending (call_later) are dropped,
                 * as asyncio's loop.close() does, rather than keeping run alive. */
                size_t dropped = subsystems_all_done(L);
                if (dropped && L->debug)
                    coio__debug_warn(L, "%zu callbacks still pending when every task had "
                                        "finished: dropped", dropped);
                if (!L->nsoon && !L->timers.live)
                    return *main_deadlocked ? -EDEADLK : 0;
            }
        }
        /* Maintenance: I/O, then timers. */
        int64_t timeout = 0, now = 0;
        if (!L->ready.n && !L->nsoon) {
            int64_t due = coio__timers_next(L);
            if (due == COIO__NEVER) {
                timeout = COIO__NEVER;
                if (!L->io_pending && !L->ext_pending && !L->keepalive) {
                    if (L->main->state != COIO__DONE)
                        *main_deadlocked = true;
                    if (!break_deadlock(L))
                        return -EDEADLK;
                    L->budget = next_budget(L, false);
                    continue;
                }
            } else {
                now = coio__loop_clock_ns(L);
                timeout = due > now ? due - now : 0;
                if (__builtin_expect(L->vclock, 0) && timeout)
                    timeout = vclock_idle(L, due, &now);
            }
        }
        /* keepalive: another thread may post to this loop; look at least once a turn. */
        if (L->before_poll)
            L->before_poll(L, &timeout);
        if (L->io_pending || L->ext_pending || L->keepalive || timeout) {
            int r = L->backend->poll(L, timeout);
            if (r < 0 && r != -EINTR)
                return r;
            now = 0;
            if (__builtin_expect(L->vidle_since != 0, 0))
                vclock_after_wait(L);
        }
        if (L->timers.live) {
            if (!now)
                now = coio__loop_clock_ns(L);
            coio__timers_run(L, now);
        }
        bool ran_callbacks = L->nsoon != 0;
        if (ran_callbacks)
            run_soon(L);
        L->budget = next_budget(L, ran_callbacks);
    }
}

/* ------------------------------------------------------------------ loop start and end */

static void clock_start(coio__loop *L);

static void free_leftover(coio__loop *L, coio_task *t)
{
    if (L->debug && t != L->main && !(t->flags & (COIO__F_CLAIMED | COIO__F_DETACHED)))
        coio__debug_warn(L, "task %u \"%s\" was neither awaited nor detached", t->id,
                         t->name ? t->name : "");
    if (t->stack_lo) /* a task the loop could not finish (deadlock) */
        coio__stack_put(&L->stacks, &(coio__stack){t->stack_lo, t->stack_size});
    coio__task_locals_drop(t); /* likewise: finishing would have dropped them */
    coio__task_free(L, t);
}

/* A task dropped while waiting leaves the object it waits on (an event, lock or queue
 * of the caller's outlives the loop and must not keep a record on a dropped stack). All
 * are withdrawn before any stack is released: one task may wait on another's object. */
static void withdraw_leftover(coio__loop *L, coio_task *t)
{
    (void)L;
    if (t->state == COIO__WAITING && t->unwait) {
        t->unwait(t);
        t->unwait = NULL;
    }
}

static void free_all_tasks(coio__loop *L)
{
    coio__tasks_each(L, withdraw_leftover);
    coio__tasks_each(L, free_leftover);
    coio__task_chunks_free(L);
}

int coio_run(int (*main)(void *), void *arg)
{
    if (!main)
        return -EINVAL;
    if (coio__tls_loop)
        return -EBUSY;
    coio__loop *L = calloc(1, sizeof *L);
    if (!L)
        return -ENOMEM;
    coio__list_init(&L->soon);
    coio__list_init(&L->ext_done);
    pthread_mutex_init(&L->ext_lock, NULL);
    L->wake_fd = -1;
    L->next_id = 1;
    L->budget = COIO__MIN_TURN;
    const char *dbg = getenv("COIO_DEBUG");
    L->debug = dbg && *dbg && strcmp(dbg, "0") != 0;
    L->fpu = coio__ctx_fpu();
    clock_start(L);
#if defined(COIO_CONTEXT_UCONTEXT)
    L->ctx.uc = &L->uc_loop;
#endif
#ifdef COIO__TSAN
    L->main_tsan_fiber = __tsan_get_current_fiber();
#endif
    int err;
    L->backend = choose_backend(&err);
    if (!L->backend || (err = L->backend->init(L)) < 0) {
        pthread_mutex_destroy(&L->ext_lock);
        free(L);
        return err;
    }
    if ((err = subsystems_init(L)) < 0) {
        L->backend->destroy(L);
        pthread_mutex_destroy(&L->ext_lock);
        free(L);
        return err;
    }
    coio__stacks_init(&L->stacks, L);
    coio__stack_altstack_init();
    coio__stack_overflow_handler_init(coio__task_running_stack);
#ifdef COIO__ASAN
    {
        /* The thread's own stack, for switching back to the loop. */
        pthread_attr_t a;
        void *addr;
        size_t size;
        if (pthread_getattr_np(pthread_self(), &a) == 0) {
            pthread_attr_getstack(&a, &addr, &size);
            pthread_attr_destroy(&a);
            L->main_stack_bottom = addr;
            L->main_stack_size = size;
        }
    }
#endif
    coio__tls_loop = L;

    int result;
    coio_task *m = coio_spawn_ex(main, arg, &(coio_spawn_opts){.name = "main"});
    if (!m) {
        result = -errno;
    } else {
        m->flags |= COIO__F_MAIN | COIO__F_CLAIMED;
        L->main = m;
        bool main_deadlocked = false;
        int r = run_loop(L, &main_deadlocked);
        /* A deadlock that main was part of is the result even when cancelling let main
         * return. A backend failure, or tasks that ignore cancellation in a deadlock,
         * leave tasks unfinished: their stacks are dropped with the loop. */
        result = m->state == COIO__DONE && !main_deadlocked ? m->result : r;
    }
    free_all_tasks(L);
    subsystems_teardown(L);
    coio__stacks_destroy(&L->stacks);
    coio__timers_free(&L->timers);
    coio__readyq_free(&L->ready);
    L->backend->destroy(L);
    pthread_mutex_destroy(&L->ext_lock);
    coio__tls_loop = NULL;
    free(L);
    return result;
}

/* ------------------------------------------------------------------ the clock */

int64_t coio__clock_ns(void)
{
    coio__loop *L = coio__tls_loop;
    return L ? coio__loop_clock_ns(L) : coio__real_ns();
}

/* Where every virtual clock starts: the same value in every run, so that a program's
 * coio_now() readings repeat exactly; a whole number of seconds, so that adding binary
 * fractions of a second (0.5, 0.125) to it stays exact in a double; and far from 0, so
 * that a deadline in the past (call_later with a negative delay) is still a time. */
#define VCLOCK_START_NS ((int64_t)1000000 * 1000000000)

/* What this thread asked for its next loop (coio_clock_virtual called outside a loop). */
static __thread bool next_virtual;
static __thread int64_t next_jump_ns;

int coio_clock_virtual(double autojump)
{
    if (!(autojump >= 0)) /* negative or NaN */
        return -EINVAL;
    if (coio__tls_loop)
        return -EBUSY;
    next_virtual = true;
    next_jump_ns = coio__deadline_after(0, autojump); /* INFINITY: COIO__NEVER */
    return 0;
}

/* A loop that starts takes the clock its thread asked for, once. */
static void clock_start(coio__loop *L)
{
    if (!next_virtual)
        return;
    L->vclock = true;
    L->vnow = VCLOCK_START_NS;
    L->vjump_ns = next_jump_ns;
    next_virtual = false;
}

int coio_clock_advance(double seconds)
{
    if (!(seconds >= 0) || isinf(seconds))
        return -EINVAL;
    coio__loop *L = coio__loop_get();
    if (!L)
        return -EPERM;
    if (!L->vclock)
        return -ENOTSUP;
    int64_t when = coio__deadline_after(L->vnow, seconds);
    if (when == COIO__NEVER)
        return -EINVAL;
    L->vnow = when;
    coio__turn_end(L); /* the timers now due fire before the ready tasks run on */
    return 0;
}

/* ------------------------------------------------------------------ small public calls */

double coio_now(void)
{
    return (double)coio__clock_ns() / 1e9;
}

const char *coio_backend_name(void)
{
    coio__loop *L = coio__loop_get();
    return L ? L->backend->name : NULL;
}

int coio_yield(void)
{
    coio__loop *L = coio__loop_get();
    coio_task *t = L ? L->current : NULL;
    /* Hot path (W1): no cancellation and no scope means nothing to check. */
    if (__builtin_expect(!t || (t->flags & COIO__F_CANCELLED) || t->scope, 0)) {
        int r = coio__check(L, t);
        if (r < 0)
            return r;
    }
    /* A turn is over and the loop would only start the next one (no I/O, timers,
     * callbacks or other threads to look at): start it here instead of two switches
     * through the loop. */
    if (__builtin_expect(L->budget == 0, 0) && !turn_needs_loop(L))
        L->budget = turn_budget(L->ready.n + 1);
    schedule(L, t, true); /* inlined: the hot path of W1 */
    return 0;
}

int coio_sleep(double seconds)
{
    if (!(seconds >= 0)) /* negative or NaN */
        return -EINVAL;
    if (seconds == 0)
        return coio_yield();
    coio__loop *L = coio__loop_get();
    coio_task *t = L ? L->current : NULL;
    if (!t)
        return -EPERM;
    int64_t when = coio__deadline_after(coio__loop_clock_ns(L), seconds);
    return coio__park(L, t, "sleep", NULL, NULL, when, true);
}
