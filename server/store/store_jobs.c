/* Jobs as records: the job object, submit (with Idempotency-Key), cancel,
 * the event log and per-epoch metrics. The queue mechanics (claim, lease,
 * fenced transitions) are in store_queue.c.
 */
#include "server/store/store_db.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#define FT_EVENTS_MAX 10000

/* The job object's keys in API order; entry i is read from column i of
 * JOB_COLUMNS (keep the two in step). Types: 't' text or null, 'i' integer
 * or null, 'j' JSON, 'b' boolean. "object": "job" follows "id", and the
 * keys of the stored result (test_metrics, train_seconds...) follow all. */
static const struct {
    const char *key;
    char type;
} job_keys[] = {
    {"id", 't'},          {"created_at", 'i'}, {"started_at", 'i'},   {"finished_at", 'i'},
    {"status", 't'},      {"name", 't'},       {"spec", 'j'},         {"progress", 'j'},
    {"metrics", 'j'},     {"warnings", 'j'},   {"error", 'j'},        {"attempts", 'i'},
    {"max_attempts", 'i'}, {"result_model", 't'}, {"cancel_requested", 'b'}, {"metadata", 'j'},
    {"sweep_id", 't'},
};
#define FT_NJOB_KEYS (int)(sizeof job_keys / sizeof job_keys[0])
#define JOB_COLUMNS                                                                                   \
    "id, created_at, started_at, finished_at, status, name, spec, progress, metrics, warnings, error, " \
    "attempts, max_attempts, result_model, cancel_requested, metadata, sweep_id, result"

static json_t *job_value(ft_db_rows *r, int i, ft_error *err)
{
    switch (job_keys[i].type) {
    case 't': return ft_db_col_text_or_null(r, i);
    case 'i': return ft_db_col_int_or_null(r, i);
    case 'b': return json_boolean(ft_db_int(r, i) != 0);
    default: return ft_db_col_json(r, i, err);
    }
}

static json_t *job_row(ft_db_rows *st, ft_error *err)
{
    json_t *o = json_object();
    int rc = o ? 0 : -1;
    for (int i = 0; rc == 0 && i < FT_NJOB_KEYS; i++) {
        json_t *v = job_value(st, i, err);
        rc = v && json_object_set_new(o, job_keys[i].key, v) == 0 ? 0 : -1;
        if (rc == 0 && i == 0)
            rc = json_object_set_new(o, "object", json_string("job"));
    }
    json_t *result = rc == 0 ? ft_db_col_json(st, FT_NJOB_KEYS, err) : NULL;
    /* The store's own keys win if the result happens to repeat one. */
    if (!result || (json_is_object(result) && json_object_update_missing(o, result) != 0))
        rc = -1;
    json_decref(result);
    if (rc != 0) {
        json_decref(o);
        ft_fail(err, FT_EIO, NULL, "cannot build the job object (corrupt row or out of memory)");
        return NULL;
    }
    return o;
}

const ft_db_kind ft_db_jobs = {"jobs", "job", JOB_COLUMNS, job_row, true};

json_t *ft_store_job_get(ft_store *s, const char *id, ft_error *err)
{
    return ft_db_fetch(s, &ft_db_jobs, id, err);
}

json_t *ft_store_job_list(ft_store *s, const ft_list_query *q, bool *has_more, ft_error *err)
{
    return ft_db_list(s, &ft_db_jobs, q, has_more, err);
}

/* ---- submit ---- */

