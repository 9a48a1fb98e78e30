/* Charts: render, decode the PNG back with libpng, and look at the pixels.
 * Each rendering is also written to /tmp/ft_plot_*.png for a human to view. */
#include <math.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/plot/font.h"
#include "core/plot/plot.h"
#include "core/plot/png_encode.h"
#include "png_pixels.h"
#include "test.h"

static int luma(uint32_t rgb)
{
    int r = (int)(rgb >> 16), g = (int)((rgb >> 8) & 0xFF), b = (int)(rgb & 0xFF);
    return (299 * r + 587 * g + 114 * b) / 1000;
}

/* Is the exact colour within r pixels of (x, y)? */
static int colour_near(const image *img, double x, double y, uint32_t rgb, int r)
{
    int cx = (int)lround(x), cy = (int)lround(y);
    for (int yy = cy - r; yy <= cy + r; yy++)
        for (int xx = cx - r; xx <= cx + r; xx++)
            if (xx >= 0 && yy >= 0 && xx < img->w && yy < img->h && px(img, xx, yy) == rgb)
                return 1;
    return 0;
}

static int count_dark(const image *img, int x0, int y0, int x1, int y1)
{
    int n = 0;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++)
            n += luma(px(img, x, y)) < 100;
    return n;
}

static int count_not_white(const image *img, int x0, int y0, int x1, int y1)
{
    int n = 0;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++)
            n += px(img, x, y) != 0xFFFFFF;
    return n;
}

static double to_px_x(const ft_plot_area *a, double v)
{
    return a->x0 + (v - a->xmin) / (a->xmax - a->xmin) * (a->x1 - a->x0);
}

static double to_px_y(const ft_plot_area *a, double v)
{
    return a->y1 - (v - a->ymin) / (a->ymax - a->ymin) * (a->y1 - a->y0);
}

#define EPOCHS 30
#define TRAIN_RGB 0x1F77B4u
#define VAL_RGB 0xFF7F0Eu

