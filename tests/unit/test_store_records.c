/* The SQLite store's records (server/store/store.h): datasets, models and
 * jobs inserted, read, listed and deleted; idempotent submits; events and
 * metric rows; stats. */
#include <pthread.h>
#include "tests/unit/store_fixture.h"

/* ---- datasets and models ---- */

static void test_dataset_insert_get(fixture *fx)
{
    time_t before = time(NULL);
    add_dataset(fx->s, "ds_a", 1234);
    ft_error err = {0};
    json_t *d = ft_store_dataset_get(fx->s, "ds_a", &err);
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
    CHECK(ft_store_dataset_insert(fx->s, o, &err) == -1 && err.code == FT_EINVAL);
    json_decref(o);
    o = json_pack("{si}", "id", 5);
    CHECK(ft_store_dataset_insert(fx->s, o, &err) == -1 && err.code == FT_EINVAL &&
          strcmp(err.param, "id") == 0);
    json_decref(o);

    CHECK(ft_store_dataset_get(fx->s, "ds_missing", &err) == NULL && err.code == FT_ENOTFOUND);
    CHECK(ft_store_model_get(fx->s, "ds_a", &err) == NULL && err.code == FT_ENOTFOUND);
    CHECK(ft_store_dataset_delete(fx->s, "ds_missing", &err) == -1 && err.code == FT_ENOTFOUND);
    CHECK(ft_store_dataset_delete(fx->s, "ds_a", &err) == 0);
    CHECK(ft_store_dataset_get(fx->s, "ds_a", &err) == NULL && err.code == FT_ENOTFOUND);
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

static void test_lists_pagination(fixture *fx)
{
    const char *ds[] = {"ds_7", "ds_6", "ds_5", "ds_4", "ds_3", "ds_2", "ds_1"};
    for (int i = 6; i >= 0; i--)
        add_dataset(fx->s, ds[i], 100);
    const char *mdl[] = {"mdl_2", "mdl_1"};
    add_model(fx->s, "mdl_1", 5);
    add_model(fx->s, "mdl_2", 5);

    check_pages(fx->s, ft_store_dataset_list, NULL, ds, 7, 3);
    check_pages(fx->s, ft_store_dataset_list, NULL, ds, 7, 7);
    check_pages(fx->s, ft_store_dataset_list, NULL, ds, 7, 100);
    check_pages(fx->s, ft_store_dataset_list, NULL, ds, 7, 1);
    check_pages(fx->s, ft_store_model_list, NULL, mdl, 2, 1);

    ft_error err = {0};
    bool more;
    ft_list_query q = {.limit = 0};
    CHECK(ft_store_dataset_list(fx->s, &q, &more, &err) == NULL && err.code == FT_EINVAL &&
          strcmp(err.param, "limit") == 0);
    q.limit = 101;
    CHECK(ft_store_dataset_list(fx->s, &q, &more, &err) == NULL && err.code == FT_EINVAL);
    q.limit = 10;
    q.after = "ds_unknown";
    CHECK(ft_store_dataset_list(fx->s, &q, &more, &err) == NULL && err.code == FT_ENOTFOUND &&
          strcmp(err.param, "after") == 0);
    q.after = "mdl_1"; /* a cursor from another list */
    CHECK(ft_store_dataset_list(fx->s, &q, &more, &err) == NULL && err.code == FT_ENOTFOUND);
    q.after = NULL;
    q.status = "queued";
    CHECK(ft_store_dataset_list(fx->s, &q, &more, &err) == NULL && err.code == FT_EINVAL &&
          strcmp(err.param, "status") == 0);

    /* The cursor item is excluded; an emptied page has has_more false. */
    q = (ft_list_query){.limit = 5, .after = "ds_1"};
    json_t *page = ft_store_dataset_list(fx->s, &q, &more, &err);
    CHECK(page && json_array_size(page) == 0 && !more);
    json_decref(page);
}

static void test_jobs_list_status_filter(fixture *fx)
{
    /* job_1..job_6 submitted in order; job_1 and job_2 get claimed, job_1 fails. */
    add_jobs(fx->s, "job_%d", 1, 6);
    ft_claim c1, c2;
    CHECK(claim(fx->s, "w", 60, &c1) == 1 && strcmp(c1.id, "job_1") == 0);
    CHECK(claim(fx->s, "w", 60, &c2) == 1 && strcmp(c2.id, "job_2") == 0);
    json_t *e = json_pack("{ss ss}", "message", "boom", "code", "training_error");
    ft_error err = {0};
    CHECK(ft_store_job_fail(fx->s, c1.id, c1.lease, e, &err) == 1);
    json_decref(e);

    const char *all[] = {"job_6", "job_5", "job_4", "job_3", "job_2", "job_1"};
    const char *queued[] = {"job_6", "job_5", "job_4", "job_3"};
    const char *running[] = {"job_2"};
    const char *failed[] = {"job_1"};
    check_pages(fx->s, ft_store_job_list, NULL, all, 6, 4);
    check_pages(fx->s, ft_store_job_list, "queued", queued, 4, 3);
    check_pages(fx->s, ft_store_job_list, "queued", queued, 4, 2);
    check_pages(fx->s, ft_store_job_list, "running", running, 1, 10);
    check_pages(fx->s, ft_store_job_list, "failed", failed, 1, 1);
    check_pages(fx->s, ft_store_job_list, "succeeded", NULL, 0, 10);

    bool more;
    ft_list_query q = {.limit = 10, .status = "done"};
    CHECK(ft_store_job_list(fx->s, &q, &more, &err) == NULL && err.code == FT_EINVAL &&
          strcmp(err.param, "status") == 0);
    /* A cursor whose job has another status still positions the page. */
    q = (ft_list_query){.limit = 10, .status = "queued", .after = "job_5"};
    json_t *page = ft_store_job_list(fx->s, &q, &more, &err);
    CHECK(page && json_array_size(page) == 2 && strcmp(jstr(json_array_get(page, 0), "id"), "job_4") == 0);
    json_decref(page);
    q.after = "job_404";
    CHECK(ft_store_job_list(fx->s, &q, &more, &err) == NULL && err.code == FT_ENOTFOUND);
    ft_claim_free(&c1);
    ft_claim_free(&c2);
}

/* ---- the job object ---- */

static void test_job_object_shape(fixture *fx)
{
    add_job(fx->s, "job_a", 3);
    ft_error err = {0};
    json_t *j = ft_store_job_get(fx->s, "job_a", &err);
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
    CHECK(ft_store_job_insert(fx->s, o, NULL, NULL, NULL, &err) == 0);
    json_decref(o);
    j = ft_store_job_get(fx->s, "job_b", &err);
    CHECK(j && strcmp(jstr(j, "name"), "my run") == 0 && json_array_size(json_object_get(j, "warnings")) == 0 &&
          json_is_object(json_object_get(j, "metadata")) && jint(j, "max_attempts") == 3);
    json_decref(j);
    o = json_pack("{ss s{} si}", "id", "job_c", "spec", "max_attempts", 0);
    CHECK(ft_store_job_insert(fx->s, o, NULL, NULL, NULL, &err) == -1 && strcmp(err.param, "max_attempts") == 0);
    json_decref(o);
    o = json_pack("{ss ss}", "id", "job_c", "spec", "x");
    CHECK(ft_store_job_insert(fx->s, o, NULL, NULL, NULL, &err) == -1 && strcmp(err.param, "spec") == 0);
    json_decref(o);
    o = json_pack("{ss s{}}", "id", "job_a", "spec");
    CHECK(ft_store_job_insert(fx->s, o, NULL, NULL, NULL, &err) == -1 && err.code == FT_EINVAL);
    json_decref(o);

    /* Running: started_at, progress, latest metrics. */
    ft_claim c;
    CHECK(claim(fx->s, "w1", 60, &c) == 1 && strcmp(c.id, "job_a") == 0 && c.attempts == 1);
    CHECK(c.spec && jint(c.spec, "epochs") == 3);
    CHECK(strlen(c.lease) == 32);
    json_t *prog = json_pack("{si si si sf sf}", "epoch", 1, "epochs", 3, "step", 10, "samples_per_second", 1e3,
                             "eta_seconds", 4.5);
    json_t *met = json_pack("{sf}", "loss", 0.5);
    CHECK(ft_store_job_progress(fx->s, c.id, c.lease, prog, met, &err) == 1);
    json_decref(met);
    met = json_pack("{sf}", "loss", 0.25);
    CHECK(ft_store_job_progress(fx->s, c.id, c.lease, NULL, met, &err) == 1); /* progress kept */
    json_decref(met);
    j = ft_store_job_get(fx->s, "job_a", &err);
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
    CHECK(ft_store_job_succeed(fx->s, c.id, c.lease, model, result, &err) == 1);
    j = ft_store_job_get(fx->s, "job_a", &err);
    CHECK(j && strcmp(jstr(j, "status"), "succeeded") == 0 && jint(j, "finished_at") > 0);
    CHECK(j && strcmp(jstr(j, "result_model"), "mdl_out") == 0);
    CHECK(j && json_real_value(json_object_get(j, "train_seconds")) == 1.5);
    CHECK(j && json_real_value(json_object_get(json_object_get(j, "test_metrics"), "accuracy")) == 0.9);
    json_decref(j);
    json_t *m = ft_store_model_get(fx->s, "mdl_out", &err);
    CHECK(m && strcmp(jstr(m, "object"), "model") == 0 && strcmp(jstr(m, "job"), "job_a") == 0);
    json_decref(m);
    json_decref(model);
    json_decref(result);
    ft_claim_free(&c);
    CHECK(ft_store_job_get(fx->s, "job_zzz", &err) == NULL && err.code == FT_ENOTFOUND);
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

static void test_idempotency(fixture *fx)
{
    ft_error err = {0};
    json_t *o = json_pack("{ss s{ss}}", "id", "job_1", "spec", "dataset", "ds_a");
    json_t *existing = NULL;
    CHECK(ft_store_job_insert(fx->s, o, "key-1", "hash-1", &existing, &err) == 0 && existing == NULL);
    json_decref(o);

    /* Replay: the original job, nothing inserted. */
    o = json_pack("{ss s{ss}}", "id", "job_2", "spec", "dataset", "ds_a");
    CHECK(ft_store_job_insert(fx->s, o, "key-1", "hash-1", &existing, &err) == 0);
    CHECK(existing && strcmp(jstr(existing, "id"), "job_1") == 0 && strcmp(jstr(existing, "object"), "job") == 0);
    json_decref(existing);
    existing = NULL;
    CHECK(count_jobs(fx->s) == 1);

    /* Same key, another request: a conflict. */
    CHECK(ft_store_job_insert(fx->s, o, "key-1", "hash-2", &existing, &err) == -1);
    CHECK(err.code == FT_EINVAL && strcmp(err.param, "Idempotency-Key") == 0 && existing == NULL);
    CHECK(count_jobs(fx->s) == 1);
    /* Another key: a new job. */
    CHECK(ft_store_job_insert(fx->s, o, "key-2", "hash-2", &existing, &err) == 0 && existing == NULL);
    CHECK(count_jobs(fx->s) == 2);
    json_decref(o);

    /* Eight concurrent submits with one key: exactly one job. */
    enum { N = 8 };
    pthread_t t[N];
    idem_arg a[N];
    for (int i = 0; i < N; i++) {
        a[i] = (idem_arg){.s = fx->s, .index = i};
        pthread_create(&t[i], NULL, idem_thread, &a[i]);
    }
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < N; i++)
        CHECKF(a[i].rc == 0 && strcmp(a[i].got, a[0].got) == 0, "thread %d: rc %d got %s", i, a[i].rc, a[i].got);
    CHECK(count_jobs(fx->s) == 3);
}

/* ---- events and metrics ---- */

static void test_events(fixture *fx)
{
    add_jobs(fx->s, "job_%d", 1, 2);
    ft_error err = {0};
    for (int i = 1; i <= 5; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "event %d", i);
        json_t *data = i == 3 ? json_pack("{si}", "epoch", 3) : NULL;
        CHECK(ft_store_job_event(fx->s, "job_1", NULL, i == 4 ? "warning" : "info", msg, data, &err) == 1);
        json_decref(data);
    }
    CHECK(ft_store_job_event(fx->s, "job_2", NULL, "error", "other job", NULL, &err) == 1);
    json_t *ev = ft_store_job_events(fx->s, "job_1", 0, 100, &err);
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
    /* Pages: events after a seq, at most limit; the item at index has seq. */
    static const struct {
        const char *job;
        int after, limit, n, index, seq;
    } pages[] = {{"job_1", 2, 100, 3, 0, 3}, {"job_1", 2, 2, 2, 1, 4}, {"job_1", 5, 10, 0, -1, 0},
                 {"job_2", 0, 10, 1, 0, 1}};
    for (size_t p = 0; p < sizeof pages / sizeof pages[0]; p++) {
        ev = ft_store_job_events(fx->s, pages[p].job, pages[p].after, pages[p].limit, &err);
        CHECKF(ev && json_array_size(ev) == (size_t)pages[p].n &&
                   (pages[p].index < 0 || jint(json_array_get(ev, pages[p].index), "seq") == pages[p].seq),
               "page %zu", p);
        json_decref(ev);
    }

    CHECK(ft_store_job_event(fx->s, "job_1", NULL, "debug", "x", NULL, &err) == -1 && err.code == FT_EINVAL);
    CHECK(ft_store_job_event(fx->s, "job_404", NULL, "info", "x", NULL, &err) == -1 && err.code == FT_ENOTFOUND);
    CHECK(ft_store_job_events(fx->s, "job_404", 0, 10, &err) == NULL && err.code == FT_ENOTFOUND);
    CHECK(ft_store_job_events(fx->s, "job_1", 0, 0, &err) == NULL && err.code == FT_EINVAL);
}

