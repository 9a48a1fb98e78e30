/* CSV tokenizer (internal): records and fields from a stream, RFC 4180 style.
 *
 * Fields may be quoted ("a, b", "say ""hi""", quoted line breaks); spaces and
 * tabs around a field are dropped (inside quotes they stay); CRLF and LF line
 * endings are both fine; blank lines are skipped. Fields point into the
 * reader's buffer and stay valid until the next ft_csv_next call. */
#ifndef FT_CSV_READER_H
#define FT_CSV_READER_H

#include <stdint.h>

#include "core/util/stream.h"

typedef struct {
    char *p;  /* field text, unquoted and trimmed (not NUL-terminated) */
    size_t n; /* its length */
} ft_csv_field;

typedef struct {
    ft_stream *in;       /* source */
    char *buf;           /* input window */
    size_t cap;          /* bytes allocated for buf */
    size_t start, len;   /* unread window [start, len) */
    int eof;             /* the stream is exhausted */
    size_t max_record;   /* longest record accepted */
    char delim;          /* field separator */
    uint64_t next_line;  /* physical line number where the next record starts */
    uint64_t line;       /* line number of the current record */
    ft_csv_field *field; /* the current record's fields (first fcap of them) */
    size_t nfields;      /* fields in the current record (may exceed fcap) */
    size_t fcap;         /* fields stored */
    size_t max_fields;   /* fields stored at most */
} ft_csv_reader;

/* Start reading; a UTF-8 byte order mark is skipped. */
int ft_csv_open(ft_csv_reader *r, ft_stream *in, char delim, size_t max_record, size_t max_fields,
             ft_error *err);
void ft_csv_close(ft_csv_reader *r);

/* Next non-blank record: 1, or 0 at the end, or -1 on error. */
int ft_csv_next(ft_csv_reader *r, ft_error *err);

#endif
