/* Internal interfaces shared by the files of libcoio. Names here are coio__ (internal,
 * not exported); everything file-local is static. */
#ifndef COIO_INTERNAL_H
#define COIO_INTERNAL_H

#include "coio.h"
#include "context.h"
#include "list.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* ---------------------------------------------------------------------------- sanitizers */

#if defined(__SANITIZE_ADDRESS__)
#define COIO__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COIO__ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define COIO__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define COIO__TSAN 1
#endif
#endif

#define COIO__NEVER INT64_MAX /* a deadline that never comes */
#define COIO__IO_BUDGET 128   /* calls a task may return from in a row without suspending */

typedef struct coio__loop coio__loop;

/* ---------------------------------------------------------------------------- subsystems */

/* A room above the scheduler that keeps per-loop state or must act at the loop's start or
 * end registers itself here instead of the loop naming it. Its state is one pointer in
 * the loop (coio__loop_sub), set by its init hook. The list (registry.c) is in init
 * order; teardown runs in reverse. Every hook may be NULL. See CONTRIBUTING.md. */
typedef struct coio__subsystem {
    const char *name;
    /* Loop start, before main runs. 0 or a negative errno (coio_run then fails with it,
     * after tearing down the subsystems already initialised). */
    int (*init)(coio__loop *L);
    /* Every task has finished: drop what would keep the loop running for nothing
     * (pending callbacks). Returns how many things were dropped (a COIO_DEBUG warning). */
    size_t (*all_done)(coio__loop *L);
    /* The loop was woken from another thread (coio__loop_drain_ext): look at the
     * subsystem's own cross-thread inbox. */
    void (*woken)(coio__loop *L);
    /* COIO_DEBUG: every task waits and nothing can wake one; report what helps. */
    void (*deadlock)(coio__loop *L);
    /* Loop end, after every task struct is freed. Frees the state. */
    void (*teardown)(coio__loop *L);
    /* coio is about to close fd (coio_close, a stream's close): forget what is known of
     * it before the number can be reused. Called through coio__fd_closing, outside a
     * loop too (L NULL). */
    void (*fd_closing)(coio__loop *L, int fd);
} coio__subsystem;

/* The ids of the subsystems, in init order (registry.c lists them in the same order). */
enum coio__subsystem_id {
    COIO__SUB_TRACE,     /* trace.c: the execution trace (NULL while off); written last */
    COIO__SUB_CALLBACKS, /* callback.c: record pool, loop handle */
    COIO__SUB_STREAM,    /* stream.c: recycled buffers */
    COIO__SUB_DEBUG,     /* debug.c: no state; the deadlock report */
    COIO__SUB_SIGNALS,   /* signal.c: receivers, Ctrl-C, the dump signal */
    COIO__SUB_FILES,     /* fs.c: no state; what it knows of the fds it opened */
    COIO__SUB_COUNT
};
extern const coio__subsystem *const coio__subsystems[COIO__SUB_COUNT];
extern const coio__subsystem coio__subsystem_callbacks, coio__subsystem_stream,
    coio__subsystem_debug, coio__subsystem_trace, coio__subsystem_files;

/* Before coio closes fd: the backend drops what waits on it (those calls end with
 * -EBADF) and every subsystem's fd_closing hook runs. L may be NULL (outside a loop). */
void coio__fd_closing(coio__loop *L, int fd);

/* ---------------------------------------------------------------------------- timers */

/* A timer is armed with a deadline (ns on CLOCK_MONOTONIC) and fires once. The heap keeps
 * (deadline, seq) keys in its own array, so sifting never touches timer memory; seq is
 * unique per arming and orders equal deadlines FIFO. Disarming only clears timer->seq:
 * the stale heap entry is skipped when it surfaces (or dropped by a compaction). */
typedef struct coio__timer {
    uint64_t seq; /* 0: not armed */
    void (*fire)(coio__loop *L, struct coio__timer *t);
} coio__timer;

typedef struct coio__heap_entry {
    int64_t when;
    uint64_t seq;
    coio__timer *timer;
} coio__heap_entry;

typedef struct coio__timers {
    coio__heap_entry *heap;
    size_t len, cap;
    size_t live; /* armed timers; len - live entries are stale */
    uint64_t next_seq;
} coio__timers;

int coio__timer_arm(coio__loop *L, coio__timer *t, int64_t when);
void coio__timer_disarm(coio__loop *L, coio__timer *t);
/* Deadline of the earliest armed timer, or COIO__NEVER. */
int64_t coio__timers_next(coio__loop *L);
/* Fires every timer due at `now`, in (deadline, arming) order. Returns how many fired. */
int coio__timers_run(coio__loop *L, int64_t now);
void coio__timers_free(coio__timers *T);

/* The running loop's clock in ns, the one every deadline and coio_now() read: the
 * monotonic clock, or the loop's virtual clock (coio_clock_virtual; loop.c). Real time
 * outside a loop. coio__loop_clock_ns (below) is the same for a loop at hand. */
int64_t coio__clock_ns(void);
/* CLOCK_MONOTONIC itself (timer.c), for what measures real time whatever the loop's
 * clock: the debug report of long steps, the virtual clock's own threshold. */
int64_t coio__real_ns(void);
/* The one conversion from the API's seconds to a deadline in ns (timer.c). `seconds`
 * after `now`: now when seconds <= 0; COIO__NEVER when it is infinite or beyond what
 * int64 ns hold. A NaN must be rejected by the caller, and "negative means no deadline"
 * is the caller's rule where the API has it. */
int64_t coio__deadline_after(int64_t now, double seconds);
/* The same for an absolute time on coio_now()'s clock (0 for a negative one). */
int64_t coio__time_ns(double when);

/* ---------------------------------------------------------------------------- stacks */

/* Stack memory layout (addresses grow upwards):
 *
 *   lo - guard                 lo                                     lo + size
 *   | guard page (no access)   | usable stack, grows down  <-- sp     | (top)
 *
 * Default-size stacks are carved from slabs of COIO__SLAB_STACKS stacks mapped at once
 * and recycled LIFO (a reused stack's pages are already resident). Task structs live
 * elsewhere (task.c), so a task that never ran owns no stack. */
