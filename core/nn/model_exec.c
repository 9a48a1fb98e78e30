/* Forward and backward passes over preallocated workspaces. Nothing here
 * allocates: every buffer is sized once by ft_workspace_new. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn/model_internal.h"

struct ft_workspace {
    int from;          /* first layer this workspace runs */
    int to;            /* one past the last */
    int max_batch;     /* rows the buffers hold */
    int nlayers;
    float **act;       /* act[i]: output of layer i, i >= from */
    float **scratch;   /* scratch[i]: layer i's scratch */
    float *grad_a;     /* ping-pong gradient buffers, each the largest */
    float *grad_b;     /* activation of the run layers (or their input) */
    float *grads;      /* gradient destination, or NULL for the model's */
    const float *x;    /* input of the last forward */
    int batch;         /* rows of the last forward */
    int flags;         /* flags of the last forward */
    float *block;      /* the single allocation behind all buffers */
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

ft_workspace *ft_workspace_new(const ft_model *m, int from, int max_batch, ft_error *err)
{
    return ft_workspace_new_range(m, from, m->nlayers, max_batch, err);
}

ft_workspace *ft_workspace_new_range(const ft_model *m, int from, int to, int max_batch, ft_error *err)
{
    if (from < 0 || to <= from || to > m->nlayers || max_batch < 1) {
        ft_fail(err, FT_EINVAL, NULL, "invalid workspace request");
        return NULL;
    }
    ft_workspace *ws = calloc(1, sizeof *ws);
    if (!ws)
        goto oom;
    ws->from = from;
    ws->to = to;
    ws->max_batch = max_batch;
    ws->nlayers = m->nlayers;
    ws->act = calloc((size_t)m->nlayers, sizeof *ws->act);
    ws->scratch = calloc((size_t)m->nlayers, sizeof *ws->scratch);
    if (!ws->act || !ws->scratch)
        goto oom;
    size_t total = ft_workspace_floats(m, from, to, max_batch), b = (size_t)max_batch;
    if (total > ((size_t)1 << 34) / sizeof(float)) {
        ft_workspace_free(ws);
        ft_fail(err, FT_ETOOBIG, "batch_size", "a batch of %d needs more than 16 GiB of activations",
                max_batch);
        return NULL;
    }
    ws->block = aligned_alloc(64, total * sizeof(float));
    if (!ws->block)
        goto oom;
    float *p = ws->block;
    for (int i = from; i < to; i++) {
        const ft_layer *l = &m->layers[i];
        ws->act[i] = p;
        p += aligned16(b * ft_shape_size(l->out));
        ws->scratch[i] = p;
        p += aligned16(scratch_floats(l, max_batch));
    }
    ws->grad_a = p;
    ws->grad_b = p + (total - (size_t)(p - ws->block)) / 2;
    return ws;
oom:
    ft_workspace_free(ws);
    ft_fail(err, FT_ENOMEM, NULL, "out of memory for a batch of %d", max_batch);
    return NULL;
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
    return i >= ws->from && i < ws->to ? ws->act[i] : NULL;
}

const float *ft_model_forward(ft_model *m, ft_workspace *ws, const float *x, int batch, int flags,
                              ft_rng *rng)
{
    ws->x = x;
    ws->batch = batch;
    ws->flags = flags;
    const float *in = x;
    for (int i = ws->from; i < ws->to; i++) {
        const ft_layer *l = &m->layers[i];
        const float *w = m->params + l->param_offset;
        ft_fwd_args a = {
            .in = in, .out = ws->act[i], .batch = batch,
            .training = (flags & FT_FWD_TRAIN) != 0,
            .logits = (flags & FT_FWD_LOGITS) && i == m->nlayers - 1,
            .rng = rng, .scratch = ws->scratch[i],
            .w = l->nweights ? w : NULL, .b = l->nbias ? w + l->nweights : NULL,
        };
        l->kind->forward(l, &a);
        in = ws->act[i];
    }
    return in;
}

void ft_model_backward(ft_model *m, ft_workspace *ws, float *dout, float *din)
{
    assert(ws->to == m->nlayers); /* a prefix workspace is forward-only */
    /* Lowest layer to visit: `from` for gradient checks, else the lowest
     * trainable layer that has parameters (nothing below it needs a gradient). */
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
