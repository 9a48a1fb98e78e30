/* The PostgreSQL store against connections cut at every point of a
 * transaction: by the server (pg_terminate_backend), from a trigger in the
 * middle of a transaction or at its COMMIT, and by a relay that passes the
 * COMMIT on and cuts the session before the answer comes back. Claims,
 * submits, sweeps, events, heartbeats and successes must each happen once, and
 * their callers must not see a cut that the store could settle. SQLite
 * loses no connection: there is nothing to test on it. */
#include "server/store/store_db.h"
#include "tests/unit/pg_relay.h"
#include "tests/unit/store_fixture.h"

/* The server ends every session of the store's database (a restart, a
 * failover, an operator's pg_terminate_backend): the pooled connections
 * are re-established at their next transaction and nothing is lost. */
static void test_reconnect_after_terminate(fixture *fx)
{
    ft_error err = {0};
    add_job(fx->s, "job_1", 3);
    ft_claim c;
    CHECK(claim(fx->s, "w", 60, &c) == 1);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s' "
                              "AND pid <> pg_backend_pid()", fx->name);
    CHECK(fx_sql(fx, sql) == 0);
    CHECK(ft_store_job_heartbeat(fx->s, c.id, c.lease, 60, &err) == 1);
    CHECK(fx_sql(fx, sql) == 0);
    CHECKF(ft_store_job_succeed(fx->s, c.id, c.lease, NULL, NULL, &err) == 1, "%s", err.msg);
    CHECK_STATUS(fx->s, "job_1", "succeeded");
    ft_claim_free(&c);
}

/* A trigger that cuts the session that runs `event` on a row (when `when`
 * holds), the first `times` times: at the statement, or with at_commit
 * (a deferred constraint trigger) during the COMMIT, before it is durable.
 * A sequence counts the tries (it is not rolled back). */
static int cut_on(fixture *fx, const char *event, const char *when, bool at_commit, int times)
{
    char sql[900];
    snprintf(sql, sizeof sql,
             "CREATE SEQUENCE cuts; "
             "CREATE FUNCTION cut() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
             "IF nextval('cuts') <= %d THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF; "
             "RETURN NEW; END $$; "
             "CREATE %sTRIGGER cut %s%s FOR EACH ROW %s EXECUTE FUNCTION cut()",
             times, at_commit ? "CONSTRAINT " : "", event, at_commit ? " DEFERRABLE INITIALLY DEFERRED" : "", when);
    return fx_sql(fx, sql);
}

/* 0 if the SQL condition cond holds, else -1 (a division by zero). */
static int holds(fixture *fx, const char *cond)
{
    char sql[300];
    snprintf(sql, sizeof sql, "SELECT 1 / (%s)::int", cond);
    return fx_sql(fx, sql);
}

/* 0 if the trigger ran `tries` times. */
static int tried(fixture *fx, int tries)
{
    char cond[80];
    snprintf(cond, sizeof cond, "(SELECT last_value FROM cuts) = %d", tries);
    return holds(fx, cond);
}

/* A claimed job_1 succeeded with model mdl_1 while the model's insert is
 * cut the first `cuts` times: ft_store_job_succeed's result. The insert is
 * the second statement of the transaction, after the job's update: a cut
 * there is mid-transaction (a cut of the first statement is retried with
 * its BEGIN, before anything ran). */
static int succeed_through_cuts(fixture *fx, int cuts, ft_claim *c, ft_error *err)
{
    add_job(fx->s, "job_1", 3);
    CHECK(claim(fx->s, "w", 60, c) == 1);
    CHECK(cut_on(fx, "AFTER INSERT ON models", "", false, cuts) == 0);
    json_t *model = json_pack("{ss}", "id", "mdl_1");
    int rc = ft_store_job_succeed(fx->s, c->id, c->lease, model, NULL, err);
    json_decref(model);
    return rc;
}

/* A connection cut in the middle of a transaction, before its COMMIT: the
 * server rolled the whole transaction back, so the store runs it again on
 * a new connection, and the job succeeds once, with its model row. */
static void test_transaction_retried_after_a_cut(fixture *fx)
{
    ft_error err = {0};
    ft_claim c;
    CHECKF(succeed_through_cuts(fx, 1, &c, &err) == 1, "%s", err.msg);
    CHECK(tried(fx, 2) == 0);
    CHECK_STATUS(fx->s, "job_1", "succeeded");
    json_t *m = ft_store_model_get(fx->s, "mdl_1", &err);
    CHECK(m != NULL);
    json_decref(m);
    /* Another success is fenced off: the first one happened once. */
    CHECK(ft_store_job_succeed(fx->s, c.id, c.lease, NULL, NULL, &err) == 0);
    ft_claim_free(&c);
}

