/*
 * coio — Python's asyncio model for C: one event loop per thread, stackful tasks,
 * await, sleep, gather, cancellation and timeouts, with errors as return values.
 *
 * Conventions (docs/api.md has the long form):
 *  - Functions returning int or ssize_t return >= 0 on success or a negative errno
 *    (-ECANCELED, -ETIMEDOUT, -EINVAL, ...). coio_strerror() and coio_err_name() name them.
 *  - Functions returning a pointer return NULL and set errno on failure.
 *  - A "suspending call" may pause the calling task (never the thread). Made outside a
 *    task it returns -EPERM. Inside a cancelled task it returns -ECANCELED at once, and
 *    inside an expired deadline scope -ETIMEDOUT at once ("level-triggered"), unless a
 *    shield scope is active.
 */
#ifndef COIO_H
#define COIO_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define COIO_VERSION_MAJOR 0
#define COIO_VERSION_MINOR 1
#define COIO_VERSION_PATCH 0
/* Comparable: COIO_VERSION_HEX >= 0x000100 means 0.1.0 or newer. */
#define COIO_VERSION_HEX \
    ((COIO_VERSION_MAJOR << 16) | (COIO_VERSION_MINOR << 8) | COIO_VERSION_PATCH)

#if defined(COIO_STATIC)
#define COIO_API
#elif defined(__GNUC__)
#define COIO_API __attribute__((visibility("default")))
#else
#define COIO_API
#endif

/* Version of the library actually linked, as COIO_VERSION_HEX computes it. */
COIO_API unsigned coio_version(void);
/* The same as a "major.minor.patch" string. */
COIO_API const char *coio_version_string(void);

/* ------------------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------------------ */

/* The errnos coio itself returns, with their standard descriptions (what strerror(3)
 * says in the C locale). The same errno also comes from the kernel, so a description
 * says what the errno means in general; what it means from a given function is in that
 * function's comment below (e.g. -EPERM from a suspending call: outside a task). */
#define COIO_ERRNO_MAP(X)                                         \
    X(EPERM, "Operation not permitted")                           \
    X(ENOENT, "No such file or directory")                        \
    X(EIO, "Input/output error")                                  \
    X(EINVAL, "Invalid argument")                                 \
    X(ENOMEM, "Cannot allocate memory")                           \
    X(EBUSY, "Device or resource busy")                           \
    X(ECANCELED, "Operation canceled")                            \
    X(ETIMEDOUT, "Connection timed out")                          \
    X(EDEADLK, "Resource deadlock avoided")                       \
    X(EALREADY, "Operation already in progress")                  \
    X(EAGAIN, "Resource temporarily unavailable")                 \
    X(EBADF, "Bad file descriptor")                               \
    X(ENOSYS, "Function not implemented")                         \
    X(ESHUTDOWN, "Cannot send after transport endpoint shutdown") \
    X(EPIPE, "Broken pipe")                                       \
    X(EOVERFLOW, "Value too large for defined data type")         \
    X(ENXIO, "No such device or address")                         \
    X(EMSGSIZE, "Message too long")

/* strerror(3) of a (negative or positive) errno value: the standard description, in the
 * program's locale ("Unknown error N" for values that name no errno); never NULL. */
COIO_API const char *coio_strerror(int err);
/* Symbolic name, "ECANCELED" for -ECANCELED; "E?" for unknown values; never NULL. */
COIO_API const char *coio_err_name(int err);

/* ------------------------------------------------------------------------------------
 * Loop and tasks
 * ------------------------------------------------------------------------------------ */

typedef struct coio_task coio_task;

/* Like asyncio.run(): creates an event loop on this thread, runs main(arg) as its first
 * task and drives the loop until main returns. Then every task still alive is cancelled
 * and awaited, and the loop is destroyed. Returns main's value. On the main thread, a
 * SIGINT left at its default action cancels main's task (a second one ends the process):
 * see the signal section below.
 * Errors: -EINVAL (main NULL), -EBUSY (a loop already runs on this thread),
 * -ENOMEM, or the backend's error if no I/O backend could start. -EDEADLK when main and
 * every other task wait and nothing (timer, I/O, other thread) can wake one: the waiting
 * tasks are cancelled first, so their cleanup runs (their waits return -ECANCELED); a
 * task that ignores cancellation there (a shield) is dropped without its cleanup. */
COIO_API int coio_run(int (*main)(void *), void *arg);

/* Task options for coio_spawn_ex(); zero means "default" for every field. */
typedef struct coio_spawn_opts {
    const char *name;  /* copied (up to 31 bytes); shown by coio_dump_tasks and crashes */
    size_t stack_size; /* bytes, rounded up to pages; default COIO_STACK_SIZE_DEFAULT */
    unsigned flags;    /* COIO_SPAWN_* */
} coio_spawn_opts;

#define COIO_STACK_SIZE_DEFAULT (256u * 1024u)
#define COIO_STACK_SIZE_MIN (16u * 1024u)
/* The task is detached from birth: no handle is returned to await (the call returns a
 * non-NULL but unusable pointer on success). */
#define COIO_SPAWN_DETACHED 0x1u

/* Like asyncio.create_task(): schedules fn(arg) as a new task. It starts at a later loop
 * turn, never inside coio_spawn. The handle must be passed to exactly one of coio_await,
 * coio_wait_for, coio_gather or coio_detach. Returns NULL with errno EINVAL (fn NULL),
 * EPERM (no loop on this thread) or ENOMEM. */
COIO_API coio_task *coio_spawn(int (*fn)(void *), void *arg);
COIO_API coio_task *coio_spawn_ex(int (*fn)(void *), void *arg, const coio_spawn_opts *opts);

/* Waits until t finishes and returns its result (what fn returned), or -ECANCELED if t
 * was cancelled before it started. Releases the handle, like pthread_join.
 * If the awaiting task is itself cancelled (or its deadline expires) while waiting, t is
 * cancelled too and awaited to its end, then -ECANCELED (-ETIMEDOUT) is returned.
 * Errors: -EINVAL (t NULL), -EPERM (outside a task), -EDEADLK (t is the caller),
 * -EALREADY (t is detached or already being awaited). */
COIO_API int coio_await(coio_task *t);

/* Like coio_await, but gives up after `seconds` (<= 0: at once if t has not finished):
 * then t is cancelled and awaited, and -ETIMEDOUT is returned. The handle is released in
 * every case except -EINVAL (t NULL or seconds NaN), which leaves it untouched. */
COIO_API int coio_wait_for(coio_task *t, double seconds);

/* Releases the handle: t runs on, and is freed when it finishes. Returns 0, -EINVAL or
 * -EALREADY (already detached or awaited). */
COIO_API int coio_detach(coio_task *t);

/* Requests cancellation of t: every suspending call t makes from now on (and the one it
 * is blocked in) returns -ECANCELED, except inside a shield scope. A task that has not
 * started yet never runs; its result is -ECANCELED. Returns 0, -EINVAL, or -EALREADY if
 * t has already finished. Cancelling a task twice is harmless. */
COIO_API int coio_cancel(coio_task *t);

/* 1 if the calling task has been cancelled, else 0 (also 0 outside a task). */
COIO_API int coio_is_cancelled(void);

/* Suspends the calling task for `seconds` (>= 0) without blocking the thread.
 * coio_sleep(0) is coio_yield(). Returns 0, -ECANCELED, -ETIMEDOUT (deadline scope),
 * -EINVAL (negative or NaN), -EPERM. */
COIO_API int coio_sleep(double seconds);

/* Lets every other ready task run once, then continues: the caller goes to the back of
 * the ready queue. Returns 0, -ECANCELED, -ETIMEDOUT or -EPERM. */
COIO_API int coio_yield(void);

/* Like asyncio.gather(): waits for all n tasks, stores their results in results[i]
 * (argument order; results may be NULL) and releases every handle. Returns 0 when every
 * task returned >= 0, else the first negative result in completion order. A NULL entry
 * (a failed spawn) makes it cancel and await the others, then return -ENOMEM.
 * If the gathering task is cancelled, every child is cancelled and awaited, and
 * -ECANCELED is returned. Every failure is in results[i], by position; the handles are
 * released, so read coio_task_name(tasks[i]) before the call if names matter (a task
 * group lists failures with names: coio_group_errors). */
COIO_API int coio_gather_n(coio_task **tasks, size_t n, int *results);

/* coio_gather(t1, t2, ...) is coio_gather_n over its arguments, without results. */
#define coio_gather(...)                                         \
    coio_gather_n((coio_task *[]){__VA_ARGS__},                  \
                  sizeof((coio_task *[]){__VA_ARGS__}) / sizeof(coio_task *), NULL)

/* The running task, or NULL outside a task. */
COIO_API coio_task *coio_current(void);
/* t's name ("" if none; the current task's if t is NULL). Never NULL. */
COIO_API const char *coio_task_name(const coio_task *t);
/* Renames t (NULL: the current task); the name is copied. 0 or -EINVAL. */
COIO_API int coio_task_set_name(coio_task *t, const char *name);

/* Task-local values, like Python's contextvars. A coio_var names a value of which each
 * task sees its own. A spawned task starts with a copy of the values its spawner sees at
 * that moment (as asyncio copies the context into a new task); from then on a
 * coio_var_set in either one is invisible to the other and to siblings. Outside any task
 * (before coio_run, in loop callbacks) the calls use the calling thread's values, and a
 * task spawned outside any task, such as coio_run's main, starts with a copy of those.
 * A variable may be used by every thread; each thread's values are its own. None of
 * these calls suspends. */
typedef struct coio_var coio_var;

/* A new variable, unset everywhere. With a destructor, every non-NULL value set is
 * released by destructor(value) exactly once, when nothing holds it any more: when it is
 * replaced or unset, when the last task holding it ends (finishes, before its awaiter
 * resumes; is cancelled before it starts; or is left unfinished when coio_run returns),
 * or, for a value set outside any task, when its thread ends with pthread_exit or by
 * returning (not at process exit). A destructor must not suspend: it may run outside any
 * task or in another one (which task's values it can get or set is not specified).
 * Returns NULL with errno ENOMEM. */
COIO_API coio_var *coio_var_new(void (*destructor)(void *value));
/* Frees var; use it no more on any thread. Values it still has can no longer be read
 * and are released when their holders end, as above. 0 or -EINVAL. */
COIO_API int coio_var_delete(coio_var *var);
/* The caller's value of var; NULL if unset, or with errno EINVAL if var is NULL. */
COIO_API void *coio_var_get(const coio_var *var);
/* Sets the caller's value of var (NULL unsets it); the variable owns the value from then
 * on, and the value it replaces is released (its destructor runs now unless another task
 * still holds it). Setting the value it already has does nothing. Returns 0, -EINVAL (var
 * NULL) or -ENOMEM (nothing changed: the value is still the caller's). */
COIO_API int coio_var_set(coio_var *var, void *value);

/* The loop's monotonic clock in seconds (CLOCK_MONOTONIC), like loop.time(); on a loop
 * with a virtual clock (below), the virtual time. */
COIO_API double coio_now(void);

/* Virtual clock, for tests (like Trio's MockClock and Tokio's time::pause()). The next
 * coio_run on the calling thread runs on a virtual clock: coio_now() starts at the same
 * value in every run (1e6 s) and moves only when the loop would otherwise wait. Then, if
 * nothing real is pending (no I/O operation, worker-pool job, future or handle another
 * thread may complete, signal wait), it jumps at once to the next timer, so a one-hour
 * sleep or a 30 s timeout returns in microseconds, in the same order every run. While
 * something real is pending the loop waits for it for real, and jumps only after
 * `autojump` real seconds in which nothing could run (INFINITY: never; 0: at once).
 * Every sleep, deadline, timeout and call_later of the loop follows the virtual clock.
 * Returns 0, -EINVAL (autojump negative or NaN), -EBUSY (a loop runs on this thread). */
COIO_API int coio_clock_virtual(double autojump);

/* Moves the running loop's virtual clock forward by `seconds` at once; the timers that
 * fall due fire in order at the caller's next suspension. Does not suspend.
 * Returns 0, -EINVAL (seconds negative, NaN or infinite), -EPERM (no loop on this
 * thread), -ENOTSUP (the loop's clock is real). */
COIO_API int coio_clock_advance(double seconds);

/* Name of the I/O backend of this thread's loop ("epoll", "io_uring"), or NULL. */
COIO_API const char *coio_backend_name(void);

/* ------------------------------------------------------------------------------------
 * Deadlines and shields (scopes). A scope lives in the caller's storage, is begun and
 * ended by the same task, and scopes nest strictly (end the innermost first). Returning
 * from the function that holds a scope without ending it is undefined behaviour;
 * COIO_DEBUG=1 reports it on stderr with the task's name when the task ends with a scope
 * open, and when it suspends from a caller of the function that has returned.
 * COIO_WITH_TIMEOUT (below) cannot be left open.
 * ------------------------------------------------------------------------------------ */

typedef struct coio_scope {
    uint64_t coio__opaque[6];
} coio_scope;

