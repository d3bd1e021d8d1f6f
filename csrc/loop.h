/*
 * loop.h: the event loop (loop.c), a curl multi handle every transfer runs on.
 */
#ifndef BX_LOOP_H
#define BX_LOOP_H

#include <curl/curl.h>

#include "compat.h"
#include "transfer.h"

typedef struct bx_loop bx_loop;

bx_loop *bx_checkloop(lua_State *L, int i);
/* Adds t, whose handle is easy, to the loop; -1 when it cannot. */
int bx_loop_attach(bx_loop *loop, bx_transfer *t, CURL *easy);
void bx_loop_detach(bx_loop *loop, bx_transfer *t, CURL *easy);

int bx_open_loop(lua_State *L);

#endif
