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
#ifndef BX_JSONSPLIT_H
#define BX_JSONSPLIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct jsonsplit jsonsplit;

enum {
    JSONSPLIT_RECORD = 1,
    JSONSPLIT_NEED_MORE = 0,
    JSONSPLIT_END = 2,
    JSONSPLIT_ERR_TOO_LARGE = -1,
    JSONSPLIT_ERR_SYNTAX = -2,
    JSONSPLIT_ERR_TRUNCATED = -3,
    JSONSPLIT_ERR_NOMEM = -4,
    JSONSPLIT_ERR_DECODE = -5
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
int jsonsplit_next(jsonsplit *s, const char *data, size_t len, size_t *consumed, const char **rec,
                   size_t *rec_len);

/* A decoder for jsonsplit_decode(): it reads one value starting at
 * value[0] and stops at its last byte. With whole = 0 the value may go on
 * past len (the chunk ended): the decoder returns 0 if it needs those bytes.
 * With whole = 1, [value, value + len) is the whole record. It returns 1
 * with *used = the value's length, 0 (only when !whole), or a negative code
 * of its own with *used = the offset of the offending byte. */
typedef int (*jsonsplit_decoder)(void *ctx, const char *value, size_t len, int whole, size_t *used);

/* Like jsonsplit_next(), but hands each record to decode() instead of
 * returning its bytes: a record wholly inside data is decoded in place, in
 * one pass; one that straddles chunks is gathered first (as by
 * jsonsplit_next()) and decoded once whole. Returns JSONSPLIT_RECORD when
 * decode() accepted a record, JSONSPLIT_NEED_MORE, or an error:
 * JSONSPLIT_ERR_DECODE when decode() refused a record (the decoder's ctx
 * knows why; jsonsplit_offset() is the offending byte). */
int jsonsplit_decode(jsonsplit *s, const char *data, size_t len, size_t *consumed,
                     jsonsplit_decoder decode, void *ctx);

/* A lane for a caller that knows where the next record ends without this
 * scan (an index it trusts, made by a check as strict as its decoder's):
 * in an object stream between records, the next record's '{' in
 * data[0..len), past whitespace only; NULL in any other state (before the
 * first record, in an array, inside a record, after an error) or when data
 * holds no '{' after its whitespace. */
const char *jsonsplit_next_object(const jsonsplit *s, const char *data, size_t len);

/* After jsonsplit_next_object() gave data + skipped: the caller decoded
 * the record there, its rec_len bytes (at most jsonsplit_max_record()).
 * Counts it as jsonsplit_decode() would have: the next call starts at
 * data + skipped + rec_len. */
void jsonsplit_took(jsonsplit *s, size_t skipped, size_t rec_len);

/* At end of input: JSONSPLIT_END if the stream ended cleanly (also for an
 * empty or whitespace-only stream, a lone BOM, or "[]"),
 * JSONSPLIT_ERR_TRUNCATED if a record or the array was left open (or only
 * part of a BOM arrived).  Never returns a record: every record ends at a
 * byte that has already been seen. */
int jsonsplit_finish(jsonsplit *s);

/* Records returned so far; the failing record of an error is this + 1. */
uint64_t jsonsplit_records(const jsonsplit *s);
/* Stream bytes consumed so far; after an error, the offset of the byte
 * at which the error was detected. */
uint64_t jsonsplit_offset(const jsonsplit *s);
/* The cap in effect (after replacing 0 by the default). */
size_t jsonsplit_max_record(const jsonsplit *s);

/* A static English message for any code above; never NULL. */
const char *jsonsplit_strerror(int code);

#endif
