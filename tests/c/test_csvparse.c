/*
 * Exhaustive tests of csvparse: every document is parsed in one piece, at
 * every pair of split points and at every fixed chunk size; rows must match
 * a hand-written expectation and the one-shot parse.  Rows serialize as
 * fields each followed by F, each row followed by R, then "!" + outcome.
 */
#include "../../csrc/csvparse.h"
#include "harness.h"

typedef struct {
    char sep;
    size_t max;
} ccfg;

static const char *code_name(int rc)
{
    switch (rc) {
    case CSVPARSE_END: return "END";
    case CSVPARSE_ERR_TOO_LARGE: return "TOO_LARGE";
    case CSVPARSE_ERR_QUOTE: return "QUOTE";
    case CSVPARSE_ERR_NOMEM: return "NOMEM";
    default: return "???";
    }
}

static void put_row(const csvparse *p, sbuf *out)
{
    size_t i, n = csvparse_fields(p), len;

    for (i = 0; i < n; i++) {
        const char *f = csvparse_field(p, i, &len);

        sb_add(out, f, len);
        sb_str(out, F);
    }
    sb_str(out, R);
}

static int feed(csvparse *p, const char *chunk, size_t len, sbuf *out)
{
    for (;;) {
        size_t used = 0;
        int rc = csvparse_next(p, chunk, len, &used);

        if (used > len) {
            sb_str(out, "!CONSUMED_TOO_MUCH");
            return CSVPARSE_ERR_QUOTE;
        }
        if (rc == CSVPARSE_NEED_MORE) {
            if (used != len)
                sb_str(out, "!NEED_MORE_NOT_ALL_CONSUMED");
            return 0;
        }
        if (rc != CSVPARSE_ROW)
            return rc;
        put_row(p, out);
        chunk += used;
        len -= used;
    }
}

static char *run_csv(const void *cfgp, const char *doc, size_t n,
                     const size_t *ends, size_t nends)
{
    const ccfg *cfg = cfgp;
    csvparse *p = csvparse_new(cfg->sep, cfg->max);
    sbuf out = { 0, 0, 0 };
    size_t i, at = 0;
    int rc = 0;

    (void)n;
    sb_add(&out, "", 0);
    for (i = 0; i < nends && rc == 0; i++) {
        char *c = dup_chunk(doc + at, ends[i] - at);

        rc = feed(p, c, ends[i] - at, &out);
        free(c);
        at = ends[i];
    }
    while (rc == 0 || rc == CSVPARSE_ROW) {
        rc = csvparse_finish(p);
        if (rc == CSVPARSE_ROW)
            put_row(p, &out);
    }
    sb_str(&out, "!");
    sb_str(&out, code_name(rc));
    csvparse_free(p);
    return out.s;
}

static void csv_case_n(const char *name, char sep, size_t max, const char *doc,
                       size_t n, const char *want)
{
    ccfg cfg;

    cfg.sep = sep;
    cfg.max = max;
    check_all_splits(run_csv, &cfg, name, doc, n, want);
}

static void csv_case(const char *name, const char *doc, const char *want)
{
    csv_case_n(name, ';', 0, doc, strlen(doc), want);
}

#define OK(rows) rows "!END"

