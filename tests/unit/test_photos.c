/* Photos: JPEG decoding, zip archives of JPEGs of mixed sizes, and a model's
 * image preprocessing against torchvision (tests/fixtures/photos.json, from
 * tools/fixtures/photos.py). Runs from the repository root. */
#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <stdio.h>
#include <jpeglib.h>

#include "core/data/image.h"
#include "core/data/image_preproc.h"
#include "core/data/ingest.h"
#include "tests/unit/test.h"

/* The fixture images' sample (y, x, c), as tools/fixtures/photos.py's pixel(). */
static uint8_t pixel(int y, int x, int c) { return (uint8_t)((x * x * 3 + y * 5 + x * y + c * 77 + (x ^ y) * 11) % 256); }

/* A w x h JPEG (1 or 3 channels) of a smooth pattern, in memory (malloc'd). */
static unsigned char *jpeg_encode(int w, int h, int ch, int progressive, unsigned long *len)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    unsigned char *out = NULL;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &out, len);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = ch;
    c.in_color_space = ch == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 95, TRUE);
    if (progressive)
        jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    unsigned char *row = malloc((size_t)w * (size_t)ch);
    while (c.next_scanline < c.image_height) {
        for (int x = 0; x < w; x++)
            for (int k = 0; k < ch; k++)
                row[x * ch + k] = (unsigned char)(40 + x * 100 / w + (int)c.next_scanline * 60 / h + k * 30);
        jpeg_write_scanlines(&c, &row, 1);
    }
    free(row);
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return out;
}

static void test_jpeg_decode(void)
{
    unsigned long len;
    ft_error err = {0};
    ft_image im;
    for (int progressive = 0; progressive < 2; progressive++)
        for (int ch = 1; ch <= 3; ch += 2) {
            unsigned char *j = jpeg_encode(21, 13, ch, progressive, &len);
            CHECKF(ft_image_decode(j, len, 1000, &im, &err) == 0, "%s", err.msg);
            CHECK(im.width == 21 && im.height == 13 && im.channels == ch);
            /* quality 95 of a smooth ramp: within a few levels of the source */
            int worst = 0;
            for (int y = 0; y < 13; y++)
                for (int x = 0; x < 21; x++) {
                    int want = 40 + x * 100 / 21 + y * 60 / 13 + (ch - 1) * 30;
                    int d = abs(im.pixels[((size_t)y * 21 + (size_t)x) * (size_t)ch + (size_t)(ch - 1)] - want);
                    worst = d > worst ? d : worst;
                }
            CHECKF(worst <= 6, "worst %d", worst);
            int w, h;
            CHECK(ft_image_size(j, len, &w, &h) == 0 && w == 21 && h == 13);
            ft_image_free(&im);
            /* the pixel limit comes from the header: nothing decoded */
            CHECK(ft_jpeg_decode(j, len, 21 * 13 - 1, &im, &err) != 0 && err.code == FT_ETOOBIG &&
                  strcmp(err.msg, "the image is 21x13 pixels, more than the limit of 272") == 0 && !im.pixels);
            /* every truncation is an error, never grey rows */
            int bad = 0;
            for (unsigned long cut = 0; cut < len; cut += 7)
                bad += ft_image_decode(j, cut, 1000, &im, &err) == 0 || err.code != FT_EFORMAT;
            CHECKF(bad == 0, "%d truncations decoded", bad);
            CHECK(ft_jpeg_decode(j, len - 2, 1000, &im, &err) != 0 &&
                  strcmp(err.msg, "corrupt JPEG: the JPEG data ends early (truncated)") == 0);
            /* a bad frame header: libjpeg's error_exit lands in an error, never exit() */
            unsigned long sof = 2;
            while (sof + 4 < len && !(j[sof] == 0xFF && (j[sof + 1] == 0xC0 || j[sof + 1] == 0xC2)))
                sof++;
            j[sof + 4] = 7; /* sample precision */
            CHECKF(ft_jpeg_decode(j, len, 1000, &im, &err) != 0 && err.code == FT_EFORMAT &&
                       strcmp(err.msg, "corrupt JPEG: Unsupported JPEG data precision 7") == 0,
                   "%s", err.msg);
            free(j);
        }
    CHECK(ft_image_decode("GIF89a", 6, 1000, &im, &err) != 0 &&
          strcmp(err.msg, "not a PNG or JPEG image (bad signature)") == 0);
    CHECK(ft_jpeg_decode("\x89PNG\r\n\x1a\n", 8, 1000, &im, &err) != 0 &&
          strcmp(err.msg, "not a JPEG file (bad signature)") == 0);
}

