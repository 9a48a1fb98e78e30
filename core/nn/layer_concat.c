/* Concatenation of 2..FT_MAX_INPUTS inputs along one per-sample axis
 * (default 0, the channels); every other dim must agree. Forward only for
 * now (not trainable). */
#include <string.h>

#include "core/nn/layer_fields.h"

static int concat_parse(ft_layer *l, const ft_layer_fields *f)
{
    return ft_field_int(f, "axis", -FT_SHAPE_MAX_RANK, FT_SHAPE_MAX_RANK - 1, false, &l->axis);
}

static void concat_emit(const ft_layer *l, json_t *o) { json_object_set_new(o, "axis", json_integer(l->axis)); }

static int concat_setup(ft_layer *l, const ft_shape *ins, const char *param, ft_error *err)
{
    if (l->axis < 0)
        l->axis += l->in.rank;
    if (l->axis < 0 || l->axis >= l->in.rank)
        return ft_fail(err, FT_EINVAL, param, "concat layer '%s': axis is outside the input's %d dims", l->name,
                       l->in.rank);
    l->out = ins[0];
    for (int j = 1; j < l->ninputs; j++) {
        bool ok = ins[j].rank == l->in.rank;
        for (int d = 0; ok && d < l->in.rank; d++)
            ok = d == l->axis || ins[j].dim[d] == l->in.dim[d];
        if (!ok)
            return ft_fail(err, FT_EINVAL, param,
                           "concat layer '%s': input %d's shape differs from input 0's outside axis %d", l->name, j,
                           l->axis);
        l->out.dim[l->axis] += ins[j].dim[l->axis];
    }
    return 0;
}

/* Per sample and per index of the dims before the axis, each input's block
 * (its axis dim times the inner dims) in turn. */
static void concat_forward(const ft_layer *l, const ft_fwd_args *a)
{
    size_t outer = (size_t)a->batch, inner = 1;
    for (int d = 0; d < l->out.rank; d++) {
        if (d < l->axis)
            outer *= (size_t)l->out.dim[d];
        else if (d > l->axis)
            inner *= (size_t)l->out.dim[d];
    }
    float *y = a->out;
    for (size_t o = 0; o < outer; o++)
        for (int j = 0; j < l->ninputs; j++) {
            size_t block = (size_t)a->in_shapes[j].dim[l->axis] * inner;
            memcpy(y, a->ins[j] + o * block, sizeof(float) * block);
            y += block;
        }
}

static const char *const concat_keys[] = {"axis", NULL};

const ft_layer_kind ft_layer_concat = {
    .keys = concat_keys, .min_inputs = 2, .max_inputs = FT_MAX_INPUTS, .parse = concat_parse,
    .emit = concat_emit, .setup = concat_setup, .forward = concat_forward,
};
