/* The operator map: ONNX op type -> the function that emits its layer, with
 * the attributes it accepts; and the emitters of the elementwise, shape and
 * constant ops (windows and weights are in import_conv.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/onnx/import_internal.h"

/* ---- elementwise activations ---- */

/* Into the conv2d/dense/add that feeds it when nothing else reads that
 * tensor, else an `activation` layer. params (stolen) sit beside the name. */
static int emit_activation(imp *im, const ft_onnx_node *n, const char *act, json_t *params)
{
    static const char *const fusable[] = {"conv2d", "dense", "add", NULL};
    imp_value *x = imp_runtime(im, n, 0);
    if (!x || !params) {
        json_decref(params);
        return x ? imp_fail(im, "out of memory") : -1;
    }
    imp_layer *l = imp_fusable(im, x, fusable);
    int li = l ? x->layer : -1;
    if (!l) {
        imp_shape s;
        const char *src = imp_source(im, x, x->shape.rank + 1, &s);
        li = src ? imp_layer_new(im, NULL, "activation", &src, 1) : -1;
    }
    if (li < 0) {
        json_decref(params);
        return -1;
    }
    l = im->layers[li];
    l->activated = true;
    json_object_set_new(l->obj, "activation", json_string(act));
    json_object_update(l->obj, params);
    json_decref(params);
    return x->kind == IMP_LAYER && x->layer == li ? imp_fuse(im, n, x) : imp_set_layer_output(im, n, 0, li, &x->shape);
}

static int emit_relu(imp *im, const ft_onnx_node *n) { return emit_activation(im, n, "relu", json_object()); }
static int emit_sigmoid(imp *im, const ft_onnx_node *n) { return emit_activation(im, n, "sigmoid", json_object()); }
static int emit_tanh(imp *im, const ft_onnx_node *n) { return emit_activation(im, n, "tanh", json_object()); }
static int emit_hard_swish(imp *im, const ft_onnx_node *n) { return emit_activation(im, n, "hard_swish", json_object()); }
static int emit_erf(imp *im, const ft_onnx_node *n) { return emit_activation(im, n, "erf", json_object()); }

static int emit_leaky_relu(imp *im, const ft_onnx_node *n)
{
    return emit_activation(im, n, "leaky_relu", json_pack("{s:f}", "negative_slope", imp_attr_float(n, "alpha", 0.01f)));
}

static int emit_hard_sigmoid(imp *im, const ft_onnx_node *n)
{
    return emit_activation(im, n, "hard_sigmoid", json_pack("{s:f, s:f}", "alpha", imp_attr_float(n, "alpha", 0.2f),
                                                            "beta", imp_attr_float(n, "beta", 0.5f)));
}

/* A bound of Clip from opset 11's optional scalar input k. */
static int clip_bound(imp *im, const ft_onnx_node *n, size_t k, const char *what, json_t *params)
{
    if (!imp_input(im, n, k))
        return 0;
    const ft_onnx_tensor *t = imp_const_f32(im, n, k, what);
    if (!t)
        return -1;
    if (t->count != 1)
        return imp_fail(im, "%s must be a scalar", what);
    return json_object_set_new(params, what, json_real(t->f32[0]));
}

/* Clip: bounds from attributes before opset 11, from constant inputs after;
 * a missing bound is unbounded (+-3.4e38, the largest the clip activation
 * takes; its own defaults are ReLU6's). */
static int emit_clip(imp *im, const ft_onnx_node *n)
{
    const float inf = 3.4e38f;
    json_t *params = json_pack("{s:f, s:f}", "min", im->opset < 11 ? imp_attr_float(n, "min", -inf) : -inf, "max",
                               im->opset < 11 ? imp_attr_float(n, "max", inf) : inf);
    if (params && im->opset >= 11 && (clip_bound(im, n, 1, "min", params) != 0 || clip_bound(im, n, 2, "max", params) != 0)) {
        json_decref(params);
        return -1;
    }
    return emit_activation(im, n, "clip", params);
}

/* ---- axes ---- */

/* ONNX axis (negative from the end) of a tensor of full_rank -> per-sample
 * axis; the batch axis 0 is refused. */
