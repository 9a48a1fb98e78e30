#include "core/util/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util/fsutil.h"

struct ft_st_file {
    int fd;                     /* file descriptor, or -1 for an in-memory image */
    const unsigned char *mem;   /* in-memory image, or NULL */
    uint64_t data_start;        /* 8 + header length */
    uint64_t data_len;          /* bytes in the data buffer */
    size_t ntensors;
    ft_st_tensor *tensors;      /* sorted by begin offset */
    json_t *header;             /* parsed header; owns tensor name strings */
    json_t *meta;               /* header's __metadata__ object, or NULL */
};

static const struct {
    const char *name;
    size_t size;
} dtype_info[] = {
    [FT_ST_BOOL] = {"BOOL", 1}, [FT_ST_U8] = {"U8", 1},     [FT_ST_I8] = {"I8", 1},
    [FT_ST_I16] = {"I16", 2},   [FT_ST_U16] = {"U16", 2},   [FT_ST_F16] = {"F16", 2},
    [FT_ST_BF16] = {"BF16", 2}, [FT_ST_I32] = {"I32", 4},   [FT_ST_U32] = {"U32", 4},
    [FT_ST_F32] = {"F32", 4},   [FT_ST_I64] = {"I64", 8},   [FT_ST_U64] = {"U64", 8},
    [FT_ST_F64] = {"F64", 8},
};
#define NDTYPES (sizeof dtype_info / sizeof dtype_info[0])

size_t ft_st_dtype_size(ft_st_dtype t) { return (size_t)t < NDTYPES ? dtype_info[t].size : 0; }
const char *ft_st_dtype_name(ft_st_dtype t) { return (size_t)t < NDTYPES ? dtype_info[t].name : "?"; }

static int dtype_parse(const char *s, ft_st_dtype *out)
{
    for (size_t i = 0; i < NDTYPES; i++)
        if (strcmp(s, dtype_info[i].name) == 0) {
            *out = (ft_st_dtype)i;
            return 0;
        }
    return -1;
}

void ft_st_close(ft_st_file *f)
{
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
    free(f->tensors);
    json_decref(f->header);
    free(f);
}

