/* The confusion matrix chart: counts shaded by their share of the true
 * class's row, class names on both axes, and a colour bar
 * (ft_plot_confusion_png, ft_plot_confusion_layout). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/plot/canvas.h"
#include "core/plot/font.h"
#include "core/plot/plot.h"

enum {
    CM_SCALE = 2,
    CM_MARGIN = 12,
    CM_NAME_MAX_W = 130,
    CM_BAR_W = 16,
    CM_MAX_K = 100, /* keeps the image under 4000 pixels a side */
};

/* The cell grid follows k; the margins follow the class names, so numeric or
 * short names do not leave a wide empty band. */
typedef struct {
    int cell;
    int row_name_w;   /* widest row name, after shortening */
    int col_name_h;   /* height of the column-name band */
    int cols_rotated; /* column names read upwards when one is wider than a cell */
    int width, height;
    int gx0, gy0, gx1, gy1; /* the k x k grid, inclusive */
} cm_geometry;

/* Class i's label: its name (or index) shortened to CM_NAME_MAX_W pixels. */
static void cm_name(const char *const *names, int i, char *out, size_t size)
{
    char num[16];
    snprintf(num, sizeof num, "%d", i);
    const char *raw = names && names[i] ? names[i] : num;
    ft_font_fit(raw, CM_SCALE, CM_NAME_MAX_W, out, size);
}

static cm_geometry cm_layout(int k, const char *const *names)
{
    cm_geometry g = {0};
    int line = FT_FONT_HEIGHT * CM_SCALE;
    g.cell = 800 / k < 36 ? 36 : 800 / k > 96 ? 96 : 800 / k;
    int widest = 1;
    for (int i = 0; i < k; i++) {
        char name[64];
        cm_name(names, i, name, sizeof name);
        int w = ft_font_text_width(name, CM_SCALE);
        widest = w > widest ? w : widest;
    }
    g.row_name_w = widest;
    g.cols_rotated = widest > g.cell - 8;
    g.col_name_h = g.cols_rotated ? widest : line;
    g.gx0 = CM_MARGIN + line + 10 + g.row_name_w + 8;
    g.gy0 = CM_MARGIN + line + CM_MARGIN + 8;
    g.gx1 = g.gx0 + k * g.cell - 1;
    g.gy1 = g.gy0 + k * g.cell - 1;
    g.width = g.gx1 + 1 + 16 + CM_BAR_W + 3 + 6 + ft_font_text_width("0.75", CM_SCALE) + CM_MARGIN;
    g.height = g.gy1 + 1 + 8 + g.col_name_h + 10 + line + CM_MARGIN;
    return g;
}

int ft_plot_confusion_layout(int k, const char *const *class_names, int *width, int *height,
                             ft_plot_area *grid)
{
    if (k < 1 || k > CM_MAX_K)
        return -1;
    cm_geometry g = cm_layout(k, class_names);
    if (width)
        *width = g.width;
    if (height)
        *height = g.height;
    if (grid)
        *grid = (ft_plot_area){g.gx0, g.gy0, g.gx1, g.gy1, 0, k, k, 0};
    return 0;
}

/* White through mid blue to navy by the fraction of the row in the cell. */
static uint32_t cm_colour(double f)
{
    static const double stop[3][3] = {{246, 250, 253}, {92, 152, 206}, {10, 40, 104}};
    f = f < 0 ? 0 : f > 1 ? 1 : f;
    int i = f < 0.5 ? 0 : 1;
    double t = f < 0.5 ? f / 0.5 : (f - 0.5) / 0.5;
    uint32_t rgb = 0;
    for (int ch = 0; ch < 3; ch++)
        rgb = rgb << 8 | (uint32_t)lround(stop[i][ch] + (stop[i + 1][ch] - stop[i][ch]) * t);
    return rgb;
}

static int is_dark(uint32_t rgb)
{
    double y = 0.299 * (rgb >> 16) + 0.587 * ((rgb >> 8) & 0xFF) + 0.114 * (rgb & 0xFF);
    return y < 150;
}

/* The count in the largest text that fits the cell: in full, then shortened
 * to 1.2M, then 1M, at scale 2 before scale 1. */
static void cm_count_text(ft_canvas *c, uint64_t n, int cx, int cy, int cell, uint32_t rgb)
{
    char form[3][32];
    snprintf(form[0], sizeof form[0], "%" PRIu64, n);
    static const char unit[] = "kMGTPE";
    double v = (double)n;
    int u = 0;
    while (v >= 999.5 && u < 6) {
        v /= 1000;
        u++;
    }
    if (u == 0) { /* under 1000: nothing to shorten */
        memcpy(form[1], form[0], sizeof form[0]);
        memcpy(form[2], form[0], sizeof form[0]);
    } else {
        snprintf(form[1], sizeof form[1], "%.1f%c", v, unit[u - 1]);
        snprintf(form[2], sizeof form[2], "%.0f%c", v, unit[u - 1]);
    }
    for (int scale = CM_SCALE; scale >= 1; scale--)
        for (int f = 0; f < 3; f++) {
            int w = ft_font_text_width(form[f], scale);
            if (w <= cell - 6) {
                ft_canvas_text_vcentred(c, cx - w / 2, cy, form[f], scale, rgb);
                return;
            }
        }
}

