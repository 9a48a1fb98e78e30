/* The per-epoch training chart (ft_plot_history_png): the val curve, the
 * learning-rate panel and the phase boundaries, read back from its pixels.
 * Each rendering is also written to /tmp/ft_plot_history_*.png. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/plot/plot.h"
#include "png_pixels.h"
#include "test.h"

/* The training chart draws a val curve, and lists it in the legend, only
 * when the rows have validation metrics. */
static void test_history_val_series_only_with_validation(void)
{
    const uint32_t val_orange = 0xff7f0e;
    const char *without = "[{\"epoch\": 1, \"train_loss\": 1.0, \"train_accuracy\": 0.5},"
                          " {\"epoch\": 2, \"train_loss\": 0.5, \"train_accuracy\": 0.8}]";
    const char *with = "[{\"epoch\": 1, \"train_loss\": 1.0, \"train_accuracy\": 0.5, \"val_loss\": 1.2,"
                       " \"val_accuracy\": 0.4},"
                       " {\"epoch\": 2, \"train_loss\": 0.5, \"train_accuracy\": 0.8, \"val_loss\": 0.7,"
                       " \"val_accuracy\": 0.7}]";
    const char *cases[2] = {without, with};
    int orange[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        json_t *rows = json_loads(cases[i], 0, NULL);
        unsigned char *png = NULL;
        size_t len = 0;
        ft_error err = {0};
        CHECK(rows && ft_plot_history_png("history", rows, 900, 500, &png, &len, NULL, &err) == 0);
        image img = {0};
        if (png && decode(png, len, &img) == 0) {
            orange[i] = count_colour(&img, val_orange);
            save(i ? "/tmp/ft_plot_history_val.png" : "/tmp/ft_plot_history_noval.png", png, len);
        }
        free(img.rgb);
        free(png);
        json_decref(rows);
    }
    CHECKF(orange[0] == 0, "%d val-coloured pixels without validation rows", orange[0]);
    CHECKF(orange[1] > 50, "only %d val-coloured pixels with validation rows", orange[1]);
}

/* A learning rate that changes gets a third panel, its green line falling
 * with the rate; a constant one keeps the two-panel chart. */
static void test_history_lr_panel(void)
{
    const uint32_t green = 0x2ca02c;
    const char *cases[2] = {"[{\"epoch\": 1, \"train_loss\": 1.0, \"lr\": 0.1}, {\"epoch\": 2, \"train_loss\": 0.5, \"lr\": 0.1}]",
                            "[{\"epoch\": 1, \"train_loss\": 1.0, \"lr\": 0.1}, {\"epoch\": 2, \"train_loss\": 0.5, \"lr\": 0.05},"
                            " {\"epoch\": 3, \"train_loss\": 0.4, \"lr\": 0.025}]"};
    for (int i = 0; i < 2; i++) {
        json_t *rows = json_loads(cases[i], 0, NULL);
        unsigned char *png = NULL;
        size_t len = 0;
        ft_error err = {0};
        ft_plot_area areas[3] = {{0}};
        CHECK(rows && ft_plot_history_png("history", rows, 900, 500, &png, &len, areas, &err) == 0);
        image img = {0};
        if (png && decode(png, len, &img) == 0) {
            int g = count_colour(&img, green);
            CHECKF(i ? g > 50 : g == 0, "case %d: %d green pixels", i, g);
            if (i) {
                save("/tmp/ft_plot_history_lr.png", png, len);
                /* three panels side by side; the lr axis spans the rates */
                CHECK(areas[2].x1 > areas[1].x1 && areas[1].x1 > areas[0].x1 && areas[2].x1 < 900);
                CHECK(areas[2].ymin <= 0.025 && areas[2].ymax >= 0.1 && areas[2].ymax < 0.2);
                /* the line falls: green near the top at the left, near the bottom at the right */
                int top_left = 0, bottom_right = 0, midx = (areas[2].x0 + areas[2].x1) / 2;
                int midy = (areas[2].y0 + areas[2].y1) / 2;
                for (int y = areas[2].y0; y <= areas[2].y1; y++)
                    for (int x = areas[2].x0; x <= areas[2].x1; x++)
                        if (px(&img, x, y) == green) {
                            top_left += x < midx && y < midy;
                            bottom_right += x > midx && y > midy;
                        }
                CHECKF(top_left > 0 && bottom_right > 0, "lr line %d top-left, %d bottom-right", top_left,
                       bottom_right);
            } else {
                CHECK(areas[2].x1 == 0);
            }
        }
        free(img.rgb);
        free(png);
        json_decref(rows);
    }
}

