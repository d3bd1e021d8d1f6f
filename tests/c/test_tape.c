/*
 * Tests of csrc/tape.c, the record index a stream's pump thread makes: what
 * one scan finds in a record (where the values of the keys looked for are,
 * every member checked as the decoder checks a value it skips), what it
 * leaves to the decoder, and the
 * ring of entries filled from the bytes of a ring buffer and looked up in
 * the stream's order. Each input is its own exact-size allocation, so a read
 * past it is an ASan error.
 */
#include "../../csrc/jsondecode.h"
#include "../../csrc/tape.h"
#include "harness.h"

/* Keys to look for, from a NULL-terminated list: KEYS("a", "b"). */
#define KEYS(...) keys_of((const char *const[]){__VA_ARGS__, NULL})

static bx_tape_keys keys_of(const char *const *list)
{
    bx_tape_keys keys;
    memset(&keys, 0, sizeof keys);
    for (; *list; list++)
        check(bx_tape_keys_add(&keys, *list, strlen(*list)), "key %s is taken", *list);
    return keys;
}

/* "key=value|key=value" from an entry, in the keys' order, for the keys
 * found: values as their bytes in the input, with the kind's letter (s:
 * plain string, e: escaped string, o: other). */
static void describe(const bx_tape_keys *keys, const char *p, const bx_tape_record *rec, sbuf *out)
{
    int k, first = 1;
    for (k = 0; k < keys->n; k++) {
        if (!(rec->found & (1u << k)))
            continue;
        if (!first)
            sb_str(out, "|");
        first = 0;
        sb_add(out, keys->key[k], keys->len[k]);
        sb_str(out, rec->kind[k] == BX_TAPE_STRING    ? "=s"
                    : rec->kind[k] == BX_TAPE_ESCAPED ? "=e"
                                                      : "=o");
        sb_add(out, p + rec->value_off[k], rec->value_len[k]);
    }
}

/* The record doc is scanned whole for keys (want: the found ones
 * described), and every prefix of it asks for more. */
static void scan_case(bx_tape_keys keys, const char *doc, const char *want)
{
    size_t len = strlen(doc), cut;
    char *copy = dup_chunk(doc, len);
    const char *next = NULL;
    bx_tape_record rec;
    sbuf got = {0};
    int rc = bx_tape_scan(&keys, NULL, copy, copy + len, &rec, &next);
    if (rc == BX_TAPE_OK)
        describe(&keys, copy, &rec, &got);
    sb_add(&got, "", 0);
    check(rc == BX_TAPE_OK && rec.len == len && next == copy + len && strcmp(got.s, want) == 0,
          "scan %.80s: rc %d, len %u, got %.200s, want %.200s", doc, rc,
          rc == BX_TAPE_OK ? rec.len : 0, got.s, want);
    free(copy);
    free(got.s);
    for (cut = 1; cut < len; cut++) {
        copy = dup_chunk(doc, cut);
        rc = bx_tape_scan(&keys, NULL, copy, copy + cut, &rec, &next);
        check(rc == BX_TAPE_MORE, "scan %.80s cut at %zu: rc %d, want MORE", doc, cut, rc);
        free(copy);
    }
}

/* doc is left to the decoder, whole or cut anywhere (or asks for more). */
static void skip_case(bx_tape_keys keys, const char *doc)
{
    size_t len = strlen(doc), cut;
    const char *next;
    bx_tape_record rec;
    for (cut = 1; cut <= len; cut++) {
        char *copy = dup_chunk(doc, cut);
        int rc = bx_tape_scan(&keys, NULL, copy, copy + cut, &rec, &next);
        check(rc == BX_TAPE_SKIP || (rc == BX_TAPE_MORE && cut < len),
              "scan %.80s cut at %zu: rc %d, want SKIP (or MORE before the end)", doc, cut, rc);
        free(copy);
    }
}

