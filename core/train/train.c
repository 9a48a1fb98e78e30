/* The training loop. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn/layer.h"
#include "core/train/batch.h"
#include "core/train/trainer.h"

static int units_of(const ft_model *m) { return (int)ft_shape_size(ft_model_output_shape(m)); }
/* Classes of the validation set's labels: its confusion counts are k*k. */
static size_t val_classes(const ft_trainer *tr) { return (size_t)ft_dataset_target_dim(tr->val); }

bool ft_train_metric_known(const char *name)
{
    const ft_metric_field *f = ft_epoch_metric_find(name);
    return f && f->watchable;
}

static int check_config(const ft_train_config *cfg, const ft_dataset *val, ft_error *err)
{
    if (cfg->batch_size < 1 || cfg->batch_size > 65536)
        return ft_fail(err, FT_EINVAL, "batch_size", "batch_size must be between 1 and 65536");
    if (cfg->epochs < 1 || cfg->epochs > 100000)
        return ft_fail(err, FT_EINVAL, "epochs", "epochs must be between 1 and 100000");
    if (cfg->early_stopping) {
        if (!ft_train_metric_known(cfg->es_metric))
            return ft_fail(err, FT_EINVAL, "early_stopping.metric",
                           "unknown metric '%s' (train_/val_ + loss, accuracy, mae, rmse; val_macro_recall)", cfg->es_metric);
        if (strncmp(cfg->es_metric, "val_", 4) == 0 && !val)
            return ft_fail(err, FT_EINVAL, "early_stopping.metric",
                           "%s needs a validation set (add \"validation\")", cfg->es_metric);
        if (cfg->es_patience < 1)
            return ft_fail(err, FT_EINVAL, "early_stopping.patience", "patience must be at least 1");
    }
    if (cfg->schedule.type == FT_SCHED_PLATEAU) {
        if (!ft_train_metric_known(cfg->schedule.metric))
            return ft_fail(err, FT_EINVAL, "lr_schedule.metric", "unknown metric '%s'", cfg->schedule.metric);
        if (strncmp(cfg->schedule.metric, "val_", 4) == 0 && !val)
            return ft_fail(err, FT_EINVAL, "lr_schedule.metric", "%s needs a validation set (add \"validation\")",
                           cfg->schedule.metric);
    }
    if (cfg->schedule.type == FT_SCHED_COSINE && cfg->schedule.warmup_epochs >= cfg->epochs)
        return ft_fail(err, FT_EINVAL, "lr_schedule.warmup_epochs", "warmup_epochs must be fewer than the epochs (%d)",
                       cfg->epochs);
    if (cfg->schedule.type == FT_SCHED_STEP && cfg->schedule.step_size < 1)
        return ft_fail(err, FT_EINVAL, "lr_schedule.step_size", "step_size must be at least 1");
    if (!(cfg->label_smoothing >= 0 && cfg->label_smoothing < 1))
        return ft_fail(err, FT_EINVAL, "label_smoothing", "label_smoothing must be in [0, 1)");
    if (cfg->label_smoothing > 0 && cfg->loss != FT_LOSS_CROSS_ENTROPY)
        return ft_fail(err, FT_EINVAL, "label_smoothing", "label_smoothing applies to cross_entropy only");
    if (!(cfg->grad_clip_norm >= 0))
        return ft_fail(err, FT_EINVAL, "grad_clip_norm", "grad_clip_norm must be positive (or 0 for none)");
    return 0;
}

int ft_lowest_trained(const ft_model *m)
{
    int n = ft_model_num_layers(m);
    for (int i = ft_model_first_trainable(m); i < n; i++) {
        ft_layer_info info;
        ft_model_layer_info(m, i, &info);
        if (info.has_params)
            return i;
    }
    return n;
}

