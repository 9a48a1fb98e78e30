/* The PostgreSQL driver (libpq): a small connection pool, statements,
 * transactions, errors (the SQL that only PostgreSQL speaks is in
 * store_pg_sql.c, the text forms of parameters and rows in
 * store_pg_rows.c).
 *
 * The pool opens connections as threads need them, up to PG_POOL_MAX, and
 * keeps them; a thread that finds none free waits for one. A connection
 * that the server dropped (a restart, pg_terminate_backend, a network cut)
 * is re-established with backoff at the next BEGIN or at the next read
 * outside a transaction, which are the points where nothing of the work
 * can have been lost. A transaction cut off before its COMMIT was sent was
 * rolled back whole by the server: the driver says so (pg_tx_loss) and
 * ft_db_transact runs it again on a fresh connection. A cut during the
 * COMMIT leaves its outcome unknown: the store's logic then looks on a
 * fresh connection whether the writes are there (a claim's lease token, a
 * new row's id) or runs an idempotent write again; where it cannot tell,
 * its caller gets an error, and the queue's leases make the work happen
 * again rather than vanish.
 *
 * Concurrency: transactions run at READ COMMITTED, and every read that a
 * write depends on locks its rows (the dialect's FOR UPDATE), so the
 * shared logic sees the same one-writer-per-job world as on SQLite.
 */
#include "server/store/postgres/store_pg_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* At most this many connections per process: more than the threads that
 * touch the store at once (HTTP, request pool, workers, heartbeat). */
#define PG_POOL_MAX 32
/* How long a thread waits for a free connection before it fails. */
#define PG_POOL_WAIT_S 30
/* How long a dropped connection is retried before the operation fails. */
#define PG_RECONNECT_PATIENCE_MS 20000
/* Statements prepared per connection: the store's SQL is a fixed set, so
 * each is parsed and planned once per session instead of at every call.
 * Beyond the cache, statements are sent unprepared (correct, slower). */
#define PG_STMT_CACHE 64
/* At most this many announcements per transaction (a claim announces one
 * per dead job it settles). */
#define PG_NOTES_MAX (1 << 20)

struct pg_conn {
    ft_db_conn base;
    PGconn *pg;          /* NULL after a loss until re-established */
    ft_db_backend *b;
    pg_conn *next_idle;  /* the pool's idle stack */
    bool in_tx;          /* between BEGIN and COMMIT/ROLLBACK */
    bool begin_pending;  /* in_tx, but BEGIN not sent yet: it goes with the first statement */
    bool committing;     /* COMMIT is on its way: a loss now leaves the outcome unknown */
    ft_db_loss loss;     /* where the current transaction lost its connection, if it did */
    char **notes;        /* topic, payload, topic...: announcements that go with the next statement */
    int nnote, capnote;  /* announcements queued, and room for them */
    int pid;             /* the session's server process, and when it started (epoch text): */
    char started[40];    /* who to end once the session is lost in a transaction */
    int nstmt;           /* prepared statements of this session */
    char *stmt[PG_STMT_CACHE]; /* their SQL ($N form), statement i named "ft<i>" */
};

/* ---- errors and connection loss ---- */

/* Whether a failed command means the connection is gone: libpq says so, or
 * the server said it is ending the session (class 08, 57P01-57P03). */
static bool connection_lost(PGconn *pg, PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return PQstatus(pg) != CONNECTION_OK || (state && (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
                                                       strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0));
}

/* err from a failed result: FT_ENOSPC for disk_full, FT_EINVAL for text
 * that is not UTF-8 (a client's cursor or id: SQLite takes such bytes and
 * finds nothing, PostgreSQL refuses them; either way it is the request's
 * fault, not the database's), FT_EIO otherwise. */
