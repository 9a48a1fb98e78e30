/* Our numbers against PyTorch's: forward outputs, input and weight
 * gradients, losses, three steps of every optimiser and a small CNN trained
 * end to end. The fixtures come from tools/gen_fixtures.py (see
 * tests/fixtures/README.md); every value must match to a relative error of
 * 1e-4 (the denominator is floored at 1e-3 of the array's largest value so
 * that entries near zero are compared on the array's scale). */
#include <stdlib.h>
#include <string.h>

#include "core/nn/loss.h"
#include "core/nn/model.h"
#include "core/nn/optim.h"
#include "tests/unit/fixture_compare.h"
#include "tests/unit/test.h"

#define RTOL 1e-4

static json_t *load(const char *file)
{
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/%s", file);
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    if (!j)
        fprintf(stderr, "%s: %s\n", path, jerr.text);
    return json_object_get(j, "cases") ? j : NULL;
}

/* Compare got[0..n) with the reference array (floor 1e-3, see above). */
static void compare(const char *what, const char *name, const float *got, const json_t *ref)
{
    fixture_compare(what, name, got, ref, RTOL, 1e-3);
}

static ft_model *model_with_params(const json_t *c)
{
    ft_error err = {0};
    ft_model *m = ft_model_from_json(json_object_get(c, "architecture"), "architecture", &err);
    if (!m) {
        fprintf(stderr, "%s: %s %s\n", json_string_value(json_object_get(c, "name")), err.param, err.msg);
        return NULL;
    }
    const json_t *params = json_object_get(c, "params");
    for (int i = 0; i < ft_model_num_layers(m); i++) {
        ft_layer_info li;
        ft_model_layer_info(m, i, &li);
        if (!li.has_params)
            continue;
        char key[96];
        size_t n;
        snprintf(key, sizeof key, "%s.weight", li.name);
        float *w = fixture_floats(json_object_get(params, key), &n);
        size_t nb = (size_t)ft_shape_size(li.output.rank == 3 ? ft_shape1(li.output.dim[0]) : li.output);
        memcpy(ft_model_params(m) + li.param_offset, w, n * sizeof(float));
        free(w);
        snprintf(key, sizeof key, "%s.bias", li.name);
        float *b = fixture_floats(json_object_get(params, key), &n);
        CHECK(n == nb);
        memcpy(ft_model_params(m) + li.param_offset + li.params - n, b, n * sizeof(float));
        free(b);
    }
    return m;
}

/* Compare the model's gradients (or parameters) with a {"<layer>.weight": ...} map. */
static void compare_named(const char *what, const char *name, ft_model *m, const float *flat, const json_t *ref)
{
    for (int i = 0; i < ft_model_num_layers(m); i++) {
        ft_layer_info li;
        ft_model_layer_info(m, i, &li);
        if (!li.has_params)
            continue;
        char key[96], label[128];
        snprintf(key, sizeof key, "%s.weight", li.name);
        const json_t *w = json_object_get(ref, key);
        snprintf(label, sizeof label, "%s %s", what, key);
        compare(label, name, flat + li.param_offset, w);
        snprintf(key, sizeof key, "%s.bias", li.name);
        snprintf(label, sizeof label, "%s %s", what, key);
        compare(label, name, flat + li.param_offset + json_array_size(w), json_object_get(ref, key));
    }
}

/* Run one(case, its name) on every case of a fixture file; returns how
 * many ran through (one returns false for a case it could not set up). */
static int each_case(const char *file, bool (*one)(const json_t *c, const char *name))
{
    json_t *f = load(file);
    CHECK(f != NULL);
    size_t i;
    json_t *c;
    int ran = 0;
    json_array_foreach(json_object_get(f, "cases"), i, c)
        ran += one(c, json_string_value(json_object_get(c, "name")));
    json_decref(f);
    return ran;
}

