/*
 * tape.c: see tape.h. The scan checks every member as jsondecode_skip
 * checks a value (the decoder's own check of what a projection leaves out),
 * so a record the tape indexed is one the decoder would have accepted.
 */
#include "tape.h"

#include "jsondecode.h"

#include <stdlib.h>
#include <string.h>

/* A longer record is left to the consumer: the scan of a record the ring
 * holds only part of starts over at each fill, and the offsets stay small. */
#define MAX_RECORD (64 * 1024)

/* Past a member's key at p (its opening quote): its place in *m. */
static int member_key(const char *start, const char *p, const char *end, bx_tape_member *m,
                      const char **next)
{
    const char *close;
    int escaped, rc = jsondecode_string(p + 1, end, 1, &close, &escaped);
    if (rc == JSONDECODE_MORE)
        return BX_TAPE_MORE;
    if (rc != JSONDECODE_OK || escaped)
        return BX_TAPE_SKIP;
    m->key_off = (uint32_t)(p + 1 - start);
    m->key_len = (uint16_t)(close - (p + 1));
    *next = close + 1;
    return BX_TAPE_OK;
}

/* A member's value at p, checked whole: its place and kind in *m. */
static int member_value(const char *start, const char *p, const char *end, bx_tape_member *m,
                        const char **next)
{
    int escaped = 0, rc;
    if (*p == '"') {
        rc = jsondecode_string(p + 1, end, 1, next, &escaped);
        if (rc == JSONDECODE_OK)
            (*next)++;
        m->kind = escaped ? BX_TAPE_ESCAPED : BX_TAPE_STRING;
    } else {
        /* Depth 1, as the decoder skips a member of a record. */
        rc = jsondecode_skip(p, end, 1, 1, next);
        m->kind = BX_TAPE_OTHER;
    }
    if (rc == JSONDECODE_MORE)
        return BX_TAPE_MORE;
    if (rc != JSONDECODE_OK)
        return BX_TAPE_SKIP;
    m->value_off = (uint32_t)(p - start);
    m->value_len = (uint32_t)(*next - p);
    return BX_TAPE_OK;
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

/* The members of the object at start, within [start, end). */
static int scan_members(const char *start, const char *end, bx_tape_record *rec, const char **next)
{
    const char *p = start + 1;
    uint16_t n = 0;
    int rc;
    if ((rc = expect(&p, end, '"', '}')) != BX_TAPE_OK)
        return rc;
    while (*p != '}') {
        bx_tape_member *m;
        if (n == BX_TAPE_MEMBERS)
            return BX_TAPE_SKIP;
        m = &rec->member[n++];
        if ((rc = member_key(start, p, end, m, &p)) != BX_TAPE_OK ||
            (rc = expect(&p, end, ':', 0)) != BX_TAPE_OK)
            return rc;
        p = jsondecode_ws(p + 1, end);
        if (p == end)
            return BX_TAPE_MORE;
        if ((rc = member_value(start, p, end, m, &p)) != BX_TAPE_OK ||
            (rc = expect(&p, end, ',', '}')) != BX_TAPE_OK)
            return rc;
        if (*p == ',') {
            p++;
            if ((rc = expect(&p, end, '"', 0)) != BX_TAPE_OK)
                return rc;
        }
    }
    rec->nmembers = n;
    rec->len = (uint32_t)(p + 1 - start);
    *next = p + 1;
    return BX_TAPE_OK;
}

int bx_tape_scan(const char *p, const char *end, bx_tape_record *rec, const char **next)
{
    int rc;
    if (end - p <= MAX_RECORD)
        return scan_members(p, end, rec, next);
    /* Still going at MAX_RECORD bytes: too long to index. */
    rc = scan_members(p, p + MAX_RECORD, rec, next);
    return rc == BX_TAPE_MORE ? BX_TAPE_SKIP : rc;
}

bx_tape *bx_tape_new(size_t cap, int synced)
{
    bx_tape *tp = calloc(1, sizeof *tp);
    if (tp == NULL)
        return NULL;
    if ((tp->rec = malloc(cap * sizeof *tp->rec)) == NULL) {
        free(tp);
        return NULL;
    }
    tp->cap = cap;
    tp->synced = synced;
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
    rc = bx_tape_scan(q, end, rec, &next);
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
