/* PNG decoding with libpng, from memory, with bounded allocations.
 *
 * libpng reports errors by longjmp. Everything the decoder allocates lives in
 * a context owned by the caller of the setjmp function, so the error path
 * can free it without touching locals that longjmp leaves indeterminate. */
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/data/image.h"

typedef struct {
    const unsigned char *data; /* the PNG bytes */
    size_t len, pos;           /* their count and the read position */
    jmp_buf jump;              /* where libpng errors land */
    char msg[200];             /* libpng's error message */
    png_structp png;           /* decoder state */
    png_infop info;            /* header information */
    uint8_t *pixels;           /* decoded image */
    png_bytep *rows;           /* row pointers into pixels */
    ft_errcode code;           /* FT_EFORMAT, or FT_ETOOBIG / FT_ENOMEM set before png_error */
} png_ctx;

static void on_error(png_structp png, png_const_charp msg)
{
    png_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg);
    longjmp(c->jump, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png, (void)msg; /* core/ never prints; warnings change nothing we keep */
}

static void on_read(png_structp png, png_bytep dst, png_size_t n)
{
    png_ctx *c = png_get_io_ptr(png);
    if (c->len - c->pos < n)
        png_error(png, "the PNG data ends early (truncated)");
    memcpy(dst, c->data + c->pos, n);
    c->pos += n;
}

/* Runs under setjmp: returns 0, or -1 after an error filled c->msg. */
static int decode(png_ctx *c, uint64_t max_pixels, ft_image *out)
{
    if (setjmp(c->jump))
        return -1;
    png_set_read_fn(c->png, c, on_read);
#ifdef FT_FUZZING
    /* Fuzz builds only: use chunks whatever their CRC, so mutations reach
     * the decoder instead of all dying at the checksum. */
    png_set_crc_action(c->png, PNG_CRC_QUIET_USE, PNG_CRC_QUIET_USE);
#endif
    png_set_user_limits(c->png, 1u << 24, 1u << 24);
    png_set_chunk_malloc_max(c->png, 8u << 20); /* text / ICC chunks: no decompression bombs */
    png_read_info(c->png, c->info);
    png_uint_32 w, h;
    int depth, color, interlace;
    png_get_IHDR(c->png, c->info, &w, &h, &depth, &color, &interlace, NULL, NULL);
    if ((uint64_t)w * h > max_pixels) {
        c->code = FT_ETOOBIG;
        snprintf(c->msg, sizeof c->msg, "the image is %ux%u pixels, more than the limit of %llu", (unsigned)w,
                 (unsigned)h, (unsigned long long)max_pixels);
        return -1;
    }
    if (color == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(c->png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(c->png);
    if (depth == 16)
        png_set_scale_16(c->png); /* rounds, unlike strip_16 */
    /* Expanding a palette also expands its tRNS chunk into an alpha channel. */
    if ((color & PNG_COLOR_MASK_ALPHA) || (color == PNG_COLOR_TYPE_PALETTE && png_get_valid(c->png, c->info, PNG_INFO_tRNS)))
        png_set_strip_alpha(c->png);
    png_set_interlace_handling(c->png);
    png_read_update_info(c->png, c->info);
    int channels = png_get_channels(c->png, c->info);
    size_t rowbytes = png_get_rowbytes(c->png, c->info);
    if ((channels != 1 && channels != 3) || rowbytes != (size_t)w * (size_t)channels)
        png_error(c->png, "unexpected pixel layout after conversion");
    c->pixels = malloc(rowbytes * (size_t)h + 1);
    c->rows = malloc(sizeof *c->rows * ((size_t)h + 1));
    if (!c->pixels || !c->rows) {
        c->code = FT_ENOMEM;
        snprintf(c->msg, sizeof c->msg, "out of memory for a %ux%u image", (unsigned)w, (unsigned)h);
        return -1;
    }
    for (png_uint_32 y = 0; y < h; y++)
        c->rows[y] = c->pixels + (size_t)y * rowbytes;
    png_read_image(c->png, c->rows);
    png_read_end(c->png, NULL); /* checks the chunks after the pixels, up to IEND */
    out->width = (int)w;
    out->height = (int)h;
    out->channels = channels;
    out->pixels = c->pixels;
    c->pixels = NULL;
    return 0;
}

int ft_png_decode(const void *data, size_t len, uint64_t max_pixels, ft_image *out, ft_error *err)
{
    memset(out, 0, sizeof *out);
    if (len < 8 || png_sig_cmp((png_const_bytep)data, 0, 8) != 0)
        return ft_fail(err, FT_EFORMAT, NULL, "not a PNG file (bad signature)");
    png_ctx c;
    memset(&c, 0, sizeof c);
    c.data = data;
    c.len = len;
    c.code = FT_EFORMAT;
    c.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &c, on_error, on_warning);
    if (c.png)
        c.info = png_create_info_struct(c.png);
    if (!c.png || !c.info) {
        png_destroy_read_struct(&c.png, NULL, NULL);
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory for the PNG decoder");
    }
    int rc = decode(&c, max_pixels, out);
    png_destroy_read_struct(&c.png, &c.info, NULL);
    free(c.rows);
    free(c.pixels);
    if (rc != 0)
        return c.code == FT_EFORMAT ? ft_fail(err, c.code, NULL, "corrupt PNG: %s", c.msg)
                                    : ft_fail(err, c.code, NULL, "%s", c.msg);
    return 0;
}

void ft_image_free(ft_image *im)
{
    free(im->pixels);
    im->pixels = NULL;
}
