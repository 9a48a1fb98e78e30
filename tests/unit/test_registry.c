/* The registries and enum names: every name maps to its value and back,
 * every layer type's canonical JSON reads back to itself, and every
 * optimiser's defaults lie inside the ranges the spec accepts. A new row in
 * core/nn/registry.h is covered here without editing this file. */
#include <stddef.h>

#include "core/nn/loss.h"
#include "core/nn/model.h"
#include "core/nn/optim.h"
#include "core/util/names.h"
#include "tests/unit/test.h"

/* names[v] parses back to v, and nothing else does. */
static void check_table(const char *const *names, int n)
{
    for (int v = 0; v < n; v++) {
        CHECKF(names[v] && *names[v], "value %d has no name", v);
        CHECKF(ft_names_find(names, n, names[v]) == v, "%s", names[v]);
    }
    CHECK(ft_names_find(names, n, "no such name") == -1);
    CHECK(ft_names_find(names, n, "") == -1);
    CHECK(ft_names_find(names, n, NULL) == -1);
}

static void test_name_tables(void)
{
    check_table(ft_layer_type_names, FT_LAYER_COUNT);
    check_table(ft_activation_names, FT_ACT_COUNT);
    check_table(ft_init_names, FT_INIT_COUNT);
    check_table(ft_loss_names, FT_LOSS_COUNT);
    check_table(ft_optim_names, FT_OPT_COUNT);
    check_table(ft_freeze_names, FT_FREEZE_COUNT);
    /* The typed parsers agree with the tables and leave *out alone on failure. */
    ft_activation a = FT_ACT_TANH;
    CHECK(ft_activation_parse("relu", &a) == 0 && a == FT_ACT_RELU);
    CHECK(ft_activation_parse("Relu", &a) == -1 && a == FT_ACT_RELU);
    ft_optim_type o;
    CHECK(ft_optim_parse("adamw", &o) == 0 && o == FT_OPT_ADAMW && strcmp(ft_optim_name(o), "adamw") == 0);
    ft_loss_type l;
    CHECK(ft_loss_parse("huber", &l) == 0 && l == FT_LOSS_HUBER);
    ft_init_scheme i;
    CHECK(ft_init_parse("torch_default", &i) == 0 && i == FT_INIT_TORCH_DEFAULT);
    ft_freeze_policy f;
    CHECK(ft_freeze_parse("none", &f) == 0 && f == FT_FREEZE_NONE);
    ft_layer_type t;
    CHECK(ft_layer_type_parse("global_avgpool2d", &t) == 0 && t == FT_LAYER_GLOBAL_AVGPOOL2D);
}

static bool odd(int v) { return v % 2 == 1; }

static void test_join(void)
{
    static const char *const names[] = {"a", "b", "c", "d"};
    char buf[64];
    CHECK(strcmp(ft_names_join(names, 4, NULL, " or ", buf, sizeof buf), "a, b, c or d") == 0);
    CHECK(strcmp(ft_names_join(names, 4, NULL, ", ", buf, sizeof buf), "a, b, c, d") == 0);
    CHECK(strcmp(ft_names_join(names, 4, odd, " and ", buf, sizeof buf), "b and d") == 0);
    CHECK(strcmp(ft_names_join(names, 1, NULL, " or ", buf, sizeof buf), "a") == 0);
    CHECK(strcmp(ft_names_join(names, 0, NULL, " or ", buf, sizeof buf), "") == 0);
    /* Cut short, still terminated. */
    CHECK(strcmp(ft_names_join(names, 4, NULL, " or ", buf, 6), "a, b,") == 0);
}

/* One layer of every type (on an input it accepts) survives JSON -> model ->
 * canonical JSON -> model -> JSON unchanged, and has a name, shape and params. */
