/* Pooling: max and average over kh x kw windows (PyTorch semantics: padding
 * is -inf for max; in the average it counts as zeros unless
 * count_include_pad is false, and never beyond the trailing padding, where
 * ceil_mode's last window may reach). Both take the same window
 * hyperparameters; max also takes a dilation. */
#include <float.h>
#include <stdint.h>
#include <string.h>

#include "core/nn/layer_fields.h"

/* size (default 2x2), stride (default: the size), padding (default 0),
 * dilation (max only), ceil_mode (default false) and count_include_pad
 * (average only, default true: what the layer always did). */
static int pool_parse(ft_layer *l, const ft_layer_fields *f)
{
    l->kh = l->kw = 2;
    l->dh = l->dw = 1;
    l->count_include_pad = true;
    if (ft_field_pair(f, "size", 1, FT_MAX_WINDOW, &l->kh, &l->kw) != 0)
        return -1;
    l->sh = l->kh, l->sw = l->kw;
    return ft_field_pair(f, "stride", 1, FT_MAX_WINDOW, &l->sh, &l->sw) ||
                   ft_field_padding(f, "padding", l) ||
                   ft_field_pair(f, "dilation", 1, FT_MAX_WINDOW, &l->dh, &l->dw) ||
                   ft_field_bool(f, "ceil_mode", &l->ceil_mode) ||
                   ft_field_bool(f, "count_include_pad", &l->count_include_pad)
               ? -1
               : 0;
}

/* The new attributes appear only when not at their defaults, so existing
 * models re-emit as before. */
static void pool_emit(const ft_layer *l, json_t *o)
{
    json_object_set_new(o, "size", ft_field_pair_json(l->kh, l->kw));
    json_object_set_new(o, "stride", ft_field_pair_json(l->sh, l->sw));
    json_object_set_new(o, "padding", ft_field_padding_json(l));
    if (l->dh != 1 || l->dw != 1)
        json_object_set_new(o, "dilation", ft_field_pair_json(l->dh, l->dw));
    if (l->ceil_mode)
        json_object_set_new(o, "ceil_mode", json_true());
    if (!l->count_include_pad && l->type == FT_LAYER_AVGPOOL2D)
        json_object_set_new(o, "count_include_pad", json_false());
}

static int pool_setup(ft_layer *l, const ft_shape *ins, const char *param, ft_error *err)
{
    (void)ins;
    l->dh = l->dh ? l->dh : 1, l->dw = l->dw ? l->dw : 1;
    if (l->in.rank != 3)
        return ft_fail(err, FT_EINVAL, param, "%s layer '%s' needs a [C, H, W] input",
                       ft_layer_type_name(l->type), l->name);
    int span_h = l->dh * (l->kh - 1) + 1, span_w = l->dw * (l->kw - 1) + 1;
    if ((l->ph > l->pb ? l->ph : l->pb) * 2 > span_h || (l->pw > l->pr ? l->pw : l->pr) * 2 > span_w)
        return ft_fail(err, FT_EINVAL, param, "%s layer '%s': padding must be at most half the window",
                       ft_layer_type_name(l->type), l->name);
    int oh = ft_window_out(l->in.dim[1], l->kh, l->sh, l->ph, l->pb, l->dh, l->ceil_mode);
    int ow = ft_window_out(l->in.dim[2], l->kw, l->sw, l->pw, l->pr, l->dw, l->ceil_mode);
    if (oh <= 0 || ow <= 0)
        return ft_fail(err, FT_EINVAL, param, "%s layer '%s': a %dx%d window does not fit a %dx%d input",
                       ft_layer_type_name(l->type), l->name, l->kh, l->kw, l->in.dim[1], l->in.dim[2]);
    l->out = ft_shape3(l->in.dim[0], oh, ow);
    return 0;
}

/* Max pooling keeps the argmax of each output (as a float-sized int) for
 * backward; a forward-only run uses one input row's worth instead. */
static size_t maxpool_scratch(const ft_layer *l, int batch)
{
    return (size_t)batch * ft_shape_size(l->out) + (size_t)l->in.dim[2];
}

/* Forward only, no argmax: per output row, the maximum down the window's
 * rows for every column (a loop over the row that vectorises), then along
 * each window's columns. The comparisons keep the first of equal values
 * in the order the general path visits them, so a NaN comes out exactly
 * when the window's first element is one, as there. */
