/* 2-D convolution as im2col + one sgemm over the whole batch.
 *
 * The batch's patches are unrolled into col[C*kh*kw, B*OH*OW] (column index =
 * (sample, output pixel)), so a single sgemm Z[F, B*OH*OW] = W[F, C*kh*kw] . col
 * computes every output; Z is then scattered into NCHW with bias and
 * activation. Backward reuses col for dW and the same buffer for dcol. */
#include <cblas.h>
#include <stddef.h>
#include <string.h>

#include "core/layer.h"

static int conv_setup(ft_layer *l, const char *param, ft_error *err)
{
    if (l->in.rank != 3)
        return ft_fail(err, FT_EINVAL, param, "conv2d layer '%s' needs a [C, H, W] input", l->name);
    if (l->act == FT_ACT_SOFTMAX)
        return ft_fail(err, FT_EINVAL, param, "conv2d layer '%s' cannot use softmax", l->name);
    int oh = ft_window_out(l->in.dim[1], l->kh, l->sh, l->ph);
    int ow = ft_window_out(l->in.dim[2], l->kw, l->sw, l->pw);
    if (oh <= 0 || ow <= 0)
        return ft_fail(err, FT_EINVAL, param,
                       "conv2d layer '%s': a %dx%d kernel does not fit a %dx%d input with padding %d,%d",
                       l->name, l->kh, l->kw, l->in.dim[1], l->in.dim[2], l->ph, l->pw);
    l->out = ft_shape3(l->filters, oh, ow);
    l->nweights = (size_t)l->filters * (size_t)l->in.dim[0] * (size_t)l->kh * (size_t)l->kw;
    l->nbias = (size_t)l->filters;
    return 0;
}

static size_t patch_size(const ft_layer *l) { return (size_t)l->in.dim[0] * (size_t)l->kh * (size_t)l->kw; }

static size_t conv_scratch(const ft_layer *l, int batch)
{
    size_t cols = (size_t)batch * (size_t)l->out.dim[1] * (size_t)l->out.dim[2];
    return (patch_size(l) + (size_t)l->filters) * cols;
}

/* col[(c, ki, kj)][(b, oy, ox)] = x[b, c, oy*sh - ph + ki, ox*sw - pw + kj] (0 outside). */
static void im2col(const ft_layer *l, const float *x, int batch, float *col)
{
    int C = l->in.dim[0], H = l->in.dim[1], W = l->in.dim[2];
    int OH = l->out.dim[1], OW = l->out.dim[2];
    size_t ohw = (size_t)OH * (size_t)OW, ncols = (size_t)batch * ohw;
    for (int c = 0; c < C; c++)
        for (int ki = 0; ki < l->kh; ki++)
            for (int kj = 0; kj < l->kw; kj++) {
                float *row = col + ((size_t)(c * l->kh + ki) * (size_t)l->kw + (size_t)kj) * ncols;
                /* Output columns whose input column lands inside [0, W). */
                int lo = 0, hi = OW;
                while (lo < OW && lo * l->sw - l->pw + kj < 0)
                    lo++;
                while (hi > lo && (hi - 1) * l->sw - l->pw + kj >= W)
                    hi--;
                for (int b = 0; b < batch; b++) {
                    const float *plane = x + ((size_t)b * (size_t)C + (size_t)c) * (size_t)H * (size_t)W;
                    for (int oy = 0; oy < OH; oy++) {
                        float *dst = row + (size_t)b * ohw + (size_t)oy * (size_t)OW;
                        int iy = oy * l->sh - l->ph + ki;
                        if (iy < 0 || iy >= H) {
                            memset(dst, 0, sizeof(float) * (size_t)OW);
                            continue;
                        }
                        /* input index of output column ox: base + ox * sw (>= 0 for ox >= lo) */
                        ptrdiff_t base = (ptrdiff_t)iy * W - l->pw + kj;
                        for (int ox = 0; ox < lo; ox++)
                            dst[ox] = 0;
                        if (l->sw == 1 && hi > lo)
                            memcpy(dst + lo, plane + base + lo, sizeof(float) * (size_t)(hi - lo));
                        else
                            for (int ox = lo; ox < hi; ox++)
                                dst[ox] = plane[base + (ptrdiff_t)ox * l->sw];
                        for (int ox = hi; ox < OW; ox++)
                            dst[ox] = 0;
                    }
                }
            }
}

