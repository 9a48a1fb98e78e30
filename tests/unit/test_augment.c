/* Image augmentation (core/train/augment.c): each transform against
 * torchvision (tests/fixtures/augment.json), the keyed draws, the order
 * scale -> augment -> normalise, and the trainer with it: the feature cache
 * bypassed or holding K views (events, memory estimate, feature store keys),
 * byte-identical repeated and resumed runs, validation never augmented; and
 * the job spec's augment, every refusal naming its key (a 422). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/job/spec.h"
#include "core/train/augment.h"
#include "core/train/feature_store.h"
#include "core/train/train.h"
#include "tests/unit/fixture_compare.h"
#include "tests/unit/fixtures_util.h"
#include "tests/unit/test.h"

static void test_transforms_match_torchvision(void)
{
    json_error_t jerr;
    json_t *doc = json_load_file("tests/fixtures/augment.json", 0, &jerr), *c;
    CHECKF(doc != NULL, "augment.json: %s", jerr.text);
    size_t i, n;
    int ops[4] = {0};
    json_array_foreach(json_object_get(doc, "cases"), i, c) {
        const char *op = json_string_value(json_object_get(c, "op")), *name = json_string_value(json_object_get(c, "name"));
        json_t *shape = json_object_get(c, "shape"), *p = json_object_get(c, "params");
        int ch = (int)json_integer_value(json_array_get(shape, 0)), h = (int)json_integer_value(json_array_get(shape, 1)),
            w = (int)json_integer_value(json_array_get(shape, 2));
        float *img = fixture_floats(json_object_get(c, "input"), &n);
        float factor = (float)json_number_value(json_object_get(p, "factor"));
        if (strcmp(op, "hflip") == 0) {
            ft_aug_hflip(img, ch, h, w);
            ops[0]++;
        } else if (strcmp(op, "crop") == 0) {
            ft_aug_crop(img, ch, h, w, (int)json_integer_value(json_object_get(p, "padding")),
                        (int)json_integer_value(json_object_get(p, "top")),
                        (int)json_integer_value(json_object_get(p, "left")));
            ops[1]++;
        } else if (strcmp(op, "brightness") == 0) {
            ft_aug_brightness(img, n, factor, 1.0f);
            ops[2]++;
        } else {
            ft_aug_contrast(img, ch, h, w, factor, 1.0f);
            ops[3]++;
        }
        fixture_compare("output", name, img, json_object_get(c, "output"), 1e-6, 1.0);
        free(img);
    }
    CHECKF(ops[0] == 2 && ops[1] == 5 && ops[2] == 2 && ops[3] == 4, "cases %d %d %d %d", ops[0], ops[1], ops[2], ops[3]);
    json_decref(doc);
}

static const ft_augment ALL = {.hflip = true, .crop_padding = 2, .brightness = 0.3, .contrast = 0.3};

static void test_gather_keyed_then_normalised(void)
{
    ft_dataset *ds = blobs_dataset(10, 3, 1);
    ft_preproc pp, scaled;
    ft_error err = {0};
    ft_preproc_init(&pp, ds);
    ft_preproc_init(&scaled, ds);
    CHECK(ft_preproc_fit_standardize(&pp, ds, &err) == 0);
    enum { F = 64 };
    uint32_t two[2] = {3, 7}, seven = 7;
    float a[2 * F], b[F], other[2 * F], s[2 * F];
    ft_augment_gather(&ALL, 9, 5, ds, &pp, two, 2, a);
    ft_augment_gather(&ALL, 9, 5, ds, &pp, &seven, 1, b);
    ft_augment_gather(&ALL, 9, 6, ds, &pp, two, 2, other);
    CHECK(memcmp(a + F, b, sizeof b) == 0);  /* a row's draws do not depend on the batch */
    CHECK(memcmp(a, other, sizeof a) != 0);  /* another epoch, other draws */
    /* augmented on the 0..1 image, then standardised */
    ft_augment_gather(&ALL, 9, 5, ds, &scaled, two, 2, s);
    bool in_range = true;
    for (int j = 0; j < 2 * F; j++)
        in_range &= s[j] >= 0 && s[j] <= 1;
    CHECK(in_range);
    ft_preproc_normalize(&pp, s, 2, F);
    CHECK(memcmp(s, a, sizeof a) == 0);
    /* hflip alone: every row is itself or its mirror, and both happen (per-feature
     * standardisation would not commute with the flip: scaled rows) */
    ft_augment flip = {.hflip = true};
    int flipped = 0, kept = 0;
    for (uint32_t r = 0; r < 10; r++) {
        float plain[F], got[F];
        ft_dataset_gather(ds, &scaled, &r, 1, plain);
        ft_augment_gather(&flip, 1, 0, ds, &scaled, &r, 1, got);
        kept += memcmp(plain, got, sizeof got) == 0;
        ft_aug_hflip(plain, 1, 8, 8);
        flipped += memcmp(plain, got, sizeof got) == 0;
    }
    CHECKF(kept + flipped == 10 && kept > 0 && flipped > 0, "kept %d, flipped %d", kept, flipped);
    ft_preproc_free(&pp);
    ft_dataset_free(ds);
}

