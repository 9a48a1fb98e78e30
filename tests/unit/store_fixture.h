/* The fixture of the store's unit tests (tests/unit/test_store_*.c): a
 * fresh store per test, and the helpers that insert rows and claim jobs.
 * Tests run from the repository root (./migrations).
 *
 * The backend is FT_TEST_STORE: "sqlite" (the default; a file in a temp
 * directory) or "postgres" (a database created per test on the cluster
 * that FT_TEST_PG names, a libpq keyword string; without it the first
 * test starts a cluster of its own with tests/pg_cluster.sh and the
 * process stops it at exit). tests/run.sh runs each store test once per
 * backend. Everything is static inline: each test file uses only some of
 * it. */
#ifndef FT_STORE_FIXTURE_H
#define FT_STORE_FIXTURE_H

#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "server/store/store.h"
#include "tests/unit/test.h"

typedef struct {
    char dir[256];   /* temp directory */
    char db[1024];   /* the store's target: dir/store.db or a libpq string */
    char name[64];   /* PostgreSQL: the test's database */
    ft_store *s;
} fixture;

static inline int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static inline void rm_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static inline bool fx_postgres(void)
{
    const char *b = getenv("FT_TEST_STORE");
    return b && strcmp(b, "postgres") == 0;
}

/* The cluster this process started (if it had to), stopped at exit. */
static char fx_cluster_dir[256];

static inline void fx_cluster_stop(void)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "tests/pg_cluster.sh stop %s", fx_cluster_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not stop the test cluster in %s\n", fx_cluster_dir);
}

/* The libpq keyword string of the test cluster, started on first use. */
static inline const char *fx_cluster(void)
{
    static char conninfo[512];
    if (conninfo[0])
        return conninfo;
    const char *given = getenv("FT_TEST_PG");
    if (given && *given) {
        snprintf(conninfo, sizeof conninfo, "%s", given);
        return conninfo;
    }
    snprintf(fx_cluster_dir, sizeof fx_cluster_dir, "/tmp/ft-pg-XXXXXX");
    if (!mkdtemp(fx_cluster_dir))
        return NULL;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "tests/pg_cluster.sh start %s", fx_cluster_dir);
    FILE *p = popen(cmd, "r");
    bool ok = p && fgets(conninfo, sizeof conninfo, p) != NULL;
    if (p && pclose(p) != 0)
        ok = false;
    atexit(fx_cluster_stop);
    conninfo[strcspn(conninfo, "\n")] = '\0';
    if (!ok)
        conninfo[0] = '\0';
    return ok ? conninfo : NULL;
}

/* Run sql on the cluster's maintenance database: 0 or -1. */
static inline int fx_pg_admin(const char *sql)
{
    const char *cluster = fx_cluster();
    char conninfo[700];
    snprintf(conninfo, sizeof conninfo, "%s dbname=postgres", cluster ? cluster : "");
    PGconn *pg = cluster ? PQconnectdb(conninfo) : NULL;
    PGresult *res = pg && PQstatus(pg) == CONNECTION_OK ? PQexec(pg, sql) : NULL;
    int rc = res && PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc != 0)
        fprintf(stderr, "%s: %s\n", sql, pg ? PQerrorMessage(pg) : "no cluster");
    PQclear(res);
    PQfinish(pg);
    return rc;
}

/* Run one SQL script on the fixture's database with a connection of its
 * own: 0 on success. */
static inline int fx_sql(const fixture *fx, const char *sql)
{
    if (fx_postgres()) {
        PGconn *pg = PQconnectdb(fx->db);
        PGresult *res = PQstatus(pg) == CONNECTION_OK ? PQexec(pg, sql) : NULL;
        ExecStatusType st = PQresultStatus(res);
        PQclear(res);
        PQfinish(pg);
        return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;
    }
    sqlite3 *h;
    int rc = sqlite3_open(fx->db, &h);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
    sqlite3_close(h);
    return rc == SQLITE_OK ? 0 : -1;
}

/* Where this backend's migrations go below a migrations root. */
static inline void fx_migrations(const char *root, char *out, size_t n)
{
    snprintf(out, n, "%s%s", root, fx_postgres() ? "/postgres" : "");
}

/* A fresh directory (and, for PostgreSQL, a fresh database); opens the
 * store unless open is false. */
static inline int fx_init(fixture *fx, bool open)
{
    static int serial;
    snprintf(fx->dir, sizeof fx->dir, "/tmp/ft_store_XXXXXX");
    fx->s = NULL;
    fx->name[0] = '\0';
    if (!mkdtemp(fx->dir))
        return -1;
    snprintf(fx->db, sizeof fx->db, "%s/store.db", fx->dir);
    if (fx_postgres()) {
        char sql[128];
        snprintf(fx->name, sizeof fx->name, "ft_test_%d_%d", (int)getpid(), ++serial);
        snprintf(sql, sizeof sql, "CREATE DATABASE %s", fx->name);
        CHECK(fx_pg_admin(sql) == 0);
        snprintf(fx->db, sizeof fx->db, "%s dbname=%s", fx_cluster() ? fx_cluster() : "", fx->name);
    }
    if (!open)
        return 0;
    ft_error err = {0};
    fx->s = ft_store_open(fx->db, "migrations", &err);
    CHECKF(fx->s != NULL, "ft_store_open: %s", err.msg);
    return fx->s ? 0 : -1;
}