/* The service's chart: loss and accuracy panels, train and validation. */
static void test_lines_two_panels(void)
{
    double ep[EPOCHS], tl[EPOCHS], vl[EPOCHS], ta[EPOCHS], va[EPOCHS];
    for (int i = 0; i < EPOCHS; i++) {
        ep[i] = i + 1;
        tl[i] = 1.6 * exp(-i / 6.0) + 0.12;
        vl[i] = 1.5 * exp(-i / 7.0) + 0.25 + 0.004 * i;
        ta[i] = 0.95 - 0.6 * exp(-i / 5.0);
        va[i] = 0.91 - 0.55 * exp(-i / 6.0);
    }
    vl[12] = NAN; /* a missing validation epoch is a gap */
    ft_plot_series loss[] = {{"train loss", ep, tl, EPOCHS, TRAIN_RGB, NULL, NULL},
                             {"val loss", ep, vl, EPOCHS, VAL_RGB, NULL, NULL}};
    ft_plot_series acc[] = {{"train accuracy", ep, ta, EPOCHS, TRAIN_RGB, NULL, NULL},
                            {"val accuracy", ep, va, EPOCHS, VAL_RGB, NULL, NULL}};
    ft_plot_panel panels[] = {{"loss", "epoch", loss, 2, NULL, 0}, {"accuracy", "epoch", acc, 2, NULL, 0}};
    ft_plot_area areas[2];
    unsigned char *png = NULL;
    size_t len = 0;
    ft_error err = {0};
    int rc = ft_plot_lines_png("job_abc123 \xE2\x80\x94 drop 2, frozen, he", panels, 2, 900,
                               500, &png, &len, areas, &err);
    CHECKF(rc == 0, "%s", err.msg);
    if (rc != 0)
        return;
    save("/tmp/ft_plot_lines.png", png, len);
    image img;
    CHECK(decode(png, len, &img) == 0);
    free(png);
    if (!img.rgb)
        return;
    CHECK(img.w == 900 && img.h == 500);
    for (int p = 0; p < 2; p++) {
        const ft_plot_area *a = &areas[p];
        CHECK(a->x0 > 0 && a->x1 > a->x0 + 200 && a->x1 < img.w);
        CHECK(a->y0 > 20 && a->y1 > a->y0 + 200 && a->y1 < img.h);
        CHECK(a->xmin < 1 && a->xmax > EPOCHS);
        CHECK(count_not_white(&img, a->x0, a->y0, a->x1, a->y1) > 1000);
        /* Panels sit side by side. */
        CHECK(p == 0 || a->x0 > areas[0].x1);
    }
    CHECK(areas[0].ymin < 0.12 + 1e-9 && areas[0].ymax > 1.72);
    /* Curve pixels sit where the data says, at the first, middle and last epochs
     * (those far from where a legend could go were chosen). */
    static const int at[] = {1, 5, 9, 20, 24, 28};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        int e = at[i];
        CHECKF(colour_near(&img, to_px_x(&areas[0], ep[e]), to_px_y(&areas[0], tl[e]), TRAIN_RGB,
                           2),
               "train loss at epoch %d", e + 1);
        CHECKF(colour_near(&img, to_px_x(&areas[1], ep[e]), to_px_y(&areas[1], va[e]), VAL_RGB, 2),
               "val accuracy at epoch %d", e + 1);
    }
    /* The NaN at index 12 leaves a gap between epochs 12 and 14. */
    double gap_y = to_px_y(&areas[0], vl[11] * 0.5 + vl[13] * 0.5);
    CHECK(!colour_near(&img, to_px_x(&areas[0], 13), gap_y, VAL_RGB, 3));
    /* Title band and the legend (somewhere inside each plot area) have dark text. */
    CHECK(count_dark(&img, 0, 0, img.w - 1, areas[0].y0 - 8) > 100);
    for (int p = 0; p < 2; p++) {
        const ft_plot_area *a = &areas[p];
        int legend_text = count_dark(&img, a->x0 + 1, a->y0 + 1, a->x1 - 1, a->y1 - 1);
        CHECKF(legend_text > 100, "panel %d: %d dark pixels in the plot area", p, legend_text);
        /* Y tick labels left of the box, x tick labels below it. */
        CHECK(count_dark(&img, a->x0 - 60, a->y0, a->x0 - 4, a->y1) > 100);
        CHECK(count_dark(&img, a->x0, a->y1 + 4, a->x1, a->y1 + 30) > 100);
    }
    free(img.rgb);
}

/* One point, a flat series, an empty series and an empty panel all render. */
static void test_lines_degenerate(void)
{
    double x1[] = {3}, y1[] = {0.5};
    double xf[] = {1, 2, 3, 4}, yf[] = {0.7, 0.7, 0.7, 0.7};
    double xe[] = {1, 2}, ye[] = {NAN, INFINITY};
    ft_plot_series one[] = {{"single", x1, y1, 1, 0xD62728u, NULL, NULL}};
    ft_plot_series flat[] = {{"flat", xf, yf, 4, 0x2CA02Cu, NULL, NULL}, {"empty", NULL, NULL, 0, 0x9467BDu, NULL, NULL},
                             {"all NaN", xe, ye, 2, 0x8C564Bu, NULL, NULL}};
    ft_plot_panel panels[] = {{"value", "epoch", one, 1, NULL, 0}, {"value", "epoch", flat, 3, NULL, 0},
                              {NULL, NULL, NULL, 0, NULL, 0}};
    ft_plot_area a[3];
    unsigned char *png = NULL;
    size_t len = 0;
    ft_error err = {0};
    int rc = ft_plot_lines_png("edge cases \xff\xfe bad utf-8 \xE2\x80", panels, 3, 900, 400, &png,
                               &len, a, &err);
    CHECKF(rc == 0, "%s", err.msg);
    if (rc != 0)
        return;
    save("/tmp/ft_plot_degenerate.png", png, len);
    image img;
    CHECK(decode(png, len, &img) == 0);
    free(png);
    if (!img.rgb)
        return;
    CHECK(img.w == 900 && img.h == 400);
    /* n == 1: a visible marker where the point is, inside a finite range. */
    CHECK(a[0].xmin < 3 && a[0].xmax > 3 && a[0].ymin < 0.5 && a[0].ymax > 0.5);
    CHECK(colour_near(&img, to_px_x(&a[0], 3), to_px_y(&a[0], 0.5), 0xD62728u, 1));
    /* Flat series: a non-degenerate y range around it and a line along it. */
    CHECK(a[1].ymin < 0.7 && a[1].ymax > 0.7 && isfinite(a[1].ymin) && isfinite(a[1].ymax));
    CHECK(colour_near(&img, to_px_x(&a[1], 2.5), to_px_y(&a[1], 0.7), 0x2CA02Cu, 1));
    /* No data: empty axes over the default 0..1 range, with a box and ticks. */
    CHECK(a[2].xmin == 0 && a[2].xmax == 1 && a[2].ymin == 0 && a[2].ymax == 1);
    CHECK(count_dark(&img, a[2].x0 - 1, a[2].y1 + 1, a[2].x1 + 1, a[2].y1 + 1) > 50);
    CHECK(count_dark(&img, a[2].x0 - 50, a[2].y0, a[2].x0 - 6, a[2].y1) > 50);
    free(img.rgb);
}

