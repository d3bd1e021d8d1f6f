/*
 * tape.c: see tape.h. The scan checks every member as jsondecode_skip
 * checks a value (the decoder's own check of what a projection leaves out),
 * so a record the tape indexed is one the decoder would have accepted.
 */
#include "tape.h"

#include "bytes.h"
#include "jsondecode.h"

#include <stdlib.h>
#include <string.h>

/* A longer record is left to the consumer: the scan of a record the ring
 * holds only part of starts over at each fill, and the offsets stay small. */
#define MAX_RECORD (64 * 1024)

typedef char record_places_fit_16_bits[MAX_RECORD <= 65536 ? 1 : -1];
typedef char entry_is_one_cache_line[sizeof(bx_tape_record) == 64 ? 1 : -1];

/* Member m's key at p (its opening quote) as the layout remembers it, or 0:
 * the remembered bytes and closing quote, compared whole within end. */
static int remembered_key(const bx_tape_layout *layout, int m, const char *p, const char *end,
                          int *k, const char **next)
{
    size_t len;
    if (layout == NULL || m >= layout->n)
        return 0;
    len = layout->len[m];
    if ((size_t)(end - p) < len + 2 || !bx_same_bytes(layout->key[m], p + 1, len + 1))
        return 0;
    *k = layout->k[m];
    *next = p + len + 2;
    return 1;
}

/* Remembers member m's plain key [s, s + len) and which key looked for it
 * is; members after it are forgotten (the layout changed there). */
static void remember_key(bx_tape_layout *layout, int m, const char *s, size_t len, int k)
{
    if (layout == NULL || m >= BX_TAPE_LAYOUT_MEMBERS || m > layout->n ||
        len > BX_TAPE_LAYOUT_KEY_MAX)
        return;
    memcpy(layout->key[m], s, len + 1); /* its closing quote too */
    layout->len[m] = (uint8_t)len;
    layout->k[m] = (int8_t)k;
    layout->n = m + 1;
}

/* Member m's key at p (its opening quote): which of keys it is (-1 for
 * none), *next past its closing quote. An escaped key could be one looked
 * for once unescaped: the record is left to the decoder. */
static int member_key(const bx_tape_keys *keys, bx_tape_layout *layout, int m, const char *p,
                      const char *end, int *k, const char **next)
{
    const char *close;
    size_t len;
    int escaped, i, rc;
    if (remembered_key(layout, m, p, end, k, next))
        return BX_TAPE_OK;
    rc = jsondecode_string(p + 1, end, 1, &close, &escaped);
    if (rc == JSONDECODE_MORE)
        return BX_TAPE_MORE;
    if (rc != JSONDECODE_OK || escaped)
        return BX_TAPE_SKIP;
    *next = close + 1;
    *k = -1;
    len = (size_t)(close - (p + 1));
    if (keys->bits & bx_key_bit(p + 1, len))
        for (i = 0; i < keys->n; i++)
            if (keys->len[i] == len && bx_same_bytes(keys->key[i], p + 1, len)) {
                *k = i;
                break;
            }
    remember_key(layout, m, p + 1, len, *k);
    return BX_TAPE_OK;
}

/* A member's value at p, checked whole; *kind says what it is. */
static int member_value(const char *p, const char *end, uint8_t *kind, const char **next)
{
    int escaped = 0, rc;
    if (*p == '"') {
        rc = jsondecode_string(p + 1, end, 1, next, &escaped);
        if (rc == JSONDECODE_OK)
            (*next)++;
        *kind = escaped ? BX_TAPE_ESCAPED : BX_TAPE_STRING;
    } else {
        /* Depth 1, as the decoder skips a member of a record. */
        rc = jsondecode_skip(p, end, 1, 1, next);
        *kind = BX_TAPE_OTHER;
    }
    if (rc == JSONDECODE_MORE)
        return BX_TAPE_MORE;
    return rc == JSONDECODE_OK ? BX_TAPE_OK : BX_TAPE_SKIP;
}

/* The byte after whitespace at p, or why there is none: BX_TAPE_MORE at
 * the end, BX_TAPE_SKIP when it is not `want` (nor `or`, when not 0). */
static inline int expect(const char **pp, const char *end, char want, char or)
{
    const char *p = jsondecode_ws(*pp, end);
    *pp = p;
    if (p == end)
        return BX_TAPE_MORE;
    return *p == want || (or &&*p == or) ? BX_TAPE_OK : BX_TAPE_SKIP;
}

/* Notes the value [v, next) of key k in rec; a key found twice (the
 * decoder keeps the last in a table, and builds both on the way to a
 * nested field) is left to the decoder. */
static int found(bx_tape_record *rec, int k, const char *start, const char *v, const char *next,
                 uint8_t kind)
{
    if (rec->found & (1u << k))
        return BX_TAPE_SKIP;
    rec->found |= (uint16_t)(1u << k);
    rec->kind[k] = kind;
    rec->value_off[k] = (uint16_t)(v - start);
    rec->value_len[k] = (uint16_t)(next - v);
    return BX_TAPE_OK;
}

/* The members of the object at start, within [start, end), at most
 * MAX_RECORD bytes: places within it fit the entry's 16 bits. */
