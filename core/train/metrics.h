/* The per-epoch metrics and the one table of their fields. The JSON of an
 * epoch, checkpoints, early stopping and the service's CSV export all walk
 * ft_epoch_metric_fields, so a new metric is a struct field plus one row. */
#ifndef FT_METRICS_H
#define FT_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Metrics of one epoch. NAN marks a value that does not apply. */
typedef struct {
    int epoch;                  /* 1-based; numbering continues across a job's phases */
    int phase;                  /* the job's phase (1-based), or 0 for a job without phases */
    double train_loss, train_accuracy, train_mae, train_rmse;
    double val_loss, val_accuracy, val_mae, val_rmse;
    double val_macro_recall;    /* mean recall over the validation set's classes present (classifiers) */
    double seconds;             /* wall time of the epoch, validation included */
    double samples_per_second;  /* training rows / training time of the epoch */
    double lr;                  /* the learning rate the epoch trained at */
} ft_epoch_metrics;

/* One double field of ft_epoch_metrics. */
typedef struct {
    const char *name;    /* JSON key, CSV column and checkpoint key */
    size_t offset;       /* offsetof(ft_epoch_metrics, the field) */
    const char *format;  /* printf format of its CSV cells */
    bool watchable;      /* early stopping may watch it */
    bool higher_better;  /* an improvement is a rise (accuracy), not a fall */
} ft_metric_field;

/* Rows of ft_epoch_metric_fields. */
#define FT_EPOCH_METRIC_COUNT 12

/* Every double field, in the order of the JSON, the CSV and checkpoints. */
extern const ft_metric_field ft_epoch_metric_fields[FT_EPOCH_METRIC_COUNT];

/* The field called name, or NULL. */
const ft_metric_field *ft_epoch_metric_find(const char *name);

/* Where field f lives in e (to read or to write). */
double *ft_epoch_metric_slot(ft_epoch_metrics *e, const ft_metric_field *f);

/* The value of field f in e. */
double ft_epoch_metric_get(const ft_epoch_metrics *e, const ft_metric_field *f);

/* Per-epoch metrics as JSON: "epoch", "phase" (when not 0), then every finite field. */
json_t *ft_epoch_metrics_json(const ft_epoch_metrics *m);

#endif
