/* Model construction, queries and metadata. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn/model_internal.h"

/* Activations and sizes are bounded so every later size product fits easily. */
#define FT_MAX_ELEMENTS (1u << 28)
#define FT_MAX_PARAMS ((size_t)1 << 30)

/* Weights and biases from the weight tensor's shape: the bias has one value
 * per output channel (shape[0]). */
static void count_params(ft_layer *l)
{
    uint64_t shape[4];
    int rank = l->kind->weight_shape ? l->kind->weight_shape(l, shape) : 0;
    l->nweights = rank ? 1 : 0;
    for (int d = 0; d < rank; d++)
        l->nweights *= (size_t)shape[d];
    l->nbias = rank && !l->kind->no_bias ? (size_t)shape[0] : 0;
}

void ft_layer_arity(const ft_layer_kind *k, int *lo, int *hi)
{
    *lo = k->source ? 0 : k->max_inputs ? k->min_inputs : 1;
    *hi = k->source ? 0 : k->max_inputs ? k->max_inputs : 1;
}

/* Check layer i's inputs (the default, the previous layer, if none are set)
 * and collect their shapes. */
static int resolve_inputs(const ft_model *m, int i, ft_shape *ins, const char *param, ft_error *err)
{
    ft_layer *l = &m->layers[i];
    int lo, hi;
    ft_layer_arity(l->kind, &lo, &hi);
    if (l->ninputs == 0 && hi > 0) {
        l->ninputs = 1;
        l->inputs[0] = i - 1;
    }
    if (l->ninputs < lo || l->ninputs > hi) {
        if (lo == hi)
            return ft_fail(err, FT_EINVAL, param, "%s layer '%s' takes %d input%s, got %d",
                           ft_layer_type_name(l->type), l->name, lo, lo == 1 ? "" : "s", l->ninputs);
        return ft_fail(err, FT_EINVAL, param, "%s layer '%s' takes %d to %d inputs, got %d",
                       ft_layer_type_name(l->type), l->name, lo, hi, l->ninputs);
    }
    for (int j = 0; j < l->ninputs; j++) {
        int k = l->inputs[j];
        if (k < -1 || k >= i)
            return ft_fail(err, FT_EINVAL, param, "layer '%s' may only read earlier layers", l->name);
        ins[j] = k < 0 ? m->input : m->layers[k].out;
    }
    l->in = l->ninputs ? ins[0] : m->input;
    return 0;
}

ft_model *ft_model_assemble(ft_shape input, ft_layer *layers, int nlayers, const char *param,
                            ft_error *err)
{
    ft_model *m = calloc(1, sizeof *m);
    if (!m) {
        free(layers);
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    m->input = input;
    m->layers = layers;
    m->nlayers = nlayers;
    m->meta = json_object();
    if (!m->meta) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        goto fail;
    }
    if (nlayers < 1 || nlayers > FT_MAX_LAYERS) {
        ft_fail(err, FT_EINVAL, param, "a model needs 1 to %d layers, got %d", FT_MAX_LAYERS, nlayers);
        goto fail;
    }
    /* The input is bounded like every layer's output, so no size product overflows. */
    size_t in_size;
    if (ft_shape_elements(input, &in_size) != 0 || in_size > FT_MAX_ELEMENTS) {
        ft_fail(err, FT_EINVAL, param, "the input has more than %u values per sample", FT_MAX_ELEMENTS);
        goto fail;
    }
    for (int i = 0; i < nlayers; i++) {
        ft_layer *l = &layers[i];
        char lparam[160];
        snprintf(lparam, sizeof lparam, "%s%slayers[%d]", param ? param : "", param && *param ? "." : "", i);
        for (int j = 0; j < i; j++)
            if (strcmp(layers[j].name, l->name) == 0) {
                ft_fail(err, FT_EINVAL, lparam, "layer name '%s' is used twice", l->name);
                goto fail;
            }
        l->kind = ft_layer_kinds[l->type];
        ft_shape ins[FT_MAX_INPUTS];
        if (resolve_inputs(m, i, ins, lparam, err) != 0 || l->kind->setup(l, ins, lparam, err) != 0)
            goto fail;
        count_params(l);
        size_t out_size;
        if (ft_shape_elements(l->out, &out_size) != 0 || out_size > FT_MAX_ELEMENTS) {
            ft_fail(err, FT_EINVAL, lparam, "layer '%s' output is too large", l->name);
            goto fail;
        }
        l->param_offset = m->nparams;
        if (l->nweights > FT_MAX_PARAMS || l->nbias > FT_MAX_PARAMS ||
            (m->nparams += l->nweights + l->nbias) > FT_MAX_PARAMS) {
            ft_fail(err, FT_EINVAL, lparam, "the model has more than %zu parameters", FT_MAX_PARAMS);
            goto fail;
        }
    }
    return m;
fail:
    ft_model_free(m);
    return NULL;
}

