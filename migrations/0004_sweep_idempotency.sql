-- 0004_sweep_idempotency.sql: Idempotency-Key on POST /v1/sweeps, as on
-- POST /v1/jobs (jobs.idempotency_key, request_hash in 0001): a retried
-- create with the same key and body returns the sweep it made, never a
-- second one.
--
-- Applied like 0001 inside one transaction that also bumps the version.
-- SQLite cannot add a UNIQUE column: the unique index does that job (NULLs,
-- sweeps created without a key, never collide).
ALTER TABLE sweeps ADD COLUMN idempotency_key TEXT;
ALTER TABLE sweeps ADD COLUMN request_hash TEXT;
CREATE UNIQUE INDEX sweeps_idempotency_key ON sweeps (idempotency_key);
