/*
 * csvparse: see csvparse.h for the rules.
 *
 * A field is built from "segments", runs of bytes that appear verbatim in
 * the output.  A field made of one segment of a row that ends inside the
 * current chunk is returned as a pointer into the chunk; a second segment
 * (after "" was unescaped) or the end of the chunk moves it into the
 * internal buffer, so copying happens only where it must.
 */
#include "csvparse.h"

#include <stdlib.h>
#include <string.h>

/* Where the scanner stands inside the current field. */
enum {
    F_START,   /* before the first byte of a field */
    F_UNQ,     /* inside an unquoted field */
    F_Q,       /* inside a quoted field */
    F_Q_QUOTE, /* a '"' inside quotes ended the chunk: "" or the close? */
    F_CLOSED,  /* after the closing quote */
    F_CLOSED_CR
};

struct field {
    const char *ptr; /* into the caller's chunk, when !inbuf */
    size_t off, len; /* off: into buf, when inbuf */
    int inbuf;
};

struct csvparse {
    char *buf;
    size_t len, cap, max;
    struct field *f;
    size_t nf, fcap;
    size_t row_raw; /* bytes of the current row in earlier chunks */
    uint64_t rows, offset;
    int err;
    int state;
    int buffered; /* the current row started in an earlier chunk */
    int returned; /* a row was handed out; reset on next call */
    int finished;
    unsigned char stop[256]; /* separator and LF end an unquoted run */
};

csvparse *csvparse_new(char separator, size_t max_row)
{
    csvparse *p;

    if (separator == '"' || separator == '\r' || separator == '\n')
        return NULL;
    p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    if (max_row == 0)
        max_row = CSVPARSE_DEFAULT_MAX_ROW;
    if (max_row > SIZE_MAX / 2)
        max_row = SIZE_MAX / 2;
    p->max = max_row;
    p->stop[(unsigned char)separator] = 1;
    p->stop['\n'] = 1;
    return p;
}

void csvparse_free(csvparse *p)
{
    if (!p)
        return;
    free(p->buf);
    free(p->f);
    free(p);
}

size_t csvparse_fields(const csvparse *p)
{
    return p->nf;
}
uint64_t csvparse_rows(const csvparse *p)
{
    return p->rows;
}
uint64_t csvparse_offset(const csvparse *p)
{
    return p->offset;
}

const char *csvparse_field(const csvparse *p, size_t i, size_t *len)
{
    const struct field *f;

    if (i >= p->nf) {
        if (len)
            *len = 0;
        return NULL;
    }
    f = &p->f[i];
    if (len)
        *len = f->len;
    if (f->len == 0)
        return "";
    return f->inbuf ? p->buf + f->off : f->ptr;
}

const char *csvparse_strerror(int code)
{
    switch (code) {
    case CSVPARSE_ROW:
        return "row";
    case CSVPARSE_NEED_MORE:
        return "need more input";
    case CSVPARSE_END:
        return "end of input";
    case CSVPARSE_ERR_TOO_LARGE:
        return "row exceeds the size limit";
    case CSVPARSE_ERR_QUOTE:
        return "malformed or unterminated quoted field";
    case CSVPARSE_ERR_NOMEM:
        return "out of memory";
    default:
        return "unknown csvparse error";
    }
}

static int fail(csvparse *p, int code, uint64_t at)
{
    p->err = code;
    p->offset = at;
    return code;
}

static int buf_reserve(csvparse *p, size_t n)
{
    size_t cap;
    char *nb;

    if (p->cap - p->len >= n)
        return 1;
    cap = p->cap ? p->cap : 4096;
    while (cap - p->len < n) {
        if (cap > SIZE_MAX / 2)
            return 0;
        cap *= 2;
    }
    nb = realloc(p->buf, cap);
    if (!nb)
        return 0;
    p->buf = nb;
    p->cap = cap;
    return 1;
}

static int buf_append(csvparse *p, const char *src, size_t n)
{
    if (!buf_reserve(p, n))
        return 0;
    if (n)
        memcpy(p->buf + p->len, src, n);
    p->len += n;
    return 1;
}

