/* Global average pooling: the mean of each channel, [C, H, W] -> [C], or
 * [C, 1, 1] with keepdims (ONNX GlobalAveragePool). */
#include "core/nn/layer_fields.h"

static int gap_parse(ft_layer *l, const ft_layer_fields *f) { return ft_field_bool(f, "keepdims", &l->keepdims); }

/* keepdims appears only when true, so existing models re-emit as before. */
static void gap_emit(const ft_layer *l, json_t *o)
{
    if (l->keepdims)
        json_object_set_new(o, "keepdims", json_true());
}

static int gap_setup(ft_layer *l, const ft_shape *ins, const char *param, ft_error *err)
{
    (void)ins;
    if (l->in.rank != 3)
        return ft_fail(err, FT_EINVAL, param, "global_avgpool2d layer '%s' needs a [C, H, W] input",
                       l->name);
    l->out = l->keepdims ? ft_shape3(l->in.dim[0], 1, 1) : ft_shape1(l->in.dim[0]);
    return 0;
}

static void gap_forward(const ft_layer *l, const ft_fwd_args *a)
{
    size_t hw = (size_t)l->in.dim[1] * (size_t)l->in.dim[2];
    size_t planes = (size_t)a->batch * (size_t)l->in.dim[0];
    for (size_t p = 0; p < planes; p++) {
        const float *x = a->in + p * hw;
        float s = 0;
        for (size_t i = 0; i < hw; i++)
            s += x[i];
        a->out[p] = s / (float)hw;
    }
}

static void gap_backward(const ft_layer *l, const ft_bwd_args *a)
{
    if (!a->din)
        return;
    size_t hw = (size_t)l->in.dim[1] * (size_t)l->in.dim[2];
    size_t planes = (size_t)a->batch * (size_t)l->in.dim[0];
    for (size_t p = 0; p < planes; p++) {
        float g = a->dout[p] / (float)hw;
        for (size_t i = 0; i < hw; i++)
            a->din[p * hw + i] = g;
    }
}

static const char *const gap_keys[] = {"keepdims", NULL};

const ft_layer_kind ft_layer_global_avgpool2d = {
    .keys = gap_keys, .parse = gap_parse, .emit = gap_emit, .setup = gap_setup, .forward = gap_forward, .backward = gap_backward,
};
