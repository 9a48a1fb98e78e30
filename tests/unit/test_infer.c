/* Forward runs split over threads by rows (core/nn/infer.h): the same
 * outputs as one workspace running the slices, and as one running the whole
 * batch up to the BLAS's rounding, for batches that split evenly, oddly
 * (3 rows over 2 threads) and not at all (1 row over 2), on a graph with a
 * residual add, a concat, a depthwise and a Winograd conv, and on resnet18
 * and a prefix of it; logits; prediction through the runner; max pooling
 * without the argmax; and the invalid requests. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "bench/resnet_json.h"
#include "core/nn/infer.h"
#include "core/train/train.h"
#include "tests/unit/test.h"

/* Every conv path once: Winograd (16 -> 16, 3x3), im2col on a large plane
 * (the 5x5 stem), pointwise, depthwise, batched small planes after the
 * pool; a residual add and a concat of two branches; a softmax head. */
static const char *GRAPH =
    "{\"input\": [3, 48, 48], \"layers\": ["
    "{\"name\": \"stem\", \"type\": \"conv2d\", \"filters\": 16, \"kernel\": 5, \"padding\": 2, \"activation\": \"relu\"},"
    "{\"name\": \"w1\", \"type\": \"conv2d\", \"filters\": 16, \"kernel\": 3, \"padding\": 1, \"activation\": \"relu\"},"
    "{\"name\": \"w2\", \"type\": \"conv2d\", \"filters\": 16, \"kernel\": 3, \"padding\": 1},"
    "{\"name\": \"add\", \"type\": \"add\", \"inputs\": [\"w2\", \"stem\"], \"activation\": \"relu\"},"
    "{\"name\": \"pw\", \"type\": \"conv2d\", \"filters\": 8, \"kernel\": 1, \"inputs\": [\"add\"]},"
    "{\"name\": \"dw\", \"type\": \"conv2d\", \"filters\": 16, \"kernel\": 3, \"padding\": 1, \"groups\": 16,"
    " \"inputs\": [\"add\"], \"activation\": \"clip\"},"
    "{\"name\": \"cat\", \"type\": \"concat\", \"inputs\": [\"pw\", \"dw\"]},"
    "{\"name\": \"pool\", \"type\": \"maxpool2d\", \"size\": 3, \"stride\": 2, \"padding\": 1},"
    "{\"name\": \"late\", \"type\": \"conv2d\", \"filters\": 12, \"kernel\": 3, \"stride\": 2, \"padding\": 1,"
    " \"activation\": \"relu\"},"
    "{\"name\": \"gap\", \"type\": \"global_avgpool2d\"},"
    "{\"name\": \"fc\", \"type\": \"dense\", \"units\": 5, \"activation\": \"softmax\"}]}";

/* A model from JSON with He-normal weights (activations keep their scale
 * through resnet18's depth, as a trained network's do) and small random
 * biases, seeded. Takes arch over. */
static ft_model *random_model(json_t *arch, uint64_t seed)
{
    ft_error err = {0};
    ft_model *m = arch ? ft_model_from_json(arch, "", &err) : NULL;
    json_decref(arch);
    CHECKF(m != NULL, "%s %s", err.param, err.msg);
    if (!m)
        return NULL;
    ft_rng rng;
    ft_rng_seed(&rng, seed);
    ft_model_init(m, 0, FT_INIT_HE_NORMAL, 0, &rng);
    for (int i = 0; i < ft_model_num_layers(m); i++) {
        ft_layer_info li;
        ft_model_layer_info(m, i, &li);
        float *p = ft_model_params(m) + li.param_offset;
        for (size_t k = 0; li.has_params && k < (size_t)li.output.dim[0]; k++) /* the bias follows the weights */
            p[li.params - (size_t)li.output.dim[0] + k] = (ft_rng_uniform(&rng) - 0.5f) * 0.2f;
    }
    return m;
}

static float *random_input(const ft_model *m, int rows, uint64_t seed)
{
    size_t n = ft_shape_size(ft_model_input_shape(m)) * (size_t)rows;
    float *x = malloc(sizeof *x * n);
    ft_rng rng;
    ft_rng_seed(&rng, seed);
    for (size_t i = 0; x && i < n; i++)
        x[i] = ft_rng_uniform(&rng) * 2 - 1;
    return x;
}

/* The largest difference of a and b relative to the largest |a|. */
static double max_rel_diff(const float *a, const float *b, size_t n)
{
    double worst = 0, scale = 1e-30;
    for (size_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs(a[i]));
    }
    return worst / scale;
}

