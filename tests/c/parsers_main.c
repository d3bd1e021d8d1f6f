/*
 * A stand-alone Lua module around csrc/parsers.c, so the binding can be
 * tested before (and without) the full core: require("batchexport.parsers")
 * returns a table with json_splitter and csv_parser.
 */
#include "lua.h"
#include "lauxlib.h"

int bx_open_parsers(lua_State *L);
int luaopen_batchexport_parsers(lua_State *L);

int luaopen_batchexport_parsers(lua_State *L)
{
    lua_newtable(L);
    bx_open_parsers(L);
    return 1;
}
