/* The graph's names and order: every tensor name defined once (by a graph
 * input, an initializer or one node output), every name read defined, and
 * the nodes in an order that runs each after its producers. Plus the
 * model's accessors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/onnx/onnx_internal.h"

enum { BY_INPUT = -1, BY_INIT = -2 };

/* Open-addressing table: name -> who defines it (a node index or BY_*). */
typedef struct {
    const char **names;
    long *by;
    size_t mask;
} name_table;

static size_t hash_str(const char *s)
{
    size_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static int table_init(name_table *t, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n && cap < SIZE_MAX / 4)
        cap *= 2;
    t->mask = cap - 1;
    t->names = calloc(cap, sizeof *t->names);
    t->by = calloc(cap, sizeof *t->by);
    return t->names && t->by ? 0 : -1;
}

/* The slot holding name, or the empty slot where it would go. */
static size_t table_slot(const name_table *t, const char *name)
{
    size_t i = hash_str(name) & t->mask;
    while (t->names[i] && strcmp(t->names[i], name) != 0)
        i = (i + 1) & t->mask;
    return i;
}

static void node_label(const ft_onnx_model *m, long i, char *buf, size_t size)
{
    if (i == BY_INPUT)
        snprintf(buf, size, "the graph input");
    else if (i == BY_INIT)
        snprintf(buf, size, "an initializer");
    else if (*m->nodes[i].name)
        snprintf(buf, size, "node '%s' (%s)", m->nodes[i].name, m->nodes[i].op_type);
    else
        snprintf(buf, size, "node #%ld (%s)", i, m->nodes[i].op_type);
}

/* Define name as made by `by`; a second definition is an error. */
static int define(const ft_onnx_model *m, name_table *t, const char *name, long by, ft_error *err)
{
    size_t s = table_slot(t, name);
    if (!t->names[s]) {
        t->names[s] = name;
        t->by[s] = by;
        return 0;
    }
    char a[200], b[200];
    node_label(m, t->by[s], a, sizeof a);
    node_label(m, by, b, sizeof b);
    return ft_fail(err, FT_EFORMAT, NULL, "tensor '%s' is defined twice (by %s and by %s)", name, a, b);
}

/* Kahn's algorithm; the file's order is kept when it is already valid. */
static int sort_nodes(ft_onnx_model *m, const name_table *t, ft_error *err)
{
    size_t n = m->n_nodes, edges = 0;
    int sorted = 1;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < m->nodes[i].n_inputs; k++) {
            const char *in = m->nodes[i].inputs[k];
            long by = *in ? t->by[table_slot(t, in)] : BY_INPUT;
            if (by >= 0) {
                edges++;
                sorted &= (size_t)by < i;
            }
        }
    if (sorted)
        return 0;
    size_t *indeg = calloc(n, sizeof *indeg), *start = calloc(n + 1, sizeof *start);
    size_t *to = calloc(edges ? edges : 1, sizeof *to), *queue = calloc(n, sizeof *queue);
    ft_onnx_node *order = calloc(n, sizeof *order);
    int rc = -1;
    if (!indeg || !start || !to || !queue || !order) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory ordering the ONNX graph");
        goto done;
    }
    /* Edges producer -> consumer in CSR form: count, prefix-sum, fill. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < m->nodes[i].n_inputs; k++) {
                const char *in = m->nodes[i].inputs[k];
                long by = *in ? t->by[table_slot(t, in)] : BY_INPUT;
                if (by < 0)
                    continue;
                if (pass == 0) {
                    start[by + 1]++;
                    indeg[i]++;
                } else {
                    to[start[by]++] = i;
                }
            }
        if (pass == 0)
            for (size_t i = 0; i < n; i++)
                start[i + 1] += start[i];
        else /* the fill advanced each start to the next one's: shift back */
            for (size_t i = n; i > 0; i--)
                start[i] = start[i - 1];
        if (pass == 1)
            start[0] = 0;
    }
    size_t head = 0, tail = 0;
    for (size_t i = 0; i < n; i++)
        if (!indeg[i])
            queue[tail++] = i;
    while (head < tail) {
        size_t i = queue[head++];
        for (size_t e = start[i]; e < start[i + 1]; e++)
            if (--indeg[to[e]] == 0)
                queue[tail++] = to[e];
    }
    if (tail < n) {
        size_t stuck = 0;
        while (!indeg[stuck])
            stuck++;
        char where[200];
        node_label(m, (long)stuck, where, sizeof where);
        ft_fail(err, FT_EFORMAT, NULL, "the graph has a cycle through %s", where);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = m->nodes[queue[i]];
    memcpy(m->nodes, order, n * sizeof *order);
    rc = 0;
done:
    free(indeg);
    free(start);
    free(to);
    free(queue);
    free(order);
    return rc;
}

