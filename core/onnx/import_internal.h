/* Shared by the importer's files (onnx_import.c, import_*.c); nothing
 * outside core/onnx includes it. */
#ifndef FT_IMPORT_INTERNAL_H
#define FT_IMPORT_INTERNAL_H

#include <stdint.h>

#include <jansson.h>

#include "core/onnx/onnx_import.h"

/* Per-sample ranks the importer tracks (ONNX rank minus the batch). */
#define IMP_MAX_RANK 7
/* Layer names and aliases: the graph core's limit is 127 bytes. */
#define IMP_NAME_MAX 127

/* A per-sample shape (the batch dimension left out). */
typedef struct {
    int rank;
    int64_t d[IMP_MAX_RANK];
} imp_shape;

/* What an ONNX tensor is, as far as the importer has got. */
typedef enum {
    IMP_UNSET, /* not produced yet (or by a dropped node) */
    IMP_INPUT, /* the model input */
    IMP_LAYER, /* a layer's output */
    IMP_CONST  /* an initializer, Constant output or bound input: not a layer (yet) */
} imp_kind;

/* An ONNX tensor seen by the importer. */
typedef struct {
    imp_kind kind;
    int layer;               /* IMP_LAYER: index into imp.layers */
    imp_shape shape;         /* IMP_INPUT, IMP_LAYER: per-sample shape */
    const ft_onnx_tensor *t; /* IMP_CONST: the value */
    const char *origin;      /* IMP_CONST: the Constant node's name, or NULL */
    int uses;                /* live nodes reading it (+1 for the graph output) */
} imp_value;

/* A layer being built. */
typedef struct {
    char name[IMP_NAME_MAX + 1];
    json_t *obj;             /* its architecture JSON (owned) */
    json_t *aliases;         /* extra names for cut_after (owned array) */
    float *w, *b;            /* parameters to copy in after the build, or NULL */
    size_t nw, nb;           /* their counts */
    int consumers;           /* readers of its output (fusion needs exactly 1) */
    bool activated;          /* an activation is already set or fused */
    size_t node;             /* the ONNX node it came from (error labels) */
} imp_layer;

/* A string -> index hash map (open addressing; keys are not copied: they
 * must outlive the map). */
typedef struct {
    const char **keys;
    int *vals;
    size_t cap, n;
} imp_map;

typedef struct imp imp;

/* One row of the operator map. */
typedef struct {
    const char *op;                   /* ONNX op type */
    int (*emit)(imp *im, const ft_onnx_node *n); /* emit its layer(s) and outputs */
    const char *const *attrs;         /* attributes it accepts (NULL-terminated) */
} imp_op;

/* The importer's state for one import. */
struct imp {
    const ft_onnx_model *om;
    int64_t opset;
    ft_error *err;
    imp_value *vals;         /* by tensor, indexed through val_map */
    size_t n_vals;
    imp_map val_map;         /* tensor name -> vals index */
    imp_layer **layers;      /* each allocated alone, so names stay put for the maps */
    size_t n_layers, cap_layers;
    imp_map names;           /* layer names and aliases in use */
    ft_onnx_tensor **owned;  /* tensors the importer made (Constant value_float...) */
    size_t n_owned, cap_owned;
    int64_t batch;           /* the input's declared batch size, or -1 */
    size_t node_index;       /* the node being imported */
    const ft_onnx_node *node;
    char label[IMP_NAME_MAX + 64]; /* "node 'x' (Conv)" */
};

/* The operator map (import_ops.c). */
extern const imp_op imp_ops[];
extern const size_t imp_n_ops;

/* Out-of-memory error (FT_ENOMEM); returns -1. */
int imp_oom(imp *im);
/* Node n (index idx) is the one being imported: errors name it. */
void imp_set_label(imp *im, const ft_onnx_node *n, size_t idx);
/* The value of the tensor called name, or NULL. */
imp_value *imp_value_named(imp *im, const char *name);

