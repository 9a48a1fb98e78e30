/* gelu, exact (torch.nn.GELU's default): x Phi(x), with Phi the standard
 * normal CDF, 0.5 (1 + erf(x / sqrt 2)). Its derivative Phi(x) + x phi(x)
 * is not a function of the output (gelu is not monotonic below zero), so it
 * sets needs_input and backward reads the pre-activation x. */
#include <math.h>

#include "core/nn/activation.h"

#define INV_SQRT_2PI 0.39894228040143267794f /* phi(0) = 1 / sqrt(2 pi) */

FT_ACT_ELEMENTWISE_INPUT(, gelu, x * 0.5f * (1 + erff(x * (float)M_SQRT1_2)),
                         d * (0.5f * (1 + erff(x * (float)M_SQRT1_2)) + x * INV_SQRT_2PI * expf(-0.5f * x * x)))

const ft_act_kind ft_act_gelu = {.forward = gelu_forward, .backward = gelu_backward, .needs_input = true};
