/* The training loop: learning, determinism, checkpoint/resume bit-identity,
 * early stopping, divergence, regression metrics (the frozen-prefix cache:
 * test_feature_cache.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/train/batch.h"
#include "core/train/train.h"
#include "tests/unit/fixtures_util.h"
#include "tests/unit/test.h"

static const char *CNN =
    "{\"input\": [1, 8, 8], \"layers\": ["
    "{\"name\": \"conv1\", \"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"padding\": 1, \"activation\": \"relu\"},"
    "{\"type\": \"maxpool2d\", \"size\": 2}, {\"type\": \"flatten\"},"
    "{\"name\": \"hidden\", \"type\": \"dense\", \"units\": 16, \"activation\": \"relu\"},"
    "{\"type\": \"dropout\", \"rate\": 0.2},"
    "{\"name\": \"out\", \"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}]}";

static ft_train_config config(ft_optim_type opt, int epochs)
{
    ft_train_config c = {.loss = FT_LOSS_CROSS_ENTROPY, .batch_size = 16, .epochs = epochs, .seed = 4,
                         .optim = {.type = opt, .lr = opt == FT_OPT_SGD ? 0.05 : 0.01, .momentum = 0.9,
                                   .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8}};
    return c;
}

static void test_learns(void)
{
    ft_dataset *train = blobs_dataset(300, 3, 1), *test = blobs_dataset(90, 3, 2);
    ft_model *m = init_model(CNN, 77);
    ft_preproc pp;
    ft_preproc_init(&pp, train);
    ft_error err = {0};
    ft_train_config c = config(FT_OPT_SGD, 5);
    ft_trainer *tr = ft_trainer_new(m, train, test, &pp, &c, &err);
    CHECK(ft_trainer_run(tr, NULL, &err) == 0);
    const ft_epoch_metrics *h = ft_trainer_history(tr);
    CHECK(ft_trainer_epochs_done(tr) == 5);
    CHECKF(h[4].train_loss < h[0].train_loss, "loss %g -> %g", h[0].train_loss, h[4].train_loss);
    CHECKF(h[4].val_accuracy > 0.9, "val accuracy %g", h[4].val_accuracy);
    CHECK(h[4].samples_per_second > 0 && isnan(h[4].val_mae));
    ft_eval_result r;
    CHECK(ft_evaluate(m, test, &pp, FT_LOSS_CROSS_ENTROPY, 1, 32, 1, &r, &err) == 0);
    CHECK_CLOSE(r.accuracy, h[4].val_accuracy, 1e-9, 1e-9);
    uint64_t total = 0, diag = 0;
    for (int i = 0; i < 9; i++)
        total += r.confusion[i];
    for (int i = 0; i < 3; i++)
        diag += r.confusion[i * 4];
    CHECK(total == 90 && (double)diag / 90 == r.accuracy);
    /* each batch split over 3 threads (30 rows each): the same metrics and matrix */
    ft_eval_result r3;
    CHECK(ft_evaluate(m, test, &pp, FT_LOSS_CROSS_ENTROPY, 1, 90, 3, &r3, &err) == 0);
    CHECK_CLOSE(r3.loss, r.loss, 1e-5, 1e-9);
    CHECK(r3.accuracy == r.accuracy && memcmp(r3.confusion, r.confusion, 9 * sizeof *r.confusion) == 0);
    ft_eval_result_free(&r3);
    ft_eval_result_free(&r);
    ft_trainer_free(tr);
    ft_model_free(m);
    ft_dataset_free(train);
    ft_dataset_free(test);
}

/* Train from scratch and return the saved model bytes. */
static unsigned char *train_bytes(ft_optim_type opt, size_t *len)
{
    ft_dataset *ds = blobs_dataset(100, 3, 1), *val = blobs_dataset(30, 3, 3);
    ft_model *m = init_model(CNN, 77);
    ft_preproc pp;
    ft_preproc_init(&pp, ds);
    ft_error err = {0};
    ft_train_config c = config(opt, 3);
    ft_trainer *tr = ft_trainer_new(m, ds, val, &pp, &c, &err);
    ft_trainer_run(tr, NULL, &err);
    unsigned char *buf = NULL;
    ft_model_save_mem(m, &buf, len, &err);
    ft_trainer_free(tr);
    ft_model_free(m);
    ft_dataset_free(ds);
    ft_dataset_free(val);
    return buf;
}

