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

static double weight_of(const float *w, int c) { return w ? w[c] : 1.0; }

double ft_loss_norm(const ft_loss_config *c, const int32_t *labels, const uint32_t *idx, int batch)
{
    if (c->type != FT_LOSS_CROSS_ENTROPY || !c->class_weight)
        return batch;
    double sum = 0;
    for (int r = 0; r < batch; r++)
        sum += c->class_weight[labels[idx ? idx[r] : (uint32_t)r]];
    return sum;
}

/* loss_i = (1 - e) w_y (lse_i - z_iy) + e / k sum_j w_j (lse_i - z_ij);
 * grad_ij = (p_ij ((1 - e) w_y + e / k sum w) - e / k w_j - [j = y] (1 - e) w_y) / norm */
static double cross_entropy(const ft_loss_config *c, const float *z, const int32_t *labels, int batch, int k,
                            double norm, float *grad)
{
    const float *w = c->class_weight;
    double eps = c->label_smoothing, wsum = 0, total = 0;
    for (int j = 0; eps > 0 && j < k; j++)
        wsum += weight_of(w, j);
    for (int r = 0; r < batch; r++) {
        const float *zr = z + (size_t)r * (size_t)k;
        float mx = zr[0];
        for (int j = 1; j < k; j++)
            mx = zr[j] > mx ? zr[j] : mx;
        double sum = 0;
        for (int j = 0; j < k; j++)
            sum += exp((double)zr[j] - mx);
        double lse = mx + log(sum), wy = weight_of(w, labels[r]);
        total += (1 - eps) * wy * (lse - zr[labels[r]]);
        for (int j = 0; eps > 0 && j < k; j++)
            total += eps / k * weight_of(w, j) * (lse - zr[j]);
        if (grad) {
            float *gr = grad + (size_t)r * (size_t)k;
            double coef = (1 - eps) * wy + eps / k * wsum;
            for (int j = 0; j < k; j++)
                gr[j] = (float)((exp((double)zr[j] - mx) / sum * coef - eps / k * weight_of(w, j)) / norm);
            gr[labels[r]] -= (float)((1 - eps) * wy / norm);
        }
    }
    return total / norm;
}

/* loss = w (max(z, 0) - z t + log(1 + exp(-|z|)));  grad = w (sigmoid(z) - t) / N,
 * w the row's class weight (nn.BCEWithLogitsLoss(weight) with a weight per row) */
static double binary_cross_entropy(const ft_loss_config *c, const float *z, const float *t, const int32_t *labels,
                                   int batch, int units, double n, float *grad)
{
    double total = 0;
    for (int r = 0; r < batch; r++) {
        double w = c->class_weight ? c->class_weight[labels[r]] : 1.0;
        for (size_t i = (size_t)r * (size_t)units; i < (size_t)(r + 1) * (size_t)units; i++) {
            double x = z[i];
            total += w * (fmax(x, 0) - x * t[i] + log1p(exp(-fabs(x))));
            if (grad)
                grad[i] = (float)(w * (1.0 / (1.0 + exp(-x)) - t[i]) / n);
        }
    }
    return total / n;
}

static double regression(ft_loss_type type, double delta, const float *y, const float *t, size_t count, double n,
                         float *grad)
{
    double total = 0;
    for (size_t i = 0; i < count; i++) {
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
            grad[i] = (float)(g / n);
    }
    return total / n;
}

double ft_loss_eval(const ft_loss_config *c, const float *input, const int32_t *labels, const float *targets,
                    int batch, int units, double norm, float *grad)
{
    size_t count = (size_t)batch * (size_t)units;
    switch (c->type) {
    case FT_LOSS_CROSS_ENTROPY:
        return cross_entropy(c, input, labels, batch, units, norm, grad);
    case FT_LOSS_BINARY_CROSS_ENTROPY:
        return binary_cross_entropy(c, input, targets, labels, batch, units, norm * units, grad);
    default:
        return regression(c->type, c->huber_delta, input, targets, count, norm * units, grad);
    }
}

double ft_loss_compute(ft_loss_type t, double huber_delta, const float *input, const int32_t *labels,
                       const float *targets, int batch, int units, float *grad)
{
    ft_loss_config c = {.type = t, .huber_delta = huber_delta};
    return ft_loss_eval(&c, input, labels, targets, batch, units, batch, grad);
}
