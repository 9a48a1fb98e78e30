/* /v1/models: upload, list, get, download (safetensors or ONNX), delete. Predict and evaluate
 * live in routes_predict.c. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/data/image_preproc.h"
#include "core/onnx/onnx_export.h"
#include "core/onnx/onnx_import.h"
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

/* An ONNX ModelProto starts with field 1 (ir_version: byte 0x08); a
 * safetensors file with its header length and then '{'. */
static bool looks_like_onnx(const ft_upload_part *part)
{
    size_t n = strlen(part->filename);
    if (n > 5 && strcasecmp(part->filename + n - 5, ".onnx") == 0)
        return true;
    unsigned char head[9];
    FILE *f = fopen(part->path, "rb");
    size_t got = f ? fread(head, 1, sizeof head, f) : 0;
    if (f)
        fclose(f);
    return got == sizeof head && head[0] == 0x08 && head[8] != '{';
}

/* Convert an uploaded ONNX file into a model (the weights into our layout). */
static ft_model *import_onnx(const ft_app *app, const ft_upload_part *part, ft_error *err)
{
    unsigned char *bytes;
    size_t len;
    if (ft_read_file(part->path, app->cfg.max_upload_bytes, &bytes, &len, err) != 0)
        return NULL;
    /* The converted weights may take what a job may: a file that declares
     * more is refused before any of its data is converted. */
    ft_onnx_limits limits = {.max_tensor_bytes = app->cfg.max_job_memory / 2};
    ft_model *m = ft_onnx_import_bytes(bytes, len, &limits, NULL, err);
    free(bytes);
    return m;
}

/* The upload's model: ONNX imported, safetensors loaded; replies on failure. */
static ft_model *uploaded_model(const ft_app *app, ft_req *r, const ft_upload_part *part, bool *onnx)
{
    ft_error err = {0};
    const char *label = part->filename[0] ? part->filename : "", *sep = part->filename[0] ? ": " : "";
    *onnx = looks_like_onnx(part);
    ft_model *m = *onnx ? import_onnx(app, part, &err) : ft_model_load(part->path, &err);
    if (m)
        return m;
    if (!*onnx)
        ft_reply_error(r, 400, "invalid_model", "file", "%s%snot a valid finetuned model file: %s", label, sep, err.msg);
    else if (err.code == FT_EINVAL || err.code == FT_EFORMAT || err.code == FT_ETOOBIG)
        ft_reply_error(r, err.code == FT_ETOOBIG ? 413 : 422, "invalid_onnx", "file", "%s%scannot import this ONNX file: %s",
                       label, sep, err.msg);
    else
        ft_reply_ft_error(r, &err, 422);
    return NULL;
}

/* ?preprocess=imagenet or a JSON object: the input preprocessing the
 * model carries into jobs and predict. Replies and returns -1 if invalid. */
static int apply_preprocess_option(ft_req *r, ft_model *m)
{
    const char *opt = ft_route_option(r, "preprocess");
    if (!opt)
        return 0;
    ft_error err = {0};
    json_t *pp = ft_image_preproc_for_input(opt, ft_model_input_shape(m), &err);
    if (!pp || ft_model_set_preprocessing(m, pp, &err) != 0) {
        json_decref(pp);
        ft_reply_error(r, 422, "invalid_preprocess", err.param[0] ? err.param : "preprocess", "%s", err.msg);
        return -1;
    }
    json_decref(pp);
    return 0;
}

void ft_route_model_upload(ft_app *app, ft_req *r)
{
    size_t index;
    const ft_upload_part *part = single_part(r, &index);
    if (!part)
        return;
    bool onnx;
    ft_model *m = uploaded_model(app, r, part, &onnx);
    if (!m)
        return;
    if (apply_preprocess_option(r, m) != 0) {
        ft_model_free(m);
        return;
    }
    char id[64], path[PATH_MAX];
    ft_app_new_id("mdl", id, sizeof id);
    ft_app_model_path(app, id, path, sizeof path);
    /* The file is in place before the row that points at it commits; a crash
     * in between leaves an orphan file that the start-up sweep removes. An
     * ONNX upload, or one given preprocessing, is stored as converted, so it
     * loads like any other model; else the uploaded file itself is kept. */
    ft_error err = {0};
    bool as_uploaded = !onnx && !ft_route_option(r, "preprocess");
    bool stored = as_uploaded ? ft_commit_file(part->path, path, &err) == 0 : ft_model_save(m, path, &err) == 0;
    struct stat st;
    if (!stored || stat(path, &st) != 0) {
        ft_model_free(m);
        ft_reply_ft_error(r, &err, 422);
        return;
    }
    if (as_uploaded)
        ft_req_take_part(r, index);
    const char *name = ft_route_option(r, "name");
    if (!name && part->filename[0])
        name = part->filename;
    json_t *extra = json_pack("{s:o, s:I, s:s, s:n, s:n, s:n}", "name", name ? json_string(name) : json_null(),
                              "bytes", (json_int_t)st.st_size, "source", onnx ? "onnx" : "upload", "job",
                              "base_model", "dataset");
    if (name && !json_is_string(json_object_get(extra, "name")))
        json_object_set_new(extra, "name", json_null()); /* not UTF-8 */
    json_t *obj = ft_model_object(m, id, extra);
    json_decref(extra);
    ft_model_free(m);
    ft_route_create(app, r, &ft_resources[FT_RESOURCE_MODEL], obj, path);
}

/* ?format=onnx: the stored model converted (core/onnx/onnx_export.c). */
static void reply_onnx(ft_app *app, ft_req *r, const char *id)
{
    ft_error err = {0};
    unsigned char *buf = NULL;
    size_t len = 0;
    ft_model *m = ft_stored_model_load(app, id, FT_STORED_WEIGHTS, "id", &err);
    if (!m || ft_onnx_export(m, &buf, &len, &err) != 0) {
        ft_model_free(m);
        ft_reply_ft_error(r, &err, 422);
        return;
    }
    ft_model_free(m);
    char disp[128];
    snprintf(disp, sizeof disp, "attachment; filename=\"%s.onnx\"", id);
    ft_reply_header(r, "Content-Disposition", disp);
    ft_reply_bytes(r, 200, "application/onnx", buf, len, true);
}

void ft_route_model_content(ft_app *app, ft_req *r)
{
    const char *format = ft_req_query(r, "format");
    bool onnx = format && strcmp(format, "onnx") == 0;
    if (format && !onnx && strcmp(format, "safetensors") != 0) {
        ft_reply_error(r, 400, "invalid_format", "format", "format must be safetensors (the default) or onnx");
        return;
    }
    json_t *m = ft_route_object(app, r, ft_req_route_data(r));
    if (!m)
        return;
    const char *id = ft_req_param(r, "id");
    json_decref(m);
    if (onnx) {
        reply_onnx(app, r, id);
        return;
    }
    char path[PATH_MAX], name[96];
    ft_app_model_path(app, id, path, sizeof path);
    snprintf(name, sizeof name, "%s.safetensors", id);
    ft_reply_file(r, path, "application/octet-stream", name);
}
