/* ONNX export, layer by layer: each layer type's nodes (the inverse of the
 * importer's operator map, core/onnx/import_ops.c) and each activation's.
 * Axes: our per-sample axis a is ONNX axis a + 1 (the batch comes first).
 * An activation without an ONNX op of its own is composed (gelu from Erf). */
#include <math.h>
#include <string.h>

#include "core/onnx/export_internal.h"

/* ---- the layer's canonical JSON ---- */

static int64_t jint(const json_t *o, const char *key, int64_t def)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

static bool jbool(const json_t *o, const char *key, bool def)
{
    const json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

static float jfloat(const json_t *o, const char *key, float def)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? (float)json_number_value(v) : def;
}

/* An int or [h, w] into out[0..2); def when absent. */
static void jpair(const json_t *o, const char *key, int64_t def, int64_t out[2])
{
    const json_t *v = json_object_get(o, key);
    for (size_t i = 0; i < 2; i++)
        out[i] = json_is_array(v) ? (int64_t)json_integer_value(json_array_get(v, i)) : jint(o, key, def);
}

/* `padding` (an int, [h, w] or [top, left, bottom, right]) as ONNX pads:
 * top, left, bottom, right. */
static void jpads(const json_t *o, int64_t out[4])
{
    const json_t *v = json_object_get(o, "padding");
    if (json_array_size(v) == 4) {
        for (size_t i = 0; i < 4; i++)
            out[i] = (int64_t)json_integer_value(json_array_get(v, i));
        return;
    }
    jpair(o, "padding", 0, out);
    out[2] = out[0], out[3] = out[1];
}

/* ---- helpers ---- */

static const char *output_of(int rc, const Onnx__NodeProto *n) { return rc == 0 && n ? n->output[0] : NULL; }

static const char *node1(xp *x, const char *op, const char *in, const char *out)
{
    return output_of(0, xp_node(x, op, &in, 1, out));
}

/* The layer's weight of shape dims and, with bias, its bias (dims[0]
 * values) as initializers named as in our model file; their names into
 * w and b (NULL when out of memory). -1 if the layer's parameter count
 * disagrees with the shape. */
static int params(xp *x, const xp_layer *l, const int64_t *dims, size_t rank, bool bias, const char **w, const char **b)
{
    size_t nw = 1, nb = bias ? (size_t)dims[0] : 0;
    for (size_t i = 0; i < rank; i++)
        nw *= (size_t)dims[i];
    if (nw + nb != l->info.params)
        return ft_fail(x->err, FT_EINVAL, NULL, "layer '%s' has %zu parameters where its shape needs %zu",
                       l->info.name, l->info.params, nw + nb);
    *w = xp_init_f32(x, xp_printf(x, "%s.weight", l->info.name), dims, rank, l->params);
    if (bias)
        *b = xp_init_f32(x, xp_printf(x, "%s.bias", l->info.name), dims, 1, l->params + nw);
    return 0;
}

/* Reshape in to [batch, s...] (the batch read as -1). */
static const char *to_sample(xp *x, const char *in, ft_shape s, const char *out)
{
    int64_t dims[FT_SHAPE_MAX_RANK + 1] = {-1};
    for (int i = 0; i < s.rank; i++)
        dims[i + 1] = s.dim[i];
    const char *ins[2] = {in, xp_init_i64(x, xp_aux(x, "shape"), dims, (size_t)s.rank + 1)};
    return output_of(0, xp_node(x, "Reshape", ins, 2, out));
}

/* Softmax along ONNX axis 1 after flattening from it, reshaped back to the
 * per-sample shape s: what a softmax over several dims computes. */
static const char *flat_softmax(xp *x, const char *in, int axis, ft_shape s, const char *out)
{
    Onnx__NodeProto *f = xp_node(x, "Flatten", &in, 1, NULL);
    if (xp_attr_int(x, f, "axis", axis) != 0)
        return NULL;
    Onnx__NodeProto *sm = xp_node(x, "Softmax", (const char *const *)f->output, 1, NULL);
    return xp_attr_int(x, sm, "axis", 1) == 0 ? to_sample(x, sm->output[0], s, out) : NULL;
}

/* ---- layer types ---- */

/* Dropout (the identity at inference) and the activation layer (its
 * activation follows): the input itself, or an Identity into out. */
static const char *emit_pass(xp *x, const xp_layer *l, const char *out)
{
    return out ? node1(x, "Identity", l->in[0], out) : l->in[0];
}

