/* Model surgery: drop / cut, freeze policies, the new head, and "frozen
 * means frozen". */
#include <stdlib.h>
#include <string.h>

#include "core/train/train.h"
#include "tests/unit/fixtures_util.h"
#include "tests/unit/test.h"

static const char *BASE =
    "{\"input\": [1, 8, 8], \"layers\": ["
    "{\"name\": \"conv1\", \"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"padding\": 1, \"activation\": \"relu\"},"
    "{\"name\": \"pool1\", \"type\": \"maxpool2d\", \"size\": 2},"
    "{\"name\": \"flat\", \"type\": \"flatten\"},"
    "{\"name\": \"hidden\", \"type\": \"dense\", \"units\": 16, \"activation\": \"relu\"},"
    "{\"name\": \"out\", \"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}]}";

static ft_transfer head(int drop, ft_freeze_policy freeze, int units)
{
    ft_transfer t = {.drop_layers = drop, .freeze = freeze, .hidden_activation = FT_ACT_RELU,
                     .output = FT_ACT_SOFTMAX, .units = units, .init = FT_INIT_HE_NORMAL};
    return t;
}

static void test_drop_and_head(void)
{
    ft_model *base = init_model(BASE, 5);
    ft_rng rng;
    ft_rng_seed(&rng, 1);
    ft_error err = {0};
    ft_transfer t = head(2, FT_FREEZE_BASE, 5);
    t.nhidden = 1;
    t.hidden[0] = 8;
    t.dropout = 0.3;
    int kept;
    ft_model *m = ft_model_transfer(base, &t, &rng, &kept, &err);
    CHECK(m && kept == 3);
    CHECK(ft_model_num_layers(m) == 6);
    const char *names[] = {"conv1", "pool1", "flat", "head_hidden_1", "head_dropout_1", "head_output"};
    for (int i = 0; i < 6; i++) {
        ft_layer_info li;
        ft_model_layer_info(m, i, &li);
        CHECKF(strcmp(li.name, names[i]) == 0, "layer %d is %s", i, li.name);
        CHECK(li.trainable == (i >= 3));
    }
    CHECK(ft_model_output_shape(m).dim[0] == 5);
    /* kept weights are copied exactly */
    ft_layer_info c1;
    ft_model_layer_info(m, 0, &c1);
    CHECK(memcmp(ft_model_params(m), ft_model_params(base), c1.params * sizeof(float)) == 0);
    ft_model_free(m);

    /* cut_after a conv block: an automatic flatten before the head */
    t = head(0, FT_FREEZE_NONE, 3);
    t.cut_after = "pool1";
    m = ft_model_transfer(base, &t, &rng, &kept, &err);
    CHECK(m && kept == 2);
    ft_layer_info li;
    ft_model_layer_info(m, 2, &li);
    CHECK(strcmp(li.name, "head_flatten") == 0 && li.type == FT_LAYER_FLATTEN);
    CHECK(ft_model_first_trainable(m) == 0);
    ft_model_free(m);

    /* trainable_last */
    t = head(1, FT_FREEZE_TRAINABLE_LAST, 3);
    t.trainable_last = 1;
    m = ft_model_transfer(base, &t, &rng, &kept, &err);
    CHECK(m && ft_model_first_trainable(m) == 3);
    ft_model_free(m);

    /* errors name the field */
    t = head(5, FT_FREEZE_BASE, 3);
    CHECK(!ft_model_transfer(base, &t, &rng, &kept, &err) && strcmp(err.param, "drop_layers") == 0);
    t = head(1, FT_FREEZE_BASE, 3);
    t.cut_after = "nope";
    CHECK(!ft_model_transfer(base, &t, &rng, &kept, &err) && strcmp(err.param, "cut_after") == 0);
    t = head(1, FT_FREEZE_TRAINABLE_LAST, 3);
    t.trainable_last = 9;
    CHECK(!ft_model_transfer(base, &t, &rng, &kept, &err) && strcmp(err.param, "freeze.trainable_last") == 0);
    t = head(1, FT_FREEZE_BASE, 0);
    CHECK(!ft_model_transfer(base, &t, &rng, &kept, &err) && strcmp(err.param, "head.units") == 0);
    ft_model_free(base);
}

/* Re-transferring a fine-tuned model must not reuse head names. */
static void test_unique_head_names(void)
{
    ft_model *base = init_model(BASE, 5);
    ft_rng rng;
    ft_rng_seed(&rng, 1);
    ft_error err = {0};
    ft_transfer t = head(1, FT_FREEZE_BASE, 3);
    t.nhidden = 1;
    t.hidden[0] = 4;
    ft_model *once = ft_model_transfer(base, &t, &rng, NULL, &err);
    ft_model *twice = ft_model_transfer(once, &t, &rng, NULL, &err);
    CHECK(twice != NULL);
    CHECK(ft_model_find_layer(twice, "head_hidden_1") >= 0 && ft_model_find_layer(twice, "head_hidden_1_2") >= 0);
    ft_model_free(twice);
    ft_model_free(once);
    ft_model_free(base);
}