static int pg_fail(pg_conn *c, PGresult *res, ft_error *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", res ? PQresultErrorMessage(res) : c->pg ? PQerrorMessage(c->pg) : "no connection");
    msg[strcspn(msg, "\n")] = '\0';
    if (state && strcmp(state, "22021") == 0)
        return ft_fail(err, FT_EINVAL, NULL, "text that is not valid UTF-8");
    return ft_fail(err, state && strcmp(state, "53100") == 0 ? FT_ENOSPC : FT_EIO, NULL, "PostgreSQL: %s", msg);
}

/* Drop the session: its prepared statements go with it. */
static void drop_session(pg_conn *c)
{
    PQfinish(c->pg);
    c->pg = NULL;
    for (int i = 0; i < c->nstmt; i++)
        free(c->stmt[i]);
    c->nstmt = 0;
}

/* Connect c (retrying for up to patience_ms) and note who its server
 * process is: a pid alone could name another process by the time it is
 * used, or one of another server after a failover. */
static int connect_session(pg_conn *c, int patience_ms, ft_error *err)
{
    if (!(c->pg = ft_pg_connect(c->b->conninfo, patience_ms, &c->b->stop_retrying, err)))
        return -1;
    c->pid = PQbackendPID(c->pg);
    PGresult *res = PQexec(c->pg, "SELECT extract(epoch FROM backend_start)::text FROM pg_stat_activity "
                                  "WHERE pid = pg_backend_pid()");
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
    snprintf(c->started, sizeof c->started, "%s", ok ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return 0;
}

/* Make sure c has a live connection; reconnect with backoff if it was lost. */
static int ensure(pg_conn *c, ft_error *err)
{
    if (c->pg && PQstatus(c->pg) == CONNECTION_OK)
        return 0;
    drop_session(c);
    return connect_session(c, PG_RECONNECT_PATIENCE_MS, err);
}

/* c lost its session: drop it, connect anew, and end the old session's
 * server process if it still runs (a network cut leaves it running until
 * it notices) and wait for it. Its locks are then free for a retry, and a
 * COMMIT it was sent has happened or never will, so a look at the outcome
 * is final. Best effort: without a new session nothing can be done. */
static void lose_session(pg_conn *c)
{
    char pid[16], started[sizeof c->started];
    snprintf(pid, sizeof pid, "%d", c->pid);
    memcpy(started, c->started, sizeof started);
    drop_session(c);
    ft_error ignored;
    if (!started[0] || ensure(c, &ignored) != 0)
        return;
    const char *values[2] = {pid, started};
    PQclear(PQexecParams(c->pg,
                         "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                         "WHERE pid = $1::int AND extract(epoch FROM backend_start)::text = $2",
                         2, NULL, values, NULL, NULL, 0));
}

/* The name of sql's prepared statement in this session, preparing it on
 * first use; NULL when the cache is full or preparing failed (then the
 * statement is sent unprepared, which reports any error). */
static const char *prepared(pg_conn *c, const char *sql, int n, const Oid *types, char name[16])
{
    int i = 0;
    while (i < c->nstmt && strcmp(c->stmt[i], sql) != 0)
        i++;
    if (i == c->nstmt) {
        if (i == PG_STMT_CACHE || !(c->stmt[i] = strdup(sql)))
            return NULL;
        snprintf(name, 16, "ft%d", i);
        PGresult *res = PQprepare(c->pg, name, sql, n, types);
        bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
        if (!ok) {
            free(c->stmt[i]);
            return NULL;
        }
        c->nstmt++;
    }
    snprintf(name, 16, "ft%d", i);
    return name;
}

/* Whether a command's result is a success (rows or none); NULL is not. */
static bool result_ok(const PGresult *res)
{
    return PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
}

/* Read the results of one pipelined query: the first one kept in *out
 * (if *out is still NULL and keep says so, or it failed), the rest freed. */
static void pipeline_results(PGconn *pg, bool keep, PGresult **out)
{
    PGresult *r;
    while ((r = PQgetResult(pg))) {
        if (!*out && (keep || !result_ok(r)))
            *out = r;
        else
            PQclear(r);
    }
}

/* Forget the transaction's queued announcements. */
static void clear_notes(pg_conn *c)
{
    for (int i = 0; i < 2 * c->nnote; i++)
        free(c->notes[i]);
    c->nnote = 0;
}

/* A statement as libpq takes it: its SQL in PostgreSQL's $N form, its
 * parameters' types and text values (values NULL: a script of several
 * statements without parameters). */
typedef struct {
    const char *sql;
    int n;
    const Oid *types;
    const char *const *values;
} pg_stmt;

/* Statements and what must reach the server before them, in one round
 * trip (libpq's pipeline mode): BEGIN if it is still pending, the
 * transaction's queued announcements, then the k statements (name[i]:
 * statement i's prepared name, or NULL to send it with its text). True
 * with out[i] the i-th statement's result, or false with nothing in out
 * and *failure the first failure (NULL when libpq itself failed: its
 * message says why). */
static bool pipelined(pg_conn *c, int k, const pg_stmt *st, const char *const *name, PGresult **out,
                      PGresult **failure)
{
    static const Oid note_types[2] = {PG_TEXT_OID, PG_TEXT_OID};
    char note_name[16];
    const char *note = c->nnote ? prepared(c, "SELECT pg_notify($1, $2)", 2, note_types, note_name) : NULL;
    *failure = NULL;
    if ((c->nnote && !note) || !PQenterPipelineMode(c->pg))
        return false;
    if (c->begin_pending)
        PQsendQueryParams(c->pg, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
    for (int i = 0; i < c->nnote; i++)
        PQsendQueryPrepared(c->pg, note, 2, (const char *const *)&c->notes[2 * i], NULL, NULL, 0);
    for (int i = 0; i < k; i++) {
        if (name[i])
            PQsendQueryPrepared(c->pg, name[i], st[i].n, st[i].values, NULL, NULL, 0);
        else
            PQsendQueryParams(c->pg, st[i].sql, st[i].n, st[i].types, st[i].values, NULL, NULL, 0);
    }
    PQpipelineSync(c->pg);
    for (int i = 0; i < (int)c->begin_pending + c->nnote; i++)
        pipeline_results(c->pg, false, failure); /* BEGIN, announcements */
    bool ok = !*failure;
    for (int i = 0; i < k; i++) { /* the statements (aborted if anything before failed) */
        out[i] = NULL;
        pipeline_results(c->pg, true, &out[i]);
        if (!result_ok(out[i])) {
            if (ok) {
                *failure = out[i];
                out[i] = NULL;
            }
            ok = false;
        }
    }
    PGresult *r;
    while ((r = PQgetResult(c->pg))) { /* the sync point */
        bool sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
        PQclear(r);
        if (sync)
            break;
    }
    PQexitPipelineMode(c->pg);
    for (int i = 0; i < k && !ok; i++) {
        PQclear(out[i]);
        out[i] = NULL;
    }
    return ok;
}

/* Run k statements (a script only alone). Where nothing of a transaction
 * has reached the server yet (outside one, or with BEGIN still pending), a
 * lost connection is re-established and the statements sent again;
 * mid-transaction the loss is an error, since what ran before it was
 * rolled back with the session. 0 with out[i] the i-th statement's result,
 * or -1 with err filled and nothing in out. */
static int run_many(pg_conn *c, int k, const pg_stmt *st, PGresult **out, ft_error *err)
{
    for (int attempt = 0;; attempt++) {
        /* A COMMIT sent with its BEGIN (a transaction of announcements
         * only) may have happened: not sent again. */
        bool retryable = (!c->in_tx || c->begin_pending) && !c->committing;
        if (!retryable && c->loss != FT_DB_NOT_LOST) { /* lost by an earlier statement: COMMIT cannot have been sent */
            c->loss = FT_DB_LOST_BEFORE_COMMIT;
            return ft_fail(err, FT_EIO, NULL, "PostgreSQL: the connection was lost in the middle of a transaction");
        }
        if (ensure(c, err) != 0)
            return -1;
        PGresult *failure = NULL;
        bool ok = true;
        if (c->begin_pending && !st[0].values) { /* a script cannot be pipelined: BEGIN on its own */
            failure = PQexec(c->pg, "BEGIN");
            ok = PQresultStatus(failure) == PGRES_COMMAND_OK;
            if (ok) {
                PQclear(failure);
                failure = NULL;
                c->begin_pending = false;
            }
        }
        /* Statements without parameters (COMMIT, the schema version) are
         * sent as text: there is no plan worth keeping. */
        char names[FT_DB_BATCH_MAX][16];
        const char *name[FT_DB_BATCH_MAX];
        for (int i = 0; i < k; i++)
            name[i] = st[i].values && st[i].n > 0 ? prepared(c, st[i].sql, st[i].n, st[i].types, names[i]) : NULL;
        if (ok && st[0].values && (c->begin_pending || c->nnote || k > 1)) {
            ok = pipelined(c, k, st, name, out, &failure);
        } else if (ok) {
            out[0] = name[0]       ? PQexecPrepared(c->pg, name[0], st[0].n, st[0].values, NULL, NULL, 0)
                     : st[0].values ? PQexecParams(c->pg, st[0].sql, st[0].n, st[0].types, st[0].values, NULL, NULL, 0)
                                    : PQexec(c->pg, st[0].sql);
            if (!result_ok(out[0])) {
                ok = false;
                failure = out[0];
                out[0] = NULL;
            }
        }
        bool lost = !ok && connection_lost(c->pg, failure);
        if (!lost) { /* BEGIN and the announcements reached the server with the statements */
            c->begin_pending = false;
            clear_notes(c);
        }
        if (ok)
            return 0;
        if (!lost || !retryable || attempt > 0) {
            pg_fail(c, failure, err);
            PQclear(failure);
            if (lost) {
                c->loss = !c->in_tx ? FT_DB_NOT_LOST : c->committing ? FT_DB_LOST_IN_COMMIT : FT_DB_LOST_BEFORE_COMMIT;
                lose_session(c);
            }
            return -1;
        }
        PQclear(failure);
        lose_session(c);
    }
}

/* One statement without parameters (values NULL: a script): its result,
 * or NULL with err filled. */
static PGresult *run_text(pg_conn *c, const char *sql, const char *const *values, ft_error *err)
{
    pg_stmt st = {.sql = sql, .values = values};
    PGresult *res;
    return run_many(c, 1, &st, &res, err) == 0 ? res : NULL;
}

/* ---- the pool ---- */

static ft_db_conn *pg_acquire(ft_db_backend *b, ft_error *err)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += PG_POOL_WAIT_S;
    pthread_mutex_lock(&b->lock);
    while (!b->idle && b->open >= PG_POOL_MAX)
        if (pthread_cond_timedwait(&b->freed, &b->lock, &until) == ETIMEDOUT) {
            pthread_mutex_unlock(&b->lock);
            ft_fail(err, FT_EIO, NULL, "PostgreSQL: all %d pooled connections stayed busy for %d s", PG_POOL_MAX,
                    PG_POOL_WAIT_S);
            return NULL;
        }
    pg_conn *c = b->idle;
    if (c)
        b->idle = c->next_idle;
    else
        b->open++;
    pthread_mutex_unlock(&b->lock);
    if (c)
        return &c->base;
    /* A new connection, made outside the lock; a first connection gets one
     * attempt so that a wrong address fails at once. */
    c = calloc(1, sizeof *c);
    if (c) {
        c->base.drv = &ft_pg_driver;
        c->b = b;
        connect_session(c, 0, err);
    } else {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    }
    if (!c || !c->pg) {
        free(c);
        pthread_mutex_lock(&b->lock);
        b->open--;
        pthread_cond_signal(&b->freed);
        pthread_mutex_unlock(&b->lock);
        return NULL;
    }
    return &c->base;
}

static void pg_release(ft_db_conn *base)
{
    pg_conn *c = (pg_conn *)base;
    ft_db_backend *b = c->b;
    pthread_mutex_lock(&b->lock);
    c->next_idle = b->idle;
    b->idle = c;
    pthread_cond_signal(&b->freed);
    pthread_mutex_unlock(&b->lock);
}

static ft_db_backend *pg_open(const char *conninfo, ft_error *err)
{
    ft_db_backend *b = calloc(1, sizeof *b);
    if (!b || !(b->conninfo = strdup(conninfo))) {
        free(b);
        ft_fail(err, FT_ENOMEM, NULL, "out of memory opening the store");
        return NULL;
    }
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->freed, NULL);
    return b;
}

