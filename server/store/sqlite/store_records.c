/* Resource kinds: what datasets, models and jobs share (get, paged lists),
 * and datasets and models themselves, which are immutable records: the API
 * object given at insert, stored as JSON, plus the fields the store owns
 * (object, created_at, status). Also the figures for /metrics and the ids
 * for the start-up orphan sweep.
 */
#include "server/store/sqlite/store_sqlite_internal.h"

#include <stdio.h>
#include <string.h>

#define FT_LIST_MAX 100

static const char *const job_statuses[] = {"queued", "running", "succeeded", "failed", "cancelled"};
#define FT_NSTATUS (sizeof job_statuses / sizeof job_statuses[0])

/* Columns: id, created_at, obj. The store's fields come first and win over
 * same-named keys of the stored object. */
static json_t *record_row(sqlite3_stmt *st, const char *object, const char *status, ft_error *err)
{
    json_t *stored = ft_sq_col_json(st, 2, err);
    if (!stored)
        return NULL;
    json_t *o = json_object();
    int bad = !o || !json_is_object(stored);
    if (!bad) {
        bad |= json_object_set_new(o, "id", ft_sq_col_text_or_null(st, 0));
        bad |= json_object_set_new(o, "object", json_string(object));
        bad |= json_object_set_new(o, "created_at", json_integer(sqlite3_column_int64(st, 1)));
        if (status)
            bad |= json_object_set_new(o, "status", json_string(status));
        bad |= json_object_update_missing(o, stored);
    }
    json_decref(stored);
    if (bad) {
        json_decref(o);
        ft_fail(err, FT_EIO, NULL, "cannot build the %s object (corrupt row or out of memory)", object);
        return NULL;
    }
    return o;
}

static json_t *dataset_row(sqlite3_stmt *st, ft_error *err)
{
    /* Only complete, validated uploads ever get a row, hence always ready. */
    return record_row(st, "dataset", "ready", err);
}

static json_t *model_row(sqlite3_stmt *st, ft_error *err)
{
    return record_row(st, "model", NULL, err);
}

const ft_sq_kind ft_sq_datasets = {"datasets", "dataset", "id, created_at, obj", dataset_row, false};
const ft_sq_kind ft_sq_models = {"models", "model", "id, created_at, obj", model_row, false};

/* ---- shared get and list ---- */

json_t *ft_sq_get(ft_sq_connection *c, const ft_sq_kind *k, const char *id, ft_error *err)
{
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT %s FROM %s WHERE id = ?1", k->columns, k->table);
    sqlite3_stmt *st = ft_sq_query(c, sql, err, "t", id);
    if (!st)
        return NULL;
    json_t *obj = NULL;
    int rc = ft_sq_step(c, st, err);
    if (rc == 1)
        obj = k->row(st, err);
    else if (rc == 0)
        ft_fail(err, FT_ENOTFOUND, "id", "no such %s: %s", k->noun, id);
    ft_sq_release(c, st);
    return obj;
}

static int check_query(const ft_sq_kind *k, const ft_list_query *q, ft_error *err)
{
    if (q->limit < 1 || q->limit > FT_LIST_MAX)
        return ft_fail(err, FT_EINVAL, "limit", "limit must be between 1 and %d, not %d", FT_LIST_MAX, q->limit);
    if (!q->status)
        return 0;
    if (!k->has_status)
        return ft_fail(err, FT_EINVAL, "status", "%ss cannot be filtered by status", k->noun);
    for (size_t i = 0; i < FT_NSTATUS; i++)
        if (strcmp(q->status, job_statuses[i]) == 0)
            return 0;
    return ft_fail(err, FT_EINVAL, "status",
                   "unknown status '%s' (expected queued, running, succeeded, failed or cancelled)", q->status);
}

/* The seq of the `after` cursor, or INT64_MAX without one. */
static int cursor_seq(ft_sq_connection *c, const ft_sq_kind *k, const char *after, int64_t *seq, ft_error *err)
{
    *seq = INT64_MAX;
    if (!after)
        return 0;
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT seq FROM %s WHERE id = ?1", k->table);
    sqlite3_stmt *st = ft_sq_query(c, sql, err, "t", after);
    if (!st)
        return -1;
    int rc = ft_sq_step(c, st, err);
    if (rc == 1)
        *seq = sqlite3_column_int64(st, 0);
    else if (rc == 0)
        rc = ft_fail(err, FT_ENOTFOUND, "after", "no such %s: %s (the after cursor)", k->noun, after);
    ft_sq_release(c, st);
    return rc < 0 ? -1 : 0;
}