static void test_layer_round_trip(void)
{
    static const char *const inputs[] = {"[6]", "[2, 6, 6]"};
    int built = 0;
    for (int t = 0; t < FT_LAYER_COUNT; t++)
        for (size_t in = 0; in < sizeof inputs / sizeof *inputs; in++) {
            char text[256];
            /* Required keys of the types that have them; the others take defaults. */
            const char *extra = t == FT_LAYER_DENSE ? ", \"units\": 3" : t == FT_LAYER_CONV2D ? ", \"filters\": 2, \"kernel\": 3" : "";
            snprintf(text, sizeof text, "{\"input\": %s, \"layers\": [{\"type\": \"%s\"%s}]}", inputs[in],
                     ft_layer_type_name((ft_layer_type)t), extra);
            json_t *arch = json_loads(text, 0, NULL);
            ft_error err = {0};
            ft_model *m = ft_model_from_json(arch, "", &err);
            json_decref(arch);
            if (!m)
                continue; /* this type does not take this input */
            built++;
            ft_layer_info li;
            ft_model_layer_info(m, 0, &li);
            CHECKF(li.type == (ft_layer_type)t && li.params == ft_model_num_params(m), "%s", text);
            CHECKF(li.has_params == (li.params > 0), "%s", text);
            json_t *once = ft_model_arch_json(m);
            ft_model *again = ft_model_from_json(once, "", &err);
            CHECKF(again != NULL, "%s: %s", text, err.msg);
            json_t *twice = again ? ft_model_arch_json(again) : NULL;
            CHECKF(twice && json_equal(once, twice), "%s", text);
            json_decref(once), json_decref(twice);
            ft_model_free(again), ft_model_free(m);
        }
    CHECKF(built >= FT_LAYER_COUNT, "only %d of the layer types built", built);
}

/* Defaults inside the ranges; a config built from them passes the checks. */
static void test_optimizer_defaults(void)
{
    for (int t = 0; t < FT_OPT_COUNT; t++) {
        ft_optim_config cfg;
        ft_optim_defaults(&cfg, (ft_optim_type)t);
        CHECK(cfg.type == (ft_optim_type)t);
        int keys = 0;
        for (const ft_optim_key *k = ft_optim_keys((ft_optim_type)t); k->name; k++, keys++) {
            CHECKF(k->flag || (k->def >= k->lo && k->def <= k->hi), "%s.%s", ft_optim_name(cfg.type), k->name);
            CHECKF(k->offset + (k->flag ? sizeof(bool) : sizeof(double)) <= sizeof cfg, "%s", k->name);
        }
        CHECKF(keys > 0 && strcmp(ft_optim_keys((ft_optim_type)t)[0].name, "lr") == 0, "%s", ft_optim_name(cfg.type));
        ft_error err = {0};
        CHECKF(ft_optim_check(&cfg, "optimizer", &err) == 0, "%s: %s", ft_optim_name(cfg.type), err.msg);
        ft_optim *o = ft_optim_new(&cfg, 10, &err);
        CHECK(o != NULL);
        float p[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, g[10] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
        ft_optim_step(o, p, g);
        CHECKF(p[0] < 1 && *ft_optim_steps(o) == 1, "%s did not step", ft_optim_name(cfg.type));
        ft_optim_free(o);
    }
    /* The defaults torch uses. */
    ft_optim_config c;
    ft_optim_defaults(&c, FT_OPT_SGD);
    CHECK(c.lr == 0.01 && c.momentum == 0.9 && !c.nesterov && c.weight_decay == 0);
    ft_optim_defaults(&c, FT_OPT_ADAMW);
    CHECK(c.lr == 0.001 && c.beta1 == 0.9 && c.beta2 == 0.999 && c.eps == 1e-8 && c.weight_decay == 0.01);
    c = (ft_optim_config){.type = FT_OPT_SGD, .lr = 0.1, .nesterov = true};
    ft_error err = {0};
    CHECK(ft_optim_check(&c, "optimizer", &err) != 0 && strcmp(err.param, "optimizer.nesterov") == 0);
}

int main(void)
{
    RUN(test_name_tables);
    RUN(test_join);
    RUN(test_layer_round_trip);
    RUN(test_optimizer_defaults);
    return TEST_SUMMARY();
}
