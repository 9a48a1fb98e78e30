/* Expanding a sweep request into its variants (sweep.h). */
#include "server/sweeps/sweep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/job/spec_fields.h"

#define MAX_LABEL 1024

bool ft_sweep_higher_better(const char *metric)
{
    static const char *const lower[] = {"loss", "mae", "rmse", "mse", "error", NULL};
    for (const char *const *w = lower; *w; w++)
        if (strstr(metric, *w))
            return false;
    return true;
}

/* The metric: "<set>.<name>", the set one the spec evaluates on. */
static int check_metric(const char *metric, const json_t *spec, ft_error *err)
{
    static const char *const names[] = {"accuracy", "loss", "mae", "rmse", "macro_f1", NULL};
    const char *dot = strchr(metric, '.');
    bool known = false;
    for (const char *const *n = names; dot && *n; n++)
        known |= strcmp(dot + 1, *n) == 0;
    bool test = dot && strncmp(metric, "test.", 5) == 0, val = dot && strncmp(metric, "validation.", 11) == 0;
    if (!known || (!test && !val))
        return ft_fail(err, FT_EINVAL, "metric",
                       "metric must be test.<name> or validation.<name> with a name among accuracy, loss, mae, "
                       "rmse and macro_f1, not '%s'",
                       metric);
    const json_t *set = json_object_get(spec, test ? "test" : "validation");
    if (!set || json_is_null(set))
        return ft_fail(err, FT_EINVAL, "metric", "metric %s needs a %s set in the spec", metric,
                       test ? "test" : "validation");
    return 0;
}

/* Set the dotted path key of spec to value (null: remove it), creating
 * missing objects. */
static int set_path(json_t *spec, const char *key, json_t *value, ft_error *err)
{
    char param[128];
    snprintf(param, sizeof param, "grid.%.100s", key);
    json_t *at = spec;
    const char *seg = key;
    for (const char *dot; (dot = strchr(seg, '.')); seg = dot + 1) {
        char name[128];
        if (dot == seg || (size_t)(dot - seg) >= sizeof name)
            return ft_fail(err, FT_EINVAL, param, "grid key '%s' has an empty or overlong part", key);
        memcpy(name, seg, (size_t)(dot - seg));
        name[dot - seg] = '\0';
        json_t *next = json_object_get(at, name);
        if (!next || json_is_null(next)) {
            if (!(next = json_object()) || json_object_set_new(at, name, next) != 0)
                return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        } else if (!json_is_object(next))
            return ft_fail(err, FT_EINVAL, param, "grid key '%s': %s is not an object in the spec", key, name);
        at = next;
    }
    if (!*seg)
        return ft_fail(err, FT_EINVAL, param, "grid key '%s' has an empty part", key);
    /* null leaves the field out (its default applies), so a tied key can
     * swap fields that exclude each other, such as freeze and phases. */
    if (json_is_null(value)) {
        json_object_del(at, seg);
        return 0;
    }
    return json_object_set(at, seg, value) == 0 ? 0 : ft_fail(err, FT_ENOMEM, NULL, "out of memory");
}

/* How many fields a grid key sets: "a,b" varies a and b together. */
static size_t tied_fields(const char *key)
{
    size_t n = 1;
    for (const char *c = key; *c; c++)
        n += *c == ',';
    return n;
}

/* Whether one of the key's fields is `field` or a path into it (the
 * sweep sets those itself). */
static bool sets_own_field(const char *key, const char *field)
{
    size_t len = strlen(field);
    for (const char *f = key; f; f = strchr(f, ',') ? strchr(f, ',') + 1 : NULL)
        if (strncmp(f, field, len) == 0 && (f[len] == ',' || f[len] == '.' || f[len] == '\0'))
            return true;
    return false;
}

/* The grid's keys and value lists, checked; *variants gets their product,
 * which is at most max_variants. */
