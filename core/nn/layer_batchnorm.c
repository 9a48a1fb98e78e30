/* Batch normalisation in inference form: a per-channel affine map
 * y = x * weight[c] + bias[c] over axis 0 of the per-sample shape (the ONNX
 * importer folds scale, B, mean, var and epsilon into weight and bias).
 * Its statistics stay frozen (there are none left to update: the Keras
 * advice of BatchNorm in inference mode for fine-tuning); in the trainable
 * part its folded weight and bias train as a per-channel scale and shift,
 * and the input gradient is the output's times the scale. */
#include <string.h>

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

static void batchnorm_backward(const ft_layer *l, const ft_bwd_args *a)
{
    size_t C = (size_t)l->in.dim[0], inner = ft_shape_size(l->in) / C;
    if (a->dw) {
        memset(a->dw, 0, sizeof(float) * C);
        memset(a->db, 0, sizeof(float) * C);
    }
    for (size_t p = 0; p < (size_t)a->batch * C; p++) {
        const float *x = a->in + p * inner, *dy = a->dout + p * inner;
        float w = a->w[p % C];
        if (a->dw) {
            float sw = 0;
            for (size_t i = 0; i < inner; i++)
                sw += dy[i] * x[i];
            a->dw[p % C] += sw;
            a->db[p % C] += ft_vec_sum(dy, inner);
        }
        if (a->din)
            for (size_t i = 0; i < inner; i++)
                a->din[p * inner + i] = dy[i] * w;
    }
}

const ft_layer_kind ft_layer_batchnorm = {
    .setup = batchnorm_setup, .weight_shape = batchnorm_weight_shape, .forward = batchnorm_forward,
    .backward = batchnorm_backward,
};
