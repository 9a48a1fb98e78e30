/* leaky_relu: x, or slope * x below zero. y > 0 exactly when the
 * pre-activation was > 0 (the slope is >= 0), so backward needs only y. */
#include "core/nn/activation.h"

FT_ACT_ELEMENTWISE(, leaky_relu, x > 0 ? x : p[0] * x, y > 0 ? d : p[0] * d)

static const ft_act_param leaky_relu_params[FT_ACT_MAX_PARAMS] = {{"negative_slope", 0.01f, 0, 1}};

const ft_act_kind ft_act_leaky_relu = {
    .forward = leaky_relu_forward, .backward = leaky_relu_backward, .params = leaky_relu_params,
};
