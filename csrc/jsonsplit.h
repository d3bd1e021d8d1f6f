/*
 * jsonsplit: a pull-style boundary finder for streamed JSON exports.
 *
 * It splits a byte stream that arrives in arbitrary chunks into whole
 * top-level records without validating them (lua-cjson does that later).
 * Three layouts are accepted, chosen by the first non-whitespace byte
 * (after an optional UTF-8 BOM):
 *   '{'  object stream: NDJSON or concatenated objects, any JSON
 *        whitespace between them; anything else between records is
 *        JSONSPLIT_ERR_SYNTAX.
 *   '['  one top-level array: each element (any JSON value) is a record;
 *        a missing element ("[,", ",,", ",]") is a syntax error, and only
 *        whitespace may follow the closing ']'.
 *   else JSONSPLIT_ERR_SYNTAX.
 *
 * Records that lie wholly inside the caller's chunk are returned as
 * pointers into that chunk; only a record straddling chunks is copied into
 * the internal buffer, which grows geometrically up to max_record.
 *
 * The length of a record is its bytes from the first to the last byte of
 * the value (surrounding whitespace and commas excluded).  A record longer
 * than max_record fails with JSONSPLIT_ERR_TOO_LARGE as soon as its
 * (max_record + 1)-th byte is seen, whatever the chunking, so a one-shot
 * parse and a chunked parse always report the same outcome.
 *
 * Errors are sticky: once a call returned an error, every later call to
 * jsonsplit_next() or jsonsplit_finish() returns it again.
 *
 * Depends only on the C standard library: no Lua, no curl.
 */
#ifndef BATCHEXPORT_JSONSPLIT_H
#define BATCHEXPORT_JSONSPLIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct jsonsplit jsonsplit;

enum {
    JSONSPLIT_RECORD = 1,
    JSONSPLIT_NEED_MORE = 0,
    JSONSPLIT_END = 2,
    JSONSPLIT_ERR_TOO_LARGE = -1,
    JSONSPLIT_ERR_SYNTAX = -2,
    JSONSPLIT_ERR_TRUNCATED = -3,
    JSONSPLIT_ERR_NOMEM = -4
};

/* Used by jsonsplit_new(0). */
#define JSONSPLIT_DEFAULT_MAX_RECORD ((size_t)64 * 1024 * 1024)

/* max_record: cap on one record's bytes; 0 means the default (64 MiB).
 * Returns NULL when out of memory. */
jsonsplit *jsonsplit_new(size_t max_record);
void jsonsplit_free(jsonsplit *s);

/* Scans data[0..len).  On JSONSPLIT_RECORD, *rec and *rec_len hold one whole
 * top-level record, valid until the next call; *consumed says how many
 * bytes of data were used and the caller calls again with data+consumed.
 * On JSONSPLIT_NEED_MORE all len bytes were consumed (a partial record may
 * be buffered inside).  On an error *consumed is the number of bytes
 * scanned before the offending byte.  rec and rec_len may not be NULL. */
int jsonsplit_next(jsonsplit *s, const char *data, size_t len,
                   size_t *consumed, const char **rec, size_t *rec_len);

/* At end of input: JSONSPLIT_END if the stream ended cleanly (also for an
 * empty or whitespace-only stream, a lone BOM, or "[]"),
 * JSONSPLIT_ERR_TRUNCATED if a record or the array was left open (or only
 * part of a BOM arrived).  Never returns a record: every record ends at a
 * byte that has already been seen. */
int jsonsplit_finish(jsonsplit *s);

/* Whether the record just returned holds a number or a null outside its
 * strings: a decoder that must treat those specially can skip the others. */
int jsonsplit_scalars(const jsonsplit *s);

/* Records returned so far; the failing record of an error is this + 1. */
uint64_t jsonsplit_records(const jsonsplit *s);
/* Stream bytes consumed so far; after an error, the offset of the byte
 * at which the error was detected. */
uint64_t jsonsplit_offset(const jsonsplit *s);
/* The cap in effect (after replacing 0 by the default). */
size_t jsonsplit_max_record(const jsonsplit *s);

/* A static English message for any code above; never NULL. */
const char *jsonsplit_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif
