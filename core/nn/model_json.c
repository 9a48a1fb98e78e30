/* Architecture JSON: parsing with field-path errors, and the canonical form. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn/model_internal.h"

#define MAX_UNITS (1 << 20)
#define MAX_FILTERS 65536
#define MAX_WINDOW 64
#define MAX_INPUT_DIM 65536

typedef struct {
    const char *param; /* path of the layer, e.g. "architecture.layers[2]" */
    const json_t *obj;
    ft_error *err;
} field_ctx;

static int fail_field(const field_ctx *c, const char *key, const char *fmt, const char *what)
{
    char p[192];
    snprintf(p, sizeof p, "%s.%s", c->param, key);
    return ft_fail(c->err, FT_EINVAL, p, fmt, key, what);
}

/* Integer field in [lo, hi]; *out keeps its default when absent. */
static int get_int(const field_ctx *c, const char *key, int lo, int hi, bool required, int *out)
{
    json_t *v = json_object_get(c->obj, key);
    if (!v) {
        if (required)
            return fail_field(c, key, "%s is required%s", "");
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        char range[64];
        snprintf(range, sizeof range, " between %d and %d", lo, hi);
        return fail_field(c, key, "%s must be an integer%s", range);
    }
    *out = (int)json_integer_value(v);
    return 0;
}

/* An int or an [h, w] pair in [lo, hi]. */
static int get_pair(const field_ctx *c, const char *key, int lo, int hi, int *h, int *w)
{
    json_t *v = json_object_get(c->obj, key);
    if (!v)
        return 0;
    json_t *a = json_is_array(v) ? json_array_get(v, 0) : v;
    json_t *b = json_is_array(v) ? json_array_get(v, 1) : v;
    if ((json_is_array(v) && json_array_size(v) != 2) || !json_is_integer(a) || !json_is_integer(b) ||
        json_integer_value(a) < lo || json_integer_value(a) > hi || json_integer_value(b) < lo ||
        json_integer_value(b) > hi) {
        char range[64];
        snprintf(range, sizeof range, " (or an [h, w] pair) between %d and %d", lo, hi);
        return fail_field(c, key, "%s must be an integer%s", range);
    }
    *h = (int)json_integer_value(a);
    *w = (int)json_integer_value(b);
    return 0;
}

static int get_number(const field_ctx *c, const char *key, double lo, double hi_excl, double *out)
{
    json_t *v = json_object_get(c->obj, key);
    if (!v)
        return 0;
    if (!json_is_number(v) || !(json_number_value(v) >= lo && json_number_value(v) < hi_excl)) {
        char range[64];
        snprintf(range, sizeof range, " in [%g, %g)", lo, hi_excl);
        return fail_field(c, key, "%s must be a number%s", range);
    }
    *out = json_number_value(v);
    return 0;
}

static int get_activation(const field_ctx *c, ft_layer *l)
{
    json_t *v = json_object_get(c->obj, "activation");
    l->act = FT_ACT_LINEAR;
    l->negative_slope = 0.01f;
    if (v && (!json_is_string(v) || ft_activation_parse(json_string_value(v), &l->act) != 0))
        return fail_field(c, "activation", "%s must be one of linear, relu, leaky_relu, sigmoid, tanh, softmax%s", "");
    double slope = 0.01;
    if (get_number(c, "negative_slope", 0, 1, &slope) != 0)
        return -1;
    if (json_object_get(c->obj, "negative_slope") && l->act != FT_ACT_LEAKY_RELU)
        return fail_field(c, "negative_slope", "%s only applies to leaky_relu%s", "");
    l->negative_slope = (float)slope;
    return 0;
}

static bool key_allowed(const char *key, const char *const *allowed)
{
    for (; *allowed; allowed++)
        if (strcmp(key, *allowed) == 0)
            return true;
    return false;
}

static int parse_padding(const field_ctx *c, ft_layer *l)
{
    json_t *v = json_object_get(c->obj, "padding");
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcmp(s, "valid") == 0) {
            l->ph = l->pw = 0;
            return 0;
        }
        /* "same" keeps H x W: only well defined for stride 1 and odd kernels. */
        if (strcmp(s, "same") == 0 && l->sh == 1 && l->sw == 1 && l->kh % 2 && l->kw % 2) {
            l->ph = l->kh / 2;
            l->pw = l->kw / 2;
            return 0;
        }
        return fail_field(c, "padding", "%s must be an integer, an [h, w] pair, \"valid\", or \"same\" (stride 1, odd kernel)%s", "");
    }
    return get_pair(c, "padding", 0, MAX_WINDOW, &l->ph, &l->pw);
}

