/* Introspection: coio_dump_tasks(), names for task states, starting and stopping the
 * execution trace (recorded and written by trace.c). */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static const char *const state_names[] = {
    [COIO__NEW] = "new", [COIO__READY] = "ready", [COIO__RUNNING] = "running",
    [COIO__WAITING] = "waiting", [COIO__DONE] = "done", [COIO__FREE] = "free",
};

const char *coio__state_name(int state)
{
    return state >= 0 && state <= COIO__FREE ? state_names[state] : "?";
}

static FILE *dump_out;
static int dump_count;
static int64_t dump_now;
/* The armed timers' deadlines, sorted by (timer, seq): a task's "timeout left" without
 * a field of its own, looked up once per task. */
static coio__heap_entry *dump_timers;
static size_t dump_ntimers;

static int entry_cmp(const void *a, const void *b)
{
    const coio__heap_entry *x = a, *y = b;
    if (x->timer != y->timer)
        return (uintptr_t)x->timer < (uintptr_t)y->timer ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void timers_snapshot(coio__loop *L)
{
    const coio__timers *T = &L->timers;
    dump_ntimers = 0;
    dump_timers = T->len ? malloc(T->len * sizeof *dump_timers) : NULL;
    if (!dump_timers)
        return; /* no memory: the dump goes without the timeouts */
    memcpy(dump_timers, T->heap, T->len * sizeof *dump_timers);
    dump_ntimers = T->len;
    qsort(dump_timers, dump_ntimers, sizeof *dump_timers, entry_cmp);
}

/* The deadline of t's armed wait timer, or COIO__NEVER. */
static int64_t task_deadline(const coio_task *t)
{
    if (!t->timer.seq || !dump_timers)
        return COIO__NEVER;
    coio__heap_entry key = {.seq = t->timer.seq, .timer = (coio__timer *)&t->timer};
    const coio__heap_entry *e = bsearch(&key, dump_timers, dump_ntimers, sizeof key, entry_cmp);
    return e ? e->when : COIO__NEVER;
}

/* What a waiting task waits on, beyond its wait's name: the fd of an I/O operation,
 * the object of any other wait, the time left to its deadline, how long it has waited. */
static void wait_details(const coio_task *t, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = 0;
#define ADD(...)                                                                                   \
    do {                                                                                           \
        if (n < cap) {                                                                             \
            int k = snprintf(buf + n, cap - n, __VA_ARGS__);                                       \
            n += k > 0 ? (size_t)k : 0;                                                            \
        }                                                                                          \
    } while (0)
    int fd = coio__op_wait_fd(t);
    if (fd >= 0)
        ADD("fd %d", fd);
    else if (t->wait_obj)
        ADD("obj %p", t->wait_obj);
    int64_t when = task_deadline(t);
    if (when != COIO__NEVER) {
        int64_t left = when > dump_now ? when - dump_now : 0;
        ADD("%stimeout %.3f s left", n ? ", " : "", (double)left / 1e9);
    }
    if (t->wait_since)
        ADD("%swaited %.3f s", n ? ", " : "", (double)(dump_now - t->wait_since) / 1e9);
#undef ADD
}

static void dump_one(coio__loop *L, coio_task *t)
{
    char stack[48] = "-";
    if (t->stack_lo) {
        /* A suspended task's use is exact; the running one's is measured here. */
        char here;
        const char *sp = t == L->current ? &here : (const char *)coio__ctx_sp(&t->ctx);
        const char *top = t->stack_lo + t->stack_size;
        if (sp >= t->stack_lo && sp <= top)
            snprintf(stack, sizeof stack, "%zu/%u KiB", (size_t)(top - sp + 1023) / 1024,
                     t->stack_size / 1024);
    }
    char details[128] = "";
    if (t != L->current && t->state == COIO__WAITING)
        wait_details(t, details, sizeof details);
    fprintf(dump_out, "%-6u %-20s %-8s %-22s %-14s %s%s\n", t->id, t->name ? t->name : "",
            coio__state_name(t == L->current ? COIO__RUNNING : t->state),
            t->wait_what ? t->wait_what : "", stack, details,
            (t->flags & COIO__F_CANCELLED) ? " cancelled" : "");
    dump_count++;
}

/* The loop's last failed tasks, so that a dump taken after a failure names its cause. */
static void dump_failed(FILE *out)
{
    coio__failed_task f[16];
    size_t n = coio__failed_tasks(f, 16);
    if (!n)
        return;
    int64_t now = coio__trace_clock_ns();
    fprintf(out, "failed tasks (newest first):\n");
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%-6u %-20s failed   %-22s %.3f s ago\n", f[i].id, f[i].name,
                coio_err_name(f[i].err), (double)(now - f[i].when) / 1e9);
}

int coio_dump_tasks(FILE *out)
{
    coio__loop *L = coio__loop_get();
    if (!L)
        return -EPERM;
    if (!out)
        return -EINVAL;
    /* Loops are per thread and dumping never suspends: file statics are safe enough
     * only under a lock; keep it simple with one. */
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&mu);
    dump_out = out;
    dump_count = 0;
    dump_now = coio__clock_ns();
    timers_snapshot(L);
    fprintf(out, "%-6s %-20s %-8s %-22s %-14s %s\n", "id", "name", "state", "waiting on", "stack",
            "details");
    coio__tasks_each(L, dump_one);
    int n = dump_count;
    dump_failed(out);
    free(dump_timers);
    dump_timers = NULL;
    pthread_mutex_unlock(&mu);
    return n;
}

int coio_trace_start(const char *path, size_t events)
{
    coio__loop *L = coio__loop_get();
    if (!L)
        return -EPERM;
    if (!path || !*path)
        return -EINVAL;
    if (COIO__TRACING(L))
        return -EALREADY;
    return coio__trace_begin(L, path, events);
}

int coio_trace_stop(void)
{
    coio__loop *L = coio__loop_get();
    if (!L)
        return -EPERM;
    if (!COIO__TRACING(L))
        return -EALREADY;
    return coio__trace_end(L);
}

/* The deadlock report (COIO_DEBUG): which task waits on what. */
static void report_deadlock(coio__loop *L)
{
    (void)L;
    coio_dump_tasks(stderr);
}

const coio__subsystem coio__subsystem_debug = {
    .name = "debug",
    .deadlock = report_deadlock,
};