typedef struct coio__stack {
    char *lo;    /* lowest usable byte */
    size_t size; /* usable bytes */
} coio__stack;

typedef struct coio__stacks {
    size_t default_size;   /* usable bytes of a default stack */
    size_t page;
    char **free;           /* LIFO of free default-size stacks (their lo) */
    size_t nfree, capfree;
    char *slab_next;       /* next uncarved stack in the current slab */
    size_t slab_left;      /* stacks left in it */
    size_t slab_guarded;   /* of those, how many already have their guard */
    size_t guard_batch;    /* guards to install next time (grows to a slab) */
    void **slabs;          /* every slab, for unmapping at loop end */
    size_t nslabs, capslabs;
    size_t live;           /* stacks handed out */
    /* Giving idle stacks back (stack.c): free[0, nclean) hold no pages; free[0, low)
     * were not touched since the trim timer was last armed. */
    size_t nclean, low;
    size_t watch;          /* stack_put looks at the trim timer once nfree reaches it */
    coio__timer trim;
    coio__loop *timers_of; /* whose timers the trim timer is armed in (opaque here) */
} coio__stacks;

int coio__stacks_init(coio__stacks *S, coio__loop *timers_of);
void coio__stacks_destroy(coio__stacks *S);
int coio__stack_get(coio__stacks *S, size_t size, coio__stack *out);
/* Returns a stack to the pool. Safe to call while running on that stack: the pool only
 * records the address; nothing reuses it before the caller switches away. A stack of a
 * non-default size is unmapped, which is not safe from on it: see task.c. */
void coio__stack_put(coio__stacks *S, coio__stack *st);
/* Tells the overflow handler what runs on which stack: the running task's lowest usable
 * stack byte, name and id; false when no task with a stack runs. Async-signal-safe. */
typedef bool coio__stack_owner_fn(const char **stack_lo, const char **name, unsigned *id);
/* Installs the SIGSEGV handler that names the task (from owner) whose stack overflowed. */
void coio__stack_overflow_handler_init(coio__stack_owner_fn *owner);
/* Gives the calling thread an alternate signal stack (once per thread). */
void coio__stack_altstack_init(void);

/* ---------------------------------------------------------------------------- tasks */

enum coio__state {
    COIO__NEW,     /* spawned, never ran, owns no stack */
    COIO__READY,   /* in the ready queue */
    COIO__RUNNING,
    COIO__WAITING, /* parked; some object will wake it */
    COIO__DONE,
    COIO__FREE,    /* a recycled slot, not a task */
};

enum {
    COIO__F_CANCELLED = 1u << 0, /* cancellation requested */
    COIO__F_DETACHED = 1u << 1,  /* handle released by coio_detach */
    COIO__F_CLAIMED = 1u << 2,   /* handle given to await/gather: nobody else may */
    COIO__F_MAIN = 1u << 3,
    COIO__F_OWN_STACK = 1u << 4, /* non-default stack size */
    COIO__F_STATIC_NAME = 1u << 5, /* name is a literal, not a copy to free */
};

/* Collects completions of several tasks for await/gather/wait. */
typedef struct coio__joinset {
    coio_task *waiter;   /* task parked on the set, if any */
    size_t pending;      /* members not yet finished */
    int first_err;       /* first negative result, in completion order */
    bool wake_on_any;    /* wake the waiter at every completion */
    /* Called at each member's completion, after the counts and before the waiter is
     * woken (task groups, wait, as_completed: group.c). May be NULL. */
    void (*on_finish)(coio__loop *L, struct coio__joinset *js, coio_task *t);
} coio__joinset;

/* Task-local values (coio_var, local.c). A context is the set of values one or more
 * tasks see, shared copy-on-write: a spawned task takes a reference to its parent's (or,
 * outside any task, the thread's) context, and the first coio_var_set made through a
 * shared one copies it. NULL is the empty context, so spawning where no value was ever
 * set costs a load and a test. Each value with a destructor is counted separately, so it
 * outlives every context copy that still holds it. The scheduler reaches local.c (a room
 * above it) only through coio__locals_drop, named in registry.c. */
typedef struct coio__locals {
    uint32_t refs; /* tasks (and the thread, outside any task) holding it */
} coio__locals;

/* Empties *slot, releasing its values; a destructor that sets a value through the same
 * slot has it released too (local.c). */
void coio__locals_release(coio__locals **slot);
extern void (*const coio__locals_drop)(coio__locals **slot); /* = coio__locals_release */

/* The values seen outside any task on this thread (task.c). */
extern __thread coio__locals *coio__locals_root __attribute__((tls_model("initial-exec")));

/* The internal shape of coio_scope (public storage, checked by a static assert). */
typedef struct coio__scope {
    struct coio__scope *parent;
    coio_task *task;
    int64_t deadline;     /* this scope's own deadline */
    int64_t eff_deadline; /* the one in force inside it */
    uint32_t flags;       /* COIO__S_* */
    uint32_t magic;
} coio__scope;
enum { COIO__S_SHIELD = 1, COIO__S_FIRED = 2, COIO__S_SHIELDED = 4 };

/* 152 bytes on x86-64: a sleeping task costs its stack page plus this, and every byte
 * shows in the page faults of a million sleepers (bench W3). Cold data stays out: the
 * context lives on the task's own stack, and tasks are enumerated through the loop's
 * chunks rather than a list. */
struct coio_task {
    coio__ctx ctx;          /* first: the entry trampoline receives &ctx as the task */
    coio__list link;        /* the wait queue of what it waits on, if any */
    int (*fn)(void *);
    void *arg;              /* also the free-list link of a free slot */
    char *stack_lo;         /* NULL until the task first runs and after it finishes */
    uint32_t stack_size;    /* usable bytes; before the first run: the size wanted (0: default) */
    int result;
    int wake_result;        /* what coio__park returns */
    uint32_t id;
    uint8_t state;
    uint8_t flags;
    uint8_t wait_interruptible; /* cancel / deadline may end the current wait */
    uint8_t io_streak;      /* budgeted calls returned in a row without suspending */
    uint8_t timer_is_scope; /* the armed timer is the scope deadline, not the op's own */
    const char *wait_what;  /* for coio_dump_tasks: "sleep", "await", "read fd", ... */
    void *wait_obj;
    void (*unwait)(coio_task *t); /* unlinks t from wait_obj when its wait is interrupted */
    int64_t wait_since;           /* COIO_DEBUG: when the current wait began (coio_dump_tasks) */
    coio__timer timer;
    coio__joinset *joiner;  /* completion is reported there */
    coio__scope *scope;     /* innermost deadline/shield scope */
    char *name;
    coio__locals *locals;   /* its task-local values (NULL: none; local.c) */
#ifdef COIO__ASAN
    void *asan_fake;        /* AddressSanitizer's fake stack of a suspended task */
#endif
#ifdef COIO__TSAN
    void *tsan_fiber;
#endif
};

