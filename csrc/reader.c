/*
 * reader.c: turns the bytes of a streaming transfer into records. It inflates
 * gzip on the fly (recognised by its magic bytes, or when told), and splits
 * JSON records (jsonsplit.c) or CSV rows (csvparse.c) without ever holding
 * more than the transfer's bounded buffer, the inflate window and one record.
 * The source transfer can be replaced mid-file (a resumed Range request): the
 * inflater and parser states carry on where the last one stopped.
 *
 * JSON records are decoded in one pass straight from the buffered bytes
 * (jsonsplit_decode hands each record to jsonvalue.c's builder); only a
 * record cut by a chunk boundary is gathered first.
 *
 * reader:next() never waits: it returns a record, false when it needs bytes
 * that have not arrived yet (the caller waits on the loop and calls again),
 * or nil at the end or on an error (nil, kind, message).
 */
#include "reader.h"

#include "core.h"
#include "csvparse.h"
#include "jsondecode.h"
#include "jsonsplit.h"
#include "jsonvalue.h"
#include "splitter.h"
#include "transfer.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define BX_READER_MT "batchexport.reader"
#define INFLATE_CHUNK (256 * 1024)
/* Bytes read from the source's current run before they are handed back:
 * each hand-back takes the stream's lock (its pump may be writing), so it
 * is done per run of bytes, not per record, but often enough that the pump
 * can refill the ring while the rest of the run is decoded. */
#define GIVE_BACK (64 * 1024)

/* As splitter.h numbers them. */
enum { FORMAT_JSON = BX_SPLIT_JSON, FORMAT_CSV = BX_SPLIT_CSV, FORMAT_RAW = BX_SPLIT_NONE };
enum { COMPRESSION_AUTO, COMPRESSION_GZIP, COMPRESSION_NONE };
enum { MORE_DATA = 1, NO_DATA_YET = 0, SOURCE_OVER = -1, SOURCE_FAILED = -2, INFLATE_FAILED = -3 };

typedef struct bx_reader {
    int closed; /* first: bx_checkopen, bx_close */
    int format;
    int compression;         /* AUTO until the first bytes decide */
    bx_splitter split;       /* the parser, the inflater and its bytes ... */
    size_t out_len, out_pos; /* ... and how far the parser got in them */
    bx_transfer *src;        /* kept alive in the user value's "source" */
    const char *run;         /* the source's bytes last peeked ... */
    size_t run_len, taken;   /* ... and how many of them were read, not handed back yet */
    size_t shown;            /* all the source showed at that peek, less what was handed back */
    bx_jsonbuild build;      /* JSON: builds records, remembers their layout */
    int decode_error;        /* JSONDECODE_ERR_* behind JSONSPLIT_ERR_DECODE */
    lua_Integer consumed;    /* bytes taken from sources: where a resume starts */
    lua_Integer records;
    lua_Integer indexed;    /* of them, read through the source's index */
    int indexing;           /* the source's pump was asked to index its records */
    const bx_fields *keyed; /* ... for this projection's keys (NULL: none) */
    int keyed_ref;          /* the registry's hold on it: no other gets its address */
    int ended;
    int broken; /* a decode error: every later call repeats it */
    char error[256];
    const char *error_kind;
} bx_reader;

static bx_reader *checkreader(lua_State *L)
{
    return bx_checkopen(L, 1, BX_READER_MT, "reader");
}

static void set_error(bx_reader *r, const char *kind, const char *msg)
{
    r->error_kind = kind;
    snprintf(r->error, sizeof r->error, "%s", msg);
}

/* Bytes of the source not read yet. */
static const char *source_bytes(bx_reader *r, size_t *len)
{
    if (r->src == NULL || bx_transfer_closed(r->src)) {
        /* A closed source's ring is gone: so is the run shown from it. */
        r->run = NULL;
        r->run_len = r->taken = r->shown = 0;
        *len = 0;
        return NULL;
    }
    /* Looked at again when nothing of the run was read yet, too: a caller
     * that needs more than it was shown (two bytes of a gzip header) takes
     * nothing and comes back once more arrived. */
    if (r->taken == 0 || r->taken == r->run_len)
        r->run = bx_transfer_peek(r->src, &r->run_len, &r->shown);
    *len = r->run_len - r->taken;
    return r->run + r->taken;
}

