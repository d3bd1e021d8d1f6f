/*
 * tempfile.h: the tempfile userdata (tempfile.c), the temporary file of an
 * atomic save.
 */
#ifndef BX_TEMPFILE_H
#define BX_TEMPFILE_H

#include "compat.h"

/* A descriptor the file sink writes to: a duplicate of the tempfile's at
 * index i (truncated first unless append); raises on anything else. */
int bx_tempfile_sink_fd(lua_State *L, int i, int append);
int bx_open_tempfile(lua_State *L);

#endif
