/*
 * The test module batchexport.parsers: a Lua binding of the pure parsers
 * (jsonsplit, csvparse) for spec/parsers_spec.lua, on Lua 5.1 to 5.4 and
 * LuaJIT. Not part of the shipped core: the library reads records through
 * reader.c. Built by tests/c/Makefile into every build folder the specs use.
 *
 *   int bx_open_parsers(lua_State *L);
 *     With the module table on top of the stack, sets into it:
 *       json_splitter([max_record])     -> userdata "batchexport.json_splitter"
 *         :feed(chunk) -> { record, ... }   raises on a parse error
 *         :finish()    -> true              raises if the stream was cut
 *         :records()   -> number of records returned so far
 *         :close()     frees it now (also __gc, __close)
 *       csv_parser([sep [, max_row]])   -> userdata "batchexport.csv_parser"
 *         :feed(chunk) -> { {field, ...}, ... }
 *         :finish()    -> { {field, ...} } or {}   raises on a bad quote
 *         :rows()      -> number of rows returned so far
 *         :close()     (also __gc, __close)
 *     Leaves the stack as it found it and returns 0.
 *
 * Error messages name the record/row that failed (1-based, counting the
 * records or rows returned before it) and the stream byte offset, e.g.
 *   "record 12 at byte 3456: record exceeds 67108864 bytes".
 * A parser that raised keeps raising: the C parsers' errors are sticky.
 */
#include <stdio.h>

#include "lua.h"
#include "lauxlib.h"

#include "csvparse.h"
#include "jsonsplit.h"

#define JSON_MT "batchexport.json_splitter"
#define CSV_MT "batchexport.csv_parser"

int bx_open_parsers(lua_State *L);

typedef struct {
    jsonsplit *s;
} json_ud;

typedef struct {
    csvparse *p;
    size_t max;
} csv_ud;

/* Without luaL_setfuncs, which Lua 5.1 lacks. */
static void set_funcs(lua_State *L, const luaL_Reg *r)
{
    for (; r->name; r++) {
        lua_pushcfunction(L, r->func);
        lua_setfield(L, -2, r->name);
    }
}

static size_t opt_size(lua_State *L, int arg, const char *what)
{
    lua_Integer n = luaL_optinteger(L, arg, 0);

    if (n < 0)
        luaL_argerror(L, arg, what);
    return (size_t)n;
}

/* ---- json_splitter ---- */

static jsonsplit *check_json(lua_State *L)
{
    json_ud *u = (json_ud *)luaL_checkudata(L, 1, JSON_MT);

    if (!u->s)
        luaL_error(L, "json_splitter is closed");
    return u->s;
}

/* Raises; the numbers go through snprintf because lua_pushfstring has no
 * 64-bit integer format in Lua 5.1. */
static int json_raise(lua_State *L, jsonsplit *s, int rc)
{
    char msg[160];

    if (rc == JSONSPLIT_ERR_TOO_LARGE)
        snprintf(msg, sizeof msg, "record %llu at byte %llu: record exceeds %llu bytes",
                 (unsigned long long)jsonsplit_records(s) + 1,
                 (unsigned long long)jsonsplit_offset(s),
                 (unsigned long long)jsonsplit_max_record(s));
    else
        snprintf(msg, sizeof msg, "record %llu at byte %llu: %s",
                 (unsigned long long)jsonsplit_records(s) + 1,
                 (unsigned long long)jsonsplit_offset(s), jsonsplit_strerror(rc));
    return luaL_error(L, "%s", msg);
}

static int json_new(lua_State *L)
{
    size_t max = opt_size(L, 1, "max_record must be >= 0");
    json_ud *u = (json_ud *)lua_newuserdata(L, sizeof *u);

    u->s = NULL;
    luaL_getmetatable(L, JSON_MT);
    lua_setmetatable(L, -2);
    u->s = jsonsplit_new(max);
    if (!u->s)
        return luaL_error(L, "json_splitter: out of memory");
    return 1;
}

static int json_feed(lua_State *L)
{
    jsonsplit *s = check_json(L);
    size_t len, used, rlen;
    const char *p = luaL_checklstring(L, 2, &len), *rec;
    int n = 0, rc;

    lua_newtable(L);
    for (;;) {
        rc = jsonsplit_next(s, p, len, &used, &rec, &rlen);
        if (rc != JSONSPLIT_RECORD)
            break;
        lua_pushlstring(L, rec, rlen);
        lua_rawseti(L, -2, ++n);
        p += used;
        len -= used;
    }
    if (rc != JSONSPLIT_NEED_MORE)
        return json_raise(L, s, rc);
    return 1;
}

static int json_finish(lua_State *L)
{
    jsonsplit *s = check_json(L);
    int rc = jsonsplit_finish(s);

    if (rc != JSONSPLIT_END)
        return json_raise(L, s, rc);
    lua_pushboolean(L, 1);
    return 1;
}

static int json_records(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)jsonsplit_records(check_json(L)));
    return 1;
}

static int json_close(lua_State *L)
{
    json_ud *u = (json_ud *)luaL_checkudata(L, 1, JSON_MT);

    jsonsplit_free(u->s);
    u->s = NULL;
    return 0;
}

/* ---- csv_parser ---- */

