/*
 * jsonvalue.c: brings what lua-cjson decodes in line with the API contract:
 * JSON null (cjson.null, a NULL light userdata) becomes nil, and numbers that
 * are whole (count, part, size...) become Lua integers on 5.3 and later, since
 * lua-cjson 2.1 decodes every number as a float.
 */
#include "core.h"

#include <math.h>

#define MAX_DEPTH 1000

static int is_null(lua_State *L, int i)
{
    return lua_type(L, i) == LUA_TLIGHTUSERDATA && lua_touserdata(L, i) == NULL;
}

#if LUA_VERSION_NUM >= 503
static int whole(lua_State *L, int i, lua_Integer *out)
{
    lua_Number d;
    if (lua_type(L, i) != LUA_TNUMBER || lua_isinteger(L, i))
        return 0;
    d = lua_tonumber(L, i);
    return floor(d) == d && lua_numbertointeger(d, out);
}
#endif

static void normalize(lua_State *L, int t, int depth)
{
    if (depth > MAX_DEPTH)
        return;
    luaL_checkstack(L, 4, "json nesting too deep");
    lua_pushnil(L);
    while (lua_next(L, t)) {
#if LUA_VERSION_NUM >= 503
        lua_Integer n;
#endif
        if (lua_type(L, -1) == LUA_TTABLE) {
            normalize(L, lua_gettop(L), depth + 1);
        } else if (is_null(L, -1)) {
            /* Clearing a field that exists is allowed during lua_next. */
            lua_pushvalue(L, -2);
            lua_pushnil(L);
            lua_rawset(L, t);
#if LUA_VERSION_NUM >= 503
        } else if (whole(L, -1, &n)) {
            lua_pushvalue(L, -2);
            lua_pushinteger(L, n);
            lua_rawset(L, t);
#endif
        }
        lua_pop(L, 1);
    }
}

/* Normalizes the value at idx in place (tables are changed in place). */
void bx_normalize(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) == LUA_TTABLE)
        normalize(L, idx, 0);
}

/* Normalizes the value on top of the stack, replacing it when it is a
 * scalar (null, a whole number). */
void bx_normalize_top(lua_State *L)
{
#if LUA_VERSION_NUM >= 503
    lua_Integer n;
    if (whole(L, -1, &n)) {
        lua_pop(L, 1);
        lua_pushinteger(L, n);
        return;
    }
#endif
    if (is_null(L, -1)) {
        lua_pop(L, 1);
        lua_pushnil(L);
        return;
    }
    bx_normalize(L, -1);
}

/* core.normalize(v) -> v, with nulls removed and whole numbers as integers */
static int l_normalize(lua_State *L)
{
    lua_settop(L, 1);
    bx_normalize_top(L);
    return 1;
}

int bx_open_jsonvalue(lua_State *L)
{
    lua_pushcfunction(L, l_normalize);
    lua_setfield(L, -2, "normalize");
    return 0;
}
