/* Forward-only runs split over threads by rows (see infer.h): a fork-join
 * pool (core/util/pool.c), one forward-only workspace per thread, the
 * layers' prepared weights (Winograd's transformed kernels) made once and
 * read by every thread, and with several threads one output buffer the
 * slices' outputs are copied into, each by its own thread. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn/infer.h"
#include "core/nn/model_internal.h"
#include "core/util/pool.h"

struct ft_infer {
    int threads;          /* slices per run */
    int max_batch;        /* rows a run takes */
    size_t in_size;       /* floats per input row */
    size_t out_size;      /* floats per output row */
    ft_pool *pool;        /* runs the slices */
    ft_workspace **ws;    /* threads workspaces of ceil(max_batch / threads) rows */
    float *out;           /* max_batch output rows (threads > 1) */
    const float **prepared; /* per layer of the model: its prepared weights in `block`, or NULL */
    float *block;         /* every layer's prepared weights */
    /* the current run */
    ft_model *m;
    const float *x;
    int batch, flags;
    const float *y;       /* its output */
};

/* Rows per slice for max_batch rows over threads. */
static int slice_rows(int max_batch, int threads) { return (max_batch + threads - 1) / threads; }

/* Floats of layer l's prepared weights (0: none). */
static size_t prepared_floats(const ft_layer *l)
{
    return l->kind->prepared_floats ? ft_aligned16(l->kind->prepared_floats(l)) : 0;
}

/* Floats of the prepared weights of layers [from, to) (SIZE_MAX past size_t). */
static size_t all_prepared_floats(const ft_model *m, int from, int to)
{
    size_t total = 0;
    for (int i = from; i < to; i++) {
        size_t n = prepared_floats(&m->layers[i]);
        if (total > SIZE_MAX - n)
            return SIZE_MAX;
        total += n;
    }
    return total;
}

size_t ft_infer_floats(const ft_model *m, int from, int to, int max_batch, int threads)
{
    size_t ws = ft_workspace_infer_floats(m, from, to, slice_rows(max_batch, threads)), all, out = 0;
    size_t prepared = all_prepared_floats(m, from, to);
    if (ws == SIZE_MAX || prepared == SIZE_MAX || ft_mul_size(ws, (size_t)threads, &all) != 0)
        return SIZE_MAX;
    if (threads > 1 && ft_mul_size((size_t)max_batch, ft_shape_size(m->layers[to - 1].out), &out) != 0)
        return SIZE_MAX;
    return all > SIZE_MAX - out - prepared ? SIZE_MAX : all + out + prepared;
}

/* Make every layer's prepared weights in one block (0, or -1 out of memory). */
static int prepare_weights(ft_infer *r, const ft_model *m, int from, int to)
{
    size_t total = all_prepared_floats(m, from, to);
    r->prepared = calloc((size_t)m->nlayers, sizeof *r->prepared);
    if (!r->prepared || total == SIZE_MAX || total > SIZE_MAX / sizeof(float) ||
        (total && !(r->block = malloc(total * sizeof(float)))))
        return -1;
    float *p = r->block;
    for (int i = from; i < to; i++) {
        const ft_layer *l = &m->layers[i];
        size_t n = prepared_floats(l);
        if (n == 0)
            continue;
        if (l->kind->prepare(l, m->params + l->param_offset, p) != 0)
            return -1;
        r->prepared[i] = p;
        p += n;
    }
    return 0;
}

ft_infer *ft_infer_new(const ft_model *m, int from, int to, int max_batch, int threads, ft_error *err)
{
    if (threads < 1 || threads > 256 || max_batch < 1 || from < 0 || to <= from || to > m->nlayers) {
        ft_fail(err, FT_EINVAL, NULL, "invalid inference request (%d threads, batch %d)", threads, max_batch);
        return NULL;
    }
    ft_infer *r = calloc(1, sizeof *r);
    if (!r || !(r->ws = calloc((size_t)threads, sizeof *r->ws))) {
        free(r);
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    r->threads = threads;
    r->max_batch = max_batch;
    r->in_size = ft_shape_size(from ? m->layers[from - 1].out : m->input);
    r->out_size = ft_shape_size(m->layers[to - 1].out);
    size_t out_floats;
    if (threads > 1 && (ft_mul_size((size_t)max_batch, r->out_size, &out_floats) != 0 ||
                        !(r->out = malloc(out_floats * sizeof *r->out)))) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory for a batch of %d", max_batch);
        ft_infer_free(r);
        return NULL;
    }
    if (prepare_weights(r, m, from, to) != 0) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory for the model's transformed kernels");
        ft_infer_free(r);
        return NULL;
    }
    for (int s = 0; s < threads; s++) {
        if (!(r->ws[s] = ft_workspace_new_range(m, from, to, slice_rows(max_batch, threads), err))) {
            ft_infer_free(r);
            return NULL;
        }
        ft_workspace_set_prepared(r->ws[s], r->prepared);
    }
    if (!(r->pool = ft_pool_new(threads, err))) {
        ft_infer_free(r);
        return NULL;
    }
    return r;
}

void ft_infer_free(ft_infer *r)
{
    if (!r)
        return;
    ft_pool_free(r->pool);
    for (int s = 0; s < r->threads; s++)
        ft_workspace_free(r->ws[s]);
    free(r->ws);
    free(r->out);
    free(r->prepared);
    free(r->block);
    free(r);
}

/* Slice s: rows [batch * s / T, batch * (s + 1) / T), as even as they come. */
static void run_slice(void *ctx, int s)
{
    ft_infer *r = ctx;
    size_t T = (size_t)r->threads, b = (size_t)r->batch;
    size_t begin = b * (size_t)s / T, end = b * (size_t)(s + 1) / T;
    if (end == begin)
        return;
    const float *y = ft_model_forward(r->m, r->ws[s], r->x + begin * r->in_size, (int)(end - begin), r->flags, NULL);
    if (r->threads == 1)
        r->y = y;
    else
        memcpy(r->out + begin * r->out_size, y, sizeof(float) * (end - begin) * r->out_size);
}

const float *ft_infer_run(ft_infer *r, ft_model *m, const float *x, int batch, int flags)
{
    r->m = m;
    r->x = x;
    r->batch = batch;
    r->flags = flags & ~FT_FWD_TRAIN;
    r->y = r->out;
    ft_pool_run(r->pool, run_slice, r);
    return r->y;
}