static void test_deterministic(void)
{
    size_t a_len, b_len;
    unsigned char *a = train_bytes(FT_OPT_ADAM, &a_len), *b = train_bytes(FT_OPT_ADAM, &b_len);
    CHECK(a && b && a_len == b_len && memcmp(a, b, a_len) == 0);
    free(a);
    free(b);
}

typedef struct {
    long stop_epoch, stop_step; /* checkpoint and cancel here */
    const char *path;
    bool saved;
} interrupt_ctx;

static int interrupt_step(void *ctx, ft_trainer *tr, const ft_progress *p)
{
    interrupt_ctx *c = ctx;
    if (p->epoch == c->stop_epoch && p->step == c->stop_step) {
        ft_error err = {0};
        c->saved = ft_trainer_save_checkpoint(tr, c->path, &err) == 0;
        return 1;
    }
    return 0;
}

static int interrupt_epoch(void *ctx, ft_trainer *tr, const ft_epoch_metrics *m)
{
    interrupt_ctx *c = ctx;
    if (c->stop_step == 0 && m->epoch == c->stop_epoch) {
        ft_error err = {0};
        c->saved = ft_trainer_save_checkpoint(tr, c->path, &err) == 0;
        return 1;
    }
    return 0;
}

/* Run a full training, and one interrupted at (epoch, step) then resumed in
 * a new trainer; the final models must be byte-identical. tweak, if not
 * NULL, sets more options of the config. */
static void resume_case(ft_optim_type opt, long epoch, long step, int threads, void (*tweak)(ft_train_config *))
{
    ft_dataset *ds = blobs_dataset(100, 3, 1), *val = blobs_dataset(30, 3, 3);
    ft_preproc pp;
    ft_preproc_init(&pp, ds);
    ft_error err = {0};
    ft_train_config c = config(opt, 4);
    c.threads = threads;
    c.early_stopping = true;
    snprintf(c.es_metric, sizeof c.es_metric, "val_loss");
    c.es_patience = 10;
    c.es_restore_best = true;
    if (tweak)
        tweak(&c);

    ft_model *whole = init_model(CNN, 77);
    ft_trainer *t1 = ft_trainer_new(whole, ds, val, &pp, &c, &err);
    CHECK(ft_trainer_run(t1, NULL, &err) == 0);

    char path[] = "/tmp/ft_ckpt_XXXXXX";
    close(mkstemp(path));
    interrupt_ctx ic = {epoch, step, path, false};
    ft_train_hooks hooks = {.ctx = &ic, .on_step = interrupt_step, .on_epoch = interrupt_epoch};
    ft_model *part = init_model(CNN, 77);
    ft_trainer *t2 = ft_trainer_new(part, ds, val, &pp, &c, &err);
    CHECK(ft_trainer_run(t2, &hooks, &err) == -1 && err.code == FT_ECANCELLED && ic.saved);
    ft_trainer_free(t2);
    ft_model_free(part);

    ft_model *resumed = init_model(CNN, 77);
    ft_trainer *t3 = ft_trainer_new(resumed, ds, val, &pp, &c, &err);
    CHECKF(ft_trainer_load_checkpoint(t3, path, &err) == 0, "%s", err.msg);
    CHECK(ft_trainer_run(t3, NULL, &err) == 0);
    CHECKF(memcmp(ft_model_params(whole), ft_model_params(resumed), ft_model_num_params(whole) * sizeof(float)) == 0,
           "%s resumed at epoch %ld step %ld differs", ft_optim_name(opt), epoch, step);
    CHECK(ft_trainer_epochs_done(t3) == 4);
    CHECK(ft_trainer_history(t3)[3].val_loss == ft_trainer_history(t1)[3].val_loss);
    CHECK(ft_trainer_history(t3)[1].train_loss == ft_trainer_history(t1)[1].train_loss);
    for (int e = 0; e < 4; e++)
        CHECKF(ft_trainer_history(t3)[e].lr == ft_trainer_history(t1)[e].lr, "lr of epoch %d", e + 1);
    ft_trainer_free(t1);
    ft_trainer_free(t3);
    ft_model_free(whole);
    ft_model_free(resumed);
    unlink(path);
    ft_dataset_free(ds);
    ft_dataset_free(val);
}

static void test_resume_bit_identical(void)
{
    resume_case(FT_OPT_SGD, 2, 3, 1, NULL);  /* mid-epoch */
    resume_case(FT_OPT_ADAM, 1, 0, 1, NULL); /* at an epoch boundary */
    resume_case(FT_OPT_ADAMW, 3, 7, 1, NULL);/* last step of an epoch */
    resume_case(FT_OPT_SGD, 2, 5, 2, NULL);  /* two data-parallel threads */
    resume_case(FT_OPT_ADAM, 3, 0, 3, NULL);
}

