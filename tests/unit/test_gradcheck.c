/* Gradient checks by central differences for every layer, activation and
 * loss. The objective is L = sum(y * r) for a fixed random r, so dL/dy = r.
 * A coordinate whose two differences (step h and h/2) disagree has crossed a
 * ReLU kink or a max-pool switch; such coordinates are skipped, and the test
 * fails if more than 5% are. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn/loss.h"
#include "core/nn/model.h"
#include "tests/unit/test.h"

static ft_model *build(const char *json)
{
    json_error_t jerr;
    json_t *j = json_loads(json, 0, &jerr);
    ft_error err = {0};
    ft_model *m = j ? ft_model_from_json(j, "", &err) : NULL;
    if (!m)
        fprintf(stderr, "build failed: %s %s\n", err.param, err.msg);
    json_decref(j);
    return m;
}

static double objective(ft_model *m, ft_workspace *ws, const float *x, int batch, const float *r,
                        size_t nout)
{
    const float *y = ft_model_forward(m, ws, x, batch, 0, NULL);
    double s = 0;
    for (size_t i = 0; i < nout; i++)
        s += (double)y[i] * r[i];
    return s;
}

/* Numeric derivative of the objective w.r.t. *v; sets *kink when h and h/2 disagree. */
static double numeric(ft_model *m, ft_workspace *ws, const float *x, int batch, const float *r,
                      size_t nout, float *v, double h, bool *kink)
{
    float saved = *v;
    double d[2];
    for (int k = 0; k < 2; k++) {
        double step = k ? h / 2 : h;
        *v = (float)(saved + step);
        double up = objective(m, ws, x, batch, r, nout);
        *v = (float)(saved - step);
        double down = objective(m, ws, x, batch, r, nout);
        /* use the step actually represented in float */
        d[k] = (up - down) / ((double)(float)(saved + step) - (double)(float)(saved - step));
    }
    *v = saved;
    *kink = fabs(d[0] - d[1]) > 2e-3 + 2e-2 * fabs(d[1]);
    return d[1];
}

/* build(json) with parameters drawn from N(0, 0.5^2), then the rest of rng's
 * stream for the caller. */
static ft_model *build_random(const char *json, ft_rng *rng, uint64_t seed)
{
    ft_model *m = build(json);
    ft_rng_seed(rng, seed);
    float *p = m ? ft_model_params(m) : NULL;
    for (size_t i = 0; m && i < ft_model_num_params(m); i++)
        p[i] = (float)(ft_rng_normal(rng) * 0.5);
    return m;
}

/* Constants never train: they lead a model and stay below first_trainable. */
static int leading_constants(const ft_model *m)
{
    int n = 0;
    ft_layer_info li;
    for (; n < ft_model_num_layers(m); n++) {
        ft_model_layer_info(m, n, &li);
        if (li.type != FT_LAYER_CONSTANT)
            break;
    }
    return n;
}

