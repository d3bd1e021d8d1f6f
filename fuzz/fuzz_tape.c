/*
 * libFuzzer target for csrc/tape.c, the record index a stream's pump makes.
 * The index must never vouch for more than the decoder's own scanners
 * (csrc/jsondecode.c), since the decoder then reads the values it names
 * from their places without checking the record again:
 *   - a record the scan indexes is a JSON object of exactly that length
 *     (jsondecode_skip agrees), and what it says of the keys looked for is
 *     what a plain walk of the object's members with the decoder's
 *     scanners finds: which keys are members, each value's place, length
 *     and kind;
 *   - a valid object the scan leaves to the decoder is one that walk finds
 *     an escaped key or a key looked for twice in, or over 64 KiB;
 *   - a scan that asks for more bytes is one the decoder too finds cut short;
 *   - filling the index from the input laid in a ring (rotated by byte 0,
 *     fed in pieces sized from byte 1) makes only entries that are the scan
 *     of an object at their offset, in increasing order, each found again
 *     by its offset.
 *   - scanning the input's lines in turn with one layout memory gives, for
 *     each, what a scan without memory gives (the same outcome, entry and
 *     end), whatever lines came before.
 * Byte 2 picks the keys looked for among a few (its low bits).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../csrc/jsondecode.h"
#include "../csrc/tape.h"

static const char *const DICTIONARY[] = {"a", "b", "id", "", "custom_id"};

static bx_tape_keys pick_keys(uint8_t bits)
{
    bx_tape_keys keys;
    size_t i;
    memset(&keys, 0, sizeof keys);
    for (i = 0; i < sizeof DICTIONARY / sizeof DICTIONARY[0]; i++)
        if (bits & (1u << i))
            bx_tape_keys_add(&keys, DICTIONARY[i], strlen(DICTIONARY[i]));
    return keys;
}

/* The oracle: the members of the valid object [p, end) walked with the
 * decoder's scanners. Returns 0 when the tape must leave it (an escaped
 * key, a key looked for twice), else 1 with *want as the tape's entry. */
static int walk(const bx_tape_keys *keys, const char *p, const char *end, bx_tape_record *want)
{
    const char *q = jsondecode_ws(p + 1, end), *close, *v, *stop;
    int escaped, k;
    want->found = 0;
    while (*q == '"') {
        if (jsondecode_string(q + 1, end, 0, &close, &escaped) != JSONDECODE_OK)
            abort();
        if (escaped)
            return 0;
        for (k = 0; k < keys->n; k++)
            if ((size_t)(close - (q + 1)) == keys->len[k] &&
                memcmp(q + 1, keys->key[k], keys->len[k]) == 0)
                break;
        v = jsondecode_ws(jsondecode_ws(close + 1, end) + 1, end); /* past ':' */
        if (jsondecode_skip(v, end, 0, 1, &stop) != JSONDECODE_OK)
            abort();
        if (k < keys->n) {
            if (want->found & (1u << k))
                return 0;
            want->found |= (uint16_t)(1u << k);
            want->value_off[k] = (uint16_t)(v - p);
            want->value_len[k] = (uint16_t)(stop - v);
            want->kind[k] = *v != '"'                             ? BX_TAPE_OTHER
                            : memchr(v, '\\', (size_t)(stop - v)) ? BX_TAPE_ESCAPED
                                                                  : BX_TAPE_STRING;
        }
        q = jsondecode_ws(stop, end);
        if (*q == ',')
            q = jsondecode_ws(q + 1, end);
    }
    return 1;
}

static int same_entry(const bx_tape_keys *keys, const bx_tape_record *a, const bx_tape_record *b)
{
    int k;
    if (a->found != b->found)
        return 0;
    for (k = 0; k < keys->n; k++)
        if ((a->found & (1u << k)) &&
            (a->value_off[k] != b->value_off[k] || a->value_len[k] != b->value_len[k] ||
             a->kind[k] != b->kind[k]))
            return 0;
    return 1;
}

static void check_scan(const bx_tape_keys *keys, const char *p, size_t size)
{
    const char *end = p + size, *next, *stop;
    bx_tape_record rec, want;
    int rc = bx_tape_scan(keys, NULL, p, end, &rec, &next);
    int skip = jsondecode_skip(p, end, 1, 0, &stop);
    if (rc == BX_TAPE_OK) {
        if (skip != JSONDECODE_OK || stop != p + rec.len || next != stop ||
            !walk(keys, p, stop, &want) || !same_entry(keys, &rec, &want))
            abort();
    } else if (rc == BX_TAPE_SKIP && skip == JSONDECODE_OK && stop - p <= 65536 &&
               walk(keys, p, stop, &want)) {
        abort(); /* a valid object left out for no reason */
    } else if (rc == BX_TAPE_MORE && size < 60000 && skip != JSONDECODE_MORE) {
        abort();
    }
}

static void check_fill(const bx_tape_keys *keys, const char *stream, size_t size, size_t at,
                       size_t step)
{
    char *ring = malloc(size);
    bx_tape *tp = bx_tape_new(4, 1, keys);
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
        if (rec->offset >= size || (i > 0 && rec->offset <= last) || stream[rec->offset] != '{' ||
            bx_tape_scan(keys, NULL, stream + rec->offset, stream + size, &again, &next) !=
                BX_TAPE_OK ||
            again.len != rec->len || !same_entry(keys, rec, &again))
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

static void check_layout(const bx_tape_keys *keys, const char *stream, size_t size)
{
    bx_tape_layout layout;
    const char *p = stream, *end = stream + size;
    memset(&layout, 0, sizeof layout);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *stop = nl ? nl : end;
        if (p < stop && *p == '{') {
            bx_tape_record with, without;
            const char *next_with = NULL, *next_without = NULL;
            int rc_with = bx_tape_scan(keys, &layout, p, stop, &with, &next_with);
            int rc_without = bx_tape_scan(keys, NULL, p, stop, &without, &next_without);
            if (rc_with != rc_without ||
                (rc_with == BX_TAPE_OK && (next_with != next_without || with.len != without.len ||
                                           !same_entry(keys, &with, &without))))
                abort();
        }
        p = stop + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *stream;
    bx_tape_keys keys;
    size_t len;
    if (size < 3)
        return 0;
    keys = pick_keys(data[2]);
    stream = (const char *)data + 3;
    len = size - 3;
    if (len > 0 && stream[0] == '{')
        check_scan(&keys, stream, len);
    if (len > 0) {
        check_layout(&keys, stream, len);
        check_fill(&keys, stream, len, data[0] % len, (size_t)data[1] % 64 + 1);
    }
    return 0;
}