/* True once t has finished, whether its function ran or not (cancelled, or no stack
 * for it, before it started). */
static inline bool coio__task_is_done(const coio_task *t)
{
    return t->state == COIO__DONE;
}

coio_task *coio__task_alloc(coio__loop *L);
void coio__task_free(coio__loop *L, coio_task *t);
/* Names t with a string that outlives it (a literal): no copy, so a task the library
 * spawns per operation (a stream's flusher) costs no malloc. */
void coio__task_set_static_name(coio_task *t, const char *name);
/* Where a task's context starts (ctx is the task): runs it, finishes it, never returns. */
_Noreturn void coio__task_main(void *ctx);
/* The running task's stack, name and id, for the overflow handler (coio__stack_owner_fn). */
bool coio__task_running_stack(const char **stack_lo, const char **name, unsigned *id);
/* Unmaps the loop's task chunks (loop end). */
void coio__task_chunks_free(coio__loop *L);
/* Calls fn for every task struct in use, in slot order. fn may free the task. */
void coio__tasks_each(coio__loop *L, void (*fn)(coio__loop *L, coio_task *t));
/* Called for a task leaving the NEW state when it is dispatched: gives it a stack. */
int coio__task_prepare(coio__loop *L, coio_task *t);
/* Marks t done with `result` and reports to its joiner (no stack work). */
void coio__task_finish(coio__loop *L, coio_task *t, int result);

/* The handle rule, in one place: may the running task `cur` claim the handle t (await,
 * wait_for, gather, wait, as_completed; detach with cur NULL)? 0 if so; -EDEADLK if t
 * is cur; -EALREADY if t
 * was detached, is claimed by another waiter, or was released (caught while its slot is
 * free; once a newer task reuses the slot, using the old handle is undefined, like a
 * double free: docs/api.md). */
static inline int coio__handle_claim_error(const coio_task *cur, const coio_task *t)
{
    if (t == cur)
        return -EDEADLK;
    if (t->state == COIO__FREE || (t->flags & (COIO__F_DETACHED | COIO__F_CLAIMED)))
        return -EALREADY;
    return 0;
}

/* ---------------------------------------------------------------------------- I/O ops */

/* The operation table: every I/O operation a task can run, one row each. io.c, both
 * backends and the names in coio_dump_tasks are generated from it, so adding an
 * operation is a row here plus, for a new argument layout, its cases (CONTRIBUTING.md,
 * "Adding an operation"). Columns:
 *   code     COIO__OP_<code>
 *   what     what a task parked on it waits on (coio_dump_tasks)
 *   uring    the io_uring opcode, IORING_OP_<uring>
 *   waits    what the fd must become for the syscall not to fail with EAGAIN:
 *            IN, OUT, or POLL (op->flags says: COIO_READABLE / COIO_WRITABLE)
 *   layout   which member of op->a holds the arguments, and how the syscall and the
 *            io_uring request take them (COIO__OP_SYSCALL_<layout> in io.c,
 *            PREP_<layout> in backend_uring.c)
 *   syscall  the system call (libc's wrapper) that epoll's readiness path runs
 *   xflags   flags always added to op->flags for the syscall and the request
 *
 *     code      what          uring      waits layout    syscall   xflags */
// clang-format off
#define COIO__OPS(X)                                                             \
    X(POLL,     "poll fd",    POLL_ADD,  POLL, POLL,     poll,     0)            \
    X(READ,     "read fd",    READ,      IN,   RW,       read,     0)            \
    X(WRITE,    "write fd",   WRITE,     OUT,  RW,       write,    0)            \
    X(READV,    "readv fd",   READV,     IN,   IOV,      readv,    0)            \
    X(WRITEV,   "writev fd",  WRITEV,    OUT,  IOV,      writev,   0)            \
    X(RECV,     "recv fd",    RECV,      IN,   SOCKBUF,  recv,     0)            \
    X(SEND,     "send fd",    SEND,      OUT,  SOCKBUF,  send,     MSG_NOSIGNAL) \
    X(RECVMSG,  "recvmsg fd", RECVMSG,   IN,   MSG,      recvmsg,  0)            \
    X(SENDMSG,  "sendmsg fd", SENDMSG,   OUT,  MSG,      sendmsg,  MSG_NOSIGNAL) \
    X(ACCEPT,   "accept fd",  ACCEPT,    IN,   ACCEPT,   accept4,  0)            \
    X(CONNECT,  "connect fd", CONNECT,   OUT,  CONNECT,  connect,  0)
// clang-format on
/* MSG_NOSIGNAL on sends: a reset peer is -EPIPE, never SIGPIPE. */

/* File operations (fs.c). Optional: io_uring probes each one and runs the ones the
 * kernel has natively (coio__backend.native); the others, and every one on epoll, run on
 * the worker pool (coio__op_syscall on a worker thread), never on the loop thread. fd
 * is -1 for the path rows (their directory fd is a.path.dirfd).
 *
 *     code       what            uring      waits layout     syscall    xflags */
