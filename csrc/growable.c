/*
 * growable.c: see growable.h.
 */
#include "growable.h"

#include <stdint.h>
#include <stdlib.h>

void *bx_grow(void *items, size_t *cap, size_t need, size_t elem, size_t first)
{
    size_t n = *cap ? *cap : first;
    void *grown;
    if (need <= *cap)
        return items;
    while (n < need) {
        if (n > SIZE_MAX / 2 / elem)
            return NULL;
        n *= 2;
    }
    grown = realloc(items, n * elem);
    if (grown != NULL)
        *cap = n;
    return grown;
}

int bx_ptrset_add(bx_ptrset *s, void *p)
{
    void **items = bx_grow(s->items, &s->cap, s->n + 1, sizeof *items, 16);
    if (items == NULL)
        return -1;
    s->items = items;
    s->items[s->n++] = p;
    return 0;
}

void bx_ptrset_remove(bx_ptrset *s, const void *p)
{
    size_t i;
    for (i = 0; i < s->n; i++) {
        if (s->items[i] == p) {
            s->items[i] = s->items[--s->n];
            return;
        }
    }
}

void bx_ptrset_free(bx_ptrset *s)
{
    free(s->items);
    s->items = NULL;
    s->n = s->cap = 0;
}
