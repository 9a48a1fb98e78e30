/* ft_ingest: open the source's files, pick the format from the table (or by
 * sniffing), run its parser, hash the original bytes and put the summary
 * together. */
#include <stdlib.h>
#include <string.h>

#include "core/data/format.h"
#include "core/data/parse_helpers.h"

/* The summary's files[].role of each file, for one file and for a pair. */
static const char *const single_role[] = {"file"};
static const char *const pair_roles[] = {"images", "labels"};

/* {"role", "name", "bytes", "sha256"} of a stream read to its end. */
static json_t *file_entry(ft_stream *s, const char *role, const char *name, ft_error *err)
{
    uint8_t sha[FT_SHA256_SIZE];
    uint64_t bytes;
    char hex[2 * FT_SHA256_SIZE + 1];
    if (ft_stream_finish(s, sha, &bytes, err) != 0)
        return NULL;
    ft_sha256_hex(sha, hex);
    json_t *j = json_pack("{s:s, s:s?, s:I, s:s}", "role", role, "name",
                          name && ft_utf8_valid(name, strlen(name)) ? name : NULL, "bytes",
                          (json_int_t)bytes, "sha256", hex);
    if (!j)
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    return j;
}

/* Parse the opened files with `fmt` and describe them: format, compression
 * and files[] go into info. */
static int parse_files(const ft_format_desc *fmt, ft_format_file *f, const ft_ingest_options *opt,
                       ft_dataset **out, json_t *info, ft_error *err)
{
    if (fmt->parse(f, opt, out, info, err) != 0)
        return -1;
    const char *const *roles = fmt->files == 2 ? pair_roles : single_role;
    bool gz = false;
    for (int i = 0; i < fmt->files; i++)
        gz = gz || ft_stream_is_gzip(f[i].stream);
    json_t *files = json_array();
    json_object_set_new(info, "format", json_string(fmt->name));
    json_object_set_new(info, "compression", json_string(gz ? "gzip" : "none"));
    json_object_set_new(info, "files", files);
    for (int i = 0; i < fmt->files; i++) {
        json_t *entry = file_entry(f[i].stream, roles[i], f[i].name, err);
        if (!entry)
            return -1;
        json_array_append_new(files, entry);
    }
    return 0;
}

/* One file: sniff it (unless the options name the format), then parse. Its
 * messages are prefixed with its name. */
static int ingest_single(ft_format_file *f, const ft_ingest_options *opt, ft_dataset **out, json_t *info,
                         ft_error *err)
{
    const ft_format_desc *fmt;
    int rc = ft_sniff_stream(f->stream, opt, f->name, &fmt, err);
    if (rc == 0 && fmt->files != 1)
        rc = ft_fail(err, FT_EINVAL, NULL,
                     "this is an %s file; an %s dataset needs two files, the images and the labels", fmt->what,
                     fmt->what);
    if (rc == 0)
        rc = parse_files(fmt, f, opt, out, info, err);
    if (rc != 0 && f->name)
        ft_error_prefix(err, "%s", f->name);
    return rc;
}

/* An images + labels pair: the parser names the file at fault. */
static int ingest_pair(ft_format_file *f, const ft_ingest_options *opt, ft_dataset **out, json_t *info,
                       ft_error *err)
{
    const ft_format_desc *fmt = ft_format_find(opt->format);
    if (!fmt || fmt->files != 2)
        fmt = ft_format_pair();
    for (int i = 0; i < 2; i++)
        if (ft_stream_auto_gunzip(f[i].stream, opt, err) != 0) {
            ft_error_prefix(err, "%s", f[i].name);
            return -1;
        }
    return parse_files(fmt, f, opt, out, info, err);
}

/* Both entries start alike: clear the outputs, resolve and check the options. */
static int begin(const ft_ingest_options *options, ft_ingest_options *opt, ft_dataset **out, json_t **summary,
                 ft_error *err)
{
    ft_ingest_resolve(options, opt);
    *out = NULL;
    if (summary)
        *summary = NULL;
    return ft_ingest_check(opt, err);
}

int ft_ingest_files(ft_format_file *f, int n, const ft_ingest_options *options, ft_dataset **out,
                    json_t **summary, ft_error *err)
{
    ft_ingest_options opt;
    if (begin(options, &opt, out, summary, err) != 0)
        return -1;
    json_t *info = json_object();
    if (!info)
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    int rc = 0, opened;
    for (opened = 0; opened < n && rc == 0; opened++)
        if (!(f[opened].stream = ft_format_file_open(&f[opened], err)))
            rc = -1;
    if (rc == 0)
        rc = n == 2 ? ingest_pair(f, &opt, out, info, err) : ingest_single(f, &opt, out, info, err);
    for (int i = 0; i < opened; i++)
        ft_stream_close(f[i].stream);
    if (rc == 0 && summary) {
        json_t *s = ft_dataset_summary(*out);
        if (!s) {
            rc = ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        } else {
            json_object_update(s, info);
            *summary = s;
        }
    }
    if (rc != 0) {
        ft_dataset_free(*out);
        *out = NULL;
    }
    json_decref(info);
    return rc;
}

int ft_ingest(const ft_ingest_source *src, const ft_ingest_options *options, ft_dataset **out,
              json_t **summary, ft_error *err)
{
    ft_ingest_options opt;
    if (begin(options, &opt, out, summary, err) != 0)
        return -1;
    const ft_format_desc *pair = ft_format_find(opt.format);
    if (!pair || pair->files != 2)
        pair = src->images_path || src->labels_path ? ft_format_pair() : NULL;
    if (pair) {
        if (!src->images_path || !src->labels_path)
            return ft_fail(err, FT_EINVAL, src->images_path ? "labels" : "images",
                           "an %s dataset needs both an images file and a labels file", pair->what);
        ft_format_file f[2] = {
            {.path = src->images_path, .name = src->images_name ? src->images_name : src->images_path},
            {.path = src->labels_path, .name = src->labels_name ? src->labels_name : src->labels_path},
        };
        return ft_ingest_files(f, 2, &opt, out, summary, err);
    }
    if (!src->path && !src->data)
        return ft_fail(err, FT_EINVAL, NULL, "no dataset file given");
    ft_format_file f = {.path = src->path, .name = src->name ? src->name : src->path, .data = src->data,
                        .len = src->len};
    return ft_ingest_files(&f, 1, &opt, out, summary, err);
}

ft_dataset *ft_idx_load(const char *images_path, const char *labels_path, ft_error *err)
{
    ft_ingest_source src = {.images_path = images_path, .labels_path = labels_path};
    ft_dataset *ds;
    return ft_ingest(&src, NULL, &ds, NULL, err) == 0 ? ds : NULL;
}
