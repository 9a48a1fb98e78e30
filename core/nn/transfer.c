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

/* Set l->name to `want`, or want_2, want_3... if an earlier layer has it. */
static void unique_name(ft_layer *layers, int n, ft_layer *l, const char *want)
{
    snprintf(l->name, sizeof l->name, "%s", want);
    for (int suffix = 2;; suffix++) {
        bool taken = false;
        for (int i = 0; i < n && !taken; i++)
            taken = &layers[i] != l && strcmp(layers[i].name, l->name) == 0;
        if (!taken)
            return;
        snprintf(l->name, sizeof l->name, "%s_%d", want, suffix);
    }
}

static int kept_layers(const ft_model *base, const ft_transfer *t, ft_error *err)
{
    if (t->cut_after) {
        int i = ft_model_find_layer(base, t->cut_after);
        if (i < 0)
            return ft_fail(err, FT_EINVAL, "cut_after", "the base model has no layer named '%s'",
                           t->cut_after);
        return i + 1;
    }
    if (t->drop_layers < 0 || t->drop_layers >= base->nlayers)
        return ft_fail(err, FT_EINVAL, "drop_layers",
                       "drop_layers must be between 0 and %d (the base model has %d layers)",
                       base->nlayers - 1, base->nlayers);
    return base->nlayers - t->drop_layers;
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

ft_model *ft_model_transfer_layout(const ft_model *base, const ft_transfer *t, int *kept_out, ft_error *err)
{
    int kept = kept_layers(base, t, err);
    if (kept < 0 || validate_head(t, err) != 0)
        return NULL;
    if (t->freeze == FT_FREEZE_TRAINABLE_LAST && (t->trainable_last < 0 || t->trainable_last > kept)) {
        ft_fail(err, FT_EINVAL, "freeze.trainable_last",
                "trainable_last must be between 0 and %d (the number of kept layers)", kept);
        return NULL;
    }
    ft_shape top = kept ? base->layers[kept - 1].out : base->input;
    int flatten = top.rank != 1;
    int n = kept + flatten + t->nhidden * (t->dropout > 0 ? 2 : 1) + 1;
    if (n > FT_MAX_LAYERS) {
        ft_fail(err, FT_EINVAL, "head.hidden", "the new model would have more than %d layers", FT_MAX_LAYERS);
        return NULL;
    }
    ft_layer *ls = calloc((size_t)n, sizeof *ls);
    if (!ls) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    memcpy(ls, base->layers, sizeof *ls * (size_t)kept);
    int i = kept;
    if (flatten) {
        ls[i].type = FT_LAYER_FLATTEN;
        unique_name(ls, n, &ls[i++], "head_flatten");
    }
    for (int h = 0; h < t->nhidden; h++) {
        char name[32];
        snprintf(name, sizeof name, "head_hidden_%d", h + 1);
        ls[i].type = FT_LAYER_DENSE;
        ls[i].units = t->hidden[h];
        ls[i].act = t->hidden_activation;
        ls[i].negative_slope = 0.01f;
        unique_name(ls, n, &ls[i++], name);
        if (t->dropout > 0) {
            snprintf(name, sizeof name, "head_dropout_%d", h + 1);
            ls[i].type = FT_LAYER_DROPOUT;
            ls[i].rate = (float)t->dropout;
            unique_name(ls, n, &ls[i++], name);
        }
    }
    ls[i].type = FT_LAYER_DENSE;
    ls[i].units = t->units;
    ls[i].act = t->output;
    unique_name(ls, n, &ls[i], "head_output");

    ft_model *m = ft_model_assemble(base->input, ls, n, "", err);
    if (!m)
        return NULL;
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
    if (kept_out)
        *kept_out = kept;
    return m;
}

ft_model *ft_model_transfer(const ft_model *base, const ft_transfer *t, ft_rng *rng, int *kept_out,
                            ft_error *err)
{
    int kept;
    ft_model *m = ft_model_transfer_layout(base, t, &kept, err);
    if (!m || ft_model_alloc_params(m, err) != 0) {
        ft_model_free(m);
        return NULL;
    }
    /* Kept layers keep their order, so their parameters are the same prefix. */
    size_t kept_params = kept ? base->layers[kept - 1].param_offset + base->layers[kept - 1].nweights +
                                    base->layers[kept - 1].nbias
                              : 0;
    memcpy(m->params, base->params, sizeof(float) * kept_params);
    ft_model_init(m, kept, t->init, t->init_std, rng);
    if (kept_out)
        *kept_out = kept;
    return m;
}
