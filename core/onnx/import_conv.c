/* Emitters of the ops with windows or weights: Conv and the pools (strides,
 * pads, dilations, auto_pad, ceil_mode), BatchNormalization (folded into
 * the conv before it where it can be), Gemm and MatMul (dense). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/onnx/import_internal.h"

/* A 2-D window: kernel, strides, dilations and pads [top, left, bottom, right]. */
typedef struct {
    int64_t k[2], s[2], d[2], p[4];
    bool ceil;
} window;

static const imp_value *image_input(imp *im, const ft_onnx_node *n)
{
    imp_value *x = imp_runtime(im, n, 0);
    if (x && x->shape.rank != 3) {
        imp_fail(im, "needs an [N, C, H, W] input; this one has rank %d", x->shape.rank + 1);
        return NULL;
    }
    return x;
}

/* A 2-D ints attribute (count values, default def for each when absent). */
static int ints_attr(imp *im, const ft_onnx_node *n, const char *name, size_t count, int64_t def, int64_t *out)
{
    size_t got;
    if (imp_attr_ints(im, n, name, out, count, &got) != 0)
        return -1;
    if (got && got != count)
        return imp_fail(im, "%s has %zu values; only 2-D windows (%zu values) are supported", name, got, count);
    for (size_t i = got; i < count; i++)
        out[i] = def;
    for (size_t i = 0; i < count; i++)
        if (out[i] < (def ? 1 : 0))
            return imp_fail(im, "%s must be %s", name, def ? "positive" : "non-negative");
    return 0;
}

/* The window's attributes and output size [H, W] on input x ([C, H, W]). */
static int window_of(imp *im, const ft_onnx_node *n, const imp_shape *x, window *w, int64_t out[2])
{
    char buf[96];
    if (ints_attr(im, n, "strides", 2, 1, w->s) != 0 || ints_attr(im, n, "dilations", 2, 1, w->d) != 0 ||
        ints_attr(im, n, "pads", 4, 0, w->p) != 0)
        return -1;
    w->ceil = imp_attr_int(n, "ceil_mode", 0) != 0;
    const char *pad = imp_attr_string(n, "auto_pad", "NOTSET");
    bool upper = strcmp(pad, "SAME_UPPER") == 0, lower = strcmp(pad, "SAME_LOWER") == 0;
    if (strcmp(pad, "VALID") == 0)
        memset(w->p, 0, sizeof w->p);
    else if (!upper && !lower && strcmp(pad, "NOTSET") != 0)
        return imp_fail(im, "auto_pad '%s' is not supported", pad);
    for (int i = 0; i < 2; i++) {
        int64_t in = x->d[1 + i], span = (w->k[i] - 1) * w->d[i] + 1;
        if (upper || lower) {
            /* SAME: the output is ceil(in / stride); the odd pixel of padding
             * goes at the end (UPPER) or the start (LOWER). */
            int64_t o = (in + w->s[i] - 1) / w->s[i], total = (o - 1) * w->s[i] + span - in;
            total = total > 0 ? total : 0;
            w->p[i] = upper ? total / 2 : total - total / 2;
            w->p[i + 2] = total - w->p[i];
        }
        int64_t room = in + w->p[i] + w->p[i + 2] - span;
        if (room < 0)
            return imp_fail(im, "kernel %lldx%lld (dilations %lldx%lld) does not fit the input %lldx%lld with pads %s",
                            (long long)w->k[0], (long long)w->k[1], (long long)w->d[0], (long long)w->d[1],
                            (long long)x->d[1], (long long)x->d[2], imp_ints_str(w->p, 4, buf, sizeof buf));
        out[i] = (w->ceil ? (room + w->s[i] - 1) / w->s[i] : room / w->s[i]) + 1;
        /* PyTorch's and ONNX's rule: the last window starts inside the input or the left padding. */
        if (w->ceil && (out[i] - 1) * w->s[i] >= in + w->p[i])
            out[i]--;
    }
    return 0;
}

static json_t *pair(const int64_t *v) { return json_pack("[I, I]", (json_int_t)v[0], (json_int_t)v[1]); }

