/* Introspection: coio_dump_tasks() and names for task states. */
#include "internal.h"

static const char *const state_names[] = {
    [COIO__NEW] = "new", [COIO__READY] = "ready", [COIO__RUNNING] = "running",
    [COIO__WAITING] = "waiting", [COIO__DONE] = "done",
};

const char *coio__state_name(int state)
{
    return state >= 0 && state <= COIO__DONE ? state_names[state] : "?";
}

int coio_dump_tasks(FILE *out)
{
    coio__loop *L = coio__loop_get();
    if (!L)
        return -EPERM;
    if (!out)
        return -EINVAL;
    int n = 0;
    fprintf(out, "%-6s %-20s %-8s %-22s %s\n", "id", "name", "state", "waiting on", "stack");
    for (coio__list *p = L->all.next; p != &L->all; p = p->next) {
        coio_task *t = coio__container_of(p, coio_task, all);
        char stack[48] = "-";
        if (t->stack.lo) {
            /* A suspended task's use is exact; the running one's is measured here. */
            char here;
            const char *sp = t == L->current ? &here : (const char *)coio__ctx_sp(&t->ctx);
            const char *top = t->stack.lo + t->stack.size;
            if (sp >= t->stack.lo && sp <= top)
                snprintf(stack, sizeof stack, "%zu/%zu KiB", (size_t)(top - sp + 1023) / 1024,
                         t->stack.size / 1024);
        }
        fprintf(out, "%-6llu %-20s %-8s %-22s %s%s\n", (unsigned long long)t->id,
                t->name ? t->name : "", coio__state_name(t->state),
                t->wait_what ? t->wait_what : "", stack,
                (t->flags & COIO__F_CANCELLED) ? " cancelled" : "");
        n++;
    }
    return n;
}
