/* ft_ingest: open the source, dispatch to a parser, hash the original bytes
 * and put the summary together. */
#include <stdlib.h>
#include <string.h>

#include "core/data/ingest_internal.h"
#include "core/data/ingest_util.h"

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

static int ingest_safetensors(const ft_ingest_source *src, const ft_ingest_options *opt, ft_stream *s,
                              ft_dataset **out, json_t *info, ft_error *err)
{
    if (ft_stream_is_gzip(s))
        return ft_fail(err, FT_EFORMAT, NULL,
                       "gzip-compressed safetensors files are not supported; upload the .safetensors file itself");
    ft_st_file *f = src->data ? ft_st_open_mem(src->data, src->len, err) : ft_st_open(src->path, err);
    if (!f)
        return -1;
    int rc = ft_st_dataset_parse(f, opt, out, info, err);
    ft_st_close(f);
    return rc;
}

static ft_stream *open_single(const ft_ingest_source *src, ft_error *err)
{
    return src->data ? ft_stream_open_mem(src->data, src->len, err) : ft_stream_open_file(src->path, err);
}

/* An image archive is read twice: once to count its images (the budget),
 * then to decode them. */
static int ingest_tar(const ft_ingest_source *src, const ft_ingest_options *opt, ft_stream *s, ft_dataset **out,
                      json_t *info, ft_error *err)
{
    ft_stream *prescan = open_single(src, err);
    int rc = prescan && ft_stream_auto_gunzip(prescan, opt, err) == 0
                 ? ft_images_tar_parse(s, prescan, opt, out, info, err)
                 : -1;
    ft_stream_close(prescan);
    return rc;
}

static int ingest_single(const ft_ingest_source *src, const ft_ingest_options *opt, const char *name,
                         ft_dataset **out, json_t *info, json_t *files, ft_error *err)
{
    ft_stream *s = open_single(src, err);
    if (!s)
        return -1;
    ft_format fmt;
    int rc = ft_sniff_stream(s, opt, name, &fmt, err);
    if (rc == 0) {
        switch (fmt) {
        case FT_FORMAT_CSV:
            rc = ft_csv_parse(s, opt, out, info, err);
            break;
        case FT_FORMAT_TAR:
            rc = ingest_tar(src, opt, s, out, info, err);
            break;
        case FT_FORMAT_SAFETENSORS:
            rc = ingest_safetensors(src, opt, s, out, info, err);
            break;
        case FT_FORMAT_IDX:
        default:
            rc = ft_fail(err, FT_EINVAL, NULL,
                         "this is an IDX file; an IDX dataset needs two files, the images and the labels");
            break;
        }
    }
    json_t *entry = NULL;
    if (rc == 0) {
        json_object_set_new(info, "format", json_string(ft_format_name(fmt)));
        json_object_set_new(info, "compression", json_string(ft_stream_is_gzip(s) ? "gzip" : "none"));
        if (!(entry = file_entry(s, "file", name, err)))
            rc = -1;
        json_array_append_new(files, entry);
    }
    ft_stream_close(s);
    if (rc != 0) {
        ft_dataset_free(*out);
        *out = NULL;
        if (name)
            ft_error_prefix(err, "%s", name);
    }
    return rc;
}

static int ingest_idx(const ft_ingest_source *src, const ft_ingest_options *opt, ft_dataset **out,
                      json_t *info, json_t *files, ft_error *err)
{
    if (!src->images_path || !src->labels_path)
        return ft_fail(err, FT_EINVAL, src->images_path ? "labels" : "images",
                       "an IDX dataset needs both an images file and a labels file");
    const char *iname = src->images_name ? src->images_name : src->images_path;
    const char *lname = src->labels_name ? src->labels_name : src->labels_path;
    ft_stream *si = ft_stream_open_file(src->images_path, err), *sl = NULL;
    int rc = -1;
    if (!si)
        return -1;
    if (!(sl = ft_stream_open_file(src->labels_path, err)))
        goto done;
    if (ft_stream_auto_gunzip(si, opt, err) != 0) {
        ft_error_prefix(err, "%s", iname);
        goto done;
    }
    if (ft_stream_auto_gunzip(sl, opt, err) != 0) {
        ft_error_prefix(err, "%s", lname);
        goto done;
    }
    if (ft_idx_parse(si, iname, sl, lname, opt, out, err) != 0)
        goto done;
    json_object_set_new(info, "format", json_string("idx"));
    json_object_set_new(info, "compression",
                        json_string(ft_stream_is_gzip(si) || ft_stream_is_gzip(sl) ? "gzip" : "none"));
    json_t *a = file_entry(si, "images", iname, err), *b = a ? file_entry(sl, "labels", lname, err) : NULL;
    json_array_append_new(files, a);
    json_array_append_new(files, b);
    rc = a && b ? 0 : -1;
done:
    if (rc != 0) {
        ft_dataset_free(*out);
        *out = NULL;
    }
    ft_stream_close(si);
    ft_stream_close(sl);
    return rc;
}

static int check_options(const ft_ingest_options *o, ft_error *err)
{
    if ((o->image_height > 0) != (o->image_width > 0) || o->image_height < 0 || o->image_width < 0 ||
        o->image_height > FT_MAX_IMAGE_SIDE || o->image_width > FT_MAX_IMAGE_SIDE)
        return ft_fail(err, FT_EINVAL, "image_size", "image_size needs a height and a width from 1 to %d",
                       FT_MAX_IMAGE_SIDE);
    if (o->delimiter == '"' || o->delimiter == '\n' || o->delimiter == '\r' || o->delimiter == '\0')
        return ft_fail(err, FT_EINVAL, "delimiter", "the delimiter cannot be a quote or a line break");
    if ((unsigned)o->task > FT_TASK_REGRESSION || (unsigned)o->color > FT_COLOR_RGB ||
        (unsigned)o->format > FT_FORMAT_SAFETENSORS)
        return ft_fail(err, FT_EINVAL, NULL, "invalid ingest option value");
    return 0;
}

int ft_ingest(const ft_ingest_source *src, const ft_ingest_options *options, ft_dataset **out,
              json_t **summary, ft_error *err)
{
    ft_ingest_options opt;
    ft_ingest_resolve(options, &opt);
    *out = NULL;
    if (summary)
        *summary = NULL;
    if (check_options(&opt, err) != 0)
        return -1;
    json_t *info = json_object(), *files = json_array();
    if (!info || !files) {
        json_decref(info);
        json_decref(files);
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    }
    int rc;
    if (src->images_path || src->labels_path || opt.format == FT_FORMAT_IDX)
        rc = ingest_idx(src, &opt, out, info, files, err);
    else if (src->path || src->data)
        rc = ingest_single(src, &opt, src->name ? src->name : src->path, out, info, files, err);
    else
        rc = ft_fail(err, FT_EINVAL, NULL, "no dataset file given");
    if (rc == 0 && summary) {
        json_t *s = ft_dataset_summary(*out);
        if (!s) {
            rc = ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        } else {
            json_object_update(s, info);
            json_object_set(s, "files", files);
            *summary = s;
        }
    }
    if (rc != 0) {
        ft_dataset_free(*out);
        *out = NULL;
    }
    json_decref(info);
    json_decref(files);
    return rc;
}