int ft_model_alloc_params(ft_model *m, ft_error *err)
{
    m->params = calloc(m->nparams ? m->nparams : 1, sizeof(float));
    m->grads = calloc(m->nparams ? m->nparams : 1, sizeof(float));
    if (!m->params || !m->grads)
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory for %zu parameters", m->nparams);
    return 0;
}

void ft_model_free(ft_model *m)
{
    if (!m)
        return;
    free(m->layers);
    free(m->params);
    free(m->grads);
    json_decref(m->classes);
    json_decref(m->preprocessing);
    json_decref(m->meta);
    json_decref(m->aliases);
    free(m);
}

ft_model *ft_model_clone(const ft_model *m, ft_error *err)
{
    ft_layer *layers = malloc(sizeof *layers * (size_t)m->nlayers);
    if (!layers) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    memcpy(layers, m->layers, sizeof *layers * (size_t)m->nlayers);
    ft_model *c = ft_model_assemble(m->input, layers, m->nlayers, "", err);
    if (!c || ft_model_alloc_params(c, err) != 0) {
        ft_model_free(c);
        return NULL;
    }
    memcpy(c->params, m->params, sizeof(float) * m->nparams);
    c->first_trainable = m->first_trainable;
    json_decref(c->meta);
    c->meta = json_deep_copy(m->meta);
    c->classes = m->classes ? json_deep_copy(m->classes) : NULL;
    c->preprocessing = m->preprocessing ? json_deep_copy(m->preprocessing) : NULL;
    c->aliases = m->aliases ? json_deep_copy(m->aliases) : NULL;
    if (!c->meta || (m->classes && !c->classes) || (m->preprocessing && !c->preprocessing) ||
        (m->aliases && !c->aliases)) {
        ft_model_free(c);
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    return c;
}

int ft_model_num_layers(const ft_model *m) { return m->nlayers; }

void ft_model_layer_info(const ft_model *m, int i, ft_layer_info *info)
{
    const ft_layer *l = &m->layers[i];
    info->name = l->name;
    info->type = l->type;
    info->op = ft_layer_type_name(l->type);
    info->ninputs = l->ninputs;
    for (int j = 0; j < l->ninputs; j++)
        info->inputs[j] = l->inputs[j] < 0 ? "input" : m->layers[l->inputs[j]].name;
    info->activation = l->act;
    info->output = l->out;
    info->params = l->nweights + l->nbias;
    info->param_offset = l->param_offset;
    info->trainable = i >= m->first_trainable;
    info->has_params = l->kind->weight_shape != NULL;
}

/* True if the JSON array of strings a holds s. */
static bool array_has(const json_t *a, const char *s)
{
    for (size_t i = 0; i < json_array_size(a); i++)
        if (strcmp(json_string_value(json_array_get(a, i)), s) == 0)
            return true;
    return false;
}

int ft_model_find_layer(const ft_model *m, const char *name)
{
    for (int i = 0; i < m->nlayers; i++)
        if (strcmp(m->layers[i].name, name) == 0)
            return i;
    const char *key;
    json_t *v;
    json_object_foreach(m->aliases, key, v) {
        if (array_has(v, name))
            return ft_model_find_layer(m, key);
    }
    return -1;
}

const json_t *ft_model_layer_aliases(const ft_model *m, int i)
{
    return json_object_get(m->aliases, m->layers[i].name);
}

int ft_model_set_aliases(ft_model *m, json_t *aliases, const char *param, ft_error *err)
{
    json_t *set = json_object();
    if (!set) {
        json_decref(aliases);
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    }
    json_decref(m->aliases);
    m->aliases = set; /* filled one alias at a time, so each is checked against those before it */
    const char *key;
    json_t *v;
    json_object_foreach(aliases, key, v) {
        int i = 0;
        while (i < m->nlayers && strcmp(m->layers[i].name, key) != 0)
            i++;
        for (size_t k = 0; k < json_array_size(v); k++) {
            const char *a = json_string_value(json_array_get(v, k));
            char p[192];
            snprintf(p, sizeof p, "%s%slayers[%d].aliases", param ? param : "", param && *param ? "." : "", i);
            if (i == m->nlayers || !a || ft_model_find_layer(m, a) >= 0) {
                ft_fail(err, FT_EINVAL, p, "alias '%s' is already a layer name or alias", a ? a : "");
                json_decref(aliases);
                return -1;
            }
            json_t *list = json_object_get(set, key);
            if (!list && json_object_set_new(set, key, list = json_array()) != 0) {
                json_decref(aliases);
                return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
            }
            if (json_array_append_new(list, json_string(a)) != 0) {
                json_decref(aliases);
                return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
            }
        }
    }
    json_decref(aliases);
    return 0;
}

ft_shape ft_model_input_shape(const ft_model *m) { return m->input; }
ft_shape ft_model_output_shape(const ft_model *m) { return m->layers[m->nlayers - 1].out; }

ft_activation ft_model_output_activation(const ft_model *m)
{
    const ft_layer *l = &m->layers[m->nlayers - 1];
    return l->kind->activation ? l->act : FT_ACT_LINEAR;
}

size_t ft_model_num_params(const ft_model *m) { return m->nparams; }
float *ft_model_params(ft_model *m) { return m->params; }
const float *ft_model_cparams(const ft_model *m) { return m->params; }
float *ft_model_grads(ft_model *m) { return m->grads; }
int ft_model_first_trainable(const ft_model *m) { return m->first_trainable; }

void ft_model_set_first_trainable(ft_model *m, int first)
{
    m->first_trainable = first < 0 ? 0 : first > m->nlayers ? m->nlayers : first;
}

size_t ft_model_trainable_offset(const ft_model *m)
{
    return m->first_trainable < m->nlayers ? m->layers[m->first_trainable].param_offset : m->nparams;
}

bool ft_model_prefix_is_random(const ft_model *m, int upto)
{
    for (int i = 0; i < upto && i < m->nlayers; i++)
        if (m->layers[i].kind->random && m->layers[i].kind->random(&m->layers[i]))
            return true;
    return false;
}

static int replace_json(json_t **slot, const json_t *v, ft_error *err)
{
    json_t *copy = v ? json_deep_copy(v) : NULL;
    if (v && !copy)
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    json_decref(*slot);
    *slot = copy;
    return 0;
}

int ft_model_set_classes(ft_model *m, const json_t *names, ft_error *err)
{
    if (names) {
        if (!json_is_array(names))
            return ft_fail(err, FT_EINVAL, "classes", "classes must be an array of strings");
        for (size_t i = 0; i < json_array_size(names); i++)
            if (!json_is_string(json_array_get(names, i)))
                return ft_fail(err, FT_EINVAL, "classes", "classes must be an array of strings");
    }
    return replace_json(&m->classes, names, err);
}

const json_t *ft_model_classes(const ft_model *m) { return m->classes; }

int ft_model_set_preprocessing(ft_model *m, const json_t *pp, ft_error *err)
{
    if (pp && !json_is_object(pp))
        return ft_fail(err, FT_EINVAL, "preprocessing", "preprocessing must be an object");
    return replace_json(&m->preprocessing, pp, err);
}

const json_t *ft_model_preprocessing(const ft_model *m) { return m->preprocessing; }

bool ft_model_meta_key_reserved(const char *key)
{
    static const char *const reserved[] = {"format", "architecture", "trainable_from", "classes",
                                           "preprocessing"};
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        if (strcmp(reserved[i], key) == 0)
            return true;
    return false;
}

int ft_model_set_meta(ft_model *m, const char *key, const char *value, ft_error *err)
{
    if (ft_model_meta_key_reserved(key))
        return ft_fail(err, FT_EINVAL, NULL, "metadata key '%s' is reserved", key);
    if (json_object_set_new(m->meta, key, json_string(value)) != 0)
        return ft_fail(err, FT_EINVAL, NULL, "metadata '%s' must be UTF-8 text", key);
    return 0;
}

const char *ft_model_meta(const ft_model *m, const char *key)
{
    return json_string_value(json_object_get(m->meta, key));
}
