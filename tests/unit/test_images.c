/* PNG decoding (every colour type, depth and interlacing), colour conversion,
 * bilinear resizing, and image-folder tars: Fashion-MNIST images written as
 * PNGs of several encodings must come back bit-exact, with the right classes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/data/image.h"
#include "core/data/ingest.h"
#include "tests/unit/test.h"
#include "tests/unit/test_csv_util.h"
#include "tests/unit/test_image_util.h"

#define FMNIST "/usr/share/datasets/fashion-mnist/"

static unsigned *pattern(int w, int h, int ch, int depth)
{
    unsigned *s = malloc(sizeof *s * (size_t)(w * h * ch));
    unsigned max = (1u << depth) - 1;
    for (int i = 0; i < w * h * ch; i++)
        s[i] = (unsigned)(i * 2654435761u >> 7) % (max + 1);
    return s;
}

static int decode(membuf png, ft_image *im)
{
    ft_error err = {0};
    int rc = ft_png_decode(png.data, png.len, 1u << 20, im, &err);
    if (rc != 0)
        fprintf(stderr, "decode: %s\n", err.msg);
    free(png.data);
    return rc;
}

static void test_gray_depths(void)
{
    int w = 13, h = 7;
    for (int depth = 1; depth <= 16; depth *= 2) {
        for (int interlace = 0; interlace <= 1; interlace++) {
            unsigned *s = pattern(w, h, 1, depth);
            ft_image im;
            CHECK(decode(png_encode(w, h, PNG_COLOR_TYPE_GRAY, depth, interlace, s, NULL, 0, NULL, 0), &im) == 0);
            CHECK(im.width == w && im.height == h && im.channels == 1);
            int bad = 0;
            for (int i = 0; im.pixels && i < w * h; i++) {
                unsigned want = depth == 16 ? (s[i] * 255u + 32895u) >> 16 /* libpng's rounding */
                                            : s[i] * 255u / ((1u << depth) - 1);
                bad += im.pixels[i] != want;
            }
            CHECKF(bad == 0, "depth %d interlace %d: %d pixels differ", depth, interlace, bad);
            ft_image_free(&im);
            free(s);
        }
    }
}

static void test_color_types(void)
{
    int w = 9, h = 6;
    /* RGB and RGBA, 8 and 16 bit, interlaced or not: alpha is dropped. */
    for (int alpha = 0; alpha <= 1; alpha++)
        for (int depth = 8; depth <= 16; depth += 8) {
            int ch = alpha ? 4 : 3;
            unsigned *s = pattern(w, h, ch, depth);
            ft_image im;
            CHECK(decode(png_encode(w, h, alpha ? PNG_COLOR_TYPE_RGBA : PNG_COLOR_TYPE_RGB, depth, depth == 16, s, NULL,
                                    0, NULL, 0),
                         &im) == 0);
            CHECK(im.channels == 3);
            int bad = 0;
            for (int p = 0; im.pixels && p < w * h; p++)
                for (int c = 0; c < 3; c++) {
                    unsigned v = s[p * ch + c];
                    bad += im.pixels[p * 3 + c] != (depth == 16 ? (v * 255u + 32895u) >> 16 : v);
                }
            CHECKF(bad == 0, "rgb%s %d-bit: %d samples differ", alpha ? "a" : "", depth, bad);
            ft_image_free(&im);
            free(s);
        }
    /* Gray + alpha. */
    unsigned *s = pattern(w, h, 2, 8);
    ft_image im;
    CHECK(decode(png_encode(w, h, PNG_COLOR_TYPE_GRAY_ALPHA, 8, 1, s, NULL, 0, NULL, 0), &im) == 0);
    CHECK(im.channels == 1 && im.pixels[5] == s[10]);
    ft_image_free(&im);
    free(s);
    /* Palette (4-bit) with transparency: the palette's colours. */
    png_color pal[16];
    png_byte trns[3] = {0, 128, 255};
    for (int i = 0; i < 16; i++)
        pal[i] = (png_color){(png_byte)(i * 16), (png_byte)(255 - i * 16), (png_byte)(i * 7)};
    s = pattern(w, h, 1, 4);
    CHECK(decode(png_encode(w, h, PNG_COLOR_TYPE_PALETTE, 4, 1, s, pal, 16, trns, 3), &im) == 0);
    int bad = 0;
    for (int p = 0; im.pixels && p < w * h; p++)
        bad += im.pixels[3 * p] != pal[s[p]].red || im.pixels[3 * p + 1] != pal[s[p]].green ||
               im.pixels[3 * p + 2] != pal[s[p]].blue;
    CHECK(im.channels == 3 && bad == 0);
    ft_image_free(&im);
    free(s);
}