static const char *emit_dense(xp *x, const xp_layer *l, const char *out)
{
    int64_t dims[2] = {l->info.output.dim[0], l->in_shape[0].dim[0]};
    const char *in[3] = {l->in[0], NULL, NULL};
    if (params(x, l, dims, 2, true, &in[1], &in[2]) != 0)
        return NULL;
    Onnx__NodeProto *n = xp_node(x, "Gemm", in, 3, out);
    return output_of(xp_attr_int(x, n, "transB", 1), n);
}

static const char *emit_conv2d(xp *x, const xp_layer *l, const char *out)
{
    int64_t k[2], s[2], d[2], p[4], groups = jint(l->obj, "groups", 1);
    jpair(l->obj, "kernel", 1, k), jpair(l->obj, "stride", 1, s), jpair(l->obj, "dilation", 1, d), jpads(l->obj, p);
    int64_t dims[4] = {l->info.output.dim[0], l->in_shape[0].dim[0] / groups, k[0], k[1]};
    const char *in[3] = {l->in[0], NULL, NULL};
    if (params(x, l, dims, 4, true, &in[1], &in[2]) != 0)
        return NULL;
    Onnx__NodeProto *n = xp_node(x, "Conv", in, 3, out);
    int rc = xp_attr_ints(x, n, "kernel_shape", k, 2) || xp_attr_ints(x, n, "strides", s, 2) ||
             xp_attr_ints(x, n, "pads", p, 4) || xp_attr_ints(x, n, "dilations", d, 2) ||
             xp_attr_int(x, n, "group", groups);
    return output_of(rc, n);
}

/* maxpool2d and avgpool2d; ceil_mode and count_include_pad always written
 * (ONNX's count_include_pad defaults to 0, ours to true). */
static const char *emit_pool(xp *x, const xp_layer *l, const char *out)
{
    bool max = l->info.type == FT_LAYER_MAXPOOL2D;
    int64_t k[2], s[2], d[2], p[4];
    jpair(l->obj, "size", 1, k), jpair(l->obj, "stride", 1, s), jpair(l->obj, "dilation", 1, d), jpads(l->obj, p);
    Onnx__NodeProto *n = xp_node(x, max ? "MaxPool" : "AveragePool", l->in, 1, out);
    int rc = xp_attr_ints(x, n, "kernel_shape", k, 2) || xp_attr_ints(x, n, "strides", s, 2) ||
             xp_attr_ints(x, n, "pads", p, 4) || xp_attr_int(x, n, "ceil_mode", jbool(l->obj, "ceil_mode", false)) ||
             (max ? xp_attr_ints(x, n, "dilations", d, 2)
                  : xp_attr_int(x, n, "count_include_pad", jbool(l->obj, "count_include_pad", true)));
    return output_of(rc, n);
}

/* GlobalAveragePool keeps [C, 1, 1]; without keepdims a Flatten follows. */
static const char *emit_global_avgpool2d(xp *x, const xp_layer *l, const char *out)
{
    bool keep = jbool(l->obj, "keepdims", false);
    const char *pooled = node1(x, "GlobalAveragePool", l->in[0], keep ? out : NULL);
    if (keep || !pooled)
        return pooled;
    Onnx__NodeProto *n = xp_node(x, "Flatten", &pooled, 1, out);
    return output_of(xp_attr_int(x, n, "axis", 1), n);
}

static const char *emit_flatten(xp *x, const xp_layer *l, const char *out)
{
    Onnx__NodeProto *n = xp_node(x, "Flatten", l->in, 1, out);
    return output_of(xp_attr_int(x, n, "axis", 1), n);
}

/* Softmax along one axis, or (flatten: opset < 13's semantics) over every
 * dim from it on. */
static const char *emit_softmax(xp *x, const xp_layer *l, const char *out)
{
    int64_t axis = jint(l->obj, "axis", 0) + 1;
    if (jbool(l->obj, "flatten", false))
        return flat_softmax(x, l->in[0], (int)axis, l->info.output, out);
    Onnx__NodeProto *n = xp_node(x, "Softmax", l->in, 1, out);
    return output_of(xp_attr_int(x, n, "axis", axis), n);
}

/* Our inference-form batchnorm y = x w + b per channel, as ONNX's with
 * mean 0, variance 1 and epsilon 0: the same map exactly. */
static const char *emit_batchnorm(xp *x, const xp_layer *l, const char *out)
{
    int64_t c = l->in_shape[0].dim[0];
    const char *in[5] = {l->in[0], NULL, NULL, xp_init_fill(x, xp_aux(x, "mean"), &c, 1, 0),
                         xp_init_fill(x, xp_aux(x, "var"), &c, 1, 1)};
    if (params(x, l, &c, 1, true, &in[1], &in[2]) != 0)
        return NULL;
    Onnx__NodeProto *n = xp_node(x, "BatchNormalization", in, 5, out);
    return output_of(xp_attr_float(x, n, "epsilon", 0), n);
}

