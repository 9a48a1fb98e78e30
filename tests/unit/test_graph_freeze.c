/* Freezing inside a graph (issue 13): trainable_from and trainable_last
 * order the kept layers so that what trains (the node and everything that
 * depends on it) is a suffix, training leaves every frozen weight bit for
 * bit, and the feature cache serves the prefix below the branches that
 * cross into the trainable part. */
#include <stdlib.h>
#include <string.h>

#include "core/train/train.h"
#include "tests/unit/fixtures_util.h"
#include "tests/unit/test.h"

/* A downsampling residual block: a1 -> a2 (scaled by a constant) on one
 * branch, a 1x1 conv `skip` on the other, both from stem; `skip` comes after
 * a1 but does not depend on it, and only the trainable branch reads `k`. */
static const char *BRANCHY =
    "{\"input\": [1, 8, 8], \"layers\": ["
    "{\"name\": \"stem\", \"type\": \"conv2d\", \"filters\": 3, \"kernel\": 3, \"padding\": 1, \"activation\": \"relu\"},"
    "{\"name\": \"a1\", \"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"stride\": 2, \"padding\": 1, \"activation\": \"relu\"},"
    "{\"name\": \"a2\", \"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"padding\": 1, \"aliases\": [\"/a2/Conv\"]},"
    "{\"name\": \"k\", \"type\": \"constant\", \"shape\": [4, 1, 1]},"
    "{\"name\": \"skip\", \"type\": \"conv2d\", \"filters\": 4, \"kernel\": 1, \"stride\": 2, \"inputs\": [\"stem\"]},"
    "{\"name\": \"scaled\", \"type\": \"mul\", \"inputs\": [\"k\", \"a2\"]},"
    "{\"name\": \"add\", \"type\": \"add\", \"inputs\": [\"scaled\", \"skip\"], \"activation\": \"relu\"},"
    "{\"name\": \"gap\", \"type\": \"global_avgpool2d\"},"
    "{\"name\": \"fc\", \"type\": \"dense\", \"units\": 5}]}";

static ft_model *freeze_transfer(const ft_model *base, ft_freeze_policy freeze, const char *from, int last,
                                 ft_error *err)
{
    ft_rng rng;
    ft_rng_seed(&rng, 1);
    ft_transfer t = {.drop_layers = 1, .freeze = freeze, .trainable_from = from, .trainable_last = last,
                     .output = FT_ACT_SOFTMAX, .units = 3, .init = FT_INIT_HE_NORMAL};
    return ft_model_transfer(base, &t, &rng, NULL, err);
}

/* The model's layer names in order, joined by spaces, and its first trainable layer. */
static void check_order(const ft_model *m, const char *want, int first)
{
    char got[256] = "";
    for (int i = 0; m && i < ft_model_num_layers(m); i++) {
        ft_layer_info li;
        ft_model_layer_info(m, i, &li);
        strcat(strcat(got, i ? " " : ""), li.name);
    }
    CHECKF(m && strcmp(got, want) == 0, "order '%s', want '%s'", got, want);
    CHECKF(m && ft_model_first_trainable(m) == first, "first trainable %d, want %d", m ? ft_model_first_trainable(m) : -1,
           first);
}

