/* softmax along each row: e^x_j / sum_k e^x_k. */
#include <math.h>

#include "core/nn/activation.h"

static void softmax_forward(float *y, size_t rows, size_t cols, const float *p)
{
    (void)p;
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
}

/* The Jacobian-vector product: dz = y * (dy - sum_j dy_j y_j). */
static void softmax_backward(const float *x, const float *y, float *dy, size_t rows, size_t cols, const float *p)
{
    (void)x, (void)p;
    for (size_t r = 0; r < rows; r++) {
        const float *yr = y + r * cols;
        float *dr = dy + r * cols, dot = 0;
        for (size_t j = 0; j < cols; j++)
            dot += dr[j] * yr[j];
        for (size_t j = 0; j < cols; j++)
            dr[j] = yr[j] * (dr[j] - dot);
    }
}

const ft_act_kind ft_act_softmax = {
    .forward = softmax_forward, .backward = softmax_backward, .rowwise = true, .probabilities = true,
};
