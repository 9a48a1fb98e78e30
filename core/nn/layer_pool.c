/* Pooling: max and average over kh x kw windows (PyTorch semantics: padding
 * is -inf for max, and counts as zeros in the average). Both take the same
 * window hyperparameters. */
#include <float.h>
#include <stdint.h>
#include <string.h>

#include "core/nn/layer_fields.h"

/* size (default 2x2), stride (default: the size) and padding (default 0). */
static int pool_parse(ft_layer *l, const ft_layer_fields *f)
{
    l->kh = l->kw = 2;
    if (ft_field_pair(f, "size", 1, FT_MAX_WINDOW, &l->kh, &l->kw) != 0)
        return -1;
    l->sh = l->kh, l->sw = l->kw;
    return ft_field_pair(f, "stride", 1, FT_MAX_WINDOW, &l->sh, &l->sw) ||
                   ft_field_pair(f, "padding", 0, FT_MAX_WINDOW, &l->ph, &l->pw)
               ? -1
               : 0;
}

static void pool_emit(const ft_layer *l, json_t *o)
{
    json_object_set_new(o, "size", ft_field_pair_json(l->kh, l->kw));
    json_object_set_new(o, "stride", ft_field_pair_json(l->sh, l->sw));
    json_object_set_new(o, "padding", ft_field_pair_json(l->ph, l->pw));
}

static int pool_setup(ft_layer *l, const char *param, ft_error *err)
{
    if (l->in.rank != 3)
        return ft_fail(err, FT_EINVAL, param, "%s layer '%s' needs a [C, H, W] input",
                       ft_layer_type_name(l->type), l->name);
    if (l->ph * 2 > l->kh || l->pw * 2 > l->kw)
        return ft_fail(err, FT_EINVAL, param, "%s layer '%s': padding must be at most half the window",
                       ft_layer_type_name(l->type), l->name);
    int oh = ft_window_out(l->in.dim[1], l->kh, l->sh, l->ph);
    int ow = ft_window_out(l->in.dim[2], l->kw, l->sw, l->pw);
    if (oh <= 0 || ow <= 0)
        return ft_fail(err, FT_EINVAL, param, "%s layer '%s': a %dx%d window does not fit a %dx%d input",
                       ft_layer_type_name(l->type), l->name, l->kh, l->kw, l->in.dim[1], l->in.dim[2]);
    l->out = ft_shape3(l->in.dim[0], oh, ow);
    return 0;
}

/* Max pooling keeps the argmax of each output (as a float-sized int) for backward. */
static size_t maxpool_scratch(const ft_layer *l, int batch)
{
    return (size_t)batch * ft_shape_size(l->out);
}

/* The common 2x2, stride 2, unpadded case without bounds checks. Ties keep
 * the first maximum in row-major window order, as the general path does. */
static void maxpool_2x2(const ft_layer *l, const ft_fwd_args *a)
{
    int W = l->in.dim[2], OH = l->out.dim[1], OW = l->out.dim[2];
    size_t planes = (size_t)a->batch * (size_t)l->in.dim[0];
    size_t in_plane = (size_t)l->in.dim[1] * (size_t)W, out_plane = (size_t)OH * (size_t)OW;
    int32_t *arg = (int32_t *)a->scratch;
    for (size_t p = 0; p < planes; p++) {
        const float *x = a->in + p * in_plane;
        float *y = a->out + p * out_plane;
        int32_t *am = arg + p * out_plane;
        for (int oy = 0; oy < OH; oy++) {
            const float *r0 = x + (size_t)(2 * oy) * (size_t)W, *r1 = r0 + W;
            for (int ox = 0; ox < OW; ox++) {
                int c = 2 * ox, at = 2 * oy * W + c;
                float best = r0[c];
                int32_t where = at;
                if (r0[c + 1] > best)
                    best = r0[c + 1], where = at + 1;
                if (r1[c] > best)
                    best = r1[c], where = at + W;
                if (r1[c + 1] > best)
                    best = r1[c + 1], where = at + W + 1;
                y[oy * OW + ox] = best;
                am[oy * OW + ox] = where;
            }
        }
    }
}

