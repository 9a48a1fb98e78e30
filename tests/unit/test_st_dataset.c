/* safetensors datasets (x, y, optional "classes" / "layout" metadata), as
 * numpy and PyTorch users export them. Errors with exact messages are in the
 * bad-file corpus. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/data/ingest.h"
#include "core/util/safetensors.h"
#include "tests/unit/test.h"
#include "tests/unit/test_csv_util.h"

static ft_dataset *from_writer(ft_st_writer *w, const ft_ingest_options *opt, json_t **s, ft_error *err)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    ft_dataset *ds = NULL;
    if (ft_st_writer_to_mem(w, &buf, &len, err) == 0)
        ds = ingest_mem(buf, len, opt, s, err);
    free(buf);
    ft_st_writer_free(w);
    return ds;
}

static void test_images_u8_with_classes(void)
{
    uint8_t x[2 * 3 * 2 * 2];
    for (int i = 0; i < 24; i++)
        x[i] = (uint8_t)(i * 10);
    int64_t y[2] = {1, 0};
    uint64_t xs[] = {2, 3, 2, 2}, ys[] = {2};
    ft_error err = {0};
    ft_st_writer *w = ft_st_writer_new();
    ft_st_writer_add(w, "x", FT_ST_U8, 4, xs, x, &err);
    ft_st_writer_add(w, "y", FT_ST_I64, 1, ys, y, &err);
    ft_st_writer_add(w, "extra", FT_ST_I64, 1, ys, y, &err);
    ft_st_writer_meta(w, "classes", "[\"cat\", \"dog\"]", &err);
    json_t *s = NULL;
    ft_dataset *ds = from_writer(w, NULL, &s, &err);
    CHECKF(ds != NULL, "%s", err.msg);
    if (ds) {
        ft_shape sh = ft_dataset_shape(ds);
        CHECK(sh.rank == 3 && sh.dim[0] == 3 && sh.dim[1] == 2 && sh.dim[2] == 2 && ft_dataset_xtype(ds) == FT_X_U8);
        CHECK(memcmp(ft_dataset_cx_u8(ds), x, 24) == 0);
        CHECK(ft_dataset_target_dim(ds) == 2 && strcmp(cname(ds, 1), "dog") == 0 && ft_dataset_clabels(ds)[0] == 1);
        CHECK(strcmp(json_string_value(json_object_get(s, "format")), "safetensors") == 0);
        CHECK(json_array_size(json_object_get(s, "warnings")) == 1); /* 'extra' ignored */
    }
    ft_dataset_free(ds);
    json_decref(s);
}

static void test_nhwc_transposed(void)
{
    /* one 2x2 RGB image, channels last: pixel p has (p, 10+p, 20+p) */
    uint8_t x[12];
    for (int p = 0; p < 4; p++)
        for (int c = 0; c < 3; c++)
            x[p * 3 + c] = (uint8_t)(c * 10 + p);
    int32_t y[1] = {0};
    uint64_t xs[] = {1, 2, 2, 3}, ys[] = {1};
    ft_error err = {0};
    ft_st_writer *w = ft_st_writer_new();
    ft_st_writer_add(w, "x", FT_ST_U8, 4, xs, x, &err);
    ft_st_writer_add(w, "y", FT_ST_I32, 1, ys, y, &err);
    ft_st_writer_meta(w, "layout", "NHWC", &err);
    ft_dataset *ds = from_writer(w, NULL, NULL, &err);
    CHECKF(ds != NULL, "%s", err.msg);
    if (ds) {
        uint8_t want[12] = {0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23};
        CHECK(ft_dataset_shape(ds).dim[0] == 3 && memcmp(ft_dataset_cx_u8(ds), want, 12) == 0);
    }
    ft_dataset_free(ds);
}

static void test_tabular_f64_regression(void)
{
    double x[3 * 2] = {1.5, -2, 3.25, 4, 1e-3, 6};
    double y[3 * 2] = {0.5, 1, 1.5, 2, 2.5, 3};
    uint64_t xs[] = {3, 2}, ys[] = {3, 2};
    ft_error err = {0};
    ft_st_writer *w = ft_st_writer_new();
    ft_st_writer_add(w, "x", FT_ST_F64, 2, xs, x, &err);
    ft_st_writer_add(w, "y", FT_ST_F64, 2, ys, y, &err);
    json_t *s = NULL;
    ft_dataset *ds = from_writer(w, NULL, &s, &err);
    CHECKF(ds != NULL, "%s", err.msg);
    if (ds) {
        CHECK(ft_dataset_xtype(ds) == FT_X_F32 && ft_dataset_shape(ds).rank == 1 && ft_dataset_shape(ds).dim[0] == 2);
        CHECK(ft_dataset_cx_f32(ds)[4] == 1e-3f && ft_dataset_target_kind(ds) == FT_TARGET_VALUES);
        CHECK(ft_dataset_target_dim(ds) == 2 && ft_dataset_ctargets(ds)[5] == 3.0f);
        CHECK(strcmp(json_string_value(json_object_get(s, "task")), "regression") == 0);
    }
    ft_dataset_free(ds);
    json_decref(s);
    /* Float labels as classes on request; integer labels as targets on request. */
    float yf[3] = {2, 0, 1};
    uint64_t y1[] = {3};
    w = ft_st_writer_new();
    ft_st_writer_add(w, "x", FT_ST_F64, 2, xs, x, &err);
    ft_st_writer_add(w, "y", FT_ST_F32, 1, y1, yf, &err);
    ft_ingest_options opt = {.task = FT_TASK_CLASSIFICATION};
    ds = from_writer(w, &opt, NULL, &err);
    CHECK(ds && ft_dataset_target_dim(ds) == 3 && ft_dataset_clabels(ds)[0] == 2);
    ft_dataset_free(ds);
    uint8_t yu[3] = {2, 0, 1};
    w = ft_st_writer_new();
    ft_st_writer_add(w, "x", FT_ST_F64, 2, xs, x, &err);
    ft_st_writer_add(w, "y", FT_ST_U8, 1, y1, yu, &err);
    opt.task = FT_TASK_REGRESSION;
    ds = from_writer(w, &opt, NULL, &err);
    CHECK(ds && ft_dataset_target_kind(ds) == FT_TARGET_VALUES && ft_dataset_ctargets(ds)[0] == 2.0f);
    ft_dataset_free(ds);
    /* A float x out of float32 range is refused with its position. */
    x[3] = 1e300;
    w = ft_st_writer_new();
    ft_st_writer_add(w, "x", FT_ST_F64, 2, xs, x, &err);
    ft_st_writer_add(w, "y", FT_ST_U8, 1, y1, yu, &err);
    ds = from_writer(w, NULL, NULL, &err);
    CHECK(ds == NULL && strcmp(err.msg, "mem: x[1][1] = 1e+300 is not a finite float32") == 0);
}

int main(void)
{
    RUN(test_images_u8_with_classes);
    RUN(test_nhwc_transposed);
    RUN(test_tabular_f64_regression);
    return TEST_SUMMARY();
}
