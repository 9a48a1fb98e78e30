/* Sweeps without a server: the grid's expansion (order, dotted keys, labels,
 * names, seeds, refusals) and the leaderboard's statistics and ranking. */
#include <jansson.h>

#include "server/sweeps/sweep.h"
#include "tests/unit/test.h"

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);
    if (!v)
        fprintf(stderr, "bad test JSON: %s\n", e.text);
    return v;
}

/* The body of text, expanded into *p (up to 64 jobs); the caller frees
 * both (the plan borrows the body's metric). */
static json_t *expand(const char *text, ft_sweep_plan *p)
{
    json_t *body = parse(text);
    ft_error err = {0};
    CHECKF(ft_sweep_expand(body, 64, p, &err) == 0, "%s", err.msg);
    return body;
}

static const char *spec_str(const ft_sweep_plan *p, size_t i, const char *key)
{
    return json_string_value(json_object_get(json_object_get(json_array_get(p->variants, i), "spec"), key));
}

static void test_grid_expands_first_key_slowest(void)
{
    ft_sweep_plan p;
    json_t *body = expand("{\"name\": \"t\", \"seeds\": [0, 1, 2], \"spec\": {\"dataset\": \"ds_x\", \"test\": "
                         "\"ds_x\", \"seed\": 7, \"optimizer\": {\"type\": \"sgd\"}}, \"grid\": {\"drop_layers\": [1, "
                         "2], \"init\": [\"he_normal\", \"zeros\"], \"optimizer.lr\": [0.1]}}", &p);
    CHECK(json_array_size(p.variants) == 4 && json_array_size(p.seeds) == 3);
    CHECK(strcmp(p.metric, "test.accuracy") == 0 && p.higher_better);
    const char *labels[] = {"drop_layers=1 init=he_normal optimizer.lr=0.1", "drop_layers=1 init=zeros optimizer.lr=0.1",
                            "drop_layers=2 init=he_normal optimizer.lr=0.1", "drop_layers=2 init=zeros optimizer.lr=0.1"};
    for (size_t i = 0; i < 4; i++) {
        json_t *v = json_array_get(p.variants, i), *spec = json_object_get(v, "spec");
        CHECKF(strcmp(json_string_value(json_object_get(v, "label")), labels[i]) == 0, "%s",
               json_string_value(json_object_get(v, "label")));
        CHECK(json_integer_value(json_object_get(spec, "drop_layers")) == (json_int_t)(1 + i / 2));
        CHECK(strcmp(spec_str(&p, i, "init"), i % 2 ? "zeros" : "he_normal") == 0);
        /* the dotted key set lr and kept the optimizer's type */
        json_t *opt = json_object_get(spec, "optimizer");
        CHECK(json_real_value(json_object_get(opt, "lr")) == 0.1 &&
              strcmp(json_string_value(json_object_get(opt, "type")), "sgd") == 0);
        CHECK(json_object_get(spec, "seed") == NULL); /* each job sets its own */
        CHECK(strncmp(spec_str(&p, i, "name"), "t: drop_layers=", 15) == 0);
        CHECK(json_integer_value(json_object_get(json_object_get(v, "values"), "drop_layers")) == (json_int_t)(1 + i / 2));
    }
    ft_sweep_plan_free(&p);
    json_decref(body);
}

static void test_defaults_and_missing_objects_on_a_path(void)
{
    ft_sweep_plan p;
    json_t *body = expand("{\"spec\": {\"dataset\": \"ds_x\", \"validation\": {\"split\": 0.2}, \"seed\": 5}, "
                         "\"grid\": {\"head.hidden\": [[], [64]]}, \"metric\": \"validation.loss\"}", &p);
    CHECK(!p.higher_better && json_array_size(p.seeds) == 1 &&
          json_integer_value(json_array_get(p.seeds, 0)) == 5); /* the spec's seed */
    json_t *head = json_object_get(json_object_get(json_array_get(p.variants, 1), "spec"), "head");
    CHECK(json_is_array(json_object_get(head, "hidden")) && json_array_size(json_object_get(head, "hidden")) == 1);
    CHECK(strncmp(spec_str(&p, 1, "name"), "sweep: head.hidden=[64]", 23) == 0);
    ft_sweep_plan_free(&p);
    json_decref(body);
}