/* Timeouts, one rule (docs/api.md): waits on one object take no timeout argument and get
 * one from a scope (COIO_WITH_TIMEOUT below); coio_wait_for, coio_future_await, coio_wait,
 * coio_as_completed_create and coio_select keep their own, as their counterparts do. Any
 * expired deadline is -ETIMEDOUT (coio_wait alone reports a timeout as a normal return);
 * coio_scope_expired() tells whether it was the scope's.
 *
 * Like `async with asyncio.timeout(seconds)`: from now until coio_scope_end(), every
 * suspending call returns -ETIMEDOUT once the deadline has passed. Nested scopes see the
 * earliest deadline of those enclosing them. seconds < 0 or infinite: no deadline.
 * Returns 0, -EINVAL (s NULL or seconds NaN), -EPERM (outside a task). */
COIO_API int coio_timeout_begin(coio_scope *s, double seconds);
/* The same with an absolute deadline on the coio_now() clock (asyncio.timeout_at). */
COIO_API int coio_deadline_begin(coio_scope *s, double when);

/* Like asyncio.shield() for a block of code: inside, cancellation of the task and the
 * deadlines of enclosing scopes are ignored, so cleanup can still suspend; only the
 * shield's own deadline (seconds >= 0) applies. */
COIO_API int coio_shield_begin(coio_scope *s, double seconds);

/* Ends the innermost scope s. Returns -ETIMEDOUT if s's own deadline expired while it was
 * active (so this scope is the one that timed out), 0 otherwise; -EINVAL if s is not the
 * innermost scope of the calling task. */
COIO_API int coio_scope_end(coio_scope *s);

/* 1 if s's own deadline has passed, else 0. */
COIO_API int coio_scope_expired(const coio_scope *s);

/* A scope that cannot be left open: the block that follows runs inside it, and every way
 * out of the block ends the scope (falling off its end, return, goto, and break or
 * continue, which leave the block itself, not an enclosing loop; longjmp does not).
 *
 *     COIO_WITH_TIMEOUT(2.0) {
 *         if (coio_read(fd, buf, sizeof buf) == -ETIMEDOUT)
 *             return -ETIMEDOUT;          // the scope ends here too
 *     }
 *
 * COIO_WITH_DEADLINE(when) and COIO_WITH_SHIELD(seconds) are the same for
 * coio_deadline_begin and coio_shield_begin. If the scope cannot begin (outside a task, a
 * NaN time) the block runs without it. Needs __attribute__((cleanup)) (gcc, clang). */
#if defined(__GNUC__)
static inline void coio__scope_autoend(coio_scope *s)
{
    coio_scope_end(s); /* -EINVAL if it never began: nothing to end */
}
#define COIO__CAT_(a, b) a##b
#define COIO__CAT(a, b) COIO__CAT_(a, b)
#define COIO__WITH_SCOPE(begin, arg, s, once)                                            \
    for (coio_scope s __attribute__((cleanup(coio__scope_autoend))) = {{0}},             \
                    *once = ((void)begin(&s, (arg)), &s);                                \
         once; once = NULL)
/* n is expanded once here, so both names get the same number. */
#define COIO__WITH_SCOPE_N(begin, arg, n) \
    COIO__WITH_SCOPE(begin, arg, COIO__CAT(coio__scope_, n), COIO__CAT(coio__once_, n))
#define COIO_WITH_TIMEOUT(seconds) COIO__WITH_SCOPE_N(coio_timeout_begin, seconds, __COUNTER__)
#define COIO_WITH_DEADLINE(when) COIO__WITH_SCOPE_N(coio_deadline_begin, when, __COUNTER__)
#define COIO_WITH_SHIELD(seconds) COIO__WITH_SCOPE_N(coio_shield_begin, seconds, __COUNTER__)
#endif

/* ------------------------------------------------------------------------------------
 * Threads
 * ------------------------------------------------------------------------------------ */

/* Like asyncio.to_thread(): runs fn(arg) on a worker thread of a lazily created, bounded
 * pool shared by the process, and suspends the caller until it returns; returns fn's
 * value. If the caller is cancelled (or times out) before a worker took the job, the job
 * is dropped and -ECANCELED (-ETIMEDOUT) is returned at once; once a worker runs it, the
 * caller waits for it to return (fn may use memory the caller owns), then returns
 * -ECANCELED (-ETIMEDOUT). Also -EINVAL (fn NULL), -EPERM, -EAGAIN (the pool has no
 * thread yet and none could start). The pool's threads, like every thread coio starts,
 * block all asynchronous signals (SIGTERM, SIGINT, ...): those go to the program's own
 * threads; only fault signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS) are not
 * blocked. */
COIO_API int coio_to_thread(int (*fn)(void *), void *arg);

/* The pool's bound on threads (like libuv's UV_THREADPOOL_SIZE): 1..1024. The default is
 * COIO_THREADPOOL_SIZE from the environment when it holds a number in that range (read
 * when the pool first starts), else min(32, CPUs + 4). A job goes to an awake worker when
 * there is one, else one idle worker is woken (or a thread started) per loop turn; more
 * are woken, one per waiting job, when a job has waited 0.5 ms for busy workers.
 * Lowering the bound lets idle threads above it exit. The file calls
 * (coio_file_*) run on this pool, so the bound is also how many file operations run at
 * once. coio_threadpool_set_size returns 0 or -EINVAL (n out of range); any thread may
 * call it, at any time. coio_threadpool_size returns the bound. */
COIO_API int coio_threadpool_set_size(int n);
COIO_API int coio_threadpool_size(void);

/* ------------------------------------------------------------------------------------
 * Low-level file descriptor I/O (fds must be non-blocking; sockets: see coio net API)
 * ------------------------------------------------------------------------------------ */

#define COIO_READABLE 0x1
#define COIO_WRITABLE 0x4

/* Suspends until fd is readable and/or writable (COIO_READABLE | COIO_WRITABLE) and
 * returns which of them hold, plus COIO_HANGUP/COIO_ERROR bits. Errors: -EINVAL,
 * -EBADF, -EPERM, -ECANCELED, -ETIMEDOUT. */
#define COIO_ERROR 0x8
#define COIO_HANGUP 0x10
COIO_API int coio_wait_fd(int fd, int events);

/* read(2)/write(2) on a non-blocking fd that suspend the task instead of returning
 * EAGAIN. Return bytes transferred (0 at EOF for read) or a negative errno, including
 * -ECANCELED and -ETIMEDOUT. coio_write may transfer less than n; coio_write_all
 * loops until all n bytes are written (returns n or an error). On a regular file or
 * block device they run on the worker pool with epoll (in the kernel with io_uring), so
 * a slow disk stalls only the calling task. */
COIO_API ssize_t coio_read(int fd, void *buf, size_t n);
COIO_API ssize_t coio_write(int fd, const void *buf, size_t n);
COIO_API ssize_t coio_write_all(int fd, const void *buf, size_t n);

/* Closes fd after waking every task waiting on it (their calls return -EBADF). Use it
 * instead of close(2) for fds coio has waited on: the loop forgets its state about fd.
 * Works outside a loop too (then it is close(2)). Returns 0 or a negative errno. */
COIO_API int coio_close(int fd);

/* ==== BEGIN sync (task groups, wait, futures, queues, locks, events, conditions,
 * semaphores, barriers, callbacks) ==== */
/* Common rules for this section (docs/sync.md has examples and the asyncio names):
 *  - Objects are opaque, made by *_create (NULL with errno ENOMEM/EINVAL on failure) and
 *    freed by *_destroy, which returns -EBUSY (and frees nothing) while a task waits on
 *    the object. An object other than a future belongs to the loop that first uses it.
 *  - Blocking calls are suspending calls (see the top of this file): -EPERM outside a task
 *    (also inside callbacks, which run on the loop's stack), -ECANCELED / -ETIMEDOUT at
 *    once in a cancelled task or an expired deadline scope, and the same when cancellation
 *    or a deadline (coio_timeout_begin) ends the wait. Deadlines come from scopes unless a
 *    call takes a timeout argument.
 *  - Waiters are served first come, first served, and a waiter that is cancelled or times
 *    out never takes a wake-up with it: the lock, permit, item or notification goes to
 *    the next waiter. A waiter that was handed its lock/permit/item before cancellation
 *    arrived returns success; the cancellation shows at its next suspending call.
 *  - Non-blocking calls (release, set, notify, *_nowait, try_*) work from tasks and from
 *    callbacks alike. Only futures and coio_call_soon_threadsafe may be used from other
 *    threads.
 *  - Errors specific to this section: -ESHUTDOWN (queue or group shut down, loop ended),
 *    -EPIPE (barrier broken), -EOVERFLOW (released / task_done more often than acquired /
 *    put), -EDEADLK (acquiring a lock the caller holds). */

/* ---- Task groups (asyncio.TaskGroup, Trio nursery) ---------------------------------- */

typedef struct coio_group coio_group;

/* A new, empty group. NULL with errno ENOMEM. */
COIO_API coio_group *coio_group_create(void);

/* Starts fn(arg) as a child of g (like TaskGroup.create_task; it starts at a later loop
 * turn). The group owns the child: no handle is returned (see coio_group_spawn_task).
 * Returns 0, -EINVAL (g or fn NULL), -EPERM (no loop on this thread), -ENOMEM, or
 * -ESHUTDOWN if g is closing: a child failed, the group was cancelled, or
 * coio_group_wait has returned. Children may spawn into their own group. */
COIO_API int coio_group_spawn(coio_group *g, int (*fn)(void *), void *arg);
/* The same with task options (name, stack size; COIO_SPAWN_DETACHED is implied). */
COIO_API int coio_group_spawn_ex(coio_group *g, int (*fn)(void *), void *arg,
                                 const coio_spawn_opts *opts);
/* Like coio_group_spawn_ex (opts may be NULL), and returns the child's handle, as
 * TaskGroup.create_task returns the task. The group waits for the child and cancels it
 * with the others as for any child. With the handle:
 *  - coio_cancel(t) cancels that child alone. If it then ends with -ECANCELED the group
 *    is not failed and its siblings run on (as in asyncio); any other negative result
 *    fails the group as usual.
 *  - Until the child has finished the group is its one waiter: coio_await, coio_wait_for,
 *    coio_gather, coio_wait and coio_as_completed_create refuse it with -EALREADY, and so
 *    does coio_detach.
 *  - Once it has finished (after coio_group_wait returns, every child has) the handle is
 *    an ordinary finished task's, and the caller's: coio_await(t) returns its result at
 *    once and releases it, coio_detach(t) just releases it. Every handle goes to one of
 *    them, like a coio_spawn handle; it may outlive the group (coio_group_destroy does not
 *    release it).
 * Returns NULL with errno EINVAL (g or fn NULL, or COIO_SPAWN_DETACHED in opts->flags),
 * EPERM, ENOMEM or ESHUTDOWN, as coio_group_spawn. */
COIO_API coio_task *coio_group_spawn_task(coio_group *g, int (*fn)(void *), void *arg,
                                          const coio_spawn_opts *opts);

/* Waits until every child has finished (children spawned meanwhile included). The first
 * child that returns a negative value other than -ECANCELED makes the group cancel all
 * the others (a child cancelled alone through its handle ends with -ECANCELED, no
 * failure); the wait still waits for every child to end, then returns that first error.
 * If the waiting task is cancelled (or its deadline expires) first, every child is
 * cancelled and awaited, and -ECANCELED (-ETIMEDOUT) is returned, unless a child failed,
 * whose error wins. Returns 0 when no child failed. A child returning -ECANCELED is not a
 * failure (as in asyncio). Afterwards the group is closed; waiting again returns the same
 * value at once. Errors: -EINVAL, -EPERM, -EALREADY (another task is waiting on g). */
COIO_API int coio_group_wait(coio_group *g);

/* Cancels every child and closes g to new children (Trio: nursery.cancel_scope.cancel()).
 * Children that end with -ECANCELED are not failures, so a later wait returns 0 unless
 * some child failed otherwise. Returns 0 or -EINVAL. */
COIO_API int coio_group_cancel(coio_group *g);

/* Number of children that have not finished yet (0 for NULL). */
COIO_API size_t coio_group_size(const coio_group *g);

/* One failed child (Python's ExceptionGroup lists them all; coio_group_wait returns only
 * the first). */
typedef struct coio_child_error {
    int err;       /* what the child returned: negative, never -ECANCELED */
    char name[32]; /* the child's name when it ended ("" if it had none) */
    void *arg;     /* the arg it was spawned with, to tell children of one name apart */
} coio_child_error;

/* Every child of g that failed so far, in completion order: copies the first
 * min(count, cap) records to out (out may be NULL when cap is 0) and returns the count,
 * so a caller can size its array and ask again. As for the group's result, a child that
 * ended with -ECANCELED (one the group cancelled after the first failure, or cancelled
 * alone through its handle) is not a failure and is not listed, as asyncio's
 * ExceptionGroup leaves out CancelledError; a sibling that turned its cancellation into
 * another error is listed. The list is complete once coio_group_wait has returned and is
 * kept until coio_group_destroy. Never suspends; 0 for NULL. */
