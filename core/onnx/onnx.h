/* Safe reader for ONNX model files (ModelProto) and tensor files (TensorProto).
 *
 * The bytes are unpacked with protobuf-c (C generated at build time from
 * Debian's onnx.proto) and turned into a small intermediate representation
 * of our own, so nothing past this module sees protobuf-c types. Untrusted
 * input is the normal case: the wire format is pre-scanned with a nesting
 * limit (protobuf-c recurses without one), protobuf-c allocates through a
 * counting allocator with a budget, every tensor's declared size is checked
 * against a budget before any data is converted, and the graph is checked
 * (opset, duplicate and undefined tensor names, cycles, supported ops) before
 * the caller sees it. Any failure is an ft_error whose message names the
 * node or tensor at fault.
 *
 * The IR: initializers become float32 arrays (from FLOAT, DOUBLE, FLOAT16,
 * BFLOAT16) or int64 arrays (from the integer types: shape constants stay
 * exact); nodes come in topological order with typed attributes.
 */
#ifndef FT_ONNX_H
#define FT_ONNX_H

#include <stddef.h>
#include <stdint.h>

#include "core/util/error.h"

/* The opsets of the default domain we read: Debian's ONNX 1.12 and PyTorch
 * 1.13 write 7 to 17. */
#define FT_ONNX_OPSET_MIN 7
#define FT_ONNX_OPSET_MAX 17

/* Limits for one read. A zero field takes the default named beside it. */
typedef struct {
    size_t max_tensor_bytes;        /* converted tensor data in all (default 1 GiB) */
    size_t max_parse_bytes;         /* protobuf-c's allocations (default 64 MiB + 2 x input) */
    size_t max_nodes;               /* nodes in the graph (default 100000) */
    int opset_min, opset_max;       /* default-domain opsets accepted (default 7 and 17) */
    const char *const *supported_ops; /* op types accepted, or NULL for any */
    size_t n_supported_ops;         /* entries in supported_ops */
} ft_onnx_limits;

/* What a tensor's data array holds. */
typedef enum {
    FT_ONNX_F32, /* float (from FLOAT, DOUBLE, FLOAT16, BFLOAT16) */
    FT_ONNX_I64  /* int64 (from INT64, INT32, INT16, INT8, UINT*, BOOL) */
} ft_onnx_dtype;

/* A tensor with its data converted. */
typedef struct {
    const char *name;      /* tensor name ("" if the file gives none) */
    int onnx_type;         /* the file's TensorProto.DataType (1 FLOAT, 7 INT64, 10 FLOAT16, 11 DOUBLE) */
    ft_onnx_dtype dtype;   /* which of f32 / i64 holds the data */
    size_t rank;           /* number of dims; 0 for a scalar */
    const int64_t *dims;   /* rank dimensions, each >= 0 */
    size_t count;          /* product of dims (1 for a scalar) */
    const float *f32;      /* count floats when dtype is FT_ONNX_F32, else NULL */
    const int64_t *i64;    /* count int64s when dtype is FT_ONNX_I64, else NULL */
} ft_onnx_tensor;

/* One dimension of a graph input or output. */
typedef struct {
    int64_t size;          /* >= 0 when known, -1 when symbolic or unknown */
    const char *param;     /* the symbolic name ("batch_size"), or NULL */
} ft_onnx_dim;

/* A graph input or output. */
typedef struct {
    const char *name;        /* tensor name */
    int elem_type;           /* TensorProto.DataType of the elements, 0 if not given */
    int rank;                /* number of dims, or -1 if the file gives no shape */
    const ft_onnx_dim *dims; /* rank dims (NULL when rank <= 0) */
} ft_onnx_value;

/* Attribute kinds we carry; others (graphs, sparse tensors, ...) are refused. */
typedef enum {
    FT_ONNX_ATTR_INT,    /* i */
    FT_ONNX_ATTR_FLOAT,  /* f */
    FT_ONNX_ATTR_INTS,   /* ints[count] */
    FT_ONNX_ATTR_FLOATS, /* floats[count] */
    FT_ONNX_ATTR_STRING, /* s[count], NUL-terminated too */
    FT_ONNX_ATTR_TENSOR  /* t */
} ft_onnx_attr_type;

