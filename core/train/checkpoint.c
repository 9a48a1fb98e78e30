/* Checkpoints: the whole training state in one safetensors file.
 *
 * Tensors: "params" (all weights), "optim_state" (momentum / Adam moments),
 * "best_params" (early stopping's best trainable weights). Everything else
 * (epoch, step, RNG states, running sums, early-stopping state, history)
 * is JSON in __metadata__["checkpoint"]. Doubles are written with 17
 * significant digits, which round-trips exactly, so a resumed run continues
 * from bit-identical state. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/safetensors.h"
#include "core/train/trainer.h"

#define CHECKPOINT_FORMAT "finetuned.checkpoint.v1"

/* JSON cannot hold inf or NaN: those travel as strings. */
static json_t *enc_double(double v)
{
    if (isfinite(v))
        return json_real(v);
    return json_string(isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
}

static double dec_double(const json_t *j)
{
    if (json_is_number(j))
        return json_number_value(j);
    const char *s = json_string_value(j);
    if (s && strcmp(s, "inf") == 0)
        return INFINITY;
    if (s && strcmp(s, "-inf") == 0)
        return -INFINITY;
    return NAN;
}

static json_t *enc_rng(const ft_rng *r)
{
    json_t *a = json_array();
    for (int i = 0; i < 4; i++) {
        char hex[20];
        snprintf(hex, sizeof hex, "%016" PRIx64, r->s[i]);
        json_array_append_new(a, json_string(hex));
    }
    return a;
}

static int dec_rng(const json_t *a, ft_rng *r)
{
    if (json_array_size(a) != 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        char *end;
        if (!s || strlen(s) != 16)
            return -1;
        r->s[i] = strtoull(s, &end, 16);
        if (*end)
            return -1;
    }
    return 0;
}

/* What must match between a checkpoint and the trainer that loads it. */
static json_t *identity(const ft_trainer *tr)
{
    json_t *arch = ft_model_arch_json(tr->m);
    char *arch_s = json_dumps(arch, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(arch);
    json_t *id = json_pack("{s:s, s:i, s:I, s:I, s:i, s:i, s:s, s:s, s:f, s:I, s:i}", "architecture",
                           arch_s ? arch_s : "", "first_trainable", ft_model_first_trainable(tr->m),
                           "params", (json_int_t)ft_model_num_params(tr->m), "train_rows",
                           (json_int_t)ft_dataset_rows(tr->train), "batch_size", tr->cfg.batch_size,
                           "epochs", tr->cfg.epochs, "loss", ft_loss_name(tr->cfg.loss), "optimizer",
                           ft_optim_name(tr->cfg.optim.type), "lr", tr->cfg.optim.lr, "val_rows",
                           (json_int_t)(tr->val ? ft_dataset_rows(tr->val) : 0), "threads", tr->nshards);
    char seed[20];
    snprintf(seed, sizeof seed, "%016" PRIx64, tr->cfg.seed);
    json_object_set_new(id, "seed_hex", json_string(seed));
    free(arch_s);
    json_t *weights = json_null();
    if (tr->loss.class_weight) {
        weights = json_array();
        for (int k = 0; k < ft_dataset_target_dim(tr->train); k++)
            json_array_append_new(weights, json_real(tr->loss.class_weight[k]));
    }
    json_object_set_new(id, "class_weight", weights);
    json_object_set_new(id, "label_smoothing", json_real(tr->cfg.label_smoothing));
    json_object_set_new(id, "grad_clip_norm", json_real(tr->cfg.grad_clip_norm));
    json_object_set_new(id, "lr_schedule", ft_sched_json(&tr->cfg.schedule));
    json_object_set_new(id, "phase", json_integer(tr->cfg.phase));
    if (ft_augment_active(&tr->cfg.augment)) /* absent otherwise: older checkpoints still match */
        json_object_set_new(id, "augment", ft_augment_json(&tr->cfg.augment));
    json_object_set_new(id, "epoch_offset", json_integer(tr->cfg.epoch_offset));
    return id;
}

static json_t *state_json(const ft_trainer *tr)
{
    json_t *hist = json_array();
    for (int e = 0; e < tr->epochs_done; e++) {
        const ft_epoch_metrics *m = &tr->history[e];
        json_t *row = json_pack("{s:i, s:i}", "epoch", m->epoch, "phase", m->phase);
        for (const ft_metric_field *f = ft_epoch_metric_fields; f < ft_epoch_metric_fields + FT_EPOCH_METRIC_COUNT; f++)
            json_object_set_new(row, f->name, enc_double(ft_epoch_metric_get(m, f)));
        json_array_append_new(hist, row);
    }
    const ft_metric_acc *a = &tr->acc;
    json_t *acc = json_pack("{s:o, s:I, s:I, s:I, s:o, s:o, s:I}", "loss_sum", enc_double(a->loss_sum),
                            "rows", (json_int_t)a->rows, "correct", (json_int_t)a->correct, "judged",
                            (json_int_t)a->judged, "abs_sum", enc_double(a->abs_sum), "sq_sum",
                            enc_double(a->sq_sum), "elems", (json_int_t)a->elems);
    uint64_t steps = *ft_optim_steps(tr->opt);
    json_t *dropout = json_array();
    for (int sh = 0; sh < tr->nshards; sh++)
        json_array_append_new(dropout, enc_rng(&tr->shards[sh].dropout_rng));
    return json_pack("{s:s, s:o, s:i, s:I, s:I, s:{s:o, s:o, s:o}, s:o, s:o, s:{s:o, s:i, s:i, s:b, s:b}, s:o, s:o, "
                     "s:{s:o, s:o, s:i, s:i}, s:O}",
                     "format", CHECKPOINT_FORMAT, "identity", identity(tr), "epochs_done",
                     tr->epochs_done, "step", (json_int_t)tr->step, "optim_steps", (json_int_t)steps,
                     "rng", "epoch", enc_rng(&tr->epoch_rng), "shuffle", enc_rng(&tr->shuffle_rng),
                     "dropout", dropout, "acc", acc, "epoch_seconds",
                     enc_double(tr->epoch_seconds), "early", "best", enc_double(tr->best),
                     "best_epoch", tr->best_epoch, "bad_epochs", tr->bad_epochs, "stopped_early",
                     tr->stopped_early, "restored", tr->restored, "history", hist, "seconds",
                     enc_double(tr->seconds), "schedule", "lr", enc_double(tr->sched.lr), "best",
                     enc_double(tr->sched.best), "bad_epochs", tr->sched.bad_epochs, "cooldown_left",
                     tr->sched.cooldown_left, "note", tr->note ? tr->note : json_null());
}

int ft_trainer_save_checkpoint(ft_trainer *tr, const char *path, ft_error *err)
{
    json_t *state = state_json(tr);
    char *meta = state ? json_dumps(state, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(state);
    ft_st_writer *w = ft_st_writer_new();
    int rc = -1;
    if (!meta || !w) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory writing a checkpoint");
        goto done;
    }
    size_t nstate;
    float *ostate = ft_optim_state(tr->opt, &nstate);
    uint64_t pshape[1] = {ft_model_num_params(tr->m)}, oshape[1] = {nstate},
             bshape[1] = {tr->tcount};
    if (ft_st_writer_add(w, "params", FT_ST_F32, 1, pshape, ft_model_params(tr->m), err) != 0 ||
        (nstate && ft_st_writer_add(w, "optim_state", FT_ST_F32, 1, oshape, ostate, err) != 0) ||
        (tr->best_params && ft_st_writer_add(w, "best_params", FT_ST_F32, 1, bshape, tr->best_params, err) != 0) ||
        ft_st_writer_meta(w, "checkpoint", meta, err) != 0)
        goto done;
    rc = ft_st_writer_write(w, path, err);
done:
    free(meta);
    ft_st_writer_free(w);
    return rc;
}

static int load_state(ft_trainer *tr, const json_t *st, ft_error *err)
{
    json_t *mine = identity(tr);
    int same = json_equal(mine, json_object_get(st, "identity"));
    json_decref(mine);
    if (!same)
        return ft_fail(err, FT_EINVAL, NULL,
                       "the checkpoint belongs to a different model, dataset or configuration");
    json_t *rng = json_object_get(st, "rng"), *acc = json_object_get(st, "acc"),
           *early = json_object_get(st, "early"), *hist = json_object_get(st, "history"),
           *sched = json_object_get(st, "schedule");
    json_int_t epochs_done = json_integer_value(json_object_get(st, "epochs_done"));
    json_int_t step = json_integer_value(json_object_get(st, "step"));
    if (epochs_done < 0 || epochs_done > tr->cfg.epochs || step < 0 ||
        dec_rng(json_object_get(rng, "epoch"), &tr->epoch_rng) != 0 ||
        dec_rng(json_object_get(rng, "shuffle"), &tr->shuffle_rng) != 0 ||
        json_array_size(json_object_get(rng, "dropout")) != (size_t)tr->nshards ||
        !json_is_object(acc) || !json_is_object(early) || !json_is_object(sched) ||
        json_array_size(hist) != (size_t)epochs_done)
        return ft_fail(err, FT_EFORMAT, NULL, "the checkpoint's state is incomplete");
    for (int sh = 0; sh < tr->nshards; sh++)
        if (dec_rng(json_array_get(json_object_get(rng, "dropout"), (size_t)sh), &tr->shards[sh].dropout_rng) != 0)
            return ft_fail(err, FT_EFORMAT, NULL, "the checkpoint's state is incomplete");
    tr->epochs_done = (int)epochs_done;
    tr->step = (long)step;
    *ft_optim_steps(tr->opt) = (uint64_t)json_integer_value(json_object_get(st, "optim_steps"));
    tr->acc.loss_sum = dec_double(json_object_get(acc, "loss_sum"));
    tr->acc.rows = (size_t)json_integer_value(json_object_get(acc, "rows"));
    tr->acc.correct = (size_t)json_integer_value(json_object_get(acc, "correct"));
    tr->acc.judged = (size_t)json_integer_value(json_object_get(acc, "judged"));
    tr->acc.abs_sum = dec_double(json_object_get(acc, "abs_sum"));
    tr->acc.sq_sum = dec_double(json_object_get(acc, "sq_sum"));
    tr->acc.elems = (size_t)json_integer_value(json_object_get(acc, "elems"));
    tr->epoch_seconds = dec_double(json_object_get(st, "epoch_seconds"));
    tr->seconds = dec_double(json_object_get(st, "seconds"));
    tr->best = dec_double(json_object_get(early, "best"));
    tr->best_epoch = (int)json_integer_value(json_object_get(early, "best_epoch"));
    tr->bad_epochs = (int)json_integer_value(json_object_get(early, "bad_epochs"));
    tr->stopped_early = json_is_true(json_object_get(early, "stopped_early"));
    tr->restored = json_is_true(json_object_get(early, "restored"));
    tr->sched.lr = dec_double(json_object_get(sched, "lr"));
    tr->sched.best = dec_double(json_object_get(sched, "best"));
    tr->sched.bad_epochs = (int)json_integer_value(json_object_get(sched, "bad_epochs"));
    tr->sched.cooldown_left = (int)json_integer_value(json_object_get(sched, "cooldown_left"));
    for (int e = 0; e < tr->epochs_done; e++) {
        json_t *row = json_array_get(hist, (size_t)e);
        ft_epoch_metrics *m = &tr->history[e];
        m->epoch = (int)json_integer_value(json_object_get(row, "epoch"));
        m->phase = (int)json_integer_value(json_object_get(row, "phase"));
        for (const ft_metric_field *f = ft_epoch_metric_fields; f < ft_epoch_metric_fields + FT_EPOCH_METRIC_COUNT; f++)
            *ft_epoch_metric_slot(m, f) = dec_double(json_object_get(row, f->name));
    }
    tr->order_ready = false; /* regenerate this epoch's permutation from epoch_rng */
    return 0;
}

/* Open a checkpoint and parse its state (*st, a new reference); NULL with
 * err if path is not one. */
static ft_st_file *open_checkpoint(const char *path, json_t **st, ft_error *err)
{
    ft_st_file *f = ft_st_open(path, err);
    if (!f)
        return NULL;
    const char *meta = ft_st_meta(f, "checkpoint");
    json_error_t jerr;
    const char *format = NULL;
    if (meta && (*st = json_loads(meta, 0, &jerr)) && (format = json_string_value(json_object_get(*st, "format"))) &&
        strcmp(format, CHECKPOINT_FORMAT) == 0)
        return f;
    json_decref(*st);
    *st = NULL;
    ft_st_close(f);
    ft_fail(err, FT_EFORMAT, NULL, "%s is not a finetuned checkpoint", path);
    return NULL;
}

json_t *ft_checkpoint_note(const char *path, ft_error *err)
{
    json_t *st = NULL;
    ft_st_file *f = open_checkpoint(path, &st, err);
    if (!f)
        return NULL;
    json_t *note = json_object_get(st, "note");
    note = note ? json_incref(note) : json_null();
    json_decref(st);
    ft_st_close(f);
    return note;
}

int ft_trainer_load_checkpoint(ft_trainer *tr, const char *path, ft_error *err)
{
    json_t *st = NULL;
    ft_st_file *f = open_checkpoint(path, &st, err);
    if (!f)
        return -1;
    int rc = -1;
    size_t nstate;
    float *ostate = ft_optim_state(tr->opt, &nstate);
    uint64_t pshape[1] = {ft_model_num_params(tr->m)}, oshape[1] = {nstate}, bshape[1] = {tr->tcount};
    if (load_state(tr, st, err) != 0 ||
        ft_st_read_f32(f, "params", 1, pshape, ft_model_params(tr->m), err) != 0 ||
        (nstate && ft_st_read_f32(f, "optim_state", 1, oshape, ostate, err) != 0) ||
        (tr->best_params && ft_st_read_f32(f, "best_params", 1, bshape, tr->best_params, err) != 0))
        goto done;
    rc = 0;
done:
    json_decref(st);
    ft_st_close(f);
    return rc;
}
