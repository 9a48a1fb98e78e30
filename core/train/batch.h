/* core/train internals: how a pass over a dataset is cut into batches.
 * Target modes (what the loss consumes), batch sources and buffers, the
 * running metric sums of a pass, evaluation of a row range, and the sizes the
 * frozen-prefix feature cache and the buffers take (which core/job's memory
 * estimate reuses). Defined in batch.c, the cache decision in train.c. Not
 * part of the public API (train.h). */
#ifndef FT_TRAIN_BATCH_H
#define FT_TRAIN_BATCH_H

#include "core/train/train.h"

/* How dataset targets become what the loss consumes. */
typedef enum {
    TARGET_LABELS,       /* cross_entropy: class indices */
    TARGET_BINARY_LABEL, /* binary_cross_entropy, 1 unit, 2 classes: label as 0/1 */
    TARGET_ONEHOT,       /* binary_cross_entropy, one unit per class */
    TARGET_VALUES        /* float targets as they are */
} ft_target_mode;

/* Where batch inputs come from: raw dataset rows through the preprocessing,
 * or rows of a precomputed feature cache. Targets always come from ds. */
typedef struct {
    const ft_dataset *ds;
    const ft_preproc *pp;
    const float *features; /* cached inputs of the first run layer, or NULL */
    size_t feat_size;      /* floats per cached row */
    const ft_augment *augment; /* augment raw rows (training only), or NULL */
    uint64_t aug_seed, aug_stream; /* the key of the augmentation draws: seed and epoch */
} ft_batch_source;

/* Running sums of one pass (an epoch or an evaluation). */
typedef struct {
    double loss_sum;  /* sum of batch mean loss * batch rows */
    size_t rows;
    size_t correct, judged; /* classification hits / decisions */
    double abs_sum, sq_sum; /* regression errors */
    size_t elems;           /* regression elements */
} ft_metric_acc;

/* The target mode of this model, dataset and loss (FT_EINVAL if they do not fit). */
int ft_target_mode_for(const ft_model *m, const ft_dataset *ds, ft_loss_type loss,
                       ft_target_mode *mode, ft_error *err);

/* Fill x (n rows), labels and targets for rows idx[0..n). */
void ft_load_batch(const ft_batch_source *src, ft_target_mode mode, int units, const uint32_t *idx,
                   int n, float *x, int32_t *labels, float *targets);

/* Add one batch's loss and metrics; out holds logits for fused losses.
 * If confusion is non-NULL (k*k), count predictions too. */
void ft_metric_add(ft_metric_acc *acc, ft_target_mode mode, int units, const float *out,
                   const int32_t *labels, const float *targets, int n, double batch_loss,
                   uint64_t *confusion, int k);

/* Final metrics from sums; NAN where a metric does not apply. */
void ft_metric_finish(const ft_metric_acc *acc, ft_target_mode mode, double *loss, double *accuracy,
                      double *mae, double *rmse);

/* The mean recall over the classes present (k*k counts [true,
 * predicted]); NAN when none is. */
double ft_macro_recall(const uint64_t *confusion, int k);

/* Per-batch buffers, allocated once per pass or per trainer. */
typedef struct {
    int rows;         /* capacity in rows */
    uint32_t *idx;    /* row indices */
    float *x;         /* inputs */
    int32_t *labels;  /* class labels */
    float *targets;   /* float targets, rows * units */
    float *grad;      /* d loss / d output, rows * units */
} ft_batch_buffers;

/* Allocate b for `rows` rows of in_size inputs and `units` outputs (-1 when out of memory). */
int ft_batch_buffers_alloc(ft_batch_buffers *b, int rows, size_t in_size, int units);
/* Free b's buffers (b itself is the caller's). */
void ft_batch_buffers_free(ft_batch_buffers *b);

/* Evaluate rows [begin, end) of src in order with an existing workspace,
 * adding to acc (and confusion, k*k, if non-NULL). -1 if a loss is not finite. */
int ft_eval_range(ft_model *m, ft_workspace *ws, const ft_batch_source *src, ft_target_mode mode,
                  ft_loss_type loss, double huber_delta, const ft_batch_buffers *buf, size_t begin, size_t end,
                  ft_metric_acc *acc, uint64_t *confusion, int k);

/* Monotonic clock in seconds. */
double ft_now(void);

/* Lowest layer whose parameters train; the layer count if none. */
int ft_lowest_trained(const ft_model *m);

/* Whether the trainer caches a frozen prefix [0, *from) over `rows` rows
 * (the training rows times ft_augment_cache_copies, and the validation's)
 * under `limit` bytes. The prefix ends where the model splits at or below
 * lo (ft_model_split_below: on a graph, below the branches that cross lo);
 * *from gets its end and *feat_size the floats per cached row unless OFF. */
typedef enum {
    FT_CACHE_OFF,     /* no frozen weights below lo, or no cache allowed */
    FT_CACHE_RANDOM,  /* the prefix has dropout: its output is not fixed */
    FT_CACHE_TOO_BIG, /* over the limit */
    FT_CACHE_ON
} ft_cache_use;
ft_cache_use ft_cache_decide(const ft_model *m, int lo, size_t rows, size_t limit, int *from, size_t *feat_size);

/* Bytes ft_batch_buffers_alloc takes for these sizes. */
size_t ft_batch_buffers_bytes(int rows, size_t in_size, int units);

#endif
