/* POST /v1/models/{id}/predict and /evaluate. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/data/image.h"
#include "core/data/image_preproc.h"
#include "core/job/spec.h"
#include "core/train/train.h"
#include "server/api/routes.h"

#define MAX_PREDICT_ROWS 10000
/* Memory one predict request may take: its rows in and out, and the
 * network's activations for the rows run at once. */
#define MAX_PREDICT_BYTES ((size_t)256 << 20)

static ft_model *model_for(ft_app *app, ft_req *r)
{
    const char *id = ft_route_id(r, "mdl", "model");
    if (!id)
        return NULL;
    ft_error err = {0};
    ft_model *m = ft_stored_model_load(app, id, FT_STORED_WEIGHTS, "id", &err);
    if (!m)
        ft_reply_ft_error(r, &err, 422);
    return m;
}

/* The model's recorded preprocessing (or the plain default for its input). */
static int model_preproc(const ft_model *m, ft_preproc *pp, ft_error *err)
{
    const json_t *j = ft_model_preprocessing(m);
    memset(pp, 0, sizeof *pp);
    pp->scale = 1.0f;
    return j ? ft_preproc_from_json(pp, j, ft_shape_size(ft_model_input_shape(m)), err) : 0;
}

/* Flatten nested JSON arrays of numbers into out (at most max values). */
static long flatten(const json_t *v, float *out, size_t max, size_t *n)
{
    if (json_is_number(v)) {
        /* Finite as a double is not enough: the model computes in float. */
        if (*n >= max || !(fabs(json_number_value(v)) <= FLT_MAX))
            return -1;
        out[(*n)++] = (float)json_number_value(v);
        return 0;
    }
    if (!json_is_array(v))
        return -1;
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x)
        if (flatten(x, out, max, n) != 0)
            return -1;
    return 0;
}

/* Refuse (413) n rows whose buffers would pass MAX_PREDICT_BYTES for model m. */
static bool within_budget(ft_req *r, const ft_model *m, size_t n)
{
    size_t floats = n * (ft_shape_size(ft_model_input_shape(m)) + ft_shape_size(ft_model_output_shape(m)));
    floats += ft_workspace_infer_floats(m, 0, ft_model_num_layers(m), (int)(n < FT_PREDICT_CHUNK ? n : FT_PREDICT_CHUNK));
    if (floats <= MAX_PREDICT_BYTES / sizeof(float))
        return true;
    ft_reply_error(r, 413, "predict_too_large", "inputs",
                   "%zu row%s of this model need about %zu MiB, over the %zu MiB one predict request may use; "
                   "send fewer rows per request",
                   n, n == 1 ? "" : "s", floats / (1048576 / sizeof(float)), MAX_PREDICT_BYTES >> 20);
    return false;
}

/* Raw feature rows from {"inputs": [row, ...]} or {"input": row}. */
static float *json_rows(ft_req *r, const ft_model *m, const json_t *body, size_t features, int *nrows)
{
    const json_t *inputs = json_object_get(body, "inputs"), *one = json_object_get(body, "input");
    size_t n = inputs ? json_array_size(inputs) : one ? 1 : 0;
    if (!(inputs ? json_is_array(inputs) : one != NULL) || n == 0 || n > MAX_PREDICT_ROWS) {
        ft_reply_error(r, 422, "invalid_value", "inputs",
                       "send {\"inputs\": [[...], ...]} with 1 to %d rows of %zu numbers each (or a PNG or JPEG image)",
                       MAX_PREDICT_ROWS, features);
        return NULL;
    }
    if (!within_budget(r, m, n))
        return NULL;
    float *x = malloc(sizeof *x * features * n);
    if (!x)
        ft_reply_error(r, 503, "out_of_memory", NULL, "out of memory");
    for (size_t i = 0; x && i < n; i++) {
        size_t got = 0;
        if (flatten(inputs ? json_array_get(inputs, i) : one, x + i * features, features, &got) != 0 ||
            got != features) {
            char param[32];
            snprintf(param, sizeof param, inputs ? "inputs[%zu]" : "input", i);
            ft_reply_error(r, 422, "invalid_value", param, "each row must hold exactly %zu finite numbers", features);
            free(x);
            return NULL;
        }
    }
    *nrows = (int)n;
    return x;
}

