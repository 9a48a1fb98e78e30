/* 2-D convolution with groups, dilation and asymmetric padding.
 *
 * The general path is im2col + sgemm. The patches of a group of samples are
 * unrolled into col[C*kh*kw, S*OH*OW] (core/nn/conv_im2col.c; column index =
 * (sample, output pixel)). Sample b's output for channel group g is then one
 * sgemm, out_bg[F/G, OH*OW] = W_g[F/G, C/G*kh*kw] . col_bg, where col_bg is
 * group g's rows of col and sample b's block of its columns (leading
 * dimension S*OH*OW): it lands in NCHW directly, and backward reads dout and
 * writes dcol in place the same way, with no scatter or gather copies
 * (except for small planes, below, whose dout it gathers per group). The
 * sample group S is the whole batch unless col would outgrow the last-level
 * cache (about 8 MiB): measured on the Fashion-MNIST CNN, one 29 MiB col at
 * batch 256 ran 25% slower than 64-sample groups. Backward rebuilds each
 * group's col (cheap next to the sgemms) rather than keeping the whole
 * batch's, which also bounds memory.
 *
 * Forward differs in four ways. A 3x3, stride-1 convolution of 16 or more
 * channels runs Winograd F(4x4, 3x3) (conv_winograd.c; see winograd()). Small output planes (under BATCHED_BELOW
 * pixels, the late layers of a CNN) make one sgemm per channel group over
 * all the group's samples at once, into a [F/G, S*OH*OW] buffer copied out
 * to NCHW: an sgemm with N = 49 runs at half the speed of one with N = 441
 * (OpenBLAS, one thread). A large 1x1, stride-1, unpadded, ungrouped
 * convolution is already in col's layout (sgemm straight on the input). A
 * depthwise one (groups == C) runs a direct kernel (conv_depthwise.c). Bias
 * and activation are applied to each output plane right after it is
 * written, while it is in cache. */
#include <cblas.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "core/nn/conv.h"
#include "core/nn/layer_fields.h"

#define MAX_FILTERS 65536

static int parse_padding(const ft_layer_fields *f, ft_layer *l)
{
    json_t *v = json_object_get(f->obj, "padding");
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcmp(s, "valid") == 0) {
            l->ph = l->pw = l->pb = l->pr = 0;
            return 0;
        }
        /* "same" keeps H x W: only well defined for stride 1 and odd kernels. */
        if (strcmp(s, "same") == 0 && l->sh == 1 && l->sw == 1 && l->kh % 2 && l->kw % 2) {
            l->ph = l->pb = l->kh / 2 * l->dh;
            l->pw = l->pr = l->kw / 2 * l->dw;
            return 0;
        }
        return ft_field_fail(f, "padding", "%s must be an integer, an [h, w] pair, [top, left, bottom, right], \"valid\", or \"same\" (stride 1, odd kernel)%s", "");
    }
    return ft_field_padding(f, "padding", l);
}

static int conv_parse(ft_layer *l, const ft_layer_fields *f)
{
    l->sh = l->sw = l->dh = l->dw = l->groups = 1;
    if (ft_field_int(f, "filters", 1, MAX_FILTERS, true, &l->filters) != 0)
        return -1;
    if (!json_object_get(f->obj, "kernel"))
        return ft_field_fail(f, "kernel", "%s is required%s", "");
    return ft_field_pair(f, "kernel", 1, FT_MAX_WINDOW, &l->kh, &l->kw) ||
                   ft_field_pair(f, "stride", 1, FT_MAX_WINDOW, &l->sh, &l->sw) ||
                   ft_field_pair(f, "dilation", 1, FT_MAX_WINDOW, &l->dh, &l->dw) ||
                   ft_field_int(f, "groups", 1, MAX_FILTERS, false, &l->groups) || parse_padding(f, l)
               ? -1
               : 0;
}

