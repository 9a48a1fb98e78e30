/* Dropout: inverted dropout in training (kept units scaled by 1/(1-rate)),
 * the identity otherwise. */
#include <string.h>

#include "core/nn/layer_fields.h"

static int dropout_parse(ft_layer *l, const ft_layer_fields *f)
{
    double rate = 0.5;
    if (ft_field_number(f, "rate", 0, 1, &rate) != 0)
        return -1;
    l->rate = (float)rate;
    return 0;
}

static void dropout_emit(const ft_layer *l, json_t *o) { json_object_set_new(o, "rate", json_real(l->rate)); }

static int dropout_setup(ft_layer *l, const ft_shape *ins, const char *param, ft_error *err)
{
    (void)ins;
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

static bool dropout_random(const ft_layer *l) { return l->rate > 0; }

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

static const char *const dropout_keys[] = {"rate", NULL};

const ft_layer_kind ft_layer_dropout = {
    .keys = dropout_keys, .parse = dropout_parse, .emit = dropout_emit, .setup = dropout_setup,
    .scratch_floats = dropout_scratch, .random = dropout_random, .forward = dropout_forward,
    .backward = dropout_backward,
};
