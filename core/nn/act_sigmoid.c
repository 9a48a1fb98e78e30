/* sigmoid: 1 / (1 + e^-x); dy/dx = y (1 - y). */
#include <math.h>

#include "core/nn/activation.h"

FT_ACT_ELEMENTWISE(, sigmoid, 1.0f / (1.0f + expf(-x)), d * (y * (1 - y)))

const ft_act_kind ft_act_sigmoid = {.forward = sigmoid_forward, .backward = sigmoid_backward, .probabilities = true};
