/*
 * transfer.c: one HTTP exchange on the loop. The response body goes to one of
 * three sinks: a capped buffer (API calls), a file descriptor (downloads,
 * written from curl's callback with no Lua in between), or a bounded stream
 * buffer that pauses the transfer while the consumer is behind (readers).
 * Redirects are never followed here: the caller decides what may be sent to
 * the next origin. Credentials are attached here only, and only to a request
 * for base_url's origin (check_origin); the legacy key goes only into the URL
 * built here from base_url (set_legacy_url).
 */
#include "core.h"
#include "headers.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define HEADERS_LIMIT (64 * 1024)
#define ERRBODY_LIMIT (64 * 1024)
#define STREAM_BUFFER_DEFAULT (1024 * 1024)
#define CURL_CHUNK (256 * 1024)                 /* curl's receive buffer for files */
/* What a file sink writes in one perform at most: curl would otherwise go on
 * reading a fast socket (100 buffers a call), holding its caller, an event
 * loop, for tens of milliseconds. The loop lets it go on at its next
 * perform (loop.c). */
#define FILE_BURST (2 * CURL_CHUNK)

bx_transfer *bx_checktransfer(lua_State *L, int i)
{
    return luaL_checkudata(L, i, BX_TRANSFER_MT);
}

static long transfer_status(bx_transfer *t)
{
    long status = 0;
    if (t->easy)
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

static int is_success(long status)
{
    return status >= 200 && status < 300;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Appends to the stream ring (the caller checked it fits). A ring, not a
 * buffer compacted as it is read: the reader takes bytes in whatever
 * contiguous runs it gets, so nothing is ever moved. */
static void ring_put(bx_transfer *t, const char *p, size_t n)
{
    size_t end = (t->ring_start + t->ring_count) % t->ring_cap;
    size_t first = t->ring_cap - end < n ? t->ring_cap - end : n;
    memcpy(t->ring + end, p, first);
    memcpy(t->ring, p + first, n - first);
    t->ring_count += n;
}

static size_t keep_error_body(bx_transfer *t, const char *p, size_t n)
{
    size_t room = t->body.len < ERRBODY_LIMIT ? ERRBODY_LIMIT - t->body.len : 0;
    size_t saved = t->body.limit;
    t->body.limit = ERRBODY_LIMIT;
    strbuf_append(&t->body, p, n < room ? n : room);
    t->body.limit = saved;
    if (n < room)
        return n;
    t->errbody_cut = 1;         /* curl ends with a write error: not a failure */
    return 0;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    bx_transfer *t = ud;
    size_t n = size * nmemb;
    t->arrived += (curl_off_t)n;
    /* An error page never reaches a file or a record stream, and however
     * long it is only its start is worth keeping (for the error message):
     * once that is kept, end the transfer rather than drain the rest. */
    if (!is_success(transfer_status(t)))
        return keep_error_body(t, ptr, n);
    switch (t->sink) {
    case BX_SINK_BUFFER:
        if (strbuf_append(&t->body, ptr, n) != 0) {
            t->body_overflow = 1;
            return 0;
        }
        break;
    case BX_SINK_STREAM:
        if (t->resume_from > 0 && transfer_status(t) != 206) {
            t->range_ignored = 1;
            return 0;
        }
        if (n > t->ring_cap - t->ring_count) {
            t->paused = 1;
            t->paused_need = n;
            bx_guard_pause(t);
            return CURL_WRITEFUNC_PAUSE;
        }
        ring_put(t, ptr, n);
        /* Pause before the ring is too full for curl's next chunk rather
         * than refuse that chunk: a refused chunk is copied into a fresh
         * allocation by curl and offered again on unpause, which cost more
         * than the decoding on a fast link (an mmap of the chunk's size,
         * its pages faulted in, then unmapped). The refusal above remains
         * for a chunk larger than announced. */
        if (t->ring_cap - t->ring_count < CURL_CHUNK) {
            t->paused = 1;
            t->paused_need = CURL_CHUNK;
            bx_guard_pause(t);
            curl_easy_pause(t->easy, CURLPAUSE_RECV);
        }
        break;
    case BX_SINK_FILE:
        if (t->resume_from > 0 && transfer_status(t) != 206) {
            /* Appending a whole file to the part we have would corrupt it. */
            t->range_ignored = 1;
            return 0;
        }
        t->burst += n;
        if (write_all(t->fd, ptr, n) != 0) {
            t->write_errno = errno;
            return 0;
        }
        /* Held until the next perform once the burst is written (paused
         * here, not by refusing the next chunk, which curl would copy). */
        if (t->burst >= FILE_BURST && !t->burst_paused) {
            t->burst_paused = 1;
            curl_easy_pause(t->easy, CURLPAUSE_RECV);
        }
        break;
    }
    t->received += (curl_off_t)n;
    return n;
}

/* A resumed transfer's 206 must start at the byte it asked for. libcurl
 * checks a Content-Range it can read, but lets one with an asterisk in place
 * of the range through, and the body would then be appended at the wrong
 * place. */
static int resumed_range_ok(bx_transfer *t, const char *name, size_t name_len,
                            const char *value, size_t value_len)
{
    bx_content_range r;
    if (t->resume_from <= 0 || name_len != 13 || strncasecmp(name, "content-range", 13) != 0 ||
        transfer_status(t) != 206)
        return 1;
    return bx_parse_content_range(value, value_len, &r) == 0 && r.first == (long long)t->resume_from;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    bx_transfer *t = ud;
    size_t n = size * nitems, i, name_end, v, vend;
    t->arrived += (curl_off_t)n;
    if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        /* A new response (after 100 Continue, say): forget the last one's headers. */
        strbuf_reset(&t->headers);
        if (t->sink == BX_SINK_FILE || t->sink == BX_SINK_STREAM) {
            strbuf_reset(&t->body);
            t->ring_start = t->ring_count = 0;
        }
        return n;
    }
    /* Headers are kept as "name\0value\0": a NUL inside one would shift
     * every later pair (a value could turn into a forged "location"). No
     * valid header holds one: drop it (libcurl 7.88 already fails such a
     * reply; older ones pass it on). */
    if (memchr(buf, '\0', n) != NULL)
        return n;
    for (name_end = 0; name_end < n && buf[name_end] != ':'; name_end++)
        ;
    if (name_end == 0 || name_end >= n)
        return n;
    for (v = name_end + 1; v < n && (buf[v] == ' ' || buf[v] == '\t'); v++)
        ;
    for (vend = n; vend > v && isspace((unsigned char)buf[vend - 1]); vend--)
        ;
    if (!resumed_range_ok(t, buf, name_end, buf + v, vend - v)) {
        t->range_ignored = 1;
        return 0;
    }
    if (t->headers.len + name_end + (vend - v) + 2 > t->headers.limit)
        return n;                                       /* keep the first 64 KiB */
    for (i = 0; i < name_end; i++) {
        char ch = (char)tolower((unsigned char)buf[i]);
        strbuf_append(&t->headers, &ch, 1);
    }
    strbuf_append(&t->headers, "", 1);
    strbuf_append(&t->headers, buf + v, vend - v);
    strbuf_append(&t->headers, "", 1);
    return n;
}

static const char *find_header(bx_transfer *t, const char *name)
{
    const char *p = t->headers.data, *end = p + t->headers.len;
    while (p && p < end) {
        const char *value = p + strlen(p) + 1;
        if (strcmp(p, name) == 0)
            return value;
        p = value + strlen(value) + 1;
    }
    return NULL;
}

static void unlink_from_client(bx_transfer *t)
{
    bx_client *c = t->client;
    if (c == NULL)
        return;
    if (t->client_prev)
        t->client_prev->client_next = t->client_next;
    else
        c->transfers = t->client_next;
    if (t->client_next)
        t->client_next->client_prev = t->client_prev;
    t->client = NULL;
}

/* The sink's descriptor is a duplicate of a tempfile's: the sync, once the
 * whole file is there, is tempfile:commit()'s. */
static void close_file(bx_transfer *t)
{
    if (t->fd < 0)
        return;
    if (close(t->fd) != 0 && t->write_errno == 0)
        t->write_errno = errno;
    t->fd = -1;
}

void bx_transfer_finish(bx_transfer *t, CURLcode result)
{
    if (t->state != BX_T_RUNNING)
        return;
    t->result = result;
    t->state = BX_T_DONE;
    /* curl answers CURLE_RANGE_ERROR to any reply to a Range request that is
     * not a 206: a 200 means the server cannot resume; an error status is
     * reported as that status. */
    if (result == CURLE_RANGE_ERROR) {
        if (is_success(transfer_status(t)))
            t->range_ignored = 1;
        else
            t->result = CURLE_OK;
    }
    bx_loop_detach(t);
    close_file(t);
}

void bx_transfer_close(bx_transfer *t)
{
    if (t->state == BX_T_CLOSED)
        return;
    if (t->state == BX_T_RUNNING) {
        t->cancelled = 1;
        t->result = CURLE_ABORTED_BY_CALLBACK;
    }
    bx_loop_detach(t);
    close_file(t);
    if (t->easy) {
        curl_easy_cleanup(t->easy);
        t->easy = NULL;
    }
    unlink_from_client(t);
    bx_free_secret_headers(t->req_headers);
    t->req_headers = NULL;
    strbuf_free(&t->body);
    strbuf_free(&t->headers);
    free(t->ring);
    t->ring = NULL;
    t->ring_cap = t->ring_start = t->ring_count = 0;
    free(t->display_url);
    t->display_url = NULL;
    t->state = BX_T_CLOSED;
}

const char *bx_transfer_peek(bx_transfer *t, size_t *len)
{
    size_t run;
    /* An error page is never content. */
    if (t->sink != BX_SINK_STREAM || t->ring == NULL || !is_success(transfer_status(t))) {
        *len = 0;
        return NULL;
    }
    run = t->ring_cap - t->ring_start;
    *len = t->ring_count < run ? t->ring_count : run;
    return t->ring + t->ring_start;
}

void bx_transfer_consume(bx_transfer *t, size_t n)
{
    if (n > t->ring_count)
        n = t->ring_count;
    t->ring_start = (t->ring_start + n) % t->ring_cap;
    t->ring_count -= n;
    if (t->ring_count == 0)
        t->ring_start = 0;              /* longer contiguous runs from here */
    /* Unpause only once the chunk curl held back fits: each unpause makes
     * curl offer (and copy) that whole chunk again. */
    if (t->paused && t->state == BX_T_RUNNING && t->easy &&
        t->ring_cap - t->ring_count >= t->paused_need) {
        t->paused = 0;
        bx_guard_resume(t);
        curl_easy_pause(t->easy, CURLPAUSE_CONT);   /* may call on_write at once */
    }
}

/* ---- building a transfer from a Lua request table ---- */

static const char *spec_string(lua_State *L, int spec, const char *key, const char *dflt)
{
    const char *s;
    lua_getfield(L, spec, key);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return dflt;
    }
    if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "request.%s: expected a string", key);
    s = lua_tostring(L, -1);
    lua_pop(L, 1);          /* kept alive by the spec table */
    return s;
}