static int sample_axis(imp *im, int64_t axis, int full_rank, int *out)
{
    int64_t a = axis < 0 ? axis + full_rank : axis;
    if (a == 0)
        return imp_fail(im, "axis %lld is the batch axis, which is not supported", (long long)axis);
    if (a < 0 || a >= full_rank)
        return imp_fail(im, "axis %lld is out of range for rank %d", (long long)axis, full_rank);
    *out = (int)a - 1;
    return 0;
}

static int emit_softmax(imp *im, const ft_onnx_node *n)
{
    imp_value *x = imp_runtime(im, n, 0);
    int r = x ? x->shape.rank + 1 : 0, axis = 0;
    if (!x || sample_axis(im, imp_attr_int(n, "axis", im->opset < 13 ? 1 : -1), r, &axis) != 0)
        return -1;
    imp_shape s;
    const char *src = imp_source(im, x, r, &s);
    int li = src ? imp_layer_new(im, NULL, "softmax", &src, 1) : -1;
    if (li < 0)
        return -1;
    json_object_set_new(im->layers[li]->obj, "axis", json_integer(axis));
    /* Before opset 13 Softmax flattens the dims from axis on. */
    if (im->opset < 13 && axis + 1 < x->shape.rank)
        json_object_set_new(im->layers[li]->obj, "flatten", json_true());
    return imp_set_layer_output(im, n, 0, li, &x->shape);
}

/* ---- several inputs ---- */

static int broadcast(const imp_shape *a, const imp_shape *b, imp_shape *out)
{
    out->rank = a->rank > b->rank ? a->rank : b->rank;
    for (int i = 1; i <= out->rank; i++) {
        int64_t da = i <= a->rank ? a->d[a->rank - i] : 1, db = i <= b->rank ? b->d[b->rank - i] : 1;
        if (da != db && da != 1 && db != 1)
            return -1;
        out->d[out->rank - i] = da == 1 ? db : da;
    }
    return 0;
}

/* Add, Mul: numpy broadcasting per sample; a constant operand becomes a
 * `constant` layer. */
static int emit_binary(imp *im, const ft_onnx_node *n, const char *type)
{
    imp_value *a = imp_input(im, n, 0), *b = imp_input(im, n, 1);
    if (!a || !b)
        return imp_fail(im, "needs two inputs");
    if (a->kind == IMP_CONST && b->kind == IMP_CONST)
        return imp_fail(im, "both operands are constants, which is not supported");
    int ra = a->kind == IMP_CONST ? 0 : a->shape.rank + 1, rb = b->kind == IMP_CONST ? 0 : b->shape.rank + 1;
    if (ra && rb && ra != rb)
        return imp_fail(im, "operands of rank %d and %d: broadcasting would mix the batch axis", ra, rb);
    imp_shape sa, sb, out;
    const char *src[2] = {imp_source(im, a, ra ? ra : rb, &sa), NULL};
    src[1] = src[0] ? imp_source(im, b, ra ? ra : rb, &sb) : NULL;
    if (!src[1])
        return -1;
    char da[160], db[160];
    if (broadcast(&sa, &sb, &out) != 0)
        return imp_fail(im, "per-sample shapes %s and %s do not broadcast", imp_ints_str(sa.d, (size_t)sa.rank, da, sizeof da),
                        imp_ints_str(sb.d, (size_t)sb.rank, db, sizeof db));
    int li = imp_layer_new(im, NULL, type, src, 2);
    return li < 0 ? -1 : imp_set_layer_output(im, n, 0, li, &out);
}

static int emit_add(imp *im, const ft_onnx_node *n) { return emit_binary(im, n, "add"); }
static int emit_mul(imp *im, const ft_onnx_node *n) { return emit_binary(im, n, "mul"); }

static int emit_identity(imp *im, const ft_onnx_node *n);

