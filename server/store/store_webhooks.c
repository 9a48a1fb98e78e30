/* Webhooks in the store: endpoints, the outbox of deliveries and their
 * attempts (migrations 0002).
 *
 * The outbox is what makes delivery durable: a job's terminal transition
 * calls ft_db_webhook_job_ended inside its own transaction, so the
 * delivery rows commit with the status or not at all. Dispatchers (any
 * process) claim due rows with a lease, like workers claim jobs; a
 * dispatcher that dies mid-attempt leaves a lease that expires, and the
 * delivery goes out again with the same id (at least once).
 */
#include "server/store/store_db.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define FT_DELIVERIES_MAX 100

/* Columns: id, created_at, url, events, description, job_id. The secret
 * is never selected for the API. */
static json_t *webhook_row(ft_db_rows *r, ft_error *err)
{
    json_t *events = ft_db_col_json(r, 3, err);
    json_t *o = events ? json_pack("{ss ss sI ss so so so}", "id", ft_db_text(r, 0), "object", "webhook",
                                   "created_at", (json_int_t)ft_db_int(r, 1), "url", ft_db_text(r, 2), "events",
                                   events, "description", ft_db_col_text_or_null(r, 4), "job",
                                   ft_db_col_text_or_null(r, 5))
                       : NULL;
    if (events && !o)
        ft_fail(err, FT_ENOMEM, NULL, "out of memory building a webhook");
    return o;
}

const ft_db_kind ft_db_webhooks = {"webhooks", "webhook", "id, created_at, url, events, description, job_id",
                                   webhook_row, false};

int ft_db_webhook_insert(ft_db_conn *c, const json_t *obj, ft_error *err)
{
    const char *id = json_string_value(json_object_get(obj, "id"));
    const char *url = json_string_value(json_object_get(obj, "url"));
    const char *secret = json_string_value(json_object_get(obj, "secret"));
    json_t *events = json_object_get(obj, "events");
    if (!id || !url || !secret || !json_is_array(events))
        return ft_fail(err, FT_EINVAL, "webhook", "a webhook needs an id, a url, events and a secret");
    int n = ft_db_write(c,
                        "INSERT INTO webhooks (id, created_at, url, events, description, job_id, secret) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING",
                        err, "tItjttt", id, ft_db_now(), url, events,
                        json_string_value(json_object_get(obj, "description")),
                        json_string_value(json_object_get(obj, "job")), secret);
    if (n == 0)
        return ft_fail(err, FT_EINVAL, "id", "webhook %s already exists", id);
    return n < 0 ? -1 : 0;
}

int ft_store_webhook_insert(ft_store *s, const json_t *obj, ft_error *err)
{
    ft_db_conn *c = ft_db_acquire(s, err);
    int rc = c ? ft_db_begin(c, err) : -1;
    if (rc == 0)
        rc = ft_db_end(c, ft_db_webhook_insert(c, obj, err), err);
    ft_db_release(c);
    return rc;
}

json_t *ft_store_webhook_get(ft_store *s, const char *id, ft_error *err)
{
    return ft_db_fetch(s, &ft_db_webhooks, id, err);
}

json_t *ft_store_webhook_list(ft_store *s, const ft_list_query *q, bool *has_more, ft_error *err)
{
    return ft_db_list(s, &ft_db_webhooks, q, has_more, err);
}