static int scan_members(const bx_tape_keys *keys, bx_tape_layout *layout, const char *start,
                        const char *end, bx_tape_record *rec, const char **next)
{
    const char *p = start + 1, *v;
    uint8_t kind;
    int rc, k, m = 0;
    rec->found = 0;
    if ((rc = expect(&p, end, '"', '}')) != BX_TAPE_OK)
        return rc;
    while (*p != '}') {
        if ((rc = member_key(keys, layout, m++, p, end, &k, &p)) != BX_TAPE_OK ||
            (rc = expect(&p, end, ':', 0)) != BX_TAPE_OK)
            return rc;
        v = jsondecode_ws(p + 1, end);
        if (v == end)
            return BX_TAPE_MORE;
        if ((rc = member_value(v, end, &kind, &p)) != BX_TAPE_OK)
            return rc;
        if (k >= 0 && (rc = found(rec, k, start, v, p, kind)) != BX_TAPE_OK)
            return rc;
        if ((rc = expect(&p, end, ',', '}')) != BX_TAPE_OK)
            return rc;
        if (*p == ',') {
            p++;
            if ((rc = expect(&p, end, '"', 0)) != BX_TAPE_OK)
                return rc;
        }
    }
    rec->len = (uint32_t)(p + 1 - start);
    *next = p + 1;
    return BX_TAPE_OK;
}

int bx_tape_scan(const bx_tape_keys *keys, bx_tape_layout *layout, const char *p, const char *end,
                 bx_tape_record *rec, const char **next)
{
    int rc;
    if (end - p <= MAX_RECORD)
        return scan_members(keys, layout, p, end, rec, next);
    /* Still going at MAX_RECORD bytes: too long to index. */
    rc = scan_members(keys, layout, p, p + MAX_RECORD, rec, next);
    return rc == BX_TAPE_MORE ? BX_TAPE_SKIP : rc;
}

int bx_tape_keys_add(bx_tape_keys *keys, const char *key, size_t len)
{
    if (keys->n == BX_TAPE_KEYS || len > BX_TAPE_KEY_MAX)
        return 0;
    keys->key[keys->n] = key;
    keys->len[keys->n] = (uint8_t)len;
    keys->bits |= bx_key_bit(key, len);
    keys->n++;
    return 1;
}

bx_tape *bx_tape_new(size_t cap, int synced, const bx_tape_keys *keys)
{
    bx_tape *tp = calloc(1, sizeof *tp);
    void *rec = NULL;
    char *copy;
    int i;
    if (tp == NULL)
        return NULL;
    /* Entries on cache lines of their own (tape.h's bx_tape_record). */
    if (posix_memalign(&rec, 64, cap * sizeof *tp->rec) != 0) {
        free(tp);
        return NULL;
    }
    tp->rec = rec;
    tp->cap = cap;
    tp->synced = synced;
    tp->keys = *keys;
    copy = tp->key_bytes;
    for (i = 0; i < keys->n; i++) {
        memcpy(copy, keys->key[i], keys->len[i]);
        tp->keys.key[i] = copy;
        copy += keys->len[i];
    }
    return tp;
}

void bx_tape_free(bx_tape *tp)
{
    if (tp == NULL)
        return;
    free(tp->rec);
    free(tp);
}
/* Indexes what it can of the contiguous bytes [p, end), which are the
 * stream's bytes from scan_off on; `cut`: the stream goes on past end at
 * the ring's start. Returns 0 when it must wait (more bytes, or room). */
static int fill_piece(bx_tape *tp, const char *p, const char *end, int cut)
{
    const char *q, *next;
    bx_tape_record *rec;
    int rc;
    if (!tp->synced) {
        /* A raw newline is never inside a JSON string: the next line
         * starts after it. */
        q = memchr(p, '\n', (size_t)(end - p));
        tp->scan_off += (uint64_t)((q ? q + 1 : end) - p);
        tp->synced = q != NULL;
        return 1;
    }
    q = jsondecode_ws(p, end);
    tp->scan_off += (uint64_t)(q - p);
    if (q == end)
        return 1;
    if (*q != '{') {
        tp->synced = 0;
        return 1;
    }
    if (tp->written - tp->freed >= tp->cap)
        return 0;
    rec = &tp->rec[tp->written % tp->cap];
    rc = bx_tape_scan(&tp->keys, &tp->layout, q, end, rec, &next);
    if (rc == BX_TAPE_OK) {
        rec->offset = tp->scan_off;
        tp->written++;
        tp->scan_off += (uint64_t)(next - q);
        return 1;
    }
    if (rc == BX_TAPE_MORE && !cut)
        return 0;
    tp->synced = 0; /* not one to index: on to the next line */
    return 1;
}

void bx_tape_producer_exchange(bx_tape *tp)
{
    tp->head = tp->written;
    tp->freed = tp->tail;
}

void bx_tape_consumer_exchange(bx_tape *tp)
{
    tp->seen = tp->head;
    tp->tail = tp->read;
}

void bx_tape_fill(bx_tape *tp, const char *bytes, size_t ring_cap, size_t at, uint64_t from,
                  size_t len)
{
    uint64_t stop = from + len;
    if (tp->scan_off < from) {
        tp->scan_off = from;
        tp->synced = 0;
    }
    while (tp->scan_off < stop) {
        size_t pos = (at + (size_t)(tp->scan_off - from)) % ring_cap;
        size_t left = (size_t)(stop - tp->scan_off), piece = ring_cap - pos;
        int cut = piece < left;
        if (!cut)
            piece = left;
        if (!fill_piece(tp, bytes + pos, bytes + pos + piece, cut))
            break;
    }
}

const bx_tape_record *bx_tape_at(bx_tape *tp, uint64_t offset)
{
    while (tp->read < tp->seen) {
        const bx_tape_record *rec = &tp->rec[tp->read % tp->cap];
        if (rec->offset > offset)
            return NULL;
        tp->read++;
        if (rec->offset == offset)
            return rec;
    }
    return NULL;
}
