/* Building blocks the dataset format parsers share (internal to core/): a
 * chunked row store, a string table for labels, the dataset budget, UTF-8
 * checks and message quoting, summary warnings, and gunzip on magic. */
#ifndef FT_PARSE_HELPERS_H
#define FT_PARSE_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/data/format.h"
#include "core/util/error.h"
#include "core/util/stream.h"

/* An append-only byte store in fixed chunks. Parsers append rows without
 * knowing the final count; copying out frees each chunk as it goes, so the
 * peak is the data plus one chunk -- never the 2x of a realloc'd array. */
typedef struct {
    unsigned char *data; /* the chunk's bytes */
    size_t used, size;   /* bytes used, bytes allocated */
} ft_chunk;

typedef struct {
    ft_chunk *chunk;   /* chunks in order */
    size_t n, cap;     /* chunks in use, slots allocated */
    size_t chunk_size; /* largest chunk (chunks grow to it; a larger reservation gets its own) */
    uint64_t total;    /* bytes reserved so far */
} ft_chunkbuf;

/* An empty store whose chunks grow to chunk_size bytes. */
void ft_chunkbuf_init(ft_chunkbuf *b, size_t chunk_size);

/* Contiguous room for `bytes` more bytes, counted as used; NULL on OOM. */
void *ft_chunkbuf_reserve(ft_chunkbuf *b, size_t bytes, ft_error *err);

/* Copy everything (b->total bytes) into dst and free the chunks. */
void ft_chunkbuf_drain(ft_chunkbuf *b, void *dst);

/* Free the chunks (safe after drain, and twice). */
void ft_chunkbuf_free(ft_chunkbuf *b);

/* A set of strings with dense ids 0, 1, ... in order of first insertion. */
typedef struct ft_strtab ft_strtab;

ft_strtab *ft_strtab_new(void);
void ft_strtab_free(ft_strtab *t);

/* The id of the n bytes at s, adding them if new (*added says which). */
int ft_strtab_intern(ft_strtab *t, const char *s, size_t n, uint32_t *id, int *added, ft_error *err);

/* Number of strings, and string `id` (NUL-terminated, owned by the table). */
size_t ft_strtab_count(const ft_strtab *t);
const char *ft_strtab_get(const ft_strtab *t, uint32_t id);

/* Refuse (FT_ETOOBIG) a dataset of `rows` rows of `row_bytes` stored bytes
 * each -- features plus the label or targets -- that would exceed `limit`,
 * or that has more rows than a dataset can index. Parsers call it with what
 * headers, counts or the rows so far promise, before they allocate. */
int ft_ingest_budget(uint64_t rows, uint64_t row_bytes, uint64_t limit, ft_error *err);

/* Whether the n bytes at p are well-formed UTF-8 without NUL bytes
 * (everything that goes into JSON must be). */
int ft_utf8_valid(const char *p, size_t n);

/* Quote untrusted text for an error message: at most 40 characters, control
 * characters as '?', "..." when cut. Returns dst. */
char *ft_msg_text(char *dst, size_t cap, const char *p, size_t n);

/* Append a warning sentence to info["warnings"]. */
void ft_info_warn(json_t *info, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Open a stream on a file's path or bytes (as they are: not gunzipped). */
ft_stream *ft_format_file_open(const ft_format_file *f, ft_error *err);

/* Start gunzipping the stream if it begins with gzip magic. */
int ft_stream_auto_gunzip(ft_stream *s, const ft_ingest_options *opt, ft_error *err);

#endif
