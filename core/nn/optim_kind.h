/* Internal: the optimiser descriptor. Each optimiser lives in its own file
 * (core/nn/optim_<name>.c; AdamW shares Adam's) and is registered by one row in core/nn/registry.h. */
#ifndef FT_OPTIM_KIND_H
#define FT_OPTIM_KIND_H

#include "core/nn/layer.h"
#include "core/nn/optim.h"

struct ft_optim {
    ft_optim_config cfg;
    size_t n;          /* parameters */
    uint64_t steps;    /* updates done, this one included while stepping (Adam's t) */
    size_t nstate;     /* floats in state */
    float *state;      /* the optimiser's own: sgd's velocity, adam's two moments */
};

typedef struct {
    const ft_optim_key *keys; /* spec keys, in echo order, ended by a NULL name */
    /* Floats of state for n parameters. */
    size_t (*state_floats)(const ft_optim_config *cfg, size_t n);
    /* Optional: checks across keys; errors name "<param>.<key>". */
    int (*check)(const ft_optim_config *cfg, const char *param, ft_error *err);
    /* One update of params[0..n) with grads[0..n) (o->steps already counts it). */
    void (*step)(ft_optim *o, float *params, const float *grads);
} ft_optim_kind;

/* The optimiser registry, indexed by ft_optim_type. */
extern const ft_optim_kind *const ft_optim_kinds[FT_OPT_COUNT];

#endif