static int field_open(csvparse *p)
{
    struct field *f;

    if (p->nf == p->fcap) {
        size_t cap = p->fcap ? p->fcap * 2 : 32;
        struct field *nf = realloc(p->f, cap * sizeof *nf);

        if (!nf)
            return 0;
        p->f = nf;
        p->fcap = cap;
    }
    f = &p->f[p->nf++];
    f->ptr = NULL;
    f->off = p->len;
    f->len = 0;
    f->inbuf = p->buffered;
    return 1;
}

/* Adds verbatim bytes to the open field; see the file comment. */
static int add_seg(csvparse *p, const char *a, size_t n)
{
    struct field *f = &p->f[p->nf - 1];

    if (n == 0)
        return 1;
    if (!f->inbuf) {
        if (f->len == 0) {
            f->ptr = a;
            f->len = n;
            return 1;
        }
        f->off = p->len;
        f->inbuf = 1;
        if (!buf_append(p, f->ptr, f->len))
            return 0;
    }
    if (!buf_append(p, a, n))
        return 0;
    f->len += n;
    return 1;
}

static int copy_to_buf(csvparse *p, struct field *f)
{
    f->off = p->len;
    f->inbuf = 1;
    return buf_append(p, f->ptr, f->len);
}

/* The chunk is about to go away: copy every field still pointing into it.
 * The open field must stay the last thing in buf, since later segments are
 * appended to it, so it is moved behind the others if needed. */
static int spill(csvparse *p)
{
    size_t i, last = p->nf - 1;
    struct field *f;

    for (i = 0; i < last; i++) {
        if (!p->f[i].inbuf && !copy_to_buf(p, &p->f[i]))
            return 0;
    }
    f = &p->f[last];
    if (!f->inbuf) {
        if (!copy_to_buf(p, f))
            return 0;
    } else if (f->off + f->len != p->len) {
        if (!buf_reserve(p, f->len))
            return 0;
        memcpy(p->buf + p->len, p->buf + f->off, f->len);
        f->off = p->len;
        p->len += f->len;
    }
    p->buffered = 1;
    return 1;
}

static void reset_row(csvparse *p)
{
    p->nf = 0;
    p->len = 0;
    p->row_raw = 0;
    p->buffered = 0;
    p->returned = 0;
}

/* The CR of a CRLF that ends an unquoted field is not part of it. */
static void strip_cr(csvparse *p)
{
    struct field *f = &p->f[p->nf - 1];
    const char *s;

    if (f->len == 0)
        return;
    s = f->inbuf ? p->buf + f->off : f->ptr;
    if (s[f->len - 1] == '\r') {
        f->len--;
        if (f->inbuf)
            p->len--;
    }
}

/* One byte past what the row may still hold (plus its LF), so an oversized
 * row fails at the same byte however it was chunked. */
static const char *window(const csvparse *p, const char *row, const char *end)
{
    size_t room = p->max - p->row_raw;

    return (size_t)(end - row) > room ? row + room + 1 : end;
}

static int row_ready(csvparse *p, const char *data, const char *s, size_t *consumed)
{
    p->state = F_START;
    p->rows++;
    p->returned = 1;
    *consumed = (size_t)(s - data);
    p->offset += *consumed;
    return CSVPARSE_ROW;
}

/* The scan reached lim: either the row is too large, or the chunk ended
 * and the partial row must be saved.  seg: pending segment start or NULL. */
static int out_of_data(csvparse *p, const char *data, const char *row, const char *seg,
                       const char *lim, const char *end, size_t *consumed)
{
    if (lim < end || (size_t)(end - row) > p->max - p->row_raw) {
        *consumed = (size_t)(lim - data);
        return fail(p, CSVPARSE_ERR_TOO_LARGE,
                    p->offset + (uint64_t)(row - data) + (p->max - p->row_raw));
    }
    if ((seg && !add_seg(p, seg, (size_t)(end - seg))) || (p->nf > 0 && !spill(p))) {
        *consumed = (size_t)(row - data);
        return fail(p, CSVPARSE_ERR_NOMEM, p->offset + *consumed);
    }
    p->row_raw += (size_t)(end - row);
    *consumed = (size_t)(end - data);
    p->offset += *consumed;
    return CSVPARSE_NEED_MORE;
}

