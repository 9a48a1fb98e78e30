/* /v1/jobs: submit (validated up front), list, get, cancel, metrics. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/job/spec.h"
#include "server/api/routes.h"
#include "server/objects/job_plan.h"
#include "server/worker/worker.h"

/* A spec's dataset references must name stored datasets: paths are only for
 * `finetuned train` (the service never opens a path a client chose). */
static bool ref_is_id(ft_req *r, const ft_dataset_ref *ref, const char *param)
{
    if (ref->id)
        return true;
    ft_reply_error(r, 422, "invalid_value", param,
                   "%s must be a dataset id (ds_...) or an object with \"id\"; local paths only work with `finetuned train`",
                   param);
    return false;
}

/* Look up a referenced dataset (422, not 404: the id is in the body). */
static json_t *referenced_dataset(ft_app *app, ft_req *r, const ft_dataset_ref *ref, const char *param)
{
    ft_error err = {0};
    json_t *ds = ft_app_valid_id("ds", ref->id) ? ft_store_dataset_get(app->store, ref->id, &err) : NULL;
    if (!ds) {
        if (err.code && err.code != FT_ENOTFOUND)
            ft_reply_ft_error(r, &err, 422);
        else
            ft_reply_error(r, 422, "unknown_dataset", param, "no dataset with id '%s'", ref->id);
    }
    return ds;
}

/* The validation or test set must select what the training set selects. */
static bool compatible(ft_req *r, const ft_dataset_ref *ref, const json_t *ds, const ft_data_info *train_info,
                       int train_classes, const char *param)
{
    ft_data_info info;
    ft_error err = {0};
    size_t rows;
    int classes, nnames;
    const char *names[1];
    if (ft_data_info_from_summary(ds, &info, &err) != 0) {
        ft_reply_ft_error(r, &err, 422);
        return false;
    }
    int rc = ft_dataset_ref_check(ref, &info, param, &rows, &classes, names, 1, &nnames, &err);
    /* Images of other sizes are for the plan to judge: a base model with
     * image preprocessing resizes every set to its input. */
    bool images = info.xtype == FT_X_U8 && train_info->xtype == FT_X_U8 && info.shape.rank == 3 &&
                  train_info->shape.rank == 3;
    bool same_shape = (images || ft_shape_equal(info.shape, train_info->shape)) && info.kind == train_info->kind;
    ft_data_info_free(&info);
    if (rc != 0) {
        ft_reply_ft_error(r, &err, 422);
        return false;
    }
    if (!same_shape || classes != train_classes) {
        ft_reply_error(r, 422, "incompatible_dataset", param,
                       "the %s set must have the training set's row shape and %d %s (it has %d)", param,
                       train_classes, train_info->kind == FT_TARGET_CLASSES ? "classes" : "targets", classes);
        return false;
    }
    return true;
}

static void request_hash(const json_t *body, char *out, size_t n)
{
    char *s = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const char *c = s ? s : ""; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ULL;
    free(s);
    snprintf(out, n, "%016llx", (unsigned long long)h);
}

/* The plan's refusals: an over-budget job and unknown base model are named
 * as such; the rest are invalid values of the field. */
static void reply_plan_error(ft_req *r, const ft_error *err)
{
    if (err->code == FT_ETOOBIG)
        ft_reply_error(r, 422, "job_too_large", err->param, "%s", err->msg);
    else if (err->code == FT_ENOTFOUND && strcmp(err->param, "base_model") == 0)
        ft_reply_error(r, 422, "unknown_model", "base_model", "%s", err->msg);
    else
        ft_reply_ft_error(r, err, 422);
}

void ft_route_job_create(ft_app *app, ft_req *r)
{
    ft_job_spec spec;
    ft_error err = {0};
    ft_data_info info = {0};
    json_t *train_ds = NULL, *val_ds = NULL, *test_ds = NULL, *warnings = NULL, *existing = NULL, *hook = NULL;
    if (ft_job_spec_parse(ft_req_json(r), &spec, &err) != 0) {
        ft_reply_ft_error(r, &err, 422);
        return;
    }
    /* Cheap checks first (references, selectors, set compatibility); the
     * plan builds only a layout and estimates memory from shapes. */
    if (!ref_is_id(r, &spec.dataset, "dataset") ||
        (spec.val_kind == FT_VAL_SET && !ref_is_id(r, &spec.val, "validation")) ||
        (spec.has_test && !ref_is_id(r, &spec.test, "test")))
        goto done;
    if (!(train_ds = referenced_dataset(app, r, &spec.dataset, "dataset")) ||
        (spec.val_kind == FT_VAL_SET && !(val_ds = referenced_dataset(app, r, &spec.val, "validation"))) ||
        (spec.has_test && !(test_ds = referenced_dataset(app, r, &spec.test, "test"))))
        goto done;
    size_t rows;
    int classes, nnames;
    const char *names[1];
    if (ft_data_info_from_summary(train_ds, &info, &err) != 0 ||
        ft_dataset_ref_check(&spec.dataset, &info, "dataset", &rows, &classes, names, 1, &nnames, &err) != 0) {
        ft_reply_ft_error(r, &err, 422);
        goto done;
    }
    if ((val_ds && !compatible(r, &spec.val, val_ds, &info, classes, "validation")) ||
        (test_ds && !compatible(r, &spec.test, test_ds, &info, classes, "test")))
        goto done;
    if (ft_job_plan_stored(app, &spec, &warnings, &err) != 0) {
        reply_plan_error(r, &err);
        goto done;
    }

    char id[64], hash[32];
    ft_app_new_id("job", id, sizeof id);
    request_hash(ft_req_json(r), hash, sizeof hash);
    json_t *obj = ft_job_object(&spec, id, warnings, app->cfg.max_attempts);
    /* The job's own endpoint is inserted with the job, in one transaction. */
    json_t *fields = json_object_get(spec.json, "webhook");
    if (fields && !(hook = ft_route_webhook_row(app, r, fields, "webhook.", id))) {
        json_decref(obj);
        goto done;
    }
    if (hook)
        json_object_set(obj, "webhook", hook);
    const char *key = ft_req_header(r, "Idempotency-Key");
    if (key && (strlen(key) == 0 || strlen(key) > 255)) {
        json_decref(obj);
        ft_reply_error(r, 400, "invalid_idempotency_key", "Idempotency-Key", "Idempotency-Key must be 1 to 255 characters");
        goto done;
    }
    int rc = ft_store_job_insert(app->store, obj, key, hash, &existing, &err);
    json_decref(obj);
    if (rc != 0) {
        ft_reply_ft_error(r, &err, 409);
        goto done;
    }
    if (existing) {
        ft_reply_header(r, "Idempotent-Replayed", "true");
        ft_reply_json(r, 200, existing);
        existing = NULL;
        goto done;
    }
    json_t *job = ft_store_job_get(app->store, id, &err);
    if (!job) {
        ft_reply_ft_error(r, &err, 422);
        goto done;
    }
    if (hook) /* the only time its secret leaves the server */
        json_object_set_new(job, "webhook", json_pack("{sO sO}", "id", json_object_get(hook, "id"), "secret",
                                                      json_object_get(hook, "secret")));
    ft_app_log(app, "job_queued", "job", id, "request_id", ft_req_id(r), NULL);
    ft_workers_wake(app->workers);
    ft_reply_json(r, 201, job);
done:
    ft_data_info_free(&info);
    json_decref(train_ds);
    json_decref(val_ds);
    json_decref(test_ds);
    json_decref(warnings);
    json_decref(existing);
    json_decref(hook);
    ft_job_spec_free(&spec);
}

