/* Layers that only move or mask values: flatten and dropout. */
#include <limits.h>
#include <string.h>

#include "core/nn/layer.h"

static size_t no_scratch(const ft_layer *l, int batch)
{
    (void)l, (void)batch;
    return 0;
}

static int flatten_setup(ft_layer *l, const char *param, ft_error *err)
{
    size_t n;
    if (ft_shape_elements(l->in, &n) != 0 || n > INT_MAX)
        return ft_fail(err, FT_EINVAL, param, "flatten layer '%s' has more inputs than a shape can hold", l->name);
    l->out = ft_shape1((int)n);
    return 0;
}

static void copy_forward(const ft_layer *l, const ft_fwd_args *a)
{
    memcpy(a->out, a->in, sizeof(float) * (size_t)a->batch * ft_shape_size(l->in));
}

static void copy_backward(const ft_layer *l, const ft_bwd_args *a)
{
    if (a->din)
        memcpy(a->din, a->dout, sizeof(float) * (size_t)a->batch * ft_shape_size(l->in));
}

static int dropout_setup(ft_layer *l, const char *param, ft_error *err)
{
    if (!(l->rate >= 0 && l->rate < 1))
        return ft_fail(err, FT_EINVAL, param, "dropout rate must be in [0, 1), got %g", l->rate);
    l->out = l->in;
    return 0;
}

/* The mask (0 or 1/(1-rate) per element) is kept for backward. */
static size_t dropout_scratch(const ft_layer *l, int batch)
{
    return (size_t)batch * ft_shape_size(l->in);
}

static void dropout_forward(const ft_layer *l, const ft_fwd_args *a)
{
    size_t n = (size_t)a->batch * ft_shape_size(l->in);
    if (!a->training || l->rate == 0) {
        memcpy(a->out, a->in, sizeof(float) * n);
        return;
    }
    /* Inverted dropout: scale kept units so the expected activation is unchanged. */
    float keep = 1.0f / (1.0f - l->rate);
    for (size_t i = 0; i < n; i++) {
        a->scratch[i] = ft_rng_uniform(a->rng) >= l->rate ? keep : 0.0f;
        a->out[i] = a->in[i] * a->scratch[i];
    }
}

static void dropout_backward(const ft_layer *l, const ft_bwd_args *a)
{
    if (!a->din)
        return;
    size_t n = (size_t)a->batch * ft_shape_size(l->in);
    if (!a->training || l->rate == 0) {
        memcpy(a->din, a->dout, sizeof(float) * n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        a->din[i] = a->dout[i] * a->scratch[i];
}

const ft_layer_ops ft_flatten_ops = {flatten_setup, no_scratch, copy_forward, copy_backward};
const ft_layer_ops ft_dropout_ops = {dropout_setup, dropout_scratch, dropout_forward, dropout_backward};