/* Hands what was read back to the source, so its ring has room again. */
static void give_back(bx_reader *r)
{
    bx_transfer_consume(r->src, r->taken);
    r->run += r->taken;
    r->run_len -= r->taken;
    r->shown -= r->taken;
    r->taken = 0;
}

/* The whole run is handed back once read, so that when the reader finds no
 * bytes (and waits) the source counts none as pending that were read. */
static void source_take(bx_reader *r, size_t n)
{
    r->taken += n;
    r->consumed += (lua_Integer)n;
    if (r->taken >= GIVE_BACK || r->taken == r->run_len)
        give_back(r);
}

/* When the source has nothing buffered: over, failed, or still running. */
static int source_state(bx_reader *r)
{
    if (r->src == NULL)
        return SOURCE_FAILED;
    switch (bx_transfer_outcome(r->src)) {
    case BX_TRANSFER_RUNNING:
        return NO_DATA_YET;
    case BX_TRANSFER_COMPLETE:
        return SOURCE_OVER;
    default:
        return SOURCE_FAILED;
    }
}

static int decide_compression(bx_reader *r)
{
    size_t len;
    const unsigned char *p = (const unsigned char *)source_bytes(r, &len);
    if (len < 2) {
        /* A failed answer (an error status, a reset) decides nothing: the
         * resumed transfer's first bytes will. Only a file that ended
         * shorter than the magic is plainly not gzip. */
        int state = source_state(r);
        if (state != SOURCE_OVER)
            return state;
    }
    r->compression =
        (len >= 2 && p[0] == 0x1f && p[1] == 0x8b) ? COMPRESSION_GZIP : COMPRESSION_NONE;
    return MORE_DATA;
}

/* Inflates what the source has into r->split.out; returns MORE_DATA when bytes
 * came out, else why not. */
static int inflate_more(bx_reader *r)
{
    while (1) {
        size_t len;
        const char *in = source_bytes(r, &len);
        int rc;
        if (len == 0)
            return source_state(r);
        if (!r->split.z_ready) {
            memset(&r->split.z, 0, sizeof r->split.z);
            if (inflateInit2(&r->split.z, 15 + 16) != Z_OK) {
                set_error(r, "decode", "cannot start gzip decompression");
                return INFLATE_FAILED;
            }
            r->split.z_ready = 1;
        }
        r->split.z.next_in = (Bytef *)in;
        r->split.z.avail_in = (uInt)(len > 1u << 30 ? 1u << 30 : len);
        r->split.z.next_out = r->split.out;
        r->split.z.avail_out = INFLATE_CHUNK;
        rc = inflate(&r->split.z, Z_NO_FLUSH);
        source_take(r, (size_t)(r->split.z.next_in - (Bytef *)in));
        r->out_pos = 0;
        r->out_len = INFLATE_CHUNK - r->split.z.avail_out;
        if (rc == Z_STREAM_END) {
            /* Concatenated gzip members are one file (as gzip -d sees it). */
            inflateEnd(&r->split.z);
            r->split.z_ready = 0;
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            set_error(r, "decode", r->split.z.msg ? r->split.z.msg : "corrupt gzip data");
            return INFLATE_FAILED;
        }
        if (r->out_len > 0)
            return MORE_DATA;
    }
}

