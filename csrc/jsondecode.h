/*
 * jsondecode: the pure scanning half of the record decoder (jsonvalue.c
 * builds Lua values with it). Strict RFC 8259 JSON: no leading zeros, no
 * NaN/Infinity/hex, no raw control characters in strings, surrogate pairs
 * checked; nesting deeper than JSONDECODE_MAX_DEPTH is refused.
 *
 * Every scanner takes [p, end) and a flag `more`: whether bytes past `end`
 * may still arrive (a record cut by a chunk boundary). A scanner that runs
 * into `end` returns JSONDECODE_MORE when `more` is set, else
 * JSONDECODE_ERR_END; either way *stop is where it stopped. On an error
 * *stop is the offending byte.
 *
 * Depends only on the C standard library: no Lua, no curl.
 */
#ifndef BX_JSONDECODE_H
#define BX_JSONDECODE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* What a scan returns: a value, a value cut short by the end of the input
 * (more may come), or why the bytes are not JSON. */
enum {
    JSONDECODE_OK = 1,          /* a whole value */
    JSONDECODE_MORE = 0,        /* the input ends inside a value, and more may come */
    JSONDECODE_ERR_SYNTAX = -1, /* a byte no JSON value has there */
    JSONDECODE_ERR_STRING = -2, /* a bad escape or a raw control character */
    JSONDECODE_ERR_NUMBER = -3, /* leading zeros, a lone '-', no digit after '.' or 'e' */
    JSONDECODE_ERR_DEPTH = -4,  /* nested deeper than JSONDECODE_MAX_DEPTH */
    JSONDECODE_ERR_END = -5,    /* the input ends inside a value, and it is all */
    JSONDECODE_ERR_NOMEM = -6
};

#define JSONDECODE_MAX_DEPTH 1000

/* A number as scanned: a whole one that fits in 64 bits, or a double. */
typedef struct jsondecode_number_t {
    int integer;
    int64_t i;
    double d;
} jsondecode_number_t;

/* Skips JSON whitespace (space, tab, CR, LF). Records from an export
 * rarely hold any between tokens: one test settles that case. */
static inline const char *jsondecode_ws(const char *p, const char *end)
{
    if (p < end && (unsigned char)*p > ' ')
        return p;
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* Plain string bytes are scanned a block at a time: a stop mask marks the
 * bytes of the block that are a quote, a backslash or below 0x20, and
 * jsondecode_first_marked() gives the first one's index. SSE2 (every
 * x86-64) takes 16 bytes in a few instructions; elsewhere eight bytes go
 * through the classic "has a zero byte" test. */
#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>

#define JSONDECODE_BLOCK 16

static inline uint64_t jsondecode_stop_mask(const char *p)
{
    const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    const __m128i ctl = _mm_set1_epi8(0x1F);
    __m128i m =
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
    /* unsigned v <= 0x1F exactly when max(v, 0x1F) == 0x1F */
    m = _mm_or_si128(m, _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl));
    return (uint64_t)(unsigned)_mm_movemask_epi8(m);
}

static inline unsigned jsondecode_first_marked(uint64_t m)
{
    return (unsigned)__builtin_ctzll(m);
}
#else
#define JSONDECODE_BLOCK 8

/* The high bit set in the first marked byte (borrows only run upward, so
 * the lowest marked byte is exact; bytes above it may be marked falsely). */
static inline uint64_t jsondecode_stop_mask(const char *p)
{
    const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);
    uint64_t v, q, b;
    memcpy(&v, p, 8);
    q = v ^ (ones * '"');
    b = v ^ (ones * '\\');
    return (((q - ones) & ~q) | ((b - ones) & ~b) | ((v - ones * 0x20) & ~v)) & highs;
}

/* The index (0 to 7) of the byte a stop mask marks first, in memory order. */
static inline unsigned jsondecode_first_marked(uint64_t m)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (unsigned)__builtin_ctzll(m) >> 3;
#else
    unsigned char bytes[8];
    unsigned i = 0;
    memcpy(bytes, &m, 8);
    while (!bytes[i])
        i++;
    return i;
#endif
}
#endif

/* Any string: escapes, control characters, the end of the input. */
int jsondecode_string_slow(const char *p, const char *end, int more, const char **stop,
                           int *escaped);

/* p is just past the opening quote. On JSONDECODE_OK *stop is the closing
 * quote and *escaped says whether the string needs jsondecode_unescape().
 * Inline for the common string, plain and well inside the input. */
static inline int jsondecode_string(const char *p, const char *end, int more, const char **stop,
                                    int *escaped)
{
    const char *q = p;
    while (end - q >= JSONDECODE_BLOCK) {
        uint64_t m = jsondecode_stop_mask(q);
        if (m) {
            q += jsondecode_first_marked(m);
            if (*q != '"')
                break;
            *escaped = 0;
            *stop = q;
            return JSONDECODE_OK;
        }
        q += JSONDECODE_BLOCK;
    }
    return jsondecode_string_slow(p, end, more, stop, escaped);
}

/* Decodes a string jsondecode_string() accepted, [p, close), into out
 * (which has room for close - p bytes: decoding never grows a string).
 * Returns the decoded length. */
size_t jsondecode_unescape(const char *p, const char *close, char *out);

/* Scans a number starting at p; *stop is one past it. Whole numbers within
 * 64 bits come out exact; others through strtod, as cjson does. */
int jsondecode_number(const char *p, const char *end, int more, const char **stop,
                      jsondecode_number_t *n);

/* Scans "true", "false" or "null" at p: returns OK with *stop past it and
 * *which 't', 'f' or 'n'. */
int jsondecode_literal(const char *p, const char *end, int more, const char **stop, char *which);

/* Checks one value at p (any type, `depth` levels already open) without
 * building anything; *stop is one past it. */
int jsondecode_skip(const char *p, const char *end, int more, int depth, const char **stop);

/* A whole document: one value with optional whitespace around it. Returns
 * OK, or an error with *stop at the offending byte. */
int jsondecode_validate(const char *p, size_t len, const char **stop);

/* A static English message for any code above; never NULL. */
const char *jsondecode_strerror(int code);

#endif
