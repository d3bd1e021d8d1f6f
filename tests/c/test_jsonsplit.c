/*
 * Exhaustive tests of jsonsplit: every document is parsed in one piece,
 * at every pair of split points and at every fixed chunk size, and the
 * records must match both a hand-written expectation and the one-shot
 * parse.  Prints one line per failed case and "N passed, N failed".
 */
#include "../../csrc/jsonsplit.h"
#include "harness.h"

#include <stdint.h>

typedef struct {
    size_t max;
} jcfg;

/* Linked with -Wl,--wrap=realloc (see Makefile) to record the largest
 * buffer jsonsplit ever asks for. */
void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);
static size_t g_max_realloc;

void *__wrap_realloc(void *p, size_t n)
{
    if (n > g_max_realloc)
        g_max_realloc = n;
    return __real_realloc(p, n);
}

static const char *code_name(int rc)
{
    switch (rc) {
    case JSONSPLIT_END: return "END";
    case JSONSPLIT_ERR_TOO_LARGE: return "TOO_LARGE";
    case JSONSPLIT_ERR_SYNTAX: return "SYNTAX";
    case JSONSPLIT_ERR_TRUNCATED: return "TRUNCATED";
    case JSONSPLIT_ERR_NOMEM: return "NOMEM";
    default: return "???";
    }
}

/* Feeds one chunk; returns 0 to go on, or the terminal error code. */
static int feed(jsonsplit *s, const char *chunk, size_t len, sbuf *out)
{
    for (;;) {
        size_t used = 0, rlen = 0;
        const char *rec = NULL;
        int rc = jsonsplit_next(s, chunk, len, &used, &rec, &rlen);

        if (used > len) {
            sb_str(out, "!CONSUMED_TOO_MUCH");
            return JSONSPLIT_ERR_SYNTAX;
        }
        if (rc == JSONSPLIT_NEED_MORE) {
            if (used != len)
                sb_str(out, "!NEED_MORE_NOT_ALL_CONSUMED");
            return 0;
        }
        if (rc != JSONSPLIT_RECORD)
            return rc;
        sb_add(out, rec, rlen);
        sb_str(out, R);
        chunk += used;
        len -= used;
    }
}

static char *run_json(const void *cfg, const char *doc, size_t n,
                      const size_t *ends, size_t nends)
{
    jsonsplit *s = jsonsplit_new(((const jcfg *)cfg)->max);
    sbuf out = { 0, 0, 0 };
    size_t i, at = 0;
    int rc = 0;

    (void)n;
    sb_add(&out, "", 0);
    for (i = 0; i < nends && rc == 0; i++) {
        char *c = dup_chunk(doc + at, ends[i] - at);

        rc = feed(s, c, ends[i] - at, &out);
        free(c);
        at = ends[i];
    }
    if (rc == 0)
        rc = jsonsplit_finish(s);
    sb_str(&out, "!");
    sb_str(&out, code_name(rc));
    jsonsplit_free(s);
    return out.s;
}

static void doc_case(const char *name, size_t max, const char *doc,
                     const char *want)
{
    jcfg cfg;

    cfg.max = max;
    check_all_splits(run_json, &cfg, name, doc, strlen(doc), want);
}

#define OK(recs) recs "!END"

