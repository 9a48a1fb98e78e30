/* The SQLite driver: connections, statements, transactions, errors, and
 * the SQL that only SQLite speaks.
 *
 * One connection per thread. SQLite connections are cheap, and a connection
 * used by a single thread needs no locking of its own; WAL mode lets readers
 * (GET routes) run while one writer (a submit, a heartbeat) commits. Writers
 * queue on the database's write lock through busy_timeout, and BEGIN
 * IMMEDIATE takes that lock up front, so every write transaction runs alone:
 * the reads inside it need no row locks (the dialect's are empty).
 *
 * Lifetime rule: call ft_store_close only once every other thread that used
 * the store has exited or will never touch it again. Connections of threads
 * that exited were already closed by the pthread key's destructor; those of
 * threads still alive (idle) are closed by ft_store_close. A thread must not
 * be exiting while ft_store_close runs.
 */
#include "server/store/store_db.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

/* How long a connection waits for another one's write lock before a write
 * fails with "database is locked". Writes are short (no training happens in
 * a transaction), so 5 s means something is badly wrong. */
#define SQ_BUSY_TIMEOUT_MS 5000

/* Prepared statements kept per connection. Enough for every static query of
 * the store plus the list variants; beyond that statements are prepared and
 * finalized per use (correct, only slower). */
#define SQ_STMT_CACHE 64

typedef struct sq_conn sq_conn;

struct ft_db_backend {
    char *path;              /* database file */
    pthread_key_t key;       /* this thread's sq_conn */
    pthread_mutex_t lock;    /* guards conns */
    sq_conn *conns;          /* every open connection */
};

/* One thread's connection. Lives in the backend's pthread key (so the key's
 * destructor closes it when the thread exits) and in its list (so close can
 * close the connections of threads still alive). */
struct sq_conn {
    ft_db_conn base;
    sqlite3 *db;
    ft_db_backend *b;                   /* owner, for unlinking */
    sq_conn *prev, *next;               /* the backend's list, under b->lock */
    int nstmt;                          /* used cache slots */
    sqlite3_stmt *stmt[SQ_STMT_CACHE];  /* cached statements, keyed by their SQL text */
    bool busy[SQ_STMT_CACHE];           /* handed out and not yet released */
};

/* A statement being stepped. */
typedef struct {
    ft_db_rows base;
    sq_conn *c;
    sqlite3_stmt *st;
    int64_t changes;   /* set when the statement is done */
} sq_rows;

/* Turn an SQLite result code into err: FT_ENOSPC for SQLITE_FULL, FT_EIO
 * otherwise, the message being "<what>: <sqlite3_errmsg>". Returns -1. */
static int sq_fail(sq_conn *c, int rc, ft_error *err, const char *what)
{
    const char *msg = c && c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc);
    ft_errcode code = (rc & 0xff) == SQLITE_FULL ? FT_ENOSPC : FT_EIO;
    return ft_fail(err, code, NULL, "%s: %s", what, msg);
}

/* ---- connections ---- */

static void conn_free(sq_conn *c)
{
    for (int i = 0; i < c->nstmt; i++)
        sqlite3_finalize(c->stmt[i]);
    /* sqlite3_close_v2 never fails with SQLITE_BUSY: anything still
     * unfinalized (there should be nothing) defers the close instead. */
    sqlite3_close_v2(c->db);
    free(c);
}

/* The pthread key's destructor: the thread that owned c is exiting. */
static void conn_destroy(void *p)
{
    sq_conn *c = p;
    ft_db_backend *b = c->b;
    pthread_mutex_lock(&b->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        b->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&b->lock);
    conn_free(c);
}

static int sq_exec(ft_db_conn *base, const char *sql, ft_error *err)
{
    sq_conn *c = (sq_conn *)base;
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : sq_fail(c, rc, err, c->b->path);
}

/* Run a pragma that answers with one text value (journal_mode). Switching
 * a new database to WAL needs its exclusive lock, and SQLite answers BUSY
 * there without calling the busy handler (connections opening it at once
 * would deadlock otherwise), so this waits itself, as long as the busy
 * timeout. */
