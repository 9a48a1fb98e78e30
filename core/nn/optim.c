#include "core/nn/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn/layer.h"

struct ft_optim {
    ft_optim_config cfg;
    size_t n;          /* parameters */
    uint64_t steps;    /* updates done (Adam's t) */
    size_t nstate;     /* floats in state */
    float *state;      /* sgd: momentum buffer; adam: first moments then second moments */
};

static const char *const names[] = {"sgd", "adam", "adamw"};

const char *ft_optim_name(ft_optim_type t) { return names[t]; }

int ft_optim_parse(const char *s, ft_optim_type *out)
{
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (ft_optim_type)i;
            return 0;
        }
    return -1;
}

size_t ft_optim_state_floats(const ft_optim_config *cfg, size_t n)
{
    /* SGD keeps a velocity only with momentum; Adam keeps two moments. */
    return cfg->type == FT_OPT_SGD ? (cfg->momentum != 0 ? n : 0) : 2 * n;
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

/* The update loops are memory-bound: keep them branch-free so they vectorise
 * (FT_HOT: compiled per vector width, see core/nn/layer.h). */

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

/* Adam and AdamW; decay is 1 - lr*wd for AdamW and 1 otherwise, l2 the
 * coupled weight decay of Adam (0 for AdamW). */
FT_HOT static void adam_loop(size_t n, float b1, float b2, float eps, float l2, float decay,
                             float step_size, float bc2_sqrt, float *restrict p,
                             const float *restrict g, float *restrict m, float *restrict v)
{
    for (size_t i = 0; i < n; i++) {
        p[i] *= decay;
        float grad = g[i] + l2 * p[i];
        m[i] = m[i] * b1 + grad * (1 - b1);
        v[i] = v[i] * b2 + grad * grad * (1 - b2);
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        p[i] -= step_size * (m[i] / denom);
    }
}

static void adam_step(ft_optim *o, float *p, const float *g)
{
    const ft_optim_config *c = &o->cfg;
    double t = (double)o->steps;
    bool decoupled = c->type == FT_OPT_ADAMW;
    /* Bias corrections in double, as torch computes these Python scalars. */
    adam_loop(o->n, (float)c->beta1, (float)c->beta2, (float)c->eps,
              decoupled ? 0.0f : (float)c->weight_decay,
              decoupled ? (float)(1.0 - c->lr * c->weight_decay) : 1.0f,
              (float)(c->lr / (1.0 - pow(c->beta1, t))), (float)sqrt(1.0 - pow(c->beta2, t)), p, g,
              o->state, o->state + o->n);
}

void ft_optim_step(ft_optim *o, float *params, const float *grads)
{
    o->steps++;
    if (o->cfg.type == FT_OPT_SGD)
        sgd_step(o, params, grads);
    else
        adam_step(o, params, grads);
}