/* Error bars (a sweep's chart): each point a dot with a bar from lo to hi
 * and caps, the range covering the bars, and no line between the points. */
static void test_error_bars(void)
{
    double x[] = {1, 2, 3}, y[] = {0.8, 0.6, NAN}, lo[] = {0.7, 0.5, NAN}, hi[] = {0.9, 0.65, NAN};
    ft_plot_series s[] = {{"variants", x, y, 3, 0x1F77B4u, lo, hi}};
    ft_plot_panel panel = {"test.accuracy", "variant", s, 1, NULL, 0};
    ft_plot_area a;
    unsigned char *png = NULL;
    size_t len = 0;
    ft_error err = {0};
    int rc = ft_plot_lines_png("bars", &panel, 1, 900, 500, &png, &len, &a, &err);
    CHECKF(rc == 0, "%s", err.msg);
    if (rc != 0)
        return;
    save("/tmp/ft_plot_error_bars.png", png, len);
    image img;
    CHECK(decode(png, len, &img) == 0);
    free(png);
    if (!img.rgb)
        return;
    CHECK(a.ymin < 0.5 && a.ymax > 0.9); /* the bars, not only the means, fit */
    CHECK(a.xmin <= 0.5 && a.xmax >= 3.5); /* every category has its slot, with a value or not */
    for (int i = 0; i < 2; i++) {
        double px_x = to_px_x(&a, x[i]);
        CHECK(colour_near(&img, px_x, to_px_y(&a, y[i]), 0x1F77B4u, 1));
        /* along the bar, at both ends, and at the caps' tips */
        CHECK(colour_near(&img, px_x, to_px_y(&a, (lo[i] + y[i]) / 2), 0x1F77B4u, 0));
        CHECK(colour_near(&img, px_x, to_px_y(&a, hi[i]), 0x1F77B4u, 0));
        CHECK(colour_near(&img, px_x - 6, to_px_y(&a, lo[i]), 0x1F77B4u, 0));
        CHECK(colour_near(&img, px_x + 6, to_px_y(&a, hi[i]), 0x1F77B4u, 0));
    }
    /* halfway between the points, on the line a line chart would draw */
    CHECK(!colour_near(&img, to_px_x(&a, 1.5), to_px_y(&a, 0.7), 0x1F77B4u, 2));
    free(img.rgb);
}