/* Add, Mul: our broadcasting is per sample, so an operand of lower rank
 * gets its missing axes right after the batch axis (Unsqueeze), not before
 * it as ONNX's numpy rule would put them. */
static const char *emit_binary(xp *x, const xp_layer *l, const char *out)
{
    int r = l->in_shape[0].rank > l->in_shape[1].rank ? l->in_shape[0].rank : l->in_shape[1].rank;
    const char *in[2] = {l->in[0], l->in[1]};
    for (int k = 0; k < 2; k++) {
        int64_t axes[FT_SHAPE_MAX_RANK];
        int missing = r - l->in_shape[k].rank;
        for (int i = 0; i < missing; i++)
            axes[i] = i + 1;
        const char *un[2] = {in[k], missing ? xp_init_i64(x, xp_aux(x, "axes"), axes, (size_t)missing) : NULL};
        if (missing)
            in[k] = output_of(0, xp_node(x, "Unsqueeze", un, 2, NULL));
    }
    return output_of(0, xp_node(x, l->info.type == FT_LAYER_ADD ? "Add" : "Mul", in, 2, out));
}

static const char *emit_concat(xp *x, const xp_layer *l, const char *out)
{
    Onnx__NodeProto *n = xp_node(x, "Concat", l->in, (size_t)l->info.ninputs, out);
    return output_of(xp_attr_int(x, n, "axis", jint(l->obj, "axis", 0) + 1), n);
}

/* A constant is its weight with a batch axis of 1, which add and mul
 * broadcast over the batch; any other reader would need it repeated per
 * sample, which the export does not do. */
static const char *emit_constant(xp *x, const xp_layer *l, const char *out)
{
    int n = ft_model_num_layers(l->m);
    for (int j = l->index + 1; j < n; j++) {
        ft_layer_info r;
        ft_model_layer_info(l->m, j, &r);
        for (int k = 0; k < r.ninputs; k++)
            if (strcmp(r.inputs[k], l->info.name) == 0 && r.type != FT_LAYER_ADD && r.type != FT_LAYER_MUL)
                return ft_fail(x->err, FT_EINVAL, NULL,
                               "constant layer '%s' feeds %s layer '%s': only add and mul can read a constant in "
                               "the ONNX export", l->info.name, r.op, r.name), NULL;
    }
    if (l->index == n - 1)
        return ft_fail(x->err, FT_EINVAL, NULL, "constant layer '%s' is the model's output: it has nothing to export",
                       l->info.name), NULL;
    int64_t dims[FT_SHAPE_MAX_RANK + 1] = {1};
    for (int i = 0; i < l->info.output.rank; i++)
        dims[i + 1] = l->info.output.dim[i];
    const char *w = NULL;
    if (params(x, l, dims, (size_t)l->info.output.rank + 1, false, &w, NULL) != 0)
        return NULL;
    return node1(x, "Identity", w, out);
}

/* Constant padding: our per-sample begins then ends, with the batch axis's 0 added. */
static const char *emit_pad(xp *x, const xp_layer *l, const char *out)
{
    const json_t *pads = json_object_get(l->obj, "pads");
    int r = l->in_shape[0].rank;
    int64_t p[2 * (FT_SHAPE_MAX_RANK + 1)] = {0};
    for (int i = 0; i < r && json_array_size(pads) == 2 * (size_t)r; i++) {
        p[1 + i] = (int64_t)json_integer_value(json_array_get(pads, (size_t)i));
        p[r + 2 + i] = (int64_t)json_integer_value(json_array_get(pads, (size_t)(r + i)));
    }
    const char *in[3] = {l->in[0], xp_init_i64(x, xp_aux(x, "pads"), p, 2 * (size_t)r + 2),
                         xp_init_fill(x, xp_aux(x, "value"), NULL, 0, jfloat(l->obj, "value", 0))};
    Onnx__NodeProto *n = xp_node(x, "Pad", in, 3, out);
    return output_of(0, n);
}

static const char *emit_reshape(xp *x, const xp_layer *l, const char *out)
{
    return to_sample(x, l->in[0], l->info.output, out);
}

