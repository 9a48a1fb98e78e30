/* The importer's graph under construction: tensors (values), layers with
 * their names and aliases, constants turned into layers, and fusion. The
 * emitters (import_ops.c, import_conv.c) and the driver (onnx_import.c)
 * build through these. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/onnx/import_internal.h"

int imp_oom(imp *im)
{
    return ft_fail(im->err, FT_ENOMEM, NULL, "out of memory importing the ONNX model");
}

void imp_set_label(imp *im, const ft_onnx_node *n, size_t idx)
{
    im->node = n;
    im->node_index = idx;
    if (*n->name)
        snprintf(im->label, sizeof im->label, "node '%.*s' (%s)", IMP_NAME_MAX, n->name, n->op_type);
    else
        snprintf(im->label, sizeof im->label, "node #%zu (%s)", idx, n->op_type);
}

/* ---- names ---- */

/* name as the graph core takes it: letters, digits and _ - . / : (others
 * become '_'); over IMP_NAME_MAX bytes, its start and a hash. */
static void clean_name(const char *name, char out[IMP_NAME_MAX + 1])
{
    if (strlen(name) > IMP_NAME_MAX) {
        unsigned h = 2166136261u;
        for (const char *s = name; *s; s++)
            h = (h ^ (unsigned char)*s) * 16777619u;
        snprintf(out, IMP_NAME_MAX + 1, "%.*s-%08x", IMP_NAME_MAX - 9, name, h);
    } else {
        snprintf(out, IMP_NAME_MAX + 1, "%s", name);
    }
    for (char *c = out; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("_-./:", *c))
            *c = '_';
}

/* A free layer name: want if usable, else "<op>_<index>" (suffixed until free). */
static void pick_name(imp *im, const char *want, char out[IMP_NAME_MAX + 1])
{
    clean_name(want ? want : "", out);
    for (int k = 0; !*out || imp_map_get(&im->names, out) >= 0; k++) {
        if (k == 0)
            snprintf(out, IMP_NAME_MAX + 1, "%s_%zu", im->node->op_type, im->node_index);
        else
            snprintf(out, IMP_NAME_MAX + 1, "%s_%zu_%d", im->node->op_type, im->node_index, k);
    }
}

/* Add name (cleaned) as an alias of layer l unless it is empty or taken. */
static int add_alias(imp *im, imp_layer *l, const char *name)
{
    char clean[IMP_NAME_MAX + 1];
    clean_name(name, clean);
    if (!*clean || imp_map_get(&im->names, clean) >= 0)
        return 0;
    json_t *s = json_string(clean);
    if (!s || json_array_append_new(l->aliases, s) != 0 ||
        imp_map_put(&im->names, json_string_value(s), 0) != 0)
        return imp_oom(im);
    return 0;
}

imp_value *imp_value_named(imp *im, const char *name)
{
    int i = imp_map_get(&im->val_map, name);
    return i < 0 ? NULL : &im->vals[i];
}

/* ---- the helpers emitters use (import_internal.h) ---- */

imp_value *imp_input(imp *im, const ft_onnx_node *n, size_t k)
{
    if (k >= n->n_inputs || !*n->inputs[k])
        return NULL;
    imp_value *v = imp_value_named(im, n->inputs[k]);
    return v && v->kind != IMP_UNSET ? v : NULL;
}

bool imp_output_used(imp *im, const ft_onnx_node *n, size_t k)
{
    imp_value *v = k < n->n_outputs && *n->outputs[k] ? imp_value_named(im, n->outputs[k]) : NULL;
    return v && v->uses > 0;
}

imp_value *imp_runtime(imp *im, const ft_onnx_node *n, size_t k)
{
    imp_value *v = imp_input(im, n, k);
    if (!v)
        imp_fail(im, "input %zu is missing", k);
    else if (v->kind == IMP_CONST)
        imp_fail(im, "input '%s' is a constant; it must be computed from the model input", n->inputs[k]);
    return v && v->kind != IMP_CONST ? v : NULL;
}

static const ft_onnx_tensor *const_of(imp *im, const ft_onnx_node *n, size_t k, const char *what,
                                      ft_onnx_dtype dtype)
{
    imp_value *v = imp_input(im, n, k);
    if (!v || v->kind != IMP_CONST) {
        imp_fail(im, "%s (input %zu) must be a constant%s", what, k, v ? ", not computed at run time" : "");
        return NULL;
    }
    if (v->t->dtype != dtype) {
        imp_fail(im, "%s '%s' must be a %s tensor", what, n->inputs[k], dtype == FT_ONNX_F32 ? "float" : "integer");
        return NULL;
    }
    return v->t;
}

const ft_onnx_tensor *imp_const_f32(imp *im, const ft_onnx_node *n, size_t k, const char *what)
{
    return const_of(im, n, k, what, FT_ONNX_F32);
}

const ft_onnx_tensor *imp_const_i64(imp *im, const ft_onnx_node *n, size_t k, const char *what)
{
    return const_of(im, n, k, what, FT_ONNX_I64);
}

