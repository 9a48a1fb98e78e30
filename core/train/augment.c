/* Image augmentation of training rows (augment.h). */
#include <string.h>

#include "core/train/augment.h"
#include "core/util/rng.h"

bool ft_augment_active(const ft_augment *a)
{
    return a->hflip || a->crop_padding > 0 || a->brightness > 0 || a->contrast > 0;
}

int ft_augment_cache_copies(const ft_augment *a)
{
    if (!ft_augment_active(a))
        return 1;
    return a->views;
}

/* The first transform a turns on, for an error that names a key. */
static const char *first_key(const ft_augment *a)
{
    return a->hflip ? "hflip" : a->crop_padding ? "crop" : a->brightness > 0 ? "brightness" : "contrast";
}

int ft_augment_check(const ft_augment *a, ft_shape shape, const char *path, ft_error *err)
{
    char p[96];
    if (!ft_augment_active(a)) {
        if (a->views) {
            snprintf(p, sizeof p, "%s.views", path);
            return ft_fail(err, FT_EINVAL, p, "%s needs a transform to make views of (hflip, crop, brightness, contrast)",
                           p);
        }
        return 0;
    }
    if (shape.rank != 3) {
        snprintf(p, sizeof p, "%s.%s", path, first_key(a));
        return ft_fail(err, FT_EINVAL, p,
                       "%s applies to images ([channels, height, width] inputs); these rows are %d values each",
                       p, (int)ft_shape_size(shape));
    }
    if (a->crop_padding >= shape.dim[1] || a->crop_padding >= shape.dim[2]) {
        snprintf(p, sizeof p, "%s.crop.padding", path);
        return ft_fail(err, FT_EINVAL, p, "%s (%d) must be smaller than the image's height and width (%dx%d)", p,
                       a->crop_padding, shape.dim[1], shape.dim[2]);
    }
    if (a->contrast > 0 && shape.dim[0] != 1 && shape.dim[0] != 3) {
        snprintf(p, sizeof p, "%s.contrast", path);
        return ft_fail(err, FT_EINVAL, p, "%s needs grey or RGB images (1 or 3 channels); these have %d", p,
                       shape.dim[0]);
    }
    return 0;
}

json_t *ft_augment_json(const ft_augment *a)
{
    json_t *j = json_object();
    if (!j)
        return NULL;
    if (a->hflip)
        json_object_set_new(j, "hflip", json_true());
    if (a->crop_padding)
        json_object_set_new(j, "crop", json_pack("{s:i}", "padding", a->crop_padding));
    if (a->brightness > 0)
        json_object_set_new(j, "brightness", json_real(a->brightness));
    if (a->contrast > 0)
        json_object_set_new(j, "contrast", json_real(a->contrast));
    json_object_set_new(j, "views", json_integer(a->views)); /* 0 too: its default is not 0 */
    return j;
}

void ft_aug_hflip(float *img, int c, int h, int w)
{
    for (int r = 0; r < c * h; r++) {
        float *row = img + (size_t)r * (size_t)w;
        for (int x = 0; x < w / 2; x++) {
            float t = row[x];
            row[x] = row[w - 1 - x];
            row[w - 1 - x] = t;
        }
    }
}

void ft_aug_crop(float *img, int c, int h, int w, int pad, int top, int left)
{
    /* output (y, x) is input (y + dy, x + dx), zero outside: a shift done in
     * place, rows walked so that none is overwritten before it is read */
    int dy = top - pad, dx = left - pad;
    int x0 = dx < 0 ? -dx : 0, len = w - (dx < 0 ? -dx : dx);
    for (int ch = 0; ch < c; ch++) {
        float *plane = img + (size_t)ch * (size_t)h * (size_t)w;
        for (int i = 0; i < h; i++) {
            int y = dy > 0 ? i : h - 1 - i, sy = y + dy;
            float *out = plane + (size_t)y * (size_t)w;
            if (sy < 0 || sy >= h || len <= 0) {
                memset(out, 0, sizeof(float) * (size_t)w);
                continue;
            }
            memmove(out + x0, plane + (size_t)sy * (size_t)w + x0 + dx, sizeof(float) * (size_t)len);
            memset(dx < 0 ? out : out + len, 0, sizeof(float) * (size_t)(w - len));
        }
    }
}

static float clamp(float v, float bound)
{
    if (bound <= 0)
        return v;
    return v < 0 ? 0 : v > bound ? bound : v;
}

void ft_aug_brightness(float *img, size_t n, float factor, float bound)
{
    for (size_t i = 0; i < n; i++)
        img[i] = clamp(factor * img[i], bound);
}

void ft_aug_contrast(float *img, int c, int h, int w, float factor, float bound)
{
    /* torchvision's mean grey: the mean of rgb_to_grayscale (ITU-R 601-2
     * luma, each pixel rounded to float) for RGB, of the image for grey */
    size_t hw = (size_t)h * (size_t)w;
    double sum = 0;
    for (size_t i = 0; i < hw; i++)
        sum += c == 3 ? (float)(0.2989f * img[i] + 0.587f * img[hw + i] + 0.114f * img[2 * hw + i]) : img[i];
    float mean = (float)(sum / (double)hw), rest = (1.0f - factor) * mean;
    for (size_t i = 0; i < (size_t)c * hw; i++)
        img[i] = clamp(factor * img[i] + rest, bound);
}

/* A factor uniform in [max(0, 1 - b), 1 + b], as ColorJitter draws it. */
static float jitter(ft_rng *rng, double b)
{
    double lo = b < 1 ? 1 - b : 0, hi = 1 + b;
    return (float)(lo + (hi - lo) * ft_rng_uniform(rng));
}

/* Augment one image with the draws of key (seed, stream, row). */
static void augment_row(const ft_augment *a, uint64_t seed, uint64_t stream, uint32_t row, ft_shape s, float bound,
                        float *img)
{
    ft_rng rng;
    ft_rng_seed_key(&rng, seed, stream, row);
    int c = s.dim[0], h = s.dim[1], w = s.dim[2];
    if (a->crop_padding) {
        uint64_t span = 2 * (uint64_t)a->crop_padding + 1;
        int top = (int)ft_rng_below(&rng, span), left = (int)ft_rng_below(&rng, span);
        ft_aug_crop(img, c, h, w, a->crop_padding, top, left);
    }
    if (a->hflip && ft_rng_uniform(&rng) < 0.5f)
        ft_aug_hflip(img, c, h, w);
    if (a->brightness > 0)
        ft_aug_brightness(img, ft_shape_size(s), jitter(&rng, a->brightness), bound);
    if (a->contrast > 0)
        ft_aug_contrast(img, c, h, w, jitter(&rng, a->contrast), bound);
}

void ft_augment_gather(const ft_augment *a, uint64_t seed, uint64_t stream, const ft_dataset *ds,
                       const ft_preproc *pp, const uint32_t *idx, size_t n, float *out)
{
    ft_shape s = ft_dataset_shape(ds);
    size_t f = ft_shape_size(s);
    /* scaled only, then augmented, then normalised */
    ft_preproc scaled = {.scale = pp->scale};
    ft_dataset_gather(ds, &scaled, idx, n, out);
    float bound = ft_dataset_xtype(ds) == FT_X_U8 ? 255.0f * pp->scale : 0;
    for (size_t i = 0; i < n; i++)
        augment_row(a, seed, stream, idx[i], s, bound, out + i * f);
    ft_preproc_normalize(pp, out, n, f);
}
