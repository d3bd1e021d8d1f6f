/*
 * lua.c: a minimal Lua 5.4 interpreter linked with AddressSanitizer and
 * UndefinedBehaviorSanitizer, to run the spec suite against the sanitized
 * core. Linking the runtime into the interpreter (rather than LD_PRELOAD-ing
 * it into lua5.4) keeps it out of the processes the specs start: nginx, curl
 * and child Lua programs run as they would for a user.
 *
 *   lua5.4-asan script.lua args...   (arg[0] is the script, as with lua5.4)
 *
 * ASAN_LUA_CPATH, when set, goes before package.cpath in this interpreter only:
 * it loads the sanitized core while the Lua programs it starts, which see
 * LUA_CPATH, load the normal one.
 */
#include <stdlib.h>
#include <stdio.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

static int traceback(lua_State *L)
{
    luaL_traceback(L, L, lua_tostring(L, 1), 1);
    return 1;
}

int main(int argc, char **argv)
{
    lua_State *L;
    int i, status;
    if (argc < 2) {
        fprintf(stderr, "usage: %s script.lua [args...]\n", argv[0]);
        return 2;
    }
    L = luaL_newstate();
    luaL_openlibs(L);
    if (getenv("ASAN_LUA_CPATH")) {
        lua_getglobal(L, "package");
        lua_pushstring(L, getenv("ASAN_LUA_CPATH"));
        lua_pushliteral(L, ";");
        lua_getfield(L, -3, "cpath");
        lua_concat(L, 3);
        lua_setfield(L, -2, "cpath");
        lua_pop(L, 1);
    }
    lua_createtable(L, argc, 1);
    for (i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - 1);
    }
    lua_setglobal(L, "arg");
    lua_pushcfunction(L, traceback);
    status = luaL_loadfile(L, argv[1]);
    if (status == LUA_OK) {
        for (i = 2; i < argc; i++)
            lua_pushstring(L, argv[i]);
        status = lua_pcall(L, argc - 2, 0, 1);
    }
    if (status != LUA_OK)
        fprintf(stderr, "%s: %s\n", argv[0], lua_tostring(L, -1));
    lua_close(L);
    return status == LUA_OK ? 0 : 1;
}
