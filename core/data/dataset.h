/* In-memory datasets: rows of features (uint8 or float32) with class labels or
 * float targets, plus the preprocessing that turns raw rows into model inputs.
 *
 * Images stay uint8 in memory (a quarter of the float size) and are scaled to
 * [0, 1] only when a batch is assembled. Rows are stored row-major, each row a
 * sample of `shape` ([F] or [C, H, W]).
 */
#ifndef FT_DATASET_H
#define FT_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/util/error.h"
#include "core/util/shape.h"

typedef enum {
    FT_X_U8,  /* raw bytes, e.g. image pixels 0..255 */
    FT_X_F32  /* floats, e.g. tabular features */
} ft_xtype;

typedef enum {
    FT_TARGET_CLASSES, /* one int32 label per row, 0 <= label < num_classes */
    FT_TARGET_VALUES   /* target_dim float targets per row (regression, multi-label) */
} ft_target_kind;

typedef struct ft_dataset ft_dataset;

/* Allocate a dataset of `rows` rows (contents zeroed). For FT_TARGET_CLASSES
 * target_dim is the number of classes (names default to "0", "1", ...); for
 * FT_TARGET_VALUES it is the number of float targets per row. */
ft_dataset *ft_dataset_new(size_t rows, ft_shape shape, ft_xtype xtype, ft_target_kind kind,
                           int target_dim, ft_error *err);
void ft_dataset_free(ft_dataset *ds);

size_t ft_dataset_rows(const ft_dataset *ds);
ft_shape ft_dataset_shape(const ft_dataset *ds);
ft_xtype ft_dataset_xtype(const ft_dataset *ds);
ft_target_kind ft_dataset_target_kind(const ft_dataset *ds);
/* Classes for FT_TARGET_CLASSES, targets per row for FT_TARGET_VALUES. */
int ft_dataset_target_dim(const ft_dataset *ds);

/* Raw storage (rows * ft_shape_size(shape) elements), by type. The getter of
 * the other type returns NULL. */
uint8_t *ft_dataset_x_u8(ft_dataset *ds);
float *ft_dataset_x_f32(ft_dataset *ds);
const uint8_t *ft_dataset_cx_u8(const ft_dataset *ds);
const float *ft_dataset_cx_f32(const ft_dataset *ds);

/* Labels (rows entries) for classes, or targets (rows * target_dim) for values. */
int32_t *ft_dataset_labels(ft_dataset *ds);
float *ft_dataset_targets(ft_dataset *ds);
const int32_t *ft_dataset_clabels(const ft_dataset *ds);
const float *ft_dataset_ctargets(const ft_dataset *ds);

/* Class names (FT_TARGET_CLASSES only). */
const char *ft_dataset_class_name(const ft_dataset *ds, int k);
int ft_dataset_set_class_name(ft_dataset *ds, int k, const char *name, ft_error *err);

/* Check every label is within [0, classes) and every float is finite. */
int ft_dataset_validate(const ft_dataset *ds, ft_error *err);

/* Rows per class (counts has target_dim entries); FT_TARGET_CLASSES only. */
void ft_dataset_class_counts(const ft_dataset *ds, uint64_t *counts);

/* Summary for APIs and `dataset inspect`: rows, input_shape, dtype, and either
 * classes [{name, count}] or targets {dim, mean, std, min, max}. */
json_t *ft_dataset_summary(const ft_dataset *ds);

/* A new dataset holding rows idx[0..n) of ds, in that order. */
ft_dataset *ft_dataset_take(const ft_dataset *ds, const uint32_t *idx, size_t n, ft_error *err);

/* Like ft_dataset_take for a classification dataset, relabelling class c as
 * class_map[c] in 0..new_classes-1 (names move along). Every taken row's class
 * must map to a valid new class. */
ft_dataset *ft_dataset_take_relabel(const ft_dataset *ds, const uint32_t *idx, size_t n,
                                    const int *class_map, int new_classes, ft_error *err);

/* Part of a dataset, as a job's selector names it. */
typedef struct {
    size_t nclasses;               /* 0 = keep every class, with its index */
    const int *class_ids;          /* class indices, or NULL */
    const char *const *class_names;/* or class names, resolved against the dataset */
    long per_class;                /* rows per selected class, or -1 for all of them */
    uint64_t seed;                 /* which rows per_class keeps */
} ft_selector;

/* Apply a selector: the selected classes are relabelled 0.. in the order
 * given; per_class rows of each are drawn with the seed (an error if a class
 * has fewer). Rows keep their original relative order. */
ft_dataset *ft_dataset_select(const ft_dataset *ds, const ft_selector *sel, ft_error *err);

/* Seeded random split: `fraction` of the rows (at least one) go to *second. */
int ft_dataset_split(const ft_dataset *ds, double fraction, uint64_t seed, ft_dataset **first,
                     ft_dataset **second, ft_error *err);

/* How raw rows become model inputs: x = (raw * scale - mean[i]) / std[i]. */
typedef struct {
    float scale;     /* 1/255 for uint8 data, 1 for floats */
    size_t features; /* entries in mean/std, or 0 when not standardised */
    float *mean;     /* per-feature mean (malloc'd, owned) */
    float *std;      /* per-feature standard deviation, never 0 */
} ft_preproc;

/* The default for a dataset: scale only. */
void ft_preproc_init(ft_preproc *pp, const ft_dataset *ds);
/* Add standardisation fitted on the dataset's rows (the training rows only). */
int ft_preproc_fit_standardize(ft_preproc *pp, const ft_dataset *ds, ft_error *err);
void ft_preproc_free(ft_preproc *pp);
/* JSON form stored in model files: {"scale": s, "mean": [...], "std": [...]};
 * from_json also reads the image form (image_preproc.h), its per-channel
 * mean / std spread over the CHW features. */
json_t *ft_preproc_to_json(const ft_preproc *pp);
int ft_preproc_from_json(ft_preproc *pp, const json_t *j, size_t features, ft_error *err);

/* Standardise n scaled rows of f values in place, if pp has mean / std
 * for f features (the second half of ft_dataset_gather). */
void ft_preproc_normalize(const ft_preproc *pp, float *rows, size_t n, size_t f);

/* Assemble model inputs for rows idx[0..n) into out (n * row size floats). */
void ft_dataset_gather(const ft_dataset *ds, const ft_preproc *pp, const uint32_t *idx, size_t n,
                       float *out);

#endif