typedef struct {
    int bypassed, val_cached, cached, hits, views;
    double bytes;
} events;

static void on_event(void *ctx, const char *level, const char *msg, const json_t *data)
{
    events *e = ctx;
    const char *ev = json_string_value(json_object_get(data, "event"));
    (void)level;
    if (ev && strcmp(ev, "feature_cache_bypassed") == 0 && strstr(msg, "because of augment"))
        e->bypassed++, e->val_cached += json_is_true(json_object_get(data, "validation_cached"));
    if (ev && strcmp(ev, "feature_cache") == 0) {
        e->cached++;
        e->hits += json_is_true(json_object_get(data, "hit"));
        e->views = (int)json_integer_value(json_object_get(data, "views"));
        e->bytes = json_number_value(json_object_get(data, "bytes"));
    }
}

/* One training run of frozen_transfer_model on the blobs with aug; hooks
 * may be NULL. Returns the trained parameters (malloc'd). */
typedef struct {
    ft_augment aug;
    int threads;
    size_t cache_limit; /* 0: 1 MiB */
    ft_feature_store *store;
    const ft_train_hooks *hooks;
    const char *resume; /* checkpoint to load first, or NULL */
} run_opts;

static ft_dataset *train_set, *val_set;

static ft_train_config config(const run_opts *o)
{
    return (ft_train_config){.loss = FT_LOSS_CROSS_ENTROPY, .batch_size = 16, .epochs = 4, .seed = 4,
                             .optim = {.type = FT_OPT_SGD, .lr = 0.05, .momentum = 0.9},
                             .cache_limit_bytes = o->cache_limit ? o->cache_limit : 1 << 20, .threads = o->threads,
                             .augment = o->aug};
}

static float *train_run(const run_opts *o, ft_trainer **keep, ft_model **model, int *rc)
{
    ft_preproc pp;
    ft_preproc_init(&pp, train_set);
    ft_error err = {0};
    ft_model *m = frozen_transfer_model();
    ft_train_config c = config(o);
    ft_trainer *tr = ft_trainer_new(m, train_set, val_set, &pp, &c, &err);
    CHECKF(tr != NULL, "%s", err.msg);
    if (o->store)
        CHECK(ft_trainer_set_feature_store(tr, o->store, "test", &err) == 0);
    if (o->resume)
        CHECKF(ft_trainer_load_checkpoint(tr, o->resume, &err) == 0, "%s", err.msg);
    *rc = ft_trainer_run(tr, o->hooks, &err);
    float *p = malloc(ft_model_num_params(m) * sizeof *p);
    memcpy(p, ft_model_params(m), ft_model_num_params(m) * sizeof *p);
    if (keep) {
        *keep = tr;
        *model = m;
    } else {
        ft_trainer_free(tr);
        ft_model_free(m);
    }
    return p;
}

static float *train_params(const run_opts *o)
{
    int rc;
    float *p = train_run(o, NULL, NULL, &rc);
    CHECK(rc == 0);
    return p;
}

static size_t nparams(void)
{
    ft_model *m = frozen_transfer_model();
    size_t n = ft_model_num_params(m);
    ft_model_free(m);
    return n;
}

