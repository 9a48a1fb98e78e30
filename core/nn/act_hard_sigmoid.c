/* hard_sigmoid: max(0, min(1, alpha x + beta)) (ONNX HardSigmoid; alpha 0.2,
 * beta 0.5 by default). Strictly between 0 and 1 the slope is alpha, so
 * backward needs only y. */
#include <float.h>

#include "core/nn/activation.h"

FT_ACT_ELEMENTWISE(FT_HOT, hard_sigmoid, p[0] * x + p[1] < 0 ? 0.0f : p[0] * x + p[1] > 1 ? 1.0f : p[0] * x + p[1],
                   y > 0 && y < 1 ? d * p[0] : 0.0f)

static const ft_act_param hard_sigmoid_params[FT_ACT_MAX_PARAMS] = {{"alpha", 0.2f, -FLT_MAX, FLT_MAX},
                                                                    {"beta", 0.5f, -FLT_MAX, FLT_MAX}};

const ft_act_kind ft_act_hard_sigmoid = {
    .forward = hard_sigmoid_forward, .backward = hard_sigmoid_backward, .params = hard_sigmoid_params,
};
