/* Test helpers: a PNG decoded back to RGB pixels with libpng, and looking
 * at them. Used by test_plot.c and test_plot_history.c. */
#ifndef FT_PNG_PIXELS_H
#define FT_PNG_PIXELS_H

#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A decoded image: w x h pixels of 3 bytes. */
typedef struct {
    uint8_t *rgb;
    int w, h;
} image;

/* Decode png into img (img->rgb malloc'd, NULL on failure); 0 on success. */
static inline int decode(const unsigned char *png, size_t len, image *img)
{
    png_image pi;
    memset(&pi, 0, sizeof pi);
    img->rgb = NULL;
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&pi, png, len))
        return -1;
    pi.format = PNG_FORMAT_RGB;
    img->w = (int)pi.width;
    img->h = (int)pi.height;
    img->rgb = malloc(PNG_IMAGE_SIZE(pi));
    if (!img->rgb || !png_image_finish_read(&pi, NULL, img->rgb, 0, NULL)) {
        png_image_free(&pi);
        free(img->rgb);
        img->rgb = NULL;
        return -1;
    }
    return 0;
}

/* Write the PNG at path for a human to look at (best effort). */
static inline void save(const char *path, const unsigned char *png, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(png, 1, len, f);
        fclose(f);
    }
}

/* The pixel at (x, y) as 0xRRGGBB. */
static inline uint32_t px(const image *img, int x, int y)
{
    const uint8_t *p = img->rgb + ((size_t)y * (size_t)img->w + (size_t)x) * 3;
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* Pixels of exactly this colour in the whole image. */
static inline int count_colour(const image *img, uint32_t rgb)
{
    int count = 0;
    for (int y = 0; y < img->h; y++)
        for (int x = 0; x < img->w; x++)
            count += px(img, x, y) == rgb;
    return count;
}

#endif
