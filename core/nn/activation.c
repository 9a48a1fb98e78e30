/* Activations through their descriptors: one call per layer and batch (or
 * per row), never per element. */
#include <string.h>

#include "core/nn/activation.h"

void ft_act_forward(ft_activation act, const float *p, float *y, float *keep, size_t rows, size_t cols)
{
    const ft_act_kind *k = ft_act_kinds[act];
    if (k->needs_input)
        memcpy(keep, y, sizeof(float) * rows * cols);
    k->forward(y, rows, cols, p);
}

void ft_act_backward(ft_activation act, const float *p, const float *x, const float *y, float *dy,
                     size_t rows, size_t cols)
{
    const ft_act_kind *k = ft_act_kinds[act];
    k->backward(k->needs_input ? x : NULL, y, dy, rows, cols, p);
}

void ft_act_default_params(ft_activation act, float *p)
{
    const ft_act_param *q = ft_act_kinds[act]->params;
    for (int i = 0; i < FT_ACT_MAX_PARAMS; i++)
        p[i] = q && q[i].name ? q[i].def : 0;
}

bool ft_act_needs_input(ft_activation a) { return ft_act_kinds[a]->needs_input; }

bool ft_activation_rowwise(ft_activation a) { return ft_act_kinds[a]->rowwise; }
bool ft_activation_probabilities(ft_activation a) { return ft_act_kinds[a]->probabilities; }
