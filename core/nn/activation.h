/* Internal: the activation descriptor. Each activation lives in its own file
 * (core/nn/act_<name>.c) and is registered by one row in core/nn/registry.h.
 * Backward works from the output alone, because layers apply activations in
 * place: an activation's derivative must be a function of its output. */
#ifndef FT_ACTIVATION_H
#define FT_ACTIVATION_H

#include <stdbool.h>
#include <stddef.h>

#include "core/nn/layer.h"

typedef struct {
    /* In place on rows x cols; slope is the layer's negative_slope. */
    void (*forward)(float *y, size_t rows, size_t cols, float slope);
    /* dy := dy * act'(.) given the forward output y. */
    void (*backward)(const float *y, float *dy, size_t rows, size_t cols, float slope);
    bool slope;         /* takes the layer's negative_slope (leaky_relu) */
    bool rowwise;       /* normalises across a row (softmax): output layers only */
    bool probabilities; /* outputs read as class probabilities (softmax, sigmoid) */
} ft_act_kind;

/* The activation registry, indexed by ft_activation. */
extern const ft_act_kind *const ft_act_kinds[FT_ACT_COUNT];

/* Define name_forward and name_backward for an activation applied element
 * by element: `fwd` computes the output from x, `bwd` the gradient from the
 * output y and the incoming gradient d (slope is in scope in both). attr is
 * FT_HOT for the loops worth compiling per vector width, or empty. The loops
 * take plain arrays so they vectorise; there is no call per element. */
#define FT_ACT_ELEMENTWISE(attr, name, fwd, bwd)                                                   \
    attr static void name##_forward(float *v, size_t rows, size_t cols, float slope)              \
    {                                                                                              \
        (void)slope;                                                                               \
        for (size_t i = 0, n = rows * cols; i < n; i++) {                                          \
            float x = v[i];                                                                        \
            v[i] = (fwd);                                                                          \
        }                                                                                          \
    }                                                                                              \
    attr static void name##_backward(const float *restrict out, float *restrict g, size_t rows,    \
                                     size_t cols, float slope)                                     \
    {                                                                                              \
        (void)slope;                                                                               \
        for (size_t i = 0, n = rows * cols; i < n; i++) {                                          \
            float y = out[i], d = g[i];                                                            \
            g[i] = (bwd);                                                                          \
        }                                                                                          \
    }

#endif
