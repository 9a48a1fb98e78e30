/* Bad ONNX files for test_onnx_read.c, each with its exact message. They
 * are built here with protobuf-c's generated packers from a valid toy model
 * (X + W -> Add -> Y -> Relu -> Z), one defect at a time, so no binary
 * corpus has to be kept in step with the reader. Included once. */
#include "onnx/onnx.pb-c.h"

typedef struct {
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset, *opsets[1];
    Onnx__TensorProto w, *inits[1];
    float wdata[2];
    int64_t wdims[2];
    Onnx__ValueInfoProto in, out, *ins[1], *outs[1];
    Onnx__NodeProto add, relu, *nodes[2];
    char *add_in[2], *add_out[1], *relu_in[1], *relu_out[1];
    Onnx__AttributeProto attr, *attrs[1];
} toy;

static void toy_init(toy *t)
{
    memset(t, 0, sizeof *t);
    onnx__model_proto__init(&t->model);
    onnx__graph_proto__init(&t->graph);
    onnx__operator_set_id_proto__init(&t->opset);
    onnx__tensor_proto__init(&t->w);
    onnx__value_info_proto__init(&t->in);
    onnx__value_info_proto__init(&t->out);
    onnx__node_proto__init(&t->add);
    onnx__node_proto__init(&t->relu);
    onnx__attribute_proto__init(&t->attr);
    t->opset.domain = "";
    t->opset.has_version = 1;
    t->opset.version = 13;
    t->opsets[0] = &t->opset;
    t->model.n_opset_import = 1;
    t->model.opset_import = t->opsets;
    t->model.has_ir_version = 1;
    t->model.ir_version = 8;
    t->model.graph = &t->graph;
    t->wdata[0] = 1.5f;
    t->wdata[1] = -2.0f;
    t->wdims[0] = 2;
    t->w.name = "W";
    t->w.has_data_type = 1;
    t->w.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->w.n_dims = 1;
    t->w.dims = t->wdims;
    t->w.n_float_data = 2;
    t->w.float_data = t->wdata;
    t->inits[0] = &t->w;
    t->in.name = "X";
    t->out.name = "Z";
    t->ins[0] = &t->in;
    t->outs[0] = &t->out;
    t->add_in[0] = "X";
    t->add_in[1] = "W";
    t->add_out[0] = "Y";
    t->relu_in[0] = "Y";
    t->relu_out[0] = "Z";
    t->add = (Onnx__NodeProto)ONNX__NODE_PROTO__INIT;
    t->add.name = "add";
    t->add.op_type = "Add";
    t->add.n_input = 2;
    t->add.input = t->add_in;
    t->add.n_output = 1;
    t->add.output = t->add_out;
    t->relu.name = "relu";
    t->relu.op_type = "Relu";
    t->relu.n_input = 1;
    t->relu.input = t->relu_in;
    t->relu.n_output = 1;
    t->relu.output = t->relu_out;
    t->nodes[0] = &t->add;
    t->nodes[1] = &t->relu;
    t->graph.n_node = 2;
    t->graph.node = t->nodes;
    t->graph.n_initializer = 1;
    t->graph.initializer = t->inits;
    t->graph.n_input = 1;
    t->graph.input = t->ins;
    t->graph.n_output = 1;
    t->graph.output = t->outs;
}

static unsigned char *toy_pack(const toy *t, size_t *len)
{
    *len = onnx__model_proto__get_packed_size(&t->model);
    unsigned char *buf = malloc(*len ? *len : 1);
    if (buf)
        onnx__model_proto__pack(&t->model, buf);
    return buf;
}

/* Read bytes expecting failure with code and a message containing want. */
static void expect_bytes(const char *what, const void *bytes, size_t len, const ft_onnx_limits *lim,
                         ft_errcode code, const char *want)
{
    ft_onnx_model *m = NULL;
    ft_error err = {0};
    int rc = ft_onnx_read(bytes, len, lim, &m, &err);
    CHECKF(rc == -1 && !m, "%s: read succeeded", what);
    CHECKF(err.code == code, "%s: code %s, expected %s (%s)", what, ft_errcode_name(err.code),
           ft_errcode_name(code), err.msg);
    CHECKF(strstr(err.msg, want), "%s: message \"%s\" lacks \"%s\"", what, err.msg, want);
    ft_onnx_free(m);
}

static void expect_toy(const char *what, const toy *t, const ft_onnx_limits *lim, ft_errcode code,
                       const char *want)
{
    size_t len;
    unsigned char *buf = toy_pack(t, &len);
    expect_bytes(what, buf, len, lim, code, want);
    free(buf);
}