int onnx_graph_check(ft_onnx_model *m, ft_error *err)
{
    size_t names = m->n_inits + m->n_inputs;
    for (size_t i = 0; i < m->n_nodes; i++)
        names += m->nodes[i].n_outputs; /* bounded by the parse budget: no overflow */
    name_table t;
    int rc = -1;
    if (table_init(&t, names) != 0) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory checking the ONNX graph");
        goto done;
    }
    for (size_t i = 0; i < m->n_inits; i++)
        if (define(m, &t, m->inits[i].name, BY_INIT, err) != 0)
            goto done;
    /* Inputs that are initializers (IR < 4 lists them) are weights, not inputs. */
    size_t kept = 0;
    for (size_t i = 0; i < m->n_inputs; i++) {
        const char *name = m->inputs[i].name;
        if (!*name) {
            ft_fail(err, FT_EFORMAT, NULL, "graph input #%zu has no name", i);
            goto done;
        }
        size_t s = table_slot(&t, name);
        if (t.names[s] && t.by[s] == BY_INIT)
            continue;
        if (define(m, &t, name, BY_INPUT, err) != 0)
            goto done;
        m->inputs[kept++] = m->inputs[i];
    }
    m->n_inputs = kept;
    for (size_t i = 0; i < m->n_nodes; i++)
        for (size_t k = 0; k < m->nodes[i].n_outputs; k++)
            if (*m->nodes[i].outputs[k] && define(m, &t, m->nodes[i].outputs[k], (long)i, err) != 0)
                goto done;
    for (size_t i = 0; i < m->n_nodes; i++)
        for (size_t k = 0; k < m->nodes[i].n_inputs; k++) {
            const char *in = m->nodes[i].inputs[k];
            if (*in && !t.names[table_slot(&t, in)]) {
                char where[200];
                node_label(m, (long)i, where, sizeof where);
                ft_fail(err, FT_EFORMAT, NULL,
                        "%s reads tensor '%s', which no node, graph input or initializer defines", where, in);
                goto done;
            }
        }
    for (size_t i = 0; i < m->n_outputs; i++)
        if (!t.names[table_slot(&t, m->outputs[i].name)]) {
            ft_fail(err, FT_EFORMAT, NULL, "graph output '%s' is not defined by any node, input or initializer",
                    m->outputs[i].name);
            goto done;
        }
    rc = sort_nodes(m, &t, err);
done:
    free(t.names);
    free(t.by);
    return rc;
}

/* ---- accessors ---- */

int64_t ft_onnx_opset(const ft_onnx_model *m) { return m->opset; }
int64_t ft_onnx_ir_version(const ft_onnx_model *m) { return m->ir_version; }
const char *ft_onnx_producer(const ft_onnx_model *m) { return m->producer; }
size_t ft_onnx_n_inputs(const ft_onnx_model *m) { return m->n_inputs; }
size_t ft_onnx_n_outputs(const ft_onnx_model *m) { return m->n_outputs; }
size_t ft_onnx_n_initializers(const ft_onnx_model *m) { return m->n_inits; }
size_t ft_onnx_n_nodes(const ft_onnx_model *m) { return m->n_nodes; }
size_t ft_onnx_tensor_bytes(const ft_onnx_model *m) { return m->tensor_bytes; }

const ft_onnx_value *ft_onnx_input(const ft_onnx_model *m, size_t i)
{
    return i < m->n_inputs ? &m->inputs[i] : NULL;
}

const ft_onnx_value *ft_onnx_output(const ft_onnx_model *m, size_t i)
{
    return i < m->n_outputs ? &m->outputs[i] : NULL;
}

const ft_onnx_tensor *ft_onnx_initializer(const ft_onnx_model *m, size_t i)
{
    return i < m->n_inits ? &m->inits[i] : NULL;
}

const ft_onnx_tensor *ft_onnx_find_initializer(const ft_onnx_model *m, const char *name)
{
    for (size_t i = 0; i < m->n_inits; i++)
        if (strcmp(m->inits[i].name, name) == 0)
            return &m->inits[i];
    return NULL;
}

const ft_onnx_node *ft_onnx_node_at(const ft_onnx_model *m, size_t i)
{
    return i < m->n_nodes ? &m->nodes[i] : NULL;
}

const ft_onnx_attr *ft_onnx_attr_find(const ft_onnx_node *n, const char *name)
{
    for (size_t i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0)
            return &n->attrs[i];
    return NULL;
}
