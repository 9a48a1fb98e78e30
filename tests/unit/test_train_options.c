/* The training options of issue 13 against PyTorch and finite differences:
 * lr_schedule per epoch (tests/fixtures/schedules.json, from
 * torch.optim.lr_scheduler, to 1e-7), grad_clip_norm (clip_grad_norm_),
 * class weights and label smoothing in the losses (losses.json, to 1e-6,
 * and central differences), balanced class weights, and the per-class and
 * macro metrics of an evaluation. */
#include <stdlib.h>
#include <string.h>

#include "core/job/spec.h"
#include "core/nn/optim.h"
#include "tests/unit/fixture_compare.h"
#include "tests/unit/test.h"

static json_t *fixture(const char *file)
{
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/%s", file);
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    CHECKF(j != NULL, "%s: %s", path, jerr.text);
    return j;
}

/* A job spec with this schedule, epochs and lr, parsed as POST /v1/jobs does. */
static int parse_schedule(const json_t *c, ft_job_spec *spec, ft_error *err)
{
    json_t *j = json_pack("{s:s, s:{s:[i], s:[{s:s, s:i, s:s}]}, s:O, s:{s:O}, s:O}", "dataset", "ds_x",
                          "architecture", "input", 4, "layers", "type", "dense", "units", 3, "activation",
                          "softmax", "epochs", json_object_get(c, "epochs"), "optimizer", "lr",
                          json_object_get(c, "lr"), "lr_schedule", json_object_get(c, "schedule"));
    int rc = ft_job_spec_parse(j, spec, err);
    json_decref(j);
    return rc;
}

/* Run one(case, its name) on every entry of a fixture file's array `key`
 * (weighted: only the cases with class weights); returns how many ran. */
static int each(const char *file, const char *key, bool weighted, bool (*one)(const json_t *c, const char *name))
{
    json_t *doc = fixture(file);
    size_t i;
    json_t *c;
    int ran = 0;
    json_array_foreach(json_object_get(doc, key), i, c)
        if (!weighted || json_object_get(c, "class_weight"))
            ran += one(c, json_string_value(json_object_get(c, "name")));
    json_decref(doc);
    return ran;
}

static bool schedule_case(const json_t *c, const char *name)
{
    ft_job_spec spec;
    ft_error err = {0};
    CHECKF(parse_schedule(c, &spec, &err) == 0, "%s: %s: %s", name, err.param, err.msg);
    if (err.code)
        return false;
    const ft_lr_schedule *s = &spec.train.schedule;
    const ft_metric_field *f = ft_epoch_metric_find(s->metric);
    bool higher = s->type == FT_SCHED_PLATEAU && f->higher_better;
    ft_sched_state st;
    ft_sched_start(&st, spec.train.optim.lr, higher);
    const json_t *lrs = json_object_get(c, "lrs"), *values = json_object_get(c, "metric_values");
    for (int e = 0; e < spec.train.epochs; e++) {
        double lr = ft_sched_lr(s, spec.train.optim.lr, spec.train.epochs, &st, e);
        double want = json_number_value(json_array_get(lrs, (size_t)e));
        CHECKF(fabs(lr - want) <= 1e-7 * want, "%s epoch %d: lr %.17g, torch %.17g", name, e, lr, want);
        if (values)
            ft_sched_observe(s, &st, json_number_value(json_array_get(values, (size_t)e)), higher);
    }
    ft_job_spec_free(&spec);
    return true;
}

static void test_schedules_match_torch(void) { CHECK(each("schedules.json", "cases", false, schedule_case) == 7); }

static bool clip_case(const json_t *c, const char *name)
{
    size_t n;
    float *g = fixture_floats(json_object_get(c, "grads"), &n);
    double norm = ft_clip_grad_norm(g, n, json_number_value(json_object_get(c, "max_norm")));
    CHECK_CLOSE(norm, json_number_value(json_object_get(c, "norm")), 1e-6, 0);
    fixture_compare("clipped", name, g, json_object_get(c, "clipped"), 1e-6, 1e-3);
    free(g);
    return true;
}

static void test_clip_matches_torch(void) { CHECK(each("schedules.json", "clips", false, clip_case) == 3); }

/* A weighted case of losses.json: its config, labels and inputs. */
typedef struct {
    ft_loss_config cfg;
    int batch, units;
    float *in, *targets, *weights;
    int32_t labels[16];
} weighted;

