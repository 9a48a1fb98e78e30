/* The service's persistent state behind one interface.
 *
 * Two backends: SQLite (sqlite/, the embedded default: one process, one
 * file) and PostgreSQL (postgres/: many API and worker processes on many
 * hosts, claims with FOR UPDATE SKIP LOCKED, wake-ups with LISTEN/NOTIFY).
 * Records cross the interface as jansson objects shaped like the API's
 * objects, so routes can return them with few changes.
 *
 * Thread safety: every function may be called from any thread; the SQLite
 * backend keeps one connection per thread (WAL mode, busy_timeout, writes in
 * BEGIN IMMEDIATE), the PostgreSQL one a small pool.
 *
 * Errors: 0 on success, -1 with err filled: FT_ENOTFOUND for an unknown id,
 * FT_EINVAL for a state conflict (err->param names the conflict, e.g.
 * "status"), FT_EIO for a database failure (FT_ENOSPC when the disk is
 * full).
 */
#ifndef FT_STORE_H
#define FT_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/util/error.h"

typedef struct ft_store ft_store;

/* Whether target names a PostgreSQL database: a postgres:// or
 * postgresql:// URI, or a libpq keyword string ("host=... dbname=...");
 * anything else is an SQLite file path. */
bool ft_store_target_is_postgres(const char *target);

/* Open the database that target names (an SQLite file is created if
 * missing) and apply the migrations in order, each in one transaction:
 * for SQLite migrations_dir/NNNN_*.sql tracked with PRAGMA user_version,
 * for PostgreSQL migrations_dir/postgres/NNNN_*.sql tracked in the table
 * schema_migrations. A database whose version is newer than the newest
 * migration is refused (FT_EINVAL) rather than touched. */
ft_store *ft_store_open(const char *target, const char *migrations_dir, ft_error *err);
/* Close every connection. Call it once the other threads that used the
 * store have exited or will not touch it again (idle threads are fine: their
 * connections are closed here); no such thread may be exiting meanwhile. */
void ft_store_close(ft_store *s);

/* Schema version in use (the last migration applied). */
int ft_store_schema_version(ft_store *s);

/* Whether several processes may use this store at once (PostgreSQL); an
 * SQLite store belongs to one process. */
bool ft_store_shared(const ft_store *s);

/* Topics a shared store announces to every process using it; the payload
 * is a job id (or "" for FT_TOPIC_QUEUE). */
#define FT_TOPIC_QUEUE "ft_queue"     /* a job became claimable (submit, requeue) */
#define FT_TOPIC_EVENTS "ft_events"   /* a job has a new event, progress or status */
#define FT_TOPIC_CANCEL "ft_cancel"   /* cancel was requested for a running job */

/* Called from the store's listener thread for each announcement; topic
 * NULL means "announcements may have been missed" (after a reconnect), so
 * look at everything again. Must not block. */
typedef void (*ft_store_notify_fn)(void *ctx, const char *topic, const char *payload);
/* Deliver announcements made by other processes (and this one) to cb
 * until ft_store_close, or until a call with cb NULL, which returns once
 * no callback can run any more. A no-op for SQLite, where the one process
 * signals itself. */
int ft_store_listen(ft_store *s, ft_store_notify_fn cb, void *ctx, ft_error *err);
/* At shutdown: a lost database connection is tried once more, not retried
 * with backoff, so no thread keeps the process waiting on a database that
 * is gone (an unrecorded end is settled when the job's lease expires). A
 * no-op for SQLite. */
void ft_store_stop_retrying(ft_store *s);

/* A write probe for /readyz: true if the database accepts a write. A real
 * (synced) commit happens at most once per max_age_ms: a success younger
 * than that is answered from memory. Failures are never remembered, so a
 * recovery shows at once. */
bool ft_store_writable(ft_store *s, int max_age_ms, ft_error *err);

/* Lists: newest first; `after` is the id of the last item of the previous
 * page (or NULL); *has_more tells whether another page follows. The result
 * is a JSON array the caller owns. */
typedef struct {
    int limit;            /* 1..100 */
    const char *after;    /* cursor id, or NULL */
    const char *status;   /* jobs only: filter by status, or NULL */
    const char *sweep;    /* jobs only: only the jobs of this sweep, or NULL */
} ft_list_query;