static void test_init_only_new_layers(void)
{
    ft_model *base = init_model(BASE, 5);
    ft_rng rng;
    ft_rng_seed(&rng, 1);
    ft_error err = {0};
    ft_transfer t = head(1, FT_FREEZE_BASE, 3);
    t.init = FT_INIT_ZEROS;
    ft_model *m = ft_model_transfer(base, &t, &rng, NULL, &err);
    ft_layer_info out, hidden;
    ft_model_layer_info(m, 4, &out);
    ft_model_layer_info(m, 3, &hidden);
    const float *p = ft_model_params(m);
    int nonzero = 0;
    for (size_t i = 0; i < out.params; i++)
        nonzero += p[out.param_offset + i] != 0;
    CHECK(nonzero == 0);
    CHECK(memcmp(p + hidden.param_offset, ft_model_params(base) + hidden.param_offset, hidden.params * sizeof(float)) == 0);
    ft_model_free(m);
    ft_model_free(base);
}

/* torch.nn.init formulas: check the sample standard deviation / bounds. */
static void test_init_statistics(void)
{
    ft_model *m = model_from("{\"input\": [400], \"layers\": [{\"type\": \"dense\", \"units\": 300}]}");
    ft_rng rng;
    ft_rng_seed(&rng, 2);
    struct {
        ft_init_scheme s;
        double std;  /* expected standard deviation */
        double bound;/* for uniform: expected max |w|, else 0 */
    } cases[] = {
        {FT_INIT_HE_NORMAL, sqrt(2.0 / 400), 0},
        {FT_INIT_HE_UNIFORM, sqrt(6.0 / 400) / sqrt(3.0), sqrt(6.0 / 400)},
        {FT_INIT_XAVIER_NORMAL, sqrt(2.0 / 700), 0},
        {FT_INIT_XAVIER_UNIFORM, sqrt(6.0 / 700) / sqrt(3.0), sqrt(6.0 / 700)},
        {FT_INIT_LECUN_NORMAL, sqrt(1.0 / 400), 0},
        {FT_INIT_NORMAL, 0.02, 0},
        {FT_INIT_TORCH_DEFAULT, 0.05 / sqrt(3.0), 0.05},
    };
    size_t n = 120000;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        ft_model_init(m, 0, cases[c].s, 0.02, &rng);
        const float *w = ft_model_params(m);
        double sum = 0, sq = 0, mx = 0;
        for (size_t i = 0; i < n; i++) {
            sum += w[i];
            sq += (double)w[i] * w[i];
            mx = fmax(mx, fabs(w[i]));
        }
        double mean = sum / (double)n, sd = sqrt(sq / (double)n - mean * mean);
        CHECKF(fabs(sd / cases[c].std - 1) < 0.02, "%s: std %g want %g", ft_init_name(cases[c].s), sd, cases[c].std);
        CHECK(fabs(mean) < 0.02 * cases[c].std + 1e-4);
        if (cases[c].bound > 0)
            CHECK(mx <= cases[c].bound && mx > 0.99 * cases[c].bound);
        double bias_max = 0;
        for (size_t i = n; i < n + 300; i++)
            bias_max = fmax(bias_max, fabs(w[i]));
        if (cases[c].s == FT_INIT_TORCH_DEFAULT) /* torch also draws biases from U(+-1/sqrt(fan_in)) */
            CHECK(bias_max > 0.04 && bias_max <= 0.05);
        else
            CHECK(bias_max == 0);
    }
    ft_model_free(m);
}

/* Frozen layers stay bitwise identical through training with momentum and
 * weight decay; backward does not compute gradients below the lowest
 * trainable layer. */
static void test_frozen_means_frozen(void)
{
    ft_model *base = init_model(BASE, 5);
    ft_rng rng;
    ft_rng_seed(&rng, 3);
    ft_error err = {0};
    ft_transfer t = head(1, FT_FREEZE_BASE, 3);
    ft_model *m = ft_model_transfer(base, &t, &rng, NULL, &err);
    size_t toff = ft_model_trainable_offset(m), total = ft_model_num_params(m);
    float *before = malloc(total * sizeof(float));
    memcpy(before, ft_model_params(m), total * sizeof(float));
    /* poison the frozen gradients: backward must not touch them */
    float *g = ft_model_grads(m);
    for (size_t i = 0; i < toff; i++)
        g[i] = 12345.0f;
    ft_dataset *ds = blobs_dataset(60, 3, 9);
    ft_preproc pp;
    ft_preproc_init(&pp, ds);
    ft_train_config cfg = {.loss = FT_LOSS_CROSS_ENTROPY, .batch_size = 16, .epochs = 3, .seed = 1,
                           .optim = {.type = FT_OPT_SGD, .lr = 0.05, .momentum = 0.9, .weight_decay = 0.01}};
    ft_trainer *tr = ft_trainer_new(m, ds, NULL, &pp, &cfg, &err);
    CHECK(tr && ft_trainer_run(tr, NULL, &err) == 0);
    CHECK(memcmp(before, ft_model_params(m), toff * sizeof(float)) == 0);
    CHECK(memcmp(before + toff, ft_model_params(m) + toff, (total - toff) * sizeof(float)) != 0);
    for (size_t i = 0; i < toff; i++)
        if (g[i] != 12345.0f) {
            CHECKF(0, "gradient %zu below the trainable layers was computed", i);
            break;
        }
    ft_trainer_free(tr);
    free(before);
    ft_dataset_free(ds);
    ft_model_free(m);
    ft_model_free(base);
}

int main(void)
{
    RUN(test_drop_and_head);
    RUN(test_unique_head_names);
    RUN(test_init_only_new_layers);
    RUN(test_init_statistics);
    RUN(test_frozen_means_frozen);
    return TEST_SUMMARY();
}
