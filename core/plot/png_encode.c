#include "core/plot/png_encode.h"

#include <png.h>
#include <stdlib.h>
#include <string.h>

/* PNG allows 2^31-1; the cap keeps a typo from asking for gigabytes. */
enum { PNG_MAX_SIDE = 1 << 15 };

/* The growing output buffer, plus where libpng's error message goes. It lives
 * in ft_png_encode's frame, which never calls setjmp, so its fields keep their
 * values across libpng's longjmp. */
typedef struct {
    unsigned char *data;
    size_t len, cap;
    int out_of_memory;
    ft_error *err;
} png_sink;

static void sink_write(png_structp png, png_bytep bytes, png_size_t n)
{
    png_sink *sink = png_get_io_ptr(png);
    if (n > SIZE_MAX - sink->len) {
        sink->out_of_memory = 1;
        png_error(png, "output size overflows");
    }
    if (sink->len + n > sink->cap) {
        size_t cap = sink->cap ? sink->cap : 4096;
        while (cap < sink->len + n)
            cap = cap > SIZE_MAX / 2 ? sink->len + n : cap * 2;
        unsigned char *grown = realloc(sink->data, cap);
        if (!grown) {
            sink->out_of_memory = 1;
            png_error(png, "out of memory");
        }
        sink->data = grown;
        sink->cap = cap;
    }
    memcpy(sink->data + sink->len, bytes, n);
    sink->len += n;
}

static void sink_flush(png_structp png)
{
    (void)png; /* in memory: nothing to flush */
}

/* libpng must not return from its error handler: record, then jump back. */
static void on_png_error(png_structp png, png_const_charp msg)
{
    png_sink *sink = png_get_error_ptr(png);
    ft_fail(sink->err, sink->out_of_memory ? FT_ENOMEM : FT_EIO, NULL, "png encode: %s", msg);
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png; /* library code never prints; warnings do not change the output */
    (void)msg;
}

/* The part that runs under setjmp. It modifies no local after setjmp, so
 * nothing here is indeterminate after a longjmp; the caller cleans up. */
static int write_image(png_structp png, png_infop info, const uint8_t *pixels, int width,
                       int height, int channels)
{
    if (setjmp(png_jmpbuf(png)))
        return -1;
    static const int color_type[] = {0, PNG_COLOR_TYPE_GRAY, 0, PNG_COLOR_TYPE_RGB,
                                     PNG_COLOR_TYPE_RGB_ALPHA};
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, color_type[channels],
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    size_t stride = (size_t)width * (size_t)channels;
    for (int y = 0; y < height; y++)
        png_write_row(png, pixels + (size_t)y * stride);
    png_write_end(png, NULL);
    return 0;
}

int ft_png_encode(const uint8_t *pixels, int width, int height, int channels,
                  unsigned char **png_out, size_t *png_len, ft_error *err)
{
    if (png_out)
        *png_out = NULL;
    if (png_len)
        *png_len = 0;
    if (!pixels || !png_out || !png_len)
        return ft_fail(err, FT_EINVAL, NULL, "png encode: NULL argument");
    if (width < 1 || height < 1 || width > PNG_MAX_SIDE || height > PNG_MAX_SIDE)
        return ft_fail(err, FT_EINVAL, NULL, "png encode: size %dx%d outside 1..%d", width,
                       height, PNG_MAX_SIDE);
    if (channels != 1 && channels != 3 && channels != 4)
        return ft_fail(err, FT_EINVAL, NULL, "png encode: %d channels (want 1, 3 or 4)", channels);

    png_sink sink = {.err = err};
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink, on_png_error, on_png_warning);
    if (!png)
        return ft_fail(err, FT_ENOMEM, NULL, "png encode: out of memory");
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return ft_fail(err, FT_ENOMEM, NULL, "png encode: out of memory");
    }
    png_set_write_fn(png, &sink, sink_write, sink_flush);
    int rc = write_image(png, info, pixels, width, height, channels);
    png_destroy_write_struct(&png, &info);
    if (rc != 0) {
        free(sink.data);
        return -1;
    }
    *png_out = sink.data;
    *png_len = sink.len;
    return 0;
}