static void weighted_load(const json_t *c, weighted *w)
{
    size_t n;
    ft_loss_parse(json_string_value(json_object_get(c, "loss")), &w->cfg.type);
    w->batch = (int)json_integer_value(json_object_get(c, "batch"));
    w->units = (int)json_integer_value(json_object_get(c, "units"));
    w->in = fixture_floats(json_object_get(c, "input"), &n);
    w->targets = w->cfg.type == FT_LOSS_CROSS_ENTROPY ? NULL : fixture_floats(json_object_get(c, "target"), &n);
    w->weights = fixture_floats(json_object_get(c, "class_weight"), &n);
    for (int r = 0; r < w->batch; r++)
        w->labels[r] = (int32_t)json_integer_value(json_array_get(json_object_get(c, "labels"), (size_t)r));
    w->cfg.class_weight = w->weights;
    w->cfg.label_smoothing = json_number_value(json_object_get(c, "label_smoothing"));
}

static void weighted_free(weighted *w) { free(w->in), free(w->targets), free(w->weights); }

static double weighted_loss(weighted *w, float *grad)
{
    return ft_loss_eval(&w->cfg, w->in, w->labels, w->targets, w->batch, w->units,
                        ft_loss_norm(&w->cfg, w->labels, NULL, w->batch), grad);
}

static bool weighted_case(const json_t *c, const char *name)
{
    weighted w = {0};
    weighted_load(c, &w);
    float grad[64];
    CHECK_CLOSE(weighted_loss(&w, grad), json_number_value(json_object_get(c, "loss_value")), 1e-6, 0);
    fixture_compare("grad", name, grad, json_object_get(c, "grad"), 1e-6, 1e-3);
    /* and by central differences of the loss itself */
    for (int k = 0; k < w.batch * w.units; k++) {
        float x = w.in[k], h = 1e-2f;
        w.in[k] = x + h;
        double up = weighted_loss(&w, NULL);
        w.in[k] = x - h;
        double down = weighted_loss(&w, NULL);
        w.in[k] = x;
        CHECKF(fabs((up - down) / (2.0 * h) - grad[k]) <= 1e-4, "%s: d/dz[%d] %.7g by differences, %.7g", name, k,
               (up - down) / (2.0 * h), grad[k]);
    }
    weighted_free(&w);
    return true;
}

static void test_weighted_losses_match_torch(void) { CHECK(each("losses.json", "cases", true, weighted_case) == 5); }

/* Rows split across threads each divide by the whole batch's norm: their
 * losses and gradients add up to the whole batch's. */
static bool split_case(const json_t *c, const char *name)
{
    weighted w = {0};
    weighted_load(c, &w);
    float whole[64], part[64];
    double all = weighted_loss(&w, whole), norm = ft_loss_norm(&w.cfg, w.labels, NULL, w.batch);
    int cut = w.batch / 2;
    size_t at = (size_t)cut * (size_t)w.units;
    double a = ft_loss_eval(&w.cfg, w.in, w.labels, w.targets, cut, w.units, norm, part);
    double b = ft_loss_eval(&w.cfg, w.in + at, w.labels + cut, w.targets ? w.targets + at : NULL, w.batch - cut,
                            w.units, norm, part + at);
    CHECKF(fabs(a + b - all) <= 1e-12 * fabs(all), "%s: %.17g + %.17g != %.17g", name, a, b, all);
    for (int k = 0; k < w.batch * w.units; k++)
        CHECKF(part[k] == whole[k], "%s: grad[%d]", name, k);
    weighted_free(&w);
    return true;
}

static void test_weighted_loss_splits_across_shards(void)
{
    CHECK(each("losses.json", "cases", true, split_case) == 5);
}

