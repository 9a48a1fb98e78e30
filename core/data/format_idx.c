/* The IDX format (MNIST / Fashion-MNIST), gzipped or not: a pair of files,
 * images and labels.
 *
 * Layout: two zero bytes, a type code, the rank, rank big-endian uint32
 * dimensions, then the payload. Everything is checked: the magic, the type
 * (uint8 only), the rank (3 for images, 1 for labels, with a hint when the
 * two files are swapped), non-zero dimensions, that the image and label
 * counts agree, and that each payload is exactly as long as its header says
 * -- a truncated file and one with trailing bytes are both errors. */
#include <stdlib.h>
#include <string.h>

#include "core/data/format.h"
#include "core/data/parse_helpers.h"

#define IDX_U8 0x08

static const char *type_name(int t)
{
    switch (t) {
    case 0x08: return "uint8";
    case 0x09: return "int8";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "unknown";
    }
}

/* Read an IDX header from a stream (consuming it). */
static int read_header(ft_stream *in, ft_idx_header *h, ft_error *err)
{
    unsigned char b[4];
    size_t got;
    memset(h, 0, sizeof *h);
    if (ft_stream_read(in, b, 4, &got, err) != 0)
        return -1;
    if (got < 4)
        return ft_fail(err, FT_EFORMAT, NULL, "the file is too short for an IDX header");
    if (b[0] != 0 || b[1] != 0)
        return ft_fail(err, FT_EFORMAT, NULL, "not an IDX file (it must start with two zero bytes)");
    if (b[3] < 1 || b[3] > 4)
        return ft_fail(err, FT_EFORMAT, NULL, "IDX rank %d is not supported (1 to 4)", b[3]);
    h->dtype = b[2];
    h->rank = b[3];
    for (int i = 0; i < h->rank; i++) {
        if (ft_stream_read(in, b, 4, &got, err) != 0)
            return -1;
        if (got < 4)
            return ft_fail(err, FT_EFORMAT, NULL, "the file ends inside the IDX header (truncated)");
        h->dims[i] = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        if (h->dims[i] == 0)
            return ft_fail(err, FT_EFORMAT, NULL, "IDX dimension %d is zero", i);
    }
    return 0;
}

int ft_idx_probe(const char *path, ft_idx_header *h, ft_error *err)
{
    ft_ingest_options opt = {.max_decompressed_bytes = FT_DEFAULT_MAX_DECOMPRESSED};
    ft_stream *s = ft_stream_open_file(path, err);
    if (!s)
        return -1;
    int rc = ft_stream_auto_gunzip(s, &opt, err);
    if (rc == 0)
        rc = read_header(s, h, err);
    ft_stream_close(s);
    if (rc != 0)
        ft_error_prefix(err, "%s", path);
    return rc;
}

/* Check one header of the pair: uint8, the expected rank. */
static int check_header(const ft_idx_header *h, int rank, const char *name, ft_error *err)
{
    if (h->dtype != IDX_U8)
        return ft_fail(err, FT_EFORMAT, NULL, "%s: IDX type 0x%02X (%s) is not supported; it must be 0x08 (uint8)",
                       name, h->dtype, type_name(h->dtype));
    if (h->rank == rank)
        return 0;
    if (rank == 3 && h->rank == 1)
        return ft_fail(err, FT_EFORMAT, NULL,
                       "%s: this is a labels file (1 dimension), not an images file; are the two files swapped?",
                       name);
    if (rank == 1 && h->rank == 3)
        return ft_fail(err, FT_EFORMAT, NULL,
                       "%s: this is an images file (3 dimensions), not a labels file; are the two files swapped?",
                       name);
    return ft_fail(err, FT_EFORMAT, NULL, "%s: an IDX %s file has %d dimension%s, this one has %d", name,
                   rank == 3 ? "images" : "labels", rank, rank == 1 ? "" : "s", h->rank);
}

