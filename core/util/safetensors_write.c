/* safetensors writer: header JSON with sorted keys (so equal inputs give
 * byte-identical files), padded with spaces to a multiple of 8. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/fsutil.h"
#include "core/util/safetensors.h"

typedef struct {
    char *name;
    ft_st_dtype dtype;
    int rank;
    uint64_t shape[FT_ST_MAX_RANK];
    uint64_t bytes;
    const void *data;
} pending_tensor;

struct ft_st_writer {
    pending_tensor *t;
    size_t n, cap;
    json_t *meta;
};

ft_st_writer *ft_st_writer_new(void)
{
    ft_st_writer *w = calloc(1, sizeof *w);
    if (w && !(w->meta = json_object())) {
        free(w);
        return NULL;
    }
    return w;
}

void ft_st_writer_free(ft_st_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++)
        free(w->t[i].name);
    free(w->t);
    json_decref(w->meta);
    free(w);
}

int ft_st_writer_add(ft_st_writer *w, const char *name, ft_st_dtype dtype, int rank,
                     const uint64_t *shape, const void *data, ft_error *err)
{
    if (rank < 0 || rank > FT_ST_MAX_RANK || ft_st_dtype_size(dtype) == 0 ||
        strcmp(name, "__metadata__") == 0)
        return ft_fail(err, FT_EINVAL, NULL, "invalid tensor '%s'", name);
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return ft_fail(err, FT_EINVAL, NULL, "duplicate tensor '%s'", name);
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        pending_tensor *t = realloc(w->t, cap * sizeof *t);
        if (!t)
            return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        w->t = t;
        w->cap = cap;
    }
    pending_tensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    t->bytes = ft_st_dtype_size(dtype);
    for (int i = 0; i < rank; i++) {
        if (shape[i] != 0 && t->bytes > UINT64_MAX / shape[i])
            return ft_fail(err, FT_ENOMEM, NULL, "tensor '%s' is too large", name);
        t->bytes *= shape[i];
        t->shape[i] = shape[i];
    }
    if (!(t->name = strdup(name)))
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    t->dtype = dtype;
    t->rank = rank;
    t->data = data;
    w->n++;
    return 0;
}

int ft_st_writer_meta(ft_st_writer *w, const char *key, const char *value, ft_error *err)
{
    if (json_object_set_new(w->meta, key, json_string(value)) != 0)
        return ft_fail(err, FT_EINVAL, NULL, "cannot set metadata '%s' (not UTF-8?)", key);
    return 0;
}

/* Build the padded header; *hlen includes the padding. */
static char *build_header(ft_st_writer *w, size_t *hlen, ft_error *err)
{
    json_t *h = json_object();
    uint64_t pos = 0;
    for (size_t i = 0; h && i < w->n; i++) {
        pending_tensor *t = &w->t[i];
        json_t *shape = json_array();
        for (int d = 0; d < t->rank; d++)
            json_array_append_new(shape, json_integer((json_int_t)t->shape[d]));
        json_object_set_new(h, t->name,
                            json_pack("{s:s, s:o, s:[I,I]}", "dtype", ft_st_dtype_name(t->dtype),
                                      "shape", shape, "data_offsets", (json_int_t)pos,
                                      (json_int_t)(pos + t->bytes)));
        pos += t->bytes;
    }
    if (h && json_object_size(w->meta) > 0)
        json_object_set(h, "__metadata__", w->meta);
    char *s = h ? json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(h);
    if (!s) {
        ft_fail(err, FT_ENOMEM, NULL, "cannot encode safetensors header");
        return NULL;
    }
    size_t len = strlen(s), padded = (len + 7) & ~(size_t)7;
    char *out = realloc(s, padded);
    if (!out) {
        free(s);
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    memset(out + len, ' ', padded - len);
    *hlen = padded;
    return out;
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

int ft_st_writer_write(ft_st_writer *w, const char *path, ft_error *err)
{
    size_t hlen;
    char *hdr = build_header(w, &hlen, err);
    if (!hdr)
        return -1;
    unsigned char p8[8];
    put_le64(p8, hlen);
    ft_atomic_file f;
    int rc = ft_atomic_open(&f, path, err);
    if (rc == 0)
        rc = ft_atomic_write(&f, p8, 8, err);
    if (rc == 0)
        rc = ft_atomic_write(&f, hdr, hlen, err);
    for (size_t i = 0; rc == 0 && i < w->n; i++)
        rc = ft_atomic_write(&f, w->t[i].data, (size_t)w->t[i].bytes, err);
    free(hdr);
    if (rc != 0) {
        ft_atomic_abort(&f);
        return -1;
    }
    return ft_atomic_commit(&f, err);
}

int ft_st_writer_to_mem(ft_st_writer *w, unsigned char **buf, size_t *len, ft_error *err)
{
    size_t hlen;
    char *hdr = build_header(w, &hlen, err);
    if (!hdr)
        return -1;
    size_t total = 8 + hlen;
    for (size_t i = 0; i < w->n; i++)
        total += (size_t)w->t[i].bytes;
    unsigned char *out = malloc(total ? total : 1);
    if (!out) {
        free(hdr);
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    }
    put_le64(out, hlen);
    memcpy(out + 8, hdr, hlen);
    size_t pos = 8 + hlen;
    for (size_t i = 0; i < w->n; i++) {
        if (w->t[i].bytes)
            memcpy(out + pos, w->t[i].data, (size_t)w->t[i].bytes);
        pos += (size_t)w->t[i].bytes;
    }
    free(hdr);
    *buf = out;
    *len = total;
    return 0;
}