static void test_bad_toy_is_valid_first(void)
{
    toy t;
    toy_init(&t);
    size_t len;
    unsigned char *buf = toy_pack(&t, &len);
    ft_onnx_model *m = NULL;
    ft_error err = {0};
    CHECKF(ft_onnx_read(buf, len, NULL, &m, &err) == 0, "%s", err.msg);
    CHECK(m && ft_onnx_n_nodes(m) == 2 && ft_onnx_n_inputs(m) == 1 && ft_onnx_initializer(m, 0)->f32[1] == -2.0f);
    ft_onnx_free(m);
    /* Every prefix is refused (or, cut at a field boundary, read), never a crash. */
    for (size_t cut = 0; cut < len; cut++) {
        m = NULL;
        if (ft_onnx_read(buf, cut, NULL, &m, &err) == 0)
            ft_onnx_free(m);
    }
    expect_bytes("cut", buf, len - 2, NULL, FT_EFORMAT, "not a valid ONNX file: truncated");
    free(buf);
}

static void test_bad_wire(void)
{
    static const unsigned char graph_varint[] = {0x38, 0x01};
    expect_bytes("graph as varint", graph_varint, sizeof graph_varint, NULL, FT_EFORMAT,
                 "wrong wire type 0 for field 'graph' at byte 0 (in onnx.ModelProto)");
    static const unsigned char opset_fixed32[] = {0x08, 0x07, 0x45, 1, 2, 3, 4};
    expect_bytes("opset_import as fixed32", opset_fixed32, sizeof opset_fixed32, NULL, FT_EFORMAT,
                 "wrong wire type 5 for field 'opset_import' at byte 2");
    static const unsigned char long_varint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    expect_bytes("11-byte varint", long_varint, sizeof long_varint, NULL, FT_EFORMAT, "truncated varint");
    static const unsigned char too_long[] = {0x3a, 0x10, 0x0a, 0x00};
    expect_bytes("length past the end", too_long, sizeof too_long, NULL, FT_EFORMAT,
                 "truncated length-delimited field at byte 0");
    static const unsigned char group[] = {0x7b}; /* field 15, start group */
    expect_bytes("group", group, sizeof group, NULL, FT_EFORMAT, "unsupported wire type");
    static const char text[] = "hello, world: this is not a model";
    expect_bytes("text", text, sizeof text - 1, NULL, FT_EFORMAT, "ONNX");
    expect_bytes("empty", "", 0, NULL, FT_EFORMAT, "the file has no graph");
    /* graph -> node -> attribute -> g -> node ... 200 levels, each a few bytes. */
    static const unsigned char tags[] = {0x0a, 0x2a, 0x32}; /* node, attribute, g */
    size_t cap = 2000, len = 0;
    unsigned char *buf = malloc(cap), *tmp = malloc(cap);
    for (int level = 0; buf && tmp && level < 200; level++) {
        int depth = 199 - level; /* from the outside: graph, node, attribute, g, node, ... */
        unsigned char tag = depth == 0 ? 0x3a : tags[(depth - 1) % 3];
        size_t hdr = len < 128 ? 2 : 3;
        tmp[0] = tag;
        if (hdr == 2) {
            tmp[1] = (unsigned char)len;
        } else {
            tmp[1] = (unsigned char)(0x80 | (len & 0x7f));
            tmp[2] = (unsigned char)(len >> 7);
        }
        memcpy(tmp + hdr, buf, len);
        len += hdr;
        memcpy(buf, tmp, len);
    }
    if (buf && tmp)
        expect_bytes("deep nesting", buf, len, NULL, FT_EFORMAT, "messages nested more than 64 deep");
    free(buf);
    free(tmp);
}

static void test_bad_tensors(void)
{
    toy t;
    toy_init(&t);
    t.wdims[0] = (int64_t)1 << 20;
    t.wdims[1] = (int64_t)1 << 20;
    t.w.n_dims = 2;
    expect_toy("huge", &t, NULL, FT_ETOOBIG,
               "tensor 'W' declares 4398046511104 bytes, which takes the model above its budget of "
               "1073741824 bytes of tensor data");
    t.wdims[0] = t.wdims[1] = (int64_t)1 << 40;
    expect_toy("overflow", &t, NULL, FT_ETOOBIG, "tensor 'W': the product of its dims overflows");
    t.wdims[0] = -1;
    t.w.n_dims = 1;
    expect_toy("negative", &t, NULL, FT_EFORMAT, "tensor 'W' has a negative dimension (-1)");
    toy_init(&t);
    t.wdims[0] = 3;
    expect_toy("short typed", &t, NULL, FT_EFORMAT, "tensor 'W': dims [3] need 3 values, float_data holds 2");
    toy_init(&t);
    t.w.n_float_data = 0;
    t.w.has_raw_data = 1;
    t.w.raw_data.len = 7;
    t.w.raw_data.data = (uint8_t *)t.wdata;
    expect_toy("short raw", &t, NULL, FT_EFORMAT, "tensor 'W': dims [2] need 8 bytes of raw_data, the file has 7");
    t.w.raw_data.len = 8;
    t.w.n_float_data = 2;
    expect_toy("raw and typed", &t, NULL, FT_EFORMAT, "tensor 'W' has both raw_data and float_data");
    toy_init(&t);
    t.w.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__STRING;
    expect_toy("string", &t, NULL, FT_EINVAL, "tensor 'W' has data type STRING, which is not supported");
    t.w.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    expect_toy("wrong field", &t, NULL, FT_EFORMAT, "tensor 'W' of type INT64 has data in a field for another type");
    toy_init(&t);
    t.w.has_data_location = 1;
    t.w.data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    expect_toy("external", &t, NULL, FT_EINVAL,
               "the file uses external data (tensor 'W'); export with all weights inside");
    /* A lone TensorProto file goes through the same checks. */
    ft_onnx_tensor *one = NULL;
    ft_error err = {0};
    toy_init(&t);
    t.wdims[0] = 5;
    unsigned char buf[64];
    size_t n = onnx__tensor_proto__pack(&t.w, buf);
    CHECK(ft_onnx_read_tensor(buf, n, NULL, &one, &err) == -1 && !one && strstr(err.msg, "need 5 values"));
    CHECK(ft_onnx_read_tensor(buf, n - 1, NULL, &one, &err) == -1 && strstr(err.msg, "truncated"));
    t.wdims[0] = 2;
    n = onnx__tensor_proto__pack(&t.w, buf);
    CHECKF(ft_onnx_read_tensor(buf, n, NULL, &one, &err) == 0, "%s", err.msg);
    CHECK(one && one->count == 2 && one->f32[0] == 1.5f && strcmp(one->name, "W") == 0);
    free(one);
}

