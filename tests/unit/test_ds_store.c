/* The stored form (core/data/dataset_store.h): round trips, atomic replacement,
 * and a tampered data directory detected on load. Also the tabular
 * standardisation (ft_preproc_fit_standardize). */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/data/dataset_store.h"
#include "core/data/ingest.h"
#include "core/util/safetensors.h"
#include "tests/unit/test.h"
#include "tests/unit/test_csv_util.h"

static char dir[] = "/tmp/ft_store_XXXXXX";

static int same_dataset(const ft_dataset *a, const ft_dataset *b)
{
    if (ft_dataset_rows(a) != ft_dataset_rows(b) || !ft_shape_equal(ft_dataset_shape(a), ft_dataset_shape(b)) ||
        ft_dataset_xtype(a) != ft_dataset_xtype(b) || ft_dataset_target_kind(a) != ft_dataset_target_kind(b) ||
        ft_dataset_target_dim(a) != ft_dataset_target_dim(b))
        return 0;
    size_t n = ft_dataset_rows(a), f = ft_shape_size(ft_dataset_shape(a));
    if (ft_dataset_xtype(a) == FT_X_U8 ? memcmp(ft_dataset_cx_u8(a), ft_dataset_cx_u8(b), n * f) != 0
                                       : memcmp(ft_dataset_cx_f32(a), ft_dataset_cx_f32(b), n * f * 4) != 0)
        return 0;
    if (ft_dataset_target_kind(a) == FT_TARGET_VALUES)
        return memcmp(ft_dataset_ctargets(a), ft_dataset_ctargets(b), n * (size_t)ft_dataset_target_dim(a) * 4) == 0;
    for (int k = 0; k < ft_dataset_target_dim(a); k++)
        if (strcmp(cname(a, k), cname(b, k)) != 0)
            return 0;
    return memcmp(ft_dataset_clabels(a), ft_dataset_clabels(b), n * 4) == 0;
}

static void round_trip(ft_dataset *ds, json_t *summary, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ft_error err = {0};
    CHECKF(ft_dataset_save(ds, summary, path, &err) == 0, "%s", err.msg);
    ft_dataset *back = NULL;
    json_t *s = NULL;
    CHECKF(ft_dataset_load(path, &back, &s, &err) == 0, "%s", err.msg);
    CHECKF(back && same_dataset(ds, back), "%s differs after a round trip", name);
    if (summary)
        CHECKF(json_equal(summary, s), "%s: summary differs", name);
    /* The stored file is itself a valid safetensors upload. */
    ft_ingest_source src = {.path = path};
    ft_dataset *again = NULL;
    CHECKF((ft_ingest(&src, NULL, &again, NULL, &err) == 0 && same_dataset(ds, again)) ||
               ft_dataset_shape(ds).rank == 2,
           "%s: not re-uploadable: %s", name, err.msg);
    ft_dataset_free(again);
    ft_dataset_free(back);
    json_decref(s);
}

static void test_round_trips(void)
{
    json_t *summary = NULL;
    ft_dataset *csv = ingest_str("a,b,label\n1.5,2,cat\n-3,4e10,dog\n5,6,cat\n", NULL, &summary);
    round_trip(csv, summary, "csv.safetensors");
    ft_dataset_free(csv);
    json_decref(summary);
    ft_dataset *reg = ingest_str("a,y\n1,0.5\n2,1.5\n", NULL, &summary);
    round_trip(reg, summary, "reg.safetensors");
    ft_dataset_free(reg);
    json_decref(summary);
    ft_error err = {0};
    ft_dataset *img = ft_dataset_new(5, ft_shape3(3, 4, 2), FT_X_U8, FT_TARGET_CLASSES, 3, &err);
    for (int i = 0; i < 5 * 24; i++)
        ft_dataset_x_u8(img)[i] = (uint8_t)(i * 7);
    for (int i = 0; i < 5; i++)
        ft_dataset_labels(img)[i] = i % 3;
    ft_dataset_set_class_name(img, 2, "zebra \"crossing\" \xc3\xa9", &err);
    round_trip(img, NULL, "img.safetensors");
    ft_dataset_free(img);
    ft_dataset *multi = ft_dataset_new(2, ft_shape1(3), FT_X_F32, FT_TARGET_VALUES, 4, &err);
    for (int i = 0; i < 8; i++)
        ft_dataset_targets(multi)[i] = (float)i / 3;
    round_trip(multi, NULL, "multi.safetensors");
    ft_dataset_free(multi);
    ft_shape hw = {2, {3, 5, 0}}; /* [H, W] shapes survive too */
    ft_dataset *flat = ft_dataset_new(2, hw, FT_X_U8, FT_TARGET_CLASSES, 2, &err);
    round_trip(flat, NULL, "hw.safetensors");
    ft_dataset_free(flat);
}

