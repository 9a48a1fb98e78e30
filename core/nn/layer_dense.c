/* Dense (fully connected) layer: y = act(x W^T + b), W [units, in]. The
 * scratch holds the pre-activation [B, units], only for an activation that
 * needs its input for backward (none otherwise). */
#include <cblas.h>
#include <string.h>

#include "core/nn/layer_fields.h"

#define MAX_UNITS (1 << 20)

static int dense_parse(ft_layer *l, const ft_layer_fields *f)
{
    return ft_field_int(f, "units", 1, MAX_UNITS, true, &l->units);
}

static void dense_emit(const ft_layer *l, json_t *o) { json_object_set_new(o, "units", json_integer(l->units)); }

static int dense_setup(ft_layer *l, const ft_shape *ins, const char *param, ft_error *err)
{
    (void)ins;
    if (l->in.rank != 1)
        return ft_fail(err, FT_EINVAL, param,
                       "dense layer '%s' needs a flat input; add a flatten layer before it", l->name);
    if (ft_activation_rowwise(l->act) && l->units < 1)
        return ft_fail(err, FT_EINVAL, param, "softmax needs at least one unit");
    l->out = ft_shape1(l->units);
    return 0;
}

/* PyTorch's nn.Linear weight: [out, in]. */
static int dense_weight_shape(const ft_layer *l, uint64_t shape[4])
{
    shape[0] = (uint64_t)l->units, shape[1] = (uint64_t)l->in.dim[0];
    return 2;
}

static size_t dense_scratch(const ft_layer *l, int batch)
{
    return ft_act_needs_input(l->act) ? (size_t)batch * (size_t)l->units : 0;
}

static void dense_forward(const ft_layer *l, const ft_fwd_args *a)
{
    int in = l->in.dim[0], out = l->units;
    /* y[B, out] = x[B, in] . W[out, in]^T */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, a->batch, out, in, 1.0f, a->in, in, a->w,
                in, 0.0f, a->out, out);
    /* Bias and activation row by row, while the row is in cache. */
    ft_activation act = a->logits ? FT_ACT_LINEAR : l->act;
    for (int r = 0; r < a->batch; r++) {
        float *y = a->out + (size_t)r * (size_t)out;
        ft_vec_add(y, a->b, (size_t)out);
        ft_act_forward(act, l->act_param, y, a->scratch + (size_t)r * (size_t)out, 1, (size_t)out);
    }
}

static void dense_backward(const ft_layer *l, const ft_bwd_args *a)
{
    int in = l->in.dim[0], out = l->units;
    float *dz = a->dout;
    ft_activation act = a->logits ? FT_ACT_LINEAR : l->act;
    if (a->db)
        memset(a->db, 0, sizeof(float) * (size_t)out);
    for (int r = 0; r < a->batch; r++) {
        size_t row = (size_t)r * (size_t)out;
        float *d = dz + row;
        ft_act_backward(act, l->act_param, a->scratch + row, a->out + row, d, 1, (size_t)out);
        if (a->db)
            ft_vec_add(a->db, d, (size_t)out); /* db[out] = column sums of dz */
    }
    if (a->dw)
        /* dW[out, in] = dz[B, out]^T . x[B, in] */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, a->batch, 1.0f, dz, out,
                    a->in, in, 0.0f, a->dw, in);
    if (a->din)
        /* dx[B, in] = dz[B, out] . W[out, in] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, a->batch, in, out, 1.0f, dz, out,
                    a->w, in, 0.0f, a->din, in);
}

static const char *const dense_keys[] = {"units", NULL};

const ft_layer_kind ft_layer_dense = {
    .keys = dense_keys, .activation = true, .parse = dense_parse, .emit = dense_emit, .setup = dense_setup,
    .weight_shape = dense_weight_shape, .scratch_floats = dense_scratch, .forward = dense_forward,
    .backward = dense_backward,
};