/* The next run of plain (decompressed) bytes for the parser. */
static int plain_bytes(bx_reader *r, const char **p, size_t *len)
{
    int rc;
    if (r->compression == COMPRESSION_AUTO && (rc = decide_compression(r)) != MORE_DATA)
        return rc;
    if (r->compression == COMPRESSION_NONE) {
        *p = source_bytes(r, len);
        return *len > 0 ? MORE_DATA : source_state(r);
    }
    if (r->out_pos == r->out_len && (rc = inflate_more(r)) != MORE_DATA) {
        if (rc == SOURCE_OVER && r->split.z_ready) {
            set_error(r, "decode", "the gzip stream ends early (truncated file)");
            return INFLATE_FAILED;
        }
        return rc;
    }
    *p = (const char *)r->split.out + r->out_pos;
    *len = r->out_len - r->out_pos;
    return MORE_DATA;
}

static void plain_take(bx_reader *r, size_t n)
{
    if (r->compression == COMPRESSION_GZIP)
        r->out_pos += n;
    else
        source_take(r, n);
}

static int push_failure(lua_State *L, bx_reader *r, int rc)
{
    lua_pushnil(L);
    if (rc != SOURCE_FAILED)
        r->broken = 1; /* a resumed source cannot mend bad bytes */
    if (rc == SOURCE_FAILED) {
        lua_pushliteral(L, "source");
        lua_pushliteral(L, "the transfer ended before the file did");
    } else {
        lua_pushstring(L, r->error_kind ? r->error_kind : "decode");
        lua_pushstring(L, r->error);
    }
    return 3;
}

static void push_row(lua_State *L, bx_reader *r)
{
    size_t i, n = csvparse_fields(r->split.csv);
    lua_createtable(L, (int)n, 0);
    for (i = 0; i < n; i++) {
        size_t len;
        const char *f = csvparse_field(r->split.csv, i, &len);
        lua_pushlstring(L, f, len);
        lua_rawseti(L, -2, (int)i + 1);
    }
}

static int parse_error(lua_State *L, bx_reader *r, int code)
{
    char msg[200];
    if (r->format == FORMAT_JSON)
        snprintf(msg, sizeof msg, "record %llu at byte %llu: %s",
                 (unsigned long long)r->records + 1,
                 (unsigned long long)jsonsplit_offset(r->split.json),
                 code == JSONSPLIT_ERR_DECODE ? jsondecode_strerror(r->decode_error)
                                              : jsonsplit_strerror(code));
    else
        snprintf(msg, sizeof msg, "row %llu: %s",
                 (unsigned long long)csvparse_rows(r->split.csv) + 1, csvparse_strerror(code));
    set_error(r, "decode", msg);
    return push_failure(L, r, INFLATE_FAILED);
}

/* At the end of the input: the parser may hold one last row or an error. */
static int finish(lua_State *L, bx_reader *r)
{
    int rc;
    if (r->format == FORMAT_JSON) {
        rc = jsonsplit_finish(r->split.json);
        if (rc != JSONSPLIT_END)
            return parse_error(L, r, rc);
    } else {
        rc = csvparse_finish(r->split.csv);
        if (rc == CSVPARSE_ROW) {
            r->records++;
            push_row(L, r);
            return 1;
        }
        if (rc != CSVPARSE_END)
            return parse_error(L, r, rc);
    }
    r->ended = 1;
    lua_pushnil(L);
    return 1;
}

/* The next plain bytes (0, *rc MORE_DATA), or the end of the input (0, *rc
 * SOURCE_OVER); else pushes what the caller returns instead (nil once
 * ended, the failure, false while none has arrived) and returns its count. */
static int next_bytes(lua_State *L, bx_reader *r, const char **p, size_t *len, int *rc)
{
    if (r->ended) {
        lua_pushnil(L);
        return 1;
    }
    if (r->broken)
        return push_failure(L, r, INFLATE_FAILED);
    *rc = plain_bytes(r, p, len);
    if (*rc == NO_DATA_YET) {
        /* What the source showed at the reader's last look (all of it
         * of no use alone): the caller waits for more than that. Counted
         * then, not when the caller asks the source: by then the source
         * may have shown more, up to a full ring, and a wait for more
         * than a full ring would never end. */
        lua_pushboolean(L, 0);
        lua_pushinteger(L, (lua_Integer)r->shown);
        return 2;
    }
    if (*rc != MORE_DATA && *rc != SOURCE_OVER)
        return push_failure(L, r, *rc);
    return 0;
}

