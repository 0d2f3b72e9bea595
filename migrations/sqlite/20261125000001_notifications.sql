-- Notifications to the vendor's backend (Standard Webhooks): where they go, their signing
-- secrets, the outbox of messages, and each delivery attempt.

-- An endpoint: a URL of the vendor's, and the event types it wants (`*` for all of them, else a
-- comma-separated list with a comma at each end, so `LIKE '%,type,%'` finds a subscription on
-- any backend). An endpoint failing since `failing_since` (no 2xx since) for the failure
-- window is disabled by the worker; `disabled_reason` says so.
CREATE TABLE notify_endpoints (
    id              TEXT PRIMARY KEY,
    url             TEXT NOT NULL UNIQUE,
    event_types     TEXT NOT NULL,
    enabled         INTEGER NOT NULL DEFAULT 1,
    disabled_reason TEXT,
    created_at      INTEGER NOT NULL,
    created_by      TEXT NOT NULL,
    last_success_at INTEGER,
    failing_since   INTEGER
);

-- Signing secrets (`whsec_` + base64 of 32 random bytes), sealed like every credential, bound to
-- their endpoint and row. The current one has no `expires_at`; a rotation gives the old one 24
-- hours, during which messages carry both signatures.
CREATE TABLE notify_secrets (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id TEXT NOT NULL REFERENCES notify_endpoints (id) ON DELETE CASCADE,
    key_id      TEXT NOT NULL,
    nonce       BLOB NOT NULL,
    ciphertext  BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER
);
CREATE INDEX notify_secrets_by_endpoint ON notify_secrets (endpoint_id);

-- The outbox: one row per (change, endpoint), written in the transaction of the change that
-- causes it. `id` is the `webhook-id` (the same on every attempt). `body` is fixed when the
-- change commits, so every attempt sends the same bytes. A worker claims a due message by
-- setting `lease_until`; a lease that runs out (the instance died mid-send) makes it due again.
CREATE TABLE notify_messages (
    id              TEXT PRIMARY KEY,
    endpoint_id     TEXT NOT NULL REFERENCES notify_endpoints (id) ON DELETE CASCADE,
    event_type      TEXT NOT NULL,
    install_id      TEXT,
    body            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    finished_at     INTEGER
);
CREATE INDEX notify_messages_due ON notify_messages (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notify_messages_by_endpoint ON notify_messages (endpoint_id, created_at);

-- What each attempt got: the status code (none when no answer came), how long it took, what
-- happened in words, and the first bytes of the answer.
CREATE TABLE notify_attempts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id   TEXT NOT NULL REFERENCES notify_messages (id) ON DELETE CASCADE,
    attempted_at INTEGER NOT NULL,
    status_code  INTEGER,
    latency_ms   INTEGER NOT NULL,
    outcome      TEXT NOT NULL,
    answer       TEXT
);
CREATE INDEX notify_attempts_by_message ON notify_attempts (message_id);
