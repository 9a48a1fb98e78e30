/* The safetensors format: tensor `x` (U8 or F32; F64 is converted) of shape
 * [n], [n, F], [n, H, W] or [n, C, H, W], and tensor `y`: integers (I32,
 * I64, U8, ...) of shape [n] are class indices, floats (F32, F64) of shape
 * [n] or [n, T] are regression targets.
 *
 * __metadata__ keys (all optional):
 *   "classes": a JSON array of class names as a string, '["cat", "dog"]';
 *              labels must then be < its length.
 *   "layout":  "NCHW" (default, PyTorch) or "NHWC" (channels last, numpy /
 *              Keras); NHWC images are transposed to NCHW on load.
 * Other tensors are ignored with a warning. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/data/format.h"
#include "core/data/parse_helpers.h"

#define CHUNK (1u << 20)

static int is_int_dtype(ft_st_dtype t)
{
    return t == FT_ST_U8 || t == FT_ST_I8 || t == FT_ST_I16 || t == FT_ST_U16 || t == FT_ST_I32 ||
           t == FT_ST_U32 || t == FT_ST_I64 || t == FT_ST_U64;
}

/* Element i of a little-endian buffer of dtype t, as a double (integers of
 * up to 2^53 exactly; larger ones only need to compare as out of range). */
static double element(const unsigned char *p, ft_st_dtype t, size_t i)
{
    switch (t) {
    case FT_ST_U8: return p[i];
    case FT_ST_I8: return (int8_t)p[i];
    case FT_ST_I16: { int16_t v; memcpy(&v, p + 2 * i, 2); return v; }
    case FT_ST_U16: { uint16_t v; memcpy(&v, p + 2 * i, 2); return v; }
    case FT_ST_I32: { int32_t v; memcpy(&v, p + 4 * i, 4); return v; }
    case FT_ST_U32: { uint32_t v; memcpy(&v, p + 4 * i, 4); return v; }
    case FT_ST_I64: { int64_t v; memcpy(&v, p + 8 * i, 8); return (double)v; }
    case FT_ST_U64: { uint64_t v; memcpy(&v, p + 8 * i, 8); return (double)v; }
    case FT_ST_F32: { float v; memcpy(&v, p + 4 * i, 4); return v; }
    case FT_ST_F64: { double v; memcpy(&v, p + 8 * i, 8); return v; }
    default: return NAN;
    }
}

/* Call fn on every element of tensor t, in chunks; fn returns 0 or -1. */
typedef int (*elem_fn)(void *ctx, size_t index, double v, ft_error *err);

static int each_element(ft_st_file *f, const ft_st_tensor *t, elem_fn fn, void *ctx, ft_error *err)
{
    size_t es = ft_st_dtype_size(t->dtype), total = (size_t)((t->end - t->begin) / es);
    size_t per = CHUNK / es;
    unsigned char *buf = malloc(CHUNK);
    if (!buf)
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    for (size_t at = 0; at < total; at += per) {
        size_t n = total - at < per ? total - at : per;
        if (ft_st_read(f, t, (uint64_t)at * es, buf, n * es, err) != 0)
            goto fail;
        for (size_t i = 0; i < n; i++)
            if (fn(ctx, at + i, element(buf, t->dtype, i), err) != 0)
                goto fail;
    }
    free(buf);
    return 0;
fail:
    free(buf);
    return -1;
}

typedef struct {
    ft_dataset *ds;
    size_t row_size;  /* elements per row of x */
    int target_dim;   /* floats per row of y (targets) */
    int classes;      /* class count (labels) */
    int max_label;    /* largest label seen */
} fill_ctx;

static int put_x(void *vc, size_t i, double v, ft_error *err)
{
    fill_ctx *c = vc;
    if (!isfinite(v) || fabs(v) > 3.4028234663852886e38)
        return ft_fail(err, FT_EFORMAT, NULL, "x[%zu][%zu] = %g is not a finite float32", i / c->row_size,
                       i % c->row_size, v);
    ft_dataset_x_f32(c->ds)[i] = (float)v;
    return 0;
}

static int put_label(void *vc, size_t i, double v, ft_error *err)
{
    fill_ctx *c = vc;
    if (!(v >= 0 && v < c->classes && v == floor(v)))
        return ft_fail(err, FT_EFORMAT, NULL, "y[%zu] = %g is not a class index 0..%d", i, v, c->classes - 1);
    ft_dataset_labels(c->ds)[i] = (int32_t)v;
    return 0;
}

