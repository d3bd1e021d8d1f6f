/*
 * reader.h: the reader userdata (reader.c), records from a streaming transfer.
 */
#ifndef BX_READER_H
#define BX_READER_H

#include "compat.h"

int bx_open_reader(lua_State *L);

#endif
