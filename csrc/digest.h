/*
 * digest.h: the digest userdata (digest.c), a file's sha256, size and
 * record count, taken from its bytes as they go to disk.
 */
#ifndef BX_DIGEST_H
#define BX_DIGEST_H

#include "compat.h"

int bx_open_digest(lua_State *L);

#endif
