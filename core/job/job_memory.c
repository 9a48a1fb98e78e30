/* A job's peak memory estimated from shapes alone (docs/design.md, "Budgets"):
 * the buffers ft_job_run and the trainer allocate, added up without
 * allocating any of them, so a submit can refuse a job that would not fit. */
#include <stdint.h>
#include <string.h>

#include "core/job/spec.h"
#include "core/nn/infer.h"
#include "core/train/batch.h"

/* Saturating arithmetic: an estimate past SIZE_MAX is simply "too much". */
static size_t add(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }

static size_t mul(size_t a, size_t b)
{
    size_t r;
    return ft_mul_size(a, b, &r) == 0 ? r : SIZE_MAX;
}

size_t ft_data_info_bytes(const ft_data_info *d, size_t rows)
{
    size_t x = d->xtype == FT_X_U8 ? 1 : sizeof(float);
    size_t y = d->kind == FT_TARGET_CLASSES ? sizeof(int32_t) : mul(sizeof(float), (size_t)d->target_dim);
    size_t row;
    if (ft_shape_elements(d->shape, &row) != 0)
        return SIZE_MAX;
    return mul(rows, add(mul(row, x), y));
}

/* A separate validation or test set as held: its selected copy beside the whole. */
static size_t set_bytes(const ft_data_info *d, const ft_dataset_ref *ref)
{
    size_t whole = d ? ft_data_info_bytes(d, d->rows) : 0;
    return ref->has_selector ? mul(whole, 2) : whole;
}

size_t ft_job_data_bytes(const ft_job_spec *s, const ft_data_info *train, size_t selected, const ft_data_info *val,
                         const ft_data_info *test)
{
    /* ft_job_run holds the whole training set, its selected copy, and the
     * train/validation copies a split makes, until the end. */
    size_t copies = (s->dataset.has_selector ? 1 : 0) + (s->val_kind == FT_VAL_SPLIT ? 1 : 0);
    size_t data = add(ft_data_info_bytes(train, train->rows), mul(ft_data_info_bytes(train, selected), copies));
    return add(data, add(set_bytes(val, &s->val), set_bytes(test, &s->test)));
}

/* A workspace for layers [from, n) on `rows` rows plus its batch buffers. */
static size_t pass_bytes(const ft_model *m, int from, int rows, size_t in, int units)
{
    size_t ws = mul(ft_workspace_floats(m, from, rows), sizeof(float));
    return add(ws, ft_batch_buffers_bytes(rows, in, units));
}

void ft_job_memory_estimate(const ft_job_shape *j, ft_job_memory *out)
{
    const ft_model *m = j->model;
    const ft_train_config *c = j->train;
    size_t n = ft_model_num_params(m), trainable = n - ft_model_trainable_offset(m), f = sizeof(float);
    size_t shards = c->threads > 1 ? (size_t)c->threads : 1;
    memset(out, 0, sizeof *out);
    out->weights = mul(add(n, j->base ? ft_model_num_params(j->base) : 0), f);
    /* Shard 0 writes into the model's own gradients, every other shard has its own. */
    out->gradients = mul(mul(n, f), shards);
    size_t best = c->early_stopping && c->es_restore_best ? trainable : 0;
    out->optimizer = mul(add(ft_optim_state_floats(&c->optim, trainable), best), f);
    int layers = ft_model_num_layers(m), lo = ft_lowest_trained(m), from = 0;
    /* the cache holds every augmented view of the training rows; augment
     * without views caches the validation rows only, and runs the frozen
     * layers on every batch (a live prefix) */
    size_t copies = (size_t)ft_augment_cache_copies(&c->augment);
    size_t feat = 0, cached_rows = add(mul(j->train_rows, copies), j->val_rows);
    if (lo < layers && ft_cache_decide(m, lo, cached_rows, c->cache_limit_bytes, &from, &feat) != FT_CACHE_ON)
        from = 0;
    else if (lo < layers)
        out->cache = mul(mul(cached_rows, feat), f);
    size_t in = ft_shape_size(ft_model_input_shape(m));
    int units = (int)ft_shape_size(ft_model_output_shape(m));
    int batch = c->batch_size > 0 ? c->batch_size : 1, shard_rows = (int)(((size_t)batch + shards - 1) / shards);
    out->activations = mul(pass_bytes(m, from, shard_rows, from ? feat : in, units), shards);
    if (from && copies == 0) /* each shard's prefix workspace and raw rows */
        out->activations = add(out->activations, mul(add(ft_workspace_infer_floats(m, 0, from, shard_rows),
                                                         mul((size_t)shard_rows, in)), mul(f, shards)));
    /* The final evaluation runs while the trainer still holds its buffers,
     * in a forward-only workspace per shard. */
    if (j->evaluates)
        out->activations = add(out->activations, add(mul(ft_infer_floats(m, 0, layers, FT_EVAL_BATCH, (int)shards), f),
                                                     ft_batch_buffers_bytes(FT_EVAL_BATCH, in, units)));
    out->data = j->data_bytes;
    size_t parts[] = {out->weights, out->gradients, out->optimizer, out->activations, out->cache, out->data};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
        out->total = add(out->total, parts[i]);
}