#define COIO__FILE_OPS(X)                                                               \
    X(PREAD,      "pread file",   READ,      IN,   FRW,       pread,     0)             \
    X(PWRITE,     "pwrite file",  WRITE,     OUT,  FRW,       pwrite,    0)             \
    X(PREADV,     "preadv file",  READV,     IN,   FIOV,      preadv,    0)             \
    X(PWRITEV,    "pwritev file", WRITEV,    OUT,  FIOV,      pwritev,   0)             \
    X(FSYNC,      "fsync file",   FSYNC,     OUT,  FSYNC,     fsync,     0)             \
    X(FDATASYNC,  "fsync file",   FSYNC,     OUT,  FSYNC,     fdatasync, IORING_FSYNC_DATASYNC) \
    X(FALLOCATE,  "fallocate",    FALLOCATE, OUT,  FALLOCATE, fallocate, 0)             \
    X(CLOSE,      "close file",   CLOSE,     OUT,  CLOSE,     close,     0)             \
    X(OPENAT,     "open file",    OPENAT,    OUT,  OPENAT,    openat,    O_CLOEXEC)     \
    X(STATX,      "statx",        STATX,     OUT,  STATX,     statx,     0)             \
    X(UNLINKAT,   "unlink",       UNLINKAT,  OUT,  UNLINKAT,  unlinkat,  0)             \
    X(RENAMEAT,   "rename",       RENAMEAT,  OUT,  RENAMEAT,  renameat2, 0)             \
    X(MKDIRAT,    "mkdir",        MKDIRAT,   OUT,  MKDIRAT,   mkdirat,   0)
#ifndef IORING_FSYNC_DATASYNC
#define IORING_FSYNC_DATASYNC 1u /* the kernel ABI's value, for builds without liburing */
#endif
#define COIO__ALL_OPS(X) COIO__OPS(X) COIO__FILE_OPS(X)

enum coio__opcode {
#define COIO__OP_ENUM(code, what, uring, waits, layout, syscall, xflags) COIO__OP_##code,
    COIO__ALL_OPS(COIO__OP_ENUM)
#undef COIO__OP_ENUM
    COIO__OP_COUNT
};

/* One operation performed for a task. Lives on the task's stack for its duration.
 * The arguments are set by the caller and never change; res is written once, when the
 * op completes; what a backend tracks while the op is in flight is in backend_state. */
typedef struct coio__op {
    uint8_t code;     /* enum coio__opcode */
    uint8_t done;     /* completed: res is final */
    uint8_t stopping; /* cancellation asked of the backend */
    uint8_t removed;  /* the backend dropped it without completing it */
    uint8_t started;  /* CONNECT: connect() is in progress; the next try reads SO_ERROR */
    uint8_t reclassify; /* the fd's cached kind proved wrong: the backend looks again */
    int fd;
    int flags;        /* send/recv/accept4 flags; POLL: the events */
    union {           /* the arguments, by the row's layout */
        struct {
            void *buf;
            size_t len;
        } buf;        /* RW, SOCKBUF */
        struct {
            const struct iovec *iov;
            int cnt;
        } iov;        /* IOV */
        struct msghdr *msg; /* MSG */
        struct {
            struct sockaddr *addr;
            socklen_t *addrlen;
        } accept;     /* ACCEPT */
        struct {
            const struct sockaddr *addr;
            socklen_t len;
        } connect;    /* CONNECT */
        struct {
            void *buf;
            size_t len;
            int64_t off;
        } frw;        /* FRW */
        struct {
            const struct iovec *iov;
            int cnt;
            int64_t off;
        } fiov;       /* FIOV */
        struct {
            int64_t off, len; /* mode in flags */
        } falloc;     /* FALLOCATE */
        struct {
            int dirfd;
            unsigned mode; /* OPENAT, MKDIRAT */
            unsigned mask; /* STATX */
            const char *path, *path2; /* path2: RENAMEAT's new name */
            void *out; /* STATX: struct statx */
        } path;       /* OPENAT, STATX, UNLINKAT, RENAMEAT, MKDIRAT; flags in flags */
    } a;
    ssize_t res;
    uint32_t backend_state; /* the backend's own, from submit to completion */
    coio_task *task;
    coio__list link;  /* the backend's list of ops on the fd */
} coio__op;

/* An I/O backend. Operation-based: submit asks it to perform an operation for the
 * current task; it either completes it at once (returns 1, op->res set) or later calls
 * coio__op_complete() from poll(). epoll implements this as readiness-then-syscall,
 * io_uring as a submission and its completion. COIO__SUBMIT_POOL: the op's system call
 * would block the loop thread (a read or write on a regular file or block device with
 * epoll); the caller runs it on the worker pool instead. */
enum { COIO__SUBMIT_POOL = 2 };
typedef struct coio__backend {
    const char *name;
    /* 0 if the backend can run here, else the negative errno saying why not. NULL: it
     * always can. Called before init, possibly many times (cache the answer). */
    int (*probe)(void);
    /* Submitting an op costs no system call of its own (io_uring: ops go to the kernel
     * in batches): code that may either try a system call now or queue an op and move
     * on should queue it. */
    bool batches;
    int (*init)(coio__loop *L);
    void (*destroy)(coio__loop *L);
    int (*submit)(coio__loop *L, coio__op *op);
    /* Stops a pending op. Returns 1 if it was dropped at once (never completes), 0 if
     * it will still complete through coio__op_complete (with -ECANCELED or its real
     * result, which the caller must wait for: the op may still use its buffer). */
    int (*cancel)(coio__loop *L, coio__op *op);
    /* Waits up to timeout_ns (0: don't block; COIO__NEVER: forever) and completes ops.
     * Returns >= 0 or a negative errno. */
    int (*poll)(coio__loop *L, int64_t timeout_ns);
    /* Wakes a poll() blocked in another thread. Async-signal-safe and thread-safe. */
    void (*wake)(coio__loop *L);
    /* fd is about to be closed: complete its pending ops with -EBADF, drop its state. */
    void (*forget_fd)(coio__loop *L, int fd);
    /* True if the backend performs the file operation `code` (COIO__FILE_OPS) itself,
     * without blocking the loop thread; NULL: none (they go to the worker pool). */
    bool (*native)(int code);
} coio__backend;

/* Per-fd backend state (fdtable.c): entries are created on first use, initialised by
 * `init`, and never move, so list heads inside them stay valid. */
typedef struct coio__fdtable {
    char **blocks;
    size_t nblocks;
    size_t elem_size;
    void (*init)(void *elem);
} coio__fdtable;
void coio__fdtable_init(coio__fdtable *T, size_t elem_size, void (*init)(void *elem));
void *coio__fdtable_get(coio__fdtable *T, int fd);        /* creates; NULL on ENOMEM */
void *coio__fdtable_find(const coio__fdtable *T, int fd); /* NULL if never created */
void coio__fdtable_free(coio__fdtable *T);

