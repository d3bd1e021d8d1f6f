/*
 * terminal.c: what the command asks of the system that neither Lua nor
 * LuaJIT can do alone (lua/batchexport/cli/term.lua is its only user):
 * whether a descriptor is a terminal, a terminal's width, turning echo off
 * while a secret is typed, and a folder or file only its owner can read.
 * Before these, the command ran `test -t`, `stty`, `umask; mkdir` and
 * `chmod` through the shell.
 */
#include "terminal.h"

#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

/* A descriptor of the three standard ones: the only ones Lua code has. */
static int check_fd(lua_State *L, int i)
{
    lua_Integer fd = luaL_checkinteger(L, i);
    luaL_argcheck(L, fd >= 0 && fd <= 2, i, "0, 1 or 2 expected");
    return (int)fd;
}

/* core.isatty(fd) -> whether fd (0, 1 or 2) is a terminal */
static int l_isatty(lua_State *L)
{
    lua_pushboolean(L, isatty(check_fd(L, 1)));
    return 1;
}

/* core.terminal_columns(fd) -> the width of the terminal on fd, or nil */
static int l_terminal_columns(lua_State *L)
{
    struct winsize ws;
    if (ioctl(check_fd(L, 1), TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0)
        return 0;
    lua_pushinteger(L, (lua_Integer)ws.ws_col);
    return 1;
}

/* core.set_echo(fd, on) -> whether the echo of typed characters changed
 * (false when fd is no terminal) */
static int l_set_echo(lua_State *L)
{
    int fd = check_fd(L, 1);
    int on = lua_toboolean(L, 2);
    struct termios t;
    if (!isatty(fd) || tcgetattr(fd, &t) != 0) {
        lua_pushboolean(L, 0);
        return 1;
    }
    if (on)
        t.c_lflag |= ECHO;
    else
        t.c_lflag &= ~(tcflag_t)ECHO;
    lua_pushboolean(L, tcsetattr(fd, TCSANOW, &t) == 0);
    return 1;
}

/* core.private_dir(path) -> true, or nil, message: creates path and its
 * parents; a folder it creates is its owner's alone (0700). */
static int l_private_dir(lua_State *L)
{
    size_t n, i;
    const char *path = luaL_checklstring(L, 1, &n);
    struct stat st;
    for (i = 1; i <= n; i++) {
        if (i < n && path[i] != '/')
            continue;
        lua_pushlstring(L, path, i);
        if (mkdir(lua_tostring(L, -1), 0700) != 0 && errno != EEXIST)
            return bx_push_errno(L, "cannot create the folder", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return bx_push_errno(L, "cannot create the folder", path);
    lua_pushboolean(L, 1);
    return 1;
}

int bx_open_terminal(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"isatty", l_isatty},
        {"terminal_columns", l_terminal_columns},
        {"set_echo", l_set_echo},
        {"private_dir", l_private_dir},
        {NULL, NULL},
    };
    luaL_setfuncs(L, funcs, 0);
    return 0;
}
