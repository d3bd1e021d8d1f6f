/*
 * tape.h: an index of a stream's JSON records, made on the stream's pump
 * thread (pump.c) while its consumer decodes earlier records, for the
 * top-level keys the consumer's projection starts with (jsonvalue.c). For
 * each object found at the start of a line, checked whole as the decoder
 * checks a value it skips, the tape says where the value of each of those
 * keys is. The consumer reads the values from their places without
 * scanning the record: the scanning, and the matching of keys, move to the
 * thread that otherwise waits on the network.
 *
 * An entry is a hint, never the authority: the consumer's splitter alone
 * says where records start, and uses an entry only when one was made at
 * that very byte. An entry made at a byte that turns out not to start a
 * record (a line inside a record written over several lines) is never
 * asked for; bytes the tape cannot index (an escaped key, a key looked for
 * twice, a record cut by the ring's end or over 64 KiB, anything not JSON)
 * get no entry, and the consumer decodes them itself, errors included.
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

/* The most top-level keys a tape looks for, and the longest. */
#define BX_TAPE_KEYS 8
#define BX_TAPE_KEY_MAX 255

/* The top-level keys a tape looks for: the ones a consumer's projection
 * starts with. bits has each key's bx_key_bit (bytes.h), so most members
 * of a record are turned away without a compare. */
typedef struct bx_tape_keys {
    int n;
    uint64_t bits;
    const char *key[BX_TAPE_KEYS];
    uint8_t len[BX_TAPE_KEYS];
} bx_tape_keys;

/* Adds a key (its bytes are not copied); 0 when keys has BX_TAPE_KEYS
 * already, or the key is longer than BX_TAPE_KEY_MAX. */
int bx_tape_keys_add(bx_tape_keys *keys, const char *key, size_t len);

/* A found key's value: a string without escapes (its bytes are the value),
 * a string to unescape, or anything else (decoded from its place). */
enum { BX_TAPE_STRING, BX_TAPE_ESCAPED, BX_TAPE_OTHER };

/* An entry: where the record is, and where the value of each key looked
 * for is in it. One cache line: the consumer's thread reads it from the
 * line the pump's thread wrote. Records are at most 64 KiB (bx_tape_scan),
 * so a place within one fits 16 bits. */
typedef struct bx_tape_record {
    uint64_t offset;                  /* the record's '{', in the stream's bytes */
    uint32_t len;                     /* up to and including its '}' */
    uint16_t found;                   /* bit k: keys->key[k] is a member */
    uint8_t kind[BX_TAPE_KEYS];       /* found key k's value ... */
    uint16_t value_off[BX_TAPE_KEYS]; /* ... its first byte (a string's quote) ... */
    uint16_t value_len[BX_TAPE_KEYS]; /* ... and its bytes, quotes included */
    uint8_t spare[64 - 14 - 5 * BX_TAPE_KEYS];
} bx_tape_record;

/* The keys of the members of the last records scanned, in their order:
 * records of an export most often share their layout, so a member whose
 * key is the one remembered at its place (with its closing quote, byte for
 * byte) is known without a scan of the key: a plain string, and which of
 * the keys looked for it is. Only keys found plain (no escape, no control
 * character) are remembered. */
#define BX_TAPE_LAYOUT_MEMBERS 32
#define BX_TAPE_LAYOUT_KEY_MAX 32

typedef struct bx_tape_layout {
    int n;                               /* members remembered */
    uint8_t len[BX_TAPE_LAYOUT_MEMBERS]; /* member m's key length ... */
    int8_t k[BX_TAPE_LAYOUT_MEMBERS];    /* ... which key looked for it is, or -1 ... */
    char key[BX_TAPE_LAYOUT_MEMBERS][BX_TAPE_LAYOUT_KEY_MAX + 1]; /* ... its bytes and '"' */
} bx_tape_layout;

/* What bx_tape_scan found at p. */
enum {
    BX_TAPE_OK,   /* an object, whole and valid: *rec filled */
    BX_TAPE_MORE, /* it runs past end */
    BX_TAPE_SKIP  /* not an object the tape indexes */
};

/* Scans the object starting at p ('{') within [p, end), checking every
 * member, for the members named by keys: on BX_TAPE_OK rec->len, found and
 * their places are set (not offset), *next is past its '}'. An object
 * still going after 64 KiB, one with a key escaped (it could be one looked
 * for), or one holding a key looked for twice is BX_TAPE_SKIP. layout, when
 * not NULL, is the memory of the records scanned before with it (zeroed
 * first, for the same keys): the outcome is the same with or without. */
int bx_tape_scan(const bx_tape_keys *keys, bx_tape_layout *layout, const char *p, const char *end,
                 bx_tape_record *rec, const char **next);

/* Each side's fields on cache lines of their own (the pads): the consumer
 * reads its cursor once a record, and a line the other thread keeps
 * writing would be fetched from that thread's core every time. */
#define BX_TAPE_PAD 64

typedef struct bx_tape {
    bx_tape_record *rec; /* set once: read by both */
    uint64_t cap;
    bx_tape_keys keys; /* set once, their bytes in key_bytes */
    char key_bytes[BX_TAPE_KEYS * BX_TAPE_KEY_MAX];
    char pad0[BX_TAPE_PAD];
    /* the producer's */
    uint64_t scan_off; /* the next byte to look at */
    uint64_t written;  /* entries written, not all published */
    uint64_t freed;    /* tail, as last exchanged */
    int synced;        /* scan_off starts a line */
    bx_tape_layout layout;
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

/* A tape of cap entries looking for keys (copied); NULL without memory.
 * synced: the stream's first byte starts a line (a stream from its start,
 * not a resumed one). */
bx_tape *bx_tape_new(size_t cap, int synced, const bx_tape_keys *keys);
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

/* The producer: the stream byte it has looked up to (every record before
 * it is indexed, or left to the decoder). */
static inline uint64_t bx_tape_scanned(const bx_tape *tp)
{
    return tp->scan_off;
}

/* The consumer: the entry made at stream byte `offset`, among those its
 * last exchange saw, or NULL; entries made before it are passed over for
 * good (records are asked for in the stream's order). */
const bx_tape_record *bx_tape_at(bx_tape *tp, uint64_t offset);

#endif