static json_t *pads_json(const int64_t *p)
{
    return json_pack("[I, I, I, I]", (json_int_t)p[0], (json_int_t)p[1], (json_int_t)p[2], (json_int_t)p[3]);
}

static int new_window_layer(imp *im, const ft_onnx_node *n, const imp_value *x, const char *type, const window *w,
                            const imp_shape *out)
{
    imp_shape s;
    const char *src = imp_source(im, (imp_value *)x, 4, &s);
    int li = src ? imp_layer_new(im, NULL, type, &src, 1) : -1;
    if (li < 0)
        return -1;
    json_t *o = im->layers[li]->obj;
    json_object_set_new(o, strcmp(type, "conv2d") == 0 ? "kernel" : "size", pair(w->k));
    json_object_set_new(o, "stride", pair(w->s));
    json_object_set_new(o, "padding", pads_json(w->p));
    json_object_set_new(o, "dilation", pair(w->d));
    if (imp_set_layer_output(im, n, 0, li, out) != 0)
        return -1;
    return li;
}

int imp_emit_conv(imp *im, const ft_onnx_node *n)
{
    const imp_value *x = image_input(im, n);
    const ft_onnx_tensor *W = x ? imp_const_f32(im, n, 1, "weight") : NULL, *B = NULL;
    if (!W || (imp_input(im, n, 2) && !(B = imp_const_f32(im, n, 2, "bias"))))
        return -1;
    int64_t group = imp_attr_int(n, "group", 1), ks[2];
    char buf[96];
    if (W->rank != 4)
        return imp_fail(im, "weight '%s' has shape %s; only 2-D convolutions are supported", W->name,
                        imp_ints_str(W->dims, W->rank, buf, sizeof buf));
    int64_t m = W->dims[0], c = x->shape.d[0];
    if (group < 1 || m % group || W->dims[1] * group != c)
        return imp_fail(im, "weight %s with group %lld does not fit %lld input channels",
                        imp_ints_str(W->dims, W->rank, buf, sizeof buf), (long long)group, (long long)c);
    if (ints_attr(im, n, "kernel_shape", 2, 1, ks) != 0)
        return -1;
    window w = {.k = {W->dims[2], W->dims[3]}};
    if (ft_onnx_attr_find(n, "kernel_shape") && (ks[0] != w.k[0] || ks[1] != w.k[1]))
        return imp_fail(im, "kernel_shape differs from the weight's shape");
    if (B && B->count != (size_t)m)
        return imp_fail(im, "bias '%s' has %zu values for %lld filters", B->name, B->count, (long long)m);
    imp_shape out = {3, {m, 0, 0}};
    if (window_of(im, n, &x->shape, &w, out.d + 1) != 0)
        return -1;
    int li = new_window_layer(im, n, x, "conv2d", &w, &out);
    if (li < 0)
        return -1;
    imp_layer *l = im->layers[li];
    json_object_set_new(l->obj, "filters", json_integer(m));
    json_object_set_new(l->obj, "groups", json_integer(group));
    l->nw = W->count;
    l->nb = (size_t)m;
    if (!(l->w = imp_floats(im, l->nw)) || !(l->b = imp_floats(im, l->nb)))
        return -1;
    memcpy(l->w, W->f32, l->nw * sizeof *l->w);
    if (B)
        memcpy(l->b, B->f32, l->nb * sizeof *l->b);
    return 0;
}

