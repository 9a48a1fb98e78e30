/* Shared internals of the PostgreSQL driver (store_pg.c: the pool,
 * statements and transactions; store_pg_sql.c: its SQL; store_pg_rows.c:
 * parameters and rows in libpq's text form; store_pg_listen.c: the LISTEN
 * thread). */
#ifndef FT_STORE_PG_INTERNAL_H
#define FT_STORE_PG_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <libpq-fe.h>

#include "server/store/store_db.h"

typedef struct pg_conn pg_conn;

/* The listener: one connection of its own that LISTENs on the store's
 * topics and hands each notification to a callback. */
typedef struct {
    pthread_t thread;
    bool running;                /* the thread was started */
    atomic_bool stop;            /* set by close; the thread checks it every poll */
    ft_store_notify_fn cb;
    void *ctx;
} pg_listener;

struct ft_db_backend {
    char *conninfo;          /* URI or keyword string, as given */
    pthread_mutex_t lock;    /* guards idle, open */
    pthread_cond_t freed;    /* a connection went back to the pool */
    pg_conn *idle;           /* connections not in use (a stack) */
    int open;                /* connections open, idle or in use */
    atomic_bool stop_retrying; /* shutting down: connect once, no backoff */
    pg_listener listener;
};

/* Parameter types: integers are int8, everything else (JSON included) is
 * text. Typed rather than left to inference, which cannot type a NULL in
 * "?6 IS NULL OR lease_token = ?6" nor a number in INSERT ... SELECT. */
#define PG_INT8_OID 20
#define PG_TEXT_OID 25

/* ---- parameters and rows (store_pg_rows.c) ---- */

/* sql with ?N placeholders as $N, into out (strlen(sql) + 1 bytes). */
void ft_pg_dollar_params(const char *sql, char *out);
/* Parameters p[0..n) as libpq's text values (integers printed into ints)
 * and types. */
void ft_pg_bind_values(const ft_db_param *p, int n, char (*ints)[24], const char **values, Oid *types);
/* Rows of drv (the driver: this file calls nothing of store_pg.c) over
 * res, freed with them; NULL, res freed, when out of memory. */
ft_db_rows *ft_pg_rows_of(const ft_db_driver *drv, PGresult *res, ft_error *err);
/* The driver's row readers (see ft_db_driver). */
int ft_pg_next(ft_db_rows *r, ft_error *err);
int64_t ft_pg_changes(ft_db_rows *r);
void ft_pg_done(ft_db_rows *r);
bool ft_pg_is_null(ft_db_rows *r, int i);
const char *ft_pg_text(ft_db_rows *r, int i);
int64_t ft_pg_integer(ft_db_rows *r, int i);

/* The SQL that only PostgreSQL speaks (store_pg_sql.c). */
extern const ft_db_dialect ft_pg_sql;

/* Connect to conninfo; on a failure, retry with backoff for up to
 * `patience_ms` (0: one attempt), unless give_up is set (looked at before
 * each retry). NULL with err filled if it never worked. Each attempt waits
 * at most PG_CONNECT_TIMEOUT_S for the server, unless the conninfo or
 * PGCONNECT_TIMEOUT says otherwise: an unreachable host would otherwise
 * hold it for the kernel's TCP timeout (minutes). */
PGconn *ft_pg_connect(const char *conninfo, int patience_ms, const atomic_bool *give_up, ft_error *err);
#define PG_CONNECT_TIMEOUT_S "10"

/* Start the listener thread of b (store_pg_listen.c), or with cb NULL
 * stop it; ft_pg_listen_stop stops and joins it (no-op if not running). */
int ft_pg_listen(ft_db_backend *b, ft_store_notify_fn cb, void *ctx, ft_error *err);
void ft_pg_listen_stop(ft_db_backend *b);

#endif
