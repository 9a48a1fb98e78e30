/* Colour conversion and bilinear resizing of decoded images into planar
 * (CHW) uint8 rows, the layout datasets and models use. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/data/image.h"

/* Interleaved src (h x w x sc) to interleaved dst with dc channels. */
static void convert_color(const uint8_t *src, int sc, uint8_t *dst, int dc, size_t pixels)
{
    if (sc == 3 && dc == 1) {
        /* PIL's "L" conversion: ITU-R 601-2 luma in 16.16 fixed point. */
        for (size_t i = 0; i < pixels; i++, src += 3)
            dst[i] = (uint8_t)((src[0] * 19595u + src[1] * 38470u + src[2] * 7471u + 0x8000u) >> 16);
    } else { /* 1 -> 3 */
        for (size_t i = 0; i < pixels; i++, dst += 3)
            dst[0] = dst[1] = dst[2] = src[i];
    }
}

typedef struct {
    int lo, hi;  /* source indices */
    float frac;  /* weight of hi */
} tap;

/* Half-pixel-centre sampling positions for out samples from in samples. */
static void taps(tap *t, int out, int in)
{
    double scale = (double)in / out;
    for (int i = 0; i < out; i++) {
        double s = (i + 0.5) * scale - 0.5;
        if (s < 0)
            s = 0;
        if (s > in - 1)
            s = in - 1;
        int lo = (int)s;
        t[i].lo = lo;
        t[i].hi = lo + 1 < in ? lo + 1 : lo;
        t[i].frac = (float)(s - lo);
    }
}

int ft_image_to_chw(const ft_image *im, int channels, int out_h, int out_w, uint8_t *dst, ft_error *err)
{
    int w = im->width, h = im->height, sc = im->channels;
    size_t pixels = (size_t)w * (size_t)h;
    const uint8_t *src = im->pixels;
    uint8_t *tmp = NULL;
    if (sc != channels) {
        if (!(tmp = malloc(pixels * (size_t)channels)))
            return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        convert_color(src, sc, tmp, channels, pixels);
        src = tmp;
    }
    size_t plane = (size_t)out_h * (size_t)out_w;
    if (out_h == h && out_w == w) {
        for (int c = 0; c < channels; c++)
            for (size_t i = 0; i < pixels; i++)
                dst[(size_t)c * plane + i] = src[i * (size_t)channels + (size_t)c];
        free(tmp);
        return 0;
    }
    tap *ty = malloc(sizeof *ty * (size_t)out_h), *tx = malloc(sizeof *tx * (size_t)out_w);
    if (!ty || !tx) {
        free(ty), free(tx), free(tmp);
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    }
    taps(ty, out_h, h);
    taps(tx, out_w, w);
    size_t stride = (size_t)w * (size_t)channels;
    for (int c = 0; c < channels; c++) {
        uint8_t *o = dst + (size_t)c * plane;
        for (int y = 0; y < out_h; y++) {
            const uint8_t *r0 = src + (size_t)ty[y].lo * stride + (size_t)c;
            const uint8_t *r1 = src + (size_t)ty[y].hi * stride + (size_t)c;
            float fy = ty[y].frac;
            for (int x = 0; x < out_w; x++) {
                size_t a = (size_t)tx[x].lo * (size_t)channels, b = (size_t)tx[x].hi * (size_t)channels;
                float fx = tx[x].frac;
                float top = r0[a] + (r0[b] - r0[a]) * fx;
                float bot = r1[a] + (r1[b] - r1[a]) * fx;
                float v = top + (bot - top) * fy;
                o[(size_t)y * (size_t)out_w + (size_t)x] = (uint8_t)(v + 0.5f);
            }
        }
    }
    free(ty), free(tx), free(tmp);
    return 0;
}
