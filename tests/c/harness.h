/*
 * A tiny test harness shared by the C parser tests: counters, a growable
 * string, and the split drivers that feed one document in every chunking
 * the tests ask for.  Header-only so each test stays a single program.
 */
#ifndef BX_TEST_HARNESS_H
#define BX_TEST_HARNESS_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Separators of the serialized results: record/row end, field end. */
#define R "\x1e"
#define F "\x1f"

static unsigned long g_passed, g_failed;
static unsigned long g_feeds; /* parses run, for the summary */

static void fail_case(const char *fmt, ...)
{
    va_list ap;

    g_failed++;
    printf("FAIL: ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

static void check(int ok, const char *fmt, ...)
{
    va_list ap;

    if (ok) {
        g_passed++;
        return;
    }
    g_failed++;
    printf("FAIL: ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

static int summary(void)
{
    printf("%lu passed, %lu failed\n", g_passed, g_failed);
    return g_failed ? 1 : 0;
}

typedef struct {
    char *s;
    size_t len, cap;
} sbuf;

static void sb_add(sbuf *b, const char *p, size_t n)
{
    if (b->cap - b->len < n + 1) {
        size_t cap = b->cap ? b->cap : 64;

        while (cap - b->len < n + 1)
            cap *= 2;
        b->s = realloc(b->s, cap);
        if (!b->s) {
            perror("realloc");
            exit(2);
        }
        b->cap = cap;
    }
    if (n)
        memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

/* Makes non-printable bytes visible in failure messages. */
static char *printable(const char *s, size_t n)
{
    sbuf b = { 0, 0, 0 };
    size_t i;

    sb_add(&b, "", 0);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char tmp[8];

        if (c == 0x1e)
            sb_str(&b, " | ");
        else if (c == 0x1f)
            sb_str(&b, " , ");
        else if (c < 0x20 || c == 0x7f || c == '\\') {
            snprintf(tmp, sizeof tmp, "\\x%02x", c);
            sb_str(&b, tmp);
        } else
            sb_add(&b, (const char *)&c, 1);
    }
    return b.s;
}

/* Parses doc cut at the given chunk ends (ascending, last == n) and
 * returns the serialized outcome (malloc'd). */
typedef char *(*run_fn)(const void *cfg, const char *doc, size_t n,
                        const size_t *ends, size_t nends);

/* Each chunk gets its own exact-size allocation, freed right after, so
 * ASan catches reads past a chunk or pointers kept across chunks. */
static char *dup_chunk(const char *p, size_t n)
{
    char *c = malloc(n ? n : 1);

    if (!c) {
        perror("malloc");
        exit(2);
    }
    if (n)
        memcpy(c, p, n);
    return c;
}

static int same(const char *got, const char *want, const char *what,
                const char *name, const size_t *ends, size_t nends)
{
    if (strcmp(got, want) == 0)
        return 1;
    {
        char *g = printable(got, strlen(got));
        char *w = printable(want, strlen(want));
        char cuts[128] = "";
        size_t i, o = 0;

        for (i = 0; i + 1 < nends && o < sizeof cuts - 24; i++)
            o += (size_t)snprintf(cuts + o, sizeof cuts - o, "%s%zu",
                                  i ? "," : "", ends[i]);
        printf("FAIL: %s: %s at cuts [%s]:\n   got  %s\n   want %s\n", name,
               what, cuts, g, w);
        free(g);
        free(w);
    }
    return 0;
}

/* Runs one document through: one piece, every pair of split points (three
 * chunks, empty ones included) and every fixed chunk size.  Each strategy
 * is one case; it stops at its first mismatch to keep the output short. */
static void check_all_splits(run_fn run, const void *cfg, const char *name,
                             const char *doc, size_t n, const char *want)
{
    size_t ends[3], i, j, k;
    char *whole, *got;
    int ok;

    ends[0] = n;
    whole = run(cfg, doc, n, ends, 1);
    g_feeds++;
    if (same(whole, want, "one-shot", name, ends, 1))
        g_passed++;
    else
        g_failed++;

    ok = 1;
    for (i = 0; i <= n && ok; i++)
        for (j = i; j <= n && ok; j++) {
            ends[0] = i;
            ends[1] = j;
            ends[2] = n;
            got = run(cfg, doc, n, ends, 3);
            g_feeds++;
            ok = same(got, want, "split pair", name, ends, 3) &&
                 same(got, whole, "split pair vs one-shot", name, ends, 3);
            free(got);
        }
    if (ok)
        g_passed++;
    else
        g_failed++;

    ok = 1;
    for (k = 1; k <= n && ok; k++) {
        size_t m = (n + k - 1) / k, c;
        size_t *e = malloc((m ? m : 1) * sizeof *e);

        for (c = 0; c < m; c++)
            e[c] = (c + 1) * k < n ? (c + 1) * k : n;
        got = run(cfg, doc, n, e, m);
        g_feeds++;
        if (!same(got, want, "fixed chunk size", name, e, m)) {
            printf("      (chunk size %zu)\n", k);
            ok = 0;
        }
        free(got);
        free(e);
    }
    if (ok)
        g_passed++;
    else
        g_failed++;
    free(whole);
}

#endif