static void test_layouts(void)
{
    /* Object streams: NDJSON, CRLF, concatenated, whitespace variety. */
    doc_case("ndjson", 0,
             "{\"a\":1}\n{\"b\":\"x{y}z\"}\n{\"c\":[1,2,{\"d\":\"]\"}]}\n",
             OK("{\"a\":1}" R "{\"b\":\"x{y}z\"}" R
                "{\"c\":[1,2,{\"d\":\"]\"}]}" R));
    doc_case("ndjson crlf, no final newline", 0,
             "{\"a\":\"b\"}\r\n{\"c\":{}}\r\n{\"d\":[]}",
             OK("{\"a\":\"b\"}" R "{\"c\":{}}" R "{\"d\":[]}" R));
    doc_case("concatenated", 0, "{\"a\":1}{\"b\":2}{}",
             OK("{\"a\":1}" R "{\"b\":2}" R "{}" R));
    doc_case("whitespace variety", 0,
             " \t\r\n{ \"a\" : 1 }\t\t{\n\"b\"\n:\n2\n}\r\n\r\n  \n",
             OK("{ \"a\" : 1 }" R "{\n\"b\"\n:\n2\n}" R));
    doc_case("empty objects", 0, "{}{}\n{}\n\n", OK("{}" R "{}" R "{}" R));

    /* Arrays. */
    doc_case("array of objects", 0, "[{\"a\":1},{\"b\":2}]",
             OK("{\"a\":1}" R "{\"b\":2}" R));
    doc_case("array with whitespace", 0,
             "[ \n {\"a\":1} ,\n\t{\"b\":[1,2]} \r\n]\n ",
             OK("{\"a\":1}" R "{\"b\":[1,2]}" R));
    doc_case("array of mixed values", 0,
             "[1, \"s,]\\\"\" ,true,null,-1.5e3,{\"x\":{}},[[]],[], \"\"]",
             OK("1" R "\"s,]\\\"\"" R "true" R "null" R "-1.5e3" R
                "{\"x\":{}}" R "[[]]" R "[]" R "\"\"" R));
    doc_case("empty array", 0, "[]", OK(""));
    doc_case("empty array, spaced", 0, "  [ \n\t]\r\n  ", OK(""));
    doc_case("array, nested arrays", 0, "[[1,[2,[3]]],[\"]\"]]",
             OK("[1,[2,[3]]]" R "[\"]\"]" R));

    /* Strings that would fool a naive splitter. */
    doc_case("brackets in strings", 0,
             "{\"}\":\"{\",\"[\":\"]\",\"q\":\"a,b\"}\n{\"x\":\"}}}]]]\"}",
             OK("{\"}\":\"{\",\"[\":\"]\",\"q\":\"a,b\"}" R
                "{\"x\":\"}}}]]]\"}" R));
    doc_case("escaped quotes and backslashes", 0,
             "{\"a\":\"\\\\\"}{\"b\":\"\\\\\\\"}\"}{\"c\":\"\\\\\\\\\"}",
             OK("{\"a\":\"\\\\\"}" R "{\"b\":\"\\\\\\\"}\"}" R
                "{\"c\":\"\\\\\\\\\"}" R));
    doc_case("escaped and raw newlines in strings", 0,
             "{\"a\":\"l1\\nl2\"}\n{\"b\":\"raw\nnewline\r\n}\"}\n",
             OK("{\"a\":\"l1\\nl2\"}" R "{\"b\":\"raw\nnewline\r\n}\"}" R));
    doc_case("utf-8 2/3/4-byte", 0,
             "{\"\xc3\xa9\":\"\xe6\x97\xa5\xe6\x9c\xac\",\"e\":\"\xf0\x9f\x98\x80\"}\n"
             "{\"\xe2\x82\xac\":\"\xc2\xa3\xf0\x90\x8d\x88\"}",
             OK("{\"\xc3\xa9\":\"\xe6\x97\xa5\xe6\x9c\xac\",\"e\":\"\xf0\x9f\x98\x80\"}" R
                "{\"\xe2\x82\xac\":\"\xc2\xa3\xf0\x90\x8d\x88\"}" R));
    doc_case("utf-8 in array", 0,
             "[\"\xf0\x9f\x98\x80\",{\"\xe2\x82\xac\":\"\xc2\xa3\"}]",
             OK("\"\xf0\x9f\x98\x80\"" R "{\"\xe2\x82\xac\":\"\xc2\xa3\"}" R));
    doc_case("deep nesting", 0, "{\"a\":{\"b\":{\"c\":[[[{\"d\":[]}]]]}}}\n",
             OK("{\"a\":{\"b\":{\"c\":[[[{\"d\":[]}]]]}}}" R));
    doc_case("escape of a quote at string end", 0, "[\"\\\"\",\"\\\\\"]",
             OK("\"\\\"\"" R "\"\\\\\"" R));

    /* BOM and empty streams. */
    doc_case("bom + ndjson", 0, "\xef\xbb\xbf{\"a\":1}\n{\"b\":2}\n",
             OK("{\"a\":1}" R "{\"b\":2}" R));
    doc_case("bom + array", 0, "\xef\xbb\xbf[{\"a\":1}]", OK("{\"a\":1}" R));
    doc_case("empty stream", 0, "", OK(""));
    doc_case("whitespace only", 0, " \r\n\t\n", OK(""));
    doc_case("bom only", 0, "\xef\xbb\xbf", OK(""));
}

