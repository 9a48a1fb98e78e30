/* Batches, targets, metrics and evaluation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/nn/infer.h"
#include "core/train/batch.h"

double ft_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int units_of(const ft_model *m) { return (int)ft_shape_size(ft_model_output_shape(m)); }

int ft_target_mode_for(const ft_model *m, const ft_dataset *ds, ft_loss_type loss,
                       ft_target_mode *mode, ft_error *err)
{
    int units = units_of(m), k = ft_dataset_target_dim(ds);
    bool classes = ft_dataset_target_kind(ds) == FT_TARGET_CLASSES;
    switch (loss) {
    case FT_LOSS_CROSS_ENTROPY:
        if (!classes)
            return ft_fail(err, FT_EINVAL, "loss",
                           "cross_entropy needs a dataset with class labels; this one has numeric targets");
        if (units != k)
            return ft_fail(err, FT_EINVAL, "head.units",
                           "the output has %d units but the dataset has %d classes", units, k);
        *mode = TARGET_LABELS;
        return 0;
    case FT_LOSS_BINARY_CROSS_ENTROPY:
        if (classes && units == 1 && k == 2)
            *mode = TARGET_BINARY_LABEL;
        else if (classes && units == k)
            *mode = TARGET_ONEHOT;
        else if (!classes && units == k)
            *mode = TARGET_VALUES;
        else
            return ft_fail(err, FT_EINVAL, "head.units",
                           "binary_cross_entropy needs 1 unit for 2 classes or one unit per %s (%d); the output has %d",
                           classes ? "class" : "target", k, units);
        if (*mode == TARGET_VALUES) {
            const float *t = ft_dataset_ctargets(ds);
            for (size_t i = 0; i < ft_dataset_rows(ds) * (size_t)k; i++)
                if (!(t[i] >= 0 && t[i] <= 1))
                    return ft_fail(err, FT_EINVAL, "loss",
                                   "binary_cross_entropy needs targets in [0, 1]; row %zu has %g",
                                   i / (size_t)k, (double)t[i]);
        }
        return 0;
    default:
        if (classes)
            return ft_fail(err, FT_EINVAL, "loss",
                           "%s is a regression loss but the dataset has class labels; use cross_entropy",
                           ft_loss_name(loss));
        if (units != k)
            return ft_fail(err, FT_EINVAL, "head.units",
                           "the output has %d units but the dataset has %d targets per row", units, k);
        *mode = TARGET_VALUES;
        return 0;
    }
}

int ft_train_check(const ft_model *m, const ft_dataset *ds, ft_loss_type loss, ft_error *err)
{
    if (!ft_shape_equal(ft_model_input_shape(m), ft_dataset_shape(ds)))
        return ft_fail(err, FT_EINVAL, "dataset", "the dataset's rows do not have the model's input shape");
    ft_activation out = ft_model_output_activation(m);
    if (!ft_loss_accepts(loss, out))
        return ft_fail(err, FT_EINVAL, "loss", "%s does not fit a %s output (%s)", ft_loss_name(loss),
                       ft_activation_name(out),
                       loss == FT_LOSS_CROSS_ENTROPY ? "cross_entropy needs softmax"
                       : loss == FT_LOSS_BINARY_CROSS_ENTROPY ? "binary_cross_entropy needs sigmoid"
                                                              : "regression losses need a non-softmax output");
    ft_target_mode mode;
    return ft_target_mode_for(m, ds, loss, &mode, err);
}

void ft_load_batch(const ft_batch_source *src, ft_target_mode mode, int units, const uint32_t *idx,
                   int n, float *x, int32_t *labels, float *targets)
{
    if (src->features)
        for (int i = 0; i < n; i++)
            memcpy(x + (size_t)i * src->feat_size, src->features + (size_t)idx[i] * src->feat_size,
                   sizeof(float) * src->feat_size);
    else if (src->augment)
        ft_augment_gather(src->augment, src->aug_seed, src->aug_stream, src->ds, src->pp, idx, (size_t)n, x);
    else
        ft_dataset_gather(src->ds, src->pp, idx, (size_t)n, x);
    const int32_t *lab = ft_dataset_clabels(src->ds);
    const float *tv = ft_dataset_ctargets(src->ds);
    for (int i = 0; i < n; i++) {
        float *t = targets + (size_t)i * (size_t)units;
        switch (mode) {
        case TARGET_LABELS:
            labels[i] = lab[idx[i]];
            break;
        case TARGET_BINARY_LABEL:
            labels[i] = lab[idx[i]];
            t[0] = (float)lab[idx[i]];
            break;
        case TARGET_ONEHOT:
            labels[i] = lab[idx[i]];
            memset(t, 0, sizeof(float) * (size_t)units);
            t[lab[idx[i]]] = 1.0f;
            break;
        case TARGET_VALUES:
            memcpy(t, tv + (size_t)idx[i] * (size_t)units, sizeof(float) * (size_t)units);
            break;
        }
    }
}

static int argmax(const float *v, int n)
{
    int best = 0;
    for (int j = 1; j < n; j++)
        if (v[j] > v[best])
            best = j;
    return best;
}

void ft_metric_add(ft_metric_acc *acc, ft_target_mode mode, int units, const float *out,
                   const int32_t *labels, const float *targets, int n, double batch_loss,
                   uint64_t *confusion, int k)
{
    acc->loss_sum += batch_loss * n;
    acc->rows += (size_t)n;
    for (int i = 0; i < n; i++) {
        const float *o = out + (size_t)i * (size_t)units;
        const float *t = targets + (size_t)i * (size_t)units;
        if (mode == TARGET_VALUES && units > 0 && t) {
            for (int j = 0; j < units; j++) {
                double d = (double)o[j] - t[j];
                acc->abs_sum += fabs(d);
                acc->sq_sum += d * d;
                /* binary_cross_entropy on value targets: element-wise decisions on logits */
                acc->correct += (o[j] > 0) == (t[j] > 0.5f);
            }
            acc->elems += (size_t)units;
            acc->judged += (size_t)units;
            continue;
        }
        int pred = mode == TARGET_BINARY_LABEL ? o[0] > 0 : argmax(o, units);
        acc->correct += pred == labels[i];
        acc->judged++;
        if (confusion && labels[i] < k && pred < k)
            confusion[(size_t)labels[i] * (size_t)k + (size_t)pred]++;
    }
}

