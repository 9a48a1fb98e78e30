/* A standalone activation over a tensor of any shape, element by element
 * (ONNX Relu, Clip, Sigmoid... that did not fuse into the layer before). */
#include <string.h>

#include "core/nn/layer.h"

static int activation_setup(ft_layer *l, const ft_shape *ins, const char *param, ft_error *err)
{
    (void)ins;
    if (ft_activation_rowwise(l->act))
        return ft_fail(err, FT_EINVAL, param, "activation layer '%s' cannot use %s (use a softmax layer)", l->name,
                       ft_activation_name(l->act));
    l->out = l->in;
    return 0;
}

/* The pre-activation, for an activation that needs it in backward. */
static size_t activation_scratch(const ft_layer *l, int batch)
{
    return ft_act_needs_input(l->act) ? (size_t)batch * ft_shape_size(l->in) : 0;
}

static void activation_forward(const ft_layer *l, const ft_fwd_args *a)
{
    size_t n = ft_shape_size(l->in);
    memcpy(a->out, a->in, sizeof(float) * n * (size_t)a->batch);
    ft_act_forward(a->logits ? FT_ACT_LINEAR : l->act, l->act_param, a->out, a->scratch, (size_t)a->batch, n);
}

static void activation_backward(const ft_layer *l, const ft_bwd_args *a)
{
    size_t n = ft_shape_size(l->in);
    ft_act_backward(a->logits ? FT_ACT_LINEAR : l->act, l->act_param, a->scratch, a->out, a->dout,
                    (size_t)a->batch, n);
    if (a->din)
        memcpy(a->din, a->dout, sizeof(float) * n * (size_t)a->batch);
}

const ft_layer_kind ft_layer_activation = {
    .activation = true, .setup = activation_setup, .scratch_floats = activation_scratch,
    .forward = activation_forward, .backward = activation_backward,
};
