/*
 * csvparse: a pull-style parser for Batch's legacy CSV exports.
 *
 * Rules (RFC 4180 with a configurable separator, ';' for Batch):
 *  - A field is quoted only if its first byte is '"'.  Inside quotes, ""
 *    stands for one '"', and the separator, CR and LF are plain data.
 *  - After the closing quote only the separator, LF or CRLF may follow;
 *    anything else (including a lone CR, even at end of input) is
 *    CSVPARSE_ERR_QUOTE, because a
 *    field like "a"b has no unambiguous meaning and usually signals a
 *    broken export.  An unterminated quote at end of input is also
 *    CSVPARSE_ERR_QUOTE.
 *  - Unquoted fields are taken literally: a '"' in the middle is data.
 *  - LF and CRLF end a row.  A CR anywhere else in an unquoted field is
 *    data, including a CR right before end of input without a LF.
 *  - Fully empty lines (nothing, or only CR, before the LF) are skipped;
 *    they are not rows.  A line holding only "" is a row with one empty
 *    field, and a line holding only ";" a row with two.
 *  - A trailing newline at end of input does not create an extra row; a
 *    last line without newline is returned by csvparse_finish().
 *  - Bytes are passed through untouched (UTF-8 or otherwise); a NUL byte
 *    is data.
 *
 * A row's size is its bytes up to, not including, the LF that ends it
 * (raw, quotes included).  A row longer than max_row fails with
 * CSVPARSE_ERR_TOO_LARGE as soon as byte max_row + 1 is seen, however the
 * input was chunked.
 *
 * Fields of a row that lies wholly inside the caller's chunk and needs no
 * unescaping point into that chunk; the rest live in an internal buffer.
 * Either way they are valid until the next call on the parser.
 *
 * Errors are sticky.  Depends only on the C standard library.
 */
#ifndef BX_CSVPARSE_H
#define BX_CSVPARSE_H

#include <stddef.h>
#include <stdint.h>

typedef struct csvparse csvparse;

/* The outcomes have jsonsplit's values (JSONSPLIT_RECORD is CSVPARSE_ROW):
 * the reader handles both parsers alike. Errors are negative. */
enum { CSVPARSE_NEED_MORE = 0, CSVPARSE_ROW = 1, CSVPARSE_END = 2 };
enum { CSVPARSE_ERR_TOO_LARGE = -1, CSVPARSE_ERR_QUOTE = -2, CSVPARSE_ERR_NOMEM = -4 };

/* Used by csvparse_new(sep, 0). */
#define CSVPARSE_DEFAULT_MAX_ROW ((size_t)64 * 1024 * 1024)

/* separator: any byte but '"', '\r' and '\n' (NULL is returned for
 * those, and when out of memory); max_row 0 means the default. */
csvparse *csvparse_new(char separator, size_t max_row);
void csvparse_free(csvparse *p);

/* Scans data[0..len).  CSVPARSE_ROW: a whole row is ready and *consumed
 * bytes were used (call again with data+consumed).  CSVPARSE_NEED_MORE:
 * all len bytes were consumed.  On an error, *consumed is the number of
 * bytes scanned before the offending byte. */
int csvparse_next(csvparse *p, const char *data, size_t len, size_t *consumed);

/* End of input: CSVPARSE_ROW once more for a last line without newline,
 * then CSVPARSE_END; CSVPARSE_ERR_QUOTE for an unterminated quote. */
int csvparse_finish(csvparse *p);

/* Fields in the current row (valid after CSVPARSE_ROW). */
size_t csvparse_fields(const csvparse *p);
/* Field i of the current row, unquoted, "" turned into ", not
 * NUL-terminated; NULL if i is out of range.  len may be NULL. */
const char *csvparse_field(const csvparse *p, size_t i, size_t *len);
/* Rows returned so far (so the failing row of an error is this + 1). */
uint64_t csvparse_rows(const csvparse *p);
/* Stream bytes consumed so far; after an error, the offending byte's. */
uint64_t csvparse_offset(const csvparse *p);

/* A static English message for any code above; never NULL. */
const char *csvparse_strerror(int code);

#endif
