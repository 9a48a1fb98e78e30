/* Stored datasets; see dataset_store.h. */
#include "core/data/dataset_store.h"

#include <stdlib.h>
#include <string.h>

#include "core/data/format.h"
#include "core/util/safetensors.h"

#define STORE_FORMAT "finetuned.dataset"
#define STORE_VERSION "1"

static int set_json_meta(ft_st_writer *w, const char *key, const json_t *j, ft_error *err)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s)
        return ft_fail(err, FT_ENOMEM, NULL, "cannot encode %s", key);
    int rc = ft_st_writer_meta(w, key, s, err);
    free(s);
    return rc;
}

int ft_dataset_save(const ft_dataset *ds, const json_t *summary, const char *path, ft_error *err)
{
    ft_shape s = ft_dataset_shape(ds);
    uint64_t n = ft_dataset_rows(ds), xshape[FT_SHAPE_MAX_RANK + 1] = {n}, yshape[2] = {n, 0};
    for (int i = 0; i < s.rank; i++)
        xshape[i + 1] = (uint64_t)s.dim[i];
    int classes = ft_dataset_target_kind(ds) == FT_TARGET_CLASSES;
    yshape[1] = (uint64_t)ft_dataset_target_dim(ds);
    ft_st_writer *w = ft_st_writer_new();
    json_t *names = json_array(), *shape = json_array();
    for (int i = 0; shape && i < s.rank; i++)
        json_array_append_new(shape, json_integer(s.dim[i]));
    int rc = -1;
    if (!w || !names || !shape) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        goto done;
    }
    const void *x = ft_dataset_xtype(ds) == FT_X_U8 ? (const void *)ft_dataset_cx_u8(ds) : (const void *)ft_dataset_cx_f32(ds);
    const void *y = classes ? (const void *)ft_dataset_clabels(ds) : (const void *)ft_dataset_ctargets(ds);
    for (int k = 0; classes && k < ft_dataset_target_dim(ds); k++)
        json_array_append_new(names, json_string(ft_dataset_class_name(ds, k)));
    if (ft_st_writer_add(w, "x", ft_dataset_xtype(ds) == FT_X_U8 ? FT_ST_U8 : FT_ST_F32, s.rank + 1, xshape, x, err) != 0 ||
        ft_st_writer_add(w, "y", classes ? FT_ST_I32 : FT_ST_F32, classes ? 1 : 2, yshape, y, err) != 0 ||
        ft_st_writer_meta(w, "format", STORE_FORMAT, err) != 0 ||
        ft_st_writer_meta(w, "format_version", STORE_VERSION, err) != 0 ||
        set_json_meta(w, "input_shape", shape, err) != 0 ||
        (classes && set_json_meta(w, "classes", names, err) != 0) ||
        (summary && set_json_meta(w, "summary", summary, err) != 0))
        goto done;
    rc = ft_st_writer_write(w, path, err);
done:
    ft_st_writer_free(w);
    json_decref(names);
    json_decref(shape);
    return rc;
}

/* A dataset of the given shape holding src's data (same element count). */
static ft_dataset *reshape(const ft_dataset *src, ft_shape shape, ft_error *err)
{
    ft_target_kind kind = ft_dataset_target_kind(src);
    int dim = ft_dataset_target_dim(src);
    size_t n = ft_dataset_rows(src), elems = n * ft_shape_size(shape);
    ft_dataset *ds = ft_dataset_new(n, shape, ft_dataset_xtype(src), kind, dim, err);
    if (!ds)
        return NULL;
    if (ft_dataset_xtype(src) == FT_X_U8)
        memcpy(ft_dataset_x_u8(ds), ft_dataset_cx_u8(src), elems);
    else
        memcpy(ft_dataset_x_f32(ds), ft_dataset_cx_f32(src), elems * sizeof(float));
    if (kind == FT_TARGET_CLASSES) {
        memcpy(ft_dataset_labels(ds), ft_dataset_clabels(src), n * sizeof(int32_t));
        for (int k = 0; k < dim; k++)
            if (ft_dataset_set_class_name(ds, k, ft_dataset_class_name(src, k), err) != 0) {
                ft_dataset_free(ds);
                return NULL;
            }
    } else {
        memcpy(ft_dataset_targets(ds), ft_dataset_ctargets(src), n * (size_t)dim * sizeof(float));
    }
    return ds;
}

/* input_shape: 1 to 3 positive dimensions (our own reader: the model's
 * shape parser has tighter per-dimension limits than datasets). */
static int shape_from_json(const json_t *a, ft_shape *out)
{
    size_t rank = json_array_size(a);
    if (!json_is_array(a) || rank < 1 || rank > FT_SHAPE_MAX_RANK)
        return -1;
    memset(out, 0, sizeof *out);
    out->rank = (int)rank;
    for (size_t i = 0; i < rank; i++) {
        json_t *d = json_array_get(a, i);
        if (!json_is_integer(d) || json_integer_value(d) < 1 || json_integer_value(d) > INT32_MAX)
            return -1;
        out->dim[i] = (int)json_integer_value(d);
    }
    return 0;
}