/* Indexed by layer type; a type left out is refused by name. */
const xp_emit_fn xp_emitters[FT_LAYER_COUNT] = {
    [FT_LAYER_DENSE] = emit_dense,       [FT_LAYER_CONV2D] = emit_conv2d,
    [FT_LAYER_MAXPOOL2D] = emit_pool,    [FT_LAYER_AVGPOOL2D] = emit_pool,
    [FT_LAYER_GLOBAL_AVGPOOL2D] = emit_global_avgpool2d,
    [FT_LAYER_FLATTEN] = emit_flatten,   [FT_LAYER_DROPOUT] = emit_pass,
    [FT_LAYER_ACTIVATION] = emit_pass,   [FT_LAYER_SOFTMAX] = emit_softmax,
    [FT_LAYER_BATCHNORM] = emit_batchnorm, [FT_LAYER_ADD] = emit_binary,
    [FT_LAYER_MUL] = emit_binary,        [FT_LAYER_CONCAT] = emit_concat,
    [FT_LAYER_CONSTANT] = emit_constant, [FT_LAYER_PAD] = emit_pad,
    [FT_LAYER_RESHAPE] = emit_reshape,
};

/* ---- activations ---- */

/* Activations that are one ONNX op, with their parameters: ONNX attribute
 * and our JSON key, side by side. */
static const struct {
    const char *op;
    const char *attr[2], *key[2]; /* at most two parameters (clip, hard_sigmoid) */
} ACT_OPS[FT_ACT_COUNT] = {
    [FT_ACT_RELU] = {"Relu", {NULL}, {NULL}},
    [FT_ACT_SIGMOID] = {"Sigmoid", {NULL}, {NULL}},
    [FT_ACT_TANH] = {"Tanh", {NULL}, {NULL}},
    [FT_ACT_HARD_SWISH] = {"HardSwish", {NULL}, {NULL}},
    [FT_ACT_LEAKY_RELU] = {"LeakyRelu", {"alpha"}, {"negative_slope"}},
    [FT_ACT_HARD_SIGMOID] = {"HardSigmoid", {"alpha", "beta"}, {"alpha", "beta"}},
    [FT_ACT_ERF] = {"Erf", {NULL}, {NULL}},
};

/* gelu x * 0.5 * (1 + erf(x / sqrt 2)), in the order act_gelu.c computes it. */
static const char *gelu(xp *x, const char *in, const char *out)
{
    const char *half[2] = {in, xp_init_fill(x, xp_aux(x, "half"), NULL, 0, 0.5f)};
    const char *scaled[2] = {in, xp_init_fill(x, xp_aux(x, "sqrt1_2"), NULL, 0, (float)M_SQRT1_2)};
    const char *a = output_of(0, xp_node(x, "Mul", half, 2, NULL));
    const char *e = node1(x, "Erf", output_of(0, xp_node(x, "Mul", scaled, 2, NULL)), NULL);
    const char *plus[2] = {e, xp_init_fill(x, xp_aux(x, "one"), NULL, 0, 1)};
    const char *prod[2] = {a, output_of(0, xp_node(x, "Add", plus, 2, NULL))};
    return output_of(0, xp_node(x, "Mul", prod, 2, out));
}

const char *xp_activation(xp *x, const xp_layer *l, const char *pre, const char *out)
{
    ft_activation a = l->info.activation;
    if (a == FT_ACT_GELU)
        return gelu(x, pre, out);
    if (a == FT_ACT_SOFTMAX) { /* over each sample's values (conv2d cannot have it) */
        if (l->info.output.rank > 1)
            return flat_softmax(x, pre, 1, l->info.output, out);
        Onnx__NodeProto *n = xp_node(x, "Softmax", &pre, 1, out);
        return output_of(xp_attr_int(x, n, "axis", 1), n);
    }
    if (a == FT_ACT_CLIP) {
        const char *in[3] = {pre, xp_init_fill(x, xp_aux(x, "min"), NULL, 0, jfloat(l->obj, "min", 0)),
                             xp_init_fill(x, xp_aux(x, "max"), NULL, 0, jfloat(l->obj, "max", 6))};
        return output_of(0, xp_node(x, "Clip", in, 3, out));
    }
    if (!ACT_OPS[a].op)
        return ft_fail(x->err, FT_EINVAL, NULL, "layer '%s': the %s activation cannot be exported to ONNX yet",
                       l->info.name, ft_activation_name(a)), NULL;
    Onnx__NodeProto *n = xp_node(x, ACT_OPS[a].op, &pre, 1, out);
    int rc = n ? 0 : -1;
    for (int k = 0; k < 2 && ACT_OPS[a].attr[k] && rc == 0; k++)
        rc = xp_attr_float(x, n, ACT_OPS[a].attr[k], jfloat(l->obj, ACT_OPS[a].key[k], 0));
    return output_of(rc, n);
}
