/* Models as graphs: inputs and aliases in JSON, the new layer types and
 * attributes (round trip, errors), the forward-only workspace against the
 * keep-everything one, and its memory on a resnet18-shaped graph. Numerics
 * against PyTorch are in test_graph_fixtures.c. */
#include <stdlib.h>
#include <string.h>

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

int main(void)
{
    RUN(test_round_trip);
    RUN(test_errors);
    RUN(test_liveness_matches);
    return TEST_SUMMARY();
}