static void test_order(void)
{
    ft_model *base = init_model(BRANCHY, 3);
    ft_error err = {0};
    /* a1 and what depends on it train; skip, stem and the constant stay below */
    ft_model *m = freeze_transfer(base, FT_FREEZE_TRAINABLE_FROM, "a1", 0, &err);
    check_order(m, "stem skip k a1 a2 scaled add gap head_output", 3);
    ft_model_free(m);
    m = freeze_transfer(base, FT_FREEZE_TRAINABLE_FROM, "/a2/Conv", 0, &err); /* an alias */
    check_order(m, "stem a1 skip k a2 scaled add gap head_output", 4);
    ft_model_free(m);
    /* trainable_last counts layers with weights (a2 and skip here), never the constant */
    m = freeze_transfer(base, FT_FREEZE_TRAINABLE_LAST, NULL, 2, &err);
    check_order(m, "stem a1 k a2 skip scaled add gap head_output", 3);
    ft_model_free(m);
    m = freeze_transfer(base, FT_FREEZE_NONE, NULL, 0, &err);
    check_order(m, "k stem a1 a2 skip scaled add gap head_output", 1);
    ft_model_free(m);
    m = freeze_transfer(base, FT_FREEZE_BASE, NULL, 0, &err);
    check_order(m, "stem a1 a2 k skip scaled add gap head_output", 8);
    ft_model_free(m);
    const struct {
        ft_freeze_policy freeze;
        const char *from;
        int last;
        const char *param, *msg;
    } bad[] = {
        {FT_FREEZE_TRAINABLE_FROM, "nope", 0, "freeze.trainable_from", "the base model has no layer named 'nope'"},
        {FT_FREEZE_TRAINABLE_FROM, "fc", 0, "freeze.trainable_from", "layer 'fc' is not kept: it is above the cut"},
        {FT_FREEZE_TRAINABLE_FROM, "k", 0, "freeze.trainable_from", "layer 'k' (type constant) cannot train"},
        {FT_FREEZE_TRAINABLE_LAST, NULL, 5, "freeze.trainable_last",
         "trainable_last must be between 0 and 4 (the kept layers with weights)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECKF(!freeze_transfer(base, bad[i].freeze, bad[i].from, bad[i].last, &err), "case %zu accepted", i);
        CHECKF(strcmp(err.param, bad[i].param) == 0 && strcmp(err.msg, bad[i].msg) == 0, "case %zu: %s: %s", i,
               err.param, err.msg);
    }
    ft_model_free(base);
}

/* Train with trainable_from a1 and the cache on: stem, skip and the constant
 * stay bit-identical, a1 and a2 move, and the cache holds stem's output
 * (the highest point below a1 that no branch crosses). */
static void test_train_from(void)
{
    ft_model *base = init_model(BRANCHY, 3);
    ft_error err = {0};
    ft_model *m = freeze_transfer(base, FT_FREEZE_TRAINABLE_FROM, "a1", 0, &err);
    ft_model_free(base);
    CHECK(m != NULL);
    if (!m)
        return;
    size_t n = ft_model_num_params(m);
    float *before = malloc(n * sizeof *before);
    memcpy(before, ft_model_params(m), n * sizeof *before);
    ft_dataset *ds = blobs_dataset(60, 3, 9);
    ft_preproc pp;
    ft_preproc_init(&pp, ds);
    ft_train_config cfg = {.loss = FT_LOSS_CROSS_ENTROPY, .batch_size = 16, .epochs = 2, .seed = 1,
                           .cache_limit_bytes = 1 << 20, .threads = 2,
                           .optim = {.type = FT_OPT_SGD, .lr = 0.05, .momentum = 0.9, .weight_decay = 0.01}};
    ft_trainer *tr = ft_trainer_new(m, ds, NULL, &pp, &cfg, &err);
    CHECKF(tr && ft_trainer_run(tr, NULL, &err) == 0, "%s", err.msg);
    CHECK(tr && ft_trainer_cached(tr));
    CHECK(ft_model_split_below(m, 3) == 1);
    for (int i = 0; i < ft_model_num_layers(m); i++) {
        ft_layer_info li;
        ft_model_layer_info(m, i, &li);
        bool same = memcmp(before + li.param_offset, ft_model_params(m) + li.param_offset,
                           li.params * sizeof(float)) == 0;
        CHECKF(!li.params || same == !li.trainable, "layer %s: trainable %d, unchanged %d", li.name, li.trainable, same);
    }
    ft_trainer_free(tr);
    ft_dataset_free(ds);
    ft_model_free(m);
    free(before);
}

int main(void)
{
    RUN(test_order);
    RUN(test_train_from);
    return TEST_SUMMARY();
}