static int check_grid(const json_t *grid, size_t max_variants, size_t *variants, ft_error *err)
{
    if (!json_is_object(grid) || json_object_size(grid) == 0)
        return ft_fail(err, FT_EINVAL, "grid",
                       "grid must be an object naming at least one spec field and its values, e.g. "
                       "{\"init\": [\"he_normal\", \"zeros\"]}");
    const char *key;
    json_t *values;
    *variants = 1;
    json_object_foreach((json_t *)grid, key, values) {
        char param[128];
        snprintf(param, sizeof param, "grid.%.100s", key);
        if (!*key || strlen(key) > 100)
            return ft_fail(err, FT_EINVAL, "grid", "grid keys must be 1 to 100 characters");
        if (sets_own_field(key, "seed"))
            return ft_fail(err, FT_EINVAL, param, "seed is set by the sweep itself: give the seeds as \"seeds\"");
        if (sets_own_field(key, "webhook"))
            return ft_fail(err, FT_EINVAL, param, "webhook cannot vary in a sweep: register an endpoint (POST /v1/webhooks)");
        if (sets_own_field(key, "name"))
            return ft_fail(err, FT_EINVAL, param, "name is set by the sweep itself: give the sweep a \"name\"");
        if (!json_is_array(values) || json_array_size(values) == 0)
            return ft_fail(err, FT_EINVAL, param, "grid.%s must be a non-empty array of values", key);
        size_t fields = tied_fields(key);
        size_t i;
        json_t *v;
        json_array_foreach(values, i, v)
            if (fields > 1 && (!json_is_array(v) || json_array_size(v) != fields))
                return ft_fail(err, FT_EINVAL, param,
                               "grid.%s varies %zu fields together: each value must be an array of %zu values", key,
                               fields, fields);
        if (json_array_size(values) > max_variants / *variants)
            return ft_fail(err, FT_EINVAL, "grid", "the grid has more than %zu variants", max_variants);
        *variants *= json_array_size(values);
    }
    return 0;
}

/* "key=value key=value" in grid order: strings as they are, other values
 * as compact JSON. */
static void variant_label(const json_t *values, char *out, size_t n)
{
    size_t len = 0;
    const char *key;
    json_t *v;
    out[0] = '\0';
    json_object_foreach((json_t *)values, key, v) {
        char *text = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));
        const char *shown = json_is_string(v) ? json_string_value(v) : text ? text : "?";
        if (len < n)
            len += (size_t)snprintf(out + len, n - len, "%s%s=%s", len ? " " : "", key, shown);
        free(text);
    }
}

/* Variant i of the grid: its values (mixed radix over the value lists, the
 * last key fastest) and its spec. */
static json_t *variant(const json_t *spec, const json_t *grid, size_t i, const char *name, ft_error *err)
{
    json_t *values = json_object(), *vspec = json_deep_copy(spec);
    int rc = values && vspec ? 0 : ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    const char *key;
    json_t *list;
    size_t below = 1;
    json_object_foreach((json_t *)grid, key, list)
        below *= json_array_size(list);
    json_object_foreach((json_t *)grid, key, list) {
        below /= json_array_size(list);
        json_t *v = json_array_get(list, i / below % json_array_size(list));
        size_t fields = tied_fields(key);
        const char *field = key;
        for (size_t f = 0; rc == 0 && f < fields; f++) {
            char name[128];
            size_t len = strcspn(field, ",");
            snprintf(name, sizeof name, "%.*s", (int)len, field);
            json_t *fv = fields > 1 ? json_array_get(v, f) : v;
            rc = set_path(vspec, name, fv, err);
            if (rc == 0 && json_object_set(values, name, fv) != 0)
                rc = ft_fail(err, FT_ENOMEM, NULL, "out of memory");
            field += len + 1;
        }
    }
    char label[MAX_LABEL], full[MAX_LABEL + 160];
    json_t *out = NULL;
    if (rc == 0) {
        variant_label(values, label, sizeof label);
        snprintf(full, sizeof full, "%.150s: %s", name, label);
        json_object_del(vspec, "seed");
        if (json_object_set_new(vspec, "name", json_string(full)) != 0 ||
            !(out = json_pack("{s:O, s:s, s:O}", "values", values, "label", label, "spec", vspec)))
            ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    }
    json_decref(values);
    json_decref(vspec);
    return out;
}

