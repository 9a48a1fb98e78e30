-- 0002_webhooks.sql: webhook endpoints and the durable outbox of deliveries.
--
-- A delivery row is written in the same transaction as the job's terminal
-- status (server/store/store_webhooks.c), so a crash can neither lose an
-- event nor send one for a transition that did not commit. The dispatcher
-- (server/webhooks/) claims due rows with a lease and records each attempt.

-- Registered endpoints (POST /v1/webhooks) and a job's own endpoint (its
-- spec's `webhook`, job_id set). `secret` is the whsec_... string, shown
-- once at creation and never selected by the API's reads.
CREATE TABLE webhooks (
    seq         INTEGER PRIMARY KEY,
    id          TEXT    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    url         TEXT    NOT NULL,
    events      TEXT    NOT NULL,  -- JSON array of event types
    description TEXT,
    job_id      TEXT,              -- set: only this job's events
    secret      TEXT    NOT NULL
);
CREATE INDEX webhooks_job ON webhooks (job_id);

-- One event for one endpoint. `id` is the webhook-id header: the same on
-- every attempt, and after a restart. status: pending -> delivered | failed.
-- next_attempt_ms: when it is due; lease_expires_ms: a dispatcher is on it
-- until then (a dead dispatcher's delivery is due again after it).
CREATE TABLE webhook_deliveries (
    seq              INTEGER PRIMARY KEY,
    id               TEXT    NOT NULL UNIQUE,
    endpoint_id      TEXT    NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event            TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    created_ms       INTEGER NOT NULL,
    next_attempt_ms  INTEGER,
    lease_token      TEXT,
    lease_expires_ms INTEGER,
    finished_at      INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_ms);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, seq);

-- Every attempt: when, how long, the HTTP status or the error, and at most
-- 256 bytes of the response body.
CREATE TABLE webhook_attempts (
    delivery_id TEXT    NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    n           INTEGER NOT NULL,
    started_ms  INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    http_status INTEGER,
    error       TEXT,
    response    TEXT,
    PRIMARY KEY (delivery_id, n)
);
