/* Model files: one .safetensors file. Tensors "<layer>.weight" / "<layer>.bias"
 * (F32) in PyTorch layouts; the architecture, class names and preprocessing
 * travel as JSON strings in __metadata__, so the Hugging Face safetensors
 * library can still read the weights. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn/model_internal.h"
#include "core/util/safetensors.h"

#define MODEL_FORMAT "finetuned.model.v1"

/* One parameter tensor of the file: "<layer>.weight" in PyTorch layout or
 * "<layer>.bias", and where its values sit in the flat parameter array. */
typedef struct {
    char name[FT_NAME_MAX + 16];
    int rank;
    uint64_t shape[4];
    size_t offset;
    const char *hint; /* the layer type's word on a weight in the wrong layout, or NULL */
} param_tensor;

/* The model's tensors in file order; returns how many (at most 2 per layer: a constant has no bias). */
static int param_tensors(const ft_model *m, param_tensor *t)
{
    int n = 0;
    for (int i = 0; i < m->nlayers; i++) {
        const ft_layer *l = &m->layers[i];
        if (!l->nweights)
            continue;
        param_tensor *w = &t[n++];
        snprintf(w->name, sizeof w->name, "%s.weight", l->name);
        w->rank = l->kind->weight_shape(l, w->shape);
        w->offset = l->param_offset;
        w->hint = l->kind->weight_hint;
        if (!l->nbias)
            continue; /* a constant's weight stands alone */
        param_tensor *b = &t[n++];
        snprintf(b->name, sizeof b->name, "%s.bias", l->name);
        b->rank = 1;
        b->shape[0] = (uint64_t)l->nbias;
        b->offset = l->param_offset + l->nweights;
        b->hint = NULL;
    }
    return n;
}

static char *dump_json(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
}

/* Queue tensors and metadata; *strings collects allocations freed by the caller. */
static int build_writer(const ft_model *m, ft_st_writer *w, char **strings, ft_error *err)
{
    param_tensor *t = malloc(sizeof *t * 2 * (size_t)m->nlayers);
    if (!t)
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    int n = param_tensors(m, t);
    for (int i = 0; i < n; i++)
        if (ft_st_writer_add(w, t[i].name, FT_ST_F32, t[i].rank, t[i].shape, m->params + t[i].offset, err) != 0) {
            free(t);
            return -1;
        }
    free(t); /* the writer copied the names */
    json_t *arch = ft_model_arch_json(m);
    strings[0] = arch ? dump_json(arch) : NULL;
    json_decref(arch);
    strings[1] = m->classes ? dump_json(m->classes) : NULL;
    strings[2] = m->preprocessing ? dump_json(m->preprocessing) : NULL;
    if (!strings[0] || (m->classes && !strings[1]) || (m->preprocessing && !strings[2]))
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    char first[16];
    snprintf(first, sizeof first, "%d", m->first_trainable);
    if (ft_st_writer_meta(w, "format", MODEL_FORMAT, err) != 0 ||
        ft_st_writer_meta(w, "architecture", strings[0], err) != 0 ||
        ft_st_writer_meta(w, "trainable_from", first, err) != 0 ||
        (strings[1] && ft_st_writer_meta(w, "classes", strings[1], err) != 0) ||
        (strings[2] && ft_st_writer_meta(w, "preprocessing", strings[2], err) != 0))
        return -1;
    const char *key;
    json_t *v;
    json_object_foreach(m->meta, key, v) {
        if (ft_st_writer_meta(w, key, json_string_value(v), err) != 0)
            return -1;
    }
    return 0;
}

static int save_common(const ft_model *m, const char *path, unsigned char **buf, size_t *len,
                       ft_error *err)
{
    ft_st_writer *w = ft_st_writer_new();
    char *strings[3] = {NULL, NULL, NULL};
    if (!w)
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    int rc = build_writer(m, w, strings, err);
    if (rc == 0)
        rc = path ? ft_st_writer_write(w, path, err) : ft_st_writer_to_mem(w, buf, len, err);
    for (int i = 0; i < 3; i++)
        free(strings[i]);
    ft_st_writer_free(w);
    return rc;
}

int ft_model_save(const ft_model *m, const char *path, ft_error *err)
{
    return save_common(m, path, NULL, NULL, err);
}

int ft_model_save_mem(const ft_model *m, unsigned char **buf, size_t *len, ft_error *err)
{
    return save_common(m, NULL, buf, len, err);
}

