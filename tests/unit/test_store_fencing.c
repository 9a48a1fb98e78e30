/* The SQLite store's leases and fencing (server/store/store.h): a lease
 * that expired or ended fences off every write of its attempt; heartbeats
 * keep it; success commits the model row and the job together. */

#include "tests/unit/store_fixture.h"

static void test_lease_expiry_and_fencing(fixture *fx)
{
    ft_claim old, cur;
    ft_error err = {0};
    /* Worker w1 is presumed dead: w2 gets the job, attempt 2, a new lease. */
    take_over(fx->s, &old, &cur);

    /* The old lease can no longer do anything. */
    json_t *prog = json_pack("{si}", "epoch", 9);
    json_t *model = json_pack("{ss}", "id", "mdl_old");
    json_t *e = json_pack("{ss}", "message", "stale");
    CHECK(ft_store_job_heartbeat(fx->s, old.id, old.lease, 60, &err) == 0);
    CHECK(ft_store_job_progress(fx->s, old.id, old.lease, prog, NULL, &err) == 0);
    CHECK(ft_store_job_succeed(fx->s, old.id, old.lease, model, NULL, &err) == 0);
    CHECK(ft_store_job_fail(fx->s, old.id, old.lease, e, &err) == 0);
    CHECK(ft_store_job_cancelled(fx->s, old.id, old.lease, &err) == 0);
    CHECK(ft_store_job_requeue(fx->s, old.id, old.lease, &err) == 0);
    /* ...and its succeed left no model row behind. */
    CHECK(ft_store_model_get(fx->s, "mdl_old", &err) == NULL && err.code == FT_ENOTFOUND);
    json_t *j = ft_store_job_get(fx->s, "job_1", &err);
    CHECK(j && strcmp(jstr(j, "status"), "running") == 0 && json_is_null(json_object_get(j, "progress")));
    json_decref(j);

    /* The current holder finishes it. */
    CHECK(ft_store_job_heartbeat(fx->s, cur.id, cur.lease, 60, &err) == 1);
    json_decref(model);
    model = json_pack("{ss}", "id", "mdl_new");
    CHECK(ft_store_job_succeed(fx->s, cur.id, cur.lease, model, NULL, &err) == 1);
    CHECK((j = ft_store_model_get(fx->s, "mdl_new", &err)) != NULL);
    json_decref(j);
    /* After the end, even the last lease is fenced off. */
    CHECK(ft_store_job_progress(fx->s, cur.id, cur.lease, prog, NULL, &err) == 0);
    CHECK(ft_store_job_heartbeat(fx->s, cur.id, cur.lease, 60, &err) == 0);
    CHECK(ft_store_job_fail(fx->s, cur.id, cur.lease, e, &err) == 0);
    CHECK_STATUS(fx->s, "job_1", "succeeded");
    json_decref(prog);
    json_decref(model);
    json_decref(e);
    ft_claim_free(&old);
    ft_claim_free(&cur);
}

static int count_action(void *ctx, ft_error *err)
{
    (void)err;
    ++*(int *)ctx;
    return 0;
}

static int failing_action(void *ctx, ft_error *err)
{
    (void)ctx;
    return ft_fail(err, FT_EIO, NULL, "cannot rename the checkpoint");
}

/* A worker that stalled past its lease (attempt 1) while attempt 2 took the
 * job over: attempt 1's metric rows, events and checkpoint actions are
 * refused and leave nothing behind; attempt 2's go through; unfenced
 * (NULL-lease) writes still work. */
