/* The webhook outbox in the store (server/store/store_webhooks.c): events
 * are queued by the transaction that ends a job and by nothing else, for
 * the endpoints subscribed to them; dispatchers claim due deliveries under
 * a lease, record attempts only while they hold it, and deleting an
 * endpoint drops its deliveries. Runs on both backends. */
#include "tests/unit/store_fixture.h"

/* The events of an endpoint's deliveries, newest first, comma-separated. */
static const char *events_of(ft_store *s, const char *endpoint, char *out, size_t n)
{
    ft_error err = {0};
    bool more;
    json_t *list = ft_store_webhook_deliveries(s, endpoint, 100, &more, &err);
    size_t i, len = 0;
    json_t *d;
    out[0] = '\0';
    json_array_foreach(list, i, d)
        len += (size_t)snprintf(out + len, n - len, "%s%s", i ? "," : "", jstr(d, "event"));
    json_decref(list);
    return list ? out : "(error)";
}

#define CHECK_EVENTS(s, endpoint, want)                                          \
    do {                                                                         \
        char ev_[256];                                                           \
        CHECKF(strcmp(events_of(s, endpoint, ev_, sizeof ev_), want) == 0, "%s: %s, not %s", endpoint, ev_, want); \
    } while (0)

static void test_events_commit_with_the_terminal_status(fixture *fx)
{
    ft_error err = {0};
    add_endpoint(fx->s, "wh_all", NULL, json_pack("[ssss]", "job.succeeded", "job.failed", "job.cancelled",
                                                   "sweep.completed"));
    add_endpoint(fx->s, "wh_failed", NULL, json_pack("[s]", "job.failed"));
    add_endpoint(fx->s, "wh_own", "job_1", json_pack("[sss]", "job.succeeded", "job.failed", "job.cancelled"));
    ft_claim old, cur;
    take_over(fx->s, &old, &cur); /* job_1: old lease stale, cur holds it */
    json_t *error = json_pack("{ss ss}", "message", "boom", "code", "internal");
    json_t *progress = json_pack("{si}", "epoch", 1);
    /* A write that did not apply queues nothing; neither does progress. */
    CHECK(ft_store_job_fail(fx->s, old.id, old.lease, error, &err) == 0);
    CHECK(ft_store_job_progress(fx->s, cur.id, cur.lease, progress, NULL, &err) == 1);
    CHECK_EVENTS(fx->s, "wh_all", "");
    CHECK(ft_store_job_fail(fx->s, cur.id, cur.lease, error, &err) == 1);
    CHECK_EVENTS(fx->s, "wh_all", "job.failed");
    CHECK_EVENTS(fx->s, "wh_failed", "job.failed");
    CHECK_EVENTS(fx->s, "wh_own", "job.failed");
    /* A queued job cancelled at once; a running one succeeds. */
    add_job(fx->s, "job_2", 3);
    CHECK(ft_store_job_cancel(fx->s, "job_2", NULL, &err) == 0);
    add_job(fx->s, "job_3", 3);
    ft_claim c3;
    CHECK(claim(fx->s, "w3", 60, &c3) == 1 && strcmp(c3.id, "job_3") == 0);
    json_t *model = json_pack("{ss}", "id", "mdl_3"), *result = json_pack("{s{sf}}", "test_metrics", "accuracy", 0.5);
    CHECK(ft_store_job_succeed(fx->s, c3.id, c3.lease, model, result, &err) == 1);
    CHECK_EVENTS(fx->s, "wh_all", "job.succeeded,job.cancelled,job.failed");
    CHECK_EVENTS(fx->s, "wh_failed", "job.failed");
    CHECK_EVENTS(fx->s, "wh_own", "job.failed");
    /* The payload: the Standard Webhooks envelope around the job's outcome. */
    bool more;
    json_t *list = ft_store_webhook_deliveries(fx->s, "wh_all", 1, &more, &err);
    json_t *p = json_object_get(json_array_get(list, 0), "payload"), *data = json_object_get(p, "data");
    CHECK(more && strcmp(jstr(p, "type"), "job.succeeded") == 0 && strlen(jstr(p, "timestamp")) == 20);
    CHECK(strcmp(jstr(data, "id"), "job_3") == 0 && strcmp(jstr(data, "fine_tuned_model"), "mdl_3") == 0 &&
          json_real_value(json_object_get(json_object_get(data, "test_metrics"), "accuracy")) == 0.5);
    json_decref(list);
    json_decref(model);
    json_decref(result);
    json_decref(error);
    json_decref(progress);
    ft_claim_free(&old);
    ft_claim_free(&cur);
    ft_claim_free(&c3);
}