/* A tied key sets its fields together; each is a value of its own. */
static void test_tied_keys_vary_fields_together(void)
{
    ft_sweep_plan p;
    json_t *body = expand("{\"spec\": {\"test\": \"ds\"}, \"grid\": {\"drop_layers,head.hidden\": [[1, []], [2, "
                         "[128]]], \"init\": [\"he_normal\", \"zeros\"]}}", &p);
    CHECK(json_array_size(p.variants) == 4);
    json_t *v = json_array_get(p.variants, 3), *spec = json_object_get(v, "spec");
    CHECK(json_integer_value(json_object_get(spec, "drop_layers")) == 2);
    CHECK(json_integer_value(json_array_get(json_object_get(json_object_get(spec, "head"), "hidden"), 0)) == 128);
    CHECK(json_object_size(json_object_get(v, "values")) == 3);
    CHECKF(strcmp(json_string_value(json_object_get(v, "label")), "drop_layers=2 head.hidden=[128] init=zeros") == 0,
           "%s", json_string_value(json_object_get(v, "label")));
    ft_sweep_plan_free(&p);
    json_decref(body);
    /* null leaves a field out: freeze and epochs swap with phases. */
    body = expand("{\"spec\": {\"test\": \"ds\", \"epochs\": 5}, \"grid\": {\"freeze,epochs,phases\": "
                  "[[\"base\", 30, null], [null, null, [{\"epochs\": 2}]]]}}", &p);
    json_t *one = json_object_get(json_array_get(p.variants, 0), "spec");
    json_t *two = json_object_get(json_array_get(p.variants, 1), "spec");
    CHECK(json_integer_value(json_object_get(one, "epochs")) == 30 && !json_object_get(one, "phases"));
    CHECK(!json_object_get(two, "freeze") && !json_object_get(two, "epochs") &&
          json_array_size(json_object_get(two, "phases")) == 1);
    ft_sweep_plan_free(&p);
    json_decref(body);
}

/* A body the expansion refuses: its job limit, the param and a word of the
 * message. */