static void test_class_weights_from_the_spec(void)
{
    const char *names[] = {"cat", "dog", "7"};
    const uint64_t counts[] = {200, 20, 40};
    float w[3];
    ft_error err = {0};
    json_t *balanced = json_string("balanced");
    CHECK(ft_class_weights(balanced, names, counts, 3, w, &err) == 0);
    /* n_samples / (n_classes * count), as sklearn's compute_class_weight */
    CHECK_CLOSE(w[0], 260.0 / 600, 1e-7, 0);
    CHECK_CLOSE(w[1], 260.0 / 60, 1e-7, 0);
    CHECK_CLOSE(w[2], 260.0 / 120, 1e-7, 0);
    CHECK(ft_class_weights(balanced, names, NULL, 3, w, &err) == 0 && w[0] == 1 && w[1] == 1);
    json_decref(balanced);
    /* by name, then by index; a name wins over an index; the rest stay 1 */
    json_t *map = json_pack("{s:f, s:f}", "dog", 2.5, "7", 4.0);
    CHECK(ft_class_weights(map, names, counts, 3, w, &err) == 0 && w[0] == 1 && w[1] == 2.5f && w[2] == 4);
    json_decref(map);
    map = json_pack("{s:f}", "1", 3.0);
    CHECK(ft_class_weights(map, names, counts, 3, w, &err) == 0 && w[1] == 3 && w[2] == 1);
    json_decref(map);
    const char *bad[][2] = {{"horse", "class_weight.horse"}, {"3", "class_weight.3"}, {"-1", "class_weight.-1"}};
    for (size_t i = 0; i < 3; i++) {
        map = json_pack("{s:f}", bad[i][0], 1.0);
        memset(&err, 0, sizeof err);
        CHECK(ft_class_weights(map, names, counts, 3, w, &err) != 0 && strcmp(err.param, bad[i][1]) == 0 &&
              strstr(err.msg, "is not one of the 3 training classes"));
        json_decref(map);
    }
    map = json_pack("{s:f}", "cat", -2.0);
    CHECK(ft_class_weights(map, names, counts, 3, w, &err) != 0 && strcmp(err.param, "class_weight.cat") == 0);
    json_decref(map);
}

static double field(const json_t *o, const char *key) { return json_number_value(json_object_get(o, key)); }

/* Per-class and macro precision / recall / F1 from a confusion matrix:
 * rows are true classes. Class 2 is never predicted (precision 0), class 3
 * is absent from the set (left out of the macro averages). */
static void test_per_class_and_macro_metrics(void)
{
    uint64_t cm[16] = {8, 2, 0, 0, /* true 0: 8 right, 2 as class 1 */
                       1, 3, 0, 0, /* true 1 */
                       1, 1, 0, 0, /* true 2: never predicted */
                       0, 0, 0, 0}; /* class 3: no rows */
    ft_eval_result r = {.rows = 16, .loss = 0.5, .accuracy = 11.0 / 16, .mae = NAN, .rmse = NAN, .classes = 4,
                        .confusion = cm};
    json_t *j = ft_eval_result_json(&r, NULL), *pc = json_object_get(j, "per_class");
    CHECK(json_array_size(pc) == 4);
    double p[3] = {0.8, 0.5, 0}, rec[3] = {0.8, 0.75, 0};
    for (int c = 0; c < 3; c++) {
        const json_t *row = json_array_get(pc, (size_t)c);
        CHECK(json_integer_value(json_object_get(row, "label")) == c);
        CHECK_CLOSE(field(row, "precision"), p[c], 1e-12, 1e-12);
        CHECK_CLOSE(field(row, "recall"), rec[c], 1e-12, 1e-12);
        CHECK_CLOSE(field(row, "f1"), p[c] + rec[c] > 0 ? 2 * p[c] * rec[c] / (p[c] + rec[c]) : 0, 1e-12, 1e-12);
    }
    CHECK(json_integer_value(json_object_get(json_array_get(pc, 1), "support")) == 4);
    const json_t *absent = json_array_get(pc, 3);
    CHECK(json_is_null(json_object_get(absent, "recall")) && json_is_null(json_object_get(absent, "precision")) &&
          json_integer_value(json_object_get(absent, "support")) == 0);
    CHECK_CLOSE(field(j, "macro_recall"), (0.8 + 0.75 + 0) / 3, 1e-12, 0);
    CHECK_CLOSE(field(j, "macro_precision"), (0.8 + 0.5 + 0) / 3, 1e-12, 0);
    CHECK_CLOSE(field(j, "macro_f1"), (0.8 + 2 * 0.5 * 0.75 / 1.25) / 3, 1e-12, 0);
    CHECK(json_array_size(json_object_get(json_object_get(j, "confusion_matrix"), "matrix")) == 4);
    json_decref(j);
    /* a regression result has none of them */
    ft_eval_result reg = {.rows = 3, .loss = 1, .accuracy = NAN, .mae = 1, .rmse = 1};
    j = ft_eval_result_json(&reg, NULL);
    CHECK(!json_object_get(j, "macro_recall") && !json_object_get(j, "per_class"));
    json_decref(j);
}

int main(void)
{
    RUN(test_schedules_match_torch);
    RUN(test_clip_matches_torch);
    RUN(test_weighted_losses_match_torch);
    RUN(test_weighted_loss_splits_across_shards);
    RUN(test_class_weights_from_the_spec);
    RUN(test_per_class_and_macro_metrics);
    return TEST_SUMMARY();
}
