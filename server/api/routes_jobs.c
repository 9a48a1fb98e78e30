/* /v1/jobs: submit (validated up front), list, get, cancel, metrics. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/job/spec.h"
#include "server/api/routes.h"
#include "server/objects/job_check.h"
#include "server/sweeps/sweep.h"
#include "server/worker/worker.h"

bool ft_route_idempotency(ft_req *r, const char **key, char hash[FT_REQUEST_HASH])
{
    char *s = json_dumps(ft_req_json(r), JSON_COMPACT | JSON_SORT_KEYS);
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const char *c = s ? s : ""; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ULL;
    free(s);
    snprintf(hash, FT_REQUEST_HASH, "%016llx", (unsigned long long)h);
    *key = ft_req_header(r, "Idempotency-Key");
    if (*key && (strlen(*key) == 0 || strlen(*key) > 255)) {
        ft_reply_error(r, 400, "invalid_idempotency_key", "Idempotency-Key", "Idempotency-Key must be 1 to 255 characters");
        return false;
    }
    return true;
}

void ft_reply_check_error(ft_req *r, const ft_error *err, const char *code)
{
    if (code)
        ft_reply_error(r, 422, code, err->param, "%s", err->msg);
    else
        ft_reply_ft_error(r, err, 422);
}

void ft_route_job_create(ft_app *app, ft_req *r)
{
    ft_job_spec spec;
    ft_error err = {0};
    json_t *warnings = NULL, *existing = NULL, *hook = NULL;
    const char *code;
    if (ft_job_check_stored(app, ft_req_json(r), &spec, &warnings, &err, &code) != 0) {
        ft_reply_check_error(r, &err, code);
        goto done;
    }

    char id[64], hash[FT_REQUEST_HASH];
    const char *key;
    if (!ft_route_idempotency(r, &key, hash))
        goto done;
    ft_app_new_id("job", id, sizeof id);
    json_t *obj = ft_job_object(&spec, id, warnings, app->cfg.max_attempts);
    /* The job's own endpoint is inserted with the job, in one transaction. */
    json_t *fields = json_object_get(spec.json, "webhook");
    if (fields && !(hook = ft_route_webhook_row(app, r, fields, "webhook.", id))) {
        json_decref(obj);
        goto done;
    }
    if (hook)
        json_object_set(obj, "webhook", hook);
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
    json_decref(warnings);
    json_decref(existing);
    json_decref(hook);
    ft_job_spec_free(&spec);
}

int ft_route_cancel_job(ft_app *app, const char *id, json_t **job, ft_error *err)
{
    if (ft_store_job_cancel(app->store, id, job, err) != 0)
        return -1;
    ft_app_cancel(app, id);
    ft_app_notify(app);
    if (strcmp(json_string_value(json_object_get(*job, "status")), "cancelled") == 0) {
        /* A queued job (requeued at shutdown) may have a checkpoint: it never
         * resumes now. It has ended, so its sweep may be complete. */
        char ckpt[PATH_MAX];
        ft_app_checkpoint_path(app, id, ckpt, sizeof ckpt);
        unlink(ckpt);
        ft_sweep_job_ended(app, id);
    }
    return 0;
}

void ft_route_job_cancel(ft_app *app, ft_req *r)
{
    const char *id = ft_route_id(r, "job", "job");
    if (!id)
        return;
    ft_error err = {0};
    json_t *job = NULL;
    if (ft_route_cancel_job(app, id, &job, &err) != 0) {
        ft_reply_ft_error(r, &err, 409);
        return;
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