/* ---- datasets ---- */

/* Insert a ready dataset. `obj` holds the API object's fields (id, name,
 * format, bytes, sha256, rows, input_shape, task, classes or targets...);
 * created_at is set by the store. */
int ft_store_dataset_insert(ft_store *s, const json_t *obj, ft_error *err);
/* The dataset object, or NULL with FT_ENOTFOUND. */
json_t *ft_store_dataset_get(ft_store *s, const char *id, ft_error *err);
json_t *ft_store_dataset_list(ft_store *s, const ft_list_query *q, bool *has_more, ft_error *err);
/* Delete a dataset row. Refused (FT_EINVAL, param "id") while a queued or
 * running job references it. */
int ft_store_dataset_delete(ft_store *s, const char *id, ft_error *err);

/* ---- models ---- */

int ft_store_model_insert(ft_store *s, const json_t *obj, ft_error *err);
json_t *ft_store_model_get(ft_store *s, const char *id, ft_error *err);
json_t *ft_store_model_list(ft_store *s, const ft_list_query *q, bool *has_more, ft_error *err);
/* Refused while a queued or running job uses it as base_model. */
int ft_store_model_delete(ft_store *s, const char *id, ft_error *err);

/* ---- jobs ---- */

/* Insert a queued job. `obj` holds id, spec, warnings, max_attempts,
 * metadata, name. If idempotency_key is non-NULL and already used:
 * with the same request_hash, *existing receives the earlier job (and nothing
 * is inserted); with another hash the call fails with FT_EINVAL and param
 * "Idempotency-Key". */
int ft_store_job_insert(ft_store *s, const json_t *obj, const char *idempotency_key,
                        const char *request_hash, json_t **existing, ft_error *err);
json_t *ft_store_job_get(ft_store *s, const char *id, ft_error *err);
json_t *ft_store_job_list(ft_store *s, const ft_list_query *q, bool *has_more, ft_error *err);

/* Cancel: a queued job becomes cancelled at once; a running job gets
 * cancel_requested (the worker stops within a batch). *obj receives the
 * updated job. Terminal jobs: FT_EINVAL with param "status". */
int ft_store_job_cancel(ft_store *s, const char *id, json_t **obj, ft_error *err);
/* Whether cancel was requested for a running job (false on any error). */
bool ft_store_job_cancel_requested(ft_store *s, const char *id);

/* A claimed job. */
typedef struct {
    char id[64];
    char lease[64];        /* lease token: the fencing token for this attempt */
    json_t *spec;          /* the job's spec (owned) */
    int attempts;          /* including this one */
    json_t *settled;       /* ids of dead jobs this call ended for good (owned; NULL if none) */
} ft_claim;

/* Claim the oldest runnable job: queued, or running with an expired lease
 * (its worker died). Atomic (UPDATE ... RETURNING). The lease lasts
 * lease_seconds. A job already at max_attempts is failed instead, with an
 * error that says so (code "max_attempts_exceeded"), and a dead job whose
 * cancel was requested is cancelled; both get an event. `worker` is
 * recorded for operators. Returns 1 with *c filled, 0 if nothing is
 * runnable (c->spec NULL), -1 on error. With 0 or 1, c->settled lists the
 * dead jobs just failed or cancelled (their checkpoints are garbage now),
 * so call ft_claim_free after either. Threads of one process that claim
 * at once share one transaction, each taking its own job and token. */
int ft_store_job_claim(ft_store *s, const char *worker, int lease_seconds, ft_claim *c, ft_error *err);
void ft_claim_free(ft_claim *c);

/* Extend the lease; returns 1 if still held, 0 if lost, -1 on error. */
int ft_store_job_heartbeat(ft_store *s, const char *id, const char *lease, int lease_seconds, ft_error *err);
/* Run action(ctx) under the lease: the action (publishing or deleting the
 * attempt's checkpoint file) runs while the lease holds the job and no
 * claim can take it meanwhile; nothing is written, so it works on a full
 * disk. Returns 1 if it ran and succeeded, 0 if the lease is lost (it did
 * not run), -1 if the action or the database failed (err filled). */