static bool layer_case(const json_t *c, const char *name)
{
    ft_model *m = model_with_params(c);
    CHECKF(m != NULL, "%s", name);
    if (!m)
        return false;
    int batch = (int)json_integer_value(json_object_get(c, "batch"));
    size_t nx, ny;
    float *x = fixture_floats(json_object_get(c, "x"), &nx), *dy = fixture_floats(json_object_get(c, "dy"), &ny);
    float *dx = calloc(nx, sizeof *dx);
    ft_error err = {0};
    ft_workspace *ws = ft_workspace_new(m, 0, batch, &err);
    const float *y = ft_model_forward(m, ws, x, batch, 0, NULL);
    compare("forward", name, y, json_object_get(c, "y"));
    ft_model_backward(m, ws, dy, dx);
    compare("dx", name, dx, json_object_get(c, "dx"));
    compare_named("grad", name, m, ft_model_grads(m), json_object_get(c, "grads"));
    ft_workspace_free(ws);
    ft_model_free(m);
    free(x), free(dy), free(dx);
    return true;
}

static void test_layers(void)
{
    CHECK(each_case("layers.json", layer_case) >= 20);
}

static bool loss_case(const json_t *c, const char *name)
{
    ft_loss_type t;
    CHECK(ft_loss_parse(json_string_value(json_object_get(c, "loss")), &t) == 0);
    int batch = (int)json_integer_value(json_object_get(c, "batch"));
    int units = (int)json_integer_value(json_object_get(c, "units"));
    size_t n, nt;
    float *in = fixture_floats(json_object_get(c, "input"), &n);
    float *tg = fixture_floats(json_object_get(c, "target"), &nt);
    int32_t *labels = malloc(sizeof *labels * nt);
    for (size_t k = 0; k < nt; k++)
        labels[k] = (int32_t)tg[k];
    float *grad = malloc(sizeof *grad * n);
    double v = ft_loss_compute(t, 1.0, in, labels, tg, batch, units, grad);
    CHECK_CLOSE(v, json_number_value(json_object_get(c, "loss_value")), RTOL, 1e-6);
    compare("grad", name, grad, json_object_get(c, "grad"));
    free(in), free(tg), free(labels), free(grad);
    return true;
}

static void test_losses(void)
{
    each_case("losses.json", loss_case);
}

static int parse_optimizer(const json_t *o, ft_optim_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    if (ft_optim_parse(json_string_value(json_object_get(o, "type")), &cfg->type) != 0)
        return -1;
    cfg->lr = json_number_value(json_object_get(o, "lr"));
    cfg->momentum = json_number_value(json_object_get(o, "momentum"));
    cfg->nesterov = json_is_true(json_object_get(o, "nesterov"));
    cfg->weight_decay = json_number_value(json_object_get(o, "weight_decay"));
    cfg->beta1 = json_number_value(json_object_get(o, "beta1"));
    cfg->beta2 = json_number_value(json_object_get(o, "beta2"));
    cfg->eps = json_number_value(json_object_get(o, "eps"));
    return 0;
}

/* One full training step on (x, labels|targets); returns the loss. */
static double step(ft_model *m, ft_workspace *ws, ft_optim *opt, ft_loss_type loss, const float *x,
                   const int32_t *labels, const float *targets, int batch, float *grad)
{
    int units = (int)ft_shape_size(ft_model_output_shape(m));
    const float *out = ft_model_forward(m, ws, x, batch, FT_FWD_TRAIN | (ft_loss_fused(loss) ? FT_FWD_LOGITS : 0), NULL);
    double l = ft_loss_compute(loss, 1.0, out, labels, targets, batch, units, grad);
    ft_model_backward(m, ws, grad, NULL);
    ft_optim_step(opt, ft_model_params(m), ft_model_grads(m));
    return l;
}

