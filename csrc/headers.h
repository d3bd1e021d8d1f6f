/*
 * headers.h: the response header values batchexport acts on, parsed with
 * bounded results. Free of Lua, so the fuzzer and the C tests use it alone.
 */
#ifndef BX_HEADERS_H
#define BX_HEADERS_H

#include <stddef.h>
#include <time.h>

/* A longer wait is reported as this much: a year is "never" for a client. */
#define BX_RETRY_AFTER_MAX (366L * 86400)

/* Retry-After (RFC 9110 10.2.3): the n bytes at v, delta-seconds or an
 * HTTP-date, optional spaces around. Returns 0 and sets *seconds to the
 * wait from now, clamped to 0..BX_RETRY_AFTER_MAX; -1 when v is neither. */
int bx_retry_after(const char *v, size_t n, time_t now, long *seconds);

/* Content-Range (RFC 9110 14.4) of a 206: "bytes FIRST-LAST/COMPLETE", where
 * COMPLETE may be an asterisk (unknown length). first, last and complete are
 * byte positions below 2^62; complete is -1 when unknown. */
typedef struct bx_content_range {
    long long first, last, complete;
} bx_content_range;

/* Parses the n bytes at v. Returns 0 and fills r, or -1 when v is not a
 * satisfied byte range: another unit, an asterisk in place of FIRST-LAST
 * (the form of a 416), LAST before FIRST, or LAST past COMPLETE. */
int bx_parse_content_range(const char *v, size_t n, bx_content_range *r);

#endif