static const struct {
    const char *body;
    size_t max_jobs;
    const char *param, *word;
} refusals[] = {
    {"{\"spec\": {\"test\": \"ds\"}, \"grid\": {}}", 64, "grid", "at least one"},
    {"{\"spec\": {\"test\": \"ds\"}, \"grid\": {\"epochs\": 3}}", 64, "grid.epochs", "non-empty array"},
    {"{\"spec\": {\"test\": \"ds\"}, \"grid\": {\"seed\": [1]}}", 64, "grid.seed", "seeds"},
    {"{\"spec\": {\"test\": \"ds\"}, \"grid\": {\"name\": [\"a\"]}}", 64, "grid.name", "name"},
    {"{\"spec\": {\"test\": \"ds\"}, \"grid\": {\"webhook.url\": [\"u\"]}}", 64, "grid.webhook.url", "webhook"},
    {"{\"spec\": {\"test\": \"ds\", \"webhook\": {}}, \"grid\": {\"epochs\": [1]}}", 64, "spec.webhook", "endpoint"},
    {"{\"spec\": {\"test\": \"ds\"}, \"grid\": {\"a.\": [1]}}", 64, "grid.a.", "empty part"},
    {"{\"spec\": {\"test\": \"ds\"}, \"grid\": {\"epochs,seed\": [[1, 2]]}}", 64, "grid.epochs,seed", "seeds"},
    {"{\"spec\": {\"test\": \"ds\"}, \"grid\": {\"a,b\": [[1, 2], [3]]}}", 64, "grid.a,b", "array of 2 values"},
    {"{\"spec\": {\"test\": \"ds\"}, \"grid\": {\"a,b\": [5]}}", 64, "grid.a,b", "array of 2 values"},
    {"{\"spec\": {\"test\": \"ds\"}, \"grid\": {\".a\": [1]}}", 64, "grid..a", "empty"},
    {"{\"spec\": {\"test\": \"ds\", \"head\": 3}, \"grid\": {\"head.units\": [1]}}", 64, "grid.head.units", "not an object"},
    {"{\"spec\": {\"test\": \"ds\"}, \"grid\": {\"epochs\": [1, 2, 3]}, \"seeds\": [1, 2]}", 5, "grid", "--max-sweep-jobs"},
    {"{\"spec\": {\"test\": \"ds\"}, \"grid\": {\"a\": [1, 2, 3], \"b\": [1, 2, 3]}}", 8, "grid", "more than 8"},
    {"{\"spec\": {\"test\": \"ds\"}, \"grid\": {\"epochs\": [1]}, \"seeds\": []}", 64, "seeds", "non-empty"},
    {"{\"spec\": {\"test\": \"ds\"}, \"grid\": {\"epochs\": [1]}, \"seeds\": [1, 1]}", 64, "seeds", "twice"},
    {"{\"spec\": {\"test\": \"ds\"}, \"grid\": {\"epochs\": [1]}, \"seeds\": [-1]}", 64, "seeds", "0 to"},
    {"{\"spec\": {\"test\": \"ds\"}, \"grid\": {\"epochs\": [1]}, \"metric\": \"test.speed\"}", 64, "metric", "accuracy"},
    {"{\"spec\": {}, \"grid\": {\"epochs\": [1]}}", 64, "metric", "needs a test set"},
    {"{\"spec\": {\"test\": \"ds\"}, \"grid\": {\"epochs\": [1]}, \"extra\": 1}", 64, "extra", ""},
    {"{\"grid\": {\"epochs\": [1]}}", 64, "spec", "job spec"},
};

static void test_refusals(void)
{
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        json_t *body = parse(refusals[i].body);
        ft_sweep_plan p;
        ft_error err = {0};
        CHECKF(ft_sweep_expand(body, refusals[i].max_jobs, &p, &err) == -1, "accepted %s", refusals[i].body);
        CHECKF(err.code == FT_EINVAL && strcmp(err.param, refusals[i].param) == 0 && strstr(err.msg, refusals[i].word),
               "%s: %s: %s", refusals[i].body, err.param, err.msg);
        CHECK(p.variants == NULL && p.seeds == NULL);
        json_decref(body);
    }
}

static void test_stats_use_the_sample_std(void)
{
    ft_sweep_stats st;
    double v[] = {0.8, 0.9, 1.0, 0.7};
    ft_sweep_stats_of(v, 4, &st);
    CHECK(st.n == 4);
    CHECK_CLOSE(st.mean, 0.85, 1e-12, 1e-12);
    CHECK_CLOSE(st.std, sqrt(0.05 / 3), 1e-12, 1e-12); /* sum of squares 0.05 over n - 1 */
    CHECK(st.min == 0.7 && st.max == 1.0);
    /* close values: the two-pass formula keeps the digits */
    double close[] = {1e9 + 0.1, 1e9 + 0.2, 1e9 + 0.3};
    ft_sweep_stats_of(close, 3, &st);
    CHECK_CLOSE(st.std, 0.1, 1e-6, 1e-12);
    double same[] = {0.2, 0.2, 0.2}; /* their mean is not exactly 0.2 */
    ft_sweep_stats_of(same, 3, &st);
    CHECK(st.std == 0 && st.min == 0.2 && st.max == 0.2);
    ft_sweep_stats_of(v, 1, &st);
    CHECK(st.n == 1 && st.mean == 0.8 && st.std == 0 && st.min == 0.8 && st.max == 0.8);
    ft_sweep_stats_of(v, 0, &st);
    CHECK(st.n == 0 && st.mean == 0 && st.std == 0);
}