/* Every connection is idle by now (see ft_store_close's rule). */
static void pg_close(ft_db_backend *b)
{
    ft_pg_listen_stop(b);
    while (b->idle) {
        pg_conn *c = b->idle;
        b->idle = c->next_idle;
        drop_session(c);
        clear_notes(c);
        free(c->notes);
        free(c);
    }
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->freed);
    free(b->conninfo);
    free(b);
}

/* ---- statements ---- */

static int pg_exec(ft_db_conn *base, const char *sql, ft_error *err)
{
    PGresult *res = run_text((pg_conn *)base, sql, NULL, err);
    PQclear(res);
    return res ? 0 : -1;
}

/* A statement's parameters as libpq takes them. */
typedef struct {
    Oid types[FT_DB_MAX_PARAMS];
    const char *values[FT_DB_MAX_PARAMS];
    char ints[FT_DB_MAX_PARAMS][24];
} pg_params;

/* Run the k statements of one call (k = 1 for pg_query), their results
 * in res. */
static int send_all(pg_conn *c, int k, const ft_db_stmt *stmts, PGresult **res, ft_error *err)
{
    if (k < 1 || k > FT_DB_BATCH_MAX)
        return ft_fail(err, FT_EINVAL, NULL, "%d statements at once", k);
    pg_params params[FT_DB_BATCH_MAX];
    pg_stmt st[FT_DB_BATCH_MAX];
    char *text[FT_DB_BATCH_MAX] = {NULL};
    int rc = 0;
    for (int i = 0; i < k && rc == 0; i++) {
        if (stmts[i].n > FT_DB_MAX_PARAMS)
            rc = ft_fail(err, FT_EINVAL, NULL, "too many statement parameters");
        else if (!(text[i] = malloc(strlen(stmts[i].sql) + 1)))
            rc = ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        if (rc != 0)
            break;
        ft_pg_dollar_params(stmts[i].sql, text[i]);
        ft_pg_bind_values(stmts[i].p, stmts[i].n, params[i].ints, params[i].values, params[i].types);
        /* values is never NULL here: statements with parameters (PQexec,
         * for scripts, is pg_exec's). */
        st[i] = (pg_stmt){.sql = text[i], .n = stmts[i].n, .types = params[i].types, .values = params[i].values};
    }
    if (rc == 0)
        rc = run_many(c, k, st, res, err);
    for (int i = 0; i < k; i++)
        free(text[i]);
    return rc;
}

