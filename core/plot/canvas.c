/* The RGB canvas both chart kinds draw on. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/plot/canvas.h"
#include "core/plot/font.h"
#include "core/plot/png_encode.h"

uint8_t *ft_canvas_pixel(const ft_canvas *c, int x, int y)
{
    return c->px + ((size_t)y * (size_t)c->w + (size_t)x) * 3;
}

void ft_canvas_fill(ft_canvas *c, int x0, int y0, int x1, int y1, uint32_t rgb)
{
    x0 = x0 < 0 ? 0 : x0;
    y0 = y0 < 0 ? 0 : y0;
    x1 = x1 >= c->w ? c->w - 1 : x1;
    y1 = y1 >= c->h ? c->h - 1 : y1;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            uint8_t *p = ft_canvas_pixel(c, x, y);
            p[0] = (uint8_t)(rgb >> 16);
            p[1] = (uint8_t)(rgb >> 8);
            p[2] = (uint8_t)rgb;
        }
}

void ft_canvas_frame(ft_canvas *c, int x0, int y0, int x1, int y1, uint32_t rgb)
{
    ft_canvas_fill(c, x0, y0, x1, y0, rgb);
    ft_canvas_fill(c, x0, y1, x1, y1, rgb);
    ft_canvas_fill(c, x0, y0, x0, y1, rgb);
    ft_canvas_fill(c, x1, y0, x1, y1, rgb);
}

void ft_canvas_blend(ft_canvas *c, int x, int y, uint32_t rgb, double a)
{
    uint8_t *p = ft_canvas_pixel(c, x, y);
    for (int i = 0; i < 3; i++) {
        double src = (double)((rgb >> (16 - 8 * i)) & 0xFF);
        p[i] = (uint8_t)lround(p[i] + (src - p[i]) * a);
    }
}

void ft_canvas_text(ft_canvas *c, int x, int y, const char *s, int scale, uint32_t rgb)
{
    ft_font_draw(c->px, c->w, c->h, x, y, s, scale, rgb);
}

/* Text whose cap height is centred on y (labels beside ticks and cells). */
void ft_canvas_text_vcentred(ft_canvas *c, int x, int y, const char *s, int scale, uint32_t rgb)
{
    ft_canvas_text(c, x, y - FT_FONT_ASCENT * scale / 2, s, scale, rgb);
}

/* Bold by overstriking one pixel to the right; centred, shortened to fit. */
void ft_canvas_title(ft_canvas *c, const char *title, int y, int scale, int margin)
{
    char fitted[256];
    ft_font_fit(title, scale, c->w - 2 * margin - 1, fitted, sizeof fitted);
    int x = (c->w - ft_font_text_width(fitted, scale)) / 2;
    ft_canvas_text(c, x, y, fitted, scale, FT_PLOT_TITLE);
    ft_canvas_text(c, x + 1, y, fitted, scale, FT_PLOT_TITLE);
}

int ft_canvas_init(ft_canvas *c, int w, int h, ft_error *err)
{
    size_t n;
    if (ft_mul_size((size_t)w, (size_t)h, &n) != 0 || ft_mul_size(n, 3, &n) != 0)
        return ft_fail(err, FT_ENOMEM, NULL, "plot: image %dx%d is too large", w, h);
    c->px = malloc(n);
    if (!c->px)
        return ft_fail(err, FT_ENOMEM, NULL, "plot: out of memory for a %dx%d image", w, h);
    memset(c->px, 0xFF, n); /* white paper */
    c->w = w;
    c->h = h;
    return 0;
}

int ft_canvas_finish(ft_canvas *c, unsigned char **png, size_t *png_len, ft_error *err)
{
    int rc = ft_png_encode(c->px, c->w, c->h, 3, png, png_len, err);
    free(c->px);
    return rc;
}