/* The next raw record: pushes it (1 result), false, or nil [, kind, message]. */
static int next_raw(lua_State *L, bx_reader *r)
{
    if (r->ended) {
        lua_pushnil(L);
        return 1;
    }
    if (r->format == FORMAT_RAW)
        return luaL_error(L, "a raw reader has no records: use read()");
    while (1) {
        const char *p = NULL, *rec;
        size_t len = 0, used = 0, rec_len;
        int rc, n = next_bytes(L, r, &p, &len, &rc);
        if (n > 0)
            return n;
        if (rc == SOURCE_OVER)
            return finish(L, r);
        if (r->format == FORMAT_JSON) {
            rc = jsonsplit_next(r->split.json, p, len, &used, &rec, &rec_len);
            if (rc == JSONSPLIT_RECORD)
                lua_pushlstring(L, rec, rec_len); /* before the bytes are released */
        } else {
            rc = csvparse_next(r->split.csv, p, len, &used);
            if (rc == CSVPARSE_ROW)
                push_row(L, r);
        }
        plain_take(r, used);
        if (rc == JSONSPLIT_RECORD) { /* == CSVPARSE_ROW */
            r->records++;
            return 1;
        }
        if (rc < 0)
            return parse_error(L, r, rc);
    }
}

/* reader:next() -> record text | false, shown | nil [, kind, message] */
static int l_next(lua_State *L)
{
    return next_raw(L, checkreader(L));
}

typedef struct decode_call {
    lua_State *L;
    bx_reader *r;
    const bx_fields *fields;
    int values;
    int pushed;
} decode_call;

/* The source's index entry for a record starting at p (tape.h), when p is
 * in the source's bytes (not a gathered record, not inflated ones). */
static const bx_tape_record *indexed(bx_reader *r, const char *p)
{
    if (!r->indexing || r->src == NULL || p < r->run || p >= r->run + r->run_len)
        return NULL;
    return bx_transfer_record_at(r->src, bx_transfer_taken(r->src) + (uint64_t)(p - r->run));
}

static int decode_record(void *ctx, const char *p, size_t len, int whole, size_t *used)
{
    decode_call *d = ctx;
    const bx_tape_record *rec = d->fields && d->fields == d->r->keyed ? indexed(d->r, p) : NULL;
    int n = bx_json_push(d->L, &d->r->build, d->fields, d->values, p, len, whole, rec, used,
                         &d->r->decode_error);
    d->pushed = n;
    return n > 0 ? 1 : n;
}

/* Forgets the projection the source's index was asked for. */
static void unkey(lua_State *L, bx_reader *r)
{
    luaL_unref(L, LUA_REGISTRYINDEX, r->keyed_ref);
    r->keyed_ref = LUA_NOREF;
    r->keyed = NULL;
}

/* Asks the source's pump, once a source, to index its records for the
 * keys of fields (at fields_at on the stack): worth it for plain JSON read
 * for a few fields. A record is then read through its entry only under
 * this projection: one the registry holds, so no other can take its
 * address. */
static void ask_index(lua_State *L, bx_reader *r, const bx_fields *fields, int fields_at)
{
    bx_tape_keys keys;
    r->indexing = 1;
    if (r->compression != COMPRESSION_NONE || !bx_fields_tape_keys(fields, &keys))
        return;
    bx_transfer_index_records(r->src, &keys);
    unkey(L, r);
    lua_pushvalue(L, fields_at);
    r->keyed_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    r->keyed = fields;
}

/* The lane for a record the source's index holds whole in the run at
 * hand, under the projection it was made for: the values come from their
 * places in the entry (bx_json_push_indexed), and the splitter and the
 * source are told the record was taken, past the general path's layers
 * (the source's peek, the splitter's seek, the decoder's call through it).
 * Returns what next_decoded returns, or 0 when the next record is not one
 * for the lane: the general path then reads it (an entry passed over here
 * is not looked for again: the record is decoded without it). */