static ft_db_rows *pg_query(ft_db_conn *base, const char *sql, int n, const ft_db_param *p, ft_error *err)
{
    ft_db_stmt st = {.sql = sql, .n = n, .p = p};
    PGresult *res;
    return send_all((pg_conn *)base, 1, &st, &res, err) == 0 ? ft_pg_rows_of(&ft_pg_driver, res, err) : NULL;
}

static int pg_query_many(ft_db_conn *base, int k, const ft_db_stmt *stmts, ft_db_rows **rows, ft_error *err)
{
    PGresult *res[FT_DB_BATCH_MAX];
    if (send_all((pg_conn *)base, k, stmts, res, err) != 0)
        return -1;
    int rc = 0;
    for (int i = 0; i < k; i++) {
        rows[i] = NULL;
        if (rc != 0)
            PQclear(res[i]);
        else if (!(rows[i] = ft_pg_rows_of(&ft_pg_driver, res[i], err))) /* which frees res[i] */
            rc = -1;
    }
    for (int i = 0; i < k && rc != 0; i++)
        if (rows[i])
            ft_pg_done(rows[i]);
    return rc;
}

/* ---- transactions ---- */

/* BEGIN is not sent here but with the transaction's first statement (a
 * round trip saved per transaction; a transaction with no statement sends
 * nothing at all). */
