/* ONNX import, operator by operator: every libonnx-testdata conformance
 * model of every supported operator is imported and run, and its output
 * compared with ONNX's expected one (1e-5 relative, 1e-6 absolute). Inputs
 * after the first are bound as constants. A model we cannot represent must
 * be refused with the message in REFUSED (the exact set), never answered
 * wrongly. Then bad files, each a clean error (tools/gen_onnx_fixtures.py). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/onnx/onnx_import.h"
#include "tests/unit/test.h"

#include "tests/unit/onnx_testdata.h"

#define FIXTURES "tests/fixtures/onnx/"

/* Conformance models that must be refused, and what the message says. */
static const struct {
    const char *test, *want;
} REFUSED[] = {
    /* integer tensors: we compute in float only (the edge and reflect Pad
     * tests have int32 data, so their mode is not reached) */
    {"test_edge_pad", "element type 6"},
    {"test_reflect_pad", "element type 6"},
    {"test_add_uint8", "element type 2"},
    {"test_mul_uint8", "element type 2"},
    {"test_maxpool_2d_uint8", "element type 2"},
    {"test_clip_default_int8_inbounds", "element type 3"},
    {"test_clip_default_int8_max", "element type 3"},
    {"test_clip_default_int8_min", "element type 3"},
    /* 1-D and 3-D windows: conv2d and the 2-D pools only */
    {"test_averagepool_1d_default", "needs an [N, C, H, W] input"},
    {"test_averagepool_3d_default", "needs an [N, C, H, W] input"},
    {"test_maxpool_1d_default", "needs an [N, C, H, W] input"},
    {"test_maxpool_3d_default", "needs an [N, C, H, W] input"},
    /* a second output (indices, mask, running statistics) */
    {"test_maxpool_with_argmax_2d_precomputed_pads", "the graph has 2 outputs"},
    {"test_maxpool_with_argmax_2d_precomputed_strides", "the graph has 2 outputs"},
    {"test_batchnorm_epsilon_training_mode", "the graph has 3 outputs"},
    {"test_batchnorm_example_training_mode", "the graph has 3 outputs"},
    {"test_dropout_default_mask", "the graph has 2 outputs"},
    {"test_dropout_default_mask_ratio", "the graph has 2 outputs"},
    /* operations along the batch axis 0 */
    {"test_concat_1d_axis_0", "must be [N, C, H, W] or [N, features]"},
    {"test_concat_1d_axis_negative_1", "must be [N, C, H, W] or [N, features]"},
    {"test_concat_2d_axis_0", "axis 0 is the batch axis"},
    {"test_concat_2d_axis_negative_2", "axis -2 is the batch axis"},
    {"test_concat_3d_axis_0", "axis 0 is the batch axis"},
    {"test_concat_3d_axis_negative_3", "axis -3 is the batch axis"},
    {"test_softmax_axis_0", "axis 0 is the batch axis"},
    {"test_flatten_axis0", "axis 0 would fold the batch"},
    {"test_flatten_negative_axis4", "axis 0 would fold the batch"},
    {"test_flatten_axis2", "axis 2 would fold dimensions into the batch"},
    {"test_flatten_negative_axis1", "axis -1 would fold dimensions into the batch"},
    {"test_flatten_axis3", "axis 3 would fold dimensions into the batch"},
    {"test_flatten_negative_axis2", "axis -2 would fold dimensions into the batch"},
    {"test_reshape_reordered_all_dims", "the first element must stand for the batch"},
    {"test_reshape_one_dim", "the first element must stand for the batch"},
    {"test_reshape_negative_extended_dims", "does not keep the 12 values of each sample"},
    {"test_reshape_allowzero_reordered", "the first element must stand for the batch"},
    {"test_matmul_3d", "must be [N, K]"},
    {"test_matmul_4d", "must be [N, K]"},
    /* a batch of scalars: the input needs a dimension besides the batch */
    {"test_clip_example", "must be [N, C, H, W] or [N, features]"},
    {"test_clip_inbounds", "must be [N, C, H, W] or [N, features]"},
    {"test_clip_outbounds", "must be [N, C, H, W] or [N, features]"},
    {"test_clip_splitbounds", "must be [N, C, H, W] or [N, features]"},
    {"test_clip_default_inbounds", "must be [N, C, H, W] or [N, features]"},
    {"test_dropout_default_old", "must be [N, C, H, W] or [N, features]"},
    {"test_hardsigmoid_example", "must be [N, C, H, W] or [N, features]"},
    {"test_leakyrelu_example", "must be [N, C, H, W] or [N, features]"},
    {"test_mul_example", "must be [N, C, H, W] or [N, features]"},
    {"test_sigmoid_example", "must be [N, C, H, W] or [N, features]"},
    {"test_tanh_example", "must be [N, C, H, W] or [N, features]"},
    /* pads beyond half the window (PyTorch's rule, which the pools follow) */
    {"test_averagepool_2d_pads", "padding must be at most half the window"},
    {"test_averagepool_2d_pads_count_include_pad", "padding must be at most half the window"},
    {"test_maxpool_2d_pads", "padding must be at most half the window"},
    /* attributes we do not implement */
    {"test_gemm_transposeA", "transA=1 is not supported"},
    {"test_gemm_all_attributes", "transA=1 is not supported"},
    /* not tensors, or no runtime input */
    {"test_identity_opt", "element type 0"},
    {"test_identity_sequence", "element type 0"},
    {"test_constant", "no runtime input"},
};
#define N_REFUSED (sizeof REFUSED / sizeof *REFUSED)

