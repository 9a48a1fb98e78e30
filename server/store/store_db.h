/* Shared internals of the store: the driver interface that each backend
 * (sqlite/, postgres/) implements, and the helpers that the store's logic
 * (store_*.c, written once for both backends) uses on top of it. Not part
 * of the store interface: routes and workers include only store.h.
 *
 * Files:
 *   store_db.c       opening a store on a backend, connections, binding,
 *                    transactions, column readers, the write probe
 *   store_migrate.c  migrations and the schema version
 *   store_records.c  datasets, models, paged lists, /metrics figures
 *   store_jobs.c     jobs as records: insert, cancel, events, metrics
 *   store_queue.c    the queue: claim, lease heartbeat, fenced transitions
 *   store_webhooks.c webhook endpoints, the outbox of deliveries, attempts
 *   store_sweeps.c   sweeps: one transaction for a sweep and its jobs,
 *                    status read from the jobs, completion
 *   store_combine.c  calls made at once by several threads share one
 *                    transaction (claims, successes)
 *   sqlite/          the SQLite driver (one connection per thread)
 *   postgres/        the PostgreSQL driver (libpq, a connection pool,
 *                    LISTEN/NOTIFY)
 *
 * What differs between backends is SQL text (ft_db_dialect) and the driver
 * calls (ft_db_driver); the logic around them is shared. Drivers include
 * this header for its types only: they call nothing in store_*.c, so the
 * folders depend one way (store/ -> store/<backend>/).
 *
 * SQL is written with SQLite's numbered parameters (?1, ?2...); the
 * PostgreSQL driver turns them into $1, $2... Integer parameters are 64-bit.
 */
#ifndef FT_STORE_DB_H
#define FT_STORE_DB_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "server/store/store.h"

typedef struct ft_db_driver ft_db_driver;

/* A connection. Each driver's connection struct starts with this header,
 * so shared code reaches the driver from a connection pointer. */
typedef struct {
    const ft_db_driver *drv;
} ft_db_conn;

/* The results of one statement; each driver's rows start with this. */
typedef struct {
    const ft_db_driver *drv;
} ft_db_rows;

/* An open backend (a database file, a pool of server connections). */
typedef struct ft_db_backend ft_db_backend;

/* One bound parameter. */
typedef struct {
    char type;          /* 't' text, 'I' 64-bit integer, 'n' NULL */
    const char *text;   /* 't' */
    int64_t i;          /* 'I' */
} ft_db_param;

#define FT_DB_MAX_PARAMS 12

/* A statement and its n parameters, one of several sent together. */
typedef struct {
    const char *sql;
    int n;
    const ft_db_param *p;
} ft_db_stmt;

/* The SQL that differs between backends. NULL means "nothing to run". */
typedef struct {
    const char *schema_bootstrap;  /* before reading the version (create the tracking table) */
    const char *schema_version;    /* one row, one integer: the last migration applied */
    const char *schema_lock;       /* run first in each migration's transaction */
    const char *schema_bump;       /* printf format: record migration %d as applied */
    const char *migrations_subdir; /* below --migrations-dir ("" or "postgres") */
    bool claim_precheck;           /* look for a runnable job (a plain read) before a claim's transaction */
    const char *row_lock;          /* appended to a SELECT to lock its rows until commit */
    const char *lock_job;          /* lock job ?1 before computing its next event seq */
    const char *lock_key;          /* serialize transactions on the text ?1 (an Idempotency-Key) */
    const char *settle_dead;       /* fail or cancel expired jobs that must not run again */
    /* Take the oldest runnable jobs, one per claimer: ?1 the claimers (a
     * JSON array of {token, worker, lease_ms}), ?2 now in ms, ?3 now in
     * seconds. A printf format: %1$d is at least the number of claimers (a
     * constant in the text, so that PostgreSQL keeps one plan per value
     * where a LIMIT parameter would have it plan every call again).
     * Returns id, spec, attempts and the lease token of each job taken
     * (claimer k takes the k-th oldest). */
    const char *claim;
    const char *record_users;      /* the first active job whose spec names record ?1 in fields ?2 */
    const char *skip_locked;       /* appended to a claim's inner SELECT: lock the row, pass over locked ones */
} ft_db_dialect;

