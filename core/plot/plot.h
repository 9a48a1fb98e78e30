/* Charts rendered to PNG with libpng and a small built-in bitmap font.
 *
 * Used by the service for GET /v1/jobs/{id}/metrics.png and confusion.png, and
 * by the CLI. No font library: text is drawn with a fixed 5x7 (scaled) font.
 */
#ifndef FT_PLOT_H
#define FT_PLOT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/util/error.h"

/* One line on a panel: n points (x[i], y[i]); non-finite y values are gaps. */
typedef struct {
    const char *label;    /* legend text, e.g. "train loss" */
    const double *x;      /* x values (epochs), ascending */
    const double *y;      /* y values */
    size_t n;             /* number of points; 0 draws nothing but keeps the legend */
    uint32_t rgb;         /* colour as 0xRRGGBB */
    /* Error bars: point i's bar runs from lo[i] to hi[i] (both finite),
     * with caps. A series with bars draws each point as a dot, not joined
     * by lines (its x values are categories, e.g. a sweep's variants).
     * NULL: no bars. */
    const double *lo, *hi;
} ft_plot_series;

/* One panel (axes box) of a chart, with its own y range. */
typedef struct {
    const char *ylabel;             /* y-axis caption, e.g. "loss" */
    const char *xlabel;             /* x-axis caption, e.g. "epoch" */
    const ft_plot_series *series;   /* lines drawn in this panel */
    size_t nseries;
    const double *marks;            /* x values of dashed vertical lines (phase boundaries), or NULL */
    size_t nmarks;
} ft_plot_panel;

/* Pixel rectangle of a panel's plot area and the data range mapped onto it,
 * reported so tests (and callers) can map data to pixels. */
typedef struct {
    int x0, y0, x1, y1;      /* plot area, inclusive pixel bounds; y0 is the top */
    double xmin, xmax;       /* data value at x0 and at x1 */
    double ymin, ymax;       /* data value at y1 (bottom) and at y0 (top) */
} ft_plot_area;

/* Colour of a panel's marks. */
#define FT_PLOT_MARK 0x7f7f7fu

/* Render panels side by side under a title into a width x height PNG.
 * On success *png is a malloc'd buffer of *png_len bytes (caller frees), and if
 * areas is non-NULL, areas[i] describes panel i.
 * Limits: width and height 200..4000, 1..8 panels of at least 150 px each,
 * 0..16 series per panel. title may be NULL (no title); a NULL label leaves a
 * series out of the legend; NULL captions are not drawn. Text is scaled with
 * the image (2x at 900x500). Each axis range is the data's plus 5% padding
 * (a flat or empty range gets a made-up width); x ticks stay whole numbers when
 * every x is. A point with no finite neighbour (n == 1, or between gaps) is
 * drawn as a dot. Error bars count in the y range. */
int ft_plot_lines_png(const char *title, const ft_plot_panel *panels, size_t npanels,
                      int width, int height, unsigned char **png, size_t *png_len,
                      ft_plot_area *areas, ft_error *err);

/* Render a k x k confusion matrix (counts[true * k + predicted]) as a heatmap
 * with class names on both axes and the count in each cell.
 * Shade = count / row total; true classes run down, predictions across. k is
 * 1..100; class_names may be NULL (or hold NULLs): indices are shown instead.
 * Names are shortened with ".." to 130 px (about 12 characters).
 * Size: cells are clamp(800 / k, 36, 96) px square (96 up to k = 8, 40 at
 * k = 20); around the k * cell grid go the title, the colour bar and margins
 * that fit the longest class name, so the image is k * cell + 150..270 px wide
 * and k * cell + 115..230 px high: 729x686 for k = 5 with Fashion-MNIST names,
 * 963x916 for k = 20 with index labels, under 4000x4000 for any k <= 100.
 * ft_plot_confusion_layout gives the exact size. */
int ft_plot_confusion_png(const char *title, const uint64_t *counts, int k,
                          const char *const *class_names, unsigned char **png,
                          size_t *png_len, ft_error *err);

/* Size of the confusion image for k classes with these names (as passed to
 * ft_plot_confusion_png) and, in grid, its cell area: x0..x1, y0..y1 are the
 * grid's pixels, and xmin = 0, xmax = k, ymin = k, ymax = 0 map cell
 * coordinates, so cell (true t, predicted p) is centred at data (p + 0.5,
 * t + 0.5). Any output may be NULL. Returns -1 for k outside 1..100.
 * Added so dashboards can map a click to a cell, and for tests. */
int ft_plot_confusion_layout(int k, const char *const *class_names, int *width, int *height,
                             ft_plot_area *grid);

/* The training chart of a job: train and validation loss on the left panel,
 * the main metric (accuracy, or mae for regression) next to it, and, when a
 * schedule changed it, the learning rate ("lr") on a third panel, from
 * per-epoch rows as ft_epoch_metrics_json writes them ({"epoch",
 * "train_loss", "val_loss", "train_accuracy", "lr", ...}). Missing values
 * are gaps, so a running job draws partial curves. areas (3 entries, the
 * third set only with the lr panel) may be NULL. */
int ft_plot_history_png(const char *title, const json_t *rows, int width, int height, unsigned char **png,
                        size_t *png_len, ft_plot_area *areas, ft_error *err);

#endif