static int check_new_job(const json_t *obj, ft_error *err)
{
    if (!json_is_string(json_object_get(obj, "id")))
        return ft_fail(err, FT_EINVAL, "id", "a job needs a string id");
    if (!json_is_object(json_object_get(obj, "spec")))
        return ft_fail(err, FT_EINVAL, "spec", "a job needs a spec object");
    json_t *v = json_object_get(obj, "warnings");
    if (v && !json_is_null(v) && !json_is_array(v))
        return ft_fail(err, FT_EINVAL, "warnings", "warnings must be an array");
    v = json_object_get(obj, "metadata");
    if (v && !json_is_null(v) && !json_is_object(v))
        return ft_fail(err, FT_EINVAL, "metadata", "metadata must be an object");
    v = json_object_get(obj, "name");
    if (v && !json_is_null(v) && !json_is_string(v))
        return ft_fail(err, FT_EINVAL, "name", "name must be a string");
    v = json_object_get(obj, "max_attempts");
    if (v && (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > INT_MAX))
        return ft_fail(err, FT_EINVAL, "max_attempts", "max_attempts must be a positive integer");
    return 0;
}

int ft_db_job_insert(ft_db_conn *c, const json_t *obj, const char *idempotency_key, const char *request_hash,
                     json_t **existing, ft_error *err)
{
    if (check_new_job(obj, err) != 0)
        return -1;
    int rc = idempotency_key ? ft_db_replay(c, &ft_db_jobs, idempotency_key, request_hash, existing, err) : 0;
    if (rc == 0) {
        const char *id = json_string_value(json_object_get(obj, "id"));
        json_t *max_attempts = json_object_get(obj, "max_attempts");
        rc = ft_db_write(c,
                         "INSERT INTO jobs (id, name, spec, metadata, warnings, max_attempts, idempotency_key, "
                         "request_hash, created_at, sweep_id) VALUES (?1, ?2, ?3, COALESCE(?4, '{}'), "
                         "COALESCE(?5, '[]'), ?6, ?7, ?8, ?9, ?10) ON CONFLICT (id) DO NOTHING",
                         err, "ttjjjittIt", id, json_string_value(json_object_get(obj, "name")),
                         json_object_get(obj, "spec"), json_object_get(obj, "metadata"),
                         json_object_get(obj, "warnings"),
                         max_attempts ? (int)json_integer_value(max_attempts) : 3, idempotency_key,
                         idempotency_key ? request_hash : NULL, ft_db_now(),
                         json_string_value(json_object_get(obj, "sweep_id")));
        if (rc == 0)
            rc = ft_fail(err, FT_EINVAL, "id", "job %s already exists", id);
        json_t *hook = json_object_get(obj, "webhook");
        if (rc == 1 && hook && ft_db_webhook_insert(c, hook, err) != 0)
            rc = -1;
        if (rc == 1 && ft_db_notify(c, FT_TOPIC_QUEUE, "", err) != 0)
            rc = -1;
    }
    return rc;
}

/* Drop an output object (out may be NULL): a transaction's body sets its
 * outputs anew on each run, and a failure leaves none. */
static void drop(json_t **out)
{
    if (out) {
        json_decref(*out);
        *out = NULL;
    }
}

/* A submit, for the insert's transaction. */
typedef struct {
    const json_t *obj;
    const char *id, *key, *hash;
    json_t **existing;
} submit;

static int insert_body(ft_db_conn *c, void *ctx, ft_error *err)
{
    submit *o = ctx;
    drop(o->existing);
    return ft_db_job_insert(c, o->obj, o->key, o->hash, o->existing, err);
}

/* After a lost COMMIT: a replay wrote nothing; otherwise a job with the new
 * id is this submit's (ids are made fresh for each submit, and a taken one
 * fails the insert before its commit). */
static int inserted(ft_db_conn *c, void *ctx, ft_error *err)
{
    const submit *o = ctx;
    return o->existing && *o->existing ? 1 : ft_db_has(c, &ft_db_jobs, o->id, err);
}

int ft_store_job_insert(ft_store *s, const json_t *obj, const char *idempotency_key, const char *request_hash,
                        json_t **existing, ft_error *err)
{
    if (existing)
        *existing = NULL;
    submit o = {.obj = obj, .id = json_string_value(json_object_get(obj, "id")), .key = idempotency_key,
                .hash = request_hash, .existing = existing};
    int rc = ft_db_transact_checked(s, insert_body, inserted, &o, err);
    if (rc < 0)
        drop(existing);
    return rc < 0 ? -1 : 0;
}