COIO_API size_t coio_group_errors(const coio_group *g, coio_child_error *out, size_t cap);

/* Frees g. -EBUSY while children are alive (wait for them first), -EINVAL for NULL. */
COIO_API int coio_group_destroy(coio_group *g);

/* ---- wait and as_completed (asyncio.wait, asyncio.as_completed) ---------------------- */

#define COIO_ALL_COMPLETED 0   /* return when every task has finished */
#define COIO_FIRST_COMPLETED 1 /* return when at least one has finished */
#define COIO_FIRST_ERROR 2     /* ... when one fails (negative result other than
                                * -ECANCELED), else when all have finished */

/* Waits on tasks[0..n) (NULL entries are skipped) until `return_when` holds or `timeout`
 * seconds pass (timeout < 0: no limit; 0: just look). Every task found finished is
 * released: its result goes to results[i] (results may be NULL) and tasks[i] is set to
 * NULL. Unfinished tasks are left running and their handles stay with the caller (await,
 * cancel or wait on them again). Returns the number of tasks released, which may be 0
 * after a timeout (a timeout is not an error, as in asyncio). If the caller is cancelled
 * or its deadline scope expires: -ECANCELED / -ETIMEDOUT and nothing is released or
 * cancelled. Errors: -EINVAL (bad return_when, NaN timeout, tasks NULL with n > 0),
 * -EPERM, -EDEADLK (the caller is in tasks), -EALREADY (a handle is detached or awaited
 * elsewhere, or was already released; nothing is changed then). */
COIO_API int coio_wait(coio_task **tasks, size_t n, int return_when, double timeout,
                       int *results);

typedef struct coio_as_completed coio_as_completed;

/* An iterator over tasks[0..n) in completion order (NULL entries skipped). It copies the
 * array (the caller may reuse or free it as soon as this returns; the iterator never
 * writes to it) and claims the handles; timeout is for the whole iteration (< 0: none).
 * NULL with errno EINVAL (also for a NaN timeout), EPERM, EDEADLK, EALREADY (a handle is
 * detached, claimed elsewhere or already released; nothing is claimed then) or ENOMEM. */
COIO_API coio_as_completed *coio_as_completed_create(coio_task **tasks, size_t n,
                                                     double timeout);
/* Waits for the next task to finish, releases it, stores its result in *result (may be
 * NULL) and returns its index i in the array given to create: the handle tasks[i] is
 * released now and must not be used again. Tasks that had finished before the iterator
 * was created come first, in array order. Returns -ENOENT when every task has been
 * returned, -ETIMEDOUT once the iterator's timeout has passed (tasks keep running),
 * -ECANCELED, -ETIMEDOUT (deadline scope), -EPERM or -EINVAL. */
COIO_API int coio_as_completed_next(coio_as_completed *ac, int *result);
/* Frees the iterator. The tasks it has not returned are the caller's again, by the
 * handles the caller passed to create (await or cancel them). Returns 0 or -EINVAL. */
COIO_API int coio_as_completed_destroy(coio_as_completed *ac);

/* ---- select (Go's select, asyncio.wait(FIRST_COMPLETED) across kinds) -------------- */

typedef struct coio_queue coio_queue;
typedef struct coio_event coio_event;
typedef struct coio_future coio_future;

#define COIO_SELECT_NONE 0   /* switched off: never fires (Go's nil channel) */
#define COIO_SELECT_GET 1    /* an item from `queue`, stored in *out (out may be NULL) */
#define COIO_SELECT_PUT 2    /* `item` into `queue` */
#define COIO_SELECT_EVENT 3  /* `event` is set (nothing is taken: it stays set) */
#define COIO_SELECT_FUTURE 4 /* `future` is complete; its value to *out (may be NULL) */
#define COIO_SELECT_TASK 5   /* `task` has finished */
#define COIO_SELECT_FD 6     /* `fd` is ready for `events` (COIO_READABLE, COIO_WRITABLE) */

/* One thing a select waits for. Fill kind and the fields it names (the coio_case_*
 * helpers below do); coio_select writes `result` of the case that fires, and nothing else
 * of any case (a TASK case that fires is switched off, see coio_select). */
typedef struct coio_select_case {
    int kind;   /* COIO_SELECT_* */
    int events; /* FD */
    union {
        void *obj;
        coio_queue *queue;   /* GET, PUT */
        coio_event *event;   /* EVENT */
        coio_future *future; /* FUTURE */
        coio_task *task;     /* TASK */
    };
    int fd;     /* FD */
    void *item; /* PUT */
    void **out; /* GET, FUTURE */
    /* The outcome when this case fired: GET/PUT 0 or -ESHUTDOWN (the queue was shut
     * down: then nothing was taken or put; PUT also -ENOMEM); EVENT 0; FUTURE what
     * coio_future_result returns (0, its error, -ECANCELED); TASK the task's result; FD
     * the events that hold (as coio_wait_fd returns them) or -EBADF. */
    int result;
} coio_select_case;

/* Like Go's select with a timeout: waits until one of cases[0..n) can proceed, does that
 * one only, and returns its index; its outcome is in cases[i].result. Exactly one case
 * fires: a GET takes an item and a PUT puts one only if it is the case that fires, never
 * otherwise, even when other queues could have served it at the same moment.
 *  - Choice: if several cases are ready when coio_select is called, the first in array
 *    order fires (not a random one as in Go: put the case to prefer first, and rotate the
 *    array if a busy early case must not starve later ones). While waiting, the first case
 *    to become ready fires.
 *  - TASK cases follow the handle rule: the handles are claimed for the call (-EALREADY /
 *    -EDEADLK as coio_await, nothing claimed then). The task that fires is released like
 *    coio_await: its result is in `result`, and its case is switched off (kind
 *    COIO_SELECT_NONE, task NULL) so the array can be passed again in a loop. The other
 *    tasks keep running and their handles stay with the caller.
 *  - timeout in seconds: < 0 waits without limit, 0 just looks (Go's default case).
 *  - Timeout, cancellation and errors take nothing: queues and events are unchanged,
 *    futures pending, task handles still the caller's.
 *  - n may be 0 or every case COIO_SELECT_NONE: then it waits for the timeout alone.
 * Returns the index, or -ETIMEDOUT (own timeout or deadline scope), -ECANCELED, -EPERM
 * (outside a task), -EINVAL (cases NULL with n > 0, n >= INT_MAX, NaN timeout, unknown
 * kind, NULL object, bad events), -EBADF (FD case with fd < 0), -EALREADY / -EDEADLK
 * (TASK), -ENOMEM. An FD case costs a small helper task while the select waits. */
COIO_API int coio_select(coio_select_case *cases, size_t n, double timeout);

/* Case constructors: coio_select_case cs[] = {coio_case_get(q, &item), ...}. */
static inline coio_select_case coio_case_get(coio_queue *q, void **out)
{
    coio_select_case c = {COIO_SELECT_GET, 0, {q}, -1, NULL, out, 0};
    return c;
}
static inline coio_select_case coio_case_put(coio_queue *q, void *item)
{
    coio_select_case c = {COIO_SELECT_PUT, 0, {q}, -1, item, NULL, 0};
    return c;
}
static inline coio_select_case coio_case_event(coio_event *e)
{
    coio_select_case c = {COIO_SELECT_EVENT, 0, {e}, -1, NULL, NULL, 0};
    return c;
}
static inline coio_select_case coio_case_future(coio_future *f, void **out)
{
    coio_select_case c = {COIO_SELECT_FUTURE, 0, {f}, -1, NULL, out, 0};
    return c;
}
static inline coio_select_case coio_case_task(coio_task *t)
{
    coio_select_case c = {COIO_SELECT_TASK, 0, {t}, -1, NULL, NULL, 0};
    return c;
}
static inline coio_select_case coio_case_fd(int fd, int events)
{
    coio_select_case c = {COIO_SELECT_FD, events, {NULL}, fd, NULL, NULL, 0};
    return c;
}

/* ---- Futures (asyncio.Future, concurrent.futures.Future) ---------------------------- */

/* A one-shot value: pending until set to a result, an error or cancelled. Completing
 * calls are thread-safe: any thread, task or callback may complete a future that tasks
 * of several loops await. A task awaiting a future counts as something another thread
 * may wake, so its loop never reports -EDEADLK for it. */
typedef struct coio_future coio_future;

/* A pending future. NULL with errno ENOMEM. */
COIO_API coio_future *coio_future_create(void);
/* Frees f (any thread). -EBUSY while a task awaits it, -EINVAL for NULL. */
COIO_API int coio_future_destroy(coio_future *f);

/* Completes f with a value, an error (err < 0, else -EINVAL) or cancellation, and wakes
 * every waiter. Each returns 0, or -EALREADY if f was already complete (nothing changes),
 * -EINVAL for NULL. Thread-safe; never suspends. */
COIO_API int coio_future_set_result(coio_future *f, void *value);
COIO_API int coio_future_set_error(coio_future *f, int err);
COIO_API int coio_future_cancel(coio_future *f);

/* Waits until f is complete or `timeout` seconds have passed (< 0: no limit). Returns 0
 * and stores the value in *value (may be NULL), or f's error, or -ECANCELED if f was
 * cancelled; -ETIMEDOUT after the timeout (f stays pending: unlike asyncio.wait_for, the
 * future is not cancelled, since other tasks or threads may share it); -ECANCELED /
 * -ETIMEDOUT when the caller is cancelled / its deadline scope expires; -EINVAL (f NULL or
 * timeout NaN), -EPERM, -ENOMEM. Many tasks, on several loops, may await one future. */
COIO_API int coio_future_await(coio_future *f, double timeout, void **value);

/* Without waiting: what coio_future_await would return now, or -EAGAIN if f is pending
 * (asyncio's InvalidStateError). Thread-safe. */
COIO_API int coio_future_result(coio_future *f, void **value);
/* 1 if f is complete (result, error or cancelled), else 0. Thread-safe. */
COIO_API int coio_future_done(coio_future *f);

/* ---- Queues (asyncio.Queue, LifoQueue, PriorityQueue) ------------------------------- */

typedef struct coio_queue coio_queue;

#define COIO_QUEUE_FIFO 0
#define COIO_QUEUE_LIFO 1
#define COIO_QUEUE_PRIORITY 2 /* smallest first by cmp(); equal items leave FIFO */

/* A queue of void * items. maxsize 0 means unbounded. order is COIO_QUEUE_*; cmp is
 * required for PRIORITY and must be NULL otherwise. cmp receives the two items themselves
 * (the pointers given to put, not pointers to them as qsort's would) and returns <0, 0
 * or >0 like strcmp. NULL with errno EINVAL or ENOMEM. */
COIO_API coio_queue *coio_queue_create(int order, size_t maxsize,
                                       int (*cmp)(const void *a, const void *b));
/* Items that own memory: free_item(item) is called for every item that q drops, by
 * coio_queue_destroy and by coio_queue_shutdown(q, 1), never for items handed out by a
 * get. NULL (the default) drops items without a call. 0 or -EINVAL. */
COIO_API int coio_queue_set_item_free(coio_queue *q, void (*free_item)(void *item));
/* Frees q and drops the items left in it (see coio_queue_set_item_free). -EBUSY while a
 * task waits on q. */
COIO_API int coio_queue_destroy(coio_queue *q);

/* Adds item, waiting while q is full. A waiting getter receives the item directly.
 * Returns 0, -ESHUTDOWN (q was shut down, before or during the wait: the item was not
 * added), -ECANCELED, -ETIMEDOUT, -EPERM, -EINVAL, -ENOMEM (unbounded queue growth). */
COIO_API int coio_queue_put(coio_queue *q, void *item);
/* Removes the next item into *item, waiting while q is empty. Returns 0, -ESHUTDOWN (q
 * is shut down and empty, or was shut down with immediate=1), -ECANCELED, -ETIMEDOUT,
 * -EPERM, -EINVAL. */
COIO_API int coio_queue_get(coio_queue *q, void **item);
/* The same without waiting: -EAGAIN when q is full (put) or empty (get). */
COIO_API int coio_queue_put_nowait(coio_queue *q, void *item);
COIO_API int coio_queue_get_nowait(coio_queue *q, void **item);

/* Marks one item taken with get as processed. -EOVERFLOW if called more times than items
 * were put (asyncio's ValueError), -EINVAL. */
COIO_API int coio_queue_task_done(coio_queue *q);
/* Waits until every item ever put has been marked done (unfinished count 0). Returns 0,
 * -ECANCELED, -ETIMEDOUT, -EPERM, -EINVAL. */
COIO_API int coio_queue_join(coio_queue *q);

/* Python 3.13 Queue.shutdown(): put and put_nowait fail with -ESHUTDOWN from now on, and
 * blocked putters are released with it. Without `immediate`, gets go on returning the
 * items left and then fail with -ESHUTDOWN (blocked getters, who only wait on an empty
 * queue, are released with it at once). With `immediate`, the items left are dropped (as
 * if task_done'd, which may release join; each passed to the queue's free_item if it has
 * one), and every get fails with -ESHUTDOWN. Returns
 * the number of items dropped, or -EINVAL. Calling it again is harmless. */
