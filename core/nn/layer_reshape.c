/* Reshape to a per-sample `shape` with the same number of values (one size
 * may be -1 in the JSON; the canonical form has it resolved). The data is
 * unchanged (NCHW is row-major), so forward and backward are flatten's copies. */
#include "core/nn/layer_fields.h"

static int reshape_parse(ft_layer *l, const ft_layer_fields *f)
{
    return ft_field_shape(f, "shape", true, &l->shape);
}

static void reshape_emit(const ft_layer *l, json_t *o) { json_object_set_new(o, "shape", ft_shape_to_json(l->shape)); }

static int reshape_setup(ft_layer *l, const ft_shape *ins, const char *param, ft_error *err)
{
    (void)ins;
    size_t n = ft_shape_size(l->in), known = 1;
    int infer = -1;
    for (int d = 0; d < l->shape.rank; d++) {
        if (l->shape.dim[d] == -1)
            infer = d;
        else
            known *= (size_t)l->shape.dim[d];
    }
    if (infer >= 0 && known && n % known == 0)
        l->shape.dim[infer] = (int)(n / known), known = n;
    if (known != n)
        return ft_fail(err, FT_EINVAL, param, "reshape layer '%s': the shape holds %zu values, the input %zu",
                       l->name, known, n);
    l->out = l->shape;
    return 0;
}

static const char *const reshape_keys[] = {"shape", NULL};

const ft_layer_kind ft_layer_reshape = {
    .keys = reshape_keys, .parse = reshape_parse, .emit = reshape_emit, .setup = reshape_setup,
    .forward = ft_layer_copy_forward, .backward = ft_layer_copy_backward,
};