static int parse_layer(const json_t *obj, int index, const char *param, ft_layer *l, ft_error *err)
{
    static const char *const dense_keys[] = {"name", "type", "units", "activation", "negative_slope", NULL};
    static const char *const conv_keys[] = {"name", "type", "filters", "kernel", "stride", "padding",
                                            "activation", "negative_slope", NULL};
    static const char *const pool_keys[] = {"name", "type", "size", "stride", "padding", NULL};
    static const char *const plain_keys[] = {"name", "type", NULL};
    static const char *const dropout_keys[] = {"name", "type", "rate", NULL};
    field_ctx c = {param, obj, err};
    memset(l, 0, sizeof *l);
    if (!json_is_object(obj))
        return ft_fail(err, FT_EINVAL, param, "each layer must be an object");
    json_t *type = json_object_get(obj, "type");
    const char *tname = json_string_value(type);
    const char *const *allowed;
    if (!tname)
        return fail_field(&c, "type", "%s is required: dense, conv2d, maxpool2d, avgpool2d, global_avgpool2d, flatten or dropout%s", "");
    if (strcmp(tname, "dense") == 0)
        l->type = FT_LAYER_DENSE, allowed = dense_keys;
    else if (strcmp(tname, "conv2d") == 0)
        l->type = FT_LAYER_CONV2D, allowed = conv_keys;
    else if (strcmp(tname, "maxpool2d") == 0)
        l->type = FT_LAYER_MAXPOOL2D, allowed = pool_keys;
    else if (strcmp(tname, "avgpool2d") == 0)
        l->type = FT_LAYER_AVGPOOL2D, allowed = pool_keys;
    else if (strcmp(tname, "global_avgpool2d") == 0)
        l->type = FT_LAYER_GLOBAL_AVGPOOL2D, allowed = plain_keys;
    else if (strcmp(tname, "flatten") == 0)
        l->type = FT_LAYER_FLATTEN, allowed = plain_keys;
    else if (strcmp(tname, "dropout") == 0)
        l->type = FT_LAYER_DROPOUT, allowed = dropout_keys;
    else
        return fail_field(&c, "type", "%s must be dense, conv2d, maxpool2d, avgpool2d, global_avgpool2d, flatten or dropout%s", "");

    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        if (!key_allowed(key, allowed)) {
            char p[192];
            snprintf(p, sizeof p, "%s.%s", param, key);
            return ft_fail(err, FT_EINVAL, p, "unknown field '%s' for a %s layer", key, tname);
        }
    }
    json_t *name = json_object_get(obj, "name");
    if (name) {
        const char *s = json_string_value(name);
        size_t n = s ? strlen(s) : 0;
        bool ok = n > 0 && n < sizeof l->name;
        for (size_t i = 0; ok && i < n; i++)
            ok = isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-';
        if (!ok)
            return fail_field(&c, "name", "%s must be 1-63 letters, digits, '_' or '-'%s", "");
        memcpy(l->name, s, n + 1);
    } else {
        snprintf(l->name, sizeof l->name, "%s_%d", tname, index);
    }

    switch (l->type) {
    case FT_LAYER_DENSE:
        return get_int(&c, "units", 1, MAX_UNITS, true, &l->units) || get_activation(&c, l) ? -1 : 0;
    case FT_LAYER_CONV2D:
        l->sh = l->sw = 1;
        if (get_int(&c, "filters", 1, MAX_FILTERS, true, &l->filters) != 0)
            return -1;
        if (!json_object_get(obj, "kernel"))
            return fail_field(&c, "kernel", "%s is required%s", "");
        if (get_pair(&c, "kernel", 1, MAX_WINDOW, &l->kh, &l->kw) != 0 ||
            get_pair(&c, "stride", 1, MAX_WINDOW, &l->sh, &l->sw) != 0 || parse_padding(&c, l) != 0)
            return -1;
        return get_activation(&c, l);
    case FT_LAYER_MAXPOOL2D:
    case FT_LAYER_AVGPOOL2D:
        l->kh = l->kw = 2;
        if (get_pair(&c, "size", 1, MAX_WINDOW, &l->kh, &l->kw) != 0)
            return -1;
        l->sh = l->kh, l->sw = l->kw;
        return get_pair(&c, "stride", 1, MAX_WINDOW, &l->sh, &l->sw) ||
                       get_pair(&c, "padding", 0, MAX_WINDOW, &l->ph, &l->pw)
                   ? -1
                   : 0;
    case FT_LAYER_DROPOUT: {
        double rate = 0.5;
        if (get_number(&c, "rate", 0, 1, &rate) != 0)
            return -1;
        l->rate = (float)rate;
        return 0;
    }
    default:
        return 0;
    }
}

