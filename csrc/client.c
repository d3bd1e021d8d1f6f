/*
 * client.c: the client userdata. It holds what every request of one user
 * shares: the credentials (kept in C memory only and wiped when freed), the
 * header lines built from them, the TLS, proxy and timeout settings, and
 * curl share handles so that connections, DNS answers and TLS sessions are
 * reused from one call to the next: one for the calls on the loop, one with
 * locks for the streams, which run on threads of their own (pump.h).
 */
#include "client.h"

#include "core.h"
#include "growable.h"
#include "strbuf.h"
#include "transfer.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The bounds of the numeric options. client.lua checks every option against
 * these same numbers (core.max_seconds, core.max_long) and answers nil, err;
 * here they are only asserted. Seconds become milliseconds in a long. */
#define MAX_LONG_OPTION 2147483647L
#define MAX_SECONDS (LONG_MAX / 1000 < 31536000L ? LONG_MAX / 1000 : 31536000L)

/* The shortest key, and the shortest piece of one cut off at the end of a
 * text, that masking looks for: anything shorter is told apart from plain
 * text by nothing. client.lua refuses shorter keys (core.min_secret). */
#define MIN_PIECE 4

#define BX_CLIENT_MT "batchexport.client"

/* settings holds what requests read; the rest is the client's own. The
 * settings' strings point into the owned copies below. */
struct bx_client {
    int closed; /* first: bx_checkopen, bx_close */
    bx_client_settings settings;
    bx_loop *loop;
    char *rest_key, *project_key, *api_key;
    char *base_url, *user_agent, *proxy, *ca_file;
    struct curl_slist *v2_auth, *legacy_auth;
    bx_ptrset transfers; /* every open transfer made by this client */
    int share_locks_ready;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST]; /* the streams' share's */
};

bx_client *bx_checkclient(lua_State *L, int i)
{
    return bx_checkopen(L, i, BX_CLIENT_MT, "client");
}

const bx_client_settings *bx_client_settings_of(const bx_client *c)
{
    return &c->settings;
}

bx_loop *bx_client_loop(const bx_client *c)
{
    return c->loop;
}

int bx_client_track(bx_client *c, bx_transfer *t)
{
    return bx_ptrset_add(&c->transfers, t);
}

void bx_client_untrack(bx_client *c, bx_transfer *t)
{
    bx_ptrset_remove(&c->transfers, t);
}

