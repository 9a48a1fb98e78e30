/* ModelProto -> ft_onnx_model: opset, graph inputs and outputs, the tensor
 * budget, initializers, nodes with typed attributes; onnx_graph.c then
 * checks the names and orders the nodes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/onnx/onnx_internal.h"

static int oom(ft_error *err)
{
    return ft_fail(err, FT_ENOMEM, NULL, "out of memory reading the ONNX model");
}

/* "node 'conv1' (Conv)" or "node #3 (Conv)" for unnamed nodes. */
static const char *node_label(const Onnx__NodeProto *n, size_t idx, char *buf, size_t size)
{
    if (n->name && *n->name)
        snprintf(buf, size, "node '%s' (%s)", n->name, n->op_type ? n->op_type : "");
    else
        snprintf(buf, size, "node #%zu (%s)", idx, n->op_type ? n->op_type : "");
    return buf;
}

static int is_default_domain(const char *d)
{
    return !d || !*d || strcmp(d, "ai.onnx") == 0;
}

static int read_opset(ft_onnx_model *m, const Onnx__ModelProto *mp, const ft_onnx_limits *lim, ft_error *err)
{
    int found = 0;
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
        if (is_default_domain(o->domain)) {
            m->opset = o->has_version ? o->version : 0;
            found = 1;
        }
    }
    if (!found)
        return ft_fail(err, FT_EINVAL, NULL, "the file declares no opset for the default ONNX domain");
    if (m->opset < lim->opset_min || m->opset > lim->opset_max)
        return ft_fail(err, FT_EINVAL, NULL, "opset %lld is not supported (supported: %d to %d)",
                       (long long)m->opset, lim->opset_min, lim->opset_max);
    return 0;
}

/* Add one tensor's converted size to *total, within the budget. */
static int budget_add(const Onnx__TensorProto *t, const ft_onnx_limits *lim, size_t *total, ft_error *err)
{
    onnx_tensor_plan p;
    if (onnx_tensor_plan_of(t, &p, err) != 0)
        return -1;
    if (p.data_bytes > lim->max_tensor_bytes - *total)
        return ft_fail(err, FT_ETOOBIG, NULL,
                       "tensor '%s' declares %zu bytes, which takes the model above its budget of %zu bytes "
                       "of tensor data", t->name ? t->name : "", p.data_bytes, lim->max_tensor_bytes);
    *total += p.data_bytes;
    return 0;
}

/* The budget, checked from every tensor's header before any is converted. */
static int check_budget(ft_onnx_model *m, const Onnx__GraphProto *g, const ft_onnx_limits *lim,
                        ft_error *err)
{
    size_t total = 0;
    for (size_t i = 0; i < g->n_initializer; i++)
        if (budget_add(g->initializer[i], lim, &total, err) != 0)
            return -1;
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t a = 0; a < g->node[i]->n_attribute; a++)
            if (g->node[i]->attribute[a]->t && budget_add(g->node[i]->attribute[a]->t, lim, &total, err) != 0)
                return -1;
    m->tensor_bytes = total;
    return 0;
}

static int convert_tensor(ft_onnx_model *m, const Onnx__TensorProto *t, ft_onnx_tensor *out, ft_error *err)
{
    onnx_tensor_plan p;
    if (onnx_tensor_plan_of(t, &p, err) != 0)
        return -1;
    int64_t *dims = onnx_arena_array(&m->arena, t->n_dims, sizeof *dims);
    void *data = onnx_arena_alloc(&m->arena, p.data_bytes ? p.data_bytes : 1);
    if (!dims || !data || !(out->name = onnx_arena_strdup(&m->arena, t->name)))
        return oom(err);
    return onnx_tensor_fill(t, &p, dims, data, out, err);
}

static int convert_value(ft_onnx_model *m, const Onnx__ValueInfoProto *v, ft_onnx_value *out, ft_error *err)
{
    *out = (ft_onnx_value){.rank = -1};
    if (!(out->name = onnx_arena_strdup(&m->arena, v->name)))
        return oom(err);
    const Onnx__TypeProto *tp = v->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return 0; /* no type: the converter infers it or refuses */
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    out->elem_type = tt->has_elem_type ? tt->elem_type : 0;
    if (!tt->shape)
        return 0;
    if (tt->shape->n_dim > INT32_MAX)
        return ft_fail(err, FT_EFORMAT, NULL, "value '%s' has too many dims", out->name);
    out->rank = (int)tt->shape->n_dim;
    ft_onnx_dim *dims = onnx_arena_array(&m->arena, tt->shape->n_dim, sizeof *dims);
    if (!dims)
        return oom(err);
    for (size_t i = 0; i < tt->shape->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        dims[i] = (ft_onnx_dim){.size = -1};
        if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && d->dim_value >= 0)
            dims[i].size = d->dim_value;
        else if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
                 !(dims[i].param = onnx_arena_strdup(&m->arena, d->dim_param)))
            return oom(err);
    }
    out->dims = dims;
    return 0;
}