static int pg_begin(ft_db_conn *base, ft_error *err)
{
    (void)err;
    pg_conn *c = (pg_conn *)base;
    c->in_tx = c->begin_pending = true;
    c->loss = FT_DB_NOT_LOST;
    clear_notes(c);
    return 0;
}

static int pg_commit(ft_db_conn *base, ft_error *err)
{
    pg_conn *c = (pg_conn *)base;
    c->committing = true;
    /* Announcements still queued go with the COMMIT, in its round trip. */
    static const char *const none[1] = {NULL};
    bool send = !c->begin_pending || c->nnote; /* a transaction that sent nothing has nothing to commit */
    PGresult *res = send ? run_text(c, "COMMIT", none, err) : NULL;
    int rc = !send || res ? 0 : -1;
    PQclear(res);
    c->committing = c->begin_pending = false;
    c->in_tx = rc != 0; /* a failed COMMIT is followed by the rollback */
    return rc;
}

static void pg_rollback(ft_db_conn *base)
{
    pg_conn *c = (pg_conn *)base;
    /* After a loss the session is a new one, with nothing to roll back. */
    if (!c->begin_pending && c->loss == FT_DB_NOT_LOST && c->pg && PQstatus(c->pg) == CONNECTION_OK)
        PQclear(PQexec(c->pg, "ROLLBACK"));
    c->in_tx = c->begin_pending = false;
    clear_notes(c);
}

