/* Calls that threads make at once share one transaction
 * (server/store/store_combine.c): claims and successes, on both stores.
 *
 * To make a batch for certain, a test holds the combiner as if a batch
 * were running, lets its threads queue up behind it, and then lets go:
 * the first thread to wake runs every queued call as one batch. */
#include <pthread.h>

#include "server/store/store_db.h"
#include "tests/unit/store_fixture.h"

enum { CALLS = 8 };

static void hold(ft_db_combiner *cb)
{
    pthread_mutex_lock(&cb->lock);
    cb->running = true;
    pthread_mutex_unlock(&cb->lock);
}

static int queued(ft_db_combiner *cb)
{
    pthread_mutex_lock(&cb->lock);
    int n = 0;
    for (ft_db_request *r = cb->head; r; r = r->next)
        n++;
    pthread_mutex_unlock(&cb->lock);
    return n;
}

/* Wait until n calls queue behind the hold, let them go, and join them:
 * the batches they ran. */
static unsigned long release_and_join(ft_db_combiner *cb, int n, pthread_t *threads)
{
    for (int waited = 0; queued(cb) < n && waited < 10000; waited++)
        sleep_ms(1);
    CHECKF(queued(cb) == n, "%d calls queued, not %d", queued(cb), n);
    pthread_mutex_lock(&cb->lock);
    unsigned long before = cb->batches;
    cb->running = false;
    pthread_cond_broadcast(&cb->done);
    pthread_mutex_unlock(&cb->lock);
    for (int i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    pthread_mutex_lock(&cb->lock);
    unsigned long ran = cb->batches - before;
    pthread_mutex_unlock(&cb->lock);
    return ran;
}

/* ---- claims ---- */

typedef struct {
    ft_store *s;
    char worker[16];
    int rc;
    ft_claim claim;
    ft_error err;
} claim_call;

static void *claim_thread(void *p)
{
    claim_call *c = p;
    c->rc = ft_store_job_claim(c->s, c->worker, 60, &c->claim, &c->err);
    return NULL;
}

/* Whether c's job holds c's token and names c's worker. */
static bool holds(ft_store *s, const claim_call *c)
{
    ft_error err = {0};
    ft_db_conn *conn = ft_db_acquire(s, &err);
    int64_t one = 0;
    int rc = conn ? ft_db_scalar(conn, "SELECT 1 FROM jobs WHERE id = ?1 AND lease_token = ?2 AND worker = ?3", &one,
                                 &err, "ttt", c->claim.id, c->claim.lease, c->worker)
                  : -1;
    ft_db_release(conn);
    return rc == 1;
}

/* CALLS claims at once, in one batch; calls[] holds their results. */
static void claim_at_once(fixture *fx, claim_call *calls)
{
    pthread_t threads[CALLS];
    hold(&fx->s->claims);
    for (int i = 0; i < CALLS; i++) {
        memset(&calls[i], 0, sizeof calls[i]);
        calls[i].s = fx->s;
        snprintf(calls[i].worker, sizeof calls[i].worker, "w%d", i);
        pthread_create(&threads[i], NULL, claim_thread, &calls[i]);
    }
    CHECK(release_and_join(&fx->s->claims, CALLS, threads) == 1);
}

/* Checks one batch of claims: `want` of them took a job, each job among
 * job_<first>.. job_<first + want - 1> exactly once, under the claimer's
 * own token and name; the others were told there is nothing. */
static void check_claims(fixture *fx, claim_call *calls, int first, int want)
{
    int took = 0, seen[CALLS] = {0};
    for (int i = 0; i < CALLS; i++) {
        CHECKF(calls[i].rc >= 0, "claim %d: %s", i, calls[i].err.msg);
        if (calls[i].rc != 1) {
            CHECK(calls[i].claim.spec == NULL && calls[i].claim.id[0] == 0);
            continue;
        }
        took++;
        int n = -1;
        CHECKF(sscanf(calls[i].claim.id, "job_%d", &n) == 1 && n >= first && n < first + want, "took %s",
               calls[i].claim.id);
        if (n >= first && n < first + want)
            seen[n - first]++;
        CHECK(calls[i].claim.attempts == 1 && json_is_object(calls[i].claim.spec));
        CHECKF(holds(fx->s, &calls[i]), "%s is not held by %s's token", calls[i].claim.id, calls[i].worker);
        for (int j = 0; j < i; j++)
            CHECK(calls[j].rc != 1 || strcmp(calls[j].claim.lease, calls[i].claim.lease) != 0);
    }
    CHECKF(took == want, "%d claims took a job, not %d", took, want);
    for (int k = 0; k < want; k++)
        CHECKF(seen[k] == 1, "job_%d taken %d times", first + k, seen[k]);
    for (int i = 0; i < CALLS; i++)
        ft_claim_free(&calls[i].claim);
}

/* Eight claims at once on ten jobs take the eight oldest, in one
 * transaction; eight more take the last two, and six find nothing. */
static void test_claims_at_once_share_one_transaction(fixture *fx)
{
    add_jobs(fx->s, "job_%d", 0, 10);
    claim_call calls[CALLS];
    claim_at_once(fx, calls);
    check_claims(fx, calls, 0, 8);
    CHECK_STATUS(fx->s, "job_8", "queued");
    CHECK_STATUS(fx->s, "job_9", "queued");
    claim_at_once(fx, calls);
    check_claims(fx, calls, 8, 2);
}

/* ---- successes ---- */

typedef struct {
    ft_store *s;
    ft_claim claim;
    const char *lease; /* the one reported (the claim's, or a stale one) */
    json_t *model;     /* the result model, or NULL */
    int rc;
    ft_error err;
} success_call;

static void *succeed_thread(void *p)
{
    success_call *c = p;
    json_t *result = json_pack("{s{sf}}", "test_metrics", "accuracy", 0.5);
    c->rc = ft_store_job_succeed(c->s, c->claim.id, c->lease, c->model, result, &c->err);
    json_decref(result);
    return NULL;
}

/* n claims, each to report a success with the claim's lease, but call
 * `stale`, which reports a lease that was never given. */
static void claim_for_success(ft_store *s, success_call *calls, int n, int stale)
{
    for (int i = 0; i < n; i++) {
        calls[i].s = s;
        CHECK(claim(s, "w", 60, &calls[i].claim) == 1);
        calls[i].lease = i == stale ? "0123456789abcdef0123456789abcdef" : calls[i].claim.lease;
    }
}

/* Six successes at once, in one batch: four that hold (one with a model),
 * one on a stale lease (0: nothing changes) and one whose model row
 * cannot be written (its id is taken). That failure reaches only its own
 * caller: the others still end their jobs, and its job stays running. */
static void test_successes_at_once_fail_one_by_one(fixture *fx)
{
    enum { N = 6, STALE = 2, DUPLICATE = 4 };
    add_jobs(fx->s, "job_%d", 0, N);
    add_model(fx->s, "m_taken", 10);
    success_call calls[N] = {{0}};
    pthread_t threads[N];
    claim_for_success(fx->s, calls, N, STALE);
    calls[1].model = json_pack("{ss ss sI}", "id", "m_new", "name", "tuned", "bytes", (json_int_t)10);
    calls[DUPLICATE].model = json_pack("{ss ss sI}", "id", "m_taken", "name", "tuned", "bytes", (json_int_t)10);
    hold(&fx->s->successes);
    for (int i = 0; i < N; i++)
        pthread_create(&threads[i], NULL, succeed_thread, &calls[i]);
    CHECK(release_and_join(&fx->s->successes, N, threads) == 1);
    for (int i = 0; i < N; i++) {
        const char *id = calls[i].claim.id;
        if (i == STALE) {
            CHECKF(calls[i].rc == 0, "stale lease: %d %s", calls[i].rc, calls[i].err.msg);
            CHECK_STATUS(fx->s, id, "running");
        } else if (i == DUPLICATE) {
            CHECKF(calls[i].rc == -1 && calls[i].err.msg[0], "taken model id: %d", calls[i].rc);
            CHECK_STATUS(fx->s, id, "running");
        } else {
            CHECKF(calls[i].rc == 1, "%s: %d %s", id, calls[i].rc, calls[i].err.msg);
            CHECK_STATUS(fx->s, id, "succeeded");
        }
    }
    ft_error err = {0};
    json_t *model = ft_store_model_get(fx->s, "m_new", &err);
    CHECK(model != NULL);
    json_decref(model);
    json_t *job = ft_store_job_get(fx->s, calls[1].claim.id, &err);
    CHECK(job && strcmp(jstr(job, "result_model"), "m_new") == 0);
    json_decref(job);
    /* The failed one can still report its success once the model id is free. */
    json_object_set_new(calls[DUPLICATE].model, "id", json_string("m_other"));
    succeed_thread(&calls[DUPLICATE]);
    CHECK(calls[DUPLICATE].rc == 1);
    CHECK_STATUS(fx->s, calls[DUPLICATE].claim.id, "succeeded");
    for (int i = 0; i < N; i++) {
        json_decref(calls[i].model);
        ft_claim_free(&calls[i].claim);
    }
}

/* The job ids in the payloads of an endpoint's deliveries, sorted,
 * comma-separated. */
static const char *delivered(ft_store *s, const char *endpoint, char *out, size_t n)
{
    ft_error err = {0};
    bool more;
    json_t *list = ft_store_webhook_deliveries(s, endpoint, 100, &more, &err), *ids = json_array();
    size_t i, len = 0;
    json_t *d;
    json_array_foreach(list, i, d)
        json_array_append_new(ids, json_string(jstr(json_object_get(json_object_get(d, "payload"), "data"), "id")));
    out[0] = '\0';
    for (size_t k = 0; k < json_array_size(ids); k++) { /* a few ids: the simplest sort */
        const char *least = NULL;
        json_array_foreach(ids, i, d)
            if (json_is_string(d) && (!least || strcmp(json_string_value(d), least) < 0))
                least = json_string_value(d);
        len += (size_t)snprintf(out + len, n - len, "%s%s", k ? "," : "", least);
        json_array_foreach(ids, i, d)
            if (json_is_string(d) && strcmp(json_string_value(d), least) == 0) {
                json_array_set_new(ids, i, json_null());
                break;
            }
    }
    json_decref(ids);
    json_decref(list);
    return list ? out : "(error)";
}

/* Five successes at once, in one batch, with webhook endpoints registered:
 * each job that succeeded gets its own job.succeeded event, for the
 * endpoint of all jobs and for its own endpoint, and no other does. One
 * success names a job id that is not UTF-8: PostgreSQL refuses its
 * statement in the middle of the batch's (the ones after it are aborted),
 * so every call runs again alone and only that one fails; SQLite finds no
 * such job (0). */
static void test_successes_at_once_queue_their_own_events(fixture *fx)
{
    enum { N = 5, STALE = 1, BAD_ID = 2 };
    add_jobs(fx->s, "job_%d", 0, N);
    add_endpoint(fx->s, "wh_all", NULL, json_pack("[s]", "job.succeeded"));
    add_endpoint(fx->s, "wh_job_3", "job_3", json_pack("[s]", "job.succeeded"));
    success_call calls[N] = {{0}};
    pthread_t threads[N];
    claim_for_success(fx->s, calls, N, STALE);
    snprintf(calls[BAD_ID].claim.id, sizeof calls[BAD_ID].claim.id, "job_\xff");
    hold(&fx->s->successes);
    for (int i = 0; i < N; i++)
        pthread_create(&threads[i], NULL, succeed_thread, &calls[i]);
    CHECK(release_and_join(&fx->s->successes, N, threads) == 1);
    for (int i = 0; i < N; i++) {
        if (i == STALE) {
            CHECKF(calls[i].rc == 0, "stale lease: %d %s", calls[i].rc, calls[i].err.msg);
        } else if (i == BAD_ID) {
            if (fx_postgres())
                CHECKF(calls[i].rc == -1 && calls[i].err.code == FT_EINVAL, "bad id: %d %s", calls[i].rc,
                       calls[i].err.msg);
            else
                CHECKF(calls[i].rc == 0, "bad id: %d %s", calls[i].rc, calls[i].err.msg);
        } else {
            CHECKF(calls[i].rc == 1, "%s: %d %s", calls[i].claim.id, calls[i].rc, calls[i].err.msg);
            CHECK_STATUS(fx->s, calls[i].claim.id, "succeeded");
        }
    }
    CHECK_STATUS(fx->s, "job_1", "running");
    CHECK_STATUS(fx->s, "job_2", "running");
    char ids[256];
    CHECKF(strcmp(delivered(fx->s, "wh_all", ids, sizeof ids), "job_0,job_3,job_4") == 0, "wh_all: %s", ids);
    CHECKF(strcmp(delivered(fx->s, "wh_job_3", ids, sizeof ids), "job_3") == 0, "wh_job_3: %s", ids);
    for (int i = 0; i < N; i++)
        ft_claim_free(&calls[i].claim);
}

int main(void)
{
    RUN_STORE(test_claims_at_once_share_one_transaction);
    RUN_STORE(test_successes_at_once_fail_one_by_one);
    RUN_STORE(test_successes_at_once_queue_their_own_events);
    return TEST_SUMMARY();
}