static void test_atomic_replace(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/replace.safetensors", dir);
    ft_error err = {0};
    ft_dataset *a = ingest_str("a,l\n1,x\n", NULL, NULL), *b = ingest_str("a,l\n1,x\n2,y\n", NULL, NULL);
    CHECK(ft_dataset_save(a, NULL, path, &err) == 0 && ft_dataset_save(b, NULL, path, &err) == 0);
    ft_dataset *back = NULL;
    CHECK(ft_dataset_load(path, &back, NULL, &err) == 0 && back && ft_dataset_rows(back) == 2);
    ft_dataset_free(back);
    /* No temporary files are left behind. */
    DIR *d = opendir(dir);
    struct dirent *e;
    int tmp = 0;
    while ((e = readdir(d)))
        tmp += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    CHECK(tmp == 0);
    /* A directory that does not exist: an error, nothing written. */
    CHECK(ft_dataset_save(a, NULL, "/nonexistent-dir/x.safetensors", &err) != 0 && err.code == FT_ENOTFOUND);
    ft_dataset_free(a);
    ft_dataset_free(b);
}

/* Write a crafted stored file and expect `msg` when loading it. */
static void expect_tampered(const char *xdtype, int xrank, const uint64_t *xs, const void *x, ft_st_dtype ydtype,
                            int yrank, const uint64_t *ys, const void *y, const char *const *meta, const char *msg)
{
    ft_error err = {0};
    ft_st_writer *w = ft_st_writer_new();
    ft_st_dtype xd = strcmp(xdtype, "U8") == 0 ? FT_ST_U8 : strcmp(xdtype, "F32") == 0 ? FT_ST_F32 : FT_ST_I64;
    ft_st_writer_add(w, "x", xd, xrank, xs, x, &err);
    if (y)
        ft_st_writer_add(w, "y", ydtype, yrank, ys, y, &err);
    for (int i = 0; meta[i]; i += 2)
        ft_st_writer_meta(w, meta[i], meta[i + 1], &err);
    unsigned char *buf = NULL;
    size_t len = 0;
    ft_st_writer_to_mem(w, &buf, &len, &err);
    ft_st_writer_free(w);
    ft_dataset *ds = NULL;
    json_t *s = NULL;
    CHECK(ft_dataset_load_mem(buf, len, &ds, &s, &err) != 0 && ds == NULL && s == NULL);
    CHECKF(strcmp(err.msg, msg) == 0, "\n   got: %s\nwanted: %s", err.msg, msg);
    free(buf);
}

static void test_tampered_files(void)
{
    uint8_t x[6] = {1, 2, 3, 4, 5, 6};
    float xf[2] = {1, NAN};
    int32_t y[2] = {0, 1}, ybad[2] = {0, 7};
    float yf[2] = {1, 2};
    uint64_t xs[] = {2, 3}, ys[] = {2}, yfs[] = {2, 1}, xfs[] = {2, 1};
    const char *ok[] = {"format", "finetuned.dataset", "format_version", "1", "input_shape", "[3]",
                        "classes", "[\"a\",\"b\"]", NULL};
    const char *no_format[] = {"input_shape", "[3]", NULL};
    const char *v2[] = {"format", "finetuned.dataset", "format_version", "2", NULL};
    const char *shape_mismatch[] = {"format", "finetuned.dataset", "format_version", "1", "input_shape", "[1, 1, 3]",
                                    "classes", "[\"a\",\"b\"]", NULL};
    const char *bad_summary[] = {"format", "finetuned.dataset", "format_version", "1", "input_shape", "[3]",
                                 "classes", "[\"a\",\"b\"]", "summary", "[1, 2]", NULL};
    const char *regression[] = {"format", "finetuned.dataset", "format_version", "1", "input_shape", "[1]", NULL};
    expect_tampered("U8", 2, xs, x, FT_ST_I32, 1, ys, y, no_format,
                    "not a stored dataset (__metadata__ \"format\" is not \"finetuned.dataset\")");
    expect_tampered("U8", 2, xs, x, FT_ST_I32, 1, ys, y, v2, "stored dataset version 2 is not supported");
    expect_tampered("U8", 2, xs, x, FT_ST_I32, 1, ys, ybad, ok, "y[1] = 7 is not a class index 0..1");
    expect_tampered("U8", 2, xs, x, FT_ST_I32, 1, ys, NULL, ok, "a stored dataset holds exactly the tensors x and y");
    expect_tampered("U8", 2, xs, x, FT_ST_F32, 1, ys, yf, ok,
                    "tensor 'y' must be I32 [n] with classes, or F32 [n, T] without");
    expect_tampered("U8", 2, xs, x, FT_ST_I32, 1, ys, y, shape_mismatch,
                    "tensor 'x' does not match __metadata__ \"input_shape\"");
    expect_tampered("U8", 2, xs, x, FT_ST_I32, 1, ys, y, bad_summary, "__metadata__ \"summary\" is not a JSON object");
    expect_tampered("F32", 2, xfs, xf, FT_ST_F32, 2, yfs, yf, regression, "x[1][0] = nan is not a finite float32");
    int64_t xi[2] = {1, 2};
    expect_tampered("I64", 2, xfs, xi, FT_ST_F32, 2, yfs, yf, regression,
                    "tensor 'x' is I64; it must be U8 or F32 (F64 is converted to F32)");
    /* A summary that lies about the data is corrected from the data. */
    ft_error err = {0};
    ft_dataset *ds = ingest_str("a,l\n1,x\n2,y\n", NULL, NULL);
    json_t *lie = json_pack("{s:i, s:s, s:[{s:s, s:i}]}", "rows", 99, "note", "kept", "classes", "name", "q", "count", 5);
    char path[256];
    snprintf(path, sizeof path, "%s/lie.safetensors", dir);
    CHECK(ft_dataset_save(ds, lie, path, &err) == 0);
    ft_dataset *back = NULL;
    json_t *s = NULL;
    CHECK(ft_dataset_load(path, &back, &s, &err) == 0);
    CHECK(json_integer_value(json_object_get(s, "rows")) == 2);
    CHECK(strcmp(json_string_value(json_object_get(s, "note")), "kept") == 0);
    CHECK(json_array_size(json_object_get(s, "classes")) == 2);
    /* A truncated stored file. */
    FILE *f = fopen(path, "r+b");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    CHECK(truncate(path, size - 1) == 0);
    ft_dataset *t = NULL;
    CHECK(ft_dataset_load(path, &t, NULL, &err) != 0 && strstr(err.msg, "but the data buffer holds"));
    ft_dataset_free(back);
    ft_dataset_free(ds);
    json_decref(s);
    json_decref(lie);
}

