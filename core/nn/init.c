/* Weight initialisation with the torch.nn.init formulas. Fans follow torch's
 * _calculate_fan_in_and_fan_out on the layer's weight shape [out, in, ...]:
 * fan_in = in * receptive field, fan_out = out * receptive field (dense
 * [out, in] -> in, out; conv [out, in, kh, kw] -> in*kh*kw, out*kh*kw).
 * Biases start at zero. */
#include <math.h>
#include <string.h>

#include "core/nn/model_internal.h"
#include "core/util/names.h"

const char *const ft_init_names[FT_INIT_COUNT] = {
    [FT_INIT_HE_NORMAL] = "he_normal", [FT_INIT_HE_UNIFORM] = "he_uniform",
    [FT_INIT_XAVIER_NORMAL] = "xavier_normal", [FT_INIT_XAVIER_UNIFORM] = "xavier_uniform",
    [FT_INIT_LECUN_NORMAL] = "lecun_normal", [FT_INIT_NORMAL] = "normal", [FT_INIT_ZEROS] = "zeros",
    [FT_INIT_TORCH_DEFAULT] = "torch_default",
};

const char *ft_init_name(ft_init_scheme s) { return ft_init_names[s]; }
FT_NAMES_PARSER(ft_init_parse, ft_init_scheme, ft_init_names, FT_INIT_COUNT)

static void fill_normal(float *w, size_t n, double std, ft_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        w[i] = (float)(ft_rng_normal(rng) * std);
}

static void fill_uniform(float *w, size_t n, double bound, ft_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        w[i] = (float)((2.0 * ft_rng_uniform(rng) - 1.0) * bound);
}

static void init_layer(ft_model *m, const ft_layer *l, ft_init_scheme scheme, double std, ft_rng *rng)
{
    float *w = m->params + l->param_offset;
    uint64_t shape[4];
    int rank = l->kind->weight_shape(l, shape);
    double receptive = 1.0;
    for (int d = 2; d < rank; d++)
        receptive *= (double)shape[d];
    double fan_in = (double)shape[1] * receptive, fan_out = (double)shape[0] * receptive;
    switch (scheme) {
    case FT_INIT_HE_NORMAL: /* kaiming_normal_(nonlinearity="relu"): gain sqrt(2) */
        fill_normal(w, l->nweights, sqrt(2.0 / fan_in), rng);
        break;
    case FT_INIT_HE_UNIFORM: /* kaiming_uniform_(nonlinearity="relu"): bound sqrt(6 / fan_in) */
        fill_uniform(w, l->nweights, sqrt(6.0 / fan_in), rng);
        break;
    case FT_INIT_XAVIER_NORMAL:
        fill_normal(w, l->nweights, sqrt(2.0 / (fan_in + fan_out)), rng);
        break;
    case FT_INIT_XAVIER_UNIFORM:
        fill_uniform(w, l->nweights, sqrt(6.0 / (fan_in + fan_out)), rng);
        break;
    case FT_INIT_LECUN_NORMAL: /* kaiming_normal_(nonlinearity="linear"): gain 1 */
        fill_normal(w, l->nweights, sqrt(1.0 / fan_in), rng);
        break;
    case FT_INIT_NORMAL:
        fill_normal(w, l->nweights, std, rng);
        break;
    case FT_INIT_ZEROS:
        memset(w, 0, sizeof(float) * l->nweights);
        break;
    case FT_INIT_TORCH_DEFAULT:
        /* kaiming_uniform_(a=sqrt(5)) gives bound 1/sqrt(fan_in), and torch
         * draws the bias from the same range: the one scheme with a random bias. */
        fill_uniform(w, l->nweights + l->nbias, 1.0 / sqrt(fan_in), rng);
        return;
    }
    memset(w + l->nweights, 0, sizeof(float) * l->nbias);
}

void ft_model_init(ft_model *m, int from, ft_init_scheme scheme, double std, ft_rng *rng)
{
    for (int i = from < 0 ? 0 : from; i < m->nlayers; i++)
        if (m->layers[i].nweights)
            init_layer(m, &m->layers[i], scheme, std, rng);
}
