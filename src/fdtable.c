/* Per-fd state for the backends: a table of blocks of FD_BLOCK entries. Blocks never
 * move once allocated — backends link ops into list heads inside them — so only the
 * table of block pointers is ever reallocated. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define FD_BLOCK 256

void coio__fdtable_init(coio__fdtable *T, size_t elem_size, void (*init)(void *elem))
{
    memset(T, 0, sizeof *T);
    T->elem_size = elem_size;
    T->init = init;
}

void *coio__fdtable_find(const coio__fdtable *T, int fd)
{
    size_t blk = (size_t)fd / FD_BLOCK;
    if (fd < 0 || blk >= T->nblocks || !T->blocks[blk])
        return NULL;
    return T->blocks[blk] + ((size_t)fd % FD_BLOCK) * T->elem_size;
}

void *coio__fdtable_get(coio__fdtable *T, int fd)
{
    if (fd < 0)
        return NULL;
    size_t blk = (size_t)fd / FD_BLOCK;
    if (blk >= T->nblocks) {
        size_t n = T->nblocks ? T->nblocks : 4;
        while (n <= blk)
            n *= 2;
        char **p = realloc(T->blocks, n * sizeof *p);
        if (!p)
            return NULL;
        memset(p + T->nblocks, 0, (n - T->nblocks) * sizeof *p);
        T->blocks = p;
        T->nblocks = n;
    }
    if (!T->blocks[blk]) {
        char *b = malloc(FD_BLOCK * T->elem_size);
        if (!b)
            return NULL;
        for (size_t i = 0; i < FD_BLOCK; i++)
            T->init(b + i * T->elem_size);
        T->blocks[blk] = b;
    }
    return T->blocks[blk] + ((size_t)fd % FD_BLOCK) * T->elem_size;
}

void coio__fdtable_free(coio__fdtable *T)
{
    for (size_t i = 0; i < T->nblocks; i++)
        free(T->blocks[i]);
    free(T->blocks);
    T->blocks = NULL;
    T->nblocks = 0;
}