static const float class_weight[3] = {2.0f, 0.5f, 1.25f};

/* Every training option of issue 13 on: cosine warmup, class weights, label smoothing, clipping. */
static void with_cosine(ft_train_config *c)
{
    c->schedule = (ft_lr_schedule){.type = FT_SCHED_COSINE, .warmup_epochs = 1, .min_lr = 0.001};
    c->class_weight = class_weight;
    c->label_smoothing = 0.1;
    c->grad_clip_norm = 0.5;
}

/* reduce_on_plateau on val_accuracy with no patience: the blobs are soon
 * all classified right, and the lr halves after each epoch from then on. */
static void with_plateau(ft_train_config *c)
{
    c->schedule = (ft_lr_schedule){.type = FT_SCHED_PLATEAU, .metric = "val_accuracy", .patience = 0, .factor = 0.5,
                                   .threshold = 1e-4};
    c->class_weight = class_weight;
}

static void test_resume_with_schedules(void)
{
    resume_case(FT_OPT_SGD, 2, 3, 1, with_cosine);
    resume_case(FT_OPT_SGD, 4, 2, 2, with_plateau); /* after a reduction, mid-epoch, two threads */
    resume_case(FT_OPT_ADAM, 3, 0, 1, with_plateau); /* right after a reduction */
}

/* The lr of each epoch follows the schedule, reductions included, and is in
 * the epoch metrics. */
static void test_schedule_sets_the_lr(void)
{
    ft_dataset *ds = blobs_dataset(100, 3, 1), *val = blobs_dataset(30, 3, 3);
    ft_preproc pp;
    ft_preproc_init(&pp, ds);
    ft_error err = {0};
    ft_train_config c = config(FT_OPT_SGD, 4);
    with_plateau(&c);
    ft_model *m = init_model(CNN, 77);
    ft_trainer *tr = ft_trainer_new(m, ds, val, &pp, &c, &err);
    CHECK(ft_trainer_run(tr, NULL, &err) == 0);
    const ft_epoch_metrics *h = ft_trainer_history(tr);
    /* ReduceLROnPlateau's rule (mode max), replayed on the recorded val_accuracy */
    double lr = 0.05, best = -INFINITY;
    for (int e = 0; e < 4; e++) {
        CHECKF(h[e].lr == lr, "epoch %d: lr %g, want %g", e + 1, h[e].lr, lr);
        if (h[e].val_accuracy > best * (1 + 1e-4))
            best = h[e].val_accuracy;
        else
            lr *= 0.5;
    }
    CHECKF(h[3].lr < h[0].lr, "no reduction: lr %g", h[3].lr);
    ft_trainer_free(tr);
    ft_model_free(m);
    ft_dataset_free(ds);
    ft_dataset_free(val);
}

static void test_checkpoint_mismatch(void)
{
    ft_dataset *ds = blobs_dataset(50, 3, 1);
    ft_preproc pp;
    ft_preproc_init(&pp, ds);
    ft_error err = {0};
    ft_train_config c = config(FT_OPT_SGD, 2);
    ft_model *m = init_model(CNN, 77);
    ft_trainer *t = ft_trainer_new(m, ds, NULL, &pp, &c, &err);
    char path[] = "/tmp/ft_ckpt_XXXXXX";
    close(mkstemp(path));
    CHECK(ft_trainer_save_checkpoint(t, path, &err) == 0);
    ft_train_config other = config(FT_OPT_SGD, 2);
    other.batch_size = 8;
    ft_trainer *t2 = ft_trainer_new(m, ds, NULL, &pp, &other, &err);
    CHECK(ft_trainer_load_checkpoint(t2, path, &err) == -1 && strstr(err.msg, "different"));
    /* a model file is not a checkpoint */
    ft_model_save(m, path, &err);
    CHECK(ft_trainer_load_checkpoint(t, path, &err) == -1 && strstr(err.msg, "not a finetuned checkpoint"));
    unlink(path);
    ft_trainer_free(t);
    ft_trainer_free(t2);
    ft_model_free(m);
    ft_dataset_free(ds);
}

static int last_progress(void *ctx, ft_trainer *tr, const ft_progress *p)
{
    (void)tr;
    *(ft_progress *)ctx = *p;
    return 0;
}

