/* relu: max(x, 0). Both operands of each select are loaded unconditionally
 * so it vectorises instead of becoming an unpredictable branch. */
#include "core/nn/activation.h"

FT_ACT_ELEMENTWISE(FT_HOT, relu, x > 0 ? x : 0, y > 0 ? d : 0.0f)

const ft_act_kind ft_act_relu = {.forward = relu_forward, .backward = relu_backward};
