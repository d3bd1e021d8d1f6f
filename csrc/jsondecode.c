/*
 * jsondecode: see jsondecode.h for the contract.
 *
 * The scanners never allocate; skipping a value costs one walk over its
 * bytes, so a projection that leaves most of a record out still checks it.
 */
#include "jsondecode.h"

#include <stdlib.h>
#include <string.h>

/* Bytes that end a run of plain string bytes: the quote, the backslash,
 * and the control characters RFC 8259 forbids raw. */
static const unsigned char k_str_stop[256] = {1, 1, 1, 1, 1, 1, 1, 1, 1,         1,         1, 1,
                                              1, 1, 1, 1, 1, 1, 1, 1, 1,         1,         1, 1,
                                              1, 1, 1, 1, 1, 1, 1, 1, ['"'] = 1, ['\\'] = 1};

static int at_end(int more)
{
    return more ? JSONDECODE_MORE : JSONDECODE_ERR_END;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Four hex digits at p (which has at least 4 bytes): the code unit, or -1. */
static long hex4(const char *p)
{
    int a = hexval(p[0]), b = hexval(p[1]), c = hexval(p[2]), d = hexval(p[3]);
    if ((a | b | c | d) < 0)
        return -1;
    return ((long)a << 12) | ((long)b << 8) | ((long)c << 4) | (long)d;
}

/* A \u escape at p (the backslash): checks it, with the low half that must
 * follow a high surrogate. Returns its length in bytes (6 or 12), 0 when the
 * input ends before it is known to be good or bad, or -1 when it is bad.
 * Bytes are checked as far as they go, so a cut never hides an error that
 * the whole input would show at the same byte. */
static int unicode_escape(const char *p, const char *end)
{
    static const char pattern[] = "\\uHHHH\\uHHHH"; /* H: a hex digit */
    size_t have = (size_t)(end - p), i, need = 6;
    long hi, lo;
    for (i = 2; i < need && i < have; i++)
        if (hexval(p[i]) < 0)
            return -1;
    if (have < need)
        return 0;
    hi = hex4(p + 2);
    if (hi >= 0xDC00 && hi <= 0xDFFF)
        return -1;
    if (hi < 0xD800 || hi > 0xDBFF)
        return 6;
    need = 12;
    for (i = 6; i < need && i < have; i++)
        if (pattern[i] == 'H' ? hexval(p[i]) < 0 : p[i] != pattern[i])
            return -1;
    if (have < need)
        return 0;
    lo = hex4(p + 8);
    return (lo >= 0xDC00 && lo <= 0xDFFF) ? 12 : -1;
}

int jsondecode_string_slow(const char *p, const char *end, int more, const char **stop,
                           int *escaped)
{
    *escaped = 0;
    for (;;) {
        uint64_t m = 0;
        while (end - p >= JSONDECODE_BLOCK && (m = jsondecode_stop_mask(p)) == 0)
            p += JSONDECODE_BLOCK;
        if (m)
            p += jsondecode_first_marked(m);
        else
            while (p < end && !k_str_stop[(unsigned char)*p])
                p++;
        if (p == end) {
            *stop = p;
            return at_end(more);
        }
        if (*p == '"') {
            *stop = p;
            return JSONDECODE_OK;
        }
        if (*p != '\\') {
            *stop = p;
            return JSONDECODE_ERR_STRING;
        }
        *escaped = 1;
        if (end - p < 2) {
            *stop = p;
            return at_end(more);
        }
        switch (p[1]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            p += 2;
            break;
        case 'u': {
            int n = unicode_escape(p, end);
            if (n <= 0) {
                *stop = p;
                return n == 0 ? at_end(more) : JSONDECODE_ERR_STRING;
            }
            p += n;
            break;
        }
        default:
            *stop = p;
            return JSONDECODE_ERR_STRING;
        }
    }
}

static size_t put_utf8(char *out, unsigned long c)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (c >> 18));
    out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