static lua_Integer spec_integer(lua_State *L, int spec, const char *key, lua_Integer dflt)
{
    lua_Integer v;
    lua_getfield(L, spec, key);
    v = luaL_optinteger(L, -1, dflt);
    lua_pop(L, 1);
    return v;
}

static int spec_bool(lua_State *L, int spec, const char *key, int dflt)
{
    int v;
    lua_getfield(L, spec, key);
    v = lua_isnil(L, -1) ? dflt : lua_toboolean(L, -1);
    lua_pop(L, 1);
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
static void set_legacy_url(lua_State *L, bx_transfer *t, const char *path)
{
    bx_client *c = t->client;
    char *secret, *url = NULL;
    size_t n;
    if (c->api_key == NULL)
        luaL_error(L, "request.legacy_path needs an api_key, and the client has none");
    if (unsafe_in_url_or_header(path, strlen(path), 0))
        luaL_error(L, "request.legacy_path: expected a path without spaces or control characters");
    t->display_url = join3(c->base_url, "/1.0/***/", path);
    secret = curl_easy_escape(t->easy, c->api_key, 0);
    if (t->display_url && secret) {
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
    curl_easy_setopt(t->easy, CURLOPT_URL, url);
    bx_wipe(url, strlen(url));
    free(url);
}

/* request.url is used as it is; request.legacy_path asks for the URL above. */
static void set_url(lua_State *L, bx_transfer *t, const char *url, const char *legacy_path)
{
    if ((url == NULL) == (legacy_path == NULL))
        luaL_error(L, "request: give exactly one of url and legacy_path");
    if (legacy_path) {
        set_legacy_url(L, t, legacy_path);
        return;
    }
    t->display_url = join3(url, "", "");
    if (t->display_url == NULL)
        luaL_error(L, "out of memory");
    curl_easy_setopt(t->easy, CURLOPT_URL, url);
}

/* The one check before any credential is attached: the request must go to
 * base_url's origin. The URL checked is the one shown (the key in a legacy
 * path is ***), which has the same origin as the one sent. */
static void check_origin(lua_State *L, bx_transfer *t)
{
    bx_url u;
    const char *why;
    int same;
    if (bx_url_parse(&u, t->display_url, strlen(t->display_url), NULL, &why) != 0)
        luaL_error(L, "request.url: %s", why);
    same = !u.has_user && bx_url_same_origin(&u, &t->client->origin);
    bx_url_free(&u);
    if (!same)
        luaL_error(L, "request.url: credentials go only to base_url's origin (%s://%s:%d),"
                   " and this URL is on another origin", t->client->origin.scheme,
                   t->client->origin.host, (int)t->client->origin.port);
}

static void add_header(lua_State *L, bx_transfer *t, const char *line)
{
    struct curl_slist *l = curl_slist_append(t->req_headers, line);
    if (l == NULL)
        luaL_error(L, "out of memory");
    t->req_headers = l;
}

static void add_auth(lua_State *L, bx_transfer *t, struct curl_slist *auth, const char *which)
{
    if (auth == NULL)
        luaL_error(L, "request.auth = %s, and the client has no key for it", which);
    for (; auth; auth = auth->next)
        add_header(L, t, auth->data);
}

enum { AUTH_NONE, AUTH_V2, AUTH_LEGACY };

static int spec_auth(lua_State *L, int spec)
{
    static const char *const auths[] = {"none", "v2", "legacy", NULL};
    int auth;
    lua_getfield(L, spec, "auth");
    auth = luaL_checkoption(L, -1, "none", auths);
    lua_pop(L, 1);
    return auth;
}

static void set_headers(lua_State *L, bx_transfer *t, int spec, int auth)
{
    const char *ctype = spec_string(L, spec, "content_type", NULL);
    int i, n;
    if (auth == AUTH_V2)
        add_auth(L, t, t->client->v2_auth, "v2");
    else if (auth == AUTH_LEGACY)
        add_auth(L, t, t->client->legacy_auth, "legacy");
    lua_getfield(L, spec, "headers");
    n = lua_istable(L, -1) ? (int)lua_rawlen(L, -1) : 0;
    for (i = 1; i <= n; i++) {
        size_t len;
        const char *h;
        lua_rawgeti(L, -1, i);
        h = lua_tolstring(L, -1, &len);
        if (h == NULL || unsafe_in_url_or_header(h, len, 1) || strchr(h, ':') == NULL)
            luaL_error(L, "request.headers[%d]: expected a 'Name: value' line without CR or LF", i);
        add_header(L, t, h);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (ctype) {
        char line[256];
        if (unsafe_in_url_or_header(ctype, strlen(ctype), 1) || strlen(ctype) > 200)
            luaL_error(L, "request.content_type: invalid");
        snprintf(line, sizeof line, "Content-Type: %s", ctype);
        add_header(L, t, line);
    }
    /* Expect: 100-continue costs a round trip for nothing here. */
    add_header(L, t, "Expect:");
    curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->req_headers);
}

static void set_sink(lua_State *L, bx_transfer *t, int spec)
{
    static const char *const sinks[] = {"buffer", "file", "stream", NULL};
    lua_getfield(L, spec, "sink");
    t->sink = luaL_checkoption(L, -1, "buffer", sinks);
    lua_pop(L, 1);
    if (t->sink == BX_SINK_BUFFER) {
        lua_Integer cap = spec_integer(L, spec, "max_body", (lua_Integer)t->client->max_body);
        t->body.limit = cap > 0 ? (size_t)cap : t->client->max_body;
        if (spec_bool(L, spec, "accept_encoding", 1))
            curl_easy_setopt(t->easy, CURLOPT_ACCEPT_ENCODING, "");
        return;
    }
    curl_easy_setopt(t->easy, CURLOPT_BUFFERSIZE, (long)CURL_CHUNK);
    if (t->sink == BX_SINK_STREAM) {
        lua_Integer cap = spec_integer(L, spec, "buffer_size", STREAM_BUFFER_DEFAULT);
        /* At least two of curl's chunks, so a held-back chunk always fits
         * once the consumer has caught up. */
        t->ring_cap = cap >= 2 * CURL_CHUNK ? (size_t)cap : 2 * CURL_CHUNK;
        t->ring = malloc(t->ring_cap);
        if (t->ring == NULL)
            luaL_error(L, "out of memory");
        t->body.limit = ERRBODY_LIMIT;
    } else {
        /* Never a path: a name can be swapped for a link between checks. */
        int append = spec_bool(L, spec, "append", 0);
        t->body.limit = ERRBODY_LIMIT;
        lua_getfield(L, spec, "file");
        t->fd = bx_tempfile_sink_fd(L, lua_gettop(L), append);
        lua_pop(L, 1);
    }
}

static void set_method(lua_State *L, bx_transfer *t, int spec)
{
    const char *method = spec_string(L, spec, "method", "GET");
    size_t len = 0;
    const char *body;
    lua_getfield(L, spec, "body");
    body = lua_tolstring(L, -1, &len);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(t->easy, CURLOPT_POST, 1L);
        curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(t->easy, CURLOPT_COPYPOSTFIELDS, body ? body : "");
    } else if (strcmp(method, "GET") != 0) {
        luaL_error(L, "request.method: GET or POST expected, got %s", method);
    } else if (body) {
        luaL_error(L, "request.body: a GET has no body");
    }
    lua_pop(L, 1);
}

static void set_common(bx_transfer *t, lua_Integer timeout_ms)
{
    bx_client *c = t->client;
    CURL *e = t->easy;
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)t);
    curl_easy_setopt(e, CURLOPT_SHARE, c->share);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    /* The loop's own stall guard, not curl's low-speed check: it must stop
     * its clock while a stream's consumer holds the transfer paused. */
    t->guard_ms = (double)c->low_speed_time * 1000;
    t->guard_bytes = (curl_off_t)c->low_speed_limit * c->low_speed_time;
    if (t->guard_bytes < 1)
        t->guard_bytes = 1;
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
static lua_Integer transfer_timeout_ms(lua_State *L, bx_client *c, int spec)
{
    lua_Integer timeout = spec_integer(L, spec, "timeout_ms", c->timeout_ms);
    lua_Integer left = spec_integer(L, spec, "deadline_ms", 0);
    if (left > LONG_MAX)
        left = LONG_MAX;
    if (left > 0 && (timeout <= 0 || left < timeout))
        timeout = left;
    return timeout;
}