static void test_convert_and_resize(void)
{
    ft_error err = {0};
    uint8_t rgb[] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30};
    ft_image im = {.width = 2, .height = 2, .channels = 3, .pixels = rgb};
    uint8_t out[12];
    CHECK(ft_image_to_chw(&im, 1, 2, 2, out, &err) == 0);
    /* PIL's L = (19595 R + 38470 G + 7471 B + 32768) >> 16 */
    CHECK(out[0] == 76 && out[1] == 150 && out[2] == 29 && out[3] == 18);
    CHECK(ft_image_to_chw(&im, 3, 2, 2, out, &err) == 0); /* planar: all R, then G, then B */
    CHECK(out[0] == 255 && out[1] == 0 && out[3] == 10 && out[4] == 0 && out[5] == 255 && out[11] == 30);
    uint8_t gray[] = {0, 100, 200, 255};
    ft_image g = {.width = 2, .height = 2, .channels = 1, .pixels = gray};
    CHECK(ft_image_to_chw(&g, 3, 2, 2, out, &err) == 0 && out[4] == 0 && out[7] == 255 && out[9] == 100);
    /* 2x2 -> 4x4, half-pixel centres: sample positions -0.25 (clamped), 0.25, 0.75, 1.25 (clamped). */
    uint8_t up[16];
    CHECK(ft_image_to_chw(&g, 1, 4, 4, up, &err) == 0);
    uint8_t want_row0[] = {0, 25, 75, 100}, want_row3[] = {200, 214, 241, 255};
    CHECK(memcmp(up, want_row0, 4) == 0 && memcmp(up + 12, want_row3, 4) == 0);
    CHECK(up[4] == 50); /* row 1 (y = 0.25), column 0: 0.75 * 0 + 0.25 * 200 */
    /* 4x4 -> 2x2: each output averages a 2x2 block's centre. */
    uint8_t down[4];
    ft_image u = {.width = 4, .height = 4, .channels = 1, .pixels = up};
    CHECK(ft_image_to_chw(&u, 1, 2, 2, down, &err) == 0);
    CHECK(down[0] == (uint8_t)((0 + 25 + 50 + (up[5]) + 2) / 4) || abs(down[0] - (0 + 25 + 50 + up[5]) / 4) <= 1);
    /* A constant image stays constant at any size. */
    uint8_t flat[6] = {77, 77, 77, 77, 77, 77}, big[7 * 5];
    ft_image f = {.width = 3, .height = 2, .channels = 1, .pixels = flat};
    CHECK(ft_image_to_chw(&f, 1, 5, 7, big, &err) == 0);
    int same = 1;
    for (int i = 0; i < 35; i++)
        same &= big[i] == 77;
    CHECK(same);
}

static void test_limits_and_errors(void)
{
    ft_error err = {0};
    ft_image im;
    unsigned *s = pattern(64, 64, 1, 8);
    membuf png = png_encode(64, 64, PNG_COLOR_TYPE_GRAY, 8, 0, s, NULL, 0, NULL, 0);
    CHECK(ft_png_decode(png.data, png.len, 4095, &im, &err) != 0 && err.code == FT_ETOOBIG);
    CHECK(strcmp(err.msg, "the image is 64x64 pixels, more than the limit of 4095") == 0);
    for (size_t cut = 0; cut < png.len; cut += 7) /* every truncation is an error, never a crash */
        CHECK(ft_png_decode(png.data, cut, 1u << 20, &im, &err) != 0 && err.code == FT_EFORMAT);
    free(png.data);
    free(s);
}

/* Fashion-MNIST test images as a tar.gz of PNGs in mixed encodings under a
 * root directory, compared with the IDX originals. */
