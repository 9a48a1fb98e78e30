/* A model's image preprocessing: parse, emit, apply; see image_preproc.h. */
#include "core/data/image_preproc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_SIDE 4096 /* FT_MAX_IMAGE_SIDE: no model input is larger */

static const ft_image_preproc imagenet = {
    .resize = 256, .crop_h = 224, .crop_w = 224, .channels = 3, .scale = 1.0f / 255.0f, .nmean = 3,
    .mean = {0.485f, 0.456f, 0.406f}, .std = {0.229f, 0.224f, 0.225f},
};

static int bad(ft_error *err, const char *key, const char *what)
{
    char param[64];
    snprintf(param, sizeof param, "preprocess.%s", key);
    return ft_fail(err, FT_EINVAL, param, "preprocessing %s %s", key, what);
}

static int side(const json_t *v, int *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > MAX_SIDE)
        return -1;
    *out = (int)json_integer_value(v);
    return 0;
}

/* mean or std: `n` finite numbers (std: positive). */
static int channel_values(const json_t *a, const char *key, bool positive, float *out, int *n, ft_error *err)
{
    size_t k = json_array_size(a);
    if (!json_is_array(a) || (k != 1 && k != 3))
        return bad(err, key, "must be an array of 1 or 3 numbers (one per channel)");
    for (size_t i = 0; i < k; i++) {
        const json_t *x = json_array_get(a, i);
        double v = json_number_value(x);
        if (!json_is_number(x) || !isfinite(v) || (positive && !(v > 0)))
            return bad(err, key, positive ? "values must be positive numbers" : "values must be numbers");
        out[i] = (float)v;
    }
    *n = (int)k;
    return 0;
}

static int read_color(const json_t *v, ft_image_preproc *pp, ft_error *err)
{
    const char *s = json_string_value(v);
    if (s && strcasecmp(s, "rgb") == 0)
        pp->channels = 3;
    else if (s && (strcasecmp(s, "gray") == 0 || strcasecmp(s, "grayscale") == 0))
        pp->channels = 1;
    else
        return bad(err, "color", "must be \"rgb\" or \"gray\"");
    return 0;
}

int ft_image_preproc_from_json(const json_t *j, ft_image_preproc *pp, ft_error *err)
{
    memset(pp, 0, sizeof *pp);
    pp->scale = 1.0f / 255.0f;
    if (json_is_string(j)) {
        if (strcasecmp(json_string_value(j), "imagenet") != 0)
            return ft_fail(err, FT_EINVAL, "preprocess", "unknown preprocessing preset '%s' (known: imagenet)",
                           json_string_value(j));
        *pp = imagenet;
        return 0;
    }
    if (!json_is_object(j))
        return ft_fail(err, FT_EINVAL, "preprocess", "preprocessing must be a JSON object or a preset name");
    const char *key;
    const json_t *v;
    int nmean = 0, nstd = 0;
    json_object_foreach((json_t *)j, key, v) {
        if (strcmp(key, "per") == 0) {
            if (!json_is_string(v) || strcmp(json_string_value(v), "channel") != 0)
                return bad(err, key, "must be \"channel\"");
        } else if (strcmp(key, "resize") == 0) {
            if (side(v, &pp->resize) != 0)
                return bad(err, key, "must be an integer from 1 to 4096 (the shorter side)");
        } else if (strcmp(key, "crop") == 0) {
            bool pair = json_is_array(v) && json_array_size(v) == 2;
            if (pair ? side(json_array_get(v, 0), &pp->crop_h) != 0 || side(json_array_get(v, 1), &pp->crop_w) != 0
                     : side(v, &pp->crop_h) != 0)
                return bad(err, key, "must be [height, width] or one size, each from 1 to 4096");
            if (!pair)
                pp->crop_w = pp->crop_h;
        } else if (strcmp(key, "color") == 0) {
            if (read_color(v, pp, err) != 0)
                return -1;
        } else if (strcmp(key, "scale") == 0) {
            if (!json_is_number(v) || !(json_number_value(v) > 0) || !isfinite(json_number_value(v)))
                return bad(err, key, "must be a positive number");
            pp->scale = (float)json_number_value(v);
        } else if (strcmp(key, "mean") == 0 || strcmp(key, "std") == 0) {
            bool is_std = key[0] == 's';
            if (channel_values(v, key, is_std, is_std ? pp->std : pp->mean, is_std ? &nstd : &nmean, err) != 0)
                return -1;
        } else {
            return ft_fail(err, FT_EINVAL, "preprocess",
                           "unknown preprocessing key '%s' (known: per, resize, crop, color, scale, mean, std)", key);
        }
    }
    if (nmean != nstd)
        return bad(err, nmean ? "std" : "mean", "must be given with the same number of values as the other");
    if (nmean && !json_object_get(j, "per"))
        return bad(err, "mean", "per channel needs \"per\": \"channel\" (without it, mean and std are per input value)");
    if (nmean && pp->channels && nmean != pp->channels)
        return bad(err, "mean", "must have one value per channel of the color");
    pp->nmean = nmean;
    return 0;
}

