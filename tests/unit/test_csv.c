/* CSV ingestion: dialect handling, label and task rules, scikit-learn's
 * bundled files, gzip, buffer boundaries. Error cases with exact messages
 * live in the bad-file corpus (test_bad_datasets). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/data/dataset.h"
#include "core/data/ingest.h"
#include "tests/unit/test.h"
#include "tests/unit/test_csv_util.h"

#define SKLEARN "/usr/lib/python3/dist-packages/sklearn/datasets/data/"

static const char *str_at(const json_t *summary, const char *key, size_t i)
{
    const char *s = json_string_value(json_array_get(json_object_get(summary, key), i));
    return s ? s : "";
}

static void test_dialect(void)
{
    /* BOM, CRLF, spaces around fields, quoted names and values with commas,
     * doubled quotes and a line break, scientific notation, blank lines. */
    const char *csv = "\xEF\xBB\xBF  a , \"b, the second\" ,label\r\n"
                      " 1.5 , \"2e3\" , \"cat, black\"\r\n"
                      "\r\n"
                      "-3E-2,\t4 ,\"say \"\"hi\"\"\"\r\n"
                      "5,6,\"multi\nline\"\r\n"
                      "   \n"
                      "7,+8.,\"cat, black\"";
    json_t *s = NULL;
    ft_dataset *ds = ingest_str(csv, NULL, &s);
    CHECK(ds != NULL);
    if (!ds)
        return;
    CHECK(ft_dataset_rows(ds) == 4 && ft_dataset_shape(ds).dim[0] == 2);
    const float *x = ft_dataset_cx_f32(ds);
    float want[] = {1.5f, 2000, -0.03f, 4, 5, 6, 7, 8};
    for (int i = 0; i < 8; i++)
        CHECKF(x[i] == want[i], "x[%d] = %g", i, x[i]);
    CHECK(ft_dataset_target_kind(ds) == FT_TARGET_CLASSES && ft_dataset_target_dim(ds) == 3);
    /* Classes are sorted by byte order, whatever the row order. */
    CHECK(strcmp(cname(ds, 0), "cat, black") == 0);
    CHECK(strcmp(cname(ds, 1), "multi\nline") == 0);
    CHECK(strcmp(cname(ds, 2), "say \"hi\"") == 0);
    const int32_t *y = ft_dataset_clabels(ds);
    CHECK(y[0] == 0 && y[1] == 2 && y[2] == 1 && y[3] == 0);
    CHECK(strcmp(str_at(s, "features", 0), "a") == 0 && strcmp(str_at(s, "features", 1), "b, the second") == 0);
    CHECK(strcmp(json_string_value(json_object_get(s, "label_column")), "label") == 0);
    CHECK(strcmp(json_string_value(json_object_get(s, "format")), "csv") == 0);
    CHECK(strcmp(json_string_value(json_object_get(s, "task_reason")), "auto: the labels are text") == 0);
    ft_dataset_free(ds);
    json_decref(s);
}

