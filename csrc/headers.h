/*
 * headers.h: the response header values batchexport acts on, parsed with
 * bounded results. Free of Lua, so the fuzzer and the C tests use it alone.
 * (Content-Range is checked by libcurl itself: a resumed transfer whose
 * answer does not start at the offset asked for fails with
 * CURLE_RANGE_ERROR.)
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

#endif