static const char *refusal(const char *test)
{
    for (size_t i = 0; i < N_REFUSED; i++)
        if (strcmp(REFUSED[i].test, test) == 0)
            return REFUSED[i].want;
    return NULL;
}

static ft_onnx_tensor *read_pb(const char *dir, const char *set, const char *kind, size_t k)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/%s_%zu.pb", dir, set, kind, k);
    ft_onnx_tensor *t = NULL;
    ft_error err = {0};
    ft_onnx_read_tensor_file(path, NULL, &t, &err); /* a sequence or optional is no TensorProto: NULL */
    return t;
}

/* Row i of t along axis 0 (leading dimension 1), viewing t's data. */
static ft_onnx_tensor row_of(const ft_onnx_tensor *t, int64_t i, int64_t *dims)
{
    ft_onnx_tensor r = *t;
    memcpy(dims, t->dims, t->rank * sizeof *dims);
    dims[0] = 1;
    r.dims = dims;
    r.count = t->count / (size_t)t->dims[0];
    if (t->f32)
        r.f32 = t->f32 + (size_t)i * r.count;
    else
        r.i64 = t->i64 + (size_t)i * r.count;
    return r;
}

/* A bound input that varies along the batch like x does. */
static bool batched_like(const ft_onnx_tensor *b, const ft_onnx_tensor *x)
{
    return b && x->rank >= 2 && b->rank == x->rank && b->dims[0] == x->dims[0] && x->dims[0] > 1;
}

/* Run one data set through the model; 1 if it matched. */
static int run_set(ft_model *m, const char *test, const ft_onnx_tensor *x, const ft_onnx_tensor *y)
{
    ft_error err = {0};
    int batch = x->rank ? (int)x->dims[0] : 1, ok = 1;
    int n = ft_model_num_layers(m);
    ft_workspace *ws = ft_workspace_new_range(m, 0, n, batch, &err);
    CHECKF(ws, "%s: %s", test, err.msg);
    if (!ws || x->dtype != FT_ONNX_F32 || y->dtype != FT_ONNX_F32)
        return 0;
    ft_shape os = ft_model_output_shape(m);
    size_t per = 1;
    for (int i = 0; i < os.rank; i++)
        per *= (size_t)os.dim[i];
    CHECKF(per * (size_t)batch == y->count, "%s: %zu outputs per sample x %d, expected %zu", test, per, batch, y->count);
    const float *out = ft_model_forward(m, ws, x->f32, batch, 0, NULL);
    for (size_t i = 0; per * (size_t)batch == y->count && i < y->count && ok; i++) {
        double d = fabs((double)out[i] - y->f32[i]);
        ok = d <= 1e-6 + 1e-5 * fabs(y->f32[i]);
        CHECKF(ok, "%s: output[%zu] = %.9g, expected %.9g", test, i, out[i], y->f32[i]);
    }
    ft_workspace_free(ws);
    return ok && per * (size_t)batch == y->count;
}

