/*
 * url.c: see url.h. libcurl parses; this file only asks it for the parts,
 * checks what libcurl allows and batchexport does not (other schemes, port
 * 0, zone ids, control bytes), and decides on the parts.
 */
#include "url.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

static void url_clear(bx_url *u)
{
    memset(u, 0, sizeof *u);
}

void bx_url_free(bx_url *u)
{
    curl_free(u->scheme);
    curl_free(u->host);
    curl_free(u->path);
    curl_free(u->query);
    curl_free(u->fragment);
    url_clear(u);
}

/* A NUL would cut the text curl sees; a control byte or a space has no place
 * in a URL a server sends, and curl would refuse or encode it anyway. */
static int clean_text(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] == 0x7f)
            return 0;
    return 1;
}

/* The part, or NULL when it is absent; *bad set when curl fails otherwise. */
static char *get_part(CURLU *h, CURLUPart what, unsigned flags, int *bad)
{
    char *v = NULL;
    CURLUcode rc = curl_url_get(h, what, &v, flags);
    if (rc == CURLUE_OK)
        return v;
    if (rc != CURLUE_NO_QUERY && rc != CURLUE_NO_FRAGMENT && rc != CURLUE_NO_USER &&
        rc != CURLUE_NO_PASSWORD && rc != CURLUE_NO_ZONEID)
        *bad = 1;
    return NULL;
}

static const char *fill(bx_url *u, CURLU *h)
{
    int bad = 0;
    char *port, *user, *password, *zone, *p;
    int has_zone;
    u->scheme = get_part(h, CURLUPART_SCHEME, 0, &bad);
    u->host = get_part(h, CURLUPART_HOST, 0, &bad);
    u->path = get_part(h, CURLUPART_PATH, 0, &bad);
    u->query = get_part(h, CURLUPART_QUERY, 0, &bad);
    u->fragment = get_part(h, CURLUPART_FRAGMENT, 0, &bad);
    port = get_part(h, CURLUPART_PORT, CURLU_DEFAULT_PORT, &bad);
    user = get_part(h, CURLUPART_USER, 0, &bad);
    password = get_part(h, CURLUPART_PASSWORD, 0, &bad);
    zone = get_part(h, CURLUPART_ZONEID, 0, &bad);
    u->has_user = user != NULL || password != NULL;
    has_zone = zone != NULL;
    u->port = port ? strtol(port, NULL, 10) : 0;
    curl_free(port);
    curl_free(user);
    curl_free(password);
    curl_free(zone);
    if (bad || u->scheme == NULL || u->host == NULL || u->path == NULL)
        return "the URL could not be parsed";
    if (strcmp(u->scheme, "http") != 0 && strcmp(u->scheme, "https") != 0)
        return "the URL's scheme is not http or https";
    if (has_zone)
        return "the URL's host has an IPv6 zone id";
    if (u->host[0] == '\0')
        return "the URL has no host";
    if (u->port < 1 || u->port > 65535)
        return "the URL's port is not in 1..65535";
    for (p = u->host; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return NULL;
}

static const char *curl_why(CURLUcode rc)
{
    switch (rc) {
    case CURLUE_BAD_SCHEME:
    case CURLUE_UNSUPPORTED_SCHEME:
        return "the URL has no http or https scheme";
    case CURLUE_BAD_PORT_NUMBER:
        return "the URL's port is not in 1..65535";
    case CURLUE_NO_HOST:
        return "the URL has no host";
    case CURLUE_BAD_HOSTNAME:
    case CURLUE_BAD_IPV6:
        return "the URL's host is not a valid name or address";
    case CURLUE_OUT_OF_MEMORY:
        return "out of memory";
    default:
        return "the URL could not be parsed";
    }
}

/* Whether host, as curl_url gave it, parses again to itself. A host written
 * percent-encoded comes back decoded but not normalized ("%37" gives "7",
 * where "7" itself is the address 0.0.0.7): the origin compared and the
 * address curl would reach must be the same text, so such a host is
 * refused. */
static int host_is_canonical(const char *host)
{
    char buf[BX_URL_MAX + 16];
    char *again = NULL;
    int same;
    CURLU *h;
    if (strlen(host) > BX_URL_MAX)
        return 0;
    snprintf(buf, sizeof buf, "http://%s/", host);
    h = curl_url();
    if (h == NULL)
        return 0;
    same = curl_url_set(h, CURLUPART_URL, buf, 0) == CURLUE_OK &&
           curl_url_get(h, CURLUPART_HOST, &again, 0) == CURLUE_OK && strcasecmp(again, host) == 0;
    curl_free(again);
    curl_url_cleanup(h);
    return same;
}

int bx_url_parse(bx_url *u, const char *s, size_t n, const char *base, const char **why)
{
    CURLU *h;
    CURLUcode rc = CURLUE_OK;
    char buf[BX_URL_MAX + 1];
    url_clear(u);
    *why = NULL;
    if (n == 0)
        *why = "the URL is empty";
    else if (n > BX_URL_MAX)
        *why = "the URL is longer than 16384 bytes";
    else if (!clean_text(s, n))
        *why = "the URL holds a space, a control character or a NUL";
    if (*why)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    h = curl_url();
    if (h == NULL) {
        *why = "out of memory";
        return -1;
    }
    if (base)
        rc = curl_url_set(h, CURLUPART_URL, base, 0);
    if (rc == CURLUE_OK)
        rc = curl_url_set(h, CURLUPART_URL, buf, 0);
    if (rc != CURLUE_OK)
        *why = curl_why(rc);
    else
        *why = fill(u, h);
    if (*why == NULL && !host_is_canonical(u->host))
        *why = "the URL's host is not written plainly (percent-encoded or not canonical)";
    curl_url_cleanup(h);
    if (*why) {
        bx_url_free(u);
        return -1;
    }
    return 0;
}

int bx_url_is_loopback(const char *host)
{
    char inner[INET6_ADDRSTRLEN + 1];
    size_t n = strlen(host);
    if (strcasecmp(host, "localhost") == 0)
        return 1;
    if (n > 2 && host[0] == '[' && host[n - 1] == ']') {
        struct in6_addr a6;
        if (n - 2 >= sizeof inner)
            return 0;
        memcpy(inner, host + 1, n - 2);
        inner[n - 2] = '\0';
        return inet_pton(AF_INET6, inner, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
    } else {
        struct in_addr a4;
        /* inet_pton takes only the dotted quad, so "127.1" or "127.0.0.1.x"
         * is no address here (curl_url has already normalized the former). */
        return inet_pton(AF_INET, host, &a4) == 1 && ((const unsigned char *)&a4.s_addr)[0] == 127;
    }
}

int bx_url_same_origin(const bx_url *a, const bx_url *b)
{
    return strcmp(a->scheme, b->scheme) == 0 && strcmp(a->host, b->host) == 0 && a->port == b->port;
}
