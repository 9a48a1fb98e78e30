/* The job memory estimate (core/job/job_memory.c) against hand-computed cases,
 * and layouts that plan without allocating parameters. */
#include "core/job/spec.h"
#include "test.h"

static json_t *mlp(void)
{
    /* 10 -> dense 20 -> dense 3: 10*20+20 + 20*3+3 = 283 parameters. */
    return json_loads("{\"input\": [10], \"layers\": [{\"type\": \"dense\", \"units\": 20, \"activation\": \"relu\"},"
                      " {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}]}",
                      0, NULL);
}

/* Parameters x (weights + gradients + optimiser state), with one thread and no data. */
static void test_mlp_parameter_bytes(void)
{
    json_t *arch = mlp();
    ft_error err = {0};
    ft_model *m = ft_model_layout_from_json(arch, "architecture", &err);
    CHECK(m && ft_model_num_params(m) == 283 && ft_model_cparams(m) == NULL);
    ft_train_config c = {.batch_size = 1, .optim = {.type = FT_OPT_ADAM}};
    ft_job_shape shape = {.model = m, .train = &c, .train_rows = 1};
    ft_job_memory est;
    ft_job_memory_estimate(&shape, &est);
    CHECK(est.weights == 283 * 4 && est.gradients == 283 * 4 && est.optimizer == 2 * 283 * 4);
    c.optim = (ft_optim_config){.type = FT_OPT_SGD, .momentum = 0.9};
    ft_job_memory_estimate(&shape, &est);
    CHECK(est.optimizer == 283 * 4);
    c.optim.momentum = 0;
    ft_job_memory_estimate(&shape, &est);
    CHECK(est.optimizer == 0);
    /* Three data-parallel shards: two extra gradient arrays. */
    c.threads = 3;
    ft_job_memory_estimate(&shape, &est);
    CHECK(est.gradients == 3 * 283 * 4);
    CHECK(est.total == est.weights + est.gradients + est.optimizer + est.activations + est.cache + est.data);
    ft_model_free(m);
    json_decref(arch);
}

/* Activations grow with the batch: each layer's outputs, the two gradient
 * buffers of the widest layer, and the batch buffers (idx, x, labels, two
 * target-sized arrays). */
static void test_activations_per_batch(void)
{
    json_t *arch = mlp();
    ft_error err = {0};
    ft_model *m = ft_model_layout_from_json(arch, "architecture", &err);
    ft_train_config c = {.batch_size = 16, .optim = {.type = FT_OPT_SGD}};
    ft_job_shape shape = {.model = m, .train = &c, .train_rows = 100};
    ft_job_memory est;
    ft_job_memory_estimate(&shape, &est);
    size_t ws = 16 * 20 + 16 * 3 + 2 * 16 * 20; /* rows * (20 + 3) outputs, 2 * rows * widest (20) */
    size_t buffers = 16 * (4 + 10 * 4 + 4 + 2 * 3 * 4);
    CHECKF(est.activations == ws * 4 + buffers, "%zu != %zu", est.activations, ws * 4 + buffers);
    ft_model_free(m);
    json_decref(arch);
}

/* Rows of a dataset: uint8 pixels stay bytes, labels are int32. */
static void test_dataset_bytes(void)
{
    ft_data_info img = {.rows = 1000, .shape = ft_shape3(1, 28, 28), .xtype = FT_X_U8, .kind = FT_TARGET_CLASSES};
    CHECK(ft_data_info_bytes(&img, 1000) == 1000 * (784 + 4));
    ft_data_info tab = {.rows = 10, .shape = ft_shape1(5), .xtype = FT_X_F32, .kind = FT_TARGET_VALUES, .target_dim = 2};
    CHECK(ft_data_info_bytes(&tab, 10) == 10 * (5 * 4 + 2 * 4));
    /* Saturates rather than wrapping. */
    CHECK(ft_data_info_bytes(&img, SIZE_MAX / 2) == SIZE_MAX);
}

/* A 4e9-parameter architecture is refused as too big, a 1e9 one plans as a
 * layout without allocating 4 GB (valgrind would report the allocation). */
static void test_layouts_do_not_allocate(void)
{
    json_t *arch = json_loads("{\"input\": [1000], \"layers\": [{\"type\": \"dense\", \"units\": 1000000},"
                              " {\"type\": \"dense\", \"units\": 2}]}",
                              0, NULL);
    ft_error err = {0};
    ft_model *m = ft_model_layout_from_json(arch, "architecture", &err);
    CHECK(m && ft_model_num_params(m) == 1000 * 1000000 + 1000000 + 2 * 1000000 + 2);
    ft_model_free(m);
    json_decref(arch);
    arch = json_loads("{\"input\": [65536, 65536, 1], \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 2}]}",
                      0, NULL);
    CHECK(!ft_model_layout_from_json(arch, "architecture", &err) && strcmp(err.param, "architecture") == 0);
    json_decref(arch);
}

int main(void)
{
    RUN(test_mlp_parameter_bytes);
    RUN(test_activations_per_batch);
    RUN(test_dataset_bytes);
    RUN(test_layouts_do_not_allocate);
    return TEST_SUMMARY();
}
