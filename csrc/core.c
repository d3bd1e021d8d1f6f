/*
 * core.c: luaopen_batchexport_core, the C half of batchexport. It registers
 * the userdata types (each in its own file) and a few small functions the Lua
 * layer needs and Lua lacks: a monotonic clock, percent-encoding, URL and
 * Retry-After parsing (url.c, headers.c), making, syncing and listing
 * directories, file modes and real paths (so the command need not shell out
 * to ls, stat or readlink).
 */
#include "core.h"

#include "client.h"
#include "digest.h"
#include "fsutil.h"
#include "headers.h"
#include "jsonvalue.h"
#include "loop.h"
#include "pager.h"
#include "reader.h"
#include "tempfile.h"
#include "terminal.h"
#include "transfer.h"
#include "url.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BX_CORE_VERSION "0.1.0"

void bx_newtype(lua_State *L, const char *name, lua_CFunction close, lua_CFunction tostring,
                const luaL_Reg *methods, const char *ctor_name, lua_CFunction constructor)
{
    luaL_Reg meta[] = {{"__gc", NULL}, {"__close", NULL}, {NULL, NULL}, {NULL, NULL}};
    meta[0].func = meta[1].func = close;
    if (tostring != NULL) {
        meta[2].name = "__tostring";
        meta[2].func = tostring;
    }
    bx_newclass(L, name, meta, methods);
    /* The one close, also a method: reached through __index. */
    luaL_getmetatable(L, name);
    lua_getfield(L, -1, "__index");
    lua_pushcfunction(L, close);
    lua_setfield(L, -2, "close");
    lua_pop(L, 2);
    if (ctor_name != NULL) {
        lua_pushcfunction(L, constructor);
        lua_setfield(L, -2, ctor_name);
    }
}

void *bx_checkopen(lua_State *L, int i, const char *mt, const char *what)
{
    int *closed = luaL_checkudata(L, i, mt);
    if (*closed)
        luaL_argerror(L, i, lua_pushfstring(L, "%s is closed", what));
    return closed;
}

int bx_close(lua_State *L, const char *mt, void (*release)(lua_State *L, void *obj))
{
    int *closed = luaL_checkudata(L, 1, mt);
    if (*closed)
        return 0;
    *closed = 1;
    release(L, closed);
    return 0;
}

int bx_push_summary(lua_State *L, const char *name, lua_Integer count, const char *what,
                    const char *state)
{
    lua_pushfstring(L, "%s (%d %s%s%s)", name, (int)count, what, state ? ", " : "",
                    state ? state : "");
    return 1;
}

double bx_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

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
    lua_pushnumber(L, (lua_Number)(bx_clock_ms() / 1e3));
    return 1;
}

static void set_string(lua_State *L, const char *key, const char *v)
{
    if (v == NULL)
        return;
    lua_pushstring(L, v);
    lua_setfield(L, -2, key);
}

/* The URL to send, rebuilt from the parts: no user-info, no fragment, the
 * port only when it is not the scheme's. */
static void push_url(lua_State *L, const bx_url *u)
{
    long dflt = strcmp(u->scheme, "https") == 0 ? 443 : 80;
    lua_pushfstring(L, "%s://%s", u->scheme, u->host);
    if (u->port != dflt)
        lua_pushfstring(L, ":%d", (int)u->port);
    else
        lua_pushliteral(L, "");
    lua_pushstring(L, u->path);
    lua_pushstring(L, u->query ? "?" : "");
    lua_pushstring(L, u->query ? u->query : "");
    lua_concat(L, 5);
}

/* core.parse_url(s [, base]) -> {scheme, host, port, path, query?, fragment?,
 * user?, url}, or nil, message: libcurl's parse of an http(s) URL (a
 * reference resolved against base when given); url is the one to send. user
 * is true when the URL carries user-info; its value is never copied out. */
static int l_parse_url(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    const char *base = luaL_optstring(L, 2, NULL);
    const char *why;
    bx_url u;
    if (bx_url_parse(&u, s, n, base, &why) != 0)
        return bx_push_fail(L, why);
    lua_createtable(L, 0, 7);
    set_string(L, "scheme", u.scheme);
    set_string(L, "host", u.host);
    lua_pushinteger(L, (lua_Integer)u.port);
    lua_setfield(L, -2, "port");
    set_string(L, "path", u.path);
    set_string(L, "query", u.query);
    set_string(L, "fragment", u.fragment);
    if (u.has_user) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "user");
    }
    push_url(L, &u);
    lua_setfield(L, -2, "url");
    bx_url_free(&u);
    return 1;
}

