/*
 * jsonvalue.h: building Lua values from JSON (jsonvalue.c), for the reader
 * and core.json_decode; core.fields projections.
 */
#ifndef BX_JSONVALUE_H
#define BX_JSONVALUE_H

#include <stddef.h>

#include "compat.h"
#include "tape.h"

#define BX_JSON_KEYS 512   /* key strings remembered by position */
#define BX_JSON_TABLES 128 /* table sizes remembered by position */

typedef struct bx_fields bx_fields; /* a projection: core.fields(list) */

typedef struct bx_jsonbuild {
    char *scratch; /* where escaped strings are decoded */
    size_t scratch_cap;
    int own_scratch;               /* malloc'ed and grown here (else fixed) */
    int keys_ref;                  /* registry: the key strings below, kept alive */
    const char *key[BX_JSON_KEYS]; /* the plain (unescaped) key last at each position */
    size_t key_len[BX_JSON_KEYS];
    int size[BX_JSON_TABLES];
    int null_record; /* the value just built was a JSON null */
    int taped;       /* ... was read through the tape's entry */
} bx_jsonbuild;

void bx_jsonbuild_init(bx_jsonbuild *b);
void bx_jsonbuild_keep_layout(lua_State *L, bx_jsonbuild *b);
void bx_jsonbuild_free(lua_State *L, bx_jsonbuild *b);
/* Builds the value at p: the record (f NULL), its listed fields in a table
 * (f, !values) or as f's count of values (values). Returns the count of
 * values pushed; 0 when !whole and the value goes on past len; -1 on an
 * error, with *err a JSONDECODE_ERR_* code. *used: the value's length, or
 * where it stopped. Leaves the stack as it was unless it succeeds. rec,
 * when not NULL, is the tape's entry for the record at p, made for f's
 * keys (tape.h, bx_fields_tape_keys): f then reads the values from their
 * places. */
int bx_json_push(lua_State *L, bx_jsonbuild *b, const bx_fields *f, int values, const char *p,
                 size_t len, int whole, const bx_tape_record *rec, size_t *used, int *err);
/* The record at p, whole, through rec, the index's entry for it made for
 * f's keys (f at fields_at on the stack, or an upvalue): what bx_json_push
 * pushes for it, and its count. Plain strings are pushed straight from
 * their places. Returns 0, the stack as it was, when the record is not
 * good: bx_json_push then reads it again without the entry, for the
 * error's place. */
int bx_json_push_indexed(lua_State *L, bx_jsonbuild *b, const bx_fields *f, int fields_at,
                         int values, const char *p, const bx_tape_record *rec);
const bx_fields *bx_checkfields(lua_State *L, int i);
/* The top-level keys of f's fields, for a stream's index to look for
 * (tape.h): 0 when there are more than it looks for. */
int bx_fields_tape_keys(const bx_fields *f, bx_tape_keys *keys);
int bx_open_jsonvalue(lua_State *L);

#endif
