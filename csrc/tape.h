/*
 * tape.h: an index of a stream's JSON records, made on the stream's pump
 * thread (pump.c) while its consumer decodes earlier records. For each
 * object found at the start of a line, checked whole as the decoder checks
 * a value it skips, the tape says where each top-level member's key and
 * value are. A consumer that asks for a few fields (jsonvalue.c's
 * projections) reads them from those places without scanning the record
 * again: the scanning moves to the thread that otherwise waits on the
 * network.
 *
 * An entry is a hint, never the authority: the consumer's splitter alone
 * says where records start, and uses an entry only when one was made at
 * that very byte. An entry made at a byte that turns out not to start a
 * record (a line inside a record written over several lines) is never
 * asked for; bytes the tape cannot index (escaped keys, a record cut by
 * the ring's end, too many members, anything not JSON) get no entry, and
 * the consumer decodes them itself, errors included.
 *
 * The entries are a ring with one producer (the pump's thread) and one
 * consumer. This file holds no lock: the sides meet in their exchanges,
 * which the transfer makes under its own (transfer.c). Depends only on the
 * C standard library and jsondecode.h: no Lua, no curl.
 */
#ifndef BX_TAPE_H
#define BX_TAPE_H

#include <stddef.h>
#include <stdint.h>

/* Records with more top-level members get no entry. */
#define BX_TAPE_MEMBERS 16

/* A member's value: a string without escapes (its bytes are the value), a
 * string to unescape, or anything else (decoded from its place). */
enum { BX_TAPE_STRING, BX_TAPE_ESCAPED, BX_TAPE_OTHER };

typedef struct bx_tape_member {
    uint32_t key_off;   /* the key's first byte, past its quote, from the record's start */
    uint32_t value_off; /* the value's first byte (a string's quote) */
    uint32_t value_len; /* the value's bytes, quotes included */
    uint16_t key_len;   /* the key's bytes, no escape among them */
    uint8_t kind;
} bx_tape_member;

typedef struct bx_tape_record {
    uint64_t offset; /* the record's '{', counted in the stream's bytes */
    uint32_t len;    /* up to and including its '}' */
    uint16_t nmembers;
    bx_tape_member member[BX_TAPE_MEMBERS];
} bx_tape_record;

/* What bx_tape_scan found at p. */
enum {
    BX_TAPE_OK,   /* an object, whole and valid: *rec filled */
    BX_TAPE_MORE, /* it runs past end */
    BX_TAPE_SKIP  /* not an object the tape indexes */
};

/* Scans the object starting at p ('{') within [p, end): on BX_TAPE_OK
 * rec->len, nmembers and member are set (not offset), *next is past its
 * '}'. One still going after 64 KiB is BX_TAPE_SKIP. */
int bx_tape_scan(const char *p, const char *end, bx_tape_record *rec, const char **next);

/* Each side's fields on cache lines of their own (the pads): the consumer
 * reads its cursor once a record, and a line the other thread keeps
 * writing would be fetched from that thread's core every time. */
#define BX_TAPE_PAD 64

typedef struct bx_tape {
    bx_tape_record *rec; /* set once: read by both */
    uint64_t cap;
    char pad0[BX_TAPE_PAD];
    /* the producer's */
    uint64_t scan_off; /* the next byte to look at */
    uint64_t written;  /* entries written, not all published */
    uint64_t freed;    /* tail, as last exchanged */
    int synced;        /* scan_off starts a line */
    char pad1[BX_TAPE_PAD];
    /* shared: only bx_tape_*_exchange touch them, under the owner's lock */
    uint64_t head; /* entries published */
    uint64_t tail; /* entries the consumer is done with */
    char pad2[BX_TAPE_PAD];
    /* the consumer's */
    uint64_t seen; /* head, as last exchanged */
    uint64_t read; /* entries looked at */
    char pad3[BX_TAPE_PAD];
} bx_tape;

/* A tape of cap entries; NULL without memory. synced: the stream's first
 * byte starts a line (a stream from its start, not a resumed one). */
bx_tape *bx_tape_new(size_t cap, int synced);
void bx_tape_free(bx_tape *tp);

/* Each side's exchange with the other, under the owner's lock: the
 * producer publishes the entries it wrote and learns which ones the
 * consumer is done with (their room is its again); the consumer learns the
 * published entries and hands back the ones it looked at. */
void bx_tape_producer_exchange(bx_tape *tp);
void bx_tape_consumer_exchange(bx_tape *tp);

/* The producer: indexes the records in the stream bytes [from, from + len),
 * held at bytes[(at + i) % ring_cap] for the i-th (a ring), in the room
 * its last exchange left it. Bytes before `from` are gone (consumed): the
 * scan starts over from there. */
void bx_tape_fill(bx_tape *tp, const char *bytes, size_t ring_cap, size_t at, uint64_t from,
                  size_t len);

/* The consumer: the entry made at stream byte `offset`, among those its
 * last exchange saw, or NULL; entries made before it are passed over for
 * good (records are asked for in the stream's order). */
const bx_tape_record *bx_tape_at(bx_tape *tp, uint64_t offset);

#endif