static void test_label_column_and_tasks(void)
{
    const char *csv = "id,y,z\n1,10,0.5\n2,2,1.5\n3,10,2.5\n";
    ft_ingest_options opt = {.label = "y"};
    json_t *s = NULL;
    /* Integer labels not starting at 0 or 1: regression by default. */
    ft_dataset *ds = ingest_str(csv, &opt, &s);
    CHECK(ds && ft_dataset_target_kind(ds) == FT_TARGET_VALUES);
    if (ds) {
        CHECK(ft_dataset_shape(ds).dim[0] == 2);
        const float *x = ft_dataset_cx_f32(ds), *t = ft_dataset_ctargets(ds);
        CHECK(x[0] == 1 && x[1] == 0.5f && x[4] == 3 && x[5] == 2.5f); /* features keep their order */
        CHECK(t[0] == 10 && t[1] == 2 && t[2] == 10);
    }
    ft_dataset_free(ds);
    json_decref(s);
    /* task=classification: classes sorted numerically ("2" before "10"). */
    opt.task = FT_TASK_CLASSIFICATION;
    ds = ingest_str(csv, &opt, NULL);
    CHECK(ds && ft_dataset_target_dim(ds) == 2 && strcmp(cname(ds, 0), "2") == 0 && strcmp(cname(ds, 1), "10") == 0);
    if (ds)
        CHECK(ft_dataset_clabels(ds)[0] == 1 && ft_dataset_clabels(ds)[1] == 0);
    ft_dataset_free(ds);
    /* Class indices from 0: classification by the auto rule. */
    ds = ingest_str("a,b\n1,0\n2,2\n3,1\n4,10\n", NULL, &s);
    CHECK(ds && ft_dataset_target_kind(ds) == FT_TARGET_CLASSES && ft_dataset_target_dim(ds) == 4);
    if (ds)
        CHECK(strcmp(cname(ds, 3), "10") == 0 && ft_dataset_clabels(ds)[3] == 3);
    CHECK(strncmp(json_string_value(json_object_get(s, "task_reason")), "auto: the labels are class indices", 34) == 0);
    ft_dataset_free(ds);
    json_decref(s);
    /* {-1, 1} is binary classification; "1.0" makes a column numeric. */
    ds = ingest_str("a,b\n1,-1\n2,1\n", NULL, NULL);
    CHECK(ds && ft_dataset_target_kind(ds) == FT_TARGET_CLASSES && ft_dataset_target_dim(ds) == 2);
    ft_dataset_free(ds);
    ds = ingest_str("a,b\n1,0\n2,1.0\n", NULL, NULL);
    CHECK(ds && ft_dataset_target_kind(ds) == FT_TARGET_VALUES);
    ft_dataset_free(ds);
    /* More than 100 distinct integers: regression. */
    char big[8192] = "a,b\n";
    for (int i = 0; i < 150; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big), "%d,%d\n", i, i);
    ds = ingest_str(big, NULL, NULL);
    CHECK(ds && ft_dataset_target_kind(ds) == FT_TARGET_VALUES && ft_dataset_rows(ds) == 150);
    ft_dataset_free(ds);
    /* task=regression on text labels is an error (see the corpus); on
     * integer labels it gives targets. */
    opt = (ft_ingest_options){.task = FT_TASK_REGRESSION};
    ds = ingest_str("a,b\n1,0\n2,1\n", &opt, NULL);
    CHECK(ds && ft_dataset_target_kind(ds) == FT_TARGET_VALUES);
    ft_dataset_free(ds);
    /* One class only: accepted, with a warning. */
    ds = ingest_str("a,b\n1,x\n2,x\n", NULL, &s);
    CHECK(ds && ft_dataset_target_dim(ds) == 1 && json_array_size(json_object_get(s, "warnings")) == 1);
    ft_dataset_free(ds);
    json_decref(s);
}

static void test_delimiters_and_headers(void)
{
    ft_ingest_options opt = {0};
    ft_error err = {0};
    CHECK(ft_ingest_option_set(&opt, "delimiter", ";", &err) == 0);
    ft_dataset *ds = ingest_str("a;b;c\n1;2,5;x\n", &opt, NULL); /* "2,5" is not a number with ';' */
    CHECK(ds == NULL);
    ds = ingest_str("a;b;c\n1;2.5;x\n", &opt, NULL);
    CHECK(ds && ft_dataset_cx_f32(ds)[1] == 2.5f);
    ft_dataset_free(ds);
    CHECK(ft_ingest_option_set(&opt, "delimiter", "tab", &err) == 0 && opt.delimiter == '\t');
    ds = ingest_str("a b\tc\n 1\t x y \n", &opt, NULL); /* tabs split, spaces trimmed */
    CHECK(ds && strcmp(cname(ds, 0), "x y") == 0);
    ft_dataset_free(ds);
    CHECK(ft_ingest_option_set(&opt, "delimiter", "whitespace", &err) == 0 && opt.delimiter == ' ');
    ds = ingest_str("  a   b\tc  \n1  2 \t x\n3 4 y   \n", &opt, NULL);
    CHECK(ds && ft_dataset_rows(ds) == 2 && ft_dataset_cx_f32(ds)[3] == 4);
    ft_dataset_free(ds);
    CHECK(ft_ingest_option_set(&opt, "delimiter", "ab", &err) != 0 && strcmp(err.param, "delimiter") == 0);
    /* No header: columns "0", "1", ...; the first line is data. */
    opt = (ft_ingest_options){0};
    CHECK(ft_ingest_option_set(&opt, "header", "false", &err) == 0 && opt.no_header);
    json_t *s = NULL;
    ds = ingest_str("1,2,0\n3,4,1\n", &opt, &s);
    CHECK(ds && ft_dataset_rows(ds) == 2 && strcmp(str_at(s, "features", 1), "1") == 0);
    CHECK(strcmp(json_string_value(json_object_get(s, "label_column")), "2") == 0);
    ft_dataset_free(ds);
    json_decref(s);
    /* An empty header name (pandas' index column) gets a name and a warning. */
    ds = ingest_str(",a,label\n0,1,x\n1,2,y\n", NULL, &s);
    CHECK(ds && strcmp(str_at(s, "features", 0), "column_1") == 0);
    CHECK(strstr(str_at(s, "warnings", 0), "pandas index") != NULL);
    ft_dataset_free(ds);
    json_decref(s);
}