int csvparse_next(csvparse *p, const char *data, size_t len, size_t *consumed)
{
    const char *s = data, *end = data + len, *row = data, *lim, *seg = NULL;
    const unsigned char *stop = p->stop;
    const char *q;
    char c;

    *consumed = 0;
    if (p->err)
        return p->err;
    if (p->finished)
        return CSVPARSE_END;
    if (p->returned)
        reset_row(p);
    lim = window(p, row, end);
    for (;;) {
        switch (p->state) {
        case F_START:
            if (s == lim)
                goto out;
            if (!field_open(p))
                goto nomem;
            if (*s == '"') {
                seg = ++s;
                p->state = F_Q;
                continue;
            }
            p->state = F_UNQ;
            /* fall through */
        case F_UNQ:
            if (!seg)
                seg = s;
            while (s < lim && !stop[(unsigned char)*s])
                s++;
            if (s == lim)
                goto out;
            if (!add_seg(p, seg, (size_t)(s - seg)))
                goto nomem;
            seg = NULL;
            p->state = F_START;
            if (*s++ != '\n')
                continue;
            strip_cr(p);
            if (p->nf == 1 && p->f[0].len == 0) {
                /* An empty line: forget it and start the row afresh. */
                reset_row(p);
                row = s;
                lim = window(p, row, end);
                continue;
            }
            return row_ready(p, data, s, consumed);
        case F_Q:
            if (!seg)
                seg = s;
            q = memchr(s, '"', (size_t)(lim - s));
            if (!q) {
                s = lim;
                goto out;
            }
            if (q + 1 == lim) {
                if (!add_seg(p, seg, (size_t)(q - seg)))
                    goto nomem;
                seg = NULL;
                s = lim;
                p->state = F_Q_QUOTE;
                goto out;
            }
            if (q[1] == '"') {
                if (!add_seg(p, seg, (size_t)(q + 1 - seg)))
                    goto nomem;
                s = seg = q + 2;
                continue;
            }
            if (!add_seg(p, seg, (size_t)(q - seg)))
                goto nomem;
            seg = NULL;
            s = q + 1;
            p->state = F_CLOSED;
            continue;
        case F_Q_QUOTE:
            if (s == lim)
                goto out;
            if (*s == '"') {
                if (!add_seg(p, s, 1))
                    goto nomem;
                s++;
                p->state = F_Q;
                continue;
            }
            p->state = F_CLOSED;
            continue;
        case F_CLOSED:
            if (s == lim)
                goto out;
            c = *s++;
            if (c == '\n')
                return row_ready(p, data, s, consumed);
            if (c == '\r') {
                p->state = F_CLOSED_CR;
                continue;
            }
            if (!stop[(unsigned char)c])
                goto bad_quote;
            p->state = F_START;
            continue;
        default: /* F_CLOSED_CR */
            if (s == lim)
                goto out;
            if (*s++ != '\n')
                goto bad_quote;
            return row_ready(p, data, s, consumed);
        }
    }
out:
    return out_of_data(p, data, row, seg, lim, end, consumed);
bad_quote:
    *consumed = (size_t)(s - 1 - data);
    return fail(p, CSVPARSE_ERR_QUOTE, p->offset + *consumed);
nomem:
    *consumed = (size_t)(row - data);
    return fail(p, CSVPARSE_ERR_NOMEM, p->offset + *consumed);
}

int csvparse_finish(csvparse *p)
{
    if (p->err)
        return p->err;
    if (p->returned)
        reset_row(p);
    if (p->finished)
        return CSVPARSE_END;
    p->finished = 1;
    switch (p->state) {
    case F_START:
        if (p->nf == 0)
            return CSVPARSE_END;
        if (!field_open(p))
            return fail(p, CSVPARSE_ERR_NOMEM, p->offset);
        break;
    case F_Q:
    case F_CLOSED_CR:
        return fail(p, CSVPARSE_ERR_QUOTE, p->offset);
    default:
        break;
    }
    p->state = F_START;
    p->rows++;
    p->returned = 1;
    return CSVPARSE_ROW;
}
