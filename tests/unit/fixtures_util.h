/* Small synthetic datasets and models shared by the training tests. */
#ifndef FT_TEST_FIXTURES_UTIL_H
#define FT_TEST_FIXTURES_UTIL_H

#include "core/data/dataset.h"
#include "core/nn/model.h"
#include "core/util/rng.h"

/* n images [1, 8, 8] in `classes` classes; class c is a bright blob at a
 * class-specific position plus noise, so a small CNN learns it quickly. */
static inline ft_dataset *blobs_dataset(size_t n, int classes, uint64_t seed)
{
    ft_error err = {0};
    ft_dataset *ds = ft_dataset_new(n, ft_shape3(1, 8, 8), FT_X_U8, FT_TARGET_CLASSES, classes, &err);
    ft_rng rng;
    ft_rng_seed(&rng, seed);
    uint8_t *x = ft_dataset_x_u8(ds);
    int32_t *y = ft_dataset_labels(ds);
    for (size_t i = 0; i < n; i++) {
        int c = (int)(i % (size_t)classes);
        y[i] = c;
        int cy = 1 + (c * 3) % 6, cx = 1 + (c * 5) % 6;
        for (int p = 0; p < 64; p++) {
            int py = p / 8, px = p % 8;
            int d2 = (py - cy) * (py - cy) + (px - cx) * (px - cx);
            double v = (d2 <= 2 ? 200 : 20) + 40 * ft_rng_uniform(&rng);
            x[i * 64 + (size_t)p] = (uint8_t)v;
        }
    }
    return ds;
}

static inline ft_model *model_from(const char *json)
{
    json_t *j = json_loads(json, 0, NULL);
    ft_error err = {0};
    ft_model *m = ft_model_from_json(j, "", &err);
    json_decref(j);
    return m;
}

/* The model of json, He-normal initialised from seed. */
static inline ft_model *init_model(const char *json, uint64_t seed)
{
    ft_model *m = model_from(json);
    ft_rng rng;
    ft_rng_seed(&rng, seed);
    ft_model_init(m, 0, FT_INIT_HE_NORMAL, 0, &rng);
    return m;
}

/* A transfer model on blobs_dataset's [1, 8, 8] images: a small CNN base
 * cut before its hidden layer and frozen (the conv is a cacheable prefix),
 * with a new hidden layer of 12 and a 3-way softmax head. */
static inline ft_model *frozen_transfer_model(void)
{
    ft_model *base = model_from(
        "{\"input\": [1, 8, 8], \"layers\": ["
        "{\"name\": \"conv1\", \"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"padding\": 1, \"activation\": \"relu\"},"
        "{\"type\": \"maxpool2d\", \"size\": 2}, {\"type\": \"flatten\"},"
        "{\"name\": \"hidden\", \"type\": \"dense\", \"units\": 16, \"activation\": \"relu\"},"
        "{\"name\": \"out\", \"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}]}");
    ft_rng rng;
    ft_rng_seed(&rng, 12);
    ft_model_init(base, 0, FT_INIT_HE_NORMAL, 0, &rng);
    ft_transfer t = {.drop_layers = 2, .freeze = FT_FREEZE_BASE, .nhidden = 1, .hidden = {12},
                     .hidden_activation = FT_ACT_RELU, .output = FT_ACT_SOFTMAX, .units = 3,
                     .init = FT_INIT_HE_NORMAL};
    ft_error err = {0};
    ft_model *m = ft_model_transfer(base, &t, &rng, NULL, &err);
    ft_model_free(base);
    return m;
}

#endif
