/*
 * digest.c: what a sync manifest says of a file, taken from its bytes as they
 * go to disk, so the file is never read back: the SHA-256 and size of the
 * bytes as served (gzip stays gzip), and the number of JSON records in them,
 * counted by jsonsplit.c after inflating gzip on the fly (recognised by its
 * magic bytes). Memory: the inflate window, one output chunk and one record
 * straddling chunks (bounded by max_record).
 *
 *   core.digest([max_record]) -> digest
 *   d:update(bytes) -> true | nil, message (not JSON, bad gzip, record too large)
 *   d:finish() -> sha256 hex, size, records | nil, message (truncated)
 *   d:close()
 */
#include "digest.h"

#include "core.h"
#include "csvparse.h"
#include "jsonsplit.h"
#include "sha256.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define BX_DIGEST_MT "batchexport.digest"
#define OUT_CHUNK (64 * 1024)

typedef struct {
    int closed; /* first: bx_checkopen, bx_closing */
    bx_sha256 sha;
    lua_Integer size, records;
    jsonsplit *json; /* one of json and csv */
    csvparse *csv;
    z_stream z;
    int z_ready;
    int sniffed;         /* whether the first two bytes decided on gzip */
    unsigned char first; /* a lone first byte, kept until the second comes */
    int have_first;
    unsigned char *out;
    const char *broken; /* sticky error */
} bx_digest;

static bx_digest *check_digest(lua_State *L)
{
    return bx_checkopen(L, 1, BX_DIGEST_MT, "digest");
}

static const char *split_error(int rc)
{
    switch (rc) {
    case JSONSPLIT_ERR_TOO_LARGE:
        return "a record is larger than max_record";
    case JSONSPLIT_ERR_TRUNCATED:
        return "the file ends inside a record";
    case JSONSPLIT_ERR_NOMEM:
        return "out of memory";
    default:
        return "the file is not JSON records";
    }
}

static const char *count_rows(bx_digest *d, const char *p, size_t n)
{
    while (n > 0) {
        size_t used = 0;
        int rc = csvparse_next(d->csv, p, n, &used);
        if (rc < 0)
            return csvparse_strerror(rc);
        p += used;
        n -= used;
        if (rc == CSVPARSE_NEED_MORE)
            break;
    }
    return NULL;
}

/* Counts the records (JSON) or rows (CSV) in plain bytes. */
static const char *count(bx_digest *d, const char *p, size_t n)
{
    if (d->csv)
        return count_rows(d, p, n);
    while (n > 0) {
        size_t used = 0, len;
        const char *rec;
        int rc = jsonsplit_next(d->json, p, n, &used, &rec, &len);
        if (rc < 0)
            return split_error(rc);
        if (rc == JSONSPLIT_RECORD)
            d->records++;
        p += used;
        n -= used;
        if (rc == JSONSPLIT_NEED_MORE)
            break;
    }
    return NULL;
}