static int scan_label(void *vc, size_t i, double v, ft_error *err)
{
    fill_ctx *c = vc;
    if (!(v >= 0 && v < c->classes && v == floor(v)))
        return ft_fail(err, FT_EFORMAT, NULL, "y[%zu] = %g is not a class index%s", i, v,
                       c->classes == INT32_MAX ? " (a non-negative integer)" : "");
    if ((int)v > c->max_label)
        c->max_label = (int)v;
    return 0;
}

static int put_target(void *vc, size_t i, double v, ft_error *err)
{
    fill_ctx *c = vc;
    if (!isfinite(v) || fabs(v) > 3.4028234663852886e38)
        return ft_fail(err, FT_EFORMAT, NULL, "y[%zu] = %g is not a finite float32", i / (size_t)c->target_dim, v);
    ft_dataset_targets(c->ds)[i] = (float)v;
    return 0;
}

/* "classes" metadata: a JSON array of distinct non-empty strings. */
static json_t *class_names(ft_st_file *f, uint64_t max_classes, ft_error *err)
{
    const char *s = ft_st_meta(f, "classes");
    if (!s)
        return NULL;
    json_t *a = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
    size_t n = json_array_size(a);
    int ok = json_is_array(a) && n > 0 && n <= max_classes;
    for (size_t i = 0; ok && i < n; i++) {
        const char *name = json_string_value(json_array_get(a, i));
        ok = name && *name;
        for (size_t j = 0; ok && j < i; j++)
            ok = strcmp(name, json_string_value(json_array_get(a, j))) != 0;
    }
    if (!ok) {
        json_decref(a);
        ft_fail(err, FT_EFORMAT, NULL,
                "__metadata__ \"classes\" must be a JSON array of 1 to %llu distinct non-empty strings, "
                "e.g. '[\"cat\", \"dog\"]'", (unsigned long long)max_classes);
    }
    return ok ? a : NULL;
}

static void shape_text(const ft_st_tensor *t, char *buf, size_t cap)
{
    size_t w = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < t->rank && w < cap; i++)
        w += (size_t)snprintf(buf + w, cap - w, "%s%llu", i ? ", " : "", (unsigned long long)t->shape[i]);
    if (w < cap)
        snprintf(buf + w, cap - w, "]");
}

/* The per-row shape of x, honouring the layout. */
static int row_shape(ft_st_file *f, const ft_st_tensor *x, ft_shape *shape, int *nhwc, ft_error *err)
{
    char dims[160];
    shape_text(x, dims, sizeof dims);
    if (x->rank < 1 || x->rank > 4)
        return ft_fail(err, FT_EFORMAT, NULL, "tensor 'x' is %s; it must be [n], [n, F], [n, H, W] or [n, C, H, W]",
                       dims);
    if (x->shape[0] == 0)
        return ft_fail(err, FT_EFORMAT, NULL, "tensor 'x' has no rows");
    for (int i = 1; i < x->rank; i++)
        if (x->shape[i] == 0 || x->shape[i] > (x->rank == 2 ? (uint64_t)INT32_MAX : 65536u))
            return ft_fail(err, FT_EFORMAT, NULL, "tensor 'x' is %s: dimension %d is out of range", dims, i);
    const char *layout = ft_st_meta(f, "layout");
    *nhwc = 0;
    if (layout && strcmp(layout, "NHWC") == 0)
        *nhwc = 1;
    else if (layout && strcmp(layout, "NCHW") != 0)
        return ft_fail(err, FT_EFORMAT, NULL, "__metadata__ \"layout\" must be \"NCHW\" or \"NHWC\", not \"%s\"", layout);
    if (*nhwc && x->rank != 4)
        return ft_fail(err, FT_EFORMAT, NULL, "layout NHWC needs x of rank 4, but x is %s", dims);
    if (!layout && x->rank == 4 && x->shape[1] > 4 && x->shape[3] <= 4)
        return ft_fail(err, FT_EFORMAT, NULL,
                       "tensor 'x' is %s, which looks channels-last (NHWC); transpose it to [n, C, H, W] "
                       "or set __metadata__ \"layout\" to \"NHWC\"", dims);
    int d1 = x->rank > 1 ? (int)x->shape[1] : 1, d2 = x->rank > 2 ? (int)x->shape[2] : 1,
        d3 = x->rank > 3 ? (int)x->shape[3] : 1;
    if (x->rank <= 2)
        *shape = ft_shape1(d1);
    else if (x->rank == 3)
        *shape = ft_shape3(1, d1, d2);
    else
        *shape = *nhwc ? ft_shape3(d3, d1, d2) : ft_shape3(d1, d2, d3);
    return 0;
}