static json_t *job(const char *id, const char *status, double acc, double secs)
{
    return json_pack("{s:s, s:s, s:{s:f}, s:f}", "id", id, "status", status, "test_metrics", "accuracy", acc,
                     "train_seconds", secs);
}

static void test_leaderboard_ranks_best_mean_first(void)
{
    json_t *sweep = parse("{\"metric\": \"test.accuracy\", \"seeds\": [0, 1], \"variants\": [{\"label\": \"a\", "
                          "\"values\": {\"k\": 1}}, {\"label\": \"b\", \"values\": {\"k\": 2}}, {\"label\": \"c\", "
                          "\"values\": {\"k\": 3}}]}");
    json_t *jobs = json_pack("[o, o, o, o, o, o]", job("j0", "succeeded", 0.5, 1), job("j1", "succeeded", 0.7, 3),
                             job("j2", "succeeded", 0.9, 2), job("j3", "failed", 0.99, 9),
                             job("j4", "cancelled", 0, 0), job("j5", "queued", 0, 0));
    ft_error err = {0};
    json_t *board = ft_sweep_leaderboard(sweep, jobs, &err);
    CHECKF(board && json_array_size(board) == 3, "%s", err.msg);
    json_t *first = json_array_get(board, 0), *second = json_array_get(board, 1), *last = json_array_get(board, 2);
    /* b has one value (0.9; its failed job does not count) and ranks first */
    CHECK(json_integer_value(json_object_get(first, "variant")) == 1 && json_integer_value(json_object_get(first, "rank")) == 1);
    CHECK(json_integer_value(json_object_get(first, "n")) == 1 && json_is_null(json_object_get(first, "std")));
    CHECK(json_real_value(json_object_get(first, "mean")) == 0.9);
    CHECK_CLOSE(json_real_value(json_object_get(second, "mean")), 0.6, 1e-12, 1e-12);
    CHECK_CLOSE(json_real_value(json_object_get(second, "std")), sqrt(0.02), 1e-12, 1e-12);
    CHECK(json_real_value(json_object_get(second, "seconds_total")) == 4 &&
          json_real_value(json_object_get(second, "seconds_mean")) == 2);
    /* c has no value: last, with null statistics, its jobs still linked */
    CHECK(json_integer_value(json_object_get(last, "variant")) == 2 && json_is_null(json_object_get(last, "mean")));
    json_t *links = json_object_get(last, "jobs");
    CHECK(json_array_size(links) == 2 &&
          strcmp(json_string_value(json_object_get(json_array_get(links, 1), "url")), "/v1/jobs/j5") == 0 &&
          json_integer_value(json_object_get(json_array_get(links, 1), "seed")) == 1);
    json_decref(board);

    /* A loss ranks lowest first; a row count that does not match is refused. */
    json_object_set_new(sweep, "metric", json_string("test.loss"));
    for (size_t i = 0; i < json_array_size(jobs); i++) {
        json_t *m = json_object_get(json_array_get(jobs, i), "test_metrics");
        json_object_set(m, "loss", json_object_get(m, "accuracy"));
    }
    board = ft_sweep_leaderboard(sweep, jobs, &err);
    CHECK(board && json_integer_value(json_object_get(json_array_get(board, 0), "variant")) == 0);
    json_decref(board);
    json_array_remove(jobs, 5);
    CHECK(ft_sweep_leaderboard(sweep, jobs, &err) == NULL && err.code == FT_EIO);
    json_decref(jobs);
    json_decref(sweep);
}

int main(void)
{
    RUN(test_grid_expands_first_key_slowest);
    RUN(test_defaults_and_missing_objects_on_a_path);
    RUN(test_tied_keys_vary_fields_together);
    RUN(test_refusals);
    RUN(test_stats_use_the_sample_std);
    RUN(test_leaderboard_ranks_best_mean_first);
    return TEST_SUMMARY();
}
