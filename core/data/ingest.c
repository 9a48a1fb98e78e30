/* ft_ingest: recognise the format, run its parser, hash the original bytes,
 * and assemble the summary. */
#include "core/data/ingest.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/data/ingest_internal.h"
#include "core/data/tar.h"

#define SNIFF_BYTES 512

void ft_ingest_resolve(const ft_ingest_options *opt, ft_ingest_options *out)
{
    static const ft_ingest_options zero;
    *out = opt ? *opt : zero;
#define DEFAULT(field, value) \
    if (!out->field)          \
        out->field = (value);
    DEFAULT(delimiter, ',');
    DEFAULT(max_columns, FT_DEFAULT_MAX_COLUMNS);
    DEFAULT(max_classes, FT_DEFAULT_MAX_CLASSES);
    DEFAULT(max_line_bytes, FT_DEFAULT_MAX_LINE_BYTES);
    DEFAULT(max_decompressed_bytes, FT_DEFAULT_MAX_DECOMPRESSED);
    DEFAULT(max_image_pixels, FT_DEFAULT_MAX_IMAGE_PIXELS);
    DEFAULT(max_entry_bytes, FT_DEFAULT_MAX_ENTRY_BYTES);
    DEFAULT(max_dataset_bytes, FT_DEFAULT_MAX_DATASET_BYTES);
#undef DEFAULT
}

void ft_info_warn(json_t *info, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *w = json_object_get(info, "warnings");
    if (!w) {
        w = json_array();
        json_object_set_new(info, "warnings", w);
    }
    json_array_append_new(w, json_string(msg));
}

const char *ft_format_name(ft_format f)
{
    switch (f) {
    case FT_FORMAT_AUTO: return "auto";
    case FT_FORMAT_CSV: return "csv";
    case FT_FORMAT_TAR: return "tar";
    case FT_FORMAT_IDX: return "idx";
    case FT_FORMAT_SAFETENSORS: return "safetensors";
    }
    return "?";
}

/* ---- options from strings (query parameters, CLI flags) ---- */

static int parse_dim(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || v < 1 || v > FT_MAX_IMAGE_SIDE)
        return -1;
    *out = (int)v;
    return (int)(end - s);
}