/* A transaction cut every time is given up after 3 tries, with an error
 * and nothing applied; the job keeps its lease for a later try. */
static void test_transaction_cut_every_time_fails(fixture *fx)
{
    ft_error err = {0};
    ft_claim c;
    CHECK(succeed_through_cuts(fx, 1000, &c, &err) == -1);
    CHECKF(strstr(err.msg, "connection") != NULL, "%s", err.msg);
    CHECK(tried(fx, 3) == 0);
    CHECK_STATUS(fx->s, "job_1", "running");
    CHECK(ft_store_model_get(fx->s, "mdl_1", &err) == NULL);
    CHECK(ft_store_job_heartbeat(fx->s, c.id, c.lease, 60, &err) == 1);
    ft_claim_free(&c);
}

/* ---- each queue operation through one cut ---- */

/* op through a cut of its statement, then on a fresh database through a
 * cut of its COMMIT. */
static void both_cuts(fixture *fx, void (*op)(fixture *fx, bool at_commit))
{
    op(fx, false);
    fx_done(fx);
    if (fx_init(fx, true) == 0)
        op(fx, true);
}

/* The claim's update follows the settling of dead jobs: a cut of it is in
 * the middle of the transaction. The claim runs again and takes the job
 * once: one attempt, held against a second claim. */
static void claim_through_a_cut(fixture *fx, bool at_commit)
{
    add_job(fx->s, "job_1", 3);
    CHECK(cut_on(fx, "AFTER UPDATE ON jobs", "WHEN (OLD.status = 'queued' AND NEW.status = 'running')", at_commit,
                 1) == 0);
    ft_claim c, again;
    CHECK(claim(fx->s, "w", 60, &c) == 1 && strcmp(c.id, "job_1") == 0 && c.attempts == 1);
    CHECK(tried(fx, 2) == 0);
    CHECK(holds(fx, "(SELECT attempts FROM jobs WHERE id = 'job_1') = 1") == 0);
    CHECK(claim(fx->s, "w2", 60, &again) == 0);
    ft_error err = {0};
    CHECK(ft_store_job_heartbeat(fx->s, c.id, c.lease, 60, &err) == 1);
    ft_claim_free(&again);
    ft_claim_free(&c);
}

static void test_claim_through_cuts(fixture *fx)
{
    both_cuts(fx, claim_through_a_cut);
}

/* A submit with an Idempotency-Key locks the key and looks it up before
 * its insert: a cut of the insert is mid-transaction. The job is queued
 * once, and the key replays it. */
static void submit_through_a_cut(fixture *fx, bool at_commit)
{
    CHECK(cut_on(fx, "AFTER INSERT ON jobs", "", at_commit, 1) == 0);
    json_t *o = json_pack("{ss s{ss}}", "id", "job_1", "spec", "dataset", "ds_a");
    json_t *existing = NULL;
    ft_error err = {0};
    CHECKF(ft_store_job_insert(fx->s, o, "key-1", "hash-1", &existing, &err) == 0 && !existing, "%s", err.msg);
    CHECK(tried(fx, 2) == 0);
    CHECK(holds(fx, "(SELECT count(*) FROM jobs) = 1") == 0);
    CHECK_STATUS(fx->s, "job_1", "queued");
    json_object_set_new(o, "id", json_string("job_2")); /* a client's retry gets a new id */
    CHECK(ft_store_job_insert(fx->s, o, "key-1", "hash-1", &existing, &err) == 0);
    CHECK(existing && strcmp(jstr(existing, "id"), "job_1") == 0);
    json_decref(existing);
    json_decref(o);
}

static void test_submit_through_cuts(fixture *fx)
{
    both_cuts(fx, submit_through_a_cut);
}

/* An event's insert follows the job's lock: a cut of it is
 * mid-transaction. The event is added once. */
static void event_through_a_cut(fixture *fx, bool at_commit)
{
    add_job(fx->s, "job_1", 3);
    ft_claim c;
    CHECK(claim(fx->s, "w", 60, &c) == 1);
    CHECK(cut_on(fx, "AFTER INSERT ON job_events", "", at_commit, 1) == 0);
    ft_error err = {0};
    CHECKF(ft_store_job_event(fx->s, c.id, c.lease, "info", "epoch 1", NULL, &err) == 1, "%s", err.msg);
    CHECK(tried(fx, 2) == 0);
    CHECK(event_count(fx->s, "job_1", 0, 10) == 1);
    ft_claim_free(&c);
}