static void test_gzip_and_summary(void)
{
    const char *csv = "a,b,label\n1,2,x\n3,4,y\n";
    size_t zlen = 0;
    unsigned char *gz = gzip_bytes(csv, strlen(csv), &zlen);
    json_t *s = NULL;
    ft_dataset *ds = ingest_mem(gz, zlen, NULL, &s, NULL);
    CHECK(ds && ft_dataset_rows(ds) == 2);
    CHECK(strcmp(json_string_value(json_object_get(s, "compression")), "gzip") == 0);
    json_t *file = json_array_get(json_object_get(s, "files"), 0);
    CHECK(json_integer_value(json_object_get(file, "bytes")) == (json_int_t)zlen); /* the upload's bytes */
    CHECK(strlen(json_string_value(json_object_get(file, "sha256"))) == 64);
    ft_dataset_free(ds);
    json_decref(s);
    free(gz);
    /* sha256 of a known input: "a,b\n1,x\n" */
    ds = ingest_str("a,b\n1,x\n", NULL, &s);
    file = json_array_get(json_object_get(s, "files"), 0);
    CHECK(strcmp(json_string_value(json_object_get(file, "sha256")),
                 "eccc6303d8ede5e5ec22d288b8350193f9eb907c93f49c78d5b1ff0af7ecd450") == 0); /* sha256sum of the same bytes */
    CHECK(json_integer_value(json_object_get(file, "bytes")) == 8);
    ft_dataset_free(ds);
    json_decref(s);
}

/* Records straddling the 1 MiB read buffer, quoted line breaks included. */
static void test_buffer_boundaries(void)
{
    size_t cap = 6u << 20, len = 0;
    char *csv = malloc(cap);
    len += (size_t)snprintf(csv, cap, "v,w,label\n");
    int rows = 0;
    while (len < cap - 200) {
        int k = rows % 7;
        if (k == 3)
            len += (size_t)snprintf(csv + len, cap - len, "%d.25,\"%d\",\"multi\nline %d\"\r\n", rows, -rows, rows % 3);
        else
            len += (size_t)snprintf(csv + len, cap - len, "%d.25 , %de0,c%d\n", rows, -rows, rows % 3);
        rows++;
    }
    ft_dataset *ds = ingest_mem(csv, len, NULL, NULL, NULL);
    CHECK(ds && ft_dataset_rows(ds) == (size_t)rows);
    int bad = 0;
    for (int i = 0; ds && i < rows; i++) {
        const float *x = ft_dataset_cx_f32(ds) + 2 * i;
        bad += x[0] != (float)i + 0.25f || x[1] != (float)-i;
    }
    CHECKF(bad == 0, "%d rows parsed wrong", bad);
    CHECK(ds && ft_dataset_target_dim(ds) == 6); /* c0 c1 c2 "multi\nline 0..2" */
    ft_dataset_free(ds);
    free(csv);
}

static void test_wide_csv(void)
{
    int cols = 3000;
    size_t cap = (size_t)cols * 16 * 3 + 64, len = 0;
    char *csv = malloc(cap);
    for (int r = 0; r < 3; r++) {
        for (int c = 0; c < cols; c++)
            len += (size_t)snprintf(csv + len, cap - len, r == 0 ? "c%d," : "%d,", c * (r + 1));
        len += (size_t)snprintf(csv + len, cap - len, r == 0 ? "y\n" : "%d\n", r % 2);
    }
    ft_dataset *ds = ingest_mem(csv, len, NULL, NULL, NULL);
    CHECK(ds && ft_dataset_shape(ds).dim[0] == cols && ft_dataset_cx_f32(ds)[2 * cols - 1] == 3.0f * (cols - 1));
    ft_dataset_free(ds);
    free(csv);
}

static int have_sklearn(void)
{
    FILE *f = fopen(SKLEARN "iris.csv", "r");
    if (f)
        fclose(f);
    else
        fprintf(stderr, "python3-sklearn is not installed (deploy/install-deps.sh --test installs it)\n");
    return f != NULL;
}

