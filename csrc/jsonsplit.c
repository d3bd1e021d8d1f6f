/*
 * jsonsplit: see jsonsplit.h for the contract.
 *
 * The scanner only needs to know, for each byte, whether it is inside a
 * string (and escaped) and how deep the bracket nesting is; it never builds
 * a tree, so it runs in O(1) memory besides the straddle buffer and keeps
 * up with memchr-class speeds on typical export records.
 */
#include "jsonsplit.h"

#include <stdlib.h>
#include <string.h>

enum { M_START, M_OBJECTS, M_ARRAY, M_DONE };
/* Array mode only: what the next non-whitespace byte may be. */
enum { W_FIRST, W_VALUE, W_AFTER };
/* Kind of the value being scanned. */
enum { V_NESTED, V_LITERAL };

struct jsonsplit {
    char *buf; /* bytes of a record that straddles chunks */
    size_t len, cap, max;
    size_t depth; /* bracket depth inside the current value */
    uint64_t records;
    uint64_t offset;  /* stream bytes consumed */
    uint64_t rec_off; /* stream offset of the current value's start */
    int err;
    unsigned char mode, where, kind, bom;
    unsigned char in_value; /* a value started in an earlier chunk */
    unsigned char in_string, escape;
};

static const unsigned char k_bom[3] = {0xEF, 0xBB, 0xBF};

