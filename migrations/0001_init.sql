-- 0001_init.sql: the initial schema.
--
-- Applied by server/store/store_migrate.c inside one transaction that also sets
-- PRAGMA user_version = 1, so this file must not contain BEGIN/COMMIT.
--
-- Conventions:
--  * every resource table has `seq INTEGER PRIMARY KEY` (the rowid): an
--    internal, increasing order. Lists are newest first by seq, and an
--    `after=<id>` cursor is translated to its seq. Public ids ("ds_...") are
--    random, so they cannot order anything themselves.
--  * JSON documents are TEXT (compact jansson dumps); timestamps are unix
--    seconds, except the lease expiry, which is in milliseconds so that short
--    leases expire when they should.

-- One row, rewritten by the /readyz write probe (ft_store_writable).
CREATE TABLE store_probe (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    probed_at INTEGER NOT NULL
);
INSERT INTO store_probe (id, probed_at) VALUES (1, 0);

-- Uploaded datasets. `obj` is the API object as given at insert (name,
-- format, bytes, rows, input_shape, classes...); `bytes` is copied out of it
-- for the Prometheus figures.
CREATE TABLE datasets (
    seq        INTEGER PRIMARY KEY,
    id         TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    bytes      INTEGER NOT NULL DEFAULT 0,
    obj        TEXT    NOT NULL
);

-- Uploaded or trained models; lineage (job, base_model, dataset) lives in obj.
CREATE TABLE models (
    seq        INTEGER PRIMARY KEY,
    id         TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    bytes      INTEGER NOT NULL DEFAULT 0,
    obj        TEXT    NOT NULL
);

-- Fine-tuning jobs: the queue itself.
--  * status moves queued -> running -> succeeded | failed | cancelled, and
--    running -> queued on a graceful requeue.
--  * lease_token is the fencing token of the current attempt: only the
--    worker that holds it may report progress or finish the job.
--  * result_model has no foreign key on purpose: deleting a model must not
--    rewrite the history of the job that produced it.
CREATE TABLE jobs (
    seq              INTEGER PRIMARY KEY,
    id               TEXT    NOT NULL UNIQUE,
    name             TEXT,
    status           TEXT    NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    spec             TEXT    NOT NULL,
    metadata         TEXT    NOT NULL DEFAULT '{}',
    warnings         TEXT    NOT NULL DEFAULT '[]',
    progress         TEXT,              -- latest progress object, NULL until reported
    metrics          TEXT,              -- latest metrics object
    result           TEXT,              -- object merged into the job at success (test_metrics...)
    error            TEXT,              -- {"message", "code", "param"} once failed
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    lease_token      TEXT,
    lease_expires_ms INTEGER,           -- unix milliseconds
    worker           TEXT,              -- who holds (or last held) the lease, for operators
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    idempotency_key  TEXT UNIQUE,
    request_hash     TEXT,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    result_model     TEXT
);
-- Serves the ?status= filter (status = ? AND seq < ? ORDER BY seq DESC), the
-- claim (status IN ('queued', 'running') ORDER BY seq), the delete-refusal
-- check (active jobs only) and the per-status counts of /metrics.
CREATE INDEX jobs_status_seq ON jobs (status, seq);

-- The job's log: seq increases per job from 1.
CREATE TABLE job_events (
    job_id     TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    level      TEXT    NOT NULL CHECK (level IN ('info', 'warning', 'error')),
    message    TEXT    NOT NULL,
    data       TEXT,
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;

-- One row per epoch; a resumed job that repeats an epoch replaces its row.
CREATE TABLE job_metrics (
    job_id TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    epoch  INTEGER NOT NULL,
    row    TEXT    NOT NULL,
    PRIMARY KEY (job_id, epoch)
) WITHOUT ROWID;