/* The adjoint of im2col: dx[b, c, iy, ix] += dcol[(c, ki, kj)][(b, oy, ox)]. */
static void col2im(const ft_layer *l, const float *col, int batch, float *dx)
{
    int C = l->in.dim[0], H = l->in.dim[1], W = l->in.dim[2];
    int OH = l->out.dim[1], OW = l->out.dim[2];
    size_t ohw = (size_t)OH * (size_t)OW, ncols = (size_t)batch * ohw;
    memset(dx, 0, sizeof(float) * (size_t)batch * (size_t)C * (size_t)H * (size_t)W);
    for (int c = 0; c < C; c++)
        for (int ki = 0; ki < l->kh; ki++)
            for (int kj = 0; kj < l->kw; kj++) {
                const float *row = col + ((size_t)(c * l->kh + ki) * (size_t)l->kw + (size_t)kj) * ncols;
                int lo = 0, hi = OW;
                while (lo < OW && lo * l->sw - l->pw + kj < 0)
                    lo++;
                while (hi > lo && (hi - 1) * l->sw - l->pw + kj >= W)
                    hi--;
                for (int b = 0; b < batch; b++) {
                    float *plane = dx + ((size_t)b * (size_t)C + (size_t)c) * (size_t)H * (size_t)W;
                    for (int oy = 0; oy < OH; oy++) {
                        int iy = oy * l->sh - l->ph + ki;
                        if (iy < 0 || iy >= H)
                            continue;
                        const float *src = row + (size_t)b * ohw + (size_t)oy * (size_t)OW;
                        ptrdiff_t base = (ptrdiff_t)iy * W - l->pw + kj;
                        if (l->sw == 1 && hi > lo)
                            ft_vec_add(plane + base + lo, src + lo, (size_t)(hi - lo));
                        else
                            for (int ox = lo; ox < hi; ox++)
                                plane[base + (ptrdiff_t)ox * l->sw] += src[ox];
                    }
                }
            }
}

static void conv_forward(const ft_layer *l, const ft_fwd_args *a)
{
    int F = l->filters;
    size_t ohw = (size_t)l->out.dim[1] * (size_t)l->out.dim[2], ncols = (size_t)a->batch * ohw;
    size_t k = patch_size(l);
    float *col = a->scratch, *z = col + k * ncols;
    im2col(l, a->in, a->batch, col);
    /* Z[F, B*OHW] = W[F, C*kh*kw] . col[C*kh*kw, B*OHW] */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, F, (int)ncols, (int)k, 1.0f, a->w,
                (int)k, col, (int)ncols, 0.0f, z, (int)ncols);
    for (int b = 0; b < a->batch; b++)
        for (int f = 0; f < F; f++) {
            const float *src = z + (size_t)f * ncols + (size_t)b * ohw;
            float *dst = a->out + ((size_t)b * (size_t)F + (size_t)f) * ohw, bias = a->b[f];
            for (size_t p = 0; p < ohw; p++)
                dst[p] = src[p] + bias;
        }
    if (!a->logits)
        ft_act_forward(l->act, l->negative_slope, a->out, (size_t)a->batch, (size_t)F * ohw);
}

static void conv_backward(const ft_layer *l, const ft_bwd_args *a)
{
    int F = l->filters;
    size_t ohw = (size_t)l->out.dim[1] * (size_t)l->out.dim[2], ncols = (size_t)a->batch * ohw;
    size_t k = patch_size(l);
    float *col = a->scratch, *dz = col + k * ncols;
    if (!a->logits)
        ft_act_backward(l->act, l->negative_slope, a->out, a->dout, (size_t)a->batch,
                        (size_t)F * ohw);
    /* Gather dout (NCHW) into dZ[F, B*OHW], the layout of the forward sgemm,
     * summing each filter's gradients for db on the way. */
    if (a->db)
        memset(a->db, 0, sizeof(float) * (size_t)F);
    for (int b = 0; b < a->batch; b++)
        for (int f = 0; f < F; f++) {
            float s = ft_copy_sum(dz + (size_t)f * ncols + (size_t)b * ohw,
                                  a->dout + ((size_t)b * (size_t)F + (size_t)f) * ohw, ohw);
            if (a->db)
                a->db[f] += s;
        }
    if (a->dw)
        /* dW[F, K] = dZ[F, N] . col[K, N]^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, F, (int)k, (int)ncols, 1.0f, dz,
                    (int)ncols, col, (int)ncols, 0.0f, a->dw, (int)k);
    if (a->din) {
        /* dcol[K, N] = W[F, K]^T . dZ[F, N], written over col (no longer needed). */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)ncols, F, 1.0f, a->w,
                    (int)k, dz, (int)ncols, 0.0f, col, (int)ncols);
        col2im(l, col, a->batch, a->din);
    }
}

const ft_layer_ops ft_conv2d_ops = {conv_setup, conv_scratch, conv_forward, conv_backward};
