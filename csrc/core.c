/*
 * core.c: luaopen_batchexport_core, the C half of batchexport. It registers
 * the userdata types (each in its own file) and a few small functions the Lua
 * layer needs and Lua lacks: a monotonic clock, percent-encoding, HTTP-date
 * parsing, making, syncing and listing directories, file modes and real
 * paths (so the command need not shell out to ls, stat or readlink).
 */
#include "core.h"
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BX_CORE_VERSION "0.1.0"

void bx_pushescaped(lua_State *L, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    luaL_Buffer b;
    size_t i;
    luaL_buffinit(L, &b);
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            luaL_addchar(&b, (char)ch);
        } else {
            luaL_addchar(&b, '%');
            luaL_addchar(&b, hex[ch >> 4]);
            luaL_addchar(&b, hex[ch & 15]);
        }
    }
    luaL_pushresult(&b);
}

/* core.escape(s): RFC 3986 percent-encoding of everything but unreserved bytes */
static int l_escape(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    bx_pushescaped(L, s, n);
    return 1;
}

/* core.now(): seconds on a monotonic clock, for timers that must not jump */
static int l_now(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

/* core.http_date(s) -> Unix time, or nil: for Retry-After's HTTP-date form */
static int l_http_date(lua_State *L)
{
    time_t t = curl_getdate(luaL_checkstring(L, 1), NULL);
    if (t == (time_t)-1)
        lua_pushnil(L);
    else
        lua_pushinteger(L, (lua_Integer)t);
    return 1;
}

/* core.mkdir(path): creates the directory and its parents (mode 0755);
 * true if it exists afterwards, else nil, message. */
static int l_mkdir(lua_State *L)
{
    size_t n;
    const char *path = luaL_checklstring(L, 1, &n);
    luaL_Buffer b;
    size_t i;
    struct stat st;
    for (i = 1; i <= n; i++) {
        if (i < n && path[i] != '/')
            continue;
        luaL_buffinit(L, &b);
        luaL_addlstring(&b, path, i);
        luaL_pushresult(&b);
        if (mkdir(lua_tostring(L, -1), 0755) != 0 && errno != EEXIST) {
            lua_pushnil(L);
            lua_pushfstring(L, "cannot create %s: %s", lua_tostring(L, -2), strerror(errno));
            return 2;
        }
        lua_pop(L, 1);
    }
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s is not a directory", path);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* core.sync_dir(path): fsync a directory, so that a rename in it survives a
 * crash. */
static int l_sync_dir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || bx_fs_sync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        lua_pushnil(L);
        lua_pushfstring(L, "cannot sync %s: %s", path, strerror(e));
        return 2;
    }
    close(fd);
    lua_pushboolean(L, 1);
    return 1;
}

static int push_errno(lua_State *L, const char *what, const char *path)
{
    int e = errno;
    lua_pushnil(L);
    lua_pushfstring(L, "%s %s: %s", what, path, strerror(e));
    return 2;
}

/* core.list_dir(path) -> array of the names in the folder (not . and ..),
 * in no particular order; nil, message when it cannot be read. */
static int l_list_dir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct dirent *de;
    lua_Integer n = 0;
    DIR *d = opendir(path);
    if (d == NULL)
        return push_errno(L, "cannot list", path);
    lua_newtable(L);
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        lua_pushstring(L, de->d_name);
        lua_rawseti(L, -2, (int)++n);
    }
    closedir(d);
    return 1;
}

/* core.file_mode(path) -> permission bits (links followed, as stat -L),
 * type ("file", "directory", "other"); nil, message when absent. */
static int l_file_mode(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    if (stat(path, &st) != 0)
        return push_errno(L, "cannot stat", path);
    lua_pushinteger(L, (lua_Integer)(st.st_mode & 07777));
    lua_pushstring(L, S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "directory" : "other");
    return 2;
}

/* core.realpath(path) -> the absolute path, links resolved; nil, message. */
static int l_realpath(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char *real = bx_fs_realpath(path);
    if (real == NULL)
        return push_errno(L, "cannot resolve", path);
    lua_pushstring(L, real);
    free(real);
    return 1;
}

/* core.new_file_mode() -> 0666 & ~umask, the mode saved files get */
static int l_new_file_mode(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)bx_fs_new_file_mode());
    return 1;
}

int luaopen_batchexport_core(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"escape", l_escape}, {"now", l_now}, {"http_date", l_http_date},
        {"mkdir", l_mkdir}, {"sync_dir", l_sync_dir}, {"list_dir", l_list_dir},
        {"file_mode", l_file_mode}, {"realpath", l_realpath}, {"new_file_mode", l_new_file_mode},
        {NULL, NULL}
    };
    curl_version_info_data *info;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return luaL_error(L, "curl_global_init failed");
    info = curl_version_info(CURLVERSION_NOW);
    lua_newtable(L);
    luaL_setfuncs(L, funcs, 0);
    bx_open_loop(L);
    bx_open_client(L);
    bx_open_transfer(L);
    bx_open_pager(L);
    bx_open_tempfile(L);
    bx_open_jsonvalue(L);
    bx_open_reader(L);
    bx_open_parsers(L);
    lua_pushliteral(L, BX_CORE_VERSION);
    lua_setfield(L, -2, "version");
    lua_pushstring(L, info->version);
    lua_setfield(L, -2, "curl_version");
    lua_pushstring(L, info->ssl_version ? info->ssl_version : "none");
    lua_setfield(L, -2, "ssl_version");
    return 1;
}
