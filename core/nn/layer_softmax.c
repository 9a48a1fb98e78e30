/* Softmax along one per-sample axis (ONNX opset >= 13; default the last),
 * or with flatten over all dims from the axis on (opset < 13). Forward
 * only for now (not trainable). */
#include <math.h>

#include "core/nn/layer_fields.h"

static int softmax_parse(ft_layer *l, const ft_layer_fields *f)
{
    l->axis = -1;
    return ft_field_int(f, "axis", -FT_SHAPE_MAX_RANK, FT_SHAPE_MAX_RANK - 1, false, &l->axis) ||
                   ft_field_bool(f, "flatten", &l->flatten)
               ? -1
               : 0;
}

static void softmax_emit(const ft_layer *l, json_t *o)
{
    json_object_set_new(o, "axis", json_integer(l->axis));
    if (l->flatten)
        json_object_set_new(o, "flatten", json_true());
}

static int softmax_setup(ft_layer *l, const ft_shape *ins, const char *param, ft_error *err)
{
    (void)ins;
    if (l->axis < 0)
        l->axis += l->in.rank;
    if (l->axis < 0 || l->axis >= l->in.rank)
        return ft_fail(err, FT_EINVAL, param, "softmax layer '%s': axis is outside the input's %d dims",
                       l->name, l->in.rank);
    l->out = l->in;
    return 0;
}

/* Rows of n values `inner` apart: per sample, outer rows of n x inner. */
static void softmax_forward(const ft_layer *l, const ft_fwd_args *a)
{
    size_t outer = 1, n = 1, inner = 1;
    for (int d = 0; d < l->in.rank; d++) {
        size_t v = (size_t)l->in.dim[d];
        if (d < l->axis)
            outer *= v;
        else if (d == l->axis || l->flatten)
            n *= v;
        else
            inner *= v;
    }
    outer *= (size_t)a->batch;
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
            const float *x = a->in + o * n * inner + i;
            float *y = a->out + o * n * inner + i, mx = x[0], sum = 0;
            for (size_t j = 1; j < n; j++)
                mx = x[j * inner] > mx ? x[j * inner] : mx;
            for (size_t j = 0; j < n; j++)
                sum += (y[j * inner] = expf(x[j * inner] - mx));
            for (size_t j = 0; j < n; j++)
                y[j * inner] /= sum;
        }
}

static const char *const softmax_keys[] = {"axis", "flatten", NULL};

const ft_layer_kind ft_layer_softmax = {
    .keys = softmax_keys, .parse = softmax_parse, .emit = softmax_emit, .setup = softmax_setup,
    .forward = softmax_forward,
};
