/*
 * headers.c: see headers.h.
 */
#include "headers.h"

#include <string.h>

#include <curl/curl.h>

/* An HTTP-date is 29 bytes; the obsolete forms are no longer. */
#define HTTP_DATE_MAX 64

static int is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

static long clamp_wait(double s)
{
    if (s <= 0)
        return 0;
    if (s >= (double)BX_RETRY_AFTER_MAX)
        return BX_RETRY_AFTER_MAX;
    return (long)s;
}

/* Digits only; a value past the cap stops counting there, so no length of
 * digits overflows. */
static int delta_seconds(const char *v, size_t n, long *seconds)
{
    size_t i;
    long s = 0;
    for (i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        if (s < BX_RETRY_AFTER_MAX)
            s = s * 10 + (v[i] - '0');
    }
    *seconds = s < BX_RETRY_AFTER_MAX ? s : BX_RETRY_AFTER_MAX;
    return 0;
}

/* curl_getdate knows the three forms RFC 9110 asks a recipient to accept;
 * it needs a C string, so the value is copied, bounded, and checked free of
 * NUL and control bytes first. */
static int http_date(const char *v, size_t n, time_t now, long *seconds)
{
    char buf[HTTP_DATE_MAX + 1];
    size_t i;
    time_t at;
    if (n > HTTP_DATE_MAX)
        return -1;
    for (i = 0; i < n; i++)
        if ((unsigned char)v[i] < ' ' || (unsigned char)v[i] >= 0x7f)
            return -1;
    memcpy(buf, v, n);
    buf[n] = '\0';
    at = curl_getdate(buf, NULL);
    if (at == (time_t)-1)
        return -1;
    *seconds = clamp_wait(difftime(at, now));
    return 0;
}

int bx_retry_after(const char *v, size_t n, time_t now, long *seconds)
{
    while (n > 0 && is_ows(v[0])) {
        v++;
        n--;
    }
    while (n > 0 && is_ows(v[n - 1]))
        n--;
    if (n == 0)
        return -1;
    if (v[0] >= '0' && v[0] <= '9')
        return delta_seconds(v, n, seconds);
    return http_date(v, n, now, seconds);
}

/* Positions stop at 2^62: no file is that large, and sums stay in range. */
#define POSITION_MAX (1LL << 62)

/* A run of digits at *p (advanced past it) below POSITION_MAX; -1 if none. */
static long long position(const char **p, const char *end)
{
    long long v = 0;
    const char *start = *p;
    while (*p < end && **p >= '0' && **p <= '9') {
        int d = **p - '0';
        if (v > (POSITION_MAX - 1 - d) / 10)
            return -1;
        v = v * 10 + d;
        (*p)++;
    }
    return *p == start ? -1 : v;
}

static int lower_equal(const char *p, const char *word, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        char ch = p[i] >= 'A' && p[i] <= 'Z' ? (char)(p[i] - 'A' + 'a') : p[i];
        if (ch != word[i])
            return 0;
    }
    return 1;
}

int bx_parse_content_range(const char *v, size_t n, bx_content_range *r)
{
    const char *p = v, *end = v + n;
    long long first, last, complete = -1;
    while (p < end && is_ows(*p))
        p++;
    while (end > p && is_ows(end[-1]))
        end--;
    if (end - p < 6 || !lower_equal(p, "bytes ", 6))
        return -1;
    p += 6;
    while (p < end && *p == ' ')
        p++;
    first = position(&p, end);
    if (first < 0 || p >= end || *p++ != '-')
        return -1;
    last = position(&p, end);
    if (last < first || p >= end || *p++ != '/')
        return -1;
    if (p < end && *p == '*' && p + 1 == end)
        p++;
    else if ((complete = position(&p, end)) <= last)
        return -1;
    if (p != end)
        return -1;
    r->first = first;
    r->last = last;
    r->complete = complete;
    return 0;
}
