/* Intrusive circular doubly linked list: O(1) push, pop and unlink, no allocation.
 * A node that is in no list points at itself, so unlinking twice is harmless. */
#ifndef COIO_LIST_H
#define COIO_LIST_H

#include <stddef.h>

typedef struct coio__list {
    struct coio__list *next, *prev;
} coio__list;

#define coio__container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

static inline void coio__list_init(coio__list *l)
{
    l->next = l->prev = l;
}

static inline int coio__list_is_empty(const coio__list *l)
{
    return l->next == l;
}

static inline void coio__list_push_back(coio__list *head, coio__list *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

static inline void coio__list_unlink(coio__list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = n;
}

/* Removes and returns the first node, or NULL when empty. */
static inline coio__list *coio__list_pop_front(coio__list *head)
{
    coio__list *n = head->next;
    if (n == head)
        return NULL;
    coio__list_unlink(n);
    return n;
}

#define coio__list_for_each_safe(pos, tmp, head) \
    for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); (pos) = (tmp), (tmp) = (pos)->next)

#endif
