/*
 * splitter.h: what turns a byte stream into records, for the reader and the
 * digest: a gzip inflater with its output buffer, and a JSON splitter or a
 * CSV parser. Free of Lua and curl.
 */
#ifndef BX_SPLITTER_H
#define BX_SPLITTER_H

#include <stddef.h>
#include <zlib.h>

#include "csvparse.h"
#include "jsonsplit.h"

enum { BX_SPLIT_JSON, BX_SPLIT_CSV, BX_SPLIT_NONE };

typedef struct bx_splitter {
    jsonsplit *json; /* one of json and csv, or neither (plain bytes) */
    csvparse *csv;
    z_stream z;
    int z_ready;        /* z is initialised */
    unsigned char *out; /* inflated bytes, out_size of them */
} bx_splitter;

/* Takes what format (BX_SPLIT_*) needs, separator for CSV, records of at
 * most max_record bytes. -1 when memory is short: bx_splitter_free frees
 * what was taken. */
int bx_splitter_init(bx_splitter *s, int format, char separator, size_t max_record,
                     size_t out_size);
/* Idempotent. */
void bx_splitter_free(bx_splitter *s);

#endif
