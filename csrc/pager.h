/*
 * pager.h: the pager userdata (pager.c), the state of a walk through GET
 * /exports/list. Nothing outside it needs its state.
 */
#ifndef BX_PAGER_H
#define BX_PAGER_H

#include "compat.h"

int bx_open_pager(lua_State *L);

#endif