static void test_stale_attempt_writes_refused(fixture *fx)
{
    ft_claim old, cur;
    ft_error err = {0};
    take_over(fx->s, &old, &cur);
    json_t *row = json_pack("{sf}", "train_loss", 0.5);
    CHECK(ft_store_job_metric_put(fx->s, old.id, old.lease, 1, row, &err) == 0);
    CHECK(ft_store_job_event(fx->s, old.id, old.lease, "info", "stale", NULL, &err) == 0);
    int ran = 0;
    CHECK(ft_store_job_fenced(fx->s, old.id, old.lease, count_action, &ran, &err) == 0 && ran == 0);
    json_t *rows = ft_store_job_metrics(fx->s, "job_1", &err);
    CHECK(rows && json_array_size(rows) == 0 && event_count(fx->s, "job_1", 0, 100) == 0);
    json_decref(rows);

    CHECK(ft_store_job_metric_put(fx->s, cur.id, cur.lease, 1, row, &err) == 1);
    CHECK(ft_store_job_event(fx->s, cur.id, cur.lease, "info", "current", NULL, &err) == 1);
    CHECK(ft_store_job_fenced(fx->s, cur.id, cur.lease, count_action, &ran, &err) == 1 && ran == 1);
    /* A failing action is reported as an error, with its message. */
    CHECK(ft_store_job_fenced(fx->s, cur.id, cur.lease, failing_action, NULL, &err) == -1 &&
          strstr(err.msg, "cannot rename") != NULL);
    CHECK(ft_store_job_event(fx->s, cur.id, NULL, "info", "operator", NULL, &err) == 1);
    CHECK(event_count(fx->s, "job_1", 0, 100) == 2);

    /* Once the job is over, its last lease is fenced off too. */
    CHECK(ft_store_job_fail(fx->s, cur.id, cur.lease, NULL, &err) == 1);
    CHECK(ft_store_job_metric_put(fx->s, cur.id, cur.lease, 2, row, &err) == 0);
    CHECK(ft_store_job_event(fx->s, cur.id, cur.lease, "info", "late", NULL, &err) == 0);
    CHECK(ft_store_job_fenced(fx->s, cur.id, cur.lease, count_action, &ran, &err) == 0 && ran == 1);
    json_decref(row);
    ft_claim_free(&old);
    ft_claim_free(&cur);
}

static void test_heartbeat_keeps_lease(fixture *fx)
{
    add_job(fx->s, "job_1", 3);
    ft_claim c, other;
    ft_error err = {0};
    CHECK(claim(fx->s, "w1", 1, &c) == 1);
    CHECK(ft_store_job_heartbeat(fx->s, c.id, c.lease, 30, &err) == 1);
    CHECK(ft_store_job_heartbeat(fx->s, c.id, "not-the-lease", 30, &err) == 0);
    CHECK(ft_store_job_heartbeat(fx->s, "job_404", c.lease, 30, &err) == 0);
    outlive_lease();
    CHECK(claim(fx->s, "w2", 1, &other) == 0); /* extended: still held */
    CHECK(ft_store_job_heartbeat(fx->s, c.id, c.lease, 0, &err) == -1 && err.code == FT_EINVAL);
    ft_claim_free(&c);
}

static void test_succeed_is_atomic(fixture *fx)
{
    add_job(fx->s, "job_1", 3);
    add_model(fx->s, "mdl_taken", 1);
    ft_claim c;
    ft_error err = {0};
    CHECK(claim(fx->s, "w", 60, &c) == 1);
    /* The model insert fails (id taken): the job must not be succeeded. */
    json_t *model = json_pack("{ss}", "id", "mdl_taken");
    json_t *result = json_pack("{sf}", "train_seconds", 1.0);
    CHECK(ft_store_job_succeed(fx->s, c.id, c.lease, model, result, &err) == -1);
    json_t *j = ft_store_job_get(fx->s, "job_1", &err);
    CHECK(j && strcmp(jstr(j, "status"), "running") == 0 && json_is_null(json_object_get(j, "result_model")) &&
          json_object_get(j, "train_seconds") == NULL);
    json_decref(j);
    json_decref(model);
    model = json_pack("{ss}", "id", "mdl_ok");
    CHECK(ft_store_job_succeed(fx->s, c.id, c.lease, model, result, &err) == 1);
    json_decref(model);
    json_decref(result);
    ft_claim_free(&c);
}

int main(void)
{
    RUN_STORE(test_lease_expiry_and_fencing);
    RUN_STORE(test_stale_attempt_writes_refused);
    RUN_STORE(test_heartbeat_keeps_lease);
    RUN_STORE(test_succeed_is_atomic);
    return TEST_SUMMARY();
}