/* Concat; of one input (DenseNet's first layers) it is the identity. */
static int emit_concat(imp *im, const ft_onnx_node *n)
{
    if (n->n_inputs == 1)
        return emit_identity(im, n);
    int r = 0, axis = 0;
    for (size_t k = 0; k < n->n_inputs && !r; k++) {
        imp_value *v = imp_input(im, n, k);
        r = v && v->kind != IMP_CONST ? v->shape.rank + 1 : 0;
    }
    if (!r)
        return imp_fail(im, "no input is computed from the model input");
    if (sample_axis(im, imp_attr_int(n, "axis", 1), r, &axis) != 0)
        return -1;
    const char **src = calloc(n->n_inputs, sizeof *src);
    imp_shape out, s;
    int li = src ? 0 : imp_fail(im, "out of memory");
    for (size_t k = 0; li == 0 && k < n->n_inputs; k++) {
        imp_value *v = imp_input(im, n, k);
        if (!v || !(src[k] = imp_source(im, v, r, &s))) {
            li = v ? -1 : imp_fail(im, "input %zu is missing", k);
            break;
        }
        bool fits = s.rank == r - 1;
        for (int d = 0; fits && d < s.rank; d++)
            fits = k == 0 || d == axis || s.d[d] == out.d[d];
        if (!fits)
            li = imp_fail(im, "input '%s' does not match the others outside axis %d", n->inputs[k], axis + 1);
        else if (k == 0)
            out = s;
        else
            out.d[axis] += s.d[axis];
    }
    if (li == 0)
        li = imp_layer_new(im, NULL, "concat", src, n->n_inputs);
    free(src);
    if (li < 0)
        return -1;
    json_object_set_new(im->layers[li]->obj, "axis", json_integer(axis));
    return imp_set_layer_output(im, n, 0, li, &out);
}

/* ---- shapes ---- */

static int64_t shape_count(const imp_shape *s)
{
    int64_t c = 1;
    for (int i = 0; i < s->rank; i++)
        c *= s->d[i];
    return c;
}

static int emit_flat(imp *im, const ft_onnx_node *n, imp_value *x, const char *type, const imp_shape *out)
{
    imp_shape s;
    const char *src = imp_source(im, x, x->shape.rank + 1, &s);
    int li = src ? imp_layer_new(im, NULL, type, &src, 1) : -1;
    if (li < 0)
        return -1;
    if (strcmp(type, "reshape") == 0)
        json_object_set_new(im->layers[li]->obj, "shape", imp_shape_json(out));
    return imp_set_layer_output(im, n, 0, li, out);
}

/* Flatten at axis 1; another axis only where it gives the same result
 * (every dim between the batch and the axis is 1). */
static int emit_flatten(imp *im, const ft_onnx_node *n)
{
    imp_value *x = imp_runtime(im, n, 0);
    if (!x)
        return -1;
    int r = x->shape.rank + 1;
    int64_t axis = imp_attr_int(n, "axis", 1), a = axis < 0 ? axis + r : axis;
    if (a < 0 || a > r)
        return imp_fail(im, "axis %lld is out of range for rank %d", (long long)axis, r);
    for (int64_t d = 1; d < a; d++)
        if (x->shape.d[d - 1] != 1 || a == 0)
            return imp_fail(im, "axis %lld would fold dimensions into the batch, which is not supported",
                            (long long)axis);
    if (a == 0)
        return imp_fail(im, "axis 0 would fold the batch into the features, which is not supported");
    imp_shape out = {1, {shape_count(&x->shape)}};
    return emit_flat(im, n, x, "flatten", &out);
}

/* Reshape with a constant shape whose first element stands for the batch
 * (0, -1 or the input's declared batch size). */
static int emit_reshape(imp *im, const ft_onnx_node *n)
{
    imp_value *x = imp_runtime(im, n, 0);
    const ft_onnx_tensor *t = x ? imp_const_i64(im, n, 1, "shape") : NULL;
    if (!t)
        return -1;
    char buf[160];
    const char *str = imp_ints_str(t->i64, t->count, buf, sizeof buf);
    const int64_t *s = t->i64;
    if (t->count < 2 || t->count > IMP_MAX_RANK + 1 || !(s[0] == 0 || s[0] == -1 || (im->batch > 0 && s[0] == im->batch)))
        return imp_fail(im, "shape %s: the first element must stand for the batch (0 or -1) and at least one "
                        "per-sample dimension must follow", str);
    imp_shape out = {(int)t->count - 1, {0}};
    int64_t known = 1, count = shape_count(&x->shape);
    int infer = -1;
    for (int i = 0; i < out.rank; i++) {
        int64_t v = s[i + 1];
        if (v == 0 && imp_attr_int(n, "allowzero", 0))
            return imp_fail(im, "shape %s: a literal 0 with allowzero=1 is not supported", str);
        out.d[i] = v == 0 && i < x->shape.rank ? x->shape.d[i] : v;
        if (v == -1 && (infer >= 0 || s[0] == -1))
            return imp_fail(im, "shape %s has more than one -1", str);
        if (v == -1)
            infer = i;
        else if (out.d[i] <= 0)
            return imp_fail(im, "shape %s has an invalid element %lld", str, (long long)v);
        else
            known *= out.d[i];
    }
    if (infer >= 0 && known > 0 && count % known == 0)
        out.d[infer] = count / known, known = count;
    if (known != count)
        return imp_fail(im, "shape %s does not keep the %lld values of each sample", str, (long long)count);
    return emit_flat(im, n, x, "reshape", &out);
}

