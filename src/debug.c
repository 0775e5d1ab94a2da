/* Introspection: coio_dump_tasks() and names for task states. */
#include "internal.h"

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
    fprintf(dump_out, "%-6u %-20s %-8s %-22s %s%s\n", t->id, t->name ? t->name : "",
            coio__state_name(t == L->current ? COIO__RUNNING : t->state),
            t->wait_what ? t->wait_what : "", stack,
            (t->flags & COIO__F_CANCELLED) ? " cancelled" : "");
    dump_count++;
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
    fprintf(out, "%-6s %-20s %-8s %-22s %s\n", "id", "name", "state", "waiting on", "stack");
    coio__tasks_each(L, dump_one);
    int n = dump_count;
    pthread_mutex_unlock(&mu);
    return n;
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