static int indexed_lane(lua_State *L, bx_reader *r, const bx_fields *fields, int fields_at,
                        int values, lua_Integer base)
{
    const bx_tape_record *rec;
    const char *p, *q;
    size_t len, skipped;
    int n;
    if (r->taken >= r->run_len || r->ended || r->broken || bx_transfer_closed(r->src))
        return 0;
    p = r->run + r->taken;
    len = r->run_len - r->taken;
    q = jsonsplit_next_object(r->split.json, p, len);
    if (q == NULL || (rec = indexed(r, q)) == NULL)
        return 0;
    skipped = (size_t)(q - p);
    if (rec->len > len - skipped || rec->len > jsonsplit_max_record(r->split.json))
        return 0;
    if (values) /* the record's number goes below its values */
        lua_pushinteger(L, base + r->records + 1);
    n = bx_json_push_indexed(L, &r->build, fields, fields_at, values, q, rec);
    if (n == 0) {
        lua_pop(L, values ? 1 : 0);
        return 0;
    }
    jsonsplit_took(r->split.json, skipped, rec->len);
    source_take(r, skipped + rec->len);
    r->records++;
    r->indexed += r->build.taped;
    return values ? n + 1 : 1;
}

/* The next record decoded: pushes it (records) or its count and its
 * fields' values (values); false; or nil [, kind, message]. A record that
 * is JSON null has nothing to give: it is skipped. fields_at: where fields
 * is on the stack (or an upvalue). */
static int next_decoded(lua_State *L, bx_reader *r, const bx_fields *fields, int fields_at,
                        int values, lua_Integer base)
{
    decode_call d;
    d.L = L;
    d.r = r;
    d.fields = fields;
    d.values = values;
    if (r->format != FORMAT_JSON)
        return luaL_error(L, "reader:record() and reader:values() need a JSON reader");
    while (1) {
        const char *p = NULL;
        size_t len = 0, used = 0;
        int rc, n;
        if (fields != NULL && fields == r->keyed &&
            (n = indexed_lane(L, r, fields, fields_at, values, base)) > 0)
            return n;
        n = next_bytes(L, r, &p, &len, &rc);
        if (n > 0)
            return n;
        if (rc == SOURCE_OVER)
            return finish(L, r);
        if (fields != NULL && !r->indexing && r->src)
            ask_index(L, r, fields, fields_at);
        d.pushed = 0;
        if (values) /* the record's number goes below its values */
            lua_pushinteger(L, base + r->records + 1);
        rc = jsonsplit_decode(r->split.json, p, len, &used, decode_record, &d);
        plain_take(r, used);
        if (rc != JSONSPLIT_RECORD && values)
            lua_pop(L, 1);
        if (rc < 0)
            return parse_error(L, r, rc);
        if (rc != JSONSPLIT_RECORD)
            continue;
        r->records++;
        r->indexed += r->build.taped;
        if (r->build.null_record) {
            lua_pop(L, d.pushed + (values ? 1 : 0));
            continue;
        }
        return values ? d.pushed + 1 : 1;
    }
}

/* reader:record([fields]) -> the next record decoded (only the fields of a
 * core.fields projection, when given) | false, shown | nil [, kind, message] */
static int l_record(lua_State *L)
{
    bx_reader *r = checkreader(L);
    const bx_fields *fields = lua_isnoneornil(L, 2) ? NULL : bx_checkfields(L, 2);
    return next_decoded(L, r, fields, 2, 0, 0);
}

/* reader:values(fields) -> the record's number and one value a field |
 * false, shown | nil [, kind, message] */
static int l_values(lua_State *L)
{
    bx_reader *r = checkreader(L);
    return next_decoded(L, r, bx_checkfields(L, 2), 2, 1, 0);
}