/* Where a failed transaction lost its connection. */
typedef enum {
    FT_DB_NOT_LOST,           /* it did not: a plain error */
    FT_DB_LOST_BEFORE_COMMIT, /* before its COMMIT was sent: the server rolled all of it back */
    FT_DB_LOST_IN_COMMIT,     /* while its COMMIT was on its way: it may or may not have happened */
} ft_db_loss;

/* A backend. Every function may be called from any thread. Errors fill
 * err (FT_EIO, FT_ENOSPC, FT_ENOMEM) and return -1 or NULL. */
struct ft_db_driver {
    const char *name;              /* "sqlite", "postgres", for messages */
    const ft_db_dialect *sql;      /* the SQL this backend speaks where the two differ */
    /* Open the backend on target (a file, a connection string); no
     * connection needs to be made yet. */
    ft_db_backend *(*open)(const char *target, ft_error *err);
    /* Close every connection (see ft_store_close for the rule on threads). */
    void (*close)(ft_db_backend *b);
    /* A connection for the calling thread until release. */
    ft_db_conn *(*acquire)(ft_db_backend *b, ft_error *err);
    /* Hand a connection back (to its thread, to the pool). */
    void (*release)(ft_db_conn *c);
    /* Run a script of statements without parameters or results (migrations). */
    int (*exec)(ft_db_conn *c, const char *sql, ft_error *err);
    /* Open a write transaction; a lost connection is re-established at
     * its start, before anything of the transaction ran. */
    int (*begin)(ft_db_conn *c, ft_error *err);
    /* End the transaction: commit (0, or -1 and the caller rolls back),
     * or roll back (never fails: a lost connection rolled back already). */
    int (*commit)(ft_db_conn *c, ft_error *err);
    void (*rollback)(ft_db_conn *c);
    /* Whether and where the transaction that just failed lost its
     * connection (NULL: never happens). */
    ft_db_loss (*tx_loss)(ft_db_conn *c);
    /* Run a statement; step through its rows with next, then done. */
    ft_db_rows *(*query)(ft_db_conn *c, const char *sql, int n, const ft_db_param *p, ft_error *err);
    /* Run k statements in one round trip: rows[i] gets the i-th one's rows
     * (0), or nothing does (-1, the first failure in err). NULL: the
     * backend runs statements one at a time anyway, and ft_db_query_each
     * does so. */
    int (*query_many)(ft_db_conn *c, int k, const ft_db_stmt *stmts, ft_db_rows **rows, ft_error *err);
    int (*next)(ft_db_rows *r, ft_error *err);          /* 1 a row, 0 done, -1 error */
    int64_t (*changes)(ft_db_rows *r);                  /* rows the statement changed (once done) */
    void (*done)(ft_db_rows *r);                        /* free the rows */
    bool (*is_null)(ft_db_rows *r, int i);              /* column i of the current row is NULL */
    const char *(*text)(ft_db_rows *r, int i);          /* NULL for SQL NULL */
    int64_t (*integer)(ft_db_rows *r, int i);           /* 0 for SQL NULL */
    /* Announce topic with payload when the transaction commits (NULL: the
     * backend has a single process, nothing to announce to). */
    int (*notify)(ft_db_conn *c, const char *topic, const char *payload, ft_error *err);
    /* Deliver other processes' announcements to cb (NULL: the backend has
     * a single process, nothing to listen to). */
    int (*listen)(ft_db_backend *b, ft_store_notify_fn cb, void *ctx, ft_error *err);
    /* From now on, connect once where a lost connection was retried for a
     * while (NULL: the backend has no connections to lose). */
    void (*stop_retrying)(ft_db_backend *b);
};

extern const ft_db_driver ft_sqlite_driver, ft_pg_driver;

/* ---- combining (store_combine.c) ---- */

/* At most this many calls share one transaction. */
#define FT_DB_BATCH_MAX 32

