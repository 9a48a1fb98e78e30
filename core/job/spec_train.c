/* The job spec's training options beyond the optimiser: lr_schedule,
 * class_weight, label_smoothing and grad_clip_norm, and class weights
 * resolved against a dataset's classes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/job/spec.h"
#include "core/job/spec_fields.h"
#include "core/util/names.h"

/* The largest class weight a spec may give. */
#define MAX_CLASS_WEIGHT 1e6

int ft_spec_schedule(const json_t *v, ft_train_config *train, ft_error *err)
{
    static const char *const keys[FT_SCHED_COUNT][8] = {
        [FT_SCHED_CONSTANT] = {"type", NULL},
        [FT_SCHED_STEP] = {"type", "step_size", "gamma", NULL},
        [FT_SCHED_COSINE] = {"type", "warmup_epochs", "min_lr", NULL},
        [FT_SCHED_PLATEAU] = {"type", "metric", "patience", "factor", "threshold", "cooldown", "min_lr", NULL},
    };
    ft_lr_schedule *c = &train->schedule;
    const char *type = json_is_object(v) ? json_string_value(json_object_get(v, "type")) : json_string_value(v);
    if (!type || ft_sched_parse(type, &c->type) != 0) {
        char list[128];
        return ft_fail(err, FT_EINVAL, json_is_object(v) ? "lr_schedule.type" : "lr_schedule",
                       "lr_schedule must be %s, or an object with that type and its keys",
                       ft_names_join(ft_sched_names, FT_SCHED_COUNT, NULL, " or ", list, sizeof list));
    }
    /* torch's defaults (StepLR gamma, ReduceLROnPlateau's patience, factor, threshold) */
    c->gamma = 0.1;
    c->patience = 10;
    c->factor = 0.1;
    c->threshold = 1e-4;
    snprintf(c->metric, sizeof c->metric, "val_loss");
    if (!json_is_object(v)) {
        if (c->type == FT_SCHED_STEP)
            return ft_fail(err, FT_EINVAL, "lr_schedule.step_size", "a step schedule needs step_size");
        return 0;
    }
    if (ft_spec_keys(v, "lr_schedule", keys[c->type], err) != 0)
        return -1;
    const char *p = "lr_schedule";
    long long step = 0, warmup = 0, patience = c->patience, cooldown = 0;
    if (c->type == FT_SCHED_STEP && !json_object_get(v, "step_size"))
        return ft_fail(err, FT_EINVAL, "lr_schedule.step_size", "a step schedule needs step_size");
    if (ft_spec_int(v, p, "step_size", 1, 100000, &step, err) != 0 ||
        ft_spec_num(v, p, "gamma", 1e-9, 1, &c->gamma, err) != 0 ||
        ft_spec_int(v, p, "warmup_epochs", 0, train->epochs - 1, &warmup, err) != 0 ||
        ft_spec_num(v, p, "min_lr", 0, train->optim.lr, &c->min_lr, err) != 0 ||
        ft_spec_int(v, p, "patience", 0, 100000, &patience, err) != 0 ||
        ft_spec_num(v, p, "factor", 1e-9, 0.999999, &c->factor, err) != 0 ||
        ft_spec_num(v, p, "threshold", 0, 0.999999, &c->threshold, err) != 0 ||
        ft_spec_int(v, p, "cooldown", 0, 100000, &cooldown, err) != 0 ||
        ft_spec_metric(v, p, c->metric, sizeof c->metric, err) != 0)
        return -1;
    c->step_size = (int)step;
    c->warmup_epochs = (int)warmup;
    c->patience = (int)patience;
    c->cooldown = (int)cooldown;
    return 0;
}

/* The weight a class_weight entry gives, checked. */
static int weight_value(const json_t *v, const char *key, double *w, ft_error *err)
{
    char p[160];
    ft_spec_path(p, sizeof p, "class_weight", key);
    if (!json_is_number(v) || !(json_number_value(v) > 0 && json_number_value(v) <= MAX_CLASS_WEIGHT))
        return ft_fail(err, FT_EINVAL, p, "%s must be a number above 0 and at most %g", p, MAX_CLASS_WEIGHT);
    *w = json_number_value(v);
    return 0;
}

static int parse_class_weight(const json_t *v, ft_error *err)
{
    if (json_is_string(v) && strcmp(json_string_value(v), "balanced") == 0)
        return 0;
    if (!json_is_object(v))
        return ft_fail(err, FT_EINVAL, "class_weight",
                       "class_weight must be \"balanced\" or an object of weights by class name or index");
    const char *key;
    json_t *w;
    json_object_foreach((json_t *)v, key, w) {
        double ignored;
        if (weight_value(w, key, &ignored, err) != 0)
            return -1;
    }
    return 0;
}

int ft_job_spec_parse_training(const json_t *json, ft_job_spec *s, ft_error *err)
{
    json_t *v;
    if ((v = json_object_get(json, "lr_schedule")) && ft_spec_schedule(v, &s->train, err) != 0)
        return -1;
    if ((v = json_object_get(json, "class_weight")) && !json_is_null(v) && parse_class_weight(v, err) != 0)
        return -1;
    if (ft_spec_num(json, "", "label_smoothing", 0, 0.999999, &s->train.label_smoothing, err) != 0)
        return -1;
    if ((v = json_object_get(json, "grad_clip_norm")) && !json_is_null(v) &&
        ft_spec_num(json, "", "grad_clip_norm", 1e-9, 1e9, &s->train.grad_clip_norm, err) != 0)
        return -1;
    return 0;
}

/* Class c of names[0..k) that key names: a class name first, else an index. */
static int class_of(const char *key, const char *const *names, int k)
{
    for (int c = 0; c < k; c++)
        if (names[c] && strcmp(names[c], key) == 0)
            return c;
    char *end;
    long c = strtol(key, &end, 10);
    return *key >= '0' && *key <= '9' && !*end && c < k ? (int)c : -1;
}

int ft_class_weights(const json_t *cw, const char *const *names, const uint64_t *counts, int k, float *out,
                     ft_error *err)
{
    for (int c = 0; c < k; c++)
        out[c] = 1.0f;
    if (json_is_string(cw)) { /* "balanced": n_samples / (n_classes * count), as scikit-learn */
        uint64_t n = 0;
        for (int c = 0; counts && c < k; c++)
            n += counts[c];
        for (int c = 0; counts && c < k; c++)
            out[c] = counts[c] ? (float)((double)n / ((double)k * (double)counts[c])) : 1.0f;
        return 0;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)cw, key, v) {
        int c = class_of(key, names, k);
        double w = 1;
        if (c < 0) {
            char p[160];
            ft_spec_path(p, sizeof p, "class_weight", key);
            return ft_fail(err, FT_EINVAL, p, "class '%s' is not one of the %d training classes (by name or index)",
                           key, k);
        }
        if (weight_value(v, key, &w, err) != 0)
            return -1;
        out[c] = (float)w;
    }
    return 0;
}
