/* Forward and backward passes over preallocated workspaces. Nothing here
 * allocates once a workspace exists: every buffer is sized when it is made.
 *
 * Two kinds of workspace share one forward pass. A training workspace
 * (ft_workspace_new) keeps every layer's output, since backward reads them.
 * A forward-only one (ft_workspace_new_range) gives outputs buffers by
 * liveness: a buffer is reused once the last layer reading it has run, so a
 * deep graph needs a few activations' worth of memory instead of all of
 * them, and the layers share one scratch. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn/model_internal.h"

struct ft_workspace {
    int from;          /* first layer this workspace runs */
    int to;            /* one past the last */
    int max_batch;     /* rows the buffers hold */
    bool training;     /* keeps every output (backward works) */
    float **act;       /* act[i]: output of layer i, i in [from, to); shared by liveness when !training */
    float **scratch;   /* scratch[i]: layer i's scratch */
    float *grad_a;     /* ping-pong gradient buffers, each the largest */
    float *grad_b;     /* activation of the run layers (or their input) */
    float *grads;      /* gradient destination, or NULL for the model's */
    const float *x;    /* input of the last forward */
    int batch;         /* rows of the last forward */
    int flags;         /* flags of the last forward */
    float *block;      /* the single allocation behind all buffers */
    size_t floats;     /* its size */
};

/* Each piece is rounded to 16 floats to keep 64-byte alignment. */
static size_t aligned16(size_t floats) { return (floats + 15) & ~(size_t)15; }

/* Floats of scratch layer l needs for max_batch rows. */
static size_t scratch_floats(const ft_layer *l, int max_batch)
{
    return l->kind->scratch_floats ? l->kind->scratch_floats(l, max_batch) : 0;
}

size_t ft_workspace_floats(const ft_model *m, int from, int to, int max_batch)
{
    size_t total = 0, widest = ft_shape_size(m->layers[from].in), b = (size_t)max_batch;
    for (int i = from; i < to; i++) {
        const ft_layer *l = &m->layers[i];
        size_t out = ft_shape_size(l->out);
        if (out > widest)
            widest = out;
        total += aligned16(b * out) + aligned16(scratch_floats(l, max_batch));
    }
    return total + 2 * aligned16(b * widest); /* the two gradient buffers */
}

/* The liveness plan of layers [from, to): offset[i - from] receives where
 * layer i's output starts (when offset is not NULL). Each output takes a
 * free slot (one whose last reader has run) that fits best, else grows the
 * largest free slot, else opens a new one; the slots are laid end to end,
 * then one scratch as large as the largest layer's. Returns the floats in
 * all, or 0 if out of memory. */
static size_t plan_forward(const ft_model *m, int from, int to, int max_batch, size_t *offset)
{
    int n = to - from;
    size_t b = (size_t)max_batch, total = 0, scratch = 0;
    int *last = malloc(sizeof *last * (size_t)n), *slot = malloc(sizeof *slot * (size_t)n);
    int *busy_until = malloc(sizeof *busy_until * (size_t)n);
    size_t *size = malloc(sizeof *size * (size_t)n);
    if (!last || !slot || !busy_until || !size)
        goto done;
    /* last[i]: the last layer reading layer i (the final output lives to the end). */
    for (int i = 0; i < n; i++)
        last[i] = i == n - 1 ? n : i;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m->layers[from + i].ninputs; j++) {
            int k = m->layers[from + i].inputs[j] - from;
            if (k >= 0 && last[k] < i)
                last[k] = i;
        }
    int nslots = 0;
    for (int i = 0; i < n; i++) {
        size_t need = aligned16(b * ft_shape_size(m->layers[from + i].out));
        int best = -1, largest = -1;
        for (int s = 0; s < nslots; s++) {
            if (busy_until[s] >= i)
                continue;
            if (size[s] >= need && (best < 0 || size[s] < size[best]))
                best = s;
            if (largest < 0 || size[s] > size[largest])
                largest = s;
        }
        if (best < 0 && largest >= 0)
            size[best = largest] = need;
        if (best < 0) {
            best = nslots++;
            size[best] = need;
        }
        slot[i] = best;
        busy_until[best] = last[i];
        size_t s = aligned16(scratch_floats(&m->layers[from + i], max_batch));
        scratch = s > scratch ? s : scratch;
    }
    for (int s = 0; s < nslots; s++) {
        busy_until[s] = (int)(total / 16); /* reused: the slot's offset in units of 16 floats */
        total += size[s];
    }
    for (int i = 0; offset && i < n; i++)
        offset[i] = (size_t)busy_until[slot[i]] * 16;
    total += scratch + 16; /* + 16: never 0 */
