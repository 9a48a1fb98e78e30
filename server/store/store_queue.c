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

/* Running jobs whose lease expired and that must not run again are settled
 * by each claim (the dialect's settle_dead, the claim's first statement):
 * the ones that used up max_attempts fail, the ones whose cancel was
 * requested before their worker died are cancelled. */

/* The rows settle_dead returned, as [id, status, why] in settled. */
static int collect_settled(ft_db_rows *r, json_t *settled, ft_error *err)
{
    int rc;
    while ((rc = ft_db_next(r, err)) == 1) {
        json_t *job = json_pack("[sss]", ft_db_text(r, 0), ft_db_text(r, 1), ft_db_text(r, 2));
        if (!job || json_array_append_new(settled, job) != 0)
            return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    }
    return rc;
}

/* Each settled job gets an event saying why, and its webhook event; *ids
 * receives their ids (NULL if none). */
static int record_settled(ft_db_conn *c, const json_t *settled, json_t **ids, ft_error *err)
{
    size_t i;
    json_t *job;
    json_array_foreach(settled, i, job) {
        const char *id = json_string_value(json_array_get(job, 0));
        bool failed = strcmp(json_string_value(json_array_get(job, 1)), "failed") == 0;
        if (ft_db_event_add(c, id, NULL, failed ? "error" : "info", json_string_value(json_array_get(job, 2)), NULL,
                            err) < 0 ||
            ft_db_webhook_job_ended(c, id, err) != 0)
            return -1;
        if (!*ids && !(*ids = json_array()))
            return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        json_array_append(*ids, json_array_get(job, 0));
    }
    return 0;
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
    json_t *settled;  /* the dead jobs the transaction settled, [[id, status, why]] */
    int taken;        /* the jobs it took */
} claim_batch;

/* The i-th claim of a batch. */
static claiming *claim_of(const claim_batch *b, int i)
{
    return b->calls[i]->ctx;
}

/* The jobs the claim statement took, each to the call whose token it
 * holds. */
static int take_claimed(claim_batch *b, ft_db_rows *r, ft_error *err)
{
    int rc;
    while ((rc = ft_db_next(r, err)) == 1) {
        const char *token = ft_db_text(r, 3);
        claiming *q = NULL;
        for (int i = 0; i < b->n && !q; i++)
            if (strcmp(claim_of(b, i)->token, token) == 0)
                q = claim_of(b, i);
        if (!q)
            return ft_fail(err, FT_EIO, NULL, "a claim returned a lease token that no claimer holds");
        snprintf(q->claim->id, sizeof q->claim->id, "%s", ft_db_text(r, 0));
        snprintf(q->claim->lease, sizeof q->claim->lease, "%s", q->token);
        q->claim->attempts = (int)ft_db_int(r, 2);
        if (!(q->claim->spec = ft_db_col_json(r, 1, err)))
            return -1;
        b->taken++;
    }
    return rc;
}

/* The rows of a claim's two statements: the dead jobs settled, then the
 * jobs taken. */
static int claim_rows(void *ctx, int i, ft_db_rows *r, ft_error *err)
{
    claim_batch *b = ctx;
    return (i == 0 ? collect_settled(r, b->settled, err) : take_claimed(b, r, err)) < 0 ? -1 : 0;
}

/* Settle dead jobs, then take the oldest runnable ones, one per call (see
 * ft_store_job_claim), both statements sent at once: the number of jobs
 * taken. The dead jobs settled go to the first call, for its worker to
 * clean up after. */
static int claim_body(ft_db_conn *c, void *ctx, ft_error *err)
{
    claim_batch *b = ctx;
    for (int i = 0; i < b->n; i++)
        ft_claim_free(claim_of(b, i)->claim);
    b->taken = 0;
    json_array_clear(b->settled);
    int64_t now_ms = ft_db_now_ms();
    /* Rounded up to a power of two: a few statement texts, not one per n. */
    int limit = 1;
    while (limit < b->n)
        limit *= 2;
    char sql[2048];
    if (snprintf(sql, sizeof sql, ft_db_sql(c)->claim, limit) >= (int)sizeof sql)
        return ft_fail(err, FT_EINVAL, NULL, "the claim statement is longer than %zu bytes", sizeof sql);
    ft_db_param p[5];
    char *texts[5] = {NULL};
    ft_db_stmt both[2] = {{.sql = ft_db_sql(c)->settle_dead, .p = p}, {.sql = sql, .p = p + 2}};
    int rc = ft_db_params(p, texts, &both[0].n, err, "II", now_ms / 1000, now_ms);
    if (rc == 0)
        rc = ft_db_params(p + 2, texts + 2, &both[1].n, err, "jII", b->claimers, now_ms, now_ms / 1000);
    if (rc == 0)
        rc = ft_db_query_each(c, 2, both, claim_rows, b, err);
    for (int i = 0; i < 5; i++)
        free(texts[i]);
    if (rc == 0)
        rc = record_settled(c, b->settled, &claim_of(b, 0)->claim->settled, err);
    return rc < 0 ? -1 : b->taken;
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
    claim_batch b = {.calls = calls, .n = n, .claimers = json_array(), .settled = json_array()};
    int rc = b.claimers && b.settled ? 0 : ft_fail(&err, FT_ENOMEM, NULL, "out of memory");
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
    json_decref(b.settled);
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
    char type[32];  /* from the UPDATE's RETURNING: its job.<status> event */
    json_t *event;  /* (NULL: the lease was not held, no event), */
    bool endpoints; /* and whether any webhook endpoint may want it */
} success;