static void test_sklearn_files(void)
{
    if (!have_sklearn()) {
        CHECK(!"python3-sklearn data files");
        return;
    }
    json_t *s = NULL;
    ft_error err = {0};
    /* iris.csv: "150,4,setosa,versicolor,virginica" names the classes. */
    ft_dataset *ds = ingest_file(SKLEARN "iris.csv", NULL, &s, &err);
    CHECKF(ds != NULL, "%s", err.msg);
    if (ds) {
        CHECK(ft_dataset_rows(ds) == 150 && ft_dataset_shape(ds).dim[0] == 4 && ft_dataset_target_dim(ds) == 3);
        CHECK(strcmp(cname(ds, 0), "setosa") == 0 && strcmp(cname(ds, 2), "virginica") == 0);
        const float *x = ft_dataset_cx_f32(ds);
        CHECK(x[0] == 5.1f && x[1] == 3.5f && x[2] == 1.4f && x[3] == 0.2f && ft_dataset_clabels(ds)[0] == 0);
        CHECK(ft_dataset_clabels(ds)[149] == 2);
        json_t *file = json_array_get(json_object_get(s, "files"), 0);
        CHECK(json_integer_value(json_object_get(file, "bytes")) == 2734);
        CHECK(strcmp(json_string_value(json_object_get(file, "sha256")),
                     "f13ffa8fdd56fd8e6c8d16d4081a3fbd3114bcd0aae4256c43205169cd9d1449") == 0);
        CHECK(json_is_true(json_object_get(s, "sklearn_header")));
    }
    ft_dataset_free(ds);
    json_decref(s);
    struct {
        const char *file;
        size_t rows;
        int features, classes;
        const char *first_class;
    } named[] = {
        {"breast_cancer.csv", 569, 30, 2, "malignant"},
        {"wine_data.csv", 178, 13, 3, "class_0"},
    };
    for (size_t i = 0; i < 2; i++) {
        char path[256];
        snprintf(path, sizeof path, SKLEARN "%s", named[i].file);
        ds = ingest_file(path, NULL, NULL, &err);
        CHECKF(ds && ft_dataset_rows(ds) == named[i].rows && ft_dataset_shape(ds).dim[0] == named[i].features &&
                   ft_dataset_target_dim(ds) == named[i].classes && strcmp(cname(ds, 0), named[i].first_class) == 0,
               "%s: %s", named[i].file, ds ? "wrong contents" : err.msg);
        ft_dataset_free(ds);
    }
    ds = ingest_file(SKLEARN, NULL, NULL, &err); /* a directory: refused */
    CHECK(ds == NULL && err.code == FT_EINVAL);
    /* boston: "506,13,,,..." then a real header; MEDV is a regression target. */
    ds = ingest_file(SKLEARN "boston_house_prices.csv", NULL, &s, &err);
    CHECKF(ds && ft_dataset_rows(ds) == 506 && ft_dataset_target_kind(ds) == FT_TARGET_VALUES, "%s", err.msg);
    if (ds) {
        CHECK(strcmp(json_string_value(json_object_get(s, "label_column")), "MEDV") == 0);
        CHECK(strcmp(str_at(s, "features", 0), "CRIM") == 0 && ft_dataset_ctargets(ds)[0] == 24.0f);
        CHECK_CLOSE(json_real_value(json_object_get(json_object_get(s, "targets"), "mean")), 22.532806, 1e-6, 1);
    }
    ft_dataset_free(ds);
    json_decref(s);
    /* digits.csv.gz: gzipped, no header: with header=false, 10 classes. */
    ft_ingest_options opt = {.no_header = true};
    ds = ingest_file(SKLEARN "digits.csv.gz", &opt, NULL, &err);
    CHECKF(ds && ft_dataset_rows(ds) == 1797 && ft_dataset_shape(ds).dim[0] == 64 && ft_dataset_target_dim(ds) == 10,
           "%s", err.msg);
    ft_dataset_free(ds);
    /* ... and without that option, a clear error. */
    ds = ingest_file(SKLEARN "digits.csv.gz", NULL, NULL, &err);
    CHECK(ds == NULL && strcmp(err.msg, SKLEARN "digits.csv.gz: line 1: the header row is all numbers; the first "
                                        "line must name the columns (or pass header=false)") == 0);
    /* Space-separated files need delimiter=whitespace; the error says so. */
    ds = ingest_file(SKLEARN "linnerud_exercise.csv", NULL, NULL, &err);
    CHECK(ds == NULL && strstr(err.msg, "line 1: the header has only one column") &&
          strstr(err.msg, "pass delimiter=whitespace"));
    opt = (ft_ingest_options){.delimiter = ' '};
    ds = ingest_file(SKLEARN "linnerud_physiological.csv", &opt, &s, &err);
    CHECKF(ds && ft_dataset_rows(ds) == 20 && ft_dataset_target_kind(ds) == FT_TARGET_VALUES, "%s", err.msg);
    CHECK(strcmp(json_string_value(json_object_get(s, "label_column")), "Pulse") == 0);
    ft_dataset_free(ds);
    json_decref(s);
    opt = (ft_ingest_options){.delimiter = ' ', .no_header = true};
    ds = ingest_file(SKLEARN "diabetes_data_raw.csv.gz", &opt, NULL, &err);
    CHECKF(ds && ft_dataset_rows(ds) == 442 && ft_dataset_shape(ds).dim[0] == 9, "%s", err.msg);
    ft_dataset_free(ds);
    ds = ingest_file(SKLEARN "diabetes_target.csv.gz", &opt, NULL, &err); /* one column: no features */
    CHECK(ds == NULL && strstr(err.msg, "only one column"));
}

