/* Strict reader and atomic writer for the safetensors format.
 *
 * Layout: 8-byte little-endian header length N, N bytes of JSON header (padded
 * with spaces to a multiple of 8 when we write), then the data buffer. Every
 * tensor's data_offsets are relative to the buffer, and the tensors must tile
 * it exactly: no gaps, no overlaps, nothing past the end. The reader checks all
 * of that, with overflow-checked arithmetic, before any data is touched, so a
 * malformed file is an error and never a crash or an out-of-bounds read.
 */
#ifndef FT_SAFETENSORS_H
#define FT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/util/error.h"

#define FT_ST_MAX_RANK 8
#define FT_ST_MAX_HEADER (100u << 20) /* same limit as the reference implementation */

typedef enum {
    FT_ST_BOOL, FT_ST_U8, FT_ST_I8, FT_ST_I16, FT_ST_U16, FT_ST_F16, FT_ST_BF16,
    FT_ST_I32, FT_ST_U32, FT_ST_F32, FT_ST_I64, FT_ST_U64, FT_ST_F64
} ft_st_dtype;

typedef struct {
    const char *name;              /* tensor name (owned by the file handle) */
    ft_st_dtype dtype;             /* element type */
    int rank;                      /* number of dimensions, 0..FT_ST_MAX_RANK */
    uint64_t shape[FT_ST_MAX_RANK];/* dimensions */
    uint64_t begin, end;           /* byte range within the data buffer */
} ft_st_tensor;

typedef struct ft_st_file ft_st_file;

/* Open a file and validate its header against the file size. */
ft_st_file *ft_st_open(const char *path, ft_error *err);

/* Parse and validate an in-memory image (the buffer must outlive the handle). */
ft_st_file *ft_st_open_mem(const void *buf, size_t len, ft_error *err);

void ft_st_close(ft_st_file *f);

/* Number of tensors, and the i-th in buffer order. */
size_t ft_st_count(const ft_st_file *f);
const ft_st_tensor *ft_st_at(const ft_st_file *f, size_t i);

/* Tensor by name, or NULL. */
const ft_st_tensor *ft_st_find(const ft_st_file *f, const char *name);

/* __metadata__ value for key, or NULL. */
const char *ft_st_meta(const ft_st_file *f, const char *key);

/* The whole __metadata__ object (string values), or NULL. */
const struct json_t *ft_st_meta_all(const ft_st_file *f);

/* Bytes per element of a dtype, and its safetensors spelling ("F32"). */
size_t ft_st_dtype_size(ft_st_dtype t);
const char *ft_st_dtype_name(ft_st_dtype t);

/* Copy bytes [offset, offset + len) of tensor t's data into dst. */
int ft_st_read(ft_st_file *f, const ft_st_tensor *t, uint64_t offset, void *dst, size_t len,
               ft_error *err);

/* Fetch tensor `name` as F32 with exactly the given shape into dst
 * (dst holds product(shape) floats); anything else is an FT_EFORMAT error. */
int ft_st_read_f32(ft_st_file *f, const char *name, int rank, const uint64_t *shape, float *dst,
                   ft_error *err);

typedef struct ft_st_writer ft_st_writer;

ft_st_writer *ft_st_writer_new(void);
void ft_st_writer_free(ft_st_writer *w);

/* Queue a tensor. `data` is referenced, not copied: keep it alive until
 * ft_st_writer_write returns. Tensors are laid out in the order added. */
int ft_st_writer_add(ft_st_writer *w, const char *name, ft_st_dtype dtype, int rank,
                     const uint64_t *shape, const void *data, ft_error *err);

/* Set a __metadata__ entry (value copied). */
int ft_st_writer_meta(ft_st_writer *w, const char *key, const char *value, ft_error *err);

/* Write atomically: temp file in the same directory, fsync, rename, fsync dir. */
int ft_st_writer_write(ft_st_writer *w, const char *path, ft_error *err);

/* Serialise into a malloc'd buffer instead (for tests and HTTP bodies). */
int ft_st_writer_to_mem(ft_st_writer *w, unsigned char **buf, size_t *len, ft_error *err);

#endif