typedef struct {
    size_t ran[64], total[64], refused_seen[N_REFUSED], models, refused_models, runs;
} tally;

static size_t op_index(const ft_onnx_model *om)
{
    for (size_t i = 0; i < ft_onnx_n_nodes(om); i++)
        for (size_t o = 0; o < ft_onnx_import_n_ops; o++)
            if (strcmp(ft_onnx_node_at(om, i)->op_type, ft_onnx_import_ops[o]) == 0)
                return o;
    return ft_onnx_import_n_ops;
}

/* Import and run one data set: 1 if it matched, 0 if not, -1 if refused
 * (err set). Inputs after the first are bound. A bound input with the
 * batch dimension is per sample, which a constant cannot be: then each
 * sample runs alone with its rows of the inputs (the ops keep samples
 * apart, or the importer refuses them for their axis), batch 1. */
static int run_data_set(const ft_onnx_model *om, const char *dir, const char *set, const char *test,
                        ft_error *err)
{
    ft_onnx_tensor *in[8] = {0}, *y = read_pb(dir, set, "output", 0);
    size_t n_in = ft_onnx_n_inputs(om) < 8 ? ft_onnx_n_inputs(om) : 8;
    for (size_t k = 0; k < n_in; k++)
        in[k] = read_pb(dir, set, "input", k);
    int rc = 1;
    bool by_row = false;
    for (size_t k = 1; in[0] && k < n_in; k++)
        by_row |= batched_like(in[k], in[0]);
    int64_t rows = by_row ? in[0]->dims[0] : 1, dims[9][8];
    for (int64_t r = 0; rc == 1 && r < rows; r++) {
        ft_onnx_tensor v[8];
        ft_onnx_binding b[8];
        size_t nb = 0;
        for (size_t k = 1; k < n_in; k++)
            if (in[k]) {
                v[k] = by_row && batched_like(in[k], in[0]) ? row_of(in[k], r, dims[k]) : *in[k];
                b[nb++] = (ft_onnx_binding){ft_onnx_input(om, k)->name, &v[k]};
            }
        ft_onnx_import_options opt = {.bindings = b, .n_bindings = nb, .any_input_rank = true};
        ft_model *m = ft_onnx_import(om, &opt, err);
        bool fits = in[0] && y && (!by_row || (y->rank >= 1 && y->dims[0] == rows));
        CHECKF(!m || fits, "%s: input or output missing, or the output not batched like the input", test);
        if (m && fits) {
            ft_onnx_tensor x = by_row ? row_of(in[0], r, dims[0]) : *in[0];
            ft_onnx_tensor want = by_row ? row_of(y, r, dims[8]) : *y;
            rc = run_set(m, test, &x, &want);
        } else {
            rc = m ? 0 : -1;
        }
        ft_model_free(m);
    }
    for (size_t k = 0; k < 8; k++)
        free(in[k]);
    free(y);
    return rc;
}

static void run_model(const char *root, const char *test, tally *t)
{
    char dir[600], path[700];
    snprintf(dir, sizeof dir, "%s%s", root, test);
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    ft_onnx_limits lim = {.supported_ops = ft_onnx_import_ops, .n_supported_ops = ft_onnx_import_n_ops};
    ft_error err = {0};
    int old;
    ft_onnx_model *om = read_testdata(path, &lim, &old, &err);
    const char *want = refusal(test);
    for (size_t i = 0; want && i < N_REFUSED; i++)
        t->refused_seen[i] += strcmp(REFUSED[i].test, test) == 0;
    if (!om) {
        CHECKF(want && strstr(err.msg, want), "%s: read failed: %s", test, err.msg);
        return;
    }
    size_t op = op_index(om);
    t->total[op]++;
    t->models++;
    t->refused_models += want != NULL;
    DIR *d = opendir(dir);
    struct dirent *e;
    int sets = 0, good = 1;
    while (d && (e = readdir(d))) {
        if (strncmp(e->d_name, "test_data_set_", 14) != 0)
            continue;
        int rc = run_data_set(om, dir, e->d_name, test, &err);
        if (want) {
            CHECKF(rc == -1 && strstr(err.msg, want), "%s: expected a refusal with \"%s\", got \"%s\"", test,
                   want, rc == -1 ? err.msg : "success");
            CHECKF(err.code == FT_EINVAL, "%s: code %s", test, ft_errcode_name(err.code));
        } else {
            CHECKF(rc != -1, "%s: %s", test, err.msg);
        }
        good &= rc == 1;
        sets++;
    }
    if (d)
        closedir(d);
    CHECKF(sets > 0, "%s: no data set", test);
    if (good && sets > 0 && !want) {
        t->ran[op]++;
        t->runs += (size_t)sets;
    }
    ft_onnx_free(om);
}

