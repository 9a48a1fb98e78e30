/* ONNX import, the driver: which nodes count (those the output depends on),
 * how many readers each tensor has (fusion needs exactly one), the model
 * input, then each node through the operator map; the architecture JSON is
 * built by the graph core and the converted weights are copied in. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/onnx/import_internal.h"

/* ---- the walk ---- */

/* Which nodes the graph output depends on, and every tensor's readers. */
static int mark_live(imp *im, const char *output, bool *live)
{
    size_t n = ft_onnx_n_nodes(im->om);
    imp_value *out = imp_value_named(im, output);
    out->uses++;
    /* Reverse topological order: a node is live when a live node (or the
     * output) reads one of its outputs. */
    for (size_t i = n; i-- > 0;) {
        const ft_onnx_node *nd = ft_onnx_node_at(im->om, i);
        for (size_t o = 0; o < nd->n_outputs && !live[i]; o++)
            live[i] = *nd->outputs[o] && imp_value_named(im, nd->outputs[o])->uses > 0;
        for (size_t k = 0; live[i] && k < nd->n_inputs; k++)
            if (*nd->inputs[k])
                imp_value_named(im, nd->inputs[k])->uses++;
    }
    return 0;
}

/* One value slot per tensor name: runtime inputs, initializers, node outputs. */
static int index_values(imp *im)
{
    const ft_onnx_model *om = im->om;
    size_t total = ft_onnx_n_inputs(om) + ft_onnx_n_initializers(om);
    for (size_t i = 0; i < ft_onnx_n_nodes(om); i++)
        total += ft_onnx_node_at(om, i)->n_outputs;
    im->vals = calloc(total ? total : 1, sizeof *im->vals);
    if (!im->vals)
        return imp_oom(im);
    for (size_t i = 0; i < ft_onnx_n_initializers(om); i++) {
        const ft_onnx_tensor *t = ft_onnx_initializer(om, i);
        im->vals[im->n_vals] = (imp_value){.kind = IMP_CONST, .t = t};
        if (imp_map_put(&im->val_map, t->name, (int)im->n_vals++) != 0)
            return imp_oom(im);
    }
    for (size_t i = 0; i < ft_onnx_n_inputs(om); i++)
        if (imp_map_put(&im->val_map, ft_onnx_input(om, i)->name, (int)im->n_vals++) != 0)
            return imp_oom(im);
    for (size_t i = 0; i < ft_onnx_n_nodes(om); i++) {
        const ft_onnx_node *nd = ft_onnx_node_at(om, i);
        for (size_t o = 0; o < nd->n_outputs; o++)
            if (*nd->outputs[o] && imp_map_put(&im->val_map, nd->outputs[o], (int)im->n_vals++) != 0)
                return imp_oom(im);
    }
    return 0;
}

static const ft_onnx_binding *binding_of(const ft_onnx_import_options *opt, const char *name)
{
    for (size_t i = 0; i < opt->n_bindings; i++)
        if (strcmp(opt->bindings[i].name, name) == 0)
            return &opt->bindings[i];
    return NULL;
}

/* The one runtime input: [N, C, H, W] or [N, features] (any rank with the
 * option, taken flat and reshaped by a first layer); bound inputs become
 * constants. */
static int setup_input(imp *im, const ft_onnx_import_options *opt, imp_shape *flat)
{
    const ft_onnx_value *in = NULL;
    char names[256] = "";
    for (size_t i = 0; i < opt->n_bindings; i++)
        if (!imp_value_named(im, opt->bindings[i].name) || !opt->bindings[i].value)
            return ft_fail(im->err, FT_EINVAL, NULL, "bound input '%s' is not an input of the graph",
                           opt->bindings[i].name);
    for (size_t i = 0; i < ft_onnx_n_inputs(im->om); i++) {
        const ft_onnx_value *v = ft_onnx_input(im->om, i);
        const ft_onnx_binding *b = binding_of(opt, v->name);
        if (b) {
            *imp_value_named(im, v->name) = (imp_value){.kind = IMP_CONST, .t = b->value, .uses = imp_value_named(im, v->name)->uses};
            continue;
        }
        size_t at = strlen(names);
        snprintf(names + at, sizeof names - at, "%s'%s'", at ? ", " : "", v->name);
        if (in)
            return ft_fail(im->err, FT_EINVAL, NULL, "the graph has more than one input (%s); one is supported",
                           names);
        in = v;
    }
    if (!in)
        return ft_fail(im->err, FT_EINVAL, NULL, "the graph has no runtime input");
    if (in->elem_type != 1)
        return ft_fail(im->err, FT_EINVAL, NULL, "input '%s' has element type %d; only float (1) is supported",
                       in->name, in->elem_type);
    bool rank_ok = in->rank == 2 || in->rank == 4 || (opt->any_input_rank && in->rank >= 2 && in->rank <= 7);
    for (int d = 1; rank_ok && d < in->rank; d++)
        rank_ok = in->dims[d].size > 0;
    if (!rank_ok)
        return ft_fail(im->err, FT_EINVAL, NULL,
                       "input '%s' must be [N, C, H, W] or [N, features] with N the batch and known sizes",
                       in->name);
    imp_value *v = imp_value_named(im, in->name);
    im->batch = in->dims[0].size;
    v->kind = IMP_INPUT;
    v->shape.rank = in->rank - 1;
    int64_t count = 1;
    for (int d = 1; d < in->rank; d++)
        count *= v->shape.d[d - 1] = in->dims[d].size;
    *flat = v->shape;
    if (in->rank == 2 || in->rank == 4)
        return 0;
    *flat = (imp_shape){1, {count}};
    const char *src = "input";
    int li = imp_layer_new(im, "input_reshape", "reshape", &src, 1);
    if (li < 0 || json_object_set_new(im->layers[li]->obj, "shape", imp_shape_json(&v->shape)) != 0)
        return -1;
    im->layers[li]->consumers = v->uses;
    v->kind = IMP_LAYER;
    v->layer = li;
    return 0;
}

