/* Depthwise convolution (groups == C: each output channel reads one input
 * channel) straight from the input: for each kernel tap, each output row
 * gets w times the matching input row, over the columns where that row
 * exists. With stride 1 the inner loop is a contiguous axpy that
 * vectorises; im2col + sgemm would multiply K = kh*kw-long rows, far too
 * short for sgemm to pay. */
#include "core/nn/conv.h"

/* out[ox] += w * in[base + ox * s] for ox in [lo, hi) (base + lo * s >= 0). */
FT_HOT static void row_axpy(float *restrict out, const float *restrict in, ptrdiff_t base, float w, int lo,
                            int hi, int s)
{
    if (s == 1)
        for (int ox = lo; ox < hi; ox++)
            out[ox] += w * in[base + ox];
    else
        for (int ox = lo; ox < hi; ox++)
            out[ox] += w * in[base + (ptrdiff_t)ox * s];
}

void ft_conv_depthwise(const ft_layer *l, const float *x, const float *w, const float *bias, float *out)
{
    int C = l->in.dim[0], H = l->in.dim[1], W = l->in.dim[2], OH = l->out.dim[1], OW = l->out.dim[2];
    int mult = l->filters / C, kk = l->kh * l->kw;
    for (int f = 0; f < l->filters; f++) {
        const float *plane = x + (size_t)(f / mult) * (size_t)H * (size_t)W;
        float *o = out + (size_t)f * (size_t)OH * (size_t)OW;
        for (size_t p = 0; p < (size_t)OH * (size_t)OW; p++)
            o[p] = bias[f];
        for (int kj = 0; kj < l->kw; kj++) {
            /* output columns whose input column ox*sw - pw + kj*dw is inside [0, W) */
            int oj = kj * l->dw - l->pw, lo = 0, hi = OW;
            while (lo < OW && lo * l->sw + oj < 0)
                lo++;
            while (hi > lo && (hi - 1) * l->sw + oj >= W)
                hi--;
            for (int ki = 0; ki < l->kh; ki++) {
                float wv = w[(size_t)f * (size_t)kk + (size_t)(ki * l->kw + kj)];
                for (int oy = 0; oy < OH; oy++) {
                    int iy = oy * l->sh - l->ph + ki * l->dh;
                    if (iy >= 0 && iy < H)
                        row_axpy(o + (size_t)oy * (size_t)OW, plane, (ptrdiff_t)iy * W + oj, wv, lo, hi, l->sw);
                }
            }
        }
    }
}