int ft_store_webhook_delete(ft_store *s, const char *id, ft_error *err)
{
    /* Explicit deletes rather than relying on ON DELETE CASCADE, which
     * SQLite applies only with its foreign_keys pragma on. A dispatcher
     * holding one of the deliveries finds it gone when it records the
     * attempt, and sends nothing more. */
    ft_db_conn *c = ft_db_acquire(s, err);
    int rc = c ? ft_db_begin(c, err) : -1;
    if (rc == 0) {
        rc = ft_db_write(c,
                         "DELETE FROM webhook_attempts WHERE delivery_id IN "
                         "(SELECT id FROM webhook_deliveries WHERE endpoint_id = ?1)",
                         err, "t", id);
        if (rc >= 0)
            rc = ft_db_write(c, "DELETE FROM webhook_deliveries WHERE endpoint_id = ?1", err, "t", id);
        if (rc >= 0)
            rc = ft_db_write(c, "DELETE FROM webhooks WHERE id = ?1", err, "t", id);
        if (rc == 0)
            rc = ft_fail(err, FT_ENOTFOUND, "id", "no such webhook: %s", id);
        rc = ft_db_end(c, rc, err);
    }
    ft_db_release(c);
    return rc < 0 ? -1 : 0;
}

/* ---- the outbox ---- */

/* Whether the endpoint's events (a JSON array in text) include type. */
static bool subscribed(const char *events_text, const char *type)
{
    json_t *events = json_loads(events_text, 0, NULL);
    bool yes = false;
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e)
        yes |= json_is_string(e) && strcmp(json_string_value(e), type) == 0;
    json_decref(events);
    return yes;
}