int imp_emit_pool(imp *im, const ft_onnx_node *n)
{
    bool max = strcmp(n->op_type, "MaxPool") == 0;
    const imp_value *x = image_input(im, n);
    window w;
    if (!x || ints_attr(im, n, "kernel_shape", 2, 1, w.k) != 0)
        return -1;
    if (!ft_onnx_attr_find(n, "kernel_shape"))
        return imp_fail(im, "kernel_shape is required");
    if (imp_attr_int(n, "storage_order", 0) != 0)
        return imp_fail(im, "storage_order 1 is not supported");
    if (imp_output_used(im, n, 1))
        return imp_fail(im, "the indices output '%s' is not supported", n->outputs[1]);
    imp_shape out = {3, {x->shape.d[0], 0, 0}};
    if (window_of(im, n, &x->shape, &w, out.d + 1) != 0)
        return -1;
    int li = new_window_layer(im, n, x, max ? "maxpool2d" : "avgpool2d", &w, &out);
    if (li < 0)
        return -1;
    json_t *o = im->layers[li]->obj;
    json_object_set_new(o, "ceil_mode", json_boolean(w.ceil));
    if (!max) {
        json_object_del(o, "dilation"); /* AveragePool has none before opset 19 */
        json_object_set_new(o, "count_include_pad", json_boolean(imp_attr_int(n, "count_include_pad", 0)));
    }
    return 0;
}

int imp_emit_global_avgpool(imp *im, const ft_onnx_node *n)
{
    const imp_value *x = image_input(im, n);
    imp_shape s, out = {3, {x ? x->shape.d[0] : 0, 1, 1}};
    const char *src = x ? imp_source(im, (imp_value *)x, 4, &s) : NULL;
    int li = src ? imp_layer_new(im, NULL, "global_avgpool2d", &src, 1) : -1;
    if (li < 0)
        return -1;
    json_object_set_new(im->layers[li]->obj, "keepdims", json_true());
    return imp_set_layer_output(im, n, 0, li, &out);
}

/* A dense layer on flat input x with weight [units, in] and bias [units]
 * (the caller fills both). Returns the layer or NULL. */
static imp_layer *new_dense(imp *im, const ft_onnx_node *n, const imp_value *x, int64_t units)
{
    imp_shape s, out = {1, {units}};
    const char *src = imp_source(im, (imp_value *)x, 2, &s);
    int li = src ? imp_layer_new(im, NULL, "dense", &src, 1) : -1;
    if (li < 0 || imp_set_layer_output(im, n, 0, li, &out) != 0)
        return NULL;
    imp_layer *l = im->layers[li];
    json_object_set_new(l->obj, "units", json_integer(units));
    l->nw = (size_t)(units * x->shape.d[0]);
    l->nb = (size_t)units;
    return (l->w = imp_floats(im, l->nw)) && (l->b = imp_floats(im, l->nb)) ? l : NULL;
}

/* The runtime input of Gemm / MatMul: [N, K]. */
static const imp_value *flat_input(imp *im, const ft_onnx_node *n)
{
    imp_value *x = imp_runtime(im, n, 0);
    if (x && x->shape.rank != 1) {
        imp_fail(im, "input A must be [N, K] (rank 2); this one has rank %d", x->shape.rank + 1);
        return NULL;
    }
    return x;
}

/* Gemm: y = alpha * A B' + beta * C with A [N, K] (transA = 0), B constant
 * (either orientation), C a constant that broadcasts to [1, M]. */
int imp_emit_gemm(imp *im, const ft_onnx_node *n)
{
    if (imp_attr_int(n, "transA", 0) != 0)
        return imp_fail(im, "transA=1 is not supported");
    const imp_value *x = flat_input(im, n);
    const ft_onnx_tensor *B = x ? imp_const_f32(im, n, 1, "B") : NULL, *C = NULL;
    if (!B || (imp_input(im, n, 2) && !(C = imp_const_f32(im, n, 2, "C"))))
        return -1;
    bool tb = imp_attr_int(n, "transB", 0) != 0;
    int64_t k = x->shape.d[0];
    char buf[96];
    if (B->rank != 2 || B->dims[tb ? 1 : 0] != k)
        return imp_fail(im, "B of shape %s does not fit A with %lld columns (transB=%d)",
                        imp_ints_str(B->dims, B->rank, buf, sizeof buf), (long long)k, tb);
    int64_t m = B->dims[tb ? 0 : 1];
    bool c_ok = !C || C->count == 1 || (C->count == (size_t)m && C->dims[C->rank - 1] == m && C->rank <= 2);
    if (!c_ok)
        return imp_fail(im, "C of shape %s does not broadcast to [1, %lld] (a bias varying along the batch is not "
                        "supported)", imp_ints_str(C->dims, C->rank, buf, sizeof buf), (long long)m);
    float alpha = imp_attr_float(n, "alpha", 1), beta = imp_attr_float(n, "beta", 1);
    imp_layer *l = new_dense(im, n, x, m);
    if (!l)
        return -1;
    for (int64_t o = 0; o < m; o++) {
        for (int64_t i = 0; i < k; i++)
            l->w[o * k + i] = alpha * (tb ? B->f32[o * k + i] : B->f32[i * m + o]);
        l->b[o] = C ? beta * C->f32[C->count == 1 ? 0 : o] : 0;
    }
    return 0;
}

