/* The table of per-epoch metric fields and the walks over it. */
#include <math.h>
#include <string.h>

#include "core/train/metrics.h"

#define FIELD(name, watchable, higher_better) \
    {#name, offsetof(ft_epoch_metrics, name), "%.6g", watchable, higher_better}

const ft_metric_field ft_epoch_metric_fields[FT_EPOCH_METRIC_COUNT] = {
    FIELD(train_loss, true, false),
    FIELD(train_accuracy, true, true),
    FIELD(train_mae, true, false),
    FIELD(train_rmse, true, false),
    FIELD(val_loss, true, false),
    FIELD(val_accuracy, true, true),
    FIELD(val_mae, true, false),
    FIELD(val_rmse, true, false),
    FIELD(val_macro_recall, true, true),
    FIELD(seconds, false, false),
    FIELD(samples_per_second, false, false),
    {"lr", offsetof(ft_epoch_metrics, lr), "%.9g", false, false},
};

const ft_metric_field *ft_epoch_metric_find(const char *name)
{
    for (size_t i = 0; i < FT_EPOCH_METRIC_COUNT; i++)
        if (strcmp(ft_epoch_metric_fields[i].name, name) == 0)
            return &ft_epoch_metric_fields[i];
    return NULL;
}

double *ft_epoch_metric_slot(ft_epoch_metrics *e, const ft_metric_field *f)
{
    return (double *)((char *)e + f->offset);
}

double ft_epoch_metric_get(const ft_epoch_metrics *e, const ft_metric_field *f)
{
    return *(const double *)((const char *)e + f->offset);
}

json_t *ft_epoch_metrics_json(const ft_epoch_metrics *m)
{
    json_t *j = json_pack("{s:i}", "epoch", m->epoch);
    if (m->phase > 0)
        json_object_set_new(j, "phase", json_integer(m->phase));
    for (size_t i = 0; i < FT_EPOCH_METRIC_COUNT; i++) {
        double v = ft_epoch_metric_get(m, &ft_epoch_metric_fields[i]);
        if (isfinite(v))
            json_object_set_new(j, ft_epoch_metric_fields[i].name, json_real(v));
    }
    return j;
}
