/* The queue: claiming jobs, leases, and the fenced transitions that only the
 * current lease holder may make.
 *
 * A claim gives the worker a fresh random lease token. Every later write of
 * that attempt names the token and applies only while the job is still
 * running under it, so a worker that stalled past its lease (and whose job
 * was reclaimed by another worker) can no longer report progress or finish
 * the job: its writes change nothing and return 0. The token, not the
 * clock, is the fence: a lease that expired but was not yet reclaimed still
 * holds, and a heartbeat revives it.
 */
#include "server/store/store_db.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The condition of every fenced statement; ?1 is the job id, ?2 the lease. */
#define FENCE " WHERE id = ?1 AND lease_token = ?2 AND status = 'running'"

/* Settle running jobs whose lease expired and that must not run again: the
 * ones that used up max_attempts fail, the ones whose cancel was requested
 * before their worker died are cancelled. Each gets an event saying why.
 * *ids receives their ids (NULL if none). */
static int settle_dead_jobs(ft_db_conn *c, int64_t now_ms, json_t **ids, ft_error *err)
{
    ft_db_rows *r = ft_db_query(c, ft_db_sql(c)->settle_dead, err, "II", now_ms / 1000, now_ms);
    /* Collect first: events are written once the UPDATE is finished. */
    json_t *settled = r ? json_array() : NULL;
    int rc = settled ? 0 : -1;
    while (rc == 0 && (rc = ft_db_next(r, err)) == 1) {
        json_t *job = json_pack("[sss]", ft_db_text(r, 0), ft_db_text(r, 1), ft_db_text(r, 2));
        rc = job && json_array_append_new(settled, job) == 0 ? 0 : ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    }
    ft_db_done(r);
    size_t i;
    json_t *job;
    json_array_foreach(settled, i, job) {
        if (rc != 0)
            break;
        bool failed = strcmp(json_string_value(json_array_get(job, 1)), "failed") == 0;
        rc = ft_db_event_add(c, json_string_value(json_array_get(job, 0)), NULL, failed ? "error" : "info",
                             json_string_value(json_array_get(job, 2)), NULL, err) < 0 ? -1 : 0;
        if (rc == 0)
            rc = ft_db_webhook_job_ended(c, json_string_value(json_array_get(job, 0)), err);
        if (rc == 0 && !*ids && !(*ids = json_array()))
            rc = ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        if (rc == 0)
            json_array_append(*ids, json_array_get(job, 0));
    }
    json_decref(settled);
    return rc;
}

/* 1 if some job is runnable (queued, or running on an expired lease), 0
 * if none, -1 on error. A plain read (the dialect's claim_precheck says
 * whether it pays). The claim itself re-checks. */
static int anything_runnable(ft_db_conn *c, int64_t now_ms, ft_error *err)
{
    int64_t one;
    return ft_db_scalar(c,
                        "SELECT 1 FROM jobs WHERE status IN ('queued', 'running') AND "
                        "(status = 'queued' OR lease_expires_ms <= ?1) LIMIT 1",
                        &one, err, "I", now_ms);
}

/* One thread's claim, waiting in the store's claims combiner. */
typedef struct {
    char token[33];
    const char *worker;
    int lease_seconds;
    ft_claim *claim;
} claiming;

/* The claims of one transaction, for its body and check. */
typedef struct {
    ft_db_request **calls;
    int n;
    json_t *claimers; /* [{token, worker, lease_ms}], in the calls' order */
} claim_batch;

/* The i-th claim of a batch. */
static claiming *claim_of(const claim_batch *b, int i)
{
    return b->calls[i]->ctx;
}

/* Settle dead jobs, then take the oldest runnable ones, one per call (see
 * ft_store_job_claim): the number of jobs taken. The dead jobs settled go
 * to the first call, for its worker to clean up after. */