static void check_model(const char *name, const char *json, int batch)
{
    ft_rng rng;
    ft_model *m = build_random(json, &rng, 7);
    CHECKF(m != NULL, "%s", name);
    if (!m)
        return;
    float *p = ft_model_params(m);
    size_t nin = ft_shape_size(ft_model_input_shape(m)) * (size_t)batch;
    size_t nout = ft_shape_size(ft_model_output_shape(m)) * (size_t)batch;
    float *x = malloc(nin * sizeof *x), *r = malloc(nout * sizeof *r), *dy = malloc(nout * sizeof *dy);
    float *dx = malloc(nin * sizeof *dx);
    for (size_t i = 0; i < nin; i++)
        x[i] = (float)ft_rng_normal(&rng);
    for (size_t i = 0; i < nout; i++)
        r[i] = (float)ft_rng_normal(&rng);
    ft_error err = {0};
    ft_model_set_first_trainable(m, leading_constants(m));
    ft_workspace *ws = ft_workspace_new(m, 0, batch, &err);
    CHECKF(ws != NULL, "%s: %s", name, err.msg);
    ft_model_forward(m, ws, x, batch, 0, NULL);
    for (size_t i = 0; i < nout; i++)
        dy[i] = r[i];
    ft_model_backward(m, ws, dy, dx);
    float *g = ft_model_grads(m);
    size_t checked = 0, skipped = 0, bad = 0;
    /* A constant never trains: its gradient stays zero and is not checked. */
    bool *fixed = calloc(ft_model_num_params(m) + 1, sizeof *fixed);
    for (int l = 0; l < ft_model_num_layers(m); l++) {
        ft_layer_info li;
        ft_model_layer_info(m, l, &li);
        for (size_t i = 0; li.type == FT_LAYER_CONSTANT && i < li.params; i++) {
            fixed[li.param_offset + i] = true;
            CHECKF(g[li.param_offset + i] == 0, "%s: constant '%s' got a gradient", name, li.name);
        }
    }
    /* every input coordinate (capped) and every parameter (capped) */
    size_t xstep = nin > 300 ? nin / 300 : 1, pstep = ft_model_num_params(m) > 400 ? ft_model_num_params(m) / 400 : 1;
    for (int pass = 0; pass < 2; pass++) {
        size_t n = pass ? ft_model_num_params(m) : nin, step = pass ? pstep : xstep;
        for (size_t i = 0; i < n; i += step) {
            bool kink;
            if (pass && fixed[i])
                continue;
            float *v = pass ? &p[i] : &x[i];
            double num = numeric(m, ws, x, batch, r, nout, v, 1e-2, &kink);
            double ana = pass ? g[i] : dx[i];
            if (kink) {
                skipped++;
                continue;
            }
            checked++;
            if (fabs(num - ana) > 2e-3 + 1e-2 * fabs(ana)) {
                if (bad++ < 5)
                    fprintf(stderr, "%s: %s[%zu] numeric %.6g analytic %.6g\n", name, pass ? "param" : "x", i,
                            num, ana);
            }
        }
    }
    CHECKF(bad == 0, "%s: %zu of %zu gradients differ", name, bad, checked);
    CHECKF(skipped * 20 <= checked + skipped, "%s: %zu of %zu coordinates crossed a kink", name, skipped,
           checked + skipped);
    CHECK(checked > 20);
    ft_workspace_free(ws);
    ft_model_free(m);
    free(x), free(r), free(dy), free(dx), free(fixed);
}

/* Every registered activation, so a new one is checked by adding its row. */
static void test_dense_activations(void)
{
    for (int a = 0; a < FT_ACT_COUNT; a++) {
        char json[256];
        snprintf(json, sizeof json,
                 "{\"input\": [7], \"layers\": [{\"type\": \"dense\", \"units\": 5, \"activation\": \"%s\"}]}",
                 ft_activation_name((ft_activation)a));
        check_model(ft_activation_name((ft_activation)a), json, 3);
    }
}

/* Every activation a convolution takes (all but the row-wise), applied to a whole group at once. */
static void test_conv2d_activations(void)
{
    for (int a = 0; a < FT_ACT_COUNT; a++) {
        if (ft_activation_rowwise((ft_activation)a))
            continue;
        char json[320];
        /* hard_sigmoid's kinks are shallow (slope alpha to 0), too shallow for
         * the kink test to see: a 2x2 kernel keeps most pre-activations off them. */
        snprintf(json, sizeof json,
                 "{\"input\": [2, 5, 4], \"layers\": [{\"type\": \"conv2d\", \"filters\": 3, \"kernel\": %d, "
                 "\"padding\": 1, \"activation\": \"%s\"}]}",
                 a == FT_ACT_HARD_SIGMOID ? 2 : 3, ft_activation_name((ft_activation)a));
        check_model(ft_activation_name((ft_activation)a), json, 2);
    }
}

