-- 0003_sweeps.sql for PostgreSQL: the same as migrations/0003_sweeps.sql
-- (SQLite), in PostgreSQL's types; see that file for the columns.
CREATE TABLE sweeps (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id           TEXT   NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    obj          TEXT   NOT NULL,
    completed_at BIGINT,
    cancelled_at BIGINT
);

ALTER TABLE jobs ADD COLUMN sweep_id TEXT;
CREATE INDEX jobs_sweep_seq ON jobs (sweep_id, seq);
