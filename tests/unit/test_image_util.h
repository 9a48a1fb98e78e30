/* Test helpers: encode PNGs of any type with libpng, build tar archives in
 * memory. Used by test_images.c. */
#ifndef FT_TEST_IMAGE_UTIL_H
#define FT_TEST_IMAGE_UTIL_H

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    unsigned char *data;
    size_t len, cap;
} membuf;

static inline void mb_put(membuf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 1024;
        b->data = realloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void png_write_cb(png_structp png, png_bytep p, png_size_t n) { mb_put(png_get_io_ptr(png), p, n); }
static void png_flush_cb(png_structp png) { (void)png; }

/* Encode w x h samples (channels per pixel from the colour type, each value
 * in 0..2^depth-1, row-major) as a PNG. For palette images `samples` holds
 * indices and palette/npalette the RGB entries; trns (if ntrns) the alpha of
 * the first entries. */
static inline membuf png_encode(int w, int h, int color_type, int depth, int interlace, const unsigned *samples,
                                const png_color *palette, int npalette, const png_byte *trns, int ntrns)
{
    membuf out = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(out.data);
        return (membuf){0};
    }
    png_set_write_fn(png, &out, png_write_cb, png_flush_cb);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color_type,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (color_type == PNG_COLOR_TYPE_PALETTE)
        png_set_PLTE(png, info, palette, npalette);
    if (ntrns)
        png_set_tRNS(png, info, trns, ntrns, NULL);
    png_write_info(png, info);
    int ch = color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_PALETTE ? 1
             : color_type == PNG_COLOR_TYPE_GRAY_ALPHA                                 ? 2
             : color_type == PNG_COLOR_TYPE_RGB                                        ? 3
                                                                                       : 4;
    size_t rowbytes = ((size_t)w * (size_t)ch * (size_t)depth + 7) / 8;
    png_bytep *rows = calloc((size_t)h, sizeof *rows);
    for (int y = 0; y < h; y++) {
        rows[y] = calloc(rowbytes, 1);
        for (int x = 0; x < w * ch; x++) {
            unsigned v = samples[(size_t)y * (size_t)w * (size_t)ch + (size_t)x];
            if (depth == 16) {
                rows[y][2 * x] = (png_byte)(v >> 8);
                rows[y][2 * x + 1] = (png_byte)v;
            } else if (depth == 8) {
                rows[y][x] = (png_byte)v;
            } else {
                int per = 8 / depth, shift = 8 - depth * (x % per + 1);
                rows[y][x / per] |= (png_byte)(v << shift);
            }
        }
    }
    png_write_image(png, rows);
    png_write_end(png, NULL);
    for (int y = 0; y < h; y++)
        free(rows[y]);
    free(rows);
    png_destroy_write_struct(&png, &info);
    return out;
}

/* A ustar header for name (<= 100 bytes, or split into prefix/name). */
static inline void tar_add(membuf *t, const char *name, const void *data, size_t len, char type)
{
    unsigned char h[512] = {0};
    size_t n = strlen(name);
    if (n <= 100) {
        memcpy(h, name, n);
    } else { /* ustar prefix + name */
        const char *split = name + n - 100;
        while (*split && *split != '/')
            split++;
        memcpy(h + 345, name, (size_t)(split - name));
        memcpy(h, split + 1, strlen(split + 1));
    }
    snprintf((char *)h + 100, 8, "%07o", 0644);
    snprintf((char *)h + 108, 8, "%07o", 0);
    snprintf((char *)h + 116, 8, "%07o", 0);
    snprintf((char *)h + 124, 12, "%011o", (unsigned)len);
    snprintf((char *)h + 136, 12, "%011o", 0);
    memset(h + 148, ' ', 8);
    h[156] = (unsigned char)type;
    memcpy(h + 257, "ustar\0" "00", 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    h[155] = ' ';
    mb_put(t, h, 512);
    if (len)
        mb_put(t, data, len);
    static const unsigned char zero[512];
    mb_put(t, zero, (512 - len % 512) % 512);
}

static inline void tar_end(membuf *t)
{
    static const unsigned char zero[1024];
    mb_put(t, zero, 1024);
}

#endif
