/* Global average pooling: the mean of each channel, [C, H, W] -> [C]. */
#include "core/nn/layer.h"

static int gap_setup(ft_layer *l, const char *param, ft_error *err)
{
    if (l->in.rank != 3)
        return ft_fail(err, FT_EINVAL, param, "global_avgpool2d layer '%s' needs a [C, H, W] input",
                       l->name);
    l->out = ft_shape1(l->in.dim[0]);
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

const ft_layer_kind ft_layer_global_avgpool2d = {
    .setup = gap_setup, .forward = gap_forward, .backward = gap_backward,
};