static void test_option_strings(void)
{
    ft_ingest_options o = {0};
    ft_error err = {0};
    CHECK(ft_ingest_option_set(&o, "image_size", "28x32", &err) == 0 && o.image_height == 28 && o.image_width == 32);
    CHECK(ft_ingest_option_set(&o, "image_size", "64", &err) == 0 && o.image_height == 64 && o.image_width == 64);
    /* Sides are capped (4096): 46000x46000 would order a 2 GiB image per entry. */
    CHECK(ft_ingest_option_set(&o, "image_size", "4096x4096", &err) == 0 && o.image_height == 4096);
    const char *bad_sizes[] = {"0x5", "28x", "x28", "28x28x3", "-1", "70000", "28*28", "", "46000x46000", "4097x1"};
    for (size_t i = 0; i < sizeof bad_sizes / sizeof *bad_sizes; i++)
        CHECKF(ft_ingest_option_set(&o, "image_size", bad_sizes[i], &err) != 0 && strcmp(err.param, "image_size") == 0,
               "'%s' accepted", bad_sizes[i]);
    CHECK(ft_ingest_option_set(&o, "color", "RGB", &err) == 0 && o.color == FT_COLOR_RGB);
    CHECK(ft_ingest_option_set(&o, "color", "grey", &err) == 0 && o.color == FT_COLOR_GRAYSCALE);
    CHECK(ft_ingest_option_set(&o, "color", "cmyk", &err) != 0 && err.code == FT_EINVAL);
    CHECK(ft_ingest_option_set(&o, "task", "regression", &err) == 0 && o.task == FT_TASK_REGRESSION);
    CHECK(ft_ingest_option_set(&o, "task", "clustering", &err) != 0);
    CHECK(ft_ingest_option_set(&o, "format", "safetensors", &err) == 0 && o.format == FT_FORMAT_SAFETENSORS);
    CHECK(ft_ingest_option_set(&o, "format", "xlsx", &err) != 0);
    CHECK(ft_ingest_option_set(&o, "label", "", &err) != 0);
    CHECK(ft_ingest_option_set(&o, "colour", "rgb", &err) != 0 && strcmp(err.msg, "unknown dataset option 'colour'") == 0);
    /* Options that contradict each other are refused before reading. */
    o = (ft_ingest_options){.image_height = 28};
    ft_dataset *ds = NULL;
    ft_ingest_source src = {.data = "a,b\n1,x\n", .len = 8};
    CHECK(ft_ingest(&src, &o, &ds, NULL, &err) != 0 && strcmp(err.param, "image_size") == 0);
    /* An explicit format wins over sniffing: CSV text read as safetensors. */
    o = (ft_ingest_options){.format = FT_FORMAT_SAFETENSORS};
    CHECK(ft_ingest(&src, &o, &ds, NULL, &err) != 0 && err.code == FT_EFORMAT);
}

int main(void)
{
    RUN(test_dialect);
    RUN(test_label_column_and_tasks);
    RUN(test_delimiters_and_headers);
    RUN(test_gzip_and_summary);
    RUN(test_buffer_boundaries);
    RUN(test_wide_csv);
    RUN(test_sklearn_files);
    RUN(test_option_strings);
    return TEST_SUMMARY();
}
