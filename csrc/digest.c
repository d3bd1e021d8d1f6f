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
#include "splitter.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define BX_DIGEST_MT "batchexport.digest"
#define OUT_CHUNK (64 * 1024)

typedef struct {
    int closed; /* first: bx_checkopen, bx_close */
    bx_sha256 sha;
    lua_Integer size, records;
    bx_splitter split;   /* JSON or CSV; its inflater and output */
    int sniffed;         /* whether the first two bytes decided on gzip */
    unsigned char first; /* a lone first byte, kept until the second comes */
    int have_first;
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
        int rc = csvparse_next(d->split.csv, p, n, &used);
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
    if (d->split.csv)
        return count_rows(d, p, n);
    while (n > 0) {
        size_t used = 0, len;
        const char *rec;
        int rc = jsonsplit_next(d->split.json, p, n, &used, &rec, &len);
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
    d->split.z.next_in = (unsigned char *)p;
    d->split.z.avail_in = (uInt)n;
    while (d->split.z.avail_in > 0) {
        const char *why;
        int rc;
        d->split.z.next_out = d->split.out;
        d->split.z.avail_out = OUT_CHUNK;
        rc = inflate(&d->split.z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
            return "the file is not valid gzip";
        why = count(d, (const char *)d->split.out, OUT_CHUNK - d->split.z.avail_out);
        if (why)
            return why;
        if (rc == Z_STREAM_END && inflateReset(&d->split.z) != Z_OK)
            return "the file is not valid gzip";
        if (rc == Z_BUF_ERROR && d->split.z.avail_out == OUT_CHUNK)
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
            memset(&d->split.z, 0, sizeof d->split.z);
            if (inflateInit2(&d->split.z, 16 + MAX_WBITS) != Z_OK)
                return "out of memory";
            d->split.z_ready = 1;
        }
        if (d->have_first) {
            const char *why = feed(d, &d->first, 1);
            if (why)
                return why;
        }
    }
    if (d->split.z_ready)
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
    if (d->split.csv) {
        while ((rc = csvparse_finish(d->split.csv)) == CSVPARSE_ROW)
            ;
        if (rc != CSVPARSE_END)
            return push_failure(L, d, csvparse_strerror(rc));
        /* The header is not a record. */
        d->records =
            csvparse_rows(d->split.csv) > 0 ? (lua_Integer)csvparse_rows(d->split.csv) - 1 : 0;
    } else if ((rc = jsonsplit_finish(d->split.json)) != JSONSPLIT_END) {
        return push_failure(L, d, split_error(rc));
    }
    bx_sha256_final(&d->sha, sum);
    bx_sha256_hex(sum, hex);
    lua_pushstring(L, hex);
    lua_pushinteger(L, d->size);
    lua_pushinteger(L, d->records);
    return 3;
}

static void digest_release(lua_State *L, void *obj)
{
    bx_digest *d = obj;
    (void)L;
    bx_splitter_free(&d->split);
}

static int l_close(lua_State *L)
{
    return bx_close(L, BX_DIGEST_MT, digest_release);
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
    if (bx_splitter_init(&d->split, csv ? BX_SPLIT_CSV : BX_SPLIT_JSON, ';', (size_t)max,
                         OUT_CHUNK) != 0)
        return luaL_error(L, "out of memory");
    return 1;
}

int bx_open_digest(lua_State *L)
{
    static const luaL_Reg methods[] = {{"update", l_update}, {"finish", l_finish}, {NULL, NULL}};
    bx_newtype(L, BX_DIGEST_MT, l_close, NULL, methods, "digest", l_new);
    return 0;
}