COIO_API int coio_queue_shutdown(coio_queue *q, int immediate);

COIO_API size_t coio_queue_size(const coio_queue *q);    /* items in q */
COIO_API size_t coio_queue_maxsize(const coio_queue *q); /* 0: unbounded */
COIO_API int coio_queue_empty(const coio_queue *q);      /* 1 or 0 */
COIO_API int coio_queue_full(const coio_queue *q);       /* 1 or 0 (0 if unbounded) */

/* ---- Lock (asyncio.Lock) ------------------------------------------------------------ */

typedef struct coio_lock coio_lock;

COIO_API coio_lock *coio_lock_create(void);
COIO_API int coio_lock_destroy(coio_lock *l); /* -EBUSY if waited on, -EINVAL */

/* Takes the lock, waiting (FIFO) while it is held. Not reentrant: -EDEADLK if the
 * calling task holds it. Returns 0, -EDEADLK, -ECANCELED, -ETIMEDOUT, -EPERM, -EINVAL. */
COIO_API int coio_lock_acquire(coio_lock *l);
/* Takes it only if it is free and nobody waits: 0 or -EAGAIN (-EINVAL). Callbacks may
 * use it. */
COIO_API int coio_lock_try_acquire(coio_lock *l);
/* Releases the lock; the first waiter gets it directly. Any task or callback may release
 * it (as in asyncio). -EPERM if it is not held (asyncio's RuntimeError), -EINVAL. */
COIO_API int coio_lock_release(coio_lock *l);
/* 1 if held, else 0. */
COIO_API int coio_lock_locked(const coio_lock *l);

/* ---- Event (asyncio.Event) ---------------------------------------------------------- */

typedef struct coio_event coio_event;

COIO_API coio_event *coio_event_create(void);
COIO_API int coio_event_destroy(coio_event *e); /* -EBUSY if waited on, -EINVAL */
/* Sets the flag and wakes every waiter (those return 0 even if the flag is cleared
 * before they run). 0 or -EINVAL. */
COIO_API int coio_event_set(coio_event *e);
COIO_API int coio_event_clear(coio_event *e); /* 0 or -EINVAL */
COIO_API int coio_event_is_set(const coio_event *e); /* 1 or 0 */
/* Waits until the flag is set. 0, -ECANCELED, -ETIMEDOUT, -EPERM, -EINVAL. */
COIO_API int coio_event_wait(coio_event *e);

/* ---- Condition (asyncio.Condition) -------------------------------------------------- */

typedef struct coio_cond coio_cond;

/* A condition on `lock`, or on a lock of its own when lock is NULL (coio_cond_lock gives
 * it). The caller keeps ownership of a lock it passes. */
COIO_API coio_cond *coio_cond_create(coio_lock *lock);
COIO_API int coio_cond_destroy(coio_cond *c); /* -EBUSY if waited on, -EINVAL */
COIO_API coio_lock *coio_cond_lock(coio_cond *c);
/* Shorthands for coio_lock_acquire/release(coio_cond_lock(c)). */
COIO_API int coio_cond_acquire(coio_cond *c);
COIO_API int coio_cond_release(coio_cond *c);

/* With the lock held by the caller: releases it, waits for a notification, and takes the
 * lock again before returning, whatever the outcome (even when cancelled). Returns 0
 * (notified), -ECANCELED, -ETIMEDOUT, -EPERM (the caller does not hold the lock, or
 * outside a task), -EINVAL. */
COIO_API int coio_cond_wait(coio_cond *c);
/* Waits until pred(arg) returns nonzero, evaluating it with the lock held (first at once).
 * Returns 0 once it holds, or coio_cond_wait's errors (the lock is held in every case). */
COIO_API int coio_cond_wait_for(coio_cond *c, int (*pred)(void *arg), void *arg);
/* Wakes up to n waiters (FIFO) / all of them. The lock must be held (by anyone: asyncio
 * only checks that it is locked). Returns how many were woken, -EPERM (lock not held),
 * -EINVAL. */
COIO_API int coio_cond_notify(coio_cond *c, int n);
COIO_API int coio_cond_notify_all(coio_cond *c);

/* ---- Semaphores (asyncio.Semaphore, asyncio.BoundedSemaphore) ------------------------ */

typedef struct coio_sem coio_sem;

/* A semaphore with `value` permits; the bounded kind refuses to go above its initial
 * value. NULL with errno ENOMEM. */
COIO_API coio_sem *coio_sem_create(unsigned value);
COIO_API coio_sem *coio_sem_create_bounded(unsigned value);
COIO_API int coio_sem_destroy(coio_sem *s); /* -EBUSY if waited on, -EINVAL */
/* Takes a permit, waiting (FIFO) while none is left. 0, -ECANCELED, -ETIMEDOUT, -EPERM,
 * -EINVAL. */
COIO_API int coio_sem_acquire(coio_sem *s);
/* Takes a permit only if one is free and nobody waits: 0 or -EAGAIN. */
COIO_API int coio_sem_try_acquire(coio_sem *s);
/* Returns a permit; the first waiter gets it directly. -EOVERFLOW for a bounded
 * semaphore already at its initial value (asyncio's ValueError) or a count at UINT_MAX,
 * -EINVAL. */
COIO_API int coio_sem_release(coio_sem *s);
/* Free permits now. */
COIO_API unsigned coio_sem_value(const coio_sem *s);
/* 1 if acquire would wait, else 0 (asyncio: Semaphore.locked()). */
COIO_API int coio_sem_locked(const coio_sem *s);

/* ---- Barrier (asyncio.Barrier) ------------------------------------------------------ */

typedef struct coio_barrier coio_barrier;

/* A barrier for `parties` (>= 1) tasks. NULL with errno EINVAL or ENOMEM. */
COIO_API coio_barrier *coio_barrier_create(unsigned parties);
COIO_API int coio_barrier_destroy(coio_barrier *b); /* -EBUSY if waited on, -EINVAL */
/* Waits until `parties` tasks are waiting, then releases them all and the barrier starts
 * over. Returns this task's index in 0..parties-1 (the tasks that waited get 0, 1, ... in
 * arrival order; the task that completed the set gets parties-1). A waiter that is
 * cancelled or times out leaves without breaking the barrier (as in asyncio). Returns
 * -EPIPE if the barrier is or becomes broken (abort, or reset while waiting: asyncio's
 * BrokenBarrierError), -ECANCELED, -ETIMEDOUT, -EPERM, -EINVAL. */
COIO_API int coio_barrier_wait(coio_barrier *b);
/* Breaks the barrier: waiters and later waits get -EPIPE until coio_barrier_reset. */
COIO_API int coio_barrier_abort(coio_barrier *b);
/* Back to empty and unbroken; current waiters get -EPIPE. 0 or -EINVAL. */
COIO_API int coio_barrier_reset(coio_barrier *b);
COIO_API unsigned coio_barrier_parties(const coio_barrier *b);
COIO_API unsigned coio_barrier_n_waiting(const coio_barrier *b);
COIO_API int coio_barrier_broken(const coio_barrier *b); /* 1 or 0 */

/* ---- Callbacks and loop handles (loop.call_soon, call_later, call_at,
 *      call_soon_threadsafe, asyncio.get_running_loop) ---------------------------------- */

/* Callbacks run on the loop's own stack between task steps and must not suspend: every
 * suspending call made in one returns -EPERM (no task is current). They may spawn tasks,
 * complete futures, set events, release locks, use *_nowait calls and schedule callbacks.
 * Callbacks due at the same time run in the order they were scheduled. Scheduling one
 * that is due (call_soon, call_later with delay <= 0, call_at in the past) ends the
 * running loop turn, so it runs before the tasks that are ready after it: a task that
 * schedules one and yields finds it has run. One scheduled by a callback runs after one
 * step of each ready task (asyncio's next iteration). Callbacks still pending when every
 * task has finished are dropped without running, as asyncio's loop.close() drops them
 * (COIO_DEBUG=1 warns). */

/* Identifies a scheduled callback for coio_call_cancel. Plain value; valid while the loop
 * that made it runs (using it afterwards is undefined). */
typedef struct coio_call_handle {
    uint64_t coio__opaque[2];
} coio_call_handle;

/* Schedules fn(arg) for the next loop turn / after `delay` seconds / at `when` on the
 * coio_now() clock. call_later(d) is call_at(coio_now() + d): a negative delay is a
 * deadline in the past, ordered with the other due callbacks by that deadline (asyncio's
 * order), then by scheduling order. If handle is not NULL it receives a handle for
 * cancellation. Returns 0, -EINVAL (fn NULL, NaN time), -EPERM (no loop on this thread),
 * -ENOMEM. */
COIO_API int coio_call_soon(void (*fn)(void *), void *arg, coio_call_handle *handle);
COIO_API int coio_call_later(double delay, void (*fn)(void *), void *arg,
                             coio_call_handle *handle);
COIO_API int coio_call_at(double when, void (*fn)(void *), void *arg,
                          coio_call_handle *handle);
/* Cancels a callback that has not run yet. 0, -EALREADY (it ran or was cancelled),
 * -EINVAL (NULL or never-filled handle), -EPERM (no loop on this thread). */
COIO_API int coio_call_cancel(coio_call_handle *handle);

/* A loop, as seen from other threads. */
typedef struct coio_loop coio_loop;

/* This thread's running loop, with a new reference that the caller must give back with
 * coio_loop_release (from any thread). While references other than the loop's own exist,
 * the loop does not report -EDEADLK: another thread may still wake it. NULL with errno
 * EPERM (no loop on this thread) or ENOMEM. */
COIO_API coio_loop *coio_loop_current(void);
/* Drops a reference; the handle stays safe to use until its last reference is gone, even
 * after the loop has ended. Returns 0 or -EINVAL. */
COIO_API int coio_loop_release(coio_loop *loop);

/* Schedules fn(arg) on `loop` from any thread (including the loop's own) and wakes it
 * (eventfd). Callbacks posted by one thread run in the order posted. Returns 0, -EINVAL,
 * -ENOMEM, or -ESHUTDOWN if that loop has ended (fn will not run). */
COIO_API int coio_call_soon_threadsafe(coio_loop *loop, void (*fn)(void *), void *arg);
/* ==== END sync ==== */

/* ==== BEGIN net (sockets, DNS, TCP/UDP/Unix, servers) ==== */
/* docs/net.md has the long form with examples. Every call here that may suspend follows
 * the rules of suspending calls (top of this file): -EPERM outside a task, -ECANCELED when
 * the task is cancelled, -ETIMEDOUT when a deadline scope expires. Sockets that coio
 * creates or accepts are non-blocking and close-on-exec; close them with coio_close().
 *
 * SIGPIPE policy: coio_send* and coio_sendmsg/sendto pass MSG_NOSIGNAL, so a reset peer is
 * -EPIPE or -ECONNRESET, never a signal. For plain coio_write/coio_writev on a socket or a
 * pipe, the first coio_socket-family call (any function below that creates or accepts a
 * socket, and coio_server_start) sets SIGPIPE to SIG_IGN if it is still SIG_DFL, as
 * CPython does at startup; a handler or disposition the program set is left alone. */
#include <sys/socket.h> /* socklen_t, struct sockaddr, struct msghdr */
struct addrinfo;
struct iovec;

/* socket(2) with SOCK_NONBLOCK | SOCK_CLOEXEC added. Returns the fd or a negative errno. */
COIO_API int coio_socket(int domain, int type, int protocol);

/* recv/send/recvmsg/sendmsg/recvfrom/sendto/readv/writev on a non-blocking fd, suspending
 * the task (never the thread) while the call would block. Return bytes transferred (0 at
 * EOF for the receiving calls), or a negative errno: the kernel's (-ECONNRESET, -EPIPE,
 * -ENOTCONN, ...), -EBADF (also when another task coio_close()s fd meanwhile), -EINVAL,
 * -ECANCELED, -ETIMEDOUT, -EPERM. An operation interrupted by cancellation has had no
 * effect, except that one which already moved data returns its count (the next call
 * reports the interruption). Sending calls add MSG_NOSIGNAL. */
COIO_API ssize_t coio_recv(int fd, void *buf, size_t n, int flags);
COIO_API ssize_t coio_send(int fd, const void *buf, size_t n, int flags);
COIO_API ssize_t coio_recvmsg(int fd, struct msghdr *msg, int flags);
COIO_API ssize_t coio_sendmsg(int fd, const struct msghdr *msg, int flags);
COIO_API ssize_t coio_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
                               socklen_t *addrlen);
COIO_API ssize_t coio_sendto(int fd, const void *buf, size_t n, int flags,
                             const struct sockaddr *addr, socklen_t addrlen);
COIO_API ssize_t coio_readv(int fd, const struct iovec *iov, int iovcnt);
COIO_API ssize_t coio_writev(int fd, const struct iovec *iov, int iovcnt);