void ft_metric_finish(const ft_metric_acc *acc, ft_target_mode mode, double *loss, double *accuracy,
                      double *mae, double *rmse)
{
    *loss = acc->rows ? acc->loss_sum / (double)acc->rows : NAN;
    *accuracy = *mae = *rmse = NAN;
    if (mode != TARGET_VALUES) {
        *accuracy = acc->judged ? (double)acc->correct / (double)acc->judged : NAN;
    } else if (acc->elems) {
        *mae = acc->abs_sum / (double)acc->elems;
        *rmse = sqrt(acc->sq_sum / (double)acc->elems);
    }
}

double ft_macro_recall(const uint64_t *confusion, int k)
{
    double sum = 0;
    int present = 0;
    for (int c = 0; c < k; c++) {
        uint64_t support = 0;
        for (int o = 0; o < k; o++)
            support += confusion[(size_t)c * (size_t)k + (size_t)o];
        if (support)
            sum += (double)confusion[(size_t)c * (size_t)k + (size_t)c] / (double)support, present++;
    }
    return present ? sum / present : NAN;
}

/* The forward ft_eval_range and ft_evaluate run: a workspace on the
 * caller's thread, or a runner splitting each batch over threads. */
typedef struct {
    ft_workspace *ws;
    ft_infer *inf;
} eval_forward;