/* n elements of size bytes copied into the arena. */
static void *copy_array(ft_onnx_model *m, const void *src, size_t n, size_t size)
{
    void *d = onnx_arena_array(&m->arena, n, size);
    if (d && n)
        memcpy(d, src, n * size);
    return d;
}

static int convert_attr(ft_onnx_model *m, const Onnx__AttributeProto *a, const char *where,
                        ft_onnx_attr *out, ft_error *err)
{
    *out = (ft_onnx_attr){0};
    if (!(out->name = onnx_arena_strdup(&m->arena, a->name)))
        return oom(err);
    int type = a->has_type ? (int)a->type : 0;
    if (!type) /* files before IR 3 leave the type out: infer it */
        type = a->n_floats ? 6 : a->n_ints ? 7 : a->has_s ? 3 : a->t ? 4 : a->has_f ? 1 : a->has_i ? 2 : 0;
    switch (type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:
        out->type = FT_ONNX_ATTR_FLOAT;
        out->f = a->f;
        return 0;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT:
        out->type = FT_ONNX_ATTR_INT;
        out->i = a->i;
        return 0;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
        out->type = FT_ONNX_ATTR_INTS;
        out->count = a->n_ints;
        return (out->ints = copy_array(m, a->ints, a->n_ints, sizeof *a->ints)) ? 0 : oom(err);
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
        out->type = FT_ONNX_ATTR_FLOATS;
        out->count = a->n_floats;
        return (out->floats = copy_array(m, a->floats, a->n_floats, sizeof *a->floats)) ? 0 : oom(err);
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: {
        size_t n = a->s.len;
        char *s = n < SIZE_MAX ? onnx_arena_alloc(&m->arena, n + 1) : NULL;
        if (!s)
            return oom(err);
        if (n)
            memcpy(s, a->s.data, n);
        s[n] = 0;
        *out = (ft_onnx_attr){.name = out->name, .type = FT_ONNX_ATTR_STRING, .s = s, .count = n};
        return 0;
    }
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: {
        ft_onnx_tensor *t = onnx_arena_alloc(&m->arena, sizeof *t);
        if (!t)
            return oom(err);
        if (!a->t)
            return ft_fail(err, FT_EFORMAT, NULL, "%s: attribute '%s' is a tensor but holds none", where, out->name);
        if (convert_tensor(m, a->t, t, err) != 0) {
            ft_error_prefix(err, "%s: attribute '%s': ", where, out->name);
            return -1;
        }
        out->type = FT_ONNX_ATTR_TENSOR;
        out->t = t;
        return 0;
    }
    default: {
        static const char *const names[] = {"UNDEFINED", "FLOAT", "INT", "STRING", "TENSOR", "GRAPH",
                                            "FLOATS", "INTS", "STRINGS", "TENSORS", "GRAPHS",
                                            "SPARSE_TENSOR", "SPARSE_TENSORS", "TYPE_PROTO", "TYPE_PROTOS"};
        const char *tn = type >= 0 && type < 15 ? names[type] : "unknown";
        return ft_fail(err, FT_EINVAL, NULL, "%s: attribute '%s' has type %s, which is not supported", where,
                       out->name, tn);
    }
    }
}

/* Is op (in domain) on the caller's list? Other domains are named
 * "domain.Op", so a list can admit them explicitly. */
static int op_supported(const ft_onnx_limits *lim, const Onnx__NodeProto *n, char *full, size_t size)
{
    if (is_default_domain(n->domain))
        snprintf(full, size, "%s", n->op_type ? n->op_type : "");
    else
        snprintf(full, size, "%s.%s", n->domain, n->op_type ? n->op_type : "");
    if (!lim->supported_ops)
        return 1;
    for (size_t i = 0; i < lim->n_supported_ops; i++)
        if (lim->supported_ops[i] && strcmp(lim->supported_ops[i], full) == 0)
            return 1;
    return 0;
}

static int unsupported_op(const ft_onnx_limits *lim, const char *where, const char *op, ft_error *err)
{
    char list[400];
    size_t n = 0;
    list[0] = 0;
    for (size_t i = 0; i < lim->n_supported_ops && n < sizeof list; i++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "",
                              lim->supported_ops[i] ? lim->supported_ops[i] : "");
    return ft_fail(err, FT_EINVAL, NULL, "%s: op type '%s' is not supported (supported: %s)", where, op, list);
}

static const char **copy_names(ft_onnx_model *m, char **names, size_t n)
{
    const char **out = onnx_arena_array(&m->arena, n, sizeof *out);
    for (size_t i = 0; out && i < n; i++)
        if (!(out[i] = onnx_arena_strdup(&m->arena, names[i])))
            return NULL;
    return out;
}