bx_transfer *bx_transfer_start(lua_State *L, int client_idx, int spec)
{
    bx_client *c = bx_checkclient(L, client_idx);
    bx_transfer *t;
    const char *url, *legacy_path;
    size_t url_len;
    lua_Integer resume;
    int auth;

    client_idx = lua_absindex(L, client_idx);
    spec = lua_absindex(L, spec);
    lua_getfield(L, spec, "url");
    url = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &url_len) : NULL;
    if (!lua_isnil(L, -1) && (url == NULL || unsafe_in_url_or_header(url, url_len, 0)))
        luaL_error(L, "request.url: expected a URL without spaces or control characters");
    lua_pop(L, 1);          /* kept alive by the spec table */
    legacy_path = spec_string(L, spec, "legacy_path", NULL);
    auth = spec_auth(L, spec);

    t = bx_newuserdata(L, sizeof *t);
    memset(t, 0, sizeof *t);
    t->fd = -1;
    t->state = BX_T_CLOSED;             /* nothing to free until the handle exists */
    strbuf_init(&t->body, 0);
    strbuf_init(&t->headers, HEADERS_LIMIT);
    luaL_setmetatable(L, BX_TRANSFER_MT);
    lua_newtable(L);                    /* keeps the client (and so the loop) alive */
    lua_pushvalue(L, client_idx);
    lua_setfield(L, -2, "client");
    lua_setuservalue(L, -2);

    t->easy = curl_easy_init();
    if (t->easy == NULL)
        luaL_error(L, "curl_easy_init failed");
    t->state = BX_T_RUNNING;
    t->client = c;
    t->client_next = c->transfers;
    if (c->transfers)
        c->transfers->client_prev = t;
    c->transfers = t;

    set_common(t, transfer_timeout_ms(L, c, spec));
    set_url(L, t, url, legacy_path);
    if (auth != AUTH_NONE || legacy_path)
        check_origin(L, t);
    set_headers(L, t, spec, auth);
    set_method(L, t, spec);
    set_sink(L, t, spec);
    resume = spec_integer(L, spec, "resume_from", 0);
    if (resume > 0) {
        t->resume_from = (curl_off_t)resume;
        curl_easy_setopt(t->easy, CURLOPT_RESUME_FROM_LARGE, t->resume_from);
    }
    if (bx_loop_attach(c->loop, t) != 0)
        luaL_error(L, "cannot add the transfer to the loop");
    return t;
}