/* One thread's call, waiting for its share of a batch. */
typedef struct ft_db_request {
    struct ft_db_request *next;
    void *ctx;    /* the call's arguments and outputs */
    int rc;       /* its result, set by the batch */
    ft_error err; /* when rc < 0 */
    bool done;
} ft_db_request;

/* Runs n calls of one kind together and sets each one's rc (and err). */
typedef void (*ft_db_batch)(ft_store *s, ft_db_request **calls, int n);

/* The calls of one kind waiting to be combined. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t done;
    ft_db_request *head, **tail; /* waiting, oldest first */
    bool running;                /* a leader is running a batch */
    unsigned long batches;       /* batches run so far */
} ft_db_combiner;

void ft_db_combiner_init(ft_db_combiner *cb);
void ft_db_combiner_destroy(ft_db_combiner *cb);

/* Make the call ctx through cb: the first caller to find no batch running
 * runs every call waiting (up to FT_DB_BATCH_MAX) with run, while the
 * others wait for their results. The call's rc, with err set if < 0. */
int ft_db_combine(ft_store *s, ft_db_combiner *cb, ft_db_batch run, void *ctx, ft_error *err);

struct ft_store {
    const ft_db_driver *drv;      /* the backend's driver */
    ft_db_backend *db;            /* the open backend */
    char *target;                 /* file or connection string, for messages (no password) */
    _Atomic int64_t writable_ms;  /* when the write probe last succeeded */
    ft_db_combiner claims;        /* ft_store_job_claim */
    ft_db_combiner successes;     /* ft_store_job_succeed */
};

/* ---- connections, statements, transactions (store_db.c) ---- */

/* The statements of one write transaction on c: >= 0 commits (and is
 * ft_db_transact's result), -1 rolls back. It may run more than once, so
 * it sets its outputs anew each time. */
typedef int (*ft_db_tx_body)(ft_db_conn *c, void *ctx, ft_error *err);
/* After a COMMIT that lost its connection: whether the transaction that
 * body (called with the same ctx) ran is in the database, read on a fresh
 * connection: 1 it is, 0 it is not, -1 error. */
typedef ft_db_tx_body ft_db_tx_check;

/* A store on the backend that target names, with no migration applied
 * (ft_store_open, in store_migrate.c, applies them). */
ft_store *ft_db_store_open(const char *target, ft_error *err);

/* A connection of s; hand it back with ft_db_release. */
ft_db_conn *ft_db_acquire(ft_store *s, ft_error *err);
void ft_db_release(ft_db_conn *c);

/* Run sql with parameters from the arguments, whose types `types` spells
 * one letter each: 't' const char * (NULL binds NULL), 'i' int, 'I'
 * int64_t, 'j' const json_t * (a compact dump; NULL or json null bind
 * NULL). ft_db_query returns the rows to step through and finish with
 * ft_db_done (NULL on error); ft_db_write runs it to the end and returns
 * the number of changed rows (-1 on error). */
ft_db_rows *ft_db_query(ft_db_conn *c, const char *sql, ft_error *err, const char *types, ...);
/* The parameters that types and the arguments after it spell (as for
 * ft_db_query) in p[0..*n); a JSON value's text goes in texts[i], which
 * the caller frees (all *n of them, also on error). */
int ft_db_params(ft_db_param *p, char **texts, int *n, ft_error *err, const char *types, ...);
/* Called with the rows of the i-th statement of ft_db_query_each: 0, or
 * -1 (with err) to stop there. */
typedef int (*ft_db_rows_fn)(void *ctx, int i, ft_db_rows *r, ft_error *err);
/* Run k <= FT_DB_BATCH_MAX statements in order, in one round trip where
 * the backend can, and hand the i-th one's rows to each(ctx, i, rows) in
 * turn, once all ran; the rows are finished after. 0, or -1 with err at
 * the first failure (a statement's or each's). */