static void test_rules(void)
{
    csv_case("batch legacy export",
             "install_id;custom_id;advertising_id;event_date;event_type;cta;cta_position\n"
             "abc-1;;;2020-01-01 10:00:00;inapp_shown;;\n"
             "abc-2;user\xc3\xa9;ad-\xe6\x97\xa5;2020-01-02 11:00:00;inapp_clicked;Buy now;1\n",
             OK("install_id" F "custom_id" F "advertising_id" F "event_date" F
                "event_type" F "cta" F "cta_position" F R
                "abc-1" F "" F "" F "2020-01-01 10:00:00" F "inapp_shown" F "" F "" F R
                "abc-2" F "user\xc3\xa9" F "ad-\xe6\x97\xa5" F "2020-01-02 11:00:00" F
                "inapp_clicked" F "Buy now" F "1" F R));
    csv_case("crlf file", "a;b\r\n1;2\r\n;\r\n",
             OK("a" F "b" F R "1" F "2" F R "" F "" F R));
    csv_case("no final newline", "a;b\n1;2", OK("a" F "b" F R "1" F "2" F R));
    csv_case("no final newline, crlf", "a;b\r\n1;\"2\"",
             OK("a" F "b" F R "1" F "2" F R));
    csv_case("final separator, no newline", "a;", OK("a" F "" F R));
    csv_case("quoted separator", "\"a;b\";c\n", OK("a;b" F "c" F R));
    csv_case("doubled quotes", "\"say \"\"hi\"\"\";\"\"\"\";\"\"\"\"\"\"\n",
             OK("say \"hi\"" F "\"" F "\"\"" F R));
    csv_case("embedded crlf and lf", "\"l1\r\nl2\";\"x\ny\"\r\nz;w\n",
             OK("l1\r\nl2" F "x\ny" F R "z" F "w" F R));
    csv_case("quoted empty", "\"\";\"\"\n\"\"\n", OK("" F "" F R "" F R));
    csv_case("stray quote mid-field is data", "ab\"c;d\"\"e\"\n",
             OK("ab\"c" F "d\"\"e\"" F R));
    csv_case("lone cr is data", "a\rb;c\r\n\rx\n",
             OK("a\rb" F "c" F R "\rx" F R));
    csv_case("cr cr lf", "a\r\r\n", OK("a\r" F R));
    csv_case("cr at end without lf is data", "a\r", OK("a\r" F R));
    csv_case("empty lines skipped", "\n\na;b\n\n\r\n1;2\n\n",
             OK("a" F "b" F R "1" F "2" F R));
    csv_case("separator-only line", ";\n", OK("" F "" F R));
    csv_case("empty input", "", OK(""));
    csv_case("only newlines", "\n\r\n\n", OK(""));
    csv_case("quoted field then crlf at eof", "\"a\"\r\n", OK("a" F R));
    csv_case("closing quote at eof", "x;\"a\"", OK("x" F "a" F R));
    csv_case("utf-8 passthrough", "\xf0\x9f\x98\x80;\"\xe2\x82\xac;\xc2\xa3\"\n",
             OK("\xf0\x9f\x98\x80" F "\xe2\x82\xac;\xc2\xa3" F R));
    csv_case("varying field counts", "a\nb;c;d\n;;\n",
             OK("a" F R "b" F "c" F "d" F R "" F "" F "" F R));
    csv_case("mixed quoted and doubled across fields",
             "\"a\"\"b\";c;\"d;e\";\"\"\"\"\n",
             OK("a\"b" F "c" F "d;e" F "\"" F R));
    csv_case_n("nul byte is data", ';', 0, "a\0b;c\n", 6,
               OK("a\0b" F "c" F R));
    csv_case_n("comma separator", ',', 0, "a,\"b,c\",;d\n", 11,
               OK("a" F "b,c" F ";d" F R));
    csv_case_n("tab separator", '\t', 0, "a\tb\n", 4, OK("a" F "b" F R));
}

static void test_errors(void)
{
    csv_case("text after closing quote", "a\n\"b\"c;d\n", "a" F R "!QUOTE");
    csv_case("space after closing quote", "\"b\" ;d\n", "!QUOTE");
    csv_case("lone cr after closing quote", "\"b\"\rx\n", "!QUOTE");
    csv_case("cr after closing quote at eof", "\"b\"\r", "!QUOTE");
    csv_case("unterminated quote", "a;b\n\"c;d\n", "a" F "b" F R "!QUOTE");
    csv_case("unterminated quote, just a quote", "\"", "!QUOTE");
    csv_case("unterminated after doubled", "\"a\"\"", "!QUOTE");

    /* "a;b" is 3 bytes; the LF is not counted, the CR of CRLF is. */
    csv_case_n("row at cap", ';', 3, "a;b\nc;d\n", 8, OK("a" F "b" F R "c" F "d" F R));
    csv_case_n("row at cap + 1", ';', 3, "a;b\nc;dd\n", 9, "a" F "b" F R "!TOO_LARGE");
    csv_case_n("row at cap + 1, no newline", ';', 3, "a;b\nc;dd", 8,
               "a" F "b" F R "!TOO_LARGE");
    csv_case_n("crlf row at cap", ';', 4, "a;b\r\n", 5, OK("a" F "b" F R));
    csv_case_n("crlf row over cap", ';', 3, "a;b\r\n", 5, "!TOO_LARGE");
    csv_case_n("quoted row at cap", ';', 5, "\"a\"\"\"\n", 6, OK("a\"" F R));
    csv_case_n("cap beats later quote error", ';', 3, "\"abc\"x\n", 7, "!TOO_LARGE");
    csv_case_n("quote error within cap", ';', 5, "\"a\"x;bbbbb\n", 11, "!QUOTE");
    csv_case_n("cap beats unterminated", ';', 3, "\"abcd", 5, "!TOO_LARGE");
    csv_case_n("empty lines do not count", ';', 1, "\r\n\r\n\na\n", 7, OK("a" F R));
}