static int claim_body(ft_db_conn *c, void *ctx, ft_error *err)
{
    claim_batch *b = ctx;
    for (int i = 0; i < b->n; i++)
        ft_claim_free(claim_of(b, i)->claim);
    int64_t now_ms = ft_db_now_ms();
    int rc = settle_dead_jobs(c, now_ms, &claim_of(b, 0)->claim->settled, err);
    /* Rounded up to a power of two: a few statement texts, not one per n. */
    int limit = 1;
    while (limit < b->n)
        limit *= 2;
    char sql[2048];
    if (rc == 0 && snprintf(sql, sizeof sql, ft_db_sql(c)->claim, limit) >= (int)sizeof sql)
        rc = ft_fail(err, FT_EINVAL, NULL, "the claim statement is longer than %zu bytes", sizeof sql);
    ft_db_rows *r = rc == 0 ? ft_db_query(c, sql, err, "jII", b->claimers, now_ms, now_ms / 1000) : NULL;
    int taken = 0;
    rc = r ? 0 : -1;
    while (rc == 0 && (rc = ft_db_next(r, err)) == 1) {
        const char *token = ft_db_text(r, 3);
        claiming *q = NULL;
        for (int i = 0; i < b->n && !q; i++)
            if (strcmp(claim_of(b, i)->token, token) == 0)
                q = claim_of(b, i);
        if (!q) {
            rc = ft_fail(err, FT_EIO, NULL, "a claim returned a lease token that no claimer holds");
            break;
        }
        snprintf(q->claim->id, sizeof q->claim->id, "%s", ft_db_text(r, 0));
        snprintf(q->claim->lease, sizeof q->claim->lease, "%s", q->token);
        q->claim->attempts = (int)ft_db_int(r, 2);
        rc = (q->claim->spec = ft_db_col_json(r, 1, err)) ? 0 : -1;
        taken++;
    }
    ft_db_done(r);
    return rc < 0 ? -1 : taken;
}

/* After a lost COMMIT: the claims happened if a job holds the first
 * call's token (fresh for each claim; the oldest job taken is the first
 * call's). Claims that took nothing count as not there and run again,
 * which only settles what is still unsettled. */
static int claimed(ft_db_conn *c, void *ctx, ft_error *err)
{
    const claim_batch *b = ctx;
    int64_t one;
    return ft_db_scalar(c, "SELECT 1 FROM jobs WHERE lease_token = ?1", &one, err, "t", claim_of(b, 0)->token);
}

/* The claims that threads made at once, in one transaction. */
static void claim_together(ft_store *s, ft_db_request **calls, int n)
{
    ft_error err = {0};
    claim_batch b = {.calls = calls, .n = n, .claimers = json_array()};
    int rc = b.claimers ? 0 : ft_fail(&err, FT_ENOMEM, NULL, "out of memory");
    for (int i = 0; i < n && rc == 0; i++) {
        claiming *q = calls[i]->ctx;
        json_t *one = json_pack("{ss ss sI}", "token", q->token, "worker", q->worker, "lease_ms",
                                (json_int_t)q->lease_seconds * 1000);
        if (!one || json_array_append_new(b.claimers, one) != 0)
            rc = ft_fail(&err, FT_ENOMEM, NULL, "out of memory");
    }
    if (rc == 0 && s->drv->sql->claim_precheck) {
        ft_db_conn *c = ft_db_acquire(s, &err);
        rc = c ? anything_runnable(c, ft_db_now_ms(), &err) : -1;
        ft_db_release(c);
        rc = rc == 1 ? 0 : rc < 0 ? -1 : 1; /* 1: nothing to claim, no transaction */
    }
    if (rc == 0)
        rc = ft_db_transact_checked(s, claim_body, claimed, &b, &err) < 0 ? -1 : 0;
    json_decref(b.claimers);
    for (int i = 0; i < n; i++) {
        claiming *q = calls[i]->ctx;
        calls[i]->rc = rc < 0 ? -1 : q->claim->spec ? 1 : 0;
        calls[i]->err = err;
        if (rc < 0) /* the settling was rolled back with the rest */
            ft_claim_free(q->claim);
    }
}

int ft_store_job_claim(ft_store *s, const char *worker, int lease_seconds, ft_claim *claim, ft_error *err)
{
    memset(claim, 0, sizeof *claim);
    if (lease_seconds < 1)
        return ft_fail(err, FT_EINVAL, "lease_seconds", "a lease must last at least one second");
    claiming q = {.worker = worker, .lease_seconds = lease_seconds, .claim = claim};
    if (ft_db_token(q.token, err) != 0)
        return -1;
    return ft_db_combine(s, &s->claims, claim_together, &q, err);
}