/* ---- Lua methods ---- */

static int l_done(lua_State *L)
{
    lua_pushboolean(L, bx_checktransfer(L, 1)->state != BX_T_RUNNING);
    return 1;
}

static int l_status(lua_State *L)
{
    lua_pushinteger(L, transfer_status(bx_checktransfer(L, 1)));
    return 1;
}

static int l_header(lua_State *L)
{
    bx_transfer *t = bx_checktransfer(L, 1);
    const char *v = find_header(t, luaL_checkstring(L, 2));
    if (v)
        lua_pushstring(L, v);
    else
        lua_pushnil(L);
    return 1;
}

static void push_headers(lua_State *L, bx_transfer *t)
{
    const char *p = t->headers.data, *end = p + t->headers.len;
    lua_newtable(L);
    while (p && p < end) {
        const char *value = p + strlen(p) + 1;
        lua_pushstring(L, value);
        lua_setfield(L, -2, p);
        p = value + strlen(value) + 1;
    }
}

static const char *error_kind(bx_transfer *t)
{
    switch (t->result) {
    case CURLE_OPERATION_TIMEDOUT:
        return "timeout";
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_CRL_BADFILE:
        return "tls";
    case CURLE_ABORTED_BY_CALLBACK:
        return "cancelled";
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return "config";
    default:
        return "network";
    }
}

