/* Batch normalisation in inference form: a per-channel affine map
 * y = x * weight[c] + bias[c] over axis 0 of the per-sample shape (the ONNX
 * importer folds scale, B, mean, var and epsilon into weight and bias).
 * Forward only for now (not trainable). */
#include "core/nn/layer.h"

static int batchnorm_setup(ft_layer *l, const ft_shape *ins, const char *param, ft_error *err)
{
    (void)ins, (void)param, (void)err;
    l->out = l->in;
    return 0;
}

static int batchnorm_weight_shape(const ft_layer *l, uint64_t shape[4])
{
    shape[0] = (uint64_t)l->in.dim[0];
    return 1;
}

static void batchnorm_forward(const ft_layer *l, const ft_fwd_args *a)
{
    size_t C = (size_t)l->in.dim[0], inner = ft_shape_size(l->in) / C;
    for (size_t p = 0; p < (size_t)a->batch * C; p++) {
        const float *x = a->in + p * inner;
        float *y = a->out + p * inner, w = a->w[p % C], b = a->b[p % C];
        for (size_t i = 0; i < inner; i++)
            y[i] = x[i] * w + b;
    }
}

const ft_layer_kind ft_layer_batchnorm = {
    .setup = batchnorm_setup, .weight_shape = batchnorm_weight_shape, .forward = batchnorm_forward,
};