size_t jsondecode_unescape(const char *p, const char *close, char *out)
{
    char *o = out;
    while (p < close) {
        const char *q = p;
        unsigned long c;
        while (q < close && *q != '\\')
            q++;
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        if (q == close)
            break;
        switch (q[1]) {
        case 'b':
            *o++ = '\b';
            p = q + 2;
            continue;
        case 'f':
            *o++ = '\f';
            p = q + 2;
            continue;
        case 'n':
            *o++ = '\n';
            p = q + 2;
            continue;
        case 'r':
            *o++ = '\r';
            p = q + 2;
            continue;
        case 't':
            *o++ = '\t';
            p = q + 2;
            continue;
        case 'u':
            break;
        default:
            *o++ = q[1];
            p = q + 2;
            continue;
        }
        c = (unsigned long)hex4(q + 2);
        p = q + 6;
        if (c >= 0xD800 && c <= 0xDBFF) { /* checked: a low half follows */
            c = 0x10000 + ((c - 0xD800) << 10) + ((unsigned long)hex4(q + 8) - 0xDC00);
            p = q + 12;
        }
        o += put_utf8(o, c);
    }
    return (size_t)(o - out);
}

static int digit(const char *p, const char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

/* The double of a checked number token, through strtod on a terminated copy
 * (the token in the buffer is followed by arbitrary bytes). */
static double to_double(const char *p, size_t len)
{
    char small[64];
    char *buf = len < sizeof small ? small : malloc(len + 1);
    double d;
    if (buf == NULL)
        return 0.0; /* out of memory: not reachable for a sane token */
    memcpy(buf, p, len);
    buf[len] = '\0';
    d = strtod(buf, NULL);
    if (buf != small)
        free(buf);
    return d;
}

int jsondecode_number(const char *p, const char *end, int more, const char **stop,
                      jsondecode_number_t *n)
{
    const char *start = p;
    int neg = 0, whole = 1;
    uint64_t u = 0;
    int overflow = 0;
    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }
    if (p == end) {
        *stop = p;
        return at_end(more);
    }
    if (*p == '0') {
        p++;
        if (digit(p, end)) {
            *stop = p;
            return JSONDECODE_ERR_NUMBER; /* leading zero */
        }
    } else if (*p >= '1' && *p <= '9') {
        for (; digit(p, end); p++) {
            unsigned d = (unsigned)(*p - '0');
            if (u > (UINT64_MAX - d) / 10)
                overflow = 1;
            else
                u = u * 10 + d;
        }
    } else {
        *stop = p;
        return JSONDECODE_ERR_NUMBER;
    }
    if (p < end && *p == '.') {
        whole = 0;
        p++;
        if (!digit(p, end)) {
            *stop = p;
            return p == end ? at_end(more) : JSONDECODE_ERR_NUMBER;
        }
        while (digit(p, end))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        whole = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (!digit(p, end)) {
            *stop = p;
            return p == end ? at_end(more) : JSONDECODE_ERR_NUMBER;
        }
        while (digit(p, end))
            p++;
    }
    *stop = p;
    if (p == end && more)
        return JSONDECODE_MORE; /* more digits may follow */
    if (whole && !overflow && (neg ? u <= (uint64_t)INT64_MAX + 1 : u <= (uint64_t)INT64_MAX)) {
        n->integer = 1;
        n->i = neg ? (int64_t)(0 - u) : (int64_t)u;
        n->d = (double)n->i;
        return JSONDECODE_OK;
    }
    n->integer = 0;
    n->d = to_double(start, (size_t)(p - start));
    return JSONDECODE_OK;
}

