/* The frozen-prefix feature cache in the trainer: training on cached
 * features ends where training through the frozen layers does, the memory
 * limit falls back to the normal path, and the cache's build stops when the
 * run is told to. (The on-disk store: test_feature_store.c.) */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/train/train.h"
#include "tests/unit/fixtures_util.h"
#include "tests/unit/test.h"

/* SGD on the blobs, the cache allowed 1 MiB. */
static ft_train_config cache_config(int epochs)
{
    return (ft_train_config){.loss = FT_LOSS_CROSS_ENTROPY, .batch_size = 16, .epochs = epochs, .seed = 4,
                             .optim = {.type = FT_OPT_SGD, .lr = 0.05, .momentum = 0.9},
                             .cache_limit_bytes = 1 << 20};
}

typedef struct {
    int events;
    bool cache_seen;
} event_ctx;

static void count_event(void *ctx, const char *level, const char *msg, const json_t *data)
{
    event_ctx *e = ctx;
    (void)level;
    e->events++;
    const char *ev = json_string_value(json_object_get(data, "event"));
    if (ev && strcmp(ev, "feature_cache") == 0 && strstr(msg, "MiB"))
        e->cache_seen = true;
}

/* should_stop that says go on `go` times, then stop; counts its calls. */
typedef struct {
    int asked, go;
} stop_ctx;

static int stop_when_told(void *ctx)
{
    stop_ctx *s = ctx;
    return ++s->asked > s->go;
}

/* The frozen layers' pass into the cache asks should_stop between its
 * batches (a job cancelled while its backbone runs): told to stop, the run
 * ends with FT_ECANCELLED before any epoch and with the weights untouched;
 * never told, it runs through. */
static void test_feature_cache_build_can_be_stopped(void)
{
    ft_dataset *ds = blobs_dataset(200, 3, 1);
    ft_preproc pp;
    ft_preproc_init(&pp, ds);
    ft_error err = {0};
    ft_model *m = frozen_transfer_model();
    float *before = malloc(ft_model_num_params(m) * sizeof *before);
    memcpy(before, ft_model_params(m), ft_model_num_params(m) * sizeof *before);
    ft_train_config c = cache_config(2);
    c.cache_limit_bytes = 1 << 20;
    c.threads = 2;
    stop_ctx stop = {0, 0};
    ft_train_hooks hooks = {.ctx = &stop, .should_stop = stop_when_told};
    ft_trainer *t = ft_trainer_new(m, ds, NULL, &pp, &c, &err);
    CHECK(ft_trainer_run(t, &hooks, &err) == -1 && err.code == FT_ECANCELLED && strstr(err.msg, "frozen layers"));
    CHECK(stop.asked == 1 && ft_trainer_epochs_done(t) == 0);
    CHECK(memcmp(before, ft_model_params(m), ft_model_num_params(m) * sizeof *before) == 0);
    ft_trainer_free(t);
    stop = (stop_ctx){0, 1000};
    t = ft_trainer_new(m, ds, NULL, &pp, &c, &err);
    CHECK(ft_trainer_run(t, &hooks, &err) == 0 && ft_trainer_cached(t) && stop.asked >= 1);
    ft_trainer_free(t);
    free(before);
    ft_model_free(m);
    ft_dataset_free(ds);
}

static void test_feature_cache_equivalent(void)
{
    ft_dataset *ds = blobs_dataset(120, 3, 1), *val = blobs_dataset(30, 3, 5);
    ft_preproc pp;
    ft_preproc_init(&pp, ds);
    ft_error err = {0};
    ft_model *a = frozen_transfer_model(), *b = frozen_transfer_model();
    ft_train_config c = cache_config(4);
    c.cache_limit_bytes = 1 << 20;
    event_ctx ev = {0};
    ft_train_hooks hooks = {.ctx = &ev, .on_event = count_event};
    ft_trainer *ta = ft_trainer_new(a, ds, val, &pp, &c, &err);
    CHECK(ft_trainer_run(ta, &hooks, &err) == 0 && ft_trainer_cached(ta) && ev.cache_seen);
    c.cache_limit_bytes = 0;
    ft_trainer *tb = ft_trainer_new(b, ds, val, &pp, &c, &err);
    CHECK(ft_trainer_run(tb, NULL, &err) == 0 && !ft_trainer_cached(tb));
    const float *pa = ft_model_params(a), *pb = ft_model_params(b);
    double worst = 0;
    for (size_t i = 0; i < ft_model_num_params(a); i++)
        worst = fmax(worst, fabs(pa[i] - pb[i]) / fmax(1e-3, fabs(pb[i])));
    CHECKF(worst < 1e-4, "cached and uncached models differ by %g", worst);
    CHECK_CLOSE(ft_trainer_history(ta)[3].val_loss, ft_trainer_history(tb)[3].val_loss, 1e-4, 1e-6);

    /* over the memory limit: the normal path, and an event saying so */
    ft_model *d = frozen_transfer_model();
    c.cache_limit_bytes = 100;
    event_ctx ev2 = {0};
    hooks.ctx = &ev2;
    ft_trainer *td = ft_trainer_new(d, ds, val, &pp, &c, &err);
    CHECK(ft_trainer_run(td, &hooks, &err) == 0 && !ft_trainer_cached(td) && ev2.events == 1 && !ev2.cache_seen);
    ft_trainer_free(ta);
    ft_trainer_free(tb);
    ft_trainer_free(td);
    ft_model_free(a);
    ft_model_free(b);
    ft_model_free(d);
    ft_dataset_free(ds);
    ft_dataset_free(val);
}

int main(void)
{
    RUN(test_feature_cache_equivalent);
    RUN(test_feature_cache_build_can_be_stopped);
    return TEST_SUMMARY();
}
