/*
 * libFuzzer target for the response-header values batchexport acts on:
 * Retry-After and Content-Range (headers.c) and Location (url.c, alone and
 * resolved against an API URL).  Byte 0 picks the case; the rest is the
 * header value.  Checks: no crash or leak; a Retry-After wait is within
 * 0..BX_RETRY_AFTER_MAX, does not depend on the spaces around it, and equals
 * the number for plain digits; a Content-Range has 0 <= first <= last <
 * complete (or complete -1), does not depend on the spaces around it, and
 * prints back to text that parses the same; a parsed URL is http(s) with a
 * non-empty lower-case host and a port in 1..65535, and parsing the URL
 * rebuilt from its parts gives the same origin, path and query, the same
 * loopback verdict, and no user-info.
 */
#include "../csrc/headers.h"
#include "../csrc/url.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW ((time_t)1700000000)

static void check_retry_after(const char *v, size_t n)
{
    long s = -1, padded_s = -1;
    int rc = bx_retry_after(v, n, NOW, &s), all_digits = n > 0;
    char *padded = malloc(n + 4);
    size_t i;
    if (!padded)
        abort();
    if (rc == 0 && (s < 0 || s > BX_RETRY_AFTER_MAX))
        abort();
    /* Spaces around the value change nothing. */
    padded[0] = ' ';
    padded[1] = '\t';
    memcpy(padded + 2, v, n);
    padded[n + 2] = ' ';
    if (bx_retry_after(padded, n + 3, NOW, &padded_s) != rc || (rc == 0 && padded_s != s))
        abort();
    free(padded);
    for (i = 0; i < n; i++)
        if (v[i] < '0' || v[i] > '9')
            all_digits = 0;
    if (all_digits) {
        long want = 0;
        for (i = 0; i < n && want < BX_RETRY_AFTER_MAX; i++)
            want = want * 10 + (v[i] - '0');
        if (want > BX_RETRY_AFTER_MAX)
            want = BX_RETRY_AFTER_MAX;
        if (rc != 0 || s != want)
            abort();
    }
}

static void check_content_range(const char *v, size_t n)
{
    bx_content_range r, again;
    char *padded = malloc(n + 2), text[128];
    int rc = bx_parse_content_range(v, n, &r);
    if (!padded)
        abort();
    padded[0] = '\t';
    memcpy(padded + 1, v, n);
    padded[n + 1] = ' ';
    if (bx_parse_content_range(padded, n + 2, &again) != rc)
        abort();
    free(padded);
    if (rc != 0)
        return;
    if (r.first < 0 || r.last < r.first || (r.complete != -1 && r.complete <= r.last) ||
        again.first != r.first || again.last != r.last || again.complete != r.complete)
        abort();
    if (r.complete < 0)
        snprintf(text, sizeof text, "bytes %lld-%lld/*", r.first, r.last);
    else
        snprintf(text, sizeof text, "bytes %lld-%lld/%lld", r.first, r.last, r.complete);
    if (bx_parse_content_range(text, strlen(text), &again) != 0 || again.first != r.first ||
        again.last != r.last || again.complete != r.complete)
        abort();
}

static void check_parsed(const bx_url *u)
{
    const char *p;
    if (strcmp(u->scheme, "http") != 0 && strcmp(u->scheme, "https") != 0)
        abort();
    if (u->host[0] == '\0' || u->port < 1 || u->port > 65535 || u->path == NULL)
        abort();
    for (p = u->host; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            abort();
}

/* The URL rebuilt from its parts (as core.parse_url's url field) parses to
 * the same origin, path and query. */
static void check_round_trip(const bx_url *u)
{
    size_t n = strlen(u->scheme) + strlen(u->host) + strlen(u->path) +
               (u->query ? strlen(u->query) : 0) + 32;
    char *s = malloc(n);
    bx_url again;
    const char *why;
    if (!s)
        abort();
    snprintf(s, n, "%s://%s:%ld%s%s%s", u->scheme, u->host, u->port, u->path,
             u->query ? "?" : "", u->query ? u->query : "");
    if (strlen(s) <= BX_URL_MAX) {
        if (bx_url_parse(&again, s, strlen(s), NULL, &why) != 0)
            abort();
        if (!bx_url_same_origin(u, &again) || strcmp(u->path, again.path) != 0 || again.has_user ||
            (u->query == NULL) != (again.query == NULL) ||
            (u->query && strcmp(u->query, again.query) != 0) ||
            bx_url_is_loopback(u->host) != bx_url_is_loopback(again.host))
            abort();
        bx_url_free(&again);
    }
    free(s);
}

static void check_url(const char *v, size_t n, const char *base)
{
    bx_url u;
    const char *why = NULL;
    if (bx_url_parse(&u, v, n, base, &why) != 0) {
        if (why == NULL || u.scheme || u.host || u.path)
            abort();
        return;
    }
    check_parsed(&u);
    check_round_trip(&u);
    bx_url_free(&u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *v;
    if (size < 1)
        return 0;
    /* Its own allocation, so ASan sees any read past the value. */
    v = malloc(size - 1 ? size - 1 : 1);
    if (!v)
        abort();
    memcpy(v, data + 1, size - 1);
    switch (data[0] % 4) {
    case 0:
        check_retry_after(v, size - 1);
        break;
    case 3:
        check_content_range(v, size - 1);
        break;
    case 1:
        check_url(v, size - 1, NULL);
        break;
    case 2:
        check_url(v, size - 1, "https://api.batch.com/2.11/exports/download?id=f");
        break;
    }
    /* The host check alone, on any text (NUL-terminated, bounded). */
    if (size - 1 < 512) {
        char host[512];
        memcpy(host, data + 1, size - 1);
        host[size - 1] = '\0';
        (void)bx_url_is_loopback(host);
    }
    free(v);
    return 0;
}
