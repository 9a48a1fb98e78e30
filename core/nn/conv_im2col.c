/* conv2d's patch unrolling (im2col) and its adjoint (col2im), with stride,
 * dilation and asymmetric padding. Kernel tap (ki, kj) reads input row
 * oy*sh - ph + ki*dh and column ox*sw - pw + kj*dw; rows and columns outside
 * the input read zeros. */
#include <stdbool.h>
#include <string.h>

#include "core/nn/conv.h"

/* Output columns [*lo, *hi) whose input column ox*sw - pw + oj lands inside
 * [0, W) for the tap's column offset oj = kj*dw; the others read padding. */
static void inside_columns(const ft_layer *l, int oj, int *lo, int *hi)
{
    int W = l->in.dim[2], OW = l->out.dim[2];
    *lo = 0;
    *hi = OW;
    while (*lo < OW && *lo * l->sw - l->pw + oj < 0)
        (*lo)++;
    while (*hi > *lo && (*hi - 1) * l->sw - l->pw + oj >= W)
        (*hi)--;
}

/* Stride 1 with "same" width (OW == W, as with a 3x3 kernel and padding 1):
 * one kernel tap shifts the whole plane by a constant, so the rows
 * [oy0, oy1) whose input row exists are one contiguous run of the plane.
 * Copying that run at once, then zeroing the columns that wrapped around a
 * row edge, replaces OH short copies. */
static bool shifts_planes(const ft_layer *l) { return l->sw == 1 && l->sh == 1 && l->out.dim[2] == l->in.dim[2]; }

/* Output rows [*oy0, *oy1) whose input row oy - ph + oi (oi = ki*dh) lies in [0, H). */
static void inside_rows(const ft_layer *l, int oi, int *oy0, int *oy1)
{
    int H = l->in.dim[1], OH = l->out.dim[1];
    *oy0 = l->ph - oi > 0 ? l->ph - oi : 0;
    *oy1 = H + l->ph - oi < OH ? H + l->ph - oi : OH;
    if (*oy1 < *oy0)
        *oy1 = *oy0;
}

/* One plane-shift row of col for sample plane `plane` (see shifts_planes). */
static void shift_plane(const ft_layer *l, const float *plane, int oi, int oj, float *dst)
{
    int W = l->in.dim[2], OH = l->out.dim[1], OW = l->out.dim[2];
    int lo, hi, oy0, oy1;
    inside_columns(l, oj, &lo, &hi);
    inside_rows(l, oi, &oy0, &oy1);
    ptrdiff_t shift = (ptrdiff_t)(oi - l->ph) * W + (oj - l->pw);
    memset(dst, 0, sizeof(float) * (size_t)oy0 * (size_t)OW);
    /* The run starts at lo of row oy0 and ends at hi of row oy1 - 1, so it
     * never reads outside the plane. */
    if (oy1 > oy0 && hi > lo) {
        size_t from = (size_t)oy0 * (size_t)OW + (size_t)lo;
        size_t to = (size_t)(oy1 - 1) * (size_t)OW + (size_t)hi;
        memcpy(dst + from, plane + (ptrdiff_t)from + shift, sizeof(float) * (to - from));
    }
    for (int oy = oy0; oy < oy1; oy++) {
        for (int ox = 0; ox < lo; ox++)
            dst[(size_t)oy * (size_t)OW + (size_t)ox] = 0;
        for (int ox = hi; ox < OW; ox++)
            dst[(size_t)oy * (size_t)OW + (size_t)ox] = 0;
    }
    memset(dst + (size_t)oy1 * (size_t)OW, 0, sizeof(float) * (size_t)(OH - oy1) * (size_t)OW);
}