done:
    free(last), free(slot), free(busy_until), free(size);
    return total;
}

size_t ft_workspace_infer_floats(const ft_model *m, int from, int to, int max_batch)
{
    size_t n = plan_forward(m, from, to, max_batch, NULL);
    return n ? n : SIZE_MAX;
}

size_t ft_workspace_floats_of(const ft_workspace *ws) { return ws->floats; }

int ft_model_check_trainable(const ft_model *m, int from, ft_error *err)
{
    for (int i = from; i < m->nlayers; i++) {
        const ft_layer *l = &m->layers[i];
        if (!l->kind->backward)
            return ft_fail(err, FT_EINVAL, NULL, "layer '%s' (type %s) cannot train yet", l->name,
                           ft_layer_type_name(l->type));
        if (l->ninputs != 1 || l->inputs[0] != i - 1)
            return ft_fail(err, FT_EINVAL, NULL,
                           "layer '%s' (type %s) cannot train yet: it does not read the layer before it",
                           l->name, ft_layer_type_name(l->type));
    }
    return 0;
}

/* The common part of both kinds: the struct and its pointer arrays, after
 * checking that layers [from, to) read only each other and layer from - 1. */
static ft_workspace *workspace_alloc(const ft_model *m, int from, int to, int max_batch, ft_error *err)
{
    if (from < 0 || to <= from || to > m->nlayers || max_batch < 1) {
        ft_fail(err, FT_EINVAL, NULL, "invalid workspace request");
        return NULL;
    }
    for (int i = from; i < to; i++)
        for (int j = 0; j < m->layers[i].ninputs; j++)
            if (m->layers[i].inputs[j] < from - 1) {
                ft_fail(err, FT_EINVAL, NULL, "layer '%s' reads a layer below layer %d, where this run starts",
                        m->layers[i].name, from);
                return NULL;
            }
    ft_workspace *ws = calloc(1, sizeof *ws);
    if (ws) {
        ws->from = from;
        ws->to = to;
        ws->max_batch = max_batch;
        ws->act = calloc((size_t)m->nlayers, sizeof *ws->act);
        ws->scratch = calloc((size_t)m->nlayers, sizeof *ws->scratch);
    }
    if (!ws || !ws->act || !ws->scratch) {
        ft_workspace_free(ws);
        ft_fail(err, FT_ENOMEM, NULL, "out of memory for a batch of %d", max_batch);
        return NULL;
    }
    return ws;
}

/* The block of `total` floats, bounded to 16 GiB. */
static int block_alloc(ft_workspace *ws, size_t total, ft_error *err)
{
    if (total > ((size_t)1 << 34) / sizeof(float))
        return ft_fail(err, FT_ETOOBIG, "batch_size", "a batch of %d needs more than 16 GiB of activations",
                       ws->max_batch);
    ws->floats = total;
    ws->block = aligned_alloc(64, total * sizeof(float));
    if (!ws->block)
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory for a batch of %d", ws->max_batch);
    return 0;
}

ft_workspace *ft_workspace_new(const ft_model *m, int from, int max_batch, ft_error *err)
{
    int to = m->nlayers;
    ft_workspace *ws = workspace_alloc(m, from, to, max_batch, err);
    int lowest = m->first_trainable > from ? m->first_trainable : from;
    if (!ws || ft_model_check_trainable(m, lowest, err) != 0 ||
        block_alloc(ws, ft_workspace_floats(m, from, to, max_batch), err) != 0) {
        ft_workspace_free(ws);
        return NULL;
    }
    ws->training = true;
    float *p = ws->block;
    size_t b = (size_t)max_batch;
    for (int i = from; i < to; i++) {
        const ft_layer *l = &m->layers[i];
        ws->act[i] = p;
        p += aligned16(b * ft_shape_size(l->out));
        ws->scratch[i] = p;
        p += aligned16(scratch_floats(l, max_batch));
    }
    ws->grad_a = p;
    ws->grad_b = p + (ws->floats - (size_t)(p - ws->block)) / 2;
    return ws;
}