/* Evaluate rows [begin, end) of src in order through fwd (see ft_eval_range). */
static int eval_rows(ft_model *m, const eval_forward *fwd, const ft_batch_source *src, ft_target_mode mode,
                     ft_loss_type loss, double huber_delta, const ft_batch_buffers *buf, size_t begin, size_t end,
                     ft_metric_acc *acc, uint64_t *confusion, int k)
{
    int units = units_of(m);
    int flags = ft_loss_fused(loss) ? FT_FWD_LOGITS : 0;
    for (size_t start = begin; start < end; start += (size_t)buf->rows) {
        int n = (int)(end - start < (size_t)buf->rows ? end - start : (size_t)buf->rows);
        for (int i = 0; i < n; i++)
            buf->idx[i] = (uint32_t)(start + (size_t)i);
        ft_load_batch(src, mode, units, buf->idx, n, buf->x, buf->labels, buf->targets);
        const float *out = fwd->inf ? ft_infer_run(fwd->inf, m, buf->x, n, flags)
                                    : ft_model_forward(m, fwd->ws, buf->x, n, flags, NULL);
        double l = ft_loss_compute(loss, huber_delta, out, buf->labels, buf->targets, n, units, NULL);
        if (!isfinite(l))
            return -1;
        ft_metric_add(acc, mode, units, out, buf->labels, buf->targets, n, l, confusion, k);
    }
    return 0;
}

int ft_eval_range(ft_model *m, ft_workspace *ws, const ft_batch_source *src, ft_target_mode mode,
                  ft_loss_type loss, double huber_delta, const ft_batch_buffers *buf, size_t begin, size_t end,
                  ft_metric_acc *acc, uint64_t *confusion, int k)
{
    eval_forward fwd = {.ws = ws};
    return eval_rows(m, &fwd, src, mode, loss, huber_delta, buf, begin, end, acc, confusion, k);
}

int ft_batch_buffers_alloc(ft_batch_buffers *b, int rows, size_t in_size, int units)
{
    b->rows = rows;
    b->idx = malloc(sizeof *b->idx * (size_t)rows);
    b->x = malloc(sizeof *b->x * in_size * (size_t)rows);
    b->labels = malloc(sizeof *b->labels * (size_t)rows);
    b->targets = malloc(sizeof *b->targets * (size_t)units * (size_t)rows);
    b->grad = malloc(sizeof *b->grad * (size_t)units * (size_t)rows);
    if (b->idx && b->x && b->labels && b->targets && b->grad)
        return 0;
    ft_batch_buffers_free(b);
    return -1;
}

size_t ft_batch_buffers_bytes(int rows, size_t in_size, int units)
{
    ft_batch_buffers b;
    return (size_t)rows * (sizeof *b.idx + sizeof *b.x * in_size + sizeof *b.labels +
                           2 * sizeof *b.targets * (size_t)units);
}

void ft_batch_buffers_free(ft_batch_buffers *b)
{
    free(b->idx);
    free(b->x);
    free(b->labels);
    free(b->targets);
    free(b->grad);
    memset(b, 0, sizeof *b);
}

int ft_evaluate(ft_model *m, const ft_dataset *ds, const ft_preproc *pp, ft_loss_type loss,
                double huber_delta, int batch, int threads, ft_eval_result *out, ft_error *err)
{
    memset(out, 0, sizeof *out);
    ft_target_mode mode;
    if (batch < 1)
        batch = 256;
    if (ft_train_check(m, ds, loss, err) != 0 || ft_target_mode_for(m, ds, loss, &mode, err) != 0)
        return -1;
    int k = mode == TARGET_VALUES ? 0 : ft_dataset_target_dim(ds);
    ft_batch_buffers buf = {0};
    eval_forward fwd = {.inf = ft_infer_new(m, 0, ft_model_num_layers(m), batch, threads, err)};
    if (!fwd.inf)
        return -1;
    out->confusion = k ? calloc((size_t)k * (size_t)k, sizeof(uint64_t)) : NULL;
    int rc = -1;
    if ((k && !out->confusion) ||
        ft_batch_buffers_alloc(&buf, batch, ft_shape_size(ft_dataset_shape(ds)), units_of(m)) != 0) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        goto done;
    }
    ft_batch_source src = {.ds = ds, .pp = pp};
    ft_metric_acc acc = {0};
    if (eval_rows(m, &fwd, &src, mode, loss, huber_delta, &buf, 0, ft_dataset_rows(ds), &acc, out->confusion, k) !=
        0) {
        ft_fail(err, FT_EINVAL, NULL, "the model produces non-finite outputs on this dataset");
        goto done;
    }
    out->rows = acc.rows;
    out->classes = k;
    ft_metric_finish(&acc, mode, &out->loss, &out->accuracy, &out->mae, &out->rmse);
    rc = 0;
