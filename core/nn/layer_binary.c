/* add and mul: two inputs combined element by element with numpy
 * broadcasting on the per-sample shapes (right-aligned; a dim of 1 stretches,
 * e.g. [C, H, W] * [C, 1, 1]), then an optional activation (add + relu of a
 * residual block). Forward only for now (not trainable). */
#include <stdio.h>

#include "core/nn/layer.h"

/* A shape right-aligned to FT_SHAPE_MAX_RANK dims, padded with leading 1s. */
static void align(ft_shape s, int d[FT_SHAPE_MAX_RANK])
{
    int lead = FT_SHAPE_MAX_RANK - s.rank;
    for (int i = 0; i < FT_SHAPE_MAX_RANK; i++)
        d[i] = i < lead ? 1 : s.dim[i - lead];
}

static int shape_text(ft_shape s, char *buf, size_t n)
{
    int at = snprintf(buf, n, "[");
    for (int i = 0; i < s.rank; i++)
        at += snprintf(buf + at, n - (size_t)at, "%s%d", i ? ", " : "", s.dim[i]);
    return snprintf(buf + at, n - (size_t)at, "]");
}

static int binary_setup(ft_layer *l, const ft_shape *ins, const char *param, ft_error *err)
{
    int a[FT_SHAPE_MAX_RANK], b[FT_SHAPE_MAX_RANK];
    align(ins[0], a), align(ins[1], b);
    int rank = ins[0].rank > ins[1].rank ? ins[0].rank : ins[1].rank;
    l->out.rank = rank;
    for (int i = 0; i < FT_SHAPE_MAX_RANK; i++) {
        if (a[i] != b[i] && a[i] != 1 && b[i] != 1) {
            char sa[48], sb[48];
            shape_text(ins[0], sa, sizeof sa), shape_text(ins[1], sb, sizeof sb);
            return ft_fail(err, FT_EINVAL, param, "%s layer '%s': input shapes %s and %s do not broadcast",
                           ft_layer_type_name(l->type), l->name, sa, sb);
        }
        if (i >= FT_SHAPE_MAX_RANK - rank)
            l->out.dim[i - (FT_SHAPE_MAX_RANK - rank)] = a[i] > b[i] ? a[i] : b[i];
    }
    if (ft_activation_rowwise(l->act))
        return ft_fail(err, FT_EINVAL, param, "%s layer '%s' cannot use %s", ft_layer_type_name(l->type), l->name,
                       ft_activation_name(l->act));
    return 0;
}

/* The pre-activation, kept by an activation that needs it. */
static size_t binary_scratch(const ft_layer *l, int batch)
{
    return ft_act_needs_input(l->act) ? (size_t)batch * ft_shape_size(l->out) : 0;
}

/* y[i] = a[i*sa] op b[i*sb] over one innermost row; strides 0 or 1, so the
 * common cases (same shape, one side a scalar) are plain loops that vectorise. */
FT_HOT static void row(float *restrict y, const float *restrict a, const float *restrict b, size_t n, int sa,
                       int sb, bool mul)
{
    if (sa && sb) {
        for (size_t i = 0; i < n; i++)
            y[i] = mul ? a[i] * b[i] : a[i] + b[i];
    } else if (sa) {
        for (size_t i = 0; i < n; i++)
            y[i] = mul ? a[i] * b[0] : a[i] + b[0];
    } else if (sb) {
        for (size_t i = 0; i < n; i++)
            y[i] = mul ? a[0] * b[i] : a[0] + b[i];
    } else {
        for (size_t i = 0; i < n; i++)
            y[i] = mul ? a[0] * b[0] : a[0] + b[0];
    }
}

static void binary_forward(const ft_layer *l, const ft_fwd_args *a)
{
    int da[FT_SHAPE_MAX_RANK], db[FT_SHAPE_MAX_RANK], dy[FT_SHAPE_MAX_RANK];
    align(a->in_shapes[0], da), align(a->in_shapes[1], db), align(l->out, dy);
    /* Strides of each input over the aligned output dims: 0 where it broadcasts. */
    size_t sa[FT_SHAPE_MAX_RANK], sb[FT_SHAPE_MAX_RANK], na = 1, nb = 1;
    for (int i = FT_SHAPE_MAX_RANK - 1; i >= 0; i--) {
        sa[i] = da[i] == 1 ? 0 : na, na *= (size_t)da[i];
        sb[i] = db[i] == 1 ? 0 : nb, nb *= (size_t)db[i];
    }
    size_t ny = ft_shape_size(l->out);
    bool mul = l->type == FT_LAYER_MUL;
    for (int s = 0; s < a->batch; s++) {
        const float *xa = a->ins[0] + (size_t)s * na, *xb = a->ins[1] + (size_t)s * nb;
        float *y = a->out + (size_t)s * ny;
        for (int i = 0; i < dy[0]; i++)
            for (int j = 0; j < dy[1]; j++, y += dy[2])
                row(y, xa + (size_t)i * sa[0] + (size_t)j * sa[1], xb + (size_t)i * sb[0] + (size_t)j * sb[1],
                    (size_t)dy[2], sa[2] != 0, sb[2] != 0, mul);
    }
    ft_act_forward(a->logits ? FT_ACT_LINEAR : l->act, l->act_param, a->out, a->scratch, (size_t)a->batch, ny);
}

const ft_layer_kind ft_layer_add = {
    .activation = true, .min_inputs = 2, .max_inputs = 2, .setup = binary_setup,
    .scratch_floats = binary_scratch, .forward = binary_forward,
};

const ft_layer_kind ft_layer_mul = {
    .activation = true, .min_inputs = 2, .max_inputs = 2, .setup = binary_setup,
    .scratch_floats = binary_scratch, .forward = binary_forward,
};
