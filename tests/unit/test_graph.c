/* Models as graphs: inputs and aliases in JSON, the new layer types and
 * attributes (round trip, errors), the forward-only workspace against the
 * keep-everything one and its memory on a resnet18-shaped graph, forward
 * against PyTorch (tests/fixtures/graph.json from tools/fixtures/graph.py),
 * and transfer learning on a graph. */
#include <stdlib.h>
#include <string.h>

#include "bench/resnet_json.h"
#include "core/train/train.h"
#include "tests/unit/fixture_compare.h"
#include "tests/unit/fixtures_util.h"
#include "tests/unit/test.h"

/* A residual block: conv-relu-conv, skip from the block input, add + relu,
 * GAP keepdims, flatten, dense. */
static const char *RESIDUAL =
    "{\"input\": [3, 8, 8], \"layers\": ["
    "{\"name\": \"stem\", \"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"padding\": 1, \"activation\": \"relu\"},"
    "{\"name\": \"c1\", \"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"padding\": 1, \"activation\": \"relu\","
    " \"aliases\": [\"/c1/Relu\", \"/c1/Relu_output_0\"]},"
    "{\"name\": \"c2\", \"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"padding\": 1},"
    "{\"name\": \"add\", \"type\": \"add\", \"inputs\": [\"c2\", \"stem\"], \"activation\": \"relu\"},"
    "{\"name\": \"gap\", \"type\": \"global_avgpool2d\", \"keepdims\": true},"
    "{\"name\": \"flat\", \"type\": \"flatten\"},"
    "{\"name\": \"fc\", \"type\": \"dense\", \"units\": 5}]}";

static ft_model *build(const char *text, ft_error *err)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    if (!j)
        fprintf(stderr, "bad test JSON: %s\n", jerr.text);
    ft_model *m = j ? ft_model_from_json(j, "architecture", err) : NULL;
    json_decref(j);
    return m;
}

/* JSON -> model -> canonical JSON -> model -> JSON is stable, and holds `needle`. */
static void round_trip(const char *text, const char *needle)
{
    ft_error err = {0};
    ft_model *m = build(text, &err);
    CHECKF(m != NULL, "%s: %s %s", text, err.param, err.msg);
    if (!m)
        return;
    json_t *once = ft_model_arch_json(m);
    ft_model *again = ft_model_from_json(once, "", &err);
    CHECKF(again != NULL, "%s: %s", text, err.msg);
    json_t *twice = again ? ft_model_arch_json(again) : NULL;
    CHECKF(twice && json_equal(once, twice), "%s", text);
    char *dump = json_dumps(once, JSON_COMPACT | JSON_SORT_KEYS);
    CHECKF(dump && strstr(dump, needle), "%s lacks %s", dump, needle);
    free(dump);
    json_decref(once), json_decref(twice);
    ft_model_free(again), ft_model_free(m);
}

