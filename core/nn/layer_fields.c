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

int ft_field_padding(const ft_layer_fields *f, const char *key, ft_layer *l)
{
    json_t *v = json_object_get(f->obj, key);
    if (!v)
        return 0;
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    int p[4];
    bool ok = n == 1 || n == 2 || n == 4;
    for (size_t i = 0; ok && i < n; i++) {
        json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
        ok = json_is_integer(e) && json_integer_value(e) >= 0 && json_integer_value(e) <= FT_MAX_WINDOW;
        p[i] = ok ? (int)json_integer_value(e) : 0;
    }
    if (!ok || (json_is_array(v) && n == 1)) {
        char range[96];
        snprintf(range, sizeof range, " (or [h, w], or [top, left, bottom, right]) between 0 and %d", FT_MAX_WINDOW);
        return ft_field_fail(f, key, "%s must be an integer%s", range);
    }
    l->ph = p[0];
    l->pw = n == 1 ? p[0] : p[1];
    l->pb = n == 4 ? p[2] : l->ph;
    l->pr = n == 4 ? p[3] : l->pw;
    return 0;
}

int ft_field_shape(const ft_layer_fields *f, const char *key, bool infer, ft_shape *out)
{
    json_t *v = json_object_get(f->obj, key);
    size_t n = json_array_size(v);
    bool ok = json_is_array(v) && n >= 1 && n <= FT_SHAPE_MAX_RANK;
    int inferred = 0;
    for (size_t i = 0; ok && i < n; i++) {
        json_t *e = json_array_get(v, i);
        json_int_t d = json_is_integer(e) ? json_integer_value(e) : 0;
        inferred += d == -1;
        ok = (d >= 1 && d <= (1 << 28)) || (d == -1 && infer && inferred == 1);
        out->dim[i] = (int)d;
    }
    if (!ok) {
        char what[96];
        snprintf(what, sizeof what, " of 1 to %d sizes%s", FT_SHAPE_MAX_RANK, infer ? " (one may be -1)" : "");
        return ft_field_fail(f, key, "%s must be an array%s", what);
    }
    out->rank = (int)n;
    return 0;
}

int ft_field_bool(const ft_layer_fields *f, const char *key, bool *out)
{
    json_t *v = json_object_get(f->obj, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return ft_field_fail(f, key, "%s must be true or false%s", "");
    *out = json_is_true(v);
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

json_t *ft_field_padding_json(const ft_layer *l)
{
    if (l->pb == l->ph && l->pr == l->pw)
        return ft_field_pair_json(l->ph, l->pw);
    return json_pack("[i,i,i,i]", l->ph, l->pw, l->pb, l->pr);
}

/* Here rather than beside ft_shape_from_json (model_json.c): layer types
 * emit shapes, and model_json.c calls the layer types. */
json_t *ft_shape_to_json(ft_shape s)
{
    json_t *a = json_array();
    for (int i = 0; a && i < s.rank; i++)
        json_array_append_new(a, json_integer(s.dim[i]));
    return a;
}