static void test_metrics_upsert(fixture *fx)
{
    add_job(fx->s, "job_1", 3);
    ft_error err = {0};
    json_t *r2 = json_pack("{sf sf}", "train_loss", 0.5, "val_loss", 0.6);
    json_t *r1 = json_pack("{sf sf}", "train_loss", 0.9, "val_loss", 1.0);
    json_t *r1b = json_pack("{sf sf}", "train_loss", 0.8, "val_loss", 0.95);
    CHECK(ft_store_job_metric_put(fx->s, "job_1", NULL, 2, r2, &err) == 1);
    CHECK(ft_store_job_metric_put(fx->s, "job_1", NULL, 1, r1, &err) == 1);
    CHECK(ft_store_job_metric_put(fx->s, "job_1", NULL, 1, r1b, &err) == 1); /* a resumed job repeats epoch 1 */
    json_t *rows = ft_store_job_metrics(fx->s, "job_1", &err);
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
    CHECK(ft_store_job_metric_put(fx->s, "job_404", NULL, 1, r1, &err) == -1 && err.code == FT_ENOTFOUND);
    CHECK(ft_store_job_metrics(fx->s, "job_404", &err) == NULL && err.code == FT_ENOTFOUND);
    add_job(fx->s, "job_2", 3);
    rows = ft_store_job_metrics(fx->s, "job_2", &err);
    CHECK(rows && json_array_size(rows) == 0);
    json_decref(rows);
    json_decref(r1);
    json_decref(r1b);
    json_decref(r2);
}