int ft_shape_from_json(const json_t *a, ft_shape *out)
{
    size_t rank = json_array_size(a);
    if (!json_is_array(a) || (rank != 1 && rank != 3))
        return -1;
    out->rank = (int)rank;
    memset(out->dim, 0, sizeof out->dim);
    for (size_t i = 0; i < rank; i++) {
        json_t *d = json_array_get(a, i);
        if (!json_is_integer(d) || json_integer_value(d) < 1 || json_integer_value(d) > MAX_INPUT_DIM)
            return -1;
        out->dim[i] = (int)json_integer_value(d);
    }
    return 0;
}

json_t *ft_shape_to_json(ft_shape s)
{
    json_t *a = json_array();
    for (int i = 0; a && i < s.rank; i++)
        json_array_append_new(a, json_integer(s.dim[i]));
    return a;
}

ft_model *ft_model_layout_from_json(const json_t *arch, const char *param, ft_error *err)
{
    char p[160];
    const char *base = param ? param : "";
    const char *dot = *base ? "." : "";
    if (!json_is_object(arch)) {
        ft_fail(err, FT_EINVAL, base, "the architecture must be an object with input and layers");
        return NULL;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)arch, key, v) {
        if (strcmp(key, "input") != 0 && strcmp(key, "layers") != 0) {
            snprintf(p, sizeof p, "%s%s%s", base, dot, key);
            ft_fail(err, FT_EINVAL, p, "unknown field '%s' (expected input and layers)", key);
            return NULL;
        }
    }
    ft_shape input;
    snprintf(p, sizeof p, "%s%sinput", base, dot);
    if (ft_shape_from_json(json_object_get(arch, "input"), &input) != 0) {
        ft_fail(err, FT_EINVAL, p, "input must be [features] or [channels, height, width] with sizes 1..%d",
                MAX_INPUT_DIM);
        return NULL;
    }
    json_t *layers = json_object_get(arch, "layers");
    snprintf(p, sizeof p, "%s%slayers", base, dot);
    size_t n = json_array_size(layers);
    if (!json_is_array(layers) || n < 1 || n > FT_MAX_LAYERS) {
        ft_fail(err, FT_EINVAL, p, "layers must be an array of 1 to %d layers", FT_MAX_LAYERS);
        return NULL;
    }
    ft_layer *ls = calloc(n, sizeof *ls);
    if (!ls) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        char lp[176];
        snprintf(lp, sizeof lp, "%s[%zu]", p, i);
        if (parse_layer(json_array_get(layers, i), (int)i, lp, &ls[i], err) != 0) {
            free(ls);
            return NULL;
        }
    }
    return ft_model_assemble(input, ls, (int)n, base, err);
}

ft_model *ft_model_from_json(const json_t *arch, const char *param, ft_error *err)
{
    ft_model *m = ft_model_layout_from_json(arch, param, err);
    if (m && ft_model_alloc_params(m, err) != 0) {
        ft_model_free(m);
        return NULL;
    }
    return m;
}

static json_t *pair(int a, int b) { return json_pack("[i,i]", a, b); }

static json_t *layer_json(const ft_layer *l)
{
    json_t *o = json_pack("{s:s, s:s}", "name", l->name, "type", ft_layer_type_name(l->type));
    switch (l->type) {
    case FT_LAYER_DENSE:
        json_object_set_new(o, "units", json_integer(l->units));
        break;
    case FT_LAYER_CONV2D:
        json_object_set_new(o, "filters", json_integer(l->filters));
        json_object_set_new(o, "kernel", pair(l->kh, l->kw));
        json_object_set_new(o, "stride", pair(l->sh, l->sw));
        json_object_set_new(o, "padding", pair(l->ph, l->pw));
        break;
    case FT_LAYER_MAXPOOL2D:
    case FT_LAYER_AVGPOOL2D:
        json_object_set_new(o, "size", pair(l->kh, l->kw));
        json_object_set_new(o, "stride", pair(l->sh, l->sw));
        json_object_set_new(o, "padding", pair(l->ph, l->pw));
        break;
    case FT_LAYER_DROPOUT:
        json_object_set_new(o, "rate", json_real(l->rate));
        break;
    default:
        break;
    }
    if (l->type == FT_LAYER_DENSE || l->type == FT_LAYER_CONV2D) {
        json_object_set_new(o, "activation", json_string(ft_activation_name(l->act)));
        if (l->act == FT_ACT_LEAKY_RELU)
            json_object_set_new(o, "negative_slope", json_real(l->negative_slope));
    }
    return o;
}

json_t *ft_model_arch_json(const ft_model *m)
{
    json_t *layers = json_array();
    for (int i = 0; layers && i < m->nlayers; i++)
        json_array_append_new(layers, layer_json(&m->layers[i]));
    return json_pack("{s:o, s:o}", "input", ft_shape_to_json(m->input), "layers", layers);
}
