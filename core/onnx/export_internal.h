/* Shared by the ONNX exporter's files: export_build.c makes the graph's
 * messages, export_layers.c maps each layer type and activation to ONNX
 * nodes, onnx_export.c walks the model and packs the file. */
#ifndef FT_EXPORT_INTERNAL_H
#define FT_EXPORT_INTERNAL_H

#include <stdbool.h>

#include "core/nn/model.h"
#include "core/onnx/onnx_internal.h"

/* The graph being built. */
typedef struct {
    onnx_arena arena;          /* every message and string below */
    Onnx__NodeProto **nodes;   /* the nodes so far, in order (malloc'd array) */
    size_t n_nodes, cap_nodes;
    Onnx__TensorProto **inits; /* the initializers so far (malloc'd array) */
    size_t n_inits, cap_inits;
    const char *layer;         /* the layer being emitted: its nodes are named after it */
    size_t layer_first;        /* index of its first node */
    ft_error *err;
} xp;

/* One layer as its emitter sees it. */
typedef struct {
    const ft_model *m;
    int index;                      /* in the model */
    const json_t *obj;              /* its canonical architecture JSON */
    ft_layer_info info;
    const char *in[FT_MAX_INPUTS];  /* its inputs' tensor names */
    ft_shape in_shape[FT_MAX_INPUTS]; /* and their per-sample shapes */
    const float *params;            /* its parameters (weights, then bias) */
} xp_layer;

/* Emit layer l's operation (without its activation) into tensor `out`, or
 * into a tensor of its own when out is NULL; returns the tensor's name, or
 * NULL with x->err set (left unset: out of memory). */
typedef const char *(*xp_emit_fn)(xp *x, const xp_layer *l, const char *out);

/* The emitter of each layer type (export_layers.c). */
extern const xp_emit_fn xp_emitters[FT_LAYER_COUNT];

/* Layer l's activation on tensor pre, into out (export_layers.c). */
const char *xp_activation(xp *x, const xp_layer *l, const char *pre, const char *out);

/* n zeroed elements of size each in the arena, or NULL. */
void *xp_zalloc(xp *x, size_t n, size_t size);
/* The graph input or output `name`: float, per-sample shape s behind a
 * symbolic batch dimension. NULL when out of memory. */
Onnx__ValueInfoProto *xp_value_info(xp *x, const char *name, ft_shape s);
/* A node op(in[0..nin)) appended to the graph; its output is out, or when
 * NULL a tensor named like the node would be past the layer's first:
 * "<layer>#<op>" ("_k" on the k-th repeat). The layer's first node is
 * named after the layer. NULL if out of memory or an input is NULL. */
Onnx__NodeProto *xp_node(xp *x, const char *op, const char *const *in, size_t nin, const char *out);
/* Attributes of node n (NULL n: fails); 0, or -1 when out of memory. */
int xp_attr_int(xp *x, Onnx__NodeProto *n, const char *name, int64_t v);
int xp_attr_ints(xp *x, Onnx__NodeProto *n, const char *name, const int64_t *v, size_t count);
int xp_attr_float(xp *x, Onnx__NodeProto *n, const char *name, float v);
/* A float initializer over data (not copied: it must outlive the packing);
 * returns its name, or NULL. */
const char *xp_init_f32(xp *x, const char *name, const int64_t *dims, size_t rank, const float *data);
/* A float initializer of `count` copies of v (a scalar when rank 0). */
const char *xp_init_fill(xp *x, const char *name, const int64_t *dims, size_t rank, float v);
/* A 1-D int64 initializer (shapes, pads, axes), copied. */
const char *xp_init_i64(xp *x, const char *name, const int64_t *v, size_t count);
/* A string in the arena, or NULL. */
char *xp_printf(xp *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "<layer>#<what>": the name of a helper tensor of the current layer. */
const char *xp_aux(xp *x, const char *what);

#endif
