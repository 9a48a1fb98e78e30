/* Shared internals of the SQLite store (store_*.c). Not part of the store
 * interface: routes and workers include only server/store/store.h.
 *
 * Files:
 *   store_sqlite.c   connections (one per thread), statement cache,
 *                    transactions, error mapping, open/close, probes, stats
 *   store_migrate.c  migrations/NNNN_*.sql and PRAGMA user_version
 *   store_records.c  the resource kinds: get and paged lists of datasets,
 *                    models and jobs; insert/delete of datasets and
 *                    models; /metrics figures and file ids
 *   store_jobs.c     jobs: the job object, insert (idempotency), cancel,
 *                    events, per-epoch metrics
 *   store_queue.c    the queue: claim, lease heartbeat, fenced transitions
 *
 * Internal names use the ft_sq_ prefix. Every function taking an
 * ft_sq_connection
 * runs on the calling thread's own connection.
 */
#ifndef FT_STORE_SQLITE_INTERNAL_H
#define FT_STORE_SQLITE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <sqlite3.h>

#include "server/store/store.h"

/* Prepared statements kept per connection. Enough for every static query in
 * store_*.c plus the list variants; beyond that statements are prepared and
 * finalized per use (correct, only slower). */
#define FT_SQ_STMT_CACHE 64

typedef struct ft_sq_connection ft_sq_connection;

/* One thread's connection. Lives in the store's pthread key (so the key's
 * destructor closes it when the thread exits) and in the store's list (so
 * ft_store_close can close the connections of threads still alive). */
struct ft_sq_connection {
    sqlite3 *db;
    ft_store *store;                        /* owner, for unlinking */
    ft_sq_connection *prev, *next;          /* the store's list, under store->lock */
    int nstmt;                              /* used cache slots */
    sqlite3_stmt *stmt[FT_SQ_STMT_CACHE];   /* cached statements, keyed by their SQL text */
    bool busy[FT_SQ_STMT_CACHE];            /* handed out and not yet released */
};

struct ft_store {
    char *path;              /* database file */
    pthread_key_t key;       /* this thread's ft_sq_connection */
    pthread_mutex_t lock;    /* guards conns */
    ft_sq_connection *conns;          /* every open connection */
    _Atomic int64_t writable_ms; /* when the write probe last succeeded */
};

/* ---- connections, statements, transactions (store_sqlite.c) ---- */

/* The calling thread's connection, opened and configured on first use. */
ft_sq_connection *ft_sq_conn(ft_store *s, ft_error *err);

/* A prepared statement for sql: from the cache when free, else a new one.
 * Hand it back with ft_sq_release (resets it, or finalizes an uncached one). */
sqlite3_stmt *ft_sq_prepare(ft_sq_connection *c, const char *sql, ft_error *err);
void ft_sq_release(ft_sq_connection *c, sqlite3_stmt *st);

/* One sqlite3_step: 1 for a row, 0 when done, -1 with err filled. */
int ft_sq_step(ft_sq_connection *c, sqlite3_stmt *st, ft_error *err);
/* Step a write statement to completion (RETURNING rows are discarded) and
 * release it; the number of changed rows, or -1. */
int ft_sq_run(ft_sq_connection *c, sqlite3_stmt *st, ft_error *err);
/* Run SQL text without results (pragmas, migrations). */
int ft_sq_exec(ft_sq_connection *c, const char *sql, ft_error *err);

/* Turn an SQLite result code into err: FT_ENOSPC for SQLITE_FULL, FT_EIO
 * otherwise, the message being "<what>: <sqlite3_errmsg>". Returns -1. */
int ft_sq_fail(ft_sq_connection *c, int rc, ft_error *err, const char *what);

/* BEGIN IMMEDIATE: take the write lock up front, so a transaction that
 * reads then writes never hits SQLITE_BUSY halfway (busy_timeout applies to
 * the BEGIN instead). */
int ft_sq_begin(ft_sq_connection *c, ft_error *err);
/* Finish the transaction begun by ft_sq_begin: COMMIT if rc >= 0, else
 * ROLLBACK. Returns rc, or -1 if the commit failed (then rolled back). */
int ft_sq_end(ft_sq_connection *c, int rc, ft_error *err);

/* Prepare sql and bind its parameters ?1, ?2... from the arguments, whose
 * types `types` spells one letter each: 't' const char * (NULL binds NULL),
 * 'i' int, 'I' int64_t, 'j' const json_t * (a compact dump; NULL or json
 * null bind NULL). ft_sq_query returns the statement to step and release
 * (NULL on error); ft_sq_write runs it and returns the changed row count. */
sqlite3_stmt *ft_sq_query(ft_sq_connection *c, const char *sql, ft_error *err, const char *types, ...);
int ft_sq_write(ft_sq_connection *c, const char *sql, ft_error *err, const char *types, ...);
/* ft_sq_write in its own BEGIN IMMEDIATE transaction on this thread's
 * connection: for writes that are one statement. */
int ft_sq_write_tx(ft_store *s, const char *sql, ft_error *err, const char *types, ...);

/* Column readers: SQL NULL becomes json_null(); a TEXT column that is not
 * JSON (a corrupt row) is FT_EIO. */
json_t *ft_sq_col_json(sqlite3_stmt *st, int i, ft_error *err);
json_t *ft_sq_col_int_or_null(sqlite3_stmt *st, int i);
json_t *ft_sq_col_text_or_null(sqlite3_stmt *st, int i);

/* Wall clock: unix seconds and milliseconds. */
int64_t ft_sq_now(void);
int64_t ft_sq_now_ms(void);

/* A store on the database file at path, with no connection open yet and
 * no migration applied (ft_store_open, in store_migrate.c, does both). */
ft_store *ft_sq_store_new(const char *path, ft_error *err);

/* ---- resource kinds (store_records.c) ---- */

/* What differs between datasets, models and jobs for get/list/delete. */
typedef struct {
    const char *table;      /* "datasets" */
    const char *noun;       /* "dataset", for messages */
    const char *columns;    /* select list that `row` understands */
    json_t *(*row)(sqlite3_stmt *st, ft_error *err); /* a row as the API object */
    bool has_status;        /* lists may filter by status (jobs) */
} ft_sq_kind;

extern const ft_sq_kind ft_sq_datasets, ft_sq_models, ft_sq_jobs;

/* The API object of id, or NULL (FT_ENOTFOUND with param "id"). */
json_t *ft_sq_get(ft_sq_connection *c, const ft_sq_kind *k, const char *id, ft_error *err);
/* The same on the calling thread's connection. */
json_t *ft_sq_fetch(ft_store *s, const ft_sq_kind *k, const char *id, ft_error *err);
/* One page of a list (see ft_list_query). */
json_t *ft_sq_list(ft_store *s, const ft_sq_kind *k, const ft_list_query *q, bool *has_more,
                   ft_error *err);
/* Insert a dataset or model row from its API object (inside a transaction). */
int ft_sq_insert_record(ft_sq_connection *c, const ft_sq_kind *k, const json_t *obj, ft_error *err);

/* ---- jobs (store_jobs.c) ---- */

/* Append an event to a job's log (inside a transaction), fenced by lease
 * unless it is NULL: 1 if added, 0 if the lease no longer holds the job,
 * -1 on error. */
int ft_sq_event_add(ft_sq_connection *c, const char *id, const char *lease, const char *level, const char *message,
                    const json_t *data, ft_error *err);

#endif
