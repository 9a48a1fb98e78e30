/* Resource kinds: what datasets, models and jobs share (get, paged lists),
 * and datasets and models themselves, which are immutable records: the API
 * object given at insert, stored as JSON, plus the fields the store owns
 * (object, created_at, status). Also the figures for /metrics and the ids
 * for the start-up orphan sweep.
 */
#include "server/store/store_db.h"

#include "core/data/parse_helpers.h"

#include <stdio.h>
#include <string.h>

#define FT_LIST_MAX 100

static const char *const job_statuses[] = {"queued", "running", "succeeded", "failed", "cancelled"};
#define FT_NSTATUS (sizeof job_statuses / sizeof job_statuses[0])

/* Columns: id, created_at, obj. The store's fields come first and win over
 * same-named keys of the stored object. */
static json_t *record_row(ft_db_rows *st, const char *object, const char *status, ft_error *err)
{
    json_t *stored = ft_db_col_json(st, 2, err);
    if (!stored)
        return NULL;
    json_t *o = json_object();
    int bad = !o || !json_is_object(stored);
    if (!bad) {
        bad |= json_object_set_new(o, "id", ft_db_col_text_or_null(st, 0));
        bad |= json_object_set_new(o, "object", json_string(object));
        bad |= json_object_set_new(o, "created_at", json_integer(ft_db_int(st, 1)));
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

static json_t *dataset_row(ft_db_rows *st, ft_error *err)
{
    /* Only complete, validated uploads ever get a row, hence always ready. */
    return record_row(st, "dataset", "ready", err);
}

static json_t *model_row(ft_db_rows *st, ft_error *err)
{
    return record_row(st, "model", NULL, err);
}

const ft_db_kind ft_db_datasets = {"datasets", "dataset", "id, created_at, obj", dataset_row, false};
const ft_db_kind ft_db_models = {"models", "model", "id, created_at, obj", model_row, false};

/* ---- shared get and list ---- */

json_t *ft_db_get(ft_db_conn *c, const ft_db_kind *k, const char *id, ft_error *err)
{
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT %s FROM %s WHERE id = ?1", k->columns, k->table);
    ft_db_rows *r = ft_db_query(c, sql, err, "t", id);
    if (!r)
        return NULL;
    json_t *obj = NULL;
    int rc = ft_db_next(r, err);
    if (rc == 1)
        obj = k->row(r, err);
    else if (rc == 0)
        ft_fail(err, FT_ENOTFOUND, "id", "no such %s: %s", k->noun, id);
    ft_db_done(r);
    return obj;
}

int ft_db_has(ft_db_conn *c, const ft_db_kind *k, const char *id, ft_error *err)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT 1 FROM %s WHERE id = ?1", k->table);
    int64_t one;
    return ft_db_scalar(c, sql, &one, err, "t", id);
}

static int check_query(const ft_db_kind *k, const ft_list_query *q, ft_error *err)
{
    if (q->limit < 1 || q->limit > FT_LIST_MAX)
        return ft_fail(err, FT_EINVAL, "limit", "limit must be between 1 and %d, not %d", FT_LIST_MAX, q->limit);
    const char *filter = q->status ? "status" : q->sweep ? "sweep" : NULL;
    if (filter && !k->has_status)
        return ft_fail(err, FT_EINVAL, filter, "%ss cannot be filtered by %s", k->noun, filter);
    if (!q->status)
        return 0;
    for (size_t i = 0; i < FT_NSTATUS; i++)
        if (strcmp(q->status, job_statuses[i]) == 0)
            return 0;
    return ft_fail(err, FT_EINVAL, "status",
                   "unknown status '%s' (expected queued, running, succeeded, failed or cancelled)", q->status);
}

/* The seq of the `after` cursor, or INT64_MAX without one. */
static int cursor_seq(ft_db_conn *c, const ft_db_kind *k, const char *after, int64_t *seq, ft_error *err)
{
    *seq = INT64_MAX;
    if (!after)
        return 0;
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT seq FROM %s WHERE id = ?1", k->table);
    /* Bytes that are not UTF-8 name no row (ids are ASCII); PostgreSQL
     * would refuse them rather than find nothing. */
    int rc = ft_utf8_valid(after, strlen(after)) ? ft_db_scalar(c, sql, seq, err, "t", after) : 0;
    if (rc == 0)
        rc = ft_fail(err, FT_ENOTFOUND, "after", "no such %s: %s (the after cursor)", k->noun, after);
    return rc < 0 ? -1 : 0;
}

static json_t *list_on(ft_db_conn *c, const ft_db_kind *k, const ft_list_query *q, bool *has_more, ft_error *err)
{
    int64_t before;
    if (cursor_seq(c, k, q->after, &before, err) != 0)
        return NULL;
    /* One row more than asked tells whether another page follows. */
    char sql[1024];
    /* The filters take ?3 and ?4 in this order, each only if given. */
    snprintf(sql, sizeof sql, "SELECT %s FROM %s WHERE seq < ?1%s%s ORDER BY seq DESC LIMIT ?2", k->columns,
             k->table, q->status ? " AND status = ?3" : "",
             q->sweep ? (q->status ? " AND sweep_id = ?4" : " AND sweep_id = ?3") : "");
    const char *types = q->status && q->sweep ? "Iitt" : q->status || q->sweep ? "Iit" : "Ii";
    ft_db_rows *r = ft_db_query(c, sql, err, types, before, q->limit + 1, q->status ? q->status : q->sweep,
                                q->sweep);
    json_t *list = r ? json_array() : NULL;
    int rc = list ? 0 : -1;
    if (r && !list)
        ft_fail(err, FT_ENOMEM, NULL, "out of memory listing %ss", k->noun);
    while (rc == 0 && (rc = ft_db_next(r, err)) == 1) {
        if (json_array_size(list) == (size_t)q->limit) {
            *has_more = true;
            rc = 0;
            break;
        }
        json_t *obj = k->row(r, err);
        rc = obj && json_array_append_new(list, obj) == 0 ? 0 : -1;
    }
    ft_db_done(r);
    if (rc < 0) {
        json_decref(list);
        return NULL;
    }
    return list;
}

json_t *ft_db_list(ft_store *s, const ft_db_kind *k, const ft_list_query *q, bool *has_more, ft_error *err)
{
    *has_more = false;
    ft_db_conn *c = check_query(k, q, err) == 0 ? ft_db_acquire(s, err) : NULL;
    json_t *list = c ? list_on(c, k, q, has_more, err) : NULL;
    ft_db_release(c);
    return list;
}

/* ---- datasets and models ---- */

int ft_db_insert_record(ft_db_conn *c, const ft_db_kind *k, const json_t *obj, ft_error *err)
{
    const char *id = json_string_value(json_object_get(obj, "id"));
    if (!id)
        return ft_fail(err, FT_EINVAL, "id", "a %s needs a string id", k->noun);
    json_t *bytes = json_object_get(obj, "bytes");
    char sql[256];
    snprintf(sql, sizeof sql, "INSERT INTO %s (id, created_at, bytes, obj) VALUES (?1, ?2, ?3, ?4) "
             "ON CONFLICT (id) DO NOTHING", k->table);
    int n = ft_db_write(c, sql, err, "tIIj", id, ft_db_now(),
                        (int64_t)(json_is_integer(bytes) ? json_integer_value(bytes) : 0), obj);
    if (n == 0)
        return ft_fail(err, FT_EINVAL, "id", "%s %s already exists", k->noun, id);
    return n < 0 ? -1 : 0;
}

/* A dataset or model to insert or delete, for the transactions below. */
typedef struct {
    const ft_db_kind *k;
    const json_t *obj;  /* insert: the API object */
    const char *id;
    const char *fields; /* delete: the spec fields that may name it */
} record_op;

static int insert_body(ft_db_conn *c, void *ctx, ft_error *err)
{
    const record_op *o = ctx;
    return ft_db_insert_record(c, o->k, o->obj, err);
}

/* After a lost COMMIT: a row with the new id is this insert's (a taken id
 * fails the insert before its commit). */
static int inserted(ft_db_conn *c, void *ctx, ft_error *err)
{
    const record_op *o = ctx;
    return ft_db_has(c, o->k, o->id, err);
}

static int insert(ft_store *s, const ft_db_kind *k, const json_t *obj, ft_error *err)
{
    record_op o = {.k = k, .obj = obj, .id = json_string_value(json_object_get(obj, "id"))};
    return ft_db_transact_checked(s, insert_body, inserted, &o, err);
}

/* Spec fields (JSON array) that may name a record: as "ds_..." or {"id": ...}. */
static const char dataset_fields[] = "[\"dataset\",\"validation\",\"test\"]";
static const char model_fields[] = "[\"base_model\"]";

static int delete_on(ft_db_conn *c, const ft_db_kind *k, const char *fields, const char *id, ft_error *err)
{
    ft_db_rows *r = ft_db_query(c, ft_db_sql(c)->record_users, err, "tt", id, fields);
    int rc = r ? ft_db_next(r, err) : -1;
    if (rc == 1)
        rc = ft_fail(err, FT_EINVAL, "id", "%s %s is used as %s by job %s, which is %s; cancel the job or wait for it to end",
                     k->noun, id, ft_db_text(r, 2), ft_db_text(r, 0), ft_db_text(r, 1));
    ft_db_done(r);
    if (rc == 0) {
        char sql[128];
        snprintf(sql, sizeof sql, "DELETE FROM %s WHERE id = ?1", k->table);
        rc = ft_db_write(c, sql, err, "t", id);
        if (rc == 0)
            rc = ft_fail(err, FT_ENOTFOUND, "id", "no such %s: %s", k->noun, id);
    }
    return rc;
}

static int delete_body(ft_db_conn *c, void *ctx, ft_error *err)
{
    const record_op *o = ctx;
    return delete_on(c, o->k, o->fields, o->id, err);
}

/* After a lost COMMIT: the delete happened if the row is gone. */
static int deleted(ft_db_conn *c, void *ctx, ft_error *err)
{
    const record_op *o = ctx;
    int n = ft_db_has(c, o->k, o->id, err);
    return n < 0 ? -1 : !n;
}

/* Delete a record unless an active job's spec names it in one of `fields`.
 * The check and the delete share one write transaction, so no job can be
 * queued against the record in between. */
static int delete_record(ft_store *s, const ft_db_kind *k, const char *fields, const char *id, ft_error *err)
{
    record_op o = {.k = k, .id = id, .fields = fields};
    return ft_db_transact_checked(s, delete_body, deleted, &o, err) < 0 ? -1 : 0;
}

int ft_db_replay(ft_db_conn *c, const ft_db_kind *k, const char *key, const char *hash, json_t **existing,
                 ft_error *err)
{
    if (ft_db_run_opt(c, ft_db_sql(c)->lock_key, key, err) != 0)
        return -1;
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT id, COALESCE(request_hash, '') FROM %s WHERE idempotency_key = ?1", k->table);
    ft_db_rows *r = ft_db_query(c, sql, err, "t", key);
    int rc = r ? ft_db_next(r, err) : -1;
    if (rc == 1 && strcmp(ft_db_text(r, 1), hash ? hash : "") != 0)
        rc = ft_fail(err, FT_EINVAL, "Idempotency-Key",
                     "Idempotency-Key '%s' was already used for %s %s with a different request", key, k->noun,
                     ft_db_text(r, 0));
    else if (rc == 1 && existing) {
        *existing = ft_db_get(c, k, ft_db_text(r, 0), err);
        rc = *existing ? 1 : -1;
    }
    ft_db_done(r);
    return rc;
}

json_t *ft_db_fetch(ft_store *s, const ft_db_kind *k, const char *id, ft_error *err)
{
    ft_db_conn *c = ft_db_acquire(s, err);
    json_t *obj = c ? ft_db_get(c, k, id, err) : NULL;
    ft_db_release(c);
    return obj;
}

int ft_store_dataset_insert(ft_store *s, const json_t *obj, ft_error *err)
{
    return insert(s, &ft_db_datasets, obj, err);
}

json_t *ft_store_dataset_get(ft_store *s, const char *id, ft_error *err)
{
    return ft_db_fetch(s, &ft_db_datasets, id, err);
}

json_t *ft_store_dataset_list(ft_store *s, const ft_list_query *q, bool *has_more, ft_error *err)
{
    return ft_db_list(s, &ft_db_datasets, q, has_more, err);
}

int ft_store_dataset_delete(ft_store *s, const char *id, ft_error *err)
{
    return delete_record(s, &ft_db_datasets, dataset_fields, id, err);
}

int ft_store_model_insert(ft_store *s, const json_t *obj, ft_error *err)
{
    return insert(s, &ft_db_models, obj, err);
}

json_t *ft_store_model_get(ft_store *s, const char *id, ft_error *err)
{
    return ft_db_fetch(s, &ft_db_models, id, err);
}

json_t *ft_store_model_list(ft_store *s, const ft_list_query *q, bool *has_more, ft_error *err)
{
    return ft_db_list(s, &ft_db_models, q, has_more, err);
}

int ft_store_model_delete(ft_store *s, const char *id, ft_error *err)
{
    return delete_record(s, &ft_db_models, model_fields, id, err);
}

/* ---- figures and file ids ---- */

static const ft_db_kind *const file_kinds[] = {&ft_db_datasets, &ft_db_models};

/* For each file kind: {"<table>": f(rows of "SELECT <cols> FROM <table> ...")}. */
static json_t *per_file_kind(ft_store *s, const char *select, json_t *(*collect)(ft_db_rows *, ft_error *),
                             json_t *out, ft_error *err)
{
    ft_db_conn *c = out ? ft_db_acquire(s, err) : NULL;
    bool ok = c != NULL;
    for (size_t i = 0; ok && i < sizeof file_kinds / sizeof file_kinds[0]; i++) {
        char sql[256];
        snprintf(sql, sizeof sql, select, file_kinds[i]->table);
        ft_db_rows *r = ft_db_query(c, sql, err, "");
        json_t *v = r ? collect(r, err) : NULL;
        ft_db_done(r);
        ok = v && json_object_set_new(out, file_kinds[i]->table, v) == 0;
    }
    ft_db_release(c);
    if (!ok) {
        if (!out)
            ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        json_decref(out);
        return NULL;
    }
    return out;
}

static json_t *collect_counts(ft_db_rows *r, ft_error *err)
{
    if (ft_db_next(r, err) != 1)
        return NULL;
    return json_pack("{sI sI}", "count", (json_int_t)ft_db_int(r, 0), "bytes", (json_int_t)ft_db_int(r, 1));
}

static json_t *collect_ids(ft_db_rows *r, ft_error *err)
{
    json_t *ids = json_array();
    int rc = ids ? 0 : ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    while (rc == 0 && (rc = ft_db_next(r, err)) == 1)
        rc = json_array_append_new(ids, ft_db_col_text_or_null(r, 0)) == 0
                 ? 0 : ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    if (rc < 0) {
        json_decref(ids);
        return NULL;
    }
    return ids;
}

static const char *const delivery_statuses[] = {"pending", "delivered", "failed"};

/* The rows of table by status: {status: count} with each of the n
 * statuses present (0 when none). */
static json_t *status_counts(ft_store *s, const char *table, const char *const *statuses, size_t n, ft_error *err)
{
    json_t *counts = json_object();
    int rc = counts ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = json_object_set_new(counts, statuses[i], json_integer(0));
    if (rc != 0) {
        json_decref(counts);
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT status, COUNT(*) FROM %s GROUP BY status", table);
    ft_db_conn *c = ft_db_acquire(s, err);
    ft_db_rows *r = c ? ft_db_query(c, sql, err, "") : NULL;
    rc = r ? 0 : -1;
    while (rc == 0 && (rc = ft_db_next(r, err)) == 1)
        rc = json_object_set_new(counts, ft_db_text(r, 0), json_integer(ft_db_int(r, 1))) == 0
                 ? 0 : ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    ft_db_done(r);
    ft_db_release(c);
    if (rc != 0) {
        json_decref(counts);
        return NULL;
    }
    return counts;
}

json_t *ft_store_stats(ft_store *s, ft_error *err)
{
    json_t *jobs = status_counts(s, "jobs", job_statuses, FT_NSTATUS, err);
    json_t *deliveries = jobs ? status_counts(s, "webhook_deliveries", delivery_statuses, 3, err) : NULL;
    json_t *out = NULL;
    if (deliveries && (!(out = json_object()) || json_object_set(out, "jobs", jobs) != 0 ||
                       json_object_set(out, "webhook_deliveries", deliveries) != 0)) {
        json_decref(out);
        out = NULL;
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    }
    json_decref(jobs);
    json_decref(deliveries);
    return out ? per_file_kind(s, "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM %s", collect_counts, out, err) : NULL;
}

json_t *ft_store_all_file_ids(ft_store *s, ft_error *err)
{
    return per_file_kind(s, "SELECT id FROM %s ORDER BY seq", collect_ids, json_object(), err);
}
