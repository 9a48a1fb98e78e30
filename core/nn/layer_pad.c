/* Constant padding (ONNX Pad, mode constant): `pads` lists the per-sample
 * begins, then the ends (two per input dim, default all 0, none negative),
 * filled with `value`. Forward only for now (not trainable). */
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

static void pad_forward(const ft_layer *l, const ft_fwd_args *a)
{
    /* Dims right-aligned to 3 (leading dims of 1, unpadded). */
    int r = l->in.rank, lead = FT_SHAPE_MAX_RANK - r, in[3], out[3], begin[3];
    for (int d = 0; d < 3; d++) {
        in[d] = d < lead ? 1 : l->in.dim[d - lead];
        out[d] = d < lead ? 1 : l->out.dim[d - lead];
        begin[d] = d < lead ? 0 : l->pads[d - lead];
    }
    size_t nin = ft_shape_size(l->in), nout = ft_shape_size(l->out);
    for (int b = 0; b < a->batch; b++) {
        float *y = a->out + (size_t)b * nout;
        const float *x = a->in + (size_t)b * nin;
        for (size_t i = 0; i < nout; i++)
            y[i] = l->value;
        for (int i = 0; i < in[0]; i++)
            for (int j = 0; j < in[1]; j++)
                memcpy(y + ((size_t)(i + begin[0]) * (size_t)out[1] + (size_t)(j + begin[1])) * (size_t)out[2] +
                           (size_t)begin[2],
                       x + ((size_t)i * (size_t)in[1] + (size_t)j) * (size_t)in[2], sizeof(float) * (size_t)in[2]);
    }
}

static const char *const pad_keys[] = {"pads", "value", NULL};

const ft_layer_kind ft_layer_pad = {
    .keys = pad_keys, .parse = pad_parse, .emit = pad_emit, .setup = pad_setup, .forward = pad_forward,
};
