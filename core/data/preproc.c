/* Preprocessing: how raw dataset rows become model inputs. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/data/dataset.h"
#include "core/data/image_preproc.h"

void ft_preproc_init(ft_preproc *pp, const ft_dataset *ds)
{
    memset(pp, 0, sizeof *pp);
    pp->scale = ft_dataset_xtype(ds) == FT_X_U8 ? 1.0f / 255.0f : 1.0f;
}

void ft_preproc_free(ft_preproc *pp)
{
    free(pp->mean);
    free(pp->std);
    pp->mean = pp->std = NULL;
    pp->features = 0;
}

int ft_preproc_fit_standardize(ft_preproc *pp, const ft_dataset *ds, ft_error *err)
{
    size_t f = ft_shape_size(ft_dataset_shape(ds)), rows = ft_dataset_rows(ds);
    if (rows == 0)
        return ft_fail(err, FT_EINVAL, NULL, "cannot fit standardisation on an empty dataset");
    if (f > SIZE_MAX / sizeof(double))
        return ft_fail(err, FT_ENOMEM, NULL, "too many features");
    double *sum = calloc(f, sizeof *sum), *sq = calloc(f, sizeof *sq);
    float *mean = malloc(f * sizeof *mean), *std = malloc(f * sizeof *std);
    float *row = malloc(f * sizeof *row);
    if (!sum || !sq || !mean || !std || !row) {
        free(sum), free(sq), free(mean), free(std), free(row);
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    }
    /* Two passes (mean, then squared deviations from it): the one-pass
     * E[x^2] - E[x]^2 loses every digit when a feature's mean is large
     * compared with its spread (timestamps, prices, sensor offsets). */
    ft_preproc scale_only = {.scale = pp->scale};
    for (size_t r = 0; r < rows; r++) {
        uint32_t i = (uint32_t)r;
        ft_dataset_gather(ds, &scale_only, &i, 1, row);
        for (size_t j = 0; j < f; j++)
            sum[j] += row[j];
    }
    for (size_t j = 0; j < f; j++)
        sum[j] /= (double)rows;
    for (size_t r = 0; r < rows; r++) {
        uint32_t i = (uint32_t)r;
        ft_dataset_gather(ds, &scale_only, &i, 1, row);
        for (size_t j = 0; j < f; j++) {
            double d = row[j] - sum[j];
            sq[j] += d * d;
        }
    }
    for (size_t j = 0; j < f; j++) {
        /* Population standard deviation (ddof = 0), as scikit-learn's StandardScaler. */
        double sd = sqrt(sq[j] / (double)rows);
        mean[j] = (float)sum[j];
        /* A constant feature would divide by zero: leave it centred, unscaled. */
        std[j] = sd > 1e-12 * fmax(1.0, fabs(sum[j])) ? (float)sd : 1.0f;
    }
    free(sum), free(sq), free(row);
    ft_preproc_free(pp);
    pp->features = f;
    pp->mean = mean;
    pp->std = std;
    return 0;
}

json_t *ft_preproc_to_json(const ft_preproc *pp)
{
    json_t *j = json_pack("{s:f}", "scale", (double)pp->scale);
    if (j && pp->features) {
        json_t *mean = json_array(), *std = json_array();
        for (size_t i = 0; i < pp->features; i++) {
            json_array_append_new(mean, json_real(pp->mean[i]));
            json_array_append_new(std, json_real(pp->std[i]));
        }
        json_object_set_new(j, "mean", mean);
        json_object_set_new(j, "std", std);
    }
    return j;
}

static int read_floats(const json_t *a, size_t n, float **out, const char *what, ft_error *err)
{
    if (!json_is_array(a) || json_array_size(a) != n)
        return ft_fail(err, FT_EFORMAT, what, "preprocessing %s must be an array of %zu numbers", what, n);
    float *v = malloc(n * sizeof *v);
    if (!v)
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(a, i);
        if (!json_is_number(x) || !isfinite(json_number_value(x))) {
            free(v);
            return ft_fail(err, FT_EFORMAT, what, "preprocessing %s[%zu] is not a number", what, i);
        }
        v[i] = (float)json_number_value(x);
    }
    *out = v;
    return 0;
}

/* The image form's scale and per-channel mean / std as per-feature values
 * of CHW rows (its resize and crop are for images, see image_preproc.h). */
static int from_image_form(ft_preproc *pp, const json_t *j, size_t features, ft_error *err)
{
    ft_image_preproc ip;
    if (ft_image_preproc_from_json(j, &ip, err) != 0)
        return -1;
    pp->scale = ip.scale;
    if (!ip.nmean)
        return 0;
    if (features % (size_t)ip.nmean != 0)
        return ft_fail(err, FT_EFORMAT, "mean", "preprocessing has %d channels but the input %zu values", ip.nmean,
                       features);
    pp->mean = malloc(features * sizeof *pp->mean);
    pp->std = malloc(features * sizeof *pp->std);
    if (!pp->mean || !pp->std) {
        ft_preproc_free(pp);
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    }
    size_t plane = features / (size_t)ip.nmean;
    for (size_t i = 0; i < features; i++) {
        pp->mean[i] = ip.mean[i / plane];
        pp->std[i] = ip.std[i / plane];
    }
    pp->features = features;
    return 0;
}

int ft_preproc_from_json(ft_preproc *pp, const json_t *j, size_t features, ft_error *err)
{
    memset(pp, 0, sizeof *pp);
    if (ft_image_preproc_is_image(j))
        return from_image_form(pp, j, features, err);
    json_t *scale = json_object_get(j, "scale");
    if (!json_is_object(j) || !json_is_number(scale) || !(json_number_value(scale) > 0))
        return ft_fail(err, FT_EFORMAT, "preprocessing", "preprocessing needs a positive scale");
    pp->scale = (float)json_number_value(scale);
    json_t *mean = json_object_get(j, "mean"), *std = json_object_get(j, "std");
    if (!mean && !std)
        return 0;
    if (read_floats(mean, features, &pp->mean, "mean", err) != 0 ||
        read_floats(std, features, &pp->std, "std", err) != 0) {
        ft_preproc_free(pp);
        return -1;
    }
    for (size_t i = 0; i < features; i++)
        if (!(pp->std[i] > 0)) {
            ft_preproc_free(pp);
            return ft_fail(err, FT_EFORMAT, "std", "preprocessing std[%zu] must be positive", i);
        }
    pp->features = features;
    return 0;
}

void ft_dataset_gather(const ft_dataset *ds, const ft_preproc *pp, const uint32_t *idx, size_t n,
                       float *out)
{
    size_t f = ft_shape_size(ft_dataset_shape(ds));
    const uint8_t *xu = ft_dataset_cx_u8(ds);
    const float *xf = ft_dataset_cx_f32(ds);
    float scale = pp->scale;
    for (size_t i = 0; i < n; i++) {
        float *o = out + i * f;
        if (xu) {
            const uint8_t *r = xu + (size_t)idx[i] * f;
            for (size_t j = 0; j < f; j++)
                o[j] = (float)r[j] * scale;
        } else {
            const float *r = xf + (size_t)idx[i] * f;
            for (size_t j = 0; j < f; j++)
                o[j] = r[j] * scale;
        }
    }
    ft_preproc_normalize(pp, out, n, f);
}

void ft_preproc_normalize(const ft_preproc *pp, float *rows, size_t n, size_t f)
{
    if (pp->features != f)
        return;
    for (size_t i = 0; i < n; i++) {
        float *o = rows + i * f;
        for (size_t j = 0; j < f; j++)
            o[j] = (o[j] - pp->mean[j]) / pp->std[j];
    }
}
