/* Internal: the trainer's state, shared by train.c and checkpoint.c. */
#ifndef FT_TRAINER_STRUCT_H
#define FT_TRAINER_STRUCT_H

#include "core/util/pool.h"
#include "core/train/train_internal.h"

/* One data-parallel slice of every batch, run on its own thread. */
typedef struct {
    ft_workspace *ws;
    ft_batch_buffers buf;
    float *grads;         /* this shard's gradients (shard 0 uses the model's) */
    ft_rng dropout_rng;   /* this shard's dropout masks */
    size_t start;         /* this step's rows: order[start, start + n) */
    int n;
    int total;            /* rows of the whole batch */
    double loss;          /* this step's mean loss over the shard */
    ft_metric_acc acc;    /* this step's (or eval pass's) sums */
} ft_shard;

struct ft_trainer {
    ft_model *m;                /* trained in place */
    const ft_dataset *train, *val;
    const ft_preproc *pp;
    ft_train_config cfg;
    ft_target_mode mode;
    int units;                  /* model outputs */
    int lo;                     /* lowest layer whose parameters train */
    int run_from;               /* first layer run per batch: lo with the cache, else 0 */
    size_t toff, tcount;        /* trainable parameter range of the flat array */
    ft_optim *opt;
    int nshards;
    ft_shard *shards;
    ft_pool *pool;
    bool prepared;              /* cache decided, workspaces allocated */
    float *train_feat, *val_feat; /* frozen-prefix outputs, or NULL */
    size_t feat_size;           /* floats per cached row */
    uint32_t *order;            /* this epoch's row permutation */
    bool order_ready;           /* order matches epoch_rng */
    ft_rng epoch_rng;           /* shuffle RNG at the start of the current epoch */
    ft_rng shuffle_rng;         /* shuffle RNG now (after this epoch's shuffle) */
    int epochs_done;
    long step;                  /* batches done in the current epoch */
    ft_metric_acc acc;          /* the current epoch's running sums */
    double epoch_seconds;       /* training time of the current epoch so far */
    ft_epoch_metrics *history;  /* epochs_done entries */
    const ft_metric_field *es_field; /* early stopping's metric, or NULL when off */
    double best;                /* early stopping: best metric value */
    int best_epoch, bad_epochs;
    float *best_params;         /* trainable parameters at best_epoch (restore_best) */
    bool stopped_early, restored;
    double seconds;             /* wall time inside ft_trainer_run */
};

void ft_trainer_make_order(ft_trainer *tr);

#endif
