/* JPEG decoding with libjpeg-turbo, from memory, with bounded allocations.
 *
 * libjpeg reports fatal errors through error_exit, which by default prints
 * and calls exit(): ours longjmps back to decode()'s caller instead, and its
 * warnings are silenced (core/ never prints). As in png_decode.c, what the
 * decoder allocates lives in a context the setjmp caller owns.
 *
 * Our source manager never invents data: libjpeg's memory source pads a
 * truncated file with a fake end-of-image marker and decodes grey rows,
 * where we want the truncation to be an error. Recoverable corruption that
 * libjpeg only warns about (extraneous bytes before a marker, which real
 * camera files have) is accepted, as PIL and TensorFlow accept it. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "core/data/image.h"

/* Progressive files may hold thousands of tiny scans that each cost a pass
 * over the image: a small file could then take minutes (libjpeg-turbo's
 * own fuzzers use the same limit). */
#define MAX_SCANS 500

typedef struct {
    struct jpeg_error_mgr pub;          /* libjpeg's error manager (first: cast target) */
    struct jpeg_source_mgr src;         /* reads from the caller's buffer */
    struct jpeg_progress_mgr progress;  /* counts progressive scans */
    struct jpeg_decompress_struct info; /* decoder state */
    jmp_buf jump;                       /* where errors land */
    char msg[JMSG_LENGTH_MAX + 64];     /* what went wrong */
    ft_errcode code;                    /* FT_EFORMAT, or FT_ETOOBIG / FT_ENOMEM */
    uint8_t *pixels;                    /* decoded image */
} jpeg_ctx;

static jpeg_ctx *ctx_of(j_common_ptr info) { return (jpeg_ctx *)(void *)info->err; }

static void on_error(j_common_ptr info)
{
    jpeg_ctx *c = ctx_of(info);
    char text[JMSG_LENGTH_MAX];
    info->err->format_message(info, text);
    snprintf(c->msg, sizeof c->msg, "%s", text);
    longjmp(c->jump, 1);
}

static void on_message(j_common_ptr info, int level) { (void)info, (void)level; }

/* Fail from inside libjpeg with our own message. */
static void fail(jpeg_ctx *c, ft_errcode code, const char *msg)
{
    c->code = code;
    snprintf(c->msg, sizeof c->msg, "%s", msg);
    longjmp(c->jump, 1);
}

static void src_init(j_decompress_ptr info) { (void)info; }
static void src_term(j_decompress_ptr info) { (void)info; }

/* Called only when the whole buffer has been consumed. */
static boolean src_fill(j_decompress_ptr info)
{
    fail(ctx_of((j_common_ptr)info), FT_EFORMAT, "the JPEG data ends early (truncated)");
    return FALSE;
}

static void src_skip(j_decompress_ptr info, long n)
{
    struct jpeg_source_mgr *s = info->src;
    if (n <= 0)
        return;
    if ((size_t)n > s->bytes_in_buffer)
        fail(ctx_of((j_common_ptr)info), FT_EFORMAT, "the JPEG data ends early (truncated)");
    s->next_input_byte += n;
    s->bytes_in_buffer -= (size_t)n;
}

static void on_progress(j_common_ptr info)
{
    j_decompress_ptr d = (j_decompress_ptr)info;
    if (d->input_scan_number > MAX_SCANS) {
        jpeg_ctx *c = ctx_of(info);
        snprintf(c->msg, sizeof c->msg, "more than %d progressive scans", MAX_SCANS);
        longjmp(c->jump, 1);
    }
}

/* Runs under setjmp: returns 0, or -1 after an error filled c->msg. With
 * out NULL it reads only the header (the size goes to out_w, out_h). */
