-- 0001_init.sql for PostgreSQL: the same schema as migrations/0001_init.sql
-- (SQLite), in PostgreSQL's types.
--
-- Applied by server/store/store_migrate.c inside one transaction that also
-- records version 1 in schema_migrations, so this file must not contain
-- BEGIN/COMMIT.
--
-- Conventions (as for SQLite):
--  * every resource table has an increasing `seq` (an identity column):
--    lists are newest first by seq, and an `after=<id>` cursor is
--    translated to its seq.
--  * JSON documents are TEXT (compact jansson dumps), not jsonb: the store
--    gives back exactly what it was given, keys in their order (the
--    metrics CSV export keeps the worker's column order).
--  * timestamps are unix seconds, except the lease expiry, in milliseconds.
--  * cancel_requested is an INTEGER 0/1, as in SQLite, so that the shared
--    SQL (server/store/store_*.c) reads it the same way on both.

CREATE TABLE store_probe (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    probed_at BIGINT  NOT NULL
);
INSERT INTO store_probe (id, probed_at) VALUES (1, 0);

CREATE TABLE datasets (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         TEXT   NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    bytes      BIGINT NOT NULL DEFAULT 0,
    obj        TEXT   NOT NULL
);

CREATE TABLE models (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         TEXT   NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    bytes      BIGINT NOT NULL DEFAULT 0,
    obj        TEXT   NOT NULL
);

CREATE TABLE jobs (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id               TEXT    NOT NULL UNIQUE,
    name             TEXT,
    status           TEXT    NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    spec             TEXT    NOT NULL,
    metadata         TEXT    NOT NULL DEFAULT '{}',
    warnings         TEXT    NOT NULL DEFAULT '[]',
    progress         TEXT,
    metrics          TEXT,
    result           TEXT,
    error            TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    lease_token      TEXT,
    lease_expires_ms BIGINT,
    worker           TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    idempotency_key  TEXT UNIQUE,
    request_hash     TEXT,
    created_at       BIGINT  NOT NULL,
    started_at       BIGINT,
    finished_at      BIGINT,
    result_model     TEXT
);
CREATE INDEX jobs_status_seq ON jobs (status, seq);

CREATE TABLE job_events (
    job_id     TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    created_at BIGINT  NOT NULL,
    level      TEXT    NOT NULL CHECK (level IN ('info', 'warning', 'error')),
    message    TEXT    NOT NULL,
    data       TEXT,
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE job_metrics (
    job_id TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    epoch  INTEGER NOT NULL,
    row    TEXT    NOT NULL,
    PRIMARY KEY (job_id, epoch)
);