static void test_errors(void)
{
    doc_case("garbage between objects", 0, "{\"a\":1}x{\"b\":2}",
             "{\"a\":1}" R "!SYNTAX");
    doc_case("comma between objects", 0, "{\"a\":1}\n,{\"b\":2}",
             "{\"a\":1}" R "!SYNTAX");
    doc_case("array after objects", 0, "{}[]", "{}" R "!SYNTAX");
    doc_case("leading garbage", 0, "x{}", "!SYNTAX");
    doc_case("top-level string", 0, "\"abc\"", "!SYNTAX");
    doc_case("top-level number", 0, "1", "!SYNTAX");
    doc_case("closing brace first", 0, "}", "!SYNTAX");
    doc_case("bom in the middle", 0, "{}\xef\xbb\xbf{}", "{}" R "!SYNTAX");
    doc_case("broken bom", 0, "\xef\xbbx{}", "!SYNTAX");
    doc_case("space before bom", 0, " \xef\xbb\xbf{}", "!SYNTAX");
    doc_case("array trailing comma", 0, "[1,]", "1" R "!SYNTAX");
    doc_case("array leading comma", 0, "[,1]", "!SYNTAX");
    doc_case("array double comma", 0, "[1,,2]", "1" R "!SYNTAX");
    doc_case("array missing comma", 0, "[1 2]", "1" R "!SYNTAX");
    doc_case("array glued values", 0, "[{}{}]", "{}" R "!SYNTAX");
    doc_case("array literal then brace", 0, "[12{}]", "!SYNTAX");
    doc_case("array close brace", 0, "[}", "!SYNTAX");
    doc_case("after array", 0, "[1] x", "1" R "!SYNTAX");
    doc_case("second array", 0, "[1][2]", "1" R "!SYNTAX");

    doc_case("truncated object", 0, "{\"a\":1}\n{\"b\":", "{\"a\":1}" R "!TRUNCATED");
    doc_case("truncated string", 0, "{\"a\":\"abc", "!TRUNCATED");
    doc_case("truncated escape", 0, "{\"a\":\"\\", "!TRUNCATED");
    doc_case("truncated nested", 0, "{\"a\":[{}", "!TRUNCATED");
    doc_case("truncated array", 0, "[{\"a\":1},", "{\"a\":1}" R "!TRUNCATED");
    doc_case("truncated array after value", 0, "[1, 2 ", "1" R "2" R "!TRUNCATED");
    doc_case("truncated array literal", 0, "[12", "!TRUNCATED");
    doc_case("truncated array open", 0, " [ ", "!TRUNCATED");
    doc_case("truncated bom", 0, "\xef\xbb", "!TRUNCATED");
}

static void test_cap(void)
{
    /* {"a":1} is 7 bytes. */
    doc_case("at cap", 7, "{\"a\":1}\n{\"b\":2}\n", OK("{\"a\":1}" R "{\"b\":2}" R));
    doc_case("cap + 1", 7, "{\"a\":1}\n{\"b\":12}\n{}", "{\"a\":1}" R "!TOO_LARGE");
    doc_case("cap + 1, whitespace not counted", 7, "  {\"a\":1}  \n  {\"a\":12}",
             "{\"a\":1}" R "!TOO_LARGE");
    doc_case("cap, array literals", 7, "[1234567, 12345678]", "1234567" R "!TOO_LARGE");
    doc_case("cap, array strings", 7, "[\"12345\",\"123456\"]", "\"12345\"" R "!TOO_LARGE");
    doc_case("cap beats truncation", 5, "{\"a\":12", "!TOO_LARGE");
    doc_case("cap beats a later syntax error", 3, "[1234{", "!TOO_LARGE");
    doc_case("syntax error within cap", 5, "[12{34", "!SYNTAX");
    doc_case("cap 1", 1, "[1,2,\"\"]", "1" R "2" R "!TOO_LARGE");
}

