/* The format table, and recognising a file's format by iterating it:
 * first a sure sniff (magic numbers, valid headers), then the magic numbers
 * of formats we refuse, then a weak sniff (text), then the file name. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/data/format.h"
#include "core/data/parse_helpers.h"

#define SNIFF_BYTES 512

#define FT_FORMAT_ROW(ID, name) &ft_format_##name,
static const ft_format_desc *const formats[] = {FT_FORMAT_LIST(FT_FORMAT_ROW)};
#undef FT_FORMAT_ROW
#define NFORMATS (sizeof formats / sizeof formats[0])

const ft_format_desc *ft_format_find(ft_format id)
{
    for (size_t i = 0; i < NFORMATS; i++)
        if (formats[i]->id == id)
            return formats[i];
    return NULL;
}

const ft_format_desc *ft_format_by_name(const char *name)
{
    for (size_t i = 0; i < NFORMATS; i++)
        if (strcasecmp(name, formats[i]->name) == 0)
            return formats[i];
    return NULL;
}

const ft_format_desc *ft_format_pair(void)
{
    for (size_t i = 0; i < NFORMATS; i++)
        if (formats[i]->files == 2)
            return formats[i];
    return NULL;
}

unsigned ft_format_options_read(void)
{
    unsigned bits = 0;
    for (size_t i = 0; i < NFORMATS; i++)
        bits |= formats[i]->options;
    return bits;
}

const char *ft_format_name(ft_format f)
{
    const ft_format_desc *d = ft_format_find(f);
    return f == FT_FORMAT_AUTO ? "auto" : d ? d->name : "?";
}

/* "auto, csv, tar, idx or safetensors" (names, after `first`) or "CSV text,
 * a tar archive, IDX or safetensors" (what messages call them). */
static void list_text(char *dst, size_t cap, const char *first, bool what)
{
    const char *item[NFORMATS + 1];
    size_t n = 0, w = 0;
    if (first)
        item[n++] = first;
    for (size_t i = 0; i < NFORMATS; i++)
        item[n++] = what ? formats[i]->what : formats[i]->name;
    dst[0] = '\0';
    for (size_t i = 0; i < n && w < cap; i++) {
        int k = snprintf(dst + w, cap - w, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ", item[i]);
        if (k < 0)
            break;
        w += (size_t)k;
    }
}

void ft_format_names(char *dst, size_t cap) { list_text(dst, cap, "auto", false); }

/* ---- recognising formats ---- */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

static const ft_format_desc *format_from_name(const char *name)
{
    for (size_t i = 0; name && i < NFORMATS; i++)
        for (const char *const *s = formats[i]->suffixes; s && *s; s++)
            if (ends_with(name, *s))
                return formats[i];
    return NULL;
}

/* Formats we recognise only to say why they are refused. */
static int refuse_known(const unsigned char *p, size_t n, ft_error *err)
{
    static const struct {
        const char *magic;
        size_t len;
        const char *what;
    } known[] = {
        {"\x89PNG\r\n\x1a\n", 8, "a single PNG image is not a dataset; put images in a .tar of <class>/<name>.png"},
        {"\xff\xd8\xff", 3, "a single JPEG image is not a dataset; put images in a .zip of <class>/<name>.jpg"},
        {"BZh", 3, "bzip2 compression is not supported; use gzip"},
        {"\xfd" "7zXZ", 5, "xz compression is not supported; use gzip"},
        {"\x28\xb5\x2f\xfd", 4, "zstd compression is not supported; use gzip"},
        {"\x93NUMPY", 6, ".npy files are not supported; save x and y with safetensors"},
        {"%PDF", 4, "a PDF file is not a dataset"},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (n >= known[i].len && memcmp(p, known[i].magic, known[i].len) == 0)
            return ft_fail(err, FT_EFORMAT, NULL, "%s", known[i].what);
    return 0;
}

/* The first format whose sniff says `level` about the content, or NULL. */
static const ft_format_desc *sniffed(const unsigned char *p, size_t n, bool gz, ft_sniff level)
{
    for (size_t i = 0; i < NFORMATS; i++)
        if (formats[i]->sniff && formats[i]->sniff(p, n, gz) == level)
            return formats[i];
    return NULL;
}

int ft_sniff_stream(ft_stream *s, const ft_ingest_options *opt, const char *name, const ft_format_desc **fmt,
                    ft_error *err)
{
    const unsigned char *p;
    size_t n;
    if (ft_stream_auto_gunzip(s, opt, err) != 0)
        return -1;
    if (opt->format != FT_FORMAT_AUTO) {
        *fmt = ft_format_find(opt->format);
        return 0;
    }
    if (ft_stream_peek(s, SNIFF_BYTES, &p, &n, err) != 0)
        return -1;
    bool gz = ft_stream_is_gzip(s);
    if ((*fmt = sniffed(p, n, gz, FT_SNIFF_SURE)))
        return 0;
    if (refuse_known(p, n, err) != 0)
        return -1;
    /* Text is weak evidence: a ".tar" that is text is a broken tar, and its
     * parser gives the better message. */
    const ft_format_desc *by_name = format_from_name(name);
    *fmt = by_name ? by_name : sniffed(p, n, gz, FT_SNIFF_WEAK);
    if (!*fmt) {
        char what[256];
        list_text(what, sizeof what, NULL, true);
        return ft_fail(err, FT_EFORMAT, NULL, "unrecognised file format (not %s)", what);
    }
    return 0;
}

int ft_ingest_sniff(const char *path, ft_format *format, bool *gzip, ft_error *err)
{
    ft_ingest_options opt = {.max_decompressed_bytes = FT_DEFAULT_MAX_DECOMPRESSED};
    ft_stream *s = ft_stream_open_file(path, err);
    if (!s)
        return -1;
    const ft_format_desc *fmt = NULL;
    int rc = ft_sniff_stream(s, &opt, path, &fmt, err);
    *format = fmt ? fmt->id : FT_FORMAT_AUTO;
    *gzip = rc == 0 && ft_stream_is_gzip(s);
    ft_stream_close(s);
    if (rc != 0)
        ft_error_prefix(err, "%s", path);
    return rc;
}