/* The iterator a generic for calls for every record: buffered records come
 * straight from C; anything else (no byte yet, the end, an error, a reader
 * not started or closed) goes to the Lua fallback, which waits, resumes,
 * moves to the next part or raises. The Lua side names the reader to read
 * in cursor = {reader, base} and changes it only inside the fallback, so
 * the C side reads the cursor again only after calling it.
 * Given a slice (seconds), the iterator never calls the fallback itself: a
 * fallback that waits must yield (in a task, in nginx), and a yield cannot
 * cross this C function. It returns false instead, then true once it has
 * decoded for a whole slice, so that a Lua wrapper yields and calls the
 * fallback; the clock is read only every SLICE_CHECK records. Upvalues: */
enum {
    UP_STATE = 1, /* iter_state */
    UP_CURSOR,    /* {reader, base} */
    UP_FIELDS,    /* a projection, or nil */
    UP_FALLBACK,  /* function() -> what the iterator returns */
    UP_TICK,      /* nil, or function() -> keep ticking, called every TICK records */
    UP_META,      /* the reader metatable, to recognise a reader */
    UP_READER     /* the reader in state->r, kept alive */
};
#define TICK 64
#define SLICE_CHECK 32

typedef struct iter_state {
    bx_reader *r; /* the cursor's reader, or NULL (not a reader) */
    const bx_fields *fields;
    lua_Integer base; /* records of the parts before this one */
    int values;
    int ticking;         /* UP_TICK is a function still asking for ticks */
    int countdown;       /* records until the next tick */
    int hands_back;      /* a slice was given: never call the fallback */
    double slice;        /* seconds of work between yields; 0: no limit */
    double slice_start;  /* when the current slice began */
    int slice_countdown; /* records until the clock is read again */
    int handed_back;     /* returned false: the Lua side ran the fallback */
} iter_state;

static double monotonic_now(void)
{
    return bx_clock_ms() / 1e3;
}

/* Whether the current slice is spent; read the clock only now and then. */
static int slice_over(iter_state *st)
{
    if (--st->slice_countdown > 0)
        return 0;
    st->slice_countdown = SLICE_CHECK;
    return monotonic_now() - st->slice_start >= st->slice;
}

/* Hands control back to the Lua wrapper: false, and whether the slice is
 * spent (then it yields before calling the fallback). */
static int hand_back(lua_State *L, iter_state *st, int spent)
{
    st->handed_back = 1;
    lua_pushboolean(L, 0);
    lua_pushboolean(L, spent);
    return 2;
}

/* Reads the cursor again: which reader, and the record number it starts at. */
static void read_cursor(lua_State *L, iter_state *st)
{
    bx_reader *r = NULL;
    lua_rawgeti(L, lua_upvalueindex(UP_CURSOR), 1);
    if (lua_touserdata(L, -1) != NULL && lua_getmetatable(L, -1)) {
        if (lua_rawequal(L, -1, lua_upvalueindex(UP_META)))
            r = lua_touserdata(L, -2);
        lua_pop(L, 1);
    }
    lua_replace(L, lua_upvalueindex(UP_READER));
    lua_rawgeti(L, lua_upvalueindex(UP_CURSOR), 2);
    st->base = lua_tointeger(L, -1);
    lua_pop(L, 1);
    st->r = r;
}

static void tick(lua_State *L, iter_state *st)
{
    if (--st->countdown > 0)
        return;
    st->countdown = TICK;
    lua_pushvalue(L, lua_upvalueindex(UP_TICK));
    lua_call(L, 0, 1);
    if (!lua_toboolean(L, -1)) {
        lua_pushnil(L);
        lua_replace(L, lua_upvalueindex(UP_TICK));
        st->ticking = 0;
    }
    lua_pop(L, 1);
}

