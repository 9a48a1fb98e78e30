/* Running a job end to end: load and select data, build the model, train,
 * test. The CLI and the service's workers both come through here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/data/image_preproc.h"
#include "core/job/spec.h"

/* Load a reference and apply its selector. */
static ft_dataset *load_ref(const ft_job_env *env, const ft_dataset_ref *ref, const char *param,
                            ft_error *err)
{
    ft_dataset *full = env->load_dataset(env->ctx, ref, err);
    if (!full) {
        if (err && !err->param[0])
            snprintf(err->param, sizeof err->param, "%s", param);
        return NULL;
    }
    if (!ref->has_selector)
        return full;
    ft_dataset *sel = ft_dataset_select(full, &ref->sel, err);
    ft_dataset_free(full);
    if (!sel && err)
        ft_error_prefix(err, "%s", param);
    return sel;
}

static int same_targets(const ft_dataset *a, const ft_dataset *b, const char *what, ft_error *err)
{
    if (ft_dataset_target_kind(a) != ft_dataset_target_kind(b) ||
        ft_dataset_target_dim(a) != ft_dataset_target_dim(b) ||
        !ft_shape_equal(ft_dataset_shape(a), ft_dataset_shape(b)))
        return ft_fail(err, FT_EINVAL, what,
                       "the %s set must have the training set's row shape and %s (%d)", what,
                       ft_dataset_target_kind(a) == FT_TARGET_CLASSES ? "classes" : "targets",
                       ft_dataset_target_dim(a));
    return 0;
}

/* The base model's image preprocessing (an imported network's resize, crop,
 * mean and std): what the job's inputs go through, and what the fine-tuned
 * model keeps for predict. NULL when it has none. */
static const json_t *base_image_preproc(const ft_model *base, ft_image_preproc *ip)
{
    const json_t *j = base ? ft_model_preprocessing(base) : NULL;
    ft_error ignored = {0};
    return j && ft_image_preproc_is_image(j) && ft_image_preproc_from_json(j, ip, &ignored) == 0 ? j : NULL;
}

/* A set of images of another size brought to the model input (spec_plan.c
 * has accepted it: ft_job_resizes_images). */
static int to_model_input(ft_dataset **ds, const ft_model *base, const ft_image_preproc *ip, ft_shape in,
                          ft_error *err)
{
    ft_data_info d = {.shape = ft_dataset_shape(*ds), .xtype = ft_dataset_xtype(*ds)};
    if (!ft_job_resizes_images(base, in, &d))
        return 0;
    ft_dataset *resized = ft_image_preproc_dataset(ip, *ds, in, err);
    if (!resized)
        return -1;
    ft_dataset_free(*ds);
    *ds = resized;
    return 0;
}

/* The job's input scaling: the base model's image mean and std where it has
 * them, else 1/255 for bytes; standardize fits its own on the training set. */
static int job_preproc(const ft_job_spec *s, const json_t *base_pp, const ft_dataset *train, ft_preproc *pp,
                       ft_error *err)
{
    if (base_pp && ft_preproc_from_json(pp, base_pp, ft_shape_size(ft_dataset_shape(train)), err) != 0)
        return -1;
    if (!base_pp)
        ft_preproc_init(pp, train);
    return s->standardize ? ft_preproc_fit_standardize(pp, train, err) : 0;
}

/* Class names and preprocessing into the model: the base's image form when
 * the job used it as it is (predict resizes photos with it), else pp. */
static int set_model_metadata(ft_model *m, const ft_dataset *train, const ft_preproc *pp, const json_t *image_pp,
                              ft_error *err)
{
    int rc = 0;
    if (ft_dataset_target_kind(train) == FT_TARGET_CLASSES) {
        json_t *names = json_array();
        for (int k = 0; k < ft_dataset_target_dim(train); k++)
            json_array_append_new(names, json_string(ft_dataset_class_name(train, k)));
        rc = ft_model_set_classes(m, names, err);
        json_decref(names);
    } else {
        rc = ft_model_set_classes(m, NULL, err);
    }
    json_t *pj = image_pp ? json_incref((json_t *)image_pp) : ft_preproc_to_json(pp);
    if (rc == 0)
        rc = ft_model_set_preprocessing(m, pj, err);
    json_decref(pj);
    return rc;
}