int ft_image_preproc_parse(const char *text, ft_image_preproc *pp, ft_error *err)
{
    json_error_t jerr;
    json_t *j = text[0] == '{' ? json_loads(text, JSON_REJECT_DUPLICATES, &jerr) : json_string(text);
    if (!j)
        return ft_fail(err, FT_EINVAL, "preprocess", "preprocessing is not valid JSON: %s", jerr.text);
    int rc = ft_image_preproc_from_json(j, pp, err);
    json_decref(j);
    return rc;
}

json_t *ft_image_preproc_to_json(const ft_image_preproc *pp)
{
    json_t *j = json_pack("{s:s}", "per", "channel");
    if (j && pp->resize)
        json_object_set_new(j, "resize", json_integer(pp->resize));
    if (j && pp->crop_h)
        json_object_set_new(j, "crop", json_pack("[i, i]", pp->crop_h, pp->crop_w));
    if (j && pp->channels)
        json_object_set_new(j, "color", json_string(pp->channels == 3 ? "rgb" : "gray"));
    if (j)
        json_object_set_new(j, "scale", json_real(pp->scale));
    if (j && pp->nmean) {
        json_t *mean = json_array(), *std = json_array();
        for (int c = 0; c < pp->nmean; c++) {
            json_array_append_new(mean, json_real(pp->mean[c]));
            json_array_append_new(std, json_real(pp->std[c]));
        }
        json_object_set_new(j, "mean", mean);
        json_object_set_new(j, "std", std);
    }
    return j;
}

bool ft_image_preproc_is_image(const json_t *j)
{
    return json_is_string(j) || json_object_get(j, "per") || json_object_get(j, "resize") ||
           json_object_get(j, "crop") || json_object_get(j, "color");
}

bool ft_image_preproc_has_geometry(const ft_image_preproc *pp) { return pp->resize || pp->crop_h; }

int ft_image_preproc_check(const ft_image_preproc *pp, ft_shape in, ft_error *err)
{
    if (in.rank != 3 || (in.dim[0] != 1 && in.dim[0] != 3))
        return ft_fail(err, FT_EINVAL, NULL, "the model's input is not an image ([1 or 3, H, W])");
    if (pp->channels && pp->channels != in.dim[0])
        return ft_fail(err, FT_EINVAL, NULL, "the preprocessing's color has %d channels but the model's input %d",
                       pp->channels, in.dim[0]);
    if (pp->nmean > 1 && pp->nmean != in.dim[0])
        return ft_fail(err, FT_EINVAL, NULL, "the preprocessing has %d mean values but the model's input %d channels",
                       pp->nmean, in.dim[0]);
    if (pp->crop_h && (pp->crop_h != in.dim[1] || pp->crop_w != in.dim[2]))
        return ft_fail(err, FT_EINVAL, NULL, "the preprocessing crops to %dx%d but the model's input is %dx%d",
                       pp->crop_h, pp->crop_w, in.dim[1], in.dim[2]);
    return 0;
}

json_t *ft_image_preproc_for_input(const char *text, ft_shape in, ft_error *err)
{
    ft_image_preproc pp;
    if (ft_image_preproc_parse(text, &pp, err) != 0)
        return NULL;
    if (text[0] != '{' && in.rank == 3) { /* a preset keeps its proportions at the model's size */
        pp.crop_h = in.dim[1];
        pp.crop_w = in.dim[2];
        pp.resize = in.dim[1] * imagenet.resize / imagenet.crop_h;
    }
    if (ft_image_preproc_check(&pp, in, err) != 0)
        return NULL;
    json_t *j = ft_image_preproc_to_json(&pp);
    if (!j)
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    return j;
}

/* The geometry for an h x w source and the model input, or an error when
 * they do not fit together. */
