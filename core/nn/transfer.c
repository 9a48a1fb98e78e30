/* Model surgery for transfer learning (docs/design.md, "Transfer-learning
 * semantics"): drop the top layers, freeze what is kept, add a new head, and
 * initialise only the new layers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn/model_internal.h"
#include "core/util/names.h"

const char *const ft_freeze_names[FT_FREEZE_COUNT] = {
    [FT_FREEZE_BASE] = "base", [FT_FREEZE_NONE] = "none", [FT_FREEZE_TRAINABLE_LAST] = "trainable_last",
};

const char *ft_freeze_name(ft_freeze_policy f) { return ft_freeze_names[f]; }
FT_NAMES_PARSER(ft_freeze_parse, ft_freeze_policy, ft_freeze_names, FT_FREEZE_COUNT)

/* True if name is taken in the new layers or is one of the base's aliases
 * (which the kept layers carry over). */
static bool name_taken(const ft_model *base, const ft_layer *layers, int n, const ft_layer *l)
{
    for (int i = 0; i < n; i++)
        if (&layers[i] != l && strcmp(layers[i].name, l->name) == 0)
            return true;
    int at = ft_model_find_layer(base, l->name);
    return at >= 0 && strcmp(base->layers[at].name, l->name) != 0;
}

/* Set l->name to `want`, or want_2, want_3... if taken. */
static void unique_name(const ft_model *base, ft_layer *layers, int n, ft_layer *l, const char *want)
{
    snprintf(l->name, sizeof l->name, "%s", want);
    for (int suffix = 2; name_taken(base, layers, n, l); suffix++)
        snprintf(l->name, sizeof l->name, "%s_%d", want, suffix);
}

/* A graph: some layer does not read just the one before it, or the model
 * came from ONNX (whose layer list is a topological order, not a stack). */
static bool is_graph(const ft_model *m)
{
    const char *source = ft_model_meta(m, "source");
    if (source && strcmp(source, "onnx") == 0)
        return true;
    for (int i = 0; i < m->nlayers; i++)
        if (m->layers[i].ninputs != 1 || m->layers[i].inputs[0] != i - 1)
            return true;
    return false;
}

/* What drop_layers counts on a graph: layers with parameters, and pooling. */
static bool droppable(const ft_layer *l)
{
    return l->type == FT_LAYER_DENSE || l->type == FT_LAYER_CONV2D || l->type == FT_LAYER_MAXPOOL2D ||
           l->type == FT_LAYER_AVGPOOL2D || l->type == FT_LAYER_GLOBAL_AVGPOOL2D;
}

/* The layer whose output the head reads (-1: the model input). On a graph,
 * drop_layers walks the output chain (each layer's first input) from the
 * last layer and cuts at the input of the N-th droppable step. */
static int cut_layer(const ft_model *base, const ft_transfer *t, ft_error *err)
{
    if (t->cut_after) {
        int i = ft_model_find_layer(base, t->cut_after);
        if (i < 0)
            return ft_fail(err, FT_EINVAL, "cut_after", "the base model has no layer named '%s'",
                           t->cut_after) - 1;
        return i;
    }
    if (!is_graph(base)) {
        if (t->drop_layers < 0 || t->drop_layers >= base->nlayers)
            return ft_fail(err, FT_EINVAL, "drop_layers",
                           "drop_layers must be between 0 and %d (the base model has %d layers)",
                           base->nlayers - 1, base->nlayers) - 1;
        return base->nlayers - 1 - t->drop_layers;
    }
    int at = base->nlayers - 1, steps = 0;
    for (int i = at; i >= 0 && steps < t->drop_layers; i = base->layers[i].ninputs ? base->layers[i].inputs[0] : -1)
        if (droppable(&base->layers[i]) && ++steps == t->drop_layers)
            at = base->layers[i].ninputs ? base->layers[i].inputs[0] : -1;
    if (t->drop_layers < 0 || steps < t->drop_layers) {
        int most = 0;
        for (int i = base->nlayers - 1; i >= 0; i = base->layers[i].ninputs ? base->layers[i].inputs[0] : -1)
            most += droppable(&base->layers[i]);
        return ft_fail(err, FT_EINVAL, "drop_layers",
                       "drop_layers must be between 0 and %d (the layers with parameters or pooling on the "
                       "base model's output path)",
                       most) - 1;
    }
    return at;
}