/* The Standard Webhooks envelope: {"type", "timestamp" (RFC 3339), "data"}. */
static json_t *envelope(const char *type, const json_t *data, int64_t now)
{
    char stamp[32];
    struct tm tm;
    time_t t = (time_t)now;
    gmtime_r(&t, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_pack("{ss ss sO}", "type", type, "timestamp", stamp, "data", data);
}

int ft_db_webhook_enqueue(ft_db_conn *c, const char *type, const json_t *data, const char *job_id, ft_error *err)
{
    int64_t now_ms = ft_db_now_ms();
    json_t *payload = envelope(type, data, now_ms / 1000);
    /* Endpoints are collected first: inserting while a query is open is
     * not allowed on every backend. */
    json_t *targets = json_array();
    ft_db_rows *r = payload && targets ? ft_db_query(c,
                                                     "SELECT id, events FROM webhooks WHERE job_id IS NULL "
                                                     "OR job_id = ?1 ORDER BY seq",
                                                     err, "t", job_id ? job_id : "")
                                       : NULL;
    int rc = r ? 0 : -1;
    if (!payload || !targets)
        ft_fail(err, FT_ENOMEM, NULL, "out of memory building a webhook event");
    while (rc == 0 && (rc = ft_db_next(r, err)) == 1)
        rc = !subscribed(ft_db_text(r, 1), type) || json_array_append_new(targets, json_string(ft_db_text(r, 0))) == 0
                 ? 0
                 : ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    ft_db_done(r);
    size_t i;
    json_t *endpoint;
    json_array_foreach(targets, i, endpoint) {
        char id[40];
        memcpy(id, "msg_", 4);
        if (rc != 0 || ft_db_token(id + 4, err) != 0) {
            rc = -1;
            break;
        }
        rc = ft_db_write(c,
                         "INSERT INTO webhook_deliveries (id, endpoint_id, event, payload, created_at, created_ms, "
                         "next_attempt_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                         err, "tttjII", id, json_string_value(endpoint), type, payload, now_ms / 1000, now_ms) == 1
                 ? 0
                 : -1;
    }
    /* Wakes the dispatchers of other processes (this one's wake with the
     * job's own change signal). */
    if (rc == 0 && json_array_size(targets) > 0 && ft_db_notify(c, FT_TOPIC_EVENTS, "", err) != 0)
        rc = -1;
    json_decref(targets);
    json_decref(payload);
    return rc;
}

/* The numbers among the metrics at result[key] (loss, accuracy...), or
 * null: the confusion matrix and per-class tables stay on the job, so a
 * payload stays small whatever the number of classes. */
static json_t *scalar_metrics(const json_t *result, const char *key)
{
    json_t *metrics = json_object_get(result, key), *out = json_is_object(metrics) ? json_object() : json_null();
    const char *name;
    json_t *v;
    json_object_foreach(metrics, name, v)
        if (out && json_is_number(v))
            json_object_set(out, name, v);
    return out;
}

json_t *ft_db_job_ended_event(ft_db_rows *r, const char *job_id, char type[32], ft_error *err)
{
    json_t *result = ft_db_col_json(r, 2, err), *error = ft_db_col_json(r, 3, err);
    snprintf(type, 32, "job.%s", ft_db_text(r, 0));
    json_t *data = result && error ? json_pack("{ss ss ss so so so so sI}", "id", job_id, "object", "job", "status",
                                               ft_db_text(r, 0), "fine_tuned_model", ft_db_col_text_or_null(r, 1),
                                               "test_metrics", scalar_metrics(result, "test_metrics"),
                                               "validation_metrics", scalar_metrics(result, "validation_metrics"),
                                               "error", json_incref(error), "finished_at", (json_int_t)ft_db_int(r, 4))
                                   : NULL;
    json_decref(result);
    json_decref(error);
    if (!data)
        ft_fail(err, FT_EIO, NULL, "cannot build the %s event of job %s", type, job_id);
    return data;
}

int ft_db_webhook_job_ended(ft_db_conn *c, const char *job_id, ft_error *err)
{
    ft_db_rows *r = ft_db_query(c, "SELECT " FT_DB_JOB_ENDED_COLUMNS " FROM jobs WHERE id = ?1 "
                                "AND status IN ('succeeded', 'failed', 'cancelled')",
                                err, "t", job_id);
    int rc = r ? ft_db_next(r, err) : -1;
    char type[32];
    json_t *data = rc == 1 ? ft_db_job_ended_event(r, job_id, type, err) : NULL;
    ft_db_done(r); /* before the inserts: not every backend allows them while a query is open */
    if (rc == 1 && (!data || ft_db_webhook_enqueue(c, type, data, job_id, err) != 0))
        rc = -1;
    json_decref(data);
    return rc < 0 ? -1 : 0;
}

int ft_store_webhook_emit(ft_store *s, const char *type, const json_t *data, ft_error *err)
{
    ft_db_conn *c = ft_db_acquire(s, err);
    int rc = c ? ft_db_begin(c, err) : -1;
    if (rc == 0)
        rc = ft_db_end(c, ft_db_webhook_enqueue(c, type, data, NULL, err), err);
    ft_db_release(c);
    return rc;
}

/* ---- the dispatcher's side ---- */

int ft_store_delivery_claim(ft_store *s, int lease_ms, ft_delivery *d, ft_error *err)
{
    memset(d, 0, sizeof *d);
    ft_db_conn *c = ft_db_token(d->lease, err) == 0 ? ft_db_acquire(s, err) : NULL;
    int rc = c ? ft_db_begin(c, err) : -1;
    if (rc != 0) {
        ft_db_release(c);
        return -1;
    }
    char sql[640];
    snprintf(sql, sizeof sql,
             "UPDATE webhook_deliveries SET lease_token = ?1, lease_expires_ms = ?2 + ?3 WHERE seq = "
             "(SELECT seq FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_ms <= ?2 AND "
             "(lease_expires_ms IS NULL OR lease_expires_ms <= ?2) ORDER BY next_attempt_ms LIMIT 1%s) "
             "RETURNING id, endpoint_id, payload, attempts, created_ms",
             ft_db_sql(c)->skip_locked);
    int64_t now_ms = ft_db_now_ms();
    ft_db_rows *r = ft_db_query(c, sql, err, "tII", d->lease, now_ms, (int64_t)lease_ms);
    rc = r ? ft_db_next(r, err) : -1;
    if (rc == 1) {
        snprintf(d->id, sizeof d->id, "%s", ft_db_text(r, 0));
        snprintf(d->endpoint, sizeof d->endpoint, "%s", ft_db_text(r, 1));
        d->payload = strdup(ft_db_text(r, 2));
        d->attempts = (int)ft_db_int(r, 3);
        d->created_ms = ft_db_int(r, 4);
    }
    ft_db_done(r);
    r = rc == 1 ? ft_db_query(c, "SELECT url, secret FROM webhooks WHERE id = ?1", err, "t", d->endpoint) : NULL;
    if (rc == 1 && (!r || ft_db_next(r, err) != 1))
        rc = -1;
    if (rc == 1) {
        d->url = strdup(ft_db_text(r, 0));
        d->secret = strdup(ft_db_text(r, 1));
        if (!d->payload || !d->url || !d->secret)
            rc = ft_fail(err, FT_ENOMEM, NULL, "out of memory claiming a delivery");
    }
    ft_db_done(r);
    rc = ft_db_end(c, rc, err);
    ft_db_release(c);
    if (rc != 1)
        ft_delivery_free(d);
    return rc;
}

void ft_delivery_free(ft_delivery *d)
{
    if (!d)
        return;
    free(d->payload);
    free(d->url);
    free(d->secret);
    memset(d, 0, sizeof *d);
}

/* An attempt and the delivery's new state, for record_body. */
typedef struct {
    const ft_delivery *d;
    const ft_delivery_attempt *a;
} attempt_write;

static int record_body(ft_db_conn *c, void *ctx, ft_error *err)
{
    const attempt_write *w = ctx;
    const ft_delivery_attempt *a = w->a;
    /* Fenced by the lease: a delivery deleted with its endpoint, or taken
     * over after this dispatcher's lease expired, records nothing here. */
    int n = ft_db_write(c,
                        "INSERT INTO webhook_attempts (delivery_id, n, started_ms, duration_ms, http_status, error, "
                        "response) SELECT id, attempts + 1, ?3, ?4, NULLIF(?5, 0), ?6, ?7 FROM webhook_deliveries "
                        "WHERE id = ?1 AND lease_token = ?2 AND status = 'pending'",
                        err, "ttIIItt", w->d->id, w->d->lease, a->started_ms, a->duration_ms,
                        (int64_t)a->http_status, a->error, a->response);
    const char *status = a->delivered ? "delivered" : a->next_attempt_ms ? "pending" : "failed";
    if (n == 1)
        n = ft_db_write(c,
                        "UPDATE webhook_deliveries SET attempts = attempts + 1, status = ?3, "
                        "next_attempt_ms = NULLIF(?4, 0), lease_token = NULL, lease_expires_ms = NULL, "
                        "finished_at = CASE WHEN ?3 = 'pending' THEN NULL ELSE ?5 END "
                        "WHERE id = ?1 AND lease_token = ?2",
                        err, "tttII", w->d->id, w->d->lease, status, a->next_attempt_ms, ft_db_now());
    return n;
}

int ft_store_delivery_record(ft_store *s, const ft_delivery *d, const ft_delivery_attempt *a, ft_error *err)
{
    attempt_write w = {d, a};
    return ft_db_transact(s, record_body, &w, err);
}

int ft_store_delivery_next_due(ft_store *s, int64_t *due_ms, ft_error *err)
{
    *due_ms = -1;
    ft_db_conn *c = ft_db_acquire(s, err);
    int rc = c ? ft_db_scalar(c,
                              "SELECT COALESCE(MIN(CASE WHEN lease_expires_ms > next_attempt_ms THEN lease_expires_ms "
                              "ELSE next_attempt_ms END), -1) FROM webhook_deliveries WHERE status = 'pending'",
                              due_ms, err, "")
               : -1;
    ft_db_release(c);
    return rc < 0 ? -1 : *due_ms >= 0;
}

/* ---- deliveries for the API ---- */

/* Columns: n, started_ms, duration_ms, http_status, error, response. */
static json_t *attempt_row(ft_db_rows *r)
{
    return json_pack("{sI sI sI sI so so so}", "attempt", (json_int_t)ft_db_int(r, 0), "started_at",
                     (json_int_t)(ft_db_int(r, 1) / 1000), "started_at_ms", (json_int_t)ft_db_int(r, 1),
                     "duration_ms", (json_int_t)ft_db_int(r, 2), "http_status", ft_db_col_int_or_null(r, 3),
                     "error", ft_db_col_text_or_null(r, 4), "response", ft_db_col_text_or_null(r, 5));
}

/* The attempts of delivery id, oldest first, into d["attempts"]. */
static int add_attempts(ft_db_conn *c, json_t *d, ft_error *err)
{
    json_t *list = json_array();
    ft_db_rows *r = list ? ft_db_query(c,
                                       "SELECT n, started_ms, duration_ms, http_status, error, response FROM "
                                       "webhook_attempts WHERE delivery_id = ?1 ORDER BY n",
                                       err, "t", json_string_value(json_object_get(d, "id")))
                         : NULL;
    int rc = r ? 0 : -1;
    while (rc == 0 && (rc = ft_db_next(r, err)) == 1)
        rc = json_array_append_new(list, attempt_row(r)) == 0 ? 0 : ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    ft_db_done(r);
    if (rc == 0 && json_object_set_new(d, "attempts", list) == 0)
        return 0;
    if (rc == 0)
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    return -1;
}

/* Columns: id, event, status, created_at, next_attempt_ms, finished_at, payload. */
static json_t *delivery_row(ft_db_rows *r, ft_error *err)
{
    json_t *payload = ft_db_col_json(r, 6, err);
    bool pending = strcmp(ft_db_text(r, 2), "pending") == 0;
    json_t *o = payload ? json_pack("{ss ss ss ss sI so so so}", "id", ft_db_text(r, 0), "object",
                                    "webhook.delivery", "event", ft_db_text(r, 1), "status", ft_db_text(r, 2),
                                    "created_at", (json_int_t)ft_db_int(r, 3), "next_attempt_at",
                                    pending ? json_integer((ft_db_int(r, 4) + 999) / 1000) : json_null(),
                                    "finished_at", ft_db_col_int_or_null(r, 5), "payload", payload)
                        : NULL;
    if (payload && !o)
        ft_fail(err, FT_ENOMEM, NULL, "out of memory building a delivery");
    return o;
}

json_t *ft_store_webhook_deliveries(ft_store *s, const char *id, int limit, bool *has_more, ft_error *err)
{
    *has_more = false;
    if (limit < 1 || limit > FT_DELIVERIES_MAX) {
        ft_fail(err, FT_EINVAL, "limit", "limit must be between 1 and %d", FT_DELIVERIES_MAX);
        return NULL;
    }
    ft_db_conn *c = ft_db_acquire(s, err);
    json_t *endpoint = c ? ft_db_get(c, &ft_db_webhooks, id, err) : NULL;
    json_t *list = endpoint ? json_array() : NULL;
    ft_db_rows *r = list ? ft_db_query(c,
                                       "SELECT id, event, status, created_at, next_attempt_ms, finished_at, payload "
                                       "FROM webhook_deliveries WHERE endpoint_id = ?1 ORDER BY seq DESC LIMIT ?2",
                                       err, "ti", id, limit + 1)
                         : NULL;
    int rc = r ? 0 : -1;
    while (rc == 0 && (rc = ft_db_next(r, err)) == 1) {
        if (json_array_size(list) == (size_t)limit) {
            *has_more = true;
            rc = 0;
            break;
        }
        json_t *d = delivery_row(r, err);
        rc = d && json_array_append_new(list, d) == 0 ? 0 : -1;
    }
    ft_db_done(r);
    size_t i;
    json_t *d;
    json_array_foreach(list, i, d)
        if (rc == 0)
            rc = add_attempts(c, d, err);
    ft_db_release(c);
    json_decref(endpoint);
    if (rc != 0) {
        json_decref(list);
        return NULL;
    }
    return list;
}