done:
    if (rc != 0)
        ft_eval_result_free(out);
    ft_infer_free(fwd.inf);
    ft_batch_buffers_free(&buf);
    return rc;
}

void ft_eval_result_free(ft_eval_result *r)
{
    free(r->confusion);
    r->confusion = NULL;
}

/* JSON number, or null for NAN. */
static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static uint64_t cell(const ft_eval_result *r, int t, int p)
{
    return r->confusion[(size_t)t * (size_t)r->classes + (size_t)p];
}

static json_t *confusion_full(const ft_eval_result *r)
{
    json_t *matrix = json_array();
    for (int t = 0; t < r->classes; t++) {
        json_t *row = json_array();
        for (int p = 0; p < r->classes; p++)
            json_array_append_new(row, json_integer((json_int_t)cell(r, t, p)));
        json_array_append_new(matrix, row);
    }
    return json_pack("{s:o}", "matrix", matrix);
}

/* Per-class precision, recall, F1 and support, in label order, and their
 * macro averages (*macro: precision, recall, F1) over the classes present
 * in the set (support > 0); a class never predicted has precision 0. */
static json_t *class_metrics(const ft_eval_result *r, const json_t *labels, double macro[3])
{
    int k = r->classes, present = 0;
    json_t *per_class = json_array();
    macro[0] = macro[1] = macro[2] = 0;
    for (int c = 0; c < k; c++) {
        uint64_t predicted = 0, support = 0, hit = cell(r, c, c);
        for (int o = 0; o < k; o++) {
            predicted += cell(r, o, c);
            support += cell(r, c, o);
        }
        double p = predicted ? (double)hit / (double)predicted : support ? 0 : NAN;
        double rec = support ? (double)hit / (double)support : NAN;
        double f1 = p + rec > 0 ? 2 * p * rec / (p + rec) : support ? 0 : NAN;
        json_array_append_new(per_class, json_pack("{s:O, s:o, s:o, s:o, s:I}", "label", json_array_get(labels, (size_t)c),
                                                   "precision", num(p), "recall", num(rec), "f1", num(f1), "support",
                                                   (json_int_t)support));
        if (support) {
            present++;
            macro[0] += p, macro[1] += rec, macro[2] += f1;
        }
    }
    for (int i = 0; i < 3; i++)
        macro[i] = present ? macro[i] / present : NAN;
    return per_class;
}

/* The largest off-diagonal cells: O(k) JSON however many classes there are. */
static json_t *top_confusions(const ft_eval_result *r, const json_t *labels)
{
    int k = r->classes, top[FT_CONFUSION_TOP][2], ntop = 0;
    json_t *confusions = json_array();
    for (int c = 0; c < k; c++) {
        for (int o = 0; o < k; o++) {
            if (o == c || !cell(r, c, o))
                continue;
            /* insertion into the top list, largest first */
            int at = ntop < FT_CONFUSION_TOP ? ntop++ : FT_CONFUSION_TOP;
            for (; at > 0 && cell(r, top[at - 1][0], top[at - 1][1]) < cell(r, c, o); at--)
                if (at < FT_CONFUSION_TOP)
                    memcpy(top[at], top[at - 1], sizeof top[at]);
            if (at < FT_CONFUSION_TOP)
                top[at][0] = c, top[at][1] = o;
        }
    }
    for (int i = 0; i < ntop; i++)
        json_array_append_new(confusions, json_pack("{s:O, s:O, s:I}", "true", json_array_get(labels, (size_t)top[i][0]),
                                                    "predicted", json_array_get(labels, (size_t)top[i][1]), "count",
                                                    (json_int_t)cell(r, top[i][0], top[i][1])));
    return confusions;
}

