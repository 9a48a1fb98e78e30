/* Helpers for the dataset ingestion tests: ingest from memory or a file. */
#ifndef FT_TEST_CSV_UTIL_H
#define FT_TEST_CSV_UTIL_H

#include <string.h>
#include <zlib.h>

#include "core/data/ingest.h"

/* Ingest bytes from memory; prints the error and returns NULL on failure. */
static inline ft_dataset *ingest_mem(const void *data, size_t len, const ft_ingest_options *opt, json_t **summary,
                                     ft_error *err)
{
    ft_ingest_source src = {.data = data, .len = len, .name = "mem"};
    ft_dataset *ds = NULL;
    ft_error local = {0};
    if (!err)
        err = &local;
    if (ft_ingest(&src, opt, &ds, summary, err) != 0) {
        if (err == &local)
            fprintf(stderr, "ingest failed: %s\n", err->msg);
        return NULL;
    }
    return ds;
}

static inline ft_dataset *ingest_str(const char *csv, const ft_ingest_options *opt, json_t **summary)
{
    return ingest_mem(csv, strlen(csv), opt, summary, NULL);
}

/* Ingest a file; the error (if any) lands in err. */
static inline ft_dataset *ingest_file(const char *path, const ft_ingest_options *opt, json_t **summary,
                                      ft_error *err)
{
    ft_ingest_source src = {.path = path};
    ft_dataset *ds = NULL;
    return ft_ingest(&src, opt, &ds, summary, err) == 0 ? ds : NULL;
}

/* gzip-compress (malloc'd result). */
static inline unsigned char *gzip_bytes(const void *data, size_t len, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    *out_len = 0;
    if (deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    size_t cap = deflateBound(&z, (uLong)len) + 64;
    unsigned char *out = malloc(cap);
    z.next_in = (unsigned char *)data;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

/* Class name k, or "" (never NULL, for string comparisons). */
static inline const char *cname(const ft_dataset *ds, int k)
{
    const char *s = ft_dataset_class_name(ds, k);
    return s ? s : "";
}

#endif
