-- The vendor API: keys the vendor's backend calls with, and which key read which store's token.

-- Only the SHA-256 of a key is kept: a key is 256 random bits, so a fast hash is as good as a
-- slow one, and a lookup by hash costs the same whether the key is right or wrong. `prefix` is
-- the first characters of the key (`slk_` and a few more), enough for an operator to tell keys
-- apart, not enough to use one. A revoked key keeps its row (the audit log names it), and its
-- name may be given to a new key.
CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    created_by   TEXT NOT NULL,
    last_used_at INTEGER,           -- recorded at most once a minute
    revoked_at   INTEGER
);
CREATE UNIQUE INDEX api_keys_live_name ON api_keys (name) WHERE revoked_at IS NULL;

-- Which keys read an install's access token (POST /api/v1/installs/{id}/access-token), and when
-- last: the store page shows it. Written at most once a minute per key and install, beside the
-- audit entry of the same read.
CREATE TABLE token_reads (
    install_id    TEXT NOT NULL REFERENCES installs (id) ON DELETE CASCADE,
    api_key_id    INTEGER NOT NULL REFERENCES api_keys (id),
    first_read_at INTEGER NOT NULL,
    last_read_at  INTEGER NOT NULL,
    PRIMARY KEY (install_id, api_key_id)
);
