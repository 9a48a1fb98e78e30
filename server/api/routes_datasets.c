/* /v1/datasets: streamed upload -> parse and validate (core/ingest) -> the
 * compact stored form -> the row. A dataset is visible only once all three
 * are done. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/data/dataset_store.h"
#include "core/data/ingest.h"
#include "server/api/routes.h"

/* Upload options (core's list: those the dataset formats read), from the
 * query string or plain multipart fields. */
static bool read_options(ft_app *app, ft_req *r, ft_ingest_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->max_dataset_bytes = app->cfg.max_dataset_bytes;
    const char *key;
    for (size_t i = 0; (key = ft_ingest_option_key(i)); i++) {
        const char *v = ft_route_option(r, key);
        ft_error err = {0};
        if (v && ft_ingest_option_set(opt, key, v, &err) != 0) {
            ft_reply_error(r, 400, "invalid_option", key, "%s", err.msg);
            return false;
        }
    }
    return true;
}

static const ft_upload_part *part_named(const ft_upload_part *parts, size_t n, const char *field)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(parts[i].field, field) == 0)
            return &parts[i];
    return NULL;
}

/* Which uploaded parts hold the dataset: an IDX pair (images + labels), the
 * part "file", or the only part / raw body. */
static bool pick_source(ft_req *r, ft_ingest_source *src)
{
    const ft_upload_part *parts;
    size_t n = ft_req_parts(r, &parts);
    const ft_upload_part *images = part_named(parts, n, "images"), *labels = part_named(parts, n, "labels");
    memset(src, 0, sizeof *src);
    if (images || labels) {
        if (!images || !labels) {
            ft_reply_error(r, 400, "missing_file", images ? "labels" : "images",
                           "an IDX upload needs two parts: -F images=@...-images-idx3-ubyte.gz -F labels=@...-labels-idx1-ubyte.gz");
            return false;
        }
        src->images_path = images->path;
        src->images_name = images->filename[0] ? images->filename : "images";
        src->labels_path = labels->path;
        src->labels_name = labels->filename[0] ? labels->filename : "labels";
        return true;
    }
    const ft_upload_part *file = part_named(parts, n, "file");
    if (!file && n == 1)
        file = &parts[0];
    if (!file) {
        ft_reply_error(r, 400, "missing_file", "file", "send the dataset as the multipart field \"file\" (curl -F file=@train.csv)");
        return false;
    }
    src->path = file->path;
    src->name = file->filename[0] ? file->filename : "upload";
    return true;
}

void ft_route_dataset_upload(ft_app *app, ft_req *r)
{
    ft_ingest_options opt;
    ft_ingest_source src;
    if (!read_options(app, r, &opt) || !pick_source(r, &src))
        return;
    ft_dataset *ds = NULL;
    json_t *summary = NULL;
    ft_error err = {0};
    if (ft_ingest(&src, &opt, &ds, &summary, &err) != 0) {
        if (err.code == FT_EFORMAT || err.code == FT_EINVAL)
            ft_reply_error(r, 422, "invalid_dataset", err.param, "%s", err.msg);
        else
            ft_reply_ft_error(r, &err, 422);
        return;
    }
    char id[64], path[PATH_MAX];
    ft_app_new_id("ds", id, sizeof id);
    ft_app_dataset_path(app, id, path, sizeof path);
    /* File first, then the row: a crash in between leaves an orphan file that
     * the start-up sweep removes, never a row without its file. */
    if (ft_dataset_save(ds, summary, path, &err) != 0) {
        ft_dataset_free(ds);
        json_decref(summary);
        ft_reply_ft_error(r, &err, 422);
        return;
    }
    ft_dataset_free(ds);
    struct stat st = {0};
    stat(path, &st);
    const char *name = ft_route_option(r, "name");
    if (!name)
        name = src.name ? src.name : src.images_name;
    json_t *obj = ft_dataset_object(summary, id, name, (uint64_t)st.st_size);
    json_decref(summary);
    if (ft_route_create(app, r, &ft_resources[FT_RESOURCE_DATASET], obj, path))
        ft_app_log(app, "dataset_created", "dataset", id, "request_id", ft_req_id(r), NULL);
}