/* The kept layers: the cut layer and its ancestors, in their order. Fills
 * old[new index] and returns how many (-2 on failure). */
static int kept_layers(const ft_model *base, const ft_transfer *t, int *old, ft_error *err)
{
    int cut = cut_layer(base, t, err);
    if (cut < -1)
        return -2;
    bool *keep = calloc((size_t)base->nlayers, sizeof *keep);
    if (!keep)
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory") - 1;
    if (cut >= 0)
        keep[cut] = true;
    for (int i = cut; i >= 0; i--)
        for (int j = 0; keep[i] && j < base->layers[i].ninputs; j++)
            if (base->layers[i].inputs[j] >= 0)
                keep[base->layers[i].inputs[j]] = true;
    int n = 0;
    for (int i = 0; i <= cut; i++)
        if (keep[i])
            old[n++] = i;
    free(keep);
    return n;
}

/* Copy the kept layers with their inputs renumbered, and their aliases. */
static json_t *copy_kept(const ft_model *base, const int *old, int kept, ft_layer *ls)
{
    json_t *aliases = json_object();
    for (int i = 0; i < kept; i++) {
        ls[i] = base->layers[old[i]];
        for (int j = 0; j < ls[i].ninputs; j++) {
            int k = 0;
            while (ls[i].inputs[j] >= 0 && old[k] != ls[i].inputs[j])
                k++;
            ls[i].inputs[j] = ls[i].inputs[j] < 0 ? -1 : k;
        }
        const json_t *a = ft_model_layer_aliases(base, old[i]);
        if (aliases && a && json_object_set_new(aliases, ls[i].name, json_deep_copy(a)) != 0) {
            json_decref(aliases);
            return NULL;
        }
    }
    return aliases;
}

static int validate_head(const ft_transfer *t, ft_error *err)
{
    if (t->nhidden < 0 || t->nhidden > FT_MAX_HIDDEN)
        return ft_fail(err, FT_EINVAL, "head.hidden", "at most %d hidden layers", FT_MAX_HIDDEN);
    for (int i = 0; i < t->nhidden; i++)
        if (t->hidden[i] < 1 || t->hidden[i] > (1 << 20)) {
            char p[32];
            snprintf(p, sizeof p, "head.hidden[%d]", i);
            return ft_fail(err, FT_EINVAL, p, "hidden layer sizes must be between 1 and %d", 1 << 20);
        }
    if (t->output != FT_ACT_SOFTMAX && t->output != FT_ACT_SIGMOID && t->output != FT_ACT_LINEAR)
        return ft_fail(err, FT_EINVAL, "head.output", "the output must be softmax, sigmoid or linear");
    if (t->units < 1 || t->units > (1 << 20))
        return ft_fail(err, FT_EINVAL, "head.units", "units must be between 1 and %d", 1 << 20);
    if (!(t->dropout >= 0 && t->dropout < 1))
        return ft_fail(err, FT_EINVAL, "head.dropout", "dropout must be in [0, 1)");
    return 0;
}

/* The transferred layout; *old receives the kept layers' base indices
 * (caller frees), *kept_out their number. */