/* Dilation and groups appear only when not 1, so sequential models re-emit as before. */
static void conv_emit(const ft_layer *l, json_t *o)
{
    json_object_set_new(o, "filters", json_integer(l->filters));
    json_object_set_new(o, "kernel", ft_field_pair_json(l->kh, l->kw));
    json_object_set_new(o, "stride", ft_field_pair_json(l->sh, l->sw));
    json_object_set_new(o, "padding", ft_field_padding_json(l));
    if (l->dh != 1 || l->dw != 1)
        json_object_set_new(o, "dilation", ft_field_pair_json(l->dh, l->dw));
    if (l->groups != 1)
        json_object_set_new(o, "groups", json_integer(l->groups));
}

static int conv_setup(ft_layer *l, const ft_shape *ins, const char *param, ft_error *err)
{
    (void)ins;
    l->dh = l->dh ? l->dh : 1, l->dw = l->dw ? l->dw : 1, l->groups = l->groups ? l->groups : 1;
    if (l->in.rank != 3)
        return ft_fail(err, FT_EINVAL, param, "conv2d layer '%s' needs a [C, H, W] input", l->name);
    if (ft_activation_rowwise(l->act))
        return ft_fail(err, FT_EINVAL, param, "conv2d layer '%s' cannot use %s", l->name, ft_activation_name(l->act));
    if (l->in.dim[0] % l->groups || l->filters % l->groups)
        return ft_fail(err, FT_EINVAL, param,
                       "conv2d layer '%s': groups %d must divide the input channels (%d) and filters (%d)",
                       l->name, l->groups, l->in.dim[0], l->filters);
    int oh = ft_window_out(l->in.dim[1], l->kh, l->sh, l->ph, l->pb, l->dh, false);
    int ow = ft_window_out(l->in.dim[2], l->kw, l->sw, l->pw, l->pr, l->dw, false);
    if (oh <= 0 || ow <= 0)
        return ft_fail(err, FT_EINVAL, param,
                       "conv2d layer '%s': a %dx%d kernel does not fit a %dx%d input with padding %d,%d",
                       l->name, l->kh, l->kw, l->in.dim[1], l->in.dim[2], l->ph, l->pw);
    l->out = ft_shape3(l->filters, oh, ow);
    return 0;
}

/* PyTorch's nn.Conv2d weight: [out, in / groups, kh, kw]. */
static int conv_weight_shape(const ft_layer *l, uint64_t shape[4])
{
    shape[0] = (uint64_t)l->filters, shape[1] = (uint64_t)(l->in.dim[0] / l->groups);
    shape[2] = (uint64_t)l->kh, shape[3] = (uint64_t)l->kw;
    return 4;
}

/* One group's patch length C/G * kh * kw (the sgemm's inner dimension). */
static size_t patch_size(const ft_layer *l)
{
    return (size_t)(l->in.dim[0] / l->groups) * (size_t)l->kh * (size_t)l->kw;
}

#define GROUP_FLOATS ((size_t)2 << 20) /* col per sample group: 8 MiB */
#define BATCHED_BELOW 2048              /* output pixels under which forward batches samples */

/* Samples per group for a batch of `batch`. */
static int group_size(const ft_layer *l, int batch)
{
    size_t per = patch_size(l) * (size_t)l->groups * (size_t)l->out.dim[1] * (size_t)l->out.dim[2];
    size_t g = per ? GROUP_FLOATS / per : (size_t)batch;
    return g < 1 ? 1 : g > (size_t)batch ? batch : (int)g;
}

/* Floats of col for a batch of `batch`. */
static size_t col_floats(const ft_layer *l, int batch)
{
    return patch_size(l) * (size_t)l->groups * (size_t)group_size(l, batch) * (size_t)l->out.dim[1] *
           (size_t)l->out.dim[2];
}

/* Forward batches the samples of a group into one sgemm per channel group. */
static bool batched(const ft_layer *l) { return (size_t)l->out.dim[1] * (size_t)l->out.dim[2] < BATCHED_BELOW; }

/* Floats of the pre-activation kept for backward: the whole batch's
 * [B, F, OH, OW], only for an activation that needs its input. */
static size_t kept_floats(const ft_layer *l, int batch)
{
    return ft_act_needs_input(l->act) ? (size_t)batch * ft_shape_size(l->out) : 0;
}