static int pragma_text(sq_conn *c, const char *sql, char *out, size_t n, ft_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    for (int waited = 0; rc == SQLITE_BUSY && waited < SQ_BUSY_TIMEOUT_MS; waited += 10) {
        sqlite3_reset(st);
        nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_ROW) {
        sq_fail(c, rc, err, sql);
        sqlite3_finalize(st);
        return -1;
    }
    const unsigned char *v = sqlite3_column_text(st, 0);
    snprintf(out, n, "%s", v ? (const char *)v : "");
    sqlite3_finalize(st);
    return 0;
}

static int conn_configure(sq_conn *c, ft_error *err)
{
    sqlite3_busy_timeout(c->db, SQ_BUSY_TIMEOUT_MS);
    char mode[16];
    if (pragma_text(c, "PRAGMA journal_mode=WAL", mode, sizeof mode, err) != 0)
        return -1;
    if (strcmp(mode, "wal") != 0)
        return ft_fail(err, FT_EIO, NULL, "%s: cannot enable WAL mode (journal_mode is %s)", c->b->path, mode);
    /* synchronous=FULL, not NORMAL: in WAL mode NORMAL syncs the WAL only at
     * checkpoints, so a commit survives a process crash but the last
     * transactions can vanish on power loss or an OS crash. A job or dataset
     * acknowledged to a client (201) must survive both, so every commit
     * fsyncs the WAL. The cost is one fsync per write transaction. */
    return sq_exec(&c->base, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", err);
}

static sq_conn *conn_open(ft_db_backend *b, ft_error *err)
{
    sq_conn *c = calloc(1, sizeof *c);
    if (!c) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory opening %s", b->path);
        return NULL;
    }
    c->base.drv = &ft_sqlite_driver;
    c->b = b;
    /* NOMUTEX (multi-thread mode): the connection is only ever used by the
     * thread whose key holds it, so SQLite's per-connection mutex would be
     * pure overhead. */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(b->path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        sq_fail(c, rc, err, b->path);
        conn_free(c);
        return NULL;
    }
    if (conn_configure(c, err) != 0) {
        conn_free(c);
        return NULL;
    }
    return c;
}

/* The calling thread's connection, opened and configured on first use. */
static ft_db_conn *sq_acquire(ft_db_backend *b, ft_error *err)
{
    sq_conn *c = pthread_getspecific(b->key);
    if (c)
        return &c->base;
    if (!(c = conn_open(b, err)))
        return NULL;
    if (pthread_setspecific(b->key, c) != 0) {
        conn_free(c);
        ft_fail(err, FT_ENOMEM, NULL, "cannot attach a database connection to this thread");
        return NULL;
    }
    pthread_mutex_lock(&b->lock);
    c->next = b->conns;
    if (b->conns)
        b->conns->prev = c;
    b->conns = c;
    pthread_mutex_unlock(&b->lock);
    return &c->base;
}

/* The connection stays with its thread. */
static void sq_release(ft_db_conn *c)
{
    (void)c;
}

/* ---- statements ---- */

/* A prepared statement for sql: from the cache when free, else a new one. */
static sqlite3_stmt *prepare(sq_conn *c, const char *sql, ft_error *err)
{
    for (int i = 0; i < c->nstmt; i++)
        if (!c->busy[i] && strcmp(sqlite3_sql(c->stmt[i]), sql) == 0) {
            c->busy[i] = true;
            return c->stmt[i];
        }
    bool cache = c->nstmt < SQ_STMT_CACHE;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(c->db, sql, -1, cache ? SQLITE_PREPARE_PERSISTENT : 0, &st, NULL);
    if (rc != SQLITE_OK) {
        sq_fail(c, rc, err, c->b->path);
        sqlite3_finalize(st);
        return NULL;
    }
    if (cache) {
        c->stmt[c->nstmt] = st;
        c->busy[c->nstmt++] = true;
    }
    return st;
}