static void test_fashion_mnist_tar(void)
{
    ft_error err = {0};
    ft_dataset *idx = ft_idx_load(FMNIST "t10k-images-idx3-ubyte.gz", FMNIST "t10k-labels-idx1-ubyte.gz", &err);
    CHECKF(idx != NULL, "%s (is dataset-fashion-mnist installed?)", err.msg);
    if (!idx)
        return;
    static const char *names[] = {"t-shirt", "trouser", "pullover", "dress", "coat",
                                  "sandal",  "shirt",   "sneaker",  "bag",   "ankle-boot"};
    const int n = 300;
    membuf tar = {0};
    tar_add(&tar, "fmnist/", NULL, 0, '5');
    unsigned samples[28 * 28 * 3];
    png_color pal[256];
    for (int i = 0; i < 256; i++)
        pal[i] = (png_color){(png_byte)i, (png_byte)i, (png_byte)i};
    for (int i = 0; i < n; i++) {
        const uint8_t *px = ft_dataset_cx_u8(idx) + (size_t)i * 784;
        int kind = i % 4;
        for (int p = 0; p < 784; p++)
            for (int c = 0; c < (kind == 2 ? 3 : 1); c++)
                samples[p * (kind == 2 ? 3 : 1) + c] = px[p];
        membuf png = kind == 2   ? png_encode(28, 28, PNG_COLOR_TYPE_RGB, 8, 0, samples, NULL, 0, NULL, 0)
                     : kind == 3 ? png_encode(28, 28, PNG_COLOR_TYPE_PALETTE, 8, 0, samples, pal, 256, NULL, 0)
                                 : png_encode(28, 28, PNG_COLOR_TYPE_GRAY, 8, kind == 1, samples, NULL, 0, NULL, 0);
        char name[128];
        snprintf(name, sizeof name, "fmnist/%s/%04d.png", names[ft_dataset_clabels(idx)[i]], i);
        tar_add(&tar, name, png.data, png.len, '0');
        free(png.data);
    }
    tar_add(&tar, "fmnist/.DS_Store", "x", 1, '0');
    tar_add(&tar, "fmnist/LICENSE.txt", "MIT", 3, '0');
    tar_end(&tar);
    size_t zlen = 0;
    unsigned char *gz = gzip_bytes(tar.data, tar.len, &zlen);
    ft_ingest_options opt = {.color = FT_COLOR_GRAYSCALE};
    json_t *s = NULL;
    ft_dataset *ds = ingest_mem(gz, zlen, &opt, &s, &err);
    CHECKF(ds != NULL, "%s", err.msg);
    if (ds) {
        CHECK(ft_dataset_rows(ds) == (size_t)n && ft_dataset_xtype(ds) == FT_X_U8);
        ft_shape sh = ft_dataset_shape(ds);
        CHECK(sh.rank == 3 && sh.dim[0] == 1 && sh.dim[1] == 28 && sh.dim[2] == 28);
        CHECK(memcmp(ft_dataset_cx_u8(ds), ft_dataset_cx_u8(idx), (size_t)n * 784) == 0);
        /* Classes are the sorted directory names. */
        CHECK(ft_dataset_target_dim(ds) == 10 && strcmp(cname(ds, 0), "ankle-boot") == 0 &&
              strcmp(cname(ds, 9), "trouser") == 0);
        int bad = 0;
        for (int i = 0; i < n; i++)
            bad += strcmp(cname(ds, ft_dataset_clabels(ds)[i]), names[ft_dataset_clabels(idx)[i]]) != 0;
        CHECKF(bad == 0, "%d labels wrong", bad);
        CHECK(strcmp(json_string_value(json_object_get(s, "root")), "fmnist") == 0);
        CHECK(strcmp(json_string_value(json_object_get(s, "compression")), "gzip") == 0);
        CHECK(json_integer_value(json_object_get(s, "skipped_count")) == 2);
        CHECK(strcmp(json_string_value(json_object_get(s, "color")), "grayscale") == 0);
    }
    ft_dataset_free(ds);
    json_decref(s);
    /* RGB output: three equal planes. Resized output: 14x14. */
    opt = (ft_ingest_options){.color = FT_COLOR_RGB, .image_height = 14, .image_width = 14};
    ds = ingest_mem(tar.data, tar.len, &opt, &s, &err);
    CHECKF(ds != NULL, "%s", err.msg);
    if (ds) {
        ft_shape sh = ft_dataset_shape(ds);
        CHECK(sh.dim[0] == 3 && sh.dim[1] == 14 && sh.dim[2] == 14);
        const uint8_t *x = ft_dataset_cx_u8(ds);
        CHECK(memcmp(x, x + 196, 196) == 0 && memcmp(x, x + 392, 196) == 0);
        /* 2x downscaling with half-pixel centres averages 2x2 blocks. */
        const uint8_t *o = ft_dataset_cx_u8(idx);
        int worst = 0;
        for (int y = 0; y < 14; y++)
            for (int xx = 0; xx < 14; xx++) {
                int avg = (o[(2 * y) * 28 + 2 * xx] + o[(2 * y) * 28 + 2 * xx + 1] + o[(2 * y + 1) * 28 + 2 * xx] +
                           o[(2 * y + 1) * 28 + 2 * xx + 1]) * 100 / 4;
                int d = abs(x[y * 14 + xx] * 100 - avg);
                worst = d > worst ? d : worst;
            }
        CHECKF(worst <= 50, "worst difference %d/100", worst);
        CHECK(json_integer_value(json_object_get(s, "resized")) == n);
    }
    ft_dataset_free(ds);
    json_decref(s);
    free(gz);
    free(tar.data);
    ft_dataset_free(idx);
}

