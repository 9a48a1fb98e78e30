/* Sweeps: one request that expands a job spec over a grid of field values
 * and a list of seeds, and the leaderboard that ranks the variants by a
 * metric over their seeds (POST /v1/sweeps, docs/design.md "Sweeps").
 * Nothing of HTTP: the routes (server/api/routes_sweeps.c) and the workers
 * use this. */
#ifndef FT_SWEEP_H
#define FT_SWEEP_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "server/app/app.h"

/* A sweep request, expanded. */
typedef struct {
    json_t *variants;    /* [{"values": {grid key: value}, "label": "k=v ...", "spec": job spec}], grid order */
    json_t *seeds;       /* the seeds, each variant's jobs in this order */
    const char *metric;  /* "test.accuracy": the request's (borrowed) */
    bool higher_better;  /* accuracy and F1 up, losses and errors down */
} ft_sweep_plan;

/* Expand a POST /v1/sweeps body {"spec", "grid", "seeds"?, "metric"?,
 * "name"?} into its variants: the cartesian product of the grid's value
 * lists, the first key varying slowest. A grid key is a job-spec field, or
 * a dotted path into one ("optimizer.lr", "head.hidden"): each variant is
 * the spec with those fields set (missing objects on the path created).
 * Fields that only make sense together are one key, comma-separated, with
 * one array per value: {"drop_layers,head.hidden": [[1, []], [2, [128]]]}.
 * A variant's "values" name each field on its own.
 * Every variant's spec gets the sweep's name and variant label as its name
 * and no seed (each job sets one). Refused (FT_EINVAL naming the field): an
 * empty grid or value list, the key "seed" (use seeds), an unknown metric,
 * and more than max_jobs variants x seeds. The spec checks themselves are
 * the caller's (ft_job_check_stored on each job). */
int ft_sweep_expand(const json_t *body, size_t max_jobs, ft_sweep_plan *plan, ft_error *err);
void ft_sweep_plan_free(ft_sweep_plan *plan);

/* Whether a larger value of the metric (a "test.*" or "validation.*" key of
 * the job's test_metrics or validation_metrics) is better. */
bool ft_sweep_higher_better(const char *metric);

/* Statistics of one variant's metric over its seeds. */
typedef struct {
    size_t n;          /* values (succeeded jobs with the metric) */
    double mean;       /* 0 if n == 0 */
    double std;        /* sample standard deviation (n - 1 divisor); 0 if n < 2 */
    double min, max;   /* 0 if n == 0 */
} ft_sweep_stats;

/* The statistics of v[0..n). */
void ft_sweep_stats_of(const double *v, size_t n, ft_sweep_stats *out);

/* The leaderboard of a stored sweep (its object with "variants", "seeds"
 * and "metric") from its jobs (ft_store_sweep_jobs: job k belongs to
 * variant k / seeds, seed k % seeds): one row per variant, best mean first
 * (variants without a value last, in grid order), each {"rank", "variant"
 * (its grid index), "label", "values", "n", "mean", "std", "min", "max",
 * "seconds_total", "seconds_mean", "jobs": [{"id", "seed", "status",
 * "value", "url"}]}; statistics are null when n is 0 (std when n < 2). */
json_t *ft_sweep_leaderboard(const json_t *sweep, const json_t *jobs, ft_error *err);

/* A job ended (succeeded, failed, cancelled): if it was the last running
 * job of its sweep, the sweep completes (ft_store_sweep_settle) and it is
 * logged. Called by the workers and the cancel routes. */
void ft_sweep_job_ended(ft_app *app, const char *job_id);

#endif