static void test_conv2d(void)
{
    check_model("conv 3x3 pad 1", "{\"input\": [2, 6, 5], \"layers\": [{\"type\": \"conv2d\", \"filters\": 3, \"kernel\": 3, \"padding\": 1, \"activation\": \"tanh\"}]}", 2);
    check_model("conv stride 2", "{\"input\": [3, 7, 6], \"layers\": [{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": [3, 2], \"stride\": 2, \"padding\": [1, 0], \"activation\": \"relu\"}]}", 2);
    check_model("conv leaky", "{\"input\": [1, 5, 5], \"layers\": [{\"type\": \"conv2d\", \"filters\": 2, \"kernel\": 2, \"stride\": [1, 2], \"activation\": \"leaky_relu\", \"negative_slope\": 0.1}]}", 3);
    /* Stride 1 and unchanged width: im2col/col2im shift whole planes. */
    check_model("conv 5x5 pad 2", "{\"input\": [2, 6, 7], \"layers\": [{\"type\": \"conv2d\", \"filters\": 2, \"kernel\": 5, \"padding\": 2, \"activation\": \"tanh\"}]}", 2);
    check_model("conv 3x3 pad 0x1", "{\"input\": [2, 5, 4], \"layers\": [{\"type\": \"conv2d\", \"filters\": 2, \"kernel\": 3, \"padding\": [0, 1], \"activation\": \"tanh\"}]}", 2);
    check_model("conv sigmoid", "{\"input\": [2, 4, 4], \"layers\": [{\"type\": \"conv2d\", \"filters\": 2, \"kernel\": 3, \"padding\": \"same\", \"activation\": \"sigmoid\"}]}", 2);
    /* Groups, depthwise with a channel multiplier, dilation, asymmetric padding. */
    check_model("conv groups 2", "{\"input\": [4, 5, 5], \"layers\": [{\"type\": \"conv2d\", \"filters\": 6, \"kernel\": 3, \"padding\": 1, \"groups\": 2, \"activation\": \"tanh\"}]}", 2);
    check_model("conv depthwise dilated", "{\"input\": [3, 7, 7], \"layers\": [{\"type\": \"conv2d\", \"filters\": 6, \"kernel\": 3, \"stride\": 2, \"dilation\": 2, \"padding\": [2, 1, 1, 2], \"groups\": 3, \"activation\": \"tanh\"}]}", 2);
    check_model("conv dilation same width", "{\"input\": [2, 6, 6], \"layers\": [{\"type\": \"conv2d\", \"filters\": 2, \"kernel\": 3, \"dilation\": [2, 1], \"padding\": [2, 1], \"activation\": \"sigmoid\"}]}", 2);
    /* Small planes (under 2048 pixels: one product per channel group over a
     * sample group) with over 1M col floats per sample: each of the 3
     * samples is its own sample group, so dW accumulates across groups. */
    /* 1x1 over a plane of 2048 pixels or more: the input is col, dcol is dx. */
    check_model("conv pointwise", "{\"input\": [3, 46, 46], \"layers\": [{\"type\": \"conv2d\", \"filters\": 2, \"kernel\": 1, \"activation\": \"tanh\"}]}", 2);
    check_model("conv small planes, sample groups", "{\"input\": [12, 44, 44], \"layers\": [{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 7, \"padding\": 3, \"groups\": 2}]}", 3);
}

/* The layer types with a backward beside the classics: a standalone
 * activation and reshape. */
static void test_activation_reshape_layers(void)
{
    check_model("activation layer", "{\"input\": [2, 3, 4], \"layers\": [{\"type\": \"activation\", \"activation\": \"hard_swish\"}, {\"type\": \"reshape\", \"shape\": [4, -1]}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 3, \"activation\": \"clip\", \"min\": -1, \"max\": 1}]}", 2);
}

/* Runs `m` forward on x (batch rows) and backward with dL/dy = r; returns dx. */
static float *input_gradient(ft_model *m, const float *x, const float *r, int batch)
{
    size_t nin = ft_shape_size(ft_model_input_shape(m)) * (size_t)batch;
    size_t nout = ft_shape_size(ft_model_output_shape(m)) * (size_t)batch;
    float *dy = malloc(nout * sizeof *dy), *dx = malloc(nin * sizeof *dx);
    memcpy(dy, r, nout * sizeof *dy);
    ft_error err = {0};
    ft_workspace *ws = ft_workspace_new(m, 0, batch, &err);
    ft_model_forward(m, ws, x, batch, 0, NULL);
    ft_model_backward(m, ws, dy, dx);
    ft_workspace_free(ws);
    free(dy);
    return dx;
}

/* A convolution too large for one group per batch (over 1M col floats per
 * sample, so each sample is its own group): each group's backward reads its
 * own samples' kept pre-activations, so sample 1's dx equals its dx alone. */