static membuf small_png(int w, int h, unsigned v)
{
    unsigned s[64 * 64];
    for (int i = 0; i < w * h; i++)
        s[i] = v;
    return png_encode(w, h, PNG_COLOR_TYPE_GRAY, 8, 0, s, NULL, 0, NULL, 0);
}

/* Long names (GNU and pax), ustar prefixes, "./", nested directories inside
 * a class, sizes that differ from the first image. */
static void test_tar_names(void)
{
    membuf tar = {0}, a = small_png(4, 4, 10), b = small_png(8, 2, 20), c = small_png(4, 4, 30);
    char long_class[160], long_name[300];
    memset(long_class, 'k', 150);
    long_class[150] = '\0';
    snprintf(long_name, sizeof long_name, "%s/%s.png", long_class, "image-with-a-long-name");
    tar_add(&tar, "././@LongLink", long_name, strlen(long_name) + 1, 'L');
    tar_add(&tar, "truncated-name", a.data, a.len, '0');
    char pax[400];
    const char *path = "paxclass/p.png";
    int len = (int)strlen(path) + 9; /* "NN" " " "path=" value "\n" */
    snprintf(pax, sizeof pax, "%d path=%s\n", len, path);
    tar_add(&tar, "PaxHeaders/p", pax, strlen(pax), 'x');
    tar_add(&tar, "ignored-name", b.data, b.len, '0');
    char prefixed[260];
    memset(prefixed, 'd', 120); /* a 120-byte directory forces the ustar prefix field */
    snprintf(prefixed + 120, sizeof prefixed - 120, "/sub/c.png");
    tar_add(&tar, prefixed, c.data, c.len, '0');
    tar_add(&tar, "./paxclass/./deeper/x.png", a.data, a.len, '0');
    tar_add(&tar, "volume", NULL, 0, 'V');
    tar_add(&tar, "paxclass/._x.png", "junk", 4, '0');
    tar_end(&tar);
    json_t *s = NULL;
    ft_error err = {0};
    /* Sizes differ: squashed to 4x4 (the default would crop them to 256x256). */
    ft_ingest_options opt = {.image_height = 4, .image_width = 4, .fit = FT_FIT_SQUASH};
    ft_dataset *ds = ingest_mem(tar.data, tar.len, &opt, &s, &err);
    CHECKF(ds != NULL, "%s", err.msg);
    if (ds) {
        CHECK(ft_dataset_rows(ds) == 4 && ft_dataset_target_dim(ds) == 3);
        /* sorted: "ddd...", "kkk...", "paxclass" */
        CHECK(cname(ds, 0)[0] == 'd' && strlen(cname(ds, 0)) == 120 && strcmp(cname(ds, 1), long_class) == 0 &&
              strcmp(cname(ds, 2), "paxclass") == 0);
        const int32_t *y = ft_dataset_clabels(ds);
        CHECK(y[0] == 1 && y[1] == 2 && y[2] == 0 && y[3] == 2);
        const uint8_t *x = ft_dataset_cx_u8(ds);
        CHECK(x[0] == 10 && x[16] == 20 && x[31] == 20 && x[32] == 30); /* 8x2 resized to 4x4 */
        CHECK(json_integer_value(json_object_get(s, "resized")) == 1);
        CHECK(json_object_get(s, "root") == NULL);
    }
    ft_dataset_free(ds);
    json_decref(s);
    free(tar.data);
    free(a.data), free(b.data), free(c.data);
}

int main(void)
{
    RUN(test_gray_depths);
    RUN(test_color_types);
    RUN(test_convert_and_resize);
    RUN(test_limits_and_errors);
    RUN(test_fashion_mnist_tar);
    RUN(test_tar_names);
    return TEST_SUMMARY();
}