json_t *ft_eval_result_json(const ft_eval_result *r, const ft_dataset *ds)
{
    json_t *j = json_pack("{s:I, s:o}", "rows", (json_int_t)r->rows, "loss", num(r->loss));
    if (isfinite(r->accuracy))
        json_object_set_new(j, "accuracy", num(r->accuracy));
    if (isfinite(r->mae)) {
        json_object_set_new(j, "mae", num(r->mae));
        json_object_set_new(j, "rmse", num(r->rmse));
    }
    if (!r->confusion)
        return j;
    json_t *labels = json_array();
    for (int t = 0; t < r->classes; t++) {
        const char *name = ds ? ft_dataset_class_name(ds, t) : NULL;
        json_array_append_new(labels, name ? json_string(name) : json_integer(t));
    }
    double macro[3];
    json_t *per_class = class_metrics(r, labels, macro);
    json_object_set_new(j, "macro_precision", num(macro[0]));
    json_object_set_new(j, "macro_recall", num(macro[1]));
    json_object_set_new(j, "macro_f1", num(macro[2]));
    json_object_set_new(j, "per_class", per_class);
    /* above FT_CONFUSION_MAX_CLASSES the per-class rows and the top cells stand for the matrix */
    json_t *cm = r->classes <= FT_CONFUSION_MAX_CLASSES
                     ? confusion_full(r)
                     : json_pack("{s:i, s:O, s:o}", "classes", r->classes, "per_class", per_class, "top_confusions",
                                 top_confusions(r, labels));
    json_object_set_new(cm, "labels", labels);
    json_object_set_new(j, "confusion_matrix", cm);
    return j;
}

/* A CSV field: quoted when it holds a comma, quote or line break. */
static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_label(FILE *f, const ft_dataset *ds, int c)
{
    const char *name = ds ? ft_dataset_class_name(ds, c) : NULL;
    if (name)
        csv_field(f, name);
    else
        fprintf(f, "%d", c);
}

int ft_eval_confusion_csv(const ft_eval_result *r, const ft_dataset *ds, char **out, size_t *len, ft_error *err)
{
    *out = NULL;
    *len = 0;
    if (!r->confusion)
        return ft_fail(err, FT_EINVAL, NULL, "there is no confusion matrix: the model is not a classifier");
    FILE *f = open_memstream(out, len);
    if (!f)
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    fputs("true\\predicted", f);
    for (int p = 0; p < r->classes; p++) {
        fputc(',', f);
        csv_label(f, ds, p);
    }
    fputc('\n', f);
    for (int t = 0; t < r->classes; t++) {
        csv_label(f, ds, t);
        for (int p = 0; p < r->classes; p++)
            fprintf(f, ",%llu", (unsigned long long)cell(r, t, p));
        fputc('\n', f);
    }
    if (fclose(f) != 0) {
        free(*out);
        *out = NULL;
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    }
    return 0;
}

int ft_predict(ft_model *m, const float *x, int n, float *out, int threads, ft_error *err)
{
    const int chunk = FT_PREDICT_CHUNK;
    size_t in = ft_shape_size(ft_model_input_shape(m));
    size_t units = ft_shape_size(ft_model_output_shape(m));
    ft_infer *inf = ft_infer_new(m, 0, ft_model_num_layers(m), n < chunk ? (n > 0 ? n : 1) : chunk, threads, err);
    if (!inf)
        return -1;
    for (int start = 0; start < n; start += chunk) {
        int b = n - start < chunk ? n - start : chunk;
        const float *y = ft_infer_run(inf, m, x + (size_t)start * in, b, 0);
        memcpy(out + (size_t)start * units, y, sizeof(float) * units * (size_t)b);
    }
    ft_infer_free(inf);
    return 0;
}