static bool optimiser_case(const json_t *c, const char *name)
{
    ft_model *m = model_with_params(c);
    ft_optim_config cfg;
    CHECK(parse_optimizer(json_object_get(c, "optimizer"), &cfg) == 0);
    ft_error err = {0};
    ft_optim *opt = ft_optim_new(&cfg, ft_model_num_params(m), &err);
    int batch = (int)json_integer_value(json_object_get(c, "batch"));
    size_t nx, nl;
    float *x = fixture_floats(json_object_get(c, "x"), &nx), *lf = fixture_floats(json_object_get(c, "labels"), &nl);
    int32_t labels[64];
    for (size_t k = 0; k < nl; k++)
        labels[k] = (int32_t)lf[k];
    float grad[256];
    ft_workspace *ws = ft_workspace_new(m, 0, batch, &err);
    for (int s = 0; s < 3; s++) {
        double l = step(m, ws, opt, FT_LOSS_CROSS_ENTROPY, x, labels, NULL, batch, grad);
        CHECK_CLOSE(l, json_number_value(json_array_get(json_object_get(c, "losses"), (size_t)s)), RTOL, 1e-6);
        char what[32];
        snprintf(what, sizeof what, "params after step %d", s + 1);
        compare_named(what, name, m, ft_model_params(m), json_array_get(json_object_get(c, "params_after"), (size_t)s));
    }
    ft_workspace_free(ws);
    ft_optim_free(opt);
    ft_model_free(m);
    free(x), free(lf);
    return true;
}

static void test_optimisers(void)
{
    CHECK(each_case("optim.json", optimiser_case) == 7);
}

static bool end_to_end_case(const json_t *c, const char *name)
{
    ft_model *m = model_with_params(c);
    ft_optim_config cfg;
    ft_loss_type loss;
    CHECK(parse_optimizer(json_object_get(c, "optimizer"), &cfg) == 0);
    CHECK(ft_loss_parse(json_string_value(json_object_get(c, "loss")), &loss) == 0);
    ft_error err = {0};
    ft_optim *opt = ft_optim_new(&cfg, ft_model_num_params(m), &err);
    int batch = (int)json_integer_value(json_object_get(c, "batch"));
    ft_workspace *ws = ft_workspace_new(m, 0, batch, &err);
    float grad[256];
    size_t b;
    json_t *bj;
    json_array_foreach(json_object_get(c, "batches"), b, bj) {
        size_t nx, nt = 0;
        float *x = fixture_floats(json_object_get(bj, "x"), &nx);
        float *t = json_object_get(bj, "targets") ? fixture_floats(json_object_get(bj, "targets"), &nt)
                                                   : fixture_floats(json_object_get(bj, "labels"), &nt);
        int32_t labels[64];
        for (size_t k = 0; k < nt && k < 64; k++)
            labels[k] = (int32_t)t[k];
        if (b == 0) {
            compare("y0", name, ft_model_forward(m, ws, x, batch, 0, NULL), json_object_get(c, "y0"));
            int units = (int)ft_shape_size(ft_model_output_shape(m));
            const float *out = ft_model_forward(m, ws, x, batch, ft_loss_fused(loss) ? FT_FWD_LOGITS : 0, NULL);
            ft_loss_compute(loss, 1.0, out, labels, t, batch, units, grad);
            ft_model_backward(m, ws, grad, NULL);
            compare_named("grads0", name, m, ft_model_grads(m), json_object_get(c, "grads0"));
        }
        double l = step(m, ws, opt, loss, x, labels, t, batch, grad);
        CHECK_CLOSE(l, json_number_value(json_array_get(json_object_get(c, "losses"), b)), RTOL, 1e-6);
        free(x), free(t);
    }
    compare_named("params_after", name, m, ft_model_params(m), json_object_get(c, "params_after"));
    ft_workspace_free(ws);
    ft_optim_free(opt);
    ft_model_free(m);
    return true;
}

static void test_end_to_end(void)
{
    each_case("cnn.json", end_to_end_case);
}

int main(void)
{
    RUN(test_layers);
    RUN(test_losses);
    RUN(test_optimisers);
    RUN(test_end_to_end);
    return TEST_SUMMARY();
}
