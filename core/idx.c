/* IDX files (the MNIST / Fashion-MNIST format), gzipped or not.
 *
 * zlib's gzread reads plain files transparently, so one path serves both.
 * The header is checked strictly: zero magic bytes, the uint8 type code, the
 * expected rank, and a payload whose length matches the header exactly. */
#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

#include "core/dataset.h"
#include "core/fsutil.h"

#define IDX_TYPE_U8 0x08
#define IDX_MAX_DIM (1u << 24)

typedef struct {
    gzFile gz;
    const char *path;
} idx_file;

static int idx_read(idx_file *f, void *dst, size_t len, ft_error *err)
{
    unsigned char *p = dst;
    while (len > 0) {
        unsigned chunk = len > (1u << 30) ? (1u << 30) : (unsigned)len;
        int n = gzread(f->gz, p, chunk);
        if (n < 0) {
            int code;
            const char *msg = gzerror(f->gz, &code);
            return ft_fail(err, FT_EFORMAT, NULL, "%s: corrupt compressed data (%s)", f->path, msg);
        }
        if (n == 0)
            return ft_fail(err, FT_EFORMAT, NULL, "%s: file ends early", f->path);
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Read the header; dims receives `rank` sizes. */
static int idx_header(idx_file *f, int rank, uint32_t *dims, ft_error *err)
{
    unsigned char magic[4];
    if (idx_read(f, magic, 4, err) != 0)
        return -1;
    if (magic[0] != 0 || magic[1] != 0)
        return ft_fail(err, FT_EFORMAT, NULL, "%s: not an IDX file (bad magic)", f->path);
    if (magic[2] != IDX_TYPE_U8)
        return ft_fail(err, FT_EFORMAT, NULL, "%s: IDX type 0x%02x is not supported (need 0x08, uint8)",
                       f->path, magic[2]);
    if (magic[3] != rank)
        return ft_fail(err, FT_EFORMAT, NULL, "%s: IDX file has %d dimensions, expected %d", f->path,
                       magic[3], rank);
    for (int i = 0; i < rank; i++) {
        unsigned char b[4];
        if (idx_read(f, b, 4, err) != 0)
            return -1;
        dims[i] = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        if (dims[i] == 0 || dims[i] > IDX_MAX_DIM)
            return ft_fail(err, FT_EFORMAT, NULL, "%s: dimension %d is %u", f->path, i, dims[i]);
    }
    return 0;
}

static int idx_expect_eof(idx_file *f, ft_error *err)
{
    unsigned char extra;
    int n = gzread(f->gz, &extra, 1);
    if (n != 0)
        return ft_fail(err, FT_EFORMAT, NULL, "%s: %s", f->path,
                       n > 0 ? "file is longer than its header says" : "corrupt compressed data");
    return 0;
}

static int idx_open(idx_file *f, const char *path, ft_error *err)
{
    f->path = path;
    f->gz = gzopen(path, "rb");
    if (!f->gz)
        return ft_fail(err, FT_ENOTFOUND, NULL, "cannot open %s", path);
    gzbuffer(f->gz, 1 << 17);
    return 0;
}

ft_dataset *ft_idx_load(const char *images_path, const char *labels_path, ft_error *err)
{
    idx_file im = {0}, lb = {0};
    ft_dataset *ds = NULL;
    uint8_t *labels = NULL;
    uint32_t idims[3] = {0}, ldims[1] = {0};
    if (idx_open(&im, images_path, err) != 0 || idx_open(&lb, labels_path, err) != 0 ||
        idx_header(&im, 3, idims, err) != 0 || idx_header(&lb, 1, ldims, err) != 0)
        goto fail;
    if (idims[0] != ldims[0]) {
        ft_fail(err, FT_EFORMAT, NULL, "%s has %u images but %s has %u labels", images_path,
                idims[0], labels_path, ldims[0]);
        goto fail;
    }
    size_t n = idims[0], pixels;
    if (ft_mul_size(idims[1], idims[2], &pixels) != 0 || pixels > (1u << 24)) {
        ft_fail(err, FT_EFORMAT, NULL, "%s: images of %ux%u are too large", images_path, idims[1],
                idims[2]);
        goto fail;
    }
    labels = malloc(n);
    if (!labels) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        goto fail;
    }
    if (idx_read(&lb, labels, n, err) != 0 || idx_expect_eof(&lb, err) != 0)
        goto fail;
    int classes = 0;
    for (size_t i = 0; i < n; i++)
        if (labels[i] + 1 > classes)
            classes = labels[i] + 1;
    ds = ft_dataset_new(n, ft_shape3(1, (int)idims[1], (int)idims[2]), FT_X_U8, FT_TARGET_CLASSES,
                        classes, err);
    if (!ds)
        goto fail;
    size_t bytes;
    if (ft_mul_size(n, pixels, &bytes) != 0) {
        ft_fail(err, FT_ETOOBIG, NULL, "%s: too many images", images_path);
        goto fail;
    }
    if (idx_read(&im, ft_dataset_x_u8(ds), bytes, err) != 0 || idx_expect_eof(&im, err) != 0)
        goto fail;
    int32_t *dst = ft_dataset_labels(ds);
    for (size_t i = 0; i < n; i++)
        dst[i] = labels[i];
    free(labels);
    gzclose(im.gz);
    gzclose(lb.gz);
    return ds;
fail:
    ft_dataset_free(ds);
    free(labels);
    if (im.gz)
        gzclose(im.gz);
    if (lb.gz)
        gzclose(lb.gz);
    return NULL;
}