static csvparse *check_csv(lua_State *L)
{
    csv_ud *u = (csv_ud *)luaL_checkudata(L, 1, CSV_MT);

    if (!u->p)
        luaL_error(L, "csv_parser is closed");
    return u->p;
}

static int csv_raise(lua_State *L, csv_ud *u, int rc)
{
    char msg[160];

    if (rc == CSVPARSE_ERR_TOO_LARGE)
        snprintf(msg, sizeof msg, "row %llu at byte %llu: row exceeds %llu bytes",
                 (unsigned long long)csvparse_rows(u->p) + 1,
                 (unsigned long long)csvparse_offset(u->p),
                 (unsigned long long)u->max);
    else
        snprintf(msg, sizeof msg, "row %llu at byte %llu: %s",
                 (unsigned long long)csvparse_rows(u->p) + 1,
                 (unsigned long long)csvparse_offset(u->p), csvparse_strerror(rc));
    return luaL_error(L, "%s", msg);
}

static int csv_new(lua_State *L)
{
    size_t seplen;
    const char *sep = luaL_optlstring(L, 1, ";", &seplen);
    size_t max = opt_size(L, 2, "max_row must be >= 0");
    csv_ud *u;

    if (seplen != 1 || *sep == '"' || *sep == '\r' || *sep == '\n')
        return luaL_argerror(L, 1, "separator must be one byte other than '\"', CR and LF");
    u = (csv_ud *)lua_newuserdata(L, sizeof *u);
    u->p = NULL;
    u->max = max ? max : CSVPARSE_DEFAULT_MAX_ROW;
    luaL_getmetatable(L, CSV_MT);
    lua_setmetatable(L, -2);
    u->p = csvparse_new(*sep, max);
    if (!u->p)
        return luaL_error(L, "csv_parser: out of memory");
    return 1;
}

/* Appends the current row, as an array of strings, to the table on top. */
static void push_row(lua_State *L, const csvparse *p, int idx)
{
    size_t i, n = csvparse_fields(p), len;

    lua_createtable(L, (int)n, 0);
    for (i = 0; i < n; i++) {
        const char *f = csvparse_field(p, i, &len);

        lua_pushlstring(L, f, len);
        lua_rawseti(L, -2, (int)i + 1);
    }
    lua_rawseti(L, -2, idx);
}

static int csv_feed(lua_State *L)
{
    csv_ud *u = (csv_ud *)luaL_checkudata(L, 1, CSV_MT);
    csvparse *p = check_csv(L);
    size_t len, used;
    const char *d = luaL_checklstring(L, 2, &len);
    int n = 0, rc;

    lua_newtable(L);
    for (;;) {
        rc = csvparse_next(p, d, len, &used);
        if (rc != CSVPARSE_ROW)
            break;
        push_row(L, p, ++n);
        d += used;
        len -= used;
    }
    if (rc != CSVPARSE_NEED_MORE)
        return csv_raise(L, u, rc);
    return 1;
}

static int csv_finish(lua_State *L)
{
    csv_ud *u = (csv_ud *)luaL_checkudata(L, 1, CSV_MT);
    csvparse *p = check_csv(L);
    int n = 0, rc;

    lua_newtable(L);
    while ((rc = csvparse_finish(p)) == CSVPARSE_ROW)
        push_row(L, p, ++n);
    if (rc != CSVPARSE_END)
        return csv_raise(L, u, rc);
    return 1;
}

static int csv_rows(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)csvparse_rows(check_csv(L)));
    return 1;
}

static int csv_close(lua_State *L)
{
    csv_ud *u = (csv_ud *)luaL_checkudata(L, 1, CSV_MT);

    csvparse_free(u->p);
    u->p = NULL;
    return 0;
}

/* ---- registration ---- */

static const luaL_Reg json_methods[] = {
    { "feed", json_feed },
    { "finish", json_finish },
    { "records", json_records },
    { "close", json_close },
    { NULL, NULL }
};

static const luaL_Reg csv_methods[] = {
    { "feed", csv_feed },
    { "finish", csv_finish },
    { "rows", csv_rows },
    { "close", csv_close },
    { NULL, NULL }
};

/* The metatable is its own __index; __close is inert before Lua 5.4. */
static void new_class(lua_State *L, const char *name, const luaL_Reg *methods,
                      lua_CFunction close)
{
    if (luaL_newmetatable(L, name)) {
        set_funcs(L, methods);
        lua_pushvalue(L, -1);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, close);
        lua_setfield(L, -2, "__close");
        lua_pushstring(L, name);
        lua_setfield(L, -2, "__name");
    }
    lua_pop(L, 1);
}

int bx_open_parsers(lua_State *L)
{
    luaL_checktype(L, -1, LUA_TTABLE);
    new_class(L, JSON_MT, json_methods, json_close);
    new_class(L, CSV_MT, csv_methods, csv_close);
    lua_pushcfunction(L, json_new);
    lua_setfield(L, -2, "json_splitter");
    lua_pushcfunction(L, csv_new);
    lua_setfield(L, -2, "csv_parser");
    return 0;
}

int luaopen_batchexport_parsers(lua_State *L);

int luaopen_batchexport_parsers(lua_State *L)
{
    lua_newtable(L);
    bx_open_parsers(L);
    return 1;
}