static void test_a_dead_workers_job_gets_its_event(fixture *fx)
{
    add_endpoint(fx->s, "wh_all", NULL, json_pack("[ss]", "job.failed", "job.cancelled"));
    add_job(fx->s, "job_1", 1);
    ft_claim c, next;
    CHECK(claim(fx->s, "w1", 1, &c) == 1);
    outlive_lease();
    CHECK(claim(fx->s, "w2", 60, &next) == 0 && settled_only(&next, "job_1"));
    CHECK_EVENTS(fx->s, "wh_all", "job.failed");
    ft_claim_free(&c);
    ft_claim_free(&next);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_claims_leases_and_attempts(fixture *fx)
{
    ft_error err = {0};
    add_endpoint(fx->s, "wh_1", NULL, json_pack("[s]", "sweep.completed"));
    json_t *data = json_pack("{ss}", "id", "swp_1");
    CHECK(ft_store_webhook_emit(fx->s, "sweep.completed", data, &err) == 0);
    CHECK(ft_store_webhook_emit(fx->s, "job.failed", data, &err) == 0); /* nobody listens */
    int64_t due;
    CHECK(ft_store_delivery_next_due(fx->s, &due, &err) == 1 && due <= now_ms());
    ft_delivery d, other;
    CHECK(ft_store_delivery_claim(fx->s, 60000, &d, &err) == 1);
    CHECK(strncmp(d.id, "msg_", 4) == 0 && strcmp(d.endpoint, "wh_1") == 0 && d.attempts == 0);
    CHECK(strcmp(d.url, "https://example.com/h") == 0 && strncmp(d.secret, "whsec_", 6) == 0);
    CHECK(strstr(d.payload, "\"type\":\"sweep.completed\"") && strstr(d.payload, "\"id\":\"swp_1\""));
    CHECK(ft_store_delivery_claim(fx->s, 60000, &other, &err) == 0); /* leased */
    /* A failed attempt, retried later: not due before then. */
    int64_t later = now_ms() + 3600000;
    ft_delivery_attempt a = {.started_ms = now_ms(), .duration_ms = 12, .http_status = 500, .error = "HTTP 500",
                             .response = "oops", .next_attempt_ms = later};
    CHECK(ft_store_delivery_record(fx->s, &d, &a, &err) == 1);
    CHECK(ft_store_delivery_record(fx->s, &d, &a, &err) == 0); /* the lease ended with the record */
    CHECK(ft_store_delivery_claim(fx->s, 60000, &other, &err) == 0);
    CHECK(ft_store_delivery_next_due(fx->s, &due, &err) == 1 && due == later);
    /* Due again (as if the time had come): a claim whose dispatcher dies
     * lets the delivery go again, same id, once its lease lapses. */
    char sql[160];
    snprintf(sql, sizeof sql, "UPDATE webhook_deliveries SET next_attempt_ms = %lld", (long long)now_ms());
    CHECK(fx_sql(fx, sql) == 0);
    ft_delivery_free(&d);
    CHECK(ft_store_delivery_claim(fx->s, 1, &d, &err) == 1 && d.attempts == 1);
    sleep_ms(5);
    CHECK(ft_store_delivery_claim(fx->s, 60000, &other, &err) == 1 && strcmp(other.id, d.id) == 0);
    ft_delivery_attempt ok = {.started_ms = now_ms(), .duration_ms = 3, .http_status = 204, .delivered = true};
    CHECK(ft_store_delivery_record(fx->s, &d, &ok, &err) == 0); /* taken over */
    CHECK(ft_store_delivery_record(fx->s, &other, &ok, &err) == 1);
    CHECK(ft_store_delivery_next_due(fx->s, &due, &err) == 0);
    bool more;
    json_t *list = ft_store_webhook_deliveries(fx->s, "wh_1", 10, &more, &err);
    json_t *got = json_array_get(list, 0), *attempts = json_object_get(got, "attempts");
    CHECK(json_array_size(list) == 1 && !more && strcmp(jstr(got, "status"), "delivered") == 0);
    CHECK(json_is_null(json_object_get(got, "next_attempt_at")) && jint(got, "finished_at") > 0);
    CHECK(json_array_size(attempts) == 2 && jint(json_array_get(attempts, 0), "http_status") == 500 &&
          strcmp(jstr(json_array_get(attempts, 0), "response"), "oops") == 0 &&
          jint(json_array_get(attempts, 1), "http_status") == 204 &&
          json_is_null(json_object_get(json_array_get(attempts, 1), "error")));
    json_decref(list);
    /* Given up: failed, never due again. */
    CHECK(ft_store_webhook_emit(fx->s, "sweep.completed", data, &err) == 0);
    ft_delivery_free(&d);
    CHECK(ft_store_delivery_claim(fx->s, 60000, &d, &err) == 1);
    ft_delivery_attempt last = {.started_ms = now_ms(), .error = "connection refused"};
    CHECK(ft_store_delivery_record(fx->s, &d, &last, &err) == 1);
    CHECK(ft_store_delivery_next_due(fx->s, &due, &err) == 0);
    list = ft_store_webhook_deliveries(fx->s, "wh_1", 1, &more, &err);
    CHECK(more && strcmp(jstr(json_array_get(list, 0), "status"), "failed") == 0);
    json_decref(list);
    ft_delivery_free(&d);
    ft_delivery_free(&other);
    json_decref(data);
}

static void test_deleting_an_endpoint_drops_its_deliveries(fixture *fx)
{
    ft_error err = {0};
    add_endpoint(fx->s, "wh_1", NULL, json_pack("[s]", "sweep.completed"));
    json_t *data = json_pack("{ss}", "id", "swp_1");
    CHECK(ft_store_webhook_emit(fx->s, "sweep.completed", data, &err) == 0);
    CHECK(ft_store_webhook_emit(fx->s, "sweep.completed", data, &err) == 0);
    ft_delivery d, other;
    CHECK(ft_store_delivery_claim(fx->s, 60000, &d, &err) == 1);
    CHECK(ft_store_webhook_delete(fx->s, "wh_1", &err) == 0);
    ft_delivery_attempt a = {.started_ms = now_ms(), .http_status = 200, .delivered = true};
    CHECK(ft_store_delivery_record(fx->s, &d, &a, &err) == 0);
    CHECK(ft_store_delivery_claim(fx->s, 60000, &other, &err) == 0);
    bool more;
    err = (ft_error){0};
    CHECK(ft_store_webhook_deliveries(fx->s, "wh_1", 10, &more, &err) == NULL && err.code == FT_ENOTFOUND);
    CHECK(ft_store_webhook_delete(fx->s, "wh_1", &err) == -1 && err.code == FT_ENOTFOUND);
    CHECK(ft_store_webhook_get(fx->s, "wh_1", &err) == NULL && err.code == FT_ENOTFOUND);
    ft_delivery_free(&d);
    json_decref(data);
}

int main(void)
{
    RUN_STORE(test_events_commit_with_the_terminal_status);
    RUN_STORE(test_a_dead_workers_job_gets_its_event);
    RUN_STORE(test_claims_leases_and_attempts);
    RUN_STORE(test_deleting_an_endpoint_drops_its_deliveries);
    return TEST_SUMMARY();
}