/* Hand a statement back: reset a cached one, finalize the others. */
static void unprepare(sq_conn *c, sqlite3_stmt *st)
{
    for (int i = 0; i < c->nstmt; i++)
        if (c->stmt[i] == st) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            c->busy[i] = false;
            return;
        }
    sqlite3_finalize(st);
}

static void sq_done(ft_db_rows *base)
{
    sq_rows *r = (sq_rows *)base;
    unprepare(r->c, r->st);
    free(r);
}

static int bind(sq_conn *c, sqlite3_stmt *st, int n, const ft_db_param *p, ft_error *err)
{
    for (int i = 0; i < n; i++) {
        int rc = p[i].type == 't'   ? sqlite3_bind_text(st, i + 1, p[i].text, -1, SQLITE_TRANSIENT)
                 : p[i].type == 'I' ? sqlite3_bind_int64(st, i + 1, (sqlite3_int64)p[i].i)
                                    : sqlite3_bind_null(st, i + 1);
        if (rc != SQLITE_OK)
            return ft_fail(err, rc == SQLITE_NOMEM ? FT_ENOMEM : FT_EIO, NULL, "%s: binding parameter %d: %s",
                           c->b->path, i + 1, sqlite3_errstr(rc));
    }
    return 0;
}

static ft_db_rows *sq_query(ft_db_conn *base, const char *sql, int n, const ft_db_param *p, ft_error *err)
{
    sq_conn *c = (sq_conn *)base;
    sq_rows *r = calloc(1, sizeof *r);
    if (!r) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    r->base.drv = &ft_sqlite_driver;
    r->c = c;
    if (!(r->st = prepare(c, sql, err)) || bind(c, r->st, n, p, err) != 0) {
        if (r->st)
            unprepare(c, r->st);
        free(r);
        return NULL;
    }
    return &r->base;
}

static int sq_next(ft_db_rows *base, ft_error *err)
{
    sq_rows *r = (sq_rows *)base;
    int rc = sqlite3_step(r->st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE) {
        r->changes = sqlite3_changes(r->c->db);
        return 0;
    }
    return sq_fail(r->c, rc, err, r->c->b->path);
}

static int64_t sq_changes(ft_db_rows *r)
{
    return ((sq_rows *)r)->changes;
}

static bool sq_is_null(ft_db_rows *r, int i)
{
    return sqlite3_column_type(((sq_rows *)r)->st, i) == SQLITE_NULL;
}

static const char *sq_text(ft_db_rows *r, int i)
{
    return (const char *)sqlite3_column_text(((sq_rows *)r)->st, i);
}

static int64_t sq_integer(ft_db_rows *r, int i)
{
    return sqlite3_column_int64(((sq_rows *)r)->st, i);
}

/* ---- transactions ---- */

/* BEGIN IMMEDIATE: take the write lock up front, so a transaction that
 * reads then writes never hits SQLITE_BUSY halfway (busy_timeout applies to
 * the BEGIN instead). */
static int sq_begin(ft_db_conn *c, ft_error *err)
{
    return sq_exec(c, "BEGIN IMMEDIATE", err);
}

static int sq_commit(ft_db_conn *c, ft_error *err)
{
    return sq_exec(c, "COMMIT", err);
}