ft_workspace *ft_workspace_new_range(const ft_model *m, int from, int to, int max_batch, ft_error *err)
{
    ft_workspace *ws = workspace_alloc(m, from, to, max_batch, err);
    size_t *offset = ws ? malloc(sizeof *offset * (size_t)(to - from)) : NULL;
    size_t total = offset ? plan_forward(m, from, to, max_batch, offset) : 0;
    if (ws && !total)
        ft_fail(err, FT_ENOMEM, NULL, "out of memory for a batch of %d", max_batch);
    if (!total || block_alloc(ws, total, err) != 0) {
        free(offset);
        ft_workspace_free(ws);
        return NULL;
    }
    float *scratch = ws->block;
    for (int i = from; i < to; i++) {
        ws->act[i] = ws->block + offset[i - from];
        if (ws->act[i] + aligned16((size_t)max_batch * ft_shape_size(m->layers[i].out)) > scratch)
            scratch = ws->act[i] + aligned16((size_t)max_batch * ft_shape_size(m->layers[i].out));
    }
    for (int i = from; i < to; i++)
        ws->scratch[i] = scratch;
    free(offset);
    return ws;
}

void ft_workspace_free(ft_workspace *ws)
{
    if (!ws)
        return;
    free(ws->act);
    free(ws->scratch);
    free(ws->block);
    free(ws);
}

void ft_workspace_set_grads(ft_workspace *ws, float *grads) { ws->grads = grads; }

const float *ft_workspace_output(const ft_workspace *ws, int i)
{
    return ws->training && i >= ws->from && i < ws->to ? ws->act[i] : NULL;
}

const float *ft_model_forward(ft_model *m, ft_workspace *ws, const float *x, int batch, int flags,
                              ft_rng *rng)
{
    ws->x = x;
    ws->batch = batch;
    ws->flags = flags;
    for (int i = ws->from; i < ws->to; i++) {
        const ft_layer *l = &m->layers[i];
        const float *w = m->params + l->param_offset;
        const float *ins[FT_MAX_INPUTS];
        ft_shape shapes[FT_MAX_INPUTS];
        for (int j = 0; j < l->ninputs; j++) {
            int k = l->inputs[j];
            ins[j] = k < ws->from ? x : ws->act[k];
            shapes[j] = k < 0 ? m->input : m->layers[k].out;
        }
        ft_fwd_args a = {
            .in = l->ninputs ? ins[0] : NULL, .ins = ins, .in_shapes = shapes, .out = ws->act[i],
            .batch = batch, .training = (flags & FT_FWD_TRAIN) != 0,
            .logits = (flags & FT_FWD_LOGITS) && i == m->nlayers - 1,
            .rng = rng, .scratch = ws->scratch[i],
            .w = l->nweights ? w : NULL, .b = l->nbias ? w + l->nweights : NULL,
        };
        l->kind->forward(l, &a);
    }
    return ws->act[ws->to - 1];
}

void ft_model_backward(ft_model *m, ft_workspace *ws, float *dout, float *din)
{
    /* a prefix or forward-only workspace cannot go backward */
    assert(ws->training && ws->to == m->nlayers);
    /* Lowest layer to visit: `from` for gradient checks, else the lowest
     * trainable layer that has parameters (nothing below it needs a gradient).
     * ft_workspace_new checked that layers from there on form a chain. */
    int lo = ws->from;
    if (!din) {
        lo = m->first_trainable > ws->from ? m->first_trainable : ws->from;
        while (lo < m->nlayers && m->layers[lo].nweights + m->layers[lo].nbias == 0)
            lo++;
    }
    float *g = dout;
    for (int i = m->nlayers - 1; i >= lo; i--) {
        const ft_layer *l = &m->layers[i];
        float *next = g == ws->grad_a ? ws->grad_b : ws->grad_a;
        float *w = m->params + l->param_offset, *dw = (ws->grads ? ws->grads : m->grads) + l->param_offset;
        bool trainable = i >= m->first_trainable && l->nweights + l->nbias > 0;
        ft_bwd_args a = {
            .in = i == ws->from ? ws->x : ws->act[i - 1],
            .out = ws->act[i], .dout = g,
            .din = i > lo ? next : (i == ws->from ? din : NULL),
            .batch = ws->batch,
            .training = (ws->flags & FT_FWD_TRAIN) != 0,
            .logits = (ws->flags & FT_FWD_LOGITS) && i == m->nlayers - 1,
            .scratch = ws->scratch[i],
            .w = l->nweights ? w : NULL,
            .dw = trainable ? dw : NULL, .db = trainable ? dw + l->nweights : NULL,
        };
        l->kind->backward(l, &a);
        g = next;
    }
}