/* Winograd F(4x4, 3x3) (conv_winograd.c) does a 3x3, stride-1, undilated,
 * ungrouped forward, in training too (backward stays im2col + sgemm on the
 * kept input), with 4x fewer multiplies than im2col + sgemm: most of a
 * ResNet's or VGG's work. Under WINOGRAD_MIN_CHANNELS input or output
 * channels (an RGB first layer) its transforms cost more than they save. */
#define WINOGRAD_MIN_CHANNELS 16
static bool winograd(const ft_layer *l)
{
    return l->kh == 3 && l->kw == 3 && l->sh == 1 && l->sw == 1 && l->dh == 1 && l->dw == 1 && l->groups == 1 &&
           l->in.dim[0] >= WINOGRAD_MIN_CHANNELS && l->filters >= WINOGRAD_MIN_CHANNELS;
}

/* The scratch is the kept pre-activation, then the work area: col and
 * (batched forward) one channel group's output for a sample group, [F/G,
 * S*OH*OW], or Winograd's buffers if larger. */
static size_t conv_scratch(const ft_layer *l, int batch)
{
    size_t out = batched(l) ? (size_t)(l->filters / l->groups) * (size_t)group_size(l, batch) *
                                  (size_t)l->out.dim[1] * (size_t)l->out.dim[2]
                            : 0;
    size_t work = col_floats(l, batch) + out, wino = winograd(l) ? ft_conv_winograd_floats(l, batch) : 0;
    return kept_floats(l, batch) + (wino > work ? wino : work);
}

/* Where the pre-activation of sample 0 is kept, and the work area after it. */
static float *kept_input(float *scratch) { return scratch; }
static float *work_area(const ft_layer *l, float *scratch, int batch) { return scratch + kept_floats(l, batch); }

/* The input is col already (one output pixel per input pixel, no padding),
 * and planes are large enough to run sample by sample. */
static bool pointwise(const ft_layer *l)
{
    return l->kh == 1 && l->kw == 1 && l->sh == 1 && l->sw == 1 && l->groups == 1 && l->ph == 0 &&
           l->pw == 0 && l->pb == 0 && l->pr == 0 && !batched(l);
}

/* One sample's output planes: + bias, then the activation (pre-activation
 * kept in keep when the activation needs it), plane by plane while in cache. */
static void bias_activate(const ft_layer *l, ft_activation act, const float *bias, float *out, float *keep)
{
    size_t ohw = (size_t)l->out.dim[1] * (size_t)l->out.dim[2];
    for (int f = 0; f < l->filters; f++) {
        float *plane = out + (size_t)f * ohw;
        if (bias)
            for (size_t p = 0; p < ohw; p++)
                plane[p] += bias[f];
        ft_act_forward(act, l->act_param, plane, keep + (size_t)f * ohw, 1, ohw);
    }
}

/* out_b = W . col_b for each channel group, col_b read with leading dimension ld. */
static void grouped_gemm(const ft_layer *l, const float *w, const float *col, size_t ld, float *out)
{
    int G = l->groups, Fg = l->filters / G;
    size_t ohw = (size_t)l->out.dim[1] * (size_t)l->out.dim[2], k = patch_size(l);
    for (int g = 0; g < G; g++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Fg, (int)ohw, (int)k, 1.0f,
                    w + (size_t)g * (size_t)Fg * k, (int)k, col + (size_t)g * k * ld, (int)ld, 0.0f,
                    out + (size_t)g * (size_t)Fg * ohw, (int)ohw);
}

/* Samples [b0, b0 + g) at once from col (their columns): per channel group,
 * tmp[F/G, g*OHW] = W_g . col_g, then each sample's rows copied to NCHW. */
static void batched_gemm(const ft_layer *l, const float *w, const float *col, int g, float *tmp, float *out)
{
    int G = l->groups, Fg = l->filters / G;
    size_t ohw = (size_t)l->out.dim[1] * (size_t)l->out.dim[2], k = patch_size(l), ncols = (size_t)g * ohw;
    size_t out_size = ft_shape_size(l->out);
    for (int gi = 0; gi < G; gi++) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Fg, (int)ncols, (int)k, 1.0f,
                    w + (size_t)gi * (size_t)Fg * k, (int)k, col + (size_t)gi * k * ncols, (int)ncols, 0.0f, tmp,
                    (int)ncols);
        for (int b = 0; b < g; b++)
            for (int f = 0; f < Fg; f++)
                memcpy(out + (size_t)b * out_size + (size_t)(gi * Fg + f) * ohw, tmp + (size_t)f * ncols + (size_t)b * ohw,
                       sizeof(float) * ohw);
    }
}