/* ---- delete refusal, stats, probes ---- */

static void test_delete_refused_while_referenced(fixture *fx)
{
    const char *ds[] = {"ds_train", "ds_val", "ds_test", "ds_free"};
    for (int i = 0; i < 4; i++)
        add_dataset(fx->s, ds[i], 10);
    add_model(fx->s, "mdl_base", 10);
    add_model(fx->s, "mdl_free", 10);
    add_job_spec(fx->s, "job_1",
                 json_pack("{ss s{ss si} s{ss} ss}", "dataset", "ds_train", "validation", "id", "ds_val", "per_class",
                           10, "test", "id", "ds_test", "base_model", "mdl_base"),
                 3);
    add_job_spec(fx->s, "job_2", json_pack("{s{ss} s{sf}}", "dataset", "id", "ds_free", "validation", "split", 0.1), 3);
    ft_error err = {0};
    json_t *obj = NULL;
    /* job_2 (on ds_free) is cancelled; job_1 stays queued. */
    CHECK(ft_store_job_cancel(fx->s, "job_2", NULL, &err) == 0);
    for (int i = 0; i < 3; i++) {
        CHECK(ft_store_dataset_delete(fx->s, ds[i], &err) == -1 && err.code == FT_EINVAL &&
              strcmp(err.param, "id") == 0);
        CHECKF(strstr(err.msg, "job_1") != NULL, "%s", err.msg);
    }
    CHECK(ft_store_model_delete(fx->s, "mdl_base", &err) == -1 && err.code == FT_EINVAL);
    CHECKF(strstr(err.msg, "job_1") != NULL && strstr(err.msg, "base_model") != NULL, "%s", err.msg);
    CHECK(ft_store_model_delete(fx->s, "mdl_free", &err) == 0);
    CHECK(ft_store_dataset_delete(fx->s, "ds_free", &err) == 0); /* only a cancelled job uses it */

    /* Running jobs hold their references too. */
    ft_claim c;
    CHECK(claim(fx->s, "w", 60, &c) == 1 && strcmp(c.id, "job_1") == 0);
    CHECK(ft_store_dataset_delete(fx->s, "ds_train", &err) == -1 && err.code == FT_EINVAL);
    CHECK(ft_store_job_cancel(fx->s, "job_1", &obj, &err) == 0);
    json_decref(obj);
    CHECK(ft_store_dataset_delete(fx->s, "ds_train", &err) == -1); /* still running until the worker stops */
    CHECK(ft_store_job_cancelled(fx->s, c.id, c.lease, &err) == 1);
    for (int i = 0; i < 3; i++)
        CHECKF(ft_store_dataset_delete(fx->s, ds[i], &err) == 0, "%s: %s", ds[i], err.msg);
    CHECK(ft_store_model_delete(fx->s, "mdl_base", &err) == 0);
    CHECK(ft_store_model_delete(fx->s, "mdl_base", &err) == -1 && err.code == FT_ENOTFOUND);
    ft_claim_free(&c);
}

