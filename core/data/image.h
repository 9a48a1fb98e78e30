/* PNG decoding and image conversion for image datasets (internal to core/
 * and the fuzz harnesses). */
#ifndef FT_IMAGE_H
#define FT_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/util/error.h"

/* A decoded image: 8-bit, interleaved (height x width x channels). */
typedef struct {
    int width, height; /* pixels */
    int channels;      /* 1 (gray) or 3 (RGB); alpha is always dropped */
    uint8_t *pixels;   /* height * width * channels bytes (malloc'd) */
} ft_image;

/* Decode a PNG held in memory: any bit depth (16-bit rounds to 8), gray,
 * gray+alpha, RGB, RGBA, palette, interlaced or not. Images of more than
 * max_pixels pixels are refused before any pixel memory is allocated
 * (FT_ETOOBIG), corrupt or truncated data is an FT_EFORMAT error. */
int ft_png_decode(const void *data, size_t len, uint64_t max_pixels, ft_image *out, ft_error *err);

void ft_image_free(ft_image *im);

/* Convert to `channels` (1: ITU-R 601 luma as PIL's convert("L"); 3: gray
 * replicated) and resize bilinearly to out_h x out_w (half-pixel centres, as
 * tf.image.resize without antialiasing), rounding to the nearest uint8.
 * dst receives channels x out_h x out_w bytes, planar (CHW). */
int ft_image_to_chw(const ft_image *im, int channels, int out_h, int out_w, uint8_t *dst, ft_error *err);

#endif
