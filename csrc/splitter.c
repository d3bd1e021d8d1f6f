/*
 * splitter.c: see splitter.h.
 */
#include "splitter.h"

#include <stdlib.h>
#include <string.h>

int bx_splitter_init(bx_splitter *s, int format, char separator, size_t max_record, size_t out_size)
{
    memset(s, 0, sizeof *s);
    s->out = malloc(out_size);
    if (format == BX_SPLIT_JSON)
        s->json = jsonsplit_new(max_record);
    else if (format == BX_SPLIT_CSV)
        s->csv = csvparse_new(separator, max_record);
    if (s->out == NULL || (format == BX_SPLIT_JSON && s->json == NULL) ||
        (format == BX_SPLIT_CSV && s->csv == NULL))
        return -1;
    return 0;
}

void bx_splitter_free(bx_splitter *s)
{
    jsonsplit_free(s->json);
    csvparse_free(s->csv);
    s->json = NULL;
    s->csv = NULL;
    if (s->z_ready)
        inflateEnd(&s->z);
    s->z_ready = 0;
    free(s->out);
    s->out = NULL;
}