static int plan(const ft_image_preproc *pp, int h, int w, ft_shape in, ft_resize_geom *g, ft_error *err)
{
    if (ft_image_preproc_check(pp, in, err) != 0)
        return -1;
    *g = ft_image_preproc_has_geometry(pp) ? ft_geom_shorter(h, w, pp->resize, in.dim[1], in.dim[2])
                                           : ft_geom_squash(in.dim[1], in.dim[2]);
    return 0;
}

/* 0..255 planes to the model's values: scale, then mean / std per channel. */
static void normalize(const ft_image_preproc *pp, float *x, ft_shape in)
{
    size_t plane = (size_t)in.dim[1] * (size_t)in.dim[2];
    for (int c = 0; c < in.dim[0]; c++) {
        float mean = pp->nmean ? pp->mean[pp->nmean == 1 ? 0 : c] : 0.0f;
        float std = pp->nmean ? pp->std[pp->nmean == 1 ? 0 : c] : 1.0f;
        float *p = x + (size_t)c * plane;
        for (size_t i = 0; i < plane; i++)
            p[i] = (p[i] * pp->scale - mean) / std;
    }
}

int ft_image_preproc_apply(const ft_image_preproc *pp, const ft_image *im, ft_shape in, float *out, ft_error *err)
{
    ft_resize_geom g;
    if (plan(pp, im->height, im->width, in, &g, err) != 0 || ft_image_resample(im, in.dim[0], &g, out, err) != 0)
        return -1;
    normalize(pp, out, in);
    return 0;
}

int ft_image_preproc_apply_row(const ft_image_preproc *pp, const uint8_t *chw, int c, int h, int w, ft_shape in,
                               float *out, ft_error *err)
{
    ft_resize_geom g;
    if (plan(pp, h, w, in, &g, err) != 0 || ft_chw_resample(chw, c, h, w, in.dim[0], &g, out, err) != 0)
        return -1;
    normalize(pp, out, in);
    return 0;
}

/* Labels or targets and class names of `from` onto `to` (same rows). */
static int copy_targets(const ft_dataset *from, ft_dataset *to, ft_error *err)
{
    size_t rows = ft_dataset_rows(from);
    if (ft_dataset_target_kind(from) == FT_TARGET_VALUES) {
        memcpy(ft_dataset_targets(to), ft_dataset_ctargets(from),
               rows * (size_t)ft_dataset_target_dim(from) * sizeof(float));
        return 0;
    }
    memcpy(ft_dataset_labels(to), ft_dataset_clabels(from), rows * sizeof(int32_t));
    for (int k = 0; k < ft_dataset_target_dim(from); k++)
        if (ft_dataset_set_class_name(to, k, ft_dataset_class_name(from, k), err) != 0)
            return -1;
    return 0;
}

ft_dataset *ft_image_preproc_dataset(const ft_image_preproc *pp, const ft_dataset *ds, ft_shape in, ft_error *err)
{
    ft_shape s = ft_dataset_shape(ds);
    if (ft_dataset_xtype(ds) != FT_X_U8 || s.rank != 3 || (s.dim[0] != 1 && s.dim[0] != 3)) {
        ft_fail(err, FT_EINVAL, "dataset", "only image datasets ([1 or 3, H, W] of bytes) can be resized to the model");
        return NULL;
    }
    ft_resize_geom g;
    if (plan(pp, s.dim[1], s.dim[2], in, &g, err) != 0)
        return NULL;
    size_t rows = ft_dataset_rows(ds), src_row = ft_shape_size(s), dst_row = ft_shape_size(in);
    ft_dataset *out = ft_dataset_new(rows, in, FT_X_U8, ft_dataset_target_kind(ds), ft_dataset_target_dim(ds), err);
    float *row = malloc(dst_row * sizeof *row);
    if (!out || !row || copy_targets(ds, out, err) != 0) {
        if (out && !row)
            ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        free(row);
        ft_dataset_free(out);
        return NULL;
    }
    const uint8_t *src = ft_dataset_cx_u8(ds);
    uint8_t *dst = ft_dataset_x_u8(out);
    for (size_t r = 0; r < rows; r++) {
        if (ft_chw_resample(src + r * src_row, s.dim[0], s.dim[1], s.dim[2], in.dim[0], &g, row, err) != 0) {
            free(row);
            ft_dataset_free(out);
            return NULL;
        }
        for (size_t i = 0; i < dst_row; i++)
            dst[r * dst_row + i] = (uint8_t)lrintf(fminf(fmaxf(row[i], 0.0f), 255.0f));
    }
    free(row);
    return out;
}
