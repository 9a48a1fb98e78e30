/* Sweeps: a grid of job specs over seeds, inserted with all of its jobs in
 * one transaction. A sweep row is written twice at most after its insert
 * (cancelled_at, completed_at); its status and progress are counted from its
 * jobs (jobs.sweep_id), so the queue's transitions never touch it.
 */
#include "server/store/store_db.h"

#include <stdio.h>
#include <string.h>

/* Columns: id, created_at, obj, completed_at, cancelled_at, then the jobs
 * in all and the ended ones. */
#define SWEEP_COLUMNS                                                                                      \
    "id, created_at, obj, completed_at, cancelled_at, "                                                    \
    "(SELECT COUNT(*) FROM jobs j WHERE j.sweep_id = sweeps.id), "                                         \
    "(SELECT COUNT(*) FROM jobs j WHERE j.sweep_id = sweeps.id AND j.status NOT IN ('queued', 'running'))"

static json_t *sweep_row(ft_db_rows *r, ft_error *err)
{
    json_t *stored = ft_db_col_json(r, 2, err);
    if (!stored)
        return NULL;
    int64_t total = ft_db_int(r, 5), done = ft_db_int(r, 6);
    bool cancelled = !r->drv->is_null(r, 4);
    json_t *o = json_pack("{s:o, s:s, s:I, s:s, s:{s:I, s:I}, s:o, s:o}", "id", ft_db_col_text_or_null(r, 0),
                          "object", "sweep", "created_at", (json_int_t)ft_db_int(r, 1), "status",
                          done < total ? "running" : cancelled ? "cancelled" : "completed", "progress", "total",
                          (json_int_t)total, "done", (json_int_t)done, "completed_at", ft_db_col_int_or_null(r, 3),
                          "cancelled_at", ft_db_col_int_or_null(r, 4));
    if (!o || !json_is_object(stored) || json_object_update_missing(o, stored) != 0) {
        json_decref(o);
        o = NULL;
        ft_fail(err, FT_EIO, NULL, "cannot build the sweep object (corrupt row or out of memory)");
    }
    json_decref(stored);
    return o;
}

const ft_db_kind ft_db_sweeps = {"sweeps", "sweep", SWEEP_COLUMNS, sweep_row, false};

/* A sweep and its jobs, for insert_body. */
typedef struct {
    const json_t *sweep, *jobs;
    const char *key, *hash; /* the Idempotency-Key (or NULL) and the request's hash */
    json_t **existing;      /* the sweep made earlier with key */
} new_sweep;

static int insert_body(ft_db_conn *c, void *ctx, ft_error *err)
{
    const new_sweep *n = ctx;
    if (n->existing) { /* set anew by each run of the transaction */
        json_decref(*n->existing);
        *n->existing = NULL;
    }
    int rc = n->key ? ft_db_replay(c, &ft_db_sweeps, n->key, n->hash, n->existing, err) : 0;
    if (rc != 0)
        return rc; /* replayed, with nothing written, or refused */
    const char *id = json_string_value(json_object_get(n->sweep, "id"));
    rc = ft_db_write(c,
                     "INSERT INTO sweeps (id, created_at, obj, idempotency_key, request_hash) VALUES (?1, ?2, ?3, ?4, "
                     "?5) ON CONFLICT (id) DO NOTHING",
                     err, "tIjtt", id, ft_db_now(), n->sweep, n->key, n->key ? n->hash : NULL);
    if (rc == 0)
        rc = ft_fail(err, FT_EINVAL, "id", "sweep %s already exists", id);
    size_t i;
    json_t *job;
    json_array_foreach(n->jobs, i, job) {
        if (rc != 1)
            break;
        json_t *row = json_copy((json_t *)job);
        rc = row && json_object_set_new(row, "sweep_id", json_string(id)) == 0
                 ? ft_db_job_insert(c, row, NULL, NULL, NULL, err)
                 : ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        json_decref(row);
    }
    return rc;
}

/* After a lost COMMIT: a replay wrote nothing; otherwise a sweep with the
 * new id is this insert's, with all of its jobs (sweep ids are made fresh
 * for each request, and a taken one fails the insert before its commit). */
static int inserted(ft_db_conn *c, void *ctx, ft_error *err)
{
    const new_sweep *n = ctx;
    if (n->existing && *n->existing)
        return 1;
    return ft_db_has(c, &ft_db_sweeps, json_string_value(json_object_get(n->sweep, "id")), err);
}

int ft_store_sweep_insert(ft_store *s, const json_t *sweep, const json_t *jobs, const char *idempotency_key,
                          const char *request_hash, json_t **existing, ft_error *err)
{
    if (existing)
        *existing = NULL;
    if (!json_is_string(json_object_get(sweep, "id")))
        return ft_fail(err, FT_EINVAL, "id", "a sweep needs a string id");
    if (!json_is_array(jobs) || json_array_size(jobs) == 0)
        return ft_fail(err, FT_EINVAL, "jobs", "a sweep needs at least one job");
    new_sweep n = {sweep, jobs, idempotency_key, request_hash, existing};
    if (ft_db_transact_checked(s, insert_body, inserted, &n, err) >= 0)
        return 0;
    if (existing) {
        json_decref(*existing);
        *existing = NULL;
    }
    return -1;
}

json_t *ft_store_sweep_get(ft_store *s, const char *id, ft_error *err)
{
    return ft_db_fetch(s, &ft_db_sweeps, id, err);
}

json_t *ft_store_sweep_list(ft_store *s, const ft_list_query *q, bool *has_more, ft_error *err)
{
    return ft_db_list(s, &ft_db_sweeps, q, has_more, err);
}

