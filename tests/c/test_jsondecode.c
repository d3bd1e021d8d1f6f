/*
 * Tests of csrc/jsondecode.c (the strict scanners) and of the one-pass path
 * through jsonsplit_decode(): every document is cut at every byte into two
 * chunks (each its own exact-size allocation, so a read past a chunk is an
 * ASan error), and the records decoded must be those jsonsplit_next() finds
 * in one piece; a malformed document must fail in every cut.
 */
#include "../../csrc/jsondecode.h"
#include "../../csrc/jsonsplit.h"
#include "harness.h"

/* ---- the scanners ---- */

static void validate_case(const char *doc, int want, long at)
{
    const char *stop = NULL;
    size_t len = strlen(doc);
    char *copy = dup_chunk(doc, len);
    int rc;
    long got_at;
    if (len == 0)
        copy[0] = '\0';    /* never read: len says so; keeps the compiler calm */
    rc = jsondecode_validate(copy, len, &stop);
    got_at = (long)(stop - copy);
    check(rc == want && (want == JSONDECODE_OK || got_at == at),
          "validate %s: got %d at %ld, want %d at %ld", doc, rc, got_at, want, at);
    free(copy);
}

static void test_validate(void)
{
    static const char *const good[] = {
        "{}", "[]", "0", "-0", "-0.5e-3", "1E+9", "123456789012345678901234567890", "\"\"",
        "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"", " {\"a\" : [ true , false , null ] } ",
        "{\"a\":{\"b\":{\"c\":[[[]]]}}}", "\"\xc3\xa9 raw utf-8\"", "[1,\"x\",{\"k\":-2}]",
    };
    size_t i;
    for (i = 0; i < sizeof good / sizeof good[0]; i++)
        validate_case(good[i], JSONDECODE_OK, 0);
    validate_case("01", JSONDECODE_ERR_NUMBER, 1);
    validate_case("-", JSONDECODE_ERR_END, 1);
    validate_case("1.", JSONDECODE_ERR_END, 2);
    validate_case("1.e5", JSONDECODE_ERR_NUMBER, 2);
    validate_case("+1", JSONDECODE_ERR_SYNTAX, 0);
    validate_case("NaN", JSONDECODE_ERR_SYNTAX, 0);
    validate_case("nul", JSONDECODE_ERR_END, 3);
    validate_case("nulL", JSONDECODE_ERR_SYNTAX, 3);
    validate_case("\"a\x01\"", JSONDECODE_ERR_STRING, 2);
    validate_case("\"\\x\"", JSONDECODE_ERR_STRING, 1);
    validate_case("\"\\u12g4\"", JSONDECODE_ERR_STRING, 1);
    validate_case("\"\\udc00\"", JSONDECODE_ERR_STRING, 1);
    validate_case("\"\\ud800\"", JSONDECODE_ERR_STRING, 1);
    validate_case("\"\\ud800\\u0041\"", JSONDECODE_ERR_STRING, 1);
    validate_case("[1,]", JSONDECODE_ERR_SYNTAX, 3);
    validate_case("{\"a\":1,}", JSONDECODE_ERR_SYNTAX, 7);
    validate_case("{\"a\" 1}", JSONDECODE_ERR_SYNTAX, 5);
    validate_case("{1:1}", JSONDECODE_ERR_SYNTAX, 1);
    validate_case("[1}", JSONDECODE_ERR_SYNTAX, 2);
    validate_case("{} {}", JSONDECODE_ERR_SYNTAX, 3);
    validate_case("", JSONDECODE_ERR_END, 0);
    validate_case("[", JSONDECODE_ERR_END, 1);
}

static void test_depth(void)
{
    char doc[2 * (JSONDECODE_MAX_DEPTH + 1) + 1];
    const char *stop;
    size_t i, n = JSONDECODE_MAX_DEPTH;
    for (i = 0; i < n; i++) {
        doc[i] = '[';
        doc[2 * n - 1 - i] = ']';
    }
    check(jsondecode_validate(doc, 2 * n, &stop) == JSONDECODE_OK, "depth %zu accepted", n);
    n++;
    for (i = 0; i < n; i++) {
        doc[i] = '[';
        doc[2 * n - 1 - i] = ']';
    }
    check(jsondecode_validate(doc, 2 * n, &stop) == JSONDECODE_ERR_DEPTH, "depth %zu refused", n);
}

static void unescape_case(const char *lit, const char *want, size_t want_len)
{
    const char *stop;
    int escaped;
    size_t len = strlen(lit), n;
    char out[64];
    int rc = jsondecode_string(lit, lit + len, 0, &stop, &escaped);
    check(rc == JSONDECODE_OK && *stop == '"', "string %s scanned", lit);
    n = jsondecode_unescape(lit, stop, out);
    check(n == want_len && memcmp(out, want, n) == 0, "unescape %s", lit);
}

static void test_unescape(void)
{
    unescape_case("plain\"", "plain", 5);
    unescape_case("a\\nb\\t\\\"\\\\\\/\"", "a\nb\t\"\\/", 7);
    unescape_case("\\u0041\\u00e9\\u20ac\"", "A\xc3\xa9\xe2\x82\xac", 6);
    unescape_case("\\ud83d\\ude00!\"", "\xf0\x9f\x98\x80!", 5);
    unescape_case("nul\\u0000l\"", "nul\0l", 5);
}

static void test_numbers(void)
{
    static const struct { const char *s; int integer; int64_t i; double d; } cases[] = {
        {"0", 1, 0, 0}, {"-0", 1, 0, 0}, {"42", 1, 42, 42},
        {"9223372036854775807", 1, INT64_MAX, 0}, {"-9223372036854775808", 1, INT64_MIN, 0},
        {"9223372036854775808", 0, 0, 9223372036854775808.0}, {"1.5", 0, 0, 1.5}, {"1e2", 0, 0, 100.0},
        {"-2.5E-1", 0, 0, -0.25},
    };
    size_t k;
    for (k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        jsondecode_number_t n;
        const char *stop;
        size_t len = strlen(cases[k].s);
        int rc = jsondecode_number(cases[k].s, cases[k].s + len, 0, &stop, &n);
        check(rc == JSONDECODE_OK && stop == cases[k].s + len && n.integer == cases[k].integer &&
              (n.integer ? n.i == cases[k].i : n.d == cases[k].d), "number %s", cases[k].s);
    }
}

/* ---- every split point through jsonsplit_decode ---- */

typedef struct {
    sbuf out;
    int fast, slow;     /* records decoded in place, and gathered first */
} collect;

static int skip_decoder(void *ctx, const char *p, size_t len, int whole, size_t *used)
{
    collect *c = ctx;
    const char *stop;
    int rc = jsondecode_skip(p, p + len, !whole, 0, &stop);
    *used = (size_t)(stop - p);
    if (rc == JSONDECODE_OK) {
        sb_add(&c->out, p, *used);
        sb_str(&c->out, R);
        if (whole)
            c->slow++;
        else
            c->fast++;
        return 1;
    }
    return rc == JSONDECODE_MORE ? 0 : rc;
}

/* Feeds the chunks; returns 0, or the error code with *at its offset. */
static int run_decode(jsonsplit *s, collect *c, const char *const *chunks, const size_t *lens,
                      int n, uint64_t *at)
{
    int k;
    for (k = 0; k < n; k++) {
        const char *p = chunks[k];
        size_t len = lens[k];
        while (1) {
            size_t used = 0;
            int rc = jsonsplit_decode(s, p, len, &used, skip_decoder, c);
            check(used <= len, "consumed within the chunk");
            if (rc < 0) {
                *at = jsonsplit_offset(s);
                return rc;
            }
            p += used;
            len -= used;
            if (rc == JSONSPLIT_NEED_MORE)
                break;
        }
    }
    if (jsonsplit_finish(s) != JSONSPLIT_END) {
        *at = jsonsplit_offset(s);
        return jsonsplit_finish(s);
    }
    return 0;
}

static void split_case(const char *name, const char *doc, size_t max, int valid)
{
    size_t len = strlen(doc), cut;
    collect whole = {{0}, 0, 0};
    jsonsplit *s = jsonsplit_new(max);
    const char *one[1];
    size_t one_len[1];
    uint64_t whole_at = 0;
    int whole_rc;
    char *copy = dup_chunk(doc, len);
    one[0] = copy;
    one_len[0] = len;
    whole_rc = run_decode(s, &whole, one, one_len, 1, &whole_at);
    jsonsplit_free(s);
    free(copy);
    check(valid ? whole_rc == 0 : whole_rc < 0, "%s: one piece %s (rc %d at %llu)", name,
          valid ? "accepted" : "refused", whole_rc, (unsigned long long)whole_at);
    for (cut = 0; cut <= len; cut++) {
        collect c = {{0}, 0, 0};
        const char *chunks[2];
        size_t lens[2] = {cut, len - cut};
        uint64_t at = 0;
        int rc;
        char *a = dup_chunk(doc, cut), *b = dup_chunk(doc + cut, len - cut);
        chunks[0] = a;
        chunks[1] = b;
        s = jsonsplit_new(max);
        rc = run_decode(s, &c, chunks, lens, 2, &at);
        g_feeds++;
        if (valid) {
            check(rc == 0 && c.out.len == whole.out.len &&
                  memcmp(c.out.s ? c.out.s : "", whole.out.s ? whole.out.s : "", c.out.len) == 0,
                  "%s: cut at %zu gives the same records (rc %d)", name, cut, rc);
        } else {
            check(rc < 0, "%s: cut at %zu refused", name, cut);
            if (cut > whole_at)
                check(rc == whole_rc && at == whole_at, "%s: cut at %zu after the bad byte: same error "
                      "(%d at %llu, want %d at %llu)", name, cut, rc, (unsigned long long)at, whole_rc,
                      (unsigned long long)whole_at);
        }
        jsonsplit_free(s);
        free(a);
        free(b);
        free(c.out.s);
    }
    free(whole.out.s);
}

/* The records of the documents, as jsonsplit_next() frames them: the
 * one-pass path must frame them alike. */
static void same_as_splitter(const char *name, const char *doc)
{
    size_t len = strlen(doc);
    jsonsplit *s = jsonsplit_new(0), *t = jsonsplit_new(0);
    collect c = {{0}, 0, 0};
    sbuf want = {0};
    const char *p = doc;
    size_t left = len;
    uint64_t at;
    const char *one[1] = {doc};
    size_t one_len[1] = {len};
    while (1) {
        size_t used, rec_len;
        const char *rec;
        int rc = jsonsplit_next(t, p, left, &used, &rec, &rec_len);
        if (rc != JSONSPLIT_RECORD)
            break;
        sb_add(&want, rec, rec_len);
        sb_str(&want, R);
        p += used;
        left -= used;
    }
    check(run_decode(s, &c, one, one_len, 1, &at) == 0 && c.out.len == want.len &&
          memcmp(c.out.s, want.s, want.len) == 0, "%s: framed as jsonsplit_next frames it", name);
    jsonsplit_free(s);
    jsonsplit_free(t);
    free(c.out.s);
    free(want.s);
}

static const char k_ndjson[] =
    "{\"custom_id\":\"user-0000001\",\"attributes\":{\"$email_address\":\"alice1@example.com\","
    "\"$language\":\"fr\",\"$email_marketing\":null,\"score\":-12.5e-1,\"n\":42}}\n"
    "{\"custom_id\":\"acme \\\"vip\\\" 2\",\"installation_ids\":[\"a\",\"b\"],\"attributes\":"
    "{\"name\":\"Zo\\u00eb \\ud83d\\ude80\",\"note\":\"{braces} [brackets] \\\\ back\",\"ok\":true}}\r\n"
    "\n{\"event\":\"push_open\",\"ts\":1700000000,\"tags\":[[],{},[1,[2,[3]]]]}\n";

static const char k_array[] =
    "\xef\xbb\xbf[\n{\"a\":1},\n{\"b\":[true,false,null]}, 12.5e3 ,\"s\\n\",null,-0,\n{\"c\":{}}\n]\n";

static void test_splits(void)
{
    split_case("ndjson", k_ndjson, 0, 1);
    split_case("array", k_array, 0, 1);
    split_case("array of literals", "[1,22,333,true,false,null,4.5e-6]", 0, 1);
    split_case("small cap", "{\"a\":\"0123456789\"}\n{\"b\":[1,2,3]}\n", 20, 1);
    same_as_splitter("ndjson", k_ndjson);
    same_as_splitter("array", k_array);
    split_case("leading zero", "{\"a\":1}\n{\"a\":01}\n", 0, 0);
    split_case("bad escape", "{\"a\":\"x\"}\n{\"a\":\"\\q\"}\n", 0, 0);
    split_case("control character", "{\"a\":\"x\ty\"}\n", 0, 0);
    split_case("trailing comma", "{\"a\":[1,2,]}\n", 0, 0);
    split_case("missing colon", "{\"a\" 1}\n", 0, 0);
    split_case("bad literal", "[1,tru,3]", 0, 0);
    split_case("glued values", "[1{\"a\":2}]", 0, 0);
    split_case("truncated", "{\"a\":[1,2", 0, 0);
    split_case("too large", "{\"a\":\"0123456789\"}\n", 10, 0);
    split_case("mismatched", "{\"a\":[1}\n{\"b\":2}\n", 0, 0);
}

/* The block scanner (SSE2 or eight bytes at a time) against a byte at a
 * time: every byte value at every position of strings of 0 to 40 plain
 * bytes, the string's end anywhere around a block's edge. */
static int plain_byte(unsigned char c)
{
    return c >= 0x20 && c != '"' && c != '\\';
}

static void test_string_blocks(void)
{
    char buf[64];
    size_t len, at;
    unsigned v;
    unsigned long wrong = 0;
    for (len = 0; len <= 40; len++) {
        for (at = 0; at <= len; at++) {
            for (v = 0; v < 256; v++) {
                const char *stop = NULL;
                int escaped = 0, rc;
                size_t want = at < len && !plain_byte((unsigned char)v) ? at : len;
                memset(buf, 'a', sizeof buf);
                buf[len] = '"';
                if (at < len)
                    buf[at] = (char)v;
                rc = jsondecode_string(buf, buf + sizeof buf, 0, &stop, &escaped);
                if (want == len || buf[want] == '"') {
                    if (rc != JSONDECODE_OK || stop != buf + want || escaped)
                        wrong++;
                } else if (buf[want] == '\\') {
                    if (stop < buf + want || (rc == JSONDECODE_OK && !escaped))
                        wrong++;
                } else if (rc != JSONDECODE_ERR_STRING || stop != buf + want) {
                    wrong++;
                }
            }
        }
    }
    check(wrong == 0, "block string scanner: %lu of the cases differ from a byte at a time", wrong);
}

int main(void)
{
    (void)check_all_splits;     /* the harness's drivers serve the other tests */
    (void)fail_case;
    (void)printable;
    test_validate();
    test_depth();
    test_unescape();
    test_numbers();
    test_string_blocks();
    test_splits();
    printf("jsondecode: %lu parses over all split points\n", g_feeds);
    return summary();
}
