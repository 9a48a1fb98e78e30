/* Internal: the activation descriptor. Each activation lives in its own file
 * (core/nn/act_<name>.c) and is registered by one row in core/nn/registry.h.
 * Layers apply activations in place, so backward normally works from the
 * output alone. An activation whose derivative is not a function of its
 * output (gelu) sets needs_input: the layer then keeps a copy of the
 * pre-activation in its scratch (sized at setup for those activations only)
 * and backward receives it. */
#ifndef FT_ACTIVATION_H
#define FT_ACTIVATION_H

#include <stdbool.h>
#include <stddef.h>

#include "core/nn/layer.h"

/* One parameter of an activation: its JSON key beside "activation", its
 * default and the range [lo, hi) it accepts. */
typedef struct {
    const char *name;
    float def;
    double lo, hi;
} ft_act_param;

typedef struct {
    /* In place on rows x cols; p holds the layer's activation parameters. */
    void (*forward)(float *y, size_t rows, size_t cols, const float *p);
    /* dy := dy * act'(.) given the forward output y and, when needs_input,
     * the forward input x (NULL otherwise). */
    void (*backward)(const float *x, const float *y, float *dy, size_t rows, size_t cols, const float *p);
    /* Its parameters, in the order of p (at most FT_ACT_MAX_PARAMS, a NULL
     * name ends the list early), or NULL for none. */
    const ft_act_param *params;
    bool needs_input;   /* backward reads x: layers keep the pre-activation */
    bool rowwise;       /* normalises across a row (softmax): output layers only */
    bool probabilities; /* outputs read as class probabilities (softmax, sigmoid) */
} ft_act_kind;

/* The activation registry, indexed by ft_activation. */
extern const ft_act_kind *const ft_act_kinds[FT_ACT_COUNT];

/* Define name_forward and name_backward for an activation applied element
 * by element: `fwd` computes the output from x, `bwd` the gradient from the
 * output y and the incoming gradient d (the parameters p are in scope in both). attr is
 * FT_HOT for the loops worth compiling per vector width, or empty. The loops
 * take plain arrays so they vectorise; there is no call per element. */
#define FT_ACT_ELEMENTWISE(attr, name, fwd, bwd)                                                   \
    FT_ACT_ELEMENTWISE_FORWARD(attr, name, fwd)                                                    \
    FT_ACT_ELEMENTWISE_BACKWARD(attr, name, y, out, bwd)

/* The same for an activation that sets needs_input: `bwd` computes the
 * gradient from the forward input x and d. */
#define FT_ACT_ELEMENTWISE_INPUT(attr, name, fwd, bwd)                                             \
    FT_ACT_ELEMENTWISE_FORWARD(attr, name, fwd)                                                    \
    FT_ACT_ELEMENTWISE_BACKWARD(attr, name, x, in, bwd)

#define FT_ACT_ELEMENTWISE_FORWARD(attr, name, fwd)                                                \
    attr static void name##_forward(float *v, size_t rows, size_t cols, const float *p)           \
    {                                                                                              \
        (void)p;                                                                                   \
        for (size_t i = 0, n = rows * cols; i < n; i++) {                                          \
            float x = v[i];                                                                        \
            v[i] = (fwd);                                                                          \
        }                                                                                          \
    }

/* `var` (x or y) is read from `src` (in or out). */
#define FT_ACT_ELEMENTWISE_BACKWARD(attr, name, var, src, bwd)                                     \
    attr static void name##_backward(const float *restrict in, const float *restrict out,         \
                                     float *restrict g, size_t rows, size_t cols, const float *p)  \
    {                                                                                              \
        (void)in, (void)out, (void)p;                                                              \
        for (size_t i = 0, n = rows * cols; i < n; i++) {                                          \
            float var = src[i], d = g[i];                                                          \
            g[i] = (bwd);                                                                          \
        }                                                                                          \
    }

#endif
