/* CSV tokenizer; see csv_reader.h.
 *
 * The common case -- a line without any quote character -- is split with
 * memchr and a tight loop; only lines containing '"' take the slower state
 * machine, which may run across line breaks inside quoted fields. */
#include "core/data/csv_reader.h"

#include <stdlib.h>
#include <string.h>

#define INITIAL_BUF (256u << 10) /* grows for longer records */

/* Spaces and tabs around fields are dropped (unless tab is the delimiter).
 * Delimiter ' ' means "runs of spaces and tabs", like pandas' sep=r"\s+". */
static int is_blank(char c, char delim) { return c == ' ' || (c == '\t' && delim != '\t'); }

/* Whitespace-separated records: fields are runs of non-blank characters. */
static int split_whitespace(ft_csv_reader *r, char *p, size_t n, ft_error *err);

int ft_csv_open(ft_csv_reader *r, ft_stream *in, char delim, size_t max_record, size_t max_fields,
             ft_error *err)
{
    memset(r, 0, sizeof *r);
    r->in = in;
    r->delim = delim;
    r->max_record = max_record;
    r->max_fields = max_fields;
    r->next_line = 1;
    r->cap = INITIAL_BUF;
    r->fcap = 64;
    r->buf = malloc(r->cap);
    r->field = malloc(r->fcap * sizeof *r->field);
    if (!r->buf || !r->field) {
        ft_csv_close(r);
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    }
    const unsigned char *p;
    size_t avail;
    if (ft_stream_peek(in, 3, &p, &avail, err) != 0) {
        ft_csv_close(r);
        return -1;
    }
    if (avail == 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF)
        ft_stream_skip(in, 3, NULL, err); /* cannot fail: the bytes are buffered */
    return 0;
}

void ft_csv_close(ft_csv_reader *r)
{
    free(r->buf);
    free(r->field);
    r->buf = NULL;
    r->field = NULL;
}

/* Read more input after the unread window, growing the buffer for a long
 * record up to the limit. */
static int more(ft_csv_reader *r, ft_error *err)
{
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->len - r->start);
        r->len -= r->start;
        r->start = 0;
    }
    if (r->len > r->max_record)
        return ft_fail(err, FT_ETOOBIG, NULL, "line %llu: a record is longer than %zu bytes (the limit)",
                       (unsigned long long)r->next_line, r->max_record);
    if (r->len == r->cap) {
        size_t cap = r->cap * 2;
        char *b = realloc(r->buf, cap);
        if (!b)
            return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        r->buf = b;
        r->cap = cap;
    }
    size_t got;
    if (ft_stream_read(r->in, r->buf + r->len, r->cap - r->len, &got, err) != 0)
        return -1;
    r->len += got;
    if (got == 0)
        r->eof = 1;
    return 0;
}

static int add_field(ft_csv_reader *r, char *p, size_t n, ft_error *err)
{
    if (r->nfields == r->fcap && r->fcap < r->max_fields) {
        size_t cap = r->fcap * 2 < r->max_fields ? r->fcap * 2 : r->max_fields;
        ft_csv_field *f = realloc(r->field, cap * sizeof *f);
        if (!f)
            return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        r->field = f;
        r->fcap = cap;
    }
    if (r->nfields < r->fcap)
        r->field[r->nfields] = (ft_csv_field){p, n};
    r->nfields++; /* fields past the limit are only counted */
    return 0;
}

static int bare_cr(const ft_csv_reader *r, ft_error *err)
{
    return ft_fail(err, FT_EFORMAT, NULL,
                   "line %llu: carriage return (CR) inside a line; the file must use LF or CRLF line endings",
                   (unsigned long long)r->line);
}

/* Split a record without quotes. */
static int split_simple(ft_csv_reader *r, char *p, size_t n, ft_error *err)
{
    if (memchr(p, '\r', n))
        return bare_cr(r, err);
    if (r->delim == ' ')
        return split_whitespace(r, p, n, err);
    char *q = p, *e = p + n, delim = r->delim;
    for (;;) {
        char *s = q;
        while (q < e && *q != delim)
            q++;
        char *t = q;
        while (s < t && is_blank(*s, delim))
            s++;
        while (t > s && is_blank(t[-1], delim))
            t--;
        if (add_field(r, s, (size_t)(t - s), err) != 0)
            return -1;
        if (q == e)
            return 0;
        q++;
    }
}

static int split_whitespace(ft_csv_reader *r, char *p, size_t n, ft_error *err)
{
    char *q = p, *e = p + n;
    for (;;) {
        while (q < e && (*q == ' ' || *q == '\t'))
            q++;
        if (q == e)
            return 0;
        char *s = q;
        while (q < e && *q != ' ' && *q != '\t')
            q++;
        if (add_field(r, s, (size_t)(q - s), err) != 0)
            return -1;
    }
}

