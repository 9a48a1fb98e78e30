/* core/train's public API: train a model (seeded shuffling, mini-batch
 * SGD/Adam over the model's trainable suffix, per-epoch metrics, validation,
 * early stopping, the frozen-prefix feature cache), checkpoints that resume
 * bit-identically, evaluation and prediction. The per-epoch metrics are in
 * metrics.h; batch.h and trainer.h are internal to core/train. */
#ifndef FT_TRAIN_H
#define FT_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/data/dataset.h"
#include "core/nn/loss.h"
#include "core/nn/model.h"
#include "core/nn/optim.h"
#include "core/train/augment.h"
#include "core/train/metrics.h"
#include "core/train/schedule.h"

typedef struct {
    ft_loss_type loss;
    double huber_delta;        /* huber only */
    const float *class_weight; /* one per class, or NULL; borrowed (ft_loss_config) */
    double label_smoothing;    /* cross_entropy only, in [0, 1) */
    ft_optim_config optim;
    ft_lr_schedule schedule;   /* the learning rate per epoch, from optim.lr */
    double grad_clip_norm;     /* clip the trainable gradients' L2 norm to this; 0 = off */
    int batch_size;
    int epochs;
    bool early_stopping;       /* stop when `metric` has not improved for `patience` epochs */
    char es_metric[24];        /* val_loss, val_accuracy, val_mae, val_rmse, train_loss, ... */
    int es_patience;
    double es_min_delta;       /* an improvement must beat the best by more than this */
    bool es_restore_best;      /* end with the weights of the best epoch */
    uint64_t seed;             /* shuffling, dropout and augmentation */
    ft_augment augment;        /* of the training rows (augment.h); all zero: none */
    size_t cache_limit_bytes;  /* frozen-prefix cache budget; 0 turns the cache off */
    int threads;               /* data-parallel shards per batch (0 or 1: one);
                                  results are deterministic per thread count */
    int phase;                 /* the job's phase this run trains (1-based; 0: no phases), in metrics */
    int epoch_offset;          /* epochs of earlier phases: this run's epochs are numbered after them */
    int epochs_total;          /* epochs of the whole job, for progress (0: epoch_offset + epochs) */
} ft_train_config;

typedef struct {
    int epoch, epochs;          /* current epoch (1-based) and total */
    long step, steps_per_epoch; /* batches done in this epoch */
    double samples_per_second;  /* over the current epoch so far */
    double eta_seconds;         /* estimate for the remaining epochs */
} ft_progress;

typedef struct ft_trainer ft_trainer;

typedef struct {
    void *ctx;
    /* After every batch; return non-zero to cancel. May save a checkpoint. */
    int (*on_step)(void *ctx, ft_trainer *tr, const ft_progress *p);
    /* After every epoch (metrics final for it); return non-zero to cancel. */
    int (*on_epoch)(void *ctx, ft_trainer *tr, const ft_epoch_metrics *m);
    /* Asked now and then while the trainer works outside its steps for
     * long (running the frozen layers into the feature cache, waiting for
     * another job's build of it); non-zero stops the run as on_step's does
     * (FT_ECANCELLED). May be NULL. Never called from two threads at once. */
    int (*should_stop)(void *ctx);
    /* Something worth telling the user (feature cache, early stop...):
     * level "info" or "warning", a sentence, and details (borrowed). */
    void (*on_event)(void *ctx, const char *level, const char *message, const json_t *data);
} ft_train_hooks;

/* True if NAME is a metric early stopping can watch: train_/val_ + loss,
 * accuracy, mae or rmse. */
bool ft_train_metric_known(const char *name);

/* Check that the model's head, the loss and the dataset's targets fit
 * together (units vs classes, softmax vs cross_entropy ...). */
int ft_train_check(const ft_model *m, const ft_dataset *ds, ft_loss_type loss, ft_error *err);

/* A trainer for model m on train (and val, may be NULL). The preprocessing
 * applies to both sets (fitted on the training rows). Borrowed pointers must
 * outlive the trainer. */
ft_trainer *ft_trainer_new(ft_model *m, const ft_dataset *train, const ft_dataset *val,
                           const ft_preproc *pp, const ft_train_config *cfg, ft_error *err);
void ft_trainer_free(ft_trainer *tr);

/* Train until the last epoch, an early stop, a cancel (FT_ECANCELLED) or an
 * error. Resumes where a loaded checkpoint left off. */