/* ---- cancel ---- */

static int cancel_on(ft_db_conn *c, const char *id, json_t **obj, ft_error *err)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT status FROM jobs WHERE id = ?1%s", ft_db_sql(c)->row_lock);
    ft_db_rows *r = ft_db_query(c, sql, err, "t", id);
    int rc = r ? ft_db_next(r, err) : -1;
    char status[16] = "";
    if (rc == 1)
        snprintf(status, sizeof status, "%s", ft_db_text(r, 0));
    ft_db_done(r);
    if (rc == 0)
        rc = ft_fail(err, FT_ENOTFOUND, "id", "no such job: %s", id);
    else if (rc == 1 && strcmp(status, "queued") == 0) {
        rc = ft_db_write(c, "UPDATE jobs SET status = 'cancelled', finished_at = ?2 WHERE id = ?1", err, "tI", id,
                         ft_db_now());
        /* The outbox rows commit with the status or not at all. */
        if (rc == 1 && ft_db_webhook_job_ended(c, id, err) != 0)
            rc = -1;
    } else if (rc == 1 && strcmp(status, "running") == 0) {
        /* The worker sees the flag within a batch and ends the job with
         * ft_store_job_cancelled; only it knows when training has stopped. */
        rc = ft_db_write(c, "UPDATE jobs SET cancel_requested = 1 WHERE id = ?1", err, "t", id);
        if (rc >= 0 && ft_db_notify(c, FT_TOPIC_CANCEL, id, err) != 0)
            rc = -1;
    } else if (rc == 1)
        rc = ft_fail(err, FT_EINVAL, "status", "job %s is already %s", id, status);
    if (rc >= 0 && ft_db_notify(c, FT_TOPIC_EVENTS, id, err) != 0)
        rc = -1;
    if (rc >= 0 && obj && !(*obj = ft_db_get(c, &ft_db_jobs, id, err)))
        rc = -1;
    return rc;
}

/* A cancel, for its transaction. */
typedef struct {
    const char *id;
    json_t **obj;
} cancel;

static int cancel_body(ft_db_conn *c, void *ctx, ft_error *err)
{
    cancel *o = ctx;
    drop(o->obj);
    return cancel_on(c, o->id, o->obj, err);
}

int ft_store_job_cancel(ft_store *s, const char *id, json_t **obj, ft_error *err)
{
    if (obj)
        *obj = NULL;
    cancel o = {.id = id, .obj = obj};
    /* A lost COMMIT is an error: the client sees the job's state and may
     * cancel again (a second cancel of a running job changes nothing). */
    int rc = ft_db_transact(s, cancel_body, &o, err);
    if (rc < 0)
        drop(obj);
    return rc < 0 ? -1 : 0;
}

bool ft_store_job_cancel_requested(ft_store *s, const char *id)
{
    ft_error err;
    int64_t one;
    ft_db_conn *c = ft_db_acquire(s, &err);
    bool requested = c && ft_db_scalar(c, "SELECT 1 FROM jobs WHERE id = ?1 AND status = 'running' AND "
                                          "cancel_requested <> 0", &one, &err, "t", id) == 1;
    ft_db_release(c);
    return requested;
}

/* ---- events ---- */

/* An attempt's own writes are fenced like store_queue.c's transitions: with
 * a lease they apply only while it holds the running job; NULL means
 * unfenced. */
#define LEASE_HOLDS(n) "(" n " IS NULL OR (lease_token = " n " AND status = 'running'))"