static json_t *jobs_on(ft_db_conn *c, const char *id, ft_error *err)
{
    int64_t one;
    int rc = ft_db_scalar(c, "SELECT 1 FROM sweeps WHERE id = ?1", &one, err, "t", id);
    if (rc == 0)
        ft_fail(err, FT_ENOTFOUND, "id", "no such sweep: %s", id);
    if (rc != 1)
        return NULL;
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT %s FROM jobs WHERE sweep_id = ?1 ORDER BY seq", ft_db_jobs.columns);
    ft_db_rows *r = ft_db_query(c, sql, err, "t", id);
    json_t *list = r ? json_array() : NULL;
    rc = list ? 0 : -1;
    while (rc == 0 && (rc = ft_db_next(r, err)) == 1) {
        json_t *job = ft_db_jobs.row(r, err);
        rc = job && json_array_append_new(list, job) == 0 ? 0 : -1;
    }
    ft_db_done(r);
    if (rc != 0) {
        json_decref(list);
        return NULL;
    }
    return list;
}

json_t *ft_store_sweep_jobs(ft_store *s, const char *id, ft_error *err)
{
    ft_db_conn *c = ft_db_acquire(s, err);
    json_t *list = c ? jobs_on(c, id, err) : NULL;
    ft_db_release(c);
    return list;
}

int ft_store_sweep_cancel(ft_store *s, const char *id, ft_error *err)
{
    int n = ft_db_write_tx(s, "UPDATE sweeps SET cancelled_at = COALESCE(cancelled_at, ?2) WHERE id = ?1", err, "tI",
                           id, ft_db_now());
    if (n == 0)
        return ft_fail(err, FT_ENOTFOUND, "id", "no such sweep: %s", id);
    return n < 0 ? -1 : 0;
}

/* The job's sweep and settle, for settle_body. */
typedef struct {
    const char *job_id;
    char *sweep_id;
} settle;

/* The sweep.completed event's data: the sweep's id, name and metric,
 * whether it was cancelled, and how many of its jobs ended each way (the
 * leaderboard itself is one GET away). */
static json_t *completed_event(ft_db_conn *c, const char *id, ft_error *err)
{
    ft_db_rows *r = ft_db_query(c, "SELECT obj, cancelled_at IS NOT NULL FROM sweeps WHERE id = ?1", err, "t", id);
    int rc = r ? ft_db_next(r, err) : -1;
    json_t *obj = rc == 1 ? ft_db_col_json(r, 0, err) : NULL;
    json_t *data = obj ? json_pack("{s:s, s:O, s:O, s:b, s:{s:i, s:i, s:i}}", "id", id, "name",
                                   json_object_get(obj, "name"), "metric", json_object_get(obj, "metric"),
                                   "cancelled", ft_db_int(r, 1) != 0, "jobs", "succeeded", 0, "failed", 0,
                                   "cancelled", 0)
                       : NULL;
    ft_db_done(r);
    json_decref(obj);
    if (!data) {
        if (rc == 0)
            ft_fail(err, FT_EIO, NULL, "sweep %s vanished while completing", id);
        else if (obj)
            ft_fail(err, FT_EIO, NULL, "cannot build the sweep.completed event of %s", id);
        return NULL;
    }
    r = ft_db_query(c, "SELECT status, COUNT(*) FROM jobs WHERE sweep_id = ?1 GROUP BY status", err, "t", id);
    json_t *jobs = json_object_get(data, "jobs");
    while (r && (rc = ft_db_next(r, err)) == 1)
        json_object_set_new(jobs, ft_db_text(r, 0), json_integer(ft_db_int(r, 1)));
    ft_db_done(r);
    if (!r || rc < 0) {
        json_decref(data);
        return NULL;
    }
    return data;
}

static int settle_body(ft_db_conn *c, void *ctx, ft_error *err)
{
    settle *o = ctx;
    o->sweep_id[0] = '\0';
    ft_db_rows *r = ft_db_query(c, "SELECT sweep_id FROM jobs WHERE id = ?1 AND sweep_id IS NOT NULL", err, "t",
                                o->job_id);
    int rc = r ? ft_db_next(r, err) : -1;
    if (rc == 1)
        snprintf(o->sweep_id, 64, "%s", ft_db_text(r, 0));
    ft_db_done(r);
    if (rc != 1)
        return rc;
    /* Exactly once: a concurrent settle waits for this row's lock and then
     * finds completed_at set (SQLite: the write lock serializes them). */
    rc = ft_db_write(c,
                     "UPDATE sweeps SET completed_at = ?2 WHERE id = ?1 AND completed_at IS NULL AND NOT EXISTS "
                     "(SELECT 1 FROM jobs WHERE sweep_id = ?1 AND status IN ('queued', 'running'))",
                     err, "tI", o->sweep_id, ft_db_now());
    if (rc != 1)
        return rc;
    /* Complete from this transaction on: its sweep.completed event commits
     * with it, so a crash can neither lose nor double it. */
    json_t *data = completed_event(c, o->sweep_id, err);
    rc = data ? ft_db_webhook_enqueue(c, "sweep.completed", data, NULL, err) : -1;
    json_decref(data);
    return rc == 0 ? 1 : -1;
}

int ft_store_sweep_settle(ft_store *s, const char *job_id, char sweep_id[64], ft_error *err)
{
    settle o = {job_id, sweep_id};
    int rc = ft_db_transact(s, settle_body, &o, err);
    if (rc != 1)
        sweep_id[0] = '\0';
    return rc;
}
