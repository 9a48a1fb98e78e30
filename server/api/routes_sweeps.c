/* /v1/sweeps: submit a grid of job specs over seeds (every job checked
 * before any is queued, all queued in one transaction), the sweep with its
 * leaderboard, results.csv, chart.png and cancel. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/plot/plot.h"
#include "server/api/routes.h"
#include "server/objects/job_check.h"
#include "server/sweeps/sweep.h"
#include "server/worker/worker.h"

/* The jobs of one variant, one per seed, checked as POST /v1/jobs checks a
 * spec, appended to jobs. False after replying the refusal, which names the
 * variant (its grid values) and the field. */
static bool variant_jobs(ft_app *app, ft_req *r, const json_t *variant, size_t vi, size_t nvariants,
                         const json_t *seeds, json_t *jobs)
{
    size_t i;
    json_t *seed;
    json_array_foreach(seeds, i, seed) {
        json_t *spec = json_deep_copy(json_object_get(variant, "spec")), *warnings = NULL;
        ft_job_spec js = {0};
        ft_error err = {0};
        const char *code = NULL;
        int rc = spec && json_object_set(spec, "seed", seed) == 0
                     ? ft_job_check_stored(app, spec, &js, &warnings, &err, &code)
                     : ft_fail(&err, FT_ENOMEM, NULL, "out of memory");
        if (rc == 0) {
            char id[64];
            ft_app_new_id("job", id, sizeof id);
            json_t *obj = ft_job_object(&js, id, warnings, app->cfg.max_attempts);
            rc = obj && json_array_append_new(jobs, obj) == 0 ? 0 : ft_fail(&err, FT_ENOMEM, NULL, "out of memory");
        }
        ft_job_spec_free(&js);
        json_decref(warnings);
        json_decref(spec);
        if (rc != 0) {
            ft_error_prefix(&err, "variant %zu of %zu (%s)", vi + 1, nvariants,
                            json_string_value(json_object_get(variant, "label")));
            ft_reply_check_error(r, &err, code);
            return false;
        }
    }
    return true;
}

/* The sweep with its leaderboard, or NULL after replying an error. A sweep
 * whose jobs all ended but that was never marked complete (its last job's
 * process died in between) is completed here. */
static json_t *sweep_view(ft_app *app, ft_req *r, const char *id, json_t **board)
{
    ft_error err = {0};
    json_t *sweep = ft_store_sweep_get(app->store, id, &err);
    json_t *jobs = sweep ? ft_store_sweep_jobs(app->store, id, &err) : NULL;
    if (jobs && json_is_null(json_object_get(sweep, "completed_at")) &&
        strcmp(json_string_value(json_object_get(sweep, "status")), "running") != 0) {
        json_t *last = json_array_get(jobs, json_array_size(jobs) - 1);
        ft_sweep_job_ended(app, json_string_value(json_object_get(last, "id")));
        json_decref(sweep);
        sweep = ft_store_sweep_get(app->store, id, &err);
    }
    *board = sweep && jobs ? ft_sweep_leaderboard(sweep, jobs, &err) : NULL;
    json_decref(jobs);
    if (!*board) {
        json_decref(sweep);
        ft_reply_ft_error(r, &err, 422);
        return NULL;
    }
    return sweep;
}

/* The sweep object as GET returns it. */
static void reply_sweep(ft_app *app, ft_req *r, const char *id, unsigned status)
{
    json_t *board, *sweep = sweep_view(app, r, id, &board);
    if (!sweep)
        return;
    json_object_set_new(sweep, "leaderboard", board);
    ft_reply_json(r, status, sweep);
}

