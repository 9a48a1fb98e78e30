/* The SQLite store (server/store/store.h): migrations, records, lists, the job
 * queue (claim, leases, fencing), cancel, idempotency, events, metrics.
 * Runs from the repository root (uses ./migrations) on a temp directory. */
#include <ftw.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "server/store/store.h"
#include "server/store/sqlite/store_sqlite_internal.h"
#include "tests/unit/test.h"

/* ---- fixtures ---- */

typedef struct {
    char dir[256];  /* temp directory */
    char db[300];   /* dir/store.db */
    ft_store *s;
} fixture;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void rm_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh directory; opens the store unless open is false. */
static int fx_init(fixture *fx, bool open)
{
    snprintf(fx->dir, sizeof fx->dir, "/tmp/ft_store_XXXXXX");
    fx->s = NULL;
    if (!mkdtemp(fx->dir))
        return -1;
    snprintf(fx->db, sizeof fx->db, "%s/store.db", fx->dir);
    if (!open)
        return 0;
    ft_error err = {0};
    fx->s = ft_store_open(fx->db, "migrations", &err);
    CHECKF(fx->s != NULL, "ft_store_open: %s", err.msg);
    return fx->s ? 0 : -1;
}

static void fx_done(fixture *fx)
{
    ft_store_close(fx->s);
    fx->s = NULL;
    rm_tree(fx->dir);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Run one SQL statement on the database file with a separate connection. */
static int raw_sql(const char *db, const char *sql)
{
    sqlite3 *h;
    int rc = sqlite3_open(db, &h);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
    sqlite3_close(h);
    return rc;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int add_dataset(ft_store *s, const char *id, int64_t bytes)
{
    json_t *o = json_pack("{ss ss sI s[ii]}", "id", id, "name", "train.csv", "bytes", (json_int_t)bytes,
                          "input_shape", 1, 4);
    ft_error err = {0};
    int rc = ft_store_dataset_insert(s, o, &err);
    CHECKF(rc == 0, "dataset insert %s: %s", id, err.msg);
    json_decref(o);
    return rc;
}

static int add_model(ft_store *s, const char *id, int64_t bytes)
{
    json_t *o = json_pack("{ss ss sI}", "id", id, "name", "base", "bytes", (json_int_t)bytes);
    ft_error err = {0};
    int rc = ft_store_model_insert(s, o, &err);
    CHECKF(rc == 0, "model insert %s: %s", id, err.msg);
    json_decref(o);
    return rc;
}

/* A queued job on dataset ds (and spec fields from extra, if any). */
static int add_job_spec(ft_store *s, const char *id, json_t *spec, int max_attempts)
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

static int add_job(ft_store *s, const char *id, int max_attempts)
{
    return add_job_spec(s, id, json_pack("{ss si}", "dataset", "ds_a", "epochs", 3), max_attempts);
}

/* A string member, or "(missing)", so failed checks never crash on NULL. */
static const char *jstr(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "(missing)";
}

static json_int_t jint(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static char *job_status(ft_store *s, const char *id, char *out, size_t n)
{
    ft_error err = {0};
    json_t *j = ft_store_job_get(s, id, &err);
    snprintf(out, n, "%s", j ? jstr(j, "status") : "?");
    json_decref(j);
    return out;
}

static int claim(ft_store *s, const char *worker, int lease_seconds, ft_claim *c)
{
    ft_error err = {0};
    int rc = ft_store_job_claim(s, worker, lease_seconds, c, &err);
    CHECKF(rc >= 0, "claim: %s", err.msg);
    return rc;
}

/* ---- migrations ---- */

static void test_migrations_fresh_and_reopen(void)
{
    fixture fx;
    if (fx_init(&fx, true) != 0)
        return;
    int version = ft_store_schema_version(fx.s);
    CHECKF(version >= 1, "version %d", version);
    add_dataset(fx.s, "ds_a", 10);
    ft_store_close(fx.s);

    ft_error err = {0};
    fx.s = ft_store_open(fx.db, "migrations", &err);
    CHECKF(fx.s != NULL, "reopen: %s", err.msg);
    if (fx.s) {
        CHECK(ft_store_schema_version(fx.s) == version);
        json_t *d = ft_store_dataset_get(fx.s, "ds_a", &err);
        CHECK(d != NULL);
        json_decref(d);
    }
    /* The database is in WAL mode (persistent in the file). */
    sqlite3 *h;
    sqlite3_stmt *st;
    CHECK(sqlite3_open(fx.db, &h) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    fx_done(&fx);
}

static void test_migrations_refuse_newer_database(void)
{
    fixture fx;
    if (fx_init(&fx, true) != 0)
        return;
    ft_store_close(fx.s);
    fx.s = NULL;
    CHECK(raw_sql(fx.db, "PRAGMA user_version = 9999") == SQLITE_OK);
    ft_error err = {0};
    ft_store *s = ft_store_open(fx.db, "migrations", &err);
    CHECK(s == NULL);
    CHECK(err.code == FT_EINVAL);
    CHECKF(strstr(err.msg, "newer finetuned") != NULL, "%s", err.msg);
    ft_store_close(s);
    fx_done(&fx);
}

static void test_migrations_custom_dir(void)
{
    fixture fx;
    if (fx_init(&fx, false) != 0)
        return;
    char mig[300], path[400];
    snprintf(mig, sizeof mig, "%s/mig", fx.dir);
    CHECK(mkdir(mig, 0755) == 0);
    ft_error err = {0};

    /* Missing directory: a clear error naming it. */
    ft_store *s = ft_store_open(fx.db, "/nonexistent/migrations", &err);
    CHECK(s == NULL && err.code == FT_EIO);
    CHECKF(strstr(err.msg, "/nonexistent/migrations") != NULL, "%s", err.msg);
    ft_store_close(s);

    /* Empty directory: nothing to build a schema from. */
    s = ft_store_open(fx.db, mig, &err);
    CHECK(s == NULL);
    ft_store_close(s);

    /* Numeric order, not name order; other files ignored. */
    snprintf(path, sizeof path, "%s/10_c.sql", mig);
    write_text(path, "ALTER TABLE t ADD COLUMN c INTEGER;");
    snprintf(path, sizeof path, "%s/0002_b.sql", mig);
    write_text(path, "ALTER TABLE t ADD COLUMN b INTEGER;");
    snprintf(path, sizeof path, "%s/0001_a.sql", mig);
    write_text(path, "CREATE TABLE t (a INTEGER);");
    snprintf(path, sizeof path, "%s/README.md", mig);
    write_text(path, "not a migration");
    s = ft_store_open(fx.db, mig, &err);
    CHECKF(s != NULL, "%s", err.msg);
    CHECK(s && ft_store_schema_version(s) == 10);
    ft_store_close(s);

    /* A failing migration is rolled back whole, version unchanged. */
    snprintf(path, sizeof path, "%s/0011_bad.sql", mig);
    write_text(path, "CREATE TABLE u (x INTEGER); INSERT INTO nowhere VALUES (1);");
    s = ft_store_open(fx.db, mig, &err);
    CHECK(s == NULL && err.code == FT_EIO);
    CHECKF(strstr(err.msg, "0011_bad.sql") != NULL, "%s", err.msg);
    CHECK(raw_sql(fx.db, "SELECT x FROM u") != SQLITE_OK); /* table u was not kept */
    write_text(path, "CREATE TABLE u (x INTEGER);");
    s = ft_store_open(fx.db, mig, &err);
    CHECK(s && ft_store_schema_version(s) == 11);
    ft_store_close(s);

    /* Two migrations with one number. */
    snprintf(path, sizeof path, "%s/0011_dup.sql", mig);
    write_text(path, "SELECT 1;");
    s = ft_store_open(fx.db, mig, &err);
    CHECK(s == NULL && err.code == FT_EINVAL);
    ft_store_close(s);
    fx_done(&fx);
}

/* ---- datasets and models ---- */

static void test_dataset_insert_get(void)
{
    fixture fx;
    if (fx_init(&fx, true) != 0)
        return;
    time_t before = time(NULL);
    add_dataset(fx.s, "ds_a", 1234);
    ft_error err = {0};
    json_t *d = ft_store_dataset_get(fx.s, "ds_a", &err);
    CHECK(d != NULL);
    if (d) {
        CHECK(strcmp(jstr(d, "id"), "ds_a") == 0);
        CHECK(strcmp(jstr(d, "object"), "dataset") == 0);
        CHECK(strcmp(jstr(d, "status"), "ready") == 0);
        CHECK(strcmp(jstr(d, "name"), "train.csv") == 0);
        CHECK(jint(d, "bytes") == 1234);
        CHECK(jint(d, "created_at") >= before && jint(d, "created_at") <= time(NULL));
        CHECK(json_array_size(json_object_get(d, "input_shape")) == 2);
    }
    json_decref(d);

    /* Same id again: a conflict, not a second row. */
    json_t *o = json_pack("{ss}", "id", "ds_a");
    CHECK(ft_store_dataset_insert(fx.s, o, &err) == -1 && err.code == FT_EINVAL);
    json_decref(o);
    o = json_pack("{si}", "id", 5);
    CHECK(ft_store_dataset_insert(fx.s, o, &err) == -1 && err.code == FT_EINVAL &&
          strcmp(err.param, "id") == 0);
    json_decref(o);

    CHECK(ft_store_dataset_get(fx.s, "ds_missing", &err) == NULL && err.code == FT_ENOTFOUND);
    CHECK(ft_store_model_get(fx.s, "ds_a", &err) == NULL && err.code == FT_ENOTFOUND);
    CHECK(ft_store_dataset_delete(fx.s, "ds_missing", &err) == -1 && err.code == FT_ENOTFOUND);
    CHECK(ft_store_dataset_delete(fx.s, "ds_a", &err) == 0);
    CHECK(ft_store_dataset_get(fx.s, "ds_a", &err) == NULL && err.code == FT_ENOTFOUND);
    fx_done(&fx);
}

/* Page through a list of n items with limit; check order and has_more. */
static void check_pages(ft_store *s, json_t *(*list)(ft_store *, const ft_list_query *, bool *, ft_error *),
                        const char *status, const char *const *newest_first, int n, int limit)
{
    const char *after = NULL;
    char cursor[64] = "";
    int seen = 0, pages = 0;
    for (;;) {
        ft_list_query q = {.limit = limit, .after = after, .status = status};
        bool more = true;
        ft_error err = {0};
        json_t *page = list(s, &q, &more, &err);
        CHECKF(page != NULL, "list: %s", err.msg);
        if (!page)
            return;
        pages++;
        size_t i;
        json_t *item;
        json_array_foreach(page, i, item) {
            CHECKF(seen < n && strcmp(jstr(item, "id"), newest_first[seen]) == 0, "item %d is %s", seen,
                   jstr(item, "id"));
            seen++;
        }
        CHECK(more == (seen < n));
        CHECK(json_array_size(page) == (size_t)(more ? limit : n - (pages - 1) * limit));
        if (json_array_size(page))
            snprintf(cursor, sizeof cursor, "%s", jstr(json_array_get(page, json_array_size(page) - 1), "id"));
        json_decref(page);
        after = cursor;
        if (!more)
            break;
    }
    CHECK(seen == n);
    CHECK(pages == (n == 0 ? 1 : (n + limit - 1) / limit));
}

static void test_lists_pagination(void)
{
    fixture fx;
    if (fx_init(&fx, true) != 0)
        return;
    const char *ds[] = {"ds_7", "ds_6", "ds_5", "ds_4", "ds_3", "ds_2", "ds_1"};
    for (int i = 6; i >= 0; i--)
        add_dataset(fx.s, ds[i], 100);
    const char *mdl[] = {"mdl_2", "mdl_1"};
    add_model(fx.s, "mdl_1", 5);
    add_model(fx.s, "mdl_2", 5);

    check_pages(fx.s, ft_store_dataset_list, NULL, ds, 7, 3);
    check_pages(fx.s, ft_store_dataset_list, NULL, ds, 7, 7);
    check_pages(fx.s, ft_store_dataset_list, NULL, ds, 7, 100);
    check_pages(fx.s, ft_store_dataset_list, NULL, ds, 7, 1);
    check_pages(fx.s, ft_store_model_list, NULL, mdl, 2, 1);

    ft_error err = {0};
    bool more;
    ft_list_query q = {.limit = 0};
    CHECK(ft_store_dataset_list(fx.s, &q, &more, &err) == NULL && err.code == FT_EINVAL &&
          strcmp(err.param, "limit") == 0);
    q.limit = 101;
    CHECK(ft_store_dataset_list(fx.s, &q, &more, &err) == NULL && err.code == FT_EINVAL);
    q.limit = 10;
    q.after = "ds_unknown";
    CHECK(ft_store_dataset_list(fx.s, &q, &more, &err) == NULL && err.code == FT_ENOTFOUND &&
          strcmp(err.param, "after") == 0);
    q.after = "mdl_1"; /* a cursor from another list */
    CHECK(ft_store_dataset_list(fx.s, &q, &more, &err) == NULL && err.code == FT_ENOTFOUND);
    q.after = NULL;
    q.status = "queued";
    CHECK(ft_store_dataset_list(fx.s, &q, &more, &err) == NULL && err.code == FT_EINVAL &&
          strcmp(err.param, "status") == 0);

    /* The cursor item is excluded; an emptied page has has_more false. */
    q = (ft_list_query){.limit = 5, .after = "ds_1"};
    json_t *page = ft_store_dataset_list(fx.s, &q, &more, &err);
    CHECK(page && json_array_size(page) == 0 && !more);
    json_decref(page);
    fx_done(&fx);
}

static void test_jobs_list_status_filter(void)
{
    fixture fx;
    if (fx_init(&fx, true) != 0)
        return;
    /* job_1..job_6 submitted in order; job_1 and job_2 get claimed, job_1 fails. */
    char id[32];
    for (int i = 1; i <= 6; i++) {
        snprintf(id, sizeof id, "job_%d", i);
        add_job(fx.s, id, 3);
    }
    ft_claim c1, c2;
    CHECK(claim(fx.s, "w", 60, &c1) == 1 && strcmp(c1.id, "job_1") == 0);
    CHECK(claim(fx.s, "w", 60, &c2) == 1 && strcmp(c2.id, "job_2") == 0);
    json_t *e = json_pack("{ss ss}", "message", "boom", "code", "training_error");
    ft_error err = {0};
    CHECK(ft_store_job_fail(fx.s, c1.id, c1.lease, e, &err) == 1);
    json_decref(e);

    const char *all[] = {"job_6", "job_5", "job_4", "job_3", "job_2", "job_1"};
    const char *queued[] = {"job_6", "job_5", "job_4", "job_3"};
    const char *running[] = {"job_2"};
    const char *failed[] = {"job_1"};
    check_pages(fx.s, ft_store_job_list, NULL, all, 6, 4);
    check_pages(fx.s, ft_store_job_list, "queued", queued, 4, 3);
    check_pages(fx.s, ft_store_job_list, "queued", queued, 4, 2);
    check_pages(fx.s, ft_store_job_list, "running", running, 1, 10);
    check_pages(fx.s, ft_store_job_list, "failed", failed, 1, 1);
    check_pages(fx.s, ft_store_job_list, "succeeded", NULL, 0, 10);

    bool more;
    ft_list_query q = {.limit = 10, .status = "done"};
    CHECK(ft_store_job_list(fx.s, &q, &more, &err) == NULL && err.code == FT_EINVAL &&
          strcmp(err.param, "status") == 0);
    /* A cursor whose job has another status still positions the page. */
    q = (ft_list_query){.limit = 10, .status = "queued", .after = "job_5"};
    json_t *page = ft_store_job_list(fx.s, &q, &more, &err);
    CHECK(page && json_array_size(page) == 2 && strcmp(jstr(json_array_get(page, 0), "id"), "job_4") == 0);
    json_decref(page);
    q.after = "job_404";
    CHECK(ft_store_job_list(fx.s, &q, &more, &err) == NULL && err.code == FT_ENOTFOUND);
    ft_claim_free(&c1);
    ft_claim_free(&c2);
    fx_done(&fx);
}

/* ---- the job object ---- */

static void test_job_object_shape(void)
{
    fixture fx;
    if (fx_init(&fx, true) != 0)
        return;
    add_job(fx.s, "job_a", 3);
    ft_error err = {0};
    json_t *j = ft_store_job_get(fx.s, "job_a", &err);
    CHECK(j != NULL);
    if (j) {
        static const char *const keys[] = {"id", "object", "created_at", "started_at", "finished_at", "status",
                                           "name", "spec", "progress", "metrics", "warnings", "error", "attempts",
                                           "max_attempts", "result_model", "cancel_requested", "metadata"};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            CHECKF(json_object_get(j, keys[i]) != NULL, "missing %s", keys[i]);
        CHECK(strcmp(jstr(j, "object"), "job") == 0);
        CHECK(strcmp(jstr(j, "status"), "queued") == 0);
        CHECK(json_is_null(json_object_get(j, "started_at")));
        CHECK(json_is_null(json_object_get(j, "finished_at")));
        CHECK(json_is_null(json_object_get(j, "name")));
        CHECK(json_is_null(json_object_get(j, "progress")));
        CHECK(json_is_null(json_object_get(j, "metrics")));
        CHECK(json_is_null(json_object_get(j, "error")));
        CHECK(json_is_null(json_object_get(j, "result_model")));
        CHECK(json_is_false(json_object_get(j, "cancel_requested")));
        CHECK(jint(j, "attempts") == 0 && jint(j, "max_attempts") == 3);
        CHECK(jint(json_object_get(j, "spec"), "epochs") == 3);
        CHECK(strcmp(json_string_value(json_array_get(json_object_get(j, "warnings"), 0)), "zeros init") == 0);
        CHECK(strcmp(jstr(json_object_get(j, "metadata"), "team"), "a") == 0);
    }
    json_decref(j);

    /* Defaults: no warnings, metadata or max_attempts given. */
    json_t *o = json_pack("{ss ss s{}}", "id", "job_b", "name", "my run", "spec");
    CHECK(ft_store_job_insert(fx.s, o, NULL, NULL, NULL, &err) == 0);
    json_decref(o);
    j = ft_store_job_get(fx.s, "job_b", &err);
    CHECK(j && strcmp(jstr(j, "name"), "my run") == 0 && json_array_size(json_object_get(j, "warnings")) == 0 &&
          json_is_object(json_object_get(j, "metadata")) && jint(j, "max_attempts") == 3);
    json_decref(j);
    o = json_pack("{ss s{} si}", "id", "job_c", "spec", "max_attempts", 0);
    CHECK(ft_store_job_insert(fx.s, o, NULL, NULL, NULL, &err) == -1 && strcmp(err.param, "max_attempts") == 0);
    json_decref(o);
    o = json_pack("{ss ss}", "id", "job_c", "spec", "x");
    CHECK(ft_store_job_insert(fx.s, o, NULL, NULL, NULL, &err) == -1 && strcmp(err.param, "spec") == 0);
    json_decref(o);
    o = json_pack("{ss s{}}", "id", "job_a", "spec");
    CHECK(ft_store_job_insert(fx.s, o, NULL, NULL, NULL, &err) == -1 && err.code == FT_EINVAL);
    json_decref(o);

    /* Running: started_at, progress, latest metrics. */
    ft_claim c;
    CHECK(claim(fx.s, "w1", 60, &c) == 1 && strcmp(c.id, "job_a") == 0 && c.attempts == 1);
    CHECK(c.spec && jint(c.spec, "epochs") == 3);
    CHECK(strlen(c.lease) == 32);
    json_t *prog = json_pack("{si si si sf sf}", "epoch", 1, "epochs", 3, "step", 10, "samples_per_second", 1e3,
                             "eta_seconds", 4.5);
    json_t *met = json_pack("{sf}", "loss", 0.5);
    CHECK(ft_store_job_progress(fx.s, c.id, c.lease, prog, met, &err) == 1);
    json_decref(met);
    met = json_pack("{sf}", "loss", 0.25);
    CHECK(ft_store_job_progress(fx.s, c.id, c.lease, NULL, met, &err) == 1); /* progress kept */
    json_decref(met);
    j = ft_store_job_get(fx.s, "job_a", &err);
    CHECK(j && strcmp(jstr(j, "status"), "running") == 0 && jint(j, "started_at") > 0 && jint(j, "attempts") == 1);
    CHECK(j && json_equal(json_object_get(j, "progress"), prog));
    CHECK(j && json_real_value(json_object_get(json_object_get(j, "metrics"), "loss")) == 0.25);
    json_decref(j);
    json_decref(prog);

    /* Succeeded: result keys merged at the top level, result_model set. */
    json_t *model = json_pack("{ss ss ss sI}", "id", "mdl_out", "job", "job_a", "dataset", "ds_a", "bytes",
                              (json_int_t)99);
    json_t *result = json_pack("{s{sf} sf ss}", "test_metrics", "accuracy", 0.9, "train_seconds", 1.5, "status",
                               "ignored");
    CHECK(ft_store_job_succeed(fx.s, c.id, c.lease, model, result, &err) == 1);
    j = ft_store_job_get(fx.s, "job_a", &err);
    CHECK(j && strcmp(jstr(j, "status"), "succeeded") == 0 && jint(j, "finished_at") > 0);
    CHECK(j && strcmp(jstr(j, "result_model"), "mdl_out") == 0);
    CHECK(j && json_real_value(json_object_get(j, "train_seconds")) == 1.5);
    CHECK(j && json_real_value(json_object_get(json_object_get(j, "test_metrics"), "accuracy")) == 0.9);
    json_decref(j);
    json_t *m = ft_store_model_get(fx.s, "mdl_out", &err);
    CHECK(m && strcmp(jstr(m, "object"), "model") == 0 && strcmp(jstr(m, "job"), "job_a") == 0);
    json_decref(m);
    json_decref(model);
    json_decref(result);
    ft_claim_free(&c);
    CHECK(ft_store_job_get(fx.s, "job_zzz", &err) == NULL && err.code == FT_ENOTFOUND);
    fx_done(&fx);
}

/* ---- idempotency ---- */

typedef struct {
    ft_store *s;
    int index;
    int rc;
    char got[64];  /* the job id inserted or replayed */
} idem_arg;

static void *idem_thread(void *p)
{
    idem_arg *a = p;
    char id[32];
    snprintf(id, sizeof id, "job_t%d", a->index);
    json_t *o = json_pack("{ss s{ss}}", "id", id, "spec", "dataset", "ds_a");
    json_t *existing = NULL;
    ft_error err = {0};
    a->rc = ft_store_job_insert(a->s, o, "key-race", "hash-1", &existing, &err);
    snprintf(a->got, sizeof a->got, "%s", existing ? jstr(existing, "id") : id);
    json_decref(existing);
    json_decref(o);
    return NULL;
}

static int count_jobs(ft_store *s)
{
    ft_list_query q = {.limit = 100};
    bool more;
    ft_error err = {0};
    json_t *l = ft_store_job_list(s, &q, &more, &err);
    int n = l ? (int)json_array_size(l) : -1;
    json_decref(l);
    return n;
}

static void test_idempotency(void)
{
    fixture fx;
    if (fx_init(&fx, true) != 0)
        return;
    ft_error err = {0};
    json_t *o = json_pack("{ss s{ss}}", "id", "job_1", "spec", "dataset", "ds_a");
    json_t *existing = NULL;
    CHECK(ft_store_job_insert(fx.s, o, "key-1", "hash-1", &existing, &err) == 0 && existing == NULL);
    json_decref(o);

    /* Replay: the original job, nothing inserted. */
    o = json_pack("{ss s{ss}}", "id", "job_2", "spec", "dataset", "ds_a");
    CHECK(ft_store_job_insert(fx.s, o, "key-1", "hash-1", &existing, &err) == 0);
    CHECK(existing && strcmp(jstr(existing, "id"), "job_1") == 0 && strcmp(jstr(existing, "object"), "job") == 0);
    json_decref(existing);
    existing = NULL;
    CHECK(count_jobs(fx.s) == 1);

    /* Same key, another request: a conflict. */
    CHECK(ft_store_job_insert(fx.s, o, "key-1", "hash-2", &existing, &err) == -1);
    CHECK(err.code == FT_EINVAL && strcmp(err.param, "Idempotency-Key") == 0 && existing == NULL);
    CHECK(count_jobs(fx.s) == 1);
    /* Another key: a new job. */
    CHECK(ft_store_job_insert(fx.s, o, "key-2", "hash-2", &existing, &err) == 0 && existing == NULL);
    CHECK(count_jobs(fx.s) == 2);
    json_decref(o);

    /* Eight concurrent submits with one key: exactly one job. */
    enum { N = 8 };
    pthread_t t[N];
    idem_arg a[N];
    for (int i = 0; i < N; i++) {
        a[i] = (idem_arg){.s = fx.s, .index = i};
        pthread_create(&t[i], NULL, idem_thread, &a[i]);
    }
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < N; i++)
        CHECKF(a[i].rc == 0 && strcmp(a[i].got, a[0].got) == 0, "thread %d: rc %d got %s", i, a[i].rc, a[i].got);
    CHECK(count_jobs(fx.s) == 3);
    fx_done(&fx);
}

/* ---- claim ---- */

static void test_claim_order(void)
{
    fixture fx;
    if (fx_init(&fx, true) != 0)
        return;
    ft_claim c;
    CHECK(claim(fx.s, "w", 60, &c) == 0 && c.spec == NULL && c.id[0] == 0);
    add_job(fx.s, "job_1", 3);
    add_job(fx.s, "job_2", 3);
    add_job(fx.s, "job_3", 3);
    const char *expect[] = {"job_1", "job_2", "job_3"};
    char leases[3][64];
    for (int i = 0; i < 3; i++) {
        CHECK(claim(fx.s, "w", 60, &c) == 1 && strcmp(c.id, expect[i]) == 0);
        snprintf(leases[i], sizeof leases[i], "%s", c.lease);
        ft_claim_free(&c);
    }
    CHECK(strcmp(leases[0], leases[1]) != 0 && strcmp(leases[1], leases[2]) != 0);
    CHECK(claim(fx.s, "w", 60, &c) == 0);
    ft_error err = {0};
    CHECK(ft_store_job_claim(fx.s, "w", 0, &c, &err) == -1 && err.code == FT_EINVAL);
    fx_done(&fx);
}

enum { CLAIM_THREADS = 4, CLAIM_JOBS = 200 };

typedef struct {
    ft_store *s;
    int n;
    char ids[CLAIM_JOBS][64];
} claimer;

static void *claim_thread(void *p)
{
    claimer *cl = p;
    ft_claim c;
    ft_error err = {0};
    while (ft_store_job_claim(cl->s, "w", 60, &c, &err) == 1) {
        if (cl->n < CLAIM_JOBS)
            snprintf(cl->ids[cl->n], sizeof cl->ids[0], "%s", c.id);
        cl->n++;
        /* Finish half of them, so claims race with fenced writes too. */
        if (cl->n % 2)
            ft_store_job_cancelled(cl->s, c.id, c.lease, &err);
        ft_claim_free(&c);
    }
    return NULL;
}

static int by_string(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_claim_concurrent_exactly_once(void)
{
    fixture fx;
    if (fx_init(&fx, true) != 0)
        return;
    char id[32];
    for (int i = 0; i < CLAIM_JOBS; i++) {
        snprintf(id, sizeof id, "job_%04d", i);
        add_job(fx.s, id, 3);
    }
    static claimer cl[CLAIM_THREADS];
    pthread_t t[CLAIM_THREADS];
    for (int i = 0; i < CLAIM_THREADS; i++) {
        cl[i].s = fx.s;
        cl[i].n = 0;
        pthread_create(&t[i], NULL, claim_thread, &cl[i]);
    }
    static char all[CLAIM_JOBS * CLAIM_THREADS][64];
    int total = 0;
    for (int i = 0; i < CLAIM_THREADS; i++) {
        pthread_join(t[i], NULL);
        for (int k = 0; k < cl[i].n && k < CLAIM_JOBS; k++)
            memcpy(all[total++], cl[i].ids[k], sizeof all[0]);
    }
    CHECKF(total == CLAIM_JOBS, "claimed %d of %d", total, CLAIM_JOBS);
    qsort(all, (size_t)total, sizeof all[0], by_string);
    int dups = 0;
    for (int i = 1; i < total; i++)
        dups += strcmp(all[i], all[i - 1]) == 0;
    CHECKF(dups == 0, "%d jobs claimed twice", dups);
    ft_error err = {0};
    json_t *stats = ft_store_stats(fx.s, &err);
    json_t *jobs = json_object_get(stats, "jobs");
    CHECK(jint(jobs, "queued") == 0);
    CHECK(jint(jobs, "running") + jint(jobs, "cancelled") == CLAIM_JOBS);
    json_decref(stats);
    fx_done(&fx);
}

/* ---- leases and fencing ---- */

static void test_lease_expiry_and_fencing(void)
{
    fixture fx;
    if (fx_init(&fx, true) != 0)
        return;
    add_job(fx.s, "job_1", 3);
    ft_claim old, cur;
    ft_error err = {0};
    CHECK(claim(fx.s, "w1", 1, &old) == 1 && old.attempts == 1);
    CHECK(claim(fx.s, "w2", 1, &cur) == 0); /* held */
    sleep_ms(1100);
    /* Worker w1 is presumed dead: w2 gets the job, attempt 2, a new lease. */
    CHECK(claim(fx.s, "w2", 60, &cur) == 1 && strcmp(cur.id, "job_1") == 0 && cur.attempts == 2);
    CHECK(strcmp(cur.lease, old.lease) != 0);

    /* The old lease can no longer do anything. */
    json_t *prog = json_pack("{si}", "epoch", 9);
    json_t *model = json_pack("{ss}", "id", "mdl_old");
    json_t *e = json_pack("{ss}", "message", "stale");
    CHECK(ft_store_job_heartbeat(fx.s, old.id, old.lease, 60, &err) == 0);
    CHECK(ft_store_job_progress(fx.s, old.id, old.lease, prog, NULL, &err) == 0);
    CHECK(ft_store_job_succeed(fx.s, old.id, old.lease, model, NULL, &err) == 0);
    CHECK(ft_store_job_fail(fx.s, old.id, old.lease, e, &err) == 0);
    CHECK(ft_store_job_cancelled(fx.s, old.id, old.lease, &err) == 0);
    CHECK(ft_store_job_requeue(fx.s, old.id, old.lease, &err) == 0);
    /* ...and its succeed left no model row behind. */
    CHECK(ft_store_model_get(fx.s, "mdl_old", &err) == NULL && err.code == FT_ENOTFOUND);
    json_t *j = ft_store_job_get(fx.s, "job_1", &err);
    CHECK(j && strcmp(jstr(j, "status"), "running") == 0 && json_is_null(json_object_get(j, "progress")));
    json_decref(j);

    /* The current holder finishes it. */
    CHECK(ft_store_job_heartbeat(fx.s, cur.id, cur.lease, 60, &err) == 1);
    json_decref(model);
    model = json_pack("{ss}", "id", "mdl_new");
    CHECK(ft_store_job_succeed(fx.s, cur.id, cur.lease, model, NULL, &err) == 1);
    CHECK((j = ft_store_model_get(fx.s, "mdl_new", &err)) != NULL);
    json_decref(j);
    /* After the end, even the last lease is fenced off. */
    CHECK(ft_store_job_progress(fx.s, cur.id, cur.lease, prog, NULL, &err) == 0);
    CHECK(ft_store_job_heartbeat(fx.s, cur.id, cur.lease, 60, &err) == 0);
    CHECK(ft_store_job_fail(fx.s, cur.id, cur.lease, e, &err) == 0);
    char st[16];
    CHECK(strcmp(job_status(fx.s, "job_1", st, sizeof st), "succeeded") == 0);
    json_decref(prog);
    json_decref(model);
    json_decref(e);
    ft_claim_free(&old);
    ft_claim_free(&cur);
    fx_done(&fx);
}

static int count_action(void *ctx, ft_error *err)
{
    (void)err;
    ++*(int *)ctx;
    return 0;
}

static int failing_action(void *ctx, ft_error *err)
{
    (void)ctx;
    return ft_fail(err, FT_EIO, NULL, "cannot rename the checkpoint");
}

/* A worker that stalled past its lease (attempt 1) while attempt 2 took the
 * job over: attempt 1's metric rows, events and checkpoint actions are
 * refused and leave nothing behind; attempt 2's go through; unfenced
 * (NULL-lease) writes still work. */
static void test_stale_attempt_writes_refused(void)
{
    fixture fx;
    if (fx_init(&fx, true) != 0)
        return;
    add_job(fx.s, "job_1", 3);
    ft_claim old, cur;
    ft_error err = {0};
    CHECK(claim(fx.s, "w1", 1, &old) == 1);
    sleep_ms(1100);
    CHECK(claim(fx.s, "w2", 60, &cur) == 1 && cur.attempts == 2);
    json_t *row = json_pack("{sf}", "train_loss", 0.5);
    CHECK(ft_store_job_metric_put(fx.s, old.id, old.lease, 1, row, &err) == 0);
    CHECK(ft_store_job_event(fx.s, old.id, old.lease, "info", "stale", NULL, &err) == 0);
    int ran = 0;
    CHECK(ft_store_job_fenced(fx.s, old.id, old.lease, count_action, &ran, &err) == 0 && ran == 0);
    json_t *rows = ft_store_job_metrics(fx.s, "job_1", &err);
    json_t *ev = ft_store_job_events(fx.s, "job_1", 0, 100, &err);
    CHECK(rows && json_array_size(rows) == 0 && ev && json_array_size(ev) == 0);
    json_decref(rows);
    json_decref(ev);

    CHECK(ft_store_job_metric_put(fx.s, cur.id, cur.lease, 1, row, &err) == 1);
    CHECK(ft_store_job_event(fx.s, cur.id, cur.lease, "info", "current", NULL, &err) == 1);
    CHECK(ft_store_job_fenced(fx.s, cur.id, cur.lease, count_action, &ran, &err) == 1 && ran == 1);
    /* A failing action is reported as an error, with its message. */
    CHECK(ft_store_job_fenced(fx.s, cur.id, cur.lease, failing_action, NULL, &err) == -1 &&
          strstr(err.msg, "cannot rename") != NULL);
    CHECK(ft_store_job_event(fx.s, cur.id, NULL, "info", "operator", NULL, &err) == 1);
    ev = ft_store_job_events(fx.s, "job_1", 0, 100, &err);
    CHECK(ev && json_array_size(ev) == 2);
    json_decref(ev);

    /* Once the job is over, its last lease is fenced off too. */
    CHECK(ft_store_job_fail(fx.s, cur.id, cur.lease, NULL, &err) == 1);
    CHECK(ft_store_job_metric_put(fx.s, cur.id, cur.lease, 2, row, &err) == 0);
    CHECK(ft_store_job_event(fx.s, cur.id, cur.lease, "info", "late", NULL, &err) == 0);
    CHECK(ft_store_job_fenced(fx.s, cur.id, cur.lease, count_action, &ran, &err) == 0 && ran == 1);
    json_decref(row);
    ft_claim_free(&old);
    ft_claim_free(&cur);
    fx_done(&fx);
}

static void test_heartbeat_keeps_lease(void)
{
    fixture fx;
    if (fx_init(&fx, true) != 0)
        return;
    add_job(fx.s, "job_1", 3);
    ft_claim c, other;
    ft_error err = {0};
    CHECK(claim(fx.s, "w1", 1, &c) == 1);
    CHECK(ft_store_job_heartbeat(fx.s, c.id, c.lease, 30, &err) == 1);
    CHECK(ft_store_job_heartbeat(fx.s, c.id, "not-the-lease", 30, &err) == 0);
    CHECK(ft_store_job_heartbeat(fx.s, "job_404", c.lease, 30, &err) == 0);
    sleep_ms(1100);
    CHECK(claim(fx.s, "w2", 1, &other) == 0); /* extended: still held */
    CHECK(ft_store_job_heartbeat(fx.s, c.id, c.lease, 0, &err) == -1 && err.code == FT_EINVAL);
    ft_claim_free(&c);
    fx_done(&fx);
}

static void test_max_attempts(void)
{
    fixture fx;
    if (fx_init(&fx, true) != 0)
        return;
    add_job(fx.s, "job_1", 2);
    add_job(fx.s, "job_2", 5);
    ft_claim c;
    ft_error err = {0};
    CHECK(claim(fx.s, "w", 1, &c) == 1 && strcmp(c.id, "job_1") == 0 && c.attempts == 1);
    ft_claim_free(&c);
    sleep_ms(1100);
    CHECK(claim(fx.s, "w", 1, &c) == 1 && strcmp(c.id, "job_1") == 0 && c.attempts == 2);
    ft_claim_free(&c);
    sleep_ms(1100);
    /* job_1's worker died twice: it fails, and the claim moves on to job_2. */
    CHECK(claim(fx.s, "w", 60, &c) == 1 && strcmp(c.id, "job_2") == 0);
    CHECK(json_array_size(c.settled) == 1 && strcmp(json_string_value(json_array_get(c.settled, 0)), "job_1") == 0);
    ft_claim_free(&c);
    json_t *j = ft_store_job_get(fx.s, "job_1", &err);
    json_t *e = json_object_get(j, "error");
    CHECK(j && strcmp(jstr(j, "status"), "failed") == 0 && jint(j, "finished_at") > 0);
    CHECK(e && strcmp(jstr(e, "code"), "max_attempts_exceeded") == 0);
    CHECKF(e && strstr(jstr(e, "message"), "died 2 times; giving up after max_attempts") != NULL, "%s",
           jstr(e, "message"));
    json_decref(j);
    json_t *ev = ft_store_job_events(fx.s, "job_1", 0, 10, &err);
    CHECK(ev && json_array_size(ev) == 1 && strcmp(jstr(json_array_get(ev, 0), "level"), "error") == 0);
    json_decref(ev);
    CHECK(claim(fx.s, "w", 60, &c) == 0);
    fx_done(&fx);
}

static void test_requeue(void)
{
    fixture fx;
    if (fx_init(&fx, true) != 0)
        return;
    add_job(fx.s, "job_1", 1);
    ft_claim c;
    ft_error err = {0};
    CHECK(claim(fx.s, "w", 60, &c) == 1 && c.attempts == 1);
    CHECK(ft_store_job_requeue(fx.s, c.id, c.lease, &err) == 1);
    json_t *j = ft_store_job_get(fx.s, "job_1", &err);
    CHECK(j && strcmp(jstr(j, "status"), "queued") == 0 && jint(j, "attempts") == 0);
    json_decref(j);
    CHECK(ft_store_job_heartbeat(fx.s, c.id, c.lease, 60, &err) == 0); /* lease cleared */
    ft_claim_free(&c);
    /* A graceful requeue is not a failed attempt: max_attempts 1 still runs. */
    CHECK(claim(fx.s, "w", 60, &c) == 1 && c.attempts == 1);
    /* A job whose cancel was requested is cancelled rather than requeued. */
    json_t *obj = NULL;
    CHECK(ft_store_job_cancel(fx.s, c.id, &obj, &err) == 0);
    json_decref(obj);
    CHECK(ft_store_job_requeue(fx.s, c.id, c.lease, &err) == 1);
    char st[16];
    CHECK(strcmp(job_status(fx.s, "job_1", st, sizeof st), "cancelled") == 0);
    ft_claim_free(&c);
    fx_done(&fx);
}

static void test_succeed_is_atomic(void)
{
    fixture fx;
    if (fx_init(&fx, true) != 0)
        return;
    add_job(fx.s, "job_1", 3);
    add_model(fx.s, "mdl_taken", 1);
    ft_claim c;
    ft_error err = {0};
    CHECK(claim(fx.s, "w", 60, &c) == 1);
    /* The model insert fails (id taken): the job must not be succeeded. */
    json_t *model = json_pack("{ss}", "id", "mdl_taken");
    json_t *result = json_pack("{sf}", "train_seconds", 1.0);
    CHECK(ft_store_job_succeed(fx.s, c.id, c.lease, model, result, &err) == -1);
    json_t *j = ft_store_job_get(fx.s, "job_1", &err);
    CHECK(j && strcmp(jstr(j, "status"), "running") == 0 && json_is_null(json_object_get(j, "result_model")) &&
          json_object_get(j, "train_seconds") == NULL);
    json_decref(j);
    json_decref(model);
    model = json_pack("{ss}", "id", "mdl_ok");
    CHECK(ft_store_job_succeed(fx.s, c.id, c.lease, model, result, &err) == 1);
    json_decref(model);
    json_decref(result);
    ft_claim_free(&c);
    fx_done(&fx);
}

/* ---- cancel ---- */

static void test_cancel(void)
{
    fixture fx;
    if (fx_init(&fx, true) != 0)
        return;
    add_job(fx.s, "job_q", 3);
    add_job(fx.s, "job_r", 3);
    ft_error err = {0};
    json_t *obj = NULL;

    /* Queued: cancelled at once and never claimed. */
    CHECK(ft_store_job_cancel(fx.s, "job_q", &obj, &err) == 0);
    CHECK(obj && strcmp(jstr(obj, "status"), "cancelled") == 0 && jint(obj, "finished_at") > 0);
    json_decref(obj);
    ft_claim c;
    CHECK(claim(fx.s, "w", 60, &c) == 1 && strcmp(c.id, "job_r") == 0);

    /* Running: flagged; the worker ends it. */
    CHECK(!ft_store_job_cancel_requested(fx.s, "job_r"));
    CHECK(ft_store_job_cancel(fx.s, "job_r", &obj, &err) == 0);
    CHECK(obj && strcmp(jstr(obj, "status"), "running") == 0 && json_is_true(json_object_get(obj, "cancel_requested")));
    json_decref(obj);
    CHECK(ft_store_job_cancel_requested(fx.s, "job_r"));
    CHECK(ft_store_job_cancel(fx.s, "job_r", NULL, &err) == 0); /* asking twice is fine */
    CHECK(ft_store_job_cancelled(fx.s, c.id, c.lease, &err) == 1);
    char st[16];
    CHECK(strcmp(job_status(fx.s, "job_r", st, sizeof st), "cancelled") == 0);
    CHECK(!ft_store_job_cancel_requested(fx.s, "job_r")); /* no longer running */

    /* Terminal: a conflict on "status". */
    obj = NULL;
    CHECK(ft_store_job_cancel(fx.s, "job_q", &obj, &err) == -1 && obj == NULL);
    CHECK(err.code == FT_EINVAL && strcmp(err.param, "status") == 0);
    CHECKF(strstr(err.msg, "job job_q is already cancelled") != NULL, "%s", err.msg);
    CHECK(ft_store_job_cancel(fx.s, "job_404", &obj, &err) == -1 && err.code == FT_ENOTFOUND);
    CHECK(!ft_store_job_cancel_requested(fx.s, "job_404"));
    ft_claim_free(&c);
    fx_done(&fx);
}

static void test_dead_worker_after_cancel_request(void)
{
    fixture fx;
    if (fx_init(&fx, true) != 0)
        return;
    add_job(fx.s, "job_1", 3);
    ft_claim c;
    ft_error err = {0};
    CHECK(claim(fx.s, "w", 1, &c) == 1);
    ft_claim_free(&c);
    CHECK(ft_store_job_cancel(fx.s, "job_1", NULL, &err) == 0);
    sleep_ms(1100);
    /* Its worker died: the job is cancelled, not run again, and the claim
     * says so (its checkpoint can go). */
    CHECK(claim(fx.s, "w", 60, &c) == 0);
    CHECK(json_array_size(c.settled) == 1 && strcmp(json_string_value(json_array_get(c.settled, 0)), "job_1") == 0);
    ft_claim_free(&c);
    char st[16];
    CHECK(strcmp(job_status(fx.s, "job_1", st, sizeof st), "cancelled") == 0);
    fx_done(&fx);
}

/* ---- events and metrics ---- */

static void test_events(void)
{
    fixture fx;
    if (fx_init(&fx, true) != 0)
        return;
    add_job(fx.s, "job_1", 3);
    add_job(fx.s, "job_2", 3);
    ft_error err = {0};
    for (int i = 1; i <= 5; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "event %d", i);
        json_t *data = i == 3 ? json_pack("{si}", "epoch", 3) : NULL;
        CHECK(ft_store_job_event(fx.s, "job_1", NULL, i == 4 ? "warning" : "info", msg, data, &err) == 1);
        json_decref(data);
    }
    CHECK(ft_store_job_event(fx.s, "job_2", NULL, "error", "other job", NULL, &err) == 1);
    json_t *ev = ft_store_job_events(fx.s, "job_1", 0, 100, &err);
    CHECK(ev && json_array_size(ev) == 5);
    size_t i;
    json_t *e;
    json_array_foreach(ev, i, e) {
        char msg[32];
        snprintf(msg, sizeof msg, "event %zu", i + 1);
        CHECK(jint(e, "seq") == (json_int_t)i + 1 && strcmp(jstr(e, "message"), msg) == 0);
        CHECK(jint(e, "created_at") > 0 && strcmp(jstr(e, "object"), "job.event") == 0);
    }
    CHECK(jint(json_object_get(json_array_get(ev, 2), "data"), "epoch") == 3);
    CHECK(json_is_null(json_object_get(json_array_get(ev, 0), "data")));
    CHECK(strcmp(jstr(json_array_get(ev, 3), "level"), "warning") == 0);
    json_decref(ev);
    ev = ft_store_job_events(fx.s, "job_1", 2, 100, &err);
    CHECK(ev && json_array_size(ev) == 3 && jint(json_array_get(ev, 0), "seq") == 3);
    json_decref(ev);
    ev = ft_store_job_events(fx.s, "job_1", 2, 2, &err);
    CHECK(ev && json_array_size(ev) == 2 && jint(json_array_get(ev, 1), "seq") == 4);
    json_decref(ev);
    ev = ft_store_job_events(fx.s, "job_1", 5, 10, &err);
    CHECK(ev && json_array_size(ev) == 0);
    json_decref(ev);
    ev = ft_store_job_events(fx.s, "job_2", 0, 10, &err);
    CHECK(ev && json_array_size(ev) == 1 && jint(json_array_get(ev, 0), "seq") == 1);
    json_decref(ev);

    CHECK(ft_store_job_event(fx.s, "job_1", NULL, "debug", "x", NULL, &err) == -1 && err.code == FT_EINVAL);
    CHECK(ft_store_job_event(fx.s, "job_404", NULL, "info", "x", NULL, &err) == -1 && err.code == FT_ENOTFOUND);
    CHECK(ft_store_job_events(fx.s, "job_404", 0, 10, &err) == NULL && err.code == FT_ENOTFOUND);
    CHECK(ft_store_job_events(fx.s, "job_1", 0, 0, &err) == NULL && err.code == FT_EINVAL);
    fx_done(&fx);
}

static void test_metrics_upsert(void)
{
    fixture fx;
    if (fx_init(&fx, true) != 0)
        return;
    add_job(fx.s, "job_1", 3);
    ft_error err = {0};
    json_t *r2 = json_pack("{sf sf}", "train_loss", 0.5, "val_loss", 0.6);
    json_t *r1 = json_pack("{sf sf}", "train_loss", 0.9, "val_loss", 1.0);
    json_t *r1b = json_pack("{sf sf}", "train_loss", 0.8, "val_loss", 0.95);
    CHECK(ft_store_job_metric_put(fx.s, "job_1", NULL, 2, r2, &err) == 1);
    CHECK(ft_store_job_metric_put(fx.s, "job_1", NULL, 1, r1, &err) == 1);
    CHECK(ft_store_job_metric_put(fx.s, "job_1", NULL, 1, r1b, &err) == 1); /* a resumed job repeats epoch 1 */
    json_t *rows = ft_store_job_metrics(fx.s, "job_1", &err);
    CHECK(rows && json_array_size(rows) == 2);
    json_t *first = json_array_get(rows, 0);
    CHECK(jint(first, "epoch") == 1 && json_real_value(json_object_get(first, "train_loss")) == 0.8);
    CHECK(jint(json_array_get(rows, 1), "epoch") == 2);
    /* Column order: epoch first, then the row's own order. */
    void *it = json_object_iter(first);
    CHECK(it && strcmp(json_object_iter_key(it), "epoch") == 0);
    it = json_object_iter_next(first, it);
    CHECK(it && strcmp(json_object_iter_key(it), "train_loss") == 0);
    json_decref(rows);
    CHECK(ft_store_job_metric_put(fx.s, "job_404", NULL, 1, r1, &err) == -1 && err.code == FT_ENOTFOUND);
    CHECK(ft_store_job_metrics(fx.s, "job_404", &err) == NULL && err.code == FT_ENOTFOUND);
    add_job(fx.s, "job_2", 3);
    rows = ft_store_job_metrics(fx.s, "job_2", &err);
    CHECK(rows && json_array_size(rows) == 0);
    json_decref(rows);
    json_decref(r1);
    json_decref(r1b);
    json_decref(r2);
    fx_done(&fx);
}

/* ---- delete refusal, stats, probes ---- */

static void test_delete_refused_while_referenced(void)
{
    fixture fx;
    if (fx_init(&fx, true) != 0)
        return;
    const char *ds[] = {"ds_train", "ds_val", "ds_test", "ds_free"};
    for (int i = 0; i < 4; i++)
        add_dataset(fx.s, ds[i], 10);
    add_model(fx.s, "mdl_base", 10);
    add_model(fx.s, "mdl_free", 10);
    add_job_spec(fx.s, "job_1",
                 json_pack("{ss s{ss si} s{ss} ss}", "dataset", "ds_train", "validation", "id", "ds_val", "per_class",
                           10, "test", "id", "ds_test", "base_model", "mdl_base"),
                 3);
    add_job_spec(fx.s, "job_2", json_pack("{s{ss} s{sf}}", "dataset", "id", "ds_free", "validation", "split", 0.1), 3);
    ft_error err = {0};
    json_t *obj = NULL;
    /* job_2 (on ds_free) is cancelled; job_1 stays queued. */
    CHECK(ft_store_job_cancel(fx.s, "job_2", NULL, &err) == 0);
    for (int i = 0; i < 3; i++) {
        CHECK(ft_store_dataset_delete(fx.s, ds[i], &err) == -1 && err.code == FT_EINVAL &&
              strcmp(err.param, "id") == 0);
        CHECKF(strstr(err.msg, "job_1") != NULL, "%s", err.msg);
    }
    CHECK(ft_store_model_delete(fx.s, "mdl_base", &err) == -1 && err.code == FT_EINVAL);
    CHECKF(strstr(err.msg, "job_1") != NULL && strstr(err.msg, "base_model") != NULL, "%s", err.msg);
    CHECK(ft_store_model_delete(fx.s, "mdl_free", &err) == 0);
    CHECK(ft_store_dataset_delete(fx.s, "ds_free", &err) == 0); /* only a cancelled job uses it */

    /* Running jobs hold their references too. */
    ft_claim c;
    CHECK(claim(fx.s, "w", 60, &c) == 1 && strcmp(c.id, "job_1") == 0);
    CHECK(ft_store_dataset_delete(fx.s, "ds_train", &err) == -1 && err.code == FT_EINVAL);
    CHECK(ft_store_job_cancel(fx.s, "job_1", &obj, &err) == 0);
    json_decref(obj);
    CHECK(ft_store_dataset_delete(fx.s, "ds_train", &err) == -1); /* still running until the worker stops */
    CHECK(ft_store_job_cancelled(fx.s, c.id, c.lease, &err) == 1);
    for (int i = 0; i < 3; i++)
        CHECKF(ft_store_dataset_delete(fx.s, ds[i], &err) == 0, "%s: %s", ds[i], err.msg);
    CHECK(ft_store_model_delete(fx.s, "mdl_base", &err) == 0);
    CHECK(ft_store_model_delete(fx.s, "mdl_base", &err) == -1 && err.code == FT_ENOTFOUND);
    ft_claim_free(&c);
    fx_done(&fx);
}

static void test_stats_and_file_ids(void)
{
    fixture fx;
    if (fx_init(&fx, true) != 0)
        return;
    ft_error err = {0};
    json_t *st = ft_store_stats(fx.s, &err);
    CHECK(st && jint(json_object_get(st, "jobs"), "queued") == 0 &&
          jint(json_object_get(st, "datasets"), "count") == 0);
    json_decref(st);
    add_dataset(fx.s, "ds_1", 100);
    add_dataset(fx.s, "ds_2", 250);
    add_model(fx.s, "mdl_1", 7);
    add_job(fx.s, "job_1", 3);
    add_job(fx.s, "job_2", 3);
    add_job(fx.s, "job_3", 3);
    ft_claim c;
    CHECK(claim(fx.s, "w", 60, &c) == 1);
    CHECK(ft_store_job_cancel(fx.s, "job_3", NULL, &err) == 0);
    st = ft_store_stats(fx.s, &err);
    json_t *jobs = json_object_get(st, "jobs");
    CHECK(jint(jobs, "queued") == 1 && jint(jobs, "running") == 1 && jint(jobs, "cancelled") == 1 &&
          jint(jobs, "succeeded") == 0 && jint(jobs, "failed") == 0);
    CHECK(jint(json_object_get(st, "datasets"), "count") == 2 && jint(json_object_get(st, "datasets"), "bytes") == 350);
    CHECK(jint(json_object_get(st, "models"), "count") == 1 && jint(json_object_get(st, "models"), "bytes") == 7);
    json_decref(st);
    json_t *ids = ft_store_all_file_ids(fx.s, &err);
    json_t *d = json_object_get(ids, "datasets"), *m = json_object_get(ids, "models");
    CHECK(json_array_size(d) == 2 && strcmp(json_string_value(json_array_get(d, 0)), "ds_1") == 0);
    CHECK(json_array_size(m) == 1 && strcmp(json_string_value(json_array_get(m, 0)), "mdl_1") == 0);
    json_decref(ids);
    ft_claim_free(&c);
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

static void test_writable_probe(void)
{
    fixture fx;
    if (fx_init(&fx, true) != 0)
        return;
    ft_error err = {0};
    CHECKF(ft_store_writable(fx.s, 0, &err), "%s", err.msg);

    /* A connection that refuses writes (what a read-only database looks
     * like to SQLite): the probe says so. Running as root, permission bits
     * cannot make the file read-only, so query_only stands in. */
    ft_sq_connection *c = ft_sq_conn(fx.s, &err);
    CHECK(c && sqlite3_exec(c->db, "PRAGMA query_only = 1", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(!ft_store_writable(fx.s, 0, &err) && err.code == FT_EIO);
    /* /readyz asks with a max age: the success above is answered from
     * memory (no synced write per call); the failure was not remembered. */
    CHECK(ft_store_writable(fx.s, 60000, &err));
    CHECK(!ft_store_writable(fx.s, 0, &err));
    CHECK(c && sqlite3_exec(c->db, "PRAGMA query_only = 0", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(ft_store_writable(fx.s, 0, &err));

    /* A full disk: the write fails with FT_ENOSPC (max_page_count caps
     * this connection's view of the database at its current size). */
    CHECK(c && sqlite3_exec(c->db, "PRAGMA max_page_count = 1", NULL, NULL, NULL) == SQLITE_OK);
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
    CHECK(ft_store_dataset_insert(fx.s, big, &err) == -1);
    CHECKF(err.code == FT_ENOSPC, "code %d: %s", err.code, err.msg);
    json_decref(big);
    CHECK(ft_store_dataset_get(fx.s, "ds_big", &err) == NULL && err.code == FT_ENOTFOUND);

    /* The database directory is gone: a thread that needs a new connection
     * cannot open one, and the probe says false rather than crashing. */
    rm_tree(fx.dir);
    probe_arg a = {.s = fx.s};
    pthread_t t;
    pthread_create(&t, NULL, probe_thread, &a);
    pthread_join(t, NULL);
    CHECKF(!a.writable && a.err.code == FT_EIO, "writable %d: %s", a.writable, a.err.msg);
    fx_done(&fx);
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

static void test_close_with_idle_threads(void)
{
    fixture fx;
    if (fx_init(&fx, true) != 0)
        return;
    add_dataset(fx.s, "ds_1", 1);
    idle_arg a = {.s = fx.s, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    pthread_t t;
    pthread_create(&t, NULL, idle_thread, &a);
    pthread_mutex_lock(&a.mu);
    while (a.stage != 1)
        pthread_cond_wait(&a.cv, &a.mu);
    pthread_mutex_unlock(&a.mu);
    ft_store_close(fx.s); /* closes both connections */
    fx.s = NULL;
    pthread_mutex_lock(&a.mu);
    a.stage = 2;
    pthread_cond_broadcast(&a.cv);
    pthread_mutex_unlock(&a.mu);
    pthread_join(t, NULL);
    /* The file is intact for the next open. */
    ft_error err = {0};
    fx.s = ft_store_open(fx.db, "migrations", &err);
    json_t *d = fx.s ? ft_store_dataset_get(fx.s, "ds_1", &err) : NULL;
    CHECK(d != NULL);
    json_decref(d);
    fx_done(&fx);
}

int main(void)
{
    RUN(test_migrations_fresh_and_reopen);
    RUN(test_migrations_refuse_newer_database);
    RUN(test_migrations_custom_dir);
    RUN(test_dataset_insert_get);
    RUN(test_lists_pagination);
    RUN(test_jobs_list_status_filter);
    RUN(test_job_object_shape);
    RUN(test_idempotency);
    RUN(test_claim_order);
    RUN(test_claim_concurrent_exactly_once);
    RUN(test_lease_expiry_and_fencing);
    RUN(test_stale_attempt_writes_refused);
    RUN(test_heartbeat_keeps_lease);
    RUN(test_max_attempts);
    RUN(test_requeue);
    RUN(test_succeed_is_atomic);
    RUN(test_cancel);
    RUN(test_dead_worker_after_cancel_request);
    RUN(test_events);
    RUN(test_metrics_upsert);
    RUN(test_delete_refused_while_referenced);
    RUN(test_stats_and_file_ids);
    RUN(test_writable_probe);
    RUN(test_close_with_idle_threads);
    return TEST_SUMMARY();
}