static void test_conv2d_kept_input_groups(void)
{
    ft_rng rng;
    ft_model *m = build_random("{\"input\": [1, 350, 350], \"layers\": [{\"type\": \"conv2d\", \"filters\": 2, "
                               "\"kernel\": 3, \"padding\": 1, \"activation\": \"gelu\"}]}",
                               &rng, 5);
    CHECK(m != NULL);
    if (!m)
        return;
    size_t nin = 350 * 350, nout = 2 * nin;
    float *x = malloc(2 * nin * sizeof *x), *r = malloc(2 * nout * sizeof *r);
    for (size_t i = 0; i < 2 * nin; i++)
        x[i] = (float)ft_rng_normal(&rng);
    for (size_t i = 0; i < 2 * nout; i++)
        r[i] = (float)ft_rng_normal(&rng);
    float *both = input_gradient(m, x, r, 2), *alone = input_gradient(m, x + nin, r + nout, 1);
    size_t differ = 0;
    for (size_t i = 0; i < nin; i++)
        differ += fabsf(both[nin + i] - alone[i]) > 1e-5f + 1e-5f * fabsf(alone[i]);
    CHECKF(differ == 0, "%zu of %zu input gradients of sample 1 differ", differ, nin);
    free(both), free(alone), free(x), free(r);
    ft_model_free(m);
}

/* gelu's forward values (torch.nn.GELU(), exact): through a dense layer with W = I, b = 0. */
static void test_gelu_values(void)
{
    ft_model *m = build("{\"input\": [3], \"layers\": [{\"type\": \"dense\", \"units\": 3, \"activation\": \"gelu\"}]}");
    CHECK(m != NULL);
    if (!m)
        return;
    float *p = ft_model_params(m); /* W [3, 3] then b [3] */
    memset(p, 0, ft_model_num_params(m) * sizeof *p);
    p[0] = p[4] = p[8] = 1;
    const float x[3] = {1, -1, 0.5f};
    const double want[3] = {0.8413447460685429, -0.15865525393145707, 0.34573123063700656};
    ft_error err = {0};
    ft_workspace *ws = ft_workspace_new(m, 0, 1, &err);
    const float *y = ft_model_forward(m, ws, x, 1, 0, NULL);
    for (int i = 0; i < 3; i++)
        CHECKF(fabs(y[i] - want[i]) <= 1e-6, "gelu(%g) = %.9g, want %.9g", x[i], y[i], want[i]);
    ft_workspace_free(ws);
    ft_model_free(m);
}

static void test_pools(void)
{
    check_model("maxpool 2x2", "{\"input\": [2, 6, 6], \"layers\": [{\"type\": \"maxpool2d\", \"size\": 2}]}", 2);
    check_model("maxpool 3 stride 2 pad 1", "{\"input\": [2, 7, 5], \"layers\": [{\"type\": \"maxpool2d\", \"size\": 3, \"stride\": 2, \"padding\": 1}]}", 2);
    check_model("avgpool pad", "{\"input\": [2, 5, 6], \"layers\": [{\"type\": \"avgpool2d\", \"size\": 3, \"stride\": 2, \"padding\": 1}]}", 2);
    check_model("maxpool ceil dilated", "{\"input\": [2, 7, 8], \"layers\": [{\"type\": \"maxpool2d\", \"size\": 2, \"stride\": 2, \"dilation\": 2, \"padding\": [1, 0, 0, 1], \"ceil_mode\": true}]}", 2);
    check_model("avgpool ceil exclude pad", "{\"input\": [2, 6, 7], \"layers\": [{\"type\": \"avgpool2d\", \"size\": 3, \"stride\": 2, \"padding\": 1, \"ceil_mode\": true, \"count_include_pad\": false}]}", 2);
    check_model("avgpool ceil include pad", "{\"input\": [2, 6, 6], \"layers\": [{\"type\": \"avgpool2d\", \"size\": 2, \"stride\": 2, \"padding\": [0, 1], \"ceil_mode\": true}]}", 2);
    check_model("global avg keepdims", "{\"input\": [3, 4, 5], \"layers\": [{\"type\": \"global_avgpool2d\", \"keepdims\": true}]}", 2);
    check_model("global avg", "{\"input\": [3, 4, 5], \"layers\": [{\"type\": \"global_avgpool2d\"}]}", 2);
}

/* The graph operators, each with its input read by several layers so the
 * summed gradients are checked too. */
