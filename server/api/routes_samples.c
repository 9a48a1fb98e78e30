/* GET /v1/datasets/{id}/samples/{i}.png: row i of an image dataset as a
 * PNG, so that the dashboard can show a few (docs/dashboard.md). Gray or
 * RGB as stored; float images are stretched to their own range. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/data/dataset.h"
#include "core/plot/canvas.h"
#include "server/api/routes.h"

/* "<digits>.png" -> row; false for anything else. */
static bool parse_name(const char *s, size_t *row)
{
    size_t n = strspn(s, "0123456789");
    if (n == 0 || n > 9 || strcmp(s + n, ".png") != 0)
        return false;
    *row = (size_t)strtoul(s, NULL, 10);
    return true;
}

/* Value j of the sample as a byte: u8 as stored, f32 by the sample's range. */
static uint8_t byte_at(const ft_dataset *ds, size_t base, size_t j, float lo, float hi)
{
    if (ft_dataset_xtype(ds) == FT_X_U8)
        return ft_dataset_cx_u8(ds)[base + j];
    float v = ft_dataset_cx_f32(ds)[base + j];
    return (uint8_t)lrintf(hi > lo ? 255.0f * (v - lo) / (hi - lo) : 0.0f);
}

/* The PNG of sample row (rank-3 shape with 1 or 3 channels). */
static int sample_png(const ft_dataset *ds, size_t row, unsigned char **png, size_t *len, ft_error *err)
{
    ft_shape s = ft_dataset_shape(ds);
    int c = s.dim[0], h = s.dim[1], w = s.dim[2];
    size_t plane = (size_t)h * (size_t)w, base = row * ft_shape_size(s);
    float lo = INFINITY, hi = -INFINITY;
    if (ft_dataset_xtype(ds) == FT_X_F32)
        for (size_t j = 0; j < ft_shape_size(s); j++) {
            lo = fminf(lo, ft_dataset_cx_f32(ds)[base + j]);
            hi = fmaxf(hi, ft_dataset_cx_f32(ds)[base + j]);
        }
    ft_canvas cv;
    if (ft_canvas_init(&cv, w, h, err) != 0)
        return -1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *px = ft_canvas_pixel(&cv, x, y);
            size_t at = (size_t)y * (size_t)w + (size_t)x;
            for (int k = 0; k < 3; k++)
                px[k] = byte_at(ds, base, (c == 3 ? (size_t)k * plane : 0) + at, lo, hi);
        }
    return ft_canvas_finish(&cv, png, len, err);
}

void ft_route_dataset_sample(ft_app *app, ft_req *r)
{
    const char *id = ft_route_id(r, "ds", "dataset");
    if (!id)
        return;
    size_t row;
    if (!parse_name(ft_req_param(r, "file"), &row)) {
        ft_reply_error(r, 404, "not_found", "file", "a sample is named <row>.png, as in samples/0.png");
        return;
    }
    ft_error err = {0};
    ft_dataset *ds = ft_stored_dataset_load(app, id, NULL, &err);
    if (!ds) {
        ft_reply_ft_error(r, &err, 422);
        return;
    }
    ft_shape s = ft_dataset_shape(ds);
    unsigned char *png = NULL;
    size_t len = 0;
    if (s.rank != 3 || (s.dim[0] != 1 && s.dim[0] != 3))
        ft_reply_error(r, 404, "not_found", "id", "dataset %s has no images: its rows are %d-dimensional", id, s.rank);
    else if (row >= ft_dataset_rows(ds))
        ft_reply_error(r, 404, "not_found", "file", "dataset %s has %zu rows: no row %zu", id, ft_dataset_rows(ds), row);
    else if (sample_png(ds, row, &png, &len, &err) != 0)
        ft_reply_ft_error(r, &err, 422);
    else
        ft_reply_bytes(r, 200, "image/png", png, len, true);
    ft_dataset_free(ds);
}