/* Tiny and huge magnitudes get compact labels and still map exactly. */
static void test_lines_extreme_values(void)
{
    double x[] = {0, 1, 2, 3, 4, 5}, y[] = {1e-3, 8e-4, 6e-4, 5e-4, 4.5e-4, 4.2e-4};
    double big[] = {1e12, 3e12, 2e12, 5e12, 4e12, 6e12};
    ft_plot_series s1[] = {{"lr", x, y, 6, 0x1F77B4u, NULL, NULL}};
    ft_plot_series s2[] = {{"samples", x, big, 6, 0xFF7F0Eu, NULL, NULL}};
    ft_plot_panel panels[] = {{"learning rate", "step", s1, 1, NULL, 0}, {"count", "step", s2, 1, NULL, 0}};
    ft_plot_area a[2];
    unsigned char *png = NULL;
    size_t len = 0;
    ft_error err = {0};
    CHECKF(ft_plot_lines_png("magnitudes", panels, 2, 900, 500, &png, &len, a, &err) == 0, "%s",
           err.msg);
    if (!png)
        return;
    save("/tmp/ft_plot_magnitudes.png", png, len);
    image img;
    CHECK(decode(png, len, &img) == 0);
    free(png);
    if (!img.rgb)
        return;
    CHECK(colour_near(&img, to_px_x(&a[0], 2), to_px_y(&a[0], 6e-4), 0x1F77B4u, 2));
    CHECK(colour_near(&img, to_px_x(&a[1], 3), to_px_y(&a[1], 5e12), 0xFF7F0Eu, 2));
    free(img.rgb);
}

/* A diagonal-heavy 5-class matrix: diagonal cells are the darkest of their
 * row, and within a row the shade orders like the counts. */
static void test_confusion(void)
{
    enum { K = 5 };
    uint64_t counts[K * K];
    for (int t = 0; t < K; t++)
        for (int p = 0; p < K; p++)
            counts[t * K + p] = t == p ? 900 : (uint64_t)(5 + 20 * ((t + 2 * p) % K));
    const char *names[K] = {"Sandal", "Shirt", "Sneaker", "Bag",
                            "Ankle boot with a very long name"};
    unsigned char *png = NULL;
    size_t len = 0;
    ft_error err = {0};
    int rc = ft_plot_confusion_png("job_abc123 \xE2\x80\x94 confusion (test)", counts, K, names,
                                   &png, &len, &err);
    CHECKF(rc == 0, "%s", err.msg);
    if (rc != 0)
        return;
    save("/tmp/ft_plot_confusion.png", png, len);
    int w = 0, h = 0;
    ft_plot_area g;
    CHECK(ft_plot_confusion_layout(K, names, &w, &h, &g) == 0);
    image img;
    CHECK(decode(png, len, &img) == 0);
    free(png);
    if (!img.rgb)
        return;
    CHECK(img.w == w && img.h == h);
    int cell = (g.x1 - g.x0 + 1) / K;
    for (int t = 0; t < K; t++) {
        for (int p = 0; p < K; p++) {
            /* Sample the cell's shade in a corner, away from the count's digits. */
            int x = g.x0 + p * cell + 3, y = g.y0 + t * cell + 3;
            double cx = to_px_x(&g, p + 0.5), cy = to_px_y(&g, t + 0.5);
            CHECK(cx > x && cx < x + cell - 3 && cy > y && cy < y + cell - 3);
            for (int q = 0; q < K; q++) {
                int xq = g.x0 + q * cell + 3;
                if (counts[t * K + p] > counts[t * K + q])
                    CHECKF(luma(px(&img, x, y)) < luma(px(&img, xq, y)), "row %d: %d vs %d", t, p,
                           q);
            }
        }
        /* The diagonal count is drawn in a contrasting (light) colour on dark. */
        int light = 0, x0 = g.x0 + t * cell, y0 = g.y0 + t * cell;
        for (int y = y0; y < y0 + cell; y++)
            for (int x = x0; x < x0 + cell; x++)
                light += luma(px(&img, x, y)) > 200;
        CHECKF(light > 20, "diagonal cell %d: %d light pixels", t, light);
    }
    /* Title, class names and captions are dark text outside the grid. */
    CHECK(count_dark(&img, 0, 0, img.w - 1, g.y0 - 4) > 100);
    CHECK(count_dark(&img, 0, g.y0, g.x0 - 4, g.y1) > 200);
    CHECK(count_dark(&img, g.x0, g.y1 + 4, g.x1, img.h - 1) > 200);
    free(img.rgb);
}

