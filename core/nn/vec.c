/* Vector helpers the layers share. */
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
