/* Flatten: [C, H, W] (or any shape) -> [C*H*W], a plain copy in NCHW order. */
#include <limits.h>
#include <string.h>

#include "core/nn/layer.h"

static int flatten_setup(ft_layer *l, const ft_shape *ins, const char *param, ft_error *err)
{
    (void)ins;
    size_t n;
    if (ft_shape_elements(l->in, &n) != 0 || n > INT_MAX)
        return ft_fail(err, FT_EINVAL, param, "flatten layer '%s' has more inputs than a shape can hold", l->name);
    l->out = ft_shape1((int)n);
    return 0;
}

void ft_layer_copy_forward(const ft_layer *l, const ft_fwd_args *a)
{
    memcpy(a->out, a->in, sizeof(float) * (size_t)a->batch * ft_shape_size(l->in));
}

void ft_layer_copy_backward(const ft_layer *l, const ft_bwd_args *a)
{
    if (a->din)
        memcpy(a->din, a->dout, sizeof(float) * (size_t)a->batch * ft_shape_size(l->in));
}

const ft_layer_kind ft_layer_flatten = {
    .setup = flatten_setup, .forward = ft_layer_copy_forward, .backward = ft_layer_copy_backward,
};
