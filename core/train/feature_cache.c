/* The frozen-prefix feature cache: run the frozen layers once over every
 * row (batched, one shard per thread) so each epoch trains only the layers
 * above them, and keep those outputs in the feature store (when the caller
 * gave one) so a later job on the same base, rows, cut and preprocessing
 * skips the frozen layers entirely. With augmentation the training rows
 * are run K times, one augmented view each (augment.views), or, with views
 * 0, the cache is bypassed: the frozen layers run forward only on every
 * batch (a live prefix, train.c) and only the validation rows are cached. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/train/augment.h"
#include "core/train/batch.h"
#include "core/train/feature_store.h"
#include "core/train/trainer.h"

typedef struct {
    ft_trainer *tr;
    const ft_dataset *ds;
    int copies; /* views of every row: ft_augment_cache_copies for the training set, else 1 */
    float *feat;
    int failed;
    const ft_train_hooks *hooks; /* whose should_stop shard 0 asks between its batches */
    atomic_bool stopped;         /* it said stop: every shard ends at its next batch */
} features_job;

/* Whether the run was told to stop (hooks->should_stop, may be NULL). */
static bool told_to_stop(const ft_train_hooks *hooks)
{
    return hooks && hooks->should_stop && hooks->should_stop(hooks->ctx);
}

/* Copies of ds's rows the cache holds. */
static int set_copies(const ft_trainer *tr, const ft_dataset *ds)
{
    return ds == tr->train ? ft_augment_cache_copies(&tr->cfg.augment) : 1;
}

/* Shard s computes rows [s * rows / n, (s + 1) * rows / n) of the prefix,
 * in every view (view v's rows follow view v - 1's). */
static void features_shard(void *ctx, int s)
{
    features_job *j = ctx;
    ft_trainer *tr = j->tr;
    size_t rows = ft_dataset_rows(j->ds), fsize = tr->feat_size;
    size_t begin = rows * (size_t)s / (size_t)tr->nshards, end = rows * (size_t)(s + 1) / (size_t)tr->nshards;
    size_t in = ft_shape_size(ft_dataset_shape(j->ds));
    enum { CHUNK = 64 }; /* small buffers: first touches of fresh pages cost more than the sgemm savings */
    float *x = malloc(sizeof(float) * in * CHUNK);
    uint32_t idx[CHUNK];
    ft_error err = {0};
    ft_workspace *ws = x ? ft_workspace_new_range(tr->m, 0, tr->run_from, CHUNK, &err) : NULL;
    if (!ws) {
        j->failed = 1;
        free(x);
        return;
    }
    const ft_augment *aug = &tr->cfg.augment;
    bool views = j->ds == tr->train && ft_augment_active(aug);
    for (int v = 0; v < j->copies; v++) {
        for (size_t start = begin; start < end && !atomic_load(&j->stopped); start += CHUNK) {
            /* One shard asks, so the hook is never called from two threads at once. */
            if (s == 0 && told_to_stop(j->hooks))
                atomic_store(&j->stopped, true);
            int n = (int)(end - start < CHUNK ? end - start : CHUNK);
            for (int i = 0; i < n; i++)
                idx[i] = (uint32_t)(start + (size_t)i);
            if (views) /* view v's draws: keyed (seed, v, row), whatever the epoch */
                ft_augment_gather(aug, tr->cfg.seed, (uint64_t)v, j->ds, tr->pp, idx, (size_t)n, x);
            else
                ft_dataset_gather(j->ds, tr->pp, idx, (size_t)n, x);
            const float *y = ft_model_forward(tr->m, ws, x, n, 0, NULL);
            memcpy(j->feat + ((size_t)v * rows + start) * fsize, y, sizeof(float) * fsize * (size_t)n);
        }
    }
    free(x);
    ft_workspace_free(ws);
}

/* Floats the cache holds for ds (overflow checked by the plan's limit:
 * ft_cache_decide compared the same product with it). */
static size_t set_floats(const ft_trainer *tr, const ft_dataset *ds)
{
    return tr->feat_size * ft_dataset_rows(ds) * (size_t)set_copies(tr, ds);
}

/* Run the frozen prefix [0, run_from) once over a dataset (each view of
 * it) into a feature array. */
static float *compute_features(ft_trainer *tr, const ft_dataset *ds, const ft_train_hooks *hooks, ft_error *err)
{
    size_t floats = set_floats(tr, ds);
    features_job j = {tr, ds, set_copies(tr, ds), malloc(sizeof(float) * (floats ? floats : 1)), 0, hooks, false};
    if (j.feat)
        ft_pool_run(tr->pool, features_shard, &j);
    if (!j.feat || j.failed || atomic_load(&j.stopped)) {
        free(j.feat);
        if (atomic_load(&j.stopped))
            ft_fail(err, FT_ECANCELLED, NULL, "stopped while running the frozen layers into the feature cache");
        else
            ft_fail(err, FT_ENOMEM, NULL, "out of memory for the feature cache");
        return NULL;
    }
    return j.feat;
}