static void test_standardize(void)
{
    /* Feature 0 has a huge mean and a small spread: a one-pass variance
     * would lose it. Feature 1 is constant. */
    const char *csv = "a,b,y\n1000000.5,7,0\n1000001.5,7,1\n1000002.5,7,0\n1000003.5,7,1\n";
    ft_dataset *ds = ingest_str(csv, NULL, NULL);
    ft_preproc pp;
    ft_error err = {0};
    ft_preproc_init(&pp, ds);
    CHECK(pp.scale == 1.0f && pp.features == 0);
    CHECK(ft_preproc_fit_standardize(&pp, ds, &err) == 0 && pp.features == 2);
    CHECK_CLOSE(pp.mean[0], 1000002.0, 1e-9, 1);
    CHECK_CLOSE(pp.std[0], sqrt(1.25), 1e-6, 1); /* population std of 0.5, 1.5, 2.5, 3.5 around 2 */
    CHECK(pp.mean[1] == 7 && pp.std[1] == 1);
    float out[4 * 2];
    uint32_t idx[4] = {0, 1, 2, 3};
    ft_dataset_gather(ds, &pp, idx, 4, out);
    CHECK_CLOSE(out[0], -1.5 / sqrt(1.25), 1e-5, 1);
    CHECK(out[1] == 0 && out[3] == 0);
    /* The JSON form round-trips (this is what a model file carries). */
    json_t *j = ft_preproc_to_json(&pp);
    ft_preproc back;
    CHECK(ft_preproc_from_json(&back, j, 2, &err) == 0 && back.mean[0] == pp.mean[0] && back.std[0] == pp.std[0]);
    ft_preproc_free(&back);
    json_decref(j);
    /* Fitted on the training rows only: a split's first part gives its own mean. */
    ft_dataset *train = NULL, *val = NULL;
    CHECK(ft_dataset_split(ds, 0.5, 1, &train, &val, &err) == 0);
    ft_preproc tp;
    ft_preproc_init(&tp, train);
    CHECK(ft_preproc_fit_standardize(&tp, train, &err) == 0);
    double m = 0;
    for (size_t i = 0; i < ft_dataset_rows(train); i++)
        m += ft_dataset_cx_f32(train)[2 * i];
    CHECK_CLOSE(tp.mean[0], m / (double)ft_dataset_rows(train), 1e-9, 1);
    ft_preproc_free(&tp);
    ft_dataset_free(train);
    ft_dataset_free(val);
    ft_preproc_free(&pp);
    ft_dataset_free(ds);
    /* Images: scale 1/255, so inputs land in [0, 1]. */
    ft_dataset *img = ft_dataset_new(1, ft_shape3(1, 1, 2), FT_X_U8, FT_TARGET_CLASSES, 1, &err);
    ft_dataset_x_u8(img)[1] = 255;
    ft_preproc_init(&pp, img);
    uint32_t zero = 0;
    ft_dataset_gather(img, &pp, &zero, 1, out);
    CHECK(out[0] == 0 && out[1] == 1.0f);
    ft_dataset_free(img);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        printf("FAIL test_ds_store (mkdtemp)\n");
        return 1;
    }
    RUN(test_round_trips);
    RUN(test_atomic_replace);
    RUN(test_tampered_files);
    RUN(test_standardize);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return TEST_SUMMARY();
}