/* A later phase of a job: its epochs numbered after the earlier phases',
 * its phase in every row, progress over the whole job, and the caller's
 * note (the earlier phases' rows) kept in its checkpoints. */
static void test_phase_numbering_and_note(void)
{
    ft_dataset *ds = blobs_dataset(50, 3, 1);
    ft_preproc pp;
    ft_preproc_init(&pp, ds);
    ft_error err = {0};
    ft_train_config c = config(FT_OPT_SGD, 2);
    c.phase = 2, c.epoch_offset = 3, c.epochs_total = 7;
    ft_model *m = init_model(CNN, 77);
    ft_trainer *t = ft_trainer_new(m, ds, NULL, &pp, &c, &err);
    ft_progress last = {0};
    ft_train_hooks hooks = {.ctx = &last, .on_step = last_progress};
    CHECK(t && ft_trainer_run(t, &hooks, &err) == 0 && ft_trainer_epochs_done(t) == 2);
    const ft_epoch_metrics *h = ft_trainer_history(t);
    CHECK(h[0].epoch == 4 && h[1].epoch == 5 && h[0].phase == 2 && h[1].phase == 2);
    CHECKF(last.epoch == 5 && last.epochs == 7, "progress %d of %d", last.epoch, last.epochs);
    json_t *row = ft_epoch_metrics_json(&h[1]);
    CHECK(json_integer_value(json_object_get(row, "phase")) == 2 && json_integer_value(json_object_get(row, "epoch")) == 5);
    json_decref(row);
    char path[] = "/tmp/ft_ckpt_XXXXXX";
    close(mkstemp(path));
    CHECK(ft_trainer_save_checkpoint(t, path, &err) == 0);
    json_t *note = ft_checkpoint_note(path, &err);
    CHECK(json_is_null(note)); /* none set */
    json_decref(note);
    ft_trainer_set_note(t, json_pack("{s:i, s:[{s:i}]}", "phase", 2, "history", "epoch", 1));
    CHECK(ft_trainer_save_checkpoint(t, path, &err) == 0);
    note = ft_checkpoint_note(path, &err);
    json_t *want = json_pack("{s:i, s:[{s:i}]}", "phase", 2, "history", "epoch", 1);
    CHECK(note && json_equal(note, want));
    json_decref(note);
    json_decref(want);
    /* the same trainer's rows come back; another phase's trainer is refused */
    ft_trainer *same = ft_trainer_new(m, ds, NULL, &pp, &c, &err);
    CHECK(ft_trainer_load_checkpoint(same, path, &err) == 0 && ft_trainer_history(same)[1].phase == 2 &&
          ft_trainer_history(same)[1].epoch == 5);
    ft_train_config first = c;
    first.phase = 1;
    ft_trainer *other = ft_trainer_new(m, ds, NULL, &pp, &first, &err);
    CHECK(ft_trainer_load_checkpoint(other, path, &err) == -1 && strstr(err.msg, "different"));
    ft_model_save(m, path, &err);
    CHECK(ft_checkpoint_note(path, &err) == NULL && strstr(err.msg, "not a finetuned checkpoint"));
    unlink(path);
    ft_trainer_free(t);
    ft_trainer_free(same);
    ft_trainer_free(other);
    ft_model_free(m);
    ft_dataset_free(ds);
}

typedef struct {
    float *snap;
    size_t n;
    ft_model *m;
} snap_ctx;

static int snapshot_epoch1(void *ctx, ft_trainer *tr, const ft_epoch_metrics *e)
{
    snap_ctx *s = ctx;
    (void)tr;
    if (e->epoch == 1)
        memcpy(s->snap, ft_model_params(s->m), s->n * sizeof(float));
    return 0;
}