void ft_trainer_free(ft_trainer *tr)
{
    if (!tr)
        return;
    for (int s = 0; tr->shards && s < tr->nshards; s++) {
        ft_workspace_free(tr->shards[s].ws);
        ft_workspace_free(tr->shards[s].prefix_ws);
        free(tr->shards[s].raw);
        ft_batch_buffers_free(&tr->shards[s].buf);
        if (s > 0)
            free(tr->shards[s].grads);
        free(tr->shards[s].val_confusion);
    }
    free(tr->shards);
    ft_pool_free(tr->pool);
    ft_optim_free(tr->opt);
    free(tr->order);
    free(tr->train_feat);
    free(tr->val_feat);
    free(tr->store_key);
    free(tr->best_params);
    free(tr->history);
    json_decref(tr->note);
    free(tr);
}

ft_trainer *ft_trainer_new(ft_model *m, const ft_dataset *train, const ft_dataset *val,
                           const ft_preproc *pp, const ft_train_config *cfg, ft_error *err)
{
    if (check_config(cfg, val, err) != 0 || ft_train_check(m, train, cfg->loss, err) != 0 ||
        ft_augment_check(&cfg->augment, ft_dataset_shape(train), "augment", err) != 0 ||
        (val && ft_train_check(m, val, cfg->loss, err) != 0) ||
        ft_model_check_trainable(m, ft_model_first_trainable(m), err) != 0)
        return NULL;
    if (ft_dataset_rows(train) == 0) {
        ft_fail(err, FT_EINVAL, "dataset", "the training set is empty");
        return NULL;
    }
    ft_trainer *tr = calloc(1, sizeof *tr);
    if (!tr) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    tr->m = m;
    tr->train = train;
    tr->val = val;
    tr->pp = pp;
    tr->cfg = *cfg;
    tr->units = units_of(m);
    tr->loss = (ft_loss_config){cfg->loss, cfg->huber_delta, cfg->class_weight, cfg->label_smoothing};
    ft_target_mode_for(m, train, cfg->loss, &tr->mode, err);
    if (cfg->class_weight && tr->mode == TARGET_VALUES) {
        ft_fail(err, FT_EINVAL, "class_weight", "class_weight needs a dataset with class labels");
        goto fail;
    }
    tr->lo = ft_lowest_trained(m);
    if (tr->lo == ft_model_num_layers(m)) {
        ft_fail(err, FT_EINVAL, "freeze", "nothing to train: every layer with parameters is frozen");
        goto fail;
    }
    tr->toff = ft_model_trainable_offset(m);
    tr->tcount = ft_model_num_params(m) - tr->toff;
    tr->opt = ft_optim_new(&cfg->optim, tr->tcount, err);
    size_t rows = ft_dataset_rows(train);
    tr->order = malloc(sizeof *tr->order * rows);
    tr->history = calloc((size_t)cfg->epochs, sizeof *tr->history);
    tr->nshards = cfg->threads > 1 ? cfg->threads : 1;
    tr->shards = calloc((size_t)tr->nshards, sizeof *tr->shards);
    if (!tr->opt || !tr->order || !tr->history || !tr->shards)
        goto oom;
    if (!(tr->pool = ft_pool_new(tr->nshards, err)))
        goto fail;
    for (int sh = 0; val && tr->mode != TARGET_VALUES && sh < tr->nshards; sh++)
        if (!(tr->shards[sh].val_confusion = malloc(sizeof(uint64_t) * val_classes(tr) * val_classes(tr))))
            goto oom;
    if (cfg->early_stopping && cfg->es_restore_best &&
        !(tr->best_params = malloc(sizeof(float) * (tr->tcount ? tr->tcount : 1))))
        goto oom;
    ft_rng_seed(&tr->shuffle_rng, cfg->seed);
    for (int sh = 0; sh < tr->nshards; sh++)
        ft_rng_seed(&tr->shards[sh].dropout_rng, (cfg->seed ^ 0x5eed0d120u) + 0x9e3779b97f4a7c15ULL * (uint64_t)sh);
    tr->epoch_rng = tr->shuffle_rng;
    tr->es_field = cfg->early_stopping ? ft_epoch_metric_find(cfg->es_metric) : NULL;
    tr->best = tr->es_field && tr->es_field->higher_better ? -INFINITY : INFINITY;
    tr->sched_field = cfg->schedule.type == FT_SCHED_PLATEAU ? ft_epoch_metric_find(cfg->schedule.metric) : NULL;
    ft_sched_start(&tr->sched, cfg->optim.lr, tr->sched_field && tr->sched_field->higher_better);
    return tr;
oom:
    if (!err || err->code == FT_OK)
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
fail:
    ft_trainer_free(tr);
    return NULL;
}