/* One piece: every record must point into the caller's chunk. */
static void test_zero_copy(void)
{
    const char doc[] = "{\"a\":1}\n[{\"b\":2}]";
    const char arr[] = "[{\"a\":1} , 22, \"x\"]";
    jsonsplit *s = jsonsplit_new(0);
    const char *p = doc, *rec;
    size_t len = 7 + 1 + 10, used, rlen;
    int rc, inside = 1, n = 0;

    rc = jsonsplit_next(s, p, len, &used, &rec, &rlen);
    check(rc == JSONSPLIT_RECORD && rec == doc && rlen == 7 && used == 7,
          "zero-copy: first record is a pointer into the chunk");
    jsonsplit_free(s);

    s = jsonsplit_new(0);
    p = arr;
    len = strlen(arr);
    while ((rc = jsonsplit_next(s, p, len, &used, &rec, &rlen)) == JSONSPLIT_RECORD) {
        inside &= rec >= arr && rec + rlen <= arr + sizeof arr - 1;
        n++;
        p += used;
        len -= used;
    }
    check(rc == JSONSPLIT_NEED_MORE && n == 3 && inside,
          "zero-copy: array elements point into the chunk (rc %d, %d records)", rc, n);
    check(jsonsplit_finish(s) == JSONSPLIT_END, "zero-copy: array finishes");
    jsonsplit_free(s);
}

static void test_sticky_and_counters(void)
{
    jsonsplit *s = jsonsplit_new(0);
    const char *rec;
    size_t used, rlen;
    int rc;

    rc = jsonsplit_next(s, "{}\n{}", 5, &used, &rec, &rlen);
    check(rc == JSONSPLIT_RECORD && used == 2, "counters: first record");
    rc = jsonsplit_next(s, "\n{}", 3, &used, &rec, &rlen);
    check(rc == JSONSPLIT_RECORD && used == 3, "counters: second record");
    check(jsonsplit_records(s) == 2 && jsonsplit_offset(s) == 5,
          "counters: records %llu offset %llu",
          (unsigned long long)jsonsplit_records(s),
          (unsigned long long)jsonsplit_offset(s));
    rc = jsonsplit_next(s, " \n x", 4, &used, &rec, &rlen);
    check(rc == JSONSPLIT_ERR_SYNTAX && used == 3 && jsonsplit_offset(s) == 8,
          "error offset: rc %d used %zu offset %llu", rc, used,
          (unsigned long long)jsonsplit_offset(s));
    rc = jsonsplit_next(s, "{}", 2, &used, &rec, &rlen);
    check(rc == JSONSPLIT_ERR_SYNTAX && used == 0 && rec == NULL,
          "sticky: next after error");
    check(jsonsplit_finish(s) == JSONSPLIT_ERR_SYNTAX, "sticky: finish after error");
    check(jsonsplit_records(s) == 2, "sticky: record count unchanged");
    jsonsplit_free(s);

    s = jsonsplit_new(4);
    rc = jsonsplit_next(s, "{\"a\"", 4, &used, &rec, &rlen);
    check(rc == JSONSPLIT_NEED_MORE, "too large: 4 bytes buffered");
    rc = jsonsplit_next(s, ":1}", 3, &used, &rec, &rlen);
    check(rc == JSONSPLIT_ERR_TOO_LARGE, "too large across chunks");
    check(jsonsplit_offset(s) == 4, "too large: offset is the first byte over the cap");
    check(jsonsplit_next(s, "{}", 2, &used, &rec, &rlen) == JSONSPLIT_ERR_TOO_LARGE &&
              jsonsplit_finish(s) == JSONSPLIT_ERR_TOO_LARGE,
          "sticky: too large");
    jsonsplit_free(s);

    s = jsonsplit_new(0);
    check(jsonsplit_max_record(s) == JSONSPLIT_DEFAULT_MAX_RECORD, "default cap");
    check(jsonsplit_next(s, "x", 0, &used, &rec, &rlen) == JSONSPLIT_NEED_MORE &&
              used == 0,
          "empty chunk");
    check(jsonsplit_finish(s) == JSONSPLIT_END && jsonsplit_finish(s) == JSONSPLIT_END,
          "finish is repeatable");
    jsonsplit_free(s);
    jsonsplit_free(NULL);

    check(strcmp(jsonsplit_strerror(JSONSPLIT_ERR_TOO_LARGE), "record exceeds the size limit") == 0 &&
              jsonsplit_strerror(12345) != NULL,
          "strerror");
}