/* ft_db_event_add, with the new event's seq in *seq (when added). */
static int event_insert(ft_db_conn *c, const char *id, const char *lease, const char *level, const char *message,
                        const json_t *data, int64_t *seq, ft_error *err)
{
    if (!level || (strcmp(level, "info") != 0 && strcmp(level, "warning") != 0 && strcmp(level, "error") != 0))
        return ft_fail(err, FT_EINVAL, "level", "event level must be info, warning or error");
    if (!message)
        return ft_fail(err, FT_EINVAL, "message", "an event needs a message");
    /* The next seq is computed in the same statement as the insert, with
     * the job locked (SQLite's write lock, PostgreSQL's row lock taken by
     * lock_job), so seqs never repeat or go back. */
    if (ft_db_run_opt(c, ft_db_sql(c)->lock_job, id, err) != 0)
        return -1;
    ft_db_rows *r = ft_db_query(c,
                                "INSERT INTO job_events (job_id, seq, created_at, level, message, data) "
                                "SELECT id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM job_events WHERE job_id = ?1), "
                                "?2, ?3, ?4, ?5 FROM jobs WHERE id = ?1 AND " LEASE_HOLDS("?6") " RETURNING seq",
                                err, "tIttjt", id, ft_db_now(), level, message, data, lease);
    int n = r ? ft_db_next(r, err) : -1;
    if (n == 1)
        *seq = ft_db_int(r, 0);
    ft_db_done(r);
    if (n == 0 && !lease)
        return ft_fail(err, FT_ENOTFOUND, "id", "no such job: %s", id);
    if (n == 1 && ft_db_notify(c, FT_TOPIC_EVENTS, id, err) != 0)
        return -1;
    return n;
}

int ft_db_event_add(ft_db_conn *c, const char *id, const char *lease, const char *level, const char *message,
                    const json_t *data, ft_error *err)
{
    int64_t seq;
    return event_insert(c, id, lease, level, message, data, &seq, err);
}

/* An event to append, for its transaction. */
typedef struct {
    const char *id, *lease, *level, *message;
    const json_t *data;
    int64_t seq; /* what the insert took (0: none) */
} event;

static int event_body(ft_db_conn *c, void *ctx, ft_error *err)
{
    event *e = ctx;
    e->seq = 0;
    return event_insert(c, e->id, e->lease, e->level, e->message, e->data, &e->seq, err);
}

/* After a lost COMMIT: the event is there if its seq holds its message (a
 * seq is taken under the job's lock, so had the insert not happened, the
 * seq is free or another event's). */
static int event_added(ft_db_conn *c, void *ctx, ft_error *err)
{
    const event *e = ctx;
    int64_t one;
    return ft_db_scalar(c, "SELECT 1 FROM job_events WHERE job_id = ?1 AND seq = ?2 AND level = ?3 AND message = ?4",
                        &one, err, "tItt", e->id, e->seq, e->level, e->message);
}

int ft_store_job_event(ft_store *s, const char *id, const char *lease, const char *level, const char *message,
                       const json_t *data, ft_error *err)
{
    event e = {.id = id, .lease = lease, .level = level, .message = message, .data = data};
    return ft_db_transact_checked(s, event_body, event_added, &e, err);
}

/* Rows of sql (bound to id and the extra integers) through `row`, for a job
 * that must exist: unknown ids are FT_ENOTFOUND rather than an empty list. */
static json_t *job_rows(ft_db_conn *c, const char *id, const char *sql, int64_t a, int b,
                        json_t *(*row)(ft_db_rows *, ft_error *), ft_error *err)
{
    int rc = ft_db_has(c, &ft_db_jobs, id, err);
    if (rc == 0)
        ft_fail(err, FT_ENOTFOUND, "id", "no such job: %s", id);
    if (rc != 1)
        return NULL;
    json_t *list = json_array();
    ft_db_rows *r = list ? ft_db_query(c, sql, err, "tIi", id, a, b) : NULL;
    rc = r ? 0 : -1;
    while (rc == 0 && (rc = ft_db_next(r, err)) == 1) {
        json_t *v = row(r, err);
        rc = v && json_array_append_new(list, v) == 0 ? 0 : -1;
    }
    ft_db_done(r);
    if (rc != 0) {
        if (!list)
            ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        json_decref(list);
        return NULL;
    }
    return list;
}

