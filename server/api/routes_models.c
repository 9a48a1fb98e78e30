/* /v1/models: upload, list, get, download, delete. Predict and evaluate
 * live in routes_predict.c. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util/fsutil.h"
#include "server/api/routes.h"

/* The uploaded file: the multipart part "file" (or the only one), or the raw body. */
static const ft_upload_part *single_part(ft_req *r, size_t *index)
{
    const ft_upload_part *parts;
    size_t n = ft_req_parts(r, &parts);
    for (size_t i = 0; i < n; i++)
        if (strcmp(parts[i].field, "file") == 0 || n == 1) {
            *index = i;
            return &parts[i];
        }
    ft_reply_error(r, 400, "missing_file", "file", "send the model as the multipart field \"file\" (curl -F file=@model.safetensors)");
    return NULL;
}

void ft_route_model_upload(ft_app *app, ft_req *r)
{
    size_t index;
    const ft_upload_part *part = single_part(r, &index);
    if (!part)
        return;
    ft_error err = {0};
    ft_model *m = ft_model_load(part->path, &err);
    if (!m) {
        ft_reply_error(r, 400, "invalid_model", "file", "%s%snot a valid finetuned model file: %s",
                       part->filename[0] ? part->filename : "", part->filename[0] ? ": " : "", err.msg);
        return;
    }
    char id[64], path[PATH_MAX];
    ft_app_new_id("mdl", id, sizeof id);
    ft_app_model_path(app, id, path, sizeof path);
    const char *name = ft_route_option(r, "name");
    if (!name && part->filename[0])
        name = part->filename;
    json_t *extra = json_pack("{s:o, s:I, s:s, s:n, s:n, s:n}", "name", name ? json_string(name) : json_null(),
                              "bytes", (json_int_t)part->bytes, "source", "upload", "job", "base_model", "dataset");
    if (name && !json_is_string(json_object_get(extra, "name")))
        json_object_set_new(extra, "name", json_null()); /* not UTF-8 */
    json_t *obj = ft_model_object(m, id, extra);
    json_decref(extra);
    ft_model_free(m);
    /* The file is in place before the row that points at it commits; a crash
     * in between leaves an orphan file that the start-up sweep removes. */
    if (ft_commit_file(part->path, path, &err) != 0) {
        json_decref(obj);
        ft_reply_ft_error(r, &err, 422);
        return;
    }
    ft_req_take_part(r, index);
    ft_route_create(app, r, &ft_resources[FT_RESOURCE_MODEL], obj, path);
}

void ft_route_model_content(ft_app *app, ft_req *r)
{
    json_t *m = ft_route_object(app, r, ft_req_route_data(r));
    if (!m)
        return;
    const char *id = ft_req_param(r, "id");
    json_decref(m);
    char path[PATH_MAX], name[96];
    ft_app_model_path(app, id, path, sizeof path);
    snprintf(name, sizeof name, "%s.safetensors", id);
    ft_reply_file(r, path, "application/octet-stream", name);
}
