/* The SQLite store: connections, statements, transactions, errors.
 *
 * One connection per thread. SQLite connections are cheap, and a connection
 * used by a single thread needs no locking of its own; WAL mode lets readers
 * (GET routes) run while one writer (a submit, a heartbeat) commits. Writers
 * queue on the database's write lock through busy_timeout.
 *
 * Lifetime rule: call ft_store_close only once every other thread that used
 * the store has exited or will never touch it again. Connections of threads
 * that exited were already closed by the pthread key's destructor; those of
 * threads still alive (idle) are closed by ft_store_close. A thread must not
 * be exiting while ft_store_close runs.
 */
#include "server/store/sqlite/store_sqlite_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How long a connection waits for another one's write lock before a write
 * fails with "database is locked". Writes are short (no training happens in
 * a transaction), so 5 s means something is badly wrong. */
#define FT_SQ_BUSY_TIMEOUT_MS 5000

int64_t ft_sq_now(void)
{
    return (int64_t)time(NULL);
}

int64_t ft_sq_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ft_sq_fail(ft_sq_connection *c, int rc, ft_error *err, const char *what)
{
    const char *msg = c && c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc);
    ft_errcode code = (rc & 0xff) == SQLITE_FULL ? FT_ENOSPC : FT_EIO;
    return ft_fail(err, code, NULL, "%s: %s", what, msg);
}

/* ---- connections ---- */

static void conn_free(ft_sq_connection *c)
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
    ft_sq_connection *c = p;
    ft_store *s = c->store;
    pthread_mutex_lock(&s->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&s->lock);
    conn_free(c);
}

/* Run a pragma that answers with one text value (journal_mode). */
static int pragma_text(ft_sq_connection *c, const char *sql, char *out, size_t n, ft_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        ft_sq_fail(c, rc, err, sql);
        sqlite3_finalize(st);
        return -1;
    }
    const unsigned char *v = sqlite3_column_text(st, 0);
    snprintf(out, n, "%s", v ? (const char *)v : "");
    sqlite3_finalize(st);
    return 0;
}

static int conn_configure(ft_sq_connection *c, ft_error *err)
{
    sqlite3_busy_timeout(c->db, FT_SQ_BUSY_TIMEOUT_MS);
    char mode[16];
    if (pragma_text(c, "PRAGMA journal_mode=WAL", mode, sizeof mode, err) != 0)
        return -1;
    if (strcmp(mode, "wal") != 0)
        return ft_fail(err, FT_EIO, NULL, "%s: cannot enable WAL mode (journal_mode is %s)",
                       c->store->path, mode);
    /* synchronous=FULL, not NORMAL: in WAL mode NORMAL syncs the WAL only at
     * checkpoints, so a commit survives a process crash but the last
     * transactions can vanish on power loss or an OS crash. A job or dataset
     * acknowledged to a client (201) must survive both, so every commit
     * fsyncs the WAL. The cost is one fsync per write transaction. */
    return ft_sq_exec(c, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", err);
}

static ft_sq_connection *conn_open(ft_store *s, ft_error *err)
{
    ft_sq_connection *c = calloc(1, sizeof *c);
    if (!c) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory opening %s", s->path);
        return NULL;
    }
    c->store = s;
    /* NOMUTEX (multi-thread mode): the connection is only ever used by the
     * thread whose key holds it, so SQLite's per-connection mutex would be
     * pure overhead. */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(s->path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        ft_sq_fail(c, rc, err, s->path);
        conn_free(c);
        return NULL;
    }
    if (conn_configure(c, err) != 0) {
        conn_free(c);
        return NULL;
    }
    return c;
}

ft_sq_connection *ft_sq_conn(ft_store *s, ft_error *err)
{
    ft_sq_connection *c = pthread_getspecific(s->key);
    if (c)
        return c;
    c = conn_open(s, err);
    if (!c)
        return NULL;
    if (pthread_setspecific(s->key, c) != 0) {
        conn_free(c);
        ft_fail(err, FT_ENOMEM, NULL, "cannot attach a database connection to this thread");
        return NULL;
    }
    pthread_mutex_lock(&s->lock);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    pthread_mutex_unlock(&s->lock);
    return c;
}