static void test_event_through_cuts(fixture *fx)
{
    both_cuts(fx, event_through_a_cut);
}

/* A heartbeat is one statement: cut there it is sent again with its BEGIN;
 * cut at its COMMIT it is run again. Either way the lease is extended and
 * stays with its worker. */
static void heartbeat_through_a_cut(fixture *fx, bool at_commit)
{
    add_job(fx->s, "job_1", 3);
    ft_claim c, again;
    CHECK(claim(fx->s, "w", 60, &c) == 1);
    CHECK(cut_on(fx, "AFTER UPDATE ON jobs", "WHEN (NEW.lease_expires_ms > OLD.lease_expires_ms)", at_commit, 1) ==
          0);
    ft_error err = {0};
    CHECKF(ft_store_job_heartbeat(fx->s, c.id, c.lease, 600, &err) == 1, "%s", err.msg);
    CHECK(tried(fx, 2) == 0);
    CHECK(holds(fx, "(SELECT lease_expires_ms FROM jobs) > extract(epoch FROM now()) * 1000 + 500000") == 0);
    CHECK(claim(fx->s, "w2", 1, &again) == 0);
    CHECK_STATUS(fx->s, "job_1", "running");
    ft_claim_free(&again);
    ft_claim_free(&c);
}

static void test_heartbeat_through_cuts(fixture *fx)
{
    both_cuts(fx, heartbeat_through_a_cut);
}

/* A sweep of two jobs (ft_store_sweep_insert's arguments). */
static json_t *two_job_sweep(json_t **jobs)
{
    *jobs = json_pack("[{ss s{ss}} {ss s{ss}}]", "id", "job_1", "spec", "dataset", "ds_a", "id", "job_2", "spec",
                      "dataset", "ds_a");
    return json_pack("{ss}", "id", "swp_1");
}

/* The sweep's row and the two jobs on it, and nothing else, exist. */
static int sweep_once(fixture *fx)
{
    return holds(fx, "(SELECT count(*) FROM sweeps) = 1 AND (SELECT count(*) FROM jobs) = 2 AND "
                     "(SELECT count(*) FROM jobs WHERE sweep_id = 'swp_1') = 2");
}

/* A sweep's jobs are inserted after its row: a cut of the second job's
 * insert is mid-transaction. The sweep and its jobs are queued once. */
static void sweep_through_a_cut(fixture *fx, bool at_commit)
{
    CHECK(cut_on(fx, "AFTER INSERT ON jobs", "WHEN (NEW.id = 'job_2')", at_commit, 1) == 0);
    json_t *jobs, *sweep = two_job_sweep(&jobs);
    ft_error err = {0};
    CHECKF(ft_store_sweep_insert(fx->s, sweep, jobs, NULL, NULL, NULL, &err) == 0, "%s", err.msg);
    CHECK(tried(fx, 2) == 0);
    CHECK(sweep_once(fx) == 0);
    json_decref(jobs);
    json_decref(sweep);
}

static void test_sweep_through_cuts(fixture *fx)
{
    both_cuts(fx, sweep_through_a_cut);
}

/* ---- a COMMIT that happened, its answer lost ---- */

/* A store of fx's database reached through relay r (started here). */
static ft_store *relayed(fixture *fx, pg_relay *r)
{
    char server_dir[256] = "";
    int port = 0;
    const char *host = strstr(fx->db, "host="), *p = strstr(fx->db, "port=");
    if (!host || !p || sscanf(host, "host=%255s", server_dir) != 1 || sscanf(p, "port=%d", &port) != 1 ||
        relay_start(r, fx->dir, server_dir, port) != 0)
        return NULL;
    char target[1300];
    snprintf(target, sizeof target, "%s host=%s", fx->db, fx->dir); /* the last host= wins */
    ft_error err = {0};
    ft_store *s = ft_store_open(target, "migrations", &err);
    CHECKF(s != NULL, "%s", err.msg);
    if (!s)
        relay_stop(r);
    return s;
}

/* The next COMMIT through r is cut once it is sent. */
static void arm(pg_relay *r)
{
    atomic_store(&r->armed, true);
}

