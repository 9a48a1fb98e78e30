/* Architecture JSON: parsing with field-path errors, and the canonical form. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn/activation.h"
#include "core/nn/layer_fields.h"
#include "core/nn/model_internal.h"
#include "core/util/names.h"

#define MAX_INPUT_DIM 65536

/* True if some activation takes a parameter called key. */
static bool act_param_key(const char *key)
{
    for (int a = 0; a < FT_ACT_COUNT; a++)
        for (const ft_act_param *p = ft_act_kinds[a]->params; p && p < ft_act_kinds[a]->params + FT_ACT_MAX_PARAMS && p->name; p++)
            if (strcmp(p->name, key) == 0)
                return true;
    return false;
}

/* activation (default linear) and its parameters (defaults from its
 * descriptor); a parameter of another activation is an error naming the
 * activations that take it. */
static int parse_activation(const ft_layer_fields *f, ft_layer *l)
{
    char list[320];
    json_t *v = json_object_get(f->obj, "activation");
    l->act = FT_ACT_LINEAR;
    if (v && (!json_is_string(v) || ft_activation_parse(json_string_value(v), &l->act) != 0))
        return ft_field_fail(f, "activation", "%s must be one of %s",
                             ft_names_join(ft_activation_names, FT_ACT_COUNT, NULL, ", ", list, sizeof list));
    ft_act_default_params(l->act, l->act_param);
    const ft_act_param *own = ft_act_kinds[l->act]->params;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)f->obj, key, val) {
        if (!act_param_key(key))
            continue;
        int k = 0;
        while (own && k < FT_ACT_MAX_PARAMS && own[k].name && strcmp(own[k].name, key) != 0)
            k++;
        if (!own || k == FT_ACT_MAX_PARAMS || !own[k].name) {
            size_t at = 0;
            list[0] = 0;
            for (int a = 0; a < FT_ACT_COUNT; a++)
                for (const ft_act_param *p = ft_act_kinds[a]->params; p && p < ft_act_kinds[a]->params + FT_ACT_MAX_PARAMS && p->name; p++)
                    if (strcmp(p->name, key) == 0 && at < sizeof list)
                        at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", at ? " or " : "", ft_activation_names[a]);
            return ft_field_fail(f, key, "%s only applies to %s", list);
        }
        double x = own[k].def;
        if (ft_field_number(f, key, own[k].lo, own[k].hi, &x) != 0)
            return -1;
        l->act_param[k] = (float)x;
    }
    return 0;
}

static bool key_allowed(const char *key, const char *const *allowed)
{
    for (; allowed && *allowed; allowed++)
        if (strcmp(key, *allowed) == 0)
            return true;
    return false;
}

/* name, type, inputs, aliases, the kind's own keys, and activation keys if it has one. */
static bool layer_key(const ft_layer_kind *k, const char *key)
{
    static const char *const common[] = {"name", "type", "inputs", "aliases", NULL};
    return key_allowed(key, common) || key_allowed(key, k->keys) ||
           (k->activation && (strcmp(key, "activation") == 0 || act_param_key(key)));
}

/* Layer names and aliases: 1 to FT_NAME_MAX letters, digits and _-./: (ONNX
 * names such as "/layer1/conv1/Conv" fit). */
static bool valid_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    bool ok = n > 0 && n <= FT_NAME_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)s[i]) || strchr("_-./:", s[i]);
    return ok;
}
#define NAME_RULE "1-127 letters, digits, '_', '-', '.', '/' or ':'"

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
        if (!valid_name(s))
            return ft_field_fail(&f, "name", "%s must be " NAME_RULE "%s", "");
        memcpy(l->name, s, strlen(s) + 1);
    } else {
        snprintf(l->name, sizeof l->name, "%s_%d", tname, index);
    }
    if (k->parse && k->parse(l, &f) != 0)
        return -1;
    return k->activation ? parse_activation(&f, l) : 0;
}