static void test_scan(void)
{
    static const char rich[] =
        "{\"id\":\"user-1\",\"n\":[1,{\"x\":\"}\"}],\"e\":\"a\\\"b\",\"t\":true,\"z\":null}";
    scan_case(KEYS("a"), "{}", "");
    scan_case(KEYS("a"), "{ }", "");
    scan_case(KEYS("a"), "{\"a\":1}", "a=o1");
    scan_case(KEYS("id", "n", "e", "t", "z"), rich,
              "id=s\"user-1\"|n=o[1,{\"x\":\"}\"}]|e=e\"a\\\"b\"|t=otrue|z=onull");
    /* only the keys looked for, in their order; the others checked */
    scan_case(KEYS("z", "id"), rich, "z=onull|id=s\"user-1\"");
    scan_case(KEYS("x"), rich, ""); /* a key inside a value is not a member */
    scan_case(KEYS("a", "c"), "{ \"a\" : { \"b\" : 2 } , \"c\" :\n-1.5e3 }",
              "a=o{ \"b\" : 2 }|c=o-1.5e3");
    scan_case(KEYS(""), "{\"\":\"\"}", "=s\"\"");
    /* the same length and first byte (the same bit), other bytes */
    scan_case(KEYS("ab"), "{\"ac\":1,\"ab\":2}", "ab=o2");
    /* a key not looked for may repeat; one looked for may not */
    scan_case(KEYS("b"), "{\"a\":1,\"a\":2,\"b\":3}", "b=o3");
    skip_case(KEYS("a"), "{\"a\":1,\"a\":2}");
    skip_case(KEYS("zz"), "{\"\\u0061\":1}"); /* an escaped key, whichever */
    skip_case(KEYS("zz"), "{\"a\":[1,}");     /* not JSON, in any member */
    skip_case(KEYS("zz"), "{\"a\":1,}");
    skip_case(KEYS("zz"), "{\"a\" 1}");
    skip_case(KEYS("zz"), "{\"a\":01}");
    skip_case(KEYS("zz"), "{\"a\":\"\x01\"}");
    skip_case(KEYS("a"), "{\"a\":\"\x01\"}");
    skip_case(KEYS("zz"), "{1:1}");
    skip_case(KEYS("zz"), "{\"a\":1 \"b\":2}");
}

static void test_scan_bounds(void)
{
    bx_tape_keys keys;
    bx_tape_record rec;
    const char *next;
    char many[1024], *big;
    size_t n = 0, len;
    int i;
    /* any number of members */
    n += (size_t)snprintf(many + n, sizeof many - n, "{");
    for (i = 0; i < 40; i++)
        n += (size_t)snprintf(many + n, sizeof many - n, "%s\"k%d\":%d", i ? "," : "", i, i);
    snprintf(many + n, sizeof many - n, "}");
    scan_case(KEYS("k39", "k0"), many, "k39=o39|k0=o0");
    /* BX_TAPE_KEYS keys of up to BX_TAPE_KEY_MAX bytes */
    memset(&keys, 0, sizeof keys);
    memset(many, 'k', BX_TAPE_KEY_MAX + 1);
    for (i = 0; i < BX_TAPE_KEYS; i++)
        check(bx_tape_keys_add(&keys, many, (size_t)i + 1), "key %d of %d", i + 1, BX_TAPE_KEYS);
    check(!bx_tape_keys_add(&keys, "x", 1), "one key too many");
    memset(&keys, 0, sizeof keys);
    check(bx_tape_keys_add(&keys, many, BX_TAPE_KEY_MAX) &&
              !bx_tape_keys_add(&keys, many, BX_TAPE_KEY_MAX + 1),
          "a key of %d bytes, not one more", BX_TAPE_KEY_MAX);
    /* a record of 64 KiB, its last value's place past 32767: indexed; one
     * byte more: left to the decoder */
    for (len = 65536; len <= 65537; len++) {
        big = malloc(len + 1);
        n = (size_t)snprintf(big, len + 1, "{\"pad\":\"");
        memset(big + n, 'x', len - n);
        memcpy(big + len - 12, "\",\"v\":\"end\"}", 12);
        keys = KEYS("v");
        i = bx_tape_scan(&keys, NULL, big, big + len, &rec, &next);
        if (len == 65536)
            check(i == BX_TAPE_OK && rec.len == len && rec.found == 1 &&
                      rec.value_off[0] == len - 6 && rec.value_len[0] == 5 &&
                      memcmp(big + rec.value_off[0], "\"end\"", 5) == 0,
                  "a record of 64 KiB: rc %d", i);
        else
            check(i == BX_TAPE_SKIP, "a record over 64 KiB: rc %d", i);
        free(big);
    }
}

/* Records scanned in turn with one layout memory give, each, what a scan
 * without memory gives: whatever keys came before at the same places. */
static void layout_case(bx_tape_keys keys, const char *const *docs)
{
    bx_tape_layout layout;
    memset(&layout, 0, sizeof layout);
    for (; *docs; docs++) {
        size_t len = strlen(*docs), cut;
        char *copy = dup_chunk(*docs, len);
        /* every prefix too: a record cut short, then whole */
        for (cut = 1; cut <= len; cut++) {
            bx_tape_record with, without;
            const char *next_with = NULL, *next_without = NULL;
            sbuf a = {0}, b = {0};
            int rc_with = bx_tape_scan(&keys, &layout, copy, copy + cut, &with, &next_with);
            int rc_without = bx_tape_scan(&keys, NULL, copy, copy + cut, &without, &next_without);
            if (rc_with == BX_TAPE_OK)
                describe(&keys, copy, &with, &a);
            if (rc_without == BX_TAPE_OK)
                describe(&keys, copy, &without, &b);
            sb_add(&a, "", 0);
            sb_add(&b, "", 0);
            check(rc_with == rc_without && next_with == next_without && strcmp(a.s, b.s) == 0 &&
                      (rc_with != BX_TAPE_OK || with.len == without.len),
                  "layout: %.80s cut at %zu: rc %d with the memory, %d without; %s against %s",
                  *docs, cut, rc_with, rc_without, a.s, b.s);
            free(a.s);
            free(b.s);
        }
        free(copy);
    }
}