static int by_begin(const void *a, const void *b)
{
    const ft_st_tensor *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* Parse one tensor entry {"dtype", "shape", "data_offsets"} with no other keys. */
static int parse_tensor(const char *name, json_t *v, ft_st_tensor *t, ft_error *err)
{
    if (!json_is_object(v))
        return ft_fail(err, FT_EFORMAT, NULL, "tensor '%s': entry is not an object", name);
    json_t *dtype = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
           *offs = json_object_get(v, "data_offsets");
    if (json_object_size(v) != 3 || !json_is_string(dtype) || !json_is_array(shape) ||
        !json_is_array(offs))
        return ft_fail(err, FT_EFORMAT, NULL,
                       "tensor '%s': expected exactly dtype, shape and data_offsets", name);
    t->name = name;
    if (dtype_parse(json_string_value(dtype), &t->dtype) != 0)
        return ft_fail(err, FT_EFORMAT, NULL, "tensor '%s': unknown dtype '%s'", name,
                       json_string_value(dtype));
    size_t rank = json_array_size(shape);
    if (rank > FT_ST_MAX_RANK)
        return ft_fail(err, FT_EFORMAT, NULL, "tensor '%s': rank %zu exceeds %d", name, rank,
                       FT_ST_MAX_RANK);
    t->rank = (int)rank;
    uint64_t bytes = ft_st_dtype_size(t->dtype);
    for (size_t i = 0; i < rank; i++) {
        json_t *d = json_array_get(shape, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return ft_fail(err, FT_EFORMAT, NULL, "tensor '%s': shape[%zu] is not a size", name, i);
        t->shape[i] = (uint64_t)json_integer_value(d);
        if (t->shape[i] != 0 && bytes > UINT64_MAX / t->shape[i])
            return ft_fail(err, FT_EFORMAT, NULL, "tensor '%s': size overflows", name);
        bytes *= t->shape[i];
    }
    json_t *b = json_array_get(offs, 0), *e = json_array_get(offs, 1);
    if (json_array_size(offs) != 2 || !json_is_integer(b) || !json_is_integer(e) ||
        json_integer_value(b) < 0 || json_integer_value(e) < json_integer_value(b))
        return ft_fail(err, FT_EFORMAT, NULL, "tensor '%s': bad data_offsets", name);
    t->begin = (uint64_t)json_integer_value(b);
    t->end = (uint64_t)json_integer_value(e);
    if (t->end - t->begin != bytes)
        return ft_fail(err, FT_EFORMAT, NULL,
                       "tensor '%s': %s shape needs %llu bytes but data_offsets span %llu", name,
                       ft_st_dtype_name(t->dtype), (unsigned long long)bytes,
                       (unsigned long long)(t->end - t->begin));
    return 0;
}

/* Validate a header (hlen bytes at hdr) for a file of total size `total`. */
static int parse_header(ft_st_file *f, const char *hdr, uint64_t hlen, uint64_t total, ft_error *err)
{
    if (hlen == 0 || hdr[0] != '{')
        return ft_fail(err, FT_EFORMAT, NULL, "header does not start with '{'");
    json_error_t jerr;
    f->header = json_loadb(hdr, (size_t)hlen, JSON_REJECT_DUPLICATES,
                           &jerr);
    if (!f->header)
        return ft_fail(err, FT_EFORMAT, NULL, "header is not valid JSON: %s (offset %d)", jerr.text,
                       jerr.position);
    if (!json_is_object(f->header))
        return ft_fail(err, FT_EFORMAT, NULL, "header is not a JSON object");
    f->data_start = 8 + hlen;
    f->data_len = total - f->data_start;

    size_t n = json_object_size(f->header);
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    if (!f->tensors)
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    const char *key;
    json_t *v;
    json_object_foreach(f->header, key, v) {
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_is_object(v))
                return ft_fail(err, FT_EFORMAT, NULL, "__metadata__ is not an object");
            const char *mk;
            json_t *mv;
            json_object_foreach(v, mk, mv) {
                if (!json_is_string(mv))
                    return ft_fail(err, FT_EFORMAT, NULL, "__metadata__ value '%s' is not a string",
                                   mk);
            }
            f->meta = v;
            continue;
        }
        if (parse_tensor(key, v, &f->tensors[f->ntensors], err) != 0)
            return -1;
        f->ntensors++;
    }
    /* The tensors must tile [0, data_len) exactly. */
    qsort(f->tensors, f->ntensors, sizeof *f->tensors, by_begin);
    uint64_t pos = 0;
    for (size_t i = 0; i < f->ntensors; i++) {
        const ft_st_tensor *t = &f->tensors[i];
        if (t->begin != pos)
            return ft_fail(err, FT_EFORMAT, NULL, "tensor '%s' starts at %llu, expected %llu (%s)",
                           t->name, (unsigned long long)t->begin, (unsigned long long)pos,
                           t->begin < pos ? "overlap" : "gap");
        pos = t->end;
    }
    if (pos != f->data_len)
        return ft_fail(err, FT_EFORMAT, NULL,
                       "tensors cover %llu bytes but the data buffer holds %llu",
                       (unsigned long long)pos, (unsigned long long)f->data_len);
    return 0;
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Check the length prefix against the total size; returns the header length. */
static int check_prefix(const unsigned char *p8, uint64_t total, uint64_t *hlen, ft_error *err)
{
    if (total < 8)
        return ft_fail(err, FT_EFORMAT, NULL, "file is %llu bytes, too short for a header",
                       (unsigned long long)total);
    *hlen = le64(p8);
    if (*hlen > FT_ST_MAX_HEADER)
        return ft_fail(err, FT_EFORMAT, NULL, "header length %llu exceeds the %u-byte limit",
                       (unsigned long long)*hlen, FT_ST_MAX_HEADER);
    if (*hlen > total - 8)
        return ft_fail(err, FT_EFORMAT, NULL, "header length %llu runs past the end of the file",
                       (unsigned long long)*hlen);
    return 0;
}

ft_st_file *ft_st_open_mem(const void *buf, size_t len, ft_error *err)
{
    ft_st_file *f = calloc(1, sizeof *f);
    if (!f) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    f->fd = -1;
    f->mem = buf;
    uint64_t hlen;
    if (check_prefix(buf, len, &hlen, err) != 0 ||
        parse_header(f, (const char *)f->mem + 8, hlen, len, err) != 0) {
        ft_st_close(f);
        return NULL;
    }
    return f;
}

ft_st_file *ft_st_open(const char *path, ft_error *err)
{
    ft_st_file *f = calloc(1, sizeof *f);
    char *hdr = NULL;
    if (!f) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    unsigned char p8[8];
    uint64_t hlen;
    if (f->fd < 0) {
        ft_fail_errno(err, errno, "cannot open", path);
        goto fail;
    }
    if (fstat(f->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ft_fail(err, FT_EIO, NULL, "%s is not a readable regular file", path);
        goto fail;
    }
    if (st.st_size < 8 || ft_pread_all(f->fd, p8, 8, 0) != 0) {
        ft_fail(err, FT_EFORMAT, NULL, "file is %lld bytes, too short for a header",
                (long long)st.st_size);
        goto fail;
    }
    if (check_prefix(p8, (uint64_t)st.st_size, &hlen, err) != 0)
        goto fail;
    hdr = malloc(hlen ? hlen : 1);
    if (!hdr) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory for a %llu-byte header",
                (unsigned long long)hlen);
        goto fail;
    }
    if (ft_pread_all(f->fd, hdr, hlen, 8) != 0) {
        ft_fail_errno(err, errno ? errno : EIO, "cannot read", path);
        goto fail;
    }
    if (parse_header(f, hdr, hlen, (uint64_t)st.st_size, err) != 0)
        goto fail;
    free(hdr);
    return f;
fail:
    free(hdr);
    ft_st_close(f);
    return NULL;
}

