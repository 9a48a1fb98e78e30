/* hard_swish: x max(0, min(1, x / 6 + 1/2)) (ONNX HardSwish, torch's
 * Hardswish). It is not monotonic on (-3, -1.5), so backward reads the
 * pre-activation x: 0 below -3, 1 above 3, x / 3 + 1/2 between. */
#include "core/nn/activation.h"

FT_ACT_ELEMENTWISE_INPUT(FT_HOT, hard_swish, x <= -3 ? 0.0f : x >= 3 ? x : x * (x / 6 + 0.5f),
                         x < -3 ? 0.0f : x > 3 ? d : d * (x / 3 + 0.5f))

const ft_act_kind ft_act_hard_swish = {
    .forward = hard_swish_forward, .backward = hard_swish_backward, .needs_input = true,
};
