/* Reading one field of a job spec object (spec_fields.h). */
#include <stdio.h>
#include <string.h>

#include "core/job/spec_fields.h"
#include "core/train/train.h"

int ft_spec_keys(const json_t *obj, const char *path, const char *const *allowed, ft_error *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, key) == 0;
        if (!ok) {
            char p[160];
            snprintf(p, sizeof p, "%s%s%s", path, *path ? "." : "", key);
            return ft_fail(err, FT_EINVAL, p, "unknown field '%s'", key);
        }
    }
    return 0;
}

void ft_spec_path(char *out, size_t n, const char *path, const char *key)
{
    snprintf(out, n, "%s%s%s", path, *path ? "." : "", key);
}

int ft_spec_int(const json_t *obj, const char *path, const char *key, long long lo, long long hi, long long *out,
                ft_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    char p[160];
    ft_spec_path(p, sizeof p, path, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return ft_fail(err, FT_EINVAL, p, "%s must be an integer between %lld and %lld", p, lo, hi);
    *out = json_integer_value(v);
    return 0;
}

int ft_spec_num(const json_t *obj, const char *path, const char *key, double lo, double hi, double *out,
                ft_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    char p[160];
    ft_spec_path(p, sizeof p, path, key);
    if (!json_is_number(v) || !(json_number_value(v) >= lo && json_number_value(v) <= hi))
        return ft_fail(err, FT_EINVAL, p, "%s must be a number between %g and %g", p, lo, hi);
    *out = json_number_value(v);
    return 0;
}

int ft_spec_bool(const json_t *obj, const char *path, const char *key, bool *out, ft_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    char p[160];
    ft_spec_path(p, sizeof p, path, key);
    if (!json_is_boolean(v))
        return ft_fail(err, FT_EINVAL, p, "%s must be true or false", p);
    *out = json_is_true(v);
    return 0;
}


int ft_spec_metric(const json_t *obj, const char *path, char *out, size_t n, ft_error *err)
{
    json_t *v = json_object_get(obj, "metric");
    if (!v)
        return 0;
    char p[160];
    ft_spec_path(p, sizeof p, path, "metric");
    if (!json_is_string(v) || !ft_train_metric_known(json_string_value(v)))
        return ft_fail(err, FT_EINVAL, p, "%s must be train_ or val_ followed by loss, accuracy, mae or rmse", p);
    snprintf(out, n, "%s", json_string_value(v));
    return 0;
}