static int l_iterate(lua_State *L)
{
    iter_state *st = lua_touserdata(L, lua_upvalueindex(UP_STATE));
    bx_reader *r = st->r;
    int top = lua_gettop(L); /* the generic for's two arguments, unused */
    if (st->handed_back) {
        read_cursor(L, st);
        r = st->r;
        st->handed_back = 0;
        st->slice_start = monotonic_now();
        st->slice_countdown = SLICE_CHECK;
    }
    if (st->ticking)
        tick(L, st);
    if (st->slice > 0 && slice_over(st))
        return hand_back(L, st, 1);
    if (r != NULL && r->format == FORMAT_JSON && r->src != NULL && !r->broken) {
        int n = next_decoded(L, r, st->fields, lua_upvalueindex(UP_FIELDS), st->values, st->base);
        if (lua_toboolean(L, -n))
            return n;
        lua_settop(L, top);
    }
    if (st->hands_back)
        return hand_back(L, st, 0);
    lua_pushvalue(L, lua_upvalueindex(UP_FALLBACK));
    lua_call(L, 0, LUA_MULTRET);
    read_cursor(L, st);
    return lua_gettop(L) - top;
}

/* core.iterator(cursor, fields|nil, values, fallback [, tick [, slice]]) ->
 * the function a generic for calls (see l_iterate); with a slice (seconds,
 * 0 for no limit), the function a Lua wrapper calls. */
static int l_iterator(lua_State *L)
{
    iter_state *st;
    int hands_back = !lua_isnoneornil(L, 6);
    lua_Number slice = luaL_optnumber(L, 6, 0);
    luaL_checktype(L, 1, LUA_TTABLE);
    if (!lua_isnoneornil(L, 2))
        bx_checkfields(L, 2);
    luaL_checktype(L, 4, LUA_TFUNCTION);
    if (!lua_isnoneornil(L, 5))
        luaL_checktype(L, 5, LUA_TFUNCTION);
    luaL_argcheck(L, slice >= 0, 6, "must not be negative");
    lua_settop(L, 5);
    st = bx_newuserdata(L, sizeof *st);
    memset(st, 0, sizeof *st);
    st->fields = lua_isnil(L, 2) ? NULL : lua_touserdata(L, 2);
    st->values = lua_toboolean(L, 3);
    st->countdown = TICK;
    st->ticking = !lua_isnil(L, 5);
    st->hands_back = hands_back;
    st->slice = (double)slice;
    st->slice_start = monotonic_now();
    st->slice_countdown = SLICE_CHECK;
    lua_pushvalue(L, 1);                /* UP_CURSOR */
    lua_pushvalue(L, 2);                /* UP_FIELDS */
    lua_pushvalue(L, 4);                /* UP_FALLBACK */
    lua_pushvalue(L, 5);                /* UP_TICK */
    luaL_getmetatable(L, BX_READER_MT); /* UP_META */
    lua_rawgeti(L, 1, 1);               /* UP_READER: the cursor's first */
    st->r = luaL_testudata(L, -1, BX_READER_MT);
    lua_rawgeti(L, 1, 2);
    st->base = lua_tointeger(L, -1);
    lua_pop(L, 1);
    lua_pushcclosure(L, l_iterate, 7);
    return 1;
}

/* reader:read([n]) -> up to n plain bytes | false, shown | nil [, kind, message]
 * (false: nothing of use yet; shown: the source's bytes it was shown) */
static int l_read(lua_State *L)
{
    bx_reader *r = checkreader(L);
    lua_Integer max = luaL_optinteger(L, 2, INFLATE_CHUNK);
    const char *p = NULL;
    size_t len = 0;
    int rc, n;
    luaL_argcheck(L, max > 0, 2, "must be positive");
    n = next_bytes(L, r, &p, &len, &rc);
    if (n > 0)
        return n;
    if (rc == SOURCE_OVER) {
        r->ended = 1;
        lua_pushnil(L);
        return 1;
    }
    if ((size_t)max < len)
        len = (size_t)max;
    lua_pushlstring(L, p, len);
    plain_take(r, len);
    return 1;
}

/* reader:attach(transfer): the source of bytes from now on (a first one, or
 * a resumed one after the last failed). */