void ft_route_sweep_create(ft_app *app, ft_req *r)
{
    ft_sweep_plan plan;
    ft_error err = {0};
    const json_t *body = ft_req_json(r);
    if (ft_sweep_expand(body, (size_t)app->cfg.max_sweep_jobs, &plan, &err) != 0) {
        ft_reply_ft_error(r, &err, 422);
        return;
    }
    json_t *jobs = json_array(), *variants = json_array(), *sweep = NULL, *existing = NULL;
    const char *key;
    char hash[FT_REQUEST_HASH];
    if (!ft_route_idempotency(r, &key, hash))
        goto done;
    size_t nv = json_array_size(plan.variants), i;
    json_t *v;
    json_array_foreach(plan.variants, i, v) {
        if (!jobs || !variants ||
            json_array_append_new(variants, json_pack("{s:O, s:O}", "values", json_object_get(v, "values"), "label",
                                                      json_object_get(v, "label"))) != 0) {
            ft_reply_error(r, 503, "out_of_memory", NULL, "out of memory");
            goto done;
        }
        if (!variant_jobs(app, r, v, i, nv, plan.seeds, jobs))
            goto done;
    }
    char id[64];
    ft_app_new_id("swp", id, sizeof id);
    const json_t *name = json_object_get(body, "name");
    sweep = json_pack("{s:s, s:O, s:O, s:O, s:O, s:s, s:b, s:O}", "id", id, "name", name ? name : json_null(), "spec",
                      json_object_get(body, "spec"), "grid", json_object_get(body, "grid"), "seeds", plan.seeds,
                      "metric", plan.metric, "higher_is_better", plan.higher_better, "variants", variants);
    if (!sweep || ft_store_sweep_insert(app->store, sweep, jobs, key, hash, &existing, &err) != 0) {
        if (!sweep)
            ft_fail(&err, FT_ENOMEM, NULL, "out of memory");
        ft_reply_ft_error(r, &err, 409);
        goto done;
    }
    if (existing) {
        ft_reply_header(r, "Idempotent-Replayed", "true");
        reply_sweep(app, r, json_string_value(json_object_get(existing, "id")), 200);
        goto done;
    }
    ft_app_log(app, "sweep_queued", "sweep", id, "request_id", ft_req_id(r), NULL);
    ft_workers_wake(app->workers);
    reply_sweep(app, r, id, 201);
done:
    json_decref(existing);
    json_decref(sweep);
    json_decref(variants);
    json_decref(jobs);
    ft_sweep_plan_free(&plan);
}

void ft_route_sweep_get(ft_app *app, ft_req *r)
{
    const char *id = ft_route_id(r, "swp", "sweep");
    if (id)
        reply_sweep(app, r, id, 200);
}

void ft_route_sweep_cancel(ft_app *app, ft_req *r)
{
    const char *id = ft_route_id(r, "swp", "sweep");
    if (!id)
        return;
    ft_error err = {0};
    json_t *jobs = ft_store_sweep_cancel(app->store, id, &err) == 0 ? ft_store_sweep_jobs(app->store, id, &err) : NULL;
    if (!jobs) {
        ft_reply_ft_error(r, &err, 409);
        return;
    }
    size_t i;
    json_t *job;
    json_array_foreach(jobs, i, job) {
        const char *status = json_string_value(json_object_get(job, "status"));
        json_t *updated = NULL;
        /* A job that ended meanwhile refuses (FT_EINVAL): nothing to do. */
        if ((strcmp(status, "queued") == 0 || strcmp(status, "running") == 0) &&
            ft_route_cancel_job(app, json_string_value(json_object_get(job, "id")), &updated, &err) != 0 &&
            err.code != FT_EINVAL) {
            json_decref(jobs);
            ft_reply_ft_error(r, &err, 409);
            return;
        }
        json_decref(updated);
    }
    json_decref(jobs);
    reply_sweep(app, r, id, 200);
}

/* A CSV cell: a number as is, a string quoted (quotes doubled), other JSON
 * compact and quoted. */
static void csv_cell(FILE *f, const json_t *v, bool first)
{
    if (!first)
        fputc(',', f);
    if (json_is_number(v)) {
        fprintf(f, "%.6g", json_number_value(v));
        return;
    }
    if (json_is_null(v) || !v)
        return;
    char *dump = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));
    const char *text = json_is_string(v) ? json_string_value(v) : dump ? dump : "";
    fputc('"', f);
    for (const char *c = text; *c; c++)
        fputs(*c == '"' ? "\"\"" : (char[2]){*c, 0}, f);
    fputc('"', f);
    free(dump);
}

/* One row per variant, best first: rank, the fields the grid sets (a tied
 * key's fields each in a column), n, the statistics, the seconds and the
 * job ids (space-separated). */