/* The successes of one transaction, for succeed_all. */
typedef struct {
    ft_db_request **calls;
    int n;
    bool call_failed; /* a call's statements failed (not the COMMIT) */
} success_batch;

/* Returns the event's columns, then whether an endpoint for every job or
 * for this one exists: with none (the usual case), the endpoints are not
 * read at all. */
#define SUCCEED_SQL                                                                                                   \
    "UPDATE jobs SET status = 'succeeded', finished_at = ?3, result = ?4, result_model = ?5, lease_token = NULL, "  \
    "lease_expires_ms = NULL" FENCE " RETURNING " FT_DB_JOB_ENDED_COLUMNS                                           \
    ", CASE WHEN EXISTS (SELECT 1 FROM webhooks WHERE job_id IS NULL OR job_id = ?1) THEN 1 ELSE 0 END"
#define SUCCEED_PARAMS 5

/* The i-th success's UPDATE ran: its rc is 1 if it held its lease (its
 * event built from the returned row), 0 if not. */
static int succeeded(void *ctx, int i, ft_db_rows *r, ft_error *err)
{
    ft_db_request *call = ((success_batch *)ctx)->calls[i];
    success *o = call->ctx;
    call->rc = ft_db_next(r, err);
    if (call->rc == 1 && !(o->event = ft_db_job_ended_event(r, o->id, o->type, err)))
        call->rc = -1;
    o->endpoints = call->rc == 1 && ft_db_int(r, 5) != 0;
    return call->rc < 0 ? -1 : 0;
}

/* What a success adds to its transaction once its UPDATE held: the model
 * row (which exists only if the job really succeeded under this lease:
 * both commit together or neither does), its webhook deliveries, and the
 * announcement. */
static int record_success(ft_db_conn *c, const success *o, ft_error *err)
{
    if (o->model_obj && ft_db_insert_record(c, &ft_db_models, o->model_obj, err) != 0)
        return -1;
    if (o->endpoints && ft_db_webhook_enqueue(c, o->type, o->event, o->id, err) != 0)
        return -1;
    return ft_db_notify(c, FT_TOPIC_EVENTS, o->id, err);
}

/* Every call's fenced UPDATE by its job's id, sent together (a statement
 * for all of them would leave the planner a join to get wrong); then, for
 * those that held, the rest. Each call's rc is set (1 held, 0 not); a
 * failure aborts them all. */
static int succeed_all(ft_db_conn *c, void *ctx, ft_error *err)
{
    success_batch *b = ctx;
    ft_db_param p[FT_DB_BATCH_MAX * SUCCEED_PARAMS];
    ft_db_stmt updates[FT_DB_BATCH_MAX];
    char *texts[FT_DB_BATCH_MAX * SUCCEED_PARAMS] = {0};
    int64_t now = ft_db_now();
    int rc = 0;
    for (int i = 0; i < b->n; i++) {
        success *o = b->calls[i]->ctx;
        json_decref(o->event); /* from an earlier try of this transaction */
        o->event = NULL;
        b->calls[i]->rc = 0;
        updates[i] = (ft_db_stmt){.sql = SUCCEED_SQL, .p = p + i * SUCCEED_PARAMS};
        if (rc == 0 && ft_db_params(p + i * SUCCEED_PARAMS, texts + i * SUCCEED_PARAMS, &updates[i].n, err, "ttIjt",
                                    o->id, o->lease, now, o->result, o->model_id) != 0)
            rc = -1;
    }
    if (rc == 0)
        rc = ft_db_query_each(c, b->n, updates, succeeded, b, err);
    for (int i = 0; i < b->n * SUCCEED_PARAMS; i++)
        free(texts[i]);
    for (int i = 0; i < b->n && rc == 0; i++)
        if (b->calls[i]->rc == 1 && record_success(c, b->calls[i]->ctx, err) != 0)
            rc = -1;
    b->call_failed = rc != 0;
    return rc;
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
            success_batch alone = {.calls = &calls[i], .n = 1};
            if (ft_db_transact(s, succeed_all, &alone, &calls[i]->err) < 0)
                calls[i]->rc = -1;
        } else { /* as for one call: a failed COMMIT may have happened or not */
            calls[i]->rc = -1;
            calls[i]->err = err;
        }
    }
    for (int i = 0; i < n; i++)
        json_decref(((success *)calls[i]->ctx)->event);
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
