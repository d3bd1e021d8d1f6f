/*
 * sha256.h: SHA-256 (FIPS 180-4), fed in chunks of any size. Pure C99, no
 * Lua, no curl, no OpenSSL, so it is tested alone (tests/c/test_sha256.c).
 */
#ifndef BX_SHA256_H
#define BX_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define BX_SHA256_LEN 32

typedef struct {
    uint32_t h[8];
    uint64_t bytes; /* message length so far */
    unsigned char block[64];
    size_t used; /* bytes waiting in block */
} bx_sha256;

void bx_sha256_init(bx_sha256 *s);
void bx_sha256_update(bx_sha256 *s, const void *data, size_t len);
/* Writes the digest; s must be initialised again before reuse. */
void bx_sha256_final(bx_sha256 *s, unsigned char out[BX_SHA256_LEN]);
/* The digest as 64 lowercase hex digits and a NUL. */
void bx_sha256_hex(const unsigned char digest[BX_SHA256_LEN], char out[2 * BX_SHA256_LEN + 1]);

#endif