/* A CMYK JPEG is refused with its reason. */
static void test_jpeg_cmyk(void)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    unsigned char *out = NULL, row[8 * 4] = {0};
    unsigned long len = 0;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &out, &len);
    c.image_width = 8, c.image_height = 8, c.input_components = 4, c.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_start_compress(&c, TRUE);
    for (int y = 0; y < 8; y++) {
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    ft_image im;
    ft_error err = {0};
    CHECK(ft_image_decode(out, len, 1000, &im, &err) != 0 && err.code == FT_EFORMAT &&
          strcmp(err.msg, "corrupt JPEG: CMYK JPEG images are not supported; save it as RGB") == 0);
    free(out);
}

/* A zip (written with libarchive) of two classes of JPEGs of mixed sizes. */
static unsigned char *zip_of_jpegs(size_t *len)
{
    static const int sizes[][2] = {{40, 30}, {30, 40}, {50, 50}, {17, 33}};
    size_t cap = 1 << 20;
    unsigned char *buf = malloc(cap);
    struct archive *a = archive_write_new();
    archive_write_set_format_zip(a);
    archive_write_open_memory(a, buf, cap, len);
    for (int i = 0; i < 4; i++) {
        unsigned long n;
        unsigned char *j = jpeg_encode(sizes[i][0], sizes[i][1], 3, i == 3, &n);
        char name[32];
        snprintf(name, sizeof name, "photos/%s/%d.jpg", i % 2 ? "dog" : "cat", i);
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t)n);
        archive_write_header(a, e);
        archive_write_data(a, j, n);
        archive_entry_free(e);
        free(j);
    }
    archive_write_close(a);
    archive_write_free(a);
    return buf;
}

static void test_zip_of_mixed_jpegs(void)
{
    size_t len = 0;
    unsigned char *zip = zip_of_jpegs(&len);
    ft_ingest_source src = {.data = zip, .len = len, .name = "photos.zip"};
    ft_dataset *ds = NULL;
    json_t *s = NULL;
    ft_error err = {0};
    CHECKF(ft_ingest(&src, NULL, &ds, &s, &err) == 0, "%s", err.msg);
    if (ds) {
        ft_shape sh = ft_dataset_shape(ds);
        /* sizes differ: 256x256, each image covered and center-cropped */
        CHECK(sh.rank == 3 && sh.dim[0] == 3 && sh.dim[1] == 256 && sh.dim[2] == 256);
        CHECK(ft_dataset_rows(ds) == 4 && ft_dataset_target_dim(ds) == 2);
        CHECK(strcmp(json_string_value(json_object_get(s, "format")), "zip") == 0);
        CHECK(strcmp(json_string_value(json_object_get(s, "fit")), "crop") == 0);
        CHECK(json_integer_value(json_object_get(s, "resized")) == 4);
    }
    ft_dataset_free(ds);
    json_decref(s);
    /* a given size and squash: the old resize whatever the aspect ratio */
    ft_ingest_options opt = {.image_height = 8, .image_width = 8, .fit = FT_FIT_SQUASH};
    CHECKF(ft_ingest(&src, &opt, &ds, &s, &err) == 0, "%s", err.msg);
    CHECK(ds && ft_dataset_shape(ds).dim[1] == 8 &&
          strcmp(json_string_value(json_object_get(s, "fit")), "squash") == 0);
    ft_dataset_free(ds);
    json_decref(s);
    /* the pixel limit holds before any decoding */
    opt = (ft_ingest_options){.max_image_pixels = 1000};
    CHECK(ft_ingest(&src, &opt, &ds, &s, &err) != 0 && err.code == FT_ETOOBIG &&
          strcmp(err.msg, "photos.zip: entry 'photos/cat/0.jpg': the image is 40x30 pixels, more than the limit of 1000") == 0);
    /* one entry's real bytes count against the cap */
    opt = (ft_ingest_options){.max_decompressed_bytes = 500};
    CHECK(ft_ingest(&src, &opt, &ds, &s, &err) != 0 && err.code == FT_ETOOBIG);
    free(zip);
}

