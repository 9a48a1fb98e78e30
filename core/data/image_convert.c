/* Colour conversion and bilinear resizing of decoded images (and of stored
 * CHW rows) into planar (CHW) rows, the layout datasets and models use.
 *
 * One resampler serves every caller: a plain resize to a size ("squash"),
 * a resize that covers the target then a center crop (image datasets of
 * mixed sizes), and a resize of the shorter side then a center crop (a
 * model's preprocessing). It samples at half-pixel centres without
 * antialiasing, which is tf.image.resize's and torch.nn.functional.
 * interpolate(mode="bilinear", align_corners=False)'s rule. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/data/image.h"

/* Interleaved src (h x w x sc) to interleaved dst with dc channels. */
static void convert_color(const uint8_t *src, int sc, uint8_t *dst, int dc, size_t pixels)
{
    if (sc == 3 && dc == 1) {
        /* PIL's "L" conversion: ITU-R 601-2 luma in 16.16 fixed point. */
        for (size_t i = 0; i < pixels; i++, src += 3)
            dst[i] = (uint8_t)((src[0] * 19595u + src[1] * 38470u + src[2] * 7471u + 0x8000u) >> 16);
    } else { /* 1 -> 3 */
        for (size_t i = 0; i < pixels; i++, dst += 3)
            dst[0] = dst[1] = dst[2] = src[i];
    }
}

typedef struct {
    int lo, hi;  /* source indices; lo < 0: outside the resized image (padding) */
    float frac;  /* weight of hi */
} tap;

/* Half-pixel-centre sampling positions of output samples offset ..
 * offset + out of an image of `in` samples resized to `resized`. */
static void taps(tap *t, int out, int offset, int resized, int in)
{
    double scale = (double)in / resized;
    for (int i = 0; i < out; i++) {
        int r = i + offset;
        if (r < 0 || r >= resized) {
            t[i] = (tap){-1, -1, 0};
            continue;
        }
        double s = (r + 0.5) * scale - 0.5;
        if (s < 0)
            s = 0;
        if (s > in - 1)
            s = in - 1;
        int lo = (int)s;
        t[i].lo = lo;
        t[i].hi = lo + 1 < in ? lo + 1 : lo;
        t[i].frac = (float)(s - lo);
    }
}

/* A uint8 source image in any layout: sample (y, x, c) is at
 * p[y * sy + x * sx + c * sc] (sc = 0 replicates one channel). */
typedef struct {
    const uint8_t *p;
    int h, w;
    size_t sy, sx, sc;
} view;

/* Resample v into channels planes of g->out_h x g->out_w floats (0..255). */
static int resample(const view *v, int channels, const ft_resize_geom *g, float *dst, ft_error *err)
{
    if (g->rh < 1 || g->rw < 1 || g->out_h < 1 || g->out_w < 1)
        return ft_fail(err, FT_EINVAL, NULL, "an image cannot be resized to %dx%d", g->rh, g->rw);
    tap *ty = malloc(sizeof *ty * (size_t)g->out_h), *tx = malloc(sizeof *tx * (size_t)g->out_w);
    if (!ty || !tx) {
        free(ty), free(tx);
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    }
    taps(ty, g->out_h, g->top, g->rh, v->h);
    taps(tx, g->out_w, g->left, g->rw, v->w);
    size_t plane = (size_t)g->out_h * (size_t)g->out_w;
    for (int c = 0; c < channels; c++) {
        float *o = dst + (size_t)c * plane;
        const uint8_t *pc = v->p + (size_t)c * v->sc;
        for (int y = 0; y < g->out_h; y++) {
            const uint8_t *r0 = pc + (size_t)ty[y].lo * v->sy, *r1 = pc + (size_t)ty[y].hi * v->sy;
            float fy = ty[y].frac;
            for (int x = 0; x < g->out_w; x++) {
                if (ty[y].lo < 0 || tx[x].lo < 0) {
                    o[(size_t)y * (size_t)g->out_w + (size_t)x] = 0;
                    continue;
                }
                size_t a = (size_t)tx[x].lo * v->sx, b = (size_t)tx[x].hi * v->sx;
                float fx = tx[x].frac;
                float top = r0[a] + (r0[b] - r0[a]) * fx;
                float bot = r1[a] + (r1[b] - r1[a]) * fx;
                o[(size_t)y * (size_t)g->out_w + (size_t)x] = top + (bot - top) * fy;
            }
        }
    }
    free(ty), free(tx);
    return 0;
}