static int decode(jpeg_ctx *c, const void *data, size_t len, uint64_t max_pixels, ft_image *out, int *out_w,
                  int *out_h)
{
    if (setjmp(c->jump))
        return -1;
    j_decompress_ptr d = &c->info;
    jpeg_create_decompress(d);
    c->src = (struct jpeg_source_mgr){.next_input_byte = data, .bytes_in_buffer = len, .init_source = src_init,
                                      .fill_input_buffer = src_fill, .skip_input_data = src_skip,
                                      .resync_to_restart = jpeg_resync_to_restart, .term_source = src_term};
    d->src = &c->src;
    c->progress.progress_monitor = on_progress;
    d->progress = &c->progress;
    jpeg_read_header(d, TRUE);
    *out_w = (int)d->image_width;
    *out_h = (int)d->image_height;
    if (!out)
        return 0;
    if ((uint64_t)d->image_width * d->image_height > max_pixels) {
        snprintf(c->msg, sizeof c->msg, "the image is %ux%u pixels, more than the limit of %llu",
                 (unsigned)d->image_width, (unsigned)d->image_height, (unsigned long long)max_pixels);
        c->code = FT_ETOOBIG;
        return -1;
    }
    switch (d->jpeg_color_space) {
    case JCS_GRAYSCALE:
        d->out_color_space = JCS_GRAYSCALE;
        break;
    case JCS_RGB:
    case JCS_YCbCr:
        d->out_color_space = JCS_RGB;
        break;
    default: /* CMYK and YCCK: Adobe's inverted ink values need a colour profile to look right */
        fail(c, FT_EFORMAT, "CMYK JPEG images are not supported; save it as RGB");
    }
    jpeg_start_decompress(d);
    size_t w = d->output_width, h = d->output_height, ch = (size_t)d->output_components;
    if (ch != 1 && ch != 3)
        fail(c, FT_EFORMAT, "unexpected pixel layout after conversion");
    if (!(c->pixels = malloc(w * h * ch + 1)))
        fail(c, FT_ENOMEM, "out of memory for the decoded image");
    while (d->output_scanline < d->output_height) {
        JSAMPROW row = c->pixels + (size_t)d->output_scanline * w * ch;
        jpeg_read_scanlines(d, &row, 1);
    }
    jpeg_finish_decompress(d);
    out->width = (int)w;
    out->height = (int)h;
    out->channels = (int)ch;
    out->pixels = c->pixels;
    c->pixels = NULL;
    return 0;
}

static int is_jpeg(const void *data, size_t len) { return len >= 3 && memcmp(data, "\xff\xd8\xff", 3) == 0; }

static int is_png(const void *data, size_t len) { return len >= 8 && memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0; }

/* Decode (or with out NULL, only read the size of) a JPEG. */
static int run(const void *data, size_t len, uint64_t max_pixels, ft_image *out, int *w, int *h, ft_error *err)
{
    if (!is_jpeg(data, len))
        return ft_fail(err, FT_EFORMAT, NULL, "not a JPEG file (bad signature)");
    jpeg_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory for the JPEG decoder");
    c->code = FT_EFORMAT;
    c->info.err = jpeg_std_error(&c->pub);
    c->pub.error_exit = on_error;
    c->pub.emit_message = on_message;
    int rc = decode(c, data, len, max_pixels, out, w, h);
    jpeg_destroy_decompress(&c->info);
    free(c->pixels);
    if (rc != 0)
        rc = c->code == FT_EFORMAT ? ft_fail(err, c->code, NULL, "corrupt JPEG: %s", c->msg)
                                   : ft_fail(err, c->code, NULL, "%s", c->msg);
    free(c);
    return rc;
}

int ft_jpeg_decode(const void *data, size_t len, uint64_t max_pixels, ft_image *out, ft_error *err)
{
    int w, h;
    memset(out, 0, sizeof *out);
    return run(data, len, max_pixels, out, &w, &h, err);
}

int ft_image_size(const void *data, size_t len, int *width, int *height)
{
    const unsigned char *p = data;
    ft_error err;
    if (is_jpeg(data, len))
        return run(data, len, 0, NULL, width, height, &err) == 0 && *width > 0 && *height > 0 ? 0 : -1;
    /* PNG: the IHDR chunk comes first, its width and height big-endian. */
    if (!is_png(data, len) || len < 24 || memcmp(p + 12, "IHDR", 4) != 0)
        return -1;
    uint32_t w = (uint32_t)p[16] << 24 | (uint32_t)p[17] << 16 | (uint32_t)p[18] << 8 | p[19];
    uint32_t h = (uint32_t)p[20] << 24 | (uint32_t)p[21] << 16 | (uint32_t)p[22] << 8 | p[23];
    if (w == 0 || h == 0 || w > 0x7fffffff || h > 0x7fffffff)
        return -1;
    *width = (int)w;
    *height = (int)h;
    return 0;
}

int ft_image_decode(const void *data, size_t len, uint64_t max_pixels, ft_image *out, ft_error *err)
{
    memset(out, 0, sizeof *out);
    if (is_jpeg(data, len))
        return ft_jpeg_decode(data, len, max_pixels, out, err);
    if (is_png(data, len))
        return ft_png_decode(data, len, max_pixels, out, err);
    return ft_fail(err, FT_EFORMAT, NULL, "not a PNG or JPEG image (bad signature)");
}