/* The backends built in, by preference, NULL-terminated (registry.c). */
extern const coio__backend *const coio__backends[];
extern const coio__backend coio__backend_epoll;
#ifdef COIO_HAVE_LIBURING
extern const coio__backend coio__backend_uring;
#endif

/* True for the rows a regular file may take from coio_read/coio_write and streams. */
static inline bool coio__op_is_plain_rw(const coio__op *op)
{
    return op->code == COIO__OP_READ || op->code == COIO__OP_WRITE || op->code == COIO__OP_READV ||
           op->code == COIO__OP_WRITEV;
}

/* The fd t waits on in an I/O operation, or -1 (coio_dump_tasks). */
int coio__op_wait_fd(const coio_task *t);

/* True if op waits for the fd to become readable (the table's IN rows; POLL for input). */
static inline bool coio__op_is_reader(const coio__op *op)
{
    enum { IN = 1, OUT = 0, POLL = 2 };
    static const uint8_t waits[COIO__OP_COUNT] = {
#define COIO__OP_WAITS(code, what, uring, w, layout, syscall, xflags) [COIO__OP_##code] = w,
        COIO__ALL_OPS(COIO__OP_WAITS)
#undef COIO__OP_WAITS
    };
    uint8_t w = waits[op->code];
    return w == POLL ? (op->flags & COIO_READABLE) != 0 : w == IN;
}

/* Runs op for the current task, suspending it until done. Returns op->res, or
 * -ECANCELED/-ETIMEDOUT when interrupted before the op had any effect. Spends one unit
 * of the task's budget first (coio__budget_spend). */
ssize_t coio__op_run(coio__op *op);
/* The same for a caller that spent the budget itself, once for a call that may run
 * several ops (a stream's readline), where a yield must come before its own checks. */
ssize_t coio__op_run_spent(coio__op *op);
void coio__op_complete(coio__loop *L, coio__op *op, ssize_t res);
/* Adds 1 to eventfd fd (a backend's cross-thread wake-up). Thread- and signal-safe. */
void coio__eventfd_signal(int fd);
/* Performs op's system call once, non-blocking. Returns the result or -errno. */
ssize_t coio__op_syscall(coio__op *op);

/* ---------------------------------------------------------------------------- streams */

/* What moves a stream's bytes. The stream (stream.c) owns the buffering, the flusher,
 * the users count and closing; a transport only reads and writes. The default one is
 * the stream's fd through coio's I/O operations; another layer (TLS) supplies its own
 * and opens the stream with coio__stream_open_transport. Every function gets the ctx
 * given to the constructor, runs in a task on the stream's loop, and returns >= 0 or a
 * negative errno. The stream never calls two of them at once for the same direction:
 * one reader at a time, one writer (the flusher, or a try_writev with nothing in
 * flight). */
typedef struct coio__stream_transport {
    const char *name; /* for logs and tests: "fd", "tls", ... */
    /* Reads up to n bytes; may suspend. > 0: count; 0: end of stream. Called with the
     * task's fairness budget already spent (use coio__op_run_spent for the I/O). */
    ssize_t (*read)(void *ctx, void *buf, size_t n);
    /* Writes what it can of iov[0..n) without suspending: count, -EAGAIN, or an error.
     * May be NULL: the stream then queues everything for the flusher. */
    ssize_t (*try_writev)(void *ctx, const struct iovec *iov, int n);
    /* Writes some of iov[0..n) (at least one byte unless n is 0); may suspend. Budget
     * spent, as for read. */
    ssize_t (*writev)(void *ctx, const struct iovec *iov, int n);
    /* Ends the write direction once everything queued is written (coio_stream_write_eof).
     * May suspend. NULL: write_eof fails with -ENOTSOCK. */
    int (*shutdown_write)(void *ctx);
    /* The stream is closing (close; abort too if abort is NULL): release ctx and what it
     * owns. Does not suspend. Calls interrupted by the close return before or after it: a
     * transport whose read/writev may still be running must keep ctx alive until then. */
    int (*close)(void *ctx);
    /* coio_stream_abort: as close, but the connection ends at once, with no goodbye to the
     * peer (TLS: no close_notify). NULL: close is used. */
    int (*abort)(void *ctx);
} coio__stream_transport;

/* A stream over transport tp (ctx is passed to its functions; NULL: the stream itself).
 * fd is what coio_stream_fd reports (-1 if none). Does not suspend and does no I/O.
 * NULL with errno EINVAL (tp lacks read, writev or close; bad opts) or ENOMEM. */
coio_stream *coio__stream_open_transport(int fd, const coio__stream_transport *tp, void *ctx,
                                         const coio_stream_opts *opts);

/* ---------------------------------------------------------------------------- ready queue */

/* The tasks ready to run, FIFO: a ring of task pointers that is never full, because spawn
 * reserves room for every live task (coio__readyq_reserve) and a task is in it at most
 * once. All of the scheduler's queue handling is these few functions (loop.c). */
typedef struct coio__readyq {
    coio_task **ring;
    size_t mask; /* capacity - 1 (a power of two) */
    size_t head; /* next to pop (wraps through mask) */
    size_t n;    /* tasks queued */
} coio__readyq;

static inline void coio__readyq_push(coio__readyq *q, coio_task *t)
{
    q->ring[(q->head + q->n++) & q->mask] = t;
}
/* Removes and returns the front task; the queue must not be empty. */
static inline coio_task *coio__readyq_pop(coio__readyq *q)
{
    q->n--;
    return q->ring[q->head++ & q->mask];
}
/* Puts t at the back and takes the front, in one step: the queue must not be empty.
 * Its length is unchanged, so only the head moves (a yield while others are ready). */
static inline coio_task *coio__readyq_rotate(coio__readyq *q, coio_task *t)
{
    q->ring[(q->head + q->n) & q->mask] = t;
    return q->ring[q->head++ & q->mask];
}
/* Room for `live` tasks in all. 0 or -ENOMEM. */
int coio__readyq_reserve(coio__readyq *q, size_t live);
void coio__readyq_free(coio__readyq *q);

/* ---------------------------------------------------------------------------- loop */

