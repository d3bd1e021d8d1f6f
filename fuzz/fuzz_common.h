/*
 * Shared helpers for the parser fuzz targets: a growable byte log that the
 * one-shot and the chunked parse both write to, and the chunk-size schedule
 * derived from the input's first byte.
 */
#ifndef BX_FUZZ_COMMON_H
#define BX_FUZZ_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    unsigned char *p;
    size_t len, cap;
} flog;

static void flog_add(flog *l, const void *p, size_t n)
{
    if (l->cap - l->len < n) {
        size_t cap = l->cap ? l->cap : 256;

        while (cap - l->len < n)
            cap *= 2;
        l->p = realloc(l->p, cap);
        if (!l->p)
            abort();
        l->cap = cap;
    }
    if (n)
        memcpy(l->p + l->len, p, n);
    l->len += n;
}

/* Length-prefixed, so no byte of a record can fake a boundary. */
static void flog_item(flog *l, const void *p, size_t n)
{
    uint64_t n64 = n;

    flog_add(l, &n64, sizeof n64);
    flog_add(l, p, n);
}

static void flog_code(flog *l, int code)
{
    flog_add(l, "#", 1);
    flog_add(l, &code, sizeof code);
}

/* Chunk sizes: a xorshift stream bounded by a limit picked from the first
 * byte; bit 3 allows empty chunks, which callers must accept. */
typedef struct {
    uint32_t state;
    size_t limit;
    int allow_empty;
} sched;

static void sched_init(sched *s, unsigned char b)
{
    static const size_t limits[8] = { 1, 2, 3, 7, 16, 64, 512, 65536 };

    s->state = 0x9e3779b9u ^ (uint32_t)b * 2654435761u;
    if (s->state == 0)
        s->state = 1;
    s->limit = limits[b & 7];
    s->allow_empty = (b & 8) != 0;
}

static size_t sched_next(sched *s)
{
    uint32_t x = s->state;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    s->state = x;
    if (s->allow_empty)
        return x % (s->limit + 1);
    return 1 + x % s->limit;
}

/* Each chunk in its own allocation so ASan sees any read past it. */
static char *chunk_dup(const uint8_t *p, size_t n)
{
    char *c = malloc(n ? n : 1);

    if (!c)
        abort();
    if (n)
        memcpy(c, p, n);
    return c;
}

#endif