static void test_stats_and_file_ids(fixture *fx)
{
    ft_error err = {0};
    json_t *st = ft_store_stats(fx->s, &err);
    CHECK(st && jint(json_object_get(st, "jobs"), "queued") == 0 &&
          jint(json_object_get(st, "datasets"), "count") == 0);
    json_t *outbox = json_object_get(st, "webhook_deliveries"); /* every status, counted by test_webhooks */
    CHECK(json_object_size(outbox) == 3 && jint(outbox, "pending") == 0 && jint(outbox, "delivered") == 0 &&
          jint(outbox, "failed") == 0);
    json_decref(st);
    add_dataset(fx->s, "ds_1", 100);
    add_dataset(fx->s, "ds_2", 250);
    add_model(fx->s, "mdl_1", 7);
    add_jobs(fx->s, "job_%d", 1, 3);
    ft_claim c;
    CHECK(claim(fx->s, "w", 60, &c) == 1);
    CHECK(ft_store_job_cancel(fx->s, "job_3", NULL, &err) == 0);
    st = ft_store_stats(fx->s, &err);
    json_t *jobs = json_object_get(st, "jobs");
    CHECK(jint(jobs, "queued") == 1 && jint(jobs, "running") == 1 && jint(jobs, "cancelled") == 1 &&
          jint(jobs, "succeeded") == 0 && jint(jobs, "failed") == 0);
    CHECK(jint(json_object_get(st, "datasets"), "count") == 2 && jint(json_object_get(st, "datasets"), "bytes") == 350);
    CHECK(jint(json_object_get(st, "models"), "count") == 1 && jint(json_object_get(st, "models"), "bytes") == 7);
    json_decref(st);
    json_t *ids = ft_store_all_file_ids(fx->s, &err);
    json_t *d = json_object_get(ids, "datasets"), *m = json_object_get(ids, "models");
    CHECK(json_array_size(d) == 2 && strcmp(json_string_value(json_array_get(d, 0)), "ds_1") == 0);
    CHECK(json_array_size(m) == 1 && strcmp(json_string_value(json_array_get(m, 0)), "mdl_1") == 0);
    json_decref(ids);
    ft_claim_free(&c);
}

int main(void)
{
    RUN_STORE(test_dataset_insert_get);
    RUN_STORE(test_lists_pagination);
    RUN_STORE(test_jobs_list_status_filter);
    RUN_STORE(test_job_object_shape);
    RUN_STORE(test_idempotency);
    RUN_STORE(test_events);
    RUN_STORE(test_metrics_upsert);
    RUN_STORE(test_delete_refused_while_referenced);
    RUN_STORE(test_stats_and_file_ids);
    return TEST_SUMMARY();
}