int jsondecode_literal(const char *p, const char *end, int more, const char **stop, char *which)
{
    static const char *const words[] = {"true", "false", "null"};
    const char *w = words[*p == 't' ? 0 : *p == 'f' ? 1 : 2];
    size_t len = strlen(w), have = (size_t)(end - p), i;
    for (i = 0; i < len && i < have; i++) {
        if (p[i] != w[i]) {
            *stop = p + i;
            return JSONDECODE_ERR_SYNTAX;
        }
    }
    if (have < len) {
        *stop = end;
        return at_end(more);
    }
    *which = *p;
    *stop = p + len;
    return JSONDECODE_OK;
}

static int skip_container(const char *p, const char *end, int more, int depth, const char **stop)
{
    char close = *p == '{' ? '}' : ']';
    int rc;
    if (depth >= JSONDECODE_MAX_DEPTH) {
        *stop = p;
        return JSONDECODE_ERR_DEPTH;
    }
    p = jsondecode_ws(p + 1, end);
    if (p < end && *p == close) {
        *stop = p + 1;
        return JSONDECODE_OK;
    }
    for (;;) {
        if (close == '}') {
            int escaped;
            if (p == end)
                break;
            if (*p != '"') {
                *stop = p;
                return JSONDECODE_ERR_SYNTAX;
            }
            if ((rc = jsondecode_string(p + 1, end, more, stop, &escaped)) != JSONDECODE_OK)
                return rc;
            p = jsondecode_ws(*stop + 1, end);
            if (p == end)
                break;
            if (*p != ':') {
                *stop = p;
                return JSONDECODE_ERR_SYNTAX;
            }
            p = jsondecode_ws(p + 1, end);
        }
        if ((rc = jsondecode_skip(p, end, more, depth + 1, stop)) != JSONDECODE_OK)
            return rc;
        p = jsondecode_ws(*stop, end);
        if (p == end)
            break;
        if (*p == close) {
            *stop = p + 1;
            return JSONDECODE_OK;
        }
        if (*p != ',') {
            *stop = p;
            return JSONDECODE_ERR_SYNTAX;
        }
        p = jsondecode_ws(p + 1, end);
    }
    *stop = end;
    return at_end(more);
}

int jsondecode_skip(const char *p, const char *end, int more, int depth, const char **stop)
{
    jsondecode_number_t n;
    char which;
    int escaped, rc;
    if (p == end) {
        *stop = p;
        return at_end(more);
    }
    switch (*p) {
    case '{':
    case '[':
        return skip_container(p, end, more, depth, stop);
    case '"':
        rc = jsondecode_string(p + 1, end, more, stop, &escaped);
        if (rc == JSONDECODE_OK)
            (*stop)++;
        return rc;
    case 't':
    case 'f':
    case 'n':
        return jsondecode_literal(p, end, more, stop, &which);
    default:
        if (*p == '-' || (*p >= '0' && *p <= '9'))
            return jsondecode_number(p, end, more, stop, &n);
        *stop = p;
        return JSONDECODE_ERR_SYNTAX;
    }
}

int jsondecode_validate(const char *p, size_t len, const char **stop)
{
    const char *end = p + len;
    int rc = jsondecode_skip(jsondecode_ws(p, end), end, 0, 0, stop);
    if (rc != JSONDECODE_OK)
        return rc;
    *stop = jsondecode_ws(*stop, end);
    return *stop == end ? JSONDECODE_OK : JSONDECODE_ERR_SYNTAX;
}

const char *jsondecode_strerror(int code)
{
    switch (code) {
    case JSONDECODE_OK:
        return "ok";
    case JSONDECODE_MORE:
        return "need more input";
    case JSONDECODE_ERR_SYNTAX:
        return "unexpected byte (not JSON)";
    case JSONDECODE_ERR_STRING:
        return "bad escape or control character in a string";
    case JSONDECODE_ERR_NUMBER:
        return "malformed number";
    case JSONDECODE_ERR_DEPTH:
        return "nesting too deep";
    case JSONDECODE_ERR_END:
        return "the record ends inside a value";
    case JSONDECODE_ERR_NOMEM:
        return "out of memory";
    default:
        return "unknown jsondecode error";
    }
}
