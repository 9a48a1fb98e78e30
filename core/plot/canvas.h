/* core/plot internals: the RGB canvas the line chart (plot_lines.c) and the
 * confusion matrix (plot_confusion.c) draw on, the drawing they share
 * (clipped rectangles, blending, text, the bold title), their colours, and
 * the PNG it ends as. */
#ifndef FT_PLOT_CANVAS_H
#define FT_PLOT_CANVAS_H

#include <stddef.h>
#include <stdint.h>

#include "core/util/error.h"

#define FT_PLOT_PAPER 0xFFFFFFu
#define FT_PLOT_GRID 0xEBEBEBu
#define FT_PLOT_AXES 0x505050u
#define FT_PLOT_TEXT 0x262626u
#define FT_PLOT_TITLE 0x111111u
#define FT_PLOT_LEGEND_EDGE 0xC8C8C8u

/* An image being drawn. */
typedef struct {
    uint8_t *px; /* w * h * 3 bytes, row-major RGB */
    int w, h;    /* size in pixels */
} ft_canvas;

/* The 3 bytes of pixel (x, y), which must be inside the canvas. */
uint8_t *ft_canvas_pixel(const ft_canvas *c, int x, int y);

/* Fill the rectangle [x0, x1] x [y0, y1] (inclusive, clipped to the canvas) with rgb. */
void ft_canvas_fill(ft_canvas *c, int x0, int y0, int x1, int y1, uint32_t rgb);

/* A one-pixel outline of the rectangle [x0, x1] x [y0, y1]. */
void ft_canvas_frame(ft_canvas *c, int x0, int y0, int x1, int y1, uint32_t rgb);

/* Mix rgb into pixel (x, y) (inside the canvas) with opacity a in [0, 1]. */
void ft_canvas_blend(ft_canvas *c, int x, int y, uint32_t rgb, double a);

/* Text in the built-in font, top-left at (x, y), scaled by `scale`. */
void ft_canvas_text(ft_canvas *c, int x, int y, const char *s, int scale, uint32_t rgb);

/* Text whose cap height is centred on y (labels beside ticks and cells). */
void ft_canvas_text_vcentred(ft_canvas *c, int x, int y, const char *s, int scale, uint32_t rgb);

/* The chart title at height y: bold, centred, shortened to fit between margins. */
void ft_canvas_title(ft_canvas *c, const char *title, int y, int scale, int margin);

/* A white w x h canvas (FT_ENOMEM if it is too large or memory runs out). */
int ft_canvas_init(ft_canvas *c, int w, int h, ft_error *err);

/* Encode the canvas as PNG into *png (malloc'd) and free its pixels. */
int ft_canvas_finish(ft_canvas *c, unsigned char **png, size_t *png_len, ft_error *err);

#endif
