/* ONNX import: a read ONNX model (core/onnx/onnx.h) -> our graph model
 * (core/nn/model.h), weights converted to PyTorch layouts and copied in.
 *
 * One table maps each supported ONNX op type to the function that emits its
 * layer (core/onnx/import_ops.c); BatchNormalization folds into the conv it
 * follows and elementwise activations fuse into the conv2d/dense/add that
 * feeds them when nothing else reads that tensor (the fused nodes' names
 * stay as the layer's `aliases`, so cut_after still finds them). Nodes the
 * graph output does not depend on are dropped. Anything we cannot represent
 * is refused with an FT_EINVAL error naming the node, its op and the
 * attribute; no model is returned then.
 */
#ifndef FT_ONNX_IMPORT_H
#define FT_ONNX_IMPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/nn/model.h"
#include "core/onnx/onnx.h"

/* A graph input fed with a fixed tensor instead of at run time: it becomes
 * a `constant` layer (the conformance tests' second operands). */
typedef struct {
    const char *name;            /* the graph input's name */
    const ft_onnx_tensor *value; /* its value (float data; shape as declared) */
} ft_onnx_binding;

/* Import options; a zeroed struct (or NULL) is the default. */
typedef struct {
    const ft_onnx_binding *bindings; /* graph inputs bound to constants */
    size_t n_bindings;               /* entries in bindings */
    /* Accept a runtime input of any rank 2..6 ([N, d1, ...]); the model then
     * takes it flattened and reshapes it first. By default only [N, C, H, W]
     * and [N, features] are accepted: what datasets and predict feed. */
    bool any_input_rank;
} ft_onnx_import_options;

/* The op types the importer maps, in the table's order (for the reader's
 * supported-op list and error messages). */
extern const char *const ft_onnx_import_ops[];
extern const size_t ft_onnx_import_n_ops;

/* Build a model from a read ONNX model. Metadata: source=onnx, producer,
 * opset, onnx_input (the input's name) and, for a flat output [K],
 * num_classes=K. Returns NULL with err set on any failure. */
ft_model *ft_onnx_import(const ft_onnx_model *om, const ft_onnx_import_options *opt, ft_error *err);

/* Read (with the importer's op list as the supported ops) and import.
 * limits may be NULL; its supported_ops are replaced. */
ft_model *ft_onnx_import_bytes(const void *bytes, size_t len, const ft_onnx_limits *limits,
                               const ft_onnx_import_options *opt, ft_error *err);

#endif