/* Split a record with quotes, unescaping quoted fields in place. */
static int split_quoted(ft_csv_reader *r, char *p, size_t n, ft_error *err)
{
    char *q = p, *e = p + n, delim = r->delim;
    for (;;) {
        while (q < e && is_blank(*q, delim))
            q++;
        if (q < e && *q == '"') {
            char *s = q, *w = q;
            for (q++;;) {
                if (q >= e) /* the record scan ended outside quotes, so this cannot happen */
                    return ft_fail(err, FT_EFORMAT, NULL, "line %llu: unterminated quoted field",
                                   (unsigned long long)r->line);
                if (*q == '"') {
                    if (q + 1 < e && q[1] == '"') {
                        *w++ = '"';
                        q += 2;
                        continue;
                    }
                    q++;
                    break;
                }
                *w++ = *q++;
            }
            char *after = q;
            while (q < e && is_blank(*q, delim))
                q++;
            if (delim == ' ' && q > after)
                q--; /* the blanks were the separator */
            if (q < e && *q != delim && !(delim == ' ' && *q == '\t'))
                return ft_fail(err, FT_EFORMAT, NULL,
                               "line %llu, column %zu: unexpected character '%c' after a closing quote",
                               (unsigned long long)r->line, r->nfields + 1, *q >= 0x20 && *q < 0x7F ? *q : '?');
            if (add_field(r, s, (size_t)(w - s), err) != 0)
                return -1;
        } else {
            char *s = q;
            while (q < e && *q != delim && !(delim == ' ' && *q == '\t')) {
                if (*q == '\r')
                    return bare_cr(r, err);
                q++;
            }
            char *t = q;
            while (t > s && is_blank(t[-1], delim))
                t--;
            if (add_field(r, s, (size_t)(t - s), err) != 0)
                return -1;
        }
        if (q >= e)
            return 0;
        q++;
        if (delim == ' ') {
            while (q < e && is_blank(*q, delim))
                q++;
            if (q == e)
                return 0; /* trailing blanks are not an empty last field */
        }
    }
}

/* Find where a record with quotes ends: 1 (found), 0 (need more input), -1. */
static int quoted_end(ft_csv_reader *r, const char *p, size_t avail, size_t *end, size_t *used,
                      uint64_t *lines, ft_error *err)
{
    int inq = 0, fstart = 1;
    uint64_t nl = 1, open_line = 0;
    char delim = r->delim;
    for (size_t i = 0; i < avail; i++) {
        char c = p[i];
        if (inq) {
            if (c == '"') {
                if (i + 1 == avail && !r->eof)
                    return 0; /* an escaped "" may straddle the buffer end */
                if (i + 1 < avail && p[i + 1] == '"')
                    i++;
                else
                    inq = 0;
            } else if (c == '\n') {
                nl++;
            }
        } else if (c == '\n') {
            *end = i;
            *used = i + 1;
            *lines = nl;
            return 1;
        } else if (c == delim || (delim == ' ' && c == '\t')) {
            fstart = 1;
        } else if (c == '"' && fstart) {
            inq = 1;
            fstart = 0;
            open_line = r->next_line + nl - 1;
        } else if (!is_blank(c, delim)) {
            fstart = 0;
        }
    }
    if (!r->eof)
        return 0;
    if (inq)
        return ft_fail(err, FT_EFORMAT, NULL,
                       "line %llu: a quoted field is not closed before the end of the file",
                       (unsigned long long)open_line);
    *end = *used = avail;
    *lines = nl;
    return 1;
}

int ft_csv_next(ft_csv_reader *r, ft_error *err)
{
    for (;;) {
        char *p = r->buf + r->start;
        size_t avail = r->len - r->start, end = 0, used = 0;
        uint64_t lines = 1;
        int quoted;
        if (avail == 0) {
            if (r->eof)
                return 0;
            if (more(r, err) != 0)
                return -1;
            continue;
        }
        char *nl = memchr(p, '\n', avail);
        if (!nl && !r->eof) {
            if (more(r, err) != 0)
                return -1;
            continue;
        }
        size_t line_len = nl ? (size_t)(nl - p) : avail;
        if (!memchr(p, '"', line_len)) {
            quoted = 0;
            end = line_len;
            used = nl ? line_len + 1 : line_len;
        } else {
            quoted = 1;
            int rc = quoted_end(r, p, avail, &end, &used, &lines, err);
            if (rc < 0)
                return -1;
            if (rc == 0) {
                if (more(r, err) != 0)
                    return -1;
                continue;
            }
        }
        r->line = r->next_line;
        if (end > r->max_record) /* the same limit whether or not it fit in the buffer */
            return ft_fail(err, FT_ETOOBIG, NULL, "line %llu: a record is longer than %zu bytes (the limit)",
                           (unsigned long long)r->line, r->max_record);
        r->next_line += lines;
        r->start += used;
        if (end > 0 && p[end - 1] == '\r')
            end--;
        size_t k = 0;
        while (k < end && (p[k] == ' ' || p[k] == '\t'))
            k++;
        if (k == end)
            continue; /* blank line */
        r->nfields = 0;
        if ((quoted ? split_quoted : split_simple)(r, p, end, err) != 0)
            return -1;
        return 1;
    }
}