/* Parse a metadata value as JSON (NULL if absent). */
static int meta_json(ft_st_file *f, const char *key, json_t **out, ft_error *err)
{
    const char *s = ft_st_meta(f, key);
    *out = NULL;
    if (!s)
        return 0;
    if (!(*out = json_loads(s, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL)))
        return ft_fail(err, FT_EFORMAT, NULL, "__metadata__ \"%s\" is not valid JSON", key);
    return 0;
}

static int load(ft_st_file *f, ft_dataset **out, json_t **summary, ft_error *err)
{
    const char *fmt = ft_st_meta(f, "format"), *ver = ft_st_meta(f, "format_version");
    if (!fmt || strcmp(fmt, STORE_FORMAT) != 0)
        return ft_fail(err, FT_EFORMAT, NULL, "not a stored dataset (__metadata__ \"format\" is not \"%s\")",
                       STORE_FORMAT);
    if (!ver || strcmp(ver, STORE_VERSION) != 0)
        return ft_fail(err, FT_EFORMAT, NULL, "stored dataset version %s is not supported", ver ? ver : "(none)");
    const ft_st_tensor *y = ft_st_find(f, "y");
    if (ft_st_count(f) != 2 || !ft_st_find(f, "x") || !y)
        return ft_fail(err, FT_EFORMAT, NULL, "a stored dataset holds exactly the tensors x and y");
    int classes = ft_st_meta(f, "classes") != NULL;
    if (classes ? (y->dtype != FT_ST_I32 || y->rank != 1) : (y->dtype != FT_ST_F32 || y->rank != 2))
        return ft_fail(err, FT_EFORMAT, NULL, "tensor 'y' must be I32 [n] with classes, or F32 [n, T] without");
    json_t *jshape = NULL, *stored = NULL;
    ft_dataset *ds = NULL;
    ft_shape shape;
    if (meta_json(f, "input_shape", &jshape, err) != 0 || meta_json(f, "summary", &stored, err) != 0)
        goto fail;
    if (!jshape || shape_from_json(jshape, &shape) != 0) {
        ft_fail(err, FT_EFORMAT, NULL, "__metadata__ \"input_shape\" is missing or invalid");
        goto fail;
    }
    if (stored && !json_is_object(stored)) {
        ft_fail(err, FT_EFORMAT, NULL, "__metadata__ \"summary\" is not a JSON object");
        goto fail;
    }
    /* x and y are read and validated exactly as an upload would be. */
    ft_ingest_options opt = {.task = classes ? FT_TASK_CLASSIFICATION : FT_TASK_REGRESSION,
                             .max_classes = 1u << 24,
                             .max_dataset_bytes = UINT64_MAX};
    ft_ingest_resolve(&opt, &opt);
    json_t *info = json_object();
    int rc = info ? ft_st_dataset_parse(f, &opt, &ds, info, err) : ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    json_decref(info);
    if (rc != 0)
        goto fail;
    const ft_st_tensor *x = ft_st_find(f, "x");
    int same = x->rank == shape.rank + 1;
    for (int i = 0; same && i < shape.rank; i++)
        same = x->shape[i + 1] == (uint64_t)shape.dim[i];
    if (!same) {
        ft_fail(err, FT_EFORMAT, NULL, "tensor 'x' does not match __metadata__ \"input_shape\"");
        goto fail;
    }
    if (!ft_shape_equal(shape, ft_dataset_shape(ds))) {
        ft_dataset *r = reshape(ds, shape, err);
        if (!r)
            goto fail;
        ft_dataset_free(ds);
        ds = r;
    }
    if (summary) {
        json_t *fresh = ft_dataset_summary(ds);
        if (!fresh) {
            ft_fail(err, FT_ENOMEM, NULL, "out of memory");
            goto fail;
        }
        if (!stored)
            stored = json_object();
        json_object_update(stored, fresh);
        json_decref(fresh);
        *summary = stored;
        stored = NULL;
    }
    json_decref(jshape);
    json_decref(stored);
    *out = ds;
    return 0;
fail:
    json_decref(jshape);
    json_decref(stored);
    ft_dataset_free(ds);
    return -1;
}

int ft_dataset_load(const char *path, ft_dataset **out, json_t **summary, ft_error *err)
{
    *out = NULL;
    if (summary)
        *summary = NULL;
    ft_st_file *f = ft_st_open(path, err);
    if (!f) {
        ft_error_prefix(err, "%s", path);
        return -1;
    }
    int rc = load(f, out, summary, err);
    ft_st_close(f);
    if (rc != 0)
        ft_error_prefix(err, "%s", path);
    return rc;
}

int ft_dataset_load_mem(const void *data, size_t len, ft_dataset **out, json_t **summary, ft_error *err)
{
    *out = NULL;
    if (summary)
        *summary = NULL;
    ft_st_file *f = ft_st_open_mem(data, len, err);
    if (!f)
        return -1;
    int rc = load(f, out, summary, err);
    ft_st_close(f);
    return rc;
}