int ft_ingest_option_set(ft_ingest_options *opt, const char *key, const char *value, ft_error *err)
{
    if (!value)
        return ft_fail(err, FT_EINVAL, key, "option '%s' needs a value", key);
    if (strcmp(key, "format") == 0) {
        static const ft_format all[] = {FT_FORMAT_AUTO, FT_FORMAT_CSV, FT_FORMAT_TAR, FT_FORMAT_IDX,
                                        FT_FORMAT_SAFETENSORS};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            if (strcasecmp(value, ft_format_name(all[i])) == 0) {
                opt->format = all[i];
                return 0;
            }
        return ft_fail(err, FT_EINVAL, key, "format must be auto, csv, tar, idx or safetensors, not '%s'", value);
    }
    if (strcmp(key, "label") == 0) {
        if (!*value)
            return ft_fail(err, FT_EINVAL, key, "label must name a column");
        opt->label = value;
        return 0;
    }
    if (strcmp(key, "task") == 0) {
        if (strcasecmp(value, "auto") == 0)
            opt->task = FT_TASK_AUTO;
        else if (strcasecmp(value, "classification") == 0)
            opt->task = FT_TASK_CLASSIFICATION;
        else if (strcasecmp(value, "regression") == 0)
            opt->task = FT_TASK_REGRESSION;
        else
            return ft_fail(err, FT_EINVAL, key, "task must be auto, classification or regression, not '%s'",
                           value);
        return 0;
    }
    if (strcmp(key, "delimiter") == 0) {
        char d = strcasecmp(value, "tab") == 0 || strcmp(value, "\\t") == 0 ? '\t' : value[0];
        if (strcasecmp(value, "whitespace") == 0 || strcasecmp(value, "space") == 0 || strcmp(value, " ") == 0)
            d = ' ';
        else if (d != '\t' && (strlen(value) != 1 || d <= ' ' || d >= 0x7F || d == '"' || d == '.' ||
                          d == '-' || d == '+' || (d >= '0' && d <= '9') || (d >= 'a' && d <= 'z') ||
                          (d >= 'A' && d <= 'Z')))
            return ft_fail(err, FT_EINVAL, key,
                           "delimiter must be one punctuation character such as ',' ';' '|', "
                           "or 'tab', or 'whitespace' (runs of spaces and tabs)");
        opt->delimiter = d;
        return 0;
    }
    if (strcmp(key, "header") == 0) {
        if (strcasecmp(value, "true") == 0 || strcmp(value, "1") == 0 || strcasecmp(value, "yes") == 0)
            opt->no_header = false;
        else if (strcasecmp(value, "false") == 0 || strcmp(value, "0") == 0 || strcasecmp(value, "no") == 0)
            opt->no_header = true;
        else
            return ft_fail(err, FT_EINVAL, key, "header must be true or false");
        return 0;
    }
    if (strcmp(key, "image_size") == 0) {
        int h, w, n = parse_dim(value, &h);
        if (n > 0 && value[n] == '\0')
            w = h;
        else if (n <= 0 || (value[n] != 'x' && value[n] != 'X') || parse_dim(value + n + 1, &w) <= 0 ||
                 value[n + 1 + parse_dim(value + n + 1, &w)] != '\0')
            return ft_fail(err, FT_EINVAL, key,
                           "image_size must be HEIGHTxWIDTH (e.g. 28x28) or one size, each from 1 to %d",
                           FT_MAX_IMAGE_SIDE);
        opt->image_height = h;
        opt->image_width = w;
        return 0;
    }
    if (strcmp(key, "color") == 0) {
        if (strcasecmp(value, "grayscale") == 0 || strcasecmp(value, "gray") == 0 ||
            strcasecmp(value, "grey") == 0 || strcasecmp(value, "greyscale") == 0)
            opt->color = FT_COLOR_GRAYSCALE;
        else if (strcasecmp(value, "rgb") == 0)
            opt->color = FT_COLOR_RGB;
        else if (strcasecmp(value, "auto") == 0)
            opt->color = FT_COLOR_AUTO;
        else
            return ft_fail(err, FT_EINVAL, key, "color must be grayscale or rgb, not '%s'", value);
        return 0;
    }
    return ft_fail(err, FT_EINVAL, key, "unknown dataset option '%s'", key);
}

/* ---- recognising formats ---- */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

