/*
 * Tasks: spawning, finishing, awaiting (await, wait_for, gather), cancellation and the
 * deadline/shield scopes.
 *
 * A task struct (152 bytes on x86-64: internal.h) is carved from chunks the loop keeps
 * until it ends (so timer entries that still point at a recycled task stay readable; see
 * timer.c). A task gets a stack only when it first runs, and gives it back the moment it
 * finishes, before anyone awaits it: a million finished-but-unawaited tasks hold no
 * stacks.
 */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifdef COIO__ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef COIO__TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* Task structs come in 64 KiB chunks. Every chunk after the first is prefaulted with one
 * MADV_POPULATE_WRITE call, several times cheaper than a trap per first touch (more so
 * on virtual machines), and a program that spawns many tasks will use the whole chunk. */
#define CHUNK_BYTES (64 * 1024)
#define TASKS_PER_CHUNK (CHUNK_BYTES / sizeof(coio_task))
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#define SCOPE_MAGIC 0x5c0be5u

_Static_assert(sizeof(coio__scope) <= sizeof(coio_scope), "coio_scope storage too small");

__thread coio__locals *coio__locals_root __attribute__((tls_model("initial-exec")));

/* ------------------------------------------------------------------ allocation */

coio_task *coio__task_alloc(coio__loop *L)
{
    coio_task *t = L->task_free;
    if (t) {
        L->task_free = t->arg;
        return t;
    }
    if (!L->task_chunk_left) {
        /* Carved on demand, not threaded onto the free list up front: every page touched
         * for the first time costs a fault. */
        if (L->ntask_chunks == L->captask_chunks) {
            size_t nc = L->captask_chunks ? L->captask_chunks * 2 : 16;
            void **p = realloc(L->task_chunks, nc * sizeof *p);
            if (!p)
                return NULL;
            L->task_chunks = p;
            L->captask_chunks = nc;
        }
        coio_task *chunk = mmap(NULL, CHUNK_BYTES, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (chunk == MAP_FAILED)
            return NULL;
        if (L->ntask_chunks > 0)
            (void)madvise(chunk, CHUNK_BYTES, MADV_POPULATE_WRITE);
        L->task_chunks[L->ntask_chunks++] = chunk;
        L->task_chunk_next = chunk;
        L->task_chunk_left = TASKS_PER_CHUNK;
    }
    L->task_chunk_left--;
    return L->task_chunk_next++;
}

void coio__task_free(coio__loop *L, coio_task *t)
{
    L->ntasks--;
    if (!(t->flags & COIO__F_STATIC_NAME))
        free(t->name);
    t->name = NULL;
    t->state = COIO__FREE;
    t->flags = 0;
    t->arg = L->task_free;
    L->task_free = t;
}

void coio__task_chunks_free(coio__loop *L)
{
    for (size_t i = 0; i < L->ntask_chunks; i++)
        munmap(L->task_chunks[i], CHUNK_BYTES);
    free(L->task_chunks);
    L->task_chunks = NULL;
    L->ntask_chunks = 0;
}

void coio__tasks_each(coio__loop *L, void (*fn)(coio__loop *L, coio_task *t))
{
    for (size_t c = 0; c < L->ntask_chunks; c++) {
        coio_task *chunk = L->task_chunks[c];
        size_t n = c + 1 < L->ntask_chunks ? TASKS_PER_CHUNK : TASKS_PER_CHUNK - L->task_chunk_left;
        for (size_t i = 0; i < n; i++)
            if (chunk[i].state != COIO__FREE)
                fn(L, &chunk[i]);
    }
}

/* ------------------------------------------------------------------ spawn and finish */

coio_task *coio_spawn(int (*fn)(void *), void *arg)
{
    return coio_spawn_ex(fn, arg, NULL);
}

coio_task *coio_spawn_ex(int (*fn)(void *), void *arg, const coio_spawn_opts *opts)
{
    coio__loop *L = coio__loop_get();
    if (!fn) {
        errno = EINVAL;
        return NULL;
    }
    if (!L) {
        errno = EPERM;
        return NULL;
    }
    size_t stack_size = 0;
    if (opts && opts->stack_size) {
        if (opts->stack_size > (1u << 30)) { /* stack_size is kept in 32 bits */
            errno = EINVAL;
            return NULL;
        }
        stack_size = opts->stack_size < COIO_STACK_SIZE_MIN ? COIO_STACK_SIZE_MIN : opts->stack_size;
        stack_size = (stack_size + L->stacks.page - 1) & ~(L->stacks.page - 1);
    }
    char *name = NULL;
    if (opts && opts->name && *opts->name) {
        name = strndup(opts->name, 31);
        if (!name) {
            errno = ENOMEM;
            return NULL;
        }
    }
    coio_task *t = coio__readyq_reserve(&L->ready, L->nalive + 1) == 0 ? coio__task_alloc(L) : NULL;
    if (!t) {
        free(name);
        errno = ENOMEM;
        return NULL;
    }
    memset(t, 0, sizeof *t); /* timer.seq is 0 already: a freed task's timer is disarmed */
    coio__list_init(&t->link);
    t->fn = fn;
    t->arg = arg;
    t->stack_size = (uint32_t)stack_size; /* wanted size; stack_lo stays NULL until it runs */
    t->state = COIO__NEW;
    t->id = L->next_id++;
    t->name = name;
    coio__task_locals_inherit(L, t); /* a copy, made on write */
    if (opts && (opts->flags & COIO_SPAWN_DETACHED))
        t->flags |= COIO__F_DETACHED;
    if (L->stopping) /* spawned by cleanup code after main returned */
        t->flags |= COIO__F_CANCELLED;
    L->ntasks++;
    L->nalive++;
    coio__readyq_push(&L->ready, t);
    if (COIO__TRACING(L))
        coio__trace_spawn(L, t);
    return t;
}

void coio__task_finish(coio__loop *L, coio_task *t, int result)
{
    coio__task_locals_drop(t); /* before its awaiter resumes */
    t->result = result;
    t->state = COIO__DONE;
    L->nalive--;
    if (__builtin_expect(result < 0, 0) || COIO__TRACING(L))
        coio__trace_finish(L, t, result);
    coio__joinset *js = t->joiner;
    if (js) {
        js->pending--;
        if (result < 0 && !js->first_err)
            js->first_err = result;
        if (js->on_finish)
            js->on_finish(L, js, t);
        coio_task *w = js->waiter;
        if (w && (js->pending == 0 || js->wake_on_any))
            coio__wake_if_waiting(L, w, js, 0);
    }
}

int coio__task_prepare(coio__loop *L, coio_task *t)
{
    int r = 0;
    coio__stack st;
    if (t->flags & COIO__F_CANCELLED)
        r = -ECANCELED; /* cancelled before it started: it never runs */
    else if (coio__stack_get(&L->stacks, t->stack_size, &st) < 0)
        r = -ENOMEM;
    if (r < 0) {
        t->stack_lo = NULL;
        coio__task_finish(L, t, r);
        if (t->flags & COIO__F_DETACHED)
            coio__task_free(L, t);
        return r;
    }
    t->stack_lo = st.lo;
    t->stack_size = (uint32_t)st.size;
    coio__ctx_init(&t->ctx, st.lo, st.lo + st.size, L->fpu, coio__task_main);
#ifdef COIO__TSAN
    t->tsan_fiber = __tsan_create_fiber(0);
#endif
    return 0;
}

_Noreturn void coio__task_main(void *ctx)
{
    coio_task *t = ctx; /* the context is the task's first member */
#ifdef COIO__ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
    coio__loop *L = coio__tls_loop;
    if (L->debug)
        L->step_start = coio__real_ns();
    int r = t->fn(t->arg);
    L = coio__tls_loop;
    if (t->scope) {
        /* Its storage was in a frame that has returned: never read it again. */
        if (L->debug)
            coio__debug_warn(L, "task %u \"%s\" ended with a scope open (coio_scope_end "
                                "missing)", t->id, t->name ? t->name : "");
        t->scope = NULL;
    }
    coio__task_finish(L, t, r);
    L->dead = t;
    coio__schedule_exit(L, t);
}

/* ------------------------------------------------------------------ awaiting */

/* Waits for t (already claimed) until it finishes or `deadline` passes. On an
 * interruption t is cancelled and waited for. Releases t. */
static int join_one(coio__loop *L, coio_task *cur, coio_task *t, int64_t deadline)
{
    int r = 0;
    if (t->state != COIO__DONE) {
        coio__joinset js = {.waiter = cur, .pending = 1};
        t->joiner = &js;
        r = coio__park(L, cur, "await", &js, NULL, deadline, true);
        if (t->state != COIO__DONE) {
            if (r == 0)
                r = -ETIMEDOUT; /* wait_for's own deadline */
            coio_cancel(t);
            while (t->state != COIO__DONE)
                coio__park(L, cur, "await (cancelling)", &js, NULL, COIO__NEVER, false);
        } else {
            r = 0; /* finished after all: its result wins */
        }
        t->joiner = NULL;
    }
    if (r == 0)
        r = t->result;
    coio__task_free(L, t);
    return r;
}

int coio_await(coio_task *t)
{
    coio__loop *L = coio__loop_get();
    coio_task *cur = L ? L->current : NULL;
    if (!t)
        return -EINVAL;
    if (!cur)
        return -EPERM;
    int r = coio__handle_claim_error(cur, t);
    if (r < 0)
        return r;
    t->flags |= COIO__F_CLAIMED;
    return join_one(L, cur, t, COIO__NEVER);
}

int coio_wait_for(coio_task *t, double seconds)
{
    coio__loop *L = coio__loop_get();
    coio_task *cur = L ? L->current : NULL;
    if (!t || isnan(seconds))
        return -EINVAL;
    if (!cur)
        return -EPERM;
    int r = coio__handle_claim_error(cur, t);
    if (r < 0)
        return r;
    t->flags |= COIO__F_CLAIMED;
    return join_one(L, cur, t, coio__deadline_after(coio__clock_ns(), seconds));
}

int coio_detach(coio_task *t)
{
    coio__loop *L = coio__loop_get();
    if (!t)
        return -EINVAL;
    int r = coio__handle_claim_error(NULL, t); /* a task may detach itself */
    if (r < 0)
        return r;
    if (t->state == COIO__DONE && L)
        coio__task_free(L, t);
    else
        t->flags |= COIO__F_DETACHED;
    return 0;
}

int coio_cancel(coio_task *t)
{
    coio__loop *L = coio__loop_get();
    if (!t)
        return -EINVAL;
    if (t->state == COIO__DONE || t->state == COIO__FREE)
        return -EALREADY;
    t->flags |= COIO__F_CANCELLED;
    if (L && coio__cancel_visible(t))
        (void)coio__interrupt(L, t, -ECANCELED);
    return 0;
}

int coio_is_cancelled(void)
{
    coio__loop *L = coio__loop_get();
    coio_task *cur = L ? L->current : NULL;
    return cur && (cur->flags & COIO__F_CANCELLED) ? 1 : 0;
}

int coio_gather_n(coio_task **tasks, size_t n, int *results)
{
    coio__loop *L = coio__loop_get();
    coio_task *cur = L ? L->current : NULL;
    if (!tasks && n)
        return -EINVAL;
    if (!cur)
        return -EPERM;
    /* Claim every handle in one pass; a handle that is already claimed (including the
     * same task listed twice) undoes the claims made so far. */
    bool missing = false;
    for (size_t i = 0; i < n; i++) {
        if (!tasks[i]) {
            missing = true;
            continue;
        }
        int r = coio__handle_claim_error(cur, tasks[i]);
        if (r < 0) {
            for (size_t j = 0; j < i; j++)
                if (tasks[j])
                    tasks[j]->flags &= (uint8_t)~COIO__F_CLAIMED;
            return r;
        }
        tasks[i]->flags |= COIO__F_CLAIMED;
    }
    coio__joinset js = {.waiter = cur};
    for (size_t i = 0; i < n; i++) {
        coio_task *t = tasks[i];
        if (!t)
            continue;
        if (t->state == COIO__DONE) {
            if (t->result < 0 && !js.first_err)
                js.first_err = t->result;
        } else {
            t->joiner = &js;
            js.pending++;
        }
    }
    int r = 0;
    if (missing) {
        r = -ENOMEM; /* a spawn failed: don't leave its siblings running */
        for (size_t i = 0; i < n; i++)
            if (tasks[i])
                coio_cancel(tasks[i]);
    }
    while (js.pending) {
        int pr = coio__park(L, cur, r ? "gather (cancelling)" : "gather", &js, NULL,
                            COIO__NEVER, r == 0);
        if (pr < 0 && r == 0) {
            r = pr;
            for (size_t i = 0; i < n; i++)
                if (tasks[i])
                    coio_cancel(tasks[i]);
        }
    }
    for (size_t i = 0; i < n; i++) {
        coio_task *t = tasks[i];
        if (results)
            results[i] = t ? t->result : -ENOMEM;
        if (t) {
            t->joiner = NULL;
            coio__task_free(L, t);
        }
    }
    return r ? r : js.first_err;
}

/* ------------------------------------------------------------------ scopes */

static int scope_begin(coio_scope *s, int64_t deadline, bool shield)
{
    coio__loop *L = coio__loop_get();
    coio_task *cur = L ? L->current : NULL;
    if (!s)
        return -EINVAL;
    if (!cur)
        return -EPERM;
    coio__scope *sc = (coio__scope *)s;
    coio__scope *parent = cur->scope;
    sc->parent = parent;
    sc->task = cur;
    sc->deadline = deadline;
    sc->magic = SCOPE_MAGIC;
    if (shield) {
        sc->flags = COIO__S_SHIELD | COIO__S_SHIELDED;
        sc->eff_deadline = deadline;
    } else {
        sc->flags = parent && (parent->flags & COIO__S_SHIELDED) ? COIO__S_SHIELDED : 0;
        int64_t outer = parent ? parent->eff_deadline : COIO__NEVER;
        sc->eff_deadline = deadline < outer ? deadline : outer;
    }
    cur->scope = sc;
    return 0;
}

/* A scope's deadline: a negative timeout is none (coio.h). */
static int64_t deadline_after(double seconds)
{
    return seconds < 0 ? COIO__NEVER : coio__deadline_after(coio__clock_ns(), seconds);
}

int coio_timeout_begin(coio_scope *s, double seconds)
{
    if (isnan(seconds))
        return -EINVAL;
    return scope_begin(s, deadline_after(seconds), false);
}

int coio_deadline_begin(coio_scope *s, double when)
{
    if (isnan(when))
        return -EINVAL;
    return scope_begin(s, coio__time_ns(when), false);
}

int coio_shield_begin(coio_scope *s, double seconds)
{
    if (isnan(seconds))
        return -EINVAL;
    return scope_begin(s, deadline_after(seconds), true);
}

int coio_scope_end(coio_scope *s)
{
    coio__loop *L = coio__loop_get();
    coio_task *cur = L ? L->current : NULL;
    coio__scope *sc = (coio__scope *)s;
    if (!sc || sc->magic != SCOPE_MAGIC || !cur || cur->scope != sc) {
        if (L && L->debug && cur && sc && sc->magic == SCOPE_MAGIC && sc->task == cur)
            coio__debug_warn(L, "task %u \"%s\" ended a scope that is not its innermost "
                                "(an inner coio_scope_end is missing)", cur->id,
                             cur->name ? cur->name : "");
        return -EINVAL;
    }
    cur->scope = sc->parent;
    sc->magic = 0;
    return (sc->flags & COIO__S_FIRED) ? -ETIMEDOUT : 0;
}

int coio_scope_expired(const coio_scope *s)
{
    const coio__scope *sc = (const coio__scope *)s;
    if (!sc || sc->deadline == COIO__NEVER)
        return 0;
    return coio__clock_ns() >= sc->deadline;
}

int coio__scope_fire(coio_task *t, int64_t now)
{
    /* The innermost scope whose own deadline has passed is the one that timed out;
     * scopes outside a shield don't apply inside it. */
    for (coio__scope *sc = t->scope; sc; sc = sc->parent) {
        if (sc->deadline <= now) {
            sc->flags |= COIO__S_FIRED;
            break;
        }
        if (sc->flags & COIO__S_SHIELD)
            break;
    }
    return -ETIMEDOUT;
}

void coio__scope_debug_check(coio__loop *L, coio_task *t, const void *sp)
{
    /* Scope storage on the task's own stack below the caller's frame belongs to a
     * function that has returned. (A scope elsewhere, or one whose slot a deeper call
     * has reused, passes: the check at the task's end catches what is left.) */
    const char *s = (const char *)t->scope;
    if (!t->stack_lo || s < t->stack_lo || s >= (const char *)sp)
        return;
    coio__debug_warn(L, "task %u \"%s\" returned from a function without ending its scope "
                        "(coio_scope_end missing): its scopes are dropped", t->id,
                     t->name ? t->name : "");
    t->scope = NULL;
}

/* ------------------------------------------------------------------ names */

bool coio__task_running_stack(const char **stack_lo, const char **name, unsigned *id)
{
    coio__loop *L = coio__tls_loop;
    coio_task *t = L ? L->current : NULL;
    if (!t || !t->stack_lo)
        return false;
    *stack_lo = t->stack_lo;
    *name = t->name ? t->name : "";
    *id = t->id;
    return true;
}

coio_task *coio_current(void)
{
    coio__loop *L = coio__loop_get();
    return L ? L->current : NULL;
}

const char *coio_task_name(const coio_task *t)
{
    if (!t)
        t = coio_current();
    return t && t->name ? t->name : "";
}

int coio_task_set_name(coio_task *t, const char *name)
{
    if (!t)
        t = coio_current();
    if (!t || !name)
        return -EINVAL;
    char *copy = strndup(name, 31);
    if (!copy)
        return -ENOMEM;
    if (!(t->flags & COIO__F_STATIC_NAME))
        free(t->name);
    t->flags &= ~(uint32_t)COIO__F_STATIC_NAME;
    t->name = copy;
    return 0;
}

void coio__task_set_static_name(coio_task *t, const char *name)
{
    if (!(t->flags & COIO__F_STATIC_NAME))
        free(t->name);
    t->flags |= COIO__F_STATIC_NAME;
    t->name = (char *)name;
}