/* A long record crossing many chunks, at a cap that only just fits it. */
static void test_long_record(void)
{
    size_t n = 100000, i;
    char *doc = malloc(n + 64), *want = malloc(n + 64);
    size_t at = 0;

    /* The payload holds every structural byte but quotes and escapes. */
    at += (size_t)sprintf(doc, "{\"k\":\"");
    for (i = 0; i < n; i++)
        doc[at++] = "ab{}[],:\n"[i % 9];
    doc[at++] = '"';
    doc[at++] = '}';
    doc[at] = '\0';
    {
        jsonsplit *s = jsonsplit_new(at);
        const char *rec;
        size_t used, rlen, off = 0, step = 777;
        int rc = JSONSPLIT_NEED_MORE, got = 0;

        while (off < at) {
            size_t len = at - off < step ? at - off : step;

            rc = jsonsplit_next(s, doc + off, len, &used, &rec, &rlen);
            if (rc == JSONSPLIT_RECORD)
                got = rlen == at && memcmp(rec, doc, at) == 0;
            if (rc < 0)
                break;
            off += used;
        }
        check(got && jsonsplit_finish(s) == JSONSPLIT_END,
              "long record at exactly the cap across 777-byte chunks");
        jsonsplit_free(s);

        s = jsonsplit_new(at - 1);
        off = 0;
        rc = 0;
        while (off < at && rc >= 0) {
            size_t len = at - off < step ? at - off : step;

            rc = jsonsplit_next(s, doc + off, len, &used, &rec, &rlen);
            off += used;
        }
        check(rc == JSONSPLIT_ERR_TOO_LARGE, "long record one over the cap");
        jsonsplit_free(s);
    }
    (void)want;
    free(doc);
    free(want);
}

/* Growing the straddle buffer must stop at the cap, not double past it. */
static void test_alloc_cap(void)
{
    static const size_t caps[] = { 1000, 4096, 5000, 70000 };
    size_t k;

    for (k = 0; k < sizeof caps / sizeof caps[0]; k++) {
        size_t cap = caps[k], n = 3 * cap, off = 0, used, rlen;
        char *doc = malloc(n);
        jsonsplit *s = jsonsplit_new(cap);
        const char *rec;
        int rc = 0, fits = 0;

        memset(doc, 'x', n);
        memcpy(doc, "{\"k\":\"", 6);
        /* One record of exactly cap bytes, then one far over it. */
        memcpy(doc + cap - 2, "\"}{\"", 4);
        g_max_realloc = 0;
        while (off < n && rc >= 0) {
            size_t len = n - off < 97 ? n - off : 97;

            rc = jsonsplit_next(s, doc + off, len, &used, &rec, &rlen);
            if (rc == JSONSPLIT_RECORD)
                fits = rlen == cap;
            off += used;
        }
        check(fits && rc == JSONSPLIT_ERR_TOO_LARGE && g_max_realloc <= cap,
              "buffer stays within cap %zu (largest request %zu, rc %d)", cap,
              g_max_realloc, rc);
        jsonsplit_free(s);
        free(doc);
    }
}

/* The scalar flag tells records that hold a number or a null outside their
 * strings from the rest, wherever the chunks split them. */
/* The lane for a caller that knows where records end (jsonsplit_next_object,
 * jsonsplit_took): records taken through it, every other one, leave the
 * splitter where jsonsplit_next would have, and its counters too. */