/* Inflates gzip bytes (members one after another, as gzip allows) and counts. */
static const char *inflate_count(bx_digest *d, const unsigned char *p, size_t n)
{
    d->z.next_in = (unsigned char *)p;
    d->z.avail_in = (uInt)n;
    while (d->z.avail_in > 0) {
        const char *why;
        int rc;
        d->z.next_out = d->out;
        d->z.avail_out = OUT_CHUNK;
        rc = inflate(&d->z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
            return "the file is not valid gzip";
        why = count(d, (const char *)d->out, OUT_CHUNK - d->z.avail_out);
        if (why)
            return why;
        if (rc == Z_STREAM_END && inflateReset(&d->z) != Z_OK)
            return "the file is not valid gzip";
        if (rc == Z_BUF_ERROR && d->z.avail_out == OUT_CHUNK)
            break;
    }
    return NULL;
}

static const char *feed(bx_digest *d, const unsigned char *p, size_t n)
{
    if (!d->sniffed) {
        if (d->have_first + n < 2) {
            if (n == 1) {
                d->first = p[0];
                d->have_first = 1;
            }
            return NULL;
        }
        d->sniffed = 1;
        if ((d->have_first ? d->first : p[0]) == 0x1f && (d->have_first ? p[0] : p[1]) == 0x8b) {
            memset(&d->z, 0, sizeof d->z);
            if (inflateInit2(&d->z, 16 + MAX_WBITS) != Z_OK)
                return "out of memory";
            d->z_ready = 1;
        }
        if (d->have_first) {
            const char *why = feed(d, &d->first, 1);
            if (why)
                return why;
        }
    }
    if (d->z_ready)
        return inflate_count(d, p, n);
    return count(d, (const char *)p, n);
}

static int push_failure(lua_State *L, bx_digest *d, const char *why)
{
    d->broken = why;
    return bx_push_fail(L, why);
}

/* d:update(bytes) */
static int l_update(lua_State *L)
{
    bx_digest *d = check_digest(L);
    size_t n;
    const char *p = luaL_checklstring(L, 2, &n);
    const char *why;
    if (d->broken)
        return push_failure(L, d, d->broken);
    bx_sha256_update(&d->sha, p, n);
    d->size += (lua_Integer)n;
    why = feed(d, (const unsigned char *)p, n);
    if (why)
        return push_failure(L, d, why);
    lua_pushboolean(L, 1);
    return 1;
}

/* d:finish() */
static int l_finish(lua_State *L)
{
    bx_digest *d = check_digest(L);
    unsigned char sum[BX_SHA256_LEN];
    char hex[2 * BX_SHA256_LEN + 1];
    int rc;
    if (d->broken)
        return push_failure(L, d, d->broken);
    if (d->have_first && !d->sniffed) {
        const char *why = count(d, (const char *)&d->first, 1);
        if (why)
            return push_failure(L, d, why);
    }
    if (d->csv) {
        while ((rc = csvparse_finish(d->csv)) == CSVPARSE_ROW)
            ;
        if (rc != CSVPARSE_END)
            return push_failure(L, d, csvparse_strerror(rc));
        /* The header is not a record. */
        d->records = csvparse_rows(d->csv) > 0 ? (lua_Integer)csvparse_rows(d->csv) - 1 : 0;
    } else if ((rc = jsonsplit_finish(d->json)) != JSONSPLIT_END) {
        return push_failure(L, d, split_error(rc));
    }
    bx_sha256_final(&d->sha, sum);
    bx_sha256_hex(sum, hex);
    lua_pushstring(L, hex);
    lua_pushinteger(L, d->size);
    lua_pushinteger(L, d->records);
    return 3;
}

static int l_close(lua_State *L)
{
    bx_digest *d = bx_closing(L, BX_DIGEST_MT);
    if (d == NULL)
        return 0;
    jsonsplit_free(d->json);
    csvparse_free(d->csv);
    d->json = NULL;
    d->csv = NULL;
    if (d->z_ready)
        inflateEnd(&d->z);
    d->z_ready = 0;
    free(d->out);
    d->out = NULL;
    return 0;
}

/* core.digest([max_record [, format]]) */
static int l_new(lua_State *L)
{
    static const char *const formats[] = {"json", "csv", NULL};
    lua_Integer max = luaL_optinteger(L, 1, (lua_Integer)JSONSPLIT_DEFAULT_MAX_RECORD);
    int csv = luaL_checkoption(L, 2, "json", formats);
    bx_digest *d;
    luaL_argcheck(L, max > 0, 1, "max_record must be positive");
    d = lua_newuserdata(L, sizeof *d);
    memset(d, 0, sizeof *d);
    luaL_setmetatable(L, BX_DIGEST_MT);
    d->closed = 0; /* close frees field by field, whatever was taken */
    bx_sha256_init(&d->sha);
    d->out = malloc(OUT_CHUNK);
    if (csv)
        d->csv = csvparse_new(';', (size_t)max);
    else
        d->json = jsonsplit_new((size_t)max);
    if (d->out == NULL || (d->json == NULL && d->csv == NULL))
        return luaL_error(L, "out of memory");
    return 1;
}

int bx_open_digest(lua_State *L)
{
    static const luaL_Reg methods[] = {{"update", l_update}, {"finish", l_finish}, {NULL, NULL}};
    bx_newtype(L, BX_DIGEST_MT, l_close, NULL, methods, "digest", l_new);
    return 0;
}
