/* The ONNX exporter's builder: protobuf-c messages of the graph (nodes,
 * attributes, initializers, graph inputs and outputs) made in an arena. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/onnx/export_internal.h"

/* Attributes a node of ours carries at most (Conv: 5). */
#define MAX_ATTRS 8

void *xp_zalloc(xp *x, size_t n, size_t size)
{
    void *p = onnx_arena_array(&x->arena, n, size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

char *xp_printf(xp *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? onnx_arena_alloc(&x->arena, (size_t)n + 1) : NULL;
    if (s) {
        va_start(ap, fmt);
        vsnprintf(s, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    return s;
}

/* Append p to a growing array of pointers; -1 when out of memory. */
static int push(void ***arr, size_t *n, size_t *cap, void *p)
{
    if (!p)
        return -1;
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 64;
        void **a = c < SIZE_MAX / sizeof *a ? realloc(*arr, c * sizeof *a) : NULL;
        if (!a)
            return -1;
        *arr = a, *cap = c;
    }
    (*arr)[(*n)++] = p;
    return 0;
}

const char *xp_aux(xp *x, const char *what) { return xp_printf(x, "%s#%s", x->layer, what); }

Onnx__NodeProto *xp_node(xp *x, const char *op, const char *const *in, size_t nin, const char *out)
{
    for (size_t i = 0; i < nin; i++)
        if (!in[i])
            return NULL;
    size_t repeat = 0;
    for (size_t i = x->layer_first; i < x->n_nodes; i++)
        repeat += strcmp(x->nodes[i]->op_type, op) == 0;
    char *tag = repeat ? xp_printf(x, "%s#%s_%zu", x->layer, op, repeat) : xp_printf(x, "%s#%s", x->layer, op);
    Onnx__NodeProto *n = xp_zalloc(x, 1, sizeof *n);
    char **ins = xp_zalloc(x, nin, sizeof *ins), **outs = xp_zalloc(x, 1, sizeof *outs);
    Onnx__AttributeProto **attrs = xp_zalloc(x, MAX_ATTRS, sizeof *attrs);
    if (!tag || !n || !ins || !outs || !attrs)
        return NULL;
    onnx__node_proto__init(n);
    for (size_t i = 0; i < nin; i++)
        if (!(ins[i] = onnx_arena_strdup(&x->arena, in[i])))
            return NULL;
    outs[0] = out ? onnx_arena_strdup(&x->arena, out) : tag;
    n->op_type = onnx_arena_strdup(&x->arena, op);
    n->name = x->n_nodes == x->layer_first ? onnx_arena_strdup(&x->arena, x->layer) : tag;
    n->input = ins, n->n_input = nin, n->output = outs, n->n_output = 1, n->attribute = attrs;
    if (!outs[0] || !n->op_type || !n->name)
        return NULL;
    return push((void ***)&x->nodes, &x->n_nodes, &x->cap_nodes, n) == 0 ? n : NULL;
}

static Onnx__AttributeProto *attr(xp *x, Onnx__NodeProto *n, const char *name, Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *a = n && n->n_attribute < MAX_ATTRS ? xp_zalloc(x, 1, sizeof *a) : NULL;
    if (!a)
        return NULL;
    onnx__attribute_proto__init(a);
    a->name = onnx_arena_strdup(&x->arena, name);
    a->has_type = 1, a->type = type;
    n->attribute[n->n_attribute++] = a;
    return a->name ? a : NULL;
}

int xp_attr_int(xp *x, Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = attr(x, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (!a)
        return -1;
    a->has_i = 1, a->i = v;
    return 0;
}

int xp_attr_float(xp *x, Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a = attr(x, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (!a)
        return -1;
    a->has_f = 1, a->f = v; /* has_f even for 0: an absent epsilon would mean 1e-5 */
    return 0;
}

int xp_attr_ints(xp *x, Onnx__NodeProto *n, const char *name, const int64_t *v, size_t count)
{
    Onnx__AttributeProto *a = attr(x, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *copy = a ? xp_zalloc(x, count, sizeof *copy) : NULL;
    if (!copy)
        return -1;
    memcpy(copy, v, count * sizeof *copy);
    a->ints = copy, a->n_ints = count;
    return 0;
}

static Onnx__TensorProto *tensor(xp *x, const char *name, const int64_t *dims, size_t rank, int type)
{
    Onnx__TensorProto *t = xp_zalloc(x, 1, sizeof *t);
    int64_t *d = xp_zalloc(x, rank, sizeof *d);
    if (!t || !d)
        return NULL;
    onnx__tensor_proto__init(t);
    if (rank) /* a scalar's dims may be NULL */
        memcpy(d, dims, rank * sizeof *d);
    t->dims = d, t->n_dims = rank;
    t->has_data_type = 1, t->data_type = type;
    t->name = onnx_arena_strdup(&x->arena, name);
    if (!t->name || push((void ***)&x->inits, &x->n_inits, &x->cap_inits, t) != 0)
        return NULL;
    return t;
}

static size_t dims_count(const int64_t *dims, size_t rank)
{
    size_t n = 1;
    for (size_t i = 0; i < rank; i++)
        n *= (size_t)dims[i];
    return n;
}

const char *xp_init_f32(xp *x, const char *name, const int64_t *dims, size_t rank, const float *data)
{
    Onnx__TensorProto *t = name ? tensor(x, name, dims, rank, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) : NULL;
    if (!t)
        return NULL;
    /* float_data rather than raw_data: protobuf-c writes it little-endian
     * whatever the host. Packing only reads it; the cast is for the
     * generated struct, which has no const. */
    t->float_data = (float *)(uintptr_t)data, t->n_float_data = dims_count(dims, rank);
    return t->name;
}

const char *xp_init_fill(xp *x, const char *name, const int64_t *dims, size_t rank, float v)
{
    size_t n = dims_count(dims, rank);
    float *data = onnx_arena_array(&x->arena, n, sizeof *data);
    if (!data)
        return NULL;
    for (size_t i = 0; i < n; i++)
        data[i] = v;
    return xp_init_f32(x, name, dims, rank, data);
}

const char *xp_init_i64(xp *x, const char *name, const int64_t *v, size_t count)
{
    int64_t dim = (int64_t)count;
    Onnx__TensorProto *t = name ? tensor(x, name, &dim, 1, ONNX__TENSOR_PROTO__DATA_TYPE__INT64) : NULL;
    int64_t *copy = t ? xp_zalloc(x, count, sizeof *copy) : NULL;
    if (!copy)
        return NULL;
    memcpy(copy, v, count * sizeof *copy);
    t->int64_data = copy, t->n_int64_data = count;
    return t->name;
}

/* A float graph input or output of per-sample shape s behind a batch dimension. */
Onnx__ValueInfoProto *xp_value_info(xp *x, const char *name, ft_shape s)
{
    Onnx__ValueInfoProto *v = xp_zalloc(x, 1, sizeof *v);
    Onnx__TypeProto *tp = xp_zalloc(x, 1, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = xp_zalloc(x, 1, sizeof *tt);
    Onnx__TensorShapeProto *sp = xp_zalloc(x, 1, sizeof *sp);
    Onnx__TensorShapeProto__Dimension **dims = xp_zalloc(x, (size_t)s.rank + 1, sizeof *dims);
    if (!v || !tp || !tt || !sp || !dims)
        return NULL;
    onnx__value_info_proto__init(v), onnx__type_proto__init(tp), onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sp);
    for (int i = 0; i <= s.rank; i++) {
        if (!(dims[i] = xp_zalloc(x, 1, sizeof *dims[i])))
            return NULL;
        onnx__tensor_shape_proto__dimension__init(dims[i]);
        if (i == 0) {
            dims[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            if (!(dims[i]->dim_param = onnx_arena_strdup(&x->arena, "batch")))
                return NULL;
        } else {
            dims[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dims[i]->dim_value = s.dim[i - 1];
        }
    }
    sp->dim = dims, sp->n_dim = (size_t)s.rank + 1;
    tt->has_elem_type = 1, tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, tt->shape = sp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE, tp->tensor_type = tt;
    v->type = tp;
    return (v->name = onnx_arena_strdup(&x->arena, name)) ? v : NULL;
}

