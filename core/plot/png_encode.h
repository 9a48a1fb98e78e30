/* Encode a raw 8-bit image as a PNG in memory, with libpng.
 *
 * Used by the charts and by the service wherever it answers with an image.
 * No files, no printing: libpng warnings are dropped and its errors come back
 * as an ft_error, with everything it allocated freed.
 */
#ifndef FT_PNG_ENCODE_H
#define FT_PNG_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "core/util/error.h"

/* Encode width x height pixels of `channels` bytes each (1 gray, 3 RGB, 4 RGBA),
 * rows top to bottom with no padding, into a malloc'd PNG in *png of *png_len
 * bytes (caller frees). On error returns -1, leaves *png NULL and fills err. */
int ft_png_encode(const uint8_t *pixels, int width, int height, int channels,
                  unsigned char **png, size_t *png_len, ft_error *err);

#endif