json_t *ft_sq_list(ft_store *s, const ft_sq_kind *k, const ft_list_query *q, bool *has_more, ft_error *err)
{
    *has_more = false;
    int64_t before;
    ft_sq_connection *c = check_query(k, q, err) == 0 ? ft_sq_conn(s, err) : NULL;
    if (!c || cursor_seq(c, k, q->after, &before, err) != 0)
        return NULL;
    /* One row more than asked tells whether another page follows. */
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT %s FROM %s WHERE seq < ?1%s ORDER BY seq DESC LIMIT ?2", k->columns,
             k->table, q->status ? " AND status = ?3" : "");
    sqlite3_stmt *st = ft_sq_query(c, sql, err, q->status ? "Iit" : "Ii", before, q->limit + 1, q->status);
    json_t *list = st ? json_array() : NULL;
    int rc = list ? 0 : -1;
    if (st && !list)
        ft_fail(err, FT_ENOMEM, NULL, "out of memory listing %ss", k->noun);
    while (rc == 0 && (rc = ft_sq_step(c, st, err)) == 1) {
        if (json_array_size(list) == (size_t)q->limit) {
            *has_more = true;
            rc = 0;
            break;
        }
        json_t *obj = k->row(st, err);
        rc = obj && json_array_append_new(list, obj) == 0 ? 0 : -1;
    }
    ft_sq_release(c, st);
    if (rc < 0) {
        json_decref(list);
        return NULL;
    }
    return list;
}

/* ---- datasets and models ---- */

int ft_sq_insert_record(ft_sq_connection *c, const ft_sq_kind *k, const json_t *obj, ft_error *err)
{
    const char *id = json_string_value(json_object_get(obj, "id"));
    if (!id)
        return ft_fail(err, FT_EINVAL, "id", "a %s needs a string id", k->noun);
    json_t *bytes = json_object_get(obj, "bytes");
    char sql[256];
    snprintf(sql, sizeof sql, "INSERT INTO %s (id, created_at, bytes, obj) VALUES (?1, ?2, ?3, ?4) "
             "ON CONFLICT (id) DO NOTHING", k->table);
    int n = ft_sq_write(c, sql, err, "tIIj", id, ft_sq_now(),
                        (int64_t)(json_is_integer(bytes) ? json_integer_value(bytes) : 0), obj);
    if (n == 0)
        return ft_fail(err, FT_EINVAL, "id", "%s %s already exists", k->noun, id);
    return n < 0 ? -1 : 0;
}

static int insert(ft_store *s, const ft_sq_kind *k, const json_t *obj, ft_error *err)
{
    ft_sq_connection *c = ft_sq_conn(s, err);
    if (!c || ft_sq_begin(c, err) != 0)
        return -1;
    return ft_sq_end(c, ft_sq_insert_record(c, k, obj, err), err);
}

/* Spec fields (JSON array) that may name a record: as "ds_..." or {"id": ...}. */
static const char dataset_fields[] = "[\"dataset\",\"validation\",\"test\"]";
static const char model_fields[] = "[\"base_model\"]";

/* Delete a record unless an active job's spec names it in one of `fields`.
 * The check and the delete share one write transaction, so no job can be
 * queued against the record in between. */
static int delete_record(ft_store *s, const ft_sq_kind *k, const char *fields, const char *id, ft_error *err)
{
    static const char users[] =
        "SELECT j.id, j.status, f.value FROM jobs j, json_each(?2) f "
        "WHERE j.status IN ('queued', 'running') "
        "AND ?1 IN (json_extract(j.spec, '$.' || f.value), json_extract(j.spec, '$.' || f.value || '.id')) "
        "ORDER BY j.seq LIMIT 1";
    ft_sq_connection *c = ft_sq_conn(s, err);
    if (!c || ft_sq_begin(c, err) != 0)
        return -1;
    sqlite3_stmt *st = ft_sq_query(c, users, err, "tt", id, fields);
    int rc = st ? ft_sq_step(c, st, err) : -1;
    if (rc == 1)
        rc = ft_fail(err, FT_EINVAL, "id", "%s %s is used as %s by job %s, which is %s; cancel the job or wait for it to end",
                     k->noun, id, (const char *)sqlite3_column_text(st, 2), (const char *)sqlite3_column_text(st, 0),
                     (const char *)sqlite3_column_text(st, 1));
    ft_sq_release(c, st);
    if (rc == 0) {
        char sql[128];
        snprintf(sql, sizeof sql, "DELETE FROM %s WHERE id = ?1", k->table);
        rc = ft_sq_write(c, sql, err, "t", id);
        if (rc == 0)
            rc = ft_fail(err, FT_ENOTFOUND, "id", "no such %s: %s", k->noun, id);
    }
    return ft_sq_end(c, rc, err) < 0 ? -1 : 0;
}

json_t *ft_sq_fetch(ft_store *s, const ft_sq_kind *k, const char *id, ft_error *err)
{
    ft_sq_connection *c = ft_sq_conn(s, err);
    return c ? ft_sq_get(c, k, id, err) : NULL;
}

int ft_store_dataset_insert(ft_store *s, const json_t *obj, ft_error *err)
{
    return insert(s, &ft_sq_datasets, obj, err);
}