static void test_conformance(void)
{
    tally t = {0};
    DIR *d = opendir(NODE_DIR);
    CHECKF(d, "%s missing: install libonnx-testdata", NODE_DIR);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (wanted(e->d_name))
            run_model(NODE_DIR, e->d_name, &t);
    if (d)
        closedir(d);
    /* Ours (tools/gen_onnx_fixtures.py): libonnx's only Constant test has
     * no runtime input, and none has a BatchNormalization to fold. */
    d = opendir(FIXTURES "node/");
    CHECK(d);
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.')
            run_model(FIXTURES "node/", e->d_name, &t);
    if (d)
        closedir(d);
    size_t ran = 0;
    for (size_t o = 0; o < ft_onnx_import_n_ops; o++) {
        CHECKF(t.ran[o] > 0, "no conformance model of %s ran", ft_onnx_import_ops[o]);
        printf("  %-18s ran %zu of %zu\n", ft_onnx_import_ops[o], t.ran[o], t.total[o]);
        ran += t.ran[o];
    }
    for (size_t i = 0; i < N_REFUSED; i++)
        CHECKF(t.refused_seen[i] == 1, "%s is listed as refused but was not seen", REFUSED[i].test);
    CHECKF(ran + t.refused_models == t.models, "%zu ran + %zu refused != %zu read", ran, t.refused_models, t.models);
    printf("  ran %zu of %zu conformance models (%zu data sets); %zu refused as listed\n", ran, t.models, t.runs,
           N_REFUSED);
}

static ft_model *import_file(const char *path, bool any_rank)
{
    ft_onnx_import_options opt = {.any_input_rank = any_rank};
    unsigned char *buf = NULL;
    size_t len = 0;
    ft_error err = {0};
    ft_model *m = NULL;
    if (ft_read_file(path, 1 << 20, &buf, &len, &err) == 0)
        m = ft_onnx_import_bytes(buf, len, NULL, &opt, &err);
    CHECKF(m, "%s: %s", path, err.msg);
    free(buf);
    return m;
}

/* The layer called name: its type, activation and aliases as JSON text. */
static void check_layer(const json_t *arch, size_t i, const char *want)
{
    json_t *l = json_copy(json_array_get(json_object_get(arch, "layers"), i));
    const char *keep[] = {"name", "type", "activation", "aliases"};
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(l, tmp, key, v) {
        size_t k = 0;
        while (k < 4 && strcmp(keep[k], key) != 0)
            k++;
        if (k == 4 || (k == 2 && strcmp(json_string_value(v), "linear") == 0))
            json_object_del(l, key);
    }
    char *s = json_dumps(l, JSON_COMPACT | JSON_SORT_KEYS);
    CHECKF(s && strcmp(s, want) == 0, "layer %zu: %s, expected %s", i, s, want);
    free(s);
    json_decref(l);
}

/* Names, fusions and aliases: BatchNormalization and Relu fold into the
 * conv; LeakyRelu into the add, Clip into the Gemm's dense; constants
 * become layers; Constant nodes feeding shapes do not; dead nodes are
 * dropped; metadata. */