static char *dup_or_null(const char *s)
{
    size_t n;
    char *p;
    if (s == NULL)
        return NULL;
    n = strlen(s) + 1;
    p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

static void free_secret(char **s)
{
    if (*s) {
        bx_wipe(*s, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

void bx_free_secret_headers(struct curl_slist *l)
{
    struct curl_slist *i;
    for (i = l; i; i = i->next)
        bx_wipe(i->data, strlen(i->data));
    curl_slist_free_all(l);
}

/* Header values may not smuggle in another header. */
static int has_ctl(const char *s)
{
    for (; *s; s++)
        if (*s == '\r' || *s == '\n')
            return 1;
    return 0;
}

/* The options table is argument 2 of core.client. Every assertion below
 * holds for options that passed client.lua: failing one is a bug in the
 * library, never bad input. */
static void assert_option(lua_State *L, int ok, const char *name)
{
    if (!ok)
        luaL_argerror(L, 2, lua_pushfstring(L, "option %s not checked by client.lua", name));
}

static const char *opt_string(lua_State *L, int t, const char *name)
{
    const char *s = NULL;
    size_t n = 0;
    lua_getfield(L, t, name);
    if (!lua_isnil(L, -1)) {
        assert_option(L, lua_type(L, -1) == LUA_TSTRING, name);
        s = lua_tolstring(L, -1, &n);
        /* A NUL would cut the string short where curl reads it. */
        assert_option(L, strlen(s) == n && !has_ctl(s), name);
    }
    lua_pop(L, 1); /* the string stays alive: the caller's table holds it */
    return s;
}

/* Written as the range accepted, so that NaN, which fails every
 * comparison, never reaches the cast. */
static long opt_ms(lua_State *L, int t, const char *name, double dflt)
{
    double v;
    lua_getfield(L, t, name);
    v = luaL_optnumber(L, -1, dflt);
    lua_pop(L, 1);
    assert_option(L, v >= 0 && v <= (double)MAX_SECONDS, name);
    return (long)(v * 1000);
}

static long opt_long(lua_State *L, int t, const char *name, long dflt)
{
    lua_Number v;
    lua_getfield(L, t, name);
    v = luaL_optnumber(L, -1, (lua_Number)dflt);
    lua_pop(L, 1);
    assert_option(L, v >= 0 && v <= (lua_Number)MAX_LONG_OPTION, name);
    return (long)v;
}

static struct curl_slist *secret_header(struct curl_slist *l, const char *fmt, const char *a,
                                        int *ok)
{
    size_t n = strlen(fmt) + strlen(a) + 1;
    char *line = malloc(n);
    struct curl_slist *r;
    if (line == NULL) {
        *ok = 0;
        return l;
    }
    snprintf(line, n, fmt, a);
    r = curl_slist_append(l, line);
    bx_wipe(line, n);
    free(line);
    if (r == NULL)
        *ok = 0;
    return r ? r : l;
}

static int client_build_headers(bx_client *c)
{
    int ok = 1;
    if (c->rest_key && c->project_key) {
        c->v2_auth = secret_header(NULL, "Authorization: Bearer %s", c->rest_key, &ok);
        c->v2_auth = secret_header(c->v2_auth, "X-Batch-Project: %s", c->project_key, &ok);
    } else if (c->rest_key) {
        c->v2_auth = secret_header(NULL, "Authorization: Bearer %s", c->rest_key, &ok);
    }
    if (c->rest_key)
        c->legacy_auth = secret_header(NULL, "X-Authorization: %s", c->rest_key, &ok);
    return ok ? 0 : -1;
}

/* libcurl asks for each kind of data in a share handle used by several
 * threads to be locked; a lock per kind, as its documentation suggests. */
static pthread_mutex_t *share_mutex(void *client, curl_lock_data data)
{
    bx_client *c = client;
    return &c->share_locks[(unsigned)data < CURL_LOCK_DATA_LAST ? data : 0];
}

static void share_lock(CURL *easy, curl_lock_data data, curl_lock_access access, void *ud)
{
    (void)easy;
    (void)access;
    pthread_mutex_lock(share_mutex(ud, data));
}

static void share_unlock(CURL *easy, curl_lock_data data, void *ud)
{
    (void)easy;
    pthread_mutex_unlock(share_mutex(ud, data));
}

/* DNS answers and TLS sessions, not connections: libcurl does not let
 * threads share a connection cache. */
static int make_stream_share(bx_client *c)
{
    int i;
    for (i = 0; i < CURL_LOCK_DATA_LAST; i++) {
        if (pthread_mutex_init(&c->share_locks[i], NULL) != 0) {
            while (i-- > 0)
                pthread_mutex_destroy(&c->share_locks[i]);
            return -1;
        }
    }
    c->share_locks_ready = 1;
    c->settings.stream_share = curl_share_init();
    if (c->settings.stream_share == NULL)
        return -1;
    curl_share_setopt(c->settings.stream_share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(c->settings.stream_share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(c->settings.stream_share, CURLSHOPT_USERDATA, c);
    curl_share_setopt(c->settings.stream_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(c->settings.stream_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    return 0;
}

static void free_shares(bx_client *c)
{
    int i;
    if (c->settings.share)
        curl_share_cleanup(c->settings.share);
    if (c->settings.stream_share)
        curl_share_cleanup(c->settings.stream_share);
    c->settings.share = c->settings.stream_share = NULL;
    if (c->share_locks_ready)
        for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
            pthread_mutex_destroy(&c->share_locks[i]);
    c->share_locks_ready = 0;
}

static void client_close(bx_client *c)
{
    /* Transfers point at our share handles (and stream threads use them):
     * end them before the handles go. */
    while (c->transfers.n > 0)
        bx_transfer_close(c->transfers.items[c->transfers.n - 1]);
    bx_ptrset_free(&c->transfers);
    free_shares(c);
    free_secret(&c->rest_key);
    free_secret(&c->project_key);
    free_secret(&c->api_key);
    bx_free_secret_headers(c->v2_auth);
    bx_free_secret_headers(c->legacy_auth);
    c->v2_auth = c->legacy_auth = NULL;
    free(c->user_agent);
    free(c->proxy);
    free(c->ca_file);
    free(c->base_url);
    c->user_agent = c->proxy = c->ca_file = c->base_url = NULL;
    bx_url_free(&c->settings.origin);
    memset(&c->settings, 0, sizeof c->settings);
}

/* The origin every credential is bound to: base_url's scheme, host and port.
 * The Lua layer has checked base_url already; this is the C core's own copy,
 * so that the one place that attaches credentials can check them. */
static void client_set_origin(lua_State *L, bx_client *c, const char *base_url)
{
    const char *why;
    if (base_url == NULL)
        luaL_error(L, "option base_url: required");
    if (bx_url_parse(&c->settings.origin, base_url, strlen(base_url), NULL, &why) != 0)
        luaL_error(L, "option base_url: %s", why);
    if (c->settings.origin.has_user || c->settings.origin.query || c->settings.origin.fragment)
        luaL_error(L, "option base_url: no user-info, query or fragment");
    c->base_url = dup_or_null(base_url);
    if (c->base_url == NULL)
        luaL_error(L, "out of memory");
}

/* The numbers and switches of the options table (argument 2), and the
 * strings the settings show, owned by the client. */
static void set_settings(lua_State *L, bx_client *c)
{
    bx_client_settings *set = &c->settings;
    set->api_key = c->api_key;
    set->base_url = c->base_url;
    set->user_agent = c->user_agent;
    set->proxy = c->proxy;
    set->ca_file = c->ca_file;
    set->connect_timeout_ms = opt_ms(L, 2, "connect_timeout", 10);
    set->timeout_ms = opt_ms(L, 2, "timeout", 0);
    set->low_speed_limit = opt_long(L, 2, "low_speed_limit", 1);
    set->low_speed_time = opt_long(L, 2, "low_speed_time", 60);
    set->max_body = (size_t)opt_long(L, 2, "max_body", 16L * 1024 * 1024);
    lua_getfield(L, 2, "ssl_verify");
    set->ssl_verify = lua_isnil(L, -1) ? 1 : lua_toboolean(L, -1);
    lua_pop(L, 1);
}

/* core.client(loop, options) */
static int l_new(lua_State *L)
{
    bx_client *c;
    bx_checkloop(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    c = bx_newuserdata(L, sizeof *c);
    memset(c, 0, sizeof *c);
    c->closed = 1; /* until fully built, __gc has nothing to free */
    luaL_setmetatable(L, BX_CLIENT_MT);
    /* The loop must outlive the client: keep it in the user value. */
    lua_newtable(L);
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "loop");
    lua_setuservalue(L, -2);

    c->closed = 0;
    c->loop = bx_checkloop(L, 1);
    c->rest_key = dup_or_null(opt_string(L, 2, "rest_key"));
    c->project_key = dup_or_null(opt_string(L, 2, "project_key"));
    c->api_key = dup_or_null(opt_string(L, 2, "api_key"));
    c->user_agent = dup_or_null(opt_string(L, 2, "user_agent"));
    c->proxy = dup_or_null(opt_string(L, 2, "proxy"));
    c->ca_file = dup_or_null(opt_string(L, 2, "ca_file"));
    client_set_origin(L, c, opt_string(L, 2, "base_url"));
    set_settings(L, c);
    if (client_build_headers(c) != 0)
        return luaL_error(L, "out of memory");
    c->settings.v2_auth = c->v2_auth;
    c->settings.legacy_auth = c->legacy_auth;
    c->settings.share = curl_share_init();
    if (c->settings.share == NULL)
        return luaL_error(L, "curl_share_init failed");
    curl_share_setopt(c->settings.share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(c->settings.share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(c->settings.share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    if (make_stream_share(c) != 0)
        return luaL_error(L, "curl_share_init failed");
    return 1;
}

/* client:has(name): whether a credential was given, without revealing it. */
static int l_has(lua_State *L)
{
    bx_client *c = bx_checkclient(L, 1);
    static const char *const names[] = {"rest_key", "project_key", "api_key", NULL};
    int which = luaL_checkoption(L, 2, NULL, names);
    const char *v = which == 0 ? c->rest_key : which == 1 ? c->project_key : c->api_key;
    lua_pushboolean(L, v != NULL && *v != '\0');
    return 1;
}

/* client:request(spec) -> transfer, already running on the loop. */
static int l_request(lua_State *L)
{
    bx_checkclient(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    bx_transfer_start(L, 1, 2);
    return 1;
}

/* Appends s to b with every occurrence of secret replaced by ***. */
static void mask_one(luaL_Buffer *b, const char *s, size_t n, const char *secret)
{
    size_t k = secret ? strlen(secret) : 0, i = 0;
    while (i < n) {
        if (k >= MIN_PIECE && n - i >= k && memcmp(s + i, secret, k) == 0) {
            luaL_addstring(b, "***");
            i += k;
        } else {
            luaL_addchar(b, s[i]);
            i++;
        }
    }
}

/* The length of the longest piece of secret, MIN_PIECE long or more but not
 * whole, that s starts with (at_end 0: the key's tail, its head cut off) or
 * ends with (at_end 1: the key's head, its tail cut off); 0 if none. */
static size_t cut_piece(const char *s, size_t n, const char *secret, int at_end)
{
    size_t k = secret ? strlen(secret) : 0;
    size_t j = n < k ? n : (k > 0 ? k - 1 : 0);
    for (; j >= MIN_PIECE; j--) {
        if (at_end ? memcmp(s + n - j, secret, j) == 0 : memcmp(s, secret + k - j, j) == 0)
            return j;
    }
    return 0;
}

/* Replaces the string on top of the stack by itself with the pieces of
 * secrets it starts or ends with masked. */
static void mask_cut_pieces(lua_State *L, const char *const *secrets, int count)
{
    size_t n, head = 0, tail = 0, j;
    const char *s = lua_tolstring(L, -1, &n);
    luaL_Buffer b;
    int i;
    for (i = 0; i < count; i++) {
        if ((j = cut_piece(s, n, secrets[i], 0)) > head)
            head = j;
        if ((j = cut_piece(s, n, secrets[i], 1)) > tail)
            tail = j;
    }
    if (head == 0 && tail == 0)
        return;
    luaL_buffinit(L, &b);
    if (head + tail >= n) {
        luaL_addstring(&b, "***");
    } else {
        if (head)
            luaL_addstring(&b, "***");
        luaL_addlstring(&b, s + head, n - head - tail);
        if (tail)
            luaL_addstring(&b, "***");
    }
    luaL_pushresult(&b);
    lua_remove(L, -2);
}

/* client:redact(s): s with any credential of this client masked: each whole
 * occurrence, and a piece of one cut off at either end of s (an excerpt's
 * cut, or a message that ends where a server's text was shortened). The
 * last line of defence for text that came from elsewhere (a server's error
 * message, an exception) before it reaches an error object or a log line.
 * A closed client holds no secret any more, so nothing is masked. */
static int l_redact(lua_State *L)
{
    bx_client *c = luaL_checkudata(L, 1, BX_CLIENT_MT);
    const char *secrets[3];
    int i;
    size_t n;
    luaL_checklstring(L, 2, &n);
    lua_settop(L, 2);
    secrets[0] = c->rest_key;
    secrets[1] = c->project_key;
    secrets[2] = c->api_key;
    for (i = 0; i < 3; i++) {
        luaL_Buffer b;
        const char *s = lua_tolstring(L, -1, &n);
        luaL_buffinit(L, &b);
        mask_one(&b, s, n, secrets[i]);
        luaL_pushresult(&b);
        lua_remove(L, -2);
    }
    mask_cut_pieces(L, secrets, 3);
    return 1;
}

static void client_release(lua_State *L, void *obj)
{
    bx_client *c = obj;
    (void)L;
    client_close(c);
}

static int l_close(lua_State *L)
{
    return bx_close(L, BX_CLIENT_MT, client_release);
}

static int l_tostring(lua_State *L)
{
    bx_client *c = luaL_checkudata(L, 1, BX_CLIENT_MT);
    lua_pushfstring(L, "batchexport.core.client (%s)", c->closed ? "closed" : "open");
    return 1;
}

int bx_open_client(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"has", l_has}, {"request", l_request}, {"redact", l_redact}, {NULL, NULL}};
    bx_newtype(L, BX_CLIENT_MT, l_close, l_tostring, methods, "client", l_new);
    lua_pushinteger(L, (lua_Integer)MAX_SECONDS);
    lua_setfield(L, -2, "max_seconds");
    lua_pushinteger(L, (lua_Integer)MAX_LONG_OPTION);
    lua_setfield(L, -2, "max_long");
    lua_pushinteger(L, MIN_PIECE);
    lua_setfield(L, -2, "min_secret");
    return 0;
}
