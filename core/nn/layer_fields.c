/* Layer JSON fields with field-path errors (shared by every layer type). */
#include "core/nn/layer_fields.h"

#include <stdio.h>

int ft_field_fail(const ft_layer_fields *f, const char *key, const char *fmt, const char *what)
{
    char p[192];
    snprintf(p, sizeof p, "%s.%s", f->param, key);
    return ft_fail(f->err, FT_EINVAL, p, fmt, key, what);
}

int ft_field_int(const ft_layer_fields *f, const char *key, int lo, int hi, bool required, int *out)
{
    json_t *v = json_object_get(f->obj, key);
    if (!v) {
        if (required)
            return ft_field_fail(f, key, "%s is required%s", "");
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        char range[64];
        snprintf(range, sizeof range, " between %d and %d", lo, hi);
        return ft_field_fail(f, key, "%s must be an integer%s", range);
    }
    *out = (int)json_integer_value(v);
    return 0;
}

int ft_field_pair(const ft_layer_fields *f, const char *key, int lo, int hi, int *h, int *w)
{
    json_t *v = json_object_get(f->obj, key);
    if (!v)
        return 0;
    json_t *a = json_is_array(v) ? json_array_get(v, 0) : v;
    json_t *b = json_is_array(v) ? json_array_get(v, 1) : v;
    if ((json_is_array(v) && json_array_size(v) != 2) || !json_is_integer(a) || !json_is_integer(b) ||
        json_integer_value(a) < lo || json_integer_value(a) > hi || json_integer_value(b) < lo ||
        json_integer_value(b) > hi) {
        char range[64];
        snprintf(range, sizeof range, " (or an [h, w] pair) between %d and %d", lo, hi);
        return ft_field_fail(f, key, "%s must be an integer%s", range);
    }
    *h = (int)json_integer_value(a);
    *w = (int)json_integer_value(b);
    return 0;
}

int ft_field_number(const ft_layer_fields *f, const char *key, double lo, double hi_excl, double *out)
{
    json_t *v = json_object_get(f->obj, key);
    if (!v)
        return 0;
    if (!json_is_number(v) || !(json_number_value(v) >= lo && json_number_value(v) < hi_excl)) {
        char range[64];
        snprintf(range, sizeof range, " in [%g, %g)", lo, hi_excl);
        return ft_field_fail(f, key, "%s must be a number%s", range);
    }
    *out = json_number_value(v);
    return 0;
}

json_t *ft_field_pair_json(int a, int b) { return json_pack("[i,i]", a, b); }