/* The model's image preprocessing when it resizes or crops (*has = true):
 * then an image goes through it whole, scale and mean / std included. */
static int image_preproc(const ft_model *m, ft_image_preproc *pp, bool *has, ft_error *err)
{
    const json_t *j = ft_model_preprocessing(m);
    *has = false;
    if (!j || !ft_image_preproc_is_image(j))
        return 0;
    if (ft_image_preproc_from_json(j, pp, err) != 0)
        return -1;
    *has = ft_image_preproc_has_geometry(pp);
    return 0;
}

/* One PNG or JPEG body -> one row in the model's [C, H, W] layout: raw
 * values (resized to the input), or with *normalized set, the model's
 * inputs through its image preprocessing. */
static float *image_row(ft_req *r, const ft_model *m, const unsigned char *body, size_t len, bool *normalized)
{
    ft_shape in = ft_model_input_shape(m);
    if (in.rank != 3 || (in.dim[0] != 1 && in.dim[0] != 3)) {
        ft_reply_error(r, 415, "unsupported_media_type", "Content-Type",
                       "this model takes rows of numbers, not images: send JSON {\"inputs\": [...]}");
        return NULL;
    }
    if (!within_budget(r, m, 1))
        return NULL;
    ft_image im = {0};
    ft_image_preproc pp;
    ft_error err = {0};
    float *x = malloc(sizeof *x * ft_shape_size(in));
    if (image_preproc(m, &pp, normalized, &err) != 0) {
        ft_reply_ft_error(r, &err, 500);
    } else if (!x) {
        ft_reply_error(r, 503, "out_of_memory", NULL, "out of memory");
    } else if (ft_image_decode(body, len, (uint64_t)1 << 26, &im, &err) != 0) {
        ft_reply_error(r, err.code == FT_ENOMEM ? 503 : err.code == FT_ETOOBIG ? 413 : 400,
                       err.code == FT_ENOMEM ? "out_of_memory" : "invalid_image", NULL,
                       "the body is not a usable PNG or JPEG image: %s", err.msg);
    } else {
        ft_resize_geom g = ft_geom_squash(in.dim[1], in.dim[2]);
        if ((*normalized ? ft_image_preproc_apply(&pp, &im, in, x, &err)
                         : ft_image_resample(&im, in.dim[0], &g, x, &err)) == 0) {
            for (size_t i = 0; !*normalized && i < ft_shape_size(in); i++)
                x[i] = (float)(uint8_t)(x[i] + 0.5f); /* the uint8 a stored dataset row holds */
            ft_image_free(&im);
            return x;
        }
        ft_reply_ft_error(r, &err, 422);
    }
    ft_image_free(&im);
    free(x);
    return NULL;
}

static json_t *prediction(const ft_model *m, const float *y, size_t units)
{
    const json_t *classes = ft_model_classes(m);
    ft_activation act = ft_model_output_activation(m);
    bool classify = classes && (act == FT_ACT_SOFTMAX || act == FT_ACT_SIGMOID);
    if (!classify) {
        json_t *values = json_array();
        for (size_t j = 0; j < units; j++)
            json_array_append_new(values, json_real(y[j]));
        return json_pack("{s:o}", "values", values);
    }
    size_t k = json_array_size(classes);
    json_t *probs = json_object();
    size_t best = 0;
    double best_p;
    if (units == 1 && k == 2) { /* one sigmoid unit: P(class 1) */
        double p1 = y[0];
        json_object_set_new(probs, json_string_value(json_array_get(classes, 0)), json_real(1 - p1));
        json_object_set_new(probs, json_string_value(json_array_get(classes, 1)), json_real(p1));
        best = p1 >= 0.5;
        best_p = best ? p1 : 1 - p1;
    } else {
        for (size_t j = 0; j < units && j < k; j++) {
            json_object_set_new(probs, json_string_value(json_array_get(classes, j)), json_real(y[j]));
            if (y[j] > y[best])
                best = j;
        }
        best_p = y[best];
    }
    return json_pack("{s:O, s:I, s:f, s:o}", "class", json_array_get(classes, best), "index", (json_int_t)best,
                     "probability", best_p, "probabilities", probs);
}