static void test_layout(void)
{
    static const char *const same[] = {
        "{\"custom_id\":\"u1\",\"ids\":[\"a\",\"b\"],\"$email_address\":\"a@x\",\"n\":1}",
        "{\"custom_id\":\"u2\",\"ids\":[],\"$email_address\":\"b@x\",\"n\":2}",
        "{\"custom_id\":null,\"ids\":[\"c\"],\"$email_address\":\"c\\u0040x\",\"n\":3}", NULL};
    /* each key against one remembered at its place: a prefix of it, a key
     * it is a prefix of, the same bytes escaped or with a control
     * character, one key looked for moved, members added and removed */
    static const char *const changing[] = {"{\"ab\":1,\"id\":\"x\",\"c\":3}",
                                           "{\"a\":1,\"id\":\"x\",\"c\":3}",
                                           "{\"abc\":1,\"id\":\"x\",\"c\":3}",
                                           "{\"ab\":1,\"i\\u0064\":\"x\",\"c\":3}",
                                           "{\"ab\":1,\"id\":\"x\",\"c\":3}",
                                           "{\"ab\":1,\"i\td\":\"x\",\"c\":3}",
                                           "{\"ab\":1,\"c\":3,\"id\":\"y\"}",
                                           "{\"ab\":1,\"id\":\"x\",\"c\":3,\"id\":\"z\"}",
                                           "{\"ab\":1}",
                                           "{\"ab\":1,\"id\":\"x\",\"c\":3}",
                                           "{\"ab\":1,\"id\":\"x\",\"c\":3}",
                                           NULL};
    static char long_key[200];
    static const char *const long_keys[] = {long_key, long_key, NULL};
    int n = snprintf(long_key, sizeof long_key, "{\"%040d\":1,\"id\":\"x\"}", 7);
    check(n > 0 && (size_t)n < sizeof long_key, "long key record");
    layout_case(KEYS("custom_id", "$email_address"), same);
    layout_case(KEYS("id", "ab"), changing);
    layout_case(KEYS("id"), long_keys);
}

/* One round of the producer, as a stream's pump does it: its exchange, a
 * fill, its exchange again. Returns the entries written. */
static uint64_t produce(bx_tape *tp, const char *bytes, size_t ring_cap, size_t at, uint64_t from,
                        size_t len)
{
    bx_tape_producer_exchange(tp);
    bx_tape_fill(tp, bytes, ring_cap, at, from, len);
    bx_tape_producer_exchange(tp);
    return tp->written;
}

/* Every entry a fill made is the scan of the object at its offset, and
 * points at a '{' of the stream. */
static void check_entries(const char *stream, size_t len, bx_tape *tp, const char *what)
{
    uint64_t i;
    for (i = tp->tail; i < tp->written; i++) {
        const bx_tape_record *rec = &tp->rec[i % tp->cap];
        bx_tape_record again;
        const char *next;
        int k;
        int ok = rec->offset < len && stream[rec->offset] == '{' &&
                 bx_tape_scan(&tp->keys, NULL, stream + rec->offset, stream + len, &again, &next) ==
                     BX_TAPE_OK &&
                 again.len == rec->len && again.found == rec->found;
        for (k = 0; ok && k < tp->keys.n; k++)
            ok = !(rec->found & (1u << k)) ||
                 (again.value_off[k] == rec->value_off[k] &&
                  again.value_len[k] == rec->value_len[k] && again.kind[k] == rec->kind[k]);
        check(ok, "%s: entry %llu at %llu is the record there", what, (unsigned long long)i,
              (unsigned long long)rec->offset);
    }
}

/* The stream laid in a ring of ring_cap bytes starting at position at, as
 * a transfer's ring holds it. */
static char *ring_of(const char *stream, size_t len, size_t ring_cap, size_t at)
{
    char *ring = malloc(ring_cap);
    size_t i;
    for (i = 0; i < len; i++)
        ring[(at + i) % ring_cap] = stream[i];
    return ring;
}

