/*
 * growable.h: arrays that grow by doubling, and unordered sets of pointers
 * kept in one (the transfers of a loop, of a client). Free of Lua and curl.
 */
#ifndef BX_GROWABLE_H
#define BX_GROWABLE_H

#include <stddef.h>

/* items (cap elements of elem bytes) grown to hold need; returns the array,
 * perhaps moved, with *cap updated, or NULL when memory is short (then items
 * and *cap are as they were). The first allocation holds first elements. */
void *bx_grow(void *items, size_t *cap, size_t need, size_t elem, size_t first);

typedef struct bx_ptrset {
    void **items;
    size_t n, cap;
} bx_ptrset;

/* -1 when memory is short. */
int bx_ptrset_add(bx_ptrset *s, void *p);
/* Moves the last item into p's place: the order is not kept. */
void bx_ptrset_remove(bx_ptrset *s, const void *p);
void bx_ptrset_free(bx_ptrset *s);

#endif