struct coio__loop {
    coio__ctx ctx;       /* the loop's own context, on the thread's stack */
    coio__ctx dead_ctx;  /* scratch: where a finishing task "saves" its last context */
    coio_task *current;
    coio__readyq ready;
    unsigned budget;     /* dispatches before the loop must look at timers and I/O:
                          * set at a turn's start, zeroed by coio__turn_end */
    coio__timers timers;
    /* Virtual clock (loop.c): when vclock is set, coio__clock_ns() reads vnow, which the
     * loop moves to the next timer when it would otherwise wait (vjump_ns: how long it
     * waits for real first while real work is pending; vidle_since: since when). */
    bool vclock;
    int64_t vnow, vjump_ns, vidle_since;
    const coio__backend *backend;
    void *backend_data;
    size_t io_pending;   /* ops submitted and not completed */
    size_t ext_pending;  /* things other threads will complete (thread-pool jobs) */
    /* Run before each poll once set: work a subsystem defers to the end of the turn, so
     * that one turn's requests go out together (the worker pool's wake-ups). It may
     * shorten *timeout (ns, COIO__NEVER: none) to look again sooner. */
    void (*before_poll)(coio__loop *L, int64_t *timeout);
    unsigned pool_kicks; /* idle pool workers chosen this turn, signalled before the poll */
    unsigned pool_jobs;  /* this loop's coio_to_thread jobs queued or running */
    coio__stacks stacks;
    coio_task *task_free; /* recycled task structs, linked through ->arg */
    coio_task *task_chunk_next; /* uncarved part of the newest chunk */
    size_t task_chunk_left;
    void **task_chunks;
    size_t ntask_chunks, captask_chunks;
    coio__list soon;     /* the callback phase's work (coio__remote): call_soon records */
    size_t nsoon;
    size_t keepalive;    /* handles that other threads may use to wake the loop (futures,
                          * threadsafe callbacks): while > 0, no task waiting is a deadlock */
    size_t ntasks;       /* task structs in use (not FREE) */
    size_t nalive;       /* tasks not yet DONE */
    coio_task *dead;     /* finished task whose stack the loop must release */
    uint32_t next_id;
    uint64_t fpu;        /* FPU control state new tasks start with (the thread's) */
    int64_t step_start;  /* COIO_DEBUG: when the running task's current step began */
    coio_task *main;
    coio__stack dead_stack; /* non-default stack of a finished task, unmapped by the loop */
    bool debug;          /* COIO_DEBUG=1 */
    bool stopping;       /* main has returned: cleanup phase */
    int wake_fd;         /* eventfd for cross-thread wake-ups (-1 until needed) */
    /* Messages from other threads (coio__remote: finished thread-pool jobs), guarded by
     * ext_lock and run by coio__loop_drain_ext. */
    pthread_mutex_t ext_lock;
    coio__list ext_done;
    void *sub[COIO__SUB_COUNT]; /* each subsystem's own state (coio__loop_sub) */
#if defined(COIO_CONTEXT_UCONTEXT)
    ucontext_t uc_loop, uc_dead;
#endif
    /* Sanitizer bookkeeping for the thread's own stack. */
    const void *main_stack_bottom;
    size_t main_stack_size;
    void *main_fake_stack;
    void *main_tsan_fiber;
    /* Signals (signal.c): the handlers' generation this loop has delivered, and its
     * receivers and Ctrl-C state (NULL until the loop watches a signal). */
};

/* This thread's loop (NULL outside coio_run). initial-exec TLS: no __tls_get_addr call
 * on the hot path; fine for a library linked at program start. */
extern __thread coio__loop *coio__tls_loop __attribute__((tls_model("initial-exec")));

static inline coio__loop *coio__loop_get(void)
{
    return coio__tls_loop;
}

static inline int64_t coio__loop_clock_ns(const coio__loop *L)
{
    return __builtin_expect(L->vclock, 0) ? L->vnow : coio__real_ns();
}

/* Where the caller's task-local values live: its task's, or the thread's outside a task. */
static inline coio__locals **coio__locals_slot(coio__loop *L)
{
    return L && L->current ? &L->current->locals : &coio__locals_root;
}

/* A new task's values: a reference to its spawner's (t is zeroed). */
static inline void coio__task_locals_inherit(coio__loop *L, coio_task *t)
{
    coio__locals *m = L->current ? L->current->locals : coio__locals_root;
    if (__builtin_expect(m != NULL, 0)) {
        m->refs++;
        t->locals = m;
    }
}

/* Drops t's task-local values: at its end, or at the loop's end if it never ended. */
static inline void coio__task_locals_drop(coio_task *t)
{
    if (__builtin_expect(t->locals != NULL, 0))
        coio__locals_drop(&t->locals);
}

/* Subsystem id's per-loop state (NULL before its init hook set it). */
static inline void *coio__loop_sub(const coio__loop *L, enum coio__subsystem_id id)
{
    return L->sub[id];
}
static inline void coio__loop_sub_set(coio__loop *L, enum coio__subsystem_id id, void *state)
{
    L->sub[id] = state;
}

/* Parks the current task t until coio__wake(t, r); returns r. `what` and `obj` say what
 * it waits on (coio_dump_tasks); `unwait` unlinks it from obj if cancellation or a
 * deadline ends the wait first (then -ECANCELED / -ETIMEDOUT is returned).
 * `deadline` (ns) is the wait's own end: reaching it wakes t with 0 (sleep).
 * interruptible=false ignores cancellation and scopes (internal cleanup waits).
 * Returns at once with -ECANCELED / -ETIMEDOUT if those already hold. */
int coio__park(coio__loop *L, coio_task *t, const char *what, void *obj,
               void (*unwait)(coio_task *), int64_t deadline, bool interruptible);
/* Fairness. Every call that may suspend (an I/O op, a stream call) spends one unit of
 * the running task's budget before it starts; any suspension refills it. A call that
 * finds it spent -- COIO__IO_BUDGET calls in a row returned without suspending, as on
 * an fd that is always ready or from a stream's buffer -- first yields and ends the
 * loop's turn, so the loop polls I/O and every other ready task runs before it goes on.
 * Returns 0, or coio_yield's -ECANCELED / -ETIMEDOUT. */