static void cm_draw(ft_canvas *c, const cm_geometry *g, const char *title, const uint64_t *counts,
                    int k, const char *const *class_names)
{
    int s = CM_SCALE;
    if (title && *title)
        ft_canvas_title(c, title, CM_MARGIN, s, CM_MARGIN);
    for (int t = 0; t < k; t++) {
        double total = 0; /* in double: a sum of uint64 counts could overflow */
        for (int p = 0; p < k; p++)
            total += (double)counts[(size_t)t * (size_t)k + (size_t)p];
        for (int p = 0; p < k; p++) {
            uint64_t n = counts[(size_t)t * (size_t)k + (size_t)p];
            uint32_t rgb = cm_colour(total > 0 ? (double)n / total : 0);
            int x = g->gx0 + p * g->cell, y = g->gy0 + t * g->cell;
            ft_canvas_fill(c, x, y, x + g->cell - 1, y + g->cell - 1, rgb);
            cm_count_text(c, n, x + g->cell / 2, y + g->cell / 2, g->cell,
                          is_dark(rgb) ? 0xFFFFFFu : FT_PLOT_TEXT);
        }
    }
    ft_canvas_frame(c, g->gx0 - 1, g->gy0 - 1, g->gx1 + 1, g->gy1 + 1, FT_PLOT_AXES);

    /* Rows: right-aligned names. Columns: centred under the cell, or rotated
     * and ending at the grid when some name is wider than a cell. */
    for (int i = 0; i < k; i++) {
        char name[64];
        cm_name(class_names, i, name, sizeof name);
        int w = ft_font_text_width(name, s);
        int mid = g->cell * i + g->cell / 2;
        ft_canvas_text_vcentred(c, g->gx0 - 8 - w, g->gy0 + mid, name, s, FT_PLOT_TEXT);
        if (g->cols_rotated)
            ft_font_draw_up(c->px, c->w, c->h, g->gx0 + mid - FT_FONT_ASCENT * s / 2,
                            g->gy1 + 8 + w, name, s, FT_PLOT_TEXT);
        else
            ft_canvas_text(c, g->gx0 + mid - w / 2, g->gy1 + 1 + 8, name, s, FT_PLOT_TEXT);
    }
    int w = ft_font_text_width("predicted", s);
    ft_canvas_text(c, (g->gx0 + g->gx1 - w) / 2, g->gy1 + 1 + 8 + g->col_name_h + 10, "predicted", s,
         FT_PLOT_TEXT);
    w = ft_font_text_width("true", s);
    ft_font_draw_up(c->px, c->w, c->h, CM_MARGIN, (g->gy0 + g->gy1 + w) / 2, "true", s, FT_PLOT_TEXT);

    /* Colour bar: what a shade means, as a fraction of the true class's row. */
    int bx0 = g->gx1 + 1 + 16, bx1 = bx0 + CM_BAR_W - 1, h = g->gy1 - g->gy0;
    for (int y = g->gy0; y <= g->gy1; y++)
        ft_canvas_fill(c, bx0, y, bx1, y, cm_colour(h > 0 ? (double)(g->gy1 - y) / h : 1));
    ft_canvas_frame(c, bx0 - 1, g->gy0 - 1, bx1 + 1, g->gy1 + 1, FT_PLOT_AXES);
    static const char *const bar_label[] = {"0", "0.25", "0.5", "0.75", "1"};
    for (int i = 0; i < 5; i++) {
        int y = g->gy1 - (int)lround(h * i / 4.0);
        ft_canvas_fill(c, bx1 + 2, y, bx1 + 1 + 3, y, FT_PLOT_AXES);
        ft_canvas_text_vcentred(c, bx1 + 1 + 3 + 6, y, bar_label[i], s, FT_PLOT_TEXT);
    }
}

int ft_plot_confusion_png(const char *title, const uint64_t *counts, int k,
                          const char *const *class_names, unsigned char **png,
                          size_t *png_len, ft_error *err)
{
    if (png)
        *png = NULL;
    if (png_len)
        *png_len = 0;
    if (!png || !png_len || !counts)
        return ft_fail(err, FT_EINVAL, NULL, "confusion plot: counts, png and png_len must "
                       "not be NULL");
    if (k < 1 || k > CM_MAX_K)
        return ft_fail(err, FT_EINVAL, "k", "confusion plot: k = %d classes, want 1..%d", k,
                       CM_MAX_K);
    cm_geometry g = cm_layout(k, class_names);
    ft_canvas c;
    if (ft_canvas_init(&c, g.width, g.height, err) != 0)
        return -1;
    cm_draw(&c, &g, title, counts, k, class_names);
    return ft_canvas_finish(&c, png, png_len, err);
}