/* Pad, constant mode: pads and value from attributes before opset 11, from
 * constant inputs after. The batch axis is not padded. */
static int emit_pad(imp *im, const ft_onnx_node *n)
{
    const char *mode = imp_attr_string(n, "mode", "constant");
    imp_value *x = imp_runtime(im, n, 0);
    if (!x)
        return -1;
    if (strcmp(mode, "constant") != 0)
        return imp_fail(im, "mode '%s' is not supported (only constant)", mode);
    int r = x->shape.rank + 1;
    int64_t pads[2 * (IMP_MAX_RANK + 1)];
    size_t np = 0;
    float value = 0;
    if (im->opset < 11) {
        if (imp_attr_ints(im, n, "pads", pads, 2 * (size_t)r, &np) != 0)
            return -1;
        value = imp_attr_float(n, "value", 0);
    } else {
        const ft_onnx_tensor *p = imp_const_i64(im, n, 1, "pads"), *v = NULL;
        if (!p || (imp_input(im, n, 2) && !(v = imp_const_f32(im, n, 2, "constant_value"))))
            return -1;
        if (v && v->count != 1)
            return imp_fail(im, "constant_value must be a scalar");
        value = v ? v->f32[0] : 0;
        np = p->count <= 2 * (size_t)r ? p->count : 0;
        memcpy(pads, p->i64, np * sizeof *pads);
    }
    char buf[160];
    if (np != 2 * (size_t)r)
        return imp_fail(im, "pads must have %d values (begin and end of each axis)", 2 * r);
    if (pads[0] || pads[r])
        return imp_fail(im, "pads %s pad the batch axis, which is not supported", imp_ints_str(pads, np, buf, sizeof buf));
    imp_shape out = x->shape;
    json_t *jp = json_array();
    for (int i = 0; i < 2 * (r - 1); i++) {
        int64_t v = pads[i < r - 1 ? i + 1 : i + 2];
        if (v < 0)
            return json_decref(jp), imp_fail(im, "negative pads %s are not supported", imp_ints_str(pads, np, buf, sizeof buf));
        out.d[i % (r - 1)] += v;
        json_array_append_new(jp, json_integer(v));
    }
    imp_shape s;
    const char *src = imp_source(im, x, r, &s);
    int li = src ? imp_layer_new(im, NULL, "pad", &src, 1) : -1;
    if (li < 0)
        return json_decref(jp), -1;
    json_object_set_new(im->layers[li]->obj, "pads", jp);
    json_object_set_new(im->layers[li]->obj, "value", json_real(value));
    return imp_set_layer_output(im, n, 0, li, &out);
}

/* ---- constants and no-ops ---- */

static int emit_constant(imp *im, const ft_onnx_node *n)
{
    const ft_onnx_attr *a = n->n_attrs == 1 ? &n->attrs[0] : NULL;
    if (!a)
        return imp_fail(im, "needs exactly one of value, value_float(s), value_int(s)");
    if (a->type == FT_ONNX_ATTR_TENSOR)
        return imp_set_const(im, n, a->t);
    bool f = a->type == FT_ONNX_ATTR_FLOAT || a->type == FT_ONNX_ATTR_FLOATS;
    bool list = a->type == FT_ONNX_ATTR_FLOATS || a->type == FT_ONNX_ATTR_INTS;
    int64_t dim = (int64_t)a->count;
    ft_onnx_tensor *t = imp_tensor_new(im, f ? FT_ONNX_F32 : FT_ONNX_I64, list ? 1 : 0, &dim);
    if (!t)
        return ft_fail(im->err, FT_ENOMEM, NULL, "%s: out of memory", im->label);
    if (f)
        memcpy((float *)t->f32, list ? a->floats : &a->f, t->count * sizeof(float));
    else
        memcpy((int64_t *)t->i64, list ? a->ints : &a->i, t->count * sizeof(int64_t));
    return imp_set_const(im, n, t);
}