/* Send until all n bytes are sent (loops over partial sends). Returns n or a negative
 * errno; after an error or interruption an unknown prefix may have been sent. */
COIO_API ssize_t coio_send_all(int fd, const void *buf, size_t n, int flags);
/* writev until every byte of iov[0..iovcnt) is written; advances iov in place (it is
 * left in an unspecified state). Returns the total or a negative errno. */
COIO_API ssize_t coio_writev_all(int fd, struct iovec *iov, int iovcnt);

/* accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC: waits for a connection on listening
 * socket fd and returns the new fd (addr/addrlen may be NULL). Errors as accept4 gives
 * them (-EMFILE, -ENFILE, -ECONNABORTED, -ENOMEM, ...) plus those of suspending calls. */
COIO_API int coio_accept(int fd, struct sockaddr *addr, socklen_t *addrlen);
/* connect(2) on a non-blocking socket: returns 0 once connected or a negative errno
 * (-ECONNREFUSED, -ENETUNREACH, -ETIMEDOUT from the kernel or a deadline scope, ...).
 * An interrupted connect leaves the socket unusable: close it. AF_UNIX sockets whose
 * listener's backlog is full are retried (with back-off) until accepted. */
COIO_API int coio_connect(int fd, const struct sockaddr *addr, socklen_t addrlen);

/* Like socket.getaddrinfo() in asyncio: resolves on a worker thread, so the loop runs on.
 * Numeric hosts and services are resolved at once without a thread. On success stores a
 * list in *res that the caller frees with freeaddrinfo() and returns 0. A cancelled or
 * timed-out caller returns -ECANCELED / -ETIMEDOUT at once; the lookup finishes in the
 * background and its result is freed. Errors (EAI_* mapped to errno): -ENXIO host or
 * service not found (EAI_NONAME, EAI_NODATA, EAI_ADDRFAMILY, EAI_SERVICE), -EAGAIN
 * temporary failure (EAI_AGAIN), -EIO permanent failure (EAI_FAIL), -EAFNOSUPPORT
 * (EAI_FAMILY), -ESOCKTNOSUPPORT (EAI_SOCKTYPE), -EINVAL (EAI_BADFLAGS, or both host and
 * service NULL, or res NULL, or a bad port number), for EAI_SYSTEM the errno it came with
 * (e.g. -EMFILE), -ENOMEM, -EMFILE, -EPERM, -ECANCELED, -ETIMEDOUT.
 * A service (here and in every call below that takes one) is a port number, decimal
 * digits only from 0 to 65535, or a name from /etc/services ("http"). A service that
 * starts with a digit, sign or space, or is empty, and is not such a number ("99999",
 * "-1", " 80", "80abc", "") is -EINVAL, never a port modulo 65536. */
COIO_API int coio_getaddrinfo(const char *host, const char *service,
                              const struct addrinfo *hints, struct addrinfo **res);

/* Options of coio_tcp_connect_ex(); all-zero means the defaults of coio_tcp_connect. */
typedef struct coio_tcp_connect_opts {
    unsigned flags;              /* COIO_TCP_* */
    int family;                  /* AF_UNSPEC (0), AF_INET or AF_INET6 */
    double happy_eyeballs_delay; /* seconds between attempts; 0: 0.25 (RFC 8305);
                                  * negative or NaN: EINVAL */
} coio_tcp_connect_opts;

/* Happy Eyeballs (RFC 8305): addresses interleaved by family, a new attempt every
 * happy_eyeballs_delay or as soon as the previous one fails; the first to connect wins
 * and the others are cancelled. Without it, addresses are tried one after the other. */
#define COIO_TCP_HAPPY_EYEBALLS 0x1u
/* Leave Nagle's algorithm on (by default TCP_NODELAY is set, as asyncio does). */
#define COIO_TCP_NAGLE 0x2u
/* Listening: also set SO_REUSEPORT (several sockets may share the port). */
#define COIO_TCP_REUSEPORT 0x4u
/* Listening on an IPv6 address: IPV6_V6ONLY (no IPv4-mapped connections). */
#define COIO_TCP_V6ONLY 0x8u

/* Connects to host:service (service: port number or name) trying every resolved address
 * in order, and returns a connected non-blocking CLOEXEC fd with TCP_NODELAY. Bound the
 * whole call with a deadline scope. Errors: those of coio_getaddrinfo, then the last
 * connect error (-ECONNREFUSED, -ENETUNREACH, -EHOSTUNREACH, -ETIMEDOUT, ...), -EMFILE,
 * -ENOMEM, -ECANCELED, -ETIMEDOUT (scope), -EPERM, -EINVAL (host or service NULL, a bad
 * port number, happy_eyeballs_delay negative or NaN). */
COIO_API int coio_tcp_connect(const char *host, const char *service);
COIO_API int coio_tcp_connect_ex(const char *host, const char *service,
                                 const coio_tcp_connect_opts *opts);

/* Options of coio_tcp_listen_ex(); all-zero means the defaults. */
typedef struct coio_tcp_listen_opts {
    unsigned flags; /* COIO_TCP_REUSEPORT, COIO_TCP_V6ONLY */
    int family;     /* AF_UNSPEC (0), AF_INET or AF_INET6 */
    int backlog;    /* <= 0: SOMAXCONN */
} coio_tcp_listen_opts;

/* Binds a listening socket (SO_REUSEADDR) to the first resolved address of host:service
 * that works (host NULL: the wildcard address; service "0": an ephemeral port, which
 * coio_sock_port reads) and returns it (non-blocking, CLOEXEC). backlog <= 0 means SOMAXCONN.
 * Errors: those of coio_getaddrinfo, -EADDRINUSE, -EACCES, -EADDRNOTAVAIL, -EMFILE, ... */
COIO_API int coio_tcp_listen(const char *host, const char *service, int backlog);
COIO_API int coio_tcp_listen_ex(const char *host, const char *service,
                                const coio_tcp_listen_opts *opts);

/* Unix-domain stream sockets. A path starting with '@' names an abstract socket (Linux;
 * the '@' becomes the leading NUL byte). coio_unix_listen replaces a stale socket file at
 * path (like asyncio) but never another kind of file (-EADDRINUSE); it does not remove
 * the file when the socket is closed. backlog <= 0 means SOMAXCONN, as for
 * coio_tcp_listen. Errors: -ENAMETOOLONG (path longer than
 * sun_path), -EINVAL (path NULL or empty), the kernel's (-ENOENT, -ECONNREFUSED, ...),
 * and those of suspending calls for connect. */
COIO_API int coio_unix_connect(const char *path);
COIO_API int coio_unix_listen(const char *path, int backlog);

/* UDP: a socket bound to host:service (host NULL: wildcard, service "0": ephemeral), or
 * one connected to host:service (so coio_send/coio_recv work and only that peer's
 * datagrams arrive). Use coio_sendto/coio_recvfrom for datagrams. Errors as for TCP. */
COIO_API int coio_udp_bind(const char *host, const char *service);
COIO_API int coio_udp_connect(const char *host, const char *service);

/* Socket addresses as text, numeric only (never a DNS lookup): "127.0.0.1:8080",
 * "[::1]:8080" (a link-local address with its "%scope"), a Unix path as is, an abstract
 * Unix name as "@name", an unnamed Unix socket as "". A buffer of COIO_ADDRSTRLEN bytes
 * holds any of them. */
#define COIO_ADDRSTRLEN 112
/* Formats sa (len bytes, as accept(2) or recvfrom(2) filled it) into buf and returns the
 * length of the text. -EINVAL (NULL, cap 0, len too short), -EAFNOSUPPORT (not
 * AF_INET, AF_INET6 or AF_UNIX), -ENOSPC (cap too small; buf is then ""). */
COIO_API int coio_sockaddr_format(const struct sockaddr *sa, socklen_t len, char *buf,
                                  size_t cap);
/* The peer (getpeername) or the local address (getsockname) of socket fd, formatted as
 * above: coio_peer_name(fd, buf, sizeof buf) in a server's handler names the client.
 * Errors as coio_sockaddr_format, and the kernel's: -ENOTCONN (not connected, or the
 * peer has already reset the connection), -ENOTSOCK, -EBADF. Never suspend. */
COIO_API int coio_peer_name(int fd, char *buf, size_t cap);
COIO_API int coio_sock_name(int fd, char *buf, size_t cap);
/* The local port of an AF_INET/AF_INET6 socket fd: the port the kernel chose for a
 * listener bound to service "0" (for a server: coio_sock_port(coio_server_fd(s))).
 * -EAFNOSUPPORT for other families, -ENOTSOCK, -EBADF. */
COIO_API int coio_sock_port(int fd);

/* Servers, like asyncio.start_server: an accept loop task that runs handler(fd, arg) in
 * a new task for every connection. By default the server closes fd when the handler
 * returns (the handler must not close it; shutdown(2) is fine). coio_peer_name(fd, ...)
 * names the client. */
typedef struct coio_server coio_server;

typedef struct coio_server_opts {
    size_t max_connections;  /* 0: unlimited; at the limit the server stops accepting
                              * (clients wait in the backlog) until a handler returns */
    size_t stack_size;       /* of handler tasks; 0: COIO_STACK_SIZE_DEFAULT */
    unsigned flags;          /* COIO_SERVER_* */
    double accept_retry_max; /* longest back-off after EMFILE/ENFILE/ENOBUFS/ENOMEM;
                              * <= 0: 1 s; NaN: EINVAL */
} coio_server_opts;

/* The handler owns fd and closes it (with coio_close) itself. */
#define COIO_SERVER_HANDLER_CLOSES 0x1u

typedef struct coio_server_stats {
    uint64_t accepted;      /* connections accepted */
    uint64_t active;        /* handlers running (or about to start) */
    uint64_t accept_errors; /* accept failures survived (EMFILE, ECONNABORTED, ...) */
    int last_error;         /* the latest of them, as a negative errno; 0 if none */
} coio_server_stats;

/* Starts serving listen_fd (a listening socket, e.g. from coio_tcp_listen), which the
 * server then owns. Returns the server, or NULL with errno EINVAL (handler NULL,
 * listen_fd < 0, accept_retry_max NaN), EPERM (outside a task) or ENOMEM. The server
 * survives EMFILE, ENFILE, ENOBUFS and ENOMEM (backing off from 10 ms, doubling up to
 * accept_retry_max) and ECONNABORTED, EPROTO, EPERM and network errors (retrying at
 * once, but backing off the same way from the 9th of them in a row). */
COIO_API coio_server *coio_server_start(int listen_fd, int (*handler)(int fd, void *arg),
                                        void *arg, const coio_server_opts *opts);

/* Graceful shutdown, then frees s: stops accepting and closes the listening socket,
 * waits up to `grace` seconds (< 0: no limit) for the handlers to return, then cancels
 * the rest and waits for them. Returns how many handlers had to be cancelled (>= 0),
 * -ECANCELED if the caller was cancelled meanwhile (the shutdown still completes, with
 * the remaining handlers cancelled at once), -EINVAL (s NULL or grace NaN), -EPERM
 * (outside a task; s is left untouched). Every server must be closed before the loop
 * ends. */
COIO_API int coio_server_close(coio_server *s, double grace);

/* Like Server.serve_forever(): suspends until the accept loop stops because the server
 * is closed (returns 0) or accepting failed for good (returns that error, e.g. -EBADF,
 * -EINVAL). Also -ECANCELED, -ETIMEDOUT, -EPERM, -EINVAL (s NULL), -EBUSY (another task
 * already waits). */
COIO_API int coio_server_wait(coio_server *s);

/* Like asyncio's Server.close_clients(): ends every connection of s now. Running handlers
 * are cancelled (their suspending calls return -ECANCELED; they finish their cleanup and
 * return, and the server closes their fds as usual); accepted connections whose handler
 * has not started yet are closed without running it. The accept loop goes on (to cut a
 * graceful shutdown short, call it from another task while coio_server_close waits out
 * its grace period). Never suspends; works from callbacks. Returns how many connections it ended,
 * or -EINVAL (s NULL). */
COIO_API int coio_server_close_clients(coio_server *s);
/* Like Server.abort_clients(): the same, and the connections are reset (SO_LINGER 0: the
 * closing sends a RST, queued data is dropped, the client sees ECONNRESET). With
 * COIO_SERVER_HANDLER_CLOSES a started handler owns its fd (it may have closed it
 * already), so only the connections whose handler has not started are reset; the
 * others are cancelled as by coio_server_close_clients. */
COIO_API int coio_server_abort_clients(coio_server *s);

/* Counters of s; returns 0 or -EINVAL. */
COIO_API int coio_server_stats_get(const coio_server *s, coio_server_stats *out);
/* The listening fd of s (for coio_sock_port / coio_sock_name), or -EINVAL. */
COIO_API int coio_server_fd(const coio_server *s);
/* ==== END net ==== */

/* ==== BEGIN stream (buffered streams) ==== */