static void test_import_structure(void)
{
    ft_model *m = import_file(FIXTURES "node/test_conv_bn_relu/model.onnx", false);
    json_t *arch = m ? ft_model_arch_json(m) : NULL;
    CHECK(m && ft_model_num_layers(m) == 1);
    if (arch)
        check_layer(arch, 0, "{\"activation\":\"relu\",\"aliases\":[\"c\",\"bn\",\"n\",\"relu\",\"y\"],"
                             "\"name\":\"conv\",\"type\":\"conv2d\"}");
    json_decref(arch);
    ft_model_free(m);
    m = import_file(FIXTURES "tiny.onnx", false);
    arch = m ? ft_model_arch_json(m) : NULL;
    static const char *const want[] = {
        "{\"aliases\":[\"c\"],\"name\":\"conv\",\"type\":\"conv2d\"}",
        "{\"name\":\"shift\",\"type\":\"constant\"}",
        "{\"activation\":\"leaky_relu\",\"aliases\":[\"a\",\"lrelu\",\"r\"],\"name\":\"add_shift\",\"type\":\"add\"}",
        "{\"aliases\":[\"p\"],\"name\":\"pool\",\"type\":\"maxpool2d\"}",
        "{\"aliases\":[\"pp\"],\"name\":\"pad\",\"type\":\"pad\"}",
        "{\"aliases\":[\"f\"],\"name\":\"flatten\",\"type\":\"reshape\"}",
        "{\"activation\":\"clip\",\"aliases\":[\"y\",\"clip\",\"z\"],\"name\":\"fc\",\"type\":\"dense\"}"};
    CHECK(m && ft_model_num_layers(m) == 7);
    /* The node "dead" computes nothing the output needs: no layer (the
     * [N, 3, 4] input is taken flat and reshaped, then the softmax). */
    ft_model *sm = import_file(FIXTURES "node/test_softmax_opset11/model.onnx", true);
    CHECK(sm && ft_model_num_layers(sm) == 2 && ft_model_find_layer(sm, "dead") < 0);
    ft_model_free(sm);
    for (size_t i = 0; arch && i < 7; i++)
        check_layer(arch, i, want[i]);
    CHECK(m && strcmp(ft_model_meta(m, "source"), "onnx") == 0 && strcmp(ft_model_meta(m, "opset"), "13") == 0);
    CHECK(m && strcmp(ft_model_meta(m, "producer"), "gen_onnx_fixtures") == 0);
    CHECK(m && strcmp(ft_model_meta(m, "onnx_input"), "x") == 0 && strcmp(ft_model_meta(m, "num_classes"), "5") == 0);
    json_decref(arch);
    ft_model_free(m);
}

/* Names the graph core cannot take as they are: empty and duplicated ones
 * are generated, characters outside [A-Za-z0-9_./:-] become '_', 200 bytes
 * are cut to 118 and a hash. */
static void test_import_names(void)
{
    ft_model *m = import_file(FIXTURES "node/test_names/model.onnx", false);
    json_t *arch = m ? ft_model_arch_json(m) : NULL;
    char want[600], n118[119];
    memset(n118, 'n', 118);
    n118[118] = 0;
    CHECK(m && ft_model_num_layers(m) == 3);
    if (!arch)
        return;
    check_layer(arch, 0, "{\"activation\":\"relu\",\"aliases\":[\"r\"],\"name\":\"Relu_0\",\"type\":\"activation\"}");
    check_layer(arch, 1, "{\"activation\":\"sigmoid\",\"aliases\":[\"s\"],\"name\":\"dup\",\"type\":\"activation\"}");
    json_t *l = json_array_get(json_object_get(arch, "layers"), 2);
    const char *long_alias = json_string_value(json_array_get(json_object_get(l, "aliases"), 1));
    CHECK(long_alias && strlen(long_alias) == 127 && strncmp(long_alias, n118, 118) == 0 && long_alias[118] == '-');
    snprintf(want, sizeof want,
             "{\"activation\":\"tanh\",\"aliases\":[\"a\",\"%s\",\"t\",\"my_node__1\",\"y\"],"
             "\"name\":\"Add_2\",\"type\":\"add\"}", long_alias ? long_alias : "");
    check_layer(arch, 2, want);
    CHECK(ft_model_find_layer(m, "my_node__1") == 2 && ft_model_find_layer(m, "y") == 2);
    json_decref(arch);
    ft_model_free(m);
}

#include "tests/unit/test_onnx_import_bad.h"

int main(void)
{
    RUN(test_conformance);
    RUN(test_import_structure);
    RUN(test_import_names);
    run_import_bad_tests();
    return TEST_SUMMARY();
}
