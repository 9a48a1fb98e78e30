/* Job specs (docs/design.md, "Job spec"): parsing with field-path errors, the
 * defaults, the up-front plan (validation against the dataset and base model,
 * warnings that teach), and running a job end to end. Shared by
 * `finetuned train` and the service's workers, so both behave the same. */
#ifndef FT_SPEC_H
#define FT_SPEC_H

#include <stdbool.h>

#include <jansson.h>

#include "core/data/dataset.h"
#include "core/nn/model.h"
#include "core/train/train.h"

/* A dataset reference: an id ("ds_..."), a local path, or an IDX pair, with
 * an optional selector (classes, per_class, seed). */
typedef struct {
    char *id;            /* service id, or NULL */
    char *path;          /* local file (CLI), or NULL */
    char *images;        /* IDX pair (CLI), or NULL */
    char *labels;
    bool has_selector;   /* classes / per_class given */
    ft_selector sel;     /* points into the arrays below */
    int *class_ids;
    char **class_names;
} ft_dataset_ref;

/* Parse a reference ("ds_..." or a path, or {"id" | "path" | "images" +
 * "labels", "classes", "per_class", "seed"}); errors name fields under `param`. */
int ft_dataset_ref_parse(const json_t *v, const char *param, ft_dataset_ref *ref, ft_error *err);
void ft_dataset_ref_free(ft_dataset_ref *ref);

typedef enum { FT_VAL_NONE, FT_VAL_SPLIT, FT_VAL_SET } ft_val_kind;

/* Most phases a job may have. */
#define FT_MAX_PHASES 16

/* One phase of a job: what it changes from the top-level spec (a phase's
 * augment replaces the spec's; null turns it off). */
typedef struct {
    ft_freeze_policy freeze;     /* this phase's freeze (default "base") */
    int trainable_last;          /* with FT_FREEZE_TRAINABLE_LAST */
    const char *trainable_from;  /* with FT_FREEZE_TRAINABLE_FROM (points into the spec's json) */
    ft_train_config train;       /* epochs, optimiser, schedule, early stopping and augment; the rest is unused */
} ft_job_phase;

typedef struct {
    json_t *json;                /* the spec as given, with defaults filled in */
    ft_dataset_ref dataset;
    ft_val_kind val_kind;
    double val_split;
    ft_dataset_ref val;
    bool has_test;
    ft_dataset_ref test;
    char *base_model;            /* id or path; NULL for a from-scratch job */
    json_t *architecture;        /* from-scratch architecture (borrowed from json) */
    ft_transfer transfer;        /* drop/cut, freeze, head, init (units 0 = from the dataset) */
    bool output_given, loss_given;
    ft_train_config train;       /* train.class_weight is set by ft_job_run only */
    const json_t *class_weight;  /* "balanced" or a map of weights (borrowed from json), or NULL */
    bool standardize;            /* tabular standardisation fitted on training rows */
    bool strict;                 /* warnings are errors */
    int nphases;                 /* 0 for a job without phases */
    ft_job_phase phases[FT_MAX_PHASES]; /* run in order; train.epochs is then their sum */
} ft_job_spec;

/* Parse and range-check a spec (no dataset or model needed). Errors carry the
 * field path in err->param. */
int ft_job_spec_parse(const json_t *json, ft_job_spec *spec, ft_error *err);
void ft_job_spec_free(ft_job_spec *spec);

/* The training options (lr_schedule, class_weight, label_smoothing,
 * grad_clip_norm) of a spec whose optimizer and epochs are parsed
 * (spec_train.c). */
int ft_job_spec_parse_training(const json_t *json, ft_job_spec *s, ft_error *err);

/* The spec's class_weight (cw: "balanced" or a map by class name or index)
 * for k classes with these names and training row counts (counts NULL when
 * unknown: "balanced" then gives ones); FT_EINVAL naming "class_weight.<key>"
 * for a class that is not there. */