static void conv_forward(const ft_layer *l, const ft_fwd_args *a)
{
    size_t ohw = (size_t)l->out.dim[1] * (size_t)l->out.dim[2];
    size_t in_size = ft_shape_size(l->in), out_size = ft_shape_size(l->out);
    ft_activation act = a->logits ? FT_ACT_LINEAR : l->act;
    float *keep = kept_input(a->scratch), *col = work_area(l, a->scratch, a->batch);
    float *tmp = col + col_floats(l, a->batch);
    if (winograd(l)) {
        ft_conv_winograd(l, act, a->in, a->w, a->prepared, a->b, a->batch, col, a->out, keep);
        return;
    }
    bool depthwise = l->groups == l->in.dim[0] && l->groups > 1;
    int group = pointwise(l) || depthwise ? a->batch : group_size(l, a->batch);
    for (int b0 = 0; b0 < a->batch; b0 += group) {
        int g = a->batch - b0 < group ? a->batch - b0 : group;
        size_t ncols = (size_t)g * ohw;
        if (!pointwise(l) && !depthwise)
            ft_conv_im2col(l, a->in + (size_t)b0 * in_size, g, col);
        if (!depthwise && batched(l))
            batched_gemm(l, a->w, col, g, tmp, a->out + (size_t)b0 * out_size);
        for (int b = b0; b < b0 + g; b++) {
            float *ob = a->out + (size_t)b * out_size;
            const float *xb = a->in + (size_t)b * in_size;
            if (depthwise)
                ft_conv_depthwise(l, xb, a->w, a->b, ob);
            else if (pointwise(l))
                grouped_gemm(l, a->w, xb, ohw, ob);
            else if (!batched(l))
                grouped_gemm(l, a->w, col + (size_t)(b - b0) * ohw, ncols, ob);
            bias_activate(l, act, depthwise ? NULL : a->b, ob, keep + (size_t)b * out_size);
        }
    }
}

/* Channel group gi's products for n output columns: dZ[F/G, n] (leading
 * dimension ldz) against the patches col[K, n] (leading dimension ldc):
 * dW_g (+)= dZ . col^T, then dcol = W_g^T . dZ, the patch gradients, with
 * the same leading dimension (written over the patches just read, which
 * nothing else reads, or straight into dx for a pointwise convolution). */
static void group_backward(const ft_layer *l, const ft_bwd_args *a, int gi, const float *dz, size_t ldz, size_t n,
                           const float *col, float *dcol, size_t ldc, bool accumulate)
{
    int Fg = l->filters / l->groups;
    size_t k = patch_size(l);
    if (a->dw)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Fg, (int)k, (int)n, 1.0f, dz, (int)ldz, col, (int)ldc,
                    accumulate ? 1.0f : 0.0f, a->dw + (size_t)gi * (size_t)Fg * k, (int)k);
    if (dcol)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)n, Fg, 1.0f,
                    a->w + (size_t)gi * (size_t)Fg * k, (int)k, dz, (int)ldz, 0.0f, dcol, (int)ldc);
}

/* Channel group gi's rows of g samples' dout (NCHW) side by side in
 * tmp[F/G, g*OH*OW]: the layout of batched_gemm's product, read back. */
static void gather_group(const ft_layer *l, const float *dout, int g, int gi, float *tmp)
{
    int Fg = l->filters / l->groups;
    size_t ohw = (size_t)l->out.dim[1] * (size_t)l->out.dim[2], out_size = ft_shape_size(l->out);
    for (int f = 0; f < Fg; f++)
        for (int b = 0; b < g; b++)
            memcpy(tmp + (size_t)f * (size_t)g * ohw + (size_t)b * ohw,
                   dout + (size_t)b * out_size + (size_t)(gi * Fg + f) * ohw, sizeof(float) * ohw);
}