ft_cache_use ft_cache_decide(const ft_model *m, int lo, size_t rows, size_t limit, int *from, size_t *feat_size)
{
    /* Only a prefix that holds frozen weights does work worth caching. */
    bool frozen_work = false;
    int cut = *from = ft_model_split_below(m, lo);
    for (int i = 0; i < cut; i++) {
        ft_layer_info li;
        ft_model_layer_info(m, i, &li);
        frozen_work |= li.has_params;
    }
    if (!frozen_work || limit == 0)
        return FT_CACHE_OFF;
    ft_layer_info below;
    ft_model_layer_info(m, cut - 1, &below);
    *feat_size = ft_shape_size(below.output);
    if (ft_model_prefix_is_random(m, cut))
        return FT_CACHE_RANDOM;
    return (double)rows * (double)*feat_size * sizeof(float) > (double)limit ? FT_CACHE_TOO_BIG : FT_CACHE_ON;
}

/* The store's key for one set: the caller's key plus what the trainer
 * adds (which set, the cut and the feature size, and for augmented views
 * the augmentation and its seed: never the plain rows' features). */
static char *set_key(const ft_trainer *tr, const ft_dataset *ds, const char *set)
{
    ft_layer_info below;
    ft_model_layer_info(tr->m, tr->run_from - 1, &below);
    char augs[256] = "";
    if (ds == tr->train && ft_augment_active(&tr->cfg.augment)) {
        json_t *aug = ft_augment_json(&tr->cfg.augment);
        char *text = aug ? json_dumps(aug, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(aug);
        if (!text)
            return NULL;
        snprintf(augs, sizeof augs, "\naugment=%.200s\naugment_seed=%" PRIu64, text, tr->cfg.seed);
        free(text);
    }
    size_t len = strlen(tr->store_key) + strlen(below.name) + strlen(augs) + 128;
    char *key = malloc(len);
    if (key)
        snprintf(key, len, "%s\nset=%s\ncut=%d:%s\nfeatures=%zu%s", tr->store_key, set, tr->run_from, below.name,
                 tr->feat_size, augs);
    return key;
}

/* The features of one set from the store, or NULL on a miss. */
static float *stored_features(const ft_trainer *tr, const ft_dataset *ds, const char *set, double *seconds)
{
    size_t floats = set_floats(tr, ds);
    char *key = set_key(tr, ds, set);
    float *feat = key ? malloc(sizeof(float) * (floats ? floats : 1)) : NULL;
    double s = 0;
    if (feat && ft_feature_store_get(tr->store, key, feat, floats, &s) == 1) {
        *seconds += s;
        free(key);
        return feat;
    }
    free(key);
    free(feat);
    return NULL;
}

/* Keep one set's features in the store; 0 when kept. A store that cannot
 * take them (full disk, over its budget) costs the next job time, never
 * this one its result. */
static int store_features(const ft_trainer *tr, const ft_dataset *ds, const char *set, const float *feat,
                          double seconds)
{
    char *key = set_key(tr, ds, set);
    ft_error ignored = {0};
    int rc = key ? ft_feature_store_put(tr->store, key, feat, set_floats(tr, ds), seconds,
                                        &ignored)
                 : -1;
    free(key);
    return rc;
}

/* Both sets (with a live prefix, the validation set) from the store; true
 * on a hit for every set. */
static bool load_from_store(ft_trainer *tr, double *saved)
{
    if (!tr->store)
        return false;
    if (!tr->live_prefix)
        tr->train_feat = stored_features(tr, tr->train, "train", saved);
    if ((tr->live_prefix || tr->train_feat) &&
        (!tr->val || (tr->val_feat = stored_features(tr, tr->val, "val", saved))))
        return true;
    free(tr->train_feat);
    tr->train_feat = NULL;
    return false;
}

/* Compute both sets (with a live prefix, the validation set); then keep
 * them in the store if there is one (*kept). */
static int compute_all(ft_trainer *tr, const ft_train_hooks *hooks, bool *kept, ft_error *err)
{
    double t0 = ft_now();
    if (!tr->live_prefix && !(tr->train_feat = compute_features(tr, tr->train, hooks, err)))
        return -1;
    double t_train = ft_now() - t0;
    if (tr->val && !(tr->val_feat = compute_features(tr, tr->val, hooks, err)))
        return -1;
    double t_val = ft_now() - t0 - t_train;
    *kept = tr->store &&
            (tr->live_prefix || store_features(tr, tr->train, "train", tr->train_feat, t_train) == 0) &&
            (!tr->val || store_features(tr, tr->val, "val", tr->val_feat, t_val) == 0);
    return 0;
}

int ft_trainer_build_cache(ft_trainer *tr, const ft_train_hooks *hooks, ft_error *err)
{
    ft_model *m = tr->m;
    int lo, views = ft_augment_active(&tr->cfg.augment) ? tr->cfg.augment.views : 0;
    size_t copies = (size_t)ft_augment_cache_copies(&tr->cfg.augment);
    size_t rows = ft_dataset_rows(tr->train) * copies + (tr->val ? ft_dataset_rows(tr->val) : 0);
    ft_cache_use use = ft_cache_decide(m, tr->lo, rows, tr->cfg.cache_limit_bytes, &lo, &tr->feat_size);
    tr->run_from = 0;
    if (use == FT_CACHE_OFF)
        return 0;
    double bytes = (double)rows * (double)tr->feat_size * sizeof(float);
    char msg[640];
    ft_layer_info below, first;
    ft_model_layer_info(m, lo - 1, &below);
    ft_model_layer_info(m, lo, &first);
    if (use == FT_CACHE_RANDOM) {
        snprintf(msg, sizeof msg,
                 "Feature cache not used: the frozen layers below '%s' include dropout, so their output is not a fixed function of the input.",
                 first.name);
        ft_train_emit(hooks, "info", msg, NULL);
        return 0;
    }
    if (copies == 0) {
        /* the frozen layers run forward only on every batch; the validation
         * rows, never augmented, are cached when they fit */
        tr->live_prefix = use == FT_CACHE_ON;
        snprintf(msg, sizeof msg,
                 "Feature cache bypassed because of augment: the training images change every epoch, so the frozen layers "
                 "up to '%s' run on every batch%s (augment.views: K would run them once over K augmented views of each image).",
                 below.name, tr->live_prefix && tr->val ? "; the validation rows' outputs are cached" : "");
        ft_train_emit(hooks, "info", msg,
                      json_pack("{s:s, s:s, s:b}", "event", "feature_cache_bypassed", "reason", "augment",
                                "validation_cached", tr->live_prefix && tr->val));
        if (!tr->live_prefix)
            return 0;
    }
    if (use == FT_CACHE_TOO_BIG) {
        snprintf(msg, sizeof msg,
                 "Feature cache not used: it would take %.1f MiB, over the %.1f MiB limit; every epoch runs the frozen layers.",
                 bytes / 1048576.0, (double)tr->cfg.cache_limit_bytes / 1048576.0);
        ft_train_emit(hooks, "info", msg,
                      json_pack("{s:f, s:f}", "bytes", bytes, "limit_bytes", (double)tr->cfg.cache_limit_bytes));
        return 0;
    }
    double t0 = ft_now(), saved = 0;
    tr->run_from = lo; /* the store's key and the prefix run read it */
    /* One build per frozen part: a job with the same key (a sweep's other
     * variants, on another worker or process) waits here, then hits. */
    char *lock_key = tr->store ? set_key(tr, tr->train, "build") : NULL;
    int lock = lock_key ? ft_feature_store_lock(tr->store, lock_key, hooks ? hooks->should_stop : NULL,
                                                hooks ? hooks->ctx : NULL)
                        : -1;
    bool hit = false, kept = false;
    int built;
    if (lock == FT_FEATURE_LOCK_STOPPED)
        built = ft_fail(err, FT_ECANCELLED, NULL, "stopped while waiting for another job's feature cache build");
    else if ((hit = load_from_store(tr, &saved)))
        built = 0;
    else
        built = compute_all(tr, hooks, &kept, err);
    if (lock_key)
        ft_feature_store_unlock(tr->store, lock_key, lock);
    free(lock_key);
    if (built != 0) {
        tr->run_from = 0;
        return -1;
    }
    if (tr->live_prefix) /* said above */
        return 0;
    double seconds = ft_now() - t0;
    char of_views[96] = "";
    if (views)
        snprintf(of_views, sizeof of_views, " (%d augmented views of each training image)", views);
    if (hit)
        snprintf(msg, sizeof msg,
                 "Feature cache hit: the outputs of the frozen layers up to '%s' for %zu rows%s (%.1f MiB) came from an earlier job "
                 "on the same base model, data, cut and preprocessing; the frozen layers did not run, saving about %.3f s.",
                 below.name, rows, of_views, bytes / 1048576.0, saved - seconds > 0 ? saved - seconds : 0);
    else
        snprintf(msg, sizeof msg,
                 "Feature cache: the frozen layers up to '%s' ran once over %zu rows%s (%.1f MiB, %.3f s); "
                 "each epoch now trains only the top %d layers, saving about %.3f s per epoch.%s",
                 below.name, rows, of_views, bytes / 1048576.0, seconds, ft_model_num_layers(m) - lo, seconds,
                 kept ? " The features are kept on disk for later jobs on the same base model, data, cut and preprocessing."
                      : "");
    ft_train_emit(hooks, "info", msg,
                  json_pack("{s:s, s:b, s:b, s:f, s:f, s:f, s:f, s:i, s:i}", "event", "feature_cache", "hit", hit,
                            "stored", hit || kept, "bytes", bytes, "build_seconds", hit ? 0.0 : seconds,
                            "saved_seconds", hit ? (saved - seconds > 0 ? saved - seconds : 0) : 0.0,
                            "saved_seconds_per_epoch", hit ? saved : seconds, "cached_layers", lo, "views", views));
    return 0;
}

int ft_trainer_set_feature_store(ft_trainer *tr, ft_feature_store *fs, const char *key, ft_error *err)
{
    free(tr->store_key);
    tr->store_key = NULL;
    tr->store = NULL;
    if (!fs)
        return 0;
    if (!(tr->store_key = strdup(key)))
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    tr->store = fs;
    return 0;
}
