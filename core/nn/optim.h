/* Optimisers with PyTorch's update rules (torch.optim.SGD, Adam, AdamW).
 * They step over one contiguous range of parameters: the model's trainable
 * suffix, so frozen layers get no update, no decay and no momentum drift. */
#ifndef FT_OPTIM_H
#define FT_OPTIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util/error.h"

typedef enum { FT_OPT_SGD, FT_OPT_ADAM, FT_OPT_ADAMW } ft_optim_type;

typedef struct {
    ft_optim_type type;
    double lr;           /* learning rate */
    double momentum;     /* sgd */
    bool nesterov;       /* sgd, needs momentum > 0 */
    double weight_decay; /* L2 added to the gradient (sgd, adam); decoupled (adamw) */
    double beta1, beta2; /* adam, adamw */
    double eps;          /* adam, adamw */
} ft_optim_config;

typedef struct ft_optim ft_optim;

const char *ft_optim_name(ft_optim_type t);
int ft_optim_parse(const char *s, ft_optim_type *out);

/* State for n parameters. */
ft_optim *ft_optim_new(const ft_optim_config *cfg, size_t n, ft_error *err);
/* Floats of state the optimiser keeps for n parameters. */
size_t ft_optim_state_floats(const ft_optim_config *cfg, size_t n);
void ft_optim_free(ft_optim *o);

/* One update of params[0..n) with grads[0..n). */
void ft_optim_step(ft_optim *o, float *params, const float *grads);

/* The state a checkpoint must carry: `floats` values and the step count. */
float *ft_optim_state(ft_optim *o, size_t *floats);
uint64_t *ft_optim_steps(ft_optim *o);

#endif