static int convert_node(ft_onnx_model *m, const Onnx__NodeProto *n, size_t idx, const ft_onnx_limits *lim,
                        ft_onnx_node *out, ft_error *err)
{
    char where[200], op[160];
    node_label(n, idx, where, sizeof where);
    if (!n->op_type || !*n->op_type)
        return ft_fail(err, FT_EFORMAT, NULL, "%s has no op type", where);
    if (!op_supported(lim, n, op, sizeof op))
        return unsupported_op(lim, where, op, err);
    out->name = onnx_arena_strdup(&m->arena, n->name);
    out->op_type = onnx_arena_strdup(&m->arena, n->op_type);
    out->domain = onnx_arena_strdup(&m->arena, is_default_domain(n->domain) ? "" : n->domain);
    out->inputs = copy_names(m, n->input, n->n_input);
    out->outputs = copy_names(m, n->output, n->n_output);
    ft_onnx_attr *attrs = onnx_arena_array(&m->arena, n->n_attribute, sizeof *attrs);
    if (!out->name || !out->op_type || !out->domain || !out->inputs || !out->outputs || !attrs)
        return oom(err);
    out->n_inputs = n->n_input;
    out->n_outputs = n->n_output;
    out->n_attrs = n->n_attribute;
    out->attrs = attrs;
    for (size_t a = 0; a < n->n_attribute; a++)
        if (convert_attr(m, n->attribute[a], where, &attrs[a], err) != 0)
            return -1;
    return 0;
}

static int convert_graph(ft_onnx_model *m, const Onnx__GraphProto *g, const ft_onnx_limits *lim, ft_error *err)
{
    if (g->n_node > lim->max_nodes)
        return ft_fail(err, FT_ETOOBIG, NULL, "the graph has %zu nodes, above the limit of %zu", g->n_node,
                       lim->max_nodes);
    if (g->n_sparse_initializer)
        return ft_fail(err, FT_EINVAL, NULL, "sparse initializers are not supported");
    m->inits = onnx_arena_array(&m->arena, g->n_initializer, sizeof *m->inits);
    m->inputs = onnx_arena_array(&m->arena, g->n_input, sizeof *m->inputs);
    m->outputs = onnx_arena_array(&m->arena, g->n_output, sizeof *m->outputs);
    m->nodes = onnx_arena_array(&m->arena, g->n_node, sizeof *m->nodes);
    if (!m->inits || !m->inputs || !m->outputs || !m->nodes)
        return oom(err);
    for (size_t i = 0; i < g->n_initializer; i++, m->n_inits++)
        if (convert_tensor(m, g->initializer[i], &m->inits[i], err) != 0)
            return -1;
    /* onnx_graph_check drops the inputs that are initializers. */
    for (size_t i = 0; i < g->n_input; i++, m->n_inputs++)
        if (convert_value(m, g->input[i], &m->inputs[i], err) != 0)
            return -1;
    for (size_t i = 0; i < g->n_output; i++, m->n_outputs++)
        if (convert_value(m, g->output[i], &m->outputs[i], err) != 0)
            return -1;
    for (size_t i = 0; i < g->n_node; i++, m->n_nodes++)
        if (convert_node(m, g->node[i], i, lim, &m->nodes[i], err) != 0)
            return -1;
    return 0;
}

int ft_onnx_read(const void *bytes, size_t len, const ft_onnx_limits *limits, ft_onnx_model **out,
                 ft_error *err)
{
    *out = NULL;
    ft_onnx_limits lim = onnx_limits_resolve(limits, len);
    onnx_pb_alloc alloc;
    ProtobufCMessage *msg = onnx_unpack(&onnx__model_proto__descriptor, bytes, len, &lim, &alloc, err);
    if (!msg)
        return -1;
    const Onnx__ModelProto *mp = (const Onnx__ModelProto *)msg;
    ft_onnx_model *m = calloc(1, sizeof *m);
    int rc = m ? 0 : oom(err);
    if (rc == 0 && !mp->graph)
        rc = ft_fail(err, FT_EFORMAT, NULL, "not an ONNX model: the file has no graph");
    if (rc == 0)
        rc = read_opset(m, mp, &lim, err);
    if (rc == 0) {
        m->ir_version = mp->has_ir_version ? mp->ir_version : 0;
        if (!(m->producer = onnx_arena_strdup(&m->arena, mp->producer_name)))
            rc = oom(err);
    }
    if (rc == 0)
        rc = check_budget(m, mp->graph, &lim, err);
    if (rc == 0)
        rc = convert_graph(m, mp->graph, &lim, err);
    protobuf_c_message_free_unpacked(msg, &alloc.pc);
    if (rc == 0)
        rc = onnx_graph_check(m, err);
    if (rc != 0) {
        ft_onnx_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

void ft_onnx_free(ft_onnx_model *m)
{
    if (!m)
        return;
    onnx_arena_free(&m->arena);
    free(m);
}