static void push_error(lua_State *L, bx_transfer *t)
{
    long request_size = 0;
    const char *kind = error_kind(t);
    const char *msg = t->errbuf[0] ? t->errbuf : curl_easy_strerror(t->result);
    if (t->body_overflow) {
        kind = "too_large";
        msg = "response body is larger than the limit";
    } else if (t->range_ignored) {
        kind = "range_ignored";
        msg = "the server ignored the Range request, so the transfer cannot resume";
    } else if (t->write_errno) {
        kind = "write";
        msg = strerror(t->write_errno);
    } else if (t->cancelled) {
        msg = "transfer cancelled";
    }
    if (t->easy)
        curl_easy_getinfo(t->easy, CURLINFO_REQUEST_SIZE, &request_size);
    lua_createtable(L, 0, 5);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, msg);
    lua_setfield(L, -2, "message");
    lua_pushinteger(L, (lua_Integer)t->result);
    lua_setfield(L, -2, "code");
    /* Whether the server may have seen the request: decides if a POST may be retried. */
    lua_pushboolean(L, request_size > 0);
    lua_setfield(L, -2, "sent");
}

/* Whether the exchange failed, as opposed to ending with an HTTP status
 * (an error status whose body was cut at its cap included). */
static int transfer_failed(bx_transfer *t)
{
    if (t->write_errno || t->cancelled || t->range_ignored || t->stalled)
        return 1;
    if (t->result == CURLE_WRITE_ERROR && t->errbody_cut)
        return 0;
    return t->result != CURLE_OK;
}

