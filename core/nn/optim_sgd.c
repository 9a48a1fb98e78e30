/* SGD with momentum and Nesterov, torch.optim.SGD's rule (weight decay added
 * to the gradient). The update loops are memory-bound: they stay branch-free
 * so they vectorise (FT_HOT: compiled per vector width, see core/nn/layer.h). */
#include <stddef.h>
#include <stdio.h>

#include "core/nn/optim_kind.h"

FT_HOT static void sgd_plain(size_t n, float lr, float wd, float *restrict p, const float *restrict g)
{
    for (size_t i = 0; i < n; i++)
        p[i] -= lr * (g[i] + wd * p[i]);
}

/* torch starts the buffer at the first gradient: mu * 0 + d is exactly d. */
FT_HOT static void sgd_momentum(size_t n, float lr, float wd, float mu, float *restrict p,
                                const float *restrict g, float *restrict buf)
{
    for (size_t i = 0; i < n; i++) {
        buf[i] = mu * buf[i] + (g[i] + wd * p[i]);
        p[i] -= lr * buf[i];
    }
}

FT_HOT static void sgd_nesterov(size_t n, float lr, float wd, float mu, float *restrict p,
                                const float *restrict g, float *restrict buf)
{
    for (size_t i = 0; i < n; i++) {
        float d = g[i] + wd * p[i];
        buf[i] = mu * buf[i] + d;
        p[i] -= lr * (d + mu * buf[i]);
    }
}

static void sgd_step(ft_optim *o, float *p, const float *g)
{
    const float lr = (float)o->cfg.lr, wd = (float)o->cfg.weight_decay, mu = (float)o->cfg.momentum;
    if (mu == 0)
        sgd_plain(o->n, lr, wd, p, g);
    else if (o->cfg.nesterov)
        sgd_nesterov(o->n, lr, wd, mu, p, g, o->state);
    else
        sgd_momentum(o->n, lr, wd, mu, p, g, o->state);
}

/* A velocity only with momentum. */
static size_t sgd_state(const ft_optim_config *cfg, size_t n) { return cfg->momentum != 0 ? n : 0; }

static int sgd_check(const ft_optim_config *cfg, const char *param, ft_error *err)
{
    char p[96];
    snprintf(p, sizeof p, "%s.nesterov", param);
    return cfg->nesterov && cfg->momentum == 0 ? ft_fail(err, FT_EINVAL, p, "nesterov needs a momentum above 0") : 0;
}

static const ft_optim_key sgd_keys[] = {
    {"lr", offsetof(ft_optim_config, lr), false, 0.01, 1e-12, 1e3},
    {"momentum", offsetof(ft_optim_config, momentum), false, 0.9, 0, 0.9999},
    {"nesterov", offsetof(ft_optim_config, nesterov), true, 0, 0, 1},
    {"weight_decay", offsetof(ft_optim_config, weight_decay), false, 0, 0, 10},
    {NULL, 0, false, 0, 0, 0},
};

const ft_optim_kind ft_optim_sgd = {
    .keys = sgd_keys, .state_floats = sgd_state, .check = sgd_check, .step = sgd_step,
};
