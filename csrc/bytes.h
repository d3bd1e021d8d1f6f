/*
 * bytes.h: short runs of bytes (keys) compared, and told apart by a bit,
 * inline. Depends only on the C standard library.
 */
#ifndef BX_BYTES_H
#define BX_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Whether a and b hold the same len bytes. Keys are short: eight bytes at
 * a time, the last eight overlapping, never reading past either end
 * (memcmp's call costs more than the compare). */
static inline int bx_same_bytes(const char *a, const char *b, size_t len)
{
    uint64_t x, y;
    size_t i;
    if (len < 8) {
        for (i = 0; i < len; i++)
            if (a[i] != b[i])
                return 0;
        return 1;
    }
    for (i = 0; i + 8 < len; i += 8) {
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y)
            return 0;
    }
    memcpy(&x, a + len - 8, 8);
    memcpy(&y, b + len - 8, 8);
    return x == y;
}

/* A key's bit in a 64-bit mask of keys, from its length and first byte: a
 * key not in a set is most often turned away by its bit, without a
 * compare. */
static inline uint64_t bx_key_bit(const char *s, size_t len)
{
    return (uint64_t)1 << ((len * 7 + (len ? (unsigned char)s[0] : 0)) % 64);
}

#endif