int ft_class_weights(const json_t *cw, const char *const *names, const uint64_t *counts, int k, float *out,
                     ft_error *err);

/* The spec's "phases" (spec_phases.c), parsed from s->json after every
 * top-level field: each phase starts from the top-level optimiser,
 * schedule and early stopping. Errors name "phases[k].<field>". */
int ft_job_spec_parse_phases(ft_job_spec *s, ft_error *err);

/* Phase k's transfer and training config: the spec's (s->transfer,
 * s->train, with the plan's resolved defaults) with the phase's freeze,
 * epochs, optimiser, schedule and early stopping. */
void ft_job_phase_config(const ft_job_spec *s, int k, ft_transfer *t, ft_train_config *c);

/* Check what the plan cannot see in the first phase's model: every phase's
 * freeze against the base model (NULL: none) and its metrics against the
 * validation set. Errors name "phases[k].<field>". */
int ft_job_plan_phases(const ft_job_spec *s, const ft_model *base, ft_error *err);

/* Check the spec's augment and every phase's against the model input
 * `in` (image rows; ft_augment_check). Errors name "augment.<key>" or
 * "phases[k].augment.<key>". */
int ft_job_plan_augment(const ft_job_spec *s, ft_shape in, ft_error *err);

/* What the plan needs to know of a dataset (from its summary, without loading it). */
typedef struct {
    size_t rows;
    ft_shape shape;
    ft_xtype xtype;                   /* how rows are held in memory */
    ft_target_kind kind;
    int target_dim;                   /* classes or targets per row */
    const char *const *class_names;   /* target_dim names (classes) */
    const uint64_t *class_counts;     /* rows per class (classes) */
} ft_data_info;

/* Describe a loaded dataset as ft_data_info (class_names/counts point into
 * buffers the caller frees with ft_data_info_free). */
int ft_data_info_from(const ft_dataset *ds, ft_data_info *info, ft_error *err);
/* The same from a dataset's summary (ft_dataset_summary: rows,
 * input_shape, dtype, classes or targets); class names point into summary,
 * which must outlive info (data_info.c). */
int ft_data_info_from_summary(const json_t *summary, ft_data_info *info, ft_error *err);
void ft_data_info_free(ft_data_info *info);

/* Check a dataset reference's selector against the dataset (class ids or
 * names exist, per_class is available) and report the rows and classes (or
 * targets per row) it selects, and up to max_names class names. Errors name
 * the field under `param` ("test.classes[1]"). */
int ft_dataset_ref_check(const ft_dataset_ref *ref, const ft_data_info *d, const char *param, size_t *rows,
                         int *classes, const char **names, int max_names, int *nnames, ft_error *err);

/* Rows per batch of the final validation and test evaluations. */
#define FT_EVAL_BATCH 256

/* A job's peak memory in bytes, estimated from shapes alone. */
typedef struct {
    size_t weights;     /* the model's parameters, and the base model's (loaded for the whole run) */
    size_t gradients;   /* the model's gradients and one copy per extra data-parallel shard */
    size_t optimizer;   /* optimiser state of the trainable parameters, and restore_best's copy */
    size_t activations; /* each shard's workspace and batch buffers, and the final evaluation's */
    size_t cache;       /* the frozen-prefix feature cache */
    size_t data;        /* the datasets as held in memory */
    size_t total;       /* the sum (SIZE_MAX if it overflows) */
} ft_job_memory;

/* What the estimate is a function of. */
typedef struct {
    const ft_model *model;         /* the job's model; a layout is enough */
    const ft_model *base;          /* the base model, or NULL */
    const ft_train_config *train;  /* batch size, optimiser, threads, cache limit, early stopping */
    size_t train_rows, val_rows;   /* rows trained on and validated on (the cache holds both) */
    size_t data_bytes;             /* every dataset held, with selected and split copies */
    bool evaluates;                /* a validation or test set is evaluated at the end */
} ft_job_shape;

