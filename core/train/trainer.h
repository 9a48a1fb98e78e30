/* core/train internals: struct ft_trainer, the whole state of a training run
 * (model, data, optimiser, shards, feature cache, shuffle and dropout RNGs,
 * early stopping, history). The loop (train.c) drives it; checkpoints
 * (checkpoint.c) save and restore every field of it. Opaque outside
 * core/train (train.h). */
#ifndef FT_TRAINER_H
#define FT_TRAINER_H

#include "core/util/pool.h"
#include "core/train/batch.h"
#include "core/train/feature_store.h"

/* One data-parallel slice of every batch, run on its own thread. */
typedef struct {
    ft_workspace *ws;     /* this shard's activations */
    ft_batch_buffers buf; /* this shard's batch rows */
    float *grads;         /* this shard's gradients (shard 0 uses the model's) */
    ft_workspace *prefix_ws; /* with a live prefix: the frozen layers, forward only */
    float *raw;           /* with a live prefix: the batch's augmented input rows */
    ft_rng dropout_rng;   /* this shard's dropout masks */
    size_t start;         /* this step's rows: order[start, start + n) */
    int n;                /* rows this shard runs in this step */
    double loss;          /* this step's loss over the shard's rows, divided by the batch's norm */
    ft_metric_acc acc;    /* this step's (or eval pass's) sums */
    uint64_t *val_confusion; /* this shard's validation counts [true, predicted] (k*k), or NULL */
} ft_shard;

/* The trainer behind train.h's opaque ft_trainer. */
struct ft_trainer {
    ft_model *m;                /* trained in place */
    const ft_dataset *train, *val; /* borrowed; val may be NULL */
    const ft_preproc *pp;       /* borrowed preprocessing of both sets */
    ft_train_config cfg;        /* a copy of the caller's */
    ft_loss_config loss;        /* the training loss with its class weights and smoothing */
    double batch_norm;          /* the current batch's ft_loss_norm */
    ft_target_mode mode;        /* how targets reach the loss */
    int units;                  /* model outputs */
    int lo;                     /* lowest layer whose parameters train */
    int run_from;               /* first layer trained per batch: lo with the cache, else 0 */
    bool live_prefix;           /* augment without views: the frozen layers [0, run_from) run
                                   every batch on the augmented rows; only val_feat is cached */
    size_t toff, tcount;        /* trainable parameter range of the flat array */
    ft_optim *opt;              /* state over the trainable range */
    int nshards;                /* data-parallel shards (threads) */
    ft_shard *shards;           /* nshards of them */
    ft_pool *pool;              /* runs the shards */
    bool prepared;              /* cache decided, workspaces allocated */
    float *train_feat, *val_feat; /* frozen-prefix outputs, or NULL */
    size_t feat_size;           /* floats per cached row */
    ft_feature_store *store;    /* where cached rows are kept between jobs, or NULL */
    char *store_key;            /* the caller's key for them (ft_trainer_set_feature_store) */
    uint32_t *order;            /* this epoch's row permutation */
    bool order_ready;           /* order matches epoch_rng */
    ft_rng epoch_rng;           /* shuffle RNG at the start of the current epoch */
    ft_rng shuffle_rng;         /* shuffle RNG now (after this epoch's shuffle) */
    int epochs_done;            /* completed epochs */
    long step;                  /* batches done in the current epoch */
    ft_metric_acc acc;          /* the current epoch's running sums */
    double epoch_seconds;       /* training time of the current epoch so far */
    ft_epoch_metrics *history;  /* epochs_done entries */
    const ft_metric_field *es_field; /* early stopping's metric, or NULL when off */
    double best;                /* early stopping: best metric value */
    int best_epoch, bad_epochs; /* early stopping: its epoch (1-based) and epochs since */
    float *best_params;         /* trainable parameters at best_epoch (restore_best) */
    const ft_metric_field *sched_field; /* reduce_on_plateau's metric, or NULL */
    ft_sched_state sched;       /* reduce_on_plateau's state */
    bool stopped_early, restored; /* early stop ended the run; best weights put back */
    double seconds;             /* wall time inside ft_trainer_run */
    json_t *note;               /* the caller's note kept in checkpoints (ft_trainer_set_note), or NULL */
};

/* Decide on the frozen-prefix cache and build it (feature_cache.c): from
 * the feature store on a hit, else by running the frozen layers once. Sets
 * run_from, feat_size and live_prefix, tells the hooks what happened. */
int ft_trainer_build_cache(ft_trainer *tr, const ft_train_hooks *hooks, ft_error *err);

/* Pass an event to the hooks; data is consumed. */
static inline void ft_train_emit(const ft_train_hooks *h, const char *level, const char *msg, json_t *data)
{
    if (h && h->on_event)
        h->on_event(h->ctx, level, msg, data);
    json_decref(data);
}

#endif