/* Pixels of colour rgb in column x of area a. */
static int column_colour(const image *img, const ft_plot_area *a, int x, uint32_t rgb)
{
    int n = 0;
    for (int y = a->y0; y <= a->y1; y++)
        n += px(img, x, y) == rgb;
    return n;
}

/* Render rows_json (epoch rows) as the training chart, save it at path, and
 * decode it into img (the caller frees img->rgb); 0 on success. */
static int history_image(const char *rows_json, const char *path, ft_plot_area *areas, image *img)
{
    json_t *rows = json_loads(rows_json, 0, NULL);
    unsigned char *png = NULL;
    size_t len = 0;
    ft_error err = {0};
    int rc = rows && ft_plot_history_png("history", rows, 900, 500, &png, &len, areas, &err) == 0 &&
                     decode(png, len, img) == 0 ? 0 : -1;
    if (rc == 0)
        save(path, png, len);
    free(png);
    json_decref(rows);
    return rc;
}

/* A job with phases: a dashed grey line between the phases' epochs, in
 * every panel; none without phases. */
static void test_history_phase_marks(void)
{
    const char *cases[2] = {
        "[{\"epoch\": 1, \"train_loss\": 1.0, \"train_accuracy\": 0.5, \"lr\": 0.1}, {\"epoch\": 2, \"train_loss\": 0.8, \"train_accuracy\": 0.5, \"lr\": 0.1},"
        " {\"epoch\": 3, \"train_loss\": 0.5, \"train_accuracy\": 0.5, \"lr\": 0.001}, {\"epoch\": 4, \"train_loss\": 0.4, \"train_accuracy\": 0.5, \"lr\": 0.001}]",
        "[{\"epoch\": 1, \"phase\": 1, \"train_loss\": 1.0, \"train_accuracy\": 0.5, \"lr\": 0.1},"
        " {\"epoch\": 2, \"phase\": 1, \"train_loss\": 0.8, \"train_accuracy\": 0.5, \"lr\": 0.1},"
        " {\"epoch\": 3, \"phase\": 2, \"train_loss\": 0.5, \"train_accuracy\": 0.5, \"lr\": 0.001},"
        " {\"epoch\": 4, \"phase\": 2, \"train_loss\": 0.4, \"train_accuracy\": 0.5, \"lr\": 0.001}]"};
    for (int i = 0; i < 2; i++) {
        ft_plot_area areas[3] = {{0}};
        image img = {0};
        CHECK(history_image(cases[i], i ? "/tmp/ft_plot_history_phases.png" : "/tmp/ft_plot_history_nophases.png",
                            areas, &img) == 0);
        for (int p = 0; img.rgb && p < 3; p++) {
            const ft_plot_area *a = &areas[p];
            int x = (int)lround(a->x0 + (2.5 - a->xmin) / (a->xmax - a->xmin) * (a->x1 - a->x0));
            int at = column_colour(&img, a, x, FT_PLOT_MARK), beside = column_colour(&img, a, x + 10, FT_PLOT_MARK);
            /* dashed: about half the column, and nothing of it a few pixels off */
            CHECKF(i ? at > (a->y1 - a->y0) / 3 && beside == 0 : at == 0, "case %d panel %d: %d grey at the boundary, "
                   "%d beside", i, p, at, beside);
        }
        free(img.rgb);
    }
    ft_plot_series s = {"s", (const double[]){1, 2}, (const double[]){1, 2}, 2, 0, NULL, NULL};
    ft_plot_panel bad = {"y", "x", &s, 1, NULL, 1};
    unsigned char *png = NULL;
    size_t len = 0;
    ft_error err = {0};
    CHECK(ft_plot_lines_png(NULL, &bad, 1, 400, 300, &png, &len, NULL, &err) == -1 && strcmp(err.param, "marks") == 0);
}

int main(void)
{
    RUN(test_history_val_series_only_with_validation);
    RUN(test_history_lr_panel);
    RUN(test_history_phase_marks);
    return TEST_SUMMARY();
}