int ft_image_resample(const ft_image *im, int channels, const ft_resize_geom *g, float *dst, ft_error *err)
{
    size_t pixels = (size_t)im->width * (size_t)im->height;
    uint8_t *tmp = NULL;
    view v = {im->pixels, im->height, im->width, (size_t)im->width * (size_t)im->channels, (size_t)im->channels, 1};
    if (im->channels == 3 && channels == 1) {
        if (!(tmp = malloc(pixels)))
            return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        convert_color(im->pixels, 3, tmp, 1, pixels);
        v = (view){tmp, im->height, im->width, (size_t)im->width, 1, 0};
    } else if (im->channels == 1) {
        v.sc = 0; /* gray to any number of channels: replicate */
    }
    int rc = resample(&v, channels, g, dst, err);
    free(tmp);
    return rc;
}

int ft_chw_resample(const uint8_t *chw, int c, int h, int w, int channels, const ft_resize_geom *g, float *dst,
                    ft_error *err)
{
    if (c != channels && c != 1)
        return ft_fail(err, FT_EINVAL, NULL, "rows of %d channels cannot become %d channels", c, channels);
    view v = {chw, h, w, (size_t)w, 1, c == 1 ? 0 : (size_t)h * (size_t)w};
    return resample(&v, channels, g, dst, err);
}

int ft_image_to_chw_geom(const ft_image *im, int channels, const ft_resize_geom *g, uint8_t *dst, ft_error *err)
{
    size_t n = (size_t)channels * (size_t)g->out_h * (size_t)g->out_w;
    float *f = malloc(sizeof *f * (n ? n : 1));
    if (!f)
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    int rc = ft_image_resample(im, channels, g, f, err);
    for (size_t i = 0; rc == 0 && i < n; i++)
        dst[i] = (uint8_t)(f[i] + 0.5f);
    free(f);
    return rc;
}

int ft_image_to_chw(const ft_image *im, int channels, int out_h, int out_w, uint8_t *dst, ft_error *err)
{
    ft_resize_geom g = ft_geom_squash(out_h, out_w);
    return ft_image_to_chw_geom(im, channels, &g, dst, err);
}

ft_resize_geom ft_geom_squash(int out_h, int out_w) { return (ft_resize_geom){out_h, out_w, 0, 0, out_h, out_w}; }

/* torchvision's CenterCrop offset: int(round((n - crop) / 2.0)), Python's
 * round halving to even; a crop larger than n pads, the image centred. */
static int center_offset(int n, int crop)
{
    if (crop > n)
        return -((crop - n) / 2);
    int d = n - crop, k = d / 2;
    return d % 2 == 0 || k % 2 == 0 ? k : k + 1;
}

static ft_resize_geom crop_of(int64_t rh64, int64_t rw64, int out_h, int out_w)
{
    /* A 1-pixel-wide sliver of a huge image could overflow an int; only the
     * window is ever computed, so the clamp changes nothing real. */
    int rh = rh64 > INT_MAX / 2 ? INT_MAX / 2 : (int)rh64, rw = rw64 > INT_MAX / 2 ? INT_MAX / 2 : (int)rw64;
    return (ft_resize_geom){rh, rw, center_offset(rh, out_h), center_offset(rw, out_w), out_h, out_w};
}

ft_resize_geom ft_geom_cover(int h, int w, int out_h, int out_w)
{
    /* The smallest resize that covers out_h x out_w keeps the aspect ratio:
     * scale by the larger of out_h / h and out_w / w (exact in integers). */
    if ((int64_t)out_h * w >= (int64_t)out_w * h)
        return crop_of(out_h, (int64_t)out_h * w / h, out_h, out_w);
    return crop_of((int64_t)out_w * h / w, out_w, out_h, out_w);
}

ft_resize_geom ft_geom_shorter(int h, int w, int resize, int out_h, int out_w)
{
    /* torchvision's Resize(int): the shorter side becomes `resize`, the
     * longer int(resize * long / short); no resize when resize is 0. */
    int64_t rh = h, rw = w;
    if (resize > 0 && h <= w) {
        rh = resize;
        rw = (int64_t)resize * w / h;
    } else if (resize > 0) {
        rw = resize;
        rh = (int64_t)resize * h / w;
    }
    return crop_of(rh, rw, out_h, out_w);
}