int ft_trainer_run(ft_trainer *tr, const ft_train_hooks *hooks, ft_error *err);

/* Epochs completed so far, and their metrics. */
int ft_trainer_epochs_done(const ft_trainer *tr);
const ft_epoch_metrics *ft_trainer_history(const ft_trainer *tr);
/* The job's epoch count progress is measured against: epochs_total, which
 * a job with phases gives as the epochs done before this phase plus those
 * planned from it on (an early-stopped phase's unrun epochs do not count),
 * else epoch_offset + epochs. */
int ft_trainer_epochs_total(const ft_trainer *tr);
/* Whether early stopping ended the run, and the best epoch (1-based, or 0). */
bool ft_trainer_stopped_early(const ft_trainer *tr);
int ft_trainer_best_epoch(const ft_trainer *tr);
/* Wall seconds spent in ft_trainer_run (all runs since creation or resume). */
double ft_trainer_seconds(const ft_trainer *tr);
/* Whether the frozen-prefix cache is in use. */
bool ft_trainer_cached(const ft_trainer *tr);

/* Take the frozen-prefix features from fs, and keep them there, under key:
 * a string the caller makes that names everything they depend on besides
 * the cut (base model, rows, preprocessing); the trainer adds the set, the
 * cut and the feature size. fs is borrowed (NULL: no store). Call before
 * ft_trainer_run. */
typedef struct ft_feature_store ft_feature_store;
int ft_trainer_set_feature_store(ft_trainer *tr, ft_feature_store *fs, const char *key, ft_error *err);

/* Save / restore the full training state (weights, optimiser state, epoch,
 * step, RNG states, early-stopping state, history). A run resumed from a
 * checkpoint ends bit-identical to an uninterrupted one. Loading checks the
 * checkpoint belongs to the same model and configuration. */
int ft_trainer_save_checkpoint(ft_trainer *tr, const char *path, ft_error *err);
int ft_trainer_load_checkpoint(ft_trainer *tr, const char *path, ft_error *err);
/* A JSON object the caller keeps in the trainer's checkpoints beside the
 * training state (a job's phase and its earlier phases' metrics); taken
 * over (NULL clears it). */
void ft_trainer_set_note(ft_trainer *tr, json_t *note);
/* The note of the checkpoint at path (a new reference; a JSON null if it
 * has none), or NULL with err if it is not a readable checkpoint. */
json_t *ft_checkpoint_note(const char *path, ft_error *err);

/* ---- evaluation ---- */

typedef struct {
    size_t rows;
    double loss;
    double accuracy;      /* classification, else NAN */
    double mae, rmse;     /* regression, else NAN */
    int classes;          /* k of the confusion matrix, or 0 */
    uint64_t *confusion;  /* k*k counts [true * k + predicted] (malloc'd), or NULL */
} ft_eval_result;

/* Up to this many classes the JSON carries the full confusion matrix; above
 * it (k^2 cells would dwarf the job object), per-class precision and recall
 * and the FT_CONFUSION_TOP largest off-diagonal cells instead. */
#define FT_CONFUSION_MAX_CLASSES 100
#define FT_CONFUSION_TOP 20

/* Evaluate a model on a dataset (loss and metrics, confusion for classes),
 * `batch` rows at a time, each batch split over `threads` threads
 * (core/nn/infer.h: BLAS single-threaded when threads > 1). */
int ft_evaluate(ft_model *m, const ft_dataset *ds, const ft_preproc *pp, ft_loss_type loss,
                double huber_delta, int batch, int threads, ft_eval_result *out, ft_error *err);
void ft_eval_result_free(ft_eval_result *r);
json_t *ft_eval_result_json(const ft_eval_result *r, const ft_dataset *ds);
/* The whole confusion matrix as CSV, whatever the number of classes: a
 * header row of predicted labels, then one row per true label (malloc'd
 * text in *out). FT_EINVAL if r has no matrix (not a classifier). */
int ft_eval_confusion_csv(const ft_eval_result *r, const ft_dataset *ds, char **out, size_t *len, ft_error *err);

/* Rows ft_predict runs at a time. */
#define FT_PREDICT_CHUNK 256

/* Run the model on n preprocessed rows x, writing n * units outputs
 * (probabilities for softmax / sigmoid heads), each chunk split over
 * `threads` threads as ft_evaluate's batches. */
int ft_predict(ft_model *m, const float *x, int n, float *out, int threads, ft_error *err);

#endif
