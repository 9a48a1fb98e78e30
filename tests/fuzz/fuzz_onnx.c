/* libFuzzer: the ONNX reader, as a model and as a lone tensor file. The
 * limits are small so a run stays fast and within memory whatever sizes the
 * input declares; a model that reads is walked so every pointer the IR
 * hands out is touched. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/onnx/onnx.h"

static const char *const ops[] = {"Conv", "Relu", "Add", "Mul", "Gemm", "MaxPool", "Constant",
                                  "Reshape", "Concat", "Identity", "Softmax", "Clip"};

static unsigned walk(const ft_onnx_model *m)
{
    unsigned h = (unsigned)ft_onnx_opset(m);
    for (size_t i = 0; i < ft_onnx_n_inputs(m); i++) {
        const ft_onnx_value *v = ft_onnx_input(m, i);
        h += (unsigned)strlen(v->name);
        for (int d = 0; d < v->rank; d++)
            h += (unsigned)v->dims[d].size + (v->dims[d].param ? (unsigned)strlen(v->dims[d].param) : 0);
    }
    for (size_t i = 0; i < ft_onnx_n_initializers(m); i++) {
        const ft_onnx_tensor *t = ft_onnx_initializer(m, i);
        if (t->count)
            h += t->f32 ? (unsigned)(t->f32[t->count - 1] > 0) : (unsigned)t->i64[t->count - 1];
    }
    for (size_t i = 0; i < ft_onnx_n_nodes(m); i++) {
        const ft_onnx_node *n = ft_onnx_node_at(m, i);
        for (size_t k = 0; k < n->n_inputs; k++)
            h += (unsigned)strlen(n->inputs[k]);
        for (size_t k = 0; k < n->n_attrs; k++)
            h += n->attrs[k].count ? (unsigned)n->attrs[k].type : 0;
    }
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ft_onnx_limits lim = {.max_tensor_bytes = 16u << 20, .max_parse_bytes = 64u << 20, .max_nodes = 10000};
    /* The first byte picks the supported-op check on or off. */
    if (size && (data[0] & 1)) {
        lim.supported_ops = ops;
        lim.n_supported_ops = sizeof ops / sizeof *ops;
    }
    ft_onnx_model *m = NULL;
    ft_error err;
    if (ft_onnx_read(data, size, &lim, &m, &err) == 0) {
        volatile unsigned h = walk(m);
        (void)h;
        ft_onnx_free(m);
    }
    ft_onnx_tensor *t = NULL;
    if (ft_onnx_read_tensor(data, size, &lim, &t, &err) == 0)
        free(t);
    return 0;
}