void ft_route_model_predict(ft_app *app, ft_req *r)
{
    ft_model *m = model_for(app, r);
    if (!m)
        return;
    size_t len, features = ft_shape_size(ft_model_input_shape(m)), units = ft_shape_size(ft_model_output_shape(m));
    const unsigned char *body = ft_req_raw(r, &len);
    const char *ct = ft_req_header(r, "Content-Type");
    int n = 1;
    bool normalized = false;
    float *x = NULL, *y = NULL;
    ft_preproc pp;
    ft_error err = {0};
    if (ct && (strncasecmp(ct, "image/png", 9) == 0 || strncasecmp(ct, "image/jpeg", 10) == 0)) {
        x = image_row(r, m, body, len, &normalized);
    } else if (!ct || strncasecmp(ct, "application/json", 16) == 0) {
        json_error_t jerr;
        json_t *j = len ? json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
        if (!j)
            ft_reply_error(r, 400, "invalid_json", NULL, "the body is not valid JSON%s%s", len ? ": " : "",
                           len ? jerr.text : "");
        else
            x = json_rows(r, m, j, features, &n);
        json_decref(j);
    } else {
        ft_reply_error(r, 415, "unsupported_media_type", "Content-Type",
                       "send application/json {\"inputs\": [...]} or an image/png or image/jpeg body");
    }
    if (!x)
        goto done;
    if (model_preproc(m, &pp, &err) != 0) {
        ft_reply_ft_error(r, &err, 500);
        goto done;
    }
    /* Raw values -> model inputs, exactly as training batches were made. */
    for (int i = 0; i < n && !normalized; i++)
        for (size_t f = 0; f < features; f++) {
            float *v = &x[(size_t)i * features + f];
            *v *= pp.scale;
            if (pp.features == features)
                *v = (*v - pp.mean[f]) / pp.std[f];
        }
    ft_preproc_free(&pp);
    y = malloc(sizeof *y * units * (size_t)n);
    if (!y || ft_predict(m, x, n, y, app->cfg.blas_threads, &err) != 0) {
        ft_reply_error(r, 503, "out_of_memory", NULL, "out of memory");
        goto done;
    }
    /* Huge inputs can overflow inside the network; a NaN has no JSON form. */
    for (size_t i = 0; i < units * (size_t)n; i++)
        if (!isfinite(y[i])) {
            char param[32];
            snprintf(param, sizeof param, "inputs[%zu]", i / units);
            ft_reply_error(r, 422, "invalid_value", param,
                           "the model's outputs overflow for this row: its values are far outside the range the "
                           "model was trained on");
            goto done;
        }
    json_t *data = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(data, prediction(m, y + (size_t)i * units, units));
    ft_reply_json(r, 200, json_pack("{s:s, s:s, s:o}", "object", "list", "model", ft_req_param(r, "id"), "data", data));
done:
    free(x);
    free(y);
    ft_model_free(m);
}

static ft_loss_type default_loss(const ft_model *m)
{
    ft_activation a = ft_model_output_activation(m);
    return a == FT_ACT_SOFTMAX ? FT_LOSS_CROSS_ENTROPY : a == FT_ACT_SIGMOID ? FT_LOSS_BINARY_CROSS_ENTROPY : FT_LOSS_MSE;
}

/* An evaluation's request: the dataset (an id or a selector) and the loss,
 * checked before anything is loaded. */
typedef struct {
    ft_dataset_ref ref;
    bool has_loss;               /* else the model's output decides */
    ft_loss_type loss;
} eval_request;