static ft_format format_from_name(const char *name)
{
    if (!name)
        return FT_FORMAT_AUTO;
    if (ends_with(name, ".csv") || ends_with(name, ".csv.gz") || ends_with(name, ".tsv"))
        return FT_FORMAT_CSV;
    if (ends_with(name, ".tar") || ends_with(name, ".tar.gz") || ends_with(name, ".tgz"))
        return FT_FORMAT_TAR;
    if (ends_with(name, ".safetensors"))
        return FT_FORMAT_SAFETENSORS;
    if (ends_with(name, "-ubyte") || ends_with(name, "-ubyte.gz") || ends_with(name, ".idx") ||
        ends_with(name, ".idx.gz"))
        return FT_FORMAT_IDX;
    return FT_FORMAT_AUTO;
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Recognise decoded content; an unsupported but recognisable format is an
 * error. `gz` says whether the bytes came out of gunzip. */
static int sniff_content(const unsigned char *p, size_t n, int gz, ft_format *out, ft_error *err)
{
    *out = FT_FORMAT_AUTO;
    if (n >= 512 && ft_tar_block_is_header(p)) {
        *out = FT_FORMAT_TAR;
        return 0;
    }
    if (n >= 4 && p[0] == 0 && p[1] == 0 && (p[2] == 0x08 || p[2] == 0x09 || (p[2] >= 0x0B && p[2] <= 0x0E)) &&
        p[3] >= 1 && p[3] <= 4) {
        *out = FT_FORMAT_IDX;
        return 0;
    }
    if (!gz && n >= 9 && p[8] == '{' && le64(p) >= 2 && le64(p) <= FT_ST_MAX_HEADER) {
        *out = FT_FORMAT_SAFETENSORS;
        return 0;
    }
    static const struct {
        const char *magic;
        size_t len;
        const char *what;
    } known[] = {
        {"\x89PNG\r\n\x1a\n", 8, "a single PNG image is not a dataset; put images in a .tar of <class>/<name>.png"},
        {"PK\x03\x04", 4, "zip archives are not supported; use .tar or .tar.gz"},
        {"\xff\xd8\xff", 3, "a JPEG image is not a dataset (and only PNG images are supported)"},
        {"BZh", 3, "bzip2 compression is not supported; use gzip"},
        {"\xfd" "7zXZ", 5, "xz compression is not supported; use gzip"},
        {"\x28\xb5\x2f\xfd", 4, "zstd compression is not supported; use gzip"},
        {"\x93NUMPY", 6, ".npy files are not supported; save x and y with safetensors"},
        {"%PDF", 4, "a PDF file is not a dataset"},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (n >= known[i].len && memcmp(p, known[i].magic, known[i].len) == 0)
            return ft_fail(err, FT_EFORMAT, NULL, "%s", known[i].what);
    if (!memchr(p, 0, n))
        *out = FT_FORMAT_CSV; /* text */
    return 0;
}

int ft_stream_auto_gunzip(ft_stream *s, const ft_ingest_options *opt, ft_error *err)
{
    const unsigned char *p;
    size_t n;
    if (ft_stream_peek(s, 2, &p, &n, err) != 0)
        return -1;
    if (n == 2 && p[0] == 0x1f && p[1] == 0x8b)
        return ft_stream_gunzip(s, opt->max_decompressed_bytes, err);
    return 0;
}

int ft_sniff_stream(ft_stream *s, const ft_ingest_options *opt, const char *name, ft_format *fmt,
                    ft_error *err)
{
    const unsigned char *p;
    size_t n;
    if (ft_stream_auto_gunzip(s, opt, err) != 0)
        return -1;
    *fmt = opt->format;
    if (*fmt != FT_FORMAT_AUTO)
        return 0;
    if (ft_stream_peek(s, SNIFF_BYTES, &p, &n, err) != 0)
        return -1;
    if (sniff_content(p, n, ft_stream_is_gzip(s), fmt, err) != 0)
        return -1;
    /* Text is weak evidence: a ".tar" that is text is a broken tar, and its
     * parser gives the better message. */
    ft_format by_name = format_from_name(name);
    if (*fmt == FT_FORMAT_AUTO || (*fmt == FT_FORMAT_CSV && by_name != FT_FORMAT_AUTO))
        *fmt = by_name != FT_FORMAT_AUTO ? by_name : *fmt;
    if (*fmt == FT_FORMAT_AUTO && n == 0)
        *fmt = FT_FORMAT_CSV; /* an empty file: let the CSV parser say so */
    if (*fmt == FT_FORMAT_AUTO)
        return ft_fail(err, FT_EFORMAT, NULL,
                       "unrecognised file format (not CSV text, a tar archive, IDX or safetensors)");
    return 0;
}

int ft_ingest_sniff(const char *path, ft_format *format, bool *gzip, ft_error *err)
{
    ft_ingest_options opt;
    ft_ingest_resolve(NULL, &opt);
    ft_stream *s = ft_stream_open_file(path, err);
    if (!s)
        return -1;
    int rc = ft_sniff_stream(s, &opt, path, format, err);
    *gzip = rc == 0 && ft_stream_is_gzip(s);
    ft_stream_close(s);
    if (rc != 0)
        ft_error_prefix(err, "%s", path);
    return rc;
}