int ft_store_job_fenced(ft_store *s, const char *id, const char *lease, int (*action)(void *ctx, ft_error *err),
                        void *ctx, ft_error *err);

/* Progress while running (only by the lease holder): progress object and/or
 * latest metrics (NULL leaves a field unchanged). Returns 1 if applied, 0 if
 * the lease is lost, -1 on error. */
int ft_store_job_progress(ft_store *s, const char *id, const char *lease, const json_t *progress,
                          const json_t *metrics, ft_error *err);

/* Per-epoch metrics rows (insert or replace by epoch, so a resumed job that
 * repeats an epoch leaves one row). Fenced by lease like the transitions
 * below (NULL: unfenced): 1 if written, 0 if the lease is lost, -1 on error. */
int ft_store_job_metric_put(ft_store *s, const char *id, const char *lease, int epoch, const json_t *row,
                            ft_error *err);
/* The rows by epoch, each {"epoch": n, then the row's keys in their order}. */
json_t *ft_store_job_metrics(ft_store *s, const char *id, ft_error *err);

/* Events: level "info" / "warning" / "error", a message and optional data.
 * Each gets an increasing sequence number. Fenced by lease (NULL:
 * unfenced): 1 if written, 0 if the lease is lost, -1 on error. */
int ft_store_job_event(ft_store *s, const char *id, const char *lease, const char *level, const char *message,
                       const json_t *data, ft_error *err);
/* Events with seq > after_seq, oldest first (at most limit, 1..10000).
 * Each is {"object": "job.event", "seq", "created_at", "level", "message",
 * "data" (or null)}. */
json_t *ft_store_job_events(ft_store *s, const char *id, int64_t after_seq, int limit, ft_error *err);

/* Terminal transitions, fenced: they apply only while `lease` still holds
 * the job (returns 1), else nothing changes (returns 0). */
/* Success: inserts the result model row and marks the job succeeded in one
 * transaction; result holds test metrics etc. merged into the job. Threads
 * of one process that report at once share one transaction; if it fails,
 * each runs alone, so an error reaches only the call that caused it. */
int ft_store_job_succeed(ft_store *s, const char *id, const char *lease, const json_t *model_obj,
                         const json_t *result, ft_error *err);
/* Failure: error is {"message", "code", "param"}. */
int ft_store_job_fail(ft_store *s, const char *id, const char *lease, const json_t *error, ft_error *err);
/* Cancelled by request. */
int ft_store_job_cancelled(ft_store *s, const char *id, const char *lease, ft_error *err);
/* Back to the queue (graceful shutdown): lease cleared, the attempt not
 * counted. A job whose cancel was requested becomes cancelled instead. */
int ft_store_job_requeue(ft_store *s, const char *id, const char *lease, ft_error *err);

/* ---- webhooks ---- */

/* Insert an endpoint: obj holds id, url, events (an array of event
 * types), description (or null), job (the job whose events alone it gets,
 * or null) and secret ("whsec_..."). No read gives the secret back. */
int ft_store_webhook_insert(ft_store *s, const json_t *obj, ft_error *err);
/* The endpoint {"id", "object": "webhook", "created_at", "url", "events",
 * "description", "job"}, or NULL with FT_ENOTFOUND. */
json_t *ft_store_webhook_get(ft_store *s, const char *id, ft_error *err);
json_t *ft_store_webhook_list(ft_store *s, const ft_list_query *q, bool *has_more, ft_error *err);
/* Delete an endpoint with its deliveries: the pending ones are never sent. */
int ft_store_webhook_delete(ft_store *s, const char *id, ft_error *err);
/* An endpoint's deliveries, newest first (limit 1..100), each with its
 * attempts oldest first; FT_ENOTFOUND for an unknown endpoint. */
json_t *ft_store_webhook_deliveries(ft_store *s, const char *id, int limit, bool *has_more, ft_error *err);
/* Queue event `type` ("sweep.completed") with `data` for every registered
 * endpoint subscribed to it, in one transaction. Jobs' events are queued
 * by the store itself, with their terminal transitions. */
int ft_store_webhook_emit(ft_store *s, const char *type, const json_t *data, ft_error *err);