/* Like asyncio's StreamReader and StreamWriter in one object, over any fd (socket, pipe,
 * tty); docs/streams.md has the long form. A stream belongs to the loop it is used in
 * and must be closed before that loop ends. One task at a time may read (a second
 * concurrent reader gets -EBUSY); any number of tasks may write and drain.
 *
 * Errors particular to streams:
 *   -EPIPE     a read needed more bytes but the stream ended (EOF first);
 *              a write after coio_stream_write_eof()
 *   -EMSGSIZE  a line / separator / read-to-EOF did not fit the limit: nothing was
 *              consumed, the data stays buffered for the next call
 *   -EBUSY     another task is already reading from the stream
 *   -EBADF     the stream was closed (by another task) during the call
 * Suspending calls also return -ECANCELED, -ETIMEDOUT and -EPERM as every suspending
 * call does; an interrupted read consumes nothing, so no buffered data is lost. */
typedef struct coio_stream coio_stream;
struct iovec; /* <sys/uio.h> */

#define COIO_STREAM_LIMIT_DEFAULT (64u * 1024u)
#define COIO_STREAM_HIGH_WATER_DEFAULT (64u * 1024u)
#define COIO_STREAM_LOW_WATER_DEFAULT (16u * 1024u)
/* The stream owns the fd: closing the stream closes it. */
#define COIO_STREAM_OWN_FD 0x1u
/* Writes are held in the buffer instead of being tried at once, and go out when a read
 * on the stream has to read the fd, on flush / write_eof / close, or once more than
 * high_water bytes are held: a server answering pipelined requests then sends all the
 * answers with one write. A write while another task waits in a read is not held.
 * drain() does not send held data; flush() does. */
#define COIO_STREAM_FLUSH_ON_READ 0x2u

/* Options for coio_stream_open_ex(); zero means "default" for every field. */
typedef struct coio_stream_opts {
    unsigned flags;    /* COIO_STREAM_* */
    size_t limit;      /* longest line / separated record, in bytes, without separator */
    size_t high_water; /* coio_stream_drain() suspends above this many buffered bytes... */
    size_t low_water;  /* ...until at most this many remain (low_water <= high_water) */
} coio_stream_opts;

/* Creates a stream over fd, which is made non-blocking (O_NONBLOCK). Does not suspend.
 * Returns NULL with errno EBADF (fd < 0), EINVAL (low_water > high_water) or ENOMEM.
 * The stream is released by coio_stream_close() or coio_stream_abort() only. */
COIO_API coio_stream *coio_stream_open(int fd, unsigned flags);
COIO_API coio_stream *coio_stream_open_ex(int fd, const coio_stream_opts *opts);

/* The fd the stream reads and writes (-1 after write_eof closed a non-socket fd). */
COIO_API int coio_stream_fd(const coio_stream *s);

/* --- reading: every call below suspends until it can complete ------------------- */

/* Reads up to n bytes: what is buffered, else one read(2). Returns the count (> 0),
 * 0 at EOF (or n == 0). Errors: the read(2) errno, -EBUSY, -EBADF, -ECANCELED,
 * -ETIMEDOUT, -EPERM, -ENOMEM. */
COIO_API ssize_t coio_stream_read(coio_stream *s, void *buf, size_t n);

/* Reads exactly n bytes into buf and returns n. If the stream ends first: -EPIPE, and
 * the partial data is consumed into buf with its length in *got (asyncio's
 * IncompleteReadError.partial). On every other error nothing is consumed and *got = 0.
 * got may be NULL. n may exceed the limit (the buffer grows to n). */
COIO_API ssize_t coio_stream_read_exactly(coio_stream *s, void *buf, size_t n, size_t *got);

/* Reads up to and including the next "\n" into buf (not NUL-terminated) and returns its
 * length. At EOF returns the last, unterminated line, then 0. As in asyncio, the limit
 * counts the line without its separator: a line of exactly `limit` bytes plus "\n" is
 * read. -EMSGSIZE when the line is longer than the limit or, with its "\n", than cap:
 * nothing is consumed, coio_stream_overrun() tells how much of it is buffered, and
 * coio_stream_skip_until() drops it. Other errors as coio_stream_read. */
COIO_API ssize_t coio_stream_readline(coio_stream *s, void *buf, size_t cap);

/* Like readline with any separator of seplen >= 1 bytes (asyncio readuntil). If the
 * stream ends before a separator: -EPIPE, and the partial data stays buffered for
 * coio_stream_read/read_all (coio_stream_buffered() is its length). read_exactly hands
 * its partial data over instead, because it has an out-parameter for the length; here
 * the return value is the error, so the data waits in the buffer and nothing is lost. */
COIO_API ssize_t coio_stream_read_until(coio_stream *s, const void *sep, size_t seplen,
                                        void *buf, size_t cap);

/* After -EMSGSIZE from readline/read_until (asyncio's LimitOverrunError.consumed): the
 * length of the over-long record through its separator when the separator is buffered,
 * else the number of its bytes buffered so far (the record goes on). 0 otherwise. */
COIO_API size_t coio_stream_overrun(const coio_stream *s);

/* Drops everything up to and including the next separator, whatever its length (the
 * buffer does not grow), and returns the number of bytes dropped. The way to skip a
 * record readline refused. -EPIPE if the stream ends first (the rest is dropped); other
 * errors as coio_stream_read. */
COIO_API ssize_t coio_stream_skip_until(coio_stream *s, const void *sep, size_t seplen);

/* Reads until EOF into buf and returns the count (asyncio read(-1)). -EMSGSIZE if the
 * stream holds more than cap bytes: nothing is consumed. */
COIO_API ssize_t coio_stream_read_all(coio_stream *s, void *buf, size_t cap);

/* 1 if the peer's EOF was seen and nothing is left buffered (asyncio at_eof), else 0. */
COIO_API int coio_stream_at_eof(const coio_stream *s);
/* Bytes readable without suspending. */
COIO_API size_t coio_stream_buffered(const coio_stream *s);
/* Sets the limit (0: the default). Returns 0 or -EINVAL (s NULL). */
COIO_API int coio_stream_set_limit(coio_stream *s, size_t limit);

/* --- writing -------------------------------------------------------------------- */

/* Queues n bytes without suspending (asyncio write): tries one write(2) at once when
 * nothing is queued, buffers the rest, and a background task of the stream writes it
 * out. Returns n, or an error: the first write error seen (e.g. -EPIPE, -ECONNRESET,
 * sticky), -EPIPE after write_eof, -ENOMEM. Sockets are written with MSG_NOSIGNAL; a
 * pipe whose reader has gone raises SIGPIPE unless the program ignores it. */
COIO_API ssize_t coio_stream_write(coio_stream *s, const void *buf, size_t n);
/* The same for iovcnt buffers (at most IOV_MAX), sent with one writev when possible. */
COIO_API ssize_t coio_stream_writev(coio_stream *s, const struct iovec *iov, int iovcnt);

/* Flow control (asyncio drain): returns at once if at most high_water bytes are queued,
 * else suspends until at most low_water remain. Returns 0, the sticky write error,
 * -ECANCELED, -ETIMEDOUT, -EPERM, -EBADF, -ENOMEM. Interrupted, the data stays queued. */
COIO_API int coio_stream_drain(coio_stream *s);
/* Suspends until everything queued is written. Errors as coio_stream_drain. */
COIO_API int coio_stream_flush(coio_stream *s);
/* Half-close (asyncio write_eof): flushes, then shutdown(SHUT_WR) on a socket, or
 * closes a non-socket fd the stream owns (-ENOTSOCK if it does not own it). Reading
 * goes on. Errors as coio_stream_flush, and shutdown's. */
COIO_API int coio_stream_write_eof(coio_stream *s);
/* Bytes queued and not yet written. */
COIO_API size_t coio_stream_write_buffered(const coio_stream *s);

/* --- closing: each releases s in every case; s must not be used afterwards -------- */

/* asyncio's `writer.close(); await writer.wait_closed()` in one call: flushes what is
 * queued, closes the fd if owned (a regular file's on the worker pool, as its close may
 * wait for write-back) and frees the stream. Calls blocked on s in other tasks return
 * -EBADF. Returns 0, or why queued data was discarded: the sticky write error,
 * -ECANCELED, -ETIMEDOUT, -EPERM (outside a task with data queued), or close's -EIO. */
COIO_API int coio_stream_close(coio_stream *s);
/* Closes at once, discarding queued data (asyncio transport.abort()). Never suspends;
 * works outside a task. Returns 0, or -EINVAL for NULL. */
COIO_API int coio_stream_abort(coio_stream *s);

/* ==== END stream ==== */

/* ==== BEGIN files ==== */

/* Files, for tasks (docs/files.md has the long form). On io_uring the kernel performs
 * the operations it has (open, close, read, write, fsync, fallocate, statx, unlink,
 * rename, mkdir); everything else, and every call on epoll, runs on the worker pool
 * (coio_to_thread's). So a slow disk, a page-cache miss or a blocking open (a FIFO)
 * suspends the calling task only, never the loop. They are suspending calls: -EPERM outside a task, -ECANCELED / -ETIMEDOUT when
 * the task is cancelled or its deadline scope expires. Errors are the kernel's as negative
 * errnos (-ENOENT, -EISDIR, -ENOTDIR, -EBADF, -EACCES, -ENOSPC, ...), and -EINVAL for a
 * NULL pointer or negative offset.
 *
 * Cancellation: a call returns only when no thread and no kernel request can still touch
 * its buffer or paths. A request not started yet is dropped and has no effect. One
 * already running is waited for; if it succeeded its result is returned (bytes read or
 * written, an fd) and the next suspending call reports the interruption, as for sockets.
 * Reads and writes larger than 2 MiB are done 2 MiB at a time: interrupted, they return
 * the bytes done so far (> 0). The caller's buffer past the count a read returns is left
 * untouched; a write has written exactly the bytes it reports (none for -ECANCELED) to a
 * regular file, and nothing after them. */
struct stat;  /* <sys/stat.h> */
struct statx; /* <sys/stat.h>, _GNU_SOURCE */

/* openat(2) with O_CLOEXEC added; mode is used with O_CREAT / O_TMPFILE. Returns the fd.
 * On io_uring a FIFO is opened without waiting for its other end.
 * The fd may also be used with coio_read/coio_write and streams, which run off the loop
 * thread too (docs/files.md). */
COIO_API int coio_file_open(const char *path, int flags, mode_t mode);
COIO_API int coio_file_openat(int dirfd, const char *path, int flags, mode_t mode);
/* close(2), off the loop thread (a close may write back data, e.g. on NFS), except for an
 * fd that coio_file_open opened read-only on a local file system (a regular file
 * or directory of at most 64 MiB on ext4, XFS, Btrfs, tmpfs, F2FS), whose close only
 * touches memory and runs inline (docs/files.md). The fd is released in every case, even
 * when the caller is cancelled meanwhile; an error (-EIO) means data written earlier may
 * be lost. Outside a task it is close(2). */
COIO_API int coio_file_close(int fd);

/* read(2)/write(2) at the file position and pread(2)/pwrite(2) at offset. A read returns
 * fewer than n bytes only at the end of the file; 0 at EOF. */
COIO_API ssize_t coio_file_read(int fd, void *buf, size_t n);
COIO_API ssize_t coio_file_write(int fd, const void *buf, size_t n);
COIO_API ssize_t coio_file_pread(int fd, void *buf, size_t n, int64_t offset);
COIO_API ssize_t coio_file_pwrite(int fd, const void *buf, size_t n, int64_t offset);
/* Vectored forms (iovcnt <= IOV_MAX), each one request whatever its size. */
COIO_API ssize_t coio_file_readv(int fd, const struct iovec *iov, int iovcnt);
COIO_API ssize_t coio_file_writev(int fd, const struct iovec *iov, int iovcnt);
COIO_API ssize_t coio_file_preadv(int fd, const struct iovec *iov, int iovcnt, int64_t offset);
COIO_API ssize_t coio_file_pwritev(int fd, const struct iovec *iov, int iovcnt,
                                   int64_t offset);

/* fsync(2), fdatasync(2), fallocate(2) (mode: FALLOC_FL_*, 0 to allocate; len > 0),
 * ftruncate(2). Return 0 or a negative errno. */
COIO_API int coio_file_fsync(int fd);
COIO_API int coio_file_fdatasync(int fd);
COIO_API int coio_file_fallocate(int fd, int mode, int64_t offset, int64_t len);
COIO_API int coio_file_ftruncate(int fd, int64_t len);

/* stat(2), lstat(2), fstat(2), and statx(2) (dirfd AT_FDCWD or a directory, flags
 * AT_*, mask STATX_*). fstat, and statx of (fd, "", AT_EMPTY_PATH), run inline on the
 * read-only local fds that coio_file_close closes inline (on io_uring, from Linux 6.10,
 * the first such call on an fd finds out whether it is one; not on tmpfs there). */
COIO_API int coio_file_stat(const char *path, struct stat *st);
COIO_API int coio_file_lstat(const char *path, struct stat *st);
COIO_API int coio_file_fstat(int fd, struct stat *st);
COIO_API int coio_file_statx(int dirfd, const char *path, int flags, unsigned mask,
                             struct statx *out);