/* Read exactly n payload bytes, then insist on the end of the file. */
static int read_payload(ft_stream *s, void *dst, uint64_t n, const char *what, const char *name, ft_error *err)
{
    size_t got;
    if (ft_stream_read(s, dst, (size_t)n, &got, err) != 0) {
        ft_error_prefix(err, "%s", name);
        return -1;
    }
    if (got < n)
        return ft_fail(err, FT_EFORMAT, NULL, "%s: the file ends after %zu of the %llu %s bytes its header declares "
                       "(truncated)", name, got, (unsigned long long)n, what);
    uint64_t extra;
    if (ft_stream_skip(s, UINT64_MAX, &extra, err) != 0) {
        ft_error_prefix(err, "%s", name);
        return -1;
    }
    if (extra)
        return ft_fail(err, FT_EFORMAT, NULL, "%s: %llu bytes follow the %llu %s bytes its header declares",
                       name, (unsigned long long)extra, (unsigned long long)n, what);
    return 0;
}

/* files[0] holds the images, files[1] the labels; messages name the file. */
static int idx_parse(const ft_format_file *files, const ft_ingest_options *opt, ft_dataset **out, json_t *info,
                     ft_error *err)
{
    ft_stream *images = files[0].stream, *labels = files[1].stream;
    const char *iname = files[0].name, *lname = files[1].name;
    (void)info;
    ft_idx_header ih, lh;
    if (read_header(images, &ih, err) != 0) {
        ft_error_prefix(err, "%s", iname);
        return -1;
    }
    if (read_header(labels, &lh, err) != 0) {
        ft_error_prefix(err, "%s", lname);
        return -1;
    }
    if (check_header(&ih, 3, iname, err) != 0 || check_header(&lh, 1, lname, err) != 0)
        return -1;
    uint64_t n = ih.dims[0], pixels = (uint64_t)ih.dims[1] * ih.dims[2];
    if (ih.dims[1] > 65536 || ih.dims[2] > 65536 || pixels > opt->max_image_pixels)
        return ft_fail(err, FT_ETOOBIG, NULL, "%s: images of %ux%u pixels are too large", iname, ih.dims[1],
                       ih.dims[2]);
    if (lh.dims[0] != n)
        return ft_fail(err, FT_EFORMAT, NULL, "%s has %llu images but %s has %u labels", iname,
                       (unsigned long long)n, lname, lh.dims[0]);
    /* From the headers alone: nothing is allocated or decompressed past them. */
    if (ft_ingest_budget(n, pixels + sizeof(int32_t), opt->max_dataset_bytes, err) != 0) {
        ft_error_prefix(err, "%s: %llu images of %ux%u", iname, (unsigned long long)n, ih.dims[1], ih.dims[2]);
        return -1;
    }
    uint64_t bytes = n * pixels;
    uint8_t *y = malloc((size_t)n);
    if (!y)
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    ft_dataset *ds = NULL;
    if (read_payload(labels, y, n, "label", lname, err) != 0)
        goto fail;
    int classes = 0;
    for (uint64_t i = 0; i < n; i++)
        if (y[i] + 1 > classes)
            classes = y[i] + 1;
    if (!(ds = ft_dataset_new((size_t)n, ft_shape3(1, (int)ih.dims[1], (int)ih.dims[2]), FT_X_U8,
                              FT_TARGET_CLASSES, classes, err)))
        goto fail;
    if (read_payload(images, ft_dataset_x_u8(ds), bytes, "pixel", iname, err) != 0)
        goto fail;
    int32_t *labels32 = ft_dataset_labels(ds);
    for (uint64_t i = 0; i < n; i++)
        labels32[i] = y[i];
    free(y);
    *out = ds;
    return 0;
fail:
    free(y);
    ft_dataset_free(ds);
    return -1;
}

/* Two zero bytes, a type code, a rank from 1 to 4. */
static ft_sniff idx_sniff(const unsigned char *p, size_t n, bool gz)
{
    (void)gz;
    return n >= 4 && p[0] == 0 && p[1] == 0 && (p[2] == 0x08 || p[2] == 0x09 || (p[2] >= 0x0B && p[2] <= 0x0E)) &&
                   p[3] >= 1 && p[3] <= 4
               ? FT_SNIFF_SURE
               : FT_SNIFF_NO;
}

static const char *const idx_suffixes[] = {"-ubyte", "-ubyte.gz", ".idx", ".idx.gz", NULL};

const ft_format_desc ft_format_idx = {
    .id = FT_FORMAT_IDX, .name = "idx", .what = "IDX", .suffixes = idx_suffixes, .files = 2,
    .sniff = idx_sniff, .parse = idx_parse,
};
