-- 0004_sweep_idempotency.sql for PostgreSQL: the same as
-- migrations/0004_sweep_idempotency.sql (SQLite); see that file.
ALTER TABLE sweeps ADD COLUMN idempotency_key TEXT;
ALTER TABLE sweeps ADD COLUMN request_hash TEXT;
CREATE UNIQUE INDEX sweeps_idempotency_key ON sweeps (idempotency_key);