/* job_rows on a connection of its own. */
static json_t *job_rows_of(ft_store *s, const char *id, const char *sql, int64_t a, int b,
                           json_t *(*row)(ft_db_rows *, ft_error *), ft_error *err)
{
    ft_db_conn *c = ft_db_acquire(s, err);
    json_t *list = c ? job_rows(c, id, sql, a, b, row, err) : NULL;
    ft_db_release(c);
    return list;
}

/* Columns: seq, created_at, level, message, data. */
static json_t *event_row(ft_db_rows *r, ft_error *err)
{
    json_t *data = ft_db_col_json(r, 4, err);
    if (!data)
        return NULL;
    json_t *e = json_pack("{ss sI sI ss ss so}", "object", "job.event", "seq", (json_int_t)ft_db_int(r, 0),
                          "created_at", (json_int_t)ft_db_int(r, 1), "level", ft_db_text(r, 2), "message",
                          ft_db_text(r, 3), "data", data);
    if (!e)
        ft_fail(err, FT_ENOMEM, NULL, "out of memory building an event");
    return e;
}

json_t *ft_store_job_events(ft_store *s, const char *id, int64_t after_seq, int limit, ft_error *err)
{
    if (limit < 1 || limit > FT_EVENTS_MAX) {
        ft_fail(err, FT_EINVAL, "limit", "limit must be between 1 and %d", FT_EVENTS_MAX);
        return NULL;
    }
    return job_rows_of(s, id,
                    "SELECT seq, created_at, level, message, data FROM job_events "
                    "WHERE job_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                    after_seq, limit, event_row, err);
}

/* ---- per-epoch metrics ---- */

int ft_store_job_metric_put(ft_store *s, const char *id, const char *lease, int epoch, const json_t *row,
                            ft_error *err)
{
    if (!json_is_object(row))
        return ft_fail(err, FT_EINVAL, "row", "a metrics row must be an object");
    int n = ft_db_write_tx(s,
                           "INSERT INTO job_metrics (job_id, epoch, row) SELECT id, ?2, ?3 FROM jobs "
                           "WHERE id = ?1 AND " LEASE_HOLDS("?4") " ON CONFLICT (job_id, epoch) DO UPDATE SET row = excluded.row",
                           err, "tijt", id, epoch, row, lease);
    if (n == 0 && !lease)
        return ft_fail(err, FT_ENOTFOUND, "id", "no such job: %s", id);
    return n;
}

/* Columns: epoch, row. "epoch" comes first, then the row's keys in the
 * order the worker gave them (the CSV export keeps that column order). */
static json_t *metric_row(ft_db_rows *r, ft_error *err)
{
    json_t *stored = ft_db_col_json(r, 1, err);
    json_t *o = stored ? json_pack("{sI}", "epoch", (json_int_t)ft_db_int(r, 0)) : NULL;
    if (stored && (!o || !json_is_object(stored) || json_object_update_missing(o, stored) != 0)) {
        json_decref(o);
        o = NULL;
        ft_fail(err, FT_EIO, NULL, "cannot build a metrics row (corrupt row or out of memory)");
    }
    json_decref(stored);
    return o;
}

json_t *ft_store_job_metrics(ft_store *s, const char *id, ft_error *err)
{
    /* ?2 and ?3 are unused bounds that keep job_rows' binding uniform. */
    return job_rows_of(s, id,
                    "SELECT epoch, row FROM job_metrics WHERE job_id = ?1 AND epoch > ?2 "
                    "ORDER BY epoch LIMIT ?3",
                    INT64_MIN, INT_MAX, metric_row, err);
}