void ft_route_sweep_csv(ft_app *app, ft_req *r)
{
    const char *id = ft_route_id(r, "swp", "sweep");
    json_t *board, *sweep = id ? sweep_view(app, r, id, &board) : NULL;
    if (!sweep)
        return;
    static const char *const stats[] = {"n", "mean", "std", "min", "max", "seconds_total", "seconds_mean", NULL};
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    const json_t *fields = json_object_get(json_array_get(json_object_get(sweep, "variants"), 0), "values");
    if (f) {
        const char *key;
        json_t *v, *row;
        fputs("rank", f);
        json_object_foreach((json_t *)fields, key, v) {
            json_t *name = json_string(key);
            csv_cell(f, name, false);
            json_decref(name);
        }
        for (const char *const *s = stats; *s; s++)
            fprintf(f, ",%s", *s);
        fputs(",jobs\n", f);
        size_t i, j;
        json_array_foreach(board, i, row) {
            fprintf(f, "%lld", (long long)json_integer_value(json_object_get(row, "rank")));
            json_object_foreach((json_t *)fields, key, v)
                csv_cell(f, json_object_get(json_object_get(row, "values"), key), false);
            for (const char *const *s = stats; *s; s++)
                csv_cell(f, json_object_get(row, *s), false);
            fputc(',', f);
            json_array_foreach(json_object_get(row, "jobs"), j, v)
                fprintf(f, "%s%s", j ? " " : "", json_string_value(json_object_get(v, "id")));
            fputc('\n', f);
        }
    }
    json_decref(sweep);
    json_decref(board);
    if (!f || fclose(f) != 0) {
        free(out);
        ft_reply_error(r, 503, "out_of_memory", NULL, "out of memory");
        return;
    }
    ft_reply_bytes(r, 200, "text/csv; charset=utf-8", out, len, true);
}

/* Series colours, cycled. */
static const uint32_t palette[] = {0x1F77B4u, 0xFF7F0Eu, 0x2CA02Cu, 0xD62728u, 0x9467BDu, 0x8C564Bu, 0xE377C2u, 0x7F7F7Fu};

#define CHART_SERIES 16 /* the plot's limit per panel: more variants share one series */

/* The metric per variant (x: its rank) with bars from min to max. */
void ft_route_sweep_chart(ft_app *app, ft_req *r)
{
    const char *id = ft_route_id(r, "swp", "sweep");
    json_t *board, *sweep = id ? sweep_view(app, r, id, &board) : NULL;
    if (!sweep)
        return;
    size_t n = json_array_size(board), nseries = n <= CHART_SERIES ? n : 1;
    double *vals = calloc(4 * (n ? n : 1), sizeof *vals);
    ft_plot_series series[CHART_SERIES];
    char labels[CHART_SERIES][200]; /* "rank. label": the legend names each x */
    ft_error err = {0};
    int rc = vals ? 0 : ft_fail(&err, FT_ENOMEM, NULL, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_t *row = json_array_get(board, i);
        double *x = vals, *y = vals + n, *lo = vals + 2 * n, *hi = vals + 3 * n;
        x[i] = (double)(i + 1);
        y[i] = json_is_null(json_object_get(row, "mean")) ? NAN : json_number_value(json_object_get(row, "mean"));
        lo[i] = json_is_null(json_object_get(row, "min")) ? NAN : json_number_value(json_object_get(row, "min"));
        hi[i] = json_is_null(json_object_get(row, "max")) ? NAN : json_number_value(json_object_get(row, "max"));
        if (i < nseries) {
            snprintf(labels[i], sizeof labels[i], "%zu. %s", i + 1, json_string_value(json_object_get(row, "label")));
            series[i] = (ft_plot_series){nseries == 1 && n > 1 ? "variants" : labels[i], x + i, y + i,
                                         nseries == 1 ? n : 1, palette[i % 8], lo + i, hi + i};
        }
    }
    char title[256], ylabel[96];
    const char *name = json_string_value(json_object_get(sweep, "name"));
    const char *metric = json_string_value(json_object_get(sweep, "metric"));
    snprintf(title, sizeof title, "%.100s: %s, mean and min..max over %zu seeds", name ? name : id, metric,
             json_array_size(json_object_get(sweep, "seeds")));
    snprintf(ylabel, sizeof ylabel, "%s", metric);
    ft_plot_panel panel = {ylabel, "variant (leaderboard rank)", series, nseries, NULL, 0};
    unsigned char *png = NULL;
    size_t png_len = 0;
    if (rc == 0)
        rc = ft_plot_lines_png(title, &panel, 1, 900, 500, &png, &png_len, NULL, &err);
    free(vals);
    json_decref(sweep);
    json_decref(board);
    if (rc != 0) {
        ft_reply_ft_error(r, &err, 422);
        return;
    }
    ft_reply_bytes(r, 200, "image/png", png, png_len, true);
}
