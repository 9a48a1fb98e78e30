/* ONNX export (core/onnx/onnx_export.h): the graph's messages built in an
 * arena, the layer walk, and the ModelProto packed by protobuf-c. The
 * layers are read from the model's canonical architecture JSON and its
 * public layer table, the documented format, so the exporter depends on
 * nothing inside core/nn. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/onnx/export_internal.h"
#include "core/onnx/onnx_export.h"

/* The tensor layer i writes: "output" for the last layer, else its name,
 * unless that could be taken for the graph's input or output or for an
 * initializer ("a.weight"): then "<name>#out" ('#' is never in a name). */
static const char *layer_tensor(xp *x, const ft_model *m, int i, const char *name)
{
    size_t n = strlen(name);
    if (i == ft_model_num_layers(m) - 1)
        return "output";
    bool clash = strcmp(name, "input") == 0 || strcmp(name, "output") == 0 ||
                 (n > 7 && strcmp(name + n - 7, ".weight") == 0) || (n > 5 && strcmp(name + n - 5, ".bias") == 0);
    return clash ? xp_printf(x, "%s#out", name) : name;
}

/* Emit layer i, whose inputs' tensors are tensors[0..i). */
static int emit_layer(xp *x, const ft_model *m, const json_t *layers, int i, const char **tensors)
{
    xp_layer l = {.m = m, .index = i, .obj = json_array_get(layers, (size_t)i)};
    ft_model_layer_info(m, i, &l.info);
    l.params = ft_model_cparams(m) + l.info.param_offset;
    for (int k = 0; k < l.info.ninputs; k++) {
        int j = strcmp(l.info.inputs[k], "input") == 0 ? -1 : ft_model_find_layer(m, l.info.inputs[k]);
        ft_layer_info in;
        if (j >= 0)
            ft_model_layer_info(m, j, &in);
        l.in[k] = j >= 0 ? tensors[j] : "input";
        l.in_shape[k] = j >= 0 ? in.output : ft_model_input_shape(m);
    }
    xp_emit_fn emit = xp_emitters[l.info.type];
    if (!emit)
        return ft_fail(x->err, FT_EINVAL, NULL, "layer '%s': %s layers cannot be exported to ONNX yet", l.info.name,
                       l.info.op);
    const char *out = layer_tensor(x, m, i, l.info.name);
    x->layer = l.info.name, x->layer_first = x->n_nodes;
    bool act = l.info.activation != FT_ACT_LINEAR;
    const char *got = out ? emit(x, &l, act ? NULL : out) : NULL;
    if (got && act)
        got = xp_activation(x, &l, got, out);
    if (!got)
        return x->err->code ? -1 : ft_fail(x->err, FT_ENOMEM, NULL, "out of memory exporting layer '%s'", l.info.name);
    tensors[i] = got;
    return 0;
}

/* metadata_props entry key = JSON of v, appended when v is set. */
static int add_meta(xp *x, Onnx__ModelProto *mp, const char *key, const json_t *v)
{
    if (!v)
        return 0;
    Onnx__StringStringEntryProto *e = xp_zalloc(x, 1, sizeof *e);
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (e && s) {
        onnx__string_string_entry_proto__init(e);
        e->key = onnx_arena_strdup(&x->arena, key), e->value = onnx_arena_strdup(&x->arena, s);
    }
    free(s);
    if (!e || !e->key || !e->value)
        return -1;
    mp->metadata_props[mp->n_metadata_props++] = e;
    return 0;
}

/* The ModelProto around the graph, packed into *buf. */
static int pack_model(xp *x, const ft_model *m, Onnx__GraphProto *g, unsigned char **buf, size_t *len)
{
    Onnx__ModelProto mp = ONNX__MODEL_PROTO__INIT;
    Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT, *opsets[1] = {&opset};
    Onnx__StringStringEntryProto *props[2];
    opset.domain = "", opset.has_version = 1, opset.version = FT_ONNX_EXPORT_OPSET;
    mp.has_ir_version = 1, mp.ir_version = ONNX__VERSION__IR_VERSION;
    mp.opset_import = opsets, mp.n_opset_import = 1;
    mp.producer_name = "finetuned", mp.graph = g, mp.metadata_props = props;
    if (add_meta(x, &mp, FT_ONNX_META_PREPROCESSING, ft_model_preprocessing(m)) != 0 ||
        add_meta(x, &mp, FT_ONNX_META_CLASSES, ft_model_classes(m)) != 0)
        return ft_fail(x->err, FT_ENOMEM, NULL, "out of memory exporting the model");
    size_t size = onnx__model_proto__get_packed_size(&mp);
    if (size > INT32_MAX) /* protobuf's own limit on a message: no reader would take it */
        return ft_fail(x->err, FT_ETOOBIG, NULL, "the model takes %zu bytes as ONNX, over protobuf's 2 GiB limit", size);
    if (!(*buf = malloc(size ? size : 1)))
        return ft_fail(x->err, FT_ENOMEM, NULL, "out of memory packing the ONNX file (%zu bytes)", size);
    *len = onnx__model_proto__pack(&mp, *buf);
    return 0;
}

int ft_onnx_export(const ft_model *m, unsigned char **buf, size_t *len, ft_error *err)
{
    xp x = {.err = err};
    int n = ft_model_num_layers(m), rc = -1;
    json_t *arch = ft_model_arch_json(m);
    const char **tensors = calloc((size_t)n, sizeof *tensors);
    *buf = NULL, *len = 0;
    if (!arch || !tensors)
        ft_fail(err, FT_ENOMEM, NULL, "out of memory exporting the model");
    else
        rc = 0;
    for (int i = 0; rc == 0 && i < n; i++)
        rc = emit_layer(&x, m, json_object_get(arch, "layers"), i, tensors);
    Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
    Onnx__ValueInfoProto *in = rc == 0 ? xp_value_info(&x, "input", ft_model_input_shape(m)) : NULL;
    Onnx__ValueInfoProto *out = in ? xp_value_info(&x, "output", ft_model_output_shape(m)) : NULL;
    if (rc == 0 && !out)
        rc = ft_fail(err, FT_ENOMEM, NULL, "out of memory exporting the model");
    if (rc == 0) {
        g.name = "finetuned";
        g.node = x.nodes, g.n_node = x.n_nodes, g.initializer = x.inits, g.n_initializer = x.n_inits;
        g.input = &in, g.n_input = 1, g.output = &out, g.n_output = 1;
        rc = pack_model(&x, m, &g, buf, len);
    }
    free(x.nodes);
    free(x.inits);
    free(tensors);
    json_decref(arch);
    onnx_arena_free(&x.arena);
    return rc;
}
