/*
 * terminal.h: terminal.c: isatty, terminal width, echo, private folders,
 * for the command.
 */
#ifndef BX_TERMINAL_H
#define BX_TERMINAL_H

#include "compat.h"

int bx_open_terminal(lua_State *L);

#endif