static void maxpool_separable(const ft_layer *l, const ft_fwd_args *a)
{
    int H = l->in.dim[1], W = l->in.dim[2], OH = l->out.dim[1], OW = l->out.dim[2];
    size_t planes = (size_t)a->batch * (size_t)l->in.dim[0];
    float *col = a->scratch; /* col[x]: the maximum down the current window's rows */
    for (size_t p = 0; p < planes; p++) {
        const float *x = a->in + p * (size_t)H * (size_t)W;
        float *y = a->out + p * (size_t)OH * (size_t)OW;
        for (int oy = 0; oy < OH; oy++) {
            int rows = 0;
            for (int i = 0; i < l->kh; i++) {
                int iy = oy * l->sh - l->ph + i * l->dh;
                if (iy < 0 || iy >= H)
                    continue;
                const float *r = x + (size_t)iy * (size_t)W;
                if (rows++ == 0)
                    memcpy(col, r, sizeof(float) * (size_t)W);
                else
                    for (int c = 0; c < W; c++)
                        col[c] = r[c] > col[c] ? r[c] : col[c];
            }
            for (int ox = 0; ox < OW; ox++) {
                int first = ox * l->sw - l->pw, j = 0;
                while (first + j * l->dw < 0) /* padding: the window starts inside */
                    j++;
                float best = col[first + j * l->dw];
                for (j++; j < l->kw && first + j * l->dw < W; j++)
                    best = col[first + j * l->dw] > best ? col[first + j * l->dw] : best;
                y[(size_t)oy * (size_t)OW + (size_t)ox] = best;
            }
        }
    }
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
    if (a->forward_only) {
        maxpool_separable(l, a);
        return;
    }
    if (l->kh == 2 && l->kw == 2 && l->sh == 2 && l->sw == 2 && l->ph == 0 && l->pw == 0 && l->dh == 1 &&
        l->dw == 1 && 2 * OH <= H && 2 * OW <= W) {
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
                    int iy = oy * l->sh - l->ph + i * l->dh;
                    if (iy < 0 || iy >= H)
                        continue;
                    for (int j = 0; j < l->kw; j++) {
                        int ix = ox * l->sw - l->pw + j * l->dw;
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

/* 1 / the number of values output (oy, ox) averages: its window clipped to
 * the padded input, or to the input itself without count_include_pad. */
static float avg_scale(const ft_layer *l, int oy, int ox)
{
    int H = l->in.dim[1], W = l->in.dim[2];
    int y0 = oy * l->sh - l->ph, x0 = ox * l->sw - l->pw;
    int y1 = y0 + l->kh < H + l->pb ? y0 + l->kh : H + l->pb;
    int x1 = x0 + l->kw < W + l->pr ? x0 + l->kw : W + l->pr;
    if (!l->count_include_pad) {
        y0 = y0 > 0 ? y0 : 0, x0 = x0 > 0 ? x0 : 0;
        y1 = y1 < H ? y1 : H, x1 = x1 < W ? x1 : W;
    }
    return 1.0f / (float)((y1 - y0) * (x1 - x0));
}

static void avgpool_forward(const ft_layer *l, const ft_fwd_args *a)
{
    int H = l->in.dim[1], W = l->in.dim[2], OH = l->out.dim[1], OW = l->out.dim[2];
    size_t planes = (size_t)a->batch * (size_t)l->in.dim[0];
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
                y[oy * OW + ox] = s * avg_scale(l, oy, ox);
            }
    }
}

static void avgpool_backward(const ft_layer *l, const ft_bwd_args *a)
{
    if (!a->din)
        return;
    int H = l->in.dim[1], W = l->in.dim[2], OH = l->out.dim[1], OW = l->out.dim[2];
    size_t planes = (size_t)a->batch * (size_t)l->in.dim[0];
    memset(a->din, 0, sizeof(float) * planes * (size_t)H * (size_t)W);
    for (size_t p = 0; p < planes; p++) {
        float *dx = a->din + p * (size_t)H * (size_t)W;
        const float *dy = a->dout + p * (size_t)OH * (size_t)OW;
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                float g = dy[oy * OW + ox] * avg_scale(l, oy, ox);
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

static const char *const maxpool_keys[] = {"size", "stride", "padding", "dilation", "ceil_mode", NULL};
static const char *const avgpool_keys[] = {"size", "stride", "padding", "ceil_mode", "count_include_pad", NULL};

const ft_layer_kind ft_layer_maxpool2d = {
    .keys = maxpool_keys, .parse = pool_parse, .emit = pool_emit, .setup = pool_setup,
    .scratch_floats = maxpool_scratch, .forward = maxpool_forward, .backward = maxpool_backward,
};

const ft_layer_kind ft_layer_avgpool2d = {
    .keys = avgpool_keys, .parse = pool_parse, .emit = pool_emit, .setup = pool_setup,
    .forward = avgpool_forward, .backward = avgpool_backward,
};