/* Decide on the frozen-prefix cache, build it, and size the workspace. */
static int prepare(ft_trainer *tr, const ft_train_hooks *hooks, ft_error *err)
{
    ft_model *m = tr->m;
    if (ft_trainer_build_cache(tr, hooks, err) != 0)
        return -1;
    size_t in = tr->run_from ? tr->feat_size : ft_shape_size(ft_model_input_shape(m));
    int shard_rows = (tr->cfg.batch_size + tr->nshards - 1) / tr->nshards;
    for (int s = 0; s < tr->nshards; s++) {
        ft_shard *sh = &tr->shards[s];
        if (!(sh->ws = ft_workspace_new(m, tr->run_from, shard_rows, err)))
            return -1;
        if (tr->live_prefix &&
            (!(sh->prefix_ws = ft_workspace_new_range(m, 0, tr->run_from, shard_rows, err)) ||
             !(sh->raw = malloc(sizeof(float) * ft_shape_size(ft_model_input_shape(m)) * (size_t)shard_rows))))
            return err && err->code ? -1 : ft_fail(err, FT_ENOMEM, NULL, "out of memory for batch buffers");
        if (ft_batch_buffers_alloc(&sh->buf, shard_rows, in, tr->units) != 0 ||
            (s > 0 && !(sh->grads = calloc(ft_model_num_params(m) ? ft_model_num_params(m) : 1, sizeof(float)))))
            return ft_fail(err, FT_ENOMEM, NULL, "out of memory for batch buffers");
        ft_workspace_set_grads(sh->ws, s > 0 ? sh->grads : NULL);
    }
    tr->prepared = true;
    return 0;
}

static ft_batch_source source_for(const ft_trainer *tr, const ft_dataset *ds, const float *feat)
{
    return (ft_batch_source){.ds = ds, .pp = tr->pp, .features = feat, .feat_size = tr->feat_size};
}

/* The training rows of the current epoch (0-based across phases, e):
 * its view (e mod K) of the cached features, or the raw rows augmented
 * with e's draws when augmentation bypasses the cache. */
static ft_batch_source train_source(const ft_trainer *tr)
{
    ft_batch_source src = source_for(tr, tr->train, tr->train_feat);
    uint64_t epoch = (uint64_t)tr->cfg.epoch_offset + (uint64_t)tr->epochs_done;
    if (tr->train_feat) {
        uint64_t view = epoch % (uint64_t)ft_augment_cache_copies(&tr->cfg.augment);
        src.features += view * ft_dataset_rows(tr->train) * tr->feat_size;
    } else if (ft_augment_active(&tr->cfg.augment)) {
        src.augment = &tr->cfg.augment;
        src.aug_seed = tr->cfg.seed;
        src.aug_stream = epoch;
    }
    return src;
}

/* The permutation of an epoch is a function of the RNG state at its start. */
static void make_order(ft_trainer *tr)
{
    size_t rows = ft_dataset_rows(tr->train);
    for (size_t i = 0; i < rows; i++)
        tr->order[i] = (uint32_t)i;
    tr->shuffle_rng = tr->epoch_rng;
    ft_rng_shuffle(&tr->shuffle_rng, tr->order, rows);
}

