/*
 * bench/values_floor.c: the Lua module `values_floor`, a measuring device
 * for bench/values_floor.lua, not part of the library. It answers: how long
 * does the Lua side of `values` take when nothing else is left, no network,
 * no ring, no decoding? load() reads an NDJSON file and finds, in every
 * line, the plain string values of two top-level fields (the bench's
 * records: no escapes in them, checked); iter() then gives, one call per
 * record, exactly what the library's values iterator gives: the record
 * number and two strings (or nil), pushed from the bytes.
 *
 * Built by bench/run.sh: cc -O2 -shared -fPIC -I<lua headers>.
 */
#include <lauxlib.h>
#include <lua.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct span {
    size_t at, len; /* len == (size_t)-1: absent or null */
} span;

static char *text;
static span *spans; /* two a record */
static size_t records, next_record;

/* The plain string value of "key": in [line, end), or an absent span. */
static span find(const char *line, const char *end, const char *key)
{
    span s = {0, (size_t)-1};
    size_t klen = strlen(key);
    const char *k = strstr(line, key), *close;
    if (k == NULL || k + klen >= end || k[klen] != '"')
        return s;
    close = memchr(k + klen + 1, '"', (size_t)(end - (k + klen + 1)));
    if (close == NULL || memchr(k + klen + 1, '\\', (size_t)(close - (k + klen + 1))) != NULL)
        return s;
    s.at = (size_t)(k + klen + 1 - text);
    s.len = (size_t)(close - (k + klen + 1));
    return s;
}

static void release(void)
{
    free(text);
    free(spans);
    text = NULL;
    spans = NULL;
    records = next_record = 0;
}

/* The file's bytes, NUL-terminated, or NULL. */
static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *bytes = NULL;
    long size;
    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (bytes = malloc((size_t)size + 1)) != NULL) {
        if (fread(bytes, 1, (size_t)size, f) == (size_t)size)
            bytes[size] = '\0';
        else {
            free(bytes);
            bytes = NULL;
        }
    }
    fclose(f);
    return bytes;
}

/* load(path, key1, key2) -> records: keys as they appear, quote and colon
 * included ('"custom_id":'). */
static int l_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    const char *key1 = luaL_checkstring(L, 2), *key2 = luaL_checkstring(L, 3);
    size_t cap = 1024;
    char *p;
    release();
    if ((text = read_all(path)) == NULL)
        return luaL_error(L, "cannot read %s", path);
    if ((spans = malloc(2 * cap * sizeof *spans)) == NULL)
        return luaL_error(L, "out of memory");
    for (p = text; *p != '\0';) {
        char *nl = strchr(p, '\n');
        if (nl == NULL)
            break;
        *nl = '\0'; /* strstr stays in the line */
        if (records == cap) {
            span *more = realloc(spans, 4 * cap * sizeof *spans);
            if (more == NULL)
                return luaL_error(L, "out of memory");
            spans = more;
            cap *= 2;
        }
        spans[2 * records] = find(p, nl, key1);
        spans[2 * records + 1] = find(p, nl, key2);
        records++;
        p = nl + 1;
    }
    lua_pushinteger(L, (lua_Integer)records);
    return 1;
}

static void push_span(lua_State *L, span s)
{
    if (s.len == (size_t)-1)
        lua_pushnil(L);
    else
        lua_pushlstring(L, text + s.at, s.len);
}

/* The function a generic for calls: n, value1, value2 | nil. */
static int l_iter(lua_State *L)
{
    if (next_record >= records) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushinteger(L, (lua_Integer)next_record + 1);
    push_span(L, spans[2 * next_record]);
    push_span(L, spans[2 * next_record + 1]);
    next_record++;
    return 3;
}

int luaopen_values_floor(lua_State *L);

int luaopen_values_floor(lua_State *L)
{
    lua_newtable(L);
    lua_pushcfunction(L, l_load);
    lua_setfield(L, -2, "load");
    lua_pushcfunction(L, l_iter);
    lua_setfield(L, -2, "iter");
    return 1;
}
