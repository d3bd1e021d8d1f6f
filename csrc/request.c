/*
 * request.c: builds a transfer's curl options from a Lua request table (URL,
 * method and body, headers and credentials, sink, timeouts, resume offset).
 * Redirects are never followed: the caller decides what may be sent to the
 * next origin. Credentials are attached here only, and only to a request for
 * base_url's origin (check_origin); the legacy key goes only into the URL
 * built here from base_url (set_legacy_url).
 */
#include "request.h"

#include "strbuf.h"
#include "tempfile.h"
#include "url.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STREAM_BUFFER_DEFAULT (1024 * 1024)

enum { AUTH_NONE, AUTH_V2, AUTH_LEGACY };

/* What every step below works on. */
typedef struct build {
    lua_State *L;
    int spec; /* the request table's index */
    const bx_client_settings *c;
    CURL *easy;
    bx_request *r;
} build;

void bx_request_init(bx_request *r)
{
    memset(r, 0, sizeof *r);
    r->fd = -1;
}

void bx_request_free(bx_request *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    bx_free_secret_headers(r->headers);
    r->headers = NULL;
    free(r->display_url);
    r->display_url = NULL;
}

static const char *spec_string(build *b, const char *key, const char *dflt)
{
    lua_State *L = b->L;
    const char *s;
    lua_getfield(L, b->spec, key);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return dflt;
    }
    if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "request.%s: expected a string", key);
    s = lua_tostring(L, -1);
    lua_pop(L, 1); /* kept alive by the spec table */
    return s;
}

static lua_Integer spec_integer(build *b, const char *key, lua_Integer dflt)
{
    lua_Integer v;
    lua_getfield(b->L, b->spec, key);
    v = luaL_optinteger(b->L, -1, dflt);
    lua_pop(b->L, 1);
    return v;
}

static int spec_bool(build *b, const char *key, int dflt)
{
    int v;
    lua_getfield(b->L, b->spec, key);
    v = lua_isnil(b->L, -1) ? dflt : lua_toboolean(b->L, -1);
    lua_pop(b->L, 1);
    return v;
}

static int unsafe_in_url_or_header(const char *s, size_t n, int allow_space)
{
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\r' || ch == '\n' || ch == '\0' || (!allow_space && ch <= ' '))
            return 1;
    }
    return 0;
}

/* Joins parts into a new string (malloc'd), or NULL when memory is short. */
static char *join3(const char *a, const char *b, const char *c)
{
    size_t na = strlen(a), nb = strlen(b), nc = strlen(c);
    char *s = malloc(na + nb + nc + 1);
    if (s) {
        memcpy(s, a, na);
        memcpy(s + na, b, nb);
        memcpy(s + na + nb, c, nc + 1);
    }
    return s;
}

/* The 1.0 URL the client builds itself, base_url/1.0/<api key>/path: the
 * only way the key enters a URL. No text a server sent is a template. The
 * key goes to curl only; the copy kept for messages shows ***. */
static void set_legacy_url(build *b, const char *path)
{
    lua_State *L = b->L;
    const bx_client_settings *c = b->c;
    char *secret, *url = NULL;
    size_t n;
    if (c->api_key == NULL)
        luaL_error(L, "request.legacy_path needs an api_key, and the client has none");
    if (unsafe_in_url_or_header(path, strlen(path), 0))
        luaL_error(L, "request.legacy_path: expected a path without spaces or control characters");
    b->r->display_url = join3(c->base_url, "/1.0/***/", path);
    secret = curl_easy_escape(b->easy, c->api_key, 0);
    if (b->r->display_url && secret) {
        n = strlen(c->base_url) + strlen(secret) + strlen(path) + sizeof "/1.0//";
        url = malloc(n);
        if (url)
            snprintf(url, n, "%s/1.0/%s/%s", c->base_url, secret, path);
    }
    if (secret) {
        bx_wipe(secret, strlen(secret));
        curl_free(secret);
    }
    if (url == NULL)
        luaL_error(L, "out of memory");
    curl_easy_setopt(b->easy, CURLOPT_URL, url);
    bx_wipe(url, strlen(url));
    free(url);
}

