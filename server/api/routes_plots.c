/* GET /v1/jobs/{id}/metrics.png and confusion.png. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/plot/plot.h"
#include "core/train/train.h"
#include "server/api/routes.h"

/* "job_ab12... - drop 2, frozen, he_normal" (or the job's name). */
static void chart_title(const json_t *job, char *out, size_t n)
{
    const json_t *spec = json_object_get(job, "spec");
    const char *id = json_string_value(json_object_get(job, "id"));
    const char *name = json_string_value(json_object_get(job, "name"));
    char variant[160];
    if (name) {
        snprintf(variant, sizeof variant, "%s", name);
    } else if (json_is_string(json_object_get(spec, "base_model"))) {
        const json_t *freeze = json_object_get(spec, "freeze");
        const char *cut = json_string_value(json_object_get(spec, "cut_after"));
        char keep[64];
        if (cut)
            snprintf(keep, sizeof keep, "cut after %s", cut);
        else
            snprintf(keep, sizeof keep, "drop %lld", (long long)json_integer_value(json_object_get(spec, "drop_layers")));
        const char *f = json_string_value(freeze);
        char fz[48];
        if (f)
            snprintf(fz, sizeof fz, "%s", strcmp(f, "base") == 0 ? "frozen" : "full fine-tune");
        else
            snprintf(fz, sizeof fz, "last %lld trainable",
                     (long long)json_integer_value(json_object_get(freeze, "trainable_last")));
        const json_t *init = json_object_get(spec, "init");
        const char *iname = json_is_string(init) ? json_string_value(init) : json_string_value(json_object_get(init, "type"));
        snprintf(variant, sizeof variant, "%s, %s, %s", keep, fz, iname ? iname : "?");
    } else {
        snprintf(variant, sizeof variant, "from scratch");
    }
    snprintf(out, n, "%s \xe2\x80\x94 %s", id ? id : "job", variant);
}

static void reply_png(ft_req *r, int rc, unsigned char *png, size_t len, const ft_error *err)
{
    if (rc != 0) {
        ft_reply_ft_error(r, err, 422);
        return;
    }
    ft_reply_bytes(r, 200, "image/png", png, len, true);
}

void ft_route_job_metrics_png(ft_app *app, ft_req *r)
{
    json_t *job = ft_route_job(app, r);
    if (!job)
        return;
    ft_error err = {0};
    json_t *rows = ft_store_job_metrics(app->store, json_string_value(json_object_get(job, "id")), &err);
    char title[256];
    chart_title(job, title, sizeof title);
    json_decref(job);
    if (!rows) {
        ft_reply_ft_error(r, &err, 422);
        return;
    }
    unsigned char *png = NULL;
    size_t len = 0;
    int rc = ft_plot_history_png(title, rows, 900, 500, &png, &len, NULL, &err);
    json_decref(rows);
    reply_png(r, rc, png, len, &err);
}

void ft_route_job_confusion_png(ft_app *app, ft_req *r)
{
    json_t *job = ft_route_job(app, r);
    if (!job)
        return;
    const char *which = "test";
    json_t *cm = json_object_get(json_object_get(job, "test_metrics"), "confusion_matrix");
    if (!cm) {
        which = "validation";
        cm = json_object_get(json_object_get(job, "validation_metrics"), "confusion_matrix");
    }
    json_t *labels = json_object_get(cm, "labels"), *matrix = json_object_get(cm, "matrix");
    size_t k = json_array_size(labels);
    if (k > FT_CONFUSION_MAX_CLASSES) { /* before anything k x k is allocated */
        ft_reply_error(r, 422, "too_many_classes", NULL,
                       "the job has %zu classes; a confusion image is drawn for at most %d. The job's "
                       "confusion_matrix has per_class metrics and top_confusions instead",
                       k, FT_CONFUSION_MAX_CLASSES);
        json_decref(job);
        return;
    }
    if (!cm || k == 0 || json_array_size(matrix) != k) {
        const char *status = json_string_value(json_object_get(job, "status"));
        if (strcmp(status, "succeeded") != 0)
            ft_reply_error(r, 409, "not_ready", NULL, "the confusion matrix exists once the job has succeeded (it is %s)",
                           status);
        else
            ft_reply_error(r, 404, "no_confusion_matrix", NULL,
                           "the job has no confusion matrix: it needs a classification head and a test or validation set");
        json_decref(job);
        return;
    }
    uint64_t *counts = calloc(k * k, sizeof *counts);
    const char **names = calloc(k, sizeof *names);
    for (size_t t = 0; counts && names && t < k; t++) {
        const json_t *label = json_array_get(labels, t);
        names[t] = json_string_value(label);
        for (size_t p = 0; p < k; p++)
            counts[t * k + p] = (uint64_t)json_integer_value(json_array_get(json_array_get(matrix, t), p));
    }
    char title[256], full[300];
    chart_title(job, title, sizeof title);
    snprintf(full, sizeof full, "%s (%s)", title, which);
    unsigned char *png = NULL;
    size_t len = 0;
    ft_error err = {0};
    int rc = counts && names ? ft_plot_confusion_png(full, counts, (int)k, names, &png, &len, &err)
                             : ft_fail(&err, FT_ENOMEM, NULL, "out of memory");
    free(counts);
    free(names);
    json_decref(job);
    reply_png(r, rc, png, len, &err);
}
