/* PNG and JPEG decoding and image conversion for image datasets and
 * predict (internal to core/, server/api and the fuzz harnesses). */
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

/* Decode a JPEG held in memory, with ft_png_decode's contract: gray stays
 * gray, YCbCr and RGB become RGB, baseline or progressive; CMYK / YCCK are
 * refused; max_pixels is checked from the header; truncated or corrupt data
 * is FT_EFORMAT naming the problem. */
int ft_jpeg_decode(const void *data, size_t len, uint64_t max_pixels, ft_image *out, ft_error *err);

/* Decode a PNG or a JPEG, recognised by its magic bytes (not by any name). */
int ft_image_decode(const void *data, size_t len, uint64_t max_pixels, ft_image *out, ft_error *err);

/* The width and height a PNG or JPEG header declares, without decoding
 * (-1: neither, or no readable header). */
int ft_image_size(const void *data, size_t len, int *width, int *height);

void ft_image_free(ft_image *im);

/* Where a resize puts an image: the source is resized to rh x rw, of which
 * the window at (top, left) of out_h x out_w is kept (a window reaching
 * outside the resized image is padded with zeros). */
typedef struct {
    int rh, rw;       /* the resized image */
    int top, left;    /* the window's first row and column in it (negative: padding) */
    int out_h, out_w; /* the window: the output */
} ft_resize_geom;

/* Resize to out_h x out_w whatever the aspect ratio (no crop). */
ft_resize_geom ft_geom_squash(int out_h, int out_w);

/* Resize h x w, keeping its aspect ratio, to the smallest size that covers
 * out_h x out_w, then center-crop (torchvision Resize + CenterCrop); an
 * image of the target's aspect ratio is plainly resized. */
ft_resize_geom ft_geom_cover(int h, int w, int out_h, int out_w);

/* torchvision Resize(resize) (the shorter side; 0: no resize) then
 * CenterCrop((out_h, out_w)), Python's rounding of the offsets included. */
ft_resize_geom ft_geom_shorter(int h, int w, int resize, int out_h, int out_w);

/* Convert to `channels` (1: ITU-R 601 luma as PIL's convert("L"); 3: gray
 * replicated) and resample bilinearly through g (half-pixel centres, as
 * tf.image.resize and torch's interpolate without antialiasing): dst gets
 * channels x g->out_h x g->out_w floats (0..255, unrounded), planar. */
int ft_image_resample(const ft_image *im, int channels, const ft_resize_geom *g, float *dst, ft_error *err);

/* The same from a stored planar row (c x h x w bytes; c is `channels`, or
 * 1, replicated). */
int ft_chw_resample(const uint8_t *chw, int c, int h, int w, int channels, const ft_resize_geom *g, float *dst,
                    ft_error *err);

/* ft_image_resample rounded to the nearest uint8. */
int ft_image_to_chw_geom(const ft_image *im, int channels, const ft_resize_geom *g, uint8_t *dst, ft_error *err);

/* ft_image_to_chw_geom with ft_geom_squash(out_h, out_w). */
int ft_image_to_chw(const ft_image *im, int channels, int out_h, int out_w, uint8_t *dst, ft_error *err);

#endif