/* Fail naming the current node: "node 'x' (Op): <message>" (FT_EINVAL). */
int imp_fail(imp *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The value a node input names, or NULL for an empty (left out) input. */
imp_value *imp_input(imp *im, const ft_onnx_node *n, size_t k);
/* True if output k of the node is read by a live node or is the graph output. */
bool imp_output_used(imp *im, const ft_onnx_node *n, size_t k);
/* Input k as a runtime tensor (model input or a layer), else an error. */
imp_value *imp_runtime(imp *im, const ft_onnx_node *n, size_t k);
/* Input k as a float / int64 constant, else an error (what names it). */
const ft_onnx_tensor *imp_const_f32(imp *im, const ft_onnx_node *n, size_t k, const char *what);
const ft_onnx_tensor *imp_const_i64(imp *im, const ft_onnx_node *n, size_t k, const char *what);

/* The name a layer's "inputs" uses for value v ("input" or the layer's);
 * a constant becomes a `constant` layer whose per-sample shape drops the
 * leading batch-aligned 1 when its rank is full_rank. NULL on error. */
const char *imp_source(imp *im, imp_value *v, int full_rank, imp_shape *shape);

/* Start a layer of `type` named `name` (NULL: after the current node),
 * reading `inputs`; returns its index or -1. The caller fills in obj's keys
 * and parameters. */
int imp_layer_new(imp *im, const char *name, const char *type, const char *const *inputs, size_t n_inputs);
/* Output k of the current node is layer li's output with this shape. */
int imp_set_layer_output(imp *im, const ft_onnx_node *n, size_t k, int li, const imp_shape *shape);
/* Output 0 of the current node is the same tensor as v (Identity, Dropout). */
int imp_set_alias(imp *im, const ft_onnx_node *n, const imp_value *v);
/* Output 0 of the current node is a constant. */
int imp_set_const(imp *im, const ft_onnx_node *n, const ft_onnx_tensor *t);
/* The layer behind v if the current node may fuse into it: one of `types`,
 * no activation yet, and the current node its only reader; else NULL. */
imp_layer *imp_fusable(imp *im, const imp_value *v, const char *const *types);
/* Fold the current node into the layer behind v: its name and outputs
 * become aliases and output 0 is that layer's output, of v's shape. */
int imp_fuse(imp *im, const ft_onnx_node *n, const imp_value *v);
/* A tensor owned by the importer with rank dims and count floats (or int64s). */
ft_onnx_tensor *imp_tensor_new(imp *im, ft_onnx_dtype dtype, size_t rank, const int64_t *dims);
/* Zero-filled floats, or NULL with an out-of-memory error. */
float *imp_floats(imp *im, size_t n);

/* Attribute helpers: value or default; ints arrays copied into out[max]
 * (count in *n), with an error if longer. */
int64_t imp_attr_int(const ft_onnx_node *n, const char *name, int64_t def);
float imp_attr_float(const ft_onnx_node *n, const char *name, float def);
const char *imp_attr_string(const ft_onnx_node *n, const char *name, const char *def);
int imp_attr_ints(imp *im, const ft_onnx_node *n, const char *name, int64_t *out, size_t max, size_t *count);

/* "[1, 2, 3]" into buf. */
const char *imp_ints_str(const int64_t *v, size_t n, char *buf, size_t size);
/* The per-sample shape as a JSON array (new reference). */
json_t *imp_shape_json(const imp_shape *s);

/* Emitters in import_conv.c (windows and weights). */
int imp_emit_conv(imp *im, const ft_onnx_node *n);
int imp_emit_pool(imp *im, const ft_onnx_node *n);
int imp_emit_global_avgpool(imp *im, const ft_onnx_node *n);
int imp_emit_gemm(imp *im, const ft_onnx_node *n);
int imp_emit_matmul(imp *im, const ft_onnx_node *n);
int imp_emit_batchnorm(imp *im, const ft_onnx_node *n);

/* Hash map: index of key or -1; insert fails (-1) only on out of memory. */
int imp_map_get(const imp_map *m, const char *key);
int imp_map_put(imp_map *m, const char *key, int val);
void imp_map_free(imp_map *m);

#endif