/* Twenty classes with zero rows and huge counts still render at the documented size. */
static void test_confusion_many_classes(void)
{
    enum { K = 20 };
    uint64_t counts[K * K] = {0};
    for (int t = 1; t < K; t++)
        for (int p = 0; p < K; p++)
            counts[t * K + p] = t == p ? (uint64_t)t * 1000003u : (uint64_t)((t * 7 + p * 3) % 11);
    counts[K * K - 1] = UINT64_MAX; /* row sums overflow uint64; must not matter */
    counts[K * K - 2] = UINT64_MAX;
    unsigned char *png = NULL;
    size_t len = 0;
    ft_error err = {0};
    int rc = ft_plot_confusion_png("twenty classes", counts, K, NULL, &png, &len, &err);
    CHECKF(rc == 0, "%s", err.msg);
    if (rc != 0)
        return;
    save("/tmp/ft_plot_confusion20.png", png, len);
    int w, h;
    CHECK(ft_plot_confusion_layout(K, NULL, &w, &h, NULL) == 0);
    image img;
    CHECK(decode(png, len, &img) == 0);
    free(png);
    if (img.rgb)
        CHECK(img.w == w && img.h == h && w <= 4000 && h <= 4000);
    free(img.rgb);
    CHECK(ft_plot_confusion_layout(100, NULL, &w, &h, NULL) == 0 && w <= 4000 && h <= 4000);
    const char *names[100];
    for (int i = 0; i < 100; i++)
        names[i] = "a class name far longer than any margin should allow";
    CHECK(ft_plot_confusion_layout(100, names, &w, &h, NULL) == 0 && w <= 4000 && h <= 4000);
    /* Fewer classes, bigger cells: the grid shrinks less than k does. */
    int w5, h5;
    CHECK(ft_plot_confusion_layout(5, NULL, &w5, &h5, NULL) == 0 && w5 < w && h5 < h);
}

/* Smallest, many narrow panels, and large: text scale 1..4, mapping still exact. */
static void test_lines_sizes(void)
{
    static const struct { int w, h, npanels; } size[] = {{200, 200, 1}, {1200, 1000, 8},
                                                        {3000, 1500, 2}};
    double x[] = {1, 2, 3, 4, 5}, y[] = {-2e-5, -1e-5, 3e-5, 2.5e-5, 1e-5};
    ft_plot_series s[] = {{"a rather long legend label for a small chart", x, y, 5, 0x2CA02Cu, NULL, NULL}};
    ft_plot_panel p = {"a long y caption that will not fit", "x caption", s, 1, NULL, 0};
    ft_plot_panel panels[8] = {p, p, p, p, p, p, p, p};
    for (size_t i = 0; i < sizeof size / sizeof size[0]; i++) {
        ft_plot_area a[8];
        unsigned char *png = NULL;
        size_t len = 0;
        ft_error err = {0};
        int rc = ft_plot_lines_png("sizes", panels, (size_t)size[i].npanels, size[i].w, size[i].h,
                                   &png, &len, a, &err);
        CHECKF(rc == 0, "%dx%d: %s", size[i].w, size[i].h, err.msg);
        if (rc != 0)
            continue;
        char path[64];
        snprintf(path, sizeof path, "/tmp/ft_plot_size_%dx%d.png", size[i].w, size[i].h);
        save(path, png, len);
        image img;
        CHECK(decode(png, len, &img) == 0);
        free(png);
        if (!img.rgb)
            continue;
        CHECK(img.w == size[i].w && img.h == size[i].h);
        for (int k = 0; k < size[i].npanels; k++) {
            CHECK(a[k].x0 < a[k].x1 && a[k].y0 < a[k].y1 && a[k].x1 < img.w && a[k].y1 < img.h);
            CHECKF(colour_near(&img, to_px_x(&a[k], 3), to_px_y(&a[k], 3e-5), 0x2CA02Cu, 2),
                   "%dx%d panel %d", size[i].w, size[i].h, k);
        }
        free(img.rgb);
    }
}