/* ---- statements ---- */

sqlite3_stmt *ft_sq_prepare(ft_sq_connection *c, const char *sql, ft_error *err)
{
    for (int i = 0; i < c->nstmt; i++)
        if (!c->busy[i] && strcmp(sqlite3_sql(c->stmt[i]), sql) == 0) {
            c->busy[i] = true;
            return c->stmt[i];
        }
    bool cache = c->nstmt < FT_SQ_STMT_CACHE;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(c->db, sql, -1, cache ? SQLITE_PREPARE_PERSISTENT : 0, &st, NULL);
    if (rc != SQLITE_OK) {
        ft_sq_fail(c, rc, err, c->store->path);
        sqlite3_finalize(st);
        return NULL;
    }
    if (cache) {
        c->stmt[c->nstmt] = st;
        c->busy[c->nstmt++] = true;
    }
    return st;
}

void ft_sq_release(ft_sq_connection *c, sqlite3_stmt *st)
{
    if (!st)
        return;
    for (int i = 0; i < c->nstmt; i++)
        if (c->stmt[i] == st) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            c->busy[i] = false;
            return;
        }
    sqlite3_finalize(st);
}

int ft_sq_step(ft_sq_connection *c, sqlite3_stmt *st, ft_error *err)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return ft_sq_fail(c, rc, err, c->store->path);
}

int ft_sq_run(ft_sq_connection *c, sqlite3_stmt *st, ft_error *err)
{
    int rc;
    while ((rc = ft_sq_step(c, st, err)) == 1)
        ;
    int changes = sqlite3_changes(c->db);
    ft_sq_release(c, st);
    return rc < 0 ? -1 : changes;
}

int ft_sq_exec(ft_sq_connection *c, const char *sql, ft_error *err)
{
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : ft_sq_fail(c, rc, err, c->store->path);
}

int ft_sq_begin(ft_sq_connection *c, ft_error *err)
{
    return ft_sq_exec(c, "BEGIN IMMEDIATE", err);
}

