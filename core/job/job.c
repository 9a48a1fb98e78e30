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

int ft_job_run(ft_job_spec *s, const ft_job_env *env, ft_job_result *out, ft_error *err)
{
    memset(out, 0, sizeof *out);
    ft_dataset *full = NULL, *train = NULL, *val = NULL, *test = NULL, *whole = NULL;
    ft_model *base = NULL, *m = NULL;
    ft_trainer *tr = NULL;
    ft_preproc pp = {0};
    ft_data_info info = {0};
    ft_image_preproc ip;
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

    if (job_preproc(s, base_pp, train, &pp, err) != 0 ||
        set_model_metadata(m, train, &pp, s->standardize ? NULL : base_pp, err) != 0)
        goto done;
    if (!(tr = ft_trainer_new(m, train, val, &pp, &s->train, err)))
        goto done;
    if (env->resume_from && access(env->resume_from, F_OK) == 0) {
        ft_error ckerr = {0};
        if (ft_trainer_load_checkpoint(tr, env->resume_from, &ckerr) != 0) {
            /* A checkpoint that does not fit (another thread count, a damaged
             * file) costs the progress, not the job: start over, and say so. */
            char msg[700];
            snprintf(msg, sizeof msg, "could not resume from the checkpoint (%s); training starts over", ckerr.msg);
            if (env->hooks.on_event)
                env->hooks.on_event(env->hooks.ctx, "warning", msg, NULL);
            ft_trainer_free(tr);
            ft_model_free(m);
            tr = NULL;
            int kept;
            if (!(m = ft_job_build_model(s, base, &kept, err)) ||
                set_model_metadata(m, train, &pp, s->standardize ? NULL : base_pp, err) != 0 ||
                !(tr = ft_trainer_new(m, train, val, &pp, &s->train, err)))
                goto done;
        }
    }
    if (use_feature_store(tr, s, env, &pp, s->standardize ? NULL : base_pp, err) != 0 || ft_trainer_run(tr, &env->hooks, err) != 0)
        goto done;

    out->history = json_array();
    for (int e = 0; e < ft_trainer_epochs_done(tr); e++)
        json_array_append_new(out->history, ft_epoch_metrics_json(&ft_trainer_history(tr)[e]));
    out->train_seconds = ft_trainer_seconds(tr);
    out->epochs_done = ft_trainer_epochs_done(tr);
    out->stopped_early = ft_trainer_stopped_early(tr);
    out->cached = ft_trainer_cached(tr);
    /* Final metrics of the returned weights (after restore_best), with the
     * confusion matrix the plots and the job object show. */
    const ft_dataset *sets[2] = {test, val};
    json_t **dest[2] = {&out->test, &out->validation};
    for (int i = 0; i < 2; i++) {
        ft_eval_result r;
        if (!sets[i])
            continue;
        if (ft_evaluate(m, sets[i], &pp, s->train.loss, s->train.huber_delta, FT_EVAL_BATCH, &r, err) != 0)
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
    ft_trainer_free(tr);
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