int imp_layer_new(imp *im, const char *name, const char *type, const char *const *inputs, size_t n_inputs)
{
    if (im->n_layers == im->cap_layers) {
        size_t cap = im->cap_layers ? im->cap_layers * 2 : 64;
        imp_layer **ls = realloc(im->layers, cap * sizeof *ls);
        if (!ls)
            return imp_oom(im);
        im->layers = ls;
        im->cap_layers = cap;
    }
    imp_layer *l = calloc(1, sizeof *l);
    if (!l)
        return imp_oom(im);
    im->layers[im->n_layers++] = l; /* owned from here on, freed with the others */
    pick_name(im, name ? name : im->node->name, l->name);
    l->node = im->node_index;
    json_t *in = json_array();
    for (size_t i = 0; in && i < n_inputs; i++)
        json_array_append_new(in, json_string(inputs[i]));
    l->obj = json_pack("{s:s, s:s, s:o}", "name", l->name, "type", type, "inputs", in);
    l->aliases = json_array();
    if (!l->obj || !l->aliases || imp_map_put(&im->names, l->name, 0) != 0)
        return imp_oom(im);
    return (int)im->n_layers - 1;
}

const char *imp_source(imp *im, imp_value *v, int full_rank, imp_shape *shape)
{
    if (v->kind == IMP_INPUT || v->kind == IMP_LAYER) {
        *shape = v->shape;
        return v->kind == IMP_INPUT ? "input" : im->layers[v->layer]->name;
    }
    const ft_onnx_tensor *t = v->t;
    char dims[128];
    imp_ints_str(t->dims, t->rank, dims, sizeof dims);
    if (t->dtype != FT_ONNX_F32) {
        imp_fail(im, "constant '%s' must be a float tensor", t->name);
        return NULL;
    }
    /* Right-aligned broadcasting: a constant of the full rank lines up its
     * first dimension with the batch, which it may only broadcast over. */
    size_t skip = t->rank >= (size_t)full_rank ? 1 : 0;
    if (t->rank > (size_t)full_rank || (skip && t->dims[0] != 1) || t->rank - skip > IMP_MAX_RANK) {
        imp_fail(im, "constant '%s' of shape %s would vary along the batch (axis 0), which is not supported",
                 t->name, dims);
        return NULL;
    }
    shape->rank = (int)(t->rank - skip);
    for (int i = 0; i < shape->rank; i++)
        shape->d[i] = t->dims[i + skip];
    if (shape->rank == 0)
        *shape = (imp_shape){1, {1}};
    int li = imp_layer_new(im, v->origin ? v->origin : t->name, "constant", NULL, 0);
    if (li < 0)
        return NULL;
    imp_layer *l = im->layers[li];
    json_object_del(l->obj, "inputs"); /* a constant reads nothing */
    l->nw = t->count;
    if (json_object_set_new(l->obj, "shape", imp_shape_json(shape)) != 0 || !(l->w = imp_floats(im, t->count)))
        return NULL;
    memcpy(l->w, t->f32, t->count * sizeof *l->w);
    if (add_alias(im, l, t->name) != 0)
        return NULL;
    l->consumers = v->uses;
    v->kind = IMP_LAYER;
    v->layer = li;
    v->shape = *shape;
    return l->name;
}

int imp_set_layer_output(imp *im, const ft_onnx_node *n, size_t k, int li, const imp_shape *shape)
{
    imp_value *v = k < n->n_outputs && *n->outputs[k] ? imp_value_named(im, n->outputs[k]) : NULL;
    if (!v)
        return 0; /* an output nobody reads */
    v->kind = IMP_LAYER;
    v->layer = li;
    v->shape = *shape;
    im->layers[li]->consumers = v->uses;
    return add_alias(im, im->layers[li], n->outputs[k]);
}

int imp_set_alias(imp *im, const ft_onnx_node *n, const imp_value *src)
{
    imp_value *v = imp_value_named(im, n->outputs[0]);
    if (!v)
        return 0;
    int uses = v->uses;
    *v = *src;
    v->uses = uses;
    if (src->kind != IMP_LAYER)
        return 0;
    imp_layer *l = im->layers[src->layer];
    l->consumers += uses - 1; /* the alias's readers read the layer instead */
    if (add_alias(im, l, n->name) != 0)
        return -1;
    return add_alias(im, l, n->outputs[0]);
}

int imp_set_const(imp *im, const ft_onnx_node *n, const ft_onnx_tensor *t)
{
    imp_value *v = imp_value_named(im, n->outputs[0]);
    if (v) {
        v->kind = IMP_CONST;
        v->t = t;
        v->origin = *n->name ? n->name : NULL;
    }
    return 0;
}

imp_layer *imp_fusable(imp *im, const imp_value *v, const char *const *types)
{
    if (v->kind != IMP_LAYER)
        return NULL;
    imp_layer *l = im->layers[v->layer];
    const char *type = json_string_value(json_object_get(l->obj, "type"));
    for (; *types; types++)
        if (strcmp(type, *types) == 0)
            return !l->activated && l->consumers == 1 ? l : NULL;
    return NULL;
}

int imp_fuse(imp *im, const ft_onnx_node *n, const imp_value *src)
{
    if (add_alias(im, im->layers[src->layer], n->name) != 0)
        return -1;
    return imp_set_layer_output(im, n, 0, src->layer, &src->shape);
}