static void test_graph_operators(void)
{
    /* a residual add and a squeeze-excitation mul, broadcasting [C, 1, 1] */
    check_model("add + mul broadcast", "{\"input\": [3, 4, 5], \"layers\": ["
                "{\"name\": \"c\", \"type\": \"conv2d\", \"filters\": 3, \"kernel\": 3, \"padding\": 1},"
                "{\"name\": \"res\", \"type\": \"add\", \"inputs\": [\"c\", \"input\"], \"activation\": \"tanh\"},"
                "{\"name\": \"gap\", \"type\": \"global_avgpool2d\", \"keepdims\": true, \"inputs\": [\"input\"]},"
                "{\"name\": \"se\", \"type\": \"mul\", \"inputs\": [\"res\", \"gap\"]},"
                "{\"type\": \"add\", \"inputs\": [\"se\", \"input\"], \"activation\": \"gelu\"}]}", 2);
    /* broadcasting on both sides ([2, 1, 4] * [3, 1]), a constant, the same input twice */
    check_model("mul both sides, constant", "{\"input\": [2, 1, 4], \"layers\": ["
                "{\"name\": \"k\", \"type\": \"constant\", \"shape\": [3, 1]},"
                "{\"name\": \"outer\", \"type\": \"mul\", \"inputs\": [\"input\", \"k\"]},"
                "{\"name\": \"sq\", \"type\": \"mul\", \"inputs\": [\"outer\", \"outer\"]},"
                "{\"type\": \"add\", \"inputs\": [\"sq\", \"input\"]}]}", 3);
    check_model("concat", "{\"input\": [2, 3, 4], \"layers\": ["
                "{\"name\": \"a\", \"type\": \"conv2d\", \"filters\": 3, \"kernel\": 1, \"activation\": \"tanh\"},"
                "{\"name\": \"c0\", \"type\": \"concat\", \"inputs\": [\"a\", \"input\", \"a\"]},"
                "{\"name\": \"c2\", \"type\": \"concat\", \"axis\": -1, \"inputs\": [\"input\", \"input\"]},"
                "{\"type\": \"flatten\", \"inputs\": [\"c2\"]}, {\"name\": \"f\", \"type\": \"flatten\", \"inputs\": [\"c0\"]},"
                "{\"type\": \"concat\", \"inputs\": [\"f\", \"flatten_3\"]}]}", 2);
    check_model("pad", "{\"input\": [2, 3, 4], \"layers\": [{\"type\": \"pad\", \"pads\": [0, 1, 2, 1, 0, 1], \"value\": 0.5},"
                "{\"type\": \"conv2d\", \"filters\": 2, \"kernel\": 3, \"activation\": \"tanh\"}]}", 2);
    check_model("softmax axis 0", "{\"input\": [3, 2, 4], \"layers\": [{\"type\": \"softmax\", \"axis\": 0},"
                "{\"type\": \"conv2d\", \"filters\": 2, \"kernel\": 1}]}", 2);
    check_model("softmax flatten", "{\"input\": [3, 2, 4], \"layers\": [{\"type\": \"softmax\", \"axis\": 1, \"flatten\": true},"
                "{\"type\": \"conv2d\", \"filters\": 2, \"kernel\": 1}]}", 2);
    check_model("batchnorm", "{\"input\": [3, 4, 2], \"layers\": [{\"type\": \"batchnorm\"},"
                "{\"type\": \"conv2d\", \"filters\": 2, \"kernel\": 1, \"activation\": \"tanh\"}, {\"type\": \"flatten\"},"
                "{\"type\": \"batchnorm\"}]}", 2);
    /* a layer nothing reads gets a zero gradient */
    check_model("dead branch", "{\"input\": [4], \"layers\": [{\"name\": \"dead\", \"type\": \"dense\", \"units\": 3},"
                "{\"type\": \"dense\", \"units\": 2, \"inputs\": [\"input\"], \"activation\": \"hard_swish\"}]}", 2);
}

static void test_stack(void)
{
    check_model("cnn stack",
                "{\"input\": [1, 8, 8], \"layers\": ["
                "{\"type\": \"conv2d\", \"filters\": 3, \"kernel\": 3, \"padding\": 1, \"activation\": \"relu\"},"
                "{\"type\": \"maxpool2d\", \"size\": 2},"
                "{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"activation\": \"tanh\"},"
                "{\"type\": \"flatten\"}, {\"type\": \"dropout\", \"rate\": 0.5},"
                "{\"type\": \"dense\", \"units\": 6, \"activation\": \"relu\"},"
                "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}]}",
                2);
}

