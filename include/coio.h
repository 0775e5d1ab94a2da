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

/* The errors coio itself produces, with their descriptions. Other negative errnos
 * (from the kernel) pass through unchanged and are named by strerror(). */
#define COIO_ERRNO_MAP(X)                                                        \
    X(EPERM, "operation needs a running task (called outside coio_run)")         \
    X(EINVAL, "invalid argument")                                                \
    X(ENOMEM, "out of memory")                                                   \
    X(EBUSY, "a loop is already running on this thread")                         \
    X(ECANCELED, "the task was cancelled")                                       \
    X(ETIMEDOUT, "the deadline expired")                                         \
    X(EDEADLK, "a task cannot await itself")                                     \
    X(EALREADY, "already done")                                                  \
    X(EAGAIN, "resource temporarily unavailable")                                \
    X(EBADF, "bad file descriptor")                                              \
    X(ESRCH, "no such task")

/* Description of a (negative or positive) errno value; never NULL. */
COIO_API const char *coio_strerror(int err);
/* Symbolic name, "ECANCELED" for -ECANCELED; "E?" for unknown values; never NULL. */
COIO_API const char *coio_err_name(int err);

/* ------------------------------------------------------------------------------------
 * Loop and tasks
 * ------------------------------------------------------------------------------------ */

typedef struct coio_task coio_task;

/* Like asyncio.run(): creates an event loop on this thread, runs main(arg) as its first
 * task and drives the loop until main returns. Then every task still alive is cancelled
 * and awaited, and the loop is destroyed. Returns main's value.
 * Errors: -EINVAL (main NULL), -EBUSY (a loop already runs on this thread),
 * -ENOMEM, or the backend's error if no I/O backend could start. */
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

/* Like coio_await, but gives up after `seconds`: then t is cancelled and awaited, and
 * -ETIMEDOUT is returned. The handle is released in every case. */
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
 * -ECANCELED is returned. */
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

/* The loop's monotonic clock in seconds (CLOCK_MONOTONIC), like loop.time(). */
COIO_API double coio_now(void);

/* Name of the I/O backend of this thread's loop ("epoll", "io_uring"), or NULL. */
COIO_API const char *coio_backend_name(void);

/* ------------------------------------------------------------------------------------
 * Deadlines and shields (scopes). A scope lives in the caller's storage, is begun and
 * ended by the same task, and scopes nest strictly (end the innermost first).
 * ------------------------------------------------------------------------------------ */

typedef struct coio_scope {
    uint64_t coio__opaque[6];
} coio_scope;

/* Like `async with asyncio.timeout(seconds)`: from now until coio_scope_end(), every
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

/* ------------------------------------------------------------------------------------
 * Threads
 * ------------------------------------------------------------------------------------ */

/* Like asyncio.to_thread(): runs fn(arg) on a worker thread of a lazily created, bounded
 * pool shared by the process, and suspends the caller until it returns; returns fn's
 * value. If the caller is cancelled (or times out) before a worker took the job, the job
 * is dropped and -ECANCELED (-ETIMEDOUT) is returned at once; once a worker runs it, the
 * caller waits for it to return (fn may use memory the caller owns), then returns
 * -ECANCELED (-ETIMEDOUT). Also -EINVAL, -EPERM, -ENOMEM, -EAGAIN (no thread could start). */
COIO_API int coio_to_thread(int (*fn)(void *), void *arg);

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
 * loops until all n bytes are written (returns n or an error). */
COIO_API ssize_t coio_read(int fd, void *buf, size_t n);
COIO_API ssize_t coio_write(int fd, const void *buf, size_t n);
COIO_API ssize_t coio_write_all(int fd, const void *buf, size_t n);

/* Closes fd after waking every task waiting on it (their calls return -EBADF). Use it
 * instead of close(2) for fds coio has waited on: the loop forgets its state about fd.
 * Works outside a loop too (then it is close(2)). Returns 0 or a negative errno. */
COIO_API int coio_close(int fd);

/* ==== BEGIN sync (task groups, wait, futures, queues, locks, events, conditions,
 * semaphores, barriers, callbacks) ==== */
/* ==== END sync ==== */

/* ==== BEGIN net (sockets, DNS, TCP/UDP/Unix, servers) ==== */
/* ==== END net ==== */

/* ==== BEGIN stream (buffered streams) ==== */
/* ==== END stream ==== */

/* ------------------------------------------------------------------------------------
 * Debugging
 * ------------------------------------------------------------------------------------ */

/* Writes one line per task of this thread's loop: id, name, state, what it waits on and
 * its stack use. Returns the number of tasks listed, or -EPERM without a loop. */
COIO_API int coio_dump_tasks(FILE *out);

#ifdef __cplusplus
}
#endif
#endif /* COIO_H */