void ft_claim_free(ft_claim *c)
{
    if (!c)
        return;
    json_decref(c->spec);
    json_decref(c->settled);
    memset(c, 0, sizeof *c);
}

/* One fenced write in its own transaction, announcing topic (with the job
 * id) if it applied: 1 if applied, 0 if the lease is lost, -1 on error. A
 * write that `ends` the job queues its webhook events in the same
 * transaction: they commit with the terminal status or not at all. A lost
 * COMMIT is settled by committed (see ft_db_transact_checked). */
static int fenced_write(ft_store *s, const char *id, bool ends, const char *sql, const char *topic,
                        ft_db_tx_check committed, ft_error *err, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    int rc = ft_db_vwrite_tx(s, topic, id, ends ? ft_db_webhook_job_ended : NULL, committed, sql, err, types, ap);
    va_end(ap);
    return rc;
}

int ft_store_job_heartbeat(ft_store *s, const char *id, const char *lease, int lease_seconds, ft_error *err)
{
    if (lease_seconds < 1)
        return ft_fail(err, FT_EINVAL, "lease_seconds", "a lease must last at least one second");
    /* Setting the expiry again changes nothing: a lost COMMIT is retried,
     * and the caller learns whether the lease holds. */
    return fenced_write(s, id, false, "UPDATE jobs SET lease_expires_ms = ?3" FENCE, NULL, ft_db_rerun, err, "ttI", id,
                        lease, ft_db_now_ms() + (int64_t)lease_seconds * 1000);
}

int ft_store_job_fenced(ft_store *s, const char *id, const char *lease, int (*action)(void *ctx, ft_error *err),
                        void *ctx, ft_error *err)
{
    ft_db_conn *c = ft_db_acquire(s, err);
    int rc = c ? ft_db_begin(c, err) : -1;
    if (rc == 0) {
        /* The job stays locked from here to the commit (SQLite's write
         * lock, PostgreSQL's row lock): no claim can take it between the
         * check and the action. The check only reads, so it works on a
         * full disk too (where deleting a checkpoint makes room). */
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT 1 FROM jobs" FENCE "%s", ft_db_sql(c)->row_lock);
        int64_t one;
        rc = ft_db_scalar(c, sql, &one, err, "tt", id, lease);
        if (rc == 1 && action(ctx, err) != 0)
            rc = -1;
        /* Rolled back, not committed: nothing was written, and a commit
         * could only add a way to fail (a connection cut after the action
         * ran under the lock would report a failure that did not happen). */
        c->drv->rollback(c);
    }
    ft_db_release(c);
    return rc;
}

int ft_store_job_progress(ft_store *s, const char *id, const char *lease, const json_t *progress,
                          const json_t *metrics, ft_error *err)
{
    return fenced_write(s, id, false, "UPDATE jobs SET progress = COALESCE(?3, progress), metrics = COALESCE(?4, metrics)"
                        FENCE, FT_TOPIC_EVENTS, ft_db_rerun, err, "ttjj", id, lease, progress, metrics);
}

/* A job's success and its model row: one call of ft_store_job_succeed. */
typedef struct {
    const char *id, *lease, *model_id;
    const json_t *model_obj, *result;
} success;

/* One success, its webhook events built from the UPDATE's RETURNING. */
static int succeed_body(ft_db_conn *c, void *ctx, ft_error *err)
{
    const success *o = ctx;
    int rc = ft_db_webhook_job_ended_rows(c, o->id,
                                          ft_db_query(c,
                                                      "UPDATE jobs SET status = 'succeeded', finished_at = ?3, "
                                                      "result = ?4, result_model = ?5, lease_token = NULL, "
                                                      "lease_expires_ms = NULL" FENCE
                                                      " RETURNING " FT_DB_JOB_ENDED_COLUMNS,
                                                      err, "ttIjt", o->id, o->lease, ft_db_now(), o->result,
                                                      o->model_id),
                                          err);
    /* The model row exists only if the job really succeeded under this
     * lease: both commit together or neither does. */
    if (rc == 1 && o->model_obj && ft_db_insert_record(c, &ft_db_models, o->model_obj, err) != 0)
        rc = -1;
    if (rc == 1 && ft_db_notify(c, FT_TOPIC_EVENTS, o->id, err) != 0)
        rc = -1;
    return rc;
}

