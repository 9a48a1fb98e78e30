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
    float **grad;      /* grad[i]: d loss / d act[i] (training; shared by liveness) */
    float *grad_temp;  /* a consumer's input gradients before they are added to another's */
    bool *visit;       /* per layer: runs backward (this backward pass) */
    bool *written;     /* per layer: its gradient holds a consumer's contribution */
    float *grads;      /* gradient destination, or NULL for the model's */
    const float *const *prepared; /* prepared[i]: layer i's prepared weights (ft_workspace_set_prepared), or NULL */
    const float *x;    /* input of the last forward */
    int batch;         /* rows of the last forward */
    int flags;         /* flags of the last forward */
    float *block;      /* the single allocation behind all buffers */
    size_t floats;     /* its size */
};

/* Floats of a training workspace's outputs and scratches (every one kept). */
static size_t kept_floats(const ft_model *m, int from, int to, int max_batch)
{
    size_t total = 0, b = (size_t)max_batch;
    for (int i = from; i < to; i++)
        total += ft_aligned16(b * ft_shape_size(m->layers[i].out)) +
                 ft_aligned16(ft_layer_scratch_floats(&m->layers[i], max_batch));
    return total;
}

size_t ft_workspace_floats(const ft_model *m, int from, int max_batch)
{
    size_t temp, grads = ft_plan_backward(m, from, max_batch, NULL, &temp);
    return grads == SIZE_MAX ? SIZE_MAX : kept_floats(m, from, m->nlayers, max_batch) + grads + temp;
}

size_t ft_workspace_infer_floats(const ft_model *m, int from, int to, int max_batch)
{
    return ft_plan_forward(m, from, to, max_batch, NULL);
}

size_t ft_workspace_floats_of(const ft_workspace *ws) { return ws->floats; }

int ft_model_check_trainable(const ft_model *m, int from, ft_error *err)
{
    for (int i = from; i < m->nlayers; i++) {
        const ft_layer *l = &m->layers[i];
        if (!l->kind->backward)
            return ft_fail(err, FT_EINVAL, NULL, "layer '%s' (type %s) cannot train", l->name,
                           ft_layer_type_name(l->type));
    }
    return 0;
}

int ft_model_split_below(const ft_model *m, int upto)
{
    /* lowest: the lowest layer read by layers [f, n), scanning f down */
    int lowest = m->nlayers;
    for (int f = m->nlayers - 1; f >= 1; f--) {
        for (int j = 0; j < m->layers[f].ninputs; j++)
            lowest = m->layers[f].inputs[j] < lowest ? m->layers[f].inputs[j] : lowest;
        if (f <= upto && lowest >= f - 1)
            return f;
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
        ws->grad = calloc((size_t)m->nlayers, sizeof *ws->grad);
        ws->visit = calloc((size_t)m->nlayers, sizeof *ws->visit);
        ws->written = calloc((size_t)m->nlayers, sizeof *ws->written);
    }
    if (!ws || !ws->act || !ws->scratch || !ws->grad || !ws->visit || !ws->written) {
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
    int to = m->nlayers, n = to - from;
    ft_workspace *ws = workspace_alloc(m, from, to, max_batch, err);
    int lowest = m->first_trainable > from ? m->first_trainable : from;
    size_t *offset = ws ? malloc(sizeof *offset * (size_t)n) : NULL, temp = 0;
    size_t grads = offset ? ft_plan_backward(m, from, max_batch, offset, &temp) : SIZE_MAX;
    if (ws && grads == SIZE_MAX)
        ft_fail(err, FT_ENOMEM, NULL, "out of memory for a batch of %d", max_batch);
    if (grads == SIZE_MAX || ft_model_check_trainable(m, lowest, err) != 0 ||
        block_alloc(ws, kept_floats(m, from, to, max_batch) + grads + temp, err) != 0) {
        free(offset);
        ft_workspace_free(ws);
        return NULL;
    }
    ws->training = true;
    float *p = ws->block;
    size_t b = (size_t)max_batch;
    for (int i = from; i < to; i++) {
        const ft_layer *l = &m->layers[i];
        ws->act[i] = p;
        p += ft_aligned16(b * ft_shape_size(l->out));
        ws->scratch[i] = p;
        p += ft_aligned16(ft_layer_scratch_floats(l, max_batch));
    }
    for (int i = from; i < to - 1; i++)
        ws->grad[i] = p + offset[i - from];
    ws->grad_temp = p + grads;
    free(offset);
    return ws;
}

ft_workspace *ft_workspace_new_range(const ft_model *m, int from, int to, int max_batch, ft_error *err)
{
    ft_workspace *ws = workspace_alloc(m, from, to, max_batch, err);
    size_t *offset = ws ? malloc(sizeof *offset * (size_t)(to - from)) : NULL;
    size_t total = offset ? ft_plan_forward(m, from, to, max_batch, offset) : SIZE_MAX;
    if (ws && total == SIZE_MAX)
        ft_fail(err, FT_ENOMEM, NULL, "out of memory for a batch of %d", max_batch);
    if (total == SIZE_MAX || block_alloc(ws, total, err) != 0) {
        free(offset);
        ft_workspace_free(ws);
        return NULL;
    }
    float *scratch = ws->block;
    for (int i = from; i < to; i++) {
        ws->act[i] = ws->block + offset[i - from];
        if (ws->act[i] + ft_aligned16((size_t)max_batch * ft_shape_size(m->layers[i].out)) > scratch)
            scratch = ws->act[i] + ft_aligned16((size_t)max_batch * ft_shape_size(m->layers[i].out));
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
    free(ws->grad);
    free(ws->visit);
    free(ws->written);
    free(ws->block);
    free(ws);
}

void ft_workspace_set_grads(ft_workspace *ws, float *grads) { ws->grads = grads; }

void ft_workspace_set_prepared(ft_workspace *ws, const float *const *prepared) { ws->prepared = prepared; }

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
            .logits = (flags & FT_FWD_LOGITS) && i == m->nlayers - 1, .forward_only = !ws->training,
            .prepared = ws->prepared ? ws->prepared[i] : NULL,
            .rng = rng, .scratch = ws->scratch[i],
            .w = l->nweights ? w : NULL, .b = l->nbias ? w + l->nweights : NULL,
        };
        l->kind->forward(l, &a);
    }
    return ws->act[ws->to - 1];
}