/* Forward and backward of one shard's rows of the current batch. */
static void shard_step(void *ctx, int s)
{
    ft_trainer *tr = ctx;
    ft_shard *sh = &tr->shards[s];
    ft_batch_buffers *b = &sh->buf;
    memset(&sh->acc, 0, sizeof sh->acc);
    if (sh->n == 0)
        return;
    ft_batch_source src = train_source(tr);
    int flags = FT_FWD_TRAIN | (ft_loss_fused(tr->cfg.loss) ? FT_FWD_LOGITS : 0);
    /* a live prefix turns the augmented rows into the trained layers' input */
    ft_load_batch(&src, tr->mode, tr->units, tr->order + sh->start, sh->n, tr->live_prefix ? sh->raw : b->x,
                  b->labels, b->targets);
    const float *x = tr->live_prefix ? ft_model_forward(tr->m, sh->prefix_ws, sh->raw, sh->n, 0, NULL) : b->x;
    const float *out = ft_model_forward(tr->m, sh->ws, x, sh->n, flags, &sh->dropout_rng);
    /* Divided by the whole batch's norm, the shards' losses and gradients add up to the batch's. */
    sh->loss = ft_loss_eval(&tr->loss, out, b->labels, b->targets, sh->n, tr->units, tr->batch_norm, b->grad);
    if (!isfinite(sh->loss))
        return;
    /* train_step adds the batch's loss to the epoch's sums */
    ft_metric_add(&sh->acc, tr->mode, tr->units, out, b->labels, b->targets, sh->n, 0, NULL, 0);
    ft_model_backward(tr->m, sh->ws, b->grad, NULL);
}

static void merge_acc(ft_metric_acc *into, const ft_metric_acc *a)
{
    into->loss_sum += a->loss_sum;
    into->rows += a->rows;
    into->correct += a->correct;
    into->judged += a->judged;
    into->abs_sum += a->abs_sum;
    into->sq_sum += a->sq_sum;
    into->elems += a->elems;
}

/* One optimisation step on rows order[start..start+n), split across the
 * shards. Returns the batch loss (non-finite if training diverged). */
static double train_step(ft_trainer *tr, size_t start, int n)
{
    tr->batch_norm = ft_loss_norm(&tr->loss, ft_dataset_clabels(tr->train), tr->order + start, n);
    int per = (n + tr->nshards - 1) / tr->nshards;
    for (int s = 0; s < tr->nshards; s++) {
        ft_shard *sh = &tr->shards[s];
        int from = s * per < n ? s * per : n;
        sh->start = start + (size_t)from;
        sh->n = n - from < per ? n - from : per;
    }
    ft_pool_run(tr->pool, shard_step, tr);
    double loss = 0;
    float *g = ft_model_grads(tr->m) + tr->toff;
    for (int s = 0; s < tr->nshards; s++) {
        const ft_shard *sh = &tr->shards[s];
        if (sh->n == 0)
            continue;
        if (!isfinite(sh->loss))
            return sh->loss;
        loss += sh->loss;
        merge_acc(&tr->acc, &sh->acc);
        if (s > 0) /* sum the shards' gradients, in shard order */
            ft_vec_add(g, sh->grads + tr->toff, tr->tcount);
    }
    tr->acc.loss_sum += loss * n;
    if (tr->cfg.grad_clip_norm > 0)
        ft_clip_grad_norm(g, tr->tcount, tr->cfg.grad_clip_norm);
    ft_optim_step(tr->opt, ft_model_params(tr->m) + tr->toff, g);
    return loss;
}

typedef struct {
    ft_trainer *tr;
    const ft_batch_source *src;
    int failed;
} eval_job;

/* Shard s evaluates a contiguous slice of the rows. */
static void eval_shard(void *ctx, int s)
{
    eval_job *j = ctx;
    ft_trainer *tr = j->tr;
    ft_shard *sh = &tr->shards[s];
    size_t rows = ft_dataset_rows(j->src->ds);
    size_t begin = rows * (size_t)s / (size_t)tr->nshards, end = rows * (size_t)(s + 1) / (size_t)tr->nshards;
    memset(&sh->acc, 0, sizeof sh->acc);
    size_t k = sh->val_confusion ? val_classes(tr) : 0;
    if (k)
        memset(sh->val_confusion, 0, sizeof(uint64_t) * k * k);
    if (ft_eval_range(tr->m, sh->ws, j->src, tr->mode, tr->cfg.loss, tr->cfg.huber_delta, &sh->buf, begin, end,
                      &sh->acc, sh->val_confusion, (int)k) != 0)
        j->failed = 1;
}