/* The successes of one transaction, for succeed_all. */
typedef struct {
    ft_db_request **calls;
    int n;
    bool call_failed; /* a call's statements failed (not the COMMIT) */
} success_batch;

/* Each call's success in turn (one statement each, by the job's id: a
 * statement for all of them would leave the planner a join to get wrong);
 * a call that fails aborts them all. */
static int succeed_all(ft_db_conn *c, void *ctx, ft_error *err)
{
    success_batch *b = ctx;
    b->call_failed = false;
    for (int i = 0; i < b->n; i++)
        if ((b->calls[i]->rc = succeed_body(c, b->calls[i]->ctx, err)) < 0) {
            b->call_failed = true;
            return -1;
        }
    return 0;
}

/* The successes that threads reported at once, in one transaction. If one
 * of them fails, each runs again on its own, so a failure reaches only its
 * own caller. */
static void succeed_together(ft_store *s, ft_db_request **calls, int n)
{
    ft_error err = {0};
    success_batch b = {.calls = calls, .n = n};
    int rc = ft_db_transact(s, succeed_all, &b, &err);
    for (int i = 0; i < n && rc < 0; i++) {
        if (n > 1 && b.call_failed) {
            calls[i]->rc = ft_db_transact(s, succeed_body, calls[i]->ctx, &calls[i]->err);
        } else { /* as for one call: a failed COMMIT may have happened or not */
            calls[i]->rc = -1;
            calls[i]->err = err;
        }
    }
}

int ft_store_job_succeed(ft_store *s, const char *id, const char *lease, const json_t *model_obj,
                         const json_t *result, ft_error *err)
{
    success o = {.id = id, .lease = lease, .model_obj = model_obj, .result = result,
                 .model_id = json_string_value(json_object_get(model_obj, "id"))};
    if (model_obj && !o.model_id)
        return ft_fail(err, FT_EINVAL, "id", "the result model needs a string id");
    if (result && !json_is_object(result) && !json_is_null(result))
        return ft_fail(err, FT_EINVAL, "result", "a job's result must be an object");
    return ft_db_combine(s, &s->successes, succeed_together, &o, err);
}

int ft_store_job_fail(ft_store *s, const char *id, const char *lease, const json_t *error, ft_error *err)
{
    return fenced_write(s, id, true,
                        "UPDATE jobs SET status = 'failed', error = ?3, finished_at = ?4, lease_token = NULL, "
                        "lease_expires_ms = NULL" FENCE,
                        FT_TOPIC_EVENTS, NULL, err, "ttjI", id, lease, error, ft_db_now());
}

int ft_store_job_cancelled(ft_store *s, const char *id, const char *lease, ft_error *err)
{
    return fenced_write(s, id, true,
                        "UPDATE jobs SET status = 'cancelled', finished_at = ?3, lease_token = NULL, "
                        "lease_expires_ms = NULL" FENCE,
                        FT_TOPIC_EVENTS, NULL, err, "ttI", id, lease, ft_db_now());
}

int ft_store_job_requeue(ft_store *s, const char *id, const char *lease, ft_error *err)
{
    /* A shutdown is not the job's fault, so the attempt is given back. A
     * job whose cancel was requested meanwhile ends here instead of running
     * again only to be cancelled. */
    return fenced_write(s, id, true,
                        "UPDATE jobs SET status = CASE WHEN cancel_requested <> 0 THEN 'cancelled' ELSE 'queued' END, "
                        "finished_at = CASE WHEN cancel_requested <> 0 THEN ?3 END, attempts = attempts - 1, "
                        "lease_token = NULL, lease_expires_ms = NULL" FENCE,
                        FT_TOPIC_QUEUE, NULL, err, "ttI", id, lease, ft_db_now());
}