/* One general row of col for sample plane `plane`. */
static void gather_plane(const ft_layer *l, const float *plane, int oi, int oj, float *dst)
{
    int H = l->in.dim[1], W = l->in.dim[2], OH = l->out.dim[1], OW = l->out.dim[2];
    int lo, hi;
    inside_columns(l, oj, &lo, &hi);
    for (int oy = 0; oy < OH; oy++, dst += OW) {
        int iy = oy * l->sh - l->ph + oi;
        if (iy < 0 || iy >= H) {
            memset(dst, 0, sizeof(float) * (size_t)OW);
            continue;
        }
        /* input index of output column ox: base + ox * sw (>= 0 for ox >= lo) */
        ptrdiff_t base = (ptrdiff_t)iy * W - l->pw + oj;
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

void ft_conv_im2col(const ft_layer *l, const float *x, int batch, float *col)
{
    int C = l->in.dim[0];
    size_t hw = (size_t)l->in.dim[1] * (size_t)l->in.dim[2];
    size_t ohw = (size_t)l->out.dim[1] * (size_t)l->out.dim[2], ncols = (size_t)batch * ohw;
    bool shift = shifts_planes(l);
    for (int c = 0; c < C; c++)
        for (int ki = 0; ki < l->kh; ki++)
            for (int kj = 0; kj < l->kw; kj++) {
                float *row = col + ((size_t)(c * l->kh + ki) * (size_t)l->kw + (size_t)kj) * ncols;
                for (int b = 0; b < batch; b++) {
                    const float *plane = x + ((size_t)b * (size_t)C + (size_t)c) * hw;
                    if (shift)
                        shift_plane(l, plane, ki * l->dh, kj * l->dw, row + (size_t)b * ohw);
                    else
                        gather_plane(l, plane, ki * l->dh, kj * l->dw, row + (size_t)b * ohw);
                }
            }
}

void ft_conv_col2im(const ft_layer *l, float *col, int batch, float *dx)
{
    int C = l->in.dim[0], H = l->in.dim[1], W = l->in.dim[2];
    int OH = l->out.dim[1], OW = l->out.dim[2];
    size_t ohw = (size_t)OH * (size_t)OW, ncols = (size_t)batch * ohw;
    memset(dx, 0, sizeof(float) * (size_t)batch * (size_t)C * (size_t)H * (size_t)W);
    for (int c = 0; c < C; c++)
        for (int ki = 0; ki < l->kh; ki++)
            for (int kj = 0; kj < l->kw; kj++) {
                float *row = col + ((size_t)(c * l->kh + ki) * (size_t)l->kw + (size_t)kj) * ncols;
                int oi = ki * l->dh, oj = kj * l->dw, lo, hi;
                inside_columns(l, oj, &lo, &hi);
                if (shifts_planes(l)) {
                    int oy0, oy1;
                    inside_rows(l, oi, &oy0, &oy1);
                    if (oy1 <= oy0 || hi <= lo)
                        continue;
                    ptrdiff_t shift = (ptrdiff_t)(oi - l->ph) * W + (oj - l->pw);
                    size_t from = (size_t)oy0 * (size_t)OW + (size_t)lo;
                    size_t to = (size_t)(oy1 - 1) * (size_t)OW + (size_t)hi;
                    for (int b = 0; b < batch; b++) {
                        float *plane = dx + ((size_t)b * (size_t)C + (size_t)c) * (size_t)H * (size_t)W;
                        float *src = row + (size_t)b * ohw;
                        /* Gradients of padding positions inside the run would land on the
                         * neighbouring row's edge: drop them (col is scratch). */
                        for (int oy = oy0; oy < oy1; oy++) {
                            for (int ox = oy > oy0 ? 0 : lo; ox < lo; ox++)
                                src[(size_t)oy * (size_t)OW + (size_t)ox] = 0;
                            for (int ox = hi; ox < OW && (oy < oy1 - 1); ox++)
                                src[(size_t)oy * (size_t)OW + (size_t)ox] = 0;
                        }
                        ft_vec_add(plane + (ptrdiff_t)from + shift, src + from, to - from);
                    }
                    continue;
                }
                for (int b = 0; b < batch; b++) {
                    float *plane = dx + ((size_t)b * (size_t)C + (size_t)c) * (size_t)H * (size_t)W;
                    for (int oy = 0; oy < OH; oy++) {
                        int iy = oy * l->sh - l->ph + oi;
                        if (iy < 0 || iy >= H)
                            continue;
                        const float *src = row + (size_t)b * ohw + (size_t)oy * (size_t)OW;
                        ptrdiff_t base = (ptrdiff_t)iy * W - l->pw + oj;
                        if (l->sw == 1 && hi > lo)
                            ft_vec_add(plane + base + lo, src + lo, (size_t)(hi - lo));
                        else
                            for (int ox = lo; ox < hi; ox++)
                                plane[base + (ptrdiff_t)ox * l->sw] += src[ox];
                    }
                }
            }
}