static void test_bad_models(void)
{
    toy t;
    toy_init(&t);
    t.opset.version = 6;
    expect_toy("opset 6", &t, NULL, FT_EINVAL, "opset 6 is not supported (supported: 7 to 17)");
    t.opset.version = 18;
    expect_toy("opset 18", &t, NULL, FT_EINVAL, "opset 18 is not supported (supported: 7 to 17)");
    t.opset.domain = "ai.onnx.ml";
    expect_toy("no default opset", &t, NULL, FT_EINVAL, "the file declares no opset for the default ONNX domain");
    toy_init(&t);
    t.model.graph = NULL;
    expect_toy("no graph", &t, NULL, FT_EFORMAT, "not an ONNX model: the file has no graph");
    toy_init(&t);
    t.relu.op_type = "Foo";
    static const char *const ops[] = {"Add", "Relu"};
    ft_onnx_limits lim = {.supported_ops = ops, .n_supported_ops = 2};
    expect_toy("unsupported op", &t, &lim, FT_EINVAL,
               "node 'relu' (Foo): op type 'Foo' is not supported (supported: Add, Relu)");
    t.relu.domain = "com.example";
    expect_toy("other domain", &t, &lim, FT_EINVAL, "op type 'com.example.Foo' is not supported");
    toy_init(&t);
    t.relu_in[0] = "Z";
    expect_toy("self loop", &t, NULL, FT_EFORMAT, "the graph has a cycle through node 'relu' (Relu)");
    toy_init(&t);
    t.add_in[0] = "Z";
    expect_toy("cycle", &t, NULL, FT_EFORMAT, "the graph has a cycle through node 'add' (Add)");
    toy_init(&t);
    t.relu_out[0] = "Y";
    expect_toy("duplicate output", &t, NULL, FT_EFORMAT,
               "tensor 'Y' is defined twice (by node 'add' (Add) and by node 'relu' (Relu))");
    toy_init(&t);
    t.add_out[0] = "X";
    expect_toy("output over an input", &t, NULL, FT_EFORMAT, "tensor 'X' is defined twice (by the graph input");
    toy_init(&t);
    t.relu_in[0] = "Q";
    expect_toy("undefined input", &t, NULL, FT_EFORMAT,
               "node 'relu' (Relu) reads tensor 'Q', which no node, graph input or initializer defines");
    toy_init(&t);
    t.out.name = "nope";
    expect_toy("undefined output", &t, NULL, FT_EFORMAT, "graph output 'nope' is not defined");
    toy_init(&t);
    t.attr.name = "body";
    t.attr.has_type = 1;
    t.attr.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
    t.attrs[0] = &t.attr;
    t.relu.n_attribute = 1;
    t.relu.attribute = t.attrs;
    expect_toy("graph attribute", &t, NULL, FT_EINVAL,
               "node 'relu' (Relu): attribute 'body' has type GRAPH, which is not supported");
    toy_init(&t);
    ft_onnx_limits small = {.max_parse_bytes = 100};
    expect_toy("parse budget", &t, &small, FT_ETOOBIG, "needs more than 100 bytes of memory to unpack");
    ft_onnx_limits few = {.max_nodes = 1};
    expect_toy("node limit", &t, &few, FT_ETOOBIG, "the graph has 2 nodes, above the limit of 1");
    ft_onnx_limits tight = {.max_tensor_bytes = 4};
    expect_toy("tensor budget", &t, &tight, FT_ETOOBIG, "tensor 'W' declares 8 bytes");
}

static void run_bad_file_tests(void)
{
    RUN(test_bad_toy_is_valid_first);
    RUN(test_bad_wire);
    RUN(test_bad_tensors);
    RUN(test_bad_models);
}