/* unlink(2), rename(2) (replaces `to` atomically), mkdir(2), rmdir(2). */
COIO_API int coio_file_unlink(const char *path);
COIO_API int coio_file_rename(const char *from, const char *to);
COIO_API int coio_file_mkdir(const char *path, mode_t mode);
COIO_API int coio_file_rmdir(const char *path);

/* Directory listing, like os.scandir: coio_dir_open stores an open directory in *out
 * (NULL on error) and returns 0; coio_dir_next fills *e with the next entry ("." and ".."
 * are skipped) and returns 1, or 0 at the end, or a negative errno. e->name is valid
 * until the next call on d. coio_dir_close frees d (never suspends). */
typedef struct coio_dir coio_dir;
typedef struct coio_dirent {
    const char *name;
    uint64_t ino;
    unsigned char type; /* DT_REG, DT_DIR, DT_LNK, ... ; DT_UNKNOWN: ask coio_file_lstat */
} coio_dirent;
COIO_API int coio_dir_open(const char *path, coio_dir **out);
COIO_API int coio_dir_next(coio_dir *d, coio_dirent *e);
COIO_API int coio_dir_close(coio_dir *d);

/* Reads the whole file at path into a new buffer (*data, to be freed with free(); one
 * byte longer than the count, holding a NUL) and returns the count. -EFBIG (nothing
 * stored) if it holds more than cap bytes; -EISDIR; -ENOMEM. Small files take one
 * request of the pool (open, read, close together). */
COIO_API ssize_t coio_file_read_all(const char *path, size_t cap, void **data);

/* Flags of coio_file_write_all / coio_file_copy. */
#define COIO_FILE_ATOMIC 0x1u /* write a temporary file beside path, fsync it, rename it
                               * over path, fsync the directory: readers (and a crash)
                               * see the old content or the new, never a mix */
#define COIO_FILE_SYNC 0x2u   /* fsync the file before returning */
#define COIO_FILE_EXCL 0x4u   /* fail with -EEXIST if the destination exists */

/* Writes n bytes as the whole content of path (created with mode 0666 & ~umask, or
 * truncated). With COIO_FILE_ATOMIC, the file replaced keeps its permissions, and an
 * error or cancellation leaves the old content and no temporary file; once the rename
 * has happened the call returns 0 even if cancelled. Returns 0 or a negative errno. */
COIO_API int coio_file_write_all(const char *path, const void *data, size_t n,
                                 unsigned flags);

/* Copies the file `from` to `to` (created with from's permission bits, or truncated)
 * with copy_file_range(2), which copies inside the kernel (or shares extents on btrfs and
 * XFS), falling back to read/write where the kernel refuses it. flags: COIO_FILE_SYNC,
 * COIO_FILE_EXCL. Returns the bytes copied; on error (and cancellation) `to` is removed. */
COIO_API int64_t coio_file_copy(const char *from, const char *to, unsigned flags);

/* Sends count bytes of file_fd from offset to the non-blocking socket sock with
 * sendfile(2), without copying through user space (asyncio's loop.sendfile). Waits for
 * room in the socket as coio_write does. A range wholly in the page cache (cachestat(2),
 * Linux 6.5) is sent from the loop thread, any other on the worker pool, as reading it
 * may wait for the disk. Returns the bytes sent: count, less if the file
 * ends first, or the bytes sent so far when an error or interruption comes after some
 * were sent. The file position of file_fd is not used or moved. */
COIO_API ssize_t coio_sendfile(int sock, int file_fd, int64_t offset, size_t count);
/* The same on a stream's socket: flushes what the stream has queued (coio_stream_flush),
 * then sends the file. No other task may write to s meanwhile. Errors also those of
 * coio_stream_flush, and -EPIPE after coio_stream_write_eof. */
COIO_API ssize_t coio_stream_sendfile(coio_stream *s, int file_fd, int64_t offset,
                                      size_t count);

/* ==== END files ==== */

/* ------------------------------------------------------------------------------------
 * Debugging
 * ------------------------------------------------------------------------------------ */

/* Writes one line per task of this thread's loop: id, name, state, what it waits on, its
 * stack use, and a waiting task's details: the fd of an I/O wait, the object of another
 * wait, the time left to its timeout, and under COIO_DEBUG how long it has waited. Then,
 * if tasks of this loop have failed (finished with a negative result other than
 * -ECANCELED), the last 16 of them, newest first: id, name, error and how long ago.
 * Returns the number of tasks listed (failed ones not counted), or -EPERM without a
 * loop, -EINVAL for NULL. */
COIO_API int coio_dump_tasks(FILE *out);

/* The execution trace (docs/trace.md), like Go's runtime/trace: while it is on, this
 * thread's loop records task spawns and finishes (with name and result, failures marked),
 * every run slice, what each wait waited on (the same names as coio_dump_tasks, with
 * the fd of an I/O wait) and who woke it, I/O results, task timers and worker-pool jobs,
 * into a ring of `events` fixed-size events (0: 65536; rounded up to a power of two, 16
 * to 2^26). When the ring is full the oldest events are overwritten: the trace
 * keeps the latest ones. Recording allocates nothing per event. Setting COIO_TRACE=path
 * (and optionally COIO_TRACE_EVENTS=n) traces every loop from its start to its end; the
 * first loop of the process writes path, later ones path.2, path.3...
 *
 * coio_trace_start creates (or truncates) the file at once, so a bad path fails here.
 * Returns 0, -EPERM outside coio_run, -EINVAL (path NULL or empty), -EALREADY if the
 * loop already traces, -ENOMEM, or open(2)'s error. Does not suspend. */
COIO_API int coio_trace_start(const char *path, size_t events);
/* Stops the loop's trace and writes it as Chrome/Perfetto trace-event JSON (open it in
 * ui.perfetto.dev or chrome://tracing; tools/coio-trace-summary.py summarises it). A
 * trace still on when the loop ends is written then. Writing blocks the loop thread.
 * Returns 0, -EPERM outside coio_run, -EALREADY if the loop does not trace, or the
 * error of writing the file. */
COIO_API int coio_trace_stop(void);

/* ==== BEGIN process (child processes; docs/process.md) ==== */

/* Like asyncio's create_subprocess_exec and Process. Spawning never suspends; waiting
 * does. Each of the child's stdin, stdout and stderr is one of: */
#define COIO_STDIO_INHERIT 0 /* the parent's (the default) */
#define COIO_STDIO_DEVNULL 1 /* /dev/null */
#define COIO_STDIO_PIPE 2    /* a pipe; the parent's end is a coio stream */
#define COIO_STDIO_FILE 3    /* path, opened with oflags */
#define COIO_STDIO_FD 4      /* a dup of fd (the caller keeps fd) */
#define COIO_STDIO_STDOUT 5  /* stderr only: wherever stdout goes (2>&1) */

typedef struct coio_stdio {
    int how;          /* COIO_STDIO_* */
    int fd;           /* COIO_STDIO_FD */
    const char *path; /* COIO_STDIO_FILE */
    int oflags;       /* COIO_STDIO_FILE: open(2) flags; 0: O_RDONLY for stdin,
                       * O_WRONLY | O_CREAT | O_TRUNC (mode 0666 & ~umask) otherwise */
} coio_stdio;

/* The child starts a new process group (its pgid is its pid). */
#define COIO_PROCESS_NEW_PGROUP 0x1u
/* The child starts a new session (setsid: no controlling terminal, its own group). */
#define COIO_PROCESS_NEW_SESSION 0x2u
/* Cancellation, timeouts and close signal the child's whole process group, so the
 * grandchildren that hold its pipes die too. Implies COIO_PROCESS_NEW_PGROUP. */
#define COIO_PROCESS_KILL_GROUP 0x4u

/* Options of coio_process_spawn(); all-zero means: inherit environment, directory and
 * the three standard fds. */
typedef struct coio_process_opts {
    const char *const *env; /* NULL-terminated "NAME=value" list; NULL: the parent's */
    const char *cwd;        /* NULL: the parent's */
    coio_stdio stdio[3];    /* stdin, stdout, stderr */
    unsigned flags;         /* COIO_PROCESS_* */
    double kill_grace;      /* ending a child (cancellation, timeout, close): 0 sends
                             * SIGKILL; > 0 sends SIGTERM, waits up to kill_grace seconds,
                             * then SIGKILL */
} coio_process_opts;

typedef struct coio_process coio_process;

/* Starts argv[0] with arguments argv (NULL-terminated); argv[0] without a '/' is looked
 * up in PATH. The child starts with no signal blocked, SIGPIPE and SIGXFSZ at their
 * default action, and only fds 0-2 open. On success stores the process in *out (to be
 * released by coio_process_close, in the same loop, before it ends) and returns 0.
 * A program that cannot be executed is an error here, never a child exiting 127:
 * -ENOENT (no such file, or a missing cwd), -EACCES (not executable), -ENOEXEC (not a
 * format the kernel runs), -E2BIG, -ENOMEM, -EMFILE, or open's error for a
 * COIO_STDIO_FILE. Also -EINVAL (out, argv or argv[0] NULL, a bad stdio or kill_grace),
 * -EBADF (COIO_STDIO_FD with fd < 0), -EPERM (no loop on this thread). */
COIO_API int coio_process_spawn(coio_process **out, const char *const *argv,
                                const coio_process_opts *opts);
/* Like create_subprocess_shell: coio_process_spawn of /bin/sh -c command. */
COIO_API int coio_process_shell(coio_process **out, const char *command,
                                const coio_process_opts *opts);

/* Exit statuses: 0-255 is the child's exit code, COIO_PROCESS_SIGNALED + N means it was
 * killed by signal N (asyncio's returncode -N). Errors are negative, as always. */
#define COIO_PROCESS_SIGNALED 256
#define COIO_PROCESS_EXITED(st) ((st) >= 0 && (st) < COIO_PROCESS_SIGNALED)
#define COIO_PROCESS_TERMSIG(st) ((st) >= COIO_PROCESS_SIGNALED ? (st) - COIO_PROCESS_SIGNALED : 0)

/* Suspends until the child exits, reaps it and returns its status (above). Any number of
 * tasks may wait. If the wait is cancelled or a deadline scope expires, the child is
 * ended (kill_grace) and reaped before -ECANCELED / -ETIMEDOUT is returned. Also
 * -EINVAL, -EPERM, -ECHILD (reaped by someone else: SIGCHLD set to SIG_IGN). */
COIO_API int coio_process_wait(coio_process *p);
/* Never suspends: the status if the child has exited (reaping it), else -EAGAIN. */
COIO_API int coio_process_poll(coio_process *p);
/* Sends sig to the child (0 checks it exists). -ESRCH once it has been reaped, -EINVAL. */
COIO_API int coio_process_kill(coio_process *p, int sig);
/* The child's pid, or -EINVAL. */
COIO_API pid_t coio_process_pid(const coio_process *p);
/* The parent's end of a COIO_STDIO_PIPE as a stream owned by p (NULL otherwise): do not
 * close it; coio_process_close does. coio_stream_write_eof closes the child's stdin. */
COIO_API coio_stream *coio_process_stdin(const coio_process *p);
COIO_API coio_stream *coio_process_stdout(const coio_process *p);
COIO_API coio_stream *coio_process_stderr(const coio_process *p);

/* Releases p: a child still running is ended (SIGKILL, to its group with KILL_GROUP;
 * SIGTERM first with kill_grace) and reaped, then the pipes are closed. Inside a task
 * it suspends for that, ignoring cancellation; outside one it blocks the thread.
 * Returns 0 or -EINVAL. */
COIO_API int coio_process_close(coio_process *p);

/* coio_process_communicate's arguments and results. */
typedef struct coio_communicate {
    const void *input;  /* written to stdin (needs a pipe), which is then closed */
    size_t input_len;
    void *out;          /* stdout (needs a pipe) up to out_cap bytes; NULL: discarded */
    size_t out_cap;
    size_t out_len;     /* result: bytes stored in out */
    void *err;          /* the same for stderr */
    size_t err_cap;
    size_t err_len;
    double timeout;     /* seconds for the whole call; 0: none */
    unsigned truncated; /* result: 1 stdout, 2 stderr had more than the cap (discarded) */
} coio_communicate;

/* Like Process.communicate: writes input, then closes stdin (also without input when it
 * is a pipe); reads stdout and stderr to their end, concurrently, so no pipe fills up;
 * waits for the exit and returns the status. Output past a cap is read and discarded
 * (truncated says so). When the timeout expires or the caller is cancelled, the child is
 * ended (kill_grace; its group with KILL_GROUP) and reaped, and -ETIMEDOUT / -ECANCELED
 * is returned with the output read so far. Also -EINVAL (p or c NULL, timeout negative
 * or NaN, input without a stdin pipe), -EPERM, and stream read errors. */
COIO_API int coio_process_communicate(coio_process *p, coio_communicate *c);

/* ==== END process ==== */

/* ==== BEGIN signal (signal receivers; docs/process.md) ==== */

