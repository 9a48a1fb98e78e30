/* The optimiser object and the spec keys, through the descriptors; the
 * update rules live in core/nn/optim_<name>.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn/optim_kind.h"

const ft_optim_key *ft_optim_keys(ft_optim_type t) { return ft_optim_kinds[t]->keys; }

void ft_optim_defaults(ft_optim_config *cfg, ft_optim_type t)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->type = t;
    for (const ft_optim_key *k = ft_optim_keys(t); k->name; k++) {
        char *field = (char *)cfg + k->offset;
        if (k->flag)
            *(bool *)field = k->def != 0;
        else
            *(double *)field = k->def;
    }
}

int ft_optim_check(const ft_optim_config *cfg, const char *param, ft_error *err)
{
    const ft_optim_kind *k = ft_optim_kinds[cfg->type];
    return k->check ? k->check(cfg, param, err) : 0;
}

size_t ft_optim_state_floats(const ft_optim_config *cfg, size_t n)
{
    return ft_optim_kinds[cfg->type]->state_floats(cfg, n);
}

ft_optim *ft_optim_new(const ft_optim_config *cfg, size_t n, ft_error *err)
{
    ft_optim *o = calloc(1, sizeof *o);
    if (!o) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    o->cfg = *cfg;
    o->n = n;
    o->nstate = ft_optim_state_floats(cfg, n);
    o->state = calloc(o->nstate ? o->nstate : 1, sizeof(float));
    if (!o->state) {
        free(o);
        ft_fail(err, FT_ENOMEM, NULL, "out of memory for optimiser state");
        return NULL;
    }
    return o;
}

void ft_optim_free(ft_optim *o)
{
    if (o)
        free(o->state);
    free(o);
}

float *ft_optim_state(ft_optim *o, size_t *floats)
{
    *floats = o->nstate;
    return o->state;
}

uint64_t *ft_optim_steps(ft_optim *o) { return &o->steps; }

void ft_optim_step(ft_optim *o, float *params, const float *grads)
{
    o->steps++;
    ft_optim_kinds[o->cfg.type]->step(o, params, grads);
}

void ft_optim_set_lr(ft_optim *o, double lr) { o->cfg.lr = lr; }

double ft_clip_grad_norm(float *grads, size_t n, double max_norm)
{
    double sq = 0;
    for (size_t i = 0; i < n; i++)
        sq += (double)grads[i] * grads[i];
    double norm = sqrt(sq), coef = max_norm / (norm + 1e-6);
    if (coef < 1)
        for (size_t i = 0; i < n; i++)
            grads[i] = (float)(grads[i] * coef);
    return norm;
}