static const imp_op *find_op(const char *type)
{
    for (size_t i = 0; i < imp_n_ops; i++)
        if (strcmp(imp_ops[i].op, type) == 0)
            return &imp_ops[i];
    return NULL;
}

static int check_attrs(imp *im, const ft_onnx_node *n, const imp_op *op)
{
    for (size_t a = 0; a < n->n_attrs; a++) {
        const char *const *ok = op->attrs;
        while (ok && *ok && strcmp(*ok, n->attrs[a].name) != 0)
            ok++;
        if (!ok || !*ok)
            return imp_fail(im, "attribute '%s' is not supported", n->attrs[a].name);
    }
    return 0;
}

static int emit_nodes(imp *im, const bool *live)
{
    for (size_t i = 0; i < ft_onnx_n_nodes(im->om); i++) {
        const ft_onnx_node *n = ft_onnx_node_at(im->om, i);
        if (!live[i])
            continue;
        imp_set_label(im, n, i);
        const imp_op *op = find_op(n->op_type);
        if (*n->domain && strcmp(n->domain, "ai.onnx") != 0)
            op = NULL;
        if (!op) {
            char list[600] = "";
            for (size_t k = 0, at = 0; k < imp_n_ops && at < sizeof list; k++)
                at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", k ? ", " : "", imp_ops[k].op);
            return imp_fail(im, "op type '%s' is not supported (supported: %s)", n->op_type, list);
        }
        if (check_attrs(im, n, op) != 0 || op->emit(im, n) != 0)
            return -1;
    }
    return 0;
}

/* The graph output must be the last layer's; otherwise (the output is the
 * input, or an alias of an earlier layer) an identity layer makes it so. */
static int finish_output(imp *im, const char *output)
{
    imp_value *v = imp_value_named(im, output);
    if (v->kind == IMP_CONST || v->kind == IMP_UNSET)
        return ft_fail(im->err, FT_EINVAL, NULL, "the graph output '%s' does not depend on the input", output);
    if (v->kind == IMP_LAYER && (size_t)v->layer + 1 == im->n_layers)
        return 0;
    imp_shape s;
    const char *src = imp_source(im, v, v->shape.rank + 1, &s);
    int li = src ? imp_layer_new(im, output, "activation", &src, 1) : -1;
    if (li < 0 || json_object_set_new(im->layers[li]->obj, "activation", json_string("linear")) != 0)
        return li < 0 ? -1 : imp_oom(im);
    return 0;
}

static json_t *arch_json(imp *im, const imp_shape *input)
{
    json_t *layers = json_array();
    for (size_t i = 0; layers && i < im->n_layers; i++) {
        imp_layer *l = im->layers[i];
        if (json_array_size(l->aliases))
            json_object_set(l->obj, "aliases", l->aliases);
        json_array_append(layers, l->obj);
    }
    return json_pack("{s:o, s:o}", "input", imp_shape_json(input), "layers", layers);
}

/* The graph core's error names "layers[i]": say which node that was. */
static void prefix_node(imp *im, ft_error *err)
{
    const char *at = strstr(err->param, "layers[");
    unsigned long i = at ? strtoul(at + 7, NULL, 10) : im->n_layers;
    if (i >= im->n_layers)
        return;
    const ft_onnx_node *n = ft_onnx_node_at(im->om, im->layers[i]->node);
    imp_set_label(im, n, im->layers[i]->node);
    ft_error_prefix(err, "%s", im->label);
}