/* core.is_loopback(host) -> boolean, for a host as parse_url gives it */
static int l_is_loopback(lua_State *L)
{
    lua_pushboolean(L, bx_url_is_loopback(luaL_checkstring(L, 1)));
    return 1;
}

/* core.retry_after(value, now) -> seconds to wait (an integer, at most a
 * year), or nil when value is neither delta-seconds nor an HTTP-date */
static int l_retry_after(lua_State *L)
{
    size_t n;
    const char *v = luaL_checklstring(L, 1, &n);
    time_t now = (time_t)luaL_checkinteger(L, 2);
    long seconds;
    if (bx_retry_after(v, n, now, &seconds) != 0)
        lua_pushnil(L);
    else
        lua_pushinteger(L, (lua_Integer)seconds);
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

/* Pushes nil, "WHAT PATH: strerror(errno)"; returns 2 (the nil, message
 * failure of the file-system functions here and in terminal.c). */
int bx_push_fail(lua_State *L, const char *message)
{
    lua_pushnil(L);
    lua_pushstring(L, message);
    return 2;
}

int bx_push_errno(lua_State *L, const char *what, const char *path)
{
    int e = errno;
    return bx_push_fail(L, lua_pushfstring(L, "%s %s: %s", what, path, strerror(e)));
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
        return bx_push_errno(L, "cannot list", path);
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
        return bx_push_errno(L, "cannot stat", path);
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
        return bx_push_errno(L, "cannot resolve", path);
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

#define BX_LOCK_MT "batchexport.lock"

typedef struct bx_lock {
    int closed; /* first: bx_checkopen, bx_close */
    int fd;
} bx_lock;

static void lock_release(lua_State *L, void *obj)
{
    bx_lock *lock = obj;
    (void)L;
    close(lock->fd);
    lock->fd = -1;
}

/* lock:close(), __gc, __close: lets the lock go. Idempotent. */
static int l_lock_close(lua_State *L)
{
    return bx_close(L, BX_LOCK_MT, lock_release);
}

/* core.lock(path) -> lock | nil, message, busy. One holder at a time; busy
 * is true when another holds it (the caller says so in its own words). The
 * lock lasts until close, __close, __gc or the process's end. */
static int l_lock(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    bx_lock *lock = bx_newuserdata(L, sizeof *lock);
    lock->fd = -1;
    lock->closed = 1; /* until it holds the lock */
    luaL_setmetatable(L, BX_LOCK_MT);
    lock->fd = bx_fs_lock_file(path);
    if (lock->fd < 0) {
        int busy = errno == EWOULDBLOCK || errno == EAGAIN;
        bx_push_errno(L, busy ? "another process holds the lock" : "cannot lock", path);
        lua_pushboolean(L, busy);
        return 3;
    }
    lock->closed = 0;
    return 1;
}

static void open_lock(lua_State *L)
{
    static const luaL_Reg methods[] = {{NULL, NULL}};
    bx_newtype(L, BX_LOCK_MT, l_lock_close, NULL, methods, "lock", l_lock);
}

int luaopen_batchexport_core(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"escape", l_escape},
        {"now", l_now},
        {"parse_url", l_parse_url},
        {"is_loopback", l_is_loopback},
        {"retry_after", l_retry_after},
        {"mkdir", l_mkdir},
        {"sync_dir", l_sync_dir},
        {"list_dir", l_list_dir},
        {"file_mode", l_file_mode},
        {"realpath", l_realpath},
        {"new_file_mode", l_new_file_mode},
        {NULL, NULL},
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
    bx_open_terminal(L);
    bx_open_digest(L);
    open_lock(L);
    lua_pushliteral(L, BX_CORE_VERSION);
    lua_setfield(L, -2, "version");
    lua_pushstring(L, info->version);
    lua_setfield(L, -2, "curl_version");
    lua_pushstring(L, info->ssl_version ? info->ssl_version : "none");
    lua_setfield(L, -2, "ssl_version");
    return 1;
}