int ft_db_query_each(ft_db_conn *c, int k, const ft_db_stmt *stmts, ft_db_rows_fn each, void *ctx, ft_error *err);
int ft_db_write(ft_db_conn *c, const char *sql, ft_error *err, const char *types, ...);
/* ft_db_write with the arguments in a va_list. */
int ft_db_vwrite(ft_db_conn *c, const char *sql, ft_error *err, const char *types, va_list ap);
/* ft_db_write in its own write transaction: for writes of one statement. */
int ft_db_write_tx(ft_store *s, const char *sql, ft_error *err, const char *types, ...);
/* ft_db_write_tx with the arguments in a va_list. When the statement
 * changed exactly one row, announce topic with payload at the commit (topic
 * NULL: nothing to announce) and run then(c, payload) in the same
 * transaction (NULL: nothing more); a lost COMMIT is settled by committed
 * as in ft_db_transact_checked. */
int ft_db_vwrite_tx(ft_store *s, const char *topic, const char *payload,
                    int (*then)(ft_db_conn *c, const char *payload, ft_error *err), ft_db_tx_check committed,
                    const char *sql, ft_error *err, const char *types, va_list ap);
/* The first column of the first row of sql as an integer: 1 with *out set,
 * 0 if there is no row, -1 on error. */
int ft_db_scalar(ft_db_conn *c, const char *sql, int64_t *out, ft_error *err, const char *types, ...);
/* Run sql (if not NULL) with one text parameter and no result. */
int ft_db_run_opt(ft_db_conn *c, const char *sql, const char *arg, ft_error *err);

/* The next row of r: 1 a row, 0 done, -1 error. */
static inline int ft_db_next(ft_db_rows *r, ft_error *err)
{
    return r->drv->next(r, err);
}

/* Finish with rows (NULL is fine). */
void ft_db_done(ft_db_rows *r);

/* Begin a write transaction on c; ft_db_end commits it if rc >= 0, else
 * rolls it back, and returns rc, or -1 if the commit failed. */
int ft_db_begin(ft_db_conn *c, ft_error *err);
int ft_db_end(ft_db_conn *c, int rc, ft_error *err);

/* Run body in a write transaction on a connection of s. A transaction
 * whose connection is lost before its commit (the server rolled it all
 * back) runs again on a fresh connection, up to 3 times in all; the
 * driver reconnects with backoff. A loss during the COMMIT (which may or
 * may not have happened) is an error. Returns body's rc, or -1. */
int ft_db_transact(ft_store *s, ft_db_tx_body body, void *ctx, ft_error *err);

/* ft_db_transact, where a loss during the COMMIT is settled by committed
 * (NULL: it is an error): body's rc if the commit happened, and if it did
 * not, body runs again (within the 3 tries). */
int ft_db_transact_checked(ft_store *s, ft_db_tx_body body, ft_db_tx_check committed, void *ctx, ft_error *err);
/* The check for a body that may apply twice with the same effect (an
 * idempotent write): "not there", so that it runs again. */
int ft_db_rerun(ft_db_conn *c, void *ctx, ft_error *err);

/* Announce topic (an FT_TOPIC_*) with payload when the transaction
 * commits; nothing on a backend with one process. */
int ft_db_notify(ft_db_conn *c, const char *topic, const char *payload, ft_error *err);

/* Column readers: SQL NULL becomes json_null(); a column that should be
 * JSON and is not (a corrupt row) is FT_EIO. */
json_t *ft_db_col_json(ft_db_rows *r, int i, ft_error *err);
json_t *ft_db_col_int_or_null(ft_db_rows *r, int i);
json_t *ft_db_col_text_or_null(ft_db_rows *r, int i);

/* Column i of the current row as text (NULL for SQL NULL). */
static inline const char *ft_db_text(ft_db_rows *r, int i)
{
    return r->drv->text(r, i);
}

/* Column i of the current row as an integer. */
static inline int64_t ft_db_int(ft_db_rows *r, int i)
{
    return r->drv->integer(r, i);
}

/* The store's dialect. */
static inline const ft_db_dialect *ft_db_sql(const ft_db_conn *c)
{
    return c->drv->sql;
}

/* 128 random bits as 32 hex digits (lease tokens, delivery ids). */
int ft_db_token(char out[33], ft_error *err);

/* Wall clock: unix seconds and milliseconds. */
int64_t ft_db_now(void);
int64_t ft_db_now_ms(void);

