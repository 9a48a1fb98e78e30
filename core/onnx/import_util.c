/* The importer's small helpers: the name map, attribute access, errors,
 * importer-owned tensors. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/onnx/import_internal.h"

static size_t hash(const char *s)
{
    size_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

int imp_map_get(const imp_map *m, const char *key)
{
    if (!m->cap)
        return -1;
    for (size_t i = hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i])
            return -1;
        if (strcmp(m->keys[i], key) == 0)
            return m->vals[i];
    }
}

static int map_insert(imp_map *m, const char *key, int val)
{
    size_t i = hash(key) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & (m->cap - 1);
    if (!m->keys[i]) {
        m->keys[i] = key;
        m->n++;
    }
    m->vals[i] = val;
    return 0;
}

/* Keep the load at most one half, so probes stay short and always end. */
static int map_grow(imp_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    imp_map bigger = {calloc(cap, sizeof *bigger.keys), calloc(cap, sizeof *bigger.vals), cap, 0};
    if (!bigger.keys || !bigger.vals) {
        free(bigger.keys);
        free(bigger.vals);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i])
            map_insert(&bigger, m->keys[i], m->vals[i]);
    free(m->keys);
    free(m->vals);
    *m = bigger;
    return 0;
}

int imp_map_put(imp_map *m, const char *key, int val)
{
    if ((m->n + 1) * 2 > m->cap && map_grow(m) != 0)
        return -1;
    return map_insert(m, key, val);
}

void imp_map_free(imp_map *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

int imp_fail(imp *im, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ft_fail(im->err, FT_EINVAL, NULL, "%s: %s", im->label, msg);
}

static const ft_onnx_attr *attr_of(const ft_onnx_node *n, const char *name, ft_onnx_attr_type type)
{
    const ft_onnx_attr *a = ft_onnx_attr_find(n, name);
    return a && a->type == type ? a : NULL;
}

int64_t imp_attr_int(const ft_onnx_node *n, const char *name, int64_t def)
{
    const ft_onnx_attr *a = attr_of(n, name, FT_ONNX_ATTR_INT);
    return a ? a->i : def;
}

float imp_attr_float(const ft_onnx_node *n, const char *name, float def)
{
    const ft_onnx_attr *a = attr_of(n, name, FT_ONNX_ATTR_FLOAT);
    return a ? a->f : def;
}

const char *imp_attr_string(const ft_onnx_node *n, const char *name, const char *def)
{
    const ft_onnx_attr *a = attr_of(n, name, FT_ONNX_ATTR_STRING);
    return a ? a->s : def;
}

int imp_attr_ints(imp *im, const ft_onnx_node *n, const char *name, int64_t *out, size_t max, size_t *count)
{
    const ft_onnx_attr *a = attr_of(n, name, FT_ONNX_ATTR_INTS);
    *count = 0;
    if (!a)
        return 0;
    if (a->count > max)
        return imp_fail(im, "%s has %zu values, at most %zu are supported", name, a->count, max);
    memcpy(out, a->ints, a->count * sizeof *out);
    *count = a->count;
    return 0;
}

const char *imp_ints_str(const int64_t *v, size_t n, char *buf, size_t size)
{
    size_t at = (size_t)snprintf(buf, size, "[");
    for (size_t i = 0; i < n && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, "%s%lld", i ? ", " : "", (long long)v[i]);
    if (at < size)
        snprintf(buf + at, size - at, "]");
    return buf;
}

json_t *imp_shape_json(const imp_shape *s)
{
    json_t *a = json_array();
    for (int i = 0; a && i < s->rank; i++)
        json_array_append_new(a, json_integer(s->d[i]));
    return a;
}

float *imp_floats(imp *im, size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    if (!p)
        ft_fail(im->err, FT_ENOMEM, NULL, "%s: out of memory", im->label);
    return p;
}

ft_onnx_tensor *imp_tensor_new(imp *im, ft_onnx_dtype dtype, size_t rank, const int64_t *dims)
{
    size_t count = 1;
    for (size_t i = 0; i < rank; i++)
        if (dims[i] < 0 || ft_mul_size(count, (size_t)dims[i], &count) != 0)
            return NULL;
    size_t elem = dtype == FT_ONNX_F32 ? sizeof(float) : sizeof(int64_t), bytes;
    if (ft_mul_size(count, elem, &bytes) != 0 || bytes > SIZE_MAX - sizeof(ft_onnx_tensor) - 8 * (rank + 1))
        return NULL;
    if (im->n_owned == im->cap_owned) {
        size_t cap = im->cap_owned ? im->cap_owned * 2 : 8;
        ft_onnx_tensor **o = realloc(im->owned, cap * sizeof *o);
        if (!o)
            return NULL;
        im->owned = o;
        im->cap_owned = cap;
    }
    /* One allocation: the struct, its dims, then the data (int64-aligned). */
    ft_onnx_tensor *t = calloc(1, sizeof *t + 8 * (rank + 1) + bytes);
    if (!t)
        return NULL;
    int64_t *d = (int64_t *)(t + 1);
    memcpy(d, dims, rank * sizeof *d);
    void *data = d + rank + 1;
    *t = (ft_onnx_tensor){.name = "", .onnx_type = dtype == FT_ONNX_F32 ? 1 : 7, .dtype = dtype, .rank = rank,
                          .dims = d, .count = count};
    if (dtype == FT_ONNX_F32)
        t->f32 = data;
    else
        t->i64 = data;
    im->owned[im->n_owned++] = t;
    return t;
}
