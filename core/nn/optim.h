/* Optimisers with PyTorch's update rules (torch.optim.SGD, Adam, AdamW).
 * They step over one contiguous range of parameters: the model's trainable
 * suffix, so frozen layers get no update, no decay and no momentum drift. */
#ifndef FT_OPTIM_H
#define FT_OPTIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/nn/registry.h"
#include "core/util/error.h"

/* Optimisers: one row each in core/nn/registry.h. */
typedef enum { FT_OPTIMIZERS(FT_ROW_OPT_ENUM) FT_OPT_COUNT } ft_optim_type;

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

/* One hyperparameter an optimiser takes in the job spec ("optimizer": {...}). */
typedef struct {
    const char *name;  /* spec key, e.g. "momentum"; NULL ends a list */
    size_t offset;     /* offsetof(ft_optim_config, field): a double, or a bool if `flag` */
    bool flag;         /* true or false rather than a number */
    double def;        /* default (0 or 1 for a flag) */
    double lo, hi;     /* inclusive range of a number */
} ft_optim_key;

/* Names as they appear in the job spec ("sgd", "adam", "adamw"). */
extern const char *const ft_optim_names[FT_OPT_COUNT];
const char *ft_optim_name(ft_optim_type t);
/* 0 and *out set if s names an optimiser, else -1. */
int ft_optim_parse(const char *s, ft_optim_type *out);

/* The spec keys optimiser t takes, in the order the spec echoes them. */
const ft_optim_key *ft_optim_keys(ft_optim_type t);
/* A config of type t with every key at its default (the rest zero). */
void ft_optim_defaults(ft_optim_config *cfg, ft_optim_type t);
/* Checks across keys (nesterov needs momentum); errors name "<param>.<key>". */
int ft_optim_check(const ft_optim_config *cfg, const char *param, ft_error *err);

/* State for n parameters. */
ft_optim *ft_optim_new(const ft_optim_config *cfg, size_t n, ft_error *err);
/* Floats of state the optimiser keeps for n parameters. */
size_t ft_optim_state_floats(const ft_optim_config *cfg, size_t n);
void ft_optim_free(ft_optim *o);

/* One update of params[0..n) with grads[0..n). */
void ft_optim_step(ft_optim *o, float *params, const float *grads);

/* The learning rate of the next steps (a schedule changes it per epoch). */
void ft_optim_set_lr(ft_optim *o, double lr);

/* Scale grads[0..n) so that their global L2 norm is at most max_norm, as
 * torch.nn.utils.clip_grad_norm_ does (factor max_norm / (norm + 1e-6) when
 * below 1); returns the norm before clipping. */
double ft_clip_grad_norm(float *grads, size_t n, double max_norm);

/* The state a checkpoint must carry: `floats` values and the step count. */
float *ft_optim_state(ft_optim *o, size_t *floats);
uint64_t *ft_optim_steps(ft_optim *o);

#endif
