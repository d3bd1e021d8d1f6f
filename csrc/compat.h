/*
 * compat.h: the few Lua C API differences between Lua 5.1 (LuaJIT, OpenResty)
 * and Lua 5.4 that the core needs, so the other files are written once against
 * the 5.4 API.
 */
#ifndef BX_COMPAT_H
#define BX_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM < 502

#define lua_rawlen(L, i) lua_objlen((L), (i))

static inline int bx_absindex(lua_State *L, int i)
{
    return (i > 0 || i <= LUA_REGISTRYINDEX) ? i : lua_gettop(L) + i + 1;
}
#define lua_absindex(L, i) bx_absindex((L), (i))

/* LuaJIT 2.1 brings these 5.2 helpers (and defines luaL_newlib); plain 5.1 lacks them. */
#ifndef luaL_newlib
static inline void bx_setfuncs(lua_State *L, const luaL_Reg *l, int nup)
{
    luaL_checkstack(L, nup, "too many upvalues");
    for (; l->name != NULL; l++) {
        int i;
        for (i = 0; i < nup; i++)
            lua_pushvalue(L, -nup);
        lua_pushcclosure(L, l->func, nup);
        lua_setfield(L, -(nup + 2), l->name);
    }
    lua_pop(L, nup);
}
#define luaL_setfuncs(L, l, n) bx_setfuncs((L), (l), (n))

static inline void *bx_testudata(lua_State *L, int i, const char *tname)
{
    void *p = lua_touserdata(L, i);
    if (p == NULL || !lua_getmetatable(L, i))
        return NULL;
    luaL_getmetatable(L, tname);
    if (!lua_rawequal(L, -1, -2))
        p = NULL;
    lua_pop(L, 2);
    return p;
}
#define luaL_testudata(L, i, t) bx_testudata((L), (i), (t))

static inline void luaL_setmetatable(lua_State *L, const char *tname)
{
    luaL_getmetatable(L, tname);
    lua_setmetatable(L, -2);
}
#endif

/* 5.1 has one environment table per userdata; it serves as the user value. */
#define lua_setuservalue(L, i) lua_setfenv((L), (i))
#define lua_getuservalue(L, i) lua_getfenv((L), (i))

#endif /* LUA_VERSION_NUM < 502 */

#if LUA_VERSION_NUM >= 504
#define bx_newuserdata(L, sz) lua_newuserdatauv((L), (sz), 1)
#else
#define bx_newuserdata(L, sz) lua_newuserdata((L), (sz))
#endif

#endif
