/*
 * Tests of csrc/tape.c, the record index a stream's pump thread makes: what
 * one scan finds in a record (each member's key and value, checked as the
 * decoder checks a value it skips), what it leaves to the decoder, and the
 * ring of entries filled from the bytes of a ring buffer and looked up in
 * the stream's order. Each input is its own exact-size allocation, so a read
 * past it is an ASan error.
 */
#include "../../csrc/jsondecode.h"
#include "../../csrc/tape.h"
#include "harness.h"

/* "key=value|key=value" from an entry, values as their bytes in the input,
 * with the kind's letter (s: plain string, e: escaped string, o: other). */
static void describe(const char *p, const bx_tape_record *rec, sbuf *out)
{
    uint16_t i;
    for (i = 0; i < rec->nmembers; i++) {
        const bx_tape_member *m = &rec->member[i];
        if (i > 0)
            sb_str(out, "|");
        sb_add(out, p + m->key_off, m->key_len);
        sb_str(out, m->kind == BX_TAPE_STRING ? "=s" : m->kind == BX_TAPE_ESCAPED ? "=e" : "=o");
        sb_add(out, p + m->value_off, m->value_len);
    }
}

/* The record doc is scanned whole (want: its members described), and every
 * prefix of it asks for more. */
static void scan_case(const char *doc, const char *want)
{
    size_t len = strlen(doc), cut;
    char *copy = dup_chunk(doc, len);
    const char *next = NULL;
    bx_tape_record rec;
    sbuf got = {0};
    int rc = bx_tape_scan(copy, copy + len, &rec, &next);
    if (rc == BX_TAPE_OK)
        describe(copy, &rec, &got);
    sb_add(&got, "", 0);
    check(rc == BX_TAPE_OK && rec.len == len && next == copy + len && strcmp(got.s, want) == 0,
          "scan %s: rc %d, len %u, got %s, want %s", doc, rc, rc == BX_TAPE_OK ? rec.len : 0, got.s,
          want);
    free(copy);
    free(got.s);
    for (cut = 1; cut < len; cut++) {
        copy = dup_chunk(doc, cut);
        rc = bx_tape_scan(copy, copy + cut, &rec, &next);
        check(rc == BX_TAPE_MORE, "scan %s cut at %zu: rc %d, want MORE", doc, cut, rc);
        free(copy);
    }
}

/* doc is left to the decoder, whole or cut anywhere (or asks for more). */
static void skip_case(const char *doc)
{
    size_t len = strlen(doc), cut;
    const char *next;
    bx_tape_record rec;
    for (cut = 1; cut <= len; cut++) {
        char *copy = dup_chunk(doc, cut);
        int rc = bx_tape_scan(copy, copy + cut, &rec, &next);
        check(rc == BX_TAPE_SKIP || (rc == BX_TAPE_MORE && cut < len),
              "scan %s cut at %zu: rc %d, want SKIP (or MORE before the end)", doc, cut, rc);
        free(copy);
    }
}

static void test_scan(void)
{
    char many[512];
    size_t n = 0;
    int i;
    scan_case("{}", "");
    scan_case("{ }", "");
    scan_case("{\"a\":1}", "a=o1");
    scan_case("{\"id\":\"user-1\",\"n\":[1,{\"x\":\"}\"}],\"e\":\"a\\\"b\",\"t\":true,\"z\":null}",
              "id=s\"user-1\"|n=o[1,{\"x\":\"}\"}]|e=e\"a\\\"b\"|t=otrue|z=onull");
    scan_case("{ \"a\" : { \"b\" : 2 } , \"c\" :\n-1.5e3 }", "a=o{ \"b\" : 2 }|c=o-1.5e3");
    scan_case("{\"\":\"\"}", "=s\"\"");
    scan_case("{\"a\":1,\"a\":2}", "a=o1|a=o2");
    skip_case("{\"\\u0061\":1}"); /* an escaped key */
    skip_case("{\"a\":[1,}");     /* not JSON, in any member */
    skip_case("{\"a\":1,}");
    skip_case("{\"a\" 1}");
    skip_case("{\"a\":01}");
    skip_case("{\"a\":\"\x01\"}");
    skip_case("{1:1}");
    skip_case("{\"a\":1 \"b\":2}");
    /* BX_TAPE_MEMBERS members are indexed, one more is not */
    n += (size_t)snprintf(many + n, sizeof many - n, "{");
    for (i = 0; i < BX_TAPE_MEMBERS; i++)
        n += (size_t)snprintf(many + n, sizeof many - n, "%s\"k%d\":%d", i ? "," : "", i, i);
    many[n] = '\0';
    {
        char whole[600];
        bx_tape_record rec;
        const char *next;
        snprintf(whole, sizeof whole, "%s}", many);
        check(bx_tape_scan(whole, whole + strlen(whole), &rec, &next) == BX_TAPE_OK &&
                  rec.nmembers == BX_TAPE_MEMBERS,
              "%d members are indexed", BX_TAPE_MEMBERS);
        snprintf(whole, sizeof whole, "%s,\"last\":0}", many);
        skip_case(whole);
    }
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
        uint16_t m;
        int ok = rec->offset < len && stream[rec->offset] == '{' &&
                 bx_tape_scan(stream + rec->offset, stream + len, &again, &next) == BX_TAPE_OK &&
                 again.len == rec->len && again.nmembers == rec->nmembers;
        for (m = 0; ok && m < rec->nmembers; m++) {
            const bx_tape_member *a = &again.member[m], *b = &rec->member[m];
            ok = a->key_off == b->key_off && a->key_len == b->key_len &&
                 a->value_off == b->value_off && a->value_len == b->value_len && a->kind == b->kind;
        }
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
                                 "{\"\\u0064\":4}\n{\"e\":\n{\"f\":5}}\n[1]\n{\"g\":7} {\"h\":8}\n";
    /* the records the tape indexes: "d" has an escaped key, "e" spans two
     * lines (when the ring's end cuts it, the object on its second line is
     * indexed instead: never asked for, since no record starts there) */
    static const char *const want[] = {"{\"a\"", "{\"b\"", "{\"c\"", "{\"e\"", "{\"g\"", "{\"h\""};
    size_t len = sizeof stream - 1, all = sizeof want / sizeof want[0], ring_cap, at, k;
    for (ring_cap = len; ring_cap <= len + 7; ring_cap += 7) {
        for (at = 0; at < ring_cap; at += 5) {
            char *ring = ring_of(stream, len, ring_cap, at);
            bx_tape *tp = bx_tape_new(16, 1);
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
    bx_tape *tp = bx_tape_new(2, 1);
    uint64_t w;
    /* full: the fill stops at the first record it has no room for */
    w = produce(tp, stream, len, 0, 0, len);
    check(w == 2 && tp->scan_off == 16, "a full tape waits: %llu entries, at %llu",
          (unsigned long long)w, (unsigned long long)tp->scan_off);
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
    tp = bx_tape_new(8, 1);
    w = produce(tp, stream + 4, len - 4, 0, 4, len - 4);
    check(w == 3 && tp->rec[0].offset == 8, "resynced at the next line: %llu entries",
          (unsigned long long)w);
    bx_tape_free(tp);
    /* a stream resumed mid-record: nothing until the first newline */
    tp = bx_tape_new(8, 0);
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
    test_fill();
    test_fill_bounds();
    return summary();
}