/* Read x into the dataset: bytes as they are, or floats converted/checked,
 * transposing NHWC rows to CHW. */
static int read_x(ft_st_file *f, const ft_st_tensor *x, int nhwc, ft_dataset *ds, ft_error *err)
{
    fill_ctx c = {.ds = ds, .row_size = ft_shape_size(ft_dataset_shape(ds))};
    size_t rows = ft_dataset_rows(ds), total = rows * c.row_size;
    if (!nhwc) {
        if (x->dtype == FT_ST_U8)
            return ft_st_read(f, x, 0, ft_dataset_x_u8(ds), total, err);
        return each_element(f, x, put_x, &c, err);
    }
    ft_shape s = ft_dataset_shape(ds);
    size_t ch = (size_t)s.dim[0], hw = (size_t)s.dim[1] * (size_t)s.dim[2], es = ft_st_dtype_size(x->dtype);
    unsigned char *tmp = malloc(c.row_size * es);
    if (!tmp)
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    for (size_t r = 0; r < rows; r++) {
        if (ft_st_read(f, x, (uint64_t)r * c.row_size * es, tmp, c.row_size * es, err) != 0) {
            free(tmp);
            return -1;
        }
        for (size_t p = 0; p < hw; p++)
            for (size_t k = 0; k < ch; k++) {
                size_t src = p * ch + k, dst = r * c.row_size + k * hw + p;
                if (x->dtype == FT_ST_U8) {
                    ft_dataset_x_u8(ds)[dst] = tmp[src];
                } else if (put_x(&c, dst, element(tmp, x->dtype, src), err) != 0) {
                    free(tmp);
                    return -1;
                }
            }
    }
    free(tmp);
    return 0;
}