static void test_early_stopping_restores_best(void)
{
    ft_dataset *ds = blobs_dataset(60, 3, 1);
    ft_preproc pp;
    ft_preproc_init(&pp, ds);
    ft_error err = {0};
    ft_model *m = init_model(CNN, 77);
    ft_train_config c = config(FT_OPT_SGD, 20);
    c.early_stopping = true;
    snprintf(c.es_metric, sizeof c.es_metric, "train_loss");
    c.es_patience = 2;
    c.es_min_delta = 1e9; /* nothing after epoch 1 counts as an improvement */
    c.es_restore_best = true;
    snap_ctx s = {malloc(ft_model_num_params(m) * sizeof(float)), ft_model_num_params(m), m};
    ft_train_hooks hooks = {.ctx = &s, .on_epoch = snapshot_epoch1};
    ft_trainer *t = ft_trainer_new(m, ds, NULL, &pp, &c, &err);
    CHECK(ft_trainer_run(t, &hooks, &err) == 0);
    CHECK(ft_trainer_stopped_early(t) && ft_trainer_epochs_done(t) == 3 && ft_trainer_best_epoch(t) == 1);
    CHECK(memcmp(s.snap, ft_model_params(m), s.n * sizeof(float)) == 0);
    ft_trainer_free(t);
    /* val metrics without a validation set are refused */
    snprintf(c.es_metric, sizeof c.es_metric, "val_loss");
    CHECK(!ft_trainer_new(m, ds, NULL, &pp, &c, &err) && strcmp(err.param, "early_stopping.metric") == 0);
    free(s.snap);
    ft_model_free(m);
    ft_dataset_free(ds);
}

/* val_macro_recall is each epoch's mean recall over the validation classes
 * (summed over 2 shards: the model's own evaluation gives the same value),
 * and early stopping watches it as a rise: with no rise counting, it stops
 * after patience epochs past the first. */
static void test_early_stopping_on_macro_recall(void)
{
    ft_dataset *ds = blobs_dataset(60, 3, 1), *val = blobs_dataset(31, 3, 3);
    ft_preproc pp;
    ft_preproc_init(&pp, ds);
    ft_error err = {0};
    ft_model *m = init_model(CNN, 77);
    ft_train_config c = config(FT_OPT_SGD, 20);
    c.threads = 2;
    c.early_stopping = true;
    snprintf(c.es_metric, sizeof c.es_metric, "val_macro_recall");
    c.es_patience = 2;
    c.es_min_delta = 2; /* a recall never rises by 2 */
    ft_trainer *t = ft_trainer_new(m, ds, val, &pp, &c, &err);
    CHECKF(t && ft_trainer_run(t, NULL, &err) == 0, "%s", err.msg);
    CHECK(ft_trainer_stopped_early(t) && ft_trainer_epochs_done(t) == 3 && ft_trainer_best_epoch(t) == 1);
    ft_eval_result r;
    CHECKF(ft_evaluate(m, val, &pp, c.loss, c.huber_delta, 7, 1, &r, &err) == 0, "%s", err.msg);
    double want = ft_macro_recall(r.confusion, r.classes), got = ft_trainer_history(t)[2].val_macro_recall;
    CHECKF(fabs(got - want) < 1e-12 && want >= 0 && want <= 1, "val_macro_recall %g, evaluation %g", got, want);
    ft_eval_result_free(&r);
    ft_trainer_free(t);
    ft_model_free(m);
    ft_dataset_free(ds);
    ft_dataset_free(val);
}

/* A regression with a learning rate far too high blows up: the job fails
 * with a message that names the learning rate, instead of saving NaNs. */
static void test_divergence_is_an_error(void)
{
    ft_error err = {0};
    ft_dataset *ds = ft_dataset_new(64, ft_shape1(4), FT_X_F32, FT_TARGET_VALUES, 1, &err);
    float *x = ft_dataset_x_f32(ds), *y = ft_dataset_targets(ds);
    for (int i = 0; i < 64 * 4; i++)
        x[i] = (float)(i % 7) - 3;
    for (int i = 0; i < 64; i++)
        y[i] = (float)i;
    ft_model *m = model_from("{\"input\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 1}]}");
    ft_preproc pp;
    ft_preproc_init(&pp, ds);
    ft_train_config c = config(FT_OPT_SGD, 50);
    c.loss = FT_LOSS_MSE;
    c.optim.lr = 10;
    ft_trainer *t = ft_trainer_new(m, ds, NULL, &pp, &c, &err);
    CHECK(ft_trainer_run(t, NULL, &err) == -1);
    CHECKF(strcmp(err.param, "optimizer.lr") == 0 && strstr(err.msg, "diverged"), "%s: %s", err.param, err.msg);
    ft_trainer_free(t);
    ft_model_free(m);
    ft_dataset_free(ds);
}

