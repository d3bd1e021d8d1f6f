/*
 * libFuzzer target for csrc/tape.c, the record index a stream's pump makes.
 * The index must never vouch for more than the decoder's own scanners
 * (csrc/jsondecode.c), since the decoder then reads the listed members from
 * their places without checking the record again:
 *   - a record the scan indexes is a JSON object of exactly that length
 *     (jsondecode_skip agrees), each key is plain and between its quotes,
 *     each value is one JSON value of exactly its length, of its kind;
 *   - a scan that asks for more bytes is one the decoder too finds cut short;
 *   - filling the index from the input laid in a ring (rotated by byte 0,
 *     fed in pieces sized from byte 1) makes only entries that are the scan
 *     of an object at their offset, in increasing order, each found again
 *     by its offset.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../csrc/jsondecode.h"
#include "../csrc/tape.h"

static void check_member(const char *p, const char *end, const bx_tape_member *m)
{
    const char *key = p + m->key_off, *value = p + m->value_off, *stop;
    int escaped = memchr(value, '\\', m->value_len) != NULL;
    if (key[-1] != '"' || key[m->key_len] != '"' || memchr(key, '\\', m->key_len) != NULL)
        abort();
    if (jsondecode_skip(value, end, 0, 1, &stop) != JSONDECODE_OK || stop != value + m->value_len)
        abort();
    if ((m->kind == BX_TAPE_OTHER) != (*value != '"') || (m->kind == BX_TAPE_ESCAPED && !escaped) ||
        (m->kind == BX_TAPE_STRING && escaped))
        abort();
}

static void check_scan(const char *p, size_t size)
{
    const char *end = p + size, *next, *stop;
    bx_tape_record rec;
    int rc = bx_tape_scan(p, end, &rec, &next);
    int skip = jsondecode_skip(p, end, 1, 0, &stop);
    uint16_t i;
    if (rc == BX_TAPE_OK) {
        if (skip != JSONDECODE_OK || stop != p + rec.len || next != stop ||
            rec.nmembers > BX_TAPE_MEMBERS)
            abort();
        for (i = 0; i < rec.nmembers; i++)
            check_member(p, p + rec.len, &rec.member[i]);
    } else if (rc == BX_TAPE_MORE && size < 60000 && skip != JSONDECODE_MORE) {
        abort();
    }
}

static void check_fill(const char *stream, size_t size, size_t at, size_t step)
{
    char *ring = malloc(size);
    bx_tape *tp = bx_tape_new(4, 1);
    uint64_t written = 0, i, last = 0;
    size_t fed;
    if (ring == NULL || tp == NULL)
        abort();
    for (i = 0; i < size; i++)
        ring[(at + i) % size] = stream[i];
    /* the consumer never takes a byte here: the tape's room is all it has */
    for (fed = step; fed < size + step; fed += step) {
        bx_tape_producer_exchange(tp);
        bx_tape_fill(tp, ring, size, at, 0, fed < size ? fed : size);
        bx_tape_producer_exchange(tp);
    }
    written = tp->written;
    for (i = 0; i < written; i++) {
        const bx_tape_record *rec = &tp->rec[i];
        bx_tape_record again;
        const char *next;
        uint16_t m;
        if (rec->offset >= size || (i > 0 && rec->offset <= last) || stream[rec->offset] != '{' ||
            bx_tape_scan(stream + rec->offset, stream + size, &again, &next) != BX_TAPE_OK ||
            again.len != rec->len || again.nmembers != rec->nmembers)
            abort();
        for (m = 0; m < rec->nmembers; m++)
            if (again.member[m].value_off != rec->member[m].value_off ||
                again.member[m].value_len != rec->member[m].value_len ||
                again.member[m].key_off != rec->member[m].key_off ||
                again.member[m].key_len != rec->member[m].key_len ||
                again.member[m].kind != rec->member[m].kind)
                abort();
        last = rec->offset;
    }
    bx_tape_consumer_exchange(tp);
    for (i = 0; i < written; i++)
        if (bx_tape_at(tp, tp->rec[i].offset) != &tp->rec[i])
            abort();
    bx_tape_free(tp);
    free(ring);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *stream;
    size_t len;
    if (size < 2)
        return 0;
    stream = (const char *)data + 2;
    len = size - 2;
    if (len > 0 && stream[0] == '{')
        check_scan(stream, len);
    if (len > 0)
        check_fill(stream, len, data[0] % len, (size_t)data[1] % 64 + 1);
    return 0;
}