static int validate_epoch(ft_trainer *tr, ft_epoch_metrics *e, ft_error *err)
{
    e->val_loss = e->val_accuracy = e->val_mae = e->val_rmse = e->val_macro_recall = NAN;
    if (!tr->val)
        return 0;
    ft_batch_source src = source_for(tr, tr->val, tr->val_feat);
    eval_job j = {tr, &src, 0};
    ft_pool_run(tr->pool, eval_shard, &j);
    ft_metric_acc acc = {0};
    for (int s = 0; s < tr->nshards; s++)
        merge_acc(&acc, &tr->shards[s].acc);
    if (j.failed)
        return ft_fail(err, FT_EINVAL, "optimizer.lr",
                       "validation loss is not finite at epoch %d: training diverged; try a lower learning rate",
                       e->epoch);
    ft_metric_finish(&acc, tr->mode, &e->val_loss, &e->val_accuracy, &e->val_mae, &e->val_rmse);
    uint64_t *sum = tr->shards[0].val_confusion;
    size_t k = sum ? val_classes(tr) : 0;
    for (int s = 1; k && s < tr->nshards; s++)
        for (size_t i = 0; i < k * k; i++)
            sum[i] += tr->shards[s].val_confusion[i];
    if (k)
        e->val_macro_recall = ft_macro_recall(sum, (int)k);
    return 0;
}

/* Update early-stopping state after an epoch; true when training should stop. */
static bool early_stop_update(ft_trainer *tr, const ft_epoch_metrics *e, const ft_train_hooks *hooks)
{
    if (!tr->cfg.early_stopping)
        return false;
    double v = ft_epoch_metric_get(e, tr->es_field), d = tr->cfg.es_min_delta;
    bool better = tr->es_field->higher_better ? v > tr->best + d : v < tr->best - d;
    if (better) {
        tr->best = v;
        tr->best_epoch = e->epoch;
        tr->bad_epochs = 0;
        if (tr->best_params)
            memcpy(tr->best_params, ft_model_params(tr->m) + tr->toff, sizeof(float) * tr->tcount);
        return false;
    }
    if (++tr->bad_epochs < tr->cfg.es_patience)
        return false;
    char msg[256];
    snprintf(msg, sizeof msg, "Early stopping after epoch %d: %s has not improved for %d epochs (best %.6g at epoch %d).",
             e->epoch, tr->cfg.es_metric, tr->cfg.es_patience, tr->best, tr->best_epoch);
    ft_train_emit(hooks, "info", msg, json_pack("{s:s, s:i, s:f}", "event", "early_stopping", "best_epoch",
                                       tr->best_epoch, "best", tr->best));
    return true;
}

/* Show reduce_on_plateau the epoch's metric; tell the user of a reduction. */
static void schedule_update(ft_trainer *tr, const ft_epoch_metrics *e, const ft_train_hooks *hooks)
{
    if (!tr->sched_field)
        return;
    double before = tr->sched.lr;
    if (!ft_sched_observe(&tr->cfg.schedule, &tr->sched, ft_epoch_metric_get(e, tr->sched_field),
                          tr->sched_field->higher_better))
        return;
    char msg[256];
    snprintf(msg, sizeof msg, "Learning rate reduced from %.6g to %.6g after epoch %d: %s has not improved for %d epochs.",
             before, tr->sched.lr, e->epoch, tr->sched_field->name, tr->cfg.schedule.patience + 1);
    ft_train_emit(hooks, "info", msg, json_pack("{s:s, s:i, s:f}", "event", "lr_reduced", "epoch", e->epoch, "lr",
                                                 tr->sched.lr));
}

