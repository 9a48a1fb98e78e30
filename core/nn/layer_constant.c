/* A constant tensor (ONNX Constant, or an initializer used as data): the
 * same `shape` values for every sample, held as the layer's weight (no
 * bias). It reads no input and never trains. */
#include <string.h>

#include "core/nn/layer_fields.h"

static int constant_parse(ft_layer *l, const ft_layer_fields *f)
{
    return ft_field_shape(f, "shape", false, &l->shape);
}

static void constant_emit(const ft_layer *l, json_t *o) { json_object_set_new(o, "shape", ft_shape_to_json(l->shape)); }

static int constant_setup(ft_layer *l, const ft_shape *ins, const char *param, ft_error *err)
{
    (void)ins, (void)param, (void)err;
    l->out = l->shape;
    return 0;
}

static int constant_weight_shape(const ft_layer *l, uint64_t shape[4])
{
    for (int d = 0; d < l->shape.rank; d++)
        shape[d] = (uint64_t)l->shape.dim[d];
    return l->shape.rank;
}

static void constant_forward(const ft_layer *l, const ft_fwd_args *a)
{
    size_t n = ft_shape_size(l->shape);
    for (int b = 0; b < a->batch; b++)
        memcpy(a->out + (size_t)b * n, a->w, sizeof(float) * n);
}

static const char *const constant_keys[] = {"shape", NULL};

const ft_layer_kind ft_layer_constant = {
    .keys = constant_keys, .source = true, .no_bias = true, .parse = constant_parse, .emit = constant_emit,
    .setup = constant_setup, .weight_shape = constant_weight_shape, .forward = constant_forward,
};
