/* erf, the Gauss error function: ONNX's Erf, which exported gelu is
 * composed of, so such a model reads back. Its derivative 2/sqrt(pi)
 * exp(-x^2) is a function of the input, not of the output's value alone
 * (inverting erf near +-1 loses it), so it sets needs_input. */
#include <math.h>

#include "core/nn/activation.h"

#define TWO_OVER_SQRT_PI 1.12837916709551257390f /* 2 / sqrt(pi) */

FT_ACT_ELEMENTWISE_INPUT(, erf, erff(x), d * TWO_OVER_SQRT_PI * expf(-x * x))

const ft_act_kind ft_act_erf = {.forward = erf_forward, .backward = erf_backward, .needs_input = true};
