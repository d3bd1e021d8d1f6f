/*
 * Differential libFuzzer target: the same bytes go to the library's decoder
 * (core.json_decode: csrc/jsondecode.c + csrc/jsonvalue.c) and to lua-cjson
 * (the Debian package's cjson.so, loaded with require in a Lua state made
 * once). Either both accept, with deep-equal values, or both refuse; the
 * fuzzer aborts on anything else.
 *
 * Each document is decoded a second time by a builder that keeps its layout
 * memory from one input to the next, as a reader's does from record to
 * record (keys recognised and reused by position, table sizes from the
 * previous document): it must accept and refuse the same documents, and
 * give equal values. An input of two lines is also read as a first document
 * that leaves its layout and a second judged after it.
 *
 * Equal means: cjson's null is nil (an absent key, a hole in an array), and
 * numbers compare as doubles (the decoder's integers, converted, equal
 * cjson's floats).
 *
 * The decoder is stricter than cjson's defaults, on purpose; only these
 * refusals of what cjson accepts are allowed (see ALLOWED below):
 *   - numbers cjson hands to strtod: leading zeros (01), hex (0x10), a bare
 *     dot or exponent (1., -.5, 1.e5), a plus sign (+1), NaN and Infinity;
 *   - raw control characters (bytes below 0x20) inside strings;
 *   - nesting deeper than 1000 levels (both cap it; the edges may differ);
 *   - bytes after a NUL byte that follows a value: cjson stops reading at
 *     the first NUL, the decoder reads the whole input and refuses them.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "../csrc/core.h"
#include "../csrc/jsonvalue.h"
#include "../csrc/jsondecode.h"

static const char CHECK[] =
    "local decode, cjson, decode_layout = ...\n"
    "local null = cjson.null\n"
    /* same(ours, cjson's): numbers as doubles; same(ours, ours, true):
     * exact, integers too */
    "local function same(a, b, exact)\n"
    "  if b == null then return a == nil end\n"
    "  if type(b) == 'number' then\n"
    "    if type(a) ~= 'number' then return false end\n"
    "    if exact then return a == b and math.type(a) == math.type(b) end\n"
    "    if b ~= b then return a ~= a end\n"
    "    return a + 0.0 == b\n"
    "  end\n"
    "  if type(b) ~= 'table' then return a == b end\n"
    "  if type(a) ~= 'table' then return false end\n"
    "  for k, v in pairs(b) do if not same(a[k], v, exact) then return false end end\n"
    "  for k in pairs(a) do if b[k] == nil then return false end end\n"
    "  return true\n"
    "end\n"
    /* ALLOWED: is the decoder's refusal (byte n, why) one of the documented
     * differences? */
    "local function allowed(s, n, why)\n"
    "  local c = s:sub(n, n)\n"
    "  if why == 'malformed number' or why == 'nesting too deep' then return true end\n"
    "  if why:find('control character', 1, true) then return c:byte() ~= nil and c:byte() < 32 end\n"
    "  if why:find('ends inside', 1, true) then return s:sub(-1):find('^[%.eE%+%-]$') ~= nil end\n"
    "  if why:find('unexpected byte', 1, true) then\n"
    "    if c:find('^[%+%.xX%z]$') then return true end\n"
    "    local start = s:sub(1, n):match('([%a]+)$') or ''\n"
    "    return start:find('^[IiNn]') ~= nil\n"
    "  end\n"
    "  return false\n"
    "end\n"
    "return function(s)\n"
    "  local ours, why = decode(s)\n"
    "  local ok, theirs = pcall(cjson.decode, s)\n"
    "  if why == nil then\n"
    "    if not ok then error('the decoder accepts what cjson refuses (' .. tostring(theirs) .. ')') end\n"
    "    if not same(ours, theirs) then error('the decoder and cjson give different values') end\n"
    "    local got, v = pcall(decode_layout, s)\n"
    "    if not got then error('the decoder with the previous layout refuses it: ' .. tostring(v)) end\n"
    "    if not same(v, theirs) then\n"
    "      error('the decoder with the previous layout and cjson give different values')\n"
    "    end\n"
    "  elseif pcall(decode_layout, s) then\n"
    "    error('the decoder with the previous layout accepts what json_decode refuses: ' .. why)\n"
    "  end\n"
    /* An input of two lines: the first sets the layout memory, and the
     * second must then be judged as json_decode judges it. Remembered keys
     * are recognised without a scan: never one that is not that key here
     * (an escaped one, a prefix, a longer one...). */
    "  local first, second = s:match('^([^\\n]*)\\n(.*)$')\n"
    "  if first then\n"
    "    pcall(decode_layout, first)\n"
    "    local v, refused = decode(second)\n"
    "    local got, lv = pcall(decode_layout, second)\n"
    "    if got == (refused ~= nil) or (got and not same(lv, v, true)) then\n"
    "      error('after the first line, the decoder with its layout and json_decode differ on the second')\n"
    "    end\n"
    "  end\n"
    "  if why ~= nil and ok then\n"
    "    local n, msg = why:match('^byte (%d+): (.*)$')\n"
    "    if not n or not allowed(s, tonumber(n), msg) then\n"
    "      error('the decoder refuses what cjson accepts: ' .. why)\n"
    "    end\n"
    "  end\n"
    "end\n";

static lua_State *L;
static unsigned long runs;
static bx_jsonbuild layout;     /* kept from one input to the next */

/* decode_layout(s) -> the value of the document s, built with the layout
 * memory of the inputs before it; raises when s is not one JSON value. */
static int decode_layout(lua_State *L)
{
    size_t len, used;
    const char *text = luaL_checklstring(L, 1, &len);
    const char *p = jsondecode_ws(text, text + len);
    int err;
    if (bx_json_push(L, &layout, NULL, 0, p, (size_t)(text + len - p), 1, NULL, &used, &err) != 1)
        return luaL_error(L, "%s", jsondecode_strerror(err));
    if (jsondecode_ws(p + used, text + len) != text + len)
        return luaL_error(L, "bytes after the value");
    return 1;
}

static void start(void)
{
    L = luaL_newstate();
    if (L == NULL)
        abort();
    luaL_openlibs(L);
    if (luaL_loadstring(L, CHECK) != LUA_OK)
        goto fail;
    lua_newtable(L);
    bx_open_jsonvalue(L);
    lua_getfield(L, -1, "json_decode");
    lua_remove(L, -2);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "cjson");
    if (lua_pcall(L, 1, 1, 0) != LUA_OK)
        goto fail;
    bx_jsonbuild_init(&layout);
    bx_jsonbuild_keep_layout(L, &layout);
    lua_pushcfunction(L, decode_layout);
    if (lua_pcall(L, 3, 1, 0) != LUA_OK)
        goto fail;
    lua_setglobal(L, "check");
    return;
fail:
    fprintf(stderr, "fuzz_jsondecode: %s\n", lua_tostring(L, -1));
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (L == NULL)
        start();
    lua_getglobal(L, "check");
    lua_pushlstring(L, (const char *)data, size);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        fprintf(stderr, "fuzz_jsondecode: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_settop(L, 0);
    /* A full collection now and then keeps the state's heap small. */
    if (++runs % 1024 == 0)
        lua_gc(L, LUA_GCCOLLECT, 0);
    return 0;
}