/* ---- resource kinds (store_records.c) ---- */

/* What differs between datasets, models and jobs for get/list/delete. */
typedef struct {
    const char *table;      /* "datasets" */
    const char *noun;       /* "dataset", for messages */
    const char *columns;    /* select list that `row` understands */
    json_t *(*row)(ft_db_rows *r, ft_error *err); /* a row as the API object */
    bool has_status;        /* lists may filter by status (jobs) */
} ft_db_kind;

extern const ft_db_kind ft_db_datasets, ft_db_models, ft_db_jobs, ft_db_webhooks, ft_db_sweeps;

/* The API object of id, or NULL (FT_ENOTFOUND with param "id"). */
json_t *ft_db_get(ft_db_conn *c, const ft_db_kind *k, const char *id, ft_error *err);
/* 1 if a row of k has id, 0 if none, -1 on error. */
int ft_db_has(ft_db_conn *c, const ft_db_kind *k, const char *id, ft_error *err);
/* Look an idempotency key up among k's rows (jobs, sweeps), inside the
 * insert's transaction and after the key's lock, so two requests with one
 * key cannot both see it unused: 1 if it was used with the same request
 * hash (*existing, when not NULL, gets that row's object), 0 if unused,
 * -1 if used with another request (FT_EINVAL naming Idempotency-Key) or on
 * error. */
int ft_db_replay(ft_db_conn *c, const ft_db_kind *k, const char *key, const char *hash, json_t **existing,
                 ft_error *err);
/* ft_db_get on a connection of its own. */
json_t *ft_db_fetch(ft_store *s, const ft_db_kind *k, const char *id, ft_error *err);
/* One page of a list (see ft_list_query). */
json_t *ft_db_list(ft_store *s, const ft_db_kind *k, const ft_list_query *q, bool *has_more, ft_error *err);
/* Insert a dataset or model row from its API object (inside a transaction). */
int ft_db_insert_record(ft_db_conn *c, const ft_db_kind *k, const json_t *obj, ft_error *err);

/* ---- jobs (store_jobs.c) ---- */

/* Insert a queued job (inside a transaction): see ft_store_job_insert.
 * A "sweep_id" in obj names the sweep it belongs to. 1 if inserted, 0 if
 * existing got an earlier job with the same idempotency key, -1 on error. */
int ft_db_job_insert(ft_db_conn *c, const json_t *obj, const char *idempotency_key, const char *request_hash,
                     json_t **existing, ft_error *err);
/* Append an event to a job's log (inside a transaction), fenced by lease
 * unless it is NULL: 1 if added, 0 if the lease no longer holds the job,
 * -1 on error. */
int ft_db_event_add(ft_db_conn *c, const char *id, const char *lease, const char *level, const char *message,
                    const json_t *data, ft_error *err);

/* ---- webhooks (store_webhooks.c) ---- */

/* Insert an endpoint (inside a transaction); obj as for
 * ft_store_webhook_insert. */
int ft_db_webhook_insert(ft_db_conn *c, const json_t *obj, ft_error *err);
/* Queue event `type` with `data` for every endpoint subscribed to it: the
 * registered ones and, with job_id, that job's own (inside a transaction). */
int ft_db_webhook_enqueue(ft_db_conn *c, const char *type, const json_t *data, const char *job_id, ft_error *err);
/* After a transition of job_id inside the same transaction: if the job is
 * now succeeded, failed or cancelled, queue its job.<status> event. */
int ft_db_webhook_job_ended(ft_db_conn *c, const char *job_id, ft_error *err);
/* The columns a job.<status> event is built from, in this order. */
#define FT_DB_JOB_ENDED_COLUMNS "status, result_model, result, error, finished_at"
/* The job.<status> event of job_id from r's current row, which holds
 * FT_DB_JOB_ENDED_COLUMNS (a transition's RETURNING: no second read of the
 * row); its type in type. NULL on error. */
json_t *ft_db_job_ended_event(ft_db_rows *r, const char *job_id, char type[32], ft_error *err);

#endif