/* Like Trio's open_signal_receiver (asyncio's add_signal_handler): from coio_signals_open
 * on, every arrival of the given signals is counted for this receiver, whether or not a
 * task is waiting, until coio_signals_close. Several receivers (in any loops) for the
 * same signal each get every arrival. coio installs its own handler for those signals
 * while a receiver needs them and restores the previous disposition after; nothing is
 * blocked, so the signals must not be blocked in every thread of the program (coio's
 * own threads block them all). The kernel merges arrivals of an ordinary signal that
 * is already pending; real-time signals queue, and each one counts.
 * Returns NULL with errno EINVAL (sigs NULL, n 0, SIGKILL, SIGSTOP, or a fault signal:
 * SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS), EPERM (no loop on this thread),
 * ENOMEM. A receiver belongs to its loop and must be closed before that loop ends. */
typedef struct coio_signals coio_signals;
COIO_API coio_signals *coio_signals_open(const int *sigs, size_t n);

/* Takes one counted arrival, suspending up to `timeout` seconds (< 0: no limit; 0: only
 * look) until there is one, and returns its signal number. The lowest-numbered pending
 * signal goes first; tasks waiting on one receiver take arrivals first come, first
 * served. Errors: -ETIMEDOUT, -ECANCELED, -EPERM, -EINVAL (r NULL, timeout NaN, another
 * loop's receiver). */
COIO_API int coio_signals_wait(coio_signals *r, double timeout);

/* Stops counting and frees r. 0, -EINVAL, or -EBUSY while a task waits on it. */
COIO_API int coio_signals_close(coio_signals *r);

/* Ctrl-C, like asyncio.run: during coio_run on the main thread, if the program left
 * SIGINT at its default action, the first SIGINT cancels main's task (coio_run then
 * returns main's result, -ECANCELED if it let the cancellation through) and a second one
 * before coio_run returns restores the default action and raises it again. Under
 * COIO_DEBUG, SIGQUIT (or COIO_DUMP_SIGNAL) writes coio_dump_tasks to stderr and the
 * program goes on. Both only take a signal left at its default action. */

/* ==== END signal ==== */

/* ==== BEGIN tls (TLS over TCP, on OpenSSL) ==== */

/* TLS for clients and servers (docs/tls.md has the long form). A coio_tls is one TLS
 * connection over a connected socket fd: made by a handshake (coio_tls_connect,
 * coio_tls_client, coio_tls_accept), read and written by one task at a time each, and
 * released by coio_tls_close or coio_tls_abort. Settings live in a coio_tls_config,
 * shared by any number of connections (and threads).
 *
 * coio is built on OpenSSL when its headers are found at build time; without them every
 * function here is still declared and returns -ENOSYS (NULL with errno ENOSYS), and
 * coio_tls_available() returns 0.
 *
 * Errors particular to TLS (besides the socket's and those of every suspending call):
 *   -EKEYREJECTED     the peer's certificate is not trusted (unknown CA, self-signed,
 *                     bad signature, wrong purpose, no certificate from a server)
 *   -EKEYEXPIRED      the peer's certificate (or one of its chain) has expired or is not
 *                     valid yet
 *   -EKEYREVOKED      the peer's certificate was revoked
 *   -ENOKEY           the certificate is valid but not for the name or IP address asked
 *   -EACCES           the peer refused our certificate (or our lack of one): it sent
 *                     bad_certificate, unknown_ca, certificate_required, access_denied...;
 *                     on a server that requires client certificates, a client sent none
 *   -EPROTONOSUPPORT  no TLS version, cipher or ALPN protocol both sides accept
 *   -EPROTO           the peer does not speak TLS (plain HTTP to a TLS port, TLS to a
 *                     plain port), or broke the protocol
 *   -ECONNABORTED     the peer ended the TCP connection without a TLS close_notify:
 *                     during the handshake, or after it (a truncated stream; a clean end
 *                     is a read of 0)
 *   -ECONNRESET       the connection was reset (also mid-handshake)
 * coio_tls_last_error() says why in words (the verification reason, or OpenSSL's error
 * string). */
typedef struct coio_tls_config coio_tls_config;
typedef struct coio_tls coio_tls;

#define COIO_TLS_CLIENT 1
#define COIO_TLS_SERVER 2

/* Peer verification (coio_tls_config_set_verify). */
#define COIO_TLS_VERIFY_NONE 0    /* accept any peer: for tests; a client is then open to
                                   * any man in the middle */
#define COIO_TLS_VERIFY_PEER 1    /* client (default): the server's chain must lead to a
                                   * trusted CA and name the host; server: ask for a client
                                   * certificate and verify it if one is sent */
#define COIO_TLS_VERIFY_REQUIRE 2 /* server: a client without a valid certificate is
                                   * refused; client: as VERIFY_PEER */

/* Protocol versions (coio_tls_config_set_versions). */
#define COIO_TLS_1_2 0x0303
#define COIO_TLS_1_3 0x0304

/* The connection closes its fd when it is released. */
#define COIO_TLS_OWN_FD 0x1u

/* 1 if this coio was built with TLS, else 0. */
COIO_API int coio_tls_available(void);

/* The text of the latest TLS failure of a coio_tls_* call on this thread ("" if none):
 * read it right after the failing call, before the task suspends again (another task's
 * failure replaces it). Never NULL. */
COIO_API const char *coio_tls_last_error(void);

/* A configuration for role COIO_TLS_CLIENT or COIO_TLS_SERVER, with the defaults:
 * TLS 1.2 at least, OpenSSL's default ciphers; a client verifies the server against the
 * system's trusted CAs and resumes sessions; a server asks nothing of its clients.
 * NULL with errno EINVAL (bad role), ENOMEM, ENOSYS (built without TLS). The setters
 * below return 0, -EINVAL, -ENOMEM, or -EBUSY once a connection has used the config
 * (settings are frozen then). */
COIO_API coio_tls_config *coio_tls_config_create(int role);
/* Drops the caller's reference: connections still using c keep it alive. 0 or -EINVAL. */
COIO_API int coio_tls_config_destroy(coio_tls_config *c);

/* Certificate chain (leaf first) and private key, from PEM files (key_file NULL: the key
 * is in chain_file) or from PEM text in memory. Required for a server; a client sends
 * one if it has one and the server asks. -ENOENT (no such file), -EINVAL (not PEM, or
 * the key does not match the certificate). */
COIO_API int coio_tls_config_set_cert_file(coio_tls_config *c, const char *chain_file,
                                           const char *key_file);
COIO_API int coio_tls_config_set_cert_mem(coio_tls_config *c, const void *chain_pem,
                                          size_t chain_len, const void *key_pem,
                                          size_t key_len);
/* Trusted CAs from a PEM file and/or a hashed directory (c_rehash layout), or PEM text
 * in memory. Either call replaces the system store for c (calls add up to each other). */
COIO_API int coio_tls_config_set_ca(coio_tls_config *c, const char *file, const char *dir);
COIO_API int coio_tls_config_set_ca_mem(coio_tls_config *c, const void *pem, size_t len);
/* COIO_TLS_VERIFY_NONE, _PEER or _REQUIRE (above). */
COIO_API int coio_tls_config_set_verify(coio_tls_config *c, int mode);
/* Lowest and highest protocol version (COIO_TLS_1_2, COIO_TLS_1_3; max 0: the highest
 * OpenSSL has). Default: COIO_TLS_1_2, 0. */
COIO_API int coio_tls_config_set_versions(coio_tls_config *c, int min, int max);
/* ALPN protocols, comma-separated in order of preference ("h2,http/1.1"); NULL or "":
 * none. A client offers them; a server picks its most preferred one that the client
 * offers, and refuses a client that offers only others (-EPROTONOSUPPORT on both
 * sides). coio_tls_alpn() gives the result. */
COIO_API int coio_tls_config_set_alpn(coio_tls_config *c, const char *protocols);
/* Client: how many sessions to keep for resumption, one per server name and address
 * (default 64; 0: never resume). */
COIO_API int coio_tls_config_set_session_cache(coio_tls_config *c, size_t entries);

/* Client: connects to host:service (as coio_tcp_connect) and performs the handshake,
 * verifying that the certificate names host (a DNS name, or an IPv4/IPv6 address
 * literal, matched against the certificate's IP addresses); SNI carries a DNS name.
 * On success *out is the connection, which owns its fd. Bound the whole call with a
 * deadline scope. Errors: coio_tcp_connect's, the TLS errors above, -ENOMEM,
 * -ECANCELED, -ETIMEDOUT, -EPERM, -EINVAL (NULL argument, c not a client config). On
 * failure nothing is left open. */
COIO_API int coio_tls_connect(coio_tls_config *c, const char *host, const char *service,
                              coio_tls **out);
/* Client handshake over fd, an already connected socket (STARTTLS, asyncio start_tls).
 * server_name is the name to verify and send as SNI (NULL: none, allowed only with
 * COIO_TLS_VERIFY_NONE). flags: COIO_TLS_OWN_FD. fd is made non-blocking (O_NONBLOCK),
 * as by coio_stream_open, and stays so. On failure fd is left open and unchanged in
 * ownership (the caller closes it). Errors as coio_tls_connect, and -EBADF. */
COIO_API int coio_tls_client(coio_tls_config *c, int fd, const char *server_name,
                             unsigned flags, coio_tls **out);
/* Server handshake over fd, an accepted socket (in a coio_server handler: flags 0, the
 * server closes fd after the handler). Errors as coio_tls_client; plain HTTP spoken to
 * the port is -EPROTO. */
COIO_API int coio_tls_accept(coio_tls_config *c, int fd, unsigned flags, coio_tls **out);

/* Turns t into a coio_stream (asyncio's StreamReader/StreamWriter over TLS): readline,
 * read_until, read_exactly, write + drain with the same water marks, FLUSH_ON_READ, work
 * as on any stream; coio_stream_write_eof sends close_notify (the socket stays open for
 * reading); coio_stream_close sends close_notify if the socket takes it at once, then
 * releases t; coio_stream_abort sends none (the peer sees a truncation). A read returns
 * 0 at the peer's close_notify and -ECONNABORTED when the connection ended without one.
 * COIO_STREAM_OWN_FD in opts makes the stream close the fd (as does COIO_TLS_OWN_FD on
 * t). The stream owns t from then on: only the accessors below (coio_tls_alpn, ...) may
 * still be used on t, until the stream is closed. Does not suspend. NULL with errno EINVAL (t NULL, already a stream,
 * or in use by a task), ENOMEM. */
COIO_API coio_stream *coio_tls_stream_open(coio_tls *t, const coio_stream_opts *opts);

/* The calls below use t directly, without a stream.
 *
 * Reads up to n decrypted bytes: returns the count (> 0), 0 when the peer has closed
 * the TLS stream (close_notify), -ECONNABORTED when the TCP connection ended without one
 * (truncation). One task at a time reads (-EBUSY). An interrupted read (-ECANCELED,
 * -ETIMEDOUT) loses nothing: the next read goes on. Errors: the TLS errors above,
 * the socket's, -EBUSY, -EINVAL, -ECANCELED, -ETIMEDOUT, -EPERM. */
COIO_API ssize_t coio_tls_read(coio_tls *t, void *buf, size_t n);
/* Encrypts and sends all n bytes; returns n or an error. One task at a time writes
 * (-EBUSY). Interrupted (-ECANCELED, -ETIMEDOUT), an unknown prefix of buf was taken:
 * what was encrypted and not yet sent goes out, in order, before anything written
 * later. -EPIPE after coio_tls_shutdown. */
COIO_API ssize_t coio_tls_write(coio_tls *t, const void *buf, size_t n);
/* Sends close_notify (the TLS end of stream; the peer reads 0) after what is queued;
 * reading goes on. Idempotent. Errors as coio_tls_write. */
COIO_API int coio_tls_shutdown(coio_tls *t);
/* Sends close_notify unless sent already or the connection failed, closes the fd if
 * the connection owns it, and frees t in every case. Returns 0 or why close_notify
 * could not be sent (-ECANCELED, -ETIMEDOUT, -EPERM outside a task, the socket's
 * error). -EBUSY (and nothing is done) while another task is inside a call on t:
 * cancel it first. */
COIO_API int coio_tls_close(coio_tls *t);
/* Frees t at once without close_notify (the peer sees a truncation); closes the fd if
 * owned. Never suspends. -EBUSY while another task is inside a call on t. */
COIO_API int coio_tls_abort(coio_tls *t);

/* The connection's socket fd. */
COIO_API int coio_tls_fd(const coio_tls *t);
/* The protocol ALPN chose, or NULL if none. */
COIO_API const char *coio_tls_alpn(const coio_tls *t);
/* "TLSv1.3", "TLSv1.2". */
COIO_API const char *coio_tls_version(const coio_tls *t);
/* The server name: the one the client verified (client), or the SNI the client sent
 * (server; NULL if it sent none). */
COIO_API const char *coio_tls_server_name(const coio_tls *t);
/* 1 if the handshake resumed a session, else 0. */
COIO_API int coio_tls_resumed(const coio_tls *t);

/* ==== END tls ==== */

#ifdef __cplusplus
}
#endif
#endif /* COIO_H */
