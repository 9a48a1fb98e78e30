/* The store's database (server/store/store.h): migrations, WAL, the
 * writable probe, closing with idle threads. Runs from the repository
 * root (uses ./migrations) on either backend (store_fixture.h). */
#include <pthread.h>

#include "server/store/store_db.h"
#include "tests/unit/store_fixture.h"

/* Write file name with text into the migrations directory dir. */
static void write_migration(const char *dir, const char *name, const char *text)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Open the store at db with the migrations in dir and close it again:
 * the schema version reached, or -1 (err filled) if it did not open. */
static int migrate(const char *db, const char *dir, ft_error *err)
{
    ft_store *s = ft_store_open(db, dir, err);
    int version = s ? ft_store_schema_version(s) : -1;
    ft_store_close(s);
    return version;
}

/* Run sql on the connection that the calling thread gets from the store
 * (the same one the store's next call on this thread uses). */
static int conn_exec(ft_store *st, const char *sql)
{
    ft_error err = {0};
    ft_db_conn *c = ft_db_acquire(st, &err);
    int rc = c ? c->drv->exec(c, sql, &err) : -1;
    ft_db_release(c);
    return rc;
}

/* ---- migrations ---- */

static void test_migrations_fresh_and_reopen(fixture *fx)
{
    int version = ft_store_schema_version(fx->s);
    CHECKF(version >= 1, "version %d", version);
    add_dataset(fx->s, "ds_a", 10);
    ft_store_close(fx->s);

    ft_error err = {0};
    fx->s = ft_store_open(fx->db, "migrations", &err);
    CHECKF(fx->s != NULL, "reopen: %s", err.msg);
    if (fx->s) {
        CHECK(ft_store_schema_version(fx->s) == version);
        json_t *d = ft_store_dataset_get(fx->s, "ds_a", &err);
        CHECK(d != NULL);
        json_decref(d);
    }
    if (fx_postgres())
        return;
    /* An SQLite database is in WAL mode (persistent in the file). */
    sqlite3 *h;
    sqlite3_stmt *st;
    CHECK(sqlite3_open(fx->db, &h) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
}

static void test_migrations_refuse_newer_database(fixture *fx)
{
    ft_store_close(fx->s);
    fx->s = NULL;
    CHECK(fx_sql(fx, fx_postgres() ? "INSERT INTO schema_migrations (version) VALUES (9999)"
                                    : "PRAGMA user_version = 9999") == 0);
    ft_error err = {0};
    ft_store *s = ft_store_open(fx->db, "migrations", &err);
    CHECK(s == NULL);
    CHECK(err.code == FT_EINVAL);
    CHECKF(strstr(err.msg, "newer finetuned") != NULL, "%s", err.msg);
    ft_store_close(s);
}

typedef struct {
    const char *db;
    int version;      /* reached, or -1 */
    ft_error err;
} open_arg;

static void *open_thread(void *p)
{
    open_arg *a = p;
    a->version = migrate(a->db, "migrations", &a->err);
    return NULL;
}

/* Processes that start at once on a fresh database (an API and workers
 * brought up together): each opens it and the migrations run once. */
static void test_migrations_concurrent_opens(void)
{
    fixture fx;
    if (fx_init(&fx, false) != 0)
        return;
    open_arg a[6];
    pthread_t t[6];
    for (int i = 0; i < 6; i++) {
        a[i] = (open_arg){.db = fx.db};
        pthread_create(&t[i], NULL, open_thread, &a[i]);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(t[i], NULL);
        CHECKF(a[i].version >= 1 && a[i].version == a[0].version, "open %d: version %d: %s", i, a[i].version,
               a[i].err.msg);
    }
    fx_done(&fx);
}

static void test_migrations_custom_dir(void)
{
    fixture fx;
    if (fx_init(&fx, false) != 0)
        return;
    char root[300], mig[320];
    snprintf(root, sizeof root, "%s/mig", fx.dir);
    fx_migrations(root, mig, sizeof mig);
    CHECK(mkdir(root, 0755) == 0);
    CHECK(strcmp(root, mig) == 0 || mkdir(mig, 0755) == 0);
    ft_error err = {0};

    /* Missing directory: a clear error naming it. */
    CHECK(migrate(fx.db, "/nonexistent/migrations", &err) == -1 && err.code == FT_EIO);
    CHECKF(strstr(err.msg, "/nonexistent/migrations") != NULL, "%s", err.msg);

    /* Empty directory: nothing to build a schema from. */
    CHECK(migrate(fx.db, root, &err) == -1);

    /* Numeric order, not name order; other files ignored. */
    write_migration(mig, "10_c.sql", "ALTER TABLE t ADD COLUMN c INTEGER;");
    write_migration(mig, "0002_b.sql", "ALTER TABLE t ADD COLUMN b INTEGER;");
    write_migration(mig, "0001_a.sql", "CREATE TABLE t (a INTEGER);");
    write_migration(mig, "README.md", "not a migration");
    int version = migrate(fx.db, root, &err);
    CHECKF(version != -1, "%s", err.msg);
    CHECK(version == 10);

    /* A failing migration is rolled back whole, version unchanged. */
    write_migration(mig, "0011_bad.sql", "CREATE TABLE u (x INTEGER); INSERT INTO nowhere VALUES (1);");
    CHECK(migrate(fx.db, root, &err) == -1 && err.code == FT_EIO);
    CHECKF(strstr(err.msg, "0011_bad.sql") != NULL, "%s", err.msg);
    CHECK(fx_sql(&fx, "SELECT x FROM u") != 0); /* table u was not kept */
    write_migration(mig, "0011_bad.sql", "CREATE TABLE u (x INTEGER);");
    CHECK(migrate(fx.db, root, &err) == 11);

    /* Two migrations with one number. */
    write_migration(mig, "0011_dup.sql", "SELECT 1;");
    CHECK(migrate(fx.db, root, &err) == -1 && err.code == FT_EINVAL);
    fx_done(&fx);
}

typedef struct {
    ft_store *s;
    bool writable;
    ft_error err;
} probe_arg;

static void *probe_thread(void *p)
{
    probe_arg *a = p;
    a->writable = ft_store_writable(a->s, 0, &a->err);
    return NULL;
}

static void test_writable_probe(fixture *fx)
{
    ft_error err = {0};
    CHECKF(ft_store_writable(fx->s, 0, &err), "%s", err.msg);

    /* A connection that refuses writes: the probe says so. Running as
     * root, permission bits cannot make an SQLite file read-only, so
     * query_only stands in; PostgreSQL has read-only transactions. */
    const char *ro_on = fx_postgres() ? "SET default_transaction_read_only = on" : "PRAGMA query_only = 1";
    const char *ro_off = fx_postgres() ? "SET default_transaction_read_only = off" : "PRAGMA query_only = 0";
    CHECK(conn_exec(fx->s, ro_on) == 0);
    CHECK(!ft_store_writable(fx->s, 0, &err) && err.code == FT_EIO);
    /* /readyz asks with a max age: the success above is answered from
     * memory (no synced write per call); the failure was not remembered. */
    CHECK(ft_store_writable(fx->s, 60000, &err));
    CHECK(!ft_store_writable(fx->s, 0, &err));
    CHECK(conn_exec(fx->s, ro_off) == 0);
    CHECK(ft_store_writable(fx->s, 0, &err));
    if (fx_postgres())
        return; /* the rest is about SQLite's file */

    /* A full disk: the write fails with FT_ENOSPC (max_page_count caps
     * this connection's view of the database at its current size). */
    CHECK(conn_exec(fx->s, "PRAGMA max_page_count = 1") == 0);
    json_t *big = json_pack("{ss ss}", "id", "ds_big", "blob", "0123456789012345678901234567890123456789"
                                                             "0123456789012345678901234567890123456789");
    for (int i = 0; i < 8 && json_string_length(json_object_get(big, "blob")) < 100000; i++) {
        const char *b = jstr(big, "blob");
        size_t n = strlen(b);
        char *twice = malloc(2 * n + 1);
        memcpy(twice, b, n);
        memcpy(twice + n, b, n + 1);
        json_object_set_new(big, "blob", json_string(twice));
        free(twice);
    }
    CHECK(ft_store_dataset_insert(fx->s, big, &err) == -1);
    CHECKF(err.code == FT_ENOSPC, "code %d: %s", err.code, err.msg);
    json_decref(big);
    CHECK(ft_store_dataset_get(fx->s, "ds_big", &err) == NULL && err.code == FT_ENOTFOUND);

    /* The database directory is gone: a thread that needs a new connection
     * cannot open one, and the probe says false rather than crashing. */
    rm_tree(fx->dir);
    probe_arg a = {.s = fx->s};
    pthread_t t;
    pthread_create(&t, NULL, probe_thread, &a);
    pthread_join(t, NULL);
    CHECKF(!a.writable && a.err.code == FT_EIO, "writable %d: %s", a.writable, a.err.msg);
}

/* A thread that used the store and is still alive (idle) when the store
 * closes: ft_store_close closes its connection; its exit later is harmless. */
typedef struct {
    ft_store *s;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stage;  /* 1: used the store; 2: allowed to exit */
} idle_arg;

static void *idle_thread(void *p)
{
    idle_arg *a = p;
    ft_error err = {0};
    json_t *d = ft_store_dataset_get(a->s, "ds_1", &err);
    json_decref(d);
    pthread_mutex_lock(&a->mu);
    a->stage = 1;
    pthread_cond_broadcast(&a->cv);
    while (a->stage != 2)
        pthread_cond_wait(&a->cv, &a->mu);
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

static void test_close_with_idle_threads(fixture *fx)
{
    add_dataset(fx->s, "ds_1", 1);
    idle_arg a = {.s = fx->s, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    pthread_t t;
    pthread_create(&t, NULL, idle_thread, &a);
    pthread_mutex_lock(&a.mu);
    while (a.stage != 1)
        pthread_cond_wait(&a.cv, &a.mu);
    pthread_mutex_unlock(&a.mu);
    ft_store_close(fx->s); /* closes both connections */
    fx->s = NULL;
    pthread_mutex_lock(&a.mu);
    a.stage = 2;
    pthread_cond_broadcast(&a.cv);
    pthread_mutex_unlock(&a.mu);
    pthread_join(t, NULL);
    /* The database is intact for the next open. */
    ft_error err = {0};
    fx->s = ft_store_open(fx->db, "migrations", &err);
    json_t *d = fx->s ? ft_store_dataset_get(fx->s, "ds_1", &err) : NULL;
    CHECK(d != NULL);
    json_decref(d);
}

/* ---- PostgreSQL: notifications ---- */

typedef struct {
    pthread_mutex_t mu;
    char seen[512];   /* "topic:payload " for each notification */
} notes;

static void on_note(void *ctx, const char *topic, const char *payload)
{
    notes *n = ctx;
    pthread_mutex_lock(&n->mu);
    size_t len = strlen(n->seen);
    snprintf(n->seen + len, sizeof n->seen - len, "%s:%s ", topic ? topic : "(reconnect)", payload ? payload : "");
    pthread_mutex_unlock(&n->mu);
}

/* Whether the notifications so far contain want, waiting up to 5 s. */
static bool noted(notes *n, const char *want)
{
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&n->mu);
        bool found = strstr(n->seen, want) != NULL;
        pthread_mutex_unlock(&n->mu);
        if (found)
            return true;
        sleep_ms(10);
    }
    return false;
}

/* A submit wakes the workers of every process, a cancel reaches the one
 * running the job, an event wakes the streams; a listener that lost its
 * connection says so (topic NULL) once it is back. */
static void test_listen_notify(fixture *fx)
{
    ft_error err = {0};
    notes n = {.mu = PTHREAD_MUTEX_INITIALIZER};
    CHECK(ft_store_listen(fx->s, on_note, &n, &err) == 0);
    CHECK(noted(&n, "(reconnect):")); /* the first connection, too */
    add_job(fx->s, "job_1", 3);
    CHECKF(noted(&n, FT_TOPIC_QUEUE ":"), "%s", n.seen);
    ft_claim c;
    CHECK(claim(fx->s, "w", 60, &c) == 1);
    json_t *obj = NULL;
    CHECK(ft_store_job_cancel(fx->s, "job_1", &obj, &err) == 0);
    json_decref(obj);
    CHECKF(noted(&n, FT_TOPIC_CANCEL ":job_1"), "%s", n.seen);
    CHECK(ft_store_job_event(fx->s, "job_1", c.lease, "info", "hello", NULL, &err) == 1);
    CHECKF(noted(&n, FT_TOPIC_EVENTS ":job_1"), "%s", n.seen);
    CHECK(ft_store_listen(fx->s, NULL, NULL, &err) == 0); /* stopped: no callback from here on */
    ft_claim_free(&c);
}

int main(void)
{
    RUN_STORE(test_migrations_fresh_and_reopen);
    RUN_STORE(test_migrations_refuse_newer_database);
    RUN(test_migrations_custom_dir);
    RUN(test_migrations_concurrent_opens);
    RUN_STORE(test_writable_probe);
    RUN_STORE(test_close_with_idle_threads);
    if (fx_postgres()) {
        RUN_STORE(test_listen_notify);
    }
    return TEST_SUMMARY();
}