static int emit_identity(imp *im, const ft_onnx_node *n)
{
    imp_value *x = imp_input(im, n, 0);
    return x ? imp_set_alias(im, n, x) : imp_fail(im, "input 0 is missing");
}

/* Dropout at inference is the identity; its mask output and training mode are refused. */
static int emit_dropout(imp *im, const ft_onnx_node *n)
{
    if (imp_output_used(im, n, 1))
        return imp_fail(im, "the mask output '%s' is not supported", n->outputs[1]);
    if (imp_input(im, n, 2)) {
        const ft_onnx_tensor *t = imp_const_i64(im, n, 2, "training_mode");
        if (!t || t->count != 1 || t->i64[0] != 0)
            return t ? imp_fail(im, "training_mode must be false") : -1;
    }
    return emit_identity(im, n);
}

/* ---- the table ---- */

static const char *const NONE[] = {NULL};
static const char *const CONV[] = {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides", NULL};
static const char *const MAXPOOL[] = {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads",
                                      "storage_order", "strides", NULL};
static const char *const AVGPOOL[] = {"auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads",
                                      "strides", NULL};
static const char *const BN[] = {"epsilon", "momentum", "spatial", "training_mode", NULL};
static const char *const ALPHA[] = {"alpha", NULL};
static const char *const ALPHA_BETA[] = {"alpha", "beta", NULL};
static const char *const CLIP[] = {"min", "max", NULL};
static const char *const AXIS[] = {"axis", NULL};
static const char *const RESHAPE[] = {"allowzero", NULL};
static const char *const GEMM[] = {"alpha", "beta", "transA", "transB", NULL};
static const char *const PAD[] = {"mode", "pads", "value", NULL};
static const char *const CONSTANT[] = {"value", "value_float", "value_floats", "value_int", "value_ints", NULL};
static const char *const DROPOUT[] = {"ratio", "seed", NULL};

#define IMP_OPS(X)                                                                                            \
    X("Conv", imp_emit_conv, CONV) X("BatchNormalization", imp_emit_batchnorm, BN) X("Relu", emit_relu, NONE) \
    X("LeakyRelu", emit_leaky_relu, ALPHA) X("Clip", emit_clip, CLIP) X("Sigmoid", emit_sigmoid, NONE)        \
    X("HardSigmoid", emit_hard_sigmoid, ALPHA_BETA) X("HardSwish", emit_hard_swish, NONE)                     \
    X("Tanh", emit_tanh, NONE) X("Softmax", emit_softmax, AXIS) X("Add", emit_add, NONE)                      \
    X("Mul", emit_mul, NONE) X("Concat", emit_concat, AXIS) X("MaxPool", imp_emit_pool, MAXPOOL)             \
    X("AveragePool", imp_emit_pool, AVGPOOL) X("GlobalAveragePool", imp_emit_global_avgpool, NONE)            \
    X("Flatten", emit_flatten, AXIS) X("Reshape", emit_reshape, RESHAPE) X("Gemm", imp_emit_gemm, GEMM)       \
    X("MatMul", imp_emit_matmul, NONE) X("Pad", emit_pad, PAD) X("Constant", emit_constant, CONSTANT)         \
    X("Dropout", emit_dropout, DROPOUT) X("Identity", emit_identity, NONE) X("Erf", emit_erf, NONE)

#define IMP_OP_ROW(name, fn, attrs) {name, fn, attrs},
#define IMP_OP_NAME(name, fn, attrs) name,
const imp_op imp_ops[] = {IMP_OPS(IMP_OP_ROW)};
const size_t imp_n_ops = sizeof imp_ops / sizeof *imp_ops;
const char *const ft_onnx_import_ops[] = {IMP_OPS(IMP_OP_NAME)};
const size_t ft_onnx_import_n_ops = sizeof ft_onnx_import_ops / sizeof *ft_onnx_import_ops;