static void test_bypass_is_deterministic_and_said(void)
{
    events ev = {0};
    ft_train_hooks hooks = {.ctx = &ev, .on_event = on_event};
    run_opts o = {.aug = ALL, .hooks = &hooks}, again = {.aug = ALL};
    ft_trainer *tr;
    ft_model *m;
    int rc;
    float *a = train_run(&o, &tr, &m, &rc), *b = train_params(&again);
    run_opts plain = {.threads = 1};
    float *c = train_params(&plain);
    size_t n = nparams();
    CHECK(rc == 0 && !ft_trainer_cached(tr));
    CHECKF(ev.bypassed == 1 && ev.val_cached == 1 && ev.cached == 0, "bypassed %d, cached %d", ev.bypassed,
           ev.cached);
    CHECK(memcmp(a, b, n * sizeof *a) == 0); /* repeated: byte-identical */
    CHECK(memcmp(a, c, n * sizeof *a) != 0); /* and augmentation changed what it learnt */
    /* the frozen layers forward only on every batch (live prefix, validation
     * cached) train as the whole model run on every batch does (no room to
     * cache the validation rows), but for rounding */
    events ev2 = {0};
    hooks.ctx = &ev2;
    run_opts whole = {.aug = ALL, .cache_limit = 100, .hooks = &hooks};
    float *d = train_params(&whole);
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(a[i] - d[i]));
    CHECKF(worst < 1e-3 && ev2.bypassed == 1 && ev2.val_cached == 0, "differ by %g; %d %d", worst, ev2.bypassed,
           ev2.val_cached);
    free(d);
    /* validation is never augmented: the last epoch's val_loss is the plain evaluation's */
    ft_preproc pp;
    ft_preproc_init(&pp, train_set);
    ft_eval_result r;
    ft_error err = {0};
    CHECK(ft_evaluate(m, val_set, &pp, FT_LOSS_CROSS_ENTROPY, 1, 16, 1, &r, &err) == 0);
    CHECK_CLOSE(r.loss, ft_trainer_history(tr)[3].val_loss, 1e-6, 1e-9);
    ft_eval_result_free(&r);
    ft_trainer_free(tr);
    ft_model_free(m);
    free(a), free(b), free(c);
}

static void test_views_are_cached(void)
{
    events ev = {0};
    ft_train_hooks hooks = {.ctx = &ev, .on_event = on_event};
    ft_augment v3 = ALL;
    v3.views = 3;
    run_opts o = {.aug = v3, .hooks = &hooks}, bypass = {.aug = ALL};
    ft_trainer *tr;
    ft_model *m;
    int rc;
    float *a = train_run(&o, &tr, &m, &rc), *b = train_params(&bypass);
    CHECK(rc == 0 && ft_trainer_cached(tr));
    CHECKF(ev.cached == 1 && ev.bypassed == 0 && ev.views == 3, "cached %d, bypassed %d, views %d", ev.cached,
           ev.bypassed, ev.views);
    /* 3 views of the 60 training rows and the 30 validation rows, 4x4x4 floats each */
    CHECKF(ev.bytes == (3 * 60 + 30) * 64 * 4.0, "bytes %g", ev.bytes);
    /* epochs 0..2 see views 0..2, keyed as the bypass keys epochs 0..2: the
     * same augmented images, so the runs agree but for rounding in epoch 4 */
    size_t n = nparams();
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(a[i] - b[i]));
    CHECKF(worst > 0 && worst < 0.05, "views and bypass differ by %g", worst);
    /* the plan's estimate counts the K views */
    ft_job_shape js = {.model = m, .train = &(ft_train_config){.batch_size = 16, .cache_limit_bytes = 1 << 20,
                                                                 .augment = v3},
                       .train_rows = 60, .val_rows = 30};
    ft_job_memory mem;
    ft_job_memory_estimate(&js, &mem);
    CHECKF(mem.cache == (3 * 60 + 30) * 64 * 4, "estimated cache %zu", mem.cache);
    /* without views only the validation rows are cached */
    ((ft_train_config *)js.train)->augment.views = 0;
    ft_job_memory_estimate(&js, &mem);
    CHECKF(mem.cache == 30 * 64 * 4, "estimated cache %zu", mem.cache);
    ft_trainer_free(tr);
    ft_model_free(m);
    free(a), free(b);
}

static int stop_at(void *ctx, ft_trainer *tr, const ft_progress *p)
{
    const char *path = ctx;
    ft_error err = {0};
    if (p->epoch == 3 && p->step == 2)
        return ft_trainer_save_checkpoint(tr, path, &err) == 0 ? 1 : -1;
    return 0;
}

/* Interrupted mid-epoch 3 (after its own checkpoint) and resumed in a new
 * trainer: the same bytes as the run that was never interrupted. */
static void resume_case(ft_augment aug, int threads)
{
    char path[] = "/tmp/i13-aug-ckpt-XXXXXX";
    close(mkstemp(path));
    ft_train_hooks stop = {.ctx = path, .on_step = stop_at};
    run_opts whole = {.aug = aug, .threads = threads}, cut = whole, resumed = whole;
    cut.hooks = &stop;
    resumed.resume = path;
    int rc;
    float *a = train_params(&whole), *b = train_run(&cut, NULL, NULL, &rc), *c = train_params(&resumed);
    CHECK(rc == -1);
    CHECKF(memcmp(a, c, nparams() * sizeof *a) == 0, "views %d, %d threads: the resumed run differs", aug.views,
           threads);
    CHECK(memcmp(a, b, nparams() * sizeof *a) != 0);
    unlink(path);
    free(a), free(b), free(c);
}