/* `inputs`: names of earlier layers or "input", resolved to indices. */
static int parse_inputs(const json_t *obj, ft_layer *ls, int i, const char *param, ft_error *err)
{
    json_t *v = json_object_get(obj, "inputs");
    char p[192];
    snprintf(p, sizeof p, "%s.inputs", param);
    if (!v)
        return 0;
    if (!json_is_array(v) || json_array_size(v) > FT_MAX_INPUTS)
        return ft_fail(err, FT_EINVAL, p, "inputs must be an array of at most %d layer names", FT_MAX_INPUTS);
    ls[i].ninputs = (int)json_array_size(v);
    for (int j = 0; j < ls[i].ninputs; j++) {
        const char *s = json_string_value(json_array_get(v, (size_t)j));
        snprintf(p, sizeof p, "%.160s.inputs[%d]", param, j); /* bounded: gcc -O1 proves no truncation */
        if (!s)
            return ft_fail(err, FT_EINVAL, p, "inputs must be layer names");
        int k = strcmp(s, "input") == 0 ? -1 : -2;
        for (int e = 0; e < i && k == -2; e++)
            if (strcmp(ls[e].name, s) == 0)
                k = e;
        if (k == -2)
            return ft_fail(err, FT_EINVAL, p, "layer '%s' reads '%s', which is not an earlier layer", ls[i].name, s);
        ls[i].inputs[j] = k;
    }
    return 0;
}

/* `aliases`: extra names for this layer, into aliases[name] (checked for
 * uniqueness once the model is assembled). */
static int parse_aliases(const json_t *obj, const ft_layer *l, json_t *aliases, const char *param, ft_error *err)
{
    json_t *v = json_object_get(obj, "aliases");
    if (!v)
        return 0;
    char p[192];
    snprintf(p, sizeof p, "%s.aliases", param);
    bool ok = json_is_array(v) && json_array_size(v) > 0;
    for (size_t k = 0; ok && k < json_array_size(v); k++)
        ok = valid_name(json_string_value(json_array_get(v, k)));
    if (!ok)
        return ft_fail(err, FT_EINVAL, p, "aliases must be a non-empty array of names of " NAME_RULE);
    json_t *copy = json_deep_copy(v);
    if (!copy || json_object_set_new(aliases, l->name, copy) != 0)
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    return 0;
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
    json_t *aliases = json_object();
    for (size_t i = 0; i < n; i++) {
        char lp[176];
        snprintf(lp, sizeof lp, "%s[%zu]", p, i);
        const json_t *obj = json_array_get(layers, i);
        if (!aliases || parse_layer(obj, (int)i, lp, &ls[i], err) != 0 ||
            parse_inputs(obj, ls, (int)i, lp, err) != 0 || parse_aliases(obj, &ls[i], aliases, lp, err) != 0) {
            if (!aliases)
                ft_fail(err, FT_ENOMEM, NULL, "out of memory");
            json_decref(aliases);
            free(ls);
            return NULL;
        }
    }
    ft_model *m = ft_model_assemble(input, ls, (int)n, base, err);
    if (m && ft_model_set_aliases(m, aliases, base, err) != 0) {
        ft_model_free(m);
        return NULL;
    }
    if (!m)
        json_decref(aliases);
    return m;
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

/* Inputs appear only where they differ from the default (the previous layer). */
static json_t *layer_json(const ft_model *m, int i)
{
    const ft_layer *l = &m->layers[i];
    json_t *o = json_pack("{s:s, s:s}", "name", l->name, "type", ft_layer_type_name(l->type));
    int lo, hi;
    ft_layer_arity(l->kind, &lo, &hi);
    if (o && hi > 0 && (l->ninputs != 1 || l->inputs[0] != i - 1)) {
        json_t *ins = json_array();
        for (int j = 0; j < l->ninputs; j++)
            json_array_append_new(ins, json_string(l->inputs[j] < 0 ? "input" : m->layers[l->inputs[j]].name));
        json_object_set_new(o, "inputs", ins);
    }
    const json_t *aliases = ft_model_layer_aliases(m, i);
    if (o && aliases)
        json_object_set_new(o, "aliases", json_deep_copy(aliases));
    if (o && l->kind->emit)
        l->kind->emit(l, o);
    if (o && l->kind->activation) {
        json_object_set_new(o, "activation", json_string(ft_activation_name(l->act)));
        const ft_act_param *p = ft_act_kinds[l->act]->params;
        for (int k = 0; p && k < FT_ACT_MAX_PARAMS && p[k].name; k++)
            json_object_set_new(o, p[k].name, json_real(l->act_param[k]));
    }
    return o;
}

json_t *ft_model_arch_json(const ft_model *m)
{
    json_t *layers = json_array();
    for (int i = 0; layers && i < m->nlayers; i++)
        json_array_append_new(layers, layer_json(m, i));
    return json_pack("{s:o, s:o}", "input", ft_shape_to_json(m->input), "layers", layers);
}