static const unsigned char k_ws[256] = {[' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1};

/* Bytes that matter inside a string. */
static const unsigned char k_str_stop[256] = {['"'] = 1, ['\\'] = 1};

/* Bytes that matter between strings inside an object or array. */
static const unsigned char k_nest_stop[256] = {
    ['"'] = 1, ['{'] = 1, ['}'] = 1, ['['] = 1, [']'] = 1};

/* For bare literals (numbers, true, false, null) in array mode: 1 ends the
 * literal without being part of it, 2 cannot appear in one.  Rejecting the
 * structural bytes keeps "[1{" from silently gluing values together. */
static const unsigned char k_lit_stop[256] = {
    [' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1, [','] = 1,
    [']'] = 1, ['{'] = 2,  ['}'] = 2,  ['['] = 2,  ['"'] = 2};

jsonsplit *jsonsplit_new(size_t max_record)
{
    jsonsplit *s = calloc(1, sizeof *s);

    if (!s)
        return NULL;
    if (max_record == 0)
        max_record = JSONSPLIT_DEFAULT_MAX_RECORD;
    /* Window arithmetic below adds 1 to the cap. */
    if (max_record > SIZE_MAX / 2)
        max_record = SIZE_MAX / 2;
    s->max = max_record;
    return s;
}

void jsonsplit_free(jsonsplit *s)
{
    if (!s)
        return;
    free(s->buf);
    free(s);
}

uint64_t jsonsplit_records(const jsonsplit *s)
{
    return s->records;
}
uint64_t jsonsplit_offset(const jsonsplit *s)
{
    return s->offset;
}
size_t jsonsplit_max_record(const jsonsplit *s)
{
    return s->max;
}

const char *jsonsplit_strerror(int code)
{
    switch (code) {
    case JSONSPLIT_RECORD:
        return "record";
    case JSONSPLIT_NEED_MORE:
        return "need more input";
    case JSONSPLIT_END:
        return "end of stream";
    case JSONSPLIT_ERR_TOO_LARGE:
        return "record exceeds the size limit";
    case JSONSPLIT_ERR_SYNTAX:
        return "unexpected byte between JSON records";
    case JSONSPLIT_ERR_TRUNCATED:
        return "JSON stream truncated inside a record or array";
    case JSONSPLIT_ERR_NOMEM:
        return "out of memory";
    case JSONSPLIT_ERR_DECODE:
        return "the record is not valid JSON";
    default:
        return "unknown jsonsplit error";
    }
}

static int fail(jsonsplit *s, int code, uint64_t at)
{
    s->err = code;
    s->offset = at;
    return code;
}

/* Appends n bytes to the straddle buffer.  Callers have already checked
 * that len + n <= max, so growth stops at the cap. */
static int buf_append(jsonsplit *s, const unsigned char *p, size_t n)
{
    if (s->cap - s->len < n) {
        size_t need = s->len + n;
        size_t cap = s->cap ? s->cap : 4096;
        char *nb;

        while (cap < need)
            cap = cap > s->max / 2 ? s->max : cap * 2;
        if (cap > s->max)
            cap = s->max;
        if (cap < need)
            cap = need;
        nb = realloc(s->buf, cap);
        if (!nb)
            return 0;
        s->buf = nb;
        s->cap = cap;
    }
    if (n)
        memcpy(s->buf + s->len, p, n);
    s->len += n;
    return 1;
}

/* Scans an object, array or string value; the state (depth, in_string,
 * escape) survives in s between chunks.  Returns one past the closing byte,
 * or NULL when lim is reached first. */
static const unsigned char *scan_nested(jsonsplit *s, const unsigned char *p,
                                        const unsigned char *lim)
{
    size_t depth = s->depth;
    int in_string = s->in_string;
    const unsigned char *stop = k_nest_stop;

    if (s->escape) {
        if (p == lim)
            return NULL;
        p++;
        s->escape = 0;
    }
    for (;;) {
        if (in_string) {
            while (p < lim && !k_str_stop[*p])
                p++;
            if (p == lim)
                break;
            if (*p++ == '\\') {
                if (p == lim) {
                    s->escape = 1;
                    break;
                }
                p++;
                continue;
            }
            in_string = 0;
            if (depth == 0)
                goto done;
            continue;
        }
        while (p < lim && !stop[*p])
            p++;
        if (p == lim)
            break;
        switch (*p++) {
        case '"':
            in_string = 1;
            break;
        case '{':
        case '[':
            depth++;
            break;
        default:
            /* Mismatched closers are cjson's business, not ours. */
            if (--depth == 0)
                goto done;
        }
    }
    s->depth = depth;
    s->in_string = (unsigned char)in_string;
    return NULL;
done:
    s->depth = 0;
    s->in_string = 0;
    return p;
}

/* Scans a bare literal.  Returns the delimiter that ends it (not part of
 * the record), NULL at lim, or sets *bad to the offending byte. */
static const unsigned char *scan_literal(const unsigned char *p, const unsigned char *lim,
                                         const unsigned char **bad)
{
    while (p < lim && !k_lit_stop[*p])
        p++;
    if (p == lim)
        return NULL;
    if (k_lit_stop[*p] == 2) {
        *bad = p;
        return NULL;
    }
    return p;
}

/* Skips BOM, whitespace and separators up to the first byte of the next
 * value.  Returns 1 with *pp at a value, 0 when the chunk ran out, or an
 * error code with *pp at the offending byte. */
static int seek_value(jsonsplit *s, const unsigned char **pp, const unsigned char *end)
{
    const unsigned char *p = *pp;

    while (s->bom < 3 && p < end) {
        if (*p == k_bom[s->bom]) {
            s->bom++;
            p++;
        } else if (s->bom == 0) {
            s->bom = 3;
        } else {
            *pp = p;
            return JSONSPLIT_ERR_SYNTAX;
        }
    }
    for (; p < end; p++) {
        unsigned char c = *p;

        if (k_ws[c])
            continue;
        *pp = p;
        switch (s->mode) {
        case M_START:
            if (c == '{') {
                s->mode = M_OBJECTS;
                return 1;
            }
            if (c != '[')
                return JSONSPLIT_ERR_SYNTAX;
            s->mode = M_ARRAY;
            s->where = W_FIRST;
            continue;
        case M_OBJECTS:
            return c == '{' ? 1 : JSONSPLIT_ERR_SYNTAX;
        case M_ARRAY:
            if (s->where == W_AFTER) {
                if (c == ',')
                    s->where = W_VALUE;
                else if (c == ']')
                    s->mode = M_DONE;
                else
                    return JSONSPLIT_ERR_SYNTAX;
                continue;
            }
            if (c == ']' && s->where == W_FIRST) {
                s->mode = M_DONE;
                continue;
            }
            return (c == ',' || c == ']' || c == '}') ? JSONSPLIT_ERR_SYNTAX : 1;
        default:
            return JSONSPLIT_ERR_SYNTAX;
        }
    }
    *pp = p;
    return 0;
}

/* Limits a scan to one byte past what the record may still hold, so an
 * oversized record is rejected at the same byte however it was chunked. */
static const unsigned char *window(const jsonsplit *s, const unsigned char *p,
                                   const unsigned char *end)
{
    size_t room = s->max - s->len;

    return (size_t)(end - p) > room ? p + room + 1 : end;
}

static const unsigned char *scan(jsonsplit *s, const unsigned char *p, const unsigned char *lim,
                                 const unsigned char **bad)
{
    if (s->kind == V_LITERAL)
        return scan_literal(p, lim, bad);
    return scan_nested(s, p, lim);
}

/* Scans the value starting (or resuming) at p; `from` is where its bytes
 * in this chunk begin.  Emits it zero-copy when nothing is buffered. */
static int finish_value(jsonsplit *s, const unsigned char *base, const unsigned char *from,
                        const unsigned char *p, const unsigned char *end, size_t *consumed,
                        const char **rec, size_t *rec_len)
{
    const unsigned char *lim = window(s, from, end);
    const unsigned char *bad = NULL;
    const unsigned char *q = scan(s, p, lim, &bad);
    size_t n;

    if (bad) {
        *consumed = (size_t)(bad - base);
        return fail(s, JSONSPLIT_ERR_SYNTAX, s->offset + *consumed);
    }
    n = (size_t)((q ? q : end) - from);
    if (s->len + n > s->max || (!q && lim < end)) {
        *consumed = (size_t)(lim - base);
        return fail(s, JSONSPLIT_ERR_TOO_LARGE, s->rec_off + s->max);
    }
    if (!q || s->in_value) {
        if (!buf_append(s, from, n)) {
            *consumed = (size_t)(from - base);
            return fail(s, JSONSPLIT_ERR_NOMEM, s->offset + *consumed);
        }
    }
    if (!q) {
        s->in_value = 1;
        *consumed = (size_t)(end - base);
        s->offset += *consumed;
        return JSONSPLIT_NEED_MORE;
    }
    if (s->in_value) {
        *rec = s->buf;
        *rec_len = s->len;
        /* The bytes stay put until the next call appends over them. */
        s->len = 0;
        s->in_value = 0;
    } else {
        *rec = (const char *)from;
        *rec_len = n;
    }
    s->records++;
    s->where = W_AFTER;
    *consumed = (size_t)(q - base);
    s->offset += *consumed;
    return JSONSPLIT_RECORD;
}

/* Sets up the scanner state for a value whose first byte is at p and
 * returns where scanning should continue. */
static const unsigned char *start_value(jsonsplit *s, const unsigned char *p)
{
    s->depth = 0;
    s->in_string = 0;
    s->escape = 0;
    s->kind = V_NESTED;
    switch (*p) {
    case '{':
    case '[':
        s->depth = 1;
        return p + 1;
    case '"':
        s->in_string = 1;
        return p + 1;
    default:
        s->kind = V_LITERAL;
        return p;
    }
}

/* Moves *p to the start of the next value in [*p, end), which starts the
 * next record: SEEK_FOUND; else what the caller returns, NEED_MORE (the
 * chunk is spent) or an error, with *consumed set. */
#define SEEK_FOUND 1
static int seek_record(jsonsplit *s, const unsigned char *base, const unsigned char **p,
                       const unsigned char *end, size_t *consumed)
{
    int rc = seek_value(s, p, end);
    if (rc < 0) {
        *consumed = (size_t)(*p - base);
        return fail(s, rc, s->offset + *consumed);
    }
    if (rc == 0) {
        *consumed = (size_t)(end - base);
        s->offset += *consumed;
        return JSONSPLIT_NEED_MORE;
    }
    s->rec_off = s->offset + (uint64_t)(*p - base);
    return SEEK_FOUND;
}

int jsonsplit_next(jsonsplit *s, const char *data, size_t len, size_t *consumed, const char **rec,
                   size_t *rec_len)
{
    const unsigned char *base = (const unsigned char *)data;
    const unsigned char *end = base + len;
    const unsigned char *p = base;
    int rc;

    *consumed = 0;
    *rec = NULL;
    *rec_len = 0;
    if (s->err)
        return s->err;
    if (len == 0)
        return JSONSPLIT_NEED_MORE;
    if (s->in_value)
        return finish_value(s, base, base, base, end, consumed, rec, rec_len);
    rc = seek_record(s, base, &p, end, consumed);
    if (rc != SEEK_FOUND)
        return rc;
    return finish_value(s, base, p, start_value(s, p), end, consumed, rec, rec_len);
}

int jsonsplit_decode(jsonsplit *s, const char *data, size_t len, size_t *consumed,
                     jsonsplit_decoder decode, void *ctx)
{
    const unsigned char *base = (const unsigned char *)data;
    const unsigned char *end = base + len;
    const unsigned char *p = base;
    const char *rec;
    size_t rec_len, used = 0, avail;
    int rc;

    *consumed = 0;
    if (s->err)
        return s->err;
    if (len == 0)
        return JSONSPLIT_NEED_MORE;
    if (s->in_value) {
        rc = finish_value(s, base, base, base, end, consumed, &rec, &rec_len);
    } else {
        rc = seek_record(s, base, &p, end, consumed);
        if (rc != SEEK_FOUND)
            return rc;
        /* At most max bytes: a longer record needs more, and the splitter
         * then rejects it at the same byte as any other chunking. */
        avail = (size_t)(end - p) < s->max ? (size_t)(end - p) : s->max;
        rc = decode(ctx, (const char *)p, avail, 0, &used);
        if (rc > 0) {
            s->records++;
            s->where = W_AFTER;
            *consumed = (size_t)(p - base) + used;
            s->offset += *consumed;
            return JSONSPLIT_RECORD;
        }
        if (rc < 0) {
            *consumed = (size_t)(p - base) + used;
            return fail(s, JSONSPLIT_ERR_DECODE, s->rec_off + used);
        }
        rc = finish_value(s, base, p, start_value(s, p), end, consumed, &rec, &rec_len);
    }
    if (rc != JSONSPLIT_RECORD)
        return rc;
    rc = decode(ctx, rec, rec_len, 1, &used);
    if (rc > 0 && used == rec_len)
        return JSONSPLIT_RECORD;
    return fail(s, JSONSPLIT_ERR_DECODE, s->rec_off + used);
}

const char *jsonsplit_next_object(const jsonsplit *s, const char *data, size_t len)
{
    const unsigned char *p = (const unsigned char *)data, *end = p + len;
    if (s->mode != M_OBJECTS || s->in_value || s->err)
        return NULL;
    while (p < end && k_ws[*p])
        p++;
    return p < end && *p == '{' ? (const char *)p : NULL;
}

void jsonsplit_took(jsonsplit *s, size_t skipped, size_t rec_len)
{
    s->records++;
    s->rec_off = s->offset + skipped;
    s->offset += skipped + rec_len;
}

int jsonsplit_finish(jsonsplit *s)
{
    if (s->err)
        return s->err;
    if (s->in_value || s->mode == M_ARRAY || (s->bom > 0 && s->bom < 3))
        return fail(s, JSONSPLIT_ERR_TRUNCATED, s->offset);
    return JSONSPLIT_END;
}