/* transfer:result() -> {status, headers, body, error, received, reused, time, url} */
static int l_result(lua_State *L)
{
    bx_transfer *t = bx_checktransfer(L, 1);
    long connects = 1;
    double total = 0;
    if (t->state == BX_T_RUNNING)
        return luaL_error(L, "transfer still running");
    lua_createtable(L, 0, 8);
    lua_pushinteger(L, transfer_status(t));
    lua_setfield(L, -2, "status");
    push_headers(L, t);
    lua_setfield(L, -2, "headers");
    if (t->body.data && (t->sink == BX_SINK_BUFFER || !is_success(transfer_status(t)))) {
        lua_pushlstring(L, t->body.data, t->body.len);
        lua_setfield(L, -2, "body");
    }
    if (transfer_failed(t)) {
        push_error(L, t);
        lua_setfield(L, -2, "error");
    }
    lua_pushinteger(L, (lua_Integer)t->received);
    lua_setfield(L, -2, "received");
    if (t->easy) {
        curl_easy_getinfo(t->easy, CURLINFO_NUM_CONNECTS, &connects);
        curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME, &total);
    }
    lua_pushboolean(L, connects == 0);
    lua_setfield(L, -2, "reused");
    lua_pushnumber(L, total);
    lua_setfield(L, -2, "time");
    lua_pushstring(L, t->display_url ? t->display_url : "");
    lua_setfield(L, -2, "url");
    return 1;
}

