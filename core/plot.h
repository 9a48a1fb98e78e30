/* Charts rendered to PNG with libpng and a small built-in bitmap font.
 *
 * Used by the service for GET /v1/jobs/{id}/metrics.png and confusion.png, and
 * by the CLI. No font library: text is drawn with a fixed 5x7 (scaled) font.
 */
#ifndef FT_PLOT_H
#define FT_PLOT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* One line on a panel: n points (x[i], y[i]); non-finite y values are gaps. */
typedef struct {
    const char *label;    /* legend text, e.g. "train loss" */
    const double *x;      /* x values (epochs), ascending */
    const double *y;      /* y values */
    size_t n;             /* number of points; 0 draws nothing but keeps the legend */
    uint32_t rgb;         /* colour as 0xRRGGBB */
} ft_plot_series;

/* One panel (axes box) of a chart, with its own y range. */
typedef struct {
    const char *ylabel;             /* y-axis caption, e.g. "loss" */
    const char *xlabel;             /* x-axis caption, e.g. "epoch" */
    const ft_plot_series *series;   /* lines drawn in this panel */
    size_t nseries;
} ft_plot_panel;

/* Pixel rectangle of a panel's plot area and the data range mapped onto it,
 * reported so tests (and callers) can map data to pixels. */
typedef struct {
    int x0, y0, x1, y1;      /* plot area, inclusive pixel bounds; y0 is the top */
    double xmin, xmax;       /* data value at x0 and at x1 */
    double ymin, ymax;       /* data value at y1 (bottom) and at y0 (top) */
} ft_plot_area;

/* Render panels side by side under a title into a width x height PNG.
 * On success *png is a malloc'd buffer of *png_len bytes (caller frees), and if
 * areas is non-NULL, areas[i] describes panel i. */
int ft_plot_lines_png(const char *title, const ft_plot_panel *panels, size_t npanels,
                      int width, int height, unsigned char **png, size_t *png_len,
                      ft_plot_area *areas, ft_error *err);

/* Render a k x k confusion matrix (counts[true * k + predicted]) as a heatmap
 * with class names on both axes and the count in each cell. */
int ft_plot_confusion_png(const char *title, const uint64_t *counts, int k,
                          const char *const *class_names, unsigned char **png,
                          size_t *png_len, ft_error *err);

#endif