static void sq_rollback(ft_db_conn *base)
{
    sq_conn *c = (sq_conn *)base;
    /* Some errors (SQLITE_FULL, SQLITE_IOERR) already rolled the transaction
     * back; ROLLBACK then would only fail with "no transaction is active". */
    if (!sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- open, close ---- */

static ft_db_backend *sq_open(const char *path, ft_error *err)
{
    if (!sqlite3_threadsafe()) {
        ft_fail(err, FT_EIO, NULL, "this SQLite library was built without thread support");
        return NULL;
    }
    ft_db_backend *b = calloc(1, sizeof *b);
    if (!b || !(b->path = strdup(path))) {
        free(b);
        ft_fail(err, FT_ENOMEM, NULL, "out of memory opening %s", path);
        return NULL;
    }
    if (pthread_key_create(&b->key, conn_destroy) != 0) {
        free(b->path);
        free(b);
        ft_fail(err, FT_ENOMEM, NULL, "out of thread-specific keys opening %s", path);
        return NULL;
    }
    pthread_mutex_init(&b->lock, NULL);
    return b;
}

static void sq_close(ft_db_backend *b)
{
    /* After the key is deleted no destructor runs any more, so the list is
     * ours alone. */
    pthread_key_delete(b->key);
    pthread_mutex_lock(&b->lock);
    sq_conn *c = b->conns;
    b->conns = NULL;
    pthread_mutex_unlock(&b->lock);
    while (c) {
        sq_conn *next = c->next;
        conn_free(c);
        c = next;
    }
    pthread_mutex_destroy(&b->lock);
    free(b->path);
    free(b);
}

/* ---- SQLite's SQL ---- */

static const ft_db_dialect sq_sql = {
    /* The version lives in the database header, so setting it inside the
     * migration's own transaction makes "schema changed" and "version
     * bumped" one atomic step. BEGIN IMMEDIATE already serializes two
     * processes migrating at once. */
    .schema_version = "PRAGMA user_version",
    .schema_bump = "PRAGMA user_version = %d",
    /* Idle workers poll: a read first, so that finding nothing does not
     * take the write lock and queue behind submits. */
    .claim_precheck = true,
    .migrations_subdir = "",
    .row_lock = "",
    /* A claim runs alone on the database (BEGIN IMMEDIATE): nothing to skip. */
    .skip_locked = "",
    .settle_dead =
        "UPDATE jobs SET status = CASE WHEN cancel_requested <> 0 THEN 'cancelled' ELSE 'failed' END, "
        "error = CASE WHEN cancel_requested <> 0 THEN NULL ELSE json_object("
        "'message', 'the job''s worker died ' || attempts || CASE attempts WHEN 1 THEN ' time' ELSE ' times' END"
        " || '; giving up after max_attempts (' || max_attempts || ')', "
        "'code', 'max_attempts_exceeded', 'param', NULL) END, "
        "finished_at = ?1, lease_token = NULL, lease_expires_ms = NULL "
        "WHERE status = 'running' AND lease_expires_ms <= ?2 AND (cancel_requested <> 0 OR attempts >= max_attempts) "
        "RETURNING id, status, COALESCE(json_extract(error, '$.message'), "
        "'cancelled: its worker died after the cancel was requested')",
    /* The subquery and the update are one statement inside a write
     * transaction: no other connection can claim the same rows in between. */
    .claim = "WITH claimers AS (SELECT value AS claimer, key + 1 AS k FROM json_each(?1)), "
             "picked AS (SELECT seq, row_number() OVER (ORDER BY seq) AS k FROM (SELECT seq FROM jobs "
             "WHERE status IN ('queued', 'running') AND (status = 'queued' OR lease_expires_ms <= ?2) "
             "ORDER BY seq LIMIT %1$d)) "
             "UPDATE jobs SET status = 'running', lease_token = json_extract(claimer, '$.token'), "
             "lease_expires_ms = ?2 + json_extract(claimer, '$.lease_ms'), "
             "worker = json_extract(claimer, '$.worker'), attempts = attempts + 1, "
             "started_at = COALESCE(started_at, ?3) "
             "FROM picked JOIN claimers USING (k) WHERE jobs.seq = picked.seq "
             "RETURNING id, spec, attempts, lease_token",
    .record_users =
        "SELECT j.id, j.status, f.value FROM jobs j, json_each(?2) f "
        "WHERE j.status IN ('queued', 'running') "
        "AND ?1 IN (json_extract(j.spec, '$.' || f.value), json_extract(j.spec, '$.' || f.value || '.id')) "
        "ORDER BY j.seq LIMIT 1",
};

const ft_db_driver ft_sqlite_driver = {
    .name = "sqlite",
    .sql = &sq_sql,
    .open = sq_open,
    .close = sq_close,
    .acquire = sq_acquire,
    .release = sq_release,
    .exec = sq_exec,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .query = sq_query,
    .next = sq_next,
    .changes = sq_changes,
    .done = sq_done,
    .is_null = sq_is_null,
    .text = sq_text,
    .integer = sq_integer,
};
