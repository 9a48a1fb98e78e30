/* The SQLite store's job queue (server/store/store.h): claim order,
 * concurrent claims, dead workers and max_attempts, requeue, cancel. */
#include <pthread.h>
#include "tests/unit/store_fixture.h"

/* ---- claim ---- */

static void test_claim_order(fixture *fx)
{
    ft_claim c;
    CHECK(claim(fx->s, "w", 60, &c) == 0 && c.spec == NULL && c.id[0] == 0);
    add_jobs(fx->s, "job_%d", 1, 3);
    const char *expect[] = {"job_1", "job_2", "job_3"};
    char leases[3][64];
    for (int i = 0; i < 3; i++) {
        CHECK(claim(fx->s, "w", 60, &c) == 1 && strcmp(c.id, expect[i]) == 0);
        snprintf(leases[i], sizeof leases[i], "%s", c.lease);
        ft_claim_free(&c);
    }
    CHECK(strcmp(leases[0], leases[1]) != 0 && strcmp(leases[1], leases[2]) != 0);
    CHECK(claim(fx->s, "w", 60, &c) == 0);
    ft_error err = {0};
    CHECK(ft_store_job_claim(fx->s, "w", 0, &c, &err) == -1 && err.code == FT_EINVAL);
}

/* Queued jobs and jobs on expired leases are taken together, oldest
 * first, whichever their status. */
static void test_claim_order_queued_and_expired(fixture *fx)
{
    add_jobs(fx->s, "job_%d", 1, 4);
    ft_claim c[3], next;
    CHECK(claim(fx->s, "w", 1, &c[0]) == 1 && strcmp(c[0].id, "job_1") == 0);
    CHECK(claim(fx->s, "w", 60, &c[1]) == 1 && strcmp(c[1].id, "job_2") == 0);
    CHECK(claim(fx->s, "w", 1, &c[2]) == 1 && strcmp(c[2].id, "job_3") == 0);
    ft_error err = {0};
    CHECK(ft_store_job_requeue(fx->s, c[1].id, c[1].lease, &err) == 1);
    outlive_lease(); /* job_1 and job_3 expired, job_2 and job_4 queued */
    const char *expect[] = {"job_1", "job_2", "job_3", "job_4"};
    for (int i = 0; i < 4; i++) {
        CHECKF(claim(fx->s, "w2", 60, &next) == 1 && strcmp(next.id, expect[i]) == 0, "claim %d took %s", i,
               next.id);
        ft_claim_free(&next);
    }
    CHECK(claim(fx->s, "w2", 60, &next) == 0);
    for (int i = 0; i < 3; i++)
        ft_claim_free(&c[i]);
}

enum { CLAIM_THREADS = 4, CLAIM_JOBS = 200 };

typedef struct {
    ft_store *s;
    int n;
    char ids[CLAIM_JOBS][64];
} claimer;

static void *claim_thread(void *p)
{
    claimer *cl = p;
    ft_claim c;
    ft_error err = {0};
    while (ft_store_job_claim(cl->s, "w", 60, &c, &err) == 1) {
        if (cl->n < CLAIM_JOBS)
            snprintf(cl->ids[cl->n], sizeof cl->ids[0], "%s", c.id);
        cl->n++;
        /* Finish half of them, so claims race with fenced writes too. */
        if (cl->n % 2)
            ft_store_job_cancelled(cl->s, c.id, c.lease, &err);
        ft_claim_free(&c);
    }
    return NULL;
}

