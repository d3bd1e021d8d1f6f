/*
 * libFuzzer target for jsonsplit.  Byte 0 picks the chunk schedule, byte 1
 * the record cap (small caps exercise TOO_LARGE); the rest is the stream.
 * Checks: no crash or leak; the chunked parse yields exactly the records
 * and outcome of the one-shot parse; every record is non-empty, starts and
 * ends with a non-whitespace byte, lies within the cap; NEED_MORE consumes
 * the whole chunk and *consumed never exceeds it.
 */
#include "../csrc/jsonsplit.h"
#include "fuzz_common.h"

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void check_record(const jsonsplit *s, const char *rec, size_t len)
{
    if (len == 0 || len > jsonsplit_max_record(s) || is_ws(rec[0]) ||
        is_ws(rec[len - 1]) || rec[0] == ',')
        abort();
}

/* Returns 0 when the chunk was used up, else the terminal code. */
static int feed(jsonsplit *s, const char *p, size_t len, flog *out)
{
    for (;;) {
        size_t used = 0, rlen = 0;
        const char *rec = NULL;
        int rc = jsonsplit_next(s, p, len, &used, &rec, &rlen);

        if (used > len)
            abort();
        if (rc == JSONSPLIT_NEED_MORE) {
            if (used != len)
                abort();
            return 0;
        }
        if (rc != JSONSPLIT_RECORD)
            return rc;
        check_record(s, rec, rlen);
        flog_item(out, rec, rlen);
        p += used;
        len -= used;
    }
}

static void run(const uint8_t *data, size_t size, size_t max, sched *sc,
                flog *out)
{
    jsonsplit *s = jsonsplit_new(max);
    size_t off = 0;
    int rc = 0;

    if (!s)
        abort();
    while (rc == 0 && off < size) {
        size_t n = sc ? sched_next(sc) : size;
        char *c;

        if (n > size - off)
            n = size - off;
        c = chunk_dup(data + off, n);
        rc = feed(s, c, n, out);
        free(c);
        off += n;
    }
    if (rc == 0)
        rc = jsonsplit_finish(s);
    if (rc != JSONSPLIT_END && (rc >= 0 || jsonsplit_finish(s) != rc))
        abort(); /* errors must be sticky */
    flog_code(out, rc);
    jsonsplit_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    flog whole = { 0, 0, 0 }, chunked = { 0, 0, 0 };
    size_t max;
    sched sc;

    if (size < 2)
        return 0;
    sched_init(&sc, data[0]);
    max = (data[1] & 0x80) ? 0 : (size_t)(data[1] & 0x7f) + 1;
    data += 2;
    size -= 2;
    run(data, size, max, NULL, &whole);
    run(data, size, max, &sc, &chunked);
    if (whole.len != chunked.len || memcmp(whole.p, chunked.p, whole.len) != 0)
        abort();
    free(whole.p);
    free(chunked.p);
    return 0;
}
