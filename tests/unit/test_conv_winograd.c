/* Winograd F(4x4, 3x3) (core/nn/conv_winograd.c) against the direct sum in
 * double, on shapes that exercise its edges: planes smaller than a tile or
 * not a multiple of 4, padding 0, 1 and asymmetric, channel counts that are
 * not multiples of 4, batches of 1 and 3 (tile runs crossing samples), and
 * an activation that keeps its input for backward. */
#include <stdlib.h>
#include <string.h>

#include "core/nn/conv.h"
#include "core/util/rng.h"
#include "tests/unit/test.h"

typedef struct {
    int c, k, h, w;       /* input channels, filters, input plane */
    int pt, pl, pb, pr;   /* padding top, left, bottom, right */
    int batch;
    ft_activation act;
} shape_case;

static ft_layer layer_for(const shape_case *s)
{
    ft_layer l = {0};
    l.kh = l.kw = 3, l.sh = l.sw = l.dh = l.dw = l.groups = 1;
    l.ph = s->pt, l.pw = s->pl, l.pb = s->pb, l.pr = s->pr;
    l.filters = s->k, l.act = s->act;
    ft_act_default_params(s->act, l.act_param);
    l.in = ft_shape3(s->c, s->h, s->w);
    l.out = ft_shape3(s->k, s->h + s->pt + s->pb - 2, s->w + s->pl + s->pr - 2);
    return l;
}

/* out[b][k][y][x] = bias[k] + sum w[k][c][i][j] x[b][c][y - pt + i][x - pl + j], in double. */
static double direct(const ft_layer *l, const float *x, const float *w, const float *bias, int b, int k, int y,
                     int xo)
{
    int C = l->in.dim[0], H = l->in.dim[1], W = l->in.dim[2];
    double s = bias[k];
    for (int c = 0; c < C; c++)
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                int iy = y - l->ph + i, ix = xo - l->pw + j;
                if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                    s += (double)w[((size_t)k * (size_t)C + (size_t)c) * 9 + (size_t)(i * 3 + j)] *
                         x[(((size_t)b * (size_t)C + (size_t)c) * (size_t)H + (size_t)iy) * (size_t)W + (size_t)ix];
            }
    return s;
}

static float *random_floats(ft_rng *rng, size_t n)
{
    float *v = malloc(sizeof(float) * n);
    for (size_t i = 0; v && i < n; i++)
        v[i] = ft_rng_uniform(rng) * 2 - 1;
    return v;
}

/* One case: every output within 1e-5 of the output's largest magnitude
 * (Winograd's rounding grows with it), the activation applied, and the
 * kept pre-activation equal to the direct sum; with the kernel transformed
 * beforehand (a runner's prepared weights), the same output bit for bit.
 * Each buffer is allocated to its exact size so that the sanitizers and
 * valgrind see any overrun. */
static void check_case(const shape_case *s, ft_rng *rng)
{
    ft_layer l = layer_for(s);
    size_t in = (size_t)s->batch * ft_shape_size(l.in), out = (size_t)s->batch * ft_shape_size(l.out);
    size_t nw = (size_t)s->k * (size_t)s->c * 9;
    float *x = random_floats(rng, in), *w = random_floats(rng, nw), *bias = random_floats(rng, (size_t)s->k);
    float *y = malloc(sizeof(float) * out), *keep = malloc(sizeof(float) * out);
    float *scratch = malloc(sizeof(float) * ft_conv_winograd_floats(&l, s->batch));
    float *u = malloc(sizeof(float) * ft_conv_winograd_kernel_floats(&l)), *y2 = malloc(sizeof(float) * out);
    double *want = malloc(sizeof(double) * out);
    CHECK(x && w && bias && y && keep && scratch && u && y2 && want);
    if (!(x && w && bias && y && keep && scratch && u && y2 && want))
        goto done;
    ft_conv_winograd(&l, s->act, x, w, NULL, bias, s->batch, scratch, y, keep);
    CHECK(ft_conv_winograd_prepare(&l, w, u) == 0);
    ft_conv_winograd(&l, s->act, x, w, u, bias, s->batch, scratch, y2, keep);
    CHECK(memcmp(y, y2, sizeof(float) * out) == 0);
    double scale = 0;
    size_t i = 0;
    for (int b = 0; b < s->batch; b++)
        for (int k = 0; k < s->k; k++)
            for (int yy = 0; yy < l.out.dim[1]; yy++)
                for (int xx = 0; xx < l.out.dim[2]; xx++, i++) {
                    want[i] = direct(&l, x, w, bias, b, k, yy, xx);
                    scale = fmax(scale, fabs(want[i]));
                }
    int bad = 0;
    for (i = 0; i < out; i++) {
        float pre = (float)want[i], post = pre;
        ft_act_forward(s->act, l.act_param, &post, &(float){0}, 1, 1);
        bool kept_ok = !ft_act_needs_input(s->act) || fabs(keep[i] - want[i]) <= 1e-5 * scale;
        if (fabs(y[i] - post) > 1e-5 * scale || !kept_ok)
            bad++;
    }
    CHECKF(bad == 0, "C %d K %d %dx%d pad %d,%d,%d,%d batch %d %s: %d of %zu outputs off", s->c, s->k, s->h, s->w,
           s->pt, s->pl, s->pb, s->pr, s->batch, ft_activation_name(s->act), bad, out);
done:
    free(x), free(w), free(bias), free(y), free(keep), free(scratch), free(u), free(y2), free(want);
}

static void test_shapes(void)
{
    static const shape_case cases[] = {
        {1, 1, 3, 3, 0, 0, 0, 0, 1, FT_ACT_LINEAR},   /* one output pixel */
        {3, 5, 1, 1, 1, 1, 1, 1, 1, FT_ACT_LINEAR},   /* a 1x1 plane, all padding */
        {5, 7, 7, 7, 1, 1, 1, 1, 3, FT_ACT_RELU},     /* 7x7: a partial tile on both sides */
        {17, 6, 13, 9, 1, 1, 1, 1, 3, FT_ACT_RELU},   /* odd sizes, odd channels */
        {6, 17, 11, 14, 0, 0, 0, 0, 1, FT_ACT_LINEAR},/* padding 0 */
        {4, 3, 8, 8, 1, 1, 1, 1, 3, FT_ACT_GELU},     /* exact tiles; gelu keeps its input */
        {3, 4, 9, 10, 2, 0, 1, 2, 3, FT_ACT_TANH},    /* asymmetric padding */
        {33, 9, 6, 23, 1, 1, 1, 1, 1, FT_ACT_RELU},   /* wide plane, many channels */
    };
    ft_rng rng;
    ft_rng_seed(&rng, 12);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(&cases[i], &rng);
}

/* A batch large enough that the tile rows are split into several runs, so a
 * run starts inside a sample. */
static void test_runs(void)
{
    shape_case s = {64, 64, 40, 40, 1, 1, 1, 1, 3, FT_ACT_RELU};
    ft_layer l = layer_for(&s);
    /* less scratch than U and the whole batch's 3 x 10 x 10 tiles in V and M: several runs */
    CHECK(ft_conv_winograd_floats(&l, 3) < 36 * (size_t)(64 * 64 + (64 + 64) * 300));
    ft_rng rng;
    ft_rng_seed(&rng, 7);
    check_case(&s, &rng);
}

int main(void)
{
    RUN(test_shapes);
    RUN(test_runs);
    return TEST_SUMMARY();
}