/* false after replying 422 (ref freed). */
static bool eval_request_parse(ft_req *r, const json_t *dataset, const json_t *lossj, eval_request *q)
{
    ft_error err = {0};
    memset(q, 0, sizeof *q);
    q->has_loss = lossj != NULL;
    if (lossj && (!json_is_string(lossj) || ft_loss_parse(json_string_value(lossj), &q->loss) != 0)) {
        ft_reply_error(r, 422, "invalid_value", "loss", "loss must be cross_entropy, binary_cross_entropy, mse, mae or huber");
        return false;
    }
    if (ft_dataset_ref_parse(dataset, "dataset", &q->ref, &err) != 0) {
        ft_dataset_ref_free(&q->ref); /* what it parsed before the error */
        ft_reply_ft_error(r, &err, 422);
        return false;
    }
    if (!q->ref.id) {
        ft_reply_error(r, 422, "invalid_value", "dataset", "dataset must be a dataset id (ds_...) or an object with \"id\"");
        ft_dataset_ref_free(&q->ref);
        return false;
    }
    return true;
}

/* Evaluate m as q asks and reply with the metrics as JSON, or with the
 * whole confusion matrix as CSV. `model_id` names the model in the JSON. */
static void evaluate_and_reply(ft_app *app, ft_req *r, ft_model *m, const char *model_id, const eval_request *q,
                               bool csv)
{
    const ft_dataset_ref *ref = &q->ref;
    ft_error err = {0};
    ft_loss_type loss = q->has_loss ? q->loss : default_loss(m);
    ft_dataset *full = NULL, *ds = NULL;
    ft_preproc pp = {0};
    if (!(full = ft_stored_dataset_load(app, ref->id, "dataset", &err))) {
        /* An id in the body is a field of the request, as in POST /v1/jobs:
         * 422 naming it, not 404 (which is for the path's model id). */
        if (err.code == FT_ENOTFOUND) {
            ft_reply_error(r, 422, "unknown_dataset", "dataset", "no dataset with id '%s'", ref->id);
        } else {
            err.code = FT_EIO; /* a stored file that does not load: a server fault, as in model_for */
            ft_reply_ft_error(r, &err, 422);
        }
        goto done;
    }
    if (!(ds = ref->has_selector ? ft_dataset_select(full, &ref->sel, &err) : full)) {
        /* The selector's errors name "classes[0]": the request calls it "dataset.classes[0]". */
        if (err.param[0]) {
            char param[sizeof err.param];
            snprintf(param, sizeof param, "dataset.%.*s", (int)(sizeof param - 9), err.param);
            memcpy(err.param, param, sizeof param);
        }
        ft_error_prefix(&err, "dataset");
        ft_reply_ft_error(r, &err, 422);
        goto done;
    }
    ft_eval_result res;
    if (model_preproc(m, &pp, &err) != 0 ||
        ft_evaluate(m, ds, &pp, loss, 1.0, 256, app->cfg.blas_threads, &res, &err) != 0) {
        /* A model/data mismatch comes back as a training-spec field
         * ("head.units"); this request has only dataset and loss. */
        if (err.code == FT_EINVAL && strcmp(err.param, "loss") != 0)
            snprintf(err.param, sizeof err.param, "dataset");
        ft_reply_ft_error(r, &err, 422);
        goto done;
    }
    if (csv) {
        char *text;
        size_t len;
        if (ft_eval_confusion_csv(&res, ds, &text, &len, &err) != 0)
            ft_reply_ft_error(r, &err, 422);
        else
            ft_reply_bytes(r, 200, "text/csv; charset=utf-8", text, len, true);
        ft_eval_result_free(&res);
        goto done;
    }
    json_t *out = ft_eval_result_json(&res, ds);
    ft_eval_result_free(&res);
    json_object_set_new(out, "object", json_string("evaluation"));
    json_object_set_new(out, "model", json_string(model_id));
    json_object_set_new(out, "dataset", json_string(ref->id));
    json_object_set_new(out, "loss_function", json_string(ft_loss_name(loss)));
    ft_reply_json(r, 200, out);
done:
    ft_preproc_free(&pp);
    if (ds != full)
        ft_dataset_free(ds);
    ft_dataset_free(full);
}