static void expect_einval(int rc, const ft_error *err, const char *what)
{
    CHECKF(rc == -1, "%s: rc %d", what, rc);
    CHECKF(err->code == FT_EINVAL && err->msg[0] != '\0', "%s: code %d msg '%s'", what,
           (int)err->code, err->msg);
}

static void test_errors(void)
{
    double x[] = {1, 2}, y[] = {1, 2};
    ft_plot_series s[] = {{"a", x, y, 2, 0, NULL, NULL}};
    ft_plot_series bad[] = {{"a", NULL, y, 2, 0, NULL, NULL}};
    ft_plot_panel ok[] = {{"y", "x", s, 1, NULL, 0}};
    ft_plot_panel badp[] = {{"y", "x", bad, 1, NULL, 0}};
    ft_plot_panel nullseries[] = {{"y", "x", NULL, 1, NULL, 0}};
    ft_plot_panel many[4] = {{"y", "x", s, 1, NULL, 0}, {"y", "x", s, 1, NULL, 0}, {"y", "x", s, 1, NULL, 0},
                             {"y", "x", s, 1, NULL, 0}};
    unsigned char *png = (unsigned char *)"sentinel";
    size_t len = 7;
    ft_error err;
#define LINES(panels, n, w, h, out, outlen)                                                  \
    (ft_error_clear(&err), ft_plot_lines_png("t", panels, n, w, h, out, outlen, NULL, &err))
    expect_einval(LINES(ok, 1, 900, 500, NULL, &len), &err, "png NULL");
    expect_einval(LINES(ok, 1, 900, 500, &png, NULL), &err, "png_len NULL");
    CHECK(png == NULL); /* outputs are reset even on failure */
    expect_einval(LINES(NULL, 1, 900, 500, &png, &len), &err, "panels NULL");
    CHECK(png == NULL && len == 0);
    expect_einval(LINES(ok, 0, 900, 500, &png, &len), &err, "no panels");
    expect_einval(LINES(ok, 1, 199, 500, &png, &len), &err, "too narrow");
    expect_einval(LINES(ok, 1, 900, 4001, &png, &len), &err, "too tall");
    expect_einval(LINES(ok, 1, -5, 500, &png, &len), &err, "negative width");
    expect_einval(LINES(many, 4, 400, 500, &png, &len), &err, "panels too narrow");
    expect_einval(LINES(badp, 1, 900, 500, &png, &len), &err, "x NULL");
    expect_einval(LINES(nullseries, 1, 900, 500, &png, &len), &err, "series NULL");
#undef LINES
    /* A NULL err is allowed, on failure and on success. */
    CHECK(ft_plot_lines_png("t", ok, 1, 100, 500, &png, &len, NULL, NULL) == -1 && png == NULL);
    CHECK(ft_plot_lines_png(NULL, ok, 1, 900, 500, &png, &len, NULL, NULL) == 0 && len > 0);
    free(png);
    uint64_t counts[4] = {1, 2, 3, 4};
#define CM(c, k, out, outlen)                                                                \
    (ft_error_clear(&err), ft_plot_confusion_png("t", c, k, NULL, out, outlen, &err))
    expect_einval(CM(NULL, 2, &png, &len), &err, "counts NULL");
    expect_einval(CM(counts, 0, &png, &len), &err, "k 0");
    expect_einval(CM(counts, -3, &png, &len), &err, "k negative");
    expect_einval(CM(counts, 101, &png, &len), &err, "k too big");
    expect_einval(CM(counts, 2, NULL, &len), &err, "png NULL");
    expect_einval(CM(counts, 2, &png, NULL), &err, "len NULL");
#undef CM
    CHECK(ft_plot_confusion_png("t", counts, 0, NULL, &png, &len, NULL) == -1);
    CHECK(ft_plot_confusion_layout(0, NULL, NULL, NULL, NULL) == -1);
    ft_error_clear(&err);
    CHECK(ft_png_encode(NULL, 10, 10, 3, &png, &len, &err) == -1 && err.code == FT_EINVAL);
    uint8_t dot[3] = {1, 2, 3};
    CHECK(ft_png_encode(dot, 1, 1, 2, &png, &len, &err) == -1 && err.msg[0]);
}