static int parse(ft_st_file *f, const ft_ingest_options *opt, ft_dataset **out, json_t *info, json_t **names,
                 ft_error *err)
{
    const ft_st_tensor *x = ft_st_find(f, "x"), *y = ft_st_find(f, "y");
    if (!x)
        return ft_fail(err, FT_EFORMAT, NULL, "there is no tensor 'x' (the features or images, [n, ...])");
    if (!y)
        return ft_fail(err, FT_EFORMAT, NULL, "there is no tensor 'y' (the labels or targets, [n])");
    for (size_t i = 0; i < ft_st_count(f); i++) {
        const char *name = ft_st_at(f, i)->name;
        if (strcmp(name, "x") != 0 && strcmp(name, "y") != 0)
            ft_info_warn(info, "tensor '%s' is ignored (only x and y are read)", name);
    }
    if (x->dtype != FT_ST_U8 && x->dtype != FT_ST_F32 && x->dtype != FT_ST_F64)
        return ft_fail(err, FT_EFORMAT, NULL, "tensor 'x' is %s; it must be U8 or F32 (F64 is converted to F32)",
                       ft_st_dtype_name(x->dtype));
    ft_shape shape;
    int nhwc = 0;
    if (row_shape(f, x, &shape, &nhwc, err) != 0)
        return -1;
    uint64_t n = x->shape[0];
    char ydims[160];
    shape_text(y, ydims, sizeof ydims);
    if (y->rank < 1 || y->rank > 2 || y->shape[0] != n)
        return ft_fail(err, FT_EFORMAT, NULL, "tensor 'y' is %s; it must be [%llu] or [%llu, T] to match x", ydims,
                       (unsigned long long)n, (unsigned long long)n);
    int is_int = is_int_dtype(y->dtype), is_float = y->dtype == FT_ST_F32 || y->dtype == FT_ST_F64;
    if (!is_int && !is_float)
        return ft_fail(err, FT_EFORMAT, NULL, "tensor 'y' is %s; it must hold integers (classes) or F32 (targets)",
                       ft_st_dtype_name(y->dtype));
    int classes = opt->task == FT_TASK_CLASSIFICATION || (is_int && opt->task != FT_TASK_REGRESSION);
    uint64_t ydim = y->rank == 2 ? y->shape[1] : 1;
    if (classes && ydim != 1)
        return ft_fail(err, FT_EFORMAT, NULL, "tensor 'y' is %s; class labels must be [%llu]", ydims,
                       (unsigned long long)n);
    if (ydim == 0 || ydim > 65536)
        return ft_fail(err, FT_EFORMAT, NULL, "tensor 'y' is %s: the target dimension is out of range", ydims);
    /* Stored size from the header: x as U8 or F32, plus a label or the targets per row. */
    uint64_t row_bytes = ft_shape_size(shape) * (x->dtype == FT_ST_U8 ? 1 : sizeof(float)) +
                         (classes ? sizeof(int32_t) : ydim * sizeof(float));
    if (ft_ingest_budget(n, row_bytes, opt->max_dataset_bytes, err) != 0)
        return -1;
    fill_ctx c = {.row_size = ft_shape_size(shape), .target_dim = (int)ydim, .classes = INT32_MAX, .max_label = -1};
    if (classes) {
        if ((*names = class_names(f, opt->max_classes, err)) == NULL && ft_st_meta(f, "classes"))
            return -1;
        if (*names)
            c.classes = (int)json_array_size(*names);
        else {
            if (each_element(f, y, scan_label, &c, err) != 0)
                return -1;
            if ((uint64_t)c.max_label + 1 > opt->max_classes)
                return ft_fail(err, FT_ETOOBIG, NULL, "y has %d classes, more than the limit of %llu",
                               c.max_label + 1, (unsigned long long)opt->max_classes);
            c.classes = c.max_label + 1;
        }
    }
    ft_dataset *ds = ft_dataset_new((size_t)n, shape, x->dtype == FT_ST_U8 ? FT_X_U8 : FT_X_F32,
                                    classes ? FT_TARGET_CLASSES : FT_TARGET_VALUES, classes ? c.classes : (int)ydim,
                                    err);
    if (!ds)
        return -1;
    c.ds = ds;
    for (int k = 0; *names && k < c.classes; k++)
        if (ft_dataset_set_class_name(ds, k, json_string_value(json_array_get(*names, (size_t)k)), err) != 0)
            goto fail;
    if (read_x(f, x, nhwc, ds, err) != 0 ||
        each_element(f, y, classes ? put_label : put_target, &c, err) != 0)
        goto fail;
    if (x->rank == 4)
        json_object_set_new(info, "layout", json_string(nhwc ? "NHWC" : "NCHW"));
    *out = ds;
    return 0;
fail:
    ft_dataset_free(ds);
    return -1;
}

int ft_st_dataset_parse(ft_st_file *f, const ft_ingest_options *opt, ft_dataset **out, json_t *info,
                        ft_error *err)
{
    json_t *names = NULL;
    int rc = parse(f, opt, out, info, &names, err);
    json_decref(names);
    return rc;
}

static int st_parse(const ft_format_file *files, const ft_ingest_options *opt, ft_dataset **out, json_t *info,
                    ft_error *err)
{
    const ft_format_file *in = &files[0];
    if (ft_stream_is_gzip(in->stream))
        return ft_fail(err, FT_EFORMAT, NULL,
                       "gzip-compressed safetensors files are not supported; upload the .safetensors file itself");
    ft_st_file *f = in->data ? ft_st_open_mem(in->data, in->len, err) : ft_st_open(in->path, err);
    if (!f)
        return -1;
    int rc = ft_st_dataset_parse(f, opt, out, info, err);
    ft_st_close(f);
    return rc;
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* A little-endian header length, then the JSON header's '{'. */
static ft_sniff st_sniff(const unsigned char *p, size_t n, bool gz)
{
    return !gz && n >= 9 && p[8] == '{' && le64(p) >= 2 && le64(p) <= FT_ST_MAX_HEADER ? FT_SNIFF_SURE
                                                                                       : FT_SNIFF_NO;
}

/* The task from the first byte. */
static size_t st_fuzz_options(const uint8_t *data, size_t size, ft_ingest_options *o)
{
    (void)size;
    o->task = (ft_task)(data[0] % 3);
    return 1;
}

static const char *const st_suffixes[] = {".safetensors", NULL};

const ft_format_desc ft_format_safetensors = {
    .id = FT_FORMAT_SAFETENSORS, .name = "safetensors", .what = "safetensors", .suffixes = st_suffixes,
    .files = 1, .options = FT_OPT_TASK, .sniff = st_sniff, .parse = st_parse, .fuzz_options = st_fuzz_options,
};
