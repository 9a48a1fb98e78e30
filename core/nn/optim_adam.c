/* Adam and AdamW with torch.optim's rules: Adam adds weight decay to the
 * gradient, AdamW decays the weights directly (decoupled). */
#include <math.h>
#include <stddef.h>

#include "core/nn/optim_kind.h"

/* decay is 1 - lr*wd for AdamW and 1 otherwise, l2 the coupled weight decay
 * of Adam (0 for AdamW). Memory-bound and branch-free, so it vectorises. */
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

static void adam_update(ft_optim *o, float *p, const float *g, bool decoupled)
{
    const ft_optim_config *c = &o->cfg;
    double t = (double)o->steps;
    /* Bias corrections in double, as torch computes these Python scalars. */
    adam_loop(o->n, (float)c->beta1, (float)c->beta2, (float)c->eps,
              decoupled ? 0.0f : (float)c->weight_decay,
              decoupled ? (float)(1.0 - c->lr * c->weight_decay) : 1.0f,
              (float)(c->lr / (1.0 - pow(c->beta1, t))), (float)sqrt(1.0 - pow(c->beta2, t)), p, g,
              o->state, o->state + o->n);
}

static void adam_step(ft_optim *o, float *p, const float *g) { adam_update(o, p, g, false); }
static void adamw_step(ft_optim *o, float *p, const float *g) { adam_update(o, p, g, true); }

/* First moments, then second moments. */
static size_t adam_state(const ft_optim_config *cfg, size_t n)
{
    (void)cfg;
    return 2 * n;
}

#define ADAM_KEYS(wd)                                                                              \
    {                                                                                              \
        {"lr", offsetof(ft_optim_config, lr), false, 0.001, 1e-12, 1e3},                           \
        {"beta1", offsetof(ft_optim_config, beta1), false, 0.9, 0, 0.99999},                       \
        {"beta2", offsetof(ft_optim_config, beta2), false, 0.999, 0, 0.999999},                    \
        {"eps", offsetof(ft_optim_config, eps), false, 1e-8, 1e-12, 1},                            \
        {"weight_decay", offsetof(ft_optim_config, weight_decay), false, wd, 0, 10},               \
        {NULL, 0, false, 0, 0, 0},                                                                 \
    }
static const ft_optim_key adam_keys[] = ADAM_KEYS(0), adamw_keys[] = ADAM_KEYS(0.01);

const ft_optim_kind ft_optim_adam = {.keys = adam_keys, .state_floats = adam_state, .step = adam_step};
const ft_optim_kind ft_optim_adamw = {.keys = adamw_keys, .state_floats = adam_state, .step = adamw_step};
