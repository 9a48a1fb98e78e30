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

/* A claim, for its transaction. */
typedef struct {
    const char *token, *worker;
    int lease_seconds;
    ft_claim *claim;
} claiming;

/* Settle dead jobs, then take the oldest runnable one (see
 * ft_store_job_claim). */
static int claim_body(ft_db_conn *c, void *ctx, ft_error *err)
{
    claiming *q = ctx;
    ft_claim *claim = q->claim;
    ft_claim_free(claim);
    int64_t now_ms = ft_db_now_ms();
    int rc = settle_dead_jobs(c, now_ms, &claim->settled, err);
    ft_db_rows *r = rc == 0 ? ft_db_query(c, ft_db_sql(c)->claim, err, "tIitI", q->token, now_ms, q->lease_seconds,
                                          q->worker, now_ms / 1000)
                            : NULL;
    rc = r ? ft_db_next(r, err) : -1;
    if (rc == 1) {
        snprintf(claim->id, sizeof claim->id, "%s", ft_db_text(r, 0));
        snprintf(claim->lease, sizeof claim->lease, "%s", q->token);
        claim->attempts = (int)ft_db_int(r, 2);
        if (!(claim->spec = ft_db_col_json(r, 1, err)))
            rc = -1;
    }
    ft_db_done(r);
    return rc;
}

/* After a lost COMMIT: the claim happened if a job holds its token (fresh
 * for each claim). A claim that took nothing counts as not there and runs
 * again, which only settles what is still unsettled. */
static int claimed(ft_db_conn *c, void *ctx, ft_error *err)
{
    const claiming *q = ctx;
    int64_t one;
    return ft_db_scalar(c, "SELECT 1 FROM jobs WHERE lease_token = ?1", &one, err, "t", q->token);
}

int ft_store_job_claim(ft_store *s, const char *worker, int lease_seconds, ft_claim *claim, ft_error *err)
{
    memset(claim, 0, sizeof *claim);
    if (lease_seconds < 1)
        return ft_fail(err, FT_EINVAL, "lease_seconds", "a lease must last at least one second");
    char token[33];
    if (ft_db_token(token, err) != 0)
        return -1;
    if (s->drv->sql->claim_precheck) {
        ft_db_conn *c = ft_db_acquire(s, err);
        int rc = c ? anything_runnable(c, ft_db_now_ms(), err) : -1;
        ft_db_release(c);
        if (rc <= 0)
            return rc;
    }
    claiming q = {.token = token, .worker = worker, .lease_seconds = lease_seconds, .claim = claim};
    int rc = ft_db_transact_checked(s, claim_body, claimed, &q, err);
    if (rc != 1) {
        /* On error the settling was rolled back with the rest. */
        json_t *settled = rc == 0 ? json_incref(claim->settled) : NULL;
        ft_claim_free(claim);
        claim->settled = settled;
    }
    return rc;
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

/* A job's success and its model row, for succeed_body. */
typedef struct {
    const char *id, *lease, *model_id;
    const json_t *model_obj, *result;
} success;

static int succeed_body(ft_db_conn *c, void *ctx, ft_error *err)
{
    const success *o = ctx;
    int rc = ft_db_write(c,
                         "UPDATE jobs SET status = 'succeeded', finished_at = ?3, result = ?4, result_model = ?5, "
                         "lease_token = NULL, lease_expires_ms = NULL" FENCE,
                         err, "ttIjt", o->id, o->lease, ft_db_now(), o->result, o->model_id);
    /* The model row exists only if the job really succeeded under this
     * lease: both commit together or neither does. */
    if (rc == 1 && o->model_obj && ft_db_insert_record(c, &ft_db_models, o->model_obj, err) != 0)
        rc = -1;
    if (rc == 1 && ft_db_notify(c, FT_TOPIC_EVENTS, o->id, err) != 0)
        rc = -1;
    if (rc == 1 && ft_db_webhook_job_ended(c, o->id, err) != 0)
        rc = -1;
    return rc;
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
    return ft_db_transact(s, succeed_body, &o, err);
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