size_t ft_st_count(const ft_st_file *f) { return f->ntensors; }
const ft_st_tensor *ft_st_at(const ft_st_file *f, size_t i) { return i < f->ntensors ? &f->tensors[i] : NULL; }

const ft_st_tensor *ft_st_find(const ft_st_file *f, const char *name)
{
    for (size_t i = 0; i < f->ntensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0)
            return &f->tensors[i];
    return NULL;
}

const char *ft_st_meta(const ft_st_file *f, const char *key)
{
    return f->meta ? json_string_value(json_object_get(f->meta, key)) : NULL;
}

const json_t *ft_st_meta_all(const ft_st_file *f) { return f->meta; }

int ft_st_read(ft_st_file *f, const ft_st_tensor *t, uint64_t offset, void *dst, size_t len,
               ft_error *err)
{
    uint64_t size = t->end - t->begin;
    if (offset > size || len > size - offset)
        return ft_fail(err, FT_EINVAL, NULL, "read past the end of tensor '%s'", t->name);
    uint64_t at = f->data_start + t->begin + offset;
    if (f->mem) {
        memcpy(dst, f->mem + at, len);
        return 0;
    }
    if (ft_pread_all(f->fd, dst, len, at) != 0)
        return ft_fail(err, FT_EIO, NULL, "cannot read tensor '%s'", t->name);
    return 0;
}

int ft_st_read_f32(ft_st_file *f, const char *name, int rank, const uint64_t *shape, float *dst,
                   ft_error *err)
{
    const ft_st_tensor *t = ft_st_find(f, name);
    if (!t)
        return ft_fail(err, FT_EFORMAT, NULL, "missing tensor '%s'", name);
    int same = t->dtype == FT_ST_F32 && t->rank == rank;
    for (int i = 0; same && i < rank; i++)
        same = t->shape[i] == shape[i];
    if (!same) {
        char want[128] = "", got[128] = "";
        for (int i = 0; i < rank; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%llu", i ? "," : "",
                     (unsigned long long)shape[i]);
        for (int i = 0; i < t->rank; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%llu", i ? "," : "",
                     (unsigned long long)t->shape[i]);
        return ft_fail(err, FT_EFORMAT, NULL, "tensor '%s' is %s [%s], expected F32 [%s]", name,
                       ft_st_dtype_name(t->dtype), got, want);
    }
    return ft_st_read(f, t, 0, dst, (size_t)(t->end - t->begin), err);
}
