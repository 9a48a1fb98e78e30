/* Architecture JSON: parsing with field-path errors, and the canonical form. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn/activation.h"
#include "core/nn/layer_fields.h"
#include "core/nn/model_internal.h"
#include "core/util/names.h"

static bool takes_slope(int act) { return ft_act_kinds[act]->slope; }

#define MAX_INPUT_DIM 65536

/* activation (default linear) and negative_slope (default 0.01, leaky_relu only). */
static int parse_activation(const ft_layer_fields *f, ft_layer *l)
{
    char list[256];
    json_t *v = json_object_get(f->obj, "activation");
    l->act = FT_ACT_LINEAR;
    l->negative_slope = 0.01f;
    if (v && (!json_is_string(v) || ft_activation_parse(json_string_value(v), &l->act) != 0))
        return ft_field_fail(f, "activation", "%s must be one of %s",
                             ft_names_join(ft_activation_names, FT_ACT_COUNT, NULL, ", ", list, sizeof list));
    double slope = 0.01;
    if (ft_field_number(f, "negative_slope", 0, 1, &slope) != 0)
        return -1;
    if (json_object_get(f->obj, "negative_slope") && !ft_act_kinds[l->act]->slope)
        return ft_field_fail(f, "negative_slope", "%s only applies to %s",
                             ft_names_join(ft_activation_names, FT_ACT_COUNT, takes_slope, " or ", list, sizeof list));
    l->negative_slope = (float)slope;
    return 0;
}

static bool key_allowed(const char *key, const char *const *allowed)
{
    for (; allowed && *allowed; allowed++)
        if (strcmp(key, *allowed) == 0)
            return true;
    return false;
}

/* name, type, the kind's own keys, and activation keys if it has one. */
static bool layer_key(const ft_layer_kind *k, const char *key)
{
    static const char *const common[] = {"name", "type", NULL};
    static const char *const activation[] = {"activation", "negative_slope", NULL};
    return key_allowed(key, common) || key_allowed(key, k->keys) || (k->activation && key_allowed(key, activation));
}

static int parse_layer(const json_t *obj, int index, const char *param, ft_layer *l, ft_error *err)
{
    ft_layer_fields f = {param, obj, err};
    char types[256];
    memset(l, 0, sizeof *l);
    if (!json_is_object(obj))
        return ft_fail(err, FT_EINVAL, param, "each layer must be an object");
    json_t *type = json_object_get(obj, "type");
    const char *tname = json_string_value(type);
    ft_names_join(ft_layer_type_names, FT_LAYER_COUNT, NULL, " or ", types, sizeof types);
    if (!tname)
        return ft_field_fail(&f, "type", "%s is required: %s", types);
    if (ft_layer_type_parse(tname, &l->type) != 0)
        return ft_field_fail(&f, "type", "%s must be %s", types);
    const ft_layer_kind *k = ft_layer_kinds[l->type];

    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        if (!layer_key(k, key)) {
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
            return ft_field_fail(&f, "name", "%s must be 1-63 letters, digits, '_' or '-'%s", "");
        memcpy(l->name, s, n + 1);
    } else {
        snprintf(l->name, sizeof l->name, "%s_%d", tname, index);
    }
    if (k->parse && k->parse(l, &f) != 0)
        return -1;
    return k->activation ? parse_activation(&f, l) : 0;
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

static json_t *layer_json(const ft_layer *l)
{
    json_t *o = json_pack("{s:s, s:s}", "name", l->name, "type", ft_layer_type_name(l->type));
    if (l->kind->emit)
        l->kind->emit(l, o);
    if (l->kind->activation) {
        json_object_set_new(o, "activation", json_string(ft_activation_name(l->act)));
        if (ft_act_kinds[l->act]->slope)
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
