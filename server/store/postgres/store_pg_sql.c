/* The SQL that only PostgreSQL speaks: the PostgreSQL driver's dialect
 * (see ft_db_dialect in store_db.h; store_pg.c is the rest of the driver). */
#include "server/store/postgres/store_pg_internal.h"

const ft_db_dialect ft_pg_sql = {
    /* The advisory lock keeps processes that start at once from racing on
     * CREATE TABLE IF NOT EXISTS (which is not atomic). A script is one
     * implicit transaction, so the lock must be the transaction's: a
     * session lock released at the script's end would be let go before the
     * table commits, and the next process would not see it yet. */
    .schema_bootstrap = "SELECT pg_advisory_xact_lock(7463001); "
                        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                        "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    .schema_version = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
    /* No read before each claim: a claim that finds nothing costs no more
     * than the read here (no lock is held long, nothing is written). */
    .claim_precheck = false,
    .schema_lock = "LOCK TABLE schema_migrations IN EXCLUSIVE MODE",
    .schema_bump = "INSERT INTO schema_migrations (version) VALUES (%d)",
    .migrations_subdir = "postgres",
    .row_lock = " FOR UPDATE",
    .skip_locked = " FOR UPDATE SKIP LOCKED",
    .lock_job = "SELECT 1 FROM jobs WHERE id = ?1 FOR UPDATE",
    .lock_key = "SELECT pg_advisory_xact_lock(hashtext(?1))",
    /* SKIP LOCKED here and in the claim: concurrent claimers each take
     * other rows instead of queueing behind one another. */
    .settle_dead =
        "UPDATE jobs SET status = CASE WHEN cancel_requested <> 0 THEN 'cancelled' ELSE 'failed' END, "
        "error = CASE WHEN cancel_requested <> 0 THEN NULL ELSE json_build_object("
        "'message', 'the job''s worker died ' || attempts || CASE attempts WHEN 1 THEN ' time' ELSE ' times' END"
        " || '; giving up after max_attempts (' || max_attempts || ')', "
        "'code', 'max_attempts_exceeded', 'param', NULL)::text END, "
        "finished_at = ?1, lease_token = NULL, lease_expires_ms = NULL "
        "WHERE seq IN (SELECT seq FROM jobs WHERE status = 'running' AND lease_expires_ms <= ?2 "
        "AND (cancel_requested <> 0 OR attempts >= max_attempts) FOR UPDATE SKIP LOCKED) "
        "RETURNING id, status, COALESCE(error::json ->> 'message', "
        "'cancelled: its worker died after the cancel was requested')",
    /* The oldest runnable jobs (queued, or running on a lease that
     * expired by ?2, now in milliseconds), one per claimer of ?1, that no
     * other claim holds: the oldest of each status, each found by walking
     * jobs_status_seq in order. One walk over both statuses would go by seq
     * through every finished job as well (an index cannot give the order
     * of an IN list), a cost that grows with the jobs ever run. Candidates
     * not taken stay locked until the commit, which only makes a
     * concurrent claim skip them. */
    .claim = "WITH queued AS (SELECT seq FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT %1$d "
             "FOR UPDATE SKIP LOCKED), "
             "expired AS (SELECT seq FROM jobs WHERE status = 'running' AND lease_expires_ms <= ?2 "
             "ORDER BY seq LIMIT %1$d FOR UPDATE SKIP LOCKED), "
             "picked AS (SELECT seq, row_number() OVER (ORDER BY seq) AS k FROM "
             "(SELECT seq FROM queued UNION ALL SELECT seq FROM expired) AS c ORDER BY seq LIMIT %1$d), "
             "claimers AS (SELECT c.claimer, c.k FROM json_array_elements(?1::json) WITH ORDINALITY AS c(claimer, k)) "
             "UPDATE jobs SET status = 'running', lease_token = claimer ->> 'token', "
             "lease_expires_ms = ?2 + (claimer ->> 'lease_ms')::bigint, worker = claimer ->> 'worker', "
             "attempts = attempts + 1, started_at = COALESCE(started_at, ?3) "
             "FROM picked JOIN claimers USING (k) WHERE jobs.seq = picked.seq "
             "RETURNING jobs.id, jobs.spec, jobs.attempts, jobs.lease_token",
    .record_users =
        "SELECT j.id, j.status, f.value FROM jobs j, json_array_elements_text(?2::json) AS f(value) "
        "WHERE j.status IN ('queued', 'running') "
        "AND ?1 IN (j.spec::json ->> f.value, j.spec::json -> f.value ->> 'id') "
        "ORDER BY j.seq LIMIT 1",
};