/* A delivery claimed for one attempt. */
typedef struct {
    char id[64];        /* msg_...: the webhook-id header, the same on every attempt */
    char endpoint[64];  /* the endpoint's id */
    char lease[33];     /* this claim's token: only it may record the attempt */
    char *url;          /* the endpoint's url (owned) */
    char *secret;       /* the endpoint's whsec_... secret (owned) */
    char *payload;      /* the JSON body (owned) */
    int attempts;       /* attempts made before this one */
    int64_t created_ms; /* when the event was queued: retries stop a bounded time after it */
} ft_delivery;

/* Claim the most overdue pending delivery for lease_ms: 1 with *d filled,
 * 0 if none is due, -1 on error. Free with ft_delivery_free after 1. */
int ft_store_delivery_claim(ft_store *s, int lease_ms, ft_delivery *d, ft_error *err);
void ft_delivery_free(ft_delivery *d);

/* One attempt's outcome and what follows it. */
typedef struct {
    int64_t started_ms, duration_ms; /* when it started (unix ms), how long it took */
    int http_status;                 /* the response's status, 0 if none came */
    const char *error;               /* why it failed without a status (or NULL) */
    const char *response;            /* at most 256 bytes of the response body (or NULL) */
    bool delivered;                  /* a 2xx: the delivery is done */
    int64_t next_attempt_ms;         /* not delivered: when to try again, 0 = give up (failed) */
} ft_delivery_attempt;

/* Record an attempt under d's lease: 1 if recorded, 0 if the delivery is
 * gone (its endpoint deleted) or another dispatcher took it over, -1 on
 * error. */
int ft_store_delivery_record(ft_store *s, const ft_delivery *d, const ft_delivery_attempt *a, ft_error *err);
/* When the next pending delivery is due (unix ms): 1 with *due_ms, 0 if
 * none is pending, -1 on error. */
int ft_store_delivery_next_due(ft_store *s, int64_t *due_ms, ft_error *err);
/* ---- sweeps (store_sweeps.c) ---- */

/* Insert a sweep and all of its jobs in one transaction, so a sweep is
 * never half-queued. `sweep` holds id, name, spec, grid, seeds, metric and
 * variants; `jobs` is an array of job rows as for ft_store_job_insert, each
 * of which gets the sweep's id as sweep_id. With idempotency_key, as for
 * ft_store_job_insert: a key used before with the same request_hash
 * inserts nothing and gives that sweep in *existing; with another hash it
 * is refused (FT_EINVAL naming Idempotency-Key). */
int ft_store_sweep_insert(ft_store *s, const json_t *sweep, const json_t *jobs, const char *idempotency_key,
                          const char *request_hash, json_t **existing, ft_error *err);
/* The sweep object: the stored fields plus status ("running" while a job is
 * queued or running, then "completed", or "cancelled" after a cancel),
 * progress {"total", "done"}, completed_at and cancelled_at. */
json_t *ft_store_sweep_get(ft_store *s, const char *id, ft_error *err);
json_t *ft_store_sweep_list(ft_store *s, const ft_list_query *q, bool *has_more, ft_error *err);
/* Every job of the sweep, oldest first (the order of its variants and
 * seeds). */
json_t *ft_store_sweep_jobs(ft_store *s, const char *id, ft_error *err);
/* Record that cancel was asked for the sweep (its jobs are cancelled one by
 * one with ft_store_job_cancel). FT_ENOTFOUND for an unknown id. */
int ft_store_sweep_cancel(ft_store *s, const char *id, ft_error *err);
/* Call after a job ended: if it belongs to a sweep whose jobs have now all
 * ended, mark the sweep complete. Returns 1 (and the sweep's id in
 * sweep_id) for the one call that completes it, 0 otherwise, -1 on error.
 * This is the one place where a sweep becomes complete. */
int ft_store_sweep_settle(ft_store *s, const char *job_id, char sweep_id[64], ft_error *err);

/* Figures for /metrics: {"jobs": {status: count, ...}, "webhook_deliveries":
 * {status: count, ...}, "datasets": {"count", "bytes"}, "models": {"count",
 * "bytes"}}. */
json_t *ft_store_stats(ft_store *s, ft_error *err);

/* Ids of every dataset and model row, for the start-up orphan sweep. */
json_t *ft_store_all_file_ids(ft_store *s, ft_error *err);

#endif
