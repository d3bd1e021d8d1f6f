/*
 * libFuzzer target for csvparse.  Byte 0 picks the chunk schedule, byte 1
 * the separator (low 2 bits) and the row cap (high bits; 0 = default); the
 * rest is the document.  Checks: no crash or leak; the chunked parse
 * yields exactly the rows and outcome of the one-shot parse; every row has
 * at least one field, each field readable and no longer than the cap;
 * NEED_MORE consumes the whole chunk.
 */
#include "../csrc/csvparse.h"
#include "fuzz_common.h"

static void put_row(const csvparse *p, size_t max, flog *out)
{
    size_t i, n = csvparse_fields(p);
    uint64_t n64 = n;

    if (n == 0)
        abort();
    flog_add(out, "R", 1);
    flog_add(out, &n64, sizeof n64);
    for (i = 0; i < n; i++) {
        size_t len = 0;
        const char *f = csvparse_field(p, i, &len);

        if (!f || len > max)
            abort();
        flog_item(out, f, len);
    }
}

static int feed(csvparse *p, const char *c, size_t len, size_t max, flog *out)
{
    for (;;) {
        size_t used = 0;
        int rc = csvparse_next(p, c, len, &used);

        if (used > len)
            abort();
        if (rc == CSVPARSE_NEED_MORE) {
            if (used != len)
                abort();
            return 0;
        }
        if (rc != CSVPARSE_ROW)
            return rc;
        put_row(p, max, out);
        c += used;
        len -= used;
    }
}

static void run(const uint8_t *data, size_t size, char sep, size_t max,
                sched *sc, flog *out)
{
    csvparse *p = csvparse_new(sep, max);
    size_t off = 0, cap = max ? max : CSVPARSE_DEFAULT_MAX_ROW;
    int rc = 0;

    if (!p)
        abort();
    while (rc == 0 && off < size) {
        size_t n = sc ? sched_next(sc) : size;
        char *c;

        if (n > size - off)
            n = size - off;
        c = chunk_dup(data + off, n);
        rc = feed(p, c, n, cap, out);
        free(c);
        off += n;
    }
    while (rc == 0 || rc == CSVPARSE_ROW) {
        rc = csvparse_finish(p);
        if (rc == CSVPARSE_ROW)
            put_row(p, cap, out);
    }
    if (rc != CSVPARSE_END && csvparse_finish(p) != rc)
        abort(); /* errors must be sticky */
    flog_code(out, rc);
    csvparse_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char seps[4] = { ';', ',', '\t', '|' };
    flog whole = { 0, 0, 0 }, chunked = { 0, 0, 0 };
    size_t max;
    char sep;
    sched sc;

    if (size < 2)
        return 0;
    sched_init(&sc, data[0]);
    sep = seps[data[1] & 3];
    max = (size_t)(data[1] >> 2) * 2; /* 0 (default) .. 126 */
    data += 2;
    size -= 2;
    run(data, size, sep, max, NULL, &whole);
    run(data, size, sep, max, &sc, &chunked);
    if (whole.len != chunked.len || memcmp(whole.p, chunked.p, whole.len) != 0)
        abort();
    free(whole.p);
    free(chunked.p);
    return 0;
}