static void test_round_trip(void)
{
    round_trip(RESIDUAL, "\"inputs\":[\"c2\",\"stem\"]");
    round_trip(RESIDUAL, "\"aliases\":[\"/c1/Relu\",\"/c1/Relu_output_0\"]");
    round_trip(RESIDUAL, "\"keepdims\":true");
    const char *conv = "{\"input\": [4, 9, 9], \"layers\": [{\"name\": \"/conv/Conv\", \"type\": \"conv2d\", \"filters\": 8,"
                       " \"kernel\": 3, \"stride\": 2, \"padding\": [1, 0, 2, 1], \"dilation\": 2, \"groups\": 2,"
                       " \"activation\": \"clip\", \"min\": -1, \"max\": 4}]}";
    round_trip(conv, "\"padding\":[1,0,2,1]");
    round_trip(conv, "\"dilation\":[2,2]");
    round_trip(conv, "\"groups\":2");
    round_trip(conv, "\"max\":4");
    round_trip(conv, "\"name\":\"/conv/Conv\"");
    round_trip("{\"input\": [2, 7, 7], \"layers\": [{\"type\": \"maxpool2d\", \"size\": 3, \"stride\": 2, \"padding\": [1, 1],"
               " \"ceil_mode\": true, \"dilation\": [1, 2]}]}", "\"ceil_mode\":true");
    round_trip("{\"input\": [2, 7, 7], \"layers\": [{\"type\": \"avgpool2d\", \"size\": 3, \"stride\": 2, \"padding\": 1,"
               " \"count_include_pad\": false}]}", "\"count_include_pad\":false");
    round_trip("{\"input\": [2, 3, 4], \"layers\": [{\"type\": \"softmax\", \"axis\": -3, \"flatten\": true}]}",
               "\"axis\":0");
    round_trip("{\"input\": [2, 3, 4], \"layers\": [{\"type\": \"activation\", \"activation\": \"hard_sigmoid\","
               " \"alpha\": 0.25, \"beta\": 0.25}]}", "\"alpha\":0.25");
    round_trip("{\"input\": [2, 3, 4], \"layers\": [{\"type\": \"batchnorm\"}]}", "batchnorm");
    round_trip("{\"input\": [2, 3, 4], \"layers\": [{\"name\": \"k\", \"type\": \"constant\", \"shape\": [2, 1, 1]},"
               " {\"type\": \"mul\", \"inputs\": [\"input\", \"k\"], \"activation\": \"hard_swish\"},"
               " {\"name\": \"c\", \"type\": \"concat\", \"axis\": -1, \"inputs\": [\"input\", \"mul_1\", \"input\"]},"
               " {\"type\": \"pad\", \"pads\": [0, 1, 0, 0, 2, 1], \"value\": -1.5},"
               " {\"type\": \"reshape\", \"shape\": [-1, 13]}]}", "\"shape\":[12,13]");
    /* A plain sequential model emits no inputs, aliases or new attributes. */
    ft_error err = {0};
    ft_model *m = build("{\"input\": [1, 6, 6], \"layers\": [{\"type\": \"conv2d\", \"filters\": 2, \"kernel\": 3},"
                        " {\"type\": \"avgpool2d\"}, {\"type\": \"global_avgpool2d\"}]}", &err);
    json_t *j = m ? ft_model_arch_json(m) : NULL;
    char *dump = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    CHECKF(dump && strcmp(dump, "{\"input\":[1,6,6],\"layers\":[{\"activation\":\"linear\",\"filters\":2,\"kernel\":[3,3],"
                               "\"name\":\"conv2d_0\",\"padding\":[0,0],\"stride\":[1,1],\"type\":\"conv2d\"},"
                               "{\"name\":\"avgpool2d_1\",\"padding\":[0,0],\"size\":[2,2],\"stride\":[2,2],\"type\":\"avgpool2d\"},"
                               "{\"name\":\"global_avgpool2d_2\",\"type\":\"global_avgpool2d\"}]}") == 0, "%s", dump);
    free(dump);
    json_decref(j);
    ft_model_free(m);
}

