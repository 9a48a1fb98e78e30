#include "core/data/dataset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/rng.h"

struct ft_dataset {
    size_t rows;          /* number of samples */
    ft_shape shape;       /* per-sample shape */
    size_t row_size;      /* elements per sample */
    ft_xtype xtype;       /* storage type of x */
    ft_target_kind kind;  /* labels or float targets */
    int target_dim;       /* classes, or floats per row */
    void *x;              /* rows * row_size elements of xtype */
    int32_t *labels;      /* rows labels (classes), else NULL */
    float *targets;       /* rows * target_dim (values), else NULL */
    char **class_names;   /* target_dim names (classes), else NULL */
};

ft_dataset *ft_dataset_new(size_t rows, ft_shape shape, ft_xtype xtype, ft_target_kind kind,
                           int target_dim, ft_error *err)
{
    size_t row_size = 1, xbytes, ybytes;
    for (int i = 0; i < shape.rank; i++) {
        if (shape.dim[i] <= 0 || ft_mul_size(row_size, (size_t)shape.dim[i], &row_size) != 0) {
            ft_fail(err, FT_EINVAL, NULL, "invalid sample shape");
            return NULL;
        }
    }
    if (rows > UINT32_MAX) { /* rows are indexed with uint32_t */
        ft_fail(err, FT_ETOOBIG, NULL, "a dataset holds at most %u rows", UINT32_MAX);
        return NULL;
    }
    if (shape.rank < 1 || shape.rank > FT_SHAPE_MAX_RANK || target_dim <= 0) {
        ft_fail(err, FT_EINVAL, NULL, "invalid dataset shape or target dimension");
        return NULL;
    }
    size_t esize = xtype == FT_X_U8 ? 1 : sizeof(float);
    size_t per_row_y = kind == FT_TARGET_CLASSES ? sizeof(int32_t) : sizeof(float) * (size_t)target_dim;
    if (ft_mul_size(rows, row_size, &xbytes) != 0 || ft_mul_size(xbytes, esize, &xbytes) != 0 ||
        ft_mul_size(rows, per_row_y, &ybytes) != 0) {
        ft_fail(err, FT_ENOMEM, NULL, "dataset of %zu rows is too large", rows);
        return NULL;
    }
    ft_dataset *ds = calloc(1, sizeof *ds);
    if (!ds)
        goto oom;
    ds->rows = rows;
    ds->shape = shape;
    ds->row_size = row_size;
    ds->xtype = xtype;
    ds->kind = kind;
    ds->target_dim = target_dim;
    ds->x = calloc(xbytes ? xbytes : 1, 1);
    if (!ds->x)
        goto oom;
    if (kind == FT_TARGET_CLASSES) {
        ds->labels = calloc(rows ? rows : 1, sizeof(int32_t));
        ds->class_names = calloc((size_t)target_dim, sizeof(char *));
        if (!ds->labels || !ds->class_names)
            goto oom;
        for (int k = 0; k < target_dim; k++) {
            char name[16];
            snprintf(name, sizeof name, "%d", k);
            if (!(ds->class_names[k] = strdup(name)))
                goto oom;
        }
    } else {
        ds->targets = calloc(ybytes ? ybytes : 1, 1);
        if (!ds->targets)
            goto oom;
    }
    return ds;
oom:
    ft_dataset_free(ds);
    ft_fail(err, FT_ENOMEM, NULL, "out of memory for a dataset of %zu rows", rows);
    return NULL;
}

void ft_dataset_free(ft_dataset *ds)
{
    if (!ds)
        return;
    if (ds->class_names)
        for (int k = 0; k < ds->target_dim; k++)
            free(ds->class_names[k]);
    free(ds->class_names);
    free(ds->x);
    free(ds->labels);
    free(ds->targets);
    free(ds);
}

size_t ft_dataset_rows(const ft_dataset *ds) { return ds->rows; }
ft_shape ft_dataset_shape(const ft_dataset *ds) { return ds->shape; }
ft_xtype ft_dataset_xtype(const ft_dataset *ds) { return ds->xtype; }
ft_target_kind ft_dataset_target_kind(const ft_dataset *ds) { return ds->kind; }
int ft_dataset_target_dim(const ft_dataset *ds) { return ds->target_dim; }
uint8_t *ft_dataset_x_u8(ft_dataset *ds) { return ds->xtype == FT_X_U8 ? ds->x : NULL; }
float *ft_dataset_x_f32(ft_dataset *ds) { return ds->xtype == FT_X_F32 ? ds->x : NULL; }
const uint8_t *ft_dataset_cx_u8(const ft_dataset *ds) { return ds->xtype == FT_X_U8 ? ds->x : NULL; }
const float *ft_dataset_cx_f32(const ft_dataset *ds) { return ds->xtype == FT_X_F32 ? ds->x : NULL; }
int32_t *ft_dataset_labels(ft_dataset *ds) { return ds->labels; }
float *ft_dataset_targets(ft_dataset *ds) { return ds->targets; }
const int32_t *ft_dataset_clabels(const ft_dataset *ds) { return ds->labels; }
const float *ft_dataset_ctargets(const ft_dataset *ds) { return ds->targets; }

const char *ft_dataset_class_name(const ft_dataset *ds, int k)
{
    if (!ds->class_names || k < 0 || k >= ds->target_dim)
        return NULL;
    return ds->class_names[k];
}