int coio__budget_yield(coio__loop *L);
static inline int coio__budget_spend(coio__loop *L, coio_task *t)
{
    if (__builtin_expect(++t->io_streak <= COIO__IO_BUDGET, 1))
        return 0;
    return coio__budget_yield(L);
}
/* Makes a parked task ready with park's return value r. Ignored unless t is WAITING. */
void coio__wake(coio__loop *L, coio_task *t, int r);
/* The wake rule: wakes t with r only if it is still parked on obj. A completion that
 * arrives after the wait it was for has ended (interrupted, timed out, or the task now
 * waits on something else) is ignored. Every object that completes a task's wait from
 * outside that task (an I/O op, a joinset, a thread-pool job) wakes it this way. */
static inline void coio__wake_if_waiting(coio__loop *L, coio_task *t, const void *obj, int r)
{
    if (t->wait_obj == obj)
        coio__wake(L, t, r);
}
/* Ends t's wait early with r (-ECANCELED, -EBADF...): unlinks t from what it waits on
 * (its unwait hook) and wakes it. Only an interruptible wait ends so; returns false when
 * t is not parked interruptibly (running, ready, or in a cleanup wait): it then finds out
 * by itself when it next checks. */
bool coio__interrupt(coio__loop *L, coio_task *t, int r);
/* Ends the loop's current turn: the loop looks at I/O, timers and callbacks before the
 * next task step that was not yet dispatched. */
static inline void coio__turn_end(coio__loop *L)
{
    L->budget = 0;
}
/* Switches away from the current task (state already set); returns when resumed. */
void coio__schedule(coio__loop *L, coio_task *self);
/* Final switch of a finished task; never returns. */
_Noreturn void coio__schedule_exit(coio__loop *L, coio_task *self);
/* -EPERM outside a task, -ECANCELED / -ETIMEDOUT if those hold for t now, else 0. */
int coio__check(coio__loop *L, coio_task *t);
/* The start of a call that may complete without suspending: coio__check, then the
 * task's budget (coio__budget_spend). */
static inline int coio__check_spend(coio__loop *L, coio_task *t)
{
    int r = coio__check(L, t);
    return r < 0 ? r : coio__budget_spend(L, t);
}
/* Effective deadline of t's scope chain, honouring shields. */
int64_t coio__scope_deadline(coio_task *t);
/* True if t's cancellation is visible now (cancelled and not shielded). */
bool coio__cancel_visible(const coio_task *t);
/* Marks the scope that a deadline expiry belongs to and returns -ETIMEDOUT. */
int coio__scope_fire(coio_task *t, int64_t now);
/* COIO_DEBUG: reports (and drops) t's scopes if the innermost one's frame has returned;
 * `sp` is an address in the caller's frame. */
void coio__scope_debug_check(coio__loop *L, coio_task *t, const void *sp);
/* Runs the messages other threads put on L->ext_done, then every subsystem's woken hook
 * (called by backends when wake_fd becomes readable). */
void coio__loop_drain_ext(coio__loop *L);

/* ---------------------------------------------------------------------------- debug */