static ft_model *transfer(const ft_model *base, const ft_transfer *t, int **old_out, int *kept_out, ft_error *err)
{
    int *old = malloc(sizeof *old * (size_t)base->nlayers);
    if (!old) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    int kept = kept_layers(base, t, old, err);
    if (kept < 0 || validate_head(t, err) != 0) {
        free(old);
        return NULL;
    }
    if (t->freeze == FT_FREEZE_TRAINABLE_LAST && (t->trainable_last < 0 || t->trainable_last > kept)) {
        free(old);
        ft_fail(err, FT_EINVAL, "freeze.trainable_last",
                "trainable_last must be between 0 and %d (the number of kept layers)", kept);
        return NULL;
    }
    ft_shape top = kept ? base->layers[old[kept - 1]].out : base->input;
    int flatten = top.rank != 1;
    int n = kept + flatten + t->nhidden * (t->dropout > 0 ? 2 : 1) + 1;
    ft_layer *ls = n <= FT_MAX_LAYERS ? calloc((size_t)n, sizeof *ls) : NULL;
    json_t *aliases = ls ? copy_kept(base, old, kept, ls) : NULL;
    if (!aliases) {
        free(old), free(ls);
        if (n > FT_MAX_LAYERS)
            ft_fail(err, FT_EINVAL, "head.hidden", "the new model would have more than %d layers", FT_MAX_LAYERS);
        else
            ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    int i = kept;
    if (flatten) {
        ls[i].type = FT_LAYER_FLATTEN;
        unique_name(base, ls, n, &ls[i++], "head_flatten");
    }
    for (int h = 0; h < t->nhidden; h++) {
        char name[32];
        snprintf(name, sizeof name, "head_hidden_%d", h + 1);
        ls[i].type = FT_LAYER_DENSE;
        ls[i].units = t->hidden[h];
        ls[i].act = t->hidden_activation;
        ft_act_default_params(ls[i].act, ls[i].act_param);
        unique_name(base, ls, n, &ls[i++], name);
        if (t->dropout > 0) {
            snprintf(name, sizeof name, "head_dropout_%d", h + 1);
            ls[i].type = FT_LAYER_DROPOUT;
            ls[i].rate = (float)t->dropout;
            unique_name(base, ls, n, &ls[i++], name);
        }
    }
    ls[i].type = FT_LAYER_DENSE;
    ls[i].units = t->units;
    ls[i].act = t->output;
    ft_act_default_params(ls[i].act, ls[i].act_param);
    unique_name(base, ls, n, &ls[i], "head_output");

    ft_model *m = ft_model_assemble(base->input, ls, n, "", err);
    if (!m || ft_model_set_aliases(m, aliases, "", err) != 0) {
        if (!m)
            json_decref(aliases);
        ft_model_free(m);
        free(old);
        return NULL;
    }
    switch (t->freeze) {
    case FT_FREEZE_BASE:
        m->first_trainable = kept;
        break;
    case FT_FREEZE_NONE:
        m->first_trainable = 0;
        break;
    case FT_FREEZE_TRAINABLE_LAST:
        m->first_trainable = kept - t->trainable_last;
        break;
    }
    *kept_out = kept;
    *old_out = old;
    return m;
}

ft_model *ft_model_transfer_layout(const ft_model *base, const ft_transfer *t, int *kept_out, ft_error *err)
{
    int *old = NULL, kept;
    ft_model *m = transfer(base, t, &old, &kept, err);
    free(old);
    if (m && kept_out)
        *kept_out = kept;
    return m;
}

ft_model *ft_model_transfer(const ft_model *base, const ft_transfer *t, ft_rng *rng, int *kept_out,
                            ft_error *err)
{
    int *old = NULL, kept;
    ft_model *m = transfer(base, t, &old, &kept, err);
    if (!m || ft_model_alloc_params(m, err) != 0) {
        ft_model_free(m);
        free(old);
        return NULL;
    }
    /* Each kept layer's parameters, from wherever it sat in the base. */
    for (int i = 0; i < kept; i++) {
        const ft_layer *b = &base->layers[old[i]];
        memcpy(m->params + m->layers[i].param_offset, base->params + b->param_offset,
               sizeof(float) * (b->nweights + b->nbias));
    }
    free(old);
    ft_model_init(m, kept, t->init, t->init_std, rng);
    if (kept_out)
        *kept_out = kept;
    return m;
}