/* request.url is used as it is; request.legacy_path asks for the URL above. */
static void set_url(build *b, const char *url, const char *legacy_path)
{
    if ((url == NULL) == (legacy_path == NULL))
        luaL_error(b->L, "request: give exactly one of url and legacy_path");
    if (legacy_path) {
        set_legacy_url(b, legacy_path);
        return;
    }
    b->r->display_url = join3(url, "", "");
    if (b->r->display_url == NULL)
        luaL_error(b->L, "out of memory");
    curl_easy_setopt(b->easy, CURLOPT_URL, url);
}

/* The one check before any credential is attached: the request must go to
 * base_url's origin. The URL checked is the one shown (the key in a legacy
 * path is ***), which has the same origin as the one sent. */
static void check_origin(build *b)
{
    const bx_url *origin = &b->c->origin;
    const char *shown = b->r->display_url;
    bx_url u;
    const char *why;
    int same;
    if (bx_url_parse(&u, shown, strlen(shown), NULL, &why) != 0)
        luaL_error(b->L, "request.url: %s", why);
    same = !u.has_user && bx_url_same_origin(&u, origin);
    bx_url_free(&u);
    if (!same)
        luaL_error(b->L,
                   "request.url: credentials go only to base_url's origin (%s://%s:%d),"
                   " and this URL is on another origin",
                   origin->scheme, origin->host, (int)origin->port);
}

static void add_header(build *b, const char *line)
{
    struct curl_slist *l = curl_slist_append(b->r->headers, line);
    if (l == NULL)
        luaL_error(b->L, "out of memory");
    b->r->headers = l;
}

static void add_auth(build *b, const struct curl_slist *auth, const char *which)
{
    if (auth == NULL)
        luaL_error(b->L, "request.auth = %s, and the client has no key for it", which);
    for (; auth; auth = auth->next)
        add_header(b, auth->data);
}

static int spec_auth(build *b)
{
    static const char *const auths[] = {"none", "v2", "legacy", NULL};
    int auth;
    lua_getfield(b->L, b->spec, "auth");
    auth = luaL_checkoption(b->L, -1, "none", auths);
    lua_pop(b->L, 1);
    return auth;
}

