/* Activation functions: forward in place, backward from the output alone
 * (every supported activation's derivative is a function of its output). */
#include <math.h>

#include "core/nn/layer.h"

FT_HOT void ft_vec_add(float *restrict y, const float *restrict x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += x[i];
}

FT_HOT float ft_vec_sum(const float *x, size_t n)
{
    float lane[16] = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (size_t j = 0; j < 16; j++)
            lane[j] += x[i + j];
    float tail = 0;
    for (; i < n; i++)
        tail += x[i];
    for (size_t j = 0; j < 16; j++)
        tail += lane[j];
    return tail;
}

FT_HOT static void relu_forward(float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = y[i] > 0 ? y[i] : 0;
}

/* Both operands are loaded unconditionally so the select vectorises
 * instead of becoming an unpredictable branch. */
FT_HOT static void relu_backward(const float *restrict y, float *restrict dy, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float d = dy[i];
        dy[i] = y[i] > 0 ? d : 0.0f;
    }
}

void ft_act_forward(ft_activation act, float slope, float *y, size_t rows, size_t cols)
{
    size_t n = rows * cols;
    switch (act) {
    case FT_ACT_LINEAR:
        break;
    case FT_ACT_RELU:
        relu_forward(y, n);
        break;
    case FT_ACT_LEAKY_RELU:
        for (size_t i = 0; i < n; i++)
            y[i] = y[i] > 0 ? y[i] : slope * y[i];
        break;
    case FT_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++)
            y[i] = 1.0f / (1.0f + expf(-y[i]));
        break;
    case FT_ACT_TANH:
        for (size_t i = 0; i < n; i++)
            y[i] = tanhf(y[i]);
        break;
    case FT_ACT_SOFTMAX:
        /* Subtract the row max so exp never overflows. */
        for (size_t r = 0; r < rows; r++) {
            float *row = y + r * cols, mx = row[0], sum = 0;
            for (size_t j = 1; j < cols; j++)
                mx = row[j] > mx ? row[j] : mx;
            for (size_t j = 0; j < cols; j++)
                sum += (row[j] = expf(row[j] - mx));
            for (size_t j = 0; j < cols; j++)
                row[j] /= sum;
        }
        break;
    }
}

void ft_act_backward(ft_activation act, float slope, const float *y, float *dy, size_t rows,
                     size_t cols)
{
    size_t n = rows * cols;
    switch (act) {
    case FT_ACT_LINEAR:
        break;
    case FT_ACT_RELU:
        relu_backward(y, dy, n);
        break;
    case FT_ACT_LEAKY_RELU:
        /* y > 0 exactly when the pre-activation was > 0 (slope > 0). */
        for (size_t i = 0; i < n; i++)
            dy[i] = y[i] > 0 ? dy[i] : slope * dy[i];
        break;
    case FT_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++)
            dy[i] *= y[i] * (1 - y[i]);
        break;
    case FT_ACT_TANH:
        for (size_t i = 0; i < n; i++)
            dy[i] *= 1 - y[i] * y[i];
        break;
    case FT_ACT_SOFTMAX:
        /* dz = y * (dy - sum_j dy_j y_j) */
        for (size_t r = 0; r < rows; r++) {
            const float *yr = y + r * cols;
            float *dr = dy + r * cols, dot = 0;
            for (size_t j = 0; j < cols; j++)
                dot += dr[j] * yr[j];
            for (size_t j = 0; j < cols; j++)
                dr[j] = yr[j] * (dr[j] - dot);
        }
        break;
    }
}
