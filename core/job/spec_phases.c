/* The job spec's "phases": the fine-tuning recipe of the Keras guide (train
 * a new head on a frozen base, then unfreeze the top of the base at a lower
 * rate) as one job. Each phase gives its freeze and epochs, and may give its
 * own optimiser, schedule and early stopping; the rest is the spec's. */
#include <stdio.h>
#include <string.h>

#include "core/job/spec.h"
#include "core/job/spec_fields.h"

/* Put "phases[k]" before an error's field path and message. */
static int in_phase(ft_error *err, int k)
{
    if (!err)
        return -1;
    char p[sizeof err->param];
    snprintf(p, sizeof p, "phases[%d]%s%.100s", k, err->param[0] ? "." : "", err->param);
    memcpy(err->param, p, sizeof p);
    ft_error_prefix(err, "phases[%d]", k);
    return -1;
}

/* One phase object into ph, which starts as the top-level config. */
static int parse_phase(const ft_job_spec *s, const json_t *v, ft_job_phase *ph, ft_error *err)
{
    static const char *const keys[] = {"freeze", "epochs", "optimizer", "lr_schedule", "early_stopping", "augment",
                                       NULL};
    long long epochs = 0;
    json_t *f;
    if (!json_is_object(v))
        return ft_fail(err, FT_EINVAL, "", "a phase must be an object such as {\"freeze\": \"base\", \"epochs\": 5}");
    if (ft_spec_keys(v, "", keys, err) != 0)
        return -1;
    if (!json_object_get(v, "epochs"))
        return ft_fail(err, FT_EINVAL, "epochs", "each phase needs its epochs");
    if (ft_spec_int(v, "", "epochs", 1, 100000, &epochs, err) != 0)
        return -1;
    ph->train.epochs = (int)epochs;
    if ((f = json_object_get(v, "freeze"))) {
        if (!s->base_model)
            return ft_fail(err, FT_EINVAL, "freeze", "freeze applies to fine-tuning a base_model, not to an architecture");
        ft_transfer t = {.freeze = FT_FREEZE_BASE};
        if (ft_spec_freeze(f, &t, err) != 0)
            return -1;
        ph->freeze = t.freeze;
        ph->trainable_last = t.trainable_last;
        ph->trainable_from = t.trainable_from;
    }
    if (((f = json_object_get(v, "optimizer")) && ft_spec_optimizer(f, &ph->train.optim, err) != 0) ||
        ((f = json_object_get(v, "augment")) && ft_spec_augment(f, &ph->train.augment, err) != 0))
        return -1;
    if ((f = json_object_get(v, "early_stopping"))) {
        ph->train.early_stopping = false; /* null turns the spec's off for this phase */
        if (ft_spec_early_stopping(f, &ph->train, err) != 0)
            return -1;
    }
    if ((f = json_object_get(v, "lr_schedule")))
        return ft_spec_schedule(f, &ph->train, err);
    /* the spec's schedule, checked against this phase's epochs and rate */
    const ft_lr_schedule *c = &ph->train.schedule;
    if (c->type == FT_SCHED_COSINE && c->warmup_epochs >= ph->train.epochs)
        return ft_fail(err, FT_EINVAL, "epochs", "the lr_schedule's warmup_epochs (%d) needs more epochs than %d",
                       c->warmup_epochs, ph->train.epochs);
    if (c->min_lr > ph->train.optim.lr)
        return ft_fail(err, FT_EINVAL, "optimizer.lr", "the lr_schedule's min_lr (%g) is above this phase's lr (%g)",
                       c->min_lr, ph->train.optim.lr);
    return 0;
}

int ft_job_spec_parse_phases(ft_job_spec *s, ft_error *err)
{
    json_t *a = json_object_get(s->json, "phases");
    if (!a || json_is_null(a))
        return 0;
    size_t n = json_array_size(a);
    if (!json_is_array(a) || n < 1 || n > FT_MAX_PHASES)
        return ft_fail(err, FT_EINVAL, "phases",
                       "phases must be a list of 1 to %d objects such as {\"freeze\": \"base\", \"epochs\": 5}",
                       FT_MAX_PHASES);
    /* Each phase says these: a top-level value would be ambiguous. */
    for (const char *const *k = (const char *const[]){"epochs", "freeze", NULL}; *k; k++)
        if (json_object_get(s->json, *k))
            return ft_fail(err, FT_EINVAL, *k, "with phases, %s goes inside each phase, not at the top level", *k);
    int total = 0;
    for (size_t k = 0; k < n; k++) {
        ft_job_phase *ph = &s->phases[k];
        memset(ph, 0, sizeof *ph);
        ph->freeze = FT_FREEZE_BASE;
        ph->train = s->train;
        if (parse_phase(s, json_array_get(a, k), ph, err) != 0)
            return in_phase(err, (int)k);
        total += ph->train.epochs;
    }
    s->nphases = (int)n;
    s->train.epochs = total;
    /* the plan checks the model of the first phase */
    s->transfer.freeze = s->phases[0].freeze;
    s->transfer.trainable_last = s->phases[0].trainable_last;
    s->transfer.trainable_from = s->phases[0].trainable_from;
    return 0;
}

void ft_job_phase_config(const ft_job_spec *s, int k, ft_transfer *t, ft_train_config *c)
{
    const ft_job_phase *ph = &s->phases[k];
    const ft_train_config *p = &ph->train;
    *t = s->transfer;
    *c = s->train;
    t->freeze = ph->freeze;
    t->trainable_last = ph->trainable_last;
    t->trainable_from = ph->trainable_from;
    c->epochs = p->epochs;
    c->optim = p->optim;
    c->schedule = p->schedule;
    c->early_stopping = p->early_stopping;
    memcpy(c->es_metric, p->es_metric, sizeof c->es_metric);
    c->es_patience = p->es_patience;
    c->es_min_delta = p->es_min_delta;
    c->es_restore_best = p->es_restore_best;
    c->augment = p->augment;
    c->phase = k + 1;
    /* each phase shuffles in its own order (phase 1 as a job without phases) */
    c->seed = s->train.seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)k);
}

int ft_job_plan_augment(const ft_job_spec *s, ft_shape in, ft_error *err)
{
    if (ft_augment_check(&s->train.augment, in, "augment", err) != 0)
        return -1;
    for (int k = 0; k < s->nphases; k++)
        if (ft_augment_check(&s->phases[k].train.augment, in, "augment", err) != 0)
            return in_phase(err, k);
    return 0;
}

int ft_job_plan_phases(const ft_job_spec *s, const ft_model *base, ft_error *err)
{
    for (int k = 0; k < s->nphases; k++) {
        ft_transfer t;
        ft_train_config c;
        ft_job_phase_config(s, k, &t, &c);
        if (c.early_stopping && strncmp(c.es_metric, "val_", 4) == 0 && s->val_kind == FT_VAL_NONE) {
            ft_fail(err, FT_EINVAL, "early_stopping.metric", "%s needs a validation set (add \"validation\")",
                    c.es_metric);
            return in_phase(err, k);
        }
        if (c.schedule.type == FT_SCHED_PLATEAU && strncmp(c.schedule.metric, "val_", 4) == 0 &&
            s->val_kind == FT_VAL_NONE) {
            ft_fail(err, FT_EINVAL, "lr_schedule.metric", "%s needs a validation set (add \"validation\")",
                    c.schedule.metric);
            return in_phase(err, k);
        }
        if (!base)
            continue;
        int kept;
        ft_model *m = ft_model_transfer_layout(base, &t, &kept, err);
        if (!m)
            return in_phase(err, k);
        ft_model_free(m);
    }
    return 0;
}
