/* Activations through their descriptors: one call per layer and batch (or
 * per row), never per element. */
#include "core/nn/activation.h"

void ft_act_forward(ft_activation act, float slope, float *y, size_t rows, size_t cols)
{
    ft_act_kinds[act]->forward(y, rows, cols, slope);
}

void ft_act_backward(ft_activation act, float slope, const float *y, float *dy, size_t rows,
                     size_t cols)
{
    ft_act_kinds[act]->backward(y, dy, rows, cols, slope);
}

bool ft_activation_rowwise(ft_activation a) { return ft_act_kinds[a]->rowwise; }
bool ft_activation_probabilities(ft_activation a) { return ft_act_kinds[a]->probabilities; }
