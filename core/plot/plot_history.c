/* The per-epoch training chart (loss | accuracy or mae | learning rate),
 * with a dashed line between the epochs of two phases. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/plot/plot.h"

enum { TRAIN, VAL };
static const uint32_t colours[2] = {0x1f77b4, 0xff7f0e}; /* the usual blue and orange */
static const uint32_t lr_colour = 0x2ca02c;               /* and green */

/* Column `key` of every row, NAN where missing. */
static double *column(const json_t *rows, const char *key, size_t n)
{
    double *v = malloc(sizeof *v * (n ? n : 1));
    for (size_t i = 0; v && i < n; i++) {
        const json_t *x = json_object_get(json_array_get(rows, i), key);
        v[i] = json_is_number(x) ? json_number_value(x) : NAN;
    }
    return v;
}

static bool has_values(const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i]))
            return true;
    return false;
}

/* Two different finite values: a schedule changed the learning rate. */
static bool varies(const double *v, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (isfinite(v[i]) && isfinite(v[0]) && v[i] != v[0])
            return true;
    return false;
}

/* Where the phase changes between two rows: halfway between their epochs
 * (into marks, which holds n; returns how many). */
static size_t phase_marks(const double *epoch, const double *phase, size_t n, double *marks)
{
    size_t k = 0;
    for (size_t i = 1; i < n; i++)
        if (isfinite(phase[i]) && isfinite(phase[i - 1]) && phase[i] != phase[i - 1])
            marks[k++] = (epoch[i - 1] + epoch[i]) / 2;
    return k;
}

int ft_plot_history_png(const char *title, const json_t *rows, int width, int height, unsigned char **png,
                        size_t *png_len, ft_plot_area *areas, ft_error *err)
{
    if (!json_is_array(rows))
        return ft_fail(err, FT_EINVAL, NULL, "rows must be an array");
    size_t n = json_array_size(rows);
    double *epoch = column(rows, "epoch", n);
    double *loss[2] = {column(rows, "train_loss", n), column(rows, "val_loss", n)};
    /* Regression rows carry mae instead of accuracy. */
    bool regression = n > 0 && json_object_get(json_array_get(rows, 0), "train_mae") != NULL;
    const char *metric = regression ? "mae" : "accuracy";
    char train_key[32], val_key[32], train_label[32], val_label[32];
    snprintf(train_key, sizeof train_key, "train_%s", metric);
    snprintf(val_key, sizeof val_key, "val_%s", metric);
    snprintf(train_label, sizeof train_label, "train %s", metric);
    snprintf(val_label, sizeof val_label, "val %s", metric);
    double *met[2] = {column(rows, train_key, n), column(rows, val_key, n)};
    double *lr = column(rows, "lr", n), *phase = column(rows, "phase", n), *marks = column(rows, "phase", n);
    int rc = -1;
    if (!epoch || !loss[TRAIN] || !loss[VAL] || !met[TRAIN] || !met[VAL] || !lr || !phase || !marks) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        goto done;
    }
    ft_plot_series loss_s[2] = {{"train loss", epoch, loss[TRAIN], n, colours[TRAIN], NULL, NULL},
                                {"val loss", epoch, loss[VAL], n, colours[VAL], NULL, NULL}};
    ft_plot_series met_s[2] = {{train_label, epoch, met[TRAIN], n, colours[TRAIN], NULL, NULL},
                               {val_label, epoch, met[VAL], n, colours[VAL], NULL, NULL}};
    /* Without a validation set there is no val curve, so no legend entry for one. */
    size_t nseries = has_values(loss[VAL], n) || has_values(met[VAL], n) ? 2 : 1;
    ft_plot_series lr_s = {NULL, epoch, lr, n, lr_colour, NULL, NULL};
    size_t nmarks = phase_marks(epoch, phase, n, marks);
    ft_plot_panel panels[3] = {{"loss", "epoch", loss_s, nseries, marks, nmarks},
                               {metric, "epoch", met_s, nseries, marks, nmarks},
                               {"learning rate", "epoch", &lr_s, 1, marks, nmarks}};
    rc = ft_plot_lines_png(title, panels, varies(lr, n) ? 3 : 2, width, height, png, png_len, areas, err);
done:
    free(epoch);
    free(lr);
    free(phase);
    free(marks);
    for (int i = 0; i < 2; i++) {
        free(loss[i]);
        free(met[i]);
    }
    return rc;
}
