/*
 * Task-local values (coio_var), like Python's contextvars: each task sees its own
 * values, and a spawned task starts with a copy of its parent's.
 *
 * The copy is made on write. A context (the values one or more tasks see) is a small
 * array of (variable, value) entries with a count of its holders: spawning takes a
 * reference (internal.h), and coio_var_set through a context held by more than one
 * task first copies it for the caller. A value with a destructor sits in a box with its
 * own count of the contexts that hold it, because after a copy two contexts hold the
 * same value: the destructor runs when the last of them drops it (replaced, unset, or
 * the context freed). A value without a destructor needs no box.
 *
 * A variable is a 64-bit key that is never reused, so entries a deleted variable left
 * behind can never be read through a new one; they stay, invisible, until their
 * context ends.
 *
 * Contexts belong to one thread (their counts are not atomic); variables are shared by
 * every thread and never change after coio_var_new.
 */
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct coio_var {
    uint64_t key;
    void (*destructor)(void *value);
};

typedef struct box {
    size_t refs; /* contexts holding the value */
    void *value;
    void (*destructor)(void *value);
} box;

typedef struct entry {
    uint64_t key;
    void *value;
    box *box; /* NULL: no destructor */
} entry;

typedef struct locals {
    coio__locals head; /* first: the scheduler sees only this */
    uint32_t n, cap;
    entry v[];
} locals;

static atomic_uint_fast64_t next_key = 1;

static locals *locals_alloc(uint32_t cap)
{
    locals *m = malloc(sizeof *m + cap * sizeof(entry));
    if (m) {
        m->head.refs = 1;
        m->n = 0;
        m->cap = cap;
    }
    return m;
}

static entry *find(locals *m, uint64_t key)
{
    if (m)
        for (uint32_t i = 0; i < m->n; i++)
            if (m->v[i].key == key)
                return &m->v[i];
    return NULL;
}

/* Drops a context's hold on a boxed value; the last one destroys it. */
static void box_unref(box *b)
{
    if (--b->refs == 0) {
        void (*destructor)(void *) = b->destructor;
        void *value = b->value;
        free(b);
        destructor(value);
    }
}

static void locals_unref(coio__locals *h)
{
    if (!h || --h->refs > 0)
        return;
    /* No one can reach m any more, so destructors may get and set freely. */
    locals *m = (locals *)h;
    for (uint32_t i = 0; i < m->n; i++)
        if (m->v[i].box)
            box_unref(m->v[i].box);
    free(m);
}

void coio__locals_release(coio__locals **slot)
{
    while (*slot) {
        coio__locals *m = *slot;
        *slot = NULL;
        locals_unref(m);
    }
}

/* Makes *slot a context only the caller holds, with room for `extra` more entries.
 * NULL on ENOMEM, with nothing changed. */
static locals *own(coio__locals **slot, uint32_t extra)
{
    locals *m = (locals *)*slot;
    if (!m) {
        m = locals_alloc(4);
    } else if (m->head.refs > 1) {
        uint32_t cap = m->n + extra < 4 ? 4 : m->n + extra;
        locals *c = locals_alloc(cap);
        if (!c)
            return NULL;
        for (uint32_t i = 0; i < m->n; i++) {
            c->v[i] = m->v[i];
            if (c->v[i].box)
                c->v[i].box->refs++;
        }
        c->n = m->n;
        m->head.refs--; /* still held by another: never the last reference */
        m = c;
    } else if (m->n + extra > m->cap) {
        locals *g = realloc(m, sizeof *m + 2 * m->cap * sizeof(entry));
        if (!g)
            return NULL;
        m = g;
        m->cap *= 2;
    }
    if (m)
        *slot = &m->head;
    return m;
}

/* Values set outside any task are the thread's: released when it exits. */
static pthread_key_t root_key;
static pthread_once_t root_once = PTHREAD_ONCE_INIT;
static int root_key_err;
static __thread bool root_watched;

static void root_exit(void *unused)
{
    (void)unused;
    root_watched = false;
    coio__locals_release(&coio__locals_root);
}

static void root_key_create(void)
{
    root_key_err = pthread_key_create(&root_key, root_exit);
}

static int root_watch(void)
{
    if (root_watched)
        return 0;
    pthread_once(&root_once, root_key_create);
    if (root_key_err || pthread_setspecific(root_key, &root_watched) != 0)
        return -ENOMEM;
    root_watched = true;
    return 0;
}

/* ------------------------------------------------------------------ public calls */

coio_var *coio_var_new(void (*destructor)(void *value))
{
    coio_var *v = malloc(sizeof *v);
    if (!v) {
        errno = ENOMEM;
        return NULL;
    }
    v->key = atomic_fetch_add_explicit(&next_key, 1, memory_order_relaxed);
    v->destructor = destructor;
    return v;
}

int coio_var_delete(coio_var *var)
{
    if (!var)
        return -EINVAL;
    free(var);
    return 0;
}

void *coio_var_get(const coio_var *var)
{
    if (!var) {
        errno = EINVAL;
        return NULL;
    }
    entry *e = find((locals *)*coio__locals_slot(coio__loop_get()), var->key);
    return e ? e->value : NULL;
}

int coio_var_set(coio_var *var, void *value)
{
    if (!var)
        return -EINVAL;
    coio__locals **slot = coio__locals_slot(coio__loop_get());
    locals *m = (locals *)*slot;
    entry *e = find(m, var->key);
    void *old = e ? e->value : NULL;
    if (value == old)
        return 0; /* also unsetting what is unset */
    if (slot == &coio__locals_root && root_watch() < 0)
        return -ENOMEM;
    if (!value && m->n == 1) { /* the context becomes empty: no copy to make */
        *slot = NULL;
        locals_unref(&m->head);
        return 0;
    }
    /* An unshared box is reused: no allocation when a task sets the same variable
     * again and again. Otherwise every allocation comes before the first change. */
    bool reuse = e && e->box && e->box->refs == 1 && m->head.refs == 1 && value;
    box *nb = NULL;
    if (value && var->destructor && !reuse) {
        nb = malloc(sizeof *nb);
        if (!nb)
            return -ENOMEM;
        *nb = (box){.refs = 1, .value = value, .destructor = var->destructor};
    }
    size_t at = e ? (size_t)(e - m->v) : 0;
    m = own(slot, e ? 0 : 1);
    if (!m) {
        free(nb);
        return -ENOMEM;
    }
    box *ob = e ? m->v[at].box : NULL;
    if (reuse) {
        m->v[at].value = ob->value = value;
    } else if (!value) {
        m->v[at] = m->v[--m->n]; /* at least one is left (the case above) */
    } else {
        if (!e)
            at = m->n++;
        m->v[at] = (entry){.key = var->key, .value = value, .box = nb};
    }
    if (reuse)
        ob->destructor(old);
    else if (ob)
        box_unref(ob);
    return 0;
}