/* A row inside one chunk with no "" needs no copy. */
static void test_zero_copy(void)
{
    const char doc[] = "ab;\"cd\";e\n\"x\"\"y\";z\n";
    csvparse *p = csvparse_new(';', 0);
    size_t used, len, n = sizeof doc - 1;
    const char *f0, *f1, *f2;
    int rc;

    rc = csvparse_next(p, doc, n, &used);
    f0 = csvparse_field(p, 0, NULL);
    f1 = csvparse_field(p, 1, NULL);
    f2 = csvparse_field(p, 2, &len);
    check(rc == CSVPARSE_ROW && used == 10 && csvparse_fields(p) == 3 &&
              f0 == doc && f1 == doc + 4 && f2 == doc + 8 && len == 1,
          "zero-copy: plain and quoted fields point into the chunk");
    rc = csvparse_next(p, doc + used, n - used, &used);
    f0 = csvparse_field(p, 0, &len);
    check(rc == CSVPARSE_ROW && len == 3 && memcmp(f0, "x\"y", 3) == 0 &&
              !(f0 >= doc && f0 < doc + n),
          "unescaped field is copied");
    check(csvparse_field(p, 2, &len) == NULL && len == 0, "field out of range");
    csvparse_free(p);
}

static void test_sticky_and_counters(void)
{
    csvparse *p = csvparse_new(';', 0);
    size_t used;
    int rc;

    check(csvparse_new('"', 0) == NULL && csvparse_new('\n', 0) == NULL &&
              csvparse_new('\r', 0) == NULL,
          "invalid separators rejected");
    rc = csvparse_next(p, "a\nb\n\"c\"x", 9, &used);
    check(rc == CSVPARSE_ROW && used == 2, "first row");
    rc = csvparse_next(p, "b\n\"c\"x", 6, &used);
    check(rc == CSVPARSE_ROW && csvparse_rows(p) == 2 && csvparse_offset(p) == 4,
          "counters after two rows");
    rc = csvparse_next(p, "\"c\"x", 4, &used);
    check(rc == CSVPARSE_ERR_QUOTE && used == 3 && csvparse_offset(p) == 7,
          "quote error position: used %zu offset %llu", used,
          (unsigned long long)csvparse_offset(p));
    check(csvparse_next(p, "a\n", 2, &used) == CSVPARSE_ERR_QUOTE &&
              csvparse_finish(p) == CSVPARSE_ERR_QUOTE && csvparse_rows(p) == 2,
          "sticky after error");
    csvparse_free(p);

    p = csvparse_new(';', 0);
    rc = csvparse_next(p, "a;b", 3, &used);
    check(rc == CSVPARSE_NEED_MORE && used == 3, "partial row buffered");
    check(csvparse_finish(p) == CSVPARSE_ROW && csvparse_fields(p) == 2,
          "finish returns the last row");
    check(csvparse_finish(p) == CSVPARSE_END && csvparse_finish(p) == CSVPARSE_END,
          "then END, repeatedly");
    csvparse_free(p);
    csvparse_free(NULL);
    check(strcmp(csvparse_strerror(CSVPARSE_ERR_QUOTE),
                 "malformed or unterminated quoted field") == 0 &&
              csvparse_strerror(999) != NULL,
          "strerror");
}

/* A wide row with long quoted fields across many chunks. */
static void test_long_row(void)
{
    sbuf doc = { 0, 0, 0 }, want = { 0, 0, 0 };
    size_t i, off, used;
    csvparse *p;
    int rc, ok = 1;

    for (i = 0; i < 2000; i++) {
        char tmp[64];
        int n = snprintf(tmp, sizeof tmp, "%s\"v%zu;\"\"q\r\n\"", i ? ";" : "", i);

        sb_add(&doc, tmp, (size_t)n);
        n = snprintf(tmp, sizeof tmp, "v%zu;\"q\r\n", i);
        sb_add(&want, tmp, (size_t)n);
    }
    sb_str(&doc, "\r\n");
    p = csvparse_new(';', doc.len - 1);
    for (off = 0, rc = 0; off < doc.len && rc == 0; off += used) {
        size_t len = doc.len - off < 333 ? doc.len - off : 333;

        rc = csvparse_next(p, doc.s + off, len, &used);
    }
    if (rc == CSVPARSE_ROW && csvparse_fields(p) == 2000) {
        sbuf got = { 0, 0, 0 };

        for (i = 0; i < 2000; i++) {
            size_t len;
            const char *f = csvparse_field(p, i, &len);

            sb_add(&got, f, len);
        }
        ok = got.len == want.len && memcmp(got.s, want.s, got.len) == 0;
        free(got.s);
    } else
        ok = 0;
    check(ok, "2000 quoted fields across 333-byte chunks, row at the cap");
    csvparse_free(p);
    free(doc.s);
    free(want.s);
}

int main(void)
{
    test_rules();
    test_errors();
    test_zero_copy();
    test_sticky_and_counters();
    test_long_row();
    if (g_failed == 0 && g_passed == 0)
        fail_case("no tests ran");
    printf("csvparse: %lu parses over all split points\n", g_feeds);
    return summary();
}
