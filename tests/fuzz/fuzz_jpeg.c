/* libFuzzer: JPEG (and PNG, by their magic) decoding through ft_image_decode,
 * then the crop geometries: cover + center crop and a model's preprocessing
 * (resize of the shorter side, center crop). The first byte picks the
 * output channels and size. */
#include <stdlib.h>

#include "core/data/image_preproc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    ft_image im;
    ft_error err;
    if (ft_image_decode(data + 1, size - 1, 1u << 18, &im, &err) != 0)
        return 0;
    int ch = data[0] & 1 ? 3 : 1, h = 1 + (data[0] >> 1 & 15), w = 1 + (data[0] >> 5);
    uint8_t *out = malloc((size_t)ch * (size_t)h * (size_t)w);
    ft_resize_geom g = ft_geom_cover(im.height, im.width, h, w);
    if (out)
        ft_image_to_chw_geom(&im, ch, &g, out, &err);
    float *x = malloc(sizeof *x * (size_t)ch * (size_t)h * (size_t)w);
    ft_image_preproc pp = {.resize = 1 + (data[0] & 31), .crop_h = h, .crop_w = w, .scale = 1.0f / 255};
    if (x)
        ft_image_preproc_apply(&pp, &im, ft_shape3(ch, h, w), x, &err);
    free(out);
    free(x);
    ft_image_free(&im);
    return 0;
}