/* The encoder round-trips gray, RGB and RGBA exactly. */
static void test_png_roundtrip(void)
{
    uint8_t pix[7 * 5 * 4];
    for (size_t i = 0; i < sizeof pix; i++)
        pix[i] = (uint8_t)(i * 37 + 11);
    static const int channels[] = {1, 3, 4};
    static const png_uint_32 format[] = {PNG_FORMAT_GRAY, PNG_FORMAT_RGB, PNG_FORMAT_RGBA};
    for (int c = 0; c < 3; c++) {
        unsigned char *png = NULL;
        size_t len = 0;
        ft_error err = {0};
        CHECKF(ft_png_encode(pix, 7, 5, channels[c], &png, &len, &err) == 0, "%s", err.msg);
        png_image pi;
        memset(&pi, 0, sizeof pi);
        pi.version = PNG_IMAGE_VERSION;
        uint8_t back[sizeof pix];
        CHECK(png_image_begin_read_from_memory(&pi, png, len));
        pi.format = format[c];
        CHECK(pi.width == 7 && pi.height == 5);
        CHECK(png_image_finish_read(&pi, NULL, back, 0, NULL));
        CHECK(memcmp(back, pix, (size_t)7 * 5 * (size_t)channels[c]) == 0);
        free(png);
    }
}

/* Text measuring: UTF-8 is one glyph per character, fitting adds "..". */
static void test_font(void)
{
    const char *s = "a\xE2\x80\x94" "b\xff";
    CHECK(ft_font_next(&s) == 'a');
    CHECK(ft_font_next(&s) == FT_FONT_LONG_DASH);
    CHECK(ft_font_next(&s) == 'b');
    CHECK(ft_font_next(&s) == '?');
    CHECK(ft_font_next(&s) == 0);
    CHECK(ft_font_text_width("", 2) == 0);
    CHECK(ft_font_text_width("00", 1) == 11); /* two 5-px digits, one gap */
    CHECK(ft_font_text_width("00", 3) == 33);
    char out[32];
    ft_font_fit("Ankle boot", 1, 1000, out, sizeof out);
    CHECK(strcmp(out, "Ankle boot") == 0);
    ft_font_fit("Ankle boot", 1, 30, out, sizeof out);
    CHECK(strlen(out) >= 3 && strcmp(out + strlen(out) - 2, "..") == 0);
    CHECK(ft_font_text_width(out, 1) <= 30);
    ft_font_fit("Ankle boot", 1, 2, out, sizeof out);
    CHECK(out[0] == '\0');
    ft_font_fit("abcdef", 1, 1000, out, 4); /* a small buffer also shortens */
    CHECK(strcmp(out, "a..") == 0);
    /* Every printable glyph has ink except space; drawing clips at the edges. */
    uint8_t buf[20 * 12 * 3];
    for (int c = 33; c <= FT_FONT_LONG_DASH; c++) {
        memset(buf, 0xFF, sizeof buf);
        char str[2] = {(char)c, 0};
        ft_font_draw(buf, 20, 12, 2, 1, str, 1, 0);
        int ink = 0;
        for (size_t i = 0; i < sizeof buf; i += 3)
            ink += buf[i] == 0;
        CHECKF(ink > 0, "glyph '%c' is blank", c);
    }
    ft_font_draw(buf, 20, 12, -7, -5, "clipped", 3, 0);
    ft_font_draw_up(buf, 20, 12, 15, 30, "clipped", 3, 0);
}


int main(void)
{
    RUN(test_lines_two_panels);
    RUN(test_lines_degenerate);
    RUN(test_error_bars);
    RUN(test_lines_extreme_values);
    RUN(test_lines_sizes);
    RUN(test_confusion);
    RUN(test_confusion_many_classes);
    RUN(test_errors);
    RUN(test_png_roundtrip);
    RUN(test_font);
    return TEST_SUMMARY();
}