int ft_dataset_set_class_name(ft_dataset *ds, int k, const char *name, ft_error *err)
{
    if (!ds->class_names || k < 0 || k >= ds->target_dim)
        return ft_fail(err, FT_EINVAL, NULL, "class %d out of range", k);
    char *copy = strdup(name);
    if (!copy)
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    free(ds->class_names[k]);
    ds->class_names[k] = copy;
    return 0;
}

int ft_dataset_validate(const ft_dataset *ds, ft_error *err)
{
    if (ds->kind == FT_TARGET_CLASSES) {
        for (size_t i = 0; i < ds->rows; i++)
            if (ds->labels[i] < 0 || ds->labels[i] >= ds->target_dim)
                return ft_fail(err, FT_EFORMAT, NULL, "row %zu: label %d is outside 0..%d", i,
                               ds->labels[i], ds->target_dim - 1);
    } else {
        for (size_t i = 0; i < ds->rows * (size_t)ds->target_dim; i++)
            if (!isfinite(ds->targets[i]))
                return ft_fail(err, FT_EFORMAT, NULL, "row %zu: target is not finite",
                               i / (size_t)ds->target_dim);
    }
    if (ds->xtype == FT_X_F32) {
        const float *x = ds->x;
        for (size_t i = 0; i < ds->rows * ds->row_size; i++)
            if (!isfinite(x[i]))
                return ft_fail(err, FT_EFORMAT, NULL, "row %zu: feature %zu is not finite",
                               i / ds->row_size, i % ds->row_size);
    }
    return 0;
}

void ft_dataset_class_counts(const ft_dataset *ds, uint64_t *counts)
{
    memset(counts, 0, sizeof *counts * (size_t)ds->target_dim);
    if (ds->kind != FT_TARGET_CLASSES)
        return;
    for (size_t i = 0; i < ds->rows; i++)
        counts[ds->labels[i]]++;
}

json_t *ft_dataset_summary(const ft_dataset *ds)
{
    json_t *shape = json_array();
    for (int i = 0; i < ds->shape.rank; i++)
        json_array_append_new(shape, json_integer(ds->shape.dim[i]));
    json_t *s = json_pack("{s:I, s:o, s:s}", "rows", (json_int_t)ds->rows, "input_shape", shape,
                          "dtype", ds->xtype == FT_X_U8 ? "uint8" : "float32");
    if (!s)
        return NULL;
    if (ds->kind == FT_TARGET_CLASSES) {
        uint64_t *counts = calloc((size_t)ds->target_dim, sizeof *counts);
        json_t *classes = json_array();
        if (counts)
            ft_dataset_class_counts(ds, counts);
        for (int k = 0; counts && k < ds->target_dim; k++)
            json_array_append_new(classes, json_pack("{s:s, s:I}", "name", ds->class_names[k],
                                                     "count", (json_int_t)counts[k]));
        free(counts);
        json_object_set_new(s, "task", json_string("classification"));
        json_object_set_new(s, "classes", classes);
    } else {
        double sum = 0, sq = 0, lo = INFINITY, hi = -INFINITY;
        size_t n = ds->rows * (size_t)ds->target_dim;
        for (size_t i = 0; i < n; i++) {
            double v = ds->targets[i];
            sum += v;
            sq += v * v;
            lo = fmin(lo, v);
            hi = fmax(hi, v);
        }
        double mean = n ? sum / (double)n : 0, var = n ? sq / (double)n - mean * mean : 0;
        json_object_set_new(s, "task", json_string("regression"));
        json_object_set_new(s, "targets",
                            json_pack("{s:i, s:f, s:f, s:f, s:f}", "dim", ds->target_dim, "mean",
                                      mean, "std", sqrt(fmax(var, 0)), "min", n ? lo : 0.0, "max",
                                      n ? hi : 0.0));
    }
    return s;
}

ft_dataset *ft_dataset_take_relabel(const ft_dataset *ds, const uint32_t *idx, size_t n,
                                    const int *class_map, int new_classes, ft_error *err)
{
    int classes = ds->kind == FT_TARGET_CLASSES ? new_classes : ds->target_dim;
    ft_dataset *out = ft_dataset_new(n, ds->shape, ds->xtype, ds->kind, classes, err);
    if (!out)
        return NULL;
    size_t rb = ds->row_size * (ds->xtype == FT_X_U8 ? 1 : sizeof(float));
    for (size_t i = 0; i < n; i++) {
        memcpy((char *)out->x + i * rb, (const char *)ds->x + (size_t)idx[i] * rb, rb);
        if (ds->kind == FT_TARGET_CLASSES)
            out->labels[i] = class_map ? class_map[ds->labels[idx[i]]] : ds->labels[idx[i]];
        else
            memcpy(out->targets + i * (size_t)ds->target_dim,
                   ds->targets + (size_t)idx[i] * (size_t)ds->target_dim,
                   sizeof(float) * (size_t)ds->target_dim);
    }
    for (int k = 0; ds->class_names && k < ds->target_dim; k++) {
        int to = class_map ? class_map[k] : k;
        if (to >= 0 && ft_dataset_set_class_name(out, to, ds->class_names[k], err) != 0) {
            ft_dataset_free(out);
            return NULL;
        }
    }
    return out;
}

ft_dataset *ft_dataset_take(const ft_dataset *ds, const uint32_t *idx, size_t n, ft_error *err)
{
    return ft_dataset_take_relabel(ds, idx, n, NULL, ds->target_dim, err);
}