static void test_regression(void)
{
    ft_error err = {0};
    ft_dataset *ds = ft_dataset_new(200, ft_shape1(3), FT_X_F32, FT_TARGET_VALUES, 2, &err);
    ft_rng rng;
    ft_rng_seed(&rng, 8);
    float *x = ft_dataset_x_f32(ds), *y = ft_dataset_targets(ds);
    for (int i = 0; i < 200; i++) {
        for (int j = 0; j < 3; j++)
            x[i * 3 + j] = (float)ft_rng_normal(&rng);
        y[i * 2] = 2 * x[i * 3] - x[i * 3 + 1];
        y[i * 2 + 1] = 0.5f * x[i * 3 + 2] + 1;
    }
    ft_model *m = model_from("{\"input\": [3], \"layers\": [{\"type\": \"dense\", \"units\": 16, \"activation\": \"tanh\"}, {\"type\": \"dense\", \"units\": 2}]}");
    ft_model_init(m, 0, FT_INIT_XAVIER_UNIFORM, 0, &rng);
    ft_preproc pp;
    ft_preproc_init(&pp, ds);
    ft_loss_type losses[] = {FT_LOSS_MSE, FT_LOSS_MAE, FT_LOSS_HUBER};
    for (int l = 0; l < 3; l++) {
        ft_train_config c = config(FT_OPT_ADAM, 30);
        c.loss = losses[l];
        c.huber_delta = 1;
        ft_model_init(m, 0, FT_INIT_XAVIER_UNIFORM, 0, &rng);
        ft_trainer *t = ft_trainer_new(m, ds, ds, &pp, &c, &err);
        CHECK(ft_trainer_run(t, NULL, &err) == 0);
        const ft_epoch_metrics *h = ft_trainer_history(t);
        CHECKF(h[29].val_mae < 0.5 * h[0].val_mae, "%s: mae %g -> %g", ft_loss_name(losses[l]), h[0].val_mae, h[29].val_mae);
        CHECK(h[29].val_rmse >= h[29].val_mae && isnan(h[29].val_accuracy));
        ft_trainer_free(t);
    }
    /* classification losses are refused for value targets, and vice versa */
    ft_train_config c = config(FT_OPT_SGD, 1);
    CHECK(!ft_trainer_new(m, ds, NULL, &pp, &c, &err) && strcmp(err.param, "loss") == 0);
    ft_model_free(m);
    ft_dataset_free(ds);
}

/* Data-parallel threads: deterministic per thread count, and the same
 * training as one thread up to float rounding (no dropout here, since each
 * shard draws its own masks). */
static void test_threads(void)
{
    ft_dataset *ds = blobs_dataset(150, 3, 1), *val = blobs_dataset(30, 3, 2);
    ft_preproc pp;
    ft_preproc_init(&pp, ds);
    ft_error err = {0};
    const char *arch = "{\"input\": [1, 8, 8], \"layers\": ["
                       "{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"padding\": 1, \"activation\": \"relu\"},"
                       "{\"type\": \"maxpool2d\", \"size\": 2}, {\"type\": \"flatten\"},"
                       "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}]}";
    float *params[3];
    size_t n = 0;
    int threads[3] = {1, 2, 2};
    for (int run = 0; run < 3; run++) {
        ft_model *m = init_model(arch, 77);
        ft_train_config c = config(FT_OPT_SGD, 2);
        c.batch_size = 15; /* not a multiple of the thread count */
        c.threads = threads[run];
        ft_trainer *t = ft_trainer_new(m, ds, val, &pp, &c, &err);
        CHECK(t && ft_trainer_run(t, NULL, &err) == 0);
        n = ft_model_num_params(m);
        params[run] = malloc(n * sizeof(float));
        memcpy(params[run], ft_model_params(m), n * sizeof(float));
        ft_trainer_free(t);
        ft_model_free(m);
    }
    CHECK(memcmp(params[1], params[2], n * sizeof(float)) == 0);
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(params[0][i] - params[1][i]) / fmax(1e-2, fabs(params[0][i])));
    CHECKF(worst < 1e-4, "1 and 2 threads differ by %g", worst);
    for (int run = 0; run < 3; run++)
        free(params[run]);
    ft_dataset_free(ds);
    ft_dataset_free(val);
}

int main(void)
{
    RUN(test_threads);
    RUN(test_learns);
    RUN(test_deterministic);
    RUN(test_resume_bit_identical);
    RUN(test_resume_with_schedules);
    RUN(test_schedule_sets_the_lr);
    RUN(test_checkpoint_mismatch);
    RUN(test_phase_numbering_and_note);
    RUN(test_early_stopping_restores_best);
    RUN(test_early_stopping_on_macro_recall);
    RUN(test_divergence_is_an_error);
    RUN(test_regression);
    return TEST_SUMMARY();
}