int ft_sq_end(ft_sq_connection *c, int rc, ft_error *err)
{
    if (rc >= 0 && ft_sq_exec(c, "COMMIT", err) == 0)
        return rc;
    /* Some errors (SQLITE_FULL, SQLITE_IOERR) already rolled the transaction
     * back; ROLLBACK then would only fail with "no transaction is active". */
    if (!sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* ---- binding and reading ---- */

static int bind_json(sqlite3_stmt *st, int i, const json_t *v)
{
    if (!v || json_is_null(v))
        return sqlite3_bind_null(st, i);
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return SQLITE_NOMEM;
    /* SQLite calls free() on text even if the bind fails. */
    return sqlite3_bind_text(st, i, text, -1, free);
}

static int bind_va(ft_sq_connection *c, sqlite3_stmt *st, ft_error *err, const char *types, va_list ap)
{
    for (int i = 1; types[i - 1]; i++) {
        int rc = SQLITE_MISUSE;
        const char *text;
        switch (types[i - 1]) {
        case 't':
            text = va_arg(ap, const char *);
            rc = text ? sqlite3_bind_text(st, i, text, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
            break;
        case 'i': rc = sqlite3_bind_int(st, i, va_arg(ap, int)); break;
        case 'I': rc = sqlite3_bind_int64(st, i, (sqlite3_int64)va_arg(ap, int64_t)); break;
        case 'j': rc = bind_json(st, i, va_arg(ap, const json_t *)); break;
        }
        if (rc != SQLITE_OK)
            return ft_fail(err, rc == SQLITE_NOMEM ? FT_ENOMEM : FT_EIO, NULL, "%s: binding parameter %d: %s",
                           c->store->path, i, sqlite3_errstr(rc));
    }
    return 0;
}

sqlite3_stmt *ft_sq_query(ft_sq_connection *c, const char *sql, ft_error *err, const char *types, ...)
{
    sqlite3_stmt *st = ft_sq_prepare(c, sql, err);
    if (!st)
        return NULL;
    va_list ap;
    va_start(ap, types);
    int rc = bind_va(c, st, err, types, ap);
    va_end(ap);
    if (rc != 0) {
        ft_sq_release(c, st);
        return NULL;
    }
    return st;
}

static int vwrite(ft_sq_connection *c, const char *sql, ft_error *err, const char *types, va_list ap)
{
    sqlite3_stmt *st = ft_sq_prepare(c, sql, err);
    if (!st)
        return -1;
    if (bind_va(c, st, err, types, ap) != 0) {
        ft_sq_release(c, st);
        return -1;
    }
    return ft_sq_run(c, st, err);
}

int ft_sq_write(ft_sq_connection *c, const char *sql, ft_error *err, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    int n = vwrite(c, sql, err, types, ap);
    va_end(ap);
    return n;
}

int ft_sq_write_tx(ft_store *s, const char *sql, ft_error *err, const char *types, ...)
{
    ft_sq_connection *c = ft_sq_conn(s, err);
    if (!c || ft_sq_begin(c, err) != 0)
        return -1;
    va_list ap;
    va_start(ap, types);
    int n = vwrite(c, sql, err, types, ap);
    va_end(ap);
    return ft_sq_end(c, n, err);
}

json_t *ft_sq_col_json(sqlite3_stmt *st, int i, ft_error *err)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return json_null();
    const char *text = (const char *)sqlite3_column_text(st, i);
    json_error_t jerr;
    json_t *v = text ? json_loads(text, JSON_DECODE_ANY, &jerr) : NULL;
    if (!v)
        ft_fail(err, FT_EIO, NULL, "corrupt JSON in column %s: %s", sqlite3_column_name(st, i),
                text ? jerr.text : "out of memory");
    return v;
}

json_t *ft_sq_col_int_or_null(sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return json_null();
    return json_integer((json_int_t)sqlite3_column_int64(st, i));
}

json_t *ft_sq_col_text_or_null(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? json_string((const char *)t) : json_null();
}

/* ---- open, close, probes ---- */

ft_store *ft_sq_store_new(const char *path, ft_error *err)
{
    if (!sqlite3_threadsafe()) {
        ft_fail(err, FT_EIO, NULL, "this SQLite library was built without thread support");
        return NULL;
    }
    ft_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        ft_fail(err, FT_ENOMEM, NULL, "out of memory opening %s", path);
        return NULL;
    }
    if (pthread_key_create(&s->key, conn_destroy) != 0) {
        free(s->path);
        free(s);
        ft_fail(err, FT_ENOMEM, NULL, "out of thread-specific keys opening %s", path);
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

void ft_store_close(ft_store *s)
{
    if (!s)
        return;
    /* After the key is deleted no destructor runs any more, so the list is
     * ours alone. */
    pthread_key_delete(s->key);
    pthread_mutex_lock(&s->lock);
    ft_sq_connection *c = s->conns;
    s->conns = NULL;
    pthread_mutex_unlock(&s->lock);
    while (c) {
        ft_sq_connection *next = c->next;
        conn_free(c);
        c = next;
    }
    pthread_mutex_destroy(&s->lock);
    free(s->path);
    free(s);
}

bool ft_store_writable(ft_store *s, int max_age_ms, ft_error *err)
{
    int64_t now = ft_sq_now_ms();
    if (now - s->writable_ms < max_age_ms)
        return true;
    ft_sq_connection *c = ft_sq_conn(s, err);
    if (!c || ft_sq_begin(c, err) != 0)
        return false;
    /* A real commit, not a rollback: only a commit proves that the WAL can
     * be written and synced (a full disk fails here, not at BEGIN). */
    int rc = ft_sq_write(c, "UPDATE store_probe SET probed_at = ?1 WHERE id = 1", err, "I", ft_sq_now());
    if (ft_sq_end(c, rc, err) < 0)
        return false;
    s->writable_ms = now;
    return true;
}