static void lane_case(const char *doc)
{
    size_t len = strlen(doc), pos = 0, used, rlen, n = 0, taken = 0;
    const char *rec;
    jsonsplit *ref = jsonsplit_new(0), *s = jsonsplit_new(0);
    int rc = JSONSPLIT_RECORD;
    while (rc == JSONSPLIT_RECORD) {
        size_t at = pos;
        rc = jsonsplit_next(ref, doc + pos, len - pos, &used, &rec, &rlen);
        pos += used;
        if (rc != JSONSPLIT_RECORD)
            break;
        n++;
        if (n % 2 == 0 && jsonsplit_next_object(s, doc + at, len - at) == rec) {
            jsonsplit_took(s, (size_t)(rec - (doc + at)), rlen);
            taken++;
        } else {
            const char *r2;
            size_t u2, l2;
            int rc2 = jsonsplit_next(s, doc + at, len - at, &u2, &r2, &l2);
            check(rc2 == JSONSPLIT_RECORD && r2 == rec && l2 == rlen && u2 == used,
                  "lane %.60s: record %zu read as without the lane", doc, n);
        }
        check(jsonsplit_records(s) == jsonsplit_records(ref) &&
                  jsonsplit_offset(s) == jsonsplit_offset(ref),
              "lane %.60s: after record %zu, %llu records at %llu; want %llu at %llu", doc, n,
              (unsigned long long)jsonsplit_records(s), (unsigned long long)jsonsplit_offset(s),
              (unsigned long long)jsonsplit_records(ref),
              (unsigned long long)jsonsplit_offset(ref));
    }
    check(taken == n / 2, "lane %.60s: %zu records taken through the lane of %zu", doc, taken, n);
    rc = jsonsplit_next(s, doc + pos, len - pos, &used, &rec, &rlen);
    check(rc == JSONSPLIT_NEED_MORE && jsonsplit_finish(s) == jsonsplit_finish(ref),
          "lane %.60s: the end as without the lane (%d)", doc, rc);
    jsonsplit_free(ref);
    jsonsplit_free(s);
}

static void test_lane(void)
{
    const char *rec;
    size_t used, rlen;
    jsonsplit *s;
    lane_case("{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n{\"d\":4}\n");
    lane_case("\xEF\xBB\xBF{}\r\n  {}\r\n\t{\"x\":\"}\"}\n\n{}  {}{}");
    lane_case("{\"a\":[1,{\"b\":\"]\"}]}\n{\"a\":null}\n{\"a\":\"\\\"\"}\n{}\n");
    /* Not in the lane: before the first record, in an array, inside a
     * record begun in an earlier chunk, after an error, nor at a byte that
     * is not a record's '{' after whitespace. */
    s = jsonsplit_new(0);
    check(jsonsplit_next_object(s, "{}", 2) == NULL, "lane: not before the first record");
    check(jsonsplit_next(s, "{}\n", 3, &used, &rec, &rlen) == JSONSPLIT_RECORD, "lane: a record");
    check(jsonsplit_next_object(s, "\n \r\t{}", 6) != NULL &&
              *jsonsplit_next_object(s, "\n \r\t{}", 6) == '{',
          "lane: past whitespace");
    check(jsonsplit_next_object(s, "  ", 2) == NULL, "lane: nothing but whitespace");
    check(jsonsplit_next_object(s, " x{}", 4) == NULL, "lane: not a '{'");
    check(jsonsplit_next(s, "{\"a\":", 5, &used, &rec, &rlen) == JSONSPLIT_NEED_MORE,
          "lane: a record cut");
    check(jsonsplit_next_object(s, "{}", 2) == NULL, "lane: not inside a record");
    check(jsonsplit_next(s, "1}\nx", 4, &used, &rec, &rlen) == JSONSPLIT_RECORD &&
              jsonsplit_next(s, "\nx", 2, &used, &rec, &rlen) == JSONSPLIT_ERR_SYNTAX,
          "lane: an error");
    check(jsonsplit_next_object(s, "{}", 2) == NULL, "lane: not after an error");
    jsonsplit_free(s);
    s = jsonsplit_new(0);
    check(jsonsplit_next(s, "[{},", 4, &used, &rec, &rlen) == JSONSPLIT_RECORD &&
              jsonsplit_next_object(s, "{}]", 3) == NULL,
          "lane: not in an array");
    jsonsplit_free(s);
}

int main(void)
{
    test_layouts();
    test_errors();
    test_cap();
    test_zero_copy();
    test_sticky_and_counters();
    test_long_record();
    test_alloc_cap();
    test_lane();
    if (g_failed == 0 && g_passed == 0)
        fail_case("no tests ran");
    printf("jsonsplit: %lu parses over all split points\n", g_feeds);
    return summary();
}