/* Cover + crop: an image of the target's aspect ratio is plainly resized; a
 * wider one is resized to the target's height and cropped in the middle. */
static void test_cover_crop(void)
{
    ft_resize_geom g = ft_geom_cover(60, 80, 30, 40), s = ft_geom_squash(30, 40);
    CHECK(memcmp(&g, &s, sizeof g) == 0);
    g = ft_geom_cover(30, 90, 10, 10);
    CHECK(g.rh == 10 && g.rw == 30 && g.top == 0 && g.left == 10 && g.out_h == 10 && g.out_w == 10);
    g = ft_geom_cover(333, 250, 256, 256); /* torchvision: int(256 * 333 / 250) = 340 */
    CHECK(g.rw == 256 && g.rh == 340 && g.top == 42 && g.left == 0);
    /* Python's round() halves to even: (5 - 2) / 2 = 1.5 -> 2, (3 - 2) / 2 = 0.5 -> 0 */
    CHECK(ft_geom_shorter(5, 5, 0, 2, 2).top == 2 && ft_geom_shorter(3, 3, 0, 2, 2).top == 0);
    /* a crop larger than the image pads around it */
    CHECK(ft_geom_shorter(4, 4, 0, 8, 8).top == -2);
    ft_image im = {.width = 6, .height = 2, .channels = 1, .pixels = (uint8_t[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}};
    uint8_t out[4];
    ft_error err = {0};
    ft_resize_geom c = ft_geom_cover(2, 6, 2, 2); /* no resize: the middle two columns */
    CHECK(ft_image_to_chw_geom(&im, 1, &c, out, &err) == 0 && out[0] == 2 && out[1] == 3 && out[2] == 8 && out[3] == 9);
}

static void test_preproc_parse(void)
{
    ft_image_preproc pp;
    ft_error err = {0};
    CHECK(ft_image_preproc_parse("imagenet", &pp, &err) == 0 && pp.resize == 256 && pp.crop_h == 224 &&
          pp.crop_w == 224 && pp.channels == 3 && pp.nmean == 3 && pp.std[2] == 0.225f);
    json_t *j = ft_image_preproc_to_json(&pp);
    char *text = json_dumps(j, JSON_COMPACT);
    ft_image_preproc back;
    CHECK(ft_image_preproc_parse(text, &back, &err) == 0 && memcmp(&back, &pp, sizeof pp) == 0);
    CHECK(ft_image_preproc_is_image(j) && ft_image_preproc_has_geometry(&pp));
    free(text);
    json_decref(j);
    CHECK(ft_image_preproc_parse("{\"crop\": 32, \"color\": \"gray\"}", &pp, &err) == 0 && pp.crop_h == 32 &&
          pp.crop_w == 32 && pp.channels == 1 && pp.resize == 0 && fabsf(pp.scale - 1 / 255.0f) < 1e-9f);
    static const struct {
        const char *text, *param, *msg;
    } bad[] = {
        {"vgg", "preprocess", "unknown preprocessing preset 'vgg' (known: imagenet)"},
        {"{\"mean\": [0.5], \"std\": [0.5]}", "preprocess.mean",
         "preprocessing mean per channel needs \"per\": \"channel\" (without it, mean and std are per input value)"},
        {"{\"per\": \"channel\", \"mean\": [0.5, 0.5]}", "preprocess.mean",
         "preprocessing mean must be an array of 1 or 3 numbers (one per channel)"},
        {"{\"per\": \"channel\", \"mean\": [0.5]}", "preprocess.std",
         "preprocessing std must be given with the same number of values as the other"},
        {"{\"per\": \"channel\", \"mean\": [0.5], \"std\": [0]}", "preprocess.std",
         "preprocessing std values must be positive numbers"},
        {"{\"resize\": 0}", "preprocess.resize", "preprocessing resize must be an integer from 1 to 4096 (the shorter side)"},
        {"{\"crop\": [1, 2, 3]}", "preprocess.crop", "preprocessing crop must be [height, width] or one size, each from 1 to 4096"},
        {"{\"color\": \"cmyk\"}", "preprocess.color", "preprocessing color must be \"rgb\" or \"gray\""},
        {"{\"scale\": -1}", "preprocess.scale", "preprocessing scale must be a positive number"},
        {"{\"size\": 3}", "preprocess", "unknown preprocessing key 'size' (known: per, resize, crop, color, scale, mean, std)"},
        {"{\"crop\": ", "preprocess", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = ft_image_preproc_parse(bad[i].text, &pp, &err);
        CHECKF(rc != 0 && err.code == FT_EINVAL && strcmp(err.param, bad[i].param) == 0 &&
                   (!bad[i].msg || strcmp(err.msg, bad[i].msg) == 0),
               "%s: %s (%s)", bad[i].text, err.msg, err.param);
    }
    /* the crop must be the model's input */
    CHECK(ft_image_preproc_parse("imagenet", &pp, &err) == 0);
    ft_image im = {.width = 4, .height = 4, .channels = 3, .pixels = calloc(48, 1)};
    float out[3 * 32 * 32];
    CHECK(ft_image_preproc_apply(&pp, &im, ft_shape3(3, 32, 32), out, &err) != 0 &&
          strcmp(err.msg, "the preprocessing crops to 224x224 but the model's input is 32x32") == 0);
    CHECK(ft_image_preproc_apply(&pp, &im, ft_shape3(1, 224, 224), out, &err) != 0 &&
          strcmp(err.msg, "the preprocessing's color has 3 channels but the model's input 1") == 0);
    free(im.pixels);
}

/* Every fixture case within 1e-5 of torchvision. */
static void test_preproc_vs_torchvision(void)
{
    json_error_t jerr;
    json_t *doc = json_load_file("tests/fixtures/photos.json", 0, &jerr);
    CHECKF(doc != NULL, "tests/fixtures/photos.json: %s", jerr.text);
    size_t i;
    json_t *c;
    double worst_all = 0;
    json_array_foreach(json_object_get(doc, "cases"), i, c) {
        int h = (int)json_integer_value(json_object_get(c, "height"));
        int w = (int)json_integer_value(json_object_get(c, "width"));
        int ch = (int)json_integer_value(json_object_get(c, "channels"));
        json_t *in = json_object_get(c, "input");
        ft_shape shape = ft_shape3((int)json_integer_value(json_array_get(in, 0)),
                                   (int)json_integer_value(json_array_get(in, 1)),
                                   (int)json_integer_value(json_array_get(in, 2)));
        bool row = strcmp(json_string_value(json_object_get(c, "source")), "row") == 0;
        uint8_t *px = malloc((size_t)h * (size_t)w * (size_t)ch);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int k = 0; k < ch; k++)
                    px[row ? ((size_t)k * (size_t)h + (size_t)y) * (size_t)w + (size_t)x
                           : ((size_t)y * (size_t)w + (size_t)x) * (size_t)ch + (size_t)k] = pixel(y, x, k);
        float *out = malloc(sizeof *out * ft_shape_size(shape));
        ft_image_preproc pp;
        ft_error err = {0};
        ft_image im = {.width = w, .height = h, .channels = ch, .pixels = px};
        int rc = ft_image_preproc_from_json(json_object_get(c, "preprocess"), &pp, &err);
        if (rc == 0)
            rc = row ? ft_image_preproc_apply_row(&pp, px, ch, h, w, shape, out, &err)
                     : ft_image_preproc_apply(&pp, &im, shape, out, &err);
        CHECKF(rc == 0, "%s", err.msg);
        double worst = 0;
        size_t k;
        json_t *ix;
        json_t *values = json_object_get(c, "value");
        json_array_foreach(json_object_get(c, "index"), k, ix) {
            double d = fabs(out[json_integer_value(ix)] - json_number_value(json_array_get(values, k)));
            worst = d > worst ? d : worst;
        }
        CHECKF(rc == 0 && worst <= 1e-5, "%s: worst %.3g", json_string_value(json_object_get(c, "name")), worst);
        worst_all = worst > worst_all ? worst : worst_all;
        free(out);
        free(px);
    }
    printf("preprocessing vs torchvision: %zu cases, worst |diff| %.3g\n", json_array_size(json_object_get(doc, "cases")),
           worst_all);
    CHECK(json_array_size(json_object_get(doc, "cases")) >= 6);
    json_decref(doc);
}

int main(void)
{
    RUN(test_jpeg_decode);
    RUN(test_jpeg_cmyk);
    RUN(test_zip_of_mixed_jpegs);
    RUN(test_cover_crop);
    RUN(test_preproc_parse);
    RUN(test_preproc_vs_torchvision);
    return TEST_SUMMARY();
}