/* ?format=json (the default) or csv; false after replying 400. */
static bool csv_format(ft_req *r, bool *csv)
{
    const char *format = ft_req_query(r, "format");
    *csv = format && strcmp(format, "csv") == 0;
    if (format && !*csv && strcmp(format, "json") != 0) {
        ft_reply_error(r, 400, "invalid_format", "format", "format must be json or csv");
        return false;
    }
    return true;
}

void ft_route_model_evaluate(ft_app *app, ft_req *r)
{
    const json_t *body = ft_req_json(r);
    const char *key;
    json_t *v;
    bool csv;
    if (!csv_format(r, &csv))
        return;
    json_object_foreach((json_t *)body, key, v) {
        if (strcmp(key, "dataset") != 0 && strcmp(key, "loss") != 0) {
            ft_reply_error(r, 422, "unknown_field", key, "unknown field '%s' (expected dataset and loss)", key);
            return;
        }
    }
    if (!json_object_get(body, "dataset")) {
        ft_reply_error(r, 422, "invalid_value", "dataset", "dataset is required");
        return;
    }
    eval_request q;
    if (!eval_request_parse(r, json_object_get(body, "dataset"), json_object_get(body, "loss"), &q))
        return;
    ft_model *m = model_for(app, r);
    if (m)
        evaluate_and_reply(app, r, m, ft_req_param(r, "id"), &q, csv);
    ft_model_free(m);
    ft_dataset_ref_free(&q.ref);
}

/* GET /v1/jobs/{id}/confusion.csv: the job's test confusion matrix in full,
 * whatever the number of classes (the job object keeps at most
 * FT_CONFUSION_MAX_CLASSES; above that, a summary). It is computed again
 * from the job's model and test set, which gives the same counts: the
 * evaluation is deterministic and the model is the one the job tested. */
void ft_route_job_confusion_csv(ft_app *app, ft_req *r)
{
    json_t *job = ft_route_job(app, r);
    if (!job)
        return;
    ft_error err = {0};
    const char *status = json_string_value(json_object_get(job, "status"));
    const char *model_id = json_string_value(json_object_get(job, "result_model"));
    const json_t *test = json_object_get(json_object_get(job, "spec"), "test");
    const json_t *cm = json_object_get(json_object_get(job, "test_metrics"), "confusion_matrix");
    const json_t *test_id = json_is_object(test) ? json_object_get(test, "id") : test;
    json_t *test_row = json_is_string(test_id) ? ft_store_dataset_get(app->store, json_string_value(test_id), &err) : NULL;
    ft_model *m = NULL;
    if (strcmp(status, "succeeded") != 0 || !model_id)
        ft_reply_error(r, 409, "not_ready", NULL, "the confusion matrix exists once the job has succeeded (it is %s)",
                       status);
    else if (!test || json_is_null(test) || !cm)
        ft_reply_error(r, 404, "no_confusion_matrix", NULL,
                       "the job has no test confusion matrix: it needs a classification head and a test set");
    else if (!test_row)
        ft_reply_error(r, 410, "gone", NULL, "the job's test dataset %s was deleted", json_string_value(test_id));
    else if (!(m = ft_stored_model_load(app, model_id, FT_STORED_WEIGHTS, "id", &err)))
        ft_reply_error(r, 410, "gone", NULL, "the job's model %s was deleted", model_id);
    else {
        eval_request q;
        if (eval_request_parse(r, test, NULL, &q)) {
            evaluate_and_reply(app, r, m, model_id, &q, true);
            ft_dataset_ref_free(&q.ref);
        }
    }
    ft_model_free(m);
    json_decref(test_row);
    json_decref(job);
}
