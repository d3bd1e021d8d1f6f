/*
 * Tests of the response-header values batchexport acts on: Retry-After and
 * Content-Range (csrc/headers.c) and URLs (csrc/url.c): parsing, the
 * loopback decision on the parsed host, and origins.
 */
#include "../../csrc/headers.h"
#include "../../csrc/url.h"
#include "harness.h"

#define NOW ((time_t)784111777) /* Sun, 06 Nov 1994 08:49:37 GMT */

static void retry_after_is(const char *v, int want_rc, long want)
{
    long s = -12345;
    int rc = bx_retry_after(v, strlen(v), NOW, &s);
    check(rc == want_rc && (rc != 0 || s == want), "Retry-After \"%s\": rc %d, %ld (want %d, %ld)",
          v, rc, s, want_rc, want);
}

static void test_retry_after(void)
{
    retry_after_is("0", 0, 0);
    retry_after_is("120", 0, 120);
    retry_after_is("  120\t", 0, 120);
    retry_after_is("00000000000000000000000000007", 0, 7);
    retry_after_is("99999999999999999999999999999", 0, BX_RETRY_AFTER_MAX);
    retry_after_is("31622400", 0, BX_RETRY_AFTER_MAX);
    retry_after_is("Sun, 06 Nov 1994 08:51:37 GMT", 0, 120);   /* IMF-fixdate */
    retry_after_is("Sunday, 06-Nov-94 08:51:37 GMT", 0, 120);  /* RFC 850 */
    retry_after_is("Sun Nov  6 08:51:37 1994", 0, 120);        /* asctime */
    retry_after_is("Sun, 06 Nov 1994 08:00:00 GMT", 0, 0);     /* past: no wait */
    retry_after_is("Fri, 01 Jan 2100 00:00:00 GMT", 0, BX_RETRY_AFTER_MAX);
    retry_after_is("", -1, 0);
    retry_after_is("   ", -1, 0);
    retry_after_is("-1", -1, 0);
    retry_after_is("+5", -1, 0);
    retry_after_is("1.5", -1, 0);
    retry_after_is("12abc", -1, 0);
    retry_after_is("soon", -1, 0);
    retry_after_is("Sun, 06 Nov 1994 08:51:37 GMT and then some more text to make it long", -1, 0);
    {
        /* A NUL inside the value: not a date, and nothing read past n. */
        long s;
        check(bx_retry_after("12\0 34", 6, NOW, &s) == -1, "Retry-After with a NUL is refused");
    }
}

static void content_range_is(const char *v, int want_rc, long long first, long long last, long long complete)
{
    bx_content_range r = {-7, -7, -7};
    int rc = bx_parse_content_range(v, strlen(v), &r);
    check(rc == want_rc && (rc != 0 || (r.first == first && r.last == last && r.complete == complete)),
          "Content-Range \"%s\": rc %d, %lld-%lld/%lld", v, rc, r.first, r.last, r.complete);
}

static void test_content_range(void)
{
    content_range_is("bytes 100-199/10000", 0, 100, 199, 10000);
    content_range_is("  BYTES 0-0/1 ", 0, 0, 0, 1);
    content_range_is("bytes 100-199/*", 0, 100, 199, -1);
    content_range_is("bytes 4611686018427387902-4611686018427387902/*", 0,
                     4611686018427387902LL, 4611686018427387902LL, -1);
    content_range_is("bytes */10000", -1, 0, 0, 0);
    content_range_is("bytes 200-100/10000", -1, 0, 0, 0);
    content_range_is("bytes 100-199/199", -1, 0, 0, 0);
    content_range_is("bytes 100-199/", -1, 0, 0, 0);
    content_range_is("bytes 100-/10000", -1, 0, 0, 0);
    content_range_is("bytes -1-5/10", -1, 0, 0, 0);
    content_range_is("bytes=100-199/10000", -1, 0, 0, 0);
    content_range_is("items 100-199/10000", -1, 0, 0, 0);
    content_range_is("bytes 100-199/10000 trailing", -1, 0, 0, 0);
    content_range_is("bytes 100-199/*x", -1, 0, 0, 0);
    content_range_is("bytes 4611686018427387904-4611686018427387905/*", -1, 0, 0, 0);
    content_range_is("bytes 99999999999999999999999999-99999999999999999999999999/*", -1, 0, 0, 0);
    content_range_is("", -1, 0, 0, 0);
}

static void parse_ok(const char *s, const char *base, const char *scheme, const char *host, long port,
                     const char *path, const char *query, int has_user)
{
    bx_url u;
    const char *why;
    if (bx_url_parse(&u, s, strlen(s), base, &why) != 0) {
        fail_case("parse \"%s\": %s", s, why);
        return;
    }
    check(strcmp(u.scheme, scheme) == 0 && strcmp(u.host, host) == 0 && u.port == port &&
          strcmp(u.path, path) == 0 && (query ? u.query && strcmp(u.query, query) == 0 : !u.query) &&
          u.has_user == has_user,
          "parse \"%s\": %s %s %ld %s %s %d", s, u.scheme, u.host, u.port, u.path,
          u.query ? u.query : "(none)", u.has_user);
    bx_url_free(&u);
}

