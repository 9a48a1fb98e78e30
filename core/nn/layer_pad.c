/* Constant padding (ONNX Pad, mode constant): `pads` lists the per-sample
 * begins, then the ends (two per input dim, default all 0, none negative),
 * filled with `value`. Backward crops the output's gradient back to the
 * input. */
#include <stdio.h>
#include <string.h>

#include "core/nn/layer_fields.h"

#define MAX_PAD 65536

static int pad_parse(ft_layer *l, const ft_layer_fields *f)
{
    json_t *v = json_object_get(f->obj, "pads");
    double value = 0;
    if (ft_field_number(f, "value", -3.4e38, 3.4e38, &value) != 0)
        return -1;
    l->value = (float)value;
    if (!v)
        return 0;
    size_t n = json_array_size(v);
    bool ok = json_is_array(v) && n >= 2 && n <= 2 * FT_SHAPE_MAX_RANK && n % 2 == 0;
    for (size_t i = 0; ok && i < n; i++) {
        json_t *e = json_array_get(v, i);
        ok = json_is_integer(e) && json_integer_value(e) >= 0 && json_integer_value(e) <= MAX_PAD;
        l->pads[i] = ok ? (int)json_integer_value(e) : 0;
    }
    if (!ok) {
        char what[96];
        snprintf(what, sizeof what, " (begins, then ends: 2 per dim) between 0 and %d", MAX_PAD);
        return ft_field_fail(f, "pads", "%s must be an array of integers%s", what);
    }
    l->npads = (int)n;
    return 0;
}

static void pad_emit(const ft_layer *l, json_t *o)
{
    json_t *a = json_array();
    for (int i = 0; i < 2 * l->in.rank; i++)
        json_array_append_new(a, json_integer(l->pads[i]));
    json_object_set_new(o, "pads", a);
    json_object_set_new(o, "value", json_real(l->value));
}

static int pad_setup(ft_layer *l, const ft_shape *ins, const char *param, ft_error *err)
{
    (void)ins;
    if (l->npads && l->npads != 2 * l->in.rank)
        return ft_fail(err, FT_EINVAL, param, "pad layer '%s': pads needs %d values for a %d-dim input, got %d",
                       l->name, 2 * l->in.rank, l->in.rank, l->npads);
    l->npads = 2 * l->in.rank;
    l->out = l->in;
    for (int d = 0; d < l->in.rank; d++)
        if ((l->out.dim[d] += l->pads[d] + l->pads[l->in.rank + d]) > (1 << 28))
            return ft_fail(err, FT_EINVAL, param, "pad layer '%s': the output is too large", l->name);
    return 0;
}

/* The dims right-aligned to 3 (leading dims of 1, unpadded): in, out, and
 * where the input starts in the output. */
typedef struct {
    int in[3], out[3], begin[3];
} pad_dims;

static pad_dims dims_of(const ft_layer *l)
{
    pad_dims g;
    int lead = FT_SHAPE_MAX_RANK - l->in.rank;
    for (int d = 0; d < 3; d++) {
        g.in[d] = d < lead ? 1 : l->in.dim[d - lead];
        g.out[d] = d < lead ? 1 : l->out.dim[d - lead];
        g.begin[d] = d < lead ? 0 : l->pads[d - lead];
    }
    return g;
}

/* Where input row (i, j) (in[2] values) starts in the output. */
static size_t out_at(const pad_dims *g, int i, int j)
{
    return ((size_t)(i + g->begin[0]) * (size_t)g->out[1] + (size_t)(j + g->begin[1])) * (size_t)g->out[2] +
           (size_t)g->begin[2];
}

static void pad_forward(const ft_layer *l, const ft_fwd_args *a)
{
    pad_dims g = dims_of(l);
    size_t nin = ft_shape_size(l->in), nout = ft_shape_size(l->out), row = sizeof(float) * (size_t)g.in[2];
    for (int b = 0; b < a->batch; b++) {
        float *y = a->out + (size_t)b * nout;
        const float *x = a->in + (size_t)b * nin;
        for (size_t i = 0; i < nout; i++)
            y[i] = l->value;
        for (int i = 0; i < g.in[0]; i++)
            for (int j = 0; j < g.in[1]; j++, x += g.in[2])
                memcpy(y + out_at(&g, i, j), x, row);
    }
}

static void pad_backward(const ft_layer *l, const ft_bwd_args *a)
{
    if (!a->din)
        return;
    pad_dims g = dims_of(l);
    size_t nout = ft_shape_size(l->out), row = sizeof(float) * (size_t)g.in[2];
    float *dx = a->din;
    for (int b = 0; b < a->batch; b++) {
        const float *dy = a->dout + (size_t)b * nout;
        for (int i = 0; i < g.in[0]; i++)
            for (int j = 0; j < g.in[1]; j++, dx += g.in[2])
                memcpy(dx, dy + out_at(&g, i, j), row);
    }
}

static const char *const pad_keys[] = {"pads", "value", NULL};

const ft_layer_kind ft_layer_pad = {
    .keys = pad_keys, .parse = pad_parse, .emit = pad_emit, .setup = pad_setup, .forward = pad_forward,
    .backward = pad_backward,
};