/* Dropout in training mode: the mask is fixed by the forward pass, so check
 * backward against that mask directly. */
static void test_dropout_train(void)
{
    ft_model *m = build("{\"input\": [50], \"layers\": [{\"type\": \"dropout\", \"rate\": 0.4}]}");
    ft_error err = {0};
    ft_workspace *ws = ft_workspace_new(m, 0, 2, &err);
    ft_rng rng;
    ft_rng_seed(&rng, 3);
    float x[100], dy[100], dx[100];
    for (int i = 0; i < 100; i++)
        x[i] = 1.0f + (float)i, dy[i] = 1.0f;
    const float *y = ft_model_forward(m, ws, x, 2, FT_FWD_TRAIN, &rng);
    int dropped = 0;
    float yc[100];
    for (int i = 0; i < 100; i++)
        yc[i] = y[i];
    ft_model_backward(m, ws, dy, dx);
    for (int i = 0; i < 100; i++) {
        if (yc[i] == 0) {
            dropped++;
            CHECK(dx[i] == 0);
        } else {
            CHECK_CLOSE(yc[i], x[i] / 0.6f, 1e-6, 1e-6);
            CHECK_CLOSE(dx[i], 1 / 0.6f, 1e-6, 1e-6);
        }
    }
    CHECK(dropped > 20 && dropped < 60);
    /* evaluation mode is the identity */
    y = ft_model_forward(m, ws, x, 2, 0, NULL);
    for (int i = 0; i < 100; i++)
        CHECK(y[i] == x[i]);
    ft_workspace_free(ws);
    ft_model_free(m);
}

static void check_loss(ft_loss_type t, int batch, int units, bool labels_only)
{
    ft_rng rng;
    ft_rng_seed(&rng, 11 + t);
    int n = batch * units;
    float in[64], tg[64], grad[64];
    int32_t lab[16];
    for (int i = 0; i < n; i++) {
        in[i] = (float)(ft_rng_normal(&rng) * 2);
        tg[i] = t == FT_LOSS_BINARY_CROSS_ENTROPY ? (float)(ft_rng_below(&rng, 2)) : (float)ft_rng_normal(&rng);
    }
    for (int b = 0; b < batch; b++)
        lab[b] = (int32_t)ft_rng_below(&rng, (uint64_t)units);
    (void)labels_only;
    ft_loss_compute(t, 1.0, in, lab, tg, batch, units, grad);
    for (int i = 0; i < n; i++) {
        float saved = in[i];
        double h = 1e-2;
        in[i] = (float)(saved + h);
        double up = ft_loss_compute(t, 1.0, in, lab, tg, batch, units, NULL);
        in[i] = (float)(saved - h);
        double down = ft_loss_compute(t, 1.0, in, lab, tg, batch, units, NULL);
        in[i] = saved;
        double num = (up - down) / ((double)(float)(saved + h) - (double)(float)(saved - h));
        /* |d| = delta (huber) and d = 0 (mae) are kinks; random draws avoid them */
        CHECKF(fabs(num - grad[i]) <= 1e-4 + 1e-3 * fabs(grad[i]), "%s[%d]: numeric %g analytic %g",
               ft_loss_name(t), i, num, grad[i]);
    }
}

static void test_losses(void)
{
    check_loss(FT_LOSS_CROSS_ENTROPY, 4, 5, true);
    check_loss(FT_LOSS_BINARY_CROSS_ENTROPY, 3, 4, false);
    check_loss(FT_LOSS_MSE, 4, 3, false);
    check_loss(FT_LOSS_MAE, 4, 3, false);
    check_loss(FT_LOSS_HUBER, 5, 3, false);
}

int main(void)
{
    RUN(test_dense_activations);
    RUN(test_conv2d_activations);
    RUN(test_conv2d);
    RUN(test_activation_reshape_layers);
    RUN(test_conv2d_kept_input_groups);
    RUN(test_gelu_values);
    RUN(test_pools);
    RUN(test_graph_operators);
    RUN(test_stack);
    RUN(test_dropout_train);
    RUN(test_losses);
    return TEST_SUMMARY();
}
