/* libFuzzer: PNG decoding, colour conversion and resizing. The first byte
 * picks the output channels and size. */
#include <stdlib.h>

#include "core/data/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    ft_image im;
    ft_error err;
    if (ft_png_decode(data + 1, size - 1, 1u << 18, &im, &err) != 0)
        return 0;
    int ch = data[0] & 1 ? 3 : 1, h = 1 + (data[0] >> 1 & 15), w = 1 + (data[0] >> 5);
    uint8_t *out = malloc((size_t)ch * (size_t)h * (size_t)w);
    if (out)
        ft_image_to_chw(&im, ch, h, w, out, &err);
    uint8_t *same = malloc((size_t)ch * (size_t)im.height * (size_t)im.width);
    if (same)
        ft_image_to_chw(&im, ch, im.height, im.width, same, &err);
    free(out);
    free(same);
    ft_image_free(&im);
    return 0;
}
