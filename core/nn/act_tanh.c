/* tanh; dy/dx = 1 - y^2. */
#include <math.h>

#include "core/nn/activation.h"

FT_ACT_ELEMENTWISE(, tanh, tanhf(x), d * (1 - y * y))

const ft_act_kind ft_act_tanh = {.forward = tanh_forward, .backward = tanh_backward};
