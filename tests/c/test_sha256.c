/*
 * test_sha256.c: csrc/sha256.c against FIPS 180-4's test vectors, fed whole,
 * byte by byte and split at every offset (a streamed download hands it
 * chunks of any size). Prints "N passed, N failed".
 *
 *   cc -std=c99 tests/c/test_sha256.c csrc/sha256.c && ./a.out
 */
#include "../../csrc/sha256.h"

#include <stdio.h>
#include <string.h>

static unsigned passed, failed;

static void check(int ok, const char *what)
{
    if (ok) {
        passed++;
    } else {
        failed++;
        printf("FAIL: %s\n", what);
    }
}

static void hex_of(const char *data, size_t len, size_t split, char out[65])
{
    bx_sha256 s;
    unsigned char d[BX_SHA256_LEN];
    bx_sha256_init(&s);
    if (split == 1) {
        size_t i;
        for (i = 0; i < len; i++)
            bx_sha256_update(&s, data + i, 1);
    } else {
        bx_sha256_update(&s, data, split);
        bx_sha256_update(&s, data + split, len - split);
    }
    bx_sha256_final(&s, d);
    bx_sha256_hex(d, out);
}

static void vector(const char *data, const char *want)
{
    size_t len = strlen(data), split;
    char got[65];
    hex_of(data, len, 1, got);
    check(strcmp(got, want) == 0, data);
    for (split = 0; split <= len; split++) {
        hex_of(data, len, split, got);
        check(strcmp(got, want) == 0, data);
    }
}

static void million_a(void)
{
    static char chunk[1000];
    bx_sha256 s;
    unsigned char d[BX_SHA256_LEN];
    char got[65];
    int i;
    memset(chunk, 'a', sizeof chunk);
    bx_sha256_init(&s);
    for (i = 0; i < 1000; i++)
        bx_sha256_update(&s, chunk, sizeof chunk);
    bx_sha256_final(&s, d);
    bx_sha256_hex(d, got);
    check(strcmp(got, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0,
          "one million a");
}

int main(void)
{
    vector("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    vector("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    vector("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
           "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    vector("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
           "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    million_a();
    printf("%u passed, %u failed\n", passed, failed);
    return failed != 0;
}