/* Prints "coio: <message>" to stderr (log.c). L may be NULL. */
void coio__debug_warn(coio__loop *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *coio__state_name(int state);

/* ---------------------------------------------------------------------------- trace */

/* The execution trace (trace.c). A loop traces while its trace slot is set, so each hook
 * below is called as `if (COIO__TRACING(L)) coio__trace_x(L, ...)`: one predictable
 * branch when off. The hooks run on the loop's thread and never fail or allocate. */
#define COIO__TRACING(L) __builtin_expect(coio__loop_sub((L), COIO__SUB_TRACE) != NULL, 0)
/* The hooks are cold: their calls go out of the callers' hot paths. */
#define COIO__COLD __attribute__((cold))
/* The running task changes from `from` to `to` (either NULL: the loop). Ends from's run
 * slice, and records its park (what it waits on) when it is WAITING. */
COIO__COLD void coio__trace_switch(coio__loop *L, coio_task *from, coio_task *to);
COIO__COLD void coio__trace_spawn(coio__loop *L, coio_task *t);
/* t finished with result. Called whenever result < 0 too, tracing or not: it remembers
 * failed tasks (not -ECANCELED) for coio_dump_tasks. */
COIO__COLD void coio__trace_finish(coio__loop *L, coio_task *t, int result);
/* t, parked, is woken with r by the running task (or the loop). */
COIO__COLD void coio__trace_wake(coio__loop *L, coio_task *t, int r);
/* The running task is about to park on an I/O operation on fd, for input or output. */
COIO__COLD void coio__trace_io_wait(coio__loop *L, int fd, bool input);
/* t's I/O operation `what` on fd returned res. */
COIO__COLD void coio__trace_io(coio__loop *L, coio_task *t, const char *what, int fd, ssize_t res);
/* t's timer fired: its wait's own deadline (sleep), or its scope's deadline. */
COIO__COLD void coio__trace_timer(coio__loop *L, coio_task *t, bool deadline);
/* t queued a job on the worker pool (done false), or its job finished with res. */
COIO__COLD void coio__trace_pool(coio__loop *L, coio_task *t, bool done, int res);

/* Starts tracing L into a ring of about `events` events (0: the default), writing to
 * path at the end. 0, -ENOMEM or open(2)'s error. L must not trace already. */
int coio__trace_begin(coio__loop *L, const char *path, size_t events);
/* Stops L's trace and writes the file. 0 or a negative errno. L must trace. */
int coio__trace_end(coio__loop *L);

/* A task that finished with an error (not -ECANCELED), for coio_dump_tasks. */
typedef struct coio__failed_task {
    uint32_t id;
    int err;
    int64_t when; /* coio__trace_clock_ns */
    char name[32];
} coio__failed_task;
/* The last failed tasks of this thread's loop, newest first; how many were copied. */
size_t coio__failed_tasks(coio__failed_task *out, size_t cap);
/* The trace's clock (CLOCK_MONOTONIC, ns): real time even when the loop's is not. */
int64_t coio__trace_clock_ns(void);

/* ==== BEGIN sync internals (callback.c, future.c) ==== */

/* A message to a loop from any thread: posted to the loop's handle (coio_loop) and run on
 * the loop's thread, from the backend's poll (coio__loop_drain_ext), or at once when the
 * poster is that thread. run() must not suspend. Used by call_soon_threadsafe and by
 * futures completed from other threads. */
typedef struct coio__remote {
    coio__list link;
    void (*run)(coio__loop *L, struct coio__remote *r);
} coio__remote;

/* L's handle, created on first use; not a new reference (the loop holds one until it
 * ends). NULL on ENOMEM. Loop thread only. */
coio_loop *coio__loop_handle(coio__loop *L);
/* Posts r to h's loop and wakes it. Any thread. -ESHUTDOWN if the loop has ended. */
int coio__remote_post(coio_loop *h, coio__remote *r);
/* Withdraws r if it was posted and has not run yet. h's loop thread only. */
void coio__remote_withdraw(coio_loop *h, coio__remote *r);
/* Starts fn(arg) on a detached thread with a 256 KiB stack (the pools' workers) that
 * blocks every asynchronous signal. Returns 0 or pthread_create's error. */
int coio__thread_start(void *(*fn)(void *), void *arg);

/* A pool of worker threads (threadpool.c): a queue of items, threads started on demand
 * up to `max`, idle ones waiting for work or exiting after idle_ns. coio_to_thread's
 * pool and the resolver's (dns.c) are instances. The item's owner keeps its state under
 * mu: take() is called with mu held as a worker dequeues it, run() without. */
typedef struct coio__pool {
    const char *name; /* the workers' thread name (top -H, gdb, tests) */
    int max;          /* threads at most; 0: min(32, CPUs + 4) */
    int64_t idle_ns;  /* an idle worker exits after this long; 0: never */
    void (*take)(coio__list *item);
    void (*run)(coio__list *item);
    pthread_mutex_t mu;
    coio__list queue;
    coio__list idle; /* idle workers' waits, the most recently idle first */
    int nthreads, nidle;
    int nsignalled; /* idle workers chosen to be woken and not woken yet */
    bool ready;
} coio__pool;
#define COIO__POOL_INIT(name_, max_, idle_ns_, take_, run_)                            \
    {                                                                                  \
        .name = (name_), .max = (max_), .idle_ns = (idle_ns_), .take = (take_),        \
        .run = (run_), .mu = PTHREAD_MUTEX_INITIALIZER                                 \
    }
/* Queues item (call with P->mu held) and starts a worker if none is idle and the bound
 * allows. 1: an idle worker was chosen, wake it with coio__pool_wake once P->mu is
 * released (a worker woken while the lock is held would run, find it taken and sleep
 * again at once); 0; or -EAGAIN when no worker runs and none could be started (item
 * unqueued). */
int coio__pool_enqueue(coio__pool *P, coio__list *item);
/* Wakes n of P's idle workers (all of them when n < 0). Call without P->mu. */
void coio__pool_wake(coio__pool *P, int n);
/* Drops every pending call_soon/call_later/call_at callback (asyncio's loop.close()),
 * when the loop ends. Returns how many were dropped. */
size_t coio__callbacks_stop(coio__loop *L);

/* ==== END sync internals ==== */

/* ==== BEGIN signal internals (signal.c, process.c) ==== */

/* Signals are a subsystem (coio__subsystem_signals): its init hook takes over SIGINT
 * (Ctrl-C cancels main) when the program left it at its default, and the task-dump signal
 * under COIO_DEBUG; its woken hook delivers what the handler counted (the handler wakes
 * the loop); its teardown gives the handlers back. */
extern const coio__subsystem coio__subsystem_signals;

/* ==== END signal internals ==== */

/* ==== BEGIN select internals (select.c; queue.c, sync.c, future.c) ==== */

/* A task waiting on an object through a record on its own stack, so that one task may
 * wait on several objects at once (coio_select). Serving a waiter -- checking that its
 * task still waits, handing it the item, waking it -- is one step: the first object to
 * serve a select wins, and any later one finds the task no longer WAITING, skips the
 * record and serves its next waiter. That is what makes a select take only one thing. */
typedef struct coio__waiter {
    coio__list link; /* in the object's list of waiters */
    coio_task *task;
    void *item;      /* queue put: the item offered; queue get: the item received */
    int result;      /* what serving left: 0, or -ESHUTDOWN */
    int wake;        /* park's return value: 1 for a plain wait, case index + 1 for a select */
} coio__waiter;

/* First waiter of l whose task still waits, unlinked; NULL if none. Records of tasks that
 * no longer wait (served by another object, or interrupted) are dropped on the way. */
static inline coio__waiter *coio__waiter_pop(coio__list *l)
{
    coio__list *n;
    while ((n = coio__list_pop_front(l)) != NULL) {
        coio__waiter *w = coio__container_of(n, coio__waiter, link);
        if (w->task->state == COIO__WAITING)
            return w;
    }
    return NULL;
}

/* Wakes the task of w, just popped by coio__waiter_pop, with `result` left in w. */
static inline void coio__waiter_serve(coio__loop *L, coio__waiter *w, int result)
{
    w->result = result;
    coio__wake(L, w->task, w->wake);
}

/* Enrolls w as a getter (put false) or putter of q, at the back (queue.c). */
void coio__queue_enroll(coio_queue *q, bool put, coio__waiter *w);
/* Enrolls w as a waiter of e, served when e is set (sync.c). */
void coio__event_enroll(coio_event *e, coio__waiter *w);

/* A task waiting on a future (future.c). A completer on another thread wakes it through
 * msg, posted to the task's loop. */
typedef struct coio__fwaiter {
    coio__list link;  /* in f->waiters while pending */
    coio__remote msg; /* posted to the waiter's loop by a completer on another thread */
    bool posted;      /* guarded by f->mu */
    int wake;         /* park's return value, as in coio__waiter */
    coio_task *task;
    coio__loop *L;
    coio_loop *h;
    coio_future *f;
} coio__fwaiter;

/* Enrolls w for the running task t of L, to be woken with `wake` when f completes.
 * Returns 0 if enrolled, 1 if f is already complete (w is not enrolled), -ENOMEM. */
int coio__future_enroll(coio_future *f, coio__fwaiter *w, coio__loop *L, coio_task *t, int wake);
/* Takes w off its future and withdraws its message (idempotent). After it, nothing
 * touches w. */
void coio__future_leave(coio__fwaiter *w);

/* ==== END select internals ==== */

#endif
