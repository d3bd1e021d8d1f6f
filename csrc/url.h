/*
 * url.h: the one URL parser of batchexport, over libcurl's URL API (CURLU),
 * and the decisions taken on its result: whether a host is loopback, whether
 * two URLs share an origin. Free of Lua, so the fuzzer and the C tests use it
 * alone. Every decision is made on the parsed parts, never on the text.
 */
#ifndef BX_URL_H
#define BX_URL_H

#include <stddef.h>

/* Longer URLs are refused: a signed storage link is about 1 KiB. */
#define BX_URL_MAX 16384

typedef struct bx_url {
    char *scheme;   /* "http" or "https" */
    char *host;     /* lower-cased; an IPv6 literal keeps its brackets */
    long port;      /* 1..65535, the scheme's default when absent */
    char *path;     /* at least "/" */
    char *query;    /* NULL when absent */
    char *fragment; /* NULL when absent */
    int has_user;   /* user or password given ("user:pass@") */
} bx_url;

/* Parses the n bytes at s: an absolute http(s) URL, or, when base is not
 * NULL, a reference resolved against the absolute URL base. Returns 0 and
 * fills u (free it with bx_url_free), or -1 with *why a static message and u
 * left empty. */
int bx_url_parse(bx_url *u, const char *s, size_t n, const char *base, const char **why);
void bx_url_free(bx_url *u);

/* Whether host, as bx_url_parse gives it, is loopback: an IPv4 literal in
 * 127.0.0.0/8, the IPv6 literal [::1], or exactly "localhost". */
int bx_url_is_loopback(const char *host);

/* Whether a and b have the same origin: scheme, host and port. */
int bx_url_same_origin(const bx_url *a, const bx_url *b);

#endif
