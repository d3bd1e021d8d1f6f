/*
 * strbuf.h: a growable byte buffer with a hard limit, so that a response the
 * server makes larger than expected fails cleanly instead of exhausting memory.
 * Free of Lua and curl.
 */
#ifndef BX_STRBUF_H
#define BX_STRBUF_H

#include <stddef.h>

typedef struct strbuf {
    char *data;
    size_t len;
    size_t cap;
    size_t limit; /* len never exceeds this */
} strbuf;

void strbuf_init(strbuf *b, size_t limit);
/* Returns 0, or -1 when the limit would be passed or memory is short (b unchanged). */
int strbuf_append(strbuf *b, const void *p, size_t n);
void strbuf_reset(strbuf *b);
void strbuf_free(strbuf *b);
/* Overwrites the contents before freeing: for buffers that held secrets. */
void strbuf_wipe(strbuf *b);

/* Zeroes memory in a way the compiler may not elide. */
void bx_wipe(void *p, size_t n);

#endif