static int l_attach(lua_State *L)
{
    bx_reader *r = checkreader(L);
    bx_transfer *t = bx_checktransfer(L, 2);
    luaL_argcheck(L, bx_transfer_is_stream(t), 2, "needs a transfer with sink = 'stream'");
    lua_getuservalue(L, 1);
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, "source");
    r->src = t;
    r->run = NULL;
    r->run_len = r->taken = r->shown = 0;
    r->indexing = 0;
    unkey(L, r);
    return 0;
}

/* reader:consumed() -> compressed bytes read from sources: the offset a
 * resumed request starts at. */
static int l_consumed(lua_State *L)
{
    lua_pushinteger(L, checkreader(L)->consumed);
    return 1;
}

/* reader:count() -> records read, and of them read through the source's
 * record index (tape.h) */
static int l_count(lua_State *L)
{
    bx_reader *r = checkreader(L);
    lua_pushinteger(L, r->records);
    lua_pushinteger(L, r->indexed);
    return 2;
}

static void reader_release(lua_State *L, void *obj)
{
    bx_reader *r = obj;
    if (r->src)
        bx_transfer_close(r->src);
    bx_jsonbuild_free(L, &r->build);
    unkey(L, r);
    r->src = NULL;
    bx_splitter_free(&r->split);
}

static int l_close(lua_State *L)
{
    return bx_close(L, BX_READER_MT, reader_release);
}

static int l_tostring(lua_State *L)
{
    bx_reader *r = luaL_checkudata(L, 1, BX_READER_MT);
    const char *state = r->closed ? "closed" : r->ended ? "ended" : NULL;
    return bx_push_summary(L, BX_READER_MT, r->records, "records", state);
}

/* core.reader{format = "json"|"csv"|"raw", compression = "auto"|"gzip"|"none",
 *             separator = ";", max_record = bytes} */
static int l_new(lua_State *L)
{
    static const char *const formats[] = {"json", "csv", "raw", NULL};
    static const char *const compressions[] = {"auto", "gzip", "none", NULL};
    bx_reader *r;
    int format, compression;
    lua_Integer max;
    const char *sep;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "format");
    format = luaL_checkoption(L, -1, "json", formats);
    lua_getfield(L, 1, "compression");
    compression = luaL_checkoption(L, -1, "auto", compressions);
    lua_getfield(L, 1, "max_record");
    max = luaL_optinteger(L, -1, (lua_Integer)JSONSPLIT_DEFAULT_MAX_RECORD);
    lua_getfield(L, 1, "separator");
    sep = luaL_optstring(L, -1, ";");
    lua_pop(L, 4);
    luaL_argcheck(L, max > 0, 1, "max_record must be positive");
    luaL_argcheck(L, strlen(sep) == 1, 1, "separator must be one character");

    r = bx_newuserdata(L, sizeof *r);
    memset(r, 0, sizeof *r);
    r->closed = 1; /* until built */
    r->keyed_ref = LUA_NOREF;
    bx_jsonbuild_init(&r->build);
    luaL_setmetatable(L, BX_READER_MT);
    lua_newtable(L); /* the user value: the source transfer, kept alive */
    lua_setuservalue(L, -2);
    r->closed = 0;
    if (format == FORMAT_JSON)
        bx_jsonbuild_keep_layout(L, &r->build);
    r->format = format;
    r->compression = compression;
    if (bx_splitter_init(&r->split, format, sep[0], (size_t)max, INFLATE_CHUNK) != 0)
        return luaL_error(L, "out of memory");
    return 1;
}

int bx_open_reader(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"next", l_next},     {"record", l_record},     {"values", l_values}, {"read", l_read},
        {"attach", l_attach}, {"consumed", l_consumed}, {"count", l_count},   {NULL, NULL},
    };
    bx_newtype(L, BX_READER_MT, l_close, l_tostring, methods, "reader", l_new);
    lua_pushcfunction(L, l_iterator);
    lua_setfield(L, -2, "iterator");
    return 0;
}