static void set_headers(build *b, int auth)
{
    lua_State *L = b->L;
    const char *ctype = spec_string(b, "content_type", NULL);
    int i, n;
    if (auth == AUTH_V2)
        add_auth(b, b->c->v2_auth, "v2");
    else if (auth == AUTH_LEGACY)
        add_auth(b, b->c->legacy_auth, "legacy");
    lua_getfield(L, b->spec, "headers");
    n = lua_istable(L, -1) ? (int)lua_rawlen(L, -1) : 0;
    for (i = 1; i <= n; i++) {
        size_t len;
        const char *h;
        lua_rawgeti(L, -1, i);
        h = lua_tolstring(L, -1, &len);
        if (h == NULL || unsafe_in_url_or_header(h, len, 1) || strchr(h, ':') == NULL)
            luaL_error(L, "request.headers[%d]: expected a 'Name: value' line without CR or LF", i);
        add_header(b, h);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (ctype) {
        char line[256];
        if (unsafe_in_url_or_header(ctype, strlen(ctype), 1) || strlen(ctype) > 200)
            luaL_error(L, "request.content_type: invalid");
        snprintf(line, sizeof line, "Content-Type: %s", ctype);
        add_header(b, line);
    }
    /* Expect: 100-continue costs a round trip for nothing here. */
    add_header(b, "Expect:");
    curl_easy_setopt(b->easy, CURLOPT_HTTPHEADER, b->r->headers);
}

static void set_sink(build *b)
{
    static const char *const sinks[] = {"buffer", "file", "stream", NULL};
    lua_State *L = b->L;
    bx_request *r = b->r;
    lua_getfield(L, b->spec, "sink");
    r->sink = luaL_checkoption(L, -1, "buffer", sinks);
    lua_pop(L, 1);
    if (r->sink == BX_SINK_BUFFER) {
        lua_Integer cap = spec_integer(b, "max_body", (lua_Integer)b->c->max_body);
        r->max_body = cap > 0 ? (size_t)cap : b->c->max_body;
        if (spec_bool(b, "accept_encoding", 1))
            curl_easy_setopt(b->easy, CURLOPT_ACCEPT_ENCODING, "");
        return;
    }
    curl_easy_setopt(b->easy, CURLOPT_BUFFERSIZE, (long)BX_CURL_CHUNK);
    if (r->sink == BX_SINK_STREAM) {
        lua_Integer cap = spec_integer(b, "buffer_size", STREAM_BUFFER_DEFAULT);
        /* At least two of curl's chunks, so a held-back chunk always fits
         * once the consumer has caught up. */
        r->ring_cap = cap >= 2 * BX_CURL_CHUNK ? (size_t)cap : 2 * BX_CURL_CHUNK;
    } else {
        /* Never a path: a name can be swapped for a link between checks. */
        int append = spec_bool(b, "append", 0);
        lua_getfield(L, b->spec, "file");
        r->fd = bx_tempfile_sink_fd(L, lua_gettop(L), append);
        lua_pop(L, 1);
    }
}

static void set_method(build *b)
{
    lua_State *L = b->L;
    const char *method = spec_string(b, "method", "GET");
    size_t len = 0;
    const char *body;
    lua_getfield(L, b->spec, "body");
    body = lua_tolstring(L, -1, &len);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(b->easy, CURLOPT_POST, 1L);
        curl_easy_setopt(b->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(b->easy, CURLOPT_COPYPOSTFIELDS, body ? body : "");
    } else if (strcmp(method, "GET") != 0) {
        luaL_error(L, "request.method: GET or POST expected, got %s", method);
    } else if (body) {
        luaL_error(L, "request.body: a GET has no body");
    }
    lua_pop(L, 1);
}

static void set_common(build *b, lua_Integer timeout_ms)
{
    const bx_client_settings *c = b->c;
    CURL *e = b->easy;
    curl_easy_setopt(e, CURLOPT_SHARE, c->share);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    /* The loop's own stall guard, not curl's low-speed check: it must stop
     * its clock while a stream's consumer holds the transfer paused. */
    b->r->guard_ms = (double)c->low_speed_time * 1000;
    b->r->guard_bytes = (curl_off_t)c->low_speed_limit * c->low_speed_time;
    if (b->r->guard_bytes < 1)
        b->r->guard_bytes = 1;
    if (c->user_agent)
        curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
    if (c->proxy)
        curl_easy_setopt(e, CURLOPT_PROXY, c->proxy);
    if (c->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, c->ssl_verify ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, c->ssl_verify ? 2L : 0L);
}

/* The client's timeout, cut to the time left before the call's deadline
 * (request.deadline_ms) when that is shorter. */
static lua_Integer timeout_ms(build *b)
{
    lua_Integer timeout = spec_integer(b, "timeout_ms", b->c->timeout_ms);
    lua_Integer left = spec_integer(b, "deadline_ms", 0);
    if (left > LONG_MAX)
        left = LONG_MAX;
    if (left > 0 && (timeout <= 0 || left < timeout))
        timeout = left;
    return timeout;
}

void bx_request_build(lua_State *L, bx_client *client, int spec, CURL *easy, bx_request *r)
{
    build b;
    const char *url, *legacy_path;
    size_t url_len;
    lua_Integer resume;
    int auth;
    b.L = L;
    b.spec = lua_absindex(L, spec);
    b.c = bx_client_settings_of(client);
    b.easy = easy;
    b.r = r;

    lua_getfield(L, b.spec, "url");
    url = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &url_len) : NULL;
    if (!lua_isnil(L, -1) && (url == NULL || unsafe_in_url_or_header(url, url_len, 0)))
        luaL_error(L, "request.url: expected a URL without spaces or control characters");
    lua_pop(L, 1); /* kept alive by the spec table */
    legacy_path = spec_string(&b, "legacy_path", NULL);
    auth = spec_auth(&b);

    set_common(&b, timeout_ms(&b));
    set_url(&b, url, legacy_path);
    if (auth != AUTH_NONE || legacy_path)
        check_origin(&b);
    set_headers(&b, auth);
    set_method(&b);
    set_sink(&b);
    resume = spec_integer(&b, "resume_from", 0);
    if (resume > 0) {
        r->resume_from = (curl_off_t)resume;
        curl_easy_setopt(easy, CURLOPT_RESUME_FROM_LARGE, r->resume_from);
    }
}