static void parse_fails(const char *s, size_t n)
{
    bx_url u;
    const char *why = NULL;
    int rc = bx_url_parse(&u, s, n, NULL, &why);
    check(rc == -1 && why != NULL && u.scheme == NULL && u.host == NULL, "parse \"%.*s\" must fail",
          (int)(n > 60 ? 60 : n), s);
    if (rc == 0)
        bx_url_free(&u);
}

static void test_parse(void)
{
    static char long_url[BX_URL_MAX + 64];
    parse_ok("https://api.batch.com/1.0/x?a=1", NULL, "https", "api.batch.com", 443, "/1.0/x", "a=1", 0);
    parse_ok("http://127.0.0.1:8080", NULL, "http", "127.0.0.1", 8080, "/", NULL, 0);
    parse_ok("HTTP://LocalHost:1/P", NULL, "http", "localhost", 1, "/P", NULL, 0);
    parse_ok("http://[::1]:9/", NULL, "http", "[::1]", 9, "/", NULL, 0);
    parse_ok("http://127.1/", NULL, "http", "127.0.0.1", 80, "/", NULL, 0);
    parse_ok("http://127.0.0.1@other-host:8080/x", NULL, "http", "other-host", 8080, "/x", NULL, 1);
    parse_ok("http://u:p@h/", NULL, "http", "h", 80, "/", NULL, 1);
    parse_ok("/exports/f?x=1", "http://127.0.0.1:9/2.11/exports/download?id=3", "http", "127.0.0.1", 9,
             "/exports/f", "x=1", 0);
    parse_ok("part.csv", "https://h/1.0/***/export/r", "https", "h", 443, "/1.0/***/export/part.csv", NULL, 0);
    parse_ok("//other.example/x", "https://h/a", "https", "other.example", 443, "/x", NULL, 0);
    parse_fails("", 0);
    parse_fails("nope", 4);
    parse_fails("//h/p", 5);
    parse_fails("ftp://h/x", 9);
    parse_fails("file:///etc/passwd", 18);
    parse_fails("http://h:0/", 11);
    parse_fails("http://h:65536/", 15);
    parse_fails("http://[::1", 11);
    parse_fails("http://[::1%25lo]/", 18);
    parse_fails("http://a b/", 11);
    parse_fails("http://h/\r\nX: y", 15);
    parse_fails("http://h/\0.evil", 15);
    /* A percent-encoded host comes back decoded but not normalized: "%37"
     * would be compared as "7", which curl reaches as 0.0.0.7 (the fuzzer's
     * round trip found it). */
    parse_fails("http://%37/", 11);
    parse_fails("http://%31%32%37.1/", 19);
    parse_ok("http://%31%32%37.0.0.1:8/", NULL, "http", "127.0.0.1", 8, "/", NULL, 0);
    memset(long_url, 'a', sizeof long_url);
    memcpy(long_url, "http://h/", 9);
    parse_fails(long_url, BX_URL_MAX + 1);
}

static void loopback_is(const char *host, int want)
{
    check(bx_url_is_loopback(host) == want, "is_loopback(\"%s\") should be %d", host, want);
}

static void test_loopback(void)
{
    loopback_is("127.0.0.1", 1);
    loopback_is("127.255.255.254", 1);
    loopback_is("localhost", 1);
    loopback_is("LOCALHOST", 1);
    loopback_is("[::1]", 1);
    loopback_is("[0:0:0:0:0:0:0:1]", 1);
    loopback_is("127.0.0.1.evil.example", 0);
    loopback_is("localhost.evil.example", 0);
    loopback_is("localhost.", 0);
    loopback_is("127.1", 0);             /* curl_url normalizes it before anyone asks */
    loopback_is("128.0.0.1", 0);
    loopback_is("0.0.0.0", 0);
    loopback_is("[::2]", 0);
    loopback_is("[::ffff:127.0.0.1]", 0);
    loopback_is("::1", 0);
    loopback_is("[::1", 0);
    loopback_is("[]", 0);
    loopback_is("", 0);
}

static void same_origin_is(const char *a, const char *b, int want)
{
    bx_url ua, ub;
    const char *why;
    if (bx_url_parse(&ua, a, strlen(a), NULL, &why) != 0 || bx_url_parse(&ub, b, strlen(b), NULL, &why) != 0) {
        fail_case("same_origin: cannot parse %s or %s", a, b);
        return;
    }
    check(bx_url_same_origin(&ua, &ub) == want, "same_origin(%s, %s) should be %d", a, b, want);
    bx_url_free(&ua);
    bx_url_free(&ub);
}

static void test_origin(void)
{
    same_origin_is("https://api.batch.com", "https://API.batch.com:443/1.0/k/export", 1);
    same_origin_is("http://127.0.0.1:9", "http://127.0.0.1:9/x?y", 1);
    same_origin_is("http://127.0.0.1:9", "http://127.0.0.2:9/", 0);
    same_origin_is("http://127.0.0.1:9", "http://127.0.0.1:10/", 0);
    same_origin_is("http://127.0.0.1:443", "https://127.0.0.1/", 0);
    same_origin_is("https://api.batch.com", "https://api.batch.com.evil.example/", 0);
}

int main(void)
{
    test_retry_after();
    test_content_range();
    test_parse();
    test_loopback();
    test_origin();
    return summary();
}