void ft_route_job_cancel(ft_app *app, ft_req *r)
{
    const char *id = ft_route_id(r, "job", "job");
    if (!id)
        return;
    ft_error err = {0};
    json_t *job = NULL;
    if (ft_store_job_cancel(app->store, id, &job, &err) != 0) {
        ft_reply_ft_error(r, &err, 409);
        return;
    }
    ft_app_cancel(app, id);
    ft_app_notify(app);
    if (strcmp(json_string_value(json_object_get(job, "status")), "cancelled") == 0) {
        /* A queued job (requeued at shutdown) may have a checkpoint: it never
         * resumes now. */
        char ckpt[PATH_MAX];
        ft_app_checkpoint_path(app, id, ckpt, sizeof ckpt);
        unlink(ckpt);
    }
    ft_reply_json(r, 200, job);
}

/* CSV columns: "epoch", then the epoch metric fields in table order. */
#define NCOLUMNS (1 + FT_EPOCH_METRIC_COUNT)

static const char *column_name(size_t c) { return c ? ft_epoch_metric_fields[c - 1].name : "epoch"; }

/* printf format of a column's non-integer cells. */
static const char *column_format(size_t c) { return c ? ft_epoch_metric_fields[c - 1].format : "%.6g"; }

static void reply_csv(ft_req *r, json_t *rows)
{
    bool used[NCOLUMNS] = {true};
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
        for (size_t c = 1; c < NCOLUMNS; c++)
            used[c] |= json_object_get(row, column_name(c)) != NULL;
    size_t cap = 256 + json_array_size(rows) * NCOLUMNS * 24, len = 0;
    char *out = malloc(cap);
    if (!out) {
        ft_reply_error(r, 503, "out_of_memory", NULL, "out of memory");
        return;
    }
    for (size_t c = 0; c < NCOLUMNS; c++)
        if (used[c])
            len += (size_t)snprintf(out + len, cap - len, "%s%s", len ? "," : "", column_name(c));
    len += (size_t)snprintf(out + len, cap - len, "\n");
    json_array_foreach(rows, i, row) {
        bool first = true;
        for (size_t c = 0; c < NCOLUMNS; c++) {
            if (!used[c])
                continue;
            json_t *v = json_object_get(row, column_name(c));
            if (!first)
                len += (size_t)snprintf(out + len, cap - len, ",");
            if (json_is_integer(v))
                len += (size_t)snprintf(out + len, cap - len, "%lld", (long long)json_integer_value(v));
            else if (json_is_number(v))
                len += (size_t)snprintf(out + len, cap - len, column_format(c), json_number_value(v));
            first = false;
        }
        len += (size_t)snprintf(out + len, cap - len, "\n");
    }
    ft_reply_bytes(r, 200, "text/csv; charset=utf-8", out, len, true);
}

void ft_route_job_metrics(ft_app *app, ft_req *r)
{
    const char *id = ft_route_id(r, "job", "job");
    if (!id)
        return;
    const char *format = ft_req_query(r, "format");
    if (format && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0) {
        ft_reply_error(r, 400, "invalid_format", "format", "format must be json or csv");
        return;
    }
    ft_error err = {0};
    json_t *job = ft_store_job_get(app->store, id, &err);
    json_t *rows = job ? ft_store_job_metrics(app->store, id, &err) : NULL;
    json_decref(job);
    if (!rows) {
        ft_reply_ft_error(r, &err, 422);
        return;
    }
    if (format && strcmp(format, "csv") == 0) {
        reply_csv(r, rows);
        json_decref(rows);
        return;
    }
    ft_reply_list(r, rows, false);
}
