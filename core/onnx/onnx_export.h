/* ONNX export: any model (sequential or graph, native or imported and
 * fine-tuned) -> an ONNX ModelProto, packed by protobuf-c from the C
 * generated at build time from Debian's onnx.proto.
 *
 * The file: opset 17 of the default domain (the newest that Debian's ONNX
 * 1.12 checks and that our importer reads back; HardSwish needs 14), IR
 * version 8 (ONNX 1.12's); one float input "input" [batch, ...] and one
 * output "output" [batch, ...] with a symbolic batch dimension; weights as
 * initializers named as in our model file ("<layer>.weight",
 * "<layer>.bias"); each layer's first node is named after the layer, and
 * the nodes it needs besides (a fused activation, gelu's composition)
 * "<layer>#<Op>". The model's input preprocessing and class names travel
 * as JSON in metadata_props ("finetuned.preprocessing",
 * "finetuned.classes"): the graph takes the preprocessed input, as our
 * network does.
 */
#ifndef FT_ONNX_EXPORT_H
#define FT_ONNX_EXPORT_H

#include <stddef.h>

#include "core/nn/model.h"
#include "core/util/error.h"

/* The opset of the default domain an exported file declares. */
#define FT_ONNX_EXPORT_OPSET 17

/* Metadata keys of an exported file. */
#define FT_ONNX_META_PREPROCESSING "finetuned.preprocessing"
#define FT_ONNX_META_CLASSES "finetuned.classes"

/* Export m as an ONNX file into *buf (malloc'd, *len bytes; the caller
 * frees it). Fails with FT_EINVAL naming the layer for a model ONNX cannot
 * express (a constant layer read by anything but add or mul), FT_ETOOBIG
 * past protobuf's 2 GiB, FT_ENOMEM. */
int ft_onnx_export(const ft_model *m, unsigned char **buf, size_t *len, ft_error *err);

#endif