/* A node attribute; only the fields of its type are set. */
typedef struct {
    const char *name;          /* attribute name ("kernel_shape") */
    ft_onnx_attr_type type;    /* which field below holds the value */
    int64_t i;                 /* INT */
    float f;                   /* FLOAT */
    const int64_t *ints;       /* INTS */
    const float *floats;       /* FLOATS */
    const char *s;             /* STRING (bytes, plus a NUL) */
    size_t count;              /* elements of ints/floats, bytes of s */
    const ft_onnx_tensor *t;   /* TENSOR */
} ft_onnx_attr;

/* A node. Input and output names are "" where an optional one is left out. */
typedef struct {
    const char *name;            /* node name ("" if the file gives none) */
    const char *op_type;         /* "Conv" */
    const char *domain;          /* "" for the default domain */
    size_t n_inputs;             /* entries in inputs */
    const char *const *inputs;   /* tensor names read */
    size_t n_outputs;            /* entries in outputs */
    const char *const *outputs;  /* tensor names written */
    size_t n_attrs;              /* entries in attrs */
    const ft_onnx_attr *attrs;   /* attributes in file order */
} ft_onnx_node;

/* A read model (opaque; one allocation arena, freed with ft_onnx_free). */
typedef struct ft_onnx_model ft_onnx_model;

/* Parse and validate a ModelProto held in memory; on success *out owns
 * copies of everything (bytes may be freed). limits may be NULL. */
int ft_onnx_read(const void *bytes, size_t len, const ft_onnx_limits *limits, ft_onnx_model **out,
                 ft_error *err);

/* Free a model (NULL is fine). */
void ft_onnx_free(ft_onnx_model *m);

/* Opset version of the default domain. */
int64_t ft_onnx_opset(const ft_onnx_model *m);

/* ModelProto.ir_version, and producer_name ("pytorch", or ""). */
int64_t ft_onnx_ir_version(const ft_onnx_model *m);
const char *ft_onnx_producer(const ft_onnx_model *m);

/* Graph inputs fed at run time (initializers that old files also list as
 * inputs are left out), and graph outputs. */
size_t ft_onnx_n_inputs(const ft_onnx_model *m);
const ft_onnx_value *ft_onnx_input(const ft_onnx_model *m, size_t i);
size_t ft_onnx_n_outputs(const ft_onnx_model *m);
const ft_onnx_value *ft_onnx_output(const ft_onnx_model *m, size_t i);

/* Initializers (weights and constants), in file order, and by name (or NULL). */
size_t ft_onnx_n_initializers(const ft_onnx_model *m);
const ft_onnx_tensor *ft_onnx_initializer(const ft_onnx_model *m, size_t i);
const ft_onnx_tensor *ft_onnx_find_initializer(const ft_onnx_model *m, const char *name);

/* Nodes in topological order (the file's order when it already is one). */
size_t ft_onnx_n_nodes(const ft_onnx_model *m);
const ft_onnx_node *ft_onnx_node_at(const ft_onnx_model *m, size_t i);

/* A node's attribute by name, or NULL. */
const ft_onnx_attr *ft_onnx_attr_find(const ft_onnx_node *n, const char *name);

/* Bytes of converted tensor data the model holds (what max_tensor_bytes bounds). */
size_t ft_onnx_tensor_bytes(const ft_onnx_model *m);

/* Parse a lone TensorProto (the conformance tests' input_0.pb); *out is one
 * allocation, freed with free(). limits may be NULL. */
int ft_onnx_read_tensor(const void *bytes, size_t len, const ft_onnx_limits *limits,
                        ft_onnx_tensor **out, ft_error *err);

/* The same for a file (errors are prefixed with its path). */
int ft_onnx_read_tensor_file(const char *path, const ft_onnx_limits *limits, ft_onnx_tensor **out,
                             ft_error *err);

#endif