int ft_trainer_run(ft_trainer *tr, const ft_train_hooks *hooks, ft_error *err)
{
    double run_start = ft_now();
    int rc = 0;
    if (!tr->prepared && prepare(tr, hooks, err) != 0)
        return -1;
    size_t rows = ft_dataset_rows(tr->train), B = (size_t)tr->cfg.batch_size;
    long steps = (long)((rows + B - 1) / B);
    int offset = tr->cfg.epoch_offset, total = ft_trainer_epochs_total(tr);
    while (tr->epochs_done < tr->cfg.epochs && !tr->stopped_early) {
        int epoch = tr->epochs_done + 1; /* within this run; offset + epoch in metrics */
        if (tr->step == 0) {
            tr->epoch_rng = tr->shuffle_rng;
            memset(&tr->acc, 0, sizeof tr->acc);
            tr->epoch_seconds = 0;
        }
        if (!tr->order_ready) {
            make_order(tr);
            tr->order_ready = true;
        }
        /* A function of the epoch (and, for reduce_on_plateau, of the
         * checkpointed state), so a resumed epoch trains at the same rate. */
        double lr = ft_sched_lr(&tr->cfg.schedule, tr->cfg.optim.lr, tr->cfg.epochs, &tr->sched, epoch - 1);
        ft_optim_set_lr(tr->opt, lr);
        double t_start = ft_now() - tr->epoch_seconds;
        while (tr->step < steps) {
            size_t start = (size_t)tr->step * B;
            int n = (int)(rows - start < B ? rows - start : B);
            double loss = train_step(tr, start, n);
            if (!isfinite(loss)) {
                rc = ft_fail(err, FT_EINVAL, "optimizer.lr",
                             "the loss became %s at epoch %d, step %ld: training diverged; try a lower learning rate",
                             isnan(loss) ? "NaN" : "infinite", epoch, tr->step + 1);
                goto out;
            }
            tr->step++;
            tr->epoch_seconds = ft_now() - t_start;
            if (hooks && hooks->on_step) {
                double rate = (double)tr->acc.rows / (tr->epoch_seconds > 0 ? tr->epoch_seconds : 1e-9);
                double left = (double)(steps - tr->step) * (double)B +
                              (double)(total - offset - epoch) * (double)rows;
                ft_progress p = {offset + epoch, total, tr->step, steps, rate, left / rate};
                if (hooks->on_step(hooks->ctx, tr, &p) != 0) {
                    rc = ft_fail(err, FT_ECANCELLED, NULL, "cancelled");
                    goto out;
                }
            }
        }
        ft_epoch_metrics *e = &tr->history[tr->epochs_done];
        memset(e, 0, sizeof *e);
        e->epoch = offset + epoch;
        e->phase = tr->cfg.phase;
        e->lr = lr;
        double train_time = ft_now() - t_start;
        e->samples_per_second = (double)rows / (train_time > 0 ? train_time : 1e-9);
        ft_metric_finish(&tr->acc, tr->mode, &e->train_loss, &e->train_accuracy, &e->train_mae,
                         &e->train_rmse);
        if (validate_epoch(tr, e, err) != 0) {
            rc = -1;
            goto out;
        }
        e->seconds = ft_now() - t_start;
        tr->epochs_done++;
        tr->step = 0;
        tr->order_ready = false;
        tr->stopped_early = early_stop_update(tr, e, hooks);
        schedule_update(tr, e, hooks);
        if (hooks && hooks->on_epoch && hooks->on_epoch(hooks->ctx, tr, e) != 0) {
            rc = ft_fail(err, FT_ECANCELLED, NULL, "cancelled");
            goto out;
        }
    }
    if (tr->cfg.early_stopping && tr->cfg.es_restore_best && tr->best_epoch > 0 && !tr->restored) {
        memcpy(ft_model_params(tr->m) + tr->toff, tr->best_params, sizeof(float) * tr->tcount);
        tr->restored = true;
    }
out:
    tr->seconds += ft_now() - run_start;
    return rc;
}

int ft_trainer_epochs_done(const ft_trainer *tr) { return tr->epochs_done; }
int ft_trainer_epochs_total(const ft_trainer *tr)
{
    return tr->cfg.epochs_total ? tr->cfg.epochs_total : tr->cfg.epoch_offset + tr->cfg.epochs;
}
const ft_epoch_metrics *ft_trainer_history(const ft_trainer *tr) { return tr->history; }
bool ft_trainer_stopped_early(const ft_trainer *tr) { return tr->stopped_early; }
int ft_trainer_best_epoch(const ft_trainer *tr) { return tr->best_epoch; }
double ft_trainer_seconds(const ft_trainer *tr) { return tr->seconds; }
bool ft_trainer_cached(const ft_trainer *tr) { return tr->run_from > 0 && !tr->live_prefix; }

void ft_trainer_set_note(ft_trainer *tr, json_t *note)
{
    json_decref(tr->note);
    tr->note = note;
}
