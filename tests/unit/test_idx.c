/* IDX pairs: Fashion-MNIST from Debian's dataset-fashion-mnist (gzipped),
 * the same bytes uncompressed, header probing. Malformed pairs and their
 * exact messages are in the bad-file corpus. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/data/ingest.h"
#include "tests/unit/test.h"

#define FMNIST "/usr/share/datasets/fashion-mnist/"

static void test_fashion_mnist(void)
{
    ft_ingest_source src = {.images_path = FMNIST "train-images-idx3-ubyte.gz",
                            .labels_path = FMNIST "train-labels-idx1-ubyte.gz"};
    ft_dataset *ds = NULL;
    json_t *s = NULL;
    ft_error err = {0};
    CHECKF(ft_ingest(&src, NULL, &ds, &s, &err) == 0, "%s", err.msg);
    if (!ds)
        return;
    CHECK(ft_dataset_rows(ds) == 60000 && ft_dataset_target_dim(ds) == 10 && ft_dataset_xtype(ds) == FT_X_U8);
    ft_shape sh = ft_dataset_shape(ds);
    CHECK(sh.rank == 3 && sh.dim[0] == 1 && sh.dim[1] == 28 && sh.dim[2] == 28);
    uint64_t counts[10];
    ft_dataset_class_counts(ds, counts);
    for (int k = 0; k < 10; k++)
        CHECK(counts[k] == 6000);
    /* The first training image is an ankle boot (9); its first row is blank. */
    CHECK(ft_dataset_clabels(ds)[0] == 9 && ft_dataset_clabels(ds)[1] == 0);
    const uint8_t *x = ft_dataset_cx_u8(ds);
    int blank = 1;
    for (int i = 0; i < 28; i++)
        blank &= x[i] == 0;
    CHECK(blank);
    json_t *files = json_object_get(s, "files");
    CHECK(json_array_size(files) == 2);
    CHECK(strcmp(json_string_value(json_object_get(json_array_get(files, 0), "role")), "images") == 0);
    CHECK(json_integer_value(json_object_get(json_array_get(files, 0), "bytes")) == 26421856);
    CHECK(strcmp(json_string_value(json_object_get(json_array_get(files, 1), "sha256")),
                 "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056") == 0); /* sha256sum */
    CHECK(strcmp(json_string_value(json_object_get(s, "format")), "idx") == 0);

    /* The same pair uncompressed gives the same dataset. */
    char ipath[] = "/tmp/ft_idx_i_XXXXXX", lpath[] = "/tmp/ft_idx_l_XXXXXX";
    const char *gz[] = {FMNIST "train-images-idx3-ubyte.gz", FMNIST "train-labels-idx1-ubyte.gz"};
    char *plain[] = {ipath, lpath};
    for (int f = 0; f < 2; f++) {
        int fd = mkstemp(plain[f]);
        gzFile in = gzopen(gz[f], "rb");
        char buf[1 << 16];
        int n;
        while ((n = gzread(in, buf, sizeof buf)) > 0)
            CHECK(write(fd, buf, (size_t)n) == n);
        gzclose(in);
        close(fd);
    }
    ft_dataset *raw = ft_idx_load(ipath, lpath, &err);
    CHECKF(raw != NULL, "%s", err.msg);
    if (raw) {
        CHECK(memcmp(ft_dataset_cx_u8(raw), x, 60000u * 784) == 0);
        CHECK(memcmp(ft_dataset_clabels(raw), ft_dataset_clabels(ds), 60000 * sizeof(int32_t)) == 0);
    }
    ft_idx_header h;
    CHECK(ft_idx_probe(ipath, &h, &err) == 0 && h.rank == 3 && h.dims[0] == 60000 && h.dims[2] == 28 && h.dtype == 8);
    CHECK(ft_idx_probe(gz[1], &h, &err) == 0 && h.rank == 1 && h.dims[0] == 60000);
    ft_format fmt;
    bool gzipped;
    CHECK(ft_ingest_sniff(gz[0], &fmt, &gzipped, &err) == 0 && fmt == FT_FORMAT_IDX && gzipped);
    CHECK(ft_ingest_sniff(ipath, &fmt, &gzipped, &err) == 0 && fmt == FT_FORMAT_IDX && !gzipped);
    unlink(ipath);
    unlink(lpath);
    ft_dataset_free(raw);
    ft_dataset_free(ds);
    json_decref(s);
}

static void test_missing_files(void)
{
    ft_ingest_source src = {.images_path = "/nonexistent/images", .labels_path = FMNIST "t10k-labels-idx1-ubyte.gz"};
    ft_dataset *ds = NULL;
    ft_error err = {0};
    CHECK(ft_ingest(&src, NULL, &ds, NULL, &err) != 0 && err.code == FT_ENOTFOUND);
    CHECK(strcmp(err.msg, "cannot open /nonexistent/images: No such file or directory") == 0);
    src = (ft_ingest_source){.images_path = FMNIST "t10k-images-idx3-ubyte.gz"};
    CHECK(ft_ingest(&src, NULL, &ds, NULL, &err) != 0 && err.code == FT_EINVAL && strcmp(err.param, "labels") == 0);
    /* The images of one pair with the labels of another: counts differ. */
    src = (ft_ingest_source){.images_path = FMNIST "t10k-images-idx3-ubyte.gz",
                             .images_name = "t10k-images",
                             .labels_path = FMNIST "train-labels-idx1-ubyte.gz",
                             .labels_name = "train-labels"};
    CHECK(ft_ingest(&src, NULL, &ds, NULL, &err) != 0);
    CHECK(strcmp(err.msg, "t10k-images has 10000 images but train-labels has 60000 labels") == 0);
}

int main(void)
{
    RUN(test_fashion_mnist);
    RUN(test_missing_files);
    return TEST_SUMMARY();
}