/* Queued, to be sent with the transaction's next statement or its COMMIT
 * (a notification is delivered at the commit wherever it was sent): a
 * round trip saved per announcing transaction. */
static int pg_notify(ft_db_conn *base, const char *topic, const char *payload, ft_error *err)
{
    pg_conn *c = (pg_conn *)base;
    if (c->nnote == c->capnote) {
        if (c->capnote > PG_NOTES_MAX / 2)
            return ft_fail(err, FT_EINVAL, NULL, "more than %d announcements in one transaction", PG_NOTES_MAX);
        int cap = c->capnote ? 2 * c->capnote : 4;
        char **grown = realloc(c->notes, (size_t)cap * 2 * sizeof *grown);
        if (!grown)
            return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        c->notes = grown;
        c->capnote = cap;
    }
    char *t = strdup(topic), *p = strdup(payload ? payload : "");
    if (!t || !p) {
        free(t);
        free(p);
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    }
    c->notes[2 * c->nnote] = t;
    c->notes[2 * c->nnote + 1] = p;
    c->nnote++;
    return 0;
}

static ft_db_loss pg_tx_loss(ft_db_conn *base)
{
    return ((pg_conn *)base)->loss;
}

static void pg_stop_retrying(ft_db_backend *b)
{
    atomic_store(&b->stop_retrying, true);
}

const ft_db_driver ft_pg_driver = {
    .name = "postgres",
    .sql = &ft_pg_sql,
    .open = pg_open,
    .close = pg_close,
    .acquire = pg_acquire,
    .release = pg_release,
    .exec = pg_exec,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .tx_loss = pg_tx_loss,
    .notify = pg_notify,
    .query = pg_query,
    .query_many = pg_query_many,
    .next = ft_pg_next,
    .changes = ft_pg_changes,
    .done = ft_pg_done,
    .is_null = ft_pg_is_null,
    .text = ft_pg_text,
    .integer = ft_pg_integer,
    .listen = ft_pg_listen,
    .stop_retrying = pg_stop_retrying,
};