static int check_seeds(const json_t *seeds, ft_error *err)
{
    if (!json_is_array(seeds) || json_array_size(seeds) == 0)
        return ft_fail(err, FT_EINVAL, "seeds", "seeds must be a non-empty array of integers");
    size_t i, j;
    json_t *s, *t;
    json_array_foreach(seeds, i, s) {
        if (!json_is_integer(s) || json_integer_value(s) < 0 || json_integer_value(s) > 2147483647)
            return ft_fail(err, FT_EINVAL, "seeds", "seeds must be integers from 0 to 2147483647");
        json_array_foreach(seeds, j, t)
            if (j < i && json_integer_value(t) == json_integer_value(s))
                return ft_fail(err, FT_EINVAL, "seeds", "seed %lld is given twice", (long long)json_integer_value(s));
    }
    return 0;
}

int ft_sweep_expand(const json_t *body, size_t max_jobs, ft_sweep_plan *plan, ft_error *err)
{
    static const char *const keys[] = {"spec", "grid", "seeds", "metric", "name", NULL};
    memset(plan, 0, sizeof *plan);
    if (!json_is_object(body))
        return ft_fail(err, FT_EINVAL, "", "the sweep must be a JSON object");
    if (ft_spec_keys(body, "", keys, err) != 0)
        return -1;
    const json_t *spec = json_object_get(body, "spec"), *grid = json_object_get(body, "grid");
    const json_t *name = json_object_get(body, "name"), *metric = json_object_get(body, "metric");
    if (!json_is_object(spec))
        return ft_fail(err, FT_EINVAL, "spec", "spec must be a job spec (an object)");
    /* A job's own endpoint is created with the job; a sweep's jobs have
     * none, so a registered endpoint is the way to hear them. */
    if (json_object_get(spec, "webhook"))
        return ft_fail(err, FT_EINVAL, "spec.webhook",
                       "a sweep's jobs cannot carry their own webhook: register an endpoint (POST /v1/webhooks) "
                       "for sweep.completed or the job events");
    if (name && !json_is_string(name))
        return ft_fail(err, FT_EINVAL, "name", "name must be a string");
    if (metric && !json_is_string(metric))
        return ft_fail(err, FT_EINVAL, "metric", "metric must be a string such as \"test.accuracy\"");
    plan->metric = metric ? json_string_value(metric) : "test.accuracy";
    plan->higher_better = ft_sweep_higher_better(plan->metric);
    const json_t *spec_seed = json_object_get(spec, "seed");
    plan->seeds = json_object_get(body, "seeds") ? json_incref(json_object_get(body, "seeds"))
                                                 : json_pack("[o]", spec_seed ? json_incref((json_t *)spec_seed) : json_integer(42));
    size_t nvariants = 0;
    if (!plan->seeds || check_seeds(plan->seeds, err) != 0 || check_metric(plan->metric, spec, err) != 0 ||
        check_grid(grid, max_jobs, &nvariants, err) != 0)
        goto fail;
    if (nvariants > max_jobs / json_array_size(plan->seeds)) {
        ft_fail(err, FT_EINVAL, "grid", "%zu variants x %zu seeds is more than the %zu jobs a sweep may have (--max-sweep-jobs)",
                nvariants, json_array_size(plan->seeds), max_jobs);
        goto fail;
    }
    if (!(plan->variants = json_array()))
        goto fail;
    for (size_t i = 0; i < nvariants; i++) {
        json_t *v = variant(spec, grid, i, name ? json_string_value(name) : "sweep", err);
        if (!v || json_array_append_new(plan->variants, v) != 0)
            goto fail;
    }
    return 0;
fail:
    if (!err->code)
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    ft_sweep_plan_free(plan);
    return -1;
}

void ft_sweep_plan_free(ft_sweep_plan *plan)
{
    json_decref(plan->variants);
    json_decref(plan->seeds);
    memset(plan, 0, sizeof *plan);
}
