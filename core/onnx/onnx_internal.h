/* Shared by the files of core/onnx; nothing outside the module includes it. */
#ifndef FT_ONNX_INTERNAL_H
#define FT_ONNX_INTERNAL_H

#include <protobuf-c/protobuf-c.h>

#include "core/onnx/onnx.h"
#include "onnx/onnx.pb-c.h"

/* Defaults for zero fields of ft_onnx_limits. */
#define FT_ONNX_DEF_TENSOR_BYTES ((size_t)1 << 30)
#define FT_ONNX_DEF_PARSE_BASE ((size_t)64 << 20)
#define FT_ONNX_DEF_NODES ((size_t)100000)
/* Nesting of protobuf messages: a real model needs about 10 (model, graph,
 * node, attribute, tensor, and a few levels of subgraphs). */
#define FT_ONNX_MAX_DEPTH 64

/* Bump allocator: the whole IR lives in its chunks and goes with one free. */
typedef struct onnx_chunk onnx_chunk;
typedef struct {
    onnx_chunk *head; /* newest chunk first */
} onnx_arena;

/* size bytes aligned for any scalar, or NULL (out of memory). */
void *onnx_arena_alloc(onnx_arena *a, size_t size);
/* n elements of size each, overflow-checked. */
void *onnx_arena_array(onnx_arena *a, size_t n, size_t size);
/* A copy of s (NULL reads as ""). */
char *onnx_arena_strdup(onnx_arena *a, const char *s);
void onnx_arena_free(onnx_arena *a);

/* protobuf-c's allocations, counted against a budget. */
typedef struct {
    ProtobufCAllocator pc; /* handed to protobuf-c; allocator_data points here */
    size_t used;           /* bytes handed out so far (frees not subtracted) */
    size_t budget;         /* refuse past this */
    int over;              /* set when a request was refused for the budget */
} onnx_pb_alloc;

/* Limits with the defaults filled in, for an input of len bytes. */
ft_onnx_limits onnx_limits_resolve(const ft_onnx_limits *in, size_t len);

/* Pre-scan the wire format (nesting, truncation, wire types against the
 * schema), then unpack with the counting allocator. Free the result with
 * protobuf_c_message_free_unpacked(msg, &alloc->pc). */
ProtobufCMessage *onnx_unpack(const ProtobufCMessageDescriptor *desc, const void *bytes, size_t len,
                              const ft_onnx_limits *lim, onnx_pb_alloc *alloc, ft_error *err);

/* What converting one TensorProto takes, worked out from its header only. */
typedef struct {
    size_t count;        /* elements: product of dims */
    size_t data_bytes;   /* bytes of the converted array */
    ft_onnx_dtype dtype; /* converted element type */
    size_t raw_size;     /* bytes per element in raw_data */
} onnx_tensor_plan;

/* Check a tensor's header (external data, type, dims) and size it. */
int onnx_tensor_plan_of(const Onnx__TensorProto *t, onnx_tensor_plan *p, ft_error *err);

/* Check the data against the plan and convert it into out, whose dims and
 * data arrays the caller provides (rank int64s, p->data_bytes bytes). */
int onnx_tensor_fill(const Onnx__TensorProto *t, const onnx_tensor_plan *p, int64_t *dims, void *data,
                     ft_onnx_tensor *out, ft_error *err);

/* The ONNX name of a TensorProto.DataType ("FLOAT"), or "type N". */
const char *onnx_type_name(int type, char *buf, size_t size);

/* Check names (duplicates, undefined inputs) and put the nodes in
 * topological order; graph inputs and initializers are already in m. */
int onnx_graph_check(ft_onnx_model *m, ft_error *err);

struct ft_onnx_model {
    onnx_arena arena;       /* owns everything below */
    int64_t opset;          /* default domain */
    int64_t ir_version;     /* ModelProto.ir_version */
    const char *producer;   /* producer_name */
    ft_onnx_value *inputs;  /* run-time inputs */
    size_t n_inputs;
    ft_onnx_value *outputs; /* graph outputs */
    size_t n_outputs;
    ft_onnx_tensor *inits;  /* initializers */
    size_t n_inits;
    ft_onnx_node *nodes;    /* topological order once checked */
    size_t n_nodes;
    size_t tensor_bytes;    /* converted tensor data in all */
};

#endif