void ft_job_memory_estimate(const ft_job_shape *j, ft_job_memory *out);

/* Bytes `rows` rows of a dataset like d take in memory (features and targets). */
size_t ft_data_info_bytes(const ft_data_info *d, size_t rows);
/* Bytes of every dataset a job holds at once: the training set (with
 * `selected` rows selected) and its copies, the validation and test sets. */
size_t ft_job_data_bytes(const ft_job_spec *s, const ft_data_info *train, size_t selected, const ft_data_info *val,
                         const ft_data_info *test);

/* The memory side of a plan. */
typedef struct {
    size_t limit;                   /* refuse (FT_ETOOBIG) an estimate above this; 0 = no limit */
    const ft_data_info *val, *test; /* the separate validation and test sets, or NULL */
    ft_job_memory estimate;         /* filled in by ft_job_plan */
} ft_job_budget;

/* Check the spec against the training data and the base model (NULL for a
 * from-scratch job), resolve the defaults that depend on them (head output
 * and units, loss) into spec, and list warnings: a JSON array of {"code",
 * "level", "message", "param"} (level "warning" or "info"). With "strict":
 * true any warning is an error. With a budget, the job's memory is estimated
 * and checked after every cheaper check passed.
 * With model non-NULL, *model receives the job's model that the checks ran
 * on, built as ft_job_build_model builds it (base must have its weights), so
 * the run trains it without building it again. With model NULL only a layout
 * is built (base may be a layout): nothing the size of the model is allocated. */
int ft_job_plan(ft_job_spec *spec, const ft_data_info *train, const ft_model *base, ft_job_budget *budget,
                ft_model **model, json_t **warnings, ft_error *err);

/* Whether a job brings this dataset's images to the model input `in`: the
 * base model carries image preprocessing (resize, crop) and the rows are
 * byte images [1 or 3, H, W] of another size (ft_image_preproc_dataset). */
bool ft_job_resizes_images(const ft_model *base, ft_shape in, const ft_data_info *d);

/* Build the job's model before training: the base transferred by t (the
 * spec's transfer, or a phase's) or the from-scratch architecture, new
 * layers initialised from the spec's seed. *kept receives the number of
 * kept base layers. */
ft_model *ft_job_build_model(const ft_job_spec *spec, const ft_transfer *t, const ft_model *base, int *kept,
                             ft_error *err);

/* How a job finds its inputs: the CLI resolves paths, the service ids. */
typedef struct {
    void *ctx;
    /* Load the whole dataset a reference names (the selector is applied by the caller). */
    ft_dataset *(*load_dataset)(void *ctx, const ft_dataset_ref *ref, ft_error *err);
    /* Load the base model a spec names. */
    ft_model *(*load_model)(void *ctx, const char *ref, ft_error *err);
    ft_train_hooks hooks;        /* progress, epoch metrics, events, cancel */
    const char *resume_from;     /* checkpoint to resume from, or NULL */
    /* Where frozen-prefix features are kept between jobs, or NULL. Only
     * jobs whose base model and datasets are immutable ids use it. */
    ft_feature_store *feature_store;
} ft_job_env;

typedef struct {
    ft_model *model;             /* the trained model, with classes and preprocessing */
    json_t *warnings;            /* from the plan */
    json_t *history;             /* per-epoch metrics (array) */
    json_t *test;                /* test metrics (with confusion matrix), or NULL */
    json_t *validation;          /* final validation metrics (with confusion), or NULL */
    double train_seconds;        /* inside the training loop only */
    int epochs_done;
    bool stopped_early, cached;
} ft_job_result;

/* Run a job from parsed spec to trained model. The trainer is exposed to the
 * hooks, so the caller can checkpoint from on_step / on_epoch. */
int ft_job_run(ft_job_spec *spec, const ft_job_env *env, ft_job_result *out, ft_error *err);
void ft_job_result_free(ft_job_result *r);

#endif