static void maxpool_forward(const ft_layer *l, const ft_fwd_args *a)
{
    int H = l->in.dim[1], W = l->in.dim[2], OH = l->out.dim[1], OW = l->out.dim[2];
    size_t planes = (size_t)a->batch * (size_t)l->in.dim[0];
    int32_t *arg = (int32_t *)a->scratch;
    if (l->kh == 2 && l->kw == 2 && l->sh == 2 && l->sw == 2 && l->ph == 0 && l->pw == 0) {
        maxpool_2x2(l, a);
        return;
    }
    for (size_t p = 0; p < planes; p++) {
        const float *x = a->in + p * (size_t)H * (size_t)W;
        float *y = a->out + p * (size_t)OH * (size_t)OW;
        int32_t *am = arg + p * (size_t)OH * (size_t)OW;
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                float best = -FLT_MAX;
                int32_t where = -1;
                for (int i = 0; i < l->kh; i++) {
                    int iy = oy * l->sh - l->ph + i;
                    if (iy < 0 || iy >= H)
                        continue;
                    for (int j = 0; j < l->kw; j++) {
                        int ix = ox * l->sw - l->pw + j;
                        if (ix < 0 || ix >= W)
                            continue;
                        float v = x[iy * W + ix];
                        if (where < 0 || v > best) {
                            best = v;
                            where = iy * W + ix;
                        }
                    }
                }
                y[oy * OW + ox] = best;
                am[oy * OW + ox] = where;
            }
    }
}

static void maxpool_backward(const ft_layer *l, const ft_bwd_args *a)
{
    if (!a->din)
        return;
    size_t hw = (size_t)l->in.dim[1] * (size_t)l->in.dim[2];
    size_t ohw = (size_t)l->out.dim[1] * (size_t)l->out.dim[2];
    size_t planes = (size_t)a->batch * (size_t)l->in.dim[0];
    const int32_t *arg = (const int32_t *)a->scratch;
    memset(a->din, 0, sizeof(float) * planes * hw);
    for (size_t p = 0; p < planes; p++)
        for (size_t o = 0; o < ohw; o++)
            a->din[p * hw + (size_t)arg[p * ohw + o]] += a->dout[p * ohw + o];
}

static void avgpool_forward(const ft_layer *l, const ft_fwd_args *a)
{
    int H = l->in.dim[1], W = l->in.dim[2], OH = l->out.dim[1], OW = l->out.dim[2];
    size_t planes = (size_t)a->batch * (size_t)l->in.dim[0];
    /* count_include_pad: always divide by the full window */
    float inv = 1.0f / (float)(l->kh * l->kw);
    for (size_t p = 0; p < planes; p++) {
        const float *x = a->in + p * (size_t)H * (size_t)W;
        float *y = a->out + p * (size_t)OH * (size_t)OW;
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                float s = 0;
                for (int i = 0; i < l->kh; i++) {
                    int iy = oy * l->sh - l->ph + i;
                    for (int j = 0; iy >= 0 && iy < H && j < l->kw; j++) {
                        int ix = ox * l->sw - l->pw + j;
                        if (ix >= 0 && ix < W)
                            s += x[iy * W + ix];
                    }
                }
                y[oy * OW + ox] = s * inv;
            }
    }
}

static void avgpool_backward(const ft_layer *l, const ft_bwd_args *a)
{
    if (!a->din)
        return;
    int H = l->in.dim[1], W = l->in.dim[2], OH = l->out.dim[1], OW = l->out.dim[2];
    size_t planes = (size_t)a->batch * (size_t)l->in.dim[0];
    float inv = 1.0f / (float)(l->kh * l->kw);
    memset(a->din, 0, sizeof(float) * planes * (size_t)H * (size_t)W);
    for (size_t p = 0; p < planes; p++) {
        float *dx = a->din + p * (size_t)H * (size_t)W;
        const float *dy = a->dout + p * (size_t)OH * (size_t)OW;
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                float g = dy[oy * OW + ox] * inv;
                for (int i = 0; i < l->kh; i++) {
                    int iy = oy * l->sh - l->ph + i;
                    for (int j = 0; iy >= 0 && iy < H && j < l->kw; j++) {
                        int ix = ox * l->sw - l->pw + j;
                        if (ix >= 0 && ix < W)
                            dx[iy * W + ix] += g;
                    }
                }
            }
    }
}

static const char *const pool_keys[] = {"size", "stride", "padding", NULL};

const ft_layer_kind ft_layer_maxpool2d = {
    .keys = pool_keys, .parse = pool_parse, .emit = pool_emit, .setup = pool_setup,
    .scratch_floats = maxpool_scratch, .forward = maxpool_forward, .backward = maxpool_backward,
};

const ft_layer_kind ft_layer_avgpool2d = {
    .keys = pool_keys, .parse = pool_parse, .emit = pool_emit, .setup = pool_setup,
    .forward = avgpool_forward, .backward = avgpool_backward,
};
