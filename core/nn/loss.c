#include "core/nn/loss.h"

#include "core/util/names.h"

#include <math.h>
#include <string.h>

const char *const ft_loss_names[FT_LOSS_COUNT] = {
    [FT_LOSS_CROSS_ENTROPY] = "cross_entropy", [FT_LOSS_BINARY_CROSS_ENTROPY] = "binary_cross_entropy",
    [FT_LOSS_MSE] = "mse", [FT_LOSS_MAE] = "mae", [FT_LOSS_HUBER] = "huber",
};

const char *ft_loss_name(ft_loss_type t) { return ft_loss_names[t]; }
FT_NAMES_PARSER(ft_loss_parse, ft_loss_type, ft_loss_names, FT_LOSS_COUNT)

bool ft_loss_fused(ft_loss_type t)
{
    return t == FT_LOSS_CROSS_ENTROPY || t == FT_LOSS_BINARY_CROSS_ENTROPY;
}

bool ft_loss_accepts(ft_loss_type t, ft_activation a)
{
    switch (t) {
    case FT_LOSS_CROSS_ENTROPY:
        return a == FT_ACT_SOFTMAX;
    case FT_LOSS_BINARY_CROSS_ENTROPY:
        return a == FT_ACT_SIGMOID;
    default:
        return a != FT_ACT_SOFTMAX;
    }
}

/* loss_i = logsumexp(z_i) - z_i[label];  grad = (softmax(z) - onehot) / B */
static double cross_entropy(const float *z, const int32_t *labels, int batch, int k, float *grad)
{
    double total = 0;
    for (int r = 0; r < batch; r++) {
        const float *zr = z + (size_t)r * (size_t)k;
        float mx = zr[0];
        for (int j = 1; j < k; j++)
            mx = zr[j] > mx ? zr[j] : mx;
        double sum = 0;
        for (int j = 0; j < k; j++)
            sum += exp((double)zr[j] - mx);
        total += mx + log(sum) - zr[labels[r]];
        if (grad) {
            float *gr = grad + (size_t)r * (size_t)k;
            for (int j = 0; j < k; j++)
                gr[j] = (float)(exp((double)zr[j] - mx) / sum / batch);
            gr[labels[r]] -= 1.0f / (float)batch;
        }
    }
    return total / batch;
}

/* loss = max(z, 0) - z t + log(1 + exp(-|z|));  grad = (sigmoid(z) - t) / N */
static double binary_cross_entropy(const float *z, const float *t, size_t n, float *grad)
{
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        double x = z[i];
        total += fmax(x, 0) - x * t[i] + log1p(exp(-fabs(x)));
        if (grad)
            grad[i] = (float)((1.0 / (1.0 + exp(-x)) - t[i]) / (double)n);
    }
    return total / (double)n;
}

static double regression(ft_loss_type type, double delta, const float *y, const float *t, size_t n,
                         float *grad)
{
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)y[i] - t[i], g;
        double sign = (d > 0) - (d < 0);
        switch (type) {
        case FT_LOSS_MSE:
            total += d * d;
            g = 2 * d;
            break;
        case FT_LOSS_MAE:
            total += fabs(d);
            g = sign;
            break;
        default: /* huber: quadratic within delta, linear outside */
            if (fabs(d) <= delta) {
                total += 0.5 * d * d;
                g = d;
            } else {
                total += delta * (fabs(d) - 0.5 * delta);
                g = delta * sign;
            }
            break;
        }
        if (grad)
            grad[i] = (float)(g / (double)n);
    }
    return total / (double)n;
}

double ft_loss_compute(ft_loss_type t, double huber_delta, const float *input, const int32_t *labels,
                       const float *targets, int batch, int units, float *grad)
{
    size_t n = (size_t)batch * (size_t)units;
    switch (t) {
    case FT_LOSS_CROSS_ENTROPY:
        return cross_entropy(input, labels, batch, units, grad);
    case FT_LOSS_BINARY_CROSS_ENTROPY:
        return binary_cross_entropy(input, targets, n, grad);
    default:
        return regression(t, huber_delta, input, targets, n, grad);
    }
}