json_t *ft_store_dataset_get(ft_store *s, const char *id, ft_error *err)
{
    return ft_sq_fetch(s, &ft_sq_datasets, id, err);
}

json_t *ft_store_dataset_list(ft_store *s, const ft_list_query *q, bool *has_more, ft_error *err)
{
    return ft_sq_list(s, &ft_sq_datasets, q, has_more, err);
}

int ft_store_dataset_delete(ft_store *s, const char *id, ft_error *err)
{
    return delete_record(s, &ft_sq_datasets, dataset_fields, id, err);
}

int ft_store_model_insert(ft_store *s, const json_t *obj, ft_error *err)
{
    return insert(s, &ft_sq_models, obj, err);
}

json_t *ft_store_model_get(ft_store *s, const char *id, ft_error *err)
{
    return ft_sq_fetch(s, &ft_sq_models, id, err);
}

json_t *ft_store_model_list(ft_store *s, const ft_list_query *q, bool *has_more, ft_error *err)
{
    return ft_sq_list(s, &ft_sq_models, q, has_more, err);
}

int ft_store_model_delete(ft_store *s, const char *id, ft_error *err)
{
    return delete_record(s, &ft_sq_models, model_fields, id, err);
}

/* ---- figures and file ids ---- */

static const ft_sq_kind *const file_kinds[] = {&ft_sq_datasets, &ft_sq_models};

/* For each file kind: {"<table>": f(rows of "SELECT <cols> FROM <table> ...")}. */
static json_t *per_file_kind(ft_store *s, const char *select, json_t *(*collect)(ft_sq_connection *, sqlite3_stmt *, ft_error *),
                             json_t *out, ft_error *err)
{
    ft_sq_connection *c = out ? ft_sq_conn(s, err) : NULL;
    for (size_t i = 0; c && i < sizeof file_kinds / sizeof file_kinds[0]; i++) {
        char sql[256];
        snprintf(sql, sizeof sql, select, file_kinds[i]->table);
        sqlite3_stmt *st = ft_sq_query(c, sql, err, "");
        json_t *v = st ? collect(c, st, err) : NULL;
        ft_sq_release(c, st);
        if (!v || json_object_set_new(out, file_kinds[i]->table, v) != 0)
            c = NULL;
    }
    if (!c) {
        if (!out)
            ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        json_decref(out);
        return NULL;
    }
    return out;
}

static json_t *collect_counts(ft_sq_connection *c, sqlite3_stmt *st, ft_error *err)
{
    if (ft_sq_step(c, st, err) != 1)
        return NULL;
    return json_pack("{sI sI}", "count", (json_int_t)sqlite3_column_int64(st, 0), "bytes",
                     (json_int_t)sqlite3_column_int64(st, 1));
}

static json_t *collect_ids(ft_sq_connection *c, sqlite3_stmt *st, ft_error *err)
{
    json_t *ids = json_array();
    int rc = ids ? 0 : ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    while (rc == 0 && (rc = ft_sq_step(c, st, err)) == 1)
        rc = json_array_append_new(ids, ft_sq_col_text_or_null(st, 0)) == 0
                 ? 0 : ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    if (rc < 0) {
        json_decref(ids);
        return NULL;
    }
    return ids;
}

static json_t *job_counts(ft_store *s, ft_error *err)
{
    ft_sq_connection *c = ft_sq_conn(s, err);
    if (!c)
        return NULL;
    json_t *jobs = json_object();
    int rc = jobs ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < FT_NSTATUS; i++)
        rc = json_object_set_new(jobs, job_statuses[i], json_integer(0));
    if (rc != 0) {
        json_decref(jobs);
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    sqlite3_stmt *st = ft_sq_query(c, "SELECT status, COUNT(*) FROM jobs GROUP BY status", err, "");
    rc = st ? 0 : -1;
    while (rc == 0 && (rc = ft_sq_step(c, st, err)) == 1)
        rc = json_object_set_new(jobs, (const char *)sqlite3_column_text(st, 0),
                                 json_integer(sqlite3_column_int64(st, 1))) == 0
                 ? 0 : ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    ft_sq_release(c, st);
    if (rc != 0) {
        json_decref(jobs);
        return NULL;
    }
    return jobs;
}

json_t *ft_store_stats(ft_store *s, ft_error *err)
{
    json_t *jobs = job_counts(s, err);
    if (!jobs)
        return NULL;
    json_t *out = json_object();
    if (out && json_object_set_new(out, "jobs", jobs) != 0) {
        json_decref(out);
        out = NULL;
    }
    return per_file_kind(s, "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM %s", collect_counts, out, err);
}

json_t *ft_store_all_file_ids(ft_store *s, ft_error *err)
{
    return per_file_kind(s, "SELECT id FROM %s ORDER BY seq", collect_ids, json_object(), err);
}