static void test_errors(void)
{
    struct {
        const char *json, *param, *msg;
    } cases[] = {
        {"{\"input\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 2, \"inputs\": [\"nope\"]}]}",
         "architecture.layers[0].inputs[0]", "layer 'dense_0' reads 'nope', which is not an earlier layer"},
        {"{\"input\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 2, \"inputs\": [\"b\"]}, {\"name\": \"b\", \"type\": \"dense\", \"units\": 2}]}",
         "architecture.layers[0].inputs[0]", "layer 'dense_0' reads 'b', which is not an earlier layer"},
        {"{\"input\": [2, 4, 4], \"layers\": [{\"name\": \"a\", \"type\": \"conv2d\", \"filters\": 3, \"kernel\": 1},"
         " {\"name\": \"s\", \"type\": \"add\", \"inputs\": [\"a\", \"input\"]}]}",
         "architecture.layers[1]", "add layer 's': input shapes [3, 4, 4] and [2, 4, 4] do not broadcast"},
        {"{\"input\": [2, 4, 4], \"layers\": [{\"name\": \"a\", \"type\": \"pad\", \"pads\": [0, 1, 0, 0, 0, 0]},"
         " {\"name\": \"c\", \"type\": \"concat\", \"inputs\": [\"a\", \"input\"]}]}",
         "architecture.layers[1]", "concat layer 'c': input 1's shape differs from input 0's outside axis 0"},
        {"{\"input\": [2, 4, 4], \"layers\": [{\"name\": \"s\", \"type\": \"add\"}]}",
         "architecture.layers[0]", "add layer 's' takes 2 inputs, got 1"},
        {"{\"input\": [6, 4, 4], \"layers\": [{\"name\": \"g\", \"type\": \"conv2d\", \"filters\": 4, \"kernel\": 1, \"groups\": 3}]}",
         "architecture.layers[0]", "conv2d layer 'g': groups 3 must divide the input channels (6) and filters (4)"},
        {"{\"input\": [1, 6, 6], \"layers\": [{\"name\": \"p\", \"type\": \"maxpool2d\", \"size\": 2, \"padding\": [0, 0, 2, 0]}]}",
         "architecture.layers[0]", "maxpool2d layer 'p': padding must be at most half the window"},
        {"{\"input\": [4], \"layers\": [{\"name\": \"a\", \"type\": \"dense\", \"units\": 2, \"aliases\": [\"b\"]},"
         " {\"name\": \"b\", \"type\": \"dense\", \"units\": 2}]}",
         "architecture.layers[0].aliases", "alias 'b' is already a layer name or alias"},
        {"{\"input\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 2, \"activation\": \"relu\", \"min\": 0}]}",
         "architecture.layers[0].min", "min only applies to clip"},
        {"{\"input\": [2, 3], \"layers\": [{\"type\": \"reshape\", \"shape\": [4, 2]}]}", "architecture.input", "input must be"},
        {"{\"input\": [6], \"layers\": [{\"name\": \"r\", \"type\": \"reshape\", \"shape\": [4, -1]}]}",
         "architecture.layers[0]", "reshape layer 'r': the shape holds 4 values, the input 6"},
        {"{\"input\": [2, 3, 3], \"layers\": [{\"name\": \"p\", \"type\": \"pad\", \"pads\": [0, -1, 0, 0, 0, 0]}]}",
         "architecture.layers[0].pads", "pads must be an array of integers"},
        {"{\"input\": [2, 3, 3], \"layers\": [{\"name\": \"x\", \"type\": \"activation\", \"activation\": \"softmax\"}]}",
         "architecture.layers[0]", "activation layer 'x' cannot use softmax (use a softmax layer)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ft_error err = {0};
        ft_model *m = build(cases[i].json, &err);
        CHECKF(m == NULL, "case %zu accepted", i);
        CHECKF(strcmp(err.param, cases[i].param) == 0, "case %zu: param '%s', want '%s'", i, err.param, cases[i].param);
        CHECKF(strstr(err.msg, cases[i].msg) != NULL, "case %zu: '%s' lacks '%s'", i, err.msg, cases[i].msg);
        ft_model_free(m);
    }
}

/* The forward-only workspace gives the keep-everything one's outputs bit
 * for bit, with less memory, and a training workspace refuses a graph. */
static void test_liveness_matches(void)
{
    ft_model *m = init_model(RESIDUAL, 3);
    CHECK(m != NULL);
    if (!m)
        return;
    enum { B = 3 };
    float x[B * 3 * 8 * 8];
    ft_rng rng;
    ft_rng_seed(&rng, 9);
    for (size_t i = 0; i < sizeof x / sizeof *x; i++)
        x[i] = (float)ft_rng_normal(&rng);
    ft_error err = {0};
    int n = ft_model_num_layers(m);
    ft_workspace *train = ft_workspace_new(m, 0, B, &err);
    CHECK(train == NULL && strcmp(err.msg, "layer 'add' (type add) cannot train yet") == 0);
    ft_model_set_first_trainable(m, n - 1); /* only fc trains: a training workspace now works */
    train = ft_workspace_new(m, 0, B, &err);
    ft_workspace *fwd = ft_workspace_new_range(m, 0, n, B, &err);
    CHECK(train && fwd);
    if (train && fwd) {
        const float *a = ft_model_forward(m, train, x, B, 0, NULL);
        float keep[B * 5];
        memcpy(keep, a, sizeof keep);
        const float *b = ft_model_forward(m, fwd, x, B, 0, NULL);
        CHECK(memcmp(keep, b, sizeof keep) == 0);
        CHECK(ft_workspace_floats_of(fwd) < ft_workspace_floats_of(train));
        CHECK(ft_workspace_floats_of(fwd) == ft_workspace_infer_floats(m, 0, n, B));
        CHECK(ft_workspace_output(fwd, 2) == NULL && ft_workspace_output(train, n - 1) == a);
    }
    ft_workspace_free(train);
    ft_workspace_free(fwd);
    /* A range may read only its own layers and the layer below it. */
    CHECK(ft_workspace_new_range(m, 3, n, B, &err) == NULL &&
          strstr(err.msg, "layer 'add' reads a layer below layer 3") != NULL);
    ft_workspace *top = ft_workspace_new_range(m, 4, n, B, &err);
    CHECK(top != NULL);
    ft_workspace_free(top);
    ft_model_free(m);
}

/* Every case of graph.json: the model from its architecture and params,
 * forward through a forward-only workspace, within 1e-5 relative of torch.
 * The denominator is floored at 1e-2 of the largest output: float32 sums of
 * unit-sized terms err by about 1e-7 absolute, 1e-5 of an output of 0.01. */
static void test_fixtures(void)
{
    json_error_t jerr;
    json_t *doc = json_load_file("tests/fixtures/graph.json", 0, &jerr);
    CHECKF(doc != NULL, "graph.json: %s", jerr.text);
    size_t i;
    json_t *c;
    int ran = 0;
    json_array_foreach(json_object_get(doc, "cases"), i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        ft_error err = {0};
        ft_model *m = ft_model_from_json(json_object_get(c, "architecture"), "architecture", &err);
        CHECKF(m != NULL, "%s: %s %s", name, err.param, err.msg);
        if (!m)
            continue;
        const json_t *params = json_object_get(c, "params");
        size_t copied = 0;
        for (int l = 0; l < ft_model_num_layers(m); l++) {
            ft_layer_info li;
            ft_model_layer_info(m, l, &li);
            float *p = ft_model_params(m) + li.param_offset;
            const char *suffix[] = {"weight", "bias"};
            for (int k = 0; k < 2 && li.has_params; k++) {
                char key[160];
                snprintf(key, sizeof key, "%s.%s", li.name, suffix[k]);
                const json_t *v = json_object_get(params, key);
                for (size_t e = 0; e < json_array_size(v); e++)
                    *p++ = (float)json_number_value(json_array_get(v, e));
                copied += json_array_size(v);
            }
        }
        CHECKF(copied == ft_model_num_params(m), "%s: %zu of %zu params", name, copied, ft_model_num_params(m));
        int batch = (int)json_integer_value(json_object_get(c, "batch"));
        const json_t *jy = json_object_get(c, "y");
        size_t nx;
        float *x = fixture_floats(json_object_get(c, "x"), &nx);
        ft_workspace *ws = ft_workspace_new_range(m, 0, ft_model_num_layers(m), batch, &err);
        const float *y = ft_model_forward(m, ws, x, batch, 0, NULL);
        size_t n = json_array_size(jy);
        CHECKF(n == (size_t)batch * ft_shape_size(ft_model_output_shape(m)), "%s: %zu outputs", name, n);
        fixture_compare("y", name, y, jy, 1e-5, 1e-2);
        ran++;
        ft_workspace_free(ws);
        free(x);
        ft_model_free(m);
    }
    CHECK(ran >= 19);
    json_decref(doc);
}

/* The forward-only workspace of resnet18 at 224x224, batch 32 (the feature
 * cache's prefix run) stays under 1 GB; keeping every output would not. */
static void test_resnet18_memory(void)
{
    json_t *arch = resnet18_json(224, 1000);
    ft_error err = {0};
    ft_model *m = ft_model_layout_from_json(arch, "", &err);
    json_decref(arch);
    CHECKF(m != NULL, "%s", err.msg);
    if (!m)
        return;
    int n = ft_model_num_layers(m);
    size_t live = ft_workspace_infer_floats(m, 0, n, 32), all = ft_workspace_floats(m, 0, n, 32);
    CHECKF(live * sizeof(float) < ((size_t)1 << 30), "%zu MiB", live * sizeof(float) >> 20);
    CHECKF(live * 3 < all, "forward-only %zu floats, keep-everything %zu", live, all);
    ft_model_free(m);
}

/* 1x1 convolutions: the large-plane path (sgemm on the input) and the
 * batched one (small planes) against the sum written out. */
static void test_pointwise_paths(void)
{
    const int sizes[] = {48, 20}; /* 2304 pixels: per sample; 400: batched */
    for (int k = 0; k < 2; k++) {
        char text[256];
        int s = sizes[k];
        snprintf(text, sizeof text, "{\"input\": [3, %d, %d], \"layers\": [{\"type\": \"conv2d\", \"filters\": 2, "
                 "\"kernel\": 1, \"activation\": \"relu\"}]}", s, s);
        ft_model *m = init_model(text, 4);
        ft_rng rng;
        ft_rng_seed(&rng, 5);
        size_t hw = (size_t)s * (size_t)s;
        float *x = malloc(sizeof *x * 2 * 3 * hw), *w = ft_model_params(m);
        for (size_t i = 0; i < 2 * 3 * hw; i++)
            x[i] = (float)ft_rng_normal(&rng);
        w[6] = 0.25f, w[7] = -0.5f; /* nonzero biases */
        ft_error err = {0};
        ft_workspace *ws = ft_workspace_new_range(m, 0, 1, 2, &err);
        const float *y = ft_model_forward(m, ws, x, 2, 0, NULL);
        double worst = 0;
        for (int b = 0; b < 2; b++)
            for (int f = 0; f < 2; f++)
                for (size_t p = 0; p < hw; p++) {
                    double want = w[6 + f];
                    for (int c = 0; c < 3; c++)
                        want += (double)w[f * 3 + c] * x[((size_t)b * 3 + (size_t)c) * hw + p];
                    want = want > 0 ? want : 0;
                    worst = fmax(worst, fabs(y[((size_t)b * 2 + (size_t)f) * hw + p] - want));
                }
        CHECKF(worst < 1e-5, "%dx%d: error %g", s, s, worst);
        ft_workspace_free(ws);
        free(x);
        ft_model_free(m);
    }
}

/* The residual graph on [1, 8, 8] (the blobs dataset's shape). */
static const char *GRAPH_BASE =
    "{\"input\": [1, 8, 8], \"layers\": ["
    "{\"name\": \"stem\", \"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"padding\": 1, \"activation\": \"relu\"},"
    "{\"name\": \"c1\", \"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"padding\": 1, \"activation\": \"relu\","
    " \"aliases\": [\"/c1/Relu\"]},"
    "{\"name\": \"c2\", \"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"padding\": 1},"
    "{\"name\": \"add\", \"type\": \"add\", \"inputs\": [\"c2\", \"stem\"], \"activation\": \"relu\"},"
    "{\"name\": \"gap\", \"type\": \"global_avgpool2d\", \"keepdims\": true},"
    "{\"name\": \"flat\", \"type\": \"flatten\"},"
    "{\"name\": \"fc\", \"type\": \"dense\", \"units\": 5}]}";

/* Transfer base -> a 3-class head; checks the layer names and each kept
 * layer's weights against the base's. */
static ft_model *graph_transfer(ft_model *base, const char *cut, int drop, const char *const *names, int n)
{
    ft_rng rng;
    ft_rng_seed(&rng, 1);
    ft_error err = {0};
    ft_transfer t = {.cut_after = cut, .drop_layers = drop, .freeze = FT_FREEZE_BASE, .output = FT_ACT_SOFTMAX,
                     .units = 3, .init = FT_INIT_HE_NORMAL};
    int kept = -1;
    ft_model *m = ft_model_transfer(base, &t, &rng, &kept, &err);
    CHECKF(m && ft_model_num_layers(m) == n, "%s/%d: %s", cut ? cut : "drop", drop, err.msg);
    for (int i = 0; m && i < n && i < ft_model_num_layers(m); i++) {
        ft_layer_info li, bi;
        ft_model_layer_info(m, i, &li);
        CHECKF(strcmp(li.name, names[i]) == 0, "layer %d is %s, want %s", i, li.name, names[i]);
        CHECK(li.trainable == (i >= kept));
        int at = ft_model_find_layer(base, li.name);
        if (i < kept && at >= 0) {
            ft_model_layer_info(base, at, &bi);
            CHECK(li.params == bi.params && memcmp(ft_model_params(m) + li.param_offset,
                                                   ft_model_params(base) + bi.param_offset,
                                                   li.params * sizeof(float)) == 0);
        }
    }
    return m;
}

static void test_transfer_graph(void)
{
    ft_model *base = init_model(GRAPH_BASE, 5);
    const char *by_name[] = {"stem", "c1", "head_flatten", "head_output"};
    ft_model_free(graph_transfer(base, "c1", 0, by_name, 4));
    ft_model_free(graph_transfer(base, "/c1/Relu", 0, by_name, 4));
    /* cut after the add: c1, c2 come along as its ancestors, the skip renumbered */
    const char *at_add[] = {"stem", "c1", "c2", "add", "head_flatten", "head_output"};
    ft_model *m = graph_transfer(base, "add", 0, at_add, 6);
    ft_layer_info li;
    ft_model_layer_info(m, 3, &li);
    CHECK(li.ninputs == 2 && strcmp(li.inputs[0], "c2") == 0 && strcmp(li.inputs[1], "stem") == 0 &&
          strcmp(li.op, "add") == 0);
    ft_model_free(m);
    /* drop_layers 1: fc goes, the flatten of the pooled feature stays */
    const char *drop1[] = {"stem", "c1", "c2", "add", "gap", "flat", "head_output"};
    m = graph_transfer(base, NULL, 1, drop1, 7);
    /* drop_layers 2: cut before the global pool */
    ft_model_free(graph_transfer(base, NULL, 2, at_add, 6));
    ft_error err = {0};
    ft_transfer t = {.drop_layers = 6, .output = FT_ACT_SOFTMAX, .units = 3};
    CHECK(ft_model_transfer_layout(base, &t, NULL, &err) == NULL && strcmp(err.param, "drop_layers") == 0 &&
          strstr(err.msg, "between 0 and 5") != NULL);
    t.drop_layers = 0, t.cut_after = "nope";
    CHECK(ft_model_transfer_layout(base, &t, NULL, &err) == NULL && strcmp(err.param, "cut_after") == 0);

    /* freeze base: training the head (through the feature cache, which runs
     * the graph prefix forward-only) leaves the kept weights bit-identical */
    size_t toff = ft_model_trainable_offset(m), total = ft_model_num_params(m);
    float *before = malloc(total * sizeof(float));
    memcpy(before, ft_model_params(m), total * sizeof(float));
    ft_dataset *ds = blobs_dataset(60, 3, 9);
    ft_preproc pp;
    ft_preproc_init(&pp, ds);
    ft_train_config cfg = {.loss = FT_LOSS_CROSS_ENTROPY, .batch_size = 16, .epochs = 3, .seed = 1,
                           .cache_limit_bytes = 1 << 20,
                           .optim = {.type = FT_OPT_SGD, .lr = 0.05, .momentum = 0.9, .weight_decay = 0.01}};
    ft_trainer *tr = ft_trainer_new(m, ds, NULL, &pp, &cfg, &err);
    CHECKF(tr && ft_trainer_run(tr, NULL, &err) == 0, "%s", err.msg);
    CHECK(toff > 0 && memcmp(before, ft_model_params(m), toff * sizeof(float)) == 0);
    CHECK(memcmp(before + toff, ft_model_params(m) + toff, (total - toff) * sizeof(float)) != 0);
    ft_trainer_free(tr);
    /* everything trainable: the graph cannot train yet */
    ft_model_set_first_trainable(m, 0);
    CHECK(ft_trainer_new(m, ds, NULL, &pp, &cfg, &err) == NULL &&
          strcmp(err.msg, "layer 'add' (type add) cannot train yet") == 0);
    free(before);
    ft_dataset_free(ds);
    ft_model_free(m);
    ft_model_free(base);
}

int main(void)
{
    RUN(test_round_trip);
    RUN(test_errors);
    RUN(test_liveness_matches);
    RUN(test_fixtures);
    RUN(test_resnet18_memory);
    RUN(test_pointwise_paths);
    RUN(test_transfer_graph);
    return TEST_SUMMARY();
}
