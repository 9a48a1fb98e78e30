/* Byte streams for dataset ingestion: a file or a memory buffer, optionally
 * gunzipped, read through one bounded buffer.
 *
 * Every parser reads its input through an ft_stream so that (1) memory stays
 * bounded whatever the file size, (2) the same parser runs on a file (uploads,
 * the CLI) or on a memory buffer (fuzzers, tests), and (3) the SHA-256 and
 * byte count of the *original* bytes (compressed, if the file is gzipped) are
 * computed as a side effect of parsing, with no second pass over the file.
 */
#ifndef FT_STREAM_H
#define FT_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "core/util/error.h"

#define FT_SHA256_SIZE 32

typedef struct ft_stream ft_stream;

/* Open a regular file for reading (directories, FIFOs and devices are refused). */
ft_stream *ft_stream_open_file(const char *path, ft_error *err);

/* Read from a memory buffer, which must outlive the stream. */
ft_stream *ft_stream_open_mem(const void *data, size_t len, ft_error *err);

/* Close the stream and free its buffers (NULL is fine). */
void ft_stream_close(ft_stream *s);

/* Decode gzip from here on; max_out caps the decompressed size (FT_ETOOBIG
 * past it, so a gzip bomb cannot exhaust memory or time). Call it before
 * anything has been consumed (peeking is fine). Concatenated gzip members
 * are read as one stream, as gzip(1) does. */
int ft_stream_gunzip(ft_stream *s, uint64_t max_out, ft_error *err);

/* Whether the stream decodes gzip. */
int ft_stream_is_gzip(const ft_stream *s);

/* Make up to n (<= 64 KiB) bytes visible without consuming them: *p points at
 * them and *avail says how many there are (fewer than n only at the end). */
int ft_stream_peek(ft_stream *s, size_t n, const unsigned char **p, size_t *avail, ft_error *err);

/* Read up to n bytes; *got < n only at the end of the stream. */
int ft_stream_read(ft_stream *s, void *dst, size_t n, size_t *got, ft_error *err);

/* Read exactly n bytes; a shorter stream is an FT_EFORMAT error naming `what`. */
int ft_stream_read_full(ft_stream *s, void *dst, size_t n, const char *what, ft_error *err);

/* Discard n bytes (fewer only at the end; *skipped says how many). */
int ft_stream_skip(ft_stream *s, uint64_t n, uint64_t *skipped, ft_error *err);

/* Decoded bytes consumed so far. */
uint64_t ft_stream_tell(const ft_stream *s);

/* Read the rest of the original bytes (without decoding them) and return
 * their SHA-256 and total count. Reading stops after this. */
int ft_stream_finish(ft_stream *s, uint8_t sha256[FT_SHA256_SIZE], uint64_t *bytes, ft_error *err);

/* Lower-case hex of a digest into out (65 bytes). */
void ft_sha256_hex(const uint8_t sha256[FT_SHA256_SIZE], char out[2 * FT_SHA256_SIZE + 1]);

#endif