static int by_string(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_claim_concurrent_exactly_once(fixture *fx)
{
    add_jobs(fx->s, "job_%04d", 0, CLAIM_JOBS);
    static claimer cl[CLAIM_THREADS];
    pthread_t t[CLAIM_THREADS];
    for (int i = 0; i < CLAIM_THREADS; i++) {
        cl[i].s = fx->s;
        cl[i].n = 0;
        pthread_create(&t[i], NULL, claim_thread, &cl[i]);
    }
    static char all[CLAIM_JOBS * CLAIM_THREADS][64];
    int total = 0;
    for (int i = 0; i < CLAIM_THREADS; i++) {
        pthread_join(t[i], NULL);
        for (int k = 0; k < cl[i].n && k < CLAIM_JOBS; k++)
            memcpy(all[total++], cl[i].ids[k], sizeof all[0]);
    }
    CHECKF(total == CLAIM_JOBS, "claimed %d of %d", total, CLAIM_JOBS);
    qsort(all, (size_t)total, sizeof all[0], by_string);
    int dups = 0;
    for (int i = 1; i < total; i++)
        dups += strcmp(all[i], all[i - 1]) == 0;
    CHECKF(dups == 0, "%d jobs claimed twice", dups);
    ft_error err = {0};
    json_t *stats = ft_store_stats(fx->s, &err);
    json_t *jobs = json_object_get(stats, "jobs");
    CHECK(jint(jobs, "queued") == 0);
    CHECK(jint(jobs, "running") + jint(jobs, "cancelled") == CLAIM_JOBS);
    json_decref(stats);
}

static void test_max_attempts(fixture *fx)
{
    add_job(fx->s, "job_1", 2);
    add_job(fx->s, "job_2", 5);
    ft_claim c;
    ft_error err = {0};
    for (int attempt = 1; attempt <= 2; attempt++) {
        CHECK(claim(fx->s, "w", 1, &c) == 1 && strcmp(c.id, "job_1") == 0 && c.attempts == attempt);
        ft_claim_free(&c);
        outlive_lease();
    }
    /* job_1's worker died twice: it fails, and the claim moves on to job_2. */
    CHECK(claim(fx->s, "w", 60, &c) == 1 && strcmp(c.id, "job_2") == 0);
    CHECK(settled_only(&c, "job_1"));
    ft_claim_free(&c);
    json_t *j = ft_store_job_get(fx->s, "job_1", &err);
    json_t *e = json_object_get(j, "error");
    CHECK(j && strcmp(jstr(j, "status"), "failed") == 0 && jint(j, "finished_at") > 0);
    CHECK(e && strcmp(jstr(e, "code"), "max_attempts_exceeded") == 0);
    CHECKF(e && strstr(jstr(e, "message"), "died 2 times; giving up after max_attempts") != NULL, "%s",
           jstr(e, "message"));
    json_decref(j);
    json_t *ev = ft_store_job_events(fx->s, "job_1", 0, 10, &err);
    CHECK(ev && json_array_size(ev) == 1 && strcmp(jstr(json_array_get(ev, 0), "level"), "error") == 0);
    json_decref(ev);
    CHECK(claim(fx->s, "w", 60, &c) == 0);
}

static void test_requeue(fixture *fx)
{
    add_job(fx->s, "job_1", 1);
    ft_claim c;
    ft_error err = {0};
    CHECK(claim(fx->s, "w", 60, &c) == 1 && c.attempts == 1);
    CHECK(ft_store_job_requeue(fx->s, c.id, c.lease, &err) == 1);
    json_t *j = ft_store_job_get(fx->s, "job_1", &err);
    CHECK(j && strcmp(jstr(j, "status"), "queued") == 0 && jint(j, "attempts") == 0);
    json_decref(j);
    CHECK(ft_store_job_heartbeat(fx->s, c.id, c.lease, 60, &err) == 0); /* lease cleared */
    ft_claim_free(&c);
    /* A graceful requeue is not a failed attempt: max_attempts 1 still runs. */
    CHECK(claim(fx->s, "w", 60, &c) == 1 && c.attempts == 1);
    /* A job whose cancel was requested is cancelled rather than requeued. */
    json_t *obj = NULL;
    CHECK(ft_store_job_cancel(fx->s, c.id, &obj, &err) == 0);
    json_decref(obj);
    CHECK(ft_store_job_requeue(fx->s, c.id, c.lease, &err) == 1);
    CHECK_STATUS(fx->s, "job_1", "cancelled");
    ft_claim_free(&c);
}

/* ---- cancel ---- */

static void test_cancel(fixture *fx)
{
    add_job(fx->s, "job_q", 3);
    add_job(fx->s, "job_r", 3);
    ft_error err = {0};
    json_t *obj = NULL;

    /* Queued: cancelled at once and never claimed. */
    CHECK(ft_store_job_cancel(fx->s, "job_q", &obj, &err) == 0);
    CHECK(obj && strcmp(jstr(obj, "status"), "cancelled") == 0 && jint(obj, "finished_at") > 0);
    json_decref(obj);
    ft_claim c;
    CHECK(claim(fx->s, "w", 60, &c) == 1 && strcmp(c.id, "job_r") == 0);

    /* Running: flagged; the worker ends it. */
    CHECK(!ft_store_job_cancel_requested(fx->s, "job_r"));
    CHECK(ft_store_job_cancel(fx->s, "job_r", &obj, &err) == 0);
    CHECK(obj && strcmp(jstr(obj, "status"), "running") == 0 && json_is_true(json_object_get(obj, "cancel_requested")));
    json_decref(obj);
    CHECK(ft_store_job_cancel_requested(fx->s, "job_r"));
    CHECK(ft_store_job_cancel(fx->s, "job_r", NULL, &err) == 0); /* asking twice is fine */
    CHECK(ft_store_job_cancelled(fx->s, c.id, c.lease, &err) == 1);
    CHECK_STATUS(fx->s, "job_r", "cancelled");
    CHECK(!ft_store_job_cancel_requested(fx->s, "job_r")); /* no longer running */

    /* Terminal: a conflict on "status". */
    obj = NULL;
    CHECK(ft_store_job_cancel(fx->s, "job_q", &obj, &err) == -1 && obj == NULL);
    CHECK(err.code == FT_EINVAL && strcmp(err.param, "status") == 0);
    CHECKF(strstr(err.msg, "job job_q is already cancelled") != NULL, "%s", err.msg);
    CHECK(ft_store_job_cancel(fx->s, "job_404", &obj, &err) == -1 && err.code == FT_ENOTFOUND);
    CHECK(!ft_store_job_cancel_requested(fx->s, "job_404"));
    ft_claim_free(&c);
}

static void test_dead_worker_after_cancel_request(fixture *fx)
{
    add_job(fx->s, "job_1", 3);
    ft_claim c;
    ft_error err = {0};
    CHECK(claim(fx->s, "w", 1, &c) == 1);
    ft_claim_free(&c);
    CHECK(ft_store_job_cancel(fx->s, "job_1", NULL, &err) == 0);
    outlive_lease();
    /* Its worker died: the job is cancelled, not run again, and the claim
     * says so (its checkpoint can go). */
    CHECK(claim(fx->s, "w", 60, &c) == 0);
    CHECK(settled_only(&c, "job_1"));
    ft_claim_free(&c);
    CHECK_STATUS(fx->s, "job_1", "cancelled");
}

int main(void)
{
    RUN_STORE(test_claim_order);
    RUN_STORE(test_claim_order_queued_and_expired);
    RUN_STORE(test_claim_concurrent_exactly_once);
    RUN_STORE(test_max_attempts);
    RUN_STORE(test_requeue);
    RUN_STORE(test_cancel);
    RUN_STORE(test_dead_worker_after_cancel_request);
    return TEST_SUMMARY();
}
