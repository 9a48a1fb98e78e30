/* clip: x bounded to [min, max] (ONNX Clip; ReLU6 is clip 0..6, the
 * default). Inside the bounds the output equals the input, so backward
 * needs only y. */
#include <float.h>

#include "core/nn/activation.h"

FT_ACT_ELEMENTWISE(FT_HOT, clip, x < p[0] ? p[0] : x > p[1] ? p[1] : x, y > p[0] && y < p[1] ? d : 0.0f)

static const ft_act_param clip_params[FT_ACT_MAX_PARAMS] = {{"min", 0, -FLT_MAX, FLT_MAX},
                                                            {"max", 6, -FLT_MAX, FLT_MAX}};

const ft_act_kind ft_act_clip = {.forward = clip_forward, .backward = clip_backward, .params = clip_params};