/* transfer:progress() -> bytes received, bytes expected (or -1) */
static int l_progress(lua_State *L)
{
    bx_transfer *t = bx_checktransfer(L, 1);
    curl_off_t expected = -1;
    if (t->easy)
        curl_easy_getinfo(t->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &expected);
    lua_pushinteger(L, (lua_Integer)t->received);
    lua_pushinteger(L, (lua_Integer)expected);
    return 2;
}

/* transfer:pending() -> stream bytes received and not read yet */
static int l_pending(lua_State *L)
{
    size_t len;
    bx_transfer_peek(bx_checktransfer(L, 1), &len);
    lua_pushinteger(L, (lua_Integer)len);
    return 1;
}

static int l_close(lua_State *L)
{
    bx_transfer_close(luaL_checkudata(L, 1, BX_TRANSFER_MT));
    return 0;
}

static int l_tostring(lua_State *L)
{
    bx_transfer *t = luaL_checkudata(L, 1, BX_TRANSFER_MT);
    static const char *const states[] = {"running", "done", "closed"};
    lua_pushfstring(L, "batchexport.transfer (%s, %s)",
                    t->display_url ? t->display_url : "?", states[t->state]);
    return 1;
}

int bx_open_transfer(lua_State *L)
{
    static const luaL_Reg meta[] = {
        {"__gc", l_close}, {"__close", l_close}, {"__tostring", l_tostring}, {NULL, NULL}
    };
    static const luaL_Reg methods[] = {
        {"done", l_done}, {"status", l_status}, {"header", l_header},
        {"result", l_result}, {"progress", l_progress}, {"pending", l_pending},
        {"close", l_close}, {"cancel", l_close}, {NULL, NULL}
    };
    bx_newclass(L, BX_TRANSFER_MT, meta, methods);
    return 0;
}