static inline void fx_done(fixture *fx)
{
    ft_store_close(fx->s);
    fx->s = NULL;
    rm_tree(fx->dir);
    if (fx->name[0]) {
        char sql[128];
        snprintf(sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", fx->name);
        fx_pg_admin(sql);
    }
}

/* RUN_STORE(test_x) runs test_x(fixture *) on a freshly opened store and
 * removes it afterwards; t_run needs a void(void), hence the two statics. */
static fixture fx_current;
static void (*fx_test)(fixture *);

static inline void fx_run(void)
{
    if (fx_init(&fx_current, true) != 0)
        return;
    fx_test(&fx_current);
    fx_done(&fx_current);
}

#define RUN_STORE(fn) (fx_test = (fn), t_run(#fn, fx_run))

static inline void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Long enough for a 1-second lease to expire. */
static inline void outlive_lease(void)
{
    sleep_ms(1100);
}

static inline int add_dataset(ft_store *s, const char *id, int64_t bytes)
{
    json_t *o = json_pack("{ss ss sI s[ii]}", "id", id, "name", "train.csv", "bytes", (json_int_t)bytes,
                          "input_shape", 1, 4);
    ft_error err = {0};
    int rc = ft_store_dataset_insert(s, o, &err);
    CHECKF(rc == 0, "dataset insert %s: %s", id, err.msg);
    json_decref(o);
    return rc;
}

static inline int add_model(ft_store *s, const char *id, int64_t bytes)
{
    json_t *o = json_pack("{ss ss sI}", "id", id, "name", "base", "bytes", (json_int_t)bytes);
    ft_error err = {0};
    int rc = ft_store_model_insert(s, o, &err);
    CHECKF(rc == 0, "model insert %s: %s", id, err.msg);
    json_decref(o);
    return rc;
}

/* A webhook endpoint for the events (stolen) of every job, or of job's. */
static inline void add_endpoint(ft_store *s, const char *id, const char *job, json_t *events)
{
    json_t *o = json_pack("{ss ss so ss ss*}", "id", id, "url", "https://example.com/h", "events", events, "secret",
                          "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "job", job);
    ft_error err = {0};
    CHECKF(ft_store_webhook_insert(s, o, &err) == 0, "%s: %s", id, err.msg);
    json_decref(o);
}

/* A queued job with the given spec (stolen), one warning and metadata. */
static inline int add_job_spec(ft_store *s, const char *id, json_t *spec, int max_attempts)
{
    json_t *o = json_pack("{ss so si s[s] s{ss}}", "id", id, "spec", spec, "max_attempts", max_attempts,
                          "warnings", "zeros init", "metadata", "team", "a");
    ft_error err = {0};
    json_t *existing = NULL;
    int rc = ft_store_job_insert(s, o, NULL, NULL, &existing, &err);
    CHECKF(rc == 0 && existing == NULL, "job insert %s: %s", id, err.msg);
    json_decref(o);
    return rc;
}

/* A queued job on dataset ds_a, 3 epochs. */
static inline int add_job(ft_store *s, const char *id, int max_attempts)
{
    return add_job_spec(s, id, json_pack("{ss si}", "dataset", "ds_a", "epochs", 3), max_attempts);
}

/* n queued jobs (max_attempts 3) named by fmt from index first on, in order. */
static inline void add_jobs(ft_store *s, const char *fmt, int first, int n)
{
    char id[32];
    for (int i = first; i < first + n; i++) {
        snprintf(id, sizeof id, fmt, i);
        add_job(s, id, 3);
    }
}

/* A string member, or "(missing)", so failed checks never crash on NULL. */
static inline const char *jstr(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "(missing)";
}

static inline json_int_t jint(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static inline char *job_status(ft_store *s, const char *id, char *out, size_t n)
{
    ft_error err = {0};
    json_t *j = ft_store_job_get(s, id, &err);
    snprintf(out, n, "%s", j ? jstr(j, "status") : "?");
    json_decref(j);
    return out;
}

/* CHECK that job id has status want (the line reported is the caller's). */
#define CHECK_STATUS(s, id, want)                                                \
    do {                                                                         \
        char st_[16];                                                            \
        CHECKF(strcmp(job_status(s, id, st_, sizeof st_), want) == 0, "%s is %s, not %s", id, st_, want); \
    } while (0)

static inline int claim(ft_store *s, const char *worker, int lease_seconds, ft_claim *c)
{
    ft_error err = {0};
    int rc = ft_store_job_claim(s, worker, lease_seconds, c, &err);
    CHECKF(rc >= 0, "claim: %s", err.msg);
    return rc;
}

/* A worker that stalls past its lease: job_1 (queued, max_attempts 3) is
 * claimed by w1 on a 1-second lease (attempt 1, held meanwhile), and once
 * that expires w2 takes it over (attempt 2, a new lease). */
static inline void take_over(ft_store *s, ft_claim *old, ft_claim *cur)
{
    add_job(s, "job_1", 3);
    CHECK(claim(s, "w1", 1, old) == 1 && old->attempts == 1);
    CHECK(claim(s, "w2", 1, cur) == 0); /* held */
    ft_claim_free(cur);
    outlive_lease();
    CHECK(claim(s, "w2", 60, cur) == 1 && strcmp(cur->id, "job_1") == 0 && cur->attempts == 2);
    CHECK(strcmp(cur->lease, old->lease) != 0);
}

/* Whether the claim settled exactly one dead job, id. */
static inline bool settled_only(const ft_claim *c, const char *id)
{
    return json_array_size(c->settled) == 1 && strcmp(json_string_value(json_array_get(c->settled, 0)), id) == 0;
}

/* The number of job id's events after seq after (at most limit), or -1. */
static inline int event_count(ft_store *s, const char *id, int64_t after, int limit)
{
    ft_error err = {0};
    json_t *ev = ft_store_job_events(s, id, after, limit, &err);
    int n = ev ? (int)json_array_size(ev) : -1;
    json_decref(ev);
    return n;
}

#endif