/* Mark the layers backward visits: with din (gradient checks) every one
 * that has a backward (not a constant); else a trainable layer with
 * parameters, or one above first_trainable whose input needs a gradient. */
static void mark_visits(const ft_model *m, ft_workspace *ws, bool all)
{
    for (int i = ws->from; i < m->nlayers; i++) {
        const ft_layer *l = &m->layers[i];
        bool v = all ? l->kind->backward != NULL : i >= m->first_trainable && l->nweights + l->nbias > 0;
        for (int j = 0; !v && i >= m->first_trainable && j < l->ninputs; j++)
            v = l->inputs[j] >= ws->from && ws->visit[l->inputs[j]];
        ws->visit[i] = v;
        ws->written[i] = false;
    }
}

void ft_model_backward(ft_model *m, ft_workspace *ws, float *dout, float *din)
{
    /* a prefix or forward-only workspace cannot go backward */
    assert(ws->training && ws->to == m->nlayers);
    /* Gradients flow from each layer to the inputs that need one; a layer
     * read by several (a residual branch) sums what its readers give it:
     * the first writes its gradient buffer, the others write grad_temp,
     * added in after. Nothing below the lowest layer that needs a gradient
     * is visited. */
    mark_visits(m, ws, din != NULL);
    bool x_written = false;
    size_t b = (size_t)ws->batch;
    for (int i = m->nlayers - 1; i >= ws->from; i--) {
        const ft_layer *l = &m->layers[i];
        if (!ws->visit[i])
            continue;
        float *g = i == m->nlayers - 1 ? dout : ws->grad[i];
        if (!ws->written[i] && g != dout) /* nothing reads this layer: no gradient reaches it */
            memset(g, 0, sizeof(float) * b * ft_shape_size(l->out));
        const float *ins[FT_MAX_INPUTS];
        ft_shape shapes[FT_MAX_INPUTS];
        float *dins[FT_MAX_INPUTS], *sum_into[FT_MAX_INPUTS], *temp = ws->grad_temp;
        for (int j = 0; j < l->ninputs; j++) {
            int k = l->inputs[j];
            ins[j] = k < ws->from ? ws->x : ws->act[k];
            shapes[j] = k < 0 ? m->input : m->layers[k].out;
            float *dest = k < ws->from ? din : ws->visit[k] ? ws->grad[k] : NULL;
            bool *done = k < ws->from ? &x_written : &ws->written[k];
            dins[j] = dest;
            sum_into[j] = NULL;
            if (dest && *done) {
                dins[j] = temp;
                sum_into[j] = dest;
                temp += ft_aligned16(b * ft_shape_size(shapes[j]));
            }
            *done = *done || dest != NULL;
        }
        float *w = m->params + l->param_offset, *dw = (ws->grads ? ws->grads : m->grads) + l->param_offset;
        bool trainable = i >= m->first_trainable && l->nweights + l->nbias > 0;
        ft_bwd_args a = {
            .in = l->ninputs ? ins[0] : NULL, .ins = ins, .in_shapes = shapes,
            .out = ws->act[i], .dout = g,
            .din = l->ninputs ? dins[0] : NULL, .dins = dins,
            .batch = ws->batch,
            .training = (ws->flags & FT_FWD_TRAIN) != 0,
            .logits = (ws->flags & FT_FWD_LOGITS) && i == m->nlayers - 1,
            .scratch = ws->scratch[i],
            .w = l->nweights ? w : NULL,
            .dw = trainable ? dw : NULL, .db = trainable && l->nbias ? dw + l->nweights : NULL,
        };
        l->kind->backward(l, &a);
        for (int j = 0; j < l->ninputs; j++)
            if (sum_into[j])
                ft_vec_add(sum_into[j], dins[j], b * ft_shape_size(shapes[j]));
    }
}