static void test_fill(void)
{
    static const char stream[] = "{\"a\":1}\n{\"b\":\"x\"}\n\n{\"c\":[1,2]}\r\n"
                                 "{\"\\u0064\":4}\n{\"e\":\n{\"f\":5}}\n[1]\n{\"g\":7} {\"h\":8}\n"
                                 "{\"b\":1,\"b\":2}\n";
    /* the records the tape indexes: "d" has an escaped key, the last one a
     * key looked for twice, "e" spans two lines (when the ring's end cuts it, the object on its second line is
     * indexed instead: never asked for, since no record starts there) */
    static const char *const want[] = {"{\"a\"", "{\"b\"", "{\"c\"", "{\"e\"", "{\"g\"", "{\"h\""};
    size_t len = sizeof stream - 1, all = sizeof want / sizeof want[0], ring_cap, at, k;
    for (ring_cap = len; ring_cap <= len + 7; ring_cap += 7) {
        for (at = 0; at < ring_cap; at += 5) {
            char *ring = ring_of(stream, len, ring_cap, at);
            bx_tape_keys keys = KEYS("b", "f", "h");
            bx_tape *tp = bx_tape_new(16, 1, &keys);
            uint64_t written = 0;
            size_t got = 0, fed;
            /* fed a few bytes at a time, as a pump writes them */
            for (fed = 3; fed < len + 3; fed += 3)
                written = produce(tp, ring, ring_cap, at, 0, fed < len ? fed : len);
            check_entries(stream, len, tp, "fill");
            for (k = 0; k < all; k++) {
                uint64_t e;
                for (e = 0; e < written; e++)
                    if (strncmp(stream + tp->rec[e].offset, want[k], strlen(want[k])) == 0) {
                        got++;
                        break;
                    }
            }
            /* all of them, unless the ring's end cuts one: then that one
             * and the rest of its line (at most two here) are left to the
             * decoder */
            check(at + len <= ring_cap ? got == all && written == all
                                       : got + 2 >= all && written <= all + 1,
                  "ring %zu at %zu: %zu of the records indexed (%llu entries)", ring_cap, at, got,
                  (unsigned long long)written);
            /* the consumer finds each by its offset, in order */
            bx_tape_consumer_exchange(tp);
            for (k = 0; k < written; k++) {
                uint64_t off = tp->rec[k].offset;
                check(bx_tape_at(tp, off) == &tp->rec[k], "lookup of the entry at %llu",
                      (unsigned long long)off);
            }
            check(bx_tape_at(tp, len) == NULL, "no entry past the end");
            bx_tape_free(tp);
            free(ring);
        }
    }
}

static void test_fill_bounds(void)
{
    static const char stream[] = "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n{\"a\":4}\n";
    size_t len = sizeof stream - 1;
    char key[] = "a";
    bx_tape_keys keys;
    bx_tape *tp;
    uint64_t w;
    memset(&keys, 0, sizeof keys);
    bx_tape_keys_add(&keys, key, 1);
    tp = bx_tape_new(2, 1, &keys);
    key[0] = 'z'; /* the tape has its own copy */
    /* full: the fill stops at the first record it has no room for */
    w = produce(tp, stream, len, 0, 0, len);
    check(w == 2 && tp->scan_off == 16, "a full tape waits: %llu entries, at %llu",
          (unsigned long long)w, (unsigned long long)tp->scan_off);
    check(tp->rec[0].found == 1 && tp->rec[1].found == 1 && tp->rec[1].value_off[0] == 5,
          "the key looked for is found, from the tape's copy");
    /* room again (the consumer is done with both): the rest */
    bx_tape_consumer_exchange(tp);
    check(bx_tape_at(tp, 0) == &tp->rec[0] && bx_tape_at(tp, 8) == &tp->rec[1], "both seen");
    bx_tape_consumer_exchange(tp);
    w = produce(tp, stream, len, 0, 0, len);
    check(w == 4, "room made: %llu entries", (unsigned long long)w);
    check_entries(stream, len, tp, "bounds");
    bx_tape_free(tp);
    /* bytes consumed before they were scanned: the scan starts over after
     * the next newline past them */
    tp = bx_tape_new(8, 1, &keys);
    w = produce(tp, stream + 4, len - 4, 0, 4, len - 4);
    check(w == 3 && tp->rec[0].offset == 8, "resynced at the next line: %llu entries",
          (unsigned long long)w);
    bx_tape_free(tp);
    /* a stream resumed mid-record: nothing until the first newline */
    tp = bx_tape_new(8, 0, &keys);
    w = produce(tp, stream + 1, len - 1, 0, 0, len - 1);
    check(w == 3 && tp->rec[0].offset == 7, "a resumed stream starts at a line: %llu entries",
          (unsigned long long)w);
    bx_tape_free(tp);
}

int main(void)
{
    (void)check_all_splits; /* the harness's drivers serve the other tests */
    (void)fail_case;
    test_scan();
    test_scan_bounds();
    test_layout();
    test_fill();
    test_fill_bounds();
    return summary();
}