/* Each operation commits, its answer is lost, and the store finds out
 * that it happened: a submit is not queued twice (nor refused because its
 * id exists), a claim keeps its job (no second attempt, the job held),
 * an event is not doubled, a heartbeat reports the lease held, a sweep is
 * queued once with its jobs. */
static void test_commit_answer_lost(fixture *fx)
{
    pg_relay r;
    ft_store *s = relayed(fx, &r);
    if (!s)
        return;
    ft_error err = {0};
    json_t *o = json_pack("{ss s{ss}}", "id", "job_1", "spec", "dataset", "ds_a");
    arm(&r);
    CHECKF(ft_store_job_insert(s, o, NULL, NULL, NULL, &err) == 0, "%s", err.msg);
    CHECK(atomic_load(&r.cuts) == 1);
    CHECK(holds(fx, "(SELECT count(*) FROM jobs) = 1") == 0);

    ft_claim c = {0}, again;
    arm(&r);
    CHECKF(ft_store_job_claim(s, "w", 60, &c, &err) == 1 && strcmp(c.id, "job_1") == 0 && c.attempts == 1, "%s",
           err.msg);
    CHECK(atomic_load(&r.cuts) == 2);
    CHECK(claim(fx->s, "w2", 60, &again) == 0);

    arm(&r);
    CHECKF(ft_store_job_event(s, c.id, c.lease, "info", "epoch 1", NULL, &err) == 1, "%s", err.msg);
    CHECK(atomic_load(&r.cuts) == 3);
    CHECK(event_count(fx->s, "job_1", 0, 10) == 1);

    arm(&r);
    CHECKF(ft_store_job_heartbeat(s, c.id, c.lease, 60, &err) == 1, "%s", err.msg);
    CHECK(atomic_load(&r.cuts) == 4);

    CHECK(fx_sql(fx, "DELETE FROM jobs") == 0);
    json_t *jobs, *sweep = two_job_sweep(&jobs);
    arm(&r);
    CHECKF(ft_store_sweep_insert(s, sweep, jobs, NULL, NULL, NULL, &err) == 0, "%s", err.msg);
    CHECK(atomic_load(&r.cuts) == 5);
    CHECK(sweep_once(fx) == 0);
    json_decref(jobs);
    json_decref(sweep);

    ft_claim_free(&again);
    ft_claim_free(&c);
    json_decref(o);
    ft_store_close(s);
    relay_stop(&r);
}

/* A cancel whose answer is lost is an error (it may have happened): the
 * caller is told, and the job's row says what it became. The driver ended
 * the old session before answering, so its COMMIT ran before that
 * (cancelled) or never will (still queued, and a second cancel ends it). */
static void test_cancel_answer_lost_is_reported(fixture *fx)
{
    pg_relay r;
    ft_store *s = relayed(fx, &r);
    if (!s)
        return;
    add_job(fx->s, "job_1", 3);
    ft_error err = {0};
    arm(&r);
    CHECK(ft_store_job_cancel(s, "job_1", NULL, &err) == -1);
    CHECKF(strstr(err.msg, "PostgreSQL") != NULL, "%s", err.msg);
    CHECK(atomic_load(&r.cuts) == 1);
    char st[16];
    bool happened = strcmp(job_status(fx->s, "job_1", st, sizeof st), "cancelled") == 0;
    CHECKF(happened || strcmp(st, "queued") == 0, "job_1 is %s", st);
    CHECK(happened || ft_store_job_cancel(fx->s, "job_1", NULL, &err) == 0);
    CHECK_STATUS(fx->s, "job_1", "cancelled");
    ft_store_close(s);
    relay_stop(&r);
}

int main(void)
{
    if (!fx_postgres()) {
        printf("SQLite loses no connection: these tests run with FT_TEST_STORE=postgres\n");
        return TEST_SUMMARY();
    }
    RUN_STORE(test_reconnect_after_terminate);
    RUN_STORE(test_transaction_retried_after_a_cut);
    RUN_STORE(test_transaction_cut_every_time_fails);
    RUN_STORE(test_claim_through_cuts);
    RUN_STORE(test_submit_through_cuts);
    RUN_STORE(test_event_through_cuts);
    RUN_STORE(test_heartbeat_through_cuts);
    RUN_STORE(test_sweep_through_cuts);
    RUN_STORE(test_commit_answer_lost);
    RUN_STORE(test_cancel_answer_lost_is_reported);
    return TEST_SUMMARY();
}