/* Per sample group: the activation's backward, the bias gradient, col (for
 * dW), then per channel group one product over the group's samples for
 * small planes (as forward batches them: an sgemm whose inner dimension is
 * 49 pixels runs at a fraction of its speed, and each sample's would
 * re-read all of dW), else per sample in place in dout and col (column
 * block b of col, leading dimension S*OH*OW); last col2im into dx. A
 * pointwise convolution's input is its col and its dcol is dx: neither
 * im2col nor col2im. */
static void conv_backward(const ft_layer *l, const ft_bwd_args *a)
{
    int F = l->filters, G = l->groups, Fg = F / G, group = group_size(l, a->batch);
    size_t ohw = (size_t)l->out.dim[1] * (size_t)l->out.dim[2], k = patch_size(l);
    size_t in_size = ft_shape_size(l->in), out_size = (size_t)F * ohw;
    ft_activation act = a->logits ? FT_ACT_LINEAR : l->act;
    float *col = work_area(l, a->scratch, a->batch), *tmp = col + col_floats(l, a->batch);
    if (a->db)
        memset(a->db, 0, sizeof(float) * (size_t)F);
    for (int b0 = 0; b0 < a->batch; b0 += group) {
        int g = a->batch - b0 < group ? a->batch - b0 : group;
        size_t ncols = (size_t)g * ohw;
        float *dout = a->dout + (size_t)b0 * out_size;
        ft_act_backward(act, l->act_param, kept_input(a->scratch) + (size_t)b0 * out_size,
                        a->out + (size_t)b0 * out_size, dout, (size_t)g, out_size);
        if (a->db)
            for (int b = 0; b < g; b++)
                for (int f = 0; f < F; f++)
                    a->db[f] += ft_vec_sum(dout + (size_t)b * out_size + (size_t)f * ohw, ohw);
        bool direct = pointwise(l);
        if (a->dw && !direct)
            ft_conv_im2col(l, a->in + (size_t)b0 * in_size, g, col);
        for (int gi = 0; gi < G; gi++) {
            float *col_g = col + (size_t)gi * k * ncols;
            if (batched(l)) {
                gather_group(l, dout, g, gi, tmp);
                group_backward(l, a, gi, tmp, ncols, ncols, col_g, a->din ? col_g : NULL, ncols, b0 > 0);
                continue;
            }
            for (int b = 0; b < g; b++) {
                const float *dz = dout + (size_t)b * out_size + (size_t)gi * (size_t)Fg * ohw;
                float *cb = col_g + (size_t)b * ohw, *dx = a->din ? a->din + (size_t)(b0 + b) * in_size : NULL;
                if (direct)
                    group_backward(l, a, gi, dz, ohw, ohw, a->in + (size_t)(b0 + b) * in_size, dx, ohw, b0 || b);
                else
                    group_backward(l, a, gi, dz, ohw, ohw, cb, a->din ? cb : NULL, ncols, b0 || b);
            }
        }
        if (a->din && !direct)
            ft_conv_col2im(l, col, g, a->din + (size_t)b0 * in_size);
    }
}

static const char *const conv_keys[] = {"filters", "kernel", "stride", "padding", "dilation", "groups", NULL};

/* A runner with fixed weights transforms Winograd's kernels once. */
static size_t conv_prepared_floats(const ft_layer *l) { return winograd(l) ? ft_conv_winograd_kernel_floats(l) : 0; }
static int conv_prepare(const ft_layer *l, const float *w, float *u) { return ft_conv_winograd_prepare(l, w, u); }

const ft_layer_kind ft_layer_conv2d = {
    .keys = conv_keys, .activation = true, .parse = conv_parse, .emit = conv_emit, .setup = conv_setup,
    .weight_shape = conv_weight_shape, .scratch_floats = conv_scratch, .forward = conv_forward,
    .backward = conv_backward, .prepared_floats = conv_prepared_floats, .prepare = conv_prepare,
    .weight_hint = "conv2d weights must be [out, in, kh, kw] (PyTorch's layout, in = input channels / groups; transpose "
                   "TensorFlow's [kh, kw, in, out] with permute(3, 2, 0, 1))",
};
