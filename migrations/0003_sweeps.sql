-- 0003_sweeps.sql: sweeps (POST /v1/sweeps) and the jobs they own.
--
-- Applied like 0001 inside one transaction that also bumps the version.
--
-- A sweep is immutable after its insert except for two timestamps: its
-- status and progress are read from its jobs (jobs.sweep_id), so a job's
-- own transitions never have to touch the sweep row.
--  * obj is the sweep object as given at insert: name, spec, grid, seeds,
--    metric, variants (the expanded grid, in order).
--  * completed_at is set once, by the first look (ft_store_sweep_settle)
--    that finds every job of the sweep ended: the single moment a sweep
--    becomes complete.
--  * cancelled_at records POST /v1/sweeps/{id}/cancel.
CREATE TABLE sweeps (
    seq          INTEGER PRIMARY KEY,
    id           TEXT    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    obj          TEXT    NOT NULL,
    completed_at INTEGER,
    cancelled_at INTEGER
);

-- The sweep a job belongs to (NULL for a job submitted alone). No foreign
-- key: sweeps are never deleted, and the jobs list reads it as text.
ALTER TABLE jobs ADD COLUMN sweep_id TEXT;
-- Serves ?sweep= on the jobs list and a sweep's leaderboard.
CREATE INDEX jobs_sweep_seq ON jobs (sweep_id, seq);
