/* libonnx-testdata's per-operator conformance models for the operators of
 * issue 12: which folders, and reading one. Shared by test_onnx_read.c and
 * test_onnx_ops.c; included once by each. */
#include <stdlib.h>
#include <string.h>

#include "core/onnx/onnx.h"
#include "core/util/fsutil.h"

#define NODE_DIR "/usr/share/libonnx-testdata/data/node/"

/* Test folders of those operators ("test_<op in lower case>..."), minus
 * other operators that share a prefix and the *_expanded function bodies. */
static const char *const PREFIXES[] = {
    "test_basic_conv", "test_conv_", "test_batchnorm", "test_relu", "test_leakyrelu", "test_clip",
    "test_sigmoid", "test_hardsigmoid", "test_hardswish", "test_tanh", "test_softmax_", "test_add",
    "test_mul", "test_concat", "test_maxpool", "test_averagepool", "test_globalaveragepool",
    "test_flatten", "test_reshape", "test_gemm", "test_matmul_", "test_constant", "test_edge_pad",
    "test_reflect_pad", "test_dropout", "test_identity", "test_erf"};
static const char *const EXCLUDE[] = {"constantofshape", "_expanded", "matmulinteger", "convinteger"};

static ft_onnx_model *read_path(const char *path, const ft_onnx_limits *lim, ft_error *err)
{
    unsigned char *buf;
    size_t len;
    ft_onnx_model *m = NULL;
    if (ft_read_file(path, 64u << 20, &buf, &len, err) != 0)
        return NULL;
    ft_onnx_read(buf, len, lim, &m, err);
    free(buf);
    return m;
}

/* A conformance model. GlobalAveragePool's and HardSigmoid's tests declare
 * the opset their op last changed in (1, 6): same semantics, so they are read
 * with the floor lowered (*old set); real files are refused below 7. */
static ft_onnx_model *read_testdata(const char *path, const ft_onnx_limits *lim, int *old, ft_error *err)
{
    ft_onnx_model *m = read_path(path, lim, err);
    *old = !m && (strstr(err->msg, "opset 1 is not") || strstr(err->msg, "opset 6 is not"));
    if (*old) {
        ft_onnx_limits low = *lim;
        low.opset_min = 1;
        m = read_path(path, &low, err);
    }
    return m;
}

static int wanted(const char *name)
{
    for (size_t i = 0; i < sizeof EXCLUDE / sizeof *EXCLUDE; i++)
        if (strstr(name, EXCLUDE[i]))
            return 0;
    for (size_t i = 0; i < sizeof PREFIXES / sizeof *PREFIXES; i++)
        if (strncmp(name, PREFIXES[i], strlen(PREFIXES[i])) == 0)
            return 1;
    return 0;
}