static void test_resume_is_byte_identical(void)
{
    ft_augment v2 = ALL;
    v2.views = 2;
    resume_case(ALL, 1);
    resume_case(ALL, 2);
    resume_case(v2, 1);
}

/* The feature store never serves the plain rows' features to an augmented
 * run, nor one augmentation's views to another. */
static void test_store_keys_augment(void)
{
    char dir[] = "/tmp/i13-aug-store-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    ft_error err = {0};
    ft_feature_store *fs = ft_feature_store_open(dir, 1 << 24, &err);
    ft_augment v3 = ALL, v2 = ALL;
    v3.views = 3;
    v2.views = 2;
    const ft_augment *order[] = {&(ft_augment){0}, &v3, &v3, &v2};
    const int hit[] = {0, 0, 1, 0};
    float *first = NULL;
    for (int k = 0; k < 4; k++) {
        events ev = {0};
        ft_train_hooks hooks = {.ctx = &ev, .on_event = on_event};
        run_opts o = {.aug = *order[k], .store = fs, .hooks = &hooks};
        float *p = train_params(&o);
        CHECKF(ev.cached == 1 && ev.hits == hit[k], "run %d: cached %d, hit %d", k, ev.cached, ev.hits);
        if (k == 1)
            first = p;
        else if (k == 2)
            CHECK(memcmp(first, p, nparams() * sizeof *p) == 0); /* the stored views are the computed ones */
        if (k != 1)
            free(p);
    }
    free(first);
    ft_feature_store_free(fs);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

/* A spec with this augment (JSON text; in a second phase with phased) for
 * [1, 4, 4] images or [4] features, parsed and planned as POST /v1/jobs
 * does; when accepted, the job echoes `echo` (NULL: augment as given). */
static int plan_augment(const char *augment, bool image, bool phased, const char *echo, ft_error *err)
{
    static const char *const names[] = {"a", "b", "c"};
    static const uint64_t counts[] = {10, 10, 10};
    json_t *aug = json_loads(augment, JSON_DECODE_ANY, NULL);
    json_t *want = echo ? json_loads(echo, JSON_DECODE_ANY, NULL) : json_incref(aug);
    json_t *arch = image ? json_pack("{s:[i,i,i], s:[{s:s}, {s:s, s:i, s:s}]}", "input", 1, 4, 4, "layers", "type",
                                     "flatten", "type", "dense", "units", 3, "activation", "softmax")
                         : json_pack("{s:[i], s:[{s:s, s:i, s:s}]}", "input", 4, "layers", "type", "dense", "units", 3,
                                     "activation", "softmax");
    json_t *spec = phased ? json_pack("{s:s, s:o, s:[{s:i}, {s:i, s:o}]}", "dataset", "ds_x", "architecture", arch,
                                      "phases", "epochs", 1, "epochs", 1, "augment", aug)
                          : json_pack("{s:s, s:o, s:o}", "dataset", "ds_x", "architecture", arch, "augment", aug);
    ft_data_info d = {.rows = 30, .shape = image ? ft_shape3(1, 4, 4) : ft_shape1(4), .xtype = FT_X_U8,
                      .kind = FT_TARGET_CLASSES, .target_dim = 3, .class_names = names, .class_counts = counts};
    ft_job_spec s;
    json_t *warnings = NULL;
    int rc = ft_job_spec_parse(spec, &s, err);
    if (rc == 0) {
        rc = ft_job_plan(&s, &d, NULL, NULL, NULL, &warnings, err);
        CHECK(rc != 0 || json_equal(json_object_get(phased ? json_array_get(json_object_get(s.json, "phases"), 1)
                                                           : s.json, "augment"), want));
        ft_job_spec_free(&s);
    }
    json_decref(warnings);
    json_decref(spec);
    json_decref(want);
    return rc;
}

static const struct {
    const char *augment;
    bool image, phased;
    const char *param, *msg; /* err.param exactly, a piece of the message */
} refusals[] = {
    {"'yes'", true, false, "augment", "augment must be an object"},
    {"{'flip': true}", true, false, "augment.flip", "unknown field 'flip'"},
    {"{'hflip': 1}", true, false, "augment.hflip", "must be true or false"},
    {"{'brightness': -0.1}", true, false, "augment.brightness", "must be a number between 0 and 10"},
    {"{'contrast': -1}", true, false, "augment.contrast", "must be a number between 0 and 10"},
    {"{'crop': 4}", true, false, "augment.crop", "must be {\"padding\": p}"},
    {"{'crop': {'padding': -1}}", true, false, "augment.crop.padding", "must be an integer between 1 and 1024"},
    {"{'crop': {'padding': 1, 'size': 2}}", true, false, "augment.crop.size", "unknown field 'size'"},
    {"{'crop': {'padding': 4}}", true, false, "augment.crop.padding",
     "must be smaller than the image's height and width (4x4)"},
    {"{'hflip': true, 'views': -1}", true, false, "augment.views", "must be an integer between 0 and 64"},
    {"{'views': 4}", true, false, "augment.views", "needs a transform"},
    {"{'crop': {'padding': 1}}", false, false, "augment.crop",
     "applies to images ([channels, height, width] inputs); these rows are 4 values each"},
    {"{'brightness': 0.1}", false, false, "augment.brightness", "applies to images"},
    {"{'hflip': true}", false, true, "phases[1].augment.hflip", "phases[1]: augment.hflip applies to images"},
    {"{'views': 65}", true, true, "phases[1].augment.views", "must be an integer between 0 and 64"},
};

static void test_spec_refusals_name_the_key(void)
{
    for (size_t i = 0; i < sizeof refusals / sizeof *refusals; i++) {
        char text[128];
        snprintf(text, sizeof text, "%s", refusals[i].augment);
        for (char *c = text; *c; c++)
            *c = *c == '\'' ? '"' : *c;
        ft_error err = {0};
        CHECKF(plan_augment(text, refusals[i].image, refusals[i].phased, NULL, &err) != 0 && err.code == FT_EINVAL,
               "row %zu was accepted", i);
        CHECKF(strcmp(err.param, refusals[i].param) == 0 && strstr(err.msg, refusals[i].msg),
               "row %zu: %s: %s", i, err.param, err.msg);
    }
    ft_error err = {0};
    const char *good = "{\"hflip\": true, \"crop\": {\"padding\": 1}, \"brightness\": 0.2, \"contrast\": 0.1, "
                       "\"views\": 4}";
    CHECKF(plan_augment(good, true, false, NULL, &err) == 0, "%s: %s", err.param, err.msg);
    CHECKF(plan_augment(good, true, true, NULL, &err) == 0, "%s: %s", err.param, err.msg);
    CHECKF(plan_augment("null", false, false, NULL, &err) == 0, "%s: %s", err.param, err.msg);
    /* the default views are echoed, and views 0 stays 0 */
    CHECKF(plan_augment("{\"hflip\": true}", true, false, "{\"hflip\": true, \"views\": 4}", &err) == 0, "%s",
           err.msg);
    CHECKF(plan_augment("{\"hflip\": true, \"views\": 0}", true, true, NULL, &err) == 0, "%s", err.msg);
}

/* Views default to FT_AUGMENT_DEFAULT_VIEWS; 0 asks for fresh draws every
 * epoch (the cache bypassed). */
static void test_spec_views_default(void)
{
    const char *texts[] = {"{\"hflip\": true}", "{\"hflip\": true, \"views\": 0}", "{\"views\": 0}", "null"};
    const int want[] = {FT_AUGMENT_DEFAULT_VIEWS, 0, 0, 0};
    for (int i = 0; i < 4; i++) {
        json_t *spec = json_pack("{s:s, s:s, s:o}", "dataset", "ds_x", "base_model", "mdl_b", "augment",
                                 json_loads(texts[i], JSON_DECODE_ANY, NULL));
        ft_job_spec s;
        ft_error err = {0};
        CHECKF(ft_job_spec_parse(spec, &s, &err) == 0 && s.train.augment.views == want[i], "%s: views %d (%s)",
               texts[i], s.train.augment.views, err.msg);
        if (!err.code)
            ft_job_spec_free(&s);
        json_decref(spec);
    }
    CHECK(FT_AUGMENT_DEFAULT_VIEWS == 4);
}

int main(void)
{
    train_set = blobs_dataset(60, 3, 1);
    val_set = blobs_dataset(30, 3, 5);
    RUN(test_transforms_match_torchvision);
    RUN(test_gather_keyed_then_normalised);
    RUN(test_bypass_is_deterministic_and_said);
    RUN(test_views_are_cached);
    RUN(test_resume_is_byte_identical);
    RUN(test_store_keys_augment);
    RUN(test_spec_refusals_name_the_key);
    RUN(test_spec_views_default);
    ft_dataset_free(train_set);
    ft_dataset_free(val_set);
    return TEST_SUMMARY();
}