static int copy_params(imp *im, ft_model *m)
{
    float *p = ft_model_params(m);
    for (size_t i = 0; i < im->n_layers; i++) {
        imp_layer *l = im->layers[i];
        if (!l->w)
            continue;
        ft_layer_info info;
        ft_model_layer_info(m, ft_model_find_layer(m, l->name), &info);
        if (info.params != l->nw + l->nb)
            return ft_fail(im->err, FT_EINVAL, NULL, "layer '%s' has %zu parameters, the ONNX file %zu", l->name,
                           info.params, l->nw + l->nb);
        memcpy(p + info.param_offset, l->w, l->nw * sizeof *p);
        if (l->nb)
            memcpy(p + info.param_offset + l->nw, l->b, l->nb * sizeof *p);
    }
    return 0;
}

static int set_meta(imp *im, ft_model *m, const char *input)
{
    char opset[24], classes[24];
    snprintf(opset, sizeof opset, "%lld", (long long)im->opset);
    if (ft_model_set_meta(m, "source", "onnx", im->err) != 0 ||
        ft_model_set_meta(m, "producer", ft_onnx_producer(im->om), im->err) != 0 ||
        ft_model_set_meta(m, "opset", opset, im->err) != 0 || ft_model_set_meta(m, "onnx_input", input, im->err) != 0)
        return -1;
    ft_shape out = ft_model_output_shape(m);
    snprintf(classes, sizeof classes, "%d", out.dim[0]);
    return out.rank == 1 ? ft_model_set_meta(m, "num_classes", classes, im->err) : 0;
}

static ft_model *build(imp *im, const ft_onnx_import_options *opt)
{
    const ft_onnx_model *om = im->om;
    if (ft_onnx_n_outputs(om) != 1)
        return ft_fail(im->err, FT_EINVAL, NULL, "the graph has %zu outputs; one is supported",
                       ft_onnx_n_outputs(om)), NULL;
    const char *output = ft_onnx_output(om, 0)->name;
    bool *live = calloc(ft_onnx_n_nodes(om) + 1, sizeof *live);
    imp_shape input;
    ft_onnx_node start = {.name = "", .op_type = "input"};
    imp_set_label(im, &start, 0);
    int rc = !live || index_values(im) != 0 ? -1 : 0;
    if (rc == 0 && !imp_value_named(im, output))
        rc = ft_fail(im->err, FT_EINVAL, NULL, "the graph output '%s' is never computed", output);
    if (rc == 0)
        rc = mark_live(im, output, live);
    if (rc == 0)
        rc = setup_input(im, opt, &input);
    if (rc == 0)
        rc = emit_nodes(im, live);
    free(live);
    if (rc != 0 || finish_output(im, output) != 0)
        return NULL;
    json_t *arch = arch_json(im, &input);
    if (!arch)
        return imp_oom(im), NULL;
    ft_model *m = ft_model_from_json(arch, NULL, im->err);
    json_decref(arch);
    if (!m) {
        prefix_node(im, im->err);
        return NULL;
    }
    const ft_onnx_value *in = NULL;
    for (size_t i = 0; i < ft_onnx_n_inputs(om) && !in; i++)
        if (imp_value_named(im, ft_onnx_input(om, i)->name)->kind != IMP_CONST)
            in = ft_onnx_input(om, i);
    if (copy_params(im, m) != 0 || set_meta(im, m, in ? in->name : "") != 0) {
        ft_model_free(m);
        return NULL;
    }
    return m;
}

ft_model *ft_onnx_import(const ft_onnx_model *om, const ft_onnx_import_options *opt, ft_error *err)
{
    static const ft_onnx_import_options none;
    imp im = {.om = om, .opset = ft_onnx_opset(om), .err = err};
    ft_model *m = NULL;
    if (imp_map_put(&im.names, "input", 0) == 0)
        m = build(&im, opt ? opt : &none);
    else
        imp_oom(&im);
    for (size_t i = 0; i < im.n_layers; i++) {
        json_decref(im.layers[i]->obj);
        json_decref(im.layers[i]->aliases);
        free(im.layers[i]->w);
        free(im.layers[i]->b);
        free(im.layers[i]);
    }
    for (size_t i = 0; i < im.n_owned; i++)
        free(im.owned[i]);
    free(im.owned);
    free(im.layers);
    free(im.vals);
    imp_map_free(&im.val_map);
    imp_map_free(&im.names);
    return m;
}

ft_model *ft_onnx_import_bytes(const void *bytes, size_t len, const ft_onnx_limits *limits,
                               const ft_onnx_import_options *opt, ft_error *err)
{
    ft_onnx_limits lim = limits ? *limits : (ft_onnx_limits){0};
    lim.supported_ops = ft_onnx_import_ops;
    lim.n_supported_ops = ft_onnx_import_n_ops;
    ft_onnx_model *om = NULL;
    if (ft_onnx_read(bytes, len, &lim, &om, err) != 0)
        return NULL;
    ft_model *m = ft_onnx_import(om, opt, err);
    ft_onnx_free(om);
    return m;
}