static json_t *meta_json(ft_st_file *f, const char *key, ft_error *err)
{
    const char *s = ft_st_meta(f, key);
    if (!s)
        return NULL;
    json_error_t jerr;
    json_t *j = json_loads(s, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        ft_fail(err, FT_EFORMAT, NULL, "metadata '%s' is not valid JSON: %s", key, jerr.text);
    return j;
}

/* Allocate m's parameters and read them: every tensor the architecture
 * names, with its exact shape, finite, and nothing else in the file. */
static int read_weights(ft_st_file *f, ft_model *m, ft_error *err)
{
    if (ft_model_alloc_params(m, err) != 0)
        return -1;
    param_tensor *t = malloc(sizeof *t * 2 * (size_t)m->nlayers);
    if (!t)
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    int expected = param_tensors(m, t);
    for (int i = 0; i < expected; i++)
        if (ft_st_read_f32(f, t[i].name, t[i].rank, t[i].shape, m->params + t[i].offset, err) != 0) {
            if (t[i].hint && ft_st_find(f, t[i].name)) /* there, but not in our layout */
                ft_error_prefix(err, "%s", t[i].hint);
            free(t);
            return -1;
        }
    free(t);
    if (ft_st_count(f) != (size_t)expected)
        return ft_fail(err, FT_EFORMAT, NULL, "the file holds %zu tensors; the architecture has %d",
                       ft_st_count(f), expected);
    for (size_t i = 0; i < m->nparams; i++)
        if (!isfinite(m->params[i]))
            return ft_fail(err, FT_EFORMAT, NULL, "parameter %zu is not a finite number", i);
    return 0;
}

/* Build the model a file describes; its weights only if `weights`. */
static ft_model *load_from(ft_st_file *f, bool weights, ft_error *err)
{
    const char *format = ft_st_meta(f, "format");
    if (!format || strcmp(format, MODEL_FORMAT) != 0) {
        ft_fail(err, FT_EFORMAT, NULL, "not a finetuned model file (metadata format is %s%s%s, expected %s)",
                format ? "'" : "", format ? format : "missing", format ? "'" : "", MODEL_FORMAT);
        return NULL;
    }
    ft_error sub = {0};
    json_t *arch = meta_json(f, "architecture", &sub);
    if (!arch) {
        ft_fail(err, FT_EFORMAT, NULL, "%s", sub.msg[0] ? sub.msg : "metadata 'architecture' is missing");
        return NULL;
    }
    ft_model *m = ft_model_layout_from_json(arch, "architecture", &sub);
    json_decref(arch);
    if (!m) {
        ft_fail(err, FT_EFORMAT, sub.param, "invalid architecture: %s", sub.msg);
        return NULL;
    }
    if (weights && read_weights(f, m, err) != 0)
        goto fail;
    const char *first = ft_st_meta(f, "trainable_from");
    char *end = NULL;
    long ft = first ? strtol(first, &end, 10) : 0;
    if (first && (*end || ft < 0 || ft > m->nlayers)) {
        ft_fail(err, FT_EFORMAT, NULL, "metadata trainable_from '%s' is invalid", first);
        goto fail;
    }
    m->first_trainable = (int)ft;
    json_t *classes = meta_json(f, "classes", err);
    if ((ft_st_meta(f, "classes") && !classes) || ft_model_set_classes(m, classes, err) != 0) {
        json_decref(classes);
        goto fail;
    }
    json_decref(classes);
    json_t *pp = meta_json(f, "preprocessing", err);
    if ((ft_st_meta(f, "preprocessing") && !pp) || ft_model_set_preprocessing(m, pp, err) != 0) {
        json_decref(pp);
        goto fail;
    }
    json_decref(pp);
    return m;
fail:
    ft_model_free(m);
    return NULL;
}

/* Copy the free-form metadata (lineage) into the model. */
static int load_extra_meta(ft_model *m, ft_st_file *f, ft_error *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)ft_st_meta_all(f), key, v) {
        if (!ft_model_meta_key_reserved(key) && ft_model_set_meta(m, key, json_string_value(v), err) != 0)
            return -1;
    }
    return 0;
}

/* Both loaders: validate, build, then attach lineage. Takes ownership of f. */
static ft_model *load_and_close(ft_st_file *f, bool weights, ft_error *err)
{
    if (!f)
        return NULL;
    ft_model *m = load_from(f, weights, err);
    if (m && load_extra_meta(m, f, err) != 0) {
        ft_model_free(m);
        m = NULL;
    }
    ft_st_close(f);
    return m;
}

ft_model *ft_model_load(const char *path, ft_error *err)
{
    return load_and_close(ft_st_open(path, err), true, err);
}

ft_model *ft_model_load_layout(const char *path, ft_error *err)
{
    return load_and_close(ft_st_open(path, err), false, err);
}

ft_model *ft_model_load_mem(const void *buf, size_t len, ft_error *err)
{
    return load_and_close(ft_st_open_mem(buf, len, err), true, err);
}