/* MatMul of A [N, K] by a constant B [K, M]: a dense layer without bias. */
int imp_emit_matmul(imp *im, const ft_onnx_node *n)
{
    const imp_value *x = flat_input(im, n);
    const ft_onnx_tensor *B = x ? imp_const_f32(im, n, 1, "B") : NULL;
    char buf[96];
    if (!B)
        return -1;
    if (B->rank != 2 || B->dims[0] != x->shape.d[0])
        return imp_fail(im, "B of shape %s must be 2-D with %lld rows", imp_ints_str(B->dims, B->rank, buf, sizeof buf),
                        (long long)x->shape.d[0]);
    int64_t k = B->dims[0], m = B->dims[1];
    imp_layer *l = new_dense(im, n, x, m);
    if (!l)
        return -1;
    for (int64_t o = 0; o < m; o++)
        for (int64_t i = 0; i < k; i++)
            l->w[o * k + i] = B->f32[i * m + o];
    return 0;
}

/* BatchNormalization, inference form: y = x * scale' + bias' per channel,
 * folded into the conv2d before it when nothing else reads the conv. */
int imp_emit_batchnorm(imp *im, const ft_onnx_node *n)
{
    static const char *const conv[] = {"conv2d", NULL};
    static const char *const what[] = {"scale", "B", "mean", "var"};
    imp_value *x = imp_runtime(im, n, 0);
    const ft_onnx_tensor *t[4] = {0};
    if (!x)
        return -1;
    if (imp_attr_int(n, "training_mode", 0) != 0 || imp_output_used(im, n, 1) || imp_output_used(im, n, 2))
        return imp_fail(im, "training mode (training_mode=1 or the running statistics outputs) is not supported");
    if (imp_attr_int(n, "spatial", 1) != 1)
        return imp_fail(im, "spatial=0 is not supported");
    size_t c = (size_t)x->shape.d[0];
    for (int i = 0; i < 4; i++)
        if (!(t[i] = imp_const_f32(im, n, (size_t)i + 1, what[i])) || t[i]->count != c)
            return t[i] ? imp_fail(im, "%s has %zu values for %zu channels", what[i], t[i]->count, c) : -1;
    float eps = imp_attr_float(n, "epsilon", 1e-5f);
    imp_layer *l = imp_fusable(im, x, conv);
    if (l) {
        size_t per = l->nw / c;
        for (size_t o = 0; o < c; o++) {
            float s = t[0]->f32[o] / sqrtf(t[3]->f32[o] + eps);
            for (size_t i = 0; i < per; i++)
                l->w[o * per + i] *= s;
            l->b[o] = (l->b[o] - t[2]->f32[o]) * s + t[1]->f32[o];
        }
        return imp_fuse(im, n, x);
    }
    imp_shape s;
    const char *src = imp_source(im, x, x->shape.rank + 1, &s);
    int li = src ? imp_layer_new(im, NULL, "batchnorm", &src, 1) : -1;
    if (li < 0 || imp_set_layer_output(im, n, 0, li, &x->shape) != 0)
        return -1;
    l = im->layers[li];
    l->nw = l->nb = c;
    if (!(l->w = imp_floats(im, c)) || !(l->b = imp_floats(im, c)))
        return -1;
    for (size_t o = 0; o < c; o++) {
        l->w[o] = t[0]->f32[o] / sqrtf(t[3]->f32[o] + eps);
        l->b[o] = t[1]->f32[o] - t[2]->f32[o] * l->w[o];
    }
    return 0;
}
