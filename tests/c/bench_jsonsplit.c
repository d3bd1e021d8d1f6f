/*
 * Throughput of jsonsplit on ~100 MB of export-like NDJSON held in memory,
 * fed as one piece and in 64 KiB / 16 KiB chunks (the zero-copy path and
 * the straddle path), next to a memchr('\n') line splitter as the floor.
 * Usage: bench_jsonsplit [megabytes]
 */
#include "../../csrc/jsonsplit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *make_doc(size_t target, size_t *len, size_t *nrec)
{
    char *doc = malloc(target + 4096);
    size_t at = 0, i = 0;

    if (!doc)
        exit(2);
    while (at < target) {
        at += (size_t)sprintf(doc + at,
            "{\"install_id\":\"%08zx-4b2c-11ee-be56-0242ac120002\",\"custom_id\":\"user_%zu\","
            "\"event\":{\"type\":\"inapp_shown\",\"date\":\"2024-03-%02zuT10:%02zu:00Z\","
            "\"attributes\":{\"cta\":\"Buy now \\\"today\\\"\",\"position\":%zu,\"tags\":[\"a\",\"b\",\"\xc3\xa9t\xc3\xa9\"]}},"
            "\"platform\":\"ios\",\"advertising_id\":null,\"opt_in\":true}\n",
            i * 2654435761u, i, 1 + i % 28, i % 60, i % 7);
        i++;
    }
    *len = at;
    *nrec = i;
    return doc;
}

static size_t run_split(const char *doc, size_t len, size_t chunk, size_t *bytes)
{
    jsonsplit *s = jsonsplit_new(0);
    size_t off = 0, n = 0, sum = 0;

    while (off < len) {
        size_t clen = len - off < chunk ? len - off : chunk;
        const char *p = doc + off, *rec;
        size_t used, rlen;
        int rc;

        while ((rc = jsonsplit_next(s, p, clen, &used, &rec, &rlen)) == JSONSPLIT_RECORD) {
            n++;
            sum += rlen;
            p += used;
            clen -= used;
        }
        if (rc != JSONSPLIT_NEED_MORE) {
            fprintf(stderr, "error %s\n", jsonsplit_strerror(rc));
            exit(1);
        }
        off += chunk < len - off ? chunk : len - off;
    }
    if (jsonsplit_finish(s) != JSONSPLIT_END)
        exit(1);
    jsonsplit_free(s);
    *bytes = sum;
    return n;
}

static size_t run_memchr(const char *doc, size_t len)
{
    const char *p = doc, *end = doc + len, *q;
    size_t n = 0;

    while (p < end && (q = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        n++;
        p = q + 1;
    }
    return n;
}

int main(int argc, char **argv)
{
    size_t mb = argc > 1 ? (size_t)atoi(argv[1]) : 100, len, nrec, bytes;
    char *doc = make_doc(mb * 1000 * 1000, &len, &nrec);
    static const size_t chunks[] = { (size_t)-1, 65536, 16384 };
    size_t i, n;
    double t, best;
    int rep;

    printf("document: %.1f MB, %zu records of ~%zu bytes\n", (double)len / 1e6, nrec,
           len / nrec);
    for (i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        best = 1e9;
        for (rep = 0; rep < 3; rep++) {
            t = now();
            n = run_split(doc, len, chunks[i], &bytes);
            t = now() - t;
            if (t < best)
                best = t;
        }
        if (n != nrec)
            printf("MISMATCH: %zu records\n", n);
        if (chunks[i] == (size_t)-1)
            printf("jsonsplit one piece:     %8.1f MB/s\n", (double)len / 1e6 / best);
        else
            printf("jsonsplit %6zu B chunks: %8.1f MB/s\n", chunks[i], (double)len / 1e6 / best);
    }
    best = 1e9;
    for (rep = 0; rep < 3; rep++) {
        t = now();
        n = run_memchr(doc, len);
        t = now() - t;
        if (t < best)
            best = t;
    }
    printf("memchr line split:       %8.1f MB/s (%zu lines)\n", (double)len / 1e6 / best, n);
    free(doc);
    return 0;
}
