/* The leaderboard of a sweep (sweep.h): each variant's metric over its
 * seeds, best first. */
#include "server/sweeps/sweep.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ft_sweep_stats_of(const double *v, size_t n, ft_sweep_stats *out)
{
    memset(out, 0, sizeof *out);
    out->n = n;
    if (n == 0)
        return;
    double sum = 0;
    out->min = out->max = v[0];
    for (size_t i = 0; i < n; i++) {
        sum += v[i];
        out->min = fmin(out->min, v[i]);
        out->max = fmax(out->max, v[i]);
    }
    out->mean = sum / (double)n;
    /* Two passes: the textbook one-pass formula loses digits when the
     * values are close together, as seeds' accuracies are. */
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (v[i] - out->mean) * (v[i] - out->mean);
    /* Equal values have no spread, whatever the rounding of their mean. */
    out->std = n > 1 && out->min < out->max ? sqrt(ss / (double)(n - 1)) : 0;
}

/* The metric's value in a job, or NAN if it has none (not succeeded). */
static double metric_of(const json_t *job, const char *metric)
{
    const char *dot = strchr(metric, '.');
    const char *set = strncmp(metric, "test.", 5) == 0 ? "test_metrics" : "validation_metrics";
    json_t *v = json_object_get(json_object_get(job, set), dot ? dot + 1 : metric);
    bool ok = json_is_number(v) && strcmp(json_string_value(json_object_get(job, "status")), "succeeded") == 0;
    return ok ? json_number_value(v) : NAN;
}

/* A statistic, or null without one. */
static json_t *stat(double v, bool have)
{
    return have ? json_real(v) : json_null();
}

/* The row of variant vi: its jobs and their statistics. */
static json_t *variant_row(const json_t *variant, size_t vi, const json_t *seeds, const json_t *jobs,
                           const char *metric)
{
    size_t nseeds = json_array_size(seeds), n = 0;
    double values[nseeds ? nseeds : 1], seconds = 0;
    json_t *links = json_array();
    for (size_t s = 0; links && s < nseeds; s++) {
        const json_t *job = json_array_get(jobs, vi * nseeds + s);
        if (!job)
            break;
        double v = metric_of(job, metric);
        if (!isnan(v)) {
            values[n++] = v;
            seconds += json_number_value(json_object_get(job, "train_seconds"));
        }
        const char *id = json_string_value(json_object_get(job, "id"));
        char url[128];
        snprintf(url, sizeof url, "/v1/jobs/%s", id ? id : "");
        json_array_append_new(links, json_pack("{s:s?, s:O, s:O, s:o, s:s}", "id", id, "seed",
                                               json_array_get(seeds, s), "status", json_object_get(job, "status"),
                                               "value", stat(v, !isnan(v)), "url", url));
    }
    ft_sweep_stats st;
    ft_sweep_stats_of(values, n, &st);
    return json_pack("{s:I, s:O, s:O, s:I, s:o, s:o, s:o, s:o, s:f, s:o, s:o}", "variant", (json_int_t)vi, "label",
                     json_object_get(variant, "label"), "values", json_object_get(variant, "values"), "n",
                     (json_int_t)n, "mean", stat(st.mean, n > 0), "std", stat(st.std, n > 1), "min",
                     stat(st.min, n > 0), "max", stat(st.max, n > 0), "seconds_total", seconds, "seconds_mean",
                     stat(seconds / (double)(n ? n : 1), n > 0), "jobs", links);
}

/* qsort context: the direction (qsort_r is not C11). */
typedef struct {
    json_t *row;
    bool higher_better;
} ranked;

static int better_first(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    json_t *mx = json_object_get(x->row, "mean"), *my = json_object_get(y->row, "mean");
    if (json_is_null(mx) != json_is_null(my))
        return json_is_null(mx) ? 1 : -1;
    double dx = json_real_value(mx), dy = json_real_value(my);
    if (!json_is_null(mx) && dx != dy)
        return (dx > dy) == x->higher_better ? -1 : 1;
    /* Ties keep grid order, so the ranking is stable. */
    json_int_t ix = json_integer_value(json_object_get(x->row, "variant"));
    json_int_t iy = json_integer_value(json_object_get(y->row, "variant"));
    return ix < iy ? -1 : ix > iy;
}

json_t *ft_sweep_leaderboard(const json_t *sweep, const json_t *jobs, ft_error *err)
{
    const json_t *variants = json_object_get(sweep, "variants"), *seeds = json_object_get(sweep, "seeds");
    const char *metric = json_string_value(json_object_get(sweep, "metric"));
    size_t nv = json_array_size(variants);
    if (!metric || !json_is_array(seeds) || json_array_size(jobs) != nv * json_array_size(seeds)) {
        ft_fail(err, FT_EIO, NULL, "the sweep's row does not match its %zu jobs", json_array_size(jobs));
        return NULL;
    }
    ranked *rows = calloc(nv ? nv : 1, sizeof *rows);
    json_t *board = rows ? json_array() : NULL;
    bool ok = board != NULL;
    for (size_t i = 0; ok && i < nv; i++) {
        rows[i] = (ranked){variant_row(json_array_get(variants, i), i, seeds, jobs, metric),
                           ft_sweep_higher_better(metric)};
        ok = rows[i].row != NULL;
    }
    if (ok)
        qsort(rows, nv, sizeof *rows, better_first);
    for (size_t i = 0; i < nv; i++) {
        if (ok && rows[i].row)
            ok = json_object_set_new(rows[i].row, "rank", json_integer((json_int_t)i + 1)) == 0 &&
                 json_array_append(board, rows[i].row) == 0;
        json_decref(rows[i].row);
    }
    free(rows);
    if (!ok) {
        json_decref(board);
        ft_fail(err, FT_ENOMEM, NULL, "out of memory building the leaderboard");
        return NULL;
    }
    return board;
}
