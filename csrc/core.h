/*
 * core.h: what every Lua-facing C file of the core shares, and nothing more:
 * the type helpers, a clock and the pushers of common results. Each userdata's
 * struct is private to its .c; its header (loop.h, client.h, transfer.h,
 * pager.h, tempfile.h, reader.h, digest.h, jsonvalue.h) says what other
 * files may ask of it, and declares the bx_open_* that core.c calls.
 * csrc/README.md has the conventions.
 */
#ifndef BX_CORE_H
#define BX_CORE_H

#include "compat.h"

/* Registers a metatable with methods reachable through __index. Inline:
 * jsonvalue.c also links without core.c (fuzz/fuzz_jsondecode.c). */
static inline void bx_newclass(lua_State *L, const char *name, const luaL_Reg *meta,
                               const luaL_Reg *methods)
{
    luaL_newmetatable(L, name);
    luaL_setfuncs(L, meta, 0);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "batchexport");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
}

/* A userdata type that holds a resource: close (idempotent) is its __gc,
 * __close and :close(); tostring its __tostring (NULL: none). Then sets
 * constructor as field ctor_name of the table on top. */
void bx_newtype(lua_State *L, const char *name, lua_CFunction close, lua_CFunction tostring,
                const luaL_Reg *methods, const char *ctor_name, lua_CFunction constructor);

/* Every userdata struct starts with `int closed` (csrc/README.md), so
 * these two serve every type. bx_checkopen: the object at index i, raising
 * "<what> is closed" when it is. bx_close: the body of every close function
 * (__gc, __close, :close()): marks the object at index 1 closed and lets
 * release free what it holds, once; returns 0 (no results). */
void *bx_checkopen(lua_State *L, int i, const char *mt, const char *what);
int bx_close(lua_State *L, const char *mt, void (*release)(lua_State *L, void *obj));

/* A __tostring's text, "NAME (COUNT WHAT)" or "NAME (COUNT WHAT, STATE)"
 * when state is not NULL; returns 1. */
int bx_push_summary(lua_State *L, const char *name, lua_Integer count, const char *what,
                    const char *state);

/* Milliseconds on a monotonic clock. */
double bx_clock_ms(void);
/* RFC 3986 percent-encoding of everything but unreserved bytes. */
void bx_pushescaped(lua_State *L, const char *s, size_t n);
/* The failure a caller must handle (csrc/README.md): pushes nil, message;
 * returns 2. */
int bx_push_fail(lua_State *L, const char *message);
/* Pushes nil, "WHAT PATH: strerror(errno)"; returns 2. */
int bx_push_errno(lua_State *L, const char *what, const char *path);

#endif
