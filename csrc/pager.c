/*
 * pager.c: the state of a walk through GET /exports/list. It holds one page at
 * a time, knows the cursor to resume from, and refuses a cursor it has already
 * followed, so a server that hands back the same cursor cannot make a listing
 * loop forever. Fetching is left to the caller, so that the fetch can yield
 * inside a task or an nginx handler.
 */
#include "pager.h"

#include "core.h"
#include "growable.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BX_PAGER_MT "batchexport.pager"
#define CURSOR_MAX 1024

typedef struct bx_pager {
    int closed; /* first: bx_checkopen, bx_close */
    lua_Integer limit;
    char *cursor;      /* the "from" of the next page; NULL before the first */
    size_t cursor_len; /* a server's bytes: carried with their length, never strlen'd */
    int started, done;
    lua_Integer index, count; /* in the current page, the user value's "page" */
    uint64_t *seen;           /* hashes of every cursor followed: 8 bytes a page */
    size_t nseen, capseen;
    lua_Integer pages;
} bx_pager;

static bx_pager *checkpager(lua_State *L)
{
    return bx_checkopen(L, 1, BX_PAGER_MT, "pager");
}

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    while (n--) {
        h ^= (unsigned char)*s++;
        h *= 1099511628211ULL;
    }
    return h;
}

static int seen_before(bx_pager *p, uint64_t h)
{
    size_t i;
    for (i = 0; i < p->nseen; i++)
        if (p->seen[i] == h)
            return 1;
    return 0;
}

static int remember(bx_pager *p, uint64_t h)
{
    uint64_t *seen = bx_grow(p->seen, &p->capseen, p->nseen + 1, sizeof *seen, 64);
    if (seen == NULL)
        return -1;
    p->seen = seen;
    p->seen[p->nseen++] = h;
    return 0;
}

static int set_cursor(bx_pager *p, const char *s, size_t n)
{
    char *c = NULL;
    if (s) {
        c = malloc(n + 1);
        if (c == NULL)
            return -1;
        memcpy(c, s, n);
        c[n] = '\0';
    }
    free(p->cursor);
    p->cursor = c;
    p->cursor_len = s ? n : 0;
    return 0;
}

/* Why a cursor cannot be followed, or NULL. The rule `from` has in
 * exports.lua: what pages() hands out can always be given back. */
static const char *bad_cursor(const char *s, size_t n)
{
    size_t i;
    if (n == 0)
        return "the list response says has_more but gives no next_from";
    if (n > CURSOR_MAX)
        return "the list response's next_from is longer than 1024 bytes: not a cursor";
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= ' ' || ch == 0x7f)
            return "the list response's next_from holds a control character or a space: not a "
                   "cursor";
    }
    return NULL;
}

/* core.pager(limit [, from]) */
static int l_new(lua_State *L)
{
    lua_Integer limit = luaL_checkinteger(L, 1);
    size_t n = 0;
    const char *from = luaL_optlstring(L, 2, NULL, &n);
    bx_pager *p;
    luaL_argcheck(L, limit >= 1 && limit <= 100, 1, "limit must be from 1 to 100");
    p = bx_newuserdata(L, sizeof *p);
    memset(p, 0, sizeof *p);
    p->limit = limit;
    luaL_setmetatable(L, BX_PAGER_MT);
    lua_newtable(L); /* the user value: the current page, kept alive */
    lua_setuservalue(L, -2);
    if (from && (set_cursor(p, from, n) != 0 || remember(p, fnv1a(from, n)) != 0))
        return luaL_error(L, "out of memory");
    return 1;
}

/* pager:query() -> the query string of the next page, or nil when done. */
static int l_query(lua_State *L)
{
    bx_pager *p = checkpager(L);
    if (p->done) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushfstring(L, "limit=%d", (int)p->limit);
    if (p->cursor) {
        lua_pushliteral(L, "&from=");
        bx_pushescaped(L, p->cursor, p->cursor_len);
        lua_concat(L, 3);
    }
    return 1;
}

/* pager:feed(page) -> page, or nil, message when the page cannot be trusted. */
static int l_feed(lua_State *L)
{
    bx_pager *p = checkpager(L);
    int has_more;
    size_t n = 0;
    const char *next = NULL;
    if (p->done)
        return bx_push_fail(L, "the listing is already complete");
    if (!lua_istable(L, 2))
        return bx_push_fail(L, "the list response is not a JSON object");
    lua_getfield(L, 2, "exports");
    if (!lua_istable(L, -1))
        return bx_push_fail(L, "the list response has no exports array");
    lua_getfield(L, 2, "has_more");
    has_more = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, 2, "next_from");
    if (lua_type(L, -1) == LUA_TSTRING)
        next = lua_tolstring(L, -1, &n);
    if (has_more) {
        uint64_t h;
        const char *why = bad_cursor(next, next ? n : 0);
        if (why)
            return bx_push_fail(L, why);
        h = fnv1a(next, n);
        if (seen_before(p, h))
            return bx_push_fail(L, "the server returned a cursor it had already given: "
                                   "stopping instead of looping");
        if (remember(p, h) != 0 || set_cursor(p, next, n) != 0)
            return luaL_error(L, "out of memory");
    } else {
        p->done = 1;
        set_cursor(p, NULL, 0);
    }
    lua_pop(L, 1); /* next_from; the exports array stays on top */
    p->count = (lua_Integer)lua_rawlen(L, -1);
    lua_getuservalue(L, 1);
    lua_insert(L, -2);
    lua_setfield(L, -2, "page");
    lua_pop(L, 1);
    p->index = 0;
    p->started = 1;
    p->pages++;
    lua_pushvalue(L, 2);
    return 1;
}

/* pager:next() -> the next export of the current page; false when the next
 * page must be fed first; nil when the listing is over. */
static int l_next(lua_State *L)
{
    bx_pager *p = checkpager(L);
    if (p->index < p->count) {
        lua_getuservalue(L, 1);
        lua_getfield(L, -1, "page");
        lua_rawgeti(L, -1, (int)++p->index);
        return 1;
    }
    if (p->done)
        lua_pushnil(L);
    else
        lua_pushboolean(L, 0);
    return 1;
}

static int l_done(lua_State *L)
{
    lua_pushboolean(L, checkpager(L)->done);
    return 1;
}

static void pager_release(lua_State *L, void *obj)
{
    bx_pager *p = obj;
    (void)L;
    p->index = p->count = 0;
    free(p->seen);
    p->seen = NULL;
    p->nseen = p->capseen = 0;
    set_cursor(p, NULL, 0);
}

static int l_close(lua_State *L)
{
    return bx_close(L, BX_PAGER_MT, pager_release);
}

static int l_tostring(lua_State *L)
{
    bx_pager *p = luaL_checkudata(L, 1, BX_PAGER_MT);
    const char *state = p->closed ? "closed" : p->done ? "done" : NULL;
    return bx_push_summary(L, BX_PAGER_MT, p->pages, "pages", state);
}

int bx_open_pager(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"query", l_query}, {"feed", l_feed}, {"next", l_next}, {"done", l_done}, {NULL, NULL}};
    bx_newtype(L, BX_PAGER_MT, l_close, l_tostring, methods, "pager", l_new);
    return 0;
}