/* The feature store's key for a job: what the frozen-prefix features depend
 * on besides the cut, which the trainer adds. Ids are immutable, so the
 * base model's and the datasets' ids stand for their contents. */
static char *feature_key(const ft_job_spec *s, const ft_preproc *pp, const json_t *image_pp)
{
    json_t *k = json_pack("{s:i, s:s, s:O*, s:O*, s:o}", "version", 1, "base_model", s->base_model,
                          "dataset", json_object_get(s->json, "dataset"), "validation",
                          json_object_get(s->json, "validation"), "preprocessing",
                          image_pp ? json_incref((json_t *)image_pp) : ft_preproc_to_json(pp));
    if (k && s->val_kind == FT_VAL_SPLIT)
        json_object_set_new(k, "split_seed", json_integer((json_int_t)s->train.seed));
    char *key = k ? json_dumps(k, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(k);
    return key;
}

/* Give the trainer the feature store when the job's inputs are ids. */
static int use_feature_store(ft_trainer *tr, const ft_job_spec *s, const ft_job_env *env, const ft_preproc *pp,
                             const json_t *image_pp, ft_error *err)
{
    if (!env->feature_store || !s->base_model)
        return 0;
    char *key = feature_key(s, pp, image_pp);
    int rc = key ? ft_trainer_set_feature_store(tr, env->feature_store, key, err)
                 : ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    free(key);
    return rc;
}

/* The spec's class weights over the training set's classes (malloc'd), and
 * an event that lists them. */
static float *job_class_weights(const ft_job_spec *s, const ft_dataset *train, const ft_job_env *env, ft_error *err)
{
    ft_data_info d;
    if (ft_data_info_from(train, &d, err) != 0)
        return NULL;
    float *w = malloc(sizeof *w * (size_t)(d.target_dim > 0 ? d.target_dim : 1));
    if (!w)
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    if (w && ft_class_weights(s->class_weight, d.class_names, d.class_counts, d.target_dim, w, err) != 0) {
        free(w);
        w = NULL;
    }
    if (w && env->hooks.on_event) {
        json_t *by_class = json_object();
        for (int c = 0; c < d.target_dim; c++)
            json_object_set_new(by_class, d.class_names[c], json_real(w[c]));
        json_t *data = json_pack("{s:s, s:o}", "event", "class_weight", "weights", by_class);
        env->hooks.on_event(env->hooks.ctx, "info", "Class weights of the training loss, by class.", data);
        json_decref(data);
    }
    ft_data_info_free(&d);
    return w;
}

/* What training a job's model reads: the spec, the loaded sets and their
 * preprocessing (image_pp: the base's, kept by the model, or NULL). */
typedef struct {
    ft_job_spec *s;
    const ft_job_env *env;
    const ft_model *base;
    const ft_dataset *train, *val;
    const ft_preproc *pp;
    const json_t *image_pp;
} job_data;

static void job_event(const ft_job_env *env, const char *level, const char *msg, json_t *data)
{
    if (env->hooks.on_event)
        env->hooks.on_event(env->hooks.ctx, level, msg, data);
    json_decref(data);
}

/* Phase k's transfer and training config (the spec's for a job without phases). */
static void phase_config(const ft_job_spec *s, int k, ft_transfer *t, ft_train_config *c)
{
    if (s->nphases) {
        ft_job_phase_config(s, k, t, c);
        return;
    }
    *t = s->transfer;
    *c = s->train;
}

/* Every layer of `to` takes the weights of the layer of the same name in
 * `from`: the next phase's model is the same layers, frozen ones first. */
static int copy_weights(ft_model *to, ft_model *from, ft_error *err)
{
    for (int i = 0; i < ft_model_num_layers(to); i++) {
        ft_layer_info a, b;
        ft_model_layer_info(to, i, &a);
        int j = ft_model_find_layer(from, a.name);
        if (j >= 0)
            ft_model_layer_info(from, j, &b);
        if (j < 0 || b.params != a.params)
            return ft_fail(err, FT_EINVAL, NULL, "the phases' models differ at layer '%s'", a.name);
        memcpy(ft_model_params(to) + a.param_offset, ft_model_params(from) + b.param_offset, sizeof(float) * a.params);
    }
    return 0;
}

/* Whether a phase's frozen layers are as the base model has them, so the
 * feature store (keyed by base model and cut) may serve its prefix: no
 * earlier phase trained a layer this one freezes. */
static bool prefix_untouched(const ft_job_spec *s, const ft_model *base, int k, const ft_model *m)
{
    for (int j = 0; j < k; j++) {
        ft_transfer t;
        ft_train_config c;
        ft_error ignored = {0};
        int kept;
        phase_config(s, j, &t, &c);
        ft_model *lj = ft_model_transfer_layout(base, &t, &kept, &ignored);
        bool below = !lj;
        for (int i = lj ? ft_model_first_trainable(lj) : 0; lj && i < ft_model_num_layers(lj) && !below; i++) {
            ft_layer_info info;
            ft_model_layer_info(lj, i, &info);
            int x = ft_model_find_layer(m, info.name);
            below = info.params && (x < 0 || x < ft_model_first_trainable(m));
        }
        ft_model_free(lj);
        if (below)
            return false;
    }
    return true;
}

/* Tell the user a phase starts: "phase 2 of 2: freeze {...}, 3 epochs, sgd lr 0.0001". */
static void phase_event(const job_data *d, int k, const ft_transfer *t, const ft_train_config *c)
{
    json_t *freeze = !d->base ? json_string("none")
                     : t->freeze == FT_FREEZE_TRAINABLE_LAST ? json_pack("{s:i}", "trainable_last", t->trainable_last)
                     : t->freeze == FT_FREEZE_TRAINABLE_FROM ? json_pack("{s:s}", "trainable_from", t->trainable_from)
                                                             : json_string(ft_freeze_name(t->freeze));
    char *text = freeze ? json_dumps(freeze, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    char msg[512];
    snprintf(msg, sizeof msg, "phase %d of %d: freeze %s, %d epochs, %s lr %g", k + 1, d->s->nphases,
             text ? text : "?", c->epochs, ft_optim_name(c->optim.type), c->optim.lr);
    free(text);
    job_event(d->env, "info", msg,
              json_pack("{s:s, s:i, s:i, s:o*, s:i, s:s, s:f}", "event", "phase", "phase", k + 1, "phases",
                        d->s->nphases, "freeze", freeze, "epochs", c->epochs, "optimizer",
                        ft_optim_name(c->optim.type), "lr", c->optim.lr));
}

/* The phase a checkpoint was written in (0-based; 0 for a job without
 * phases or without a checkpoint note), with the metrics rows and seconds
 * of the phases before it appended to history and added to *seconds. */
static int resumed_phase(const job_data *d, json_t *history, double *seconds)
{
    if (!d->s->nphases)
        return 0;
    ft_error ignored = {0};
    json_t *note = ft_checkpoint_note(d->env->resume_from, &ignored);
    json_t *rows = json_object_get(note, "history");
    json_int_t p = json_integer_value(json_object_get(note, "phase"));
    int k = 0;
    if (p >= 1 && p <= d->s->nphases && json_is_array(rows)) {
        k = (int)p - 1;
        json_array_extend(history, rows);
        *seconds = json_number_value(json_object_get(note, "seconds"));
    }
    json_decref(note);
    return k;
}

/* Phase k's model in place of *m: built from the base with phase k's
 * freeze t (the plan built phase 1's: kept when *m is set), with *m's
 * weights when copy is set. */
static int phase_model(const job_data *d, int k, const ft_transfer *t, bool copy, ft_model **m, ft_error *err)
{
    if (k == 0 && *m)
        return 0;
    int kept;
    ft_model *next = ft_job_build_model(d->s, t, d->base, &kept, err);
    if (!next || (copy && *m && copy_weights(next, *m, err) != 0) ||
        set_model_metadata(next, d->train, d->pp, d->image_pp, err) != 0) {
        ft_model_free(next);
        return -1;
    }
    ft_model_free(*m);
    *m = next;
    return 0;
}

/* Train *m phase by phase (one run for a job without phases), each from the
 * one before's weights, resuming where the env's checkpoint left off. The
 * trained model stays in *m; the metrics of every phase go into out. */
static int train_phases(const job_data *d, ft_model **m, ft_job_result *out, ft_error *err)
{
    const ft_job_spec *s = d->s;
    const char *ckpt = d->env->resume_from;
    int n = s->nphases ? s->nphases : 1, rc = -1;
    bool resume = ckpt && access(ckpt, F_OK) == 0;
    json_t *history = json_array();
    double seconds = 0;
    ft_trainer *tr = NULL;
    if (!history)
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    for (int k = resume ? resumed_phase(d, history, &seconds) : 0; k < n; k++) {
        ft_transfer t, tj;
        ft_train_config c, cj;
        phase_config(s, k, &t, &c);
        c.epoch_offset = c.epochs_total = (int)json_array_size(history);
        for (int j = k; j < n; j++) {
            phase_config(s, j, &tj, &cj);
            c.epochs_total += cj.epochs;
        }
        ft_trainer_free(tr);
        tr = NULL;
        if (phase_model(d, k, &t, !resume, m, err) != 0 || !(tr = ft_trainer_new(*m, d->train, d->val, d->pp, &c, err)))
            goto done;
        if (resume) {
            resume = false;
            ft_error ckerr = {0};
            if (ft_trainer_load_checkpoint(tr, ckpt, &ckerr) != 0) {
                /* A checkpoint that does not fit (another thread count, a damaged
                 * file) costs the progress, not the job: start over, and say so. */
                char msg[700];
                snprintf(msg, sizeof msg, "could not resume from the checkpoint (%s); training starts over", ckerr.msg);
                job_event(d->env, "warning", msg, NULL);
                json_array_clear(history);
                seconds = 0;
                ft_trainer_free(tr);
                tr = NULL;
                phase_config(s, 0, &t, &cj); /* phase 1's model, from the base again */
                ft_model_free(*m);
                *m = NULL;
                if (phase_model(d, 0, &t, false, m, err) != 0)
                    goto done;
                k = -1;
                continue;
            }
        } else if (s->nphases) {
            phase_event(d, k, &t, &c);
        }
        ft_trainer_set_note(tr, json_pack("{s:i, s:o, s:f}", "phase", k + 1, "history", json_deep_copy(history),
                                          "seconds", seconds));
        if ((d->base && prefix_untouched(s, d->base, k, *m) &&
             use_feature_store(tr, s, d->env, d->pp, d->image_pp, err) != 0) ||
            ft_trainer_run(tr, &d->env->hooks, err) != 0)
            goto done;
        for (int e = 0; e < ft_trainer_epochs_done(tr); e++)
            json_array_append_new(history, ft_epoch_metrics_json(&ft_trainer_history(tr)[e]));
        seconds += ft_trainer_seconds(tr);
        out->stopped_early |= ft_trainer_stopped_early(tr);
        out->cached |= ft_trainer_cached(tr);
    }
    out->epochs_done = (int)json_array_size(history);
    out->train_seconds = seconds;
    out->history = history;
    history = NULL;
    rc = 0;
done:
    ft_trainer_free(tr);
    json_decref(history);
    return rc;
}

int ft_job_run(ft_job_spec *s, const ft_job_env *env, ft_job_result *out, ft_error *err)
{
    memset(out, 0, sizeof *out);
    ft_dataset *full = NULL, *train = NULL, *val = NULL, *test = NULL, *whole = NULL;
    ft_model *base = NULL, *m = NULL;
    ft_preproc pp = {0};
    ft_data_info info = {0};
    ft_image_preproc ip;
    float *class_weight = NULL;
    int rc = -1;

    if (!(full = env->load_dataset(env->ctx, &s->dataset, err)))
        goto done;
    if (s->base_model && !(base = env->load_model(env->ctx, s->base_model, err)))
        goto done;
    if (ft_data_info_from(full, &info, err) != 0 || ft_job_plan(s, &info, base, NULL, &m, &out->warnings, err) != 0)
        goto done;
    if (s->dataset.has_selector) {
        if (!(whole = ft_dataset_select(full, &s->dataset.sel, err)))
            goto done;
        ft_dataset_free(full);
        full = NULL;
    } else {
        whole = full;
        full = NULL;
    }
    const json_t *base_pp = base_image_preproc(base, &ip);
    ft_shape in = ft_model_input_shape(m);
    if (base_pp && to_model_input(&whole, base, &ip, in, err) != 0)
        goto done;
    if (s->val_kind == FT_VAL_SPLIT) {
        if (ft_dataset_split(whole, s->val_split, s->train.seed, &train, &val, err) != 0)
            goto done;
    } else {
        train = whole;
        whole = NULL;
        if (s->val_kind == FT_VAL_SET &&
            (!(val = load_ref(env, &s->val, "validation", err)) ||
             (base_pp && to_model_input(&val, base, &ip, in, err) != 0) ||
             same_targets(train, val, "validation", err) != 0))
            goto done;
    }
    if (s->has_test && (!(test = load_ref(env, &s->test, "test", err)) ||
                        (base_pp && to_model_input(&test, base, &ip, in, err) != 0) ||
                        same_targets(train, test, "test", err) != 0))
        goto done;

    /* standardize replaces the base's mean and std: the model then keeps pp. */
    const json_t *kept_pp = s->standardize ? NULL : base_pp;
    if (job_preproc(s, base_pp, train, &pp, err) != 0 || set_model_metadata(m, train, &pp, kept_pp, err) != 0)
        goto done;
    if (s->class_weight && !(class_weight = job_class_weights(s, train, env, err)))
        goto done;
    s->train.class_weight = class_weight;
    job_data d = {s, env, base, train, val, &pp, kept_pp};
    if (train_phases(&d, &m, out, err) != 0)
        goto done;
    /* Final metrics of the returned weights (after restore_best), with the
     * confusion matrix the plots and the job object show. */
    const ft_dataset *sets[2] = {test, val};
    json_t **dest[2] = {&out->test, &out->validation};
    for (int i = 0; i < 2; i++) {
        ft_eval_result r;
        if (!sets[i])
            continue;
        if (ft_evaluate(m, sets[i], &pp, s->train.loss, s->train.huber_delta, FT_EVAL_BATCH,
                        s->train.threads > 1 ? s->train.threads : 1, &r, err) != 0)
            goto done;
        *dest[i] = ft_eval_result_json(&r, sets[i]);
        ft_eval_result_free(&r);
    }
    out->model = m;
    m = NULL;
    rc = 0;
done:
    if (rc != 0) {
        json_decref(out->warnings);
        json_decref(out->history);
        json_decref(out->test);
        json_decref(out->validation);
        memset(out, 0, sizeof *out);
    }
    s->train.class_weight = NULL;
    free(class_weight);
    ft_preproc_free(&pp);
    ft_data_info_free(&info);
    ft_model_free(m);
    ft_model_free(base);
    ft_dataset_free(full);
    ft_dataset_free(whole);
    ft_dataset_free(train);
    ft_dataset_free(val);
    ft_dataset_free(test);
    return rc;
}

void ft_job_result_free(ft_job_result *r)
{
    ft_model_free(r->model);
    json_decref(r->warnings);
    json_decref(r->history);
    json_decref(r->test);
    json_decref(r->validation);
    memset(r, 0, sizeof *r);
}