/* Layers [0, to) of m on `batch` rows split over `threads`: bit for bit
 * what one thread computes running the same slices one after the other
 * (the threads share nothing), and within 1e-5 of the output's scale of one
 * workspace running the whole batch. Not bit for bit: a slice's products
 * have another N, and OpenBLAS's sgemm rounds its sums differently with N
 * (Zen: up to 2 ulp of a K = 576 sum between N = 100 and 200), as it does
 * between a batch of 16 and one of 32 today. */
static void check_split(ft_model *m, int to, int batch, int threads, int flags)
{
    ft_error err = {0};
    ft_layer_info top;
    ft_model_layer_info(m, to - 1, &top);
    size_t in = ft_shape_size(ft_model_input_shape(m)), out = ft_shape_size(top.output), n = (size_t)batch * out;
    int slice = (batch + threads - 1) / threads;
    float *x = random_input(m, batch, (uint64_t)batch), *whole = malloc(sizeof(float) * n),
          *slices = malloc(sizeof(float) * n);
    ft_workspace *ws = ft_workspace_new_range(m, 0, to, batch, &err);
    ft_workspace *ws_slice = ft_workspace_new_range(m, 0, to, slice, &err);
    ft_infer *inf = ft_infer_new(m, 0, to, batch, threads, &err);
    CHECKF(x && whole && slices && ws && ws_slice && inf, "%s", err.msg);
    if (x && whole && slices && ws && ws_slice && inf) {
        memcpy(whole, ft_model_forward(m, ws, x, batch, flags, NULL), sizeof(float) * n);
        for (int s = 0; s < threads; s++) {
            size_t b0 = (size_t)batch * (size_t)s / (size_t)threads, b1 = (size_t)batch * (size_t)(s + 1) / (size_t)threads;
            if (b1 > b0)
                memcpy(slices + b0 * out, ft_model_forward(m, ws_slice, x + b0 * in, (int)(b1 - b0), flags, NULL),
                       sizeof(float) * (b1 - b0) * out);
        }
        for (int run = 0; run < 2; run++) { /* the second run reuses every buffer */
            const float *got = ft_infer_run(inf, m, x, batch, flags);
            CHECKF(memcmp(got, slices, sizeof(float) * n) == 0, "batch %d over %d threads, up to layer %d, run %d",
                   batch, threads, to, run);
            double d = max_rel_diff(whole, got, n);
            CHECKF(d <= 1e-5, "batch %d over %d threads, up to layer %d: differs by %.3g", batch, threads, to, d);
        }
    }
    ft_infer_free(inf);
    ft_workspace_free(ws_slice);
    ft_workspace_free(ws);
    free(x), free(whole), free(slices);
}

static void test_graph_split(void)
{
    ft_model *m = random_model(json_loads(GRAPH, 0, NULL), 1);
    if (!m)
        return;
    int n = ft_model_num_layers(m);
    const int batches[] = {1, 3, 16};
    for (int b = 0; b < 3; b++)
        for (int threads = 1; threads <= 3; threads++) {
            check_split(m, n, batches[b], threads, 0);
            check_split(m, n, batches[b], threads, FT_FWD_LOGITS);
        }
    /* a prefix ending at the concat, as the feature cache runs one */
    check_split(m, ft_model_find_layer(m, "cat") + 1, 3, 2, 0);
    ft_model_free(m);
}

/* resnet18 (residual adds, strided 1x1 downsamples) at 32x32 (layer4 on
 * 1x1 planes), and its prefix up to the pooled features. */
static void test_resnet18_split(void)
{
    ft_model *m = random_model(resnet18_json(32, 10), 2);
    if (!m)
        return;
    check_split(m, ft_model_num_layers(m), 3, 2, 0);
    check_split(m, ft_model_num_layers(m) - 1, 5, 2, 0);
    ft_model_free(m);
}

/* ft_predict over 2 threads gives one thread's outputs, across chunks. */
static void test_predict_threads(void)
{
    ft_model *m = random_model(json_loads("{\"input\": [2, 6, 6], \"layers\": [{\"type\": \"conv2d\", \"filters\": 4,"
                                          " \"kernel\": 3, \"activation\": \"relu\"}, {\"type\": \"flatten\"},"
                                          " {\"type\": \"dense\", \"units\": 5, \"activation\": \"softmax\"}]}",
                                          0, NULL),
                               3);
    int rows = FT_PREDICT_CHUNK + 5;
    float *x = m ? random_input(m, rows, 9) : NULL;
    float *one = malloc(sizeof(float) * 5 * (size_t)rows), *two = malloc(sizeof(float) * 5 * (size_t)rows);
    ft_error err = {0};
    if (x && one && two) {
        CHECKF(ft_predict(m, x, rows, one, 1, &err) == 0, "%s", err.msg);
        CHECKF(ft_predict(m, x, rows, two, 2, &err) == 0, "%s", err.msg);
        CHECK(max_rel_diff(one, two, 5 * (size_t)rows) <= 1e-5);
        CHECK(ft_predict(m, x, rows, two, 0, &err) != 0 && err.code == FT_EINVAL);
    } else {
        CHECK(!"out of memory");
    }
    free(x), free(one), free(two);
    ft_model_free(m);
}

/* Max pooling without the argmax (forward-only workspaces) against the
 * general path a training workspace runs, bit for bit: padding on every
 * side, ceil_mode, strides and dilations, and NaNs (one first in a window,
 * which wins there, and ones elsewhere, which do not). */
static void test_maxpool_forward_only(void)
{
    const char *pools[] = {
        "{\"size\": 3, \"stride\": 2, \"padding\": 1, \"ceil_mode\": true}",
        "{\"size\": [2, 3], \"stride\": [1, 2], \"padding\": [1, 1, 0, 1], \"dilation\": [2, 1]}",
        "{\"size\": 2}",
        "{\"size\": [3, 1], \"stride\": 1, \"dilation\": [1, 3]}",
    };
    for (size_t k = 0; k < sizeof pools / sizeof *pools; k++) {
        char text[512];
        snprintf(text, sizeof text, "{\"input\": [2, 9, 11], \"layers\": [%.*s, \"type\": \"maxpool2d\"}]}",
                 (int)strlen(pools[k]) - 1, pools[k]);
        ft_error err = {0};
        json_t *arch = json_loads(text, 0, NULL);
        ft_model *m = arch ? ft_model_from_json(arch, "", &err) : NULL;
        json_decref(arch);
        CHECKF(m != NULL, "%s: %s", text, err.msg);
        float *x = m ? random_input(m, 3, 7) : NULL;
        ft_workspace *train = m ? ft_workspace_new(m, 0, 3, &err) : NULL;
        ft_workspace *fwd = m ? ft_workspace_new_range(m, 0, 1, 3, &err) : NULL;
        if (x && train && fwd) {
            x[0] = x[5] = x[2 * 99 + 40] = NAN;
            size_t n = 3 * ft_shape_size(ft_model_output_shape(m));
            const float *a = ft_model_forward(m, train, x, 3, 0, NULL), *b = ft_model_forward(m, fwd, x, 3, 0, NULL);
            CHECKF(memcmp(a, b, sizeof(float) * n) == 0, "%s", pools[k]);
            CHECKF(isnan(a[0]) == (k != 1), "%s: the first window starts with the NaN (not when padded)", pools[k]);
        } else {
            CHECK(!"setup");
        }
        ft_workspace_free(train), ft_workspace_free(fwd);
        free(x);
        ft_model_free(m);
    }
}

static void test_invalid_requests(void)
{
    ft_model *m = random_model(json_loads(GRAPH, 0, NULL), 4);
    if (!m)
        return;
    int n = ft_model_num_layers(m);
    const int bad[][4] = {{0, n, 4, 0}, {0, n, 4, 257}, {0, n, 0, 2}, {2, 2, 4, 2}, {0, n + 1, 4, 2}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ft_error err = {0};
        CHECKF(ft_infer_new(m, bad[i][0], bad[i][1], bad[i][2], bad[i][3], &err) == NULL && err.code == FT_EINVAL,
               "request %zu", i);
    }
    /* the dense head reads a flat input: a range from the middle must start where its reads allow */
    ft_error err = {0};
    CHECK(ft_infer_new(m, ft_model_find_layer(m, "add"), n, 4, 2, &err) == NULL && err.code == FT_EINVAL);
    ft_model_free(m);
}

int main(void)
{
    openblas_set_num_threads(1); /* infer.h: the caller keeps BLAS single-threaded */
    RUN(test_graph_split);
    RUN(test_resnet18_split);
    RUN(test_predict_threads);
    RUN(test_maxpool_forward_only);
    RUN(test_invalid_requests);
    return TEST_SUMMARY();
}
